// The TCP send queue (native/core/tcp_conn.cc: Queue/CopyIn/Complete/DropQueue,
// the epoll engine's Flush) over a socketpair: no network, no privileges,
// no io_uring. What JS relies on: bytes arrive once and in order across
// block and partial-write boundaries, queuedBytes counts exactly what is not
// yet with the kernel, the FIN follows the data, and a closed or shut-down
// connection refuses more.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "check.h"
#include "core/tcp.h"

using namespace rw;

namespace {

struct Events final : TcpConnEvents {
  int wantFlush = 0, shutdowns = 0, errors = 0, idle = 0;
  int shutdownRes = 1, lastErr = 0;
  uint64_t sent = 0;
  void OnConnData(uint32_t, uint32_t) override {}
  void OnConnEnd() override {}
  void OnConnSent(uint32_t bytes) override { sent += bytes; }
  void OnConnError(int err, int) override {
    errors++;
    lastErr = err;
  }
  void OnConnConnected() override {}
  void OnConnShutdown(int res) override {
    shutdowns++;
    shutdownRes = res;
  }
  void OnConnWantFlush() override { wantFlush++; }
  void OnConnStarved() override {}
  void OnConnIdle() override { idle++; }
};

struct Pair {
  Pair() {
    int sv[2];
    ok = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0;
    local = sv[0];
    peer = sv[1];
  }
  ~Pair() {
    if (peer >= 0) close(peer);
  }
  bool ok = false;
  int local = -1, peer = -1;
};

uint8_t Pattern(uint64_t i) { return static_cast<uint8_t>((i * 131) ^ (i >> 9)); }

// Reads what the peer has, non-blocking; appends to `out`. False on EOF.
bool Drain(int fd, std::vector<uint8_t>* out) {
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      out->insert(out->end(), buf, buf + n);
      continue;
    }
    return n != 0;
  }
}

}  // namespace

TEST("tcp queue: writes spanning blocks and partial sends arrive once, in order, and queuedBytes returns to 0") {
  Pair p;
  REQUIRE(p.ok);
  int small = 4096;  // a small send buffer forces partial writes
  setsockopt(p.local, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  TcpStats gs{};
  TcpConnStats cs{};
  Events ev;
  TcpPool pool(TcpBackend::kEpoll, nullptr, &gs);
  TcpConn c(TcpBackend::kEpoll, nullptr, &pool, &gs, &ev);
  c.SetStats(&cs);
  c.Adopt(p.local);
  // 300 writes of 1..1000 bytes (~150 KiB): several 16 KiB blocks, and
  // segment boundaries that never line up with the partial writes.
  std::vector<uint8_t> msg;
  uint64_t total = 0;
  for (int i = 0; i < 300; i++) {
    uint32_t len = 1 + (i * 337) % 1000;
    msg.resize(len);
    for (uint32_t k = 0; k < len; k++) msg[k] = Pattern(total + k);
    bool kept = true;
    REQUIRE(c.Send(msg.data(), len, false, &kept) == 0);
    CHECK(!kept);  // always copied: the caller may reuse its buffer at once
    total += len;
  }
  CHECK(ev.wantFlush == 1);  // one flush request per loop turn, not per write
  CHECK(cs.queuedBytes == static_cast<double>(total));
  std::vector<uint8_t> got;
  for (int round = 0; round < 10000 && got.size() < total; round++) {
    c.Flush();
    CHECK(cs.queuedBytes + cs.bytesWritten == static_cast<double>(total));
    Drain(p.peer, &got);
    if (c.wantsWrite()) c.Writable();
  }
  REQUIRE(got.size() == total);
  bool intact = true;
  for (uint64_t i = 0; i < total; i++) intact = intact && got[i] == Pattern(i);
  CHECK(intact);
  CHECK(cs.queuedBytes == 0);
  CHECK(cs.bytesWritten == static_cast<double>(total));
  CHECK(gs.sendCalls > 1);  // it really was written in several parts
  CHECK(ev.errors == 0);
}

TEST("tcp queue: shutdown() with bytes queued sends the FIN after them, and refuses later writes with EPIPE") {
  Pair p;
  REQUIRE(p.ok);
  TcpStats gs{};
  TcpConnStats cs{};
  Events ev;
  TcpPool pool(TcpBackend::kEpoll, nullptr, &gs);
  TcpConn c(TcpBackend::kEpoll, nullptr, &pool, &gs, &ev);
  c.SetStats(&cs);
  c.Adopt(p.local);
  const uint8_t data[5] = {'h', 'e', 'l', 'l', 'o'};
  bool kept = false;
  REQUIRE(c.Send(data, 5, false, &kept) == 0);
  CHECK(c.Shutdown() == 0);  // queued data: the FIN waits for it
  CHECK(c.Send(data, 5, false, &kept) == -EPIPE);
  CHECK(ev.shutdowns == 0);
  c.Flush();
  CHECK(ev.shutdowns == 1);
  CHECK(ev.shutdownRes == 0);
  std::vector<uint8_t> got;
  pollfd pfd{p.peer, POLLIN, 0};
  poll(&pfd, 1, 1000);
  CHECK(!Drain(p.peer, &got));  // EOF after the bytes
  CHECK(got.size() == 5);
  CHECK(cs.queuedBytes == 0);
}

TEST("tcp queue: shutdown() with nothing queued completes at once (1), as libuv reports it") {
  Pair p;
  REQUIRE(p.ok);
  TcpStats gs{};
  Events ev;
  TcpPool pool(TcpBackend::kEpoll, nullptr, &gs);
  TcpConn c(TcpBackend::kEpoll, nullptr, &pool, &gs, &ev);
  c.Adopt(p.local);
  CHECK(c.Shutdown() == 1);
  CHECK(ev.shutdowns == 0);  // no event follows a synchronous completion
  CHECK(c.Shutdown() == 0);  // a second call is a no-op
}

TEST("tcp queue: close() writes what the kernel takes, drops the rest from the count, and refuses later writes with EBADF") {
  Pair p;
  REQUIRE(p.ok);
  int small = 4096;
  setsockopt(p.local, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  TcpStats gs{};
  TcpConnStats cs{};
  Events ev;
  TcpPool pool(TcpBackend::kEpoll, nullptr, &gs);
  TcpConn c(TcpBackend::kEpoll, nullptr, &pool, &gs, &ev);
  c.SetStats(&cs);
  c.Adopt(p.local);
  std::vector<uint8_t> big(1 << 20, 7);
  bool kept = false;
  REQUIRE(c.Send(big.data(), static_cast<uint32_t>(big.size()), false, &kept) == 0);
  c.Close(false);
  CHECK(ev.idle == 1);  // epoll: nothing in flight, idle at once
  CHECK(cs.queuedBytes == 0);
  CHECK(cs.bytesWritten > 0);
  CHECK(cs.bytesWritten < static_cast<double>(big.size()));  // the socket buffer could not take 1 MiB
  CHECK(c.Send(big.data(), 10, false, &kept) == -EBADF);
  std::vector<uint8_t> got;
  Drain(p.peer, &got);
  CHECK(got.size() == static_cast<size_t>(cs.bytesWritten));
}

TEST("tcp queue: a write to a peer that is gone is one EPIPE error, never SIGPIPE, and the queue is dropped") {
  Pair p;
  REQUIRE(p.ok);
  TcpStats gs{};
  TcpConnStats cs{};
  Events ev;
  TcpPool pool(TcpBackend::kEpoll, nullptr, &gs);
  TcpConn c(TcpBackend::kEpoll, nullptr, &pool, &gs, &ev);
  c.SetStats(&cs);
  c.Adopt(p.local);
  close(p.peer);
  p.peer = -1;
  const uint8_t data[3] = {1, 2, 3};
  bool kept = false;
  REQUIRE(c.Send(data, 3, false, &kept) == 0);
  c.Flush();  // MSG_NOSIGNAL: the process survives to see this line
  CHECK(ev.errors == 1);
  CHECK(ev.lastErr == -EPIPE);
  CHECK(cs.queuedBytes == 0);
  CHECK(c.Send(data, 3, false, &kept) == -EPIPE);
}
