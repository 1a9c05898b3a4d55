/*
 * leases/: the parser, the decision table (acquire, renew, EBUSY, takeover
 * after expiry, release) and, through a real store, ENTRY_EXPIRE and the
 * all-or-nothing ENTRY_MULTI. Every decision comes from the entry's stamp,
 * so the tests set stamps explicitly.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "../../fs/ns.h"
#include "helpers.h"

#define SEC 1000000000ll
/* 2023-11-14T22:13:20Z */
#define T0 (1700000000ll * SEC)

/* --- parsing ------------------------------------------------------------------ */

static int parse(const char *text, struct ns_lease *l)
{
	return ns_leases_parse(text, strlen(text), l);
}

Test(leases, request_forms)
{
	struct ns_lease l;

	cr_assert_eq(parse("holder=a ttl=30", &l), 0);
	cr_assert_str_eq(l.holder, "a");
	cr_assert_eq(l.ttl, 30u);
	cr_assert(!l.has_times);
	cr_assert_eq(parse("  ttl=5\n\n\tholder=node-3  \r\n", &l), 0, "odd whitespace");
	cr_assert_str_eq(l.holder, "node-3");
	cr_assert_eq(l.ttl, 5u);
	cr_assert_eq(parse("holder=solo@ns/cluster-1:x+y ttl=0", &l), 0);
	cr_assert_eq(parse("holder=a ttl=31536000", &l), 0, "a year");
}

Test(leases, request_rejects)
{
	static const char *const bad[] = {
		"",
		"holder=a",
		"ttl=3",
		"holder= ttl=3",
		"holder=a ttl=",
		"holder=a ttl=-1",
		"holder=a ttl=3s",
		"holder=a ttl=31536001",
		"holder=a ttl=99999999999999999999999",
		"holder=a ttl=3 ttl=4",
		"holder=a holder=b ttl=3",
		"holder=a ttl=3 color=red",
		"holder=a=b ttl=3",
		"=a ttl=3",
		"holder=a\"b ttl=3",
		"holder=caf\xc3\xa9 ttl=3",
		"holder=\xff\xfe ttl=3",
		"holder=a ttl=3 expires=yesterday",
		"holder=a ttl=3 acquired=2026-13-01T00:00:00Z",
	};
	struct ns_lease l;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(bad[i], &l), -EINVAL, "accepted \"%s\"", bad[i]);
	cr_assert_eq(ns_leases_parse("holder=a\0 ttl=3", 15, &l), -EINVAL, "NUL byte");

	char big[NS_LEASE_HOLDER_MAX + 32];
	memset(big, 'h', sizeof(big));
	memcpy(big, "holder=", 7);
	snprintf(big + 7 + NS_LEASE_HOLDER_MAX + 1, sizeof(big) - 7 - NS_LEASE_HOLDER_MAX - 1,
		 " ttl=1");
	cr_assert_eq(parse(big, &l), -EINVAL, "holder over %d bytes", NS_LEASE_HOLDER_MAX);
}

Test(leases, names)
{
	cr_assert_eq(ns_leases_check_name("net-1.cluster_a", 15), 0);
	cr_assert_eq(ns_leases_check_name("A", 1), 0);
	cr_assert_eq(ns_leases_check_name(".hidden", 7), -EINVAL);
	cr_assert_eq(ns_leases_check_name("-x", 2), -EINVAL);
	cr_assert_eq(ns_leases_check_name("a b", 3), -EINVAL);
	cr_assert_eq(ns_leases_check_name("a:b", 3), -EINVAL);
	cr_assert_eq(ns_leases_check_name("", 0), -EINVAL);
	cr_assert_eq(ns_check_name(STORE_LEASES_INO, "x", 1, S_IFDIR | 0755), -EINVAL);
}

Test(leases, render_parses_back_to_the_millisecond)
{
	struct ns_lease l = {.ttl = 30, .acquired_ms = T0 / 1000000 + 123,
			     .expires_ms = T0 / 1000000 + 30123};
	struct ns_lease back;
	char out[512];
	size_t n;

	strcpy(l.holder, "h1");
	cr_assert_eq(ns_leases_render(&l, out, sizeof(out), &n), 0);
	cr_assert_str_eq(out, "holder=h1\nttl=30\nacquired=2023-11-14T22:13:20.123Z\n"
			      "expires=2023-11-14T22:13:50.123Z\n");
	cr_assert_eq(n, strlen(out));
	cr_assert_eq(ns_leases_parse(out, n, &back), 0);
	cr_assert(back.has_times);
	cr_assert_eq(back.acquired_ms, l.acquired_ms);
	cr_assert_eq(back.expires_ms, l.expires_ms);
	cr_assert_eq(ns_leases_render(&l, out, 20, &n), -EINVAL, "does not fit");
}

/* --- the decision table ---------------------------------------------------------- */

struct decision {
	int rv;
	bool release;
	struct ns_lease l;
	char out[512];
};

static struct decision decide(const char *req, const char *old, int64_t stamp)
{
	struct decision d;
	size_t n = 0;

	memset(&d, 0, sizeof(d));
	d.rv = ns_leases_decide(req, strlen(req), old, old ? strlen(old) : 0, old != NULL, stamp,
				d.out, sizeof(d.out), &n, &d.release);
	if (d.rv == 0 && !d.release) {
		d.out[n] = '\0';
		cr_assert_eq(ns_leases_parse(d.out, n, &d.l), 0, "stored form parses: %s", d.out);
	}
	return d;
}

Test(leases, acquire_renew_busy_takeover_release)
{
	struct decision a = decide("holder=a ttl=10", NULL, T0);
	char held[512];

	cr_assert_eq(a.rv, 0);
	cr_assert_eq(a.l.acquired_ms, T0 / 1000000);
	cr_assert_eq(a.l.expires_ms, T0 / 1000000 + 10000);
	strcpy(held, a.out);

	/* another holder, before expiry: busy */
	cr_assert_eq(decide("holder=b ttl=10", held, T0 + 9 * SEC).rv, -EBUSY);
	cr_assert_eq(decide("holder=b ttl=0", held, T0 + 9 * SEC).rv, -EBUSY, "release by other");

	/* the same holder renews: acquired kept, expiry moved */
	struct decision r = decide("holder=a ttl=20", held, T0 + 5 * SEC);
	cr_assert_eq(r.rv, 0);
	cr_assert_eq(r.l.acquired_ms, a.l.acquired_ms);
	cr_assert_eq(r.l.expires_ms, (T0 + 25 * SEC) / 1000000);
	cr_assert_eq(r.l.ttl, 20u);

	/* what `cat` shows can be written back: a renewal */
	struct decision w = decide(held, held, T0 + 2 * SEC);
	cr_assert_eq(w.rv, 0);
	cr_assert_eq(w.l.expires_ms, (T0 + 12 * SEC) / 1000000);

	/* at expiry (not a millisecond before) another holder takes it */
	cr_assert_eq(decide("holder=b ttl=10", held, T0 + 10 * SEC - 1000000).rv, -EBUSY);
	struct decision t = decide("holder=b ttl=10", held, T0 + 10 * SEC);
	cr_assert_eq(t.rv, 0);
	cr_assert_str_eq(t.l.holder, "b");
	cr_assert_eq(t.l.acquired_ms, (T0 + 10 * SEC) / 1000000, "a new acquisition");

	/* release */
	struct decision rel = decide("holder=a ttl=0", held, T0 + SEC);
	cr_assert_eq(rel.rv, 0);
	cr_assert(rel.release);
	cr_assert_eq(decide("holder=a ttl=0", NULL, T0).rv, -ENOENT, "nothing to release");
	cr_assert_eq(decide("holder=a ttl=x", held, T0).rv, -EINVAL);
}

Test(leases, expiry_time_of_stored_content)
{
	struct decision a = decide("holder=a ttl=7", NULL, T0);
	int64_t at = 0;

	cr_assert_eq(ns_leases_expires(a.out, strlen(a.out), &at), 0);
	cr_assert_eq(at, T0 + 7 * SEC);
	cr_assert_eq(ns_leases_expires("holder=a ttl=7", 14, &at), -ENOENT, "no times");
	cr_assert_eq(ns_leases_expires("junk", 4, &at), -ENOENT);
}

/* --- through the store -------------------------------------------------------- */

static struct h_store t;

static void setup(void)
{
	h_store_init(&t);
}

static void teardown(void)
{
	h_store_fini(&t);
	h_cleanup_run();
}

/* Apply @e with the leader's stamp @stamp. */
static int64_t at(struct entry e, int64_t stamp)
{
	uint64_t index = t.index + 1;
	int rv;

	e.request_id = ++h_request_id;
	e.stamp_ns = stamp;
	rv = store_apply(t.s, index, &e, &t.ch);
	cr_assert_eq(rv, 0, "store_apply = %d", rv);
	t.index = index;
	return t.ch.result;
}

static struct entry lease_write(uint64_t ino, const char *req)
{
	return h_write(ino, 0, req, strlen(req), ENTRY_F_REPLACE);
}

static struct entry expire(const char *name)
{
	struct entry e = h_entry(ENTRY_EXPIRE);

	e.parent = STORE_LEASES_INO;
	e.name = name;
	e.name_len = (uint32_t)strlen(name);
	return e;
}

/* ENTRY_MULTI with @content for the space-separated @names. */
static struct entry multi(uint64_t ino, const char *content, const char *names, char *buf)
{
	struct entry e = h_entry(ENTRY_MULTI);
	size_t n = strlen(content) + 1;

	memcpy(buf, content, n);
	for (const char *p = names; *p; p++)
		buf[n++] = *p == ' ' ? '\0' : *p;
	buf[n++] = '\0';
	e.parent = STORE_LEASES_INO;
	e.ino = ino;
	e.mode = S_IFREG | 0644;
	e.data = buf;
	e.data_len = (uint32_t)n;
	return e;
}

/* The tree now is the tree @before (which stays the caller's). */
static void unchanged(const char *before, const char *what)
{
	char *a = strdup(before), *b = h_dump(t.s);

	h_same_dump(a, b, "%s", what);
	free(a);
	free(b);
}

static bool exists(const char *name)
{
	struct store_attr a;

	return store_lookup(t.s, STORE_LEASES_INO, name, &a) == 0;
}

static struct ns_lease lease_of(const char *name)
{
	struct store_attr a = h_lookup(t.s, STORE_LEASES_INO, name);
	size_t n;
	char *text = h_content(t.s, a.ino, &n);
	struct ns_lease l;

	cr_assert_eq(ns_leases_parse(text, n, &l), 0);
	free(text);
	return l;
}

TestSuite(lease_store, .init = setup, .fini = teardown);

Test(lease_store, create_write_busy_release)
{
	static const char req_a[] = "holder=a ttl=10";
	struct entry c = h_create(STORE_LEASES_INO, 5000, S_IFREG | 0644, "l", req_a,
				  strlen(req_a));
	char *before;

	cr_assert_eq(at(c, T0), 5000);
	cr_assert(t.ch.expiry, "a lease is something that expires");
	cr_assert_str_eq(lease_of("l").holder, "a");

	before = h_dump(t.s);
	cr_assert_eq(at(lease_write(5000, "holder=b ttl=10"), T0 + SEC), -EBUSY);
	unchanged(before, "EBUSY changed nothing");
	free(before);

	/* a racing create of the same name reports the lease's refusal */
	c = h_create(STORE_LEASES_INO, 5001, S_IFREG | 0644, "l", "holder=b ttl=1", 14);
	c.flags = ENTRY_F_EXCL;
	cr_assert_eq(at(c, T0 + SEC), -EBUSY);

	cr_assert_eq(at(lease_write(5000, "holder=a ttl=0"), T0 + 2 * SEC), 0);
	cr_assert(t.ch.removed);
	cr_assert_eq(t.ch.parent, STORE_LEASES_INO);
	cr_assert_str_eq(t.ch.name, "l");
	cr_assert_eq(t.ch.orphaned[0], 5000u);
	cr_assert(!exists("l"));
}

Test(lease_store, expire_only_when_expired_by_the_stamp)
{
	static const char req[] = "holder=a ttl=10";
	char *before;

	at(h_create(STORE_LEASES_INO, 5000, S_IFREG | 0644, "l", req, strlen(req)), T0);
	before = h_dump(t.s);
	cr_assert_eq(at(expire("l"), T0 + 9 * SEC), 0);
	cr_assert(t.ch.noop, "not expired yet: no change");
	unchanged(before, "an early EXPIRE changed nothing");
	free(before);

	/* renewed meanwhile: the EXPIRE the leader sent for the old time is void */
	at(lease_write(5000, "holder=a ttl=10"), T0 + 9 * SEC);
	cr_assert_eq(at(expire("l"), T0 + 11 * SEC), 0);
	cr_assert(t.ch.noop);
	cr_assert(exists("l"));

	cr_assert_eq(at(expire("l"), T0 + 19 * SEC), 0);
	cr_assert(t.ch.removed);
	cr_assert(!exists("l"));
	cr_assert_eq(at(expire("l"), T0 + 20 * SEC), -ENOENT);
	cr_assert_eq(at(expire("nope"), T0 + 20 * SEC), -ENOENT);

	/* nothing outside leases/ expires */
	at(h_create(STORE_ROUTING_INO, 5002, S_IFREG | 0644, "r", req, strlen(req)), T0);
	struct entry e = expire("r");
	e.parent = STORE_ROUTING_INO;
	cr_assert_eq(at(e, T0 + 100 * SEC), 0);
	cr_assert(t.ch.noop);
}

struct seen {
	int n;
	int64_t soonest;
};

static int collect(void *arg, const char *name, size_t len, int64_t at_ns)
{
	struct seen *sn = arg;

	(void)name;
	(void)len;
	sn->n++;
	if (sn->soonest == 0 || at_ns < sn->soonest)
		sn->soonest = at_ns;
	return 0;
}

Test(lease_store, store_expiries_lists_every_lease)
{
	struct seen sn = {0};

	at(h_create(STORE_LEASES_INO, 5000, S_IFREG | 0644, "x", "holder=a ttl=30", 15), T0);
	at(h_create(STORE_LEASES_INO, 5001, S_IFREG | 0644, "y", "holder=a ttl=5", 14), T0 + SEC);
	cr_assert_eq(store_expiries(t.s, STORE_LEASES_INO, collect, &sn), 0);
	cr_assert_eq(sn.n, 2);
	cr_assert_eq(sn.soonest, T0 + 6 * SEC);
}

Test(lease_store, multi_is_all_or_nothing)
{
	char buf[1024];
	char *before;

	/* b is held by someone else: none of a, b, c is taken */
	at(h_create(STORE_LEASES_INO, 5000, S_IFREG | 0644, "b", "holder=other ttl=10", 19), T0);
	before = h_dump(t.s);
	cr_assert_eq(at(multi(6000, "holder=me ttl=10", "a b c", buf), T0 + SEC), -EBUSY);
	unchanged(before, "a refused multi-lease changed nothing");
	free(before);

	/* once b expired, all three are taken in one entry; a and c are new
	 * with inodes 6000 and 6002, b keeps its inode */
	cr_assert_eq(at(multi(6000, "holder=me ttl=10", "a b c", buf), T0 + 10 * SEC), 3);
	cr_assert_eq(h_lookup(t.s, STORE_LEASES_INO, "a").ino, 6000u);
	cr_assert_eq(h_lookup(t.s, STORE_LEASES_INO, "b").ino, 5000u);
	cr_assert_eq(h_lookup(t.s, STORE_LEASES_INO, "c").ino, 6002u);
	cr_assert_str_eq(lease_of("b").holder, "me");
	cr_assert_eq(lease_of("c").expires_ms, (T0 + 20 * SEC) / 1000000);

	/* renewal of all of them by the same holder */
	cr_assert_eq(at(multi(7000, "holder=me ttl=20", "c a", buf), T0 + 11 * SEC), 2);
	cr_assert_eq(lease_of("a").expires_ms, (T0 + 31 * SEC) / 1000000);

	/* bad requests change nothing */
	before = h_dump(t.s);
	cr_assert_eq(at(multi(8000, "holder=x ttl=10", "d d", buf), T0 + 12 * SEC), -EINVAL,
		     "a name twice");
	cr_assert_eq(at(multi(8000, "holder=x ttl=10", "bad/name", buf), T0 + 12 * SEC), -EINVAL);
	cr_assert_eq(at(multi(8000, "holder=x ttl=10", ".dot", buf), T0 + 12 * SEC), -EINVAL);
	cr_assert_eq(at(multi(8000, "nonsense", "d", buf), T0 + 12 * SEC), -EINVAL);
	struct entry e = multi(8000, "holder=x ttl=10", "d", buf);
	e.parent = STORE_ROUTING_INO;
	cr_assert_eq(at(e, T0 + 12 * SEC), -EINVAL, "only in a typed directory");
	e = multi(8000, "holder=x ttl=10", "d", buf);
	e.data_len = 15; /* no NUL after the content: no names */
	cr_assert_eq(at(e, T0 + 12 * SEC), -EINVAL);
	e = multi(8000, "holder=x ttl=10", "d", buf);
	e.data_len--; /* the last name is not terminated */
	cr_assert_eq(at(e, T0 + 12 * SEC), -EINVAL);
	unchanged(before, "refused multi-leases changed nothing");
	free(before);
}

Test(lease_store, no_way_around_the_decision)
{
	char buf[256], *before;

	at(h_create(STORE_LEASES_INO, 5000, S_IFREG | 0644, "mine", "holder=a ttl=10", 15), T0);
	at(h_create(STORE_LEASES_INO, 5001, S_IFREG | 0644, "theirs", "holder=b ttl=10", 15), T0);
	before = h_dump(t.s);
	cr_assert_eq(at(h_rename(STORE_LEASES_INO, "mine", STORE_LEASES_INO, "theirs", 0), T0 + SEC),
		     -EPERM, "mv over another holder's lease");
	cr_assert_eq(at(h_rename(STORE_LEASES_INO, "mine", STORE_LEASES_INO, "new", 0), T0 + SEC),
		     -EPERM);
	cr_assert_eq(at(h_link(5000, STORE_LEASES_INO, "copy"), T0 + SEC), -EPERM);
	cr_assert_eq(at(multi(6000, "holder=a ttl=0", "mine", buf), T0 + SEC), -EINVAL,
		     "a multi-lease release");
	unchanged(before, "mv, ln and a multi release changed nothing");
	free(before);

	/* a value for a lease that went (released, expired) since the writer
	 * opened it is refused, whether this node still has the orphan row */
	struct entry w = lease_write(5000, "holder=c ttl=10");
	w.flags |= ENTRY_F_TYPED;
	at(lease_write(5000, "holder=a ttl=0"), T0 + 2 * SEC);
	cr_assert(t.ch.removed);
	cr_assert_eq(at(w, T0 + 3 * SEC), -ENOENT, "write to the released lease's orphan");
	store_drop_orphan(t.s, 5000);
	cr_assert_eq(at(w, T0 + 3 * SEC), -ENOENT, "same once the orphan row is gone");
	cr_assert(!exists("mine"));
}
