/*
 * common/busy_poll.c: the loop runs what arrives, inside a polling window
 * or after it; what arrives inside a window runs at once, not at its end;
 * so does work libuv queued itself (an idle handle); the loop returns once
 * nothing is left; and an idle loop sleeps.
 *
 * The windows here are long (20 ms) so that "at once" and "at the end of
 * the window" stay far apart on a loaded machine: the medians compared are
 * microseconds against about 20 ms.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../../common/busy_poll.h"

#define EVENTS 100
#define WINDOW_US 20000u /* the polling window of the timing tests */
#define AT_ONCE_US 10000 /* a median above this waited for the window's end */

static uint64_t now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

struct rig {
	uv_loop_t loop;
	uv_async_t async;
	uv_idle_t idle;
	uv_timer_t timer;
	int events;		  /* async callbacks run (atomic) */
	int idles;		  /* idle callbacks run (atomic) */
	int fired;		  /* timer callbacks run */
	uint64_t sent_at;	  /* when the sender sent the last event (atomic) */
	uint64_t seen_at;	  /* when the loop ran it */
	uint64_t async_us[EVENTS]; /* send -> async callback */
	uint64_t idle_us[EVENTS];  /* async callback -> the idle callback it started */
	unsigned gap_us;	  /* the sender's pause before each send */
	bool stuck;		  /* the sender gave up waiting for the loop */
};

static void rig_idle_cb(uv_idle_t *h)
{
	struct rig *g = h->data;
	int i = __atomic_load_n(&g->events, __ATOMIC_ACQUIRE) - 1;

	g->idle_us[i] = now_us() - g->seen_at;
	uv_idle_stop(h);
	__atomic_store_n(&g->idles, i + 1, __ATOMIC_RELEASE);
	if (i == EVENTS - 1) {
		uv_close((uv_handle_t *)&g->async, NULL);
		uv_close((uv_handle_t *)&g->idle, NULL);
	}
}

static void rig_async_cb(uv_async_t *a)
{
	struct rig *g = a->data;
	int i = __atomic_load_n(&g->events, __ATOMIC_RELAXED);

	if (i >= EVENTS)
		return;
	g->seen_at = now_us();
	g->async_us[i] = g->seen_at - __atomic_load_n(&g->sent_at, __ATOMIC_ACQUIRE);
	uv_idle_start(&g->idle, rig_idle_cb); /* libuv's own queued work */
	__atomic_store_n(&g->events, i + 1, __ATOMIC_RELEASE);
}

static void rig_timer_cb(uv_timer_t *t)
{
	struct rig *g = t->data;

	g->fired++;
}

/* Sends EVENTS wake-ups, one after the other: each once the loop ran the
 * one before and the idle callback it started (uv_async_send coalesces, and
 * a new event would run that idle callback too), @gap_us after it. Gives
 * up (stuck) after 30 s without progress. */
static void *rig_sender(void *arg)
{
	struct rig *g = arg;

	for (int i = 0; i < EVENTS; i++) {
		uint64_t start = now_us();

		while (__atomic_load_n(&g->idles, __ATOMIC_ACQUIRE) < i) {
			if (now_us() - start > 30000000u) {
				g->stuck = true;
				uv_async_send(&g->async);
				return NULL;
			}
			usleep(10);
		}
		if (g->gap_us > 0)
			usleep(g->gap_us);
		__atomic_store_n(&g->sent_at, now_us(), __ATOMIC_RELEASE);
		uv_async_send(&g->async);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v)
{
	qsort(v, EVENTS, sizeof(v[0]), cmp_u64);
	return v[EVENTS / 2];
}

/* Run the rig with @spin_us; the medians of its two latencies. */
static void rig_run(unsigned spin_us, unsigned gap_us, uint64_t *async_med, uint64_t *idle_med)
{
	struct rig *g = calloc(1, sizeof(*g));
	pthread_t t;

	cr_assert_not_null(g);
	g->gap_us = gap_us;
	cr_assert_eq(uv_loop_init(&g->loop), 0);
	g->async.data = g->idle.data = g->timer.data = g;
	cr_assert_eq(uv_async_init(&g->loop, &g->async, rig_async_cb), 0);
	uv_idle_init(&g->loop, &g->idle);
	uv_timer_init(&g->loop, &g->timer);
	uv_timer_start(&g->timer, rig_timer_cb, 1, 0);
	cr_assert_eq(pthread_create(&t, NULL, rig_sender, g), 0);
	busy_poll_run(&g->loop, spin_us); /* returns once the handles are closed */
	pthread_join(t, NULL);
	cr_assert_not(g->stuck, "spin %u us, gap %u us: the loop ran %d of %d events", spin_us,
		      gap_us, g->events, EVENTS);
	cr_assert_eq(g->events, EVENTS);
	cr_assert_eq(g->fired, 1, "the timer fired %d times", g->fired);
	uv_close((uv_handle_t *)&g->timer, NULL);
	uv_run(&g->loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(&g->loop), 0);
	*async_med = median(g->async_us);
	*idle_med = median(g->idle_us);
	free(g);
}

Test(busy_poll, what_arrives_inside_the_window_runs_at_once)
{
	uint64_t a, i;

	rig_run(WINDOW_US, 0, &a, &i);
	cr_assert_lt(a, AT_ONCE_US, "an event waited %llu us (median) in a %u us window",
		     (unsigned long long)a, WINDOW_US);
	cr_assert_lt(i, AT_ONCE_US, "an idle handle waited %llu us (median) in a %u us window",
		     (unsigned long long)i, WINDOW_US);
}

Test(busy_poll, events_after_the_window_run)
{
	uint64_t a, i;

	rig_run(50, 300, &a, &i); /* each arrives once the loop sleeps again */
}

Test(busy_poll, off_is_plain_uv_run)
{
	uint64_t a, i;

	rig_run(0, 0, &a, &i);
}

static double thread_cpu_s(void)
{
	struct rusage u;

	getrusage(RUSAGE_THREAD, &u);
	return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
	       u.ru_stime.tv_usec / 1e6;
}

static void idle_timer_cb(uv_timer_t *t)
{
	int *ticks = t->data;

	if (++*ticks == 10)
		uv_close((uv_handle_t *)t, NULL);
}

/* A loop woken 10 times in 0.5 s polls 10 windows of 1 ms and sleeps the
 * rest: well under the 0.5 s a loop that never stopped polling would use. */
Test(busy_poll, an_idle_loop_sleeps)
{
	uv_loop_t loop;
	uv_timer_t t;
	int ticks = 0;
	double cpu;

	cr_assert_eq(uv_loop_init(&loop), 0);
	uv_timer_init(&loop, &t);
	t.data = &ticks;
	uv_timer_start(&t, idle_timer_cb, 50, 50);
	cpu = thread_cpu_s();
	busy_poll_run(&loop, 1000);
	cpu = thread_cpu_s() - cpu;
	cr_assert_eq(ticks, 10);
	cr_assert_lt(cpu, 0.25, "the loop used %.3f s of CPU in 0.5 s with 10 wake-ups", cpu);
	cr_assert_eq(uv_loop_close(&loop), 0);
}
