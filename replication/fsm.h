/*
 * The replicated state machine: raft's struct raft_fsm over the store.
 *
 * Runs on the libuv loop thread (every raft callback does). apply() decodes
 * an entry and applies it to the store; the outcome travels back to the
 * proposer as raft's `result` pointer, encoding an int64 (>= 0 success,
 * CREATE: the inode; < 0 -errno), so nothing is allocated per entry and
 * nothing leaks on followers, where raft drops the result. Application
 * errors never reach raft's return code: raft would retry the entry forever.
 */
#ifndef CFS_FSM_H
#define CFS_FSM_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

#include "entry.h"
#include "store.h"

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
};

void fsm_init(struct fsm *f, struct store *store, struct raft *r);

/* Decode the result pointer raft hands to an apply callback. */
static inline int64_t fsm_result(void *result)
{
	return (int64_t)(intptr_t)result;
}

#endif
