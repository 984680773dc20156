// The four AF_XDP rings (fill, completion, rx, tx) as the kernel documents
// them (Documentation/networking/af_xdp.rst, net/xdp/xsk_queue.h): single
// producer, single consumer, free-running 32-bit indices masked on use.
// The kernel lays out the mapping (producer and consumer already on separate
// cache lines); user space keeps a cached copy of the other side's index and
// re-reads it only when the cache says full (producer) or empty (consumer).
//
// Ordering, acquire/release only:
//   producer: acquire-load consumer -> write slots -> release-store producer
//   consumer: acquire-load producer -> read slots  -> release-store consumer
#pragma once

#include <linux/if_xdp.h>

#include <cstdint>

namespace rw {

// One mapped ring: pointers into the mmap'd area, as XDP_MMAP_OFFSETS says.
struct XskRingMap {
  uint32_t* producer = nullptr;
  uint32_t* consumer = nullptr;
  uint32_t* flags = nullptr;
  void* descs = nullptr;
  uint32_t size = 0;
};

// We produce, the kernel consumes: fill (uint64 addresses), tx (xdp_desc).
template <typename Desc>
class XskProdRing {
 public:
  void Init(const XskRingMap& m) {
    prod_ = m.producer;
    cons_ = m.consumer;
    flags_ = m.flags;
    descs_ = static_cast<Desc*>(m.descs);
    mask_ = m.size - 1;
    size_ = m.size;
    // Only we write the producer index, so a plain read is current.
    cachedProd_ = *prod_;
    // Acquire: pairs with the kernel's release of its consumer index, so
    // slots it has finished reading are really free before we reuse them.
    cachedCons_ = __atomic_load_n(cons_, __ATOMIC_ACQUIRE) + size_;
  }

  // Free slots, at least `want` if the ring has them. The kernel's consumer
  // index is read only when the cached value says there is not enough room.
  uint32_t Free(uint32_t want) {
    uint32_t free = cachedCons_ - cachedProd_;
    if (free >= want) return free;
    // Acquire: the kernel's reads of the slots it consumed happen before our
    // writes into them (pairs with its release-store of the consumer).
    cachedCons_ = __atomic_load_n(cons_, __ATOMIC_ACQUIRE) + size_;
    return cachedCons_ - cachedProd_;
  }

  // Claims `n` slots (caller checked Free); returns the first index.
  uint32_t Claim(uint32_t n) {
    uint32_t idx = cachedProd_;
    cachedProd_ += n;
    return idx;
  }

  Desc& Slot(uint32_t idx) { return descs_[idx & mask_]; }

  // Publishes every claimed slot.
  void Commit() {
    // Release: our slot writes become visible to the kernel no later than
    // the producer index that covers them (pairs with its acquire-load).
    __atomic_store_n(prod_, cachedProd_, __ATOMIC_RELEASE);
  }

  // Slots published but not yet consumed by the kernel.
  uint32_t Outstanding() const {
    // Acquire: pairs with the kernel's release of the consumer index; only
    // used to decide whether another kick is needed.
    return cachedProd_ - __atomic_load_n(cons_, __ATOMIC_ACQUIRE);
  }

  // The kernel asked to be woken (XDP_USE_NEED_WAKEUP). This load comes
  // after Commit's release-store; acquire/release does not order a store
  // before a later load, so the kernel may set the flag just after we read
  // it. The 200 ms timer in the binding re-checks the flag (and kicks) so
  // such a lost wake-up costs latency once, never a stall.
  bool NeedsWakeup() const {
    // Acquire: pairs with the kernel's store of the flag word.
    return (__atomic_load_n(flags_, __ATOMIC_ACQUIRE) & XDP_RING_NEED_WAKEUP) != 0;
  }

  uint32_t size() const { return size_; }

 private:
  uint32_t* prod_ = nullptr;
  uint32_t* cons_ = nullptr;
  uint32_t* flags_ = nullptr;
  Desc* descs_ = nullptr;
  uint32_t mask_ = 0, size_ = 0;
  uint32_t cachedProd_ = 0;
  uint32_t cachedCons_ = 0;  // kernel consumer + size: the producer's limit
};

// The kernel produces, we consume: completion (uint64), rx (xdp_desc).
template <typename Desc>
class XskConsRing {
 public:
  void Init(const XskRingMap& m) {
    prod_ = m.producer;
    cons_ = m.consumer;
    descs_ = static_cast<Desc*>(m.descs);
    mask_ = m.size - 1;
    // Only we write the consumer index, so a plain read is current.
    cachedCons_ = *cons_;
    // Acquire: pairs with the kernel's release of its producer index.
    cachedProd_ = __atomic_load_n(prod_, __ATOMIC_ACQUIRE);
  }

  // Up to `max` filled slots starting at *idx; the kernel's producer index is
  // read only when the cache says the ring is empty.
  uint32_t Peek(uint32_t max, uint32_t* idx) {
    uint32_t avail = cachedProd_ - cachedCons_;
    if (avail == 0) {
      // Acquire: the kernel's writes of the descriptors are visible once we
      // see the producer index that covers them (pairs with its release).
      cachedProd_ = __atomic_load_n(prod_, __ATOMIC_ACQUIRE);
      avail = cachedProd_ - cachedCons_;
    }
    uint32_t n = avail < max ? avail : max;
    *idx = cachedCons_;
    cachedCons_ += n;
    return n;
  }

  const Desc& Slot(uint32_t idx) const { return descs_[idx & mask_]; }

  // Whether the kernel has produced slots we have not peeked: a busy-poll
  // hint, no ordering needed (Peek's acquire-load makes the slots visible
  // before they are read), so a relaxed load.
  bool Pending() const {
    return prod_ && (cachedProd_ != cachedCons_ || __atomic_load_n(prod_, __ATOMIC_RELAXED) != cachedCons_);
  }

  // Hands every peeked slot back to the kernel.
  void Release() {
    // Release: our reads of the slots complete before the kernel may
    // overwrite them (pairs with its acquire-load of the consumer index).
    __atomic_store_n(cons_, cachedCons_, __ATOMIC_RELEASE);
  }

 private:
  uint32_t* prod_ = nullptr;
  uint32_t* cons_ = nullptr;
  Desc* descs_ = nullptr;
  uint32_t mask_ = 0;
  uint32_t cachedProd_ = 0;
  uint32_t cachedCons_ = 0;
};

}  // namespace rw
