/*
 * clusterfsctl: the commands that change or extend the membership:
 * remove (over the node protocol, with its own short-lived libuv loop)
 * and join-token. Single-threaded, like the whole tool.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "../../replication/node.h"
#include "../../replication/peer.h"
#include "../../replication/transport.h"
#include "../../replication/tunnel.h"
#include "ctl.h"

/* How long `remove` keeps trying (a leader change may be under way). */
#define REMOVE_TIMEOUT_MS 15000
#define REMOVE_RETRY_MS	  300
#define TOKEN_MAX	  4096

int ctl_cmd_join_token(const char *mount)
{
	char token[TOKEN_MAX];
	int rv = ctl_read_cluster_file(mount, "join-token", token, sizeof(token));

	if (rv != 0)
		return ctl_error(EXIT_REFUSED, NULL, "cannot read the join token from %s: %s%s",
				 mount, strerror(-rv),
				 rv == -EACCES ? " (it holds the cluster key: run as root)" : "");
	if (ctl_json()) {
		token[strcspn(token, "\n")] = '\0';
		ctl_json_print(json_pack("{s:o}", "token", ctl_jstr(token)));
	} else {
		fputs(token, stdout);
	}
	explicit_bzero(token, sizeof(token));
	return 0;
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

static void remove_try(struct remove_ctx *c);

static void remove_timer(uv_timer_t *t)
{
	remove_try(t->data);
}

static void remove_retry(struct remove_ctx *c, const char *why)
{
	c->why = why;
	if (ctl_mono_ms() >= c->deadline) {
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

static void remove_connected(void *arg, struct tunnel *tun, uint64_t id, const char *address,
			     int status)
{
	struct remove_ctx *c = arg;
	struct peer_conn *conn;

	(void)id;
	(void)address;
	if (status != 0) {
		c->target[0] = '\0';
		remove_retry(c,
			     status == -EACCES ? "the cluster refused the key" : strerror(-status));
		return;
	}
	conn = peer_conn_new(tun, 0, remove_msg, remove_closed, c);
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

int ctl_cmd_remove(const char *mount, const char *id_text)
{
	static struct remove_ctx c;
	uint8_t key[TRANSPORT_KEY_SIZE];
	char token[TOKEN_MAX], *end;
	unsigned long long id = strtoull(id_text, &end, 10);
	int rv;

	if (*end != '\0' || id == 0)
		return ctl_usage_error("remove needs a node id (see `clusterfsctl members`)");
	rv = ctl_read_cluster_file(mount, "join-token", token, sizeof(token));
	if (rv != 0)
		return ctl_error(EXIT_REFUSED, NULL, "cannot read the cluster key through %s: %s%s",
				 mount, strerror(-rv), rv == -EACCES ? " (run as root)" : "");
	token[strcspn(token, "\n")] = '\0';
	rv = node_parse_join_token(token, key, c.members, sizeof(c.members));
	explicit_bzero(token, sizeof(token));
	if (rv != 0)
		return ctl_error(EXIT_REFUSED, NULL, "%s/.cluster/join-token is not a join token",
				 mount);
	c.id = id;
	c.result = -1;
	c.deadline = ctl_mono_ms() + REMOVE_TIMEOUT_MS;
	uv_loop_init(&c.loop);
	uv_timer_init(&c.loop, &c.timer);
	c.timer.data = &c;
	if (transport_init(&c.rt, &c.loop, key) != 0)
		return ctl_error(EXIT_REFUSED, NULL, "cannot set up the transport");
	remove_try(&c);
	uv_run(&c.loop, UV_RUN_DEFAULT);
	c.rt.close(&c.rt, remove_transport_closed);
	uv_close((uv_handle_t *)&c.timer, NULL);
	/* Let the connection's tunnel send its final frame and close (at most
	 * ~200 ms), then close whatever is left. */
	for (int i = 0; i < 200 && uv_run(&c.loop, UV_RUN_NOWAIT) != 0; i++)
		usleep(1000);
	uv_walk(&c.loop, walk_close, NULL);
	uv_run(&c.loop, UV_RUN_DEFAULT);
	uv_loop_close(&c.loop);
	transport_free(&c.rt);
	if (c.result == 0) {
		if (ctl_json())
			ctl_json_print(json_pack("{s:b, s:I}", "removed", 1, "id", (json_int_t)id));
		else
			printf("node %llu removed\n", id);
		return 0;
	}
	return ctl_error(c.result == 1 ? EXIT_UNAVAILABLE : EXIT_REFUSED,
			 json_pack("{s:b, s:I}", "removed", 0, "id", (json_int_t)id),
			 "could not remove node %llu: %s", id, c.why ? c.why : "no answer");
}
