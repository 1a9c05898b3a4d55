/*
 * The tree: inodes and the names (dentries) that reach them. Lookups and
 * walks (store_getattr, store_lookup, store_readdir, store_path,
 * store_ancestors), the row helpers the other store files share (names,
 * link counts, the change stamp), and the entries that change names:
 * create, link, unlink/rmdir and rename. Loop thread only (see store.h).
 */
#include "store_internal.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static void attr_from_row(sqlite3_stmt *st, struct store_attr *a)
{
	a->ino = (uint64_t)sqlite3_column_int64(st, 0);
	a->mode = (uint32_t)sqlite3_column_int64(st, 1);
	a->uid = (uint32_t)sqlite3_column_int64(st, 2);
	a->gid = (uint32_t)sqlite3_column_int64(st, 3);
	a->nlink = (uint32_t)sqlite3_column_int64(st, 4);
	a->size = (uint64_t)sqlite3_column_int64(st, 5);
	a->mtime_ns = sqlite3_column_int64(st, 6);
	a->ctime_ns = sqlite3_column_int64(st, 7);
	a->revision = (uint64_t)sqlite3_column_int64(st, 8);
	a->writer_node = (uint64_t)sqlite3_column_int64(st, 9);
	a->writer_uid = (uint32_t)sqlite3_column_int64(st, 10);
	a->gen = (uint64_t)sqlite3_column_int64(st, 11);
	a->parent = (uint64_t)sqlite3_column_int64(st, 12);
	a->atime_ns = sqlite3_column_int64(st, 13);
}

static int attr_step(struct store *s, sqlite3_stmt *st, struct store_attr *a)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		attr_from_row(st, a);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : store_errno(s, rc);
}

int store_getattr(struct store *s, uint64_t ino, struct store_attr *a)
{
	sqlite3_stmt *st = store_stmt(s, ST_GETATTR);

	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	return attr_step(s, st, a);
}

int store_lookup_n(struct store *s, uint64_t parent, const char *name, size_t len,
		   struct store_attr *a)
{
	sqlite3_stmt *st = store_stmt(s, ST_LOOKUP);

	sqlite3_bind_int64(st, 1, (sqlite3_int64)parent);
	sqlite3_bind_blob(st, 2, name, (int)len, SQLITE_STATIC);
	return attr_step(s, st, a);
}

int store_lookup(struct store *s, uint64_t parent, const char *name, struct store_attr *a)
{
	return store_lookup_n(s, parent, name, strlen(name), a);
}

int store_readdir(struct store *s, uint64_t dir, store_dirent_cb cb, void *arg)
{
	sqlite3_stmt *st = store_stmt(s, ST_READDIR);
	int rc, stop = 0;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)dir);
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		stop = cb(arg, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
			  (uint64_t)sqlite3_column_int64(st, 1),
			  (uint32_t)sqlite3_column_int64(st, 2));
	}
	sqlite3_reset(st);
	if (stop)
		return 0;
	return rc == SQLITE_DONE ? 0 : store_errno(s, rc);
}

/* --- changing the tree ------------------------------------------------ */

int store_set_nlink(struct store *s, uint64_t ino, uint32_t nlink)
{
	sqlite3_stmt *st = store_stmt(s, ST_SET_NLINK);

	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_int64(st, 2, nlink);
	return store_step_done(s, st);
}

/* Stamp a change on @ino: ctime (and mtime if @content), revision, writer. */
int store_touch(struct apply *ap, uint64_t ino, int content)
{
	sqlite3_stmt *st = store_stmt(ap->s, ST_TOUCH);

	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_int(st, 2, content);
	sqlite3_bind_int64(st, 3, ap->e->stamp_ns);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)ap->index);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)ap->e->node_id);
	sqlite3_bind_int64(st, 6, ap->e->uid);
	return store_step_done(ap->s, st);
}

static int set_parent(struct store *s, uint64_t ino, uint64_t parent)
{
	sqlite3_stmt *st = store_stmt(s, ST_SET_PARENT);

	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)parent);
	return store_step_done(s, st);
}

int store_insert_name_row(struct store *s, uint64_t parent, const char *name, size_t len,
			  uint64_t ino)
{
	sqlite3_stmt *st = store_stmt(s, ST_INSERT_DENTRY);

	sqlite3_bind_int64(st, 1, (sqlite3_int64)parent);
	sqlite3_bind_blob(st, 2, name, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ino);
	return store_step_done(s, st);
}

int store_insert_dentry(struct store *s, uint64_t parent, const char *name, size_t len,
			uint64_t ino)
{
	int rv = store_charge(s, (int64_t)store_name_bytes(len));

	return rv != 0 ? rv : store_insert_name_row(s, parent, name, len, ino);
}

/* Callers delete names they looked up: the row is there to give back. */
int store_delete_dentry(struct store *s, uint64_t parent, const char *name, size_t len)
{
	sqlite3_stmt *st = store_stmt(s, ST_DELETE_DENTRY);
	int rv;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)parent);
	sqlite3_bind_blob(st, 2, name, (int)len, SQLITE_STATIC);
	rv = store_step_done(s, st);
	if (rv == 0 && sqlite3_changes(s->db) > 0)
		store_charge(s, -(int64_t)store_name_bytes(len));
	return rv;
}

static int set_dentry_ino(struct store *s, uint64_t parent, const char *name, size_t len,
			  uint64_t ino)
{
	sqlite3_stmt *st = store_stmt(s, ST_SET_DENTRY_INO);

	sqlite3_bind_int64(st, 1, (sqlite3_int64)parent);
	sqlite3_bind_blob(st, 2, name, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ino);
	return store_step_done(s, st);
}

/* Delete an inode row and its xattrs. Orphans were already uncharged when
 * they lost their last name, so only linked inodes give bytes back. */
int store_delete_inode(struct store *s, const struct store_attr *a)
{
	sqlite3_stmt *st;
	uint64_t freed = a->nlink > 0 ? store_inode_bytes(s, a) : 0;
	int rv;

	st = store_stmt(s, ST_DELETE_XATTRS);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)a->ino);
	rv = store_step_done(s, st);
	if (rv != 0)
		return rv;
	st = store_stmt(s, ST_DELETE_INODE);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)a->ino);
	rv = store_step_done(s, st);
	if (rv == 0)
		s->bytes = s->bytes > freed ? s->bytes - freed : 0;
	return rv;
}

static int has_children(struct store *s, uint64_t dir)
{
	sqlite3_stmt *st = store_stmt(s, ST_HAS_CHILDREN);
	int rc;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)dir);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_errno(s, rc);
}

static int is_fixed_dir(uint64_t ino)
{
	return ino < STORE_FIRST_DYNAMIC_INO;
}

/* A name of @ino in @dir, for a namespace's content check. */
size_t store_name_in(struct store *s, uint64_t ino, char *buf, size_t cap)
{
	sqlite3_stmt *st = store_stmt(s, ST_NAME_OF);
	size_t n = 0;
	int rc;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
	rc = sqlite3_step(st);
	store_note(s, rc);
	if (rc == SQLITE_ROW) {
		n = (size_t)sqlite3_column_bytes(st, 1);
		if (n >= cap)
			n = cap - 1;
		memcpy(buf, sqlite3_column_blob(st, 1), n);
	}
	sqlite3_reset(st);
	buf[n] = '\0';
	return n;
}

int store_dir_attr(struct store *s, uint64_t ino, struct store_attr *a)
{
	int rv = store_getattr(s, ino, a);

	if (rv == -ENOENT)
		return -ENOENT;
	if (rv != 0)
		return rv;
	return S_ISDIR(a->mode) ? 0 : -ENOTDIR;
}

int store_apply_create(struct apply *ap)
{
	const struct entry *e = ap->e;
	struct store *s = ap->s;
	struct store_attr dir, old;
	uint32_t type = e->mode & S_IFMT;
	const void *data = e->data;
	size_t len = e->data_len;
	uint32_t mode = e->mode;
	sqlite3_stmt *st;
	int rv;

	rv = store_dir_attr(s, e->parent, &dir);
	if (rv != 0)
		return rv;
	rv = store_lookup_n(s, e->parent, e->name, e->name_len, &old);
	if (rv == 0) {
		/* O_CREAT without O_EXCL opens what another node created first. */
		if (!(e->flags & ENTRY_F_EXCL) && type == S_IFREG && S_ISREG(old.mode)) {
			ap->ch->result = (int64_t)old.ino;
			ap->ch->noop = true;
			return 0;
		}
		/* A typed create that lost a race: the namespace's refusal of
		 * this content for that file (a lease another holder took) says
		 * more than EEXIST. */
		if (store_typed(s, e->parent) && S_ISREG(old.mode))
			return store_refusal_of(ap, &old, e->name, e->name_len, e->data,
						e->data_len);
		return -EEXIST;
	}
	if (rv != -ENOENT)
		return rv;
	rv = store_check_new_path(s, e->parent, e->name_len);
	if (rv != 0)
		return rv;
	if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK)
		return -EPERM;
	rv = store_check_name(s, e->parent, e->name, e->name_len, e->mode);
	if (rv != 0)
		return rv;
	if (e->ino < STORE_FIRST_DYNAMIC_INO)
		return -EINVAL;
	if (store_getattr(s, e->ino, &old) == 0)
		return -EEXIST; /* inode number collision: refuse, never merge */
	if (type == S_IFLNK && (len == 0 || len >= STORE_MAX_PATH))
		return len == 0 ? -EINVAL : -ENAMETOOLONG;
	if (type == S_IFDIR)
		len = 0;
	if (type == S_IFREG) {
		if (len > s->max_file)
			return -EFBIG;
		bool remove;

		rv = store_check_content(ap, e->parent, e->name, e->name_len, NULL, 0, &data, &len,
					 &remove);
		if (rv != 0)
			return rv;
		if (remove)
			return -ENOENT; /* nothing to release */
		if (s->v != NULL && s->v->create_mode != NULL)
			mode = S_IFREG | (s->v->create_mode(e->parent, e->mode) & 07777);
	}
	rv = store_charge(s, (int64_t)(STORE_INODE_COST + len));
	if (rv != 0)
		return rv;

	st = store_stmt(s, ST_INSERT_INODE);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)e->ino);
	sqlite3_bind_int64(st, 2, mode);
	sqlite3_bind_int64(st, 3, e->uid);
	sqlite3_bind_int64(st, 4, e->gid);
	sqlite3_bind_int64(st, 5, type == S_IFDIR ? 2 : 1);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)len);
	sqlite3_bind_int64(st, 7, e->stamp_ns);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)ap->index);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)e->node_id);
	sqlite3_bind_int64(st, 10, e->uid);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)e->parent);
	if (len > 0)
		sqlite3_bind_blob(st, 12, data, (int)len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_zeroblob(st, 12, 0);
	rv = store_step_done(s, st);
	if (rv == 0)
		rv = store_insert_dentry(s, e->parent, e->name, e->name_len, e->ino);
	if (rv == 0 && type == S_IFDIR)
		rv = store_set_nlink(s, dir.ino, dir.nlink + 1);
	if (rv == 0)
		rv = store_touch(ap, dir.ino, 1);
	if (rv == 0)
		ap->ch->result = (int64_t)e->ino;
	return rv;
}

int store_apply_link(struct apply *ap)
{
	const struct entry *e = ap->e;
	struct store *s = ap->s;
	struct store_attr a, dir, old;
	int rv;

	rv = store_getattr(s, e->ino, &a);
	if (rv != 0)
		return rv;
	if (a.nlink == 0)
		return -ENOENT; /* an orphan, whether or not this node still has it */
	if (S_ISDIR(a.mode))
		return -EPERM;
	rv = store_dir_attr(s, e->newparent, &dir);
	if (rv != 0)
		return rv;
	if (store_lookup_n(s, e->newparent, e->newname, e->newname_len, &old) == 0)
		return -EEXIST;
	rv = store_check_new_path(s, e->newparent, e->newname_len);
	if (rv != 0)
		return rv;
	if (store_typed(s, e->newparent) != store_typed(s, a.parent) ||
	    (store_typed(s, a.parent) && a.parent != e->newparent))
		return -EXDEV;
	if (store_names_held(s, e->newparent))
		return -EPERM;
	rv = store_check_name(s, e->newparent, e->newname, e->newname_len, a.mode);
	if (rv != 0)
		return rv;
	rv = store_insert_dentry(s, e->newparent, e->newname, e->newname_len, a.ino);
	if (rv == 0)
		rv = store_set_nlink(s, a.ino, a.nlink + 1);
	if (rv == 0)
		rv = store_touch(ap, a.ino, 0);
	if (rv == 0)
		rv = store_touch(ap, dir.ino, 1);
	return rv;
}

/* Drop one name of a non-directory; it becomes an orphan at nlink 0 and is
 * kept until no descriptor on this node holds it (store_drop_orphan). */
int store_unlink_inode(struct apply *ap, const struct store_attr *a)
{
	int rv = store_set_nlink(ap->s, a->ino, a->nlink - 1);

	if (rv == 0)
		rv = store_touch(ap, a->ino, 0);
	if (rv == 0 && a->nlink == 1) {
		struct store_change *ch = ap->ch;

		/* An orphan no longer counts against the store limit: every node
		 * forgets its bytes now, whenever it drops the row itself. */
		store_charge(ap->s, -(int64_t)store_inode_bytes(ap->s, a));
		ch->orphaned[ch->orphaned[0] ? 1 : 0] = a->ino;
	}
	return rv;
}

static int remove_dir(struct apply *ap, const struct store_attr *a, const struct store_attr *parent)
{
	int rv;

	if (is_fixed_dir(a->ino))
		return -EPERM;
	rv = has_children(ap->s, a->ino);
	if (rv != 0)
		return rv > 0 ? -ENOTEMPTY : rv;
	rv = store_delete_inode(ap->s, a);
	if (rv == 0)
		rv = store_set_nlink(ap->s, parent->ino, parent->nlink - 1);
	return rv;
}

int store_apply_unlink(struct apply *ap)
{
	const struct entry *e = ap->e;
	struct store *s = ap->s;
	struct store_attr a, dir;
	int rv;

	rv = store_dir_attr(s, e->parent, &dir);
	if (rv != 0)
		return rv;
	rv = store_lookup_n(s, e->parent, e->name, e->name_len, &a);
	if (rv != 0)
		return rv;
	ap->ch->ino = a.ino;
	ap->ch->gen = a.gen;
	if (e->flags & ENTRY_F_DIR) {
		if (!S_ISDIR(a.mode))
			return -ENOTDIR;
		rv = remove_dir(ap, &a, &dir);
	} else {
		if (S_ISDIR(a.mode))
			return -EISDIR;
		rv = store_unlink_inode(ap, &a);
	}
	if (rv == 0)
		rv = store_delete_dentry(s, e->parent, e->name, e->name_len);
	if (rv == 0)
		rv = store_touch(ap, dir.ino, 1);
	return rv;
}

/* Is @dir @ancestor or below it? Walks parent links up to the root. */
static int is_within(struct store *s, uint64_t dir, uint64_t ancestor)
{
	struct store_attr a;

	for (int depth = 0; depth < STORE_MAX_PATH; depth++) {
		if (dir == ancestor)
			return 1;
		if (dir == STORE_ROOT_INO)
			return 0;
		if (store_getattr(s, dir, &a) != 0)
			return 0;
		dir = a.parent;
	}
	return 1; /* a cycle cannot exist; refuse rather than loop */
}

int store_apply_rename(struct apply *ap)
{
	const struct entry *e = ap->e;
	struct store *s = ap->s;
	struct store_attr src, dst, from, to;
	bool exchange = e->xflags & RENAME_EXCHANGE;
	bool same_dir = e->parent == e->newparent;
	int have_dst, rv;

	if ((e->xflags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    (e->xflags & RENAME_NOREPLACE && e->xflags & RENAME_EXCHANGE))
		return -EINVAL;
	rv = store_dir_attr(s, e->parent, &from);
	if (rv == 0)
		rv = store_dir_attr(s, e->newparent, &to);
	if (rv == 0)
		rv = store_lookup_n(s, e->parent, e->name, e->name_len, &src);
	if (rv != 0)
		return rv;
	rv = store_lookup_n(s, e->newparent, e->newname, e->newname_len, &dst);
	if (rv != 0 && rv != -ENOENT)
		return rv;
	have_dst = rv == 0;
	ap->ch->ino = src.ino;
	ap->ch->gen = src.gen;
	ap->ch->replaced = have_dst ? dst.ino : 0;
	ap->ch->replaced_gen = have_dst ? dst.gen : 0;

	if (is_fixed_dir(src.ino) || (have_dst && is_fixed_dir(dst.ino)))
		return -EPERM;
	if (!same_dir && (store_typed(s, e->parent) || store_typed(s, e->newparent)))
		return -EXDEV;
	if (store_names_held(s, e->parent))
		return -EPERM;
	rv = store_check_name(s, e->newparent, e->newname, e->newname_len, src.mode);
	if (rv != 0)
		return rv;
	if (S_ISDIR(src.mode) && !same_dir && is_within(s, e->newparent, src.ino))
		return -EINVAL;
	if (!(have_dst && dst.ino == src.ino)) {
		rv =
		    store_check_move(s, &src, e->parent, e->name_len, e->newparent, e->newname_len);
		if (rv != 0)
			return rv;
	}

	if (exchange) {
		if (!have_dst)
			return -ENOENT;
		if (S_ISDIR(dst.mode) && !same_dir && is_within(s, e->parent, dst.ino))
			return -EINVAL;
		rv =
		    store_check_move(s, &dst, e->newparent, e->newname_len, e->parent, e->name_len);
		if (rv == 0)
			rv = store_check_name(s, e->parent, e->name, e->name_len, dst.mode);
		if (rv == 0)
			rv = set_dentry_ino(s, e->parent, e->name, e->name_len, dst.ino);
		if (rv == 0)
			rv = set_dentry_ino(s, e->newparent, e->newname, e->newname_len, src.ino);
		if (rv == 0 && !same_dir) {
			int ddir = S_ISDIR(src.mode) - S_ISDIR(dst.mode);

			rv = set_parent(s, src.ino, to.ino);
			if (rv == 0)
				rv = set_parent(s, dst.ino, from.ino);
			if (rv == 0 && ddir != 0)
				rv = store_set_nlink(s, from.ino,
						     (uint32_t)((int)from.nlink - ddir));
			if (rv == 0 && ddir != 0)
				rv = store_set_nlink(s, to.ino, (uint32_t)((int)to.nlink + ddir));
		}
		if (rv == 0)
			rv = store_touch(ap, src.ino, 0);
		if (rv == 0)
			rv = store_touch(ap, dst.ino, 0);
		goto touch_dirs;
	}

	if (have_dst) {
		if (e->xflags & RENAME_NOREPLACE)
			return -EEXIST;
		if (dst.ino == src.ino)
			return 0; /* two names of one inode: POSIX says do nothing */
		if (S_ISDIR(src.mode) && !S_ISDIR(dst.mode))
			return -ENOTDIR;
		if (!S_ISDIR(src.mode) && S_ISDIR(dst.mode))
			return -EISDIR;
		if (S_ISDIR(dst.mode)) {
			rv = remove_dir(ap, &dst, &to);
			if (rv == 0)
				rv = store_dir_attr(s, to.ino, &to); /* nlink changed */
		} else {
			rv = store_unlink_inode(ap, &dst);
		}
		if (rv == 0)
			rv = store_delete_dentry(s, e->newparent, e->newname, e->newname_len);
		if (rv != 0)
			return rv;
	}
	rv = store_delete_dentry(s, e->parent, e->name, e->name_len);
	if (rv == 0)
		rv = store_insert_dentry(s, e->newparent, e->newname, e->newname_len, src.ino);
	if (rv == 0 && !same_dir) {
		rv = set_parent(s, src.ino, to.ino);
		if (rv == 0 && S_ISDIR(src.mode)) {
			rv = store_set_nlink(s, from.ino, from.nlink - 1);
			if (rv == 0)
				rv = store_set_nlink(s, to.ino, to.nlink + 1);
		}
	}
	if (rv == 0)
		rv = store_touch(ap, src.ino, 0);
touch_dirs:
	if (rv == 0)
		rv = store_touch(ap, from.ino, 1);
	if (rv == 0 && !same_dir)
		rv = store_touch(ap, to.ino, 1);
	return rv;
}

/* --- paths ------------------------------------------------------------ */

int store_path(struct store *s, uint64_t ino, char *buf, size_t len)
{
	char tmp[STORE_MAX_PATH + 1];
	size_t used = 0; /* built backwards at the end of tmp */

	for (int depth = 0; ino != STORE_ROOT_INO; depth++) {
		sqlite3_stmt *st = store_stmt(s, ST_NAME_OF);
		uint64_t parent;
		size_t n;
		int rc;

		if (depth > STORE_MAX_PATH / 2)
			return -ELOOP;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(st);
			return rc == SQLITE_DONE ? -ENOENT : store_errno(s, rc);
		}
		parent = (uint64_t)sqlite3_column_int64(st, 0);
		n = (size_t)sqlite3_column_bytes(st, 1);
		if (used + n + 1 > STORE_MAX_PATH) {
			sqlite3_reset(st);
			return -ENAMETOOLONG;
		}
		if (used > 0)
			tmp[STORE_MAX_PATH - ++used] = '/';
		used += n;
		memcpy(tmp + STORE_MAX_PATH - used, sqlite3_column_blob(st, 1), n);
		sqlite3_reset(st);
		ino = parent;
	}
	if (used + 1 > len)
		return -ENAMETOOLONG;
	memcpy(buf, tmp + STORE_MAX_PATH - used, used);
	buf[used] = '\0';
	return 0;
}

int store_ancestors(struct store *s, uint64_t ino, struct store_link *out, int max)
{
	int n = 0;

	while (ino != STORE_ROOT_INO && n < max) {
		sqlite3_stmt *st = store_stmt(s, ST_NAME_OF);
		struct store_attr a;
		size_t len;
		int rc;

		sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(st);
			return rc == SQLITE_DONE ? n : store_errno(s, rc);
		}
		out[n].parent = (uint64_t)sqlite3_column_int64(st, 0);
		len = (size_t)sqlite3_column_bytes(st, 1);
		if (len > ENTRY_MAX_NAME)
			len = ENTRY_MAX_NAME;
		memcpy(out[n].name, sqlite3_column_blob(st, 1), len);
		out[n].name[len] = '\0';
		sqlite3_reset(st);
		out[n].ino = ino;
		out[n].gen = store_getattr(s, ino, &a) == 0 ? a.gen : 0;
		ino = out[n].parent;
		n++;
	}
	return n;
}
