/*
 * Applying a log entry to the store: store_apply's transaction, the
 * dispatch of an entry to its operation (store_tree.c, store_content.c,
 * store_xattr.c, store_typed.c), node id allocation, and the request-outcome
 * table that makes retried requests idempotent. Loop thread only.
 *
 * Applying an entry is a savepoint around the operation (rolled back if
 * the operation is refused, so a failed mutation changes nothing) and, in
 * every case, the applied index. Refusals are part of the replicated state
 * machine: they depend only on the store and the entry, so every node
 * refuses the same entries.
 *
 * Group commit (store.h, store_batch_end): with batching on (the node) the
 * savepoints of one loop turn's entries sit in one transaction, committed
 * once at the end of the turn; a transaction lost (a failed commit, or
 * sqlite's own rollback after an I/O error) puts applied and bytes back to
 * before it and says so once (store_batch_lost), for the FSM to apply its
 * entries again. Without batching each entry commits here.
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
	int rc;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)e->node_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)e->request_id);
	rc = sqlite3_step(st);
	seen = rc == SQLITE_ROW;
	if (seen)
		*result = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	store_note(s, rc); /* a failed read is a fault, not "never seen" */
	return seen;
}

/* Remember the outcome of a request; now and then forget old ones (by the
 * leader's clock in the entry, so every node forgets the same ones). */
static int request_remember(struct store *s, uint64_t index, const struct entry *e, int64_t result)
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

/* The batch is gone (rolled back): the store is as before its first entry. */
static void batch_gone(struct store *s)
{
	if (!s->batch)
		return;
	s->batch = false;
	s->batch_lost = s->batching; /* else it held only the failing entry */
	s->applied = s->batch_applied;
	s->bytes = s->batch_bytes;
}

/* sqlite rolls a transaction back by itself on some errors (I/O, memory),
 * whichever statement met them, a read too: then the batch is gone. */
static void batch_check(struct store *s)
{
	if (s->batch && sqlite3_get_autocommit(s->db))
		batch_gone(s);
}

/* Open the loop turn's transaction if none is (store.h: group commit). */
static int batch_begin(struct store *s)
{
	int rv;

	batch_check(s);
	if (s->batch)
		return 0;
	rv = store_exec(s, "BEGIN IMMEDIATE;");
	if (rv != 0)
		return rv;
	s->batch = true;
	s->batch_applied = s->applied;
	s->batch_bytes = s->bytes;
	return 0;
}

/* Without batching an entry commits as it is applied; a failed commit
 * undoes only that entry, which fails (nothing else was in the batch). */
static int commit_unless_batching(struct store *s)
{
	int rv;

	if (s->batching)
		return 0;
	rv = store_batch_end(s);
	if (rv != 0)
		s->batch_lost = false;
	return rv;
}

bool store_batch_open(struct store *s)
{
	batch_check(s);
	return s->batch;
}

int store_batch_end(struct store *s)
{
	int rv;

	batch_check(s);
	if (!s->batch)
		return 0;
	s->fault = SQLITE_OK;
	rv = store_exec(s, "COMMIT;");
	if (rv == 0) {
		s->batch = false;
		return 0;
	}
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK;", NULL, NULL, NULL);
	batch_gone(s);
	/* One errno for why, as apply_failed says it (-ENOSPC: the disk). */
	return store_fault_errno(s) != 0 ? store_fault_errno(s) : rv;
}

void store_set_batching(struct store *s, bool on)
{
	s->batching = on;
}

bool store_batch_lost(struct store *s)
{
	bool lost;

	batch_check(s);
	lost = s->batch_lost;

	s->batch_lost = false;
	return lost;
}

/* The store failed while applying an entry: undo what it did (its
 * savepoint), keeping the entries before it in the batch — unless sqlite
 * rolled the whole transaction back (a disk-full or I/O error can): then
 * the batch is lost too. Say why with one errno (-ENOSPC: the disk is
 * full). */
static int apply_failed(struct store *s, uint64_t bytes_before, bool in_op, int rv)
{
	int fault = store_fault_errno(s);

	if (sqlite3_get_autocommit(s->db)) {
		batch_gone(s);
	} else if (!in_op || sqlite3_exec(s->db, "ROLLBACK TO op; RELEASE op;", NULL, NULL, NULL) !=
				 SQLITE_OK) {
		sqlite3_exec(s->db, "ROLLBACK;", NULL, NULL, NULL);
		batch_gone(s);
	}
	s->bytes = bytes_before;
	return fault != 0 ? fault : rv < 0 ? rv : -EIO;
}

int store_apply(struct store *s, uint64_t index, const struct entry *e, struct store_change *change)
{
	struct apply ap = {.s = s, .index = index, .e = e, .ch = change};
	uint64_t bytes_before = s->bytes;
	int rv;

	memset(change, 0, sizeof(*change));
	batch_check(s);
	if (index <= s->applied)
		return 1;
	s->fault = SQLITE_OK;
	rv = batch_begin(s);
	if (rv != 0)
		return apply_failed(s, bytes_before, false, rv);
	rv = store_exec(s, "SAVEPOINT op;");
	if (rv != 0)
		return apply_failed(s, bytes_before, false, rv);
	if (e->request_id != 0 && request_seen(s, e, &change->result)) {
		change->duplicate = true;
		change->noop = true;
		goto record;
	}
	if (s->fault != SQLITE_OK)
		return apply_failed(s, bytes_before, true, -EIO);
	rv = apply_op(&ap);
	if (rv != 0) {
		/* A refusal is decided by the store's content and the entry
		 * alone; any sqlite error on the way is a failure of this node,
		 * whatever errno the operation turned it into. */
		if (is_store_failure(rv) || s->fault != SQLITE_OK)
			return apply_failed(s, bytes_before, true, rv);
		s->bytes = bytes_before;
		change->result = rv;
		change->noop = false;
		change->orphaned[0] = change->orphaned[1] = 0;
		rv = store_exec(s, "ROLLBACK TO op;");
		if (rv != 0)
			return apply_failed(s, bytes_before, true, rv);
		/* a refusal is an outcome, remembered like any other */
	} else if (s->fault != SQLITE_OK) {
		return apply_failed(s, bytes_before, true, -EIO);
	}
	if (e->request_id != 0)
		rv = request_remember(s, index, e, change->result);
	if (rv == 0 && change->result >= 0 && !change->noop)
		rv = store_log_change(s, index, e);
	if (rv != 0)
		return apply_failed(s, bytes_before, true, rv);
record:
	rv = store_meta_set(s, "applied", index);
	if (rv == 0)
		rv = store_meta_set(s, "bytes", s->bytes);
	if (rv != 0)
		return apply_failed(s, bytes_before, true, rv);
	/* Committed with the other entries of this loop turn (store.h:
	 * store_batch_end). */
	rv = store_exec(s, "RELEASE op;");
	if (rv != 0)
		return apply_failed(s, bytes_before, false, rv);
	s->applied = index;
	return commit_unless_batching(s);
}

int store_request_outcome(struct store *s, uint64_t node, uint64_t request_id, int64_t *result)
{
	struct entry e = {.node_id = node, .request_id = request_id};

	if (request_id == 0)
		return -ENOENT;
	s->fault = SQLITE_OK;
	if (request_seen(s, &e, result))
		return 0;
	return s->fault != SQLITE_OK ? store_fault_errno(s) : -ENOENT;
}

int store_apply_noop(struct store *s, uint64_t index)
{
	int rv;

	batch_check(s);
	if (index <= s->applied)
		return 1;
	s->fault = SQLITE_OK;
	rv = batch_begin(s); /* in order with the turn's other entries */
	if (rv == 0)
		rv = store_meta_set(s, "applied", index);
	if (rv != 0)
		return apply_failed(s, s->bytes, false, rv);
	s->applied = index;
	return commit_unless_batching(s);
}
