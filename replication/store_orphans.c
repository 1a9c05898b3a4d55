/*
 * Orphans: files unlinked (nlink 0) while a descriptor on some node still
 * holds them. Their rows stay until no descriptor on this node holds them
 * (store_drop_orphan, local housekeeping, not a log entry); entries that
 * reach them by inode must have the same outcome on every node whether or
 * not the row is still here (store_target_inode). Loop thread only.
 */
#include "store_internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

/* The inode a by-inode entry (write, setattr, xattrs) targets. Such an
 * entry may reach an orphan: a file unlinked while a descriptor on some node
 * still holds it. Each node drops its orphans when its own descriptors are
 * closed, so whether the row is still here differs from node to node; the
 * outcome must not. So for orphans and missing inodes this returns 1: the
 * caller applies what it can without charging the store limit or consulting
 * the namespace, and reports success. */
int store_target_inode(struct store *s, uint64_t ino, struct store_attr *a)
{
	int rv = store_getattr(s, ino, a);

	if (rv == -ENOENT) {
		memset(a, 0, sizeof(*a));
		a->ino = 0; /* nothing to change */
		return 1;
	}
	if (rv != 0)
		return rv;
	return a->nlink == 0 && !S_ISDIR(a->mode) ? 1 : 0;
}

int store_drop_orphan(struct store *s, uint64_t ino)
{
	struct store_attr a;
	int rv = store_getattr(s, ino, &a);

	if (rv != 0)
		return rv == -ENOENT ? 0 : rv;
	if (a.nlink != 0 || S_ISDIR(a.mode))
		return 0;
	rv = store_batch_end(s); /* a transaction of its own */
	if (rv == 0)
		rv = store_exec(s, "BEGIN IMMEDIATE;");
	if (rv != 0)
		return rv;
	rv = store_delete_inode(s, &a); /* nlink 0: changes no replicated value */
	if (rv == 0)
		rv = store_exec(s, "COMMIT;");
	else
		store_exec(s, "ROLLBACK;");
	return rv;
}

int store_drop_all_orphans(struct store *s)
{
	uint64_t inos[64];
	int n, rc, rv = 0;

	do {
		sqlite3_stmt *st = store_stmt(s, ST_ORPHANS);

		n = 0;
		while (n < 64 && (rc = sqlite3_step(st)) == SQLITE_ROW)
			inos[n++] = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		for (int i = 0; i < n && rv == 0; i++)
			rv = store_drop_orphan(s, inos[i]);
	} while (n == 64 && rv == 0);
	return rv;
}
