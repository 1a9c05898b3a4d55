/*
 * Sealed frames and session keys; see sealed.h. Every primitive is
 * libsodium's: keyed BLAKE2b for the keys, XChaCha20-Poly1305 secretstream
 * for the frames. Pure functions over caller-owned state; no I/O.
 */
#include "sealed.h"

#include <string.h>

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void derive_one(const uint8_t cluster_key[32], const char *label, const uint8_t *transcript,
		       size_t len, uint8_t out[SEALED_KEY_SIZE])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, cluster_key, 32, SEALED_KEY_SIZE);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label) + 1);
	crypto_generichash_update(&st, transcript, len);
	crypto_generichash_final(&st, out, SEALED_KEY_SIZE);
}

void sealed_derive(const uint8_t cluster_key[32], const uint8_t *transcript, size_t len,
		   uint8_t c2s[SEALED_KEY_SIZE], uint8_t s2c[SEALED_KEY_SIZE])
{
	derive_one(cluster_key, "cfs c2s", transcript, len, c2s);
	derive_one(cluster_key, "cfs s2c", transcript, len, s2c);
}

void sealed_tx_init(struct sealed_tx *tx, const uint8_t key[SEALED_KEY_SIZE],
		    uint8_t header[SEALED_HEADER_SIZE])
{
	crypto_secretstream_xchacha20poly1305_init_push(&tx->st, header, key);
}

size_t sealed_seal(struct sealed_tx *tx, const uint8_t *plain, size_t len, bool final,
		   uint8_t *out)
{
	unsigned long long clen = 0;
	uint8_t tag = final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
			    : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;

	put_u32(out, (uint32_t)(len + SEALED_ABYTES));
	crypto_secretstream_xchacha20poly1305_push(&tx->st, out + SEALED_PREFIX_SIZE, &clen, plain,
						   len, out, SEALED_PREFIX_SIZE, tag);
	return SEALED_PREFIX_SIZE + (size_t)clen;
}

int sealed_rx_init(struct sealed_rx *rx, const uint8_t key[SEALED_KEY_SIZE],
		   const uint8_t header[SEALED_HEADER_SIZE])
{
	memset(rx, 0, sizeof(*rx));
	if (crypto_secretstream_xchacha20poly1305_init_pull(&rx->st, header, key) != 0) {
		rx->failed = true;
		return SEALED_E_AUTH;
	}
	return 0;
}

long sealed_frame_size(const uint8_t prefix[SEALED_PREFIX_SIZE])
{
	uint32_t n = get_u32(prefix);

	if (n < SEALED_ABYTES || n > SEALED_MAX_CIPHER)
		return SEALED_E_LENGTH;
	return (long)(SEALED_PREFIX_SIZE + n);
}

long sealed_open(struct sealed_rx *rx, const uint8_t *frame, size_t frame_len, uint8_t *out)
{
	unsigned long long mlen = 0;
	uint8_t tag = 0;

	if (rx->failed)
		return SEALED_E_AUTH;
	if (rx->finished) {
		rx->failed = true;
		return SEALED_E_AFTER_FINAL;
	}
	if (frame_len < SEALED_PREFIX_SIZE || sealed_frame_size(frame) != (long)frame_len) {
		rx->failed = true;
		return SEALED_E_LENGTH;
	}
	if (crypto_secretstream_xchacha20poly1305_pull(
		    &rx->st, out, &mlen, &tag, frame + SEALED_PREFIX_SIZE,
		    frame_len - SEALED_PREFIX_SIZE, frame, SEALED_PREFIX_SIZE) != 0) {
		rx->failed = true;
		return SEALED_E_AUTH;
	}
	if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
		rx->finished = true;
	else if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
		/* We never send PUSH or REKEY: a peer that does is not us. */
		rx->failed = true;
		return SEALED_E_AUTH;
	}
	return (long)mlen;
}

const char *sealed_strerror(int error)
{
	switch (error) {
	case SEALED_E_LENGTH:
		return "a frame with an impossible length";
	case SEALED_E_AUTH:
		return "a frame that failed authentication (modified, replayed, reordered or "
		       "cut)";
	case SEALED_E_AFTER_FINAL:
		return "data after the final frame";
	default:
		return "a bad frame";
	}
}
