// Opening a packet ring runs on the libuv thread pool: loading the BPF
// program (the verifier), binding an AF_XDP socket (a driver may
// reconfigure its queue) and mapping the rings can take milliseconds and
// must not stall the JS thread. The result becomes a RingHandle back on
// the JS thread; a failure rejects with { errno, syscall, detail }.
#include <arpa/inet.h>
#include <unistd.h>

#include <cstring>

#include "../core/packet_sock.h"
#include "../core/xdp.h"
#include "packet_ring_binding.h"
#ifdef RINGWIRE_HAVE_EFVI
#include "../efvi/efvi.h"
#endif

namespace rw {
namespace {

enum BackendKind : int { kAfXdp = 0, kSocket = 1, kEfvi = 2 };
enum WakeupOption : int { kWakeupOff = 0, kWakeupOn = 1, kWakeupAuto = 2 };

uint32_t CeilPow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

struct OpenJob {
  // Input (validated in lib/packet-ring.ts).
  int backend = kAfXdp;
  std::string ifname;
  int ifindex = 0;
  uint32_t queue = 0, queueCount = 1;
  uint16_t port = 0;
  PacketRingConfig ring;
  XskBindMode bindMode = XskBindMode::kAuto;
  XdpAttachMode xdpMode = XdpAttachMode::kAuto;
  int needWakeup = kWakeupAuto;
  uint32_t busyPollUs = 0;
  uint8_t mac[6] = {0, 0, 0, 0, 0, 0};
  uint32_t localIp = 0;
  std::shared_ptr<XdpAttachment> shared;
  // Output.
  std::unique_ptr<PacketRing> result;
  std::shared_ptr<XdpAttachment> attachment;
  OpenError err;
  bool zeroCopy = false, dualStack = false, needWakeupOn = false;
  // Async plumbing.
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
};

int OpenXdp(OpenJob* j, PacketRing* ring) {
  std::shared_ptr<XdpAttachment> at = j->shared;
  if (at && j->xdpMode != XdpAttachMode::kAuto && (j->xdpMode == XdpAttachMode::kNative) != at->native())
    return j->err.Set(-EBUSY, "bpf(BPF_LINK_CREATE)",
                      "this thread's XDP program on the interface is attached in " +
                          std::string(at->native() ? "native" : "skb") + " mode");
  if (!at) {
    int r = XdpAttachment::Create(j->ifindex, j->queueCount, j->xdpMode, &at, &j->err);
    if (r < 0) return r;
  }
  XskConfig c;
  c.ifindex = j->ifindex;
  c.queue = j->queue;
  c.area = ring->area();
  c.areaBytes = ring->areaBytes();
  c.frameSize = j->ring.frameSize;
  // The kernel publishes its consumer index lazily (only when its cached
  // view runs dry), so a producer ring sized to the frame count can look
  // full while the kernel holds stale entries: twice the frames we can
  // ever have outstanding keeps fill and TX from ever blocking. TX holds
  // every frame (RX frames may be sent back in place).
  uint32_t rx = CeilPow2(j->ring.rxFrames ? j->ring.rxFrames : 1);
  c.fillSize = 2 * rx;
  c.rxSize = rx;
  c.compSize = 2 * j->ring.frameCount;
  // Receive-only rings (no TX frames) get no TX ring at all.
  c.txSize = j->ring.rxFrames < j->ring.frameCount ? 2 * j->ring.frameCount : 0;
  c.busyPollUs = j->busyPollUs;
  c.busyPollBudget = j->ring.batchSize;
  // need_wakeup pays off with zero-copy drivers; in copy mode it only makes
  // every poll() run the TX path. 'auto' binds zero-copy with it, and falls
  // back to copy mode without it.
  std::unique_ptr<XdpBackend> b;
  int r = -EINVAL;
  bool autoBoth = j->bindMode == XskBindMode::kAuto && j->needWakeup == kWakeupAuto;
  if (autoBoth) {
    b = std::make_unique<XdpBackend>(at);
    c.mode = XskBindMode::kZeroCopy;
    c.needWakeup = true;
    r = b->Open(c, &j->err);
    if (r == -EBUSY) return r;
    if (r < 0) j->err = OpenError();
  }
  if (r < 0) {
    b = std::make_unique<XdpBackend>(at);
    c.mode = autoBoth ? XskBindMode::kCopy : j->bindMode;
    c.needWakeup = j->needWakeup == kWakeupAuto ? c.mode == XskBindMode::kZeroCopy : j->needWakeup == kWakeupOn;
    if ((r = b->Open(c, &j->err)) < 0) return r;
  }
  j->zeroCopy = b->socket().zeroCopy();
  j->needWakeupOn = b->socket().needWakeup();
  XdpBackend* raw = b.get();
  // Fill first, then steer: no datagram arrives to an empty fill ring.
  ring->Attach(std::move(b));
  if ((r = raw->Steer(j->port, &j->err)) < 0) return r;
  j->attachment = std::move(at);
  return 0;
}

void Execute(napi_env, void* data) {
  auto* j = static_cast<OpenJob*>(data);
  std::unique_ptr<PacketRing> ring;
  int r = PacketRing::Create(j->ring, &ring);
  if (r < 0) {
    j->err.Set(r, "mmap", "frame area");
    return;
  }
  if (j->backend == kAfXdp) {
    r = OpenXdp(j, ring.get());
  } else if (j->backend == kSocket) {
    auto b = std::make_unique<SockBackend>();
    SockBackendConfig c;
    c.ifname = j->ifname;
    c.port = j->port;
    memcpy(c.mac, j->mac, 6);
    c.area = ring->area();
    c.frameSize = j->ring.frameSize;
    c.batchSize = j->ring.batchSize;
    c.busyPollUs = j->busyPollUs;
    r = b->Open(c, &j->err);
    j->dualStack = b->dualStack();
    if (r == 0) ring->Attach(std::move(b));
  } else {
#ifdef RINGWIRE_HAVE_EFVI
    auto b = std::make_unique<EfviBackend>();
    EfviConfig c;
    c.ifindex = j->ifindex;
    c.localIp = j->localIp;
    c.port = j->port;
    c.area = ring->area();
    c.areaBytes = ring->areaBytes();
    c.frameSize = j->ring.frameSize;
    c.frameCount = j->ring.frameCount;
    r = b->Open(c, &j->err);
    if (r == 0) ring->Attach(std::move(b));
#else
    r = j->err.Set(-EOPNOTSUPP, "ef_vi", "ringwire was built without ef_vi (RINGWIRE_EFVI_ROOT)");
#endif
  }
  if (r < 0) {
    if (!j->err.err) j->err.Set(r, "open");
    return;  // ~PacketRing closes whatever was opened, in reverse order
  }
  j->result = std::move(ring);
}

void Complete(napi_env env, napi_status status, void* data) {
  std::unique_ptr<OpenJob> j(static_cast<OpenJob*>(data));
  napi_delete_async_work(env, j->work);
  Napi::Env e(env);
  Napi::HandleScope scope(e);
  if (status != napi_ok || !j->result) {
    auto err = Napi::Object::New(e);
    err.Set("errno", Num(e, j->err.err ? j->err.err : -ECANCELED));
    err.Set("syscall", j->err.syscall.empty() ? std::string("open") : j->err.syscall);
    err.Set("detail", j->err.detail);
    napi_reject_deferred(env, j->deferred, err);
    return;
  }
  PacketRing* ring = j->result.get();
  auto* h = new RingHandle(env, std::move(j->result), j->attachment);
  auto ext = Napi::External<RingHandle>::New(e, h, [](Napi::Env env, RingHandle* p) {
    RingHandle::Finalize(env, p, nullptr);
  });
  TagExternal(env, ext, kPacketRingTag);
  auto area = Napi::ArrayBuffer::New(e, ring->area(), ring->areaBytes());
  auto control = Napi::ArrayBuffer::New(e, ring->control(), ring->layout().total);
  h->SetViews(env, area, control);
  const PacketRingLayout& l = ring->layout();
  auto sections = Napi::Object::New(e);
  sections.Set("ctrl", Num(e, l.ctrl));
  sections.Set("stats", Num(e, l.stats));
  sections.Set("rxDescs", Num(e, l.rxDescs));
  sections.Set("release", Num(e, l.release));
  sections.Set("stage", Num(e, l.stage));
  sections.Set("reserved", Num(e, l.reserved));
  sections.Set("owner", Num(e, l.owner));
  auto o = Napi::Object::New(e);
  o.Set("handle", ext);
  o.Set("area", area);
  o.Set("control", control);
  o.Set("sections", sections);
  o.Set("zeroCopy", j->zeroCopy);
  o.Set("needWakeup", j->needWakeupOn);
  o.Set("dualStack", j->dualStack);
  if (j->attachment) {
    o.Set("xdpNative", j->attachment->native());
    o.Set("xdpNote", j->attachment->modeNote());
  }
  if (napi_resolve_deferred(env, j->deferred, o) != napi_ok) {
    // The environment is going away: nobody will start or close this ring.
    h->Close();
  }
}

// packetRingOpen(opts) -> Promise<{ handle, area, control, sections, ... }>
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  auto j = std::make_unique<OpenJob>();
  auto u32 = [&](const char* k) { return o.Get(k).As<Napi::Number>().Uint32Value(); };
  j->backend = static_cast<int>(u32("backend"));
  j->ifname = o.Get("ifname").As<Napi::String>().Utf8Value();
  j->ifindex = static_cast<int>(u32("ifindex"));
  j->queue = u32("queue");
  j->queueCount = u32("queueCount");
  j->port = static_cast<uint16_t>(u32("port"));
  j->ring.frameSize = u32("frameSize");
  j->ring.frameCount = u32("frameCount");
  j->ring.rxFrames = u32("rxFrames");
  j->ring.batchSize = u32("batchSize");
  j->bindMode = static_cast<XskBindMode>(u32("bindMode"));
  j->xdpMode = static_cast<XdpAttachMode>(u32("xdpMode"));
  j->needWakeup = static_cast<int>(u32("needWakeup"));
  j->busyPollUs = u32("busyPoll");
  j->localIp = htonl(u32("localIp"));
  size_t n = 0;
  if (uint8_t* mac = BytesOf(o.Get("mac"), &n); mac && n == 6) memcpy(j->mac, mac, 6);
  if (RingHandle* other = RingHandle::From(o.Get("share"))) j->shared = other->attachment();

  napi_value promise;
  napi_create_promise(env, &j->deferred, &promise);
  napi_value name;
  napi_create_string_utf8(env, "ringwire:packetRingOpen", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, nullptr, name, Execute, Complete, j.get(), &j->work);
  napi_queue_async_work(env, j->work);
  j.release();  // owned by the work until Complete
  return Napi::Value(env, promise);
}

// bpfProgLoadXdp(insns: Uint8Array) -> { result, log }: loads raw
// instructions as an XDP program and closes it again. Used by the tests
// to check that verifier rejections carry the verifier's log.
Napi::Value LoadRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t n = 0;
  uint8_t* p = BytesOf(info[0], &n);
  std::string log;
  int fd = p ? BpfLoadXdp(reinterpret_cast<const bpf_insn*>(p), static_cast<uint32_t>(n / sizeof(bpf_insn)), &log)
             : -EINVAL;
  if (fd >= 0) close(fd);
  auto o = Napi::Object::New(env);
  o.Set("result", Num(env, fd >= 0 ? 0 : fd));
  o.Set("log", log);
  return o;
}

}  // namespace

void InitPacketRingOpen(Napi::Env env, Napi::Object exports) {
  exports.Set("packetRingOpen", Napi::Function::New(env, Open, "packetRingOpen"));
  exports.Set("bpfProgLoadXdp", Napi::Function::New(env, LoadRaw, "bpfProgLoadXdp"));
  exports.Set("packetSockHeadroom", Num(env, SockBackend::kHeadroom + SockBackend::kMaxHeaders));
}

}  // namespace rw
