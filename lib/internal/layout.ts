// Every constant mirrored from C++, read from the addon once per JS thread:
// event kinds, operation codes, descriptor offsets, and the check of the
// stat-name lists against the structs they index. Nothing here types a
// number the native side defines; test/layout.test.ts checks every name and
// value against the addon. Nothing here is API.
import { type Native, native } from './native';

function addon(): Native | undefined {
  try {
    return native();
  } catch {
    return undefined; // capabilities()/doctor report the load error; no handle can exist
  }
}

const N = addon();
// What an addon built from other sources lacks, per facility; reported by
// checkLayout() when the facility is first used (never silently zero).
const missing: Record<string, string[]> = {};

// A property of a native object whose shape is being checked at run time
// (an addon built from other sources may lack it, whatever its type says).
function field(section: object | undefined, key: string): unknown {
  return section === undefined ? undefined : (section as Record<string, unknown>)[key];
}

// Picks named numbers out of a native layout object (the key names are
// checked against the facility's interface at compile time). Without an
// addon every value is NaN, which equals no event kind: no handle, so no
// event, exists.
function pick<S extends object, K extends string>(facility: string, section: S | undefined, keys: Record<K, keyof S & string>): Readonly<Record<K, number>> {
  const out = {} as Record<K, number>;
  for (const k of Object.keys(keys) as K[]) {
    const v = field(section, keys[k]);
    if (section && typeof v !== 'number') (missing[facility] ??= []).push(keys[k]);
    out[k] = typeof v === 'number' ? v : NaN;
  }
  return Object.freeze(out);
}

/** UDP loop event kinds (native/binding/udp_binding.cc). */
export const UDP_EV = pick('udp', N?.udpLayout, { recv: 'evRecv', sent: 'evSent', recvError: 'evRecvError', closed: 'evClosed' });

/** UDP receive descriptor (struct UdpDesc, native/core/udp.h): byte offsets and flags. */
export const UDP_DESC = pick('udp', N?.udpLayout, {
  size: 'descSize', payloadOffset: 'payloadOffset', payloadLength: 'payloadLength', flags: 'flags',
  nameOffset: 'nameOffset', nameLength: 'nameLength', tsSec: 'tsSec', tsNsec: 'tsNsec',
  truncated: 'flagTruncated', timestamp: 'flagTimestamp', headerSpace: 'headerSpace', inlineSend: 'inlineSend',
});

/** Socket option levels and names (the addon's system headers: they differ between architectures). */
export const SOCKOPT = pick('sockopt', N?.sockopt, {
  SOL_SOCKET: 'SOL_SOCKET', SO_REUSEADDR: 'SO_REUSEADDR', SO_BROADCAST: 'SO_BROADCAST', SO_SNDBUF: 'SO_SNDBUF', SO_RCVBUF: 'SO_RCVBUF',
  SO_KEEPALIVE: 'SO_KEEPALIVE', SO_PRIORITY: 'SO_PRIORITY', SO_REUSEPORT: 'SO_REUSEPORT', SO_BUSY_POLL: 'SO_BUSY_POLL',
  SO_INCOMING_CPU: 'SO_INCOMING_CPU', IPPROTO_IP: 'IPPROTO_IP', IP_TOS: 'IP_TOS', IP_TTL: 'IP_TTL', IP_MULTICAST_IF: 'IP_MULTICAST_IF',
  IP_MULTICAST_TTL: 'IP_MULTICAST_TTL', IP_MULTICAST_LOOP: 'IP_MULTICAST_LOOP', IP_ADD_MEMBERSHIP: 'IP_ADD_MEMBERSHIP',
  IP_DROP_MEMBERSHIP: 'IP_DROP_MEMBERSHIP', IP_ADD_SOURCE_MEMBERSHIP: 'IP_ADD_SOURCE_MEMBERSHIP',
  IP_DROP_SOURCE_MEMBERSHIP: 'IP_DROP_SOURCE_MEMBERSHIP', MCAST_JOIN_SOURCE_GROUP: 'MCAST_JOIN_SOURCE_GROUP',
  MCAST_LEAVE_SOURCE_GROUP: 'MCAST_LEAVE_SOURCE_GROUP', IPPROTO_IPV6: 'IPPROTO_IPV6', IPV6_UNICAST_HOPS: 'IPV6_UNICAST_HOPS',
  IPV6_MULTICAST_IF: 'IPV6_MULTICAST_IF', IPV6_MULTICAST_HOPS: 'IPV6_MULTICAST_HOPS', IPV6_MULTICAST_LOOP: 'IPV6_MULTICAST_LOOP',
  IPV6_ADD_MEMBERSHIP: 'IPV6_ADD_MEMBERSHIP', IPV6_DROP_MEMBERSHIP: 'IPV6_DROP_MEMBERSHIP', IPV6_V6ONLY: 'IPV6_V6ONLY',
  IPV6_TCLASS: 'IPV6_TCLASS', IPPROTO_TCP: 'IPPROTO_TCP', TCP_NODELAY: 'TCP_NODELAY', TCP_KEEPIDLE: 'TCP_KEEPIDLE',
});

/** Sizes and field offsets of the source-specific multicast option structs (native/binding/addon.cc). */
export const SOCKOPT_LAYOUT = pick('sockopt', N?.sockoptLayout, {
  ipMreqSourceSize: 'ipMreqSourceSize', ipMreqSourceMultiaddr: 'ipMreqSourceMultiaddr', ipMreqSourceInterface: 'ipMreqSourceInterface',
  ipMreqSourceSourceaddr: 'ipMreqSourceSourceaddr', groupSourceReqSize: 'groupSourceReqSize', groupSourceReqInterface: 'groupSourceReqInterface',
  groupSourceReqGroup: 'groupSourceReqGroup', groupSourceReqSource: 'groupSourceReqSource',
});

/** TCP loop event kinds (native/binding/tcp_handles.h TcpEventKind). */
export const TCP_EV = pick('tcp', N?.tcpLayout, {
  accept: 'evAccept', data: 'evData', end: 'evEnd', sent: 'evSent', error: 'evError',
  connect: 'evConnect', shutdown: 'evShutdown', closed: 'evClosed',
});

/** TCP operations an error event names (native/core/tcp.h TcpOp). */
export const TCP_OP = pick('tcp', N?.tcpLayout, { read: 'opRead', write: 'opWrite', connect: 'opConnect', accept: 'opAccept', shutdown: 'opShutdown' });

/** The syscall each TCP operation stands for in a system error. */
export const TCP_OP_SYSCALL: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(TCP_OP).filter(([, v]) => !Number.isNaN(v)).map(([name, v]) => [v, name])),
);

// Lists already found equal to the addon's (module constants: checked once).
const checked = new WeakSet<readonly string[]>();

/**
 * Throws when the loaded addon disagrees with this TypeScript about a
 * facility: a layout value it lacks, or a stat-name list (typed here so
 * `stats()` has a type) whose names or order differ from the struct the
 * addon exports them from. Run when the facility is first used (once per list): a
 * shorter list would otherwise read every counter as 0 without a word.
 */
export function checkLayout(facility: 'udp' | 'tcp' | 'packetRing' | 'busyPoll' | 'adaptivePoll', names: Record<string, readonly string[]>): void {
  const lists = Object.values(names);
  if (lists.every((l) => checked.has(l)) && !missing[facility]) return;
  // The two polls export their one list at the top level (busy_poll.cc,
  // adaptive_poll.cc).
  const n = native();
  const topLevel = facility === 'busyPoll' || facility === 'adaptivePoll';
  const section: object | undefined =
    facility === 'busyPoll' ? { statNames: n.busyPollStatNames } : facility === 'adaptivePoll' ? { statNames: n.adaptivePollStatNames } : n[`${facility}Layout`];
  // The native name of a list, for the message.
  const label = (key: string) => (topLevel ? `${facility}${key[0].toUpperCase()}${key.slice(1)}` : `${facility}Layout.${key}`);
  const problems = [...(missing[facility] ?? []).map((k) => `${facility}Layout.${k} is missing`)];
  for (const [key, ours] of Object.entries(names)) {
    const theirs = field(section, key);
    if (!Array.isArray(theirs) || theirs.length !== ours.length || theirs.some((n, i) => n !== ours[i]))
      problems.push(`${label(key)} is [${Array.isArray(theirs) ? theirs.join(', ') : String(theirs)}], TypeScript expects [${ours.join(', ')}]`);
  }
  if (problems.length) {
    const err = new Error(`ringwire: the addon does not match this TypeScript (rebuild it: npm run build:native): ${problems.join('; ')}`);
    throw Object.assign(err, { code: 'ERR_RINGWIRE_LAYOUT' });
  }
  for (const l of lists) checked.add(l);
}
