// Socket option numbers (Linux, asm-generic) and the per-socket counters,
// read from a Float64Array over native memory (no native call).
export const SOCKOPT = {
  SOL_SOCKET: 1,
  SO_REUSEADDR: 2,
  SO_BROADCAST: 6,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_PRIORITY: 12,
  SO_REUSEPORT: 15,
  SO_BUSY_POLL: 46,
  SO_INCOMING_CPU: 49,
  IPPROTO_IP: 0,
  IP_TOS: 1,
  IP_TTL: 2,
  IP_MULTICAST_IF: 32,
  IP_MULTICAST_TTL: 33,
  IP_MULTICAST_LOOP: 34,
  IP_ADD_MEMBERSHIP: 35,
  IP_DROP_MEMBERSHIP: 36,
  IPPROTO_IPV6: 41,
  IPV6_UNICAST_HOPS: 16,
  IPV6_MULTICAST_IF: 17,
  IPV6_MULTICAST_HOPS: 18,
  IPV6_MULTICAST_LOOP: 19,
  IPV6_ADD_MEMBERSHIP: 20,
  IPV6_DROP_MEMBERSHIP: 21,
  IPV6_V6ONLY: 26,
  IPV6_TCLASS: 67,
} as const;

// The names of struct UdpStats (native/core/udp.h, RW_UDP_STATS), typed here
// for stats()'s type. The addon exports the struct's own list as
// udpLayout.statNames; checkLayout() (lib/internal/layout.ts) refuses an
// addon whose list differs, and test/layout.test.ts checks both.
export const UDP_STAT_NAMES = [
  'rxDatagrams', 'rxBytes', 'txDatagrams', 'txBytes', 'kernelDrops', 'starvations',
  'rearms', 'truncated', 'zcSends', 'zcCopied', 'sendErrors', 'batches',
] as const;

export type UdpStats = Record<(typeof UDP_STAT_NAMES)[number], number>;

export class UdpStatsView {
  constructor(private readonly view: Float64Array) {}

  read(): UdpStats {
    const out = {} as UdpStats;
    for (let i = 0; i < UDP_STAT_NAMES.length; i++) out[UDP_STAT_NAMES[i]] = this.view[i];
    return out;
  }
}
