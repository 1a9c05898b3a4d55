/*
 * Snapshot markers, images made through a separate connection, and the
 * incremental vacuum (replication/snapshot.c, replication/store_vacuum.c):
 * a marker restores only onto a store at or past it; an image made while
 * the store is open restores into a fresh store with the same tree and
 * applied index; a store whose content is deleted gives its pages back.
 */
#include <sqlite3.h>
#include <sys/stat.h>

#include "../../replication/snapshot.h"
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
	sqlite3_wal_checkpoint_v2(store_sqlite(T.s), "main", SQLITE_CHECKPOINT_TRUNCATE, NULL,
				  NULL);
	cr_assert_gt(file_size(T.path), 20ll * MiB);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		H_OK(&T, h_unlink(STORE_ROOT_INO, name, 0));
		cr_assert_eq(store_drop_orphan(T.s, INO(i)), 0);
	}
	while ((rv = store_vacuum_step(T.s)) == 1)
		cr_assert_lt(++steps, 10000);
	cr_assert_eq(rv, 0);
	cr_assert_lt(file_size(T.path), 6ll * MiB, "store file: %lld bytes", file_size(T.path));
}
