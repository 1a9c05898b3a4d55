/*
 * fsync and fsyncdir: a barrier through the leader, answered once applied
 * here; a .cluster/ file also waits for this node's kernel to catch up
 * (clusterfsctl sync). Loop thread only.
 */
#include "fs_internal.h"

#include <errno.h>
#include <stdlib.h>

#include "notify.h"

/* A barrier through the leader, answered by @done once applied here. */
static void fs_sync(fuse_req_t req, fs_done_cb done)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_op *op = fs_op_new(fs, req, REPLY_ERR0);
	int rv;

	if (op == NULL)
		return;
	rv = fs->log.barrier(fs->log.impl, done, op);
	if (rv != 0) {
		fuse_reply_err(req, -rv);
		free(op);
		return;
	}
	fs->in_flight++;
}

/* fsync of a .cluster/ file, after its barrier: answer once this node's
 * kernel has also seen every change applied so far (invalidations and
 * replays queued before now have run), so that nothing a reader then looks
 * at is older than the sync point (`clusterfsctl sync`). */
static void sync_kernel_done(void *arg, int64_t result)
{
	struct fs_op *op = arg;
	struct fs *fs = op->fs;

	fs->in_flight--;
	if (result < 0 || fs->notify == NULL || notify_passed(fs->notify, notify_mark(fs->notify)))
		fuse_reply_err(op->req, result < 0 ? (int)-result : 0);
	else if (fs_after_replays(fs, 0, op->req) != 0)
		fuse_reply_err(op->req, ENOMEM);
	free(op);
}

void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	(void)fi;
	fs_sync(req, fs_is_plug_ino(ino) ? sync_kernel_done : fs_op_done);
}

void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fs_sync(req, fs_op_done); /* never waits for replays: see sync_kernel_done */
}
