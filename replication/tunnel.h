/*
 * The tunnel: what carries a connection's bytes once the transport's
 * handshake is done (transport.h), so that only sealed frames (sealed.h)
 * cross the network.
 *
 * tunnel_new takes the authenticated TCP stream; its owner (the node
 * protocol's connection, peer.c, which also carries raft's messages for
 * raft_link.c) starts it with the callbacks that get the opened plaintext,
 * in order, in pieces that need not match what the peer sent, and sends
 * with tunnel_send, which seals and writes straight to the socket (what the
 * socket takes at once is written in the same call). Nothing else sits
 * between the program and TCP: no socketpair, no extra loop turn.
 *
 * A plain tunnel (no keys) passes bytes through unsealed: the
 * benchmark-only switch (TRANSPORT_PLAINTEXT_ENV), and tests that feed a
 * connection from a socketpair.
 *
 * The tunnel ends when either side ends it. tunnel_end sends the final
 * frame (a plain tunnel shuts its socket down); a frame that fails
 * (modified, replayed, reordered, cut short, too long) ends the connection
 * with one logged line naming the peer and the reason (at most
 * TUNNEL_LOG_PER_S such lines a second; the rest are counted in the next
 * one). on_end then runs once, after the tunnel is gone, and its owner
 * reconnects as after any network failure.
 *
 * The process must ignore SIGPIPE (transport_init sees to it): the tunnel
 * writes to sockets whose other end may be gone.
 *
 * Loop thread only.
 */
#ifndef CFS_TUNNEL_H
#define CFS_TUNNEL_H

#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

#include "sealed.h"

#define TUNNEL_LOG_PER_S 5
/* Bytes sealed and written at a time, and at most that much waits in
 * libuv's queue before the next step is sealed (tunnel_sendv). */
#define TUNNEL_STEP (256u << 10)

struct tunnel;
typedef void (*tunnel_data_cb)(void *arg, const uint8_t *data, size_t len);
typedef void (*tunnel_end_cb)(void *arg);
/* How a tunnel_send went: 0 once every byte was handed to the kernel, or a
 * negative errno (the connection failed or closed first). */
typedef void (*tunnel_sent_cb)(void *arg, int status);

/* Tunnel @stream (malloc'd and connected, nothing pending on it: the
 * tunnel owns it from here, even on failure) under @tx_key (what we send)
 * and @rx_key (what the peer sends), or plain if both are NULL. @who names
 * the peer in log lines. Nothing is read before tunnel_start. NULL when
 * out of memory (the stream is then closed). */
struct tunnel *tunnel_new(uv_loop_t *loop, uv_stream_t *stream, const uint8_t *tx_key,
			  const uint8_t *rx_key, const char *who);

/* Start reading: opened plaintext goes to on_data, and on_end runs once
 * when the tunnel is gone. 0, or -ENOTCONN if it already went (then it is
 * freed here and no callback runs). */
int tunnel_start(struct tunnel *t, tunnel_data_cb on_data, tunnel_end_cb on_end, void *arg);

/* Send the @iovcnt buffers of @iov as one message, after every message
 * before it: sealed (in frames of at most SEALED_MAX_PLAIN) and written a
 * TUNNEL_STEP at a time while the socket keeps up, so that a message as
 * large as the whole store does not stall the loop. The buffers (not
 * @iov itself) must stay valid and unchanged until @sent runs. 0, and
 * then @sent (if not NULL) runs exactly once, maybe before this returns:
 * 0 once every byte is handed to the kernel, or a negative errno (the
 * connection failed or closed first, or tunnel_cancel: -ECANCELED); or
 * -ENOTCONN once the tunnel is ending, -ENOMEM, and @sent does not run. */
int tunnel_sendv(struct tunnel *t, const struct iovec *iov, int iovcnt, tunnel_sent_cb sent,
		 void *arg);
int tunnel_send(struct tunnel *t, const void *data, size_t len, tunnel_sent_cb sent, void *arg);

/* End the tunnel now: the messages not yet all sealed are dropped (their
 * @sent runs with -ECANCELED before this returns, and none of their bytes
 * is read again: their owner may free them), what was sealed still goes
 * out, then the final frame (one message may be cut short: the peer sees
 * the connection end). As tunnel_end, without waiting for the queue. */
void tunnel_cancel(struct tunnel *t);

/* Send the final frame after what is queued; the tunnel closes once it is
 * out (on_end follows, if it was started; one never started is simply
 * dropped). */
void tunnel_end(struct tunnel *t);

/* Tunnels open now (for tests and metrics). */
int tunnel_count(void);
/* Bytes @t sealed that wait in libuv's queue for the socket (tests). */
size_t tunnel_queued(const struct tunnel *t);

#endif
