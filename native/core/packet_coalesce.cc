#include "packet_coalesce.h"

namespace rw {

bool Coalescer::NextPeriod(uint32_t got, uint32_t* us) const {
  const CoalescePolicy& c = policy_;
  // Below stayFrames per maxUs of period the traffic is sparse enough for
  // per-arrival wakes, which add no delay.
  if (static_cast<uint64_t>(got) * c.maxUs < static_cast<uint64_t>(c.stayFrames) * periodUs_) return false;
  uint64_t want = periodUs_;
  if (c.targetFrames && got) {
    // Aim the period at targetFrames per drain: shorter when traffic is
    // fast (less delay, and the fill ring never has to cover a long
    // period), longer when it is slow.
    want = static_cast<uint64_t>(periodUs_) * c.targetFrames / got;
    if (want < c.minUs) want = c.minUs;
    if (want > c.maxUs) want = c.maxUs;
  }
  *us = static_cast<uint32_t>(want);
  return true;
}

}  // namespace rw
