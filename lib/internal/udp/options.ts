// UDP argument policy, kept out of the socket class: the port and address
// checks, and the setsockopt family (TTL, multicast, TOS, buffers, ...) as
// pure functions of the address family. Each validates its arguments (Node's
// ERR_* codes) and says which option to set; UdpSocket applies it (closed
// check, then the native call), so nothing here touches a socket.
import * as fs from 'node:fs';
import * as net from 'node:net';
import {
  invalidArgType, invalidArgValue, outOfRange, validateBoolean, validateInteger, validateObject, validateOneOf, validatePowerOfTwo,
} from '../errors';
import { encodeSockaddr, parseIPv6 } from '../sockaddr';
import { SOCKOPT, SOCKOPT_LAYOUT } from '../layout';

export type Family = 4 | 6;

/** One setsockopt call: level, option name and value (an int or the option's struct bytes). */
export interface Sockopt {
  level: number;
  name: number;
  value: number | Uint8Array;
}

const INT_MAX = 2 ** 31 - 1;

export function validatePort(port: unknown, name = 'port', allowZero = true): number {
  if (typeof port !== 'number') throw invalidArgType(name, 'of type number', port);
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) throw outOfRange(name, `>= ${allowZero ? 0 : 1} and <= 65535`, port);
  return port;
}

/** A numeric address this family can use (hostnames are resolved before, in send/bind). */
export function checkAddress(fam: Family, address: string, name = 'address'): string {
  if (typeof address !== 'string') throw invalidArgType(name, 'of type string', address);
  const v = net.isIP(address);
  if (v === 0) throw invalidArgValue(name, address, 'must be a numeric IPv4 or IPv6 address (hostnames resolve in send/bind)');
  if (fam === 4 && v !== 4) throw invalidArgValue(name, address, 'must be an IPv4 address for a udp4 socket');
  return address;
}

/**
 * The interface index of an IPv6 `%scope` suffix (a name or a number), as
 * libuv's uv_ip6_addr reads it: undefined without one, 0 for an unknown name.
 */
export function scopeIndex(addr: string): number | undefined {
  const pct = addr.indexOf('%');
  if (pct < 0) return undefined;
  const s = addr.slice(pct + 1);
  if (/^\d+$/.test(s)) return Number(s);
  if (s.length === 0 || s.includes('/') || s === '.' || s === '..') return 0;
  try {
    return Number(fs.readFileSync(`/sys/class/net/${s}/ifindex`, 'utf8')) || 0;
  } catch {
    return 0;
  }
}

/** The IPv4 or the IPv6 option, by family. */
function byFamily(fam: Family, v4: number, v6: number, value: number | Uint8Array): Sockopt {
  return fam === 4 ? { level: SOCKOPT.IPPROTO_IP, name: v4, value } : { level: SOCKOPT.IPPROTO_IPV6, name: v6, value };
}

/** An SOL_SOCKET integer option. */
export function socketOpt(name: number, value: number): Sockopt {
  return { level: SOCKOPT.SOL_SOCKET, name, value };
}

export function broadcastOpt(flag: unknown): Sockopt {
  return socketOpt(SOCKOPT.SO_BROADCAST, validateBoolean(flag, 'flag') ? 1 : 0);
}

export function ttlOpt(fam: Family, ttl: unknown): Sockopt {
  return byFamily(fam, SOCKOPT.IP_TTL, SOCKOPT.IPV6_UNICAST_HOPS, validateInteger(ttl, 'ttl', 1, 255));
}

export function multicastTtlOpt(fam: Family, ttl: unknown): Sockopt {
  return byFamily(fam, SOCKOPT.IP_MULTICAST_TTL, SOCKOPT.IPV6_MULTICAST_HOPS, validateInteger(ttl, 'ttl', 0, 255));
}

export function multicastLoopOpt(fam: Family, flag: unknown): Sockopt {
  return byFamily(fam, SOCKOPT.IP_MULTICAST_LOOP, SOCKOPT.IPV6_MULTICAST_LOOP, validateBoolean(flag, 'flag') ? 1 : 0);
}

/** IPv4: the local interface address; IPv6: an interface index. */
export function multicastIfOpt(fam: Family, iface: unknown): Sockopt {
  if (fam === 4) {
    const addr = checkAddress(4, iface as string, 'interfaceAddress');
    return { level: SOCKOPT.IPPROTO_IP, name: SOCKOPT.IP_MULTICAST_IF, value: encodeSockaddr(4, addr, 0).subarray(4, 8) };
  }
  return { level: SOCKOPT.IPPROTO_IPV6, name: SOCKOPT.IPV6_MULTICAST_IF, value: validateInteger(iface, 'interfaceIndex', 0, INT_MAX) };
}

/** IP_ADD/DROP_MEMBERSHIP (struct ip_mreq) or IPV6_ADD/DROP_MEMBERSHIP (struct ipv6_mreq). */
export function membershipOpt(fam: Family, join: boolean, group: string, iface?: string | number): Sockopt {
  const g = checkAddress(fam, group, 'multicastAddress');
  if (fam === 4 || net.isIPv4(g)) {
    const mreq = new Uint8Array(8);
    mreq.set(encodeSockaddr(4, g, 0).subarray(4, 8), 0);
    if (iface !== undefined) mreq.set(encodeSockaddr(4, checkAddress(fam, iface as string, 'multicastInterface'), 0).subarray(4, 8), 4);
    return { level: SOCKOPT.IPPROTO_IP, name: join ? SOCKOPT.IP_ADD_MEMBERSHIP : SOCKOPT.IP_DROP_MEMBERSHIP, value: mreq };
  }
  const mreq = new Uint8Array(20);
  mreq.set(parseIPv6(g), 0);
  new DataView(mreq.buffer).setUint32(16, iface === undefined ? 0 : validateInteger(iface, 'multicastInterface', 0, INT_MAX), true);
  return { level: SOCKOPT.IPPROTO_IPV6, name: join ? SOCKOPT.IPV6_ADD_MEMBERSHIP : SOCKOPT.IPV6_DROP_MEMBERSHIP, value: mreq };
}

/**
 * IP_ADD/DROP_SOURCE_MEMBERSHIP (struct ip_mreq_source) or
 * MCAST_JOIN/LEAVE_SOURCE_GROUP (struct group_source_req), chosen by the
 * group's family whatever the socket's, as libuv does: the kernel answers a
 * family it cannot join on (ENOPROTOOPT). Offsets come from the addon.
 */
export function sourceMembershipOpt(join: boolean, source: string, group: string, iface?: string | number): Sockopt {
  const g = checkAddress(6, group, 'groupAddress');
  const L = SOCKOPT_LAYOUT;
  if (net.isIPv4(g)) {
    const inAddr = (a: string) => encodeSockaddr(4, a, 0).subarray(4, 8);
    const mreq = new Uint8Array(L.ipMreqSourceSize);
    mreq.set(inAddr(g), L.ipMreqSourceMultiaddr);
    if (iface !== undefined) mreq.set(inAddr(checkAddress(4, iface as string, 'interfaceAddress')), L.ipMreqSourceInterface);
    if (typeof source !== 'string' || !net.isIPv4(source)) throw invalidArgValue('sourceAddress', source, 'must be an IPv4 address for an IPv4 group');
    mreq.set(inAddr(source), L.ipMreqSourceSourceaddr);
    return { level: SOCKOPT.IPPROTO_IP, name: join ? SOCKOPT.IP_ADD_SOURCE_MEMBERSHIP : SOCKOPT.IP_DROP_SOURCE_MEMBERSHIP, value: mreq };
  }
  if (typeof source !== 'string' || !net.isIPv6(source)) throw invalidArgValue('sourceAddress', source, 'must be an IPv6 address for an IPv6 group');
  const req = new Uint8Array(L.groupSourceReqSize);
  const index = iface === undefined ? 0 : validateInteger(iface, 'interfaceIndex', 0, INT_MAX);
  new DataView(req.buffer).setUint32(L.groupSourceReqInterface, index, true);
  req.set(encodeSockaddr(6, g, 0, scopeIndex(g) ?? 0), L.groupSourceReqGroup);
  req.set(encodeSockaddr(6, source, 0, scopeIndex(source) ?? 0), L.groupSourceReqSource);
  return { level: SOCKOPT.IPPROTO_IPV6, name: join ? SOCKOPT.MCAST_JOIN_SOURCE_GROUP : SOCKOPT.MCAST_LEAVE_SOURCE_GROUP, value: req };
}

export function tosOpt(fam: Family, tos: unknown): Sockopt {
  return byFamily(fam, SOCKOPT.IP_TOS, SOCKOPT.IPV6_TCLASS, validateInteger(tos, 'tos', 0, 255));
}

export function priorityOpt(priority: unknown): Sockopt {
  return socketOpt(SOCKOPT.SO_PRIORITY, validateInteger(priority, 'priority', 0, INT_MAX));
}

export function busyPollOpt(usec: unknown): Sockopt {
  return socketOpt(SOCKOPT.SO_BUSY_POLL, validateInteger(usec, 'usec', 0, INT_MAX));
}

/** SO_RCVBUF (recv) or SO_SNDBUF. */
export function bufferSizeOpt(recv: boolean, size: unknown): Sockopt {
  return socketOpt(recv ? SOCKOPT.SO_RCVBUF : SOCKOPT.SO_SNDBUF, validateInteger(size, 'size', 1, INT_MAX));
}

/** What UdpSocket's constructor takes from its options once they are checked. */
export interface ParsedUdpOptions {
  type: 'udp4' | 'udp6';
  fam: Family;
  backend: 'auto' | 'io_uring' | 'epoll';
  bufferCount: number;
  bufferSize: number;
  timestamps: boolean;
  zeroCopyThreshold: number;
  /** The options set on the new socket, in this order (reuse, v6only, buffers, busy poll). */
  sockopts: Sockopt[];
}

/**
 * Checks every UdpSocket option (TypeError/RangeError with Node's codes,
 * before any native call) and returns the values plus the socket options to
 * set once the socket exists.
 */
export function parseUdpOptions(opts: Record<string, unknown>): ParsedUdpOptions {
  validateObject(opts, 'options');
  const type = validateOneOf(opts.type, 'options.type', ['udp4', 'udp6'] as const);
  const backend = opts.backend === undefined ? 'auto' : validateOneOf(opts.backend, 'options.backend', ['auto', 'io_uring', 'epoll', 'tcpdirect'] as const);
  if (backend === 'tcpdirect') throw invalidArgValue('options.backend', backend, 'is served by createUdpSocket() (a TCPDirect socket is its own class)');
  const bufferCount = opts.bufferCount === undefined ? 1024 : validatePowerOfTwo(opts.bufferCount, 'options.bufferCount', 1, 32768);
  const bufferSize = opts.bufferSize === undefined ? 2048 : validatePowerOfTwo(opts.bufferSize, 'options.bufferSize', 256, 65536 * 2);
  const timestamps = opts.timestamps === undefined ? false : validateBoolean(opts.timestamps, 'options.timestamps');
  const zeroCopyThreshold = opts.zeroCopyThreshold === undefined ? 0 : validateInteger(opts.zeroCopyThreshold, 'options.zeroCopyThreshold', 0, 65507);
  for (const k of ['reuseAddr', 'reusePort', 'ipv6Only'] as const) if (opts[k] !== undefined) validateBoolean(opts[k], `options.${k}`);
  for (const k of ['recvBufferSize', 'sendBufferSize'] as const) if (opts[k] !== undefined) validateInteger(opts[k], `options.${k}`, 1, INT_MAX);
  if (opts.busyPoll !== undefined) validateInteger(opts.busyPoll, 'options.busyPoll', 0, INT_MAX);
  if (opts.ipv6Only && type !== 'udp6') throw invalidArgValue('options.ipv6Only', opts.ipv6Only, 'is only valid for udp6 sockets');
  const fam: Family = type === 'udp6' ? 6 : 4;
  const sockopts: Sockopt[] = [];
  if (opts.reuseAddr) sockopts.push(socketOpt(SOCKOPT.SO_REUSEADDR, 1));
  if (opts.reusePort) sockopts.push(socketOpt(SOCKOPT.SO_REUSEPORT, 1));
  if (opts.ipv6Only !== undefined) sockopts.push({ level: SOCKOPT.IPPROTO_IPV6, name: SOCKOPT.IPV6_V6ONLY, value: opts.ipv6Only ? 1 : 0 });
  if (opts.recvBufferSize) sockopts.push(bufferSizeOpt(true, opts.recvBufferSize));
  if (opts.sendBufferSize) sockopts.push(bufferSizeOpt(false, opts.sendBufferSize));
  if (opts.busyPoll !== undefined) sockopts.push(busyPollOpt(opts.busyPoll));
  return { type, fam, backend, bufferCount, bufferSize, timestamps, zeroCopyThreshold, sockopts };
}
