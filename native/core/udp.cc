// Backend-independent parts of UdpSocket: the socket, its options, the
// receive pool, send-op allocation and the close protocol.
#include "udp.h"

#include <linux/sock_diag.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace rw {

UdpSocket::~UdpSocket() { Teardown(); }

int UdpSocket::Open(const UdpConfig& cfg) {
  cfg_ = cfg;
  fd_ = socket(cfg.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return -errno;
  int one = 1;
  // Kernel drops are read with SO_MEMINFO (RefreshDrops), not SO_RXQ_OVFL:
  // that cmsg costs the kernel a put_cmsg and a hardened usercopy on every
  // datagram (about a tenth of the receive path in a 64 B sink profile).
  controlSpace_ = 0;
  if (cfg.timestamps) {
    if (setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0) return -errno;
    controlSpace_ += CMSG_SPACE(sizeof(timespec));
  }
  controlSpace_ = (controlSpace_ + 7) & ~7u;
  if (cfg.bufferSize <= kHeaderSpace + kNameSpace + controlSpace_) return -EINVAL;
  // The io_uring engine's pool has kDirectSlots more slots, never given to
  // the buffer ring: the direct receive of a busy-polling thread uses them.
  uint32_t slots = cfg.bufferCount + (backend_ == Backend::kUring ? kDirectSlots : 0);
  poolBytes_ = static_cast<size_t>(slots) * cfg.bufferSize;
  void* mem = mmap(nullptr, poolBytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (mem == MAP_FAILED) return -errno;
  pool_ = static_cast<uint8_t*>(mem);
  descs_.resize(slots);
  if (backend_ == Backend::kUring) {
    bgid_ = loop_->AllocBufferGroup();
    if (bgid_ < 0) return bgid_;
    int err = 0;
    bufRing_ = SetupBufRing(loop_->ring(), cfg.bufferCount, bgid_, &err);
    if (!bufRing_) return err;
    int mask = io_uring_buf_ring_mask(cfg.bufferCount);
    for (uint32_t i = 0; i < cfg.bufferCount; i++)
      io_uring_buf_ring_add(bufRing_, pool_ + static_cast<size_t>(i) * cfg.bufferSize,
                            cfg.bufferSize, static_cast<uint16_t>(i), mask, static_cast<int>(i));
    // Publishes the descriptors (release store of the tail inside liburing).
    io_uring_buf_ring_advance(bufRing_, static_cast<int>(cfg.bufferCount));
    recvTemplate_.msg_namelen = sizeof(sockaddr_in6);
    recvTemplate_.msg_controllen = controlSpace_;
  }
  return 0;
}

int UdpSocket::SetOpt(int level, int name, const void* val, socklen_t len) {
  return setsockopt(fd_, level, name, val, len) < 0 ? -errno : 0;
}

int UdpSocket::GetOpt(int level, int name, void* val, socklen_t* len) {
  return getsockopt(fd_, level, name, val, len) < 0 ? -errno : 0;
}

int UdpSocket::Bind(const sockaddr* sa, socklen_t len) {
  return bind(fd_, sa, len) < 0 ? -errno : 0;
}

int UdpSocket::Connect(const sockaddr* sa, socklen_t len) {
  return connect(fd_, sa, len) < 0 ? -errno : 0;
}

int UdpSocket::Disconnect() {
  sockaddr sa{};
  sa.sa_family = AF_UNSPEC;
  return connect(fd_, &sa, sizeof(sa)) < 0 ? -errno : 0;
}

int UdpSocket::StartReceiving() {
  recvWanted_ = true;
  if (backend_ == Backend::kUring && !recvArmed_ && !direct_) ArmRecv();
  return 0;
}

void UdpSocket::ParseControl(const msghdr* mh, UdpDesc* d) {
  ParseControl(static_cast<const uint8_t*>(mh->msg_control), static_cast<uint32_t>(mh->msg_controllen), d);
}

// Walks the control messages with memcpy into aligned locals: in the
// io_uring multishot layout the control area follows the 16-byte
// io_uring_recvmsg_out and a 28-byte sockaddr_in6, so it is only 4-byte
// aligned and a cmsghdr (8-byte size_t first) cannot be read in place.
// Steps follow CMSG_NXTHDR's arithmetic (cmsg(3)): CMSG_ALIGN(cmsg_len).
void UdpSocket::ParseControl(const uint8_t* ctrl, uint32_t len, UdpDesc* d) {
  size_t at = 0;
  while (ctrl && at + sizeof(cmsghdr) <= len) {
    cmsghdr c;
    memcpy(&c, ctrl + at, sizeof(c));
    if (c.cmsg_len < sizeof(cmsghdr) || c.cmsg_len > len - at) break;
    if (c.cmsg_level == SOL_SOCKET && c.cmsg_type == SO_TIMESTAMPNS &&
        c.cmsg_len >= CMSG_LEN(sizeof(timespec))) {
      timespec ts;
      memcpy(&ts, ctrl + at + CMSG_LEN(0), sizeof(ts));
      d->tsSec = static_cast<uint32_t>(ts.tv_sec);
      d->tsNsec = static_cast<uint32_t>(ts.tv_nsec);
      d->flags |= kDescTimestamp;
    }
    at += CMSG_ALIGN(c.cmsg_len);
  }
}

int UdpSocket::RefreshDrops() {
  if (fd_ < 0) return -EBADF;
  uint32_t mem[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof(mem);
  if (getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0) return -errno;
  if (len < (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t)) return -EOPNOTSUPP;
  stats_->kernelDrops = mem[SK_MEMINFO_DROPS];
  return 0;
}

void UdpSocket::MaybeRefreshDrops() {
  // Drops only happen while datagrams arrive, so a socket that received
  // something this wake re-reads the counter, at most every kDropsPeriodNs
  // (the coarse clock is a vDSO read, no syscall).
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  int64_t now = static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  if (now < nextDropsCheck_) return;
  nextDropsCheck_ = now + kDropsPeriodNs;
  RefreshDrops();
}

UdpSocket::SendOp* UdpSocket::AllocOp() {
  if (!freeOps_) {
    auto* chunk = new SendOp[kOpChunk];
    chunks_.push_back(chunk);
    for (int i = 0; i < kOpChunk; i++) {
      chunk[i].owner = this;
      chunk[i].heap = nullptr;
      chunk[i].next = freeOps_;
      freeOps_ = &chunk[i];
    }
  }
  SendOp* op = freeOps_;
  freeOps_ = op->next;
  return op;
}

void UdpSocket::FreeOp(SendOp* op) {
  free(op->heap);
  op->heap = nullptr;
  op->next = freeOps_;
  freeOps_ = op;
}

int UdpSocket::Send(const uint8_t* data, uint32_t len, const sockaddr* to,
                    socklen_t tolen, uint32_t token, bool* keep, bool direct) {
  if (closing_ || fd_ < 0) return -EBADF;
  // No UDP datagram is larger (IP's 16-bit length); refused before copying.
  if (len > 65535) return -EMSGSIZE;
  SendOp* op = AllocOp();
  if (!op) return -ENOMEM;
  memset(&op->msg, 0, sizeof(op->msg));
  // Every datagram is copied before this call returns, so JS may reuse,
  // transfer or detach its buffer at once. Holding a reference to the JS
  // object would not be enough: a transferred ArrayBuffer's memory belongs
  // to the new owner and is freed when that one is collected, possibly
  // before the kernel has read it (issue 14). Small ones go into the op,
  // large ones (<= 64 KiB) into a heap copy freed with the op.
  *keep = false;
  uint8_t* dst = op->data;
  if (len > kInlineSend) {
    op->heap = static_cast<uint8_t*>(malloc(len));
    if (!op->heap) {
      FreeOp(op);
      return -ENOMEM;
    }
    dst = op->heap;
  }
  if (len) memcpy(dst, data, len);
  op->iov.iov_base = dst;
  op->iov.iov_len = len;
  op->msg.msg_iov = &op->iov;
  op->msg.msg_iovlen = 1;
  if (to) {
    memcpy(&op->to, to, tolen);
    op->msg.msg_name = &op->to;
    op->msg.msg_namelen = tolen;
  }
  op->token = token;
  op->zc = backend_ == Backend::kUring && cfg_.zcThreshold && len >= cfg_.zcThreshold;
  op->ring = false;
  // Direct sends keep the socket's order: taken only while no ring send is
  // outstanding, and once one waits in queued_ every later send queues
  // behind it (FlushSends hands leftovers to the ring in order).
  if (backend_ == Backend::kEpoll || hasQueuedSends() || (direct && !op->zc && ringSends_ == 0)) {
    queued_.push_back(op);
    return 0;
  }
  SendOnRing(op);
  return 0;
}

void UdpSocket::SendOnRing(SendOp* op) {
  io_uring_sqe* sqe = loop_->Sqe();
  if (op->zc) {
    io_uring_prep_sendmsg(sqe, fd_, &op->msg, 0);
    sqe->opcode = uring_op::kSendmsgZc;
    sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
  } else {
    io_uring_prep_sendmsg(sqe, fd_, &op->msg, 0);
  }
  sqe->user_data = UringLoop::Tag(op, kTagSend);
  // Test fault: the send completes later, from io_uring's worker, as a send
  // parked on a full socket buffer would (inline issue hides any overtaking).
  if (loop_->faults().directSendSplit) sqe->flags |= IOSQE_ASYNC;
  op->ring = true;
  ringSends_++;
  inflight_++;
}

void UdpSocket::Close() {
  if (closing_) return;
  closing_ = true;
  recvWanted_ = false;
  if (backend_ == Backend::kUring && recvArmed_) {
    io_uring_sqe* sqe = loop_->Sqe();
    io_uring_prep_cancel64(sqe, UringLoop::Tag(this, kTagRecv), 0);
    sqe->user_data = UringLoop::Tag(this, kTagCancel);
    inflight_++;
  }
  // io_uring engine: direct sends still queued go to the ring, so a close
  // right after send() sends what it did before busy polling existed.
  if (backend_ == Backend::kUring)
    for (size_t i = queuedHead_; i < queued_.size(); i++) SendOnRing(queued_[i]);
  // epoll engine: queued sends fail now; nothing is in the kernel's hands.
  for (size_t i = queuedHead_; i < queued_.size() && backend_ == Backend::kEpoll; i++) {
    if (queued_[i]->token) ev_->OnSent(queued_[i]->token, -ECANCELED);
    FreeOp(queued_[i]);
  }
  queued_.clear();
  queuedHead_ = 0;
  FinishIfIdle();
}

void UdpSocket::FinishIfIdle() {
  if (closing_ && inflight_ == 0 && !idleSignalled_) {
    idleSignalled_ = true;
    ev_->OnIdle();
  }
}

void UdpSocket::Teardown() {
  if (bufRing_) {
    // With the ring already gone (teardown) the unregister simply fails.
    FreeBufRing(loop_->ring(), bufRing_, cfg_.bufferCount, bgid_);
    bufRing_ = nullptr;
  }
  if (bgid_ >= 0) {
    loop_->FreeBufferGroup(bgid_);
    bgid_ = -1;
  }
  if (pool_) {
    munmap(pool_, poolBytes_);
    pool_ = nullptr;
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  // Ops still with the kernel when the ring went away keep their copies.
  for (SendOp* c : chunks_) {
    for (int i = 0; i < kOpChunk; i++) free(c[i].heap);
    delete[] c;
  }
  chunks_.clear();
  freeOps_ = nullptr;
  queued_.clear();
}

}  // namespace rw
