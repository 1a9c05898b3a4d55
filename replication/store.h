/*
 * The store: one node's copy of the tree, in a sqlite3 database.
 *
 * Owned by the libuv loop thread: the FSM applies entries to it and the FUSE
 * front end reads from it, both on that thread, so it takes no locks.
 *
 * Schema (see docs/architecture.md):
 *   meta(key, value)             applied index, limits, byte count
 *   inodes(ino, mode, uid, gid, nlink, size, mtime, ctime, revision,
 *          writer_node, writer_uid, gen, parent, data)
 *   dentries(parent, name, ino)  names; a regular file may have several
 *   xattrs(ino, name, value)     user xattrs
 *
 * Each applied entry is one transaction that also records the applied raft
 * index, so an entry that raft re-applies at start-up is recognised and
 * skipped (raft replays everything after the last snapshot on every start).
 *
 * Idempotency: an entry carries (node id, request id); the outcome of each
 * is remembered in requests(node, rid, result, stamp) for
 * STORE_REQUEST_MEMORY_NS of leader time, so a request retried after a lost
 * reply or a leader change is answered with its first outcome and never
 * applied twice.
 *
 * Inode numbers are chosen by the proposing node (see fs/fs_internal.h) and
 * never change; the namespace directories have fixed numbers so that every
 * node creates the same initial tree without a log entry.
 */
#ifndef CFS_STORE_H
#define CFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "entry.h"

#define STORE_ROOT_INO 1
#define STORE_GATES_INO 2
#define STORE_PEERS_INO 3
#define STORE_LEASES_INO 4
#define STORE_ROUTING_INO 5
#define STORE_CONFIG_INO 6
/* Inodes below this are reserved for fixed and generated objects. */
#define STORE_FIRST_DYNAMIC_INO 4096

/* Default limits (DESIGN §9); stored in meta at creation, the same on every
 * node because the FSM enforces them. */
#define STORE_DEFAULT_MAX_FILE (1u << 20)
#define STORE_DEFAULT_MAX_BYTES (256ull << 20)
#define STORE_MAX_XATTR_VALUE 65536
/* Paths (DESIGN §9) as PATH_MAX counts them, with their NUL: a path below
 * the mount root ("a/b") is at most STORE_MAX_PATH_LEN bytes. */
#define STORE_MAX_PATH 4096
#define STORE_MAX_PATH_LEN (STORE_MAX_PATH - 1)
/* What metadata costs against the store limit (DESIGN §9 "metadata
 * counted"): each inode STORE_INODE_COST bytes besides its content and
 * xattr values, each name STORE_NAME_COST bytes besides its own length.
 * Roughly what sqlite spends on the rows, so that empty files and
 * directories fill the store as they fill the disk. */
#define STORE_INODE_COST 128
#define STORE_NAME_COST 64
/* How long the outcome of a request is remembered for retries. */
#define STORE_REQUEST_MEMORY_NS (600ll * 1000000000)
/* Old outcomes are pruned when the applied index is a multiple of this. */
#define STORE_PRUNE_EVERY 256

struct store;

struct store_attr {
	uint64_t ino;
	uint32_t mode;
	uint32_t nlink;
	uint32_t uid, gid;
	uint64_t size;
	int64_t mtime_ns, ctime_ns;
	int64_t atime_ns; /* set only by utimensat (reads do not change it) */
	uint64_t revision;
	uint64_t writer_node;
	uint32_t writer_uid;
	uint64_t gen;
	uint64_t parent; /* directories: the containing directory */
};

/* Typed namespaces (see fs/ns.c) plug in here, so that the FSM, not the node
 * that proposed a change, has the last word on names and values. A typed
 * directory holds only regular files; links and renames across the boundary
 * of a typed directory fail with EXDEV (mv then falls back to copy, which
 * validates). All callbacks get the directory's inode. */
struct store_check {
	uint64_t dir;
	const char *name;
	size_t name_len;
	const void *old; /* the file's current content (exists: false, a new file) */
	size_t old_len;
	bool exists;
	int64_t stamp_ns; /* the leader's clock in the entry: decide from this */
	char *scratch;	  /* for a normalized value */
	size_t scratch_len;
	bool remove; /* out: the write removes the file (a lease released) */
};

struct store_validator {
	/* Is @dir a typed directory? */
	bool (*is_typed)(uint64_t dir);
	/* Is @name (of type @mode) acceptable in @dir? 0 or -EINVAL. */
	int (*check_name)(uint64_t dir, const char *name, size_t len, uint32_t mode);
	/* Validate the whole new content of a file: 0, possibly with the data
	 * and length replaced by a normalized value written to c->scratch or
	 * pointing to static memory, or with c->remove set; or -errno (EINVAL,
	 * EBUSY…), and nothing changes. */
	int (*check_content)(struct store_check *c, const void **data, size_t *len);
	/* The permission bits a new file in @dir gets (NULL: as requested). */
	uint32_t (*create_mode)(uint64_t dir, uint32_t requested);
	/* When content in @dir expires (leader's clock): 0 and *at_ns, or
	 * -ENOENT if it does not. NULL: nothing expires. */
	int (*expires)(uint64_t dir, const void *data, size_t len, int64_t *at_ns);
	/* Are names in @dir held by someone (leases), so that rename and link
	 * there are refused with EPERM? NULL: no. */
	bool (*names_held)(uint64_t dir);
};

/* What an applied entry changed, for the front end's hooks. */
struct store_change {
	int64_t result; /* >= 0 success (CREATE: the inode), < 0 -errno */
	bool noop;	/* success, but nothing changed (identical write) */
	bool duplicate; /* a retry of an entry already applied: nothing done */
	uint64_t ino;	/* the inode the entry changed (UNLINK/RENAME: source) */
	uint64_t gen;	/* its generation (FUSE), kept here as it may be gone */
	uint64_t replaced; /* RENAME: the inode that was at the destination */
	uint64_t replaced_gen;
	uint64_t orphaned[2]; /* inodes that reached nlink 0 (unlink/rename) */
	/* WRITE (a lease released), EXPIRE: the name @name in @parent, of
	 * @ino, went. */
	bool removed;
	uint64_t parent;
	char name[ENTRY_MAX_NAME + 1];
	bool expiry;  /* something that may expire changed (see store_expiries) */
};

/* Open (creating if missing) the store at @path, checking every page of it
 * (sqlite's quick_check). Returns 0 or -errno; on failure *errmsg says why
 * in words: -EUCLEAN for a damaged file, -EPROTO for another format. */
int store_open(const char *path, const struct store_validator *v, struct store **out,
	       char *errmsg, size_t errlen);
void store_close(struct store *s);

/* Group commit: store_apply leaves its transaction open, so that the
 * entries applied in one loop turn share one sqlite commit; the owner of
 * the store ends it once per turn (fsm_commit). 0, or the failure: then
 * the transaction was rolled back, the store is as before its first entry
 * (store_applied_index says so) and store_batch_lost reports it once.
 * Every function of the store that needs its own transaction or a
 * committed file ends the batch first. */
int store_batch_end(struct store *s);
/* Whether a batch was lost since the last call (then cleared). */
bool store_batch_lost(struct store *s);
/* Whether entries are applied and not committed yet. */
bool store_batch_open(struct store *s);
/* Batches are off by default (each entry commits in store_apply); the
 * node turns them on, and then ends them once per loop turn. */
void store_set_batching(struct store *s, bool on);
uint64_t store_applied_index(struct store *s);

/* Apply the entry at raft @index. Returns 0 when the entry was applied or
 * refused (see change->result), 1 when it was already applied (skipped), or
 * a negative errno for a failure of the store itself, after which nothing
 * of the entry is in the store and the same call may be made again:
 * -ENOSPC (the disk is full), -ENOMEM, -EIO, or -EUCLEAN (the file is
 * corrupt). A failure is never turned into a refusal: every sqlite error
 * met on the way counts as one. */
int store_apply(struct store *s, uint64_t index, const struct entry *e,
		struct store_change *change);

/* The outcome remembered for request (@node, @request_id) (see
 * "Idempotency" above): 0 and *result, -ENOENT if none is (any more), or
 * another -errno if the store cannot be read. */
int store_request_outcome(struct store *s, uint64_t node, uint64_t request_id, int64_t *result);

/* Record @index as applied without changing the tree (barriers, config). */
int store_apply_noop(struct store *s, uint64_t index);

/* Reads. All return 0 or a negative errno. */
int store_getattr(struct store *s, uint64_t ino, struct store_attr *a);
int store_lookup(struct store *s, uint64_t parent, const char *name, struct store_attr *a);
/* Read up to @size bytes at @off into @buf; *n gets the count. */
int store_read(struct store *s, uint64_t ino, uint64_t off, size_t size, void *buf, size_t *n);
/* Whole content (regular files, symlink targets): *data is malloc'd. */
int store_read_all(struct store *s, uint64_t ino, void **data, size_t *len);

typedef int (*store_dirent_cb)(void *arg, const char *name, size_t len, uint64_t ino,
			       uint32_t mode);
/* Call @cb for every entry of @dir in name order; stops early if cb != 0. */
int store_readdir(struct store *s, uint64_t dir, store_dirent_cb cb, void *arg);

int store_getxattr(struct store *s, uint64_t ino, const char *name, void **value,
		   size_t *len);
/* All xattr names, each NUL-terminated, concatenated; *names is malloc'd. */
int store_listxattr(struct store *s, uint64_t ino, char **names, size_t *len);

struct store_stats {
	uint64_t bytes, max_bytes, max_file, inodes;
};
int store_stats(struct store *s, struct store_stats *st);
/* The bytes counted against the store limit (no query: kept up to date). */
uint64_t store_used_bytes(struct store *s);
/* The same count, computed afresh from the rows (see store_limits.c):
 * what store_used_bytes must always equal. */
int store_recount_bytes(struct store *s, uint64_t *bytes);

/* Would a name of @name_len bytes in directory @dir have a path over the
 * limit (STORE_MAX_PATH_LEN)? 0, -ENAMETOOLONG, or another -errno. */
int store_check_new_path(struct store *s, uint64_t dir, size_t name_len);

/* Delete an unlinked inode that nobody on this node holds open any more.
 * Local housekeeping, not a log entry: orphans are invisible in the tree. */
int store_drop_orphan(struct store *s, uint64_t ino);
/* Drop all orphans (at start-up, when no descriptor can be open). */
int store_drop_all_orphans(struct store *s);

/* Every file in @dir whose content expires (validator->expires): @cb gets
 * its name and expiry time; stops early if @cb returns non-zero. */
typedef int (*store_expiry_cb)(void *arg, const char *name, size_t len, int64_t at_ns);
int store_expiries(struct store *s, uint64_t dir, store_expiry_cb cb, void *arg);

/* The highest node id ever allocated (the bootstrap node's is 1). */
uint64_t store_node_max(struct store *s);

/* Turn a store copied from a backup into the seed of a new cluster: no
 * applied index, no remembered requests, and node ids (part of every inode
 * number) above any the old cluster used. Returns the id the new cluster's
 * first node must take, or -errno. */
int64_t store_reseed(struct store *s);

/* The path of @ino below the root, through any of its names ("" for the
 * root, "a/b" otherwise). 0, -ENOENT (no name: an orphan) or -ENAMETOOLONG. */
int store_path(struct store *s, uint64_t ino, char *buf, size_t len);

/* The last STORE_LOG_KEEP changes (DESIGN §4 .cluster/log), oldest first. */
#define STORE_LOG_KEEP 1000
struct store_log_row {
	uint64_t revision;
	int64_t stamp_ns;
	uint64_t node;
	uint32_t uid;
	const char *op;
	const char *path; /* "a/b", or "a/b -> c/d" for a rename */
};
typedef int (*store_log_cb)(void *arg, const struct store_log_row *row);
int store_log(struct store *s, store_log_cb cb, void *arg);

/* The directories on the path to @ino (@ino itself first, the root
 * excluded): each one's name in its parent, with its inode and generation.
 * Returns how many were written (at most @max), or -errno. */
struct store_link {
	uint64_t parent, ino, gen;
	char name[ENTRY_MAX_NAME + 1];
};
int store_ancestors(struct store *s, uint64_t ino, struct store_link *out, int max);

/* Snapshots: the whole database as one buffer (raft_malloc'd), and back. */
int store_snapshot(struct store *s, void **buf, size_t *len);
/* Replace the store's content with a snapshot unless the store is already
 * at or past the snapshot's applied index. */
int store_restore(struct store *s, const void *buf, size_t len);

/* Is the file at @path a whole clusterfs store of this format? Runs sqlite's
 * quick_check through a read-only connection of its own, so any thread may
 * call it. Sets *applied to the file's applied index. 0, -EUCLEAN (damaged),
 * -EPROTO (not a store of this format) or -errno. */
int store_file_check(const char *path, uint64_t *applied);

/* Make the file at @with (a checked, synced store file in the same
 * directory) the store: its WAL emptied into the old file, the connection
 * closed, @with renamed over the store's file, the directory synced, the
 * file reopened; prepared statements and cached meta follow. Loop thread.
 * 0; -EBUSY if the old file cannot be closed cleanly (a reader holds the
 * WAL), or another -errno with the store still open: nothing changed and
 * @with is still there. If it returns with the store closed
 * (store_is_open false: a reopen failed) the caller must stop; the
 * directory then holds a whole store, the old or the new one. */
int store_replace(struct store *s, const char *with, char *errmsg, size_t errlen);
bool store_is_open(struct store *s);

/* The store's sqlite connection, for the modules that extend the store
 * (snapshot.c, store_vacuum.c). Loop thread only. */
struct sqlite3 *store_sqlite(struct store *s);

/* The first error (an sqlite extended code: SQLITE_IOERR_WRITE, _FSYNC or
 * _TRUNCATE) that a checkpoint met writing or syncing the store's files
 * since this process opened it, or 0. The kernel may have dropped the
 * pages it could not write, so the store may lack transactions that only
 * raft's log still holds: the node's tick stops the process when it sees
 * one (store_stop_lost_writes), and so does a snapshot, before raft could
 * drop them. Loop thread. */
int store_write_error(struct store *s);

/* Stop the process (abort(); systemd's Restart=on-failure starts it again)
 * because the store's files may have lost writes, after one line saying
 * @why and one saying what it means and what to do. */
void store_stop_lost_writes(const char *why) __attribute__((noreturn));

#endif
