/*
 * Reading a secret line (clusterfsd's join token) without putting it on a
 * command line: from a file (or stdin), from an environment variable, and
 * scrubbing it from the process's own argv or environment when it came
 * from there. Pure functions of the caller's thread: clusterfsd calls them
 * from main before anything else runs.
 */
#ifndef CFS_COMMON_TOKEN_SOURCE_H
#define CFS_COMMON_TOKEN_SOURCE_H

#include <stddef.h>

/* The environment variable clusterfsd reads a join token from. */
#define TOKEN_SOURCE_ENV "CLUSTERFS_JOIN_TOKEN"

/* Read one line from PATH ("-": stdin) into out (NUL-terminated), trailing
 * whitespace trimmed. Refused (with a message in err): a file that cannot
 * be read, that group or others may read or write, that is owned by
 * someone other than this user or root, that is empty, that holds more
 * than one line or more than cap - 1 bytes. 0 or -errno. */
int token_source_read_file(const char *path, char *out, size_t cap, char *err, size_t errlen);

/* Copy the value of environment variable NAME into out, then overwrite
 * the value in place (so /proc/PID/environ no longer shows it) and unset
 * it (so no child process inherits it). 1 if it was set, 0 if not,
 * -ENAMETOOLONG if it does not fit out (still scrubbed). */
int token_source_take_env(const char *name, char *out, size_t cap);

/* Overwrite a string of argv in place with NUL bytes, so that
 * /proc/PID/cmdline (and ps) no longer shows it. */
void token_source_scrub(char *s);

#endif
