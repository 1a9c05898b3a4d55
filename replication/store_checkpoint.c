/*
 * The store's WAL checkpoints, off the loop thread; see store_internal.h.
 *
 * sqlite checkpoints a WAL-mode database automatically, inside the commit
 * that crossed wal_autocheckpoint pages (1000): with synchronous=NORMAL
 * that commit then syncs the WAL, copies the pages into the database file
 * and syncs it — milliseconds of the loop thread, once every couple of
 * hundred writes, which showed in every write's p99 (issue 15: 2.5 ms on
 * the leader, 1.7 ms without checkpoints). Here the main connection's WAL
 * hook (which replaces sqlite's automatic one) only wakes a thread of the
 * store's own, which opens a connection of its own and runs a PASSIVE
 * checkpoint: it copies what no reader still needs, never waits for the
 * writer and never makes it wait, and sqlite restarts the WAL from its
 * start at the next commit after a complete one. Writes that never pause
 * keep any round from completing: past STORE_CKPT_HARD_PAGES the commit
 * finishes one itself (see ckpt_hook), so the WAL stays bounded. A round
 * asked for by store_ckpt_request (the vacuum, so that the file shrinks)
 * that did not finish is run again every STORE_CKPT_RETRY_MS until it
 * does: on a node that writes no more, nothing else would. An I/O error of
 * a round is remembered for store_write_error.
 *
 * Threads: the hook and store_ckpt_start/stop run in the thread that owns
 * the store (the loop thread); the checkpoint runs in the checkpointer.
 * store_ckpt_stop waits for a checkpoint in progress (milliseconds), so
 * nothing checkpoints while the store's file is replaced or closed.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/log.h"
#include "store_internal.h"

struct store_ckpt {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool wanted, stop;
	uint64_t done; /* checkpoints run (store_ckpt_count) */
	int woken_at;  /* WAL pages when the last round was asked for (hook) */
	atomic_int io_error; /* the first I/O error of a round (store_write_error) */
	/* A round asked for by store_ckpt_request (the vacuum) that
	 * did not finish is run again, up to STORE_CKPT_RETRIES times. */
	bool requested;
	unsigned retries;
	struct timespec retry_at; /* CLOCK_MONOTONIC; retries > 0 */
	char path[];
};

/* Did a checkpoint that ended with @ext (an extended sqlite code) fail to
 * write or sync the store's files? Those are the errors after which the
 * kernel may have dropped pages; failures to open, map, lock or read are
 * not. */
static bool ckpt_lost_writes(int ext)
{
	return ext == SQLITE_IOERR_WRITE || ext == SQLITE_IOERR_FSYNC ||
	       ext == SQLITE_IOERR_TRUNCATE;
}

static void ckpt_log_lost_writes(int ext, const char *msg)
{
	log_error("checkpoint of the store's WAL failed: %s (sqlite error %d): the store's files "
		  "may have lost writes; this node stops",
		  msg, ext);
}

/* Keep the first such error of @c (any thread). */
static void ckpt_note_error(struct store_ckpt *c, int ext, const char *msg)
{
	int none = 0;

	if (ckpt_lost_writes(ext) && atomic_compare_exchange_strong(&c->io_error, &none, ext))
		ckpt_log_lost_writes(ext, msg);
}

static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct store_ckpt *c = arg;

	/* Under writes without a pause the checkpointer never completes (each
	 * round ends behind the newest commit), and only a complete one lets
	 * sqlite start the WAL over: the writer then finishes a round itself,
	 * which costs little as the checkpointer copied most pages already. */
	if (pages >= STORE_CKPT_HARD_PAGES &&
	    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) != SQLITE_OK)
		ckpt_note_error(c, sqlite3_extended_errcode(db), sqlite3_errmsg(db));
	/* One round per STORE_CKPT_PAGES new pages: a round that ends behind
	 * the writer is not started over at the next commit (back-to-back
	 * rounds are back-to-back fsyncs, competing with raft's log writes). */
	if (pages < c->woken_at)
		c->woken_at = 0; /* the WAL started over */
	if (pages >= STORE_CKPT_PAGES && pages - c->woken_at >= STORE_CKPT_PAGES) {
		c->woken_at = pages;
		pthread_mutex_lock(&c->lock);
		if (!c->wanted) {
			c->wanted = true;
			pthread_cond_signal(&c->cond);
		}
		pthread_mutex_unlock(&c->lock);
	}
	return SQLITE_OK;
}

/* Is the database file no larger than the pages it holds? sqlite cuts the
 * file to its size (after a vacuum gave pages back) only at the end of a
 * round that copied every frame and saw no commit meanwhile. */
static bool ckpt_file_cut(sqlite3 *db, const char *path)
{
	sqlite3_stmt *st = NULL;
	long long pages = -1, page_size = -1;
	struct stat sb;

	if (sqlite3_prepare_v2(db, "SELECT page_count, page_size FROM pragma_page_count, "
				   "pragma_page_size",
			       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		pages = sqlite3_column_int64(st, 0);
		page_size = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return pages >= 0 && page_size > 0 && stat(path, &sb) == 0 &&
	       (long long)sb.st_size <= pages * page_size;
}

/* One PASSIVE round; true if it copied every frame of the WAL as it found
 * it and the database file is cut to its pages. */
static bool ckpt_run(struct store_ckpt *c)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	int log_frames = -1, copied = -1;
	bool finished;

	/* The same durability as the main connection's checkpoints: the WAL
	 * synced before its pages are copied, the database file after. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &log_frames,
					       &copied);
	/* BUSY: another checkpoint runs (the writer's, past the hard limit);
	 * a requested round is run again (ckpt_after). A failed write or sync
	 * of the WAL or the database file is remembered: the kernel may have
	 * dropped the pages it could not write, and a later sync that succeeds
	 * does not bring them back (store_write_error: the node stops). */
	if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
		int ext = db != NULL ? sqlite3_extended_errcode(db) : rc;
		const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

		if (ckpt_lost_writes(ext))
			ckpt_note_error(c, ext, msg);
		else
			log_warn("checkpoint of the store's WAL failed: %s", msg);
	}
	finished = rc == SQLITE_OK && copied == log_frames && ckpt_file_cut(db, c->path);
	sqlite3_close(db);
	log_debug("store checkpoint: %d of %d WAL frames copied (sqlite %d)%s", copied, log_frames,
		  rc, finished ? "" : ": not finished");
	return finished;
}

/* Wait until a round is wanted (or the next retry is due); false when
 * stopping. With c->lock held. */
static bool ckpt_wait(struct store_ckpt *c)
{
	while (!c->wanted && !c->stop) {
		if (c->retries == 0)
			pthread_cond_wait(&c->cond, &c->lock);
		else if (pthread_cond_timedwait(&c->cond, &c->lock, &c->retry_at) == ETIMEDOUT)
			c->wanted = true;
	}
	return !c->stop;
}

/* After a round: a requested one that did not finish (a reader still
 * needed the frames, another checkpoint held the lock) is due again in
 * STORE_CKPT_RETRY_MS; nothing else would run it on a node that writes no
 * more (the hook wakes the thread only every STORE_CKPT_PAGES pages). With
 * c->lock held. */
static void ckpt_after(struct store_ckpt *c, bool requested, bool finished)
{
	if (finished || !requested || c->retries >= STORE_CKPT_RETRIES ||
	    atomic_load(&c->io_error) != 0) {
		if (!finished && requested && c->retries >= STORE_CKPT_RETRIES)
			log_info("a requested checkpoint of the store's WAL did not finish after "
				 "%u tries (a reader or the writer kept it from it); the file "
				 "shrinks at a later one", c->retries);
		c->retries = 0;
		return;
	}
	c->retries++;
	c->requested = true;
	clock_gettime(CLOCK_MONOTONIC, &c->retry_at);
	c->retry_at.tv_nsec += (long)STORE_CKPT_RETRY_MS * 1000000;
	c->retry_at.tv_sec += c->retry_at.tv_nsec / 1000000000;
	c->retry_at.tv_nsec %= 1000000000;
}

static void *ckpt_main(void *arg)
{
	struct store_ckpt *c = arg;

	pthread_mutex_lock(&c->lock);
	while (ckpt_wait(c)) {
		bool requested = c->requested, finished;

		c->wanted = false;
		c->requested = false;
		pthread_mutex_unlock(&c->lock);
		finished = ckpt_run(c);
		pthread_mutex_lock(&c->lock);
		c->done++;
		ckpt_after(c, requested, finished);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

void store_ckpt_start(struct store *s)
{
	const char *path = sqlite3_db_filename(s->db, "main");
	struct store_ckpt *c;
	size_t len;

	if (s->ckpt != NULL || path == NULL || path[0] == '\0')
		return; /* running, or an in-memory store (no WAL) */
	len = strlen(path);
	c = calloc(1, sizeof(*c) + len + 1);
	if (c == NULL)
		return; /* sqlite's automatic checkpoints stay */
	memcpy(c->path, path, len + 1);
	pthread_mutex_init(&c->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* retry_at */
		pthread_cond_init(&c->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->lock);
		free(c);
		return;
	}
	s->ckpt = c;
	sqlite3_wal_hook(s->db, ckpt_hook, c);
}

void store_ckpt_stop(struct store *s)
{
	struct store_ckpt *c = s->ckpt;

	if (c == NULL)
		return;
	/* Back to sqlite's own checkpoints while the connection lives on. */
	if (s->db != NULL)
		sqlite3_wal_autocheckpoint(s->db, STORE_CKPT_PAGES);
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	if (s->write_error == 0)
		s->write_error = atomic_load(&c->io_error);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
	s->ckpt = NULL;
}

void store_ckpt_request(struct store *s)
{
	struct store_ckpt *c = s->ckpt;

	if (c == NULL) {
		if (sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) !=
			    SQLITE_OK &&
		    ckpt_lost_writes(sqlite3_extended_errcode(s->db)) && s->write_error == 0) {
			s->write_error = sqlite3_extended_errcode(s->db);
			ckpt_log_lost_writes(s->write_error, sqlite3_errmsg(s->db));
		}
		return;
	}
	pthread_mutex_lock(&c->lock);
	c->wanted = true;
	c->requested = true;
	c->retries = 0; /* a new request, a new budget */
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

uint64_t store_ckpt_count(struct store *s)
{
	uint64_t n;

	if (s->ckpt == NULL)
		return 0;
	pthread_mutex_lock(&s->ckpt->lock);
	n = s->ckpt->done;
	pthread_mutex_unlock(&s->ckpt->lock);
	return n;
}

int store_write_error(struct store *s)
{
	if (s->write_error != 0 || s->ckpt == NULL)
		return s->write_error;
	return atomic_load(&s->ckpt->io_error);
}

void store_stop_lost_writes(const char *why)
{
	log_error("%s: stopping: the store may have lost writes that only raft's log still "
		  "holds, and a snapshot would let raft drop them; check the disk (dmesg), then "
		  "restart clusterfsd, which applies them again from the log",
		  why);
	abort();
}
