/*
 * Snapshots and backups: the whole database as one buffer for raft
 * (store_snapshot), loading one back (store_restore), and turning a copy
 * from a backup into the seed of a new cluster (store_reseed). Loop thread
 * only.
 */
#include "store_internal.h"

#include <errno.h>
#include <raft.h>
#include <stdint.h>
#include <string.h>

/* Bytes of sqlite header that give the journal format (sqlite file format:
 * offsets 18 and 19, 1 = rollback journal, 2 = WAL). */
#define SQLITE_HDR_WRITE_VERSION 18

#define SQLITE_HDR_READ_VERSION 19

int64_t store_reseed(struct store *s)
{
	sqlite3_stmt *st = NULL;
	uint64_t max = store_node_max(s), top = 0;
	int rv;

	if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(ino), 0) FROM inodes", -1, &st, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		top = (uint64_t)sqlite3_column_int64(st, 0) >> 48;
	sqlite3_finalize(st);
	if (top > max)
		max = top;
	if (max + 1 >= (1u << 16))
		return -ENOSPC;
	rv = store_exec(s, "BEGIN; DELETE FROM requests;");
	if (rv == 0)
		rv = store_meta_set(s, "applied", 0);
	if (rv == 0)
		rv = store_meta_set(s, "node_max", max + 1);
	if (rv == 0)
		rv = store_exec(s, "COMMIT;");
	if (rv != 0) {
		store_exec(s, "ROLLBACK;");
		return rv;
	}
	s->applied = 0;
	return (int64_t)(max + 1);
}

int store_snapshot(struct store *s, void **buf, size_t *len)
{
	sqlite3_int64 size = 0;
	unsigned char *img;

	img = sqlite3_serialize(s->db, "main", &size, 0);
	if (img == NULL)
		return -ENOMEM;
	*buf = raft_malloc((size_t)size);
	if (*buf == NULL) {
		sqlite3_free(img);
		return -ENOMEM;
	}
	memcpy(*buf, img, (size_t)size);
	sqlite3_free(img);
	/* A snapshot is loaded into memory, where WAL is not available: mark
	 * the image as using a rollback journal (file format bytes 18, 19). */
	if (size > SQLITE_HDR_READ_VERSION) {
		((unsigned char *)*buf)[SQLITE_HDR_WRITE_VERSION] = 1;
		((unsigned char *)*buf)[SQLITE_HDR_READ_VERSION] = 1;
	}
	*len = (size_t)size;
	return 0;
}

int store_restore(struct store *s, const void *buf, size_t len)
{
	sqlite3 *mem = NULL;
	sqlite3_backup *bk;
	sqlite3_stmt *st = NULL;
	unsigned char *img;
	uint64_t snap_applied = 0;
	int rc, rv = -EINVAL;

	if (len < 512)
		return -EINVAL;
	img = sqlite3_malloc64(len);
	if (img == NULL)
		return -ENOMEM;
	memcpy(img, buf, len);
	if (sqlite3_open(":memory:", &mem) != SQLITE_OK) {
		sqlite3_free(img);
		sqlite3_close(mem);
		return -ENOMEM;
	}
	rc = sqlite3_deserialize(mem, "main", img, (sqlite3_int64)len, (sqlite3_int64)len,
				 SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY);
	if (rc != SQLITE_OK)
		goto out;
	/* Check the copy before it replaces anything: a store of our format
	 * with every table and meta value we rely on. */
	rc = sqlite3_prepare_v2(mem,
				"SELECT (SELECT value FROM meta WHERE key = 'format'),"
				" (SELECT value FROM meta WHERE key = 'applied'),"
				" (SELECT count(*) FROM meta WHERE key IN"
				"  ('bytes', 'max_file', 'max_bytes')),"
				" (SELECT count(*) FROM inodes WHERE ino = 1),"
				" (SELECT count(*) FROM dentries WHERE 0),"
				" (SELECT count(*) FROM xattrs WHERE 0),"
				" (SELECT count(*) FROM requests WHERE 0)",
				-1, &st, NULL);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
	    sqlite3_column_type(st, 0) == SQLITE_NULL ||
	    sqlite3_column_int64(st, 0) != STORE_FORMAT ||
	    sqlite3_column_type(st, 1) == SQLITE_NULL || sqlite3_column_int64(st, 2) != 3 ||
	    sqlite3_column_int64(st, 3) != 1)
		goto out;
	snap_applied = (uint64_t)sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	st = NULL;
	if (snap_applied <= s->applied) {
		rv = 0; /* the store already has everything in it */
		goto out;
	}
	bk = sqlite3_backup_init(s->db, "main", mem, "main");
	if (bk == NULL) {
		rv = store_errno(s, sqlite3_errcode(s->db));
		goto out;
	}
	rc = sqlite3_backup_step(bk, -1);
	sqlite3_backup_finish(bk);
	if (rc != SQLITE_DONE) {
		rv = store_errno(s, rc);
		goto out;
	}
	rv = store_migrate(s);
	if (rv == 0)
		rv = store_load_meta(s);
out:
	sqlite3_finalize(st);
	sqlite3_close(mem);
	return rv;
}
