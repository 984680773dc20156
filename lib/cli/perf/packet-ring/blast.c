/* UDP blaster for the packet-ring benchmark: sendmmsg batches of fixed-size
 * datagrams to one destination at the sender's maximum rate for a fixed
 * time. Prints {"sent":N,"seconds":S} (datagrams the kernel accepted).
 * usage: blast <ipv4> <port> <payload bytes> <seconds> */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s <ipv4> <port> <bytes> <seconds>\n", argv[0]);
		return 2;
	}
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	size_t size = (size_t)atoi(argv[3]);
	double seconds = atof(argv[4]);
	char *buf = calloc(1, size ? size : 1);
	struct mmsghdr msgs[BATCH];
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	unsigned long long sent = 0;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || !buf || inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
		perror("blast setup");
		return 1;
	}
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
		perror("connect");
		return 1;
	}
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	double t0 = now(), end = t0 + seconds;
	while (now() < end) {
		/* Bounded inner loop: the clock is read every 16 batches. */
		for (int k = 0; k < 16; k++) {
			int n = sendmmsg(fd, msgs, BATCH, 0);
			if (n > 0)
				sent += (unsigned long long)n;
			else if (n < 0 && errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED)
				break;
		}
	}
	printf("{\"sent\":%llu,\"seconds\":%.6f}\n", sent, now() - t0);
	return 0;
}
