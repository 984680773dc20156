// The per-thread io_uring inside the JS thread's libuv loop.
//
// - uv_poll on the eventfd (DEFER_TASKRUN) or the ring fd wakes us; Reap()
//   dispatches CQEs to handlers, which append compact events to one shared
//   Int32Array; then ONE JS call (inside a callback scope, so microtasks run
//   once afterwards) consumes every event of the wake.
// - uv_prepare runs once per loop turn before libuv sleeps: it flushes
//   queued sends (epoll sendmmsg, one io_uring_enter), reaps what those
//   flushes completed, dispatches, and repeats until nothing is left; if a
//   bounded number of rounds does not get there, a uv_idle handle makes the
//   coming poll non-blocking. See "The wake protocol" in uring_loop.h.
// - Busy polling (opt-in, busy_poll.cc): after the flush rounds, Prepare
//   spins for up to one slice checking ring memory and, by a non-blocking
//   poll(), libuv's own epoll set, while the uv_idle handle keeps libuv's
//   poll non-blocking between slices; when nothing happened for the budget
//   it stops and the thread sleeps under the usual rules.
// - Handlers (sockets, waiters) live in an id table owned by the loop; JS
//   holds ids, never pointers, so a stale id after close or teardown is a
//   harmless lookup miss.
// - Environment teardown (worker termination, exit): the uv handles are
//   closed from an async cleanup hook, then the ring is torn down (the
//   kernel lets go of every buffer) and only then are handlers freed.
#pragma once

#include <uv.h>

#include <time.h>

#include <cstdint>
#include <vector>

#include "../core/uring_loop.h"
#include "addon.h"
#include "handle_table.h"

namespace rw {

// Something the loop owns by id. Close() starts an orderly close (cancel,
// wait for CQEs); Teardown() frees everything at once after the ring is gone.
class LoopOwned {
 public:
  virtual ~LoopOwned() = default;
  int id = -1;
  // Around the one JS call of a wake, for handlers that called MarkDirty():
  // emit their final batch events before it, recycle buffers after it.
  virtual void BeforeDispatch() {}
  virtual void AfterDispatch() {}
  // Once per loop turn for handlers that called WantFlush() (epoll sends).
  virtual void FlushPrepare() {}
  // Environment teardown: close own uv handles (each calling `done` once
  // closed) and return how many were started.
  virtual int CloseUvHandles(uv_close_cb) { return 0; }
  // Frees everything at once; the ring is gone, no CQE will come.
  virtual void Teardown() = 0;
};

// Something a busy-polling spin can check in memory (an AF_XDP RX ring's
// producer index) and drain without a system call. Registered while open;
// Remove before it is freed.
class BusySource {
 public:
  virtual ~BusySource() = default;
  // Whether work is ready: a memory read where the kernel publishes one
  // (an AF_XDP RX ring), else one non-blocking system call (a UDP socket's
  // direct receive, which also takes what it finds).
  virtual bool BusyReady() = 0;
  virtual void BusyRun() = 0;    // drains and dispatches what is ready
  // The thread is about to sleep (budget spent, or busy polling stopped):
  // restore whatever wakes a sleeper. What it queues on the ring is
  // submitted by the Settle() that follows.
  virtual void BusyLeave() {}
};

// One event for JS: four int32 (id, kind, a, b). Kinds are per facility.
struct LoopEvent {
  int32_t id, kind, a, b;
};

// CLOCK_MONOTONIC in ns (a vDSO read, ~20 ns: cheap enough per spin).
inline int64_t BusyNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Adaptive poll counters (adaptive_poll.cc), readable from JS.
struct AdaptivePollStats {
  double polls;     // loop turns that polled before sleeping
  double hits;      // polls that found work (the sleep it saved)
  double spins;     // poll iterations
  double spinUs;    // time spent polling (CPU the mode costs)
  double syscalls;  // non-blocking system calls made while polling
  double windowUs;  // the current window (0: the thread sleeps at once)
  double pauses;    // times the poll paused itself: it did not pay
};

// Busy-poll counters readable from JS through a Float64Array.
struct BusyPollStats {
  double spins;     // polls made (memory checks, and a syscall when due)
  double found;     // polls that found work
  double spinUs;    // time spent in spin slices (CPU the mode costs)
  double syscalls;  // non-blocking system calls the polls made
  double sleeps;    // times the budget ran out and the thread slept
  double slices;    // spin slices entered (one per loop turn while busy)
};

class LoopBinding {
 public:
  static constexpr unsigned kEventCapacity = 8192;

  // Returns the thread's loop, creating it on first use; nullptr with *err.
  static LoopBinding* Get(Napi::Env env, int* err);
  static LoopBinding* Existing(Napi::Env env) { return State(env)->loop; }

  UringLoop& uring() { return uring_; }
  napi_env env() const { return env_; }
  uv_loop_t* uvLoop() const { return uvLoop_; }

  int Add(LoopOwned* h);        // returns the id
  LoopOwned* Find(int id) const { return owned_.Find(id); }
  void Remove(int id);          // the handler deletes itself after this

  // Events for JS; a full buffer is dispatched early.
  void Emit(int32_t id, int32_t kind, int32_t a, int32_t b);
  void MarkDirty(LoopOwned* h);
  void WantFlush(LoopOwned* h) { flush_.push_back(h); }
  // For a handler that finished closing inside one of its own callbacks:
  // freed once the current wake or turn is over, never under its own feet.
  void DeleteLater(LoopOwned* h) { graveyard_.push_back(h); }
  // A removed handler still closing its own uv handle keeps the loop's
  // memory alive until its close callback has run (teardown waits for it).
  void BeginOwnedClose() { ownedClosing_++; }
  void EndOwnedClose();
  bool tornDown() const { return tornDown_; }
  // Runs the one JS call of this wake (events + dirty handlers).
  void Dispatch();
  // io_uring could not be set up here (the epoll backend still works).
  int uringError() const { return uringError_; }
  // How the wake mode was chosen: one entry per mode tried, in order.
  struct WakeAttempt {
    WakeMode mode;
    int setup;  // 0 or -errno of the ring's setup
    WakeCheck check;
  };
  const std::vector<WakeAttempt>& wakeAttempts() const { return attempts_; }
  const char* requestedWake() const { return requestedWake_; }
  void SetDispatch(Napi::Function fn) {
    if (dispatch_) napi_delete_reference(env_, dispatch_);
    napi_create_reference(env_, fn, 1, &dispatch_);
  }
  void SetRef(bool ref);

  // budgetUs < 0: spin forever (a dedicated core). Both bounds are
  // validated in TypeScript.
  void BusyPollStart(double budgetUs, double sliceUs);
  void BusyPollStop();
  bool busyPolling() const { return busyOn_; }
  // Whether a handle's queued sends go out directly in this flush (one
  // send/sendto/sendmmsg per handle) rather than as SQEs (one enter for
  // every handle of the turn): when the turn flushes at most
  // kDirectFlushMax handles, where the direct call costs less than an
  // SQE's issue path and CQE, polling or not. Measured on one CPU (TCP
  // echo, 1 connection, tcp-rr beside the server, 5 interleaved runs):
  // direct 34.2k requests/s vs 32.3k as SQEs. Many handles in one turn (64
  // connections) keep the single enter.
  static constexpr size_t kDirectFlushMax = 4;
  bool directFlush() const { return flushingCount_ <= kDirectFlushMax; }
  // Whether a drop-in write() sends at once (TcpConnHandle::SendNow), as
  // node:net does, instead of at the turn's end: by the same rule as
  // directFlush. The turn's end comes after the rest of the JS that wrote
  // (an HTTP server's 'finish' handlers, keep-alive timer, nextTicks,
  // setImmediate callbacks), which the peer waits for otherwise: with wrk
  // -c1 across CPUs that was p50 57-64 us per request vs node:http's 37 us.
  bool eagerSend() const { return directFlush(); }
  // A socket sends at most its first datagram or write of each JS dispatch
  // or loop turn at once (UdpHandle::Send, TcpConnHandle::SendNow): true
  // once per round for the socket whose mark `seq` is, which it updates.
  bool FirstSendOfRound(uint64_t* seq) {
    if (*seq == dispatchSeq_) return false;
    *seq = dispatchSeq_;
    return true;
  }
  // Spinning now (not asleep after the budget, not stopped): sources may
  // take work off their sleeping wake paths only then.
  bool busySpinning() const { return busyOn_ && !busyAsleep_; }
  void AddBusySource(BusySource* s) { busySources_.push_back(s); }
  void RemoveBusySource(BusySource* s) {
    for (auto& x : busySources_)
      if (x == s) x = nullptr;  // compacted by the spin, never under its feet
  }
  Napi::ArrayBuffer BusyStatsBuffer(Napi::Env env);
  void CountBusySyscall() { busyStats_.syscalls++; }
  // Sockets on the direct receive (B3 in uring_loop.h) each cost one
  // system call per spin, so a thread has at most kDirectMax at once: the
  // first that receive while it spins; the others stay on the ring.
  static constexpr uint32_t kDirectMax = 8;
  static constexpr uint32_t kDirectIdleSpins = 1000;  // empty receives before one goes back
  // The adaptive poll (not busy polling) takes a TCP connection direct only
  // while its reads are small (request-response): a bulk stream read in
  // small direct bites lost 8-19 % of its throughput against the
  // multishot's large batches (tcp-stream, batch API, interleaved runs);
  // `bytes` is the read that asks. Busy polling takes any hot connection.
  static constexpr uint32_t kDirectBulkBytes = 16384;
  bool TakeDirectSlot(uint32_t bytes = 0) {
    bool adaptiveOk = apPolling_ && bytes < kDirectBulkBytes;
    if (!(busySpinning() || adaptiveOk) || directSockets_ >= kDirectMax) return false;
    directSockets_++;
    return true;
  }
  void ReturnDirectSlot() { directSockets_--; }

  // The adaptive poll's ceiling in µs (0: off). Validated in TypeScript.
  void AdaptivePollSet(double maxUs);
  Napi::ArrayBuffer AdaptiveStatsBuffer(Napi::Env env);

  Napi::ArrayBuffer EventsBuffer(Napi::Env env);
  Napi::ArrayBuffer StatsBuffer(Napi::Env env);

 private:
  LoopBinding(napi_env env, uv_loop_t* loop) : env_(env), uvLoop_(loop) {}
  ~LoopBinding() = default;
  int Start();
  void OnReadable();
  void CallJs();
  // The dispatch function and the callback's async resource, as handles in
  // the current scope; false when JS can no longer be called.
  bool JsTarget(napi_value* fn, napi_value* resource);
  void Prepare();
  void Settle();
  bool BusySpin();
  bool Quiescent();
  static void AsyncCleanup(napi_async_cleanup_hook_handle handle, void* arg);
  void CloseHandles();

  napi_env env_;
  uv_loop_t* uvLoop_;
  UringLoop uring_;
  uv_poll_t poll_{};
  uv_prepare_t prepare_{};
  uv_idle_t idle_{};  // started only to keep one poll from blocking
  std::vector<WakeAttempt> attempts_;
  const char* requestedWake_ = "auto";
  napi_async_cleanup_hook_handle cleanupHandle_ = nullptr;
  int closing_ = 0;
  bool tornDown_ = false;
  napi_ref dispatch_ = nullptr;  // raw: must be safe to drop during teardown
  napi_ref resource_ = nullptr;  // the callback scope's async resource
  napi_async_context asyncCtx_ = nullptr;
  // Set while a busy-poll slice holds a handle scope (BusySpin): CallJs
  // uses these instead of opening a scope and looking them up per dispatch.
  napi_value sliceFn_ = nullptr;
  napi_value sliceResource_ = nullptr;
  HandleTable<LoopOwned> owned_;     // id -> handler (handle_table.h)
  std::vector<LoopOwned*> dirty_;
  std::vector<LoopOwned*> flush_;
  std::vector<LoopOwned*> flushing_, dispatched_;  // spares for the two above
  size_t flushingCount_ = 0;  // handles in the flush round now running
  uint64_t dispatchSeq_ = 0;  // counts dispatches and loop turns (FirstSendOfRound)
  std::vector<LoopOwned*> graveyard_;
  void Bury();
  int uringError_ = 0;
  int idleFd_ = -1;
  int handlesToClose_ = 0;
  int ownedClosing_ = 0;
  bool finishWhenOwnedClosed_ = false;
  void Finish();
  LoopEvent* events_ = nullptr;       // kEventCapacity entries
  uint32_t eventCount_ = 0;
  uint32_t delivered_ = 0;
  std::vector<LoopEvent> overflow_;
  bool inJs_ = false;
  bool jsDead_ = false;
  bool inDispatch_ = false;
  // Busy polling (busy_poll.cc); times in CLOCK_MONOTONIC ns.
  bool busyOn_ = false;
  bool busyAsleep_ = false;  // the budget ran out; the next wake restarts it
  int64_t busyBudgetNs_ = -1;
  int64_t busySliceNs_ = 50000;
  int64_t lastWorkNs_ = 0;
  bool epollHot_ = false;
  std::vector<BusySource*> busySources_;
  uint32_t directSockets_ = 0;
  bool PollBusySources();
  void LeaveBusySources();  // the last work the spin found came from epoll
  static constexpr int64_t kEpollIntervalNs = 20000;
  BusyPollStats busyStats_{};
  // Adaptive poll before sleeping (adaptive_poll.cc); ns.
  bool AdaptivePoll();
  void AdaptiveWoke(int64_t now);
  void AdaptiveLeave();
  bool apPolling_ = false;  // inside AdaptivePoll's loop
  static constexpr int64_t kApMinNs = 4000;
  static constexpr int64_t kApSliceNs = 200000;  // per loop turn
  int64_t apMaxNs_ = 0;
  int64_t apWindowNs_ = 0;
  int64_t apSleptAtNs_ = 0;  // the poll gave up then; 0 = no verdict pending
  int64_t apSpunNs_ = 0;
  int64_t apWindowStartNs_ = 0;  // last work the window counts from; 0 = none
  static constexpr int64_t kApHoldMax = 1024;
  static constexpr int64_t kApMissRun = 8;
  int64_t apMissRun_ = 0;   // polls in a row that found nothing
  int64_t apHold_ = 1;      // wake-ups without polling after the next pause
  int64_t apHoldLeft_ = 0;
  AdaptivePollStats apStats_{};
};

void InitBusyPoll(Napi::Env env, Napi::Object exports);
void InitAdaptivePoll(Napi::Env env, Napi::Object exports);

void InitLoop(Napi::Env env, Napi::Object exports);

}  // namespace rw
