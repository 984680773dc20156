// TCPDirect backend and ef_vi reporting. CI builds without the Onload /
// TCPDirect SDKs: there the tests check what a user of such a build sees
// (compiled:false with the reason, a coded error for backend:'tcpdirect',
// 'auto' moving on with the reason). The echo tests run only where
// TCPDirect is usable (capabilities().tcpdirect.available: a build with
// RINGWIRE_TCPDIRECT_ROOT, and a NIC or TCPDirect's emulator via ZF_ATTR);
// they skip with the reason everywhere else.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { capabilities } from '../lib/capabilities';
import { missingFacilities } from '../lib/cli/doctor';
import { createTcpEndpoint, TcpEvent, type TcpBatch } from '../lib/tcp';
import { createUdpSocket, resolveBackend, UdpSocket } from '../lib/udp';
import { skipReason } from './helpers/skip';

const caps = capabilities();
const notCompiled = caps.tcpdirect.compiled ? 'TCPDirect is compiled into this build' : undefined;

describe.skipIf(skipReason(notCompiled))('a build without the TCPDirect / Onload SDKs', () => {
  it('reports tcpdirect and ef_vi as compiled:false with the build option that enables them', () => {
    expect(caps.tcpdirect).toMatchObject({ compiled: false, available: false, version: null });
    expect(caps.tcpdirect.reason).toMatch(/not compiled in .*--CDRINGWIRE_TCPDIRECT_ROOT=/);
    if (!caps.ef_vi.compiled) {
      expect(caps.ef_vi).toMatchObject({ available: false, driverOpen: 'not compiled' });
      // The command must be one cmake-js 7 honours (it drops `-- -DX=Y`).
      expect(caps.ef_vi.reason).toMatch(/--CDRINGWIRE_EFVI_ROOT=/);
    }
    expect(missingFacilities(['tcpdirect'], caps)).toEqual(['tcpdirect']);
  });

  it("backend: 'tcpdirect' is a coded error naming what is missing, for UDP sockets and TCP endpoints", () => {
    for (const open of [() => createUdpSocket({ type: 'udp4', backend: 'tcpdirect' }), () => createTcpEndpoint({ backend: 'tcpdirect', onBatch: () => {} })]) {
      let err: (Error & { code?: string; errno?: number; syscall?: string }) | undefined;
      try {
        open();
      } catch (e) {
        err = e as typeof err;
      }
      expect(err).toBeInstanceOf(Error);
      expect(err).toMatchObject({ code: 'ENOTSUP', errno: -95, syscall: 'tcpdirect' }) // libuv names -95 ENOTSUP;
      expect(err!.message).toMatch(/not compiled in/);
    }
  });

  it("'auto' moves on to the kernel stack and says why TCPDirect was passed over", async () => {
    const r = resolveBackend('auto');
    expect(['io_uring', 'epoll']).toContain(r.backend);
    expect(r.reason).toMatch(/tcpdirect passed over: not compiled in/);
    const s = createUdpSocket({ type: 'udp4' });
    try {
      expect(s).toBeInstanceOf(UdpSocket);
      expect(s.backend).toBe(r.backend);
      expect(s.backendReason).toMatch(/tcpdirect passed over/);
    } finally {
      await s.close();
    }
    const ep = createTcpEndpoint({ onBatch: () => {} });
    expect(['io_uring', 'epoll']).toContain(ep.backend);
    await ep.close();
  });
});

describe('backend option checks', () => {
  it("new UdpSocket({ backend: 'tcpdirect' }) points to createUdpSocket instead of opening a kernel socket", () => {
    expect(() => new UdpSocket({ type: 'udp4', backend: 'tcpdirect' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/createUdpSocket/) }));
  });

  it('doctor prints a tcpdirect line and an ef_vi line that tell compiled from usable', () => {
    const cli = path.resolve(__dirname, '..', 'dist', 'cli.js');
    const r = spawnSync(process.execPath, [cli, 'doctor', '--json'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const checks = JSON.parse(r.stdout).checks as { id: string; status: string; detail: string }[];
    const td = checks.find((c) => c.id === 'tcpdirect')!;
    const ev = checks.find((c) => c.id === 'ef_vi')!;
    expect(td.status).toBe(caps.tcpdirect.available ? 'ok' : caps.tcpdirect.compiled ? 'missing' : 'info');
    expect(ev.status).toBe(caps.ef_vi.available ? 'ok' : caps.ef_vi.compiled ? 'missing' : 'info');
    if (!caps.tcpdirect.available) expect(td.detail).toContain(caps.tcpdirect.reason!);
  });
});

// Configuring with an SDK root that holds no SDK must stop the build, not
// quietly produce an addon without the backend (cmake-js used to drop the
// option, and CMake only warned).
const cmakeMissing = spawnSync('cmake', ['--version']).status === 0 ? undefined : 'cmake is not installed';
describe.skipIf(skipReason(cmakeMissing))('an SDK root without the SDK', () => {
  for (const opt of ['RINGWIRE_EFVI_ROOT', 'RINGWIRE_TCPDIRECT_ROOT']) {
    it(`-D${opt}=<empty dir> fails the configure step and names what is missing`, () => {
      const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-sdk-'));
      const build = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-cfg-'));
      try {
        const r = spawnSync('cmake', ['-S', path.resolve(__dirname, '..'), '-B', build, `-D${opt}=${empty}`], { encoding: 'utf8', timeout: 60_000 });
        expect(r.status).not.toBe(0);
        expect(r.stderr).toMatch(new RegExp(`${opt}=${empty} lacks`));
      } finally {
        fs.rmSync(empty, { recursive: true, force: true });
        fs.rmSync(build, { recursive: true, force: true });
      }
    }, 60_000);
  }
});

// On a machine with TCPDirect (or its emulator, see README "ef_vi and
// TCPDirect"): real traffic through the zf stack.
const unusable = caps.tcpdirect.available ? undefined : `TCPDirect unusable here: ${caps.tcpdirect.reason}`;
const local = process.env.RINGWIRE_TEST_ZF_ADDRS?.split(',') ?? ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];

describe.skipIf(skipReason(unusable))('TCPDirect traffic', () => {
  it('UDP echo: every datagram comes back with its source address, within bounded time', async () => {
    const srv = createUdpSocket({ type: 'udp4', backend: 'tcpdirect' });
    const cli = createUdpSocket({ type: 'udp4', backend: 'tcpdirect' });
    try {
      expect(() => srv.bind(0)).toThrow(/INADDR_ANY/);
      const port = srv.bind(0, local[0]).port;
      srv.onBatch((b) => { for (let i = 0; i < b.count; i++) srv.reply(b as never, i); });
      // payload[0] is the sequence number mod 256: 200 distinct values.
      cli.bind(0, local[1]);
      // A zocket queues at most 64 datagrams between reactor passes
      // (TCPDirect's SW_RECVQ_MAX), so at most 32 are in flight here.
      const seen = new Set<number>();
      let next = 0;
      const more = () => {
        for (const stop = Math.min(200, next + 32 - (next - seen.size)); next < stop; next++) cli.queue(Buffer.from([next, 1, 2, 3]), port, local[0]);
      };
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${seen.size}/200 came back`)), 10_000);
        cli.onBatch((b) => {
          for (let i = 0; i < b.count; i++) {
            expect(b.source(i)).toEqual({ address: local[0], family: 'IPv4', port });
            seen.add(b.payload(i)[0]);
          }
          if (seen.size === 200) {
            clearTimeout(timer);
            resolve();
          } else more();
        });
        more();
      });
    } finally {
      await srv.close();
      await cli.close();
    }
  });

  it('TCP echo through listen/accept/connect: every byte comes back in order, then both ends close', async () => {
    const total = 256 * 1024;
    const sent = Buffer.alloc(total);
    for (let i = 0; i < total; i++) sent[i] = (i * 7) & 255;
    const got: Buffer[] = [];
    let client = -1;
    let server = -1;
    let closes = 0;
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => { resolveDone = r; });
    const ep = createTcpEndpoint({
      backend: 'tcpdirect',
      onBatch: (b: TcpBatch) => {
        for (let i = 0; i < b.count; i++) {
          const t = b.type(i);
          if (t === TcpEvent.Accept) server = b.conn(i);
          else if (t === TcpEvent.Connect) for (let o = 0; o < total; o += 16384) ep.send(b.conn(i), sent.subarray(o, o + 16384));
          else if (t === TcpEvent.Data && b.conn(i) === server) ep.sendFrom(server, b, i);
          else if (t === TcpEvent.Data) {
            got.push(Buffer.from(b.data(i)));
            if (got.reduce((n, x) => n + x.length, 0) === total) ep.end(client);
          } else if (t === TcpEvent.Error) throw b.error(i);
          else if (t === TcpEvent.Close && ++closes === 2) resolveDone();
        }
      },
    });
    try {
      const l = ep.listen({ host: local[2], port: 0 });
      client = ep.connect({ host: local[2], port: l.address().port, localAddress: local[3] });
      await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error('no close within 10 s')), 10_000))]);
      expect(Buffer.concat(got).equals(sent)).toBe(true);
    } finally {
      await ep.close();
    }
  });
});
