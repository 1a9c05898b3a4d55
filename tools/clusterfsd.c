/*
 * clusterfsd: one node of a clusterfs cluster (DESIGN §2).
 *
 * Start-up: parse flags, open the node (data dir, store, raft), start raft,
 * wait until the node is ready (leader known, log applied), mount, tell
 * systemd, then run the libuv loop, which serves raft, the FSM and FUSE.
 * SIGTERM/SIGINT: stop reading FUSE requests, let those in flight finish
 * (bounded by the commit timeout), unmount, close raft, exit 0.
 *
 * Settings come from the config file (clusterfsd_config.c), then the
 * flags, which override it. What systemd is told (READY=1, STATUS=, the
 * watchdog) is service.c's.
 *
 * Every start-up failure is one line on stderr and exit status 1; bad
 * usage or a bad config file is exit status 2.
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <limits.h>
#include <raft.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../common/busy_poll.h"
#include "../common/escape.h"
#include "../common/log.h"
#include "../common/token_source.h"
#include "../common/version.h"
#include "../fs/frontend.h"
#include "../fs/ns.h"
#include "../replication/node.h"
#include "clusterfsd_config.h"
#include "metrics.h"
#include "service.h"

#ifndef CLUSTERFSD_DEFAULT_CONFIG
#define CLUSTERFSD_DEFAULT_CONFIG "/etc/clusterfs/clusterfsd.conf"
#endif
#define DEFAULT_MOUNT CLUSTERFSD_DEFAULT_MOUNT
#define DEFAULT_DATA CLUSTERFSD_DEFAULT_DATA
/* A default number in the usage text, from the macro that sets it. */
#define USAGE_NUM(x) USAGE_NUM_(x)
#define USAGE_NUM_(x) #x
/* How long start-up may wait for a joining node to become a member (a join
 * may bring a whole snapshot over), and how often it says it still waits. */
#define READY_TIMEOUT_MS 120000
#define READY_REPORT_MS 10000
/* How long a node that has a store waits for a leader before it mounts
 * read-only anyway (DESIGN §3: reads keep working without quorum). */
#define READ_ONLY_AFTER_MS 1000
/* How often the daemon checks whether its node failed for good. */
#define FAIL_WATCH_MS 200
/* How often a read-only node checks whether it has reached a leader. */
#define READY_POLL_MS 100
/* How often shutdown checks whether in-flight requests are done. */
#define DRAIN_POLL_MS 20
/* The longest join token read (a key and up to a few dozen addresses). */
#define JOIN_TOKEN_MAX 4096

struct daemon {
	uv_loop_t loop;
	struct node *node;
	struct fs *fs;
	uv_signal_t sigterm, sigint;
	uv_timer_t drain;
	uint64_t drain_deadline;
	unsigned commit_timeout_ms;
	bool stopping;
	int exit_code;
	uv_timer_t fail_watch; /* the node failed (removed from its cluster): stop */
	uv_timer_t ready_poll; /* mounted read-only: until the node is ready */
	bool ready_polling;
	bool mounted;
	struct service service; /* what systemd is told */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: clusterfsd [OPTIONS]\n"
		"  --config FILE          settings, INI, section [clusterfsd], keys = the\n"
		"                         options below without '--' (not --recover,\n"
		"                         --join-token); options given here override it\n"
		"                         (default " CLUSTERFSD_DEFAULT_CONFIG ", may be missing)\n"
		"  --mount DIR            mount point (default " DEFAULT_MOUNT ")\n"
		"  --data DIR             this node's state (default " DEFAULT_DATA ")\n"
		"  --address HOST:PORT    node-to-node address (default " NODE_DEFAULT_ADDRESS ")\n"
		"  --bootstrap            start a new cluster (default when --data is empty)\n"
		"  --join HOST:PORT[,...] join an existing cluster (with --cluster-key)\n"
		"  --join-token-file FILE join with the line `clusterfsctl join-token` prints,\n"
		"                         read from FILE (mode 0600; '-': standard input);\n"
		"                         or set CLUSTERFS_JOIN_TOKEN. `--join-token TOKEN`\n"
		"                         works too, but shows the key to every local user\n"
		"  --cluster-key FILE     shared cluster secret (default DATA/cluster.key)\n"
		"  --max-voters N         voters in the cluster, odd (default " USAGE_NUM(NODE_DEFAULT_MAX_VOTERS) ")\n"
		"  --commit-timeout SECS  give up on a commit after this long (default 5)\n"
		"  --election-timeout MS  raft election timeout (default " USAGE_NUM(NODE_DEFAULT_ELECTION_TIMEOUT_MS) "; heartbeat 1/6)\n"
		"  --snapshot-threshold N entries between snapshots (default " USAGE_NUM(NODE_DEFAULT_SNAPSHOT_THRESHOLD) ")\n"
		"  --snapshot-trailing N  entries kept after a snapshot (default " USAGE_NUM(NODE_DEFAULT_SNAPSHOT_TRAILING) ")\n"
		"  --disk-reserve MIB     free space kept on the data directory's disk;\n"
		"                         below it writes here fail with ENOSPC (default " USAGE_NUM(NODE_DEFAULT_DISK_RESERVE_MB) ")\n"
		"  --busy-poll USEC       after each event, poll up to USEC microseconds\n"
		"                         before sleeping: lower latency on VMs whose idle\n"
		"                         CPUs halt, for CPU while busy (default 0: off)\n"
		"  --log-level LEVEL      debug, info, warn or error (default info); logs go\n"
		"                         to the journal under systemd, else to stderr\n"
		"  --recover              offline: make this node the only voter of its\n"
		"                         cluster, after a majority was lost for good\n"
		"                         (docs/operations.md), then exit\n"
		"  --version              print the version and exit\n"
		"  -h, --help             print this help and exit\n");
}

static void fail(const char *msg)
{
	fprintf(stderr, "clusterfsd: %s\n", msg);
}

/* --- .cluster/ files ---------------------------------------------------------- */

static int render_self(void *arg, char *buf, size_t cap)
{
	struct daemon *d = arg;

	return snprintf(buf, cap, "%llu\n", (unsigned long long)node_id(d->node));
}

static int render_status(void *arg, char *buf, size_t cap)
{
	struct daemon *d = arg;
	struct node_status st;

	node_status(d->node, &st);
	return snprintf(buf, cap,
			"id=%llu\naddress=%s\nstate=%s\nrole=%s\nphase=%s\nterm=%llu\n"
			"commit_index=%llu\napplied_index=%llu\nlast_index=%llu\n"
			"leader=%llu\nleader_address=%s\nquorum=%s\nvoters=%u\n",
			(unsigned long long)st.id, st.address, st.state, st.role, st.phase,
			(unsigned long long)st.term, (unsigned long long)st.commit_index,
			(unsigned long long)st.applied_index, (unsigned long long)st.last_index,
			(unsigned long long)st.leader_id, st.leader_address,
			st.quorum ? "yes" : "no", st.voters);
}

static int render_leader(void *arg, char *buf, size_t cap)
{
	struct daemon *d = arg;
	struct node_status st;

	node_status(d->node, &st);
	if (st.leader_id == 0)
		return snprintf(buf, cap, "none\n");
	return snprintf(buf, cap, "%llu %s\n", (unsigned long long)st.leader_id,
			st.leader_address);
}

static int render_members(void *arg, char *buf, size_t cap)
{
	struct daemon *d = arg;

	return node_render_members(d->node, buf, cap);
}

static int render_join_token(void *arg, char *buf, size_t cap)
{
	struct daemon *d = arg;

	return node_render_join_token(d->node, buf, cap);
}

struct log_buf {
	char *buf;
	size_t len, cap;
};

/* One change, one line: the path is C-escaped (common/escape.h), so that
 * no file name can make a line of its own or pass for another record. */
static int log_line(void *arg, const struct store_log_row *row)
{
	struct log_buf *b = arg;
	time_t secs = (time_t)(row->stamp_ns / 1000000000);
	size_t plen = strlen(row->path);
	size_t need = ESCAPE_CAP(plen) + 128;
	struct tm tm;
	char when[32];
	int n;

	while (b->cap - b->len < need) {
		char *grown = realloc(b->buf, b->cap * 2);

		if (grown == NULL)
			return 1;
		b->buf = grown;
		b->cap *= 2;
	}
	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(b->buf + b->len, b->cap - b->len, "%s.%03dZ %llu node=%llu uid=%u %s ", when,
		     (int)(row->stamp_ns / 1000000 % 1000), (unsigned long long)row->revision,
		     (unsigned long long)row->node, row->uid, row->op);
	if (n <= 0 || (size_t)n >= b->cap - b->len)
		return 0;
	b->len += (size_t)n;
	b->len += escape_bytes(row->path, plen, b->buf + b->len, b->cap - b->len);
	b->buf[b->len++] = '\n';
	return 0;
}

/* .cluster/log: time, revision, node, uid, operation, path; oldest first. */
static int render_log(void *arg, char **out, size_t *len)
{
	struct daemon *d = arg;
	struct log_buf b = {.buf = malloc(65536), .cap = 65536};
	int rv;

	if (b.buf == NULL)
		return -ENOMEM;
	rv = store_log(node_store(d->node), log_line, &b);
	if (rv != 0) {
		free(b.buf);
		return rv;
	}
	*out = b.buf;
	*len = b.len;
	return 0;
}

/* The store as one sqlite image, taken between two entries on the loop
 * thread, so it is consistent. */
static int render_backup(void *arg, char **out, size_t *len)
{
	struct daemon *d = arg;
	void *img;
	int rv = store_snapshot(node_store(d->node), &img, len);

	if (rv != 0)
		return rv;
	*out = malloc(*len > 0 ? *len : 1);
	if (*out != NULL)
		memcpy(*out, img, *len);
	raft_free(img);
	return *out != NULL ? 0 : -ENOMEM;
}

static int render_version(void *arg, char *buf, size_t cap)
{
	(void)arg;
	return snprintf(buf, cap, "clusterfs %s\n", CFS_VERSION);
}

/* .cluster/metrics (metrics.c). */
static int render_metrics(void *arg, char *buf, size_t cap)
{
	struct daemon *d = arg;

	return metrics_render(d->node, d->fs, buf, cap);
}

/* --- the log, as the front end sees it ----------------------------------------- */

static int log_submit(void *impl, struct entry_buf *b, fs_done_cb cb, void *arg)
{
	return node_submit(impl, b, cb, arg);
}

static int log_barrier(void *impl, fs_done_cb cb, void *arg)
{
	return node_barrier(impl, cb, arg);
}

/* --- shutdown ------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void node_closed(void *arg)
{
	struct daemon *d = arg;

	/* Only now: closing the node answered every request still waiting,
	 * and those answers go through the front end. */
	fs_unmount(d->fs);
	d->fs = NULL;
	uv_close((uv_handle_t *)&d->sigterm, handle_closed);
	uv_close((uv_handle_t *)&d->sigint, handle_closed);
	uv_close((uv_handle_t *)&d->drain, handle_closed);
	uv_close((uv_handle_t *)&d->fail_watch, handle_closed);
	service_close(&d->service);
}

static void drain_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;

	if (!fs_idle(d->fs) && now_ms() < d->drain_deadline)
		return;
	uv_timer_stop(t);
	if (fs_in_flight(d->fs) > 0)
		log_warn("%u requests still waiting for a commit at shutdown",
			 fs_in_flight(d->fs));
	node_set_applied_hook(d->node, NULL, NULL);
	node_set_restored_hook(d->node, NULL, NULL);
	fs_stop_intake(d->fs);
	node_close(d->node, node_closed, d);
}

static void daemon_stop(struct daemon *d)
{
	d->stopping = true;
	service_stopping(&d->service);
	/* Keep serving while what is in flight finishes: an invalidation in
	 * the kernel may wait for a request of ours. */
	d->drain_deadline = now_ms() + d->commit_timeout_ms + 1000;
	uv_timer_start(&d->drain, drain_cb, 0, DRAIN_POLL_MS);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	if (d->stopping)
		return;
	log_info("%s: leaving", strsignal(signum));
	daemon_stop(d);
}

/* A node that cannot go on (told it was removed from its cluster, raft
 * stopped for good) stops in order and exits 1, rather than run on as a
 * member that cannot be one; main prints why (the node logged it too). */
static void fail_watch_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;

	if (d->stopping || node_failed(d->node) == NULL)
		return;
	uv_timer_stop(t);
	d->exit_code = 1;
	daemon_stop(d);
}

/* --- the join token --------------------------------------------------------------- */

/* Where a join token may come from (DESIGN §2): --join-token-file FILE,
 * the environment (CLUSTERFS_JOIN_TOKEN), or --join-token TOKEN, which
 * every local user can read in ps until main wipes it (at once, but a
 * moment too late to be sure): accepted, with a warning. */
struct join_token {
	const char *file;	 /* --join-token-file */
	bool argv_given;	 /* --join-token, copied into text */
	char text[JOIN_TOKEN_MAX];
	int env_rv;		 /* token_source_take_env: 1 set, 0 not, < 0 too long */
	char env_text[JOIN_TOKEN_MAX];
};

/* Pick the token (at most one flag; a flag wins over the environment) and
 * parse it. 1 with key and members set, 0 if none was given, -errno with a
 * message in err. Nothing on disk has been touched yet: a bad token leaves
 * nothing behind. */
static int join_token_resolve(struct join_token *t, uint8_t key[TRANSPORT_KEY_SIZE],
			      char *members, size_t members_len, char *err, size_t errlen)
{
	const char *from = "", *text = "";
	char where[PATH_MAX + 32];
	int rv = 0;

	if (t->file != NULL && t->argv_given) {
		snprintf(err, errlen, "give the join token once: --join-token-file or "
				      "--join-token, not both");
		rv = -EINVAL;
	} else if (t->file != NULL) {
		snprintf(where, sizeof(where), "the line %s %s",
			 strcmp(t->file, "-") == 0 ? "on" : "in",
			 strcmp(t->file, "-") == 0 ? "standard input" : t->file);
		from = where;
		rv = token_source_read_file(t->file, t->text, sizeof(t->text), err, errlen);
		text = t->text;
	} else if (t->argv_given) {
		from = "--join-token";
		text = t->text;
		log_warn("--join-token puts the cluster key on the command line, where every local "
			 "user can read it until it is wiped; use --join-token-file FILE or "
			 "%s instead",
			 TOKEN_SOURCE_ENV);
	} else if (t->env_rv != 0) {
		from = TOKEN_SOURCE_ENV;
		text = t->env_text;
		if (t->env_rv < 0) {
			snprintf(err, errlen, "%s is too long to be a join token", TOKEN_SOURCE_ENV);
			rv = -EINVAL;
		}
	} else {
		return 0;
	}
	if (rv == 0 && t->env_rv > 0 && text != t->env_text)
		log_warn("%s ignored: %s given", TOKEN_SOURCE_ENV,
			 t->file != NULL ? "--join-token-file" : "--join-token");
	if (rv == 0 && node_parse_join_token(text, key, members, members_len) != 0) {
		snprintf(err, errlen,
			 "%s is not a join token: expected the line `clusterfsctl join-token` "
			 "prints (cfs1:KEY@HOST:PORT,...)",
			 from);
		rv = -EINVAL;
	}
	explicit_bzero(t->text, sizeof(t->text));
	explicit_bzero(t->env_text, sizeof(t->env_text));
	return rv < 0 ? rv : 1;
}

/* --- main ------------------------------------------------------------------------ */

/* Every setting (clusterfsd_config.c) is OPT_SETTING: its name is the key. */
enum { OPT_SETTING = 256, OPT_CONFIG, OPT_JOIN_TOKEN, OPT_RECOVER, OPT_VERSION, OPT_HELP = 'h' };

static const struct option options[] = {
	{"mount", required_argument, NULL, OPT_SETTING},
	{"data", required_argument, NULL, OPT_SETTING},
	{"address", required_argument, NULL, OPT_SETTING},
	{"bootstrap", no_argument, NULL, OPT_SETTING},
	{"join", required_argument, NULL, OPT_SETTING},
	{"join-token-file", required_argument, NULL, OPT_SETTING},
	{"cluster-key", required_argument, NULL, OPT_SETTING},
	{"max-voters", required_argument, NULL, OPT_SETTING},
	{"log-level", required_argument, NULL, OPT_SETTING},
	{"commit-timeout", required_argument, NULL, OPT_SETTING},
	{"snapshot-threshold", required_argument, NULL, OPT_SETTING},
	{"snapshot-trailing", required_argument, NULL, OPT_SETTING},
	{"election-timeout", required_argument, NULL, OPT_SETTING},
	{"disk-reserve", required_argument, NULL, OPT_SETTING},
	{"busy-poll", required_argument, NULL, OPT_SETTING},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"join-token", required_argument, NULL, OPT_JOIN_TOKEN},
	{"recover", no_argument, NULL, OPT_RECOVER},
	{"version", no_argument, NULL, OPT_VERSION},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

/* A setting given as a flag, applied once the config file is read. */
struct flag_setting {
	const char *key, *value;
};


/* Start-up: a joining node waits (bounded, saying so) until it is a
 * member; a node with a store waits READ_ONLY_AFTER_MS at most for a leader,
 * then serves its store read-only. False: give up (node_failed, or a join
 * that did not complete in time). */
static bool wait_start(struct daemon *d)
{
	uint64_t start = now_ms(), report = start + READY_REPORT_MS;
	bool joining = node_joining(d->node);

	while (!node_ready(d->node)) {
		uint64_t now = now_ms();

		if (node_failed(d->node) != NULL)
			return false;
		if (!joining && now >= start + READ_ONLY_AFTER_MS)
			return true;
		if (now >= start + READY_TIMEOUT_MS)
			return false;
		if (now >= report) {
			log_warn("%s after %llu s; still waiting (up to %d s)",
				 joining ? "not a member of the cluster yet"
					 : "no leader of the cluster reached",
				 (unsigned long long)(now - start) / 1000, READY_TIMEOUT_MS / 1000);
			report = now + READY_REPORT_MS;
		}
		uv_run(&d->loop, UV_RUN_ONCE);
	}
	return true;
}

/* Mounted read-only: say so until the node reaches a leader and is ready. */
static void ready_poll_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;

	if (!node_ready(d->node) && !d->stopping)
		return;
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, NULL);
	d->ready_polling = false;
	if (d->stopping)
		return;
	log_info("reached the cluster's leader: writable");
	service_update(&d->service);
}

/* STATUS= for systemd (service.c): joining, read-only: no quorum, member. */
static const char *daemon_status(void *arg)
{
	struct daemon *d = arg;
	struct node_status st;

	if (d->stopping)
		return "stopping";
	if (node_joining(d->node))
		return "joining";
	node_status(d->node, &st);
	if (!d->mounted)
		return st.quorum ? "starting: mounting" : "starting: waiting for a leader";
	return st.quorum ? "member" : "read-only: no quorum";
}

int main(int argc, char **argv)
{
	static struct daemon d;
	static struct clusterfsd_config cfg;
	struct fs_config fcfg = {0};
	const char *config_path = CLUSTERFSD_DEFAULT_CONFIG;
	bool config_given = false;
	static uint8_t token_key[TRANSPORT_KEY_SIZE];
	static char token_members[1024];
	static struct join_token tok;
	struct flag_setting *flags;
	int n_flags = 0, loaded;
	char err[PATH_MAX + 512] = "";
	bool recover = false;
	int opt, idx, rv;

	/* raft writes to dead peers' sockets; a SIGPIPE would kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* Before anything else, so that no child (fusermount3) inherits it. */
	tok.env_rv = token_source_take_env(TOKEN_SOURCE_ENV, tok.env_text, sizeof(tok.env_text));
	clusterfsd_config_defaults(&cfg);
	flags = calloc((size_t)argc, sizeof(*flags));
	if (flags == NULL) {
		fail("out of memory");
		return 1;
	}

	while ((opt = getopt_long(argc, argv, "h", options, &idx)) != -1) {
		switch (opt) {
		case OPT_SETTING:
			flags[n_flags].key = options[idx].name;
			flags[n_flags++].value = optarg != NULL ? optarg : "true";
			break;
		case OPT_CONFIG:
			config_path = optarg;
			config_given = true;
			break;
		case OPT_JOIN_TOKEN:
			/* Copied, then wiped from argv at once: ps shows it no more. */
			if (tok.argv_given || strlen(optarg) >= sizeof(tok.text)) {
				token_source_scrub(optarg);
				fail(tok.argv_given ? "--join-token given twice"
						    : "--join-token is too long to be a join token");
				rv = 2;
				goto parsed;
			}
			strcpy(tok.text, optarg);
			token_source_scrub(optarg);
			tok.argv_given = true;
			break;
		case OPT_RECOVER:
			recover = true;
			break;
		case OPT_VERSION:
			printf("clusterfsd %s\n", CFS_VERSION);
			rv = 0;
			goto parsed;
		case OPT_HELP:
			usage(stdout);
			rv = 0;
			goto parsed;
		default:
			usage(stderr);
			rv = 2;
			goto parsed;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "clusterfsd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		rv = 2;
		goto parsed;
	}
	/* The file first, then the flags over it. */
	loaded = clusterfsd_config_load(&cfg, config_path, config_given, err, sizeof(err));
	if (loaded < 0) {
		fail(err);
		rv = 2;
		goto parsed;
	}
	for (int i = 0; i < n_flags; i++) {
		if (clusterfsd_config_set(&cfg, flags[i].key, flags[i].value, true, err,
					  sizeof(err)) != 0) {
			fail(err);
			rv = 2;
			goto parsed;
		}
	}
	rv = -1; /* go on */
parsed:
	/* The keys and values point into argv and options: only the array goes. */
	free(flags);
	if (rv >= 0)
		return rv;
	cfg.node.validator = ns_validator();
	tok.file = cfg.join_token_file;
	log_setup("clusterfsd", cfg.log_level);
	if (loaded == 0)
		log_info("settings from %s", config_path);
	else
		log_debug("no config file at %s: flags and defaults only", config_path);
	rv = join_token_resolve(&tok, token_key, token_members, sizeof(token_members), err,
				sizeof(err));
	if (rv < 0) {
		fail(err);
		return 2;
	}
	if (rv > 0) {
		cfg.node.key = token_key;
		cfg.node.join = token_members;
	}
	d.commit_timeout_ms = cfg.node.commit_timeout_ms;

	uv_loop_init(&d.loop);
	rv = node_open(&d.node, &d.loop, &cfg.node, err, sizeof(err));
	if (rv != 0) {
		fail(err[0] ? err : strerror(-rv));
		return 1;
	}
	if (recover) {
		rv = node_recover(d.node, err, sizeof(err));
		if (rv != 0) {
			fail(err);
			return 1;
		}
		printf("clusterfsd: node %llu is now the only voter of its cluster; start it as "
		       "usual, then let other nodes join it afresh\n",
		       (unsigned long long)node_id(d.node));
		return 0;
	}
	log_set_node_id(node_id(d.node)); /* 0 until a new node has joined */
	/* The watchdog pings and STATUS= from here on: a join may take long. */
	service_start(&d.service, &d.loop, daemon_status, &d);
	/* node_open checked the data dir, address and key; the mount point too
	 * must fail before node_start contacts the cluster: a join must never
	 * end in a member that cannot mount. */
	if (fs_check_mountpoint(cfg.mount, err, sizeof(err)) != 0) {
		fail(err);
		return 1;
	}
	rv = node_start(d.node, err, sizeof(err));
	if (rv != 0) {
		fail(err);
		return 1;
	}
	if (!wait_start(&d)) {
		fail(node_failed(d.node) != NULL ? node_failed(d.node)
		     : node_disk_full(d.node)
			 ? "the node did not become ready in time: the disk holding its data "
			   "directory is full; free space there and start it again"
			 : "the node did not become ready in time (no leader); see the log");
		return 1;
	}
	log_set_node_id(node_id(d.node));
	store_drop_all_orphans(node_store(d.node));

	static struct fs_plug_file plugs[] = {
		{.name = "self", .render = render_self, .arg = &d},
		{.name = "status", .render = render_status, .arg = &d},
		{.name = "leader", .render = render_leader, .arg = &d},
		{.name = "members", .render = render_members, .arg = &d},
		{.name = "version", .render = render_version, .arg = &d},
		/* Prometheus text format */
		{.name = "metrics", .render = render_metrics, .arg = &d},
		/* holds the cluster key: root only */
		{.name = "join-token", .render = render_join_token, .arg = &d, .mode = 0400},
		/* who changed what, when: the last 1000 changes. Root only: it
		 * names files in directories other users may not list. */
		{.name = "log", .render_alloc = render_log, .arg = &d, .mode = 0400},
		/* a consistent copy of the whole store (clusterfsctl backup) */
		{.name = "backup", .render_alloc = render_backup, .arg = &d, .mode = 0400},
	};

	struct fs_log log = {.impl = d.node, .submit = log_submit, .barrier = log_barrier};
	fcfg.mountpoint = cfg.mount;
	fcfg.node_id = node_id(d.node);
	fcfg.epoch = node_epoch(d.node);
	fcfg.cache_timeout = FS_DEFAULT_CACHE_TIMEOUT;
	fcfg.plugs = plugs;
	fcfg.n_plugs = sizeof(plugs) / sizeof(plugs[0]);
	rv = fs_mount(&d.fs, &d.loop, node_store(d.node), &log, &fcfg, err, sizeof(err));
	if (rv != 0) {
		fail(err);
		return 1;
	}
	node_set_applied_hook(d.node, fs_applied, d.fs);
	node_set_restored_hook(d.node, fs_restored, d.fs);
	node_mounted(d.node);
	d.mounted = true;

	uv_signal_init(&d.loop, &d.sigterm);
	uv_signal_init(&d.loop, &d.sigint);
	uv_timer_init(&d.loop, &d.drain);
	uv_timer_init(&d.loop, &d.fail_watch);
	d.sigterm.data = d.sigint.data = d.drain.data = d.fail_watch.data = &d;
	uv_timer_start(&d.fail_watch, fail_watch_cb, FAIL_WATCH_MS, FAIL_WATCH_MS);
	uv_signal_start(&d.sigterm, signal_cb, SIGTERM);
	uv_signal_start(&d.sigint, signal_cb, SIGINT);

	if (node_ready(d.node)) {
		log_info("node %llu serving %s", (unsigned long long)node_id(d.node), cfg.mount);
		service_ready(&d.service);
	} else {
		log_warn("node %llu serving %s read-only: no leader reached in %d ms (no quorum?); "
			 "reads answer from the local store, mutations get EROFS until a leader "
			 "is known",
			 (unsigned long long)node_id(d.node), cfg.mount, READ_ONLY_AFTER_MS);
		service_ready(&d.service);
		uv_timer_init(&d.loop, &d.ready_poll);
		d.ready_poll.data = &d;
		uv_timer_start(&d.ready_poll, ready_poll_cb, READY_POLL_MS, READY_POLL_MS);
		d.ready_polling = true;
	}
	if (cfg.busy_poll_us > 0)
		log_info("busy polling: up to %u us after each event before sleeping (--busy-poll)",
			 cfg.busy_poll_us);
	busy_poll_run(&d.loop, cfg.busy_poll_us);
	if (node_failed(d.node) != NULL) {
		fail(node_failed(d.node)); /* e.g. raft stopped for good */
		d.exit_code = 1;
	}

	rv = uv_loop_close(&d.loop);
	if (rv != 0)
		log_warn("event loop closed with handles open: %s", uv_strerror(rv));
	node_free(d.node);
	log_info("stopped");
	return d.exit_code;
}
