// node:dgram's argument handling for ringwire/dgram (the helpers Node's own
// lib/dgram.js has: sliceBuffer, fixBufferList, validatePort), and send()'s
// argument shuffling as one pure function, so the socket class only binds,
// queues until bound, resolves the host and sends.
import * as util from 'node:util';
import { assertAttached, invalidArgType, show, validateInteger } from '../errors';

export type Msg = string | Uint8Array | DataView | readonly (string | Uint8Array | DataView)[];
export type SendCb = (err: Error | null, bytes?: number) => void;

export const coded = <E extends Error>(e: E, code: string): E => Object.assign(e, { code });
export const IS_CONNECTED = () => coded(new Error('Already connected'), 'ERR_SOCKET_DGRAM_IS_CONNECTED');
export const BUF_TYPES = 'of type string or an instance of Buffer, TypedArray, or DataView';

/** node's validatePort(port, 'Port', false): numbers and numeric strings 1-65535. */
export function validateSendPort(port: unknown): number {
  if ((typeof port !== 'number' && typeof port !== 'string') || (typeof port === 'string' && port.trim().length === 0) ||
      +port !== (+port >>> 0) || +port > 0xffff || +port === 0) {
    throw coded(new RangeError(`Port should be > 0 and < 65536. Received ${describeValue(port)}.`), 'ERR_SOCKET_BAD_PORT');
  }
  return +port | 0;
}

function describeValue(v: unknown): string {
  if (v == null) return String(v);
  if (typeof v === 'function') return `function ${v.name}`;
  if (typeof v === 'object') {
    let ctor: string | undefined;
    try {
      ctor = v.constructor?.name;
    } catch {
      ctor = undefined;
    }
    return ctor ? `an instance of ${ctor}` : show(v, 60);
  }
  let s = show(v, 1000);
  if (s.length > 28) s = `${s.slice(0, 25)}...`;
  return `type ${typeof v} (${s})`;
}

export function validateString(v: unknown, name: string): string {
  if (typeof v !== 'string') throw invalidArgType(name, 'of type string', v);
  return v;
}

/**
 * createSocket()'s recvBufferSize/sendBufferSize, checked before anything
 * else as node:dgram does, and only when truthy: 0, null and NaN leave the
 * kernel's default.
 */
export function validateBufferSizeOptions(opts: { recvBufferSize?: unknown; sendBufferSize?: unknown }): void {
  if (opts.recvBufferSize) validateInteger(opts.recvBufferSize, 'options.recvBufferSize', 0, 0xffffffff);
  if (opts.sendBufferSize) validateInteger(opts.sendBufferSize, 'options.sendBufferSize', 0, 0xffffffff);
}

const bufferOutOfBounds = (name: string) => coded(new RangeError(`"${name}" is outside of buffer bounds`), 'ERR_BUFFER_OUT_OF_BOUNDS');

// The native send reads bytes through a pointer: a zero-length view of a
// real allocation sends an empty datagram (an empty ArrayBuffer has none).
const EMPTY = new Uint8Array(1).subarray(0, 0);

function asBytes(m: Uint8Array | DataView | ArrayBufferView): Uint8Array {
  // A detached view has no memory to send (issue 14: it used to reach native code).
  assertAttached(m, 'msg');
  return m instanceof Uint8Array ? m : new Uint8Array(m.buffer, m.byteOffset, m.byteLength);
}

// node:dgram coerces offset and length with `>>> 0`, which throws an
// uncoded TypeError for a BigInt, a Symbol or an object without a usable
// valueOf/toString (a detached view, a null-prototype object). Primitives
// coerce as there; a BigInt, a Symbol or an object is a type error here.
function toUint32(v: unknown, name: string): number {
  if (typeof v === 'bigint' || typeof v === 'symbol' || (typeof v === 'object' && v !== null) || typeof v === 'function') {
    throw invalidArgType(name, 'of type number', v);
  }
  return (v as number) >>> 0;
}

function sliceBuffer(buffer: unknown, offset: unknown, length: unknown): Uint8Array {
  let b: Uint8Array;
  if (typeof buffer === 'string') b = Buffer.from(buffer);
  else if (ArrayBuffer.isView(buffer)) b = asBytes(buffer);
  else throw invalidArgType('buffer', BUF_TYPES, buffer);
  const off = toUint32(offset, 'offset');
  const len = toUint32(length, 'length');
  if (off > b.byteLength) throw bufferOutOfBounds('offset');
  if (off + len > b.byteLength) throw bufferOutOfBounds('length');
  return b.subarray(off, off + len);
}

/** One buffer for a list (node:dgram sends them as one iovec array: the same datagram). */
function fixBufferList(list: readonly unknown[]): Uint8Array | null {
  const parts: Uint8Array[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const b = list[i];
    if (typeof b === 'string') parts[i] = Buffer.from(b);
    else if (ArrayBuffer.isView(b)) parts[i] = asBytes(b);
    else return null;
  }
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/** What send() does after its arguments are sorted out. */
export interface SendArgs {
  data: Uint8Array;
  /** Destination port (undefined on a connected socket). */
  port: number | undefined;
  /** A validated string, or null/undefined: the default host. */
  address: string | null | undefined;
  callback: SendCb | undefined;
}

/**
 * send()'s arguments sorted out exactly as node:dgram does it, quirks
 * included (e.g. a connected socket given (msg, port, address) sends to its
 * peer); every check throws Node's error before anything is sent.
 */
export function normalizeSendArgs(
  connected: boolean, buffer: Msg, offset: unknown, length: unknown, port: unknown, address: unknown, callback: unknown,
): SendArgs {
  let data: Uint8Array | undefined;
  if (!connected) {
    if (address || (port && typeof port !== 'function')) data = sliceBuffer(buffer, offset, length);
    else {
      callback = port;
      port = offset;
      address = length;
    }
  } else {
    if (typeof length === 'number') {
      data = sliceBuffer(buffer, offset, length);
      if (typeof port === 'function') {
        callback = port;
        port = null;
      }
    } else callback = offset;
    if (port || address) throw IS_CONNECTED();
  }
  if (data === undefined) {
    if (!Array.isArray(buffer)) {
      if (typeof buffer === 'string') data = Buffer.from(buffer);
      else if (!ArrayBuffer.isView(buffer)) throw invalidArgType('buffer', BUF_TYPES, buffer);
      else data = asBytes(buffer);
    } else {
      const joined = fixBufferList(buffer);
      if (joined === null) throw invalidArgType('buffer list arguments', BUF_TYPES, buffer);
      data = joined;
    }
  }
  let p: number | undefined;
  if (!connected) p = validateSendPort(port);
  if (typeof callback !== 'function') callback = undefined;
  if (typeof address === 'function') {
    callback = address;
    address = undefined;
  } else if (address != null) validateString(address, 'address');
  if (data.length === 0) data = EMPTY;
  return { data, port: p, address: address as string | null | undefined, callback: callback as SendCb | undefined };
}
