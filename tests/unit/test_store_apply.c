/*
 * Applying entries to the sqlite store: refused entries change nothing
 * but the applied index, re-applied indexes are skipped, a failure of the
 * store is not a refusal, and a retried request is applied once.
 */
#include <sqlite3.h>
#include <sys/xattr.h>

#include "store_fixture.h"

/* --- refusals change nothing; idempotence; persistence ----------------------- */

Test(store, refused_entries_change_nothing_but_the_index)
{
	uint8_t *big = calloc(1, MiB + 1);
	struct entry refused[32];
	size_t n = 0;

	populate();
	refused[n++] = h_create(STORE_ROOT_INO, INO(50), FILE_MODE, "f", "", 0);
	refused[n - 1].flags = ENTRY_F_EXCL;
	refused[n++] = h_create(STORE_ROOT_INO, INO(3), FILE_MODE, "new", "x", 1);
	refused[n++] = h_create(INO(3), INO(50), FILE_MODE, "x", "", 0);
	refused[n++] = h_create(STORE_ROOT_INO, INO(50), FILE_MODE, "huge", big, MiB + 1);
	refused[n++] = h_create(STORE_GATES_INO, INO(50), FILE_MODE, "feature.y", "maybe", 5);
	refused[n++] = h_create(STORE_GATES_INO, INO(50), FILE_MODE, "bad", "true", 4);
	refused[n++] = h_create(STORE_ROOT_INO, INO(50), S_IFIFO | 0600, "fifo", NULL, 0);
	refused[n++] = h_link(INO(0), STORE_ROOT_INO, "dirlink");
	refused[n++] = h_link(INO(6), STORE_ROOT_INO, "gate");
	refused[n++] = h_unlink(STORE_ROOT_INO, "d", ENTRY_F_DIR);
	refused[n++] = h_unlink(STORE_ROOT_INO, "gates", ENTRY_F_DIR);
	refused[n++] = h_unlink(STORE_ROOT_INO, "nope", 0);
	refused[n++] = h_rename(STORE_ROOT_INO, "empty", STORE_ROOT_INO, "d", 0);
	refused[n++] = h_rename(STORE_ROOT_INO, "d", INO(1), "d", 0);
	refused[n++] = h_rename(STORE_ROOT_INO, "f", STORE_ROOT_INO, "big", RENAME_NOREPLACE);
	refused[n++] = h_rename(STORE_ROOT_INO, "config", STORE_ROOT_INO, "c", 0);
	refused[n++] = h_rename(STORE_ROOT_INO, "f", STORE_GATES_INO, "feature.f", 0);
	refused[n++] = h_write(INO(3), MiB, "x", 1, 0);
	refused[n++] = h_write(INO(0), 0, "x", 1, 0);
	refused[n++] = h_write(INO(6), 0, "nah", 3, ENTRY_F_REPLACE);
	refused[n++] = h_setattr(INO(1), ENTRY_SET_SIZE);
	refused[n++] = h_setxattr(INO(3), "user.a", "2", 1, XATTR_CREATE);
	refused[n++] = h_setxattr(INO(3), "user.clusterfs.rev", "2", 1, 0);
	refused[n++] = h_removexattr(INO(3), "user.none");
	refused[n++] = h_removexattr(INO(3), "trusted.a");
	for (size_t i = 0; i < n; i++) {
		char *before = h_dump(T.s), *after;
		uint64_t index = T.index;
		int64_t r = h_apply(&T, &refused[i]);

		cr_assert(r < 0, "entry %zu (%s) was not refused", i, entry_op_name(refused[i].op));
		cr_assert_eq(store_applied_index(T.s), index + 1, "the index advances");
		cr_assert(!T.ch.noop);
		cr_assert_eq(T.ch.orphaned[0], 0u);
		after = h_dump(T.s);
		h_same_dump(before, after, "entry %zu (%s, -%s) changed the tree", i,
			    entry_op_name(refused[i].op), strerrorname_np((int)-r));
		free(before);
		free(after);
	}
	free(big);
}

Test(store, reapplying_an_old_index_is_skipped)
{
	struct store_change ch;
	struct entry e;
	char *before, *after;

	populate();
	before = h_dump(T.s);
	e = h_create(STORE_ROOT_INO, INO(60), FILE_MODE, "late", "x", 1);
	e.stamp_ns = h_stamp(T.index);
	memset(&ch, 0xa5, sizeof(ch));
	cr_assert_eq(store_apply(T.s, T.index, &e, &ch), 1);
	cr_assert_eq(ch.result, 0);
	cr_assert(!ch.noop);
	cr_assert_eq(store_apply(T.s, 1, &e, &ch), 1);
	cr_assert_eq(store_apply(T.s, 0, &e, &ch), 1);
	e = h_unlink(STORE_ROOT_INO, "f", 0);
	cr_assert_eq(store_apply(T.s, T.index - 1, &e, &ch), 1);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	cr_assert_eq(store_applied_index(T.s), T.index);
	/* store_apply_noop has the same rule. */
	cr_assert_eq(store_apply_noop(T.s, T.index), 1);
	cr_assert_eq(store_apply_noop(T.s, T.index + 5), 0);
	cr_assert_eq(store_applied_index(T.s), T.index + 5);
	T.index += 5;
	/* Gaps are allowed: the next entry may come at any higher index. */
	e = h_create(STORE_ROOT_INO, INO(60), FILE_MODE, "late", "x", 1);
	cr_assert_eq(store_apply(T.s, T.index + 10, &e, &ch), 0);
	cr_assert_eq(ch.result, (int64_t)INO(60));
	cr_assert_eq(h_getattr(T.s, INO(60)).revision, T.index + 10);
	free(before);
	free(after);
}

/* A failure of the store itself (here: another connection holds the write
 * lock) is reported as a negative errno, changes nothing, and does not
 * advance the index, so the same entry can be applied again later. */
Test(store, store_failure_is_not_a_refusal)
{
	sqlite3 *db;
	struct store_change ch;
	struct entry e;
	char *before, *after;
	int rv;

	populate();
	before = h_dump(T.s);
	cr_assert_eq(sqlite3_open(T.path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	e = h_create(STORE_ROOT_INO, INO(70), FILE_MODE, "new", "x", 1);
	e.stamp_ns = h_stamp(T.index + 1);
	rv = store_apply(T.s, T.index + 1, &e, &ch);
	cr_assert(rv < 0, "store_apply with the database locked = %d", rv);
	cr_assert_eq(store_applied_index(T.s), T.index);
	cr_assert_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	rv = store_apply(T.s, T.index + 1, &e, &ch);
	cr_assert_eq(rv, 0);
	cr_assert_eq(ch.result, (int64_t)INO(70));
	cr_assert_eq(store_applied_index(T.s), T.index + 1);
	free(before);
	free(after);
}

/* A request retried after a lost answer or a leader change reaches the log
 * twice; the second copy must be answered with the first outcome and change
 * nothing. */
Test(store, retried_request_is_applied_once)
{
	struct entry e;
	char *before, *after;
	int64_t first;

	mkfile(STORE_ROOT_INO, INO(0), "log", "a");
	e = h_write(INO(0), 0, "b", 1, ENTRY_F_APPEND);
	e.request_id = 424242;
	first = h_apply(&T, &e);
	cr_assert_eq(first, 0);
	cr_assert(!T.ch.duplicate);
	before = h_dump(T.s);
	cr_assert_eq(h_apply(&T, &e), first);
	cr_assert(T.ch.duplicate, "the retry is recognised");
	after = h_dump(T.s);
	h_same_dump(before, after, "a retried append appended twice");
	free(before);
	free(after);
	H_CONTENT_EQ(T.s, INO(0), "ab");

	/* A refusal is remembered too: the retry gets the same errno. */
	e = h_create(STORE_ROOT_INO, INO(1), FILE_MODE, "log", "x", 1);
	e.flags = ENTRY_F_EXCL;
	e.request_id = 434343;
	cr_assert_eq(h_apply(&T, &e), -EEXIST);
	cr_assert_eq(h_apply(&T, &e), -EEXIST);
	cr_assert(T.ch.duplicate);

	/* The same request id from another node is another request. */
	e = h_write(INO(0), 0, "c", 1, ENTRY_F_APPEND);
	e.request_id = 424242;
	e.node_id = H_NODE + 1;
	cr_assert_eq(h_apply(&T, &e), 0);
	cr_assert(!T.ch.duplicate);
	H_CONTENT_EQ(T.s, INO(0), "abc");
}
