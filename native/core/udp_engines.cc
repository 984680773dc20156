// The two UDP engines: io_uring (multishot recvmsg over a provided-buffer
// ring, SENDMSG/SENDMSG_ZC) and epoll (recvmmsg/sendmmsg). Both fill the
// same descriptors so JS cannot tell them apart.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "udp.h"

namespace rw {

void UdpSocket::ArmRecv() {
  io_uring_sqe* sqe = loop_->Sqe();
  io_uring_prep_recvmsg_multishot(sqe, fd_, &recvTemplate_, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = static_cast<uint16_t>(bgid_);
  sqe->user_data = UringLoop::Tag(this, kTagRecv);
  recvArmed_ = true;
  inflight_++;
}

void UdpSocket::OnCqe(unsigned tag, const io_uring_cqe* cqe) {
  if (tag == kTagRecv) {
    OnRecvCqe(cqe);
  } else if (tag == kTagCancel) {
    // A cancel that found nothing (the multishot had already ended) leaves
    // no terminal CQE to clear the flag.
    if (!recvArmed_) directCancel_ = false;
    inflight_--;
    FinishIfIdle();
  }
}

void UdpSocket::OnRecvCqe(const io_uring_cqe* cqe) {
  bool more = cqe->flags & IORING_CQE_F_MORE;
  if (cqe->res >= 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
    uint16_t bid = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    size_t base = static_cast<size_t>(bid) * cfg_.bufferSize;
    const auto* out = reinterpret_cast<const io_uring_recvmsg_out*>(pool_ + base);
    uint32_t headers = kHeaderSpace + recvTemplate_.msg_namelen + recvTemplate_.msg_controllen;
    if (static_cast<uint32_t>(cqe->res) < headers || closing_) {
      strayBids_.push_back(bid);
    } else {
      UdpDesc* d = &descs_[descCount_++];
      *d = UdpDesc{};
      d->bufferId = bid;
      d->nameOffset = static_cast<uint32_t>(base + kHeaderSpace);
      d->nameLength = std::min<uint32_t>(out->namelen, recvTemplate_.msg_namelen);
      if (controlSpace_)
        ParseControl(pool_ + base + kHeaderSpace + recvTemplate_.msg_namelen,
                     std::min<uint32_t>(out->controllen, recvTemplate_.msg_controllen), d);
      d->payloadOffset = static_cast<uint32_t>(base + headers);
      d->payloadLength = std::min<uint32_t>(out->payloadlen, static_cast<uint32_t>(cqe->res) - headers);
      if (out->flags & MSG_TRUNC) {
        d->flags |= kDescTruncated;
        stats_->truncated++;
      }
      stats_->rxDatagrams++;
      stats_->rxBytes += d->payloadLength;
      if (descCount_ == 1) ev_->OnRecvReady();
    }
  } else if (cqe->res == -ENOBUFS) {
    // Every buffer is with JS: the multishot ends; Recycle() re-arms once
    // the batch is returned, so the socket never goes deaf.
    stats_->starvations++;
    starved_ = true;
    ev_->OnRecvReady();
  } else if (cqe->res < 0 && cqe->res != -ECANCELED && !closing_) {
    ev_->OnRecvError(cqe->res);
  }
  if (!more) {
    recvArmed_ = false;
    inflight_--;
    // Ended by EnterDirect's cancel: re-armed here if the thread has left
    // the direct receive meanwhile (LeaveDirect could not: still armed).
    bool ours = directCancel_;
    directCancel_ = false;
    if (closing_) {
      FinishIfIdle();
    } else if (recvWanted_ && !starved_ && !direct_ && (cqe->res != -ECANCELED || ours)) {
      stats_->rearms++;
      ArmRecv();
    }
  }
}

void UdpSocket::OnSendCqe(SendOp* op, unsigned, const io_uring_cqe* cqe) {
  if (op->zc) {
    if (!(cqe->flags & IORING_CQE_F_NOTIF)) {
      op->result = cqe->res;
      // Without F_MORE no notification follows (the send failed early).
      if (!(cqe->flags & IORING_CQE_F_MORE)) CompleteSend(op, cqe->res);
      return;
    }
    stats_->zcSends++;
    if (static_cast<uint32_t>(cqe->res) & IORING_NOTIF_USAGE_ZC_COPIED) stats_->zcCopied++;
    CompleteSend(op, op->result);
    return;
  }
  CompleteSend(op, cqe->res);
}

void UdpSocket::CompleteSend(SendOp* op, int res) {
  if (res >= 0) {
    stats_->txDatagrams++;
    stats_->txBytes += res;
  } else {
    stats_->sendErrors++;
  }
  if (op->token || res < 0) ev_->OnSent(op->token, res);
  bool ring = op->ring;
  FreeOp(op);
  if (ring) {
    ringSends_--;
    inflight_--;
    FinishIfIdle();
  }
}

void UdpSocket::Recycle() {
  if (descCount_) MaybeRefreshDrops();
  if (backend_ == Backend::kEpoll) {
    descCount_ = 0;
    freeEpoll_ = 0;
    return;
  }
  if (!bufRing_) return;
  int mask = io_uring_buf_ring_mask(cfg_.bufferCount);
  int n = 0;
  for (uint32_t i = 0; i < descCount_; i++) {
    if (descs_[i].bufferId >= cfg_.bufferCount) continue;  // a direct slot: ours
    io_uring_buf_ring_add(bufRing_, pool_ + static_cast<size_t>(descs_[i].bufferId) * cfg_.bufferSize,
                          cfg_.bufferSize, static_cast<uint16_t>(descs_[i].bufferId), mask, n++);
  }
  freeDirect_ = 0;
  for (uint16_t bid : strayBids_)
    io_uring_buf_ring_add(bufRing_, pool_ + static_cast<size_t>(bid) * cfg_.bufferSize,
                          cfg_.bufferSize, bid, mask, n++);
  // Release-publishes the new tail: the kernel sees the descriptors before
  // it sees the tail move (smp_store_release inside liburing).
  if (n) io_uring_buf_ring_advance(bufRing_, n);
  descCount_ = 0;
  strayBids_.clear();
  if (starved_ && recvWanted_ && !closing_ && !recvArmed_ && !direct_) {
    starved_ = false;
    stats_->rearms++;
    ArmRecv();
  }
}

int UdpSocket::ReceiveBatch(bool* drained) {
  uint32_t room = std::min<uint32_t>(kRecvBatch, cfg_.bufferCount - freeEpoll_);
  if (room == 0) return 0;
  int r = ReceiveSlots(freeEpoll_, room, drained);
  if (r > 0) freeEpoll_ += static_cast<uint32_t>(r);
  return r;
}

// Direct receive. A busy-polling thread that keeps the multishot receive
// armed pays io_uring's notification on every datagram's critical path:
// the wake queues task work (io_poll_wake -> io_req_task_work_add), and the
// next system call of this thread runs it before returning (the poll
// re-check, the receive into a provided buffer, the CQE). Measured with a
// C echo server, UDP 64 B across CPUs, spinning client, this VM (null
// syscall ~1 us): min round trip 6.7-6.9 us spinning on recvmsg, 8.6-9.1 us
// spinning on the multishot's TASKRUN hint, 8.3-8.6 us with a multishot
// POLL armed and recvmsg on its hint (the task work alone costs that much).
// So while the thread spins, the multishot is cancelled and each spin makes
// one recvmmsg (MSG_DONTWAIT) into slots the buffer ring never sees, as
// c-busy and Onload's spinning receive do. Order is kept: datagrams the
// multishot took before its cancel ended are CQEs, and the spin reaps the
// CQ before every direct receive (busy_poll.cc), so they go to JS first.
// Before the thread sleeps, LeaveDirect re-arms the multishot; the kernel
// tries the receive at once when it is issued, so nothing that arrived in
// between waits for a wake (R3 in uring_loop.h).
void UdpSocket::EnterDirect() {
  if (backend_ != Backend::kUring || direct_ || closing_ || !recvWanted_) return;
  direct_ = true;
  cancelIn_ = loop_->faults().directCancelDelay;
  CancelForDirect();
}

void UdpSocket::CancelForDirect() {
  if (cancelIn_ > 0) {
    cancelIn_--;
    return;
  }
  if (recvArmed_ && !directCancel_) {
    io_uring_sqe* sqe = loop_->Sqe();
    io_uring_prep_cancel64(sqe, UringLoop::Tag(this, kTagRecv), 0);
    sqe->user_data = UringLoop::Tag(this, kTagCancel);
    inflight_++;
    directCancel_ = true;
  }
}

int UdpSocket::ReceiveDirect() {
  if (!direct_ || closing_) return 0;
  CancelForDirect();
  uint32_t room = std::min<uint32_t>(kDirectSlots - freeDirect_, cfg_.bufferCount + kDirectSlots - descCount_);
  if (room == 0) return 0;
  bool drained = false;
  uint32_t first = cfg_.bufferCount + freeDirect_;
  if (first != directFirst_ || room != directRoom_) {
    PrepareSlots(directVec_, directIov_, first, room);
    directFirst_ = first;
    directRoom_ = room;
  }
  // After a poll that found nothing, ask for one datagram: a request that
  // ends a quiet spell is usually alone, and a larger vlen makes the kernel
  // try a second receive that fails (do_recvmmsg loops until EAGAIN), on
  // the round trip's critical path. Once a poll found data, the next asks
  // for all the room, so a burst costs one extra poll at its start.
  int r = ReceiveInto(directVec_, first, directWarm_ ? room : 1, &drained);
  directWarm_ = r > 0;
  if (r != -EAGAIN) directRoom_ = 0;  // the kernel wrote into the headers (see udp.h)
  if (r > 0) freeDirect_ += static_cast<uint32_t>(r);
  return r;
}

void UdpSocket::LeaveDirect() {
  if (!direct_) return;
  direct_ = false;
  // Still armed: our cancel is in flight and its terminal CQE re-arms.
  if (closing_ || !recvWanted_ || recvArmed_) return;
  starved_ = false;
  stats_->rearms++;
  ArmRecv();
}

int UdpSocket::ReceiveSlots(uint32_t first, uint32_t room, bool* drained) {
  constexpr uint32_t kBatch = kRecvBatch;
  room = std::min(room, kBatch);
  mmsghdr vec[kBatch];
  iovec iov[kBatch];
  PrepareSlots(vec, iov, first, room);
  return ReceiveInto(vec, first, room, drained);
}

void UdpSocket::PrepareSlots(mmsghdr* vec, iovec* iov, uint32_t first, uint32_t room) const {
  uint32_t headers = kHeaderSpace + kNameSpace + controlSpace_;
  for (uint32_t k = 0; k < room; k++) {
    uint8_t* slot = pool_ + static_cast<size_t>(first + k) * cfg_.bufferSize;
    memset(&vec[k], 0, sizeof(vec[k]));
    vec[k].msg_hdr.msg_name = slot + kHeaderSpace;
    vec[k].msg_hdr.msg_namelen = sizeof(sockaddr_in6);
    vec[k].msg_hdr.msg_control = slot + kHeaderSpace + kNameSpace;
    vec[k].msg_hdr.msg_controllen = controlSpace_;
    iov[k].iov_base = slot + headers;
    iov[k].iov_len = cfg_.bufferSize - headers;
    vec[k].msg_hdr.msg_iov = &iov[k];
    vec[k].msg_hdr.msg_iovlen = 1;
  }
}

int UdpSocket::ReceiveInto(mmsghdr* vec, uint32_t first, uint32_t room, bool* drained) {
  uint32_t headers = kHeaderSpace + kNameSpace + controlSpace_;
  int r = recvmmsg(fd_, vec, room, MSG_DONTWAIT, nullptr);
  if (r < 0) {
    *drained = true;
    return -errno;
  }
  if (static_cast<uint32_t>(r) < room) *drained = true;
  for (int k = 0; k < r; k++) {
    uint32_t slotIndex = first + static_cast<uint32_t>(k);
    size_t base = static_cast<size_t>(slotIndex) * cfg_.bufferSize;
    UdpDesc* d = &descs_[descCount_++];
    *d = UdpDesc{};
    d->bufferId = slotIndex;
    d->nameOffset = static_cast<uint32_t>(base + kHeaderSpace);
    d->nameLength = vec[k].msg_hdr.msg_namelen;
    if (controlSpace_) ParseControl(&vec[k].msg_hdr, d);
    d->payloadOffset = static_cast<uint32_t>(base + headers);
    d->payloadLength = std::min<uint32_t>(vec[k].msg_len, cfg_.bufferSize - headers);
    if (vec[k].msg_hdr.msg_flags & MSG_TRUNC) {
      d->flags |= kDescTruncated;
      stats_->truncated++;
    }
    stats_->rxDatagrams++;
    stats_->rxBytes += d->payloadLength;
  }
  return r;
}

// Direct sends (io_uring engine, when LoopBinding::directFlush() says so:
// while the thread polls, or when few handles flush in the turn). A send SQE
// costs more than the sendmmsg it performs: the enter, the SQE's issue path,
// and a CQE to reap afterwards. A sleeping loop pays that once per turn for
// all its sends and nothing else would wake it for an epoll-style retry, but
// a spinning thread is on the critical path of every round trip: perf
// record of the UDP echo server across CPUs (busy, 64 B) put the io_uring
// submit at 5.2 us per round trip against 4.4 us for c-busy's sendmmsg.
// So while busy polling, sends queue here and go out with one sendmmsg per
// turn, like the epoll engine; what the socket buffer refuses (EAGAIN) is
// handed to the ring in order, where the kernel waits for room itself.
int UdpSocket::FlushSends(bool direct) {
  constexpr size_t kBatch = 64;
  mmsghdr vec[kBatch];
  if (!direct && backend_ == Backend::kUring) {
    for (; queuedHead_ < queued_.size(); queuedHead_++) SendOnRing(queued_[queuedHead_]);
    queued_.clear();
    queuedHead_ = 0;
    return 0;
  }
  while (queuedHead_ < queued_.size()) {
    size_t n = std::min(kBatch, queued_.size() - queuedHead_);
    if (backend_ == Backend::kUring && loop_->faults().directSendSplit) {
      // Test fault: what follows the first datagram meets a "full" buffer.
      if (queuedHead_ > 0) {
        for (; queuedHead_ < queued_.size(); queuedHead_++) SendOnRing(queued_[queuedHead_]);
        break;
      }
      n = 1;
    }
    int r;
    const msghdr& first = queued_[queuedHead_]->msg;
    if (n == 1 && first.msg_iovlen == 1 && first.msg_controllen == 0) {
      // One datagram (an echo's reply, a request): sendto() imports one
      // user buffer where sendmmsg copies a msghdr and imports an iovec
      // (net/socket.c __sys_sendto vs ___sys_sendmsg), on the critical
      // path of every round trip. Same result and errno rules.
      ssize_t sent = sendto(fd_, first.msg_iov[0].iov_base, first.msg_iov[0].iov_len, MSG_DONTWAIT,
                            static_cast<const sockaddr*>(first.msg_name), first.msg_namelen);
      r = sent < 0 ? -1 : 1;
      vec[0].msg_len = sent < 0 ? 0 : static_cast<unsigned>(sent);
    } else {
      for (size_t k = 0; k < n; k++) {
        vec[k].msg_hdr = queued_[queuedHead_ + k]->msg;
        vec[k].msg_len = 0;
      }
      r = sendmmsg(fd_, vec, static_cast<unsigned>(n), MSG_DONTWAIT);
    }
    if (r < 0) {
      int err = -errno;
      if ((err == -EAGAIN || err == -EINTR) && backend_ == Backend::kUring) {
        for (; queuedHead_ < queued_.size(); queuedHead_++) SendOnRing(queued_[queuedHead_]);
        break;
      }
      if (err == -EAGAIN || err == -EINTR) return -EAGAIN;
      // The first datagram is at fault (e.g. EMSGSIZE, ENETUNREACH): fail
      // it alone and go on with the rest.
      CompleteSend(queued_[queuedHead_++], err);
      continue;
    }
    for (int k = 0; k < r; k++)
      CompleteSend(queued_[queuedHead_ + k], static_cast<int>(vec[k].msg_len));
    queuedHead_ += static_cast<size_t>(r);
  }
  queued_.clear();
  queuedHead_ = 0;
  return 0;
}

}  // namespace rw
