/* Socket setup plus the UDP and TCP I/O steps shared by the epoll and
 * busy-poll servers, which differ only in how they learn that a socket
 * has work. */
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void set_buf(int fd, int force_opt, int opt, unsigned bytes)
{
	int v = (int)bytes;

	if (!bytes)
		return;
	/* The FORCE variants pass net.core.[rw]mem_max when root; fall back
	 * to the capped option otherwise. */
	if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof(v)))
		setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v));
}

int srv_open_socket(struct srv *s)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool udp = mode_is_udp(s->o.mode);
	int type = udp ? SOCK_DGRAM : SOCK_STREAM;
	int one = 1, rc, fd;

	rc = resolve_addr(s->o.host, s->o.port, type, true, &ss, &len);
	if (rc)
		die("cannot resolve '%s': %s", s->o.host, gai_strerror(rc));
	fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!udp)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, s->o.rcvbuf);
	set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, s->o.sndbuf);
	if (bind(fd, (struct sockaddr *)&ss, len) || (!udp && listen(fd, 4096)))
		goto fail;
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		goto fail;
	s->port = ntohs(ss.ss_family == AF_INET6
				? ((struct sockaddr_in6 *)&ss)->sin6_port
				: ((struct sockaddr_in *)&ss)->sin_port);
	s->fd = fd;
	return 0;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

void srv_tune_conn(struct srv *s, int fd)
{
	int one = 1;

	/* Echo replies are small writes answering small requests: Nagle
	 * would hold a split reply back for a delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, s->o.rcvbuf);
	set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, s->o.sndbuf);
	s->st.syscalls++;
}

int udp_batch_init(struct udp_batch *b, unsigned n, size_t buf_size)
{
	memset(b, 0, sizeof(*b));
	b->n = n;
	b->buf_size = buf_size;
	b->bufs = aligned_alloc(64, (size_t)n * buf_size);
	b->rx = calloc(n, sizeof(*b->rx));
	b->tx = calloc(n, sizeof(*b->tx));
	b->rx_iov = calloc(n, sizeof(*b->rx_iov));
	b->tx_iov = calloc(n, sizeof(*b->tx_iov));
	b->addr = calloc(n, sizeof(*b->addr));
	if (!b->bufs || !b->rx || !b->tx || !b->rx_iov || !b->tx_iov || !b->addr) {
		udp_batch_free(b);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		b->rx_iov[i].iov_base = b->bufs + (size_t)i * buf_size;
		b->rx_iov[i].iov_len = buf_size;
		b->rx[i].msg_hdr.msg_iov = &b->rx_iov[i];
		b->rx[i].msg_hdr.msg_iovlen = 1;
		b->rx[i].msg_hdr.msg_name = &b->addr[i];
		b->tx_iov[i].iov_base = b->rx_iov[i].iov_base;
		b->tx[i].msg_hdr.msg_iov = &b->tx_iov[i];
		b->tx[i].msg_hdr.msg_iovlen = 1;
		b->tx[i].msg_hdr.msg_name = &b->addr[i];
	}
	return 0;
}

void udp_batch_free(struct udp_batch *b)
{
	free(b->bufs);
	free(b->rx);
	free(b->tx);
	free(b->rx_iov);
	free(b->tx_iov);
	free(b->addr);
	memset(b, 0, sizeof(*b));
}

/* A peer that closes with data in flight makes these; it is how load
 * generators end a run, so it is a close, not an error. */
static bool is_peer_gone(int err)
{
	return err == ECONNRESET || err == EPIPE;
}

static bool is_transient(int err)
{
	return err == EAGAIN || err == ENOBUFS || err == ENOMEM || err == EINTR;
}

static void udp_echo(struct srv *s, struct udp_batch *b, int n)
{
	int done = 0;

	for (int i = 0; i < n; i++) {
		b->tx_iov[i].iov_len = b->rx[i].msg_len;
		b->tx[i].msg_hdr.msg_namelen = b->rx[i].msg_hdr.msg_namelen;
	}
	while (done < n) {
		int r = sendmmsg(s->fd, b->tx + done, (unsigned)(n - done), 0);

		s->st.send_calls++;
		s->st.syscalls++;
		if (r > 0) {
			for (int i = done; i < done + r; i++)
				s->st.sent_bytes += b->tx[i].msg_len;
			s->st.sent += (uint64_t)r;
			done += r;
			continue;
		}
		/* sendmmsg reports an error only for the first datagram of
		 * the call: skip it and carry on with the rest, as UDP would
		 * have dropped it anyway. */
		if (is_transient(errno))
			s->st.send_drops++;
		else
			s->st.errors++;
		done++;
	}
}

int udp_batch_step(struct srv *s, struct udp_batch *b, bool echo)
{
	int n;

	for (unsigned i = 0; i < b->n; i++)
		b->rx[i].msg_hdr.msg_namelen = sizeof(b->addr[i]);
	n = recvmmsg(s->fd, b->rx, b->n, MSG_DONTWAIT, NULL);
	s->st.recv_calls++;
	s->st.syscalls++;
	if (n < 0) {
		if (is_transient(errno))
			return 0;
		/* ICMP errors queued by earlier echoes (ECONNREFUSED from a
		 * client that went away) surface here; they are not fatal. */
		s->st.errors++;
		return errno == EBADF || errno == EFAULT || errno == EINVAL ? -errno : 0;
	}
	for (int i = 0; i < n; i++) {
		s->st.bytes += b->rx[i].msg_len;
		if (b->rx[i].msg_hdr.msg_flags & MSG_TRUNC)
			s->st.truncated++;
	}
	s->st.packets += (uint64_t)n;
	if (echo && n > 0)
		udp_echo(s, b, n);
	return n;
}

int tcp_accept_one(struct srv *s)
{
	int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	s->st.syscalls++;
	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return 0;
		s->st.errors++;
		return -errno;
	}
	s->st.accepted++;
	srv_tune_conn(s, fd);
	return fd;
}

/* Keeps the unsent tail of an echo; false if memory ran out. */
static bool tcp_keep(struct tcp_conn *c, const char *p, size_t n)
{
	if (n > c->pend_cap) {
		char *np = realloc(c->pend, n);
		if (!np)
			return false;
		c->pend = np;
		c->pend_cap = n;
	}
	memcpy(c->pend, p, n);
	c->pend_off = 0;
	c->pend_len = n;
	return true;
}

/* Sends p[0..n); returns bytes sent, or -1 on a fatal error. */
static ssize_t tcp_send(struct srv *s, int fd, const char *p, size_t n)
{
	ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

	s->st.send_calls++;
	s->st.syscalls++;
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		if (!is_peer_gone(errno))
			s->st.errors++;
		return -1;
	}
	if (w > 0) {
		s->st.sent++;
		s->st.sent_bytes += (uint64_t)w;
	}
	return w;
}

static int tcp_echo(struct srv *s, struct tcp_conn *c, struct tcp_scratch *sc)
{
	ssize_t n, w;

	if (c->pend_len) {
		w = tcp_send(s, c->fd, c->pend + c->pend_off,
			     c->pend_len - c->pend_off);
		if (w < 0)
			return -1;
		c->pend_off += (size_t)w;
		if (c->pend_off < c->pend_len)
			return 0;
		c->pend_len = c->pend_off = 0;
		c->want_out = false;
	}
	n = recv(c->fd, sc->buf, sc->cap, MSG_DONTWAIT);
	s->st.recv_calls++;
	s->st.syscalls++;
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n < 0 && !is_peer_gone(errno))
			s->st.errors++;
		return -1;
	}
	s->st.packets++;
	s->st.bytes += (uint64_t)n;
	w = tcp_send(s, c->fd, sc->buf, (size_t)n);
	if (w < 0)
		return -1;
	if (w < n) {
		if (!tcp_keep(c, sc->buf + w, (size_t)(n - w)))
			return -1;
		c->want_out = true;
	}
	return 0;
}

static int tcp_sink(struct srv *s, struct tcp_conn *c, struct tcp_scratch *sc)
{
	/* A short read means the socket is drained: stop there rather than
	 * pay one more recv just to see EAGAIN. The cap keeps one fast
	 * sender from starving the others. */
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(c->fd, sc->buf, sc->cap, MSG_DONTWAIT);

		s->st.recv_calls++;
		s->st.syscalls++;
		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return 0;
			if (n < 0 && !is_peer_gone(errno))
				s->st.errors++;
			return -1;
		}
		s->st.packets++;
		s->st.bytes += (uint64_t)n;
		if ((size_t)n < sc->cap)
			break;
	}
	return 0;
}

int tcp_conn_service(struct srv *s, struct tcp_conn *c, struct tcp_scratch *sc)
{
	return s->o.mode == MODE_TCP_ECHO ? tcp_echo(s, c, sc) : tcp_sink(s, c, sc);
}

void tcp_conn_close(struct srv *s, struct tcp_conn *c)
{
	close(c->fd);
	s->st.syscalls++;
	s->st.closed++;
	free(c->pend);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}
