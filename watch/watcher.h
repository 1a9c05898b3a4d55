/*
 * The clusterfs-watch event loop (DESIGN §6, docs/watch.md).
 *
 * One thread owns everything: the rules, the applied state, the inotify
 * watches, the running commands. It sleeps in poll(2) on an inotify fd and
 * a signalfd (SIGCHLD, SIGHUP, SIGTERM, SIGINT), with the timeout of the
 * nearest deadline (a debounced change, a retry, a command's timeout, a
 * lease renewal, the leader and mount checks).
 *
 * Level-triggered: an event only says "look at this path again"; what runs
 * is decided by comparing the file's current value with the hash of the
 * value last applied for that (rule, path). On start, after IN_Q_OVERFLOW,
 * after a reload and when the mount comes back, the whole tree is compared
 * the same way, deletions included.
 */
#ifndef CFS_WATCH_WATCHER_H
#define CFS_WATCH_WATCHER_H

#include "rules.h"
#include "state.h"

/* Limits and periods (docs/watch.md). */
#define WATCHER_MAX_JOBS	16		  /* commands running at once */
#define WATCHER_KILL_GRACE_MS	2000		  /* SIGTERM -> SIGKILL for a timed-out command */
#define WATCHER_MOUNT_CHECK_MS	1000		  /* is the mount (still) there? */
#define WATCHER_LEADER_CHECK_MS 1000		  /* re-read .cluster/status for only-on = leader */
#define WATCHER_MAX_VALUE	(1024 * 1024 + 1) /* one file (DESIGN §9) */
/* The applied state is saved this long after a change (one fsync for a
 * burst, none on the path from an event to its command), and at exit. A
 * crash in between runs those commands once more at the next start. */
#define WATCHER_SAVE_DELAY_MS 200
/* A lease file that vanished under our write: campaign again after this. */
#define WATCHER_LEASE_RETRY_MS 50

struct watcher_opts {
	const char *mount;
	const char *config; /* for SIGHUP reloads */
	int max_jobs;
};

/* Run until SIGTERM or SIGINT. Takes ownership of RULES and STATE. Returns
 * the process exit status. */
int watcher_run(const struct watcher_opts *opts, struct rules *rules, struct state *state);

#endif
