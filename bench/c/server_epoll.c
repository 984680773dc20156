/* The epoll server: level-triggered readiness, batched UDP I/O through
 * recvmmsg/sendmmsg, TCP connections served one read per readiness. */
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS 256
/* More UDP batches per wakeup than this would starve nothing here (one
 * socket), but it bounds the time between lifetime checks. */
#define UDP_ROUNDS 64

static int epoll_wait_once(struct srv *s, int ep, struct epoll_event *ev)
{
	/* Stop signals are blocked outside this call and open inside it, so
	 * one that lands just before we sleep still interrupts the sleep. */
	int n = epoll_pwait(ep, ev, MAX_EVENTS, srv_timeout_ms(s), &s->waitmask);

	s->st.waits++;
	s->st.syscalls++;
	if (n < 0 && errno != EINTR)
		return -errno;
	return n < 0 ? 0 : n;
}

static int run_udp(struct srv *s, int ep)
{
	struct epoll_event ev[MAX_EVENTS];
	struct udp_batch b;
	bool echo = mode_is_echo(s->o.mode);
	int rc = udp_batch_init(&b, s->o.batch, s->o.buf_size);

	if (rc)
		return rc;
	srv_ready(s);
	while (!srv_done(s)) {
		int n = epoll_wait_once(s, ep, ev);
		if (n < 0) {
			rc = n;
			break;
		}
		if (n == 0)
			continue;
		for (int i = 0; i < UDP_ROUNDS; i++) {
			int got = udp_batch_step(s, &b, echo);
			if (got < 0) {
				rc = got;
				goto out;
			}
			/* A partial batch means the queue is drained; skip the
			 * recvmmsg that would only say EAGAIN. */
			if ((unsigned)got < b.n)
				break;
		}
	}
out:
	udp_batch_free(&b);
	return rc;
}

static int set_interest(struct srv *s, int ep, int fd, uint32_t events, int op)
{
	struct epoll_event e = { .events = events, .data.fd = fd };

	s->st.syscalls++;
	return epoll_ctl(ep, op, fd, &e) ? -errno : 0;
}

static int run_tcp(struct srv *s, int ep)
{
	struct epoll_event ev[MAX_EVENTS];
	unsigned long max_fd = raise_nofile();
	struct tcp_conn *conns = calloc(max_fd, sizeof(*conns));
	struct tcp_scratch sc = { .cap = s->o.buf_size };
	int rc = 0;

	sc.buf = malloc(sc.cap);
	if (!conns || !sc.buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned long i = 0; i < max_fd; i++)
		conns[i].fd = -1;
	srv_ready(s);
	while (!srv_done(s)) {
		int n = epoll_wait_once(s, ep, ev);
		if (n < 0) {
			rc = n;
			break;
		}
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			if (fd == s->fd) {
				int cfd;
				while ((cfd = tcp_accept_one(s)) > 0) {
					if ((unsigned long)cfd >= max_fd ||
					    set_interest(s, ep, cfd, EPOLLIN, EPOLL_CTL_ADD)) {
						close(cfd);
						s->st.errors++;
						continue;
					}
					conns[cfd].fd = cfd;
				}
				continue;
			}
			struct tcp_conn *c = &conns[fd];
			bool was_out = c->want_out;
			if (tcp_conn_service(s, c, &sc)) {
				/* close() also drops the fd from the epoll set. */
				tcp_conn_close(s, c);
				continue;
			}
			/* While an echo tail is pending only writability matters;
			 * reading more would just grow the backlog. */
			if (c->want_out != was_out)
				set_interest(s, ep, fd, c->want_out ? EPOLLOUT : EPOLLIN,
					     EPOLL_CTL_MOD);
		}
	}
out:
	if (conns)
		for (unsigned long i = 0; i < max_fd; i++)
			if (conns[i].fd >= 0)
				tcp_conn_close(s, &conns[i]);
	free(conns);
	free(sc.buf);
	return rc;
}

int srv_run_epoll(struct srv *s)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), rc;

	if (ep < 0)
		return -errno;
	rc = set_interest(s, ep, s->fd, EPOLLIN, EPOLL_CTL_ADD);
	if (!rc)
		rc = mode_is_udp(s->o.mode) ? run_udp(s, ep) : run_tcp(s, ep);
	close(ep);
	return rc;
}
