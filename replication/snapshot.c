/*
 * Snapshot markers, images made off the loop, and the snapshot_get wrapper;
 * see snapshot.h for the design and the threading rule.
 */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/loop_watch.h"
#include "store_vacuum.h"

/* Bytes of the sqlite header that give the journal format (sqlite file
 * format: offsets 18 and 19, 1 = rollback journal, 2 = WAL): an image is
 * loaded in memory, where WAL is not available. */
#define SQLITE_HDR_WRITE_VERSION 18
#define SQLITE_HDR_READ_VERSION 19
/* How long the image's reader waits for a lock (WAL readers normally never
 * wait; a checkpoint restarting the WAL can hold one briefly). */
#define SNAPSHOT_BUSY_TIMEOUT_MS 5000
/* Raft servers one process may wrap (one in clusterfsd, a few in tests). */
#define SNAPSHOT_MAX_IOS 16

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

bool snapshot_is_marker(const void *buf, size_t len, uint64_t *applied)
{
	const unsigned char *p = buf;

	if (len != SNAPSHOT_MARKER_SIZE || memcmp(p, SNAPSHOT_MARKER_MAGIC, 8) != 0 ||
	    get_le64(p + 8) != SNAPSHOT_MARKER_FORMAT)
		return false;
	if (applied != NULL)
		*applied = get_le64(p + 16);
	return true;
}

/* fdatasync the store's WAL, opened as @fd (-1: there is none). With
 * journal_mode=WAL and synchronous=NORMAL a commit is not synced, but sqlite
 * syncs the WAL before every checkpoint and the database file after it,
 * and restarts the WAL only after that: so once the WAL is synced every
 * transaction committed before the sync began is durable. Commits made
 * meanwhile by the loop are not waited for. The WAL holds at most what was
 * written since the last checkpoint (about a thousand pages), which bounds
 * the cost. Any thread. */
static int snapshot_sync_wal(int fd)
{
	return fd < 0 || fdatasync(fd) == 0 ? 0 : -errno;
}

int (*snapshot_wal_sync)(int fd) = snapshot_sync_wal;

/* A marker for @applied (raft_malloc'd). */
static int snapshot_marker_make(uint64_t applied, void **buf, size_t *len)
{
	unsigned char *p = raft_malloc(SNAPSHOT_MARKER_SIZE);

	if (p == NULL)
		return -ENOMEM;
	memset(p, 0, SNAPSHOT_MARKER_SIZE);
	memcpy(p, SNAPSHOT_MARKER_MAGIC, 8);
	put_le64(p + 8, SNAPSHOT_MARKER_FORMAT);
	put_le64(p + 16, applied);
	*buf = p;
	*len = SNAPSHOT_MARKER_SIZE;
	return 0;
}

int snapshot_marker_take(struct store *s, void **buf, size_t *len)
{
	uint64_t applied = store_applied_index(s);
	int rv;

	rv = snapshot_marker_make(applied, buf, len);
	if (rv != 0)
		return rv;
	log_debug_at(0, applied, "snapshot marker at applied index %llu",
		     (unsigned long long)applied);
	return 0;
}

int snapshot_marker_restore(struct store *s, const void *buf, size_t len)
{
	uint64_t applied = 0;

	if (!snapshot_is_marker(buf, len, &applied))
		return -EINVAL;
	if (store_applied_index(s) < applied) {
		log_error("the store has applied index %llu but raft's last snapshot says it "
			  "held %llu: the store lost transactions that the raft log no longer "
			  "has; restore this node's data directory from a backup, or remove it "
			  "and join the cluster afresh",
			  (unsigned long long)store_applied_index(s), (unsigned long long)applied);
		return -EUCLEAN;
	}
	return 0;
}

static int sqlite_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	default:
		return -EIO;
	}
}

int snapshot_image(const char *path, void **buf, size_t *len, uint64_t *applied)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	sqlite3_int64 size = 0;
	unsigned char *img = NULL;
	int rc, rv;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rv = sqlite_errno(rc);
		goto out;
	}
	sqlite3_busy_timeout(db, SNAPSHOT_BUSY_TIMEOUT_MS);
	/* One read transaction: the applied index and every page come from
	 * the same state of the store. */
	rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'applied'", -1, &st,
					NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st) == SQLITE_ROW ? SQLITE_OK : SQLITE_CORRUPT;
	if (rc != SQLITE_OK) {
		rv = sqlite_errno(rc);
		goto out;
	}
	*applied = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	img = sqlite3_serialize(db, "main", &size, 0);
	if (img == NULL || size <= SQLITE_HDR_READ_VERSION) {
		rv = -ENOMEM;
		goto out;
	}
	*buf = raft_malloc((size_t)size);
	if (*buf == NULL) {
		rv = -ENOMEM;
		goto out;
	}
	memcpy(*buf, img, (size_t)size);
	((unsigned char *)*buf)[SQLITE_HDR_WRITE_VERSION] = 1;
	((unsigned char *)*buf)[SQLITE_HDR_READ_VERSION] = 1;
	*len = (size_t)size;
	rv = 0;
out:
	sqlite3_free(img);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rv;
}

/* --- the snapshot_get wrapper ---------------------------------------------- */

static struct snapshot_io *snapshot_ios[SNAPSHOT_MAX_IOS];

static struct snapshot_io *snapshot_io_of(struct raft_io *io)
{
	for (int i = 0; i < SNAPSHOT_MAX_IOS; i++)
		if (snapshot_ios[i] != NULL && snapshot_ios[i]->io == io)
			return snapshot_ios[i];
	return NULL;
}

/* One snapshot_get in flight. raft_uv does not use req->data (the caller's),
 * so it points here until raft's callback gets it back. */
struct snapshot_get {
	uv_work_t work;
	struct snapshot_io *w;
	struct raft_io_snapshot_get *req;
	void *req_data;
	raft_io_snapshot_get_cb cb;
	struct raft_snapshot *snapshot;
	uint64_t marker_applied;
	void *img;
	size_t img_len;
	uint64_t img_applied;
	uint64_t took_us;
	int status;
};

static void snapshot_get_work(uv_work_t *work)
{
	struct snapshot_get *g = work->data;
	uint64_t t0 = now_us();

	g->status = snapshot_image(g->w->path, &g->img, &g->img_len, &g->img_applied);
	if (g->status == 0 && g->img_applied < g->marker_applied) {
		/* The leader's store went back behind its own snapshot: never
		 * send a state older than what raft believes it holds. */
		raft_free(g->img);
		g->img = NULL;
		g->status = -ESTALE;
	}
	g->took_us = now_us() - t0;
}

static void snapshot_get_finish(struct snapshot_get *g)
{
	struct raft_io_snapshot_get *req = g->req;
	raft_io_snapshot_get_cb cb = g->cb;
	struct raft_snapshot *snap = g->snapshot;
	int status = 0;

	req->data = g->req_data;
	if (g->w->closing && g->status == 0)
		g->status = -ECANCELED;
	if (g->status != 0) {
		log_warn("cannot make an image of the store for a follower: %s",
			 strerror(-g->status));
		raft_free(g->img);
		for (unsigned i = 0; i < snap->n_bufs; i++)
			raft_free(snap->bufs[i].base);
		raft_free(snap->bufs);
		raft_configuration_close(&snap->configuration);
		raft_free(snap);
		snap = NULL;
		status = g->status == -ECANCELED ? RAFT_CANCELED : RAFT_IOERR;
	} else {
		g->w->stats.sent++;
		g->w->stats.send_s = (double)g->took_us / 1e6;
		log_info_at(0, snap->index, "sending a snapshot: image of the store at applied index %llu "
			 "(%zu bytes, raft index %llu) made in %llu ms off the loop",
			 (unsigned long long)g->img_applied, g->img_len,
			 (unsigned long long)snap->index, (unsigned long long)(g->took_us / 1000));
		raft_free(snap->bufs[0].base);
		snap->bufs[0].base = g->img;
		snap->bufs[0].len = g->img_len;
	}
	free(g);
	cb(req, snap, status);
}

static void snapshot_get_done(uv_work_t *work, int status)
{
	struct snapshot_get *g = work->data;
	const char *prev = loop_watch_enter("snapshot: hand an image to raft");

	(void)status;
	g->w->pending--;
	snapshot_get_finish(g);
	loop_watch_leave(prev);
}

/* raft_uv has loaded the last snapshot from disk. */
static void snapshot_get_loaded(struct raft_io_snapshot_get *req, struct raft_snapshot *snap,
				int status)
{
	struct snapshot_get *g = req->data;

	req->data = g->req_data;
	if (status != 0 || snap == NULL || snap->n_bufs != 1 ||
	    !snapshot_is_marker(snap->bufs[0].base, snap->bufs[0].len, &g->marker_applied)) {
		/* An image (a data dir from before markers) or a failure: as is. */
		raft_io_snapshot_get_cb cb = g->cb;

		free(g);
		cb(req, snap, status);
		return;
	}
	req->data = g;
	g->snapshot = snap;
	if (g->w->loop == NULL) {
		snapshot_get_work(&g->work);
		snapshot_get_finish(g);
		return;
	}
	g->work.data = g;
	if (uv_queue_work(g->w->loop, &g->work, snapshot_get_work, snapshot_get_done) != 0) {
		g->status = -EAGAIN;
		snapshot_get_finish(g);
		return;
	}
	g->w->pending++;
}

static int snapshot_io_get(struct raft_io *io, struct raft_io_snapshot_get *req,
			   raft_io_snapshot_get_cb cb)
{
	struct snapshot_io *w = snapshot_io_of(io);
	struct snapshot_get *g;
	int rv;

	if (w == NULL || w->closing)
		return RAFT_CANCELED;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return RAFT_NOMEM;
	g->w = w;
	g->req = req;
	g->cb = cb;
	g->req_data = req->data;
	req->data = g;
	rv = w->get(io, req, snapshot_get_loaded);
	if (rv != 0) {
		req->data = g->req_data;
		free(g);
	}
	return rv;
}

/* --- the snapshot_put wrapper: a follower's install by a file swap ----------- */

void snapshot_install_cleanup(const char *store_path)
{
	static const char *const sides[] = {"", "-journal", "-wal", "-shm"};
	char p[4096 + 32];

	for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
		snprintf(p, sizeof(p), "%s" SNAPSHOT_INSTALL_SUFFIX "%s", store_path, sides[i]);
		if (unlink(p) == 0)
			log_warn("removed %s, left by an interrupted snapshot install", p);
	}
}

/* Fault injection for the crash tests (test_snapshot_install.sh): with
 * CLUSTERFS_CRASH_AT=<step> in its environment the process kills itself
 * (SIGKILL: no cleanup) at that step of an install, so that each state the
 * data dir can be left in is started from. Steps, in order: "written" (the
 * new file checked, the store untouched), "swapped" (the new store in
 * place, raft's put not made), "put" (raft's marker written, fsm->restore
 * not run). */
static void snapshot_crash_point(const char *step)
{
	const char *at = getenv("CLUSTERFS_CRASH_AT");

	if (at != NULL && strcmp(at, step) == 0) {
		log_warn("snapshot install: crashing after step '%s' (CLUSTERFS_CRASH_AT)", step);
		raise(SIGKILL);
	}
}

/* One install in flight (raft runs one put at a time: it refuses an
 * InstallSnapshot while a put is pending). */
struct snapshot_install {
	uv_work_t work;
	struct snapshot_io *w;
	struct raft_io_snapshot_put *req;  /* raft's */
	struct raft_snapshot *snapshot;	   /* raft's: bufs[0] is the image */
	raft_io_snapshot_put_cb cb;	   /* raft's */
	struct raft_io_snapshot_put put;   /* ours, to the wrapped io */
	struct raft_snapshot marked;	   /* raft's snapshot, a marker as data */
	struct raft_buffer marker;
	char path[sizeof(((struct snapshot_io *)0)->path) + sizeof(SNAPSHOT_INSTALL_SUFFIX)];
	uint64_t applied; /* the image's */
	uint64_t took_us;
	uint64_t start_us; /* when raft handed the image over */
	int status;
};

/* Write @len bytes and make them durable. */
static int write_synced(const char *path, const void *buf, size_t len)
{
	const char *p = buf;
	int fd, rv = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rv = n < 0 ? -errno : -EIO;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (rv == 0 && fsync(fd) != 0)
		rv = -errno;
	close(fd);
	return rv;
}

/* Worker: the image becomes a checked, synced store file. Touches only the
 * image (raft does not free it before the put's callback) and that file. */
static void snapshot_install_work(uv_work_t *work)
{
	struct snapshot_install *in = work->data;
	const struct raft_buffer *img = &in->snapshot->bufs[0];
	uint64_t t0 = now_us();

	in->status = write_synced(in->path, img->base, img->len);
	if (in->status == 0)
		in->status = store_file_check(in->path, &in->applied);
	if (in->status != 0)
		unlink(in->path);
	in->took_us = now_us() - t0;
}

/* raft_uv has written the marker (and dropped the log it replaces). */
static void snapshot_install_put_done(struct raft_io_snapshot_put *put, int status)
{
	struct snapshot_install *in = put->data;
	struct raft_io_snapshot_put *req = in->req;
	raft_io_snapshot_put_cb cb = in->cb;

	if (status == 0)
		snapshot_crash_point("put");
	/* raft's fsm->restore gets the buffer it handed to the put: the
	 * marker now, which the store is at. */
	raft_free(in->snapshot->bufs[0].base);
	in->snapshot->bufs[0] = in->marker;
	in->w->installing = false;
	free(in);
	cb(req, status);
}

/* Give raft's put to the wrapped io as it came (the image): fsm->restore
 * will copy it on the loop. */
static void snapshot_install_as_image(struct snapshot_install *in)
{
	struct snapshot_io *w = in->w;
	struct raft_io_snapshot_put *req = in->req;
	struct raft_snapshot *snapshot = in->snapshot;
	raft_io_snapshot_put_cb cb = in->cb;
	int rv;

	w->installing = false;
	free(in);
	rv = w->closing ? RAFT_CANCELED : w->put(w->io, 0, req, snapshot, cb);
	if (rv != 0)
		cb(req, rv); /* raft frees the image and the configuration */
}

static void snapshot_install_done(uv_work_t *work, int status)
{
	struct snapshot_install *in = work->data;
	struct snapshot_io *w = in->w;
	const char *prev = loop_watch_enter("snapshot: swapping in the installed store");
	char err[512] = "";
	uint64_t t0 = now_us();
	bool behind;
	int rv;

	(void)status;
	if (in->status == 0 && w->closing)
		in->status = -ECANCELED;
	if (in->status != 0) {
		if (in->status != -ECANCELED)
			log_warn("cannot install the snapshot from a new store file (%s): "
				 "restoring it on the event loop",
				 strerror(-in->status));
		unlink(in->path);
		snapshot_install_as_image(in);
		goto out;
	}
	snapshot_crash_point("written");
	/* What the store holds committed (store.h: group commit); a commit
	 * that fails leaves it behind, and the FSM applies the entries again. */
	store_batch_end(w->store);
	behind = store_applied_index(w->store) < in->applied;
	if (behind && w->pending == 0) {
		rv = store_replace(w->store, in->path, err, sizeof(err));
		if (rv != 0 && !store_is_open(w->store)) {
			/* The data dir is whole (the new store, raft's old
			 * state): a restart goes on from there. */
			log_error("cannot reopen the store after installing a snapshot: %s; "
				  "stopping",
				  err);
			abort();
		}
		if (rv != 0) {
			log_warn("cannot replace the store by the installed snapshot (%s): "
				 "restoring it on the event loop",
				 err);
			unlink(in->path);
			snapshot_install_as_image(in);
			goto out;
		}
		/* The new file is not yet in the incremental-vacuum layout
		 * only if the leader's store was not; this converts it. */
		if (store_vacuum_setup(w->store) != 0)
			log_warn("the installed store keeps its freed pages");
		snapshot_crash_point("swapped");
	} else if (behind) {
		log_info("an image of the store is being made for a follower: "
			 "restoring the snapshot on the event loop");
		unlink(in->path);
		snapshot_install_as_image(in);
		goto out;
	} else {
		unlink(in->path);
	}
	w->stats.installed++;
	w->stats.install_s = (double)(now_us() - in->start_us) / 1e6;
	log_info_at(0, in->snapshot->index, "snapshot installed: %s: store at applied index %llu (image of %zu bytes at "
		 "%llu, raft index %llu), written and checked in %llu ms off the loop, swapped in "
		 "%llu ms",
		 behind ? "the store file was swapped in" : "the store is already at or past it",
		 (unsigned long long)store_applied_index(w->store), in->snapshot->bufs[0].len,
		 (unsigned long long)in->applied, (unsigned long long)in->snapshot->index,
		 (unsigned long long)(in->took_us / 1000), (unsigned long long)((now_us() - t0) / 1000));
	rv = snapshot_marker_make(in->applied, &in->marker.base, &in->marker.len);
	if (rv == 0) {
		in->marked = *in->snapshot;
		in->marked.bufs = &in->marker;
		in->marked.n_bufs = 1;
		in->put.data = in;
		rv = w->put(w->io, 0, &in->put, &in->marked, snapshot_install_put_done);
	}
	if (rv != 0) {
		/* The store already holds the image: raft's old snapshot and log
		 * are consistent with it; raft rejects and the leader retries. */
		raft_io_snapshot_put_cb cb = in->cb;
		struct raft_io_snapshot_put *req = in->req;

		raft_free(in->marker.base);
		w->installing = false;
		free(in);
		cb(req, rv > 0 ? rv : RAFT_NOMEM);
	}
out:
	loop_watch_leave(prev);
}

/* One snapshot of our own (trailing > 0): the store's WAL synced in a
 * worker (a marker is only a promise that the store holds its index), then
 * written by raft_uv; timed and logged when it is done. Between the two,
 * raft goes on as while raft_uv writes (it takes no other snapshot while
 * this put is pending). */
struct snapshot_take {
	uv_work_t work;
	struct raft_io_snapshot_put put; /* ours, to the wrapped io */
	struct snapshot_io *w;
	struct raft_io *io;
	unsigned trailing;
	struct raft_io_snapshot_put *req;	 /* raft's */
	const struct raft_snapshot *snapshot; /* raft's, valid until its cb */
	raft_io_snapshot_put_cb cb;		 /* raft's */
	uint64_t start_us, index, sync_us;
	size_t len;
	int status;	/* of the sync */
	bool in_worker; /* the sync ran in a libuv worker (not on the loop) */
	int wal_fd;	/* the store's WAL, opened on the loop; -1: none */
	char wal[sizeof(((struct snapshot_io *)0)->path) + 8];
};

static void snapshot_take_done(struct raft_io_snapshot_put *put, int status)
{
	struct snapshot_take *t = put->data;
	struct raft_io_snapshot_put *req = t->req;
	raft_io_snapshot_put_cb cb = t->cb;
	double took_s = (double)(now_us() - t->start_us) / 1e6;

	if (status == 0) {
		t->w->stats.taken++;
		t->w->stats.take_s = took_s;
		log_info_at(0, t->index, "snapshot taken at raft index %llu (%zu bytes) in %.0f ms "
			 "(the store's WAL synced in %.1f ms%s); the log before it is compacted",
			 (unsigned long long)t->index, t->len, took_s * 1000,
			 (double)t->sync_us / 1000, t->in_worker ? " off the loop" : "");
	} else if (status != RAFT_CANCELED) {
		log_warn_at(0, t->index, "snapshot at raft index %llu failed after %.0f ms (raft error %d)",
			 (unsigned long long)t->index, took_s * 1000, status);
	}
	free(t);
	cb(req, status);
}

/* Hand the put to raft_uv once the WAL is synced: 0, or a raft error with
 * @t freed (the caller fails raft's put with it; raft then drops the
 * snapshot and keeps its log). A sync that failed, or a checkpoint that
 * failed to write (store_write_error), stops the node (store.h): the
 * kernel may have dropped the WAL's pages it could not write, so the store
 * may lack transactions that only raft's log holds, and a later sync that
 * succeeds would not say so. A node that is closing only cancels: the put
 * never reaches raft_uv, and its restart applies the log again anyway. */
static int snapshot_take_hand(struct snapshot_take *t)
{
	struct snapshot_io *w = t->w;
	int rv;

	if (t->wal_fd >= 0)
		close(t->wal_fd);
	if (t->status != 0 && !w->closing) {
		char why[sizeof(t->wal) + 128];

		snprintf(why, sizeof(why), "cannot sync the store's WAL (%s) for the snapshot at "
			 "raft index %llu: %s",
			 t->wal, (unsigned long long)t->index, strerror(-t->status));
		store_stop_lost_writes(why);
	}
	if (store_write_error(w->store) != 0 && !w->closing)
		store_stop_lost_writes("a checkpoint of the store failed to write its files");
	if (t->status == 0)
		w->stats.wal_syncs++;
	if (t->status != 0 || w->closing) {
		rv = RAFT_CANCELED;
	} else {
		t->put.data = t;
		rv = w->put(t->io, t->trailing, &t->put, t->snapshot, snapshot_take_done);
	}
	if (rv != 0)
		free(t);
	return rv;
}

static void snapshot_take_sync(uv_work_t *work)
{
	struct snapshot_take *t = work->data;
	uint64_t t0 = now_us();

	t->status = snapshot_wal_sync(t->wal_fd);
	t->sync_us = now_us() - t0;
}

static void snapshot_take_synced(uv_work_t *work, int status)
{
	struct snapshot_take *t = work->data;
	struct raft_io_snapshot_put *req = t->req;
	raft_io_snapshot_put_cb cb = t->cb;
	const char *prev = loop_watch_enter("snapshot: hand our own to raft_uv");
	int rv;

	(void)status;
	t->w->syncing = false;
	t->in_worker = true;
	rv = snapshot_take_hand(t);
	if (rv != 0)
		cb(req, rv);
	loop_watch_leave(prev);
}

static int snapshot_take_put(struct snapshot_io *w, struct raft_io *io, unsigned trailing,
			     struct raft_io_snapshot_put *req, const struct raft_snapshot *snapshot,
			     raft_io_snapshot_put_cb cb)
{
	struct snapshot_take *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return RAFT_NOMEM;
	t->w = w;
	t->io = io;
	t->trailing = trailing;
	t->req = req;
	t->snapshot = snapshot;
	t->cb = cb;
	t->start_us = now_us();
	t->index = snapshot->index;
	for (unsigned i = 0; i < snapshot->n_bufs; i++)
		t->len += snapshot->bufs[i].len;
	/* The WAL is opened here: a failure to open says nothing of lost
	 * writes, and fails the put (raft keeps its log). No WAL: everything
	 * was checkpointed and synced when the last connection closed it. */
	snprintf(t->wal, sizeof(t->wal), "%s-wal", w->path);
	t->wal_fd = open(t->wal, O_WRONLY | O_CLOEXEC);
	if (t->wal_fd < 0 && errno != ENOENT) {
		log_error_at(0, t->index, "cannot open the store's WAL (%s) to sync it for the "
			     "snapshot at raft index %llu: %s; the log is kept",
			     t->wal, (unsigned long long)t->index, strerror(errno));
		free(t);
		return RAFT_IOERR;
	}
	req->cb = cb;
	t->work.data = t;
	if (w->loop == NULL || uv_queue_work(w->loop, &t->work, snapshot_take_sync,
					     snapshot_take_synced) != 0) {
		/* No loop to hand it to (tests), or libuv refused: here. */
		snapshot_take_sync(&t->work);
		return snapshot_take_hand(t);
	}
	w->syncing = true;
	return 0;
}

static int snapshot_io_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
			   const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
	struct snapshot_io *w = snapshot_io_of(io);
	struct snapshot_install *in;

	if (w == NULL || w->closing)
		return RAFT_CANCELED;
	if (trailing != 0)
		return snapshot_take_put(w, io, trailing, req, snapshot, cb);
	/* Anything but one whole image goes through as it is. */
	if (w->loop == NULL || w->installing || snapshot->n_bufs != 1 ||
	    snapshot_is_marker(snapshot->bufs[0].base, snapshot->bufs[0].len, NULL))
		return w->put(io, trailing, req, snapshot, cb);
	in = calloc(1, sizeof(*in));
	if (in == NULL)
		return w->put(io, trailing, req, snapshot, cb);
	in->w = w;
	in->req = req;
	/* raft hands the snapshot as const, and restores from its bufs[0]
	 * once the put is done: that buffer is the one replaced. */
	in->snapshot = (struct raft_snapshot *)snapshot;
	in->cb = cb;
	in->start_us = now_us();
	req->cb = cb;
	snprintf(in->path, sizeof(in->path), "%s" SNAPSHOT_INSTALL_SUFFIX, w->path);
	in->work.data = in;
	if (uv_queue_work(w->loop, &in->work, snapshot_install_work, snapshot_install_done) != 0) {
		free(in);
		return w->put(io, trailing, req, snapshot, cb);
	}
	w->installing = true;
	log_info_at(0, snapshot->index, "installing a snapshot (%zu bytes, raft index %llu) into a new store file "
		 "off the loop",
		 snapshot->bufs[0].len, (unsigned long long)snapshot->index);
	return 0;
}

int snapshot_io_wrap(struct snapshot_io *w, struct raft_io *io, uv_loop_t *loop,
		     struct store *s)
{
	const char *path = sqlite3_db_filename(store_sqlite(s), "main");
	int i;

	memset(w, 0, sizeof(*w));
	if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof(w->path))
		return -EINVAL;
	for (i = 0; i < SNAPSHOT_MAX_IOS && snapshot_ios[i] != NULL && snapshot_ios[i] != w; i++)
		;
	if (i == SNAPSHOT_MAX_IOS)
		return -ENOSPC;
	snapshot_ios[i] = w;
	strcpy(w->path, path);
	w->io = io;
	w->loop = loop;
	w->store = s;
	w->get = io->snapshot_get;
	io->snapshot_get = snapshot_io_get;
	w->put = io->snapshot_put;
	io->snapshot_put = snapshot_io_put;
	return 0;
}

void snapshot_io_close(struct snapshot_io *w)
{
	w->closing = true;
	for (int i = 0; i < SNAPSHOT_MAX_IOS; i++)
		if (snapshot_ios[i] == w)
			snapshot_ios[i] = NULL;
}
