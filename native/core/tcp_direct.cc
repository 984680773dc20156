// The direct receive of a busy-polling thread's hot TCP connections
// (io_uring engine only): off the multishot, one recv per spin. The
// engines themselves are in tcp_engines.cc; B3 in uring_loop.h says when
// the multishot comes back.
#include <cerrno>

#include "tcp.h"

namespace rw {

// Direct receive: the TCP counterpart of UdpSocket's (udp_engines.cc has
// the measurement). While the thread busy-polls, a connection that receives
// is taken off the multishot receive (whose task work would sit on every
// segment's critical path) and read with one recv(MSG_DONTWAIT) per spin
// into the pool's direct region; its queued bytes leave with one sendmsg
// first (Flush(direct)), the rest as the usual WAITALL SQE. Byte order is
// kept: the spin reaps the CQ (bytes the multishot took before its cancel
// ended) before every direct receive, and a send SQE in flight blocks
// further flushes until its CQE. The binding bounds how many connections
// are direct at once (each costs a syscall per spin) and moves idle ones
// back; before the thread sleeps LeaveDirect re-arms the multishot, which
// receives at once what arrived in between (R3 in uring_loop.h).
void TcpConn::EnterDirect() {
  if (backend_ != TcpBackend::kUring || direct_ || !wantsRead()) return;
  direct_ = true;
  cancelIn_ = loop_->faults().directCancelDelay;
  CancelForDirect();
}

void TcpConn::CancelForDirect() {
  if (cancelIn_ > 0) {
    cancelIn_--;
    return;
  }
  CancelRecv();
}

int TcpConn::ReceiveDirect() {
  if (!direct_ || !wantsRead()) return -EAGAIN;
  CancelForDirect();
  uint32_t room = 0;
  uint8_t* p = pool_->DirectRoom(&room);
  if (!p) return -ENOBUFS;
  int n = RecvInto(p, room);
  if (n > 0) pool_->DirectUsed(static_cast<uint32_t>(n));
  return n;
}

void TcpConn::LeaveDirect() {
  if (!direct_) return;
  direct_ = false;
  if (closing_ || recvArmed_ || starved_ || !wantsRead()) return;
  gstats_->rearms++;
  ArmRecv();
}

}  // namespace rw
