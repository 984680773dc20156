#!/usr/bin/env node
// Seeded API fuzzer (issue 14): calls every public function, method and
// getter of ringwire's facilities with adversarial arguments - wrong types,
// NaN, +-Infinity, -1, 2**53, huge lengths, empty/detached buffers,
// SharedArrayBuffer views at odd offsets, throwing getters and valueOf,
// Proxies, Symbols, BigInt - on live objects and after close(). Each call
// must end in an error with a `code` (TypeError/RangeError ERR_*, or a
// system error), a return, or a promise that settles. Crashes and hangs are
// caught by whoever runs this file in a child process (test/fuzz.test.ts):
// the call in progress is written to --trace before it is made.
//
//   node scripts/fuzz.js [--seed N] [--calls M] [--trace FILE] [--only facility,...]
//
// Prints one JSON line: { seed, calls, outcomes, untyped: [...], hangs: [...], methods }.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const SEED = Number(opt('seed', 1));
const CALLS = Number(opt('calls', 2000));
const TRACE = opt('trace', null);
const ONLY = opt('only', null)?.split(',');
const ASYNC_BOUND_MS = Number(opt('async-bound', 3000));

const dist = path.resolve(__dirname, '..', 'dist');
const rw = require(dist);
const dgram = require(path.join(dist, 'dgram.js'));
const net = require(path.join(dist, 'net.js'));

// ---- seeded randomness (mulberry32) -------------------------------------------
let s = SEED >>> 0;
function rand() {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];

// ---- adversarial values ----------------------------------------------------------
// The fuzzer's own throwers carry a code, so a propagated user exception is
// recognised as such (it is the caller's error, not ringwire's).
class FuzzThrow extends Error {
  constructor(where) {
    super(`fuzz: ${where} throws`);
    this.code = 'FUZZ_THROWER';
  }
}
function detached(n) {
  const b = new Uint8Array(n);
  structuredClone(b.buffer, { transfer: [b.buffer] });
  return b;
}
const sab = new SharedArrayBuffer(70000);
const ADVERSARIAL = () => [
  undefined, null, true, false, 0, -0, 1, -1, 0.5, 1.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53),
  Number.MAX_VALUE, '', 'abc', '0', '-1', '127.0.0.1', '::1', 'lo', 'x'.repeat(5000), Symbol('fuzz'), 10n, -1n, 2n ** 64n,
  {}, [], [1, 2, 3], [null], () => {}, new Uint8Array(0), new Uint8Array(7), Buffer.alloc(1500, 1), Buffer.alloc(70000, 2),
  detached(0), detached(4096), new Uint8Array(sab, 3, 1001), new Uint8Array(sab, 1, 0), new Int32Array(sab, 4, 5),
  new Float64Array(3), new DataView(new ArrayBuffer(16), 3), new ArrayBuffer(8), sab,
  { get port() { throw new FuzzThrow('getter'); }, get length() { throw new FuzzThrow('getter'); } },
  { valueOf() { throw new FuzzThrow('valueOf'); }, toString() { throw new FuzzThrow('toString'); } },
  new Proxy({}, { get() { throw new FuzzThrow('proxy get'); }, has() { throw new FuzzThrow('proxy has'); }, ownKeys() { throw new FuzzThrow('proxy ownKeys'); }, getPrototypeOf() { throw new FuzzThrow('proxy getPrototypeOf'); } }),
  new Proxy(new Uint8Array(16), {}), new Proxy([], {}),
  { length: 2 ** 32 }, { length: -1 }, Object.create(null), new Date(0), /re/, new Map(), new Set(), Promise.resolve(),
];
function describe(v) {
  try {
    if (typeof v === 'symbol') return 'Symbol()';
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'string') return JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}...(${v.length})` : v);
    if (typeof v === 'function') return 'function';
    if (v === null || typeof v !== 'object') return String(v);
    if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${v.byteLength}${v.buffer instanceof SharedArrayBuffer ? ', SAB@' + v.byteOffset : ''}${v.byteLength === 0 && v.buffer.byteLength === 0 ? ', maybe detached' : ''})`;
    if (Array.isArray(v)) return `[${v.length}]`;
    return `{${Object.keys(v).slice(0, 4).join(',')}}`;
  } catch {
    return '<proxy>';
  }
}

// ---- the surface ----------------------------------------------------------------
// Public members: functions and getters on the prototype chain below the
// Node base class, minus what the .d.ts declares private or @internal.
const hidden = new Set();
// Every declaration file, lib/internal's included (base classes live there).
for (const f of fs.readdirSync(dist, { recursive: true }).filter((n) => String(n).endsWith('.d.ts'))) {
  const lines = fs.readFileSync(path.join(dist, f), 'utf8').split('\n');
  lines.forEach((l, i) => {
    let m = /^\s+(?:private|protected) (?:readonly )?(?:static )?(?:abstract )?(?:get |set )?([\w$]+)/.exec(l);
    if (m) hidden.add(m[1]);
    m = /^\s+(?:readonly )?(?:static )?(?:get )?([\w$]+)\??[(:<]/.exec(l);
    if (m && /@internal/.test(lines[i - 1] ?? '')) hidden.add(m[1]);
  });
}
const EventEmitter = require('node:events');
const { Duplex } = require('node:stream');
function members(obj, extra = []) {
  const out = new Map();
  for (let p = Object.getPrototypeOf(obj); p && p !== Object.prototype && p !== EventEmitter.prototype && p !== Duplex.prototype; p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) {
      if (k === 'constructor' || k.startsWith('_') || hidden.has(k) || out.has(k)) continue;
      const d = Object.getOwnPropertyDescriptor(p, k);
      if (typeof d.value === 'function') out.set(k, 'method');
      else if (d.get) out.set(k, 'getter');
    }
  }
  for (const k of extra) out.set(k, 'method');
  return out;
}

const PORT = () => pick([0, 9, 65535, 1]);
const LOOP = '127.0.0.1';
// Plausible arguments per member name, mixed with the adversarial ones so
// calls also get past validation into native code.
const PLAUSIBLE = {
  bind: [[0, LOOP], [0], [{ port: 0, address: LOOP }]],
  connect: [[9, LOOP], [{ port: 9, host: LOOP }]],
  send: [[Buffer.from('hi'), 9, LOOP], [new Uint8Array(sab, 5, 3000), 9, LOOP], [0, Buffer.alloc(64)]],
  queue: [[Buffer.from('hi'), 9, LOOP], [new Uint8Array(sab, 7, 100), 9, LOOP]],
  sendBatch: [[[Buffer.from('a'), { data: Buffer.from('b'), port: 9, address: LOOP }]], [[0], [Buffer.alloc(10)]]],
  write: [[Buffer.from('x')], ['text'], [new Uint8Array(sab, 9, 50)]],
  end: [[], [Buffer.from('x')], [0]],
  listen: [[{ host: LOOP }], [0, LOOP]],
  setTTL: [[64]], setMulticastTTL: [[1]], setTOS: [[0]], setPriority: [[0]], setBusyPoll: [[0]],
  setRecvBufferSize: [[65536]], setSendBufferSize: [[65536]], setBroadcast: [[true]],
  setNoDelay: [[0, true], [true]], setKeepAlive: [[0, true, 1000], [true, 1000]], setTimeout: [[10]],
  tryClaim: [[1], [8, 0]], claim: [[8, 1]], publish: [[0, 4]], release: [[], [0]],
  wait: [[{ timeout: 1 }]], waitAsync: [[{ timeout: 5 }]], poll: [[() => {}, 4]],
  advise: [['normal'], ['willneed', 0, 4096]], reserve: [[1]], flush: [[]], owns: [[0]],
};
function argsFor(name) {
  const n = Math.floor(rand() * 5);
  const plaus = PLAUSIBLE[name];
  if (plaus && rand() < 0.4) {
    const base = pick(plaus).slice();
    // Corrupt one argument of a plausible call half the time.
    if (base.length && rand() < 0.5) base[Math.floor(rand() * base.length)] = pick(ADVERSARIAL());
    return base;
  }
  const adv = ADVERSARIAL();
  return Array.from({ length: n }, () => pick(adv));
}

// ---- outcome bookkeeping ----------------------------------------------------
const outcomes = { returned: 0, threwTyped: 0, threwUser: 0, settled: 0, rejectedTyped: 0, emittedTyped: 0 };
const untyped = new Map();
const hangs = [];
const pending = new Set();
let calls = 0;
const traceFd = TRACE ? fs.openSync(TRACE, 'w') : -1;
function trace(what) {
  if (traceFd >= 0) fs.writeSync(traceFd, `${what}\n`.padEnd(400), 0);
  if (process.env.FUZZ_VERBOSE) process.stderr.write(`${what}\n`);
}

// Values the fuzzer handed to destroy(err): Node streams emit them as
// 'error' as given (documented), so they are the caller's, not ringwire's.
const userErrors = new Set();
function classify(err, where, kind) {
  if (err instanceof FuzzThrow || (kind === 'emit' && userErrors.has(err))) {
    outcomes.threwUser++;
    return;
  }
  const code = err && typeof err === 'object' ? err.code : undefined;
  if (typeof code === 'string' && code.length) {
    outcomes[kind === 'emit' ? 'emittedTyped' : kind === 'reject' ? 'rejectedTyped' : 'threwTyped']++;
    return;
  }
  const key = `${where} -> ${err && err.constructor ? err.constructor.name : typeof err}: ${String(err && err.message).slice(0, 120)}`;
  untyped.set(key, (untyped.get(key) ?? 0) + 1);
}

function guardEmitter(o, label) {
  if (o && typeof o.on === 'function' && !o.__fuzzGuarded) {
    Object.defineProperty(o, '__fuzzGuarded', { value: true });
    o.on('error', (e) => classify(e, `${label} 'error' event`, 'emit'));
  }
  return o;
}

function call(label, fn, argv) {
  calls++;
  const where = `${label}(${argv.map(describe).join(', ')})`;
  trace(where);
  let r;
  try {
    r = fn(...argv);
    outcomes.returned++;
  } catch (e) {
    classify(e, where, 'throw');
    return undefined;
  }
  if (r && typeof r.then === 'function') {
    const p = Promise.resolve(r).then(
      () => { outcomes.settled++; },
      (e) => classify(e, where, 'reject'),
    ).finally(() => pending.delete(entry));
    const entry = { where, p };
    pending.add(entry);
  }
  return r;
}

// A close that does not finish within the bound is a hang, reported as such.
function bounded(what, p) {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      hangs.push(what);
      resolve();
    }, ASYNC_BOUND_MS);
    p.then(() => { clearTimeout(t); resolve(); }, (e) => { clearTimeout(t); classify(e, what, 'reject'); resolve(); });
  });
}

// ---- facilities ------------------------------------------------------------------
// Each: make() -> objects to fuzz (with labels), close() -> promise.
function tracked() {
  const objs = [];
  return { objs, add: (o, label, extra) => (objs.push({ o: guardEmitter(o, label), label, extra }), o) };
}
const backends = ['io_uring', 'epoll'];
const facilities = {
  udp: async (t) => {
    const b = pick(backends);
    const s = t.add(rw.createUdpSocket({ type: pick(['udp4', 'udp6']), backend: b }), `UdpSocket[${b}]`);
    if (rand() < 0.5) s.bind(0);
    return () => bounded('UdpSocket.close', s.close());
  },
  tcp: async (t) => {
    const b = pick(backends);
    const ep = t.add(rw.createTcpEndpoint({ backend: b, onBatch() {} }), `TcpEndpoint[${b}]`);
    const l = t.add(ep.listen({ host: LOOP }), 'TcpListener');
    if (rand() < 0.5) ep.connect({ port: l.address().port, host: LOOP });
    return () => bounded('TcpEndpoint.close', ep.close());
  },
  dgram: async (t) => {
    const s = t.add(dgram.createSocket(pick(['udp4', 'udp6'])), 'dgram.Socket');
    return () => bounded('dgram.Socket.close', new Promise((r) => { try { s.close(r); } catch { r(); } }));
  },
  net: async (t) => {
    const accepted = [];
    const srv = t.add(net.createServer((c) => { accepted.push(c); c.on('error', () => {}); }), 'net.Server');
    await new Promise((r) => srv.listen(0, LOOP, r));
    const c = t.add(net.connect(srv.address().port, LOOP), 'net.Socket', ['write', 'end', 'destroy', 'pause', 'resume']);
    // server.close() waits for its connections (as in Node): end them all.
    return () => bounded('net.Server.close after destroying every socket', new Promise((r) => {
      c.destroy();
      for (const a of accepted) a.destroy();
      srv.close(() => r());
    }));
  },
  region: async (t) => {
    const r = t.add(rw.createRegion({ size: pick([4096, 65536]) }), 'ShmRegion');
    return () => r.close();
  },
  spsc: async (t) => {
    const r = rw.createRegion({ size: 1 << 16 });
    const ring = t.add(rw.SpscRing.format(r, { capacity: 4096 }), 'SpscRing');
    t.add(ring.producer({ heartbeatMs: 0 }), 'SpscProducer');
    t.add(ring.consumer({ heartbeatMs: 0 }), 'SpscConsumer');
    return () => r.close();
  },
  mpsc: async (t) => {
    const r = rw.createRegion({ size: 1 << 16 });
    const ring = t.add(rw.MpscRing.format(r, { slotCount: 16, slotSize: 256 }), 'MpscRing');
    t.add(ring.producer({ heartbeatMs: 0 }), 'MpscProducer');
    t.add(ring.consumer({ heartbeatMs: 0 }), 'MpscConsumer');
    return () => r.close();
  },
  packetRing: async (t) => {
    const ring = await rw.openPacketRing({ interface: 'lo', backend: 'socket', filter: { protocol: 'udp', port: 20000 + Math.floor(rand() * 20000) }, frameCount: 64, batchSize: 16 });
    t.add(ring, 'PacketRing');
    return () => bounded('PacketRing.close', ring.close());
  },
};

// Module-level functions and static methods, called without an instance.
const FUNCTIONS = {
  ringwire: Object.entries(rw).filter(([k, v]) => typeof v === 'function' && !/^[A-Z]/.test(k)),
  statics: [
    ['SpscRing.format', (...a) => rw.SpscRing.format(...a)], ['SpscRing.attach', (...a) => rw.SpscRing.attach(...a)],
    ['SpscRing.bytesNeeded', (...a) => rw.SpscRing.bytesNeeded(...a)], ['MpscRing.format', (...a) => rw.MpscRing.format(...a)],
    ['MpscRing.attach', (...a) => rw.MpscRing.attach(...a)], ['MpscRing.bytesNeeded', (...a) => rw.MpscRing.bytesNeeded?.(...a)],
    ['new PacketRing', (...a) => new rw.PacketRing(...a)], ['new UdpSocket', (...a) => new rw.UdpSocket(...a)],
    ['new TcpEndpoint', (...a) => new rw.TcpEndpoint(...a)], ['new ShmRegion', (...a) => new rw.ShmRegion(...a)],
  ],
  dgram: Object.entries(dgram).filter(([k, v]) => typeof v === 'function' && !/^[A-Z]/.test(k)),
  net: Object.entries(net).filter(([k, v]) => typeof v === 'function' && !/^[A-Z]/.test(k) && !['isIP', 'isIPv4', 'isIPv6'].includes(k)),
};
// Calls that by design do not return for long (doctor/capabilities probe
// the system; pinThread would pin the fuzzer): called, but rarely.
const RARE = new Set(['doctor', 'capabilities', 'pinThread', 'cleanupRegions', 'listRegions', 'main']);
const SKIP_FN = new Set(['createRegion']);  // fuzzed with bounded sizes below (a 4 GiB non-sparse region is a success)

function boundedRegionOptions() {
  return pick([
    ...ADVERSARIAL(),
    { size: pick([-1, 0, 1.5, NaN, Infinity, 2 ** 53, 2 ** 33, '4096', 4096, 10n]) },
    { size: 4096, name: pick(['', 'a/b', '..', 'x'.repeat(300), Symbol('n'), 7]) },
    { size: 4096, numaNode: pick([-1, 1e9, NaN, '0']) }, { size: 4096, advise: pick([['nope'], 'normal', [1]]) },
  ]);
}

async function episode(name, methodsSeen) {
  const t = tracked();
  let close;
  trace(`${name}: setup`);
  try {
    close = await facilities[name](t);
  } catch (e) {
    classify(e, `${name} setup`, 'throw');
    return;
  }
  const rounds = 2 + Math.floor(rand() * 10);
  const fuzzObjects = (phase) => {
    for (let i = 0; i < rounds; i++) {
      const { o, label, extra } = pick(t.objs);
      const ms = members(o, extra);
      const [m, kind] = pick([...ms]);
      methodsSeen.add(`${label}.${m}`);
      if (kind === 'getter') {
        call(`${phase}${label}.${m}`, () => o[m], []);
        continue;
      }
      let a = argsFor(m);
      // wait() blocks (spin/yield/block) by design: bound its timeout.
      // wait() blocks (spin/yield/block) until a message or its timeout, by
      // design: an own `timeout: 2` over whatever object was drawn bounds it
      // (other options still come from that object, throwers included).
      if (m === 'wait') {
        if (a[0] === undefined) a = [{ timeout: 2 }];
        else if (a[0] !== null && typeof a[0] === 'object') {
          let proto;
          try {
            proto = Object.getPrototypeOf(a[0]);
          } catch {
            proto = null;  // a throwing Proxy: reading its options throws first
          }
          a = [proto === Object.prototype || proto === null || proto === undefined
            ? Object.create(a[0], { timeout: { value: 2, enumerable: true } })
            : { timeout: 2 }];
        }
      }
      if (m === 'destroy' || m === 'resetAndDestroy') for (const v of a) userErrors.add(v);
      call(`${phase}${label}.${m}`, (...x) => o[m](...x), a);
    }
  };
  fuzzObjects('');
  await new Promise((r) => setImmediate(r));
  trace(`${name}: close`);
  try {
    await close();
  } catch (e) {
    classify(e, `${name} close`, 'throw');
  }
  fuzzObjects('after close: ');
}

async function main() {
  const names = Object.keys(facilities).filter((n) => !ONLY || ONLY.includes(n));
  const methodsSeen = new Set();
  const fnGroups = Object.entries(FUNCTIONS).filter(([g]) => !ONLY || ONLY.includes(g) || ONLY.includes('functions'));
  while (calls < CALLS) {
    if (fnGroups.length && rand() < 0.4) {
      const [group, list] = pick(fnGroups);
      const [k, f] = pick(list);
      if (SKIP_FN.has(k)) {
        methodsSeen.add(`${group}.${k}`);
        const r = call(`${group}.${k}`, f, [boundedRegionOptions()]);
        if (r && typeof r.close === 'function') r.close();
        continue;
      }
      if (RARE.has(k) && rand() < 0.95) continue;
      methodsSeen.add(`${group}.${k}`);
      const r = call(`${group}.${k}`, f, argsFor(k));
      // Whatever a factory handed back is closed again.
      if (r && typeof r === 'object' && typeof r.close === 'function') {
        guardEmitter(r, `${group}.${k} result`);
        try {
          const c = r.close(() => {});
          if (c && typeof c.then === 'function') c.then(() => {}, () => {});
        } catch { /* closing a half-made object may throw; not what is tested here */ }
      }
      continue;
    }
    if (!names.length) break;
    await episode(pick(names), methodsSeen);
  }
  // Every promise must settle (closes cancel what waits).
  trace(`settling ${pending.size} promises`);
  const deadline = Date.now() + ASYNC_BOUND_MS;
  while (pending.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  for (const p of pending) hangs.push(`${p.where} (promise never settled)`);
  const out = {
    seed: SEED, calls, outcomes, methods: methodsSeen.size,
    untyped: [...untyped].map(([k, n]) => `${n}x ${k}`).slice(0, 50), untypedDistinct: untyped.size, hangs: hangs.slice(0, 20), hangCount: hangs.length,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}

process.on('uncaughtException', (e) => classify(e, 'uncaughtException', 'emit'));
process.on('unhandledRejection', (e) => classify(e, 'unhandledRejection', 'reject'));
main().catch((e) => {
  // A bug of the fuzzer itself: say so and fail loudly.
  process.stderr.write(`fuzz.js internal error: ${e && e.stack}\n`);
  process.exit(3);
});
