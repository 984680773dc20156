#include "efvi.h"

#ifdef RINGWIRE_HAVE_EFVI

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace rw {

namespace {
// EF10 takes RX descriptors in groups of 8: ef_vi_receive_push() leaves a
// remainder unseen by the NIC (ef_vi.h, ef_vi_receive_push), so we post
// only whole groups and keep the rest for the next fill.
constexpr uint32_t kRxGroup = 8;
}  // namespace

int EfviProbeDriver() {
  ef_driver_handle dh;
  int r = ef_driver_open(&dh);  // 0 or -errno (lib/ciul/open.c)
  if (r < 0) return r;
  ef_driver_close(dh);
  return 0;
}

int EfviBackend::Open(const EfviConfig& cfg, OpenError* err) {
  cfg_ = cfg;
  int r = ef_driver_open(&dh_);
  if (r < 0) {
    dh_ = -1;
    return err->Set(r, "ef_driver_open", r == -ENOENT ? "no /dev/sfc_char: the Onload/sfc driver is not loaded" : "");
  }
  if ((r = ef_pd_alloc(&pd_, dh_, cfg.ifindex, EF_PD_DEFAULT)) < 0) return err->Set(r, "ef_pd_alloc");
  pd_ok_ = true;
  // -1: the driver's default event/RX/TX queue capacities; the VI has its
  // own event queue.
  if ((r = ef_vi_alloc_from_pd(&vi_, dh_, &pd_, dh_, -1, -1, -1, nullptr, -1, EF_VI_FLAGS_DEFAULT)) < 0)
    return err->Set(r, "ef_vi_alloc_from_pd");
  vi_ok_ = true;
  // X3 (EFCT) and X4 express (EF10CT) receive into kernel-owned buffers:
  // ef_vi_receive_init() returns -ENOSYS there and packets come as RX_REF.
  efct_ = vi_.nic_type.arch == EF_VI_ARCH_EFCT || vi_.nic_type.arch == EF_VI_ARCH_EF10CT;
  if ((r = ef_memreg_alloc(&mr_, dh_, &pd_, dh_, cfg.area, cfg.areaBytes)) < 0)
    return err->Set(r, "ef_memreg_alloc");
  mr_ok_ = true;
  dma_.resize(cfg.frameCount);
  for (uint32_t i = 0; i < cfg.frameCount; i++)
    dma_[i] = ef_memreg_dma_addr(&mr_, static_cast<size_t>(i) * cfg.frameSize);
  ef_filter_spec fs;
  // Some adapters (X3/X4) only raise the wake-up that ef_vi_prime() waits
  // for when the filter asks for it (vi.h, EF_FILTER_FLAG_REQUEST_WAKEUPS;
  // CMake defines RINGWIRE_EFVI_REQUEST_WAKEUPS when the headers have it).
#ifdef RINGWIRE_EFVI_REQUEST_WAKEUPS
  ef_filter_spec_init(&fs, EF_FILTER_FLAG_REQUEST_WAKEUPS);
#else
  ef_filter_spec_init(&fs, EF_FILTER_FLAG_NONE);
#endif
  if ((r = ef_filter_spec_set_ip4_local(&fs, IPPROTO_UDP, cfg.localIp, htons(cfg.port))) < 0)
    return err->Set(r, "ef_filter_spec_set_ip4_local");
  if ((r = ef_vi_filter_add(&vi_, dh_, &fs, &cookie_)) < 0) return err->Set(r, "ef_vi_filter_add");
  filter_ok_ = true;
  prefix_ = ef_vi_receive_prefix_len(&vi_);
  PrimeBeforeSleep();
  return 0;
}

void EfviBackend::PrimeBeforeSleep() {
  // Makes the driver handle readable when the next event arrives, so the
  // ring can sleep in libuv instead of spinning on the event queue. An
  // ioctl: done only when the ring is about to sleep and no prime is armed.
  if (primed_ || dead_) return;
  int r = ef_vi_prime(&vi_, dh_, ef_eventq_current(&vi_));
  if (r < 0) {
    // Not armed: the ring's 200 ms timer still reaps TX, and the next
    // Receive() tries again; the failure is counted as a kick error.
    kickErrors_++;
    return;
  }
  primed_ = true;
}

uint32_t EfviBackend::Fill(const uint64_t* addrs, uint32_t n) {
  if (dead_) return 0;
  if (efct_) {
    // Nothing to post: the frames wait here for RX_REF packets.
    efctFree_.insert(efctFree_.end(), addrs, addrs + n);
    return n;
  }
  int space = ef_vi_receive_capacity(&vi_) - ef_vi_receive_fill_level(&vi_);
  uint32_t k = std::min<uint32_t>(n, space > 0 ? static_cast<uint32_t>(space) : 0);
  k -= k % kRxGroup;
  for (uint32_t i = 0; i < k; i++) {
    uint32_t frame = static_cast<uint32_t>(addrs[i] / cfg_.frameSize);
    int r = ef_vi_receive_init(&vi_, dma_[frame] + kHeadroom, static_cast<ef_request_id>(frame));
    if (r == -ENOSYS && i == 0) {
      // An architecture we did not recognise that receives by reference.
      efct_ = true;
      return Fill(addrs, n);
    }
    if (r < 0) {
      k = i;  // ring full after all: the rest waits for the next fill
      break;
    }
  }
  if (k) ef_vi_receive_push(&vi_);
  return k;
}

void EfviBackend::RxRef(uint32_t pktId, uint32_t len, bool discard) {
  // The packet lives in a kernel buffer shared with other queues: copy it
  // into one of our frames and release it at once (efct_vi.h).
  const void* pkt = efct_vi_rxpkt_get(&vi_, pktId);
  uint32_t room = cfg_.frameSize - kHeadroom;
  if (discard || efctFree_.empty() || len == 0 || len > room) {
    if (discard) discards_++;
    else noDesc_++;  // no frame to copy into (or larger than one)
    efct_vi_rxpkt_release(&vi_, pktId);
    return;
  }
  uint64_t base = efctFree_.back();
  efctFree_.pop_back();
  memcpy(cfg_.area + base + kHeadroom, pkt, len);
  efct_vi_rxpkt_release(&vi_, pktId);
  rxReady_.push_back(PacketDesc{static_cast<uint32_t>(base + kHeadroom), len});
}

void EfviBackend::PollEvents(uint32_t maxRx) {
  if (dead_) return;
  ef_event evs[32];
  ef_request_id ids[EF_VI_TRANSMIT_BATCH];
  // Bounded: a few event-queue passes per call.
  for (int pass = 0; pass < 8 && rxReady_.size() < maxRx; pass++) {
    int n = ef_eventq_poll(&vi_, evs, 32);
    if (n <= 0) break;
    primed_ = false;  // the armed wake-up has fired (or will, spuriously)
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
        case EF_EVENT_TYPE_RX_REF:
          RxRef(evs[i].rx_ref.pkt_id, evs[i].rx_ref.len, false);
          break;
        case EF_EVENT_TYPE_RX_REF_DISCARD:
          RxRef(evs[i].rx_ref_discard.pkt_id, evs[i].rx_ref_discard.len, true);
          break;
        case EF_EVENT_TYPE_RX_NO_DESC_TRUNC:
          // A packet found no posted descriptor and was cut: the fill side
          // is behind (reported as fillRingEmpty).
          noDesc_++;
          break;
        case EF_EVENT_TYPE_TX:
        case EF_EVENT_TYPE_TX_ERROR: {
          int k = ef_vi_transmit_unbundle(&vi_, &evs[i], ids);
          for (int j = 0; j < k; j++) done_.push_back(static_cast<uint64_t>(ids[j]) * cfg_.frameSize);
          break;
        }
        case EF_EVENT_TYPE_OFLOW:
          // Events were lost: their RX frames and TX completions cannot be
          // recovered; counted (rxRingFull) so the user sees why frames went.
          overflows_++;
          break;
        case EF_EVENT_TYPE_RESET:
          // The NIC was reset and this VI is no longer valid (efsink.c
          // treats it as fatal): stop touching it; Kick() reports it.
          dead_ = -ENETRESET;
          kickErrors_++;
          return;
        default:
          discards_++;  // an event type we never asked for
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
  // Fewer than asked: the ring stops draining and sleeps in libuv now.
  if (n < max && rxReady_.empty()) PrimeBeforeSleep();
  return n;
}

uint32_t EfviBackend::Transmit(const PacketDesc* descs, uint32_t n) {
  if (dead_) return 0;
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

void EfviBackend::KernelStats(PacketStats* s) {
  s->rxDropped = discards_;
  s->fillRingEmpty = noDesc_;
  s->rxRingFull = overflows_;
  // kickErrors is the ring's counter: add only the prime failures (and a
  // NIC reset) not yet reported.
  s->kickErrors += kickErrors_ - kickErrorsReported_;
  kickErrorsReported_ = kickErrors_;
}

void EfviBackend::Close() {
  // Reverse order of Open. After a NIC reset the VI is gone; the frees
  // still release our handles on it.
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
