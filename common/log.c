/* Logging: see log.h. */
#include "log.h"

#include "escape.h"

/* The code location would always be this file: leave it out. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h> /* the LOG_* priorities only */
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

/* The longest message kept; a longer one is cut. */
#define LOG_MSG_MAX 4096
/* The longest journal field other than MESSAGE ("SYSLOG_IDENTIFIER=…"). */
#define LOG_FIELD_MAX 128

static const char *log_prog = "clusterfs";
static enum log_level log_level = LOG_LEVEL_INFO;
static bool log_journal;
static _Atomic uint64_t log_node_id;

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

bool log_journal_stream_is(const char *journal_stream, dev_t dev, ino_t ino)
{
	uintmax_t d, i;
	int end = 0;

	if (journal_stream == NULL || sscanf(journal_stream, "%ju:%ju%n", &d, &i, &end) != 2 ||
	    journal_stream[end] != '\0')
		return false;
	return d == (uintmax_t)dev && i == (uintmax_t)ino;
}

void log_setup(const char *prog, enum log_level level)
{
	struct stat st;

	log_prog = prog;
	log_level = level;
	/* systemd sets JOURNAL_STREAM for a service whose stderr is the
	 * journal; a child that inherited the variable but whose stderr was
	 * redirected must not use the journal. */
	log_journal = fstat(STDERR_FILENO, &st) == 0 &&
		      log_journal_stream_is(getenv("JOURNAL_STREAM"), st.st_dev, st.st_ino);
}

bool log_to_journal(void)
{
	return log_journal;
}

void log_set_node_id(uint64_t id)
{
	atomic_store(&log_node_id, id);
}

enum log_level log_get_level(void)
{
	return log_level;
}

static void log_stderr(enum log_level level, const char *msg)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld %s %s: %s\n", stamp, ts.tv_nsec / 1000000, log_prog,
		log_names[level], msg);
}

/* One entry with its fields; false if the journal did not take it. */
static bool log_send_journal(enum log_level level, uint64_t term, uint64_t index, const char *msg)
{
	static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
	char fields[5][LOG_FIELD_MAX];
	struct iovec iov[6];
	uint64_t node = atomic_load(&log_node_id);
	int n = 0;

	iov[n].iov_base = (void *)msg;
	iov[n++].iov_len = strlen(msg);
	snprintf(fields[0], LOG_FIELD_MAX, "PRIORITY=%d", prio[level]);
	snprintf(fields[1], LOG_FIELD_MAX, "SYSLOG_IDENTIFIER=%s", log_prog);
	snprintf(fields[2], LOG_FIELD_MAX, "NODE_ID=%" PRIu64, node);
	snprintf(fields[3], LOG_FIELD_MAX, "TERM=%" PRIu64, term);
	snprintf(fields[4], LOG_FIELD_MAX, "INDEX=%" PRIu64, index);
	for (int i = 0; i < 5; i++) {
		if ((i == 2 && node == 0) || (i == 3 && term == 0) || (i == 4 && index == 0))
			continue;
		iov[n].iov_base = fields[i];
		iov[n++].iov_len = strlen(fields[i]);
	}
	return sd_journal_sendv(iov, n) >= 0;
}

static void log_vmsg(enum log_level level, uint64_t term, uint64_t index, const char *fmt,
		     va_list ap)
{
	char msg[LOG_MSG_MAX], safe[sizeof("MESSAGE=") + ESCAPE_CAP(LOG_MSG_MAX)];
	const size_t pre = sizeof("MESSAGE=") - 1;
	int n;

	if (level < log_level)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	/* One message, one line, whatever a name in it holds: the callers
	 * escape names (escape_str), and this catches anything they missed. */
	memcpy(safe, "MESSAGE=", pre);
	escape_controls(msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1, safe + pre,
			sizeof(safe) - pre);
	if (log_journal && log_send_journal(level, term, index, safe))
		return;
	log_stderr(level, safe + pre);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, 0, 0, fmt, ap);
	va_end(ap);
}

void log_msg_at(enum log_level level, uint64_t term, uint64_t index, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, term, index, fmt, ap);
	va_end(ap);
}
