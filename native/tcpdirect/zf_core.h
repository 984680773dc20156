// TCPDirect backend (AMD/Solarflare's zero-copy user-space stack, libonload_zf)
// for UDP sockets and TCP endpoints. Compiled only when CMake finds zf/zf.h
// and libonload_zf under RINGWIRE_TCPDIRECT_ROOT (defines
// RINGWIRE_HAVE_TCPDIRECT). Plain C++, no Node: the binding
// (zf_binding.cc) drives one ZfStack per JS thread from libuv.
//
// TCPDirect objects ("zockets") live in a zf_stack that is not thread-safe,
// so each JS thread owns its stack. Every wake: zf_reactor_perform() until
// zf_stack_has_pending_work() is false, then each zocket is polled and its
// events appended to a record list that the binding hands to JS in one call.
// Received bytes are copied once from the zero-copy packet buffers into a
// pool JS reads in place (the buffers must go back to the stack before the
// next reactor call: zfur_zc_recv_done / zft_zc_recv_done).
#pragma once

#ifdef RINGWIRE_HAVE_TCPDIRECT

#include <netinet/in.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

struct zf_attr;
struct zf_stack;
struct zfur;
struct zfut;
struct zftl;
struct zft;
struct zft_handle;

namespace rw {
namespace zf {

// Event kinds in a record (shared with lib/internal/tcpdirect via the
// binding's `tcpdirectLayout`).
enum Kind : int32_t {
  kUdpData = 1,    // a = pool offset, b = length, c = source IPv4 (host order), d = source port
  kTcpAccept = 2,  // id = the listener, a = the new connection's id
  kTcpConnect = 3,
  kTcpData = 4,    // a = pool offset, b = length
  kTcpEnd = 5,     // the peer's FIN
  kTcpError = 6,   // a = -errno
  kTcpDrain = 7,   // the send queue emptied after a send returned "queued"
};
constexpr int kRecordWords = 6;  // id, kind, a, b, c, d

struct Record {
  int32_t id, kind, a, b, c, d;
};
static_assert(sizeof(Record) == kRecordWords * 4, "six int32 words, read by JS");

// zfur_zc_recv/zft_zc_recv fill an iovec array that must follow the message
// header. We own the array (TCPDirect's struct ends in a zero-length array:
// indexing it trips gcc 12's -Warray-bounds).
constexpr int kIov = 16;

class Stack {
 public:
  Stack() = default;
  ~Stack() { Close(); }
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // zf_init (once per process), zf_attr_alloc (reads ZF_ATTR),
  // zf_stack_alloc, zf_waitable_fd_get. -errno; *step names the failed call.
  int Open(const char** step);
  void Close();
  // The waitable fd, or -1 when zf_waitable_fd_get failed (waitErr()):
  // TCPDirect's software emulator has no epoll-able driver handle.
  int fd() const { return fd_; }
  int waitErr() const { return waitErr_; }
  // Arms the waitable fd before libuv sleeps on it.
  int Prime();
  // Runs the reactor and polls every zocket; returns records appended.
  // Stops early when the pool cannot hold the next payload (call again
  // after JS consumed the batch).
  uint32_t Poll();
  bool HasPendingWork() const;

  std::vector<Record> records;
  uint8_t* pool() { return pool_.data(); }
  size_t poolSize() const { return pool_.size(); }
  void ResetBatch() {
    records.clear();
    poolUsed_ = 0;
  }

  // UDP: a zfur bound to (local address, port); sends go through one zfut
  // per destination (zfut_alloc fixes both ends), created on first use.
  int UdpOpen();
  int UdpBind(int id, sockaddr_in* local);  // port 0 -> ephemeral, written back
  int UdpSend(int id, const sockaddr_in& to, const uint8_t* data, size_t len);
  // TCP
  int TcpListen(sockaddr_in* local);        // port written back
  int TcpConnect(const sockaddr_in& remote, const sockaddr_in* local);
  // Bytes accepted: all of them (copied or queued); -errno on a dead connection.
  int TcpSend(int id, const uint8_t* data, size_t len);
  int TcpShutdown(int id);
  int TcpName(int id, bool peer, sockaddr_in* out);
  int Free(int id);  // any zocket; ids are not reused while the stack lives

  static constexpr size_t kPoolBytes = 4u << 20;
  // Sockets of one kind beyond the stack's limit (attrs max_udp_rx_endpoints,
  // max_tcp_endpoints, ...) fail with -ENOBUFS; JS maps it to a RangeError.

 private:
  enum class Type { kFree, kUdp, kListener, kConn };
  struct TxPeer {
    uint32_t addr;
    uint16_t port;
    ::zfut* ut;
  };
  struct Entry {
    Type type = Type::kFree;
    ::zfur* ur = nullptr;
    sockaddr_in local{};
    bool bound = false;
    std::vector<TxPeer> peers;
    ::zftl* tl = nullptr;
    ::zft* ts = nullptr;
    bool connecting = false, eof = false, failed = false, shutdownWanted = false, drainWanted = false;
    std::deque<std::string> sendq;  // bytes zft_send could not take yet
    size_t sendqHead = 0;           // bytes of sendq.front() already sent
  };
  Entry* Get(int id, Type t);
  int Add(Entry&& e);
  void PollUdp(int id, Entry& e);
  void PollListener(int id, Entry& e);
  void PollConn(int id, Entry& e);
  int FlushSend(Entry& e);
  bool Push(int id, int kind, int a = 0, int b = 0, int c = 0, int d = 0);
  bool Room(size_t len) const { return poolUsed_ + len <= pool_.size(); }

  ::zf_attr* attr_ = nullptr;
  ::zf_stack* st_ = nullptr;
  int fd_ = -1;
  int waitErr_ = 0;
  std::vector<Entry> entries_;  // id = index + 1
  std::vector<uint8_t> pool_;
  size_t poolUsed_ = 0;
  bool full_ = false;  // the pool filled during this Poll
};

// zf_init + zf_stack_alloc + free: what capabilities() reports.
struct ProbeResult {
  std::string version;
  int init = 0;
  int stack = 0;
};
ProbeResult Probe();

}  // namespace zf
}  // namespace rw

#endif  // RINGWIRE_HAVE_TCPDIRECT
