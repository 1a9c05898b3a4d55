/* clusterfsd's settings from the config file and the flags: see
 * clusterfsd_config.h. Main thread, at start-up only. */
#include "clusterfsd_config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/busy_poll.h"

/* The one section of the file. */
#define CONFIG_SECTION "clusterfsd"

enum config_key {
	/* the first CLUSTERFSD_CONFIG_N_STRINGS are enum clusterfsd_config_string */
	KEY_BOOTSTRAP = CLUSTERFSD_CONFIG_N_STRINGS,
	KEY_MAX_VOTERS,
	KEY_COMMIT_TIMEOUT,
	KEY_ELECTION_TIMEOUT,
	KEY_SNAPSHOT_THRESHOLD,
	KEY_SNAPSHOT_TRAILING,
	KEY_DISK_RESERVE,
	KEY_BUSY_POLL,
	KEY_LOG_LEVEL,
	KEY_N,
};

static const char *const config_key_names[KEY_N] = {
    [CLUSTERFSD_CONFIG_MOUNT] = "mount",
    [CLUSTERFSD_CONFIG_DATA] = "data",
    [CLUSTERFSD_CONFIG_ADDRESS] = "address",
    [CLUSTERFSD_CONFIG_JOIN] = "join",
    [CLUSTERFSD_CONFIG_JOIN_TOKEN_FILE] = "join-token-file",
    [CLUSTERFSD_CONFIG_CLUSTER_KEY] = "cluster-key",
    [KEY_BOOTSTRAP] = "bootstrap",
    [KEY_MAX_VOTERS] = "max-voters",
    [KEY_COMMIT_TIMEOUT] = "commit-timeout",
    [KEY_ELECTION_TIMEOUT] = "election-timeout",
    [KEY_SNAPSHOT_THRESHOLD] = "snapshot-threshold",
    [KEY_SNAPSHOT_TRAILING] = "snapshot-trailing",
    [KEY_DISK_RESERVE] = "disk-reserve",
    [KEY_BUSY_POLL] = "busy-poll",
    [KEY_LOG_LEVEL] = "log-level",
};

/* Flags that the file may not set, and why. */
static const struct {
	const char *name, *why;
} config_flag_only[] = {
    {"join-token", "it would keep the cluster key in the file; use join-token-file"},
    {"recover", "it is a one-off offline command"},
    {"config", "it names the file itself"},
    {"help", "it is a command"},
    {"version", "it is a command"},
};

void clusterfsd_config_defaults(struct clusterfsd_config *c)
{
	memset(c, 0, sizeof(*c));
	node_config_defaults(&c->node);
	c->node.data_dir = CLUSTERFSD_DEFAULT_DATA;
	c->node.bootstrap = true;
	c->mount = CLUSTERFSD_DEFAULT_MOUNT;
	c->log_level = LOG_LEVEL_INFO;
}

void clusterfsd_config_free(struct clusterfsd_config *c)
{
	for (int i = 0; i < CLUSTERFSD_CONFIG_N_STRINGS; i++) {
		free(c->strings[i]);
		c->strings[i] = NULL;
	}
}

static int config_key_find(const char *name)
{
	for (int i = 0; i < KEY_N; i++)
		if (strcmp(name, config_key_names[i]) == 0)
			return i;
	return -1;
}

/* A whole number in [min, max], or -1. */
static long config_number(const char *value, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
		return -1;
	return v;
}

static int config_bool(const char *value, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int config_set_string(struct clusterfsd_config *c, int key, const char *value)
{
	char *copy = strdup(value);

	if (copy == NULL)
		return -ENOMEM;
	free(c->strings[key]);
	c->strings[key] = copy;
	switch (key) {
	case CLUSTERFSD_CONFIG_MOUNT:
		c->mount = copy;
		break;
	case CLUSTERFSD_CONFIG_DATA:
		c->node.data_dir = copy;
		break;
	case CLUSTERFSD_CONFIG_ADDRESS:
		c->node.address = copy;
		break;
	case CLUSTERFSD_CONFIG_JOIN:
		c->node.join = copy;
		break;
	case CLUSTERFSD_CONFIG_JOIN_TOKEN_FILE:
		c->join_token_file = copy;
		break;
	default:
		c->node.key_file = copy;
		break;
	}
	return 0;
}

/* The numbers: 0, or -EINVAL with what the key takes in @err. */
static int config_set_number(struct clusterfsd_config *c, int key, const char *value,
			     const char *name, char *err, size_t errlen)
{
	long v;

	switch (key) {
	case KEY_MAX_VOTERS:
		v = config_number(value, 1, 9);
		if (v < 0 || v % 2 == 0)
			goto bad;
		c->node.max_voters = (unsigned)v;
		return 0;
	case KEY_COMMIT_TIMEOUT: {
		char *end;
		double secs = strtod(value, &end);

		if (end == value || *end != '\0' || !(secs > 0 && secs <= 3600))
			goto bad;
		c->node.commit_timeout_ms = (unsigned)(secs * 1000);
		return 0;
	}
	case KEY_ELECTION_TIMEOUT:
		v = config_number(value, 50, 1000000);
		if (v < 0)
			goto bad;
		c->node.election_timeout_ms = (unsigned)v;
		c->node.heartbeat_ms = (unsigned)(v / 6 > 10 ? v / 6 : 10);
		return 0;
	case KEY_SNAPSHOT_THRESHOLD:
	case KEY_SNAPSHOT_TRAILING:
		v = config_number(value, 1, 1000000);
		if (v < 0)
			goto bad;
		if (key == KEY_SNAPSHOT_THRESHOLD)
			c->node.snapshot_threshold = (unsigned)v;
		else
			c->node.snapshot_trailing = (unsigned)v;
		return 0;
	case KEY_BUSY_POLL:
		v = config_number(value, 0, BUSY_POLL_MAX_US);
		if (v < 0)
			goto bad;
		c->busy_poll_us = (unsigned)v;
		return 0;
	default: /* KEY_DISK_RESERVE */
		v = config_number(value, 0, 1024 * 1024);
		if (v < 0)
			goto bad;
		c->node.disk_reserve_bytes = (uint64_t)v << 20;
		return 0;
	}
bad:
	snprintf(err, errlen, "%s %s", name,
		 key == KEY_MAX_VOTERS	       ? "must be odd, from 1 to 9"
		 : key == KEY_COMMIT_TIMEOUT   ? "must be a number of seconds (0 < S <= 3600)"
		 : key == KEY_ELECTION_TIMEOUT ? "needs a number of ms from 50 to 1000000"
		 : key == KEY_DISK_RESERVE     ? "needs a number of MiB (0 to 1048576)"
		 : key == KEY_BUSY_POLL	       ? "needs a number of microseconds (0 to 1000)"
					       : "needs a number from 1 to 1000000");
	return -EINVAL;
}

int clusterfsd_config_set(struct clusterfsd_config *c, const char *key, const char *value,
			  bool flag, char *err, size_t errlen)
{
	int k = config_key_find(key);
	char name[64];
	bool b;

	snprintf(name, sizeof(name), "%s%s", flag ? "--" : "", key);
	if (k < 0) {
		for (size_t i = 0; i < sizeof(config_flag_only) / sizeof(config_flag_only[0]); i++)
			if (strcmp(key, config_flag_only[i].name) == 0) {
				snprintf(err, errlen, "%s is for the command line only: %s", key,
					 config_flag_only[i].why);
				return -EPERM;
			}
		snprintf(err, errlen, "unknown key '%s'", key);
		return -ENOENT;
	}
	if (k < CLUSTERFSD_CONFIG_N_STRINGS) {
		if (value[0] == '\0') {
			snprintf(err, errlen, "%s needs a value", name);
			return -EINVAL;
		}
		return config_set_string(c, k, value);
	}
	switch (k) {
	case KEY_BOOTSTRAP:
		if (config_bool(value, &b) != 0) {
			snprintf(err, errlen, "%s must be true or false", name);
			return -EINVAL;
		}
		c->node.bootstrap = b;
		return 0;
	case KEY_LOG_LEVEL:
		if (log_parse_level(value, &c->log_level) != 0) {
			snprintf(err, errlen, "%s must be debug, info, warn or error", name);
			return -EINVAL;
		}
		return 0;
	default:
		return config_set_number(c, k, value, name, err, errlen);
	}
}

/* --- the file --------------------------------------------------------------- */

struct config_parse {
	struct clusterfsd_config *c;
	const char *path;
	FILE *f;
	int line;	    /* the line being parsed */
	bool at_line_start; /* the next read starts a line */
	int failed_line;    /* 0, or the line of the first error */
	char *err;
	size_t errlen;
};

static void config_fail(struct config_parse *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void config_fail(struct config_parse *ps, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	if (ps->failed_line != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	ps->failed_line = ps->line;
	snprintf(ps->err, ps->errlen, "%s:%d: %s", ps->path, ps->line, what);
}

/* inih reads lines through this, so that the line number is known in the
 * handler, and a section header is checked even when no key follows it. */
static char *config_reader(char *str, int num, void *stream)
{
	struct config_parse *ps = stream;
	const char *s;
	size_t n;

	if (fgets(str, num, ps->f) == NULL)
		return NULL;
	n = strlen(str);
	if (ps->at_line_start) {
		ps->line++;
		for (s = str; *s == ' ' || *s == '\t'; s++)
			;
		if (*s == '[') {
			size_t len = strcspn(s + 1, "]");

			if (s[1 + len] != ']' || len != strlen(CONFIG_SECTION) ||
			    strncmp(s + 1, CONFIG_SECTION, len) != 0)
				config_fail(
				    ps,
				    "unknown section [%.*s]; the only one is [" CONFIG_SECTION "]",
				    (int)(len < 64 ? len : 64), s + 1);
		}
	}
	ps->at_line_start = n > 0 && str[n - 1] == '\n';
	return str;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_parse *ps = user;
	char why[256];

	if (ps->failed_line != 0)
		return 0;
	if (strcmp(section, CONFIG_SECTION) != 0) {
		if (section[0] == '\0')
			config_fail(ps, "'%s' is outside the [" CONFIG_SECTION "] section", name);
		return 0; /* an unknown section was reported by the reader */
	}
	if (clusterfsd_config_set(ps->c, name, value, false, why, sizeof(why)) != 0) {
		config_fail(ps, "%s", why);
		return 0;
	}
	return 1;
}

int clusterfsd_config_load(struct clusterfsd_config *c, const char *path, bool must_exist,
			   char *err, size_t errlen)
{
	struct config_parse ps = {
	    .c = c, .path = path, .at_line_start = true, .err = err, .errlen = errlen};
	int rc;

	ps.f = fopen(path, "r");
	if (ps.f == NULL) {
		int e = errno;

		if (e == ENOENT && !must_exist)
			return 1;
		snprintf(err, errlen, "%s: cannot read the config file: %s", path, strerror(e));
		return -e;
	}
	/* Comments are whole lines: a ';' or '#' in a value is kept. No
	 * continuation lines: an indented line is a key of its own. */
	ini_allow_inline_comments = false;
	ini_allow_multiline = false;
	ini_stop_on_first_error = true;
	ini_use_stack = false;
	ini_allow_realloc = false;
	ini_max_line = CLUSTERFSD_CONFIG_MAX_LINE;
	rc = ini_parse_stream(config_reader, &ps, config_handler, &ps);
	if (rc > 0 && ps.failed_line == 0) {
		ps.line = rc;
		config_fail(&ps, "not an INI line (expected [" CONFIG_SECTION "], KEY = VALUE or a "
				 "# comment)");
	} else if (rc < 0 && ps.failed_line == 0) {
		config_fail(&ps, "out of memory");
	}
	if (ferror(ps.f) && ps.failed_line == 0)
		config_fail(&ps, "read error");
	fclose(ps.f);
	return ps.failed_line != 0 ? -EINVAL : 0;
}
