/*
 * The change log behind .cluster/log (DESIGN §4): one row per applied
 * change, the last STORE_LOG_KEEP kept, written inside store_apply's
 * transaction and read by the front end. Loop thread only.
 */
#include "store_internal.h"

#include <stdio.h>
#include <string.h>

/* "dir/name" for @name in @dir, into @out (@cap bytes). */
static void child_path(struct store *s, uint64_t dir, const char *name, size_t len, char *out,
		       size_t cap)
{
	char rel[STORE_MAX_PATH + 1];

	if (store_path(s, dir, rel, sizeof(rel)) != 0)
		snprintf(rel, sizeof(rel), "?");
	snprintf(out, cap, "%s%s%.*s", rel, rel[0] ? "/" : "", (int)len, name);
}

/* Keep the change in the log behind .cluster/log (the last STORE_LOG_KEEP,
 * replicated like everything else, so every node shows the same). */
int store_log_change(struct store *s, uint64_t index, const struct entry *e)
{
	char path[2 * STORE_MAX_PATH + 8], to[STORE_MAX_PATH + 1];
	sqlite3_stmt *st;
	int rv;

	switch (e->op) {
	case ENTRY_CREATE:
	case ENTRY_UNLINK:
	case ENTRY_EXPIRE:
		child_path(s, e->parent, e->name, e->name_len, path, sizeof(path));
		break;
	case ENTRY_MULTI: {
		const char *names = memchr(e->data, '\0', e->data_len);
		const char *end = (const char *)e->data + e->data_len;
		size_t used = 0;

		path[0] = '\0';
		for (const char *q = names + 1; q < end && used + 2 < sizeof(to); q += strlen(q) + 1) {
			child_path(s, e->parent, q, strlen(q), to, sizeof(to));
			used += (size_t)snprintf(path + used, sizeof(path) - used, "%s%s",
						 used ? " " : "", to);
			if (used >= sizeof(path))
				break;
		}
		break;
	}
	case ENTRY_LINK:
		child_path(s, e->newparent, e->newname, e->newname_len, path, sizeof(path));
		break;
	case ENTRY_RENAME:
		child_path(s, e->parent, e->name, e->name_len, path, sizeof(path));
		child_path(s, e->newparent, e->newname, e->newname_len, to, sizeof(to));
		strcat(path, " -> ");
		strcat(path, to);
		break;
	case ENTRY_NODE:
		snprintf(path, sizeof(path), "%.*s", (int)e->data_len, (const char *)e->data);
		break;
	default:
		if (store_path(s, e->ino, path, sizeof(path)) != 0)
			snprintf(path, sizeof(path), "(deleted)");
	}
	st = store_stmt(s, ST_LOG_PUT);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)index);
	sqlite3_bind_int64(st, 2, e->stamp_ns);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)e->node_id);
	sqlite3_bind_int64(st, 4, e->uid);
	sqlite3_bind_int64(st, 5, e->op);
	sqlite3_bind_blob(st, 6, path, (int)strlen(path), SQLITE_TRANSIENT);
	rv = store_step_done(s, st);
	if (rv == 0 && index % 64 == 0) {
		st = store_stmt(s, ST_LOG_PRUNE);
		sqlite3_bind_int64(st, 1, STORE_LOG_KEEP - 1);
		rv = store_step_done(s, st);
	}
	return rv;
}

int store_log(struct store *s, store_log_cb cb, void *arg)
{
	sqlite3_stmt *st = store_stmt(s, ST_LOG_READ);
	int rc, stop = 0;

	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		char path[2 * STORE_MAX_PATH + 8];
		int n = sqlite3_column_bytes(st, 5);
		struct store_log_row row = {
			.revision = (uint64_t)sqlite3_column_int64(st, 0),
			.stamp_ns = sqlite3_column_int64(st, 1),
			.node = (uint64_t)sqlite3_column_int64(st, 2),
			.uid = (uint32_t)sqlite3_column_int64(st, 3),
			.op = entry_op_name((int)sqlite3_column_int64(st, 4)),
			.path = path,
		};

		if (n >= (int)sizeof(path))
			n = (int)sizeof(path) - 1;
		memcpy(path, sqlite3_column_blob(st, 5), (size_t)n);
		path[n] = '\0';
		stop = cb(arg, &row);
	}
	sqlite3_reset(st);
	return stop || rc == SQLITE_DONE ? 0 : store_errno(s, rc);
}
