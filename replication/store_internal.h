/*
 * Private to the store's own files (replication/store*.c): struct store, its
 * prepared statements, the context of an entry being applied, and the helpers
 * those files share. Nothing outside the store includes this header; the
 * public interface is store.h.
 *
 * Everything here is used on the libuv loop thread only, like the store
 * itself (see store.h): no locks.
 */
#ifndef CFS_STORE_INTERNAL_H
#define CFS_STORE_INTERNAL_H

#include "store.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The on-disk format version, checked at open. */
#define STORE_FORMAT 1
/* How the byte count is computed (meta "accounting"): 2 counts metadata
 * (STORE_INODE_COST, STORE_NAME_COST); a store without it counted content
 * and xattrs only, and is recounted at open (store_migrate_bytes). */
#define STORE_ACCOUNTING 2

/* Largest normalized value a typed namespace may produce. */
#define STORE_SCRATCH 65536

enum stmt {
	ST_GETATTR,
	ST_LOOKUP,
	ST_CHILD,
	ST_READ_DATA,
	ST_INSERT_INODE,
	ST_INSERT_DENTRY,
	ST_DELETE_DENTRY,
	ST_SET_DENTRY_INO,
	ST_DELETE_INODE,
	ST_DELETE_XATTRS,
	ST_SET_NLINK,
	ST_SET_DATA,
	ST_SET_META,
	ST_TOUCH,
	ST_SET_PARENT,
	ST_HAS_CHILDREN,
	ST_READDIR,
	ST_GETXATTR,
	ST_LISTXATTR,
	ST_SETXATTR,
	ST_REMOVEXATTR,
	ST_XATTR_BYTES,
	ST_META_GET,
	ST_META_SET,
	ST_ORPHANS,
	ST_COUNT_INODES,
	ST_REQ_GET,
	ST_REQ_PUT,
	ST_REQ_PRUNE,
	ST_NAME_OF,
	ST_LOG_PUT,
	ST_LOG_PRUNE,
	ST_LOG_READ,
	ST_SUBTREE_OVER,
	ST_RECOUNT,
	ST__N
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST__N];
	const struct store_validator *v;
	uint64_t applied;
	uint64_t bytes;
	uint64_t max_file;
	uint64_t max_bytes;
	/* The first sqlite error met since store_apply began (SQLITE_OK: none);
	 * see store_errno. */
	int fault;
	char scratch[STORE_SCRATCH]; /* for normalized values (loop thread only) */
	/* The open transaction of the entries applied this loop turn
	 * (store_apply.c, "group commit"), and what applied and bytes were
	 * before it; lost: a commit of it failed and rolled it back. */
	bool batching; /* store_set_batching: else each entry commits at once */
	bool batch, batch_lost;
	uint64_t batch_applied, batch_bytes;
	struct store_ckpt *ckpt;     /* store_checkpoint.c, or NULL */
	int write_error;	     /* a stopped checkpointer's (store_write_error) */
};

/* The context of one entry being applied. */
struct apply {
	struct store *s;
	uint64_t index;
	const struct entry *e;
	struct store_change *ch;
};

/* --- store_checkpoint.c: WAL checkpoints off the loop thread ------------- */

/* WAL pages after a commit that wake the checkpointer (sqlite's default
 * automatic checkpoint size). */
#define STORE_CKPT_PAGES 1000
/* WAL pages past which a commit finishes a checkpoint itself. */
#define STORE_CKPT_HARD_PAGES (4 * STORE_CKPT_PAGES)
/* A requested round that did not finish is run again this much later, at
 * most this many times (10 s). */
#define STORE_CKPT_RETRY_MS 100
#define STORE_CKPT_RETRIES 100

/* Checkpoint @s's WAL in a thread of its own from now on (a file-backed
 * store; nothing for an in-memory one). Without memory or a thread,
 * sqlite's automatic checkpoints stay. */
void store_ckpt_start(struct store *s);
/* Stop it, waiting for a checkpoint in progress; sqlite's automatic
 * checkpoints resume while the connection stays open. */
void store_ckpt_stop(struct store *s);
/* Checkpoint soon (the checkpointer's next round, run again until it
 * finishes), or now on this connection if there is no checkpointer. */
void store_ckpt_request(struct store *s);
/* Checkpoints the thread has run (tests). */
uint64_t store_ckpt_count(struct store *s);

/* --- store.c: statements, transactions, meta --------------------------- */

/* The errno for a failed sqlite call; remembers the failure in s->fault. */
int store_errno(struct store *s, int rc);
/* For a step whose rows the caller reads itself: 0 for SQLITE_ROW, DONE and
 * OK, else store_errno. */
int store_note(struct store *s, int rc);
/* The errno store_apply reports for s->fault: 0 (none), -ENOSPC (the disk
 * is full), -ENOMEM, -EUCLEAN (corrupt) or -EIO. */
int store_fault_errno(struct store *s);
/* Prepared statement @id, reset and with its bindings cleared. */
sqlite3_stmt *store_stmt(struct store *s, enum stmt id);
/* Run a statement that returns no rows. */
int store_step_done(struct store *s, sqlite3_stmt *st);
int store_exec(struct store *s, const char *sql);
int store_meta_get(struct store *s, const char *key, uint64_t *out);
int store_meta_set(struct store *s, const char *key, uint64_t value);
/* Load the cached meta values; the store must have been initialised. */
int store_load_meta(struct store *s);
int store_migrate(struct store *s);
/* Recount the bytes of a store of an earlier accounting (see
 * STORE_ACCOUNTING) and record the new count; nothing for a current one. */
int store_migrate_bytes(struct store *s);
/* Prepare every statement of st[] / finalize them (store_replace closes
 * and reopens the connection). */
int store_prepare(struct store *s);
void store_finalize(struct store *s);

/* --- store_tree.c: names, directories, inode rows ---------------------- */

int store_lookup_n(struct store *s, uint64_t parent, const char *name, size_t len,
		   struct store_attr *a);
/* The attributes of directory @ino: 0, -ENOENT or -ENOTDIR. */
int store_dir_attr(struct store *s, uint64_t ino, struct store_attr *a);
/* A name of @ino in @dir, for a namespace's content check. */
size_t store_name_in(struct store *s, uint64_t ino, char *buf, size_t cap);
int store_set_nlink(struct store *s, uint64_t ino, uint32_t nlink);
/* Stamp a change on @ino: ctime (and mtime if @content), revision, writer. */
int store_touch(struct apply *ap, uint64_t ino, int content);
/* Add or remove a name, charging or giving back what it costs (-ENOSPC). */
int store_insert_dentry(struct store *s, uint64_t parent, const char *name, size_t len,
			uint64_t ino);
int store_delete_dentry(struct store *s, uint64_t parent, const char *name, size_t len);
/* The row alone, uncharged (the first tree, counted as a whole). */
int store_insert_name_row(struct store *s, uint64_t parent, const char *name, size_t len,
			  uint64_t ino);
/* Delete an inode row and its xattrs, giving back what it was charged. */
int store_delete_inode(struct store *s, const struct store_attr *a);
/* Drop one name of a non-directory (an orphan at nlink 0). */
int store_unlink_inode(struct apply *ap, const struct store_attr *a);
int store_apply_create(struct apply *ap);
int store_apply_link(struct apply *ap);
int store_apply_unlink(struct apply *ap);
int store_apply_rename(struct apply *ap);

/* --- store_content.c: file content and attributes ---------------------- */

/* The write removes the file (a lease released): drop its name. */
int store_remove_name(struct apply *ap, const struct store_attr *a, const char *name, size_t n);
/* Store already checked content (identical content is a no-op). */
int store_set_content_checked(struct apply *ap, const struct store_attr *a, const void *data,
			      size_t len, const void *old, size_t old_len);
int store_apply_write(struct apply *ap);
int store_apply_setattr(struct apply *ap);

/* --- store_xattr.c ------------------------------------------------------ */

uint64_t store_xattr_bytes(struct store *s, uint64_t ino);
int store_apply_setxattr(struct apply *ap);
int store_apply_removexattr(struct apply *ap);

/* --- store_orphans.c ---------------------------------------------------- */

/* The inode a by-inode entry targets: 0, 1 for an orphan or a missing
 * inode (a->ino 0), or -errno. */
int store_target_inode(struct store *s, uint64_t ino, struct store_attr *a);

/* --- store_limits.c ----------------------------------------------------- */

/* The bytes an inode holds against the store limit. */
uint64_t store_inode_bytes(struct store *s, const struct store_attr *a);
/* Account @grow more bytes (may be negative): 0 or -ENOSPC. */
int store_charge(struct store *s, int64_t grow);
/* What a name of @len bytes costs. */
uint64_t store_name_bytes(size_t len);

/* --- store_typed.c: the typed namespaces' validator -------------------- */

bool store_typed(struct store *s, uint64_t dir);
bool store_names_held(struct store *s, uint64_t dir);
int store_check_name(struct store *s, uint64_t dir, const char *name, size_t len, uint32_t mode);
int store_check_content(struct apply *ap, uint64_t dir, const char *name, size_t name_len,
			const void *old, size_t old_len, const void **data, size_t *len,
			bool *remove);
/* Why the namespace would refuse @data for the existing file @a. */
int store_refusal_of(struct apply *ap, const struct store_attr *a, const char *name, size_t n,
		     const void *data, size_t len);
int store_apply_expire(struct apply *ap);
int store_apply_multi(struct apply *ap);

/* --- store_pathlimit.c: the path limit --------------------------------- */

/* The length of directory @dir's path: 0, -ENAMETOOLONG (over the limit),
 * -ENOENT or -errno. */
int store_dir_path_len(struct store *s, uint64_t dir, size_t *len);
/* May inode @a, named with @old_name_len bytes in @from, be named with
 * @new_name_len bytes in @to? Its new path, and for a directory every
 * path below it, must fit. 0, -ENAMETOOLONG or -errno. */
int store_check_move(struct store *s, const struct store_attr *a, uint64_t from,
		     size_t old_name_len, uint64_t to, size_t new_name_len);

/* --- store_log.c -------------------------------------------------------- */

/* Keep an applied change in the log behind .cluster/log. */
int store_log_change(struct store *s, uint64_t index, const struct entry *e);

#endif
