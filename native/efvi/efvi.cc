#include "efvi.h"

#ifdef RINGWIRE_HAVE_EFVI

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>

namespace rw {

int EfviBackend::Open(const EfviConfig& cfg, OpenError* err) {
  cfg_ = cfg;
  int r = ef_driver_open(&dh_);
  if (r < 0) {
    dh_ = -1;
    return err->Set(r, "ef_driver_open");
  }
  if ((r = ef_pd_alloc(&pd_, dh_, cfg.ifindex, EF_PD_DEFAULT)) < 0) return err->Set(r, "ef_pd_alloc");
  pd_ok_ = true;
  // -1: the driver's default event/RX/TX queue capacities; the VI has its
  // own event queue.
  if ((r = ef_vi_alloc_from_pd(&vi_, dh_, &pd_, dh_, -1, -1, -1, nullptr, -1, EF_VI_FLAGS_DEFAULT)) < 0)
    return err->Set(r, "ef_vi_alloc_from_pd");
  vi_ok_ = true;
  if ((r = ef_memreg_alloc(&mr_, dh_, &pd_, dh_, cfg.area, cfg.areaBytes)) < 0)
    return err->Set(r, "ef_memreg_alloc");
  mr_ok_ = true;
  dma_.resize(cfg.frameCount);
  for (uint32_t i = 0; i < cfg.frameCount; i++)
    dma_[i] = ef_memreg_dma_addr(&mr_, static_cast<size_t>(i) * cfg.frameSize);
  ef_filter_spec fs;
  ef_filter_spec_init(&fs, EF_FILTER_FLAG_NONE);
  if ((r = ef_filter_spec_set_ip4_local(&fs, IPPROTO_UDP, cfg.localIp, htons(cfg.port))) < 0)
    return err->Set(r, "ef_filter_spec_set_ip4_local");
  if ((r = ef_vi_filter_add(&vi_, dh_, &fs, &cookie_)) < 0) return err->Set(r, "ef_vi_filter_add");
  filter_ok_ = true;
  prefix_ = ef_vi_receive_prefix_len(&vi_);
  Prime();
  return 0;
}

void EfviBackend::Prime() {
  // Makes the driver handle readable when the next event arrives, so the
  // ring can sleep in libuv instead of spinning on the event queue.
  ef_vi_prime(&vi_, dh_, ef_eventq_current(&vi_));
}

uint32_t EfviBackend::Fill(const uint64_t* addrs, uint32_t n) {
  int space = ef_vi_receive_capacity(&vi_) - ef_vi_receive_fill_level(&vi_);
  uint32_t k = 0;
  for (; k < n && static_cast<int>(k) < space; k++) {
    uint32_t frame = static_cast<uint32_t>(addrs[k] / cfg_.frameSize);
    ef_vi_receive_init(&vi_, dma_[frame] + kHeadroom, static_cast<ef_request_id>(frame));
  }
  if (k) ef_vi_receive_push(&vi_);
  return k;
}

void EfviBackend::PollEvents(uint32_t maxRx) {
  ef_event evs[32];
  ef_request_id ids[EF_VI_TRANSMIT_BATCH];
  // Bounded: a few event-queue passes per call.
  for (int pass = 0; pass < 8 && rxReady_.size() < maxRx; pass++) {
    int n = ef_eventq_poll(&vi_, evs, 32);
    if (n <= 0) break;
    for (int i = 0; i < n; i++) {
      switch (EF_EVENT_TYPE(evs[i])) {
        case EF_EVENT_TYPE_RX: {
          uint32_t frame = EF_EVENT_RX_RQ_ID(evs[i]);
          int bytes = EF_EVENT_RX_BYTES(evs[i]) - prefix_;
          uint64_t base = static_cast<uint64_t>(frame) * cfg_.frameSize;
          // One frame per packet: scattered (jumbo) packets are dropped.
          if (!EF_EVENT_RX_SOP(evs[i]) || EF_EVENT_RX_CONT(evs[i]) || bytes <= 0) {
            refill_.push_back(base);
            discards_++;
            break;
          }
          rxReady_.push_back(PacketDesc{static_cast<uint32_t>(base + kHeadroom + prefix_),
                                        static_cast<uint32_t>(bytes)});
          break;
        }
        case EF_EVENT_TYPE_RX_DISCARD:
          refill_.push_back(static_cast<uint64_t>(EF_EVENT_RX_DISCARD_RQ_ID(evs[i])) * cfg_.frameSize);
          discards_++;
          break;
        case EF_EVENT_TYPE_TX:
        case EF_EVENT_TYPE_TX_ERROR: {
          int k = ef_vi_transmit_unbundle(&vi_, &evs[i], ids);
          for (int j = 0; j < k; j++) done_.push_back(static_cast<uint64_t>(ids[j]) * cfg_.frameSize);
          break;
        }
        default:
          break;
      }
    }
  }
}

uint32_t EfviBackend::Receive(PacketDesc* out, uint32_t max) {
  PollEvents(max);
  uint32_t n = static_cast<uint32_t>(rxReady_.size() < max ? rxReady_.size() : max);
  for (uint32_t i = 0; i < n; i++) out[i] = rxReady_[i];
  rxReady_.erase(rxReady_.begin(), rxReady_.begin() + n);
  if (!refill_.empty()) {
    uint32_t k = Fill(refill_.data(), static_cast<uint32_t>(refill_.size()));
    refill_.erase(refill_.begin(), refill_.begin() + k);
  }
  Prime();
  return n;
}

uint32_t EfviBackend::Transmit(const PacketDesc* descs, uint32_t n) {
  uint32_t k = 0;
  for (; k < n; k++) {
    uint32_t frame = descs[k].offset / cfg_.frameSize;
    ef_addr dma = dma_[frame] + (descs[k].offset % cfg_.frameSize);
    if (ef_vi_transmit(&vi_, dma, static_cast<int>(descs[k].length), static_cast<ef_request_id>(frame)) < 0)
      break;  // TX queue full: the ring keeps the rest
  }
  return k;
}

uint32_t EfviBackend::Complete(uint64_t* out, uint32_t max) {
  PollEvents(UINT32_MAX);
  uint32_t n = static_cast<uint32_t>(done_.size() < max ? done_.size() : max);
  for (uint32_t i = 0; i < n; i++) out[i] = done_[i];
  done_.erase(done_.begin(), done_.begin() + n);
  return n;
}

void EfviBackend::KernelStats(PacketStats* s) { s->rxDropped = discards_; }

void EfviBackend::Close() {
  // Reverse order of Open.
  if (filter_ok_) ef_vi_filter_del(&vi_, dh_, &cookie_);
  if (mr_ok_) ef_memreg_free(&mr_, dh_);
  if (vi_ok_) ef_vi_free(&vi_, dh_);
  if (pd_ok_) ef_pd_free(&pd_, dh_);
  if (dh_ >= 0) ef_driver_close(dh_);
  filter_ok_ = mr_ok_ = vi_ok_ = pd_ok_ = false;
  dh_ = -1;
}

}  // namespace rw

#endif  // RINGWIRE_HAVE_EFVI
