// What the batch callback sees: event types, the TcpBatch read in place (one
// int32 record per event, payloads as views into the shared receive pool)
// and listeners.
import { native } from '../native';
import type { SystemError } from '../errors';
import type { AddressInfo } from '../sockaddr';
import { opError, sockName } from './core';
import { EBADF } from '../errno';
import { TCP_OP } from '../layout';

/** Event types in a TcpBatch. */
export const TcpEvent = {
  /** conn(i) accepted by listener(i). */
  Accept: 1,
  /** conn(i) from connect() is established. */
  Connect: 2,
  /** data(i): bytes received, a view valid until the callback returns. */
  Data: 3,
  /** The peer ended its side (FIN). */
  End: 4,
  /** Everything sent so far has been handed to the kernel after a send() returned false. */
  Drain: 5,
  /** error(i); the connection is destroyed and a Close follows. */
  Error: 6,
  /** The connection is gone; its id is no longer valid. */
  Close: 7,
  /** No traffic for idleTimeout ms; the connection is destroyed and a Close follows. */
  Timeout: 8,
} as const;
export type TcpEventType = (typeof TcpEvent)[keyof typeof TcpEvent];

/** What a TcpBatch reads through (the endpoint). */
export interface BatchSource {
  readonly pool: Uint8Array;
  listenerById(id: number): TcpListener | undefined;
}

export const REC = 4; // int32 words per batch record: type, conn, a, b

export class TcpBatch {
  count = 0;
  /** @internal */ rec: Int32Array<ArrayBufferLike> = new Int32Array(0);
  /** @internal */ errs: (SystemError | undefined)[] = [];
  /** @internal */ constructor(private readonly ep: BatchSource) {}

  type(i: number): TcpEventType {
    return this.rec[i * REC] as TcpEventType;
  }

  conn(i: number): number {
    return this.rec[i * REC + 1];
  }

  /** Received bytes (Data): a view into the shared pool, valid only during the callback. */
  data(i: number): Uint8Array {
    const o = i * REC;
    return this.ep.pool.subarray(this.rec[o + 2], this.rec[o + 2] + this.rec[o + 3]);
  }

  /** @internal Pool offset of a Data event's bytes. */
  offset(i: number): number {
    return this.rec[i * REC + 2];
  }

  /** Byte count of a Data event without making a view. */
  length(i: number): number {
    return this.rec[i * REC + 3];
  }

  /** The listener of an Accept event. */
  listener(i: number): TcpListener | undefined {
    return this.ep.listenerById(this.rec[i * REC + 2]);
  }

  error(i: number): SystemError | undefined {
    return this.errs[i];
  }
}

export class TcpListener {
  private closing?: Promise<void>;
  /** @internal */ resolveClose?: () => void;
  /** @internal */ constructor(readonly id: number) {}

  address(): AddressInfo {
    const a = sockName(this.id, false);
    if (!a) throw opError(EBADF, TCP_OP.accept);
    return a;
  }

  /** Stops taking connections off the backlog (they queue in the kernel) until resume(). */
  pause(): void {
    if (!this.closing) native().tcpListenPause(this.id);
  }

  resume(): void {
    if (!this.closing) native().tcpListenStart(this.id);
  }

  /** Stops accepting; established connections stay open. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = new Promise<void>((r) => { this.resolveClose = r; });
      native().tcpListenerClose(this.id);
    }
    return this.closing;
  }
}

/**
 * The events an endpoint collects between two deliveries: REC int32 words
 * per event (type, conn, a, b) and an error where one applies, grown by
 * doubling. Two arrays take turns: the one handed to the callback is not
 * written while the callback runs (events it raises go to the other).
 */
export class EventRecords {
  /** Events pending delivery. */
  n = 0;
  private rec: Int32Array<ArrayBufferLike>;
  private spare: Int32Array<ArrayBufferLike>;
  private errs: (SystemError | undefined)[] = [];

  constructor(events = 256) {
    this.rec = new Int32Array(events * REC);
    this.spare = new Int32Array(events * REC);
  }

  push(type: number, conn: number, a: number, b: number, err?: SystemError): void {
    const o = this.n * REC;
    if (o + REC > this.rec.length) {
      const grown = new Int32Array(this.rec.length * 2);
      grown.set(this.rec);
      this.rec = grown;
    }
    this.rec[o] = type;
    this.rec[o + 1] = conn;
    this.rec[o + 2] = a;
    this.rec[o + 3] = b;
    if (err) this.errs[this.n] = err;
    this.n++;
  }

  /** Moves the pending events into `batch` (false: there are none); collection goes on in the other array. */
  handOff(batch: TcpBatch): boolean {
    if (this.n === 0) return false;
    batch.rec = this.rec;
    batch.errs = this.errs;
    batch.count = this.n;
    this.rec = this.spare;
    this.errs = [];
    this.n = 0;
    return true;
  }

  /** After the callback: the batch's array is free again. */
  takeBack(batch: TcpBatch): void {
    this.spare = batch.rec;
    batch.count = 0;
  }
}
