// Network namespaces + a veth pair for tests that must not touch the host's
// interfaces: addresses exist only inside the namespaces, and destroy()
// (run from afterAll) deletes the namespaces, which deletes the veths and
// everything attached to them.
import { type ChildProcessWithoutNullStreams, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

export interface VethPair {
  nsA: string;
  nsB: string;
  ifA: string;
  ifB: string;
  ip4A: string;
  ip4B: string;
  ip6A: string;
  ip6B: string;
}

export function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Namespaces rw<tag>a/b joined by a veth pair; `subnet` picks 10.77.<subnet>.0/24 and fd77:<subnet>::/64. */
export function createVethPair(tag: string, subnet: number, opts: { queues?: number } = {}): VethPair {
  const id = `${tag}${process.pid % 100000}`;
  const p: VethPair = {
    nsA: `rw-${id}-a`, nsB: `rw-${id}-b`, ifA: `rw${id}a`.slice(0, 15), ifB: `rw${id}b`.slice(0, 15),
    ip4A: `10.77.${subnet}.1`, ip4B: `10.77.${subnet}.2`, ip6A: `fd77:${subnet}::1`, ip6B: `fd77:${subnet}::2`,
  };
  destroy(p); // a leftover from a crashed earlier run
  ip(['netns', 'add', p.nsA]);
  ip(['netns', 'add', p.nsB]);
  const q = opts.queues ?? 1;
  ip(['link', 'add', p.ifA, 'numtxqueues', String(q), 'numrxqueues', String(q), 'netns', p.nsA, 'type', 'veth', 'peer', 'name', p.ifB, 'numtxqueues', String(q), 'numrxqueues', String(q), 'netns', p.nsB]);
  for (const [ns, dev, v4, v6] of [[p.nsA, p.ifA, p.ip4A, p.ip6A], [p.nsB, p.ifB, p.ip4B, p.ip6B]]) {
    ip(['-n', ns, 'addr', 'add', `${v4}/24`, 'dev', dev]);
    ip(['-n', ns, 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', ns, 'link', 'set', dev, 'up']);
  }
  return p;
}

export function destroy(p: VethPair): void {
  for (const ns of [p.nsA, p.nsB]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

/** The XDP program mode on A's interface as `ip link` shows it, or null. */
export function xdpOn(p: VethPair): 'native' | 'skb' | null {
  const s = ip(['-n', p.nsA, 'link', 'show', p.ifA]);
  if (/\sxdpgeneric[\s/]/.test(s)) return 'skb';
  if (/\sxdp[\s/]/.test(s)) return 'native';
  return null;
}

const fixtures = path.resolve(__dirname, '..', 'fixtures');

/** Runs test/fixtures/udp-peer.py in a namespace; returns its JSON answer. */
export function peer(ns: string, mode: 'send' | 'listen' | 'ping', args: object, timeoutMs = 20_000): Record<string, unknown> {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'python3', path.join(fixtures, 'udp-peer.py'), mode, JSON.stringify(args)], { encoding: 'utf8', timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`udp-peer ${mode} failed (${r.status ?? r.signal}): ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

/** udp-peer.py running in the background (for 'listen'); read it with next('listening' | 'done'). */
export function spawnPeer(ns: string, mode: 'listen', args: object): JsonChild {
  return new JsonChild('ip', ['netns', 'exec', ns, 'python3', path.join(fixtures, 'udp-peer.py'), mode, JSON.stringify(args)]);
}

/** A child process that prints one JSON object per line. */
export class JsonChild {
  readonly proc: ChildProcessWithoutNullStreams;
  private readonly lines: Record<string, unknown>[] = [];
  private waiters: (() => void)[] = [];
  stderr = '';

  constructor(cmd: string, args: string[]) {
    this.proc = spawn(cmd, args, { env: { ...process.env } });
    readline.createInterface({ input: this.proc.stdout }).on('line', (l) => {
      try {
        this.lines.push(JSON.parse(l));
      } catch {
        this.lines.push({ event: 'text', text: l });
      }
      this.waiters.splice(0).forEach((w) => w());
    });
    this.proc.stderr.on('data', (d) => (this.stderr += String(d)));
    this.proc.on('exit', () => this.waiters.splice(0).forEach((w) => w()));
  }

  /** The next line whose event is `event` (consumed), within `ms`. */
  async next(event: string, ms = 15_000): Promise<Record<string, unknown>> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.lines.findIndex((l) => l.event === event || l.event === 'fatal');
      if (i >= 0) {
        const l = this.lines.splice(i, 1)[0];
        if (l.event === 'fatal') throw new Error(`child failed: ${JSON.stringify(l)} ${this.stderr}`);
        return l;
      }
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`child exited (${this.proc.exitCode ?? this.proc.signalCode}) waiting for ${event}: ${this.stderr}`);
      if (Date.now() > end) throw new Error(`timed out waiting for ${event}: ${this.stderr}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, end - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  send(line: string): void {
    this.proc.stdin.write(`${line}\n`);
  }

  async exited(ms = 10_000): Promise<number | string> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc.exitCode ?? this.proc.signalCode!;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('child did not exit')), ms);
      this.proc.once('exit', (code, sig) => {
        clearTimeout(t);
        resolve(code ?? sig!);
      });
    });
  }

  kill(sig: NodeJS.Signals = 'SIGKILL'): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(sig);
  }
}
