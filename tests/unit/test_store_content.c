/*
 * The sqlite store's file content and attributes: write (at an offset,
 * append, replace), identical writes, truncate, chmod, chown and mtime.
 */
#include "store_fixture.h"

/* --- write ------------------------------------------------------------------- */

Test(store, write_at_offset_zero_fills)
{
	char buf[16];
	size_t n;

	mkfile(STORE_ROOT_INO, INO(0), "f", "abc");
	H_OK(&T, h_write(INO(0), 6, "XY", 2, 0));
	cr_assert(!T.ch.noop);
	cr_assert_eq(h_getattr(T.s, INO(0)).size, 8u);
	H_CONTENT_EQ(T.s, INO(0), "abc\0\0\0XY");
	assert_stamped(INO(0), T.index, true);
	H_OK(&T, h_write(INO(0), 1, "Q", 1, 0));
	H_CONTENT_EQ(T.s, INO(0), "aQc\0\0\0XY");
	cr_assert_eq(h_getattr(T.s, INO(0)).size, 8u, "overwrite inside keeps the size");
	cr_assert_eq(store_read(T.s, INO(0), 2, 5, buf, &n), 0);
	cr_assert_eq(n, 5u);
	cr_assert(memcmp(buf, "c\0\0\0X", 5) == 0);
	/* Writing at the very end extends. */
	H_OK(&T, h_write(INO(0), 8, "!", 1, 0));
	H_CONTENT_EQ(T.s, INO(0), "aQc\0\0\0XY!");
	/* A write into an empty file at an offset. */
	mkfile(STORE_ROOT_INO, INO(1), "g", "");
	H_OK(&T, h_write(INO(1), 3, "z", 1, 0));
	H_CONTENT_EQ(T.s, INO(1), "\0\0\0z");
}

Test(store, append_ignores_the_offset)
{
	mkfile(STORE_ROOT_INO, INO(0), "log", "one\n");
	H_OK(&T, h_write(INO(0), 0, "two\n", 4, ENTRY_F_APPEND));
	H_OK(&T, h_write(INO(0), 1000, "three\n", 6, ENTRY_F_APPEND));
	H_CONTENT_EQ(T.s, INO(0), "one\ntwo\nthree\n");
	cr_assert_eq(h_getattr(T.s, INO(0)).size, 14u);
	assert_stamped(INO(0), T.index, true);
}

Test(store, replace_sets_the_whole_content)
{
	mkfile(STORE_ROOT_INO, INO(0), "f", "a long old content");
	H_OK(&T, h_write(INO(0), 0, "new", 3, ENTRY_F_REPLACE));
	H_CONTENT_EQ(T.s, INO(0), "new");
	cr_assert_eq(h_getattr(T.s, INO(0)).size, 3u);
	/* at an offset (a pwrite after a held O_TRUNC): NULs up to it, then
	 * the data, whatever the old content was */
	H_OK(&T, h_write(INO(0), 5, "abc", 3, ENTRY_F_REPLACE));
	H_CONTENT_EQ(T.s, INO(0), "\0\0\0\0\0abc");
	cr_assert_eq(h_getattr(T.s, INO(0)).size, 8u);
	H_REFUSED(&T, h_write(INO(0), MiB, "x", 1, ENTRY_F_REPLACE), EFBIG);
	H_CONTENT_EQ(T.s, INO(0), "\0\0\0\0\0abc");
	H_OK(&T, h_write(INO(0), 0, NULL, 0, ENTRY_F_REPLACE));
	H_CONTENT_EQ(T.s, INO(0), "");
	cr_assert_eq(h_getattr(T.s, INO(0)).size, 0u);
	assert_stamped(INO(0), T.index, true);
}

Test(store, write_refusals)
{
	uint8_t *big = calloc(1, MiB);

	mkfile(STORE_ROOT_INO, INO(0), "f", "abc");
	mkdir_(STORE_ROOT_INO, INO(1), "d");
	H_OK(&T, h_create(STORE_ROOT_INO, INO(2), LNK_MODE, "l", "f", 1));
	/* A deleted (or, on some node, already dropped) inode: a no-op, with the
	 * same outcome on every node. */
	H_OK(&T, h_write(INO(99), 0, "x", 1, 0));
	cr_assert_eq(store_getattr(T.s, INO(99), &(struct store_attr){0}), -ENOENT);
	H_REFUSED(&T, h_write(INO(1), 0, "x", 1, 0), EISDIR);
	H_REFUSED(&T, h_write(INO(2), 0, "x", 1, 0), EINVAL);
	H_REFUSED(&T, h_write(INO(0), MiB, "x", 1, 0), EFBIG);
	H_REFUSED(&T, h_write(INO(0), UINT64_MAX, "x", 1, 0), EFBIG);
	H_REFUSED(&T, h_write(INO(0), UINT64_MAX - 1, "xy", 2, 0), EFBIG);
	H_REFUSED(&T, h_write(INO(0), 1, big, MiB, 0), EFBIG);
	H_REFUSED(&T, h_write(INO(0), 0, big, MiB, ENTRY_F_APPEND), EFBIG);
	{
		uint8_t *over = calloc(1, MiB + 1);

		H_REFUSED(&T, h_write(INO(0), 0, over, MiB + 1, ENTRY_F_REPLACE), EFBIG);
		free(over);
	}
	H_CONTENT_EQ(T.s, INO(0), "abc");
	/* Up to the limit exactly. */
	H_OK(&T, h_write(INO(0), MiB - 1, "x", 1, 0));
	cr_assert_eq(h_getattr(T.s, INO(0)).size, MiB);
	free(big);
}

Test(store, identical_write_is_a_noop)
{
	struct store_attr before, after;
	uint64_t dir_rev;

	mkfile(STORE_ROOT_INO, INO(0), "f", "same");
	before = h_getattr(T.s, INO(0));
	dir_rev = h_getattr(T.s, STORE_ROOT_INO).revision;
	H_OK(&T, h_write(INO(0), 0, "same", 4, 0));
	cr_assert(T.ch.noop, "identical write: noop");
	H_OK(&T, h_write(INO(0), 1, "am", 2, 0));
	cr_assert(T.ch.noop, "identical partial write: noop");
	H_OK(&T, h_write(INO(0), 0, "same", 4, ENTRY_F_REPLACE));
	cr_assert(T.ch.noop, "identical replace: noop");
	H_OK(&T, h_write(INO(0), 2, NULL, 0, 0));
	cr_assert(T.ch.noop, "empty write: noop");
	{
		struct entry e = h_setattr(INO(0), ENTRY_SET_SIZE);

		e.size = 4;
		H_OK(&T, e);
		cr_assert(T.ch.noop, "truncate to the same size: noop");
	}
	after = h_getattr(T.s, INO(0));
	H_ATTR_EQ(before, after);
	cr_assert_eq(h_getattr(T.s, STORE_ROOT_INO).revision, dir_rev);
	cr_assert_eq(store_applied_index(T.s), T.index, "a noop still advances the index");
	/* A write that changes one byte is not a noop. */
	H_OK(&T, h_write(INO(0), 0, "S", 1, 0));
	cr_assert(!T.ch.noop);
	assert_stamped(INO(0), T.index, true);
}

/* --- setattr ----------------------------------------------------------------- */

Test(store, truncate_shrinks_and_grows)
{
	mkfile(STORE_ROOT_INO, INO(0), "f", "abcdef");
	truncate_to(INO(0), 2);
	H_CONTENT_EQ(T.s, INO(0), "ab");
	cr_assert_eq(h_getattr(T.s, INO(0)).size, 2u);
	assert_stamped(INO(0), T.index, true);
	truncate_to(INO(0), 5);
	H_CONTENT_EQ(T.s, INO(0), "ab\0\0\0");
	cr_assert_eq(h_getattr(T.s, INO(0)).size, 5u);
	truncate_to(INO(0), 0);
	H_CONTENT_EQ(T.s, INO(0), "");
	truncate_to(INO(0), MiB);
	cr_assert_eq(h_getattr(T.s, INO(0)).size, MiB);
}

Test(store, truncate_after_held_trunc_applies_to_empty_content)
{
	struct entry e;

	/* ftruncate(5) after open(O_TRUNC) of a 6-byte file: 5 NULs, not the
	 * old bytes back */
	mkfile(STORE_ROOT_INO, INO(0), "f", "abcdef");
	e = h_setattr(INO(0), ENTRY_SET_SIZE);
	e.size = 5;
	e.flags = ENTRY_F_REPLACE;
	H_OK(&T, e);
	H_CONTENT_EQ(T.s, INO(0), "\0\0\0\0\0");
	cr_assert_eq(h_getattr(T.s, INO(0)).size, 5u);
}

Test(store, atime_is_what_utimensat_set)
{
	struct entry e;
	struct store_attr a;

	mkfile(STORE_ROOT_INO, INO(0), "f", "abc");
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.atime_ns, a.mtime_ns, "a new file's atime is its mtime");
	e = h_setattr(INO(0), ENTRY_SET_ATIME | ENTRY_SET_MTIME);
	e.atime_ns = 1111111111222333444;
	e.mtime_ns = 1222222222000000001;
	H_OK(&T, e);
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.atime_ns, 1111111111222333444);
	cr_assert_eq(a.mtime_ns, 1222222222000000001);
	/* a write moves mtime, not atime */
	H_OK(&T, h_write(INO(0), 0, "x", 1, 0));
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.atime_ns, 1111111111222333444);
	cr_assert_neq(a.mtime_ns, 1222222222000000001);
}

Test(store, truncate_refusals)
{
	struct entry e;

	mkfile(STORE_ROOT_INO, INO(0), "f", "abc");
	mkdir_(STORE_ROOT_INO, INO(1), "d");
	H_OK(&T, h_create(STORE_ROOT_INO, INO(2), LNK_MODE, "l", "f", 1));
	e = h_setattr(INO(0), ENTRY_SET_SIZE);
	e.size = MiB + 1;
	H_REFUSED(&T, e, EFBIG);
	e.ino = INO(1);
	e.size = 0;
	H_REFUSED(&T, e, EISDIR);
	e.ino = INO(2);
	H_REFUSED(&T, e, EINVAL);
	e.ino = INO(99); /* deleted: a no-op everywhere */
	H_OK(&T, e);
	H_CONTENT_EQ(T.s, INO(0), "abc");
}

Test(store, chmod_keeps_the_type)
{
	struct store_attr a;
	struct entry e;
	int64_t mtime;

	mkfile(STORE_ROOT_INO, INO(0), "f", "x");
	mkdir_(STORE_ROOT_INO, INO(1), "d");
	mtime = h_getattr(T.s, INO(0)).mtime_ns;
	e = h_setattr(INO(0), ENTRY_SET_MODE);
	e.mode = S_IFDIR | 04711; /* type bits in the request are ignored */
	H_OK(&T, e);
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.mode, S_IFREG | 04711, "mode %o", a.mode);
	cr_assert_eq(a.mtime_ns, mtime, "chmod does not touch mtime");
	assert_stamped(INO(0), T.index, false);
	cr_assert_eq(a.uid, H_UID);
	cr_assert_eq(a.size, 1u);
	e = h_setattr(INO(1), ENTRY_SET_MODE);
	e.mode = S_IFREG | 01777;
	H_OK(&T, e);
	cr_assert_eq(h_getattr(T.s, INO(1)).mode, S_IFDIR | 01777);
}

Test(store, chown)
{
	struct store_attr a;
	struct entry e;

	mkfile(STORE_ROOT_INO, INO(0), "f", "x");
	e = h_setattr(INO(0), ENTRY_SET_UID);
	e.set_uid = 4242;
	e.set_gid = 9999; /* not in valid: ignored */
	H_OK(&T, e);
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.uid, 4242u);
	cr_assert_eq(a.gid, H_GID);
	assert_stamped(INO(0), T.index, false);
	e = h_setattr(INO(0), ENTRY_SET_GID);
	e.set_gid = 777;
	H_OK(&T, e);
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.uid, 4242u);
	cr_assert_eq(a.gid, 777u);
	cr_assert_eq(a.mode, FILE_MODE);
	e = h_setattr(INO(0), ENTRY_SET_UID | ENTRY_SET_GID);
	e.set_uid = 0;
	e.set_gid = 0;
	H_OK(&T, e);
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.uid, 0u);
	cr_assert_eq(a.gid, 0u);
}

Test(store, mtime_set_and_now)
{
	struct store_attr a;
	struct entry e;

	mkfile(STORE_ROOT_INO, INO(0), "f", "x");
	e = h_setattr(INO(0), ENTRY_SET_MTIME);
	e.mtime_ns = 123456789;
	H_OK(&T, e);
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.mtime_ns, 123456789);
	cr_assert_eq(a.ctime_ns, h_stamp(T.index), "ctime is the stamp, not the given time");
	cr_assert_eq(a.revision, T.index);
	e = h_setattr(INO(0), ENTRY_SET_MTIME_NOW);
	e.mtime_ns = 5; /* ignored */
	H_OK(&T, e);
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.mtime_ns, h_stamp(T.index), "MTIME_NOW is the leader's stamp");
	/* atime is not tracked: accepted, changes only ctime/revision. */
	e = h_setattr(INO(0), ENTRY_SET_ATIME | ENTRY_SET_ATIME_NOW);
	e.atime_ns = 1;
	H_OK(&T, e);
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.mtime_ns, h_stamp(T.index - 1));
	assert_stamped(INO(0), T.index, false);
}

/* truncate(2) that changes the size must update mtime, also when the same
 * request changes the mode or owner (FUSE may send them together). */
Test(store, truncate_with_chmod_updates_mtime)
{
	struct store_attr a;
	struct entry e;

	mkfile(STORE_ROOT_INO, INO(0), "f", "abcdef");
	e = h_setattr(INO(0), ENTRY_SET_SIZE | ENTRY_SET_MODE);
	e.size = 2;
	e.mode = 0600;
	H_OK(&T, e);
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.size, 2u);
	cr_assert_eq(a.mode, S_IFREG | 0600);
	H_CONTENT_EQ(T.s, INO(0), "ab");
	cr_assert_eq(a.ctime_ns, h_stamp(T.index));
	cr_assert_eq(a.mtime_ns, h_stamp(T.index),
		     "content changed but mtime is %lld (the create's stamp was %lld), expected "
		     "%lld",
		     (long long)a.mtime_ns, (long long)h_stamp(1), (long long)h_stamp(T.index));
}
