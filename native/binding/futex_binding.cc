// The futex calls JS cannot make itself (Atomics.wait/notify do not work on
// external ArrayBuffers). None is on the per-message path: a wake is issued
// only when a waiter flagged itself, a wait only when a ring is empty/full.
//
// Two asynchronous waits, both borrowing the region (it stays mapped until
// the wait is over, even after close()):
// - UringWait: IORING_OP_FUTEX_WAIT (Linux 6.7) on this thread's io_uring,
//   with a linked timeout; nothing blocks, the completion arrives through
//   the loop's event dispatch.
// - ThreadWait: for kernels without it, one waiter thread per environment
//   multiplexing every pending wait (futex_waitv), see FutexWaiter.
// The futex is process-shared: no FUTEX_PRIVATE_FLAG / FUTEX2_PRIVATE, since
// the peer may be another process mapping the same object.
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "../core/msgring.h"
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

// The fallback for kernels without IORING_OP_FUTEX_WAIT: ONE waiter thread
// per environment multiplexes every pending wait, instead of one libuv pool
// thread per wait (200 waits used to hold all 4 pool threads, so waits
// settled in turns and fs/dns work starved behind them: issue 14).
//
// The thread sleeps in futex_waitv(2) (Linux 5.16) on its control word plus
// up to 127 wait words, until the nearest deadline; past 127 waits, or on a
// kernel without futex_waitv, it re-checks at least every kPollMs. Results go
// back through a thread-safe function, so completions run on the JS thread.
//
// Lifetimes: a ThreadWait retains its region (the word stays mapped) from
// Add() until its completion ran on the JS thread (or the environment
// cleanup hook released it); the waiter itself lives until the thread-safe
// function's finalizer, after the cleanup hook joined the thread.
class ThreadWait : public PendingWait {
 public:
  ThreadWait(RegionHandle* h, uint32_t* w, uint32_t expected, int timeoutMs, napi_env env, napi_value cb)
      : h_(h), expected_(expected) {
    word = w;
    deadlineMs_ = timeoutMs < 0 ? UINT64_MAX : NowMs() + static_cast<uint64_t>(timeoutMs);
    napi_create_reference(env, cb, 1, &cb_);
    h_->Retain();
    h_->AddWait(this);
  }
  void Cancel() override;
  static uint64_t NowMs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
  }

  RegionHandle* h_;
  uint32_t expected_;
  uint64_t deadlineMs_;
  int result_ = 0;
  napi_ref cb_ = nullptr;
  class FutexWaiter* waiter_ = nullptr;
};

class FutexWaiter {
 public:
  static constexpr int kPollMs = 2;
  static constexpr size_t kMaxWords = FUTEX_WAITV_MAX - 1;  // one slot is the control word

  static FutexWaiter* Get(napi_env env) {
    AddonState* st = State(Napi::Env(env));
    if (st->futexWaiter) return static_cast<FutexWaiter*>(st->futexWaiter);
    auto* self = new FutexWaiter(env);
    napi_value name;
    napi_create_string_utf8(env, "ringwire:futexWaiter", NAPI_AUTO_LENGTH, &name);
    if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, Finalize, self, CallJs,
                                        &self->tsfn_) != napi_ok) {
      delete self;
      return nullptr;
    }
    napi_unref_threadsafe_function(env, self->tsfn_);
    napi_add_env_cleanup_hook(env, Teardown, self);
    self->thread_ = std::thread([self] { self->Run(); });
    st->futexWaiter = self;
    return self;
  }

  void Add(ThreadWait* w) {
    w->waiter_ = this;
    live_.insert(w);
    if (live_.size() == 1) napi_ref_threadsafe_function(env_, tsfn_);  // a pending wait keeps the loop alive
    {
      std::lock_guard<std::mutex> g(mu_);
      incoming_.push_back(w);
    }
    Poke();
  }

  // Any thread: makes the waiter look at its lists again.
  void Poke() {
    // release: the list change above happens before the waiter sees the new value.
    ctl_.fetch_add(1, std::memory_order_release);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&ctl_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }

 private:
  explicit FutexWaiter(napi_env env) : env_(env) {}

  void Run() {
    std::vector<ThreadWait*> active;
    std::vector<futex_waitv> vec;
    bool haveWaitv = true;
    while (!stop_.load(std::memory_order_acquire)) {
      // acquire: pairs with Poke(); read before the lists so a later Poke
      // makes futex_waitv return at once (the value no longer matches).
      uint32_t seen = ctl_.load(std::memory_order_acquire);
      {
        std::lock_guard<std::mutex> g(mu_);
        active.insert(active.end(), incoming_.begin(), incoming_.end());
        incoming_.clear();
      }
      uint64_t now = ThreadWait::NowMs(), next = UINT64_MAX;
      size_t keep = 0;
      for (ThreadWait* w : active) {
        int res = 1;
        if (w->cancel.load(std::memory_order_acquire)) res = -ECANCELED;
        else if (ring::LoadAcquire(w->word) != w->expected_) res = 0;
        else if (now >= w->deadlineMs_) res = -ETIMEDOUT;
        if (res == 1) {
          active[keep++] = w;
          next = std::min(next, w->deadlineMs_);
          continue;
        }
        w->result_ = res;
        // Unbounded queue: fails only when the function is closing (teardown),
        // and then the cleanup hook releases the wait.
        napi_call_threadsafe_function(tsfn_, w, napi_tsfn_nonblocking);
      }
      active.resize(keep);
      vec.clear();
      vec.push_back(futex_waitv{seen, reinterpret_cast<uint64_t>(&ctl_), FUTEX_32 | FUTEX_PRIVATE_FLAG, 0});
      for (size_t i = 0; i < active.size() && i < kMaxWords; i++)
        vec.push_back(futex_waitv{active[i]->expected_, reinterpret_cast<uint64_t>(active[i]->word), FUTEX_32, 0});
      bool poll = !haveWaitv || active.size() > kMaxWords;
      if (poll) next = std::min(next, now + kPollMs);
      timespec abs{}, *tp = nullptr;
      if (next != UINT64_MAX) {
        abs.tv_sec = static_cast<time_t>(next / 1000);
        abs.tv_nsec = static_cast<long>((next % 1000) * 1000000);
        tp = &abs;
      }
      if (haveWaitv) {
        long r = syscall(SYS_futex_waitv, vec.data(), static_cast<unsigned>(vec.size()), 0, tp, CLOCK_MONOTONIC);
        if (r < 0 && errno == ENOSYS) haveWaitv = false;
      } else {
        int left = next == UINT64_MAX ? -1 : static_cast<int>(next > now ? next - now : 0);
        FutexWait(reinterpret_cast<uint32_t*>(&ctl_), seen, left < 0 || left > kPollMs ? kPollMs : left);
      }
    }
  }

  // JS thread (env set) or TSFN teardown (env null: the hook already released it).
  static void CallJs(napi_env env, napi_value, void* ctx, void* data) {
    auto* self = static_cast<FutexWaiter*>(ctx);
    auto* w = static_cast<ThreadWait*>(data);
    if (!env || !self->live_.erase(w)) return;  // released by Teardown: pointer not read
    if (self->live_.empty()) napi_unref_threadsafe_function(env, self->tsfn_);
    RegionHandle* h = w->h_;
    h->RemoveWait(w);
    if (!h->tearingDown()) {
      napi_value cb, global, arg;
      if (napi_get_reference_value(env, w->cb_, &cb) == napi_ok && cb && napi_get_global(env, &global) == napi_ok &&
          napi_create_int32(env, w->result_, &arg) == napi_ok &&
          napi_call_function(env, global, cb, 1, &arg, nullptr) == napi_pending_exception) {
        napi_value err;
        if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
      }
    }
    napi_delete_reference(env, w->cb_);
    delete w;
    h->Release();
  }

  // Environment cleanup (worker termination, exit): no JS runs any more.
  static void Teardown(void* arg) {
    auto* self = static_cast<FutexWaiter*>(arg);
    self->stop_.store(true, std::memory_order_release);
    self->Poke();
    if (self->thread_.joinable()) self->thread_.join();
    for (ThreadWait* w : self->live_) {
      RegionHandle* h = w->h_;
      h->RemoveWait(w);
      delete w;
      h->Release();
    }
    self->live_.clear();
    State(Napi::Env(self->env_))->futexWaiter = nullptr;
    // Queued completions reach CallJs with a null env and are skipped; the
    // finalizer then deletes the waiter.
    napi_release_threadsafe_function(self->tsfn_, napi_tsfn_abort);
  }

  static void Finalize(napi_env, void* data, void*) { delete static_cast<FutexWaiter*>(data); }

  napi_env env_;
  napi_threadsafe_function tsfn_ = nullptr;
  std::thread thread_;
  std::atomic<uint32_t> ctl_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<ThreadWait*> incoming_;  // mu_
  std::unordered_set<ThreadWait*> live_;  // JS thread only
};

void ThreadWait::Cancel() {
  // release: the waiter's acquire load of `cancel` sees it after the poke.
  cancel.store(true, std::memory_order_release);
  if (waiter_) waiter_->Poke();
}

// futexWaitAsync(handle, offset, expected, timeoutMs, cb(result)) -> 0 | -errno.
// result: 0 (value changed / woken), -ETIMEDOUT or -ECANCELED.
Napi::Value WaitPool(const Napi::CallbackInfo& info) {
  RegionHandle* h;
  int err;
  uint32_t* w = WordArg(info, &h, &err);
  if (!w) return Num(info.Env(), err);
  if (!info[4].IsFunction()) return Num(info.Env(), -EINVAL);
  FutexWaiter* waiter = FutexWaiter::Get(info.Env());
  if (!waiter) return Num(info.Env(), -ENOMEM);
  auto* op = new ThreadWait(h, w, info[2].As<Napi::Number>().Uint32Value(),
                            info[3].As<Napi::Number>().Int32Value(), info.Env(), info[4]);
  waiter->Add(op);
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
// JS must have started the thread's loop (lib/internal/loop.ts) to get the event.
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
// C++ peer may rely on (see msgring_layout.h).
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
