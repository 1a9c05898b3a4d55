/*
 * Sealed frames: the authenticated encryption of a node-to-node byte stream
 * after the transport's handshake (transport.h), and the session keys it
 * uses. Pure code (no I/O); tunnel.c moves the bytes.
 *
 * Keys. Each connection has two session keys, one per direction, derived
 * from the cluster key the handshake proved and the handshake's transcript
 * (both fresh nonces, the claimed id and address, both MACs) with keyed
 * BLAKE2b (libsodium crypto_generichash) under the labels "cfs c2s" and
 * "cfs s2c". Different connections and directions never share a key.
 *
 * Stream, per direction (libsodium crypto_secretstream_xchacha20poly1305):
 *
 *   header[SEALED_HEADER_SIZE]                    once, first
 *   u32 n (little-endian), ciphertext[n]          each frame
 *
 * n counts the ciphertext, i.e. plaintext + SEALED_ABYTES; the 4 length
 * bytes are the frame's additional data, so they are authenticated too.
 * secretstream numbers the frames internally: a modified, replayed,
 * reordered, dropped or foreign frame fails authentication. The last frame
 * of an orderly close carries TAG_FINAL and no data; nothing may follow it,
 * so a stream cut short is told from one that ended.
 *
 * Any thread (no shared state); the loop thread in practice.
 */
#ifndef CFS_SEALED_H
#define CFS_SEALED_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEALED_KEY_SIZE crypto_secretstream_xchacha20poly1305_KEYBYTES
#define SEALED_HEADER_SIZE crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define SEALED_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define SEALED_PREFIX_SIZE 4
/* Plaintext per frame: large enough to amortize the 21 bytes and one AEAD
 * call, small enough for a fixed buffer. */
#define SEALED_MAX_PLAIN 65536u
#define SEALED_MAX_CIPHER (SEALED_MAX_PLAIN + SEALED_ABYTES)
#define SEALED_MAX_FRAME (SEALED_PREFIX_SIZE + SEALED_MAX_CIPHER)

/* Why a frame was refused (sealed_open's negative results). */
enum sealed_error {
	SEALED_E_LENGTH = -1, /* declared length out of range */
	SEALED_E_AUTH = -2,   /* failed authentication: modified, replayed,
			       * reordered, truncated or not ours */
	SEALED_E_AFTER_FINAL = -3, /* data after the final frame */
};

struct sealed_tx {
	crypto_secretstream_xchacha20poly1305_state st;
};

struct sealed_rx {
	crypto_secretstream_xchacha20poly1305_state st;
	bool finished; /* the final frame was opened */
	bool failed;   /* a frame was refused: refuse everything after */
};

/* Session keys from the cluster key and the handshake transcript. */
void sealed_derive(const uint8_t cluster_key[32], const uint8_t *transcript, size_t len,
		   uint8_t c2s[SEALED_KEY_SIZE], uint8_t s2c[SEALED_KEY_SIZE]);

/* Start the sending side; @header goes on the wire first. */
void sealed_tx_init(struct sealed_tx *tx, const uint8_t key[SEALED_KEY_SIZE],
		    uint8_t header[SEALED_HEADER_SIZE]);
/* Seal @len (≤ SEALED_MAX_PLAIN) bytes into @out, which must hold
 * SEALED_PREFIX_SIZE + len + SEALED_ABYTES bytes; returns that size.
 * @final: the last frame of the stream. */
size_t sealed_seal(struct sealed_tx *tx, const uint8_t *plain, size_t len, bool final,
		   uint8_t *out);

/* Start the receiving side from the peer's header. 0 or SEALED_E_AUTH. */
int sealed_rx_init(struct sealed_rx *rx, const uint8_t key[SEALED_KEY_SIZE],
		   const uint8_t header[SEALED_HEADER_SIZE]);
/* The whole frame's size from its first SEALED_PREFIX_SIZE bytes, or
 * SEALED_E_LENGTH. */
long sealed_frame_size(const uint8_t prefix[SEALED_PREFIX_SIZE]);
/* Open one whole frame (@frame_len from sealed_frame_size) into @out (room
 * for frame_len - SEALED_PREFIX_SIZE - SEALED_ABYTES bytes): the
 * plaintext's length, or a negative enum sealed_error. After an error the
 * receiver refuses everything. */
long sealed_open(struct sealed_rx *rx, const uint8_t *frame, size_t frame_len, uint8_t *out);

/* One line for a sealed_error. */
const char *sealed_strerror(int error);

#endif
