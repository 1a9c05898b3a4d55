/*
 * Expiry. Content that expires (leases, DESIGN §4) is removed by an
 * ENTRY_EXPIRE that the leader commits once its clock passes the expiry
 * time. The FSM re-checks the time against the entry's stamp, so an entry
 * that races a renewal changes nothing, and a new leader simply rescans: the
 * timers are derived from the store, never kept only in memory. Precision:
 * one tick.
 *
 * Owned by the libuv loop thread (run from the tick).
 */
#include <errno.h>
#include <raft.h>
#include <string.h>

#include "../common/log.h"
#include "node_internal.h"

static int expiry_earliest(void *arg, const char *name, size_t len, int64_t at_ns)
{
	int64_t *next = arg;

	(void)name;
	(void)len;
	if (*next == 0 || at_ns < *next)
		*next = at_ns;
	return 0;
}

static void expiry_done(void *arg, int64_t result)
{
	struct node *n = arg;

	if (result < 0 && result != -ENOENT)
		log_debug("expiry: %s", strerror((int)-result));
	n->expiring--;
	n->expiry_dirty = true;
}

struct expiry_scan {
	struct node *n;
	int64_t now;
};

static int expiry_propose(void *arg, const char *name, size_t len, int64_t at_ns)
{
	struct expiry_scan *sc = arg;
	struct entry e = {
	    .op = ENTRY_EXPIRE,
	    .node_id = sc->n->id,
	    .parent = STORE_LEASES_INO,
	    .name = name,
	    .name_len = (uint32_t)len,
	};
	struct entry_buf b;

	if (at_ns > sc->now || entry_encode(&e, &b) != 0)
		return 0;
	if (node_submit(sc->n, &b, expiry_done, sc->n) == 0) {
		sc->n->expiring++;
		sc->n->metrics.expirations++;
	}
	return 0;
}

void node_reap_expired(struct node *n)
{
	struct expiry_scan sc = {.n = n, .now = node_wall_ns()};

	if (!n->raft_started || n->closing || raft_state(&n->raft) != RAFT_LEADER)
		return;
	if (n->expiry_term != n->raft.current_term) {
		n->expiry_term = n->raft.current_term;
		n->expiry_dirty = true;
	}
	if (n->expiring > 0)
		return;
	if (n->expiry_dirty) {
		n->expiry_dirty = false;
		n->expiry_next_ns = 0;
		store_expiries(n->store, STORE_LEASES_INO, expiry_earliest, &n->expiry_next_ns);
	}
	if (n->expiry_next_ns == 0 || sc.now < n->expiry_next_ns)
		return;
	store_expiries(n->store, STORE_LEASES_INO, expiry_propose, &sc);
	n->expiry_dirty = true;
}
