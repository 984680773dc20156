// TCP on the per-thread io_uring, with an epoll engine behind the same
// interface:
//   - io_uring: multishot accept; per connection one multishot recv (bundles
//     where the kernel has them) over ONE provided-buffer ring shared by every
//     connection of the thread, so 10,000 idle connections cost no buffers;
//     queued sends leave as one SENDMSG (MSG_WAITALL) per connection per loop
//     turn, SENDMSG_ZC above a threshold; connect with a linked timeout;
//   - epoll: accept4 / recv into the same pool (bump-allocated, recycled after
//     each JS batch) / sendmsg with the same iovec batching.
// Received bytes stay in the pool until JS has seen the batch; events go
// through the binding's sink. Plain C++: no Node headers.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <vector>

#include "uring_loop.h"

namespace rw {

enum class TcpBackend { kUring, kEpoll };

// Which operation an error belongs to (JS maps it to Node's syscall name).
enum TcpOp : int { kTcpOpRead = 1, kTcpOpWrite = 2, kTcpOpConnect = 3, kTcpOpAccept = 4, kTcpOpShutdown = 5 };

// Per-thread counters, read by JS through a Float64Array.
// Thread-wide and per-connection counters, read by JS through Float64Arrays.
// As with UdpStats, one list makes the fields and the exported names
// (tcpLayout.statNames / connStatNames).
#define RW_TCP_STATS(X)                                                          \
  X(accepted) X(connected) X(closed) X(active)                                   \
  X(bytesRead) X(bytesWritten)                                                   \
  X(recvEvents)   /* receive completions / recv() calls that carried data */    \
  X(bundles)      /* receive completions that covered several buffers */       \
  X(starvations)  /* receives stopped because the shared ring was empty */      \
  X(rearms)       /* multishot receives armed again */                           \
  X(sendCalls)    /* SENDMSG submissions / sendmsg() calls */                    \
  X(sendChunks)   /* iovec entries they carried */                               \
  X(zcSends) X(zcCopied)                                                         \
  X(acceptCalls)  /* accept CQEs / accept4() calls */                            \
  X(acceptErrors) X(errors)
#define RW_TCP_CONN_STATS(X)                                                     \
  X(bytesRead) X(bytesWritten)                                                   \
  X(queuedBytes)  /* accepted by send() and not yet completed */                 \
  X(recvEvents) X(sendCalls) X(zcSends) X(starvations)

#define RW_STAT_FIELD(name) double name;
struct TcpStats {
  RW_TCP_STATS(RW_STAT_FIELD)
};

// Per-connection counters: one slot per loop index in a shared table. The
// slot is padded to 8 doubles (connStatsFields, the table's stride).
struct TcpConnStats {
  RW_TCP_CONN_STATS(RW_STAT_FIELD)
  double reserved;
};
#undef RW_STAT_FIELD

class TcpConn;

// A block of copied send data, recycled through the pool's free list.
struct TcpBlock {
  static constexpr uint32_t kBytes = 16384 - 16;
  TcpBlock* next;
  uint32_t used;
  uint32_t refs;
  uint8_t data[kBytes];
};

// The thread's receive memory for one backend. io_uring: `count` buffers of
// `size` bytes behind a provided-buffer ring; epoll: the same bytes used as
// a bump region. Either way everything handed to JS is recycled after the
// batch (Recycle), so the memory a thread holds is fixed.
//
// Only a window of the buffers is published in the ring at a time, refilled
// from a stack of recycled ones: the kernel then keeps writing into the
// same few hundred KiB that are still in cache (a ring cycling through all
// of them made the receive copy 2.5x dearer per byte, measured on a 64 KiB
// stream). The window doubles whenever a receive starves.
class TcpPool {
 public:
  TcpPool(TcpBackend b, UringLoop* loop, TcpStats* stats) : backend_(b), loop_(loop), stats_(stats) {}
  ~TcpPool() { Teardown(); }
  int Open(uint32_t count, uint32_t size);
  uint8_t* base() const { return base_; }
  size_t bytes() const { return bytes_; }
  uint32_t bufferSize() const { return size_; }
  int bgid() const { return bgid_; }
  bool bundles() const { return bundles_; }

  // io_uring: the buffer that follows `bid` in the ring (bundles consume
  // consecutive ring slots), and holding a buffer until the batch is seen.
  uint16_t NextBid(uint16_t bid, uint32_t k) const;
  void Hold(uint16_t bid) { held_.push_back(bid); }
  // The kernel took `n` published buffers (one receive completion).
  void Consumed(uint32_t n) { published_ = published_ > n ? published_ - n : 0; }
  // epoll: contiguous free bytes at the bump pointer.
  uint8_t* Room(uint32_t* room);
  void Used(uint32_t n) { bump_ += n; }
  // io_uring: the region past the ring's buffers that direct receives of a
  // busy-polling thread fill (bump-allocated, reset by Recycle).
  static constexpr uint32_t kDirectBytes = 64 * 1024;
  uint8_t* DirectRoom(uint32_t* room);
  void DirectUsed(uint32_t n) { directBump_ += n; }
  bool dirty() const { return !held_.empty() || bump_ != 0 || directBump_ != 0 || !starved_.empty(); }
  // After JS has seen the batch: buffers back to the kernel, starved
  // receives re-armed.
  void Recycle();
  void AddStarved(TcpConn* c) {
    starved_.push_back(c);
    Grow();
  }
  // A bundle took every published buffer (the kernel then ends the
  // multishot receive without ENOBUFS): the window is too small too.
  void Grow() { window_ = window_ * 2 < count_ ? window_ * 2 : count_; }
  uint32_t window() const { return window_; }
  void DropStarved(TcpConn* c);

  TcpBlock* AllocBlock();
  void FreeBlock(TcpBlock* b);
  void Teardown();

 private:
  void AddBuffer(uint16_t bid, int offset);
  void Publish();
  static constexpr uint32_t kMinWindow = 64;

  TcpBackend backend_;
  UringLoop* loop_;
  TcpStats* stats_;
  uint8_t* base_ = nullptr;
  size_t bytes_ = 0;
  uint32_t count_ = 0, size_ = 0;
  io_uring_buf_ring* ring_ = nullptr;
  int bgid_ = -1;
  bool bundles_ = false;
  uint16_t tail_ = 0;                // our copy of the ring tail
  std::vector<uint16_t> slotOf_;     // bid -> ring slot it was published in
  std::vector<uint16_t> held_;
  std::vector<uint16_t> free_;       // recycled, not published; top = hottest
  uint32_t published_ = 0, window_ = 0, calm_ = 0;
  std::vector<TcpConn*> starved_;
  size_t bump_ = 0;
  uint32_t directBump_ = 0;
  TcpBlock* freeBlocks_ = nullptr;
  uint32_t freeCount_ = 0;
};

class TcpConnEvents {
 public:
  virtual ~TcpConnEvents() = default;
  virtual void OnConnData(uint32_t offset, uint32_t len) = 0;  // pool bytes
  virtual void OnConnEnd() = 0;                                // peer sent FIN
  // Bytes completed; only when a write sent from the caller's memory
  // finished or the caller asked (NotifySent) - JS reads the running total
  // from the counters otherwise.
  virtual void OnConnSent(uint32_t bytes) = 0;
  virtual void OnConnError(int err, int op) = 0;
  virtual void OnConnConnected() = 0;
  virtual void OnConnShutdown(int res) = 0;  // our FIN is out (after queued data)
  virtual void OnConnWantFlush() = 0;        // call Flush() once this loop turn
  virtual void OnConnStarved() = 0;          // waiting for the pool's Recycle()
  virtual void OnConnIdle() = 0;             // closing and nothing in flight
};

class TcpConn final : public UringHandler {
 public:
  // Every write is copied into the thread's blocks (the caller may reuse,
  // transfer or detach its buffer at once); kCopyMax is kept for the
  // layout export, the size below which writes were always copied.
  static constexpr uint32_t kCopyMax = 8192;
  static constexpr uint32_t kMaxIov = 1024;  // UIO_MAXIOV

  TcpConn(TcpBackend b, UringLoop* loop, TcpPool* pool, TcpStats* stats, TcpConnEvents* ev)
      : backend_(b), loop_(loop), pool_(pool), gstats_(stats), ev_(ev) {}
  ~TcpConn() override { Teardown(); }

  void Adopt(int fd) { fd_ = fd; connected_ = true; }
  int Open(int family);
  int Bind(const sockaddr* sa, socklen_t len);
  // io_uring: submits CONNECT (+ LINK_TIMEOUT); epoll: 0 connected, 1 in
  // progress (poll for writable, then FinishConnect), or -errno.
  int Connect(const sockaddr* sa, socklen_t len, uint32_t timeoutMs);
  int FinishConnect();
  void SetStats(TcpConnStats* s) { stats_ = s; }
  void SetZeroCopyThreshold(uint32_t bytes) { zcThreshold_ = bytes; }
  int fd() const { return fd_; }
  TcpBackend backend() const { return backend_; }
  bool connected() const { return connected_; }
  bool connecting() const { return connecting_; }
  bool closing() const { return closing_; }
  bool eof() const { return eof_; }
  bool wantsRead() const { return readWanted_ && !eof_ && !readError_ && !closing_ && connected_; }
  bool wantsWrite() const { return writeBlocked_ || connecting_; }

  // Reading is on from the start; off pauses (cancels the multishot recv).
  void SetReading(bool on);
  int Send(const uint8_t* data, uint32_t len, bool notify, bool* kept);
  // Queues a copy of bytes [offset, offset + len) of the thread's receive
  // pool (data JS was handed this batch): an echo or proxy hop without a
  // view crossing to native code. 0 or -errno.
  int SendFromPool(uint32_t offset, uint32_t len);
  // Report the next completions (until the queue is empty) with OnConnSent.
  void NotifySent() { notifySent_ = true; }
  // Half close once every queued byte is out: 1 when done at once (no
  // event follows), 0 when OnConnShutdown will report it, or -errno.
  int Shutdown();
  // Submits (io_uring) or writes (epoll) everything queued; once per turn.
  // `direct` (io_uring, while the thread busy-polls): one sendmsg first,
  // what it leaves goes as the SQE (see "Direct receive" in tcp_direct.cc).
  void Flush(bool direct = false);
  // A write's bytes out now, as node:net's uv_try_write does: Flush(direct)
  // from inside the JS call that queued them, not at the turn's end. The
  // turn's flush still comes (once per turn, as before); it finds the queue
  // empty or gives what the socket buffer did not take to the usual path.
  bool HasQueued() const { return head_ < queue_.size(); }
  void FlushNow() {
    bool requested = flushRequested_;
    Flush(true);
    flushRequested_ = requested;  // still on the loop's flush list
  }
  // epoll: one recv into the pool; bytes, 0 at EOF, -EAGAIN, -ENOBUFS (pool
  // full: dispatch first) or -errno.
  int ReadSome();
  // epoll: the socket is writable again.
  void Writable() {
    writeBlocked_ = false;
    Flush();
  }
  // Re-arms a receive stopped by an empty buffer ring (called by the pool).
  void Rearm();

  // Direct receive (io_uring, a hot connection of a busy-polling thread;
  // "Direct receive" in tcp_direct.cc): EnterDirect cancels the multishot
  // receive, ReceiveDirect is one recv(MSG_DONTWAIT) into the pool's direct
  // region (bytes, 0 at EOF, -EAGAIN, -ENOBUFS: dispatch first, -errno),
  // LeaveDirect re-arms the multishot (submitted by the caller's Settle).
  void EnterDirect();
  int ReceiveDirect();
  void LeaveDirect();
  bool direct() const { return direct_; }

  // Destroy: cancels what is in flight; OnConnIdle fires when the kernel
  // holds nothing of ours. `reset` sends RST (SO_LINGER 0) like
  // socket.resetAndDestroy().
  void Close(bool reset);
  // Immediate release after the ring is gone (environment teardown).
  void Teardown();

  void OnCqe(unsigned tag, const io_uring_cqe* cqe) override;

 private:
  enum Tag : unsigned { kTagRecv = 1, kTagSend = 2, kTagConnect = 3, kTagTimeout = 4, kTagCancel = 5 };
  struct Seg {
    uint8_t* base;
    uint32_t len;
    TcpBlock* block;  // copied data, else caller memory
  };

  void ArmRecv();
  void CancelRecv();
  int RecvInto(uint8_t* p, uint32_t room);
  void OnRecvCqe(const io_uring_cqe* cqe);
  void OnSendCqe(const io_uring_cqe* cqe);
  void OnConnectCqe(const io_uring_cqe* cqe);
  int Queue(const uint8_t* data, uint32_t len, bool notify, bool byRef, bool* kept);
  void CopyIn(const uint8_t* data, uint32_t len);
  ssize_t SendIov();
  uint32_t BuildIov();
  void Complete(uint32_t bytes);
  void DropQueue(bool keepInflight);
  void AfterSendDone();
  void DoShutdown();
  void Fail(int err, int op);
  void FinishIfIdle();
  void ReleaseBlock(TcpBlock* b, bool toPool);

  TcpBackend backend_;
  UringLoop* loop_;
  TcpPool* pool_;
  TcpStats* gstats_;
  TcpConnEvents* ev_;
  TcpConnStats localStats_{};
  TcpConnStats* stats_ = &localStats_;
  int fd_ = -1;
  uint32_t inflight_ = 0;
  uint32_t zcThreshold_ = 0;
  bool connected_ = false, connecting_ = false;
  bool readWanted_ = true, recvArmed_ = false, recvCancelling_ = false, starved_ = false;
  bool eof_ = false, readError_ = false;
  bool sendInflight_ = false, sendZc_ = false, flushRequested_ = false, writeBlocked_ = false;
  bool writeError_ = false, shutdownWanted_ = false, shutdownDone_ = false;
  bool closing_ = false, idle_ = false, notifySent_ = false, direct_ = false;
  int cancelIn_ = 0;  // test fault: direct receives before the multishot's cancel
  void CancelForDirect();
  int zcResult_ = 0;
  uint32_t inflightSegs_ = 0;  // segments [head_, head_ + inflightSegs_) are with the kernel
  std::vector<Seg> queue_;
  size_t head_ = 0;
  std::vector<iovec> iov_;
  msghdr msg_{};
  sockaddr_storage peer_{};
  __kernel_timespec timeout_{};
};

struct TcpListenConfig {
  int backlog = 511;
  bool reuseAddr = true, reusePort = false, v6Only = false;
  bool noDelay = true, keepAlive = false;
  int keepAliveSecs = 0;
  int deferAcceptSecs = 0;
  int recvBuffer = 0, sendBuffer = 0;  // 0 = kernel default
};

class TcpListenerEvents {
 public:
  virtual ~TcpListenerEvents() = default;
  virtual void OnAccept(int fd) = 0;
  virtual void OnAcceptError(int err) = 0;
  virtual void OnListenerIdle() = 0;
};

class TcpListener final : public UringHandler {
 public:
  TcpListener(TcpBackend b, UringLoop* loop, TcpStats* stats, TcpListenerEvents* ev)
      : backend_(b), loop_(loop), stats_(stats), ev_(ev) {}
  ~TcpListener() override { Teardown(); }
  // socket + options (inherited by accepted sockets) + bind + listen.
  int Open(const sockaddr* sa, socklen_t len, const TcpListenConfig& cfg);
  int fd() const { return fd_; }
  void Start();          // io_uring: multishot accept (again after Pause)
  void Pause();          // io_uring: cancels the accept; the backlog fills
  int AcceptSome();      // epoll: accept4 until EAGAIN (bounded)
  void Close();
  void Teardown();
  void OnCqe(unsigned tag, const io_uring_cqe* cqe) override;

 private:
  enum Tag : unsigned { kTagAccept = 1, kTagCancel = 2 };
  void Arm();
  TcpBackend backend_;
  UringLoop* loop_;
  TcpStats* stats_;
  TcpListenerEvents* ev_;
  int fd_ = -1;
  uint32_t inflight_ = 0;
  bool armed_ = false, closing_ = false, idle_ = false, paused_ = false, cancelling_ = false;
};

// Socket options the binding applies for JS (level, name, int value).
int TcpSetOpt(int fd, int level, int name, int value);
int TcpGetOpt(int fd, int level, int name, int* value);

}  // namespace rw
