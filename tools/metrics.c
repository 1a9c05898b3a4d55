/*
 * clusterfsd's .cluster/metrics: the node's figures in the Prometheus text
 * format (exposition format 0.0.4), for node_exporter's textfile collector
 * or a scrape through a file server. Rendered on the libuv loop thread (the
 * .cluster/ files are rendered there, see fs/frontend.h).
 */
#include "metrics.h"

#include "../replication/aio_release.h"
#include "../replication/stages.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out {
	char *buf;
	size_t cap, len;
};

__attribute__((format(printf, 2, 3))) static void out_add(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->len >= o->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	o->len += n > 0 ? (size_t)n : 0;
}

static void metric(struct out *o, const char *name, const char *type, const char *help,
		   double value)
{
	out_add(o, "# HELP clusterfs_%s %s\n# TYPE clusterfs_%s %s\nclusterfs_%s %.17g\n", name,
		help, name, type, name, value);
}

/* Where the time of writes went (replication/stages.h): a summary per
 * stage, sum and count, for a mean over any interval; and how many log
 * entries each disk write carried. */
static void write_stages(struct out *o)
{
	struct stages_totals t;

	stages_totals(&t);
	out_add(o, "# HELP clusterfs_log_entries_stored_total Entries raft's log writes stored on "
		   "this node.\n"
		   "# TYPE clusterfs_log_entries_stored_total counter\n"
		   "clusterfs_log_entries_stored_total %llu\n"
		   "# HELP clusterfs_log_write_turns_total Event loop turns in which log writes "
		   "completed (about one per disk write: entries per turn is the batching).\n"
		   "# TYPE clusterfs_log_write_turns_total counter\n"
		   "clusterfs_log_write_turns_total %llu\n",
		(unsigned long long)t.log_entries, (unsigned long long)t.log_turns);
	out_add(o,
		"# HELP clusterfs_log_aio_released_total Kernel AIO contexts released by a "
		"thread, off the event loop: one per closed log segment (each snapshot closes one) "
		"and one at start (each release waits tens of milliseconds in the kernel).\n"
		"# TYPE clusterfs_log_aio_released_total counter\n"
		"clusterfs_log_aio_released_total %llu\n",
		(unsigned long long)aio_release_deferred());
	out_add(o, "# HELP clusterfs_write_stage_seconds Time changes spent in each stage of "
		   "a write on this node (see clusterfs(5), .cluster/metrics).\n"
		   "# TYPE clusterfs_write_stage_seconds summary\n");
	for (int s = 0; s < STAGE_N; s++)
		out_add(o,
			"clusterfs_write_stage_seconds_sum{stage=\"%s\"} %.9f\n"
			"clusterfs_write_stage_seconds_count{stage=\"%s\"} %llu\n",
			stages_name((enum stage)s), t.sum_s[s], stages_name((enum stage)s),
			(unsigned long long)t.count[s]);
}

/* The FUSE requests the kernel sent, by kind: what a shell command costs. */
static void fuse_requests(struct out *o, struct fs *fs)
{
	uint64_t counts[FS_FUSE_OPCODES], other = 0;

	fs_fuse_requests(fs, counts);
	out_add(o, "# HELP clusterfs_fuse_requests_total FUSE requests this node's kernel sent, "
		   "by operation.\n"
		   "# TYPE clusterfs_fuse_requests_total counter\n");
	for (unsigned op = 0; op < FS_FUSE_OPCODES; op++) {
		const char *name = fs_fuse_op_name(op);

		if (name == NULL)
			other += counts[op];
		else if (counts[op] > 0) /* a kind appears once the kernel sent one */
			out_add(o, "clusterfs_fuse_requests_total{op=\"%s\"} %llu\n", name,
				(unsigned long long)counts[op]);
	}
	if (other > 0)
		out_add(o, "clusterfs_fuse_requests_total{op=\"other\"} %llu\n",
			(unsigned long long)other);
}

/* One gauge per member, labelled by id; members whose figure this node
 * does not know are left out of that gauge. */
static void member_gauge(struct out *o, const struct node_member *m, unsigned n, const char *name,
			 const char *help, int which)
{
	out_add(o, "# HELP clusterfs_member_%s %s\n# TYPE clusterfs_member_%s gauge\n", name, help,
		name);
	for (unsigned i = 0; i < n; i++) {
		uint64_t v = HEALTH_UNKNOWN;

		switch (which) {
		case 0:
			v = m[i].reachable < 0 ? HEALTH_UNKNOWN : (uint64_t)m[i].reachable;
			break;
		case 1:
			v = m[i].contact_ms;
			break;
		case 2:
			v = m[i].lag;
			break;
		case 3:
			v = m[i].reported ? m[i].report.applied_index : HEALTH_UNKNOWN;
			break;
		default:
			v = m[i].reported ? m[i].report.store_bytes : HEALTH_UNKNOWN;
			break;
		}
		if (v == HEALTH_UNKNOWN)
			continue;
		if (which == 1)
			out_add(o, "clusterfs_member_%s{id=\"%llu\"} %.3f\n", name,
				(unsigned long long)m[i].id, (double)v / 1000);
		else
			out_add(o, "clusterfs_member_%s{id=\"%llu\"} %llu\n", name,
				(unsigned long long)m[i].id, (unsigned long long)v);
	}
}

static void members(struct out *o, struct node *node)
{
	struct node_member *m = calloc(HEALTH_MAX_MEMBERS, sizeof(*m));
	unsigned n;

	if (m == NULL)
		return;
	n = node_members(node, m, HEALTH_MAX_MEMBERS);
	member_gauge(o, m, n, "reachable", "1 if the leader hears from the member.", 0);
	member_gauge(o, m, n, "last_contact_seconds",
		     "Since the leader last heard from the member.", 1);
	member_gauge(o, m, n, "lag_entries",
		     "Entries of the leader's log the member does not hold yet.", 2);
	member_gauge(o, m, n, "applied_index", "The member's applied index, as it reported it.", 3);
	member_gauge(o, m, n, "store_bytes", "The member's store size, as it reported it.", 4);
	free(m);
}

int metrics_render(struct node *node, struct fs *fs, char *buf, size_t cap)
{
	struct out o = {.buf = buf, .cap = cap};
	struct node_status st;
	struct node_metrics m;
	struct store_stats ss = {0};
	uint64_t backlog = 0, cumulative = 0;
	double oldest = 0;

	node_status(node, &st);
	node_metrics(node, &m);
	store_stats(node_store(node), &ss);
	if (fs != NULL)
		fs_replay_backlog(fs, &backlog, &oldest);
	metric(&o, "applied_index", "gauge", "Raft index applied to this node's store.",
	       (double)st.applied_index);
	metric(&o, "commit_index", "gauge", "Raft commit index known to this node.",
	       (double)st.commit_index);
	metric(&o, "term", "gauge", "Current raft term.", (double)st.term);
	metric(&o, "is_leader", "gauge", "1 if this node is the leader.",
	       strcmp(st.state, "leader") == 0 ? 1 : 0);
	metric(&o, "quorum", "gauge", "1 if this node can commit (a leader with a quorum).",
	       st.quorum ? 1 : 0);
	metric(&o, "voters", "gauge", "Voting members of the cluster.", st.voters);
	metric(&o, "leader_changes_total", "counter",
	       "Times this node saw a different leader become known.", (double)m.leader_changes);
	metric(&o, "forwarded_requests_total", "counter",
	       "Changes this node sent on to the leader.", (double)m.forwarded);
	out_add(&o,
		"# HELP clusterfs_proposals_total Changes proposed by this node, by outcome.\n"
		"# TYPE clusterfs_proposals_total counter\n"
		"clusterfs_proposals_total{outcome=\"applied\"} %llu\n"
		"clusterfs_proposals_total{outcome=\"refused\"} %llu\n"
		"clusterfs_proposals_total{outcome=\"failed\"} %llu\n",
		(unsigned long long)m.proposals_applied, (unsigned long long)m.proposals_refused,
		(unsigned long long)m.proposals_failed);
	out_add(&o, "# HELP clusterfs_commit_latency_seconds From a change's proposal on this "
		    "node to its outcome here (committed and applied, or refused).\n"
		    "# TYPE clusterfs_commit_latency_seconds histogram\n");
	for (int i = 0; i <= NODE_LATENCY_BUCKETS; i++) {
		cumulative += m.latency_buckets[i];
		if (i < NODE_LATENCY_BUCKETS)
			out_add(&o, "clusterfs_commit_latency_seconds_bucket{le=\"%g\"} %llu\n",
				node_latency_bounds_s[i], (unsigned long long)cumulative);
		else
			out_add(&o, "clusterfs_commit_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
				(unsigned long long)cumulative);
	}
	out_add(&o,
		"clusterfs_commit_latency_seconds_sum %.9f\n"
		"clusterfs_commit_latency_seconds_count %llu\n",
		m.latency_sum_s, (unsigned long long)m.latency_count);
	metric(&o, "lease_expirations_total", "counter",
	       "Lease removals this node proposed as leader once their time had passed (a "
	       "renewal that wins the race makes one a no-op).",
	       (double)m.expirations);
	metric(&o, "replay_backlog", "gauge",
	       "Changes from other nodes applied but not yet shown to this node's kernel.",
	       (double)backlog);
	metric(&o, "replay_lag_seconds", "gauge",
	       "How long the oldest of them (the one being replayed, if any) has waited.", oldest);
	metric(&o, "store_bytes", "gauge",
	       "Bytes counted against the store limit (content, xattrs and metadata).",
	       (double)ss.bytes);
	metric(&o, "store_max_bytes", "gauge", "The store's size limit.", (double)ss.max_bytes);
	metric(&o, "store_inodes", "gauge", "Files, directories and symlinks in the store.",
	       (double)ss.inodes);
	metric(&o, "elections_started_total", "counter", "Elections this node campaigned in.",
	       (double)m.elections_started);
	metric(&o, "elections_won_total", "counter", "Elections this node won.",
	       (double)m.elections_won);
	metric(&o, "elections_lost_total", "counter",
	       "Elections this node lost or that ended without a leader.",
	       (double)m.elections_lost);
	out_add(&o,
		"# HELP clusterfs_snapshots_total Snapshots taken here (the log compacted), "
		"installed from the leader, and sent (images made for a follower).\n"
		"# TYPE clusterfs_snapshots_total counter\n"
		"clusterfs_snapshots_total{kind=\"taken\"} %llu\n"
		"clusterfs_snapshots_total{kind=\"installed\"} %llu\n"
		"clusterfs_snapshots_total{kind=\"sent\"} %llu\n",
		(unsigned long long)m.snapshots.taken, (unsigned long long)m.snapshots.installed,
		(unsigned long long)m.snapshots.sent);
	out_add(&o,
		"# HELP clusterfs_snapshot_last_seconds How long the last snapshot of each "
		"kind took.\n"
		"# TYPE clusterfs_snapshot_last_seconds gauge\n"
		"clusterfs_snapshot_last_seconds{kind=\"taken\"} %.6f\n"
		"clusterfs_snapshot_last_seconds{kind=\"installed\"} %.6f\n"
		"clusterfs_snapshot_last_seconds{kind=\"sent\"} %.6f\n",
		m.snapshots.take_s, m.snapshots.install_s, m.snapshots.send_s);
	write_stages(&o);
	if (fs != NULL)
		fuse_requests(&o, fs);
	metric(&o, "loop_stall_longest_seconds", "gauge",
	       "The longest time the event loop was busy in one iteration since start.",
	       m.loop_stall_longest_s);
	members(&o, node);
	return o.len < cap ? (int)o.len : -ENOSPC;
}
