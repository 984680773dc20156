/* UDP load: ping-pong (one datagram in flight, RTT histogram) and blast
 * (sendmmsg at full speed or a fixed rate, for sink servers). */
#include "client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT /* kernel UAPI value, for older libc headers */
#define UDP_SEGMENT 103
#endif
/* Segments the kernel accepts in one GSO send (UDP_MAX_SEGMENTS). */
#define GSO_MAX_SEGS 64
/* Payload bytes per GSO send: 64 KiB less IP and UDP headers. */
#define GSO_MAX_BYTES 65000

/* A lost datagram costs this much before we resend, not the whole run. */
#define RECV_TIMEOUT_US 100000

static void set_timeout(int fd, int opt, long us)
{
	struct timeval tv = { .tv_sec = us / 1000000, .tv_usec = us % 1000000 };

	setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

/* Sequence number in the first 8 bytes (fewer if the datagram is
 * smaller), so a server can spot loss and reordering. */
static void put_seq(char *buf, size_t size, uint64_t seq)
{
	memcpy(buf, &seq, size < sizeof(seq) ? size : sizeof(seq));
}

int cl_udp_pingpong(struct cl_run *r)
{
	size_t size = r->o.size;
	char *sbuf = calloc(1, size), *rbuf = malloc(size + 1);
	struct hist *h = malloc(sizeof(*h));
	uint64_t seq = 0, trips = 0, timeouts = 0, stale = 0, errors = 0;
	int fd = cl_connect(r, SOCK_DGRAM);
	struct json j;

	if (!sbuf || !rbuf || !h)
		die("out of memory");
	hist_init(h);
	/* Blocking receive: the client sleeps like the server does, so the
	 * two can share one CPU; the timeout turns a loss into a resend.
	 * --spin polls instead, so that a server on another CPU is not
	 * measured together with this CPU's wake-up from idle. */
	set_timeout(fd, SO_RCVTIMEO, RECV_TIMEOUT_US);
	cl_start(r);
	for (uint64_t t0 = r->t_start; cl_tick(r, t0); t0 = now_ns()) {
		bool counted = r->measuring;

		put_seq(sbuf, size, ++seq);
		if (send(fd, sbuf, size, 0) < 0) {
			if (errno == ECONNREFUSED)
				cl_fail(r, "no UDP server at", errno);
			if (errno != EINTR)
				errors++;
			continue;
		}
		for (;;) {
			ssize_t n = recv(fd, rbuf, size + 1, r->o.spin ? MSG_DONTWAIT : 0);

			if (n < 0 && r->o.spin && errno == EAGAIN && !g_stop &&
			    now_ns() - t0 < RECV_TIMEOUT_US * 1000ull)
				continue;
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					timeouts++;
				else if (errno == ECONNREFUSED)
					cl_fail(r, "no UDP server at", errno);
				else if (errno != EINTR)
					errors++;
				break;
			}
			/* A late reply to an earlier, timed-out ping is not
			 * this round trip's answer. */
			if ((size_t)n != size ||
			    memcmp(rbuf, sbuf, size < 8 ? size : 8)) {
				stale++;
				continue;
			}
			if (counted) {
				hist_add(h, now_ns() - t0);
				trips++;
			}
			break;
		}
	}
	close(fd);

	double secs = cl_measured_s(r);
	cl_json_begin(r, &j);
	json_u64(&j, "round_trips", trips);
	json_dbl(&j, "rtt_per_s", secs > 0 ? (double)trips / secs : 0, 1);
	json_hist_us(&j, h);
	json_u64(&j, "timeouts", timeouts);
	json_u64(&j, "stale", stale);
	json_u64(&j, "errors", errors);
	cl_json_end(r, &j);
	free(sbuf);
	free(rbuf);
	free(h);
	return 0;
}

/* Sleeps (or, for gaps too short to sleep accurately, spins) until the
 * next datagram is due at the requested rate, or the run's deadline. */
static void pace(const struct cl_run *r, uint64_t sent_total)
{
	uint64_t due = r->t_start + sent_total * NSEC_PER_SEC / r->o.rate;

	if (due > r->t_end)
		due = r->t_end;
	for (;;) {
		uint64_t now = now_ns(), gap;
		if (now >= due || g_stop)
			return;
		/* Wake-up latency here is tens of microseconds: sleep short
		 * of the mark and spin the rest. */
		gap = due - now;
		if (gap > 60000) {
			gap -= 50000;
			struct timespec ts = { .tv_sec = (time_t)(gap / NSEC_PER_SEC),
					       .tv_nsec = (long)(gap % NSEC_PER_SEC) };
			nanosleep(&ts, NULL);
		}
	}
}

/* Sends slots [off, n) of the batch: datagrams sent, or -errno. With
 * GSO the whole batch is one send that the kernel cuts into datagrams of
 * `size` bytes, which spares the sender the per-datagram syscall and
 * route work: the cheaper client when sendmmsg cannot saturate a sink. */
static int blast_send(int fd, struct mmsghdr *msgs, char *bufs, size_t size,
		      unsigned off, unsigned n, bool gso)
{
	if (gso) {
		ssize_t w = send(fd, bufs + (size_t)off * size, (size_t)(n - off) * size, 0);
		return w < 0 ? -errno : (int)(n - off);
	}
	int k = sendmmsg(fd, msgs + off, n - off, 0);
	return k < 0 ? -errno : k;
}

int cl_udp_blast(struct cl_run *r)
{
	size_t size = r->o.size;
	bool gso = r->o.gso;
	unsigned batch = r->o.batch;
	if (gso) {
		size_t max = GSO_MAX_BYTES / size;
		if (max > GSO_MAX_SEGS)
			max = GSO_MAX_SEGS;
		if (max < 1)
			usage_error("--gso needs --size of at most %d", GSO_MAX_BYTES);
		if (batch > max)
			batch = (unsigned)max;
	}
	char *bufs = calloc(batch, size);
	struct mmsghdr *msgs = calloc(batch, sizeof(*msgs));
	struct iovec *iov = calloc(batch, sizeof(*iov));
	uint64_t seq = 0, sent = 0, warm_sent = 0, errors = 0, calls = 0;
	int fd = cl_connect(r, SOCK_DGRAM), seg = (int)size;
	unsigned off = batch; /* next unsent slot; batch = refill */
	struct json j;

	if (!bufs || !msgs || !iov)
		die("out of memory");
	for (unsigned i = 0; i < batch; i++) {
		iov[i].iov_base = bufs + (size_t)i * size;
		iov[i].iov_len = size;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	if (gso && setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)))
		die("UDP GSO (UDP_SEGMENT): %s", strerror(errno));
	/* Loopback UDP rarely blocks the sender; bound it anyway so the
	 * deadline holds. */
	set_timeout(fd, SO_SNDTIMEO, RECV_TIMEOUT_US);
	cl_start(r);
	for (uint64_t now = r->t_start; cl_tick(r, now); now = now_ns()) {
		if (off == batch) {
			for (unsigned i = 0; i < batch; i++)
				put_seq(iov[i].iov_base, size, seq++);
			off = 0;
		}
		if (r->o.rate) {
			pace(r, sent + warm_sent);
			if (!cl_tick(r, now_ns()))
				break;
		}
		int n = blast_send(fd, msgs, bufs, size, off, batch, gso);
		calls++;
		if (n < 0) {
			if (n == -ECONNREFUSED)
				cl_fail(r, "no UDP server at", -n);
			if (n == -EINTR)
				continue;
			/* sendmmsg's failure is its first datagram's, a GSO
			 * send's is all of them: drop those, as the network
			 * would, and go on. */
			errors += gso ? batch - off : 1;
			off = gso ? batch : off + 1;
			continue;
		}
		off += (unsigned)n;
		if (r->measuring)
			sent += (uint64_t)n;
		else
			warm_sent += (uint64_t)n;
	}
	close(fd);

	double secs = cl_measured_s(r);
	cl_json_begin(r, &j);
	json_u64(&j, "sent", sent);
	json_u64(&j, "send_errors", errors);
	json_u64(&j, "bytes", sent * size);
	json_dbl(&j, "pps", secs > 0 ? (double)sent / secs : 0, 1);
	json_dbl(&j, "mbytes_per_s", secs > 0 ? (double)(sent * size) / secs / 1e6 : 0, 3);
	json_u64(&j, "warmup_sent", warm_sent);
	/* What the server should have received in all, for a loss figure. */
	json_u64(&j, "sent_total", sent + warm_sent);
	json_u64(&j, "batch", batch);
	json_u64(&j, "gso", gso);
	json_u64(&j, "rate", r->o.rate);
	json_u64(&j, "syscalls", calls);
	cl_json_end(r, &j);
	free(bufs);
	free(msgs);
	free(iov);
	return 0;
}
