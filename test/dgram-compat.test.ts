// The same dgram scenarios against node:dgram and ringwire/dgram (both
// backends); each scenario records what a user can observe (events in
// order, payloads, rinfo shapes, error codes) and the traces must match.
import { describe, expect, it } from 'vitest';
import * as nodeDgram from 'node:dgram';
import * as rwDgram from '../lib/dgram';
import { needs } from './helpers/skip';

type Api = { createSocket: (t: any, l?: any) => any };
type Trace = unknown[];

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 3000) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await wait(2);
}

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

const apis: [string, Api][] = [
  ['ringwire (io_uring)', { createSocket: (t: any, l?: any) => rwDgram.createSocket(typeof t === 'string' ? { type: t, backend: 'io_uring' } : { backend: 'io_uring', ...t }, l) }],
  ['ringwire (epoll)', { createSocket: (t: any, l?: any) => rwDgram.createSocket(typeof t === 'string' ? { type: t, backend: 'epoll' } : { backend: 'epoll', ...t }, l) }],
];

describe('ringwire/dgram behaves like node:dgram', () => {
  for (const [name, fn] of Object.entries(scenarios)) {
    for (const [label, api] of apis) {
      const skip = label.includes('io_uring') ? needs('io_uring') : undefined;
      it.skipIf(!!skip)(`${name} — ${label}${skip ? ` (skipped: ${skip})` : ''}`, async () => {
        const expected = await fn(nodeDgram as unknown as Api);
        const actual = await fn(api);
        expect(actual).toEqual(expected);
      });
    }
  }
});
