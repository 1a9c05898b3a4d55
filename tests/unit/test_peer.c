/*
 * The node protocol (peer.c) and the authenticated transport
 * (transport.c): frames are length-checked before anything is read from
 * them, garbage closes the connection without a crash or a leak, and only
 * a peer with the cluster key gets a stream.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "../../replication/peer.h"
#include "../../replication/transport.h"
#include "../../replication/tunnel.h"
#include "helpers.h"

static void fini(void)
{
	h_leak_check();
}

TestSuite(peer, .fini = fini);

static void encode(const struct peer_msg *m, uint8_t **buf, size_t *len)
{
	void *p;

	cr_assert_eq(peer_encode(m, &p, len), 0);
	*buf = p;
}

Test(peer, round_trip)
{
	static const char data[] = "127.0.0.1:7440";
	struct peer_msg m = {.type = PEER_JOIN,
			     .response = true,
			     .seq = 0x1122334455667788ull,
			     .status = -ETIMEDOUT,
			     .value = 42,
			     .data = data,
			     .len = sizeof(data) - 1},
			out;
	uint8_t *buf;
	size_t len;

	encode(&m, &buf, &len);
	cr_assert_eq(len, 4 + PEER_HEADER_SIZE + m.len);
	cr_assert_eq(peer_decode(buf + 4, len - 4, &out), 0);
	cr_assert_eq(out.type, m.type);
	cr_assert(out.response);
	cr_assert_eq(out.seq, m.seq);
	cr_assert_eq(out.status, m.status);
	cr_assert_eq(out.value, m.value);
	cr_assert_eq(out.len, m.len);
	cr_assert_eq(memcmp(out.data, data, m.len), 0);
	free(buf);
}

Test(peer, every_truncation_and_bad_field_is_rejected)
{
	struct peer_msg m = {.type = PEER_FORWARD, .seq = 7, .data = "abcdefgh", .len = 8}, out;
	uint8_t *buf, *copy;
	size_t len;

	encode(&m, &buf, &len);
	for (size_t n = 0; n < len - 4; n++) {
		copy = malloc(n + 1); /* exact size: ASan catches any over-read */
		memcpy(copy, buf + 4, n);
		cr_assert_eq(peer_decode(copy, n, &out), -EINVAL, "truncated to %zu bytes", n);
		free(copy);
	}
	copy = malloc(len - 4);
	memcpy(copy, buf + 4, len - 4);
	copy[0] = 0; /* type 0 */
	cr_assert_eq(peer_decode(copy, len - 4, &out), -EINVAL);
	copy[0] = PEER_TYPE_MAX;
	cr_assert_eq(peer_decode(copy, len - 4, &out), -EINVAL);
	copy[0] = PEER_FORWARD;
	copy[1] = 2; /* neither request nor response */
	cr_assert_eq(peer_decode(copy, len - 4, &out), -EINVAL);
	copy[1] = 0;
	copy[2] = 1; /* reserved */
	cr_assert_eq(peer_decode(copy, len - 4, &out), -EINVAL);
	copy[2] = 0;
	copy[28] = 9; /* data length disagrees with the frame */
	cr_assert_eq(peer_decode(copy, len - 4, &out), -EINVAL);
	copy[28] = 8;
	cr_assert_eq(peer_decode(copy, len - 4, &out), 0);
	free(copy);
	free(buf);
	m.type = 0;
	cr_assert_eq(peer_encode(&m, (void **)&buf, &len), -EINVAL);
	m.type = PEER_FORWARD;
	m.len = PEER_MAX_FRAME;
	cr_assert_eq(peer_encode(&m, (void **)&buf, &len), -EINVAL, "oversized");
}

Test(peer, random_mutations_never_crash)
{
	struct peer_msg m = {.type = PEER_BARRIER, .seq = 3, .value = 9, .data = "xyz", .len = 3},
			out;
	uint8_t *buf;
	size_t len;

	srand(12345);
	encode(&m, &buf, &len);
	for (int i = 0; i < 20000; i++) {
		size_t n = len - 4 - (size_t)(rand() % 3);
		uint8_t *copy = malloc(n);

		memcpy(copy, buf + 4, n);
		for (int k = 0; k < 1 + rand() % 4; k++)
			copy[(size_t)rand() % n] = (uint8_t)rand();
		if (peer_decode(copy, n, &out) == 0) {
			void *again;
			size_t again_len;

			cr_assert_eq(peer_encode(&out, &again, &again_len), 0);
			cr_assert_eq(again_len, n + 4);
			cr_assert_eq(memcmp((uint8_t *)again + 4, copy, n), 0);
			free(again);
		}
		free(copy);
	}
	free(buf);
}

/* --- a connection fed from a socketpair ------------------------------------------ */

struct conn_test {
	uv_loop_t loop;
	int msgs;
	bool closed;
	uint64_t last_seq;
};

static void on_msg(struct peer_conn *c, const struct peer_msg *m)
{
	struct conn_test *t = peer_conn_data(c);

	t->msgs++;
	t->last_seq = m->seq;
}

static void on_close(struct peer_conn *c)
{
	struct conn_test *t = peer_conn_data(c);

	t->closed = true;
}

/* Feed @bytes into a peer connection one byte at a time, then close our
 * end; run the loop until the connection is gone. */
static void feed(struct conn_test *t, const uint8_t *bytes, size_t len)
{
	int sv[2];
	uv_pipe_t *pipe = malloc(sizeof(*pipe));
	struct peer_conn *c;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	uv_loop_init(&t->loop);
	uv_pipe_init(&t->loop, pipe, 0);
	cr_assert_eq(uv_pipe_open(pipe, sv[0]), 0);
	c = peer_conn_new(tunnel_new(&t->loop, (uv_stream_t *)pipe, NULL, NULL, "test"), 9, on_msg,
			  on_close, t);
	cr_assert_not_null(c);
	signal(SIGPIPE, SIG_IGN); /* the connection may close before we are done */
	for (size_t i = 0; i < len; i++) {
		if (write(sv[1], bytes + i, 1) != 1) {
			cr_assert_eq(errno, EPIPE);
			break;
		}
		uv_run(&t->loop, UV_RUN_NOWAIT);
	}
	close(sv[1]);
	for (int i = 0; i < 1000 && !t->closed; i++)
		uv_run(&t->loop, UV_RUN_ONCE);
	cr_assert(t->closed, "the connection did not close");
	uv_run(&t->loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(&t->loop), 0, "handles left open");
}

Test(peer, frames_split_byte_by_byte_arrive_whole)
{
	struct conn_test t = {0};
	struct peer_msg m = {.type = PEER_FORWARD, .seq = 5, .data = "entry", .len = 5};
	uint8_t *a, *b, *both;
	size_t la, lb;

	encode(&m, &a, &la);
	m.seq = 6;
	encode(&m, &b, &lb);
	both = malloc(la + lb);
	memcpy(both, a, la);
	memcpy(both + la, b, lb);
	feed(&t, both, la + lb);
	cr_assert_eq(t.msgs, 2);
	cr_assert_eq(t.last_seq, 6u);
	free(a);
	free(b);
	free(both);
}

Test(peer, garbage_and_oversized_frames_close_the_connection)
{
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0};
	static const uint8_t tiny[] = {3, 0, 0, 0, 1, 0, 0};
	struct conn_test t1 = {0}, t2 = {0}, t3 = {0};
	struct peer_msg m = {.type = PEER_FORWARD, .seq = 1, .data = "x", .len = 1};
	uint8_t *buf;
	size_t len;

	feed(&t1, huge, sizeof(huge));
	cr_assert_eq(t1.msgs, 0);
	feed(&t2, tiny, sizeof(tiny));
	cr_assert_eq(t2.msgs, 0);
	encode(&m, &buf, &len);
	buf[4] = 0xee; /* bad type inside a well-sized frame */
	feed(&t3, buf, len);
	cr_assert_eq(t3.msgs, 0);
	free(buf);
}

/* Large frames: what the read buffer holds when frame @seq arrives. */
static size_t capacity_at[3];

static void on_msg_capacity(struct peer_conn *c, const struct peer_msg *m)
{
	struct conn_test *t = peer_conn_data(c);

	t->msgs++;
	if (m->seq < 3)
		capacity_at[m->seq] = peer_conn_read_capacity(c);
}

/* Write @len bytes to @fd without blocking, running @loop meanwhile. */
static void pump(uv_loop_t *loop, int fd, const uint8_t *p, size_t len)
{
	for (int rounds = 0; len > 0; rounds++) {
		ssize_t n = send(fd, p, len, MSG_DONTWAIT);

		cr_assert_lt(rounds, 1000000, "the connection stopped reading");
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else {
			cr_assert(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "send: %s",
				  strerror(errno));
		}
		uv_run(loop, UV_RUN_NOWAIT);
	}
}

/* Frame 1 of @big_len zero bytes and frame 2 of 5, encoded back to back
 * (*la is frame 1's length), and a connection on a socketpair whose other
 * end is sv[1]. */
static uint8_t *large_then_small(struct conn_test *t, size_t big_len, size_t *la, size_t *len,
				 int sv[2])
{
	char *big = calloc(1, big_len);
	struct peer_msg m = {.type = PEER_FORWARD, .seq = 1, .data = big, .len = (uint32_t)big_len};
	uv_pipe_t *pipe = malloc(sizeof(*pipe));
	uint8_t *a, *b, *both;
	size_t lb;

	encode(&m, &a, la);
	m.seq = 2;
	m.data = "small";
	m.len = 5;
	encode(&m, &b, &lb);
	both = malloc(*la + lb);
	memcpy(both, a, *la);
	memcpy(both + *la, b, lb);
	*len = *la + lb;
	free(a);
	free(b);
	free(big);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	uv_loop_init(&t->loop);
	uv_pipe_init(&t->loop, pipe, 0);
	cr_assert_eq(uv_pipe_open(pipe, sv[0]), 0);
	cr_assert_not_null(peer_conn_new(tunnel_new(&t->loop, (uv_stream_t *)pipe, NULL, NULL,
						    "test"),
					 9, on_msg_capacity, on_close, t));
	return both;
}

static void run_until_msgs(struct conn_test *t, int want)
{
	for (int i = 0; i < 10000 && t->msgs < want; i++)
		uv_run(&t->loop, UV_RUN_NOWAIT);
	cr_assert_eq(t->msgs, want, "%d of %d frames arrived", t->msgs, want);
}

static void close_peer(struct conn_test *t, int fd)
{
	close(fd);
	for (int i = 0; i < 1000 && !t->closed; i++)
		uv_run(&t->loop, UV_RUN_ONCE);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(&t->loop), 0, "handles left open");
}

/* A large frame's read buffer is given back once the frame is consumed:
 * raft's connections take snapshots as large as the store, and a
 * connection kept that much memory for as long as it lived. */
Test(peer, a_large_frame_does_not_keep_its_buffer)
{
	struct conn_test t = {0};
	size_t la, len;
	int sv[2];
	uint8_t *both = large_then_small(&t, 6u << 20, &la, &len, sv);

	pump(&t.loop, sv[1], both, la);
	run_until_msgs(&t, 1);
	pump(&t.loop, sv[1], both + la, len - la);
	run_until_msgs(&t, 2);
	cr_assert_leq(capacity_at[2], 1u << 20, "the connection still holds %zu bytes",
		      capacity_at[2]);
	close_peer(&t, sv[1]);
	free(both);
}

/* A large frame and the start of the next in one read: the buffer sized
 * for the large frame takes the next one after it is consumed, instead of
 * doubling (2 GiB for a 1 GiB snapshot). */
Test(peer, a_large_frame_and_the_next_do_not_double_the_buffer)
{
	struct conn_test t = {0};
	size_t la, len;
	int sv[2];
	uint8_t *both = large_then_small(&t, (6u << 20) + 1000, &la, &len, sv);

	pump(&t.loop, sv[1], both, len);
	run_until_msgs(&t, 2);
	cr_assert_lt(capacity_at[1], la + (1u << 20), "%zu bytes for a frame of %zu",
		     capacity_at[1], la);
	close_peer(&t, sv[1]);
	free(both);
}

/* --- the handshake --------------------------------------------------------------- */

struct hs_test {
	uv_loop_t loop;
	struct raft_uv_transport server, client;
	int server_streams, client_done, client_status;
	uint64_t server_saw_id;
};

static void close_free(uv_handle_t *h)
{
	free(h);
}

static void server_peer(void *arg, struct tunnel *tun, uint64_t id, const char *address,
			int status)
{
	struct hs_test *t = arg;

	(void)address;
	cr_assert_eq(status, 0);
	t->server_streams++;
	t->server_saw_id = id;
	tunnel_end(tun);
}

static void client_peer(void *arg, struct tunnel *tun, uint64_t id, const char *address,
			int status)
{
	struct hs_test *t = arg;

	(void)id;
	(void)address;
	t->client_done++;
	t->client_status = status;
	if (tun != NULL)
		tunnel_end(tun);
}

static void raft_accept_unused(struct raft_uv_transport *rt, raft_id id, const char *address,
			       struct uv_stream_s *stream)
{
	(void)rt;
	(void)id;
	(void)address;
	uv_close((uv_handle_t *)stream, close_free);
}

static void transport_closed(struct raft_uv_transport *rt)
{
	(void)rt;
}

static void handshake(struct hs_test *t, uint8_t client_key_byte)
{
	uint8_t key[TRANSPORT_KEY_SIZE], other[TRANSPORT_KEY_SIZE];
	char address[64];
	int port = 0;

	/* As in the daemon: a write to a closed socket is an error, not a
	 * signal (the tunnel writes on both ends). */
	signal(SIGPIPE, SIG_IGN);
	memset(key, 0x5a, sizeof(key));
	memset(other, client_key_byte, sizeof(other));
	uv_loop_init(&t->loop);
	cr_assert_eq(transport_init(&t->server, &t->loop, key), 0);
	cr_assert_eq(transport_init(&t->client, &t->loop, other), 0);
	transport_set_peer_cb(&t->server, server_peer, t);
	/* A free port: the transport needs its address before it listens, so
	 * ask the kernel for one with a socket of our own, and try again if
	 * somebody took it meanwhile (a failed listen leaves nothing behind). */
	for (int tries = 0; tries < 50 && port == 0; tries++) {
		port = h_free_port();
		snprintf(address, sizeof(address), "127.0.0.1:%d", port);
		cr_assert_eq(t->server.init(&t->server, 1, address), 0);
		if (t->server.listen(&t->server, raft_accept_unused) != 0)
			port = 0;
	}
	cr_assert_neq(port, 0);
	cr_assert_eq(transport_connect_peer(&t->client, 2, "127.0.0.1:1", address, client_peer, t),
		     0);
	for (int i = 0; i < 10000 && t->client_done == 0; i++)
		uv_run(&t->loop, UV_RUN_ONCE);
	for (int i = 0; i < 100; i++)
		uv_run(&t->loop, UV_RUN_NOWAIT);
	t->server.close(&t->server, transport_closed);
	t->client.close(&t->client, transport_closed);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(&t->loop), 0, "handles left open");
	transport_free(&t->server);
	transport_free(&t->client);
}

Test(peer, the_same_key_gets_a_stream)
{
	struct hs_test t = {0};

	handshake(&t, 0x5a);
	cr_assert_eq(t.client_done, 1);
	cr_assert_eq(t.client_status, 0);
	cr_assert_eq(t.server_streams, 1);
	cr_assert_eq(t.server_saw_id, 2u, "the id the client proved");
}

Test(peer, another_key_gets_nothing)
{
	struct hs_test t = {0};

	handshake(&t, 0x33);
	cr_assert_eq(t.client_done, 1);
	cr_assert_eq(t.client_status, -EACCES);
	cr_assert_eq(t.server_streams, 0, "the server handed out a stream to a stranger");
}

Test(peer, addresses_are_parsed_strictly)
{
	char host[64], port[8];

	cr_assert_eq(transport_split_address("10.0.0.1:7440", host, sizeof(host), port, sizeof(port)), 0);
	cr_assert_str_eq(host, "10.0.0.1");
	cr_assert_str_eq(port, "7440");
	cr_assert_eq(transport_split_address("[::1]:80", host, sizeof(host), port, sizeof(port)), 0);
	cr_assert_str_eq(host, "::1");
	cr_assert_eq(transport_split_address("node-a.lan:1", host, sizeof(host), port, sizeof(port)), 0);
	cr_assert_str_eq(host, "node-a.lan");
	cr_assert_eq(transport_split_address("::1:80", host, sizeof(host), port, sizeof(port)), -EINVAL);
	cr_assert_eq(transport_split_address("host", host, sizeof(host), port, sizeof(port)), -EINVAL);
	cr_assert_eq(transport_split_address("host:", host, sizeof(host), port, sizeof(port)), -EINVAL);
	cr_assert_eq(transport_split_address(":80", host, sizeof(host), port, sizeof(port)), -EINVAL);
	cr_assert_eq(transport_split_address("h:99999", host, sizeof(host), port, sizeof(port)), -EINVAL);
	cr_assert_eq(transport_split_address("h:8x", host, sizeof(host), port, sizeof(port)), -EINVAL);
}

/* A listen that fails (the port is taken) leaves nothing on the loop, and
 * the transport can listen again elsewhere: once left a TCP handle behind,
 * re-initialised the next time (the loop then could not close). */
Test(peer, a_failed_listen_leaves_no_handle)
{
	struct hs_test t = {0};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	uint8_t key[TRANSPORT_KEY_SIZE];
	char address[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0), retry_port;

	memset(key, 0x5a, sizeof(key));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	uv_loop_init(&t.loop);
	cr_assert_eq(transport_init(&t.server, &t.loop, key), 0);
	snprintf(address, sizeof(address), "127.0.0.1:%d", ntohs(sa.sin_port));
	cr_assert_eq(t.server.init(&t.server, 1, address), 0);
	cr_assert_neq(t.server.listen(&t.server, raft_accept_unused), 0, "listened on a taken port");
	retry_port = h_free_port(); /* another port, free now */
	snprintf(address, sizeof(address), "127.0.0.1:%d", retry_port);
	cr_assert_eq(t.server.init(&t.server, 1, address), 0);
	cr_assert_eq(t.server.listen(&t.server, raft_accept_unused), 0, "listen on port %d",
		     retry_port);
	t.server.close(&t.server, transport_closed);
	uv_run(&t.loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(&t.loop), 0, "handles left open");
	transport_free(&t.server);
	close(fd);
}
