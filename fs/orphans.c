/*
 * What the kernel holds of each inode (lookups not forgotten, open
 * handles), and work deferred until the replays queued before it have run:
 * orphans to drop, and syncs through a .cluster/ file to answer (sync.c).
 * Loop thread only.
 *
 * Orphans: an unlinked file stays usable through open descriptors; the
 * store keeps it at nlink 0 and this module drops it once the kernel holds
 * no reference to it: no open descriptor and no lookup it has not
 * forgotten (a cached name may still lead a reader to it). Nor any replay
 * still queued: apply runs ahead of the replays, and a replay may hand the
 * kernel an object that later entries already removed (a symlink created
 * and replaced before its creation was replayed). So a drop waits until
 * the replays queued before it have run (fs_drop_later); if the kernel then
 * holds the object, it goes at the kernel's last forget.
 */
#include "fs_internal.h"

#include <errno.h>
#include <stdlib.h>

#include "notify.h"

/* How often deferred work is looked at while some waits. */
#define FS_DROP_CHECK_MS 2

struct fs_ref *fs_ref_get(struct fs *fs, uint64_t ino, bool create)
{
	struct fs_ref *r;

	HASH_FIND(hh, fs->refs, &ino, sizeof(ino), r);
	if (r == NULL && create) {
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			return NULL; /* worst case: an orphan lives until restart */
		r->ino = ino;
		HASH_ADD(hh, fs->refs, ino, sizeof(r->ino), r);
	}
	return r;
}

/* Forget the record once the kernel holds nothing; an orphan goes then. */
static void ref_release(struct fs *fs, struct fs_ref *r)
{
	uint64_t ino = r->ino;
	bool orphan = r->orphan;

	if (r->lookups > 0 || r->opens > 0)
		return;
	HASH_DEL(fs->refs, r);
	free(r);
	if (orphan)
		fs_drop_later(fs, ino);
}

static void drop_timer_cb(uv_timer_t *t)
{
	struct fs *fs = t->data;
	size_t kept = 0;

	for (size_t i = 0; i < fs->n_drops; i++) {
		struct fs_drop d = fs->drops[i];
		struct fs_ref *r;

		if (fs->notify != NULL && !notify_passed(fs->notify, d.mark)) {
			fs->drops[kept++] = d;
			continue;
		}
		if (d.req != NULL) {
			fuse_reply_err(d.req, 0);
			continue;
		}
		r = fs_ref_get(fs, d.ino, false);
		if (r != NULL && (r->lookups > 0 || r->opens > 0))
			r->orphan = true; /* a replay gave it to the kernel */
		else
			store_drop_orphan(fs->store, d.ino);
	}
	fs->n_drops = kept;
	if (kept == 0)
		uv_timer_stop(&fs->drop_timer);
}

/* Drop the orphan @ino, or answer @req, once the replays queued so far
 * have run. A request may wait for replays only if the kernel holds no lock
 * a replay or an invalidation may need: fsync of a directory holds its
 * inode lock, and an invalidation of a name in it waits for that lock (a
 * deadlock, seen); the files of .cluster/ are never replayed. */
int fs_after_replays(struct fs *fs, uint64_t ino, fuse_req_t req)
{
	if (fs->n_drops == fs->cap_drops) {
		size_t cap = fs->cap_drops ? 2 * fs->cap_drops : 16;
		struct fs_drop *grown = realloc(fs->drops, cap * sizeof(*grown));

		if (grown == NULL)
			return -ENOMEM;
		fs->drops = grown;
		fs->cap_drops = cap;
	}
	fs->drops[fs->n_drops++] = (struct fs_drop){ino, notify_mark(fs->notify), req};
	if (fs->n_drops == 1)
		uv_timer_start(&fs->drop_timer, drop_timer_cb, FS_DROP_CHECK_MS, FS_DROP_CHECK_MS);
	return 0;
}

void fs_drop_later(struct fs *fs, uint64_t ino)
{
	fs_after_replays(fs, ino, NULL); /* if it fails: dropped at the next start */
}

void fs_ref_lookup(struct fs *fs, uint64_t ino)
{
	struct fs_ref *r = fs_ref_get(fs, ino, true);

	if (r != NULL)
		r->lookups++;
}

void fs_ref_forget(struct fs *fs, uint64_t ino, uint64_t n)
{
	struct fs_ref *r = fs_ref_get(fs, ino, false);

	if (r == NULL)
		return;
	r->lookups = r->lookups > n ? r->lookups - n : 0;
	ref_release(fs, r);
}

void fs_ref_open(struct fs *fs, uint64_t ino, int delta)
{
	struct fs_ref *r = fs_ref_get(fs, ino, delta > 0);

	if (r == NULL)
		return;
	r->opens = (unsigned)((int)r->opens + delta);
	ref_release(fs, r);
}
