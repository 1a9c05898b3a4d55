/*
 * FSM glue between raft and the store; see fsm.h.
 *
 * raft 0.15 does not pass the entry's index to apply(). We need it (it is
 * the file's revision, and the store's idempotence key), so we derive it:
 * raft applies entries strictly in order and, while apply() runs,
 * raft->last_applied is the index before the one being applied (true of
 * every raft release; configuration and barrier entries advance it too).
 */
#include "fsm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/log.h"
#include "../common/loop_watch.h"
#include "snapshot.h"
#include "stages.h"

static uint64_t fsm_next_index(struct fsm *f)
{
	return f->r->last_applied + 1;
}

static void *fsm_encode_result(int64_t v)
{
	return (void *)(intptr_t)v;
}

/* Apply one entry to the store. 0 with *result (a refusal is a result),
 * or the store's -errno: nothing of the entry was applied. */
static int fsm_apply_one(struct fsm *f, uint64_t index, const void *data, size_t len,
			 int64_t *result)
{
	struct store_change ch;
	struct entry e;
	int rv;

	rv = entry_decode(data, len, &e);
	if (rv != 0) {
		/* Decoded the same way on every node: a refusal, not a fault. */
		log_warn("entry %llu is malformed (%zu bytes); skipped", (unsigned long long)index,
			 len);
		rv = store_apply_noop(f->store, index);
		if (rv < 0)
			return rv;
		*result = -EINVAL;
		return 0;
	}
	{
		const char *prev = loop_watch_enter("fsm: applying entries");

		rv = store_apply(f->store, index, &e, &ch);
		loop_watch_leave(prev);
	}
	if (rv == 1) {
		*result = 0; /* already applied before a restart */
		return 0;
	}
	if (rv == -EUCLEAN) {
		/* Waiting cannot mend a corrupt file. */
		log_error_at(0, index,
			     "cannot apply entry %llu: the store (store.db in the data directory) "
			     "is corrupt; stop this node and re-seed it from the cluster (see "
			     "docs/operations.md, \"A damaged data directory\")",
			     (unsigned long long)index);
		_exit(EXIT_FAILURE);
	}
	if (rv < 0)
		return rv;
	log_debug_at(0, index, "applied %llu %s -> %lld%s", (unsigned long long)index,
		     entry_op_name(e.op), (long long)ch.result, ch.noop ? " (no-op)" : "");
	if (f->applied_cb != NULL)
		f->applied_cb(f->applied_arg, index, &e, &ch);
	*result = ch.result;
	return 0;
}

/* A copy of the entry at @index; without memory, the only way not to lose
 * it is the raft log, which a restart re-applies. */
static struct fsm_deferred *fsm_copy(uint64_t index, const struct raft_buffer *buf)
{
	struct fsm_deferred *d = malloc(sizeof(*d) + buf->len);

	if (d == NULL) {
		log_error("out of memory keeping entry %llu for the store; stopping so that a "
			  "restart re-applies it",
			  (unsigned long long)index);
		_exit(EXIT_FAILURE);
	}
	d->next = NULL;
	d->index = index;
	d->len = buf->len;
	memcpy(d->data, buf->base, buf->len);
	return d;
}

static void fsm_free_list(struct fsm_deferred *d)
{
	while (d != NULL) {
		struct fsm_deferred *next = d->next;

		free(d);
		d = next;
	}
}

/* The store lost its batch (a failed commit rolled it back, here or in
 * another function of the store that ended it): the copies of its entries
 * go first in the deferred list, in order, so that nothing after them is
 * applied before them. */
static void fsm_log_cannot_apply(uint64_t index, int why)
{
	log_error_at(0, index,
		     "cannot apply entry %llu to the store: %s; this node applies it, and "
		     "every entry after it, as soon as the store can write again (free "
		     "space on the disk holding the data directory)",
		     (unsigned long long)index,
		     why == -ENOSPC ? "the disk holding it is full" : strerror(-why));
}

static void fsm_batch_lost(struct fsm *f, int why)
{
	struct fsm_deferred *d;

	if (f->batch != NULL) {
		for (d = f->batch; d != NULL; d = d->next) {
			f->n_deferred++;
			f->deferred_bytes += d->len;
		}
		/* Applied, not committed: the store holds none of them now. */
		fsm_log_cannot_apply(f->batch->index, why);
		*f->batch_tail = f->deferred;
		if (f->deferred == NULL)
			f->deferred_tail = f->batch_tail;
		f->deferred = f->batch;
		f->deferred_error = why;
	}
	f->batch = NULL;
	f->batch_tail = &f->batch;
}

void fsm_commit(struct fsm *f)
{
	int rv = store_batch_end(f->store);

	if (store_batch_lost(f->store)) {
		fsm_batch_lost(f, rv != 0 ? rv : -EIO);
	} else {
		fsm_free_list(f->batch);
		f->batch = NULL;
		f->batch_tail = &f->batch;
	}
}

/* Keep a copy of the entry at @index for fsm_retry_deferred. */
static void fsm_defer(struct fsm *f, uint64_t index, const struct raft_buffer *buf)
{
	struct fsm_deferred *d = fsm_copy(index, buf);

	*f->deferred_tail = d;
	f->deferred_tail = &d->next;
	f->n_deferred++;
	f->deferred_bytes += buf->len;
}

static int fsm_apply(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
	struct fsm *f = (struct fsm *)rf;
	uint64_t index = fsm_next_index(f);
	int64_t res = 0;
	int rv;

	if (store_batch_lost(f->store))
		fsm_batch_lost(f, f->deferred_error != 0 ? f->deferred_error : -EIO);
	if (f->deferred != NULL) {
		/* In order: behind the entries already waiting. */
		fsm_defer(f, index, buf);
		*result = fsm_encode_result(FSM_DEFERRED);
		return 0;
	}
	{
		int64_t t0 = clock_mono_ns();

		rv = fsm_apply_one(f, index, buf->base, buf->len, &res);
		if (rv >= 0)
			stages_applied(index, t0, clock_mono_ns());
	}
	if (rv >= 0 && store_batch_open(f->store)) {
		struct fsm_deferred *d = fsm_copy(index, buf);

		*f->batch_tail = d; /* until the batch is committed */
		f->batch_tail = &d->next;
	} else if (rv >= 0) {
		; /* committed already (no batching) */
	} else if (store_batch_lost(f->store) && f->batch != NULL) {
		fsm_batch_lost(f, rv); /* the entries before it went too: said */
	} else if (rv < 0) {
		fsm_log_cannot_apply(index, rv);
	}
	if (rv < 0) {
		/* The store cannot write (the disk is full, an I/O error).
		 * Continuing without the entry would let this node diverge, and
		 * stopping would take the node down until someone frees space:
		 * keep it, and apply it when the store can. */
		f->deferred_error = rv;
		fsm_defer(f, index, buf);
		*result = fsm_encode_result(FSM_DEFERRED);
		return 0;
	}
	*result = fsm_encode_result(res);
	return 0;
}

unsigned fsm_retry_deferred(struct fsm *f)
{
	unsigned done = 0;
	uint64_t last = 0;

	fsm_commit(f); /* nothing of an open batch may pass the deferred ones */
	while (f->deferred != NULL) {
		struct fsm_deferred *d = f->deferred;
		int64_t res;
		int rv = fsm_apply_one(f, d->index, d->data, d->len, &res);

		/* One at a time, committed: a failure keeps it first in line
		 * (the store is back to before it, and nothing else was in the
		 * batch: the flag is this entry's). */
		if (rv >= 0) {
			rv = store_batch_end(f->store);
			store_batch_lost(f->store);
		}
		if (rv < 0) {
			if (rv != f->deferred_error)
				log_warn("entry %llu still cannot be applied to the store: %s",
					 (unsigned long long)d->index, strerror(-rv));
			f->deferred_error = rv;
			break;
		}
		last = d->index;
		f->deferred = d->next;
		if (f->deferred == NULL)
			f->deferred_tail = &f->deferred;
		f->n_deferred--;
		f->deferred_bytes -= d->len;
		free(d);
		done++;
	}
	if (done > 0 && f->deferred == NULL) {
		f->deferred_error = 0;
		log_info(
		    "the store can write again: applied %u waiting entr%s (through index %llu)",
		    done, done == 1 ? "y" : "ies", (unsigned long long)last);
	}
	return f->n_deferred;
}

uint64_t fsm_applied_index(struct fsm *f)
{
	if (f->deferred != NULL)
		return f->deferred->index - 1;
	/* Applied but not committed yet counts once committed: a request is
	 * answered after the commit (the node's check handle), so that a
	 * failed one leaves nobody told of a change this node does not hold. */
	if (f->batch != NULL)
		return f->batch->index - 1;
	return f->r != NULL ? f->r->last_applied : store_applied_index(f->store);
}

void fsm_close(struct fsm *f)
{
	fsm_free_list(f->batch);
	f->batch = NULL;
	f->batch_tail = &f->batch;
	while (f->deferred != NULL) {
		struct fsm_deferred *d = f->deferred;

		f->deferred = d->next;
		free(d);
	}
	f->deferred_tail = &f->deferred;
	f->n_deferred = 0;
	f->deferred_bytes = 0;
}

static int fsm_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct fsm *f = (struct fsm *)rf;
	struct raft_buffer *b;
	int rv;

	/* Raft's snapshot would cover entries the store does not hold yet,
	 * and let raft drop them from its log: not while any wait. */
	fsm_commit(f);
	if (f->deferred != NULL || f->hold_snapshots)
		return RAFT_BUSY;
	b = raft_malloc(sizeof(*b));
	if (b == NULL)
		return RAFT_NOMEM;
	{
		const char *prev = loop_watch_enter("raft snapshot: fsm->snapshot");

		rv = f->markers ? snapshot_marker_take(f->store, &b->base, &b->len)
				: store_snapshot(f->store, &b->base, &b->len);
		loop_watch_leave(prev);
	}
	if (rv != 0) {
		raft_free(b);
		return RAFT_NOMEM;
	}
	*bufs = b;
	*n_bufs = 1;
	return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	(void)rf;
	for (unsigned i = 0; i < *n_bufs; i++)
		raft_free((*bufs)[i].base);
	raft_free(*bufs);
	*bufs = NULL;
	*n_bufs = 0;
	return 0;
}

static int fsm_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
	struct fsm *f = (struct fsm *)rf;
	const char *prev;
	int rv;

	fsm_commit(f); /* what is applied is committed, or deferred */
	prev = loop_watch_enter("raft snapshot: fsm->restore");
	rv = snapshot_is_marker(buf->base, buf->len, NULL)
		 ? snapshot_marker_restore(f->store, buf->base, buf->len)
		 : store_restore(f->store, buf->base, buf->len);

	loop_watch_leave(prev);

	if (rv != 0) {
		log_error("cannot restore snapshot (%zu bytes): %s", buf->len, strerror(-rv));
		return RAFT_CORRUPT;
	}
	/* On success raft expects us to own and free the buffer. */
	raft_free(buf->base);
	/* What the store now holds needs no deferred copy. */
	while (f->deferred != NULL && f->deferred->index <= store_applied_index(f->store)) {
		struct fsm_deferred *d = f->deferred;

		f->deferred = d->next;
		f->n_deferred--;
		f->deferred_bytes -= d->len;
		free(d);
	}
	if (f->deferred == NULL)
		f->deferred_tail = &f->deferred;
	if (f->restored_cb != NULL)
		f->restored_cb(f->restored_arg);
	return 0;
}

void fsm_init(struct fsm *f, struct store *store, struct raft *r)
{
	f->r = r;
	f->raft.version = 2;
	f->raft.data = NULL;
	f->raft.apply = fsm_apply;
	f->raft.snapshot = fsm_snapshot;
	f->raft.restore = fsm_restore;
	f->raft.snapshot_finalize = fsm_snapshot_finalize;
	f->raft.snapshot_async = NULL;
	f->store = store;
	f->applied_cb = NULL;
	f->applied_arg = NULL;
	f->restored_cb = NULL;
	f->restored_arg = NULL;
	f->markers = false;
	f->deferred = NULL;
	f->deferred_tail = &f->deferred;
	f->batch = NULL;
	f->batch_tail = &f->batch;
	f->n_deferred = 0;
	f->deferred_bytes = 0;
	f->deferred_error = 0;
	f->hold_snapshots = false;
}
