#include "tcp_handles.h"

#include <cstdlib>
#include <cstring>

namespace rw {

// ---- per-thread state ------------------------------------------------------------

TcpThread::~TcpThread() {
  delete pools_[0];
  delete pools_[1];
  for (TcpConnStats* c : chunks_) free(c);
}

int TcpThread::OpenPool(TcpBackend b, uint32_t count, uint32_t size) {
  int i = b == TcpBackend::kUring ? 0 : 1;
  if (pools_[i]) return 0;
  auto* p = new TcpPool(b, &lb_->uring(), &stats_);
  int ret = p->Open(count, size);
  if (ret < 0) {
    delete p;
    return ret;
  }
  pools_[i] = p;
  return 0;
}

TcpConnStats* TcpThread::Chunk(uint32_t index) {
  if (index >= chunks_.size()) chunks_.resize(index + 1, nullptr);
  if (!chunks_[index]) chunks_[index] = static_cast<TcpConnStats*>(calloc(kChunkSlots, sizeof(TcpConnStats)));
  return chunks_[index];
}

TcpConnStats* TcpThread::Slot(int id) {
  uint32_t index = static_cast<uint32_t>(id & kTcpIndexMask);
  TcpConnStats* chunk = Chunk(index / kChunkSlots);
  if (!chunk) return nullptr;
  TcpConnStats* s = &chunk[index % kChunkSlots];
  *s = TcpConnStats{};
  return s;
}

void TcpThread::AfterDispatch() {
  // JS has seen every data event of this batch: buffers go back to the
  // kernel and starved receives are armed again.
  dirty_ = false;
  for (TcpPool* p : pools_)
    if (p) p->Recycle();
}

// ---- connections ---------------------------------------------------------------------

void TcpConnHandle::Start() {
  if (TcpConnStats* s = t_->Slot(id)) conn_.SetStats(s);
  t_->stats()->active++;
  if (conn_.backend() == TcpBackend::kEpoll) {
    UpdatePoll();
  } else if (conn_.connected() && conn_.wantsRead()) {
    conn_.SetReading(true);
  }
}

void TcpConnHandle::OnConnData(uint32_t offset, uint32_t len) {
  lb_->Emit(id, kTcpEvData, static_cast<int32_t>(offset), static_cast<int32_t>(len));
  t_->MarkDirty();
  // Bytes from the multishot while the thread spins: a hot connection,
  // moved to the direct receive if there is room (tcp_direct.cc).
  if (!busyRegistered_ && !closed_ && conn_.backend() == TcpBackend::kUring && conn_.wantsRead() &&
      lb_->TakeDirectSlot(len)) {
    conn_.EnterDirect();
    lb_->AddBusySource(this);
    busyRegistered_ = true;
    idleSpins_ = 0;
  }
}

bool TcpConnHandle::BusyReady() {
  if (closed_) return false;
  lb_->CountBusySyscall();
  int r = conn_.ReceiveDirect();
  if (r > 0) {
    idleSpins_ = 0;
    // A bulk read under the adaptive poll: back to the multishot's large
    // batches (LoopBinding::kDirectBulkBytes); this read is delivered.
    if (static_cast<uint32_t>(r) >= LoopBinding::kDirectBulkBytes && !lb_->busyPolling()) LeaveDirect();
    return true;
  }
  if (r == -EAGAIN && conn_.wantsRead() && ++idleSpins_ < LoopBinding::kDirectIdleSpins) return false;
  // EOF, an error, a full direct region, a paused or idle connection: what
  // was raised is delivered, and the connection leaves the spin (a full
  // region comes back with its next multishot bytes); a re-armed multishot
  // is submitted now, since no Settle follows an empty poll.
  LeaveDirect();
  if (r == -EAGAIN) lb_->uring().Flush();
  return r != -EAGAIN;
}

void TcpConnHandle::BusyRun() { lb_->Dispatch(); }

void TcpConnHandle::BusyLeave() { LeaveDirect(); }

void TcpConnHandle::LeaveDirect() {
  if (!busyRegistered_) return;
  busyRegistered_ = false;
  lb_->ReturnDirectSlot();
  lb_->RemoveBusySource(this);
  conn_.LeaveDirect();
}

void TcpConnHandle::SetReading(bool on) {
  conn_.SetReading(on);
  UpdatePoll();
}

void TcpConnHandle::UpdatePoll() {
  if (conn_.backend() != TcpBackend::kEpoll || closed_) return;
  if (!pollInit_) {
    // The fd is already non-blocking; uv_poll_init checks it is pollable.
    if (uv_poll_init(lb_->uvLoop(), &poll_, conn_.fd()) != 0) return;
    poll_.data = this;
    pollInit_ = true;
    // The loop's own handle keeps the process alive, not each socket.
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  }
  int events = (conn_.wantsRead() ? UV_READABLE : 0) | (conn_.wantsWrite() ? UV_WRITABLE : 0);
  if (events == pollEvents_) return;
  pollEvents_ = events;
  if (!events) {
    uv_poll_stop(&poll_);
    return;
  }
  uv_poll_start(&poll_, events, [](uv_poll_t* h, int status, int ev) {
    static_cast<TcpConnHandle*>(h->data)->OnPoll(status, ev);
  });
}

void TcpConnHandle::OnPoll(int status, int events) {
  if (closed_) return;
  // A poll error surfaces through the next recv/send/SO_ERROR.
  if (status < 0) events = pollEvents_;
  if (events & UV_WRITABLE) {
    if (conn_.connecting())
      conn_.FinishConnect();
    else
      conn_.Writable();
  }
  if (events & UV_READABLE) {
    // Bounded per wake, like libuv's own read loop; level-triggered epoll
    // brings us back for the rest.
    for (int round = 0; round < 4 && !closed_; round++) {
      int r = conn_.ReadSome();
      if (r == -ENOBUFS) {
        // The pool is full of bytes JS has not seen: hand them over now
        // (they are recycled right after), then go on reading.
        lb_->Dispatch();
        continue;
      }
      if (r < 65536) break;
    }
  }
  // Deletion of an epoll handle always waits for uv_close, so `this` is
  // still valid even if JS closed it during the dispatch above.
  if (!closed_) UpdatePoll();
}

void TcpConnHandle::FlushPrepare() {
  conn_.Flush(lb_->directFlush());
  UpdatePoll();
}

void TcpConnHandle::Close(bool reset) {
  if (closed_) return;
  closed_ = true;
  if (busyRegistered_) {
    // Closing: off the spin, and no multishot re-armed only to be cancelled.
    busyRegistered_ = false;
    lb_->ReturnDirectSlot();
    lb_->RemoveBusySource(this);
  }
  if (pollInit_ && pollEvents_) uv_poll_stop(&poll_);
  pollEvents_ = 0;
  conn_.Close(reset);  // may delete this (io_uring, nothing in flight)
}

void TcpConnHandle::OnConnIdle() {
  int myId = id;
  TcpStats* s = t_->stats();
  s->active--;
  s->closed++;
  lb_->Remove(myId);
  if (pollInit_) {
    // uv_close stops the poll (epoll_ctl DEL) at once, so the fd can close
    // now - JS sees Close only when the fd is really gone; the handle's
    // memory waits for libuv's close callback.
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* h) {
      delete static_cast<TcpConnHandle*>(h->data);
    });
    conn_.Teardown();
    lb_->Emit(myId, kTcpEvClosed, 0, 0);
  } else {
    lb_->Emit(myId, kTcpEvClosed, 0, 0);
    delete this;  // closes the fd
  }
}

int TcpConnHandle::CloseUvHandles(uv_close_cb cb) {
  if (!pollInit_ || uv_is_closing(reinterpret_cast<uv_handle_t*>(&poll_))) return 0;
  poll_.data = lb_;  // the loop's close callback reads its LoopBinding here
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), cb);
  return 1;
}

// ---- listeners --------------------------------------------------------------------------

void TcpListenerHandle::Start() {
  if (closed_) return;
  if (backend_ == TcpBackend::kUring) {
    listener_.Start();
    return;
  }
  if (!pollInit_) {
    if (uv_poll_init(lb_->uvLoop(), &poll_, listener_.fd()) != 0) return;
    poll_.data = this;
    pollInit_ = true;
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  }
  uv_poll_start(&poll_, UV_READABLE, [](uv_poll_t* h, int status, int) {
    auto* self = static_cast<TcpListenerHandle*>(h->data);
    if (status < 0 || self->closed_) return;
    // Out of fds or memory: stop polling (level-triggered readiness would
    // spin); JS starts accepting again after a pause.
    if (self->listener_.AcceptSome() < 0) uv_poll_stop(&self->poll_);
  });
}

void TcpListenerHandle::Pause() {
  if (closed_) return;
  if (backend_ == TcpBackend::kUring)
    listener_.Pause();
  else if (pollInit_)
    uv_poll_stop(&poll_);
}

void TcpListenerHandle::Close() {
  if (closed_) return;
  closed_ = true;
  if (pollInit_) uv_poll_stop(&poll_);
  listener_.Close();  // may delete this
}

void TcpListenerHandle::OnAccept(int fd) {
  auto* h = new TcpConnHandle(t_, backend_);
  h->conn().Adopt(fd);
  h->conn().SetZeroCopyThreshold(zc_);
  // pauseOnConnect: a receive armed here would complete with the bytes
  // already queued before JS could stop it; libuv reads nothing until
  // readStart, so neither do we.
  if (pauseOnConnect_) h->conn().SetReading(false);
  int connId = lb_->Add(h);
  t_->stats()->accepted++;
  h->Start();
  lb_->Emit(id, kTcpEvAccept, connId, 0);
}

void TcpListenerHandle::OnAcceptError(int err) {
  lb_->Emit(id, kTcpEvError, err, kTcpOpAccept);
}

void TcpListenerHandle::OnListenerIdle() {
  int myId = id;
  lb_->Remove(myId);
  if (pollInit_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* h) {
      delete static_cast<TcpListenerHandle*>(h->data);
    });
    listener_.Teardown();  // as for connections: the fd goes now
    lb_->Emit(myId, kTcpEvClosed, 0, 0);
  } else {
    lb_->Emit(myId, kTcpEvClosed, 0, 0);
    delete this;
  }
}

int TcpListenerHandle::CloseUvHandles(uv_close_cb cb) {
  if (!pollInit_ || uv_is_closing(reinterpret_cast<uv_handle_t*>(&poll_))) return 0;
  poll_.data = lb_;
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), cb);
  return 1;
}

}  // namespace rw
