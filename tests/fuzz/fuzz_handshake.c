/*
 * Fuzz target: the server side of the transport handshake
 * (replication/transport.c), the first bytes anyone who can reach a node's
 * port gets to send, before any authentication.
 *
 * A real listener (transport_init, raft's listen hook) on 127.0.0.1 and a
 * plain client socket that speaks for the input:
 *
 *   u8 flags (bit 0: sign the client message with the cluster key, so the
 *   fuzzer gets past the MAC; bit 1: end with a reset instead of a close;
 *   bit 2: send the rest as raw bytes after a valid stream header instead
 *   of sealing it, so the fuzzer reaches the frame decoder), the 40-byte
 *   hello, then either (signed) u64 id, u16 address length and the address
 *   bytes, or (unsigned) u16 n and n raw bytes, then the rest: what the
 *   client sends after the handshake.
 *
 * The harness knows the protocol (transport.h) and checks the server
 * against it: a valid hello is answered with a nonce and a MAC that proves
 * the key, anything else is closed; a correctly signed client message with
 * a sane address is accepted with exactly the id and address it claims, the
 * tunnel handed over opens exactly the plaintext sealed after the handshake
 * under the session key the transcript gives (replication/sealed.h) — and
 * nothing at all of raw bytes that are not sealed frames — and after the
 * client goes the server holds no handle or memory for it.
 *
 * Single-threaded: the server's loop is run by the harness between its own
 * non-blocking socket calls.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "../../common/log.h"
#include "../../replication/sealed.h"
#include "../../replication/transport.h"
#include "../../replication/tunnel.h"
#include "fuzz.h"

#define HELLO_SIZE 40
#define SERVER_SIZE (TRANSPORT_NONCE_SIZE + TRANSPORT_MAC_SIZE)
#define PUMP_MAX 20000 /* loop turns before the harness gives up waiting */

static const uint8_t key[TRANSPORT_KEY_SIZE] = "clusterfs fuzz key, 32 bytes..!";

struct accepted {
	bool done;	 /* a connection was handed over */
	uint64_t id;
	char address[TRANSPORT_ADDRESS_MAX + 1];
	struct tunnel *tun; /* until it ends */
	uint8_t got[4096];  /* what the tunnel opened after the handshake */
	size_t got_len;
	bool overflow;
};

static uv_loop_t loop;
static struct raft_uv_transport rt;
static struct sockaddr_in server;
static struct accepted acc;

static void tun_data(void *arg, const uint8_t *data, size_t len)
{
	(void)arg;
	if (acc.tun == NULL || acc.overflow)
		return;
	if (acc.got_len + len >= sizeof(acc.got)) {
		acc.overflow = true;
		tunnel_end(acc.tun);
		return;
	}
	memcpy(acc.got + acc.got_len, data, len);
	acc.got_len += len;
}

static void tun_end(void *arg)
{
	(void)arg;
	acc.tun = NULL;
}

static void take_tunnel(uint64_t id, const char *address, struct tunnel *tun)
{
	FUZZ_CHECK(!acc.done);
	FUZZ_CHECK(tun != NULL && address != NULL);
	FUZZ_CHECK(strlen(address) <= TRANSPORT_ADDRESS_MAX);
	acc.done = true;
	acc.id = id;
	strcpy(acc.address, address);
	acc.tun = tun;
	if (tunnel_start(tun, tun_data, tun_end, NULL) != 0)
		acc.tun = NULL;
}

/* raft_uv's accept callback: raft's streams go to raft_link instead. */
static void on_raft_uv(struct raft_uv_transport *t, raft_id id, const char *address,
		       uv_stream_t *stream)
{
	(void)t;
	(void)id;
	(void)address;
	(void)stream;
	FUZZ_CHECK(!"raft_uv was handed a stream");
}

static void on_peer(void *arg, struct tunnel *tun, uint64_t id, const char *address, int status)
{
	(void)arg;
	FUZZ_CHECK(status == 0);
	take_tunnel(id, address, tun);
}

static void count_handle(uv_handle_t *h, void *arg)
{
	(void)h;
	(*(int *)arg)++;
}

static int handles(void)
{
	int n = 0;

	uv_walk(&loop, count_handle, &n);
	return n;
}

static void setup(void)
{
	socklen_t len = sizeof(server);
	char address[64];
	int fd;

	log_setup("fuzz_handshake", getenv("FUZZ_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR); /* no warning per dropped client */
	signal(SIGPIPE, SIG_IGN);
	FUZZ_CHECK(uv_loop_init(&loop) == 0);
	/* A free port: bind to port 0, note what the kernel gave, let it go. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&server, 0, sizeof(server));
	server.sin_family = AF_INET;
	server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	FUZZ_CHECK(bind(fd, (struct sockaddr *)&server, sizeof(server)) == 0);
	FUZZ_CHECK(getsockname(fd, (struct sockaddr *)&server, &len) == 0);
	close(fd);
	snprintf(address, sizeof(address), "127.0.0.1:%d", ntohs(server.sin_port));
	FUZZ_CHECK(transport_init(&rt, &loop, key) == 0);
	FUZZ_CHECK(rt.init(&rt, 1, address) == 0);
	FUZZ_CHECK(rt.listen(&rt, on_raft_uv) == 0);
	transport_set_peer_cb(&rt, on_peer, NULL);
	transport_set_raft_cb(&rt, on_peer, NULL); /* as raft_link.c takes them */
}

/* Run the server until @fd is readable (or closed), at most PUMP_MAX turns. */
static void pump_until_readable(int fd)
{
	for (int i = 0; i < PUMP_MAX; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		uv_run(&loop, UV_RUN_NOWAIT);
		if (poll(&p, 1, 0) == 1)
			return;
	}
	FUZZ_CHECK(!"the server neither answered nor closed");
}

/* Read exactly @n bytes, or fewer if the server closes: how many came. */
static size_t read_n(int fd, uint8_t *buf, size_t n)
{
	size_t have = 0;

	while (have < n) {
		ssize_t r;

		pump_until_readable(fd);
		r = recv(fd, buf + have, n - have, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN))
			break;
		if (r > 0)
			have += (size_t)r;
	}
	return have;
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0 && errno != EAGAIN)
			return; /* the server closed: what it does next is checked */
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
		uv_run(&loop, UV_RUN_NOWAIT);
	}
}

static void mac(const uint8_t *label, size_t label_len, const uint8_t *hello,
		const uint8_t *nonce, const uint8_t *tail, size_t tail_len, uint8_t *out)
{
	crypto_auth_hmacsha512256_state st;

	crypto_auth_hmacsha512256_init(&st, key, TRANSPORT_KEY_SIZE);
	crypto_auth_hmacsha512256_update(&st, label, label_len);
	crypto_auth_hmacsha512256_update(&st, hello, HELLO_SIZE);
	crypto_auth_hmacsha512256_update(&st, nonce, TRANSPORT_NONCE_SIZE);
	if (tail_len > 0)
		crypto_auth_hmacsha512256_update(&st, tail, tail_len);
	crypto_auth_hmacsha512256_final(&st, out);
}

/* The client's side of the tunnel: our stream header, then @rest sealed in
 * frames of at most 1000 bytes under the client-to-server session key (or,
 * with flags bit 2, raw). */
static void send_rest(int fd, unsigned flags, const uint8_t *hello, const uint8_t *reply,
		      const uint8_t *msg, size_t msg_len, const uint8_t *rest, size_t len)
{
	uint8_t transcript[HELLO_SIZE + SERVER_SIZE + 32 + 10 + 65536];
	uint8_t c2s[SEALED_KEY_SIZE], s2c[SEALED_KEY_SIZE], header[SEALED_HEADER_SIZE];
	uint8_t frame[SEALED_PREFIX_SIZE + 1000 + SEALED_ABYTES];
	struct sealed_tx tx;
	size_t total = len;

	memcpy(transcript, hello, HELLO_SIZE);
	memcpy(transcript + HELLO_SIZE, reply, SERVER_SIZE);
	memcpy(transcript + HELLO_SIZE + SERVER_SIZE, msg, msg_len);
	sealed_derive(key, transcript, HELLO_SIZE + SERVER_SIZE + msg_len, c2s, s2c);
	sealed_tx_init(&tx, c2s, header);
	send_all(fd, header, sizeof(header));
	if (flags & 4) {
		send_all(fd, rest, len);
		return;
	}
	while (len > 0) {
		size_t n = len < 1000 ? len : 1000;

		send_all(fd, frame, sealed_seal(&tx, rest, n, false, frame));
		rest += n;
		len -= n;
	}
	send_all(fd, frame, sealed_seal(&tx, NULL, 0, true, frame));
	/* Let the server pass it all on before we go. */
	for (int i = 0; i < PUMP_MAX && acc.got_len < total && acc.tun != NULL; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	static const uint8_t server_label[] = "cfs server", client_label[] = "cfs client";
	struct fuzz_in in = {data, size};
	unsigned flags = (unsigned)fuzz_uint(&in, 1);
	const uint8_t *hello;
	uint8_t reply[SERVER_SIZE], expect[TRANSPORT_MAC_SIZE], msg[32 + 10 + 65536], ack;
	bool hello_ok, expect_accept = false;
	size_t msg_len = 0, alen = 0;
	uint64_t id = 0;
	int fd, rv;

	if (!ready) {
		setup();
		ready = true;
	}
	memset(&acc, 0, sizeof(acc));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fd >= 0);
	/* No Nagle: the harness's small writes must not wait for an ACK that
	 * the server delays while the harness spins its loop. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	rv = connect(fd, (struct sockaddr *)&server, sizeof(server));
	FUZZ_CHECK(rv == 0 || errno == EINPROGRESS);

	hello = fuzz_take(&in, HELLO_SIZE);
	if (hello == NULL) {
		send_all(fd, in.p, in.len); /* a short hello, then gone */
		goto out;
	}
	send_all(fd, hello, HELLO_SIZE);
	hello_ok = memcmp(hello, "CFSH", 4) == 0 && hello[4] == TRANSPORT_VERSION &&
		   (hello[5] == TRANSPORT_RAFT || hello[5] == TRANSPORT_PEER) && hello[6] == 0 &&
		   hello[7] == 0;
	if (!hello_ok) {
		/* Not our protocol: closed without a word. */
		FUZZ_CHECK(read_n(fd, reply, 1) == 0);
		goto out;
	}
	FUZZ_CHECK(read_n(fd, reply, SERVER_SIZE) == SERVER_SIZE);
	mac(server_label, sizeof(server_label), hello, reply, NULL, 0, expect);
	FUZZ_CHECK(memcmp(expect, reply + TRANSPORT_NONCE_SIZE, TRANSPORT_MAC_SIZE) == 0);

	if (flags & 1) {
		const uint8_t *addr;
		size_t avail;

		id = fuzz_uint(&in, 8);
		alen = (size_t)fuzz_uint(&in, 2);
		avail = alen < in.len ? alen : in.len;
		addr = fuzz_take(&in, avail);
		for (int i = 0; i < 8; i++)
			msg[32 + i] = (uint8_t)(id >> (8 * i));
		msg[40] = (uint8_t)alen;
		msg[41] = (uint8_t)(alen >> 8);
		memcpy(msg + 42, addr, avail);
		mac(client_label, sizeof(client_label), hello, reply, msg + 32, 10 + avail, msg);
		msg_len = 42 + avail;
		/* Accepted: a whole, sane address, and an identity for raft. The
		 * address must not hold a NUL (the server's copy is a C string). */
		expect_accept = alen <= TRANSPORT_ADDRESS_MAX && avail == alen &&
				memchr(addr, '\0', alen) == NULL &&
				!(hello[5] == TRANSPORT_RAFT && (id == 0 || alen == 0));
	} else {
		size_t n = (size_t)fuzz_uint(&in, 2);

		msg_len = n < in.len ? n : in.len;
		memcpy(msg, fuzz_take(&in, msg_len), msg_len);
	}
	send_all(fd, msg, msg_len);
	if (expect_accept) {
		FUZZ_CHECK(read_n(fd, &ack, 1) == 1 && ack == 1);
		for (int i = 0; i < PUMP_MAX && !acc.done; i++)
			uv_run(&loop, UV_RUN_NOWAIT);
		FUZZ_CHECK(acc.done);
		FUZZ_CHECK(acc.id == id);
		FUZZ_CHECK(strlen(acc.address) == alen &&
			   memcmp(acc.address, msg + 42, alen) == 0);
		/* What follows the handshake is the stream's, every byte of it. */
		send_rest(fd, flags, hello, reply, msg, msg_len, in.p, in.len);
	} else if ((flags & 1) && (alen > TRANSPORT_ADDRESS_MAX ||
				   (alen == msg_len - 42 && memchr(msg + 42, '\0', alen) == NULL))) {
		/* Refused (address too long, or no identity for raft). */
		FUZZ_CHECK(read_n(fd, &ack, 1) == 0);
	}
out:
	if (flags & 2) {
		struct linger l = {.l_onoff = 1, .l_linger = 0};

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)); /* reset */
	}
	close(fd);
	/* The server lets go of everything: only the listener is left. */
	for (int i = 0; i < PUMP_MAX && (handles() > 1 || acc.tun != NULL); i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	FUZZ_CHECK(handles() == 1);
	if (acc.done && (flags & 4))
		FUZZ_CHECK(acc.got_len == 0); /* raw bytes are never frames */
	else if (acc.done && !(flags & 2) && !acc.overflow)
		FUZZ_CHECK(acc.got_len == in.len && memcmp(acc.got, in.p, in.len) == 0);
	FUZZ_CHECK(acc.done == expect_accept);
	return 0;
}
