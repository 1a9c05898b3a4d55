/*
 * The FUSE front end: where a system call on the mount enters clusterfs.
 *
 * It runs inside the libuv loop thread (the FUSE device is polled by the
 * loop; see ../shared/notes/fuse-frontend.md for why): reads are answered at
 * once from the store; a mutation becomes one log entry, handed to the log
 * (struct fs_log), and the request is answered from the completion callback
 * once the entry is applied on this node. No handler ever blocks.
 *
 * The front end knows "the log" only through struct fs_log, so it runs the
 * same over a raft node (replication/node.c) or a test double.
 *
 * Implemented by fs/ops.c (the ops table) and its sibling files, one
 * concern each; fs/fs_internal.h, which they share, lists them.
 */
#ifndef CFS_FRONTEND_H
#define CFS_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../replication/entry.h"
#include "../replication/store.h"

/* How long the kernel may cache names and attributes (seconds). Changes
 * made through this mount update the kernel's caches themselves. */
#define FS_DEFAULT_CACHE_TIMEOUT 1.0

/* Inodes of the generated .cluster/ directory and its files (reserved range
 * of store.h, never stored). */
#define FS_CLUSTER_DIR_INO   16
#define FS_CLUSTER_FIRST_INO 17
#define FS_CLUSTER_DIR	     ".cluster"
/* Largest generated file. */
#define FS_PLUG_MAX (256u << 10)

typedef void (*fs_done_cb)(void *arg, int64_t result);

struct fs_log {
	void *impl;
	/* Propose an entry; owns b->base in all cases. 0 or -errno. */
	int (*submit)(void *impl, struct entry_buf *b, fs_done_cb cb, void *arg);
	/* Linearizable sync point. 0 or -errno. */
	int (*barrier)(void *impl, fs_done_cb cb, void *arg);
};

/* A generated, read-only file under .cluster/: render writes its content
 * into buf (cap bytes) and returns the length or -errno. */
typedef int (*fs_render_fn)(void *arg, char *buf, size_t cap);

/* Or a file of any size: *out is malloc'd. Its size reads as 0 in stat
 * (rendering it only to stat would be costly); reads still work. */
typedef int (*fs_render_alloc_fn)(void *arg, char **out, size_t *len);

struct fs_plug_file {
	const char *name;
	fs_render_fn render;
	void *arg;
	unsigned mode; /* permission bits; 0 means 0444 */
	fs_render_alloc_fn render_alloc;
};

struct fs_config {
	const char *mountpoint;
	uint64_t node_id;
	uint32_t epoch;
	double cache_timeout;
	const struct fs_plug_file *plugs;
	size_t n_plugs;
};

struct fs;

/* Everything about the mount point that can be checked before the node
 * contacts its cluster (a join must not turn a node into a member that
 * cannot mount): it exists or is created, is a directory, holds no live
 * mount of a running daemon; a dead clusterfs mount is detached. 0, or
 * -errno and what to do in @err. fs_mount does it again. */
int fs_check_mountpoint(const char *mountpoint, char *err, size_t errlen);

/* Mount and start serving from @loop. On failure, -errno and a reason. */
int fs_mount(struct fs **out, uv_loop_t *loop, struct store *store, const struct fs_log *log,
	     const struct fs_config *cfg, char *err, size_t errlen);

/* Hook for the FSM (fsm_applied_cb): housekeeping after each applied entry. */
void fs_applied(void *fs, uint64_t index, const struct entry *e, const struct store_change *ch);

/* Hook for the FSM: a snapshot replaced the store's content. */
void fs_restored(void *fs);

/* Stop reading new requests; requests in flight still get their answers. */
void fs_stop_intake(struct fs *fs);
/* No mutation in flight and no invalidation pending. */
bool fs_idle(struct fs *fs);
/* Number of mutations waiting for their entry. */
unsigned fs_in_flight(struct fs *fs);
/* FUSE requests taken from /dev/fuse since the mount, by opcode (the
 * protocol's numbers, below FS_FUSE_OPCODES); fs_fuse_op_name gives the
 * name of one, or NULL for an opcode without one. */
#define FS_FUSE_OPCODES 64
void fs_fuse_requests(struct fs *fs, uint64_t counts[FS_FUSE_OPCODES]);
const char *fs_fuse_op_name(unsigned opcode);
/* The replay backlog (see notify_backlog). */
void fs_replay_backlog(struct fs *fs, uint64_t *items, double *oldest_s);
/* Unmount and free. */
void fs_unmount(struct fs *fs);

/* If @dir holds a dead FUSE mount of clusterfs (ENOTCONN after a kill -9),
 * detach it so a new daemon can mount. Returns 0 if nothing was there or it
 * was detached, -errno otherwise. */
int fs_clear_stale_mount(const char *dir);

#endif
