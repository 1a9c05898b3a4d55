/*
 * Membership: who is in the cluster and in which role.
 *
 * Serving (on the leader, for forward.c's connections): joins (a new id
 * from the FSM, then raft_add), promotions (raft_assign: voter while there
 * are fewer than max_voters, else standby) and removals (raft_remove, then
 * a standby is promoted if a voter left).
 *
 * Joining (on a new node): ask the targets of --join in turn, follow a
 * redirect to the leader, get an id, start raft, ask to be a standby (it
 * receives the log, it does not vote: a joiner that fails, or dies while
 * it catches up, never costs the cluster its quorum). Once it has caught up
 * and mounted (node_mounted), it asks to be a voter; the leader makes it
 * one while there are fewer voters than max_voters. node.conf remembers
 * an unfinished join (until the node is a standby), so a restart starts it
 * over.
 *
 * Join tokens carry the cluster key and the voters' addresses.
 *
 * Owned by the libuv loop thread.
 */
#include <errno.h>
#include <limits.h>
#include <raft.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/escape.h"
#include "../common/log.h"
#include "node_internal.h"
#include "tunnel.h"

#define NODE_TOKEN_PREFIX "cfs1:"

/* --- join tokens ---------------------------------------------------------------- */

int node_parse_join_token(const char *token, uint8_t key[TRANSPORT_KEY_SIZE], char *members,
			  size_t members_len)
{
	size_t plen = strlen(NODE_TOKEN_PREFIX);
	const char *at;

	if (strncmp(token, NODE_TOKEN_PREFIX, plen) != 0)
		return -EINVAL;
	at = strchr(token, '@');
	if (at == NULL ||
	    transport_key_from_hex(token + plen, (size_t)(at - token - (long)plen), key) != 0)
		return -EINVAL;
	if (strlen(at + 1) == 0 || strlen(at + 1) >= members_len)
		return -EINVAL;
	strcpy(members, at + 1);
	return 0;
}

int node_render_join_token(struct node *n, char *buf, size_t cap)
{
	const struct raft_configuration *c = &n->raft.configuration;
	char hex[2 * TRANSPORT_KEY_SIZE + 1], path[PATH_MAX], err[256];
	uint8_t key[TRANSPORT_KEY_SIZE];
	size_t used;
	int k;

	/* The key the node proves now: after a key rotation, the new one. Read
	 * from its file (any thread may render the token). */
	if (node_path_join(path, sizeof(path), n->data_dir, NODE_KEY) != 0 ||
	    transport_key_load(path, key, err, sizeof(err)) != 0)
		memcpy(key, n->key, TRANSPORT_KEY_SIZE);
	transport_key_hex(key, hex);
	sodium_memzero(key, sizeof(key));
	k = snprintf(buf, cap, "%s%s@", NODE_TOKEN_PREFIX, hex);
	if (k < 0 || (size_t)k >= cap)
		return -ENOSPC;
	used = (size_t)k;
	for (unsigned i = 0; n->raft_started && i < c->n; i++) {
		if (c->servers[i].role != RAFT_VOTER)
			continue;
		k = snprintf(buf + used, cap - used, "%s%s", buf[used - 1] == '@' ? "" : ",",
			     c->servers[i].address);
		if (k < 0 || (size_t)k >= cap - used)
			return -ENOSPC;
		used += (size_t)k;
	}
	if (buf[used - 1] == '@')
		used += (size_t)snprintf(buf + used, cap - used, "%s", n->address);
	k = snprintf(buf + used, cap - used, "\n");
	return (int)used + (k > 0 ? k : 0);
}

/* --- roles, and serving membership requests (leader) ---------------------------- */

unsigned node_count_role(struct node *n, int role)
{
	const struct raft_configuration *c = &n->raft.configuration;
	unsigned k = 0;

	for (unsigned i = 0; i < c->n; i++)
		if (c->servers[i].role == role)
			k++;
	return k;
}

bool node_is_voter(struct node *n, raft_id id)
{
	const struct raft_configuration *c = &n->raft.configuration;

	for (unsigned i = 0; i < c->n; i++)
		if (c->servers[i].id == id)
			return c->servers[i].role == RAFT_VOTER;
	return false;
}

static uint64_t max_server_id(struct node *n)
{
	const struct raft_configuration *c = &n->raft.configuration;
	uint64_t max = 0;

	for (unsigned i = 0; i < c->n; i++)
		if (c->servers[i].id > max)
			max = c->servers[i].id;
	return max;
}

static void serve_change_cb(struct raft_change *req, int status)
{
	struct serve *s = req->data;

	if (status != 0) {
		log_warn("membership change for node %llu failed: %s", (unsigned long long)s->value,
			 raft_strerror(status));
		node_serve_reply(s, status == RAFT_CANTCHANGE ? -EBUSY : node_raft_errno(status), 0,
				 NULL);
		return;
	}
	switch (s->type) {
	case PEER_JOIN:
		log_info("node %llu at %s added", (unsigned long long)s->value, s->address);
		node_serve_reply(s, 0, s->value, NULL);
		break;
	case PEER_PROMOTE:
		log_info("node %llu is now a%s", (unsigned long long)s->value,
			 s->result == RAFT_VOTER ? " voter" : " standby");
		node_serve_reply(s, 0, (uint64_t)s->result, NULL);
		break;
	default:
		log_info("node %llu removed", (unsigned long long)s->value);
		node_serve_reply(s, 0, s->value, NULL);
	}
}

/* JOIN, step 2: the FSM allocated an id; add the node as a spare. */
static void serve_join_id_cb(struct raft_apply *req, int status, void *result)
{
	struct serve *s = req->data;
	int64_t id = status == 0 ? fsm_result(result) : node_raft_errno(status);
	int rv;

	if (id == FSM_DEFERRED)
		id = -ETIMEDOUT; /* the store could not write: ask again */
	if (id <= 0) {
		node_serve_reply(s, id < 0 ? id : -EIO, 0, NULL);
		return;
	}
	s->value = (uint64_t)id;
	s->change.data = s;
	rv = raft_add(&s->n->raft, &s->change, (raft_id)id, s->address, serve_change_cb);
	if (rv != 0)
		node_serve_reply(s, rv == RAFT_CANTCHANGE ? -EBUSY : node_raft_errno(rv), 0, NULL);
}

/* A joining node's address becomes part of the configuration, the members
 * file and log lines on every node: HOST:PORT in visible ASCII only. */
static bool join_address_ok(const char *address)
{
	char host[NODE_ADDRESS_MAX + 1], port[8];

	for (const char *p = address; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return false;
	return transport_split_address(address, host, sizeof(host), port, sizeof(port)) == 0;
}

int node_serve_join(struct serve *s)
{
	struct entry e = {.op = ENTRY_NODE,
			  .offset = max_server_id(s->n),
			  .data = s->address,
			  .data_len = (uint32_t)strlen(s->address),
			  .stamp_ns = node_wall_ns(),
			  .node_id = s->n->id};
	struct entry_buf b;
	struct raft_buffer buf;
	int rv;

	if (!join_address_ok(s->address))
		return -EINVAL;
	rv = entry_encode(&e, &b);
	if (rv != 0)
		return rv;
	buf.base = b.base;
	buf.len = b.len;
	s->apply.data = s;
	rv = raft_apply(&s->n->raft, &s->apply, &buf, 1, serve_join_id_cb);
	if (rv != 0) {
		raft_free(b.base);
		return (int)node_raft_errno(rv);
	}
	return 0;
}

int node_server_role(struct node *n, uint64_t id)
{
	const struct raft_configuration *c = &n->raft.configuration;

	for (unsigned i = 0; i < c->n; i++)
		if (c->servers[i].id == id)
			return c->servers[i].role;
	return -1;
}

int node_serve_promote(struct serve *s)
{
	struct node *n = s->n;
	int role = !s->standby_only && node_count_role(n, RAFT_VOTER) < n->cfg.max_voters
		       ? RAFT_VOTER
		       : RAFT_STANDBY;
	int current = node_server_role(n, s->value);

	if (current < 0)
		return -ENOENT;
	if (current == role || current == RAFT_VOTER) {
		node_serve_reply(s, 0, (uint64_t)current, NULL);
		return 0;
	}
	s->result = role;
	s->change.data = s;
	return raft_assign(&n->raft, &s->change, s->value, role, serve_change_cb) == 0 ? 0 : -EBUSY;
}

static void promote_standby_cb(struct raft_change *req, int status)
{
	if (status != 0)
		log_warn("could not promote a standby: %s", raft_strerror(status));
	free(req);
}

/* After a voter left: promote the standby with the lowest id, if any. */
static void node_promote_standby(struct node *n)
{
	const struct raft_configuration *c = &n->raft.configuration;
	struct raft_change *req;
	uint64_t best = 0;

	if (raft_state(&n->raft) != RAFT_LEADER ||
	    node_count_role(n, RAFT_VOTER) >= n->cfg.max_voters)
		return;
	for (unsigned i = 0; i < c->n; i++)
		if (c->servers[i].role == RAFT_STANDBY && (best == 0 || c->servers[i].id < best))
			best = c->servers[i].id;
	if (best == 0)
		return;
	req = calloc(1, sizeof(*req));
	if (req == NULL)
		return;
	if (raft_assign(&n->raft, req, best, RAFT_VOTER, promote_standby_cb) != 0)
		free(req);
	else
		log_info("promoting standby %llu to voter", (unsigned long long)best);
}

/* --- telling a removed node ------------------------------------------------------ */

static void tell_msg(struct peer_conn *c, const struct peer_msg *m)
{
	struct node *n = peer_conn_data(c);

	if (!m->response)
		return;
	if (m->status == 0)
		log_info("told node %llu that it was removed", (unsigned long long)n->tell_id);
	else
		log_info("node %llu did not take the news of its removal: %s",
			 (unsigned long long)n->tell_id, strerror((int)-m->status));
	peer_conn_close(c);
}

static void tell_closed(struct peer_conn *c)
{
	struct node *n = peer_conn_data(c);

	if (n->tconn == c)
		n->tconn = NULL;
}

static void tell_connected(void *arg, struct tunnel *tun, uint64_t id, const char *address,
			   int status)
{
	struct node *n = arg;
	uint8_t term[8];
	struct peer_msg m = {
		.type = PEER_REMOVED, .seq = 1, .value = n->tell_id, .data = term, .len = 8};

	(void)id;
	for (int i = 0; i < 8; i++)
		term[i] = (uint8_t)(n->tell_term >> (56 - 8 * i));
	n->tconn_connecting = false;
	if (status != 0 || n->closing) {
		if (tun != NULL)
			tunnel_end(tun);
		if (status != 0)
			log_info("could not tell node %llu at %s that it was removed (%s): it stays "
				 "out of the cluster, but keeps running until stopped",
				 (unsigned long long)n->tell_id, address, strerror(-status));
		return;
	}
	n->tconn = peer_conn_new(tun, 0, tell_msg, tell_closed, n);
	if (n->tconn != NULL)
		peer_conn_send(n->tconn, &m);
}

/* After a removal: tell the node, so that it stops instead of campaigning
 * for a cluster that ignores it. Best effort, one at a time. */
static void node_tell_removed(struct node *n, uint64_t id, const char *address)
{
	if (n->tconn != NULL || n->tconn_connecting || n->closing || address[0] == '\0')
		return;
	n->tell_id = id;
	n->tell_term = n->raft.current_term;
	n->tconn_connecting = true;
	if (transport_connect_peer(&n->transport, n->id, n->address, address, tell_connected, n) !=
	    0)
		n->tconn_connecting = false;
}

/* A raft message from @id, which is not a member. Ids are never given
 * twice, so a node that sends raft traffic and is not in a committed
 * configuration was removed — maybe while it was down, so that nobody
 * could tell it then. The leader tells it now (at most every
 * NODE_TELL_AGAIN_MS), so that it stops instead of campaigning for ever.
 * Never from a configuration that may still change: a removal that is not
 * committed may be undone by the next leader. And never from a leader that
 * may be stale: only once this term's barrier has committed (which commits
 * every configuration before it — after a restart raft takes the last one
 * as committed, which it may not be), and never to a sender that already
 * speaks for a later term (@term: a newer leader may have added it). The
 * receiver checks the term again (node_removed). */
void node_heard_stranger(struct node *n, uint64_t id, const char *address, uint64_t term)
{
	uint64_t now = node_now_ms();

	if (id == 0 || id == n->id || address == NULL || n->closing || !n->raft_started ||
	    raft_state(&n->raft) != RAFT_LEADER || n->raft.configuration_uncommitted_index != 0 ||
	    n->barrier_pending || n->barrier_term != n->raft.current_term ||
	    term > n->raft.current_term || node_server_role(n, id) >= 0)
		return;
	if (id == n->stranger_id && now < n->stranger_next_ms)
		return;
	n->stranger_id = id;
	n->stranger_next_ms = now + NODE_TELL_AGAIN_MS;
	char shown[ESCAPE_CAP(NODE_ADDRESS_MAX)];

	log_info("node %llu at %s is not a member (it was removed): telling it",
		 (unsigned long long)id, escape_str(address, shown, sizeof(shown)));
	node_tell_removed(n, id, address);
}

int node_removed(struct node *n, uint64_t id, const void *data, uint32_t len)
{
	const uint8_t *p = data;
	uint64_t term = 0;

	if (id != n->id || n->id == 0 || len != 8)
		return -EINVAL;
	if (n->removed)
		return 0;
	for (int i = 0; i < 8; i++)
		term = term << 8 | p[i];
	/* A leader of an older term may not know that a newer one added us. */
	if (n->raft_started && term < n->raft.current_term) {
		log_warn("a leader of term %llu says node %llu was removed, but this node is in "
			 "term %llu: ignored",
			 (unsigned long long)term, (unsigned long long)id,
			 (unsigned long long)n->raft.current_term);
		return -ESTALE;
	}
	n->removed = true;
	if (node_conf_save_removed(n) != 0)
		log_warn("could not record the removal in %s/%s", n->data_dir, NODE_CONF);
	snprintf(n->failure, sizeof(n->failure),
		 "node %llu was removed from its cluster: it stops; to bring this machine back, "
		 "empty %s (or use another --data) and join again",
		 (unsigned long long)n->id, n->data_dir);
	log_error("%s", n->failure);
	return 0;
}

static void serve_remove_cb(struct raft_change *req, int status)
{
	struct serve *s = req->data;
	struct node *n = s->n;
	uint64_t id = s->value;
	char address[NODE_ADDRESS_MAX + 1];

	snprintf(address, sizeof(address), "%s", s->address);
	serve_change_cb(req, status); /* frees s */
	if (status == 0) {
		node_promote_standby(n);
		node_tell_removed(n, id, address);
	}
}

int node_serve_remove(struct serve *s)
{
	if (s->value == s->n->id && node_count_role(s->n, RAFT_VOTER) > 1) {
		/* Removing the leader: hand leadership away first; the caller
		 * asks again and reaches the new leader. */
		s->n->transfer.data = s->n;
		raft_transfer(&s->n->raft, &s->n->transfer, 0, NULL);
		return -EAGAIN;
	}
	if (node_server_role(s->n, s->value) < 0)
		return -ENOENT;
	{
		const struct raft_configuration *c = &s->n->raft.configuration;

		for (unsigned i = 0; i < c->n; i++)
			if (c->servers[i].id == s->value && c->servers[i].address != NULL)
				snprintf(s->address, sizeof(s->address), "%s",
					 c->servers[i].address);
	}
	s->change.data = s;
	return raft_remove(&s->n->raft, &s->change, s->value, serve_remove_cb) == 0 ? 0 : -EBUSY;
}

/* --- joining (the new node) ----------------------------------------------------- */

static void join_fail(struct node *n, const char *why)
{
	snprintf(n->failure, sizeof(n->failure), "%s", why);
	log_error("%s", why);
}

/* The next join target, round robin; false if the list is empty. */
static bool join_pick(struct node *n)
{
	const char *list = n->join_targets;
	size_t len = strlen(list), start = n->join_next, end;

	if (len == 0)
		return false;
	if (start >= len)
		start = 0;
	end = start;
	while (end < len && list[end] != ',')
		end++;
	if (end - start == 0 || end - start > NODE_ADDRESS_MAX)
		return false;
	memcpy(n->join_target, list + start, end - start);
	n->join_target[end - start] = '\0';
	n->join_next = end + 1;
	return true;
}

/* PEER_PROMOTE for this node: standby only while joining, else voter. */
static void join_send_promote(struct node *n, struct peer_conn *c)
{
	static const char standby = NODE_PROMOTE_STANDBY;
	struct peer_msg p = {.type = PEER_PROMOTE, .seq = 2, .value = n->id};

	if (n->join == JOIN_STANDBY) {
		p.data = &standby;
		p.len = 1;
	}
	peer_conn_send(c, &p);
}

static void join_msg(struct peer_conn *c, const struct peer_msg *m)
{
	struct node *n = peer_conn_data(c);
	char err[512] = "";

	if (!m->response)
		return;
	if (m->status == PEER_REDIRECT && m->len > 0 && m->len <= NODE_ADDRESS_MAX) {
		/* Ask the leader itself. */
		memcpy(n->join_target, m->data, m->len);
		n->join_target[m->len] = '\0';
		n->join_next = strlen(n->join_targets) + 1; /* keep this target next */
		peer_conn_close(c);
		return;
	}
	if (m->status != 0) {
		log_info("join via %s: %s; retrying", n->join_target, strerror((int)-m->status));
		n->join_retry_ms = node_now_ms() + NODE_RETRY_MS * 2;
		peer_conn_close(c);
		return;
	}
	if (m->type == PEER_JOIN) {
		int rv;

		n->id = m->value;
		log_info("joined as node %llu via %s", (unsigned long long)n->id, n->join_target);
		rv = node_conf_save(n, true);
		if (rv != 0) {
			snprintf(err, sizeof(err), "cannot write %s/%s: %s", n->data_dir, NODE_CONF,
				 strerror(-rv));
			join_fail(n, err);
			return;
		}
		if (node_raft_setup(n, err, sizeof(err)) != 0 ||
		    node_raft_start(n, err, sizeof(err)) != 0) {
			join_fail(n, err);
			return;
		}
		n->join = JOIN_STANDBY;
		join_send_promote(n, c);
	} else if (m->type == PEER_PROMOTE) {
		int rv = node_conf_save(n, false);

		if (rv != 0) {
			snprintf(err, sizeof(err), "cannot write %s/%s: %s", n->data_dir, NODE_CONF,
				 strerror(-rv));
			join_fail(n, err);
			return;
		}
		if (n->join == JOIN_STANDBY && m->value != RAFT_VOTER)
			log_info("node %llu is a standby; it asks to be a voter once it has "
				 "caught up and mounted",
				 (unsigned long long)n->id);
		else
			log_info("node %llu is a %s", (unsigned long long)n->id,
				 m->value == RAFT_VOTER ? "voter" : "standby");
		n->join = JOIN_DONE;
		n->fresh = false;
		peer_conn_close(c);
	}
}

static void join_closed(struct peer_conn *c)
{
	struct node *n = peer_conn_data(c);

	if (n->jconn == c)
		n->jconn = NULL;
	/* Unless done, the tick asks again (JOIN, or PROMOTE once we have an
	 * id: the FSM never reuses ids, so asking twice is harmless). */
	if (n->join == JOIN_ASKED)
		n->join = JOIN_CONNECTING;
}

static void join_connected(void *arg, struct tunnel *tun, uint64_t id, const char *address,
			   int status)
{
	struct node *n = arg;

	(void)id;
	n->jconn_connecting = false;
	if (status != 0 || n->closing) {
		if (tun != NULL)
			tunnel_end(tun);
		if (status == -EACCES && ++n->join_refused >= 3) {
			char why[512];

			snprintf(why, sizeof(why),
				 "%s refused our cluster key: pass the key of that cluster "
				 "(--cluster-key FILE or --join-token-file FILE)",
				 address);
			join_fail(n, why);
			return;
		}
		log_info("cannot reach %s to join: %s; retrying", address, strerror(-status));
		n->join_retry_ms = node_now_ms() + NODE_RETRY_MS;
		n->jconn = NULL;
		return;
	}
	n->jconn = peer_conn_new(tun, 0, join_msg, join_closed, n);
	if (n->jconn == NULL)
		return;
	if (n->join == JOIN_STANDBY || n->join == JOIN_PROMOTING) {
		join_send_promote(n, n->jconn);
		return;
	}
	struct peer_msg m = {
	    .type = PEER_JOIN, .seq = 1, .data = n->address, .len = (uint32_t)strlen(n->address)};
	n->join = JOIN_ASKED;
	peer_conn_send(n->jconn, &m);
}

void node_join_connect(struct node *n)
{
	raft_id leader = 0;
	const char *laddr = NULL;

	if (n->jconn != NULL || n->jconn_connecting || n->closing || n->failure[0] != '\0' ||
	    node_now_ms() < n->join_retry_ms)
		return;
	n->join_retry_ms = node_now_ms() + TRANSPORT_HANDSHAKE_MS + NODE_RETRY_MS;
	/* Once raft runs, promote through whoever leads now. */
	if ((n->join == JOIN_STANDBY || n->join == JOIN_PROMOTING) && n->raft_started) {
		raft_leader(&n->raft, &leader, &laddr);
		if (laddr != NULL)
			snprintf(n->join_target, sizeof(n->join_target), "%s", laddr);
	} else if (n->join_next > strlen(n->join_targets) && n->join_target[0] != '\0') {
		n->join_next = 0; /* the redirect target, once */
	} else if (!join_pick(n)) {
		join_fail(n, "no address to join: pass --join HOST:PORT[,HOST:PORT...]");
		return;
	}
	n->jconn_connecting = true;
	if (transport_connect_peer(&n->transport,
				   n->join == JOIN_STANDBY || n->join == JOIN_PROMOTING ? n->id : 0,
				   n->address,
				   n->join_target, join_connected, n) != 0) {
		n->jconn_connecting = false;
		n->join_retry_ms = node_now_ms() + NODE_RETRY_MS;
	}
}
