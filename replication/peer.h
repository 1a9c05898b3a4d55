/*
 * The node protocol: what nodes ask each other besides raft's own traffic —
 * join, promote, forwarded entries, barriers (linearizable sync), removal.
 * It runs over authenticated streams from transport.c.
 *
 * Frame (little-endian): u32 length of the rest, then
 *   u8 type, u8 is_response, u16 0, u64 seq, i64 status, u64 value,
 *   u32 data length, data
 * A request carries value and data; the response echoes type and seq and
 * adds status (0 or -errno; PEER_REDIRECT: ask the leader named in data).
 * Frames are length-checked before anything is read from them; a bad frame
 * closes the connection.
 *
 * Loop thread only.
 */
#ifndef CFS_PEER_H
#define CFS_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tunnel.h"

/* The fixed part of a frame after its length prefix. */
#define PEER_HEADER_SIZE 32
/* The length prefix and the fixed part. */
#define PEER_FRAME_HEAD (4 + PEER_HEADER_SIZE)
/* A forwarded entry is at most ENTRY_MAX_DATA plus its header. */
#define PEER_MAX_FRAME (8u << 20)
/* Raft's messages (PEER_RAFT) may be as long as the frame format allows:
 * an InstallSnapshot carries the whole store, an AppendEntries every entry
 * a follower lacks. Only connections that carry them accept that much
 * (peer_conn_set_max_frame). */
#define PEER_MAX_RAFT_FRAME ((size_t)UINT32_MAX)
/* Response status: not the leader; data holds the leader's address. */
#define PEER_REDIRECT 1

enum peer_type {
	PEER_JOIN = 1,	  /* value: -, data: joiner's address -> value: new id */
	PEER_PROMOTE,	  /* value: id -> value: role given */
	PEER_FORWARD,	  /* data: encoded entry -> status: FSM result, value: index */
	PEER_BARRIER,	  /* -> value: index every node must apply to be in sync */
	PEER_REMOVE,	  /* value: id */
	PEER_REMOVED,	  /* value: id, data: the leader's term (u64 BE): "you were
			     removed" (leader to the node) */
	PEER_HEALTH,	  /* value: applied index, data: report -> value: last index,
			     data: the leader's table (health.h) */
	PEER_RAFT,	  /* data: one raft message (raft_wire.h); no response.
			     Only on raft's own connections (raft_link.h) */
	PEER_TYPE_MAX
};

struct peer_msg {
	uint8_t type;
	bool response;
	uint64_t seq;
	int64_t status;
	uint64_t value;
	const void *data;
	uint32_t len;
};

/* Encode into a malloc'd buffer (length prefix included). 0 or -errno. */
int peer_encode(const struct peer_msg *m, void **buf, size_t *len);
/* Decode one frame body (without the length prefix); m->data points into
 * @buf. 0 or -EINVAL. */
int peer_decode(const void *buf, size_t len, struct peer_msg *m);

struct peer_conn;
typedef void (*peer_msg_cb)(struct peer_conn *c, const struct peer_msg *m);
typedef void (*peer_close_cb)(struct peer_conn *c);

/* Wrap an authenticated connection's tunnel (tunnel.h; ownership passes
 * to the connection, which starts it). on_msg gets every decoded frame;
 * on_close runs once when the connection is gone (peer closed, bad frame,
 * peer_conn_close), after which the connection is freed. NULL if the
 * tunnel is already gone or out of memory (the tunnel is then freed, and
 * on_close does not run). */
struct peer_conn *peer_conn_new(struct tunnel *tun, uint64_t peer_id, peer_msg_cb on_msg,
				peer_close_cb on_close, void *data);
int peer_conn_send(struct peer_conn *c, const struct peer_msg *m);
/* The length prefix and header of a frame of @type whose data, @len bytes,
 * the caller sends right after it (peer_conn_sendv). 0, or -EINVAL (type
 * unknown, or too long for it). */
int peer_frame_head(uint8_t type, size_t len, uint8_t out[PEER_FRAME_HEAD]);
/* Send a frame made of @iov (a head from peer_frame_head, then its data)
 * after what was sent before; the buffers must stay valid until @sent
 * runs (tunnel_sendv). 0, or -ENOTCONN, -ENOMEM (the connection is then
 * closing, and @sent does not run). */
int peer_conn_sendv(struct peer_conn *c, const struct iovec *iov, int iovcnt, tunnel_sent_cb sent,
		    void *arg);
/* Close now: what is not yet sealed is dropped (its @sent runs with
 * -ECANCELED before this returns), for an owner about to free it. */
void peer_conn_drop(struct peer_conn *c);
/* Accept frame bodies up to @max bytes (default PEER_MAX_FRAME). */
void peer_conn_set_max_frame(struct peer_conn *c, size_t max);
/* The read buffer's size now (tests: a large frame's buffer is given back
 * once it is consumed). */
size_t peer_conn_read_capacity(const struct peer_conn *c);
void peer_conn_close(struct peer_conn *c);
void *peer_conn_data(struct peer_conn *c);
uint64_t peer_conn_id(struct peer_conn *c);

#endif
