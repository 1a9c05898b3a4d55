/*
 * The encrypted tunnel: what carries a connection's bytes once the
 * transport's handshake is done (transport.h), so that raft and the node
 * protocol read and write plaintext on a stream of their own while only
 * sealed frames (sealed.h) cross the network.
 *
 * tunnel_new takes the authenticated TCP socket and returns one end of a
 * Unix socketpair (a malloc'd uv_pipe_t: raft and peer.c uv_close and free
 * it like the TCP stream they were given before). The tunnel keeps the
 * other end and pumps between the two on the loop: plaintext read from the
 * local end is sealed and written to TCP, frames read from TCP are opened
 * and written to the local end. Each side is read only while the other
 * side's write queue is short (TUNNEL_HIGH_WATER), so a slow peer pushes
 * back on the writer as a TCP socket would.
 *
 * The socketpair costs each message a few system calls and a loop turn on
 * each side, so every program in the daemon takes the tunnel over instead
 * (tunnel_adopt: the node protocol in peer.c, raft's messages in
 * raft_link.c); the socketpair end remains for a program that needs a
 * stream.
 *
 * The tunnel ends when either side does. The local end closing sends the
 * final frame; a frame that fails (modified, replayed, reordered, cut
 * short, too long) ends the connection with one logged line naming the
 * peer and the reason (at most TUNNEL_LOG_PER_S such lines a second; the
 * rest are counted in the next one). Raft and the node protocol then see
 * their stream end and reconnect as after any network failure.
 *
 * The process must ignore SIGPIPE (transport_init sees to it): the tunnel
 * writes to sockets whose other end may be gone.
 *
 * Loop thread only.
 */
#ifndef CFS_TUNNEL_H
#define CFS_TUNNEL_H

#include <stdint.h>
#include <uv.h>

#include "sealed.h"

#define TUNNEL_HIGH_WATER (1u << 20)
#define TUNNEL_LOG_PER_S 5

/* Tunnel @tcp (a malloc'd, connected uv_tcp_t with nothing pending; the
 * tunnel owns it from here, even on failure) under @tx_key (what we send)
 * and @rx_key (what the peer sends). @who names the peer in log lines.
 * Returns the plaintext stream for the caller, or NULL (tcp closed). */
uv_stream_t *tunnel_new(uv_loop_t *loop, uv_tcp_t *tcp, const uint8_t tx_key[SEALED_KEY_SIZE],
			const uint8_t rx_key[SEALED_KEY_SIZE], const char *who);

/* Direct use, without the socketpair hop (the node protocol, peer.c): the
 * program that was handed a tunnel's plaintext end may take the tunnel
 * over instead, before anything was read or written on that end. Opened
 * plaintext then goes to on_data as it arrives (in order, in pieces that
 * need not match what the peer sent), tunnel_send seals and writes straight
 * to TCP, and on_end runs once, after the tunnel is gone (either side ended
 * it, a frame was refused, a write failed): no callback after that. */
struct tunnel;
typedef void (*tunnel_data_cb)(void *arg, const uint8_t *data, size_t len);
typedef void (*tunnel_end_cb)(void *arg);

/* Take over the tunnel whose plaintext end is @stream: the stream is closed
 * and freed here. NULL if @stream is no tunnel's, or no longer fresh (then
 * use it as a stream, as before). */
struct tunnel *tunnel_adopt(uv_stream_t *stream, tunnel_data_cb on_data, tunnel_end_cb on_end,
			    void *arg);
/* Seal @len bytes (in frames of at most SEALED_MAX_PLAIN) and write them.
 * 0, or -ENOTCONN once the tunnel is ending, -ENOMEM. */
int tunnel_send(struct tunnel *t, const void *data, size_t len);
/* Send the final frame; the tunnel closes once it is out (on_end follows). */
void tunnel_end(struct tunnel *t);

/* Tunnels open now (for tests and metrics). */
int tunnel_count(void);

#endif
