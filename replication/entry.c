/*
 * Entry encoding and defensive decoding; see entry.h for the layout.
 *
 * Header (48 bytes):
 *   u32 magic, u8 version, u8 op, u16 flags, i64 stamp_ns, u64 node_id,
 *   u64 request_id, u32 uid, u32 gid, u64 reserved (zero)
 */
#include "entry.h"

#include <errno.h>
#include <raft.h>
#include <string.h>

struct enc {
	uint8_t *p;
	size_t len, cap;
};

struct dec {
	const uint8_t *p;
	size_t len, pos;
	int err;
};

static void enc_bytes(struct enc *w, const void *src, size_t n)
{
	if (n == 0)
		return;
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void enc_u16(struct enc *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	enc_bytes(w, b, 2);
}

static void enc_u32(struct enc *w, uint32_t v)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	enc_bytes(w, b, 4);
}

static void enc_u64(struct enc *w, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	enc_bytes(w, b, 8);
}

static void enc_blob(struct enc *w, const void *p, uint32_t n)
{
	enc_u32(w, n);
	enc_bytes(w, p, n);
}

static const uint8_t *dec_take(struct dec *r, size_t n)
{
	const uint8_t *p;

	if (r->err || n > r->len - r->pos) {
		r->err = -EINVAL;
		return NULL;
	}
	p = r->p + r->pos;
	r->pos += n;
	return p;
}

static uint64_t dec_uint(struct dec *r, int bytes)
{
	const uint8_t *b = dec_take(r, (size_t)bytes);
	uint64_t v = 0;

	if (b == NULL)
		return 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static const void *dec_blob(struct dec *r, uint32_t *n, uint32_t max)
{
	uint32_t len = (uint32_t)dec_uint(r, 4);
	const void *p;

	if (r->err)
		return NULL;
	if (len > max) {
		r->err = -EINVAL;
		return NULL;
	}
	p = dec_take(r, len);
	*n = len;
	return p;
}

/* Names: 1..255 bytes, no '/' and no NUL, not "." or "..". */
static int name_ok(const char *name, uint32_t len)
{
	if (len == 0 || len > ENTRY_MAX_NAME)
		return 0;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return 0;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	return 1;
}

/* Which fields each op carries. */
enum {
	F_INO = 1 << 0,
	F_PARENT = 1 << 1,
	F_NAME = 1 << 2,
	F_NEWPARENT = 1 << 3,
	F_NEWNAME = 1 << 4,
	F_MODE = 1 << 5,
	F_DATA = 1 << 6,
	F_XFLAGS = 1 << 7,
	F_OFFSET = 1 << 8,
	F_SETATTR = 1 << 9,
};

static const unsigned entry_fields[ENTRY_OP_MAX] = {
	[ENTRY_CREATE] = F_PARENT | F_INO | F_MODE | F_NAME | F_DATA,
	[ENTRY_LINK] = F_INO | F_NEWPARENT | F_NEWNAME,
	[ENTRY_UNLINK] = F_PARENT | F_NAME,
	[ENTRY_RENAME] = F_PARENT | F_NAME | F_NEWPARENT | F_NEWNAME | F_XFLAGS,
	[ENTRY_WRITE] = F_INO | F_OFFSET | F_DATA,
	[ENTRY_SETATTR] = F_INO | F_SETATTR,
	[ENTRY_SETXATTR] = F_INO | F_NAME | F_DATA | F_XFLAGS,
	[ENTRY_REMOVEXATTR] = F_INO | F_NAME,
	[ENTRY_NODE] = F_OFFSET | F_DATA,
	[ENTRY_EXPIRE] = F_PARENT | F_NAME,
	[ENTRY_MULTI] = F_PARENT | F_INO | F_MODE | F_DATA,
};

static const char *const entry_names[ENTRY_OP_MAX] = {
	[ENTRY_CREATE] = "create",   [ENTRY_LINK] = "link",
	[ENTRY_UNLINK] = "unlink",   [ENTRY_RENAME] = "rename",
	[ENTRY_WRITE] = "write",     [ENTRY_SETATTR] = "setattr",
	[ENTRY_SETXATTR] = "setxattr", [ENTRY_REMOVEXATTR] = "removexattr",
	[ENTRY_NODE] = "node",	     [ENTRY_EXPIRE] = "expire",
	[ENTRY_MULTI] = "multi",
};

const char *entry_op_name(int op)
{
	if (op <= 0 || op >= ENTRY_OP_MAX)
		return "unknown";
	return entry_names[op];
}

/* xattr names may be longer than file names (XATTR_NAME_MAX). */
#define ENTRY_MAX_XATTR_NAME 255

/* xattr names: 1..255 bytes, no NUL ('/' is allowed there). */
static int xattr_name_ok(const char *name, uint32_t len)
{
	return len > 0 && len <= ENTRY_MAX_XATTR_NAME && memchr(name, '\0', len) == NULL;
}

static int entry_check(const struct entry *e)
{
	unsigned f;

	if (e->op == 0 || e->op >= ENTRY_OP_MAX)
		return -EINVAL;
	f = entry_fields[e->op];
	if (e->op == ENTRY_SETXATTR || e->op == ENTRY_REMOVEXATTR) {
		if (!xattr_name_ok(e->name, e->name_len))
			return -EINVAL;
	} else if ((f & F_NAME) && !name_ok(e->name, e->name_len)) {
		return -EINVAL;
	}
	if ((f & F_NEWNAME) && !name_ok(e->newname, e->newname_len))
		return -EINVAL;
	if ((f & F_DATA) && e->data_len > ENTRY_MAX_DATA)
		return -EINVAL;
	return 0;
}

int entry_encode(const struct entry *e, struct entry_buf *out)
{
	struct enc w = {0};
	unsigned f;
	int rv;

	rv = entry_check(e);
	if (rv != 0)
		return rv;
	f = entry_fields[e->op];
	w.cap = ENTRY_HEADER_SIZE + 8 * 8 + 4 * 8 + e->name_len + e->newname_len + e->data_len +
		ENTRY_ALIGN;
	w.p = raft_malloc(w.cap);
	if (w.p == NULL)
		return -ENOMEM;

	enc_u32(&w, ENTRY_MAGIC);
	enc_bytes(&w, &(uint8_t){ENTRY_VERSION}, 1);
	enc_bytes(&w, &e->op, 1);
	enc_u16(&w, e->flags);
	enc_u64(&w, (uint64_t)e->stamp_ns);
	enc_u64(&w, e->node_id);
	enc_u64(&w, e->request_id);
	enc_u32(&w, e->uid);
	enc_u32(&w, e->gid);
	enc_u64(&w, 0);

	if (f & F_PARENT)
		enc_u64(&w, e->parent);
	if (f & F_INO)
		enc_u64(&w, e->ino);
	if (f & F_MODE)
		enc_u32(&w, e->mode);
	if (f & F_NAME)
		enc_blob(&w, e->name, e->name_len);
	if (f & F_NEWPARENT)
		enc_u64(&w, e->newparent);
	if (f & F_NEWNAME)
		enc_blob(&w, e->newname, e->newname_len);
	if (f & F_XFLAGS)
		enc_u32(&w, e->xflags);
	if (f & F_OFFSET)
		enc_u64(&w, e->offset);
	if (f & F_SETATTR) {
		enc_u32(&w, e->valid);
		enc_u32(&w, e->mode);
		enc_u32(&w, e->set_uid);
		enc_u32(&w, e->set_gid);
		enc_u64(&w, e->size);
		enc_u64(&w, (uint64_t)e->atime_ns);
		enc_u64(&w, (uint64_t)e->mtime_ns);
	}
	if (f & F_DATA)
		enc_blob(&w, e->data, e->data_len);
	/* raft 0.15's segment loader sums the unpadded entry sizes but the
	 * writer pads each entry to 8 bytes: an entry whose size is not a
	 * multiple of 8 makes every later batch look corrupt at the next start.
	 * So we pad ourselves. */
	while (w.len % ENTRY_ALIGN != 0)
		w.p[w.len++] = 0;

	out->base = w.p;
	out->len = w.len;
	return 0;
}

int entry_decode(const void *buf, size_t len, struct entry *e)
{
	struct dec r = {.p = buf, .len = len};
	unsigned f;

	memset(e, 0, sizeof(*e));
	if (buf == NULL || len < ENTRY_HEADER_SIZE)
		return -EINVAL;
	if (dec_uint(&r, 4) != ENTRY_MAGIC || dec_uint(&r, 1) != ENTRY_VERSION)
		return -EINVAL;
	e->op = (uint8_t)dec_uint(&r, 1);
	e->flags = (uint16_t)dec_uint(&r, 2);
	e->stamp_ns = (int64_t)dec_uint(&r, 8);
	e->node_id = dec_uint(&r, 8);
	e->request_id = dec_uint(&r, 8);
	e->uid = (uint32_t)dec_uint(&r, 4);
	e->gid = (uint32_t)dec_uint(&r, 4);
	if (dec_uint(&r, 8) != 0)
		return -EINVAL;
	if (e->op == 0 || e->op >= ENTRY_OP_MAX)
		return -EINVAL;
	f = entry_fields[e->op];

	if (f & F_PARENT)
		e->parent = dec_uint(&r, 8);
	if (f & F_INO)
		e->ino = dec_uint(&r, 8);
	if (f & F_MODE)
		e->mode = (uint32_t)dec_uint(&r, 4);
	if (f & F_NAME)
		e->name = dec_blob(&r, &e->name_len, ENTRY_MAX_XATTR_NAME);
	if (f & F_NEWPARENT)
		e->newparent = dec_uint(&r, 8);
	if (f & F_NEWNAME)
		e->newname = dec_blob(&r, &e->newname_len, ENTRY_MAX_NAME);
	if (f & F_XFLAGS)
		e->xflags = (uint32_t)dec_uint(&r, 4);
	if (f & F_OFFSET)
		e->offset = dec_uint(&r, 8);
	if (f & F_SETATTR) {
		e->valid = (uint32_t)dec_uint(&r, 4);
		e->mode = (uint32_t)dec_uint(&r, 4);
		e->set_uid = (uint32_t)dec_uint(&r, 4);
		e->set_gid = (uint32_t)dec_uint(&r, 4);
		e->size = dec_uint(&r, 8);
		e->atime_ns = (int64_t)dec_uint(&r, 8);
		e->mtime_ns = (int64_t)dec_uint(&r, 8);
	}
	if (f & F_DATA)
		e->data = dec_blob(&r, &e->data_len, ENTRY_MAX_DATA);
	if (r.err || len % ENTRY_ALIGN != 0 || len - r.pos >= ENTRY_ALIGN)
		return -EINVAL;
	for (size_t i = r.pos; i < len; i++)
		if (((const uint8_t *)buf)[i] != 0)
			return -EINVAL; /* padding must be zero */
	return entry_check(e);
}

void entry_set_stamp(struct entry_buf *b, int64_t stamp_ns)
{
	uint8_t *p = (uint8_t *)b->base + ENTRY_STAMP_OFFSET;

	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)((uint64_t)stamp_ns >> (8 * i));
}
