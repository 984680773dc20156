// What Debian's liburing 2.3 lacks and ringwire needs: newer opcode, flag
// and feature constants, a buffer-ring setup helper and FUTEX_WAIT/WAKE
// preparation. Every constant is guarded so the header still compiles
// against a newer liburing that defines them; the helpers carry an rw_
// prefix so they never collide with liburing's own (io_uring_setup_buf_ring
// appeared in 2.4 with a different ownership model).
#pragma once

#include <liburing.h>
#include <sys/mman.h>
#include <cerrno>
#include <cstdint>
#include <cstring>

// Opcode numbers are kernel ABI (include/uapi/linux/io_uring.h); the enum in
// an older header simply stops earlier, so numeric values are safe to use.
namespace rw::uring_op {
constexpr uint8_t kSendZc = 47;       // 6.0
constexpr uint8_t kSendmsgZc = 48;    // 6.1
constexpr uint8_t kReadMultishot = 49;  // 6.7
constexpr uint8_t kFutexWait = 51;    // 6.7
constexpr uint8_t kFutexWake = 52;    // 6.7
constexpr uint8_t kBind = 56;         // 6.11
constexpr uint8_t kListen = 57;       // 6.11
}  // namespace rw::uring_op

#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif
#ifndef IORING_FEAT_REG_REG_RING
#define IORING_FEAT_REG_REG_RING (1U << 13)
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif
#ifndef IORING_RECVSEND_POLL_FIRST
#define IORING_RECVSEND_POLL_FIRST (1U << 0)
#endif
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)
#endif
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif
// futex2 flags (include/uapi/linux/futex.h, 6.7) used by FUTEX_WAIT/WAKE.
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif
#ifndef FUTEX2_PRIVATE
#define FUTEX2_PRIVATE 128
#endif
#ifndef FUTEX_BITSET_MATCH_ANY
#define FUTEX_BITSET_MATCH_ANY 0xffffffff
#endif

namespace rw {

// A provided-buffer ring whose memory we own: the ring of io_uring_buf
// descriptors is mmap'd page-aligned (the kernel requires it) and registered
// under group id `bgid`. Returns nullptr and sets *err to -errno on failure.
inline io_uring_buf_ring* SetupBufRing(io_uring* ring, unsigned entries,
                                       int bgid, int* err) {
  size_t bytes = entries * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    *err = -errno;
    return nullptr;
  }
  io_uring_buf_reg reg;
  memset(&reg, 0, sizeof(reg));
  reg.ring_addr = reinterpret_cast<uintptr_t>(mem);
  reg.ring_entries = entries;
  reg.bgid = static_cast<uint16_t>(bgid);
  int ret = io_uring_register_buf_ring(ring, &reg, 0);
  if (ret < 0) {
    munmap(mem, bytes);
    *err = ret;
    return nullptr;
  }
  auto* br = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br);
  *err = 0;
  return br;
}

inline void FreeBufRing(io_uring* ring, io_uring_buf_ring* br,
                        unsigned entries, int bgid) {
  if (!br) return;
  io_uring_unregister_buf_ring(ring, bgid);
  munmap(br, entries * sizeof(io_uring_buf));
}

// FUTEX_WAIT: futex flags travel in sqe->fd, the expected value in addr2 and
// the bitset in addr3; every other field must be zero (io_uring/futex.c).
inline void PrepFutexWait(io_uring_sqe* sqe, const uint32_t* futex,
                          uint64_t expected, uint32_t futex2_flags) {
  memset(sqe, 0, sizeof(*sqe));
  sqe->opcode = uring_op::kFutexWait;
  sqe->fd = static_cast<int32_t>(futex2_flags);
  sqe->addr = reinterpret_cast<uintptr_t>(futex);
  sqe->off = expected;  // union with addr2
  sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
}

inline void PrepFutexWake(io_uring_sqe* sqe, const uint32_t* futex,
                          uint64_t count, uint32_t futex2_flags) {
  memset(sqe, 0, sizeof(*sqe));
  sqe->opcode = uring_op::kFutexWake;
  sqe->fd = static_cast<int32_t>(futex2_flags);
  sqe->addr = reinterpret_cast<uintptr_t>(futex);
  sqe->off = count;
  sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
}

// Receive/send bundles (6.10): one CQE covers several provided buffers.
inline void PrepRecvBundle(io_uring_sqe* sqe, int fd, int bgid) {
  io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = static_cast<uint16_t>(bgid);
  sqe->ioprio |= IORING_RECVSEND_BUNDLE;
}

}  // namespace rw
