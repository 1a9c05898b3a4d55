/*
 * The transport: one TCP port per node (--address) for all node-to-node
 * traffic, every connection mutually authenticated by the cluster key.
 *
 * It implements raft's struct raft_uv_transport (raft's own TCP transport
 * has no authentication, parses only IPv4 and has no timeouts), for
 * raft_uv's listen and close only: raft's messages are encoded and sent by
 * raft_link.c, whose connections (purpose TRANSPORT_RAFT) it connects and
 * accepts, as it does those of our node protocol (forwarding, join; see
 * peer.c). The first bytes of every connection say which of the two it
 * carries.
 *
 * Handshake (all integers little-endian), deadline TRANSPORT_HANDSHAKE_MS:
 *
 *   C → S  hello:  "CFSH" u8 version (3), u8 purpose, u8 flags, u8 0,
 *                  client nonce[32]
 *   S → C  server nonce[32], MAC("cfs server" | hello | server nonce)
 *   C → S  MAC("cfs client" | hello | server nonce | id | len | address),
 *          u64 id, u16 len, address[len]
 *   S → C  u8 1 (accepted)
 *
 * MAC is HMAC-SHA-512/256 (libsodium crypto_auth) under the cluster key,
 * compared in constant time. Both sides prove the key over the other's
 * fresh nonce, so nothing can be replayed; the id and address a peer claims
 * are covered by its MAC and are what raft learns. On any failure the
 * connection is closed without explanation (and logged). The connector
 * waits for the final byte before using the stream.
 *
 * Everything after the handshake is encrypted and authenticated: both sides
 * derive per-direction session keys from the key and the whole transcript
 * (sealed.h), and what raft_link or the node protocol is handed is a
 * tunnel (tunnel.h) that carries only sealed frames on the wire. flags bit
 * 0 says TRANSPORT_PLAINTEXT_ENV is set (benchmark only: a plain tunnel,
 * nothing sealed); both sides must agree.
 *
 * Keys: the server proves the first of its keys; the client accepts any key
 * it holds, and proves the one the server used. With transport_set_key_dir
 * the keys are DIR/cluster.key (first), DIR/cluster.key.next and
 * DIR/cluster.key.prev (when present), read again at each handshake: a
 * key rotation needs no restart (docs/security.md).
 *
 * Loop thread only.
 */
#ifndef CFS_TRANSPORT_H
#define CFS_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdint.h>
#include <uv.h>

#define TRANSPORT_KEY_SIZE 32
#define TRANSPORT_NONCE_SIZE 32
#define TRANSPORT_MAC_SIZE 32
#define TRANSPORT_HANDSHAKE_MS 5000
/* 2: encrypted; 3: raft's messages in our own encoding (raft_wire.h) */
#define TRANSPORT_VERSION 3
/* Benchmark only: "1" turns encryption off (both ends must agree). */
#define TRANSPORT_PLAINTEXT_ENV "CFS_BENCH_PLAINTEXT"
/* Dead peers are noticed when a write has not been acknowledged for this
 * long (TCP_USER_TIMEOUT), and idle connections are probed (keepalive). */
#define TRANSPORT_USER_TIMEOUT_MS 5000
#define TRANSPORT_KEEPALIVE_S 2
#define TRANSPORT_ADDRESS_MAX 255

enum transport_purpose { TRANSPORT_RAFT = 1, TRANSPORT_PEER = 2 };

/* An authenticated connection, accepted or connected: its tunnel
 * (tunnel.h), which the callee owns: it starts it (peer_conn_new) or ends
 * it (tunnel_end). On failure of a connect, tun is NULL and status a
 * negative errno. */
struct tunnel;
typedef void (*transport_peer_cb)(void *arg, struct tunnel *tun, uint64_t id, const char *address,
				  int status);

struct transport;

/* Set up @rt (the struct raft_uv_init takes) over a new transport. Sets
 * SIGPIPE to be ignored, process-wide (tunnel.h). */
int transport_init(struct raft_uv_transport *rt, uv_loop_t *loop,
		   const uint8_t key[TRANSPORT_KEY_SIZE]);
/* Free what transport_init allocated, once raft has closed it. */
void transport_free(struct raft_uv_transport *rt);

/* Read the cluster keys from @dir's key files from now on (see above). */
void transport_set_key_dir(struct raft_uv_transport *rt, const char *dir);

/* Where to hand accepted raft streams (raft_link.c); without one they are
 * closed. */
void transport_set_raft_cb(struct raft_uv_transport *rt, transport_peer_cb cb, void *arg);

/* Connect to @address for raft's messages, as this node (the id and
 * address raft gave the transport); cb runs exactly once. -EINVAL before
 * raft_init. */
int transport_connect_raft(struct raft_uv_transport *rt, const char *address, transport_peer_cb cb,
			   void *arg);

/* Where to hand accepted node-protocol streams. */
void transport_set_peer_cb(struct raft_uv_transport *rt, transport_peer_cb cb, void *arg);

/* Connect to @address for the node protocol; cb runs exactly once. Works
 * before raft listens (a joining node uses it before it has an id: pass
 * id 0). */
int transport_connect_peer(struct raft_uv_transport *rt, uint64_t self_id,
			   const char *self_address, const char *address, transport_peer_cb cb,
			   void *arg);

/* Split "HOST:PORT" / "[V6]:PORT" into host and port. 0 or -EINVAL. */
int transport_split_address(const char *address, char *host, size_t hostlen, char *port,
			    size_t portlen);

/* Key file: 64 hex characters (and an optional newline). */
int transport_key_load(const char *path, uint8_t key[TRANSPORT_KEY_SIZE], char *err,
		       size_t errlen);
int transport_key_generate(const char *path, uint8_t key[TRANSPORT_KEY_SIZE]);
void transport_key_hex(const uint8_t key[TRANSPORT_KEY_SIZE], char out[2 * TRANSPORT_KEY_SIZE + 1]);
int transport_key_from_hex(const char *hex, size_t len, uint8_t key[TRANSPORT_KEY_SIZE]);

#endif
