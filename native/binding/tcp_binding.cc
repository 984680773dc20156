// N-API glue for TCP: ids instead of pointers, numbers and byte arrays in,
// numbers (or -errno) out. Options are validated in lib/tcp*.ts first.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>
#include "handle.h"
#include "tcp_handles.h"

namespace rw {
namespace {

LoopBinding* Loop(const Napi::CallbackInfo& info) { return LoopBinding::Existing(info.Env()); }

// A wrong, stale or foreign id is no handle (-EBADF), see handle.h.
template <class T>
T* Find(const Napi::CallbackInfo& info, size_t arg = 0) { return FindAs<T>(info, arg); }

TcpBackend BackendArg(const Napi::Value& v) {
  return v.As<Napi::Number>().Int32Value() == 0 ? TcpBackend::kUring : TcpBackend::kEpoll;
}

uint32_t U32(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Uint32Value(); }
int32_t I32(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int32Value(); }

bool ToSockaddr(const Napi::Value& v, sockaddr_storage* ss, socklen_t* len) {
  size_t n = 0;
  uint8_t* p = BytesOf(v, &n);
  if (!p || n < sizeof(sockaddr_in) || n > sizeof(*ss)) return false;
  memset(ss, 0, sizeof(*ss));
  memcpy(ss, p, n);
  *len = static_cast<socklen_t>(n);
  return true;
}

Napi::ArrayBuffer View(Napi::Env env, void* p, size_t n) { return Napi::ArrayBuffer::New(env, p, n); }

// tcpInit() -> { id, stats } | -errno. One per JS thread (JS caches it).
Napi::Value TcpInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int err = 0;
  LoopBinding* lb = LoopBinding::Get(env, &err);
  if (!lb) return Num(env, err);
  auto* t = new TcpThread(lb);
  lb->Add(t);
  auto o = Napi::Object::New(env);
  o.Set("id", Num(env, t->id));
  o.Set("stats", View(env, t->stats(), sizeof(TcpStats)));
  o.Set("uringError", Num(env, lb->uringError()));
  return o;
}

// tcpPool(thread, backend, count, size) -> ArrayBuffer | -errno
Napi::Value TcpPoolView(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TcpThread* t = Find<TcpThread>(info);
  if (!t) return Num(env, -EBADF);
  TcpBackend b = BackendArg(info[1]);
  if (b == TcpBackend::kUring && t->lb()->uringError()) return Num(env, t->lb()->uringError());
  int ret = t->OpenPool(b, U32(info, 2), U32(info, 3));
  if (ret < 0) return Num(env, ret);
  return View(env, t->pool(b)->base(), t->pool(b)->bytes());
}

// tcpStatsChunk(thread, chunk) -> ArrayBuffer (TcpThread::kChunkSlots slots)
Napi::Value TcpStatsChunk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TcpThread* t = Find<TcpThread>(info);
  if (!t) return Num(env, -EBADF);
  TcpConnStats* c = t->Chunk(U32(info, 1));
  if (!c) return Num(env, -ENOMEM);
  return View(env, c, TcpThread::kChunkSlots * sizeof(TcpConnStats));
}

// tcpListen(thread, backend, sockaddr, backlog, flags (1 reuseAddr, 2 reusePort,
// 4 v6Only, 8 noDelay, 16 keepAlive, 32 pauseOnConnect), keepAliveSecs,
// deferSecs, rcvbuf, sndbuf, zcThreshold) -> id | -errno
Napi::Value TcpListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TcpThread* t = Find<TcpThread>(info);
  if (!t) return Num(env, -EBADF);
  TcpBackend b = BackendArg(info[1]);
  if (!t->pool(b)) return Num(env, -EINVAL);
  sockaddr_storage ss;
  socklen_t len;
  if (!ToSockaddr(info[2], &ss, &len)) return Num(env, -EINVAL);
  TcpListenConfig cfg;
  cfg.backlog = I32(info, 3);
  uint32_t flags = U32(info, 4);
  cfg.reuseAddr = flags & 1;
  cfg.reusePort = flags & 2;
  cfg.v6Only = flags & 4;
  cfg.noDelay = flags & 8;
  cfg.keepAlive = flags & 16;
  cfg.keepAliveSecs = I32(info, 5);
  cfg.deferAcceptSecs = I32(info, 6);
  cfg.recvBuffer = I32(info, 7);
  cfg.sendBuffer = I32(info, 8);
  auto* h = new TcpListenerHandle(t, b, U32(info, 9), flags & 32);
  int ret = h->listener().Open(reinterpret_cast<sockaddr*>(&ss), len, cfg);
  if (ret < 0) {
    h->Teardown();
    return Num(env, ret);
  }
  t->lb()->Add(h);
  h->Start();
  return Num(env, h->id);
}

Napi::Value TcpListenStart(const Napi::CallbackInfo& info) {
  TcpListenerHandle* h = Find<TcpListenerHandle>(info);
  if (!h) return Num(info.Env(), -EBADF);
  h->Start();
  return Num(info.Env(), 0);
}

Napi::Value TcpListenPause(const Napi::CallbackInfo& info) {
  TcpListenerHandle* h = Find<TcpListenerHandle>(info);
  if (!h) return Num(info.Env(), -EBADF);
  h->Pause();
  return Num(info.Env(), 0);
}

Napi::Value TcpListenerClose(const Napi::CallbackInfo& info) {
  if (TcpListenerHandle* h = Find<TcpListenerHandle>(info)) h->Close();
  return info.Env().Undefined();
}

// tcpConnect(thread, backend, sockaddr, localSockaddr|null, timeoutMs,
// noDelay, keepAliveSecs (-1 off), rcvbuf, sndbuf, zcThreshold) -> id | -errno
Napi::Value TcpConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TcpThread* t = Find<TcpThread>(info);
  if (!t) return Num(env, -EBADF);
  TcpBackend b = BackendArg(info[1]);
  if (!t->pool(b)) return Num(env, -EINVAL);
  sockaddr_storage peer, local;
  socklen_t plen, llen = 0;
  if (!ToSockaddr(info[2], &peer, &plen)) return Num(env, -EINVAL);
  if (!info[3].IsNull() && !ToSockaddr(info[3], &local, &llen)) return Num(env, -EINVAL);
  auto* h = new TcpConnHandle(t, b);
  TcpConn& c = h->conn();
  int ret = c.Open(peer.ss_family);
  int keepAlive = I32(info, 6);
  auto opt = [&](int level, int name, int value) {
    if (ret == 0) ret = TcpSetOpt(c.fd(), level, name, value);
  };
  if (Flag(info[5])) opt(IPPROTO_TCP, TCP_NODELAY, 1);
  if (keepAlive >= 0) {
    opt(SOL_SOCKET, SO_KEEPALIVE, 1);
    if (keepAlive > 0) opt(IPPROTO_TCP, TCP_KEEPIDLE, keepAlive);
  }
  if (I32(info, 7) > 0) opt(SOL_SOCKET, SO_RCVBUF, I32(info, 7));
  if (I32(info, 8) > 0) opt(SOL_SOCKET, SO_SNDBUF, I32(info, 8));
  if (ret == 0 && llen) ret = c.Bind(reinterpret_cast<sockaddr*>(&local), llen);
  if (ret < 0) {
    h->Teardown();
    return Num(env, ret);
  }
  c.SetZeroCopyThreshold(U32(info, 9));
  t->lb()->Add(h);
  h->Start();
  // Failures from here on arrive as error events, as Node reports them.
  c.Connect(reinterpret_cast<sockaddr*>(&peer), plen, U32(info, 4));
  h->UpdatePoll();
  return Num(env, h->id);
}

// tcpSend(id, bytes, offset, length, notify, now?) -> 0 (the bytes were
// copied into the send queue) or -errno. notify asks for sent events until
// the queue is empty. now: 1 (the last chunk of a drop-in write) may send
// the queue before returning, 0 (an earlier chunk) holds it, absent (the
// batch API) may send it when it is the connection's first send of this
// dispatch (TcpConnHandle::SendNow).
Napi::Value TcpSend(const Napi::CallbackInfo& info) {
  TcpConnHandle* h = Find<TcpConnHandle>(info);
  if (!h) return Num(info.Env(), -EBADF);
  size_t n = 0;
  uint8_t* p = BytesOf(info[1], &n);
  uint32_t off = U32(info, 2), len = U32(info, 3);
  if (len == 0) return Num(info.Env(), 0);
  if (!p || static_cast<size_t>(off) + len > n) return Num(info.Env(), -EINVAL);
  bool kept = false;
  bool wasEmpty = !h->conn().HasQueued();
  int r = h->Send(p + off, len, Flag(info[4]), &kept);
  if (r < 0) return Num(info.Env(), r);
  if (info.Length() > 5 && info[5].IsNumber()) {
    if (info[5].As<Napi::Number>().Int32Value() == 1) h->SendNow(false);
  } else {
    h->SendNow(true, wasEmpty);
  }
  return Num(info.Env(), kept ? 1 : 0);
}

// tcpSendPool(conn, offset, length) -> 0 | -errno: a copy of receive-pool
// bytes (a Data event's, checked in TS) queued on conn.
Napi::Value TcpSendPool(const Napi::CallbackInfo& info) {
  TcpConnHandle* h = Find<TcpConnHandle>(info);
  if (!h) return Num(info.Env(), -EBADF);
  bool wasEmpty = !h->conn().HasQueued();
  int r = h->conn().SendFromPool(U32(info, 1), U32(info, 2));
  if (r == 0) h->SendNow(true, wasEmpty);
  return Num(info.Env(), r);
}

// tcpSendBatch(ids: Int32Array, bufs: Uint8Array[], results: Int32Array)
// -> count; results[i] as tcpSend's return.
Napi::Value TcpSendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LoopBinding* lb = Loop(info);
  size_t idsLen = 0, resLen = 0;
  auto* ids = reinterpret_cast<int32_t*>(BytesOf(info[0], &idsLen));
  Napi::Array bufs = info[1].As<Napi::Array>();
  auto* results = reinterpret_cast<int32_t*>(BytesOf(info[2], &resLen));
  uint32_t count = U32(info, 3);
  if (!lb || !ids || !results || count * 4 > idsLen || count * 4 > resLen || count > bufs.Length())
    return Num(env, -EINVAL);
  for (uint32_t i = 0; i < count; i++) {
    TcpConnHandle* h = FindAs<TcpConnHandle>(lb, ids[i]);
    if (!h) {
      results[i] = -EBADF;
      continue;
    }
    size_t n = 0;
    uint8_t* p = BytesOf(bufs.Get(i), &n);
    bool kept = false;
    int r = h->Send(p, static_cast<uint32_t>(n), false, &kept);
    results[i] = r < 0 ? r : kept ? 1 : 0;
  }
  return Num(env, count);
}

Napi::Value TcpNotifySent(const Napi::CallbackInfo& info) {
  if (TcpConnHandle* h = Find<TcpConnHandle>(info)) h->conn().NotifySent();
  return info.Env().Undefined();
}

Napi::Value TcpShutdown(const Napi::CallbackInfo& info) {
  TcpConnHandle* h = Find<TcpConnHandle>(info);
  return Num(info.Env(), h ? h->conn().Shutdown() : -EBADF);
}

Napi::Value TcpClose(const Napi::CallbackInfo& info) {
  if (TcpConnHandle* h = Find<TcpConnHandle>(info)) h->Close(Flag(info[1]));
  return info.Env().Undefined();
}

Napi::Value TcpSetReading(const Napi::CallbackInfo& info) {
  if (TcpConnHandle* h = Find<TcpConnHandle>(info)) h->SetReading(Flag(info[1]));
  return info.Env().Undefined();
}

int FdOf(const Napi::CallbackInfo& info) {
  if (TcpConnHandle* h = Find<TcpConnHandle>(info)) return h->conn().closing() ? -1 : h->conn().fd();
  if (TcpListenerHandle* l = Find<TcpListenerHandle>(info)) return l->listener().fd();
  return -1;
}

// tcpSetOpt(id, level, name, value) -> 0 | -errno (connections, listeners)
Napi::Value TcpSetOptFn(const Napi::CallbackInfo& info) {
  int fd = FdOf(info);
  if (fd < 0) return Num(info.Env(), -EBADF);
  return Num(info.Env(), TcpSetOpt(fd, I32(info, 1), I32(info, 2), I32(info, 3)));
}

// tcpGetOpt(id, level, name) -> [value] | -errno. Boxed as udpGetOpt's: an
// option value may be negative (SO_INCOMING_CPU is -1 before any packet),
// which a bare number would report as an errno.
Napi::Value TcpGetOptFn(const Napi::CallbackInfo& info) {
  int fd = FdOf(info);
  if (fd < 0) return Num(info.Env(), -EBADF);
  int v = 0;
  int r = TcpGetOpt(fd, I32(info, 1), I32(info, 2), &v);
  if (r < 0) return Num(info.Env(), r);
  Napi::Array out = Napi::Array::New(info.Env(), 1);
  out.Set(0u, Num(info.Env(), v));
  return out;
}

// tcpName(id, peer) -> Buffer holding a sockaddr | -errno
Napi::Value TcpName(const Napi::CallbackInfo& info) {
  int fd = FdOf(info);
  if (fd < 0) return Num(info.Env(), -EBADF);
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int r = Flag(info[1]) ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                              : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (r < 0) return Num(info.Env(), -errno);
  return BytesCopy(info.Env(), &ss, len);
}

}  // namespace

void InitTcp(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, f, name));
  };
  fn("tcpInit", TcpInit);
  fn("tcpPool", TcpPoolView);
  fn("tcpStatsChunk", TcpStatsChunk);
  fn("tcpListen", TcpListen);
  fn("tcpListenStart", TcpListenStart);
  fn("tcpListenPause", TcpListenPause);
  fn("tcpListenerClose", TcpListenerClose);
  fn("tcpConnect", TcpConnect);
  fn("tcpSend", TcpSend);
  fn("tcpSendPool", TcpSendPool);
  fn("tcpSendBatch", TcpSendBatch);
  fn("tcpNotifySent", TcpNotifySent);
  fn("tcpShutdown", TcpShutdown);
  fn("tcpClose", TcpClose);
  fn("tcpSetReading", TcpSetReading);
  fn("tcpSetOpt", TcpSetOptFn);
  fn("tcpGetOpt", TcpGetOptFn);
  fn("tcpName", TcpName);
  auto layout = Napi::Object::New(env);
  layout.Set("statsFields", Num(env, sizeof(TcpStats) / sizeof(double)));
  layout.Set("connStatsFields", Num(env, sizeof(TcpConnStats) / sizeof(double)));
  layout.Set("statNames", NameList(env, {RW_TCP_STATS(RW_STAT_NAME)}));
  layout.Set("connStatNames", NameList(env, {RW_TCP_CONN_STATS(RW_STAT_NAME)}));
  layout.Set("chunkSlots", Num(env, TcpThread::kChunkSlots));
  layout.Set("indexMask", Num(env, kTcpIndexMask));
  layout.Set("copyMax", Num(env, TcpConn::kCopyMax));
  layout.Set("evAccept", Num(env, kTcpEvAccept));
  layout.Set("evData", Num(env, kTcpEvData));
  layout.Set("evEnd", Num(env, kTcpEvEnd));
  layout.Set("evSent", Num(env, kTcpEvSent));
  layout.Set("evError", Num(env, kTcpEvError));
  layout.Set("evConnect", Num(env, kTcpEvConnect));
  layout.Set("evShutdown", Num(env, kTcpEvShutdown));
  layout.Set("evClosed", Num(env, kTcpEvClosed));
  layout.Set("opRead", Num(env, kTcpOpRead));
  layout.Set("opWrite", Num(env, kTcpOpWrite));
  layout.Set("opConnect", Num(env, kTcpOpConnect));
  layout.Set("opAccept", Num(env, kTcpOpAccept));
  layout.Set("opShutdown", Num(env, kTcpOpShutdown));
  exports.Set("tcpLayout", layout);
}

}  // namespace rw
