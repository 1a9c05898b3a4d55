/*
 * The replicated state machine: raft's struct raft_fsm over the store.
 *
 * Runs on the libuv loop thread (every raft callback does). apply() decodes
 * an entry and applies it to the store; the outcome travels back to the
 * proposer as raft's `result` pointer, encoding an int64 (>= 0 success,
 * CREATE: the inode; < 0 -errno), so nothing is allocated per entry and
 * nothing leaks on followers, where raft drops the result. Application
 * errors never reach raft's return code: raft would retry the entry forever.
 *
 * A store that cannot write (the disk is full, an I/O error) neither stops
 * the node nor skips the entry: the entry is *deferred*. apply() keeps a
 * copy and reports FSM_DEFERRED to raft, and every later entry waits behind
 * it in order, until fsm_retry_deferred (from the node's tick) applies them
 * once the store works again. Raft counts them as applied; the store does
 * not have them yet, so fsm_applied_index is what this node has really
 * applied, snapshots are refused meanwhile (raft keeps the log, and a
 * restart re-applies from it), and a proposer told FSM_DEFERRED learns the
 * outcome from the store once it is there (store_request_outcome). Only a
 * corrupt store stops the process: waiting cannot mend it.
 *
 * Group commit: the store commits the entries of a loop turn together
 * (fsm_commit, from the node's check handle). Until then apply() keeps a
 * copy of each, and fsm_applied_index does not count them; if the store
 * loses them, the copies are deferred first, as above.
 */
#ifndef CFS_FSM_H
#define CFS_FSM_H

#include <errno.h>
#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

#include "entry.h"
#include "store.h"

/* The result of an entry the store could not apply yet (see above). */
#define FSM_DEFERRED ((int64_t)-EINPROGRESS)

/* An entry waiting for the store (see above). */
struct fsm_deferred {
	struct fsm_deferred *next;
	uint64_t index;
	size_t len;
	unsigned char data[];
};

/* Called after every entry the store applied (not for skipped ones). */
typedef void (*fsm_applied_cb)(void *arg, uint64_t index, const struct entry *e,
			       const struct store_change *ch);

struct fsm {
	struct raft_fsm raft; /* must stay first: raft hands it back to us */
	struct store *store;
	fsm_applied_cb applied_cb;
	void *applied_arg;
	/* Called after a snapshot replaced the store's content. */
	void (*restored_cb)(void *arg);
	void *restored_arg;
	struct raft *r; /* to learn the index being applied, see fsm.c */
	/* Snapshots are markers (snapshot.h), not images: only where the io
	 * turns markers back into images for followers (snapshot_io_wrap). */
	bool markers;
	/* Entries deferred while the store cannot write, oldest first. */
	struct fsm_deferred *deferred, **deferred_tail;
	unsigned n_deferred;
	size_t deferred_bytes;
	int deferred_error; /* why the oldest one failed last (-errno) */
	/* Take no snapshot for now (the disk is low: see diskspace.c). */
	bool hold_snapshots;
	/* Copies of the entries applied in the store's open batch (store.h,
	 * store_batch_end), oldest first: if its commit fails they are
	 * deferred, in order, ahead of any other. */
	struct fsm_deferred *batch, **batch_tail;
};

void fsm_init(struct fsm *f, struct store *store, struct raft *r);

/* Commit the store's batch, the entries applied since the last call (the
 * node calls this once per loop turn, after its callbacks; snapshots do
 * before they are taken). If the commit fails, those entries are deferred
 * like any the store cannot take (fsm_retry_deferred). Loop thread. */
void fsm_commit(struct fsm *f);

/* Apply the deferred entries that the store now takes, in order, until one
 * fails again. Returns how many are still deferred. Loop thread. */
unsigned fsm_retry_deferred(struct fsm *f);

/* The index up to which this node's store holds every committed entry
 * raft has handed to the FSM: raft's last applied index, or less while
 * entries are deferred. */
uint64_t fsm_applied_index(struct fsm *f);

/* Free the deferred entries (the node is closing: a restart re-applies
 * them from the raft log). */
void fsm_close(struct fsm *f);

/* Decode the result pointer raft hands to an apply callback. */
static inline int64_t fsm_result(void *result)
{
	return (int64_t)(intptr_t)result;
}

#endif
