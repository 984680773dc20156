// Message rings (native/core/msgring*.h): the layout checks and index
// arithmetic in one process, and the wait protocol's interleavings made
// reproducible through its test hook.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>

// The wait test hook (msgring_sync.h): runs `g_hook` at the named step of
// every wait. Defined before the include; no other translation unit of this
// binary includes the ring headers, so the inline classes have one
// definition.
static std::function<void(int)> g_hook;
#define RW_MSGRING_TEST_HOOK(step) \
  do {                             \
    if (g_hook) g_hook(step);      \
  } while (0)

#include "check.h"
#include "core/msgring.h"

using namespace rw::ring;

namespace {

struct Region {
  explicit Region(size_t n) : len(n), base(static_cast<uint8_t*>(std::aligned_alloc(64, n))) {
    std::memset(base, 0xa5, n);  // garbage, as a fresh region may hold
  }
  ~Region() { std::free(base); }
  size_t len;
  uint8_t* base;
  Header* h() { return reinterpret_cast<Header*>(base); }
};

// Moves both indices of a freshly formatted, empty ring to `at` (as if it had
// carried that many bytes), keeping the header valid.
void StartAt(Header* h, uint32_t at) {
  h->readIndex = at;
  h->writeIndex = at;
}

bool SendOne(SpscProducer& p, uint32_t len, uint8_t fill) {
  uint8_t* dst = p.Claim(len, fill);
  if (!dst) return false;
  std::memset(dst, fill, len);
  return true;
}

bool ReadOne(SpscConsumer& c, uint32_t wantLen, uint8_t fill) {
  uint32_t len = 0, type = 0;
  const uint8_t* m = c.Read(&len, &type);
  if (!m || len != wantLen || type != fill) return false;
  for (uint32_t i = 0; i < len; i++)
    if (m[i] != fill) return false;
  return true;
}

}  // namespace

TEST("spsc: a record that does not fit before the end of the lap wraps through a padding record and arrives intact") {
  Region r(kHeaderSize + 256);
  REQUIRE(FormatSpsc(r.base, r.len, 256) == kOk);
  SpscProducer p;
  SpscConsumer c;
  REQUIRE(p.Attach(r.base, r.len) == kOk);
  REQUIRE(c.Attach(r.base, r.len) == kOk);
  // 3 x 64-byte records (56 payload + 8 header) leave 64 bytes to the end;
  // a 100-byte payload needs 112: padding to the end, then position 0.
  for (uint8_t i = 1; i <= 3; i++) REQUIRE(SendOne(p, 56, i));
  p.Commit();
  for (uint8_t i = 1; i <= 3; i++) CHECK(ReadOne(c, 56, i));
  c.Release();
  REQUIRE(SendOne(p, 100, 9));
  p.Commit();
  CHECK(ReadOne(c, 100, 9));
  c.Release();
  CHECK(!c.Corrupt());
  CHECK(r.h()->writeIndex == 3 * 64 + 64 + 112);
  CHECK(r.h()->readIndex == r.h()->writeIndex);
}

TEST("spsc: free-running indices crossing 2^32 lose and duplicate nothing") {
  Region r(kHeaderSize + 1024);
  REQUIRE(FormatSpsc(r.base, r.len, 1024) == kOk);
  StartAt(r.h(), 0u - 520u);  // 8-byte aligned, 520 bytes before the wrap
  SpscProducer p;
  SpscConsumer c;
  REQUIRE(p.Attach(r.base, r.len) == kOk);
  REQUIRE(c.Attach(r.base, r.len) == kOk);
  uint32_t start = r.h()->writeIndex;
  int sent = 0, got = 0;
  for (int round = 0; round < 200; round++) {
    for (int k = 0; k < 3; k++)
      if (SendOne(p, 13 + (round * 7 + k) % 90, static_cast<uint8_t>(sent + 1))) sent++;
    p.Commit();
    while (got < sent) {
      uint32_t want = 13 + ((got / 3) * 7 + got % 3) % 90;
      if (!ReadOne(c, want, static_cast<uint8_t>(got + 1))) break;
      got++;
    }
    c.Release();
  }
  CHECK(sent == 600);
  CHECK(got == sent);
  CHECK(!c.Corrupt());
  CHECK(r.h()->writeIndex < start);  // it did wrap
}

TEST("spsc: a full ring refuses a claim instead of overwriting unread bytes") {
  Region r(kHeaderSize + 128);
  REQUIRE(FormatSpsc(r.base, r.len, 128) == kOk);
  SpscProducer p;
  SpscConsumer c;
  REQUIRE(p.Attach(r.base, r.len) == kOk);
  REQUIRE(c.Attach(r.base, r.len) == kOk);
  REQUIRE(SendOne(p, 56, 1));
  REQUIRE(SendOne(p, 56, 2));
  CHECK(p.Claim(1) == nullptr);  // 128 bytes in flight: no room for 16 more
  p.Commit();
  CHECK(ReadOne(c, 56, 1));
  CHECK(p.Claim(1) == nullptr);  // read but not released: still not free
  c.Release();
  CHECK(SendOne(p, 1, 3));
  CHECK(p.Claim(SpscMaxMessage(128) + 1) == nullptr);  // larger than any ring lap allows
}

TEST("spsc: a padding header outside the committed bytes is corruption, not a jump past the write index") {
  Region r(kHeaderSize + 256);
  REQUIRE(FormatSpsc(r.base, r.len, 256) == kOk);
  SpscProducer p;
  SpscConsumer c;
  REQUIRE(p.Attach(r.base, r.len) == kOk);
  REQUIRE(c.Attach(r.base, r.len) == kOk);
  REQUIRE(SendOne(p, 8, 1));
  p.Commit();
  // A hostile peer rewrites the committed record's length as "padding".
  uint32_t pad = kPadding;
  std::memcpy(r.base + kHeaderSize, &pad, 4);
  uint32_t len = 0;
  CHECK(c.Read(&len) == nullptr);
  CHECK(c.Corrupt());
}

TEST("spsc: a record length beyond the committed bytes is corruption, not an out-of-bounds read") {
  Region r(kHeaderSize + 256);
  REQUIRE(FormatSpsc(r.base, r.len, 256) == kOk);
  SpscProducer p;
  SpscConsumer c;
  REQUIRE(p.Attach(r.base, r.len) == kOk);
  REQUIRE(c.Attach(r.base, r.len) == kOk);
  REQUIRE(SendOne(p, 8, 1));
  p.Commit();
  uint32_t big = 64;  // committed: 16 bytes
  std::memcpy(r.base + kHeaderSize, &big, 4);
  uint32_t len = 0;
  CHECK(c.Read(&len) == nullptr);
  CHECK(c.Corrupt());
}

TEST("validate: a damaged or foreign header is refused with its reason before any index is used") {
  Region r(kHeaderSize + 256);
  REQUIRE(FormatSpsc(r.base, r.len, 256) == kOk);
  CHECK(Validate(r.base, r.len, kKindSpsc) == kOk);
  CHECK(Validate(r.base, r.len, kKindMpsc) == kErrKind);
  CHECK(Validate(r.base, kHeaderSize - 1, kKindSpsc) == kErrTooSmall);
  CHECK(Validate(r.base, kHeaderSize + 128, kKindSpsc) == kErrTooSmall);  // data area cut short
  CHECK(Validate(r.base + 8, r.len - 8, kKindSpsc) == kErrMisaligned);
  r.h()->capacity = 200;  // checksum first: a flipped metadata byte is caught there
  CHECK(Validate(r.base, r.len, kKindSpsc) == kErrChecksum);
  r.h()->capacity = 256;
  CHECK(Validate(r.base, r.len, kKindSpsc) == kOk);
  r.h()->writeIndex = 256 + 8;  // more in flight than the capacity
  CHECK(Validate(r.base, r.len, kKindSpsc) == kErrIndices);
  r.h()->writeIndex = 4;  // not 8-byte aligned
  CHECK(Validate(r.base, r.len, kKindSpsc) == kErrIndices);
  r.h()->writeIndex = 0;
  r.h()->magic = 0;
  CHECK(Validate(r.base, r.len, kKindSpsc) == kErrMagic);
  CHECK(FormatSpsc(r.base, r.len, 100) == kErrCapacity);
  CHECK(FormatSpsc(r.base, r.len, 32) == kErrCapacity);
}

TEST("mpsc: a slot left from the previous lap is not read as a new message") {
  Region r(kHeaderSize + 4 * 64);
  REQUIRE(FormatMpsc(r.base, r.len, 64, 4) == kOk);
  MpscProducer p;
  MpscConsumer c;
  REQUIRE(p.Attach(r.base, r.len) == kOk);
  REQUIRE(c.Attach(r.base, r.len) == kOk);
  uint32_t len = 0;
  for (uint32_t lap = 0; lap < 3; lap++) {
    for (uint32_t i = 0; i < 4; i++) {
      uint32_t v = lap * 4 + i;
      REQUIRE(p.Send(&v, 4));
    }
    CHECK(!p.Send(&len, 4));  // four slots, none released: full
    for (uint32_t i = 0; i < 4; i++) {
      const uint8_t* m = c.Read(&len);
      REQUIRE(m && len == 4);
      uint32_t v;
      std::memcpy(&v, m, 4);
      CHECK(v == lap * 4 + i);
    }
    // Every slot still holds last lap's published sequence: nothing new.
    CHECK(c.Read(&len) == nullptr);
    c.Release();
  }
  CHECK(!c.Corrupt());
}

TEST("mpsc: a claimed but unpublished slot stalls the consumer instead of exposing a torn message") {
  Region r(kHeaderSize + 4 * 64);
  REQUIRE(FormatMpsc(r.base, r.len, 64, 4) == kOk);
  MpscProducer a, b;
  MpscConsumer c;
  REQUIRE(a.Attach(r.base, r.len) == kOk);
  REQUIRE(b.Attach(r.base, r.len) == kOk);
  REQUIRE(c.Attach(r.base, r.len) == kOk);
  uint32_t seqA = 0, seqB = 0, len = 0;
  REQUIRE(a.Claim(1, &seqA));
  REQUIRE(b.Claim(1, &seqB));
  CHECK(seqB == seqA + 1);
  b.Publish(seqB, 0);
  CHECK(c.Read(&len) == nullptr);  // seqA first, and it is a hole
  CHECK(c.Stalled());
  a.Publish(seqA, 0);
  CHECK(c.Read(&len) != nullptr);
  CHECK(c.Read(&len) != nullptr);
  CHECK(!c.Stalled());
}

TEST("mpsc: free-running sequences crossing 2^32 keep slot order") {
  Region r(kHeaderSize + 8 * 16);
  REQUIRE(FormatMpsc(r.base, r.len, 16, 8) == kOk);
  // As if 2^32 - 16 messages had passed: indices there, and each slot
  // holding the marker the previous lap left (a zeroed slot would read as
  // published for the sequence whose marker wraps to 0).
  uint32_t start = 0xfffffff0u;
  StartAt(r.h(), start);
  for (uint32_t s = start - 8; s != start; s++) {
    uint32_t marker = s + 1;
    std::memcpy(r.base + kHeaderSize + (s & 7) * 16, &marker, 4);
  }
  MpscProducer p;
  MpscConsumer c;
  REQUIRE(p.Attach(r.base, r.len) == kOk);
  REQUIRE(c.Attach(r.base, r.len) == kOk);
  uint32_t next = 0, len = 0;
  for (uint32_t round = 0; round < 10; round++) {
    for (uint32_t k = 0; k < 5; k++) {
      uint32_t v = round * 5 + k;
      REQUIRE(p.Send(&v, 4));
    }
    while (const uint8_t* m = c.Read(&len)) {
      uint32_t v;
      std::memcpy(&v, m, 4);
      CHECK(v == next);
      next++;
    }
    c.Release();
  }
  CHECK(next == 50);
  CHECK(r.h()->readIndex == 0xfffffff0u + 50);
}

TEST("mpsc: slot geometry that does not multiply to the capacity is refused") {
  Region r(kHeaderSize + 1024);
  CHECK(FormatMpsc(r.base, r.len, 24, 8) == kErrSlots);
  CHECK(FormatMpsc(r.base, r.len, 64, 1) == kErrSlots);
  CHECK(FormatMpsc(r.base, r.len, 64, 32) == kErrTooSmall);
  REQUIRE(FormatMpsc(r.base, r.len, 64, 16) == kOk);
  r.h()->slotCount = 8;
  CHECK(Validate(r.base, r.len, kKindMpsc) == kErrChecksum);
}

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

// W1-W3 in msgring_layout.h, with the peer's step injected at each point of
// W1. Version 1 read the word it slept on after the flag store: the step
// injected there spent the flag on a wake nobody heard, and the waiter slept
// through the real progress below until its 100 ms slice ended.
TEST("wait: a release too small for a waiting producer, landing inside its W1, does not cost it the next release") {
  for (int at : {kHookSeqRead, kHookArmed}) {
    Region r(kHeaderSize + 1024);
    REQUIRE(FormatSpsc(r.base, r.len, 1024) == kOk);
    SpscProducer p;
    SpscConsumer c;
    REQUIRE(p.Attach(r.base, r.len) == kOk);
    REQUIRE(c.Attach(r.base, r.len) == kOk);
    int n = 0;
    while (p.Claim(0, 0)) n++;
    p.Commit();
    REQUIRE(n == 128);  // 1 KiB of 8-byte records
    uint32_t len, type;
    REQUIRE(c.Read(&len, &type) != nullptr);  // read, not yet released
    int hits = 0;
    g_hook = [&](int step) {
      if (step == at && hits++ == 0) c.Release();  // frees 8 bytes; 72 needed
    };
    Clock::time_point released{};
    std::thread peer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      while (c.Read(&len, &type)) {
      }
      released = Clock::now();
      c.Release();
    });
    int rc = p.WaitForSpace(64, 3000, 0);
    Clock::time_point back = Clock::now();
    peer.join();
    g_hook = nullptr;
    double late = std::chrono::duration<double, std::milli>(back - released).count();
    CHECK(rc == 0);
    CHECK(hits >= 2);  // the step ran, and the waiter went round W1 again
    // A futex wake takes microseconds; a lost one costs the rest of a 100 ms slice.
    if (late >= 50) std::fprintf(stderr, "    step %d: woken %.1f ms after the release\n", at, late);
    CHECK(late < 50);
  }
}

TEST("wait: an MPSC publish of another slot, landing inside the consumer's W1, does not cost it the publish it waits for") {
  for (int at : {kHookSeqRead, kHookArmed}) {
    Region r(kHeaderSize + 16 * 64);
    REQUIRE(FormatMpsc(r.base, r.len, 64, 16) == kOk);
    MpscProducer a, b;
    MpscConsumer c;
    REQUIRE(a.Attach(r.base, r.len) == kOk);
    REQUIRE(b.Attach(r.base, r.len) == kOk);
    REQUIRE(c.Attach(r.base, r.len) == kOk);
    uint32_t s0, s1;
    REQUIRE(a.Claim(1, &s0));
    REQUIRE(b.Claim(1, &s1));
    int hits = 0;
    g_hook = [&](int step) {
      if (step == at && hits++ == 0) b.Publish(s1, 0);  // not the slot the consumer waits for
    };
    Clock::time_point published{};
    std::thread peer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      published = Clock::now();
      a.Publish(s0, 0);
    });
    int rc = c.Wait(3000, 0);
    Clock::time_point back = Clock::now();
    peer.join();
    g_hook = nullptr;
    double late = std::chrono::duration<double, std::milli>(back - published).count();
    CHECK(rc == 0);
    CHECK(hits >= 2);
    if (late >= 50) std::fprintf(stderr, "    step %d: woken %.1f ms after the publish\n", at, late);
    CHECK(late < 50);
  }
}
