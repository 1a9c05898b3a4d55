/*
 * The node: data directory, raft over libuv, proposals; see node.h.
 *
 * Proposals. node_submit() stamps the leader's clock into the entry and
 * hands it to raft_apply(); raft calls back once the entry is committed and
 * applied here. Every request also sits on a FIFO list with its deadline;
 * the tick timer answers ETIMEDOUT for requests past the commit timeout and
 * marks them abandoned, so the late raft callback only frees them. Since all
 * requests share one timeout, the list is ordered by deadline and the sweep
 * only looks at its head.
 *
 * Readiness. raft 0.15 does not append a no-op entry when a node becomes
 * leader, so after a restart the entries of earlier terms are neither
 * committed nor applied until something new is. The node therefore issues a
 * barrier whenever it becomes leader (Raft dissertation §6.4: a leader must
 * commit an entry of its term before serving reads) and is ready once that
 * barrier has been applied.
 */
#include "node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"

#define NODE_CONF "node.conf"
#define NODE_EPOCH "epoch"
#define NODE_LOCK "lock"
#define NODE_RAFT_DIR "raft"
#define NODE_STORE "store.db"
#define NODE_ADDRESS_MAX 256

struct node_req {
	union {
		struct raft_apply apply;
		struct raft_barrier barrier;
	};
	struct node *n;
	node_done_cb cb; /* NULL once answered (timeout) */
	void *arg;
	uint64_t deadline_ms;
	struct node_req *prev, *next;
};

struct node {
	uv_loop_t *loop;
	struct node_config cfg;
	char data_dir[PATH_MAX];
	char address[NODE_ADDRESS_MAX];
	uint64_t id;
	uint32_t epoch;
	int lock_fd;
	bool fresh; /* the data directory was new */

	struct store *store;
	struct fsm fsm;
	struct raft raft;
	struct raft_io io;
	struct raft_uv_transport transport;
	bool raft_started;

	uv_timer_t tick;
	struct node_req *head, *tail; /* in flight, oldest first */

	/* Leadership: a barrier per term in which we lead. */
	uint64_t barrier_term;
	bool barrier_pending;
	bool ready;

	void (*close_cb)(void *arg);
	void *close_arg;
	int closing_handles;
};

void node_config_defaults(struct node_config *c)
{
	memset(c, 0, sizeof(*c));
	c->data_dir = "/var/lib/clusterfsd";
	c->commit_timeout_ms = NODE_DEFAULT_COMMIT_TIMEOUT_MS;
	c->election_timeout_ms = NODE_DEFAULT_ELECTION_TIMEOUT_MS;
	c->heartbeat_ms = NODE_DEFAULT_HEARTBEAT_MS;
	c->snapshot_threshold = NODE_DEFAULT_SNAPSHOT_THRESHOLD;
	c->snapshot_trailing = NODE_DEFAULT_SNAPSHOT_TRAILING;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- data directory ----------------------------------------------------- */

static int path_join(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Write a small file atomically and durably (tmp, fsync, rename, fsync dir). */
static int write_file_atomic(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	size_t len = strlen(text);
	int fd, dfd, rv = 0;

	if (path_join(path, sizeof(path), dir, name) != 0 ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
		rv = errno ? -errno : -EIO;
	close(fd);
	if (rv == 0 && rename(tmp, path) != 0)
		rv = -errno;
	if (rv == 0) {
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	if (rv != 0)
		unlink(tmp);
	return rv;
}

static int read_file(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (path_join(path, sizeof(path), dir, name) != 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* node.conf: "id=N\naddress=HOST:PORT\n". */
static int node_conf_load(struct node *n, char *err, size_t errlen)
{
	char text[1024], addr[NODE_ADDRESS_MAX];
	unsigned long long id;
	int rv = read_file(n->data_dir, NODE_CONF, text, sizeof(text));

	if (rv != 0)
		return rv;
	if (sscanf(text, "id=%llu\naddress=%255s", &id, addr) != 2 || id == 0) {
		snprintf(err, errlen,
			 "%s/%s is corrupt; restore the data directory from a backup or "
			 "start with an empty --data",
			 n->data_dir, NODE_CONF);
		return -EUCLEAN;
	}
	n->id = id;
	if (n->cfg.address != NULL && strcmp(n->cfg.address, addr) != 0) {
		snprintf(err, errlen,
			 "%s belongs to the node at %s, not %s; omit --address or use "
			 "another --data",
			 n->data_dir, addr, n->cfg.address);
		return -EINVAL;
	}
	memcpy(n->address, addr, strlen(addr) + 1);
	return 0;
}

static int node_conf_save(struct node *n)
{
	char text[512];

	snprintf(text, sizeof(text), "id=%llu\naddress=%s\n", (unsigned long long)n->id,
		 n->address);
	return write_file_atomic(n->data_dir, NODE_CONF, text);
}

/* Each start gets a new epoch; it is part of the inode numbers this node
 * allocates, so numbers never repeat even if an entry proposed before a
 * crash commits after the restart. */
static int node_bump_epoch(struct node *n)
{
	char text[32];
	unsigned long epoch = 0;

	if (read_file(n->data_dir, NODE_EPOCH, text, sizeof(text)) == 0)
		epoch = strtoul(text, NULL, 10);
	epoch = (epoch + 1) & 0xffff;
	if (epoch == 0)
		epoch = 1;
	n->epoch = (uint32_t)epoch;
	snprintf(text, sizeof(text), "%lu\n", epoch);
	return write_file_atomic(n->data_dir, NODE_EPOCH, text);
}

static int node_lock_dir(struct node *n, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (path_join(path, sizeof(path), n->data_dir, NODE_LOCK) != 0)
		return -ENAMETOOLONG;
	n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (n->lock_fd < 0) {
		snprintf(err, errlen, "cannot use data directory %s: %s", n->data_dir,
			 strerror(errno));
		return -errno;
	}
	if (flock(n->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "data directory %s is in use by another clusterfsd",
			 n->data_dir);
		return -EBUSY;
	}
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* raft_uv_tcp understands IPv4 dotted quads and a port only. */
static int parse_address(const char *address, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(address, ':');
	char *end;
	long port;

	if (colon == NULL || (size_t)(colon - address) >= sizeof(host))
		return -EINVAL;
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

/* Find out before raft does whether the port is free, to say so plainly. */
static int probe_port(const char *address, char *err, size_t errlen)
{
	struct sockaddr_in sa;
	int fd, one = 1, rv = 0;

	if (parse_address(address, &sa) != 0) {
		snprintf(err, errlen, "bad address '%s'; pass --address IPV4:PORT", address);
		return -EINVAL;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rv = -errno;
		if (rv == -EADDRINUSE)
			snprintf(err, errlen, "port %u is in use; pass --address HOST:PORT",
				 ntohs(sa.sin_port));
		else
			snprintf(err, errlen, "cannot listen on %s: %s", address,
				 strerror(errno));
	}
	close(fd);
	return rv;
}

/* --- requests ------------------------------------------------------------ */

static void req_link(struct node *n, struct node_req *r)
{
	r->prev = n->tail;
	r->next = NULL;
	if (n->tail != NULL)
		n->tail->next = r;
	else
		n->head = r;
	n->tail = r;
}

static void req_unlink(struct node *n, struct node_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		n->head = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	else
		n->tail = r->prev;
	r->prev = r->next = NULL;
}

static struct node_req *req_new(struct node *n, node_done_cb cb, void *arg)
{
	struct node_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->n = n;
	r->cb = cb;
	r->arg = arg;
	r->deadline_ms = now_ms() + n->cfg.commit_timeout_ms;
	return r;
}

/* Map a raft status to the errno the user sees. */
static int64_t raft_status_errno(int status)
{
	switch (status) {
	case 0:
		return 0;
	case RAFT_NOTLEADER:
		return -EROFS;
	case RAFT_LEADERSHIPLOST:
		/* outcome unknown: the entry may still commit (DESIGN §3) */
		return -ETIMEDOUT;
	case RAFT_NOSPACE:
		return -ENOSPC;
	case RAFT_NOMEM:
		return -ENOMEM;
	case RAFT_TOOBIG:
		return -EFBIG;
	default:
		return -EIO;
	}
}

/* Answer a request (unless the timeout already did) and free it. */
static void req_finish(struct node_req *r, int64_t result)
{
	struct node *n = r->n;
	node_done_cb cb = r->cb;
	void *arg = r->arg;

	if (cb != NULL)
		req_unlink(n, r);
	free(r);
	if (cb != NULL)
		cb(arg, result);
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct node_req *r = req->data;

	req_finish(r, status == 0 ? fsm_result(result) : raft_status_errno(status));
}

static void barrier_cb(struct raft_barrier *req, int status)
{
	struct node_req *r = req->data;

	req_finish(r, raft_status_errno(status));
}

/* Why this node cannot commit right now, as an errno. */
static int node_unavailable(struct node *n)
{
	(void)n;
	return -EROFS;
}

int node_submit(struct node *n, struct entry_buf *b, node_done_cb cb, void *arg)
{
	struct raft_buffer buf;
	struct node_req *r;
	int rv;

	if (n->close_cb != NULL || raft_state(&n->raft) != RAFT_LEADER) {
		raft_free(b->base);
		return n->close_cb != NULL ? -ESHUTDOWN : node_unavailable(n);
	}
	r = req_new(n, cb, arg);
	if (r == NULL) {
		raft_free(b->base);
		return -ENOMEM;
	}
	entry_set_stamp(b, wall_ns());
	buf.base = b->base;
	buf.len = b->len;
	r->apply.data = r;
	rv = raft_apply(&n->raft, &r->apply, &buf, 1, apply_cb);
	if (rv != 0) {
		raft_free(b->base);
		free(r);
		return (int)raft_status_errno(rv);
	}
	req_link(n, r);
	return 0;
}

int node_barrier(struct node *n, node_done_cb cb, void *arg)
{
	struct node_req *r;
	int rv;

	if (n->close_cb != NULL || raft_state(&n->raft) != RAFT_LEADER)
		return n->close_cb != NULL ? -ESHUTDOWN : node_unavailable(n);
	r = req_new(n, cb, arg);
	if (r == NULL)
		return -ENOMEM;
	r->barrier.data = r;
	rv = raft_barrier(&n->raft, &r->barrier, barrier_cb);
	if (rv != 0) {
		free(r);
		return (int)raft_status_errno(rv);
	}
	req_link(n, r);
	return 0;
}

/* Requests past their deadline get ETIMEDOUT now; raft's late callback then
 * finds cb == NULL and only frees them. */
static void node_expire(struct node *n)
{
	uint64_t now = now_ms();

	while (n->head != NULL && n->head->deadline_ms <= now) {
		struct node_req *r = n->head;
		node_done_cb cb = r->cb;

		req_unlink(n, r);
		r->cb = NULL;
		cb(r->arg, -ETIMEDOUT);
	}
}

/* --- leadership and readiness --------------------------------------------- */

static void leader_barrier_done(void *arg, int64_t result)
{
	struct node *n = arg;

	n->barrier_pending = false;
	if (result == 0) {
		if (!n->ready)
			log_info("node %llu is leader (term %llu) and has applied index %llu",
				 (unsigned long long)n->id,
				 (unsigned long long)n->raft.current_term,
				 (unsigned long long)n->raft.last_applied);
		n->ready = true;
	} else {
		n->barrier_term = 0; /* try again on the next tick */
	}
}

static void node_poll(struct node *n)
{
	int state = raft_state(&n->raft);

	if (state == RAFT_LEADER && n->barrier_term != n->raft.current_term &&
	    !n->barrier_pending && n->close_cb == NULL) {
		n->barrier_term = n->raft.current_term;
		n->barrier_pending = true;
		if (node_barrier(n, leader_barrier_done, n) != 0) {
			n->barrier_pending = false;
			n->barrier_term = 0;
		}
	}
	if (state != RAFT_LEADER && state != RAFT_FOLLOWER)
		n->ready = n->ready && state != RAFT_UNAVAILABLE;
}

static void tick_cb(uv_timer_t *t)
{
	struct node *n = t->data;

	node_poll(n);
	node_expire(n);
}

bool node_ready(struct node *n)
{
	node_poll(n);
	return n->ready;
}

/* --- status ---------------------------------------------------------------- */

static const char *state_name(int state)
{
	switch (state) {
	case RAFT_LEADER:
		return "leader";
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_CANDIDATE:
		return "candidate";
	default:
		return "unavailable";
	}
}

void node_status(struct node *n, struct node_status *st)
{
	const struct raft_configuration *c = &n->raft.configuration;
	const char *leader_address = NULL;
	raft_id leader = 0;

	memset(st, 0, sizeof(*st));
	st->id = n->id;
	st->address = n->address;
	st->state = state_name(raft_state(&n->raft));
	st->role = "spare";
	for (unsigned i = 0; i < c->n; i++) {
		if (c->servers[i].role == RAFT_VOTER)
			st->voters++;
		if (c->servers[i].id == n->id)
			st->role = c->servers[i].role == RAFT_VOTER     ? "voter"
				   : c->servers[i].role == RAFT_STANDBY ? "standby"
									: "spare";
	}
	st->phase = n->ready ? "member" : "joining";
	st->term = n->raft.current_term;
	st->commit_index = n->raft.commit_index;
	st->applied_index = raft_last_applied(&n->raft);
	st->last_index = raft_last_index(&n->raft);
	raft_leader(&n->raft, &leader, &leader_address);
	st->leader_id = leader;
	st->leader_address = leader_address != NULL ? leader_address : "";
	/* A leader that raft keeps as leader has heard from a majority within
	 * an election timeout (raft steps down otherwise); a follower can commit
	 * through a known leader. */
	st->quorum = leader != 0 && n->ready;
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

void node_set_applied_hook(struct node *n, fsm_applied_cb cb, void *arg)
{
	n->fsm.applied_cb = cb;
	n->fsm.applied_arg = arg;
}

/* --- open, start, close ---------------------------------------------------- */

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
	rv = node_conf_save(n);
	if (rv != 0) {
		snprintf(err, errlen, "cannot write %s/%s: %s", n->data_dir, NODE_CONF,
			 strerror(-rv));
		return rv;
	}
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
	rv = mkdir_p(n->data_dir, 0700);
	if (rv != 0) {
		snprintf(err, errlen, "cannot create data directory %s: %s", n->data_dir,
			 strerror(-rv));
		goto err;
	}
	rv = node_lock_dir(n, err, errlen);
	if (rv != 0)
		goto err;

	rv = node_conf_load(n, err, errlen);
	if (rv == -ENOENT) {
		if (!cfg->bootstrap) {
			snprintf(err, errlen,
				 "%s holds no node; pass --bootstrap to start a new cluster",
				 n->data_dir);
			rv = -EINVAL;
			goto err;
		}
		n->fresh = true;
		n->id = 1;
		snprintf(n->address, sizeof(n->address), "%s",
			 cfg->address != NULL ? cfg->address : NODE_DEFAULT_ADDRESS);
	} else if (rv != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "cannot read %s/%s: %s", n->data_dir, NODE_CONF,
				 strerror(-rv));
		goto err;
	}
	rv = probe_port(n->address, err, errlen);
	if (rv != 0)
		goto err;
	rv = node_bump_epoch(n);
	if (rv != 0) {
		snprintf(err, errlen, "cannot write %s/%s: %s", n->data_dir, NODE_EPOCH,
			 strerror(-rv));
		goto err;
	}

	if (path_join(path, sizeof(path), n->data_dir, NODE_STORE) != 0) {
		rv = -ENAMETOOLONG;
		goto err;
	}
	rv = store_open(path, cfg->validator, &n->store, err, errlen);
	if (rv != 0)
		goto err;

	if (path_join(path, sizeof(path), n->data_dir, NODE_RAFT_DIR) != 0) {
		rv = -ENAMETOOLONG;
		goto err;
	}
	rv = mkdir_p(path, 0700);
	if (rv != 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(-rv));
		goto err;
	}
	fsm_init(&n->fsm, n->store, &n->raft);
	rv = raft_uv_tcp_init(&n->transport, loop);
	if (rv != 0) {
		snprintf(err, errlen, "cannot set up the network transport");
		rv = -ENOMEM;
		goto err;
	}
	rv = raft_uv_init(&n->io, loop, path, &n->transport);
	if (rv != 0) {
		snprintf(err, errlen, "cannot use raft directory %s: %s", path, n->io.errmsg);
		raft_uv_tcp_close(&n->transport);
		rv = -EIO;
		goto err;
	}
	rv = raft_init(&n->raft, &n->io, &n->fsm.raft, n->id, n->address);
	if (rv != 0) {
		snprintf(err, errlen, "cannot initialise raft: %s", raft_errmsg(&n->raft));
		raft_uv_close(&n->io);
		raft_uv_tcp_close(&n->transport);
		rv = -EIO;
		goto err;
	}
	raft_set_election_timeout(&n->raft, cfg->election_timeout_ms);
	raft_set_heartbeat_timeout(&n->raft, cfg->heartbeat_ms);
	raft_set_snapshot_threshold(&n->raft, cfg->snapshot_threshold);
	raft_set_snapshot_trailing(&n->raft, cfg->snapshot_trailing);
	raft_set_pre_vote(&n->raft, true);
	n->raft.data = n;

	if (n->fresh) {
		rv = node_bootstrap(n, err, errlen);
		if (rv != 0)
			goto err_raft;
	}
	*out = n;
	return 0;

err_raft:
	/* Undoing raft_init needs raft_close and a running loop; the caller
	 * exits on any failure here, so leave it to the process exit. */
	*out = NULL;
	return rv;
err:
	node_free(n);
	return rv;
}

int node_start(struct node *n, char *err, size_t errlen)
{
	int rv = raft_start(&n->raft);

	if (rv != 0) {
		snprintf(err, errlen, "cannot start raft in %s: %s", n->data_dir,
			 raft_errmsg(&n->raft));
		return rv == RAFT_CORRUPT ? -EUCLEAN : -EIO;
	}
	n->raft_started = true;
	uv_timer_init(n->loop, &n->tick);
	n->tick.data = n;
	uv_timer_start(&n->tick, tick_cb, NODE_TICK_MS, NODE_TICK_MS);
	node_poll(n);
	return 0;
}

static void node_handle_closed(uv_handle_t *h)
{
	struct node *n = h->data;

	if (--n->closing_handles == 0 && n->close_cb != NULL)
		n->close_cb(n->close_arg);
}

static void node_raft_closed(struct raft *r)
{
	struct node *n = r->data;

	raft_uv_close(&n->io);
	raft_uv_tcp_close(&n->transport);
	n->closing_handles = 1;
	if (n->raft_started) {
		uv_close((uv_handle_t *)&n->tick, node_handle_closed);
	} else {
		n->closing_handles = 0;
		n->close_cb(n->close_arg);
	}
}

void node_close(struct node *n, void (*cb)(void *arg), void *arg)
{
	n->close_cb = cb;
	n->close_arg = arg;
	if (n->raft_started)
		uv_timer_stop(&n->tick);
	/* Requests still in flight get their answer from raft's close (it
	 * fails pending requests with RAFT_SHUTDOWN... which 0.15 only does for
	 * some); answer any left ourselves. */
	while (n->head != NULL) {
		struct node_req *r = n->head;
		node_done_cb done = r->cb;

		req_unlink(n, r);
		r->cb = NULL;
		done(r->arg, -ESHUTDOWN);
	}
	raft_close(&n->raft, node_raft_closed);
}

void node_free(struct node *n)
{
	if (n == NULL)
		return;
	store_close(n->store);
	if (n->lock_fd >= 0)
		close(n->lock_fd);
	free(n);
}
