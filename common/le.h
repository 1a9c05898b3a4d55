/*
 * Little-endian integers in byte buffers, for the wire formats (peer.c,
 * raft_wire.c). Any thread.
 */
#ifndef CFS_LE_H
#define CFS_LE_H

#include <stdint.h>

/* Store the low @n bytes of @v at @p, least significant first. */
static inline void le_put(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t le_get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#endif
