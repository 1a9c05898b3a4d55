/*
 * Disk space: what a node does when the disk holding its data directory
 * runs low, so that a full disk costs writes on that node and nothing else
 * (docs/operations.md, "A full disk").
 *
 * raft 0.15 must never see a failed log write. Its libuv backend rolls its
 * next append index back, but raft's in-memory log does not follow: on a
 * follower the entries stay in memory and the next write lands at the
 * wrong place in the segment file (a log that a restart reads wrong); on a
 * leader the entries are dropped from memory while followers may hold
 * them, and the next entries reuse their indexes and term (two different
 * entries under one index and term). Log writes go to segments that
 * raft_uv preallocates (8 MiB each, two kept ready beside the one being
 * written, refilled as they are used), so a write fails only when no
 * segment is left and a new one cannot be created. Two levels of free
 * space keep it from coming to that:
 *
 *  - below the reserve (--disk-reserve, NODE_DEFAULT_DISK_RESERVE_MB) the
 *    disk is *low*: writes made on this node that can add data fail with
 *    ENOSPC (deletions still pass, so that `rm` can make room), and a
 *    leader hands leadership to another voter (node_disk_tick) and, while
 *    it still leads, answers such forwarded writes "try again" (a voter
 *    with room takes them; ENOSPC when it is the only voter). The node
 *    still stores what the leader sends: the reserve leaves room for a new
 *    segment and the store's transactions;
 *  - below the floor (NODE_DISK_FLOOR_MB, or the reserve if smaller), or
 *    while the store has entries it could not write (fsm.h, deferred), the
 *    disk is *full*: every write here fails with ENOSPC, and the node
 *    stores no new entries: each AppendEntries reaches raft without its
 *    entries (a heartbeat: the leader stays known, the commit index still
 *    moves and entries already stored are applied), an InstallSnapshot is
 *    dropped, and no snapshot is taken. The leader keeps probing, and the
 *    node catches up by itself once space is back. A segment started
 *    before still has the preallocated ones to go on with.
 *
 * Even a full node writes a little: raft records every new term and vote
 * in a small metadata file, and a failure there stops raft for good (the
 * daemon then exits: node_poll). So the node keeps a ballast file
 * (DATA/ballast, NODE_DISK_BALLAST_MB) while the disk is fine, and on a
 * full disk deletes it just before raft may write its metadata: when a
 * message arrives that carries a newer term, asks for a vote or answers
 * one (node_disk_filter sees every message before raft does). Not sooner:
 * whatever filled the disk may still be writing, and would take the space.
 *
 * An InstallSnapshot is also dropped when its image would not fit beside
 * the reserve. Free space is read with fstatvfs on the data directory's
 * lock file at each decision (a system call of a microsecond), not polled.
 * One line is logged when the disk becomes low or full, one when it is
 * not any more.
 *
 * Owned by the libuv loop thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <raft.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../common/log.h"
#include "node_internal.h"

/* A level is left once this much more than its threshold is free, so that
 * a disk at the edge does not flap. */
#define DISK_HYSTERESIS_BYTES (1ull << 20)
/* A leader that cannot take writes tries to hand over at most this often. */
#define DISK_TRANSFER_RETRY_MS 2000

static uint64_t disk_free_bytes(struct node *n)
{
	struct statvfs st;

	if (n->lock_fd < 0 || fstatvfs(n->lock_fd, &st) != 0)
		return UINT64_MAX; /* unknown: do not refuse on a guess */
	return (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
}

static unsigned long long mib(uint64_t bytes)
{
	return (unsigned long long)(bytes >> 20);
}

static enum node_disk_level disk_look(struct node *n);

/* Make the ballast file if it is missing (the disk is fine). */
static void ballast_make(struct node *n)
{
	char path[PATH_MAX];
	int fd, rv;

	if (n->cfg.disk_reserve_bytes == 0 ||
	    node_path_join(path, sizeof(path), n->data_dir, NODE_BALLAST) != 0 ||
	    access(path, F_OK) == 0)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	rv = posix_fallocate(fd, 0, (off_t)NODE_DISK_BALLAST_MB << 20);
	close(fd);
	if (rv != 0)
		unlink(path); /* no room for it: the disk is not fine after all */
}

/* Give the ballast's space to whatever must still be written. */
static void ballast_release(struct node *n)
{
	char path[PATH_MAX];

	if (node_path_join(path, sizeof(path), n->data_dir, NODE_BALLAST) == 0 && unlink(path) == 0)
		log_info("deleted %s (%d MiB kept for this moment): raft's metadata has room", path,
			 NODE_DISK_BALLAST_MB);
}

void node_disk_start(struct node *n)
{
	/* Starting on a full disk: the epoch, raft's start and the store need
	 * a little room. */
	if (disk_look(n) == NODE_DISK_OK)
		ballast_make(n);
	else if (n->disk_level == NODE_DISK_FULL)
		ballast_release(n);
}

static uint64_t disk_floor(struct node *n)
{
	uint64_t floor = (uint64_t)NODE_DISK_FLOOR_MB << 20;

	return floor < n->cfg.disk_reserve_bytes ? floor : n->cfg.disk_reserve_bytes;
}

/* Look at the disk and log a change of level. */
static enum node_disk_level disk_look(struct node *n)
{
	uint64_t reserve = n->cfg.disk_reserve_bytes, floor = disk_floor(n);
	uint64_t avail = disk_free_bytes(n);
	enum node_disk_level level = n->disk_level;

	n->disk_free = avail;
	if (reserve == 0 || avail == UINT64_MAX)
		level = NODE_DISK_OK;
	else if (avail < floor)
		level = NODE_DISK_FULL;
	else if (avail < reserve)
		level = level == NODE_DISK_FULL && avail < floor + DISK_HYSTERESIS_BYTES
			    ? NODE_DISK_FULL
			    : NODE_DISK_LOW;
	else if (level == NODE_DISK_OK || avail >= reserve + DISK_HYSTERESIS_BYTES)
		level = NODE_DISK_OK;
	else if (level == NODE_DISK_FULL && avail >= floor + DISK_HYSTERESIS_BYTES)
		level = NODE_DISK_LOW;
	if (level == n->disk_level)
		return level;
	if (level == NODE_DISK_OK)
		ballast_make(n);
	if (level == NODE_DISK_FULL)
		log_error("the disk holding %s has %llu MiB free, less than the %llu MiB this node "
			  "needs to go on storing entries: writes on this node fail with ENOSPC, "
			  "and it catches up by itself once space is freed there",
			  n->data_dir, mib(avail), mib(floor));
	else if (level == NODE_DISK_LOW && n->disk_level == NODE_DISK_OK)
		log_error("the disk holding %s has %llu MiB free, less than the %llu MiB this node "
			  "keeps (--disk-reserve): writes on this node that add data fail with "
			  "ENOSPC (deletions work) until space is freed there",
			  n->data_dir, mib(avail), mib(reserve));
	else if (level == NODE_DISK_LOW)
		log_warn("the disk holding %s has %llu MiB free: this node stores entries again, "
			 "but writes on it that add data fail with ENOSPC (below %llu MiB)",
			 n->data_dir, mib(avail), mib(reserve));
	else
		log_info("the disk holding %s has room again (%llu MiB free): this node takes "
			 "writes again",
			 n->data_dir, mib(avail));
	n->disk_level = level;
	n->fsm.hold_snapshots = level == NODE_DISK_FULL;
	return level;
}

bool node_disk_full(struct node *n)
{
	return node_disk_level(n) == NODE_DISK_FULL;
}

enum node_disk_level node_disk_level(struct node *n)
{
	enum node_disk_level level = disk_look(n);

	return n->fsm.deferred != NULL ? NODE_DISK_FULL : level;
}

/* Does @e only take data away, so that it may pass on a low disk: the way
 * to make room through the mount. (Not a truncation: after a rewrite
 * refused for lack of space, the truncation its open(O_TRUNC) held would
 * leave the file empty, neither the old content nor the new.) */
static bool op_frees(const struct entry *e)
{
	switch (e->op) {
	case ENTRY_UNLINK:
	case ENTRY_REMOVEXATTR:
	case ENTRY_EXPIRE:
		return true;
	default:
		return false;
	}
}

int node_disk_admit(struct node *n, const void *entry, size_t len)
{
	enum node_disk_level level = node_disk_level(n);
	struct entry e;

	if (level == NODE_DISK_OK)
		return 0;
	if (level == NODE_DISK_LOW && entry != NULL && entry_decode(entry, len, &e) == 0 &&
	    op_frees(&e))
		return 0;
	if (level == NODE_DISK_LOW && entry == NULL)
		return 0; /* a barrier: this node still stores and applies */
	return -ENOSPC;
}

/* Can an image of @len bytes be installed next to the store (a new file of
 * that size, then the old one goes), keeping the reserve? */
static bool disk_fits_image(struct node *n, uint64_t len)
{
	uint64_t avail = disk_free_bytes(n);

	return avail == UINT64_MAX || avail >= len + n->cfg.disk_reserve_bytes;
}

/* The term a message carries. */
static raft_term msg_term(const struct raft_message *m)
{
	switch (m->type) {
	case RAFT_IO_APPEND_ENTRIES:
		return m->append_entries.term;
	case RAFT_IO_APPEND_ENTRIES_RESULT:
		return m->append_entries_result.term;
	case RAFT_IO_REQUEST_VOTE:
		return m->request_vote.term;
	case RAFT_IO_REQUEST_VOTE_RESULT:
		return m->request_vote_result.term;
	case RAFT_IO_INSTALL_SNAPSHOT:
		return m->install_snapshot.term;
	case RAFT_IO_TIMEOUT_NOW:
		return m->timeout_now.term;
	default:
		return 0;
	}
}

bool node_disk_filter(struct node *n, struct raft_message *m)
{
	/* Raft may write its metadata (a new term, a vote) for this message:
	 * on a full disk, give it the ballast's room now. */
	if (disk_look(n) == NODE_DISK_FULL &&
	    (msg_term(m) > n->raft.current_term || m->type == RAFT_IO_REQUEST_VOTE ||
	     m->type == RAFT_IO_REQUEST_VOTE_RESULT || m->type == RAFT_IO_TIMEOUT_NOW))
		ballast_release(n);
	if (m->type == RAFT_IO_APPEND_ENTRIES && m->append_entries.n_entries > 0 &&
	    node_disk_level(n) == NODE_DISK_FULL) {
		struct raft_append_entries *a = &m->append_entries;

		/* Free what raft would have (one batch holds every entry). */
		if (a->entries[0].batch != NULL)
			raft_free(a->entries[0].batch);
		raft_free(a->entries);
		a->entries = NULL;
		a->n_entries = 0;
		return false;
	}
	if (m->type == RAFT_IO_INSTALL_SNAPSHOT &&
	    (node_disk_level(n) == NODE_DISK_FULL ||
	     !disk_fits_image(n, m->install_snapshot.data.len))) {
		log_warn("not installing a snapshot of %llu MiB from the leader: the disk holding "
			 "%s has %llu MiB free; the leader sends it again later",
			 mib(m->install_snapshot.data.len), n->data_dir, mib(disk_free_bytes(n)));
		raft_configuration_close(&m->install_snapshot.conf);
		raft_free(m->install_snapshot.data.base);
		return true;
	}
	return false;
}

static void disk_transfer_cb(struct raft_transfer *req)
{
	struct node *n = req->data;

	n->disk_transfer_pending = false;
}

/* The tick: a leader that cannot take writes hands leadership over. */
void node_disk_tick(struct node *n)
{
	uint64_t now;

	if (node_disk_level(n) == NODE_DISK_OK || !n->raft_started || n->closing ||
	    n->disk_transfer_pending || raft_state(&n->raft) != RAFT_LEADER ||
	    node_count_role(n, RAFT_VOTER) < 2)
		return;
	now = node_now_ms();
	if (now < n->disk_transfer_next_ms)
		return;
	n->disk_transfer_next_ms = now + DISK_TRANSFER_RETRY_MS;
	n->disk_transfer.data = n;
	if (raft_transfer(&n->raft, &n->disk_transfer, 0, disk_transfer_cb) == 0) {
		n->disk_transfer_pending = true;
		log_info("handing leadership over: the disk holding %s is low", n->data_dir);
	}
}

int64_t node_disk_refusal(struct node *n)
{
	/* A leader with other voters is handing over: the follower asks again
	 * (the same request id) and a leader with room takes it. */
	if (raft_state(&n->raft) == RAFT_LEADER && node_count_role(n, RAFT_VOTER) > 1)
		return -ETIMEDOUT;
	return -ENOSPC;
}
