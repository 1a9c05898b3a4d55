/*
 * io_guard (replication/io_guard.c): a message raft hands to raft_uv with
 * no address -- a follower answering an AppendEntries after it forgot its
 * leader, or after it stopped being a follower -- fails with
 * RAFT_NOCONNECTION instead of crashing the daemon in strlen(). Without the
 * guard the first and third tests die with SIGSEGV in raft_uv's send (two
 * crashes found by tests/e2e/stress_leader_faults.sh under ASan).
 */
#include <criterion/criterion.h>
#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "../../replication/io_guard.h"
#include "helpers.h"

struct rig {
	char dir[PATH_MAX];
	uv_loop_t loop;
	struct raft_uv_transport transport;
	struct raft_io io;
	bool closed;
};

static void rig_open(struct rig *g)
{
	h_tmpdir(g->dir, sizeof(g->dir));
	cr_assert_eq(uv_loop_init(&g->loop), 0);
	cr_assert_eq(raft_uv_tcp_init(&g->transport, &g->loop), 0);
	cr_assert_eq(raft_uv_init(&g->io, &g->loop, g->dir, &g->transport), 0);
	cr_assert_eq(g->io.init(&g->io, 1, "127.0.0.1:9"), 0, "%s", g->io.errmsg);
}

static void rig_closed(struct raft_io *io)
{
	struct rig *g = io->data;

	g->closed = true;
}

static void rig_close(struct rig *g)
{
	g->io.data = g; /* for rig_closed */
	g->io.close(&g->io, rig_closed);
	for (int i = 0; i < 1000 && !g->closed; i++)
		uv_run(&g->loop, UV_RUN_NOWAIT);
	cr_assert(g->closed, "raft_uv did not close");
	raft_uv_close(&g->io);
	raft_uv_tcp_close(&g->transport);
	uv_run(&g->loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(&g->loop), 0);
	h_rmtree(g->dir);
}

static void sent(struct raft_io_send *req, int status)
{
	(void)req;
	(void)status;
}

Test(io_guard, a_message_to_no_address_fails_instead_of_crashing)
{
	struct rig g = {0};
	struct raft_message m = {
	    .type = RAFT_IO_APPEND_ENTRIES_RESULT,
	    .server_id = 0, /* raft's follower_state.current_leader, cleared */
	    .server_address = NULL,
	    .append_entries_result = {.term = 2, .rejected = 0, .last_log_index = 5},
	};
	struct raft_io_send req;

	rig_open(&g);
	cr_assert_eq(io_guard_wrap(&g.io), 0);
	cr_assert_eq(io_guard_wrap(&g.io), 0, "wrapping twice is harmless");
	cr_assert_eq(g.io.send(&g.io, &req, &m, sent), RAFT_NOCONNECTION);
	rig_close(&g);
}

Test(io_guard, a_message_to_an_address_still_goes_out)
{
	struct rig g = {0};
	struct raft_message m = {
	    .type = RAFT_IO_APPEND_ENTRIES_RESULT,
	    .server_id = 2,
	    .server_address = "127.0.0.1:9",
	    .append_entries_result = {.term = 2, .rejected = 0, .last_log_index = 5},
	};
	struct raft_io_send req;

	rig_open(&g);
	cr_assert_eq(io_guard_wrap(&g.io), 0);
	/* Queued by raft_uv (it connects in the background); the callback
	 * fires with an error when the loop closes. */
	cr_assert_eq(g.io.send(&g.io, &req, &m, sent), 0);
	rig_close(&g);
}

Test(io_guard, an_answer_to_the_leader_of_a_candidate_fails_instead_of_crashing)
{
	struct rig g = {0};
	static struct raft r; /* only its state is read */
	struct raft_message m = {
	    .type = RAFT_IO_APPEND_ENTRIES_RESULT,
	    .append_entries_result = {.term = 3, .rejected = 0, .last_log_index = 9},
	};
	struct raft_io_send req;

	/* A snapshot install that ends while the node campaigns (pre-vote):
	 * raft 0.15's installSnapshotCb answers the leader it reads from
	 * follower_state, which is the candidate's state -- 0x100 here. */
	memset(&r, 0, sizeof(r));
	r.state = RAFT_CANDIDATE;
	r.candidate_state.in_pre_vote = true;
	m.server_id = r.follower_state.current_leader.id;
	m.server_address = r.follower_state.current_leader.address;
	cr_assert_not_null(m.server_address, "the union no longer overlaps as in raft 0.15");
	rig_open(&g);
	cr_assert_eq(io_guard_wrap(&g.io), 0);
	g.io.data = &r; /* as raft_init does */
	cr_assert_eq(g.io.send(&g.io, &req, &m, sent), RAFT_NOCONNECTION);
	rig_close(&g);
}

/* A follower's answer that tells less than its snapshot covers says "matched
 * up to my snapshot" (io_guard.h); others are left alone. */
Test(io_guard, an_answer_below_the_snapshot_says_the_snapshot)
{
	struct raft r = {0};
	struct raft_message m = {.type = RAFT_IO_APPEND_ENTRIES_RESULT};
	struct raft_append_entries_result *res = &m.append_entries_result;

	r.state = RAFT_FOLLOWER;
	r.current_term = 15;
	r.log.snapshot.last_index = 10608;
	r.log.snapshot.last_term = 14;
	r.last_stored = 10637;

	/* a probe below the snapshot, rejected: "no entry at index" */
	*res = (struct raft_append_entries_result){
	    .term = 15, .rejected = 10096, .last_log_index = 10637};
	cr_assert(io_guard_snapshot_answer(&r, &m));
	cr_assert_eq(res->rejected, 0);
	cr_assert_eq(res->last_log_index, 10608);
	/* an older snapshot: "have more recent snapshot", matched up to it */
	*res =
	    (struct raft_append_entries_result){.term = 15, .rejected = 0, .last_log_index = 10096};
	cr_assert(io_guard_snapshot_answer(&r, &m));
	cr_assert_eq(res->rejected, 0);
	cr_assert_eq(res->last_log_index, 10608);
	/* a rejection past the snapshot (a missing or conflicting entry) */
	*res = (struct raft_append_entries_result){
	    .term = 15, .rejected = 10639, .last_log_index = 10637};
	cr_assert_not(io_guard_snapshot_answer(&r, &m));
	cr_assert_eq(res->rejected, 10639);
	cr_assert_eq(res->last_log_index, 10637);
	/* a match past the snapshot */
	*res =
	    (struct raft_append_entries_result){.term = 15, .rejected = 0, .last_log_index = 10637};
	cr_assert_not(io_guard_snapshot_answer(&r, &m));
	cr_assert_eq(res->last_log_index, 10637);
	/* installing a snapshot: raft set the log's snapshot, not yet on disk */
	r.last_stored = 0;
	*res =
	    (struct raft_append_entries_result){.term = 15, .rejected = 10096, .last_log_index = 0};
	cr_assert_not(io_guard_snapshot_answer(&r, &m));
	cr_assert_eq(res->rejected, 10096);
	r.last_stored = 10637;
	/* ... or its request still pending */
	r.snapshot.put.data = &r;
	*res = (struct raft_append_entries_result){
	    .term = 15, .rejected = 10096, .last_log_index = 10637};
	cr_assert_not(io_guard_snapshot_answer(&r, &m));
	r.snapshot.put.data = NULL;
	/* the edges: a rejection of the snapshot's own index is rewritten; a
	 * match at exactly the snapshot is already what it would say */
	*res = (struct raft_append_entries_result){
	    .term = 15, .rejected = 10608, .last_log_index = 10637};
	cr_assert(io_guard_snapshot_answer(&r, &m));
	cr_assert_eq(res->rejected, 0);
	cr_assert_eq(res->last_log_index, 10608);
	*res =
	    (struct raft_append_entries_result){.term = 15, .rejected = 0, .last_log_index = 10608};
	cr_assert_not(io_guard_snapshot_answer(&r, &m));
	/* an answer of another term is left alone */
	*res = (struct raft_append_entries_result){
	    .term = 14, .rejected = 10096, .last_log_index = 10637};
	cr_assert_not(io_guard_snapshot_answer(&r, &m));
	cr_assert_eq(res->rejected, 10096);
	/* no snapshot; not a follower; another message */
	r.log.snapshot.last_index = 0;
	cr_assert_not(io_guard_snapshot_answer(&r, &m));
	r.log.snapshot.last_index = 10608;
	r.state = RAFT_CANDIDATE;
	cr_assert_not(io_guard_snapshot_answer(&r, &m));
	r.state = RAFT_FOLLOWER;
	m.type = RAFT_IO_REQUEST_VOTE_RESULT;
	cr_assert_not(io_guard_snapshot_answer(&r, &m));
}
