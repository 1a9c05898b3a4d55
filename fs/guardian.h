/*
 * The guardian: a small child process that aborts this daemon's FUSE
 * connection when the daemon dies without unmounting (kill -9, a crash), so
 * that the mount answers ENOTCONN instead of hanging and the dying process
 * can finish exiting.
 *
 * Why a process: a thread of the daemon can be blocked inside the kernel
 * for good after a kill -9. The notifier's fuse_lowlevel_notify_inval_entry
 * waits for a directory lock that a client holds while the client waits for
 * an answer that only the daemon could give. The dead process keeps
 * /dev/fuse open as long as one of its threads lives, so the kernel never
 * aborts the connection by itself: the mount and every client on it hang.
 * Only someone else can break that cycle, by writing to the connection's
 * abort file (/sys/fs/fuse/connections/N/abort).
 *
 * The guardian is forked by the loop thread (the main thread) right after
 * the mount. The kernel signals it (PR_SET_PDEATHSIG) when that thread
 * exits, which it does at once on kill -9 even when another thread is
 * stuck. It holds no descriptor of the daemon's, ignores the signals a
 * terminal or a service manager sends to a whole group (SIGTERM, SIGINT,
 * SIGHUP: the daemon answers those itself by unmounting), and after a clean
 * unmount the daemon ends it with SIGKILL. Loop thread only.
 */
#ifndef CFS_GUARDIAN_H
#define CFS_GUARDIAN_H

#include <stddef.h>

struct guardian;

/* Start guarding the FUSE mount at @mountpoint, which this process has just
 * mounted, and whose connection is number @conn (its directory in
 * /sys/fs/fuse/connections). */
int guardian_start(struct guardian **out, const char *mountpoint, unsigned long conn);

/* Abort the connection now, from this process (a shutdown that found a
 * thread stuck in the kernel on the mount). */
void guardian_abort(struct guardian *g);

/* After a clean unmount: end the guardian and free it. NULL is a no-op. */
void guardian_stop(struct guardian *g);

#endif
