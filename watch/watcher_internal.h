/*
 * clusterfs-watch's private header: the state that the files of the
 * watcher share, and their functions. The files, by concern:
 *
 *   watcher.c    the loop: poll(2), signals, deadlines, reload, shutdown;
 *                the mount and its inotify watches; events -> items;
 *   items.c      one item per (rule, path) that has something going on;
 *   value.c      reading a path's current value;
 *   reconcile.c  the level-triggered decision for one item, and the
 *                reconcile of the whole tree;
 *   exec.c       jobs: fork/exec of a command, its timeout, its exit,
 *                retries with backoff;
 *   campaign.c   which only-on rules this node may run: leader, leases.
 *
 * Everything here is owned by the one thread that runs watcher_run().
 */
#ifndef CFS_WATCH_WATCHER_INTERNAL_H
#define CFS_WATCH_WATCHER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uthash.h>

#include "watcher.h"

struct item {
	char *key; /* "RULE/PATH" */
	char *rule;
	char *path;
	char *shown; /* path C-escaped (common/escape.h), for log lines */
	bool pending;  /* look at it again at due */
	bool retrying; /* pending because a command failed */
	int64_t first, last, due;
	uint64_t seq; /* order of evaluation among items due together */
	unsigned failures;
	/* the running command, if pid != 0 */
	pid_t pid;
	bool rerun; /* a change came while it ran */
	bool job_delete;
	char job_hash[STATE_HASH_LEN + 1];
	int64_t job_start, job_deadline, job_kill_at;
	UT_hash_handle hh;
};

struct wdent {
	int wd;
	char *path; /* relative to the mount, "" for the mount itself */
	UT_hash_handle hh;
};

struct lease {
	char *name;
	int64_t ttl_ms;
	int held;	 /* -1 unknown, 0, 1 */
	int64_t last_ok; /* the last successful acquire/renew */
	int64_t next;	 /* the next campaign or renewal */
};

struct watcher {
	const struct watcher_opts *opts;
	struct rules rules;
	struct state *state;
	struct item *items;
	struct wdent *wds;
	struct lease *leases;
	size_t n_leases;
	int ifd, sfd;
	bool mounted;
	dev_t mount_dev;
	char self[32];
	int leader; /* -1 unknown, 0, 1 */
	bool need_leader;
	int64_t next_mount_check, next_leader_check;
	bool reconcile;	 /* walk the whole tree at the next turn */
	int64_t save_at; /* when to save the applied state; 0: nothing to save */
	int running;
	uint64_t seq;
	bool stopping;
};

struct prefix_ctx {
	struct watcher *w;
	const char *prefix;
	size_t len;
	int64_t now;
};

/* watcher.c */
int64_t watcher_now_ms(void);
char *watcher_join_path(const char *a, const char *b);
const struct rules_rule *watcher_rule_by_name(struct watcher *w, const char *name);
void watcher_mount_lost(struct watcher *w, const char *why);
void watcher_walk(struct watcher *w, const char *rel, int64_t now, int depth);

/* items.c */
void watch_item_free(struct watcher *w, struct item *it);
void watch_item_maybe_free(struct watcher *w, struct item *it);
void watch_item_touch(struct watcher *w, const struct rules_rule *rule, const char *path,
		      int64_t now, bool immediate);
void watch_item_touch_path(struct watcher *w, const char *path, int64_t now, bool immediate);
void watch_item_touch_under(struct watcher *w, const char *dir, int64_t now);

/* value.c */
int watch_value_read(struct watcher *w, const char *rel, char **value, size_t *len);
int watch_value_read_small(struct watcher *w, const char *rel, char *out, size_t size);

/* reconcile.c */
void watch_reconcile_all(struct watcher *w, int64_t now);
void watch_reconcile_eval_due(struct watcher *w, int64_t now);

/* exec.c */
int watch_exec_start(struct watcher *w, struct item *it, const struct rules_rule *rule,
		     const struct rules_cmd *cmd, const struct rules_vars *vars, int64_t now);
void watch_exec_retry(struct watcher *w, struct item *it, int64_t now);
void watch_exec_reap(struct watcher *w, int64_t now);
void watch_exec_timeouts(struct watcher *w, int64_t now);
void watch_exec_shutdown(struct watcher *w);

/* campaign.c */
struct lease *watch_campaign_lease(struct watcher *w, const char *name);
int watch_campaign_eligible(struct watcher *w, const struct rules_rule *rule);
void watch_campaign_changed(struct watcher *w, bool gained);
void watch_campaign_leader_check(struct watcher *w, int64_t now);
void watch_campaign_lease_tick(struct watcher *w, struct lease *l, int64_t now);
void watch_campaign_release(struct watcher *w, struct lease *ls, size_t n);
void watch_campaign_free(struct lease *ls, size_t n);
void watch_campaign_rebuild(struct watcher *w, int64_t now);

#endif
