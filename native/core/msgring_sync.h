// Message rings: the synchronisation both ring kinds use on plain u32
// fields of a shared mapping: acquire/release/seq_cst accessors, the
// process-shared futex, the membarrier-based asymmetric fence, and the
// monotonic clock for heartbeats. Why each exists is in msgring_layout.h
// ("Futex words" and the StoreLoad paragraph). No Node; C++17.
#pragma once

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>

// Test builds (test/native) define RW_MSGRING_TEST_HOOK(step) to run the
// peer's side at a chosen step of a wait, which makes the wait protocol's
// interleavings reproducible; everywhere else it compiles to nothing.
#ifndef RW_MSGRING_TEST_HOOK
#define RW_MSGRING_TEST_HOOK(step) ((void)0)
#endif

namespace rw::ring {

// The steps a test hook can run at (see RW_MSGRING_TEST_HOOK).
enum MsgringHookStep {
  kHookSeqRead = 0,  // a waiter has read its wake sequence (W1), flag not yet set
  kHookArmed = 1,    // a waiter has stored its flag (W1), not yet re-checked
};

// Atomic access to plain u32 fields in shared memory (another process may
// be the other side, so std::atomic members are not an option).
inline uint32_t LoadAcquire(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
inline uint32_t LoadRelaxed(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
inline uint32_t LoadSeqCst(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
inline void StoreRelease(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
inline void StoreSeqCst(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
inline uint32_t ExchangeSeqCst(uint32_t* p, uint32_t v) {
  return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}

// Process-shared futex (no FUTEX_PRIVATE_FLAG: the word is in a MAP_SHARED
// mapping and the other side may be another process).
inline int FutexWait(uint32_t* addr, uint32_t expected, int timeoutMs) {
  timespec ts{timeoutMs / 1000, static_cast<long>(timeoutMs % 1000) * 1000000L};
  long r = syscall(SYS_futex, addr, FUTEX_WAIT, expected, timeoutMs < 0 ? nullptr : &ts, nullptr, 0);
  return r < 0 ? -errno : 0;
}
inline int FutexWake(uint32_t* addr, int count) {
  long r = syscall(SYS_futex, addr, FUTEX_WAKE, count, nullptr, nullptr, 0);
  return r < 0 ? -errno : static_cast<int>(r);
}

// Registers this process for the asymmetric fence, once. False when the
// kernel (or a seccomp filter) does not offer it: this side then keeps the
// seq_cst stores.
inline bool LightFenceAvailable() {
  static const bool ok = [] {
    long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (q < 0 || !(q & MEMBARRIER_CMD_GLOBAL_EXPEDITED)) return false;
    return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0;
  }();
  return ok;
}

// The heavy half: every running thread of every registered process passes
// a full memory barrier before this returns. 0 or -errno.
inline int HeavyFence() {
  return syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) < 0 ? -errno : 0;
}

// A waiter calls this after setting its flag: when the peer publishes
// without a StoreLoad fence, supply it. Returns the futex sleep slice to use:
// `sliceMs`, or 1 ms (polling) if the fence could not be issued.
inline int FenceForPeer(const uint32_t* peerFence, int sliceMs) {
  // seq_cst: read after our flag store, so a peer that turned light later
  // stored its flag after our flag and sees it (see Attach()).
  if (__atomic_load_n(peerFence, __ATOMIC_SEQ_CST) && HeavyFence() < 0) return 1;
  return sliceMs;
}

inline uint32_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint32_t>(static_cast<uint64_t>(ts.tv_sec) * 1000u + ts.tv_nsec / 1000000);
}

// The waker's side of the wait protocol (W2, msgring_layout.h "Futex
// words"), in two steps around the caller's own choice of fences.
//
// First the publishing store, then the waiter's flag. Normally seq_cst
// (release for the data, StoreLoad before the flag read: the waiter's W1
// is the mirror image, so one of the two sees the other). `light`: a plain
// release store, the StoreLoad supplied by a waiter's HeavyFence(); the
// signal fence only keeps the compiler from hoisting the load.
inline uint32_t StoreThenReadFlag(uint32_t* index, uint32_t value, const uint32_t* flag, bool light) {
  if (light) {
    StoreRelease(index, value);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return LoadRelaxed(flag);
  }
  StoreSeqCst(index, value);
  return LoadSeqCst(flag);
}

// Then, if the flag was set: take it (seq_cst exchange: one waker per
// sleep), bump the wake sequence (seq_cst, so after the waiter's W1 read
// of it) and wake up to `count` sleepers. True when this call took it.
inline bool TakeFlagAndWake(uint32_t* flag, uint32_t* seq, uint32_t waiting, int count) {
  if (!waiting || !ExchangeSeqCst(flag, 0)) return false;
  __atomic_add_fetch(seq, 1, __ATOMIC_SEQ_CST);
  FutexWake(seq, count);
  return true;
}

// The waiter's side of the wait protocol (W1-W3 in msgring_layout.h,
// "Futex words"), shared by every C++ wait: `flag` is its *Waiting word,
// `seq` its wake sequence, `peerFence` the other side's fence flag (null:
// the other side always fences). `ready` re-reads the ring and must load
// with seq_cst (the StoreLoad after our flag store). Sleeps in slices of at
// most 100 ms; 0 once ready, -ETIMEDOUT when `timeoutMs` (>= 0) ran out.
template <class Ready>
inline int WaitProtocol(uint32_t* flag, uint32_t* seq, const uint32_t* peerFence, int timeoutMs, Ready ready) {
  uint32_t deadline = MonotonicMs() + static_cast<uint32_t>(timeoutMs);
  bool ok;
  for (;;) {
    // W1, all seq_cst: the wake sequence before the flag, the flag before
    // the re-read; a waker that publishes after the re-read sees the flag
    // and bumps the sequence past `seen`.
    uint32_t seen = LoadSeqCst(seq);
    RW_MSGRING_TEST_HOOK(kHookSeqRead);
    StoreSeqCst(flag, 1);
    RW_MSGRING_TEST_HOOK(kHookArmed);
    int slice = peerFence ? FenceForPeer(peerFence, 100) : 100;
    if ((ok = ready())) break;
    int left = timeoutMs < 0 ? slice : static_cast<int>(deadline - MonotonicMs());
    if (timeoutMs >= 0 && left <= 0) break;
    // W3: returns at once if a wake was issued since `seen` was read.
    FutexWait(seq, seen, left < slice ? left : slice);
  }
  // seq_cst: a waker that reads 0 skips its FUTEX_WAKE; nobody sleeps here now.
  StoreSeqCst(flag, 0);
  return ok || ready() ? 0 : -ETIMEDOUT;
}

}  // namespace rw::ring
