/*
 * replication/stages.c: the stage sums of writes (.cluster/metrics'
 * clusterfs_write_stage_seconds). Times are made-up nanoseconds.
 */
#include <criterion/criterion.h>

#include "../../replication/stages.h"

#define US 1000

static struct stages_totals totals(void)
{
	struct stages_totals t;

	stages_totals(&t);
	return t;
}

static void expect(enum stage s, uint64_t count, double sum_us)
{
	struct stages_totals t = totals();

	cr_assert_eq(t.count[s], count, "%s: count %llu, want %llu", stages_name(s),
		     (unsigned long long)t.count[s], (unsigned long long)count);
	cr_assert_float_eq(t.sum_s[s] * 1e6, sum_us, 1e-3, "%s: %.3f us, want %.3f", stages_name(s),
			   t.sum_s[s] * 1e6, sum_us);
}

static void setup(void)
{
	stages_reset();
}

TestSuite(stages, .init = setup);

/* Every leader mark of entry @i, in microseconds (0: that mark never
 * comes); the apply takes 10 us from @apply. */
static void entry_marks(uint64_t i, int64_t proposed, int64_t stored, int64_t replicated,
			int64_t apply, int64_t answered)
{
	stages_proposed(i, 1, proposed * US);
	if (stored != 0)
		stages_stored(i, stored * US);
	if (replicated != 0)
		stages_replicated(i, replicated * US);
	stages_applied(i, apply * US, (apply + 10) * US);
	stages_answered(i, answered * US);
}

/* One entry through every leader stage: each difference lands in its stage. */
Test(stages, one_entry_each_stage)
{
	stages_proposed(7, 1000 * US, 1010 * US);
	stages_replicated(7, 1300 * US); /* the follower first */
	stages_stored(7, 1400 * US);
	stages_applied(7, 1405 * US, 1505 * US);
	stages_answered(7, 1510 * US);
	expect(STAGE_PROPOSE, 1, 10);
	expect(STAGE_DISK, 1, 390);
	expect(STAGE_FOLLOWER, 1, 290);
	expect(STAGE_TO_APPLY, 1, 5); /* from the later of disk and follower */
	expect(STAGE_APPLY, 1, 100);
	expect(STAGE_ANSWER, 1, 5);
	expect(STAGE_FORWARD, 0, 0);
}

/* Marks up to an index cover every entry before it once, and not again. */
Test(stages, marks_cover_ranges_once)
{
	for (uint64_t i = 10; i <= 12; i++)
		stages_proposed(i, 0 + 1, 100 * US);
	stages_stored(12, 300 * US);
	stages_stored(12, 900 * US); /* a later append of nothing new */
	stages_replicated(11, 200 * US);
	stages_replicated(12, 400 * US);
	for (uint64_t i = 10; i <= 12; i++) {
		stages_applied(i, 500 * US, 510 * US);
		stages_answered(i, 520 * US);
	}
	expect(STAGE_DISK, 3, 3 * 200);
	expect(STAGE_FOLLOWER, 3, 100 + 100 + 300);
	expect(STAGE_TO_APPLY, 3, 200 + 200 + 100);
}

/* A node alone (no follower ever answers) counts nothing: incomplete
 * entries are never summed, and an answered entry is counted once. */
Test(stages, incomplete_entries_are_not_counted)
{
	entry_marks(3, 10, 20, 0, 21, 32);
	expect(STAGE_PROPOSE, 0, 0);
	entry_marks(4, 10, 20, 15, 21, 32);
	stages_answered(4, 99 * US);
	expect(STAGE_ANSWER, 1, 1);
}

/* A new term rewrites the log from an index: the marks given for the old
 * entries there do not stand for the new ones. */
Test(stages, a_rewound_log_needs_new_marks)
{
	stages_proposed(20, 1, 10 * US);
	stages_stored(20, 20 * US);
	stages_replicated(20, 20 * US);
	stages_proposed(20, 1, 50 * US); /* the same index, a new entry */
	stages_applied(20, 70 * US, 80 * US);
	stages_answered(20, 90 * US);
	expect(STAGE_APPLY, 0, 0);
	entry_marks(20, 50, 60, 65, 70, 90);
	expect(STAGE_DISK, 1, 10);
	expect(STAGE_FOLLOWER, 1, 15);
}

/* An index that has left the ring is not confused with the one now in its
 * slot, and a huge jump in marks stays bounded. */
Test(stages, the_ring_forgets_old_entries)
{
	stages_proposed(5, 1, 10 * US);
	stages_proposed(5 + STAGES_RING, 1, 10 * US);
	stages_stored(5 + STAGES_RING, 20 * US);
	stages_replicated(5 + STAGES_RING, 20 * US);
	stages_applied(5, 30 * US, 40 * US);
	stages_answered(5, 50 * US);
	expect(STAGE_APPLY, 0, 0);
	stages_applied(5 + STAGES_RING, 30 * US, 40 * US);
	stages_answered(5 + STAGES_RING, 50 * US);
	expect(STAGE_APPLY, 1, 10);
	/* Far ahead: only the ring's worth of indexes is looked at. */
	stages_stored(UINT64_MAX, 60 * US);
	stages_replicated(UINT64_MAX, 60 * US);
	expect(STAGE_APPLY, 1, 10);
}

/* Entries stored in one loop turn came from one disk write (raft_uv
 * writes what queued up meanwhile as one). */
Test(stages, log_writes_count_turns)
{
	stages_log_stored(1);
	stages_turn();
	stages_log_stored(2);
	stages_log_stored(3); /* the same turn: the same write */
	stages_turn();
	stages_turn(); /* a turn without a write counts nothing */
	cr_assert_eq(totals().log_entries, 6);
	cr_assert_eq(totals().log_turns, 2);
}

Test(stages, forward_and_fuse)
{
	stages_forwarded(100 * US, 900 * US);
	stages_fuse(10 * US, 12 * US, 800 * US, 830 * US);
	stages_fuse(0, 12 * US, 900 * US, 850 * US); /* unknown start, clock step */
	expect(STAGE_FORWARD, 1, 800);
	expect(STAGE_FUSE_IN, 1, 2);
	expect(STAGE_FUSE_REPLY, 1, 30);
	cr_assert_str_eq(stages_name(STAGE_FUSE_REPLY), "fuse_reply");
	cr_assert_str_eq(stages_name(STAGE_N), "?");
}
