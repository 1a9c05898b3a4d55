/*
 * The FSM, driven the way raft drives it: apply() with raft->last_applied
 * set to the index before the entry, snapshot() + snapshot_finalize(), and
 * restore() that takes the buffer on success. No raft instance runs: the
 * struct raft is only the place the FSM reads last_applied from.
 */
#include <raft.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <signal.h>

#include "../../common/log.h"
#include "../../replication/fsm.h"
#include "helpers.h"

#define INO(n)	  (STORE_FIRST_DYNAMIC_INO + (n))
#define FILE_MODE (S_IFREG | 0644)
#define DIR_MODE  (S_IFDIR | 0755)

static struct h_store T;
static struct raft R;
static struct fsm F;

static void setup(void)
{
	/* The FSM warns about every malformed entry; the tests make many. */
	log_setup("unit_fsm", LOG_LEVEL_ERROR);
	h_store_init(&T);
	memset(&R, 0, sizeof(R));
	fsm_init(&F, T.s, &R);
}

static void teardown(void)
{
	h_cleanup_run();
	h_store_fini(&T);
	h_leak_check();
}

static void free_cb(void *p)
{
	raft_free(*(void **)p);
	*(void **)p = NULL;
}

/* Free a buffer at the end of the test, whether it passes or not. */
static void defer_free(struct raft_buffer *b)
{
	h_defer(free_cb, &b->base);
}

TestSuite(fsm, .init = setup, .fini = teardown);

/* Apply an encoded buffer through @f at @index, as raft would. */
static int64_t apply_buf(struct fsm *f, struct raft *r, uint64_t index, void *base, size_t len)
{
	struct raft_buffer buf = {.base = base, .len = len};
	void *result = (void *)(intptr_t)0x5a5a;
	int rv;

	r->last_applied = index - 1;
	rv = f->raft.apply(&f->raft, &buf, &result);
	cr_assert_eq(rv, 0, "apply returned %d to raft: application errors must not reach raft",
		     rv);
	cr_assert_neq(result, (void *)(intptr_t)0x5a5a, "result not set");
	return fsm_result(result);
}

/* Encode @e, stamp it as the leader would, and apply it at @index. */
static int64_t apply_at(struct fsm *f, struct raft *r, uint64_t index, const struct entry *e)
{
	struct entry_buf b;
	int64_t res;

	cr_assert_eq(entry_encode(e, &b), 0);
	entry_set_stamp(&b, h_stamp(index));
	res = apply_buf(f, r, index, b.base, b.len);
	raft_free(b.base);
	return res;
}

/* The default FSM at the next index of the default store. */
static int64_t apply(const struct entry *e)
{
	uint64_t index = store_applied_index(T.s) + 1;

	return apply_at(&F, &R, index, e);
}

/* A log of mixed entries, with refusals, an orphan and xattrs. */
static void build_log(struct entry *log, size_t *n)
{
	static const char bin[] = {'a', 0, 'b', '\n'};
	size_t i = 0;

	log[i++] = h_create(STORE_ROOT_INO, INO(0), DIR_MODE, "d", NULL, 0);
	log[i++] = h_create(INO(0), INO(1), FILE_MODE, "f", "hello", 5);
	log[i++] = h_create(INO(0), INO(1), FILE_MODE, "dup", "x", 1); /* refused */
	log[i++] = h_write(INO(1), 8, bin, sizeof(bin), 0);
	log[i++] = h_setxattr(INO(1), "user.k", bin, sizeof(bin), 0);
	log[i++] = h_create(STORE_GATES_INO, INO(2), FILE_MODE, "feature.x", "ON", 2);
	log[i++] = h_create(STORE_CONFIG_INO, INO(3), FILE_MODE, "app.yaml", "k: v\n", 5);
	log[i++] = h_link(INO(3), INO(0), "app-link");
	log[i++] = h_create(STORE_ROOT_INO, INO(4), S_IFLNK | 0777, "l", "d/f", 3);
	log[i++] = h_create(STORE_ROOT_INO, INO(5), FILE_MODE, "gone", "bye", 3);
	log[i++] = h_unlink(STORE_ROOT_INO, "gone", 0); /* an orphan */
	log[i++] = h_rename(INO(0), "f", STORE_ROOT_INO, "f2", 0);
	log[i] = h_setattr(INO(3), ENTRY_SET_MODE | ENTRY_SET_UID);
	log[i].mode = 0600;
	log[i++].set_uid = 4242;
	log[i++] = h_unlink(STORE_ROOT_INO, "config", ENTRY_F_DIR); /* refused */
	*n = i;
}

/* --- apply ------------------------------------------------------------------- */

Test(fsm, init_fills_the_raft_interface)
{
	cr_assert_eq((void *)&F, (void *)&F.raft, "raft_fsm must be the first member");
	cr_assert_eq(F.raft.version, 2);
	cr_assert_not_null(F.raft.apply);
	cr_assert_not_null(F.raft.snapshot);
	cr_assert_not_null(F.raft.snapshot_finalize);
	cr_assert_not_null(F.raft.restore);
	cr_assert_null(F.raft.snapshot_async);
	cr_assert_eq(F.store, T.s);
	cr_assert_eq(F.r, &R);
	cr_assert_null(F.applied_cb);
}

Test(fsm, index_is_last_applied_plus_one)
{
	struct entry e = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "f", "x", 1);
	struct store_attr a;

	/* Raft may have applied configuration entries the store never saw. */
	cr_assert_eq(apply_at(&F, &R, 42, &e), (int64_t)INO(0));
	cr_assert_eq(store_applied_index(T.s), 42u);
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.revision, 42u);
	cr_assert_eq(a.gen, 42u);
	cr_assert_eq(a.mtime_ns, h_stamp(42), "the stamp the leader patched in");
	cr_assert_eq(a.writer_node, H_NODE);
	cr_assert_eq(a.writer_uid, H_UID);
	cr_assert_eq(a.uid, H_UID);
	cr_assert_eq(a.gid, H_GID);
}

Test(fsm, results_carry_success_and_refusals)
{
	struct entry e;

	e = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "f", "x", 1);
	cr_assert_eq(apply(&e), (int64_t)INO(0), "CREATE returns the inode");
	e = h_write(INO(0), 0, "y", 1, 0);
	cr_assert_eq(apply(&e), 0);
	e = h_create(STORE_ROOT_INO, INO(1), FILE_MODE, "f", "", 0);
	e.flags = ENTRY_F_EXCL;
	cr_assert_eq(apply(&e), -EEXIST);
	e = h_unlink(STORE_ROOT_INO, "nope", 0);
	cr_assert_eq(apply(&e), -ENOENT);
	e = h_create(STORE_GATES_INO, INO(1), FILE_MODE, "feature.x", "maybe", 5);
	cr_assert_eq(apply(&e), -EINVAL);
	e = h_setxattr(INO(0), "user.clusterfs.x", "1", 1, 0);
	cr_assert_eq(apply(&e), -EPERM);
	cr_assert_eq(store_applied_index(T.s), 6u, "refusals advance the index too");
	H_CONTENT_EQ(T.s, INO(0), "y");
}

struct calls {
	int n;
	uint64_t index[16];
	int op[16];
	int64_t result[16];
	bool noop[16];
};

static void record(void *arg, uint64_t index, const struct entry *e, const struct store_change *ch)
{
	struct calls *c = arg;

	cr_assert(c->n < 16);
	c->index[c->n] = index;
	c->op[c->n] = e->op;
	c->result[c->n] = ch->result;
	c->noop[c->n] = ch->noop;
	c->n++;
}

Test(fsm, applied_callback)
{
	struct calls c = {0};
	struct entry e;
	uint8_t junk[64] = {1, 2, 3};

	F.applied_cb = record;
	F.applied_arg = &c;
	e = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "f", "x", 1);
	apply_at(&F, &R, 1, &e);
	e = h_write(INO(0), 0, "x", 1, 0); /* identical: a noop */
	apply_at(&F, &R, 2, &e);
	e = h_unlink(STORE_ROOT_INO, "nope", 0);
	apply_at(&F, &R, 3, &e);
	apply_buf(&F, &R, 4, junk, sizeof(junk)); /* malformed: not applied */
	e = h_write(INO(0), 0, "z", 1, 0);
	apply_at(&F, &R, 2, &e); /* already applied: skipped */
	cr_assert_eq(c.n, 3, "callback ran %d times", c.n);
	cr_assert_eq(c.index[0], 1u);
	cr_assert_eq(c.op[0], ENTRY_CREATE);
	cr_assert_eq(c.result[0], (int64_t)INO(0));
	cr_assert_eq(c.index[1], 2u);
	cr_assert(c.noop[1]);
	cr_assert_eq(c.index[2], 3u);
	cr_assert_eq(c.result[2], -ENOENT);
	H_CONTENT_EQ(T.s, INO(0), "x");
}

Test(fsm, malformed_entries_are_refused_not_fatal)
{
	struct entry e = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "f", "content", 7);
	struct entry_buf b;
	uint8_t junk[256];
	char *before, *after;
	uint64_t index;

	cr_assert_eq(apply(&e), (int64_t)INO(0));
	before = h_dump(T.s);
	index = store_applied_index(T.s);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	cr_assert_eq(apply_buf(&F, &R, ++index, junk, sizeof(junk)), -EINVAL);
	cr_assert_eq(store_applied_index(T.s), index, "a malformed entry still takes its index");
	cr_assert_eq(apply_buf(&F, &R, ++index, NULL, 0), -EINVAL);
	cr_assert_eq(apply_buf(&F, &R, ++index, junk, 3), -EINVAL);
	/* A valid entry, truncated, with its magic intact. */
	e = h_create(STORE_ROOT_INO, INO(1), FILE_MODE, "g", "0123456789", 10);
	cr_assert_eq(entry_encode(&e, &b), 0);
	for (size_t len = 0; len < b.len; len += 5)
		cr_assert_eq(apply_buf(&F, &R, ++index, b.base, len), -EINVAL, "length %zu", len);
	raft_free(b.base);
	cr_assert_eq(store_applied_index(T.s), index);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	free(before);
	free(after);
}

Test(fsm, reapplication_after_reopen_is_skipped)
{
	struct entry log[16];
	struct calls c = {0};
	size_t n;
	char *before, *after;

	build_log(log, &n);
	for (size_t i = 0; i < n; i++)
		apply_at(&F, &R, i + 1, &log[i]);
	before = h_dump(T.s);
	/* Restart: raft replays the whole log after the last snapshot. */
	h_store_reopen(&T);
	memset(&R, 0, sizeof(R));
	fsm_init(&F, T.s, &R);
	F.applied_cb = record;
	F.applied_arg = &c;
	cr_assert_eq(store_applied_index(T.s), n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(apply_at(&F, &R, i + 1, &log[i]), 0, "replayed entry %zu", i + 1);
	cr_assert_eq(c.n, 0, "skipped entries do not reach the callback");
	cr_assert_eq(store_applied_index(T.s), n);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	/* The log goes on. */
	{
		struct entry e = h_create(STORE_ROOT_INO, INO(9), FILE_MODE, "next", "n", 1);

		cr_assert_eq(apply_at(&F, &R, n + 1, &e), (int64_t)INO(9));
		cr_assert_eq(c.n, 1);
	}
	free(before);
	free(after);
}

/* The whole content of @ino in @s is @data. */
static void assert_content(struct store *s, uint64_t ino, const void *data, size_t len)
{
	void *got = NULL;
	size_t n = 0;

	cr_assert_eq(store_read_all(s, ino, &got, &n), 0);
	cr_assert_eq(n, len, "content of %llu: %zu bytes, expected %zu", (unsigned long long)ino, n,
		     len);
	cr_assert(memcmp(got, data, len) == 0, "content of %llu differs", (unsigned long long)ino);
	free(got);
}

/* The store itself failing (here: the database is locked by someone else)
 * must neither stop the process nor be recorded as a refusal, nor let a
 * later entry overtake it: the entry is deferred, the ones after it wait
 * behind it, no snapshot is taken meanwhile, and all apply in order once
 * the store works again (fsm.h). */
Test(fsm, store_failure_defers_entries_in_order)
{
	struct calls c = {0};
	struct entry e1 = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "f", "x", 1);
	struct entry e2 = h_create(STORE_ROOT_INO, INO(1), FILE_MODE, "g", "y", 1);
	struct entry e3 = h_write(INO(1), 0, "yy", 2, 0);
	struct raft_buffer *bufs = NULL;
	unsigned nbufs = 0;
	int64_t outcome = 0;
	sqlite3 *db;

	F.applied_cb = record;
	F.applied_arg = &c;
	cr_assert_eq(apply_at(&F, &R, 1, &e1), (int64_t)INO(0));
	cr_assert_eq(sqlite3_open(T.path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

	cr_assert_eq(apply_at(&F, &R, 2, &e2), FSM_DEFERRED);
	cr_assert_eq(apply_at(&F, &R, 3, &e3), FSM_DEFERRED, "a later entry waits behind");
	cr_assert_eq(F.n_deferred, 2u);
	cr_assert_eq(c.n, 1, "deferred entries do not reach the callback yet");
	cr_assert_eq(store_applied_index(T.s), 1u);
	cr_assert_eq(fsm_applied_index(&F), 1u, "raft's applied index is not the store's");
	cr_assert_eq(F.raft.snapshot(&F.raft, &bufs, &nbufs), RAFT_BUSY,
		     "no snapshot may cover entries the store does not hold");
	cr_assert_eq(fsm_retry_deferred(&F), 2u, "still locked");

	cr_assert_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	cr_assert_eq(fsm_retry_deferred(&F), 0u);
	cr_assert_eq(store_applied_index(T.s), 3u);
	R.last_applied = 3;
	cr_assert_eq(fsm_applied_index(&F), 3u);
	cr_assert_eq(c.n, 3);
	cr_assert_eq(c.index[1], 2u);
	cr_assert_eq(c.index[2], 3u);
	cr_assert_eq(c.result[1], (int64_t)INO(1));
	/* A proposer told FSM_DEFERRED reads its outcome back. */
	cr_assert_eq(store_request_outcome(T.s, e2.node_id, e2.request_id, &outcome), 0);
	cr_assert_eq(outcome, (int64_t)INO(1));
	assert_content(T.s, INO(1), "yy", 2);
	/* And the log goes on. */
	e1 = h_create(STORE_ROOT_INO, INO(2), FILE_MODE, "h", "z", 1);
	cr_assert_eq(apply_at(&F, &R, 4, &e1), (int64_t)INO(2));
}

/* A full disk (sqlite's SQLITE_FULL: here the database may not grow past
 * its pages) is a failure of this node, never the ENOSPC refusal of the
 * store limit: the entry is deferred with nothing of it in the store and
 * no outcome recorded, and applied once there is room. */
Test(fsm, full_disk_defers_and_is_no_refusal)
{
	static char big[200000];
	struct entry e = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "big", big, sizeof(big));
	sqlite3 *db = store_sqlite(T.s);
	sqlite3_stmt *st;
	int64_t outcome;
	char sql[64];
	long long pages;

	memset(big, 'b', sizeof(big));
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	pages = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", pages);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);

	cr_assert_eq(apply_at(&F, &R, 1, &e), FSM_DEFERRED);
	cr_assert_eq(F.deferred_error, -ENOSPC);
	cr_assert_eq(store_applied_index(T.s), 0u);
	cr_assert_eq(store_lookup(T.s, STORE_ROOT_INO, "big", &(struct store_attr){0}), -ENOENT);
	cr_assert_eq(store_request_outcome(T.s, e.node_id, e.request_id, &outcome), -ENOENT,
		     "a failure must not be remembered as the request's outcome");
	cr_assert_eq(fsm_retry_deferred(&F), 1u);

	cr_assert_eq(sqlite3_exec(db, "PRAGMA max_page_count = 1000000", NULL, NULL, NULL),
		     SQLITE_OK);
	cr_assert_eq(fsm_retry_deferred(&F), 0u);
	cr_assert_eq(store_applied_index(T.s), 1u);
	cr_assert_eq(store_request_outcome(T.s, e.node_id, e.request_id, &outcome), 0);
	cr_assert_eq(outcome, (int64_t)INO(0));
	assert_content(T.s, INO(0), big, sizeof(big));
}

/* --- group commit (store_set_batching) ------------------------------------------- */

/* The applied index another connection reads: what is committed. */
static uint64_t committed_applied(void)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	uint64_t v = 0;

	cr_assert_eq(sqlite3_open_v2(T.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(
	    sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'applied'", -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Entries applied in one loop turn share one commit: visible at once on
 * the store's own connection (the node's reads), committed by fsm_commit. */
Test(fsm, batched_entries_commit_together)
{
	struct entry e1 = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "f", "x", 1);
	struct entry e2 = h_write(INO(0), 0, "xy", 2, 0);

	store_set_batching(T.s, true);
	cr_assert_eq(apply_at(&F, &R, 1, &e1), (int64_t)INO(0));
	cr_assert_eq(apply_at(&F, &R, 2, &e2), 0);
	cr_assert_eq(store_applied_index(T.s), 2u);
	assert_content(T.s, INO(0), "xy", 2);
	cr_assert_eq(committed_applied(), 0u, "nothing committed before the turn ends");
	R.last_applied = 2;
	cr_assert_eq(fsm_applied_index(&F), 0u, "requests are answered once committed");
	fsm_commit(&F);
	cr_assert_eq(committed_applied(), 2u);
	cr_assert_eq(fsm_applied_index(&F), 2u);
	cr_assert_null(F.batch, "the copies go once committed");
	cr_assert_eq(F.n_deferred, 0u);
	fsm_commit(&F); /* nothing open: nothing to do */
	cr_assert_eq(committed_applied(), 2u);
}

/* A store failure in the middle of a batch (a full disk: sqlite rolls the
 * whole transaction back) loses the entries before it too: they wait
 * first, then the failed one, then the later ones, and all are applied in
 * order once the store can write. */
Test(fsm, a_failed_entry_defers_its_whole_batch_in_order)
{
	static char big[200000];
	struct entry small = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "small", "s", 1);
	struct entry e_big = h_create(STORE_ROOT_INO, INO(1), FILE_MODE, "big", big, sizeof(big));
	struct entry after = h_create(STORE_ROOT_INO, INO(2), FILE_MODE, "after", "a", 1);
	sqlite3 *db = store_sqlite(T.s);
	sqlite3_stmt *st;
	char sql[64];

	memset(big, 'b', sizeof(big));
	store_set_batching(T.s, true);
	cr_assert_eq(apply_at(&F, &R, 1, &small), (int64_t)INO(0));
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	cr_assert_eq(apply_at(&F, &R, 2, &e_big), FSM_DEFERRED);
	cr_assert_eq(F.deferred_error, -ENOSPC);
	cr_assert_eq(apply_at(&F, &R, 3, &after), FSM_DEFERRED, "a later entry waits behind");
	fsm_commit(&F);
	cr_assert_eq(F.n_deferred, 3u);
	cr_assert_eq(F.deferred->index, 1u, "the batch's entry goes first");
	cr_assert_eq(F.deferred->next->index, 2u);
	cr_assert_eq(store_applied_index(T.s), 0u);
	cr_assert_eq(fsm_applied_index(&F), 0u);
	cr_assert_eq(committed_applied(), 0u);
	cr_assert_eq(store_lookup(T.s, STORE_ROOT_INO, "small", &(struct store_attr){0}), -ENOENT);
	cr_assert_eq(sqlite3_exec(db, "PRAGMA max_page_count = 1000000", NULL, NULL, NULL),
		     SQLITE_OK);
	cr_assert_eq(fsm_retry_deferred(&F), 0u);
	cr_assert_eq(committed_applied(), 3u);
	assert_content(T.s, INO(0), "s", 1);
	assert_content(T.s, INO(1), big, sizeof(big));
	assert_content(T.s, INO(2), "a", 1);
}

/* sqlite may roll the open transaction back by itself (an I/O error met by
 * any statement, a read too; here a ROLLBACK on the connection): the next
 * entry must not commit alone on top of the lost ones — they wait first,
 * and the content is what every node has. */
Test(fsm, a_batch_sqlite_rolled_back_is_applied_again_first)
{
	struct entry e1 = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "f", "x", 1);
	struct entry e2 = h_write(INO(0), 0, "y", 1, ENTRY_F_APPEND);
	struct entry e3 = h_write(INO(0), 0, "z", 1, ENTRY_F_APPEND);

	store_set_batching(T.s, true);
	cr_assert_eq(apply_at(&F, &R, 1, &e1), (int64_t)INO(0));
	fsm_commit(&F);
	cr_assert_eq(apply_at(&F, &R, 2, &e2), 0);
	cr_assert_eq(sqlite3_exec(store_sqlite(T.s), "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	cr_assert_eq(apply_at(&F, &R, 3, &e3), FSM_DEFERRED, "nothing passes the lost entry");
	cr_assert_eq(F.n_deferred, 2u);
	cr_assert_eq(F.deferred->index, 2u);
	cr_assert_eq(store_applied_index(T.s), 1u);
	fsm_commit(&F);
	cr_assert_eq(committed_applied(), 1u, "no entry committed out of order");
	cr_assert_eq(fsm_retry_deferred(&F), 0u);
	cr_assert_eq(committed_applied(), 3u);
	assert_content(T.s, INO(0), "xyz", 3);
}

/* A commit that fails (here the WAL may not grow: RLIMIT_FSIZE) rolls the
 * whole batch back: its entries are deferred, ahead of any later one, the
 * store says what it holds, and they are applied again once it can write. */
Test(fsm, a_failed_commit_defers_the_batch_in_order)
{
	static char big[100000];
	struct entry e1 = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "a", "1", 1);
	struct entry e2 = h_create(STORE_ROOT_INO, INO(1), FILE_MODE, "b", big, sizeof(big));
	struct entry e3 = h_create(STORE_ROOT_INO, INO(2), FILE_MODE, "c", big, sizeof(big));
	struct entry e4 = h_create(STORE_ROOT_INO, INO(3), FILE_MODE, "d", "4", 1);
	struct rlimit old, small;
	char wal[PATH_MAX + 8];
	struct stat sb;

	memset(big, 'c', sizeof(big));
	store_set_batching(T.s, true);
	cr_assert_eq(apply_at(&F, &R, 1, &e1), (int64_t)INO(0));
	fsm_commit(&F);
	cr_assert_eq(committed_applied(), 1u);
	cr_assert_eq(apply_at(&F, &R, 2, &e2), (int64_t)INO(1));
	cr_assert_eq(apply_at(&F, &R, 3, &e3), (int64_t)INO(2));
	/* The WAL may not grow now: the commit cannot write its frames. */
	snprintf(wal, sizeof(wal), "%s-wal", T.path);
	cr_assert_eq(stat(wal, &sb), 0);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = (rlim_t)sb.st_size;
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	fsm_commit(&F);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	cr_assert_eq(F.n_deferred, 2u, "the batch's two entries wait");
	cr_assert_eq(F.deferred->index, 2u);
	cr_assert_eq(store_applied_index(T.s), 1u, "the store says what it holds");
	cr_assert_eq(fsm_applied_index(&F), 1u);
	cr_assert_eq(store_lookup(T.s, STORE_ROOT_INO, "b", &(struct store_attr){0}), -ENOENT);
	cr_assert_eq(apply_at(&F, &R, 4, &e4), FSM_DEFERRED, "nothing passes them");
	cr_assert_eq(fsm_retry_deferred(&F), 0u);
	cr_assert_eq(committed_applied(), 4u);
	assert_content(T.s, INO(2), big, sizeof(big));
	assert_content(T.s, INO(3), "4", 1);
}

/* --- snapshots ----------------------------------------------------------------- */

/* Take a snapshot through raft's interface and return a raft_malloc'd copy
 * of it (the form restore() receives), freeing raft's buffers the way raft
 * does. */
static struct raft_buffer take_snapshot(struct fsm *f)
{
	struct raft_buffer *bufs = NULL, copy;
	unsigned n = 0;
	int rv;

	rv = f->raft.snapshot(&f->raft, &bufs, &n);
	cr_assert_eq(rv, 0, "snapshot = %d", rv);
	cr_assert_eq(n, 1u);
	cr_assert_not_null(bufs);
	cr_assert(bufs[0].len >= 512, "snapshot of %zu bytes", bufs[0].len);
	copy.len = bufs[0].len;
	copy.base = raft_malloc(copy.len);
	memcpy(copy.base, bufs[0].base, copy.len);
	rv = f->raft.snapshot_finalize(&f->raft, &bufs, &n);
	cr_assert_eq(rv, 0);
	cr_assert_null(bufs);
	cr_assert_eq(n, 0u);
	return copy;
}

static struct raft_buffer dup_buffer(struct raft_buffer b)
{
	struct raft_buffer copy = {.base = raft_malloc(b.len), .len = b.len};

	memcpy(copy.base, b.base, b.len);
	return copy;
}

/* A second store with its own FSM, for restores. */
struct replica {
	struct h_store t;
	struct raft r;
	struct fsm f;
};

static void replica_init(struct replica *p)
{
	h_store_init_deferred(&p->t);
	memset(&p->r, 0, sizeof(p->r));
	fsm_init(&p->f, p->t.s, &p->r);
}

static void replica_reopen(struct replica *p)
{
	h_store_reopen(&p->t);
	fsm_init(&p->f, p->t.s, &p->r);
}

Test(fsm, snapshot_restores_an_identical_tree)
{
	struct entry log[16];
	static struct replica b; /* static: see h_defer */
	struct raft_buffer snap;
	size_t n;
	char *da, *db;
	int rv;

	build_log(log, &n);
	for (size_t i = 0; i < n; i++)
		apply_at(&F, &R, i + 1, &log[i]);
	snap = take_snapshot(&F);
	replica_init(&b);
	rv = b.f.raft.restore(&b.f.raft, &snap); /* takes snap.base */
	cr_assert_eq(rv, 0, "restore = %d", rv);
	cr_assert_eq(store_applied_index(b.t.s), store_applied_index(T.s));
	da = h_dump(T.s);
	db = h_dump(b.t.s);
	h_same_dump(da, db, "restored tree differs (before: original, after: restored)");
	free(db);
	/* The orphan travelled too (it is in the database). */
	cr_assert_eq(h_getattr(b.t.s, INO(5)).nlink, 0u);

	/* Both go on identically from there... */
	{
		struct entry e = h_write(INO(1), 0, "HELLO", 5, 0);
		struct entry g = h_create(STORE_ROOT_INO, INO(10), FILE_MODE, "after", "a", 1);

		cr_assert_eq(apply_at(&F, &R, n + 1, &e), 0);
		cr_assert_eq(apply_at(&b.f, &b.r, n + 1, &e), 0);
		cr_assert_eq(apply_at(&F, &R, n + 2, &g), (int64_t)INO(10));
		cr_assert_eq(apply_at(&b.f, &b.r, n + 2, &g), (int64_t)INO(10));
		/* ... and the restored store skips what the snapshot held. */
		cr_assert_eq(apply_at(&b.f, &b.r, 2, &log[1]), 0);
	}
	free(da);
	da = h_dump(T.s);
	db = h_dump(b.t.s);
	h_same_dump(da, db, "diverged after the restore (before: original, after: restored)");
	free(db);
	/* The restored state is on disk, not only in the connection. */
	replica_reopen(&b);
	cr_assert_eq(store_applied_index(b.t.s), n + 2);
	db = h_dump(b.t.s);
	h_same_dump(da, db, "restored store after reopen (before: expected, after: got)");
	free(da);
	free(db);
	h_undefer(&b.t);
}

Test(fsm, snapshot_of_a_fresh_store_restores)
{
	static struct replica b; /* static: see h_defer */
	struct raft_buffer snap;
	struct entry e = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "f", "x", 1);
	char *da, *db;

	cr_assert_eq(apply_at(&F, &R, 3, &e), (int64_t)INO(0));
	snap = take_snapshot(&F);
	replica_init(&b);
	cr_assert_eq(b.f.raft.restore(&b.f.raft, &snap), 0);
	cr_assert_eq(store_applied_index(b.t.s), 3u);
	da = h_dump(T.s);
	db = h_dump(b.t.s);
	H_DUMP_EQ(da, db);
	free(da);
	free(db);
	h_undefer(&b.t);
}

Test(fsm, restoring_an_older_snapshot_is_a_noop)
{
	struct entry log[16];
	struct raft_buffer old, same;
	size_t n;
	char *before, *after;

	build_log(log, &n);
	for (size_t i = 0; i < n / 2; i++)
		apply_at(&F, &R, i + 1, &log[i]);
	old = take_snapshot(&F);
	for (size_t i = n / 2; i < n; i++)
		apply_at(&F, &R, i + 1, &log[i]);
	same = take_snapshot(&F);
	before = h_dump(T.s);
	cr_assert_eq(F.raft.restore(&F.raft, &old), 0, "older snapshot: success, nothing to do");
	cr_assert_eq(store_applied_index(T.s), n);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	free(after);
	cr_assert_eq(F.raft.restore(&F.raft, &same), 0, "snapshot at the same index");
	cr_assert_eq(store_applied_index(T.s), n);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	free(before);
	free(after);
}

/* restore() fails: the buffer stays the caller's, the store is unchanged. */
static void assert_restore_fails(struct replica *p, struct raft_buffer bad, const char *what)
{
	char *before = h_dump(p->t.s), *after;
	uint64_t applied = store_applied_index(p->t.s);
	int rv = p->f.raft.restore(&p->f.raft, &bad);

	if (rv == 0) {
		free(before); /* and restore() took the buffer */
		cr_assert_fail("%s: restore succeeded", what);
	}
	raft_free(bad.base); /* still ours on failure */
	after = h_dump(p->t.s);
	h_same_dump(before, after, "%s changed the store", what);
	free(before);
	free(after);
	cr_assert_eq(store_applied_index(p->t.s), applied, "%s: applied index changed", what);
}

static struct raft_buffer junk_buffer(size_t len, uint8_t seed)
{
	struct raft_buffer b = {.base = raft_malloc(len ? len : 1), .len = len};

	for (size_t i = 0; i < len; i++)
		((uint8_t *)b.base)[i] = (uint8_t)(seed + i * 131);
	return b;
}

/* The target of a bad restore: a replica with a tree and index of its own. */
static void replica_with_content(struct replica *p)
{
	struct entry e = h_create(STORE_ROOT_INO, INO(100), FILE_MODE, "mine", "keep me", 7);

	replica_init(p);
	cr_assert_eq(apply_at(&p->f, &p->r, 1, &e), (int64_t)INO(100));
}

Test(fsm, restoring_garbage_fails_and_changes_nothing)
{
	static struct replica b;	/* static: see h_defer */
	static struct raft_buffer snap; /* static: see h_defer */
	struct raft_buffer bad;

	replica_with_content(&b);
	assert_restore_fails(&b, junk_buffer(0, 1), "an empty buffer");
	assert_restore_fails(&b, junk_buffer(100, 2), "100 bytes of junk");
	assert_restore_fails(&b, junk_buffer(8192, 3), "8 KiB of junk");

	/* A real snapshot with its header damaged. */
	{
		struct entry e = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "f", "x", 1);

		apply_at(&F, &R, 5, &e);
	}
	snap = take_snapshot(&F);
	defer_free(&snap);
	bad = dup_buffer(snap);
	memset(bad.base, 'X', 16); /* "SQLite format 3\0" */
	assert_restore_fails(&b, bad, "a snapshot without its magic");
	h_undefer(&snap.base);
	h_undefer(&b.t);
}

/* A snapshot cut short (a torn transfer): the first pages are intact, so the
 * applied index can be read from it, but the rest of the tree is missing. */
Test(fsm, restoring_a_truncated_snapshot_fails_and_changes_nothing)
{
	static struct replica b;	/* static: see h_defer */
	static struct raft_buffer snap; /* static: see h_defer */
	struct raft_buffer bad;
	char name[16];
	static char blob[2048];

	memset(blob, 'b', sizeof(blob));
	for (int i = 0; i < 40; i++) {
		struct entry e;

		snprintf(name, sizeof(name), "file%02d", i);
		e = h_create(STORE_ROOT_INO, INO(i), FILE_MODE, name, blob, sizeof(blob));
		cr_assert_eq(apply_at(&F, &R, (uint64_t)i + 1, &e), (int64_t)INO(i));
	}
	snap = take_snapshot(&F);
	defer_free(&snap);
	cr_assert(snap.len >= 8 * 4096, "snapshot of %zu bytes", snap.len);
	replica_with_content(&b);
	bad = dup_buffer(snap);
	bad.len = snap.len / 2;
	assert_restore_fails(&b, bad, "the first half of a snapshot");
	h_undefer(&snap.base);
	h_undefer(&b.t);
}

/* Rewrite a snapshot with SQL, returning a raft_malloc'd copy. */
static struct raft_buffer edit_snapshot(struct raft_buffer snap, const char *sql)
{
	sqlite3 *db;
	unsigned char *img = sqlite3_malloc64(snap.len), *out;
	sqlite3_int64 size = 0;
	struct raft_buffer b;
	char *err = NULL;

	cr_assert_not_null(img);
	memcpy(img, snap.base, snap.len);
	cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
	cr_assert_eq(
	    sqlite3_deserialize(db, "main", img, (sqlite3_int64)snap.len, (sqlite3_int64)snap.len,
				SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE),
	    SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s: %s", sql, err);
	out = sqlite3_serialize(db, "main", &size, 0);
	cr_assert_not_null(out);
	b.len = (size_t)size;
	b.base = raft_malloc(b.len);
	memcpy(b.base, out, b.len);
	sqlite3_free(out);
	sqlite3_close(db);
	return b;
}

/* A snapshot that is a database, newer than the store, but not one this
 * store can use (another format, missing metadata, or not a store at all)
 * must be refused before it replaces anything. */
static void unusable_snapshot(const char *sql, const char *what)
{
	static struct replica b;	/* static: see h_defer */
	static struct raft_buffer snap; /* static: see h_defer */
	struct entry e = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "f", "x", 1);

	cr_assert_eq(apply_at(&F, &R, 10, &e), (int64_t)INO(0));
	snap = take_snapshot(&F);
	defer_free(&snap);
	replica_with_content(&b);
	assert_restore_fails(&b, edit_snapshot(snap, sql), what);
	h_undefer(&snap.base);
	h_undefer(&b.t);
}

Test(fsm, edited_snapshot_still_restores)
{
	/* The editing itself leaves a restorable snapshot, so the failures
	 * below come from what the edits change. */
	static struct replica c;	/* static: see h_defer */
	static struct raft_buffer snap; /* static: see h_defer */
	struct raft_buffer same;
	struct entry e = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "f", "x", 1);
	char *da, *db;

	cr_assert_eq(apply_at(&F, &R, 10, &e), (int64_t)INO(0));
	snap = take_snapshot(&F);
	defer_free(&snap);
	same = edit_snapshot(snap, "SELECT 1;");
	replica_init(&c);
	cr_assert_eq(c.f.raft.restore(&c.f.raft, &same), 0);
	cr_assert_eq(store_applied_index(c.t.s), 10u);
	da = h_dump(T.s);
	db = h_dump(c.t.s);
	H_DUMP_EQ(da, db);
	free(da);
	free(db);
	h_undefer(&snap.base);
	h_undefer(&c.t);
}

Test(fsm, restoring_another_format_fails_and_changes_nothing)
{
	unusable_snapshot("UPDATE meta SET value = 99 WHERE key = 'format';",
			  "a snapshot of another store format");
}

Test(fsm, restoring_without_metadata_fails_and_changes_nothing)
{
	unusable_snapshot("DELETE FROM meta WHERE key = 'bytes';",
			  "a snapshot without the byte count");
}

Test(fsm, restoring_a_non_store_fails_and_changes_nothing)
{
	unusable_snapshot("DROP TABLE inodes; DROP TABLE dentries; DROP TABLE xattrs; "
			  "DELETE FROM meta WHERE key <> 'applied';",
			  "a database with only an applied index");
}

/* A snapshot installed while entries wait drops those it covers. */
Test(fsm, restore_drops_deferred_entries_it_covers)
{
	static struct replica b; /* static: see h_defer */
	struct entry e1 = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "f", "x", 1);
	struct entry e2 = h_create(STORE_ROOT_INO, INO(1), FILE_MODE, "g", "y", 1);
	struct raft_buffer snap;
	sqlite3 *db;

	cr_assert_eq(apply_at(&F, &R, 1, &e1), (int64_t)INO(0));
	cr_assert_eq(apply_at(&F, &R, 2, &e2), (int64_t)INO(1));
	snap = take_snapshot(&F);
	replica_init(&b);
	cr_assert_eq(sqlite3_open(b.t.path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	cr_assert_eq(apply_at(&b.f, &b.r, 1, &e1), FSM_DEFERRED);
	cr_assert_eq(apply_at(&b.f, &b.r, 2, &e2), FSM_DEFERRED);
	cr_assert_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	cr_assert_eq(b.f.raft.restore(&b.f.raft, &snap), 0);
	cr_assert_eq(b.f.n_deferred, 0u);
	cr_assert_null(b.f.deferred);
	cr_assert_eq(store_applied_index(b.t.s), 2u);
}
