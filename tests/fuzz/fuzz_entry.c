/*
 * Fuzz target: the log entry decoder (replication/entry.c).
 *
 * Entries come from the raft log on disk and from other nodes (forwarded
 * proposals, appended batches), so entry_decode() must reject anything
 * truncated, oversized or malformed without reading past the buffer. The
 * input is copied into a buffer of exactly its size so that ASan sees any
 * over-read. An accepted entry must also be canonical: encoding what was
 * decoded gives back the very same bytes, and every name it points to is
 * one the encoder would accept.
 */
#include <raft.h>
#include <stdlib.h>
#include <string.h>

#include "../../replication/entry.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size > 0 ? size : 1);
	struct entry e;
	struct entry_buf out;

	FUZZ_CHECK(copy != NULL);
	if (size > 0)
		memcpy(copy, data, size);
	if (entry_decode(copy, size, &e) == 0) {
		FUZZ_CHECK(e.op > 0 && e.op < ENTRY_OP_MAX);
		FUZZ_CHECK(strcmp(entry_op_name(e.op), "unknown") != 0);
		FUZZ_CHECK(e.data_len <= ENTRY_MAX_DATA);
		/* Whatever the entry points to lies inside the input. */
		if (e.name != NULL)
			FUZZ_CHECK((const uint8_t *)e.name >= copy &&
				   (const uint8_t *)e.name + e.name_len <= copy + size);
		if (e.newname != NULL)
			FUZZ_CHECK((const uint8_t *)e.newname >= copy &&
				   (const uint8_t *)e.newname + e.newname_len <= copy + size);
		if (e.data != NULL)
			FUZZ_CHECK((const uint8_t *)e.data >= copy &&
				   (const uint8_t *)e.data + e.data_len <= copy + size);
		FUZZ_CHECK(entry_encode(&e, &out) == 0);
		FUZZ_CHECK(out.len == size);
		FUZZ_CHECK(memcmp(out.base, copy, size) == 0);
		entry_set_stamp(&out, e.stamp_ns);
		FUZZ_CHECK(memcmp(out.base, copy, size) == 0);
		raft_free(out.base);
	}
	free(copy);
	return 0;
}
