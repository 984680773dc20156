// Argument parsing for `ringwire perf`: small, strict and testable. Every
// mistake is a UsageError, which the CLI turns into the usage text on
// stderr and exit code 2.

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const SERVER_MODES = ['udp-echo', 'udp-sink', 'tcp-echo', 'tcp-sink', 'http'] as const;
export type ServerMode = (typeof SERVER_MODES)[number];

export const CLIENT_MODES = ['udp-pingpong', 'udp-blast', 'tcp-rr', 'tcp-stream'] as const;
export type ClientMode = (typeof CLIENT_MODES)[number];

/**
 * Implementations and the server modes each one has. `ringwire-eventfd`
 * and `ringwire-ringfd` are ringwire with RINGWIRE_URING_WAKE set to that
 * wake mode, so every mode is measured on every workload in one run (a mode
 * whose self-check fails falls back; the server JSON's `wake` says which
 * mode ran). `ringwire-busy` is ringwire with busyPoll() on (hybrid, a
 * budget of BUSY_BUDGET_US after each event), like c-busy it costs a CPU
 * while traffic flows. `ringwire-nopoll` is ringwire with the adaptive poll
 * before sleeping turned off (RINGWIRE_ADAPTIVE_POLL_US=0): what that poll
 * buys on this machine, side by side (an extra row: --impls ringwire-nopoll).
 */
export const IMPLS: Record<string, readonly ServerMode[]> = {
  node: SERVER_MODES,
  'c-epoll': ['udp-echo', 'udp-sink', 'tcp-echo', 'tcp-sink'],
  'c-uring': ['udp-echo', 'udp-sink', 'tcp-echo', 'tcp-sink'],
  'c-busy': ['udp-echo', 'udp-sink', 'tcp-echo', 'tcp-sink'],
  ringwire: SERVER_MODES,
  'ringwire-epoll': ['udp-echo', 'udp-sink', 'tcp-echo', 'tcp-sink'],
  'ringwire-ringfd': SERVER_MODES,
  'ringwire-eventfd': SERVER_MODES,
  'ringwire-nopoll': SERVER_MODES,
  // ringwire with busyPoll() on the server thread (lib/busy-poll.ts).
  'ringwire-busy': ['udp-echo', 'udp-sink', 'tcp-echo', 'tcp-sink'],
  'ringwire-dgram': ['udp-echo', 'udp-sink'],
  'ringwire-net': ['tcp-echo', 'tcp-sink'],
};
export const IMPL_NAMES = Object.keys(IMPLS);

export interface ServerArgs {
  mode: ServerMode;
  impl: string;
  host: string;
  port: number;
  /** Seconds; undefined = until SIGTERM/SIGINT. */
  lifetime?: number;
  cpu?: number;
  /** SO_RCVBUF bytes (sinks want a few MiB). */
  rcvbuf?: number;
  /** Receive buffers (ringwire bufferCount, C uring --bufs). */
  bufs?: number;
  /** Options handed to the C server unchanged (--wait-nr 16 ...). */
  cExtra: string[];
}

export interface ClientArgs {
  mode: ClientMode;
  /** Everything after the mode, handed to rw-client unchanged. */
  passThrough: string[];
}

export interface CompareArgs {
  quick: boolean;
  filter?: RegExp;
  reps?: number;
  duration?: number;
  /** Seconds of load before each measured run (JIT, caches); 0 = none. */
  warmup?: number;
  out?: string;
  impls?: string[];
  cpus: [number, number];
  list: boolean;
  progress: boolean;
  json: boolean;
  /** Exit non-zero when a row is flagged as an anomaly. */
  strict: boolean;
}

type Kind = 'string' | 'int' | 'number' | 'flag';
interface Spec {
  kind: Kind;
  min?: number;
  max?: number;
}

/** `--name value`, `--name=value` and flags; positionals in order. */
export function parseOptions(args: readonly string[], spec: Record<string, Spec>): { positionals: string[]; opts: Record<string, string | number | boolean> } {
  const positionals: string[] = [];
  const opts: Record<string, string | number | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--') || a === '--') {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const s = spec[name];
    if (!s) throw new UsageError(`unknown option --${name}`);
    if (s.kind === 'flag') {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      opts[name] = true;
      continue;
    }
    let v: string | undefined;
    if (eq > 0) v = a.slice(eq + 1);
    else {
      v = args[++i];
      if (v === undefined || (v.startsWith('--') && s.kind === 'string')) throw new UsageError(`--${name} needs a value`);
    }
    opts[name] = convert(name, v, s);
  }
  return { positionals, opts };
}

function convert(name: string, v: string, s: Spec): string | number {
  if (s.kind === 'string') {
    if (v === '') throw new UsageError(`--${name} needs a value`);
    return v;
  }
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${v}'`);
  if (s.kind === 'int' && !Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got '${v}'`);
  if (s.min !== undefined && n < s.min) throw new UsageError(`--${name} must be >= ${s.min}, got ${v}`);
  if (s.max !== undefined && n > s.max) throw new UsageError(`--${name} must be <= ${s.max}, got ${v}`);
  return n;
}

const MAX_CPU = 4095;

// Options of the C rw-server that `perf server` passes through for c-* impls.
const C_PASS = ['batch', 'buf-size', 'sndbuf', 'wait-nr', 'wait-us'] as const;
const C_PASS_FLAGS = ['no-defer'] as const;

export function parseServerArgs(args: readonly string[]): ServerArgs {
  const spec: Record<string, Spec> = {
    impl: { kind: 'string' },
    host: { kind: 'string' },
    port: { kind: 'int', min: 0, max: 65535 },
    lifetime: { kind: 'number', min: 0.001, max: 86400 * 365 },
    cpu: { kind: 'int', min: 0, max: MAX_CPU },
    rcvbuf: { kind: 'int', min: 1, max: 2 ** 31 - 1 },
    bufs: { kind: 'int', min: 1, max: 32768 },
    batch: { kind: 'int', min: 1, max: 1024 },
    'buf-size': { kind: 'int', min: 64, max: 1 << 20 },
    sndbuf: { kind: 'int', min: 1, max: 2 ** 31 - 1 },
    'wait-nr': { kind: 'int', min: 1, max: 4096 },
    'wait-us': { kind: 'int', min: 0, max: 10_000_000 },
    'no-defer': { kind: 'flag' },
  };
  const { positionals, opts } = parseOptions(args, spec);
  if (positionals.length === 0) throw new UsageError(`a server mode is required (${SERVER_MODES.join('|')})`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`);
  const mode = positionals[0] as ServerMode;
  if (!SERVER_MODES.includes(mode)) throw new UsageError(`unknown server mode '${positionals[0]}' (${SERVER_MODES.join('|')})`);
  const impl = opts.impl as string | undefined;
  if (!impl) throw new UsageError(`--impl is required (${IMPL_NAMES.join('|')})`);
  if (!IMPLS[impl]) throw new UsageError(`unknown --impl '${impl}' (${IMPL_NAMES.join('|')})`);
  if (!IMPLS[impl].includes(mode)) throw new UsageError(`--impl ${impl} has no ${mode} server (it has ${IMPLS[impl].join(', ')})`);
  const cExtra: string[] = [];
  for (const k of C_PASS) if (opts[k] !== undefined) cExtra.push(`--${k}`, String(opts[k]));
  for (const k of C_PASS_FLAGS) if (opts[k]) cExtra.push(`--${k}`);
  if (cExtra.length && !impl.startsWith('c-')) throw new UsageError(`${cExtra.filter((x) => x.startsWith('--')).join(' ')} only apply to the c-* servers`);
  return {
    mode,
    impl,
    host: (opts.host as string | undefined) ?? '127.0.0.1',
    port: (opts.port as number | undefined) ?? 0,
    lifetime: opts.lifetime as number | undefined,
    cpu: opts.cpu as number | undefined,
    rcvbuf: opts.rcvbuf as number | undefined,
    bufs: opts.bufs as number | undefined,
    cExtra,
  };
}

export function parseClientArgs(args: readonly string[]): ClientArgs {
  const [mode, ...rest] = args;
  if (!mode) throw new UsageError(`a client mode is required (${CLIENT_MODES.join('|')})`);
  if (!CLIENT_MODES.includes(mode as ClientMode)) throw new UsageError(`unknown client mode '${mode}' (${CLIENT_MODES.join('|')})`);
  // rw-client checks the rest itself (and exits 2 on a mistake).
  return { mode: mode as ClientMode, passThrough: rest };
}

export function parseCompareArgs(args: readonly string[]): CompareArgs {
  const spec: Record<string, Spec> = {
    quick: { kind: 'flag' },
    filter: { kind: 'string' },
    reps: { kind: 'int', min: 1, max: 100 },
    duration: { kind: 'number', min: 0.05, max: 600 },
    warmup: { kind: 'number', min: 0, max: 600 },
    out: { kind: 'string' },
    impls: { kind: 'string' },
    cpus: { kind: 'string' },
    list: { kind: 'flag' },
    'no-progress': { kind: 'flag' },
    json: { kind: 'flag' },
    strict: { kind: 'flag' },
  };
  const { positionals, opts } = parseOptions(args, spec);
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  let filter: RegExp | undefined;
  if (opts.filter !== undefined) {
    try {
      filter = new RegExp(opts.filter as string);
    } catch (e) {
      throw new UsageError(`--filter is not a valid regular expression: ${(e as Error).message}`);
    }
  }
  let impls: string[] | undefined;
  if (opts.impls !== undefined) {
    impls = (opts.impls as string).split(',').map((s) => s.trim()).filter(Boolean);
    if (!impls.length) throw new UsageError('--impls needs a comma-separated list');
    for (const i of impls) if (!IMPLS[i]) throw new UsageError(`unknown implementation '${i}' in --impls (${IMPL_NAMES.join('|')})`);
  }
  let cpus: [number, number] = [0, 1];
  if (opts.cpus !== undefined) {
    const parts = (opts.cpus as string).split(',');
    const nums = parts.map(Number);
    if (parts.length !== 2 || nums.some((n, i) => parts[i].trim() === '' || !Number.isInteger(n) || n < 0 || n > MAX_CPU)) {
      throw new UsageError(`--cpus wants two CPU numbers 'SERVER,CLIENT' (e.g. 0,1), got '${opts.cpus}'`);
    }
    if (nums[0] === nums[1]) throw new UsageError('--cpus needs two different CPUs (side-by-side rows)');
    cpus = [nums[0], nums[1]];
  }
  return {
    quick: opts.quick === true,
    filter,
    reps: opts.reps as number | undefined,
    duration: opts.duration as number | undefined,
    warmup: opts.warmup as number | undefined,
    out: opts.out as string | undefined,
    impls,
    cpus,
    list: opts.list === true,
    progress: opts['no-progress'] !== true,
    strict: opts.strict === true,
    json: opts.json === true,
  };
}
