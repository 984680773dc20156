// The two TCP engines. io_uring: multishot accept, multishot recv (bundles)
// over the thread's shared buffer ring, one SENDMSG per connection per loop
// turn, CONNECT with a linked timeout. epoll: accept4, recv into the pool,
// sendmsg of the same iovecs, non-blocking connect. Both report through the
// same events so JS cannot tell them apart.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tcp.h"

namespace rw {

// ---- listener ---------------------------------------------------------------------

void TcpListener::Start() {
  paused_ = false;
  if (backend_ == TcpBackend::kUring && !armed_ && !closing_) Arm();
}

void TcpListener::Pause() {
  paused_ = true;
  if (backend_ != TcpBackend::kUring || !armed_ || cancelling_ || closing_) return;
  io_uring_sqe* sqe = loop_->Sqe();
  io_uring_prep_cancel64(sqe, UringLoop::Tag(this, kTagAccept), 0);
  sqe->user_data = UringLoop::Tag(this, kTagCancel);
  inflight_++;
  cancelling_ = true;
}

void TcpListener::Arm() {
  io_uring_sqe* sqe = loop_->Sqe();
  io_uring_prep_multishot_accept(sqe, fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  sqe->user_data = UringLoop::Tag(this, kTagAccept);
  armed_ = true;
  inflight_++;
}

void TcpListener::OnCqe(unsigned tag, const io_uring_cqe* cqe) {
  if (tag == kTagCancel) {
    inflight_--;
  } else {
    int res = cqe->res;
    stats_->acceptCalls++;
    if (res >= 0) {
      if (closing_)
        close(res);  // raced with close(): the peer sees a reset
      else
        ev_->OnAccept(res);
    } else if (res != -ECANCELED && !closing_) {
      stats_->acceptErrors++;
      ev_->OnAcceptError(res);
    }
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
      armed_ = false;
      cancelling_ = false;
      inflight_--;
      // Out of fds or memory: re-arming now would spin; JS resumes later.
      bool resourceError = res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM;
      if (!closing_ && !resourceError && !paused_) Arm();
    }
  }
  if (closing_ && inflight_ == 0 && !idle_) {
    idle_ = true;
    ev_->OnListenerIdle();
  }
}

int TcpListener::AcceptSome() {
  for (int i = 0; i < 256; i++) {
    int fd = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    stats_->acceptCalls++;
    if (fd >= 0) {
      ev_->OnAccept(fd);
      continue;
    }
    int err = errno;
    if (err == EAGAIN) return i;
    if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
    stats_->acceptErrors++;
    ev_->OnAcceptError(-err);
    return -err;
  }
  return 256;
}

// ---- connection: connect ---------------------------------------------------------------

int TcpConn::Connect(const sockaddr* sa, socklen_t len, uint32_t timeoutMs) {
  memcpy(&peer_, sa, std::min<size_t>(len, sizeof(peer_)));
  connecting_ = true;
  if (backend_ == TcpBackend::kEpoll) {
    if (connect(fd_, reinterpret_cast<sockaddr*>(&peer_), len) == 0) {
      connecting_ = false;
      connected_ = true;
      gstats_->connected++;
      ev_->OnConnConnected();
      return 0;
    }
    int err = errno;
    if (err == EINPROGRESS) return 1;
    // Reported like an asynchronous failure, as Node does.
    connecting_ = false;
    Fail(-err, kTcpOpConnect);
    return -err;
  }
  // CONNECT and its LINK_TIMEOUT must reach the kernel in one submission:
  // a flush between them would cut the link.
  bool linked = timeoutMs > 0;
  if (linked && io_uring_sq_space_left(loop_->ring()) < 2) loop_->Flush();
  if (io_uring_sq_space_left(loop_->ring()) < 2) linked = false;
  io_uring_sqe* sqe = loop_->Sqe();
  io_uring_prep_connect(sqe, fd_, reinterpret_cast<sockaddr*>(&peer_), len);
  sqe->user_data = UringLoop::Tag(this, kTagConnect);
  inflight_++;
  if (linked) {
    sqe->flags |= IOSQE_IO_LINK;
    timeout_.tv_sec = timeoutMs / 1000;
    timeout_.tv_nsec = static_cast<long long>(timeoutMs % 1000) * 1000000;
    io_uring_sqe* t = loop_->Sqe();
    io_uring_prep_link_timeout(t, &timeout_, 0);
    t->user_data = UringLoop::Tag(this, kTagTimeout);
    inflight_++;
  }
  return 1;
}

int TcpConn::FinishConnect() {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err == EINPROGRESS || err == EALREADY) return 1;
  connecting_ = false;
  if (err) {
    Fail(-err, kTcpOpConnect);
    return -err;
  }
  connected_ = true;
  gstats_->connected++;
  ev_->OnConnConnected();
  AfterSendDone();  // writes queued while connecting
  return 0;
}

void TcpConn::OnConnectCqe(const io_uring_cqe* cqe) {
  connecting_ = false;
  if (closing_) return;
  if (cqe->res == 0) {
    connected_ = true;
    gstats_->connected++;
    ev_->OnConnConnected();
    if (readWanted_ && !closing_) ArmRecv();
    AfterSendDone();
  } else {
    // Only the linked timeout cancels a connect we did not close ourselves.
    Fail(cqe->res == -ECANCELED ? -ETIMEDOUT : cqe->res, kTcpOpConnect);
  }
}

// ---- connection: io_uring -----------------------------------------------------------

void TcpConn::ArmRecv() {
  io_uring_sqe* sqe = loop_->Sqe();
  if (pool_->bundles()) {
    PrepRecvBundle(sqe, fd_, pool_->bgid());
  } else {
    io_uring_prep_recv_multishot(sqe, fd_, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = static_cast<uint16_t>(pool_->bgid());
  }
  sqe->user_data = UringLoop::Tag(this, kTagRecv);
  recvArmed_ = true;
  inflight_++;
}

void TcpConn::Rearm() {
  starved_ = false;
  if (backend_ != TcpBackend::kUring || closing_ || recvArmed_ || direct_ || !wantsRead()) return;
  gstats_->rearms++;
  ArmRecv();
}

void TcpConn::SetReading(bool on) {
  readWanted_ = on;
  if (backend_ != TcpBackend::kUring || closing_ || !connected_ || eof_ || readError_) return;
  if (on) {
    if (!recvArmed_ && !starved_ && !direct_) ArmRecv();
  } else {
    // Bytes already received keep arriving until the cancel lands; JS
    // buffers them as Node does after readStop().
    CancelRecv();
  }
}

// Ends the multishot receive (its last CQE comes with -ECANCELED unless it
// ended by itself first); once per armed receive.
void TcpConn::CancelRecv() {
  if (!recvArmed_ || recvCancelling_) return;
  io_uring_sqe* sqe = loop_->Sqe();
  io_uring_prep_cancel64(sqe, UringLoop::Tag(this, kTagRecv), 0);
  sqe->user_data = UringLoop::Tag(this, kTagCancel);
  inflight_++;
  recvCancelling_ = true;
}

void TcpConn::OnCqe(unsigned tag, const io_uring_cqe* cqe) {
  switch (tag) {
    case kTagRecv:
      OnRecvCqe(cqe);
      return;  // accounts for itself
    case kTagSend:
      OnSendCqe(cqe);
      return;
    case kTagConnect:
      inflight_--;
      OnConnectCqe(cqe);
      break;
    default:  // link timeout, cancel
      inflight_--;
      break;
  }
  FinishIfIdle();
}

void TcpConn::OnRecvCqe(const io_uring_cqe* cqe) {
  int res = cqe->res;
  if (res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
    auto bid = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    uint32_t size = pool_->bufferSize();
    // All buffers of a bundle but the last are full.
    uint32_t n = pool_->bundles() ? (static_cast<uint32_t>(res) + size - 1) / size : 1;
    pool_->Consumed(n);
    uint32_t left = static_cast<uint32_t>(res), runOff = 0, runLen = 0;
    for (uint32_t k = 0; k < n; k++) {
      uint16_t b = k == 0 ? bid : pool_->NextBid(bid, k);
      pool_->Hold(b);
      uint32_t len = std::min(left, size), off = static_cast<uint32_t>(b) * size;
      left -= len;
      // Buffers recycled in order stay adjacent in memory: one event per run.
      if (runLen && runOff + runLen == off) {
        runLen += len;
        continue;
      }
      if (runLen && !closing_) ev_->OnConnData(runOff, runLen);
      runOff = off;
      runLen = len;
    }
    if (!closing_) {
      if (runLen) ev_->OnConnData(runOff, runLen);
      stats_->bytesRead += res;
      stats_->recvEvents++;
      gstats_->bytesRead += res;
      gstats_->recvEvents++;
      if (n > 1) gstats_->bundles++;
    }
  } else if (res == 0) {
    eof_ = true;
    if (!closing_) ev_->OnConnEnd();
  } else if (res == -ENOBUFS) {
    // Every shared buffer is with JS this batch: re-armed by the pool's
    // Recycle() right after the batch, so the connection never goes deaf.
    if (!closing_ && !starved_) {
      starved_ = true;
      stats_->starvations++;
      gstats_->starvations++;
      pool_->AddStarved(this);
      ev_->OnConnStarved();
    }
  } else if (res < 0 && res != -ECANCELED) {
    readError_ = true;
    if (!closing_) Fail(res, kTcpOpRead);
  }
  if (cqe->flags & IORING_CQE_F_MORE) return;
  recvArmed_ = false;
  recvCancelling_ = false;
  inflight_--;
  if (res > 0 && pool_->bundles()) pool_->Grow();
  if (closing_) {
    FinishIfIdle();
  } else if (wantsRead() && !starved_ && !direct_) {
    // Also the end of EnterDirect's cancel when the thread has left the
    // direct receive meanwhile (LeaveDirect could not arm: still armed).
    gstats_->rearms++;
    ArmRecv();
  }
}

// One non-blocking send of what BuildIov gathered. A single chunk (a
// request-response reply, nearly always) goes by send(): the kernel then
// imports one user buffer (net/socket.c __sys_sendto -> import_ubuf)
// instead of copying a msghdr and importing an iovec array
// (___sys_sendmsg), which is on the critical path of every round trip.
ssize_t TcpConn::SendIov() {
  if (iov_.size() == 1) return send(fd_, iov_[0].iov_base, iov_[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT);
  return sendmsg(fd_, &msg_, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void TcpConn::Flush(bool direct) {
  flushRequested_ = false;
  if (closing_ || sendInflight_ || writeBlocked_ || !connected_ || writeError_ || fd_ < 0) return;
  if (backend_ == TcpBackend::kUring && direct && head_ < queue_.size() && !zcThreshold_) {
    // A busy-polling thread: one non-blocking sendmsg, no SQE, no CQE to
    // reap (the cost is measured for UDP in udp_engines.cc). What the
    // socket buffer does not take goes as the WAITALL SQE below.
    BuildIov();
    ssize_t n = SendIov();
    inflightSegs_ = 0;
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      Fail(-errno, kTcpOpWrite);
      return;
    }
    if (n > 0) Complete(static_cast<uint32_t>(n));
  }
  if (head_ == queue_.size()) {
    if (shutdownWanted_ && !shutdownDone_) DoShutdown();
    return;
  }
  if (backend_ == TcpBackend::kUring) {
    uint32_t total = BuildIov();
    io_uring_sqe* sqe = loop_->Sqe();
    // WAITALL: the kernel retries a short send itself (poll-driven), so one
    // CQE means the whole batch is out or the connection failed.
    io_uring_prep_sendmsg(sqe, fd_, &msg_, MSG_NOSIGNAL | MSG_WAITALL);
    sendZc_ = zcThreshold_ && total >= zcThreshold_;
    if (sendZc_) {
      sqe->opcode = uring_op::kSendmsgZc;
      sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
    }
    sqe->user_data = UringLoop::Tag(this, kTagSend);
    inflight_++;
    sendInflight_ = true;
    return;
  }
  while (head_ < queue_.size()) {
    uint32_t total = BuildIov();
    ssize_t n = SendIov();
    inflightSegs_ = 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        writeBlocked_ = true;
        return;
      }
      Fail(-errno, kTcpOpWrite);
      return;
    }
    Complete(static_cast<uint32_t>(n));
    if (static_cast<uint32_t>(n) < total) {
      writeBlocked_ = true;  // the socket buffer is full: poll for writable
      return;
    }
  }
  if (shutdownWanted_ && !shutdownDone_) DoShutdown();
}

void TcpConn::OnSendCqe(const io_uring_cqe* cqe) {
  int res = cqe->res;
  if (sendZc_) {
    if (!(cqe->flags & IORING_CQE_F_NOTIF)) {
      zcResult_ = res;
      // The notification (buffers released) follows only with F_MORE.
      if (cqe->flags & IORING_CQE_F_MORE) return;
    } else {
      gstats_->zcSends++;
      stats_->zcSends++;
      if (static_cast<uint32_t>(res) & IORING_NOTIF_USAGE_ZC_COPIED) gstats_->zcCopied++;
      res = zcResult_;
    }
  }
  inflight_--;
  sendInflight_ = false;
  inflightSegs_ = 0;
  if (closing_) {
    FinishIfIdle();
    return;
  }
  if (res >= 0) {
    Complete(static_cast<uint32_t>(res));
    AfterSendDone();
  } else {
    Fail(res, kTcpOpWrite);
  }
}

// ---- connection: epoll receive ------------------------------------------------------------

int TcpConn::ReadSome() {
  if (!wantsRead()) return -EAGAIN;
  uint32_t room = 0;
  uint8_t* p = pool_->Room(&room);
  if (!p) return -ENOBUFS;
  int n = RecvInto(p, std::min<uint32_t>(room, 65536));
  if (n > 0) pool_->Used(static_cast<uint32_t>(n));
  return n;
}

// One recv(MSG_DONTWAIT) into pool memory at p (the epoll engine's bump
// region or the io_uring pool's direct region), reported as data, EOF or
// a read error; -EAGAIN when nothing is there.
int TcpConn::RecvInto(uint8_t* p, uint32_t room) {
  ssize_t n = recv(fd_, p, room, MSG_DONTWAIT);
  if (n > 0) {
    stats_->bytesRead += static_cast<double>(n);
    stats_->recvEvents++;
    gstats_->bytesRead += static_cast<double>(n);
    gstats_->recvEvents++;
    ev_->OnConnData(static_cast<uint32_t>(p - pool_->base()), static_cast<uint32_t>(n));
    return static_cast<int>(n);
  }
  if (n == 0) {
    eof_ = true;
    ev_->OnConnEnd();
    return 0;
  }
  int err = errno;
  if (err == EAGAIN || err == EINTR) return -EAGAIN;
  readError_ = true;
  Fail(-err, kTcpOpRead);
  return -err;
}

}  // namespace rw
