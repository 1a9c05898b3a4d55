/*
 * replication/store_checkpoint.c: the store's WAL is checkpointed by a
 * thread of its own, never inside a commit of the loop thread, and stays
 * bounded; the store keeps working across a stop and a restart of it.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../replication/store_internal.h"
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
