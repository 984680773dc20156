// node:http's Server over ringwire connections (ringwire/http), driven by
// Node's fetch (undici) as a real client and by raw sockets for pipelining;
// each case on both backends, compared with node:http where it matters.
import { afterEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import * as nodeHttp from 'node:http';
import * as nodeNet from 'node:net';
import * as rwHttp from '../lib/http';
import { needs, skipReason } from './helpers/skip';
import { sleep } from './helpers/wait';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function listen(server: nodeHttp.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as nodeNet.AddressInfo).port));
  });
}

const backends = [
  { backend: 'io_uring' as const, skip: needs('io_uring') },
  { backend: 'epoll' as const, skip: undefined },
];

const big = randomBytes(4 << 20);

function handler(req: nodeHttp.IncomingMessage, res: nodeHttp.ServerResponse): void {
  if (req.url === '/big') {
    res.setHeader('content-type', 'application/octet-stream');
    // Several writes so the response really streams.
    for (let off = 0; off < big.length; off += 1 << 20) res.write(big.subarray(off, off + (1 << 20)));
    res.end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (d: Buffer) => chunks.push(d));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.setHeader('content-type', 'text/plain');
    res.setHeader('x-method', req.method ?? '');
    res.end(req.method === 'POST' ? sha(body) : `hello ${req.url}`);
  });
}

for (const { backend, skip } of backends) {
  describe.skipIf(skipReason(skip))(`ringwire/http (${backend})`, () => {
    const servers: nodeHttp.Server[] = [];
    const make = (opts: nodeHttp.ServerOptions = {}) => {
      const s = rwHttp.createServer({ ...opts, backend }, handler);
      servers.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of servers.splice(0)) {
        s.closeAllConnections();
        if (s.listening) await new Promise((r) => s.close(r));
      }
    });

    it('serves GET and POST to fetch with correct status, headers and bodies', async () => {
      const port = await listen(make());
      const r1 = await fetch(`http://127.0.0.1:${port}/a?b=1`);
      expect(r1.status).toBe(200);
      expect(r1.headers.get('content-type')).toBe('text/plain');
      expect(await r1.text()).toBe('hello /a?b=1');
      const body = randomBytes(3 << 20);
      const r2 = await fetch(`http://127.0.0.1:${port}/up`, { method: 'POST', body });
      expect(r2.headers.get('x-method')).toBe('POST');
      expect(await r2.text()).toBe(sha(body));
    });

    it('streams a 4 MiB response intact', async () => {
      const port = await listen(make());
      const r = await fetch(`http://127.0.0.1:${port}/big`);
      expect(sha(new Uint8Array(await r.arrayBuffer()))).toBe(sha(big));
    });

    it('keep-alive: sequential fetches reuse connections exactly as node:http does', async () => {
      const count = async (server: nodeHttp.Server) => {
        let connections = 0;
        server.on('connection', () => connections++);
        const port = await listen(server);
        const seen: (string | null)[] = [];
        for (let i = 0; i < 10; i++) {
          const r = await fetch(`http://127.0.0.1:${port}/k${i}`);
          seen.push(r.headers.get('connection'));
          await r.text();
        }
        return { connections, keepAlive: seen.every((c) => c === 'keep-alive') };
      };
      const node = nodeHttp.createServer(handler);
      servers.push(node);
      const expected = await count(node);
      const got = await count(make());
      expect(got).toEqual(expected);
      expect(got.keepAlive).toBe(true);
      expect(got.connections).toBeLessThan(10);
    });

    it('pipelining: three requests written at once get three responses in order', async () => {
      const port = await listen(make());
      const sock = nodeNet.connect(port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      let data = '';
      sock.on('data', (d) => { data += d.toString(); });
      sock.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await new Promise((r) => sock.once('close', r));
      const bodies = data.split('HTTP/1.1 200 OK').slice(1).map((part) => part.split('\r\n\r\n')[1]);
      expect(bodies).toEqual(['hello /one', 'hello /two', 'hello /three']);
    });

    it('a malformed request gets 400 and the connection closes, as with node:http', async () => {
      const raw = async (server: nodeHttp.Server) => {
        const port = await listen(server);
        const sock = nodeNet.connect(port, '127.0.0.1');
        let data = '';
        sock.on('data', (d) => { data += d.toString(); });
        sock.write('NOT HTTP AT ALL\r\n\r\n');
        await new Promise((r) => sock.once('close', r));
        return data.split('\r\n')[0];
      };
      const node = nodeHttp.createServer(handler);
      servers.push(node);
      expect(await raw(make())).toBe(await raw(node));
    });

    it('close() ends idle keep-alive connections and emits close; address() and listening follow', async () => {
      const server = make();
      const port = await listen(server);
      expect(server.listening).toBe(true);
      expect(server.address()).toEqual({ address: '127.0.0.1', family: 'IPv4', port });
      await (await fetch(`http://127.0.0.1:${port}/x`)).text();
      const t0 = Date.now();
      await new Promise((r) => server.close(r));
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(server.listening).toBe(false);
      expect(server.address()).toBe(null);
    });

    it('listen errors (EADDRINUSE) arrive as an error event', async () => {
      const a = make();
      const port = await listen(a);
      const b = make();
      const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
        b.once('error', resolve);
        b.listen(port, '127.0.0.1');
      });
      expect(err).toMatchObject({ code: 'EADDRINUSE', syscall: 'listen', port });
    });

    it('many concurrent fetches across connections all succeed', async () => {
      const port = await listen(make());
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => fetch(`http://127.0.0.1:${port}/c${i}`).then((r) => r.text())));
      expect(results).toEqual(Array.from({ length: 200 }, (_, i) => `hello /c${i}`));
    });

    it('bad options throw before anything is opened', () => {
      expect(() => rwHttp.createServer('nope' as unknown as nodeHttp.ServerOptions)).toThrow(TypeError);
      expect(() => rwHttp.createServer({ backend: 'dpdk' as 'epoll' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
      expect(() => make().listen(70000)).toThrow(RangeError);
    });
  });
}

describe('ringwire/http exports', () => {
  it('re-exports node:http helpers so one import serves both', async () => {
    expect(rwHttp.STATUS_CODES[404]).toBe('Not Found');
    expect(rwHttp.METHODS).toContain('GET');
    const s = rwHttp.createServer(() => {});
    expect(s).toBeInstanceOf(nodeHttp.Server);
    await sleep(0);
  });
});
