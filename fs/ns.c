/* Dispatch from the store's validator hooks to the namespace modules. */
#include "ns.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static bool ns_typed(uint64_t dir)
{
	return dir == STORE_GATES_INO;
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
	default:
		return 0;
	}
}

static int ns_check_content(uint64_t dir, const void **data, size_t *len, char *scratch,
			    size_t scratch_len)
{
	static const char yes[] = "true\n", no[] = "false\n";
	bool value;
	int rv;

	(void)scratch;
	(void)scratch_len;
	switch (dir) {
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

static const struct store_validator ns_store_validator = {
	.is_typed = ns_typed,
	.check_name = ns_check_name,
	.check_content = ns_check_content,
};

const struct store_validator *ns_validator(void)
{
	return &ns_store_validator;
}
