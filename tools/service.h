/*
 * What clusterfsd tells systemd (sd_notify(3); a no-op without
 * NOTIFY_SOCKET): READY=1 once mounted, STATUS= whenever the node's state
 * as an operator sees it changes ("joining", "read-only: no quorum",
 * "member", ...), STOPPING=1, and WATCHDOG=1 from a timer on the main event
 * loop at half the interval systemd asked for (WatchdogSec=), so that a
 * stuck loop stops the pings and systemd restarts the daemon.
 *
 * Loop thread only.
 */
#ifndef CFS_SERVICE_H
#define CFS_SERVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* How often the status callback is asked for the current status. */
#define SERVICE_STATUS_POLL_MS 200
#define SERVICE_STATUS_MAX     128

/* The status as it is now, one line (e.g. "member"). */
typedef const char *(*service_status_fn)(void *arg);

struct service {
	uv_timer_t watchdog;
	uv_timer_t status_poll;
	uint64_t watchdog_ms; /* the ping interval; 0: no watchdog */
	service_status_fn status;
	void *arg;
	char last[SERVICE_STATUS_MAX]; /* the STATUS= last sent */
	bool started;
};

/* Start the watchdog pings (if systemd asked for them) and the status
 * polls on @loop; sends the first STATUS= at once. */
void service_start(struct service *s, uv_loop_t *loop, service_status_fn status, void *arg);

/* Send STATUS= now if it changed (also called by the poll). */
void service_update(struct service *s);

/* READY=1 with the current status. */
void service_ready(struct service *s);

/* STOPPING=1 with the current status. */
void service_stopping(struct service *s);

/* Close the timers (before the loop is closed). */
void service_close(struct service *s);

#endif
