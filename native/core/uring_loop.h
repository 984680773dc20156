// The per-thread io_uring: SQE acquisition that never fails (a full SQ is
// flushed first), one submit per flush, and batched CQE dispatch to the
// handler that owns each request. Plain C++; the libuv/N-API side lives in
// native/binding/loop_binding.*.
//
// user_data encodes the owning handler's address plus a 3-bit operation tag
// (handlers are at least 8-byte aligned). A handler stays alive until every
// request it submitted has completed: it counts them with Submitted() /
// Completed() and frees itself only when closed and idle.
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
  double submissions;   // SQEs handed to the kernel
  double completions;   // CQEs reaped
  double enterCalls;    // io_uring_enter system calls we made
  double wakeups;       // times the loop woke us
  double sqFullFlushes;  // early flushes because the SQ was full
  double cqOverflows;   // CQ overflow flag seen
};

enum class WakeMode { kEventfd, kRingFd };

class UringLoop {
 public:
  static constexpr unsigned kTagBits = 3;

  UringLoop() = default;
  ~UringLoop();
  UringLoop(const UringLoop&) = delete;
  UringLoop& operator=(const UringLoop&) = delete;

  // entries: SQ size (power of two). Chooses SINGLE_ISSUER|DEFER_TASKRUN
  // when `mode` is kEventfd and the kernel accepts it. Returns -errno.
  int Init(unsigned entries, WakeMode mode);
  void Shutdown();  // cancels everything (the kernel stops touching memory)

  // Never returns null: a full SQ is submitted first.
  io_uring_sqe* Sqe();
  static uint64_t Tag(UringHandler* h, unsigned tag) {
    return reinterpret_cast<uintptr_t>(h) | tag;
  }
  // Submits queued SQEs (one io_uring_enter); returns -errno or count.
  int Flush();
  bool HasPending() const { return pending_ > 0; }
  // Reaps every available CQE in batches and dispatches them; with
  // DEFER_TASKRUN it first runs the deferred work (and submits what is
  // queued, in the same system call), and it leaves the eventfd drained.
  // Returns the number of CQEs.
  unsigned Reap();
  // The fd libuv should poll for readability.
  int PollFd() const { return mode_ == WakeMode::kEventfd ? eventfd_ : ring_.ring_fd; }

  io_uring* ring() { return &ring_; }
  bool deferTaskrun() const { return deferTaskrun_; }
  WakeMode mode() const { return mode_; }
  UringLoopStats* stats() { return &stats_; }
  // Buffer group ids are per ring; sockets borrow one each.
  int AllocBufferGroup();
  void FreeBufferGroup(int bgid);

 private:
  io_uring ring_{};
  bool inited_ = false;
  bool deferTaskrun_ = false;
  WakeMode mode_ = WakeMode::kEventfd;
  int eventfd_ = -1;
  unsigned pending_ = 0;
  UringLoopStats stats_{};
  // A small free list of buffer group ids (16-bit ids in the kernel ABI).
  static constexpr int kMaxGroups = 4096;
  uint64_t groupBits_[kMaxGroups / 64] = {};
};

}  // namespace rw
