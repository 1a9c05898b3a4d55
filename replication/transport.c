/*
 * The authenticated one-port transport; see transport.h for the handshake.
 *
 * Each connection being set up is a struct hs (handshake) that owns a
 * malloc'd uv_tcp_t, a deadline timer and a small state machine. Reads are
 * done with buffers of exactly the size the current step expects, so not a
 * byte past the handshake is consumed: what follows belongs to the tunnel
 * raft_link or the node protocol get, made from the stream with reading
 * stopped and nothing of ours pending on it.
 *
 * raft overwrites raft_uv_transport.data after init, so our state lives in
 * .impl (raft 0.15's transport contract). Loop thread only.
 *
 * A successful handshake hands over a tunnel (tunnel.c) under session keys
 * derived from its transcript (sealed.c).
 *
 * The cluster key's file format and the HOST:PORT syntax are in
 * transport_keys.c; the encrypted stream after the handshake lives in
 * sealed.c and tunnel.c.
 */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"
#include "sealed.h"
#include "tunnel.h"

#define HS_MAGIC "CFSH"
#define HS_HELLO_SIZE (4 + 1 + 1 + 2 + TRANSPORT_NONCE_SIZE)
#define HS_SERVER_SIZE (TRANSPORT_NONCE_SIZE + TRANSPORT_MAC_SIZE)
#define HS_CLIENT_FIXED (TRANSPORT_MAC_SIZE + 8 + 2)
#define HS_LISTEN_BACKLOG 128
#define HS_FLAG_PLAINTEXT 1 /* hello[6]: the benchmark-only switch is on */
#define KEYS_MAX 3

struct transport {
	uv_loop_t *loop;
	struct raft_uv_transport *rt;
	/* keys[0] proves; all are accepted from a peer that proves them */
	uint8_t keys[KEYS_MAX][TRANSPORT_KEY_SIZE];
	int nkeys;
	char *key_dir; /* reload the key files from here on each handshake */
	bool plaintext; /* TRANSPORT_PLAINTEXT_ENV: benchmark only */
	uint64_t id;
	char address[TRANSPORT_ADDRESS_MAX + 1];
	uv_tcp_t listener;
	bool listening;
	transport_peer_cb raft_cb; /* accepted raft streams (raft_link.c) */
	void *raft_arg;
	transport_peer_cb peer_cb;
	void *peer_arg;
	struct hs *handshakes; /* in progress, for close */
	bool closing;
	int closing_handles;
	raft_uv_transport_close_cb close_cb;
};

enum hs_step {
	HS_RESOLVE,
	HS_CONNECT,
	HS_C_READ_SERVER, /* client: nonce + MAC */
	HS_C_READ_ACK,
	HS_S_READ_HELLO,
	HS_S_READ_CLIENT,
	HS_S_READ_ADDRESS,
	HS_S_WRITE_ACK,
	HS_DONE,
};

struct hs {
	struct transport *t;
	struct hs *next;
	bool outbound;
	uint8_t purpose;
	enum hs_step step;
	uv_tcp_t *tcp;
	bool tcp_open;
	uv_timer_t timer;
	uv_getaddrinfo_t gai;
	uv_connect_t creq;
	int pending; /* handles or requests still to call back before free */
	bool failed;
	int status; /* outbound: why it failed, for the callback */

	uint8_t key[TRANSPORT_KEY_SIZE]; /* the one this connection proves */
	uint8_t hello[HS_HELLO_SIZE];
	uint8_t server[HS_SERVER_SIZE];
	uint8_t client[HS_CLIENT_FIXED + TRANSPORT_ADDRESS_MAX];
	uint8_t out[HS_CLIENT_FIXED + TRANSPORT_ADDRESS_MAX]; /* what we write */
	size_t client_len; /* of the client message, for the transcript */
	size_t need, have;
	uint8_t *rbuf;

	uint64_t self_id;
	char self_address[TRANSPORT_ADDRESS_MAX + 1];
	uint64_t peer_id;
	char peer_address[TRANSPORT_ADDRESS_MAX + 1];
	char target[TRANSPORT_ADDRESS_MAX + 1]; /* outbound: where to */
	char remote[64];			/* inbound: peer's IP, for logs */

	/* outbound completion */
	transport_peer_cb peer_cb;
	void *peer_arg;
};

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* --- key files (rotation) ------------------------------------------------------ */

/* The key files in the data directory, in the order of t->keys: the first
 * must exist; the others are optional (docs/security.md, key rotation). */
static const char *const key_files[KEYS_MAX] = {"cluster.key", "cluster.key.next",
						"cluster.key.prev"};

/* Read the key files again (cheap: a handshake is rare), so a key rotation
 * needs no restart. A file that cannot be read keeps what we had. */
static void keys_reload(struct transport *t)
{
	static char last_err[256];
	uint8_t keys[KEYS_MAX][TRANSPORT_KEY_SIZE];
	char path[4096], err[256] = "";
	int n = 0;

	if (t->key_dir == NULL)
		return;
	for (int i = 0; i < KEYS_MAX; i++) {
		snprintf(path, sizeof(path), "%s/%s", t->key_dir, key_files[i]);
		if (i > 0 && access(path, F_OK) != 0)
			continue;
		if (transport_key_load(path, keys[n], err, sizeof(err)) != 0) {
			if (i == 0)
				break;
			continue;
		}
		n++;
	}
	if (err[0] != '\0' && strcmp(err, last_err) != 0)
		log_warn("%s; %s", err, n == 0 ? "keeping the keys in use" : "ignoring it");
	snprintf(last_err, sizeof(last_err), "%s", err);
	if (n == 0 || (n == t->nkeys && sodium_memcmp(keys, t->keys, (size_t)n * sizeof(keys[0])) == 0)) {
		sodium_memzero(keys, sizeof(keys));
		return;
	}
	log_info("cluster keys: now proving with %s, accepting %d key%s", key_files[0], n,
		 n == 1 ? "" : "s");
	memcpy(t->keys, keys, sizeof(keys));
	t->nkeys = n;
	sodium_memzero(keys, sizeof(keys));
}

void transport_set_key_dir(struct raft_uv_transport *rt, const char *dir)
{
	struct transport *t = rt->impl;

	free(t->key_dir);
	t->key_dir = strdup(dir);
	keys_reload(t);
}

/* --- MACs ------------------------------------------------------------------- */

static void mac_server(const struct hs *h, const uint8_t key[TRANSPORT_KEY_SIZE],
		       uint8_t out[TRANSPORT_MAC_SIZE])
{
	crypto_auth_hmacsha512256_state st;
	static const char label[] = "cfs server";

	crypto_auth_hmacsha512256_init(&st, key, TRANSPORT_KEY_SIZE);
	crypto_auth_hmacsha512256_update(&st, (const uint8_t *)label, sizeof(label));
	crypto_auth_hmacsha512256_update(&st, h->hello, HS_HELLO_SIZE);
	crypto_auth_hmacsha512256_update(&st, h->server, TRANSPORT_NONCE_SIZE);
	crypto_auth_hmacsha512256_final(&st, out);
}

/* Over the client message's id, length and address (@tail, @tail_len). */
static void mac_client(const struct hs *h, const uint8_t *tail, size_t tail_len,
		       uint8_t out[TRANSPORT_MAC_SIZE])
{
	crypto_auth_hmacsha512256_state st;
	static const char label[] = "cfs client";

	crypto_auth_hmacsha512256_init(&st, h->key, TRANSPORT_KEY_SIZE);
	crypto_auth_hmacsha512256_update(&st, (const uint8_t *)label, sizeof(label));
	crypto_auth_hmacsha512256_update(&st, h->hello, HS_HELLO_SIZE);
	crypto_auth_hmacsha512256_update(&st, h->server, TRANSPORT_NONCE_SIZE);
	crypto_auth_hmacsha512256_update(&st, tail, tail_len);
	crypto_auth_hmacsha512256_final(&st, out);
}

/* --- handshake plumbing ------------------------------------------------------ */

static void hs_unlink(struct hs *h)
{
	struct hs **pp = &h->t->handshakes;

	while (*pp != NULL && *pp != h)
		pp = &(*pp)->next;
	if (*pp == h)
		*pp = h->next;
}

static void transport_maybe_closed(struct transport *t);

static void hs_release(struct hs *h)
{
	struct transport *t = h->t;

	if (--h->pending > 0)
		return;
	hs_unlink(h);
	free(h);
	transport_maybe_closed(t);
}

static void hs_handle_closed(uv_handle_t *handle)
{
	struct hs *h = handle->data;

	if ((uv_handle_t *)h->tcp == handle) {
		free(h->tcp);
		h->tcp = NULL;
	}
	hs_release(h);
}

/* Report the outcome of an outbound handshake to whoever asked. */
static void hs_complete_outbound(struct hs *h, struct tunnel *tun, int status)
{
	if (h->peer_cb != NULL) {
		transport_peer_cb cb = h->peer_cb;

		h->peer_cb = NULL;
		cb(h->peer_arg, tun, h->peer_id, h->target, status);
	} else if (tun != NULL) {
		tunnel_end(tun);
	}
}

/* Abandon a handshake: close everything, tell the connector. */
static void hs_fail(struct hs *h, int status, const char *why)
{
	if (h->failed || h->step == HS_DONE)
		return;
	h->failed = true;
	if (h->outbound)
		log_debug("connection to %s failed: %s", h->target, why);
	else
		log_warn("dropped a connection from %s: %s", h->remote[0] ? h->remote : "?", why);
	uv_timer_stop(&h->timer);
	if (h->step == HS_RESOLVE) {
		/* uv_cancel may fail if the lookup already runs; its callback
		 * sees h->failed either way. */
		uv_cancel((uv_req_t *)&h->gai);
	}
	if (h->tcp_open && !uv_is_closing((uv_handle_t *)h->tcp)) {
		h->pending++;
		uv_close((uv_handle_t *)h->tcp, hs_handle_closed);
	}
	if (h->outbound)
		hs_complete_outbound(h, NULL, status);
	h->pending++;
	uv_close((uv_handle_t *)&h->timer, hs_handle_closed);
	hs_release(h); /* the handshake's own reference */
}

/* The tunnel raft_link or the node protocol gets, under this connection's
 * session keys (or, benchmark only, plain). NULL if it could not be set up
 * (tcp is closed). */
static struct tunnel *hs_tunnel(struct hs *h, uv_tcp_t *tcp)
{
	uint8_t transcript[HS_HELLO_SIZE + HS_SERVER_SIZE + sizeof(h->client)];
	uint8_t c2s[SEALED_KEY_SIZE], s2c[SEALED_KEY_SIZE];
	const uint8_t *client = h->outbound ? h->out : h->client;
	char who[TRANSPORT_ADDRESS_MAX + 96];
	struct tunnel *tun;

	if (h->outbound)
		snprintf(who, sizeof(who), "%s", h->target);
	else
		snprintf(who, sizeof(who), "node %llu at %s", (unsigned long long)h->peer_id,
			 h->remote[0] ? h->remote : "?");
	if (h->t->plaintext)
		return tunnel_new(h->t->loop, (uv_stream_t *)tcp, NULL, NULL, who);
	memcpy(transcript, h->hello, HS_HELLO_SIZE);
	memcpy(transcript + HS_HELLO_SIZE, h->server, HS_SERVER_SIZE);
	memcpy(transcript + HS_HELLO_SIZE + HS_SERVER_SIZE, client, h->client_len);
	sealed_derive(h->key, transcript, HS_HELLO_SIZE + HS_SERVER_SIZE + h->client_len, c2s,
		      s2c);
	tun = tunnel_new(h->t->loop, (uv_stream_t *)tcp, h->outbound ? c2s : s2c,
			 h->outbound ? s2c : c2s, who);
	sodium_memzero(c2s, sizeof(c2s));
	sodium_memzero(s2c, sizeof(s2c));
	return tun;
}

/* The handshake succeeded: hand the connection over. */
static void hs_succeed(struct hs *h)
{
	uv_tcp_t *tcp = h->tcp;
	struct tunnel *tun;
	struct transport *t = h->t;
	int fd;

	h->step = HS_DONE;
	uv_read_stop((uv_stream_t *)tcp);
	uv_timer_stop(&h->timer);
	/* Notice dead peers: raft never reads its outbound connections. */
	uv_tcp_keepalive(tcp, 1, TRANSPORT_KEEPALIVE_S);
	if (uv_fileno((uv_handle_t *)tcp, &fd) == 0) {
		unsigned timeout = TRANSPORT_USER_TIMEOUT_MS;

		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof(timeout));
	}
	tcp->data = NULL;
	h->tcp = NULL;
	h->tcp_open = false;
	tun = hs_tunnel(h, tcp);
	if (tun == NULL) {
		log_warn("connection with %s: out of memory for its tunnel",
			 h->outbound ? h->target : h->remote);
		if (h->outbound)
			hs_complete_outbound(h, NULL, -ENOMEM);
	} else if (h->outbound) {
		hs_complete_outbound(h, tun, 0);
	} else {
		/* Raft's connections go to raft_link, the rest to the node
		 * protocol; nobody takes them once we are closing. */
		bool raft = h->purpose == TRANSPORT_RAFT;
		transport_peer_cb cb = raft ? t->raft_cb : t->peer_cb;

		if (cb != NULL && !t->closing)
			cb(raft ? t->raft_arg : t->peer_arg, tun, h->peer_id, h->peer_address, 0);
		else
			tunnel_end(tun);
	}
	h->pending++;
	uv_close((uv_handle_t *)&h->timer, hs_handle_closed);
	hs_release(h);
}

static void hs_timeout(uv_timer_t *timer)
{
	hs_fail(timer->data, -ETIMEDOUT, "handshake timed out");
}

static void hs_read(struct hs *h, uint8_t *buf, size_t need, enum hs_step step);
static void hs_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void hs_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void hs_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct hs *h = handle->data;

	(void)suggested;
	/* Exactly what this step still needs: never read past the handshake. */
	buf->base = (char *)h->rbuf + h->have;
	buf->len = h->need - h->have;
}

static void hs_write_done(uv_write_t *req, int status);

/* Each write has its own request: a second write may be issued before the
 * callback of the first has run, and a uv_write_t must not be reused until
 * then. */
static void hs_write(struct hs *h, const uint8_t *data, size_t len)
{
	uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
	uv_write_t *req = malloc(sizeof(*req));

	if (req == NULL) {
		hs_fail(h, -ENOMEM, "out of memory");
		return;
	}
	req->data = h;
	h->pending++;
	if (uv_write(req, (uv_stream_t *)h->tcp, &buf, 1, hs_write_done) != 0) {
		free(req);
		h->pending--;
		hs_fail(h, -EIO, "write failed");
	}
}

/* The client message after the server proved the key. */
static void client_send_auth(struct hs *h)
{
	size_t alen = strlen(h->self_address);
	uint8_t *tail = h->out + TRANSPORT_MAC_SIZE;

	put_u64(tail, h->self_id);
	tail[8] = (uint8_t)alen;
	tail[9] = (uint8_t)(alen >> 8);
	memcpy(tail + 10, h->self_address, alen);
	mac_client(h, tail, 10 + alen, h->out);
	h->client_len = HS_CLIENT_FIXED + alen;
	hs_write(h, h->out, HS_CLIENT_FIXED + alen);
	hs_read(h, h->client, 1, HS_C_READ_ACK);
}

static void server_check_client(struct hs *h)
{
	const uint8_t *tail = h->client + TRANSPORT_MAC_SIZE;
	size_t alen = (size_t)tail[8] | ((size_t)tail[9] << 8);
	uint8_t expect[TRANSPORT_MAC_SIZE];

	mac_client(h, tail, 10 + alen, expect);
	if (sodium_memcmp(expect, h->client, TRANSPORT_MAC_SIZE) != 0) {
		hs_fail(h, -EACCES, "wrong cluster key");
		return;
	}
	h->peer_id = get_u64(tail);
	/* The address becomes a C string: a NUL inside would cut it (to
	 * nothing, past the identity check below). */
	if (memchr(tail + 10, '\0', alen) != NULL) {
		hs_fail(h, -EPROTO, "a NUL byte in the address");
		return;
	}
	memcpy(h->peer_address, tail + 10, alen);
	h->peer_address[alen] = '\0';
	h->client_len = HS_CLIENT_FIXED + alen;
	if (h->purpose == TRANSPORT_RAFT && (h->peer_id == 0 || alen == 0)) {
		hs_fail(h, -EPROTO, "raft connection without an identity");
		return;
	}
	static const uint8_t ack = 1;
	h->step = HS_S_WRITE_ACK;
	hs_write(h, &ack, 1);
}

static bool client_pick_key(struct hs *h)
{
	const struct transport *t = h->t;
	uint8_t expect[TRANSPORT_MAC_SIZE];
	bool found = false;

	for (int i = 0; i < t->nkeys; i++) {
		mac_server(h, t->keys[i], expect);
		if (!found &&
		    sodium_memcmp(expect, h->server + TRANSPORT_NONCE_SIZE, TRANSPORT_MAC_SIZE) == 0) {
			memcpy(h->key, t->keys[i], TRANSPORT_KEY_SIZE);
			found = true;
		}
	}
	return found;
}

static void hs_on_data(struct hs *h)
{
	switch (h->step) {
	case HS_S_READ_HELLO: {
		if (memcmp(h->hello, HS_MAGIC, 4) == 0 && h->hello[4] != TRANSPORT_VERSION) {
			hs_fail(h, -EPROTO,
				h->hello[4] < TRANSPORT_VERSION
					? "an older clusterfs (an earlier handshake version); upgrade it"
					: "a newer clusterfs (a later handshake version); upgrade this "
					  "node");
			return;
		}
		if (memcmp(h->hello, HS_MAGIC, 4) != 0 || h->hello[4] != TRANSPORT_VERSION ||
		    (h->hello[5] != TRANSPORT_RAFT && h->hello[5] != TRANSPORT_PEER) ||
		    (h->hello[6] & ~HS_FLAG_PLAINTEXT) != 0 || h->hello[7] != 0) {
			hs_fail(h, -EPROTO, "not a clusterfs handshake");
			return;
		}
		if ((h->hello[6] & HS_FLAG_PLAINTEXT) != (h->t->plaintext ? HS_FLAG_PLAINTEXT : 0)) {
			hs_fail(h, -EPROTO,
				"only one side has " TRANSPORT_PLAINTEXT_ENV " (benchmark only) set");
			return;
		}
		h->purpose = h->hello[5];
		memcpy(h->key, h->t->keys[0], TRANSPORT_KEY_SIZE);
		randombytes_buf(h->server, TRANSPORT_NONCE_SIZE);
		mac_server(h, h->key, h->server + TRANSPORT_NONCE_SIZE);
		hs_write(h, h->server, HS_SERVER_SIZE);
		hs_read(h, h->client, HS_CLIENT_FIXED, HS_S_READ_CLIENT);
		break;
	}
	case HS_S_READ_CLIENT: {
		const uint8_t *tail = h->client + TRANSPORT_MAC_SIZE;
		size_t alen = (size_t)tail[8] | ((size_t)tail[9] << 8);

		if (alen > TRANSPORT_ADDRESS_MAX) {
			hs_fail(h, -EPROTO, "address too long");
			return;
		}
		if (alen == 0) {
			server_check_client(h);
			return;
		}
		h->step = HS_S_READ_ADDRESS;
		h->need = HS_CLIENT_FIXED + alen; /* keep reading into the same buffer */
		uv_read_start((uv_stream_t *)h->tcp, hs_alloc, hs_on_read);
		break;
	}
	case HS_S_READ_ADDRESS:
		server_check_client(h);
		break;
	case HS_C_READ_SERVER:
		/* The server proves its current key; any key we hold will do
		 * (during a key rotation we hold two). */
		if (!client_pick_key(h)) {
			h->status = -EACCES;
			hs_fail(h, -EACCES, "the peer does not have our cluster key");
			return;
		}
		client_send_auth(h);
		break;
	case HS_C_READ_ACK:
		if (h->client[0] != 1) {
			hs_fail(h, -EACCES, "refused");
			return;
		}
		hs_succeed(h);
		break;
	default:
		hs_fail(h, -EPROTO, "unexpected data");
	}
}

static void hs_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct hs *h = stream->data;

	(void)buf;
	if (h == NULL || h->failed)
		return;
	if (nread < 0) {
		hs_fail(h, -ECONNRESET,
			nread == UV_EOF ? "closed by the peer" : uv_strerror((int)nread));
		return;
	}
	h->have += (size_t)nread;
	if (h->have < h->need)
		return;
	uv_read_stop(stream);
	hs_on_data(h); /* starts the next read, if any */
}

static void hs_read(struct hs *h, uint8_t *buf, size_t need, enum hs_step step)
{
	h->rbuf = buf;
	h->need = need;
	h->have = 0;
	h->step = step;
	uv_read_start((uv_stream_t *)h->tcp, hs_alloc, hs_on_read);
}

static void hs_write_done(uv_write_t *req, int status)
{
	struct hs *h = req->data;

	free(req);
	if (status != 0)
		hs_fail(h, -EIO, uv_strerror(status));
	else if (h->step == HS_S_WRITE_ACK && !h->failed)
		hs_succeed(h);
	hs_release(h);
}

static struct hs *hs_new(struct transport *t, bool outbound)
{
	struct hs *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	keys_reload(t);
	h->t = t;
	h->outbound = outbound;
	h->pending = 1; /* the handshake's own reference */
	h->creq.data = h;
	h->gai.data = h;
	uv_timer_init(t->loop, &h->timer);
	h->timer.data = h;
	uv_timer_start(&h->timer, hs_timeout, TRANSPORT_HANDSHAKE_MS, 0);
	h->next = t->handshakes;
	t->handshakes = h;
	return h;
}

static int hs_tcp_init(struct hs *h)
{
	h->tcp = malloc(sizeof(*h->tcp));
	if (h->tcp == NULL)
		return -ENOMEM;
	uv_tcp_init(h->t->loop, h->tcp);
	h->tcp->data = h;
	h->tcp_open = true;
	uv_tcp_nodelay(h->tcp, 1);
	return 0;
}

/* --- outbound ---------------------------------------------------------------- */

static void on_connect(uv_connect_t *req, int status)
{
	struct hs *h = req->data;

	if (!h->failed) {
		if (status != 0) {
			hs_fail(h, -ECONNREFUSED, uv_strerror(status));
		} else {
			memcpy(h->hello, HS_MAGIC, 4);
			h->hello[4] = TRANSPORT_VERSION;
			h->hello[5] = h->purpose;
			h->hello[6] = h->t->plaintext ? HS_FLAG_PLAINTEXT : 0;
			randombytes_buf(h->hello + 8, TRANSPORT_NONCE_SIZE);
			hs_write(h, h->hello, HS_HELLO_SIZE);
			hs_read(h, h->server, HS_SERVER_SIZE, HS_C_READ_SERVER);
		}
	}
	hs_release(h);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct hs *h = req->data;

	if (!h->failed) {
		if (status != 0 || res == NULL) {
			hs_fail(h, -EHOSTUNREACH, status ? uv_strerror(status) : "no address");
		} else if (hs_tcp_init(h) != 0) {
			hs_fail(h, -ENOMEM, "out of memory");
		} else {
			h->step = HS_CONNECT;
			h->pending++;
			if (uv_tcp_connect(&h->creq, h->tcp, res->ai_addr, on_connect) != 0) {
				h->pending--;
				hs_fail(h, -ECONNREFUSED, "connect failed");
			}
		}
	}
	uv_freeaddrinfo(res);
	hs_release(h);
}

static int hs_start_connect(struct hs *h)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	char host[TRANSPORT_ADDRESS_MAX + 1], port[8];

	if (transport_split_address(h->target, host, sizeof(host), port, sizeof(port)) != 0)
		return -EINVAL;
	h->step = HS_RESOLVE;
	h->pending++;
	if (uv_getaddrinfo(h->t->loop, &h->gai, on_resolved, host, port, &hints) != 0) {
		h->pending--;
		return -EHOSTUNREACH;
	}
	return 0;
}

static struct hs *hs_new_outbound(struct transport *t, uint8_t purpose, const char *target,
				  uint64_t self_id, const char *self_address)
{
	struct hs *h;

	if (strlen(target) > TRANSPORT_ADDRESS_MAX ||
	    strlen(self_address) > TRANSPORT_ADDRESS_MAX || t->closing)
		return NULL;
	h = hs_new(t, true);
	if (h == NULL)
		return NULL;
	h->purpose = purpose;
	h->self_id = self_id;
	strcpy(h->self_address, self_address);
	strcpy(h->target, target);
	return h;
}

/* raft_uv's connect: never used, since raft's messages go by raft_link.c
 * (io_guard.c sends them there), and raft_uv connects only to send. */
static int tr_connect(struct raft_uv_transport *rt, struct raft_uv_connect *req, raft_id id,
		      const char *address, raft_uv_connect_cb cb)
{
	(void)req;
	(void)id;
	(void)address;
	(void)cb;
	snprintf(rt->errmsg, sizeof(rt->errmsg), "raft's messages go by raft_link");
	return RAFT_NOCONNECTION;
}

/* An outbound handshake for @purpose; cb runs exactly once. */
static int hs_connect(struct transport *t, uint8_t purpose, uint64_t self_id,
		      const char *self_address, const char *address, transport_peer_cb cb,
		      void *arg)
{
	struct hs *h = hs_new_outbound(t, purpose, address, self_id, self_address);
	int rv;

	if (h == NULL)
		return -ENOMEM;
	h->peer_cb = cb;
	h->peer_arg = arg;
	rv = hs_start_connect(h);
	if (rv != 0) {
		h->peer_cb = NULL;
		hs_fail(h, rv, "bad address");
		return rv;
	}
	return 0;
}

int transport_connect_peer(struct raft_uv_transport *rt, uint64_t self_id,
			   const char *self_address, const char *address, transport_peer_cb cb,
			   void *arg)
{
	return hs_connect(rt->impl, TRANSPORT_PEER, self_id, self_address, address, cb, arg);
}

int transport_connect_raft(struct raft_uv_transport *rt, const char *address, transport_peer_cb cb,
			   void *arg)
{
	struct transport *t = rt->impl;

	if (t->id == 0)
		return -EINVAL; /* raft has not set us up yet */
	return hs_connect(t, TRANSPORT_RAFT, t->id, t->address, address, cb, arg);
}

/* --- inbound ------------------------------------------------------------------ */

static void on_connection(uv_stream_t *server, int status)
{
	struct transport *t = server->data;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	struct hs *h;

	if (status != 0 || t->closing)
		return;
	h = hs_new(t, false);
	if (h == NULL)
		return;
	if (hs_tcp_init(h) != 0 || uv_accept(server, (uv_stream_t *)h->tcp) != 0) {
		hs_fail(h, -EIO, "accept failed");
		return;
	}
	if (uv_tcp_getpeername(h->tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&ss, h->remote, sizeof(h->remote));
		else
			uv_ip6_name((struct sockaddr_in6 *)&ss, h->remote, sizeof(h->remote));
	}
	hs_read(h, h->hello, HS_HELLO_SIZE, HS_S_READ_HELLO);
}

static int tr_init(struct raft_uv_transport *rt, raft_id id, const char *address)
{
	struct transport *t = rt->impl;

	if (strlen(address) > TRANSPORT_ADDRESS_MAX)
		return RAFT_NAMETOOLONG;
	t->id = id;
	strcpy(t->address, address);
	return 0;
}

static void listener_closed(uv_handle_t *handle);

static int tr_listen(struct raft_uv_transport *rt, raft_uv_accept_cb cb)
{
	struct transport *t = rt->impl;
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
	char host[TRANSPORT_ADDRESS_MAX + 1], port[8];
	struct addrinfo *res = NULL;
	int rv, fd, one = 1;

	if (t->listening || t->closing_handles > 0) {
		snprintf(rt->errmsg, sizeof(rt->errmsg), "already listening");
		return RAFT_BUSY;
	}
	(void)cb; /* raft_uv's: raft's streams go to raft_link.c instead */
	if (transport_split_address(t->address, host, sizeof(host), port, sizeof(port)) != 0) {
		snprintf(rt->errmsg, sizeof(rt->errmsg), "bad address %.100s", t->address);
		return RAFT_INVALID;
	}
	/* Blocking resolution, once, at start-up: the node cannot do anything
	 * before it listens anyway. */
	rv = getaddrinfo(host, port, &hints, &res);
	if (rv != 0 || res == NULL) {
		snprintf(rt->errmsg, sizeof(rt->errmsg), "cannot resolve %.100s: %s", host,
			 gai_strerror(rv));
		return RAFT_IOERR;
	}
	/* Bound and listening before the loop has a handle for it: a failure
	 * (the port is taken) leaves nothing to close, and a later listen may
	 * try again. */
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rv = -errno;
	} else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
		   bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
		   listen(fd, HS_LISTEN_BACKLOG) != 0) {
		rv = -errno;
		close(fd);
	}
	freeaddrinfo(res);
	if (rv != 0) {
		snprintf(rt->errmsg, sizeof(rt->errmsg), "listen on %.100s: %s", t->address,
			 strerror(-rv));
		return RAFT_IOERR;
	}
	uv_tcp_init(t->loop, &t->listener);
	t->listener.data = t;
	t->listening = true; /* from here on, tr_close closes it */
	rv = uv_tcp_open(&t->listener, fd);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&t->listener, HS_LISTEN_BACKLOG, on_connection);
	else
		close(fd);
	if (rv != 0) {
		snprintf(rt->errmsg, sizeof(rt->errmsg), "listen on %.100s: %s", t->address,
			 uv_strerror(rv));
		t->listening = false;
		t->closing_handles++;
		uv_close((uv_handle_t *)&t->listener, listener_closed);
		return RAFT_IOERR;
	}
	return 0;
}

static void transport_maybe_closed(struct transport *t)
{
	if (!t->closing || t->handshakes != NULL || t->closing_handles > 0 || t->close_cb == NULL)
		return;
	raft_uv_transport_close_cb cb = t->close_cb;

	t->close_cb = NULL;
	cb(t->rt);
}

static void listener_closed(uv_handle_t *handle)
{
	struct transport *t = handle->data;

	t->closing_handles--;
	transport_maybe_closed(t);
}

static void tr_close(struct raft_uv_transport *rt, raft_uv_transport_close_cb cb)
{
	struct transport *t = rt->impl;
	struct hs *h, *next;

	t->closing = true;
	t->close_cb = cb;
	if (t->listening) {
		t->listening = false;
		t->closing_handles++;
		uv_close((uv_handle_t *)&t->listener, listener_closed);
	}
	for (h = t->handshakes; h != NULL; h = next) {
		next = h->next;
		hs_fail(h, -ECANCELED, "shutting down");
	}
	transport_maybe_closed(t);
}

void transport_set_raft_cb(struct raft_uv_transport *rt, transport_peer_cb cb, void *arg)
{
	struct transport *t = rt->impl;

	t->raft_cb = cb;
	t->raft_arg = arg;
}

void transport_set_peer_cb(struct raft_uv_transport *rt, transport_peer_cb cb, void *arg)
{
	struct transport *t = rt->impl;

	t->peer_cb = cb;
	t->peer_arg = arg;
}

int transport_init(struct raft_uv_transport *rt, uv_loop_t *loop,
		   const uint8_t key[TRANSPORT_KEY_SIZE])
{
	struct transport *t;

	if (sodium_init() < 0)
		return -EIO;
	/* The tunnels write to sockets whose other end may be gone (a final
	 * frame to a peer that already closed): that is an error to handle,
	 * not a reason to die. Every program that uses the transport wants
	 * this (clusterfsd, clusterfsctl remove, the tests). */
	signal(SIGPIPE, SIG_IGN);
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->loop = loop;
	t->rt = rt;
	memcpy(t->keys[0], key, TRANSPORT_KEY_SIZE);
	t->nkeys = 1;
	if (getenv(TRANSPORT_PLAINTEXT_ENV) != NULL && strcmp(getenv(TRANSPORT_PLAINTEXT_ENV), "1") == 0) {
		t->plaintext = true;
		log_warn(TRANSPORT_PLAINTEXT_ENV "=1: node traffic is NOT encrypted (a benchmark-only "
			 "switch; never in production)");
	}
	memset(rt, 0, sizeof(*rt));
	rt->impl = t;
	rt->init = tr_init;
	rt->listen = tr_listen;
	rt->connect = tr_connect;
	rt->close = tr_close;
	return 0;
}

void transport_free(struct raft_uv_transport *rt)
{
	struct transport *t = rt->impl;

	if (t != NULL) {
		sodium_memzero(t->keys, sizeof(t->keys));
		free(t->key_dir);
		free(t);
	}
	rt->impl = NULL;
}
