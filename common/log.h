/*
 * Logging for all clusterfs programs.
 *
 * Messages go to stderr when it is a terminal (or when forced) and to syslog
 * otherwise, so that a daemon started by systemd logs to the journal with the
 * right priority. The level is process-wide and set once at start-up.
 * Every message is one line: control characters and bytes that are not
 * UTF-8 are escaped (escape_controls, common/escape.h); a name or address in
 * a message is escaped by its caller with escape_str, so that it reads
 * unambiguously.
 */
#ifndef CFS_LOG_H
#define CFS_LOG_H

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* Parse "debug", "info", "warn" or "error". Returns 0 or -EINVAL. */
int log_parse_level(const char *name, enum log_level *out);

/* Configure logging: program name, minimum level, and whether to use stderr
 * (true) or syslog (false). */
void log_setup(const char *prog, enum log_level level, int use_stderr);

enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
