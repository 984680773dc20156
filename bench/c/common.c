#include "common.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>

const char *g_prog = "rw-bench";
const char *g_usage = "";
volatile sig_atomic_t g_stop;

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

void cpu_usage_now(struct cpu_usage *u)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	u->user_s = tv_s(ru.ru_utime);
	u->sys_s = tv_s(ru.ru_stime);
	u->vcsw = ru.ru_nvcsw;
	u->ivcsw = ru.ru_nivcsw;
}

void cpu_usage_diff(const struct cpu_usage *a, const struct cpu_usage *b,
		    struct cpu_usage *out)
{
	out->user_s = b->user_s - a->user_s;
	out->sys_s = b->sys_s - a->sys_s;
	out->vcsw = b->vcsw - a->vcsw;
	out->ivcsw = b->ivcsw - a->ivcsw;
}

int pin_cpu(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

unsigned long raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return (unsigned long)rl.rlim_cur;
}

void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", g_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", g_usage);
	exit(2);
}

void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", g_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

uint64_t arg_u64(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	/* strtoull accepts "-1" and wraps it; refuse any sign explicitly. */
	if (errno || end == s || *end || strchr(s, '-') || v < min || v > max)
		usage_error("%s wants an integer in [%llu, %llu], got '%s'", opt,
			    (unsigned long long)min, (unsigned long long)max, s);
	return v;
}

double arg_double(const char *opt, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
		usage_error("%s wants a number in [%g, %g], got '%s'", opt, min,
			    max, s);
	return v;
}

int resolve_addr(const char *host, unsigned port, int socktype, bool passive,
		 struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints, *res;
	char service[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = socktype;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	snprintf(service, sizeof(service), "%u", port);
	rc = getaddrinfo(host, service, &hints, &res);
	if (rc)
		return rc;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void on_stop(int sig)
{
	(void)sig;
	g_stop = 1;
}

void stop_signals_init(bool block, sigset_t *openmask)
{
	struct sigaction sa;
	sigset_t stopset, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: a sleeping syscall must return EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	sigemptyset(&stopset);
	sigaddset(&stopset, SIGINT);
	sigaddset(&stopset, SIGTERM);
	sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &stopset, &old);
	if (openmask) {
		*openmask = old;
		sigdelset(openmask, SIGINT);
		sigdelset(openmask, SIGTERM);
	}
}

int stop_signalfd(void)
{
	sigset_t stopset;
	int fd;

	sigemptyset(&stopset);
	sigaddset(&stopset, SIGINT);
	sigaddset(&stopset, SIGTERM);
	fd = signalfd(-1, &stopset, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen < rank)
			continue;
		uint64_t lo, width;
		if (i < HIST_SUB) {
			lo = i;
			width = 1;
		} else {
			unsigned shift = i / HIST_SUB - 1;
			lo = (uint64_t)(HIST_SUB + i % HIST_SUB) << shift;
			width = 1ull << shift;
		}
		uint64_t v = lo + (width - 1) / 2;
		return v < h->min ? h->min : v > h->max ? h->max : v;
	}
	return h->max;
}

static void json_key(struct json *j, const char *key)
{
	printf("%s\"%s\":", j->n++ ? "," : "", key);
}

void json_begin(struct json *j)
{
	j->n = 0;
	putchar('{');
}

void json_str(struct json *j, const char *key, const char *val)
{
	json_key(j, key);
	putchar('"');
	for (const char *p = val; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		if ((unsigned char)*p >= 0x20)
			putchar(*p);
	}
	putchar('"');
}

void json_u64(struct json *j, const char *key, uint64_t val)
{
	json_key(j, key);
	printf("%llu", (unsigned long long)val);
}

void json_i64(struct json *j, const char *key, int64_t val)
{
	json_key(j, key);
	printf("%lld", (long long)val);
}

void json_dbl(struct json *j, const char *key, double val, int decimals)
{
	json_key(j, key);
	/* JSON has no NaN/Infinity; a rate over a zero interval becomes 0. */
	printf("%.*f", decimals, isfinite(val) ? val : 0.0);
}

void json_cpu(struct json *j, const struct cpu_usage *u)
{
	json_dbl(j, "cpu_user_s", u->user_s, 6);
	json_dbl(j, "cpu_sys_s", u->sys_s, 6);
	json_i64(j, "vcsw", u->vcsw);
	json_i64(j, "ivcsw", u->ivcsw);
}

void json_hist_us(struct json *j, const struct hist *h)
{
	json_dbl(j, "p50_us", (double)hist_quantile(h, 0.50) / 1e3, 3);
	json_dbl(j, "p90_us", (double)hist_quantile(h, 0.90) / 1e3, 3);
	json_dbl(j, "p95_us", (double)hist_quantile(h, 0.95) / 1e3, 3);
	json_dbl(j, "p99_us", (double)hist_quantile(h, 0.99) / 1e3, 3);
	json_dbl(j, "p999_us", (double)hist_quantile(h, 0.999) / 1e3, 3);
	json_dbl(j, "max_us", (double)h->max / 1e3, 3);
	json_dbl(j, "min_us", h->count ? (double)h->min / 1e3 : 0.0, 3);
	json_dbl(j, "mean_us",
		 h->count ? (double)h->sum / (double)h->count / 1e3 : 0.0, 3);
}

void json_end(struct json *j)
{
	(void)j;
	fputs("}\n", stdout);
	fflush(stdout);
}
