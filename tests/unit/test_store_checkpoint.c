/*
 * replication/store_checkpoint.c: the store's WAL is checkpointed by a
 * thread of its own, never inside a commit of the loop thread, and stays
 * bounded; the store keeps working across a stop and a restart of it; an
 * I/O error of a round is kept (store_write_error), also past later rounds
 * that succeed and past a stop of the thread; a requested round that could
 * not finish (a reader still needed the WAL) is run again until it does,
 * so the file shrinks after a vacuum also on a node that writes nothing
 * more.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../replication/store_internal.h"
#include "../../replication/store_vacuum.h"
#include "store_fixture.h"

static long long wal_size(void)
{
	char wal[PATH_MAX + 8];
	struct stat st;

	snprintf(wal, sizeof(wal), "%s-wal", T.path);
	return stat(wal, &st) == 0 ? (long long)st.st_size : 0;
}

/* @files files, then @rounds rewrites of each (3000 bytes). */
static void write_rounds(int files, int rounds)
{
	char data[3000];

	for (int i = 0; i < files; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		H_OK(&T, h_create(STORE_ROOT_INO, INO(i), FILE_MODE, name, "", 0));
	}
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < files; i++) {
			memset(data, 'a' + (r + i) % 26, sizeof(data));
			H_OK(&T, h_write(INO(i), 0, data, sizeof(data), 0));
		}
}

Test(store, checkpoint_a_thread_checkpoints_and_the_wal_stays_bounded)
{
	long long peak = 0;

	cr_assert_not_null(T.s->ckpt, "a file-backed store has a checkpointer");
	/* About 4 WAL pages per write: some 32k pages (130 MB) without
	 * checkpoints. */
	for (int k = 0; k < 40; k++) {
		write_rounds(200, 1);
		if (wal_size() > peak)
			peak = wal_size();
	}
	for (int tries = 0; store_ckpt_count(T.s) == 0; tries++) {
		cr_assert_lt(tries, 500, "no checkpoint within 5 s");
		usleep(10000);
	}
	/* Writes without a pause keep the checkpointer's rounds from
	 * completing; past STORE_CKPT_HARD_PAGES a commit completes one (when
	 * no round of the checkpointer is running at that moment) and the WAL
	 * starts over: never the whole history. */
	cr_assert_lt(peak, 3ll * STORE_CKPT_HARD_PAGES * 4200, "WAL reached %lld bytes", peak);
	cr_assert_gt(store_ckpt_count(T.s), 0);
}

Test(store, checkpoint_the_store_reads_back_what_was_written_around_checkpoints)
{
	char want[3000];
	void *data;
	size_t n;

	write_rounds(100, 30);
	for (int tries = 0; store_ckpt_count(T.s) == 0; tries++) {
		cr_assert_lt(tries, 500, "no checkpoint within 5 s");
		usleep(10000);
	}
	for (int i = 0; i < 100; i++) {
		memset(want, 'a' + (29 + i) % 26, sizeof(want));
		cr_assert_eq(store_read_all(T.s, INO(i), &data, &n), 0);
		cr_assert_eq(n, sizeof(want));
		cr_assert_arr_eq(data, want, n);
		free(data);
	}
}

Test(store, checkpoint_stop_and_start_again)
{
	store_ckpt_stop(T.s);
	cr_assert_null(T.s->ckpt);
	store_ckpt_stop(T.s); /* twice is nothing */
	write_rounds(50, 2); /* sqlite's own checkpoints meanwhile */
	store_ckpt_start(T.s);
	cr_assert_not_null(T.s->ckpt);
	store_ckpt_request(T.s);
	for (int tries = 0; store_ckpt_count(T.s) == 0; tries++) {
		cr_assert_lt(tries, 500, "a requested checkpoint did not run within 5 s");
		usleep(10000);
	}
}

/* --- an sqlite VFS whose syncs fail on demand --------------------------------
 * The default VFS while a test needs it: files are opened by the real one,
 * whose methods table is swapped for a copy with xSync replaced. The
 * checkpointer opens a connection of its own for each round, so its rounds
 * go through it; the store's own connection, opened before, does not. */
static sqlite3_vfs *real_vfs;
static sqlite3_vfs fail_vfs;
#define FAIL_TABLES 4 /* the unix VFS's methods tables in use (main db, WAL…) */
static struct {
	const sqlite3_io_methods *real;
	sqlite3_io_methods copy;
} tables[FAIL_TABLES];
static atomic_int syncs_fail, syncs_failed, syncs_slow, syncs_slowed;

static int fail_sync(sqlite3_file *f, int flags)
{
	for (int i = 0; i < FAIL_TABLES; i++) {
		if (f->pMethods != &tables[i].copy)
			continue;
		if (atomic_load(&syncs_slow)) {
			atomic_fetch_add(&syncs_slowed, 1);
			usleep(500000);
		}
		if (atomic_load(&syncs_fail)) {
			atomic_fetch_add(&syncs_failed, 1);
			return SQLITE_IOERR_FSYNC;
		}
		return tables[i].real->xSync(f, flags);
	}
	return SQLITE_IOERR_FSYNC; /* not ours: cannot happen */
}

/* Opened by the checkpointer's thread only while a test runs (the store's
 * own files were opened before): no lock needed around tables[]. */
static int fail_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	int rc = real_vfs->xOpen(real_vfs, name, f, flags, out);
	int i;

	(void)vfs;
	if (rc != SQLITE_OK || f->pMethods == NULL)
		return rc;
	for (i = 0; i < FAIL_TABLES && tables[i].real != NULL && tables[i].real != f->pMethods; i++)
		;
	cr_assert_lt(i, FAIL_TABLES, "more methods tables than FAIL_TABLES");
	if (tables[i].real == NULL) {
		tables[i].real = f->pMethods;
		tables[i].copy = *f->pMethods;
		tables[i].copy.xSync = fail_sync;
	}
	f->pMethods = &tables[i].copy;
	return rc;
}

static void use_fail_vfs(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	fail_vfs = *real_vfs;
	fail_vfs.zName = "cfs-test-failsync";
	fail_vfs.xOpen = fail_open;
	cr_assert_eq(sqlite3_vfs_register(&fail_vfs, 1), SQLITE_OK);
}

static void wait_rounds(uint64_t after, const char *what)
{
	for (int tries = 0; store_ckpt_count(T.s) <= after; tries++) {
		cr_assert_lt(tries, 500, "%s: no checkpoint within 5 s", what);
		usleep(10000);
	}
}

Test(store, checkpoint_an_io_error_is_kept)
{
	uint64_t n;

	use_fail_vfs();
	cr_assert_eq(store_write_error(T.s), 0);
	write_rounds(20, 2);
	atomic_store(&syncs_fail, 1);
	n = store_ckpt_count(T.s);
	store_ckpt_request(T.s);
	wait_rounds(n, "the round whose sync fails");
	atomic_store(&syncs_fail, 0);
	cr_assert_gt(atomic_load(&syncs_failed), 0, "the round synced nothing");
	cr_assert_eq(store_write_error(T.s) & 0xff, SQLITE_IOERR, "got %d", store_write_error(T.s));
	/* A later round that syncs does not make the lost pages come back. */
	write_rounds(1, 1);
	n = store_ckpt_count(T.s);
	store_ckpt_request(T.s);
	wait_rounds(n, "the round after");
	cr_assert_eq(store_write_error(T.s) & 0xff, SQLITE_IOERR);
	store_ckpt_stop(T.s);
	cr_assert_eq(store_write_error(T.s) & 0xff, SQLITE_IOERR, "forgotten when the thread stopped");
	sqlite3_vfs_unregister(&fail_vfs);
	sqlite3_vfs_register(real_vfs, 1);
}

static long long db_size(void)
{
	struct stat st;

	return stat(T.path, &st) == 0 ? (long long)st.st_size : -1;
}

/* @n files of 3000 bytes named PREFIXi, at inodes from @first. */
static void write_files(const char *prefix, int first, int n)
{
	char data[3000];

	memset(data, 'x', sizeof(data));
	for (int i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%s%d", prefix, i);
		H_OK(&T, h_create(STORE_ROOT_INO, INO(first + i), FILE_MODE, name, data,
				  sizeof(data)));
	}
}

Test(store, checkpoint_a_requested_round_is_run_again_until_it_finishes)
{
	sqlite3 *reader = NULL;
	long long before, after = 0;
	uint64_t n;

	write_files("a", 0, 20);
	n = store_ckpt_count(T.s);
	store_ckpt_request(T.s);
	wait_rounds(n, "the first round");
	before = db_size();
	/* A reader from now: a round cannot copy what is written after it
	 * while it reads. */
	cr_assert_eq(sqlite3_open_v2(T.path, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM meta", NULL, NULL, NULL),
		     SQLITE_OK);
	/* About 1.5 MiB: fewer WAL pages than wake the checkpointer. */
	write_files("b", 100, 400);
	n = store_ckpt_count(T.s);
	store_ckpt_request(T.s); /* as the vacuum asks */
	wait_rounds(n, "the requested round");
	usleep(100000);
	cr_assert_lt(db_size(), before + (1ll << 20), "a round copied what the reader hid");
	cr_assert_eq(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(reader);
	/* Nothing is written any more: only a retry copies the rest. */
	for (int tries = 0; (after = db_size()) < before + (1ll << 20); tries++) {
		cr_assert_lt(tries, 1000, "the file stayed at %lld bytes (%lld before) for 10 s "
				       "after the reader went", after, before);
		usleep(10000);
	}
}

/* sqlite cuts the file to its pages only at the end of a round that saw no
 * commit meanwhile: a round with a commit in the middle is not finished. */
Test(store, checkpoint_a_requested_round_that_could_not_cut_the_file_is_run_again)
{
	long long big, now = 0;
	uint64_t n;

	cr_assert_eq(store_vacuum_setup(T.s), 0);
	write_files("b", 100, 400); /* about 1.5 MiB */
	n = store_ckpt_count(T.s);
	store_ckpt_request(T.s);
	wait_rounds(n, "the first round");
	for (int i = 0; i < 400; i++) {
		char name[16];

		snprintf(name, sizeof(name), "b%d", i);
		H_OK(&T, h_unlink(STORE_ROOT_INO, name, 0));
		cr_assert_eq(store_drop_orphan(T.s, INO(100 + i)), 0);
	}
	big = db_size();
	cr_assert_gt(big, 1ll << 20, "the content did not reach the file (%lld bytes)", big);
	/* The round the vacuum asks for syncs slowly; a commit comes in the
	 * middle of it. */
	use_fail_vfs();
	atomic_store(&syncs_slow, 1);
	n = store_ckpt_count(T.s);
	for (int steps = 0; store_vacuum_step_slack(T.s, 0) > 0; steps++)
		cr_assert_lt(steps, 1000, "the vacuum did not end in 1000 steps");
	for (int tries = 0; atomic_load(&syncs_slowed) == 0; tries++) {
		cr_assert_lt(tries, 500, "the requested round did not begin to sync within 5 s");
		usleep(10000);
	}
	write_files("c", 1000, 1); /* within the round's slowed sync */
	wait_rounds(n, "the requested round");
	atomic_store(&syncs_slow, 0);
	cr_assert_eq(db_size(), big, "the file was cut although a commit came in the round");
	/* Nothing is written any more: only a retry cuts the file. */
	for (int tries = 0; (now = db_size()) >= big / 2; tries++) {
		cr_assert_lt(tries, 1000, "the file stayed at %lld bytes (%lld before) for 10 s",
			     now, big);
		usleep(10000);
	}
	sqlite3_vfs_unregister(&fail_vfs);
	sqlite3_vfs_register(real_vfs, 1);
}
