/*
 * The health messages nodes exchange (PEER_HEALTH on the node protocol)
 * and the bookkeeping behind `clusterfsctl members`: pure encoding and
 * decoding here, no I/O, so that unit tests and the fuzzer can drive it.
 *
 * Every second a follower (voter, standby or spare) sends the leader a
 * report of itself: a PEER_HEALTH request whose value is its applied index
 * and whose data is
 *   u64 term, u64 last_index, u64 store_bytes, char version[32] (NUL-padded)
 * The leader answers with its table, one row per member it knows:
 *   u64 id, u64 flags, u64 contact_ms, u64 match_index, u64 applied_index,
 *   u64 term, u64 last_index, u64 store_bytes, u64 report_age_ms,
 *   char version[32]
 * and the response's value is the leader's last index (so lag is
 * last_index - match_index). Integers are little-endian; unknown numbers
 * are HEALTH_UNKNOWN. A report or table of any other length is refused.
 *
 * Whoever calls these owns the buffers; they touch nothing else (any
 * thread).
 */
#ifndef CFS_HEALTH_H
#define CFS_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEALTH_UNKNOWN UINT64_MAX
#define HEALTH_VERSION_SIZE 32
#define HEALTH_REPORT_SIZE (3 * 8 + HEALTH_VERSION_SIZE)
#define HEALTH_ROW_SIZE (9 * 8 + HEALTH_VERSION_SIZE)
/* Members one table can describe (a frame of about 13 KiB). */
#define HEALTH_MAX_MEMBERS 128

/* Row flags. */
#define HEALTH_REACHABLE 1u /* the leader heard from it within the threshold */
#define HEALTH_REPORTED 2u  /* the report fields hold what it last reported */

/* What a node says of itself. */
struct health_report {
	uint64_t applied_index, term, last_index, store_bytes;
	char version[HEALTH_VERSION_SIZE]; /* NUL-terminated */
};

/* What the leader knows of one member. */
struct health_row {
	uint64_t id;
	uint64_t flags;
	uint64_t contact_ms; /* since the leader last heard from it */
	uint64_t match_index;
	uint64_t report_age_ms;
	struct health_report report;
};

/* @out holds HEALTH_REPORT_SIZE bytes; report->applied_index travels as
 * the message's value. */
void health_report_encode(const struct health_report *r, uint8_t *out);
/* 0, or -EINVAL if @len is not HEALTH_REPORT_SIZE. */
int health_report_decode(const void *buf, size_t len, uint64_t applied_index,
			 struct health_report *r);

/* @out holds n * HEALTH_ROW_SIZE bytes. */
void health_rows_encode(const struct health_row *rows, unsigned n, uint8_t *out);
/* Decode a table into @rows (room for @max); the row count, or -EINVAL
 * if @len is not a whole number of rows or they are more than @max. */
int health_rows_decode(const void *buf, size_t len, struct health_row *rows, unsigned max);

#endif
