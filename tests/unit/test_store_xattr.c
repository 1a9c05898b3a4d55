/*
 * The sqlite store's extended attributes: set, replace, remove, their
 * flags and the namespaces allowed.
 */
#include <sys/xattr.h>

#include "store_fixture.h"

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
