/*
 * clusterfs-watch applied state: for each (rule, path), a hash of the value
 * whose command last succeeded. Reconciliation compares the tree with it
 * (DESIGN §6), so a watcher that was down catches up, deletions included.
 *
 * Kept in memory, saved to DIR/applied (one "RULE HASH PATH" line per entry,
 * PATH percent-escaped) by writing DIR/applied.tmp, fsync and rename, so a
 * crash leaves the old file or the new one. DIR/lock is flock'ed for the
 * life of the process: two watchers never share one state. Owned by the
 * watcher's single thread.
 */
#ifndef CFS_WATCH_STATE_H
#define CFS_WATCH_STATE_H

#include <stdbool.h>
#include <stddef.h>

#define STATE_HASH_LEN 32 /* hex characters of a value's hash */

struct state;

/* Lock and load DIR (created, mode 0700, if missing). -EBUSY if another
 * process holds it; other negative errnos; err says what and where. */
int state_open(const char *dir, struct state **out, char *err, size_t errlen);
void state_close(struct state *s);

/* The hash of a value (BLAKE2b from libsodium, 128 bits, hex). */
void state_hash(const void *data, size_t len, char out[STATE_HASH_LEN + 1]);

/* The hash applied for (rule, path), or NULL. */
const char *state_get(struct state *s, const char *rule, const char *path);
int state_set(struct state *s, const char *rule, const char *path, const char *hash);
void state_del(struct state *s, const char *rule, const char *path);

/* Forget every entry of RULE (all rules not in KEEP when rule is NULL:
 * KEEP is an array of N rule names). */
void state_drop_rule(struct state *s, const char *rule);
void state_drop_others(struct state *s, const char *const *keep, size_t n);

/* Call FN for every entry (FN must not change the state). */
void state_each(struct state *s, void (*fn)(void *arg, const char *rule, const char *path),
		void *arg);

size_t state_count(struct state *s);

/* Has anything changed since the last save? */
bool state_dirty(struct state *s);

/* Write the file if anything changed since the last save. 0 or -errno. */
int state_save(struct state *s);

#endif
