/*
 * Files: open handles (open, create, read, write, flush, release), the
 * O_TRUNC this node holds back, typed writes and pending creates. Loop
 * thread only.
 *
 * Writes use direct I/O (with max_write raised to the file limit, ops.c),
 * so that one write(2) reaches us as one WRITE request and becomes one
 * entry at any offset: through the page cache the kernel splits a write at
 * the first page it has to fill only in part, so an append that crossed a
 * page boundary became two entries, and lines appended from two nodes
 * could interleave. Reads of files opened read-only use direct I/O too
 * (see fs_open).
 *
 * O_TRUNC (FUSE_CAP_ATOMIC_O_TRUNC): the truncation is held back on this
 * node — on the inode (struct fs_ref.trunc_held), so stat and lookups here
 * and reads through the descriptor that truncated see the file empty,
 * exactly as if it had been truncated at open (other descriptors read the
 * old content meanwhile, as readers on other nodes do, so that a reader
 * never sees a file that `echo x > f` rewrites empty) — and committed
 * together with what comes next, in one entry:
 * - a write (at any offset, or an append) becomes "replace content" with
 *   NULs up to the offset, so `echo x > f` is one commit and other nodes
 *   see the old content, then the new, never an empty file;
 * - a truncate to a size becomes a SETATTR whose size applies to the empty
 *   content (NULs up to it);
 * - if nothing comes, the last close of a descriptor opened with O_TRUNC
 *   commits the truncation — at RELEASE, not at the first close: bash's `>`
 *   dup2()s the descriptor and closes the original before writing (that
 *   close sends nothing: no descriptor asks for FLUSH). (So `: > f` empties
 *   the file on other nodes just after the close returns.)
 * A refused write (EINVAL for a typed value, EFBIG) abandons the held
 * truncation: the refused mutation changes nothing, and `echo maybe >
 * gates/feature.x` leaves the gate as it was.
 *
 * Pending creates: in a typed directory (gates/) an empty file is not a
 * valid value, so O_CREAT there is answered with an inode that exists only
 * on this node until the first write (or the release) commits name and
 * content in one CREATE entry, which the namespace validates. A rejected
 * value thus leaves nothing behind: `echo maybe > gates/feature.x` fails and
 * creates nothing (and `touch gates/feature.x`, an empty value, creates
 * nothing either).
 */
#include "fs_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "ns.h"

struct fs_pending *fs_pending_by_name(struct fs *fs, uint64_t parent, const char *name)
{
	struct fs_pending *p, *tmp;

	HASH_ITER(hh, fs->pending, p, tmp)
	{
		if (p->parent == parent && strcmp(p->name, name) == 0)
			return p;
	}
	return NULL;
}

void fs_pending_drop(struct fs *fs, uint64_t ino)
{
	struct fs_pending *p;

	HASH_FIND(hh, fs->pending, &ino, sizeof(ino), p);
	if (p != NULL) {
		HASH_DEL(fs->pending, p);
		free(p);
	}
}

bool fs_is_pending(struct fs *fs, uint64_t ino)
{
	struct fs_pending *p;

	HASH_FIND(hh, fs->pending, &ino, sizeof(ino), p);
	return p != NULL;
}

struct fs_handle *fs_handle_new(uint64_t ino, int flags)
{
	struct fs_handle *h = calloc(1, sizeof(*h));

	if (h != NULL) {
		h->ino = ino;
		h->flags = flags;
		h->append = (flags & O_APPEND) != 0;
	}
	return h;
}

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	const struct fs_plug_file *plug = fs_plug_of(fs, ino);
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct fs_handle *h;
	struct store_attr a;
	int rv;

	if (plug != NULL && writing) {
		fuse_reply_err(req, EROFS);
		return;
	}
	rv = fs_getattr_any(fs, ino, &a);
	if (rv != 0) {
		fuse_reply_err(req, -rv);
		return;
	}
	if (S_ISDIR(a.mode)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	h = fs_handle_new(ino, fi->flags);
	if (h == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fs_replaying(fs, req)) {
		h->replay = true;
		fs_file_open_flags(fi);
		fi->fh = (uintptr_t)h;
		fs_ref_open(fs, ino, 1);
		if (fuse_reply_open(req, fi) != 0) {
			fs_ref_open(fs, ino, -1);
			free(h);
		}
		return;
	}
	if (plug != NULL) {
		rv = fs_plug_render(plug, &h->plug_data, &h->plug_len);
		if (rv != 0) {
			free(h);
			fuse_reply_err(req, -rv);
			return;
		}
	}
	if (fs_handle_open_holds_trunc(fi->flags, a.size))
		h->trunc_pending = true;
	/* Every descriptor uses direct I/O (fs_file_open_flags): writes so
	 * that one write(2) is one request (see the top of this file), reads
	 * because the kernel's idea of the size is not always ours (a held
	 * O_TRUNC, remote changes; docs/architecture.md says why the page
	 * cache cannot serve reads here). Typed values are normalized by the
	 * cluster: never serve the bytes the writer sent from a cache. */
	fs_file_open_flags(fi);
	if (ns_is_typed(a.parent) && !S_ISDIR(a.mode))
		h->typed = true;
	fi->fh = (uintptr_t)h;
	fs_ref_open(fs, ino, 1);
	if (h->trunc_pending)
		fs_trunc_join(fs, ino, h);
	if (fuse_reply_open(req, fi) != 0) {
		if (h->trunc_pending)
			fs_trunc_set(fs, ino, false);
		fs_ref_open(fs, ino, -1);
		free(h->plug_data);
		free(h);
	}
}

void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_handle *h;
	struct fs_op *op;
	struct entry e;
	int rv;

	if (fs_replay_make(fs, req, fi))
		return;
	rv = fs_check_new_name(fs, parent, name, S_IFREG | (mode & 07777));
	if (rv != 0) {
		fuse_reply_err(req, -rv);
		return;
	}
	h = fs_handle_new(0, fi->flags);
	if (h == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (ns_is_typed(parent)) {
		const struct fuse_ctx *ctx = fuse_req_ctx(req);
		struct fs_pending *p;
		struct store_attr a;
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		p = fs_pending_new(fs_new_ino(fs), parent, name, mode, ctx->uid, ctx->gid,
				   (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
		if (p == NULL) {
			free(h);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		HASH_ADD(hh, fs->pending, ino, sizeof(p->ino), p);
		h->ino = p->ino;
		h->typed = true;
		fs_getattr_any(fs, p->ino, &a);
		struct fuse_entry_param ep;
		memset(&ep, 0, sizeof(ep));
		ep.ino = a.ino;
		fs_attr_to_stat(&a, &ep.attr);
		fi->fh = (uintptr_t)h;
		fs_file_open_flags(fi);
		fs_ref_open(fs, p->ino, 1);
		if (fuse_reply_create(req, &ep, fi) != 0) {
			fs_ref_open(fs, p->ino, -1);
			fs_pending_drop(fs, p->ino);
			free(h);
		} else {
			fs_ref_lookup(fs, p->ino);
		}
		return;
	}
	op = fs_op_new(fs, req, REPLY_CREATE);
	if (op == NULL) {
		free(h);
		return;
	}
	op->h = h;
	fs_file_open_flags(fi); /* see fs_open */
	op->fi = *fi;
	op->trunc_if_existed = (fi->flags & O_TRUNC) != 0;
	fs_entry_init(fs, req, &e, ENTRY_CREATE);
	e.flags = (fi->flags & O_EXCL) ? ENTRY_F_EXCL : 0;
	e.parent = parent;
	e.ino = op->ino = fs_new_ino(fs);
	e.mode = S_IFREG | (mode & 07777);
	e.name = name;
	e.name_len = (uint32_t)strlen(name);
	if (fs_submit(op, &e) != 0)
		free(h); /* the op is gone, the handle is still ours */
}

void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_handle *h = fs_fh(fi);
	size_t n = 0;
	char *buf;
	int rv;

	if (h->plug_data != NULL || fs_plug_of(fs, ino) != NULL) {
		if ((size_t)off >= h->plug_len) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		n = h->plug_len - (size_t)off;
		fuse_reply_buf(req, h->plug_data + off, n < size ? n : size);
		return;
	}
	/* The descriptor that truncated reads the file empty; others on this
	 * node, like readers on every other node, read the old content until
	 * the replacing write commits: `cat f` during `echo x > f` never sees
	 * an empty file. */
	if (fs_trunc_held_by(fs, ino, h) || fs_is_pending(fs, ino)) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	buf = malloc(size > 0 ? size : 1);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rv = store_read(fs->store, ino, (uint64_t)off, size, buf, &n);
	if (rv != 0)
		fuse_reply_err(req, -rv);
	else
		fuse_reply_buf(req, buf, n);
	free(buf);
}

/* The CREATE entry that commits a pending create with @data as content. */
static void fs_pending_entry(struct fs *fs, fuse_req_t req, const struct fs_pending *p,
			     struct entry *e, const void *data, size_t len)
{
	fs_entry_init(fs, req, e, ENTRY_CREATE);
	fs_pending_commit_entry(p, e, data, len);
}

/* Typed values are normalized by the FSM, so the stored bytes are not the
 * bytes the writer sent and the kernel's offsets (of what it sent) stop
 * matching the store — `printf 'address=h:1\n\n type=lan\n'` writes three
 * times. A handle on a typed file therefore keeps the raw bytes written
 * through it and proposes them whole, as a replacement, at every write. */
static int typed_raw_write(struct fs *fs, struct fs_handle *h, uint64_t ino, const char *buf,
			   size_t size, off_t off)
{
	if (!h->raw_loaded) {
		void *data = NULL;
		size_t len = 0;

		if (!fs_trunc_held(fs, ino) && !fs_is_pending(fs, ino) &&
		    store_read_all(fs->store, ino, &data, &len) != 0)
			len = 0;
		h->raw = data;
		h->raw_len = len;
		h->raw_loaded = true;
	}
	return fs_handle_raw_write(h, buf, size, off);
}

static void write_request(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_handle *h = fs_fh(fi);
	struct fs_op *op;
	struct entry e;

	if (fs_plug_of(fs, ino) != NULL) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (h->replay) {
		fuse_reply_write(req, size);
		return;
	}
	if (h->typed) {
		int rv = typed_raw_write(fs, h, ino, buf, size, off);

		if (rv != 0) {
			fuse_reply_err(req, -rv);
			return;
		}
	}
	op = fs_op_new(fs, req, REPLY_WRITE);
	if (op == NULL)
		return;
	op->size = size;
	op->ino = ino;
	op->h = h;
	op->typed_raw = h->typed;
	/* A typed value is stored normalized: the kernel's pages of the
	 * mapping that wrote it back hold the raw bytes (fs_op_done). */
	op->drop_pages = fi->writepage && h->typed;
	if (fs_is_pending(fs, ino)) {
		struct fs_pending *p;

		HASH_FIND(hh, fs->pending, &ino, sizeof(ino), p);
		op->commits_pending = true;
		fs_pending_entry(fs, req, p, &e, h->raw, h->raw_len);
		fs_submit(op, &e);
		return;
	}
	if (h->typed) {
		fs_entry_init(fs, req, &e, ENTRY_WRITE);
		e.ino = ino;
		e.flags = ENTRY_F_REPLACE | ENTRY_F_TYPED;
		e.data = h->raw;
		e.data_len = (uint32_t)h->raw_len;
		op->clear_trunc = fs_trunc_held(fs, ino);
		fs_submit(op, &e);
		return;
	}
	fs_entry_init(fs, req, &e, ENTRY_WRITE);
	e.ino = ino;
	e.offset = (uint64_t)off;
	e.data = buf;
	e.data_len = (uint32_t)size;
	e.flags |= fs_handle_write_flags(h, fs_trunc_held(fs, ino));
	if (e.flags & ENTRY_F_REPLACE) {
		/* NULs up to the offset, then the data; an append starts the
		 * truncated content. */
		e.offset = fs_handle_replace_offset(h, (uint64_t)off);
		op->clear_trunc = true;
	}
	fs_submit(op, &e);
}

void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	      struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_handle *h = fs_fh(fi);

	/* The kernel writing back a page of a shared mapping (msync, munmap,
	 * its writeback) sends it through any writable descriptor of the
	 * file: the page goes at its offset even through an O_APPEND one, as
	 * on tmpfs. */
	if (fi->writepage && fs_plug_of(fs, ino) == NULL && h->append) {
		h->append = false;
		write_request(req, ino, buf, size, off, fi);
		h->append = true;
		return;
	}
	write_request(req, ino, buf, size, off, fi);
}

/* Nothing is committed at FLUSH (see the top of this file). */
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void release_free(struct fs *fs, fuse_ino_t ino, struct fs_handle *h)
{
	free(h->raw);
	if (fs_is_pending(fs, ino))
		fs_pending_drop(fs, ino); /* never committed: it vanishes */
	fs_ref_open(fs, ino, -1);
	free(h->plug_data);
	free(h);
}

/* The last close: commit what the handle still holds back (an O_TRUNC with
 * no write, a create in a typed directory with no write). Nobody can be told
 * of a failure any more; it is logged. */
static void release_done(void *arg, int64_t result)
{
	struct fs_op *op = arg;
	struct fs *fs = op->fs;

	fs->in_flight--;
	if (result < 0)
		log_info("a change committed at close was refused: %s", strerror((int)-result));
	if (op->clear_trunc)
		fs_trunc_set(fs, op->ino, false);
	release_free(fs, op->ino, op->h);
	fuse_reply_err(op->req, 0);
	free(op);
}

void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_handle *h = fs_fh(fi);
	struct entry_buf b;
	struct fs_op *op;
	enum fs_release_commit commit;
	struct entry e;
	int rv;

	commit = fs_handle_release_commit(h, fs_is_pending(fs, ino), fs_trunc_held_by(fs, ino, h));
	if (commit == FS_RELEASE_NOTHING) {
		release_free(fs, ino, h);
		fuse_reply_err(req, 0);
		return;
	}
	op = calloc(1, sizeof(*op));
	if (op == NULL) {
		release_free(fs, ino, h);
		fuse_reply_err(req, 0);
		return;
	}
	op->fs = fs;
	op->req = req;
	op->ino = ino;
	op->h = h;
	if (commit == FS_RELEASE_CREATE) {
		struct fs_pending *p;

		HASH_FIND(hh, fs->pending, &h->ino, sizeof(h->ino), p);
		fs_pending_entry(fs, req, p, &e, NULL, 0);
	} else {
		fs_entry_init(fs, req, &e, ENTRY_SETATTR);
		e.ino = ino;
		e.valid = ENTRY_SET_SIZE;
		e.size = 0;
		op->clear_trunc = true;
		fs_trunc_fused(fs, ino);
	}
	rv = entry_encode(&e, &b);
	if (rv == 0)
		rv = fs->log.submit(fs->log.impl, &b, release_done, op);
	fs->in_flight++;
	if (rv != 0)
		release_done(op, rv);
}

bool fs_trunc_held(struct fs *fs, uint64_t ino)
{
	struct fs_ref *r = fs_ref_get(fs, ino, false);

	return r != NULL && r->trunc_held;
}

void fs_trunc_set(struct fs *fs, uint64_t ino, bool held)
{
	struct fs_ref *r = fs_ref_get(fs, ino, false);

	/* Only an inode the kernel holds (open) can have one. */
	if (r != NULL)
		r->trunc_held = held;
}

/* @h, opened with O_TRUNC, truncates the file: held until committed. */
void fs_trunc_join(struct fs *fs, uint64_t ino, struct fs_handle *h)
{
	struct fs_ref *r = fs_ref_get(fs, ino, false);

	fs_trunc_set(fs, ino, true);
	h->trunc_gen = r != NULL ? r->trunc_gen : 0;
}

/* Is the held truncation still @h's own, one that no entry proposed since
 * its open commits? Two descriptors rewriting one file on this node: the
 * first one's write committed its truncation, then the second one's open
 * holds another; the first one's close must not commit that one too — it
 * would land after the second one's write and empty the file. */
bool fs_trunc_held_by(struct fs *fs, uint64_t ino, const struct fs_handle *h)
{
	struct fs_ref *r = fs_ref_get(fs, ino, false);

	return h->trunc_pending && r != NULL && r->trunc_held && r->trunc_gen == h->trunc_gen;
}

/* An entry that commits the held truncation is proposed: the handles that
 * opened with O_TRUNC so far have theirs committed by it. */
void fs_trunc_fused(struct fs *fs, uint64_t ino)
{
	struct fs_ref *r = fs_ref_get(fs, ino, false);

	if (r != NULL)
		r->trunc_gen++;
}

/* --- the rules, without FUSE (handles.h) ------------------------------------------ */

bool fs_handle_open_holds_trunc(int flags, uint64_t size)
{
	/* Linux truncates at open(O_RDONLY | O_TRUNC) too (the kernel has
	 * checked write permission), as tmpfs does. */
	return (flags & O_TRUNC) && size > 0;
}

bool fs_handle_create_holds_trunc(bool o_trunc, uint64_t proposed, uint64_t got, uint64_t size)
{
	/* Another node created the name first: we opened its file, and
	 * O_TRUNC applies to it. */
	return o_trunc && got != proposed && size > 0;
}

uint32_t fs_handle_write_flags(const struct fs_handle *h, bool trunc_held)
{
	if (trunc_held) {
		/* O_TRUNC + this write: one "replace content" entry (an append
		 * too: it starts the truncated content). */
		return ENTRY_F_REPLACE;
	} else if (h->append) {
		/* The kernel's offset may be stale: append where the content
		 * ends when the entry is applied (DESIGN §3). */
		return ENTRY_F_APPEND;
	}
	return 0;
}

uint64_t fs_handle_replace_offset(const struct fs_handle *h, uint64_t off)
{
	return h->append ? 0 : off;
}

int fs_handle_raw_write(struct fs_handle *h, const char *buf, size_t size, off_t off)
{
	uint64_t at, end;

	at = h->append ? h->raw_len : (uint64_t)off;
	end = at + size;
	if (end > STORE_DEFAULT_MAX_FILE)
		return -EFBIG;
	if (end > h->raw_len) {
		char *grown = realloc(h->raw, end);

		if (grown == NULL)
			return -ENOMEM;
		memset(grown + h->raw_len, 0, end - h->raw_len);
		h->raw = grown;
		h->raw_len = end;
	}
	memcpy(h->raw + at, buf, size);
	return 0;
}

void fs_handle_refused(struct fs_handle *h)
{
	h->refused = true;
	/* refused: start again from what the store holds */
	free(h->raw);
	h->raw = NULL;
	h->raw_len = 0;
	h->raw_loaded = false;
}

enum fs_release_commit fs_handle_release_commit(const struct fs_handle *h, bool pending,
						bool trunc_held)
{
	/* A create whose value was refused leaves nothing behind: committing
	 * it empty at close would be refused too, or create what the writer
	 * was told failed. */
	if (h->replay || (h->refused && pending))
		return FS_RELEASE_NOTHING;
	if (pending)
		return FS_RELEASE_CREATE;
	/* The truncation is still held (no write or truncate fused it, none
	 * was refused): the close of a descriptor that opened with O_TRUNC
	 * commits it. */
	return h->trunc_pending && trunc_held ? FS_RELEASE_TRUNCATE : FS_RELEASE_NOTHING;
}

struct fs_pending *fs_pending_new(uint64_t ino, uint64_t parent, const char *name, mode_t mode,
				  uint32_t uid, uint32_t gid, int64_t ctime_ns)
{
	struct fs_pending *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->ino = ino;
	p->parent = parent;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->mode = S_IFREG | (mode & 07777);
	p->uid = uid;
	p->gid = gid;
	p->ctime_ns = ctime_ns;
	return p;
}

/* O_EXCL: another node may have created the name meanwhile, and what was
 * meant for a new file must not land in its file. */
void fs_pending_commit_entry(const struct fs_pending *p, struct entry *e, const void *data,
			     size_t len)
{
	e->flags = ENTRY_F_EXCL;
	e->parent = p->parent;
	e->ino = p->ino;
	e->mode = p->mode;
	e->uid = p->uid;
	e->gid = p->gid;
	e->name = p->name;
	e->name_len = (uint32_t)strlen(p->name);
	e->data = data;
	e->data_len = (uint32_t)len;
}
