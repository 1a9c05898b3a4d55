/*
 * The part of the file handles (handles.c) that needs neither FUSE nor the
 * log: what a handle holds (struct fs_handle), a create not yet committed
 * (struct fs_pending), and the rules of held O_TRUNC, typed writes and
 * pending creates as pure functions, so that tests/unit/test_handles.c
 * checks them without a mount. The records belong to the loop thread.
 */
#ifndef CFS_FS_HANDLES_H
#define CFS_FS_HANDLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uthash.h>

#include "../replication/entry.h"

#define FS_NAME_MAX 255

/* A file created in a typed directory, not yet committed (see handles.c). */
struct fs_pending {
	uint64_t ino;
	uint64_t parent;
	char name[FS_NAME_MAX + 1];
	uint32_t mode, uid, gid;
	int64_t ctime_ns;
	UT_hash_handle hh;
};

struct fs_handle {
	uint64_t ino;
	int flags;
	/* Opened with O_TRUNC: its last close commits the truncation if it is
	 * still held (the held state itself is the inode's: fs_ref). */
	bool trunc_pending;
	uint32_t trunc_gen; /* the inode's trunc_gen when it opened (fs_ref) */
	bool append;
	char *plug_data; /* generated files: content rendered at open */
	size_t plug_len;
	bool replay; /* opened by the replay thread: writes are no-ops */
	/* A file in a typed directory: the raw bytes written through this
	 * handle (see typed_raw_write, handles.c). */
	bool typed;
	bool refused; /* a write was refused: a pending create is abandoned */
	bool raw_loaded;
	char *raw;
	size_t raw_len;
};

/* Does an open with @flags of a file of @size bytes hold an O_TRUNC back
 * (see handles.c)? Only if there is content to drop. */
bool fs_handle_open_holds_trunc(int flags, uint64_t size);

/* CREATE(O_TRUNC, not O_EXCL) proposed inode @proposed and was answered
 * with @got of @size bytes: does the handle hold an O_TRUNC back? */
bool fs_handle_create_holds_trunc(bool o_trunc, uint64_t proposed, uint64_t got, uint64_t size);

/* The flags of the WRITE entry for a write through @h that is neither to a
 * typed file nor a pending create, @trunc_held if the inode's O_TRUNC is
 * held: ENTRY_F_REPLACE (the held O_TRUNC fused with this write),
 * ENTRY_F_APPEND or 0. */
uint32_t fs_handle_write_flags(const struct fs_handle *h, bool trunc_held);

/* The offset of a REPLACE write through @h that the kernel sent at @off:
 * the content becomes NULs up to it, then the data. */
uint64_t fs_handle_replace_offset(const struct fs_handle *h, uint64_t off);

/* Put @size bytes at @off (at the end for O_APPEND) into the raw bytes of a
 * typed file's handle, already loaded. 0, -EFBIG or -ENOMEM. */
int fs_handle_raw_write(struct fs_handle *h, const char *buf, size_t size, off_t off);

/* A typed write through @h was refused: forget its raw bytes. */
void fs_handle_refused(struct fs_handle *h);

/* What the last close of @h commits (@pending: it is a pending create). */
enum fs_release_commit {
	FS_RELEASE_NOTHING,
	FS_RELEASE_CREATE,   /* the pending create, empty */
	FS_RELEASE_TRUNCATE, /* the held O_TRUNC */
};
enum fs_release_commit fs_handle_release_commit(const struct fs_handle *h, bool pending,
						bool trunc_held);

/* A new pending create (mode: the permission bits asked for), or NULL. */
struct fs_pending *fs_pending_new(uint64_t ino, uint64_t parent, const char *name, mode_t mode,
				  uint32_t uid, uint32_t gid, int64_t ctime_ns);

/* Fill @e (already initialised as an ENTRY_CREATE) as the entry that
 * commits @p with @data as content. */
void fs_pending_commit_entry(const struct fs_pending *p, struct entry *e, const void *data,
			     size_t len);

#endif
