/*
 * The store's foundation: opening (and creating) the sqlite3 database, its
 * schema and pragmas, the prepared statements every other store file uses,
 * transactions, and the meta table (format, applied index, limits, byte
 * count, node ids). See store.h for the schema and the threading rule
 * (libuv loop thread only); the other concerns live beside this file:
 * store_tree.c, store_content.c, store_xattr.c, store_orphans.c,
 * store_limits.c, store_typed.c, store_apply.c, store_log.c and
 * store_snapshot.c.
 */
#include "store_internal.h"

#include "../common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ATTR_COLS                                                                  \
	"i.ino, i.mode, i.uid, i.gid, i.nlink, i.size, i.mtime, i.ctime, i.revision, " \
	"i.writer_node, i.writer_uid, i.gen, i.parent, coalesce(i.atime, i.mtime)"

static const char *const stmt_sql[ST__N] = {
	[ST_GETATTR] = "SELECT " ATTR_COLS " FROM inodes i WHERE i.ino = ?1",
	[ST_LOOKUP] = "SELECT " ATTR_COLS " FROM dentries d JOIN inodes i ON i.ino = d.ino "
		      "WHERE d.parent = ?1 AND d.name = ?2",
	[ST_CHILD] = "SELECT ino FROM dentries WHERE parent = ?1 AND name = ?2",
	[ST_READ_DATA] = "SELECT data FROM inodes WHERE ino = ?1",
	[ST_INSERT_INODE] = "INSERT INTO inodes (ino, mode, uid, gid, nlink, size, mtime, ctime, "
			    "revision, writer_node, writer_uid, gen, parent, data) "
			    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10, ?8, ?11, ?12)",
	[ST_INSERT_DENTRY] = "INSERT INTO dentries (parent, name, ino) VALUES (?1, ?2, ?3)",
	[ST_DELETE_DENTRY] = "DELETE FROM dentries WHERE parent = ?1 AND name = ?2",
	[ST_SET_DENTRY_INO] = "UPDATE dentries SET ino = ?3 WHERE parent = ?1 AND name = ?2",
	[ST_DELETE_INODE] = "DELETE FROM inodes WHERE ino = ?1",
	[ST_DELETE_XATTRS] = "DELETE FROM xattrs WHERE ino = ?1",
	[ST_SET_NLINK] = "UPDATE inodes SET nlink = ?2 WHERE ino = ?1",
	[ST_SET_DATA] = "UPDATE inodes SET data = ?2, size = ?3 WHERE ino = ?1",
	[ST_SET_META] = "UPDATE inodes SET mode = ?2, uid = ?3, gid = ?4, mtime = ?5, atime = ?6 "
			"WHERE ino = ?1",
	[ST_TOUCH] = "UPDATE inodes SET mtime = CASE WHEN ?2 THEN ?3 ELSE mtime END, ctime = ?3, "
		     "revision = ?4, writer_node = ?5, writer_uid = ?6 WHERE ino = ?1",
	[ST_SET_PARENT] = "UPDATE inodes SET parent = ?2 WHERE ino = ?1",
	[ST_HAS_CHILDREN] = "SELECT 1 FROM dentries WHERE parent = ?1 LIMIT 1",
	[ST_READDIR] = "SELECT d.name, d.ino, i.mode FROM dentries d JOIN inodes i ON i.ino = d.ino "
		       "WHERE d.parent = ?1 ORDER BY d.name",
	[ST_GETXATTR] = "SELECT value FROM xattrs WHERE ino = ?1 AND name = ?2",
	[ST_LISTXATTR] = "SELECT name FROM xattrs WHERE ino = ?1 ORDER BY name",
	[ST_SETXATTR] = "INSERT OR REPLACE INTO xattrs (ino, name, value) VALUES (?1, ?2, ?3)",
	[ST_REMOVEXATTR] = "DELETE FROM xattrs WHERE ino = ?1 AND name = ?2",
	[ST_XATTR_BYTES] = "SELECT coalesce(sum(length(value)), 0) FROM xattrs WHERE ino = ?1",
	[ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[ST_META_SET] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
	[ST_ORPHANS] = "SELECT ino FROM inodes WHERE nlink = 0",
	[ST_COUNT_INODES] = "SELECT count(*) FROM inodes WHERE nlink > 0",
	[ST_REQ_GET] = "SELECT result FROM requests WHERE node = ?1 AND rid = ?2",
	[ST_REQ_PUT] = "INSERT OR REPLACE INTO requests (node, rid, result, stamp) "
		       "VALUES (?1, ?2, ?3, ?4)",
	[ST_REQ_PRUNE] = "DELETE FROM requests WHERE stamp < ?1",
	[ST_NAME_OF] = "SELECT parent, name FROM dentries WHERE ino = ?1 LIMIT 1",
	[ST_LOG_PUT] = "INSERT OR REPLACE INTO changes (idx, stamp, node, uid, op, path) "
		       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_LOG_PRUNE] = "DELETE FROM changes WHERE idx < (SELECT idx FROM changes ORDER BY idx DESC "
			 "LIMIT 1 OFFSET ?1)",
	[ST_LOG_READ] = "SELECT idx, stamp, node, uid, op, path FROM changes ORDER BY idx",
	/* Is a path below ?1 longer than ?2 bytes from ?1's own path? Stops
	 * descending where a path is too long already (store_pathlimit.c). */
	[ST_SUBTREE_OVER] = "WITH RECURSIVE sub(ino, len) AS ("
			    " SELECT ino, 1 + length(name) FROM dentries WHERE parent = ?1"
			    " UNION ALL"
			    " SELECT d.ino, sub.len + 1 + length(d.name) FROM sub"
			    " JOIN dentries d ON d.parent = sub.ino WHERE sub.len <= ?2)"
			    " SELECT 1 FROM sub WHERE len > ?2 LIMIT 1",
	/* store_recount_bytes: the formula of store_limits.c. */
	[ST_RECOUNT] = "SELECT (SELECT coalesce(sum(?1 + size), 0) FROM inodes WHERE nlink > 0)"
		       " + (SELECT coalesce(sum(length(x.value)), 0) FROM xattrs x"
		       "    JOIN inodes i ON i.ino = x.ino WHERE i.nlink > 0)"
		       " + (SELECT coalesce(sum(?2 + length(name)), 0) FROM dentries)",
};

static const char store_schema[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) "
	"WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS inodes ("
	" ino INTEGER PRIMARY KEY, mode INTEGER NOT NULL, uid INTEGER NOT NULL,"
	" gid INTEGER NOT NULL, nlink INTEGER NOT NULL, size INTEGER NOT NULL,"
	" mtime INTEGER NOT NULL, ctime INTEGER NOT NULL, revision INTEGER NOT NULL,"
	" writer_node INTEGER NOT NULL, writer_uid INTEGER NOT NULL, gen INTEGER NOT NULL,"
	" parent INTEGER NOT NULL, data BLOB, atime INTEGER);"
	"CREATE TABLE IF NOT EXISTS dentries (parent INTEGER NOT NULL, name BLOB NOT NULL,"
	" ino INTEGER NOT NULL, PRIMARY KEY (parent, name)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS xattrs (ino INTEGER NOT NULL, name BLOB NOT NULL,"
	" value BLOB NOT NULL, PRIMARY KEY (ino, name)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS requests (node INTEGER NOT NULL, rid INTEGER NOT NULL,"
	" result INTEGER NOT NULL, stamp INTEGER NOT NULL, PRIMARY KEY (node, rid)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS dentries_ino ON dentries (ino);"
	"CREATE TABLE IF NOT EXISTS changes (idx INTEGER PRIMARY KEY, stamp INTEGER NOT NULL,"
	" node INTEGER NOT NULL, uid INTEGER NOT NULL, op INTEGER NOT NULL, path BLOB NOT NULL);";

/* The fixed directories every node has from the start (DESIGN §4). */
static const struct {
	uint64_t ino;
	const char *name;
} store_fixed_dirs[] = {
	{STORE_GATES_INO, "gates"},	{STORE_PEERS_INO, "peers"},
	{STORE_LEASES_INO, "leases"},	{STORE_ROUTING_INO, "routing"},
	{STORE_CONFIG_INO, "config"},
};

int store_errno(struct store *s, int rc)
{
	/* Every sqlite error met while an entry is applied is a failure of
	 * this node's store, never a refusal: store_apply must not record it
	 * as the entry's outcome (other nodes may apply the entry), so it is
	 * remembered here and store_apply looks. */
	if (s != NULL && s->fault == SQLITE_OK)
		s->fault = rc;
	switch (rc) {
	case SQLITE_FULL:
		/* The disk, not the store limit (ENOSPC is the limit's refusal):
		 * store_apply reports it as -ENOSPC, see store_fault_errno. */
		return -EIO;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	default:
		return -EIO;
	}
}

int store_note(struct store *s, int rc)
{
	if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE)
		return 0;
	return store_errno(s, rc);
}

int store_fault_errno(struct store *s)
{
	switch (s->fault) {
	case SQLITE_OK:
		return 0;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	default:
		return -EIO;
	}
}

sqlite3_stmt *store_stmt(struct store *s, enum stmt id)
{
	sqlite3_stmt *st = s->st[id];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/* Run a statement that returns no rows. */
int store_step_done(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_errno(s, rc);
}

int store_exec(struct store *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : store_errno(s, rc);
}

int store_meta_get(struct store *s, const char *key, uint64_t *out)
{
	sqlite3_stmt *st = store_stmt(s, ST_META_GET);
	int rc;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : store_errno(s, rc);
}

int store_meta_set(struct store *s, const char *key, uint64_t value)
{
	sqlite3_stmt *st = store_stmt(s, ST_META_SET);

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)value);
	return store_step_done(s, st);
}

uint64_t store_applied_index(struct store *s)
{
	return s->applied;
}

int store_prepare(struct store *s)
{
	for (int i = 0; i < ST__N; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
				       NULL) != SQLITE_OK)
			return -EIO;
	}
	return 0;
}

void store_finalize(struct store *s)
{
	for (int i = 0; i < ST__N; i++) {
		sqlite3_finalize(s->st[i]);
		s->st[i] = NULL;
	}
}

/* Create the root and the namespace directories, identically on every
 * node: fixed inode numbers, epoch timestamps, revision 0. */
static int store_init_tree(struct store *s)
{
	sqlite3_stmt *st;
	int rv;

	st = store_stmt(s, ST_INSERT_INODE);
	sqlite3_bind_int64(st, 1, STORE_ROOT_INO);
	sqlite3_bind_int64(st, 2, S_IFDIR | 0755);
	sqlite3_bind_int64(st, 5, 2 + (int)(sizeof(store_fixed_dirs) / sizeof(store_fixed_dirs[0])));
	sqlite3_bind_int64(st, 11, STORE_ROOT_INO);
	for (int i = 3; i <= 10; i++)
		if (i != 5)
			sqlite3_bind_int64(st, i, 0);
	sqlite3_bind_int64(st, 6, 0);
	sqlite3_bind_zeroblob(st, 12, 0);
	rv = store_step_done(s, st);
	for (size_t i = 0; rv == 0 && i < sizeof(store_fixed_dirs) / sizeof(store_fixed_dirs[0]); i++) {
		st = store_stmt(s, ST_INSERT_INODE);
		sqlite3_bind_int64(st, 1, (sqlite3_int64)store_fixed_dirs[i].ino);
		sqlite3_bind_int64(st, 2, S_IFDIR | 0755);
		for (int c = 3; c <= 10; c++)
			sqlite3_bind_int64(st, c, c == 5 ? 2 : 0);
		sqlite3_bind_int64(st, 11, STORE_ROOT_INO);
		sqlite3_bind_zeroblob(st, 12, 0);
		rv = store_step_done(s, st);
		if (rv == 0)
			rv = store_insert_name_row(s, STORE_ROOT_INO, store_fixed_dirs[i].name,
						   strlen(store_fixed_dirs[i].name),
						   store_fixed_dirs[i].ino);
	}
	if (rv == 0)
		rv = store_meta_set(s, "format", STORE_FORMAT);
	if (rv == 0)
		rv = store_meta_set(s, "applied", 0);
	if (rv == 0)
		rv = store_meta_set(s, "max_file", STORE_DEFAULT_MAX_FILE);
	if (rv == 0)
		rv = store_meta_set(s, "max_bytes", STORE_DEFAULT_MAX_BYTES);
	if (rv == 0)
		rv = store_meta_set(s, "node_max", 1); /* the bootstrap node */
	if (rv == 0)
		rv = store_migrate_bytes(s); /* the first count (and "accounting") */
	return rv;
}

/* Load the cached meta values; the store must have been initialised. */
int store_load_meta(struct store *s)
{
	uint64_t format = 0;
	int rv = store_meta_get(s, "format", &format);

	if (rv == 0 && format != STORE_FORMAT)
		return -EPROTO;
	if (rv == 0)
		rv = store_meta_get(s, "applied", &s->applied);
	if (rv == 0)
		rv = store_meta_get(s, "bytes", &s->bytes);
	if (rv == 0)
		rv = store_meta_get(s, "max_file", &s->max_file);
	if (rv == 0)
		rv = store_meta_get(s, "max_bytes", &s->max_bytes);
	if (rv == 0)
		rv = store_migrate_bytes(s);
	return rv;
}

/* Bring a store of an earlier layout (or an image restored from one) up to
 * this one: inodes.atime came later (NULL: the same as mtime). */
int store_migrate(struct store *s)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "SELECT atime FROM inodes LIMIT 0", -1, &st, NULL);

	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		return 0;
	return store_exec(s, "ALTER TABLE inodes ADD COLUMN atime INTEGER");
}

/* sqlite's quick_check over the whole file: a damaged page anywhere is found
 * now, at start, rather than by the entry or the read that meets it. Reads
 * every page once (0.25 s for a 250 MiB store from a cold cache, measured
 * on the CI machine). 0, or
 * -EUCLEAN with sqlite's first complaint in @why. */
static int store_quick_check(struct store *s, char *why, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL);
	int rv = 0;

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *res = (const char *)sqlite3_column_text(st, 0);

		if (res == NULL || strcmp(res, "ok") != 0) {
			/* One line: sqlite's report spans several. */
			snprintf(why, len, "%s", res != NULL ? res : "no answer");
			for (char *p = why; *p != '\0'; p++)
				if (*p == '\n')
					*p = ' ';
			rv = -EUCLEAN;
		}
	} else {
		snprintf(why, len, "%s", sqlite3_errmsg(s->db));
		rv = rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? -EUCLEAN : -EIO;
	}
	sqlite3_finalize(st);
	return rv;
}

int store_open(const char *path, const struct store_validator *v, struct store **out,
	       char *errmsg, size_t errlen)
{
	struct store *s;
	uint64_t format;
	int rc, rv;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->v = v;
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		snprintf(errmsg, errlen, "cannot open %s: %s", path, sqlite3_errstr(rc));
		rv = -EIO;
		goto err;
	}
	sqlite3_extended_result_codes(s->db, 0);
	/* The raft log is the durable record; the store may lose its last
	 * transactions on power loss (they are re-applied), never be torn. */
	rv = store_exec(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
	if (rv == 0)
		rv = store_exec(s, store_schema);
	if (rv == 0)
		rv = store_migrate(s);
	if (rv == -EUCLEAN) {
		snprintf(errmsg, errlen, "%s is damaged (sqlite: %s)", path, sqlite3_errmsg(s->db));
		goto err;
	}
	if (rv != 0) {
		snprintf(errmsg, errlen, "%s is not a usable clusterfs store: %s", path,
			 sqlite3_errmsg(s->db));
		goto err;
	}
	rv = store_prepare(s);
	if (rv != 0) {
		snprintf(errmsg, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
		goto err;
	}
	if (store_meta_get(s, "format", &format) == -ENOENT) {
		rv = store_exec(s, "BEGIN");
		if (rv == 0)
			rv = store_init_tree(s);
		if (rv == 0)
			rv = store_exec(s, "COMMIT");
		if (rv != 0) {
			snprintf(errmsg, errlen, "cannot initialise %s: %s", path,
				 sqlite3_errmsg(s->db));
			goto err;
		}
	}
	rv = store_load_meta(s);
	if (rv == -EPROTO) {
		snprintf(errmsg, errlen, "%s is a store of another version (unknown format)", path);
		goto err;
	}
	if (rv != 0) {
		snprintf(errmsg, errlen, "%s is damaged (its metadata is missing)", path);
		rv = -EUCLEAN;
		goto err;
	}
	rv = store_quick_check(s, errmsg, errlen);
	if (rv != 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", errmsg);
		snprintf(errmsg, errlen, "%s is damaged (sqlite quick_check: %s)", path, why);
		goto err;
	}
	store_ckpt_start(s);
	*out = s;
	return 0;
err:
	store_close(s);
	return rv;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->db != NULL)
		store_batch_end(s); /* else the raft log applies it again */
	store_ckpt_stop(s);
	store_finalize(s);
	sqlite3_close(s->db);
	free(s);
}

uint64_t store_node_max(struct store *s)
{
	uint64_t max = 1;

	store_meta_get(s, "node_max", &max);
	return max;
}

struct sqlite3 *store_sqlite(struct store *s)
{
	return s->db;
}
