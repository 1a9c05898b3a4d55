/*
 * clusterfs-watch: jobs. fork/exec of a rule's command (no shell, in its
 * own process group), its timeout (SIGTERM, then SIGKILL after a grace
 * period), its exit (record the applied value, or retry with backoff),
 * and the commands still running at shutdown.
 *
 * Owned by the one thread that runs watcher_run() (watcher.c); the child
 * side of fork() only sets up its environment and execs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uthash.h>

#include "../common/escape.h"
#include "../common/log.h"
#include "../common/token_source.h"
#include "sched.h"
#include "watcher_internal.h"

#define LOG_ARGV_MAX 300 /* characters of a command shown in a log line */

/* The command as a log line shows it: each argument C-escaped (a value or
 * a name in it may hold anything), cut with "..." past @size. */
static void logArgv(char *const *argv, char *out, size_t size)
{
	size_t n = 0, i;

	out[0] = '\0';
	for (i = 0; argv[i] != NULL && n + 4 < size; i++) {
		size_t want;

		if (i > 0)
			out[n++] = ' ';
		want = escape_bytes(argv[i], strlen(argv[i]), out + n, size - n);
		if (want >= size - n) {
			n = strlen(out);
			break;
		}
		n += want;
	}
	if (argv[i] != NULL)
		snprintf(out + (n < size - 4 ? n : size - 4), 4, "...");
}

int watch_exec_start(struct watcher *w, struct item *it, const struct rules_rule *rule,
		     const struct rules_cmd *cmd, const struct rules_vars *vars, int64_t now)
{
	char **argv = NULL;
	char shown[LOG_ARGV_MAX];
	pid_t pid;
	int rv = rules_expand(cmd, vars, &argv);

	if (rv == -E2BIG) {
		log_error("rule %s: %s: the value is over %d bytes, too long for {value}; "
			  "read the file {path} instead",
			  rule->name, it->shown, RULES_MAX_VALUE_ARG);
		return rv;
	}
	if (rv != 0)
		return rv;
	logArgv(argv, shown, sizeof(shown));
	pid = fork();
	if (pid < 0) {
		rv = -errno;
		log_error("rule %s: %s: fork: %s", rule->name, it->shown, strerror(errno));
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
		/* A cluster key in our environment is no business of a hook's. */
		unsetenv(TOKEN_SOURCE_ENV);
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
	log_info("rule %s: %s (%s): running %s", rule->name, it->shown, vars->event, shown);
	it->pid = pid;
	it->rerun = false;
	it->job_start = now;
	it->job_deadline = now + rule->timeout_ms;
	it->job_kill_at = 0;
	w->running++;
	return 0;
}

void watch_exec_retry(struct watcher *w, struct item *it, int64_t now)
{
	int64_t wait;

	it->failures++;
	wait = sched_backoff(it->failures);
	it->pending = true;
	it->retrying = true;
	it->first = it->last = now;
	it->due = now + wait;
	it->seq = ++w->seq;
	log_warn("rule %s: %s: attempt %u failed; retrying in %.1fs", it->rule, it->shown,
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
	rule = watcher_rule_by_name(w, it->rule);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_info("rule %s: %s: done in %lld ms", it->rule, it->shown,
			 (long long)(now - it->job_start));
		it->failures = 0;
		if (rule != NULL) {
			if (it->job_delete)
				state_del(w->state, it->rule, it->path);
			else if (state_set(w->state, it->rule, it->path, it->job_hash) != 0)
				log_error("out of memory recording %s", it->shown);
		}
	} else {
		if (WIFEXITED(status))
			log_warn("rule %s: %s: the command exited with status %d", it->rule,
				 it->shown, WEXITSTATUS(status));
		else
			log_warn("rule %s: %s: the command was killed by signal %d%s", it->rule,
				 it->shown, WTERMSIG(status), it->job_kill_at ? " (timeout)" : "");
		if (rule != NULL && !it->rerun) {
			watch_exec_retry(w, it, now);
			return;
		}
	}
	if (rule == NULL) {
		watch_item_free(w, it);
		return;
	}
	if (it->rerun) {
		it->rerun = false;
		it->pending = true;
		it->retrying = false;
		it->due = now;
	}
	watch_item_maybe_free(w, it);
}

void watch_exec_reap(struct watcher *w, int64_t now)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		jobDone(w, pid, status, now);
}

void watch_exec_timeouts(struct watcher *w, int64_t now)
{
	struct item *it, *tmp;

	HASH_ITER(hh, w->items, it, tmp)
	{
		if (it->pid == 0)
			continue;
		if (it->job_kill_at == 0 && now >= it->job_deadline) {
			log_warn("rule %s: %s: the command ran over its timeout: SIGTERM", it->rule,
				 it->shown);
			kill(-it->pid, SIGTERM);
			it->job_kill_at = now + WATCHER_KILL_GRACE_MS;
		} else if (it->job_kill_at != 0 && now >= it->job_kill_at) {
			log_warn("rule %s: %s: still running %d ms after SIGTERM: SIGKILL",
				 it->rule, it->shown, WATCHER_KILL_GRACE_MS);
			kill(-it->pid, SIGKILL);
			it->job_kill_at = INT64_MAX;
		}
	}
}

void watch_exec_shutdown(struct watcher *w)
{
	struct item *it, *tmp;
	int64_t deadline = watcher_now_ms() + WATCHER_KILL_GRACE_MS;

	HASH_ITER(hh, w->items, it, tmp)
	{
		if (it->pid != 0)
			kill(-it->pid, SIGTERM);
	}
	while (w->running > 0 && watcher_now_ms() < deadline) {
		struct pollfd p = {.fd = w->sfd, .events = POLLIN};
		struct signalfd_siginfo si;
		poll(&p, 1, 100);
		while (read(w->sfd, &si, sizeof(si)) == sizeof(si))
			;
		watch_exec_reap(w, watcher_now_ms());
	}
	HASH_ITER(hh, w->items, it, tmp)
	{
		if (it->pid != 0) {
			log_warn("rule %s: %s: still running at exit: SIGKILL", it->rule,
				 it->shown);
			kill(-it->pid, SIGKILL);
			waitpid(it->pid, NULL, 0);
			it->pid = 0;
		}
	}
}
