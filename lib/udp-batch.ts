// One receive batch, read in place: descriptors (8 x uint32 per datagram,
// layout exported by native) point into the receive pool. Nothing is
// allocated per datagram unless the caller asks for a view or an address.
import { type AddressInfo, decodeSockaddr } from './sockaddr';

const D = 8; // uint32 words per descriptor (native udpLayout.descSize / 4)

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
    return this.descs[i * D];
  }

  length(i: number): number {
    return this.descs[i * D + 1];
  }

  truncated(i: number): boolean {
    return (this.descs[i * D + 2] & 1) !== 0;
  }

  /** Kernel receive timestamp in ns since the epoch (timestamps option), else -1. */
  timestamp(i: number): number {
    const d = this.descs;
    return d[i * D + 2] & 2 ? d[i * D + 5] * 1e9 + d[i * D + 6] : -1;
  }

  /** A view of the payload: valid only until the batch callback returns. */
  payload(i: number): Uint8Array {
    const off = this.descs[i * D];
    return this.pool.subarray(off, off + this.descs[i * D + 1]);
  }

  /** Source port without decoding the whole address. */
  port(i: number): number {
    const at = this.descs[i * D + 3];
    return (this.pool[at + 2] << 8) | this.pool[at + 3];
  }

  /** 32-bit IPv4 source address (0 for IPv6 sources), for allocation-free keys. */
  ipv4(i: number): number {
    const at = this.descs[i * D + 3];
    const p = this.pool;
    if ((p[at] | (p[at + 1] << 8)) !== 2) return 0;
    return ((p[at + 4] << 24) | (p[at + 5] << 16) | (p[at + 6] << 8) | p[at + 7]) >>> 0;
  }

  /** Offset of the raw sockaddr in the pool (reply without decoding it). */
  sourceOffset(i: number): number {
    return this.descs[i * D + 3];
  }

  sourceLength(i: number): number {
    return this.descs[i * D + 4];
  }

  source(i: number): AddressInfo {
    return decodeSockaddr(this.pool, this.descs[i * D + 3]);
  }
}
