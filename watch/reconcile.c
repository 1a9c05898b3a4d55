/*
 * clusterfs-watch: the level-triggered decision. An item that is due is
 * evaluated by comparing its path's current value with the hash of the
 * value last applied for that (rule, path): equal, nothing to do;
 * different, run the rule's command; gone, run its on-delete. A reconcile
 * (on start, after IN_Q_OVERFLOW, after a reload, when the mount comes
 * back) touches every path of the tree and every applied one, so that
 * deletions made while nobody watched are seen too.
 *
 * Owned by the one thread that runs watcher_run() (watcher.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "../common/log.h"
#include "watcher_internal.h"

static void reconcileState(void *arg, const char *rule_name, const char *path)
{
	struct prefix_ctx *c = arg;
	const struct rules_rule *rule = watcher_rule_by_name(c->w, rule_name);

	if (rule != NULL)
		watch_item_touch(c->w, rule, path, c->now, true);
}

/* The whole tree against the applied state, deletions included. */
void watch_reconcile_all(struct watcher *w, int64_t now)
{
	struct prefix_ctx c = {w, "", 0, now};

	w->reconcile = false;
	if (!w->mounted)
		return;
	log_debug("reconciling %s with %zu applied entries", w->opts->mount, state_count(w->state));
	watcher_walk(w, "", now, 0);
	state_each(w->state, reconcileState, &c);
	log_info("reconciled %s: %u directories watched, %zu values applied before", w->opts->mount,
		 HASH_COUNT(w->wds), state_count(w->state));
}

/* --- eval: the level-triggered decision for one item ------------------------ */

static bool skipped(struct watcher *w, const struct rules_rule *rule, int *err)
{
	char value[4096];

	*err = 0;
	for (size_t i = 0; i < rule->n_skip_if; i++) {
		int rv = watch_value_read_small(w, rule->skip_if[i].path, value, sizeof(value));
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
	const struct rules_rule *rule = watcher_rule_by_name(w, it->rule);
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
			watch_item_free(w, it);
		return;
	}
	if (it->pid != 0) {
		it->rerun = true;
		return;
	}
	if (rule->only_on == ONLY_ON_LEADER)
		watch_campaign_leader_check(w, now);
	if (watch_campaign_eligible(w, rule) != 1) {
		watch_item_maybe_free(w, it);
		return;
	}
	if (skipped(w, rule, &err)) {
		if (err != 0)
			goto trouble;
		log_debug("rule %s: %s: skipped (skip-if)", rule->name, it->shown);
		it->failures = 0;
		watch_item_maybe_free(w, it);
		return;
	}
	rv = watch_value_read(w, it->path, &value, &len);
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
			watch_item_maybe_free(w, it);
			return;
		}
		if (len > 0 && value[len - 1] == '\n')
			value[len - 1] = '\0';
		vars.value = value;
		vars.event = applied != NULL ? "modify" : "create";
		memcpy(it->job_hash, hash, sizeof(hash));
		it->job_delete = false;
		rv = watch_exec_start(w, it, rule, &rule->run, &vars, now);
	} else {
		if (applied == NULL) {
			it->failures = 0;
			watch_item_maybe_free(w, it);
			return;
		}
		if (rule->on_delete.n_words == 0) {
			state_del(w->state, rule->name, it->path);
			it->failures = 0;
			watch_item_maybe_free(w, it);
			return;
		}
		vars.value = "";
		vars.event = "delete";
		it->job_delete = true;
		rv = watch_exec_start(w, it, rule, &rule->on_delete, &vars, now);
	}
	free(value);
	if (rv != 0)
		watch_exec_retry(w, it, now);
	return;
trouble:
	if (err == -ENOTCONN)
		watcher_mount_lost(w, strerror(-err));
	else
		log_warn("rule %s: %s: cannot read: %s", rule->name, it->shown, strerror(-err));
	if (w->mounted)
		watch_exec_retry(w, it, now);
	else
		watch_item_maybe_free(w, it);
}

static int itemOrder(const void *a, const void *b)
{
	const struct item *x = *(struct item *const *)a, *y = *(struct item *const *)b;

	if (x->due != y->due)
		return x->due < y->due ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* Evaluate every due item, oldest first, as long as job slots are free. */
void watch_reconcile_eval_due(struct watcher *w, int64_t now)
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
