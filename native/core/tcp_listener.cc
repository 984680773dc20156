// TCP listening sockets and the socket-option calls shared by listeners
// and connections. Backend-independent; moved whole from tcp.cc.
#include "tcp.h"

#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>

namespace rw {

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

}  // namespace rw
