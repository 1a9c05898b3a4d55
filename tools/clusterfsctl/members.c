/*
 * clusterfsctl: the commands that show the cluster's members, read from
 * MOUNT/.cluster/members: `members` (who they are and whether the leader
 * hears them) and `status --cluster` (each member's state, like `etcdctl
 * endpoint status --cluster`; exit 3 unless every voter and standby is
 * reachable and this node can commit). JSON through jansson. Single-threaded, like the
 * whole tool.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define MEMBERS_MAX	 128
#define MEMBERS_TEXT_MAX (MEMBERS_MAX * 512)

/* One line of .cluster/members; unknown numbers are -1, an unknown
 * reachability is -1. */
struct member {
	uint64_t id;
	char address[300];
	char role[16];
	int reachable;
	bool leader;
	int64_t contact_ms, match, lag, applied, term, store_bytes;
	char version[40];
};

static int64_t field_num(const char *v)
{
	char *end;
	long long x;

	if (strcmp(v, "-") == 0)
		return -1;
	errno = 0;
	x = strtoll(v, &end, 10);
	return errno != 0 || *end != '\0' || x < 0 ? -1 : x;
}

/* "ID ADDRESS ROLE REACHABLE key=value…" (replication/status.c). Unknown
 * keys are skipped: a newer daemon may add some. */
static bool parse_line(char *line, struct member *m)
{
	char reach[16], *save = NULL, *tok;
	int used = 0;
	unsigned long long id;

	memset(m, 0, sizeof(*m));
	m->contact_ms = m->match = m->lag = m->applied = m->term = m->store_bytes = -1;
	if (sscanf(line, "%llu %299s %15s %15s %n", &id, m->address, m->role, reach, &used) < 4)
		return false;
	m->id = id;
	m->reachable = strcmp(reach, "yes") == 0 ? 1 : strcmp(reach, "no") == 0 ? 0 : -1;
	for (tok = strtok_r(line + used, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');

		if (eq == NULL)
			continue;
		*eq++ = '\0';
		if (strcmp(tok, "leader") == 0)
			m->leader = strcmp(eq, "yes") == 0;
		else if (strcmp(tok, "contact_ms") == 0)
			m->contact_ms = field_num(eq);
		else if (strcmp(tok, "match") == 0)
			m->match = field_num(eq);
		else if (strcmp(tok, "lag") == 0)
			m->lag = field_num(eq);
		else if (strcmp(tok, "applied") == 0)
			m->applied = field_num(eq);
		else if (strcmp(tok, "term") == 0)
			m->term = field_num(eq);
		else if (strcmp(tok, "store_bytes") == 0)
			m->store_bytes = field_num(eq);
		else if (strcmp(tok, "version") == 0 && strcmp(eq, "-") != 0)
			snprintf(m->version, sizeof(m->version), "%s", eq);
	}
	return true;
}

/* Read and parse every member; the count, or -errno (said on stderr, and
 * as the JSON document under --json). */
static int read_members(const char *mount, struct member *out, int max)
{
	char *text = malloc(MEMBERS_TEXT_MAX), *save = NULL;
	int rv, n = 0;

	if (text == NULL)
		return -ENOMEM;
	rv = ctl_read_cluster_file(mount, "members", text, MEMBERS_TEXT_MAX);
	if (rv != 0) {
		ctl_error(EXIT_UNAVAILABLE, NULL, "cannot read %s/.cluster/members: %s", mount,
			  strerror(-rv));
		free(text);
		return rv;
	}
	for (char *line = strtok_r(text, "\n", &save); line != NULL && n < max;
	     line = strtok_r(NULL, "\n", &save))
		if (parse_line(line, &out[n]))
			n++;
	free(text);
	return n;
}

static json_t *member_json(const struct member *m)
{
	return json_pack(
	    "{s:I, s:o, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)m->id,
	    "address", ctl_jstr(m->address), "role", ctl_jstr(m->role), "reachable",
	    m->reachable < 0 ? json_null() : json_boolean(m->reachable), "leader", m->leader,
	    "last_contact_ms", ctl_jnum(m->contact_ms), "match_index", ctl_jnum(m->match), "lag",
	    ctl_jnum(m->lag), "applied_index", ctl_jnum(m->applied), "term", ctl_jnum(m->term),
	    "store_bytes", ctl_jnum(m->store_bytes), "version",
	    m->version[0] ? ctl_jstr(m->version) : json_null());
}

static const char *text_num(int64_t v, char *buf, size_t cap)
{
	if (v < 0)
		return "-";
	snprintf(buf, cap, "%" PRId64, v);
	return buf;
}

static const char *text_ms(int64_t v, char *buf, size_t cap)
{
	if (v < 0)
		return "-";
	if (v < 10000)
		snprintf(buf, cap, "%" PRId64 " ms", v);
	else
		snprintf(buf, cap, "%.0f s", (double)v / 1000);
	return buf;
}

static const char *text_bytes(int64_t v, char *buf, size_t cap)
{
	if (v < 0)
		return "-";
	if (v < 1024)
		snprintf(buf, cap, "%" PRId64 " B", v);
	else if (v < 1024 * 1024)
		snprintf(buf, cap, "%.1f KiB", (double)v / 1024);
	else
		snprintf(buf, cap, "%.1f MiB", (double)v / (1024 * 1024));
	return buf;
}

static const char *text_reach(int r)
{
	return r < 0 ? "unknown" : r ? "yes" : "no";
}

int ctl_cmd_members(const char *mount)
{
	struct member *m = calloc(MEMBERS_MAX, sizeof(*m));
	int n;

	if (m == NULL)
		return EXIT_REFUSED;
	n = read_members(mount, m, MEMBERS_MAX);
	if (n < 0) {
		free(m);
		return n == -ENOENT || n == -ENOTCONN ? EXIT_UNAVAILABLE : EXIT_REFUSED;
	}
	if (ctl_json()) {
		json_t *list = json_array();

		for (int i = 0; i < n && list != NULL; i++)
			json_array_append_new(list, member_json(&m[i]));
		ctl_json_print(list);
		free(m);
		return 0;
	}
	printf("%-6s %-24s %-8s %-9s %-6s %-12s %-8s %s\n", "ID", "ADDRESS", "ROLE", "REACHABLE",
	       "LEADER", "LAST CONTACT", "LAG", "STORE");
	for (int i = 0; i < n; i++) {
		char c[32], l[32], s[32];

		printf("%-6" PRIu64 " %-24s %-8s %-9s %-6s %-12s %-8s %s\n", m[i].id, m[i].address,
		       m[i].role, text_reach(m[i].reachable), m[i].leader ? "*" : "",
		       text_ms(m[i].contact_ms, c, sizeof(c)), text_num(m[i].lag, l, sizeof(l)),
		       text_bytes(m[i].store_bytes, s, sizeof(s)));
	}
	free(m);
	return 0;
}

/* status --cluster under --json: the node's verdict and every member. */
static json_t *status_cluster_json(const struct status *st, const struct member *m, int n,
				   bool healthy)
{
	json_t *list = json_array(), *self = ctl_status_json(st), *doc;

	for (int i = 0; i < n && list != NULL; i++) {
		json_t *o = member_json(&m[i]);

		if (o != NULL)
			json_object_set_new(o, "healthy", json_boolean(m[i].reachable == 1));
		json_array_append_new(list, o);
	}
	doc = json_pack("{s:b, s:O?, s:O?, s:o}", "healthy", healthy, "node_id",
			self != NULL ? json_object_get(self, "id") : NULL, "leader",
			self != NULL ? json_object_get(self, "leader") : NULL, "members", list);
	json_decref(self);
	return doc;
}

static void status_cluster_text(const struct member *m, int n)
{
	printf("%-6s %-24s %-8s %-6s %-9s %-7s %-9s %-7s %-10s %s\n", "ID", "ADDRESS", "ROLE",
	       "LEADER", "REACHABLE", "TERM", "APPLIED", "LAG", "STORE", "VERSION");
	for (int i = 0; i < n; i++) {
		char t[32], a[32], l[32], s[32];

		printf("%-6" PRIu64 " %-24s %-8s %-6s %-9s %-7s %-9s %-7s %-10s %s\n", m[i].id,
		       m[i].address, m[i].role, m[i].leader ? "*" : "", text_reach(m[i].reachable),
		       text_num(m[i].term, t, sizeof(t)), text_num(m[i].applied, a, sizeof(a)),
		       text_num(m[i].lag, l, sizeof(l)), text_bytes(m[i].store_bytes, s, sizeof(s)),
		       m[i].version[0] ? m[i].version : "-");
	}
}

int ctl_cmd_status_cluster(const char *mount)
{
	struct member *m = calloc(MEMBERS_MAX, sizeof(*m));
	struct status st;
	const char *why = "";
	bool self_ok, all_reachable = true;
	char unreachable[1024] = "";
	json_t *doc = NULL;
	int n, rv = 0;

	if (m == NULL)
		return ctl_error(EXIT_REFUSED, NULL, "out of memory");
	if (ctl_status_read(mount, &st, &why) != 0) {
		free(m);
		return ctl_error(EXIT_UNAVAILABLE, json_pack("{s:b}", "healthy", 0), "%s %s", mount,
				 why);
	}
	n = read_members(mount, m, MEMBERS_MAX);
	if (n < 0) {
		free(m);
		return EXIT_UNAVAILABLE;
	}
	self_ok = ctl_status_healthy(&st);
	/* A spare holds no copy and no vote: nobody waits for it. */
	for (int i = 0; i < n; i++)
		if (m[i].reachable != 1 && strcmp(m[i].role, "spare") != 0) {
			size_t used = strlen(unreachable);

			all_reachable = false;
			snprintf(unreachable + used, sizeof(unreachable) - used, "%s%" PRIu64,
				 used ? ", " : "", m[i].id);
		}
	if (ctl_json())
		doc = status_cluster_json(&st, m, n, self_ok && all_reachable);
	else
		status_cluster_text(m, n);
	free(m);
	if (!self_ok)
		rv = ctl_error(EXIT_UNAVAILABLE, doc, "node %s cannot commit: %s",
			       ctl_status_get(&st, "id"), ctl_status_why(&st));
	else if (!all_reachable)
		rv = ctl_error(EXIT_UNAVAILABLE, doc, "members not known to be reachable: %s",
			       unreachable);
	else if (doc != NULL)
		ctl_json_print(doc);
	return rv;
}
