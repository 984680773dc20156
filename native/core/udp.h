// A UDP socket with two receive/send engines behind one interface:
//   - io_uring: multishot recvmsg over a provided-buffer ring, SENDMSG /
//     SENDMSG_ZC queued on the thread's ring;
//   - epoll: recvmmsg into the same buffer pool when the fd is readable,
//     sendmmsg of the queued sends once per loop turn.
// Both write received datagrams as fixed-size descriptors into one array
// (UdpDesc) that JS reads in place; the payload stays in the pool until the
// batch has been handed to JS, then the buffers are recycled.
// Plain C++: the binding supplies the event sink.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <vector>

#include "uring_loop.h"

namespace rw {

// One received datagram, as JS sees it (8 x uint32, layout exported).
struct UdpDesc {
  uint32_t payloadOffset;  // into the pool
  uint32_t payloadLength;  // bytes present in the pool
  uint32_t flags;          // kDescTruncated | kDescTimestamp
  uint32_t nameOffset;     // sockaddr_in/in6 in the pool
  uint32_t nameLength;
  uint32_t tsSec;          // kernel receive timestamp (SO_TIMESTAMPNS)
  uint32_t tsNsec;
  uint32_t bufferId;
};
constexpr uint32_t kDescTruncated = 1;
constexpr uint32_t kDescTimestamp = 2;

// Per-socket counters, read by JS through a Float64Array. One list makes
// both the struct's fields and the names the binding exports
// (udpLayout.statNames), so TS cannot read a counter under another name:
// lib/internal/layout.ts refuses an addon whose names differ from its own.
#define RW_UDP_STATS(X)                                                        \
  X(rxDatagrams) X(rxBytes) X(txDatagrams) X(txBytes)                          \
  X(kernelDrops) /* SO_MEMINFO drops (cumulative; see RefreshDrops) */         \
  X(starvations) /* receive stopped because every buffer was in use */        \
  X(rearms)      /* multishot receives re-armed */                             \
  X(truncated)                                                                 \
  X(zcSends) X(zcCopied) /* zero-copy sends, and those the kernel copied */    \
  X(sendErrors)                                                                \
  X(batches)     /* receive batches handed to JS */
struct UdpStats {
#define RW_STAT_FIELD(name) double name;
  RW_UDP_STATS(RW_STAT_FIELD)
#undef RW_STAT_FIELD
};

struct UdpConfig {
  int family = AF_INET;
  uint32_t bufferCount = 256;  // power of two
  uint32_t bufferSize = 2048;  // bytes per receive buffer (headers included)
  bool timestamps = false;
  uint32_t zcThreshold = 0;    // 0 = never use SEND_ZC
};

class UdpEvents {
 public:
  virtual ~UdpEvents() = default;
  // The first descriptor of a batch (or a starvation) is pending: the
  // binding schedules delivery and calls Recycle() afterwards.
  virtual void OnRecvReady() = 0;
  virtual void OnSent(uint32_t token, int res) = 0;
  virtual void OnRecvError(int err) = 0;
  virtual void OnIdle() = 0;  // closing and no request left in flight
};

enum class Backend { kUring, kEpoll };

class UdpSocket : public UringHandler {
 public:
  // Receive-buffer layout inside each pool slot: [16 B recvmsg_out][name 28
  // B, padded to 32][control][payload]. The epoll engine uses the same
  // offsets so descriptors are identical.
  static constexpr uint32_t kHeaderSpace = 16;
  static constexpr uint32_t kNameSpace = 32;
  static constexpr uint32_t kInlineSend = 2048;
  static constexpr int kRecvBatch = 64;  // datagrams per recvmmsg

  UdpSocket(Backend b, UringLoop* loop, UdpEvents* ev) : backend_(b), loop_(loop), ev_(ev) {}
  ~UdpSocket() override;

  int Open(const UdpConfig& cfg);  // socket + pool (+ buffer ring)
  int fd() const { return fd_; }
  Backend backend() const { return backend_; }
  int SetOpt(int level, int name, const void* val, socklen_t len);
  int GetOpt(int level, int name, void* val, socklen_t* len);
  int Bind(const sockaddr* sa, socklen_t len);
  int Connect(const sockaddr* sa, socklen_t len);
  int Disconnect();
  int StartReceiving();  // arms multishot (uring); the binding polls (epoll)

  // Queues one datagram. The bytes are always copied (`keep` is always
  // false now: the caller may reuse, transfer or detach its buffer at once).
  // token != 0 asks for OnSent. `direct` (io_uring engine: always, from the
  // binding) queues it for the next flush, which sends it directly or as an
  // SQE (FlushSends); see "Direct sends" in udp_engines.cc.
  int Send(const uint8_t* data, uint32_t len, const sockaddr* to, socklen_t tolen,
           uint32_t token, bool* keep, bool direct = false);
  // Whether sends wait for FlushSends (the binding then asks for a flush).
  bool hasQueuedSends() const { return queuedHead_ < queued_.size(); }
  // Sends what is queued with sendmmsg (once per loop turn); returns -EAGAIN
  // when the socket buffer is full: the epoll engine then polls for
  // writable, the io_uring engine hands the rest to the ring in order.
  // direct = false (io_uring engine): all of it goes to the ring, in order.
  int FlushSends(bool direct = true);

  // epoll engine: one recvmmsg batch into free buffers; returns count or
  // -errno, and sets *drained when the socket queue is empty (a short
  // batch or EAGAIN). 0 with !*drained: every buffer is in use.
  int ReceiveBatch(bool* drained);

  // Direct receive (io_uring engine, only while the thread busy-polls; see
  // "Direct receive" in udp_engines.cc). EnterDirect cancels the multishot
  // receive; ReceiveDirect is one recvmmsg (MSG_DONTWAIT) into the
  // kDirectSlots slots past the ring's buffers (count or -errno);
  // LeaveDirect re-arms the multishot, which the caller must submit before
  // the thread sleeps.
  static constexpr uint32_t kDirectSlots = 16;
  void EnterDirect();
  int ReceiveDirect();
  void LeaveDirect();
  bool direct() const { return direct_; }
  // After JS has seen descriptors [0, n): recycle their buffers, re-arm.
  void Recycle();
  // Reads the kernel's drop counter for this socket into stats (one
  // getsockopt). Recycle() does it at most every kDropsPeriodNs while
  // datagrams arrive; JS calls it when stats are read.
  int RefreshDrops();

  // Begins an orderly close: cancels the receive and lets queued sends
  // complete or fail; OnIdle() fires when nothing is in flight.
  void Close();
  // Immediate release after the ring has been torn down (no CQE will come).
  void Teardown();

  uint8_t* pool() const { return pool_; }
  size_t poolBytes() const { return poolBytes_; }
  UdpDesc* descs() { return descs_.data(); }
  uint32_t descCapacity() const { return static_cast<uint32_t>(descs_.size()); }
  UdpStats* stats() { return stats_; }
  // Counters may live in memory the caller owns (a JS Float64Array, so they
  // stay readable after close); must outlive the socket.
  void SetStatsMemory(UdpStats* s) { *s = *stats_; stats_ = s; }
  uint32_t pendingDescs() const { return descCount_; }

  void OnCqe(unsigned tag, const io_uring_cqe* cqe) override;

 private:
  // Each send is its own completion target (its address is the SQE's
  // user_data), forwarding to the socket that owns it.
  struct SendOp final : UringHandler {
    void OnCqe(unsigned tag, const io_uring_cqe* cqe) override { owner->OnSendCqe(this, tag, cqe); }
    UdpSocket* owner;
    msghdr msg;
    iovec iov;
    sockaddr_in6 to;
    uint32_t token;
    int result;  // zero-copy: the send's result, reported at its notification
    bool zc;
    bool ring;  // submitted as an SQE (counted in ringSends_)
    SendOp* next;
    uint8_t* heap;  // a datagram larger than `data`: our own copy, freed with the op
    uint8_t data[kInlineSend];
  };
  enum Tag : unsigned { kTagRecv = 1, kTagSend = 2, kTagCancel = 3 };
  static constexpr int kOpChunk = 16;

  void ArmRecv();
  void SendOnRing(SendOp* op);
  // One recvmmsg into pool slots [first, first + room).
  int ReceiveSlots(uint32_t first, uint32_t room, bool* drained);
  // The headers of pool slots [first, first + room) for recvmmsg.
  void PrepareSlots(mmsghdr* vec, iovec* iov, uint32_t first, uint32_t room) const;
  // recvmmsg into prepared headers; descriptors for what arrived.
  int ReceiveInto(mmsghdr* vec, uint32_t first, uint32_t room, bool* drained);
  void OnSendCqe(SendOp* op, unsigned tag, const io_uring_cqe* cqe);
  void CompleteSend(SendOp* op, int res);
  void OnRecvCqe(const io_uring_cqe* cqe);
  void ParseControl(const msghdr* mh, UdpDesc* d);
  void ParseControl(const uint8_t* ctrl, uint32_t len, UdpDesc* d);
  SendOp* AllocOp();
  void FreeOp(SendOp* op);
  void FinishIfIdle();
  void MaybeRefreshDrops();
  static constexpr int64_t kDropsPeriodNs = 8000000;

  Backend backend_;
  UringLoop* loop_;
  UdpEvents* ev_;
  UdpConfig cfg_;
  int fd_ = -1;
  uint8_t* pool_ = nullptr;
  size_t poolBytes_ = 0;
  uint32_t controlSpace_ = 0;
  io_uring_buf_ring* bufRing_ = nullptr;
  int bgid_ = -1;
  msghdr recvTemplate_{};  // multishot recvmsg: name/control lengths only
  std::vector<UdpDesc> descs_;
  uint32_t descCount_ = 0;
  uint32_t freeEpoll_ = 0;   // epoll engine: next free slot (all free after Recycle)
  uint32_t freeDirect_ = 0;  // direct receive: next free slot past the ring's
  // Direct receive's headers, kept across polls: a spinning thread makes
  // one recvmmsg per spin and nearly all of them fail with EAGAIN, which
  // writes nothing back (net/socket.c ____sys_recvmsg stores the name
  // length, control length and flags only after sock_recvmsg succeeded, and
  // do_recvmmsg a msg_len only per datagram received). So the headers are
  // rebuilt only after a receive that returned anything else, or when the
  // slot range moved: 16 headers per spin cost ~0.1 us of every
  // datagram's wait, measured in the busy UDP echo server.
  mmsghdr directVec_[kDirectSlots];
  iovec directIov_[kDirectSlots];
  uint32_t directFirst_ = 0;
  uint32_t directRoom_ = 0;  // 0: directVec_ must be prepared
  bool directWarm_ = false;  // the last direct poll found data
  bool direct_ = false;
  bool directCancel_ = false;  // our cancel of the multishot is in flight
  int cancelIn_ = 0;           // test fault: direct receives before the cancel
  void CancelForDirect();
  bool recvArmed_ = false;
  bool recvWanted_ = false;
  bool closing_ = false;
  bool idleSignalled_ = false;
  uint32_t inflight_ = 0;
  uint32_t ringSends_ = 0;  // io_uring engine: send SQEs not yet completed
  int64_t nextDropsCheck_ = 0;
  UdpStats ownStats_{};
  UdpStats* stats_ = &ownStats_;
  std::vector<SendOp*> chunks_;  // owned allocations
  SendOp* freeOps_ = nullptr;
  std::vector<SendOp*> queued_;  // epoll engine: waiting for sendmmsg
  size_t queuedHead_ = 0;
  std::vector<uint16_t> strayBids_;  // buffers to recycle that JS never saw
  bool starved_ = false;
};

}  // namespace rw
