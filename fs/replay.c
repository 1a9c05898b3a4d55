/*
 * Answering the replay's requests (notify.h): the notifier thread replays
 * another node's change as a real system call on this mount, and its
 * requests come back here. Loop thread only.
 *
 * The store already holds the change; these requests exist for the kernel's
 * bookkeeping and its inotify events, and are answered from the replay's
 * pre-change view or as no-ops, never with a log entry.
 */
#include "fs_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"

bool fs_replaying(struct fs *fs, fuse_req_t req)
{
	return notify_replaying(fs->notify, fuse_req_ctx(req)->pid);
}

/* Attributes of an object of the replay: from the store if it is still
 * there, else made up from what the replay recorded (a later change may
 * have removed it; the kernel only needs something consistent). */
void fs_replay_attr(struct fs *fs, uint64_t ino, uint32_t mode, uint64_t gen, struct store_attr *a)
{
	if (fs_getattr_any(fs, ino, a) == 0)
		return;
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->mode = mode;
	a->nlink = S_ISDIR(mode) ? 2 : 1;
	a->gen = gen; /* the kernel's inode for it has this generation */
}

void fs_replay_reply_entry(struct fs *fs, fuse_req_t req, uint64_t ino, uint32_t mode, uint64_t gen)
{
	struct store_attr a;
	struct fuse_entry_param e;

	fs_replay_attr(fs, ino, mode, gen, &a);
	memset(&e, 0, sizeof(e));
	e.ino = a.ino;
	e.generation = a.gen;
	fs_attr_to_stat(&a, &e.attr);
	/* Cache what a replay made known: apply runs ahead of the replays, so
	 * the store may no longer have a directory that later replays walk
	 * through; the kernel's name for it stays until the invalidation
	 * queued with its removal, which comes after them. */
	e.attr_timeout = e.entry_timeout = fs->cfg.cache_timeout;
	if (fuse_reply_entry(req, &e) == 0)
		fs_ref_lookup(fs, a.ino);
}

/* create, mkdir, symlink, mknod, link by the replay thread: the object is
 * already in the store. */
bool fs_replay_make(struct fs *fs, fuse_req_t req, struct fuse_file_info *fi)
{
	uint64_t ino, gen;
	uint32_t mode;
	struct store_attr a;
	struct fuse_entry_param e;
	struct fs_handle *h;

	if (!fs_replaying(fs, req))
		return false;
	if (!notify_replay_object(fs->notify, &ino, &mode, &gen)) {
		fuse_reply_err(req, EAGAIN);
		return true;
	}
	if (fi == NULL) {
		fs_replay_reply_entry(fs, req, ino, mode, gen);
		return true;
	}
	h = fs_handle_new(ino, fi->flags);
	if (h == NULL) {
		fuse_reply_err(req, ENOMEM);
		return true;
	}
	h->replay = true;
	fs_replay_attr(fs, ino, mode, gen, &a);
	memset(&e, 0, sizeof(e));
	e.ino = a.ino;
	e.generation = a.gen;
	fs_attr_to_stat(&a, &e.attr);
	e.attr_timeout = e.entry_timeout = fs->cfg.cache_timeout; /* see fs_replay_reply_entry */
	fi->fh = (uintptr_t)h;
	fs_file_open_flags(fi); /* rule 5: never through the page cache */
	fs_ref_open(fs, ino, 1);
	if (fuse_reply_create(req, &e, fi) != 0) {
		fs_ref_open(fs, ino, -1);
		free(h);
	} else {
		fs_ref_lookup(fs, ino);
	}
	return true;
}
