// Receive coalescing for packet rings, as a state machine without timers or
// file descriptors (the binding owns those: a timerfd polled by libuv).
// After an fd wake that found enough frames the ring stops watching its fd
// and drains on a one-shot holdoff timer instead, as long as traffic keeps
// coming - NAPI's poll mode, or a NIC's rx-usecs, in user space. The numbers
// (when to start, how long a period, when to stop) are policy and come from
// lib/packet-ring.ts; this class only applies them. Plain C++, unit-tested in
// test/native/packet_coalesce_test.cc.
#pragma once

#include <cstdint>

namespace rw {

// maxUs == 0: off, every arrival wakes the ring.
struct CoalescePolicy {
  uint32_t minUs = 0, maxUs = 0;  // period bounds; equal for a fixed period
  uint32_t enterFrames = 1;       // frames one fd wake must find to start coalescing
  uint32_t stayFrames = 1;        // frames per maxUs of period needed to keep coalescing
  uint32_t targetFrames = 0;      // frames per period the period adapts to (0: fixed)
};

class Coalescer {
 public:
  void SetPolicy(const CoalescePolicy& p) { policy_ = p; }
  const CoalescePolicy& policy() const { return policy_; }
  bool enabled() const { return policy_.maxUs != 0; }
  bool holding() const { return holding_; }
  uint32_t periodUs() const { return periodUs_; }

  // After an fd wake that delivered `got` frames: start holding off? The
  // first period is the longest (maxUs); NextPeriod shortens it.
  bool ShouldEnter(uint32_t got) const { return enabled() && !holding_ && got >= policy_.enterFrames; }
  // The binding armed its timer for `us` (0 disarmed it).
  void Armed(uint32_t us) { periodUs_ = us; }
  void Enter() { holding_ = true; }
  void Exit() {
    holding_ = false;
    periodUs_ = 0;
  }
  // After a holdoff drain of `got` frames: false when traffic has become
  // too sparse to hold off (back to waking per arrival, which adds no
  // delay); else true with the next period in *us.
  bool NextPeriod(uint32_t got, uint32_t* us) const;

 private:
  CoalescePolicy policy_;
  uint32_t periodUs_ = 0;  // the holdoff timer's current period
  bool holding_ = false;
};

}  // namespace rw
