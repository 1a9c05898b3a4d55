/*
 * clusterfsd's settings: the defaults, the config file
 * (/etc/clusterfs/clusterfsd.conf, INI, one [clusterfsd] section) and the
 * flags, through one table of keys, so that a value is checked the same way
 * wherever it comes from (DESIGN §2). The keys are the long flags without
 * "--"; --recover, --join-token, --config, --help and --version are
 * command-line only. main() loads the file first and applies the flags
 * after it, so a flag overrides the file.
 *
 * Pure code (no loop, no threads): main's thread at start-up, unit-tested
 * in tests/unit/test_clusterfsd_config.c.
 */
#ifndef CFS_CLUSTERFSD_CONFIG_H
#define CFS_CLUSTERFSD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/log.h"
#include "../replication/node.h"

#define CLUSTERFSD_DEFAULT_MOUNT "/var/lib/clusterfs"
#define CLUSTERFSD_DEFAULT_DATA	 "/var/lib/clusterfsd"
/* The longest config file read: a few dozen keys fit many times over. */
#define CLUSTERFSD_CONFIG_MAX_LINE 4096

/* The keys that hold a path or an address: their values are copies owned
 * by the config. */
enum clusterfsd_config_string {
	CLUSTERFSD_CONFIG_MOUNT,
	CLUSTERFSD_CONFIG_DATA,
	CLUSTERFSD_CONFIG_ADDRESS,
	CLUSTERFSD_CONFIG_JOIN,
	CLUSTERFSD_CONFIG_JOIN_TOKEN_FILE,
	CLUSTERFSD_CONFIG_CLUSTER_KEY,
	CLUSTERFSD_CONFIG_N_STRINGS,
};

struct clusterfsd_config {
	struct node_config node; /* data_dir, address, join, key_file point into strings */
	const char *mount;
	const char *join_token_file; /* NULL: none */
	enum log_level log_level;
	unsigned busy_poll_us; /* common/busy_poll.h; 0: off */
	char *strings[CLUSTERFSD_CONFIG_N_STRINGS];
};

/* The embedded defaults (DESIGN §2). */
void clusterfsd_config_defaults(struct clusterfsd_config *c);

/* Set KEY (a long flag's name without "--") to VALUE. A flag without a
 * value (bootstrap) takes "true" or "false" (also yes/no, on/off, 1/0).
 * @flag: the value came from the command line, so messages say "--KEY".
 * Returns 0, -ENOENT for an unknown key, -EPERM for a key that only the
 * command line takes, -EINVAL for a bad value, -ENOMEM; a one-line reason
 * in @err. On error nothing is changed. */
int clusterfsd_config_set(struct clusterfsd_config *c, const char *key, const char *value,
			  bool flag, char *err, size_t errlen);

/* Read the config file at @path into @c. Returns 0 once read, 1 if
 * @path does not exist and @must_exist is false (the default file may be
 * missing), or a negative errno with "PATH:LINE: reason" (or "PATH: reason")
 * in @err: the first bad line; @c may then hold the lines before it. */
int clusterfsd_config_load(struct clusterfsd_config *c, const char *path, bool must_exist,
			   char *err, size_t errlen);

void clusterfsd_config_free(struct clusterfsd_config *c);

#endif
