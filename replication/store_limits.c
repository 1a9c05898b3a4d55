/*
 * The store byte limit (DESIGN §9): what an inode is charged (content and
 * xattrs), the running count kept in struct store and meta "bytes", and
 * store_stats. The file size limit is checked where content changes
 * (store_content.c). Loop thread only.
 */
#include "store_internal.h"

#include <errno.h>
#include <stdint.h>

/* The bytes an inode holds against the store limit. */
uint64_t store_inode_bytes(struct store *s, const struct store_attr *a)
{
	return a->size + store_xattr_bytes(s, a->ino);
}

/* Account @grow more bytes (may be negative) against the store limit. */
int store_charge(struct store *s, int64_t grow)
{
	if (grow > 0 && s->bytes + (uint64_t)grow > s->max_bytes)
		return -ENOSPC;
	if (grow < 0 && (uint64_t)(-grow) > s->bytes)
		s->bytes = 0;
	else
		s->bytes = (uint64_t)((int64_t)s->bytes + grow);
	return 0;
}

int store_stats(struct store *s, struct store_stats *out)
{
	sqlite3_stmt *st = store_stmt(s, ST_COUNT_INODES);
	int rc = sqlite3_step(st);

	out->inodes = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	out->bytes = s->bytes;
	out->max_bytes = s->max_bytes;
	out->max_file = s->max_file;
	return rc == SQLITE_ROW ? 0 : store_errno(s, rc);
}

uint64_t store_used_bytes(struct store *s)
{
	return s->bytes;
}
