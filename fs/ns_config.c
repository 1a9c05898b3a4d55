/*
 * config/: cluster-wide settings (DESIGN §4). config/deployment.type is
 * `local` or `maas` (default local when absent); other keys are free-form.
 */
#include <errno.h>
#include <string.h>

#include "ns.h"

#define CONFIG_DEPLOYMENT_TYPE "deployment.type"

static size_t trim(const char **p, size_t len)
{
	while (len > 0 && (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')) {
		(*p)++;
		len--;
	}
	while (len > 0 && ((*p)[len - 1] == ' ' || (*p)[len - 1] == '\t' ||
			   (*p)[len - 1] == '\n' || (*p)[len - 1] == '\r'))
		len--;
	return len;
}

int ns_config_check(const char *name, size_t name_len, const void **data, size_t *len)
{
	static const char local[] = "local\n", maas[] = "maas\n";
	const char *v = *data;
	size_t n;

	if (name_len != strlen(CONFIG_DEPLOYMENT_TYPE) ||
	    memcmp(name, CONFIG_DEPLOYMENT_TYPE, name_len) != 0)
		return 0;
	n = trim(&v, *len);
	if (n == 5 && memcmp(v, "local", 5) == 0) {
		*data = local;
		*len = sizeof(local) - 1;
		return 0;
	}
	if (n == 4 && memcmp(v, "maas", 4) == 0) {
		*data = maas;
		*len = sizeof(maas) - 1;
		return 0;
	}
	return -EINVAL;
}
