// N-API side of the TCPDirect backend: one zf stack per JS thread, driven
// from that thread's libuv loop. Sleeping: the stack's waitable fd
// (zf_waitable_fd_get) in a uv_poll, primed (zf_waitable_fd_prime) just
// before the loop blocks. Right after traffic (or after JS queued
// something) a uv_idle calls the reactor once per loop turn for a short
// spin window instead, since a reply is usually microseconds away. Without
// a waitable fd (zf_waitable_fd_get fails under TCPDirect's software
// emulator: its driver handle cannot join an epoll set) a 1 ms uv_timer
// stands in for the wake-ups.
#ifdef RINGWIRE_HAVE_TCPDIRECT

#include <arpa/inet.h>
#include <uv.h>

#include <cstring>
#include <memory>

#include "../binding/addon.h"
#include "zf_core.h"

namespace rw {
namespace {

using zf::Stack;

constexpr uint32_t kMaxRecords = 4096;  // records per JS call
constexpr int kMaxRounds = 8;           // Poll rounds per wake before yielding

struct ZfThread {
  napi_env env = nullptr;
  Stack stack;
  uv_poll_t poll{};
  uv_idle_t idle{};
  uv_timer_t timer{};  // only without a waitable fd
  int handles = 0;
  bool pollInit = false;
  bool dispatching = false;
  bool idling = false, polling = false, torn = false;
  napi_ref dispatch = nullptr;
  napi_async_context ctx = nullptr;
  int32_t* records = nullptr;  // the JS Int32Array's memory (kMaxRecords x 6)
  napi_ref recordsRef = nullptr, poolRef = nullptr;
  double primeErrors = 0;
  bool primeFailed = false;

  void Wake();
  void Dispatch();
  uint64_t lastActive = 0;
  uint64_t spinNs = 100 * 1000;  // tcpdirectSpin(us)
  // JS queued something: note the activity (it opens a spin window) and
  // run the reactor on the next loop turn.
  void Kick() {
    lastActive = uv_hrtime();
    Spin();
  }
  void Spin() {
    if (torn || idling) return;
    idling = true;
    uv_idle_start(&idle, [](uv_idle_t* h) { static_cast<ZfThread*>(h->data)->Wake(); });
  }
};

// Stacks are not thread-safe and each JS thread has its own loop: one per
// thread, reset when the environment is torn down.
thread_local ZfThread* tls = nullptr;

void ZfThread::Dispatch() {
  dispatching = true;
  const auto& recs = stack.records;
  for (size_t at = 0; at < recs.size() && !torn;) {
    uint32_t n = static_cast<uint32_t>(recs.size() - at < kMaxRecords ? recs.size() - at : kMaxRecords);
    memcpy(records, recs.data() + at, n * sizeof(zf::Record));
    at += n;
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) break;
    napi_value fn = nullptr, recv, argv[1], result;
    napi_get_reference_value(env, dispatch, &fn);
    napi_get_global(env, &recv);
    napi_create_uint32(env, n, &argv[0]);
    // MakeCallback semantics: promise reactions run after the batch.
    if (fn && napi_make_callback(env, ctx, recv, fn, 1, argv, &result) == napi_pending_exception) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
      napi_fatal_exception(env, e);
    }
    napi_close_handle_scope(env, scope);
  }
  dispatching = false;
}

void ZfThread::Wake() {
  bool active = false;
  for (int round = 0; round < kMaxRounds && !torn; round++) {
    uint32_t n = stack.Poll();
    active |= n > 0;
    if (n) Dispatch();
    stack.ResetBatch();  // the pool is free again once JS has returned
    if (!n && !stack.HasPendingWork()) break;
  }
  if (torn) return;
  uint64_t now = uv_hrtime();
  if (active) lastActive = now;
  // Keep calling the reactor for a short while after traffic: the reply to
  // what we just sent is usually a few microseconds away, and a prime +
  // wake-up (or, without a waitable fd, the 1 ms timer) costs far more.
  // (A connect in flight or queued sends need no spinning: the ACKs that
  // move them are NIC events, and the primed fd's 10 ms timer runs TCP's.)
  if (stack.HasPendingWork() || now - lastActive < spinNs) {
    Spin();  // one reactor pass per loop turn; the window is not extended
    return;
  }
  if (idling) {
    idling = false;
    uv_idle_stop(&idle);
  }
  if (stack.fd() < 0) return;  // the fallback timer wakes us
  // About to sleep: arm the waitable fd (NIC events and a 10 ms TCP timer).
  if (stack.Prime() < 0 && !primeFailed) {
    // Not armed: poll on the fallback timer rather than sleep forever.
    primeErrors++;
    primeFailed = true;
    uv_timer_start(&timer, [](uv_timer_t* h) { static_cast<ZfThread*>(h->data)->Wake(); }, 1, 1);
  }
}

ZfThread* Thread(Napi::Env env) { return tls && tls->env == env ? tls : nullptr; }

void Teardown(ZfThread* t) {
  t->torn = true;
  if (t->dispatch) napi_delete_reference(t->env, t->dispatch);
  if (t->recordsRef) napi_delete_reference(t->env, t->recordsRef);
  if (t->poolRef) napi_delete_reference(t->env, t->poolRef);
  if (t->ctx) napi_async_destroy(t->env, t->ctx);
  t->dispatch = t->recordsRef = t->poolRef = nullptr;
  t->ctx = nullptr;
  if (tls == t) tls = nullptr;
  // The stack (and its fd) goes after libuv has let go of the handles.
  auto closed = [](uv_handle_t* h) {
    auto* self = static_cast<ZfThread*>(h->data);
    if (--self->handles == 0) delete self;
  };
  if (t->pollInit) uv_close(reinterpret_cast<uv_handle_t*>(&t->poll), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&t->idle), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&t->timer), closed);
}

Napi::Value Err(Napi::Env env, int r, const char* step) {
  auto o = Napi::Object::New(env);
  o.Set("errno", Num(env, r));
  o.Set("syscall", Napi::String::New(env, step));
  return o;
}

// tcpdirectStart(dispatch) -> { records: ArrayBuffer, pool: ArrayBuffer } | { errno, syscall }
Napi::Value Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (Thread(env)) return Err(env, -EALREADY, "tcpdirectStart");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return Err(env, -EINVAL, "uv_loop");
  auto t = std::make_unique<ZfThread>();
  t->env = env;
  const char* step = "";
  int r = t->stack.Open(&step);
  if (r < 0) return Err(env, r, step);
  // Without a waitable fd there is no poll handle at all.
  t->pollInit = t->stack.fd() >= 0;
  if (t->pollInit && (r = uv_poll_init(loop, &t->poll, t->stack.fd())) < 0) return Err(env, r, "uv_poll_init");
  uv_idle_init(loop, &t->idle);
  uv_timer_init(loop, &t->timer);
  t->poll.data = t->idle.data = t->timer.data = t.get();
  t->handles = t->pollInit ? 3 : 2;
  if (t->pollInit) uv_unref(reinterpret_cast<uv_handle_t*>(&t->poll));
  uv_unref(reinterpret_cast<uv_handle_t*>(&t->idle));
  uv_unref(reinterpret_cast<uv_handle_t*>(&t->timer));
  if (t->pollInit)
    uv_poll_start(&t->poll, UV_READABLE, [](uv_poll_t* h, int, int) { static_cast<ZfThread*>(h->data)->Wake(); });
  else
    uv_timer_start(&t->timer, [](uv_timer_t* h) { static_cast<ZfThread*>(h->data)->Wake(); }, 1, 1);
  napi_create_reference(env, info[0], 1, &t->dispatch);
  napi_value name;
  napi_create_string_utf8(env, "ringwire:tcpdirect", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, nullptr, name, &t->ctx);

  auto records = Napi::ArrayBuffer::New(env, kMaxRecords * sizeof(zf::Record));
  t->records = static_cast<int32_t*>(records.Data());
  // The pool lives as long as the stack; JS loses its view at teardown.
  auto pool = Napi::ArrayBuffer::New(env, t->stack.pool(), t->stack.poolSize());
  napi_create_reference(env, records, 1, &t->recordsRef);
  napi_create_reference(env, pool, 1, &t->poolRef);
  ZfThread* raw = t.release();
  tls = raw;
  State(env)->teardown.push_back([raw]() {
    if (!raw->torn) Teardown(raw);
  });
  raw->stack.Prime();
  auto o = Napi::Object::New(env);
  o.Set("records", records);
  o.Set("pool", pool);
  o.Set("waitableFd", Num(env, raw->stack.fd() >= 0 ? 0 : raw->stack.waitErr()));
  return o;
}

// Every operation below runs on the thread's stack and then kicks the
// reactor, so what JS queued goes out (and loops back) this loop turn.
#define ZF_THREAD()                                 \
  ZfThread* t = Thread(info.Env());                 \
  if (!t) return Num(info.Env(), -EBADF)

int I(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int32Value(); }

sockaddr_in Addr(uint32_t ipHost, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ipHost);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

Napi::Value UdpOpen(const Napi::CallbackInfo& info) {
  ZF_THREAD();
  return Num(info.Env(), t->stack.UdpOpen());
}

// (id, ip, port) -> bound port | -errno
Napi::Value UdpBind(const Napi::CallbackInfo& info) {
  ZF_THREAD();
  sockaddr_in a = Addr(info[1].As<Napi::Number>().Uint32Value(), I(info, 2));
  int r = t->stack.UdpBind(I(info, 0), &a);
  if (r < 0) return Num(info.Env(), r);
  t->Kick();
  return Num(info.Env(), ntohs(a.sin_port));
}

// (id, ip, port, bytes) -> bytes sent | -errno
Napi::Value UdpSend(const Napi::CallbackInfo& info) {
  ZF_THREAD();
  size_t len = 0;
  uint8_t* p = BytesOf(info[3], &len);
  int r = t->stack.UdpSend(I(info, 0), Addr(info[1].As<Napi::Number>().Uint32Value(), I(info, 2)), p, len);
  t->Kick();
  return Num(info.Env(), r);
}

// (ip, port) -> id | -errno
Napi::Value TcpListen(const Napi::CallbackInfo& info) {
  ZF_THREAD();
  sockaddr_in a = Addr(info[0].As<Napi::Number>().Uint32Value(), I(info, 1));
  int r = t->stack.TcpListen(&a);
  t->Kick();
  return Num(info.Env(), r);
}

// (ip, port, localIp, localPort) -> id | -errno; localIp 0 = the route's choice
Napi::Value TcpConnect(const Napi::CallbackInfo& info) {
  ZF_THREAD();
  sockaddr_in remote = Addr(info[0].As<Napi::Number>().Uint32Value(), I(info, 1));
  uint32_t lip = info[2].As<Napi::Number>().Uint32Value();
  int lport = I(info, 3);
  sockaddr_in local = Addr(lip, lport);
  int r = t->stack.TcpConnect(remote, lip || lport ? &local : nullptr);
  t->Kick();
  return Num(info.Env(), r);
}

// (id, bytes) -> 0 all with the stack | 1 partly queued (Drain follows) | -errno
Napi::Value TcpSend(const Napi::CallbackInfo& info) {
  ZF_THREAD();
  size_t len = 0;
  uint8_t* p = BytesOf(info[1], &len);
  int r = len ? t->stack.TcpSend(I(info, 0), p, len) : 0;
  t->Kick();
  return Num(info.Env(), r);
}

Napi::Value TcpShutdown(const Napi::CallbackInfo& info) {
  ZF_THREAD();
  int r = t->stack.TcpShutdown(I(info, 0));
  t->Kick();
  return Num(info.Env(), r);
}

// (id, peer) -> [ip (host order), port] | -errno
Napi::Value Name(const Napi::CallbackInfo& info) {
  ZF_THREAD();
  sockaddr_in a{};
  int r = t->stack.TcpName(I(info, 0), Flag(info[1]), &a);
  if (r < 0) return Num(info.Env(), r);
  auto arr = Napi::Array::New(info.Env(), 2);
  arr.Set(0u, Num(info.Env(), ntohl(a.sin_addr.s_addr)));
  arr.Set(1u, Num(info.Env(), ntohs(a.sin_port)));
  return arr;
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  ZF_THREAD();
  int r = t->stack.Free(I(info, 0));
  t->Kick();
  return Num(info.Env(), r);
}

// A ref'd stack keeps the process alive (JS counts its open zockets).
Napi::Value SetRef(const Napi::CallbackInfo& info) {
  ZF_THREAD();
  auto* h = t->pollInit ? reinterpret_cast<uv_handle_t*>(&t->poll) : reinterpret_cast<uv_handle_t*>(&t->timer);
  if (Flag(info[0])) uv_ref(h);
  else uv_unref(h);
  return info.Env().Undefined();
}

// How long (us) to keep calling the reactor after the last traffic before
// sleeping: TCPDirect's latency comes from polling; 0 sleeps at once.
Napi::Value Spin(const Napi::CallbackInfo& info) {
  ZF_THREAD();
  t->spinNs = static_cast<uint64_t>(info[0].As<Napi::Number>().Uint32Value()) * 1000;
  return info.Env().Undefined();
}

// One reactor pass + dispatch from JS: what a busy-polling thread calls
// while it spins instead of sleeping in libuv. Returns records delivered.
Napi::Value PollNow(const Napi::CallbackInfo& info) {
  ZF_THREAD();
  // From inside a batch callback the batch's records and pool are in use.
  if (t->dispatching) return Num(info.Env(), 0);
  uint32_t n = t->stack.Poll();
  if (n) t->Dispatch();
  t->stack.ResetBatch();
  if (n) t->lastActive = uv_hrtime();
  return Num(info.Env(), n);
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  ZF_THREAD();
  return Num(info.Env(), t->primeErrors);
}

Napi::Value ProbeFn(const Napi::CallbackInfo& info) {
  zf::ProbeResult r = zf::Probe();
  auto o = Napi::Object::New(info.Env());
  o.Set("version", Napi::String::New(info.Env(), r.version));
  o.Set("init", Num(info.Env(), r.init));
  o.Set("stack", Num(info.Env(), r.stack));
  return o;
}

}  // namespace

void InitTcpdirect(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, f, name));
  };
  fn("tcpdirectProbe", ProbeFn);
  fn("tcpdirectStart", Start);
  fn("tcpdirectUdpOpen", UdpOpen);
  fn("tcpdirectUdpBind", UdpBind);
  fn("tcpdirectUdpSend", UdpSend);
  fn("tcpdirectTcpListen", TcpListen);
  fn("tcpdirectTcpConnect", TcpConnect);
  fn("tcpdirectTcpSend", TcpSend);
  fn("tcpdirectTcpShutdown", TcpShutdown);
  fn("tcpdirectName", Name);
  fn("tcpdirectFree", Free);
  fn("tcpdirectSetRef", SetRef);
  fn("tcpdirectPrimeErrors", Stats);
  fn("tcpdirectSpin", Spin);
  fn("tcpdirectPoll", PollNow);
  auto layout = Napi::Object::New(env);
  layout.Set("recordWords", Num(env, zf::kRecordWords));
  layout.Set("maxRecords", Num(env, kMaxRecords));
  layout.Set("udpData", Num(env, zf::kUdpData));
  layout.Set("tcpAccept", Num(env, zf::kTcpAccept));
  layout.Set("tcpConnect", Num(env, zf::kTcpConnect));
  layout.Set("tcpData", Num(env, zf::kTcpData));
  layout.Set("tcpEnd", Num(env, zf::kTcpEnd));
  layout.Set("tcpError", Num(env, zf::kTcpError));
  layout.Set("tcpDrain", Num(env, zf::kTcpDrain));
  exports.Set("tcpdirectLayout", layout);
}

}  // namespace rw

#endif  // RINGWIRE_HAVE_TCPDIRECT
