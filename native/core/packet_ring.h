// A packet ring's frame area and the ownership of every frame in it, on top
// of any PacketBackend. The frame area (UMEM for AF_XDP) is split into RX
// frames (always either the kernel's or the user's) and TX frames (a free
// pool). JS and native share one control block:
//   ctrl     uint32 words (counts; see CtrlWord)
//   stats    PacketStats (Float64Array in JS)
//   rxDescs  PacketDesc[batchSize]     current receive batch (native writes)
//   release  uint32[frameCount]        frame indices JS released (JS appends)
//   stage    PacketDesc[frameCount]    frames JS queued to send (JS appends)
//   reserved uint32[frameCount]        offsets of the last reserve()
//   owner    uint8[frameCount]         FrameState | kFrameRxHome per frame
// JS validates a release or a send against `owner` and marks the frame
// Released / Staged; native re-validates when it drains the queues, so a
// bad entry is counted and skipped, never handed to the kernel. Only the JS
// thread touches the block (no atomics needed).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "packet_backend.h"

namespace rw {

enum FrameState : uint8_t {
  kFrameFree = 0,      // TX pool, reservable
  kFrameKernel = 1,    // RX: given to the backend (fill ring, rx ring)
  kFrameUser = 2,      // RX: delivered in a batch, owned by the user
  kFrameReleased = 3,  // user gave it back; in the release queue (JS writes)
  kFrameReserved = 4,  // TX: reserved by the user for writing
  kFrameStaged = 5,    // queued for transmission (JS writes)
  kFrameInFlight = 6,  // transmitting; the kernel owns it until completion
};
constexpr uint8_t kFrameRxHome = 0x80;  // returns to the fill side, not the TX pool
constexpr uint8_t kFrameStateMask = 0x7f;

enum CtrlWord : uint32_t {
  kCtrlRxCount = 0,      // descriptors in rxDescs (native)
  kCtrlReleaseCount = 1, // entries in the release queue (JS appends, native drains)
  kCtrlStageCount = 2,   // entries in the stage (JS appends, native drains)
  kCtrlReserveCount = 3, // offsets written by the last Reserve (native)
  kCtrlFreeTx = 4,       // TX pool frames free now (native)
  kCtrlWords = 16,
};

struct PacketRingConfig {
  uint32_t frameSize = 2048;   // power of two
  uint32_t frameCount = 4096;  // power of two
  uint32_t rxFrames = 2048;    // frames [0, rxFrames) start on the fill side
  uint32_t batchSize = 64;
};

// Byte offsets of the control block's sections.
struct PacketRingLayout {
  uint32_t ctrl, stats, rxDescs, release, stage, reserved, owner, total;
};

class PacketRing {
 public:
  PacketRing(const PacketRing&) = delete;
  PacketRing& operator=(const PacketRing&) = delete;
  ~PacketRing();

  // Maps the frame area and the control block.
  static int Create(const PacketRingConfig& cfg, std::unique_ptr<PacketRing>* out);

  uint8_t* area() const { return area_; }
  uint64_t areaBytes() const { return areaBytes_; }
  uint8_t* control() const { return ctrlBlock_; }
  const PacketRingLayout& layout() const { return layout_; }
  const PacketRingConfig& config() const { return cfg_; }
  PacketStats* stats() const { return reinterpret_cast<PacketStats*>(ctrlBlock_ + layout_.stats); }
  PacketBackend* backend() const { return backend_.get(); }

  // Takes the backend and hands it every RX frame.
  void Attach(std::unique_ptr<PacketBackend> backend);

  // One receive batch into rxDescs (completions reaped first). Returns the
  // count, also in ctrl[kCtrlRxCount].
  uint32_t Receive();
  // Returns released frames to the fill side / TX pool.
  void DrainReleases();
  // Up to n TX frames into `reserved`; returns how many.
  uint32_t Reserve(uint32_t n);
  // Queues staged frames and kicks. Returns frames queued or -errno.
  int SubmitStaged();
  // Pushes queued frames; 0 done, -EAGAIN more to do, other -errno.
  int Kick();
  // Completed transmissions back to their pools; returns how many.
  uint32_t Reap();
  void RefreshKernelStats();

  bool TxBacklog() const { return backend_ && backend_->TxBacklog(); }
  bool RxStarved() const { return backend_ && backend_->RxStarved(); }
  uint32_t freeTx() const { return static_cast<uint32_t>(freeTx_.size()); }
  uint32_t inFlight() const { return inFlight_; }
  // Someone asked for TX frames and did not get them all.
  bool txWanted() const { return txWanted_; }
  void ClearTxWanted() { txWanted_ = false; }

  // Closes the backend (the kernel lets go of the area), then unmaps.
  void Close();

 private:
  PacketRing() = default;
  uint32_t* ctrl() const { return reinterpret_cast<uint32_t*>(ctrlBlock_ + layout_.ctrl); }
  uint8_t* owner() const { return ctrlBlock_ + layout_.owner; }
  // Frame index of an offset, or UINT32_MAX when outside the area.
  uint32_t FrameOf(uint64_t offset) const {
    return offset < areaBytes_ ? static_cast<uint32_t>(offset >> shift_) : UINT32_MAX;
  }
  void ToFill(uint32_t frame);
  void FlushFill();
  void Returned(uint32_t frame);

  PacketRingConfig cfg_;
  PacketRingLayout layout_{};
  uint8_t* area_ = nullptr;
  uint64_t areaBytes_ = 0;
  uint8_t* ctrlBlock_ = nullptr;
  uint32_t shift_ = 0;
  std::unique_ptr<PacketBackend> backend_;
  std::vector<uint32_t> freeTx_;
  std::vector<uint64_t> fillPending_;
  std::vector<uint64_t> scratch_;
  std::vector<PacketDesc> txPending_;
  uint32_t inFlight_ = 0;
  bool txWanted_ = false;
};

}  // namespace rw
