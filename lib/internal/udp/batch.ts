// One receive batch, read in place: descriptors (8 x uint32 per datagram,
// layout exported by native) point into the receive pool. Nothing is
// allocated per datagram unless the caller asks for a view or an address.
import { UDP_DESC } from '../layout';
import { type AddressInfo, decodeSockaddr } from '../sockaddr';

// Descriptor geometry in uint32 words, read from the addon (struct UdpDesc).
const D = UDP_DESC.size / 4;
const OFF = UDP_DESC.payloadOffset / 4;
const LEN = UDP_DESC.payloadLength / 4;
const FLAGS = UDP_DESC.flags / 4;
const NAME = UDP_DESC.nameOffset / 4;
const NAME_LEN = UDP_DESC.nameLength / 4;
const TS_SEC = UDP_DESC.tsSec / 4;
const TS_NSEC = UDP_DESC.tsNsec / 4;
const TRUNCATED = UDP_DESC.truncated;
const TIMESTAMP = UDP_DESC.timestamp;

export class UdpBatch {
  /** Datagrams in this batch. */
  count = 0;

  constructor(
    /** The whole receive pool; payloads are at offset(i), length(i). */
    readonly pool: Uint8Array,
    private readonly descs: Uint32Array,
    /** Largest payload a buffer holds; longer datagrams are truncated. */
    readonly maxPayload: number,
  ) {}

  offset(i: number): number {
    return this.descs[i * D + OFF];
  }

  length(i: number): number {
    return this.descs[i * D + LEN];
  }

  truncated(i: number): boolean {
    return (this.descs[i * D + FLAGS] & TRUNCATED) !== 0;
  }

  /** Kernel receive timestamp in ns since the epoch (timestamps option), else -1. */
  timestamp(i: number): number {
    const d = this.descs;
    return d[i * D + FLAGS] & TIMESTAMP ? d[i * D + TS_SEC] * 1e9 + d[i * D + TS_NSEC] : -1;
  }

  /** A view of the payload: valid only until the batch callback returns. */
  payload(i: number): Uint8Array {
    const off = this.descs[i * D + OFF];
    return this.pool.subarray(off, off + this.descs[i * D + LEN]);
  }

  /** Source port without decoding the whole address. */
  port(i: number): number {
    const at = this.descs[i * D + NAME];
    return (this.pool[at + 2] << 8) | this.pool[at + 3];
  }

  /** 32-bit IPv4 source address (0 for IPv6 sources), for allocation-free keys. */
  ipv4(i: number): number {
    const at = this.descs[i * D + NAME];
    const p = this.pool;
    if ((p[at] | (p[at + 1] << 8)) !== 2) return 0;
    return ((p[at + 4] << 24) | (p[at + 5] << 16) | (p[at + 6] << 8) | p[at + 7]) >>> 0;
  }

  /** Offset of the raw sockaddr in the pool (reply without decoding it). */
  sourceOffset(i: number): number {
    return this.descs[i * D + NAME];
  }

  sourceLength(i: number): number {
    return this.descs[i * D + NAME_LEN];
  }

  source(i: number): AddressInfo {
    return decodeSockaddr(this.pool, this.descs[i * D + NAME]);
  }
}
