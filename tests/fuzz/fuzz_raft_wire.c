/*
 * Fuzz target: raft's messages on the wire (replication/raft_wire.c), what
 * raft_link.c decodes from every PEER_RAFT frame another node sends.
 *
 * raft_wire_decode() on the whole input: it must refuse anything malformed
 * without reading past the input or leaking, and what it accepts must
 * encode back to the very same bytes (the encoding has one form per
 * message), with an AppendEntries' entries all in one batch that holds
 * their payloads, and an InstallSnapshot's configuration and data whole.
 *
 * Single-threaded; nothing kept between inputs.
 */
#include <stdlib.h>
#include <string.h>

#include "../../replication/raft_wire.h"
#include "fuzz.h"

static void check_owned(const struct raft_message *m)
{
	if (m->type == RAFT_IO_APPEND_ENTRIES) {
		const struct raft_append_entries *ae = &m->append_entries;
		const uint8_t *batch = ae->n_entries > 0 ? ae->entries[0].batch : NULL;
		size_t off = 0;

		for (unsigned i = 0; i < ae->n_entries; i++) {
			FUZZ_CHECK(ae->entries[i].batch == batch);
			FUZZ_CHECK((const uint8_t *)ae->entries[i].buf.base == batch + off);
			off += ae->entries[i].buf.len;
		}
	} else if (m->type == RAFT_IO_INSTALL_SNAPSHOT) {
		for (unsigned i = 0; i < m->install_snapshot.conf.n; i++) {
			size_t alen = strlen(m->install_snapshot.conf.servers[i].address);

			FUZZ_CHECK(alen > 0 && alen <= RAFT_WIRE_ADDRESS_MAX);
			FUZZ_CHECK(m->install_snapshot.conf.servers[i].id != 0);
		}
		FUZZ_CHECK(m->install_snapshot.data.base != NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size > 0 ? size : 1), *again;
	struct raft_message m;
	size_t len;

	FUZZ_CHECK(copy != NULL);
	if (size > 0)
		memcpy(copy, data, size);
	if (raft_wire_decode(copy, size, &m) == 0) {
		FUZZ_CHECK(m.server_id == 0 && m.server_address == NULL);
		check_owned(&m);
		len = raft_wire_size(&m);
		FUZZ_CHECK(len == size);
		again = malloc(len);
		FUZZ_CHECK(again != NULL);
		FUZZ_CHECK(raft_wire_encode(&m, again) == len);
		FUZZ_CHECK(memcmp(again, copy, size) == 0);
		free(again);
		raft_wire_release(&m);
	}
	free(copy);
	return 0;
}
