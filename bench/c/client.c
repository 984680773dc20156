/* rw-client: options, connection set-up, phases and shared output. */
#include "client.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
	"usage: rw-client udp-pingpong|udp-blast|tcp-rr|tcp-stream --port P\n"
	"                 [--host 127.0.0.1] [--duration 2] [--warmup 0] [--size BYTES]\n"
	"                 [--conns 1] [--batch 32] [--rate PPS(0=max)] [--cpu N]\n"
	"                 [--spin] [--gso]\n"
	"Prints one JSON line. Exit 0 ok, 1 on errors, 2 on bad arguments.\n"
	"Default --size: 64 (udp-*, tcp-rr), 65536 (tcp-stream).\n"
	"--batch: datagrams per sendmmsg (udp-blast). --rate: udp-blast only.\n"
	"--spin: udp-pingpong and tcp-rr poll for replies, for servers on another CPU.\n"
	"--gso: udp-blast sends each batch as one UDP_SEGMENT send (<= 64).\n";

static const char *const mode_names[] = { "udp-pingpong", "udp-blast", "tcp-rr",
					  "tcp-stream" };

static void parse(int argc, char **argv, struct cl_opts *o)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "size", required_argument, NULL, 's' },
		{ "conns", required_argument, NULL, 'k' },
		{ "batch", required_argument, NULL, 'b' },
		{ "rate", required_argument, NULL, 'r' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "spin", no_argument, NULL, 'S' },
		{ "gso", no_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool have_port = false, have_mode = false;
	int ch;

	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->duration_s = 2;
	o->conns = 1;
	o->batch = 32;
	o->cpu = -1;
	opterr = 0;
	/* The mode is a positional word; let it sit anywhere. */
	while ((ch = getopt_long(argc, argv, "-", opts, NULL)) != -1) {
		switch (ch) {
		case 1:
			if (have_mode)
				usage_error("unexpected argument '%s'", optarg);
			for (o->mode = 0; o->mode < 4; o->mode++)
				if (!strcmp(optarg, mode_names[o->mode]))
					break;
			if (o->mode == 4)
				usage_error("unknown mode '%s'", optarg);
			have_mode = true;
			break;
		case 'H': o->host = optarg; break;
		case 'p': o->port = arg_u64("--port", optarg, 1, 65535); have_port = true; break;
		case 'd': o->duration_s = arg_double("--duration", optarg, 0.001, 86400); break;
		case 'w': o->warmup_s = arg_double("--warmup", optarg, 0, 86400); break;
		case 's': o->size = arg_u64("--size", optarg, 1, 1u << 30); break;
		case 'k': o->conns = arg_u64("--conns", optarg, 1, 100000); break;
		case 'b': o->batch = arg_u64("--batch", optarg, 1, 1024); break;
		case 'r': o->rate = arg_u64("--rate", optarg, 0, 1000000000); break;
		case 'c': o->cpu = (int)arg_u64("--cpu", optarg, 0, CPU_SETSIZE - 1); break;
		case 'S': o->spin = true; break;
		case 'G': o->gso = true; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: usage_error("bad option '%s'", argv[optind - 1]);
		}
	}
	if (!have_mode)
		usage_error("a mode is required");
	if (!have_port)
		usage_error("--port is required");
	if (!o->size)
		o->size = o->mode == CL_TCP_STREAM ? 65536 : 64;
	/* 65507 is the largest UDP payload over IPv4. */
	if ((o->mode == CL_UDP_PINGPONG || o->mode == CL_UDP_BLAST) && o->size > 65507)
		usage_error("--size for UDP must be at most 65507");
}

void cl_start(struct cl_run *r)
{
	r->t_start = now_ns();
	r->t_measure = r->t_start + (uint64_t)(r->o.warmup_s * 1e9);
	r->t_end = r->t_measure + (uint64_t)(r->o.duration_s * 1e9);
	r->t_stop = r->t_end;
	r->measuring = false;
	cl_tick(r, r->t_start);
}

int cl_timeout_ms(const struct cl_run *r, uint64_t now)
{
	uint64_t next = r->measuring ? r->t_end : r->t_measure;

	return now >= next ? 0 : (int)((next - now + 999999) / 1000000);
}

double cl_measured_s(const struct cl_run *r)
{
	if (!r->measuring || r->t_stop <= r->t_measure)
		return 0;
	return (double)(r->t_stop - r->t_measure) / 1e9;
}

void cl_fail(const struct cl_run *r, const char *what, int err)
{
	die("%s %s port %u: %s%s", what, r->o.host, r->o.port, strerror(err),
	    err == ECONNREFUSED ? " (is a server listening there?)" : "");
}

int cl_connect(struct cl_run *r, int type)
{
	int fd = socket(r->addr.ss_family, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&r->addr, r->addr_len))
		cl_fail(r, "cannot connect to", errno);
	return fd;
}

void cl_json_begin(struct cl_run *r, struct json *j)
{
	json_begin(j);
	json_str(j, "impl", "c");
	json_str(j, "mode", mode_names[r->o.mode]);
	json_str(j, "host", r->o.host);
	json_u64(j, "port", r->o.port);
	json_u64(j, "size", r->o.size);
}

void cl_json_end(struct cl_run *r, struct json *j)
{
	struct cpu_usage now, cpu;

	cpu_usage_now(&now);
	if (r->measuring)
		cpu_usage_diff(&r->cpu_at_measure, &now, &cpu);
	else
		memset(&cpu, 0, sizeof(cpu));
	json_dbl(j, "duration_s", cl_measured_s(r), 6);
	json_dbl(j, "warmup_s", r->o.warmup_s, 3);
	json_cpu(j, &cpu);
	json_end(j);
}

int main(int argc, char **argv)
{
	static struct cl_run run;
	struct cl_run *r = &run;
	int type, rc;

	g_prog = "rw-client";
	g_usage = usage;
	parse(argc, argv, &r->o);
	type = r->o.mode <= CL_UDP_BLAST ? SOCK_DGRAM : SOCK_STREAM;
	rc = resolve_addr(r->o.host, r->o.port, type, false, &r->addr, &r->addr_len);
	if (rc)
		die("cannot resolve '%s': %s", r->o.host, gai_strerror(rc));
	if (r->o.cpu >= 0 && (rc = pin_cpu(r->o.cpu)))
		die("cannot pin to CPU %d: %s", r->o.cpu, strerror(-rc));
	/* Ctrl-C ends the run early but still prints what was measured. */
	stop_signals_init(false, NULL);
	switch (r->o.mode) {
	case CL_UDP_PINGPONG: return cl_udp_pingpong(r);
	case CL_UDP_BLAST: return cl_udp_blast(r);
	case CL_TCP_RR: return cl_tcp_rr(r);
	case CL_TCP_STREAM: return cl_tcp_stream(r);
	}
	return 2;
}
