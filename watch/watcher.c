/*
 * The clusterfs-watch event loop: see watcher.h for the design in a
 * paragraph. The pieces, in the order of this file:
 *
 *   items    one per (rule, path) that has something going on: a change
 *            waiting for its debounce or retry time, or a running command;
 *   mount    is the FUSE mount there; watches on every directory of it;
 *   reading  a path's current value (content, or a symlink's target);
 *   jobs     fork/exec of a command (no shell), its timeout, its exit;
 *   eval     the level-triggered decision for one item;
 *   leader / leases   which only-on rules this node may run;
 *   inotify  events -> items;
 *   loop     poll(2), signals, deadlines, reload, shutdown.
 *
 * Everything here is owned by the one thread that runs watcher_run().
 */
#include "watcher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#include "../common/log.h"
#include "sched.h"

#define FUSE_MAGIC 0x65735546 /* statfs f_type of a FUSE mount */
#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR |       \
	 IN_DONT_FOLLOW)
#define LOG_ARGV_MAX 300 /* characters of a command shown in a log line */

struct item {
	char *key; /* "RULE/PATH" */
	char *rule;
	char *path;
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

static int64_t nowMs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *joinPath(const char *a, const char *b)
{
	char *p;
	if (asprintf(&p, "%s%s%s", a, (*a != '\0' && *b != '\0') ? "/" : "", b) < 0)
		return NULL;
	return p;
}

static const struct rules_rule *ruleByName(struct watcher *w, const char *name)
{
	for (size_t i = 0; i < w->rules.n; i++)
		if (strcmp(w->rules.rule[i].name, name) == 0)
			return &w->rules.rule[i];
	return NULL;
}

static struct lease *leaseByName(struct watcher *w, const char *name)
{
	for (size_t i = 0; i < w->n_leases; i++)
		if (strcmp(w->leases[i].name, name) == 0)
			return &w->leases[i];
	return NULL;
}

/* --- items ---------------------------------------------------------------- */

static struct item *itemGet(struct watcher *w, const char *rule, const char *path, bool create)
{
	struct item *it = NULL;
	char *key;

	if (asprintf(&key, "%s/%s", rule, path) < 0)
		return NULL;
	HASH_FIND_STR(w->items, key, it);
	if (it != NULL || !create) {
		free(key);
		return it;
	}
	it = calloc(1, sizeof(*it));
	if (it == NULL) {
		free(key);
		return NULL;
	}
	it->key = key;
	it->rule = strdup(rule);
	it->path = strdup(path);
	if (it->rule == NULL || it->path == NULL) {
		free(it->rule);
		free(it->path);
		free(it->key);
		free(it);
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, w->items, it->key, strlen(it->key), it);
	return it;
}

static void itemFree(struct watcher *w, struct item *it)
{
	HASH_DEL(w->items, it);
	free(it->key);
	free(it->rule);
	free(it->path);
	free(it);
}

/* Drop an item that has nothing going on (memory stays bounded by activity). */
static void itemMaybeFree(struct watcher *w, struct item *it)
{
	if (!it->pending && it->pid == 0 && it->failures == 0)
		itemFree(w, it);
}

/* Something may have changed at (rule, path) at NOW: look again once the
 * rule's debounce allows (IMMEDIATE: at once). */
static void itemTouch(struct watcher *w, const struct rules_rule *rule, const char *path,
		      int64_t now, bool immediate)
{
	struct item *it = itemGet(w, rule->name, path, true);

	if (it == NULL) {
		log_error("out of memory: a change of %s is lost until the next reconcile", path);
		return;
	}
	if (!it->pending || it->retrying) {
		it->pending = true;
		it->retrying = false;
		it->first = now;
		it->seq = ++w->seq;
	}
	it->last = now;
	it->due = immediate
		      ? now
		      : sched_due(it->first, it->last, rule->debounce_ms, rule->debounce_max_ms);
	if (it->pid != 0)
		it->rerun = true;
}

/* Every rule that matches PATH: something may have changed there. An
 * event (not a reconcile, IMMEDIATE false) on a skip-if input of a rule
 * may change the decision for all of its paths: reconcile. */
static void touchPath(struct watcher *w, const char *path, int64_t now, bool immediate)
{
	for (size_t i = 0; i < w->rules.n; i++) {
		const struct rules_rule *rule = &w->rules.rule[i];
		if (rules_match(rule, path))
			itemTouch(w, rule, path, now, immediate);
		for (size_t j = 0; j < rule->n_skip_if && !immediate; j++)
			if (strcmp(rule->skip_if[j].path, path) == 0)
				w->reconcile = true;
	}
}

struct prefix_ctx {
	struct watcher *w;
	const char *prefix;
	size_t len;
	int64_t now;
};

static void touchUnderState(void *arg, const char *rule_name, const char *path)
{
	struct prefix_ctx *c = arg;
	const struct rules_rule *rule = ruleByName(c->w, rule_name);

	if (rule != NULL && strncmp(path, c->prefix, c->len) == 0 && path[c->len] == '/')
		itemTouch(c->w, rule, path, c->now, false);
}

/* A directory went away (rmdir, mv): every applied path under it. */
static void touchUnder(struct watcher *w, const char *dir, int64_t now)
{
	struct prefix_ctx c = {w, dir, strlen(dir), now};
	state_each(w->state, touchUnderState, &c);
}

/* --- the mount and its watches -------------------------------------------- */

static void wdsClear(struct watcher *w)
{
	struct wdent *e, *tmp;

	HASH_ITER(hh, w->wds, e, tmp)
	{
		HASH_DEL(w->wds, e);
		free(e->path);
		free(e);
	}
}

static int wdsSet(struct watcher *w, int wd, const char *path)
{
	struct wdent *e = NULL;
	char *copy = strdup(path);

	if (copy == NULL)
		return -ENOMEM;
	HASH_FIND_INT(w->wds, &wd, e);
	if (e == NULL) {
		e = calloc(1, sizeof(*e));
		if (e == NULL) {
			free(copy);
			return -ENOMEM;
		}
		e->wd = wd;
		HASH_ADD_INT(w->wds, wd, e);
	} else {
		free(e->path);
	}
	e->path = copy;
	return 0;
}

static void mountLost(struct watcher *w, const char *why)
{
	if (!w->mounted)
		return;
	log_warn("%s is gone (%s): waiting for it to come back (checked every %d ms)",
		 w->opts->mount, why, WATCHER_MOUNT_CHECK_MS);
	w->mounted = false;
	wdsClear(w);
	/* A fresh inotify instance: nothing of the old mount is left in it. */
	close(w->ifd);
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ifd < 0)
		log_error("inotify_init1: %s", strerror(errno));
	w->leader = -1;
	for (size_t i = 0; i < w->n_leases; i++)
		w->leases[i].next = 0;
}

/* Is the mount there and serving? Sets dev and self. */
static bool mountCheck(struct watcher *w, dev_t *dev)
{
	struct statfs sfs;
	struct stat st;
	char *selfp = joinPath(w->opts->mount, ".cluster/self");
	char buf[32];
	ssize_t n = -1;
	int fd;

	if (selfp == NULL)
		return false;
	if (statfs(w->opts->mount, &sfs) == 0 && sfs.f_type == FUSE_MAGIC &&
	    stat(w->opts->mount, &st) == 0) {
		fd = open(selfp, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
		}
	}
	free(selfp);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	snprintf(w->self, sizeof(w->self), "%s", buf);
	*dev = st.st_dev;
	return true;
}

/* Watch directory REL (and what is below) and look at every file in it. */
static void walk(struct watcher *w, const char *rel, int64_t now, int depth)
{
	char *abs = joinPath(w->opts->mount, rel);
	struct dirent *de;
	DIR *d;
	int wd;

	if (abs == NULL)
		return;
	/* The watch first, then the listing: nothing created in between is missed. */
	wd = inotify_add_watch(w->ifd, abs, WATCH_MASK);
	if (wd < 0) {
		if (errno == ENOTCONN)
			mountLost(w, strerror(errno));
		else if (errno != ENOENT && errno != ENOTDIR)
			log_warn("cannot watch %s: %s", abs, strerror(errno));
		free(abs);
		return;
	}
	if (wdsSet(w, wd, rel) != 0)
		log_error("out of memory watching %s", abs);
	d = opendir(abs);
	if (d == NULL) {
		if (errno == ENOTCONN)
			mountLost(w, strerror(errno));
		free(abs);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char *child;
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (*rel == '\0' && strcmp(de->d_name, ".cluster") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		child = joinPath(rel, de->d_name);
		if (child == NULL)
			break;
		if (S_ISDIR(st.st_mode)) {
			if (depth < PATH_MAX / 2)
				walk(w, child, now, depth + 1);
		} else {
			touchPath(w, child, now, true);
		}
		free(child);
	}
	closedir(d);
	free(abs);
}

static void reconcileState(void *arg, const char *rule_name, const char *path)
{
	struct prefix_ctx *c = arg;
	const struct rules_rule *rule = ruleByName(c->w, rule_name);

	if (rule != NULL)
		itemTouch(c->w, rule, path, c->now, true);
}

/* The whole tree against the applied state, deletions included. */
static void reconcileAll(struct watcher *w, int64_t now)
{
	struct prefix_ctx c = {w, "", 0, now};

	w->reconcile = false;
	if (!w->mounted)
		return;
	log_debug("reconciling %s with %zu applied entries", w->opts->mount, state_count(w->state));
	walk(w, "", now, 0);
	state_each(w->state, reconcileState, &c);
	log_info("reconciled %s: %u directories watched, %zu values applied before", w->opts->mount,
		 HASH_COUNT(w->wds), state_count(w->state));
}

static void mountPoll(struct watcher *w, int64_t now)
{
	dev_t dev;
	bool up = mountCheck(w, &dev);

	w->next_mount_check = now + WATCHER_MOUNT_CHECK_MS;
	if (w->ifd < 0) {
		/* mountLost could not get a new instance: try again */
		w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (w->ifd < 0)
			log_error("inotify_init1: %s (will retry)", strerror(errno));
	}
	if (w->mounted && (!up || dev != w->mount_dev))
		mountLost(w, up ? "mounted again" : "not mounted or not answering");
	if (!w->mounted && up && w->ifd >= 0) {
		w->mounted = true;
		w->mount_dev = dev;
		log_info("%s is mounted (node %s): watching it", w->opts->mount, w->self);
		w->reconcile = true;
		w->next_leader_check = now;
		for (size_t i = 0; i < w->n_leases; i++)
			w->leases[i].next = now;
	}
}

/* --- reading a path's value ------------------------------------------------ */

/* The value at REL: 1 with *value (malloc'd) and *len, 0 if there is no
 * file (absent, or a directory), or a negative errno (the mount is in
 * trouble: not the same as a deletion). */
static int readValue(struct watcher *w, const char *rel, char **value, size_t *len)
{
	char *abs = joinPath(w->opts->mount, rel);
	struct stat st;
	char *buf = NULL;
	ssize_t n = 0;
	int fd, rv;

	if (abs == NULL)
		return -ENOMEM;
	if (lstat(abs, &st) != 0) {
		rv = (errno == ENOENT || errno == ENOTDIR) ? 0 : -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rv = 0;
		goto out;
	}
	buf = malloc(WATCHER_MAX_VALUE + 1);
	if (buf == NULL) {
		rv = -ENOMEM;
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		n = readlink(abs, buf, WATCHER_MAX_VALUE);
		if (n < 0) {
			rv = errno == ENOENT ? 0 : -errno;
			goto out;
		}
	} else {
		fd = open(abs, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rv = (errno == ENOENT || errno == ELOOP) ? 0 : -errno;
			goto out;
		}
		while (n < WATCHER_MAX_VALUE) {
			ssize_t r = read(fd, buf + n, (size_t)(WATCHER_MAX_VALUE - n));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				if (r < 0)
					n = -errno;
				break;
			}
			n += r;
		}
		close(fd);
		if (n < 0) {
			rv = (int)n;
			goto out;
		}
	}
	buf[n] = '\0';
	*value = buf;
	*len = (size_t)n;
	buf = NULL;
	rv = 1;
out:
	free(buf);
	free(abs);
	return rv;
}

/* A small file of the mount (skip-if, .cluster/status), newline stripped:
 * 1, 0 if absent, negative errno. */
static int readSmall(struct watcher *w, const char *rel, char *out, size_t size)
{
	char *v = NULL;
	size_t len;
	int rv = readValue(w, rel, &v, &len);

	if (rv == 1) {
		if (len > 0 && v[len - 1] == '\n')
			v[--len] = '\0';
		snprintf(out, size, "%s", v);
		free(v);
	}
	return rv;
}

/* --- jobs ------------------------------------------------------------------- */

static void logArgv(char *const *argv, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; argv[i] != NULL && n + 4 < size; i++) {
		int r = snprintf(out + n, size - n, "%s%s", i ? " " : "", argv[i]);
		if (r < 0)
			break;
		n += (size_t)r;
	}
	if (n >= size - 1)
		snprintf(out + size - 4, 4, "...");
}

static int jobStart(struct watcher *w, struct item *it, const struct rules_rule *rule,
		    const struct rules_cmd *cmd, const struct rules_vars *vars, int64_t now)
{
	char **argv = NULL;
	char shown[LOG_ARGV_MAX];
	pid_t pid;
	int rv = rules_expand(cmd, vars, &argv);

	if (rv == -E2BIG) {
		log_error("rule %s: %s: the value is over %d bytes, too long for {value}; "
			  "read the file {path} instead",
			  rule->name, it->path, RULES_MAX_VALUE_ARG);
		return rv;
	}
	if (rv != 0)
		return rv;
	logArgv(argv, shown, sizeof(shown));
	pid = fork();
	if (pid < 0) {
		rv = -errno;
		log_error("rule %s: %s: fork: %s", rule->name, it->path, strerror(errno));
		free(argv);
		return rv;
	}
	if (pid == 0) {
		sigset_t none;
		int null = open("/dev/null", O_RDONLY);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		if (chdir(w->opts->mount) != 0 && chdir("/") != 0)
			_exit(127);
		if (null >= 0) {
			dup2(null, 0);
			if (null != 0)
				close(null);
		}
		setenv("CLUSTERFS_MOUNT", w->opts->mount, 1);
		setenv("CLUSTERFS_RULE", rule->name, 1);
		setenv("CLUSTERFS_PATH", vars->path, 1);
		setenv("CLUSTERFS_NAME", vars->name, 1);
		setenv("CLUSTERFS_EVENT", vars->event, 1);
		if (strlen(vars->value) <= RULES_MAX_VALUE_ARG)
			setenv("CLUSTERFS_VALUE", vars->value, 1);
		else
			unsetenv("CLUSTERFS_VALUE");
		execvp(argv[0], argv);
		dprintf(2, "clusterfs-watch: rule %s: cannot run %s: %s\n", rule->name, argv[0],
			strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* both sides: no race with a kill at timeout */
	free(argv);
	log_info("rule %s: %s (%s): running %s", rule->name, it->path, vars->event, shown);
	it->pid = pid;
	it->rerun = false;
	it->job_start = now;
	it->job_deadline = now + rule->timeout_ms;
	it->job_kill_at = 0;
	w->running++;
	return 0;
}

static void itemRetry(struct watcher *w, struct item *it, int64_t now)
{
	int64_t wait;

	it->failures++;
	wait = sched_backoff(it->failures);
	it->pending = true;
	it->retrying = true;
	it->first = it->last = now;
	it->due = now + wait;
	it->seq = ++w->seq;
	log_warn("rule %s: %s: attempt %u failed; retrying in %.1fs", it->rule, it->path,
		 it->failures, (double)wait / 1000);
}

static void jobDone(struct watcher *w, pid_t pid, int status, int64_t now)
{
	struct item *it, *tmp;
	const struct rules_rule *rule;

	HASH_ITER(hh, w->items, it, tmp)
	{
		if (it->pid == pid)
			break;
	}
	if (it == NULL)
		return; /* not ours (cannot happen: we fork nothing else) */
	it->pid = 0;
	w->running--;
	rule = ruleByName(w, it->rule);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_info("rule %s: %s: done in %lld ms", it->rule, it->path,
			 (long long)(now - it->job_start));
		it->failures = 0;
		if (rule != NULL) {
			if (it->job_delete)
				state_del(w->state, it->rule, it->path);
			else if (state_set(w->state, it->rule, it->path, it->job_hash) != 0)
				log_error("out of memory recording %s", it->path);
		}
	} else {
		if (WIFEXITED(status))
			log_warn("rule %s: %s: the command exited with status %d", it->rule,
				 it->path, WEXITSTATUS(status));
		else
			log_warn("rule %s: %s: the command was killed by signal %d%s", it->rule,
				 it->path, WTERMSIG(status), it->job_kill_at ? " (timeout)" : "");
		if (rule != NULL && !it->rerun) {
			itemRetry(w, it, now);
			return;
		}
	}
	if (rule == NULL) {
		itemFree(w, it);
		return;
	}
	if (it->rerun) {
		it->rerun = false;
		it->pending = true;
		it->retrying = false;
		it->due = now;
	}
	itemMaybeFree(w, it);
}

static void jobsReap(struct watcher *w, int64_t now)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		jobDone(w, pid, status, now);
}

static void jobsTimeouts(struct watcher *w, int64_t now)
{
	struct item *it, *tmp;

	HASH_ITER(hh, w->items, it, tmp)
	{
		if (it->pid == 0)
			continue;
		if (it->job_kill_at == 0 && now >= it->job_deadline) {
			log_warn("rule %s: %s: the command ran over its timeout: SIGTERM", it->rule,
				 it->path);
			kill(-it->pid, SIGTERM);
			it->job_kill_at = now + WATCHER_KILL_GRACE_MS;
		} else if (it->job_kill_at != 0 && now >= it->job_kill_at) {
			log_warn("rule %s: %s: still running %d ms after SIGTERM: SIGKILL",
				 it->rule, it->path, WATCHER_KILL_GRACE_MS);
			kill(-it->pid, SIGKILL);
			it->job_kill_at = INT64_MAX;
		}
	}
}

/* --- who may run what: leader, leases --------------------------------------- */

/* 1 if this node may run RULE, 0 if not, -1 if not known yet. */
static int eligible(struct watcher *w, const struct rules_rule *rule)
{
	struct lease *l;

	switch (rule->only_on) {
	case ONLY_ON_ALL:
		return 1;
	case ONLY_ON_LEADER:
		return w->leader;
	case ONLY_ON_LEASE:
		l = leaseByName(w, rule->lease);
		if (l == NULL)
			return -1;
		/* Held, as far as this node knows: renewed less than a TTL ago
		 * (a renewal that could not be made in time may have let another
		 * node take it). */
		if (l->held == 1 && nowMs() - l->last_ok >= l->ttl_ms)
			return 0;
		return l->held;
	}
	return -1;
}

/* After a change of eligibility: a rule this node may not run forgets what
 * it applied here, so that when the node takes over (becomes leader, gets
 * the lease) it runs the rule for the whole tree. */
static void eligibilityChanged(struct watcher *w, bool gained)
{
	for (size_t i = 0; i < w->rules.n; i++)
		if (eligible(w, &w->rules.rule[i]) == 0)
			state_drop_rule(w->state, w->rules.rule[i].name);
	if (gained)
		w->reconcile = true;
}

static void leaderCheck(struct watcher *w, int64_t now)
{
	char status[4096];
	int rv, leader;

	w->next_leader_check = now + WATCHER_LEADER_CHECK_MS;
	if (!w->mounted || !w->need_leader)
		return;
	rv = readSmall(w, ".cluster/status", status, sizeof(status));
	if (rv <= 0) {
		if (rv == -ENOTCONN)
			mountLost(w, strerror(-rv));
		return;
	}
	leader = strstr(status, "state=leader\n") != NULL ||
		 strstr(status, "\nstate=leader") != NULL ||
		 strncmp(status, "state=leader", 12) == 0;
	if (leader == w->leader)
		return;
	if (w->leader != -1 || leader)
		log_info("this node (%s) is %s the raft leader", w->self,
			 leader ? "now" : "no longer");
	w->leader = leader;
	eligibilityChanged(w, leader);
}

/* Write "holder=node-ID ttl=S" to leases/NAME: 0, or a negative errno
 * (-EBUSY: another holder has it). TTL 0 releases. */
static int leaseWrite(struct watcher *w, const struct lease *l, int64_t ttl_ms)
{
	char *rel, *abs, line[128];
	int fd, rv = 0, n;

	if (asprintf(&rel, "leases/%s", l->name) < 0)
		return -ENOMEM;
	abs = joinPath(w->opts->mount, rel);
	free(rel);
	if (abs == NULL)
		return -ENOMEM;
	n = snprintf(line, sizeof(line), "holder=node-%s ttl=%lld\n", w->self,
		     (long long)((ttl_ms + 999) / 1000));
	fd = open(abs, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rv = -errno;
	} else {
		if (write(fd, line, (size_t)n) != n)
			rv = -errno;
		close(fd);
	}
	free(abs);
	return rv;
}

static void leaseTick(struct watcher *w, struct lease *l, int64_t now)
{
	/* Held, but not renewed for a TTL: eligible() said no meanwhile, and
	 * what it refused must be looked at again once the lease is renewed. */
	bool lapsed = l->held == 1 && now - l->last_ok >= l->ttl_ms;
	int rv = leaseWrite(w, l, l->ttl_ms);
	int was = l->held;

	if (rv == 0) {
		l->held = 1;
		l->last_ok = now;
		l->next = now + l->ttl_ms / 3;
		if (lapsed) {
			log_info("lease %s: held again after a lapse", l->name);
			eligibilityChanged(w, true);
		}
	} else if (rv == -ENOENT || rv == -EEXIST) {
		/* released or expired between our open and our write, or another
		 * node created it between our lookup and our create: campaign
		 * again at once */
		l->held = 0;
		l->next = now + WATCHER_LEASE_RETRY_MS;
	} else if (rv == -EBUSY) {
		l->held = 0;
		/* The holder's lease file goes away at expiry or release (an
		 * IN_DELETE brings the next campaign); try again after a TTL
		 * in case that event was missed. */
		l->next = now + l->ttl_ms;
	} else {
		if (rv == -ENOTCONN)
			mountLost(w, strerror(-rv));
		else
			log_warn("lease %s: cannot write leases/%s: %s", l->name, l->name,
				 strerror(-rv));
		if (l->held == 1 && now - l->last_ok >= l->ttl_ms)
			l->held = 0;
		l->next = now + WATCHER_MOUNT_CHECK_MS;
	}
	if (l->held != was) {
		if (l->held == 1)
			log_info("lease %s: held by this node (node-%s)", l->name, w->self);
		else if (was == 1)
			log_info("lease %s: lost", l->name);
		eligibilityChanged(w, l->held == 1);
	}
}

static void leasesRelease(struct watcher *w, struct lease *ls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ls[i].held != 1 || !w->mounted)
			continue;
		if (leaseWrite(w, &ls[i], 0) == 0)
			log_info("lease %s: released", ls[i].name);
		ls[i].held = 0;
	}
}

static void leasesFree(struct lease *ls, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ls[i].name);
	free(ls);
}

/* The leases the rules name; those already known keep their state. */
static void leasesRebuild(struct watcher *w, int64_t now)
{
	struct lease *ls = calloc(w->rules.n + 1, sizeof(*ls));
	size_t n = 0;

	if (ls == NULL) {
		log_error("out of memory: leases not updated");
		return;
	}
	w->need_leader = false;
	for (size_t i = 0; i < w->rules.n; i++) {
		const struct rules_rule *rule = &w->rules.rule[i];
		struct lease *old;
		size_t j;
		if (rule->only_on == ONLY_ON_LEADER)
			w->need_leader = true;
		if (rule->only_on != ONLY_ON_LEASE)
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(ls[j].name, rule->lease) == 0)
				break;
		if (j < n)
			continue;
		old = leaseByName(w, rule->lease);
		if (old != NULL) {
			ls[n] = *old;
			old->name = NULL; /* moved */
			old->held = 0;	  /* not released below */
		} else {
			ls[n].name = strdup(rule->lease);
			ls[n].held = -1;
			ls[n].next = now;
		}
		ls[n].ttl_ms = rule->lease_ttl_ms;
		if (ls[n].name != NULL)
			n++;
	}
	leasesRelease(w, w->leases, w->n_leases);
	leasesFree(w->leases, w->n_leases);
	w->leases = ls;
	w->n_leases = n;
}

/* --- eval: the level-triggered decision for one item ------------------------ */

static bool skipped(struct watcher *w, const struct rules_rule *rule, int *err)
{
	char value[4096];

	*err = 0;
	for (size_t i = 0; i < rule->n_skip_if; i++) {
		int rv = readSmall(w, rule->skip_if[i].path, value, sizeof(value));
		if (rv < 0) {
			*err = rv;
			return true;
		}
		/* An absent file reads as "" (config/deployment.type absent is
		 * "local": skip-if = config/deployment.type=maas does not skip). */
		if (strcmp(rv == 1 ? value : "", rule->skip_if[i].value) == 0)
			return true;
	}
	return false;
}

static void eval(struct watcher *w, struct item *it, int64_t now)
{
	const struct rules_rule *rule = ruleByName(w, it->rule);
	const char *applied;
	struct rules_vars vars;
	char *value = NULL;
	size_t len = 0;
	int rv, err;

	it->pending = false;
	it->retrying = false;
	if (rule == NULL || !w->mounted) {
		/* Gone from the config, or no mount: the reconcile after a
		 * reload or a remount looks again. */
		if (it->pid == 0)
			itemFree(w, it);
		return;
	}
	if (it->pid != 0) {
		it->rerun = true;
		return;
	}
	if (rule->only_on == ONLY_ON_LEADER)
		leaderCheck(w, now);
	if (eligible(w, rule) != 1) {
		itemMaybeFree(w, it);
		return;
	}
	if (skipped(w, rule, &err)) {
		if (err != 0)
			goto trouble;
		log_debug("rule %s: %s: skipped (skip-if)", rule->name, it->path);
		it->failures = 0;
		itemMaybeFree(w, it);
		return;
	}
	rv = readValue(w, it->path, &value, &len);
	if (rv < 0) {
		err = rv;
		goto trouble;
	}
	applied = state_get(w->state, rule->name, it->path);
	vars.path = it->path;
	vars.name = rules_basename(it->path);
	if (rv == 1) {
		char hash[STATE_HASH_LEN + 1];
		state_hash(value, len, hash);
		if (applied != NULL && strcmp(applied, hash) == 0) {
			it->failures = 0;
			free(value);
			itemMaybeFree(w, it);
			return;
		}
		if (len > 0 && value[len - 1] == '\n')
			value[len - 1] = '\0';
		vars.value = value;
		vars.event = applied != NULL ? "modify" : "create";
		memcpy(it->job_hash, hash, sizeof(hash));
		it->job_delete = false;
		rv = jobStart(w, it, rule, &rule->run, &vars, now);
	} else {
		if (applied == NULL) {
			it->failures = 0;
			itemMaybeFree(w, it);
			return;
		}
		if (rule->on_delete.n_words == 0) {
			state_del(w->state, rule->name, it->path);
			it->failures = 0;
			itemMaybeFree(w, it);
			return;
		}
		vars.value = "";
		vars.event = "delete";
		it->job_delete = true;
		rv = jobStart(w, it, rule, &rule->on_delete, &vars, now);
	}
	free(value);
	if (rv != 0)
		itemRetry(w, it, now);
	return;
trouble:
	if (err == -ENOTCONN)
		mountLost(w, strerror(-err));
	else
		log_warn("rule %s: %s: cannot read: %s", rule->name, it->path, strerror(-err));
	if (w->mounted)
		itemRetry(w, it, now);
	else
		itemMaybeFree(w, it);
}

static int itemOrder(const void *a, const void *b)
{
	const struct item *x = *(struct item *const *)a, *y = *(struct item *const *)b;

	if (x->due != y->due)
		return x->due < y->due ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* Evaluate every due item, oldest first, as long as job slots are free. */
static void evalDue(struct watcher *w, int64_t now)
{
	struct item *it, *tmp, **due;
	size_t n = 0, cap = HASH_COUNT(w->items);

	if (cap == 0)
		return;
	due = malloc(cap * sizeof(*due));
	if (due == NULL)
		return;
	HASH_ITER(hh, w->items, it, tmp)
	{
		if (it->pending && it->due <= now)
			due[n++] = it;
	}
	qsort(due, n, sizeof(*due), itemOrder);
	for (size_t i = 0; i < n && w->running < w->opts->max_jobs; i++)
		eval(w, due[i], now);
	free(due);
}

/* --- inotify -------------------------------------------------------------- */

static void onEvent(struct watcher *w, const struct inotify_event *ev, int64_t now)
{
	struct wdent *e = NULL;
	char *rel;

	if (ev->mask & IN_Q_OVERFLOW) {
		log_warn("inotify queue overflow: reconciling the whole tree");
		w->reconcile = true;
		return;
	}
	HASH_FIND_INT(w->wds, &ev->wd, e);
	if (e == NULL)
		return;
	if (ev->mask & (IN_IGNORED | IN_UNMOUNT)) {
		if (*e->path == '\0') {
			mountLost(w, "unmounted");
			return;
		}
		HASH_DEL(w->wds, e);
		free(e->path);
		free(e);
		return;
	}
	if (ev->len == 0)
		return;
	if (*e->path == '\0' && strcmp(ev->name, ".cluster") == 0)
		return;
	rel = joinPath(e->path, ev->name);
	if (rel == NULL)
		return;
	if (ev->mask & IN_ISDIR) {
		if (ev->mask & (IN_CREATE | IN_MOVED_TO))
			walk(w, rel, now, 1); /* watch it, and what is already in it */
		if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
			touchUnder(w, rel, now);
	} else if (ev->mask & IN_CREATE) {
		/* A new regular file gets its content and IN_CLOSE_WRITE next;
		 * a symlink or a hard link gets nothing more. */
		char *abs = joinPath(w->opts->mount, rel);
		struct stat st;
		if (abs != NULL && lstat(abs, &st) == 0 && (S_ISLNK(st.st_mode) || st.st_nlink > 1))
			touchPath(w, rel, now, false);
		free(abs);
	} else {
		touchPath(w, rel, now, false);
		if ((ev->mask & (IN_DELETE | IN_MOVED_FROM)) && strncmp(rel, "leases/", 7) == 0) {
			struct lease *l = leaseByName(w, rel + 7);
			if (l != NULL && l->held != 1)
				l->next = now; /* the holder let go: campaign */
		}
	}
	free(rel);
}

static void inotifyRead(struct watcher *w, int64_t now)
{
	char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(w->ifd, buf, sizeof(buf));
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return;
		}
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			onEvent(w, ev, now);
			p += sizeof(*ev) + ev->len;
			if (!w->mounted)
				return; /* the fd was replaced: the rest is stale */
		}
	}
}

/* --- the loop ------------------------------------------------------------- */

/* Forget the applied state of rules that are no longer in the config. */
static void stateDropGone(struct watcher *w)
{
	const char **names = calloc(w->rules.n + 1, sizeof(*names));

	if (names == NULL)
		return;
	for (size_t i = 0; i < w->rules.n; i++)
		names[i] = w->rules.rule[i].name;
	state_drop_others(w->state, names, w->rules.n);
	free(names);
}

static void reload(struct watcher *w, int64_t now)
{
	struct rules fresh;
	char err[1024];

	if (rules_load(w->opts->config, &fresh, err, sizeof(err)) != 0) {
		log_error("SIGHUP: %s; keeping the previous config", err);
		return;
	}
	rules_free(&w->rules);
	w->rules = fresh;
	stateDropGone(w);
	leasesRebuild(w, now);
	if (w->need_leader)
		leaderCheck(w, now);
	eligibilityChanged(w, false);
	w->reconcile = true;
	log_info("SIGHUP: loaded %s (%zu rules)", w->opts->config, w->rules.n);
}

static int64_t nextDeadline(struct watcher *w, int64_t now)
{
	int64_t next = now + 60000;
	struct item *it, *tmp;

	if (w->reconcile && w->mounted)
		return now;
	if (w->next_mount_check < next)
		next = w->next_mount_check;
	if (w->save_at != 0 && w->save_at < next)
		next = w->save_at;
	if (w->need_leader && w->mounted && w->next_leader_check < next)
		next = w->next_leader_check;
	for (size_t i = 0; i < w->n_leases; i++)
		if (w->mounted && w->leases[i].next < next)
			next = w->leases[i].next;
	HASH_ITER(hh, w->items, it, tmp)
	{
		if (it->pending && w->running < w->opts->max_jobs && it->due < next)
			next = it->due;
		if (it->pid != 0) {
			int64_t t = it->job_kill_at ? it->job_kill_at : it->job_deadline;
			if (t < next)
				next = t;
		}
	}
	return next;
}

static void shutdownJobs(struct watcher *w)
{
	struct item *it, *tmp;
	int64_t deadline = nowMs() + WATCHER_KILL_GRACE_MS;

	HASH_ITER(hh, w->items, it, tmp)
	{
		if (it->pid != 0)
			kill(-it->pid, SIGTERM);
	}
	while (w->running > 0 && nowMs() < deadline) {
		struct pollfd p = {.fd = w->sfd, .events = POLLIN};
		struct signalfd_siginfo si;
		poll(&p, 1, 100);
		while (read(w->sfd, &si, sizeof(si)) == sizeof(si))
			;
		jobsReap(w, nowMs());
	}
	HASH_ITER(hh, w->items, it, tmp)
	{
		if (it->pid != 0) {
			log_warn("rule %s: %s: still running at exit: SIGKILL", it->rule, it->path);
			kill(-it->pid, SIGKILL);
			waitpid(it->pid, NULL, 0);
			it->pid = 0;
		}
	}
}

int watcher_run(const struct watcher_opts *opts, struct rules *rules, struct state *state)
{
	struct watcher w = {.opts = opts, .rules = *rules, .state = state, .leader = -1};
	sigset_t mask;
	int rc = 0;

	memset(rules, 0, sizeof(*rules));
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	w.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	w.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w.sfd < 0 || w.ifd < 0) {
		log_error("signalfd/inotify_init1: %s", strerror(errno));
		return 1;
	}
	stateDropGone(&w);
	leasesRebuild(&w, nowMs());
	mountPoll(&w, nowMs());
	if (!w.mounted)
		log_info("waiting for %s to be mounted (checked every %d ms)", opts->mount,
			 WATCHER_MOUNT_CHECK_MS);
	while (!w.stopping) {
		int64_t now = nowMs(), timeout;
		struct pollfd pfd[2];
		int n;

		if (now >= w.next_mount_check)
			mountPoll(&w, now);
		if (w.mounted && w.need_leader && now >= w.next_leader_check)
			leaderCheck(&w, now);
		for (size_t i = 0; i < w.n_leases && w.mounted; i++)
			if (now >= w.leases[i].next)
				leaseTick(&w, &w.leases[i], now);
		if (w.reconcile)
			reconcileAll(&w, now);
		jobsTimeouts(&w, now);
		evalDue(&w, now);
		if (w.save_at == 0 && state_dirty(w.state))
			w.save_at = now + WATCHER_SAVE_DELAY_MS;
		if (w.save_at != 0 && now >= w.save_at) {
			n = state_save(w.state);
			w.save_at = 0;
			if (n != 0)
				log_error("cannot save the applied state: %s (will retry)",
					  strerror(-n));
		}

		timeout = nextDeadline(&w, now) - now;
		pfd[0] = (struct pollfd){.fd = w.sfd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = w.ifd, .events = POLLIN};
		n = poll(pfd, w.ifd >= 0 ? 2 : 1, timeout < 0 ? 0 : (int)timeout);
		if (n < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			rc = 1;
			break;
		}
		now = nowMs();
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(w.sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					reload(&w, now);
				else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
					w.stopping = true;
			}
			jobsReap(&w, now);
		}
		if (n > 0 && w.ifd >= 0 && (pfd[1].revents & POLLIN))
			inotifyRead(&w, now);
	}
	log_info("stopping");
	shutdownJobs(&w);
	leasesRelease(&w, w.leases, w.n_leases);
	if (state_save(w.state) != 0)
		log_error("cannot save the applied state at exit");
	{
		struct item *it, *tmp;
		HASH_ITER(hh, w.items, it, tmp)
		{
			itemFree(&w, it);
		}
	}
	wdsClear(&w);
	leasesFree(w.leases, w.n_leases);
	rules_free(&w.rules);
	state_close(w.state);
	close(w.sfd);
	if (w.ifd >= 0)
		close(w.ifd);
	return rc;
}
