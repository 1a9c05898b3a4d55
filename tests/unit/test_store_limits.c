/*
 * The sqlite store's byte accounting and the store byte limit.
 */
#include "store_fixture.h"

/* --- byte accounting --------------------------------------------------------- */

Test(store, bytes_are_accounted)
{
	struct store_stats st;

	mkfile(STORE_ROOT_INO, INO(0), "f", "12345");
	H_OK(&T, h_create(STORE_ROOT_INO, INO(1), LNK_MODE, "l", "abc", 3));
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, 8u);
	H_OK(&T, h_write(INO(0), 10, "x", 1, 0));
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, 14u);
	H_OK(&T, h_setxattr(INO(0), "user.v", "0123456789", 10, 0));
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, 24u);
	H_OK(&T, h_setxattr(INO(0), "user.v", "01", 2, 0));
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, 16u);
	H_OK(&T, h_removexattr(INO(0), "user.v"));
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, 14u);
	truncate_to(INO(0), 1);
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, 4u);
	H_OK(&T, h_unlink(STORE_ROOT_INO, "l", 0));
	cr_assert_eq(store_drop_orphan(T.s, INO(1)), 0);
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, 1u);
	/* Removing a directory releases its xattrs. */
	mkdir_(STORE_ROOT_INO, INO(2), "d");
	H_OK(&T, h_setxattr(INO(2), "user.v", "abcd", 4, 0));
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, 5u);
	H_OK(&T, h_unlink(STORE_ROOT_INO, "d", ENTRY_F_DIR));
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, 1u);
	/* And the count survives a reopen. */
	h_store_reopen(&T);
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, 1u);
}

/* Filling the store takes 256 writes of 1 MiB (a few seconds). */
Test(store, store_byte_limit, .timeout = 100)
{
	uint8_t *mib = malloc(MiB);
	struct store_stats st;
	char name[16], *before, *after;
	unsigned n = (unsigned)(STORE_DEFAULT_MAX_BYTES / MiB);

	memset(mib, 'z', MiB);
	mkfile(STORE_ROOT_INO, INO(n + 5), "w", "");
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		H_OK(&T, h_create(STORE_ROOT_INO, INO(i), FILE_MODE, name, mib, MiB));
	}
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, STORE_DEFAULT_MAX_BYTES);
	before = h_dump(T.s);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(n), FILE_MODE, "one-more", "x", 1), ENOSPC);
	H_REFUSED(&T, h_write(INO(n + 5), 0, "zz", 2, 0), ENOSPC);
	H_REFUSED(&T, h_write(INO(n + 5), 0, "z", 1, ENTRY_F_APPEND), ENOSPC);
	H_REFUSED(&T, h_write(INO(0), MiB, "z", 1, 0), EFBIG); /* the file limit first */
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(n), LNK_MODE, "l", "x", 1), ENOSPC);
	H_REFUSED(&T, h_setxattr(INO(0), "user.x", "x", 1, 0), ENOSPC);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	free(after);
	/* Things that take no bytes still work. */
	H_OK(&T, h_create(STORE_ROOT_INO, INO(n), FILE_MODE, "empty", NULL, 0));
	H_OK(&T, h_unlink(STORE_ROOT_INO, "empty", 0));
	cr_assert_eq(store_drop_orphan(T.s, INO(n)), 0);
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, STORE_DEFAULT_MAX_BYTES, "refusals charged nothing");
	/* Shrinking one file makes room again. */
	truncate_to(INO(0), MiB - 10);
	H_OK(&T, h_write(INO(1), 0, "y", 1, 0));
	H_OK(&T, h_create(STORE_ROOT_INO, INO(n + 1), FILE_MODE, "fits", "0123456789", 9));
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(n + 2), FILE_MODE, "no", "01", 2), ENOSPC);
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, STORE_DEFAULT_MAX_BYTES - 1);
	free(before);
	free(mib);
}
