/*
 * Closing a node (node.c): raft 0.15's raft_uv may call its close callback
 * twice, and the node must survive that.
 *
 * raft_uv fires its close callback from uvMaybeFireCloseCb, which is called
 * again from every completion that might be the last one, but does not know
 * about the writer of the open segment that uvClose is closing: that
 * writer's close callback calls it once more. When the segment's
 * finalisation (a thread-pool job) is done before the loop runs the close
 * callbacks of that iteration, the close callback fires first from the
 * transport's close, then again from the writer's (fixed in the cowsql/raft
 * fork by its pull request 45). raft's callback freed raft's state twice,
 * and the node, which freed raft_uv's state in the first call, made the
 * second one read freed memory: clusterfsd died with SIGSEGV on SIGTERM,
 * once in about fifty runs of test_backup_recovery.sh on a loaded machine.
 *
 * The test makes the timing certain: a real node (raft_uv, the node's
 * transport, a data directory) leads a cluster of one, then is closed from a
 * timer callback that then sleeps, so that the thread pool finalises the
 * open segment before the loop goes on. Without the fix it crashes in
 * uv_run every time.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "../../fs/ns.h"
#include "../../replication/node.h"
#include "helpers.h"

/* Long enough for the thread pool to rename and sync a segment file. */
#define CLOSE_SLEEP_US	      (200 * 1000)
#define READY_WAIT_ITERATIONS 100000

struct rig {
	char dir[PATH_MAX];
	char address[64];
	uv_loop_t loop;
	struct node *node;
	uv_timer_t timer;
	int closed; /* node_close's callback: how many times */
};

/* An address on 127.0.0.1 nothing listens on (the kernel's choice). */
static void free_address(char *buf, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(buf, len, "127.0.0.1:%u", ntohs(sa.sin_port));
	close(fd);
}

static void rig_start(struct rig *g)
{
	struct node_config cfg;
	char err[512] = "";
	int i;

	h_tmpdir(g->dir, sizeof(g->dir));
	free_address(g->address, sizeof(g->address));
	cr_assert_eq(uv_loop_init(&g->loop), 0);
	node_config_defaults(&cfg);
	cfg.data_dir = g->dir;
	cfg.address = g->address;
	cfg.bootstrap = true;
	cfg.validator = ns_validator();
	cr_assert_eq(node_open(&g->node, &g->loop, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(node_start(g->node, err, sizeof(err)), 0, "%s", err);
	/* The leader's barrier is in the log's open segment: raft_uv has a
	 * writer for it, which its close has to close. */
	for (i = 0; i < READY_WAIT_ITERATIONS && !node_ready(g->node); i++)
		uv_run(&g->loop, UV_RUN_ONCE);
	cr_assert(node_ready(g->node), "the node did not become the leader of its cluster");
}

static void node_closed_cb(void *arg)
{
	struct rig *g = arg;

	g->closed++;
	uv_close((uv_handle_t *)&g->timer, NULL);
}

static void close_then_stall(uv_timer_t *t)
{
	struct rig *g = t->data;

	node_close(g->node, node_closed_cb, g);
	/* What a loaded machine does now and then: the loop thread is not
	 * scheduled while a worker finishes the segment. */
	usleep(CLOSE_SLEEP_US);
}

TestSuite(node_close, .fini = h_leak_check);

Test(node_close, a_close_whose_segment_is_finalised_at_once_completes_once)
{
	static struct rig g;

	rig_start(&g);
	cr_assert_eq(uv_timer_init(&g.loop, &g.timer), 0);
	g.timer.data = &g;
	cr_assert_eq(uv_timer_start(&g.timer, close_then_stall, 0, 0), 0);
	uv_run(&g.loop, UV_RUN_DEFAULT);
	cr_assert_eq(g.closed, 1, "node_close called back %d times", g.closed);
	cr_assert_eq(uv_loop_close(&g.loop), 0, "handles left open on the loop");
	node_free(g.node);
	h_rmtree(g.dir);
}
