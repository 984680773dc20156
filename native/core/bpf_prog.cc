#include "bpf_prog.h"

#include <pthread.h>
#include <signal.h>

#include <arpa/inet.h>
#include <linux/if_link.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rw {
namespace {

// Helper ids from the kernel's BPF helper list (stable UAPI numbers).
constexpr int kHelperMapLookupElem = 1;   // BPF_FUNC_map_lookup_elem
constexpr int kHelperRedirectMap = 51;    // BPF_FUNC_redirect_map

// struct xdp_md field offsets (UAPI, fixed).
constexpr int16_t kMdData = 0, kMdDataEnd = 4, kMdRxQueue = 16;

// Frame offsets.
constexpr int kEthLen = 14;
constexpr int kIp4Len = 20, kIp6Len = 40, kUdpLen = 8;

// Bit 16 marks a configured queue, so a datagram to port 0 never matches
// an unconfigured (zero) map slot.
constexpr uint32_t kPortEnabled = 0x10000;

// A tiny assembler: emits instructions and resolves forward jumps to labels.
class Asm {
 public:
  void Emit(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i;
    memset(&i, 0, sizeof(i));
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    out_.push_back(i);
  }
  void MovReg(int dst, int src) { Emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
  void MovImm(int dst, int32_t imm) { Emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
  void AluImm(int op, int dst, int32_t imm) { Emit(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm); }
  void AluReg(int op, int dst, int src) { Emit(BPF_ALU64 | op | BPF_X, dst, src, 0, 0); }
  void Load(int size, int dst, int src, int16_t off) { Emit(BPF_LDX | size | BPF_MEM, dst, src, off, 0); }
  void Store(int size, int dst, int16_t off, int src) { Emit(BPF_STX | size | BPF_MEM, dst, src, off, 0); }
  void LoadMap(int dst, int fd) {
    // 16-byte ld_imm64; src_reg tells the verifier the immediate is a map fd.
    Emit(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
    Emit(0, 0, 0, 0, 0);
  }
  void JmpImm(int op, int dst, int32_t imm, int label) {
    fixups_.push_back({out_.size(), label});
    Emit(BPF_JMP | op | BPF_K, dst, 0, 0, imm);
  }
  void JmpReg(int op, int dst, int src, int label) {
    fixups_.push_back({out_.size(), label});
    Emit(BPF_JMP | op | BPF_X, dst, src, 0, 0);
  }
  void Ja(int label) { JmpImm(BPF_JA, 0, 0, label); }
  void Call(int helper) { Emit(BPF_JMP | BPF_CALL, 0, 0, 0, helper); }
  void Exit() { Emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }
  int NewLabel() {
    labels_.push_back(-1);
    return static_cast<int>(labels_.size() - 1);
  }
  void Bind(int label) { labels_[label] = static_cast<long>(out_.size()); }
  std::vector<bpf_insn> Finish() {
    // Jump offsets count instructions after the jump itself.
    for (const Fixup& f : fixups_)
      out_[f.at].off = static_cast<int16_t>(labels_[f.label] - static_cast<long>(f.at) - 1);
    return std::move(out_);
  }

 private:
  struct Fixup {
    size_t at;
    int label;
  };
  std::vector<bpf_insn> out_;
  std::vector<long> labels_;
  std::vector<Fixup> fixups_;
};

int MapCreate(uint32_t type, uint32_t maxEntries, const char* name) {
  bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.map_type = type;
  a.key_size = 4;
  a.value_size = 4;
  a.max_entries = maxEntries;
  strncpy(a.map_name, name, sizeof(a.map_name) - 1);
  return static_cast<int>(BpfCall(BPF_MAP_CREATE, &a));
}

int MapUpdate(int fd, uint32_t key, uint32_t value) {
  bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.map_fd = static_cast<uint32_t>(fd);
  a.key = reinterpret_cast<uintptr_t>(&key);
  a.value = reinterpret_cast<uintptr_t>(&value);
  a.flags = BPF_ANY;
  return static_cast<int>(BpfCall(BPF_MAP_UPDATE_ELEM, &a));
}

int MapDelete(int fd, uint32_t key) {
  bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.map_fd = static_cast<uint32_t>(fd);
  a.key = reinterpret_cast<uintptr_t>(&key);
  return static_cast<int>(BpfCall(BPF_MAP_DELETE_ELEM, &a));
}

int LinkCreate(int progFd, int ifindex, uint32_t flags) {
  bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.link_create.prog_fd = static_cast<uint32_t>(progFd);
  a.link_create.target_ifindex = static_cast<uint32_t>(ifindex);
  a.link_create.attach_type = BPF_XDP;
  a.link_create.flags = flags;
  return static_cast<int>(BpfCall(BPF_LINK_CREATE, &a));
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

std::string ErrName(int e) { return strerror(e < 0 ? -e : e); }

}  // namespace

long BpfCall(int cmd, bpf_attr* attr) {
  long r = syscall(SYS_bpf, cmd, attr, sizeof(*attr));
  return r < 0 ? -errno : r;
}

// BPF_PROG_LOAD with the thread's signals blocked. The verifier gives up
// with EAGAIN, and no message in its log, when a signal is pending for the
// loading thread (kernel/bpf/verifier.c do_check: signal_pending ->
// -EAGAIN), which a Node process sees whenever a child exits; a blocked
// signal does not count as pending (recalc_sigpending skips the blocked
// set) and is taken, or delivered to another thread, once the load is done.
// libbpf instead retries up to 5 times (sys_bpf_prog_load), which a burst
// of signals outlasts (test/xdp.test.ts: 56 of 300 loads under a flood);
// the retries stay for an EAGAIN of any other cause.
long BpfProgLoad(bpf_attr* a) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  long r = -EAGAIN;
  for (int attempt = 0; attempt < 5 && r == -EAGAIN; attempt++) r = BpfCall(BPF_PROG_LOAD, a);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return r;
}

int BpfLoadXdp(const bpf_insn* insns, uint32_t count, std::string* log) {
  static const char kLicense[] = "Dual MIT/GPL";
  bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.prog_type = BPF_PROG_TYPE_XDP;
  a.expected_attach_type = BPF_XDP;
  a.insns = reinterpret_cast<uintptr_t>(insns);
  a.insn_cnt = count;
  a.license = reinterpret_cast<uintptr_t>(kLicense);
  strncpy(a.prog_name, "rw_udp_xsk", sizeof(a.prog_name) - 1);
  int fd = static_cast<int>(BpfProgLoad(&a));
  if (fd >= 0 || !log) return fd;
  // Load again with the verifier log on: only on failure, since logging
  // slows the verifier and a too-small buffer turns success into ENOSPC.
  std::vector<char> buf(64 * 1024, '\0');
  a.log_buf = reinterpret_cast<uintptr_t>(buf.data());
  a.log_size = static_cast<uint32_t>(buf.size());
  a.log_level = 1;
  int again = static_cast<int>(BpfProgLoad(&a));
  if (again >= 0) {
    // Passed with logging on (a transient failure): use this one.
    return again;
  }
  std::string s(buf.data());
  // The verdict is at the end of the log; keep the tail.
  constexpr size_t kKeep = 4096;
  if (s.size() > kKeep) s = "..." + s.substr(s.size() - kKeep);
  *log = s;
  return fd;
}

std::vector<bpf_insn> BuildUdpRedirect(int cfgMapFd, int xskMapFd) {
  // r6 = ctx, r7 = destination port | kPortEnabled, r8 = rx queue (both
  // callee-saved, so they survive the helper calls).
  Asm a;
  const int pass = a.NewLabel(), ipv4 = a.NewLabel(), ipv6 = a.NewLabel(), lookup = a.NewLabel();
  a.MovReg(BPF_REG_6, BPF_REG_1);
  a.Load(BPF_W, BPF_REG_2, BPF_REG_6, kMdData);     // r2 = data
  a.Load(BPF_W, BPF_REG_3, BPF_REG_6, kMdDataEnd);  // r3 = data_end
  a.MovReg(BPF_REG_4, BPF_REG_2);
  a.AluImm(BPF_ADD, BPF_REG_4, kEthLen);
  a.JmpReg(BPF_JGT, BPF_REG_4, BPF_REG_3, pass);    // no full Ethernet header
  a.Load(BPF_H, BPF_REG_5, BPF_REG_2, 12);          // ethertype, network order
  a.JmpImm(BPF_JEQ, BPF_REG_5, htons(0x0800), ipv4);
  a.JmpImm(BPF_JEQ, BPF_REG_5, htons(0x86dd), ipv6);
  a.Ja(pass);

  a.Bind(ipv4);
  a.MovReg(BPF_REG_4, BPF_REG_2);
  a.AluImm(BPF_ADD, BPF_REG_4, kEthLen + kIp4Len);
  a.JmpReg(BPF_JGT, BPF_REG_4, BPF_REG_3, pass);
  a.Load(BPF_B, BPF_REG_5, BPF_REG_2, kEthLen + 9);  // protocol
  a.JmpImm(BPF_JNE, BPF_REG_5, 17, pass);
  a.Load(BPF_H, BPF_REG_5, BPF_REG_2, kEthLen + 6);  // flags + fragment offset
  a.AluImm(BPF_AND, BPF_REG_5, htons(0x3fff));       // MF or an offset: a fragment
  a.JmpImm(BPF_JNE, BPF_REG_5, 0, pass);
  a.Load(BPF_B, BPF_REG_5, BPF_REG_2, kEthLen);      // version | IHL
  a.AluImm(BPF_AND, BPF_REG_5, 0x0f);
  a.AluImm(BPF_LSH, BPF_REG_5, 2);                   // header bytes, 0..60
  a.JmpImm(BPF_JLT, BPF_REG_5, kIp4Len, pass);
  a.AluReg(BPF_ADD, BPF_REG_2, BPF_REG_5);           // r2 = data + IHL (bounded)
  a.MovReg(BPF_REG_4, BPF_REG_2);
  a.AluImm(BPF_ADD, BPF_REG_4, kEthLen + kUdpLen);
  a.JmpReg(BPF_JGT, BPF_REG_4, BPF_REG_3, pass);
  a.Load(BPF_H, BPF_REG_7, BPF_REG_2, kEthLen + 2);  // UDP destination port
  a.Ja(lookup);

  a.Bind(ipv6);
  a.MovReg(BPF_REG_4, BPF_REG_2);
  a.AluImm(BPF_ADD, BPF_REG_4, kEthLen + kIp6Len + kUdpLen);
  a.JmpReg(BPF_JGT, BPF_REG_4, BPF_REG_3, pass);
  a.Load(BPF_B, BPF_REG_5, BPF_REG_2, kEthLen + 6);  // next header
  a.JmpImm(BPF_JNE, BPF_REG_5, 17, pass);            // extension headers: not ours
  a.Load(BPF_H, BPF_REG_7, BPF_REG_2, kEthLen + kIp6Len + 2);

  a.Bind(lookup);
  a.AluImm(BPF_OR, BPF_REG_7, static_cast<int32_t>(kPortEnabled));
  a.Load(BPF_W, BPF_REG_8, BPF_REG_6, kMdRxQueue);
  a.Store(BPF_W, BPF_REG_10, -4, BPF_REG_8);         // key on the stack
  a.MovReg(BPF_REG_2, BPF_REG_10);
  a.AluImm(BPF_ADD, BPF_REG_2, -4);
  a.LoadMap(BPF_REG_1, cfgMapFd);
  a.Call(kHelperMapLookupElem);
  a.JmpImm(BPF_JEQ, BPF_REG_0, 0, pass);             // queue beyond the map
  a.Load(BPF_W, BPF_REG_1, BPF_REG_0, 0);
  a.JmpReg(BPF_JNE, BPF_REG_1, BPF_REG_7, pass);     // not this queue's port
  a.LoadMap(BPF_REG_1, xskMapFd);
  a.MovReg(BPF_REG_2, BPF_REG_8);
  // The low bits of flags are the verdict when the slot has no socket.
  a.MovImm(BPF_REG_3, XDP_PASS);
  a.Call(kHelperRedirectMap);
  a.Exit();

  a.Bind(pass);
  a.MovImm(BPF_REG_0, XDP_PASS);
  a.Exit();
  return a.Finish();
}

XdpAttachment::~XdpAttachment() {
  // The link first: closing its last fd detaches the program.
  CloseFd(&linkFd_);
  CloseFd(&progFd_);
  CloseFd(&xskMapFd_);
  CloseFd(&cfgMapFd_);
}

int XdpAttachment::Create(int ifindex, uint32_t queues, XdpAttachMode mode,
                          std::shared_ptr<XdpAttachment>* out, OpenError* err) {
  std::shared_ptr<XdpAttachment> at(new XdpAttachment());
  at->ifindex_ = ifindex;
  at->queues_ = queues;
  at->cfgMapFd_ = MapCreate(BPF_MAP_TYPE_ARRAY, queues, "rw_udp_ports");
  if (at->cfgMapFd_ < 0) return err->Set(at->cfgMapFd_, "bpf(BPF_MAP_CREATE)", "ARRAY map of ports");
  at->xskMapFd_ = MapCreate(BPF_MAP_TYPE_XSKMAP, queues, "rw_xsks");
  if (at->xskMapFd_ < 0) return err->Set(at->xskMapFd_, "bpf(BPF_MAP_CREATE)", "XSKMAP");
  std::vector<bpf_insn> prog = BuildUdpRedirect(at->cfgMapFd_, at->xskMapFd_);
  std::string log;
  at->progFd_ = BpfLoadXdp(prog.data(), static_cast<uint32_t>(prog.size()), &log);
  if (at->progFd_ < 0)
    return err->Set(at->progFd_, "bpf(BPF_PROG_LOAD)", log.empty() ? std::string() : "verifier: " + log);

  if (mode != XdpAttachMode::kSkb) {
    at->linkFd_ = LinkCreate(at->progFd_, ifindex, XDP_FLAGS_DRV_MODE);
    if (at->linkFd_ >= 0) {
      at->native_ = true;
      at->note_ = "native (driver) mode";
    } else if (mode == XdpAttachMode::kNative || at->linkFd_ == -EBUSY || at->linkFd_ == -EEXIST ||
               at->linkFd_ == -EPERM) {
      // Explicit native, or a conflict that SKB mode would hit as well.
      int e = at->linkFd_;
      return err->Set(e, "bpf(BPF_LINK_CREATE)", "native (driver) mode");
    } else {
      at->note_ = "skb (generic) mode: native attach failed with " + ErrName(at->linkFd_);
    }
  } else {
    at->note_ = "skb (generic) mode, as requested";
  }
  if (!at->native_) {
    at->linkFd_ = LinkCreate(at->progFd_, ifindex, XDP_FLAGS_SKB_MODE);
    if (at->linkFd_ < 0) return err->Set(at->linkFd_, "bpf(BPF_LINK_CREATE)", "skb (generic) mode");
  }
  *out = std::move(at);
  return 0;
}

int XdpAttachment::AddQueue(uint32_t queue, int xskFd, uint16_t port, OpenError* err) {
  if (queue >= queues_) return err->Set(-ERANGE, "bpf(BPF_MAP_UPDATE_ELEM)", "queue beyond the XSKMAP");
  // The socket first: the port entry turns redirection on.
  int r = MapUpdate(xskMapFd_, queue, static_cast<uint32_t>(xskFd));
  if (r < 0) return err->Set(r, "bpf(BPF_MAP_UPDATE_ELEM)", "XSKMAP");
  r = MapUpdate(cfgMapFd_, queue, htons(port) | kPortEnabled);
  if (r < 0) {
    MapDelete(xskMapFd_, queue);
    return err->Set(r, "bpf(BPF_MAP_UPDATE_ELEM)", "port map");
  }
  return 0;
}

void XdpAttachment::RemoveQueue(uint32_t queue) {
  if (queue >= queues_) return;
  // The port first: no datagram is steered to a socket about to go.
  MapUpdate(cfgMapFd_, queue, 0);
  MapDelete(xskMapFd_, queue);
}

}  // namespace rw
