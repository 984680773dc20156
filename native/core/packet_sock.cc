#include "packet_sock.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif
#ifndef SO_BUSY_POLL
#define SO_BUSY_POLL 46
#endif

namespace rw {
namespace {

constexpr size_t kCmsgSpace = CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(uint32_t));

int SetInt(int fd, int level, int name, int v) {
  return setsockopt(fd, level, name, &v, sizeof(v)) < 0 ? -errno : 0;
}

// Ones'-complement sum of 16-bit big-endian words, not yet folded.
uint32_t SumWords(const uint8_t* p, size_t n, uint32_t sum) {
  for (; n > 1; n -= 2, p += 2) sum += (static_cast<uint32_t>(p[0]) << 8) | p[1];
  if (n) sum += static_cast<uint32_t>(p[0]) << 8;
  return sum;
}

uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

bool IsV4Mapped(const in6_addr& a) {
  static const uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return memcmp(a.s6_addr, kPrefix, 12) == 0;
}

}  // namespace

int SockBackend::Open(const SockBackendConfig& cfg, OpenError* err) {
  cfg_ = cfg;
  fd_ = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0 && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
    v6_ = false;
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  if (fd_ < 0) return err->Set(-errno, "socket");
  int r;
  if (v6_ && (r = SetInt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, 0)) < 0) return err->Set(r, "setsockopt(IPV6_V6ONLY)");
  // The destination address of each datagram, for the synthesized header.
  if (v6_ ? (r = SetInt(fd_, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)) < 0
          : (r = SetInt(fd_, IPPROTO_IP, IP_PKTINFO, 1)) < 0)
    return err->Set(r, "setsockopt(PKTINFO)");
  // Kernel drop counter in every datagram's control data.
  if ((r = SetInt(fd_, SOL_SOCKET, SO_RXQ_OVFL, 1)) < 0) return err->Set(r, "setsockopt(SO_RXQ_OVFL)");
  // A bigger queue absorbs bursts; capped silently at net.core.rmem_max.
  SetInt(fd_, SOL_SOCKET, SO_RCVBUF, 4 << 20);
  if (cfg.busyPollUs && (r = SetInt(fd_, SOL_SOCKET, SO_BUSY_POLL, static_cast<int>(cfg.busyPollUs))) < 0)
    return err->Set(r, "setsockopt(SO_BUSY_POLL)");
  if (setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, cfg.ifname.c_str(),
                 static_cast<socklen_t>(cfg.ifname.size())) < 0)
    return err->Set(-errno, "setsockopt(SO_BINDTODEVICE)", cfg.ifname);
  int b;
  if (v6_) {
    sockaddr_in6 sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(cfg.port);
    sa.sin6_addr = in6addr_any;
    b = bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  } else {
    sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(cfg.port);
    b = bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  }
  if (b < 0) return err->Set(-errno, "bind");

  size_t n = cfg.batchSize;
  msgs_.resize(n);
  iovs_.resize(n);
  names_.resize(n);
  cmsgs_.resize(n * kCmsgSpace);
  rxFrames_.resize(n);
  return 0;
}

void SockBackend::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

uint32_t SockBackend::Fill(const uint64_t* addrs, uint32_t n) {
  free_.insert(free_.end(), addrs, addrs + n);
  if (n) starved_ = false;
  return n;
}

uint32_t SockBackend::Synthesize(uint8_t* payload, uint32_t len, const sockaddr_in6& from,
                                 const in6_addr& to, bool v4) {
  uint32_t hdr = v4 ? 14 + 20 + 8 : 14 + 40 + 8;
  uint8_t* f = payload - hdr;
  memcpy(f, cfg_.mac, 6);
  memset(f + 6, 0, 6);
  uint8_t* udp;
  if (v4) {
    Put16(f + 12, 0x0800);
    uint8_t* ip = f + 14;
    ip[0] = 0x45;
    ip[1] = 0;
    Put16(ip + 2, static_cast<uint16_t>(20 + 8 + len));
    Put16(ip + 4, 0);
    Put16(ip + 6, 0x4000);  // DF
    ip[8] = 64;
    ip[9] = 17;
    Put16(ip + 10, 0);
    memcpy(ip + 12, from.sin6_addr.s6_addr + 12, 4);
    memcpy(ip + 16, to.s6_addr + 12, 4);
    Put16(ip + 10, Fold(SumWords(ip, 20, 0)));
    udp = ip + 20;
  } else {
    Put16(f + 12, 0x86dd);
    uint8_t* ip = f + 14;
    ip[0] = 0x60;
    ip[1] = ip[2] = ip[3] = 0;
    Put16(ip + 4, static_cast<uint16_t>(8 + len));
    ip[6] = 17;
    ip[7] = 64;
    memcpy(ip + 8, from.sin6_addr.s6_addr, 16);
    memcpy(ip + 24, to.s6_addr, 16);
    udp = ip + 40;
  }
  memcpy(udp, &from.sin6_port, 2);  // both already in network order
  Put16(udp + 2, cfg_.port);
  Put16(udp + 4, static_cast<uint16_t>(8 + len));
  Put16(udp + 6, 0);
  if (!v4) {
    // Pseudo-header (addresses, length, next header) + UDP header + payload.
    uint32_t sum = SumWords(f + 14 + 8, 32, 0);
    sum += 8 + len;
    sum += 17;
    sum = SumWords(udp, 8 + len, sum);
    uint16_t c = Fold(sum);
    Put16(udp + 6, c ? c : 0xffff);  // 0 means "no checksum", not allowed on IPv6
  }
  return hdr + len;
}

uint32_t SockBackend::Receive(PacketDesc* out, uint32_t max) {
  if (fd_ < 0) return 0;
  if (free_.empty()) {
    // Readable but nothing to receive into: stop reading until frames are
    // released (the binding stops polling for readability meanwhile).
    if (!starved_) starvations_++;
    starved_ = true;
    return 0;
  }
  uint32_t n = max;
  if (n > msgs_.size()) n = static_cast<uint32_t>(msgs_.size());
  if (n > free_.size()) n = static_cast<uint32_t>(free_.size());
  const uint32_t room = cfg_.frameSize - kHeadroom - kMaxHeaders;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t base = free_[free_.size() - 1 - i];
    rxFrames_[i] = base;
    iovs_[i].iov_base = cfg_.area + base + kHeadroom + kMaxHeaders;
    iovs_[i].iov_len = room;
    msghdr& h = msgs_[i].msg_hdr;
    h.msg_name = &names_[i];
    h.msg_namelen = sizeof(sockaddr_in6);
    h.msg_iov = &iovs_[i];
    h.msg_iovlen = 1;
    h.msg_control = cmsgs_.data() + i * kCmsgSpace;
    h.msg_controllen = kCmsgSpace;
    h.msg_flags = 0;
  }
  int got = recvmmsg(fd_, msgs_.data(), n, MSG_DONTWAIT, nullptr);
  if (got <= 0) return 0;
  uint32_t k = 0;
  for (int i = 0; i < got; i++) {
    msghdr& h = msgs_[i].msg_hdr;
    sockaddr_in6 from;
    in6_addr to;
    memset(&to, 0, sizeof(to));
    if (v6_) {
      from = names_[i];
    } else {
      // Plain IPv4 socket: present the address as v4-mapped.
      sockaddr_in sin;
      memcpy(&sin, &names_[i], sizeof(sin));
      memset(&from, 0, sizeof(from));
      from.sin6_port = sin.sin_port;
      from.sin6_addr.s6_addr[10] = from.sin6_addr.s6_addr[11] = 0xff;
      memcpy(from.sin6_addr.s6_addr + 12, &sin.sin_addr, 4);
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
        in6_pktinfo pi;
        memcpy(&pi, CMSG_DATA(c), sizeof(pi));
        to = pi.ipi6_addr;
      } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        in_pktinfo pi;
        memcpy(&pi, CMSG_DATA(c), sizeof(pi));
        to.s6_addr[10] = to.s6_addr[11] = 0xff;
        memcpy(to.s6_addr + 12, &pi.ipi_addr, 4);
      } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
        memcpy(&drops_, CMSG_DATA(c), sizeof(drops_));
      }
    }
    if (h.msg_flags & MSG_TRUNC) truncated_++;
    bool v4 = IsV4Mapped(from.sin6_addr);
    uint8_t* payload = cfg_.area + rxFrames_[i] + kHeadroom + kMaxHeaders;
    uint32_t len = msgs_[i].msg_len;
    uint32_t total = Synthesize(payload, len, from, to, v4);
    out[k].offset = static_cast<uint32_t>(rxFrames_[i] + kHeadroom + kMaxHeaders + len - total);
    out[k].length = total;
    k++;
  }
  free_.resize(free_.size() - static_cast<size_t>(got));
  return k;
}

bool SockBackend::ParseTx(const PacketDesc& d, sockaddr_in6* to, iovec* iov) {
  const uint8_t* f = cfg_.area + d.offset;
  uint32_t len = d.length;
  if (len < 14) return false;
  memset(to, 0, sizeof(*to));
  to->sin6_family = AF_INET6;
  const uint8_t* udp;
  uint16_t type = Get16(f + 12);
  if (type == 0x0800) {
    const uint8_t* ip = f + 14;
    uint32_t ihl = (ip[0] & 0x0f) * 4u;
    if ((ip[0] >> 4) != 4 || ihl < 20 || len < 14 + ihl + 8 || ip[9] != 17) return false;
    to->sin6_addr.s6_addr[10] = to->sin6_addr.s6_addr[11] = 0xff;
    memcpy(to->sin6_addr.s6_addr + 12, ip + 16, 4);
    udp = ip + ihl;
  } else if (type == 0x86dd && v6_) {
    const uint8_t* ip = f + 14;
    if ((ip[0] >> 4) != 6 || len < 14 + 40 + 8 || ip[6] != 17) return false;
    memcpy(to->sin6_addr.s6_addr, ip + 24, 16);
    udp = ip + 40;
  } else {
    return false;
  }
  memcpy(&to->sin6_port, udp + 2, 2);
  uint32_t ulen = Get16(udp + 4);
  uint32_t avail = static_cast<uint32_t>(f + len - udp);
  if (ulen < 8 || ulen > avail) return false;
  iov->iov_base = const_cast<uint8_t*>(udp + 8);
  iov->iov_len = ulen - 8;
  return true;
}

uint32_t SockBackend::Transmit(const PacketDesc* descs, uint32_t n) {
  if (txHead_ == txq_.size()) {
    txq_.clear();
    txHead_ = 0;
  }
  txq_.insert(txq_.end(), descs, descs + n);
  return n;
}

int SockBackend::Kick() {
  if (fd_ < 0) return -EBADF;
  while (txHead_ < txq_.size()) {
    uint32_t k = 0;
    size_t i = txHead_;
    // One sendmmsg batch; frames that do not parse as UDP are completed
    // (and counted) without being sent.
    for (; i < txq_.size() && k < msgs_.size(); i++) {
      sockaddr_in6& to = names_[k];
      if (!ParseTx(txq_[i], &to, &iovs_[k])) {
        if (k == 0) {
          done_.push_back(txq_[i].offset);
          txInvalid_++;
          txHead_ = i + 1;
          continue;
        }
        break;  // send what we have first, keeping the order
      }
      msghdr& h = msgs_[k].msg_hdr;
      memset(&h, 0, sizeof(h));
      if (v6_) {
        h.msg_name = &to;
        h.msg_namelen = sizeof(to);
      } else {
        // Plain IPv4 socket: back to a sockaddr_in, in place.
        sockaddr_in sin;
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = to.sin6_port;
        memcpy(&sin.sin_addr, to.sin6_addr.s6_addr + 12, 4);
        memcpy(&to, &sin, sizeof(sin));
        h.msg_name = &to;
        h.msg_namelen = sizeof(sin);
      }
      h.msg_iov = &iovs_[k];
      h.msg_iovlen = 1;
      k++;
    }
    if (k == 0) continue;
    int sent = sendmmsg(fd_, msgs_.data(), k, MSG_DONTWAIT);
    if (sent < 0) {
      int e = errno;
      if (e == EAGAIN || e == ENOBUFS || e == EINTR) return -EAGAIN;
      // The first datagram was refused (unreachable, too big ...): drop it
      // and go on with the rest.
      sent = 1;
      txErrors_++;
    }
    for (int j = 0; j < sent; j++) done_.push_back(txq_[txHead_ + static_cast<size_t>(j)].offset);
    txHead_ += static_cast<size_t>(sent);
  }
  return 0;
}

uint32_t SockBackend::Complete(uint64_t* out, uint32_t max) {
  uint32_t n = static_cast<uint32_t>(done_.size() < max ? done_.size() : max);
  // An empty vector's data() may be null, and memcpy's pointers must be
  // valid even for 0 bytes (C11 7.24.1; UBSan's nonnull-attribute check).
  if (n == 0) return 0;
  memcpy(out, done_.data(), n * sizeof(uint64_t));
  done_.erase(done_.begin(), done_.begin() + n);
  return n;
}

void SockBackend::KernelStats(PacketStats* s) {
  s->rxDropped = drops_;
  s->fillRingEmpty = starvations_;
  s->rxTruncated = truncated_;
  s->txErrors += txErrors_;
  s->txInvalidDescs = txInvalid_;
  txErrors_ = 0;
}

}  // namespace rw
