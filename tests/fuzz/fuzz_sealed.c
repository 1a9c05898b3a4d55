/*
 * Fuzz target: the sealed-frame decoder (replication/sealed.c), what a node
 * reads from the network after the handshake.
 *
 * Input: u8 mode, then bytes. Mode bit 0 clear: the bytes are a stream
 * from an attacker without the session key (a header, then frames) and are
 * parsed as tunnel.c parses them; nothing may be accepted, since no frame
 * can be forged without the key. Mode bit 0 set: the harness seals the
 * bytes itself in frames of (mode >> 1) + 1 bytes, then flips the input's
 * first byte's bit (mode >> 4) at one position chosen by the second byte
 * when mode bit 1 is set; an unmodified stream must open to exactly the
 * input, a modified one must be refused at or before the modified frame.
 * Every frame is copied to a buffer of exactly its size (ASan sees any
 * over-read).
 */
#include <stdlib.h>
#include <string.h>

#include "../../replication/sealed.h"
#include "fuzz.h"

static const uint8_t key[SEALED_KEY_SIZE] = "sealed fuzz key, 32 bytes long!";

/* Parse @p as tunnel.c does; the plaintext accepted goes to @out. Returns
 * the number of plaintext bytes, or -1 once a frame is refused. */
static long parse(const uint8_t *p, size_t len, uint8_t *out)
{
	struct sealed_rx rx;
	long total = 0;

	if (len < SEALED_HEADER_SIZE || sealed_rx_init(&rx, key, p) != 0)
		return 0;
	p += SEALED_HEADER_SIZE;
	len -= SEALED_HEADER_SIZE;
	while (len >= SEALED_PREFIX_SIZE) {
		long size = sealed_frame_size(p), n;
		uint8_t *frame;

		if (size < 0)
			return -1;
		if ((size_t)size > len)
			break;
		frame = malloc((size_t)size);
		FUZZ_CHECK(frame != NULL);
		memcpy(frame, p, (size_t)size);
		n = sealed_open(&rx, frame, (size_t)size, out + total);
		free(frame);
		if (n < 0)
			return -1;
		FUZZ_CHECK((size_t)n == (size_t)size - SEALED_PREFIX_SIZE - SEALED_ABYTES);
		total += n;
		p += size;
		len -= (size_t)size;
	}
	return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	unsigned mode = (unsigned)fuzz_uint(&in, 1);
	uint8_t *out = malloc(in.len + SEALED_MAX_PLAIN), *wire;
	size_t chunk = (mode >> 1) % 64 + 1, w = SEALED_HEADER_SIZE;
	struct sealed_tx tx;
	long n;

	FUZZ_CHECK(out != NULL && sodium_init() >= 0);
	if (!(mode & 1)) {
		FUZZ_CHECK(parse(in.p, in.len, out) <= 0);
		free(out);
		return 0;
	}
	wire = malloc(SEALED_HEADER_SIZE + (in.len / chunk + 1) * (chunk + 21) + 64);
	FUZZ_CHECK(wire != NULL);
	sealed_tx_init(&tx, key, wire);
	for (size_t off = 0; off < in.len; off += chunk) {
		size_t k = in.len - off < chunk ? in.len - off : chunk;

		w += sealed_seal(&tx, in.p + off, k, false, wire + w);
	}
	if ((mode & 2) && w > 0 && in.len > 0) {
		size_t at = (size_t)in.p[0] * 7919 % w;

		wire[at] ^= (uint8_t)(1u << ((mode >> 4) & 7));
		n = parse(wire, w, out);
		/* Refused, or (a flipped length cut the stream) a prefix at most. */
		FUZZ_CHECK(n < 0 || (size_t)n < in.len);
		if (n > 0)
			FUZZ_CHECK(memcmp(out, in.p, (size_t)n) == 0);
	} else {
		n = parse(wire, w, out);
		FUZZ_CHECK(n == (long)in.len && memcmp(out, in.p, in.len) == 0);
	}
	free(wire);
	free(out);
	return 0;
}
