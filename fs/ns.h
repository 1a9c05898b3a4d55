/*
 * Typed namespaces: top-level directories whose names and values the
 * cluster checks (DESIGN §4). Each namespace is one module (ns_gates.c, …)
 * that validates names, validates and normalizes content, and is plugged
 * into the store through ns_validator(), so the FSM has the last word and
 * the FUSE front end can refuse bad names early with the same rules.
 *
 * Pure functions of their inputs: no state, any thread.
 */
#ifndef CFS_NS_H
#define CFS_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../replication/store.h"

/* The validator to hand to store_open(). */
const struct store_validator *ns_validator(void);

/* Is @dir (an inode) a typed directory? */
bool ns_is_typed(uint64_t dir);

/* Same checks as the validator, for the front end. */
int ns_check_name(uint64_t dir, const char *name, size_t len, uint32_t mode);

/* gates/: feature gates. */
int ns_gates_check_name(const char *name, size_t len);
/* Parse a gate value (true/false/1/0/yes/no/on/off, any case, surrounding
 * whitespace ignored). Returns 0 and sets *value, or -EINVAL. */
int ns_gates_parse(const char *text, size_t len, bool *value);

/* peers/: remote peers. */
int ns_peers_check_name(const char *name, size_t len);
/* HOST:PORT with an IPv4 address, [IPv6] or a host name. 0 or -EINVAL. */
int ns_peers_check_address(const char *value, size_t len);
/* Validate key=value pairs and write them one per line to @out (@cap
 * bytes). 0 or -EINVAL. */
int ns_peers_normalize(const char *in, size_t len, char *out, size_t cap, size_t *out_len);

/* config/: deployment.type is local or maas; other keys free-form. May
 * replace the data with the normalized value. 0 or -EINVAL. */
int ns_config_check(const char *name, size_t name_len, const void **data, size_t *len);

#endif
