/*
 * leases/NAME: leases with expiry (DESIGN §4).
 *
 * Written as "holder=H ttl=SECONDS"; stored and read back as
 *
 *     holder=H
 *     ttl=SECONDS
 *     acquired=2026-11-22T01:30:00.123Z
 *     expires=2026-11-22T01:30:30.123Z
 *
 * Every decision is made by the FSM from the leader's clock in the entry
 * (its stamp), never from the clock of the node that wrote: so every node
 * decides the same. Times are kept to the millisecond, and written in
 * RFC 3339 UTC so that the stored file is all the state a lease has.
 *
 * - no file, ttl > 0: acquired (acquired = expires - ttl = the stamp)
 * - held by the same holder: renewed (acquired kept, expires moves)
 * - held by another holder and not expired: EBUSY, nothing changes
 * - held by another holder but expired: acquired by the new holder
 * - ttl=0: released (the file goes) unless another holder holds it
 *   unexpired (EBUSY); ttl=0 for a lease that does not exist is ENOENT
 *
 * acquired= and expires= are accepted on input and ignored, so that what
 * `cat` shows can be written back (a renewal).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ns.h"

#define NS_MS 1000000ll

int ns_leases_check_name(const char *name, size_t len)
{
	if (len == 0 || len > 255 || !isalnum((unsigned char)name[0]))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!(isalnum(c) || c == '.' || c == '-' || c == '_'))
			return -EINVAL;
	}
	return 0;
}

static bool holder_ok(const char *h, size_t len)
{
	if (len == 0 || len > NS_LEASE_HOLDER_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h[i];

		if (!(isalnum(c) || strchr("._:@/+-", c) != NULL) || c == '\0')
			return false;
	}
	return true;
}

/* "2026-11-22T01:30:00.123Z" <-> milliseconds since the epoch. */
static void format_time(int64_t ms, char *out, size_t cap)
{
	time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int frac = (int)(ms - (int64_t)secs * 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static int parse_time(const char *s, size_t len, int64_t *ms)
{
	char buf[40];
	struct tm tm;
	int frac = 0, n = 0, mday;
	time_t secs;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(&tm, 0, sizeof(tm));
	if (sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -EINVAL;
	if (buf[n] == '.') {
		int digits = 0;

		for (n++; isdigit((unsigned char)buf[n]); n++, digits++)
			if (digits < 3)
				frac = frac * 10 + (buf[n] - '0');
		for (; digits < 3; digits++)
			frac *= 10;
	}
	if (strcmp(buf + n, "Z") != 0)
		return -EINVAL;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	mday = tm.tm_mday;
	/* -1 is also 1969-12-31T23:59:59 (a lease stamped in the last second
	 * before the epoch: found by fuzz_ns); only errno tells an error. */
	errno = 0;
	secs = timegm(&tm);
	if ((secs == (time_t)-1 && errno != 0) || tm.tm_mday != mday) /* 2026-02-30 */
		return -EINVAL;
	*ms = (int64_t)secs * 1000 + frac;
	return 0;
}

static int parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = v;
	return 0;
}

int ns_leases_parse(const char *text, size_t len, struct ns_lease *l)
{
	bool have_holder = false, have_ttl = false, have_acq = false, have_exp = false;
	size_t i = 0;

	memset(l, 0, sizeof(*l));
	if (memchr(text, '\0', len) != NULL)
		return -EINVAL;
	while (i < len) {
		size_t start, eq, end;
		const char *val;
		size_t vlen;
		int rv = 0;

		while (i < len && isspace((unsigned char)text[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !isspace((unsigned char)text[i]))
			i++;
		end = i;
		for (eq = start; eq < end && text[eq] != '='; eq++)
			;
		if (eq == end || eq == start)
			return -EINVAL;
		val = text + eq + 1;
		vlen = end - eq - 1;
#define KEY_IS(k) (eq - start == strlen(k) && memcmp(text + start, k, strlen(k)) == 0)
		if (KEY_IS("holder") && !have_holder) {
			if (!holder_ok(val, vlen))
				return -EINVAL;
			memcpy(l->holder, val, vlen);
			l->holder[vlen] = '\0';
			have_holder = true;
		} else if (KEY_IS("ttl") && !have_ttl) {
			rv = parse_uint(val, vlen, NS_LEASE_TTL_MAX, &l->ttl);
			have_ttl = true;
		} else if (KEY_IS("acquired") && !have_acq) {
			rv = parse_time(val, vlen, &l->acquired_ms);
			have_acq = true;
		} else if (KEY_IS("expires") && !have_exp) {
			rv = parse_time(val, vlen, &l->expires_ms);
			have_exp = true;
		} else {
			return -EINVAL; /* unknown or repeated key */
		}
#undef KEY_IS
		if (rv != 0)
			return rv;
	}
	if (!have_holder || !have_ttl)
		return -EINVAL;
	l->has_times = have_acq && have_exp;
	return 0;
}

int ns_leases_render(const struct ns_lease *l, char *out, size_t cap, size_t *out_len)
{
	char acquired[40], expires[40];
	int n;

	format_time(l->acquired_ms, acquired, sizeof(acquired));
	format_time(l->expires_ms, expires, sizeof(expires));
	n = snprintf(out, cap, "holder=%s\nttl=%" PRIu64 "\nacquired=%s\nexpires=%s\n", l->holder,
		     l->ttl, acquired, expires);
	if (n < 0 || (size_t)n >= cap)
		return -EINVAL;
	*out_len = (size_t)n;
	return 0;
}

int ns_leases_decide(const char *req, size_t req_len, const void *old, size_t old_len, bool exists,
		     int64_t stamp_ns, char *out, size_t cap, size_t *out_len, bool *release)
{
	int64_t now_ms = stamp_ns / NS_MS;
	struct ns_lease want, cur;
	bool held = false, same = false;
	int rv;

	*release = false;
	rv = ns_leases_parse(req, req_len, &want);
	if (rv != 0)
		return rv;
	if (exists && ns_leases_parse(old, old_len, &cur) == 0 && cur.has_times) {
		same = strcmp(cur.holder, want.holder) == 0;
		held = cur.expires_ms > now_ms;
	}
	if (held && !same)
		return -EBUSY;
	if (want.ttl == 0) {
		if (!exists)
			return -ENOENT;
		*release = true;
		return 0;
	}
	/* A renewal keeps the time it was first acquired. */
	want.acquired_ms = held && same ? cur.acquired_ms : now_ms;
	want.expires_ms = now_ms + (int64_t)want.ttl * 1000;
	return ns_leases_render(&want, out, cap, out_len);
}

int ns_leases_expires(const void *data, size_t len, int64_t *at_ns)
{
	struct ns_lease l;

	if (ns_leases_parse(data, len, &l) != 0 || !l.has_times)
		return -ENOENT;
	/* Nanoseconds since 1970 fit in an int64_t from 1677 to 2262: a time
	 * past 2262 never expires, one before 1678 has long expired. */
	if (l.expires_ms > INT64_MAX / NS_MS)
		*at_ns = INT64_MAX;
	else if (l.expires_ms < INT64_MIN / NS_MS)
		*at_ns = INT64_MIN;
	else
		*at_ns = l.expires_ms * NS_MS;
	return 0;
}
