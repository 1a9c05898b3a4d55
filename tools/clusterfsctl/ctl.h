/*
 * clusterfsctl's private header: what its files share. main.c parses the
 * arguments and dispatches to one file per command group (status.c,
 * members.c, membership.c, lease.c, backup.c); mountfile.c reads the files of the
 * mount, output.c writes what several commands print (JSON through
 * jansson). Single-threaded:
 * the one thread of the tool runs everything.
 */
#ifndef CFS_TOOLS_CLUSTERFSCTL_CTL_H
#define CFS_TOOLS_CLUSTERFSCTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../../fs/ns.h"

#define STATUS_MAX 8192

/* The exit status (docs/operations.md, main.c). */
enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,
	EXIT_USAGE = 2,
	EXIT_UNAVAILABLE = 3,
};

/* MOUNT/.cluster/status as key=value pairs (pointers into text). */
struct status {
	char text[STATUS_MAX];
	const char *keys[32];
	const char *values[32];
	int n;
};

/* main.c */
int ctl_exit_for(int err);
uint64_t ctl_mono_ms(void);

/* mountfile.c */
const char *ctl_status_get(const struct status *st, const char *key);
int ctl_status_read(const char *mount, struct status *st, const char **why);
int ctl_read_mount_file(const char *mount, const char *dir, const char *name, char *buf,
			size_t cap);
int ctl_read_cluster_file(const char *mount, const char *name, char *buf, size_t cap);
int ctl_lease_read(const char *mount, const char *name, struct ns_lease *l);

/* output.c: under --json, exactly one document on stdout per run */
void ctl_output_json(bool on);
bool ctl_json(void);
/* A JSON string (invalid UTF-8 bytes replaced); null for NULL. */
json_t *ctl_jstr(const char *s);
/* An integer, or null when negative (unknown). */
json_t *ctl_jnum(int64_t v);
/* Print @doc (stolen) as the run's document, unless one was printed. */
void ctl_json_print(json_t *doc);
/* "clusterfsctl: MESSAGE" on stderr; under --json, @doc (stolen; NULL: a
 * new object) with "error": MESSAGE as the document. Returns @status. */
int ctl_error(int status, json_t *doc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* ctl_error for bad usage: exit status 2, "usage": true. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
json_t *ctl_status_json(const struct status *st);
void ctl_status_print_text(const struct status *st);
void ctl_format_ms(int64_t ms, char *out, size_t cap);

/* status.c */
bool ctl_status_healthy(const struct status *st);
/* Why this node cannot commit ("no leader known", "no quorum"). */
const char *ctl_status_why(const struct status *st);
int ctl_cmd_status(const char *mount);
int ctl_cmd_wait(const char *mount, double timeout_s);
int ctl_cmd_sync(const char *mount);

/* members.c */
int ctl_cmd_members(const char *mount);
int ctl_cmd_status_cluster(const char *mount);

/* membership.c */
int ctl_cmd_join_token(const char *mount);
int ctl_cmd_remove(const char *mount, const char *id_text);

/* backup.c */
int ctl_cmd_backup(const char *mount, const char *file);
int ctl_cmd_restore(const char *file, const char *data, const char *address);

/* lease.c */
int ctl_cmd_lease(const char *mount, int argc, char **argv);

#endif
