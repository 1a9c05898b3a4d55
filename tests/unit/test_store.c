/*
 * The sqlite store: a fresh store, reads (also of missing things), opening
 * and its failures, and persistence across close and reopen. The other
 * test_store_*.c files test each concern of replication/store*.c.
 */
#include <sqlite3.h>

#include "store_fixture.h"

/* --- a fresh store ----------------------------------------------------------- */

Test(store, fresh_tree)
{
	static const struct {
		const char *name;
		uint64_t ino;
	} fixed[] = {{"gates", STORE_GATES_INO},
		     {"peers", STORE_PEERS_INO},
		     {"leases", STORE_LEASES_INO},
		     {"routing", STORE_ROUTING_INO},
		     {"config", STORE_CONFIG_INO}};
	struct store_attr root = h_getattr(T.s, STORE_ROOT_INO);
	char names[256] = "";
	struct store_stats st;

	cr_assert_eq(store_applied_index(T.s), 0u);
	cr_assert(S_ISDIR(root.mode));
	cr_assert_eq(root.nlink, 7u, "root: 2 + 5 subdirectories");
	cr_assert_eq(root.parent, STORE_ROOT_INO);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		struct store_attr a = h_lookup(T.s, STORE_ROOT_INO, fixed[i].name);

		cr_assert_eq(a.ino, fixed[i].ino, "%s", fixed[i].name);
		cr_assert_eq(a.mode, DIR_MODE);
		cr_assert_eq(a.nlink, 2u);
		cr_assert_eq(a.revision, 0u);
		cr_assert_eq(a.parent, STORE_ROOT_INO);
	}
	cr_assert_eq(store_readdir(T.s, STORE_ROOT_INO, count_cb, names), 0);
	cr_assert_str_eq(names, "config,gates,leases,peers,routing,", "readdir is in name order");
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, BASE_BYTES, "metadata counted");
	cr_assert_eq(bytes_now(), BASE_BYTES);
	cr_assert_eq(st.inodes, 6u);
	cr_assert_eq(st.max_file, STORE_DEFAULT_MAX_FILE);
	cr_assert_eq(st.max_bytes, STORE_DEFAULT_MAX_BYTES);
}

Test(store, reopen_keeps_everything)
{
	char *before, *after;
	uint64_t applied;
	struct store_change ch;
	struct entry e;

	populate();
	cr_assert_eq(store_apply_noop(T.s, T.index + 3), 0);
	T.index += 3;
	applied = store_applied_index(T.s);
	before = h_dump(T.s);
	h_store_reopen(&T);
	cr_assert_eq(store_applied_index(T.s), applied);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	/* Replays after the restart are recognised. */
	e = h_create(STORE_ROOT_INO, INO(60), FILE_MODE, "x", "x", 1);
	cr_assert_eq(store_apply(T.s, applied, &e, &ch), 1);
	free(after);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	/* And new entries still apply. */
	mkfile(STORE_ROOT_INO, INO(60), "x", "x");
	H_CONTENT_EQ(T.s, INO(60), "x");
	h_store_reopen(&T);
	H_CONTENT_EQ(T.s, h_lookup(T.s, STORE_ROOT_INO, "x").ino, "x");
	cr_assert_eq(store_applied_index(T.s), applied + 1);
	free(before);
	free(after);
}

/* --- reads and open ---------------------------------------------------------- */

static int stop_after_two(void *arg, const char *name, size_t len, uint64_t ino, uint32_t mode)
{
	int *calls = arg;

	(void)name;
	(void)len;
	(void)ino;
	(void)mode;
	return ++*calls == 2;
}

Test(store, reads_of_missing_things)
{
	struct store_attr a;
	void *data = NULL;
	size_t len = 0, n;
	char buf[4], *names = NULL;
	int calls = 0;

	cr_assert_eq(store_getattr(T.s, INO(0), &a), -ENOENT);
	cr_assert_eq(store_lookup(T.s, STORE_ROOT_INO, "nope", &a), -ENOENT);
	cr_assert_eq(store_lookup(T.s, INO(0), "x", &a), -ENOENT);
	cr_assert_eq(store_read(T.s, INO(0), 0, sizeof(buf), buf, &n), -ENOENT);
	cr_assert_eq(store_read_all(T.s, INO(0), &data, &len), -ENOENT);
	cr_assert_eq(store_getxattr(T.s, STORE_ROOT_INO, "user.none", &data, &len), -ENODATA);
	cr_assert_eq(store_listxattr(T.s, STORE_ROOT_INO, &names, &len), 0);
	cr_assert_eq(len, 0u);
	free(names);
	cr_assert_eq(store_readdir(T.s, STORE_ROOT_INO, stop_after_two, &calls), 0);
	cr_assert_eq(calls, 2, "readdir stops when the callback says so");
}

Test(store, open_failures_say_why)
{
	char dir[256], path[512], err[1024];
	struct store *s = NULL;
	FILE *f;
	int rv;

	h_tmpdir(dir, sizeof(dir));
	/* A directory that does not exist. */
	snprintf(path, sizeof(path), "%s/missing/store.db", dir);
	err[0] = '\0';
	rv = store_open(path, ns_validator(), &s, err, sizeof(err));
	cr_assert(rv < 0);
	cr_assert(strstr(err, path) != NULL, "message names the path: \"%s\"", err);
	/* A file that is not a database. */
	snprintf(path, sizeof(path), "%s/garbage.db", dir);
	f = fopen(path, "w");
	for (int i = 0; i < 1000; i++)
		fputs("this is not sqlite ", f);
	fclose(f);
	err[0] = '\0';
	rv = store_open(path, ns_validator(), &s, err, sizeof(err));
	cr_assert(rv < 0);
	cr_assert(strstr(err, path) != NULL, "message names the path: \"%s\"", err);
	/* A database of another format. */
	{
		sqlite3 *db;

		snprintf(path, sizeof(path), "%s/other.db", dir);
		cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
		cr_assert_eq(sqlite3_exec(db,
					  "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER "
					  "NOT NULL) WITHOUT ROWID; INSERT INTO meta VALUES "
					  "('format', 99);",
					  NULL, NULL, NULL),
			     SQLITE_OK);
		sqlite3_close(db);
		err[0] = '\0';
		rv = store_open(path, ns_validator(), &s, err, sizeof(err));
		cr_assert_eq(rv, -EPROTO);
		cr_assert(strstr(err, "format") != NULL, "\"%s\"", err);
	}
	h_rmtree(dir);
}
