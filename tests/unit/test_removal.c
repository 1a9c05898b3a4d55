/*
 * Telling a node that it was removed (membership.c): a leader tells a
 * non-member only once its own term's barrier has committed and only when
 * the sender speaks for no later term; the node takes the news only from a
 * leader of its own term or a later one. A stale leader (one that has not
 * yet heard of a newer term, or that restarted with a configuration that
 * was never committed) must not stop a legitimate member.
 *
 * These are the guards, on a struct node set up by hand (no raft, no
 * sockets): end to end, test_join_safety.sh has a removed-while-down node
 * learn it and stop.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../replication/node_internal.h"
#include "helpers.h"

static struct node *new_node(uint64_t id, uint64_t term)
{
	struct node *n = calloc(1, sizeof(*n));

	cr_assert_not_null(n);
	n->id = id;
	n->raft_started = true;
	n->raft.current_term = term;
	return n;
}

static void put_term(uint8_t *p, uint64_t term)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(term >> (56 - 8 * i));
}

Test(removal, a_node_refuses_the_news_from_an_older_term)
{
	struct node *n = new_node(4, 7);
	uint8_t term[8];

	put_term(term, 6);
	cr_assert_eq(node_removed(n, 4, term, sizeof(term)), -ESTALE);
	cr_assert(!n->removed);
	cr_assert_eq(n->failure[0], '\0');
	free(n);
}

Test(removal, a_node_refuses_malformed_news_and_news_for_another_id)
{
	struct node *n = new_node(4, 7);
	uint8_t term[8];

	put_term(term, 7);
	cr_assert_eq(node_removed(n, 4, term, 7), -EINVAL);
	cr_assert_eq(node_removed(n, 4, NULL, 0), -EINVAL);
	cr_assert_eq(node_removed(n, 5, term, sizeof(term)), -EINVAL);
	cr_assert(!n->removed);
	free(n);
}

Test(removal, a_node_takes_the_news_from_its_term_and_remembers_it)
{
	struct node *n = new_node(4, 7);
	uint8_t term[8];
	char path[PATH_MAX + 32], text[256] = "";
	FILE *f;

	h_tmpdir(n->data_dir, sizeof(n->data_dir));
	snprintf(n->address, sizeof(n->address), "127.0.0.1:1");
	put_term(term, 7);
	cr_assert_eq(node_removed(n, 4, term, sizeof(term)), 0);
	cr_assert(n->removed);
	cr_assert_neq(strstr(n->failure, "was removed"), NULL);
	snprintf(path, sizeof(path), "%s/%s", n->data_dir, NODE_CONF);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	cr_assert_gt(fread(text, 1, sizeof(text) - 1, f), 0);
	fclose(f);
	cr_assert_neq(strstr(text, "removed=1"), NULL, "%s", text);
	h_rmtree(n->data_dir);
	free(n);
}

/* A leader of term 9 whose configuration has no node 4. node_tell_removed
 * is kept from connecting (tconn_connecting), so stranger_id shows whether
 * the leader decided to tell. */
static struct node *leader(void)
{
	struct node *n = new_node(1, 9);

	n->raft.state = RAFT_LEADER;
	n->barrier_term = 9;
	n->tconn_connecting = true;
	return n;
}

Test(removal, a_leader_tells_a_stranger_once_its_term_is_committed)
{
	struct node *n = leader();

	node_heard_stranger(n, 4, "127.0.0.1:2", 9);
	cr_assert_eq(n->stranger_id, 4);
	free(n);
}

Test(removal, a_leader_whose_barrier_is_not_committed_tells_nobody)
{
	struct node *n = leader();

	n->barrier_pending = true;
	node_heard_stranger(n, 4, "127.0.0.1:2", 9);
	cr_assert_eq(n->stranger_id, 0);
	n->barrier_pending = false;
	n->barrier_term = 8; /* committed in an earlier term only */
	node_heard_stranger(n, 4, "127.0.0.1:2", 9);
	cr_assert_eq(n->stranger_id, 0);
	free(n);
}

Test(removal, a_leader_tells_nobody_who_speaks_for_a_later_term)
{
	struct node *n = leader();

	node_heard_stranger(n, 4, "127.0.0.1:2", 10);
	cr_assert_eq(n->stranger_id, 0);
	free(n);
}

Test(removal, a_leader_with_an_uncommitted_configuration_tells_nobody)
{
	struct node *n = leader();

	n->raft.configuration_uncommitted_index = 12;
	node_heard_stranger(n, 4, "127.0.0.1:2", 9);
	cr_assert_eq(n->stranger_id, 0);
	free(n);
}
