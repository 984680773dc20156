// The floor under any Node addon that answers UDP datagrams (or one TCP
// connection's requests): a uv_poll on a socket in the JS thread's loop,
// recvmsg + sendmsg (recv + send) in C, and (optionally)
// one call into JS per wake with MakeCallback semantics, which is what a
// JS-visible API cannot avoid. Not part of ringwire: a measuring stick for
// bench/floor/run.js. Plain N-API, built with g++ by run.js.
#include <node_api.h>
#include <uv.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace {

struct Floor {
  napi_env env;
  napi_ref cb = nullptr;  // null: no JS call per wake
  napi_async_context ctx = nullptr;
  uv_poll_t poll;
  int fd = -1;
  bool tcp = false;
  uv_poll_t* connPoll = nullptr;  // TCP: the one connection served at a time
  int conn = -1;
  double wakes = 0, datagrams = 0;
};

Floor g;  // one per process: this is a benchmark, not a library

void CallJs() {
  if (!g.cb) return;
  napi_handle_scope hs;
  napi_open_handle_scope(g.env, &hs);
  napi_value fn, recv, result;
  napi_get_reference_value(g.env, g.cb, &fn);
  napi_get_global(g.env, &recv);  // make_callback wants an object
  napi_make_callback(g.env, g.ctx, recv, fn, 0, nullptr, &result);
  napi_close_handle_scope(g.env, hs);
}

void CloseConn() {
  uv_poll_stop(g.connPoll);
  uv_close(reinterpret_cast<uv_handle_t*>(g.connPoll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  g.connPoll = nullptr;
  close(g.conn);
  g.conn = -1;
}

void OnConnReadable(uv_poll_t*, int status, int) {
  if (status < 0) return;
  g.wakes++;
  char buf[2048];
  ssize_t n = recv(g.conn, buf, sizeof(buf), MSG_DONTWAIT);
  if (n <= 0) {
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) CloseConn();
    return;
  }
  g.datagrams++;
  CallJs();
  send(g.conn, buf, static_cast<size_t>(n), MSG_DONTWAIT | MSG_NOSIGNAL);
}

void OnAccept(uv_poll_t*, int status, int) {
  if (status < 0) return;
  int c = accept4(g.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (c < 0) return;
  if (g.conn >= 0) CloseConn();
  int one = 1;
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  g.conn = c;
  uv_loop_t* loop;
  napi_get_uv_event_loop(g.env, &loop);
  g.connPoll = new uv_poll_t;
  uv_poll_init(loop, g.connPoll, c);
  uv_poll_start(g.connPoll, UV_READABLE, OnConnReadable);
}

void OnReadable(uv_poll_t*, int status, int) {
  if (status < 0) return;
  g.wakes++;
  char buf[2048];
  sockaddr_in6 from;
  iovec iov{buf, sizeof(buf)};
  msghdr mh{};
  mh.msg_name = &from;
  mh.msg_namelen = sizeof(from);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  // One datagram per wake (ping-pong); the poll is level-triggered, so
  // anything left wakes us again.
  ssize_t n = recvmsg(g.fd, &mh, MSG_DONTWAIT);
  if (n < 0) return;
  g.datagrams++;
  CallJs();
  iov.iov_len = static_cast<size_t>(n);
  sendmsg(g.fd, &mh, MSG_DONTWAIT);
}

// start(port, jsCallback | null, tcp) -> bound port
napi_value Start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  uint32_t port = 0;
  napi_get_value_uint32(env, argv[0], &port);
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  g.env = env;
  if (t == napi_function) {
    napi_create_reference(env, argv[1], 1, &g.cb);
    napi_value name;
    napi_create_string_utf8(env, "floor", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, nullptr, name, &g.ctx);
  }
  napi_get_value_bool(env, argv[2], &g.tcp);
  g.fd = socket(AF_INET, (g.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (g.fd >= 0) setsockopt(g.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  napi_value out;
  if (g.fd < 0 || bind(g.fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0 ||
      (g.tcp && listen(g.fd, 128) < 0)) {
    napi_create_int32(env, -errno, &out);
    return out;
  }
  socklen_t len = sizeof(sa);
  getsockname(g.fd, reinterpret_cast<sockaddr*>(&sa), &len);
  uv_loop_t* loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &g.poll, g.fd);
  uv_poll_start(&g.poll, UV_READABLE, g.tcp ? OnAccept : OnReadable);
  napi_create_int32(env, ntohs(sa.sin_port), &out);
  return out;
}

napi_value Stats(napi_env env, napi_callback_info) {
  napi_value o, w, d;
  napi_create_object(env, &o);
  napi_create_double(env, g.wakes, &w);
  napi_create_double(env, g.datagrams, &d);
  napi_set_named_property(env, o, "wakes", w);
  napi_set_named_property(env, o, "datagrams", d);
  return o;
}

napi_value Stop(napi_env env, napi_callback_info) {
  if (g.conn >= 0) CloseConn();
  if (g.fd >= 0) {
    uv_poll_stop(&g.poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&g.poll), nullptr);
    close(g.fd);
    g.fd = -1;
  }
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"start", nullptr, Start, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stats", nullptr, Stats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stop", nullptr, Stop, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, 3, d);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
