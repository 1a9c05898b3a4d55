/*
 * The encrypted tunnel between a local socketpair end and an authenticated
 * TCP socket; see tunnel.h. Frames are sealed.c's.
 *
 * A struct tunnel owns the TCP handle (malloc'd, freed on close), its end
 * of the socketpair (embedded) and two buffers: the plaintext last read
 * from the local end and the ciphertext read from TCP but not yet opened
 * (at most one frame and a partial one: whole frames are opened as soon as
 * they are complete). Each write has its own request carrying its bytes.
 * The tunnel is freed when both its handles have closed; pending writes are
 * cancelled (and freed) before that. An adopted tunnel (direct use) closes
 * its socketpair end at once and hands opened plaintext to on_data from
 * the same buffer local reads would use; on_end runs when it is freed.
 * Every open tunnel is on one list (tunnel_adopt finds its own by the
 * plaintext end).
 *
 * Loop thread only.
 */
#include "tunnel.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"

struct tunnel {
	uv_loop_t *loop;
	uv_tcp_t *tcp;
	uv_pipe_t local;
	uv_pipe_t *user; /* the end given out (until adopted) */
	struct tunnel *next; /* all open tunnels (tunnel_adopt) */
	/* Direct use (tunnel_adopt): no socketpair, plaintext goes to on_data. */
	bool direct;
	tunnel_data_cb on_data;
	tunnel_end_cb on_end;
	void *arg;
	bool delivered; /* plaintext was passed on to the local end */
	int open_handles;
	bool closing;
	bool tcp_paused, local_paused; /* reading stopped for back-pressure */
	bool local_done;	       /* the local end ended: nothing more to read */
	struct sealed_tx tx;
	struct sealed_rx rx;
	bool rx_ready; /* the peer's header arrived */
	uint8_t rx_key[SEALED_KEY_SIZE];
	char who[96];
	size_t net_len;
	uint8_t net[SEALED_MAX_FRAME];	 /* from TCP, not yet opened */
	uint8_t plain[SEALED_MAX_PLAIN]; /* last read from the local end */
};

struct tunnel_write {
	uv_write_t req;
	struct tunnel *t;
	bool final;
	uint8_t data[];
};

static int tunnels_open;
static struct tunnel *tunnels;

int tunnel_count(void)
{
	return tunnels_open;
}

/* One warning per refused connection, at most TUNNEL_LOG_PER_S a second. */
static void tunnel_warn(struct tunnel *t, const char *why)
{
	static uint64_t window;
	static unsigned in_window, suppressed;
	uint64_t now = uv_now(t->loop) / 1000;

	if (now != window) {
		window = now;
		in_window = 0;
	}
	if (in_window++ >= TUNNEL_LOG_PER_S) {
		suppressed++;
		return;
	}
	if (suppressed > 0)
		log_warn("dropped the connection with %s: %s (and %u more dropped since, not "
			 "logged)",
			 t->who, why, suppressed);
	else
		log_warn("dropped the connection with %s: %s", t->who, why);
	suppressed = 0;
}

static void tunnel_release(struct tunnel *t)
{
	struct tunnel **p = &tunnels;

	if (--t->open_handles > 0)
		return;
	while (*p != NULL && *p != t)
		p = &(*p)->next;
	if (*p == t)
		*p = t->next;
	if (t->direct && t->on_end != NULL)
		t->on_end(t->arg);
	sodium_memzero(t, sizeof(*t));
	free(t);
	tunnels_open--;
}

static void tcp_closed(uv_handle_t *h)
{
	struct tunnel *t = h->data;

	free(h);
	tunnel_release(t);
}

static void local_closed(uv_handle_t *h)
{
	tunnel_release(h->data);
}

static void close_handle(uv_handle_t *h, uv_close_cb cb)
{
	if (!uv_is_closing(h))
		uv_close(h, cb);
}

static void free_handle(uv_handle_t *h);

static void tunnel_close(struct tunnel *t)
{
	if (t->closing)
		return;
	t->closing = true;
	t->user = NULL; /* its user may free it from now on: never match it */
	/* A program tearing its loop down may have closed our handles itself
	 * (uv_walk): then only what is left is ours to close. */
	close_handle((uv_handle_t *)t->tcp, tcp_closed);
	close_handle((uv_handle_t *)&t->local, local_closed);
}

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void local_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void local_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Reading one side resumes once the other side's queue has drained. */
static void tunnel_resume(struct tunnel *t)
{
	if (t->closing)
		return;
	if (t->local_paused && uv_stream_get_write_queue_size((uv_stream_t *)t->tcp) <
				   TUNNEL_HIGH_WATER) {
		t->local_paused = false;
		uv_read_start((uv_stream_t *)&t->local, local_alloc, local_read);
	}
	if (t->tcp_paused && uv_stream_get_write_queue_size((uv_stream_t *)&t->local) <
				 TUNNEL_HIGH_WATER) {
		t->tcp_paused = false;
		uv_read_start((uv_stream_t *)t->tcp, tcp_alloc, tcp_read);
	}
}

static void write_done(uv_write_t *req, int status)
{
	struct tunnel_write *w = req->data;
	struct tunnel *t = w->t;
	bool final = w->final;

	free(w);
	if (t->closing)
		return;
	if (status != 0) {
		log_debug("connection with %s: write failed: %s", t->who, uv_strerror(status));
		tunnel_close(t);
	} else if (final) {
		tunnel_close(t); /* the final frame is out: we are done */
	} else {
		tunnel_resume(t);
	}
}

static struct tunnel_write *write_new(struct tunnel *t, size_t len)
{
	struct tunnel_write *w = malloc(sizeof(*w) + len);

	if (w != NULL) {
		w->t = t;
		w->final = false;
		w->req.data = w;
	}
	return w;
}

/* Write @len bytes of @w to @s and free @w once they are out. What the
 * socket takes at once is written now (uv_try_write: no request, no
 * callback on a later loop turn); only a remainder is queued. */
static void write_to(struct tunnel *t, uv_stream_t *s, struct tunnel_write *w, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
	int n = uv_try_write(s, &b, 1);

	if (n == (int)len) {
		bool final = w->final;

		free(w);
		if (final)
			tunnel_close(t); /* the final frame is out: we are done */
		return;
	}
	if (n < 0 && n != UV_EAGAIN) {
		free(w);
		log_debug("connection with %s: write failed: %s", t->who, uv_strerror(n));
		tunnel_close(t);
		return;
	}
	if (n > 0) {
		b.base += n;
		b.len -= (size_t)n;
	}
	if (uv_write(&w->req, s, &b, 1, write_done) != 0) {
		free(w);
		tunnel_close(t);
	}
}

/* --- local end → TCP ---------------------------------------------------------- */

static void local_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tunnel *t = h->data;

	(void)suggested;
	buf->base = (char *)t->plain;
	buf->len = sizeof(t->plain);
}

static void send_sealed(struct tunnel *t, const uint8_t *plain, size_t len, bool final)
{
	struct tunnel_write *w = write_new(t, SEALED_PREFIX_SIZE + len + SEALED_ABYTES);

	if (w == NULL) {
		tunnel_close(t);
		return;
	}
	w->final = final;
	write_to(t, (uv_stream_t *)t->tcp, w, sealed_seal(&t->tx, plain, len, final, w->data));
}

static void local_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tunnel *t = s->data;

	(void)buf;
	if (t->closing || t->local_done || nread == 0)
		return;
	if (nread == UV_EOF) {
		t->local_done = true;
		t->user = NULL; /* closed by its user, maybe freed */
		/* Our user is done: say so, then go. */
		uv_read_stop(s);
		send_sealed(t, NULL, 0, true);
		return;
	}
	if (nread < 0) {
		t->local_done = true;
		tunnel_close(t);
		return;
	}
	send_sealed(t, t->plain, (size_t)nread, false);
	if (!t->closing &&
	    uv_stream_get_write_queue_size((uv_stream_t *)t->tcp) >= TUNNEL_HIGH_WATER) {
		uv_read_stop(s);
		t->local_paused = true;
	}
}

/* --- TCP → local end ---------------------------------------------------------- */

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tunnel *t = h->data;

	(void)suggested;
	buf->base = (char *)t->net + t->net_len;
	buf->len = sizeof(t->net) - t->net_len;
}

/* Open one complete frame at @p (@size bytes) and pass its plaintext on. */
static bool open_frame(struct tunnel *t, const uint8_t *p, size_t size)
{
	struct tunnel_write *w;
	long n;

	if (t->direct) {
		/* t->plain is free: nothing reads a local end. */
		n = sealed_open(&t->rx, p, size, t->plain);
		if (n < 0) {
			tunnel_warn(t, sealed_strerror((int)n));
			tunnel_close(t);
			return false;
		}
		if (n > 0 && !t->local_done)
			t->on_data(t->arg, t->plain, (size_t)n);
		return !t->closing;
	}
	w = write_new(t, size - SEALED_PREFIX_SIZE - SEALED_ABYTES);

	if (w == NULL) {
		tunnel_close(t);
		return false;
	}
	n = sealed_open(&t->rx, p, size, w->data);
	if (n < 0) {
		free(w);
		tunnel_warn(t, sealed_strerror((int)n));
		tunnel_close(t);
		return false;
	}
	if (n == 0) {
		free(w);
		return true;
	}
	t->delivered = true;
	write_to(t, (uv_stream_t *)&t->local, w, (size_t)n);
	return !t->closing;
}

/* Consume what is complete in t->net: the header, then whole frames. */
static void tcp_consume(struct tunnel *t)
{
	size_t off = 0;

	while (!t->closing) {
		size_t avail = t->net_len - off;
		long size;

		if (!t->rx_ready) {
			if (avail < SEALED_HEADER_SIZE)
				break;
			if (sealed_rx_init(&t->rx, t->rx_key, t->net + off) != 0) {
				tunnel_warn(t, "a bad stream header");
				tunnel_close(t);
				return;
			}
			sodium_memzero(t->rx_key, sizeof(t->rx_key));
			t->rx_ready = true;
			off += SEALED_HEADER_SIZE;
			continue;
		}
		if (avail > 0 && t->rx.finished) {
			tunnel_warn(t, sealed_strerror(SEALED_E_AFTER_FINAL));
			tunnel_close(t);
			return;
		}
		if (avail < SEALED_PREFIX_SIZE)
			break;
		size = sealed_frame_size(t->net + off);
		if (size < 0) {
			tunnel_warn(t, sealed_strerror((int)size));
			tunnel_close(t);
			return;
		}
		if (avail < (size_t)size)
			break;
		if (!open_frame(t, t->net + off, (size_t)size))
			return;
		off += (size_t)size;
	}
	if (off > 0 && !t->closing) {
		memmove(t->net, t->net + off, t->net_len - off);
		t->net_len -= off;
	}
}

static void tcp_ended(struct tunnel *t, ssize_t nread)
{
	if (nread != UV_EOF)
		log_debug("connection with %s: %s", t->who, uv_strerror((int)nread));
	else if (t->rx.finished)
		; /* an orderly end */
	else if (t->net_len > 0)
		tunnel_warn(t, "the stream was cut inside a frame");
	else
		log_info("connection with %s ended without its final frame (the peer stopped, "
			 "or the connection was cut)",
			 t->who);
	tunnel_close(t);
}

static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tunnel *t = s->data;

	(void)buf;
	if (t->closing || nread == 0)
		return;
	if (nread < 0) {
		tcp_ended(t, nread);
		return;
	}
	t->net_len += (size_t)nread;
	tcp_consume(t);
	if (!t->closing &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&t->local) >= TUNNEL_HIGH_WATER) {
		uv_read_stop(s);
		t->tcp_paused = true;
	}
}

/* --- setup ---------------------------------------------------------------------- */

static void free_handle(uv_handle_t *h)
{
	free(h);
}

static uv_pipe_t *user_end(uv_loop_t *loop, int fd)
{
	uv_pipe_t *p = malloc(sizeof(*p));

	if (p == NULL)
		return NULL;
	uv_pipe_init(loop, p, 0);
	if (uv_pipe_open(p, fd) != 0) {
		uv_close((uv_handle_t *)p, free_handle);
		return NULL;
	}
	return p;
}


uv_stream_t *tunnel_new(uv_loop_t *loop, uv_tcp_t *tcp, const uint8_t tx_key[SEALED_KEY_SIZE],
			const uint8_t rx_key[SEALED_KEY_SIZE], const char *who)
{
	struct tunnel *t = NULL;
	struct tunnel_write *w;
	uv_pipe_t *user = NULL;
	int sv[2] = {-1, -1};

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
	    (t = calloc(1, sizeof(*t))) == NULL || (user = user_end(loop, sv[1])) == NULL) {
		if (user == NULL && sv[1] >= 0)
			close(sv[1]);
		if (sv[0] >= 0)
			close(sv[0]);
		free(t);
		uv_close((uv_handle_t *)tcp, free_handle);
		return NULL;
	}
	t->loop = loop;
	t->tcp = tcp;
	tcp->data = t;
	snprintf(t->who, sizeof(t->who), "%s", who);
	memcpy(t->rx_key, rx_key, SEALED_KEY_SIZE);
	uv_pipe_init(loop, &t->local, 0);
	t->local.data = t;
	t->open_handles = 2;
	t->user = user;
	user->data = t; /* tunnel_of: a stale t->user cannot match a newer end */
	t->next = tunnels;
	tunnels = t;
	tunnels_open++;
	if (uv_pipe_open(&t->local, sv[0]) != 0) {
		close(sv[0]);
		tunnel_close(t);
		uv_close((uv_handle_t *)user, free_handle);
		return NULL;
	}
	w = write_new(t, SEALED_HEADER_SIZE);
	if (w == NULL) {
		tunnel_close(t);
		uv_close((uv_handle_t *)user, free_handle);
		return NULL;
	}
	sealed_tx_init(&t->tx, tx_key, w->data);
	write_to(t, (uv_stream_t *)t->tcp, w, SEALED_HEADER_SIZE);
	if (!t->closing) { /* else the user's end just sees the end */
		uv_read_start((uv_stream_t *)t->tcp, tcp_alloc, tcp_read);
		uv_read_start((uv_stream_t *)&t->local, local_alloc, local_read);
	}
	return (uv_stream_t *)user;
}

/* --- direct use and flushing ------------------------------------------------------ */

static struct tunnel *tunnel_of(uv_stream_t *user)
{
	struct tunnel *t;

	for (t = tunnels; t != NULL; t = t->next)
		if (t->user != NULL && (uv_stream_t *)t->user == user && user->data == t)
			return t;
	return NULL;
}

struct tunnel *tunnel_adopt(uv_stream_t *stream, tunnel_data_cb on_data, tunnel_end_cb on_end,
			    void *arg)
{
	struct tunnel *t = tunnel_of(stream);

	if (t == NULL || t->closing || t->local_done || t->delivered)
		return NULL;
	t->direct = true;
	t->on_data = on_data;
	t->on_end = on_end;
	t->arg = arg;
	t->user = NULL;
	/* Nothing crossed the socketpair yet: both ends go. */
	uv_read_stop((uv_stream_t *)&t->local);
	close_handle((uv_handle_t *)&t->local, local_closed);
	uv_close((uv_handle_t *)stream, free_handle);
	return t;
}

int tunnel_send(struct tunnel *t, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t frames = len / SEALED_MAX_PLAIN + (len % SEALED_MAX_PLAIN != 0);
	size_t size = len + frames * (SEALED_PREFIX_SIZE + SEALED_ABYTES), off = 0;
	struct tunnel_write *w;

	assert(t->direct);
	if (t->closing || t->local_done)
		return -ENOTCONN;
	if (len == 0)
		return 0;
	w = write_new(t, size);
	if (w == NULL)
		return -ENOMEM;
	/* Every frame of the message in one write. */
	while (len > 0) {
		size_t n = len < SEALED_MAX_PLAIN ? len : SEALED_MAX_PLAIN;

		off += sealed_seal(&t->tx, p, n, false, w->data + off);
		p += n;
		len -= n;
	}
	write_to(t, (uv_stream_t *)t->tcp, w, off);
	return t->closing ? -ENOTCONN : 0;
}

void tunnel_end(struct tunnel *t)
{
	assert(t->direct);
	if (t->closing || t->local_done)
		return;
	t->local_done = true;
	send_sealed(t, NULL, 0, true);
}

