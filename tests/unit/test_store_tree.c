/*
 * The sqlite store's tree: create (files, directories, symlinks), link,
 * unlink, rmdir and rename, with their effect on attributes and names and
 * every refusal with its errno.
 */
#include "store_fixture.h"

#include "../../replication/store_internal.h"

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

/* --- the path limit (DESIGN §9) ----------------------------------------------
 * A path below the mount root is at most STORE_MAX_PATH_LEN (4095) bytes:
 * 4096 with its NUL, as PATH_MAX counts. */

static uint64_t next_ino = 100;

/* A chain of directories below @parent whose path, counted from @parent's
 * own path ("" for the root: no leading '/'), is @len bytes long. Returns
 * the last directory. */
static uint64_t deep_dir(uint64_t parent, size_t len, bool from_root)
{
	size_t left = len;
	bool first = from_root;

	while (left > 0) {
		size_t room = first ? left : left - 1, n = room > 200 ? 200 : room;
		char name[256];

		if (room - n == 1)
			n--; /* never leave one byte: it would need a '/' and a name */
		memset(name, 'a' + (int)(next_ino % 26), n);
		name[n] = '\0';
		mkdir_(parent, INO(next_ino), name);
		parent = INO(next_ino++);
		left -= n + (first ? 0 : 1);
		first = false;
	}
	return parent;
}

static char *name_of(size_t n)
{
	static char name[256];

	memset(name, 'n', n);
	name[n] = '\0';
	return name;
}

Test(store, path_limit_on_create_mkdir_symlink)
{
	uint64_t d = deep_dir(STORE_ROOT_INO, STORE_MAX_PATH_LEN - 1 - 10, true);
	char *before, *after;
	size_t len;

	cr_assert_eq(store_dir_path_len(T.s, d, &len), 0);
	cr_assert_eq(len, 4084u);
	before = h_dump(T.s);
	/* 4096 and 4097 bytes: refused, nothing changed. */
	for (size_t n = 11; n <= 12; n++) {
		H_REFUSED(&T, h_create(d, INO(1), FILE_MODE, name_of(n), "x", 1), ENAMETOOLONG);
		H_REFUSED(&T, h_create(d, INO(1), FILE_MODE, name_of(n), NULL, 0), ENAMETOOLONG);
		H_REFUSED(&T, h_create(d, INO(1), DIR_MODE, name_of(n), NULL, 0), ENAMETOOLONG);
		H_REFUSED(&T, h_create(d, INO(1), LNK_MODE, name_of(n), "t", 1), ENAMETOOLONG);
	}
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	free(before);
	free(after);
	/* 4095 bytes: each kind fits. */
	mkfile(d, INO(1), name_of(10), "x");
	H_OK(&T, h_create(d, INO(2), LNK_MODE, "nnnnnnnnnl", "t", 1));
	mkdir_(d, INO(3), "nnnnnnnnnd");
	/* and nothing fits below a directory at 4095. */
	H_REFUSED(&T, h_create(INO(3), INO(4), FILE_MODE, "x", NULL, 0), ENAMETOOLONG);
	cr_assert_eq(store_check_new_path(T.s, d, 10), 0);
	cr_assert_eq(store_check_new_path(T.s, d, 11), -ENAMETOOLONG);
	cr_assert_eq(store_check_new_path(T.s, INO(3), 1), -ENAMETOOLONG);
}

Test(store, path_limit_on_link_and_rename_of_a_file)
{
	uint64_t d = deep_dir(STORE_ROOT_INO, STORE_MAX_PATH_LEN - 1 - 10, true);
	char *before, *after;

	mkfile(STORE_ROOT_INO, INO(1), "f", "x");
	before = h_dump(T.s);
	H_REFUSED(&T, h_link(INO(1), d, name_of(11)), ENAMETOOLONG);
	H_REFUSED(&T, h_link(INO(1), d, name_of(12)), ENAMETOOLONG);
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "f", d, name_of(11), 0), ENAMETOOLONG);
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "f", d, name_of(12), 0), ENAMETOOLONG);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	free(before);
	free(after);
	H_OK(&T, h_link(INO(1), d, name_of(10)));
	H_OK(&T, h_rename(STORE_ROOT_INO, "f", d, "nnnnnnnnnr", 0));
	/* Exchanging two files moves no name: their paths stay as they were. */
	mkfile(STORE_ROOT_INO, INO(2), "a-longer-name", "y");
	H_OK(&T, h_rename(d, "nnnnnnnnnr", STORE_ROOT_INO, "a-longer-name", RENAME_EXCHANGE));
}

/* A directory whose deepest path (a file) is "s/" + 2000 bytes below it:
 * moved under a directory at 2092 bytes, that file is at
 * 2092 + 1 + 1 + 1 + 2000 = 4095 bytes; one byte more is refused. */
Test(store, path_limit_on_rename_of_a_deep_subtree)
{
	uint64_t s, deepest, ok, over, x;
	char *before, *after;
	size_t len;

	mkdir_(STORE_ROOT_INO, INO(1), "s");
	s = INO(1);
	deepest = deep_dir(s, 2000 - 11, true);
	mkfile(deepest, INO(2), name_of(10), "x"); /* s/...(1989)/nnnnnnnnnn: 2000 after "s/" */
	mkdir_(STORE_ROOT_INO, INO(3), "t");
	ok = deep_dir(INO(3), 2092 - 1, false);
	cr_assert_eq(store_dir_path_len(T.s, ok, &len), 0);
	cr_assert_eq(len, 2092u);
	mkdir_(STORE_ROOT_INO, INO(4), "u");
	over = deep_dir(INO(4), 2093 - 1, false);
	cr_assert_eq(store_dir_path_len(T.s, over, &len), 0);
	cr_assert_eq(len, 2093u);

	before = h_dump(T.s);
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "s", over, "s", 0), ENAMETOOLONG);
	/* Into the right depth but with a longer name: one byte over. */
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "s", ok, "ss", 0), ENAMETOOLONG);
	/* An exchange that would put it there. */
	mkdir_(over, INO(5), "x");
	x = INO(5);
	(void)x;
	free(before);
	before = h_dump(T.s);
	H_REFUSED(&T, h_rename(STORE_ROOT_INO, "s", over, "x", RENAME_EXCHANGE), ENAMETOOLONG);
	H_REFUSED(&T, h_rename(over, "x", STORE_ROOT_INO, "s", RENAME_EXCHANGE), ENAMETOOLONG);
	after = h_dump(T.s);
	H_DUMP_EQ(before, after);
	free(before);
	free(after);
	/* To exactly 4095 bytes: allowed; every path there is whole. */
	H_OK(&T, h_rename(STORE_ROOT_INO, "s", ok, "s", 0));
	cr_assert_eq(store_dir_path_len(T.s, deepest, &len), 0);
	cr_assert_eq(len, STORE_MAX_PATH_LEN - 11);
	{
		char path[STORE_MAX_PATH];

		cr_assert_eq(store_path(T.s, INO(2), path, sizeof(path)), 0);
		cr_assert_eq(strlen(path), (size_t)STORE_MAX_PATH_LEN);
	}
	/* A rename that makes nothing longer needs no room: back to the root. */
	H_OK(&T, h_rename(ok, "s", STORE_ROOT_INO, "s", 0));
	H_OK(&T, h_rename(STORE_ROOT_INO, "s", STORE_ROOT_INO, "s2", 0));
}
