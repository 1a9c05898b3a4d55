/*
 * The PEER_HEALTH codec (replication/health.c): a follower's report and the
 * leader's member table survive a round trip; anything of the wrong size is
 * refused; version fields always come back NUL-terminated.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../replication/health.h"

static struct health_row row(uint64_t id, uint64_t flags, const char *version)
{
	struct health_row w = {
	    .id = id,
	    .flags = flags,
	    .contact_ms = id * 10,
	    .match_index = 100 + id,
	    .report_age_ms = HEALTH_UNKNOWN,
	    .report = {.applied_index = 90 + id, .term = 7, .last_index = 101 + id,
		       .store_bytes = 4096 * id},
	};

	strncpy(w.report.version, version, sizeof(w.report.version) - 1);
	return w;
}

Test(health, report_round_trip)
{
	struct health_report r = {.applied_index = 42, .term = 3, .last_index = 44,
				  .store_bytes = HEALTH_UNKNOWN};
	struct health_report back;
	uint8_t buf[HEALTH_REPORT_SIZE];

	strcpy(r.version, "0.9.1");
	health_report_encode(&r, buf);
	cr_assert_eq(health_report_decode(buf, sizeof(buf), 42, &back), 0);
	cr_assert_eq(back.applied_index, 42);
	cr_assert_eq(back.term, 3);
	cr_assert_eq(back.last_index, 44);
	cr_assert_eq(back.store_bytes, HEALTH_UNKNOWN);
	cr_assert_str_eq(back.version, "0.9.1");
}

Test(health, report_of_wrong_size_refused)
{
	uint8_t buf[HEALTH_REPORT_SIZE + 1] = {0};
	struct health_report r;

	cr_assert_eq(health_report_decode(buf, HEALTH_REPORT_SIZE - 1, 1, &r), -EINVAL);
	cr_assert_eq(health_report_decode(buf, HEALTH_REPORT_SIZE + 1, 1, &r), -EINVAL);
	cr_assert_eq(health_report_decode(buf, 0, 1, &r), -EINVAL);
}

Test(health, rows_round_trip)
{
	struct health_row in[3] = {row(1, HEALTH_REACHABLE | HEALTH_REPORTED, "1.0"),
				   row(2, 0, ""), row(77, HEALTH_REPORTED, "1.1-rc1")};
	struct health_row out[3];
	uint8_t buf[3 * HEALTH_ROW_SIZE];

	health_rows_encode(in, 3, buf);
	cr_assert_eq(health_rows_decode(buf, sizeof(buf), out, 3), 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(out[i].id, in[i].id);
		cr_assert_eq(out[i].flags, in[i].flags);
		cr_assert_eq(out[i].contact_ms, in[i].contact_ms);
		cr_assert_eq(out[i].match_index, in[i].match_index);
		cr_assert_eq(out[i].report_age_ms, HEALTH_UNKNOWN);
		cr_assert_eq(out[i].report.applied_index, in[i].report.applied_index);
		cr_assert_eq(out[i].report.term, 7);
		cr_assert_eq(out[i].report.last_index, in[i].report.last_index);
		cr_assert_eq(out[i].report.store_bytes, in[i].report.store_bytes);
		cr_assert_str_eq(out[i].report.version, in[i].report.version);
	}
}

Test(health, empty_table)
{
	struct health_row out[1];

	cr_assert_eq(health_rows_decode("", 0, out, 1), 0);
}

Test(health, partial_rows_or_too_many_refused)
{
	struct health_row in[2] = {row(1, 0, "x"), row(2, 0, "y")};
	struct health_row out[2];
	uint8_t buf[2 * HEALTH_ROW_SIZE];

	health_rows_encode(in, 2, buf);
	cr_assert_eq(health_rows_decode(buf, sizeof(buf) - 1, out, 2), -EINVAL);
	cr_assert_eq(health_rows_decode(buf, HEALTH_ROW_SIZE + 8, out, 2), -EINVAL);
	cr_assert_eq(health_rows_decode(buf, sizeof(buf), out, 1), -EINVAL, "more rows than room");
}

Test(health, versions_are_cut_and_terminated)
{
	struct health_row in = row(5, 0, ""), out;
	uint8_t buf[HEALTH_ROW_SIZE];

	/* A version that fills its field: cut to 31 bytes on the way out. */
	memset(in.report.version, 'v', sizeof(in.report.version) - 1);
	in.report.version[sizeof(in.report.version) - 1] = '\0';
	health_rows_encode(&in, 1, buf);
	cr_assert_eq(health_rows_decode(buf, sizeof(buf), &out, 1), 1);
	cr_assert_eq(strlen(out.report.version), HEALTH_VERSION_SIZE - 1);
	/* A peer that sends a field without NUL: still a C string here. */
	memset(buf + HEALTH_ROW_SIZE - HEALTH_VERSION_SIZE, 'w', HEALTH_VERSION_SIZE);
	cr_assert_eq(health_rows_decode(buf, sizeof(buf), &out, 1), 1);
	cr_assert_eq(strlen(out.report.version), HEALTH_VERSION_SIZE - 1);
	cr_assert_eq(out.report.version[0], 'w');
}

/* A peer's version lands in the space-separated .cluster/members and in
 * JSON: a space, a newline or invalid UTF-8 must not get there. */
Test(health, versions_keep_visible_ascii_only)
{
	struct health_row in = row(6, 0, ""), out;
	uint8_t buf[HEALTH_ROW_SIZE];

	strcpy(in.report.version, "1.0 x\nid=9\t\xff\xfe");
	health_rows_encode(&in, 1, buf);
	cr_assert_eq(health_rows_decode(buf, sizeof(buf), &out, 1), 1);
	cr_assert_str_eq(out.report.version, "1.0?x?id=9???");
}
