/*
 * Shared helpers for the criterion unit tests: temporary directories, entry
 * builders, a store fixture that applies entries at increasing raft indexes,
 * and a dump of the whole tree into one string so that a test can say "this
 * changed nothing" by comparing two dumps.
 *
 * Everything is static inline: each test_X.c is its own executable and uses
 * only part of this file.
 */
#ifndef CFS_TEST_HELPERS_H
#define CFS_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../fs/ns.h"
#include "../../replication/entry.h"
#include "../../replication/store.h"

/* A port the kernel considers free now, on 127.0.0.1 (bind to port 0,
 * note what it gave, let it go: someone may take it before the caller,
 * who tries again then). */
static inline int h_free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* Who "proposes" the entries the tests build. */
#define H_NODE 7
#define H_UID  1000
#define H_GID  100
/* Stamps are derived from the index, so a test can predict mtime/ctime. */
#define H_STAMP0     1700000000000000000LL
#define H_STAMP_STEP 1000LL

static inline int64_t h_stamp(uint64_t index)
{
	return H_STAMP0 + (int64_t)index * H_STAMP_STEP;
}

/* The namespace's content check for a new file @name in @dir. */
static inline int h_check_content(uint64_t dir, const char *name, const void **data, size_t *len,
				  char *scratch, size_t scratch_len)
{
	struct store_check c = {
		.dir = dir,
		.name = name,
		.name_len = strlen(name),
		.stamp_ns = H_STAMP0,
		.scratch = scratch,
		.scratch_len = scratch_len,
	};

	return ns_validator()->check_content(&c, data, len);
}

/* --- temporary directories ------------------------------------------------ */

static inline void h_tmpdir(char *buf, size_t size)
{
	const char *base = getenv("TMPDIR");
	int n;

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	n = snprintf(buf, size, "%s/cfs-unit-XXXXXX", base);
	cr_assert(n > 0 && (size_t)n < size, "temp dir path too long");
	cr_assert_not_null(mkdtemp(buf), "mkdtemp(%s): %s", buf, strerror(errno));
}

static inline int h_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void h_rmtree(const char *path)
{
	if (path[0] != '\0')
		nftw(path, h_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* --- leak check ----------------------------------------------------------------- *
 * Under ASan, LeakSanitizer reports leaks when a criterion worker exits, but
 * criterion has already counted the test as passed by then and the run still
 * exits 0. So every suite's .fini checks for leaks itself and aborts if there
 * are any: criterion then reports the test as crashed in its teardown and the
 * run fails. A no-op without ASan. */

#if defined(__SANITIZE_ADDRESS__)
#define H_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define H_HAVE_LSAN 1
#endif
#endif

#ifdef H_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static inline void h_leak_check(void)
{
#ifdef H_HAVE_LSAN
	if (__lsan_do_recoverable_leak_check() != 0) {
		fprintf(stderr, "memory leaked: see the LeakSanitizer report above\n");
		abort();
	}
#endif
}

/* --- cleanup that survives a failed assertion ------------------------------- *
 * A failing cr_assert ends the test at once; the suite's .fini still runs.
 * Resources a test makes beyond its fixture (a second store, a buffer) are
 * registered here (they must be static, not on the test's stack, which a
 * failure unwinds) and released by h_cleanup_run() from .fini, so that a
 * failure does not also show up as a leak under ASan. */

#define H_CLEANUP_MAX 16

struct h_cleanup {
	void (*fn)(void *);
	void *arg;
};

static struct h_cleanup h_cleanups[H_CLEANUP_MAX];
static int h_n_cleanups;

static inline void h_defer(void (*fn)(void *), void *arg)
{
	cr_assert(h_n_cleanups < H_CLEANUP_MAX, "too many deferred cleanups");
	h_cleanups[h_n_cleanups].fn = fn;
	h_cleanups[h_n_cleanups].arg = arg;
	h_n_cleanups++;
}

/* Run (and forget) the cleanup registered for @arg now. */
static inline void h_undefer(void *arg)
{
	for (int i = h_n_cleanups - 1; i >= 0; i--) {
		if (h_cleanups[i].arg == arg) {
			struct h_cleanup c = h_cleanups[i];

			h_cleanups[i] = h_cleanups[--h_n_cleanups];
			c.fn(c.arg);
			return;
		}
	}
	cr_assert_fail("no cleanup registered for %p", arg);
}

static inline void h_cleanup_run(void)
{
	while (h_n_cleanups > 0) {
		struct h_cleanup c = h_cleanups[--h_n_cleanups];

		c.fn(c.arg);
	}
}

/* --- entries --------------------------------------------------------------- */

/* Every entry is a new request: the FSM remembers (node, request id) and
 * answers a repeated one with its first outcome. */
static uint64_t h_request_id;

static inline struct entry h_entry(uint8_t op)
{
	struct entry e;

	memset(&e, 0, sizeof(e));
	e.op = op;
	e.stamp_ns = H_STAMP0;
	e.node_id = H_NODE;
	e.request_id = ++h_request_id;
	e.uid = H_UID;
	e.gid = H_GID;
	return e;
}

static inline struct entry h_create(uint64_t parent, uint64_t ino, uint32_t mode, const char *name,
				    const void *data, size_t len)
{
	struct entry e = h_entry(ENTRY_CREATE);

	e.parent = parent;
	e.ino = ino;
	e.mode = mode;
	e.name = name;
	e.name_len = (uint32_t)strlen(name);
	e.data = data;
	e.data_len = (uint32_t)len;
	return e;
}

static inline struct entry h_link(uint64_t ino, uint64_t newparent, const char *newname)
{
	struct entry e = h_entry(ENTRY_LINK);

	e.ino = ino;
	e.newparent = newparent;
	e.newname = newname;
	e.newname_len = (uint32_t)strlen(newname);
	return e;
}

static inline struct entry h_unlink(uint64_t parent, const char *name, uint16_t flags)
{
	struct entry e = h_entry(ENTRY_UNLINK);

	e.parent = parent;
	e.name = name;
	e.name_len = (uint32_t)strlen(name);
	e.flags = flags;
	return e;
}

static inline struct entry h_rename(uint64_t parent, const char *name, uint64_t newparent,
				    const char *newname, uint32_t xflags)
{
	struct entry e = h_entry(ENTRY_RENAME);

	e.parent = parent;
	e.name = name;
	e.name_len = (uint32_t)strlen(name);
	e.newparent = newparent;
	e.newname = newname;
	e.newname_len = (uint32_t)strlen(newname);
	e.xflags = xflags;
	return e;
}

static inline struct entry h_write(uint64_t ino, uint64_t offset, const void *data, size_t len,
				   uint16_t flags)
{
	struct entry e = h_entry(ENTRY_WRITE);

	e.ino = ino;
	e.offset = offset;
	e.data = data;
	e.data_len = (uint32_t)len;
	e.flags = flags;
	return e;
}

static inline struct entry h_setattr(uint64_t ino, uint32_t valid)
{
	struct entry e = h_entry(ENTRY_SETATTR);

	e.ino = ino;
	e.valid = valid;
	return e;
}

static inline struct entry h_setxattr(uint64_t ino, const char *name, const void *value, size_t len,
				      uint32_t xflags)
{
	struct entry e = h_entry(ENTRY_SETXATTR);

	e.ino = ino;
	e.name = name;
	e.name_len = (uint32_t)strlen(name);
	e.data = value;
	e.data_len = (uint32_t)len;
	e.xflags = xflags;
	return e;
}

static inline struct entry h_removexattr(uint64_t ino, const char *name)
{
	struct entry e = h_entry(ENTRY_REMOVEXATTR);

	e.ino = ino;
	e.name = name;
	e.name_len = (uint32_t)strlen(name);
	return e;
}

/* --- store fixture --------------------------------------------------------- */

struct h_store {
	char dir[256];
	char path[PATH_MAX];
	struct store *s;
	uint64_t index;		/* last index handed to store_apply */
	struct store_change ch; /* what the last h_apply changed */
};

static inline void h_store_open_at(struct h_store *t)
{
	char err[256] = "";
	int rv = store_open(t->path, ns_validator(), &t->s, err, sizeof(err));

	cr_assert_eq(rv, 0, "store_open(%s): %d %s", t->path, rv, err);
	t->index = store_applied_index(t->s);
}

static inline void h_store_init(struct h_store *t)
{
	memset(t, 0, sizeof(*t));
	h_tmpdir(t->dir, sizeof(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/store.db", t->dir);
	h_store_open_at(t);
}

static inline void h_store_reopen(struct h_store *t)
{
	store_close(t->s);
	t->s = NULL;
	h_store_open_at(t);
}

static inline void h_store_fini(struct h_store *t)
{
	store_close(t->s);
	t->s = NULL;
	h_rmtree(t->dir);
	t->dir[0] = '\0';
}

static inline void h_store_fini_cb(void *t)
{
	h_store_fini(t);
}

/* A second store for one test, closed and removed by h_cleanup_run(). */
static inline void h_store_init_deferred(struct h_store *t)
{
	h_store_init(t);
	h_defer(h_store_fini_cb, t);
}

/* Apply @e at the next index, stamped from that index; the store must not
 * fail. Returns the change's result (>= 0, or -errno of a refusal). */
static inline int64_t h_apply(struct h_store *t, struct entry *e)
{
	uint64_t index = t->index + 1;
	int rv;

	e->stamp_ns = h_stamp(index);
	rv = store_apply(t->s, index, e, &t->ch);
	cr_assert_eq(rv, 0, "store_apply(%llu, %s) = %d", (unsigned long long)index,
		     entry_op_name(e->op), rv);
	cr_assert_eq(store_applied_index(t->s), index);
	t->index = index;
	return t->ch.result;
}

/* Apply and require success. */
#define H_OK(t, e)                                                                                 \
	do {                                                                                       \
		struct entry h_e_ = (e);                                                           \
		h_e_.request_id = ++h_request_id; /* a new request each time */                    \
		int64_t h_r_ = h_apply((t), &h_e_);                                                \
		cr_assert(h_r_ >= 0, "%s:%d: %s refused: %s", __FILE__, __LINE__,                  \
			  entry_op_name(h_e_.op), strerror((int)-h_r_));                           \
	} while (0)

/* Apply and require a refusal with @err (a positive errno). */
#define H_REFUSED(t, e, err)                                                                       \
	do {                                                                                       \
		struct entry h_e_ = (e);                                                           \
		h_e_.request_id = ++h_request_id; /* a new request each time */                    \
		int64_t h_r_ = h_apply((t), &h_e_);                                                \
		cr_assert_eq(h_r_, -(int64_t)(err), "%s:%d: %s: expected -%s, got %lld (%s)",      \
			     __FILE__, __LINE__, entry_op_name(h_e_.op), strerrorname_np(err),     \
			     (long long)h_r_, h_r_ < 0 ? strerrorname_np((int)-h_r_) : "success"); \
	} while (0)

static inline struct store_attr h_getattr(struct store *s, uint64_t ino)
{
	struct store_attr a;
	int rv = store_getattr(s, ino, &a);

	cr_assert_eq(rv, 0, "store_getattr(%llu) = %d", (unsigned long long)ino, rv);
	return a;
}

static inline struct store_attr h_lookup(struct store *s, uint64_t parent, const char *name)
{
	struct store_attr a;
	int rv = store_lookup(s, parent, name, &a);

	cr_assert_eq(rv, 0, "store_lookup(%llu, %s) = %d", (unsigned long long)parent, name, rv);
	return a;
}

/* Field by field (struct store_attr has padding, so no memcmp). */
#define H_ATTR_EQ(x, y)                                                                            \
	do {                                                                                       \
		const struct store_attr *h_x_ = &(x), *h_y_ = &(y);                                \
		cr_assert_eq(h_x_->ino, h_y_->ino, "ino");                                         \
		cr_assert_eq(h_x_->mode, h_y_->mode, "mode");                                      \
		cr_assert_eq(h_x_->nlink, h_y_->nlink, "nlink");                                   \
		cr_assert_eq(h_x_->uid, h_y_->uid, "uid");                                         \
		cr_assert_eq(h_x_->gid, h_y_->gid, "gid");                                         \
		cr_assert_eq(h_x_->size, h_y_->size, "size");                                      \
		cr_assert_eq(h_x_->mtime_ns, h_y_->mtime_ns, "mtime %lld != %lld",                 \
			     (long long)h_x_->mtime_ns, (long long)h_y_->mtime_ns);                \
		cr_assert_eq(h_x_->ctime_ns, h_y_->ctime_ns, "ctime %lld != %lld",                 \
			     (long long)h_x_->ctime_ns, (long long)h_y_->ctime_ns);                \
		cr_assert_eq(h_x_->revision, h_y_->revision, "revision %llu != %llu",              \
			     (unsigned long long)h_x_->revision,                                   \
			     (unsigned long long)h_y_->revision);                                  \
		cr_assert_eq(h_x_->writer_node, h_y_->writer_node, "writer_node");                 \
		cr_assert_eq(h_x_->writer_uid, h_y_->writer_uid, "writer_uid");                    \
		cr_assert_eq(h_x_->gen, h_y_->gen, "gen");                                         \
		cr_assert_eq(h_x_->parent, h_y_->parent, "parent");                                \
	} while (0)

/* Whole content as a malloc'd, NUL-terminated string (for text files). */
static inline char *h_content(struct store *s, uint64_t ino, size_t *len)
{
	void *data = NULL;
	size_t n = 0;
	int rv = store_read_all(s, ino, &data, &n);

	cr_assert_eq(rv, 0, "store_read_all(%llu) = %d", (unsigned long long)ino, rv);
	if (len != NULL)
		*len = n;
	return data;
}

#define H_CONTENT_EQ(s, ino, lit)                                                                  \
	do {                                                                                       \
		size_t h_n_;                                                                       \
		char *h_c_ = h_content((s), (ino), &h_n_);                                         \
		cr_assert_eq(h_n_, sizeof(lit) - 1, "content length %zu, expected %zu", h_n_,      \
			     sizeof(lit) - 1);                                                     \
		cr_assert(memcmp(h_c_, (lit), sizeof(lit) - 1) == 0, "content differs");           \
		free(h_c_);                                                                        \
	} while (0)

/* --- dumping the tree -------------------------------------------------------- */

struct h_names {
	char **name;
	uint64_t *ino;
	size_t n, cap;
};

static inline int h_collect(void *arg, const char *name, size_t len, uint64_t ino, uint32_t mode)
{
	struct h_names *l = arg;

	(void)mode;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->name = realloc(l->name, l->cap * sizeof(*l->name));
		l->ino = realloc(l->ino, l->cap * sizeof(*l->ino));
		cr_assert(l->name != NULL && l->ino != NULL);
	}
	l->name[l->n] = strndup(name, len);
	l->ino[l->n] = ino;
	l->n++;
	return 0;
}

static inline void h_names_free(struct h_names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->name[i]);
	free(l->name);
	free(l->ino);
	memset(l, 0, sizeof(*l));
}

static inline void h_escape(FILE *f, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++) {
		if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\')
			fputc(b[i], f);
		else
			fprintf(f, "\\x%02x", b[i]);
	}
}

/* The dump never asserts halfway (a failed assertion would leak the stream):
 * a read that fails becomes an "!error" line, which no good dump has. */
static inline void h_dump_inode(FILE *f, struct store *s, const char *path, uint64_t ino)
{
	struct store_attr a;
	char *names = NULL;
	size_t names_len = 0;
	int rv = store_getattr(s, ino, &a);

	if (rv != 0) {
		fprintf(f, "%s !error getattr(%llu) = %d\n", path, (unsigned long long)ino, rv);
		return;
	}
	fprintf(f,
		"%s ino=%llu mode=%o nlink=%u uid=%u gid=%u size=%llu mtime=%lld ctime=%lld "
		"rev=%llu wnode=%llu wuid=%u gen=%llu parent=%llu",
		path, (unsigned long long)a.ino, a.mode, a.nlink, a.uid, a.gid,
		(unsigned long long)a.size, (long long)a.mtime_ns, (long long)a.ctime_ns,
		(unsigned long long)a.revision, (unsigned long long)a.writer_node, a.writer_uid,
		(unsigned long long)a.gen, (unsigned long long)a.parent);
	if (!S_ISDIR(a.mode)) {
		void *data = NULL;
		size_t len = 0;

		rv = store_read_all(s, ino, &data, &len);
		if (rv == 0) {
			fputs(" data=\"", f);
			h_escape(f, data, len);
			fputc('"', f);
		} else {
			fprintf(f, " !error read_all = %d", rv);
		}
		free(data);
	}
	rv = store_listxattr(s, ino, &names, &names_len);
	if (rv != 0)
		fprintf(f, " !error listxattr = %d", rv);
	for (size_t off = 0; rv == 0 && off < names_len; off += strlen(names + off) + 1) {
		void *value = NULL;
		size_t vlen = 0;
		int rv2 = store_getxattr(s, ino, names + off, &value, &vlen);

		fprintf(f, " xattr[%s]=", names + off);
		if (rv2 == 0) {
			fputc('"', f);
			h_escape(f, value, vlen);
			fputc('"', f);
			free(value);
		} else {
			fprintf(f, "!error %d", rv2);
		}
	}
	if (rv == 0)
		free(names);
	fputc('\n', f);
}

static inline void h_dump_dir(FILE *f, struct store *s, uint64_t dir, const char *path, int depth)
{
	struct h_names l = {0};
	int rv;

	if (depth >= 64) {
		fprintf(f, "%s !error deeper than 64: a cycle?\n", path);
		return;
	}
	/* Collect first: recursing from inside the callback would reuse the
	 * store's readdir statement while it is still stepping. */
	rv = store_readdir(s, dir, h_collect, &l);
	if (rv != 0)
		fprintf(f, "%s !error readdir = %d\n", path, rv);
	for (size_t i = 0; i < l.n; i++) {
		char child[4096];
		struct store_attr a;

		snprintf(child, sizeof(child), "%s/%s", path, l.name[i]);
		h_dump_inode(f, s, child, l.ino[i]);
		if (store_getattr(s, l.ino[i], &a) == 0 && S_ISDIR(a.mode))
			h_dump_dir(f, s, l.ino[i], child, depth + 1);
	}
	h_names_free(&l);
}

/* Everything observable through the store's read interface, except the
 * applied index (compare that separately): every reachable name with its
 * attributes, content and xattrs, plus the byte and inode counts. */
static inline char *h_dump(struct store *s)
{
	struct store_stats st;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	int rv;

	cr_assert_not_null(f);
	rv = store_stats(s, &st);
	if (rv == 0)
		fprintf(f, "stats bytes=%llu max_bytes=%llu max_file=%llu inodes=%llu\n",
			(unsigned long long)st.bytes, (unsigned long long)st.max_bytes,
			(unsigned long long)st.max_file, (unsigned long long)st.inodes);
	else
		fprintf(f, "stats !error %d\n", rv);
	h_dump_inode(f, s, "", STORE_ROOT_INO);
	h_dump_dir(f, s, STORE_ROOT_INO, "", 0);
	fclose(f);
	return out;
}

/* Two dumps must be equal. On a difference, both are shown (in a static
 * buffer, so that nothing leaks when the assertion ends the test), freed,
 * and the test fails; when equal, the caller still owns both. */
__attribute__((format(printf, 3, 4))) static inline void h_same_dump(char *a, char *b,
								     const char *fmt, ...)
{
	static char msg[1 << 16];
	va_list ap;
	int n;

	if (strcmp(a, b) == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, "\n--- before\n%s--- after\n%s", a, b);
	free(a);
	free(b);
	cr_assert_fail("%s", msg);
}

#define H_DUMP_EQ(a, b) h_same_dump((a), (b), "tree changed")

#endif
