/*
 * The PEER_HEALTH codec: a follower's report of itself and the leader's
 * table of members (formats in health.h). Pure functions, any thread.
 */
#include "health.h"

#include <errno.h>
#include <string.h>

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* The version as a NUL-padded field, and back as a C string (a field
 * without NUL is cut at its last byte). A peer's version ends up in
 * .cluster/members (space-separated) and in JSON: anything but visible
 * ASCII becomes '?'. */
static void put_version(uint8_t *p, const char *v)
{
	size_t len = strnlen(v, HEALTH_VERSION_SIZE - 1);

	memset(p, 0, HEALTH_VERSION_SIZE);
	memcpy(p, v, len);
}

static void get_version(const uint8_t *p, char *v)
{
	size_t i;

	for (i = 0; i < HEALTH_VERSION_SIZE - 1 && p[i] != '\0'; i++)
		v[i] = p[i] > ' ' && p[i] < 0x7f ? (char)p[i] : '?';
	v[i] = '\0';
}

void health_report_encode(const struct health_report *r, uint8_t *out)
{
	put_u64(out, r->term);
	put_u64(out + 8, r->last_index);
	put_u64(out + 16, r->store_bytes);
	put_version(out + 24, r->version);
}

int health_report_decode(const void *buf, size_t len, uint64_t applied_index,
			 struct health_report *r)
{
	const uint8_t *p = buf;

	if (len != HEALTH_REPORT_SIZE)
		return -EINVAL;
	r->applied_index = applied_index;
	r->term = get_u64(p);
	r->last_index = get_u64(p + 8);
	r->store_bytes = get_u64(p + 16);
	get_version(p + 24, r->version);
	return 0;
}

void health_rows_encode(const struct health_row *rows, unsigned n, uint8_t *out)
{
	for (unsigned i = 0; i < n; i++, out += HEALTH_ROW_SIZE) {
		const struct health_row *w = &rows[i];

		put_u64(out, w->id);
		put_u64(out + 8, w->flags);
		put_u64(out + 16, w->contact_ms);
		put_u64(out + 24, w->match_index);
		put_u64(out + 32, w->report.applied_index);
		put_u64(out + 40, w->report.term);
		put_u64(out + 48, w->report.last_index);
		put_u64(out + 56, w->report.store_bytes);
		put_u64(out + 64, w->report_age_ms);
		put_version(out + 72, w->report.version);
	}
}

int health_rows_decode(const void *buf, size_t len, struct health_row *rows, unsigned max)
{
	const uint8_t *p = buf;
	size_t n = len / HEALTH_ROW_SIZE;

	if (len % HEALTH_ROW_SIZE != 0 || n > max)
		return -EINVAL;
	for (size_t i = 0; i < n; i++, p += HEALTH_ROW_SIZE) {
		struct health_row *w = &rows[i];

		w->id = get_u64(p);
		w->flags = get_u64(p + 8);
		w->contact_ms = get_u64(p + 16);
		w->match_index = get_u64(p + 24);
		w->report.applied_index = get_u64(p + 32);
		w->report.term = get_u64(p + 40);
		w->report.last_index = get_u64(p + 48);
		w->report.store_bytes = get_u64(p + 56);
		w->report_age_ms = get_u64(p + 64);
		get_version(p + 72, w->report.version);
	}
	return (int)n;
}
