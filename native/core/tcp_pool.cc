// TCP's per-thread shared receive pool (a provided-buffer ring on io_uring,
// plain buffers on epoll) and the 16 KiB TcpBlocks small writes are copied
// into. Backend-independent; moved whole from tcp.cc.
#include "tcp.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace rw {

int TcpPool::Open(uint32_t count, uint32_t size) {
  count_ = count;
  size_ = size;
  bytes_ = static_cast<size_t>(count) * size + (backend_ == TcpBackend::kUring ? kDirectBytes : 0);
  // Populated up front: a page fault inside the kernel's receive copy would
  // otherwise land on the hot path the first time each buffer is used.
  void* mem = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (mem == MAP_FAILED) return -errno;
  base_ = static_cast<uint8_t*>(mem);
  if (backend_ == TcpBackend::kEpoll) return 0;
  bgid_ = loop_->AllocBufferGroup();
  if (bgid_ < 0) return bgid_;
  int err = 0;
  ring_ = SetupBufRing(loop_->ring(), count, bgid_, &err);
  if (!ring_) return err;
  bundles_ = (loop_->ring()->features & IORING_FEAT_RECVSEND_BUNDLE) != 0;
  slotOf_.assign(count, 0);
  // Pushed so that pops come out in ascending order: adjacent buffers land
  // in consecutive ring slots and a bundle's bytes are often contiguous.
  free_.reserve(count);
  for (uint32_t i = count; i-- > 0;) free_.push_back(static_cast<uint16_t>(i));
  window_ = count < kMinWindow ? count : kMinWindow;
  Publish();
  return 0;
}

void TcpPool::Publish() {
  int n = 0;
  while (published_ + static_cast<uint32_t>(n) < window_ && !free_.empty()) {
    AddBuffer(free_.back(), n++);
    free_.pop_back();
  }
  if (!n) return;
  // Release store of the tail: the kernel sees the entries before the tail.
  io_uring_buf_ring_advance(ring_, n);
  tail_ = static_cast<uint16_t>(tail_ + n);
  published_ += static_cast<uint32_t>(n);
}

void TcpPool::AddBuffer(uint16_t bid, int offset) {
  int mask = io_uring_buf_ring_mask(count_);
  io_uring_buf_ring_add(ring_, base_ + static_cast<size_t>(bid) * size_, size_, bid, mask, offset);
  slotOf_[bid] = static_cast<uint16_t>((tail_ + offset) & mask);
}

uint16_t TcpPool::NextBid(uint16_t bid, uint32_t k) const {
  // A bundle takes consecutive slots from the ring head. The slots cannot
  // have been refilled yet: we only refill in Recycle(), after every CQE
  // reaped so far (including this one) has been handled.
  uint32_t mask = count_ - 1;
  return ring_->bufs[(slotOf_[bid] + k) & mask].bid;
}

uint8_t* TcpPool::DirectRoom(uint32_t* room) {
  if (backend_ != TcpBackend::kUring || kDirectBytes - directBump_ < 2048) return nullptr;
  *room = kDirectBytes - directBump_;
  return base_ + static_cast<size_t>(count_) * size_ + directBump_;
}

uint8_t* TcpPool::Room(uint32_t* room) {
  size_t left = bytes_ - bump_;
  if (left < 2048) return nullptr;  // a short tail is not worth a recv
  *room = static_cast<uint32_t>(std::min<size_t>(left, 1u << 30));
  return base_ + bump_;
}

void TcpPool::Recycle() {
  if (ring_) {
    // Most recently filled on top, in the order they were filled.
    for (size_t i = held_.size(); i-- > 0;) free_.push_back(held_[i]);
    if (starved_.empty() && window_ > kMinWindow && ++calm_ >= 4096) {
      calm_ = 0;
      window_ /= 2;  // a burst is over: shrink back towards the hot set
    }
    Publish();
  }
  held_.clear();
  bump_ = 0;
  directBump_ = 0;
  if (!starved_.empty()) {
    std::vector<TcpConn*> list;
    list.swap(starved_);
    for (TcpConn* c : list) c->Rearm();
  }
}

void TcpPool::DropStarved(TcpConn* c) {
  starved_.erase(std::remove(starved_.begin(), starved_.end(), c), starved_.end());
}

TcpBlock* TcpPool::AllocBlock() {
  TcpBlock* b = freeBlocks_;
  if (b) {
    freeBlocks_ = b->next;
    freeCount_--;
  } else {
    b = static_cast<TcpBlock*>(malloc(sizeof(TcpBlock)));
    if (!b) return nullptr;
  }
  b->next = nullptr;
  b->used = 0;
  b->refs = 0;
  return b;
}

void TcpPool::FreeBlock(TcpBlock* b) {
  // A bounded cache: idle connections hold no send memory, busy ones reuse.
  if (freeCount_ >= 256) {
    free(b);
    return;
  }
  b->next = freeBlocks_;
  freeBlocks_ = b;
  freeCount_++;
}

void TcpPool::Teardown() {
  if (ring_) {
    FreeBufRing(loop_->ring(), ring_, count_, bgid_);
    ring_ = nullptr;
  }
  if (bgid_ >= 0) {
    loop_->FreeBufferGroup(bgid_);
    bgid_ = -1;
  }
  if (base_) {
    munmap(base_, bytes_);
    base_ = nullptr;
  }
  while (freeBlocks_) {
    TcpBlock* n = freeBlocks_->next;
    free(freeBlocks_);
    freeBlocks_ = n;
  }
  freeCount_ = 0;
  starved_.clear();
  held_.clear();
}

}  // namespace rw
