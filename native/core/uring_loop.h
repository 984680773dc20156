// The per-thread io_uring: SQE acquisition that never fails (a full SQ is
// flushed first), one submit per flush, batched CQE dispatch to the handler
// that owns each request, and the wake protocol that lets the thread sleep
// in libuv without ever sleeping on a completion. Plain C++; the libuv/N-API
// side lives in native/binding/loop_binding.*.
//
// user_data encodes the owning handler's address plus a 3-bit operation tag
// (handlers are at least 8-byte aligned). A handler stays alive until every
// request it submitted has completed: it counts them itself (an inflight_
// counter, up per SQE, down per final CQE) and frees itself only when
// closed and idle. Values below
// kReservedUserData are the loop's own requests (cancels, the self-check)
// and are never dispatched.
//
// ---------------------------------------------------------------------------
// The wake protocol: which kernel rule wakes the sleeping thread
// ---------------------------------------------------------------------------
// The loop thread sleeps only in libuv's epoll_wait, on PollFd(). Before it
// sleeps, LoopBinding::Prepare() leaves the ring quiescent: no SQE unsent,
// and the CQ found empty after the last submit (io_uring_cq_ready, a read of
// the shared CQ tail). Every completion that arrives after that point must
// make PollFd() readable or interrupt epoll_wait by a rule below.
//
// Mode kRingFd (the default): IORING_SETUP_COOP_TASKRUN, no DEFER_TASKRUN;
// libuv polls the ring fd.
//   R1  A CQE posted to the CQ wakes the ring's poll wait queue
//       (io_uring/io_uring.c: __io_commit_cqring_flush -> io_poll_wq_wake;
//       the ring fd is readable while the CQ is non-empty, io_uring_poll).
//       libuv's epoll is level-triggered, so a CQE posted while we were not
//       sleeping is reported by the next epoll_wait (ep_poll_callback queued
//       the fd; ep_send_events re-polls it).
//   R2  A completion produced in wake-up context — a poll-driven socket op
//       (multishot recv/recvmsg/accept, a send that waited for space), a
//       FUTEX_WAIT woken by FUTEX_WAKE, a linked timeout's hrtimer — is
//       queued as task work on our thread: io_req_normal_work_add ->
//       task_work_add(task, .., TWA_SIGNAL_NO_IPI) (COOP_TASKRUN picks
//       NO_IPI). That sets TIF_NOTIFY_SIGNAL and wakes the task from an
//       interruptible sleep (include/linux/sched/signal.h:
//       __set_notify_signal -> wake_up_state(task, TASK_INTERRUPTIBLE);
//       kernel/task_work.c). epoll_wait treats TIF_NOTIFY_SIGNAL as a pending
//       signal (signal_pending), before and after it sleeps, and returns
//       EINTR; the task work runs on the way back to user space and posts
//       the CQE (R1); libuv retries epoll_wait on EINTR. If the work is
//       queued while JS runs, no IPI is sent, but the flag makes the next
//       epoll_wait return at once: it is never slept through.
//   R3  Completions posted inline during our own submit (a send that
//       completed at once, a cancel, an error) are in the CQ when
//       io_uring_enter returns: Prepare() checks the CQ after every flush.
//   R4  CQ overflow: overflowed CQEs exist only while the CQ was full, i.e.
//       readable (R1); Reap() flushes them with an enter(GETEVENTS) when it
//       sees IORING_SQ_CQ_OVERFLOW after emptying the CQ.
//   No flag is trusted for correctness. IORING_SETUP_TASKRUN_FLAG is
//   requested, but only busy polling reads the IORING_SQ_TASKRUN hint it
//   sets (B1 below); the sleeping path never relies on it, and the flag
//   changes nothing in R1-R4 (the kernel sets it next to the same
//   task_work_add). One side effect: liburing's peek (DrainCq) makes an
//   extra enter(GETEVENTS) when it finds the CQ empty with the hint set,
//   which only posts pending completions sooner (not in stats.enterCalls).
//
// Mode kEventfd (opt-in: RINGWIRE_URING_WAKE=eventfd): SINGLE_ISSUER |
// DEFER_TASKRUN, an eventfd registered with IORING_REGISTER_EVENTFD; libuv
// polls the eventfd. Completions from wake-up context go to the ring's
// local work list and are only posted by our enter(GETEVENTS).
//   E1  When that list goes from empty to non-empty the kernel signals the
//       registered eventfd (io_uring/tw.c io_req_local_work_add: `if (!head)
//       io_eventfd_signal`). This is how the code behaves, not what the man
//       pages promise (io_uring_register(2) documents eventfd notification
//       of *posted* completions), and on some kernel builds the signal for
//       poll-driven work is deferred to an RCU callback and arrives one grace
//       period (~15 ms) late. Hence: opt-in only, and self-checked.
//   E2  Reap() reads (drains) the eventfd FIRST, then runs the local work
//       (enter GETEVENTS, which empties the list) and drains the CQ. Work
//       queued before that enter is run by it; work queued after finds the
//       list empty and signals again (E1). No flag is consulted.
//   Polling a DEFER_TASKRUN ring's fd instead loses wake-ups outright
//   (nothing wakes the ring's poll queue for local work): never done.
//
// Busy polling (opt-in per thread, LoopBinding::BusySpin) adds checks
// between loop turns and never replaces a rule above: when its budget runs
// out it returns from Prepare() through the same quiescence test, and the
// thread sleeps under R1-R4 / E1-E2 exactly as without it.
//   B1  Ring fd mode: completions from wake-up context are task work that
//       COOP_TASKRUN runs only on our next kernel entry/exit (no IPI), so a
//       pure memory spin on the CQ tail never sees them. TASKRUN_FLAG makes
//       the kernel set IORING_SQ_TASKRUN in the shared sq_flags when such
//       work is queued (io_uring/tw.c io_req_normal_work_add); PollNoSleep()
//       reads it (memory) and only then makes one non-blocking
//       enter(GETEVENTS), which runs the work and posts the CQEs. Polls that
//       find nothing make no system call for the ring. The spin's periodic
//       non-blocking poll() of libuv's epoll fd (for epoll-backend sockets
//       and other handles) is a kernel entry too, so a missed flag would
//       only cost one spin, never a sleep.
//   B3  io_uring UDP sockets while spinning (udp_engines.cc, "Direct
//       receive"): the multishot receive is cancelled and each spin makes
//       one recvmmsg(MSG_DONTWAIT) per socket, because the task work of
//       B1 sits on every datagram's critical path. Before the budget's
//       sleep, BusySpin re-arms the multishot (BusyLeave) and Settle()
//       submits it; the kernel tries the receive when it is issued, so a
//       datagram that arrived in between is an inline CQE (R3), and later
//       ones wake the sleeper under R1-R4 / E1-E2.
//   B2  Eventfd mode (DEFER_TASKRUN, no TASKRUN_FLAG requested): deferred
//       work is invisible in memory; the registered eventfd is in libuv's
//       epoll set, so the spin's poll() of that set sees it and the normal
//       Reap (E2 order) runs it.
//   B4  The adaptive poll before sleeping (the default when busy polling
//       is off; native/binding/adaptive_poll.cc) is a short spin of the
//       same kind, B1-B3 included, whose length adapts to how soon wake-ups
//       come. It also ends in Prepare() before the quiescence test, with
//       every direct-receive socket re-armed (B3) and settled, so a thread
//       that sleeps after it sleeps under R1-R4 / E1-E2 as without it.
//
// The self-check (SelfCheck) verifies the chosen mode's rule end to end
// before any socket uses the ring: a recv on a socketpair must make
// PollFd() readable by the time the peer's write() from this thread
// returns (a state, not a time: load cannot fail it, an RCU-deferred signal
// does), and a write from another thread must wake a poll() on PollFd() at
// all (within kLostMs; how fast is the scheduler's business under load).
// A failing mode is torn down and the next one tried (eventfd -> ring fd ->
// the epoll backend), with the reason recorded for capabilities()/doctor.
#pragma once

#include <cstdint>

#include "../compat/uring_compat.h"

namespace rw {

class UringHandler {
 public:
  virtual ~UringHandler() = default;
  // Called once per CQE. `tag` is the 3-bit operation tag given at prep time.
  virtual void OnCqe(unsigned tag, const io_uring_cqe* cqe) = 0;
};

// Counters readable from JS through a Float64Array (doubles are exact to
// 2^53 and need no BigInt conversion on the hot path).
struct UringLoopStats {
  double submissions;    // SQEs handed to the kernel
  double completions;    // CQEs reaped
  double enterCalls;     // io_uring_enter system calls we made
  double wakeups;        // times the loop woke us
  double sqFullFlushes;  // early flushes because the SQ was full
  double cqOverflows;    // CQ overflow flag seen
};

enum class WakeMode { kEventfd, kRingFd };

// Test-only fault injection (RINGWIRE_TEST_FAULTS, parsed by the binding):
// each field makes one step of the protocol misbehave so the fallback and
// the bookkeeping around it run on every machine.
struct WakeFaults {
  bool failInit[2] = {false, false};    // ring setup fails (-EINVAL) in a mode
  bool failRegisterEventfd = false;     // IORING_REGISTER_EVENTFD fails
  bool dropWake[2] = {false, false};    // the self-check never sees the wake
  int lateWakeMs[2] = {0, 0};           // the self-check sees it this late
  int prepareDelayUs = 0;               // sleep after Prepare's last check
  int reapDelayUs = 0;                  // sleep between drain and reap
  // Busy polling's direct UDP and TCP paths (udp_engines.cc,
  // tcp_engines.cc): the multishot's cancel is held back for this many
  // direct receives, so both receive paths run at once; and (UDP) each
  // sendmmsg sends one datagram and hands the rest to the ring as if the
  // socket buffer were full (those sends then complete later, in order,
  // from io_uring's worker pool limited to one worker, as parked sends
  // would).
  int directCancelDelay = 0;
  bool directSendSplit = false;
};

// What the self-check saw. Times in microseconds; -1 = never (lost).
struct WakeCheck {
  bool ran = false;
  bool passed = false;
  int sameThreadUs = -1;
  int crossThreadUs = -2;  // -2: not run (the same-thread check failed)
  int err = 0;              // a -errno that stopped the check itself
  const char* why = "";     // static text: what failed
};

class UringLoop {
 public:
  static constexpr unsigned kTagBits = 3;
  static constexpr uint64_t kReservedUserData = 4096;
  // The same-thread wake is synchronous on a correct kernel: the wake fd is
  // readable by the time write() returns (a state, checked with a zero
  // timeout, so load cannot fail it); an RCU-deferred signal is not. A wake
  // of a sleeping poll() from another thread must come within kLostMs:
  // its latency under load is the scheduler's, only its absence is ours.
  static constexpr int kLostMs = 500;

  UringLoop() = default;
  ~UringLoop();
  UringLoop(const UringLoop&) = delete;
  UringLoop& operator=(const UringLoop&) = delete;

  // entries: SQ size (power of two). Returns -errno.
  int Init(unsigned entries, WakeMode mode, const WakeFaults& faults);
  // Verifies the wake rule of the mode Init chose (see the header comment).
  // Call right after Init, before any other request. Never throws; -errno
  // only for a resource failure of the check itself (then `out` says why).
  void SelfCheck(WakeCheck* out);
  void Shutdown();  // cancels everything (the kernel stops touching memory)

  // Never returns null: a full SQ is submitted first.
  io_uring_sqe* Sqe();
  static uint64_t Tag(UringHandler* h, unsigned tag) {
    return reinterpret_cast<uintptr_t>(h) | tag;
  }
  // Submits queued SQEs (one io_uring_enter); returns -errno or count.
  int Flush();
  bool HasPending() const { return pending_ > 0; }
  // Whether CQEs are waiting in the CQ (a read of the shared tail).
  bool CqReady() { return io_uring_cq_ready(&ring_) != 0; }
  // Reaps every available CQE and dispatches them (E2 order in eventfd
  // mode). Returns the number of CQEs. `wake`: counted as a wake-up (the
  // poll fired), not a reap of our own flush's completions.
  unsigned Reap(bool wake = true);
  // For busy polling (B1): whether CQEs are ready, after running pending
  // task work with one non-blocking enter when the kernel's TASKRUN hint
  // says there is some. Never sleeps; *enters counts system calls made.
  bool PollNoSleep(double* enters);
  bool taskrunFlag() const { return (ring_.flags & IORING_SETUP_TASKRUN_FLAG) != 0; }
  // The fd libuv should poll for readability.
  int PollFd() const { return mode_ == WakeMode::kEventfd ? eventfd_ : ring_.ring_fd; }

  io_uring* ring() { return &ring_; }
  bool deferTaskrun() const { return deferTaskrun_; }
  WakeMode mode() const { return mode_; }
  UringLoopStats* stats() { return &stats_; }
  const WakeFaults& faults() const { return faults_; }
  // Buffer group ids are per ring; sockets borrow one each.
  int AllocBufferGroup();
  void FreeBufferGroup(int bgid);

 private:
  int DrainCq();
  void DrainEventfd();
  int CheckOnce(int sv[2], bool crossThread, int* us, bool* atOnce);

  io_uring ring_{};
  bool inited_ = false;
  bool deferTaskrun_ = false;
  WakeMode mode_ = WakeMode::kRingFd;
  WakeFaults faults_{};
  int eventfd_ = -1;
  unsigned pending_ = 0;
  UringLoopStats stats_{};
  // A small free list of buffer group ids (16-bit ids in the kernel ABI).
  static constexpr int kMaxGroups = 4096;
  uint64_t groupBits_[kMaxGroups / 64] = {};
};

const char* WakeModeName(WakeMode m);

}  // namespace rw
