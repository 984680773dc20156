#include "probe.h"

#include "bpf_prog.h"

#ifdef RINGWIRE_HAVE_EFVI
#include "../efvi/efvi.h"
#endif

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../compat/uring_compat.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

namespace rw {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// Waits up to 500 ms for one CQE whose user_data is `tag`; returns its
// flags in *flags and its result, or -ETIME.
int WaitTagged(io_uring* ring, uint64_t tag, unsigned* flags) {
  for (int i = 0; i < 8; i++) {
    __kernel_timespec ts{0, 500 * 1000 * 1000};
    io_uring_cqe* cqe = nullptr;
    int ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
    if (ret < 0) return ret;
    uint64_t ud = cqe->user_data;
    int res = cqe->res;
    *flags = cqe->flags;
    io_uring_cqe_seen(ring, cqe);
    if (ud == tag) return res;
  }
  return -ETIME;
}

// A real multishot receive: the strongest evidence the feature works (some
// kernels accept the flag and then fail the first completion).
int ProbeMultishotRecv(io_uring* ring) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
  Fd a{sv[0]}, b{sv[1]};
  int err = 0;
  constexpr unsigned kEntries = 4;
  constexpr int kBgid = 7;
  io_uring_buf_ring* br = SetupBufRing(ring, kEntries, kBgid, &err);
  if (!br) return err;
  static thread_local char bufs[kEntries][64];
  for (unsigned i = 0; i < kEntries; i++)
    io_uring_buf_ring_add(br, bufs[i], sizeof(bufs[i]), i,
                          io_uring_buf_ring_mask(kEntries), i);
  io_uring_buf_ring_advance(br, kEntries);
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  io_uring_prep_recv_multishot(sqe, a.fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBgid;
  sqe->user_data = 1;
  io_uring_submit(ring);
  int ret = static_cast<int>(write(b.fd, "x", 1));
  unsigned flags = 0;
  if (ret == 1) ret = WaitTagged(ring, 1, &flags);
  if (ret >= 0) ret = (flags & IORING_CQE_F_MORE) ? 1 : -EOPNOTSUPP;
  // Closing the peer ends the multishot; reap its final completion so the
  // buffer ring is idle before it is unregistered.
  close(b.fd);
  b.fd = -1;
  unsigned f2;
  WaitTagged(ring, 1, &f2);
  FreeBufRing(ring, br, kEntries, kBgid);
  return ret;
}

int ProbeMultishotAccept(io_uring* ring) {
  Fd l{socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (l.fd < 0) return -errno;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  if (bind(l.fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0 ||
      listen(l.fd, 4) < 0 ||
      getsockname(l.fd, reinterpret_cast<sockaddr*>(&sa), &len) < 0)
    return -errno;
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  io_uring_prep_multishot_accept(sqe, l.fd, nullptr, nullptr, SOCK_CLOEXEC);
  sqe->user_data = 2;
  io_uring_submit(ring);
  Fd c{socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (c.fd < 0) return -errno;
  if (connect(c.fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) return -errno;
  unsigned flags = 0;
  int ret = WaitTagged(ring, 2, &flags);
  if (ret >= 0) {
    close(ret);
    ret = (flags & IORING_CQE_F_MORE) ? 1 : -EOPNOTSUPP;
  }
  io_uring_sqe* cancel = io_uring_get_sqe(ring);
  io_uring_prep_cancel64(cancel, 2, 0);
  cancel->user_data = 3;
  io_uring_submit(ring);
  unsigned f2;
  WaitTagged(ring, 2, &f2);
  return ret;
}

// IORING_REGISTER_NAPI (Linux 6.9, io_uring/napi.c); liburing 2.3 has no
// wrapper, so the ABI struct and opcodes are spelled out (include/uapi/
// linux/io_uring.h: struct io_uring_napi, 16 bytes).
struct UringNapi {
  uint32_t busyPollTo;
  uint8_t preferBusyPoll;
  uint8_t pad[3];
  uint64_t resv;
};
static_assert(sizeof(UringNapi) == 16, "struct io_uring_napi");
constexpr unsigned kRegisterNapi = 27, kUnregisterNapi = 28;

int ProbeNapi(io_uring* ring) {
  UringNapi n{};
  n.busyPollTo = 50;
  long r = syscall(__NR_io_uring_register, ring->ring_fd, kRegisterNapi, &n, 1);
  if (r < 0) return -errno;
  syscall(__NR_io_uring_register, ring->ring_fd, kUnregisterNapi, &n, 1);
  return 0;
}

void ProbeBusyPoll(BusyPollProbe* b) {
  constexpr int kSoBusyPoll = 46, kSoPreferBusyPoll = 69, kSoBusyPollBudget = 70;
  Fd s{socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) {
    b->soBusyPoll = b->soPreferBusyPoll = b->soBusyPollBudget = -errno;
    return;
  }
  auto set = [&](int opt, int v) { return setsockopt(s.fd, SOL_SOCKET, opt, &v, sizeof(v)) < 0 ? -errno : 0; };
  b->soBusyPoll = set(kSoBusyPoll, 50);
  b->soPreferBusyPoll = set(kSoPreferBusyPoll, 1);
  b->soBusyPollBudget = set(kSoBusyPollBudget, 8);
}

void ProbeUring(UringProbe* u) {
  io_uring ring;
  io_uring_params p;
  memset(&p, 0, sizeof(p));
  // The loop's ring fd mode asks for the TASKRUN hint (uring_loop.h B1).
  p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  u->taskrunFlag = io_uring_queue_init_params(8, &ring, &p);
  if (u->taskrunFlag == 0) io_uring_queue_exit(&ring);
  memset(&p, 0, sizeof(p));
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  u->setupSingleIssuer = io_uring_queue_init_params(8, &ring, &p);
  if (u->setupSingleIssuer == 0) io_uring_queue_exit(&ring);

  memset(&p, 0, sizeof(p));
  u->setup = io_uring_queue_init_params(8, &ring, &p);
  if (u->setup < 0) return;
  u->features = p.features;
  u->bundles = (p.features & IORING_FEAT_RECVSEND_BUNDLE) != 0;
  io_uring_probe* pr = io_uring_get_probe_ring(&ring);
  if (pr) {
    auto has = [&](int op) { return io_uring_opcode_supported(pr, op) != 0; };
    u->opRecvmsg = has(IORING_OP_RECVMSG);
    u->opSend = has(IORING_OP_SEND);
    u->opSendZc = has(uring_op::kSendZc);
    u->opSendmsgZc = has(uring_op::kSendmsgZc);
    u->opAccept = has(IORING_OP_ACCEPT);
    u->opConnect = has(IORING_OP_CONNECT);
    u->opShutdown = has(IORING_OP_SHUTDOWN);
    u->opAsyncCancel = has(IORING_OP_ASYNC_CANCEL);
    u->opLinkTimeout = has(IORING_OP_LINK_TIMEOUT);
    u->opFutexWait = has(uring_op::kFutexWait);
    u->opFutexWake = has(uring_op::kFutexWake);
    io_uring_free_probe(pr);
  }
  {
    int err = 0;
    io_uring_buf_ring* br = SetupBufRing(&ring, 4, 1, &err);
    u->bufRing = err;
    FreeBufRing(&ring, br, 4, 1);
  }
  u->multishotRecv = u->bufRing == 0 ? ProbeMultishotRecv(&ring) : u->bufRing;
  u->multishotAccept = ProbeMultishotAccept(&ring);
  u->napiRegister = ProbeNapi(&ring);
  io_uring_queue_exit(&ring);
}

int ProbeBpf() {
  // r0 = XDP_PASS; exit. The smallest program the verifier accepts.
  bpf_insn insns[2];
  memset(insns, 0, sizeof(insns));
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
  insns[0].dst_reg = BPF_REG_0;
  insns[0].imm = XDP_PASS;
  insns[1].code = BPF_JMP | BPF_EXIT;
  bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_XDP;
  attr.insns = reinterpret_cast<uintptr_t>(insns);
  attr.insn_cnt = 2;
  static const char kLicense[] = "GPL";
  attr.license = reinterpret_cast<uintptr_t>(kLicense);
  long fd = BpfProgLoad(&attr);
  if (fd < 0) return static_cast<int>(fd);
  close(static_cast<int>(fd));
  return 0;
}

}  // namespace

void RunProbe(ProbeResult* out) {
  ProbeUring(&out->uring);
  ProbeBusyPoll(&out->busyPoll);

  int x = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  out->afXdpSocket = x < 0 ? -errno : 0;
  if (x >= 0) close(x);
  out->bpfProgLoad = ProbeBpf();

  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2];
  memset(data, 0, sizeof(data));
  out->capgetResult = syscall(SYS_capget, &hdr, data) < 0 ? -errno : 0;
  out->capEffective = static_cast<uint64_t>(data[0].effective) |
                      (static_cast<uint64_t>(data[1].effective) << 32);

  rlimit rl;
  if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
    out->memlockSoft = rl.rlim_cur;
    out->memlockHard = rl.rlim_max;
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    out->nofileSoft = rl.rlim_cur;
    out->nofileHard = rl.rlim_max;
  }
  int m = static_cast<int>(syscall(SYS_memfd_create, "rw-probe", MFD_HUGETLB | 1U /*CLOEXEC*/));
  out->memfdHuge = m < 0 ? -errno : 0;
  if (m >= 0) close(m);
#ifdef RINGWIRE_HAVE_EFVI
  out->efviCompiled = true;
  out->efviDriverOpen = EfviProbeDriver();
#endif
}

}  // namespace rw
