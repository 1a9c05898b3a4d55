/*
 * Raft snapshots that do not stop the node.
 *
 * The store is persistent and records its applied index in every
 * transaction, so a snapshot that raft keeps on disk does not need to hold
 * the tree: it is a small marker {magic, format, store's applied index}.
 * Taking one costs a marker on the loop and an fdatasync of the store's
 * WAL in a libuv worker, never a copy of the store: snapshot_io_wrap()
 * wraps raft_uv's io->snapshot_put so that raft_uv gets our own snapshot
 * (trailing > 0) only once the WAL is synced, so the store is durable at
 * least up to the marker's index before raft writes the marker and
 * compacts its log (the sync took 1-9 ms on the loop before). A sync that
 * fails, or a checkpoint that failed to write (store_write_error), stops
 * the node (store_stop_lost_writes): raft must not drop entries the store
 * may lack.
 *
 * A whole image is needed only when the leader sends a snapshot to a
 * follower. snapshot_io_wrap() wraps raft_uv's io->snapshot_get: when raft
 * loads a marker, a libuv worker makes a fresh, consistent image from its
 * own read-only sqlite connection (WAL readers do not block the writer) and
 * hands that to raft instead. An image newer than the marker is safe: the
 * store it is installed into skips every entry at or below its applied
 * index (store_apply, store_apply_noop), and raft only re-sends entries
 * after the marker's index.
 *
 * A follower installing a snapshot gets the leader's image through raft_uv's
 * io->snapshot_put (raft calls fsm->restore only once the put is done, with
 * the same buffer). snapshot_io_wrap() wraps it too: a libuv worker writes
 * the image to a new file beside the store (<store>.install), syncs it and
 * runs sqlite's quick_check on it; back on the loop the store's file is
 * replaced by it (store_replace: checkpoint, close, rename, reopen — a few
 * milliseconds), and only then is raft's put made, with a marker of the
 * image's applied index in place of the image. fsm->restore of that marker
 * is the usual check (the store is at it). Crash safety, in the order of
 * the steps: before the rename the data dir holds the old store and raft's
 * old snapshot and log (a leftover .install is removed at start,
 * snapshot_install_cleanup); after the rename and before raft's marker is
 * written it holds the new store with raft's old state, which is the case
 * of a store ahead of raft's log (every entry at or below the store's
 * applied index is skipped, and the old marker is at or below the old
 * store's index, itself below the new one); after the marker is written,
 * the new store and a marker at its index. If the follower's store is
 * already at or past the image, the file is dropped and only the marker
 * put. If the install file cannot be made (disk full, a bad image) or the
 * store not closed (an image for a follower is being made from it), the
 * image goes to raft as before and fsm->restore copies it on the loop.
 *
 * Restore (fsm->restore) accepts a marker (the store must already be at or
 * past it) and, as before, a whole image (old data dirs, fallbacks).
 *
 * Threads: snapshot_marker_* and the wrapper's callbacks run on the libuv
 * loop thread; snapshot_image(), the install's file and the WAL sync run in
 * libuv workers and touch only their own sqlite connection or file.
 */
#ifndef CFS_SNAPSHOT_H
#define CFS_SNAPSHOT_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store.h"

/* "CFSMARK" + NUL, then u32 format, u32 reserved, u64 applied index; all
 * little-endian. Never a prefix of an sqlite file ("SQLite format 3"). */
#define SNAPSHOT_MARKER_MAGIC "CFSMARK"
#define SNAPSHOT_MARKER_FORMAT 1
#define SNAPSHOT_MARKER_SIZE 24

/* Is @buf a snapshot marker? Sets *applied to the index it records. */
bool snapshot_is_marker(const void *buf, size_t len, uint64_t *applied);

/* A marker for the store's applied index (raft_malloc'd). It is not
 * durable yet: the snapshot_put wrapper syncs the WAL before raft_uv writes
 * it. 0 or -errno. Loop thread. */
int snapshot_marker_take(struct store *s, void **buf, size_t *len);

/* Restore from a marker: the store already holds the state, as long as it
 * is at or past the marker. 0, or -EUCLEAN if the store is behind it (the
 * store lost transactions the raft log no longer has). */
int snapshot_marker_restore(struct store *s, const void *buf, size_t len);

/* A consistent image of the store file at @path (raft_malloc'd, in the
 * rollback-journal form that store_restore loads), made through a
 * connection of its own. *applied gets the image's applied index. Any
 * thread. 0 or -errno. */
int snapshot_image(const char *path, void **buf, size_t *len, uint64_t *applied);

/* The suffix of the file a follower writes an installed image to. */
#define SNAPSHOT_INSTALL_SUFFIX ".install"

/* What the wrapper saw, for .cluster/metrics: snapshots this node took
 * (marker written and synced by raft_uv, the log compacted), installed
 * from the leader (image written, checked and swapped in), and images made
 * for a follower; the last duration of each, in seconds (a take's includes
 * its WAL sync); and the WAL syncs of our own snapshots that completed
 * (tests: the put reached raft_uv only after one). */
struct snapshot_stats {
	uint64_t taken, installed, sent, wal_syncs;
	double take_s, install_s, send_s;
};

/* The wrapper around an io's snapshot_get and snapshot_put. */
struct snapshot_io {
	struct raft_io *io;
	uv_loop_t *loop; /* NULL: images are made at once, on the caller's thread */
	struct store *store;
	char path[4096]; /* the store's file */
	int (*get)(struct raft_io *io, struct raft_io_snapshot_get *req,
		   raft_io_snapshot_get_cb cb); /* the wrapped io's own */
	int (*put)(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
		   const struct raft_snapshot *snapshot,
		   raft_io_snapshot_put_cb cb); /* the wrapped io's own */
	unsigned pending; /* images being made in workers */
	bool installing;  /* an image being written to a new store file */
	bool syncing;	  /* the WAL being synced for one of our own snapshots */
	bool closing;
	struct snapshot_stats stats;
};

/* Remove what an install interrupted by a crash left beside the store at
 * @store_path (never needed: the rename is the commit point). Call before
 * opening the store. */
void snapshot_install_cleanup(const char *store_path);

/* Wrap @io's snapshot_get so that markers are replaced by images of @s, and
 * its snapshot_put so that a follower installs an image by a file swap. */
int snapshot_io_wrap(struct snapshot_io *w, struct raft_io *io, uv_loop_t *loop,
		     struct store *s);

/* From now on raft's gets and puts are refused, and what is in flight in
 * a worker (an image for a follower, an install, our own snapshot's WAL
 * sync) ends as a failure (RAFT_CANCELED) when it is done; syncing and
 * installing say whether any is left. Call before raft_close: raft waits
 * only for raft_uv's own requests. */
void snapshot_io_close(struct snapshot_io *w);

/* The WAL sync of our own snapshots: fdatasync of the WAL opened as @fd
 * (-1: there is none), 0 or -errno. Runs in a libuv worker. Unit tests
 * replace it to see where it runs and to make it fail. */
extern int (*snapshot_wal_sync)(int fd);

#endif
