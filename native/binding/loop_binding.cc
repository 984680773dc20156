#include "loop_binding.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace rw {
namespace {
constexpr int kIndexBits = 20;
constexpr int kIndexMask = (1 << kIndexBits) - 1;

// The wake mode is chosen by measurement (bench: perf compare); the
// environment variable lets a user compare both on their machine.
WakeMode ChosenMode() {
  const char* m = getenv("RINGWIRE_URING_WAKE");
  if (m && strcmp(m, "ringfd") == 0) return WakeMode::kRingFd;
  return WakeMode::kEventfd;
}
}  // namespace

LoopBinding* LoopBinding::Get(Napi::Env env, int* err) {
  AddonState* st = State(env);
  if (st->loop) {
    *err = 0;
    return st->loop;
  }
  uv_loop_t* uvl = nullptr;
  if (napi_get_uv_event_loop(env, &uvl) != napi_ok || !uvl) {
    *err = -EINVAL;
    return nullptr;
  }
  auto* lb = new LoopBinding(env, uvl);
  *err = lb->Start();
  if (*err < 0) {
    delete lb;
    return nullptr;
  }
  st->loop = lb;
  return lb;
}

int LoopBinding::Start() {
  events_ = static_cast<LoopEvent*>(calloc(kEventCapacity, sizeof(LoopEvent)));
  if (!events_) return -ENOMEM;
  // Without io_uring (disabled, seccomp) the loop still serves the epoll
  // backend; its poll handle then watches a never-signalled eventfd, which
  // keeps ref/unref and teardown identical in both cases.
  uringError_ = uring_.Init(1024, ChosenMode());
  int pollFd = uringError_ == 0 ? uring_.PollFd() : (idleFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (pollFd < 0) return -errno;
  uv_poll_init(uvLoop_, &poll_, pollFd);
  poll_.data = this;
  uv_poll_start(&poll_, UV_READABLE, [](uv_poll_t* h, int status, int) {
    if (status < 0) return;
    static_cast<LoopBinding*>(h->data)->OnReadable();
  });
  // An idle ring must not keep the process alive; sockets ref it.
  uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  uv_prepare_init(uvLoop_, &prepare_);
  prepare_.data = this;
  uv_prepare_start(&prepare_, [](uv_prepare_t* h) {
    static_cast<LoopBinding*>(h->data)->Prepare();
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(&prepare_));
  napi_add_async_cleanup_hook(env_, AsyncCleanup, this, &cleanupHandle_);
  return 0;
}

void LoopBinding::SetRef(bool ref) {
  if (tornDown_) return;
  if (ref)
    uv_ref(reinterpret_cast<uv_handle_t*>(&poll_));
  else
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
}

int LoopBinding::Add(LoopOwned* h) {
  int index;
  if (!freeIds_.empty()) {
    index = freeIds_.back();
    freeIds_.pop_back();
    gens_[index] = (gens_[index] + 1) & 0x3ff;
  } else {
    index = static_cast<int>(owned_.size());
    owned_.push_back(nullptr);
    gens_.push_back(0);
  }
  owned_[index] = h;
  h->id = static_cast<int>(gens_[index] << kIndexBits) | index;
  return h->id;
}

LoopOwned* LoopBinding::Find(int id) const {
  if (id < 0) return nullptr;
  size_t index = static_cast<size_t>(id & kIndexMask);
  if (index >= owned_.size()) return nullptr;
  LoopOwned* h = owned_[index];
  return h && h->id == id ? h : nullptr;
}

void LoopBinding::Remove(int id) {
  LoopOwned* h = Find(id);
  if (!h) return;
  int index = id & kIndexMask;
  owned_[index] = nullptr;
  freeIds_.push_back(index);
  for (auto& d : dirty_)
    if (d == h) d = nullptr;
  for (auto& d : flush_)
    if (d == h) d = nullptr;
}

void LoopBinding::Emit(int32_t id, int32_t kind, int32_t a, int32_t b) {
  if (eventCount_ == kEventCapacity) {
    // A full buffer goes to JS early (descriptors stay valid until
    // AfterDispatch); while JS is still reading it, events wait aside.
    if (inJs_) {
      overflow_.push_back(LoopEvent{id, kind, a, b});
      return;
    }
    CallJs();
  }
  events_[eventCount_++] = LoopEvent{id, kind, a, b};
}

void LoopBinding::MarkDirty(LoopOwned* h) { dirty_.push_back(h); }

void LoopBinding::Prepare() {
  // Once per loop turn, before libuv blocks: sends queued by JS since the
  // last turn go out together (sendmmsg per epoll socket, one
  // io_uring_enter for the ring).
  if (!flush_.empty()) {
    std::vector<LoopOwned*> list;
    list.swap(flush_);
    for (LoopOwned* h : list)
      if (h) h->FlushPrepare();
  }
  // Events raised outside a wake (a close that finished at once, a send
  // that failed synchronously) are delivered here, before libuv blocks.
  if (eventCount_ || !dirty_.empty()) Dispatch();
  if (uringError_ == 0) uring_.Flush();
}

void LoopBinding::OnReadable() {
  if (uringError_) return;
  uring_.Reap();
  if (eventCount_ || !dirty_.empty()) Dispatch();
}

void LoopBinding::Dispatch() {
  if (inDispatch_ || inJs_) return;  // the running dispatch delivers these too
  inDispatch_ = true;
  for (size_t i = 0; i < dirty_.size(); i++)
    if (dirty_[i]) dirty_[i]->BeforeDispatch();
  CallJs();
  // Buffers handed to JS for this batch go back to the kernel now.
  std::vector<LoopOwned*> dirty;
  dirty.swap(dirty_);
  for (LoopOwned* h : dirty)
    if (h) h->AfterDispatch();
  inDispatch_ = false;
}

void LoopBinding::CallJs() {
  if (inJs_) return;  // events raised by JS itself are picked up below
  if (dispatch_.IsEmpty()) {
    eventCount_ = delivered_ = 0;
    overflow_.clear();
    return;
  }
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  // A callback scope gives MakeCallback semantics: the microtask queue
  // (promise reactions) runs once when the outermost scope closes.
  napi_async_context ctx = nullptr;
  napi_async_init(env_, nullptr, Napi::String::New(env, "ringwire:loop"), &ctx);
  {
    Napi::CallbackScope cbScope(env, ctx);
    // Events JS raises while it runs (a close that completes at once, a
    // failed send) are appended and delivered by the next round.
    while (delivered_ < eventCount_ || !overflow_.empty()) {
      if (delivered_ == eventCount_) {
        eventCount_ = delivered_ = 0;
        size_t n = overflow_.size() < kEventCapacity ? overflow_.size() : kEventCapacity;
        memcpy(events_, overflow_.data(), n * sizeof(LoopEvent));
        overflow_.erase(overflow_.begin(), overflow_.begin() + static_cast<long>(n));
        eventCount_ = static_cast<uint32_t>(n);
      }
      uint32_t start = delivered_, end = eventCount_;
      inJs_ = true;
      dispatch_.Call({Napi::Number::New(env, start), Napi::Number::New(env, end)});
      inJs_ = false;
      delivered_ = end;
      if (env.IsExceptionPending()) {
        // A throwing user callback is an uncaught exception, exactly as if
        // a Node event listener had thrown.
        Napi::Error e = env.GetAndClearPendingException();
        napi_fatal_exception(env_, e.Value());
      }
    }
  }
  napi_async_destroy(env_, ctx);
  eventCount_ = delivered_ = 0;
}

void LoopBinding::AsyncCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  auto* self = static_cast<LoopBinding*>(arg);
  self->cleanupHandle_ = handle;
  self->CloseHandles();
}

void LoopBinding::CloseHandles() {
  tornDown_ = true;
  State(Napi::Env(env_))->loop = nullptr;
  dispatch_.Reset();
  auto onClose = [](uv_handle_t* h) {
    auto* self = static_cast<LoopBinding*>(h->data);
    if (++self->closing_ < self->handlesToClose_) return;
    // The kernel lets go of every buffer and fd in queue_exit; only then
    // may the handlers free the memory those requests pointed at.
    self->uring_.Shutdown();
    for (LoopOwned* o : self->owned_)
      if (o) o->Teardown();
    self->owned_.clear();
    free(self->events_);
    if (self->idleFd_ >= 0) close(self->idleFd_);
    napi_async_cleanup_hook_handle ch = self->cleanupHandle_;
    delete self;
    napi_remove_async_cleanup_hook(ch);
  };
  // Every handler's own uv handles (epoll sockets) must be closed before
  // the environment's loop goes away; their close callbacks count here.
  handlesToClose_ = 2;
  for (LoopOwned* o : owned_)
    if (o) handlesToClose_ += o->CloseUvHandles(onClose);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), onClose);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), onClose);
}

Napi::ArrayBuffer LoopBinding::EventsBuffer(Napi::Env env) {
  return Napi::ArrayBuffer::New(env, events_, kEventCapacity * sizeof(LoopEvent));
}

Napi::ArrayBuffer LoopBinding::StatsBuffer(Napi::Env env) {
  return Napi::ArrayBuffer::New(env, uring_.stats(), sizeof(UringLoopStats));
}

namespace {

// loopStart(dispatch) -> { events, stats, deferTaskrun, wake } | -errno
Napi::Value LoopStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int err = 0;
  LoopBinding* lb = LoopBinding::Get(env, &err);
  if (!lb) return Num(env, err);
  lb->SetDispatch(info[0].As<Napi::Function>());
  auto o = Napi::Object::New(env);
  o.Set("events", lb->EventsBuffer(env));
  o.Set("stats", lb->StatsBuffer(env));
  o.Set("deferTaskrun", lb->uring().deferTaskrun());
  o.Set("wake", lb->uring().mode() == WakeMode::kEventfd ? "eventfd" : "ringfd");
  return o;
}

Napi::Value LoopSetRef(const Napi::CallbackInfo& info) {
  LoopBinding* lb = LoopBinding::Existing(info.Env());
  if (lb) lb->SetRef(info[0].ToBoolean());
  return info.Env().Undefined();
}

Napi::Value LoopFlush(const Napi::CallbackInfo& info) {
  LoopBinding* lb = LoopBinding::Existing(info.Env());
  return Num(info.Env(), lb ? lb->uring().Flush() : 0);
}

}  // namespace

void InitLoop(Napi::Env env, Napi::Object exports) {
  exports.Set("loopStart", Napi::Function::New(env, LoopStart, "loopStart"));
  exports.Set("loopSetRef", Napi::Function::New(env, LoopSetRef, "loopSetRef"));
  exports.Set("loopFlush", Napi::Function::New(env, LoopFlush, "loopFlush"));
  exports.Set("loopEventSize", Num(env, sizeof(LoopEvent)));
  exports.Set("loopEventCapacity", Num(env, LoopBinding::kEventCapacity));
}

}  // namespace rw
