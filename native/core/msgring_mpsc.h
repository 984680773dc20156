// ringwire MPSC ring, LMAX-style: many producers (threads or processes)
// claim sequences with a CAS on writeIndex, fill their slots, and publish
// each slot on its own by storing its sequence; the one consumer reads in
// sequence order and releases slots by advancing readIndex.
//
// Header: see msgring_layout.h (kind = 2). writeIndex is the next sequence to
// claim, readIndex the next sequence the consumer will read (everything
// before it is free). Data: slotCount slots of slotSize bytes, each
//   off 0  u32 seq     sequence + 1 once published (0 = never written)
//   off 4  u32 length  payload bytes (<= slotSize - 8)
//   off 8  payload
// A slot is free for sequence s once readIndex > s - slotCount; the
// consumer sees s published when slot.seq == s + 1 (mod 2^32), so a slot
// left over from the previous lap can never be mistaken for a new one.
//
// A producer killed between its claim and its publish leaves a hole the
// consumer cannot pass (as in the Disruptor): Publish() is the only thing
// that makes a slot visible, so a torn message is never read, but the
// sequence stalls. MpscConsumer::Stalled() reports it.
#pragma once

#include "msgring_layout.h"
#include "msgring_sync.h"

namespace rw::ring {

constexpr uint32_t kSlotHeader = 8;
constexpr uint32_t kMinSlotSize = 16;
constexpr uint32_t kMaxSlotSize = 1u << 20;

inline int FormatMpsc(void* base, size_t len, uint32_t slotSize, uint32_t slotCount) {
  if (!IsPow2(slotSize) || slotSize < kMinSlotSize || slotSize > kMaxSlotSize ||
      !IsPow2(slotCount) || slotCount < 2)
    return kErrSlots;
  uint64_t cap = static_cast<uint64_t>(slotSize) * slotCount;
  if (cap > kMaxCapacity || cap < kMinCapacity) return kErrCapacity;
  if (len < kHeaderSize || len - kHeaderSize < cap) return kErrTooSmall;
  uint8_t* data = static_cast<uint8_t*>(base) + kHeaderSize;
  // Unpublished slots must read as seq 0; FormatHeader's release store of
  // the magic orders these writes before any attach.
  for (uint32_t i = 0; i < slotCount; i++) memset(data + static_cast<size_t>(i) * slotSize, 0, kSlotHeader);
  return FormatHeader(base, len, kKindMpsc, static_cast<uint32_t>(cap), slotSize, slotCount);
}

// Cache-line aligned: endpoint objects in one process must not false-share.
class alignas(64) MpscProducer {
 public:
  int Attach(void* base, size_t len) {
    int s = Validate(base, len, kKindMpsc);
    if (s) return s;
    h_ = static_cast<Header*>(base);
    data_ = static_cast<uint8_t*>(base) + kHeaderSize;
    slot_size_ = h_->slotSize;
    count_ = h_->slotCount;
    max_ = h_->maxMessage;
    cached_read_ = LoadAcquire(&h_->readIndex);
    return kOk;
  }
  uint32_t MaxMessage() const { return max_; }
  bool Corrupt() const { return corrupt_; }

  // Claims n consecutive sequences (n <= slotCount); false when fewer are free.
  bool Claim(uint32_t n, uint32_t* first) {
    if (n == 0 || n > count_ || corrupt_) return false;
    uint32_t c = LoadRelaxed(&h_->writeIndex);
    for (;;) {
      if (c - cached_read_ + n > count_) {
        // acquire: the consumer is done with every slot before readIndex,
        // so our writes into them cannot race its reads.
        cached_read_ = LoadAcquire(&h_->readIndex);
        int32_t used = static_cast<int32_t>(c - cached_read_);
        if (used < 0) {
          // c is stale (others claimed, the consumer read past it): reload.
          c = LoadRelaxed(&h_->writeIndex);
          continue;
        }
        if (static_cast<uint32_t>(used) > count_) {
          corrupt_ = true;
          return false;
        }
        if (static_cast<uint32_t>(used) + n > count_) return false;
      }
      // relaxed CAS: it only reserves sequence numbers; what others may see
      // of our slot is ordered by Publish(), not by the claim.
      if (__atomic_compare_exchange_n(&h_->writeIndex, &c, c + n, true, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED)) {
        *first = c;
        return true;
      }
    }
  }

  uint8_t* Payload(uint32_t seq) { return SlotAt(seq) + kSlotHeader; }

  // Makes one claimed slot visible. Returns true when it woke the consumer.
  bool Publish(uint32_t seq, uint32_t len) {
    uint8_t* slot = SlotAt(seq);
    memcpy(slot + 4, &len, 4);
    // seq_cst store (release + StoreLoad): payload and length are visible
    // before the marker, and the marker before we read consumerWaiting.
    // W2 (msgring_sync.h). Every sleeper is woken: one consumer, but a JS
    // consumer may have several waits pending, all behind the flag we take.
    uint32_t waiting = StoreThenReadFlag(reinterpret_cast<uint32_t*>(slot), seq + 1, &h_->consumerWaiting, false);
    return TakeFlagAndWake(&h_->consumerWaiting, &h_->consumerWakeSeq, waiting, INT_MAX);
  }

  // Claim + copy + publish one message; false when full or too long.
  bool Send(const void* msg, uint32_t len) {
    uint32_t seq;
    if (len > max_ || !Claim(1, &seq)) return false;
    memcpy(Payload(seq), msg, len);
    Publish(seq, len);
    return true;
  }

 private:
  uint8_t* SlotAt(uint32_t seq) {
    return data_ + static_cast<size_t>(seq & (count_ - 1)) * slot_size_;
  }
  Header* h_ = nullptr;
  uint8_t* data_ = nullptr;
  uint32_t slot_size_ = 0, count_ = 0, max_ = 0, cached_read_ = 0;
  bool corrupt_ = false;
};

class alignas(64) MpscConsumer {
 public:
  int Attach(void* base, size_t len) {
    int s = Validate(base, len, kKindMpsc);
    if (s) return s;
    h_ = static_cast<Header*>(base);
    data_ = static_cast<uint8_t*>(base) + kHeaderSize;
    slot_size_ = h_->slotSize;
    count_ = h_->slotCount;
    max_ = h_->maxMessage;
    read_ = released_ = LoadRelaxed(&h_->readIndex);
    return kOk;
  }
  bool Corrupt() const { return corrupt_; }

  // Next message in sequence order, or nullptr when it is not published yet.
  const uint8_t* Read(uint32_t* len) {
    if (corrupt_) return nullptr;
    uint8_t* slot = data_ + static_cast<size_t>(read_ & (count_ - 1)) * slot_size_;
    // acquire: pairs with Publish(); the payload is complete once we see it.
    if (LoadAcquire(reinterpret_cast<uint32_t*>(slot)) != read_ + 1) return nullptr;
    uint32_t n;
    memcpy(&n, slot + 4, 4);
    if (n > max_) {
      corrupt_ = true;
      return nullptr;
    }
    *len = n;
    read_++;
    return slot + kSlotHeader;
  }

  void Release() {
    if (read_ == released_) return;
    released_ = read_;
    // seq_cst store: our reads finish before producers reuse the slots, and
    // the index is visible before we look for sleeping producers.
    // W2 (msgring_sync.h): every waiting producer is woken.
    uint32_t waiting = StoreThenReadFlag(&h_->readIndex, released_, &h_->producerWaiting, false);
    TakeFlagAndWake(&h_->producerWaiting, &h_->producerWakeSeq, waiting, INT_MAX);
  }

  // A sequence was claimed but is not published (a producer is slow, or died
  // between claim and publish).
  bool Stalled() {
    // acquire on both: a diagnostic snapshot, ordered like Read().
    return LoadAcquire(&h_->writeIndex) != read_ &&
           LoadAcquire(reinterpret_cast<uint32_t*>(data_ + static_cast<size_t>(read_ & (count_ - 1)) * slot_size_)) != read_ + 1;
  }

  int Wait(int timeoutMs, int spins = 2000) {
    auto ready = [&] {
      uint8_t* slot = data_ + static_cast<size_t>(read_ & (count_ - 1)) * slot_size_;
      return LoadAcquire(reinterpret_cast<uint32_t*>(slot)) == read_ + 1;
    };
    for (int i = 0; i < spins; i++)
      if (ready()) return 0;
    // The re-read is seq_cst (the StoreLoad after the flag store); producers
    // always fence, so no peer fence flag.
    return WaitProtocol(&h_->consumerWaiting, &h_->consumerWakeSeq, nullptr, timeoutMs, [&] {
      uint8_t* slot = data_ + static_cast<size_t>(read_ & (count_ - 1)) * slot_size_;
      return LoadSeqCst(reinterpret_cast<uint32_t*>(slot)) == read_ + 1;
    });
  }

 private:
  Header* h_ = nullptr;
  uint8_t* data_ = nullptr;
  uint32_t slot_size_ = 0, count_ = 0, max_ = 0, read_ = 0, released_ = 0;
  bool corrupt_ = false;
};

}  // namespace rw::ring
