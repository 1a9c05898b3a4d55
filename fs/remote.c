/*
 * When the store changes behind the kernel's back: after this node applies
 * an entry another node proposed (fs_applied), or any entry that removed a
 * name without an unlink (a lease released by a write, or expired) or made
 * files no kernel saw made (ENTRY_MULTI), the kernel's caches are
 * invalidated and the change is queued for replay (notify.h); after a
 * snapshot install (fs_restored) every cached name is dropped. Runs in the loop thread, from the FSM's apply hooks; the
 * notifier thread does the rest.
 */
#include "fs_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "notify.h"

/* An entry proposed by another node changed the store behind the kernel's
 * back: drop what the kernel may cache about it. */
static void invalidate_remote(struct fs *fs, const struct entry *e, const struct store_change *ch)
{
	struct notify *nt = fs->notify;

	switch (e->op) {
	case ENTRY_CREATE:
		notify_entry(nt, e->parent, e->name, e->name_len);
		notify_inode(nt, e->parent);
		break;
	case ENTRY_LINK:
		notify_entry(nt, e->newparent, e->newname, e->newname_len);
		notify_inode(nt, e->newparent);
		notify_inode(nt, e->ino);
		break;
	case ENTRY_UNLINK:
		notify_entry(nt, e->parent, e->name, e->name_len);
		notify_inode(nt, e->parent);
		notify_inode(nt, ch->ino);
		break;
	case ENTRY_RENAME:
		notify_entry(nt, e->parent, e->name, e->name_len);
		notify_entry(nt, e->newparent, e->newname, e->newname_len);
		notify_inode(nt, e->parent);
		if (e->newparent != e->parent)
			notify_inode(nt, e->newparent);
		notify_inode(nt, ch->ino);
		if (ch->replaced != 0)
			notify_inode(nt, ch->replaced);
		break;
	case ENTRY_WRITE:
	case ENTRY_SETATTR:
	case ENTRY_SETXATTR:
	case ENTRY_REMOVEXATTR:
		notify_inode(nt, e->ino);
		break;
	default:
		break;
	}
}

/* The absolute path, through this node's mount, of @name in @dir (or of
 * @dir itself when name is NULL). 0 or -errno. */
static int mount_path(struct fs *fs, uint64_t dir, const char *name, size_t len, char *out)
{
	char rel[REPLAY_PATH_MAX];
	int rv = store_path(fs->store, dir, rel, sizeof(rel)), n;

	if (rv != 0)
		return rv;
	if (name != NULL)
		n = snprintf(out, REPLAY_PATH_MAX, "%s%s%s/%.*s", fs->mountpoint, rel[0] ? "/" : "",
			     rel, (int)len, name);
	else
		n = snprintf(out, REPLAY_PATH_MAX, "%s%s%s", fs->mountpoint, rel[0] ? "/" : "",
			     rel);
	return n < 0 || n >= REPLAY_PATH_MAX ? -ENAMETOOLONG : 0;
}

static uint32_t mode_or(struct fs *fs, uint64_t ino, uint32_t fallback)
{
	struct store_attr a;

	return ino != 0 && store_getattr(fs->store, ino, &a) == 0 ? a.mode : fallback;
}

static void owner_of(struct fs *fs, uint64_t ino, uint32_t *uid, uint32_t *gid)
{
	struct store_attr a;

	if (store_getattr(fs->store, ino, &a) == 0) {
		*uid = a.uid;
		*gid = a.gid;
	}
}

static uint64_t gen_of(struct fs *fs, uint64_t ino)
{
	struct store_attr a;

	return store_getattr(fs->store, ino, &a) == 0 ? a.gen : 0;
}

static uint64_t size_of(struct fs *fs, uint64_t ino)
{
	struct store_attr a;

	return store_getattr(fs->store, ino, &a) == 0 ? a.size : 0;
}

static void copy_name(char *dst, const char *src, size_t len)
{
	if (len > REPLAY_NAME_MAX)
		len = REPLAY_NAME_MAX;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* Remember the directories on the replay's paths (see struct replay). */
static void chain_add(struct fs *fs, struct replay *r, uint64_t dir)
{
	struct store_link links[REPLAY_CHAIN_MAX];
	int n = store_ancestors(fs->store, dir, links, REPLAY_CHAIN_MAX);

	for (int i = 0; i < n && r->chain_n < REPLAY_CHAIN_MAX; i++) {
		r->chain[r->chain_n].parent = links[i].parent;
		r->chain[r->chain_n].ino = links[i].ino;
		r->chain[r->chain_n].gen = links[i].gen;
		memcpy(r->chain[r->chain_n].name, links[i].name, sizeof(links[i].name));
		r->chain_n++;
	}
}

static void replay_chain(struct fs *fs, struct replay *r, const struct entry *e)
{
	struct store_attr a;

	switch (e->op) {
	case ENTRY_CREATE:
	case ENTRY_UNLINK:
		chain_add(fs, r, e->parent);
		break;
	case ENTRY_RENAME:
		chain_add(fs, r, e->parent);
		if (e->newparent != e->parent)
			chain_add(fs, r, e->newparent);
		break;
	case ENTRY_LINK:
		chain_add(fs, r, e->newparent);
		if (store_getattr(fs->store, e->ino, &a) == 0)
			chain_add(fs, r, a.parent);
		break;
	default:
		if (store_getattr(fs->store, e->ino, &a) == 0)
			chain_add(fs, r, S_ISDIR(a.mode) ? e->ino : a.parent);
	}
}

/* Queue the system call that makes this node's kernel see, and report to
 * inotify, a change another node made (notes/remote-inotify.md). Paths
 * are taken now, as the tree is right after this entry. */
static void replay_remote(struct fs *fs, const struct entry *e, const struct store_change *ch)
{
	struct replay *r = calloc(1, sizeof(*r));
	int rv = 0;

	if (r == NULL)
		return;
	switch (e->op) {
	case ENTRY_CREATE:
		rv = mount_path(fs, e->parent, e->name, e->name_len, r->path);
		r->parent = e->parent;
		copy_name(r->name, e->name, e->name_len);
		r->ino = e->ino;
		r->ino_mode = e->mode;
		r->ino_gen = gen_of(fs, e->ino);
		r->mode = e->mode;
		if (S_ISDIR(e->mode)) {
			r->op = REPLAY_MKDIR;
		} else if (S_ISLNK(e->mode)) {
			r->op = REPLAY_SYMLINK;
			memcpy(r->target, e->data, e->data_len < REPLAY_PATH_MAX ? e->data_len : 0);
			r->target[e->data_len < REPLAY_PATH_MAX ? e->data_len : 0] = '\0';
		} else {
			r->op = REPLAY_CREATE;
			r->size = size_of(fs, e->ino);
		}
		break;
	case ENTRY_LINK:
		r->op = REPLAY_LINK;
		rv = mount_path(fs, e->newparent, e->newname, e->newname_len, r->path2);
		if (rv == 0)
			rv = mount_path(fs, e->ino, NULL, 0, r->path);
		if (rv == 0 && strcmp(r->path, r->path2) == 0)
			rv = -ENOENT; /* no other name to link from */
		r->ino = e->ino;
		r->ino_mode = mode_or(fs, e->ino, S_IFREG | 0644);
		r->ino_gen = gen_of(fs, e->ino);
		r->newparent = e->newparent;
		copy_name(r->newname, e->newname, e->newname_len);
		break;
	case ENTRY_UNLINK:
		r->op = (e->flags & ENTRY_F_DIR) ? REPLAY_RMDIR : REPLAY_UNLINK;
		rv = mount_path(fs, e->parent, e->name, e->name_len, r->path);
		r->parent = e->parent;
		copy_name(r->name, e->name, e->name_len);
		r->ino = ch->ino;
		r->ino_gen = ch->gen;
		r->ino_mode = mode_or(fs, ch->ino,
				      (e->flags & ENTRY_F_DIR) ? S_IFDIR | 0755 : S_IFREG | 0644);
		break;
	case ENTRY_RENAME:
		r->op = REPLAY_RENAME;
		rv = mount_path(fs, e->parent, e->name, e->name_len, r->path);
		if (rv == 0)
			rv = mount_path(fs, e->newparent, e->newname, e->newname_len, r->path2);
		r->flags = e->xflags;
		r->parent = e->parent;
		copy_name(r->name, e->name, e->name_len);
		r->newparent = e->newparent;
		copy_name(r->newname, e->newname, e->newname_len);
		r->ino = ch->ino;
		r->ino_mode = mode_or(fs, ch->ino, S_IFREG | 0644);
		r->ino_gen = ch->gen;
		r->replaced = ch->replaced;
		r->replaced_gen = ch->replaced_gen;
		r->replaced_mode = mode_or(fs, ch->replaced, mode_or(fs, ch->ino, S_IFREG | 0644));
		break;
	case ENTRY_WRITE:
	case ENTRY_SETATTR:
		rv = mount_path(fs, e->ino, NULL, 0, r->path);
		if (e->op == ENTRY_WRITE || (e->valid & ENTRY_SET_SIZE)) {
			r->op = REPLAY_MODIFY;
			r->size = size_of(fs, e->ino);
		} else {
			r->op = REPLAY_ATTRIB;
			owner_of(fs, e->ino, &r->uid, &r->gid);
		}
		break;
	case ENTRY_SETXATTR:
	case ENTRY_REMOVEXATTR:
		rv = mount_path(fs, e->ino, NULL, 0, r->path);
		r->op = REPLAY_ATTRIB;
		owner_of(fs, e->ino, &r->uid, &r->gid);
		break;
	default:
		rv = -EINVAL;
	}
	if (rv == 0)
		replay_chain(fs, r, e);
	/* An object with no path (an orphan) has no watcher to tell either. */
	if (rv == 0)
		notify_replay(fs->notify, r);
	free(r);
}

/* The directories still to walk in fs_restored (breadth first: the store
 * has one statement per query, so a walk may not nest store_readdir). */
struct inval_walk {
	struct fs *fs;
	uint64_t dir;
	uint64_t *todo;
	size_t n, cap;
	bool oom;
};

static int invalidate_dirent(void *arg, const char *name, size_t len, uint64_t ino, uint32_t mode)
{
	struct inval_walk *w = arg;

	notify_entry(w->fs->notify, w->dir, name, len);
	notify_inode(w->fs->notify, ino);
	if (S_ISDIR(mode)) {
		if (w->n == w->cap) {
			size_t cap = w->cap ? 2 * w->cap : 64;
			uint64_t *grown = realloc(w->todo, cap * sizeof(*grown));

			if (grown == NULL) {
				w->oom = true; /* the rest expires with the cache timeout */
				return 0;
			}
			w->todo = grown;
			w->cap = cap;
		}
		w->todo[w->n++] = ino;
	}
	return 0;
}

void fs_restored(void *arg)
{
	struct fs *fs = arg;
	struct inval_walk w = {.fs = fs};
	size_t next = 0;

	if (fs == NULL)
		return;
	/* A snapshot may have changed anything: drop every cached name and
	 * attribute we know of. (Names it removed expire with the cache
	 * timeout.) */
	notify_inode(fs->notify, STORE_ROOT_INO);
	w.dir = STORE_ROOT_INO;
	store_readdir(fs->store, STORE_ROOT_INO, invalidate_dirent, &w);
	while (next < w.n) {
		w.dir = w.todo[next++];
		store_readdir(fs->store, w.dir, invalidate_dirent, &w);
	}
	if (w.oom)
		log_warn("after a snapshot: out of memory; some cached names expire with the "
			 "cache timeout instead");
	free(w.todo);
}

/* A name that went without an unlink (a lease released by a write, or
 * expired): no kernel saw it go, not even this node's. */
static void replay_removed(struct fs *fs, const struct store_change *ch)
{
	struct entry u = {
	    .op = ENTRY_UNLINK,
	    .parent = ch->parent,
	    .name = ch->name,
	    .name_len = (uint32_t)strlen(ch->name),
	};

	invalidate_remote(fs, &u, ch);
	replay_remote(fs, &u, ch);
}

/* ENTRY_MULTI: files created or changed without any kernel knowing, this
 * node's included: replay each as a create (inode e->ino + i) or a write. */
static void replay_multi(struct fs *fs, const struct entry *e, const struct store_change *ch)
{
	const char *names = memchr(e->data, '\0', e->data_len);
	const char *end = (const char *)e->data + e->data_len;
	uint64_t i = 0;

	for (const char *q = names + 1; names != NULL && q < end; q += strlen(q) + 1, i++) {
		struct entry one = {
		    .parent = e->parent, .name = q, .name_len = (uint32_t)strlen(q)};
		struct store_attr a;

		if (store_lookup(fs->store, e->parent, q, &a) != 0)
			continue;
		if (a.ino == e->ino + i) {
			one.op = ENTRY_CREATE;
			one.ino = a.ino;
			one.mode = a.mode;
		} else {
			one.op = ENTRY_WRITE;
			one.ino = a.ino;
		}
		invalidate_remote(fs, &one, ch);
		replay_remote(fs, &one, ch);
	}
}

void fs_applied(void *arg, uint64_t index, const struct entry *e, const struct store_change *ch)
{
	struct fs *fs = arg;

	(void)index;
	if (fs == NULL)
		return;
	if (ch->result >= 0 && !ch->noop) {
		if (e->op == ENTRY_MULTI)
			replay_multi(fs, e, ch);
		else if (ch->removed)
			replay_removed(fs, ch);
		else if (e->node_id != fs->cfg.node_id) {
			invalidate_remote(fs, e, ch);
			replay_remote(fs, e, ch);
		}
	}
	/* Unlinked files nobody here holds open can go now. */
	for (int i = 0; i < 2; i++) {
		struct fs_ref *r;

		if (ch->orphaned[i] == 0)
			continue;
		r = fs_ref_get(fs, ch->orphaned[i], false);
		if (r != NULL)
			r->orphan = true; /* dropped at its last release */
		else
			fs_drop_later(fs, ch->orphaned[i]);
	}
}
