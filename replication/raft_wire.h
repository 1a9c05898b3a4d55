/*
 * Raft's messages on the wire: our own encoding of struct raft_message, so
 * that raft's traffic travels on our connections (raft_link.h) instead of
 * raft_uv's streams. Pure code (no I/O); any thread, the loop thread in
 * practice.
 *
 * All integers little-endian. A message:
 *
 *   u8 RAFT_WIRE_VERSION, u8 type (RAFT_IO_*), u16 0, u32 0, then
 *   RequestVote          term, candidate_id, last_log_index, last_log_term,
 *                        u64 flags (1: disrupt_leader, 2: pre_vote)
 *   RequestVoteResult    term, u64 vote_granted (0/1), u64 pre_vote (tribool)
 *   AppendEntries        term, prev_log_index, prev_log_term, leader_commit,
 *                        u64 n, n × (u64 term, u16 type, u16 0, u32 len),
 *                        then the n payloads back to back
 *   AppendEntriesResult  term, rejected, last_log_index
 *   InstallSnapshot      term, last_index, last_term, conf_index,
 *                        u64 n, n × (u64 id, u8 role, u8 0, u16 len,
 *                        address[len]), u64 size, data[size]
 *   TimeoutNow           term, last_log_index, last_log_term
 *
 * where every named field is a u64, and every entry's length a multiple of
 * 8 (raft_uv's log requires it). Nothing may follow the last field.
 * raft_wire_decode checks every count and length against the buffer before
 * it reads or allocates, so bad input is refused (-EINVAL), never read past.
 * The sender's id and address are not on the wire: the connection's
 * authenticated handshake (transport.h) says who sent it.
 */
#ifndef CFS_RAFT_WIRE_H
#define CFS_RAFT_WIRE_H

#include <raft.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define RAFT_WIRE_VERSION 1
#define RAFT_WIRE_HEADER_SIZE 8
/* Longest server address in an InstallSnapshot's configuration. */
#define RAFT_WIRE_ADDRESS_MAX 255
/* Most servers in it (raft_configuration_add is quadratic; a cluster has
 * a handful). */
#define RAFT_WIRE_SERVERS_MAX 1024

/* Bytes raft_wire_encode writes for @m; 0 for a type it does not know. */
size_t raft_wire_size(const struct raft_message *m);
/* Encode @m into @out (raft_wire_size(m) bytes). Returns that size. */
size_t raft_wire_encode(const struct raft_message *m, uint8_t *out);

/* The same bytes in two parts, so that the bulk is never copied: the head
 * (everything but the payloads of an AppendEntries' entries and an
 * InstallSnapshot's data, which come last on the wire) and the payloads,
 * as pointers into @m, in wire order (empty ones left out). raft_wire_payloads
 * stores at most @max and returns how many there are. */
size_t raft_wire_head_size(const struct raft_message *m);
size_t raft_wire_encode_head(const struct raft_message *m, uint8_t *out);
unsigned raft_wire_payloads(const struct raft_message *m, struct iovec *iov, unsigned max);

/* Decode @len bytes into @m (server_id and server_address are left 0).
 * What raft takes over is allocated as raft_uv would: an AppendEntries'
 * entries array with raft_malloc and all its payloads in one raft_malloc'd
 * batch (entries[i].batch), an InstallSnapshot's data with raft_malloc and
 * its configuration with raft_configuration_add. 0, -EINVAL (malformed) or
 * -ENOMEM (nothing allocated then). */
int raft_wire_decode(const uint8_t *buf, size_t len, struct raft_message *m);
/* Free what raft_wire_decode allocated, for a message raft never got. */
void raft_wire_release(struct raft_message *m);

#endif
