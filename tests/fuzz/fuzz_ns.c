/*
 * Fuzz target: the typed namespaces' parsers (fs/ns*.c), through the
 * validator the store calls (ns_validator()), as the FSM does when a write
 * to gates/, peers/, leases/ or config/ is applied. Their input is what a
 * user wrote into a file, so anything goes.
 *
 * Input: u8 directory (gates, peers, leases, config, or an ordinary one),
 * u8 flags (bit 0: the file exists), i64 the leader's stamp, u8 name length,
 * the name, u16 old-content length, the old content, then the new content
 * (the rest). Every piece is copied into a buffer of exactly its size so that
 * ASan sees an over-read.
 *
 * Checks beyond "no crash": a normalized value is a fixed point (normalizing
 * it again changes nothing), a lease decided at a stamp is renewed to the
 * same content by the same request at the same stamp, and its expiry is the
 * one it shows. Also: transport_split_address() and the peers' address check
 * on the raw content.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../fs/ns.h"
#include "../../replication/transport.h"
#include "fuzz.h"

/* The size of the scratch buffer the store gives the validator
 * (STORE_SCRATCH in replication/store_internal.h). */
#define FUZZ_SCRATCH 65536

static const uint64_t dirs[] = {STORE_GATES_INO, STORE_PEERS_INO, STORE_LEASES_INO,
				STORE_CONFIG_INO, STORE_ROOT_INO};

/* A malloc'd copy of exactly @n bytes (ASan then catches reads past it). */
static char *dup_exact(const uint8_t *p, size_t n)
{
	char *c = malloc(n > 0 ? n : 1);

	FUZZ_CHECK(c != NULL);
	if (n > 0)
		memcpy(c, p, n);
	return c;
}

static void check_lease(const struct store_validator *v, struct store_check *c, const char *req,
			size_t req_len, const void *out, size_t out_len)
{
	struct ns_lease l;
	char *again = malloc(FUZZ_SCRATCH);
	struct store_check c2 = *c;
	const void *d2 = req;
	size_t l2 = req_len;
	int64_t at;

	FUZZ_CHECK(again != NULL);
	FUZZ_CHECK(ns_leases_parse(out, out_len, &l) == 0);
	FUZZ_CHECK(l.has_times && l.ttl > 0);
	FUZZ_CHECK(ns_leases_expires(out, out_len, &at) == 0);
	/* The same request at the same stamp renews to the same content. */
	c2.old = out;
	c2.old_len = out_len;
	c2.exists = true;
	c2.scratch = again;
	c2.remove = false;
	FUZZ_CHECK(v->check_content(&c2, &d2, &l2) == 0);
	FUZZ_CHECK(!c2.remove);
	FUZZ_CHECK(l2 == out_len && memcmp(d2, out, out_len) == 0);
	free(again);
}

/* A lease's expiry in nanoseconds is the one it shows, or the nearest
 * time that fits in an int64_t. */
static void check_expires(const struct store_validator *v, uint64_t dir, const char *data,
			  size_t len)
{
	struct ns_lease l;
	int64_t at;
	const int64_t ms_ns = 1000000;

	if (v->expires(dir, data, len, &at) != 0)
		return;
	FUZZ_CHECK(dir == STORE_LEASES_INO);
	FUZZ_CHECK(ns_leases_parse(data, len, &l) == 0 && l.has_times);
	if (l.expires_ms > INT64_MAX / ms_ns)
		FUZZ_CHECK(at == INT64_MAX);
	else if (l.expires_ms < INT64_MIN / ms_ns)
		FUZZ_CHECK(at == INT64_MIN);
	else
		FUZZ_CHECK(at == l.expires_ms * ms_ns);
}

static void check_address(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	char host[TRANSPORT_ADDRESS_MAX + 1], port[8];

	FUZZ_CHECK(s != NULL);
	memcpy(s, p, n);
	s[n] = '\0';
	if (transport_split_address(s, host, sizeof(host), port, sizeof(port)) == 0) {
		int pn = atoi(port);

		FUZZ_CHECK(host[0] != '\0' && strlen(host) < n);
		FUZZ_CHECK(pn > 0 && pn <= 65535);
	}
	(void)ns_peers_check_address(s, n);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct store_validator *v = ns_validator();
	struct fuzz_in in = {data, size};
	uint64_t dir = dirs[fuzz_uint(&in, 1) % (sizeof(dirs) / sizeof(dirs[0]))];
	unsigned flags = (unsigned)fuzz_uint(&in, 1);
	int64_t stamp = (int64_t)fuzz_uint(&in, 8);
	size_t name_len = (size_t)fuzz_uint(&in, 1);
	const uint8_t *name_p = fuzz_take(&in, name_len);
	size_t old_len;
	const uint8_t *old_p;
	char *name, *old, *content, *scratch;
	struct store_check c;
	const void *d;
	size_t len;
	int rv;

	if (name_p == NULL)
		return 0;
	old_len = (size_t)fuzz_uint(&in, 2);
	old_p = fuzz_take(&in, old_len);
	if (old_p == NULL)
		return 0;
	name = dup_exact(name_p, name_len);
	old = dup_exact(old_p, old_len);
	content = dup_exact(in.p, in.len);
	scratch = malloc(FUZZ_SCRATCH);
	FUZZ_CHECK(scratch != NULL);

	(void)v->is_typed(dir);
	(void)v->create_mode(dir, (uint32_t)flags << 4);
	(void)v->names_held(dir);
	rv = v->check_name(dir, name, name_len, S_IFREG | 0644);
	FUZZ_CHECK(rv == 0 || rv == -EINVAL);
	(void)v->check_name(dir, name, name_len, S_IFDIR | 0755);

	c = (struct store_check){
	    .dir = dir,
	    .name = name,
	    .name_len = name_len,
	    .old = (flags & 1) ? old : NULL,
	    .old_len = (flags & 1) ? old_len : 0,
	    .exists = (flags & 1) != 0,
	    .stamp_ns = stamp,
	    .scratch = scratch,
	    .scratch_len = FUZZ_SCRATCH,
	};
	d = content;
	len = in.len;
	rv = v->check_content(&c, &d, &len);
	if (rv == 0) {
		FUZZ_CHECK(len <= FUZZ_SCRATCH || d == content);
		switch (dir) {
		case STORE_GATES_INO:
			FUZZ_CHECK((len == 5 && memcmp(d, "true\n", 5) == 0) ||
				   (len == 6 && memcmp(d, "false\n", 6) == 0));
			break;
		case STORE_PEERS_INO: {
			char *again = malloc(FUZZ_SCRATCH);
			size_t again_len;

			FUZZ_CHECK(again != NULL);
			FUZZ_CHECK(ns_peers_normalize(d, len, again, FUZZ_SCRATCH, &again_len) == 0);
			FUZZ_CHECK(again_len == len && memcmp(again, d, len) == 0);
			free(again);
			break;
		}
		case STORE_LEASES_INO:
			if (c.remove)
				FUZZ_CHECK(c.exists);
			else
				check_lease(v, &c, content, in.len, d, len);
			break;
		default:
			break;
		}
	} else {
		FUZZ_CHECK(rv == -EINVAL || rv == -EBUSY || rv == -ENOENT);
	}
	/* The store also asks when stored content expires. */
	check_expires(v, dir, content, in.len);
	check_expires(v, dir, old, old_len);
	check_address(in.p, in.len);

	free(scratch);
	free(content);
	free(old);
	free(name);
	return 0;
}
