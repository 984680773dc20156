#include "zf_core.h"

#ifdef RINGWIRE_HAVE_TCPDIRECT

#include <netinet/tcp.h>
#include <zf/zf.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>

namespace rw {
namespace zf {

namespace {

// zf_init() sets process-wide state (logging, the control-plane handle):
// once per process, whatever the number of JS threads.
int InitOnce() {
  static std::mutex mu;
  static bool done = false;
  static int result = 0;
  std::lock_guard<std::mutex> lock(mu);
  if (!done) {
    result = zf_init();
    done = true;
  }
  return result;
}

// Our own iovec arrays after TCPDirect's message headers (see kIov).
struct UdpMsg {
  zfur_msg msg;
  iovec iov[kIov];
};
struct TcpMsg {
  zft_msg msg;
  iovec iov[kIov];
};
static_assert(offsetof(UdpMsg, iov) == offsetof(zfur_msg, iov), "iov must follow zfur_msg's header");
static_assert(offsetof(TcpMsg, iov) == offsetof(zft_msg, iov), "iov must follow zft_msg's header");

constexpr int kReactorRounds = 64;  // bound on reactor calls per Poll
constexpr size_t kMaxPeers = 16;    // zfut per UDP socket (one per destination)

}  // namespace

ProbeResult Probe() {
  ProbeResult r;
  r.version = zf_version_short();
  r.init = InitOnce();
  if (r.init < 0) return r;
  zf_attr* attr = nullptr;
  if ((r.stack = zf_attr_alloc(&attr)) < 0) return r;
  zf_stack* st = nullptr;
  r.stack = zf_stack_alloc(attr, &st);
  if (r.stack == 0) zf_stack_free(st);
  zf_attr_free(attr);
  return r;
}

int Stack::Open(const char** step) {
  int r;
  *step = "zf_init";
  if ((r = InitOnce()) < 0) return r;
  *step = "zf_attr_alloc";
  if ((r = zf_attr_alloc(&attr_)) < 0) return r;
  *step = "zf_stack_alloc";
  if ((r = zf_stack_alloc(attr_, &st_)) < 0) {
    st_ = nullptr;
    Close();
    return r;
  }
  if ((r = zf_waitable_fd_get(st_, &fd_)) < 0) {
    // Not fatal: the binding then polls the reactor on a timer instead.
    fd_ = -1;
    waitErr_ = r;
  }
  pool_.resize(kPoolBytes);
  return 0;
}

void Stack::Close() {
  // Zockets before the stack (zf_stack_free releases the waitable fd too).
  for (size_t i = 0; i < entries_.size(); i++) Free(static_cast<int>(i + 1));
  entries_.clear();
  if (st_) zf_stack_free(st_);
  if (attr_) zf_attr_free(attr_);
  st_ = nullptr;
  attr_ = nullptr;
  fd_ = -1;
}

int Stack::Prime() { return st_ && fd_ >= 0 ? zf_waitable_fd_prime(st_) : -EBADF; }

bool Stack::HasPendingWork() const { return st_ && zf_stack_has_pending_work(st_); }

Stack::Entry* Stack::Get(int id, Type t) {
  if (id < 1 || static_cast<size_t>(id) > entries_.size()) return nullptr;
  Entry& e = entries_[id - 1];
  return e.type == t ? &e : nullptr;
}

int Stack::Add(Entry&& e) {
  entries_.push_back(std::move(e));
  return static_cast<int>(entries_.size());
}

bool Stack::Push(int id, int kind, int a, int b, int c, int d) {
  records.push_back(Record{id, kind, a, b, c, d});
  return true;
}

uint32_t Stack::Poll() {
  if (!st_) return 0;
  size_t before = records.size();
  full_ = false;
  // Process everything the NIC (and the TCP timers) left for us.
  for (int i = 0; i < kReactorRounds; i++) {
    zf_reactor_perform(st_);
    if (!zf_stack_has_pending_work(st_)) break;
  }
  for (size_t i = 0; i < entries_.size() && !full_; i++) {
    Entry& e = entries_[i];
    int id = static_cast<int>(i + 1);
    if (e.type == Type::kUdp) PollUdp(id, e);
    else if (e.type == Type::kListener) PollListener(id, e);
    else if (e.type == Type::kConn) PollConn(id, e);
  }
  return static_cast<uint32_t>(records.size() - before);
}

// ---- UDP --------------------------------------------------------------------

int Stack::UdpOpen() {
  Entry e;
  e.type = Type::kUdp;
  int r = zfur_alloc(&e.ur, st_, attr_);
  if (r < 0) return r;  // -ENOBUFS: the stack's max_udp_rx_endpoints are in use
  return Add(std::move(e));
}

int Stack::UdpBind(int id, sockaddr_in* local) {
  Entry* e = Get(id, Type::kUdp);
  if (!e) return -EBADF;
  if (e->bound) return -EINVAL;
  int r = zfur_addr_bind(e->ur, reinterpret_cast<sockaddr*>(local), sizeof(*local), nullptr, 0, 0);
  if (r < 0) return r;
  e->local = *local;  // the ephemeral port, if one was asked for
  e->bound = true;
  return 0;
}

int Stack::UdpSend(int id, const sockaddr_in& to, const uint8_t* data, size_t len) {
  Entry* e = Get(id, Type::kUdp);
  if (!e) return -EBADF;
  if (!e->bound) return -EDESTADDRREQ;
  ::zfut* ut = nullptr;
  for (const TxPeer& p : e->peers)
    if (p.addr == to.sin_addr.s_addr && p.port == to.sin_port) ut = p.ut;
  if (!ut) {
    // zfut_alloc fixes source and destination: one zfut per destination,
    // sourced from the bound address so replies come back to the zfur.
    if (e->peers.size() >= kMaxPeers) return -ENOBUFS;
    int r = zfut_alloc(&ut, st_, reinterpret_cast<const sockaddr*>(&e->local), sizeof(e->local),
                       reinterpret_cast<const sockaddr*>(&to), sizeof(to), 0, attr_);
    if (r < 0) return r;
    e->peers.push_back(TxPeer{to.sin_addr.s_addr, to.sin_port, ut});
  }
  iovec iov{const_cast<uint8_t*>(data), len};
  int r = zfut_send(ut, &iov, 1, 0);
  if (r == -EAGAIN) {
    // TX queue full: let the reactor reap completions once and retry.
    zf_reactor_perform(st_);
    r = zfut_send(ut, &iov, 1, 0);
  }
  return r;
}

void Stack::PollUdp(int id, Entry& e) {
  if (!e.bound) return;
  for (int guard = 0; guard < 256; guard++) {
    UdpMsg m;
    m.msg.iovcnt = kIov;
    zfur_zc_recv(e.ur, &m.msg, 0);
    if (m.msg.iovcnt == 0) return;
    for (int i = 0; i < m.msg.iovcnt; i++) {
      size_t len = m.iov[i].iov_len;
      if (!Room(len)) {
        // The rest of this message is lost; JS gets what fit. Rare: the
        // pool holds 4 MiB per wake.
        full_ = true;
        break;
      }
      const iphdr* ip = nullptr;
      const udphdr* udp = nullptr;
      uint32_t src = 0;
      uint16_t sport = 0;
      if (zfur_pkt_get_header(e.ur, &m.msg, &ip, &udp, i) == 0 && ip && udp) {
        src = ntohl(ip->saddr);
        sport = ntohs(udp->source);
      }
      memcpy(pool_.data() + poolUsed_, m.iov[i].iov_base, len);
      Push(id, kUdpData, static_cast<int32_t>(poolUsed_), static_cast<int32_t>(len), static_cast<int32_t>(src), sport);
      poolUsed_ += len;
    }
    zfur_zc_recv_done(e.ur, &m.msg);
    if (full_ || m.msg.dgrams_left == 0) return;
  }
}

// ---- TCP --------------------------------------------------------------------

int Stack::TcpListen(sockaddr_in* local) {
  Entry e;
  e.type = Type::kListener;
  int r = zftl_listen(st_, reinterpret_cast<const sockaddr*>(local), sizeof(*local), attr_, &e.tl);
  if (r < 0) return r;
  socklen_t len = sizeof(*local);
  zftl_getname(e.tl, reinterpret_cast<sockaddr*>(local), &len);
  e.local = *local;
  return Add(std::move(e));
}

int Stack::TcpConnect(const sockaddr_in& remote, const sockaddr_in* local) {
  zft_handle* h = nullptr;
  int r = zft_alloc(st_, attr_, &h);
  if (r < 0) return r;
  if (local && (r = zft_addr_bind(h, reinterpret_cast<const sockaddr*>(local), sizeof(*local), 0)) < 0) {
    zft_handle_free(h);
    return r;
  }
  Entry e;
  e.type = Type::kConn;
  // Non-blocking: the handle becomes a zocket now, established later.
  if ((r = zft_connect(h, reinterpret_cast<const sockaddr*>(&remote), sizeof(remote), &e.ts)) < 0) {
    zft_handle_free(h);
    return r;
  }
  e.connecting = true;
  return Add(std::move(e));
}

void Stack::PollListener(int id, Entry& e) {
  ::zftl* tl = e.tl;  // Add() below may move the entries: no use of `e` after it
  for (int guard = 0; guard < 64; guard++) {
    ::zft* ts = nullptr;
    if (zftl_accept(tl, &ts) < 0) return;  // -EAGAIN: none waiting
    Entry c;
    c.type = Type::kConn;
    c.ts = ts;
    int cid = Add(std::move(c));
    // Routed by the listener's id: JS learns the connection's id from it.
    Push(id, kTcpAccept, cid);
  }
}

int Stack::FlushSend(Entry& e) {
  while (!e.sendq.empty()) {
    std::string& s = e.sendq.front();
    ssize_t r = zft_send_single(e.ts, s.data() + e.sendqHead, s.size() - e.sendqHead, 0);
    if (r == -EAGAIN || r == -ENOMEM) return 0;  // send queue full: next wake
    if (r < 0) return static_cast<int>(r);
    e.sendqHead += static_cast<size_t>(r);
    if (e.sendqHead < s.size()) return 0;
    e.sendq.pop_front();
    e.sendqHead = 0;
  }
  return 0;
}

void Stack::PollConn(int id, Entry& e) {
  if (e.failed) return;
  if (e.connecting) {
    int err = zft_error(e.ts);
    if (err) {
      e.failed = true;
      Push(id, kTcpError, -err);
      return;
    }
    if (zft_state(e.ts) == TCP_SYN_SENT) return;
    e.connecting = false;
    Push(id, kTcpConnect);
  }
  if (!e.sendq.empty()) {
    int r = FlushSend(e);
    if (r < 0) {
      e.failed = true;
      Push(id, kTcpError, r);
      return;
    }
    if (e.sendq.empty() && e.drainWanted) {
      e.drainWanted = false;
      Push(id, kTcpDrain);
    }
  }
  if (e.sendq.empty() && e.shutdownWanted) {
    e.shutdownWanted = false;
    zft_shutdown_tx(e.ts);
  }
  for (int guard = 0; guard < 64 && !e.eof; guard++) {
    TcpMsg m;
    m.msg.iovcnt = kIov;
    zft_zc_recv(e.ts, &m.msg, 0);
    if (m.msg.iovcnt == 0) {
      int err = zft_error(e.ts);
      if (err) {
        e.failed = true;
        Push(id, kTcpError, -err);
      }
      return;
    }
    size_t total = 0;
    for (int i = 0; i < m.msg.iovcnt; i++) total += m.iov[i].iov_len;
    if (!Room(total)) {
      // Not consumed: zft_zc_recv_done_some(0) keeps the bytes queued in
      // the stack for the next wake (after JS has had this batch).
      zft_zc_recv_done_some(e.ts, &m.msg, 0);
      full_ = true;
      return;
    }
    for (int i = 0; i < m.msg.iovcnt; i++) {
      size_t len = m.iov[i].iov_len;
      if (!len) continue;  // the zero-length buffer that marks EOF
      memcpy(pool_.data() + poolUsed_, m.iov[i].iov_base, len);
      Push(id, kTcpData, static_cast<int32_t>(poolUsed_), static_cast<int32_t>(len));
      poolUsed_ += len;
    }
    int r = zft_zc_recv_done(e.ts, &m.msg);
    if (r == 0) {
      e.eof = true;
      Push(id, kTcpEnd);
    } else if (r < 0) {
      e.failed = true;
      Push(id, kTcpError, r);
      return;
    }
  }
}

int Stack::TcpSend(int id, const uint8_t* data, size_t len) {
  Entry* e = Get(id, Type::kConn);
  if (!e) return -EBADF;
  if (e->failed) return -EPIPE;
  size_t off = 0;
  if (e->sendq.empty() && !e->connecting) {
    ssize_t r = zft_send_single(e->ts, data, len, 0);
    if (r < 0 && r != -EAGAIN && r != -ENOMEM) return static_cast<int>(r);
    if (r > 0) off = static_cast<size_t>(r);
  }
  if (off == len) return 0;  // all with the stack
  // The rest waits in our queue (zft_send never blocks); a Drain record
  // follows once it has gone.
  e->sendq.emplace_back(reinterpret_cast<const char*>(data) + off, len - off);
  e->drainWanted = true;
  return 1;
}

int Stack::TcpShutdown(int id) {
  Entry* e = Get(id, Type::kConn);
  if (!e) return -EBADF;
  if (!e->sendq.empty() || e->connecting) {
    e->shutdownWanted = true;  // after the queued bytes
    return 1;
  }
  int r = zft_shutdown_tx(e->ts);
  return r == -ENOTCONN ? 0 : r;
}

int Stack::TcpName(int id, bool peer, sockaddr_in* out) {
  if (id < 1 || static_cast<size_t>(id) > entries_.size()) return -EBADF;
  Entry& e = entries_[id - 1];
  socklen_t len = sizeof(*out);
  if (e.type == Type::kConn) {
    if (peer) zft_getname(e.ts, nullptr, nullptr, reinterpret_cast<sockaddr*>(out), &len);
    else zft_getname(e.ts, reinterpret_cast<sockaddr*>(out), &len, nullptr, nullptr);
    return 0;
  }
  if (peer) return -ENOTCONN;
  if (e.type == Type::kListener || e.type == Type::kUdp) {
    *out = e.local;
    return 0;
  }
  return -EBADF;
}

int Stack::Free(int id) {
  if (id < 1 || static_cast<size_t>(id) > entries_.size()) return -EBADF;
  Entry& e = entries_[id - 1];
  switch (e.type) {
    case Type::kUdp:
      for (TxPeer& p : e.peers) zfut_free(p.ut);
      zfur_free(e.ur);
      break;
    case Type::kListener:
      zftl_free(e.tl);
      break;
    case Type::kConn:
      zft_free(e.ts);  // shuts the connection down if needed
      break;
    case Type::kFree:
      return -EBADF;
  }
  e = Entry();
  return 0;
}

}  // namespace zf
}  // namespace rw

#endif  // RINGWIRE_HAVE_TCPDIRECT
