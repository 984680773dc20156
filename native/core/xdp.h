// AF_XDP socket and the packet-ring backend built on it: UMEM registration
// (XDP_UMEM_REG) over the caller's frame area, fill/completion/rx/tx rings
// sized by setsockopt and mapped at the offsets XDP_MMAP_OFFSETS reports,
// bind to ifindex + queue (zero-copy, copy, or the kernel's choice;
// XDP_USE_NEED_WAKEUP optional), XDP_STATISTICS, busy-poll options.
#pragma once

#include <linux/if_xdp.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "bpf_prog.h"
#include "packet_backend.h"
#include "xdp_ring.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

namespace rw {

enum class XskBindMode { kAuto, kCopy, kZeroCopy };

struct XskConfig {
  int ifindex = 0;
  uint32_t queue = 0;
  uint8_t* area = nullptr;  // the UMEM: page aligned, frameSize * frames
  uint64_t areaBytes = 0;
  uint32_t frameSize = 2048;
  uint32_t fillSize = 0, compSize = 0, rxSize = 0;  // powers of two
  uint32_t txSize = 0;  // power of two, or 0: receive only (no TX ring)
  XskBindMode mode = XskBindMode::kAuto;
  bool needWakeup = true;
  uint32_t busyPollUs = 0;
  uint32_t busyPollBudget = 64;
};

class XskSocket {
 public:
  XskSocket() = default;
  XskSocket(const XskSocket&) = delete;
  XskSocket& operator=(const XskSocket&) = delete;
  ~XskSocket() { Close(); }

  int Open(const XskConfig& cfg, OpenError* err);
  void Close();

  int fd() const { return fd_; }
  bool zeroCopy() const { return zeroCopy_; }
  bool needWakeup() const { return needWakeup_; }
  // Asks the kernel to transmit (sendto) or to refill from the fill ring
  // (recvfrom). 0, or -errno; EAGAIN/EBUSY/ENOBUFS mean "try again later".
  int KickTx();
  int KickRx();
  int Statistics(xdp_statistics* out);

  XskProdRing<uint64_t> fill;
  XskConsRing<uint64_t> comp;
  XskConsRing<xdp_desc> rx;
  XskProdRing<xdp_desc> tx;

 private:
  struct Mapping {
    void* addr = nullptr;
    size_t len = 0;
  };
  int MapRing(const xdp_ring_offset& off, uint32_t size, size_t descSize, uint64_t pgoff,
              Mapping* m, XskRingMap* out);

  int fd_ = -1;
  bool zeroCopy_ = false;
  bool needWakeup_ = false;
  Mapping maps_[4];
};

// The AF_XDP backend: one socket bound to one queue, steered to by a
// (possibly shared) XdpAttachment.
class XdpBackend final : public PacketBackend {
 public:
  explicit XdpBackend(std::shared_ptr<XdpAttachment> attachment)
      : attachment_(std::move(attachment)) {}
  ~XdpBackend() override { Close(); }

  // The socket and its rings; then fill the fill ring, then Steer().
  int Open(const XskConfig& cfg, OpenError* err);
  // Points the XDP program at this socket for `port` on its queue.
  int Steer(uint16_t port, OpenError* err);
  const XskSocket& socket() const { return xsk_; }
  const std::shared_ptr<XdpAttachment>& attachment() const { return attachment_; }

  int fd() const override { return xsk_.fd(); }
  uint32_t Fill(const uint64_t* addrs, uint32_t n) override;
  uint32_t Receive(PacketDesc* out, uint32_t max) override;
  uint32_t Transmit(const PacketDesc* descs, uint32_t n) override;
  int Kick() override;
  uint32_t Complete(uint64_t* out, uint32_t max) override;
  bool TxBacklog() const override { return open_ && hasTx_ && xsk_.tx.Outstanding() > 0; }
  bool RxNeedsKick() const override;
  int KickRx() override { return xsk_.KickRx(); }
  bool RxPending() const override { return open_ && xsk_.rx.Pending(); }
  bool RxInMemory() const override { return true; }
  void KernelStats(PacketStats* s) override;
  void Close() override;

 private:
  XskSocket xsk_;
  std::shared_ptr<XdpAttachment> attachment_;
  uint32_t queue_ = 0;
  uint32_t busyPollUs_ = 0;
  bool open_ = false;
  bool hasTx_ = false;
  bool inMap_ = false;
};

}  // namespace rw
