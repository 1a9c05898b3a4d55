/*
 * The path limit (DESIGN §9): every name's path below the mount root, as
 * PATH_MAX counts it (with its terminating NUL), fits in STORE_MAX_PATH
 * bytes, so "a/b/c" is at most STORE_MAX_PATH_LEN (4095) bytes. Enforced
 * by the FSM on every create (files, directories, symlinks), link and
 * rename, so that every node refuses the same entries with ENAMETOOLONG;
 * the front end asks the same question early (store_check_new_path).
 *
 * Lengths are computed, not stored: a directory's path by walking its
 * parents (a directory has one name), at most STORE_MAX_PATH_LEN / 2 steps
 * since every step adds a name and a '/'; the longest path below a
 * directory that a rename moves, by one recursive query over the names
 * below it that stops at the first one that would be too long. That query
 * runs only when the move makes the directory's path longer, and costs one
 * index lookup per name below it (bounded by the store limit). Keeping a
 * "longest path below" per directory instead would cost a write up the
 * whole ancestry on every create and unlink, and a rescan of siblings on
 * unlink: far more work on the common path than this rare walk.
 *
 * Loop thread only (see store.h).
 */
#include "store_internal.h"

#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>

/* The length of directory @dir's path ("" for the root, "a/b"), into
 * *len; -ENAMETOOLONG as soon as it is over STORE_MAX_PATH_LEN (a store
 * from before the limit may have such paths: nothing goes below them). */
int store_dir_path_len(struct store *s, uint64_t dir, size_t *len)
{
	size_t used = 0;

	for (int depth = 0; dir != STORE_ROOT_INO; depth++) {
		sqlite3_stmt *st = store_stmt(s, ST_NAME_OF);
		int rc;

		if (depth > STORE_MAX_PATH_LEN)
			return -ELOOP; /* a cycle cannot exist; refuse rather than loop */
		sqlite3_bind_int64(st, 1, (sqlite3_int64)dir);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(st);
			return rc == SQLITE_DONE ? -ENOENT : store_errno(s, rc);
		}
		used += (size_t)sqlite3_column_bytes(st, 1) + (used > 0 ? 1 : 0);
		dir = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (used > STORE_MAX_PATH_LEN)
			return -ENAMETOOLONG;
	}
	*len = used;
	return 0;
}

/* The length of the path of @name_len bytes in directory @dir, into *len
 * (if not NULL): 0, or -ENAMETOOLONG when it is over the limit. */
static int child_path_len(struct store *s, uint64_t dir, size_t name_len, size_t *len)
{
	size_t dlen;
	int rv = store_dir_path_len(s, dir, &dlen);

	if (rv != 0)
		return rv;
	dlen += (dlen > 0 ? 1 : 0) + name_len;
	if (dlen > STORE_MAX_PATH_LEN)
		return -ENAMETOOLONG;
	if (len != NULL)
		*len = dlen;
	return 0;
}

int store_check_new_path(struct store *s, uint64_t dir, size_t name_len)
{
	return child_path_len(s, dir, name_len, NULL);
}

/* Is any path below directory @dir longer than @room bytes, counted from
 * the '/' after @dir's own path? 1, 0 or -errno. */
static int subtree_over(struct store *s, uint64_t dir, size_t room)
{
	sqlite3_stmt *st = store_stmt(s, ST_SUBTREE_OVER);
	int rc;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)dir);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)room);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_errno(s, rc);
}

int store_check_move(struct store *s, const struct store_attr *a, uint64_t from,
		     size_t old_name_len, uint64_t to, size_t new_name_len)
{
	size_t before, after;
	int rv;

	rv = child_path_len(s, to, new_name_len, &after);
	if (rv != 0 || !S_ISDIR(a->mode))
		return rv;
	/* Nothing below gets longer: no walk (and a store from before the
	 * limit may shorten its paths). */
	if (child_path_len(s, from, old_name_len, &before) == 0 && after <= before)
		return 0;
	rv = subtree_over(s, a->ino, STORE_MAX_PATH_LEN - after);
	return rv > 0 ? -ENAMETOOLONG : rv;
}
