// Packet-ring receive coalescing (native/core/packet_coalesce.h): when a
// ring starts holding off, how the period adapts, and when it goes back to
// waking per arrival. The binding arms a timerfd with what this returns.
#include "check.h"
#include "core/packet_coalesce.h"

using rw::CoalescePolicy;
using rw::Coalescer;

namespace {
// What the binding does: enter with the longest period.
void EnterAsBinding(Coalescer& c) {
  c.Armed(c.policy().maxUs);
  c.Enter();
}
}  // namespace

TEST("coalesce: off (maxUs 0) never holds off, however many frames a wake finds") {
  Coalescer c;
  c.SetPolicy(CoalescePolicy{0, 0, 1, 1, 0});
  CHECK(!c.enabled());
  CHECK(!c.ShouldEnter(1000000));
}

TEST("coalesce: a wake with fewer than enterFrames frames keeps waking per arrival") {
  Coalescer c;
  c.SetPolicy(CoalescePolicy{20, 200, 8, 4, 0});
  CHECK(!c.ShouldEnter(7));
  CHECK(c.ShouldEnter(8));
  EnterAsBinding(c);
  CHECK(c.holding());
  CHECK(c.periodUs() == 200);
  CHECK(!c.ShouldEnter(100));  // already holding: no second entry
}

TEST("coalesce: sparse traffic during a holdoff goes back to per-arrival wakes (no added delay)") {
  Coalescer c;
  c.SetPolicy(CoalescePolicy{200, 200, 1, 4, 0});
  EnterAsBinding(c);
  uint32_t us = 0;
  // stayFrames 4 per maxUs (200 us) of a 200 us period: 3 frames is too few.
  CHECK(!c.NextPeriod(3, &us));
  CHECK(c.NextPeriod(4, &us));
  CHECK(us == 200);  // fixed period (targetFrames 0)
  c.Exit();
  CHECK(!c.holding());
  CHECK(c.periodUs() == 0);
}

TEST("coalesce: an adaptive period aims at targetFrames per drain, clamped to [minUs, maxUs]") {
  Coalescer c;
  c.SetPolicy(CoalescePolicy{10, 400, 1, 1, 64});
  EnterAsBinding(c);  // 400 us
  uint32_t us = 0;
  REQUIRE(c.NextPeriod(128, &us));
  CHECK(us == 200);  // twice the target: half the period
  c.Armed(us);
  REQUIRE(c.NextPeriod(64, &us));
  CHECK(us == 200);  // on target: unchanged
  REQUIRE(c.NextPeriod(100000, &us));
  CHECK(us == 10);  // a flood: never below minUs
  c.Armed(us);
  // stayFrames 1 per 400 us: over a 10 us period even 1 frame is plenty.
  REQUIRE(c.NextPeriod(1, &us));
  CHECK(us == 400);  // slow: never above maxUs
}

TEST("coalesce: the stay test does not overflow with large counts and periods") {
  Coalescer c;
  c.SetPolicy(CoalescePolicy{1, 4000000000u, 1, 4000000000u, 0});
  EnterAsBinding(c);
  uint32_t us = 0;
  // got * maxUs and stayFrames * period both exceed 2^32: computed in 64 bits.
  CHECK(c.NextPeriod(4000000000u, &us));
  CHECK(!c.NextPeriod(3999999999u, &us));
}
