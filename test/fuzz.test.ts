// Seeded, bounded API fuzz (scripts/fuzz.js) in a child process: every
// public function, method and getter of UDP, TCP, the dgram/net drop-ins,
// regions, SPSC/MPSC rings, the packet ring's socket backend, the
// packet-header helpers and capabilities, with adversarial arguments, live
// and after close(), on both backends (each episode picks one). A crash is a
// signal, a synchronous hang the child's timeout (the call in progress is in
// the trace file), an asynchronous one a promise or close that never settled.
// Longer runs: node scripts/fuzz.js --seed N --calls M
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const script = path.resolve(__dirname, '..', 'scripts', 'fuzz.js');
const SEEDS = (process.env.RINGWIRE_FUZZ_SEEDS ?? '1,2,3,4').split(',').map(Number);
const CALLS = Number(process.env.RINGWIRE_FUZZ_CALLS ?? 10000);

describe('API fuzz', () => {
  for (const seed of SEEDS) {
    // UdpSocket/TcpEndpoint episodes pick a backend each; the drop-ins use
    // 'auto', so every other seed forces epoll for them.
    const env = seed % 2 === 0 ? { ...process.env, RINGWIRE_BACKEND: 'epoll' } : { ...process.env };
    it(`seed ${seed}${env.RINGWIRE_BACKEND ? ' (drop-ins on epoll)' : ''}: ${CALLS} adversarial calls end in a coded error, a return or a settled promise - no crash, hang or uncoded error`, () => {
      const trace = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rw-fuzz-')), 'trace');
      const r = spawnSync(process.execPath, [script, '--seed', String(seed), '--calls', String(CALLS), '--trace', trace], {
        encoding: 'utf8', timeout: 50_000, env,
      });
      const last = fs.existsSync(trace) ? fs.readFileSync(trace, 'utf8').trim() : '';
      expect(r.signal, `child ended by ${r.signal} during: ${last}\n${r.stderr}`).toBeNull();
      expect(r.status, `child exit ${r.status} during: ${last}\n${r.stderr}`).toBe(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(out.calls).toBeGreaterThanOrEqual(CALLS);
      // The surface really was covered (methods and functions seen).
      expect(out.methods).toBeGreaterThan(200);
      expect(out.hangs).toEqual([]);
      expect(out.untyped).toEqual([]);
    }, 60_000);
  }
});
