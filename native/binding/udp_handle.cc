#include "udp_handle.h"

namespace rw {

int UdpHandle::Open(const UdpConfig& cfg) {
  int ret = sock_.Open(cfg);
  if (ret < 0) return ret;
  if (sock_.backend() == Backend::kEpoll) {
    uv_poll_init(lb_->uvLoop(), &poll_, sock_.fd());
    poll_.data = this;
    pollInit_ = true;
    // The loop's own handle keeps the process alive; this one never does.
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  }
  return 0;
}

int UdpHandle::StartReceiving() {
  if (sock_.backend() == Backend::kEpoll) {
    pollEvents_ |= UV_READABLE;
    return UpdatePoll();
  }
  return sock_.StartReceiving();
}

int UdpHandle::Send(const uint8_t* data, uint32_t len, const sockaddr* to, socklen_t tolen,
                    uint32_t token, bool* keep) {
  // Queued for the turn's flush, which sends directly or hands them to the
  // ring in order (LoopBinding::directFlush). The first datagram of a JS
  // dispatch on a socket with nothing queued leaves at once instead, as
  // node:dgram's uv_udp_try_send does, while the loop flushes few handles
  // per turn (eagerSend): an echo's reply then goes before the rest of the
  // dispatch and the callback scope's tick and microtask queues. The rest
  // of the dispatch's datagrams queue behind it and leave together (one
  // sendmmsg or one enter): at most one system call more per dispatch.
  bool wasEmpty = !sock_.hasQueuedSends();
  int ret = sock_.Send(data, len, to, tolen, token, keep, true);
  if (ret == 0 && wasEmpty && !flushQueued_ && lb_->eagerSend() && lb_->FirstSendOfRound(&eagerSeq_)) FlushPrepare();
  if (ret == 0 && sock_.hasQueuedSends() && !flushQueued_) {
    flushQueued_ = true;
    lb_->WantFlush(this);
  }
  return ret;
}

void UdpHandle::Close(Napi::Env env) {
  if (closed_) return;
  closed_ = true;
  if (busyRegistered_) {
    // Closing: off the spin; the close cancels the receive anyway.
    busyRegistered_ = false;
    lb_->ReturnDirectSlot();
    lb_->RemoveBusySource(this);
  }
  // JS can never touch the pool, descriptors or counters again.
  for (napi_ref& ref : views_) {
    if (!ref) continue;
    napi_value v = nullptr;
    bool detached = true;
    if (napi_get_reference_value(env, ref, &v) == napi_ok && v &&
        napi_is_detached_arraybuffer(env, v, &detached) == napi_ok && !detached)
      napi_detach_arraybuffer(env, v);
    napi_delete_reference(env, ref);
    ref = nullptr;
  }
  sock_.Close();
}

void UdpHandle::SetViews(napi_env env, std::initializer_list<napi_value> views) {
  int i = 0;
  for (napi_value v : views) napi_create_reference(env, v, 0, &views_[i++]);
}

void UdpHandle::KeepStats(napi_env env, napi_value arr, UdpStats* mem) {
  if (napi_create_reference(env, arr, 1, &statsRef_) == napi_ok) sock_.SetStatsMemory(mem);
}

void UdpHandle::OnRecvReady() {
  if (!dirty_) {
    dirty_ = true;
    lb_->MarkDirty(this);
  }
  // Datagrams from the multishot while the thread spins: the socket moves
  // to the direct receive if the thread has a slot ("Direct receive" in
  // udp_engines.cc); its cancel goes out with the Settle that follows.
  if (!busyRegistered_ && !closed_ && sock_.backend() == Backend::kUring && !sock_.direct() &&
      lb_->TakeDirectSlot()) {
    sock_.EnterDirect();
    if (!sock_.direct()) {
      lb_->ReturnDirectSlot();
      return;
    }
    lb_->AddBusySource(this);
    busyRegistered_ = true;
    idleSpins_ = 0;
  }
}

void UdpHandle::OnSent(uint32_t token, int res) {
  lb_->Emit(id, kUdpEvSent, static_cast<int32_t>(token), res);
}

void UdpHandle::OnRecvError(int err) { lb_->Emit(id, kUdpEvRecvError, err, 0); }

// Nothing is in flight any more: free the fd, pool and buffer ring now,
// so a resolved close() means the resources are gone, then tell JS.
void UdpHandle::OnIdle() {
  lb_->Remove(id);
  if (pollInit_) {
    // The fd may close only after libuv has forgotten it.
    lb_->BeginOwnedClose();
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* h) {
      auto* self = static_cast<UdpHandle*>(h->data);
      LoopBinding* lb = self->lb_;
      self->sock_.Teardown();
      if (!lb->tornDown()) lb->Emit(self->id, kUdpEvClosed, 0, 0);
      delete self;
      lb->EndOwnedClose();
    });
  } else {
    sock_.Teardown();
    lb_->Emit(id, kUdpEvClosed, 0, 0);
    lb_->DeleteLater(this);  // we may be inside our own OnCqe
  }
}

void UdpHandle::BeforeDispatch() {
  if (sock_.pendingDescs()) {
    sock_.stats()->batches++;
    lb_->Emit(id, kUdpEvRecv, static_cast<int32_t>(sock_.pendingDescs()), 0);
  }
}

void UdpHandle::AfterDispatch() {
  dirty_ = false;
  sock_.Recycle();
}

void UdpHandle::FlushPrepare() {
  flushQueued_ = false;
  int ret = sock_.FlushSends(lb_->directFlush());
  bool wantWrite = ret == -EAGAIN;
  if (wantWrite != ((pollEvents_ & UV_WRITABLE) != 0)) {
    pollEvents_ = wantWrite ? (pollEvents_ | UV_WRITABLE) : (pollEvents_ & ~UV_WRITABLE);
    UpdatePoll();
  }
}

int UdpHandle::CloseUvHandles(uv_close_cb cb) {
  if (!pollInit_ || uv_is_closing(reinterpret_cast<uv_handle_t*>(&poll_))) return 0;
  // The loop's close callback reads the LoopBinding from handle->data.
  poll_.data = lb_;
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), cb);
  return 1;
}

UdpHandle::~UdpHandle() {
  if (busyRegistered_) lb_->RemoveBusySource(this);
  sock_.Teardown();
  // On the JS thread (Bury, uv close callback); at teardown the whole
  // environment, references included, is going away anyway.
  if (statsRef_ && !lb_->tornDown()) napi_delete_reference(lb_->env(), statsRef_);
}

int UdpHandle::UpdatePoll() {
  if (!pollInit_ || closed_) return 0;
  if (!pollEvents_) return uv_poll_stop(&poll_);
  return uv_poll_start(&poll_, pollEvents_, [](uv_poll_t* h, int status, int events) {
    auto* self = static_cast<UdpHandle*>(h->data);
    if (status < 0) return;
    if (events & UV_WRITABLE) self->FlushPrepare();
    if (events & UV_READABLE) self->OnEpollReadable();
  });
}

void UdpHandle::OnEpollReadable() {
  // Bounded: a flooded socket yields to the rest of the loop after a few
  // pool-fulls, like libuv's own 32-datagram read budget.
  for (int round = 0; round < 8 && !closed_; round++) {
    // A short recvmmsg means the queue is drained: no extra call just to
    // collect EAGAIN (one syscall per wake saved on ping-pong).
    bool drained = false;
    while (!drained && sock_.ReceiveBatch(&drained) > 0) {
    }
    if (!sock_.pendingDescs()) break;
    OnRecvReady();
    lb_->Dispatch();
    if (drained) break;
  }
}

bool UdpHandle::BusyReady() {
  if (closed_) return false;
  lb_->CountBusySyscall();
  int r = sock_.ReceiveDirect();
  if (r > 0) {
    idleSpins_ = 0;
    return true;
  }
  if (r < 0 && r != -EAGAIN && r != -EINTR) {
    OnRecvError(r);  // e.g. ECONNREFUSED on a connected socket
    return true;     // BusyRun delivers it
  }
  if (++idleSpins_ >= LoopBinding::kDirectIdleSpins) {
    // Quiet: back to the multishot, submitted now (no Settle follows an
    // empty poll), and the slot goes to the next socket that receives.
    LeaveDirect();
    lb_->uring().Flush();
  }
  return false;
}

void UdpHandle::BusyRun() {
  OnRecvReady();
  lb_->Dispatch();
}

void UdpHandle::BusyLeave() { LeaveDirect(); }

void UdpHandle::LeaveDirect() {
  if (!busyRegistered_) return;
  busyRegistered_ = false;
  lb_->ReturnDirectSlot();
  lb_->RemoveBusySource(this);
  sock_.LeaveDirect();
}

}  // namespace rw
