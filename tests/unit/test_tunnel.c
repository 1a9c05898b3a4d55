/*
 * The tunnel (replication/tunnel.c): two tunnels over a real loopback TCP
 * pair, or one tunnel facing a raw socket of the test that plays the peer
 * (to tamper with frames); plain tunnels; tunnels their receiver never
 * starts.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "../../common/log.h"
#include "../../replication/sealed.h"
#include "../../replication/tunnel.h"

struct side {
	struct tunnel *t;
	uint8_t *got;
	size_t len, cap;
	int ended;
	int after_end; /* data after on_end: must stay 0 */
};

static void on_data(void *arg, const uint8_t *data, size_t len)
{
	struct side *s = arg;

	if (s->ended)
		s->after_end++;
	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		s->got = realloc(s->got, s->cap);
		cr_assert_not_null(s->got);
	}
	memcpy(s->got + s->len, data, len);
	s->len += len;
}

static void on_end(void *arg)
{
	struct side *s = arg;

	s->ended++;
}

/* A connected loopback TCP pair (blocking set-up; the loop gets them
 * afterwards). */
static void tcp_pair(int fds[2])
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(l, 0);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l, 1), 0);
	cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &alen), 0);
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(fds[0], (struct sockaddr *)&a, sizeof(a)), 0);
	fds[1] = accept(l, NULL, NULL);
	cr_assert_geq(fds[1], 0);
	close(l);
}

static uv_tcp_t *tcp_handle(uv_loop_t *loop, int fd)
{
	uv_tcp_t *tcp = malloc(sizeof(*tcp));

	cr_assert_not_null(tcp);
	uv_tcp_init(loop, tcp);
	cr_assert_eq(uv_tcp_open(tcp, fd), 0);
	return tcp;
}

static const uint8_t key_ab[SEALED_KEY_SIZE] = {1, 2, 3};
static const uint8_t key_ba[SEALED_KEY_SIZE] = {4, 5, 6};

static void run_until(uv_loop_t *loop, const int *flag, int want)
{
	for (int i = 0; i < 20000 && *flag < want; i++)
		uv_run(loop, UV_RUN_NOWAIT);
}

static void run_until_len(uv_loop_t *loop, const struct side *s, size_t want)
{
	for (int i = 0; i < 20000 && s->len < want; i++)
		uv_run(loop, UV_RUN_NOWAIT);
}

/* A started tunnel on @fd under @tx and @rx (NULL, NULL: plain). */
static struct tunnel *started(uv_loop_t *loop, int fd, const uint8_t *tx, const uint8_t *rx,
			      struct side *s)
{
	struct tunnel *t = tunnel_new(loop, (uv_stream_t *)tcp_handle(loop, fd), tx, rx, "peer-x");

	cr_assert_not_null(t);
	cr_assert_eq(tunnel_start(t, on_data, on_end, s), 0);
	return t;
}

static void finish(uv_loop_t *loop)
{
	uv_run(loop, UV_RUN_DEFAULT);
	cr_assert_eq(tunnel_count(), 0, "a tunnel was left open");
	cr_assert_eq(uv_loop_close(loop), 0, "handles left open");
}

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_setup("test", LOG_LEVEL_INFO);
}

Test(tunnel, tunnels_carry_bytes_both_ways_in_order, .init = setup)
{
	uv_loop_t loop;
	int fds[2];
	struct side a = {0}, b = {0};
	size_t big = 3 * SEALED_MAX_PLAIN + 17; /* several frames */
	uint8_t *msg = malloc(big);

	for (size_t i = 0; i < big; i++)
		msg[i] = (uint8_t)(i * 7);
	uv_loop_init(&loop);
	tcp_pair(fds);
	a.t = started(&loop, fds[0], key_ab, key_ba, &a);
	b.t = started(&loop, fds[1], key_ba, key_ab, &b);
	cr_assert_eq(tunnel_send(a.t, "hello", 5, NULL, NULL), 0);
	cr_assert_eq(tunnel_send(a.t, msg, big, NULL, NULL), 0);
	cr_assert_eq(tunnel_send(b.t, "back", 4, NULL, NULL), 0);
	for (int i = 0; i < 20000 && (b.len < 5 + big || a.len < 4); i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	cr_assert_eq(b.len, 5 + big);
	cr_assert(memcmp(b.got, "hello", 5) == 0 && memcmp(b.got + 5, msg, big) == 0);
	cr_assert_eq(a.len, 4);
	cr_assert(memcmp(a.got, "back", 4) == 0);
	/* An orderly end: the final frame, then both sides end. */
	tunnel_end(a.t);
	cr_assert_eq(tunnel_send(a.t, "late", 4, NULL, NULL), -ENOTCONN);
	run_until(&loop, &b.ended, 1);
	run_until(&loop, &a.ended, 1);
	cr_assert_eq(a.ended, 1);
	cr_assert_eq(b.ended, 1);
	finish(&loop);
	cr_assert_eq(a.after_end + b.after_end, 0);
	free(msg);
	free(a.got);
	free(b.got);
}

/* The test plays the peer on raw fd @fd: our header, then @frames. */
static void raw_peer_sends(int fd, const uint8_t *frames, size_t len)
{
	cr_assert_eq(write(fd, frames, len), (ssize_t)len);
}

/* Header and two sealed frames ("one", "two") from a peer under key_ba;
 * returns the length, and the offsets of the frames. */
static size_t peer_stream(uint8_t *out, size_t *f1, size_t *f2)
{
	struct sealed_tx tx;
	size_t off = SEALED_HEADER_SIZE;

	sealed_tx_init(&tx, key_ba, out);
	*f1 = off;
	off += sealed_seal(&tx, (const uint8_t *)"one", 3, false, out + off);
	*f2 = off;
	off += sealed_seal(&tx, (const uint8_t *)"two", 3, false, out + off);
	return off;
}

static void refused(void (*tamper)(uint8_t *buf, size_t *len, size_t f1, size_t f2),
		    const char *expect_log)
{
	uv_loop_t loop;
	int fds[2];
	struct side a = {0};
	uint8_t buf[256];
	size_t f1, f2, len;
	char logged[4096] = "";
	FILE *err;

	uv_loop_init(&loop);
	tcp_pair(fds);
	a.t = started(&loop, fds[0], key_ab, key_ba, &a);
	len = peer_stream(buf, &f1, &f2);
	tamper(buf, &len, f1, f2);
	raw_peer_sends(fds[1], buf, len);
	shutdown(fds[1], SHUT_WR);
	run_until(&loop, &a.ended, 1);
	cr_assert_eq(a.ended, 1, "the tunnel did not end");
	/* Only what came before the bad frame got through. */
	cr_assert(a.len == 0 || (a.len == 3 && memcmp(a.got, "one", 3) == 0));
	close(fds[1]);
	finish(&loop);
	fflush(stderr);
	err = cr_get_redirected_stderr();
	logged[fread(logged, 1, sizeof(logged) - 1, err)] = 0;
	cr_assert(strstr(logged, "peer-x") != NULL && strstr(logged, expect_log) != NULL,
		  "no logged reason naming the peer: %s", logged);
	free(a.got);
}

static void flip_second(uint8_t *buf, size_t *len, size_t f1, size_t f2)
{
	(void)len;
	(void)f1;
	buf[f2 + SEALED_PREFIX_SIZE + 1] ^= 0x10;
}

static void swap_frames(uint8_t *buf, size_t *len, size_t f1, size_t f2)
{
	uint8_t tmp[128];
	size_t n1 = f2 - f1, n2 = *len - f2;

	memcpy(tmp, buf + f1, n1);
	memmove(buf + f1, buf + f2, n2);
	memcpy(buf + f1 + n2, tmp, n1);
}

static void replay_first(uint8_t *buf, size_t *len, size_t f1, size_t f2)
{
	memcpy(buf + f2, buf + f1, f2 - f1);
	*len = f2 + (f2 - f1);
}

static void cut_second(uint8_t *buf, size_t *len, size_t f1, size_t f2)
{
	(void)buf;
	(void)f1;
	*len = f2 + 5;
}

Test(tunnel, a_tunnel_refuses_a_modified_frame, .init = setup)
{
	cr_redirect_stderr();
	refused(flip_second, "failed authentication");
}

Test(tunnel, a_tunnel_refuses_reordered_frames, .init = setup)
{
	cr_redirect_stderr();
	refused(swap_frames, "failed authentication");
}

Test(tunnel, a_tunnel_refuses_a_replayed_frame, .init = setup)
{
	cr_redirect_stderr();
	refused(replay_first, "failed authentication");
}

Test(tunnel, a_tunnel_refuses_a_cut_frame, .init = setup)
{
	cr_redirect_stderr();
	refused(cut_second, "cut inside a frame");
}

/* A large message (a snapshot can be the whole store) is sealed a step at
 * a time while the socket keeps up: with a peer that does not read, what
 * waits sealed in memory stays near TUNNEL_STEP, not the whole message
 * (once sealed at once, stalling the loop and doubling the memory). It
 * arrives whole once the peer reads, and its sender hears once, at the
 * end. */
struct sent_count {
	int calls, status;
};

static void count_sent(void *arg, int status)
{
	struct sent_count *c = arg;

	c->calls++;
	c->status = status;
}

#define BIG_MESSAGE (64u << 20) /* more than loopback's socket buffers */

/* A started tunnel a sending a BIG_MESSAGE of @msg to a peer's tunnel,
 * returned, that is not started: it reads nothing yet. */
static struct tunnel *big_send(uv_loop_t *loop, struct side *a, const uint8_t *msg,
			       struct sent_count *sc)
{
	int fds[2];
	struct tunnel *tb;

	uv_loop_init(loop);
	tcp_pair(fds);
	a->t = started(loop, fds[0], key_ab, key_ba, a);
	tb = tunnel_new(loop, (uv_stream_t *)tcp_handle(loop, fds[1]), key_ba, key_ab, "a");
	cr_assert_not_null(tb);
	cr_assert_eq(tunnel_send(a->t, msg, BIG_MESSAGE, count_sent, sc), 0);
	return tb;
}

Test(tunnel, a_large_message_is_sealed_as_the_socket_drains, .init = setup)
{
	uv_loop_t loop;
	struct side a = {0}, b = {0};
	struct sent_count sc = {0};
	uint8_t *msg = malloc(BIG_MESSAGE);
	struct tunnel *tb;
	size_t most = 0;

	for (size_t i = 0; i < BIG_MESSAGE; i++)
		msg[i] = (uint8_t)(i * 13 + (i >> 16));
	tb = big_send(&loop, &a, msg, &sc);
	for (int i = 0; i < 200; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		if (tunnel_queued(a.t) > most)
			most = tunnel_queued(a.t);
	}
	cr_assert_eq(sc.calls, 0, "told before the peer read anything");
	cr_assert_leq(most, 2 * TUNNEL_STEP, "%zu bytes sealed and waiting at once", most);
	cr_assert_eq(tunnel_start(tb, on_data, on_end, &b), 0);
	run_until_len(&loop, &b, BIG_MESSAGE);
	cr_assert_eq(b.len, BIG_MESSAGE);
	cr_assert(memcmp(b.got, msg, BIG_MESSAGE) == 0, "the message arrived altered");
	for (int i = 0; i < 1000 && sc.calls == 0; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	cr_assert_eq(sc.calls, 1);
	cr_assert_eq(sc.status, 0);
	tunnel_end(a.t);
	run_until(&loop, &b.ended, 1);
	run_until(&loop, &a.ended, 1);
	finish(&loop);
	free(msg);
	free(a.got);
	free(b.got);
}

/* tunnel_cancel drops what is not sealed yet: its sender hears
 * -ECANCELED at once and the tunnel never reads those bytes again (freed
 * here right away: ASan would see a read), while what follows the cancel
 * still goes out. */
Test(tunnel, a_cancelled_message_is_never_read_again, .init = setup)
{
	uv_loop_t loop;
	struct side a = {0}, b = {0};
	struct sent_count sc = {0};
	uint8_t *msg = malloc(BIG_MESSAGE);
	struct tunnel *tb;

	memset(msg, 0x77, BIG_MESSAGE);
	tb = big_send(&loop, &a, msg, &sc);
	for (int i = 0; i < 50; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	cr_assert_eq(sc.calls, 0);
	tunnel_cancel(a.t);
	cr_assert_eq(sc.calls, 1, "the sender was not told at once");
	cr_assert_eq(sc.status, -ECANCELED);
	free(msg);
	tunnel_end(a.t);
	cr_assert_eq(tunnel_start(tb, on_data, on_end, &b), 0);
	run_until(&loop, &b.ended, 1);
	run_until(&loop, &a.ended, 1);
	cr_assert_lt(b.len, BIG_MESSAGE, "all of a cancelled message arrived");
	cr_assert_eq(sc.calls, 1);
	finish(&loop);
	free(a.got);
	free(b.got);
}

/* A plain tunnel (the benchmark-only switch) passes bytes through as they
 * are, and its end is an orderly shutdown: the peer reads everything, then
 * EOF. */
Test(tunnel, a_plain_tunnel_passes_bytes_through, .init = setup)
{
	uv_loop_t loop;
	int fds[2];
	struct side a = {0};
	char got[64] = "";
	ssize_t n, total = 0;

	uv_loop_init(&loop);
	tcp_pair(fds);
	a.t = started(&loop, fds[0], NULL, NULL, &a);
	cr_assert_eq(tunnel_send(a.t, "in the clear", 12, NULL, NULL), 0);
	raw_peer_sends(fds[1], (const uint8_t *)"back", 4);
	run_until_len(&loop, &a, 4);
	cr_assert_eq(a.len, 4);
	cr_assert(memcmp(a.got, "back", 4) == 0);
	tunnel_end(a.t);
	for (int i = 0; i < 20000; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		n = recv(fds[1], got + total, sizeof(got) - 1 - (size_t)total, MSG_DONTWAIT);
		if (n == 0)
			break; /* EOF after the data */
		if (n > 0)
			total += n;
	}
	cr_assert_eq(total, 12, "got %zd bytes: %s", total, got);
	cr_assert(memcmp(got, "in the clear", 12) == 0);
	close(fds[1]);
	run_until(&loop, &a.ended, 1);
	cr_assert_eq(a.ended, 1);
	finish(&loop);
	free(a.got);
}

/* A tunnel its receiver ends without starting it (the node is closing)
 * sends its final frame and is freed: no callback, nothing left open. */
Test(tunnel, a_tunnel_ended_before_it_started_is_dropped, .init = setup)
{
	uv_loop_t loop;
	int fds[2];
	struct tunnel *t;
	uint8_t wire[256];
	ssize_t n, total = 0;

	uv_loop_init(&loop);
	tcp_pair(fds);
	t = tunnel_new(&loop, (uv_stream_t *)tcp_handle(&loop, fds[0]), key_ab, key_ba, "peer");
	cr_assert_not_null(t);
	tunnel_end(t);
	for (int i = 0; i < 20000; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		n = recv(fds[1], wire + total, sizeof(wire) - (size_t)total, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			total += n;
	}
	cr_assert_eq(total, SEALED_HEADER_SIZE + SEALED_PREFIX_SIZE + SEALED_ABYTES,
		     "the header and the final frame (%zd bytes)", total);
	close(fds[1]);
	finish(&loop);
}

/* A tunnel whose connection went before its receiver started it (the
 * header could not be written: the peer reset the connection) is freed
 * by tunnel_start, which says so; no callback runs. */
Test(tunnel, a_tunnel_gone_before_it_started_is_refused, .init = setup)
{
	uv_loop_t loop;
	int fds[2];
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct side a = {0};
	struct tunnel *t;

	uv_loop_init(&loop);
	tcp_pair(fds);
	cr_assert_eq(setsockopt(fds[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fds[1]); /* a reset */
	t = tunnel_new(&loop, (uv_stream_t *)tcp_handle(&loop, fds[0]), key_ab, key_ba, "peer");
	cr_assert_not_null(t);
	for (int i = 0; i < 100; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	cr_assert_eq(tunnel_start(t, on_data, on_end, &a), -ENOTCONN);
	finish(&loop);
	cr_assert_eq(a.ended, 0);
}
