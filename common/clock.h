/*
 * The monotonic clock in nanoseconds, for deadlines, latencies and stage
 * timestamps (replication/stages.h). Any thread.
 */
#ifndef CFS_CLOCK_H
#define CFS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
