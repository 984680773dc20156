/* The busy-poll server: non-blocking sockets polled in a tight loop, no
 * readiness API and no sleeping. It costs a whole CPU and shows the floor
 * that syscall-per-operation I/O can reach when wakeups cost nothing. */
#include "server.h"

#include <errno.h>
#include <stdlib.h>

/* Reading the clock is cheap but not free next to a failed recvmmsg, so
 * the lifetime (and the listener) is looked at every 64 spins; the stop
 * flag costs nothing and is checked on every one. */
#define CHECK_EVERY 64

static int run_udp(struct srv *s)
{
	struct udp_batch b;
	bool echo = mode_is_echo(s->o.mode);
	int rc = udp_batch_init(&b, s->o.batch, s->o.buf_size);

	if (rc)
		return rc;
	srv_ready(s);
	for (uint64_t spin = 0;; spin++) {
		if (g_stop || (spin % CHECK_EVERY == 0 && srv_done(s)))
			break;
		rc = udp_batch_step(s, &b, echo);
		if (rc < 0)
			break;
		rc = 0;
	}
	udp_batch_free(&b);
	return rc;
}

static int run_tcp(struct srv *s)
{
	unsigned long max = raise_nofile();
	if (max > SRV_MAX_FDS)
		max = SRV_MAX_FDS;
	struct tcp_conn *conns = calloc(max, sizeof(*conns));
	struct tcp_scratch sc = { .cap = s->o.buf_size };
	unsigned long n = 0;
	int rc = 0;

	sc.buf = malloc(sc.cap);
	if (!conns || !sc.buf) {
		rc = -ENOMEM;
		goto out;
	}
	srv_ready(s);
	for (uint64_t spin = 0; !g_stop; spin++) {
		if (spin % CHECK_EVERY == 0) {
			if (srv_done(s))
				break;
			/* New connections are rare next to data; polling the
			 * listener on every spin would double the syscalls. */
			int fd;
			while (n < max && (fd = tcp_accept_one(s)) > 0) {
				conns[n++] = (struct tcp_conn){ .fd = fd };
			}
		}
		for (unsigned long i = 0; i < n;) {
			if (tcp_conn_service(s, &conns[i], &sc)) {
				tcp_conn_close(s, &conns[i]);
				/* Move the last connection into the hole; the old
				 * slot is rewritten whole on the next accept. */
				conns[i] = conns[--n];
				continue;
			}
			i++;
		}
	}
out:
	for (unsigned long i = 0; i < n; i++)
		tcp_conn_close(s, &conns[i]);
	free(conns);
	free(sc.buf);
	return rc;
}

int srv_run_busy(struct srv *s)
{
	/* Never sleeping means never seeing a blocked signal: let SIGTERM
	 * in so the handler runs on the way out of any syscall. */
	sigprocmask(SIG_SETMASK, &s->openmask, NULL);
	return mode_is_udp(s->o.mode) ? run_udp(s) : run_tcp(s);
}
