/*
 * clusterfsctl: talk to the local node through its mount (DESIGN §2).
 *
 * It needs no socket of its own: the node publishes its state in the
 * generated files under MOUNT/.cluster/, so the tool works wherever the
 * mount is visible and with the permissions of the mount.
 *
 * Exit status (docs/operations.md): 0 success; 1 refused (a lease held by
 * another holder, an invalid value, a failed command); 2 bad usage; 3 the
 * cluster cannot answer (not mounted, no leader, no quorum, a timeout).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "../common/version.h"
#include "../fs/ns.h"
#include "../replication/node.h"
#include "../replication/peer.h"
#include "../replication/transport.h"

#define DEFAULT_MOUNT "/var/lib/clusterfs"
#define FUSE_SUPER_MAGIC 0x65735546
#define STATUS_MAX 8192
#define WAIT_POLL_MS 100
#define WAIT_DEFAULT_S 60
/* How long `remove` keeps trying (a leader change may be under way). */
#define REMOVE_TIMEOUT_MS 15000
#define REMOVE_RETRY_MS 300
#define TOKEN_MAX 4096

enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,
	EXIT_USAGE = 2,
	EXIT_UNAVAILABLE = 3,
};

/* `lease acquire --wait`: the longest pause between attempts (a deletion
 * of a lease file, seen through inotify, ends a pause at once). */
#define LEASE_RETRY_MAX_MS 2000
#define LEASE_RETRY_MIN_MS 50
/* `lease release`: how long to wait for the file to leave this node's view. */
#define LEASE_GONE_POLL_MS 5
/* The longest --timeout (a year): keeps the arithmetic in range. */
#define LEASE_TIMEOUT_MAX_S 31536000.0
#define LEASE_GONE_POLLS 400
/* Keep in step with fs/frontend.c. */
#define XATTR_ACQUIRE "user.clusterfs.acquire"

/* Errors that say the cluster could not decide, not that it said no. */
static int exit_for(int err)
{
	switch (err) {
	case EROFS:
	case ETIMEDOUT:
	case ESHUTDOWN:
	case ENOTCONN:
	case ECONNABORTED:
		return EXIT_UNAVAILABLE;
	default:
		return EXIT_REFUSED;
	}
}

struct status {
	char text[STATUS_MAX];
	const char *keys[32];
	const char *values[32];
	int n;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: clusterfsctl [--mount DIR] [--json] COMMAND\n"
		     "commands:\n"
		     "  status               show this node's state; exit 0 if it can commit\n"
		     "  wait [--timeout S]   wait until status would succeed (default 60 s)\n"
		     "  members              list the cluster's members\n"
		     "  remove NODE_ID       remove a member (root)\n"
		     "  join-token           print the line `clusterfsd --join-token` takes (root)\n"
		     "  sync                 wait until this node has applied everything committed\n"
		     "                       anywhere before the call (a linearizable read point)\n"
		     "  lease acquire NAME... --holder H --ttl S [--wait [--timeout S]]\n"
		     "                       take (or renew) every NAME or none of them\n"
		     "  lease release NAME --holder H\n"
		     "  backup FILE          write a consistent copy of the whole tree (root)\n"
		     "  restore FILE --data DIR [--address HOST:PORT]\n"
		     "                       offline: seed a new cluster's first node from a backup\n"
		     "exit status: 0 ok, 1 refused or busy, 2 usage, 3 no quorum or timeout\n");
}

static const char *status_get(const struct status *st, const char *key)
{
	for (int i = 0; i < st->n; i++)
		if (strcmp(st->keys[i], key) == 0)
			return st->values[i];
	return "";
}

/* Read MOUNT/.cluster/status; 0, or -errno with *why set. */
static int status_read(const char *mount, struct status *st, const char **why)
{
	char path[4096];
	struct statfs sfs;
	ssize_t n;
	int fd;

	if (statfs(mount, &sfs) != 0 || (unsigned long)sfs.f_type != FUSE_SUPER_MAGIC) {
		*why = "is not mounted (is clusterfsd running?)";
		return -ENOENT;
	}
	snprintf(path, sizeof(path), "%s/.cluster/status", mount);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*why = "is not a clusterfs mount";
		return -errno;
	}
	n = read(fd, st->text, sizeof(st->text) - 1);
	close(fd);
	if (n < 0) {
		*why = "status cannot be read";
		return -errno;
	}
	st->text[n] = '\0';
	st->n = 0;
	for (char *line = strtok(st->text, "\n"); line != NULL && st->n < 32;
	     line = strtok(NULL, "\n")) {
		char *eq = strchr(line, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		st->keys[st->n] = line;
		st->values[st->n] = eq + 1;
		st->n++;
	}
	return 0;
}

/* Mounted, a leader known, and this node able to commit. */
static bool status_healthy(const struct status *st)
{
	return strcmp(status_get(st, "leader"), "0") != 0 && status_get(st, "leader")[0] != '\0' &&
	       strcmp(status_get(st, "quorum"), "yes") == 0;
}

static void json_string(const char *v)
{
	putchar('"');
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		putchar(*p);
	}
	putchar('"');
}

static void status_print(const struct status *st, bool json)
{
	if (json) {
		printf("{");
		for (int i = 0; i < st->n; i++) {
			const char *v = st->values[i];
			bool num = v[0] != '\0' && strspn(v, "0123456789") == strlen(v);

			printf("%s\"%s\": ", i ? ", " : "", st->keys[i]);
			if (num)
				printf("%s", v);
			else
				json_string(v);
		}
		printf(", \"healthy\": %s}\n", status_healthy(st) ? "true" : "false");
		return;
	}
	for (int i = 0; i < st->n; i++)
		printf("%-15s %s\n", st->keys[i], st->values[i]);
}

static int cmd_status(const char *mount, bool json)
{
	struct status st;
	const char *why = "";

	if (status_read(mount, &st, &why) != 0) {
		if (json)
			printf("{\"healthy\": false, \"error\": \"%s %s\"}\n", mount, why);
		fprintf(stderr, "clusterfsctl: %s %s\n", mount, why);
		return EXIT_UNAVAILABLE;
	}
	status_print(&st, json);
	if (!status_healthy(&st)) {
		fprintf(stderr, "clusterfsctl: node %s cannot commit: %s\n", status_get(&st, "id"),
			strcmp(status_get(&st, "leader"), "0") == 0 ? "no leader known"
								    : "no quorum");
		return EXIT_UNAVAILABLE;
	}
	return 0;
}

static int cmd_wait(const char *mount, bool json, double timeout_s)
{
	struct timespec start, now, pause = {0, WAIT_POLL_MS * 1000000L};
	struct status st;
	const char *why = "is not mounted";

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (status_read(mount, &st, &why) == 0 && status_healthy(&st)) {
			if (json)
				status_print(&st, true);
			return 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 >=
		    timeout_s)
			break;
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, "clusterfsctl: %s was not ready after %g s (%s)\n", mount, timeout_s,
		st.n > 0 ? "no leader or no quorum" : why);
	return EXIT_UNAVAILABLE;
}

/* Read MOUNT/DIR/NAME into buf (NUL-terminated): its length, or -errno. */
static int read_mount_file(const char *mount, const char *dir, const char *name, char *buf,
			   size_t cap)
{
	char path[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", mount, dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

/* Read MOUNT/.cluster/NAME into buf. 0 or -errno. */
static int read_cluster_file(const char *mount, const char *name, char *buf, size_t cap)
{
	int n = read_mount_file(mount, ".cluster", name, buf, cap);

	return n < 0 ? n : 0;
}

static int cmd_members(const char *mount, bool json)
{
	char text[65536];
	int rv = read_cluster_file(mount, "members", text, sizeof(text));
	bool first = true;
	char *save = NULL;

	if (rv != 0) {
		fprintf(stderr, "clusterfsctl: cannot read %s/.cluster/members: %s\n", mount,
			strerror(-rv));
		return 1;
	}
	if (json)
		printf("[");
	else
		printf("%-6s %-28s %-8s %-10s %s\n", "ID", "ADDRESS", "ROLE", "REACHABLE", "");
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char id[32], addr[300], role[16], reach[16], leader[16] = "";

		if (sscanf(line, "%31s %299s %15s %15s %15s", id, addr, role, reach, leader) < 4)
			continue;
		if (json) {
			printf("%s{\"id\": %s, \"address\": \"%s\", \"role\": \"%s\", "
			       "\"reachable\": \"%s\", \"leader\": %s}",
			       first ? "" : ", ", id, addr, role, reach,
			       leader[0] ? "true" : "false");
		} else {
			printf("%-6s %-28s %-8s %-10s %s\n", id, addr, role, reach, leader);
		}
		first = false;
	}
	if (json)
		printf("]\n");
	return 0;
}

static int cmd_join_token(const char *mount)
{
	char token[TOKEN_MAX];
	int rv = read_cluster_file(mount, "join-token", token, sizeof(token));

	if (rv != 0) {
		fprintf(stderr, "clusterfsctl: cannot read the join token from %s: %s%s\n", mount,
			strerror(-rv), rv == -EACCES ? " (it holds the cluster key: run as root)" : "");
		return 1;
	}
	fputs(token, stdout);
	return 0;
}

static int cmd_sync(const char *mount)
{
	char path[4096];
	int fd, err;

	/* fsync is a barrier through the leader (DESIGN §3); on a .cluster/
	 * file it also waits until this node's kernel caches have caught up
	 * with everything applied (see fs_fsync), so what we read next is at
	 * least as new as the sync point. */
	snprintf(path, sizeof(path), "%s/.cluster/status", mount);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fsync(fd) == 0) {
		close(fd);
		return 0;
	}
	err = errno;
	fprintf(stderr, "clusterfsctl: sync through %s failed: %s\n", mount, strerror(err));
	if (fd >= 0)
		close(fd);
	return fd < 0 ? EXIT_UNAVAILABLE : exit_for(err);
}

/* `remove`: ask the leader over the node protocol, authenticated with the
 * cluster key from the join token (root only). Followers answer with a
 * redirect; a leader removing itself first hands leadership over (EAGAIN). */
struct remove_ctx {
	uv_loop_t loop;
	uv_timer_t timer;
	struct raft_uv_transport rt;
	uint64_t id;
	char members[TOKEN_MAX];
	char target[TRANSPORT_ADDRESS_MAX + 1];
	size_t next;
	uint64_t deadline;
	int result; /* 1: still trying */
	const char *why;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void remove_try(struct remove_ctx *c);

static void remove_timer(uv_timer_t *t)
{
	remove_try(t->data);
}

static void remove_retry(struct remove_ctx *c, const char *why)
{
	c->why = why;
	if (mono_ms() >= c->deadline) {
		c->result = 1;
		uv_stop(&c->loop);
		return;
	}
	uv_timer_start(&c->timer, remove_timer, REMOVE_RETRY_MS, 0);
}

static void remove_msg(struct peer_conn *conn, const struct peer_msg *m)
{
	struct remove_ctx *c = peer_conn_data(conn);

	if (!m->response)
		return;
	peer_conn_close(conn);
	if (m->status == 0) {
		c->result = 0;
		uv_stop(&c->loop);
	} else if (m->status == PEER_REDIRECT && m->len > 0 && m->len <= TRANSPORT_ADDRESS_MAX) {
		memcpy(c->target, m->data, m->len);
		c->target[m->len] = '\0';
		remove_retry(c, "redirected to the leader");
	} else if (m->status == -EAGAIN || m->status == -EBUSY || m->status == -EROFS) {
		c->target[0] = '\0';
		remove_retry(c, strerror((int)-m->status));
	} else {
		c->result = (int)-m->status;
		c->why = strerror((int)-m->status);
		uv_stop(&c->loop);
	}
}

static void remove_closed(struct peer_conn *conn)
{
	(void)conn;
}

static void remove_connected(void *arg, uv_stream_t *stream, uint64_t id, const char *address,
			     int status)
{
	struct remove_ctx *c = arg;
	struct peer_conn *conn;

	(void)id;
	(void)address;
	if (status != 0) {
		c->target[0] = '\0';
		remove_retry(c, status == -EACCES ? "the cluster refused the key" : strerror(-status));
		return;
	}
	conn = peer_conn_new(stream, 0, remove_msg, remove_closed, c);
	if (conn == NULL) {
		remove_retry(c, "out of memory");
		return;
	}
	struct peer_msg m = {.type = PEER_REMOVE, .seq = 1, .value = c->id};
	peer_conn_send(conn, &m);
}

static void remove_try(struct remove_ctx *c)
{
	if (c->target[0] == '\0') {
		/* round robin over the members in the token */
		const char *list = c->members;
		size_t len = strlen(list), start = c->next < len ? c->next : 0, end = start;

		while (end < len && list[end] != ',')
			end++;
		if (end == start || end - start > TRANSPORT_ADDRESS_MAX) {
			c->result = EINVAL;
			c->why = "no member address in the join token";
			uv_stop(&c->loop);
			return;
		}
		memcpy(c->target, list + start, end - start);
		c->target[end - start] = '\0';
		c->next = end + 1;
	}
	if (transport_connect_peer(&c->rt, 0, "clusterfsctl", c->target, remove_connected, c) != 0)
		remove_retry(c, "cannot connect");
}

static void remove_transport_closed(struct raft_uv_transport *t)
{
	(void)t;
}

static void walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int cmd_remove(const char *mount, const char *id_text)
{
	static struct remove_ctx c;
	uint8_t key[TRANSPORT_KEY_SIZE];
	char token[TOKEN_MAX], *end;
	unsigned long long id = strtoull(id_text, &end, 10);
	int rv;

	if (*end != '\0' || id == 0) {
		fprintf(stderr, "clusterfsctl: remove needs a node id (see `clusterfsctl members`)\n");
		return 2;
	}
	rv = read_cluster_file(mount, "join-token", token, sizeof(token));
	if (rv != 0) {
		fprintf(stderr, "clusterfsctl: cannot read the cluster key through %s: %s%s\n", mount,
			strerror(-rv), rv == -EACCES ? " (run as root)" : "");
		return 1;
	}
	token[strcspn(token, "\n")] = '\0';
	if (node_parse_join_token(token, key, c.members, sizeof(c.members)) != 0) {
		fprintf(stderr, "clusterfsctl: %s/.cluster/join-token is not a join token\n", mount);
		return 1;
	}
	c.id = id;
	c.result = -1;
	c.deadline = mono_ms() + REMOVE_TIMEOUT_MS;
	uv_loop_init(&c.loop);
	uv_timer_init(&c.loop, &c.timer);
	c.timer.data = &c;
	if (transport_init(&c.rt, &c.loop, key) != 0) {
		fprintf(stderr, "clusterfsctl: cannot set up the transport\n");
		return 1;
	}
	remove_try(&c);
	uv_run(&c.loop, UV_RUN_DEFAULT);
	c.rt.close(&c.rt, remove_transport_closed);
	uv_walk(&c.loop, walk_close, NULL);
	uv_run(&c.loop, UV_RUN_DEFAULT);
	uv_loop_close(&c.loop);
	transport_free(&c.rt);
	if (c.result == 0) {
		printf("node %llu removed\n", id);
		return 0;
	}
	fprintf(stderr, "clusterfsctl: could not remove node %llu: %s\n", id,
		c.why ? c.why : "no answer");
	return c.result == 1 ? EXIT_UNAVAILABLE : EXIT_REFUSED;
}

#define SQLITE_MAGIC "SQLite format 3"

static int cmd_backup(const char *mount, const char *file)
{
	char src[4096], tmp[4096], buf[1 << 16];
	size_t total = 0;
	int in, out, rv = 0;
	ssize_t n;

	snprintf(src, sizeof(src), "%s/.cluster/backup", mount);
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		fprintf(stderr, "clusterfsctl: cannot read %s: %s%s\n", src, strerror(errno),
			errno == EACCES ? " (run as root)" : "");
		return 1;
	}
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		fprintf(stderr, "clusterfsctl: cannot write %s: %s\n", tmp, strerror(errno));
		close(in);
		return 1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (total == 0 && (n < 16 || memcmp(buf, SQLITE_MAGIC, 15) != 0)) {
			rv = -EPROTO;
			break;
		}
		if (write(out, buf, (size_t)n) != n) {
			rv = -errno;
			break;
		}
		total += (size_t)n;
	}
	if (n < 0)
		rv = -errno;
	if (rv == 0 && fsync(out) != 0)
		rv = -errno;
	close(in);
	close(out);
	if (rv == 0 && total == 0)
		rv = -ENODATA;
	if (rv == 0 && rename(tmp, file) != 0)
		rv = -errno;
	if (rv != 0) {
		unlink(tmp);
		fprintf(stderr, "clusterfsctl: backup to %s failed: %s\n", file, strerror(-rv));
		return 1;
	}
	printf("backup of %s written to %s (%zu bytes)\n", mount, file, total);
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	char buf[1 << 16];
	int in = open(from, O_RDONLY | O_CLOEXEC), out, rv = 0;
	ssize_t n;

	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		rv = -errno;
		close(in);
		return rv;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rv = -EIO;
			break;
		}
	if (n < 0)
		rv = -errno;
	if (rv == 0 && fsync(out) != 0)
		rv = -errno;
	close(in);
	close(out);
	return rv;
}

/* Offline: DIR becomes the data directory of the first node of a new
 * cluster whose tree is the backup's. */
static int cmd_restore(const char *file, const char *data, const char *address)
{
	char path[4096], err[512] = "", conf[1024];
	struct store *s;
	int64_t id;
	int rv, fd;

	if (data == NULL) {
		fprintf(stderr, "clusterfsctl: restore needs --data DIR (a new, empty directory)\n");
		return 2;
	}
	if (mkdir(data, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "clusterfsctl: cannot create %s: %s\n", data, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/node.conf", data);
	if (access(path, F_OK) == 0) {
		fprintf(stderr, "clusterfsctl: %s already holds a node; restore into an empty "
				"directory\n", data);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/store.db", data);
	rv = copy_file(file, path);
	if (rv != 0) {
		fprintf(stderr, "clusterfsctl: cannot copy %s to %s: %s\n", file, path,
			strerror(-rv));
		return 1;
	}
	rv = store_open(path, NULL, &s, err, sizeof(err));
	if (rv != 0) {
		unlink(path);
		fprintf(stderr, "clusterfsctl: %s is not a clusterfs backup: %s\n", file, err);
		return 1;
	}
	id = store_reseed(s);
	store_close(s);
	if (id < 0) {
		unlink(path);
		fprintf(stderr, "clusterfsctl: cannot prepare %s: %s\n", path, strerror((int)-id));
		return 1;
	}
	snprintf(conf, sizeof(conf), "id=%lld\naddress=%s\nrestored=1\n", (long long)id,
		 address != NULL ? address : NODE_DEFAULT_ADDRESS);
	snprintf(path, sizeof(path), "%s/node.conf", data);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, conf, strlen(conf)) != (ssize_t)strlen(conf) || fsync(fd) != 0) {
		fprintf(stderr, "clusterfsctl: cannot write %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	close(fd);
	printf("%s is ready: `clusterfsd --data %s --mount DIR` starts a new cluster (node %lld) "
	       "with the backup's tree; other nodes join it afresh\n",
	       data, data, (long long)id);
	return 0;
}

/* --- lease -------------------------------------------------------------------------
 *
 * Through the mount like everything else: `acquire` sets the
 * user.clusterfs.acquire xattr on leases/ (one entry: all of the names or
 * none, see fs/frontend.c), `release` writes ttl=0 to the lease's file. */

#define LEASE_NAMES_MAX ENTRY_MULTI_MAX

struct lease_args {
	const char *mount;
	bool json;
	const char *holder;
	long long ttl;
	bool wait;
	double timeout_s; /* < 0: no limit */
	const char *names[LEASE_NAMES_MAX];
	int n;
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The lease file's parsed content. 0, -ENOENT or -errno. */
static int lease_read(const char *mount, const char *name, struct ns_lease *l)
{
	char text[1024];
	int n = read_mount_file(mount, "leases", name, text, sizeof(text));

	if (n < 0)
		return n;
	return ns_leases_parse(text, (size_t)n, l) == 0 && l->has_times ? 0 : -EPROTO;
}


static void format_ms(int64_t ms, char *out, size_t cap)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* After EBUSY: who holds what, until when. Returns how long until the first
 * of them expires (ms, at least 0), or -1 if none is known to. */
static int64_t lease_report_busy(const struct lease_args *a, bool print)
{
	int64_t now = wall_ms(), soonest = -1;
	bool first = true;

	if (print && a->json)
		printf("{\"acquired\": false, \"busy\": [");
	for (int i = 0; i < a->n; i++) {
		struct ns_lease l;
		char until[40];
		int64_t left;

		if (lease_read(a->mount, a->names[i], &l) != 0 || strcmp(l.holder, a->holder) == 0 ||
		    l.expires_ms <= now)
			continue;
		left = l.expires_ms - now;
		if (soonest < 0 || left < soonest)
			soonest = left;
		if (!print)
			continue;
		format_ms(l.expires_ms, until, sizeof(until));
		if (a->json) {
			printf("%s{\"name\": ", first ? "" : ", ");
			json_string(a->names[i]);
			printf(", \"holder\": ");
			json_string(l.holder);
			printf(", \"expires\": \"%s\", \"retry_in\": %.1f}", until, left / 1000.0);
		} else {
			fprintf(stderr,
				"clusterfsctl: lease %s is held by %s until %s (retry in %lld s)\n",
				a->names[i], l.holder, until, (long long)((left + 999) / 1000));
		}
		first = false;
	}
	if (print && a->json)
		printf("]}\n");
	return soonest;
}

static void lease_report_acquired(const struct lease_args *a)
{
	if (a->json)
		printf("{\"acquired\": true, \"holder\": \"%s\", \"leases\": [", a->holder);
	for (int i = 0; i < a->n; i++) {
		struct ns_lease l;
		char until[40] = "?";

		if (lease_read(a->mount, a->names[i], &l) == 0)
			format_ms(l.expires_ms, until, sizeof(until));
		if (a->json) {
			printf("%s{\"name\": ", i ? ", " : "");
			json_string(a->names[i]);
			printf(", \"expires\": \"%s\"}", until);
		} else {
			printf("lease %s held by %s until %s\n", a->names[i], a->holder, until);
		}
	}
	if (a->json)
		printf("]}\n");
}

/* One attempt: 0 or -errno (EBUSY: someone else holds one of them). */
static int lease_try(const struct lease_args *a)
{
	char dir[4096], value[LEASE_NAMES_MAX * 257 + 256];
	size_t used;

	snprintf(dir, sizeof(dir), "%s/leases", a->mount);
	used = (size_t)snprintf(value, sizeof(value), "holder=%s ttl=%lld names=", a->holder,
				a->ttl);
	for (int i = 0; i < a->n && used < sizeof(value); i++)
		used += (size_t)snprintf(value + used, sizeof(value) - used, "%s%s", i ? "," : "",
					 a->names[i]);
	if (used >= sizeof(value))
		return -E2BIG;
	return setxattr(dir, XATTR_ACQUIRE, value, used, 0) == 0 ? 0 : -errno;
}

static int lease_acquire(const struct lease_args *a)
{
	char dir[4096];
	/* (the deadline on the monotonic clock: a clock step must not move it) */
	int64_t deadline = a->timeout_s >= 0 ? (int64_t)mono_ms() + (int64_t)(a->timeout_s * 1000) : -1;
	int64_t backoff = LEASE_RETRY_MIN_MS;
	int ifd = -1, rv;

	snprintf(dir, sizeof(dir), "%s/leases", a->mount);
	for (;;) {
		int64_t soonest, pause;

		rv = lease_try(a);
		if (rv == 0) {
			lease_report_acquired(a);
			break;
		}
		if (rv != -EBUSY || !a->wait)
			break;
		soonest = lease_report_busy(a, false);
		pause = soonest >= 0 && soonest < backoff ? soonest + 1 : backoff;
		if (deadline >= 0 && (int64_t)mono_ms() + pause > deadline) {
			if ((int64_t)mono_ms() >= deadline)
				break;
			pause = deadline - (int64_t)mono_ms();
		}
		/* A lease file deleted or rewritten (released, expired) ends the
		 * pause at once; no event is lost to a race: we retry anyway. */
		if (ifd < 0) {
			ifd = inotify_init1(IN_CLOEXEC);
			if (ifd >= 0 && inotify_add_watch(ifd, dir, IN_DELETE | IN_CLOSE_WRITE) < 0) {
				close(ifd);
				ifd = -1;
			}
		}
		if (ifd >= 0) {
			struct pollfd pfd = {.fd = ifd, .events = POLLIN};
			char buf[4096];

			if (poll(&pfd, 1, (int)pause) > 0 && read(ifd, buf, sizeof(buf)) < 0)
				break;
		} else {
			struct timespec ts = {pause / 1000, (pause % 1000) * 1000000L};

			nanosleep(&ts, NULL);
		}
		backoff = backoff * 2 > LEASE_RETRY_MAX_MS ? LEASE_RETRY_MAX_MS : backoff * 2;
	}
	if (ifd >= 0)
		close(ifd);
	if (rv == 0)
		return EXIT_OK;
	if (rv == -EBUSY) {
		lease_report_busy(a, true);
		if (a->wait)
			fprintf(stderr, "clusterfsctl: gave up after %g s\n", a->timeout_s);
		return EXIT_REFUSED;
	}
	if (a->json)
		printf("{\"acquired\": false, \"error\": \"%s\"}\n", strerror(-rv));
	fprintf(stderr, "clusterfsctl: cannot acquire: %s%s\n", strerror(-rv),
		rv == -EINVAL ? " (lease names are letters, digits, '.', '-', '_'; holders the "
				"same plus ':@/+'; ttl at most a year)"
			      : "");
	return exit_for(-rv);
}

static int lease_release(const struct lease_args *a)
{
	char path[4096], text[300];
	int fd, rv = 0, len;

	snprintf(path, sizeof(path), "%s/leases/%s", a->mount, a->names[0]);
	len = snprintf(text, sizeof(text), "holder=%s ttl=0\n", a->holder);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0 || write(fd, text, (size_t)len) != len)
		rv = -errno;
	if (fd >= 0)
		close(fd);
	if (rv == 0) {
		/* The release removes the file; its removal reaches this node's
		 * kernel a moment later (replayed like a remote change): wait a
		 * little for it, so that a script's next `ls` agrees. */
		struct stat sb;

		for (int i = 0; i < LEASE_GONE_POLLS && stat(path, &sb) == 0; i++) {
			struct timespec ts = {0, LEASE_GONE_POLL_MS * 1000000L};

			nanosleep(&ts, NULL);
		}
	}
	if (rv == 0 || rv == -ENOENT) {
		if (a->json)
			printf("{\"released\": true, \"name\": \"%s\", \"was_held\": %s}\n",
			       a->names[0], rv == 0 ? "true" : "false");
		else if (rv == 0)
			printf("lease %s released\n", a->names[0]);
		else
			printf("lease %s was not held\n", a->names[0]);
		return EXIT_OK;
	}
	if (rv == -EBUSY) {
		lease_report_busy(a, true);
		return EXIT_REFUSED;
	}
	fprintf(stderr, "clusterfsctl: cannot release %s: %s\n", a->names[0], strerror(-rv));
	return exit_for(-rv);
}

static int cmd_lease(const char *mount, bool json, int argc, char **argv)
{
	static const struct option opts[] = {
		{"holder", required_argument, NULL, 'H'}, {"ttl", required_argument, NULL, 'T'},
		{"wait", no_argument, NULL, 'w'},	  {"timeout", required_argument, NULL, 't'},
		{"mount", required_argument, NULL, 'm'},  {"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	struct lease_args a = {.mount = mount, .json = json, .ttl = -1, .timeout_s = -1};
	const char *sub;
	char *end;
	int opt;

	if (argc < 1) {
		fprintf(stderr, "clusterfsctl: usage: lease acquire|release NAME... --holder H\n");
		return EXIT_USAGE;
	}
	sub = argv[0];
	optind = 0; /* restart getopt on the sub-command's arguments */
	for (;;) {
		opt = getopt_long(argc, argv, "+", opts, NULL);
		if (opt == -1) {
			if (optind < argc) {
				if (a.n == LEASE_NAMES_MAX) {
					fprintf(stderr, "clusterfsctl: at most %d leases at once\n",
						LEASE_NAMES_MAX);
					return EXIT_USAGE;
				}
				a.names[a.n++] = argv[optind++];
				continue;
			}
			break;
		}
		switch (opt) {
		case 'H':
			a.holder = optarg;
			break;
		case 'T':
			a.ttl = strtoll(optarg, &end, 10);
			if (*end != '\0' || end == optarg || a.ttl <= 0 || a.ttl > NS_LEASE_TTL_MAX) {
				fprintf(stderr, "clusterfsctl: --ttl needs whole seconds, 1 to %u\n",
					NS_LEASE_TTL_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'w':
			a.wait = true;
			break;
		case 't':
			a.timeout_s = strtod(optarg, &end);
			if (*end != '\0' || end == optarg || !(a.timeout_s >= 0) ||
			    a.timeout_s > LEASE_TIMEOUT_MAX_S) {
				fprintf(stderr, "clusterfsctl: --timeout needs seconds\n");
				return EXIT_USAGE;
			}
			break;
		case 'm':
			a.mount = optarg;
			break;
		case 'j':
			a.json = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (a.holder == NULL || a.n == 0) {
		fprintf(stderr, "clusterfsctl: lease %s needs NAME and --holder H\n", sub);
		return EXIT_USAGE;
	}
	/* Refused here too, so that a NAME like ../routing/x never reaches a
	 * path and a holder always fits a lease's content. */
	for (int i = 0; i < a.n; i++) {
		if (ns_leases_check_name(a.names[i], strlen(a.names[i])) != 0) {
			fprintf(stderr, "clusterfsctl: '%s' is not a lease name (letters, digits, "
					"'.', '-', '_', starting with a letter or digit)\n",
				a.names[i]);
			return EXIT_USAGE;
		}
	}
	{
		char probe[NS_LEASE_HOLDER_MAX + 32];
		struct ns_lease l;
		int n = snprintf(probe, sizeof(probe), "holder=%s ttl=1", a.holder);

		if (n < 0 || (size_t)n >= sizeof(probe) ||
		    ns_leases_parse(probe, (size_t)n, &l) != 0 || strcmp(l.holder, a.holder) != 0) {
			fprintf(stderr, "clusterfsctl: '%s' is not a holder (1 to %d letters, digits "
					"and '._:@/+-')\n",
				a.holder, NS_LEASE_HOLDER_MAX);
			return EXIT_USAGE;
		}
	}
	if (strcmp(sub, "acquire") == 0) {
		if (a.ttl < 0) {
			fprintf(stderr, "clusterfsctl: lease acquire needs --ttl SECONDS\n");
			return EXIT_USAGE;
		}
		return lease_acquire(&a);
	}
	if (strcmp(sub, "release") == 0) {
		if (a.n != 1 || a.ttl >= 0 || a.wait) {
			fprintf(stderr, "clusterfsctl: usage: lease release NAME --holder H\n");
			return EXIT_USAGE;
		}
		return lease_release(&a);
	}
	fprintf(stderr, "clusterfsctl: unknown lease command '%s' (acquire, release)\n", sub);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"mount", required_argument, NULL, 'm'}, {"json", no_argument, NULL, 'j'},
		{"data", required_argument, NULL, 'd'},	  {"address", required_argument, NULL, 'a'},
		{"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},	   {NULL, 0, NULL, 0},
	};
	const char *mount = DEFAULT_MOUNT, *cmd, *data = NULL, *address = NULL;
	const char *args[2] = {NULL, NULL};
	int nargs = 0;
	double timeout_s = WAIT_DEFAULT_S;
	bool json = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			mount = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("clusterfsctl %s\n", CFS_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "lease") == 0)
		return cmd_lease(mount, json, argc - optind, argv + optind);
	for (;;) {
		char *end;

		opt = getopt_long(argc, argv, "+", opts, NULL);
		if (opt == -1) {
			if (optind < argc && nargs < 2) {
				args[nargs++] = argv[optind++];
				continue;
			}
			break;
		}
		switch (opt) {
		case 'd':
			data = optarg;
			break;
		case 'a':
			address = optarg;
			break;
		case 'm':
			mount = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 't':
			timeout_s = strtod(optarg, &end);
			if (*end != '\0' || timeout_s < 0) {
				fprintf(stderr, "clusterfsctl: --timeout needs seconds\n");
				return 2;
			}
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "clusterfsctl: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (strcmp(cmd, "remove") == 0 || strcmp(cmd, "backup") == 0 ||
	    strcmp(cmd, "restore") == 0) {
		if (nargs != 1) {
			fprintf(stderr, "clusterfsctl: usage: %s %s\n", cmd,
				strcmp(cmd, "remove") == 0 ? "NODE_ID" : "FILE");
			return 2;
		}
		if (strcmp(cmd, "remove") == 0)
			return cmd_remove(mount, args[0]);
		if (strcmp(cmd, "backup") == 0)
			return cmd_backup(mount, args[0]);
		return cmd_restore(args[0], data, address);
	}
	if (nargs > 0) {
		fprintf(stderr, "clusterfsctl: unexpected argument '%s'\n", args[0]);
		return 2;
	}
	if (strcmp(cmd, "members") == 0)
		return cmd_members(mount, json);
	if (strcmp(cmd, "join-token") == 0)
		return cmd_join_token(mount);
	if (strcmp(cmd, "sync") == 0)
		return cmd_sync(mount);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(mount, json);
	if (strcmp(cmd, "wait") == 0)
		return cmd_wait(mount, json, timeout_s);
	fprintf(stderr, "clusterfsctl: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
