// Size (~461 lines): pool, send blocks, listener and close protocol; the split into tcp_pool/tcp_conn/tcp_listener (LAYOUT.md) is not done yet.
// Backend-independent parts of TCP: the shared receive pool, listening
// sockets, the send queue (copy small writes into blocks, keep large ones in
// place) and the close protocol.
#include "tcp.h"

#include <netinet/tcp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace rw {

// ---- pool -------------------------------------------------------------------

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

// ---- options ------------------------------------------------------------------

int TcpSetOpt(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno : 0;
}

int TcpGetOpt(int fd, int level, int name, int* value) {
  socklen_t len = sizeof(*value);
  return getsockopt(fd, level, name, value, &len) < 0 ? -errno : 0;
}

// ---- listener -------------------------------------------------------------------

int TcpListener::Open(const sockaddr* sa, socklen_t len, const TcpListenConfig& cfg) {
  fd_ = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return -errno;
  int ret = 0;
  auto opt = [&](int level, int name, int value) {
    if (ret == 0) ret = TcpSetOpt(fd_, level, name, value);
  };
  if (cfg.reuseAddr) opt(SOL_SOCKET, SO_REUSEADDR, 1);
  if (cfg.reusePort) opt(SOL_SOCKET, SO_REUSEPORT, 1);
  if (sa->sa_family == AF_INET6) opt(IPPROTO_IPV6, IPV6_V6ONLY, cfg.v6Only ? 1 : 0);
  // Accepted sockets inherit these from the listener (Linux clones the
  // socket), so an accept costs no setsockopt calls.
  if (cfg.noDelay) opt(IPPROTO_TCP, TCP_NODELAY, 1);
  if (cfg.keepAlive) {
    opt(SOL_SOCKET, SO_KEEPALIVE, 1);
    if (cfg.keepAliveSecs > 0) opt(IPPROTO_TCP, TCP_KEEPIDLE, cfg.keepAliveSecs);
  }
  if (cfg.deferAcceptSecs > 0) opt(IPPROTO_TCP, TCP_DEFER_ACCEPT, cfg.deferAcceptSecs);
  // Before listen(): the receive window scale is fixed in the handshake.
  if (cfg.recvBuffer > 0) opt(SOL_SOCKET, SO_RCVBUF, cfg.recvBuffer);
  if (cfg.sendBuffer > 0) opt(SOL_SOCKET, SO_SNDBUF, cfg.sendBuffer);
  if (ret == 0 && bind(fd_, sa, len) < 0) ret = -errno;
  if (ret == 0 && listen(fd_, cfg.backlog) < 0) ret = -errno;
  if (ret < 0) {
    close(fd_);
    fd_ = -1;
  }
  return ret;
}

void TcpListener::Close() {
  if (closing_) return;
  closing_ = true;
  if (backend_ == TcpBackend::kUring && armed_ && !cancelling_) {
    io_uring_sqe* sqe = loop_->Sqe();
    io_uring_prep_cancel64(sqe, UringLoop::Tag(this, kTagAccept), 0);
    sqe->user_data = UringLoop::Tag(this, kTagCancel);
    inflight_++;
  }
  if (inflight_ == 0 && !idle_) {
    idle_ = true;
    ev_->OnListenerIdle();
  }
}

void TcpListener::Teardown() {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

// ---- connection: setup, send queue, close -----------------------------------------

int TcpConn::Open(int family) {
  fd_ = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  return fd_ < 0 ? -errno : 0;
}

int TcpConn::Bind(const sockaddr* sa, socklen_t len) {
  return bind(fd_, sa, len) < 0 ? -errno : 0;
}

int TcpConn::Send(const uint8_t* data, uint32_t len, bool notify, bool* kept) {
  // Always copied into our blocks before returning: a reference to the JS
  // buffer would not keep its memory alive once the caller transfers the
  // ArrayBuffer (the new owner frees it when collected), and the kernel may
  // read it turns later (issue 14).
  return Queue(data, len, notify, false, kept);
}

int TcpConn::SendFromPool(uint32_t offset, uint32_t len) {
  if (!pool_->base() || static_cast<size_t>(offset) + len > pool_->bytes()) return -EINVAL;
  // Always a copy: the pool buffer goes back to the kernel after the batch.
  bool kept = false;
  return Queue(pool_->base() + offset, len, false, false, &kept);
}

int TcpConn::Queue(const uint8_t* data, uint32_t len, bool notify, bool byRef, bool* kept) {
  *kept = false;
  if (notify) notifySent_ = true;
  if (closing_ || fd_ < 0) return -EBADF;
  if (writeError_ || shutdownWanted_) return -EPIPE;
  if (len == 0) return 0;
  if (!byRef) {
    CopyIn(data, len);
  } else {
    queue_.push_back(Seg{const_cast<uint8_t*>(data), len, nullptr});
    *kept = true;
    notifySent_ = true;  // JS releases the bytes at that event
  }
  stats_->queuedBytes += len;
  if (!flushRequested_ && !sendInflight_ && !writeBlocked_ && connected_) {
    flushRequested_ = true;
    ev_->OnConnWantFlush();
  }
  return 0;
}

void TcpConn::CopyIn(const uint8_t* data, uint32_t len) {
  while (len) {
    TcpBlock* b = queue_.size() > head_ ? queue_.back().block : nullptr;
    if (!b || b->used == TcpBlock::kBytes) {
      b = pool_->AllocBlock();
      if (!b) std::abort();  // out of memory: nothing sensible to unwind to
    }
    uint32_t n = std::min(len, TcpBlock::kBytes - b->used);
    uint8_t* dst = b->data + b->used;
    memcpy(dst, data, n);
    b->used += n;
    // Append to the last segment when it is ours, contiguous and not yet
    // handed to the kernel (its iovec length is fixed once submitted).
    bool lastQueued = queue_.size() > head_ + inflightSegs_;
    Seg* last = lastQueued ? &queue_.back() : nullptr;
    if (last && last->block == b && last->base + last->len == dst) {
      last->len += n;
    } else {
      queue_.push_back(Seg{dst, n, b});
      b->refs++;
    }
    data += n;
    len -= n;
  }
}

uint32_t TcpConn::BuildIov() {
  iov_.clear();
  uint64_t total = 0;
  for (size_t i = head_; i < queue_.size() && iov_.size() < kMaxIov && total < (1u << 30); i++) {
    iov_.push_back(iovec{queue_[i].base, queue_[i].len});
    total += queue_[i].len;
  }
  inflightSegs_ = static_cast<uint32_t>(iov_.size());
  memset(&msg_, 0, sizeof(msg_));
  msg_.msg_iov = iov_.data();
  msg_.msg_iovlen = iov_.size();
  gstats_->sendCalls++;
  gstats_->sendChunks += static_cast<double>(iov_.size());
  stats_->sendCalls++;
  return static_cast<uint32_t>(total);
}

void TcpConn::ReleaseBlock(TcpBlock* b, bool toPool) {
  if (--b->refs) return;
  if (toPool)
    pool_->FreeBlock(b);
  else
    free(b);
}

void TcpConn::Complete(uint32_t bytes) {
  stats_->bytesWritten += bytes;
  stats_->queuedBytes -= bytes;
  gstats_->bytesWritten += bytes;
  uint32_t left = bytes;
  bool notify = notifySent_;
  while (left && head_ < queue_.size()) {
    Seg& s = queue_[head_];
    if (left >= s.len) {
      left -= s.len;
      if (s.block) ReleaseBlock(s.block, true);
      head_++;
    } else {
      s.base += left;
      s.len -= left;
      left = 0;
    }
  }
  if (head_ == queue_.size()) {
    queue_.clear();
    head_ = 0;
    notifySent_ = false;
  } else if (head_ >= 64 && head_ * 2 >= queue_.size()) {
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(head_));
    head_ = 0;
  }
  if (notify) ev_->OnConnSent(bytes);
}

void TcpConn::DropQueue(bool keepInflight) {
  size_t from = head_ + (keepInflight ? inflightSegs_ : 0);
  for (size_t i = from; i < queue_.size(); i++) {
    stats_->queuedBytes -= queue_[i].len;
    if (queue_[i].block) ReleaseBlock(queue_[i].block, true);
  }
  queue_.resize(std::min(from, queue_.size()));
  if (!keepInflight) {
    queue_.clear();
    head_ = 0;
    inflightSegs_ = 0;
  }
}

int TcpConn::Shutdown() {
  if (closing_ || fd_ < 0) return -EBADF;
  if (shutdownWanted_) return 0;
  shutdownWanted_ = true;
  if (connected_ && !sendInflight_ && !writeBlocked_ && head_ == queue_.size()) {
    // Nothing queued: the FIN goes now, and the caller finishes at once
    // (as libuv reports a synchronous shutdown).
    shutdownDone_ = true;
    return shutdown(fd_, SHUT_WR) < 0 ? -errno : 1;
  }
  // Flush() sends the FIN once the queue is empty, in order with the data.
  if (!flushRequested_ && !sendInflight_ && !writeBlocked_ && connected_) {
    flushRequested_ = true;
    ev_->OnConnWantFlush();
  }
  return 0;
}

void TcpConn::DoShutdown() {
  shutdownDone_ = true;
  int res = shutdown(fd_, SHUT_WR) < 0 ? -errno : 0;
  ev_->OnConnShutdown(res);
}

void TcpConn::AfterSendDone() {
  if (closing_ || writeError_) return;
  if ((head_ < queue_.size() || (shutdownWanted_ && !shutdownDone_)) && !flushRequested_) {
    flushRequested_ = true;
    ev_->OnConnWantFlush();
  }
}

void TcpConn::Fail(int err, int op) {
  gstats_->errors++;
  if (op == kTcpOpWrite) {
    writeError_ = true;
    DropQueue(false);
  }
  if (!closing_) ev_->OnConnError(err, op);
}

void TcpConn::Close(bool reset) {
  if (closing_) return;
  // write() then destroy() delivers the write in node:net whenever the
  // kernel has room (libuv writes synchronously first); so do we, with one
  // non-blocking sendmsg of what is queued and not yet with the kernel.
  if (!reset && fd_ >= 0 && connected_ && !writeError_ && !sendInflight_ && !writeBlocked_) {
    while (head_ < queue_.size()) {
      uint32_t total = BuildIov();
      ssize_t n = sendmsg(fd_, &msg_, MSG_NOSIGNAL | MSG_DONTWAIT);
      inflightSegs_ = 0;
      if (n <= 0) break;
      Complete(static_cast<uint32_t>(n));
      if (static_cast<uint32_t>(n) < total) break;
    }
  }
  closing_ = true;
  readWanted_ = false;
  if (reset && fd_ >= 0) {
    // SO_LINGER 0: close() sends RST, as socket.resetAndDestroy() does.
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  if (starved_) {
    pool_->DropStarved(this);
    starved_ = false;
  }
  // Sends not yet with the kernel are dropped now; those in flight keep
  // their memory until their CQE. From here on the counters JS can see stay
  // put (it snapshots them when it closes); the table slot goes to the next
  // connection once this one is idle.
  DropQueue(true);
  stats_->queuedBytes = 0;
  stats_ = &localStats_;
  if (backend_ == TcpBackend::kUring && inflight_ > 0) {
    io_uring_sqe* sqe = loop_->Sqe();
    io_uring_prep_cancel_fd(sqe, fd_, IORING_ASYNC_CANCEL_ALL);
    sqe->user_data = UringLoop::Tag(this, kTagCancel);
    inflight_++;
  }
  FinishIfIdle();
}

void TcpConn::FinishIfIdle() {
  if (!closing_ || inflight_ || idle_) return;
  DropQueue(false);
  idle_ = true;
  ev_->OnConnIdle();
}

void TcpConn::Teardown() {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  // The pool may already be gone (environment teardown): free directly.
  idle_ = true;
  for (size_t i = head_; i < queue_.size(); i++)
    if (queue_[i].block) ReleaseBlock(queue_[i].block, false);
  queue_.clear();
  head_ = 0;
  inflightSegs_ = 0;
}

}  // namespace rw
