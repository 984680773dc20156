// The loop-owned wrapper around a UDP socket of the core (mirrors
// tcp_handles.h): turns core callbacks into loop events, gives an epoll
// socket its uv_poll, holds the weak references to the views JS has over
// the receive pool and descriptors (detached on close) and the strong one to
// the counters, and follows the close protocol (Close -> OnIdle: Remove,
// then freed once libuv and the kernel have let go).
#pragma once

#include "../core/udp.h"
#include "loop_binding.h"

#include <initializer_list>

namespace rw {

// Loop event kinds of a UDP socket (exported as udpLayout.ev*).
enum UdpEventKind : int32_t {
  kUdpEvRecv = 1,       // a = descriptors ready [0, a)
  kUdpEvSent = 2,       // a = token, b = result
  kUdpEvRecvError = 3,  // a = -errno
  kUdpEvClosed = 4,     // nothing left in flight; the id is gone
};

class UdpHandle final : public LoopOwned, public UdpEvents, public BusySource {
 public:
  UdpHandle(LoopBinding* lb, Backend b) : lb_(lb), sock_(b, &lb->uring(), this) {}

  int Open(const UdpConfig& cfg);
  UdpSocket& sock() { return sock_; }
  int StartReceiving();
  int Send(const uint8_t* data, uint32_t len, const sockaddr* to, socklen_t tolen, uint32_t token, bool* keep);
  // Starts the close; the object deletes itself once the kernel is done.
  void Close(Napi::Env env);
  // Weak references: the views may be collected; if not, close() detaches
  // them. At environment teardown they are simply abandoned with the env.
  void SetViews(napi_env env, std::initializer_list<napi_value> views);
  void KeepStats(napi_env env, napi_value arr, UdpStats* mem);

  // UdpEvents
  void OnRecvReady() override;
  void OnSent(uint32_t token, int res) override;
  void OnRecvError(int err) override;
  void OnIdle() override;

  // LoopOwned
  void BeforeDispatch() override;
  void AfterDispatch() override;
  void FlushPrepare() override;
  int CloseUvHandles(uv_close_cb cb) override;
  void Teardown() override { delete this; }
  // BusySource (io_uring engine): the direct receive of a spinning thread.
  bool BusyReady() override;
  void BusyRun() override;
  void BusyLeave() override;
  ~UdpHandle() override;

 private:
  int UpdatePoll();
  void OnEpollReadable();

  LoopBinding* lb_;
  UdpSocket sock_;
  uv_poll_t poll_{};
  bool pollInit_ = false;
  int pollEvents_ = 0;
  bool dirty_ = false;
  bool flushQueued_ = false;
  uint64_t eagerSeq_ = ~uint64_t{0};  // the dispatch whose first send went at once
  bool closed_ = false;
  bool busyRegistered_ = false;
  uint32_t idleSpins_ = 0;
  void LeaveDirect();
  napi_ref views_[2] = {nullptr, nullptr};
  napi_ref statsRef_ = nullptr;
};

}  // namespace rw
