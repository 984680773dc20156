// One error model, shaped like Node's own: system errors carry code (errno
// name), errno (negative, as libuv reports it) and syscall; argument
// mistakes are TypeError/RangeError with ERR_* codes, thrown before any
// native call.
import * as util from 'node:util';

export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address?: string;
  port?: number;
  path?: string;
}

/** Builds a Node-shaped system error from a (negative or positive) errno. */
export function systemError(errno: number, syscall: string, extra?: { address?: string; port?: number; path?: string; message?: string }): SystemError {
  // Public (exported from the package): checked like any other API.
  if (typeof errno !== 'number' || !Number.isInteger(errno)) throw invalidArgType('errno', 'an integer', errno);
  if (typeof syscall !== 'string') throw invalidArgType('syscall', 'of type string', syscall);
  if (extra !== undefined) {
    if (extra === null || typeof extra !== 'object') throw invalidArgType('extra', 'of type object', extra);
    for (const k of ['address', 'path', 'message'] as const) if (extra[k] !== undefined && typeof extra[k] !== 'string') throw invalidArgType(`extra.${k}`, 'of type string', extra[k]);
    if (extra.port !== undefined && typeof extra.port !== 'number') throw invalidArgType('extra.port', 'of type number', extra.port);
  }
  const neg = errno > 0 ? -errno : errno;
  let code: string;
  try {
    code = util.getSystemErrorName(neg);
  } catch {
    code = `Unknown system error ${neg}`;
  }
  let where = '';
  if (extra?.address !== undefined) where = extra.port !== undefined ? ` ${extra.address}:${extra.port}` : ` ${extra.address}`;
  else if (extra?.path !== undefined) where = ` ${extra.path}`;
  const err = new Error(`${syscall} ${code}${where}${extra?.message ? ` (${extra.message})` : ''}`) as SystemError;
  err.code = code;
  err.errno = neg;
  err.syscall = syscall;
  if (extra?.address !== undefined) err.address = extra.address;
  if (extra?.port !== undefined) err.port = extra.port;
  if (extra?.path !== undefined) err.path = extra.path;
  return err;
}

/** Throws a system error when a native call returned -errno; passes results through. */
export function check(ret: number, syscall: string, extra?: Parameters<typeof systemError>[2]): number {
  if (ret < 0) throw systemError(ret, syscall, extra);
  return ret;
}

/**
 * A native result of the form `value | -errno` (an object, array or buffer
 * on success): the value, or throws the system error. A number here is
 * always a negative errno (the native return rule, native/README.md).
 */
export function checkValue<T extends object>(ret: T | number, syscall: string, extra?: Parameters<typeof systemError>[2]): T {
  if (typeof ret === 'number') throw systemError(ret, syscall, extra);
  return ret;
}

type CodedError<E extends Error> = E & { code: string };

function coded<E extends Error>(err: E, code: string): CodedError<E> {
  (err as CodedError<E>).code = code;
  err.message = `${err.message}`;
  return err as CodedError<E>;
}

// util.inspect itself throws for some values (a view of a detached buffer,
// a revoked Proxy); an error message must never turn into another error.
export function show(v: unknown, max: number): string {
  try {
    return util.inspect(v).slice(0, max);
  } catch {
    return `<${typeof v}>`;
  }
}

/** String(v) for what converts safely (numbers, strings, ...), else an inspection. */
export function safeString(v: unknown): string {
  const t = typeof v;
  return t === 'number' || t === 'string' || t === 'boolean' || t === 'undefined' || v === null || t === 'bigint' ? String(v) : show(v, 40);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'function') return `function ${(v as { name?: string }).name || '<anonymous>'}`;
  if (typeof v === 'object') {
    // A Proxy or a throwing getter must not make the error itself throw.
    let ctor: string | undefined;
    try {
      ctor = (v as object).constructor?.name;
    } catch {
      ctor = undefined;
    }
    if (ctor) return `an instance of ${ctor}`;
    try {
      return util.inspect(v, { depth: -1 });
    } catch {
      return '<object>';
    }
  }
  // Node shortens the inspected value to 25 characters past 28.
  let shown = show(v, 1000);
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof v} (${shown})`;
}

// As Node words it: a dotted name is a "property", anything else an "argument".
const argKind = (name: string) => (name.includes('.') ? 'property' : 'argument');

export function invalidArgType(name: string, expected: string, actual: unknown): TypeError {
  return coded(new TypeError(`The "${name}" ${argKind(name)} must be ${expected}. Received ${describe(actual)}`), 'ERR_INVALID_ARG_TYPE');
}

export function invalidArgValue(name: string, value: unknown, reason: string): TypeError {
  return coded(new TypeError(`The ${argKind(name)} '${name}' ${reason}. Received ${show(value, 60)}`), 'ERR_INVALID_ARG_VALUE');
}

export function outOfRange(name: string, range: string, value: unknown): RangeError {
  return coded(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${show(value, 60)}`), 'ERR_OUT_OF_RANGE');
}

/**
 * The one "used after close" error of ringwire's own objects (sockets,
 * endpoints, regions, message rings, packet rings): ERR_RINGWIRE_CLOSED.
 * The drop-ins (ringwire/dgram, /net, /http) keep node's own codes.
 */
export function closedError(what: string, op: string): Error {
  return coded(new Error(`${what} is closed (${op} after close)`), 'ERR_RINGWIRE_CLOSED');
}

export function socketClosed(syscall = 'send'): Error {
  return closedError('UDP socket', syscall);
}

// Validators: each throws before any native call.
export function validateInteger(v: unknown, name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isInteger(v)) throw outOfRange(name, 'an integer', v);
  if (v < min || v > max) throw outOfRange(name, `>= ${min} && <= ${max}`, v);
  return v;
}

export function validateBoolean(v: unknown, name: string): boolean {
  if (typeof v !== 'boolean') throw invalidArgType(name, 'of type boolean', v);
  return v;
}

export function validateString(v: unknown, name: string): string {
  if (typeof v !== 'string') throw invalidArgType(name, 'of type string', v);
  return v;
}

export function validateFunction(v: unknown, name: string): (...args: never[]) => unknown {
  if (typeof v !== 'function') throw invalidArgType(name, 'of type function', v);
  return v as (...args: never[]) => unknown;
}

export function validateOneOf<T extends string>(v: unknown, name: string, allowed: readonly T[]): T {
  if (typeof v !== 'string') throw invalidArgType(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, v);
  if (!(allowed as readonly string[]).includes(v)) throw invalidArgValue(name, v, `must be one of: ${allowed.map((a) => `'${a}'`).join(', ')}`);
  return v as T;
}

export function validatePowerOfTwo(v: unknown, name: string, min: number, max: number): number {
  validateInteger(v, name, min, max);
  const n = v as number;
  if ((n & (n - 1)) !== 0) throw outOfRange(name, `a power of two between ${min} and ${max}`, v);
  return n;
}

const TypedArray = Object.getPrototypeOf(Uint8Array) as abstract new () => ArrayBufferView;

export function validateObject(v: unknown, name: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidArgType(name, 'of type object', v);
  // A Proxy over a typed array: any property read may throw without a code.
  if (v instanceof TypedArray && !ArrayBuffer.isView(v)) throw invalidArgType(name, 'of type object (not a Proxy of a typed array)', v);
  return v as Record<string, unknown>;
}

/**
 * A view whose ArrayBuffer was detached (transferred, or closed by its
 * owner) reads as zero bytes; sending it would silently send nothing, so
 * send paths refuse it. Only a zero-length view can be detached, so the
 * common case costs one compare.
 */
export function assertAttached(v: ArrayBufferView, name: string): void {
  // A Proxy over a typed array passes instanceof but not isView, and every
  // getter on it throws an uncoded TypeError: refused here instead.
  if (!ArrayBuffer.isView(v)) throw invalidArgType(name, 'a Buffer, TypedArray or DataView (not a Proxy of one)', v);
  if (v.byteLength !== 0) return;
  const ab = v.buffer;
  if (ab.byteLength !== 0 || (typeof SharedArrayBuffer !== 'undefined' && ab instanceof SharedArrayBuffer)) return;
  try {
    new Uint8Array(ab);
  } catch {
    throw invalidArgValue(name, v, 'is a view of a detached ArrayBuffer');
  }
}
