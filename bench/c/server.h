/* rw-server: the C yardstick servers. server.c parses options and prints
 * the result; server_sock.c holds the socket code that the epoll and busy
 * loops share; each impl lives in its own file. */
#ifndef RW_BENCH_SERVER_H
#define RW_BENCH_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common.h"

enum srv_mode { MODE_UDP_ECHO, MODE_UDP_SINK, MODE_TCP_ECHO, MODE_TCP_SINK };
enum srv_impl { IMPL_EPOLL, IMPL_URING, IMPL_BUSY };

struct srv_opts {
	enum srv_mode mode;
	enum srv_impl impl;
	const char *host;
	unsigned port;
	double lifetime_s; /* 0: until SIGINT/SIGTERM */
	int cpu;	   /* -1: not pinned */
	unsigned batch;	   /* recvmmsg/sendmmsg vector, CQE reap batch */
	unsigned wait_nr;  /* uring: completions to wait for per enter */
	unsigned wait_us;  /* uring: how long to wait for them */
	unsigned bufs;	   /* uring: provided buffers */
	unsigned buf_size; /* bytes per receive buffer (all impls) */
	unsigned rcvbuf, sndbuf;
	bool no_defer; /* uring: skip DEFER_TASKRUN, to measure its effect */
};

/* Everything a run counts; printed as the server's JSON line. */
struct srv_stats {
	uint64_t packets;    /* datagrams / TCP reads that returned data */
	uint64_t bytes;	     /* payload bytes received */
	uint64_t sent;	     /* datagrams / TCP sends that moved data */
	uint64_t sent_bytes; /* payload bytes sent */
	uint64_t errors;     /* failed receives, sends, accepts */
	uint64_t send_drops; /* UDP echoes dropped on EAGAIN/ENOBUFS */
	uint64_t truncated;  /* datagrams larger than buf_size */
	uint64_t recv_calls, send_calls;
	uint64_t syscalls; /* every syscall made by the serving loop */
	uint64_t waits;	   /* epoll_wait or io_uring wait calls */
	uint64_t accepted, closed;
	/* io_uring only */
	uint64_t enters;  /* io_uring_enter calls */
	uint64_t sqes;	  /* SQEs queued */
	uint64_t cqes;	  /* CQEs reaped */
	uint64_t rearms;  /* multishot requests re-armed after ending */
	uint64_t enobufs; /* multishot ends for lack of provided buffers */
	unsigned ring_flags;
};

struct srv {
	struct srv_opts o;
	int fd; /* UDP socket or TCP listener, non-blocking */
	unsigned port;
	uint64_t deadline; /* now_ns() value to stop at; 0 = none */
	sigset_t openmask; /* signal mask with the stop signals let in */
	uint64_t t_start;  /* set by srv_ready() */
	struct cpu_usage cpu_start;
	struct srv_stats st;
};

/* Prints "listening <port>" once the impl can take traffic, and starts the
 * clocks (wall, CPU, lifetime). Every impl calls it right before its loop. */
void srv_ready(struct srv *s);

static inline bool mode_is_udp(enum srv_mode m)
{
	return m == MODE_UDP_ECHO || m == MODE_UDP_SINK;
}

static inline bool mode_is_echo(enum srv_mode m)
{
	return m == MODE_UDP_ECHO || m == MODE_TCP_ECHO;
}

/* Connection tables are indexed by fd; higher fds are refused. */
#define SRV_MAX_FDS (1ul << 17)

/* True once a stop signal came or the lifetime ran out. */
static inline bool srv_done(const struct srv *s)
{
	return g_stop || (s->deadline && now_ns() >= s->deadline);
}

/* server_sock.c */
int srv_open_socket(struct srv *s); /* 0 or -errno; sets s->fd, s->port */
void srv_tune_conn(struct srv *s, int fd);

/* A recvmmsg/sendmmsg vector. */
struct udp_batch {
	unsigned n;
	size_t buf_size;
	char *bufs;
	struct mmsghdr *rx, *tx;
	struct iovec *rx_iov, *tx_iov;
	struct sockaddr_storage *addr;
};
int udp_batch_init(struct udp_batch *b, unsigned n, size_t buf_size);
void udp_batch_free(struct udp_batch *b);
/* One recvmmsg (and sendmmsg for echo). Returns datagrams received, 0 when
 * the socket was empty, -errno on a fatal error. */
int udp_batch_step(struct srv *s, struct udp_batch *b, bool echo);

/* A TCP connection for the readiness-based loops: at most one pending
 * echo remainder, and no reading while it is pending, so a client that
 * does not read cannot make the server buffer without bound. */
struct tcp_conn {
	int fd;
	bool want_out; /* pending echo bytes: wait for writability */
	char *pend;
	size_t pend_off, pend_len, pend_cap;
};
struct tcp_scratch {
	char *buf;
	size_t cap;
};
/* Accepts one connection: fd, 0 if none is queued, -errno on error. */
int tcp_accept_one(struct srv *s);
/* Serves whatever the socket has. Returns 0 to keep the connection, -1 to
 * close it (EOF or error). */
int tcp_conn_service(struct srv *s, struct tcp_conn *c, struct tcp_scratch *sc);
void tcp_conn_close(struct srv *s, struct tcp_conn *c);

int srv_run_epoll(struct srv *s);
int srv_run_busy(struct srv *s);
int srv_run_uring(struct srv *s);

#endif
