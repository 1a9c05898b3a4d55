/*
 * Writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/<target>/)
 * from the real encoders, so that every seed is a valid input the fuzzer can
 * mutate from: entry_encode() for each op, peer_encode() for each message,
 * lease contents rendered by ns_leases_decide(), watch configs in the
 * documented syntax, and handshakes as transport.h describes them.
 *
 * Usage: fuzz_gen_corpus DIR   (DIR: tests/fuzz/corpus; run by hand when an
 * encoder changes, and commit the result.) Not a test.
 */
#include <errno.h>
#include <raft.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "../../fs/ns.h"
#include "../../replication/entry.h"
#include "../../replication/health.h"
#include "../../replication/peer.h"
#include "../../replication/raft_wire.h"
#include "../../replication/transport.h"

static const char *out_dir;

static void put(const char *target, const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "fuzz_gen_corpus: cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* --- entries ------------------------------------------------------------- */

static void put_entry(const char *name, struct entry *e)
{
	struct entry_buf b;

	e->stamp_ns = 1767225600000000000ll;
	e->node_id = 1;
	e->request_id = 42;
	e->uid = 1000;
	e->gid = 1000;
	if (entry_encode(e, &b) != 0) {
		fprintf(stderr, "fuzz_gen_corpus: cannot encode %s\n", name);
		exit(1);
	}
	put("entry", name, b.base, b.len);
	raft_free(b.base);
}

static void gen_entries(void)
{
	static const char multi[] = "holder=a ttl=5\0one\0two\0";

	put_entry("create", &(struct entry){.op = ENTRY_CREATE, .flags = ENTRY_F_EXCL,
					    .parent = 1, .ino = 4097, .mode = 0100644,
					    .name = "f", .name_len = 1, .data = "hello\n",
					    .data_len = 6});
	put_entry("link", &(struct entry){.op = ENTRY_LINK, .ino = 4097, .newparent = 1,
					  .newname = "g", .newname_len = 1});
	put_entry("unlink", &(struct entry){.op = ENTRY_UNLINK, .flags = ENTRY_F_DIR,
					    .parent = 1, .name = "d", .name_len = 1});
	put_entry("rename", &(struct entry){.op = ENTRY_RENAME, .parent = 1, .name = "a",
					    .name_len = 1, .newparent = 4098, .newname = "bb",
					    .newname_len = 2, .xflags = 1});
	put_entry("write", &(struct entry){.op = ENTRY_WRITE, .flags = ENTRY_F_APPEND,
					   .ino = 4097, .offset = 3, .data = "xyz",
					   .data_len = 3});
	put_entry("setattr", &(struct entry){.op = ENTRY_SETATTR, .ino = 4097,
					     .valid = ENTRY_SET_MODE | ENTRY_SET_SIZE |
						      ENTRY_SET_MTIME,
					     .mode = 0600, .size = 10, .mtime_ns = 5});
	put_entry("setxattr", &(struct entry){.op = ENTRY_SETXATTR, .ino = 4097,
					      .name = "user.a/b", .name_len = 8, .data = "v",
					      .data_len = 1, .xflags = XATTR_CREATE});
	put_entry("removexattr", &(struct entry){.op = ENTRY_REMOVEXATTR, .ino = 4097,
						 .name = "user.a", .name_len = 6});
	put_entry("node", &(struct entry){.op = ENTRY_NODE, .offset = 2,
					  .data = "127.0.0.1:7440", .data_len = 14});
	put_entry("expire", &(struct entry){.op = ENTRY_EXPIRE, .parent = 4, .name = "lock",
					    .name_len = 4});
	put_entry("multi", &(struct entry){.op = ENTRY_MULTI, .parent = 4, .ino = 8192,
					   .mode = 0100644, .data = multi,
					   .data_len = sizeof(multi) - 1});
}

/* --- node protocol ------------------------------------------------------- */

/* One frame body (peer_decode) and one stream of one frame, for frame @i;
 * the frame is also appended to @stream. */
static void put_peer(const struct peer_msg *m, size_t i, uint8_t *stream, size_t *slen)
{
	char name[64];
	void *buf;
	size_t len;

	if (peer_encode(m, &buf, &len) != 0 || *slen + len + 1 > 8192)
		exit(1);
	snprintf(name, sizeof(name), "body-%zu", i);
	put("peer", name, (uint8_t *)buf + 4, len - 4);
	snprintf(name, sizeof(name), "stream-%zu", i);
	stream[*slen] = 0; /* all at once */
	memcpy(stream + *slen + 1, buf, len);
	put("peer", name, stream + *slen, len + 1);
	memcpy(stream + *slen, buf, len);
	*slen += len;
	free(buf);
}

static void gen_peer(void)
{
	static const struct peer_msg msgs[] = {
	    {.type = PEER_JOIN, .seq = 1, .data = "127.0.0.1:7441", .len = 14},
	    {.type = PEER_JOIN, .response = true, .seq = 1, .value = 2},
	    {.type = PEER_PROMOTE, .seq = 2, .value = 2},
	    {.type = PEER_FORWARD, .seq = 3, .data = "CFSE....", .len = 8},
	    {.type = PEER_FORWARD, .response = true, .seq = 3, .status = -17, .value = 99},
	    {.type = PEER_BARRIER, .seq = 4},
	    {.type = PEER_REMOVE, .seq = 5, .value = 3},
	    {.type = PEER_BARRIER, .response = true, .seq = 4, .status = PEER_REDIRECT,
	     .data = "[::1]:7440", .len = 10},
	};
	static uint8_t stream[8192];
	size_t slen = 1, i;
	struct health_report r = {.applied_index = 40, .term = 2, .last_index = 41,
				  .store_bytes = 8192, .version = "0.1.0"};
	struct health_row rows[2] = {
	    {.id = 1, .flags = HEALTH_REACHABLE | HEALTH_REPORTED, .match_index = 41,
	     .report = r},
	    {.id = 2, .contact_ms = HEALTH_UNKNOWN, .match_index = 12,
	     .report_age_ms = HEALTH_UNKNOWN},
	};
	uint8_t report[HEALTH_REPORT_SIZE], table[2 * HEALTH_ROW_SIZE];

	stream[0] = 7; /* written in 7-byte pieces */
	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		put_peer(&msgs[i], i, stream, &slen);
	/* PEER_HEALTH: a follower's report, the leader's table (health.h). */
	health_report_encode(&r, report);
	health_rows_encode(rows, 2, table);
	put_peer(&(struct peer_msg){.type = PEER_HEALTH, .value = r.applied_index,
				    .data = report, .len = sizeof(report)},
		 i++, stream, &slen);
	put_peer(&(struct peer_msg){.type = PEER_HEALTH, .response = true, .value = 41,
				    .data = table, .len = sizeof(table)},
		 i++, stream, &slen);
	put("peer", "stream-all", stream, slen);
}

/* --- namespaces ---------------------------------------------------------- */

enum { NS_GATES, NS_PEERS, NS_LEASES, NS_CONFIG, NS_OTHER };

/* The harness's layout: dir, flags, stamp, name, old content, new content. */
static void put_ns(const char *file, int dir, bool exists, int64_t stamp, const char *name,
		   const char *old, size_t old_len, const char *content)
{
	uint8_t buf[8192];
	size_t n = 0, nl = strlen(name), cl = strlen(content);

	buf[n++] = (uint8_t)dir;
	buf[n++] = exists ? 1 : 0;
	for (int i = 0; i < 8; i++)
		buf[n++] = (uint8_t)((uint64_t)stamp >> (8 * i));
	buf[n++] = (uint8_t)nl;
	memcpy(buf + n, name, nl);
	n += nl;
	buf[n++] = (uint8_t)old_len;
	buf[n++] = (uint8_t)(old_len >> 8);
	memcpy(buf + n, old, old_len);
	n += old_len;
	memcpy(buf + n, content, cl);
	n += cl;
	put("ns", file, buf, n);
}

static void gen_ns(void)
{
	const int64_t t0 = 1767225600000000000ll;
	char held[512];
	size_t held_len;
	bool release;

	put_ns("gate-yes", NS_GATES, false, t0, "feature.storage.ceph", "", 0, " Yes\n");
	put_ns("gate-false", NS_GATES, true, t0, "feature.x", "true\n", 5, "false");
	put_ns("peer", NS_PEERS, false, t0, "site-b", "", 0,
	       "address=10.0.0.2:7440 type=lan enabled=on oauth2.client_id=abc\n");
	put_ns("peer-v6", NS_PEERS, false, t0, "v6", "", 0,
	       "address=[fe80::1]:7440\ntype=cloud\nenabled=0\n");
	put_ns("peer-host", NS_PEERS, false, t0, "h", "", 0, "address=peer-1.example.org:7440");
	put_ns("config-type", NS_CONFIG, false, t0, "deployment.type", "", 0, " maas\n");
	put_ns("config-free", NS_CONFIG, false, t0, "ntp.server", "", 0, "pool.ntp.org\n");
	put_ns("lease-new", NS_LEASES, false, t0, "lock", "", 0, "holder=node-1 ttl=30");
	if (ns_leases_decide("holder=node-1 ttl=30", 20, NULL, 0, false, t0, held,
			     sizeof(held), &held_len, &release) != 0)
		exit(1);
	put_ns("lease-renew", NS_LEASES, true, t0 + 1000000000ll, "lock", held, held_len, held);
	put_ns("lease-busy", NS_LEASES, true, t0, "lock", held, held_len, "holder=other ttl=5");
	put_ns("lease-release", NS_LEASES, true, t0, "lock", held, held_len,
	       "holder=node-1 ttl=0");
	put_ns("other", NS_OTHER, false, t0, "file", "", 0, "anything\n");
}

/* --- watch config -------------------------------------------------------- */

static void gen_watch(void)
{
	static const char one[] =
	    "; reload the proxy when a peer changes\n"
	    "[rule peers]\n"
	    "match = peers/*\n"
	    "run = /usr/local/bin/reload-peer {name} \"{path}\" '{value}'\n"
	    "on-delete = /usr/local/bin/drop-peer {name}\n"
	    "debounce = 250ms\n"
	    "debounce-max = 2s\n"
	    "timeout = 30s\n";
	static const char two[] =
	    "[rule gate]\n"
	    "match = gates/feature.*\n"
	    "run = sh -c 'echo $1 > /tmp/gate' sh {value}\n"
	    "skip-if = config/deployment.type=maas\n"
	    "only-on = leader\n"
	    "\n"
	    "# a lease-held rule\n"
	    "[rule  backup.nightly]\n"
	    "match = config/[a-z]*.conf\n"
	    "run = /bin/backup --event={event} {path}\n"
	    "only-on = lease:backup\n"
	    "lease-ttl = 1m\n";
	static const char bad[] = "[rule x]\nmatch = ../etc\nrun = true\n";

	put("watch", "peers.conf", one, sizeof(one) - 1);
	put("watch", "gates.conf", two, sizeof(two) - 1);
	put("watch", "bad-glob.conf", bad, sizeof(bad) - 1);
}

/* --- transport handshake -------------------------------------------------- */

/* The harness's layout: flags, hello, then (signed) id, address length and
 * address, or (unsigned) a length and raw bytes, then what follows. */
static void put_hs(const char *file, unsigned flags, const char *magic, uint8_t purpose,
		   uint64_t id, const char *address, const char *rest)
{
	uint8_t buf[1024];
	size_t n = 0, alen = strlen(address), rlen = strlen(rest);

	buf[n++] = (uint8_t)flags;
	memcpy(buf + n, magic, 4);
	n += 4;
	buf[n++] = TRANSPORT_VERSION;
	buf[n++] = purpose;
	buf[n++] = 0;
	buf[n++] = 0;
	for (int i = 0; i < 32; i++)
		buf[n++] = (uint8_t)(0xa0 + i); /* the client's nonce */
	if (flags & 1) {
		for (int i = 0; i < 8; i++)
			buf[n++] = (uint8_t)(id >> (8 * i));
	}
	buf[n++] = (uint8_t)alen;
	buf[n++] = (uint8_t)(alen >> 8);
	memcpy(buf + n, address, alen);
	n += alen;
	memcpy(buf + n, rest, rlen);
	n += rlen;
	put("handshake", file, buf, n);
}

static void gen_handshake(void)
{
	put_hs("raft", 1, "CFSH", 1, 2, "127.0.0.1:7441", "raft traffic follows");
	put_hs("peer-joining", 1, "CFSH", 2, 0, "", "");
	put_hs("peer-v6", 3, "CFSH", 2, 7, "[::1]:7440", "x");
	put_hs("raft-no-identity", 1, "CFSH", 1, 0, "", "");
	put_hs("unsigned", 0, "CFSH", 2, 0, "not a MAC", "");
	put_hs("bad-magic", 0, "HTTP", 2, 0, "", "GET / HTTP/1.0");
	put_hs("raft-raw-frames", 5, "CFSH", 1, 2, "127.0.0.1:7441", "\x15\0\0\0not a sealed frame at all");
	put_hs("peer-long", 1, "CFSH", 2, 3, "10.0.0.3:7440", "many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames many bytes in several frames ");
}

/* --- raft's messages --------------------------------------------------------- */

static void put_raft(const char *name, const struct raft_message *m)
{
	size_t len = raft_wire_size(m);
	uint8_t *buf = malloc(len);

	raft_wire_encode(m, buf);
	put("raft_wire", name, buf, len);
	free(buf);
}

static void gen_raft_wire(void)
{
	char a[] = "an entry", b[] = "another, longer entry, 32 bytes"; /* multiples of 8 */
	char data[] = "snapshot bytes";
	struct raft_entry entries[2];
	struct raft_message m = {.type = RAFT_IO_REQUEST_VOTE};

	entries[0] = (struct raft_entry){.term = 3, .type = RAFT_COMMAND, .buf = {a, 8}};
	entries[1] = (struct raft_entry){.term = 4, .type = RAFT_CHANGE, .buf = {b, 32}};

	m.request_vote.term = 5;
	m.request_vote.candidate_id = 2;
	m.request_vote.last_log_index = 40;
	m.request_vote.last_log_term = 4;
	m.request_vote.pre_vote = true;
	put_raft("request-vote", &m);
	m = (struct raft_message){.type = RAFT_IO_REQUEST_VOTE_RESULT};
	m.request_vote_result.term = 5;
	m.request_vote_result.vote_granted = true;
	m.request_vote_result.pre_vote = raft_tribool_true;
	put_raft("request-vote-result", &m);
	m = (struct raft_message){.type = RAFT_IO_APPEND_ENTRIES};
	m.append_entries.term = 4;
	m.append_entries.prev_log_index = 38;
	m.append_entries.prev_log_term = 3;
	m.append_entries.leader_commit = 37;
	put_raft("heartbeat", &m);
	m.append_entries.entries = entries;
	m.append_entries.n_entries = 2;
	put_raft("append-entries", &m);
	m = (struct raft_message){.type = RAFT_IO_APPEND_ENTRIES_RESULT};
	m.append_entries_result.term = 4;
	m.append_entries_result.last_log_index = 40;
	put_raft("append-entries-result", &m);
	m = (struct raft_message){.type = RAFT_IO_INSTALL_SNAPSHOT};
	raft_configuration_init(&m.install_snapshot.conf);
	raft_configuration_add(&m.install_snapshot.conf, 1, "127.0.0.1:7440", RAFT_VOTER);
	raft_configuration_add(&m.install_snapshot.conf, 2, "[::1]:7441", RAFT_STANDBY);
	m.install_snapshot.term = 4;
	m.install_snapshot.last_index = 40;
	m.install_snapshot.last_term = 4;
	m.install_snapshot.conf_index = 39;
	m.install_snapshot.data.base = data;
	m.install_snapshot.data.len = sizeof(data);
	put_raft("install-snapshot", &m);
	raft_configuration_close(&m.install_snapshot.conf);
	m = (struct raft_message){.type = RAFT_IO_TIMEOUT_NOW};
	m.timeout_now.term = 4;
	m.timeout_now.last_log_index = 40;
	m.timeout_now.last_log_term = 4;
	put_raft("timeout-now", &m);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_gen_corpus DIR (tests/fuzz/corpus)\n");
		return 2;
	}
	out_dir = argv[1];
	gen_entries();
	gen_peer();
	gen_ns();
	gen_watch();
	gen_handshake();
	gen_raft_wire();
	return 0;
}
