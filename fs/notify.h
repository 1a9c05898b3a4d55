/*
 * Kernel cache invalidation for changes the kernel did not see: entries
 * applied here that another node proposed, and snapshots installed.
 *
 * fuse_lowlevel_notify_inval_* block inside the kernel until it has dropped
 * the cached pages and names, which may need a FUSE request answered by the
 * loop thread (a read holding a page lock, a lookup holding a directory
 * lock). So the loop thread never calls them: it queues work for the one
 * notifier thread, which never holds a lock of ours while it calls into
 * the kernel (../shared/notes/remote-inotify.md, rule 6).
 *
 * The queue is the only state shared between the threads; its mutex guards
 * it. notify_* may be called from the loop thread only.
 */
#ifndef CFS_NOTIFY_H
#define CFS_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fuse_session;
struct notify;

int notify_start(struct notify **out, struct fuse_session *se);
/* Drop cached attributes and pages of @ino. */
void notify_inode(struct notify *nt, uint64_t ino);
/* Drop the cached name @name in @parent. */
void notify_entry(struct notify *nt, uint64_t parent, const char *name, size_t len);
/* Nothing queued and nothing being sent to the kernel. */
bool notify_idle(struct notify *nt);
/* Stop: drop what is still queued; join the thread if it is idle, else
 * leave it behind (it may be blocked in the kernel until the session is
 * destroyed; the process is about to exit). */
void notify_stop(struct notify *nt);

#endif
