// ef_vi backend for packet rings (Solarflare/Xilinx/AMD NICs with Onload's
// ef_vi library). Compiled only when CMake finds Onload's headers and
// library (-DRINGWIRE_EFVI_ROOT=<prefix>, which defines RINGWIRE_HAVE_EFVI);
// the default build never includes this file's body. It follows the ef_vi
// sequence: open the driver, allocate a protection domain and a virtual
// interface, register the frame area (memreg), add a UDP filter, post RX
// buffers, then poll the event queue (primed so the driver handle becomes
// readable for libuv when an event arrives).
//
// Two receive models, chosen per VI: EF10/EF100 DMA into frames we post
// (ef_vi_receive_init, pushed in groups of 8); X3/X4 (EFCT, EF10CT) receive
// into kernel-managed buffers and report RX_REF events whose packet must be
// copied out and released (etherfabric/efct_vi.h).
//
// Status: compiled with -Werror against Onload's public headers and libciul
// (see README "ef_vi and TCPDirect"); never run on a Solarflare/X3 NIC, and
// not part of CI (no Onload SDK there).
#pragma once

#ifdef RINGWIRE_HAVE_EFVI

// Dependency order (pd before memreg and vi), not alphabetical.
#include <etherfabric/ef_vi.h>
#include <etherfabric/pd.h>
#include <etherfabric/memreg.h>
#include <etherfabric/vi.h>
#include <etherfabric/efct_vi.h>

#include <cstdint>
#include <vector>

#include "../core/packet_backend.h"

namespace rw {

struct EfviConfig {
  int ifindex = 0;
  uint32_t localIp = 0;  // network order: the filter's local address
  uint16_t port = 0;
  uint8_t* area = nullptr;
  uint64_t areaBytes = 0;
  uint32_t frameSize = 2048;
  uint32_t frameCount = 0;
};

class EfviBackend final : public PacketBackend {
 public:
  static constexpr uint32_t kHeadroom = 256;  // same frame layout as AF_XDP

  EfviBackend() = default;
  ~EfviBackend() override { Close(); }
  int Open(const EfviConfig& cfg, OpenError* err);

  int fd() const override { return dh_; }
  uint32_t Fill(const uint64_t* addrs, uint32_t n) override;
  uint32_t Receive(PacketDesc* out, uint32_t max) override;
  uint32_t Transmit(const PacketDesc* descs, uint32_t n) override;
  // ef_vi_transmit rings the doorbell itself; after a NIC reset the VI is dead.
  int Kick() override { return dead_; }
  uint32_t Complete(uint64_t* out, uint32_t max) override;
  bool TxBacklog() const override { return false; }
  void KernelStats(PacketStats* s) override;
  void Close() override;

 private:
  void PollEvents(uint32_t maxRx);
  void PrimeBeforeSleep();
  void RxRef(uint32_t pktId, uint32_t len, bool discard);

  EfviConfig cfg_;
  ef_driver_handle dh_ = -1;
  ef_pd pd_{};
  ef_vi vi_{};
  ef_memreg mr_{};
  ef_filter_cookie cookie_{};
  bool pd_ok_ = false, vi_ok_ = false, mr_ok_ = false, filter_ok_ = false;
  int prefix_ = 0;
  bool efct_ = false;    // RX_REF model: frames stay with us until a packet is copied in
  bool primed_ = false;  // a prime is armed and no event was consumed since
  int dead_ = 0;         // -errno once the VI is unusable (NIC reset)
  std::vector<ef_addr> dma_;          // per frame: DMA address of its base
  std::vector<uint64_t> efctFree_;    // EFCT: frames to copy RX_REF packets into
  std::vector<PacketDesc> rxReady_;   // RX events seen while reaping TX
  std::vector<uint64_t> done_;        // completed TX frame bases
  std::vector<uint64_t> refill_;      // frames the NIC gave back unused
  double discards_ = 0;
  double noDesc_ = 0;      // RX_NO_DESC_TRUNC: a packet arrived with no descriptor posted
  double overflows_ = 0;   // OFLOW: the event queue overflowed and events were lost
  double kickErrors_ = 0, kickErrorsReported_ = 0;  // failed primes + NIC resets
};

// ef_driver_open() then close: 0 when /dev/sfc_char opens, else -errno.
int EfviProbeDriver();

}  // namespace rw

#endif  // RINGWIRE_HAVE_EFVI
