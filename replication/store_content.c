/*
 * File content and attributes: reads (store_read, store_read_all) and the
 * entries that change a file's bytes or its inode attributes: write
 * (offset, append, replace), truncate and the rest of setattr. The file size
 * limit is enforced here, the store byte limit through store_charge
 * (store_limits.c), a typed namespace's check through store_typed.c.
 * Loop thread only.
 */
#include "store_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int store_read(struct store *s, uint64_t ino, uint64_t off, size_t size, void *buf, size_t *n)
{
	sqlite3_blob *blob = NULL;
	int rc, bytes;

	*n = 0;
	rc = sqlite3_blob_open(s->db, "main", "inodes", "data", (sqlite3_int64)ino, 0, &blob);
	if (rc != SQLITE_OK) {
		/* A NULL data column (empty file) cannot be opened as a blob. */
		struct store_attr a;
		int err = store_getattr(s, ino, &a);

		if (blob != NULL)
			sqlite3_blob_close(blob);
		return err;
	}
	bytes = sqlite3_blob_bytes(blob);
	if (off < (uint64_t)bytes) {
		size_t avail = (size_t)((uint64_t)bytes - off);

		if (size > avail)
			size = avail;
		rc = sqlite3_blob_read(blob, buf, (int)size, (int)off);
		if (rc != SQLITE_OK) {
			sqlite3_blob_close(blob);
			return store_errno(s, rc);
		}
		*n = size;
	}
	sqlite3_blob_close(blob);
	return 0;
}

int store_read_all(struct store *s, uint64_t ino, void **data, size_t *len)
{
	sqlite3_stmt *st = store_stmt(s, ST_READ_DATA);
	int rc;

	*data = NULL;
	*len = 0;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int n = sqlite3_column_bytes(st, 0);
		const void *p = sqlite3_column_blob(st, 0);

		*data = malloc((size_t)n + 1);
		if (*data == NULL) {
			sqlite3_reset(st);
			return -ENOMEM;
		}
		if (n > 0)
			memcpy(*data, p, (size_t)n);
		((char *)*data)[n] = '\0';
		*len = (size_t)n;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : store_errno(s, rc);
}

/* The write removes the file (a lease released): drop the name it has in
 * its typed directory, as unlink would. */
int store_remove_name(struct apply *ap, const struct store_attr *a, const char *name, size_t n)
{
	struct store_attr dir;
	int rv = store_dir_attr(ap->s, a->parent, &dir);

	if (rv == 0)
		rv = store_unlink_inode(ap, a);
	if (rv == 0)
		rv = store_delete_dentry(ap->s, dir.ino, name, n);
	if (rv == 0)
		rv = store_touch(ap, dir.ino, 1);
	if (rv == 0) {
		ap->ch->removed = true;
		ap->ch->ino = a->ino;
		ap->ch->gen = a->gen;
		ap->ch->parent = dir.ino;
		memcpy(ap->ch->name, name, n);
		ap->ch->name[n] = '\0';
	}
	return rv;
}

/* Store @data/@len (already checked) as the content of @a, which was
 * @old/@old_len; identical content is a no-op. */
int store_set_content_checked(struct apply *ap, const struct store_attr *a, const void *data,
			      size_t len, const void *old, size_t old_len)
{
	struct store *s = ap->s;
	sqlite3_stmt *st;
	int rv;

	if (len == old_len && (len == 0 || memcmp(data, old, len) == 0)) {
		ap->ch->noop = true;
		return 0;
	}
	if (a->nlink > 0) {
		rv = store_charge(s, (int64_t)len - (int64_t)old_len);
		if (rv != 0)
			return rv;
	}
	st = store_stmt(s, ST_SET_DATA);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)a->ino);
	if (len > 0)
		sqlite3_bind_blob(st, 2, data, (int)len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_zeroblob(st, 2, 0);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)len);
	rv = store_step_done(s, st);
	if (rv == 0)
		rv = store_touch(ap, a->ino, 1);
	return rv;
}

/* Replace the content of @a with @data/@len after the limits and the
 * namespace's check (which may remove the file instead). */
static int set_content(struct apply *ap, const struct store_attr *a, const void *data, size_t len,
		       const void *old, size_t old_len)
{
	struct store *s = ap->s;
	bool orphan = a->nlink == 0;
	int rv;

	if (len > s->max_file)
		return orphan ? 0 : -EFBIG;
	if (!orphan && store_typed(s, a->parent)) {
		char name[ENTRY_MAX_NAME + 1];
		size_t n = store_name_in(s, a->ino, name, sizeof(name));
		bool remove;

		rv = store_check_content(ap, a->parent, name, n, old != NULL ? old : "", old_len,
					 &data, &len, &remove);
		if (rv != 0)
			return rv;
		if (remove)
			return store_remove_name(ap, a, name, n);
	}
	return store_set_content_checked(ap, a, data, len, old, old_len);
}

/* Compute the content after a write or truncate into a new buffer. */
static int splice_content(const void *old, size_t old_len, uint64_t off, const void *data,
			  size_t len, uint64_t new_size, void **out)
{
	char *buf;

	buf = malloc(new_size > 0 ? new_size : 1);
	if (buf == NULL)
		return -ENOMEM;
	memset(buf, 0, new_size);
	if (old_len > 0 && new_size > 0)
		memcpy(buf, old, old_len < new_size ? old_len : new_size);
	if (len > 0)
		memcpy(buf + off, data, len);
	*out = buf;
	return 0;
}

int store_apply_write(struct apply *ap)
{
	const struct entry *e = ap->e;
	struct store *s = ap->s;
	struct store_attr a;
	void *old = NULL, *buf = NULL;
	size_t old_len;
	uint64_t off, end;
	int rv;

	rv = store_target_inode(s, e->ino, &a);
	if (rv < 0)
		return rv;
	if (rv == 1) {
		/* A value for a typed file that is gone (a lease released or
		 * expired since the writer opened it) must not look accepted:
		 * the namespace never saw it. The entry says so, not the row,
		 * which some nodes may already have dropped. */
		if (e->flags & ENTRY_F_TYPED)
			return -ENOENT;
		/* An orphan: refuse only what the entry alone shows too big. */
		if (!(e->flags & ENTRY_F_APPEND) &&
		    (e->offset > s->max_file || e->data_len > s->max_file - e->offset))
			return -EFBIG;
		if (a.ino == 0)
			return 0;
	}
	if (S_ISDIR(a.mode))
		return -EISDIR;
	if (!S_ISREG(a.mode))
		return -EINVAL;
	if (e->flags & ENTRY_F_REPLACE) {
		/* The content becomes NULs up to the offset, then the data: a
		 * write fused with the O_TRUNC held before it (fs/handles.c). */
		if (e->offset > s->max_file || e->data_len > s->max_file - e->offset)
			return a.nlink == 0 ? 0 : -EFBIG;
		rv = store_read_all(s, a.ino, &old, &old_len);
		if (rv == 0 && e->offset == 0) {
			rv = set_content(ap, &a, e->data, e->data_len, old, old_len);
		} else if (rv == 0) {
			end = e->offset + e->data_len;
			rv = splice_content(NULL, 0, e->offset, e->data, e->data_len, end, &buf);
			if (rv == 0)
				rv = set_content(ap, &a, buf, end, old, old_len);
		}
		free(buf);
		free(old);
		return rv;
	}
	rv = store_read_all(s, a.ino, &old, &old_len);
	if (rv != 0)
		return rv;
	off = (e->flags & ENTRY_F_APPEND) ? old_len : e->offset;
	if (off > s->max_file || e->data_len > s->max_file - off) {
		free(old);
		return a.nlink == 0 ? 0 : -EFBIG;
	}
	end = off + e->data_len;
	rv = splice_content(old, old_len, off, e->data, e->data_len, end > old_len ? end : old_len,
			    &buf);
	if (rv == 0)
		rv = set_content(ap, &a, buf, end > old_len ? end : old_len, old, old_len);
	free(buf);
	free(old);
	return rv;
}

int store_apply_setattr(struct apply *ap)
{
	const struct entry *e = ap->e;
	struct store *s = ap->s;
	struct store_attr a;
	sqlite3_stmt *st;
	uint32_t v = e->valid;
	int rv;

	rv = store_target_inode(s, e->ino, &a);
	if (rv < 0)
		return rv;
	if (rv == 1 && (v & ENTRY_SET_SIZE) && e->size > s->max_file)
		return -EFBIG;
	if (rv == 1 && a.ino == 0)
		return 0; /* an orphan this node already dropped */
	if (v & ENTRY_SET_SIZE) {
		void *old = NULL, *buf = NULL;
		size_t old_len;

		if (S_ISDIR(a.mode))
			return -EISDIR;
		if (!S_ISREG(a.mode))
			return -EINVAL;
		if (e->size > s->max_file)
			return -EFBIG;
		rv = store_read_all(s, a.ino, &old, &old_len);
		/* ENTRY_F_REPLACE: the size applies to empty content (a truncate
		 * after an O_TRUNC held on the proposing node, fs/ops.c). */
		if (rv == 0)
			rv = splice_content(old, (e->flags & ENTRY_F_REPLACE) ? 0 : old_len, 0, NULL, 0,
					    e->size, &buf);
		if (rv == 0)
			rv = set_content(ap, &a, buf, e->size, old, old_len);
		free(buf);
		free(old);
		if (rv != 0)
			return rv;
		if (v == ENTRY_SET_SIZE)
			return 0; /* plain truncate: set_content stamped it (or no-op) */
		if (!ap->ch->noop)
			a.mtime_ns = e->stamp_ns; /* the content changed */
		ap->ch->noop = false;
	}
	if (v & ENTRY_SET_MODE)
		a.mode = (a.mode & S_IFMT) | (e->mode & 07777);
	if (v & ENTRY_SET_UID)
		a.uid = e->set_uid;
	if (v & ENTRY_SET_GID)
		a.gid = e->set_gid;
	if (v & ENTRY_SET_ATIME_NOW)
		a.atime_ns = e->stamp_ns;
	else if (v & ENTRY_SET_ATIME)
		a.atime_ns = e->atime_ns;
	if (v & ENTRY_SET_MTIME_NOW)
		a.mtime_ns = e->stamp_ns;
	else if (v & ENTRY_SET_MTIME)
		a.mtime_ns = e->mtime_ns;
	st = store_stmt(s, ST_SET_META);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)a.ino);
	sqlite3_bind_int64(st, 2, a.mode);
	sqlite3_bind_int64(st, 3, a.uid);
	sqlite3_bind_int64(st, 4, a.gid);
	sqlite3_bind_int64(st, 5, a.mtime_ns);
	sqlite3_bind_int64(st, 6, a.atime_ns);
	rv = store_step_done(s, st);
	if (rv == 0)
		rv = store_touch(ap, a.ino, 0);
	return rv;
}
