// N-API glue for packet rings. A RingHandle owns one PacketRing (frame
// area, control block, backend) and the libuv handles that wake it:
//   - a uv_poll on the backend's fd (the AF_XDP socket, the UDP socket, the
//     ef_vi driver handle): readable -> drain a batch, one JS call per batch
//     (MakeCallback, so microtasks run); writable only while transmissions
//     wait for the kernel;
//   - an unref'd 200 ms uv_timer refreshing kernel counters
//     (XDP_STATISTICS) and re-checking need_wakeup flags;
//   - optionally a timerfd polled by a second uv_poll (receive coalescing,
//     the state machine in core/packet_coalesce.h): after a wake that found
//     enough frames, the ring stops watching its fd and drains on a one-shot
//     holdoff timer instead, as long as traffic keeps coming. Fewer
//     wake-ups (each a context switch) per frame, at most one period more
//     latency.
// No helper thread. Exits, each safe twice: close() from JS, the External's
// GC finalizer (TS also closes through a FinalizationRegistry), and an
// async cleanup hook that closes the uv handles on worker termination /
// exit (an open uv_poll at environment teardown would abort the process).
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "../core/bpf_prog.h"
#include "../core/packet_coalesce.h"
#include "../core/packet_ring.h"
#include "addon.h"
#include "loop_binding.h"

namespace rw {

// Flags of a dispatch call into JS: dispatch(count, flags, err).
enum RingDispatchFlags : uint32_t { kDispatchRx = 1, kDispatchTxReady = 2, kDispatchError = 4 };

class RingHandle : public BusySource {
 public:
  RingHandle(napi_env env, std::unique_ptr<PacketRing> ring, std::shared_ptr<XdpAttachment> at)
      : env_(env), ring_(std::move(ring)), attachment_(std::move(at)) {}

  // From the External of a JS argument, or nullptr.
  static RingHandle* From(const Napi::Value& v);
  static void Finalize(napi_env env, void* data, void* hint);

  PacketRing* ring() const { return closed_ ? nullptr : ring_.get(); }
  const std::shared_ptr<XdpAttachment>& attachment() const { return attachment_; }
  void SetViews(napi_env env, napi_value area, napi_value control);

  int Start(napi_value dispatch, bool active, const CoalescePolicy& coalesce);
  void SetActive(bool active);
  void SetRef(bool ref);
  int Flush();
  int Reserve(uint32_t n);
  // 0 closed now; 1 closing as soon as the current dispatch returns.
  int Close();

 private:
  ~RingHandle();
  void OnPoll(int status, int events);
  // BusySource: the RX ring seen from memory while the thread busy-polls.
  bool BusyReady() override;
  void BusyRun() override;
  bool busyRegistered_ = false;
  void OnHoldoff();
  // Receives batches until the ring is drained; returns frames delivered.
  uint32_t DrainRx();
  void EnterHoldoff();
  void AdaptHoldoff(uint32_t got);
  void ExitHoldoff();
  int ArmHoldoff(uint32_t us);
  void FinishWake(bool ok);
  void OnTimer();
  void AfterDispatch();
  void UpdatePoll();
  void CallJs(uint32_t count, uint32_t flags, int err);
  void DetachViews();
  void ReleaseKernel();
  void OnHandleClosed();
  void MaybeDelete();
  static void AsyncCleanup(napi_async_cleanup_hook_handle handle, void* arg);

  napi_env env_;
  std::unique_ptr<PacketRing> ring_;
  std::shared_ptr<XdpAttachment> attachment_;
  uv_poll_t poll_{};
  uv_timer_t timer_{};
  uv_poll_t holdoffPoll_{};
  int holdoffFd_ = -1;  // timerfd, when coalescing
  Coalescer coalesce_;  // holdoff state; the timerfd above is its timer
  int handlesOpen_ = 0;
  int pollEvents_ = 0;
  bool started_ = false, active_ = false, ref_ = true;
  bool closed_ = false, closeDeferred_ = false, tornDown_ = false;
  bool externalAlive_ = true;
  int dispatchDepth_ = 0;
  napi_ref dispatch_ = nullptr;
  napi_ref area_ = nullptr, control_ = nullptr;
  napi_async_context asyncCtx_ = nullptr;
  napi_async_cleanup_hook_handle cleanup_ = nullptr;
};

void InitPacketRingOpen(Napi::Env env, Napi::Object exports);

}  // namespace rw
