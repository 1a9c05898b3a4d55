/*
 * Guards around raft_uv's I/O methods: see io_guard.h. Loop thread only.
 */
#include "io_guard.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../common/clock.h"
#include "../common/log.h"
#include "raft_link.h"
#include "stages.h"

typedef int (*io_send_fn)(struct raft_io *io, struct raft_io_send *req,
			  const struct raft_message *message, raft_io_send_cb cb);

/* raft_uv's send: one function for every raft_io it sets up. */
static io_send_fn io_guard_uv_send;
/* Where the messages of io_guard_link_io go instead (io_guard_route). */
static struct raft_link *io_guard_link;
static const struct raft_io *io_guard_link_io;

void io_guard_route(const struct raft_io *io, struct raft_link *l)
{
	io_guard_link = l;
	io_guard_link_io = l != NULL ? io : NULL;
}

/* Where raft 0.15's sendAppendEntriesResult takes the leader's address
 * from: valid only while @r is a follower (a union with the candidate's
 * and the leader's state otherwise). raft_init sets io->data to the raft. */
static bool io_guard_stale_leader(const struct raft_io *io, const struct raft_message *m)
{
	const struct raft *r = io->data;

	return m->type == RAFT_IO_APPEND_ENTRIES_RESULT && r != NULL && r->state != RAFT_FOLLOWER &&
	       m->server_address == r->follower_state.current_leader.address;
}

/* A follower's answer that says it holds less than its own snapshot covers
 * says instead that it matches the leader up to that snapshot (see
 * io_guard.h: a follower ahead of the leader's snapshot). True if @m was
 * changed. */
bool io_guard_snapshot_answer(const struct raft *r, struct raft_message *m)
{
	struct raft_append_entries_result *res = &m->append_entries_result;
	raft_index snap;

	if (m->type != RAFT_IO_APPEND_ENTRIES_RESULT || r == NULL || r->state != RAFT_FOLLOWER)
		return false;
	snap = r->log.snapshot.last_index;
	/* last_stored is 0 while a snapshot is being installed (raft set the
	 * log's snapshot before it is on disk; put.data is its request): no
	 * claim then. raft stamps its answers with its current term; one of
	 * another term (none is expected) is left alone: the leader judges
	 * those by their term, not their content. */
	if (snap == 0 || r->last_stored < snap || r->snapshot.put.data != NULL ||
	    res->term != r->current_term)
		return false;
	if (res->rejected != 0 ? res->rejected > snap : res->last_log_index >= snap)
		return false;
	res->rejected = 0;
	res->last_log_index = snap;
	return true;
}

static int io_guard_send(struct raft_io *io, struct raft_io_send *req,
			 const struct raft_message *message, raft_io_send_cb cb)
{
	struct raft_message fixed;

	if (message->server_address == NULL || (uintptr_t)message->server_address < 4096 ||
	    io_guard_stale_leader(io, message)) {
		log_debug("raft sent a message (type %d) to node %llu with no valid address (a "
			  "leader it no longer knows): dropped",
			  message->type, (unsigned long long)message->server_id);
		return RAFT_NOCONNECTION;
	}
	if (message->type == RAFT_IO_APPEND_ENTRIES_RESULT) {
		fixed = *message;
		if (io_guard_snapshot_answer(io->data, &fixed)) {
			log_debug(
			    "answering node %llu that the log matches up to this node's "
			    "snapshot at %llu (raft said: rejected %llu, last index %llu)",
			    (unsigned long long)message->server_id,
			    (unsigned long long)fixed.append_entries_result.last_log_index,
			    (unsigned long long)message->append_entries_result.rejected,
			    (unsigned long long)message->append_entries_result.last_log_index);
			message = &fixed;
		}
	}
	if (io_guard_link != NULL && io == io_guard_link_io)
		return raft_link_send(io_guard_link, req, message, cb);
	return io_guard_uv_send(io, req, message, cb);
}

/* --- appends in flight ------------------------------------------------------- */

typedef int (*io_append_fn)(struct raft_io *io, struct raft_io_append *req,
			    const struct raft_entry entries[], unsigned n, raft_io_append_cb cb);

static io_append_fn io_guard_uv_append;

/* raft owns req->data, so each append in flight is remembered here with
 * the callback raft gave (a handful at a time: a list will do). */
struct io_guard_append {
	uint64_t last_index; /* the last entry written (stages.h: "disk") */
	unsigned n;	     /* entries */
	struct raft_io_append *req;
	raft_io_append_cb cb;
	struct io_guard_append *next;
};
static struct io_guard_append *io_guard_appends;
static unsigned io_guard_n_appends;

static void io_guard_append_cb(struct raft_io_append *req, int status)
{
	struct io_guard_append **p = &io_guard_appends, *a;
	raft_io_append_cb cb = NULL;
	uint64_t last_index = 0;
	unsigned n = 0;

	while ((a = *p) != NULL && a->req != req)
		p = &a->next;
	if (a != NULL) {
		cb = a->cb;
		last_index = a->last_index;
		n = a->n;
		*p = a->next;
		free(a);
		io_guard_n_appends--;
	}
	/* Before cb, which may commit, apply and answer them. */
	if (status == 0 && last_index != 0) {
		stages_stored(last_index, clock_mono_ns());
		stages_log_stored(n);
	}
	if (cb != NULL)
		cb(req, status);
}

static int io_guard_append(struct raft_io *io, struct raft_io_append *req,
			   const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
	struct io_guard_append *a = malloc(sizeof(*a));
	int rv;

	if (a == NULL)
		return io_guard_uv_append(io, req, entries, n, cb); /* untracked */
	/* raft appends to its in-memory log before writing it. */
	a->last_index = io->data != NULL ? raft_last_index(io->data) : 0;
	a->n = n;
	a->req = req;
	a->cb = cb;
	a->next = io_guard_appends;
	io_guard_appends = a;
	io_guard_n_appends++;
	rv = io_guard_uv_append(io, req, entries, n, io_guard_append_cb);
	if (rv != 0) {
		io_guard_appends = a->next;
		io_guard_n_appends--;
		free(a);
	}
	return rv;
}

unsigned io_guard_appends_in_flight(void)
{
	return io_guard_n_appends;
}

int io_guard_wrap(struct raft_io *io)
{
	if (io->send == NULL || io->send == io_guard_send)
		return io->send == NULL ? -EINVAL : 0;
	if ((io_guard_uv_send != NULL && io_guard_uv_send != io->send) ||
	    (io_guard_uv_append != NULL && io_guard_uv_append != io->append))
		return -EINVAL; /* not raft_uv's: left alone */
	io_guard_uv_send = io->send;
	io->send = io_guard_send;
	io_guard_uv_append = io->append;
	io->append = io_guard_append;
	return 0;
}
