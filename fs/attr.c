/*
 * What the kernel is told about an inode: the attributes of any inode
 * (generated .cluster/ files, pending creates, stored objects), rendering
 * of the generated files, and the entry and attribute replies with their
 * cache timeouts. Loop thread only.
 */
#include "fs_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"

void fs_attr_to_stat(const struct store_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_size = (off_t)a->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	st->st_mtim.tv_sec = a->mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = a->mtime_ns % 1000000000;
	st->st_ctim.tv_sec = a->ctime_ns / 1000000000;
	st->st_ctim.tv_nsec = a->ctime_ns % 1000000000;
	/* atime is what utimensat(2) set, else mtime: reads do not change it
	 * ("noatime": it would be a write on every node). */
	if (a->atime_ns != 0) {
		st->st_atim.tv_sec = a->atime_ns / 1000000000;
		st->st_atim.tv_nsec = a->atime_ns % 1000000000;
	} else {
		st->st_atim = st->st_mtim;
	}
}

/* Render a generated file; *out is malloc'd. */
int fs_plug_render(const struct fs_plug_file *p, char **out, size_t *len)
{
	char *buf;
	int n;

	if (p->render_alloc != NULL)
		return p->render_alloc(p->arg, out, len);
	buf = malloc(FS_PLUG_MAX);
	if (buf == NULL)
		return -ENOMEM;
	n = p->render(p->arg, buf, FS_PLUG_MAX);
	if (n < 0) {
		free(buf);
		return n;
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}

/* Attributes of any inode: generated, pending or stored. */
int fs_getattr_any(struct fs *fs, uint64_t ino, struct store_attr *a)
{
	int rv;
	struct fs_pending *p;

	if (ino == FS_CLUSTER_DIR_INO || fs_plug_of(fs, ino) != NULL) {
		struct store_attr root;

		rv = store_getattr(fs->store, STORE_ROOT_INO, &root);
		if (rv != 0)
			return rv;
		memset(a, 0, sizeof(*a));
		a->ino = ino;
		a->mtime_ns = a->ctime_ns = root.mtime_ns;
		if (ino == FS_CLUSTER_DIR_INO) {
			a->mode = S_IFDIR | 0555;
			a->nlink = 2;
		} else {
			char *data;
			size_t len;

			a->mode = S_IFREG |
				  (fs_plug_of(fs, ino)->mode ? fs_plug_of(fs, ino)->mode : 0444);
			a->nlink = 1;
			if (fs_plug_of(fs, ino)->render_alloc == NULL &&
			    fs_plug_render(fs_plug_of(fs, ino), &data, &len) == 0) {
				a->size = len;
				free(data);
			}
		}
		return 0;
	}
	HASH_FIND(hh, fs->pending, &ino, sizeof(ino), p);
	if (p != NULL) {
		memset(a, 0, sizeof(*a));
		a->ino = ino;
		a->mode = p->mode;
		a->nlink = 1;
		a->uid = p->uid;
		a->gid = p->gid;
		a->mtime_ns = a->ctime_ns = p->ctime_ns;
		a->parent = p->parent;
		return 0;
	}
	rv = store_getattr(fs->store, ino, a);
	/* A truncation held by an open(O_TRUNC) here: as if it were done. */
	if (rv == 0 && fs_trunc_held(fs, ino))
		a->size = 0;
	return rv;
}

void fs_reply_entry(struct fs *fs, fuse_req_t req, const struct store_attr *a)
{
	struct fuse_entry_param e;
	bool volatile_attr = fs_is_plug_ino(a->ino);

	memset(&e, 0, sizeof(e));
	e.ino = a->ino;
	e.generation = a->gen;
	fs_attr_to_stat(a, &e.attr);
	/* A lookup must not tell the kernel a size that a truncation held here
	 * has dropped (the kernel caches what it is told). */
	if (fs_trunc_held(fs, a->ino))
		e.attr.st_size = 0;
	/* Generated and pending objects change without the kernel knowing. */
	if (!volatile_attr && !fs_is_pending(fs, a->ino)) {
		e.attr_timeout = fs->cfg.cache_timeout;
		e.entry_timeout = fs->cfg.cache_timeout;
	}
	if (fuse_reply_entry(req, &e) == 0)
		fs_ref_lookup(fs, a->ino);
}

void fs_reply_attr(struct fs *fs, fuse_req_t req, uint64_t ino)
{
	struct store_attr a;
	struct stat st;
	int rv = fs_getattr_any(fs, ino, &a);

	/* The replay walks paths as they were before its change; a directory
	 * on them may already be gone from the store (apply runs ahead), but
	 * the kernel checks permissions on it and must not be told ENOENT:
	 * the replay would fail and its event be lost. */
	if (rv == -ENOENT && fs->notify != NULL && fs_replaying(fs, req)) {
		uint64_t gen = 0;
		uint32_t mode;

		if (notify_replay_knows(fs->notify, ino, &mode, &gen)) {
			fs_replay_attr(fs, ino, mode, gen, &a);
			fs_attr_to_stat(&a, &st);
			fuse_reply_attr(req, &st, 0);
			return;
		}
	}
	if (rv != 0) {
		fuse_reply_err(req, -rv);
		return;
	}
	fs_attr_to_stat(&a, &st);
	fuse_reply_attr(req, &st,
			fs_is_plug_ino(ino) || fs_is_pending(fs, ino) ? 0 : fs->cfg.cache_timeout);
}
