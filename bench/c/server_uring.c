/* The io_uring server core (ring, provided-buffer ring, event loop) and
 * its UDP half: one multishot recvmsg feeding a buffer ring, echoes sent
 * straight out of the receive buffer with SENDMSG. */
#include "server_uring.h"

#include <errno.h>
#include <poll.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SQ_ENTRIES 1024
#define MAX_REAP 256

static unsigned pow2_at_least(unsigned v)
{
	unsigned p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static int ring_setup(struct usrv *u)
{
	const unsigned base = IORING_SETUP_CQSIZE;
	/* Most to least capable. DEFER_TASKRUN runs completions only when we
	 * enter to wait, so the kernel never interrupts the loop to post
	 * them; it needs SINGLE_ISSUER (6.1+). COOP_TASKRUN (5.19+) at least
	 * avoids the IPI. SUBMIT_ALL keeps one bad SQE from stalling the
	 * rest of a batch. */
	const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
			IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int rc = -EINVAL;

	for (unsigned i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct io_uring_params p;

		if (u->s->o.no_defer && (tries[i] & IORING_SETUP_DEFER_TASKRUN))
			continue;
		memset(&p, 0, sizeof(p));
		p.flags = base | tries[i];
		/* Every buffer can be in a receive CQE and a send CQE at once;
		 * room for both keeps the CQ from overflowing. */
		p.cq_entries = pow2_at_least(2 * u->s->o.bufs + SQ_ENTRIES);
		rc = io_uring_queue_init_params(SQ_ENTRIES, &u->ring, &p);
		if (rc != -EINVAL)
			break;
	}
	if (rc)
		return rc;
	u->s->st.ring_flags = u->ring.flags;
	/* Lets io_uring_enter skip the fd lookup; an optimisation only. */
	io_uring_register_ring_fd(&u->ring);
	return 0;
}

static int bufring_setup(struct usrv *u)
{
	struct bufring *b = &u->bufs;
	struct io_uring_buf_reg reg;
	int rc;

	b->entries = u->s->o.bufs;
	b->mask = b->entries - 1;
	b->size = u->s->o.buf_size;
	/* mmap gives the page alignment the kernel requires of the ring;
	 * MAP_POPULATE takes the page faults now rather than mid-run. */
	b->ring_bytes = b->entries * sizeof(struct io_uring_buf);
	b->br = mmap(NULL, b->ring_bytes, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (b->br == MAP_FAILED) {
		b->br = NULL;
		return -errno;
	}
	b->mem_bytes = (size_t)b->entries * b->size;
	b->base = mmap(NULL, b->mem_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (b->base == MAP_FAILED) {
		b->base = NULL;
		return -errno;
	}
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)b->br;
	reg.ring_entries = b->entries;
	reg.bgid = BGID;
	rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (rc)
		return rc;
	io_uring_buf_ring_init(b->br);
	b->held = b->entries; /* bufring_put() counts them back down */
	for (unsigned bid = 0; bid < b->entries; bid++)
		bufring_put(b, bid);
	return 0;
}

static void bufring_publish(struct bufring *b)
{
	if (!b->pending)
		return;
	/* Store-release of the tail: the kernel must see the buffer entries
	 * written by bufring_put() before it sees the tail covering them. */
	io_uring_buf_ring_advance(b->br, (int)b->pending);
	b->pending = 0;
}

int usrv_init(struct usrv *u, struct srv *s)
{
	int rc;

	memset(u, 0, sizeof(*u));
	u->s = s;
	/* Stop signals come in as a CQE (see stop_signals_init) for one more
	 * reason here: liburing's wait helper re-enters the kernel when a
	 * wait that also submitted is cut short by a signal, so EINTR would
	 * never reach this loop. */
	u->sigfd = stop_signalfd();
	if (u->sigfd < 0)
		return u->sigfd;
	rc = ring_setup(u);
	if (rc) {
		close(u->sigfd);
		return rc;
	}
	rc = bufring_setup(u);
	if (rc) {
		usrv_exit(u); /* unmaps whatever bufring_setup got to */
		return rc;
	}
	bufring_publish(&u->bufs);
	return 0;
}

void usrv_exit(struct usrv *u)
{
	io_uring_queue_exit(&u->ring);
	if (u->bufs.br)
		munmap(u->bufs.br, u->bufs.ring_bytes);
	if (u->bufs.base)
		munmap(u->bufs.base, u->bufs.mem_bytes);
	memset(&u->bufs, 0, sizeof(u->bufs));
	close(u->sigfd);
}

struct io_uring_sqe *usrv_sqe(struct usrv *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		io_uring_submit(&u->ring);
		u->s->st.enters++;
		u->s->st.syscalls++;
		sqe = io_uring_get_sqe(&u->ring);
		if (!sqe)
			die("io_uring submission queue stuck full");
	}
	u->s->st.sqes++;
	return sqe;
}

static void reap(struct usrv *u)
{
	struct io_uring_cqe *cqes[MAX_REAP];
	unsigned max = u->s->o.batch < MAX_REAP ? u->s->o.batch : MAX_REAP;
	unsigned n;

	while ((n = io_uring_peek_batch_cqe(&u->ring, cqes, max)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			switch (UD_OP(io_uring_cqe_get_data64(cqes[i]))) {
			case OP_SIGNAL:
				g_stop = 1;
				break;
			case OP_LIFETIME:
				u->expired = true;
				break;
			default:
				u->on_cqe(u, cqes[i]);
			}
		}
		/* Store-release of the CQ head: our reads of these CQEs are
		 * done before the kernel may reuse their slots. */
		io_uring_cq_advance(&u->ring, n);
		u->s->st.cqes += n;
	}
}

int usrv_loop(struct usrv *u)
{
	struct srv *s = u->s;
	unsigned wait_nr = s->o.wait_nr;
	struct io_uring_sqe *sqe;

	sqe = usrv_sqe(u);
	io_uring_prep_poll_add(sqe, u->sigfd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD(OP_SIGNAL, 0, u->sigfd));
	srv_ready(s);
	if (s->deadline) {
		/* The lifetime is a timer CQE too, so no wait needs a
		 * timeout of its own (each would arm and cancel an hrtimer). */
		u->end.tv_sec = (long long)(s->deadline / NSEC_PER_SEC);
		u->end.tv_nsec = (long long)(s->deadline % NSEC_PER_SEC);
		sqe = usrv_sqe(u);
		io_uring_prep_timeout(sqe, &u->end, 0, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(sqe, UD(OP_LIFETIME, 0, 0));
	}
	while (!g_stop && !u->expired) {
		struct __kernel_timespec ts, *tsp = NULL;
		struct io_uring_cqe *cqe;
		int rc;

		/* Waiting for several completions needs a bound, or a lull in
		 * traffic would park completions that already arrived. */
		if (wait_nr > 1) {
			ts.tv_sec = s->o.wait_us / 1000000;
			ts.tv_nsec = (long long)(s->o.wait_us % 1000000) * 1000;
			tsp = &ts;
		}
		/* Counting the echoes just queued in the wait lets one enter
		 * submit them, reap their completions and sleep for the next
		 * datagram, instead of returning for the sends alone. With no
		 * receive armed, only those completions can come: ask for no
		 * more, or the wait would outlast them for good. */
		unsigned want = u->expect;
		if (u->more_may_come || !want)
			want += wait_nr;
		rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, want, tsp, NULL);
		u->expect = 0;
		s->st.enters++;
		s->st.waits++;
		s->st.syscalls++;
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN &&
		    rc != -EBUSY)
			return rc;
		reap(u);
		u->after_reap(u);
		/* Buffers freed while reaping go back before the next enter
		 * re-arms anything that ran out of them. */
		bufring_publish(&u->bufs);
	}
	return 0;
}

/* --- UDP ------------------------------------------------------------- */

struct uudp {
	struct msghdr rmh; /* shape of the multishot recvmsg buffers */
	bool echo;
	struct msghdr *smh; /* per buffer id: the echo of that buffer */
	struct iovec *siov;
};

static void udp_arm(struct usrv *u, struct uudp *p)
{
	struct io_uring_sqe *sqe = usrv_sqe(u);

	io_uring_prep_recvmsg_multishot(sqe, u->s->fd, &p->rmh, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, UD(OP_RECV, 0, u->s->fd));
	u->more_may_come = true;
}

static void udp_recv(struct usrv *u, struct uudp *p, const struct io_uring_cqe *cqe)
{
	struct srv_stats *st = &u->s->st;
	struct io_uring_recvmsg_out *out;
	unsigned bid;
	void *buf;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		u->more_may_come = false;
	if (cqe->res < 0) {
		if (cqe->res == -ENOBUFS)
			st->enobufs++;
		else
			st->errors++;
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER)) {
		st->errors++;
		return;
	}
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	bufring_got(&u->bufs);
	buf = bufring_addr(&u->bufs, bid);
	out = io_uring_recvmsg_validate(buf, cqe->res, &p->rmh);
	if (!out) {
		st->errors++;
		bufring_put(&u->bufs, bid);
		return;
	}
	unsigned len = io_uring_recvmsg_payload_length(out, cqe->res, &p->rmh);
	st->packets++;
	st->bytes += len;
	if (out->flags & MSG_TRUNC)
		st->truncated++;
	if (!p->echo) {
		bufring_put(&u->bufs, bid);
		return;
	}
	/* Echo from the receive buffer itself; it goes back to the ring when
	 * the send completes, so no copy is needed. */
	struct msghdr *m = &p->smh[bid];
	p->siov[bid].iov_base = io_uring_recvmsg_payload(out, &p->rmh);
	p->siov[bid].iov_len = len;
	m->msg_name = io_uring_recvmsg_name(out);
	m->msg_namelen = out->namelen < p->rmh.msg_namelen ? out->namelen
							    : p->rmh.msg_namelen;
	m->msg_iov = &p->siov[bid];
	m->msg_iovlen = 1;
	struct io_uring_sqe *sqe = usrv_sqe(u);
	io_uring_prep_sendmsg(sqe, u->s->fd, m, 0);
	io_uring_sqe_set_data64(sqe, UD(OP_SEND, bid, u->s->fd));
	/* A UDP send never waits on the peer: it completes (or fails) as
	 * it is submitted. TCP sends can wait on the reader, so only UDP
	 * counts them. */
	u->expect++;
}

static void udp_cqe(struct usrv *u, const struct io_uring_cqe *cqe)
{
	struct uudp *p = u->impl;
	struct srv_stats *st = &u->s->st;
	uint64_t ud = io_uring_cqe_get_data64(cqe);

	if (UD_OP(ud) == OP_RECV) {
		st->recv_calls++;
		udp_recv(u, p, cqe);
		return;
	}
	st->send_calls++;
	if (cqe->res >= 0) {
		st->sent++;
		st->sent_bytes += (uint64_t)cqe->res;
	} else if (cqe->res == -EAGAIN || cqe->res == -ENOBUFS) {
		st->send_drops++;
	} else {
		st->errors++;
	}
	bufring_put(&u->bufs, UD_BID(ud));
}

static void udp_after_reap(struct usrv *u)
{
	struct uudp *p = u->impl;

	/* Re-arm only with a buffer to give, or the new request would end
	 * with ENOBUFS at once. Echo sends always return theirs. */
	if (!u->more_may_come && u->bufs.held < u->bufs.entries) {
		udp_arm(u, p);
		u->s->st.rearms++;
	}
}

static int run_udp(struct srv *s)
{
	struct usrv u;
	struct uudp p;
	int rc = usrv_init(&u, s);

	if (rc)
		return rc;
	memset(&p, 0, sizeof(p));
	/* Room for an IPv6 source address; no control data. */
	p.rmh.msg_namelen = sizeof(struct sockaddr_in6);
	p.echo = mode_is_echo(s->o.mode);
	if (p.echo) {
		p.smh = calloc(s->o.bufs, sizeof(*p.smh));
		p.siov = calloc(s->o.bufs, sizeof(*p.siov));
		if (!p.smh || !p.siov) {
			rc = -ENOMEM;
			goto out;
		}
	}
	u.impl = &p;
	u.on_cqe = udp_cqe;
	u.after_reap = udp_after_reap;
	udp_arm(&u, &p);
	rc = usrv_loop(&u);
out:
	usrv_exit(&u);
	free(p.smh);
	free(p.siov);
	return rc;
}

int srv_run_uring(struct srv *s)
{
	return mode_is_udp(s->o.mode) ? run_udp(s) : usrv_run_tcp(s);
}
