// Message rings: the header-only SPSC producer and consumer over the layout
// in msgring_layout.h (the JS twin is lib/spsc.ts). Include msgring.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "msgring_layout.h"
#include "msgring_sync.h"

namespace rw::ring {

// ---- SPSC ----------------------------------------------------------------

// One producer. Claims are local until Commit() publishes them all with a
// single store, so a batch costs one cache-line transfer. Aligned to a cache
// line: its hot fields must never share a line with the consumer object
// (two endpoints declared side by side would otherwise false-share).
class alignas(64) SpscProducer {
 public:
  int Attach(void* base, size_t len) {
    int s = Validate(base, len, kKindSpsc);
    if (s) return s;
    h_ = static_cast<Header*>(base);
    data_ = static_cast<uint8_t*>(base) + kHeaderSize;
    cap_ = h_->capacity;
    mask_ = cap_ - 1;
    max_ = h_->maxMessage;
    // relaxed: we are the only writer of writeIndex.
    claim_ = committed_ = LoadRelaxed(&h_->writeIndex);
    cached_read_ = LoadAcquire(&h_->readIndex);
    light_ = LightFenceAvailable();
    // seq_cst: visible before our first fence-less commit; a waiter that
    // still read 0 had stored its flag before this, so Commit() sees it.
    if (light_) StoreSeqCst(&h_->producerFence, 1);
    return kOk;
  }
  uint32_t MaxMessage() const { return max_; }
  bool Corrupt() const { return corrupt_; }
  Header* header() const { return h_; }

  // Room for one message of `len` bytes; returns where to write the payload,
  // or nullptr when the ring is full (or len > MaxMessage(), or corrupt).
  uint8_t* Claim(uint32_t len, uint32_t type = 0) {
    if (len > max_ || corrupt_) return nullptr;
    uint32_t need = kRecordHeader + ((len + 7) & ~7u);
    uint32_t pos = claim_;
    uint32_t off = pos & mask_;
    uint32_t to_end = cap_ - off;
    uint32_t total = need > to_end ? need + to_end : need;
    if (pos - cached_read_ + total > cap_) {
      // acquire: the consumer finished reading the bytes it released.
      cached_read_ = LoadAcquire(&h_->readIndex);
      uint32_t used = pos - cached_read_;
      if (used > cap_ || (cached_read_ & 7)) {
        corrupt_ = true;
        return nullptr;
      }
      if (used + total > cap_) return nullptr;
    }
    if (need > to_end) {
      Put(off, kPadding);
      pos += to_end;
      off = 0;
    }
    Put(off, len);
    Put(off + 4, type);
    claim_ = pos + need;
    return data_ + off + kRecordHeader;
  }

  // Publishes every claimed record. Returns true when a sleeping consumer
  // was woken (one futex syscall).
  bool Commit() {
    if (claim_ == committed_) return false;
    committed_ = claim_;
    // W2 (msgring_sync.h): the records are visible before the index (the
    // store releases them), the index before we read consumerWaiting.
    uint32_t waiting = StoreThenReadFlag(&h_->writeIndex, committed_, &h_->consumerWaiting, light_);
    return TakeFlagAndWake(&h_->consumerWaiting, &h_->consumerWakeSeq, waiting, INT_MAX);
  }

  // Blocks until `len` bytes could be claimed; spins first. -ETIMEDOUT.
  int WaitForSpace(uint32_t len, int timeoutMs, int spins = 2000) {
    if (len > max_) return -EMSGSIZE;
    uint32_t need = kRecordHeader + ((len + 7) & ~7u);
    uint32_t to_end = cap_ - (claim_ & mask_);
    uint32_t total = need > to_end ? need + to_end : need;
    auto fits = [&](uint32_t r) { return claim_ - r + total <= cap_; };
    auto room = [&] { return fits(LoadAcquire(&h_->readIndex)); };
    for (int i = 0; i < spins; i++)
      if (room()) return 0;
    // seq_cst re-read inside the protocol (see WaitProtocol).
    return WaitProtocol(&h_->producerWaiting, &h_->producerWakeSeq, &h_->consumerFence, timeoutMs,
                        [&] { return fits(LoadSeqCst(&h_->readIndex)); });
  }

  // Liveness for the peer: our pid (0 on detach) and a monotonic timestamp.
  // relaxed: informational words, nothing is ordered against them.
  void Heartbeat(uint32_t pid) {
    __atomic_store_n(&h_->producerPid, pid, __ATOMIC_RELAXED);
    __atomic_store_n(&h_->producerHeartbeat, MonotonicMs(), __ATOMIC_RELAXED);
  }

 private:
  void Put(uint32_t off, uint32_t v) { memcpy(data_ + off, &v, 4); }
  Header* h_ = nullptr;
  uint8_t* data_ = nullptr;
  uint32_t cap_ = 0, mask_ = 0, max_ = 0;
  uint32_t claim_ = 0, committed_ = 0, cached_read_ = 0;
  bool corrupt_ = false;
  bool light_ = false;  // commits rely on the consumer's HeavyFence()
};

// One consumer. Read() hands out zero-copy pointers into the ring that stay
// valid until Release() returns the space to the producer. Cache-line
// aligned for the same reason as SpscProducer.
class alignas(64) SpscConsumer {
 public:
  int Attach(void* base, size_t len) {
    int s = Validate(base, len, kKindSpsc);
    if (s) return s;
    h_ = static_cast<Header*>(base);
    data_ = static_cast<uint8_t*>(base) + kHeaderSize;
    cap_ = h_->capacity;
    mask_ = cap_ - 1;
    max_ = h_->maxMessage;
    // relaxed: we are the only writer of readIndex.
    read_ = released_ = LoadRelaxed(&h_->readIndex);
    cached_write_ = LoadAcquire(&h_->writeIndex);
    light_ = LightFenceAvailable();
    // seq_cst: visible before our first fence-less release (as in the producer).
    if (light_) StoreSeqCst(&h_->consumerFence, 1);
    return kOk;
  }
  bool Corrupt() const { return corrupt_; }
  Header* header() const { return h_; }

  // Next message or nullptr when none is committed (or the ring is corrupt:
  // check Corrupt()). Never reads outside the data area.
  const uint8_t* Read(uint32_t* len, uint32_t* type = nullptr) {
    if (corrupt_) return nullptr;
    uint32_t pos = read_;
    if (pos == cached_write_) {
      // acquire: pairs with the producer's commit; the records up to the new
      // index are fully written before we look at them.
      cached_write_ = LoadAcquire(&h_->writeIndex);
      if (pos == cached_write_) return nullptr;
      if (cached_write_ - released_ > cap_ || (cached_write_ & 7)) return Fail();
    }
    uint32_t off = pos & mask_;
    uint32_t n = Get(off);
    if (n == kPadding) {
      // The lap's rest must lie inside the committed data, and a padding
      // record is never committed alone: a "padding" header anywhere else
      // is corruption, and jumping would carry read_ past the write index
      // into stale records (issue 14).
      if (cached_write_ - pos <= cap_ - off) return Fail();
      pos += cap_ - off;
      off = 0;
      n = Get(0);
    }
    if (n > max_) return Fail();
    uint32_t need = kRecordHeader + ((n + 7) & ~7u);
    if (cached_write_ - pos < need || off + need > cap_) return Fail();
    *len = n;
    if (type) *type = Get(off + 4);
    read_ = pos + need;
    return data_ + off + kRecordHeader;
  }

  // Gives everything read so far back to the producer.
  void Release() {
    if (read_ == released_) return;
    released_ = read_;
    // W2 (msgring_sync.h): our reads of the records happen before the
    // producer may overwrite them (the store releases), the index before we
    // read producerWaiting.
    uint32_t waiting = StoreThenReadFlag(&h_->readIndex, released_, &h_->producerWaiting, light_);
    TakeFlagAndWake(&h_->producerWaiting, &h_->producerWakeSeq, waiting, INT_MAX);
  }

  bool Empty() { return read_ == LoadAcquire(&h_->writeIndex); }

  // Spins `spins` times, then sleeps in a futex until a commit or timeout.
  // Returns 0 when data is available, -ETIMEDOUT otherwise.
  int Wait(int timeoutMs, int spins = 2000) {
    for (int i = 0; i < spins; i++)
      if (!Empty()) return 0;
    return WaitProtocol(&h_->consumerWaiting, &h_->consumerWakeSeq, &h_->producerFence, timeoutMs,
                        [&] { return LoadSeqCst(&h_->writeIndex) != read_; });
  }

  // relaxed: informational words, nothing is ordered against them.
  void Heartbeat(uint32_t pid) {
    __atomic_store_n(&h_->consumerPid, pid, __ATOMIC_RELAXED);
    __atomic_store_n(&h_->consumerHeartbeat, MonotonicMs(), __ATOMIC_RELAXED);
  }

 private:
  uint32_t Get(uint32_t off) const {
    uint32_t v;
    memcpy(&v, data_ + off, 4);
    return v;
  }
  const uint8_t* Fail() {
    corrupt_ = true;
    return nullptr;
  }
  Header* h_ = nullptr;
  uint8_t* data_ = nullptr;
  uint32_t cap_ = 0, mask_ = 0, max_ = 0;
  uint32_t read_ = 0, released_ = 0, cached_write_ = 0;
  bool corrupt_ = false;
  bool light_ = false;  // releases rely on the producer's HeavyFence()
};

}  // namespace rw::ring
