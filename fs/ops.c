/*
 * The FUSE front end (low-level API); see frontend.h. This file holds the
 * ops table and the handlers of names and attributes (lookup, forget,
 * getattr, setattr, readlink, mknod, mkdir, symlink, link, unlink, rmdir,
 * rename, statfs); the other handlers have files of their own, listed in
 * fs_internal.h. Loop thread only.
 *
 * Shape: one ops table, one reply per request, inode numbers as the handle
 * to store objects (as in libfuse's passthrough_ll). Mutating handlers build
 * a struct entry, encode it and submit it to the log with a struct fs_op
 * that remembers how to answer; fs_op_done() answers once the entry is
 * applied here (propose.c).
 */
#include "fs_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "notify.h"
#include "ns.h"

/* --- lookups and attributes -------------------------------------------------- */

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct store_attr a;
	int rv;

	if (strlen(name) > FS_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if (parent == STORE_ROOT_INO && strcmp(name, FS_CLUSTER_DIR) == 0) {
		rv = fs_getattr_any(fs, FS_CLUSTER_DIR_INO, &a);
		goto reply;
	}
	if (parent == FS_CLUSTER_DIR_INO) {
		rv = -ENOENT;
		for (size_t i = 0; i < fs->cfg.n_plugs; i++) {
			if (strcmp(fs->cfg.plugs[i].name, name) == 0) {
				rv = fs_getattr_any(fs, FS_CLUSTER_FIRST_INO + i, &a);
				break;
			}
		}
		goto reply;
	}
	if (fs_replaying(fs, req)) {
		uint64_t ino, gen = 0;
		uint32_t mode;
		int r = notify_replay_lookup(fs->notify, parent, name, &ino, &mode, &gen);

		if (r == 0) {
			fuse_reply_err(req, ENOENT); /* not there before the change */
			return;
		}

		if (r == 1) {
			fs_replay_reply_entry(fs, req, ino, mode, gen);
			return;
		}
	}
	/* A pending create is not found by name: it does not exist for anyone
	 * but the descriptor that created it until it is committed. */
	rv = store_lookup(fs->store, parent, name, &a);
reply:
	/* No negative entries: a name another node creates must appear. */
	if (rv != 0)
		fuse_reply_err(req, -rv);
	else
		fs_reply_entry(fs, req, &a);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_ref_forget(fuse_req_userdata(req), ino, nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs *fs = fuse_req_userdata(req);

	for (size_t i = 0; i < count; i++)
		fs_ref_forget(fs, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);

	(void)fi;
	fs_reply_attr(fs, req, ino);
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_handle *h = fi != NULL ? fs_fh(fi) : NULL;
	struct fs_op *op;
	struct entry e;

	if (fs_is_plug_ino(ino)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if ((h != NULL && h->replay) || fs_replaying(fs, req)) {
		fs_reply_attr(fs, req, ino);
		return;
	}
	if (fs_is_pending(fs, ino)) {
		/* Nothing to change yet; the first write commits the file. */
		fs_reply_attr(fs, req, ino);
		return;
	}
	fs_entry_init(fs, req, &e, ENTRY_SETATTR);
	e.ino = ino;
	if (to_set & FUSE_SET_ATTR_MODE) {
		e.valid |= ENTRY_SET_MODE;
		e.mode = attr->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		e.valid |= ENTRY_SET_UID;
		e.set_uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		e.valid |= ENTRY_SET_GID;
		e.set_gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		e.valid |= ENTRY_SET_SIZE;
		e.size = (uint64_t)attr->st_size;
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		e.valid |= ENTRY_SET_ATIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_ATIME) {
		e.valid |= ENTRY_SET_ATIME;
		e.atime_ns = (int64_t)attr->st_atim.tv_sec * 1000000000 + attr->st_atim.tv_nsec;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		e.valid |= ENTRY_SET_MTIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		e.valid |= ENTRY_SET_MTIME;
		e.mtime_ns = (int64_t)attr->st_mtim.tv_sec * 1000000000 + attr->st_mtim.tv_nsec;
	}
	if (e.valid == 0) {
		/* ctime only: it follows every change, nothing to commit */
		fs_reply_attr(fs, req, ino);
		return;
	}
	op = fs_op_new(fs, req, REPLY_ATTR);
	if (op == NULL)
		return;
	op->ino = ino;
	op->h = h;
	/* After a held O_TRUNC the size applies to the truncated, empty
	 * content (NULs up to it), in the same entry. */
	if ((e.valid & ENTRY_SET_SIZE) && fs_trunc_held(fs, ino)) {
		e.flags |= ENTRY_F_REPLACE;
		op->clear_trunc = true;
	}
	fs_submit(op, &e);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct store_attr a;
	void *data;
	size_t len;
	int rv = store_getattr(fs->store, ino, &a);

	if (rv == 0 && !S_ISLNK(a.mode))
		rv = -EINVAL;
	if (rv == 0)
		rv = store_read_all(fs->store, ino, &data, &len);
	if (rv != 0) {
		fuse_reply_err(req, -rv);
		return;
	}
	fuse_reply_readlink(req, data);
	free(data);
}

/* --- namespace changes --------------------------------------------------------- */

/* Refuse early what the FSM would refuse anyway, without a log entry. */
int fs_check_new_name(struct fs *fs, uint64_t parent, const char *name, uint32_t mode)
{
	if (parent == FS_CLUSTER_DIR_INO || fs_is_plug_ino(parent))
		return -EROFS;
	if (strlen(name) > FS_NAME_MAX)
		return -ENAMETOOLONG;
	if (parent == STORE_ROOT_INO && strcmp(name, FS_CLUSTER_DIR) == 0)
		return -EROFS;
	/* The path limit (the FSM has the last word; other errors are its). */
	if (store_check_new_path(fs->store, parent, strlen(name)) == -ENAMETOOLONG)
		return -ENAMETOOLONG;
	return ns_check_name(parent, name, strlen(name), mode);
}

static void fs_make(fuse_req_t req, fuse_ino_t parent, const char *name, uint32_t mode,
		    const char *target)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_op *op;
	struct entry e;
	int rv;

	if (fs_replay_make(fs, req, NULL))
		return;
	rv = fs_check_new_name(fs, parent, name, mode);
	if (rv != 0) {
		fuse_reply_err(req, -rv);
		return;
	}
	op = fs_op_new(fs, req, REPLY_ENTRY);
	if (op == NULL)
		return;
	fs_entry_init(fs, req, &e, ENTRY_CREATE);
	e.flags = ENTRY_F_EXCL;
	e.parent = parent;
	e.ino = fs_new_ino(fs);
	e.mode = mode;
	e.name = name;
	e.name_len = (uint32_t)strlen(name);
	if (target != NULL) {
		e.data = target;
		e.data_len = (uint32_t)strlen(target);
	}
	fs_submit(op, &e);
}

static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)rdev;
	/* Device nodes, FIFOs and sockets are refused (DESIGN §3). */
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fs_make(req, parent, name, mode, NULL);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fs_make(req, parent, name, S_IFDIR | (mode & 07777), NULL);
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	if (strlen(link) >= STORE_MAX_PATH) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	fs_make(req, parent, name, S_IFLNK | 0777, link);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_op *op;
	struct entry e;
	int rv;

	if (fs_replaying(fs, req)) {
		uint64_t obj, gen = 0;
		uint32_t mode = S_IFREG | 0644;

		if (!notify_replay_object(fs->notify, &obj, &mode, &gen) || obj != ino)
			gen = 0;
		fs_replay_reply_entry(fs, req, ino, mode, gen);
		return;
	}
	rv = fs_check_new_name(fs, newparent, newname, S_IFREG);
	if (rv == 0 && (fs_is_plug_ino(ino) || fs_is_pending(fs, ino)))
		rv = fs_is_plug_ino(ino) ? -EROFS : -EAGAIN;
	if (rv != 0) {
		fuse_reply_err(req, -rv);
		return;
	}
	op = fs_op_new(fs, req, REPLY_ENTRY);
	if (op == NULL)
		return;
	op->ino = ino;
	fs_entry_init(fs, req, &e, ENTRY_LINK);
	e.ino = ino;
	e.newparent = newparent;
	e.newname = newname;
	e.newname_len = (uint32_t)strlen(newname);
	fs_submit(op, &e);
}

static void fs_remove(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_pending *p;
	struct fs_op *op;
	struct entry e;

	if (parent == FS_CLUSTER_DIR_INO ||
	    (parent == STORE_ROOT_INO && strcmp(name, FS_CLUSTER_DIR) == 0)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (fs_replaying(fs, req)) {
		fuse_reply_err(req, 0);
		return;
	}
	p = fs_pending_by_name(fs, parent, name);
	if (p != NULL) {
		/* Never committed: forgetting it is the whole unlink. */
		fs_pending_drop(fs, p->ino);
		fuse_reply_err(req, 0);
		return;
	}
	op = fs_op_new(fs, req, REPLY_ERR0);
	if (op == NULL)
		return;
	fs_entry_init(fs, req, &e, ENTRY_UNLINK);
	e.flags = dir ? ENTRY_F_DIR : 0;
	e.parent = parent;
	e.name = name;
	e.name_len = (uint32_t)strlen(name);
	fs_submit(op, &e);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fs_remove(req, parent, name, false);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fs_remove(req, parent, name, true);
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_op *op;
	struct entry e;
	int rv;

	if (fs_replaying(fs, req)) {
		fuse_reply_err(req, 0);
		return;
	}
	rv = fs_check_new_name(fs, newparent, newname, S_IFREG);
	if (rv == -EINVAL && !ns_is_typed(parent))
		rv = -EXDEV; /* into a typed dir from outside: let mv copy */
	if (rv == 0 && (parent == FS_CLUSTER_DIR_INO ||
			(parent == STORE_ROOT_INO && strcmp(name, FS_CLUSTER_DIR) == 0)))
		rv = -EROFS;
	if (rv == 0 && fs_pending_by_name(fs, parent, name) != NULL)
		rv = -EAGAIN;
	if (rv != 0) {
		fuse_reply_err(req, -rv);
		return;
	}
	op = fs_op_new(fs, req, REPLY_ERR0);
	if (op == NULL)
		return;
	fs_entry_init(fs, req, &e, ENTRY_RENAME);
	e.parent = parent;
	e.name = name;
	e.name_len = (uint32_t)strlen(name);
	e.newparent = newparent;
	e.newname = newname;
	e.newname_len = (uint32_t)strlen(newname);
	e.xflags = flags;
	fs_submit(op, &e);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct store_stats st;
	struct statvfs sv;
	const uint64_t bsize = 4096;

	(void)ino;
	if (store_stats(fs->store, &st) != 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = bsize;
	sv.f_blocks = st.max_bytes / bsize;
	sv.f_bfree = sv.f_bavail = st.bytes < st.max_bytes ? (st.max_bytes - st.bytes) / bsize : 0;
	sv.f_files = st.inodes + sv.f_bfree;
	sv.f_ffree = sv.f_favail = sv.f_bfree;
	sv.f_namemax = FS_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Rules from the remote-inotify prototype: no writeback cache (stale
	 * sizes padded with NULs), and splice brought nothing for small ops. */
	conn->want &= ~(unsigned)(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ |
				  FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS;
	/* One write(2) is one entry (DESIGN §3): writes use direct I/O
	 * (handles.c), and the kernel may then send up to max_write bytes of
	 * one write in one request. libfuse caps this at 1 MiB (256 pages);
	 * see docs/architecture.md for the one case that still splits. */
	conn->max_write = FS_MAX_WRITE;
}

const struct fuse_lowlevel_ops fs_ops = {
    .init = fs_init,
    .lookup = fs_lookup,
    .forget = fs_forget,
    .forget_multi = fs_forget_multi,
    .getattr = fs_getattr,
    .setattr = fs_setattr,
    .readlink = fs_readlink,
    .mknod = fs_mknod,
    .mkdir = fs_mkdir,
    .unlink = fs_unlink,
    .rmdir = fs_rmdir,
    .symlink = fs_symlink,
    .rename = fs_rename,
    .link = fs_link,
    .open = fs_open,
    .read = fs_read,
    .write = fs_write,
    .flush = fs_flush,
    .release = fs_release,
    .fsync = fs_fsync,
    .opendir = fs_opendir,
    .readdir = fs_readdir,
    .releasedir = fs_releasedir,
    .fsyncdir = fs_fsyncdir,
    .statfs = fs_statfs,
    .setxattr = fs_setxattr,
    .getxattr = fs_getxattr,
    .listxattr = fs_listxattr,
    .removexattr = fs_removexattr,
    .create = fs_create,
};
