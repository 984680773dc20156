// The same dgram scenarios against node:dgram and ringwire/dgram (both
// backends); each scenario records what a user can observe (events in
// order, payloads, rinfo shapes, error codes) and the traces must match.
import { describe, expect, it } from 'vitest';
import * as nodeDgram from 'node:dgram';
import * as rwDgram from '../lib/dgram';
import { needs } from './helpers/skip';
import { dist } from './helpers/child';
import { sleep as wait, until } from './helpers/wait';
import { fdCount } from './helpers/fd';

type Api = { createSocket: (t: any, l?: any) => any };
type Trace = unknown[];


function errInfo(e: any) {
  return e ? { name: e.name, code: e.code, syscall: e.syscall } : null;
}

const scenarios: Record<string, (api: Api) => Promise<Trace>> = {
  async 'bind, listening, echo, close'(api) {
    const t: Trace = [];
    const a = api.createSocket('udp4');
    const b = api.createSocket({ type: 'udp4' });
    a.on('listening', () => t.push('a listening'));
    a.on('message', (msg: Buffer, rinfo: any) => {
      t.push(['a message', msg.toString(), rinfo.family, rinfo.size, rinfo.address]);
      a.send(msg, rinfo.port, rinfo.address);
    });
    b.on('message', (msg: Buffer, rinfo: any) => t.push(['b message', msg.toString(), rinfo.family, rinfo.size]));
    await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
    t.push(['a address', a.address().family, a.address().address]);
    await new Promise<void>((r) => b.bind(0, '127.0.0.1', r));
    b.send('hello', a.address().port, '127.0.0.1', (err: any, n: number) => t.push(['send cb', errInfo(err), n]));
    await until(() => t.length >= 5);
    await new Promise<void>((r) => a.close(r));
    b.close(() => t.push('b close cb'));
    await wait(20);
    return t;
  },

  async 'implicit bind on first send emits listening'(api) {
    const t: Trace = [];
    const a = api.createSocket('udp4');
    a.on('listening', () => t.push(['listening', a.address().address]));
    a.bind(0, '127.0.0.1');
    await until(() => t.length === 1);
    const b = api.createSocket('udp4');
    b.on('listening', () => t.push(['b listening', b.address().family]));
    b.send(Buffer.from('x'), a.address().port, '127.0.0.1', (err: any) => t.push(['sent', errInfo(err)]));
    await until(() => t.length === 3);
    a.close();
    b.close();
    return t;
  },

  async 'offset/length, arrays of buffers and hostnames'(api) {
    const t: Trace = [];
    const a = api.createSocket('udp4');
    const got: string[] = [];
    a.on('message', (m: Buffer) => got.push(m.toString()));
    await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
    const b = api.createSocket('udp4');
    const port = a.address().port;
    b.send(Buffer.from('0123456789'), 2, 3, port, '127.0.0.1');
    await until(() => got.length === 1);
    b.send([Buffer.from('ab'), 'cd'], port, 'localhost');
    await until(() => got.length === 2);
    t.push(got);
    a.close();
    b.close();
    return t;
  },

  async 'connect, send without address, remoteAddress, disconnect'(api) {
    const t: Trace = [];
    const a = api.createSocket('udp4');
    const got: string[] = [];
    a.on('message', (m: Buffer) => got.push(m.toString()));
    await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
    const b = api.createSocket('udp4');
    b.on('connect', () => t.push('connect event'));
    await new Promise<void>((r) => b.connect(a.address().port, '127.0.0.1', r));
    t.push(['remote', b.remoteAddress().address, b.remoteAddress().port === a.address().port]);
    b.send('c1');
    await until(() => got.length === 1);
    try {
      b.send('x', a.address().port, '127.0.0.1');
    } catch (e) {
      t.push(['send with port when connected', errInfo(e)]);
    }
    b.disconnect();
    try {
      b.remoteAddress();
    } catch (e) {
      t.push(['remoteAddress after disconnect', errInfo(e)]);
    }
    t.push(got);
    a.close();
    b.close();
    return t;
  },

  async 'errors: EADDRINUSE event, bad port, bad type, closed socket'(api) {
    const t: Trace = [];
    const a = api.createSocket('udp4');
    await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
    const b = api.createSocket('udp4');
    const err = await new Promise<any>((r) => {
      b.on('error', r);
      b.bind(a.address().port, '127.0.0.1');
    });
    t.push(['bind error', errInfo(err), err.message.replace(/\d+$/, 'PORT')]);
    for (const f of [() => a.send('x', 0, '127.0.0.1'), () => a.send('x', 70000, '127.0.0.1'), () => api.createSocket('udp5' as any), () => a.send(42, 1, '127.0.0.1')]) {
      try {
        f();
        t.push('no throw');
      } catch (e) {
        t.push(errInfo(e));
      }
    }
    try {
      a.bind(0);
    } catch (e) {
      t.push(['rebind', errInfo(e)]);
    }
    a.close();
    for (const f of [() => a.send('x', 1, '127.0.0.1'), () => a.close(), () => a.address()]) {
      try {
        f();
        t.push('no throw');
      } catch (e) {
        t.push(errInfo(e));
      }
    }
    b.close();
    return t;
  },

  async 'options before and after bind'(api) {
    const t: Trace = [];
    const a = api.createSocket('udp4');
    for (const f of [() => a.setBroadcast(true), () => a.setTTL(5), () => a.getRecvBufferSize()]) {
      try {
        f();
        t.push('no throw');
      } catch (e) {
        t.push(errInfo(e));
      }
    }
    await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
    a.setBroadcast(true);
    t.push(a.setTTL(5));
    t.push(a.setMulticastTTL(2));
    t.push(a.setMulticastLoopback(true));
    a.addMembership('239.255.0.9', '127.0.0.1');
    a.dropMembership('239.255.0.9', '127.0.0.1');
    a.setRecvBufferSize(65536);
    t.push(a.getRecvBufferSize());
    t.push(typeof a.ref(), typeof a.unref());
    a.close();
    return t;
  },
};


/** Records what f returns, or the error's name, code, message, syscall, errno. */
function grabber(t: Trace): (f: () => unknown) => void {
  return (f) => {
    try {
      t.push(['ok', f()]);
    } catch (e: any) {
      t.push([e.name, e.code, e.message, e.syscall, e.errno]);
    }
  };
}

const scenarios2: Record<string, (api: Api) => Promise<Trace>> = {
  async 'argument validation: createSocket, send forms, sendto, membership, connect'(api) {
    const t: Trace = [];
    const grab = (f: () => unknown) => {
      try {
        f();
        t.push('no throw');
      } catch (e: any) {
        t.push([e.name, e.code, e.message]);
      }
    };
    grab(() => api.createSocket({ type: 'udp4', lookup: null }));
    grab(() => api.createSocket({ type: 'udp4', signal: 1 }));
    grab(() => api.createSocket({ type: 'udp9', lookup: 1 }));
    grab(() => api.createSocket('udp4', 42).close()); // a non-function listener is ignored
    const s = api.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    grab(() => s.send('x', 0, '127.0.0.1'));
    grab(() => s.send('x', 'a', '127.0.0.1'));
    grab(() => s.send('x', 1234, 5));
    grab(() => s.send(5, 1234));
    grab(() => s.send([5], 1234));
    grab(() => s.send('abc', 5, 1, 1234, '127.0.0.1'));
    grab(() => s.send('abc', 1, 5, 1234, '127.0.0.1'));
    grab(() => s.sendto('abc', 'a', 1, 1234, '127.0.0.1'));
    grab(() => s.sendto('abc', 0, 1, 1234, 5));
    grab(() => s.sendto('abc', 0, 1, 'x', '1.1.1.1'));
    grab(() => s.addMembership());
    grab(() => s.addMembership(1));
    grab(() => s.addMembership('1.2.3.4'));
    grab(() => s.addMembership('239.1.1.1', 'zz'));
    grab(() => s.dropMembership('239.1.1.1'));
    grab(() => s.connect(0));
    grab(() => s.connect(1234, 5));
    // A numeric-string port is a port, as in node:dgram.
    const got = new Promise<string>((r) => s.once('message', (m: Buffer) => r(m.toString())));
    s.send('str-port', String(s.address().port), '127.0.0.1');
    t.push(await got);
    s.close();
    return t;
  },

  async 'option setters: TTL ranges, truthy loopback, multicast interface errors'(api) {
    const t: Trace = [];
    const grab = grabber(t);
    const s = api.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    grab(() => s.setTTL(1000));
    grab(() => s.setTTL(0));
    grab(() => s.setTTL('a'));
    grab(() => s.setTTL(64));
    grab(() => s.setMulticastTTL(1000));
    grab(() => s.setMulticastTTL(0));
    grab(() => s.setMulticastLoopback(5));
    grab(() => s.setMulticastLoopback(0));
    grab(() => s.setMulticastInterface('zz'));
    grab(() => s.setMulticastInterface(5));
    grab(() => s.setMulticastInterface('127.0.0.1'));
    grab(() => s.setBroadcast(1));
    s.close();
    return t;
  },

  async 'zero-length datagrams are sent and delivered'(api) {
    const t: Trace = [];
    const a = api.createSocket('udp4');
    a.on('message', (m: Buffer, r: any) => t.push(['message', m.length, r.size]));
    await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
    const port = a.address().port;
    for (const send of [(cb: any) => a.send([], port, '127.0.0.1', cb), (cb: any) => a.send(Buffer.alloc(3), 0, 0, port, '127.0.0.1', cb), (cb: any) => a.send(Buffer.alloc(0), port, '127.0.0.1', cb)]) {
      await new Promise<void>((r) => send((e: any, n: number) => { t.push(['sent', errInfo(e), n]); r(); }));
    }
    await until(() => t.length >= 6);
    a.close();
    // Sends and receives on one socket interleave by scheduling: compare each kind in order.
    return [t.filter((x: any) => x[0] === 'sent'), t.filter((x: any) => x[0] === 'message')];
  },

  async 'error shapes: send errors name host and port, bind to port 0 has no port'(api) {
    const t: Trace = [];
    const a = api.createSocket('udp4');
    await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
    const port = a.address().port;
    const e1: any = await new Promise((r) => a.send(Buffer.alloc(100000), port, '127.0.0.1', r));
    t.push([e1.code, e1.syscall, e1.errno, e1.message.replace(String(port), 'PORT'), e1.address, e1.port === port]);
    for (const p of [0, 1]) {
      const b = api.createSocket('udp4');
      const e2: any = await new Promise((r) => { b.on('error', r); b.bind(p, '192.0.2.1'); });
      t.push([e2.code, e2.syscall, e2.message, e2.address, 'port' in e2, e2.port]);
      b.close();
    }
    a.close();
    return t;
  },

  async 'send to host "" goes to loopback; abort after close is harmless'(api) {
    const t: Trace = [];
    const a = api.createSocket('udp4');
    a.on('message', (m: Buffer) => t.push(['message', m.toString()]));
    await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
    const ac = new AbortController();
    const b = api.createSocket({ type: 'udp4', signal: ac.signal });
    b.on('close', () => t.push('b close'));
    b.send('empty host', a.address().port, '', (e: any) => t.push(['sent', errInfo(e)]));
    await until(() => t.length >= 2);
    b.close();
    ac.abort();
    await wait(20);
    const c = api.createSocket({ type: 'udp4', signal: AbortSignal.abort() });
    c.on('close', () => t.push('c closed by an aborted signal'));
    await wait(20);
    a.close();
    return t;
  },

  async 'bind retried after an error does not accumulate listeners'(api) {
    const t: Trace = [];
    const a = api.createSocket('udp4');
    await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
    const b = api.createSocket('udp4');
    const errors: string[] = [];
    b.on('error', (e: any) => errors.push(e.code));
    for (let i = 0; i < 12; i++) {
      b.bind(a.address().port, '127.0.0.1', () => t.push('never'));
      await until(() => errors.length > i);
    }
    t.push([errors.length, b.listenerCount('listening'), b.listenerCount('error')]);
    await new Promise<void>((r) => b.bind(0, '127.0.0.1', r));
    t.push(['bound after retries', b.listenerCount('listening')]);
    a.close();
    b.close();
    return t;
  },

  async 'send queue counters and asyncDispose'(api) {
    const t: Trace = [];
    const a = api.createSocket('udp4');
    t.push([a.getSendQueueSize(), a.getSendQueueCount(), typeof a[Symbol.asyncDispose]]);
    await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
    t.push([a.getSendQueueSize(), a.getSendQueueCount()]);
    a.on('close', () => t.push('close'));
    await a[Symbol.asyncDispose]();
    await a[Symbol.asyncDispose]();
    t.push('disposed twice');
    return t;
  },

  async 'close() inside a send callback while its own datagram is being received'(api) {
    const t: Trace = [];
    for (let round = 0; round < 40; round++) {
      const a = api.createSocket('udp4');
      a.on('message', () => {});
      await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
      const closed = new Promise<void>((r) => a.on('close', r));
      let done = false;
      const cb = () => {
        if (!done) {
          done = true;
          a.close();
        }
      };
      // Several datagrams to itself, so their receive completions share a
      // batch with the send completion whose callback closes the socket.
      for (let i = 0; i < 8; i++) a.send('self', a.address().port, '127.0.0.1', round % 2 ? cb : i === 7 ? cb : undefined);
      await closed;
    }
    t.push('no exception');
    return t;
  },

  async 'source-specific multicast: argument errors in node:dgram\'s order, join and drop, after close'(api) {
    const t: Trace = [];
    const grab = grabber(t);
    const s = api.createSocket('udp4');
    t.push([typeof s.addSourceSpecificMembership, typeof s.dropSourceSpecificMembership]);
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    grab(() => s.addSourceSpecificMembership(0, '232.1.1.1'));
    grab(() => s.addSourceSpecificMembership('127.0.0.1', 0));
    grab(() => s.addSourceSpecificMembership('127.0.0.1', '0'));
    grab(() => s.addSourceSpecificMembership('::1', '232.1.1.1'));
    grab(() => s.addSourceSpecificMembership('127.0.0.1', '232.1.1.1', 'zz'));
    grab(() => s.addSourceSpecificMembership('127.0.0.1', '232.1.1.1', 5));
    grab(() => s.addSourceSpecificMembership('127.0.0.1', '10.0.0.1', '127.0.0.1')); // not a multicast group: the kernel's EINVAL
    grab(() => s.addSourceSpecificMembership('::1', 'ff3e::1234')); // an IPv6 group on a udp4 socket: the kernel's ENOPROTOOPT
    grab(() => s.addSourceSpecificMembership('127.0.0.1', '232.1.1.1', '127.0.0.1'));
    grab(() => s.addSourceSpecificMembership('127.0.0.1', '232.1.1.1', '127.0.0.1')); // joined twice
    grab(() => s.dropSourceSpecificMembership('127.0.0.1', '232.1.1.1', '127.0.0.1'));
    grab(() => s.dropSourceSpecificMembership('127.0.0.1', '232.1.1.1', '127.0.0.1')); // not joined any more
    grab(() => s.dropSourceSpecificMembership('127.0.0.1', 0));
    s.close();
    grab(() => s.addSourceSpecificMembership(0, '232.1.1.1'));
    grab(() => s.dropSourceSpecificMembership('127.0.0.1', '232.1.1.1'));
    const s6 = api.createSocket('udp6');
    await new Promise<void>((r) => s6.bind(0, '::1', r));
    grab(() => s6.addSourceSpecificMembership('::1', 'ff3e::1234'));
    grab(() => s6.addSourceSpecificMembership('127.0.0.1', 'ff3e::1234'));
    grab(() => s6.dropSourceSpecificMembership('::1', 'ff3e::1234'));
    grab(() => s6.dropSourceSpecificMembership('::1', 'ff3e::1234'));
    s6.close();
    return t;
  },

  async 'createSocket checks recvBufferSize/sendBufferSize before anything else'(api) {
    const t: Trace = [];
    for (const v of ['invalid', true, 10n, {}, -1, 1.5, 2 ** 32, 0, null, NaN, '']) {
      for (const k of ['recvBufferSize', 'sendBufferSize']) {
        try {
          api.createSocket({ type: 'udp4', [k]: v }).close();
          t.push([k, String(v), 'no throw']);
        } catch (e: any) {
          t.push([k, String(v), e.name, e.code, e.message]);
        }
      }
    }
    for (const o of [{ type: 'udp9', recvBufferSize: 'x' }, { type: 'udp4', lookup: 1, sendBufferSize: 'x' }, { type: 'udp4', recvBufferSize: 'x', sendBufferSize: 'y' }]) {
      try {
        api.createSocket(o).close();
        t.push('no throw');
      } catch (e: any) {
        t.push([e.code, e.message]);
      }
    }
    return t;
  },

  async 'close() before the implicit bind completes drops the queued sends without calling back'(api) {
    const t: Trace = [];
    const r = api.createSocket('udp4');
    r.on('message', (m: Buffer) => t.push(['received', m.toString()]));
    await new Promise<void>((res) => r.bind(0, '127.0.0.1', res));
    const port = r.address().port;
    const s = api.createSocket('udp4');
    s.on('listening', () => t.push('listening'));
    s.on('error', (e: any) => t.push(['error', errInfo(e)]));
    s.send('queued 1', port, '127.0.0.1', (err: any, n: number) => t.push(['send cb 1', errInfo(err), n]));
    s.send('queued 2', port, '127.0.0.1');
    s.send('queued 3', port, 'localhost', (err: any, n: number) => t.push(['send cb 3', errInfo(err), n]));
    s.close(() => t.push('closed'));
    await until(() => t.includes('closed'));
    await wait(50);
    // The receiver still works: the dropped datagrams were never sent.
    const c = api.createSocket('udp4');
    await new Promise<void>((res) => c.send('after', port, '127.0.0.1', () => res()));
    await until(() => t.some((x: any) => x[1] === 'after'));
    c.close();
    r.close();
    return t;
  },
};
Object.assign(scenarios, scenarios2);

const apis: [string, Api][] = [
  ['ringwire (io_uring)', { createSocket: (t: any, l?: any) => rwDgram.createSocket(typeof t === 'string' ? { type: t, backend: 'io_uring' } : { backend: 'io_uring', ...t }, l) }],
  ['ringwire (epoll)', { createSocket: (t: any, l?: any) => rwDgram.createSocket(typeof t === 'string' ? { type: t, backend: 'epoll' } : { backend: 'epoll', ...t }, l) }],
];

/**
 * Runs a scenario and says how many descriptors it left open once its
 * sockets had 2 s to close (closes finish asynchronously in both modules).
 */
async function withFds(run: () => Promise<Trace>): Promise<{ trace: Trace; fdsLeft: number }> {
  const before = fdCount();
  const trace = await run();
  await until(() => fdCount() <= before, 2000).catch(() => undefined);
  return { trace, fdsLeft: fdCount() - before };
}

describe('ringwire/dgram behaves like node:dgram', () => {
  // The thread's ring and eventfd live as long as the thread: opened here,
  // outside any scenario's count.
  it('(warm-up: each backend opens its per-thread descriptors)', async () => {
    for (const [label, api] of apis) if (!(label.includes('io_uring') && needs('io_uring'))) await Object.values(scenarios)[0](api);
  });
  for (const [name, fn] of Object.entries(scenarios)) {
    for (const [label, api] of apis) {
      const skip = label.includes('io_uring') ? needs('io_uring') : undefined;
      it.skipIf(!!skip)(`${name} — ${label}${skip ? ` (skipped: ${skip})` : ''}`, async () => {
        const expected = await withFds(() => fn(nodeDgram as unknown as Api));
        // Nothing leaked: every socket the scenario opened is closed.
        expect(expected.fdsLeft).toBe(0);
        const actual = await withFds(() => fn(api));
        expect(actual).toEqual(expected);
      });
    }
  }
});

describe('ringwire/dgram handles keep the process alive as node:dgram does', () => {
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const run = (mod: string, body: string) => {
    const r = spawnSync(process.execPath, ['-e', `const dgram=require(${JSON.stringify(mod)});${body}`], { encoding: 'utf8', timeout: 5000 });
    return { status: r.status, signal: r.signal, out: r.stdout.trim(), err: r.stderr.trim().split('\n')[0].replace(/^\(node:\d+\)/, '(node:PID)') };
  };
  const cases: Record<string, string> = {
    'a socket created but never bound lets the process exit': `dgram.createSocket('udp4'); dgram.createSocket({type:'udp6'}); console.log('created')`,
    'a createSocket that throws leaves no open socket behind': `
      for (const o of [{type:'udp4', signal: 1}, {type:'udp4', lookup: null}, {type:'udp5'}]) try { dgram.createSocket(o); } catch (e) { console.log(e.code); }`,
    'a bound then unref()ed socket lets the process exit': `const s=dgram.createSocket('udp4'); s.bind(0,'127.0.0.1',()=>{s.unref();console.log('bound')})`,
    'an unref()ed socket keeps the process alive until a pending send calls back': `
      const s=dgram.createSocket('udp4').bind(0,'127.0.0.1',()=>s.send(Buffer.from('test'),s.address().port,'127.0.0.1',(e,n)=>console.log('sent',e,n)));
      s.unref(); process.on('exit',()=>console.log('exit'))`,
    'unref() while a send is in flight still lets its callback run': `
      const s=dgram.createSocket('udp4'); s.bind(0,'127.0.0.1',()=>{s.send('x',s.address().port,'127.0.0.1',(e,n)=>console.log('sent',e,n)); s.unref();});
      process.on('exit',()=>console.log('exit'))`,
    // Once per process (DEP0112), so here rather than in the shared scenarios.
    'the deprecated private API (DEP0112) warns once and reads and stops as node:dgram':  `
      // Only DEP0112, and not printed (Node's own printer is a 'warning'
      // listener): a wake-mode fallback warning of ringwire's is not the subject.
      process.removeAllListeners('warning');
      process.on('warning', (w) => w.code === 'DEP0112' && console.log('warning', w.name, w.code, w.message));
      const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
      console.log('unbound', s._bindState, s._receiving, s._reuseAddr, !!s._handle, s._queue);
      s.bind(0, '127.0.0.1', () => {
        console.log('bound', s._bindState, s._receiving);
        s.on('message', (m) => console.log('message', String(m)));
        const c = dgram.createSocket('udp4');
        const to = s.address().port;
        c.send('one', to, '127.0.0.1', () => setTimeout(() => {
          s._stopReceiving();
          console.log('stopped', s._receiving);
          c.send('two', to, '127.0.0.1', () => setTimeout(() => {
            s.close(() => console.log('closed'));
            console.log('after close', s._handle);
            try { s._healthCheck(); } catch (e) { console.log(e.code); }
            c.close();
          }, 100));
        }, 100));
      });`,
    'a bound socket keeps the process alive until closed': `const s=dgram.createSocket('udp4'); s.bind(0,'127.0.0.1',()=>setTimeout(()=>{console.log('closing');s.close()},200).unref())`,
  };
  for (const [name, body] of Object.entries(cases)) {
    for (const backend of ['io_uring', 'epoll'] as const) {
      const skip = backend === 'io_uring' ? needs('io_uring') : undefined;
      it.skipIf(!!skip)(`${name} — ${backend}${skip ? ` (skipped: ${skip})` : ''}`, () => {
        const expected = run('node:dgram', body);
        const prev = process.env.RINGWIRE_BACKEND;
        process.env.RINGWIRE_BACKEND = backend;
        try {
          const actual = run(`${dist}/dgram.js`, body);
          expect(actual).toEqual(expected);
        } finally {
          if (prev === undefined) delete process.env.RINGWIRE_BACKEND;
          else process.env.RINGWIRE_BACKEND = prev;
        }
      });
    }
  }
});
