// Size (~506 lines): one handle type's uv plumbing, JS calls and stats export; coalescing already moved to core/packet_coalesce.
#include "packet_ring_binding.h"

#include "handle.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cstddef>

namespace rw {
namespace {
constexpr uint64_t kStatsIntervalMs = 200;
constexpr int kMaxRoundsPerWake = 8;  // batches per wake before yielding to the loop
}  // namespace

RingHandle* RingHandle::From(const Napi::Value& v) {
  // An untagged External (a region's handle, say) is not a ring: the
  // pointer is only read once the tag matched.
  return static_cast<RingHandle*>(TaggedExternal(v, kPacketRingTag));
}

RingHandle::~RingHandle() = default;

void RingHandle::Finalize(napi_env, void* data, void*) {
  // The External dies only after lib/packet-ring.ts's FinalizationRegistry
  // closed the ring (it holds the External until then), or at environment
  // teardown when no JS runs any more: views need no detaching here.
  auto* self = static_cast<RingHandle*>(data);
  self->externalAlive_ = false;
  if (!self->closed_) {
    self->closed_ = true;
    self->ReleaseKernel();
  }
  self->MaybeDelete();
}

void RingHandle::SetViews(napi_env env, napi_value area, napi_value control) {
  // Weak: close() detaches them if they are still alive.
  napi_create_reference(env, area, 0, &area_);
  napi_create_reference(env, control, 0, &control_);
}

void RingHandle::DetachViews() {
  napi_ref* refs[] = {&area_, &control_};
  for (napi_ref* r : refs) {
    if (!*r) continue;
    napi_value v = nullptr;
    bool detached = true;
    if (napi_get_reference_value(env_, *r, &v) == napi_ok && v &&
        napi_is_detached_arraybuffer(env_, v, &detached) == napi_ok && !detached)
      napi_detach_arraybuffer(env_, v);
  }
}

int RingHandle::Start(napi_value dispatch, bool active, const CoalescePolicy& coalesce) {
  if (closed_ || started_) return -EBADF;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env_, &loop) != napi_ok || !loop) return -EINVAL;
  if (coalesce.maxUs) {
    holdoffFd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (holdoffFd_ < 0) return -errno;
  }
  int r = uv_poll_init(loop, &poll_, ring_->backend()->fd());
  poll_.data = this;
  holdoffPoll_.data = this;
  if (r == 0 && holdoffFd_ >= 0 && (r = uv_poll_init(loop, &holdoffPoll_, holdoffFd_)) < 0) {
    // The first handle must be closed through libuv; this object lives
    // until its close callback.
    handlesOpen_ = 1;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* h) {
      static_cast<RingHandle*>(h->data)->OnHandleClosed();
    });
  }
  if (r < 0) {
    if (holdoffFd_ >= 0) close(holdoffFd_);
    holdoffFd_ = -1;
    return r;
  }
  coalesce_.SetPolicy(coalesce);
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  handlesOpen_ = holdoffFd_ >= 0 ? 3 : 2;
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<RingHandle*>(t->data)->OnTimer(); },
                 kStatsIntervalMs, kStatsIntervalMs);
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
  // Strong while a receive callback is installed (an active handle keeps
  // its JS object alive, like a Node socket); weak otherwise.
  napi_create_reference(env_, dispatch, active ? 1 : 0, &dispatch_);
  napi_value name;
  napi_create_string_utf8(env_, "ringwire:PacketRing", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env_, nullptr, name, &asyncCtx_);
  napi_add_async_cleanup_hook(env_, AsyncCleanup, this, &cleanup_);
  started_ = true;
  active_ = active;
  // AF_XDP's RX ring can be read from memory: a busy-polling loop checks it
  // every spin (the epoll path still works, and is what wakes a sleeper).
  {
    int err = 0;
    LoopBinding* lb = ring_->backend()->RxInMemory() ? LoopBinding::Get(Napi::Env(env_), &err) : nullptr;
    if (lb) {
      lb->AddBusySource(this);
      busyRegistered_ = true;
    }
  }
  UpdatePoll();
  if (!ref_) uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  return 0;
}

void RingHandle::SetActive(bool active) {
  if (!started_ || closed_ || active == active_) return;
  uint32_t count = 0;
  if (active)
    napi_reference_ref(env_, dispatch_, &count);
  else
    napi_reference_unref(env_, dispatch_, &count);
  active_ = active;
  UpdatePoll();
}

void RingHandle::SetRef(bool ref) {
  ref_ = ref;
  if (!started_ || closed_) return;
  auto* h = reinterpret_cast<uv_handle_t*>(&poll_);
  auto* ho = reinterpret_cast<uv_handle_t*>(&holdoffPoll_);
  if (ref) {
    uv_ref(h);
    if (holdoffFd_ >= 0) uv_ref(ho);
  } else {
    uv_unref(h);
    if (holdoffFd_ >= 0) uv_unref(ho);
  }
}

void RingHandle::UpdatePoll() {
  if (!started_ || closed_) return;
  int want = 0;
  // While holding off, the timerfd (not the ring's fd) wakes us for RX.
  if (active_ && !coalesce_.holding() && !ring_->RxStarved()) want |= UV_READABLE;
  // Writable while frames wait for the kernel, or while someone waits for
  // TX frames that completions will free.
  if (ring_->TxBacklog() || (ring_->txWanted() && ring_->inFlight() > 0)) want |= UV_WRITABLE;
  if (want == pollEvents_) return;
  pollEvents_ = want;
  if (!want) {
    uv_poll_stop(&poll_);
    return;
  }
  uv_poll_start(&poll_, want, [](uv_poll_t* h, int status, int events) {
    static_cast<RingHandle*>(h->data)->OnPoll(status, events);
  });
}

void RingHandle::CallJs(uint32_t count, uint32_t flags, int err) {
  if (tornDown_ || closed_ || !dispatch_) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  napi_value fn = nullptr;
  napi_get_reference_value(env_, dispatch_, &fn);
  if (fn) {
    napi_value recv, argv[3], result;
    napi_get_global(env_, &recv);  // napi_make_callback needs an object
    napi_create_uint32(env_, count, &argv[0]);
    napi_create_uint32(env_, flags, &argv[1]);
    napi_create_int32(env_, err, &argv[2]);
    dispatchDepth_++;
    // MakeCallback semantics: microtasks (promise reactions) run when the
    // outermost callback scope closes, as after any Node I/O callback.
    napi_status st = napi_make_callback(env_, asyncCtx_, recv, fn, 3, argv, &result);
    dispatchDepth_--;
    if (st == napi_pending_exception) {
      // A throwing user callback is an uncaught exception, as with Node's
      // own event listeners.
      napi_value e;
      napi_get_and_clear_last_exception(env_, &e);
      napi_fatal_exception(env_, e);
    }
  }
  napi_close_handle_scope(env_, scope);
}

void RingHandle::AfterDispatch() {
  // Frames JS released or queued during the batch go back in one step.
  ring_->DrainReleases();
  ring_->SubmitStaged();
}

uint32_t RingHandle::DrainRx() {
  uint32_t total = 0;
  const uint32_t batch = ring_->config().batchSize;
  for (int round = 0; round < kMaxRoundsPerWake && !closed_ && active_; round++) {
    uint32_t n = ring_->Receive();
    if (!n) break;
    total += n;
    CallJs(n, kDispatchRx, 0);
    if (closed_) break;
    AfterDispatch();
    if (n < batch) break;
  }
  if (!closed_ && ring_->txWanted() && ring_->freeTx()) {
    ring_->ClearTxWanted();
    CallJs(0, kDispatchTxReady, 0);
    if (!closed_) AfterDispatch();
  }
  return total;
}

int RingHandle::ArmHoldoff(uint32_t us) {
  // One-shot, re-armed after each drain: the holdoff counts from the end of
  // the last batch, as NAPI's gro_flush_timeout does. (A periodic timer
  // saves the re-arm syscall but, with the drain's own time inside the
  // period, wakes more often: 28 instead of 57 frames per wake at 100 us in
  // `ringwire perf packet-ring`, and 1.6x the CPU per frame.)
  itimerspec its{};
  its.it_value.tv_sec = us / 1000000;
  its.it_value.tv_nsec = static_cast<long>(us % 1000000) * 1000;
  if (timerfd_settime(holdoffFd_, 0, &its, nullptr) < 0) return -errno;
  coalesce_.Armed(us);
  return 0;
}

void RingHandle::EnterHoldoff() {
  // Frames are flowing faster than one per wake: drain on the timer instead
  // of on the next frame. The ring's own fd is not watched meanwhile
  // (UpdatePoll). The first period is the longest; AdaptHoldoff shortens it
  // when traffic is fast enough to fill a batch sooner.
  if (coalesce_.holding() || ArmHoldoff(coalesce_.policy().maxUs) < 0) return;
  coalesce_.Enter();
  ring_->stats()->holdoffs++;
  uv_poll_start(&holdoffPoll_, UV_READABLE, [](uv_poll_t* h, int status, int) {
    if (status >= 0) static_cast<RingHandle*>(h->data)->OnHoldoff();
  });
}

void RingHandle::ExitHoldoff() {
  // Traffic slowed down: back to waking on the ring's fd (level-triggered,
  // so frames that came in between wake it at once). Called right after
  // the one-shot timer fired, so there is nothing to disarm.
  coalesce_.Exit();
  uv_poll_stop(&holdoffPoll_);
}

void RingHandle::AdaptHoldoff(uint32_t got) {
  // Too sparse to hold off (Coalescer::NextPeriod): back to the fd.
  uint32_t us = 0;
  if (!coalesce_.NextPeriod(got, &us) || ArmHoldoff(us) < 0) ExitHoldoff();
}

void RingHandle::FinishWake(bool ok) {
  dispatchDepth_--;
  if (closeDeferred_ && dispatchDepth_ == 0) {
    closeDeferred_ = false;
    ReleaseKernel();
  } else if (ok) {
    UpdatePoll();
  }
}

void RingHandle::OnPoll(int status, int events) {
  if (closed_) return;
  ring_->stats()->wakeups++;
  dispatchDepth_++;
  if (status < 0) {
    // The descriptor is broken (device gone?): report once, stop polling.
    uv_poll_stop(&poll_);
    pollEvents_ = 0;
    CallJs(0, kDispatchError, status);
  } else {
    if (events & UV_WRITABLE) ring_->Kick();
    uint32_t got = DrainRx();
    if (coalesce_.ShouldEnter(got) && !closed_) EnterHoldoff();
  }
  FinishWake(status >= 0);
}

bool RingHandle::BusyReady() {
  return !closed_ && active_ && ring_->backend()->RxPending();
}

void RingHandle::BusyRun() {
  // A busy-polling thread drains at once: coalescing (holdoff) is for
  // sleeping threads, so a holdoff the sleeping path entered is cancelled
  // (the timer disarmed, the ring's fd watched again) and none is entered.
  if (closed_) return;
  if (coalesce_.holding()) {
    ArmHoldoff(0);  // it_value 0 disarms the timerfd
    ExitHoldoff();
  }
  dispatchDepth_++;
  DrainRx();
  FinishWake(true);
}

void RingHandle::OnHoldoff() {
  if (closed_) return;
  uint64_t expirations;
  if (read(holdoffFd_, &expirations, sizeof(expirations)) < 0 && errno == EAGAIN) return;
  ring_->stats()->wakeups++;
  dispatchDepth_++;
  uint32_t got = DrainRx();
  if (!closed_ && coalesce_.holding()) AdaptHoldoff(got);
  FinishWake(true);
}

void RingHandle::OnTimer() {
  if (closed_) return;
  ring_->RefreshKernelStats();
  dispatchDepth_++;
  ring_->DrainReleases();  // also retries frames the fill side could not take
  ring_->Kick();  // reaps completions; pushes a stuck backlog
  PacketBackend* b = ring_->backend();
  // Safety net for a need_wakeup flag set just after we last looked.
  if (b->RxNeedsKick()) {
    ring_->stats()->rxKicks++;
    if (b->KickRx() < 0) ring_->stats()->kickErrors++;
  }
  if (ring_->txWanted() && ring_->freeTx()) {
    ring_->ClearTxWanted();
    CallJs(0, kDispatchTxReady, 0);
    if (!closed_) AfterDispatch();
  }
  dispatchDepth_--;
  if (closeDeferred_ && dispatchDepth_ == 0) {
    closeDeferred_ = false;
    ReleaseKernel();
  } else {
    UpdatePoll();
  }
}

int RingHandle::Flush() {
  if (!ring()) return -EBADF;
  ring_->DrainReleases();
  int r = ring_->SubmitStaged();
  UpdatePoll();
  return r;
}

int RingHandle::Reserve(uint32_t n) {
  if (!ring()) return -EBADF;
  uint32_t k = ring_->Reserve(n);
  UpdatePoll();
  return static_cast<int>(k);
}

int RingHandle::Close() {
  if (closed_) return closeDeferred_ ? 1 : 0;
  closed_ = true;
  // JS can never touch the frame area or the control block again.
  if (!tornDown_) DetachViews();
  if (dispatchDepth_ > 0) {
    // Called from inside a batch callback: native code further up the
    // stack still uses the ring; OnPoll/OnTimer finish the close.
    closeDeferred_ = true;
    return 1;
  }
  ReleaseKernel();
  return 0;
}

void RingHandle::ReleaseKernel() {
  if (busyRegistered_) {
    busyRegistered_ = false;
    // The loop may already be going away (environment teardown); then it
    // runs no spin any more and needs no update.
    if (LoopBinding* lb = LoopBinding::Existing(Napi::Env(env_))) lb->RemoveBusySource(this);
  }
  if (started_) {
    started_ = false;
    // uv_close deregisters the fd from epoll at once, so closing the
    // socket right after is safe; the memory of the handles stays until
    // the close callbacks.
    auto onClose = [](uv_handle_t* h) { static_cast<RingHandle*>(h->data)->OnHandleClosed(); };
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), onClose);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), onClose);
    if (holdoffFd_ >= 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&holdoffPoll_), onClose);
      close(holdoffFd_);
      holdoffFd_ = -1;
    }
  }
  // Backend (sockets, XSKMAP slot, link) first, then the memory.
  if (ring_) ring_->Close();
  ring_.reset();
  attachment_.reset();
  if (dispatch_) napi_delete_reference(env_, dispatch_);
  if (area_) napi_delete_reference(env_, area_);
  if (control_) napi_delete_reference(env_, control_);
  dispatch_ = area_ = control_ = nullptr;
  if (asyncCtx_) napi_async_destroy(env_, asyncCtx_);
  asyncCtx_ = nullptr;
}

void RingHandle::OnHandleClosed() {
  if (--handlesOpen_ > 0) return;
  if (cleanup_) {
    napi_async_cleanup_hook_handle h = cleanup_;
    cleanup_ = nullptr;
    napi_remove_async_cleanup_hook(h);
  }
  MaybeDelete();
}

void RingHandle::MaybeDelete() {
  if (!externalAlive_ && closed_ && handlesOpen_ == 0 && dispatchDepth_ == 0) delete this;
}

void RingHandle::AsyncCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  // Worker termination or exit: no JS runs any more. Close the uv handles
  // (an open uv_poll at loop teardown aborts the process) and the kernel
  // objects; the hook is removed once libuv has closed both handles.
  auto* self = static_cast<RingHandle*>(arg);
  self->cleanup_ = handle;
  self->tornDown_ = true;
  if (!self->closed_) {
    self->closed_ = true;
    self->ReleaseKernel();
  }
}

namespace {

Napi::Value Start(const Napi::CallbackInfo& info) {
  RingHandle* h = RingHandle::From(info[0]);
  if (!h) return Num(info.Env(), -EBADF);
  // info[3]: [minUs, maxUs, enterFrames, stayFrames, targetFrames], checked
  // in lib/packet-ring.ts.
  CoalescePolicy c;
  if (info[3].IsArray()) {
    auto a = info[3].As<Napi::Array>();
    auto at = [&](uint32_t i) {
      Napi::Value v = a.Get(i);
      return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : 0u;
    };
    c = CoalescePolicy{at(0), at(1), at(2), at(3), at(4)};
  }
  return Num(info.Env(), h->Start(info[1], Flag(info[2]), c));
}

Napi::Value SetActive(const Napi::CallbackInfo& info) {
  if (RingHandle* h = RingHandle::From(info[0])) h->SetActive(Flag(info[1]));
  return info.Env().Undefined();
}

Napi::Value SetRef(const Napi::CallbackInfo& info) {
  if (RingHandle* h = RingHandle::From(info[0])) h->SetRef(Flag(info[1]));
  return info.Env().Undefined();
}

Napi::Value Flush(const Napi::CallbackInfo& info) {
  RingHandle* h = RingHandle::From(info[0]);
  return Num(info.Env(), h ? h->Flush() : -EBADF);
}

Napi::Value Reserve(const Napi::CallbackInfo& info) {
  RingHandle* h = RingHandle::From(info[0]);
  return Num(info.Env(), h ? h->Reserve(info[1].As<Napi::Number>().Uint32Value()) : -EBADF);
}

Napi::Value RefreshStats(const Napi::CallbackInfo& info) {
  RingHandle* h = RingHandle::From(info[0]);
  if (h && h->ring()) h->ring()->RefreshKernelStats();
  return info.Env().Undefined();
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  RingHandle* h = RingHandle::From(info[0]);
  return Num(info.Env(), h ? h->Close() : 0);
}

}  // namespace

void InitPacketRing(Napi::Env env, Napi::Object exports) {
  exports.Set("packetRingStart", Napi::Function::New(env, Start, "packetRingStart"));
  exports.Set("packetRingSetActive", Napi::Function::New(env, SetActive, "packetRingSetActive"));
  exports.Set("packetRingSetRef", Napi::Function::New(env, SetRef, "packetRingSetRef"));
  exports.Set("packetRingFlush", Napi::Function::New(env, Flush, "packetRingFlush"));
  exports.Set("packetRingReserve", Napi::Function::New(env, Reserve, "packetRingReserve"));
  exports.Set("packetRingRefreshStats", Napi::Function::New(env, RefreshStats, "packetRingRefreshStats"));
  exports.Set("packetRingClose", Napi::Function::New(env, Close, "packetRingClose"));
  auto l = Napi::Object::New(env);
  l.Set("ctrlRxCount", Num(env, kCtrlRxCount));
  l.Set("ctrlReleaseCount", Num(env, kCtrlReleaseCount));
  l.Set("ctrlStageCount", Num(env, kCtrlStageCount));
  l.Set("ctrlReserveCount", Num(env, kCtrlReserveCount));
  l.Set("ctrlFreeTx", Num(env, kCtrlFreeTx));
  l.Set("frameFree", Num(env, kFrameFree));
  l.Set("frameKernel", Num(env, kFrameKernel));
  l.Set("frameUser", Num(env, kFrameUser));
  l.Set("frameReleased", Num(env, kFrameReleased));
  l.Set("frameReserved", Num(env, kFrameReserved));
  l.Set("frameStaged", Num(env, kFrameStaged));
  l.Set("frameInFlight", Num(env, kFrameInFlight));
  l.Set("frameRxHome", Num(env, kFrameRxHome));
  l.Set("frameStateMask", Num(env, kFrameStateMask));
  l.Set("descSize", Num(env, sizeof(PacketDesc)));
  l.Set("statsFields", Num(env, sizeof(PacketStats) / sizeof(double)));
  l.Set("statNames", NameList(env, {RW_PACKET_STATS(RW_STAT_NAME)}));
  l.Set("dispatchRx", Num(env, kDispatchRx));
  l.Set("dispatchTxReady", Num(env, kDispatchTxReady));
  l.Set("dispatchError", Num(env, kDispatchError));
  exports.Set("packetRingLayout", l);
  InitPacketRingOpen(env, exports);
}

}  // namespace rw
