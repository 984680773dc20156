#include "uring_loop.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

namespace rw {
namespace {

// The self-check's recv; below kReservedUserData, so Reap never dispatches it.
constexpr uint64_t kCheckUserData = 1;

int64_t NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000;
}

bool Readable(int fd, int timeoutMs) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    int r = poll(&p, 1, timeoutMs);
    if (r < 0 && errno == EINTR) continue;
    return r > 0 && (p.revents & POLLIN);
  }
}

}  // namespace

const char* WakeModeName(WakeMode m) { return m == WakeMode::kEventfd ? "eventfd" : "ringfd"; }

UringLoop::~UringLoop() { Shutdown(); }

int UringLoop::Init(unsigned entries, WakeMode mode, const WakeFaults& faults) {
  faults_ = faults;
  mode_ = mode;
  if (faults_.failInit[static_cast<int>(mode)]) return -EINVAL;
  io_uring_params p;
  int ret;
  if (mode == WakeMode::kEventfd) {
    // DEFER_TASKRUN runs completion work only inside our enter(GETEVENTS),
    // in our own thread; its wake source is the eventfd (E1 in the header).
    // No TASKRUN_FLAG: the protocol reads no advisory flag.
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL |
              IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 4;
    ret = io_uring_queue_init_params(entries, &ring_, &p);
    if (ret < 0) return ret;  // the caller falls back to the ring fd mode
    deferTaskrun_ = true;
  } else {
    // COOP_TASKRUN: task work is signalled without an IPI (R2 in the header:
    // a sleeping thread is still woken). Older kernels reject flags one by
    // one; a plain ring keeps R1/R2 (TWA_SIGNAL, with the IPI).
    // TASKRUN_FLAG (same kernel release as COOP_TASKRUN, 5.19) is only the
    // memory hint busy polling reads (B1); nothing that sleeps looks at it.
    constexpr unsigned kCoop = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    const unsigned tries[] = {
        kCoop | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
        kCoop | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
        0,
    };
    ret = -EINVAL;
    for (unsigned flags : tries) {
      memset(&p, 0, sizeof(p));
      p.flags = flags;
      p.cq_entries = entries * 4;
      ret = io_uring_queue_init_params(entries, &ring_, &p);
      if (ret != -EINVAL) break;
    }
    if (ret < 0) return ret;
    deferTaskrun_ = false;
  }
  inited_ = true;
  if (mode_ == WakeMode::kEventfd) {
    eventfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (eventfd_ < 0) {
      ret = -errno;
      Shutdown();
      return ret;
    }
    ret = faults_.failRegisterEventfd ? -EINVAL : io_uring_register_eventfd(&ring_, eventfd_);
    if (ret < 0) {
      Shutdown();
      return ret;
    }
  }
  // Saves an fdget/fdput on every enter; failure only costs that saving.
  io_uring_register_ring_fd(&ring_);
  if (faults_.directSendSplit) {
    // The fault parks ring sends in io_uring's worker pool (IOSQE_ASYNC);
    // one unbound worker runs them in queue order, as the kernel issues a
    // socket's SQEs, so only the direct path could reorder them.
    unsigned workers[2] = {1, 1};
    io_uring_register_iowq_max_workers(&ring_, workers);
  }
  return 0;
}

void UringLoop::Shutdown() {
  if (inited_) {
    // queue_exit cancels outstanding requests and waits until the kernel
    // no longer references their buffers, so callers may free them after.
    io_uring_queue_exit(&ring_);
    inited_ = false;
  }
  if (eventfd_ >= 0) {
    close(eventfd_);
    eventfd_ = -1;
  }
  deferTaskrun_ = false;
  pending_ = 0;
}

io_uring_sqe* UringLoop::Sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) {
    stats_.sqFullFlushes++;
    Flush();
    sqe = io_uring_get_sqe(&ring_);
    // SUBMIT_ALL + a just-flushed SQ: a slot is free unless submit failed
    // with the ring in a state we cannot recover; spin on submit then.
    while (!sqe) {
      Flush();
      sqe = io_uring_get_sqe(&ring_);
    }
  }
  pending_++;
  return sqe;
}

int UringLoop::Flush() {
  if (!pending_) return 0;
  int ret = io_uring_submit(&ring_);
  stats_.enterCalls++;
  if (ret > 0) {
    stats_.submissions += ret;
    pending_ = pending_ > static_cast<unsigned>(ret) ? pending_ - ret : 0;
  }
  // -EBUSY/-EAGAIN (CQ backed up): the caller reaps and the next flush retries.
  return ret;
}

void UringLoop::DrainEventfd() {
  uint64_t v;
  // Non-blocking; EAGAIN when nothing was signalled.
  ssize_t r = read(eventfd_, &v, sizeof(v));
  (void)r;
}

int UringLoop::DrainCq() {
  io_uring_cqe* cqes[256];
  int total = 0;
  for (;;) {
    unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, 256);
    if (n == 0) break;
    for (unsigned i = 0; i < n; i++) {
      const io_uring_cqe* cqe = cqes[i];
      uint64_t ud = cqe->user_data;
      if (ud < kReservedUserData) continue;  // the loop's own requests
      auto* h = reinterpret_cast<UringHandler*>(ud & ~uint64_t{(1u << kTagBits) - 1});
      h->OnCqe(static_cast<unsigned>(ud & ((1u << kTagBits) - 1)), cqe);
    }
    // Advancing the CQ head once per batch lets the kernel reuse the slots.
    io_uring_cq_advance(&ring_, n);
    total += static_cast<int>(n);
  }
  return total;
}

unsigned UringLoop::Reap(bool wake) {
  if (wake) stats_.wakeups++;
  // E2: drain the eventfd before the local work runs, so that work queued
  // after our enter signals it again instead of being consumed unseen.
  if (eventfd_ >= 0) DrainEventfd();
  if (faults_.reapDelayUs) usleep(static_cast<useconds_t>(faults_.reapDelayUs));
  unsigned total = 0;
  // Bounded: each round either empties the CQ and ends, or flushes an
  // overflow backlog into it.
  for (int round = 0; round < 64; round++) {
    if (deferTaskrun_) {
      // One system call runs the deferred completions and submits the queue.
      int ret = io_uring_submit_and_get_events(&ring_);
      stats_.enterCalls++;
      if (ret > 0) {
        stats_.submissions += ret;
        pending_ = pending_ > static_cast<unsigned>(ret) ? pending_ - ret : 0;
      }
    }
    total += static_cast<unsigned>(DrainCq());
    // R4: overflowed CQEs come back with an enter(GETEVENTS).
    if (!(IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_CQ_OVERFLOW)) break;
    stats_.cqOverflows++;
    if (!deferTaskrun_) {
      io_uring_get_events(&ring_);
      stats_.enterCalls++;
    }
  }
  stats_.completions += total;
  return total;
}

bool UringLoop::PollNoSleep(double* enters) {
  if (io_uring_cq_ready(&ring_)) return true;
  // The kernel sets IORING_SQ_TASKRUN with an atomic or before it queues
  // the task work; reading it relaxed is enough, since a stale read only
  // defers the enter to the next spin (or to the spin's epoll poll, which
  // also runs task work on its way out). The enter's return orders the CQ
  // tail it wrote before our io_uring_cq_ready (an acquire load in liburing).
  if (!(IO_URING_READ_ONCE(*ring_.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW))) return false;
  io_uring_get_events(&ring_);
  stats_.enterCalls++;
  (*enters)++;
  return io_uring_cq_ready(&ring_) != 0;
}

// One wake through the mode's path: a recv armed on sv[0] (nothing to read,
// so the kernel arms a poll), then a write to sv[1] — from this thread or
// another one while this thread sleeps in poll() on PollFd(), as libuv will.
// *us: write -> PollFd() readable, or -1 when it never became readable.
int UringLoop::CheckOnce(int sv[2], bool crossThread, int* us, bool* atOnce) {
  static char buf[8];
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_recv(sqe, sv[0], buf, sizeof(buf), 0);
  sqe->user_data = kCheckUserData;
  int ret = Flush();
  if (ret < 0) return ret;
  // Nothing is readable yet: the only CQE could be an inline error.
  if (CqReady()) {
    io_uring_cqe* cqe;
    if (io_uring_peek_cqe(&ring_, &cqe) == 0) {
      int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      return res < 0 ? res : -EPROTO;
    }
  }
  if (eventfd_ >= 0) DrainEventfd();
  int fd = PollFd();
  bool woke;
  int64_t writtenAt, wokeAt;
  *atOnce = false;
  if (!crossThread) {
    writtenAt = NowUs();
    if (write(sv[1], "w", 1) != 1) return -errno;
    // The pass criterion: readable when write() returns (state, not time,
    // so a preemption here cannot fail it). The time is for the report.
    *atOnce = Readable(fd, 0);
    woke = *atOnce || Readable(fd, kLostMs);
    wokeAt = NowUs();
  } else {
    std::atomic<int64_t> at{0};
    std::thread writer([&] {
      usleep(1000);  // long enough for the loop thread to be asleep in poll()
      at.store(NowUs(), std::memory_order_relaxed);
      ssize_t w = write(sv[1], "w", 1);
      (void)w;
    });
    woke = Readable(fd, kLostMs + 1);
    wokeAt = NowUs();
    writer.join();  // join orders the writer's store before our load
    writtenAt = at.load(std::memory_order_relaxed);
    if (woke && wokeAt < writtenAt) wokeAt = writtenAt;  // clock granularity
  }
  int m = static_cast<int>(mode_);
  if (faults_.dropWake[m]) woke = false;
  if (!woke || faults_.lateWakeMs[m]) *atOnce = false;
  *us = woke ? static_cast<int>(wokeAt - writtenAt) + faults_.lateWakeMs[m] * 1000 : -1;
  // Collect the recv's CQE whatever the wake did (a lost wake still leaves
  // a completion): run the local work, then wait for it, bounded.
  if (eventfd_ >= 0) DrainEventfd();
  for (int i = 0; i < 2; i++) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{0, i == 0 ? 0 : kLostMs * 1000000LL};
    stats_.enterCalls++;
    if (io_uring_wait_cqe_timeout(&ring_, &cqe, &ts) == 0 && cqe) {
      bool mine = cqe->user_data == kCheckUserData;
      int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      if (mine) return res == 1 ? 0 : (res < 0 ? res : -EPROTO);
      i = -1;  // not ours (cannot happen on a fresh ring): look again
    }
  }
  return -ETIME;  // the ring never completed a readable recv
}

void UringLoop::SelfCheck(WakeCheck* out) {
  *out = WakeCheck{};
  out->ran = true;
  int sv[2];
  // Blocking sockets: io_uring arms a poll for them instead of failing the
  // recv with EAGAIN, which is the poll-driven path sockets take.
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    out->err = -errno;
    out->why = "socketpair failed";
    return;
  }
  bool atOnce = false;
  int ret = CheckOnce(sv, false, &out->sameThreadUs, &atOnce);
  if (ret == 0 && atOnce) {
    out->crossThreadUs = -1;
    // A wake of this thread asleep in poll() (R2's wake_up_state). Its
    // latency is the scheduler's (a loaded CPU can take milliseconds), so
    // only a wake that never comes fails; three tries, the best reported.
    for (int t = 0; t < 3 && ret == 0 && out->crossThreadUs < 0; t++) {
      int us = -1;
      bool unused;
      ret = CheckOnce(sv, true, &us, &unused);
      if (us >= 0) out->crossThreadUs = us;
    }
  }
  close(sv[0]);
  close(sv[1]);
  if (ret < 0) {
    out->err = ret;
    out->why = "the check's recv did not complete";
  } else if (out->sameThreadUs < 0) {
    out->why = "a completion did not make the wake fd readable (lost wake-up)";
  } else if (!atOnce) {
    out->why = "a completion made the wake fd readable late (not by the time the write returned)";
  } else if (out->crossThreadUs < 0) {
    out->why = "a completion from another thread did not wake a sleeping poll (lost wake-up)";
  } else {
    out->passed = true;
  }
}

int UringLoop::AllocBufferGroup() {
  for (int w = 0; w < kMaxGroups / 64; w++) {
    if (groupBits_[w] != ~uint64_t{0}) {
      int b = __builtin_ctzll(~groupBits_[w]);
      groupBits_[w] |= uint64_t{1} << b;
      return w * 64 + b;
    }
  }
  return -ENOSPC;
}

void UringLoop::FreeBufferGroup(int bgid) {
  if (bgid < 0 || bgid >= kMaxGroups) return;
  groupBits_[bgid / 64] &= ~(uint64_t{1} << (bgid % 64));
}

}  // namespace rw
