// The XDP side of a packet ring, through the raw bpf() syscall (libbpf's
// static archive is not PIC and cannot go into the .node):
//   - a program assembled here from BPF instructions that parses
//     Ethernet -> IPv4 (any IHL, unfragmented) or IPv6 (UDP as the first
//     next header) -> UDP, and redirects a datagram to XSKMAP[rx_queue_index]
//     only when its destination port is the one configured for that queue;
//     everything else (ARP, ICMP, NDP, other ports, other queues) is XDP_PASS;
//   - an ARRAY map queue -> port (so rings on several queues of one
//     interface share one program) and the XSKMAP queue -> socket;
//   - attachment through a BPF link (BPF_LINK_CREATE, BPF_XDP): the link
//     dies with its last fd, so a crashed process leaves nothing attached.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "packet_backend.h"

namespace rw {

enum class XdpAttachMode { kAuto, kNative, kSkb };

// bpf(2) without libbpf; returns the result or -errno.
long BpfCall(int cmd, bpf_attr* attr);
// BPF_PROG_LOAD, retried while the verifier gives up with EAGAIN (a signal
// pending for the thread); -errno on failure.
long BpfProgLoad(bpf_attr* attr);

// Loads an XDP program; returns its fd or -errno, and on failure the
// verifier's log (tail kept if long) in *log.
int BpfLoadXdp(const bpf_insn* insns, uint32_t count, std::string* log);

// The redirect program described above, referring to the two maps by fd.
std::vector<bpf_insn> BuildUdpRedirect(int cfgMapFd, int xskMapFd);

// One program + maps + link on one interface. Shared (shared_ptr) by the
// rings of one JS thread that use different queues of the same interface;
// detached when the last of them closes. Map updates are syscalls, safe
// from the thread pool.
class XdpAttachment {
 public:
  XdpAttachment(const XdpAttachment&) = delete;
  XdpAttachment& operator=(const XdpAttachment&) = delete;
  ~XdpAttachment();

  static int Create(int ifindex, uint32_t queues, XdpAttachMode mode,
                    std::shared_ptr<XdpAttachment>* out, OpenError* err);

  // Steers `port` on `queue` to the AF_XDP socket `xskFd`.
  int AddQueue(uint32_t queue, int xskFd, uint16_t port, OpenError* err);
  void RemoveQueue(uint32_t queue);

  int ifindex() const { return ifindex_; }
  uint32_t queues() const { return queues_; }
  bool native() const { return native_; }
  // Why this mode (e.g. the error that made 'auto' fall back to SKB).
  const std::string& modeNote() const { return note_; }

 private:
  XdpAttachment() = default;
  int ifindex_ = 0;
  uint32_t queues_ = 0;
  int progFd_ = -1, xskMapFd_ = -1, cfgMapFd_ = -1, linkFd_ = -1;
  bool native_ = false;
  std::string note_;
};

}  // namespace rw
