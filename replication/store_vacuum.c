/*
 * Incremental vacuum of the store; see store_vacuum.h. Loop thread only.
 */
#include "store_vacuum.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "../common/log.h"
#include "../common/loop_watch.h"
#include "store_internal.h"

/* sqlite's PRAGMA auto_vacuum values. */
#define AUTO_VACUUM_INCREMENTAL 2

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int pragma_int(sqlite3 *db, const char *sql, long long *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : -EIO;
}

int store_vacuum_setup(struct store *s)
{
	sqlite3 *db = store_sqlite(s);
	long long mode = 0, pages = 0, free_pages = 0;
	char sql[64];
	uint64_t t0;
	int rc;

	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %lld", STORE_VACUUM_WAL_LIMIT);
	if (pragma_int(db, sql, &mode) != 0 || pragma_int(db, "PRAGMA auto_vacuum", &mode) != 0)
		return -EIO;
	if (mode == AUTO_VACUUM_INCREMENTAL)
		return 0;
	pragma_int(db, "PRAGMA page_count", &pages);
	pragma_int(db, "PRAGMA freelist_count", &free_pages);
	log_info("converting the store to incremental auto-vacuum (once): %lld pages, %lld free",
		 pages, free_pages);
	t0 = now_ms();
	/* auto_vacuum can only change on an empty database or through a
	 * VACUUM, which rewrites the file. */
	rc = sqlite3_exec(db, "PRAGMA auto_vacuum = INCREMENTAL; VACUUM;", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		log_error("cannot convert the store to incremental auto-vacuum: %s",
			  sqlite3_errmsg(db));
		return -EIO;
	}
	pragma_int(db, "PRAGMA page_count", &pages);
	log_info("store converted in %llu ms: now %lld pages", (unsigned long long)(now_ms() - t0),
		 pages);
	return 0;
}

int store_vacuum_step(struct store *s)
{
	return store_vacuum_step_slack(s, STORE_VACUUM_SLACK_PAGES);
}

int store_vacuum_step_slack(struct store *s, long long slack)
{
	sqlite3 *db = store_sqlite(s);
	long long free_pages = 0;
	uint64_t deadline = now_ms() + STORE_VACUUM_STEP_MS;
	const char *prev;
	bool gave = false;
	char sql[64];
	int rv = 0;

	if (store_batch_end(s) != 0) /* the vacuum commits its own steps */
		return -EIO;
	if (pragma_int(db, "PRAGMA freelist_count", &free_pages) != 0)
		return -EIO;
	if (free_pages <= slack)
		return 0;
	prev = loop_watch_enter("store: incremental vacuum");
	snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%d)", STORE_VACUUM_CHUNK_PAGES);
	while (free_pages > 0 && now_ms() < deadline) {
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
		    pragma_int(db, "PRAGMA freelist_count", &free_pages) != 0) {
			rv = -EIO;
			break;
		}
		gave = true;
	}
	/* The file shrinks when the WAL is checkpointed: ask for one once the
	 * free list is back within the slack rather than wait for the WAL to
	 * fill up (store_checkpoint.c). */
	if (rv == 0 && gave && free_pages <= slack) {
		log_debug("store vacuum: %lld free pages left; asking for a checkpoint", free_pages);
		store_ckpt_request(s);
	}
	loop_watch_leave(prev);
	if (rv != 0)
		log_warn("incremental vacuum of the store failed: %s", sqlite3_errmsg(db));
	return rv != 0 ? rv : free_pages > slack;
}
