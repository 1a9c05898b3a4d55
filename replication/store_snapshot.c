/*
 * Snapshots and backups: the whole database as one buffer for raft
 * (store_snapshot), loading one back (store_restore), turning a copy from a
 * backup into the seed of a new cluster (store_reseed), and replacing the
 * store's file by a whole new one written off the loop (store_file_check,
 * store_replace: a follower's snapshot install, see snapshot.h). Loop
 * thread only, except store_file_check (any thread, its own connection).
 */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <raft.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	rv = store_batch_end(s);
	if (rv == 0)
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
	int rv = store_batch_end(s); /* an image of what is committed */

	if (rv != 0)
		return rv;
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
	rv = store_batch_end(s);
	if (rv != 0)
		return rv;
	rv = -EINVAL;
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

int store_file_check(const char *path, uint64_t *applied)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	uint64_t format = 0;
	bool have_applied = false;
	int rc, rv;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rv = rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
		goto out;
	}
	/* quick_check reads every page (seconds for hundreds of MiB): the
	 * reason this runs off the loop. */
	rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW || sqlite3_column_text(st, 0) == NULL ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		rv = -EUCLEAN;
		goto out;
	}
	sqlite3_finalize(st);
	rc = sqlite3_prepare_v2(db, "SELECT key, value FROM meta WHERE key IN ('format', 'applied')",
				-1, &st, NULL);
	if (rc != SQLITE_OK) {
		rv = -EPROTO; /* no meta table: not one of ours */
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);

		if (key != NULL && strcmp(key, "format") == 0)
			format = (uint64_t)sqlite3_column_int64(st, 1);
		if (key != NULL && strcmp(key, "applied") == 0) {
			*applied = (uint64_t)sqlite3_column_int64(st, 1);
			have_applied = true;
		}
	}
	rv = rc != SQLITE_DONE ? -EIO : (format != STORE_FORMAT || !have_applied) ? -EPROTO : 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rv;
}

bool store_is_open(struct store *s)
{
	return s->db != NULL;
}

/* Open the store at @path into @s (the same struct: everyone holds its
 * pointer). */
static int store_reopen(struct store *s, const char *path, char *errmsg, size_t errlen)
{
	struct store *fresh = NULL;
	int rv = store_open(path, s->v, &fresh, errmsg, errlen);

	if (rv != 0)
		return rv;
	*s = *fresh;
	free(fresh);
	return 0;
}

static int sync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, rv = 0;

	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rv = -errno;
	close(fd);
	return rv;
}

static int replace(struct store *s, const char *with, char *errmsg, size_t errlen);

/* Nothing checkpoints while the file is replaced (store_checkpoint.c); the
 * store that is left (the new one, or the old one kept) checkpoints again. */
int store_replace(struct store *s, const char *with, char *errmsg, size_t errlen)
{
	int rv;

	store_ckpt_stop(s);
	rv = replace(s, with, errmsg, errlen);
	if (s->db != NULL)
		store_ckpt_start(s);
	return rv;
}

static int replace(struct store *s, const char *with, char *errmsg, size_t errlen)
{
	char path[PATH_MAX], side[PATH_MAX + 8];
	const char *name = sqlite3_db_filename(s->db, "main");
	int rc, rv;

	if (name == NULL || name[0] == '\0' || strlen(name) >= sizeof(path) - 8) {
		snprintf(errmsg, errlen, "the store has no file to replace");
		return -EINVAL;
	}
	rv = store_batch_end(s);
	if (rv != 0) {
		snprintf(errmsg, errlen, "cannot commit the store: %s", strerror(-rv));
		return rv;
	}
	strcpy(path, name);
	/* Everything committed goes into the file (synced: synchronous=NORMAL
	 * syncs the database after a checkpoint) and the WAL is emptied, so
	 * that the WAL and its index can be removed below and a crash at any
	 * point before the rename finds the old store whole. A reader (an
	 * image being made for a follower) holding the WAL makes this fail:
	 * then nothing changes. */
	rc = sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(errmsg, errlen, "cannot empty the store's WAL: %s", sqlite3_errmsg(s->db));
		return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? -EBUSY : -EIO;
	}
	store_finalize(s);
	if (sqlite3_close(s->db) != SQLITE_OK) {
		/* A statement or blob of someone else is still open: a closed
		 * connection must not survive as a zombie that would later write
		 * the new file's WAL by name. Keep the old store. */
		snprintf(errmsg, errlen, "the store's connection is still in use");
		return store_prepare(s) == 0 ? -EBUSY : -EIO;
	}
	s->db = NULL;
	/* Left behind only if sqlite could not remove them. They must not be
	 * taken for the new file's; were one to stay, the WAL is empty (the
	 * checkpoint truncated it) and so carries nothing into the new file. */
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	/* The commit point: before it the directory holds the old store,
	 * after it the new one; both are whole and synced. */
	rv = rename(with, path) == 0 ? 0 : -errno;
	if (rv != 0) {
		snprintf(errmsg, errlen, "cannot rename %s to %s: %s", with, path, strerror(-rv));
		return store_reopen(s, path, errmsg, errlen) == 0 ? rv : -EIO;
	}
	rv = sync_dir_of(path);
	if (rv != 0)
		snprintf(errmsg, errlen, "cannot sync the directory of %s: %s", path, strerror(-rv));
	else
		rv = store_reopen(s, path, errmsg, errlen);
	return rv != 0 && s->db == NULL ? -EIO : rv;
}
