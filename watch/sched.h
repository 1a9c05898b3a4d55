/*
 * clusterfs-watch timing rules, as pure functions of millisecond clocks so
 * that the unit tests can check them without waiting: when a debounced
 * change is due, and how long a failed command waits before its retry.
 */
#ifndef CFS_WATCH_SCHED_H
#define CFS_WATCH_SCHED_H

#include <stdint.h>

#define SCHED_RETRY_FIRST_MS 1000  /* the first retry of a failed command */
#define SCHED_RETRY_MAX_MS   60000 /* backoff doubles up to this */

/* A change first seen at FIRST and last seen at LAST (ms) is due once no
 * change came for DEBOUNCE ms (quiescence), and at the latest MAX ms after
 * the first one, so that a file that never stops changing is still applied.
 * DEBOUNCE 0: due at LAST, at once. */
int64_t sched_due(int64_t first, int64_t last, int64_t debounce, int64_t max);

/* The wait before retry number FAILURES (>= 1): 1 s, 2 s, 4 s... capped. */
int64_t sched_backoff(unsigned failures);

#endif
