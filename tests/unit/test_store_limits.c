/*
 * The sqlite store's byte accounting and the store byte limit.
 */
#include "store_fixture.h"

#include <raft.h>
#include <sqlite3.h>

/* --- byte accounting --------------------------------------------------------- */

Test(store, bytes_are_accounted)
{
	uint64_t base = BASE_BYTES, f = ENTRY_BYTES(1, 0), l = ENTRY_BYTES(1, 0);

	mkfile(STORE_ROOT_INO, INO(0), "f", "12345");
	H_OK(&T, h_create(STORE_ROOT_INO, INO(1), LNK_MODE, "l", "abc", 3));
	cr_assert_eq(bytes_now(), base + f + 5 + l + 3);
	H_OK(&T, h_write(INO(0), 10, "x", 1, 0));
	cr_assert_eq(bytes_now(), base + f + 11 + l + 3);
	H_OK(&T, h_setxattr(INO(0), "user.v", "0123456789", 10, 0));
	cr_assert_eq(bytes_now(), base + f + 21 + l + 3);
	H_OK(&T, h_setxattr(INO(0), "user.v", "01", 2, 0));
	cr_assert_eq(bytes_now(), base + f + 13 + l + 3);
	H_OK(&T, h_removexattr(INO(0), "user.v"));
	cr_assert_eq(bytes_now(), base + f + 11 + l + 3);
	truncate_to(INO(0), 1);
	cr_assert_eq(bytes_now(), base + f + 1 + l + 3);
	H_OK(&T, h_unlink(STORE_ROOT_INO, "l", 0));
	cr_assert_eq(bytes_now(), base + f + 1, "an orphan counts nothing");
	cr_assert_eq(store_drop_orphan(T.s, INO(1)), 0);
	cr_assert_eq(bytes_now(), base + f + 1);
	/* Removing a directory releases its xattrs. */
	mkdir_(STORE_ROOT_INO, INO(2), "d");
	H_OK(&T, h_setxattr(INO(2), "user.v", "abcd", 4, 0));
	cr_assert_eq(bytes_now(), base + f + 1 + ENTRY_BYTES(1, 4));
	H_OK(&T, h_unlink(STORE_ROOT_INO, "d", ENTRY_F_DIR));
	cr_assert_eq(bytes_now(), base + f + 1);
	/* And the count survives a reopen. */
	h_store_reopen(&T);
	cr_assert_eq(bytes_now(), base + f + 1);
}

/* DESIGN §9 "metadata counted": every inode and every name costs. */
Test(store, metadata_is_counted)
{
	uint64_t base = BASE_BYTES;

	mkdir_(STORE_ROOT_INO, INO(0), "dir");
	cr_assert_eq(bytes_now(), base + STORE_INODE_COST + STORE_NAME_COST + 3,
		     "an empty directory costs its inode and its name");
	mkfile(INO(0), INO(1), "empty", "");
	cr_assert_eq(bytes_now(), base + ENTRY_BYTES(3, 0) + ENTRY_BYTES(5, 0));
	/* A hard link is one more name, not one more inode. */
	H_OK(&T, h_link(INO(1), STORE_ROOT_INO, "hard-link"));
	cr_assert_eq(bytes_now(),
		     base + ENTRY_BYTES(3, 0) + ENTRY_BYTES(5, 0) + STORE_NAME_COST + 9);
	/* A rename changes the name's length only. */
	H_OK(&T, h_rename(STORE_ROOT_INO, "hard-link", INO(0), "h", 0));
	cr_assert_eq(bytes_now(),
		     base + ENTRY_BYTES(3, 0) + ENTRY_BYTES(5, 0) + STORE_NAME_COST + 1);
	/* Over an existing file: its name and inode go. */
	mkfile(INO(0), INO(2), "other", "123");
	H_OK(&T, h_rename(INO(0), "other", INO(0), "h", 0));
	cr_assert_eq(bytes_now(), base + ENTRY_BYTES(3, 0) + ENTRY_BYTES(5, 0) + ENTRY_BYTES(1, 3));
	/* Exchanges and refusals change nothing. */
	H_OK(&T, h_rename(INO(0), "h", INO(0), "empty", RENAME_EXCHANGE));
	H_REFUSED(&T, h_create(INO(0), INO(3), DIR_MODE, "empty", NULL, 0), EEXIST);
	cr_assert_eq(bytes_now(), base + ENTRY_BYTES(3, 0) + ENTRY_BYTES(5, 0) + ENTRY_BYTES(1, 3));
	H_OK(&T, h_unlink(INO(0), "h", 0));
	H_OK(&T, h_unlink(INO(0), "empty", 0));
	H_OK(&T, h_unlink(STORE_ROOT_INO, "dir", ENTRY_F_DIR));
	cr_assert_eq(bytes_now(), base, "everything given back");
}

/* Set the store limit in meta (every node has it there) and reopen. */
static void set_max_bytes(uint64_t max)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "UPDATE meta SET value = %llu WHERE key = 'max_bytes'",
		 (unsigned long long)max);
	cr_assert_eq(sqlite3_exec(store_sqlite(T.s), sql, NULL, NULL, NULL), SQLITE_OK);
	h_store_reopen(&T);
}

/* The case: empty directories alone fill the store. */
Test(store, empty_directories_fill_the_store)
{
	uint64_t max = BASE_BYTES + 100 * ENTRY_BYTES(4, 0) + 50;
	char name[8], *before, *after;
	int made = 0;

	set_max_bytes(max);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "d%03d", i);
		struct entry e = h_create(STORE_ROOT_INO, INO(i), DIR_MODE, name, NULL, 0);

		e.request_id = 1000 + (uint64_t)i;
		if (h_apply(&T, &e) < 0) {
			cr_assert_eq(T.ch.result, -ENOSPC, "%s: %s", name,
				     strerror((int)-T.ch.result));
			break;
		}
		made++;
	}
	cr_assert_eq(made, 100);
	cr_assert_eq(bytes_now(), max - 50);
	before = h_dump(T.s);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(500), FILE_MODE, "f", NULL, 0), ENOSPC);
	H_REFUSED(&T,
		  h_rename(STORE_ROOT_INO, "d000", STORE_ROOT_INO,
			   "a-name-that-is-longer-than-the-fifty-bytes-left-in-the-store", 0),
		  ENOSPC);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	free(before);
	free(after);
	/* One removed makes room for one. */
	H_OK(&T, h_unlink(STORE_ROOT_INO, "d042", ENTRY_F_DIR));
	mkdir_(STORE_ROOT_INO, INO(600), "new1");
	cr_assert_eq(bytes_now(), max - 50);
}

/* A store counted the old way (content and xattrs only, no "accounting"
 * in meta) is recounted when it is opened. */
Test(store, an_older_count_is_migrated_at_open)
{
	uint64_t v = 0;

	mkdir_(STORE_ROOT_INO, INO(0), "d");
	mkfile(INO(0), INO(1), "f", "12345");
	cr_assert_eq(sqlite3_exec(store_sqlite(T.s),
				  "DELETE FROM meta WHERE key = 'accounting';"
				  "UPDATE meta SET value = 5 WHERE key = 'bytes'",
				  NULL, NULL, NULL),
		     SQLITE_OK);
	h_store_reopen(&T);
	cr_assert_eq(bytes_now(), BASE_BYTES + ENTRY_BYTES(1, 0) + ENTRY_BYTES(1, 5));
	{
		sqlite3_stmt *st;

		cr_assert_eq(sqlite3_prepare_v2(store_sqlite(T.s),
						"SELECT value FROM meta WHERE key = 'accounting'",
						-1, &st, NULL),
			     SQLITE_OK);
		cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "the new accounting is recorded");
		v = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	cr_assert_eq(v, 2u);
}

/* Filling the store takes about 256 writes of 1 MiB (a few seconds). */
Test(store, store_byte_limit, .timeout = 100)
{
	uint8_t *mib = malloc(MiB);
	char name[16], *before, *after;
	unsigned n = 0;
	uint64_t room, last;

	memset(mib, 'z', MiB);
	mkfile(STORE_ROOT_INO, INO(1000), "w", "");
	/* Files of 1 MiB while they fit, then one that fills the store to
	 * its last byte. */
	for (;; n++) {
		snprintf(name, sizeof(name), "f%03u", n);
		room = STORE_DEFAULT_MAX_BYTES - bytes_now();
		if (room < ENTRY_BYTES(4, MiB))
			break;
		H_OK(&T, h_create(STORE_ROOT_INO, INO(n), FILE_MODE, name, mib, MiB));
	}
	cr_assert_gt(n, 200u);
	last = room - ENTRY_BYTES(4, 0);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(n), FILE_MODE, name, mib, last + 1), ENOSPC);
	H_OK(&T, h_create(STORE_ROOT_INO, INO(n), FILE_MODE, name, mib, last));
	cr_assert_eq(bytes_now(), STORE_DEFAULT_MAX_BYTES);
	before = h_dump(T.s);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(n + 1), FILE_MODE, "one-more", "x", 1), ENOSPC);
	H_REFUSED(&T, h_write(INO(1000), 0, "zz", 2, 0), ENOSPC);
	H_REFUSED(&T, h_write(INO(1000), 0, "z", 1, ENTRY_F_APPEND), ENOSPC);
	H_REFUSED(&T, h_write(INO(0), MiB, "z", 1, 0), EFBIG); /* the file limit first */
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(n + 1), LNK_MODE, "l", "x", 1), ENOSPC);
	H_REFUSED(&T, h_setxattr(INO(0), "user.x", "x", 1, 0), ENOSPC);
	/* Metadata is counted: nothing new fits, however empty. */
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(n + 1), FILE_MODE, "empty", NULL, 0), ENOSPC);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(n + 1), DIR_MODE, "dir", NULL, 0), ENOSPC);
	H_REFUSED(&T, h_link(INO(0), STORE_ROOT_INO, "link"), ENOSPC);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	free(after);
	cr_assert_eq(bytes_now(), STORE_DEFAULT_MAX_BYTES, "refusals charged nothing");
	/* A rename to a name no longer, and an unlink, still work. */
	H_OK(&T, h_rename(STORE_ROOT_INO, "f000", STORE_ROOT_INO, "g000", 0));
	H_OK(&T, h_write(INO(1), 0, "y", 1, 0));
	/* Shrinking one file makes room again, to the byte. */
	truncate_to(INO(0), MiB - 1000);
	last = 1000 - ENTRY_BYTES(4, 0);
	H_OK(&T, h_create(STORE_ROOT_INO, INO(n + 2), FILE_MODE, "fits", mib, last));
	cr_assert_eq(bytes_now(), STORE_DEFAULT_MAX_BYTES);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(n + 3), FILE_MODE, "no", NULL, 0), ENOSPC);
	free(before);
	free(mib);
}

/* An image of a store counted the old way (a snapshot or backup from an
 * earlier version) is recounted when it is restored; an image of a current
 * store keeps its count. */
Test(store, a_restored_image_has_the_current_count)
{
	struct h_store u;
	struct store_stats st;
	uint64_t want, recount;
	void *img;
	size_t len;

	mkdir_(STORE_ROOT_INO, INO(0), "dir");
	mkfile(INO(0), INO(1), "file", "content");
	want = bytes_now();
	cr_assert_eq(want, BASE_BYTES + ENTRY_BYTES(3, 0) + ENTRY_BYTES(4, 7));
	for (int old = 0; old <= 1; old++) {
		if (old)
			cr_assert_eq(sqlite3_exec(store_sqlite(T.s),
						  "DELETE FROM meta WHERE key = 'accounting';"
						  "UPDATE meta SET value = 7 WHERE key = 'bytes'",
						  NULL, NULL, NULL),
				     SQLITE_OK);
		cr_assert_eq(store_snapshot(T.s, &img, &len), 0);
		h_store_init(&u);
		cr_assert_eq(store_restore(u.s, img, len), 0);
		raft_free(img);
		cr_assert_eq(store_stats(u.s, &st), 0);
		cr_assert_eq(store_recount_bytes(u.s, &recount), 0);
		cr_assert_eq(st.bytes, want, "%s image: %llu", old ? "an old" : "a current",
			     (unsigned long long)st.bytes);
		cr_assert_eq(recount, want);
		h_store_fini(&u);
	}
}
