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
 * finishes one itself (see ckpt_hook), so the WAL stays bounded.
 *
 * Threads: the hook and store_ckpt_start/stop run in the thread that owns
 * the store (the loop thread); the checkpoint runs in the checkpointer.
 * store_ckpt_stop waits for a checkpoint in progress (milliseconds), so
 * nothing checkpoints while the store's file is replaced or closed.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "store_internal.h"

struct store_ckpt {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool wanted, stop;
	uint64_t done; /* checkpoints run (store_ckpt_count) */
	int woken_at;  /* WAL pages when the last round was asked for (hook) */
	char path[];
};

static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct store_ckpt *c = arg;

	/* Under writes without a pause the checkpointer never completes (each
	 * round ends behind the newest commit), and only a complete one lets
	 * sqlite start the WAL over: the writer then finishes a round itself,
	 * which costs little as the checkpointer copied most pages already. */
	if (pages >= STORE_CKPT_HARD_PAGES)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
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

static void ckpt_run(struct store_ckpt *c)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);

	/* The same durability as the main connection's checkpoints: the WAL
	 * synced before its pages are copied, the database file after. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	/* BUSY: another checkpoint (a vacuum's) runs; the next hook retries. */
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		log_warn("checkpoint of the store's WAL failed: %s",
			 db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	sqlite3_close(db);
}

static void *ckpt_main(void *arg)
{
	struct store_ckpt *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->wanted && !c->stop)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->stop)
			break;
		c->wanted = false;
		pthread_mutex_unlock(&c->lock);
		ckpt_run(c);
		pthread_mutex_lock(&c->lock);
		c->done++;
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
	pthread_cond_init(&c->cond, NULL);
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
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
	s->ckpt = NULL;
}

void store_ckpt_request(struct store *s)
{
	struct store_ckpt *c = s->ckpt;

	if (c == NULL) {
		sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		return;
	}
	pthread_mutex_lock(&c->lock);
	c->wanted = true;
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
