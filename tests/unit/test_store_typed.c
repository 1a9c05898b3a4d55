/*
 * The sqlite store with a typed namespace (gates/): values normalized
 * and refused by the namespace's validator.
 */
#include "store_fixture.h"

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
