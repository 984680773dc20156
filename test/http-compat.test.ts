// The same scenarios against node:http and ringwire/http (node:http's Server
// over ringwire connections, both backends); what a user observes must match.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import * as nodeHttp from 'node:http';
import * as nodeNet from 'node:net';
import * as rwHttp from '../lib/http';
import { needs } from './helpers/skip';
import { dist } from './helpers/child';


function surface(http: unknown): unknown[] {
  const h = http as Record<string, (...a: unknown[]) => unknown>;
  const out: unknown[] = [];
  try {
    const s = h.Server() as nodeHttp.Server;
    out.push(['Server()', s instanceof (h.Server as unknown as new () => object), s instanceof nodeHttp.Server]);
  } catch (e) {
    out.push(['Server()', (e as Error).message]);
  }
  try {
    const s = new (h.Server as unknown as new (o: unknown) => nodeHttp.Server)([]);
    out.push(['array options', typeof s.listen]);
  } catch (e) {
    out.push(['array options', (e as NodeJS.ErrnoException).code]);
  }
  for (const bad of [1, 'x', true]) {
    try {
      h.createServer(bad);
      out.push('no throw');
    } catch (e) {
      out.push([(e as Error).name, (e as NodeJS.ErrnoException).code]);
    }
  }
  out.push(typeof h.setMaxIdleHTTPParsers);
  return out;
}

describe('ringwire/http module surface matches node:http', () => {
  it('Server without new, array options, bad options, setMaxIdleHTTPParsers', () => {
    expect(surface(rwHttp)).toEqual(surface(nodeHttp));
  });
});

// The child serves one request on an unref()ed server; the peer (this
// process) sends it and half-closes. Once answered, nothing is left that
// node:http counts as alive: the child must exit by itself.
describe('ringwire/http connections keep the process alive as node:http does', () => {
  const runChild = (mod: string, backend: string, ms: number, unreadBody = false) =>
    new Promise<{ status: number | null; signal: string | null; out: string }>((resolve) => {
      const body = `const http=require(${JSON.stringify(mod)});
        const s=http.createServer(${unreadBody ? `(req)=>{req.pause();console.log('request left unread')}` : `(req,res)=>{req.resume();res.end('ok');console.log('served')}`});
        s.listen(0,'127.0.0.1',()=>{s.unref();console.log('port',s.address().port)})`;
      const child = spawn(process.execPath, ['-e', body], { env: { ...process.env, RINGWIRE_BACKEND: backend } });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /port (\d+)/.exec(out);
        if (m && !out.includes('sent')) {
          out += 'sent\n';
          const c = nodeNet.connect(Number(m[1]), '127.0.0.1', () => {
            if (!unreadBody) return c.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
            const body = 8 << 20;
            c.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body}\r\n\r\n`);
            c.write(Buffer.alloc(body));
          });
          c.on('data', () => {});
          c.on('error', () => {});
        }
      });
      const timer = setTimeout(() => child.kill('SIGTERM'), ms);
      child.on('exit', (status, signal) => {
        clearTimeout(timer);
        resolve({ status, signal, out: out.replace(/port \d+/, 'port P').trim() });
      });
    });
  for (const backend of ['io_uring', 'epoll']) {
    const skip = backend === 'io_uring' ? needs('io_uring') : undefined;
    it.skipIf(!!skip)(`a connection answered after the peer's FIN lets the process exit — ${backend}${skip ? ` (skipped: ${skip})` : ''}`, async () => {
      const expected = await runChild('node:http', backend, 5000);
      const actual = await runChild(`${dist}/http.js`, backend, 5000);
      expect(actual).toEqual(expected);
    }, 15_000);
    it.skipIf(!!skip)(`a request whose body is never read lets the process exit once its buffers fill — ${backend}${skip ? ` (skipped: ${skip})` : ''}`, async () => {
      const expected = await runChild('node:http', backend, 5000, true);
      const actual = await runChild(`${dist}/http.js`, backend, 5000, true);
      expect(actual).toEqual(expected);
    }, 15_000);
  }
});

// A peer that floods pipelined requests and never reads the answers: the
// server's socket timeout must still fire (the inactivity that counts is
// node:net's: completed writes and reads refresh it, a write stuck behind
// a full window does not).
describe('ringwire/http times out a peer that never reads', () => {
  const flood = (http: { createServer: (o: object, l: nodeHttp.RequestListener) => nodeHttp.Server }, backend?: string) =>
    new Promise<string>((resolve) => {
      const t0 = Date.now();
      const srv = http.createServer(backend ? { backend } : {}, (_req, res) => res.end(Buffer.alloc(16384)));
      srv.setTimeout(300);
      srv.listen(0, '127.0.0.1', () => {
        const c = nodeNet.connect((srv.address() as nodeNet.AddressInfo).port, '127.0.0.1');
        c.pause();
        const req = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(64));
        const timer = setInterval(() => { if (!c.destroyed) c.write(req); }, 1);
        const give = setTimeout(() => c.destroy(), 5000);
        c.on('error', () => {});
        c.on('close', () => {
          clearInterval(timer);
          clearTimeout(give);
          srv.close();
          resolve(Date.now() - t0 < 5000 ? 'closed by the server timeout' : 'no timeout within 5 s');
        });
      });
    });
  for (const backend of ['io_uring', 'epoll']) {
    const skip = backend === 'io_uring' ? needs('io_uring') : undefined;
    it.skipIf(!!skip)(`pipelined requests, responses never read — ${backend}${skip ? ` (skipped: ${skip})` : ''}`, async () => {
      const expected = await flood(nodeHttp as never);
      for (let run = 0; run < 3; run++) expect(await flood(rwHttp as never, backend)).toBe(expected);
    }, 30_000);
  }
});
