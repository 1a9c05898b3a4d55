/* Logging: see log.h. */
#include "log.h"

#include "escape.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

/* The longest message kept; a longer one is cut. */
#define LOG_MSG_MAX 4096

static const char *log_prog = "clusterfs";
static enum log_level log_level = LOG_LEVEL_INFO;
static int log_to_stderr = 1;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

int log_parse_level(const char *name, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_setup(const char *prog, enum log_level level, int use_stderr)
{
	log_prog = prog;
	log_level = level;
	log_to_stderr = use_stderr;
	if (!use_stderr)
		openlog(prog, LOG_PID, LOG_DAEMON);
}

enum log_level log_get_level(void)
{
	return log_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
	char msg[LOG_MSG_MAX], safe[ESCAPE_CAP(LOG_MSG_MAX)];
	va_list ap;
	int n;

	if (level < log_level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* One message, one line, whatever a name in it holds: the callers
	 * escape names (escape_str), and this catches anything they missed. */
	escape_controls(msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1, safe,
			sizeof(safe));
	if (log_to_stderr) {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s %s: %s\n", stamp, ts.tv_nsec / 1000000, log_prog,
			log_names[level], safe);
	} else {
		syslog(prio[level], "%s", safe);
	}
}
