/*
 * What the files of the FUSE front end share (all of fs/ but notify.c and
 * the ns files): struct fs, the records it keeps (kernel references,
 * pending creates, open handles), the in-flight operation struct fs_op, and
 * the helpers one file offers the others. Private to the front end: the
 * rest of clusterfs uses frontend.h.
 *
 * Everything here is touched by the libuv loop thread only (the FUSE
 * handlers run in it); the notifier thread is reached through notify.h.
 *
 * Inode numbers are chosen here, by the proposing node, so that a name can
 * be answered before it is committed (pending creates, handles.c) and so
 * that every node uses the same number for the same object (watches are per
 * inode): node id (16 bits) | start epoch (16 bits) | counter (32 bits).
 */
#ifndef CFS_FS_INTERNAL_H
#define CFS_FS_INTERNAL_H

#define FUSE_USE_VERSION 312
#include "frontend.h"

#include <fuse_lowlevel.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <uthash.h>

#include "../replication/entry.h"
#include "../replication/store.h"
#include "handles.h"

#define FS_FSNAME "clusterfs"
/* The most one FUSE WRITE may carry: the file size limit's default (1 MiB),
 * which is also the most libfuse 3.14 accepts (256 pages). */
#define FS_MAX_WRITE (1u << 20)

/* What the kernel holds of an inode: lookups not yet forgotten, open
 * handles. */
struct fs_ref {
	uint64_t ino;
	uint64_t lookups;
	unsigned opens;
	bool orphan; /* unlinked while referenced: drop it when released */
	/* An open(O_TRUNC) on this node truncated the file, and the truncation
	 * is not committed yet (handles.c): this node's kernel sees it empty. */
	bool trunc_held;
	/* Bumped when an entry that commits the held truncation is proposed
	 * (a replacing write or truncate, or a close): a handle opened with
	 * O_TRUNC before that no longer holds a truncation of its own, and its
	 * close must not commit one that a later open holds (handles.c). */
	uint32_t trunc_gen;
	UT_hash_handle hh;
};

struct fs {
	uv_loop_t *loop;
	struct store *store;
	struct fs_log log;
	struct fs_config cfg;
	char mountpoint[PATH_MAX];
	struct fuse_session *se;
	uv_poll_t poll;
	bool polling;
	int64_t req_in_ns;			 /* when the request being handled left /dev/fuse */
	uint64_t fuse_requests[FS_FUSE_OPCODES]; /* by opcode (mount.c) */
	struct fuse_buf buf;
	uint64_t ino_base;
	uint32_t ino_counter;
	uint64_t request_id;
	unsigned in_flight;
	struct fs_ref *refs;
	struct fs_pending *pending;
	struct notify *notify;
	struct guardian *guardian; /* NULL if it could not be started */
	/* Work that waits until the replays queued before it have run:
	 * orphans to drop, and syncs through a .cluster/ file to answer
	 * (req != NULL; see fs_fsync). */
	struct fs_drop {
		uint64_t ino, mark;
		fuse_req_t req;
	} *drops;
	size_t n_drops, cap_drops;
	uv_timer_t drop_timer;
	int open_handles; /* closed one by one at unmount */
	/* The INIT request's id, and whether the kernel offered shared mmap
	 * of direct-I/O files (init_ext.c). */
	uint64_t init_unique;
	bool init_mmap_offered;
};

/* How to answer a request once its entry is applied. */
enum fs_reply {
	REPLY_ERR0,   /* success is fuse_reply_err(req, 0) */
	REPLY_ENTRY,  /* fuse_reply_entry for the created/linked inode */
	REPLY_CREATE, /* fuse_reply_create */
	REPLY_ATTR,   /* fuse_reply_attr */
	REPLY_WRITE,  /* fuse_reply_write */
};

struct fs_op {
	struct fs *fs;
	fuse_req_t req;
	enum fs_reply reply;
	uint64_t ino; /* LINK/SETATTR/WRITE: the inode; CREATE: the proposed one */
	struct fs_handle *h;
	struct fuse_file_info fi;
	size_t size;		  /* WRITE: bytes to report */
	bool clear_trunc;	  /* success commits the inode's held O_TRUNC */
	bool commits_pending;	  /* success commits a pending create */
	bool trunc_if_existed;	  /* CREATE(O_TRUNC) that found an existing file */
	bool typed_raw;		  /* a failure drops the handle's raw bytes */
	bool drop_pages;	  /* success drops the inode's pages on this node */
	int64_t in_ns, submit_ns; /* CLOCK_MONOTONIC: stages.h's fuse_in */
};

/* How every regular file is opened (open, create, replay): direct I/O, so
 * that one write(2) is one request (handles.c), and no FLUSH at close(2)
 * (FOPEN_NOFLUSH): nothing is committed at FLUSH (handles.c), and bash's
 * `echo x > f` closes twice — two round trips of the caller saved. */
static inline void fs_file_open_flags(struct fuse_file_info *fi)
{
	fi->direct_io = 1;
	fi->noflush = 1;
}

/* The ops table (ops.c) that mount.c hands to the FUSE session. */
extern const struct fuse_lowlevel_ops fs_ops;

static inline struct fs_handle *fs_fh(const struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

/* .cluster/ and its files: the generated range of reserved inodes. */
static inline bool fs_is_plug_ino(uint64_t ino)
{
	return ino >= FS_CLUSTER_DIR_INO && ino < STORE_FIRST_DYNAMIC_INO;
}

static inline const struct fs_plug_file *fs_plug_of(struct fs *fs, uint64_t ino)
{
	if (ino < FS_CLUSTER_FIRST_INO || ino >= FS_CLUSTER_FIRST_INO + fs->cfg.n_plugs)
		return NULL;
	return &fs->cfg.plugs[ino - FS_CLUSTER_FIRST_INO];
}

/* A new inode number (see the top of this file). */
static inline uint64_t fs_new_ino(struct fs *fs)
{
	return fs->ino_base | ++fs->ino_counter;
}

/* ops.c */
int fs_check_new_name(struct fs *fs, uint64_t parent, const char *name, uint32_t mode);

/* propose.c */
struct fs_op *fs_op_new(struct fs *fs, fuse_req_t req, enum fs_reply reply);
/* init_ext.c: the INIT flags libfuse 3.14 cannot ask for. _install routes
 * the session's device I/O through us (0 or -errno); _request notes what
 * the kernel's INIT request (@len bytes at @req) offers. */
int fs_init_ext_install(struct fs *fs);
void fs_init_ext_request(struct fs *fs, const void *req, size_t len);

void fs_entry_init(struct fs *fs, fuse_req_t req, struct entry *e, uint8_t op);
int fs_submit(struct fs_op *op, const struct entry *e);
void fs_op_done(void *arg, int64_t result);

/* attr.c */
void fs_attr_to_stat(const struct store_attr *a, struct stat *st);
int fs_plug_render(const struct fs_plug_file *p, char **out, size_t *len);
int fs_getattr_any(struct fs *fs, uint64_t ino, struct store_attr *a);
void fs_reply_entry(struct fs *fs, fuse_req_t req, const struct store_attr *a);
void fs_reply_attr(struct fs *fs, fuse_req_t req, uint64_t ino);

/* handles.c */
struct fs_pending *fs_pending_by_name(struct fs *fs, uint64_t parent, const char *name);
void fs_pending_drop(struct fs *fs, uint64_t ino);
bool fs_is_pending(struct fs *fs, uint64_t ino);
struct fs_handle *fs_handle_new(uint64_t ino, int flags);
void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi);
void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	      struct fuse_file_info *fi);
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
bool fs_trunc_held(struct fs *fs, uint64_t ino);
bool fs_trunc_held_by(struct fs *fs, uint64_t ino, const struct fs_handle *h);
void fs_trunc_set(struct fs *fs, uint64_t ino, bool held);
void fs_trunc_join(struct fs *fs, uint64_t ino, struct fs_handle *h);
void fs_trunc_fused(struct fs *fs, uint64_t ino);
void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* replay.c */
bool fs_replaying(struct fs *fs, fuse_req_t req);
void fs_replay_attr(struct fs *fs, uint64_t ino, uint32_t mode, uint64_t gen, struct store_attr *a);
void fs_replay_reply_entry(struct fs *fs, fuse_req_t req, uint64_t ino, uint32_t mode,
			   uint64_t gen);
bool fs_replay_make(struct fs *fs, fuse_req_t req, struct fuse_file_info *fi);

/* orphans.c */
struct fs_ref *fs_ref_get(struct fs *fs, uint64_t ino, bool create);
int fs_after_replays(struct fs *fs, uint64_t ino, fuse_req_t req);
void fs_drop_later(struct fs *fs, uint64_t ino);
void fs_ref_lookup(struct fs *fs, uint64_t ino);
void fs_ref_forget(struct fs *fs, uint64_t ino, uint64_t n);
void fs_ref_open(struct fs *fs, uint64_t ino, int delta);

/* sync.c */
void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

/* dir.c */
void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* xattr.c */
void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		 int flags);
void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* leases_multi.c */
void fs_lease_acquire_many(struct fs *fs, fuse_req_t req, const char *value, size_t size);
#endif
