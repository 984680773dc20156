/* rw-server: options, start-up and the result line. */
#include "server.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "server_uring.h"

static const char usage[] =
	"usage: rw-server --mode udp-echo|udp-sink|tcp-echo|tcp-sink\n"
	"                 --impl epoll|uring|busy\n"
	"                 [--host 127.0.0.1] [--port 0] [--lifetime SEC] [--cpu N]\n"
	"                 [--batch 64] [--buf-size BYTES] [--rcvbuf BYTES] [--sndbuf BYTES]\n"
	"                 [--wait-nr 1] [--wait-us 50] [--bufs N] [--no-defer]   (uring)\n"
	"Prints 'listening <port>' when ready and one JSON line when stopped\n"
	"by SIGTERM/SIGINT or --lifetime.\n";

static const char *const mode_names[] = { "udp-echo", "udp-sink", "tcp-echo", "tcp-sink" };
static const char *const impl_names[] = { "epoll", "uring", "busy" };

static int pick(const char *opt, const char *val, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(val, names[i]))
			return i;
	usage_error("unknown %s '%s'", opt, val);
}

static void parse(int argc, char **argv, struct srv_opts *o)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "impl", required_argument, NULL, 'i' },
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "lifetime", required_argument, NULL, 'l' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "batch", required_argument, NULL, 'b' },
		{ "wait-nr", required_argument, NULL, 'w' },
		{ "wait-us", required_argument, NULL, 'W' },
		{ "bufs", required_argument, NULL, 'n' },
		{ "buf-size", required_argument, NULL, 's' },
		{ "rcvbuf", required_argument, NULL, 'R' },
		{ "sndbuf", required_argument, NULL, 'S' },
		{ "no-defer", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool have_mode = false, have_impl = false;
	int ch;

	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->cpu = -1;
	o->batch = 64;
	o->wait_nr = 1;
	o->wait_us = 50;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'm': o->mode = pick("--mode", optarg, mode_names, 4); have_mode = true; break;
		case 'i': o->impl = pick("--impl", optarg, impl_names, 3); have_impl = true; break;
		case 'H': o->host = optarg; break;
		case 'p': o->port = arg_u64("--port", optarg, 0, 65535); break;
		case 'l': o->lifetime_s = arg_double("--lifetime", optarg, 0, 1e6); break;
		case 'c': o->cpu = (int)arg_u64("--cpu", optarg, 0, CPU_SETSIZE - 1); break;
		case 'b': o->batch = arg_u64("--batch", optarg, 1, 1024); break;
		case 'w': o->wait_nr = arg_u64("--wait-nr", optarg, 1, 4096); break;
		case 'W': o->wait_us = arg_u64("--wait-us", optarg, 1, 1000000); break;
		case 'n': o->bufs = arg_u64("--bufs", optarg, 1, 16384); break;
		case 's': o->buf_size = arg_u64("--buf-size", optarg, 256, 1u << 20); break;
		case 'R': o->rcvbuf = arg_u64("--rcvbuf", optarg, 0, 1u << 30); break;
		case 'S': o->sndbuf = arg_u64("--sndbuf", optarg, 0, 1u << 30); break;
		case 'D': o->no_defer = true; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: usage_error("bad option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!have_mode || !have_impl)
		usage_error("--mode and --impl are required");
	if (o->bufs & (o->bufs - 1))
		usage_error("--bufs must be a power of two");
	/* UDP: one MTU-sized datagram per buffer, many buffers. TCP: few
	 * large buffers, as a stream fills whatever it is given. */
	if (!o->buf_size)
		o->buf_size = mode_is_udp(o->mode) ? 2048 : 65536;
	if (!o->bufs)
		o->bufs = mode_is_udp(o->mode) ? 4096 : 512;
}

static struct srv g_srv;

void srv_ready(struct srv *s)
{
	s->t_start = now_ns();
	cpu_usage_now(&s->cpu_start);
	if (s->o.lifetime_s > 0)
		s->deadline = s->t_start + (uint64_t)(s->o.lifetime_s * 1e9);
	printf("listening %u\n", s->port);
	fflush(stdout);
}

static void ring_flag_names(unsigned f, char *out, size_t n)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ IORING_SETUP_SINGLE_ISSUER, "single_issuer" },
		{ IORING_SETUP_DEFER_TASKRUN, "defer_taskrun" },
		{ IORING_SETUP_COOP_TASKRUN, "coop_taskrun" },
		{ IORING_SETUP_SUBMIT_ALL, "submit_all" },
	};
	size_t len = 0;

	out[0] = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((f & names[i].bit) && len < n)
			len += (size_t)snprintf(out + len, n - len, "%s%s",
						len ? "|" : "", names[i].name);
}

static void report(struct srv *s, int rc)
{
	const struct srv_stats *st = &s->st;
	struct cpu_usage end, cpu;
	struct json j;
	char impl[16];
	double wall;

	cpu_usage_now(&end);
	cpu_usage_diff(&s->cpu_start, &end, &cpu);
	wall = (double)(now_ns() - s->t_start) / 1e9;
	snprintf(impl, sizeof(impl), "c-%s", impl_names[s->o.impl]);

	json_begin(&j);
	json_str(&j, "impl", impl);
	json_str(&j, "mode", mode_names[s->o.mode]);
	json_u64(&j, "port", s->port);
	json_u64(&j, "packets", st->packets);
	json_u64(&j, "bytes", st->bytes);
	json_u64(&j, "sent", st->sent);
	json_u64(&j, "sent_bytes", st->sent_bytes);
	json_u64(&j, "errors", st->errors);
	json_u64(&j, "send_drops", st->send_drops);
	json_u64(&j, "truncated", st->truncated);
	json_u64(&j, "recv_calls", st->recv_calls);
	json_u64(&j, "send_calls", st->send_calls);
	json_u64(&j, "syscalls", st->syscalls);
	json_u64(&j, "waits", st->waits);
	if (!mode_is_udp(s->o.mode)) {
		json_u64(&j, "accepted", st->accepted);
		json_u64(&j, "closed", st->closed);
	}
	if (s->o.impl == IMPL_URING) {
		char flags[96];
		ring_flag_names(st->ring_flags, flags, sizeof(flags));
		json_u64(&j, "enters", st->enters);
		json_u64(&j, "sqes", st->sqes);
		json_u64(&j, "cqes", st->cqes);
		json_u64(&j, "rearms", st->rearms);
		json_u64(&j, "enobufs", st->enobufs);
		json_str(&j, "ring_flags", flags);
		json_u64(&j, "wait_nr", s->o.wait_nr);
	}
	json_cpu(&j, &cpu);
	json_dbl(&j, "wall_s", wall, 6);
	json_dbl(&j, "pps", wall > 0 ? (double)st->packets / wall : 0, 1);
	if (rc)
		json_str(&j, "error", strerror(-rc));
	json_end(&j);
}

int main(int argc, char **argv)
{
	struct srv *s = &g_srv;
	int rc;

	g_prog = "rw-server";
	g_usage = usage;
	parse(argc, argv, &s->o);
	if (s->o.cpu >= 0 && (rc = pin_cpu(s->o.cpu)))
		die("cannot pin to CPU %d: %s", s->o.cpu, strerror(-rc));
	/* A batched wait's few-microsecond timeout would otherwise get the
	 * default 50 us of timer slack added to it. */
	if (s->o.wait_nr > 1)
		prctl(PR_SET_TIMERSLACK, 1000UL);
	stop_signals_init(true, &s->openmask);
	rc = srv_open_socket(s);
	if (rc)
		die("cannot listen on %s port %u: %s", s->o.host, s->o.port,
		    strerror(-rc));
	switch (s->o.impl) {
	case IMPL_EPOLL: rc = srv_run_epoll(s); break;
	case IMPL_URING: rc = srv_run_uring(s); break;
	case IMPL_BUSY: rc = srv_run_busy(s); break;
	}
	if (rc && !s->t_start) /* failed before serving: nothing to report */
		die("%s setup failed: %s", impl_names[s->o.impl], strerror(-rc));
	report(s, rc);
	if (rc)
		fprintf(stderr, "rw-server: %s\n", strerror(-rc));
	close(s->fd);
	return rc ? 1 : 0;
}
