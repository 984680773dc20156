// The futex calls JS cannot make itself (Atomics.wait/notify do not work on
// external ArrayBuffers). None is on the per-message path: a wake is issued
// only when a waiter flagged itself, a wait only when a ring is empty/full.
//
// Two asynchronous waits, both borrowing the region (it stays mapped until
// the wait is over, even after close()):
// - UringWait: IORING_OP_FUTEX_WAIT (Linux 6.7) on this thread's io_uring,
//   with a linked timeout; nothing blocks, the completion arrives through
//   the loop's event dispatch.
// - PoolWait: a futex wait on the libuv threadpool, in slices, for kernels
//   without it.
// The futex is process-shared: no FUTEX_PRIVATE_FLAG / FUTEX2_PRIVATE, since
// the peer may be another process mapping the same object.
#include <sched.h>

#include <chrono>

#include "../core/spsc_ring.h"
#include "loop_binding.h"
#include "shm_binding.h"

namespace rw {
namespace {

using ring::FutexWait;
using ring::FutexWake;

constexpr int32_t kEvWaitDone = 1;

RegionHandle* Open(const Napi::Value& v) {
  RegionHandle* h = RegionHandle::From(v);
  return h && !h->closed() ? h : nullptr;
}

uint32_t* WordArg(const Napi::CallbackInfo& info, RegionHandle** h, int* err) {
  *h = Open(info[0]);
  uint32_t* w = *h ? (*h)->Word(info[1].As<Napi::Number>().DoubleValue()) : nullptr;
  *err = *h ? -EINVAL : -EBADF;
  return w;
}

// futexWake(handle, offset, count) -> woken | -errno
Napi::Value Wake(const Napi::CallbackInfo& info) {
  RegionHandle* h;
  int err;
  uint32_t* w = WordArg(info, &h, &err);
  if (!w) return Num(info.Env(), err);
  return Num(info.Env(), FutexWake(w, info[2].As<Napi::Number>().Int32Value()));
}

// futexWait(handle, offset, expected, timeoutMs) -> 0 | -EAGAIN | -ETIMEDOUT.
// Blocks the calling thread: for workers that chose the 'block' strategy.
Napi::Value WaitSync(const Napi::CallbackInfo& info) {
  RegionHandle* h;
  int err;
  uint32_t* w = WordArg(info, &h, &err);
  if (!w) return Num(info.Env(), err);
  int r = FutexWait(w, info[2].As<Napi::Number>().Uint32Value(), info[3].As<Napi::Number>().Int32Value());
  return Num(info.Env(), r == -EINTR ? 0 : r);
}

class PoolWait : public PendingWait {
 public:
  // One work item sleeps at most this long, then completes with kAgain and
  // JS queues the next slice. Node waits for in-flight threadpool work before
  // it runs environment cleanup hooks, so a longer sleep would hold up worker
  // termination and process exit by that much.
  static constexpr int kSliceMs = 50;
  static constexpr int kAgain = 1;

  PoolWait(Napi::Env env, RegionHandle* h, uint32_t* w, uint32_t expected, int timeoutMs, Napi::Function cb)
      : h_(h), expected_(expected), timeoutMs_(timeoutMs) {
    word = w;
    napi_create_reference(env, cb, 1, &cb_);
    napi_value name = Napi::String::New(env, "ringwire:futexWait");
    if (napi_create_async_work(env, nullptr, name, Execute, Complete, this, &work_) != napi_ok ||
        napi_queue_async_work(env, work_) != napi_ok) {
      failed_ = true;
      return;
    }
    h_->Retain();
    h_->AddWait(this);
  }
  bool failed() const { return failed_; }
  void Drop(napi_env env) { napi_delete_reference(env, cb_); }

  void Cancel() override {
    cancel.store(true, std::memory_order_release);
    FutexWake(word, INT_MAX);  // every sleeper on the word re-checks; harmless to peers
  }

 private:
  static void Execute(napi_env, void* data) {
    auto* self = static_cast<PoolWait*>(data);
    bool last = self->timeoutMs_ >= 0 && self->timeoutMs_ <= kSliceMs;
    int budget = last ? self->timeoutMs_ : kSliceMs;
    auto start = std::chrono::steady_clock::now();
    for (;;) {
      if (self->cancel.load(std::memory_order_acquire)) {
        self->result_ = -ECANCELED;
        return;
      }
      if (ring::LoadAcquire(self->word) != self->expected_) return;  // result_ = 0
      auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - start).count();
      int left = budget - static_cast<int>(spent);
      if (left <= 0) {
        self->result_ = last ? -ETIMEDOUT : kAgain;
        return;
      }
      FutexWait(self->word, self->expected_, left);
    }
  }

  static void Complete(napi_env env, napi_status status, void* data) {
    auto* self = static_cast<PoolWait*>(data);
    napi_delete_async_work(env, self->work_);
    RegionHandle* h = self->h_;
    h->RemoveWait(self);
    int result = status == napi_cancelled ? -ECANCELED : self->result_;
    // Raw N-API on purpose: while a worker is being terminated JS cannot run,
    // the call just fails, and that must not turn into a fatal exception.
    if (!h->tearingDown()) {
      napi_handle_scope scope;
      napi_open_handle_scope(env, &scope);
      napi_value cb, global, arg;
      if (napi_get_reference_value(env, self->cb_, &cb) == napi_ok && cb &&
          napi_get_global(env, &global) == napi_ok && napi_create_int32(env, result, &arg) == napi_ok &&
          napi_call_function(env, global, cb, 1, &arg, nullptr) == napi_pending_exception) {
        bool pending = false;
        napi_value err;
        if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
            napi_get_and_clear_last_exception(env, &err) == napi_ok)
          napi_fatal_exception(env, err);
      }
      napi_close_handle_scope(env, scope);
    }
    self->Drop(env);
    delete self;
    h->Release();
  }

  RegionHandle* h_;
  uint32_t expected_;
  int timeoutMs_;
  int result_ = 0;
  bool failed_ = false;
  napi_async_work work_ = nullptr;
  napi_ref cb_ = nullptr;
};

// futexWaitAsync(handle, offset, expected, timeoutMs, cb(result)) -> 0 | -errno.
// result: 0 (value changed / woken), -ETIMEDOUT, -ECANCELED, or 1: the slice
// ended, call again with what is left of the timeout.
Napi::Value WaitPool(const Napi::CallbackInfo& info) {
  RegionHandle* h;
  int err;
  uint32_t* w = WordArg(info, &h, &err);
  if (!w) return Num(info.Env(), err);
  auto* op = new PoolWait(info.Env(), h, w, info[2].As<Napi::Number>().Uint32Value(),
                          info[3].As<Napi::Number>().Int32Value(), info[4].As<Napi::Function>());
  if (op->failed()) {
    op->Drop(info.Env());
    delete op;
    return Num(info.Env(), -ENOMEM);
  }
  return Num(info.Env(), 0);
}

// One IORING_OP_FUTEX_WAIT (+ linked timeout) owned by the thread's loop.
// Finishes after its last CQE with one event (id, kWaitDone, result).
class UringWait final : public LoopOwned, public UringHandler, public PendingWait {
 public:
  UringWait(LoopBinding* lb, RegionHandle* h, uint32_t* w) : lb_(lb), h_(h) {
    word = w;
    h_->Retain();
    h_->AddWait(this);
    lb_->Add(this);
  }

  void Submit(uint32_t expected, int timeoutMs) {
    io_uring* ring = lb_->uring().ring();
    // The pair must sit next to each other in one submission.
    if (io_uring_sq_space_left(ring) < 2) lb_->uring().Flush();
    io_uring_sqe* sqe = lb_->uring().Sqe();
    PrepFutexWait(sqe, word, expected, FUTEX2_SIZE_U32);
    io_uring_sqe_set_data64(sqe, UringLoop::Tag(this, kTagWait));
    inflight_ = 1;
    if (timeoutMs >= 0) {
      sqe->flags |= IOSQE_IO_LINK;
      // Read by the kernel when the SQE is submitted (next flush), so it
      // lives in this object.
      ts_.tv_sec = timeoutMs / 1000;
      ts_.tv_nsec = static_cast<long long>(timeoutMs % 1000) * 1000000;
      io_uring_sqe* t = lb_->uring().Sqe();
      io_uring_prep_link_timeout(t, &ts_, 0);
      io_uring_sqe_set_data64(t, UringLoop::Tag(this, kTagTimeout));
      inflight_ = 2;
    }
  }

  void OnCqe(unsigned tag, const io_uring_cqe* cqe) override {
    if (tag == kTagWait) {
      // 0: woken; -EAGAIN: the word already differed; -ECANCELED: timed out
      // (the linked timeout fired) or cancelled by close.
      result_ = cqe->res;
      if (result_ == -ECANCELED && timedOut_) result_ = -ETIMEDOUT;
    } else if (tag == kTagTimeout && cqe->res != -ECANCELED) {
      // The timeout fired (-ECANCELED: the wait finished first). Its res is
      // -ETIME, or - a kernel quirk with FUTEX_WAIT heads - the count the
      // futex cancel returned (1).
      timedOut_ = true;
      if (result_ == -ECANCELED) result_ = -ETIMEDOUT;
    }
    if (--inflight_ > 0) return;
    if (cancelled_ && result_ != 0) result_ = -ECANCELED;
    int myId = id;
    lb_->Emit(myId, kEvWaitDone, result_, 0);
    lb_->Remove(myId);
    Finish();
  }

  void Cancel() override {
    if (cancelled_) return;
    cancelled_ = true;
    io_uring_sqe* sqe = lb_->uring().Sqe();
    io_uring_prep_cancel64(sqe, UringLoop::Tag(this, kTagWait), 0);
    io_uring_sqe_set_data64(sqe, 0);  // the loop ignores owner-less CQEs
  }

  // The ring is gone (environment teardown): no CQE will come.
  void Teardown() override { Finish(); }

 private:
  static constexpr unsigned kTagWait = 0, kTagTimeout = 1;

  void Finish() {
    RegionHandle* h = h_;
    h->RemoveWait(this);
    delete this;
    h->Release();
  }

  LoopBinding* lb_;
  RegionHandle* h_;
  __kernel_timespec ts_{};
  int inflight_ = 0;
  int result_ = 0;
  bool timedOut_ = false;
  bool cancelled_ = false;
};

// futexWaitUring(handle, offset, expected, timeoutMs) -> loop id | -errno.
// JS must have started the thread's loop (lib/loop.ts) to get the event.
Napi::Value WaitUring(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RegionHandle* h;
  int err;
  uint32_t* w = WordArg(info, &h, &err);
  if (!w) return Num(env, err);
  LoopBinding* lb = LoopBinding::Existing(env);
  if (!lb) return Num(env, -ENOTCONN);
  if (lb->uringError()) return Num(env, lb->uringError());
  auto* op = new UringWait(lb, h, w);
  int id = op->id;
  op->Submit(info[2].As<Napi::Number>().Uint32Value(), info[3].As<Napi::Number>().Int32Value());
  return Num(env, id);
}

// futexCancel(handle, offset) -> waits cancelled (they complete with -ECANCELED)
Napi::Value CancelJs(const Napi::CallbackInfo& info) {
  RegionHandle* h;
  int err;
  uint32_t* w = WordArg(info, &h, &err);
  if (!w) return Num(info.Env(), err);
  return Num(info.Env(), h->CancelWaits(w));
}

// heavyFence() -> 0 | -errno: the waiter's half of the asymmetric fence a
// C++ peer may rely on (see spsc_ring.h).
Napi::Value Heavy(const Napi::CallbackInfo& info) { return Num(info.Env(), ring::HeavyFence()); }

Napi::Value Yield(const Napi::CallbackInfo& info) {
  sched_yield();
  return info.Env().Undefined();
}

Napi::Value Now(const Napi::CallbackInfo& info) { return Num(info.Env(), ring::MonotonicMs()); }

}  // namespace

void InitFutex(Napi::Env env, Napi::Object exports) {
  exports.Set("futexWake", Napi::Function::New(env, Wake, "futexWake"));
  exports.Set("futexWait", Napi::Function::New(env, WaitSync, "futexWait"));
  exports.Set("futexWaitAsync", Napi::Function::New(env, WaitPool, "futexWaitAsync"));
  exports.Set("futexWaitUring", Napi::Function::New(env, WaitUring, "futexWaitUring"));
  exports.Set("futexCancel", Napi::Function::New(env, CancelJs, "futexCancel"));
  exports.Set("futexWaitDoneEvent", Num(env, kEvWaitDone));
  exports.Set("heavyFence", Napi::Function::New(env, Heavy, "heavyFence"));
  exports.Set("schedYield", Napi::Function::New(env, Yield, "schedYield"));
  exports.Set("monotonicMs", Napi::Function::New(env, Now, "monotonicMs"));
}

}  // namespace rw
