/* Dispatch from the store's validator hooks to the namespace modules. */
#include "ns.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static bool ns_typed(uint64_t dir)
{
	return dir == STORE_GATES_INO || dir == STORE_PEERS_INO || dir == STORE_LEASES_INO ||
	       dir == STORE_CONFIG_INO;
}

bool ns_is_typed(uint64_t dir)
{
	return ns_typed(dir);
}

int ns_check_name(uint64_t dir, const char *name, size_t len, uint32_t mode)
{
	if (!ns_typed(dir))
		return 0;
	/* Typed directories hold values, one regular file each. */
	if ((mode & S_IFMT) != S_IFREG)
		return -EINVAL;
	switch (dir) {
	case STORE_GATES_INO:
		return ns_gates_check_name(name, len);
	case STORE_PEERS_INO:
		return ns_peers_check_name(name, len);
	case STORE_LEASES_INO:
		return ns_leases_check_name(name, len);
	default:
		return 0;
	}
}

static int ns_check_content(struct store_check *c, const void **data, size_t *len)
{
	static const char yes[] = "true\n", no[] = "false\n";
	size_t out_len;
	bool value;
	int rv;

	switch (c->dir) {
	case STORE_PEERS_INO:
		rv = ns_peers_normalize(*data, *len, c->scratch, c->scratch_len, &out_len);
		if (rv != 0)
			return rv;
		*data = c->scratch;
		*len = out_len;
		return 0;
	case STORE_LEASES_INO:
		rv = ns_leases_decide(*data, *len, c->old, c->old_len, c->exists, c->stamp_ns,
				      c->scratch, c->scratch_len, &out_len, &c->remove);
		if (rv != 0)
			return rv;
		*data = c->scratch;
		*len = c->remove ? 0 : out_len;
		return 0;
	case STORE_CONFIG_INO:
		return ns_config_check(c->name, c->name_len, data, len);
	case STORE_GATES_INO:
		rv = ns_gates_parse(*data, *len, &value);
		if (rv != 0)
			return rv;
		*data = value ? yes : no;
		*len = value ? sizeof(yes) - 1 : sizeof(no) - 1;
		return 0;
	default:
		return 0;
	}
}

static int ns_expires(uint64_t dir, const void *data, size_t len, int64_t *at_ns)
{
	if (dir != STORE_LEASES_INO)
		return -ENOENT;
	return ns_leases_expires(data, len, at_ns);
}

/* Peers carry credentials: 0600 whatever the creator asked. */
static uint32_t ns_create_mode(uint64_t dir, uint32_t requested)
{
	return dir == STORE_PEERS_INO ? 0600 : requested & 07777;
}

/* A lease is held by its name: mv or ln would move or copy a holding past
 * the decision of ns_leases_decide. */
static bool ns_names_held(uint64_t dir)
{
	return dir == STORE_LEASES_INO;
}

static const struct store_validator ns_store_validator = {
	.is_typed = ns_typed,
	.check_name = ns_check_name,
	.check_content = ns_check_content,
	.create_mode = ns_create_mode,
	.expires = ns_expires,
	.names_held = ns_names_held,
};

const struct store_validator *ns_validator(void)
{
	return &ns_store_validator;
}
