/*
 * Busy polling of an event loop: see busy_poll.h. The loop's own thread.
 *
 * libuv has no polling mode, so the window is kept here. After a turn of
 * uv_run that had work, one non-blocking turn registers the descriptors the
 * callbacks started watching (libuv adds them to epoll at its next poll)
 * and runs what is ready. Then, until the window ends, the loop's backend
 * (its epoll descriptor, readable while any of the loop's descriptors has
 * an event) is polled without blocking, and libuv is asked whether it has
 * work of its own (uv_backend_timeout 0: an idle handle -- raft_link's
 * send completions --, a pending callback, a closing handle, a timer that
 * fell due). Either ends the window early and is run at once, and a new
 * window starts; at its end, uv_run sleeps as usual.
 */
#include "busy_poll.h"

#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

static uint64_t busy_poll_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Poll @loop for up to @window_ns; true when it has something to run. */
static bool busy_poll_window(uv_loop_t *loop, uint64_t window_ns)
{
	struct pollfd p = {.fd = uv_backend_fd(loop), .events = POLLIN};
	uint64_t deadline = busy_poll_now_ns() + window_ns;

	for (;;) {
		uv_update_time(loop);
		if (uv_backend_timeout(loop) == 0 || poll(&p, 1, 0) > 0)
			return true;
		if (busy_poll_now_ns() >= deadline)
			return false;
		/* Another runnable thread on this CPU goes first. */
		sched_yield();
	}
}

void busy_poll_run(uv_loop_t *loop, unsigned spin_us)
{
	uint64_t window_ns = (uint64_t)spin_us * 1000u;

	if (spin_us == 0 || uv_backend_fd(loop) < 0) {
		uv_run(loop, UV_RUN_DEFAULT);
		return;
	}
	while (uv_run(loop, UV_RUN_ONCE) != 0) {
		do {
			if (uv_run(loop, UV_RUN_NOWAIT) == 0)
				return;
		} while (busy_poll_window(loop, window_ns));
	}
}
