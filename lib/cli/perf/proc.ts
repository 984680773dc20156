// Child processes for the harness. Each one runs in its own process group
// with a deadline; whatever happens (deadline, error, Ctrl-C, exit of the
// harness) it is ended by its PID's group, so no server or client is ever
// left running.
import { type ChildProcess, spawn } from 'node:child_process';

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The deadline passed and the group was killed. */
  timedOut: boolean;
}

export interface SpawnOptions {
  /** Milliseconds until the group gets SIGTERM, then SIGKILL 1 s later. */
  deadlineMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Inherit stdout/stderr instead of capturing (perf client passthrough). */
  inherit?: boolean;
}

const live = new Set<Child>();

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // The group is gone already.
  }
}

let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous on 'exit': the last chance to not leave anything behind.
  process.on('exit', () => {
    for (const c of live) if (c.pid) killGroup(c.pid, 'SIGKILL');
  });
}

export class Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  stdout = '';
  stderr = '';
  timedOut = false;
  private exited = false;
  private readonly done: Promise<ChildResult>;
  private readonly lineWaiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  private deadline?: NodeJS.Timeout;
  private killTimer?: NodeJS.Timeout;

  constructor(readonly file: string, readonly args: readonly string[], opts: SpawnOptions) {
    installExitHook();
    this.proc = spawn(file, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: opts.inherit ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
      // Own process group: the group id is the pid, killed as a whole.
      detached: true,
    });
    this.pid = this.proc.pid ?? 0;
    live.add(this);
    this.proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.checkLines();
    });
    this.proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
    });
    this.done = new Promise<ChildResult>((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.exited) return;
        this.exited = true;
        clearTimeout(this.deadline);
        clearTimeout(this.killTimer);
        // Anything the child left in its group (it should not) goes too.
        if (this.pid) killGroup(this.pid, 'SIGKILL');
        live.delete(this);
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr, timedOut: this.timedOut });
      };
      this.proc.on('error', (err) => {
        this.stderr += `${err.message}\n`;
        finish(127, null);
      });
      // 'close' comes after the pipes drained, so stdout is complete.
      this.proc.on('close', finish);
    });
    this.deadline = setTimeout(() => {
      this.timedOut = true;
      this.kill('SIGTERM');
    }, opts.deadlineMs);
  }

  /** Signals the whole group; SIGTERM escalates to SIGKILL after 1 s. */
  kill(sig: NodeJS.Signals = 'SIGTERM'): void {
    if (this.exited || !this.pid) return;
    killGroup(this.pid, sig);
    if (sig !== 'SIGKILL' && !this.killTimer) {
      this.killTimer = setTimeout(() => killGroup(this.pid, 'SIGKILL'), 1000);
    }
  }

  /** Sends a signal to the child process only (not escalated). */
  signal(sig: NodeJS.Signals): void {
    if (!this.exited && this.pid) {
      try {
        process.kill(this.pid, sig);
      } catch {
        // gone
      }
    }
  }

  wait(): Promise<ChildResult> {
    return this.done;
  }

  get running(): boolean {
    return !this.exited;
  }

  private checkLines(): void {
    for (let i = 0; i < this.lineWaiters.length; ) {
      const w = this.lineWaiters[i];
      const m = this.stdout.match(w.re);
      if (m) {
        this.lineWaiters.splice(i, 1);
        w.resolve(m);
      } else i++;
    }
  }

  /** Resolves with the first stdout match of `re`; rejects on exit or timeout. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const m = this.stdout.match(re);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const w = {
        re,
        resolve: (x: RegExpMatchArray) => {
          clearTimeout(t);
          resolve(x);
        },
      };
      const t = setTimeout(() => {
        this.lineWaiters.splice(this.lineWaiters.indexOf(w), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} from ${this.describe()}`));
      }, timeoutMs);
      this.lineWaiters.push(w);
      this.done.then((r) => {
        const i = this.lineWaiters.indexOf(w);
        if (i < 0) return;
        this.lineWaiters.splice(i, 1);
        clearTimeout(t);
        reject(new Error(`${this.describe()} exited (${r.signal ?? r.code}) before printing ${re}: ${lastLines(r.stderr || r.stdout)}`));
      });
    });
  }

  describe(): string {
    return `${this.file.split('/').pop()} ${this.args.join(' ')}`.trim();
  }
}

export function lastLines(s: string, n = 3): string {
  return s.trim().split('\n').slice(-n).join(' | ').slice(0, 600);
}

/** The last line of `out` that parses as a JSON object. */
export function lastJson(out: string): Record<string, unknown> | undefined {
  const lines = out.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i].trim();
    if (!l.startsWith('{')) continue;
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** Kills every live child group (Ctrl-C in the harness). */
export function killAll(sig: NodeJS.Signals = 'SIGKILL'): void {
  for (const c of live) c.kill(sig);
}

export function liveChildren(): number {
  return live.size;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
