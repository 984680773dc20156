// Capability probe: the system calls that tell whether each kernel facility
// ringwire uses works here. Plain C++ (no Node), so it can be unit-tested and
// reused by the bench programs. Every field is a result, never a throw:
// 0 / positive for success, -errno for the failure the kernel gave.
#pragma once

#include <cerrno>

#include <cstdint>
#include <string>

namespace rw {

struct UringProbe {
  int setup = 0;             // io_uring_queue_init result
  int setupSingleIssuer = 0;  // SINGLE_ISSUER|DEFER_TASKRUN ring setup result
  uint32_t features = 0;     // io_uring_params.features
  bool opRecvmsg = false, opSend = false, opSendZc = false,
       opSendmsgZc = false, opAccept = false, opFutexWait = false,
       opFutexWake = false, opConnect = false, opShutdown = false,
       opAsyncCancel = false, opLinkTimeout = false;
  int bufRing = 0;           // register_buf_ring result
  int multishotRecv = 0;     // >0: a real multishot recv delivered with F_MORE
  int multishotAccept = 0;   // >0: a real multishot accept delivered with F_MORE
  bool bundles = false;      // IORING_FEAT_RECVSEND_BUNDLE
  int taskrunFlag = 0;       // COOP_TASKRUN|TASKRUN_FLAG ring setup result
  int napiRegister = 0;      // IORING_REGISTER_NAPI (6.9+) result
};

// The kernel's own socket busy polling (net/core/dev.c napi_busy_loop),
// probed with setsockopt on a UDP socket: 0 or -errno.
struct BusyPollProbe {
  int soBusyPoll = 0;        // SO_BUSY_POLL = 50 µs
  int soPreferBusyPoll = 0;  // SO_PREFER_BUSY_POLL = 1 (5.11+)
  int soBusyPollBudget = 0;  // SO_BUSY_POLL_BUDGET = 8 (5.11+)
};

struct ProbeResult {
  UringProbe uring;
  BusyPollProbe busyPoll;
  int afXdpSocket = 0;   // socket(AF_XDP) result (fd closed again) or -errno
  int bpfProgLoad = 0;   // trivial XDP program load, or -errno
  uint64_t capEffective = 0;  // capget() effective set
  int capgetResult = 0;
  uint64_t memlockSoft = 0, memlockHard = 0;  // RLIM_INFINITY = UINT64_MAX
  uint64_t nofileSoft = 0, nofileHard = 0;
  int memfdHuge = 0;     // memfd_create(MFD_HUGETLB) result
  bool efviCompiled = false;
  int efviDriverOpen = -ENOSYS;  // ef_driver_open() result when compiled in (fd closed again)
};

void RunProbe(ProbeResult* out);

}  // namespace rw
