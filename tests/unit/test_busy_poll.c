/*
 * common/busy_poll.c: the loop runs what arrives, inside a polling window
 * or after it, returns once nothing is left, and stops polling when idle.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../../common/busy_poll.h"

#define EVENTS 200

struct rig {
	uv_loop_t loop;
	uv_async_t async;
	uv_timer_t timer;
	int events;  /* async callbacks run */
	int fired;   /* timer callbacks run */
	int sent;    /* uv_async_send calls made by the sender thread */
	unsigned gap_us; /* the sender's pause between two sends */
};

static void rig_async_cb(uv_async_t *a)
{
	struct rig *g = a->data;

	g->events++;
	if (g->events >= EVENTS)
		uv_close((uv_handle_t *)&g->async, NULL);
}

static void rig_timer_cb(uv_timer_t *t)
{
	struct rig *g = t->data;

	g->fired++;
}

/* Sends EVENTS wake-ups, one after the other (each once the loop ran the
 * one before: uv_async_send coalesces), @gap_us apart. */
static void *rig_sender(void *arg)
{
	struct rig *g = arg;

	for (int i = 0; i < EVENTS; i++) {
		for (int tries = 0; __atomic_load_n(&g->events, __ATOMIC_ACQUIRE) < i; tries++) {
			cr_assert_lt(tries, 2000000, "the loop ran %d of %d events", g->events, i);
			usleep(10);
		}
		if (g->gap_us > 0)
			usleep(g->gap_us);
		__atomic_add_fetch(&g->sent, 1, __ATOMIC_RELEASE);
		uv_async_send(&g->async);
	}
	return NULL;
}

static void rig_run(unsigned spin_us, unsigned gap_us)
{
	struct rig g = {.gap_us = gap_us};
	pthread_t t;

	cr_assert_eq(uv_loop_init(&g.loop), 0);
	g.async.data = g.timer.data = &g;
	cr_assert_eq(uv_async_init(&g.loop, &g.async, rig_async_cb), 0);
	uv_timer_init(&g.loop, &g.timer);
	uv_timer_start(&g.timer, rig_timer_cb, 1, 0);
	cr_assert_eq(pthread_create(&t, NULL, rig_sender, &g), 0);
	busy_poll_run(&g.loop, spin_us); /* returns once the async is closed */
	pthread_join(t, NULL);
	cr_assert_eq(g.events, EVENTS, "spin %u us, gap %u us: %d events run", spin_us, gap_us,
		     g.events);
	cr_assert_eq(g.fired, 1, "the timer fired %d times", g.fired);
	uv_close((uv_handle_t *)&g.timer, NULL);
	uv_run(&g.loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(&g.loop), 0);
}

Test(busy_poll, events_inside_the_window_run)
{
	rig_run(1000, 0); /* each arrives while the loop polls */
}

Test(busy_poll, events_after_the_window_run)
{
	rig_run(50, 300); /* each arrives once the loop sleeps again */
}

Test(busy_poll, off_is_plain_uv_run)
{
	rig_run(0, 0);
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
