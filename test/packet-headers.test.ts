// Ethernet/IPv4/IPv6/UDP parse and build helpers, checked against known
// checksum vectors (RFC 1071, the classic IPv4 header example) and vectors
// computed by an independent Python implementation; the end-to-end check
// (the kernel accepting frames built here) is in test/xdp.test.ts.
import { describe, expect, it } from 'vitest';
import {
  buildUdpFrame, checksumAdd, checksumFinish, ipv4HeaderChecksum, parseMac, parseUdpFrame, swapUdpFrame, udpChecksum,
  udpHeadersLength, udpPayloadLength, udpPayloadOffset, verifyUdpChecksums,
} from '../lib/packet-headers';

const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!.map((b) => parseInt(b, 16)));

describe('checksums', () => {
  it('matches the RFC 1071 numerical example (sum 0xddf2, checksum 0x220d)', () => {
    const data = hex('0001 f203 f4f5 f6f7');
    expect(checksumFinish(checksumAdd(data, 0, data.length))).toBe(0x220d);
  });

  it('handles odd lengths by padding with a zero byte', () => {
    expect(checksumFinish(checksumAdd(hex('0102 03'), 0, 3))).toBe(checksumFinish(checksumAdd(hex('0102 0300'), 0, 4)));
  });

  it('computes the classic IPv4 header example (0xb861) and ignores the stored checksum', () => {
    const ip = hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
    expect(ipv4HeaderChecksum(ip, 0)).toBe(0xb861);
    ip[10] = 0xb8;
    ip[11] = 0x61;
    expect(ipv4HeaderChecksum(ip, 0)).toBe(0xb861);
    // A header with a correct checksum sums to 0xffff (what receivers check).
    expect(checksumFinish(checksumAdd(ip, 0, 20))).toBe(0);
  });

  it('UDP over IPv4: 192.168.0.31:20 -> 192.168.0.30:10 "Hi" = 0x35c5 (the textbook example)', () => {
    const buf = new Uint8Array(64);
    const n = buildUdpFrame(buf, 0, { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', srcAddress: '192.168.0.31', dstAddress: '192.168.0.30', srcPort: 20, dstPort: 10, payload: Buffer.from('Hi') });
    expect(n).toBe(14 + 20 + 8 + 2);
    expect((buf[40] << 8) | buf[41]).toBe(0x35c5);
    expect(udpChecksum(buf, 14, 34)).toBe(0x35c5);
  });

  it('UDP over IPv6: [2001:db8::1]:1234 -> [2001:db8::2]:5678 "ringwire" = 0xbeb9 (independent Python vector)', () => {
    const buf = new Uint8Array(128);
    const n = buildUdpFrame(buf, 0, { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', srcAddress: '2001:db8::1', dstAddress: '2001:db8::2', srcPort: 1234, dstPort: 5678, payload: Buffer.from('ringwire') });
    expect(n).toBe(14 + 40 + 8 + 8);
    expect((buf[60] << 8) | buf[61]).toBe(0xbeb9);
    // The receiver's check: pseudo-header + segment sums to 0xffff.
    let sum = checksumAdd(buf, 22, 32) + 17 + 16;
    sum = checksumAdd(buf, 54, 16, sum);
    expect(checksumFinish(sum)).toBe(0);
  });

  it('never emits 0 as a computed UDP checksum (0 means "none")', () => {
    // Search payloads until one whose checksum computes to 0 -> sent as 0xffff.
    const buf = new Uint8Array(128);
    let found = false;
    for (let v = 0; v < 0x10000 && !found; v++) {
      buildUdpFrame(buf, 0, { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', srcAddress: '10.0.0.1', dstAddress: '10.0.0.2', srcPort: 1, dstPort: 2, payload: Uint8Array.of(v >> 8, v & 0xff), udpChecksum: false });
      let sum = checksumAdd(buf, 26, 8) + 17 + 10;
      sum = checksumAdd(buf, 34, 10, sum);
      if (checksumFinish(sum) === 0) {
        found = true;
        expect(udpChecksum(buf, 14, 34)).toBe(0xffff);
      }
    }
    expect(found).toBe(true);
  });
});

describe('parse and build', () => {
  it('round-trips IPv4 and IPv6 frames with every field', () => {
    for (const [src, dst] of [['10.77.0.1', '10.77.0.2'], ['fd77::1', 'fd77::2']]) {
      const buf = new Uint8Array(256);
      const payload = Buffer.from('payload-123');
      const n = buildUdpFrame(buf, 10, { srcMac: '02:aa:bb:cc:dd:01', dstMac: parseMac('02-aa-bb-cc-dd-02'), srcAddress: src, dstAddress: dst, srcPort: 40000, dstPort: 9000, ttl: 17, payload });
      const p = parseUdpFrame(buf, 10, n)!;
      expect(p).toMatchObject({ family: src.includes(':') ? 6 : 4, srcMac: '02:aa:bb:cc:dd:01', dstMac: '02:aa:bb:cc:dd:02', srcAddress: src, dstAddress: dst, srcPort: 40000, dstPort: 9000, ttl: 17, payloadLength: payload.length });
      expect(p.payloadOffset).toBe(10 + udpHeadersLength(p.family));
      expect(Buffer.from(buf.subarray(p.payloadOffset, p.payloadOffset + p.payloadLength)).toString()).toBe('payload-123');
      expect(verifyUdpChecksums(buf, 10, n)).toEqual({ ip: true, udp: true });
      expect(udpPayloadOffset(buf, 10, n)).toBe(p.payloadOffset);
      expect(udpPayloadLength(buf, p.payloadOffset)).toBe(payload.length);
    }
  });

  it('detects a corrupted payload byte through the UDP checksum', () => {
    const buf = new Uint8Array(128);
    const n = buildUdpFrame(buf, 0, { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', srcAddress: '10.0.0.1', dstAddress: '10.0.0.2', srcPort: 1, dstPort: 2, payload: Buffer.from('abcdef') });
    buf[n - 1] ^= 0x01;
    expect(verifyUdpChecksums(buf, 0, n)).toEqual({ ip: true, udp: false });
  });

  it('rejects non-UDP, fragments, truncated and lying-length frames', () => {
    const buf = new Uint8Array(128);
    const n = buildUdpFrame(buf, 0, { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', srcAddress: '10.0.0.1', dstAddress: '10.0.0.2', srcPort: 1, dstPort: 2, payload: Buffer.from('abcdef') });
    expect(parseUdpFrame(buf, 0, n - 1)).toBeNull(); // UDP length beyond the frame
    const frag = buf.slice();
    frag[14 + 6] = 0x20; // MF
    expect(parseUdpFrame(frag, 0, n)).toBeNull();
    const tcp = buf.slice();
    tcp[14 + 9] = 6;
    expect(parseUdpFrame(tcp, 0, n)).toBeNull();
    const arp = buf.slice();
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(parseUdpFrame(arp, 0, n)).toBeNull();
    expect(parseUdpFrame(buf, 0, 20)).toBeNull();
  });

  it('parses IPv4 headers with options (IHL > 5)', () => {
    const buf = new Uint8Array(128);
    // IHL 6: one 4-byte option (NOPs), then UDP.
    buf.set(hex('020000000002 020000000001 0800'), 0);
    buf.set(hex('4600 0024 0000 4000 4011 0000 0a000001 0a000002 01010101'), 14);
    buf.set(hex('0007 0009 000c 0000 61626364'), 38);
    buf[24] = ipv4HeaderChecksum(buf, 14) >> 8;
    buf[25] = ipv4HeaderChecksum(buf, 14) & 0xff;
    const p = parseUdpFrame(buf, 0, 50)!;
    expect(p).toMatchObject({ srcPort: 7, dstPort: 9, payloadOffset: 46, payloadLength: 4 });
    expect(verifyUdpChecksums(buf, 0, 50)).toEqual({ ip: true, udp: true }); // UDP checksum 0 = none on IPv4
  });

  it('swapUdpFrame turns a frame into its reply with valid checksums', () => {
    for (const [src, dst] of [['10.1.1.1', '10.1.1.2'], ['fd00::a', 'fd00::b']]) {
      const buf = new Uint8Array(256);
      const n = buildUdpFrame(buf, 0, { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', srcAddress: src, dstAddress: dst, srcPort: 5000, dstPort: 6000, ttl: 3, payload: Buffer.from('question?') });
      buf.set(Buffer.from('answer'), udpPayloadOffset(buf, 0, n));
      const m = swapUdpFrame(buf, 0, n, 6);
      const p = parseUdpFrame(buf, 0, m)!;
      expect(p).toMatchObject({ srcAddress: dst, dstAddress: src, srcPort: 6000, dstPort: 5000, srcMac: '02:00:00:00:00:02', dstMac: '02:00:00:00:00:01', ttl: 64, payloadLength: 6 });
      expect(verifyUdpChecksums(buf, 0, m)).toEqual({ ip: true, udp: true });
      expect(swapUdpFrame(new Uint8Array(60), 0, 60)).toBe(-1);
    }
  });

  it('validates build arguments before writing', () => {
    const buf = new Uint8Array(64);
    const base = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', srcAddress: '10.0.0.1', dstAddress: '10.0.0.2', srcPort: 1, dstPort: 2 };
    expect(() => buildUdpFrame(buf, 0, { ...base, dstAddress: 'fd00::1' })).toThrow(TypeError);
    expect(() => buildUdpFrame(buf, 0, { ...base, srcPort: 70000 })).toThrow(RangeError);
    expect(() => buildUdpFrame(buf, 0, { ...base, srcMac: '02:00:00' })).toThrow(TypeError);
    expect(() => buildUdpFrame(buf, 0, { ...base, payload: new Uint8Array(100) })).toThrow(RangeError);
  });
});
