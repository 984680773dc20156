#include "packet_ring.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace rw {
namespace {

uint32_t Align64(uint32_t v) { return (v + 63u) & ~63u; }

uint32_t Log2(uint32_t v) {
  uint32_t s = 0;
  while ((1u << s) < v) s++;
  return s;
}

}  // namespace

int PacketRing::Create(const PacketRingConfig& cfg, std::unique_ptr<PacketRing>* out) {
  if (!cfg.frameSize || (cfg.frameSize & (cfg.frameSize - 1)) || !cfg.frameCount ||
      (cfg.frameCount & (cfg.frameCount - 1)) || cfg.rxFrames > cfg.frameCount || !cfg.batchSize)
    return -EINVAL;
  std::unique_ptr<PacketRing> r(new PacketRing());
  r->cfg_ = cfg;
  r->shift_ = Log2(cfg.frameSize);
  r->areaBytes_ = static_cast<uint64_t>(cfg.frameSize) * cfg.frameCount;
  if (r->areaBytes_ > (1ull << 31)) return -E2BIG;  // offsets travel as uint32

  PacketRingLayout& l = r->layout_;
  uint32_t n = cfg.frameCount;
  l.ctrl = 0;
  l.stats = Align64(l.ctrl + kCtrlWords * 4);
  l.rxDescs = Align64(l.stats + static_cast<uint32_t>(sizeof(PacketStats)));
  l.release = Align64(l.rxDescs + cfg.batchSize * static_cast<uint32_t>(sizeof(PacketDesc)));
  l.stage = Align64(l.release + n * 4);
  l.reserved = Align64(l.stage + n * static_cast<uint32_t>(sizeof(PacketDesc)));
  l.owner = Align64(l.reserved + n * 4);
  l.total = Align64(l.owner + n);

  // Page-aligned, zeroed, and its own mapping: the UMEM must be page
  // aligned, and munmap detaches nothing else by accident.
  void* a = mmap(nullptr, r->areaBytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (a == MAP_FAILED) return -errno;
  r->area_ = static_cast<uint8_t*>(a);
  void* c = mmap(nullptr, l.total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (c == MAP_FAILED) return -errno;
  r->ctrlBlock_ = static_cast<uint8_t*>(c);
  r->freeTx_.reserve(n);
  r->fillPending_.reserve(n);
  r->scratch_.resize(n);
  r->txPending_.reserve(n);
  *out = std::move(r);
  return 0;
}

PacketRing::~PacketRing() { Close(); }

void PacketRing::Close() {
  // Backend first: once its sockets are closed the kernel no longer writes
  // into the area, so unmapping it is safe.
  if (backend_) backend_->Close();
  backend_.reset();
  if (area_) munmap(area_, areaBytes_);
  area_ = nullptr;
  if (ctrlBlock_) munmap(ctrlBlock_, layout_.total);
  ctrlBlock_ = nullptr;
}

void PacketRing::Attach(std::unique_ptr<PacketBackend> backend) {
  backend_ = std::move(backend);
  uint8_t* own = owner();
  for (uint32_t i = 0; i < cfg_.frameCount; i++) {
    if (i < cfg_.rxFrames) {
      own[i] = kFrameRxHome | kFrameKernel;
      fillPending_.push_back(static_cast<uint64_t>(i) << shift_);
    } else {
      own[i] = kFrameFree;
    }
  }
  // Frames are popped from the back: hand out low offsets first.
  for (uint32_t i = cfg_.frameCount; i > cfg_.rxFrames; i--) freeTx_.push_back(i - 1);
  FlushFill();
  ctrl()[kCtrlFreeTx] = freeTx();
}

void PacketRing::ToFill(uint32_t frame) {
  owner()[frame] = kFrameRxHome | kFrameKernel;
  fillPending_.push_back(static_cast<uint64_t>(frame) << shift_);
}

void PacketRing::FlushFill() {
  if (fillPending_.empty() || !backend_) return;
  uint32_t n = backend_->Fill(fillPending_.data(), static_cast<uint32_t>(fillPending_.size()));
  // The fill side holds every RX frame, so this is complete unless the
  // kernel is behind; the rest waits for the next call.
  fillPending_.erase(fillPending_.begin(), fillPending_.begin() + n);
  if (n && backend_->RxNeedsKick()) {
    stats()->rxKicks++;
    if (backend_->KickRx() < 0) stats()->kickErrors++;
  }
}

void PacketRing::Returned(uint32_t frame) {
  if (owner()[frame] & kFrameRxHome) {
    ToFill(frame);
  } else {
    owner()[frame] = kFrameFree;
    freeTx_.push_back(frame);
  }
}

uint32_t PacketRing::Reap() {
  if (!backend_) return 0;
  uint32_t total = 0;
  uint8_t* own = owner();
  for (;;) {
    uint32_t n = backend_->Complete(scratch_.data(), static_cast<uint32_t>(scratch_.size()));
    for (uint32_t i = 0; i < n; i++) {
      uint32_t f = FrameOf(scratch_[i]);
      if (f == UINT32_MAX || (own[f] & kFrameStateMask) != kFrameInFlight) {
        stats()->releaseErrors++;  // an address we never sent: ignore it
        continue;
      }
      inFlight_--;
      Returned(f);
    }
    total += n;
    if (n < scratch_.size()) break;
  }
  if (total) {
    stats()->txCompleted += total;
    FlushFill();
    ctrl()[kCtrlFreeTx] = freeTx();
  }
  return total;
}

uint32_t PacketRing::Receive() {
  uint32_t* c = ctrl();
  c[kCtrlRxCount] = 0;
  if (!backend_) return 0;
  Reap();
  auto* descs = reinterpret_cast<PacketDesc*>(ctrlBlock_ + layout_.rxDescs);
  uint32_t n = backend_->Receive(descs, cfg_.batchSize);
  uint8_t* own = owner();
  PacketStats* s = stats();
  uint32_t kept = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t f = FrameOf(descs[i].offset);
    if (f == UINT32_MAX || (own[f] & kFrameStateMask) != kFrameKernel ||
        (descs[i].offset & (cfg_.frameSize - 1)) + static_cast<uint64_t>(descs[i].length) > cfg_.frameSize) {
      s->rxInvalidDescs++;  // never hand JS a frame it does not own
      continue;
    }
    own[f] = kFrameRxHome | kFrameUser;
    s->rxBytes += descs[i].length;
    descs[kept++] = descs[i];
  }
  if (kept) {
    s->rxFrames += kept;
    s->rxBatches++;
  }
  c[kCtrlRxCount] = kept;
  return kept;
}

void PacketRing::DrainReleases() {
  uint32_t* c = ctrl();
  uint32_t count = c[kCtrlReleaseCount];
  if (count > cfg_.frameCount) count = cfg_.frameCount;
  const uint32_t* q = reinterpret_cast<const uint32_t*>(ctrlBlock_ + layout_.release);
  uint8_t* own = owner();
  for (uint32_t i = 0; i < count; i++) {
    uint32_t f = q[i];
    if (f >= cfg_.frameCount || (own[f] & kFrameStateMask) != kFrameReleased) {
      stats()->releaseErrors++;
      continue;
    }
    Returned(f);
  }
  c[kCtrlReleaseCount] = 0;
  FlushFill();
  c[kCtrlFreeTx] = freeTx();
}

uint32_t PacketRing::Reserve(uint32_t n) {
  uint32_t* c = ctrl();
  if (freeTx_.size() < n) Reap();
  uint32_t k = 0;
  auto* out = reinterpret_cast<uint32_t*>(ctrlBlock_ + layout_.reserved);
  uint8_t* own = owner();
  while (k < n && !freeTx_.empty()) {
    uint32_t f = freeTx_.back();
    freeTx_.pop_back();
    own[f] = kFrameReserved;
    out[k++] = f << shift_;
  }
  if (k < n) {
    stats()->txStalls++;
    txWanted_ = true;
  }
  c[kCtrlReserveCount] = k;
  c[kCtrlFreeTx] = freeTx();
  return k;
}

int PacketRing::SubmitStaged() {
  uint32_t* c = ctrl();
  uint32_t count = c[kCtrlStageCount];
  if (count > cfg_.frameCount) count = cfg_.frameCount;
  c[kCtrlStageCount] = 0;
  if (!backend_) return -EBADF;
  const auto* stage = reinterpret_cast<const PacketDesc*>(ctrlBlock_ + layout_.stage);
  uint8_t* own = owner();
  PacketStats* s = stats();
  uint32_t queued = 0;
  for (uint32_t i = 0; i < count; i++) {
    PacketDesc d = stage[i];
    uint32_t f = FrameOf(d.offset);
    if (f == UINT32_MAX || (own[f] & kFrameStateMask) != kFrameStaged || d.length == 0 ||
        (d.offset & (cfg_.frameSize - 1)) + static_cast<uint64_t>(d.length) > cfg_.frameSize) {
      s->txErrors++;
      continue;
    }
    own[f] = static_cast<uint8_t>((own[f] & kFrameRxHome) | kFrameInFlight);
    inFlight_++;
    s->txFrames++;
    s->txBytes += d.length;
    txPending_.push_back(d);
    queued++;
  }
  if (!txPending_.empty()) {
    uint32_t n = backend_->Transmit(txPending_.data(), static_cast<uint32_t>(txPending_.size()));
    txPending_.erase(txPending_.begin(), txPending_.begin() + n);
  }
  int r = Kick();
  return r < 0 && r != -EAGAIN ? r : static_cast<int>(queued);
}

int PacketRing::Kick() {
  if (!backend_) return -EBADF;
  if (!txPending_.empty()) {
    // The TX ring was full earlier: top it up before kicking.
    uint32_t n = backend_->Transmit(txPending_.data(), static_cast<uint32_t>(txPending_.size()));
    txPending_.erase(txPending_.begin(), txPending_.begin() + n);
  }
  if (!backend_->TxBacklog()) {
    Reap();
    return txPending_.empty() ? 0 : -EAGAIN;
  }
  stats()->txKicks++;
  int r = backend_->Kick();
  if (r < 0 && r != -EAGAIN) stats()->kickErrors++;
  Reap();
  if (r == 0 && !txPending_.empty()) r = -EAGAIN;
  return r;
}

void PacketRing::RefreshKernelStats() {
  if (!backend_) return;
  backend_->KernelStats(stats());
  stats()->statsRefreshes++;
}

}  // namespace rw
