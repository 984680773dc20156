#include "xdp.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef SO_BUSY_POLL
#define SO_BUSY_POLL 46
#endif
#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

namespace rw {
namespace {

int SetInt(int fd, int level, int name, int v) {
  return setsockopt(fd, level, name, &v, sizeof(v)) < 0 ? -errno : 0;
}

// sendto/recvfrom kicks: these errors only mean "the kernel is busy".
bool Transient(int e) { return e == -EAGAIN || e == -EBUSY || e == -ENOBUFS || e == -EINTR; }

}  // namespace

int XskSocket::MapRing(const xdp_ring_offset& off, uint32_t size, size_t descSize,
                       uint64_t pgoff, Mapping* m, XskRingMap* out) {
  m->len = off.desc + static_cast<size_t>(size) * descSize;
  void* p = mmap(nullptr, m->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_,
                 static_cast<off_t>(pgoff));
  if (p == MAP_FAILED) {
    m->len = 0;
    return -errno;
  }
  m->addr = p;
  auto* base = static_cast<uint8_t*>(p);
  out->producer = reinterpret_cast<uint32_t*>(base + off.producer);
  out->consumer = reinterpret_cast<uint32_t*>(base + off.consumer);
  out->flags = reinterpret_cast<uint32_t*>(base + off.flags);
  out->descs = base + off.desc;
  out->size = size;
  return 0;
}

int XskSocket::Open(const XskConfig& cfg, OpenError* err) {
  fd_ = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return err->Set(-errno, "socket(AF_XDP)");
  int r;
  xdp_umem_reg reg;
  memset(&reg, 0, sizeof(reg));
  reg.addr = reinterpret_cast<uintptr_t>(cfg.area);
  reg.len = cfg.areaBytes;
  reg.chunk_size = cfg.frameSize;
  reg.headroom = 0;
  if (setsockopt(fd_, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) < 0)
    return err->Set(-errno, "setsockopt(XDP_UMEM_REG)");
  if ((r = SetInt(fd_, SOL_XDP, XDP_UMEM_FILL_RING, static_cast<int>(cfg.fillSize))) < 0)
    return err->Set(r, "setsockopt(XDP_UMEM_FILL_RING)");
  if ((r = SetInt(fd_, SOL_XDP, XDP_UMEM_COMPLETION_RING, static_cast<int>(cfg.compSize))) < 0)
    return err->Set(r, "setsockopt(XDP_UMEM_COMPLETION_RING)");
  if ((r = SetInt(fd_, SOL_XDP, XDP_RX_RING, static_cast<int>(cfg.rxSize))) < 0)
    return err->Set(r, "setsockopt(XDP_RX_RING)");
  // No TX ring for a receive-only ring: in copy mode every poll() would
  // otherwise run the kernel's TX path.
  if (cfg.txSize && (r = SetInt(fd_, SOL_XDP, XDP_TX_RING, static_cast<int>(cfg.txSize))) < 0)
    return err->Set(r, "setsockopt(XDP_TX_RING)");

  xdp_mmap_offsets off;
  memset(&off, 0, sizeof(off));
  socklen_t len = sizeof(off);
  if (getsockopt(fd_, SOL_XDP, XDP_MMAP_OFFSETS, &off, &len) < 0)
    return err->Set(-errno, "getsockopt(XDP_MMAP_OFFSETS)");
  XskRingMap fm, cm, rm, tm;
  if ((r = MapRing(off.fr, cfg.fillSize, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING, &maps_[0], &fm)) < 0 ||
      (r = MapRing(off.cr, cfg.compSize, sizeof(uint64_t), XDP_UMEM_PGOFF_COMPLETION_RING, &maps_[1], &cm)) < 0 ||
      (r = MapRing(off.rx, cfg.rxSize, sizeof(xdp_desc), XDP_PGOFF_RX_RING, &maps_[2], &rm)) < 0 ||
      (cfg.txSize && (r = MapRing(off.tx, cfg.txSize, sizeof(xdp_desc), XDP_PGOFF_TX_RING, &maps_[3], &tm)) < 0))
    return err->Set(r, "mmap(AF_XDP ring)");
  fill.Init(fm);
  comp.Init(cm);
  rx.Init(rm);
  if (cfg.txSize) tx.Init(tm);

  if (cfg.busyPollUs) {
    // Busy polling happens in our recvfrom/sendto/poll on this socket; the
    // preference keeps the kernel from interrupting it with softirqs.
    if ((r = SetInt(fd_, SOL_SOCKET, SO_PREFER_BUSY_POLL, 1)) < 0)
      return err->Set(r, "setsockopt(SO_PREFER_BUSY_POLL)");
    if ((r = SetInt(fd_, SOL_SOCKET, SO_BUSY_POLL, static_cast<int>(cfg.busyPollUs))) < 0)
      return err->Set(r, "setsockopt(SO_BUSY_POLL)");
    if ((r = SetInt(fd_, SOL_SOCKET, SO_BUSY_POLL_BUDGET, static_cast<int>(cfg.busyPollBudget))) < 0)
      return err->Set(r, "setsockopt(SO_BUSY_POLL_BUDGET)");
  }

  sockaddr_xdp sa;
  memset(&sa, 0, sizeof(sa));
  sa.sxdp_family = AF_XDP;
  sa.sxdp_ifindex = static_cast<uint32_t>(cfg.ifindex);
  sa.sxdp_queue_id = cfg.queue;
  // No mode flag lets the kernel try zero-copy and fall back to copy.
  sa.sxdp_flags = cfg.mode == XskBindMode::kCopy ? XDP_COPY
                : cfg.mode == XskBindMode::kZeroCopy ? XDP_ZEROCOPY : 0;
  if (cfg.needWakeup) sa.sxdp_flags |= XDP_USE_NEED_WAKEUP;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0)
    return err->Set(-errno, "bind(AF_XDP)",
                    cfg.mode == XskBindMode::kZeroCopy ? "zero-copy mode" : std::string());
  needWakeup_ = cfg.needWakeup;
  xdp_options opts;
  memset(&opts, 0, sizeof(opts));
  len = sizeof(opts);
  if (getsockopt(fd_, SOL_XDP, XDP_OPTIONS, &opts, &len) == 0)
    zeroCopy_ = (opts.flags & XDP_OPTIONS_ZEROCOPY) != 0;
  return 0;
}

void XskSocket::Close() {
  // The socket first: the kernel stops touching the rings and the UMEM.
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  for (Mapping& m : maps_) {
    if (m.addr) munmap(m.addr, m.len);
    m = Mapping();
  }
}

int XskSocket::KickTx() {
  if (sendto(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) return 0;
  return -errno;
}

int XskSocket::KickRx() {
  if (recvfrom(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr) >= 0) return 0;
  int e = -errno;
  return e == -EAGAIN ? 0 : e;
}

int XskSocket::Statistics(xdp_statistics* out) {
  memset(out, 0, sizeof(*out));
  socklen_t len = sizeof(*out);
  // Older kernels return a shorter struct; the missing fields stay zero.
  return getsockopt(fd_, SOL_XDP, XDP_STATISTICS, out, &len) < 0 ? -errno : 0;
}

int XdpBackend::Open(const XskConfig& cfg, OpenError* err) {
  int r = xsk_.Open(cfg, err);
  if (r < 0) {
    xsk_.Close();
    return r;
  }
  queue_ = cfg.queue;
  busyPollUs_ = cfg.busyPollUs;
  hasTx_ = cfg.txSize != 0;
  open_ = true;
  return 0;
}

int XdpBackend::Steer(uint16_t port, OpenError* err) {
  int r = attachment_->AddQueue(queue_, xsk_.fd(), port, err);
  if (r < 0) return r;
  inMap_ = true;
  return 0;
}

uint32_t XdpBackend::Fill(const uint64_t* addrs, uint32_t n) {
  if (!open_) return 0;
  uint32_t free = xsk_.fill.Free(n);
  if (free < n) n = free;
  uint32_t idx = xsk_.fill.Claim(n);
  for (uint32_t i = 0; i < n; i++) xsk_.fill.Slot(idx + i) = addrs[i];
  xsk_.fill.Commit();
  return n;
}

bool XdpBackend::RxNeedsKick() const {
  // With busy polling, each kick is also what runs the driver's poll.
  return open_ && (busyPollUs_ || (xsk_.needWakeup() && xsk_.fill.NeedsWakeup()));
}

uint32_t XdpBackend::Receive(PacketDesc* out, uint32_t max) {
  if (!open_) return 0;
  uint32_t idx = 0;
  uint32_t n = xsk_.rx.Peek(max, &idx);
  for (uint32_t i = 0; i < n; i++) {
    const xdp_desc& d = xsk_.rx.Slot(idx + i);
    // Aligned mode: addr is the packet's own offset in the UMEM (the frame
    // base plus the kernel's headroom), below 2^32 by the UMEM size limit.
    out[i].offset = static_cast<uint32_t>(d.addr);
    out[i].length = d.len;
  }
  if (n) xsk_.rx.Release();
  return n;
}

uint32_t XdpBackend::Transmit(const PacketDesc* descs, uint32_t n) {
  if (!open_ || !hasTx_) return 0;
  uint32_t free = xsk_.tx.Free(n);
  if (free < n) n = free;
  uint32_t idx = xsk_.tx.Claim(n);
  for (uint32_t i = 0; i < n; i++) {
    xdp_desc& d = xsk_.tx.Slot(idx + i);
    d.addr = descs[i].offset;
    d.len = descs[i].length;
    d.options = 0;
  }
  xsk_.tx.Commit();
  return n;
}

int XdpBackend::Kick() {
  if (!open_) return -EBADF;
  if (!hasTx_) return 0;
  if (xsk_.tx.Outstanding() == 0) return 0;
  // Copy mode transmits inside sendto (a bounded batch per call); zero-copy
  // drivers only need the kick when they asked for it.
  if (!xsk_.needWakeup() || xsk_.tx.NeedsWakeup()) {
    int r = xsk_.KickTx();
    if (r < 0 && !Transient(r)) return r;
  }
  return xsk_.tx.Outstanding() ? -EAGAIN : 0;
}

uint32_t XdpBackend::Complete(uint64_t* out, uint32_t max) {
  if (!open_) return 0;
  uint32_t idx = 0;
  uint32_t n = xsk_.comp.Peek(max, &idx);
  for (uint32_t i = 0; i < n; i++) out[i] = xsk_.comp.Slot(idx + i);
  if (n) xsk_.comp.Release();
  return n;
}

void XdpBackend::KernelStats(PacketStats* s) {
  if (!open_) return;
  xdp_statistics st;
  if (xsk_.Statistics(&st) < 0) return;
  s->rxDropped = static_cast<double>(st.rx_dropped);
  s->rxInvalidDescs = static_cast<double>(st.rx_invalid_descs);
  s->txInvalidDescs = static_cast<double>(st.tx_invalid_descs);
  s->rxRingFull = static_cast<double>(st.rx_ring_full);
  s->fillRingEmpty = static_cast<double>(st.rx_fill_ring_empty_descs);
  s->txRingEmpty = static_cast<double>(st.tx_ring_empty_descs);
}

void XdpBackend::Close() {
  if (inMap_ && attachment_) attachment_->RemoveQueue(queue_);
  inMap_ = false;
  open_ = false;
  xsk_.Close();
  attachment_.reset();
}

}  // namespace rw
