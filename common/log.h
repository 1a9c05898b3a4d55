/*
 * Logging for all clusterfs programs.
 *
 * Under systemd, when stderr is the journal's stream (JOURNAL_STREAM names
 * stderr's device and inode, as sd_journal_print(3) and systemd.exec(5)
 * describe), a message goes to the journal with its PRIORITY and fields:
 * SYSLOG_IDENTIFIER, NODE_ID once the node knows its id, and TERM / INDEX on
 * the lines that are about a raft term or log index (log_msg_at). Otherwise
 * it goes to stderr, always: `clusterfsd > f 2>&1` puts the lines in f. A
 * message the journal refuses goes to stderr too. Never to a syslog socket,
 * which a machine may not have.
 *
 * The level is process-wide and set once at start-up; the node id once it
 * is known. Any thread may log. Every message is one line: control
 * characters and bytes that are not UTF-8 are escaped (escape_controls,
 * common/escape.h); a name or address in a message is escaped by its caller
 * with escape_str, so that it reads unambiguously.
 */
#ifndef CFS_LOG_H
#define CFS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* Parse "debug", "info", "warn" or "error". Returns 0 or -EINVAL. */
int log_parse_level(const char *name, enum log_level *out);

/* Configure logging: program name (SYSLOG_IDENTIFIER) and minimum level.
 * Looks at JOURNAL_STREAM and stderr to choose the journal or stderr. */
void log_setup(const char *prog, enum log_level level);

/* True when messages go to the journal (log_setup found it). */
bool log_to_journal(void);

/* Whether JOURNAL_STREAM's value ("DEV:INODE") names the file with this
 * device and inode (stderr's, for log_setup). Pure; unit-tested. */
bool log_journal_stream_is(const char *journal_stream, dev_t dev, ino_t ino);

/* The node's id, sent as NODE_ID with every later message (0: none). */
void log_set_node_id(uint64_t id);

enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A message about raft term @term and/or log index @index (0: not
 * applicable), sent as the journal fields TERM and INDEX. */
void log_msg_at(enum log_level level, uint64_t term, uint64_t index, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#define log_debug_at(term, index, ...) log_msg_at(LOG_LEVEL_DEBUG, term, index, __VA_ARGS__)
#define log_info_at(term, index, ...)  log_msg_at(LOG_LEVEL_INFO, term, index, __VA_ARGS__)
#define log_warn_at(term, index, ...)  log_msg_at(LOG_LEVEL_WARN, term, index, __VA_ARGS__)
#define log_error_at(term, index, ...) log_msg_at(LOG_LEVEL_ERROR, term, index, __VA_ARGS__)

#endif
