// Busy polling for the thread's loop: the spin that runs inside the
// uv_prepare hook while the mode is on, and its JS entry points. The
// policy (option defaults, validation, the handle users hold) is in
// lib/busy-poll.ts; the wake rules it must never weaken are in
// native/core/uring_loop.h (B1, B2 next to R1-R4).
//
// One slice, at most busySliceNs_ long and never past the next libuv timer:
//   - the ring: a read of the CQ tail and of the kernel's TASKRUN hint, and
//     one non-blocking enter only when the hint says completions are
//     waiting to be posted (B1). What it finds is reaped and dispatched to
//     JS at once, and what JS queued in reply is flushed (Settle) before
//     the next poll;
//   - sources (BusySource): an AF_XDP ring's RX producer index, read with a
//     relaxed load, and each io_uring UDP socket's direct receive, one
//     recvmmsg(MSG_DONTWAIT) (B3 in uring_loop.h: its multishot receive is
//     cancelled while the thread spins, re-armed before it sleeps); what is
//     ready is drained and dispatched at once. Sources are polled after the
//     ring, so CQEs a cancelled multishot posted go to JS first;
//   - everything libuv watches (epoll-backend sockets, packet rings, Node's
//     own handles, the eventfd of B2): one poll() with a zero timeout on
//     libuv's epoll fd. poll() on an epoll fd re-checks each ready item's
//     real state (fs/eventpoll.c ep_eventpoll_poll -> ep_item_poll) and
//     consumes nothing, so libuv's own epoll_wait still reports it; when
//     it is readable the slice ends and libuv's next (non-blocking) poll
//     runs those callbacks.
// Between slices the idle handle keeps libuv's poll timeout at 0, so timers,
// immediates and other handles run after at most one slice. A turn that has
// an immediate, a pending callback or a due timer (uv_backend_timeout == 0
// with our idle handle stopped) gets no slice at all.
//
// How often the epoll set is polled, by measurement (UDP ping-pong across
// CPUs, `ringwire perf compare --impls ringwire-busy`, this 2-vCPU VM where
// a null syscall costs 2.5-3 µs under load): a poll() on every empty spin
// put the ring socket's p50 at 14.9-15.1 µs, a poll() every 20 µs with pure
// memory reads in between at 11.6-12.1 µs: the arrival mostly lands inside
// the poll() and waits for it, while the memory read sees the TASKRUN hint
// within a spin. So the ring is read from memory on every spin and the
// epoll set is polled every kEpollIntervalNs, or on every empty spin while
// the epoll set is where work last came from (epoll-backend sockets, packet
// rings), so that those do not pay up to an interval per event.
#include <poll.h>

#include "loop_binding.h"

namespace rw {

void LoopBinding::BusyPollStart(double budgetUs, double sliceUs) {
  busyBudgetNs_ = budgetUs < 0 ? -1 : static_cast<int64_t>(budgetUs * 1000);
  busySliceNs_ = static_cast<int64_t>(sliceUs * 1000);
  busyOn_ = true;
  busyAsleep_ = false;
  lastWorkNs_ = BusyNowNs();
  // The loop may be asleep right now (we are called from JS, so it is not):
  // the next Prepare starts spinning.
}

void LoopBinding::BusyPollStop() {
  busyOn_ = false;
  busyAsleep_ = false;
  // Called from JS: Prepare's Settle submits what the sources re-arm
  // before libuv may sleep.
  LeaveBusySources();
  // The idle handle stops itself on its next callback; Prepare only
  // restarts it for unfinished work, so the thread sleeps again after at
  // most one non-blocking turn.
}

// Returns true while the thread should keep polling without sleeping.
bool LoopBinding::BusySpin() {
  int64_t start = BusyNowNs();
  if (busyAsleep_) {
    // This turn follows a sleep: whatever woke the loop is the new "last
    // event" the budget counts from (Onload's EF_POLL_USEC works the same).
    busyAsleep_ = false;
    lastWorkNs_ = start;
  }
  if (busyBudgetNs_ >= 0 && start - lastWorkNs_ > busyBudgetNs_) {
    busyAsleep_ = true;
    busyStats_.sleeps++;
    // The sources' wake paths (a UDP socket's multishot receive) are back
    // on the ring before libuv sleeps; Settle submits them and delivers
    // what they complete at once.
    LeaveBusySources();
    Settle();
    return false;
  }
  // Let libuv run what is already due before spinning: with our idle handle
  // stopped, a zero timeout means an immediate, a pending callback, a
  // closing handle or an expired timer.
  uv_idle_stop(&idle_);
  int timeoutMs = uv_backend_timeout(uvLoop_);
  if (timeoutMs == 0) return true;
  int64_t end = start + busySliceNs_;
  if (timeoutMs > 0) {
    // The timeout is counted from libuv's cached loop time (ms), which is
    // at most one turn old: a timer may be up to a slice late, not more.
    int64_t due = start + int64_t{timeoutMs} * 1000000;
    if (due < end) end = due;
  }
  busyStats_.slices++;
  const int epfd = uv_backend_fd(uvLoop_);
  // The epoll set is polled on every empty spin while it is where work
  // last came from, else every kEpollIntervalNs (see the top comment).
  int64_t now = start;
  int64_t lastEpoll = epollHot_ ? start - kEpollIntervalNs : start;
  // One handle scope for many dispatches, holding the dispatch function and
  // its resource for every CallJs in it: a scope per dispatch is a heap
  // allocation and two reference lookups on each message's path. Each
  // CallJs leaves two numbers in it, so it is renewed every
  // kSliceScopeDispatches polls that found work: a long slice (sliceUs up
  // to 1 s) under a flood holds a bounded number of handles.
  napi_handle_scope sliceScope = nullptr;
  auto openSliceScope = [&] {
    if (dispatch_ && !jsDead_ && napi_open_handle_scope(env_, &sliceScope) == napi_ok &&
        !JsTarget(&sliceFn_, &sliceResource_))
      sliceFn_ = sliceResource_ = nullptr;
  };
  auto closeSliceScope = [&] {
    sliceFn_ = sliceResource_ = nullptr;
    if (sliceScope) napi_close_handle_scope(env_, sliceScope);
    sliceScope = nullptr;
  };
  constexpr double kSliceScopeDispatches = 256;
  double scopeOpenedAt = busyStats_.found;  // the count when the scope opened
  openSliceScope();
  for (;;) {
    busyStats_.spins++;
    if (uringError_ == 0 && uring_.PollNoSleep(&busyStats_.syscalls)) {
      busyStats_.found++;
      lastWorkNs_ = now;
      epollHot_ = false;
      uring_.Reap();
      if (eventCount_ || !dirty_.empty()) Dispatch();
      Settle();  // replies go out before the next poll
      Bury();
    } else if (!busySources_.empty() && PollBusySources()) {
      busyStats_.found++;
      lastWorkNs_ = now;
      epollHot_ = false;
      Settle();
      Bury();
    } else if (epollHot_ || now - lastEpoll >= kEpollIntervalNs) {
      lastEpoll = now;
      pollfd p{epfd, POLLIN, 0};
      busyStats_.syscalls++;
      if (poll(&p, 1, 0) > 0) {
        busyStats_.found++;
        epollHot_ = true;
        lastWorkNs_ = BusyNowNs();
        now = lastWorkNs_;
        break;  // libuv's next poll (timeout 0) runs the callbacks
      }
    }
    now = BusyNowNs();
    if (now >= end || !busyOn_ || tornDown_) break;  // JS may have stopped us
    if (busyStats_.found - scopeOpenedAt >= kSliceScopeDispatches) {
      closeSliceScope();
      openSliceScope();
      scopeOpenedAt = busyStats_.found;
    }
    CpuRelax();
  }
  closeSliceScope();
  busyStats_.spinUs += static_cast<double>(now - start) / 1000;
  return busyOn_;
}

// Runs every memory source that has work; true when one had. Sources that
// closed meanwhile were nulled by RemoveBusySource and are dropped here.
bool LoopBinding::PollBusySources() {
  bool any = false, holes = false;
  for (size_t i = 0; i < busySources_.size(); i++) {
    BusySource* s = busySources_[i];
    if (!s) {
      holes = true;
      continue;
    }
    if (s->BusyReady()) {
      any = true;
      s->BusyRun();  // may close (and remove) this or another source
    }
  }
  if (holes) {
    size_t j = 0;
    for (BusySource* s : busySources_)
      if (s) busySources_[j++] = s;
    busySources_.resize(j);
  }
  return any;
}

void LoopBinding::LeaveBusySources() {
  for (BusySource* s : busySources_)
    if (s) s->BusyLeave();
}

Napi::ArrayBuffer LoopBinding::BusyStatsBuffer(Napi::Env env) {
  return Napi::ArrayBuffer::New(env, &busyStats_, sizeof(BusyPollStats));
}

namespace {

// busyPollStart(budgetUs (-1 = forever), sliceUs) -> 0 | -errno
Napi::Value BusyPollStartJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int err = 0;
  LoopBinding* lb = LoopBinding::Get(env, &err);
  if (!lb) return Num(env, err);
  lb->BusyPollStart(info[0].As<Napi::Number>().DoubleValue(), info[1].As<Napi::Number>().DoubleValue());
  return Num(env, 0);
}

// The counters as an ArrayBuffer over the loop's memory; JS asks once per
// thread (one external buffer per address) and reads it without calls.
Napi::Value BusyPollStatsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int err = 0;
  LoopBinding* lb = LoopBinding::Get(env, &err);
  if (!lb) return Num(env, err);
  return lb->BusyStatsBuffer(env);
}

Napi::Value BusyPollStopJs(const Napi::CallbackInfo& info) {
  LoopBinding* lb = LoopBinding::Existing(info.Env());
  if (lb) lb->BusyPollStop();
  return info.Env().Undefined();
}

}  // namespace

void InitBusyPoll(Napi::Env env, Napi::Object exports) {
  exports.Set("busyPollStart", Napi::Function::New(env, BusyPollStartJs, "busyPollStart"));
  exports.Set("busyPollStop", Napi::Function::New(env, BusyPollStopJs, "busyPollStop"));
  exports.Set("busyPollStats", Napi::Function::New(env, BusyPollStatsJs, "busyPollStats"));
  // Field order of BusyPollStats, so TS never retypes it.
  const char* names[] = {"spins", "found", "spinUs", "syscalls", "sleeps", "slices"};
  static_assert(sizeof(names) / sizeof(names[0]) == sizeof(BusyPollStats) / sizeof(double), "one name per counter");
  auto arr = Napi::Array::New(env);
  for (uint32_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) arr.Set(i, names[i]);
  exports.Set("busyPollStatNames", arr);
}

}  // namespace rw
