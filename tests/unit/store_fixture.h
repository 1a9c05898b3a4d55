/*
 * The store fixture shared by the test_store*.c files: each test gets a
 * fresh store in its own temporary directory; entries are applied at
 * increasing indexes by h_apply(), stamped h_stamp(index). Also the small
 * builders and checks (a file, a directory, a populated tree) those tests
 * share. Include it from one test file per executable.
 */
#ifndef CFS_TEST_STORE_FIXTURE_H
#define CFS_TEST_STORE_FIXTURE_H

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

/* The store limit's count (store_limits.c): the fresh tree (the root and
 * gates, peers, leases, routing, config), and one more inode with one name. */
#define BASE_BYTES		    (6u * STORE_INODE_COST + 5u * STORE_NAME_COST + 29u)
#define ENTRY_BYTES(name_len, size) (STORE_INODE_COST + STORE_NAME_COST + (name_len) + (size))

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

static inline void mkfile(uint64_t parent, uint64_t ino, const char *name, const char *text)
{
	H_OK(&T, h_create(parent, ino, FILE_MODE, name, text, strlen(text)));
	cr_assert_eq(T.ch.result, (int64_t)ino);
}

static inline void mkdir_(uint64_t parent, uint64_t ino, const char *name)
{
	H_OK(&T, h_create(parent, ino, DIR_MODE, name, NULL, 0));
	cr_assert_eq(T.ch.result, (int64_t)ino);
}

/* The count, checked against a recount from the rows: they never differ. */
static inline uint64_t bytes_now(void)
{
	struct store_stats st;
	uint64_t recount = 0;

	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(store_recount_bytes(T.s, &recount), 0);
	cr_assert_eq(st.bytes, recount, "count %llu, recount %llu", (unsigned long long)st.bytes,
		     (unsigned long long)recount);
	return st.bytes;
}

static inline void assert_gone(uint64_t parent, const char *name)
{
	struct store_attr a;
	int rv = store_lookup(T.s, parent, name, &a);

	cr_assert_eq(rv, -ENOENT, "lookup(%s) = %d, expected -ENOENT", name, rv);
}

static inline void assert_stamped(uint64_t ino, uint64_t index, bool content)
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
static inline void populate(void)
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

static inline int count_cb(void *arg, const char *name, size_t len, uint64_t ino, uint32_t mode)
{
	char *out = arg;

	(void)ino;
	cr_assert(S_ISDIR(mode));
	strncat(out, name, len);
	strcat(out, ",");
	return 0;
}

static inline void truncate_to(uint64_t ino, uint64_t size)
{
	struct entry e = h_setattr(ino, ENTRY_SET_SIZE);

	e.size = size;
	H_OK(&T, e);
}

#endif
