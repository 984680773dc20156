// Send accounting for one TCP connection, shared by TcpEndpoint (lib/tcp.ts)
// and the net.Socket drop-in (internal/net/socket.ts): bytes handed to
// native code, bytes the kernel has taken (the native counter), and the
// caller's buffers that native code sends from without a copy, which must
// stay referenced until the kernel has them (STYLE.md rule 7).

/** Shared by every ledger not attached to a connection yet: nothing sent. */
const NO_STATS = new Float64Array(2);

export class SendLedger {
  /** Bytes handed to native code for this connection. */
  written = 0;
  /** The connection's native counters: st[so + 1] is the bytes the kernel has taken. */
  private st: Float64Array;
  private so: number;
  private kept: Uint8Array[] = [];
  private keptEnd: number[] = [];

  constructor(st: Float64Array = NO_STATS, so = 0) {
    this.st = st;
    this.so = so;
  }

  /** Points the ledger at the connection's native counters (once its id exists). */
  attach(st: Float64Array, so: number): void {
    this.st = st;
    this.so = so;
  }

  /** Bytes the kernel has taken. */
  get sent(): number {
    return this.st[this.so + 1];
  }

  /** Bytes written and not yet taken by the kernel. */
  get queued(): number {
    return this.written - this.st[this.so + 1];
  }

  /**
   * Records `len` bytes native code accepted. `keep`: it sends them from this
   * buffer (no copy), so the buffer is held until the kernel has them.
   */
  add(len: number, keep?: Uint8Array): void {
    this.written += len;
    if (keep) {
      this.kept.push(keep);
      this.keptEnd.push(this.written);
    }
  }

  /** Lets go of the kept buffers the kernel has taken; returns the bytes sent. */
  releaseSent(): number {
    const sent = this.st[this.so + 1];
    while (this.kept.length && this.keptEnd[0] <= sent) {
      this.kept.shift();
      this.keptEnd.shift();
    }
    return sent;
  }

  /** Drops every kept buffer (the connection is gone). */
  clear(): void {
    this.kept = [];
    this.keptEnd = [];
  }
}
