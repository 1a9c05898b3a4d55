/*
 * What every fuzz harness shares: the libFuzzer entry point it defines, and
 * FUZZ_CHECK, an assertion that holds in every build (NDEBUG or not) and
 * aborts with the failed condition, so libFuzzer, ASan and the replay
 * driver all see a crash.
 *
 * Each harness (fuzz_<target>.c) is linked either with libFuzzer
 * (meson -Dfuzz=true, clang) or with replay_main.c, which runs the files of
 * its corpus and regressions through it as a unit test.
 */
#ifndef CFS_FUZZ_H
#define CFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                   \
			abort();                                                          \
		}                                                                         \
	} while (0)

/* Take the next @n bytes of the input (NULL when fewer are left). */
struct fuzz_in {
	const uint8_t *p;
	size_t len;
};

static inline const uint8_t *fuzz_take(struct fuzz_in *in, size_t n)
{
	const uint8_t *p = in->p;

	if (n > in->len)
		return NULL;
	in->p += n;
	in->len -= n;
	return p;
}

/* A little-endian integer of @n bytes (0 past the end). */
static inline uint64_t fuzz_uint(struct fuzz_in *in, int n)
{
	const uint8_t *b = fuzz_take(in, (size_t)n);
	uint64_t v = 0;

	for (int i = 0; b != NULL && i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

#endif
