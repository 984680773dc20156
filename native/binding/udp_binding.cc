// N-API glue for UDP sockets: ids instead of pointers, shared views over the
// receive pool, descriptors and counters, and events through the loop.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <initializer_list>

#include "../core/udp.h"
#include "handle.h"

namespace rw {
namespace {

enum UdpEventKind : int32_t { kEvRecv = 1, kEvSent = 2, kEvRecvError = 3, kEvClosed = 4 };

class UdpHandle final : public LoopOwned, public UdpEvents {
 public:
  UdpHandle(LoopBinding* lb, Backend b) : lb_(lb), sock_(b, &lb->uring(), this) {}

  int Open(const UdpConfig& cfg) {
    int ret = sock_.Open(cfg);
    if (ret < 0) return ret;
    if (sock_.backend() == Backend::kEpoll) {
      uv_poll_init(lb_->uvLoop(), &poll_, sock_.fd());
      poll_.data = this;
      pollInit_ = true;
      // The loop's own handle keeps the process alive; this one never does.
      uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
    }
    return 0;
  }

  UdpSocket& sock() { return sock_; }

  int StartReceiving() {
    if (sock_.backend() == Backend::kEpoll) {
      pollEvents_ |= UV_READABLE;
      return UpdatePoll();
    }
    return sock_.StartReceiving();
  }

  int Send(const uint8_t* data, uint32_t len, const sockaddr* to, socklen_t tolen,
           uint32_t token, bool* keep) {
    int ret = sock_.Send(data, len, to, tolen, token, keep);
    if (ret == 0 && sock_.backend() == Backend::kEpoll && !flushQueued_) {
      flushQueued_ = true;
      lb_->WantFlush(this);
    }
    return ret;
  }

  // Starts the close; the object deletes itself once the kernel is done.
  void Close(Napi::Env env) {
    if (closed_) return;
    closed_ = true;
    // JS can never touch the pool, descriptors or counters again.
    for (napi_ref& ref : views_) {
      if (!ref) continue;
      napi_value v = nullptr;
      bool detached = true;
      if (napi_get_reference_value(env, ref, &v) == napi_ok && v &&
          napi_is_detached_arraybuffer(env, v, &detached) == napi_ok && !detached)
        napi_detach_arraybuffer(env, v);
      napi_delete_reference(env, ref);
      ref = nullptr;
    }
    sock_.Close();
  }

  // Weak references: the views may be collected; if not, close() detaches
  // them. At environment teardown they are simply abandoned with the env.
  void SetViews(napi_env env, std::initializer_list<napi_value> views) {
    int i = 0;
    for (napi_value v : views) napi_create_reference(env, v, 0, &views_[i++]);
  }

  void KeepStats(napi_env env, napi_value arr, UdpStats* mem) {
    if (napi_create_reference(env, arr, 1, &statsRef_) == napi_ok) sock_.SetStatsMemory(mem);
  }

  // UdpEvents
  void OnRecvReady() override {
    if (!dirty_) {
      dirty_ = true;
      lb_->MarkDirty(this);
    }
  }
  void OnSent(uint32_t token, int res) override {
    lb_->Emit(id, kEvSent, static_cast<int32_t>(token), res);
  }
  void OnRecvError(int err) override { lb_->Emit(id, kEvRecvError, err, 0); }
  // Nothing is in flight any more: free the fd, pool and buffer ring now,
  // so a resolved close() means the resources are gone, then tell JS.
  void OnIdle() override {
    lb_->Remove(id);
    if (pollInit_) {
      // The fd may close only after libuv has forgotten it.
      lb_->BeginOwnedClose();
      uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* h) {
        auto* self = static_cast<UdpHandle*>(h->data);
        LoopBinding* lb = self->lb_;
        self->sock_.Teardown();
        if (!lb->tornDown()) lb->Emit(self->id, kEvClosed, 0, 0);
        delete self;
        lb->EndOwnedClose();
      });
    } else {
      sock_.Teardown();
      lb_->Emit(id, kEvClosed, 0, 0);
      lb_->DeleteLater(this);  // we may be inside our own OnCqe
    }
  }

  // LoopOwned
  void BeforeDispatch() override {
    if (sock_.pendingDescs()) {
      sock_.stats()->batches++;
      lb_->Emit(id, kEvRecv, static_cast<int32_t>(sock_.pendingDescs()), 0);
    }
  }
  void AfterDispatch() override {
    dirty_ = false;
    sock_.Recycle();
  }
  void FlushPrepare() override {
    flushQueued_ = false;
    int ret = sock_.FlushSends();
    bool wantWrite = ret == -EAGAIN;
    if (wantWrite != ((pollEvents_ & UV_WRITABLE) != 0)) {
      pollEvents_ = wantWrite ? (pollEvents_ | UV_WRITABLE) : (pollEvents_ & ~UV_WRITABLE);
      UpdatePoll();
    }
  }
  int CloseUvHandles(uv_close_cb cb) override {
    if (!pollInit_ || uv_is_closing(reinterpret_cast<uv_handle_t*>(&poll_))) return 0;
    // The loop's close callback reads the LoopBinding from handle->data.
    poll_.data = lb_;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), cb);
    return 1;
  }
  void Teardown() override { delete this; }
  ~UdpHandle() override {
    sock_.Teardown();
    // On the JS thread (Bury, uv close callback); at teardown the whole
    // environment, references included, is going away anyway.
    if (statsRef_ && !lb_->tornDown()) napi_delete_reference(lb_->env(), statsRef_);
  }

 private:

  int UpdatePoll() {
    if (!pollInit_ || closed_) return 0;
    if (!pollEvents_) return uv_poll_stop(&poll_);
    return uv_poll_start(&poll_, pollEvents_, [](uv_poll_t* h, int status, int events) {
      auto* self = static_cast<UdpHandle*>(h->data);
      if (status < 0) return;
      if (events & UV_WRITABLE) self->FlushPrepare();
      if (events & UV_READABLE) self->OnEpollReadable();
    });
  }

  void OnEpollReadable() {
    // Bounded: a flooded socket yields to the rest of the loop after a few
    // pool-fulls, like libuv's own 32-datagram read budget.
    for (int round = 0; round < 8 && !closed_; round++) {
      // A short recvmmsg means the queue is drained: no extra call just to
      // collect EAGAIN (one syscall per wake saved on ping-pong).
      bool drained = false;
      while (!drained && sock_.ReceiveBatch(&drained) > 0) {
      }
      if (!sock_.pendingDescs()) break;
      OnRecvReady();
      lb_->Dispatch();
      if (drained) break;
    }
  }

  LoopBinding* lb_;
  UdpSocket sock_;
  uv_poll_t poll_{};
  bool pollInit_ = false;
  int pollEvents_ = 0;
  bool dirty_ = false;
  bool flushQueued_ = false;
  bool closed_ = false;
  napi_ref views_[2] = {nullptr, nullptr};
  napi_ref statsRef_ = nullptr;
};

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
  layout.Set("evRecv", Num(env, kEvRecv));
  layout.Set("evSent", Num(env, kEvSent));
  layout.Set("evRecvError", Num(env, kEvRecvError));
  layout.Set("evClosed", Num(env, kEvClosed));
  exports.Set("udpLayout", layout);
}

}  // namespace rw
