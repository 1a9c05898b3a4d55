/*
 * Fuzz target: the node protocol (replication/peer.c), both layers.
 *
 * 1. peer_decode() on the whole input as one frame body: it must reject
 *    anything malformed, and what it accepts must encode back to the same
 *    bytes. A PEER_HEALTH frame's report or member table (health.h) is
 *    decoded too: refused unless whole, C strings out.
 * 2. A real peer connection (libuv, a socketpair) fed the input as a byte
 *    stream: the first byte is the size of the pieces the stream is written
 *    in (0: all at once), so frames arrive split anywhere. Every frame the
 *    connection delivers must be the next frame of the stream, byte for
 *    byte; the connection must close exactly once (on a bad frame or at the
 *    end of the stream) and leave no handle open or memory allocated. The
 *    message callback answers some frames and closes the connection on
 *    others (input-driven), as the node's handlers do.
 *
 * Single-threaded; one loop, empty between inputs.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "../../common/log.h"
#include "../../replication/health.h"
#include "../../replication/peer.h"
#include "../../replication/tunnel.h"
#include "fuzz.h"

static void check_decode(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size > 0 ? size : 1);
	struct peer_msg m;
	void *again;
	size_t again_len;

	FUZZ_CHECK(copy != NULL);
	if (size > 0)
		memcpy(copy, data, size);
	if (peer_decode(copy, size, &m) == 0) {
		FUZZ_CHECK(m.type > 0 && m.type < PEER_TYPE_MAX);
		FUZZ_CHECK((size_t)m.len + PEER_HEADER_SIZE == size);
		FUZZ_CHECK(m.len == 0 || ((const uint8_t *)m.data >= copy &&
					  (const uint8_t *)m.data + m.len <= copy + size));
		FUZZ_CHECK(peer_encode(&m, &again, &again_len) == 0);
		FUZZ_CHECK(again_len == size + 4);
		FUZZ_CHECK(memcmp((uint8_t *)again + 4, copy, size) == 0);
		free(again);
		/* A health report or table, as the node reads them (view.c). */
		if (m.type == PEER_HEALTH && !m.response) {
			struct health_report r;

			if (health_report_decode(m.data, m.len, m.value, &r) == 0)
				FUZZ_CHECK(strlen(r.version) < HEALTH_VERSION_SIZE);
		} else if (m.type == PEER_HEALTH) {
			static struct health_row rows[HEALTH_MAX_MEMBERS];
			int n = health_rows_decode(m.data, m.len, rows, HEALTH_MAX_MEMBERS);

			FUZZ_CHECK(n == -EINVAL || (n >= 0 && n <= HEALTH_MAX_MEMBERS &&
						    (size_t)n * HEALTH_ROW_SIZE == m.len));
			for (int i = 0; i < n; i++)
				FUZZ_CHECK(strlen(rows[i].report.version) < HEALTH_VERSION_SIZE);
		}
	}
	free(copy);
}

struct stream_test {
	const uint8_t *stream; /* what we write */
	size_t len;
	size_t pos; /* where the next delivered frame must start */
	int closes;
	int msgs;
};

static void on_msg(struct peer_conn *c, const struct peer_msg *m)
{
	struct stream_test *t = peer_conn_data(c);
	void *frame;
	size_t frame_len;

	t->msgs++;
	FUZZ_CHECK(t->closes == 0);
	FUZZ_CHECK(m->type > 0 && m->type < PEER_TYPE_MAX);
	FUZZ_CHECK(peer_encode(m, &frame, &frame_len) == 0);
	FUZZ_CHECK(frame_len <= t->len - t->pos);
	FUZZ_CHECK(memcmp(frame, t->stream + t->pos, frame_len) == 0);
	t->pos += frame_len;
	free(frame);
	/* What the node's handlers do: answer a request, or give up on the
	 * peer; the input decides which. */
	if (!m->response) {
		struct peer_msg r = *m;

		r.response = true;
		r.status = -EIO;
		peer_conn_send(c, &r);
	}
	if (m->value == 0xdead)
		peer_conn_close(c);
}

static void on_close(struct peer_conn *c)
{
	struct stream_test *t = peer_conn_data(c);

	t->closes++;
}

static void count_handle(uv_handle_t *h, void *arg)
{
	(void)h;
	(*(int *)arg)++;
}

/* One loop for every input (a new one each time costs more than the rest of
 * the test); after each input it must hold no handle and nothing to do. */
static void check_stream(uv_loop_t *loop, const uint8_t *data, size_t size)
{
	struct stream_test t = {0};
	int handles = 0;
	uv_pipe_t *pipe;
	struct peer_conn *c;
	size_t piece, off = 0;
	int sv[2];

	if (size == 0)
		return;
	piece = data[0] == 0 ? size : data[0];
	t.stream = data + 1;
	t.len = size - 1;

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	/* Never block on a full socket: the loop below reads between writes. */
	FUZZ_CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
	pipe = malloc(sizeof(*pipe));
	FUZZ_CHECK(pipe != NULL);
	FUZZ_CHECK(uv_pipe_init(loop, pipe, 0) == 0);
	FUZZ_CHECK(uv_pipe_open(pipe, sv[0]) == 0);
	/* A plain tunnel: the bytes as they came (the sealing is fuzz_sealed's). */
	c = peer_conn_new(tunnel_new(loop, (uv_stream_t *)pipe, NULL, NULL, "fuzz"), 7, on_msg,
			  on_close, &t);
	FUZZ_CHECK(c != NULL);
	while (off < t.len && t.closes == 0) {
		size_t n = t.len - off < piece ? t.len - off : piece;
		ssize_t w = write(sv[1], t.stream + off, n);

		if (w < 0 && errno != EAGAIN)
			break; /* the connection closed (EPIPE) */
		if (w > 0)
			off += (size_t)w;
		uv_run(loop, UV_RUN_NOWAIT);
	}
	close(sv[1]);
	for (int i = 0; i < 1000 && t.closes == 0; i++)
		uv_run(loop, UV_RUN_ONCE);
	FUZZ_CHECK(t.closes == 1);
	uv_run(loop, UV_RUN_DEFAULT);
	FUZZ_CHECK(t.closes == 1);
	uv_walk(loop, count_handle, &handles);
	FUZZ_CHECK(handles == 0 && !uv_loop_alive(loop)); /* no handle left open */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	static uv_loop_t loop;

	if (!ready) {
		FUZZ_CHECK(uv_loop_init(&loop) == 0);
		log_setup("fuzz_peer", LOG_LEVEL_ERROR); /* no warning per bad frame */
		signal(SIGPIPE, SIG_IGN);
		ready = true;
	}
	check_decode(data, size);
	check_stream(&loop, data, size);
	return 0;
}
