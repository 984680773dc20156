/* TCP load: request/response over K connections (one request in flight
 * on each, latency histogram) and bulk streaming to a sink. Both run as
 * one level-triggered epoll loop. */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS 256

struct rr_conn {
	int fd;
	size_t sent, got;
	uint64_t t0;
	bool counted; /* started after the warm-up */
	bool want_out;
};

static int open_conn(struct cl_run *r, int ep, uint32_t events, uint64_t data)
{
	int fd = cl_connect(r, SOCK_STREAM), one = 1;
	struct epoll_event ev = { .events = events, .data.u64 = data };

	/* Requests are single small writes waiting on their answer: Nagle
	 * would only add a delayed-ACK wait to split ones. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		die("epoll_ctl: %s", strerror(errno));
	return fd;
}

static void set_events(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Writes what the socket takes of the request; 0, or an errno. */
static int rr_send(struct cl_run *r, int ep, struct rr_conn *c, uint64_t idx,
		   const char *req)
{
	while (c->sent < r->o.size) {
		ssize_t w = send(c->fd, req + c->sent, r->o.size - c->sent, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return errno;
			break;
		}
		c->sent += (size_t)w;
	}
	/* Reading continues throughout: a large echo can start before the
	 * request is fully written, and both sides must keep draining. */
	bool want_out = c->sent < r->o.size;
	if (want_out != c->want_out) {
		set_events(ep, c->fd, EPOLLIN | (want_out ? EPOLLOUT : 0), idx);
		c->want_out = want_out;
	}
	return 0;
}

static int rr_begin(struct cl_run *r, int ep, struct rr_conn *c, uint64_t idx,
		    const char *req, uint64_t now)
{
	c->t0 = now;
	c->counted = r->measuring;
	c->sent = c->got = 0;
	return rr_send(r, ep, c, idx, req);
}

int cl_tcp_rr(struct cl_run *r)
{
	unsigned k = r->o.conns;
	struct rr_conn *conns = calloc(k, sizeof(*conns));
	char *req = malloc(r->o.size), *resp = malloc(r->o.size);
	struct hist *h = malloc(sizeof(*h));
	struct epoll_event ev[MAX_EVENTS];
	uint64_t requests = 0, now;
	int ep = epoll_create1(EPOLL_CLOEXEC), err = 0;
	struct json j;

	if (!conns || !req || !resp || !h || ep < 0)
		die("setup: %s", strerror(errno ? errno : ENOMEM));
	memset(req, 'r', r->o.size);
	hist_init(h);
	for (unsigned i = 0; i < k; i++)
		conns[i].fd = open_conn(r, ep, EPOLLIN, i);
	cl_start(r);
	for (unsigned i = 0; i < k && !err; i++)
		err = rr_begin(r, ep, &conns[i], i, req, r->t_start);
	for (now = r->t_start; !err && cl_tick(r, now); now = now_ns()) {
		/* --spin: poll without sleeping, so that a server on another
		 * CPU is measured without the client's own wake-ups. */
		int n = epoll_wait(ep, ev, MAX_EVENTS, r->o.spin ? 0 : cl_timeout_ms(r, now));
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int e = 0; e < n && !err; e++) {
			uint64_t idx = ev[e].data.u64;
			struct rr_conn *c = &conns[idx];

			if ((ev[e].events & EPOLLOUT) && (err = rr_send(r, ep, c, idx, req)))
				break;
			if (!(ev[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				continue;
			/* Never past this request's echo: with one request in
			 * flight nothing else can be there anyway. */
			ssize_t got = recv(c->fd, resp, r->o.size - c->got, 0);
			if (got <= 0) {
				if (got < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				err = got < 0 ? errno : ECONNRESET;
				break;
			}
			c->got += (size_t)got;
			if (c->got < r->o.size)
				continue;
			now = now_ns();
			if (c->counted) {
				hist_add(h, now - c->t0);
				requests++;
			}
			err = rr_begin(r, ep, c, idx, req, now);
		}
	}
	if (err)
		cl_fail(r, "connection to", err);
	for (unsigned i = 0; i < k; i++)
		close(conns[i].fd);
	close(ep);

	double secs = cl_measured_s(r);
	cl_json_begin(r, &j);
	json_u64(&j, "conns", k);
	json_u64(&j, "requests", requests);
	json_dbl(&j, "req_per_s", secs > 0 ? (double)requests / secs : 0, 1);
	json_hist_us(&j, h);
	cl_json_end(r, &j);
	free(conns);
	free(req);
	free(resp);
	free(h);
	return 0;
}

int cl_tcp_stream(struct cl_run *r)
{
	unsigned k = r->o.conns;
	int *fds = calloc(k, sizeof(*fds));
	char *chunk = malloc(r->o.size);
	struct epoll_event ev[MAX_EVENTS];
	uint64_t bytes = 0, writes = 0, now;
	int ep = epoll_create1(EPOLL_CLOEXEC), err = 0;
	struct json j;

	if (!fds || !chunk || ep < 0)
		die("setup: %s", strerror(errno ? errno : ENOMEM));
	memset(chunk, 's', r->o.size);
	for (unsigned i = 0; i < k; i++)
		fds[i] = open_conn(r, ep, EPOLLOUT, i);
	cl_start(r);
	for (now = r->t_start; !err && cl_tick(r, now); now = now_ns()) {
		/* --spin: poll without sleeping, so that a server on another
		 * CPU is measured without the client's own wake-ups. */
		int n = epoll_wait(ep, ev, MAX_EVENTS, r->o.spin ? 0 : cl_timeout_ms(r, now));
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int e = 0; e < n && !err; e++) {
			int fd = fds[ev[e].data.u64];

			if (ev[e].events & (EPOLLERR | EPOLLHUP)) {
				err = ECONNRESET;
				break;
			}
			/* Write until the socket buffer is full (a short write
			 * says so without the extra call that would see EAGAIN),
			 * but give the clock and the other connections a turn
			 * when a fast reader keeps it from ever filling. */
			for (int round = 0; round < 16; round++) {
				ssize_t w = send(fd, chunk, r->o.size, MSG_NOSIGNAL);
				if (w < 0) {
					if (errno != EAGAIN && errno != EINTR)
						err = errno;
					break;
				}
				if (r->measuring) {
					bytes += (uint64_t)w;
					writes++;
				}
				if ((size_t)w < r->o.size)
					break;
			}
		}
	}
	if (err)
		cl_fail(r, "connection to", err);
	for (unsigned i = 0; i < k; i++)
		close(fds[i]);
	close(ep);

	double secs = cl_measured_s(r);
	cl_json_begin(r, &j);
	json_u64(&j, "conns", k);
	json_u64(&j, "bytes", bytes);
	json_u64(&j, "writes", writes);
	json_dbl(&j, "gbytes_per_s", secs > 0 ? (double)bytes / secs / 1e9 : 0, 6);
	cl_json_end(r, &j);
	free(fds);
	free(chunk);
	return 0;
}
