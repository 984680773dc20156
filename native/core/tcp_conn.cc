// A TCP connection's backend-independent half: setup, the send queue (copy
// small writes into blocks, keep large ones in place) and the close
// protocol. The engines (tcp_engines.cc) submit and complete; moved whole
// from tcp.cc.
#include "tcp.h"

#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace rw {

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
