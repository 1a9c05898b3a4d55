/*
 * Changes the kernel did not see — entries applied here that another node
 * proposed, snapshots installed — made known to it: its caches invalidated,
 * and the change replayed as a real system call on this node's mount, so
 * that inotify watchers see the events a local writer would have caused
 * (DESIGN §5, ../shared/notes/remote-inotify.md).
 *
 * Replay: the notifier thread performs the equivalent system call (create,
 * mkdir, unlink, rename, a write of the new size, a chmod for attributes…)
 * through the mount. The FUSE handlers recognise requests from this thread
 * (notify_replaying) and answer them from the pre-change view the replay
 * carries (notify_replay_lookup) or as no-ops: the store already holds the
 * change; only the kernel's bookkeeping, and its events, are wanted.
 *
 * fuse_lowlevel_notify_inval_* block inside the kernel until it has dropped
 * the cached pages and names, which may need a FUSE request answered by the
 * loop thread (a read holding a page lock, a lookup holding a directory
 * lock). So the loop thread never calls them: it queues work for the one
 * notifier thread, which never holds a lock of ours while it calls into
 * the kernel (../shared/notes/remote-inotify.md, rule 6).
 *
 * The queue is the only state shared between the threads; its mutex guards
 * it. notify_* may be called from the loop thread only.
 */
#ifndef CFS_NOTIFY_H
#define CFS_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

struct fuse_session;
struct notify;

enum replay_op {
	REPLAY_CREATE,	/* open(O_CREAT|O_EXCL) [+ write of size bytes] */
	REPLAY_MKDIR,	/* mkdir */
	REPLAY_SYMLINK, /* symlink(target, path) */
	REPLAY_LINK,	/* link(path, path2) */
	REPLAY_UNLINK,	/* unlink */
	REPLAY_RMDIR,	/* rmdir */
	REPLAY_RENAME,	/* renameat2(path, path2, flags) */
	REPLAY_MODIFY,	/* open(O_WRONLY) + write of size bytes, or ftruncate(0) */
	REPLAY_ATTRIB,	/* lchown to the current owner: IN_ATTRIB (symlinks too) */
};

#define REPLAY_NAME_MAX 255
#define REPLAY_PATH_MAX 4096
/* Directories of a replay's paths remembered for its lookups. */
#define REPLAY_CHAIN_MAX 24

/* One change to replay, with the pre-change view of the names it touches:
 * (parent, name) held ino before the change (0: absent), and (newparent,
 * newname) held replaced (0: absent). */
struct replay {
	enum replay_op op;
	char path[REPLAY_PATH_MAX], path2[REPLAY_PATH_MAX];
	char target[REPLAY_PATH_MAX];
	uint32_t mode;
	uint32_t uid, gid; /* ATTRIB: the current owner */
	uint64_t size;
	unsigned flags;
	uint64_t parent, newparent;
	char name[REPLAY_NAME_MAX + 1], newname[REPLAY_NAME_MAX + 1];
	uint64_t ino, replaced;
	uint32_t ino_mode, replaced_mode;
	uint64_t ino_gen, replaced_gen; /* FUSE generations, for gone objects */
	/* The directories the paths go through, as they were when the entry
	 * was applied: later entries, applied before this replay runs, may
	 * have removed them from the store, but not yet from the kernel. */
	struct {
		uint64_t parent, ino, gen;
		char name[REPLAY_NAME_MAX + 1];
	} chain[REPLAY_CHAIN_MAX];
	int chain_n;
	bool keep_open; /* CREATE/MODIFY: the next replay writes the same file */
};

int notify_start(struct notify **out, struct fuse_session *se);
/* Drop cached attributes and pages of @ino. */
void notify_inode(struct notify *nt, uint64_t ino);
/* Drop the cached name @name in @parent. */
void notify_entry(struct notify *nt, uint64_t parent, const char *name, size_t len);
/* Queue a replay (after the invalidations queued before it). */
void notify_replay(struct notify *nt, const struct replay *r);

/* Is @pid (fuse_req_ctx()->pid: the calling thread) the replay thread? */
bool notify_replaying(struct notify *nt, pid_t pid);

/* For a lookup by the replay thread: 1 with *ino, *mode if the name existed
 * before the change being replayed, 0 if it did not, -1 if the replay has
 * no opinion (the store answers). */
int notify_replay_lookup(struct notify *nt, uint64_t parent, const char *name, uint64_t *ino,
			 uint32_t *mode, uint64_t *gen);
/* Does the replay under way know @ino (an object it changes, or a
 * directory on its paths), as it was before its change? For the attributes
 * of objects that later entries, applied ahead of the replay, already
 * removed from the store: the kernel still needs them to walk the path. */
bool notify_replay_knows(struct notify *nt, uint64_t ino, uint32_t *mode, uint64_t *gen);

/* The object the replay creates (create, mkdir, symlink, link). */
bool notify_replay_object(struct notify *nt, uint64_t *ino, uint32_t *mode, uint64_t *gen);

/* Everything queued so far, as a mark; notify_passed() tells when all of
 * it has been done (or dropped at stop). */
uint64_t notify_mark(struct notify *nt);
bool notify_passed(struct notify *nt, uint64_t mark);

/* How many invalidations and replays are waiting or under way, and how
 * long the oldest waiting one has waited (.cluster/metrics). */
void notify_backlog(struct notify *nt, uint64_t *items, double *oldest_s);

/* Nothing queued and nothing being sent to the kernel. */
bool notify_idle(struct notify *nt);
/* Stop: drop what is still queued; join the thread if it is idle, else
 * leave it behind and return true: it may be blocked in the kernel until
 * the connection is aborted (guardian_abort; the process is about to
 * exit). */
bool notify_stop(struct notify *nt);

#endif
