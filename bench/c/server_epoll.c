/* The epoll server: level-triggered readiness, batched UDP I/O through
 * recvmmsg/sendmmsg, TCP connections served one read per readiness. */
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define MAX_EVENTS 256
/* recvmmsg rounds per wakeup while full batches keep coming: bounds the
 * time between looks at the stop signal and the lifetime. */
#define UDP_ROUNDS 64

struct eloop {
	int ep;
	int sigfd; /* stop signals, as an event */
	int tfd;   /* lifetime timer, -1 without a lifetime */
};

static int watch(struct srv *s, int ep, int fd, uint32_t events, int op)
{
	struct epoll_event e = { .events = events, .data.fd = fd };

	s->st.syscalls++;
	return epoll_ctl(ep, op, fd, &e) ? -errno : 0;
}

/* Starts serving. The lifetime is a timerfd in the set rather than a
 * timeout on every wait: each of those programs an hrtimer, which in a VM
 * means exits to the hypervisor. */
static int start(struct srv *s, struct eloop *l)
{
	struct itimerspec its = { 0 };

	srv_ready(s);
	if (!s->deadline)
		return 0;
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->tfd < 0)
		return -errno;
	its.it_value.tv_sec = (time_t)(s->deadline / NSEC_PER_SEC);
	its.it_value.tv_nsec = (long)(s->deadline % NSEC_PER_SEC);
	if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL))
		return -errno;
	return watch(s, l->ep, l->tfd, EPOLLIN, EPOLL_CTL_ADD);
}

/* Waits for events; returns how many, 0 after a stop or lifetime event
 * (the loop condition then ends the run), or -errno. */
static int wait_events(struct srv *s, struct eloop *l, struct epoll_event *ev)
{
	int n = epoll_wait(l->ep, ev, MAX_EVENTS, -1);

	s->st.waits++;
	s->st.syscalls++;
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++)
		if (ev[i].data.fd == l->sigfd)
			g_stop = 1;
	return n;
}

static int run_udp(struct srv *s, struct eloop *l)
{
	struct epoll_event ev[MAX_EVENTS];
	struct udp_batch b;
	bool echo = mode_is_echo(s->o.mode);
	int rc = udp_batch_init(&b, s->o.batch, s->o.buf_size);

	if (rc)
		return rc;
	rc = start(s, l);
	while (!rc && !srv_done(s)) {
		int n = wait_events(s, l, ev);
		if (n < 0) {
			rc = n;
			break;
		}
		bool readable = false;
		for (int i = 0; i < n; i++)
			readable |= ev[i].data.fd == s->fd;
		for (int i = 0; readable && i < UDP_ROUNDS && !g_stop; i++) {
			int got = udp_batch_step(s, &b, echo);
			if (got < 0) {
				rc = got;
				break;
			}
			/* A partial batch means the queue is drained; skip the
			 * recvmmsg that would only say EAGAIN. */
			if ((unsigned)got < b.n)
				break;
		}
	}
	udp_batch_free(&b);
	return rc;
}

static void accept_all(struct srv *s, struct eloop *l, struct tcp_conn *conns,
		       unsigned long max_fd)
{
	int fd;

	while ((fd = tcp_accept_one(s)) > 0) {
		if ((unsigned long)fd >= max_fd || watch(s, l->ep, fd, EPOLLIN, EPOLL_CTL_ADD)) {
			close(fd);
			s->st.errors++;
			continue;
		}
		conns[fd] = (struct tcp_conn){ .fd = fd };
	}
}

static int run_tcp(struct srv *s, struct eloop *l)
{
	struct epoll_event ev[MAX_EVENTS];
	unsigned long max_fd = raise_nofile();
	if (max_fd > SRV_MAX_FDS)
		max_fd = SRV_MAX_FDS;
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
	rc = start(s, l);
	while (!rc && !srv_done(s)) {
		int n = wait_events(s, l, ev);
		if (n < 0) {
			rc = n;
			break;
		}
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			if (fd == l->sigfd || fd == l->tfd)
				continue;
			if (fd == s->fd) {
				accept_all(s, l, conns, max_fd);
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
				watch(s, l->ep, fd, c->want_out ? EPOLLOUT : EPOLLIN,
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
	struct eloop l = { .ep = -1, .sigfd = -1, .tfd = -1 };
	int rc;

	l.ep = epoll_create1(EPOLL_CLOEXEC);
	if (l.ep < 0)
		return -errno;
	l.sigfd = stop_signalfd();
	rc = l.sigfd < 0 ? l.sigfd : 0;
	if (!rc)
		rc = watch(s, l.ep, l.sigfd, EPOLLIN, EPOLL_CTL_ADD);
	if (!rc)
		rc = watch(s, l.ep, s->fd, EPOLLIN, EPOLL_CTL_ADD);
	if (!rc)
		rc = mode_is_udp(s->o.mode) ? run_udp(s, &l) : run_tcp(s, &l);
	if (l.tfd >= 0)
		close(l.tfd);
	if (l.sigfd >= 0)
		close(l.sigfd);
	close(l.ep);
	return rc;
}
