/*
 * The sqlite store's orphans: files that lost their last name are kept
 * until dropped on this node, and entries reaching them have the same
 * outcome whether or not the row is still here.
 */
#include "store_fixture.h"

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
	cr_assert_eq(st.bytes, BASE_BYTES + ENTRY_BYTES(1, 0),
		     "an orphan no longer counts against the limit");
	cr_assert_eq(bytes_now(), st.bytes);

	cr_assert_eq(store_drop_orphan(T.s, INO(1)), 0);
	cr_assert_eq(store_getattr(T.s, INO(1), &a), -ENOENT);
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.bytes, BASE_BYTES + ENTRY_BYTES(1, 0), "dropping the orphan changes no count");
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
		cr_assert_eq(T.ch.orphaned[0], (uint64_t)INO(i));
	}
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.inodes, 7u, "orphans are not counted");
	cr_assert_eq(st.bytes, BASE_BYTES + ENTRY_BYTES(4, 1), "nor are their bytes");
	cr_assert_eq(bytes_now(), st.bytes);
	cr_assert_eq(store_drop_all_orphans(T.s), 0);
	cr_assert_eq(store_stats(T.s, &st), 0);
	cr_assert_eq(st.inodes, 7u);
	cr_assert_eq(st.bytes, BASE_BYTES + ENTRY_BYTES(4, 1));
	H_CONTENT_EQ(T.s, INO(1000), "k");
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
