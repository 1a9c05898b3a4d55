/*
 * Proposing entries: a mutating handler builds a struct entry
 * (fs_entry_init), hands it to the log with a struct fs_op that remembers
 * how to answer (fs_submit), and fs_op_done answers the request once the
 * entry is applied on this node. Loop thread only (the log calls back in
 * it).
 */
#include "fs_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/clock.h"
#include "../replication/stages.h"
#include "notify.h"

struct fs_op *fs_op_new(struct fs *fs, fuse_req_t req, enum fs_reply reply)
{
	struct fs_op *op = calloc(1, sizeof(*op));

	if (op == NULL) {
		fuse_reply_err(req, ENOMEM);
		return NULL;
	}
	op->fs = fs;
	op->req = req;
	op->reply = reply;
	op->in_ns = fs->req_in_ns;
	return op;
}

void fs_entry_init(struct fs *fs, fuse_req_t req, struct entry *e, uint8_t op)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	memset(e, 0, sizeof(*e));
	e->op = op;
	e->node_id = fs->cfg.node_id;
	/* Unique across restarts (the epoch changes at each start), as the
	 * FSM remembers outcomes by (node, request id). */
	e->request_id = ((uint64_t)fs->cfg.epoch << 40) | ++fs->request_id;
	e->uid = ctx->uid;
	e->gid = ctx->gid;
}

/* Encode and submit; on failure answer the request, free the op and
 * return the -errno (the caller still owns op->h then). */
int fs_submit(struct fs_op *op, const struct entry *e)
{
	struct fs *fs = op->fs;
	struct entry_buf b;
	int rv;

	if (op->clear_trunc)
		fs_trunc_fused(fs, op->ino); /* handles.c: fs_trunc_held_by */
	rv = entry_encode(e, &b);
	op->submit_ns = clock_mono_ns();
	if (rv == 0)
		rv = fs->log.submit(fs->log.impl, &b, fs_op_done, op);
	if (rv != 0) {
		fuse_reply_err(op->req, -rv);
		/* as in fs_op_done: a failed replacement abandons the O_TRUNC */
		if (op->clear_trunc)
			fs_trunc_set(fs, op->ino, false);
		free(op);
		return rv;
	}
	fs->in_flight++;
	return 0;
}

void fs_op_done(void *arg, int64_t result)
{
	struct fs_op *op = arg;
	struct fs *fs = op->fs;
	struct store_attr a;
	int64_t outcome_ns = clock_mono_ns();
	int rv;

	fs->in_flight--;
	if (result < 0) {
		fuse_reply_err(op->req, (int)-result);
		if (op->reply == REPLY_CREATE)
			free(op->h); /* never handed to the kernel */
		/* The replacing write (or truncate) failed: the file keeps its
		 * content, and the O_TRUNC fused with it is abandoned too (a
		 * failed mutation changes nothing; committing it at close would
		 * empty the file — and no handle holds it any more: fs_submit
		 * counted it as committed, handles.c fs_trunc_held_by). */
		if (op->clear_trunc)
			fs_trunc_set(fs, op->ino, false);
		if (op->typed_raw && op->h != NULL)
			fs_handle_refused(op->h);
		goto out;
	}
	if (op->commits_pending && op->h != NULL)
		fs_pending_drop(fs, op->h->ino);
	if (op->clear_trunc)
		fs_trunc_set(fs, op->ino, false);
	if (op->drop_pages && fs->notify != NULL)
		notify_inode(fs->notify, op->ino);

	switch (op->reply) {
	case REPLY_ERR0:
		fuse_reply_err(op->req, 0);
		break;
	case REPLY_WRITE:
		fuse_reply_write(op->req, op->size);
		break;
	case REPLY_ATTR:
		fs_reply_attr(fs, op->req, op->ino);
		break;
	case REPLY_ENTRY:
		rv = store_getattr(fs->store, op->ino ? op->ino : (uint64_t)result, &a);
		if (rv != 0)
			fuse_reply_err(op->req, -rv);
		else
			fs_reply_entry(fs, op->req, &a);
		break;
	case REPLY_CREATE: {
		struct fuse_entry_param e;

		rv = store_getattr(fs->store, (uint64_t)result, &a);
		if (rv != 0) {
			fuse_reply_err(op->req, -rv);
			free(op->h);
			break;
		}
		op->h->ino = a.ino;
		op->h->trunc_pending =
		    fs_handle_create_holds_trunc(op->trunc_if_existed, op->ino, a.ino, a.size);
		memset(&e, 0, sizeof(e));
		e.ino = a.ino;
		e.generation = a.gen;
		fs_attr_to_stat(&a, &e.attr);
		if (op->h->trunc_pending)
			e.attr.st_size = 0; /* truncated at open (held, handles.c) */
		e.attr_timeout = e.entry_timeout = fs->cfg.cache_timeout;
		op->fi.fh = (uintptr_t)op->h;
		fs_ref_open(fs, a.ino, 1);
		if (op->h->trunc_pending)
			fs_trunc_join(fs, a.ino, op->h);
		if (fuse_reply_create(op->req, &e, &op->fi) != 0) {
			fs_trunc_set(fs, a.ino, false);
			fs_ref_open(fs, a.ino, -1);
			free(op->h);
		} else {
			fs_ref_lookup(fs, a.ino);
		}
		break;
	}
	}
	if (op->submit_ns != 0) /* an entry, not an fsync's barrier */
		stages_fuse(op->in_ns, op->submit_ns, outcome_ns, clock_mono_ns());
out:
	free(op);
}
