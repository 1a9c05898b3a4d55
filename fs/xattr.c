/*
 * Extended attributes: user.* xattrs are stored and replicated like any
 * change; user.clusterfs.revision and user.clusterfs.writer are generated
 * (DESIGN §3); user.clusterfs.acquire on leases/ takes several leases at
 * once (leases_multi.c). Loop thread only.
 */
#include "fs_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#define FS_XATTR_REVISION "user.clusterfs.revision"
#define FS_XATTR_WRITER	  "user.clusterfs.writer"
/* Set on leases/ to take several leases at once, all or nothing (see
 * fs_lease_acquire_many); never stored. */
#define FS_XATTR_ACQUIRE "user.clusterfs.acquire"

void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		 int flags)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_op *op;
	struct entry e;

	if (fs_is_plug_ino(ino)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (fs_is_pending(fs, ino)) {
		fuse_reply_err(req, EAGAIN);
		return;
	}
	if (strncmp(name, "user.", 5) != 0) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	if (strlen(name) > XATTR_NAME_MAX) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	if (strcmp(name, FS_XATTR_ACQUIRE) == 0) {
		if (ino == STORE_LEASES_INO)
			fs_lease_acquire_many(fs, req, value, size);
		else
			fuse_reply_err(req, EINVAL);
		return;
	}
	op = fs_op_new(fs, req, REPLY_ERR0);
	if (op == NULL)
		return;
	fs_entry_init(fs, req, &e, ENTRY_SETXATTR);
	e.ino = ino;
	e.name = name;
	e.name_len = (uint32_t)strlen(name);
	e.data = value;
	e.data_len = (uint32_t)size;
	e.xflags = (uint32_t)flags;
	fs_submit(op, &e);
}

/* The generated xattrs (DESIGN §3); *len gets the length. */
static int generated_xattr(struct fs *fs, uint64_t ino, const char *name, char *out, size_t cap,
			   size_t *len)
{
	struct store_attr a;
	int rv, n;

	if (strcmp(name, FS_XATTR_REVISION) != 0 && strcmp(name, FS_XATTR_WRITER) != 0)
		return -ENOENT;
	rv = store_getattr(fs->store, ino, &a);
	if (rv != 0)
		return rv == -ENOENT ? -ENODATA : rv;
	if (strcmp(name, FS_XATTR_REVISION) == 0)
		n = snprintf(out, cap, "%llu", (unsigned long long)a.revision);
	else
		n = snprintf(out, cap, "node=%llu uid=%u", (unsigned long long)a.writer_node,
			     a.writer_uid);
	*len = (size_t)n;
	return 0;
}

static void reply_xattr_value(fuse_req_t req, const void *value, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	char gen[128];
	size_t len;
	void *value;
	int rv;

	if (strncmp(name, "user.", 5) != 0 || fs_is_plug_ino(ino) || fs_is_pending(fs, ino)) {
		/* security.capability is asked on every write: answer at once */
		fuse_reply_err(req, ENODATA);
		return;
	}
	rv = generated_xattr(fs, ino, name, gen, sizeof(gen), &len);
	if (rv == 0) {
		reply_xattr_value(req, gen, len, size);
		return;
	}
	if (rv != -ENOENT) {
		fuse_reply_err(req, -rv);
		return;
	}
	rv = store_getxattr(fs->store, ino, name, &value, &len);
	if (rv != 0) {
		fuse_reply_err(req, -rv);
		return;
	}
	reply_xattr_value(req, value, len, size);
	free(value);
}

/* The generated xattrs are readable by name but not listed (as CephFS does
 * with its virtual xattrs): cp -a, mv across filesystems and rsync -X copy
 * what is listed, and would fail to set them. */
void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	char *names = NULL;
	size_t len = 0;
	int rv;

	if (fs_is_plug_ino(ino) || fs_is_pending(fs, ino)) {
		reply_xattr_value(req, "", 0, size);
		return;
	}
	rv = store_listxattr(fs->store, ino, &names, &len);
	if (rv != 0) {
		fuse_reply_err(req, -rv);
		return;
	}
	reply_xattr_value(req, names != NULL ? names : "", len, size);
	free(names);
}

void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_op *op;
	struct entry e;

	if (fs_is_plug_ino(ino)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (strncmp(name, "user.", 5) != 0 || fs_is_pending(fs, ino)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	op = fs_op_new(fs, req, REPLY_ERR0);
	if (op == NULL)
		return;
	fs_entry_init(fs, req, &e, ENTRY_REMOVEXATTR);
	e.ino = ino;
	e.name = name;
	e.name_len = (uint32_t)strlen(name);
	fs_submit(op, &e);
}
