/*
 * Log entry encoding: round trips for every op, the exact rejection rules of
 * the decoder, and a deterministic fuzz loop. Every decode reads from a heap
 * copy of exactly the bytes under test, so that ASan sees any read past the
 * end of the buffer.
 */
#include <raft.h>
#include <sys/xattr.h>

#include "helpers.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* Offsets inside the header (entry.c's layout comment). */
#define OFF_MAGIC    0
#define OFF_VERSION  4
#define OFF_OP	     5
#define OFF_FLAGS    6
#define OFF_RESERVED 40

TestSuite(entry, .fini = h_leak_check);

static const char content[] = "gate: on\nline two\n";

/* Decode @len bytes of @src from a private heap copy of exactly that size. */
static int decode_copy(const void *src, size_t len, struct entry *e, void **copy)
{
	*copy = malloc(len ? len : 1);
	cr_assert_not_null(*copy);
	if (len)
		memcpy(*copy, src, len);
	return entry_decode(*copy, len, e);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void assert_blob_eq(const void *a, uint32_t alen, const void *b, uint32_t blen,
			   const char *what)
{
	cr_assert_eq(alen, blen, "%s length %u != %u", what, alen, blen);
	if (alen > 0)
		cr_assert(memcmp(a, b, alen) == 0, "%s bytes differ", what);
}

static void assert_entry_eq(const struct entry *a, const struct entry *b)
{
	cr_assert_eq(a->op, b->op);
	cr_assert_eq(a->flags, b->flags);
	cr_assert_eq(a->stamp_ns, b->stamp_ns);
	cr_assert_eq(a->node_id, b->node_id);
	cr_assert_eq(a->request_id, b->request_id);
	cr_assert_eq(a->uid, b->uid);
	cr_assert_eq(a->gid, b->gid);
	cr_assert_eq(a->ino, b->ino);
	cr_assert_eq(a->parent, b->parent);
	assert_blob_eq(a->name, a->name_len, b->name, b->name_len, "name");
	cr_assert_eq(a->newparent, b->newparent);
	assert_blob_eq(a->newname, a->newname_len, b->newname, b->newname_len, "newname");
	cr_assert_eq(a->mode, b->mode);
	cr_assert_eq(a->valid, b->valid);
	cr_assert_eq(a->xflags, b->xflags);
	cr_assert_eq(a->set_uid, b->set_uid);
	cr_assert_eq(a->set_gid, b->set_gid);
	cr_assert_eq(a->offset, b->offset);
	cr_assert_eq(a->size, b->size);
	cr_assert_eq(a->atime_ns, b->atime_ns);
	cr_assert_eq(a->mtime_ns, b->mtime_ns);
	assert_blob_eq(a->data, a->data_len, b->data, b->data_len, "data");
}

/* Header fields with every byte distinct and the sign bit of stamp set, so
 * that a swapped or truncated field cannot compare equal by accident. */
static struct entry rich(uint8_t op)
{
	struct entry e = h_entry(op);

	e.stamp_ns = -0x0102030405060708LL;
	e.node_id = 0x1122334455667788ULL;
	e.request_id = 0x99aabbccddeeff01ULL;
	e.uid = 0xfedcba98u;
	e.gid = 0x76543210u;
	return e;
}

static void roundtrip(const struct entry *in)
{
	struct entry_buf b = {0};
	struct entry out;
	void *copy;
	int rv;

	rv = entry_encode(in, &b);
	cr_assert_eq(rv, 0, "entry_encode(%s) = %d", entry_op_name(in->op), rv);
	cr_assert_not_null(b.base);
	cr_assert_eq(b.len % ENTRY_ALIGN, 0, "%s: length %zu is not a multiple of %d",
		     entry_op_name(in->op), b.len, ENTRY_ALIGN);
	cr_assert(b.len >= ENTRY_HEADER_SIZE);
	rv = decode_copy(b.base, b.len, &out, &copy);
	cr_assert_eq(rv, 0, "entry_decode(%s) = %d", entry_op_name(in->op), rv);
	assert_entry_eq(in, &out);
	free(copy);
	raft_free(b.base);
}

Test(entry, create_roundtrip)
{
	struct entry e = rich(ENTRY_CREATE);

	e.parent = 4242;
	e.ino = 0x0123456789abcdefULL;
	e.mode = S_IFREG | 04755;
	e.flags = ENTRY_F_EXCL;
	e.name = "config.yaml";
	e.name_len = (uint32_t)strlen(e.name);
	e.data = content;
	e.data_len = sizeof(content) - 1;
	roundtrip(&e);

	/* A symlink: data is the target. And an empty directory. */
	e.mode = S_IFLNK | 0777;
	e.data = "../target/x";
	e.data_len = 11;
	roundtrip(&e);
	e.mode = S_IFDIR | 0700;
	e.data = NULL;
	e.data_len = 0;
	roundtrip(&e);
}

Test(entry, link_roundtrip)
{
	struct entry e = rich(ENTRY_LINK);

	e.ino = 9000;
	e.newparent = 9001;
	e.newname = "hard-link";
	e.newname_len = (uint32_t)strlen(e.newname);
	roundtrip(&e);
}

Test(entry, unlink_roundtrip)
{
	struct entry e = rich(ENTRY_UNLINK);

	e.parent = 77;
	e.name = "a";
	e.name_len = 1;
	roundtrip(&e);
	e.flags = ENTRY_F_DIR;
	roundtrip(&e);
}

Test(entry, expire_and_multi_roundtrip)
{
	static const char names[] = "holder=a ttl=3\0x\0y\0";
	struct entry e = rich(ENTRY_EXPIRE);
	struct entry_buf b;

	e.parent = 4;
	e.name = "lease";
	e.name_len = 5;
	roundtrip(&e);
	e.name_len = 0;
	cr_assert_eq(entry_encode(&e, &b), -EINVAL, "EXPIRE needs a name");

	e = rich(ENTRY_MULTI);
	e.parent = 4;
	e.ino = 9000;
	e.mode = S_IFREG | 0644;
	e.data = names;
	e.data_len = sizeof(names) - 1;
	roundtrip(&e);
	cr_assert_str_eq(entry_op_name(ENTRY_EXPIRE), "expire");
	cr_assert_str_eq(entry_op_name(ENTRY_MULTI), "multi");
}

Test(entry, rename_roundtrip)
{
	static const uint32_t flags[] = {0, RENAME_NOREPLACE, RENAME_EXCHANGE, 0xffffffffu};
	struct entry e = rich(ENTRY_RENAME);

	e.parent = 10;
	e.name = "from";
	e.name_len = 4;
	e.newparent = 11;
	e.newname = "to-a-longer-name";
	e.newname_len = (uint32_t)strlen(e.newname);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		e.xflags = flags[i];
		roundtrip(&e);
	}
}

Test(entry, write_roundtrip)
{
	static const uint16_t flags[] = {0, ENTRY_F_APPEND, ENTRY_F_REPLACE};
	struct entry e = rich(ENTRY_WRITE);

	e.ino = 5000;
	e.offset = 0xfffffffff0ULL;
	e.data = content;
	e.data_len = sizeof(content) - 1;
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		e.flags = flags[i];
		roundtrip(&e);
	}
	/* Zero-length data is a valid write (e.g. REPLACE with nothing). */
	e.data = NULL;
	e.data_len = 0;
	roundtrip(&e);
}

Test(entry, setattr_roundtrip)
{
	struct entry e = rich(ENTRY_SETATTR);

	e.ino = 5001;
	e.valid = ENTRY_SET_MODE | ENTRY_SET_UID | ENTRY_SET_GID | ENTRY_SET_SIZE |
		  ENTRY_SET_ATIME | ENTRY_SET_MTIME | ENTRY_SET_ATIME_NOW | ENTRY_SET_MTIME_NOW;
	cr_assert_eq(e.valid, 0xffu);
	e.mode = 02750;
	e.set_uid = 0x11223344u;
	e.set_gid = 0x55667788u;
	e.size = 0x0000000100000001ULL;
	e.atime_ns = -5;
	e.mtime_ns = 0x7fffffffffffffffLL;
	roundtrip(&e);
	/* Each bit alone too. */
	for (uint32_t bit = 1; bit <= ENTRY_SET_MTIME_NOW; bit <<= 1) {
		e.valid = bit;
		roundtrip(&e);
	}
}

Test(entry, setxattr_roundtrip)
{
	static const uint32_t flags[] = {0, XATTR_CREATE, XATTR_REPLACE};
	static const uint8_t value[] = {0, 1, 2, 0xff, 0, 'x'};
	struct entry e = rich(ENTRY_SETXATTR);

	e.ino = 5002;
	e.name = "user.comment";
	e.name_len = (uint32_t)strlen(e.name);
	e.data = value;
	e.data_len = sizeof(value);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		e.xflags = flags[i];
		roundtrip(&e);
	}
}

Test(entry, removexattr_roundtrip)
{
	struct entry e = rich(ENTRY_REMOVEXATTR);

	e.ino = 5003;
	e.name = "user.comment";
	e.name_len = (uint32_t)strlen(e.name);
	roundtrip(&e);
}

/* Fields an op does not carry are not on the wire: they decode as zero. */
Test(entry, fields_outside_the_op_are_not_carried)
{
	struct entry e = rich(ENTRY_UNLINK), out;
	struct entry_buf b;
	void *copy;

	e.parent = 3;
	e.name = "x";
	e.name_len = 1;
	e.ino = 99;
	e.newparent = 98;
	e.mode = 0777;
	e.offset = 1234;
	e.size = 42;
	e.data = "ignored";
	e.data_len = 7;
	cr_assert_eq(entry_encode(&e, &b), 0);
	cr_assert_eq(b.len, 64u, "UNLINK of a 1-byte name: 48 + 8 + 4 + 1, padded to 64");
	cr_assert_eq(decode_copy(b.base, b.len, &out, &copy), 0);
	cr_assert_eq(out.parent, 3u);
	cr_assert_eq(out.ino, 0u);
	cr_assert_eq(out.newparent, 0u);
	cr_assert_eq(out.mode, 0u);
	cr_assert_eq(out.offset, 0u);
	cr_assert_eq(out.size, 0u);
	cr_assert_null(out.data);
	cr_assert_eq(out.data_len, 0u);
	free(copy);
	raft_free(b.base);
}

Test(entry, encoded_length_is_aligned_for_every_name_length)
{
	char name[ENTRY_MAX_NAME + 1];

	memset(name, 'n', sizeof(name));
	for (uint32_t n = 1; n <= ENTRY_MAX_NAME; n++) {
		struct entry e = h_unlink(1, "x", 0);
		struct entry_buf b;

		e.name = name;
		e.name_len = n;
		cr_assert_eq(entry_encode(&e, &b), 0, "name length %u", n);
		cr_assert_eq(b.len % ENTRY_ALIGN, 0, "name length %u: encoded %zu", n, b.len);
		cr_assert(b.len - (ENTRY_HEADER_SIZE + 8 + 4 + n) < ENTRY_ALIGN,
			  "name length %u: %zu bytes is more than minimal padding", n, b.len);
		raft_free(b.base);
	}
}

Test(entry, set_stamp_changes_only_the_stamp)
{
	struct entry e = rich(ENTRY_WRITE), out;
	struct entry_buf b;
	uint8_t *before;
	void *copy;

	e.ino = 4096;
	e.data = content;
	e.data_len = sizeof(content) - 1;
	cr_assert_eq(entry_encode(&e, &b), 0);
	before = malloc(b.len);
	memcpy(before, b.base, b.len);
	entry_set_stamp(&b, 0x0a0b0c0d0e0f1011LL);
	for (size_t i = 0; i < b.len; i++) {
		if (i >= ENTRY_STAMP_OFFSET && i < ENTRY_STAMP_OFFSET + 8)
			continue;
		cr_assert_eq(((uint8_t *)b.base)[i], before[i], "byte %zu changed", i);
	}
	cr_assert_eq(decode_copy(b.base, b.len, &out, &copy), 0);
	cr_assert_eq(out.stamp_ns, 0x0a0b0c0d0e0f1011LL);
	e.stamp_ns = out.stamp_ns;
	assert_entry_eq(&e, &out);
	free(copy);
	raft_free(b.base);
	free(before);
}

Test(entry, op_names)
{
	cr_assert_str_eq(entry_op_name(ENTRY_CREATE), "create");
	cr_assert_str_eq(entry_op_name(ENTRY_REMOVEXATTR), "removexattr");
	cr_assert_str_eq(entry_op_name(0), "unknown");
	cr_assert_str_eq(entry_op_name(ENTRY_OP_MAX), "unknown");
	cr_assert_str_eq(entry_op_name(-1), "unknown");
}

/* --- rejection ------------------------------------------------------------- */

/* One valid encoding of every op, with names, data and padding. */
static int sample(int op, struct entry_buf *b)
{
	static const char data[] = "0123456789abc";
	struct entry e;

	switch (op) {
	case ENTRY_CREATE:
		e = h_create(1, 4096, S_IFREG | 0644, "file", data, sizeof(data) - 1);
		break;
	case ENTRY_LINK:
		e = h_link(4096, 1, "other");
		break;
	case ENTRY_UNLINK:
		e = h_unlink(1, "abc", ENTRY_F_DIR);
		break;
	case ENTRY_RENAME:
		e = h_rename(1, "a", 4097, "bcd", RENAME_NOREPLACE);
		break;
	case ENTRY_WRITE:
		e = h_write(4096, 3, data, 5, 0);
		break;
	case ENTRY_SETATTR:
		e = h_setattr(4096, ENTRY_SET_MODE | ENTRY_SET_SIZE);
		e.mode = 0600;
		e.size = 10;
		break;
	case ENTRY_SETXATTR:
		e = h_setxattr(4096, "user.k", "vvv", 3, XATTR_CREATE);
		break;
	default:
		e = h_removexattr(4096, "user.k");
		break;
	}
	return entry_encode(&e, b);
}

static void assert_rejected(const void *buf, size_t len, const char *why)
{
	struct entry e;
	void *copy;
	int rv = decode_copy(buf, len, &e, &copy);

	cr_assert_eq(rv, -EINVAL, "%s: entry_decode = %d, expected -EINVAL", why, rv);
	free(copy);
}

Test(entry, every_truncation_is_rejected)
{
	for (int op = ENTRY_CREATE; op < ENTRY_OP_MAX; op++) {
		struct entry_buf b;

		cr_assert_eq(sample(op, &b), 0);
		for (size_t len = 0; len < b.len; len++) {
			char why[64];

			snprintf(why, sizeof(why), "%s truncated to %zu of %zu", entry_op_name(op),
				 len, b.len);
			assert_rejected(b.base, len, why);
		}
		raft_free(b.base);
	}
	cr_assert_eq(entry_decode(NULL, 0, &(struct entry){0}), -EINVAL);
	cr_assert_eq(entry_decode(NULL, 64, &(struct entry){0}), -EINVAL);
}

Test(entry, trailing_bytes_are_rejected)
{
	for (int op = ENTRY_CREATE; op < ENTRY_OP_MAX; op++) {
		struct entry_buf b;
		uint8_t *big;

		cr_assert_eq(sample(op, &b), 0);
		big = calloc(1, b.len + 16);
		memcpy(big, b.base, b.len);
		for (size_t extra = 1; extra <= 16; extra++) {
			char why[64];

			snprintf(why, sizeof(why), "%s with %zu zero bytes appended",
				 entry_op_name(op), extra);
			assert_rejected(big, b.len + extra, why);
		}
		free(big);
		raft_free(b.base);
	}
}

/* Patch one byte of a valid encoding and expect a rejection. */
static void assert_patch_rejected(int op, size_t off, uint8_t value, const char *why)
{
	struct entry_buf b;

	cr_assert_eq(sample(op, &b), 0);
	cr_assert(off < b.len);
	((uint8_t *)b.base)[off] = value;
	assert_rejected(b.base, b.len, why);
	raft_free(b.base);
}

Test(entry, bad_header_is_rejected)
{
	for (int op = ENTRY_CREATE; op < ENTRY_OP_MAX; op++) {
		struct entry_buf b;
		uint8_t magic0;

		cr_assert_eq(sample(op, &b), 0);
		magic0 = ((uint8_t *)b.base)[0];
		raft_free(b.base);
		for (size_t i = 0; i < 4; i++)
			assert_patch_rejected(op, OFF_MAGIC + i, (uint8_t)(magic0 ^ 0x20), "magic");
		assert_patch_rejected(op, OFF_VERSION, 0, "version 0");
		assert_patch_rejected(op, OFF_VERSION, ENTRY_VERSION + 1, "version 2");
		assert_patch_rejected(op, OFF_VERSION, 0xff, "version 255");
		assert_patch_rejected(op, OFF_OP, 0, "op 0");
		assert_patch_rejected(op, OFF_OP, ENTRY_OP_MAX, "op ENTRY_OP_MAX");
		assert_patch_rejected(op, OFF_OP, 0xff, "op 255");
		for (size_t i = 0; i < 8; i++) {
			assert_patch_rejected(op, OFF_RESERVED + i, 1, "reserved low bit");
			assert_patch_rejected(op, OFF_RESERVED + i, 0x80, "reserved high bit");
		}
	}
}

Test(entry, encode_refuses_unknown_op)
{
	struct entry e = h_unlink(1, "a", 0);
	struct entry_buf b = {0};

	e.op = 0;
	cr_assert_eq(entry_encode(&e, &b), -EINVAL);
	e.op = ENTRY_OP_MAX;
	cr_assert_eq(entry_encode(&e, &b), -EINVAL);
	cr_assert_null(b.base, "nothing allocated on refusal");
}

Test(entry, nonzero_padding_is_rejected)
{
	struct entry e = h_unlink(1, "a", 0); /* 61 bytes of fields, 3 of padding */
	struct entry_buf b;

	cr_assert_eq(entry_encode(&e, &b), 0);
	cr_assert_eq(b.len, 64u);
	for (size_t i = 61; i < 64; i++) {
		cr_assert_eq(((uint8_t *)b.base)[i], 0, "padding byte %zu is not zero", i);
		((uint8_t *)b.base)[i] = 0x01;
		assert_rejected(b.base, b.len, "non-zero padding");
		((uint8_t *)b.base)[i] = 0;
	}
	raft_free(b.base);
}

Test(entry, length_claiming_more_than_the_buffer_is_rejected)
{
	/* UNLINK: name length at 48 + 8; 4 bytes remain for "abc" (3 + 1 of
	 * padding), so any length from 5 claims more than the buffer. */
	struct entry e = h_unlink(1, "abc", 0);
	struct entry_buf b;
	/* WRITE: ino 8, offset 8, then data length. */
	struct entry w = h_write(4096, 0, "abcdefgh", 8, 0);
	struct entry_buf wb;
	static const uint32_t lens[] = {
	    5, 8, 13, 255, 256, 1000, ENTRY_MAX_DATA, ENTRY_MAX_DATA + 1, 0x7fffffffu, 0xffffffffu};

	cr_assert_eq(entry_encode(&e, &b), 0);
	cr_assert_eq(entry_encode(&w, &wb), 0);
	cr_assert_eq(b.len, 64u);
	cr_assert_eq(wb.len, 80u);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char why[64];

		put_u32((uint8_t *)b.base + ENTRY_HEADER_SIZE + 8, lens[i]);
		snprintf(why, sizeof(why), "name length %u in 64 bytes", lens[i]);
		assert_rejected(b.base, b.len, why);
		/* The data field has 12 bytes before the end (8 + padding). */
		if (lens[i] <= 12)
			continue;
		put_u32((uint8_t *)wb.base + ENTRY_HEADER_SIZE + 16, lens[i]);
		snprintf(why, sizeof(why), "data length %u in 80 bytes", lens[i]);
		assert_rejected(wb.base, wb.len, why);
	}
	raft_free(b.base);
	raft_free(wb.base);
}

/* Build an UNLINK or a LINK by hand, bypassing entry_encode's checks, so the
 * decoder sees names the encoder would never produce. */
static size_t raw_named(int op, const char *name, uint32_t len, uint8_t **out)
{
	size_t n = ENTRY_HEADER_SIZE + 8 + 4 + len;
	size_t padded = (n + ENTRY_ALIGN - 1) / ENTRY_ALIGN * ENTRY_ALIGN;
	uint8_t *p = calloc(1, padded);

	cr_assert_not_null(p);
	put_u32(p, ENTRY_MAGIC);
	p[OFF_VERSION] = ENTRY_VERSION;
	p[OFF_OP] = (uint8_t)op;
	/* UNLINK: parent, name. LINK: ino, newparent, newname: also 8 + 8 + 4 + n. */
	if (op == ENTRY_LINK) {
		n += 8;
		padded = (n + ENTRY_ALIGN - 1) / ENTRY_ALIGN * ENTRY_ALIGN;
		p = realloc(p, padded);
		memset(p + ENTRY_HEADER_SIZE, 0, padded - ENTRY_HEADER_SIZE);
		p[ENTRY_HEADER_SIZE] = 0x10;  /* ino */
		p[ENTRY_HEADER_SIZE + 8] = 1; /* newparent */
		put_u32(p + ENTRY_HEADER_SIZE + 16, len);
		memcpy(p + ENTRY_HEADER_SIZE + 20, name, len);
	} else {
		p[ENTRY_HEADER_SIZE] = 1; /* parent */
		put_u32(p + ENTRY_HEADER_SIZE + 8, len);
		memcpy(p + ENTRY_HEADER_SIZE + 12, name, len);
	}
	*out = p;
	return padded;
}

static void check_name_rejected(const char *name, uint32_t len, const char *why)
{
	static const int ops[] = {ENTRY_UNLINK, ENTRY_LINK};

	for (size_t i = 0; i < 2; i++) {
		struct entry e = ops[i] == ENTRY_UNLINK ? h_unlink(1, "x", 0) : h_link(16, 1, "x");
		struct entry_buf b = {0};
		uint8_t *raw;
		size_t n;

		if (ops[i] == ENTRY_UNLINK) {
			e.name = name;
			e.name_len = len;
		} else {
			e.newname = name;
			e.newname_len = len;
		}
		cr_assert_eq(entry_encode(&e, &b), -EINVAL, "%s: encode(%s) accepted it", why,
			     entry_op_name(ops[i]));
		n = raw_named(ops[i], name, len, &raw);
		assert_rejected(raw, n, why);
		free(raw);
	}
}

Test(entry, raw_builder_is_faithful)
{
	/* The hand-built buffers must decode when the name is fine, or the
	 * rejections below would prove nothing. */
	static const int ops[] = {ENTRY_UNLINK, ENTRY_LINK};

	for (size_t i = 0; i < 2; i++) {
		struct entry e;
		uint8_t *raw;
		size_t n = raw_named(ops[i], "fine", 4, &raw);
		void *copy;

		cr_assert_eq(decode_copy(raw, n, &e, &copy), 0, "%s", entry_op_name(ops[i]));
		if (ops[i] == ENTRY_UNLINK)
			assert_blob_eq(e.name, e.name_len, "fine", 4, "name");
		else
			assert_blob_eq(e.newname, e.newname_len, "fine", 4, "newname");
		free(copy);
		free(raw);
	}
}

Test(entry, bad_names_are_rejected)
{
	char big[ENTRY_MAX_NAME + 2];

	memset(big, 'a', sizeof(big));
	check_name_rejected(big, ENTRY_MAX_NAME + 1, "256-byte name");
	check_name_rejected("", 0, "empty name");
	check_name_rejected(".", 1, "\".\"");
	check_name_rejected("..", 2, "\"..\"");
	check_name_rejected("a/b", 3, "name with '/'");
	check_name_rejected("/", 1, "\"/\"");
	check_name_rejected("a\0b", 3, "name with NUL");
	check_name_rejected("ab\0", 3, "name ending in NUL");
}

Test(entry, edge_names_are_accepted)
{
	char big[ENTRY_MAX_NAME];
	struct entry e = h_unlink(1, "x", 0);

	memset(big, 'z', sizeof(big));
	e.name = big;
	e.name_len = ENTRY_MAX_NAME;
	roundtrip(&e);
	e.name = "...";
	e.name_len = 3;
	roundtrip(&e);
	e.name = ".hidden";
	e.name_len = 7;
	roundtrip(&e);
	e.name = "\xff\xfe";
	e.name_len = 2;
	roundtrip(&e);
}

Test(entry, data_over_the_limit_is_rejected)
{
	size_t max = ENTRY_MAX_DATA;
	uint8_t *data = calloc(1, max + 8);
	struct entry e = h_write(4096, 0, data, max, 0);
	struct entry_buf b = {0};
	uint8_t *raw;
	size_t n;

	cr_assert_not_null(data);
	/* Exactly the limit is fine. */
	cr_assert_eq(entry_encode(&e, &b), 0);
	raft_free(b.base);
	b.base = NULL;
	e.data_len = (uint32_t)max + 1;
	cr_assert_eq(entry_encode(&e, &b), -EINVAL);
	cr_assert_null(b.base);

	/* By hand: a WRITE whose data is ENTRY_MAX_DATA + 8 bytes, all present
	 * and correctly padded: refused for its size alone. */
	n = ENTRY_HEADER_SIZE + 8 + 8 + 4 + max + 8;
	n = (n + ENTRY_ALIGN - 1) / ENTRY_ALIGN * ENTRY_ALIGN;
	raw = calloc(1, n);
	cr_assert_not_null(raw);
	put_u32(raw, ENTRY_MAGIC);
	raw[OFF_VERSION] = ENTRY_VERSION;
	raw[OFF_OP] = ENTRY_WRITE;
	put_u32(raw + ENTRY_HEADER_SIZE + 16, (uint32_t)max + 8);
	assert_rejected(raw, n, "data of ENTRY_MAX_DATA + 8 bytes");
	/* The same buffer with the limit itself decodes (sanity of the build). */
	put_u32(raw + ENTRY_HEADER_SIZE + 16, (uint32_t)max);
	{
		struct entry d;
		void *copy;
		size_t m = (ENTRY_HEADER_SIZE + 8 + 8 + 4 + max + ENTRY_ALIGN - 1) / ENTRY_ALIGN *
			   ENTRY_ALIGN;

		cr_assert_eq(decode_copy(raw, m, &d, &copy), 0);
		cr_assert_eq(d.data_len, max);
		free(copy);
	}
	free(raw);
	free(data);
}

/* --- fuzz ------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic across runs and platforms. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

#define FUZZ_ROUNDS 20000
#define FUZZ_SLACK  32

Test(entry, fuzz_mutations_never_crash_and_reencode_identically)
{
	static const uint32_t interesting[] = {
	    0, 1, 3, 7, 8, 255, 256, 4096, 0x7fffffffu, 0xffffffffu, ENTRY_MAX_DATA};
	struct entry_buf base[ENTRY_OP_MAX];
	unsigned decoded = 0, rejected = 0;

	for (int op = ENTRY_CREATE; op < ENTRY_OP_MAX; op++)
		cr_assert_eq(sample(op, &base[op]), 0);

	for (unsigned round = 0; round < FUZZ_ROUNDS; round++) {
		int op = ENTRY_CREATE + (int)(rng() % (ENTRY_OP_MAX - ENTRY_CREATE));
		size_t cap = base[op].len + FUZZ_SLACK, len = base[op].len;
		uint8_t *buf = calloc(1, cap);
		unsigned mutations = 1 + (unsigned)(rng() % 4);
		struct entry e;
		void *copy;
		int rv;

		memcpy(buf, base[op].base, len);
		for (unsigned m = 0; m < mutations; m++) {
			size_t at = len ? (size_t)(rng() % len) : 0;

			switch (rng() % 6) {
			case 0: /* flip a bit */
				if (len)
					buf[at] ^= (uint8_t)(1u << (rng() % 8));
				break;
			case 1: /* random byte */
				if (len)
					buf[at] = (uint8_t)rng();
				break;
			case 2: /* an interesting 32-bit value (lengths live there) */
				if (len >= 4) {
					at = (size_t)(rng() % (len - 3));
					put_u32(buf + at,
						interesting[rng() % (sizeof(interesting) /
								     sizeof(interesting[0]))]);
				}
				break;
			case 3: /* truncate */
				len = len ? (size_t)(rng() % len) : 0;
				break;
			case 4: /* extend with zeros or random bytes */
			{
				size_t grow = (size_t)(rng() % 9);
				int noise = (int)(rng() % 2);

				for (size_t i = 0; i < grow && len < cap; i++)
					buf[len++] = noise ? (uint8_t)rng() : 0;
				break;
			}
			default: /* a header byte: magic, version, op, flags, reserved */
				if (len)
					buf[rng() %
					    (len < ENTRY_HEADER_SIZE ? len : ENTRY_HEADER_SIZE)] =
					    (uint8_t)rng();
				break;
			}
		}

		rv = decode_copy(buf, len, &e, &copy);
		cr_assert(rv == 0 || rv == -EINVAL, "round %u: entry_decode = %d", round, rv);
		if (rv == 0) {
			struct entry_buf again;
			struct entry e2;
			void *copy2;

			decoded++;
			rv = entry_encode(&e, &again);
			cr_assert_eq(rv, 0, "round %u: decoded %s does not re-encode (%d)", round,
				     entry_op_name(e.op), rv);
			/* The decoder accepts only canonical encodings, so the
			 * re-encoding is the very same bytes. */
			cr_assert_eq(again.len, len, "round %u: re-encoded %zu bytes, decoded %zu",
				     round, again.len, len);
			cr_assert(memcmp(again.base, buf, len) == 0,
				  "round %u: re-encoding differs", round);
			cr_assert_eq(decode_copy(again.base, again.len, &e2, &copy2), 0);
			assert_entry_eq(&e, &e2);
			free(copy2);
			raft_free(again.base);
		} else {
			rejected++;
		}
		free(copy);
		free(buf);
	}
	for (int op = ENTRY_CREATE; op < ENTRY_OP_MAX; op++)
		raft_free(base[op].base);
	/* Both outcomes must occur, or the loop tested nothing. */
	cr_assert(decoded > FUZZ_ROUNDS / 50, "only %u of %u mutations decoded", decoded,
		  FUZZ_ROUNDS);
	cr_assert(rejected > FUZZ_ROUNDS / 2, "only %u of %u mutations rejected", rejected,
		  FUZZ_ROUNDS);
	cr_log_info("fuzz: %u decoded, %u rejected", decoded, rejected);
}
