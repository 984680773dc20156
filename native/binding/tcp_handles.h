// Loop-owned wrappers around the TCP core: the per-thread state (shared
// receive pools, the per-connection counter table, global counters), one
// handle per connection and per listener. They turn core callbacks into
// loop events, give epoll sockets their uv_poll, and follow the close
// protocol (events first, then Remove, then free once libuv and the kernel
// have let go).
#pragma once

#include "../core/tcp.h"
#include "loop_binding.h"

namespace rw {

enum TcpEventKind : int32_t {
  kTcpEvAccept = 1,    // listener id; a = new connection id
  kTcpEvData = 2,      // a = pool offset, b = length
  kTcpEvEnd = 3,       // peer sent FIN
  kTcpEvSent = 4,      // a = bytes completed
  kTcpEvError = 5,     // a = -errno, b = TcpOp
  kTcpEvConnect = 6,
  kTcpEvShutdown = 7,  // a = result of shutdown(SHUT_WR)
  kTcpEvClosed = 8,    // nothing left in flight; the id is gone
};

// Loop ids carry the slot index in their low bits (handle_table.h); the
// counter table is indexed by it (exported as tcpLayout.indexMask).
constexpr int kTcpIndexMask = HandleTable<LoopOwned>::kIndexMask;

class TcpThread final : public LoopOwned {
 public:
  static constexpr uint32_t kChunkSlots = 1024;
  explicit TcpThread(LoopBinding* lb) : lb_(lb) {}
  LoopBinding* lb() const { return lb_; }
  TcpStats* stats() { return &stats_; }
  TcpPool* pool(TcpBackend b) const { return pools_[b == TcpBackend::kUring ? 0 : 1]; }
  int OpenPool(TcpBackend b, uint32_t count, uint32_t size);
  TcpConnStats* Chunk(uint32_t index);  // nullptr when out of memory
  TcpConnStats* Slot(int id);
  void MarkDirty() {
    if (dirty_) return;
    dirty_ = true;
    lb_->MarkDirty(this);
  }
  void AfterDispatch() override;
  void Teardown() override { delete this; }

 private:
  ~TcpThread() override;
  LoopBinding* lb_;
  TcpStats stats_{};
  TcpPool* pools_[2] = {nullptr, nullptr};
  std::vector<TcpConnStats*> chunks_;
  bool dirty_ = false;
};

class TcpConnHandle final : public LoopOwned, public TcpConnEvents, public BusySource {
 public:
  TcpConnHandle(TcpThread* t, TcpBackend b)
      : t_(t), lb_(t->lb()), conn_(b, &t->lb()->uring(), t->pool(b), t->stats(), this) {}
  TcpConn& conn() { return conn_; }
  // After lb->Add(): counters slot, poll handle (epoll), receive armed.
  void Start();
  void UpdatePoll();
  void SetReading(bool on);
  int Send(const uint8_t* data, uint32_t len, bool notify, bool* kept) { return conn_.Send(data, len, notify, kept); }
  // After a send: the queue leaves now when the loop flushes few handles
  // per turn (LoopBinding::eagerSend()). `firstOnly` (the batch API's
  // sends): only for the connection's first send of a JS dispatch, made
  // with nothing queued before it (`wasEmpty`), as UDP sockets do
  // (UdpHandle::Send); the rest of that dispatch's sends leave together at
  // the turn's end. Otherwise (the end of one write() of the drop-in) every
  // time, as node:net's uv_try_write.
  void SendNow(bool firstOnly, bool wasEmpty = true) {
    if (closed_ || !lb_->eagerSend()) return;
    if (firstOnly && (!wasEmpty || !lb_->FirstSendOfRound(&eagerSeq_))) return;
    conn_.FlushNow();
    UpdatePoll();
  }
  // Starts the close; may delete `this` before returning.
  void Close(bool reset);

  // TcpConnEvents
  void OnConnData(uint32_t offset, uint32_t len) override;
  void OnConnEnd() override { lb_->Emit(id, kTcpEvEnd, 0, 0); }
  void OnConnSent(uint32_t bytes) override { lb_->Emit(id, kTcpEvSent, static_cast<int32_t>(bytes), 0); }
  void OnConnError(int err, int op) override { lb_->Emit(id, kTcpEvError, err, op); }
  void OnConnConnected() override { lb_->Emit(id, kTcpEvConnect, 0, 0); }
  void OnConnShutdown(int res) override { lb_->Emit(id, kTcpEvShutdown, res, 0); }
  void OnConnWantFlush() override { lb_->WantFlush(this); }
  void OnConnStarved() override { t_->MarkDirty(); }
  void OnConnIdle() override;

  // LoopOwned
  void FlushPrepare() override;
  int CloseUvHandles(uv_close_cb cb) override;
  void Teardown() override { delete this; }
  // BusySource: the direct receive of a hot connection while the thread
  // spins; it goes back to the multishot after kDirectIdleSpins empty
  // receives or when the thread sleeps.
  bool BusyReady() override;
  void BusyRun() override;
  void BusyLeave() override;

 private:
  // At environment teardown the thread state and the ring may be gone:
  // only the loop's source list is touched.
  ~TcpConnHandle() override {
    if (busyRegistered_) lb_->RemoveBusySource(this);
  }
  void OnPoll(int status, int events);
  void LeaveDirect();
  bool busyRegistered_ = false;
  uint32_t idleSpins_ = 0;

  TcpThread* t_;
  LoopBinding* lb_;
  TcpConn conn_;
  uv_poll_t poll_{};
  bool pollInit_ = false;
  int pollEvents_ = 0;
  bool closed_ = false;
  uint64_t eagerSeq_ = ~uint64_t{0};  // the dispatch whose first send went at once
};

class TcpListenerHandle final : public LoopOwned, public TcpListenerEvents {
 public:
  TcpListenerHandle(TcpThread* t, TcpBackend b, uint32_t zcThreshold, bool pauseOnConnect)
      : t_(t), lb_(t->lb()), backend_(b), zc_(zcThreshold), pauseOnConnect_(pauseOnConnect),
        listener_(b, &t->lb()->uring(), t->stats(), this) {}
  TcpListener& listener() { return listener_; }
  void Start();  // arms accept; again after a resource error or Pause()
  void Pause();
  void Close();

  void OnAccept(int fd) override;
  void OnAcceptError(int err) override;
  void OnListenerIdle() override;
  int CloseUvHandles(uv_close_cb cb) override;
  void Teardown() override { delete this; }

 private:
  ~TcpListenerHandle() override = default;
  TcpThread* t_;
  LoopBinding* lb_;
  TcpBackend backend_;
  uint32_t zc_;
  bool pauseOnConnect_;  // accepted connections start without a receive armed
  TcpListener listener_;
  uv_poll_t poll_{};
  bool pollInit_ = false;
  bool closed_ = false;
};

void InitTcp(Napi::Env env, Napi::Object exports);

}  // namespace rw
