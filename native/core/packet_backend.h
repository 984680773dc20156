// What every packet-ring backend (AF_XDP, the UDP-socket fallback, ef_vi)
// provides to the frame-ownership layer in packet_ring.h. A backend moves
// frame addresses between user space and the kernel/NIC; it never decides
// who owns a frame. Plain C++ (no Node), -errno on failure.
#pragma once

#include <cstdint>
#include <string>

namespace rw {

// A frame handed to or from JS: byte offset into the frame area (where the
// Ethernet header starts) and length. Two uint32 words, read in place by
// lib/packet-ring.ts.
struct PacketDesc {
  uint32_t offset;
  uint32_t length;
};
static_assert(sizeof(PacketDesc) == 8, "PacketDesc is two uint32 words for JS");

// Counters JS reads through a Float64Array (names in lib/packet-ring-stats.ts,
// same order; the count is exported and checked by a test).
// One list makes the struct's fields and the names the binding exports
// (packetRingLayout.statNames), as for UdpStats (udp.h).
#define RW_PACKET_STATS(X)                                                                       \
  X(rxFrames) X(rxBytes) X(rxBatches) X(txFrames) X(txBytes) X(txCompleted)                      \
  X(wakeups) X(rxKicks) X(txKicks) X(kickErrors)                                                 \
  X(fillRingEmpty)  /* kernel: fill ring had no frame (XDP_STATISTICS) / no free frame (socket) */ \
  X(rxDropped)      /* kernel drops: XDP_STATISTICS rx_dropped / SO_RXQ_OVFL */                   \
  X(rxRingFull)     /* kernel: rx ring full */                                                    \
  X(rxInvalidDescs) X(txInvalidDescs)                                                            \
  X(txRingEmpty)    /* kernel: kicked with nothing to send */                                     \
  X(rxTruncated)    /* socket backend: datagram longer than a frame */                           \
  X(txErrors)       /* socket backend: sendmmsg rejected a datagram */                           \
  X(txStalls)       /* reserve() found fewer free frames than asked */                           \
  X(releaseErrors)  /* native found a queued release in the wrong state */                       \
  X(statsRefreshes)                                                                              \
  X(holdoffs)       /* times the ring switched from per-arrival wakes to a coalescing timer */
struct PacketStats {
#define RW_STAT_FIELD(name) double name;
  RW_PACKET_STATS(RW_STAT_FIELD)
#undef RW_STAT_FIELD
};
static_assert(sizeof(PacketStats) % sizeof(double) == 0, "doubles only");

// Failure of a multi-step open: which call failed and any detail the
// kernel gave (e.g. the verifier log).
struct OpenError {
  int err = 0;
  std::string syscall;
  std::string detail;
  int Set(int e, const char* sc, std::string d = std::string()) {
    err = e;
    syscall = sc;
    detail = std::move(d);
    return e;
  }
};

class PacketBackend {
 public:
  virtual ~PacketBackend() = default;
  // The descriptor libuv polls: readable = frames to receive.
  virtual int fd() const = 0;
  // Frames (base offsets) the backend may receive into. Returns how many it
  // took; the fill side is sized so that every RX frame fits at once.
  virtual uint32_t Fill(const uint64_t* addrs, uint32_t n) = 0;
  // Up to `max` received frames; `offset` is where the frame starts.
  virtual uint32_t Receive(PacketDesc* out, uint32_t max) = 0;
  // Queues frames for transmission; returns how many were queued.
  virtual uint32_t Transmit(const PacketDesc* descs, uint32_t n) = 0;
  // Pushes queued frames to the wire. 0 when nothing is left queued,
  // -EAGAIN when the kernel wants another kick later, other -errno on error.
  virtual int Kick() = 0;
  // Addresses of transmitted frames the kernel is done with.
  virtual uint32_t Complete(uint64_t* out, uint32_t max) = 0;
  // Frames queued but not yet taken by the kernel (a writable poll helps).
  virtual bool TxBacklog() const = 0;
  // True when reception stopped for want of frames (the poll should stop
  // watching readability until frames come back, or it would spin).
  virtual bool RxStarved() const { return false; }
  // Frames wait in a receive ring we can read from memory (AF_XDP); false
  // when only a system call can tell (the socket backend).
  virtual bool RxPending() const { return false; }
  virtual bool RxInMemory() const { return false; }
  // The kernel asked to be woken for RX (need_wakeup on the fill ring).
  virtual bool RxNeedsKick() const { return false; }
  virtual int KickRx() { return 0; }
  // Copies kernel-side counters into *s.
  virtual void KernelStats(PacketStats* s) = 0;
  // Releases kernel objects; the frame area may be unmapped afterwards.
  virtual void Close() = 0;
};

}  // namespace rw
