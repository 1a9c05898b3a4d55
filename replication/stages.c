/*
 * Stage timestamps of writes, summed per stage: see stages.h. Loop thread
 * only.
 */
#include "stages.h"

#include <stdbool.h>
#include <string.h>

enum mark { M_SUBMIT, M_PROPOSED, M_STORED, M_REPLICATED, M_APPLY_START, M_APPLIED, M_N };

struct slot {
	uint64_t index; /* 0: free */
	int64_t t[M_N];
};

static struct {
	struct slot ring[STAGES_RING];
	uint64_t stored_upto, replicated_upto;
	struct stages_totals totals;
	bool stored_this_turn;
} st;

static const char *const names[STAGE_N] = {
    [STAGE_PROPOSE] = "propose",   [STAGE_DISK] = "disk",	[STAGE_FOLLOWER] = "follower",
    [STAGE_TO_APPLY] = "to_apply", [STAGE_APPLY] = "apply",	[STAGE_ANSWER] = "answer",
    [STAGE_FORWARD] = "forward",   [STAGE_FUSE_IN] = "fuse_in", [STAGE_FUSE_REPLY] = "fuse_reply",
};

const char *stages_name(enum stage s)
{
	return s < STAGE_N ? names[s] : "?";
}

static struct slot *slot_of(uint64_t index)
{
	struct slot *s = &st.ring[index % STAGES_RING];

	return index != 0 && s->index == index ? s : NULL;
}

static void add(enum stage s, int64_t from_ns, int64_t to_ns)
{
	if (from_ns <= 0 || to_ns < from_ns)
		return;
	st.totals.sum_s[s] += (double)(to_ns - from_ns) / 1e9;
	st.totals.count[s]++;
}

void stages_proposed(uint64_t index, int64_t submit_ns, int64_t now_ns)
{
	struct slot *s = &st.ring[index % STAGES_RING];

	if (index == 0)
		return;
	memset(s, 0, sizeof(*s));
	s->index = index;
	s->t[M_SUBMIT] = submit_ns;
	s->t[M_PROPOSED] = now_ns;
	/* Marks that arrived for this index before (a log rewound by a new
	 * term) are not this entry's. */
	if (st.stored_upto >= index)
		st.stored_upto = index - 1;
	if (st.replicated_upto >= index)
		st.replicated_upto = index - 1;
}

/* Set mark @m at @now_ns on the entries in (*upto, last] this ring holds. */
static void mark_upto(uint64_t *upto, uint64_t last, enum mark m, int64_t now_ns)
{
	uint64_t n;

	if (last <= *upto)
		return;
	n = last - *upto < STAGES_RING ? last - *upto : STAGES_RING;
	for (uint64_t k = 0; k < n; k++) {
		struct slot *s = slot_of(last - k);

		if (s != NULL && s->t[m] == 0)
			s->t[m] = now_ns;
	}
	*upto = last;
}

void stages_stored(uint64_t last_index, int64_t now_ns)
{
	mark_upto(&st.stored_upto, last_index, M_STORED, now_ns);
}

void stages_replicated(uint64_t last_index, int64_t now_ns)
{
	mark_upto(&st.replicated_upto, last_index, M_REPLICATED, now_ns);
}

void stages_applied(uint64_t index, int64_t start_ns, int64_t end_ns)
{
	struct slot *s = slot_of(index);

	if (s != NULL) {
		s->t[M_APPLY_START] = start_ns;
		s->t[M_APPLIED] = end_ns;
	}
}

void stages_answered(uint64_t index, int64_t now_ns)
{
	struct slot *s = slot_of(index);
	int64_t quorum;

	if (s == NULL)
		return;
	for (int m = 0; m < M_N; m++)
		if (s->t[m] == 0)
			return; /* one node alone, or marks lost: not counted */
	quorum = s->t[M_STORED] > s->t[M_REPLICATED] ? s->t[M_STORED] : s->t[M_REPLICATED];
	add(STAGE_PROPOSE, s->t[M_SUBMIT], s->t[M_PROPOSED]);
	add(STAGE_DISK, s->t[M_PROPOSED], s->t[M_STORED]);
	add(STAGE_FOLLOWER, s->t[M_PROPOSED], s->t[M_REPLICATED]);
	add(STAGE_TO_APPLY, quorum, s->t[M_APPLY_START]);
	add(STAGE_APPLY, s->t[M_APPLY_START], s->t[M_APPLIED]);
	add(STAGE_ANSWER, s->t[M_APPLIED], now_ns);
	s->index = 0;
}

void stages_log_stored(unsigned n)
{
	st.totals.log_entries += n;
	if (!st.stored_this_turn) {
		st.stored_this_turn = true;
		st.totals.log_turns++;
	}
}

void stages_turn(void)
{
	st.stored_this_turn = false;
}

void stages_forwarded(int64_t submit_ns, int64_t now_ns)
{
	add(STAGE_FORWARD, submit_ns, now_ns);
}

void stages_fuse(int64_t in_ns, int64_t submit_ns, int64_t outcome_ns, int64_t replied_ns)
{
	add(STAGE_FUSE_IN, in_ns, submit_ns);
	add(STAGE_FUSE_REPLY, outcome_ns, replied_ns);
}

void stages_totals(struct stages_totals *out)
{
	*out = st.totals;
}

void stages_reset(void)
{
	memset(&st, 0, sizeof(st));
}
