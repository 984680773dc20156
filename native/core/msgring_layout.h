// ringwire shared-memory message rings: the layout (ABI), its validation
// and formatting. Peers include msgring.h (spsc_ring.h and mpsc_ring.h
// still work), which brings this, msgring_sync.h and the ring classes: any
// C++17 program can (no Node) and talk to a JS peer (lib/spsc.ts and
// lib/mpsc.ts implement the same layout with Atomics) or to another C++
// process. The layout is ABI: it changes only with
// kVersion. Every offset below has a static_assert, and the addon exports
// them so test/ring.test.ts checks that TypeScript agrees.
//
// A ring lives at a 64-byte aligned offset inside a shared mapping. All
// integers are little-endian (the machine's), u32 unless noted. Indices are
// free-running u32 (they wrap at 2^32; capacity <= 2^30 keeps the
// difference unambiguous) and are masked only when used as positions.
//
//   off  size  field               written by        notes
//   --- line 0: metadata, written once by Format(); magic is stored last ---
//     0    4   magic               Format            0x47525752, bytes "RWRG"
//     4    4   version             Format            kVersion (2)
//     8    4   headerSize          Format            512; data starts here
//    12    4   kind                Format            1 = SPSC bytes, 2 = MPSC slots
//    16    4   flags               Format            SPSC: 1 (8-byte record headers)
//    20    4   capacity            Format            data bytes, power of two
//    24    4   slotSize            Format            MPSC slot bytes (SPSC: 0)
//    28    4   slotCount           Format            MPSC slots (SPSC: 0)
//    32    4   maxMessage          Format            largest payload accepted
//    36   24   reserved            -                 zero
//    60    4   checksum            Format            FNV-1a 32 of bytes 0..59
//   --- line 1 (64): producer side ---
//    64    4   writeIndex          producer(s)       SPSC: bytes committed;
//                                                    MPSC: next sequence to claim
//   --- line 2 (128): consumer side ---
//   128    4   readIndex           consumer          SPSC: bytes released;
//                                                    MPSC: next sequence to read
//   --- line 3 (192): waiters (written only on the slow path) ---
//   192    4   consumerWaiting     consumer/producer 1 = the consumer sleeps (or is about to)
//   196    4   producerWaiting     producer/consumer 1 = a producer sleeps (or is about to)
//   200    4   consumerWakeSeq     producer(s)       the consumer's futex word (bumped per wake)
//   204    4   producerWakeSeq     consumer          the producers' futex word (bumped per wake)
//   --- line 4 (256): liveness ---
//   256    4   producerPid         producer          0 = no producer attached (SPSC)
//   260    4   consumerPid         consumer          0 = no consumer attached
//   264    4   producerHeartbeat   producer          CLOCK_MONOTONIC ms, mod 2^32
//   268    4   consumerHeartbeat   consumer          CLOCK_MONOTONIC ms, mod 2^32
//   272    4   producerFence       producer          1 = commits without a StoreLoad fence
//   276    4   consumerFence       consumer          1 = releases without a StoreLoad fence
//   --- 280..511: reserved, zero ---
//   512    capacity bytes of data
//
// SPSC data: records at 8-byte aligned positions. A record is
//   u32 length (payload bytes), u32 type (application tag), payload, zero to
//   7 bytes of padding to the next multiple of 8.
// A record never wraps: when it does not fit before the end of the data
// area the producer writes a padding record (length 0xffffffff, meaning
// "skip to the end of this lap") and starts the record at position 0. The
// largest payload is capacity/2 - 8, which always fits in an empty ring.
//
// MPSC data: slotCount slots of slotSize bytes; a slot is
//   u32 seq (sequence + 1 once published), u32 length, payload.
// (see msgring_mpsc.h).
//
// Futex words (waits are process-shared: never FUTEX_PRIVATE_FLAG). Every
// wait, in C++ here and in JS (lib/internal/msgring/ring-base.ts), follows
// one protocol, with a flag (*Waiting) and a wake sequence (*WakeSeq) per
// side:
//   W1  the waiter reads the wake sequence, then stores its flag = 1, then
//       re-reads the index;
//   W2  the other side stores the index, then reads the flag, and only if it
//       is 1 exchanges it to 0, bumps the wake sequence and issues
//       FUTEX_WAKE on it - one system call per sleep, none per message;
//   W3  the waiter sleeps on the wake sequence while it holds the value W1
//       read.
// W1's flag store and re-read and W2's index store and flag read are each
// ordered store-before-load (below), so the waiter sees the index move or
// the waker sees the flag. A waker that saw the flag bumps the sequence
// after its exchange, which follows the flag store, which follows W1's read
// of the sequence: the sleep either is queued before the bump (the wake
// finds it) or compares unequal and returns at once - futex(2) makes
// FUTEX_WAIT's compare and queueing atomic against FUTEX_WAKE. The sequence
// only grows, so no value comes back (the flag's 1 would: another waiter
// sets it again). Version 1 read the word it slept on (the index, or
// wakeSeq) after the flag store: progress that did not satisfy the waiter
// (a release too small, an MPSC publish of a later slot), landing between
// the flag store and that read, spent the flag on a wake nobody heard, and
// the waiter slept with its flag clear until its timeout (CI, 2026-12-05;
// reproduced through RW_MSGRING_TEST_HOOK in test/native/msgring_test.cc and
// by test/ring.test.ts). A waiter clears its flag when its endpoint's last
// wait ends, unless other endpoints share the flag (MPSC producers): a clear
// under a sleeping peer would lose that peer's wake-up.
//
// That handshake needs a StoreLoad fence on both sides (store index, then
// read flag / store flag, then read index). A C++ side whose process could
// register for membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) leaves it out of
// the hot path (a plain release store) and says so in producerFence /
// consumerFence; a waiter that sees the peer's fence flag calls membarrier()
// between setting its flag and re-reading the index, which runs a full
// barrier on every CPU the peer runs on (an asymmetric fence, as in liburcu).
// JS sides always use Atomics (seq_cst) and leave their flag 0.
#pragma once

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "msgring_sync.h"

namespace rw::ring {

constexpr uint32_t kMagic = 0x47525752u;  // "RWRG" in memory order
constexpr uint32_t kVersion = 2;  // 2: the wake sequences (see "Futex words")
constexpr uint32_t kHeaderSize = 512;
constexpr uint32_t kAlign = 64;  // ring offset alignment (one cache line)
constexpr uint32_t kKindSpsc = 1;
constexpr uint32_t kKindMpsc = 2;
constexpr uint32_t kFlagRecordHeader = 1u << 0;
constexpr uint32_t kRecordHeader = 8;
constexpr uint32_t kPadding = 0xffffffffu;
constexpr uint32_t kMinCapacity = 64;
constexpr uint32_t kMaxCapacity = 1u << 30;

struct Header {
  uint32_t magic;
  uint32_t version;
  uint32_t headerSize;
  uint32_t kind;
  uint32_t flags;
  uint32_t capacity;
  uint32_t slotSize;
  uint32_t slotCount;
  uint32_t maxMessage;
  uint32_t reserved0[6];
  uint32_t checksum;
  uint32_t writeIndex;
  uint8_t pad1[60];
  uint32_t readIndex;
  uint8_t pad2[60];
  uint32_t consumerWaiting;
  uint32_t producerWaiting;
  uint32_t consumerWakeSeq;
  uint32_t producerWakeSeq;
  uint8_t pad3[48];
  uint32_t producerPid;
  uint32_t consumerPid;
  uint32_t producerHeartbeat;
  uint32_t consumerHeartbeat;
  uint32_t producerFence;
  uint32_t consumerFence;
  uint8_t reserved1[232];
};

constexpr size_t kOffMagic = 0, kOffVersion = 4, kOffHeaderSize = 8, kOffKind = 12,
                 kOffFlags = 16, kOffCapacity = 20, kOffSlotSize = 24, kOffSlotCount = 28,
                 kOffMaxMessage = 32, kOffChecksum = 60, kOffWriteIndex = 64,
                 kOffReadIndex = 128, kOffConsumerWaiting = 192, kOffProducerWaiting = 196,
                 kOffConsumerWakeSeq = 200, kOffProducerWakeSeq = 204, kOffProducerPid = 256, kOffConsumerPid = 260,
                 kOffProducerHeartbeat = 264, kOffConsumerHeartbeat = 268,
                 kOffProducerFence = 272, kOffConsumerFence = 276;
static_assert(offsetof(Header, magic) == kOffMagic, "layout");
static_assert(offsetof(Header, version) == kOffVersion, "layout");
static_assert(offsetof(Header, headerSize) == kOffHeaderSize, "layout");
static_assert(offsetof(Header, kind) == kOffKind, "layout");
static_assert(offsetof(Header, flags) == kOffFlags, "layout");
static_assert(offsetof(Header, capacity) == kOffCapacity, "layout");
static_assert(offsetof(Header, slotSize) == kOffSlotSize, "layout");
static_assert(offsetof(Header, slotCount) == kOffSlotCount, "layout");
static_assert(offsetof(Header, maxMessage) == kOffMaxMessage, "layout");
static_assert(offsetof(Header, checksum) == kOffChecksum, "layout");
static_assert(offsetof(Header, writeIndex) == kOffWriteIndex, "producer index on its own line");
static_assert(offsetof(Header, readIndex) == kOffReadIndex, "consumer index on its own line");
static_assert(offsetof(Header, consumerWaiting) == kOffConsumerWaiting, "layout");
static_assert(offsetof(Header, producerWaiting) == kOffProducerWaiting, "layout");
static_assert(offsetof(Header, consumerWakeSeq) == kOffConsumerWakeSeq, "layout");
static_assert(offsetof(Header, producerWakeSeq) == kOffProducerWakeSeq, "layout");
static_assert(offsetof(Header, producerPid) == kOffProducerPid, "layout");
static_assert(offsetof(Header, consumerPid) == kOffConsumerPid, "layout");
static_assert(offsetof(Header, producerHeartbeat) == kOffProducerHeartbeat, "layout");
static_assert(offsetof(Header, consumerHeartbeat) == kOffConsumerHeartbeat, "layout");
static_assert(offsetof(Header, producerFence) == kOffProducerFence, "layout");
static_assert(offsetof(Header, consumerFence) == kOffConsumerFence, "layout");
static_assert(kOffReadIndex - kOffWriteIndex == 64 && kOffConsumerWaiting - kOffReadIndex == 64,
              "indices and waiter flags on separate 64-byte lines");
static_assert(sizeof(Header) == kHeaderSize, "header is 512 bytes");

// Why an attach was refused. Numbers are exported to JS (same reasons there).
enum Status : int {
  kOk = 0,
  kErrTooSmall = 1,     // region shorter than header (+ data)
  kErrMisaligned = 2,   // ring offset not 64-byte aligned
  kErrMagic = 3,        // not a ring (or not initialised yet)
  kErrVersion = 4,      // a layout version this code does not know
  kErrHeaderSize = 5,
  kErrKind = 6,         // SPSC attached as MPSC or vice versa
  kErrFlags = 7,
  kErrCapacity = 8,     // not a power of two, out of range, beyond the region
  kErrSlots = 9,        // MPSC slot geometry inconsistent
  kErrChecksum = 10,    // metadata line corrupted
  kErrIndices = 11,     // indices impossible (more in flight than capacity, misaligned)
};

inline const char* StatusText(int s) {
  switch (s) {
    case kOk: return "ok";
    case kErrTooSmall: return "region too small for the ring";
    case kErrMisaligned: return "ring offset is not 64-byte aligned";
    case kErrMagic: return "bad magic (not a ringwire ring, or not initialised)";
    case kErrVersion: return "unsupported layout version";
    case kErrHeaderSize: return "bad header size";
    case kErrKind: return "wrong ring kind";
    case kErrFlags: return "unknown layout flags";
    case kErrCapacity: return "bad capacity";
    case kErrSlots: return "bad slot geometry";
    case kErrChecksum: return "header checksum mismatch";
    case kErrIndices: return "indices out of range";
    default: return "unknown";
  }
}

// FNV-1a over the metadata line before the checksum field.
inline uint32_t Checksum(const void* base) {
  const uint8_t* b = static_cast<const uint8_t*>(base);
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < kOffChecksum; i++) h = (h ^ b[i]) * 16777619u;
  return h;
}

inline bool IsPow2(uint32_t v) { return v && !(v & (v - 1)); }
inline uint32_t SpscMaxMessage(uint32_t capacity) { return capacity / 2 - kRecordHeader; }

// Validates a header before anything else touches the ring. Reads only the
// first `len` bytes; never trusts a field before checking it.
inline int Validate(const void* base, size_t len, uint32_t kind) {
  if (reinterpret_cast<uintptr_t>(base) % kAlign) return kErrMisaligned;
  if (len < kHeaderSize) return kErrTooSmall;
  const Header* h = static_cast<const Header*>(base);
  // acquire: pairs with Format()'s release store of magic, so every other
  // metadata field is visible once the magic is.
  if (LoadAcquire(&h->magic) != kMagic) return kErrMagic;
  if (h->version != kVersion) return kErrVersion;
  if (h->checksum != Checksum(base)) return kErrChecksum;
  if (h->headerSize != kHeaderSize) return kErrHeaderSize;
  if (h->kind != kind) return kErrKind;
  uint32_t cap = h->capacity;
  if (!IsPow2(cap) || cap < kMinCapacity || cap > kMaxCapacity) return kErrCapacity;
  if (len - kHeaderSize < cap) return kErrTooSmall;
  if (kind == kKindSpsc) {
    if (h->flags != kFlagRecordHeader) return kErrFlags;
    if (h->slotSize || h->slotCount || h->maxMessage != SpscMaxMessage(cap)) return kErrSlots;
  } else {
    if (h->flags != 0) return kErrFlags;
    uint32_t ss = h->slotSize, sc = h->slotCount;
    if (!IsPow2(ss) || ss < 16 || !IsPow2(sc) || sc < 2 ||
        static_cast<uint64_t>(ss) * sc != cap || h->maxMessage != ss - 8)
      return kErrSlots;
  }
  for (const uint32_t* r = h->reserved0; r != h->reserved0 + 6; r++)
    if (*r) return kErrChecksum;
  // A consistent snapshot needs read before write (write only grows ahead of
  // read); a racing peer can still move between the loads, so retry.
  uint32_t limit = kind == kKindSpsc ? cap : h->slotCount;
  for (int attempt = 0;; attempt++) {
    uint32_t r = LoadAcquire(&h->readIndex);
    uint32_t w = LoadAcquire(&h->writeIndex);
    bool aligned = kind != kKindSpsc || ((r | w) & 7) == 0;
    if (aligned && w - r <= limit) break;
    if (attempt == 3) return kErrIndices;
  }
  return kOk;
}

// Writes a fresh header. The caller owns the memory exclusively (nobody is
// attached yet). Returns a Status.
inline int FormatHeader(void* base, size_t len, uint32_t kind, uint32_t capacity,
                        uint32_t slotSize, uint32_t slotCount) {
  if (reinterpret_cast<uintptr_t>(base) % kAlign) return kErrMisaligned;
  if (!IsPow2(capacity) || capacity < kMinCapacity || capacity > kMaxCapacity) return kErrCapacity;
  if (len < kHeaderSize || len - kHeaderSize < capacity) return kErrTooSmall;
  Header* h = static_cast<Header*>(base);
  // A re-format first hides the old ring from late attachers.
  __atomic_store_n(&h->magic, 0u, __ATOMIC_RELAXED);
  memset(static_cast<uint8_t*>(base) + 4, 0, kHeaderSize - 4);
  h->version = kVersion;
  h->headerSize = kHeaderSize;
  h->kind = kind;
  h->flags = kind == kKindSpsc ? kFlagRecordHeader : 0;
  h->capacity = capacity;
  h->slotSize = slotSize;
  h->slotCount = slotCount;
  h->maxMessage = kind == kKindSpsc ? SpscMaxMessage(capacity) : slotSize - 8;
  // The checksum covers the magic too, so compute it as it will read.
  uint32_t saved = h->magic;
  h->magic = kMagic;
  h->checksum = Checksum(base);
  h->magic = saved;
  // release: every field above (and the zeroed indices) is visible before
  // an attacher's acquire load sees the magic.
  StoreRelease(&h->magic, kMagic);
  return kOk;
}

inline int FormatSpsc(void* base, size_t len, uint32_t capacity) {
  return FormatHeader(base, len, kKindSpsc, capacity, 0, 0);
}

}  // namespace rw::ring
