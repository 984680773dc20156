/* Pieces shared by the io_uring UDP server (server_uring.c) and the
 * io_uring TCP server (server_uring_tcp.c). */
#ifndef RW_BENCH_SERVER_URING_H
#define RW_BENCH_SERVER_URING_H

#include <liburing.h>

#include "server.h"

/* liburing 2.3 (Debian 12) predates some of what newer kernels offer;
 * these are the kernel UAPI values, defined only when the headers lack
 * them. */
#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif
#ifndef IORING_RECV_MULTISHOT
#define IORING_RECV_MULTISHOT (1U << 1)
#endif
#ifndef IORING_CQE_F_MORE
#define IORING_CQE_F_MORE (1U << 1)
#endif

/* user_data: operation in the top byte, buffer id, then the fd. */
enum { OP_RECV = 1, OP_SEND, OP_ACCEPT, OP_SIGNAL, OP_LIFETIME };
#define UD(op, bid, fd) \
	((uint64_t)(op) << 56 | (uint64_t)(uint16_t)(bid) << 32 | (uint32_t)(fd))
#define UD_OP(ud) ((unsigned)((ud) >> 56))
#define UD_BID(ud) ((unsigned)(((ud) >> 32) & 0xffff))
#define UD_FD(ud) ((int)(uint32_t)(ud))

#define BGID 0

/* A provided-buffer ring: the kernel picks a buffer per completion and
 * reports its id; we hand it back with bufring_put() once done with it. */
struct bufring {
	struct io_uring_buf_ring *br;
	char *base;
	size_t ring_bytes, mem_bytes;
	unsigned entries, mask, size;
	unsigned held;	  /* buffers the kernel has given us */
	unsigned pending; /* returned but not yet published */
};

static inline char *bufring_addr(const struct bufring *b, unsigned bid)
{
	return b->base + (size_t)bid * b->size;
}

static inline void bufring_got(struct bufring *b)
{
	b->held++;
}

static inline void bufring_put(struct bufring *b, unsigned bid)
{
	io_uring_buf_ring_add(b->br, bufring_addr(b, bid), b->size,
			      (unsigned short)bid, (int)b->mask, (int)b->pending++);
	b->held--;
}

struct usrv;
typedef void (*usrv_cqe_fn)(struct usrv *u, const struct io_uring_cqe *cqe);
typedef void (*usrv_batch_fn)(struct usrv *u);

struct usrv {
	struct srv *s;
	struct io_uring ring;
	struct bufring bufs;
	usrv_cqe_fn on_cqe;
	usrv_batch_fn after_reap; /* re-arm multishot requests that ended */
	void *impl;
	unsigned expect;	       /* completions certain to come at once */
	bool more_may_come;	       /* a multishot receive is armed */
	int sigfd;		       /* readable once SIGINT/SIGTERM is pending */
	bool expired;		       /* the lifetime timeout fired */
	struct __kernel_timespec end; /* absolute lifetime deadline */
};

/* Ring + buffer ring setup; 0 or -errno. usrv_exit() undoes a
 * successful usrv_init() (a failed one cleans up after itself). */
int usrv_init(struct usrv *u, struct srv *s);
void usrv_exit(struct usrv *u);
/* A free SQE, submitting queued ones first if the SQ is full. */
struct io_uring_sqe *usrv_sqe(struct usrv *u);
/* submit-and-wait / reap / re-arm until stopped; 0 or -errno. */
int usrv_loop(struct usrv *u);

int usrv_run_tcp(struct srv *s);

#endif
