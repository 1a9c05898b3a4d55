/*
 * Guards around raft_uv's I/O methods: see io_guard.h. Loop thread only.
 */
#include "io_guard.h"

#include <errno.h>
#include <stddef.h>

#include "../common/log.h"

typedef int (*io_send_fn)(struct raft_io *io, struct raft_io_send *req,
			  const struct raft_message *message, raft_io_send_cb cb);

/* raft_uv's send: one function for every raft_io it sets up. */
static io_send_fn io_guard_uv_send;

static int io_guard_send(struct raft_io *io, struct raft_io_send *req,
			 const struct raft_message *message, raft_io_send_cb cb)
{
	if (message->server_address == NULL) {
		log_debug("raft sent a message (type %d) to node %llu with no address (no "
			  "leader known any more): dropped",
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
