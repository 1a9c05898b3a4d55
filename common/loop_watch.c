/*
 * Event-loop stall watch; see loop_watch.h. Loop thread only.
 */
#include "loop_watch.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "log.h"

/* Distinct labels timed within one iteration; more are counted as "other". */
#define LOOP_WATCH_LABELS 8
#define NS_PER_MS 1000000ull

static struct {
	uv_loop_t *loop;
	uv_prepare_t prepare;
	bool started;
	uint64_t last_ns, last_idle_ns; /* at the previous prepare */
	const char *current;		/* label of the running section, or NULL */
	uint64_t current_since;
	struct {
		const char *what;
		uint64_t ns;
	} spent[LOOP_WATCH_LABELS];	/* this iteration, per label */
	unsigned long long longest_ms;
} lw;

/* Add the time since the current section began to its label's total. */
static void loop_watch_account(uint64_t now)
{
	int i;

	if (lw.current == NULL) {
		lw.current_since = now;
		return;
	}
	for (i = 0; i < LOOP_WATCH_LABELS && lw.spent[i].what != NULL &&
		    lw.spent[i].what != lw.current;
	     i++)
		;
	if (i == LOOP_WATCH_LABELS)
		i = LOOP_WATCH_LABELS - 1;
	if (lw.spent[i].what == NULL)
		lw.spent[i].what = lw.current;
	lw.spent[i].ns += now - lw.current_since;
	lw.current_since = now;
}

const char *loop_watch_enter(const char *what)
{
	const char *prev = lw.current;

	if (!lw.started)
		return prev;
	loop_watch_account(uv_hrtime());
	lw.current = what;
	return prev;
}

void loop_watch_leave(const char *prev)
{
	if (!lw.started)
		return;
	loop_watch_account(uv_hrtime());
	lw.current = prev;
}

static void loop_watch_prepare(uv_prepare_t *h)
{
	uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(h->loop), busy, top_ns = 0;
	const char *top = NULL;

	loop_watch_account(now);
	busy = now - lw.last_ns;
	if (idle - lw.last_idle_ns < busy)
		busy -= idle - lw.last_idle_ns;
	else
		busy = 0;
	for (int i = 0; i < LOOP_WATCH_LABELS && lw.spent[i].what != NULL; i++)
		if (lw.spent[i].ns > top_ns) {
			top_ns = lw.spent[i].ns;
			top = lw.spent[i].what;
		}
	if (busy / NS_PER_MS > lw.longest_ms)
		lw.longest_ms = busy / NS_PER_MS;
	if (busy >= LOOP_WATCH_WARN_MS * NS_PER_MS) {
		if (top != NULL && top_ns * 4 >= busy)
			log_warn("event loop stalled %llu ms: %s took %llu ms of it",
				 (unsigned long long)(busy / NS_PER_MS), top,
				 (unsigned long long)(top_ns / NS_PER_MS));
		else
			log_warn("event loop stalled %llu ms (in unlabelled work: FUSE requests, "
				 "raft I/O or timers%s%s)",
				 (unsigned long long)(busy / NS_PER_MS), top ? "; longest label: " : "",
				 top ? top : "");
	}
	memset(lw.spent, 0, sizeof(lw.spent));
	lw.last_ns = now;
	lw.last_idle_ns = idle;
}

int loop_watch_start(uv_loop_t *loop)
{
	int rv;

	if (lw.started)
		return -EALREADY;
	rv = uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
	if (rv != 0)
		return rv;
	rv = uv_prepare_init(loop, &lw.prepare);
	if (rv != 0)
		return rv;
	lw.loop = loop;
	lw.last_ns = uv_hrtime();
	lw.last_idle_ns = uv_metrics_idle_time(loop);
	lw.current = NULL;
	memset(lw.spent, 0, sizeof(lw.spent));
	uv_prepare_start(&lw.prepare, loop_watch_prepare);
	/* Watching must not keep the loop alive. */
	uv_unref((uv_handle_t *)&lw.prepare);
	lw.started = true;
	return 0;
}

void loop_watch_stop(void)
{
	if (!lw.started)
		return;
	lw.started = false;
	lw.current = NULL;
	uv_close((uv_handle_t *)&lw.prepare, NULL);
}

unsigned long long loop_watch_longest_ms(void)
{
	return lw.longest_ms;
}
