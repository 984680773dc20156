#include "addon.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstring>

namespace rw {
namespace {

Napi::Value StrError(const Napi::CallbackInfo& info) {
  int e = info[0].As<Napi::Number>().Int32Value();
  return Napi::String::New(info.Env(), strerror(e < 0 ? -e : e));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonState(env));
  exports.Set("strerror", Napi::Function::New(env, StrError, "strerror"));
  // Negative errnos native code returns that os.constants.errno has no name
  // for (libuv lacks them); lib/internal/errno.ts reads them from here.
  auto errnos = Napi::Object::New(env);
  errnos.Set("ENOKEY", Num(env, -ENOKEY));
  exports.Set("errno", errnos);
  // Socket option levels and names TypeScript passes to setsockopt, from
  // the system headers of the target the addon was built for (they differ
  // between architectures); lib/internal/layout.ts reads them.
  auto sockopt = Napi::Object::New(env);
  sockopt.Set("SOL_SOCKET", Num(env, SOL_SOCKET));
  sockopt.Set("SO_REUSEADDR", Num(env, SO_REUSEADDR));
  sockopt.Set("SO_BROADCAST", Num(env, SO_BROADCAST));
  sockopt.Set("SO_SNDBUF", Num(env, SO_SNDBUF));
  sockopt.Set("SO_RCVBUF", Num(env, SO_RCVBUF));
  sockopt.Set("SO_KEEPALIVE", Num(env, SO_KEEPALIVE));
  sockopt.Set("SO_PRIORITY", Num(env, SO_PRIORITY));
  sockopt.Set("SO_REUSEPORT", Num(env, SO_REUSEPORT));
  sockopt.Set("SO_BUSY_POLL", Num(env, SO_BUSY_POLL));
  sockopt.Set("SO_INCOMING_CPU", Num(env, SO_INCOMING_CPU));
  sockopt.Set("IPPROTO_IP", Num(env, IPPROTO_IP));
  sockopt.Set("IP_TOS", Num(env, IP_TOS));
  sockopt.Set("IP_TTL", Num(env, IP_TTL));
  sockopt.Set("IP_MULTICAST_IF", Num(env, IP_MULTICAST_IF));
  sockopt.Set("IP_MULTICAST_TTL", Num(env, IP_MULTICAST_TTL));
  sockopt.Set("IP_MULTICAST_LOOP", Num(env, IP_MULTICAST_LOOP));
  sockopt.Set("IP_ADD_MEMBERSHIP", Num(env, IP_ADD_MEMBERSHIP));
  sockopt.Set("IP_DROP_MEMBERSHIP", Num(env, IP_DROP_MEMBERSHIP));
  sockopt.Set("IP_ADD_SOURCE_MEMBERSHIP", Num(env, IP_ADD_SOURCE_MEMBERSHIP));
  sockopt.Set("IP_DROP_SOURCE_MEMBERSHIP", Num(env, IP_DROP_SOURCE_MEMBERSHIP));
  sockopt.Set("IPPROTO_IPV6", Num(env, IPPROTO_IPV6));
  sockopt.Set("IPV6_UNICAST_HOPS", Num(env, IPV6_UNICAST_HOPS));
  sockopt.Set("IPV6_MULTICAST_IF", Num(env, IPV6_MULTICAST_IF));
  sockopt.Set("IPV6_MULTICAST_HOPS", Num(env, IPV6_MULTICAST_HOPS));
  sockopt.Set("IPV6_MULTICAST_LOOP", Num(env, IPV6_MULTICAST_LOOP));
  sockopt.Set("IPV6_ADD_MEMBERSHIP", Num(env, IPV6_ADD_MEMBERSHIP));
  sockopt.Set("IPV6_DROP_MEMBERSHIP", Num(env, IPV6_DROP_MEMBERSHIP));
  sockopt.Set("MCAST_JOIN_SOURCE_GROUP", Num(env, MCAST_JOIN_SOURCE_GROUP));
  sockopt.Set("MCAST_LEAVE_SOURCE_GROUP", Num(env, MCAST_LEAVE_SOURCE_GROUP));
  sockopt.Set("IPV6_V6ONLY", Num(env, IPV6_V6ONLY));
  sockopt.Set("IPV6_TCLASS", Num(env, IPV6_TCLASS));
  sockopt.Set("IPPROTO_TCP", Num(env, IPPROTO_TCP));
  sockopt.Set("TCP_NODELAY", Num(env, TCP_NODELAY));
  sockopt.Set("TCP_KEEPIDLE", Num(env, TCP_KEEPIDLE));
  exports.Set("sockopt", sockopt);
  // The option structs TypeScript fills byte by byte: group_source_req
  // holds sockaddr_storage, whose alignment (so every offset after the
  // interface index) differs between 32- and 64-bit targets.
  auto sockoptLayout = Napi::Object::New(env);
  sockoptLayout.Set("ipMreqSourceSize", Num(env, sizeof(ip_mreq_source)));
  sockoptLayout.Set("ipMreqSourceMultiaddr", Num(env, offsetof(ip_mreq_source, imr_multiaddr)));
  sockoptLayout.Set("ipMreqSourceInterface", Num(env, offsetof(ip_mreq_source, imr_interface)));
  sockoptLayout.Set("ipMreqSourceSourceaddr", Num(env, offsetof(ip_mreq_source, imr_sourceaddr)));
  sockoptLayout.Set("groupSourceReqSize", Num(env, sizeof(group_source_req)));
  sockoptLayout.Set("groupSourceReqInterface", Num(env, offsetof(group_source_req, gsr_interface)));
  sockoptLayout.Set("groupSourceReqGroup", Num(env, offsetof(group_source_req, gsr_group)));
  sockoptLayout.Set("groupSourceReqSource", Num(env, offsetof(group_source_req, gsr_source)));
  exports.Set("sockoptLayout", sockoptLayout);
  InitProbe(env, exports);
  InitLoop(env, exports);
  InitUdp(env, exports);
  InitTcp(env, exports);
  InitSched(env, exports);
  InitShm(env, exports);
  InitRing(env, exports);
  InitFutex(env, exports);
  InitPacketRing(env, exports);
#ifdef RINGWIRE_HAVE_TCPDIRECT
  InitTcpdirect(env, exports);
#endif
  return exports;
}

}  // namespace
}  // namespace rw

static Napi::Object InitRingwire(Napi::Env env, Napi::Object exports) {
  return rw::Init(env, exports);
}
NODE_API_MODULE(ringwire, InitRingwire)
