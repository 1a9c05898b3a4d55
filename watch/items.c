/*
 * clusterfs-watch: items, one per (rule, path) that has something going
 * on: a change waiting for its debounce or retry time, or a running
 * command. An event or a reconcile touches items; reconcile.c evaluates
 * them when they are due, exec.c runs and retries their commands.
 *
 * Owned by the one thread that runs watcher_run() (watcher.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "../common/log.h"
#include "../common/escape.h"
#include "sched.h"
#include "watcher_internal.h"

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
	it->shown = malloc(ESCAPE_CAP(strlen(path)));
	if (it->rule == NULL || it->path == NULL || it->shown == NULL) {
		free(it->rule);
		free(it->path);
		free(it->shown);
		free(it->key);
		free(it);
		return NULL;
	}
	escape_str(path, it->shown, ESCAPE_CAP(strlen(path)));
	HASH_ADD_KEYPTR(hh, w->items, it->key, strlen(it->key), it);
	return it;
}

void watch_item_free(struct watcher *w, struct item *it)
{
	HASH_DEL(w->items, it);
	free(it->key);
	free(it->rule);
	free(it->path);
	free(it->shown);
	free(it);
}

/* Drop an item that has nothing going on (memory stays bounded by activity). */
void watch_item_maybe_free(struct watcher *w, struct item *it)
{
	if (!it->pending && it->pid == 0 && it->failures == 0)
		watch_item_free(w, it);
}

/* Something may have changed at (rule, path) at NOW: look again once the
 * rule's debounce allows (IMMEDIATE: at once). */
void watch_item_touch(struct watcher *w, const struct rules_rule *rule, const char *path,
		      int64_t now, bool immediate)
{
	struct item *it = itemGet(w, rule->name, path, true);

	if (it == NULL) {
		char shown[ESCAPE_CAP(256)];

		log_error("out of memory: a change of %s is lost until the next reconcile",
			  escape_str(path, shown, sizeof(shown)));
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
void watch_item_touch_path(struct watcher *w, const char *path, int64_t now, bool immediate)
{
	for (size_t i = 0; i < w->rules.n; i++) {
		const struct rules_rule *rule = &w->rules.rule[i];
		if (rules_match(rule, path))
			watch_item_touch(w, rule, path, now, immediate);
		for (size_t j = 0; j < rule->n_skip_if && !immediate; j++)
			if (strcmp(rule->skip_if[j].path, path) == 0)
				w->reconcile = true;
	}
}

static void touchUnderState(void *arg, const char *rule_name, const char *path)
{
	struct prefix_ctx *c = arg;
	const struct rules_rule *rule = watcher_rule_by_name(c->w, rule_name);

	if (rule != NULL && strncmp(path, c->prefix, c->len) == 0 && path[c->len] == '/')
		watch_item_touch(c->w, rule, path, c->now, false);
}

/* A directory went away (rmdir, mv): every applied path under it. */
void watch_item_touch_under(struct watcher *w, const char *dir, int64_t now)
{
	struct prefix_ctx c = {w, dir, strlen(dir), now};
	state_each(w->state, touchUnderState, &c);
}
