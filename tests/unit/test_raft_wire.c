/*
 * Raft's messages on the wire (raft_wire.c) and on our own connections
 * (raft_link.c): every message type survives the round trip with what
 * raft expects to own allocated as raft_uv would; truncated, padded or
 * malformed input is refused without a leak; a link delivers what a node
 * sends with the sender's proven identity, calls raft's send callback on a
 * later loop iteration (never from inside send), queues at most
 * RAFT_LINK_QUEUE messages while it connects, and cancels them at close.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "../../replication/peer.h"
#include "../../replication/raft_link.h"
#include "../../replication/raft_wire.h"
#include "../../replication/transport.h"
#include "helpers.h"

static void fini(void)
{
	h_leak_check();
}

TestSuite(raft_wire, .fini = fini);

static uint8_t *encode(const struct raft_message *m, size_t *len)
{
	size_t size = raft_wire_size(m);
	uint8_t *buf = malloc(size);

	cr_assert_neq(size, 0u);
	cr_assert_eq(raft_wire_encode(m, buf), size);
	*len = size;
	return buf;
}

/* Encode, decode, and refuse every shorter prefix and one byte more. */
static void round_trip(const struct raft_message *m, struct raft_message *out)
{
	size_t len;
	uint8_t *buf = encode(m, &len), *longer = malloc(len + 1);
	struct raft_message junk;

	for (size_t cut = 0; cut < len; cut++)
		cr_assert_eq(raft_wire_decode(buf, cut, &junk), -EINVAL,
			     "type %d cut to %zu of %zu bytes was accepted", m->type, cut, len);
	memcpy(longer, buf, len);
	longer[len] = 0;
	cr_assert_eq(raft_wire_decode(longer, len + 1, &junk), -EINVAL, "a trailing byte");
	cr_assert_eq(raft_wire_decode(buf, len, out), 0);
	cr_assert_eq(out->type, m->type);
	cr_assert_eq(out->server_id, 0u, "the sender comes from the connection");
	free(longer);
	free(buf);
}

Test(raft_wire, request_vote_and_result)
{
	struct raft_message m = {.type = RAFT_IO_REQUEST_VOTE}, out;

	m.request_vote = (struct raft_request_vote){.term = 7,
						    .candidate_id = 3,
						    .last_log_index = 1ull << 40,
						    .last_log_term = 6,
						    .disrupt_leader = true,
						    .pre_vote = false};
	round_trip(&m, &out);
	cr_assert_eq(out.request_vote.term, 7u);
	cr_assert_eq(out.request_vote.candidate_id, 3u);
	cr_assert_eq(out.request_vote.last_log_index, 1ull << 40);
	cr_assert_eq(out.request_vote.last_log_term, 6u);
	cr_assert(out.request_vote.disrupt_leader);
	cr_assert_not(out.request_vote.pre_vote);

	m = (struct raft_message){.type = RAFT_IO_REQUEST_VOTE_RESULT};
	m.request_vote_result.term = 9;
	m.request_vote_result.vote_granted = true;
	m.request_vote_result.pre_vote = raft_tribool_false;
	round_trip(&m, &out);
	cr_assert_eq(out.request_vote_result.term, 9u);
	cr_assert(out.request_vote_result.vote_granted);
	cr_assert_eq(out.request_vote_result.pre_vote, raft_tribool_false);
}

Test(raft_wire, append_entries_result_and_timeout_now)
{
	struct raft_message m = {.type = RAFT_IO_APPEND_ENTRIES_RESULT}, out;

	m.append_entries_result.term = 4;
	m.append_entries_result.rejected = 17;
	m.append_entries_result.last_log_index = 16;
	round_trip(&m, &out);
	cr_assert_eq(out.append_entries_result.term, 4u);
	cr_assert_eq(out.append_entries_result.rejected, 17u);
	cr_assert_eq(out.append_entries_result.last_log_index, 16u);

	m = (struct raft_message){.type = RAFT_IO_TIMEOUT_NOW};
	m.timeout_now.term = 5;
	m.timeout_now.last_log_index = 100;
	m.timeout_now.last_log_term = 4;
	round_trip(&m, &out);
	cr_assert_eq(out.timeout_now.term, 5u);
	cr_assert_eq(out.timeout_now.last_log_index, 100u);
	cr_assert_eq(out.timeout_now.last_log_term, 4u);
}

Test(raft_wire, append_entries_share_one_raft_batch)
{
	char a[] = "an entry, 24 bytes long", c[304]; /* lengths: multiples of 8 */
	struct raft_entry entries[3] = {
	    {.term = 2, .type = RAFT_COMMAND, .buf = {.base = a, .len = sizeof(a)}},
	    {.term = 2, .type = RAFT_BARRIER, .buf = {.base = NULL, .len = 0}},
	    {.term = 3, .type = RAFT_CHANGE, .buf = {.base = c, .len = sizeof(c)}},
	};
	struct raft_message m = {.type = RAFT_IO_APPEND_ENTRIES}, out;

	memset(c, 'c', sizeof(c));
	m.append_entries = (struct raft_append_entries){.term = 3,
							.prev_log_index = 41,
							.prev_log_term = 2,
							.leader_commit = 40,
							.entries = entries,
							.n_entries = 3};
	round_trip(&m, &out);
	cr_assert_eq(out.append_entries.term, 3u);
	cr_assert_eq(out.append_entries.prev_log_index, 41u);
	cr_assert_eq(out.append_entries.prev_log_term, 2u);
	cr_assert_eq(out.append_entries.leader_commit, 40u);
	cr_assert_eq(out.append_entries.n_entries, 3u);
	for (unsigned i = 0; i < 3; i++) {
		const struct raft_entry *e = &out.append_entries.entries[i];

		cr_assert_eq(e->term, entries[i].term);
		cr_assert_eq(e->type, entries[i].type);
		cr_assert_eq(e->buf.len, entries[i].buf.len);
		if (e->buf.len > 0)
			cr_assert_eq(memcmp(e->buf.base, entries[i].buf.base, e->buf.len), 0);
		cr_assert_not_null(e->batch, "raft frees entries by their batch");
		cr_assert_eq(e->batch, out.append_entries.entries[0].batch, "one batch");
	}
	/* raft would own them now; here they go back. */
	raft_wire_release(&out);

	m.append_entries.n_entries = 0; /* a heartbeat */
	round_trip(&m, &out);
	cr_assert_eq(out.append_entries.n_entries, 0u);
	cr_assert_null(out.append_entries.entries);
}

Test(raft_wire, install_snapshot_carries_configuration_and_data)
{
	struct raft_message m = {.type = RAFT_IO_INSTALL_SNAPSHOT}, out;
	char data[5000];

	memset(data, 0x5c, sizeof(data));
	raft_configuration_init(&m.install_snapshot.conf);
	cr_assert_eq(raft_configuration_add(&m.install_snapshot.conf, 1, "127.0.0.1:7440",
					    RAFT_VOTER),
		     0);
	cr_assert_eq(raft_configuration_add(&m.install_snapshot.conf, 9, "[::1]:7441", RAFT_STANDBY),
		     0);
	cr_assert_eq(raft_configuration_add(&m.install_snapshot.conf, 12, "node-c.lan:1", RAFT_SPARE),
		     0);
	m.install_snapshot.term = 8;
	m.install_snapshot.last_index = 5000;
	m.install_snapshot.last_term = 7;
	m.install_snapshot.conf_index = 4990;
	m.install_snapshot.data.base = data;
	m.install_snapshot.data.len = sizeof(data);
	round_trip(&m, &out);
	cr_assert_eq(out.install_snapshot.term, 8u);
	cr_assert_eq(out.install_snapshot.last_index, 5000u);
	cr_assert_eq(out.install_snapshot.last_term, 7u);
	cr_assert_eq(out.install_snapshot.conf_index, 4990u);
	cr_assert_eq(out.install_snapshot.conf.n, 3u);
	for (unsigned i = 0; i < 3; i++) {
		cr_assert_eq(out.install_snapshot.conf.servers[i].id,
			     m.install_snapshot.conf.servers[i].id);
		cr_assert_eq(out.install_snapshot.conf.servers[i].role,
			     m.install_snapshot.conf.servers[i].role);
		cr_assert_str_eq(out.install_snapshot.conf.servers[i].address,
				 m.install_snapshot.conf.servers[i].address);
	}
	cr_assert_eq(out.install_snapshot.data.len, sizeof(data));
	cr_assert_eq(memcmp(out.install_snapshot.data.base, data, sizeof(data)), 0);
	raft_wire_release(&out);
	raft_configuration_close(&m.install_snapshot.conf);
}

/* Malformed input: each is refused, and nothing is left allocated (the
 * suite's fini checks raft's heap through h_leak_check and ASan). */
Test(raft_wire, malformed_messages_are_refused)
{
	struct raft_message m = {.type = RAFT_IO_APPEND_ENTRIES}, out;
	char payload[] = "8 bytes";
	struct raft_entry e = {.term = 1, .type = RAFT_COMMAND, .buf = {payload, 8}};
	size_t len;
	uint8_t *buf;

	m.append_entries.entries = &e;
	m.append_entries.n_entries = 1;
	buf = encode(&m, &len);
	/* header: version, type, padding */
	buf[0] = RAFT_WIRE_VERSION + 1;
	cr_assert_eq(raft_wire_decode(buf, len, &out), -EINVAL, "another version");
	buf[0] = RAFT_WIRE_VERSION;
	buf[1] = 0;
	cr_assert_eq(raft_wire_decode(buf, len, &out), -EINVAL, "type 0");
	buf[1] = 99;
	cr_assert_eq(raft_wire_decode(buf, len, &out), -EINVAL, "unknown type");
	buf[1] = RAFT_IO_APPEND_ENTRIES;
	buf[3] = 1;
	cr_assert_eq(raft_wire_decode(buf, len, &out), -EINVAL, "padding not zero");
	buf[3] = 0;
	/* the entry count: far more than the bytes could hold */
	buf[RAFT_WIRE_HEADER_SIZE + 4 * 8 + 7] = 0x10;
	cr_assert_eq(raft_wire_decode(buf, len, &out), -EINVAL, "a huge entry count");
	buf[RAFT_WIRE_HEADER_SIZE + 4 * 8 + 7] = 0;
	/* the entry's type, then its length */
	buf[RAFT_WIRE_HEADER_SIZE + 5 * 8 + 8] = 7;
	cr_assert_eq(raft_wire_decode(buf, len, &out), -EINVAL, "entry type 7");
	buf[RAFT_WIRE_HEADER_SIZE + 5 * 8 + 8] = RAFT_COMMAND;
	buf[RAFT_WIRE_HEADER_SIZE + 5 * 8 + 12] = 16;
	cr_assert_eq(raft_wire_decode(buf, len, &out), -EINVAL, "entry longer than the data");
	buf[RAFT_WIRE_HEADER_SIZE + 5 * 8 + 12] = 7;
	cr_assert_eq(raft_wire_decode(buf, len - 1, &out), -EINVAL, "a length raft_uv cannot log");
	buf[RAFT_WIRE_HEADER_SIZE + 5 * 8 + 12] = 8;
	cr_assert_eq(raft_wire_decode(buf, len, &out), 0, "restored: valid again");
	raft_wire_release(&out);
	free(buf);
}

Test(raft_wire, bad_configurations_are_refused)
{
	struct raft_message m = {.type = RAFT_IO_INSTALL_SNAPSHOT}, out;
	size_t len, server;
	uint8_t *buf;

	raft_configuration_init(&m.install_snapshot.conf);
	cr_assert_eq(raft_configuration_add(&m.install_snapshot.conf, 1, "a:1", RAFT_VOTER), 0);
	cr_assert_eq(raft_configuration_add(&m.install_snapshot.conf, 2, "b:1", RAFT_VOTER), 0);
	buf = encode(&m, &len);
	server = RAFT_WIRE_HEADER_SIZE + 5 * 8; /* the first server's record */
	buf[server + 8] = 3;
	cr_assert_eq(raft_wire_decode(buf, len, &out), -EINVAL, "role 3");
	buf[server + 8] = RAFT_VOTER;
	buf[server] = 2;
	cr_assert_eq(raft_wire_decode(buf, len, &out), -EINVAL, "two servers with id 2");
	buf[server] = 0;
	cr_assert_eq(raft_wire_decode(buf, len, &out), -EINVAL, "id 0");
	buf[server] = 1;
	buf[server + 12] = '\0';
	cr_assert_eq(raft_wire_decode(buf, len, &out), -EINVAL, "a NUL in an address");
	buf[server + 12] = 'a';
	cr_assert_eq(raft_wire_decode(buf, len, &out), 0, "restored: valid again");
	cr_assert_eq(out.install_snapshot.conf.n, 2u);
	raft_wire_release(&out);
	free(buf);
	raft_configuration_close(&m.install_snapshot.conf);
}

/* --- raft_link over two real transports on loopback -------------------- */

#define LINK_WAIT_MS 10000
#define LINK_TICK_MS 10

struct link_test {
	uv_loop_t loop;
	struct raft_uv_transport rt[2];
	struct raft_link *link[2];
	char address[2][64];
	int received;
	struct raft_message last;
	char last_address[64];
	int sent_ok, sent_failed, sent_canceled;
	bool in_send; /* a callback from inside send would see this */
};

static void link_recv(void *arg, struct raft_message *m)
{
	struct link_test *t = arg;

	t->received++;
	t->last = *m;
	snprintf(t->last_address, sizeof(t->last_address), "%s", m->server_address);
	raft_wire_release(m); /* as raft would, eventually */
}

static void send_cb(struct raft_io_send *req, int status)
{
	struct link_test *t = req->data;

	cr_assert_not(t->in_send, "raft's send callback ran inside send");
	if (status == 0)
		t->sent_ok++;
	else if (status == RAFT_CANCELED)
		t->sent_canceled++;
	else
		t->sent_failed++;
	free(req);
}

static void accept_unused(struct raft_uv_transport *rt, raft_id id, const char *address,
			  struct uv_stream_s *stream)
{
	(void)rt;
	(void)id;
	(void)address;
	(void)stream;
	cr_assert_fail("raft_uv was handed a stream");
}

/* Node 1 and node 2, each with a transport and a link; only node 2
 * listens unless @both. */
static void link_setup(struct link_test *t, bool both)
{
	uint8_t key[TRANSPORT_KEY_SIZE];

	signal(SIGPIPE, SIG_IGN);
	memset(key, 0x5a, sizeof(key));
	uv_loop_init(&t->loop);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(transport_init(&t->rt[i], &t->loop, key), 0);
		t->link[i] = raft_link_new(&t->loop, &t->rt[i], link_recv, t);
		cr_assert_not_null(t->link[i]);
		if (i == 0 && !both) {
			snprintf(t->address[i], sizeof(t->address[i]), "127.0.0.1:%d", h_free_port());
			cr_assert_eq(t->rt[i].init(&t->rt[i], 1, t->address[i]), 0);
			continue;
		}
		for (int tries = 0; tries < 50; tries++) {
			snprintf(t->address[i], sizeof(t->address[i]), "127.0.0.1:%d", h_free_port());
			cr_assert_eq(t->rt[i].init(&t->rt[i], (raft_id)(i + 1), t->address[i]), 0);
			if (t->rt[i].listen(&t->rt[i], accept_unused) == 0)
				break;
			cr_assert_lt(tries, 49, "no free port to listen on");
		}
	}
}

static void transport_closed(struct raft_uv_transport *rt)
{
	(void)rt;
}

static void link_teardown(struct link_test *t)
{
	raft_link_close(t->link[0]);
	raft_link_close(t->link[1]);
	t->rt[0].close(&t->rt[0], transport_closed);
	t->rt[1].close(&t->rt[1], transport_closed);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(&t->loop), 0, "handles left open");
	transport_free(&t->rt[0]);
	transport_free(&t->rt[1]);
}

static int send_result(struct link_test *t, int from, uint64_t term, const char *address)
{
	struct raft_io_send *req = calloc(1, sizeof(*req));
	struct raft_message m = {.type = RAFT_IO_APPEND_ENTRIES_RESULT,
				 .server_id = (raft_id)(2 - from),
				 .server_address = address};
	int rv;

	m.append_entries_result.term = term;
	m.append_entries_result.last_log_index = term * 10;
	req->data = t;
	t->in_send = true;
	rv = raft_link_send(t->link[from], req, &m, send_cb);
	t->in_send = false;
	if (rv != 0)
		free(req);
	return rv;
}

static void tick(uv_timer_t *timer)
{
	(void)timer; /* only wakes the loop */
}

/* Run the loop until *counter reaches @want, at most LINK_WAIT_MS. */
static void run_until(struct link_test *t, const int *counter, int want, const char *what)
{
	uv_timer_t timer;
	uint64_t start = uv_now(&t->loop);

	uv_timer_init(&t->loop, &timer);
	uv_timer_start(&timer, tick, LINK_TICK_MS, LINK_TICK_MS);
	while (*counter < want && uv_now(&t->loop) - start < LINK_WAIT_MS)
		uv_run(&t->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_run(&t->loop, UV_RUN_NOWAIT);
	cr_assert_geq(*counter, want, "gave up after %d ms waiting for %s (%d of %d)", LINK_WAIT_MS,
		      what, *counter, want);
}

Test(raft_wire, a_link_delivers_with_the_proven_sender)
{
	struct link_test t = {0};

	link_setup(&t, false);
	cr_assert_eq(send_result(&t, 0, 5, t.address[1]), 0);
	run_until(&t, &t.received, 1, "the message");
	cr_assert_eq(t.last.type, RAFT_IO_APPEND_ENTRIES_RESULT);
	cr_assert_eq(t.last.append_entries_result.term, 5u);
	cr_assert_eq(t.last.append_entries_result.last_log_index, 50u);
	cr_assert_eq(t.last.server_id, 1u, "the id node 1's handshake proved");
	cr_assert_str_eq(t.last_address, t.address[0]);
	run_until(&t, &t.sent_ok, 1, "the send callback");
	/* The connection stays: more messages, in order. */
	for (uint64_t term = 6; term < 16; term++)
		cr_assert_eq(send_result(&t, 0, term, t.address[1]), 0);
	run_until(&t, &t.received, 11, "ten more");
	cr_assert_eq(t.last.append_entries_result.term, 15u, "the last one came last");
	run_until(&t, &t.sent_ok, 11, "ten more callbacks");
	cr_assert_eq(raft_link_connections(t.link[0]), 1, "one outbound connection");
	cr_assert_eq(raft_link_connections(t.link[1]), 1, "one inbound connection");
	link_teardown(&t);
	cr_assert_eq(t.sent_failed + t.sent_canceled, 0);
}

Test(raft_wire, while_connecting_the_oldest_messages_are_dropped)
{
	struct link_test t = {0};
	const int n = RAFT_LINK_QUEUE + 2;

	link_setup(&t, false);
	for (int i = 0; i < n; i++)
		cr_assert_eq(send_result(&t, 0, (uint64_t)(100 + i), t.address[1]), 0);
	run_until(&t, &t.received, RAFT_LINK_QUEUE, "the queued messages");
	run_until(&t, &t.sent_ok, RAFT_LINK_QUEUE, "their callbacks");
	cr_assert_eq(t.sent_failed, n - RAFT_LINK_QUEUE, "the oldest were dropped");
	cr_assert_eq(t.last.append_entries_result.term, (uint64_t)(100 + n - 1), "the newest came");
	for (int i = 0; i < 100; i++)
		uv_run(&t.loop, UV_RUN_NOWAIT);
	cr_assert_eq(t.received, RAFT_LINK_QUEUE);
	link_teardown(&t);
}

Test(raft_wire, close_cancels_what_was_not_sent)
{
	struct link_test t = {0};
	char nowhere[64];

	link_setup(&t, false);
	/* Nobody listens there: the message waits for a connection. */
	snprintf(nowhere, sizeof(nowhere), "127.0.0.1:%d", h_free_port());
	cr_assert_eq(send_result(&t, 0, 1, nowhere), 0);
	cr_assert_eq(send_result(&t, 0, 2, nowhere), 0);
	for (int i = 0; i < 20; i++)
		uv_run(&t.loop, UV_RUN_NOWAIT);
	cr_assert_eq(t.sent_ok + t.sent_failed, 0, "called back before it was sent");
	link_teardown(&t);
	cr_assert_eq(t.sent_canceled, 2);
	cr_assert_eq(t.received, 0);
}

/* raft learns that a connection broke from the first send after it, as
 * with raft_uv: a leader waiting for a snapshot's answer from a node that
 * crashed otherwise waits out its snapshot timeout (raft 0.15 ignores a
 * node's rejections while it "installs"), seen in
 * test_snapshot_install_crash.sh. */
Test(raft_wire, the_first_send_after_a_connection_broke_fails)
{
	struct link_test t = {0};

	link_setup(&t, false);
	cr_assert_eq(send_result(&t, 0, 1, t.address[1]), 0);
	run_until(&t, &t.received, 1, "the first message");
	run_until(&t, &t.sent_ok, 1, "its callback");
	/* Node 2's links go (its inbound connection ends), and come back. */
	raft_link_close(t.link[1]);
	for (int i = 0; i < 2000 && raft_link_connections(t.link[0]) > 0; i++) {
		uv_run(&t.loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	cr_assert_eq(raft_link_connections(t.link[0]), 0, "node 1 did not see its connection end");
	t.link[1] = raft_link_new(&t.loop, &t.rt[1], link_recv, &t);
	cr_assert_eq(send_result(&t, 0, 2, t.address[1]), 0);
	run_until(&t, &t.sent_failed, 1, "the failed send");
	cr_assert_eq(t.sent_ok, 1);
	cr_assert_eq(t.received, 1, "the message after the break was not reported failed");
	cr_assert_eq(send_result(&t, 0, 3, t.address[1]), 0);
	run_until(&t, &t.received, 2, "the next message, on a new connection");
	cr_assert_eq(t.last.append_entries_result.term, 3u);
	link_teardown(&t);
}

/* raft names a node by another address: the connection to the old one is
 * closed, and its close may come after the link's own (a final frame stuck
 * behind a dead peer). The link waits for it before it frees itself: it
 * once read freed memory there (ASan). */
Test(raft_wire, a_moved_node_then_close_leaves_nothing_behind)
{
	struct link_test t = {0};
	char moved[64];

	link_setup(&t, false);
	cr_assert_eq(send_result(&t, 0, 1, t.address[1]), 0);
	run_until(&t, &t.received, 1, "the first message");
	snprintf(moved, sizeof(moved), "localhost:%s", strchr(t.address[1], ':') + 1);
	cr_assert_eq(send_result(&t, 0, 2, moved), 0);
	link_teardown(&t); /* at once: the old connection is still closing */
	cr_assert_eq(t.sent_ok + t.sent_failed + t.sent_canceled, 2, "each send called back once");
}

/* A raw raft connection from node 1's transport, to send what a link never
 * would. */
struct raw {
	struct link_test *t;
	struct peer_conn *conn;
	int closed;
	bool garbage; /* a PEER_RAFT frame that does not decode; else PEER_JOIN */
};

static void raw_msg(struct peer_conn *c, const struct peer_msg *m)
{
	(void)c;
	(void)m;
	cr_assert_fail("the receiver wrote back");
}

static void raw_closed(struct peer_conn *c)
{
	struct raw *r = peer_conn_data(c);

	r->closed++;
}

static void raw_connected(void *arg, struct tunnel *tun, uint64_t id, const char *address,
			  int status)
{
	struct raw *r = arg;
	static uint8_t frame[PEER_FRAME_HEAD + 12]; /* valid until sent: static */

	(void)id;
	(void)address;
	cr_assert_eq(status, 0);
	r->conn = peer_conn_new(tun, 2, raw_msg, raw_closed, r);
	cr_assert_not_null(r->conn);
	if (r->garbage) {
		struct iovec v = {.iov_base = frame, .iov_len = sizeof(frame)};

		cr_assert_eq(peer_frame_head(PEER_RAFT, 12, frame), 0);
		memset(frame + PEER_FRAME_HEAD, 0, 12);
		frame[PEER_FRAME_HEAD] = RAFT_WIRE_VERSION;
		frame[PEER_FRAME_HEAD + 1] = RAFT_IO_APPEND_ENTRIES; /* and nothing of it */
		cr_assert_eq(peer_conn_sendv(r->conn, &v, 1, NULL, NULL), 0);
	} else {
		struct peer_msg m = {.type = PEER_JOIN, .data = "x", .len = 1};

		cr_assert_eq(peer_conn_send(r->conn, &m), 0);
	}
}

static void bad_frame_closes(bool garbage)
{
	struct link_test t = {0};
	struct raw r = {.t = &t, .garbage = garbage};

	link_setup(&t, false);
	cr_assert_eq(transport_connect_raft(&t.rt[0], t.address[1], raw_connected, &r), 0);
	run_until(&t, &r.closed, 1, "the receiver to close the connection");
	cr_assert_eq(t.received, 0, "raft got something");
	cr_assert_eq(raft_link_connections(t.link[1]), 0, "the inbound connection is gone");
	link_teardown(&t);
}

Test(raft_wire, an_undecodable_message_closes_the_connection)
{
	bad_frame_closes(true);
}

Test(raft_wire, a_frame_that_is_not_raft_closes_the_connection)
{
	bad_frame_closes(false);
}
