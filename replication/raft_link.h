/*
 * Raft's links: raft's messages sent and received on our own connections,
 * so that raft_uv never holds a stream. raft_uv still writes the log and
 * the snapshots; only its send and receive are replaced (io_guard.c routes
 * raft's send here, and received messages go to the receive callback raft
 * gave raft_uv's start).
 *
 * Why. raft_uv reads and writes a libuv stream itself. With encryption
 * that stream had to be one end of a socketpair, pumped by a tunnel on the
 * loop: two more system calls per message on each side, and a loop turn
 * more on the receiver. Here each message is encoded once (raft_wire.h) into
 * a node-protocol frame (peer.h, type PEER_RAFT) and sealed straight onto
 * TCP (tunnel.h); what arrives is opened, decoded and handed to raft in
 * the same loop turn.
 *
 * Connections (purpose TRANSPORT_RAFT, transport.h), as raft_uv kept them:
 * one outbound connection to each node we send to, which we only write,
 * and the inbound ones other nodes opened, which we only read. The sender's
 * id and address are those its handshake proved.
 *
 * Sending. A message is encoded at once (raft may free or reuse what it
 * passed as soon as send returns), then written if its connection is up,
 * or queued (at most RAFT_LINK_QUEUE messages per node; the oldest is
 * dropped, as raft_uv did) while it is being opened. A connection that
 * could not be opened is tried again after RAFT_LINK_RETRY_MS, at the next
 * message. After a connection broke, the first message raft sends to that
 * node fails (and a new connection is opened): that is how raft learns of
 * it, as from raft_uv, whose next write to a broken connection failed. raft's send callback runs on a later loop iteration, never from
 * inside send: with 0 once every byte of the message was handed to the
 * kernel, RAFT_NOCONNECTION if it was dropped or its connection failed
 * first (as raft_uv did: a leader then sends a lost snapshot again instead
 * of waiting for its timeout), RAFT_CANCELED at close.
 *
 * Loop thread only.
 */
#ifndef CFS_RAFT_LINK_H
#define CFS_RAFT_LINK_H

#include <raft.h>
#include <raft/uv.h>
#include <stdint.h>
#include <uv.h>

#define RAFT_LINK_QUEUE 3
#define RAFT_LINK_RETRY_MS 500

struct raft_link;

/* Where received messages go (raft's receive callback, wrapped). What an
 * AppendEntries or InstallSnapshot carries becomes the callee's, as with
 * raft_uv. */
typedef void (*raft_link_recv_cb)(void *arg, struct raft_message *m);

/* Links over @rt's connections. Also sets @rt's raft callback (accepted
 * raft streams come here). NULL when out of memory. */
struct raft_link *raft_link_new(uv_loop_t *loop, struct raft_uv_transport *rt,
				raft_link_recv_cb recv, void *arg);

/* raft_io's send. 0 (the callback will run), or RAFT_NOMEM, RAFT_INVALID,
 * RAFT_NOCONNECTION (closing, or a message longer than a frame can be;
 * the callback will not run). */
int raft_link_send(struct raft_link *l, struct raft_io_send *req, const struct raft_message *m,
		   raft_io_send_cb cb);

/* Stop: close every connection, call back every message not yet sent with
 * RAFT_CANCELED (now), and free @l once its connections and handles are
 * gone. Call before raft_close, and before the transport closes. */
void raft_link_close(struct raft_link *l);

/* Connections open now, outbound and inbound (tests). */
int raft_link_connections(const struct raft_link *l);

#endif
