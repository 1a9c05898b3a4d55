/*
 * What the FUSE INIT reply asks of the kernel beyond what libfuse 3.14 can
 * ask: FUSE_DIRECT_IO_ALLOW_MMAP (Linux 6.6, protocol 7.39), so that a file
 * can be mmap'ed shared although every descriptor uses direct I/O
 * (handles.c: one write(2), one entry). Without it, mmap(MAP_SHARED) of
 * any file of the mount fails with ENODEV, even read-only (Python's
 * mmap.ACCESS_READ, tools that map what they read); tmpfs allows it.
 *
 * libfuse 3.14 builds the INIT reply from the capabilities it knows, and
 * this one postdates it. So the session's device I/O goes through
 * fuse_session_custom_io: reads are plain read(2); writes are plain
 * writev(2), except the one reply to INIT, which gets FUSE_INIT_EXT and
 * the flag in flags2 when the kernel offered the flag in its INIT request
 * (fs_init_ext_request, from the loop's read of the request). A kernel that
 * does not offer it gets libfuse's reply untouched, and mmap(MAP_SHARED)
 * fails there as before.
 *
 * Threads: fs_init_ext_request and the INIT reply run on the loop thread;
 * the writev is also called by the notifier thread for notifications
 * (unique 0), which pass through without touching any state.
 */
#include "fs_internal.h"

#include <errno.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../common/log.h"

#ifndef FUSE_DIRECT_IO_ALLOW_MMAP
#define FUSE_DIRECT_IO_ALLOW_MMAP (1ULL << 36)
#endif

#define INIT_EXT_MMAP_FLAG2 ((uint32_t)(FUSE_DIRECT_IO_ALLOW_MMAP >> 32))

void fs_init_ext_request(struct fs *fs, const void *req, size_t len)
{
	struct fuse_in_header in;
	struct fuse_init_in init;

	if (len < sizeof(in) + offsetof(struct fuse_init_in, flags2) + sizeof(init.flags2))
		return;
	memcpy(&in, req, sizeof(in));
	memset(&init, 0, sizeof(init));
	memcpy(&init, (const char *)req + sizeof(in),
	       len - sizeof(in) < sizeof(init) ? len - sizeof(in) : sizeof(init));
	fs->init_unique = in.unique;
	fs->init_mmap_offered =
	    (init.flags & FUSE_INIT_EXT) != 0 && (init.flags2 & INIT_EXT_MMAP_FLAG2) != 0;
	if (!fs->init_mmap_offered)
		log_info("this kernel cannot map direct-I/O files shared (Linux 6.6 and later "
			 "can): mmap(MAP_SHARED) of files under %s fails with ENODEV",
			 fs->mountpoint);
}

static ssize_t init_ext_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	return read(fd, buf, len);
}

/* The INIT reply @iov (header, then struct fuse_init_out) with our flags,
 * in @copy and @out; false if it is not one we can amend. */
static bool init_reply_amend(const struct iovec *iov, int count, struct iovec copy[2],
			     struct fuse_init_out *out)
{
	const struct fuse_out_header *h = iov[0].iov_base;

	if (count != 2 || iov[0].iov_len != sizeof(*h) || h->error != 0 ||
	    iov[1].iov_len != sizeof(*out))
		return false;
	memcpy(out, iov[1].iov_base, sizeof(*out));
	out->flags |= FUSE_INIT_EXT;
	out->flags2 |= INIT_EXT_MMAP_FLAG2;
	copy[0] = iov[0];
	copy[1] = (struct iovec){.iov_base = out, .iov_len = sizeof(*out)};
	return true;
}

static ssize_t init_ext_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fs *fs = userdata;
	const struct fuse_out_header *h = iov[0].iov_base;
	struct iovec copy[2];
	struct fuse_init_out out;

	if (h->unique == 0 || h->unique != fs->init_unique || !fs->init_mmap_offered)
		return writev(fd, iov, count);
	fs->init_unique = 0;
	if (h->error != 0) /* libfuse refused the kernel: nothing to amend */
		return writev(fd, iov, count);
	if (!init_reply_amend(iov, count, copy, &out)) {
		log_warn("the FUSE INIT reply has an unexpected shape: files cannot be mmap'ed "
			 "shared");
		return writev(fd, iov, count);
	}
	log_debug("asked the kernel for shared mmap of direct-I/O files");
	return writev(fd, copy, 2);
}

/* libfuse documents fuse_session_custom_io as what to call instead of
 * fuse_session_mount; 3.14 takes it after the mount too, on the mount's
 * own descriptor (every end-to-end test mounts this way), so mounting and
 * unmounting stay libfuse's. */
int fs_init_ext_install(struct fs *fs)
{
	static const struct fuse_custom_io io = {
	    .read = init_ext_read,
	    .writev = init_ext_writev,
	};

	return fuse_session_custom_io(fs->se, &io, fuse_session_fd(fs->se));
}
