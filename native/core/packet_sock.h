// The software packet-ring backend: a non-blocking UDP socket (dual-stack
// when IPv6 is available) bound to the filter port on the interface
// (SO_BINDTODEVICE), read with recvmmsg straight into the ring's frames and
// written with sendmmsg from them. It serves machines without AF_XDP or
// privileges with the same frame layout:
//   - a received datagram's payload lands in its frame and an Ethernet +
//     IPv4/IPv6 + UDP header is synthesized in front of it, so the frame
//     starts at base + 256 (IPv6) or base + 276 (IPv4) and parses exactly
//     like an AF_XDP frame. Synthesized fields: destination MAC = the
//     interface's, source MAC = 00:00:00:00:00:00, TTL/hop limit 64, IPv4
//     ID 0 with DF, IPv4 header checksum computed, UDP checksum 0 for IPv4
//     (allowed: "none"; the kernel already verified it) and computed for
//     IPv6 (where it is mandatory).
//   - a transmitted frame is parsed (Ethernet/IPv4|IPv6/UDP); its
//     destination address, port and payload are sent. The source address
//     and port are the socket's (the filter port); MACs, TTL and the
//     frame's checksums are the kernel's business.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "packet_backend.h"

namespace rw {

struct SockBackendConfig {
  std::string ifname;
  uint16_t port = 0;
  uint8_t mac[6] = {0, 0, 0, 0, 0, 0};
  uint8_t* area = nullptr;
  uint32_t frameSize = 2048;
  uint32_t batchSize = 64;
  uint32_t busyPollUs = 0;
};

class SockBackend final : public PacketBackend {
 public:
  // Where received frames are laid out inside their frame.
  static constexpr uint32_t kHeadroom = 256;          // as AF_XDP's XDP_PACKET_HEADROOM
  static constexpr uint32_t kMaxHeaders = 14 + 40 + 8;  // Ethernet + IPv6 + UDP

  SockBackend() = default;
  ~SockBackend() override { Close(); }

  int Open(const SockBackendConfig& cfg, OpenError* err);
  bool dualStack() const { return v6_; }

  int fd() const override { return fd_; }
  uint32_t Fill(const uint64_t* addrs, uint32_t n) override;
  uint32_t Receive(PacketDesc* out, uint32_t max) override;
  uint32_t Transmit(const PacketDesc* descs, uint32_t n) override;
  int Kick() override;
  uint32_t Complete(uint64_t* out, uint32_t max) override;
  bool TxBacklog() const override { return txHead_ < txq_.size(); }
  bool RxStarved() const override { return starved_ && free_.empty(); }
  void KernelStats(PacketStats* s) override;
  void Close() override;

 private:
  uint32_t Synthesize(uint8_t* payload, uint32_t len, const sockaddr_in6& from,
                      const in6_addr& to, bool v4);
  bool ParseTx(const PacketDesc& d, sockaddr_in6* to, iovec* iov);

  int fd_ = -1;
  bool v6_ = true;  // dual-stack AF_INET6 socket; else AF_INET only
  SockBackendConfig cfg_;
  std::vector<uint64_t> free_;      // frame bases to receive into
  std::vector<PacketDesc> txq_;     // queued for sendmmsg
  size_t txHead_ = 0;
  std::vector<uint64_t> done_;      // sent (or rejected) frames
  bool starved_ = false;
  // recvmmsg / sendmmsg scratch, batchSize entries each.
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<sockaddr_in6> names_;
  std::vector<uint8_t> cmsgs_;
  std::vector<uint64_t> rxFrames_;
  uint32_t drops_ = 0;
  double starvations_ = 0, truncated_ = 0, txErrors_ = 0, txInvalid_ = 0;
};

}  // namespace rw
