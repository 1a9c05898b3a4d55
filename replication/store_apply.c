/*
 * Applying a log entry to the store: store_apply's transaction, the
 * dispatch of an entry to its operation (store_tree.c, store_content.c,
 * store_xattr.c, store_typed.c), node id allocation, and the request-outcome
 * table that makes retried requests idempotent. Loop thread only.
 *
 * Applying an entry is one transaction: a savepoint around the operation
 * (rolled back if the operation is refused, so a failed mutation changes
 * nothing) and, in every case, the applied index. Refusals are part of the
 * replicated state machine: they depend only on the store and the entry, so
 * every node refuses the same entries.
 */
#include "store_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* Allocate a node id never used before: ids are part of inode numbers. */
static int apply_node(struct apply *ap)
{
	uint64_t max = 1, id;
	int rv = store_meta_get(ap->s, "node_max", &max);

	if (rv != 0 && rv != -ENOENT)
		return rv;
	id = (max > ap->e->offset ? max : ap->e->offset) + 1;
	if (id >= (1u << 16))
		return -ENOSPC; /* 16 bits of every inode number */
	rv = store_meta_set(ap->s, "node_max", id);
	if (rv == 0)
		ap->ch->result = (int64_t)id;
	return rv;
}

static int apply_op(struct apply *ap)
{
	if (ap->e->op != ENTRY_NODE)
		ap->ch->ino = ap->e->ino;
	switch (ap->e->op) {
	case ENTRY_CREATE:
		return store_apply_create(ap);
	case ENTRY_LINK:
		return store_apply_link(ap);
	case ENTRY_UNLINK:
		return store_apply_unlink(ap);
	case ENTRY_RENAME:
		return store_apply_rename(ap);
	case ENTRY_WRITE:
		return store_apply_write(ap);
	case ENTRY_SETATTR:
		return store_apply_setattr(ap);
	case ENTRY_SETXATTR:
		return store_apply_setxattr(ap);
	case ENTRY_REMOVEXATTR:
		return store_apply_removexattr(ap);
	case ENTRY_NODE:
		return apply_node(ap);
	case ENTRY_EXPIRE:
		return store_apply_expire(ap);
	case ENTRY_MULTI:
		return store_apply_multi(ap);
	default:
		return -EINVAL;
	}
}

/* Errors that say the store itself failed, as opposed to a refusal. */
static int is_store_failure(int rv)
{
	return rv == -EIO || rv == -ENOMEM || rv == -EUCLEAN;
}

/* Has this (node, request id) been applied before? Sets its outcome. */
static bool request_seen(struct store *s, const struct entry *e, int64_t *result)
{
	sqlite3_stmt *st = store_stmt(s, ST_REQ_GET);
	bool seen;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)e->node_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)e->request_id);
	seen = sqlite3_step(st) == SQLITE_ROW;
	if (seen)
		*result = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return seen;
}

/* Remember the outcome of a request; now and then forget old ones (by the
 * leader's clock in the entry, so every node forgets the same ones). */
static int request_remember(struct store *s, uint64_t index, const struct entry *e,
			    int64_t result)
{
	sqlite3_stmt *st = store_stmt(s, ST_REQ_PUT);
	int rv;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)e->node_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)e->request_id);
	sqlite3_bind_int64(st, 3, result);
	sqlite3_bind_int64(st, 4, e->stamp_ns);
	rv = store_step_done(s, st);
	if (rv == 0 && index % STORE_PRUNE_EVERY == 0) {
		st = store_stmt(s, ST_REQ_PRUNE);
		sqlite3_bind_int64(st, 1, e->stamp_ns - STORE_REQUEST_MEMORY_NS);
		rv = store_step_done(s, st);
	}
	return rv;
}

int store_apply(struct store *s, uint64_t index, const struct entry *e,
		struct store_change *change)
{
	struct apply ap = {.s = s, .index = index, .e = e, .ch = change};
	uint64_t bytes_before = s->bytes;
	int rv, rv2;

	memset(change, 0, sizeof(*change));
	if (index <= s->applied)
		return 1;
	rv = store_exec(s, "BEGIN IMMEDIATE; SAVEPOINT op;");
	if (rv != 0)
		return rv;
	if (e->request_id != 0 && request_seen(s, e, &change->result)) {
		change->duplicate = true;
		change->noop = true;
		goto record;
	}
	rv = apply_op(&ap);
	if (rv != 0) {
		s->bytes = bytes_before;
		change->result = rv;
		change->noop = false;
		change->orphaned[0] = change->orphaned[1] = 0;
		rv2 = store_exec(s, "ROLLBACK TO op;");
		if (rv2 != 0 || is_store_failure(rv)) {
			store_exec(s, "ROLLBACK;");
			return rv2 != 0 ? rv2 : rv;
		}
		rv = 0; /* a refusal is an outcome, remembered like any other */
	}
	if (e->request_id != 0)
		rv = request_remember(s, index, e, change->result);
	if (rv == 0 && change->result >= 0 && !change->noop)
		rv = store_log_change(s, index, e);
	if (rv != 0)
		goto fail;
record:
	rv = store_exec(s, "RELEASE op;");
	if (rv == 0)
		rv = store_meta_set(s, "applied", index);
	if (rv == 0)
		rv = store_meta_set(s, "bytes", s->bytes);
	if (rv == 0)
		rv = store_exec(s, "COMMIT;");
	if (rv != 0) {
fail:
		store_exec(s, "ROLLBACK;");
		s->bytes = bytes_before;
		return rv;
	}
	s->applied = index;
	return 0;
}

int store_apply_noop(struct store *s, uint64_t index)
{
	int rv;

	if (index <= s->applied)
		return 1;
	rv = store_meta_set(s, "applied", index);
	if (rv == 0)
		s->applied = index;
	return rv;
}
