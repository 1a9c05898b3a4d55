/*
 * Mounting and unmounting: clearing a dead mount left by a killed daemon,
 * fs_mount, reading the FUSE device from the libuv loop (fs_poll_cb),
 * the counters the daemon asks for, and fs_unmount. Loop thread only
 * (fs_mount starts the notifier thread).
 */
#include "fs_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/vfs.h>

#include "../common/clock.h"
#include "../common/log.h"
#include "guardian.h"
#include "notify.h"

static void fs_poll_cb(uv_poll_t *p, int status, int events)
{
	struct fs *fs = p->data;

	(void)events;
	if (status < 0) {
		log_error("FUSE device: %s", uv_strerror(status));
		return;
	}
	/* Drain what the kernel has queued, then go back to the loop. */
	for (int i = 0; i < 64 && fs->polling; i++) {
		int rv = fuse_session_receive_buf(fs->se, &fs->buf);

		if (rv == -EAGAIN)
			return;
		if (rv == -EINTR)
			continue;
		if (rv <= 0 || fuse_session_exited(fs->se)) {
			log_warn("the mount at %s went away", fs->mountpoint);
			fs_stop_intake(fs);
			return;
		}
		fs->req_in_ns = clock_mono_ns();
		/* struct fuse_in_header: len, then opcode (splice is off, so
		 * the request is in memory). */
		if (!(fs->buf.flags & FUSE_BUF_IS_FD) && (size_t)rv >= 8) {
			uint32_t op;

			memcpy(&op, (const char *)fs->buf.mem + 4, sizeof(op));
			fs->fuse_requests[op < FS_FUSE_OPCODES ? op : 0]++;
			if (op == FUSE_INIT)
				fs_init_ext_request(fs, fs->buf.mem, (size_t)rv);
		}
		fuse_session_process_buf(fs->se, &fs->buf);
	}
}

/* /proc/self/mounts escapes blanks and backslashes as \ooo. */
static void unescape_mount_path(char *p)
{
	char *out = p;

	while (*p) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*out++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 4;
		} else {
			*out++ = *p++;
		}
	}
	*out = '\0';
}

/* The FUSE mount at exactly @dir, if any: *type gets its type. */
static bool fuse_mounted_at(const char *dir, char *type, size_t typelen)
{
	char line[2 * PATH_MAX];
	bool found = false;
	FILE *f = fopen("/proc/self/mounts", "re");

	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL) {
		char src[256], mnt[PATH_MAX], t[64];

		if (sscanf(line, "%255s %4095s %63s", src, mnt, t) != 3)
			continue;
		unescape_mount_path(mnt);
		if (strcmp(mnt, dir) == 0 && strncmp(t, "fuse", 4) == 0) {
			snprintf(type, typelen, "%s", t);
			found = true; /* keep the last: the one on top */
		}
	}
	fclose(f);
	return found;
}

/* The FUSE connection number of the mount on top at @dir (its directory in
 * /sys/fs/fuse/connections: the kernel's dev_t of the mount), from
 * /proc/self/mountinfo; -ENOENT if @dir is not a mount point. */
static long fs_mount_conn(const char *dir)
{
	char line[2 * PATH_MAX];
	long conn = -ENOENT;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned major, minor;
		char mnt[PATH_MAX];

		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &major, &minor, mnt) != 3)
			continue;
		unescape_mount_path(mnt);
		if (strcmp(mnt, dir) == 0)
			conn = (long)((major << 20) | minor); /* keep the last: on top */
	}
	fclose(f);
	return conn;
}

int fs_clear_stale_mount(const char *dir)
{
	char type[64];

	/* Mounts can stack (a daemon killed twice): clear them from the top.
	 * statfs always reaches the daemon (the kernel caches no answer), so
	 * ENOTCONN tells a dead mount from a live one. */
	for (int i = 0; i < 16 && fuse_mounted_at(dir, type, sizeof(type)); i++) {
		struct statfs sfs;

		if (statfs(dir, &sfs) == 0)
			return strcmp(type, "fuse." FS_FSNAME) == 0 ? -EBUSY : 0;
		if (errno != ENOTCONN)
			return -errno;
		if (strcmp(type, "fuse." FS_FSNAME) != 0)
			return -ENOTCONN;
		log_warn("%s is the mount of a clusterfsd that died; detaching it", dir);
		if (umount2(dir, MNT_DETACH) != 0)
			return -errno;
	}
	return 0;
}

int fs_check_mountpoint(const char *mountpoint, char *err, size_t errlen)
{
	struct stat st;
	int rv;

	if (realpath(mountpoint, (char[PATH_MAX]){0}) == NULL && errno == ENOENT &&
	    mkdir(mountpoint, 0755) != 0) {
		snprintf(err, errlen, "cannot create mount point %s: %s", mountpoint,
			 strerror(errno));
		return -errno;
	}
	{
		char real[PATH_MAX];

		/* /proc/self/mounts lists canonical paths; realpath of a dead
		 * mount point still works (it does not stat the mount's root). */
		if (realpath(mountpoint, real) == NULL)
			snprintf(real, sizeof(real), "%s", mountpoint);
		rv = fs_clear_stale_mount(real);
	}
	if (rv == -EBUSY) {
		snprintf(err, errlen,
			 "%s is already mounted by a running clusterfsd; stop it or pass "
			 "another --mount",
			 mountpoint);
		return rv;
	}
	if (rv != 0) {
		snprintf(err, errlen,
			 "mount point %s is a dead FUSE mount of another program; unmount it "
			 "(fusermount3 -u %s)",
			 mountpoint, mountpoint);
		return rv;
	}
	if (stat(mountpoint, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "mount point %s is not a directory; pass --mount DIR",
			 mountpoint);
		return -ENOTDIR;
	}
	return 0;
}

int fs_mount(struct fs **out, uv_loop_t *loop, struct store *store, const struct fs_log *log,
	     const struct fs_config *cfg, char *err, size_t errlen)
{
	char *argv[] = {"clusterfsd", "-o",
			"allow_other,default_permissions,fsname=" FS_FSNAME ",subtype=" FS_FSNAME,
			NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fs *fs;
	int fd, rv;

	rv = fs_check_mountpoint(cfg->mountpoint, err, errlen);
	if (rv != 0)
		return rv;

	fs = calloc(1, sizeof(*fs));
	if (fs == NULL)
		return -ENOMEM;
	fs->loop = loop;
	fs->store = store;
	fs->log = *log;
	fs->cfg = *cfg;
	if (realpath(cfg->mountpoint, fs->mountpoint) == NULL)
		snprintf(fs->mountpoint, sizeof(fs->mountpoint), "%s", cfg->mountpoint);
	fs->cfg.mountpoint = fs->mountpoint;
	fs->ino_base = (cfg->node_id << 48) | ((uint64_t)(cfg->epoch & 0xffff) << 32);

	fs->se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), fs);
	/* fuse_session_new parses @args into an allocated copy. */
	fuse_opt_free_args(&args);
	if (fs->se == NULL) {
		snprintf(err, errlen, "cannot create the FUSE session");
		free(fs);
		return -EIO;
	}
	if (fuse_session_mount(fs->se, fs->mountpoint) != 0) {
		snprintf(err, errlen, "cannot mount on %s (is /dev/fuse there, and are we root?)",
			 fs->mountpoint);
		fuse_session_destroy(fs->se);
		free(fs);
		return -EIO;
	}
	rv = fs_init_ext_install(fs);
	if (rv != 0)
		log_warn("cannot route the FUSE device through clusterfsd (%s): files cannot be "
			 "mmap'ed shared",
			 strerror(-rv));
	{
		long conn = fs_mount_conn(fs->mountpoint);

		rv = conn < 0 ? (int)conn
			      : guardian_start(&fs->guardian, fs->mountpoint, (unsigned long)conn);
		if (rv != 0)
			log_warn(
			    "no guardian for %s (%s): if this process is killed, its mount may "
			    "hang until its FUSE connection is aborted",
			    fs->mountpoint, strerror(-rv));
	}
	rv = notify_start(&fs->notify, fs->se);
	if (rv != 0) {
		snprintf(err, errlen, "cannot start the notifier thread: %s", strerror(-rv));
		fuse_session_unmount(fs->se);
		guardian_stop(fs->guardian);
		fuse_session_destroy(fs->se);
		free(fs);
		return rv;
	}
	fd = fuse_session_fd(fs->se);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	uv_poll_init(loop, &fs->poll, fd);
	fs->poll.data = fs;
	uv_timer_init(loop, &fs->drop_timer);
	fs->drop_timer.data = fs;
	fs->open_handles = 2;
	uv_poll_start(&fs->poll, UV_READABLE, fs_poll_cb);
	fs->polling = true;
	*out = fs;
	return 0;
}

void fs_stop_intake(struct fs *fs)
{
	if (fs->polling) {
		uv_poll_stop(&fs->poll);
		fs->polling = false;
	}
}

unsigned fs_in_flight(struct fs *fs)
{
	return fs->in_flight;
}

void fs_fuse_requests(struct fs *fs, uint64_t counts[FS_FUSE_OPCODES])
{
	memcpy(counts, fs->fuse_requests, sizeof(fs->fuse_requests));
}

/* The FUSE protocol's opcodes (linux/fuse.h), in lower case. */
static const char *const fuse_op_names[FS_FUSE_OPCODES] = {
    [1] = "lookup",	  [2] = "forget",	[3] = "getattr",       [4] = "setattr",
    [5] = "readlink",	  [6] = "symlink",	[8] = "mknod",	       [9] = "mkdir",
    [10] = "unlink",	  [11] = "rmdir",	[12] = "rename",       [13] = "link",
    [14] = "open",	  [15] = "read",	[16] = "write",	       [17] = "statfs",
    [18] = "release",	  [20] = "fsync",	[21] = "setxattr",     [22] = "getxattr",
    [23] = "listxattr",	  [24] = "removexattr", [25] = "flush",	       [26] = "init",
    [27] = "opendir",	  [28] = "readdir",	[29] = "releasedir",   [30] = "fsyncdir",
    [31] = "getlk",	  [32] = "setlk",	[33] = "setlkw",       [34] = "access",
    [35] = "create",	  [36] = "interrupt",	[37] = "bmap",	       [38] = "destroy",
    [39] = "ioctl",	  [40] = "poll",	[42] = "batch_forget", [43] = "fallocate",
    [44] = "readdirplus", [45] = "rename2",	[46] = "lseek",	       [47] = "copy_file_range",
    [50] = "syncfs",	  [51] = "tmpfile",	[52] = "statx",
};

const char *fs_fuse_op_name(unsigned opcode)
{
	return opcode < FS_FUSE_OPCODES ? fuse_op_names[opcode] : NULL;
}

void fs_replay_backlog(struct fs *fs, uint64_t *items, double *oldest_s)
{
	*items = 0;
	*oldest_s = 0;
	if (fs->notify != NULL)
		notify_backlog(fs->notify, items, oldest_s);
}

static void fs_handle_closed(uv_handle_t *h)
{
	struct fs *fs = h->data;
	struct fs_ref *c, *ct;
	struct fs_pending *p, *pt;

	if (--fs->open_handles > 0)
		return;
	free(fs->drops);
	fuse_session_destroy(fs->se);
	free(fs->buf.mem);
	HASH_ITER(hh, fs->refs, c, ct)
	{
		HASH_DEL(fs->refs, c);
		free(c);
	}
	HASH_ITER(hh, fs->pending, p, pt)
	{
		HASH_DEL(fs->pending, p);
		free(p);
	}
	free(fs);
}

bool fs_idle(struct fs *fs)
{
	return fs->in_flight == 0 && notify_idle(fs->notify);
}

void fs_unmount(struct fs *fs)
{
	fs_stop_intake(fs);
	/* Orphans still waiting are dropped at the next start; syncs still
	 * waiting fail (no replay will run any more: they cannot be kept). */
	uv_timer_stop(&fs->drop_timer);
	for (size_t i = 0; i < fs->n_drops; i++)
		if (fs->drops[i].req != NULL)
			fuse_reply_err(fs->drops[i].req, ESHUTDOWN); /* never caught up */
	fs->n_drops = 0;
	/* A notifier stuck in the kernel waits for a client that waits for
	 * us: only an abort of the connection lets this process exit. */
	if (notify_stop(fs->notify) && fs->guardian != NULL)
		guardian_abort(fs->guardian);
	fs->notify = NULL;
	fuse_session_unmount(fs->se);
	guardian_stop(fs->guardian);
	fs->guardian = NULL;
	uv_close((uv_handle_t *)&fs->poll, fs_handle_closed);
	uv_close((uv_handle_t *)&fs->drop_timer, fs_handle_closed);
}
