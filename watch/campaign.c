/*
 * clusterfs-watch: who may run what. only-on = leader rules follow
 * .cluster/status (re-read periodically and before each evaluation);
 * only-on = lease:NAME rules campaign for leases/NAME: write
 * "holder=node-ID ttl=S", renew at a third of the TTL, campaign again when
 * the holder's file goes away. A rule this node may no longer run forgets
 * what it applied here, so a takeover runs it for the whole tree.
 *
 * Owned by the one thread that runs watcher_run() (watcher.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "watcher_internal.h"

struct lease *watch_campaign_lease(struct watcher *w, const char *name)
{
	for (size_t i = 0; i < w->n_leases; i++)
		if (strcmp(w->leases[i].name, name) == 0)
			return &w->leases[i];
	return NULL;
}

/* 1 if this node may run RULE, 0 if not, -1 if not known yet. */
int watch_campaign_eligible(struct watcher *w, const struct rules_rule *rule)
{
	struct lease *l;

	switch (rule->only_on) {
	case ONLY_ON_ALL:
		return 1;
	case ONLY_ON_LEADER:
		return w->leader;
	case ONLY_ON_LEASE:
		l = watch_campaign_lease(w, rule->lease);
		if (l == NULL)
			return -1;
		/* Held, as far as this node knows: renewed less than a TTL ago
		 * (a renewal that could not be made in time may have let another
		 * node take it). */
		if (l->held == 1 && watcher_now_ms() - l->last_ok >= l->ttl_ms)
			return 0;
		return l->held;
	}
	return -1;
}

/* After a change of eligibility: a rule this node may not run forgets what
 * it applied here, so that when the node takes over (becomes leader, gets
 * the lease) it runs the rule for the whole tree. */
void watch_campaign_changed(struct watcher *w, bool gained)
{
	for (size_t i = 0; i < w->rules.n; i++)
		if (watch_campaign_eligible(w, &w->rules.rule[i]) == 0)
			state_drop_rule(w->state, w->rules.rule[i].name);
	if (gained)
		w->reconcile = true;
}

void watch_campaign_leader_check(struct watcher *w, int64_t now)
{
	char status[4096];
	int rv, leader;

	w->next_leader_check = now + WATCHER_LEADER_CHECK_MS;
	if (!w->mounted || !w->need_leader)
		return;
	rv = watch_value_read_small(w, ".cluster/status", status, sizeof(status));
	if (rv <= 0) {
		if (rv == -ENOTCONN)
			watcher_mount_lost(w, strerror(-rv));
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
	watch_campaign_changed(w, leader);
}

/* Write "holder=node-ID ttl=S" to leases/NAME: 0, or a negative errno
 * (-EBUSY: another holder has it). TTL 0 releases. */
static int leaseWrite(struct watcher *w, const struct lease *l, int64_t ttl_ms)
{
	char *rel, *abs, line[128];
	int fd, rv = 0, n;

	if (asprintf(&rel, "leases/%s", l->name) < 0)
		return -ENOMEM;
	abs = watcher_join_path(w->opts->mount, rel);
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

void watch_campaign_lease_tick(struct watcher *w, struct lease *l, int64_t now)
{
	/* Held, but not renewed for a TTL: watch_campaign_eligible() said no meanwhile, and
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
			watch_campaign_changed(w, true);
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
			watcher_mount_lost(w, strerror(-rv));
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
		watch_campaign_changed(w, l->held == 1);
	}
}

void watch_campaign_release(struct watcher *w, struct lease *ls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ls[i].held != 1 || !w->mounted)
			continue;
		if (leaseWrite(w, &ls[i], 0) == 0)
			log_info("lease %s: released", ls[i].name);
		ls[i].held = 0;
	}
}

void watch_campaign_free(struct lease *ls, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ls[i].name);
	free(ls);
}

/* The leases the rules name; those already known keep their state. */
void watch_campaign_rebuild(struct watcher *w, int64_t now)
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
		old = watch_campaign_lease(w, rule->lease);
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
	watch_campaign_release(w, w->leases, w->n_leases);
	watch_campaign_free(w->leases, w->n_leases);
	w->leases = ls;
	w->n_leases = n;
}
