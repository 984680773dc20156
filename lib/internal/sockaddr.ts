// sockaddr_in / sockaddr_in6 in their kernel byte layout, built and read in
// TypeScript so the native side only copies bytes. Encodings are cached per
// destination: a hot send loop to one peer allocates nothing.
import * as fs from 'node:fs';
import * as net from 'node:net';

export const AF_INET = 2;
export const AF_INET6 = 10;

export interface AddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

function parseIPv4(s: string, out: Uint8Array, at: number): void {
  const parts = s.split('.');
  for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
}

/** 16 bytes of an IPv6 address (net.isIPv6 must already hold). */
export function parseIPv6(text: string): Uint8Array {
  const out = new Uint8Array(16);
  let s = text;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  let tail4: string | undefined;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) >= 0) {
    tail4 = s.slice(lastColon + 1);
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = rest !== undefined ? (rest ? rest.split(':') : []) : [];
  const groups = rest !== undefined ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  for (let i = 0; i < 8; i++) {
    const g = parseInt(groups[i], 16);
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  }
  if (tail4) parseIPv4(tail4, out, 12);
  return out;
}

/** RFC 5952 text (lowercase, longest zero run compressed), as Node prints it. */
export function formatIPv6(b: Uint8Array, at = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[at + i * 2] << 8) | b[at + i * 2 + 1]);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}

/** Encodes a numeric address; the caller has checked net.isIP(). */
export function encodeSockaddr(family: 4 | 6, address: string, port: number, scopeId = 0): Uint8Array {
  if (family === 4) {
    const b = new Uint8Array(16);
    b[0] = AF_INET & 0xff;
    b[1] = AF_INET >> 8;
    b[2] = port >> 8;
    b[3] = port & 0xff;
    parseIPv4(address, b, 4);
    return b;
  }
  const b = new Uint8Array(28);
  b[0] = AF_INET6 & 0xff;
  b[1] = AF_INET6 >> 8;
  b[2] = port >> 8;
  b[3] = port & 0xff;
  b.set(parseIPv6(address), 8);
  new DataView(b.buffer).setUint32(24, scopeId, true);
  return b;
}

/** Reads a sockaddr written by the kernel (host-endian family, network port). */
export function decodeSockaddr(b: Uint8Array, at = 0): AddressInfo {
  const fam = b[at] | (b[at + 1] << 8);
  const port = (b[at + 2] << 8) | b[at + 3];
  if (fam === AF_INET) return { address: `${b[at + 4]}.${b[at + 5]}.${b[at + 6]}.${b[at + 7]}`, family: 'IPv4', port };
  if (fam === AF_INET6) {
    const scope = (b[at + 24] | (b[at + 25] << 8) | (b[at + 26] << 16) | (b[at + 27] << 24)) >>> 0;
    const text = formatIPv6(b, at + 8);
    // A scoped (link-local) address names its interface, as libuv prints it.
    return { address: scope === 0 ? text : `${text}%${interfaceName(scope)}`, family: 'IPv6', port };
  }
  return { address: '', family: 'IPv4', port: 0 };
}

let ifNames: Map<number, string> | undefined;

/** if_indextoname from /sys/class/net (read again for an index not seen before). */
function interfaceName(index: number): string {
  let name = ifNames?.get(index);
  if (name !== undefined) return name;
  ifNames = new Map();
  try {
    for (const n of fs.readdirSync('/sys/class/net')) {
      const i = Number(fs.readFileSync(`/sys/class/net/${n}/ifindex`, 'utf8'));
      if (i > 0) ifNames.set(i, n);
    }
  } catch {
    // No sysfs: the number stands for the interface, as libuv falls back to.
  }
  name = ifNames.get(index) ?? String(index);
  return name;
}

/** Maps an IPv4 address into ::ffff:a.b.c.d for a dual-stack IPv6 socket. */
export function mapIPv4(address: string): string {
  return net.isIPv4(address) ? `::ffff:${address}` : address;
}

const CACHE_LIMIT = 4096;

/** Per-socket cache of destination encodings. */
/**
 * Per-socket cache of destination encodings, keyed by address string then
 * port: two Map lookups and no allocation on a hit (V8 caches a string's
 * hash, so a caller reusing its address strings pays almost nothing).
 */
export class SockaddrCache {
  private map = new Map<string, Map<number, Uint8Array>>();
  private size = 0;
  constructor(private readonly family: 4 | 6) {}

  /** The cached encoding, or undefined (the caller validates, then calls set). */
  lookup(address: string, port: number): Uint8Array | undefined {
    return this.map.get(address)?.get(port);
  }

  set(address: string, port: number): Uint8Array {
    if (this.size >= CACHE_LIMIT) {
      this.map.clear();
      this.size = 0;
    }
    const b = encodeSockaddr(this.family, this.family === 6 ? mapIPv4(address) : address, port);
    let ports = this.map.get(address);
    if (ports === undefined) this.map.set(address, (ports = new Map()));
    ports.set(port, b);
    this.size++;
    return b;
  }

  get(address: string, port: number): Uint8Array {
    return this.lookup(address, port) ?? this.set(address, port);
  }
}
