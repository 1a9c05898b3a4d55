/*
 * Log entries: one mutating system call, encoded for the Raft log.
 *
 * Every change to the tree travels as one entry. The proposing node fills in
 * who asked (node, uid, gid) and an idempotency key (node id + request id);
 * the leader stamps its clock (stamp_ns) just before appending, so that
 * mtime/ctime are identical on every node. The encoding is little-endian and
 * self-delimiting; entry_decode() checks every length against the buffer, so
 * a truncated or corrupt entry is rejected with -EINVAL, never read past.
 *
 * Layout: header (ENTRY_HEADER_SIZE bytes), then the op's fields in the order
 * given next to each op below, then zero padding to a multiple of
 * ENTRY_ALIGN. Strings and blobs are a u32 length followed by the bytes (no
 * terminating NUL on the wire).
 */
#ifndef CFS_ENTRY_H
#define CFS_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#define ENTRY_MAGIC 0x45534643u /* "CFSE" */
#define ENTRY_VERSION 1
#define ENTRY_HEADER_SIZE 48
/* Offset of stamp_ns inside the header: the leader patches it in place. */
#define ENTRY_STAMP_OFFSET 8
/* Encoded entries are zero-padded to a multiple of this (see entry.c). */
#define ENTRY_ALIGN 8

/* Largest payload (file content, symlink target, xattr value) an entry can
 * carry; the store enforces the configured, smaller limits. */
#define ENTRY_MAX_DATA (4u << 20)
#define ENTRY_MAX_NAME 255
/* Most files one ENTRY_MULTI may set. */
#define ENTRY_MULTI_MAX 64

enum entry_op {
	/* parent, ino, mode, name, data (content or symlink target) */
	ENTRY_CREATE = 1,
	/* ino, newparent, newname */
	ENTRY_LINK,
	/* parent, name (flags: ENTRY_F_DIR for rmdir) */
	ENTRY_UNLINK,
	/* parent, name, newparent, newname, rename flags */
	ENTRY_RENAME,
	/* ino, offset, data (flags: ENTRY_F_APPEND, ENTRY_F_REPLACE) */
	ENTRY_WRITE,
	/* ino, valid, mode, uid, gid, size, atime_ns, mtime_ns */
	ENTRY_SETATTR,
	/* ino, name, value, xattr flags */
	ENTRY_SETXATTR,
	/* ino, name */
	ENTRY_REMOVEXATTR,
	/* offset: lowest acceptable id, data: the joining node's address.
	 * Allocates a node id that was never used (result: the id). */
	ENTRY_NODE,
	/* parent, name: remove the file if its content has expired by the
	 * entry's stamp (leases; committed by the leader), else nothing. */
	ENTRY_EXPIRE,
	/* parent, ino, mode, data: set the content of several files of a typed
	 * directory in one step, all or nothing (multi-lease). data is the
	 * content, a NUL, then the names, each followed by a NUL; the i-th name,
	 * if it does not exist, is created with inode ino + i. */
	ENTRY_MULTI,
	ENTRY_OP_MAX
};

/* Entry flags (header). */
#define ENTRY_F_DIR 0x1	    /* UNLINK: rmdir */
#define ENTRY_F_APPEND 0x2  /* WRITE: ignore offset, append at apply time */
#define ENTRY_F_REPLACE 0x4 /* WRITE: data becomes the whole content */
#define ENTRY_F_EXCL 0x8    /* CREATE: fail with EEXIST if the name exists */
#define ENTRY_F_TYPED 0x10  /* WRITE: a value for a typed file: ENOENT if it is gone */

/* SETATTR valid bits (our own, stable on the wire). */
#define ENTRY_SET_MODE 0x01
#define ENTRY_SET_UID 0x02
#define ENTRY_SET_GID 0x04
#define ENTRY_SET_SIZE 0x08
#define ENTRY_SET_ATIME 0x10
#define ENTRY_SET_MTIME 0x20
#define ENTRY_SET_ATIME_NOW 0x40
#define ENTRY_SET_MTIME_NOW 0x80

/* A decoded entry. Strings and data point into the buffer it was decoded
 * from (or that the caller owns when encoding); nothing here is owned. */
struct entry {
	uint8_t op;
	uint16_t flags;
	int64_t stamp_ns;
	uint64_t node_id;
	uint64_t request_id;
	uint32_t uid, gid;

	uint64_t ino;	 /* target inode (CREATE: the new inode) */
	uint64_t parent; /* CREATE/UNLINK/RENAME: directory */
	const char *name;
	uint32_t name_len;
	uint64_t newparent; /* LINK/RENAME */
	const char *newname;
	uint32_t newname_len;
	uint32_t mode;	/* CREATE: type and permissions; SETATTR: mode */
	uint32_t valid; /* SETATTR: ENTRY_SET_* */
	uint32_t xflags; /* RENAME: RENAME_* flags; SETXATTR: XATTR_* flags */
	uint32_t set_uid, set_gid;
	uint64_t offset; /* WRITE */
	uint64_t size;	 /* SETATTR */
	int64_t atime_ns, mtime_ns;
	const void *data; /* CREATE content/target, WRITE data, SETXATTR value */
	uint32_t data_len;
};

/* An encoded entry, heap-allocated with raft_malloc so raft can own it. */
struct entry_buf {
	void *base;
	size_t len;
};

/* Encode @e into a new buffer. Returns 0, -EINVAL (bad op or oversized
 * field) or -ENOMEM. */
int entry_encode(const struct entry *e, struct entry_buf *out);

/* Decode @len bytes at @buf into @e (pointing into @buf). Returns 0 or
 * -EINVAL for anything truncated, oversized, trailing or unknown. */
int entry_decode(const void *buf, size_t len, struct entry *e);

/* Stamp the leader's clock into an encoded entry. */
void entry_set_stamp(struct entry_buf *b, int64_t stamp_ns);

const char *entry_op_name(int op);

#endif
