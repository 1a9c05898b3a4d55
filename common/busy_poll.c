/*
 * Busy polling of an event loop: see busy_poll.h. The loop's own thread.
 *
 * libuv has no polling mode, so the window is kept here: after a turn of
 * uv_run that had work, the loop's backend (its epoll descriptor, which
 * is readable while any of the loop's descriptors has an event) is polled
 * without blocking until an event comes -- then one more non-blocking
 * turn runs it, and the window starts again -- or the window ends, and
 * uv_run sleeps as usual. Timers that fall due inside a window run at its
 * end (at most spin_us late) or with the event that ends it.
 */
#include "busy_poll.h"

#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

static uint64_t busy_poll_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Poll @loop's backend for up to @window_ns; true when an event is ready. */
static int busy_poll_window(uv_loop_t *loop, uint64_t window_ns)
{
	struct pollfd p = {.fd = uv_backend_fd(loop), .events = POLLIN};
	uint64_t deadline = busy_poll_now_ns() + window_ns;

	do {
		if (poll(&p, 1, 0) > 0)
			return 1;
		/* Another runnable thread on this CPU goes first. */
		sched_yield();
	} while (busy_poll_now_ns() < deadline);
	return 0;
}

void busy_poll_run(uv_loop_t *loop, unsigned spin_us)
{
	uint64_t window_ns = (uint64_t)spin_us * 1000u;

	if (spin_us == 0 || uv_backend_fd(loop) < 0) {
		uv_run(loop, UV_RUN_DEFAULT);
		return;
	}
	while (uv_run(loop, UV_RUN_ONCE) != 0) {
		while (busy_poll_window(loop, window_ns))
			if (uv_run(loop, UV_RUN_NOWAIT) == 0)
				return;
	}
}
