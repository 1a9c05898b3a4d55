/*
 * Raft's messages on the wire; see raft_wire.h. Pure code.
 */
#include "raft_wire.h"

#include <errno.h>
#include <string.h>

#include "../common/le.h"

#define ENTRY_HEADER 16	 /* u64 term, u16 type, u16 0, u32 len */
#define SERVER_HEADER 12 /* u64 id, u8 role, u8 0, u16 len */
#define FLAG_DISRUPT 1u
#define FLAG_PRE_VOTE 2u

/* --- encoding -------------------------------------------------------------- */

struct out {
	uint8_t *p;
	size_t off;
};

static void put64(struct out *o, uint64_t v)
{
	le_put(o->p + o->off, v, 8);
	o->off += 8;
}

static void put_bytes(struct out *o, const void *data, size_t len)
{
	if (len > 0)
		memcpy(o->p + o->off, data, len);
	o->off += len;
}

size_t raft_wire_head_size(const struct raft_message *m)
{
	size_t size = RAFT_WIRE_HEADER_SIZE;
	unsigned i;

	switch (m->type) {
	case RAFT_IO_REQUEST_VOTE:
		return size + 5 * 8;
	case RAFT_IO_REQUEST_VOTE_RESULT:
	case RAFT_IO_APPEND_ENTRIES_RESULT:
	case RAFT_IO_TIMEOUT_NOW:
		return size + 3 * 8;
	case RAFT_IO_APPEND_ENTRIES:
		return size + 5 * 8 + (size_t)m->append_entries.n_entries * ENTRY_HEADER;
	case RAFT_IO_INSTALL_SNAPSHOT:
		size += 5 * 8;
		for (i = 0; i < m->install_snapshot.conf.n; i++)
			size += SERVER_HEADER + strlen(m->install_snapshot.conf.servers[i].address);
		return size + 8;
	default:
		return 0;
	}
}

unsigned raft_wire_payloads(const struct raft_message *m, struct iovec *iov, unsigned max)
{
	unsigned i, n = 0;

	if (m->type == RAFT_IO_APPEND_ENTRIES) {
		for (i = 0; i < m->append_entries.n_entries; i++) {
			const struct raft_buffer *b = &m->append_entries.entries[i].buf;

			if (b->len == 0)
				continue;
			if (n < max)
				iov[n] = (struct iovec){.iov_base = b->base, .iov_len = b->len};
			n++;
		}
	} else if (m->type == RAFT_IO_INSTALL_SNAPSHOT && m->install_snapshot.data.len > 0) {
		if (max > 0)
			iov[0] = (struct iovec){.iov_base = m->install_snapshot.data.base,
						.iov_len = m->install_snapshot.data.len};
		n = 1;
	}
	return n;
}

size_t raft_wire_size(const struct raft_message *m)
{
	size_t size = raft_wire_head_size(m);
	unsigned i;

	if (size == 0)
		return 0;
	if (m->type == RAFT_IO_APPEND_ENTRIES)
		for (i = 0; i < m->append_entries.n_entries; i++)
			size += m->append_entries.entries[i].buf.len;
	else if (m->type == RAFT_IO_INSTALL_SNAPSHOT)
		size += m->install_snapshot.data.len;
	return size;
}

static void encode_entries(struct out *o, const struct raft_append_entries *ae)
{
	unsigned i;

	put64(o, ae->term);
	put64(o, ae->prev_log_index);
	put64(o, ae->prev_log_term);
	put64(o, ae->leader_commit);
	put64(o, ae->n_entries);
	for (i = 0; i < ae->n_entries; i++) {
		le_put(o->p + o->off, ae->entries[i].term, 8);
		le_put(o->p + o->off + 8, ae->entries[i].type, 2);
		le_put(o->p + o->off + 10, 0, 2);
		le_put(o->p + o->off + 12, ae->entries[i].buf.len, 4);
		o->off += ENTRY_HEADER;
	}
}

static void encode_snapshot(struct out *o, const struct raft_install_snapshot *is)
{
	unsigned i;

	put64(o, is->term);
	put64(o, is->last_index);
	put64(o, is->last_term);
	put64(o, is->conf_index);
	put64(o, is->conf.n);
	for (i = 0; i < is->conf.n; i++) {
		const struct raft_server *s = &is->conf.servers[i];
		size_t alen = strlen(s->address);

		le_put(o->p + o->off, s->id, 8);
		o->p[o->off + 8] = (uint8_t)s->role;
		o->p[o->off + 9] = 0;
		le_put(o->p + o->off + 10, alen, 2);
		o->off += SERVER_HEADER;
		put_bytes(o, s->address, alen);
	}
	put64(o, is->data.len);
}

size_t raft_wire_encode_head(const struct raft_message *m, uint8_t *buf)
{
	struct out o = {.p = buf, .off = RAFT_WIRE_HEADER_SIZE};

	memset(buf, 0, RAFT_WIRE_HEADER_SIZE);
	buf[0] = RAFT_WIRE_VERSION;
	buf[1] = (uint8_t)m->type;
	switch (m->type) {
	case RAFT_IO_REQUEST_VOTE: {
		const struct raft_request_vote *rv = &m->request_vote;

		put64(&o, rv->term);
		put64(&o, rv->candidate_id);
		put64(&o, rv->last_log_index);
		put64(&o, rv->last_log_term);
		put64(&o, (rv->disrupt_leader ? FLAG_DISRUPT : 0) | (rv->pre_vote ? FLAG_PRE_VOTE : 0));
		break;
	}
	case RAFT_IO_REQUEST_VOTE_RESULT:
		put64(&o, m->request_vote_result.term);
		put64(&o, m->request_vote_result.vote_granted ? 1 : 0);
		put64(&o, (uint64_t)m->request_vote_result.pre_vote);
		break;
	case RAFT_IO_APPEND_ENTRIES:
		encode_entries(&o, &m->append_entries);
		break;
	case RAFT_IO_APPEND_ENTRIES_RESULT:
		put64(&o, m->append_entries_result.term);
		put64(&o, m->append_entries_result.rejected);
		put64(&o, m->append_entries_result.last_log_index);
		break;
	case RAFT_IO_INSTALL_SNAPSHOT:
		encode_snapshot(&o, &m->install_snapshot);
		break;
	case RAFT_IO_TIMEOUT_NOW:
		put64(&o, m->timeout_now.term);
		put64(&o, m->timeout_now.last_log_index);
		put64(&o, m->timeout_now.last_log_term);
		break;
	default:
		return 0;
	}
	return o.off;
}

size_t raft_wire_encode(const struct raft_message *m, uint8_t *buf)
{
	struct out o = {.p = buf, .off = raft_wire_encode_head(m, buf)};
	unsigned i;

	if (o.off == 0)
		return 0;
	if (m->type == RAFT_IO_APPEND_ENTRIES)
		for (i = 0; i < m->append_entries.n_entries; i++)
			put_bytes(&o, m->append_entries.entries[i].buf.base,
				  m->append_entries.entries[i].buf.len);
	else if (m->type == RAFT_IO_INSTALL_SNAPSHOT)
		put_bytes(&o, m->install_snapshot.data.base, m->install_snapshot.data.len);
	return o.off;
}

/* --- decoding -------------------------------------------------------------- */

struct in {
	const uint8_t *p;
	size_t len, off;
};

static int get64(struct in *in, uint64_t *v)
{
	if (in->len - in->off < 8)
		return -EINVAL;
	*v = le_get(in->p + in->off, 8);
	in->off += 8;
	return 0;
}

/* @n fields of 8 bytes into @v, all or nothing. */
static int get64s(struct in *in, uint64_t *v, int n)
{
	for (int i = 0; i < n; i++)
		if (get64(in, &v[i]) != 0)
			return -EINVAL;
	return 0;
}

static int decode_entries(struct in *in, struct raft_append_entries *ae)
{
	uint64_t f[5], total = 0, i;
	const uint8_t *headers;
	struct raft_entry *entries;
	uint8_t *batch;

	if (get64s(in, f, 5) != 0)
		return -EINVAL;
	ae->term = f[0];
	ae->prev_log_index = f[1];
	ae->prev_log_term = f[2];
	ae->leader_commit = f[3];
	ae->entries = NULL;
	ae->n_entries = 0;
	/* Every entry has a header: the count cannot exceed what is left. */
	if (f[4] > (in->len - in->off) / ENTRY_HEADER || f[4] > UINT32_MAX)
		return -EINVAL;
	headers = in->p + in->off;
	in->off += (size_t)f[4] * ENTRY_HEADER;
	for (i = 0; i < f[4]; i++) {
		uint64_t type = le_get(headers + i * ENTRY_HEADER + 8, 2);

		uint64_t len = le_get(headers + i * ENTRY_HEADER + 12, 4);

		/* raft_uv asserts that what it writes to its log is 8-byte
		 * aligned: every entry raft or the FSM makes is. */
		if (type < RAFT_COMMAND || type > RAFT_CHANGE ||
		    le_get(headers + i * ENTRY_HEADER + 10, 2) != 0 || len % 8 != 0)
			return -EINVAL;
		total += len;
	}
	if (total != in->len - in->off)
		return -EINVAL;
	if (f[4] == 0)
		return 0;
	entries = raft_calloc((size_t)f[4], sizeof(*entries));
	/* raft frees the batch once no entry refers to it: never NULL. */
	batch = raft_malloc(total > 0 ? (size_t)total : 1);
	if (entries == NULL || batch == NULL) {
		raft_free(entries);
		raft_free(batch);
		return -ENOMEM;
	}
	memcpy(batch, in->p + in->off, (size_t)total);
	in->off += (size_t)total;
	total = 0;
	for (i = 0; i < f[4]; i++) {
		entries[i].term = le_get(headers + i * ENTRY_HEADER, 8);
		entries[i].type = (unsigned short)le_get(headers + i * ENTRY_HEADER + 8, 2);
		entries[i].buf.len = (size_t)le_get(headers + i * ENTRY_HEADER + 12, 4);
		entries[i].buf.base = batch + total;
		entries[i].batch = batch;
		total += entries[i].buf.len;
	}
	ae->entries = entries;
	ae->n_entries = (unsigned)f[4];
	return 0;
}

static int decode_conf(struct in *in, struct raft_configuration *conf)
{
	char address[RAFT_WIRE_ADDRESS_MAX + 1];
	uint64_t n, i;

	if (get64(in, &n) != 0 || n > RAFT_WIRE_SERVERS_MAX || n > (in->len - in->off) / SERVER_HEADER)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		const uint8_t *s = in->p + in->off;
		uint64_t id, role, alen;

		if (in->len - in->off < SERVER_HEADER)
			return -EINVAL;
		id = le_get(s, 8);
		role = s[8];
		alen = le_get(s + 10, 2);
		in->off += SERVER_HEADER;
		if (id == 0 || (role != RAFT_STANDBY && role != RAFT_VOTER && role != RAFT_SPARE) ||
		    s[9] != 0 || alen == 0 || alen > RAFT_WIRE_ADDRESS_MAX ||
		    alen > in->len - in->off || memchr(in->p + in->off, '\0', alen) != NULL)
			return -EINVAL;
		memcpy(address, in->p + in->off, alen);
		address[alen] = '\0';
		in->off += alen;
		switch (raft_configuration_add(conf, id, address, (int)role)) {
		case 0:
			break;
		case RAFT_NOMEM:
			return -ENOMEM;
		default: /* a duplicate id or address */
			return -EINVAL;
		}
	}
	return 0;
}

static int decode_snapshot(struct in *in, struct raft_install_snapshot *is)
{
	uint64_t f[4], size;
	int rv;

	raft_configuration_init(&is->conf);
	is->data.base = NULL;
	is->data.len = 0;
	if (get64s(in, f, 4) != 0)
		return -EINVAL;
	is->term = f[0];
	is->last_index = f[1];
	is->last_term = f[2];
	is->conf_index = f[3];
	rv = decode_conf(in, &is->conf);
	if (rv == 0 && (get64(in, &size) != 0 || size != in->len - in->off))
		rv = -EINVAL;
	if (rv == 0) {
		is->data.base = raft_malloc(size > 0 ? (size_t)size : 1);
		if (is->data.base == NULL)
			rv = -ENOMEM;
	}
	if (rv != 0) {
		raft_configuration_close(&is->conf);
		raft_configuration_init(&is->conf);
		return rv;
	}
	memcpy(is->data.base, in->p + in->off, (size_t)size);
	is->data.len = (size_t)size;
	in->off += (size_t)size;
	return 0;
}

static int decode_body(struct in *in, struct raft_message *m)
{
	uint64_t f[5];

	switch (m->type) {
	case RAFT_IO_REQUEST_VOTE:
		if (get64s(in, f, 5) != 0 || (f[4] & ~(uint64_t)(FLAG_DISRUPT | FLAG_PRE_VOTE)) != 0)
			return -EINVAL;
		m->request_vote.term = f[0];
		m->request_vote.candidate_id = f[1];
		m->request_vote.last_log_index = f[2];
		m->request_vote.last_log_term = f[3];
		m->request_vote.disrupt_leader = (f[4] & FLAG_DISRUPT) != 0;
		m->request_vote.pre_vote = (f[4] & FLAG_PRE_VOTE) != 0;
		return 0;
	case RAFT_IO_REQUEST_VOTE_RESULT:
		if (get64s(in, f, 3) != 0 || f[1] > 1 || f[2] > raft_tribool_false)
			return -EINVAL;
		m->request_vote_result.term = f[0];
		m->request_vote_result.vote_granted = f[1] == 1;
		m->request_vote_result.pre_vote = (raft_tribool)f[2];
		return 0;
	case RAFT_IO_APPEND_ENTRIES:
		return decode_entries(in, &m->append_entries);
	case RAFT_IO_APPEND_ENTRIES_RESULT:
		if (get64s(in, f, 3) != 0)
			return -EINVAL;
		m->append_entries_result.term = f[0];
		m->append_entries_result.rejected = f[1];
		m->append_entries_result.last_log_index = f[2];
		return 0;
	case RAFT_IO_INSTALL_SNAPSHOT:
		return decode_snapshot(in, &m->install_snapshot);
	case RAFT_IO_TIMEOUT_NOW:
		if (get64s(in, f, 3) != 0)
			return -EINVAL;
		m->timeout_now.term = f[0];
		m->timeout_now.last_log_index = f[1];
		m->timeout_now.last_log_term = f[2];
		return 0;
	default:
		return -EINVAL;
	}
}

int raft_wire_decode(const uint8_t *buf, size_t len, struct raft_message *m)
{
	struct in in = {.p = buf, .len = len, .off = RAFT_WIRE_HEADER_SIZE};
	int rv;

	memset(m, 0, sizeof(*m));
	if (len < RAFT_WIRE_HEADER_SIZE || buf[0] != RAFT_WIRE_VERSION ||
	    le_get(buf + 2, 2) != 0 || le_get(buf + 4, 4) != 0)
		return -EINVAL;
	m->type = buf[1];
	rv = decode_body(&in, m);
	if (rv == 0 && in.off != len) {
		raft_wire_release(m);
		rv = -EINVAL;
	}
	if (rv != 0)
		memset(m, 0, sizeof(*m));
	return rv;
}

void raft_wire_release(struct raft_message *m)
{
	if (m->type == RAFT_IO_APPEND_ENTRIES && m->append_entries.n_entries > 0) {
		raft_free(m->append_entries.entries[0].batch);
		raft_free(m->append_entries.entries);
		m->append_entries.entries = NULL;
		m->append_entries.n_entries = 0;
	} else if (m->type == RAFT_IO_INSTALL_SNAPSHOT) {
		raft_configuration_close(&m->install_snapshot.conf);
		raft_configuration_init(&m->install_snapshot.conf);
		raft_free(m->install_snapshot.data.base);
		m->install_snapshot.data.base = NULL;
	}
}
