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

/* leases/: leases with expiry, decided from the leader's clock (ns_leases.c). */
#define NS_LEASE_HOLDER_MAX 128
/* The longest lease: a year. */
#define NS_LEASE_TTL_MAX 31536000u

struct ns_lease {
	char holder[NS_LEASE_HOLDER_MAX + 1];
	uint64_t ttl;			/* seconds */
	int64_t acquired_ms, expires_ms; /* Unix time, milliseconds */
	bool has_times;			/* acquired= and expires= were present */
};

int ns_leases_check_name(const char *name, size_t len);
/* Parse "holder=H ttl=S [acquired=T expires=T]" (any whitespace between
 * pairs). 0 or -EINVAL. */
int ns_leases_parse(const char *text, size_t len, struct ns_lease *l);
/* The stored form: holder, ttl, acquired, expires, one per line. */
int ns_leases_render(const struct ns_lease *l, char *out, size_t cap, size_t *out_len);
/* Decide a write of @req to a lease whose current content is @old (@exists
 * false: no such file) at the leader's time @stamp_ns: 0 with the new
 * content in @out, or with *release set (the file goes); -EBUSY (another
 * holder holds it), -ENOENT (release of a lease that does not exist) or
 * -EINVAL. */
int ns_leases_decide(const char *req, size_t req_len, const void *old, size_t old_len, bool exists,
		     int64_t stamp_ns, char *out, size_t cap, size_t *out_len, bool *release);
/* When stored lease content expires: 0 and *at_ns, or -ENOENT. */
int ns_leases_expires(const void *data, size_t len, int64_t *at_ns);

#endif
