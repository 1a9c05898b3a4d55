/*
 * The node's lifecycle: open the data directory and the store, start raft
 * (bootstrapping a new cluster, or joining one through membership.c), run
 * the tick that moves everything else on, and close in order — leadership
 * handed over, waiting requests failed, raft closed, handles closed. See
 * node.h for the API, node_internal.h for the files of the module.
 *
 * Readiness. raft 0.15 appends nothing when a node becomes leader, so the
 * entries of earlier terms are neither committed nor applied until something
 * new is (Raft dissertation §6.4: a leader must commit an entry of its own
 * term before serving reads). A leader therefore issues a barrier whenever
 * it gains leadership; a follower syncs through the leader once; the node
 * is ready when that has been applied here.
 *
 * Owned by the libuv loop thread, like everything in the node.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/loop_watch.h"
#include "io_guard.h"
#include "node_internal.h"
#include "raft_link.h"
#include "stages.h"
#include "store_vacuum.h"

#define NODE_TRANSFER_MS 1000

void node_config_defaults(struct node_config *c)
{
	memset(c, 0, sizeof(*c));
	c->data_dir = "/var/lib/clusterfsd";
	c->max_voters = NODE_DEFAULT_MAX_VOTERS;
	c->commit_timeout_ms = NODE_DEFAULT_COMMIT_TIMEOUT_MS;
	c->election_timeout_ms = NODE_DEFAULT_ELECTION_TIMEOUT_MS;
	c->heartbeat_ms = NODE_DEFAULT_HEARTBEAT_MS;
	c->snapshot_threshold = NODE_DEFAULT_SNAPSHOT_THRESHOLD;
	c->snapshot_trailing = NODE_DEFAULT_SNAPSHOT_TRAILING;
	c->disk_reserve_bytes = (uint64_t)NODE_DEFAULT_DISK_RESERVE_MB << 20;
}

/* Find out before raft does whether the port is free, to say so plainly. */
static int probe_port(const char *address, char *err, size_t errlen)
{
	char host[NODE_ADDRESS_MAX + 1], port[8];
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
	struct addrinfo *res = NULL;
	int fd, one = 1, rv = 0;

	if (transport_split_address(address, host, sizeof(host), port, sizeof(port)) != 0) {
		snprintf(err, errlen, "bad address '%s'; pass --address HOST:PORT", address);
		return -EINVAL;
	}
	if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL) {
		snprintf(err, errlen, "cannot resolve '%s'; pass --address HOST:PORT", host);
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
		rv = -errno;
		if (rv == -EADDRINUSE)
			snprintf(err, errlen, "port %s is in use; pass --address HOST:PORT", port);
		else
			snprintf(err, errlen, "cannot listen on %s: %s", address, strerror(errno));
	}
	close(fd);
	freeaddrinfo(res);
	return rv;
}

static void check_cb(uv_check_t *c)
{
	struct node *n = c->data;

	/* The entries applied this turn share one commit (store.h); requests
	 * for them are answered just after (fsm_applied_index), and a failed
	 * one defers them, and then nobody waiting for them is answered. */
	if (n->raft_inited)
		fsm_commit(&n->fsm);
	node_check_applied(c->data);
	node_nudge_now(c->data);
	stages_turn();
}

/* --- leadership and readiness ------------------------------------------------------ */

static void ready_barrier_done(void *arg, int64_t result)
{
	struct node *n = arg;

	n->barrier_pending = false;
	if (result == 0) {
		if (!n->ready)
			log_info_at(n->raft.current_term, node_applied_index(n),
				    "node %llu is %s (term %llu) and has applied index %llu",
				 (unsigned long long)n->id,
				 raft_state(&n->raft) == RAFT_LEADER ? "leader" : "a follower",
				 (unsigned long long)n->raft.current_term,
				 (unsigned long long)node_applied_index(n));
		n->ready = true;
	} else {
		n->barrier_term = 0; /* try again on the next tick */
	}
}

/* A standby that has caught up and mounted asks to be a voter while the
 * cluster has fewer than max_voters (the leader decides): a new node, or
 * one that was a standby before this start. Once per start; after that the
 * leader promotes standbys itself when a voter leaves. */
static void node_maybe_ask_promotion(struct node *n)
{
	if (!n->mounted || !n->ready || n->promote_asked || n->closing ||
	    (n->join != JOIN_NONE && n->join != JOIN_DONE) ||
	    node_server_role(n, n->id) != RAFT_STANDBY ||
	    node_count_role(n, RAFT_VOTER) >= n->cfg.max_voters)
		return;
	n->promote_asked = true;
	n->join = JOIN_PROMOTING;
	n->join_retry_ms = 0;
	log_info("node %llu has caught up and is mounted: asking to become a voter",
		 (unsigned long long)n->id);
}

static void node_poll(struct node *n)
{
	int state;

	if (n->join != JOIN_NONE && n->join != JOIN_DONE)
		node_join_connect(n);
	if (!n->raft_started || n->closing)
		return;
	state = raft_state(&n->raft);
	if (state == RAFT_UNAVAILABLE && n->failure[0] == '\0') {
		/* raft 0.15 stops for good after some failed writes (its
		 * metadata on a full disk): nothing here can revive it. */
		snprintf(n->failure, sizeof(n->failure),
			 "raft stopped on this node (%s); clusterfsd exits: start it again once "
			 "the disk holding %s has room",
			 raft_errmsg(&n->raft), n->data_dir);
		log_error("%s", n->failure);
		return; /* the daemon stops in order and exits 1 (node_failed) */
	}
	/* A new leader commits a barrier of its term before it is "ready";
	 * a follower syncs once through the leader. */
	if (!n->barrier_pending && !n->fresh &&
	    ((state == RAFT_LEADER && n->barrier_term != n->raft.current_term) ||
	     (state == RAFT_FOLLOWER && !n->ready))) {
		n->barrier_term = n->raft.current_term;
		n->barrier_pending = true;
		if (node_barrier(n, ready_barrier_done, n) != 0) {
			n->barrier_pending = false;
			n->barrier_term = 0;
		}
	}
	node_track_leader(n);
	node_maybe_ask_promotion(n);
}

static void tick_cb(uv_timer_t *t)
{
	struct node *n = t->data;

	/* A checkpoint failed to write the store's files (store.h). */
	if (store_write_error(n->store) != 0)
		store_stop_lost_writes("a checkpoint of the store failed to write its files");
	node_poll(n);
	node_events_tick(n);
	node_view_tick(n);
	/* Entries the store could not write wait until it can (fsm.h). */
	if (n->fsm.deferred != NULL)
		fsm_retry_deferred(&n->fsm);
	node_disk_tick(n);
	node_dispatch_all(n);
	node_expire(n);
	node_reap_expired(n);
	/* Vacuum gives space back, but writes to do it: not on a full disk;
	 * on a low one, every free page goes back (deletions make room). */
	switch (node_disk_level(n)) {
	case NODE_DISK_OK:
		store_vacuum_step(n->store);
		break;
	case NODE_DISK_LOW:
		store_vacuum_step_slack(n->store, 0);
		break;
	case NODE_DISK_FULL:
		break;
	}
}

bool node_ready(struct node *n)
{
	node_poll(n);
	return n->ready;
}

bool node_joining(struct node *n)
{
	return n->fresh && n->join != JOIN_NONE;
}

void node_mounted(struct node *n)
{
	n->mounted = true;
}

uint64_t node_applied_index(struct node *n)
{
	return fsm_applied_index(&n->fsm);
}

const char *node_failed(struct node *n)
{
	return n->failure[0] ? n->failure : NULL;
}

uint64_t node_id(struct node *n)
{
	return n->id;
}

uint32_t node_epoch(struct node *n)
{
	return n->epoch;
}

struct store *node_store(struct node *n)
{
	return n->store;
}

static void node_applied(void *arg, uint64_t index, const struct entry *e,
			 const struct store_change *ch)
{
	struct node *n = arg;

	if (ch->expiry)
		n->expiry_dirty = true;
	if (n->user_hook != NULL)
		n->user_hook(n->user_arg, index, e, ch);
	/* Followers apply (and replay as inotify events) what they know is
	 * committed: tell them now rather than at the next heartbeat. */
	if (raft_state(&n->raft) == RAFT_LEADER)
		node_nudge(n);
}

void node_set_applied_hook(struct node *n, fsm_applied_cb cb, void *arg)
{
	n->user_hook = cb;
	n->user_arg = arg;
}

static void node_restored(void *arg)
{
	struct node *n = arg;

	n->expiry_dirty = true;
	if (n->restored_cb != NULL)
		n->restored_cb(n->restored_arg);
}

void node_set_restored_hook(struct node *n, void (*cb)(void *arg), void *arg)
{
	n->restored_cb = cb;
	n->restored_arg = arg;
}

/* --- open, start, close ------------------------------------------------------------ */

/* raft_uv (raft 0.15) fires its close callback from uvMaybeFireCloseCb,
 * which every completion during its close calls, once nothing it tracks is
 * left. It does not track the writer of the open segment that its close
 * finalises: that writer's close callback calls it too. If the segment's
 * finalisation (a thread-pool job) is done within the loop iteration of the
 * close, the callback fires from the transport's close, and again from the
 * writer's close right after (fixed in the cowsql/raft fork by its pull
 * request 45). raft's callback (ioCloseCb) frees raft's state and calls
 * ours: it must run once, and raft_uv's own state must outlive the second
 * call, so it is freed in node_free, once the loop has run every close
 * callback. */
static void node_io_closed(struct raft_io *io)
{
	struct node *n = node_of_io(io);

	if (n->io_closed) {
		log_debug("raft_uv called its close callback again: ignored");
		return;
	}
	n->io_closed = true;
	n->raft_io_closed(io);
}

/* raft_io->close, wrapped: raft's callback goes through node_io_closed. */
static void node_io_close(struct raft_io *io, raft_io_close_cb cb)
{
	struct node *n = node_of_io(io);

	n->raft_io_closed = cb;
	n->io_close(io, node_io_closed);
}

int node_raft_setup(struct node *n, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int rv;

	if (node_path_join(path, sizeof(path), n->data_dir, NODE_RAFT_DIR) != 0)
		return -ENAMETOOLONG;
	rv = raft_uv_init(&n->io, n->loop, path, &n->transport);
	if (rv != 0) {
		snprintf(err, errlen, "cannot use raft directory %s: %s", path, n->io.errmsg);
		return -EIO;
	}
	/* raft_uv's auto-recovery deletes a damaged closed segment (and what
	 * follows) at start and goes on without those entries: a voter that
	 * silently forgets entries it acknowledged can help elect a leader
	 * that lacks them. A damaged log is reported instead (node_raft_start)
	 * and the node re-seeded from the cluster (docs/operations.md). The
	 * torn tail of an open segment after a crash is still dropped: raft_uv
	 * does that whatever this setting. */
	raft_uv_set_auto_recovery(&n->io, false);
	n->io_start = n->io.start;
	n->io.start = node_io_start;
	n->io_close = n->io.close;
	n->io.close = node_io_close;
	/* Raft's messages go by raft_link (and the guard) or nowhere: the
	 * transport no longer connects for raft_uv. */
	if (io_guard_wrap(&n->io) != 0) {
		snprintf(err, errlen, "raft's I/O is not raft_uv's: cannot send raft's messages");
		raft_uv_close(&n->io);
		return -EIO;
	}
	io_guard_route(&n->io, n->link);
	n->fsm.markers = snapshot_io_wrap(&n->snap_io, &n->io, n->loop, n->store) == 0;
	rv = raft_init(&n->raft, &n->io, &n->fsm.raft, n->id, n->address);
	if (rv != 0) {
		snprintf(err, errlen, "cannot initialise raft: %s", raft_errmsg(&n->raft));
		raft_uv_close(&n->io);
		return -EIO;
	}
	n->raft_inited = true;
	raft_set_election_timeout(&n->raft, n->cfg.election_timeout_ms);
	raft_set_heartbeat_timeout(&n->raft, n->cfg.heartbeat_ms);
	raft_set_snapshot_threshold(&n->raft, n->cfg.snapshot_threshold);
	raft_set_snapshot_trailing(&n->raft, n->cfg.snapshot_trailing);
	raft_set_pre_vote(&n->raft, true);
	n->raft.data = n;
	return 0;
}

int node_raft_start(struct node *n, char *err, size_t errlen)
{
	int rv = raft_start(&n->raft);

	if (rv == RAFT_CORRUPT || rv == RAFT_IOERR) {
		/* raft_uv names the file (a segment, a snapshot) in its message. */
		snprintf(err, errlen,
			 "the raft log in %s/%s is damaged or unreadable (%s); " NODE_RESEED_ADVICE,
			 n->data_dir, NODE_RAFT_DIR, raft_errmsg(&n->raft));
		return -EUCLEAN;
	}
	if (rv != 0) {
		snprintf(err, errlen, "cannot start raft in %s: %s", n->data_dir,
			 raft_errmsg(&n->raft));
		return -EIO;
	}
	n->raft_started = true;
	node_poll(n);
	return 0;
}

static int node_bootstrap(struct node *n, char *err, size_t errlen)
{
	struct raft_configuration conf;
	int rv;

	raft_configuration_init(&conf);
	rv = raft_configuration_add(&conf, n->id, n->address, RAFT_VOTER);
	if (rv == 0)
		rv = raft_bootstrap(&n->raft, &conf);
	raft_configuration_close(&conf);
	if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
		snprintf(err, errlen, "cannot bootstrap in %s: %s", n->data_dir,
			 raft_errmsg(&n->raft));
		return -EIO;
	}
	rv = node_conf_save(n, false);
	if (rv != 0) {
		snprintf(err, errlen, "cannot write %s/%s: %s", n->data_dir, NODE_CONF,
			 strerror(-rv));
		return rv;
	}
	n->fresh = false;
	log_info("bootstrapped a new cluster: node %llu at %s", (unsigned long long)n->id,
		 n->address);
	return 0;
}

int node_open(struct node **out, uv_loop_t *loop, const struct node_config *cfg, char *err,
	      size_t errlen)
{
	char path[PATH_MAX];
	struct node *n;
	int rv;

	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	n->loop = loop;
	n->cfg = *cfg;
	n->lock_fd = -1;
	if (strlen(cfg->data_dir) >= sizeof(n->data_dir) - 32) {
		snprintf(err, errlen, "--data path is too long");
		rv = -ENAMETOOLONG;
		goto err;
	}
	strcpy(n->data_dir, cfg->data_dir);
	rv = node_mkdir_p(n->data_dir, 0700);
	if (rv != 0) {
		snprintf(err, errlen, "cannot create data directory %s: %s", n->data_dir,
			 strerror(-rv));
		goto err;
	}
	rv = node_lock_dir(n, err, errlen);
	if (rv != 0)
		goto err;

	rv = node_conf_load(n, err, errlen);
	if (rv == 0 && n->removed) {
		snprintf(err, errlen,
			 "node %llu was removed from its cluster; to bring this machine back, empty "
			 "%s (or use another --data) and join again",
			 (unsigned long long)n->id, n->data_dir);
		rv = -EPERM;
		goto err;
	}
	if (rv == 0 && n->restored) {
		/* A store restored from a backup: a new cluster grows from it. */
		n->fresh = true;
	} else if (rv == 0 && n->join_targets[0] != '\0') {
		/* A join that did not complete: start it over, with a new id. */
		log_warn("an earlier join from %s did not complete; joining again", n->data_dir);
		if (cfg->join != NULL && strlen(cfg->join) < sizeof(n->join_targets))
			strcpy(n->join_targets, cfg->join);
		n->fresh = true;
		n->id = 0;
		node_wipe_unfinished(n);
		n->join = JOIN_CONNECTING;
	} else if (rv == -ENOENT && node_has_state(n)) {
		snprintf(err, errlen,
			 "%s holds raft state or a store but no %s; restore it from a backup, "
			 "or remove the directory to start afresh",
			 n->data_dir, NODE_CONF);
		rv = -EUCLEAN;
		goto err;
	} else if (rv == -ENOENT) {
		if (cfg->join == NULL && !cfg->bootstrap) {
			snprintf(err, errlen,
				 "%s holds no node; pass --bootstrap or --join HOST:PORT",
				 n->data_dir);
			rv = -EINVAL;
			goto err;
		}
		n->fresh = true;
		snprintf(n->address, sizeof(n->address), "%s",
			 cfg->address != NULL ? cfg->address : NODE_DEFAULT_ADDRESS);
		if (cfg->join != NULL) {
			if (strlen(cfg->join) >= sizeof(n->join_targets)) {
				snprintf(err, errlen, "--join list is too long");
				rv = -EINVAL;
				goto err;
			}
			strcpy(n->join_targets, cfg->join);
			n->join = JOIN_CONNECTING;
		} else {
			n->id = 1;
		}
	} else if (rv != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "cannot read %s/%s: %s", n->data_dir, NODE_CONF,
				 strerror(-rv));
		goto err;
	} else if (cfg->join != NULL) {
		rv = node_check_same_cluster(n, err, errlen);
		if (rv != 0)
			goto err;
		log_info("%s already holds node %llu of this cluster; ignoring --join", n->data_dir,
			 (unsigned long long)n->id);
	}
	if (!n->fresh) {
		rv = node_check_raft_metadata(n, err, errlen);
		if (rv != 0)
			goto err;
	}
	rv = probe_port(n->address, err, errlen);
	if (rv != 0)
		goto err;
	rv = node_load_key(n, err, errlen);
	if (rv != 0)
		goto err;
	/* From here on a failed join is an unfinished one: a retry starts it
	 * over instead of finding a data directory it refuses. */
	if (n->fresh && n->join != JOIN_NONE) {
		rv = node_conf_save(n, true);
		if (rv != 0) {
			snprintf(err, errlen, "cannot write %s/%s: %s", n->data_dir, NODE_CONF,
				 strerror(-rv));
			goto err;
		}
	}
	/* The ballast, or on a full disk its space for what follows. */
	node_disk_start(n);
	rv = node_bump_epoch(n);
	if (rv != 0) {
		snprintf(err, errlen, "cannot write %s/%s: %s", n->data_dir, NODE_EPOCH,
			 strerror(-rv));
		goto err;
	}
	if (node_path_join(path, sizeof(path), n->data_dir, NODE_STORE) != 0) {
		rv = -ENAMETOOLONG;
		goto err;
	}
	snapshot_install_cleanup(path);
	rv = store_open(path, cfg->validator, &n->store, err, errlen);
	if (rv == -EUCLEAN) {
		size_t used = strlen(err);

		snprintf(err + used, errlen - used, "; " NODE_RESEED_ADVICE);
	}
	if (rv == 0 && store_vacuum_setup(n->store) != 0)
		log_warn("the store keeps its freed pages (no incremental vacuum)");
	if (rv != 0)
		goto err;
	if (node_path_join(path, sizeof(path), n->data_dir, NODE_RAFT_DIR) != 0) {
		rv = -ENAMETOOLONG;
		goto err;
	}
	rv = node_mkdir_p(path, 0700);
	if (rv != 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(-rv));
		goto err;
	}
	fsm_init(&n->fsm, n->store, &n->raft);
	store_set_batching(n->store, true); /* committed in check_cb */
	n->fsm.applied_cb = node_applied;
	n->fsm.applied_arg = n;
	n->fsm.restored_cb = node_restored;
	n->fsm.restored_arg = n;
	rv = transport_init(&n->transport, loop, n->key);
	if (rv != 0) {
		snprintf(err, errlen, "cannot set up the network transport");
		goto err;
	}
	n->transport_ready = true;
	/* DATA/cluster.key (written above) and, during a key rotation, its
	 * .next and .prev companions. */
	transport_set_key_dir(&n->transport, n->data_dir);
	transport_set_peer_cb(&n->transport, node_inbound_accept, n);
	n->link = raft_link_new(loop, &n->transport, node_raft_deliver, n);
	if (n->link == NULL) {
		rv = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	*out = n;
	return 0;
err:
	node_free(n);
	return rv;
}

int node_recover(struct node *n, char *err, size_t errlen)
{
	struct raft_configuration conf;
	int rv;

	if (n->fresh) {
		snprintf(err, errlen, "%s holds no node to recover", n->data_dir);
		return -EINVAL;
	}
	rv = node_raft_setup(n, err, errlen);
	if (rv != 0)
		return rv;
	raft_configuration_init(&conf);
	rv = raft_configuration_add(&conf, n->id, n->address, RAFT_VOTER);
	if (rv == 0)
		rv = raft_recover(&n->raft, &conf);
	raft_configuration_close(&conf);
	if (rv != 0) {
		snprintf(err, errlen, "cannot recover %s: %s", n->data_dir, raft_errmsg(&n->raft));
		return -EIO;
	}
	log_info("node %llu forced a configuration with itself as the only voter",
		 (unsigned long long)n->id);
	return 0;
}

int node_start(struct node *n, char *err, size_t errlen)
{
	int rv;

	uv_timer_init(n->loop, &n->tick);
	n->tick.data = n;
	if (loop_watch_start(n->loop) != 0)
		log_warn("event-loop stalls will not be reported");
	uv_check_init(n->loop, &n->check);
	n->check.data = n;
	uv_timer_init(n->loop, &n->transfer_timer);
	n->transfer_timer.data = n;
	n->handles_ready = true;
	uv_timer_start(&n->tick, tick_cb, NODE_TICK_MS, NODE_TICK_MS);
	uv_check_start(&n->check, check_cb);
	if (n->join != JOIN_NONE) {
		log_info("joining the cluster via %s", n->join_targets);
		node_poll(n); /* raft starts once we have an id */
		return 0;
	}
	rv = node_raft_setup(n, err, errlen);
	if (rv == 0 && n->fresh)
		rv = node_bootstrap(n, err, errlen);
	n->restored = false;
	if (rv == 0)
		rv = node_raft_start(n, err, errlen);
	return rv;
}

static void node_handle_closed(uv_handle_t *h)
{
	struct node *n = h->data;

	if (--n->closing_handles == 0 && n->close_cb != NULL)
		n->close_cb(n->close_arg);
}

static void transport_closed_cb(struct raft_uv_transport *t)
{
	(void)t;
}

static void node_close_handles(struct node *n)
{
	n->closing_handles = 1; /* ourselves, until all closes are issued */
	loop_watch_stop();
	if (n->handles_ready) {
		n->closing_handles += 3;
		uv_close((uv_handle_t *)&n->tick, node_handle_closed);
		uv_close((uv_handle_t *)&n->check, node_handle_closed);
		uv_close((uv_handle_t *)&n->transfer_timer, node_handle_closed);
	}
	node_handle_closed((uv_handle_t *)&n->tick);
}

static void node_raft_closed(struct raft *r)
{
	node_close_handles(r->data);
}

static void node_close_raft(struct node *n);

static void close_wait_cb(uv_timer_t *t)
{
	node_close_raft(t->data);
}

static void node_close_raft(struct node *n)
{
	struct inbound *in;

	uv_timer_stop(&n->transfer_timer);
	/* raft 0.15 must not be closed with log writes in flight (io_guard.h):
	 * wait for them, bounded (a follower may be sent more meanwhile). Nor
	 * with snapshot work of our wrapper in a worker (a WAL sync, an
	 * install), which raft_uv does not know of, so raft's close would not
	 * wait for its callback: from now on the wrapper starts none and ends
	 * what is in flight as cancelled; wait for that too, longer (an
	 * install writes and checks a whole image). */
	if (n->raft_inited && n->handles_ready) {
		bool appends = io_guard_appends_in_flight() > 0 &&
			       n->close_waited_ms < NODE_CLOSE_WAIT_MS;
		bool snapshots = (n->snap_io.syncing || n->snap_io.installing) &&
				 n->close_waited_ms < NODE_CLOSE_SNAPSHOT_WAIT_MS;

		snapshot_io_close(&n->snap_io);
		if (appends || snapshots) {
			n->close_waited_ms += NODE_CLOSE_POLL_MS;
			uv_timer_start(&n->transfer_timer, close_wait_cb, NODE_CLOSE_POLL_MS, 0);
			return;
		}
	}
	if (n->snap_io.syncing || n->snap_io.installing)
		log_warn("closing raft with snapshot work still in a worker after %u ms",
			 n->close_waited_ms);
	if (n->close_waited_ms > 0)
		log_debug("closed raft after waiting %u ms for log writes in flight (%u left) "
			  "and snapshot work",
			  n->close_waited_ms, io_guard_appends_in_flight());
	/* raft sends nothing while it closes; its links go first. */
	io_guard_route(&n->io, NULL);
	raft_link_close(n->link);
	n->link = NULL;
	if (n->lconn != NULL)
		peer_conn_close(n->lconn);
	if (n->jconn != NULL)
		peer_conn_close(n->jconn);
	if (n->tconn != NULL)
		peer_conn_close(n->tconn);
	for (in = n->inbound; in != NULL; in = in->next)
		peer_conn_close(in->c);
	if (n->raft_inited) {
		n->raft.data = n;
		snapshot_io_close(&n->snap_io); /* again: handles_ready may be false */
		raft_close(&n->raft, node_raft_closed);
	} else {
		if (n->transport_ready)
			n->transport.close(&n->transport, transport_closed_cb);
		node_close_handles(n);
	}
}

static void transfer_cb(struct raft_transfer *req)
{
	struct node *n = req->data;

	log_info("handed leadership over");
	if (uv_is_active((uv_handle_t *)&n->transfer_timer)) {
		uv_timer_stop(&n->transfer_timer);
		node_close_raft(n);
	}
}

static void transfer_timeout(uv_timer_t *t)
{
	struct node *n = t->data;

	log_warn("leadership transfer did not complete; closing anyway");
	node_close_raft(n);
}

void node_close(struct node *n, void (*cb)(void *arg), void *arg)
{
	n->close_cb = cb;
	n->close_arg = arg;
	n->closing = true;
	if (n->handles_ready) {
		uv_timer_stop(&n->tick);
		uv_check_stop(&n->check);
	}
	while (n->head != NULL)
		node_req_finish(n->head, -ESHUTDOWN);
	/* A leader that leaves hands over first, so the cluster does not wait
	 * an election timeout for a new one. */
	if (n->raft_started && raft_state(&n->raft) == RAFT_LEADER &&
	    node_count_role(n, RAFT_VOTER) > 1) {
		n->transfer.data = n;
		if (raft_transfer(&n->raft, &n->transfer, 0, transfer_cb) == 0) {
			uv_timer_start(&n->transfer_timer, transfer_timeout, NODE_TRANSFER_MS, 0);
			return;
		}
	}
	node_close_raft(n);
}

void node_free(struct node *n)
{
	if (n == NULL)
		return;
	/* Only now: raft_uv may call back once more after its close (see
	 * node_io_closed). A raft_uv never closed keeps its state: its timer
	 * is still on the loop. */
	if (n->io_closed)
		raft_uv_close(&n->io);
	if (n->link != NULL) { /* never closed: its handles close with the loop */
		io_guard_route(&n->io, NULL);
		raft_link_close(n->link);
	}
	fsm_close(&n->fsm);
	store_close(n->store);
	if (n->transport_ready)
		transport_free(&n->transport);
	if (n->lock_fd >= 0)
		close(n->lock_fd);
	free(n);
}
