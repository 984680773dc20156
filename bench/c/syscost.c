/* rw-syscost: the price of entering and leaving the kernel on this
 * machine (and under its mitigations), for the harness's machine facts.
 * Reports the median of several runs of a million getppid calls, as
 * getppid does no work of its own and glibc cannot answer it from the
 * vDSO or a cache. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

#define RUNS 7
#define CALLS 1000000

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(void)
{
	double ns[RUNS];
	struct json j;

	g_prog = "rw-syscost";
	for (int r = 0; r < RUNS; r++) {
		uint64_t t0 = now_ns();
		for (int i = 0; i < CALLS; i++)
			syscall(SYS_getppid);
		ns[r] = (double)(now_ns() - t0) / CALLS;
	}
	/* The median shrugs off a run that a timer tick or a neighbour
	 * happened to slow down. */
	qsort(ns, RUNS, sizeof(ns[0]), cmp_dbl);
	json_begin(&j);
	json_dbl(&j, "getppid_ns", ns[RUNS / 2], 1);
	json_dbl(&j, "min_ns", ns[0], 1);
	json_dbl(&j, "max_ns", ns[RUNS - 1], 1);
	json_u64(&j, "runs", RUNS);
	json_u64(&j, "calls_per_run", CALLS);
	json_end(&j);
	return 0;
}
