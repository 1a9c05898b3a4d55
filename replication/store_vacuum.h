/*
 * Giving freed space back: the store's file follows its content.
 *
 * sqlite keeps the pages of deleted rows on a free list and never shrinks
 * the file by itself. The store uses auto_vacuum = INCREMENTAL: free pages
 * are given back to the file system by `PRAGMA incremental_vacuum`, a few at
 * a time (store_vacuum_step, from the node's tick, bounded in time so the
 * loop is never held for long). A store created before this (auto_vacuum =
 * NONE) is converted once, by a VACUUM at start-up, before raft starts.
 * The WAL is kept from growing without bound by journal_size_limit.
 *
 * This is local housekeeping, not replicated state: the tree and the
 * applied index are untouched, only the file's page layout changes.
 * Loop thread (the store's owner) only.
 */
#ifndef CFS_STORE_VACUUM_H
#define CFS_STORE_VACUUM_H

#include "store.h"

/* Free pages tolerated before a step gives any back (4 MiB of 4 KiB pages). */
#define STORE_VACUUM_SLACK_PAGES 1024
/* Pages given back per incremental_vacuum statement, and the time a step
 * may take at most (then it continues at the next tick). */
#define STORE_VACUUM_CHUNK_PAGES 128
#define STORE_VACUUM_STEP_MS 10
/* The WAL file is truncated to this after a checkpoint. */
#define STORE_VACUUM_WAL_LIMIT (16ll << 20)

/* Set the store up for incremental vacuum, converting it once if needed
 * (a full VACUUM: seconds for a store of hundreds of MiB). 0 or -errno. */
int store_vacuum_setup(struct store *s);

/* Give free pages back, for at most STORE_VACUUM_STEP_MS. Returns 1 if
 * more than the slack is still free, 0 if not, or -errno. */
int store_vacuum_step(struct store *s);
/* The same with a slack of @slack pages: 0 when the disk is low, so that
 * every page a deletion freed goes back to the file system at once. */
int store_vacuum_step_slack(struct store *s, long long slack);

#endif
