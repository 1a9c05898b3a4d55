/*
 * The FSM on a deterministic three-server cluster (raft_fixture): every
 * server's store ends up identical, a request that reaches the log twice
 * (a retry after a lost answer or a leader change) is applied once, and a
 * server that was down catches up — also through a snapshot.
 */
#include <criterion/criterion.h>
#include <raft.h>
#include <raft/fixture.h>

#include "../../fs/ns.h"
#include "../../replication/entry.h"
#include "../../replication/fsm.h"
#include "../../replication/io_guard.h"
#include "../../replication/store.h"
#include "helpers.h"

#define INO(n) (STORE_FIRST_DYNAMIC_INO + (n))
#define FILE_MODE (S_IFREG | 0644)
#define N_SERVERS 3
#define STEP_MS 10000 /* fixture time, not wall time */

static struct raft_fixture F;
static struct h_store S[N_SERVERS];
static struct fsm FSM[N_SERVERS];
static bool fixture_up;

static void cluster_setup(void)
{
	struct raft_configuration conf;

	cr_assert_eq(raft_fixture_initialize(&F), 0);
	fixture_up = true;
	for (unsigned i = 0; i < N_SERVERS; i++) {
		h_store_init(&S[i]);
		fsm_init(&FSM[i], S[i].s, NULL);
		cr_assert_eq(raft_fixture_grow(&F, &FSM[i].raft), 0);
		FSM[i].r = raft_fixture_get(&F, i);
	}
	cr_assert_eq(raft_fixture_configuration(&F, N_SERVERS, &conf), 0);
	cr_assert_eq(raft_fixture_bootstrap(&F, &conf), 0);
	raft_configuration_close(&conf);
	cr_assert_eq(raft_fixture_start(&F), 0);
	cr_assert(raft_fixture_step_until_has_leader(&F, STEP_MS));
}

static void cluster_teardown(void)
{
	if (fixture_up)
		raft_fixture_close(&F);
	fixture_up = false;
	for (unsigned i = 0; i < N_SERVERS; i++)
		h_store_fini(&S[i]);
	h_leak_check();
}

TestSuite(cluster, .init = cluster_setup, .fini = cluster_teardown);

struct applied {
	bool done;
	int status;
	int64_t result;
};

static void applied_cb(struct raft_apply *req, int status, void *result)
{
	struct applied *a = req->data;

	a->done = true;
	a->status = status;
	a->result = fsm_result(result);
	free(req);
}

/* Propose @e on leader @r (as raft_apply, the way node.c does) and step
 * until it has applied it. Returns the FSM's result. */
static int64_t propose_on(struct raft *r, const struct entry *e)
{
	struct raft_apply *req = calloc(1, sizeof(*req));
	struct applied a = {0};
	struct entry_buf b;
	struct raft_buffer buf;

	cr_assert_not_null(req);
	cr_assert_eq(entry_encode(e, &b), 0);
	entry_set_stamp(&b, H_STAMP0 + (int64_t)raft_last_index(r));
	buf.base = b.base;
	buf.len = b.len;
	req->data = &a;
	cr_assert_eq(raft_apply(r, req, &buf, 1, applied_cb), 0);
	for (int i = 0; i < 10000 && !a.done; i++)
		raft_fixture_step(&F);
	cr_assert(a.done, "the entry was not committed");
	cr_assert_eq(a.status, 0);
	return a.result;
}

static int64_t propose(const struct entry *e)
{
	return propose_on(raft_fixture_get(&F, raft_fixture_leader_index(&F)), e);
}

static void step_until_all_applied(raft_index index)
{
	for (unsigned i = 0; i < N_SERVERS; i++)
		if (raft_fixture_alive(&F, i))
			cr_assert(raft_fixture_step_until_applied(&F, i, index, STEP_MS),
				  "server %u did not apply %llu", i, (unsigned long long)index);
}

static void assert_all_same(void)
{
	char *first = h_dump(S[0].s);

	for (unsigned i = 1; i < N_SERVERS; i++) {
		char *other = h_dump(S[i].s);

		h_same_dump(first, other, "server %u differs from server 0", i);
		free(other);
	}
	free(first);
}

static raft_index leader_last(void)
{
	return raft_last_index(raft_fixture_get(&F, raft_fixture_leader_index(&F)));
}

Test(cluster, every_server_applies_the_same_tree)
{
	struct entry e = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "f", "one", 3);

	cr_assert_eq(propose(&e), (int64_t)INO(0));
	e = h_write(INO(0), 0, "two", 3, ENTRY_F_APPEND);
	cr_assert_eq(propose(&e), 0);
	e = h_create(STORE_GATES_INO, INO(1), FILE_MODE, "feature.x", "maybe", 5);
	cr_assert_eq(propose(&e), -EINVAL, "refused the same way everywhere");
	e = h_create(STORE_ROOT_INO, INO(2), S_IFDIR | 0755, "d", NULL, 0);
	cr_assert_eq(propose(&e), (int64_t)INO(2));
	e = h_rename(STORE_ROOT_INO, "f", INO(2), "g", 0);
	cr_assert_eq(propose(&e), 0);
	step_until_all_applied(leader_last());
	assert_all_same();
	H_CONTENT_EQ(S[1].s, h_lookup(S[1].s, INO(2), "g").ino, "onetwo");
}

/* The same (node, request id) proposed twice — as a follower does when it
 * retries after a lost answer — is applied once, with the same answer. */
Test(cluster, a_retried_request_is_applied_once)
{
	struct entry c = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "log", "a", 1);
	struct entry e = h_write(INO(0), 0, "b", 1, ENTRY_F_APPEND);

	cr_assert_eq(propose(&c), (int64_t)INO(0));
	e.request_id = 777;
	cr_assert_eq(propose(&e), 0);
	cr_assert_eq(propose(&e), 0, "the retry gets the first answer");
	step_until_all_applied(leader_last());
	for (unsigned i = 0; i < N_SERVERS; i++)
		H_CONTENT_EQ(S[i].s, INO(0), "ab");
	assert_all_same();
}

/* After the leader is lost, the request is proposed again to the new
 * leader; the first copy, already in the log, must not count twice. */
Test(cluster, a_retry_after_a_leader_change_is_applied_once)
{
	struct entry c = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "log", "a", 1);
	struct entry e = h_write(INO(0), 0, "b", 1, ENTRY_F_APPEND);
	unsigned old;

	cr_assert_eq(propose(&c), (int64_t)INO(0));
	e.request_id = 888;
	cr_assert_eq(propose(&e), 0);
	step_until_all_applied(leader_last());
	old = raft_fixture_leader_index(&F);
	raft_fixture_kill(&F, old);
	cr_assert(raft_fixture_step_until_has_no_leader(&F, STEP_MS));
	cr_assert(raft_fixture_step_until_has_leader(&F, STEP_MS));
	cr_assert_neq(raft_fixture_leader_index(&F), old);
	cr_assert_eq(propose(&e), 0);
	raft_fixture_revive(&F, old);
	step_until_all_applied(leader_last());
	for (unsigned i = 0; i < N_SERVERS; i++)
		H_CONTENT_EQ(S[i].s, INO(0), "ab");
	assert_all_same();
}

/* A server that was down catches up — through a snapshot once the log it
 * missed has been compacted away — and ends up identical. */
Test(cluster, a_server_that_was_down_catches_up_through_a_snapshot)
{
	struct entry c = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "n", "", 0);
	unsigned victim;

	for (unsigned i = 0; i < N_SERVERS; i++) {
		raft_set_snapshot_threshold(raft_fixture_get(&F, i), 8);
		raft_set_snapshot_trailing(raft_fixture_get(&F, i), 2);
	}
	cr_assert_eq(propose(&c), (int64_t)INO(0));
	victim = (raft_fixture_leader_index(&F) + 1) % N_SERVERS;
	raft_fixture_kill(&F, victim);
	for (int i = 0; i < 40; i++) {
		char v[16];
		struct entry w;

		snprintf(v, sizeof(v), "%d", i);
		w = h_write(INO(0), 0, v, strlen(v), ENTRY_F_REPLACE);
		cr_assert_eq(propose(&w), 0);
	}
	raft_fixture_revive(&F, victim);
	step_until_all_applied(leader_last());
	H_CONTENT_EQ(S[victim].s, INO(0), "39");
	assert_all_same();
}

/* A follower whose own snapshot is newer than the first entry the new
 * leader still has, after the leader's first sends to it failed (raft then
 * probes from match_index + 1 = 1 and sends its snapshot): raft 0.15 alone
 * loops for ever -- the follower answers the older snapshot with "matched
 * up to it", then rejects every probe below its own snapshot, the leader
 * steps down to its first entry and sends its snapshot again. The answers
 * go through io_guard (as in the daemon), which tells the leader the
 * follower's own snapshot instead, and the follower catches up. */
/* Rewrite INO(0) with "K" for K from *@k up to @end - 1, on every server. */
static void write_values(int *k, int end)
{
	for (; *k < end; (*k)++) {
		char v[16];
		struct entry w;

		snprintf(v, sizeof(v), "%d", *k);
		w = h_write(INO(0), 0, v, strlen(v), ENTRY_F_REPLACE);
		cr_assert_eq(propose(&w), 0);
	}
	step_until_all_applied(leader_last());
}

Test(cluster, a_follower_ahead_of_the_new_leaders_snapshot_catches_up)
{
	struct entry c = h_create(STORE_ROOT_INO, INO(0), FILE_MODE, "n", "", 0);
	unsigned old = raft_fixture_leader_index(&F);
	unsigned next = (old + 1) % N_SERVERS, ahead = (old + 2) % N_SERVERS;
	raft_index last;
	int k = 0;

	for (unsigned i = 0; i < N_SERVERS; i++) {
		cr_assert_eq(io_guard_wrap(raft_fixture_get(&F, i)->io), 0);
		raft_set_pre_vote(raft_fixture_get(&F, i), true); /* as node.c */
		raft_set_snapshot_threshold(raft_fixture_get(&F, i), 1000);
		raft_set_snapshot_trailing(raft_fixture_get(&F, i), 2);
	}
	cr_assert_eq(propose(&c), (int64_t)INO(0));
	/* The next leader takes a snapshot, and no more. */
	raft_set_snapshot_threshold(raft_fixture_get(&F, next), 8);
	write_values(&k, 10);
	raft_set_snapshot_threshold(raft_fixture_get(&F, next), 1000);
	/* The other follower's snapshots go past the first entry it has. */
	raft_set_snapshot_threshold(raft_fixture_get(&F, ahead), 8);
	write_values(&k, 30);
	{
		struct raft *n = raft_fixture_get(&F, next), *a = raft_fixture_get(&F, ahead);

		cr_assert_gt(n->log.snapshot.last_index, 0);
		cr_assert_lt(n->log.snapshot.last_index + 1, a->log.offset + 1,
			     "the new leader's snapshot (%llu) is older than the first entry of "
			     "the follower (%llu)",
			     (unsigned long long)n->log.snapshot.last_index,
			     (unsigned long long)a->log.offset + 1);
	}
	/* A new leader whose first messages to @ahead fail. */
	raft_fixture_depose(&F);
	raft_fixture_disconnect(&F, next, ahead);
	raft_fixture_disconnect(&F, ahead, next);
	/* (the fixture counts no leader while @ahead campaigns: the state
	 * tells) */
	raft_fixture_elect(&F, next);
	cr_assert_eq(raft_state(raft_fixture_get(&F, next)), RAFT_LEADER);
	{
		struct entry w = h_write(INO(0), 0, "new", 3, ENTRY_F_REPLACE);

		cr_assert_eq(propose_on(raft_fixture_get(&F, next), &w), 0);
	}
	raft_fixture_step_until_elapsed(&F, 500);
	raft_fixture_reconnect(&F, next, ahead);
	raft_fixture_reconnect(&F, ahead, next);
	last = raft_last_index(raft_fixture_get(&F, next));
	cr_assert(raft_fixture_step_until_applied(&F, ahead, last, 60000),
		  "the follower ahead of the leader's snapshot did not catch up in 60 s: applied "
		  "%llu of %llu",
		  (unsigned long long)raft_fixture_get(&F, ahead)->last_applied,
		  (unsigned long long)last);
	cr_assert_eq(raft_state(raft_fixture_get(&F, next)), RAFT_LEADER);
	H_CONTENT_EQ(S[ahead].s, INO(0), "new");
	assert_all_same();
}
