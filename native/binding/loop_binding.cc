// Size (~456 lines): the loop's wake protocol (prepare/check/dispatch, rules in core/uring_loop.h) kept in one file so its steps read in order.
#include "loop_binding.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace rw {
namespace {
// RINGWIRE_URING_WAKE: unset/'auto'/'ringfd' -> the ring fd mode (the
// default, by the reasoning in uring_loop.h); 'eventfd' -> try the
// DEFER_TASKRUN + eventfd mode first. Either falls back when its self-check
// fails.
const char* RequestedWake() {
  const char* m = getenv("RINGWIRE_URING_WAKE");
  if (m && strcmp(m, "eventfd") == 0) return "eventfd";
  if (m && strcmp(m, "ringfd") == 0) return "ringfd";
  return "auto";
}

// RINGWIRE_TEST_FAULTS (tests only): comma-separated
//   init-fail=<mode>  register-eventfd-fail  drop-wake=<mode>
//   late-wake=<mode>:<ms>  prepare-delay-us=<n>  reap-delay-us=<n>
//   direct-cancel-delay=<n>  direct-send-split
WakeFaults ParseFaults() {
  WakeFaults f;
  const char* env = getenv("RINGWIRE_TEST_FAULTS");
  if (!env) return f;
  std::string all(env);
  size_t pos = 0;
  auto modeOf = [](const std::string& v) { return v.rfind("eventfd", 0) == 0 ? 0 : 1; };
  while (pos <= all.size()) {
    size_t end = all.find(',', pos);
    if (end == std::string::npos) end = all.size();
    std::string item = all.substr(pos, end - pos);
    size_t eq = item.find('=');
    std::string key = item.substr(0, eq), val = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "init-fail") f.failInit[modeOf(val)] = true;
    else if (key == "register-eventfd-fail") f.failRegisterEventfd = true;
    else if (key == "drop-wake") f.dropWake[modeOf(val)] = true;
    else if (key == "late-wake") {
      size_t c = val.find(':');
      f.lateWakeMs[modeOf(val)] = c == std::string::npos ? 50 : atoi(val.c_str() + c + 1);
    } else if (key == "prepare-delay-us") f.prepareDelayUs = atoi(val.c_str());
    else if (key == "reap-delay-us") f.reapDelayUs = atoi(val.c_str());
    else if (key == "direct-cancel-delay") f.directCancelDelay = atoi(val.c_str());
    else if (key == "direct-send-split") f.directSendSplit = true;
    pos = end + 1;
  }
  return f;
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
  // Each candidate mode is set up and its wake rule checked end to end
  // before any socket can use the ring; the first that passes is kept.
  requestedWake_ = RequestedWake();
  WakeFaults faults = ParseFaults();
  std::vector<WakeMode> modes;
  if (strcmp(requestedWake_, "eventfd") == 0) modes.push_back(WakeMode::kEventfd);
  modes.push_back(WakeMode::kRingFd);
  uringError_ = -ENOSYS;
  for (WakeMode m : modes) {
    WakeAttempt a{m, uring_.Init(1024, m, faults), WakeCheck{}};
    if (a.setup == 0) {
      uring_.SelfCheck(&a.check);
      if (!a.check.passed) uring_.Shutdown();
    }
    attempts_.push_back(a);
    if (a.setup < 0) {
      uringError_ = a.setup;
      continue;
    }
    if (a.check.passed) {
      uringError_ = 0;
      break;
    }
    // No mode with a working wake path: the sockets use the epoll backend.
    uringError_ = a.check.err < 0 ? a.check.err : -EIO;
  }
  *uring_.stats() = UringLoopStats{};  // the check's own calls are not the user's
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
  uv_idle_init(uvLoop_, &idle_);
  idle_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&idle_));
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
  h->id = owned_.Add(h);
  return h->id;
}

void LoopBinding::Remove(int id) {
  LoopOwned* h = owned_.Remove(id);
  if (!h) return;
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

bool LoopBinding::Quiescent() {
  if (!flush_.empty() || eventCount_ || !dirty_.empty()) return false;
  return uringError_ != 0 || (!uring_.HasPending() && !uring_.CqReady());
}

void LoopBinding::Settle() {
  // Once per loop turn, right before libuv computes its poll timeout and
  // sleeps. Sends queued by JS since the last turn go out together
  // (sendmmsg per epoll socket, one io_uring_enter for the ring); what those
  // flushes complete at once (R3: an epoll send's result, an inline CQE) is
  // dispatched here, and what JS queues while handling that is flushed in
  // the next round — until nothing is left. Only then may libuv sleep: every
  // later completion wakes it by a kernel rule (uring_loop.h).
  // The lists swap with spares that keep their capacity: no allocation
  // per loop turn. Handles removed meanwhile are only deleted by Bury().
  constexpr int kRounds = 8;
  for (int round = 0; round < kRounds && !Quiescent(); round++) {
    if (!flush_.empty()) {
      flushing_.swap(flush_);
      flushingCount_ = flushing_.size();
      for (LoopOwned* h : flushing_)
        if (h) h->FlushPrepare();
      flushing_.clear();
    }
    if (uringError_ == 0) {
      uring_.Flush();
      if (uring_.CqReady()) uring_.Reap(false);
    }
    // Events raised outside a wake (a close that finished at once, a send
    // that completed or failed synchronously) are delivered here.
    if (eventCount_ || !dirty_.empty()) Dispatch();
  }
}

void LoopBinding::Prepare() {
  dispatchSeq_++;  // a new turn: its sends outside a dispatch (timers) count apart
  Settle();
  // Busy polling spins here for up to one slice and, while its budget
  // lasts, keeps the coming poll non-blocking (busy_poll.cc). It ends with
  // Settle(), so the test below sees the same state as without it.
  bool spinning = busyOn_ && BusySpin();
  // Otherwise, the adaptive poll before sleeping (adaptive_poll.cc); it
  // also ends with Settle() when it dispatched anything.
  if (!busyOn_ && Quiescent() && !uv_is_active(reinterpret_cast<uv_handle_t*>(&idle_)))
    spinning = AdaptivePoll();
  // A handler that keeps producing work (JS answering its own sends) gets a
  // non-blocking poll instead of a sleep: libuv's poll timeout is 0 while
  // an idle handle is active (uv__backend_timeout). The idle callback only
  // stops itself; this hook runs again before that poll.
  if ((spinning || !Quiescent()) && !uv_is_active(reinterpret_cast<uv_handle_t*>(&idle_)))
    uv_idle_start(&idle_, [](uv_idle_t* h) { uv_idle_stop(h); });
  if (uringError_ == 0 && uring_.faults().prepareDelayUs)
    usleep(static_cast<useconds_t>(uring_.faults().prepareDelayUs));
  Bury();
}

void LoopBinding::EndOwnedClose() {
  if (--ownedClosing_ == 0 && finishWhenOwnedClosed_) Finish();
}

void LoopBinding::Finish() {
  // The kernel lets go of every buffer and fd in queue_exit; only then
  // may the handlers free the memory those requests pointed at.
  uring_.Shutdown();
  for (LoopOwned* o : owned_.slots())
    if (o) o->Teardown();
  owned_.ClearSlots();
  Bury();
  free(events_);
  if (idleFd_ >= 0) close(idleFd_);
  napi_async_cleanup_hook_handle ch = cleanupHandle_;
  delete this;
  napi_remove_async_cleanup_hook(ch);
}

void LoopBinding::Bury() {
  std::vector<LoopOwned*> dead;
  dead.swap(graveyard_);
  for (LoopOwned* h : dead) delete h;
}

void LoopBinding::OnReadable() {
  if (uringError_) return;
  if (busyOn_) lastWorkNs_ = BusyNowNs();
  if (apMaxNs_ > 0) {
    int64_t now = BusyNowNs();
    AdaptiveWoke(now);
    apWindowStartNs_ = now;  // completions are work: the window counts from here
  }
  uring_.Reap();
  if (eventCount_ || !dirty_.empty()) Dispatch();
  Bury();
}

void LoopBinding::Dispatch() {
  if (inDispatch_ || inJs_) return;  // the running dispatch delivers these too
  inDispatch_ = true;
  dispatchSeq_++;
  if (busyOn_ && eventCount_) lastWorkNs_ = BusyNowNs();
  for (size_t i = 0; i < dirty_.size(); i++)
    if (dirty_[i]) dirty_[i]->BeforeDispatch();
  CallJs();
  // Buffers handed to JS for this batch go back to the kernel now.
  dispatched_.swap(dirty_);
  for (LoopOwned* h : dispatched_)
    if (h) h->AfterDispatch();
  dispatched_.clear();
  inDispatch_ = false;
}

void LoopBinding::CallJs() {
  if (inJs_) return;  // events raised by JS itself are picked up below
  if (!dispatch_ || jsDead_) {
    eventCount_ = delivered_ = 0;
    overflow_.clear();
    return;
  }
  // Raw N-API calls with every status checked: while a worker is being
  // terminated JS can no longer run, and node-addon-api's helpers would turn
  // that into a fatal error instead of a quiet stop.
  // Inside a busy-poll slice, the slice's handle scope and the function and
  // resource it looked up serve every dispatch (BusySpin); otherwise, a
  // scope of our own.
  napi_handle_scope hscope = nullptr;
  napi_value fn = sliceFn_, resource = sliceResource_;
  if (!fn) {
    if (napi_open_handle_scope(env_, &hscope) != napi_ok) return;
    if (!JsTarget(&fn, &resource)) {
      napi_close_handle_scope(env_, hscope);
      return;
    }
  }
  // Events JS raises while it runs (and what the microtasks run at the end
  // of each call emit: a close that completed at once, say) are appended
  // and delivered by the next round instead of being dropped by the reset
  // below.
  while (!jsDead_ && (delivered_ < eventCount_ || !overflow_.empty())) {
    if (delivered_ == eventCount_) {
      eventCount_ = delivered_ = 0;
      size_t n = overflow_.size() < kEventCapacity ? overflow_.size() : kEventCapacity;
      memcpy(events_, overflow_.data(), n * sizeof(LoopEvent));
      overflow_.erase(overflow_.begin(), overflow_.begin() + static_cast<long>(n));
      eventCount_ = static_cast<uint32_t>(n);
    }
    uint32_t start = delivered_, end = eventCount_;
    napi_value args[2];
    napi_create_uint32(env_, start, &args[0]);
    napi_create_uint32(env_, end, &args[1]);
    inJs_ = true;
    // MakeCallback semantics (async context entered, then the nextTick and
    // microtask queues drained when the call returns), as Node calls a
    // handle's callback. napi_make_callback keeps its scope on the stack;
    // napi_open_callback_scope + napi_call_function cost 0.25 us more per
    // dispatch (two heap allocations and a second TryCatch), measured with
    // rdtsc stamps in the busy UDP echo server.
    napi_status st = napi_make_callback(env_, asyncCtx_, resource, fn, 2, args, nullptr);
    inJs_ = false;
    delivered_ = end;
    if (st != napi_ok) {
      bool pending = false;
      napi_value err;
      if (napi_is_exception_pending(env_, &pending) == napi_ok && pending &&
          napi_get_and_clear_last_exception(env_, &err) == napi_ok) {
        // A throwing user callback is an uncaught exception, exactly as
        // if a Node event listener had thrown.
        if (napi_fatal_exception(env_, err) != napi_ok) jsDead_ = true;
      } else {
        jsDead_ = true;  // the environment is shutting down
      }
    }
  }
  if (hscope) napi_close_handle_scope(env_, hscope);
  eventCount_ = delivered_ = 0;
}

bool LoopBinding::JsTarget(napi_value* fn, napi_value* resource) {
  // One async context for the loop's lifetime, like a Node handle's: a
  // fresh one per wake cost more than the dispatch itself.
  if (!asyncCtx_) {
    napi_value name;
    napi_create_string_utf8(env_, "ringwire:loop", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env_, nullptr, name, &asyncCtx_);
  }
  *fn = nullptr;
  if (napi_get_reference_value(env_, dispatch_, fn) != napi_ok || !*fn) return false;
  *resource = nullptr;
  if (!resource_ || napi_get_reference_value(env_, resource_, resource) != napi_ok || !*resource) {
    // One resource object for the loop's lifetime, like a Node handle's.
    napi_create_object(env_, resource);
    if (!resource_) napi_create_reference(env_, *resource, 1, &resource_);
  }
  return true;
}

void LoopBinding::AsyncCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  auto* self = static_cast<LoopBinding*>(arg);
  self->cleanupHandle_ = handle;
  self->CloseHandles();
}

void LoopBinding::CloseHandles() {
  tornDown_ = true;
  AddonState* st = nullptr;
  if (napi_get_instance_data(env_, reinterpret_cast<void**>(&st)) == napi_ok && st) st->loop = nullptr;
  if (dispatch_) {
    napi_delete_reference(env_, dispatch_);
    dispatch_ = nullptr;
  }
  if (resource_) {
    napi_delete_reference(env_, resource_);
    resource_ = nullptr;
  }
  if (asyncCtx_) {
    napi_async_destroy(env_, asyncCtx_);
    asyncCtx_ = nullptr;
  }
  auto onClose = [](uv_handle_t* h) {
    auto* self = static_cast<LoopBinding*>(h->data);
    if (++self->closing_ < self->handlesToClose_) return;
    if (self->ownedClosing_ > 0) {
      self->finishWhenOwnedClosed_ = true;
      return;
    }
    self->Finish();
  };
  // Every handler's own uv handles (epoll sockets) must be closed before
  // the environment's loop goes away; their close callbacks count here.
  handlesToClose_ = 3;
  for (LoopOwned* o : owned_.slots())
    if (o) handlesToClose_ += o->CloseUvHandles(onClose);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), onClose);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), onClose);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), onClose);
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
  bool ok = lb->uringError() == 0;
  o.Set("deferTaskrun", ok && lb->uring().deferTaskrun());
  o.Set("taskrunFlag", ok && lb->uring().taskrunFlag());
  o.Set("uringError", Num(env, lb->uringError()));
  if (ok)
    o.Set("wake", WakeModeName(lb->uring().mode()));
  else
    o.Set("wake", env.Null());
  o.Set("requestedWake", lb->requestedWake());
  auto tried = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto& a : lb->wakeAttempts()) {
    auto t = Napi::Object::New(env);
    t.Set("mode", WakeModeName(a.mode));
    t.Set("setup", Num(env, a.setup));
    t.Set("checked", a.check.ran);
    t.Set("passed", a.check.passed);
    t.Set("sameThreadUs", Num(env, a.check.sameThreadUs));
    t.Set("crossThreadUs", Num(env, a.check.crossThreadUs));
    t.Set("err", Num(env, a.check.err));
    t.Set("why", a.check.why);
    tried.Set(i++, t);
  }
  o.Set("wakeAttempts", tried);
  return o;
}

Napi::Value LoopSetRef(const Napi::CallbackInfo& info) {
  LoopBinding* lb = LoopBinding::Existing(info.Env());
  if (lb) lb->SetRef(Flag(info[0]));
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
  InitBusyPoll(env, exports);
  InitAdaptivePoll(env, exports);
}

}  // namespace rw
