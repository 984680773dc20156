/* The io_uring TCP server: multishot accept, one multishot recv per
 * connection drawing from the shared buffer ring, and for echo a per
 * connection FIFO of received buffers sent back one SEND at a time. */
#include "server_uring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NO_BID (-1)

struct uconn {
	int32_t head, tail; /* FIFO of buffer ids to echo, linked via next[] */
	uint32_t off;	    /* bytes of head already sent */
	bool used;
	bool recv_armed;
	bool send_busy; /* one SEND in flight at most: two could reorder */
	bool eof;	/* peer sent FIN or the recv failed */
	bool dead;	/* a send failed: drop what is queued */
	bool in_rearm;
};

struct utcp {
	struct uconn *conns;
	unsigned long max_fd;
	int32_t *next;	/* per buffer id: next in its connection's FIFO */
	uint32_t *len;	/* per buffer id: bytes received into it */
	int *rearm;	/* fds whose recv ended for lack of buffers */
	size_t nrearm, rearm_cap;
	bool accept_armed, echo;
};

static void arm_accept(struct usrv *u, struct utcp *t)
{
	struct io_uring_sqe *sqe = usrv_sqe(u);

	io_uring_prep_multishot_accept(sqe, u->s->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, UD(OP_ACCEPT, 0, u->s->fd));
	t->accept_armed = true;
	/* Clients can always connect, so waiting is always safe. */
	u->more_may_come = true;
}

static void arm_recv(struct usrv *u, struct uconn *c, int fd)
{
	struct io_uring_sqe *sqe = usrv_sqe(u);

	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, UD(OP_RECV, 0, fd));
	c->recv_armed = true;
}

static void start_send(struct usrv *u, struct utcp *t, struct uconn *c, int fd)
{
	unsigned bid = (unsigned)c->head;
	struct io_uring_sqe *sqe = usrv_sqe(u);

	io_uring_prep_send(sqe, fd, bufring_addr(&u->bufs, bid) + c->off,
			   t->len[bid] - c->off, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, UD(OP_SEND, bid, fd));
	c->send_busy = true;
}

static void drop_queue(struct usrv *u, struct utcp *t, struct uconn *c)
{
	while (c->head != NO_BID) {
		int32_t bid = c->head;
		c->head = t->next[bid];
		bufring_put(&u->bufs, (unsigned)bid);
	}
	c->tail = NO_BID;
	c->off = 0;
}

static void schedule_rearm(struct utcp *t, struct uconn *c, int fd)
{
	if (c->in_rearm)
		return;
	if (t->nrearm == t->rearm_cap) {
		size_t cap = t->rearm_cap ? 2 * t->rearm_cap : 64;
		int *p = realloc(t->rearm, cap * sizeof(*p));
		if (!p)
			return; /* the connection stays idle; counted nowhere */
		t->rearm = p;
		t->rearm_cap = cap;
	}
	t->rearm[t->nrearm++] = fd;
	c->in_rearm = true;
}

/* Closes once nothing in flight can still name this fd: a reused fd
 * number must never meet a completion of its previous owner. */
static void maybe_close(struct usrv *u, struct utcp *t, struct uconn *c, int fd)
{
	if (c->recv_armed || c->send_busy)
		return;
	if (!c->dead && !(c->eof && c->head == NO_BID))
		return;
	drop_queue(u, t, c);
	close(fd);
	u->s->st.syscalls++;
	u->s->st.closed++;
	memset(c, 0, sizeof(*c));
}

static void on_accept(struct usrv *u, struct utcp *t, const struct io_uring_cqe *cqe)
{
	int fd = cqe->res;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		t->accept_armed = false;
	if (fd < 0) {
		if (fd != -ECONNABORTED && fd != -EINTR)
			u->s->st.errors++;
		return;
	}
	if ((unsigned long)fd >= t->max_fd) {
		close(fd);
		u->s->st.errors++;
		return;
	}
	u->s->st.accepted++;
	srv_tune_conn(u->s, fd);
	struct uconn *c = &t->conns[fd];
	memset(c, 0, sizeof(*c));
	c->used = true;
	c->head = c->tail = NO_BID;
	arm_recv(u, c, fd);
}

static void on_recv(struct usrv *u, struct utcp *t, const struct io_uring_cqe *cqe, int fd)
{
	struct srv_stats *st = &u->s->st;
	struct uconn *c = &t->conns[fd];

	st->recv_calls++;
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->recv_armed = false;
	if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

		bufring_got(&u->bufs);
		st->packets++;
		st->bytes += (uint64_t)cqe->res;
		if (!t->echo || c->dead) {
			bufring_put(&u->bufs, bid);
		} else {
			t->len[bid] = (uint32_t)cqe->res;
			t->next[bid] = NO_BID;
			if (c->tail == NO_BID)
				c->head = (int32_t)bid;
			else
				t->next[c->tail] = (int32_t)bid;
			c->tail = (int32_t)bid;
			if (!c->send_busy)
				start_send(u, t, c, fd);
		}
	} else if (cqe->res == 0) {
		c->eof = true;
	} else if (cqe->res == -ENOBUFS) {
		st->enobufs++;
	} else {
		if (cqe->res != -ECONNRESET)
			st->errors++;
		c->eof = true;
		c->dead = true;
	}
	if (c->recv_armed)
		return;
	if (c->eof || c->dead)
		maybe_close(u, t, c, fd);
	else
		schedule_rearm(t, c, fd);
}

static void on_send(struct usrv *u, struct utcp *t, const struct io_uring_cqe *cqe, int fd)
{
	struct srv_stats *st = &u->s->st;
	struct uconn *c = &t->conns[fd];
	unsigned bid = UD_BID(io_uring_cqe_get_data64(cqe));

	st->send_calls++;
	c->send_busy = false;
	if (cqe->res <= 0) {
		if (cqe->res != -EPIPE && cqe->res != -ECONNRESET)
			st->errors++;
		c->dead = true;
		drop_queue(u, t, c);
		/* Ends the multishot recv (it completes with 0) so the
		 * connection can be closed. */
		if (c->recv_armed) {
			shutdown(fd, SHUT_RDWR);
			st->syscalls++;
		}
		maybe_close(u, t, c, fd);
		return;
	}
	st->sent++;
	st->sent_bytes += (uint64_t)cqe->res;
	c->off += (uint32_t)cqe->res;
	if (c->off >= t->len[bid]) {
		c->head = t->next[bid];
		if (c->head == NO_BID)
			c->tail = NO_BID;
		c->off = 0;
		bufring_put(&u->bufs, bid);
	}
	if (c->head != NO_BID)
		start_send(u, t, c, fd);
	else
		maybe_close(u, t, c, fd);
}

static void tcp_cqe(struct usrv *u, const struct io_uring_cqe *cqe)
{
	struct utcp *t = u->impl;
	uint64_t ud = io_uring_cqe_get_data64(cqe);

	switch (UD_OP(ud)) {
	case OP_ACCEPT:
		on_accept(u, t, cqe);
		break;
	case OP_RECV:
		on_recv(u, t, cqe, UD_FD(ud));
		break;
	case OP_SEND:
		on_send(u, t, cqe, UD_FD(ud));
		break;
	}
}

static void tcp_after_reap(struct usrv *u)
{
	struct utcp *t = u->impl;

	if (!t->accept_armed) {
		arm_accept(u, t);
		u->s->st.rearms++;
	}
	/* No free buffer: wait for an echo send to return one. */
	if (!t->nrearm || u->bufs.held >= u->bufs.entries)
		return;
	for (size_t i = 0; i < t->nrearm; i++) {
		int fd = t->rearm[i];
		struct uconn *c = &t->conns[fd];

		/* The fd may have been closed and reused since it was listed:
		 * a fresh connection has in_rearm clear and its own recv. */
		if (!c->used || !c->in_rearm || c->recv_armed)
			continue;
		c->in_rearm = false;
		arm_recv(u, c, fd);
		u->s->st.rearms++;
	}
	t->nrearm = 0;
}

int usrv_run_tcp(struct srv *s)
{
	struct usrv u;
	struct utcp t;
	int rc;

	memset(&t, 0, sizeof(t));
	t.echo = mode_is_echo(s->o.mode);
	t.max_fd = raise_nofile();
	if (t.max_fd > SRV_MAX_FDS)
		t.max_fd = SRV_MAX_FDS;
	t.conns = calloc(t.max_fd, sizeof(*t.conns));
	t.next = calloc(s->o.bufs, sizeof(*t.next));
	t.len = calloc(s->o.bufs, sizeof(*t.len));
	if (!t.conns || !t.next || !t.len) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = usrv_init(&u, s);
	if (rc)
		goto out_free;
	u.impl = &t;
	u.on_cqe = tcp_cqe;
	u.after_reap = tcp_after_reap;
	arm_accept(&u, &t);
	rc = usrv_loop(&u);
	/* The ring goes first so nothing is in flight on the fds we close. */
	usrv_exit(&u);
	for (unsigned long fd = 0; fd < t.max_fd; fd++)
		if (t.conns[fd].used)
			close((int)fd);
out_free:
	free(t.conns);
	free(t.next);
	free(t.len);
	free(t.rearm);
	return rc;
}
