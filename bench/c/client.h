/* rw-client: load generators that work against any server speaking the
 * mode's protocol (echo or sink). client.c owns options, timing phases and
 * the shared JSON fields; client_udp.c and client_tcp.c own the loops. */
#ifndef RW_BENCH_CLIENT_H
#define RW_BENCH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common.h"

enum cl_mode { CL_UDP_PINGPONG, CL_UDP_BLAST, CL_TCP_RR, CL_TCP_STREAM };

struct cl_opts {
	enum cl_mode mode;
	const char *host;
	unsigned port;
	double duration_s, warmup_s;
	size_t size;
	unsigned conns, batch;
	uint64_t rate; /* datagrams per second, 0 = as fast as possible */
	int cpu;
	bool spin; /* udp-pingpong: poll for the reply instead of sleeping */
	bool gso;  /* udp-blast: one UDP_SEGMENT send per batch */
};

struct cl_run {
	struct cl_opts o;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint64_t t_start;   /* loop start */
	uint64_t t_measure; /* warm-up over: counting starts */
	uint64_t t_end;	    /* deadline */
	uint64_t t_stop;    /* when the loop actually stopped */
	bool measuring;
	struct cpu_usage cpu_at_measure;
};

/* Starts the clocks; call right before the loop. */
void cl_start(struct cl_run *r);

/* Advances the warm-up/measure phase; returns false once the run is over
 * (deadline or stop signal). */
static inline bool cl_tick(struct cl_run *r, uint64_t now)
{
	if (!r->measuring && now >= r->t_measure) {
		r->measuring = true;
		cpu_usage_now(&r->cpu_at_measure);
	}
	if (now >= r->t_end || g_stop) {
		r->t_stop = now;
		return false;
	}
	return true;
}

/* epoll timeout until the next phase change, rounded up to whole ms. */
int cl_timeout_ms(const struct cl_run *r, uint64_t now);

/* Seconds counted, from the end of warm-up to the stop. */
double cl_measured_s(const struct cl_run *r);

/* Connected socket of the given type, or exit 1 with a message. */
int cl_connect(struct cl_run *r, int type);
/* Exit 1 naming the server when it is not there (ECONNREFUSED etc.). */
void cl_fail(const struct cl_run *r, const char *what, int err) __attribute__((noreturn));

/* The JSON fields every mode shares; the mode adds its own between. */
void cl_json_begin(struct cl_run *r, struct json *j);
void cl_json_end(struct cl_run *r, struct json *j);

int cl_udp_pingpong(struct cl_run *r);
int cl_udp_blast(struct cl_run *r);
int cl_tcp_rr(struct cl_run *r);
int cl_tcp_stream(struct cl_run *r);

#endif
