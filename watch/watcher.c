/*
 * The clusterfs-watch event loop: see watcher.h for the design in a
 * paragraph, and watcher_internal.h for the files it is split into. This
 * file, in its order:
 *
 *   mount    is the FUSE mount there; watches on every directory of it;
 *   inotify  events -> items;
 *   loop     poll(2), signals, deadlines, reload, shutdown.
 *
 * Everything here is owned by the one thread that runs watcher_run().
 */
#include "watcher_internal.h"

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
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#include "../common/escape.h"
#include "../common/log.h"

#define FUSE_MAGIC 0x65735546 /* statfs f_type of a FUSE mount */
#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR |       \
	 IN_DONT_FOLLOW)

int64_t watcher_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *watcher_join_path(const char *a, const char *b)
{
	char *p;
	if (asprintf(&p, "%s%s%s", a, (*a != '\0' && *b != '\0') ? "/" : "", b) < 0)
		return NULL;
	return p;
}

const struct rules_rule *watcher_rule_by_name(struct watcher *w, const char *name)
{
	for (size_t i = 0; i < w->rules.n; i++)
		if (strcmp(w->rules.rule[i].name, name) == 0)
			return &w->rules.rule[i];
	return NULL;
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

void watcher_mount_lost(struct watcher *w, const char *why)
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
	char *selfp = watcher_join_path(w->opts->mount, ".cluster/self");
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

/* "WHAT PATH[: WHY]" with the path escaped; its buffer is here, not on
 * watcher_walk's recursive frames. */
static void walkLog(enum log_level level, const char *what, const char *abs, const char *why)
{
	char *shown = malloc(ESCAPE_CAP(strlen(abs)));

	if (shown == NULL)
		return;
	escape_str(abs, shown, ESCAPE_CAP(strlen(abs)));
	log_msg(level, "%s %s%s%s", what, shown, why ? ": " : "", why ? why : "");
	free(shown);
}

/* Watch directory REL (and what is below) and look at every file in it. */
void watcher_walk(struct watcher *w, const char *rel, int64_t now, int depth)
{
	char *abs = watcher_join_path(w->opts->mount, rel);
	struct dirent *de;
	DIR *d;
	int wd;

	if (abs == NULL)
		return;
	/* The watch first, then the listing: nothing created in between is missed. */
	wd = inotify_add_watch(w->ifd, abs, WATCH_MASK);
	if (wd < 0) {
		if (errno == ENOTCONN)
			watcher_mount_lost(w, strerror(errno));
		else if (errno != ENOENT && errno != ENOTDIR)
			walkLog(LOG_LEVEL_WARN, "cannot watch", abs, strerror(errno));
		free(abs);
		return;
	}
	if (wdsSet(w, wd, rel) != 0)
		walkLog(LOG_LEVEL_ERROR, "out of memory watching", abs, NULL);
	d = opendir(abs);
	if (d == NULL) {
		if (errno == ENOTCONN)
			watcher_mount_lost(w, strerror(errno));
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
		child = watcher_join_path(rel, de->d_name);
		if (child == NULL)
			break;
		if (S_ISDIR(st.st_mode)) {
			if (depth < PATH_MAX / 2)
				watcher_walk(w, child, now, depth + 1);
		} else {
			watch_item_touch_path(w, child, now, true);
		}
		free(child);
	}
	closedir(d);
	free(abs);
}

static void mountPoll(struct watcher *w, int64_t now)
{
	dev_t dev;
	bool up = mountCheck(w, &dev);

	w->next_mount_check = now + WATCHER_MOUNT_CHECK_MS;
	if (w->ifd < 0) {
		/* watcher_mount_lost could not get a new instance: try again */
		w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (w->ifd < 0)
			log_error("inotify_init1: %s (will retry)", strerror(errno));
	}
	if (w->mounted && (!up || dev != w->mount_dev))
		watcher_mount_lost(w, up ? "mounted again" : "not mounted or not answering");
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
			watcher_mount_lost(w, "unmounted");
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
	rel = watcher_join_path(e->path, ev->name);
	if (rel == NULL)
		return;
	if (ev->mask & IN_ISDIR) {
		if (ev->mask & (IN_CREATE | IN_MOVED_TO))
			watcher_walk(w, rel, now, 1); /* watch it, and what is already in it */
		if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
			watch_item_touch_under(w, rel, now);
	} else if (ev->mask & IN_CREATE) {
		/* A new regular file gets its content and IN_CLOSE_WRITE next;
		 * a symlink or a hard link gets nothing more. */
		char *abs = watcher_join_path(w->opts->mount, rel);
		struct stat st;
		if (abs != NULL && lstat(abs, &st) == 0 && (S_ISLNK(st.st_mode) || st.st_nlink > 1))
			watch_item_touch_path(w, rel, now, false);
		free(abs);
	} else {
		watch_item_touch_path(w, rel, now, false);
		if ((ev->mask & (IN_DELETE | IN_MOVED_FROM)) && strncmp(rel, "leases/", 7) == 0) {
			struct lease *l = watch_campaign_lease(w, rel + 7);
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
	watch_campaign_rebuild(w, now);
	if (w->need_leader)
		watch_campaign_leader_check(w, now);
	watch_campaign_changed(w, false);
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
	watch_campaign_rebuild(&w, watcher_now_ms());
	mountPoll(&w, watcher_now_ms());
	if (!w.mounted)
		log_info("waiting for %s to be mounted (checked every %d ms)", opts->mount,
			 WATCHER_MOUNT_CHECK_MS);
	while (!w.stopping) {
		int64_t now = watcher_now_ms(), timeout;
		struct pollfd pfd[2];
		int n;

		if (now >= w.next_mount_check)
			mountPoll(&w, now);
		if (w.mounted && w.need_leader && now >= w.next_leader_check)
			watch_campaign_leader_check(&w, now);
		for (size_t i = 0; i < w.n_leases && w.mounted; i++)
			if (now >= w.leases[i].next)
				watch_campaign_lease_tick(&w, &w.leases[i], now);
		if (w.reconcile)
			watch_reconcile_all(&w, now);
		watch_exec_timeouts(&w, now);
		watch_reconcile_eval_due(&w, now);
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
		now = watcher_now_ms();
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(w.sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					reload(&w, now);
				else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
					w.stopping = true;
			}
			watch_exec_reap(&w, now);
		}
		if (n > 0 && w.ifd >= 0 && (pfd[1].revents & POLLIN))
			inotifyRead(&w, now);
	}
	log_info("stopping");
	watch_exec_shutdown(&w);
	watch_campaign_release(&w, w.leases, w.n_leases);
	if (state_save(w.state) != 0)
		log_error("cannot save the applied state at exit");
	{
		struct item *it, *tmp;
		HASH_ITER(hh, w.items, it, tmp)
		{
			watch_item_free(&w, it);
		}
	}
	wdsClear(&w);
	watch_campaign_free(w.leases, w.n_leases);
	rules_free(&w.rules);
	state_close(w.state);
	close(w.sfd);
	if (w.ifd >= 0)
		close(w.ifd);
	return rc;
}
