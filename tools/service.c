/* What clusterfsd tells systemd: see service.h. Loop thread. */
#include "service.h"

#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "../common/log.h"

static void service_watchdog_cb(uv_timer_t *t)
{
	sd_notify(0, "WATCHDOG=1");
	(void)t;
}

static void service_status_cb(uv_timer_t *t)
{
	service_update(t->data);
}

/* Send @extra (may be "") with STATUS= if the status changed or @extra is
 * not empty. */
static void service_send(struct service *s, const char *extra)
{
	const char *now = s->status(s->arg);
	char msg[SERVICE_STATUS_MAX + 64];

	if (extra[0] == '\0' && strcmp(now, s->last) == 0)
		return;
	snprintf(s->last, sizeof(s->last), "%s", now);
	snprintf(msg, sizeof(msg), "%sSTATUS=%s", extra, s->last);
	sd_notify(0, msg);
	log_debug("told systemd: %s", msg);
}

void service_start(struct service *s, uv_loop_t *loop, service_status_fn status, void *arg)
{
	uint64_t usec = 0;

	s->status = status;
	s->arg = arg;
	s->last[0] = '\0';
	uv_timer_init(loop, &s->watchdog);
	uv_timer_init(loop, &s->status_poll);
	s->watchdog.data = s->status_poll.data = s;
	s->started = true;
	/* > 0 only if WATCHDOG_USEC is set and WATCHDOG_PID (if set) is us. */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		s->watchdog_ms = usec / 2000 > 0 ? usec / 2000 : 1;
		log_info("systemd watchdog: %llu ms; pinging every %llu ms from the event loop",
			 (unsigned long long)(usec / 1000), (unsigned long long)s->watchdog_ms);
		sd_notify(0, "WATCHDOG=1");
		uv_timer_start(&s->watchdog, service_watchdog_cb, s->watchdog_ms, s->watchdog_ms);
	}
	service_send(s, "");
	uv_timer_start(&s->status_poll, service_status_cb, SERVICE_STATUS_POLL_MS,
		       SERVICE_STATUS_POLL_MS);
}

void service_update(struct service *s)
{
	if (s->started)
		service_send(s, "");
}

void service_ready(struct service *s)
{
	if (s->started)
		service_send(s, "READY=1\n");
}

void service_stopping(struct service *s)
{
	if (s->started)
		service_send(s, "STOPPING=1\n");
}

void service_close(struct service *s)
{
	if (!s->started)
		return;
	s->started = false;
	uv_close((uv_handle_t *)&s->watchdog, NULL);
	uv_close((uv_handle_t *)&s->status_poll, NULL);
}
