/*
 * The rules of file handles, without a mount (fs/handles.h): which opens
 * hold an O_TRUNC back, what a write after it becomes, the raw bytes of a
 * typed file's handle, what the last close commits, and pending creates.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../fs/handles.h"
#include "../../replication/store.h"

/* --- held O_TRUNC ------------------------------------------------------------- */

Test(handles, open_holds_trunc_whenever_there_is_content)
{
	cr_assert(fs_handle_open_holds_trunc(O_WRONLY | O_TRUNC, 5));
	cr_assert(fs_handle_open_holds_trunc(O_RDWR | O_TRUNC, 1));
	cr_assert_not(fs_handle_open_holds_trunc(O_WRONLY | O_TRUNC, 0)); /* nothing to drop */
	/* Linux (and tmpfs) truncate at open(O_RDONLY | O_TRUNC) too */
	cr_assert(fs_handle_open_holds_trunc(O_RDONLY | O_TRUNC, 5));
	cr_assert(fs_handle_open_holds_trunc(O_WRONLY | O_APPEND | O_TRUNC, 5));
	cr_assert_not(fs_handle_open_holds_trunc(O_WRONLY, 5));
	cr_assert_not(fs_handle_open_holds_trunc(O_WRONLY | O_APPEND, 5));
}

Test(handles, create_holds_trunc_only_for_another_nodes_file)
{
	/* CREATE(O_TRUNC) that found someone else's file with content */
	cr_assert(fs_handle_create_holds_trunc(true, 100, 7, 3));
	/* our own new file: empty, nothing to hold */
	cr_assert_not(fs_handle_create_holds_trunc(true, 100, 100, 0));
	cr_assert_not(fs_handle_create_holds_trunc(true, 100, 7, 0));
	cr_assert_not(fs_handle_create_holds_trunc(false, 100, 7, 3));
}

Test(handles, write_after_held_trunc_replaces_at_its_offset)
{
	struct fs_handle h = {.ino = 9, .trunc_pending = true};

	cr_assert_eq(fs_handle_write_flags(&h, true), ENTRY_F_REPLACE);
	/* NULs up to the offset, then the data (pwrite at 10 after O_TRUNC) */
	cr_assert_eq(fs_handle_replace_offset(&h, 10), 10);
	cr_assert_eq(fs_handle_write_flags(&h, false), 0);
	/* the truncation is the inode's: a handle that did not open with
	 * O_TRUNC fuses it too */
	h.trunc_pending = false;
	cr_assert_eq(fs_handle_write_flags(&h, true), ENTRY_F_REPLACE);
}

Test(handles, append_after_held_trunc_starts_the_content)
{
	struct fs_handle h = {.ino = 9, .append = true};

	cr_assert_eq(fs_handle_write_flags(&h, false), ENTRY_F_APPEND);
	/* O_APPEND | O_TRUNC, write "abc": the content is "abc" */
	h.trunc_pending = true;
	cr_assert_eq(fs_handle_write_flags(&h, true), ENTRY_F_REPLACE);
	cr_assert_eq(fs_handle_replace_offset(&h, 45), 0);
}

/* --- what the last close commits ---------------------------------------------- */

Test(handles, release_commits_a_truncation_still_held)
{
	struct fs_handle h = {.ino = 9, .trunc_pending = true};

	cr_assert_eq(fs_handle_release_commit(&h, false, true), FS_RELEASE_TRUNCATE);
	/* a write or truncate fused it, or a refused write abandoned it */
	cr_assert_eq(fs_handle_release_commit(&h, false, false), FS_RELEASE_NOTHING);
	/* only a descriptor that opened with O_TRUNC commits it */
	h.trunc_pending = false;
	cr_assert_eq(fs_handle_release_commit(&h, false, true), FS_RELEASE_NOTHING);
}

Test(handles, release_commits_pending_create_unless_refused)
{
	struct fs_handle h = {.ino = 9, .typed = true};

	cr_assert_eq(fs_handle_release_commit(&h, true, false), FS_RELEASE_CREATE);
	h.refused = true;
	cr_assert_eq(fs_handle_release_commit(&h, true, false), FS_RELEASE_NOTHING);
}

Test(handles, release_of_a_replay_handle_commits_nothing)
{
	struct fs_handle h = {.ino = 9, .replay = true, .trunc_pending = true};

	cr_assert_eq(fs_handle_release_commit(&h, false, true), FS_RELEASE_NOTHING);
	cr_assert_eq(fs_handle_release_commit(&h, true, true), FS_RELEASE_NOTHING);
}

/* --- raw bytes of a typed file's handle ----------------------------------------- */

Test(handles, raw_write_at_offsets_fills_gaps_with_nul)
{
	struct fs_handle h = {.ino = 9, .typed = true, .raw_loaded = true};

	cr_assert_eq(fs_handle_raw_write(&h, "abc", 3, 0), 0);
	cr_assert_eq(fs_handle_raw_write(&h, "XY", 2, 5), 0);
	cr_assert_eq(h.raw_len, 7);
	cr_assert_eq(memcmp(h.raw, "abc\0\0XY", 7), 0);
	cr_assert_eq(fs_handle_raw_write(&h, "B", 1, 1), 0); /* overwrite inside */
	cr_assert_eq(h.raw_len, 7);
	cr_assert_eq(memcmp(h.raw, "aBc\0\0XY", 7), 0);
	free(h.raw);
}

Test(handles, raw_write_with_append_ignores_the_offset)
{
	struct fs_handle h = {.ino = 9, .typed = true, .append = true, .raw_loaded = true};

	cr_assert_eq(fs_handle_raw_write(&h, "a=1\n", 4, 0), 0);
	cr_assert_eq(fs_handle_raw_write(&h, "b=2\n", 4, 0), 0);
	cr_assert_eq(h.raw_len, 8);
	cr_assert_eq(memcmp(h.raw, "a=1\nb=2\n", 8), 0);
	free(h.raw);
}

Test(handles, raw_write_beyond_the_file_limit_is_efbig)
{
	struct fs_handle h = {.ino = 9, .typed = true, .raw_loaded = true};

	cr_assert_eq(fs_handle_raw_write(&h, "x", 1, (off_t)STORE_DEFAULT_MAX_FILE), -EFBIG);
	cr_assert_eq(h.raw_len, 0);
	cr_assert_null(h.raw);
	cr_assert_eq(fs_handle_raw_write(&h, "x", 1, (off_t)STORE_DEFAULT_MAX_FILE - 1), 0);
	cr_assert_eq(h.raw_len, STORE_DEFAULT_MAX_FILE);
	free(h.raw);
}

Test(handles, refused_write_drops_the_raw_bytes)
{
	struct fs_handle h = {.ino = 9, .typed = true, .raw_loaded = true};

	cr_assert_eq(fs_handle_raw_write(&h, "maybe", 5, 0), 0);
	fs_handle_refused(&h);
	cr_assert(h.refused);
	cr_assert_null(h.raw);
	cr_assert_eq(h.raw_len, 0);
	cr_assert_not(h.raw_loaded); /* reloaded from the store at the next write */
}

/* --- pending creates ---------------------------------------------------------- */

Test(handles, pending_create_is_a_regular_file_with_the_asked_bits)
{
	struct fs_pending *p =
	    fs_pending_new(42, STORE_GATES_INO, "feature.x", 0104644, 1000, 100, 123456789);

	cr_assert_not_null(p);
	cr_assert_eq(p->ino, 42);
	cr_assert_eq(p->parent, STORE_GATES_INO);
	cr_assert_str_eq(p->name, "feature.x");
	cr_assert_eq(p->mode, S_IFREG | 04644);
	cr_assert_eq(p->uid, 1000);
	cr_assert_eq(p->gid, 100);
	cr_assert_eq(p->ctime_ns, 123456789);
	free(p);
}

Test(handles, pending_create_commits_as_one_exclusive_create)
{
	struct fs_pending *p = fs_pending_new(42, STORE_GATES_INO, "feature.x", 0644, 1000, 100, 1);
	struct entry e = {.op = ENTRY_CREATE, .uid = 0, .gid = 0};

	cr_assert_not_null(p);
	fs_pending_commit_entry(p, &e, "true\n", 5);
	cr_assert_eq(e.op, ENTRY_CREATE);
	cr_assert_eq(e.flags, ENTRY_F_EXCL);
	cr_assert_eq(e.parent, STORE_GATES_INO);
	cr_assert_eq(e.ino, 42);
	cr_assert_eq(e.mode, S_IFREG | 0644);
	cr_assert_eq(e.uid, 1000); /* the creator's, not the committer's */
	cr_assert_eq(e.gid, 100);
	cr_assert_eq(e.name_len, strlen("feature.x"));
	cr_assert_eq(memcmp(e.name, "feature.x", e.name_len), 0);
	cr_assert_eq(e.data_len, 5);
	cr_assert_eq(memcmp(e.data, "true\n", 5), 0);
	/* committed at close with no write: empty content */
	fs_pending_commit_entry(p, &e, NULL, 0);
	cr_assert_eq(e.data_len, 0);
	free(p);
}
