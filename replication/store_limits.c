/*
 * The store byte limit (DESIGN §9, "metadata counted"): what an inode and a
 * name are charged, the running count kept in struct store and meta
 * "bytes", its recount from the rows, and store_stats. The file size limit
 * is checked where content changes (store_content.c). Loop thread only.
 *
 * The count is, exactly:
 *   for every inode with a name (nlink > 0):
 *       STORE_INODE_COST + its size + the lengths of its xattr values
 *   for every name (dentry):
 *       STORE_NAME_COST + the name's length in bytes
 * An orphan (nlink 0, kept while a descriptor holds it) counts nothing.
 * Every operation charges or gives back its own share as it goes, so the
 * count is a function of the tree alone: every node has the same count
 * after the same entries and refuses the same entries with ENOSPC; a store
 * of an earlier accounting (meta "accounting" missing: content and xattrs
 * only) is recounted once when it is opened or restored.
 */
#include "store_internal.h"

#include <errno.h>
#include <stdint.h>

/* The bytes an inode holds against the store limit. */
uint64_t store_inode_bytes(struct store *s, const struct store_attr *a)
{
	return STORE_INODE_COST + a->size + store_xattr_bytes(s, a->ino);
}

uint64_t store_name_bytes(size_t len)
{
	return STORE_NAME_COST + len;
}

int store_recount_bytes(struct store *s, uint64_t *bytes)
{
	sqlite3_stmt *st = store_stmt(s, ST_RECOUNT);
	int rc;

	sqlite3_bind_int64(st, 1, STORE_INODE_COST);
	sqlite3_bind_int64(st, 2, STORE_NAME_COST);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*bytes = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store_errno(s, rc);
}

int store_migrate_bytes(struct store *s)
{
	uint64_t accounting = 0, bytes;
	int rv = store_meta_get(s, "accounting", &accounting);

	if (rv != 0 && rv != -ENOENT)
		return rv;
	if (rv == 0 && accounting == STORE_ACCOUNTING)
		return 0;
	/* The count first, then the mark: a crash between the two only
	 * recounts again. */
	rv = store_recount_bytes(s, &bytes);
	if (rv == 0)
		rv = store_meta_set(s, "bytes", bytes);
	if (rv == 0)
		rv = store_meta_set(s, "accounting", STORE_ACCOUNTING);
	if (rv == 0)
		s->bytes = bytes;
	return rv;
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
