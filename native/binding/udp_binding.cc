// N-API glue for UDP sockets: ids instead of pointers (the handle class is in
// udp_handle.{h,cc}), shared views over the receive pool, descriptors and
// counters, and events through the loop.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "../core/udp.h"
#include "handle.h"
#include "udp_handle.h"

namespace rw {
namespace {

// A wrong, stale or non-UDP id is no handle (-EBADF), see handle.h.
UdpHandle* Lookup(const Napi::CallbackInfo& info) { return FindAs<UdpHandle>(info); }

// udpOpen(backend, family, bufferCount, bufferSize, timestamps, zcThreshold,
//         stats: Float64Array of udpLayout.statsFields) -> {id, pool, descs} | -errno
Napi::Value UdpOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int err = 0;
  LoopBinding* lb = LoopBinding::Get(env, &err);
  if (!lb) return Num(env, err);
  Backend b = info[0].As<Napi::Number>().Int32Value() == 0 ? Backend::kUring : Backend::kEpoll;
  if (b == Backend::kUring && lb->uringError()) return Num(env, lb->uringError());
  UdpConfig cfg;
  cfg.family = info[1].As<Napi::Number>().Int32Value() == 6 ? AF_INET6 : AF_INET;
  cfg.bufferCount = info[2].As<Napi::Number>().Uint32Value();
  cfg.bufferSize = info[3].As<Napi::Number>().Uint32Value();
  cfg.timestamps = Flag(info[4]);
  cfg.zcThreshold = info[5].As<Napi::Number>().Uint32Value();
  // Counters live in the caller's Float64Array so they outlive the socket.
  // A shorter array would leave every counter at 0 without a word: refused.
  size_t statsLen = 0;
  uint8_t* statsMem = BytesOf(info[6], &statsLen);
  if (!statsMem || statsLen < sizeof(UdpStats)) return Num(env, -EINVAL);
  auto* h = new UdpHandle(lb, b);
  int ret = h->Open(cfg);
  if (ret < 0) {
    h->Teardown();
    return Num(env, ret);
  }
  lb->Add(h);
  UdpSocket& s = h->sock();
  auto pool = Napi::ArrayBuffer::New(env, s.pool(), s.poolBytes());
  auto descs = Napi::ArrayBuffer::New(env, s.descs(), s.descCapacity() * sizeof(UdpDesc));
  h->SetViews(env, {pool, descs});
  h->KeepStats(env, info[6], reinterpret_cast<UdpStats*>(statsMem));
  auto o = Napi::Object::New(env);
  o.Set("id", Num(env, h->id));
  o.Set("pool", pool);
  o.Set("descs", descs);
  return o;
}

sockaddr_storage ToSockaddr(const Napi::Value& v, socklen_t* len) {
  sockaddr_storage ss{};
  size_t n = 0;
  uint8_t* p = BytesOf(v, &n);
  if (p && n <= sizeof(ss)) memcpy(&ss, p, n);
  *len = static_cast<socklen_t>(n);
  return ss;
}

Napi::Value UdpBind(const Napi::CallbackInfo& info) {
  UdpHandle* h = Lookup(info);
  if (!h) return Num(info.Env(), -EBADF);
  socklen_t len;
  sockaddr_storage ss = ToSockaddr(info[1], &len);
  return Num(info.Env(), h->sock().Bind(reinterpret_cast<sockaddr*>(&ss), len));
}

Napi::Value UdpConnect(const Napi::CallbackInfo& info) {
  UdpHandle* h = Lookup(info);
  if (!h) return Num(info.Env(), -EBADF);
  if (info[1].IsNull()) return Num(info.Env(), h->sock().Disconnect());
  socklen_t len;
  sockaddr_storage ss = ToSockaddr(info[1], &len);
  return Num(info.Env(), h->sock().Connect(reinterpret_cast<sockaddr*>(&ss), len));
}

// udpName(id, peer) -> Buffer with a sockaddr | -errno
Napi::Value UdpName(const Napi::CallbackInfo& info) {
  UdpHandle* h = Lookup(info);
  if (!h) return Num(info.Env(), -EBADF);
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int r = Flag(info[1]) ? getpeername(h->sock().fd(), reinterpret_cast<sockaddr*>(&ss), &len)
                              : getsockname(h->sock().fd(), reinterpret_cast<sockaddr*>(&ss), &len);
  if (r < 0) return Num(info.Env(), -errno);
  return BytesCopy(info.Env(), &ss, len);
}

// udpSetOpt(id, level, name, value: number | Uint8Array)
Napi::Value UdpSetOpt(const Napi::CallbackInfo& info) {
  UdpHandle* h = Lookup(info);
  if (!h) return Num(info.Env(), -EBADF);
  int level = info[1].As<Napi::Number>().Int32Value();
  int name = info[2].As<Napi::Number>().Int32Value();
  if (info[3].IsNumber()) {
    int v = info[3].As<Napi::Number>().Int32Value();
    return Num(info.Env(), h->sock().SetOpt(level, name, &v, sizeof(v)));
  }
  size_t n = 0;
  uint8_t* p = BytesOf(info[3], &n);
  return Num(info.Env(), h->sock().SetOpt(level, name, p, static_cast<socklen_t>(n)));
}

Napi::Value UdpGetOpt(const Napi::CallbackInfo& info) {
  UdpHandle* h = Lookup(info);
  if (!h) return Num(info.Env(), -EBADF);
  int v = 0;
  socklen_t len = sizeof(v);
  int r = h->sock().GetOpt(info[1].As<Napi::Number>().Int32Value(),
                           info[2].As<Napi::Number>().Int32Value(), &v, &len);
  if (r < 0) return Num(info.Env(), r);
  // Option values may be negative (SO_INCOMING_CPU is -1 until a packet
  // arrives), so a success is boxed to keep it apart from -errno.
  Napi::Array out = Napi::Array::New(info.Env(), 1);
  out.Set(0u, Num(info.Env(), v));
  return out;
}

Napi::Value UdpStart(const Napi::CallbackInfo& info) {
  UdpHandle* h = Lookup(info);
  return Num(info.Env(), h ? h->StartReceiving() : -EBADF);
}

// udpRefreshDrops(id) -> 0 | -errno: the kernel drop counter into stats.
Napi::Value UdpRefreshDrops(const Napi::CallbackInfo& info) {
  UdpHandle* h = Lookup(info);
  return Num(info.Env(), h ? h->sock().RefreshDrops() : -EBADF);
}

// udpSend(id, bytes, offset, length, sockaddr|null, token) -> 0 (the bytes
// were copied: JS may reuse, transfer or detach them at once) or -errno.
Napi::Value UdpSend(const Napi::CallbackInfo& info) {
  UdpHandle* h = Lookup(info);
  if (!h) return Num(info.Env(), -EBADF);
  size_t n = 0;
  uint8_t* p = BytesOf(info[1], &n);
  uint32_t off = info[2].As<Napi::Number>().Uint32Value();
  uint32_t len = info[3].As<Napi::Number>().Uint32Value();
  if (!p || static_cast<size_t>(off) + len > n) return Num(info.Env(), -EINVAL);
  socklen_t alen = 0;
  sockaddr_storage ss{};
  if (!info[4].IsNull()) ss = ToSockaddr(info[4], &alen);
  bool keep = false;
  int r = h->Send(p + off, len, alen ? reinterpret_cast<sockaddr*>(&ss) : nullptr, alen,
                  info[5].As<Napi::Number>().Uint32Value(), &keep);
  return Num(info.Env(), r < 0 ? r : keep ? 1 : 0);
}

// udpReply(id, payloadOffset, length, nameOffset, nameLength) -> 0 | -errno
// Sends bytes of this socket's own receive pool to a sockaddr that is also
// in the pool (the source of a datagram being delivered): no typed arrays
// cross the boundary, nothing is parsed. Offsets were checked in TS.
Napi::Value UdpReply(const Napi::CallbackInfo& info) {
  UdpHandle* h = Lookup(info);
  if (!h) return Num(info.Env(), -EBADF);
  UdpSocket& s = h->sock();
  uint32_t off = info[1].As<Napi::Number>().Uint32Value();
  uint32_t len = info[2].As<Napi::Number>().Uint32Value();
  uint32_t name = info[3].As<Napi::Number>().Uint32Value();
  uint32_t nameLen = info[4].As<Napi::Number>().Uint32Value();
  if (!s.pool() || static_cast<size_t>(off) + len > s.poolBytes() ||
      static_cast<size_t>(name) + nameLen > s.poolBytes() || nameLen > sizeof(sockaddr_in6) ||
      len > UdpSocket::kInlineSend)
    return Num(info.Env(), -EINVAL);
  bool keep = false;
  return Num(info.Env(), h->Send(s.pool() + off, len, reinterpret_cast<const sockaddr*>(s.pool() + name),
                                 nameLen, 0, &keep));
}

// udpSendBatch(id, bufs: Uint8Array[], addrs: Uint8Array|null, addrStride,
// token) -> number queued (stops at the first error) or -errno.
Napi::Value UdpSendBatch(const Napi::CallbackInfo& info) {
  UdpHandle* h = Lookup(info);
  if (!h) return Num(info.Env(), -EBADF);
  Napi::Array bufs = info[1].As<Napi::Array>();
  size_t alen = 0;
  uint8_t* addrs = info[2].IsNull() ? nullptr : BytesOf(info[2], &alen);
  uint32_t stride = info[3].As<Napi::Number>().Uint32Value();
  uint32_t token = info[4].As<Napi::Number>().Uint32Value();
  uint32_t count = bufs.Length();
  uint32_t kept = 0;
  for (uint32_t i = 0; i < count; i++) {
    size_t n = 0;
    uint8_t* p = BytesOf(bufs.Get(i), &n);
    const sockaddr* to = nullptr;
    socklen_t tolen = 0;
    if (addrs && stride) {
      size_t at = alen > stride ? static_cast<size_t>(i) * stride : 0;
      if (at + stride > alen) return Num(info.Env(), -EINVAL);
      to = reinterpret_cast<const sockaddr*>(addrs + at);
      tolen = to->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    }
    bool keep = false;
    int r = h->Send(p, static_cast<uint32_t>(n), to, tolen, token, &keep);
    if (r < 0) return Num(info.Env(), i ? static_cast<int>(i) : r);
    kept += keep;
  }
  return Num(info.Env(), count);
}

Napi::Value UdpClose(const Napi::CallbackInfo& info) {
  UdpHandle* h = Lookup(info);
  if (h) h->Close(info.Env());
  return info.Env().Undefined();
}

}  // namespace

void InitUdp(Napi::Env env, Napi::Object exports) {
  exports.Set("udpOpen", Napi::Function::New(env, UdpOpen, "udpOpen"));
  exports.Set("udpBind", Napi::Function::New(env, UdpBind, "udpBind"));
  exports.Set("udpConnect", Napi::Function::New(env, UdpConnect, "udpConnect"));
  exports.Set("udpName", Napi::Function::New(env, UdpName, "udpName"));
  exports.Set("udpSetOpt", Napi::Function::New(env, UdpSetOpt, "udpSetOpt"));
  exports.Set("udpGetOpt", Napi::Function::New(env, UdpGetOpt, "udpGetOpt"));
  exports.Set("udpStart", Napi::Function::New(env, UdpStart, "udpStart"));
  exports.Set("udpRefreshDrops", Napi::Function::New(env, UdpRefreshDrops, "udpRefreshDrops"));
  exports.Set("udpSend", Napi::Function::New(env, UdpSend, "udpSend"));
  exports.Set("udpReply", Napi::Function::New(env, UdpReply, "udpReply"));
  exports.Set("udpSendBatch", Napi::Function::New(env, UdpSendBatch, "udpSendBatch"));
  exports.Set("udpClose", Napi::Function::New(env, UdpClose, "udpClose"));
  auto layout = Napi::Object::New(env);
  layout.Set("descSize", Num(env, sizeof(UdpDesc)));
  layout.Set("payloadOffset", Num(env, offsetof(UdpDesc, payloadOffset)));
  layout.Set("payloadLength", Num(env, offsetof(UdpDesc, payloadLength)));
  layout.Set("flags", Num(env, offsetof(UdpDesc, flags)));
  layout.Set("nameOffset", Num(env, offsetof(UdpDesc, nameOffset)));
  layout.Set("nameLength", Num(env, offsetof(UdpDesc, nameLength)));
  layout.Set("tsSec", Num(env, offsetof(UdpDesc, tsSec)));
  layout.Set("tsNsec", Num(env, offsetof(UdpDesc, tsNsec)));
  layout.Set("flagTruncated", Num(env, kDescTruncated));
  layout.Set("flagTimestamp", Num(env, kDescTimestamp));
  layout.Set("statsFields", Num(env, sizeof(UdpStats) / sizeof(double)));
  layout.Set("statNames", NameList(env, {RW_UDP_STATS(RW_STAT_NAME)}));
  layout.Set("headerSpace", Num(env, UdpSocket::kHeaderSpace + UdpSocket::kNameSpace));
  layout.Set("inlineSend", Num(env, UdpSocket::kInlineSend));
  layout.Set("evRecv", Num(env, kUdpEvRecv));
  layout.Set("evSent", Num(env, kUdpEvSent));
  layout.Set("evRecvError", Num(env, kUdpEvRecvError));
  layout.Set("evClosed", Num(env, kUdpEvClosed));
  exports.Set("udpLayout", layout);
}

}  // namespace rw
