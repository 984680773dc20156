/* Shared helpers for the C reference programs of `ringwire perf`:
 * clocks, CPU accounting, pinning, argument parsing, a latency histogram,
 * one-line JSON output and stop-signal handling. */
#ifndef RW_BENCH_COMMON_H
#define RW_BENCH_COMMON_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#define NSEC_PER_SEC 1000000000ull

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	/* vDSO call, no syscall: cheap enough to take per round trip. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

struct cpu_usage {
	double user_s;
	double sys_s;
	long vcsw;  /* voluntary context switches: sleeps */
	long ivcsw; /* involuntary ones: preemptions */
};

void cpu_usage_now(struct cpu_usage *u);
/* b - a, field by field */
void cpu_usage_diff(const struct cpu_usage *a, const struct cpu_usage *b,
		    struct cpu_usage *out);

/* Pins the calling thread; returns 0 or -errno. */
int pin_cpu(int cpu);
/* Lifts RLIMIT_NOFILE to its hard limit and returns the new soft limit. */
unsigned long raise_nofile(void);

/* Argument parsing: print "<prog>: <message>" plus the usage text and
 * exit 2, the harness's "bad arguments" code. */
extern const char *g_prog;
extern const char *g_usage;
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
uint64_t arg_u64(const char *opt, const char *s, uint64_t min, uint64_t max);
double arg_double(const char *opt, const char *s, double min, double max);
/* Fatal runtime error: message on stderr, exit 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Numeric host (or a name from /etc/hosts) to an address; 0 or an EAI_
 * code. passive picks the wildcard address when host is NULL. */
int resolve_addr(const char *host, unsigned port, int socktype, bool passive,
		 struct sockaddr_storage *ss, socklen_t *len);

/* Stop handling: SIGINT/SIGTERM set g_stop through a handler installed
 * without SA_RESTART, so a blocking call returns EINTR instead of being
 * restarted. With block=true the signals are blocked instead and
 * *openmask gets the mask that lets them in again. Event loops keep them
 * blocked and watch stop_signalfd(): a pending stop signal then arrives
 * as an ordinary event, with no window between checking a flag and going
 * to sleep, and it is seen under load too (epoll_pwait's mask only lets a
 * signal in when the wait itself is interrupted). */
extern volatile sig_atomic_t g_stop;
void stop_signals_init(bool block, sigset_t *openmask);
/* Non-blocking signalfd for SIGINT/SIGTERM, or -errno. */
int stop_signalfd(void);

/* Log-linear histogram of nanosecond values: 2^HIST_SUB_BITS linear
 * sub-buckets per power of two, so any value is kept to within 1/128
 * (0.8%) at a fixed 59 KiB cost and O(1) recording. */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((65 - HIST_SUB_BITS) * HIST_SUB)

struct hist {
	uint64_t count, sum, min, max;
	uint64_t bucket[HIST_BUCKETS];
};

void hist_init(struct hist *h);

static inline unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - HIST_SUB_BITS;
	/* Top HIST_SUB_BITS+1 bits of v; the leading one is implied by the
	 * power-of-two band (shift + 1). */
	return (shift + 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

static inline void hist_add(struct hist *h, uint64_t v)
{
	h->bucket[hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

/* Value at quantile q (0..1], as the bucket midpoint clamped to min/max. */
uint64_t hist_quantile(const struct hist *h, double q);

/* One JSON object on one line of stdout. Keys are trusted literals. */
struct json {
	int n;
};
void json_begin(struct json *j);
void json_str(struct json *j, const char *key, const char *val);
void json_u64(struct json *j, const char *key, uint64_t val);
void json_i64(struct json *j, const char *key, int64_t val);
void json_dbl(struct json *j, const char *key, double val, int decimals);
void json_cpu(struct json *j, const struct cpu_usage *u);
/* p50_us, p99_us, p999_us, max_us, min_us, mean_us */
void json_hist_us(struct json *j, const struct hist *h);
void json_end(struct json *j);

#endif
