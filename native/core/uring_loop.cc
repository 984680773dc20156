#include "uring_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rw {

UringLoop::~UringLoop() { Shutdown(); }

int UringLoop::Init(unsigned entries, WakeMode mode) {
  mode_ = mode;
  io_uring_params p;
  int ret = -EINVAL;
  if (mode == WakeMode::kEventfd) {
    // DEFER_TASKRUN runs completion work only when we ask (io_uring_enter
    // with GETEVENTS), in our own thread: no IPIs, no task work interrupting
    // JS. It does not make the ring fd pollable, hence the eventfd.
    memset(&p, 0, sizeof(p));
    // TASKRUN_FLAG makes the kernel mark sq_flags when deferred work is
    // queued; Reap() reads it after draining the eventfd to close the race
    // between the last get_events and the drain.
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
              IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL |
              IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 4;
    ret = io_uring_queue_init_params(entries, &ring_, &p);
    deferTaskrun_ = ret == 0;
  }
  if (ret < 0) {
    // COOP_TASKRUN avoids interrupting the thread for task work; polling the
    // ring fd still wakes us when completions are posted.
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 4;
    ret = io_uring_queue_init_params(entries, &ring_, &p);
    if (ret == -EINVAL) {
      memset(&p, 0, sizeof(p));
      ret = io_uring_queue_init_params(entries, &ring_, &p);
    }
    if (ret < 0) return ret;
    if (mode == WakeMode::kEventfd) mode_ = WakeMode::kRingFd;
  }
  inited_ = true;
  if (mode_ == WakeMode::kEventfd) {
    eventfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (eventfd_ < 0) {
      ret = -errno;
      Shutdown();
      return ret;
    }
    ret = io_uring_register_eventfd(&ring_, eventfd_);
    if (ret < 0) {
      Shutdown();
      return ret;
    }
  }
  // Saves an fdget/fdput on every enter; failure only costs that saving.
  io_uring_register_ring_fd(&ring_);
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
  } else if (ret == -EBUSY || ret == -EAGAIN) {
    // CQ is backed up: the caller reaps and the next flush retries.
  }
  return ret;
}

unsigned UringLoop::Reap() {
  stats_.wakeups++;
  unsigned total = 0;
  io_uring_cqe* cqes[256];
  unsigned lastTotal = ~0u, idleRounds = 0;
  for (;;) {
    if (deferTaskrun_) {
      // One system call runs the deferred completions and submits the queue.
      int ret = io_uring_submit_and_get_events(&ring_);
      stats_.enterCalls++;
      if (ret > 0) {
        stats_.submissions += ret;
        pending_ = pending_ > static_cast<unsigned>(ret) ? pending_ - ret : 0;
      }
    }
    for (;;) {
      unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, 256);
      if (n == 0) break;
      for (unsigned i = 0; i < n; i++) {
        const io_uring_cqe* cqe = cqes[i];
        uint64_t ud = cqe->user_data;
        if (ud == 0) continue;  // our own cancels carry no owner
        auto* h = reinterpret_cast<UringHandler*>(ud & ~uint64_t{(1u << kTagBits) - 1});
        h->OnCqe(static_cast<unsigned>(ud & ((1u << kTagBits) - 1)), cqe);
      }
      // Advancing the CQ head once per batch lets the kernel reuse the slots.
      io_uring_cq_advance(&ring_, n);
      total += n;
    }
    unsigned kflags = IO_URING_READ_ONCE(*ring_.sq.kflags);
    if (kflags & IORING_SQ_CQ_OVERFLOW) {
      // Overflowed CQEs come back with an enter(GETEVENTS).
      stats_.cqOverflows++;
      if (!deferTaskrun_) {
        io_uring_get_events(&ring_);
        stats_.enterCalls++;
      }
      continue;
    }
    if (eventfd_ >= 0) {
      uint64_t v;
      // Drained after the CQE loop (draining first would turn every CQE the
      // reap posts into a spurious wakeup). Work queued between our last
      // get_events and this read set IORING_SQ_TASKRUN before it signalled,
      // so re-reading the flags after the drain cannot miss it.
      ssize_t r = read(eventfd_, &v, sizeof(v));
      (void)r;
      if (io_uring_cq_ready(&ring_)) continue;
      kflags = IO_URING_READ_ONCE(*ring_.sq.kflags);
      // The flag can also be stale: the kernel clears it before taking the
      // work list, so work added from another CPU in between leaves it set
      // with nothing queued, and no get_events clears it. Following it
      // without a bound spun here until new work happened to come, which
      // (with the peers waiting on our replies) could take seconds: seen as
      // a 64-connection echo falling from 90k to 2k req/s. Two
      // rounds in a row that bring no completion end the reap.
      if (kflags & IORING_SQ_TASKRUN) {
        idleRounds = total == lastTotal ? idleRounds + 1 : 0;
        lastTotal = total;
        if (idleRounds < 2) continue;
      }
    }
    break;
  }
  stats_.completions += total;
  return total;
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
