/*
 * The sqlite store: every operation an entry can carry, its effect on
 * attributes, content, names and xattrs, every refusal (with its errno, and
 * with proof that it changed nothing but the applied index), idempotent
 * re-application, and persistence across close and reopen.
 *
 * Each test gets a fresh store in its own temporary directory; entries are
 * applied at increasing indexes by h_apply(), stamped h_stamp(index).
 */
#include <sqlite3.h>
#include <sys/xattr.h>

#include "helpers.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define INO(n)	  (STORE_FIRST_DYNAMIC_INO + (n))
#define FILE_MODE (S_IFREG | 0644)
#define DIR_MODE  (S_IFDIR | 0755)
#define LNK_MODE  (S_IFLNK | 0777)
#define MiB	  (1u << 20)

static struct h_store T;

static void setup(void)
{
	h_store_init(&T);
}

static void teardown(void)
{
	h_cleanup_run();
	h_store_fini(&T);
	h_leak_check();
}

TestSuite(store, .init = setup, .fini = teardown);

static void mkfile(uint64_t parent, uint64_t ino, const char *name, const char *text)
{
	H_OK(&T, h_create(parent, ino, FILE_MODE, name, text, strlen(text)));
	cr_assert_eq(T.ch.result, (int64_t)ino);
}

static void mkdir_(uint64_t parent, uint64_t ino, const char *name)
{
	H_OK(&T, h_create(parent, ino, DIR_MODE, name, NULL, 0));
	cr_assert_eq(T.ch.result, (int64_t)ino);
}

static void assert_gone(uint64_t parent, const char *name)
{
	struct store_attr a;
	int rv = store_lookup(T.s, parent, name, &a);

	cr_assert_eq(rv, -ENOENT, "lookup(%s) = %d, expected -ENOENT", name, rv);
}

static void assert_stamped(uint64_t ino, uint64_t index, bool content)
{
	struct store_attr a = h_getattr(T.s, ino);

	cr_assert_eq(a.ctime_ns, h_stamp(index), "inode %llu ctime", (unsigned long long)ino);
	if (content)
		cr_assert_eq(a.mtime_ns, h_stamp(index), "inode %llu mtime",
			     (unsigned long long)ino);
	cr_assert_eq(a.revision, index, "inode %llu revision %llu, expected %llu",
		     (unsigned long long)ino, (unsigned long long)a.revision,
		     (unsigned long long)index);
	cr_assert_eq(a.writer_node, H_NODE);
	cr_assert_eq(a.writer_uid, H_UID);
}

/* A tree with a bit of everything, for the "changes nothing" tests. */
static void populate(void)
{
	static const uint8_t bin[] = {0, 1, 2, 0xff, '\\', '"'};

	mkdir_(STORE_ROOT_INO, INO(0), "d");
	mkdir_(INO(0), INO(1), "sub");
	mkdir_(STORE_ROOT_INO, INO(2), "empty");
	mkfile(STORE_ROOT_INO, INO(3), "f", "hello");
	mkfile(INO(1), INO(4), "deep", "deep content");
	H_OK(&T, h_create(INO(0), INO(5), LNK_MODE, "link", "../f", 4));
	H_OK(&T, h_link(INO(3), INO(0), "f2"));
	H_OK(&T, h_setxattr(INO(3), "user.a", "1", 1, 0));
	H_OK(&T, h_setxattr(INO(0), "user.bin", bin, sizeof(bin), 0));
	mkfile(STORE_GATES_INO, INO(6), "feature.x", "on");
	mkfile(STORE_CONFIG_INO, INO(7), "app.yaml", "k: v\n");
	mkfile(STORE_ROOT_INO, INO(8), "big", "");
	H_OK(&T, h_write(INO(8), 100, "tail", 4, 0));
}

/* --- a fresh store ----------------------------------------------------------- */

static int count_cb(void *arg, const char *name, size_t len, uint64_t ino, uint32_t mode)
{
	char *out = arg;

	(void)ino;
	cr_assert(S_ISDIR(mode));
	strncat(out, name, len);
	strcat(out, ",");
	return 0;
}

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
	cr_assert_eq(st.bytes, 0u);
	cr_assert_eq(st.inodes, 6u);
	cr_assert_eq(st.max_file, STORE_DEFAULT_MAX_FILE);
	cr_assert_eq(st.max_bytes, STORE_DEFAULT_MAX_BYTES);
}

/* --- create ------------------------------------------------------------------ */

Test(store, create_file)
{
	struct store_attr a, l, root;
	char buf[16];
	size_t n;

	mkfile(STORE_ROOT_INO, INO(0), "a", "hello");
	cr_assert(!T.ch.noop);
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.ino, INO(0));
	cr_assert_eq(a.mode, FILE_MODE);
	cr_assert_eq(a.nlink, 1u);
	cr_assert_eq(a.uid, H_UID);
	cr_assert_eq(a.gid, H_GID);
	cr_assert_eq(a.size, 5u);
	cr_assert_eq(a.mtime_ns, h_stamp(1));
	cr_assert_eq(a.ctime_ns, h_stamp(1));
	cr_assert_eq(a.revision, 1u);
	cr_assert_eq(a.gen, 1u);
	cr_assert_eq(a.writer_node, H_NODE);
	cr_assert_eq(a.writer_uid, H_UID);
	cr_assert_eq(a.parent, STORE_ROOT_INO);
	l = h_lookup(T.s, STORE_ROOT_INO, "a");
	H_ATTR_EQ(a, l);
	H_CONTENT_EQ(T.s, INO(0), "hello");
	cr_assert_eq(store_read(T.s, INO(0), 1, 3, buf, &n), 0);
	cr_assert_eq(n, 3u);
	cr_assert(memcmp(buf, "ell", 3) == 0);
	cr_assert_eq(store_read(T.s, INO(0), 3, sizeof(buf), buf, &n), 0);
	cr_assert_eq(n, 2u, "short read at the end");
	cr_assert(memcmp(buf, "lo", 2) == 0);
	cr_assert_eq(store_read(T.s, INO(0), 5, sizeof(buf), buf, &n), 0);
	cr_assert_eq(n, 0u, "read at EOF");
	cr_assert_eq(store_read(T.s, INO(0), 1000, sizeof(buf), buf, &n), 0);
	cr_assert_eq(n, 0u, "read past EOF");
	/* The directory changed: mtime, ctime, revision; not its link count. */
	root = h_getattr(T.s, STORE_ROOT_INO);
	assert_stamped(STORE_ROOT_INO, 1, true);
	cr_assert_eq(root.nlink, 7u);
}

Test(store, create_empty_file)
{
	char buf[4];
	size_t n = 99;

	mkfile(STORE_ROOT_INO, INO(0), "empty", "");
	cr_assert_eq(h_getattr(T.s, INO(0)).size, 0u);
	H_CONTENT_EQ(T.s, INO(0), "");
	cr_assert_eq(store_read(T.s, INO(0), 0, sizeof(buf), buf, &n), 0);
	cr_assert_eq(n, 0u);
}

Test(store, create_directory)
{
	struct store_attr a;
	char names[64] = "";

	mkdir_(STORE_ROOT_INO, INO(0), "d");
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.mode, DIR_MODE);
	cr_assert_eq(a.nlink, 2u);
	cr_assert_eq(a.size, 0u);
	cr_assert_eq(a.parent, STORE_ROOT_INO);
	cr_assert_eq(h_getattr(T.s, STORE_ROOT_INO).nlink, 8u, "'..' of the new directory");
	cr_assert_eq(store_readdir(T.s, INO(0), count_cb, names), 0);
	cr_assert_str_eq(names, "");
	mkdir_(INO(0), INO(1), "e");
	cr_assert_eq(h_getattr(T.s, INO(0)).nlink, 3u);
	cr_assert_eq(h_getattr(T.s, INO(1)).parent, INO(0));
	/* Data sent with a directory is ignored. */
	H_OK(&T, h_create(INO(0), INO(2), DIR_MODE, "f", "junk", 4));
	cr_assert_eq(h_getattr(T.s, INO(2)).size, 0u);
}

Test(store, create_symlink)
{
	struct store_attr a;

	H_OK(&T, h_create(STORE_ROOT_INO, INO(0), LNK_MODE, "l", "config/app.yaml", 15));
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.mode, LNK_MODE);
	cr_assert_eq(a.size, 15u);
	cr_assert_eq(a.nlink, 1u);
	H_CONTENT_EQ(T.s, INO(0), "config/app.yaml");
}

Test(store, create_symlink_limits)
{
	char *target = malloc(STORE_MAX_PATH);

	memset(target, 'x', STORE_MAX_PATH);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(0), LNK_MODE, "l", "", 0), EINVAL);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(0), LNK_MODE, "l", target, STORE_MAX_PATH),
		  ENAMETOOLONG);
	H_OK(&T, h_create(STORE_ROOT_INO, INO(0), LNK_MODE, "l", target, STORE_MAX_PATH - 1));
	free(target);
}

Test(store, create_refusals)
{
	uint8_t *big = calloc(1, MiB + 1);

	mkfile(STORE_ROOT_INO, INO(0), "f", "x");
	mkdir_(STORE_ROOT_INO, INO(1), "d");
	H_REFUSED(&T, h_create(INO(99), INO(2), FILE_MODE, "a", "", 0), ENOENT);
	H_REFUSED(&T, h_create(INO(0), INO(2), FILE_MODE, "a", "", 0), ENOTDIR);
	/* Name exists. */
	{
		struct entry e = h_create(STORE_ROOT_INO, INO(2), FILE_MODE, "f", "", 0);

		e.flags = ENTRY_F_EXCL;
		H_REFUSED(&T, e, EEXIST);
	}
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(2), FILE_MODE, "d", "", 0), EEXIST);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(2), DIR_MODE, "f", NULL, 0), EEXIST);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(2), LNK_MODE, "f", "t", 1), EEXIST);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(2), DIR_MODE, "gates", NULL, 0), EEXIST);
	/* Inode number collision: refused, never merged. */
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "other", "", 0), EEXIST);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(1), DIR_MODE, "other", NULL, 0), EEXIST);
	/* Reserved inode numbers. */
	H_REFUSED(&T, h_create(STORE_ROOT_INO, STORE_FIRST_DYNAMIC_INO - 1, FILE_MODE, "r", "", 0),
		  EINVAL);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, STORE_GATES_INO, FILE_MODE, "r", "", 0), EINVAL);
	/* Types other than file, directory, symlink. */
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(2), S_IFIFO | 0644, "p", "", 0), EPERM);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(2), S_IFCHR | 0644, "c", "", 0), EPERM);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(2), S_IFSOCK | 0644, "s", "", 0), EPERM);
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(2), 0644, "t", "", 0), EPERM);
	/* Over the file size limit; exactly the limit is fine. */
	H_REFUSED(&T, h_create(STORE_ROOT_INO, INO(2), FILE_MODE, "big", big, MiB + 1), EFBIG);
	H_OK(&T, h_create(STORE_ROOT_INO, INO(2), FILE_MODE, "big", big, MiB));
	cr_assert_eq(h_getattr(T.s, INO(2)).size, MiB);
	free(big);
}

Test(store, create_without_excl_opens_the_existing_file)
{
	uint64_t rev;

	mkfile(STORE_ROOT_INO, INO(0), "f", "first");
	rev = h_getattr(T.s, STORE_ROOT_INO).revision;
	/* Another node raced us with O_CREAT and a different inode number. */
	H_OK(&T, h_create(STORE_ROOT_INO, INO(1), FILE_MODE, "f", "second", 6));
	cr_assert_eq(T.ch.result, (int64_t)INO(0), "the existing inode is the result");
	cr_assert(T.ch.noop);
	H_CONTENT_EQ(T.s, INO(0), "first");
	cr_assert_eq(store_getattr(T.s, INO(1), &(struct store_attr){0}), -ENOENT);
	cr_assert_eq(h_getattr(T.s, STORE_ROOT_INO).revision, rev);
}

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
	H_OK(&T, h_write(INO(0), 5, "new", 3, ENTRY_F_REPLACE));
	H_CONTENT_EQ(T.s, INO(0), "new");
	cr_assert_eq(h_getattr(T.s, INO(0)).size, 3u);
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

static void truncate_to(uint64_t ino, uint64_t size)
{
	struct entry e = h_setattr(ino, ENTRY_SET_SIZE);

	e.size = size;
	H_OK(&T, e);
}

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

/* --- link, unlink, orphans --------------------------------------------------- */

Test(store, hard_link)
{
	struct store_attr a, b;

	mkdir_(STORE_ROOT_INO, INO(0), "d");
	mkfile(STORE_ROOT_INO, INO(1), "f", "shared");
	H_OK(&T, h_link(INO(1), INO(0), "g"));
	a = h_lookup(T.s, STORE_ROOT_INO, "f");
	b = h_lookup(T.s, INO(0), "g");
	cr_assert_eq(a.ino, INO(1));
	cr_assert_eq(b.ino, INO(1));
	cr_assert_eq(b.nlink, 2u);
	assert_stamped(INO(1), T.index, false);
	cr_assert_eq(b.mtime_ns, h_stamp(2), "link does not change the file's mtime");
	assert_stamped(INO(0), T.index, true);
	H_OK(&T, h_write(INO(1), 0, "SHARED", 6, 0));
	H_CONTENT_EQ(T.s, h_lookup(T.s, INO(0), "g").ino, "SHARED");
	H_OK(&T, h_link(INO(1), INO(0), "h"));
	cr_assert_eq(h_getattr(T.s, INO(1)).nlink, 3u);
	/* Symlinks may be hard-linked too. */
	H_OK(&T, h_create(STORE_ROOT_INO, INO(2), LNK_MODE, "l", "f", 1));
	H_OK(&T, h_link(INO(2), INO(0), "l2"));
	cr_assert_eq(h_getattr(T.s, INO(2)).nlink, 2u);
}

Test(store, link_refusals)
{
	mkdir_(STORE_ROOT_INO, INO(0), "d");
	mkfile(STORE_ROOT_INO, INO(1), "f", "x");
	H_REFUSED(&T, h_link(INO(0), STORE_ROOT_INO, "d2"), EPERM);
	H_REFUSED(&T, h_link(STORE_GATES_INO, STORE_ROOT_INO, "g2"), EPERM);
	H_REFUSED(&T, h_link(INO(1), STORE_ROOT_INO, "d"), EEXIST);
	H_REFUSED(&T, h_link(INO(99), STORE_ROOT_INO, "x"), ENOENT);
	H_REFUSED(&T, h_link(INO(1), INO(98), "x"), ENOENT);
	H_REFUSED(&T, h_link(INO(1), INO(1), "x"), ENOTDIR);
	cr_assert_eq(h_getattr(T.s, INO(1)).nlink, 1u, "refusals left the link count");
}

Test(store, unlink_orphans_at_zero_links)
{
	struct store_stats st;
	struct store_attr a;
	char names[64] = "";

	mkdir_(STORE_ROOT_INO, INO(0), "d");
	mkfile(STORE_ROOT_INO, INO(1), "f", "12345");
	H_OK(&T, h_link(INO(1), INO(0), "g"));
	H_OK(&T, h_unlink(STORE_ROOT_INO, "f", 0));
	cr_assert_eq(T.ch.orphaned[0], 0u, "one name left: not an orphan");
	cr_assert_eq(T.ch.orphaned[1], 0u);
	assert_gone(STORE_ROOT_INO, "f");
	a = h_getattr(T.s, INO(1));
	cr_assert_eq(a.nlink, 1u);
	assert_stamped(INO(1), T.index, false);
	assert_stamped(STORE_ROOT_INO, T.index, true);

	H_OK(&T, h_unlink(INO(0), "g", 0));
	cr_assert_eq(T.ch.orphaned[0], INO(1));
	cr_assert_eq(T.ch.orphaned[1], 0u);
	assert_gone(INO(0), "g");
	cr_assert_eq(store_readdir(T.s, INO(0), count_cb, names), 0);
	cr_assert_str_eq(names, "");
	/* Still readable through its inode (an open descriptor). */
	a = h_getattr(T.s, INO(1));
	cr_assert_eq(a.nlink, 0u);
	H_CONTENT_EQ(T.s, INO(1), "12345");
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, 0u, "an orphan no longer counts against the limit");

	cr_assert_eq(store_drop_orphan(T.s, INO(1)), 0);
	cr_assert_eq(store_getattr(T.s, INO(1), &a), -ENOENT);
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, 0u, "dropping the orphan changes no count");
	cr_assert_eq(st.inodes, 7u);
	/* Dropping again, or dropping a linked inode or directory, does nothing. */
	cr_assert_eq(store_drop_orphan(T.s, INO(1)), 0);
	cr_assert_eq(store_drop_orphan(T.s, INO(0)), 0);
	cr_assert_eq(store_drop_orphan(T.s, STORE_GATES_INO), 0);
	h_getattr(T.s, INO(0));
	h_getattr(T.s, STORE_GATES_INO);
}

/* Dropping an orphan is local housekeeping (store.h: "not a log entry"):
 * one node drops it at once, another keeps it while a descriptor is open.
 * Entries that name the orphan's inode must then still have the same
 * outcome on both, or the replicas diverge. Here: two stores apply the same
 * log; on the second the orphan is dropped (nobody had it open there); then
 * a LINK (another node's ln, ordered after the unlink), a WRITE and a
 * SETXATTR (through a descriptor held elsewhere) name the inode. */
Test(store, orphan_fate_does_not_depend_on_local_drop)
{
	static struct h_store b; /* static: cleaned up from .fini after a failure */
	struct entry log[5];
	int64_t ra[5], rb[5];
	char *da, *db;

	h_store_init_deferred(&b);
	log[0] = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "f", "data", 4);
	log[1] = h_unlink(STORE_ROOT_INO, "f", 0);
	log[2] = h_link(INO(0), STORE_ROOT_INO, "g");
	log[3] = h_write(INO(0), 0, "more data", 9, 0);
	log[4] = h_setxattr(INO(0), "user.k", "v", 1, 0);
	for (int i = 0; i < 5; i++) {
		ra[i] = h_apply(&T, &log[i]);
		rb[i] = h_apply(&b, &log[i]);
		if (i == 1) {
			cr_assert_eq(b.ch.orphaned[0], INO(0));
			cr_assert_eq(store_drop_orphan(b.s, INO(0)), 0);
		}
	}
	for (int i = 0; i < 5; i++)
		cr_assert_eq(ra[i], rb[i],
			     "entry %d (%s): %lld where the orphan was kept, %lld where it was "
			     "dropped",
			     i + 1, entry_op_name(log[i].op), (long long)ra[i], (long long)rb[i]);
	da = h_dump(T.s);
	db = h_dump(b.s);
	h_same_dump(da, db, "replicas diverged (before: orphan kept, after: orphan dropped)");
	free(da);
	free(db);
	h_undefer(&b);
}

Test(store, drop_orphan_keeps_linked_files)
{
	mkfile(STORE_ROOT_INO, INO(0), "f", "keep");
	cr_assert_eq(store_drop_orphan(T.s, INO(0)), 0);
	H_CONTENT_EQ(T.s, h_lookup(T.s, STORE_ROOT_INO, "f").ino, "keep");
}

Test(store, drop_all_orphans)
{
	char name[16];
	struct store_stats st;

	/* More than one batch of the store's loop. */
	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof(name), "o%d", i);
		mkfile(STORE_ROOT_INO, INO(i), name, "xy");
	}
	mkfile(STORE_ROOT_INO, INO(1000), "keep", "k");
	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof(name), "o%d", i);
		H_OK(&T, h_unlink(STORE_ROOT_INO, name, 0));
		cr_assert_eq(T.ch.orphaned[0], INO(i));
	}
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.inodes, 7u, "orphans are not counted");
	cr_assert_eq(st.bytes, 1u, "nor are their bytes");
	cr_assert_eq(store_drop_all_orphans(T.s), 0);
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.inodes, 7u);
	cr_assert_eq(st.bytes, 1u);
	H_CONTENT_EQ(T.s, INO(1000), "k");
}

Test(store, unlink_refusals)
{
	mkdir_(STORE_ROOT_INO, INO(0), "d");
	mkfile(STORE_ROOT_INO, INO(1), "f", "x");
	H_REFUSED(&T, h_unlink(STORE_ROOT_INO, "nope", 0), ENOENT);
	H_REFUSED(&T, h_unlink(STORE_ROOT_INO, "nope", ENTRY_F_DIR), ENOENT);
	H_REFUSED(&T, h_unlink(INO(99), "f", 0), ENOENT);
	H_REFUSED(&T, h_unlink(INO(1), "f", 0), ENOTDIR);
	H_REFUSED(&T, h_unlink(STORE_ROOT_INO, "d", 0), EISDIR);
	H_REFUSED(&T, h_unlink(STORE_ROOT_INO, "f", ENTRY_F_DIR), ENOTDIR);
	H_REFUSED(&T, h_unlink(STORE_ROOT_INO, "gates", 0), EISDIR);
}

Test(store, rmdir)
{
	struct store_attr a;

	mkdir_(STORE_ROOT_INO, INO(0), "d");
	mkdir_(INO(0), INO(1), "e");
	mkfile(INO(1), INO(2), "f", "x");
	H_REFUSED(&T, h_unlink(STORE_ROOT_INO, "d", ENTRY_F_DIR), ENOTEMPTY);
	H_REFUSED(&T, h_unlink(INO(0), "e", ENTRY_F_DIR), ENOTEMPTY);
	H_OK(&T, h_unlink(INO(1), "f", 0));
	cr_assert_eq(T.ch.orphaned[0], INO(2));
	H_OK(&T, h_unlink(INO(0), "e", ENTRY_F_DIR));
	cr_assert_eq(T.ch.orphaned[0], 0u, "directories are not orphans");
	cr_assert_eq(store_getattr(T.s, INO(1), &a), -ENOENT, "directory inode deleted at once");
	assert_gone(INO(0), "e");
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.nlink, 2u);
	assert_stamped(INO(0), T.index, true);
	H_OK(&T, h_unlink(STORE_ROOT_INO, "d", ENTRY_F_DIR));
	cr_assert_eq(h_getattr(T.s, STORE_ROOT_INO).nlink, 7u);
}

static const char *const fixed_names[] = {"gates", "peers", "leases", "routing", "config"};

Test(store, fixed_dirs_cannot_be_removed)
{
	for (size_t i = 0; i < 5; i++) {
		char *before = h_dump(T.s);
		char *after;

		H_REFUSED(&T, h_unlink(STORE_ROOT_INO, fixed_names[i], ENTRY_F_DIR), EPERM);
		after = h_dump(T.s);
		H_DUMP_EQ(before, after);
		free(before);
		free(after);
	}
}

/* --- rename ------------------------------------------------------------------ */

Test(store, rename_in_one_directory)
{
	struct store_attr a;

	mkfile(STORE_ROOT_INO, INO(0), "a", "content");
	H_OK(&T, h_rename(STORE_ROOT_INO, "a", STORE_ROOT_INO, "b", 0));
	assert_gone(STORE_ROOT_INO, "a");
	a = h_lookup(T.s, STORE_ROOT_INO, "b");
	cr_assert_eq(a.ino, INO(0));
	cr_assert_eq(a.nlink, 1u);
	cr_assert_eq(a.mtime_ns, h_stamp(1), "rename keeps the file's mtime");
	assert_stamped(INO(0), T.index, false);
	assert_stamped(STORE_ROOT_INO, T.index, true);
	H_CONTENT_EQ(T.s, INO(0), "content");
}

Test(store, rename_across_directories)
{
	struct store_attr a;

	mkdir_(STORE_ROOT_INO, INO(0), "src");
	mkdir_(STORE_ROOT_INO, INO(1), "dst");
	mkdir_(INO(0), INO(2), "sub");
	mkfile(INO(0), INO(3), "f", "x");
	H_OK(&T, h_rename(INO(0), "f", INO(1), "g", 0));
	cr_assert_eq(h_lookup(T.s, INO(1), "g").ino, INO(3));
	cr_assert_eq(h_getattr(T.s, INO(3)).parent, INO(1));
	cr_assert_eq(h_getattr(T.s, INO(0)).nlink, 3u, "a file does not change link counts");
	cr_assert_eq(h_getattr(T.s, INO(1)).nlink, 2u);
	assert_stamped(INO(0), T.index, true);
	assert_stamped(INO(1), T.index, true);

	H_OK(&T, h_rename(INO(0), "sub", INO(1), "sub2", 0));
	a = h_lookup(T.s, INO(1), "sub2");
	cr_assert_eq(a.ino, INO(2));
	cr_assert_eq(a.parent, INO(1), "'..' of a moved directory");
	cr_assert_eq(h_getattr(T.s, INO(0)).nlink, 2u);
	cr_assert_eq(h_getattr(T.s, INO(1)).nlink, 3u);
	assert_gone(INO(0), "sub");
}

Test(store, rename_over_a_file_orphans_it)
{
	mkfile(STORE_ROOT_INO, INO(0), "a", "new");
	mkfile(STORE_ROOT_INO, INO(1), "b", "old");
	H_OK(&T, h_rename(STORE_ROOT_INO, "a", STORE_ROOT_INO, "b", 0));
	cr_assert_eq(T.ch.orphaned[0], INO(1));
	cr_assert_eq(h_lookup(T.s, STORE_ROOT_INO, "b").ino, INO(0));
	assert_gone(STORE_ROOT_INO, "a");
	cr_assert_eq(h_getattr(T.s, INO(1)).nlink, 0u);
	H_CONTENT_EQ(T.s, INO(1), "old");
	cr_assert_eq(store_drop_orphan(T.s, INO(1)), 0);
	cr_assert_eq(store_getattr(T.s, INO(1), &(struct store_attr){0}), -ENOENT);
}

Test(store, rename_over_a_linked_file_keeps_it)
{
	mkfile(STORE_ROOT_INO, INO(0), "a", "new");
	mkfile(STORE_ROOT_INO, INO(1), "b", "old");
	H_OK(&T, h_link(INO(1), STORE_ROOT_INO, "b2"));
	H_OK(&T, h_rename(STORE_ROOT_INO, "a", STORE_ROOT_INO, "b", 0));
	cr_assert_eq(T.ch.orphaned[0], 0u);
	cr_assert_eq(h_getattr(T.s, INO(1)).nlink, 1u);
	cr_assert_eq(h_lookup(T.s, STORE_ROOT_INO, "b2").ino, INO(1));
}

Test(store, rename_over_an_empty_dir)
{
	struct store_attr a;

	mkdir_(STORE_ROOT_INO, INO(0), "a");
	mkdir_(STORE_ROOT_INO, INO(1), "b");
	mkfile(INO(0), INO(2), "inside", "x");
	H_OK(&T, h_rename(STORE_ROOT_INO, "a", STORE_ROOT_INO, "b", 0));
	cr_assert_eq(T.ch.orphaned[0], 0u);
	a = h_lookup(T.s, STORE_ROOT_INO, "b");
	cr_assert_eq(a.ino, INO(0));
	cr_assert_eq(h_lookup(T.s, INO(0), "inside").ino, INO(2));
	cr_assert_eq(store_getattr(T.s, INO(1), &a), -ENOENT, "replaced directory is deleted");
	cr_assert_eq(h_getattr(T.s, STORE_ROOT_INO).nlink, 8u, "7, + a, + b, - the replaced b");

	/* Across directories. */
	mkdir_(STORE_ROOT_INO, INO(3), "c");
	mkdir_(INO(3), INO(4), "target");
	H_OK(&T, h_rename(STORE_ROOT_INO, "b", INO(3), "target", 0));
	cr_assert_eq(h_lookup(T.s, INO(3), "target").ino, INO(0));
	cr_assert_eq(h_getattr(T.s, INO(0)).parent, INO(3));
	cr_assert_eq(h_getattr(T.s, INO(3)).nlink, 3u);
	cr_assert_eq(h_getattr(T.s, STORE_ROOT_INO).nlink, 8u, "7 + c");
	cr_assert_eq(store_getattr(T.s, INO(4), &a), -ENOENT);
}

Test(store, rename_type_and_emptiness_refusals)
{
	mkdir_(STORE_ROOT_INO, INO(0), "d");
	mkdir_(STORE_ROOT_INO, INO(1), "full");
	mkfile(INO(1), INO(2), "x", "x");
	mkfile(STORE_ROOT_INO, INO(3), "f", "f");
	mkdir_(STORE_ROOT_INO, INO(4), "e");
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "d", STORE_ROOT_INO, "full", 0), ENOTEMPTY);
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "d", STORE_ROOT_INO, "f", 0), ENOTDIR);
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "f", STORE_ROOT_INO, "d", 0), EISDIR);
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "nope", STORE_ROOT_INO, "x", 0), ENOENT);
	H_REFUSED(&T, h_rename(INO(99), "f", STORE_ROOT_INO, "x", 0), ENOENT);
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "f", INO(99), "x", 0), ENOENT);
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "f", INO(3), "x", 0), ENOTDIR);
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "f", STORE_ROOT_INO, "g", 0x4), EINVAL);
	/* NOREPLACE: refused when the target exists, fine when it does not. */
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "d", STORE_ROOT_INO, "e", RENAME_NOREPLACE), EEXIST);
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "f", INO(1), "x", RENAME_NOREPLACE), EEXIST);
	H_OK(&T, h_rename(STORE_ROOT_INO, "f", STORE_ROOT_INO, "g", RENAME_NOREPLACE));
	cr_assert_eq(h_lookup(T.s, STORE_ROOT_INO, "g").ino, INO(3));
	/* The refusals left everything in place. */
	cr_assert_eq(h_lookup(T.s, STORE_ROOT_INO, "d").ino, INO(0));
	cr_assert_eq(h_lookup(T.s, INO(1), "x").ino, INO(2));
	cr_assert_eq(h_lookup(T.s, STORE_ROOT_INO, "e").ino, INO(4));
}

Test(store, rename_between_two_names_of_one_inode_does_nothing)
{
	mkfile(STORE_ROOT_INO, INO(0), "a", "x");
	H_OK(&T, h_link(INO(0), STORE_ROOT_INO, "b"));
	H_OK(&T, h_rename(STORE_ROOT_INO, "a", STORE_ROOT_INO, "b", 0));
	cr_assert_eq(h_lookup(T.s, STORE_ROOT_INO, "a").ino, INO(0));
	cr_assert_eq(h_lookup(T.s, STORE_ROOT_INO, "b").ino, INO(0));
	cr_assert_eq(h_getattr(T.s, INO(0)).nlink, 2u);
	cr_assert_eq(T.ch.orphaned[0], 0u);
}

Test(store, rename_exchange)
{
	struct store_attr a;

	mkfile(STORE_ROOT_INO, INO(0), "a", "A");
	mkfile(STORE_ROOT_INO, INO(1), "b", "B");
	H_OK(&T, h_rename(STORE_ROOT_INO, "a", STORE_ROOT_INO, "b", RENAME_EXCHANGE));
	cr_assert_eq(h_lookup(T.s, STORE_ROOT_INO, "a").ino, INO(1));
	cr_assert_eq(h_lookup(T.s, STORE_ROOT_INO, "b").ino, INO(0));
	cr_assert_eq(T.ch.orphaned[0], 0u);
	assert_stamped(INO(0), T.index, false);
	assert_stamped(INO(1), T.index, false);
	assert_stamped(STORE_ROOT_INO, T.index, true);
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "a", STORE_ROOT_INO, "none", RENAME_EXCHANGE),
		  ENOENT);

	/* A directory and a file in different directories: link counts and
	 * parents move with them. */
	mkdir_(STORE_ROOT_INO, INO(2), "p");
	mkdir_(STORE_ROOT_INO, INO(3), "q");
	mkdir_(INO(2), INO(4), "dir");
	mkfile(INO(3), INO(5), "file", "F");
	cr_assert_eq(h_getattr(T.s, INO(2)).nlink, 3u);
	cr_assert_eq(h_getattr(T.s, INO(3)).nlink, 2u);
	H_OK(&T, h_rename(INO(2), "dir", INO(3), "file", RENAME_EXCHANGE));
	cr_assert_eq(h_lookup(T.s, INO(2), "dir").ino, INO(5));
	cr_assert_eq(h_lookup(T.s, INO(3), "file").ino, INO(4));
	a = h_getattr(T.s, INO(4));
	cr_assert_eq(a.parent, INO(3));
	cr_assert_eq(h_getattr(T.s, INO(5)).parent, INO(2));
	cr_assert_eq(h_getattr(T.s, INO(2)).nlink, 2u, "p lost a subdirectory");
	cr_assert_eq(h_getattr(T.s, INO(3)).nlink, 3u, "q gained one");
	assert_stamped(INO(2), T.index, true);
	assert_stamped(INO(3), T.index, true);
}

/* renameat(2): "EINVAL: Both RENAME_NOREPLACE and RENAME_EXCHANGE were
 * specified in flags". The store checks the flags itself (unknown bits give
 * EINVAL), so it must refuse this combination too, not pick one. */
Test(store, rename_exchange_with_noreplace_is_invalid)
{
	mkfile(STORE_ROOT_INO, INO(0), "a", "A");
	mkfile(STORE_ROOT_INO, INO(1), "b", "B");
	H_REFUSED(
	    &T,
	    h_rename(STORE_ROOT_INO, "a", STORE_ROOT_INO, "b", RENAME_EXCHANGE | RENAME_NOREPLACE),
	    EINVAL);
	cr_assert_eq(h_lookup(T.s, STORE_ROOT_INO, "a").ino, INO(0));
	cr_assert_eq(h_lookup(T.s, STORE_ROOT_INO, "b").ino, INO(1));
}

Test(store, rename_into_own_subtree_is_refused)
{
	mkdir_(STORE_ROOT_INO, INO(0), "a");
	mkdir_(INO(0), INO(1), "b");
	mkdir_(INO(1), INO(2), "c");
	mkdir_(STORE_ROOT_INO, INO(3), "x");
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "a", INO(0), "a2", 0), EINVAL);
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "a", INO(2), "a2", 0), EINVAL);
	H_REFUSED(&T, h_rename(INO(0), "b", INO(2), "b2", 0), EINVAL);
	/* Exchange: either side moving under itself. */
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "a", INO(1), "c", RENAME_EXCHANGE), EINVAL);
	H_REFUSED(&T, h_rename(INO(1), "c", STORE_ROOT_INO, "a", RENAME_EXCHANGE), EINVAL);
	cr_assert_eq(h_lookup(T.s, STORE_ROOT_INO, "a").ino, INO(0));
	cr_assert_eq(h_lookup(T.s, INO(1), "c").ino, INO(2));
	/* Moving down into a sibling, or up, is fine. */
	H_OK(&T, h_rename(INO(1), "c", STORE_ROOT_INO, "c", 0));
	H_OK(&T, h_rename(STORE_ROOT_INO, "x", INO(1), "x", 0));
	cr_assert_eq(h_getattr(T.s, INO(3)).parent, INO(1));
}

Test(store, fixed_dirs_cannot_be_renamed)
{
	mkdir_(STORE_ROOT_INO, INO(0), "mine");
	mkdir_(STORE_ROOT_INO, INO(1), "empty");
	for (size_t i = 0; i < 5; i++) {
		char *before = h_dump(T.s), *after;

		H_REFUSED(&T, h_rename(STORE_ROOT_INO, fixed_names[i], STORE_ROOT_INO, "x", 0),
			  EPERM);
		H_REFUSED(&T, h_rename(STORE_ROOT_INO, fixed_names[i], INO(0), "x", 0), EPERM);
		H_REFUSED(&T, h_rename(STORE_ROOT_INO, fixed_names[i], STORE_ROOT_INO, "empty", 0),
			  EPERM);
		/* ... nor replaced, nor exchanged. */
		H_REFUSED(&T, h_rename(STORE_ROOT_INO, "empty", STORE_ROOT_INO, fixed_names[i], 0),
			  EPERM);
		H_REFUSED(&T,
			  h_rename(STORE_ROOT_INO, "mine", STORE_ROOT_INO, fixed_names[i],
				   RENAME_EXCHANGE),
			  EPERM);
		after = h_dump(T.s);
		H_DUMP_EQ(before, after);
		free(before);
		free(after);
	}
}

/* --- xattrs ------------------------------------------------------------------ */

static void assert_xattr(uint64_t ino, const char *name, const char *value)
{
	void *v = NULL;
	size_t len = 0;
	int rv = store_getxattr(T.s, ino, name, &v, &len);

	cr_assert_eq(rv, 0, "getxattr(%s) = %d", name, rv);
	cr_assert_eq(len, strlen(value));
	cr_assert(memcmp(v, value, len) == 0);
	free(v);
}

static void assert_no_xattr(uint64_t ino, const char *name)
{
	void *v = NULL;
	size_t len = 0;

	cr_assert_eq(store_getxattr(T.s, ino, name, &v, &len), -ENODATA, "%s exists", name);
}

Test(store, xattrs)
{
	struct store_attr a;
	char *names;
	size_t len;
	int64_t mtime;

	mkfile(STORE_ROOT_INO, INO(0), "f", "x");
	mtime = h_getattr(T.s, INO(0)).mtime_ns;
	cr_assert_eq(store_listxattr(T.s, INO(0), &names, &len), 0);
	cr_assert_eq(len, 0u);
	free(names);
	assert_no_xattr(INO(0), "user.a");

	H_OK(&T, h_setxattr(INO(0), "user.b", "two", 3, 0));
	H_OK(&T, h_setxattr(INO(0), "user.a", "one", 3, 0));
	assert_xattr(INO(0), "user.a", "one");
	assert_xattr(INO(0), "user.b", "two");
	a = h_getattr(T.s, INO(0));
	cr_assert_eq(a.mtime_ns, mtime, "xattrs do not change mtime");
	assert_stamped(INO(0), T.index, false);
	cr_assert_eq(store_listxattr(T.s, INO(0), &names, &len), 0);
	cr_assert_eq(len, 14u);
	cr_assert(memcmp(names, "user.a\0user.b\0", 14) == 0, "list sorted, NUL-separated");
	free(names);

	/* Replace, and the create/replace flags. */
	H_OK(&T, h_setxattr(INO(0), "user.a", "uno", 3, 0));
	assert_xattr(INO(0), "user.a", "uno");
	H_OK(&T, h_setxattr(INO(0), "user.a", "1", 1, XATTR_REPLACE));
	assert_xattr(INO(0), "user.a", "1");
	H_REFUSED(&T, h_setxattr(INO(0), "user.a", "z", 1, XATTR_CREATE), EEXIST);
	H_REFUSED(&T, h_setxattr(INO(0), "user.a", "1", 1, XATTR_CREATE), EEXIST);
	H_REFUSED(&T, h_setxattr(INO(0), "user.c", "z", 1, XATTR_REPLACE), ENODATA);
	assert_no_xattr(INO(0), "user.c");
	H_OK(&T, h_setxattr(INO(0), "user.c", "new", 3, XATTR_CREATE));
	assert_xattr(INO(0), "user.c", "new");
	/* Empty values exist. */
	H_OK(&T, h_setxattr(INO(0), "user.empty", NULL, 0, 0));
	assert_xattr(INO(0), "user.empty", "");

	/* Remove. */
	H_OK(&T, h_removexattr(INO(0), "user.b"));
	assert_no_xattr(INO(0), "user.b");
	assert_stamped(INO(0), T.index, false);
	H_REFUSED(&T, h_removexattr(INO(0), "user.b"), ENODATA);
	/* A deleted inode: a no-op everywhere. */
	H_OK(&T, h_removexattr(INO(99), "user.a"));
	H_OK(&T, h_setxattr(INO(99), "user.a", "1", 1, 0));
	cr_assert_eq(store_getattr(T.s, INO(99), &(struct store_attr){0}), -ENOENT);
	cr_assert_eq(store_listxattr(T.s, INO(0), &names, &len), 0);
	cr_assert_eq(len, sizeof("user.a\0user.c\0user.empty"));
	cr_assert(memcmp(names, "user.a\0user.c\0user.empty", len) == 0);
	free(names);

	/* Directories carry xattrs too. */
	H_OK(&T, h_setxattr(STORE_CONFIG_INO, "user.owner", "ops", 3, 0));
	assert_xattr(STORE_CONFIG_INO, "user.owner", "ops");
}

Test(store, xattr_identical_set_is_a_noop)
{
	struct store_attr before, after;

	mkfile(STORE_ROOT_INO, INO(0), "f", "x");
	H_OK(&T, h_setxattr(INO(0), "user.a", "v", 1, 0));
	before = h_getattr(T.s, INO(0));
	H_OK(&T, h_setxattr(INO(0), "user.a", "v", 1, 0));
	cr_assert(T.ch.noop);
	H_OK(&T, h_setxattr(INO(0), "user.a", "v", 1, XATTR_REPLACE));
	cr_assert(T.ch.noop);
	after = h_getattr(T.s, INO(0));
	H_ATTR_EQ(before, after);
}

Test(store, xattr_namespaces)
{
	char *before, *after;
	char *big = calloc(1, STORE_MAX_XATTR_VALUE + 1);

	mkfile(STORE_ROOT_INO, INO(0), "f", "x");
	before = h_dump(T.s);
	H_REFUSED(&T, h_setxattr(INO(0), "user.clusterfs.revision", "1", 1, 0), EPERM);
	H_REFUSED(&T, h_setxattr(INO(0), "user.clusterfs.x", "1", 1, 0), EPERM);
	H_REFUSED(&T, h_removexattr(INO(0), "user.clusterfs.writer"), EPERM);
	H_REFUSED(&T, h_setxattr(INO(0), "trusted.x", "1", 1, 0), EOPNOTSUPP);
	H_REFUSED(&T, h_setxattr(INO(0), "security.selinux", "1", 1, 0), EOPNOTSUPP);
	H_REFUSED(&T, h_setxattr(INO(0), "system.posix_acl_access", "1", 1, 0), EOPNOTSUPP);
	H_REFUSED(&T, h_setxattr(INO(0), "user.", "1", 1, 0), EOPNOTSUPP);
	H_REFUSED(&T, h_setxattr(INO(0), "user", "1", 1, 0), EOPNOTSUPP);
	H_REFUSED(&T, h_setxattr(INO(0), "USER.x", "1", 1, 0), EOPNOTSUPP);
	H_REFUSED(&T, h_removexattr(INO(0), "trusted.x"), EOPNOTSUPP);
	H_REFUSED(&T, h_setxattr(INO(0), "user.big", big, STORE_MAX_XATTR_VALUE + 1, 0), E2BIG);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	/* Just under the reserved prefix is an ordinary name. */
	H_OK(&T, h_setxattr(INO(0), "user.clusterfs", "1", 1, 0));
	H_OK(&T, h_setxattr(INO(0), "user.clusterfsX", "1", 1, 0));
	H_OK(&T, h_setxattr(INO(0), "user.big", big, STORE_MAX_XATTR_VALUE, 0));
	free(before);
	free(after);
	free(big);
}

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

/* --- typed namespace: gates/ ------------------------------------------------- */

Test(store, gates_values_are_normalized)
{
	mkfile(STORE_GATES_INO, INO(0), "feature.x", " Yes\n");
	H_CONTENT_EQ(T.s, INO(0), "true\n");
	cr_assert_eq(h_getattr(T.s, INO(0)).size, 5u);
	H_OK(&T, h_write(INO(0), 0, "off", 3, ENTRY_F_REPLACE));
	H_CONTENT_EQ(T.s, INO(0), "false\n");
	cr_assert_eq(h_getattr(T.s, INO(0)).size, 6u);
	H_OK(&T, h_write(INO(0), 0, "FALSE", 5, ENTRY_F_REPLACE));
	cr_assert(T.ch.noop, "same value, other spelling: noop");
	/* A partial write whose result parses: "true\n" over "false\n" gives
	 * "true\n\n". */
	H_OK(&T, h_write(INO(0), 0, "true\n", 5, 0));
	H_CONTENT_EQ(T.s, INO(0), "true\n");
	mkfile(STORE_GATES_INO, INO(1), "feature.storage.ceph", "0");
	H_CONTENT_EQ(T.s, INO(1), "false\n");
}

Test(store, gates_refusals)
{
	char *before, *after;

	mkfile(STORE_GATES_INO, INO(0), "feature.x", "true");
	mkfile(STORE_ROOT_INO, INO(1), "plain", "true");
	before = h_dump(T.s);
	/* Bad values. */
	H_REFUSED(&T, h_create(STORE_GATES_INO, INO(2), FILE_MODE, "feature.y", "maybe", 5),
		  EINVAL);
	H_REFUSED(&T, h_create(STORE_GATES_INO, INO(2), FILE_MODE, "feature.y", "", 0), EINVAL);
	H_REFUSED(&T, h_write(INO(0), 0, "maybe", 5, ENTRY_F_REPLACE), EINVAL);
	H_REFUSED(&T, h_write(INO(0), 0, "x", 1, ENTRY_F_APPEND), EINVAL);
	H_REFUSED(&T, h_write(INO(0), 0, "no", 2, 0), EINVAL); /* "noue\n" */
	{
		struct entry e = h_setattr(INO(0), ENTRY_SET_SIZE);

		e.size = 0; /* an empty gate is not a value */
		H_REFUSED(&T, e, EINVAL);
	}
	/* Bad names and types. */
	H_REFUSED(&T, h_create(STORE_GATES_INO, INO(2), FILE_MODE, "foo", "true", 4), EINVAL);
	H_REFUSED(&T, h_create(STORE_GATES_INO, INO(2), FILE_MODE, "feature.UP", "true", 4),
		  EINVAL);
	H_REFUSED(&T, h_create(STORE_GATES_INO, INO(2), FILE_MODE, "feature.", "true", 4), EINVAL);
	H_REFUSED(&T, h_create(STORE_GATES_INO, INO(2), DIR_MODE, "feature.d", NULL, 0), EINVAL);
	H_REFUSED(&T, h_create(STORE_GATES_INO, INO(2), LNK_MODE, "feature.l", "true", 4), EINVAL);
	H_REFUSED(&T, h_rename(STORE_GATES_INO, "feature.x", STORE_GATES_INO, "bad", 0), EINVAL);
	/* Across the boundary of gates/: EXDEV, both ways, for rename and link. */
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "plain", STORE_GATES_INO, "feature.p", 0), EXDEV);
	H_REFUSED(&T, h_rename(STORE_GATES_INO, "feature.x", STORE_ROOT_INO, "x", 0), EXDEV);
	H_REFUSED(&T,
		  h_rename(STORE_GATES_INO, "feature.x", STORE_ROOT_INO, "plain", RENAME_EXCHANGE),
		  EXDEV);
	H_REFUSED(&T, h_link(INO(1), STORE_GATES_INO, "feature.p"), EXDEV);
	H_REFUSED(&T, h_link(INO(0), STORE_ROOT_INO, "x"), EXDEV);
	H_REFUSED(&T, h_link(INO(0), STORE_CONFIG_INO, "x"), EXDEV);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	free(before);
	free(after);
	/* Inside gates/ with good names: fine. */
	H_OK(&T, h_rename(STORE_GATES_INO, "feature.x", STORE_GATES_INO, "feature.y", 0));
	H_OK(&T, h_link(INO(0), STORE_GATES_INO, "feature.z"));
	cr_assert_eq(h_getattr(T.s, INO(0)).nlink, 2u);
	H_REFUSED(&T, h_link(INO(0), STORE_GATES_INO, "nope"), EINVAL);
	H_OK(&T, h_unlink(STORE_GATES_INO, "feature.y", 0));
	H_OK(&T, h_unlink(STORE_GATES_INO, "feature.z", 0));
	cr_assert_eq(T.ch.orphaned[0], INO(0));
}

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

Test(store, reopen_keeps_orphans_until_dropped)
{
	mkfile(STORE_ROOT_INO, INO(0), "f", "data");
	H_OK(&T, h_unlink(STORE_ROOT_INO, "f", 0));
	h_store_reopen(&T);
	cr_assert_eq(h_getattr(T.s, INO(0)).nlink, 0u);
	cr_assert_eq(store_drop_all_orphans(T.s), 0);
	cr_assert_eq(store_getattr(T.s, INO(0), &(struct store_attr){0}), -ENOENT);
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
