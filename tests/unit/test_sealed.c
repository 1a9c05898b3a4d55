/*
 * The sealed-frame codec (replication/sealed.c): frames round-trip in order;
 * a modified, truncated, replayed, reordered, dropped or foreign frame is
 * refused, and so is everything after a refusal or after the final frame;
 * lengths out of range are refused before any decryption; session keys
 * differ per direction and per transcript.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../../replication/sealed.h"

struct frame {
	uint8_t b[SEALED_PREFIX_SIZE + 256 + SEALED_ABYTES];
	size_t len;
};

static uint8_t key[SEALED_KEY_SIZE], header[SEALED_HEADER_SIZE];
static struct sealed_tx tx;
static struct frame f[4];

/* Four frames "zero".."three" of a fresh stream, the last one final. */
static void setup(void)
{
	static const char *const words[] = {"zero", "one", "two", ""};

	cr_assert(sodium_init() >= 0);
	randombytes_buf(key, sizeof(key));
	sealed_tx_init(&tx, key, header);
	for (int i = 0; i < 4; i++)
		f[i].len = sealed_seal(&tx, (const uint8_t *)words[i], strlen(words[i]), i == 3,
				       f[i].b);
}

static void rx_new(struct sealed_rx *rx)
{
	cr_assert_eq(sealed_rx_init(rx, key, header), 0);
}

static long open_f(struct sealed_rx *rx, const struct frame *fr, char *out)
{
	long n = sealed_open(rx, fr->b, fr->len, (uint8_t *)out);

	if (n >= 0)
		out[n] = '\0';
	return n;
}

TestSuite(sealed, .init = setup);

Test(sealed, round_trip_in_order)
{
	struct sealed_rx rx;
	char out[256];

	rx_new(&rx);
	cr_assert_eq(sealed_frame_size(f[0].b), (long)f[0].len);
	cr_assert_eq(open_f(&rx, &f[0], out), 4);
	cr_assert_str_eq(out, "zero");
	cr_assert_eq(open_f(&rx, &f[1], out), 3);
	cr_assert_str_eq(out, "one");
	cr_assert_eq(open_f(&rx, &f[2], out), 3);
	cr_assert_str_eq(out, "two");
	cr_assert_not(rx.finished);
	cr_assert_eq(open_f(&rx, &f[3], out), 0);
	cr_assert(rx.finished);
}

Test(sealed, no_plaintext_on_the_wire)
{
	struct sealed_tx t2;
	uint8_t h2[SEALED_HEADER_SIZE], out[SEALED_PREFIX_SIZE + 64 + SEALED_ABYTES];
	const char *marker = "peers/site-x secret=s3cr3t-marker";
	size_t n;

	sealed_tx_init(&t2, key, h2);
	n = sealed_seal(&t2, (const uint8_t *)marker, strlen(marker), false, out);
	cr_assert_eq(n, SEALED_PREFIX_SIZE + strlen(marker) + SEALED_ABYTES);
	cr_assert_null(memmem(out, n, "s3cr3t", 6));
	cr_assert_null(memmem(out, n, "site-x", 6));
}

Test(sealed, every_modified_byte_is_refused)
{
	char out[256];

	for (size_t i = 0; i < f[1].len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			struct sealed_rx rx;
			struct frame bad = f[1];
			long n;

			rx_new(&rx);
			cr_assert_eq(open_f(&rx, &f[0], out), 4);
			bad.b[i] ^= (uint8_t)(1u << bit);
			n = open_f(&rx, &bad, out);
			cr_assert(n == SEALED_E_AUTH || n == SEALED_E_LENGTH,
				  "byte %zu bit %d: got %ld", i, bit, n);
			/* and the stream is dead: the genuine frame too */
			cr_assert_lt(open_f(&rx, &f[1], out), 0);
		}
	}
}

Test(sealed, truncated_frames_are_refused)
{
	struct sealed_rx rx;
	struct frame cut = f[0];
	char out[256];

	/* shorter than its prefix says */
	rx_new(&rx);
	cr_assert_eq(sealed_open(&rx, f[0].b, f[0].len - 1, (uint8_t *)out), SEALED_E_LENGTH);
	/* shortened with a prefix to match: the tag no longer verifies */
	rx_new(&rx);
	cut.len--;
	cut.b[0]--;
	cr_assert_eq(open_f(&rx, &cut, out), SEALED_E_AUTH);
	/* just the prefix */
	rx_new(&rx);
	cr_assert_eq(sealed_open(&rx, f[0].b, SEALED_PREFIX_SIZE, (uint8_t *)out), SEALED_E_LENGTH);
}

Test(sealed, replayed_frame_is_refused)
{
	struct sealed_rx rx;
	char out[256];

	rx_new(&rx);
	cr_assert_eq(open_f(&rx, &f[0], out), 4);
	cr_assert_eq(open_f(&rx, &f[0], out), SEALED_E_AUTH);
}

Test(sealed, reordered_or_dropped_frames_are_refused)
{
	struct sealed_rx rx;
	char out[256];

	rx_new(&rx);
	cr_assert_eq(open_f(&rx, &f[1], out), SEALED_E_AUTH); /* 1 before 0 */
	rx_new(&rx);
	cr_assert_eq(open_f(&rx, &f[0], out), 4);
	cr_assert_eq(open_f(&rx, &f[2], out), SEALED_E_AUTH); /* 1 dropped */
	/* the final frame cannot be moved up to end a stream early */
	rx_new(&rx);
	cr_assert_eq(open_f(&rx, &f[0], out), 4);
	cr_assert_eq(open_f(&rx, &f[3], out), SEALED_E_AUTH);
	cr_assert_not(rx.finished);
}

Test(sealed, nothing_after_the_final_frame)
{
	struct sealed_rx rx;
	char out[256];

	rx_new(&rx);
	for (int i = 0; i < 4; i++)
		cr_assert_geq(open_f(&rx, &f[i], out), 0);
	cr_assert_eq(open_f(&rx, &f[3], out), SEALED_E_AFTER_FINAL);
	cr_assert_eq(open_f(&rx, &f[0], out), SEALED_E_AUTH);
}

Test(sealed, foreign_keys_and_headers_are_refused)
{
	uint8_t other[SEALED_KEY_SIZE], h2[SEALED_HEADER_SIZE];
	struct sealed_tx t2;
	struct sealed_rx rx;
	char out[256];

	memcpy(other, key, sizeof(other));
	other[0] ^= 1;
	cr_assert_eq(sealed_rx_init(&rx, other, header), 0);
	cr_assert_eq(open_f(&rx, &f[0], out), SEALED_E_AUTH);
	/* the same key, another stream's header (another connection) */
	sealed_tx_init(&t2, key, h2);
	cr_assert_eq(sealed_rx_init(&rx, key, h2), 0);
	cr_assert_eq(open_f(&rx, &f[0], out), SEALED_E_AUTH);
}

Test(sealed, lengths_out_of_range)
{
	uint8_t p[SEALED_PREFIX_SIZE] = {0};

	p[0] = SEALED_ABYTES - 1;
	cr_assert_eq(sealed_frame_size(p), SEALED_E_LENGTH);
	p[0] = SEALED_ABYTES;
	cr_assert_eq(sealed_frame_size(p), (long)(SEALED_PREFIX_SIZE + SEALED_ABYTES));
	memset(p, 0xff, sizeof(p));
	cr_assert_eq(sealed_frame_size(p), SEALED_E_LENGTH);
	p[0] = (uint8_t)(SEALED_MAX_CIPHER + 1);
	p[1] = (uint8_t)((SEALED_MAX_CIPHER + 1) >> 8);
	p[2] = (uint8_t)((SEALED_MAX_CIPHER + 1) >> 16);
	p[3] = 0;
	cr_assert_eq(sealed_frame_size(p), SEALED_E_LENGTH);
}

Test(sealed, largest_frame_round_trips)
{
	uint8_t *plain = malloc(SEALED_MAX_PLAIN), *frame = malloc(SEALED_MAX_FRAME),
		*back = malloc(SEALED_MAX_PLAIN);
	struct sealed_tx t2;
	struct sealed_rx rx;
	uint8_t h2[SEALED_HEADER_SIZE];
	size_t n;

	randombytes_buf(plain, SEALED_MAX_PLAIN);
	sealed_tx_init(&t2, key, h2);
	n = sealed_seal(&t2, plain, SEALED_MAX_PLAIN, false, frame);
	cr_assert_eq(n, SEALED_MAX_FRAME);
	cr_assert_eq(sealed_frame_size(frame), (long)n);
	cr_assert_eq(sealed_rx_init(&rx, key, h2), 0);
	cr_assert_eq(sealed_open(&rx, frame, n, back), (long)SEALED_MAX_PLAIN);
	cr_assert_eq(memcmp(plain, back, SEALED_MAX_PLAIN), 0);
	free(plain);
	free(frame);
	free(back);
}

Test(sealed, session_keys_per_direction_and_transcript)
{
	uint8_t t1[80], c1[SEALED_KEY_SIZE], s1[SEALED_KEY_SIZE], c2[SEALED_KEY_SIZE],
		s2[SEALED_KEY_SIZE], other[32];

	randombytes_buf(t1, sizeof(t1));
	sealed_derive(key, t1, sizeof(t1), c1, s1);
	cr_assert_neq(memcmp(c1, s1, sizeof(c1)), 0);
	sealed_derive(key, t1, sizeof(t1), c2, s2); /* deterministic: both sides agree */
	cr_assert_eq(memcmp(c1, c2, sizeof(c1)), 0);
	cr_assert_eq(memcmp(s1, s2, sizeof(s1)), 0);
	t1[79] ^= 1; /* another nonce: another connection */
	sealed_derive(key, t1, sizeof(t1), c2, s2);
	cr_assert_neq(memcmp(c1, c2, sizeof(c1)), 0);
	cr_assert_neq(memcmp(s1, s2, sizeof(s1)), 0);
	t1[79] ^= 1;
	memcpy(other, key, sizeof(other));
	other[31] ^= 1; /* another cluster key */
	sealed_derive(other, t1, sizeof(t1), c2, s2);
	cr_assert_neq(memcmp(c1, c2, sizeof(c1)), 0);
}
