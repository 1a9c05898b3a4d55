/*
 * Guards around raft_uv's I/O methods: see io_guard.h. Loop thread only.
 */
#include "io_guard.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/log.h"

typedef int (*io_send_fn)(struct raft_io *io, struct raft_io_send *req,
			  const struct raft_message *message, raft_io_send_cb cb);

/* raft_uv's send: one function for every raft_io it sets up. */
static io_send_fn io_guard_uv_send;

/* Where raft 0.15's sendAppendEntriesResult takes the leader's address
 * from: valid only while @r is a follower (a union with the candidate's
 * and the leader's state otherwise). raft_init sets io->data to the raft. */
static bool io_guard_stale_leader(const struct raft_io *io, const struct raft_message *m)
{
	const struct raft *r = io->data;

	return m->type == RAFT_IO_APPEND_ENTRIES_RESULT && r != NULL && r->state != RAFT_FOLLOWER &&
	       m->server_address == r->follower_state.current_leader.address;
}

static int io_guard_send(struct raft_io *io, struct raft_io_send *req,
			 const struct raft_message *message, raft_io_send_cb cb)
{
	if (message->server_address == NULL || (uintptr_t)message->server_address < 4096 ||
	    io_guard_stale_leader(io, message)) {
		log_debug("raft sent a message (type %d) to node %llu with no valid address (a "
			  "leader it no longer knows): dropped",
			  message->type, (unsigned long long)message->server_id);
		return RAFT_NOCONNECTION;
	}
	return io_guard_uv_send(io, req, message, cb);
}

int io_guard_wrap(struct raft_io *io)
{
	if (io->send == NULL || io->send == io_guard_send)
		return io->send == NULL ? -EINVAL : 0;
	if (io_guard_uv_send != NULL && io_guard_uv_send != io->send)
		return -EINVAL; /* not raft_uv's: left alone */
	io_guard_uv_send = io->send;
	io->send = io_guard_send;
	return 0;
}
