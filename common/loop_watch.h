/*
 * Event-loop stall watch: warns when one iteration of the libuv loop kept
 * it busy (not waiting for events) for longer than LOOP_WATCH_WARN_MS, and
 * says what it was doing.
 *
 * A uv_prepare handle runs just before the loop blocks for events; between
 * two of them the loop's busy time is the wall time minus the time it spent
 * blocked in the kernel (uv_metrics_idle_time). Code on the loop labels its
 * long-running parts with loop_watch_enter()/loop_watch_leave(); the label
 * that accounts for most of a stalled iteration is named in the warning.
 *
 * One watched loop per process; everything here runs on that loop's thread.
 * The labels are string literals (never freed, never copied).
 */
#ifndef CFS_LOOP_WATCH_H
#define CFS_LOOP_WATCH_H

#include <uv.h>

/* Iterations busy for longer than this are logged at warn. */
#define LOOP_WATCH_WARN_MS 100

/* Start watching @loop (before its first uv_run when possible: idle time
 * is only counted from then on). 0 or -errno. */
int loop_watch_start(uv_loop_t *loop);
/* Stop; the handle is closed (the loop can then be closed). */
void loop_watch_stop(void);

/* Label what the loop does from now until loop_watch_leave(@returned). */
const char *loop_watch_enter(const char *what);
void loop_watch_leave(const char *prev);

/* The longest busy iteration seen so far, in ms (for tests and metrics). */
unsigned long long loop_watch_longest_ms(void);

#endif
