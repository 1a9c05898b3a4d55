/*
 * Directories: opendir takes a snapshot of the listing (with .cluster/ in
 * the root and the generated files in .cluster/), readdir pages through
 * it, releasedir frees it. Loop thread only.
 */
#include "fs_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fs_dirent {
	char *name;
	uint64_t ino;
	uint32_t mode;
};

struct fs_dir {
	struct fs_dirent *ents;
	size_t n, cap;
};

static int dir_add(struct fs_dir *d, const char *name, size_t len, uint64_t ino, uint32_t mode)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct fs_dirent *grown = realloc(d->ents, cap * sizeof(*grown));

		if (grown == NULL)
			return -ENOMEM;
		d->ents = grown;
		d->cap = cap;
	}
	d->ents[d->n].name = strndup(name, len);
	if (d->ents[d->n].name == NULL)
		return -ENOMEM;
	d->ents[d->n].ino = ino;
	d->ents[d->n].mode = mode;
	d->n++;
	return 0;
}

static int dir_add_cb(void *arg, const char *name, size_t len, uint64_t ino, uint32_t mode)
{
	return dir_add(arg, name, len, ino, mode);
}

static void dir_free(struct fs_dir *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->ents[i].name);
	free(d->ents);
	free(d);
}

void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_dir *d = calloc(1, sizeof(*d));
	struct store_attr a;
	int rv;

	if (d == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rv = fs_getattr_any(fs, ino, &a);
	if (rv == 0 && !S_ISDIR(a.mode))
		rv = -ENOTDIR;
	if (rv == 0)
		rv = dir_add(d, ".", 1, ino, S_IFDIR);
	if (rv == 0)
		rv = dir_add(d, "..", 2, ino == STORE_ROOT_INO ? ino : a.parent, S_IFDIR);
	if (rv == 0 && ino == FS_CLUSTER_DIR_INO) {
		for (size_t i = 0; rv == 0 && i < fs->cfg.n_plugs; i++)
			rv = dir_add(d, fs->cfg.plugs[i].name, strlen(fs->cfg.plugs[i].name),
				     FS_CLUSTER_FIRST_INO + i, S_IFREG);
	} else if (rv == 0) {
		if (ino == STORE_ROOT_INO)
			rv = dir_add(d, FS_CLUSTER_DIR, strlen(FS_CLUSTER_DIR), FS_CLUSTER_DIR_INO,
				     S_IFDIR);
		if (rv == 0)
			rv = store_readdir(fs->store, ino, dir_add_cb, d);
	}
	if (rv != 0) {
		dir_free(d);
		fuse_reply_err(req, -rv);
		return;
	}
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi) != 0)
		dir_free(d);
}

void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0;

	(void)ino;
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < d->n; i++) {
		struct stat st = {.st_ino = d->ents[i].ino, .st_mode = d->ents[i].mode};
		size_t need = fuse_add_direntry(req, buf + used, size - used, d->ents[i].name, &st,
						(off_t)(i + 1));

		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	dir_free((struct fs_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}
