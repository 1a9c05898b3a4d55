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

#include "../common/log.h"
#include "../common/loop_watch.h"
#include "snapshot.h"

static uint64_t fsm_next_index(struct fsm *f)
{
	return f->r->last_applied + 1;
}

static void *fsm_encode_result(int64_t v)
{
	return (void *)(intptr_t)v;
}

static int fsm_apply(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
	struct fsm *f = (struct fsm *)rf;
	struct store_change ch;
	struct entry e;
	uint64_t index = fsm_next_index(f);
	int rv;

	rv = entry_decode(buf->base, buf->len, &e);
	if (rv != 0) {
		/* Decoded the same way on every node: a refusal, not a fault. */
		log_warn("entry %llu is malformed (%zu bytes); skipped", (unsigned long long)index,
			 buf->len);
		store_apply_noop(f->store, index);
		*result = fsm_encode_result(-EINVAL);
		return 0;
	}
	{
		const char *prev = loop_watch_enter("fsm: applying entries");

		rv = store_apply(f->store, index, &e, &ch);
		loop_watch_leave(prev);
	}
	if (rv == 1) {
		*result = fsm_encode_result(0); /* already applied before a restart */
		return 0;
	}
	if (rv < 0) {
		/* The store itself failed (disk full, I/O error). Continuing would
		 * let this node diverge; stop, and let a restart re-apply from the
		 * durable raft log. */
		log_error("cannot apply entry %llu to the store: %s; stopping so that a "
			  "restart re-applies it",
			  (unsigned long long)index, strerror(-rv));
		_exit(EXIT_FAILURE);
	}
	log_debug("applied %llu %s -> %lld%s", (unsigned long long)index, entry_op_name(e.op),
		  (long long)ch.result, ch.noop ? " (no-op)" : "");
	if (f->applied_cb != NULL)
		f->applied_cb(f->applied_arg, index, &e, &ch);
	*result = fsm_encode_result(ch.result);
	return 0;
}

static int fsm_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct fsm *f = (struct fsm *)rf;
	struct raft_buffer *b;
	int rv;

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

static int fsm_snapshot_finalize(struct raft_fsm *rf, struct raft_buffer *bufs[],
				 unsigned *n_bufs)
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
	const char *prev = loop_watch_enter("raft snapshot: fsm->restore");
	int rv = snapshot_is_marker(buf->base, buf->len, NULL)
			 ? snapshot_marker_restore(f->store, buf->base, buf->len)
			 : store_restore(f->store, buf->base, buf->len);

	loop_watch_leave(prev);

	if (rv != 0) {
		log_error("cannot restore snapshot (%zu bytes): %s", buf->len, strerror(-rv));
		return RAFT_CORRUPT;
	}
	/* On success raft expects us to own and free the buffer. */
	raft_free(buf->base);
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
}
