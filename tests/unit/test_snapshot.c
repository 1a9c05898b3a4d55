/*
 * Snapshot markers, images made through a separate connection, and the
 * incremental vacuum (replication/snapshot.c, replication/store_vacuum.c):
 * a marker restores only onto a store at or past it; an image made while
 * the store is open restores into a fresh store with the same tree and
 * applied index; a store whose content is deleted gives its pages back; a
 * follower's install writes the image to a new file and swaps it in, and
 * raft's put then gets a marker of it (the snapshot_put wrapper, driven
 * through a stand-in raft_io on a real libuv loop); our own snapshot's put
 * reaches raft_uv only after the store's WAL is synced in a worker, and a
 * failed sync or a checkpointer's I/O error stops the process.
 */
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "../../replication/snapshot.h"
#include "../../replication/store_internal.h"
#include "../../replication/store_vacuum.h"
#include "helpers.h"

#define INO(n)	  (STORE_FIRST_DYNAMIC_INO + (n))
#define FILE_MODE (S_IFREG | 0644)
#define MiB	  (1u << 20)

static struct h_store T, B;

static void setup(void)
{
	h_store_init(&T);
	h_store_init(&B);
}

static void teardown(void)
{
	h_cleanup_run();
	h_store_fini(&T);
	h_store_fini(&B);
	h_leak_check();
}

TestSuite(snapshot, .init = setup, .fini = teardown);

static void mkfile(uint64_t ino, const char *name, const void *data, size_t len)
{
	H_OK(&T, h_create(STORE_ROOT_INO, ino, FILE_MODE, name, data, len));
}

Test(snapshot, a_marker_restores_only_onto_a_store_at_or_past_it)
{
	void *buf;
	size_t len;
	uint64_t applied = 0;

	mkfile(INO(1), "a", "one", 3);
	mkfile(INO(2), "b", "two", 3);
	cr_assert_eq(snapshot_marker_take(T.s, &buf, &len), 0);
	cr_assert_eq(len, SNAPSHOT_MARKER_SIZE);
	cr_assert(snapshot_is_marker(buf, len, &applied));
	cr_assert_eq(applied, store_applied_index(T.s));
	cr_assert_eq(snapshot_marker_restore(T.s, buf, len), 0);
	/* A store behind the marker lost what the log no longer has. */
	cr_assert_eq(snapshot_marker_restore(B.s, buf, len), -EUCLEAN);
	/* An sqlite image is never taken for a marker. */
	cr_assert_not(snapshot_is_marker("SQLite format 3\0xxxxxxxx", SNAPSHOT_MARKER_SIZE, NULL));
	raft_free(buf);
}

Test(snapshot, an_image_of_an_open_store_restores_elsewhere)
{
	struct store_attr a;
	void *img, *data;
	size_t len, n;
	uint64_t applied = 0;

	mkfile(INO(1), "a", "one", 3);
	mkfile(INO(2), "b", "two", 3);
	cr_assert_eq(snapshot_image(T.path, &img, &len, &applied), 0);
	cr_assert_eq(applied, store_applied_index(T.s));
	cr_assert_eq(store_restore(B.s, img, len), 0);
	raft_free(img);
	cr_assert_eq(store_applied_index(B.s), applied);
	cr_assert_eq(store_lookup(B.s, STORE_ROOT_INO, "b", &a), 0);
	cr_assert_eq(store_read_all(B.s, a.ino, &data, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_arr_eq(data, "two", 3);
	free(data);
}

static long long file_size(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0);
	return (long long)st.st_size;
}

Test(snapshot, deleted_content_gives_its_pages_back)
{
	static char blob[MiB];
	char name[16];
	int rv, steps = 0;

	cr_assert_eq(store_vacuum_setup(T.s), 0);
	for (int i = 0; i < 20; i++) {
		blob[0] = (char)i;
		snprintf(name, sizeof(name), "f%d", i);
		mkfile(INO(i), name, blob, sizeof(blob));
	}
	/* The store's own checkpointer may be at work: BUSY until it is done. */
	for (int tries = 0; sqlite3_wal_checkpoint_v2(store_sqlite(T.s), "main",
						      SQLITE_CHECKPOINT_TRUNCATE, NULL,
						      NULL) == SQLITE_BUSY;
	     tries++) {
		cr_assert_lt(tries, 500, "the WAL stayed busy for 5 s");
		usleep(10000);
	}
	cr_assert_gt(file_size(T.path), 20ll * MiB);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		H_OK(&T, h_unlink(STORE_ROOT_INO, name, 0));
		cr_assert_eq(store_drop_orphan(T.s, INO(i)), 0);
	}
	while ((rv = store_vacuum_step(T.s)) == 1)
		cr_assert_lt(++steps, 10000);
	cr_assert_eq(rv, 0);
	/* The store's checkpointer shrinks the file, in its own time. */
	for (int tries = 0; file_size(T.path) >= 6ll * MiB; tries++) {
		cr_assert_lt(tries, 500, "store file still %lld bytes after 5 s", file_size(T.path));
		usleep(10000);
	}
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void assert_has_b(struct store *s)
{
	struct store_attr a;
	void *data;
	size_t n;

	cr_assert_eq(store_lookup(s, STORE_ROOT_INO, "b", &a), 0);
	cr_assert_eq(store_read_all(s, a.ino, &data, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_arr_eq(data, "two", 3);
	free(data);
}

Test(snapshot, a_checked_file_replaces_the_store_and_it_goes_on)
{
	char with[PATH_MAX + 16], err[256] = "";
	struct store_attr a;
	void *img;
	size_t len;
	uint64_t applied = 0, checked = 0;

	mkfile(INO(1), "a", "one", 3);
	mkfile(INO(2), "b", "two", 3);
	cr_assert_eq(snapshot_image(T.path, &img, &len, &applied), 0);
	snprintf(with, sizeof(with), "%s.install", B.path);
	write_file(with, "not a store", 11);
	cr_assert_neq(store_file_check(with, &checked), 0);
	write_file(with, img, len);
	raft_free(img);
	cr_assert_eq(store_file_check(with, &checked), 0);
	cr_assert_eq(checked, applied);
	cr_assert_eq(store_replace(B.s, with, err, sizeof(err)), 0, "%s", err);
	cr_assert(store_is_open(B.s));
	cr_assert_eq(access(with, F_OK), -1, "the install file is renamed away");
	cr_assert_eq(store_applied_index(B.s), applied);
	assert_has_b(B.s);
	/* The prepared statements follow the new connection. */
	B.index = applied;
	H_OK(&B, h_create(STORE_ROOT_INO, INO(3), FILE_MODE, "c", "three", 5));
	cr_assert_eq(store_lookup(B.s, STORE_ROOT_INO, "c", &a), 0);
	/* And the new file is what a restart opens. */
	h_store_reopen(&B);
	assert_has_b(B.s);
	cr_assert_eq(store_lookup(B.s, STORE_ROOT_INO, "c", &a), 0);
}

/* A stand-in for raft_uv: snapshot_put records what it was given. */
static struct raft_buffer put_data;
static unsigned put_trailing;
static int put_calls, raft_cb_status = -1, raft_cb_calls;
static uint64_t put_syncs; /* the wrapper's WAL syncs when the put came */
static struct snapshot_io *put_wrapper;

/* A stand-in for the WAL sync: where it ran and on what, then the real one
 * (or a failure). */
static int (*real_wal_sync)(int fd);
static pid_t sync_tid;
static char sync_path[PATH_MAX + 8];
static int sync_calls, sync_fails;

static int fake_wal_sync(int fd)
{
	char link[64];
	ssize_t n;

	sync_tid = gettid();
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, sync_path, sizeof(sync_path) - 1);
	sync_path[n > 0 ? n : 0] = '\0';
	sync_calls++;
	return sync_fails != 0 ? sync_fails : real_wal_sync(fd);
}

static void use_fake_wal_sync(int fail)
{
	real_wal_sync = snapshot_wal_sync;
	snapshot_wal_sync = fake_wal_sync;
	sync_fails = fail;
	sync_calls = 0;
}

static int fake_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
		    const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
	(void)io;
	put_calls++;
	put_trailing = trailing;
	put_data = snapshot->bufs[0];
	put_syncs = put_wrapper != NULL ? put_wrapper->stats.wal_syncs : 0;
	req->cb = cb;
	cb(req, 0);
	return 0;
}

static void raft_put_cb(struct raft_io_snapshot_put *req, int status)
{
	(void)req;
	raft_cb_status = status;
	raft_cb_calls++;
}

/* Our own snapshot's put, and a close while its WAL sync runs: raft's put
 * ends cancelled, once, and never reaches raft_uv. */
static void put_and_close(uv_loop_t *loop, struct raft_io *io, struct snapshot_io *w,
			  struct raft_io_snapshot_put *req, struct raft_snapshot *snap)
{
	int calls = put_calls;

	raft_cb_status = -1;
	raft_cb_calls = 0;
	cr_assert_eq(io->snapshot_put(io, 8, req, snap, raft_put_cb), 0);
	snapshot_io_close(w);
	while (w->syncing)
		uv_run(loop, UV_RUN_ONCE);
	uv_run(loop, UV_RUN_NOWAIT);
	cr_assert_eq(raft_cb_status, RAFT_CANCELED);
	cr_assert_eq(raft_cb_calls, 1);
	cr_assert_eq(put_calls, calls, "raft_uv got a put that was cancelled");
}

Test(snapshot, an_install_swaps_the_file_and_puts_a_marker)
{
	uv_loop_t loop;
	struct raft_io io;
	struct snapshot_io w;
	struct raft_io_snapshot_put req;
	struct raft_buffer buf;
	struct raft_snapshot snap;
	uint64_t applied = 0, marked = 0;

	mkfile(INO(1), "a", "one", 3);
	mkfile(INO(2), "b", "two", 3);
	cr_assert_eq(snapshot_image(T.path, &buf.base, &buf.len, &applied), 0);
	memset(&io, 0, sizeof(io));
	io.snapshot_put = fake_put;
	cr_assert_eq(uv_loop_init(&loop), 0);
	cr_assert_eq(snapshot_io_wrap(&w, &io, &loop, B.s), 0);
	put_wrapper = &w;
	memset(&snap, 0, sizeof(snap));
	snap.index = 42;
	snap.term = 2;
	snap.bufs = &buf;
	snap.n_bufs = 1;
	cr_assert_eq(io.snapshot_put(&io, 0, &req, &snap, raft_put_cb), 0);
	cr_assert_eq(put_calls, 0, "the image is written off the loop first");
	while (raft_cb_status == -1)
		uv_run(&loop, UV_RUN_ONCE);
	cr_assert_eq(raft_cb_status, 0);
	cr_assert_eq(put_calls, 1);
	cr_assert_eq(put_trailing, 0);
	cr_assert(snapshot_is_marker(put_data.base, put_data.len, &marked));
	cr_assert_eq(marked, applied);
	/* raft restores from the buffer it handed over: the marker now. */
	cr_assert(snapshot_is_marker(buf.base, buf.len, NULL));
	cr_assert_eq(snapshot_marker_restore(B.s, buf.base, buf.len), 0);
	cr_assert_eq(store_applied_index(B.s), applied);
	assert_has_b(B.s);
	raft_free(buf.base);
	/* Our own snapshots (trailing > 0) go through as they are, but only
	 * once the store's WAL is synced, in a worker: not on the loop. */
	use_fake_wal_sync(0);
	cr_assert_eq(snapshot_marker_take(B.s, &buf.base, &buf.len), 0);
	raft_cb_status = -1;
	raft_cb_calls = 0;
	cr_assert_eq(io.snapshot_put(&io, 8, &req, &snap, raft_put_cb), 0);
	cr_assert_eq(put_calls, 1, "raft_uv got the marker before the WAL was synced");
	cr_assert_eq(w.stats.wal_syncs, 0);
	cr_assert(w.syncing);
	while (raft_cb_status == -1)
		uv_run(&loop, UV_RUN_ONCE);
	cr_assert_eq(raft_cb_status, 0);
	cr_assert_eq(raft_cb_calls, 1);
	cr_assert_eq(sync_calls, 1);
	cr_assert_neq(sync_tid, gettid(), "the WAL was synced on the loop thread");
	{
		char wal[PATH_MAX + 8];

		snprintf(wal, sizeof(wal), "%s-wal", B.path);
		cr_assert_str_eq(sync_path, wal);
	}
	cr_assert_eq(put_calls, 2);
	cr_assert_eq(put_syncs, 1, "the WAL was synced before raft_uv got the marker");
	cr_assert_eq(put_trailing, 8);
	cr_assert_eq(put_data.base, buf.base);
	cr_assert_not(w.syncing);
	cr_assert_eq(w.stats.taken, 1);
	/* A close while the WAL is being synced: raft's put is cancelled
	 * (once), raft_uv never sees it. */
	put_and_close(&loop, &io, &w, &req, &snap);
	cr_assert_eq(w.stats.taken, 1);
	/* Closing, a failed sync only cancels: the process is going anyway,
	 * and the put never reached raft_uv. */
	{
		struct snapshot_io w2;

		cr_assert_eq(snapshot_io_wrap(&w2, &io, &loop, B.s), 0);
		sync_fails = -EIO;
		put_and_close(&loop, &io, &w2, &req, &snap);
		sync_fails = 0;
	}
	/* Closed: raft's next put is refused at once. */
	cr_assert_eq(io.snapshot_put(&io, 8, &req, &snap, raft_put_cb), RAFT_CANCELED);
	snapshot_wal_sync = real_wal_sync;
	put_wrapper = NULL;
	raft_free(buf.base);
	cr_assert_eq(uv_loop_close(&loop), 0);
}

/* Our own snapshot's put, up to where it stops the process. */
static void take_own_snapshot(uv_loop_t *loop, struct snapshot_io *w, struct raft_io *io)
{
	static struct raft_io_snapshot_put req;
	static struct raft_buffer buf;
	static struct raft_snapshot snap;

	memset(io, 0, sizeof(*io));
	io->snapshot_put = fake_put;
	cr_assert_eq(uv_loop_init(loop), 0);
	cr_assert_eq(snapshot_io_wrap(w, io, loop, B.s), 0);
	cr_assert_eq(snapshot_marker_take(B.s, &buf.base, &buf.len), 0);
	memset(&snap, 0, sizeof(snap));
	snap.index = 7;
	snap.term = 1;
	snap.bufs = &buf;
	snap.n_bufs = 1;
	put_calls = 0;
	raft_cb_status = -1;
	cr_assert_eq(io->snapshot_put(io, 8, &req, &snap, raft_put_cb), 0);
	for (int i = 0; i < 1000 && raft_cb_status == -1; i++)
		uv_run(loop, UV_RUN_ONCE);
}

/* The kernel may have dropped the WAL's pages it could not write: raft
 * must not drop the log entries the store may lack (a restart applies
 * them again). */
Test(snapshot, a_failed_wal_sync_stops_the_process, .signal = SIGABRT)
{
	uv_loop_t loop;
	struct raft_io io;
	struct snapshot_io w;

	mkfile(INO(1), "a", "one", 3);
	use_fake_wal_sync(-EIO);
	take_own_snapshot(&loop, &w, &io);
	cr_assert_fail("the put ended (status %d, raft_uv called %d times) after a failed WAL sync",
		raft_cb_status, put_calls);
}

Test(snapshot, a_checkpointer_io_error_stops_the_process_at_the_next_snapshot,
     .signal = SIGABRT)
{
	uv_loop_t loop;
	struct raft_io io;
	struct snapshot_io w;

	mkfile(INO(1), "a", "one", 3);
	cr_assert_eq(store_write_error(B.s), 0);
	B.s->write_error = SQLITE_IOERR_FSYNC; /* as store_checkpoint.c keeps it */
	cr_assert_eq(store_write_error(B.s), SQLITE_IOERR_FSYNC);
	use_fake_wal_sync(0);
	take_own_snapshot(&loop, &w, &io);
	cr_assert_fail("the put ended (status %d, raft_uv called %d times) after a checkpoint's I/O "
		"error",
		raft_cb_status, put_calls);
}
