// Ethernet / IPv4 / IPv6 / UDP headers in place, with their checksums, so a
// packet ring's raw frames can be read and answered from JS. Everything
// works on (buffer, offset) pairs; the hot-path helpers allocate nothing.
import * as net from 'node:net';
import { invalidArgType, invalidArgValue, outOfRange, validateInteger, validateObject } from './internal/errors';
import { formatIPv6, parseIPv6 } from './internal/sockaddr';

export const ETH_HEADER_LEN = 14;
export const IPV4_HEADER_LEN = 20;
export const IPV6_HEADER_LEN = 40;
export const UDP_HEADER_LEN = 8;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const IPPROTO_UDP = 17;

export interface UdpFrameInfo {
  family: 4 | 6;
  dstMac: string;
  srcMac: string;
  srcAddress: string;
  dstAddress: string;
  srcPort: number;
  dstPort: number;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl: number;
  /** Offsets from the start of the buffer. */
  ipOffset: number;
  udpOffset: number;
  payloadOffset: number;
  payloadLength: number;
  /** The UDP checksum field (0 = none, IPv4 only). */
  udpChecksum: number;
}

export interface UdpFrameSpec {
  srcMac: string | Uint8Array;
  dstMac: string | Uint8Array;
  srcAddress: string;
  dstAddress: string;
  srcPort: number;
  dstPort: number;
  /** Copied after the headers; omit when the payload is already in place (then give payloadLength). */
  payload?: Uint8Array;
  payloadLength?: number;
  /** Default 64. */
  ttl?: number;
  /** IPv4 TOS / IPv6 traffic class, default 0. */
  tos?: number;
  /** IPv4 only: false leaves the UDP checksum 0 ("none"). Default true. */
  udpChecksum?: boolean;
}

// ---- argument checks ------------------------------------------------------
// Every exported helper checks its arguments (cheap integer compares; the
// internal loops below run on checked values only): a string offset would
// otherwise turn `i + 1 < end` into a string compare and never end.

function checkBuf(buf: unknown, name = 'buf'): asserts buf is Uint8Array {
  if (!(buf instanceof Uint8Array) || !ArrayBuffer.isView(buf)) throw invalidArgType(name, 'an instance of Buffer or Uint8Array', buf);
}

function checkOffset(buf: Uint8Array, offset: unknown, name = 'offset'): number {
  if (typeof offset !== 'number') throw invalidArgType(name, 'of type number', offset);
  if (!Number.isInteger(offset) || offset < 0 || offset > buf.length) throw outOfRange(name, `an integer >= 0 and <= ${buf.length}`, offset);
  return offset;
}

function checkLength(buf: Uint8Array, offset: number, length: unknown, name = 'length'): number {
  if (typeof length !== 'number') throw invalidArgType(name, 'of type number', length);
  if (!Number.isInteger(length) || length < 0 || length > buf.length - offset) throw outOfRange(name, `an integer >= 0 and <= ${buf.length - offset}`, length);
  return length;
}

// ---- checksums -----------------------------------------------------------

/** Unfolded ones'-complement sum of big-endian 16-bit words, added to `sum`. */
export function checksumAdd(buf: Uint8Array, offset: number, length: number, sum = 0): number {
  checkBuf(buf);
  checkOffset(buf, offset);
  checkLength(buf, offset, length);
  validateInteger(sum, 'sum', 0);
  return sumWords(buf, offset, length, sum);
}

function sumWords(buf: Uint8Array, offset: number, length: number, sum: number): number {
  let i = offset;
  const end = offset + length;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  return sum;
}

/** Folds a sum to 16 bits and complements it: the value for a checksum field. */
export function checksumFinish(sum: number): number {
  validateInteger(sum, 'sum', 0);
  return fold(sum);
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** The IPv4 header checksum for the header at ipOffset (its checksum field counts as zero). */
export function ipv4HeaderChecksum(buf: Uint8Array, ipOffset: number): number {
  checkBuf(buf);
  checkOffset(buf, ipOffset, 'ipOffset');
  const ihl = (buf[ipOffset] & 0x0f) * 4;
  if (ihl < IPV4_HEADER_LEN || ipOffset + ihl > buf.length) throw outOfRange('IPv4 header length', `>= 20 and within the buffer (${buf.length - ipOffset} bytes)`, ihl);
  return ipv4Sum(buf, ipOffset);
}

function ipv4Sum(buf: Uint8Array, ipOffset: number): number {
  const ihl = (buf[ipOffset] & 0x0f) * 4;
  const stored = (buf[ipOffset + 10] << 8) | buf[ipOffset + 11];
  return fold(sumWords(buf, ipOffset, ihl, 0) - stored);
}

/** UDP checksum over the pseudo-header, UDP header (checksum counted as zero) and payload. */
export function udpChecksum(buf: Uint8Array, ipOffset: number, udpOffset: number): number {
  checkBuf(buf);
  checkOffset(buf, ipOffset, 'ipOffset');
  checkOffset(buf, udpOffset, 'udpOffset');
  const v6 = buf[ipOffset] >> 4 === 6;
  const addrEnd = v6 ? ipOffset + 40 : ipOffset + 20;
  if (addrEnd > buf.length) throw outOfRange('ipOffset', `<= ${buf.length - (v6 ? 40 : 20)} (the IP header must fit)`, ipOffset);
  const udpLen = udpOffset + 8 <= buf.length ? (buf[udpOffset + 4] << 8) | buf[udpOffset + 5] : -1;
  if (udpLen < UDP_HEADER_LEN || udpOffset + udpLen > buf.length) throw outOfRange('UDP length', `>= 8 and within the buffer (${buf.length - udpOffset} bytes)`, udpLen);
  return udpSum(buf, ipOffset, udpOffset);
}

function udpSum(buf: Uint8Array, ipOffset: number, udpOffset: number): number {
  const v6 = buf[ipOffset] >> 4 === 6;
  const udpLen = (buf[udpOffset + 4] << 8) | buf[udpOffset + 5];
  let sum = v6 ? sumWords(buf, ipOffset + 8, 32, 0) : sumWords(buf, ipOffset + 12, 8, 0);
  sum += IPPROTO_UDP + udpLen;
  sum += sumWords(buf, udpOffset, udpLen, 0) - ((buf[udpOffset + 6] << 8) | buf[udpOffset + 7]);
  const c = fold(sum);
  // A computed 0 is sent as 0xffff: 0 means "no checksum".
  return c === 0 ? 0xffff : c;
}

// ---- parsing ----------------------------------------------------------------

/**
 * Offset of the UDP payload of an unfragmented UDP-over-IPv4/IPv6 Ethernet
 * frame, or -1. Allocation-free; its length is udpPayloadLength().
 */
export function udpPayloadOffset(buf: Uint8Array, offset: number, length: number): number {
  checkBuf(buf);
  checkOffset(buf, offset);
  checkLength(buf, offset, length);
  return payloadAt(buf, offset, length);
}

function payloadAt(buf: Uint8Array, offset: number, length: number): number {
  if (length < ETH_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN) return -1;
  const type = (buf[offset + 12] << 8) | buf[offset + 13];
  const ip = offset + ETH_HEADER_LEN;
  let udp: number;
  if (type === ETHERTYPE_IPV4) {
    const ihl = (buf[ip] & 0x0f) * 4;
    if (buf[ip] >> 4 !== 4 || ihl < IPV4_HEADER_LEN || buf[ip + 9] !== IPPROTO_UDP) return -1;
    if ((((buf[ip + 6] << 8) | buf[ip + 7]) & 0x3fff) !== 0) return -1; // a fragment
    udp = ip + ihl;
  } else if (type === ETHERTYPE_IPV6) {
    if (buf[ip] >> 4 !== 6 || buf[ip + 6] !== IPPROTO_UDP) return -1;
    udp = ip + IPV6_HEADER_LEN;
  } else {
    return -1;
  }
  if (udp + UDP_HEADER_LEN > offset + length) return -1;
  const ulen = (buf[udp + 4] << 8) | buf[udp + 5];
  if (ulen < UDP_HEADER_LEN || udp + ulen > offset + length) return -1;
  return udp + UDP_HEADER_LEN;
}

/** Payload length for a payload offset from udpPayloadOffset(). */
export function udpPayloadLength(buf: Uint8Array, payloadOffset: number): number {
  checkBuf(buf);
  checkOffset(buf, payloadOffset, 'payloadOffset');
  if (payloadOffset < UDP_HEADER_LEN) throw outOfRange('payloadOffset', `>= ${UDP_HEADER_LEN}`, payloadOffset);
  return payloadLen(buf, payloadOffset);
}

function payloadLen(buf: Uint8Array, payloadOffset: number): number {
  return ((buf[payloadOffset - 4] << 8) | buf[payloadOffset - 3]) - UDP_HEADER_LEN;
}

export function formatMac(buf: Uint8Array, offset = 0): string {
  checkBuf(buf);
  checkOffset(buf, offset);
  if (offset + 6 > buf.length) throw outOfRange('offset', `<= ${buf.length - 6}`, offset);
  return macAt(buf, offset);
}

function macAt(buf: Uint8Array, offset: number): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + buf[offset + i].toString(16).padStart(2, '0');
  return s;
}

/** Parses an unfragmented UDP frame, or returns null for anything else. */
export function parseUdpFrame(buf: Uint8Array, offset = 0, length?: number): UdpFrameInfo | null {
  checkBuf(buf);
  checkOffset(buf, offset);
  const len = length === undefined ? buf.length - offset : checkLength(buf, offset, length);
  const payloadOffset = payloadAt(buf, offset, len);
  if (payloadOffset < 0) return null;
  const ip = offset + ETH_HEADER_LEN;
  const udp = payloadOffset - UDP_HEADER_LEN;
  const v4 = buf[ip] >> 4 === 4;
  return {
    family: v4 ? 4 : 6,
    dstMac: macAt(buf, offset),
    srcMac: macAt(buf, offset + 6),
    srcAddress: v4 ? `${buf[ip + 12]}.${buf[ip + 13]}.${buf[ip + 14]}.${buf[ip + 15]}` : formatIPv6(buf, ip + 8),
    dstAddress: v4 ? `${buf[ip + 16]}.${buf[ip + 17]}.${buf[ip + 18]}.${buf[ip + 19]}` : formatIPv6(buf, ip + 24),
    srcPort: (buf[udp] << 8) | buf[udp + 1],
    dstPort: (buf[udp + 2] << 8) | buf[udp + 3],
    ttl: v4 ? buf[ip + 8] : buf[ip + 7],
    ipOffset: ip,
    udpOffset: udp,
    payloadOffset,
    payloadLength: payloadLen(buf, payloadOffset),
    udpChecksum: (buf[udp + 6] << 8) | buf[udp + 7],
  };
}

/** Checks the IPv4 header checksum and the UDP checksum (0 on IPv4 = none = ok). */
export function verifyUdpChecksums(buf: Uint8Array, offset = 0, length?: number): { ip: boolean; udp: boolean } | null {
  checkBuf(buf);
  checkOffset(buf, offset);
  const len = length === undefined ? buf.length - offset : checkLength(buf, offset, length);
  const payloadOffset = payloadAt(buf, offset, len);
  if (payloadOffset < 0) return null;
  const ip = offset + ETH_HEADER_LEN;
  const udp = payloadOffset - UDP_HEADER_LEN;
  const v4 = buf[ip] >> 4 === 4;
  const stored = (buf[udp + 6] << 8) | buf[udp + 7];
  return {
    ip: v4 ? ipv4Sum(buf, ip) === ((buf[ip + 10] << 8) | buf[ip + 11]) : true,
    udp: v4 && stored === 0 ? true : udpSum(buf, ip, udp) === stored,
  };
}

// ---- building -----------------------------------------------------------

export function parseMac(mac: string | Uint8Array, name = 'mac'): Uint8Array {
  if (typeof name !== 'string') throw invalidArgType('name', 'of type string', name);
  if (mac instanceof Uint8Array) {
    if (mac.length !== 6) throw invalidArgValue(name, mac, 'must be 6 bytes');
    return mac;
  }
  if (typeof mac !== 'string') throw invalidArgType(name, 'a string or Uint8Array', mac);
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw invalidArgValue(name, mac, 'must be a MAC address like 02:00:00:00:00:01');
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** Header bytes before the payload of a UDP frame (Ethernet + IP + UDP). */
export function udpHeadersLength(family: 4 | 6): number {
  if (family !== 4 && family !== 6) throw invalidArgValue('family', family, 'must be 4 or 6');
  return ETH_HEADER_LEN + (family === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN) + UDP_HEADER_LEN;
}

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

/**
 * Writes an Ethernet + IPv4/IPv6 + UDP frame at `offset` (payload copied, or
 * already in place at offset + udpHeadersLength(family)); fills in lengths
 * and checksums. Returns the frame length.
 */
export function buildUdpFrame(buf: Uint8Array, offset: number, spec: UdpFrameSpec): number {
  checkBuf(buf);
  checkOffset(buf, offset);
  validateObject(spec, 'spec');
  if (typeof spec.srcAddress !== 'string') throw invalidArgType('spec.srcAddress', 'of type string', spec.srcAddress);
  if (typeof spec.dstAddress !== 'string') throw invalidArgType('spec.dstAddress', 'of type string', spec.dstAddress);
  if (spec.payload !== undefined) checkBuf(spec.payload, 'spec.payload');
  if (spec.udpChecksum !== undefined && typeof spec.udpChecksum !== 'boolean') throw invalidArgType('spec.udpChecksum', 'of type boolean', spec.udpChecksum);
  const v4 = net.isIPv4(spec.srcAddress) && net.isIPv4(spec.dstAddress);
  if (!v4 && !(net.isIPv6(spec.srcAddress) && net.isIPv6(spec.dstAddress))) {
    throw invalidArgValue('spec.srcAddress', `${spec.srcAddress} -> ${spec.dstAddress}`, 'and spec.dstAddress must both be IPv4 or both IPv6 addresses');
  }
  validateInteger(spec.srcPort, 'spec.srcPort', 0, 65535);
  validateInteger(spec.dstPort, 'spec.dstPort', 0, 65535);
  const ttl = spec.ttl === undefined ? 64 : validateInteger(spec.ttl, 'spec.ttl', 0, 255);
  const tos = spec.tos === undefined ? 0 : validateInteger(spec.tos, 'spec.tos', 0, 255);
  const hdr = udpHeadersLength(v4 ? 4 : 6);
  const payloadLength = spec.payload ? spec.payload.length : validateInteger(spec.payloadLength ?? 0, 'spec.payloadLength', 0, 65507);
  if (offset + hdr + payloadLength > buf.length) throw outOfRange('frame length', `<= ${buf.length - offset} bytes from the offset`, hdr + payloadLength);
  if (v4 && payloadLength > 65507) throw outOfRange('payload length', '<= 65507 for IPv4', payloadLength);
  buf.set(parseMac(spec.dstMac, 'spec.dstMac'), offset);
  buf.set(parseMac(spec.srcMac, 'spec.srcMac'), offset + 6);
  const ip = offset + ETH_HEADER_LEN;
  let udp: number;
  if (v4) {
    put16(buf, offset + 12, ETHERTYPE_IPV4);
    buf[ip] = 0x45;
    buf[ip + 1] = tos;
    put16(buf, ip + 2, IPV4_HEADER_LEN + UDP_HEADER_LEN + payloadLength);
    put16(buf, ip + 4, 0);
    put16(buf, ip + 6, 0x4000); // DF
    buf[ip + 8] = ttl;
    buf[ip + 9] = IPPROTO_UDP;
    put16(buf, ip + 10, 0);
    spec.srcAddress.split('.').forEach((o, i) => (buf[ip + 12 + i] = Number(o)));
    spec.dstAddress.split('.').forEach((o, i) => (buf[ip + 16 + i] = Number(o)));
    put16(buf, ip + 10, ipv4Sum(buf, ip));
    udp = ip + IPV4_HEADER_LEN;
  } else {
    put16(buf, offset + 12, ETHERTYPE_IPV6);
    buf[ip] = 0x60 | (tos >> 4);
    buf[ip + 1] = (tos & 0x0f) << 4;
    buf[ip + 2] = 0;
    buf[ip + 3] = 0;
    put16(buf, ip + 4, UDP_HEADER_LEN + payloadLength);
    buf[ip + 6] = IPPROTO_UDP;
    buf[ip + 7] = ttl;
    buf.set(parseIPv6(spec.srcAddress), ip + 8);
    buf.set(parseIPv6(spec.dstAddress), ip + 24);
    udp = ip + IPV6_HEADER_LEN;
  }
  put16(buf, udp, spec.srcPort);
  put16(buf, udp + 2, spec.dstPort);
  put16(buf, udp + 4, UDP_HEADER_LEN + payloadLength);
  put16(buf, udp + 6, 0);
  if (spec.payload) buf.set(spec.payload, udp + UDP_HEADER_LEN);
  if (!v4 || spec.udpChecksum !== false) put16(buf, udp + 6, udpSum(buf, ip, udp));
  return hdr + payloadLength;
}

/**
 * Turns a received UDP frame into its reply in place: swaps MACs,
 * addresses and ports, resets TTL to 64, optionally sets a new payload
 * length (the payload itself is the caller's), and recomputes the
 * checksums. Returns the reply's frame length, or -1 if not a UDP frame.
 */
export function swapUdpFrame(buf: Uint8Array, offset: number, length: number, payloadLength?: number): number {
  checkBuf(buf);
  checkOffset(buf, offset);
  checkLength(buf, offset, length);
  const payloadOffset = payloadAt(buf, offset, length);
  if (payloadOffset < 0) return -1;
  if (payloadLength !== undefined) validateInteger(payloadLength, 'payloadLength', 0, Math.min(65507, buf.length - payloadOffset));
  const ip = offset + ETH_HEADER_LEN;
  const udp = payloadOffset - UDP_HEADER_LEN;
  const v4 = buf[ip] >> 4 === 4;
  const plen = payloadLength ?? payloadLen(buf, payloadOffset);
  const swap = (a: number, b: number, n: number) => {
    for (let i = 0; i < n; i++) {
      const t = buf[a + i];
      buf[a + i] = buf[b + i];
      buf[b + i] = t;
    }
  };
  swap(offset, offset + 6, 6);
  swap(udp, udp + 2, 2);
  put16(buf, udp + 4, UDP_HEADER_LEN + plen);
  put16(buf, udp + 6, 0);
  if (v4) {
    swap(ip + 12, ip + 16, 4);
    buf[ip + 8] = 64;
    put16(buf, ip + 2, udp - ip + UDP_HEADER_LEN + plen);
    put16(buf, ip + 10, 0);
    put16(buf, ip + 10, ipv4Sum(buf, ip));
  } else {
    swap(ip + 8, ip + 24, 16);
    buf[ip + 7] = 64;
    put16(buf, ip + 4, UDP_HEADER_LEN + plen);
  }
  put16(buf, udp + 6, udpSum(buf, ip, udp));
  return payloadOffset - offset + plen;
}
