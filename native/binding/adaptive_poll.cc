// Adaptive poll before sleeping: the loop's default, between "always sleep"
// and busyPoll(). The policy (the ceiling, RINGWIRE_ADAPTIVE_POLL_US, the
// public setter) is in lib/busy-poll.ts; the wake rules it must never
// weaken are in native/core/uring_loop.h (B4 there).
//
// Why: on a VM a thread that sleeps in epoll_wait gives its vCPU back to the
// host, and waking it for the next message costs tens of µs (an IPI to a
// halted vCPU, a VM entry) — more than the whole round trip of a
// request-response exchange. The kernel solves this for its own idle loop
// with halt polling (KVM's halt_poll_ns, default 200 µs; the guest's
// cpuidle-haltpoll driver, guest_halt_poll_ns, default 200 µs,
// Documentation/virt/guest-halt-polling.rst), which this machine's guest
// does not run (no cpuidle driver). This is the same idea in user space,
// with the same adaptive window:
//   - Before libuv would sleep (the loop quiescent, no timer due, no
//     immediate pending), Prepare() polls for up to `window_` ns: the ring's
//     CQ tail and TASKRUN hint in memory (B1), libuv's epoll set by a
//     non-blocking poll() (every kEpollIntervalNs, or every spin while it
//     is where work last came from, or always in eventfd mode where ring
//     work is not visible in memory, B2), and, like busy polling, the
//     direct receive of io_uring sockets that received during the poll
//     (TCP connections only while their reads are small, see
//     LoopBinding::kDirectBulkBytes)
//     (B3: their multishot is cancelled while the thread polls and
//     re-armed before it sleeps). What it finds is dispatched at once and
//     the window restarts, for at most kApSliceNs per loop turn; a timer
//     due, an immediate queued or another handle ready ends the poll and
//     libuv's next poll does not block.
//   - The window adapts like guest halt polling's: a wake-up that came
//     within the ceiling after the poll gave up (or after a sleep with no
//     poll) means a longer poll would have caught it, so the window grows
//     to twice that total; a sleep longer than the ceiling means polling
//     was wasted, so it halves, and below kMinNs it is 0 (no poll). A poll
//     that found work late in its window doubles it. A poll that found
//     nothing followed by a wake-up sooner than half the poll's length
//     (the work needed this CPU), or kApMissRun polls in a row that found
//     nothing, pause it for a number of wake-ups that doubles while that
//     repeats (AdaptiveWoke). An idle thread's
//     window therefore falls to 0 after a few wake-ups and it costs
//     nothing; a thread that gets a message every few µs keeps its CPU.
//   - The ceiling is the price: at most that much CPU time per wake-up
//     (default 50 µs, 0 turns it off); stats show the time spent.
//   - It never yields the CPU. A peer on the same CPU (a client pinned next
//     to its server) is woken by our reply and, by the scheduler's wake-up
//     preemption, usually runs before the poll starts, so its request is
//     there when the poll looks; when it is not, the poll costs at most the
//     window. A sched_yield() in the poll was tried and removed: with a
//     CPU-bound task on the same CPU, each yield handed that task a whole
//     slice (UDP ping-pong on one CPU next to a `for (;;)` loop: 4.5k round
//     trips/s, p99 3.9 ms, against 25k without the yield).
// It never replaces a wake rule: when the window is over, Prepare goes on to
// the same quiescence test and the thread sleeps under R1-R4 / E1-E2.
#include <poll.h>

#include "loop_binding.h"

namespace rw {

void LoopBinding::AdaptivePollSet(double maxUs) {
  apMaxNs_ = maxUs <= 0 ? 0 : static_cast<int64_t>(maxUs * 1000);
  if (apWindowNs_ > apMaxNs_) apWindowNs_ = apMaxNs_;
  apSleptAtNs_ = 0;
}

// The wake-up after a poll that gave up (or a sleep without one): learn
// from how long the thread slept.
void LoopBinding::AdaptiveWoke(int64_t now) {
  if (!apSleptAtNs_) return;
  int64_t slept = now - apSleptAtNs_;
  int64_t total = apSpunNs_ + slept;
  apSleptAtNs_ = 0;
  bool missed = apSpunNs_ > 0;
  if (missed && (slept < apSpunNs_ / 2 || ++apMissRun_ >= kApMissRun)) {
    // The poll does not pay: either the wake-up came within half the
    // poll's length once the thread slept, so what it waited for needed
    // this CPU (a peer on the same CPU that runs only when we stop, as a
    // TCP client pinned beside its server: one-CPU TCP echo lost 17 % to
    // polls that never hit), or kApMissRun polls in a row found nothing.
    // It pauses for apHold_ wake-ups, twice as many each time this repeats
    // without a hit in between (a hit resets it).
    apWindowNs_ = 0;
    apMissRun_ = 0;
    apHoldLeft_ = apHold_;
    apHold_ = apHold_ * 2 > kApHoldMax ? kApHoldMax : apHold_ * 2;
    apStats_.pauses++;
  } else if (apHoldLeft_ > 0) {
    apHoldLeft_--;
  } else if (total <= apMaxNs_) {
    int64_t w = 2 * total < kApMinNs ? kApMinNs : 2 * total;
    apWindowNs_ = w > apMaxNs_ ? apMaxNs_ : w;
  } else {
    apWindowNs_ /= 2;
    if (apWindowNs_ < kApMinNs) apWindowNs_ = 0;
  }
  apWindowStartNs_ = now;  // the wake-up is work: the window counts from it
  apStats_.windowUs = static_cast<double>(apWindowNs_) / 1000;
}

// Before the thread may sleep: sockets on the direct receive go back to
// their multishot (B3 in uring_loop.h), submitted and settled here.
void LoopBinding::AdaptiveLeave() {
  if (busySources_.empty() || busyOn_) return;
  LeaveBusySources();
  Settle();
}

// Returns true when libuv's next poll must not block (work was dispatched,
// or a timer or the slice's end came first); the caller then keeps the
// idle handle running, as for busy polling. Returns false only when the
// thread may sleep, with every source back on its sleeping wake path.
bool LoopBinding::AdaptivePoll() {
  // Only while a ref'd ringwire socket is open: the poll waits for its
  // messages, and a process that only has timers left must just sleep.
  if (apMaxNs_ <= 0 || uringError_ != 0 || tornDown_ || !uv_has_ref(reinterpret_cast<uv_handle_t*>(&poll_))) {
    AdaptiveLeave();
    return false;
  }
  int64_t start = BusyNowNs();
  AdaptiveWoke(start);
  int timeoutMs = uv_backend_timeout(uvLoop_);
  if (timeoutMs == 0) return false;  // libuv will not sleep this turn
  if (apWindowNs_ == 0) {
    // No poll, but the coming wake-up still says whether one would pay.
    AdaptiveLeave();
    apSpunNs_ = 0;
    apSleptAtNs_ = start;
    apWindowStartNs_ = 0;
    return false;
  }
  int64_t due = timeoutMs > 0 ? start + int64_t{timeoutMs} * 1000000 : INT64_MAX;
  int64_t sliceEnd = start + kApSliceNs;
  // The window counts from the last work (a hit, a wake-up), across the
  // slices of several loop turns: a window longer than a slice still ends.
  if (apWindowStartNs_ == 0) apWindowStartNs_ = start;
  int64_t windowStart = apWindowStartNs_;
  int64_t lastEpoll = epollHot_ ? start - kEpollIntervalNs : start;
  const int epfd = uv_backend_fd(uvLoop_);
  const bool epollEvery = uring_.mode() == WakeMode::kEventfd;
  bool sleep = false;
  apStats_.polls++;
  apPolling_ = true;  // sockets that receive now may take the direct path
  int64_t now = start;
  for (;;) {
    apStats_.spins++;
    bool hit = false;
    if (uring_.PollNoSleep(&apStats_.syscalls)) {
      hit = true;
      epollHot_ = false;
      uring_.Reap();
      if (eventCount_ || !dirty_.empty()) Dispatch();
    } else if (!busySources_.empty() && PollBusySources()) {
      hit = true;
      epollHot_ = false;
    } else if (epollEvery || epollHot_ || now - lastEpoll >= kEpollIntervalNs) {
      lastEpoll = now;
      pollfd p{epfd, POLLIN, 0};
      apStats_.syscalls++;
      if (poll(&p, 1, 0) > 0) {
        // Another handle is ready (or the ring fd in eventfd mode): libuv's
        // next poll, made non-blocking, runs its callback.
        apStats_.hits++;
        epollHot_ = true;
        now = BusyNowNs();
        windowStart = now;
        break;
      }
    } else {
      CpuRelax();
    }
    if (hit) {
      apStats_.hits++;
      apHold_ = 1;
      apMissRun_ = 0;
      // Found late in the window: a little more would have been short.
      if (now - windowStart > apWindowNs_ / 2) {
        int64_t w = 2 * apWindowNs_;
        apWindowNs_ = w > apMaxNs_ ? apMaxNs_ : w;
      }
      Settle();  // replies go out before the next poll
      Bury();
      now = BusyNowNs();
      windowStart = now;
      // JS may have queued an immediate, or a timer now due first.
      int t = uv_backend_timeout(uvLoop_);
      if (t == 0 || !Quiescent()) break;
      if (t > 0 && now + int64_t{t} * 1000000 < due) due = now + int64_t{t} * 1000000;
    } else {
      now = BusyNowNs();
    }
    if (now >= due || now >= sliceEnd || tornDown_ || busyOn_) break;
    if (now - windowStart >= apWindowNs_) {
      // The window passed with nothing: the thread sleeps now, and the
      // wake-up that ends the sleep adjusts the window (AdaptiveWoke).
      apSpunNs_ = now - windowStart;
      apSleptAtNs_ = now;
      sleep = true;
      break;
    }
  }
  apPolling_ = false;
  apWindowStartNs_ = sleep ? 0 : windowStart;
  apStats_.spinUs += static_cast<double>(now - start) / 1000;
  apStats_.windowUs = static_cast<double>(apWindowNs_) / 1000;
  if (!sleep) return true;
  AdaptiveLeave();
  return false;
}

Napi::ArrayBuffer LoopBinding::AdaptiveStatsBuffer(Napi::Env env) {
  return Napi::ArrayBuffer::New(env, &apStats_, sizeof(AdaptivePollStats));
}

namespace {

// adaptivePollSet(maxUs) -> 0 | -errno (0 turns it off). Validated in TS.
Napi::Value AdaptivePollSetJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int err = 0;
  LoopBinding* lb = LoopBinding::Get(env, &err);
  if (!lb) return Num(env, err);
  lb->AdaptivePollSet(info[0].As<Napi::Number>().DoubleValue());
  return Num(env, 0);
}

// The counters (and the current window) over the loop's memory.
Napi::Value AdaptivePollStatsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int err = 0;
  LoopBinding* lb = LoopBinding::Get(env, &err);
  if (!lb) return Num(env, err);
  return lb->AdaptiveStatsBuffer(env);
}

}  // namespace

void InitAdaptivePoll(Napi::Env env, Napi::Object exports) {
  exports.Set("adaptivePollSet", Napi::Function::New(env, AdaptivePollSetJs, "adaptivePollSet"));
  exports.Set("adaptivePollStats", Napi::Function::New(env, AdaptivePollStatsJs, "adaptivePollStats"));
  const char* names[] = {"polls", "hits", "spins", "spinUs", "syscalls", "windowUs", "pauses"};
  static_assert(sizeof(names) / sizeof(names[0]) == sizeof(AdaptivePollStats) / sizeof(double), "one name per counter");
  auto arr = Napi::Array::New(env);
  for (uint32_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) arr.Set(i, names[i]);
  exports.Set("adaptivePollStatNames", arr);
}

}  // namespace rw
