// native/binding/addon.cc: what Init() sets itself, before the facilities.

/** Socket option levels and names from the system headers the addon was built with. */
export interface NativeSockopt {
  SOL_SOCKET: number;
  SO_REUSEADDR: number;
  SO_BROADCAST: number;
  SO_SNDBUF: number;
  SO_RCVBUF: number;
  SO_KEEPALIVE: number;
  SO_PRIORITY: number;
  SO_REUSEPORT: number;
  SO_BUSY_POLL: number;
  SO_INCOMING_CPU: number;
  IPPROTO_IP: number;
  IP_TOS: number;
  IP_TTL: number;
  IP_MULTICAST_IF: number;
  IP_MULTICAST_TTL: number;
  IP_MULTICAST_LOOP: number;
  IP_ADD_MEMBERSHIP: number;
  IP_DROP_MEMBERSHIP: number;
  IP_ADD_SOURCE_MEMBERSHIP: number;
  IP_DROP_SOURCE_MEMBERSHIP: number;
  IPPROTO_IPV6: number;
  IPV6_UNICAST_HOPS: number;
  IPV6_MULTICAST_IF: number;
  IPV6_MULTICAST_HOPS: number;
  IPV6_MULTICAST_LOOP: number;
  IPV6_ADD_MEMBERSHIP: number;
  IPV6_DROP_MEMBERSHIP: number;
  MCAST_JOIN_SOURCE_GROUP: number;
  MCAST_LEAVE_SOURCE_GROUP: number;
  IPV6_V6ONLY: number;
  IPV6_TCLASS: number;
  IPPROTO_TCP: number;
  TCP_NODELAY: number;
  TCP_KEEPIDLE: number;
}

/** Sizes and field offsets of the option structs TypeScript fills (struct ip_mreq_source, struct group_source_req). */
export interface NativeSockoptLayout {
  ipMreqSourceSize: number;
  ipMreqSourceMultiaddr: number;
  ipMreqSourceInterface: number;
  ipMreqSourceSourceaddr: number;
  groupSourceReqSize: number;
  groupSourceReqInterface: number;
  groupSourceReqGroup: number;
  groupSourceReqSource: number;
}

export interface NativeAddon {
  /** strerror(|e|): accepts errno or -errno. */
  strerror(e: number): string;
  /** Negative errnos os.constants.errno has no name for. */
  errno: { ENOKEY: number };
  sockopt: NativeSockopt;
  sockoptLayout: NativeSockoptLayout;
}
