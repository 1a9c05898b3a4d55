/* clusterfs-watch timing rules: see sched.h. */
#include "sched.h"

int64_t sched_due(int64_t first, int64_t last, int64_t debounce, int64_t max)
{
	int64_t quiet, cap;

	if (debounce <= 0)
		return last;
	quiet = last + debounce;
	cap = first + (max > debounce ? max : debounce);
	return quiet < cap ? quiet : cap;
}

int64_t sched_backoff(unsigned failures)
{
	int64_t wait = SCHED_RETRY_FIRST_MS;

	for (unsigned i = 1; i < failures && wait < SCHED_RETRY_MAX_MS; i++)
		wait *= 2;
	return wait < SCHED_RETRY_MAX_MS ? wait : SCHED_RETRY_MAX_MS;
}
