/*
 * clusterfsd's settings (tools/clusterfsd_config.c): the defaults; a config
 * file's keys set the values; a later set (a flag) overrides them; every
 * bad file — unknown key, unknown section, a key outside the section, a
 * flag that only the command line takes, a bad value, a line that is not
 * INI — is refused with "PATH:LINE: reason" naming the first bad line; a
 * missing default file is not an error, a missing explicit one is; the
 * example etc/clusterfsd.conf (every key commented out) changes nothing.
 * Also the journal-stream test of common/log.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../common/log.h"
#include "../../tools/clusterfsd_config.h"
#include "helpers.h"

static char dir[PATH_MAX];
static char path[PATH_MAX + 16];
static struct clusterfsd_config cfg;
static char err[PATH_MAX + 512];

static void setup(void)
{
	h_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/c.conf", dir);
	clusterfsd_config_defaults(&cfg);
	err[0] = '\0';
}

static void teardown(void)
{
	clusterfsd_config_free(&cfg);
	h_rmtree(dir);
}

TestSuite(clusterfsd_config, .init = setup, .fini = teardown);

static int load_text(const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return clusterfsd_config_load(&cfg, path, true, err, sizeof(err));
}

/* The file is refused and the message is "PATH:LINE: " + @what. */
static void assert_refused(const char *text, int line, const char *what)
{
	char want[PATH_MAX + 64];

	cr_assert_eq(load_text(text), -EINVAL, "accepted: %s", text);
	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "[%s] does not start with [%s]", err,
		     want);
	cr_assert_not_null(strstr(err, what), "[%s] does not say [%s]", err, what);
	cr_assert_null(strchr(err, '\n'));
}

Test(clusterfsd_config, defaults)
{
	cr_assert_str_eq(cfg.mount, "/var/lib/clusterfs");
	cr_assert_str_eq(cfg.node.data_dir, "/var/lib/clusterfsd");
	cr_assert_null(cfg.node.address);
	cr_assert_null(cfg.node.join);
	cr_assert_null(cfg.join_token_file);
	cr_assert(cfg.node.bootstrap);
	cr_assert_eq(cfg.log_level, LOG_LEVEL_INFO);
	cr_assert_eq(cfg.node.max_voters, NODE_DEFAULT_MAX_VOTERS);
}

Test(clusterfsd_config, every_key)
{
	cr_assert_eq(load_text("# comment\n; another\n\n[clusterfsd]\n"
			       "mount = /srv/m\ndata=/srv/d\naddress = 10.0.0.2:7440\n"
			       "bootstrap = false\njoin = 10.0.0.1:7440,10.0.0.3:7440\n"
			       "join-token-file = /root/tok\ncluster-key = /srv/key\n"
			       "max-voters = 5\ncommit-timeout = 2.5\nelection-timeout = 600\n"
			       "snapshot-threshold = 100\nsnapshot-trailing = 200\n"
			       "disk-reserve = 32\nbusy-poll = 150\nlog-level = debug\n"),
		     0, "%s", err);
	cr_assert_str_eq(cfg.mount, "/srv/m");
	cr_assert_str_eq(cfg.node.data_dir, "/srv/d");
	cr_assert_str_eq(cfg.node.address, "10.0.0.2:7440");
	cr_assert_not(cfg.node.bootstrap);
	cr_assert_str_eq(cfg.node.join, "10.0.0.1:7440,10.0.0.3:7440");
	cr_assert_str_eq(cfg.join_token_file, "/root/tok");
	cr_assert_str_eq(cfg.node.key_file, "/srv/key");
	cr_assert_eq(cfg.node.max_voters, 5);
	cr_assert_eq(cfg.node.commit_timeout_ms, 2500);
	cr_assert_eq(cfg.node.election_timeout_ms, 600);
	cr_assert_eq(cfg.node.heartbeat_ms, 100);
	cr_assert_eq(cfg.node.snapshot_threshold, 100);
	cr_assert_eq(cfg.node.snapshot_trailing, 200);
	cr_assert_eq(cfg.node.disk_reserve_bytes, 32ull << 20);
	cr_assert_eq(cfg.busy_poll_us, 150);
	cr_assert_eq(cfg.log_level, LOG_LEVEL_DEBUG);
}

Test(clusterfsd_config, a_flag_overrides_the_file)
{
	cr_assert_eq(load_text("[clusterfsd]\naddress = 10.0.0.2:7440\nlog-level = debug\n"), 0);
	cr_assert_eq(clusterfsd_config_set(&cfg, "address", "10.0.0.9:7000", true, err,
					   sizeof(err)),
		     0);
	cr_assert_eq(clusterfsd_config_set(&cfg, "log-level", "warn", true, err, sizeof(err)), 0);
	cr_assert_str_eq(cfg.node.address, "10.0.0.9:7000");
	cr_assert_eq(cfg.log_level, LOG_LEVEL_WARN);
}

Test(clusterfsd_config, bad_files_name_the_line)
{
	assert_refused("[clusterfsd]\nmount = /m\ncolour = blue\n", 3, "unknown key 'colour'");
	assert_refused("mount = /m\n", 1, "outside the [clusterfsd] section");
	assert_refused("[clusterfsd]\n[other]\n", 2, "unknown section [other]");
	assert_refused("[clusterfsd]\n\njoin-token = cfs1:k@h:1\n", 3, "command line only");
	assert_refused("[clusterfsd]\nrecover = true\n", 2, "command line only");
	assert_refused("[clusterfsd]\nmax-voters = 4\n", 2, "max-voters must be odd");
	assert_refused("[clusterfsd]\nmax-voters = 3x\n", 2, "max-voters must be odd");
	assert_refused("[clusterfsd]\ncommit-timeout = 0\n", 2, "commit-timeout must be");
	assert_refused("[clusterfsd]\nelection-timeout = 10\n", 2, "election-timeout needs");
	assert_refused("[clusterfsd]\nsnapshot-threshold = -1\n", 2, "snapshot-threshold needs");
	assert_refused("[clusterfsd]\ndisk-reserve = lots\n", 2, "disk-reserve needs");
	assert_refused("[clusterfsd]\nbusy-poll = 1001\n", 2, "busy-poll needs a number of microseconds");
	assert_refused("[clusterfsd]\nbusy-poll = -5\n", 2, "busy-poll needs");
	assert_refused("[clusterfsd]\nbootstrap = maybe\n", 2, "bootstrap must be true or false");
	assert_refused("[clusterfsd]\nlog-level = loud\n", 2, "log-level must be debug");
	assert_refused("[clusterfsd]\nmount =\n", 2, "mount needs a value");
	assert_refused("[clusterfsd]\njust words\n", 2, "not an INI line");
	/* The first bad line is named, not a later one. */
	assert_refused("[clusterfsd]\nbogus = 1\nmax-voters = 2\n", 2, "unknown key 'bogus'");
}

Test(clusterfsd_config, a_bad_value_changes_nothing)
{
	int before = (int)cfg.node.max_voters;

	cr_assert_eq(clusterfsd_config_set(&cfg, "max-voters", "8", true, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq((int)cfg.node.max_voters, before);
	cr_assert_str_eq(err, "--max-voters must be odd, from 1 to 9");
	cr_assert_eq(clusterfsd_config_set(&cfg, "nope", "1", true, err, sizeof(err)), -ENOENT);
}

Test(clusterfsd_config, missing_files)
{
	snprintf(path, sizeof(path), "%s/none.conf", dir);
	cr_assert_eq(clusterfsd_config_load(&cfg, path, false, err, sizeof(err)), 1);
	cr_assert_eq(clusterfsd_config_load(&cfg, path, true, err, sizeof(err)), -ENOENT);
	cr_assert_not_null(strstr(err, "none.conf: cannot read the config file"));
}

Test(clusterfsd_config, the_shipped_example_changes_nothing)
{
	struct clusterfsd_config defaults;

	clusterfsd_config_defaults(&defaults);
	cr_assert_eq(clusterfsd_config_load(&cfg, SOURCE_ROOT "/etc/clusterfsd.conf", true, err,
					    sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(memcmp(&cfg.node, &defaults.node, sizeof(defaults.node)), 0);
	cr_assert_str_eq(cfg.mount, defaults.mount);
	cr_assert_eq(cfg.log_level, defaults.log_level);
}

Test(clusterfsd_config, the_shipped_example_keys_all_parse)
{
	/* Uncomment every "#key = value" line of the example: all valid. */
	FILE *in = fopen(SOURCE_ROOT "/etc/clusterfsd.conf", "r");
	char line[512], text[8192] = "";
	int keys = 0;

	cr_assert_not_null(in);
	while (fgets(line, sizeof(line), in) != NULL) {
		if (line[0] == '#' && line[1] != ' ' && line[1] != '\n' && strchr(line, '=')) {
			strcat(text, line + 1);
			keys++;
		} else if (line[0] == '[') {
			strcat(text, line);
		}
	}
	fclose(in);
	cr_assert_eq(keys, 15, "the example shows %d keys", keys);
	cr_assert_eq(load_text(text), 0, "%s", err);
	/* The numbers it shows are the defaults. */
	cr_assert_eq(cfg.node.max_voters, NODE_DEFAULT_MAX_VOTERS);
	cr_assert_eq(cfg.node.commit_timeout_ms, NODE_DEFAULT_COMMIT_TIMEOUT_MS);
	cr_assert_eq(cfg.node.election_timeout_ms, NODE_DEFAULT_ELECTION_TIMEOUT_MS);
	cr_assert_eq(cfg.node.snapshot_threshold, NODE_DEFAULT_SNAPSHOT_THRESHOLD);
	cr_assert_eq(cfg.node.snapshot_trailing, NODE_DEFAULT_SNAPSHOT_TRAILING);
	cr_assert_eq(cfg.node.disk_reserve_bytes, (uint64_t)NODE_DEFAULT_DISK_RESERVE_MB << 20);
	cr_assert_eq(cfg.busy_poll_us, 0);
	cr_assert_eq(cfg.log_level, LOG_LEVEL_INFO);
	cr_assert_str_eq(cfg.mount, CLUSTERFSD_DEFAULT_MOUNT);
	cr_assert_str_eq(cfg.node.data_dir, CLUSTERFSD_DEFAULT_DATA);
	cr_assert_str_eq(cfg.node.address, NODE_DEFAULT_ADDRESS);
}

Test(log, journal_stream)
{
	cr_assert(log_journal_stream_is("8:17", 8, 17));
	cr_assert_not(log_journal_stream_is("8:17", 8, 18));
	cr_assert_not(log_journal_stream_is("8:17", 9, 17));
	cr_assert_not(log_journal_stream_is(NULL, 8, 17));
	cr_assert_not(log_journal_stream_is("", 8, 17));
	cr_assert_not(log_journal_stream_is("8:17x", 8, 17));
	cr_assert_not(log_journal_stream_is("8", 8, 17));
}
