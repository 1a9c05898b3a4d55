/*
 * Unit tests of clusterfs-watch's pure parts: the rules (INI through
 * libinih, globs, command splitting, placeholder expansion, durations), the
 * debounce and backoff arithmetic, and the applied state file.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../watch/rules.h"
#include "../../watch/sched.h"
#include "../../watch/state.h"

/* --- config --------------------------------------------------------------- */

static char err[1024];

static int parse(const char *text, struct rules *r)
{
	return rules_parse_string(text, r, err, sizeof(err));
}

static void parseFails(const char *text, const char *want)
{
	struct rules r;
	cr_assert_eq(parse(text, &r), -EINVAL, "accepted: %s", text);
	cr_assert_not_null(strstr(err, want), "error [%s] lacks [%s]", err, want);
	cr_assert_null(strchr(err, '\n'), "one line: [%s]", err);
	cr_assert_eq(r.n, 0);
}

Test(watch_rules, design_example)
{
	struct rules r;
	const char *text = "; from DESIGN §6\n"
			   "[rule gates]\n"
			   "match     = gates/feature.*\n"
			   "run       = snapctl set openstack {name}={value}\n"
			   "on-delete = snapctl unset openstack {name}\n"
			   "skip-if   = config/deployment.type=maas\n"
			   "debounce  = 200ms\n"
			   "\n"
			   "[rule peers]\n"
			   "match   = peers/*\n"
			   "run     = systemctl reload gateway.service\n"
			   "# leader only\n"
			   "only-on = leader\n";

	cr_assert_eq(parse(text, &r), 0, "%s", err);
	cr_assert_eq(r.n, 2);
	cr_assert_str_eq(r.rule[0].name, "gates");
	cr_assert_str_eq(r.rule[0].match, "gates/feature.*");
	cr_assert_eq(r.rule[0].run.n_words, 4);
	cr_assert_eq(r.rule[0].on_delete.n_words, 4);
	cr_assert_eq(r.rule[0].n_skip_if, 1);
	cr_assert_str_eq(r.rule[0].skip_if[0].path, "config/deployment.type");
	cr_assert_str_eq(r.rule[0].skip_if[0].value, "maas");
	cr_assert_eq(r.rule[0].debounce_ms, 200);
	cr_assert_eq(r.rule[0].debounce_max_ms, 200 * RULES_DEBOUNCE_MAX_FACTOR);
	cr_assert_eq(r.rule[0].timeout_ms, RULES_DEFAULT_TIMEOUT_MS);
	cr_assert_eq(r.rule[0].only_on, ONLY_ON_ALL);
	cr_assert_eq(r.rule[1].only_on, ONLY_ON_LEADER);
	cr_assert_eq(r.rule[1].on_delete.n_words, 0);
	rules_free(&r);
}

Test(watch_rules, lease_and_durations)
{
	struct rules r;

	cr_assert_eq(parse("[rule a]\nmatch=x/*\nrun=true\nonly-on=lease:cloud-peers\n"
			   "lease-ttl=1m\ntimeout=2.5s\ndebounce=1s\ndebounce-max=3s\n",
			   &r),
		     0, "%s", err);
	cr_assert_eq(r.rule[0].only_on, ONLY_ON_LEASE);
	cr_assert_str_eq(r.rule[0].lease, "cloud-peers");
	cr_assert_eq(r.rule[0].lease_ttl_ms, 60000);
	cr_assert_eq(r.rule[0].timeout_ms, 2500);
	cr_assert_eq(r.rule[0].debounce_max_ms, 3000);
	rules_free(&r);
	cr_assert_eq(parse("[rule a]\nmatch=x/*\nrun=true\nonly-on=lease:l\n", &r), 0);
	cr_assert_eq(r.rule[0].lease_ttl_ms, RULES_DEFAULT_LEASE_TTL_MS);
	rules_free(&r);
}

Test(watch_rules, long_lines_and_semicolons)
{
	struct rules r;
	char *text, *word = malloc(5001);

	memset(word, 'x', 5000);
	word[5000] = '\0';
	cr_assert(asprintf(&text, "[rule a]\nmatch = a/*\nrun = sh -c 'a; b' %s\n", word) > 0);
	cr_assert_eq(parse(text, &r), 0, "%s", err);
	cr_assert_eq(r.rule[0].run.n_words, 4);
	cr_assert_str_eq(r.rule[0].run.words[2].segs[0].text, "a; b");
	cr_assert_eq(strlen(r.rule[0].run.words[3].segs[0].text), 5000);
	rules_free(&r);
	free(text);
	free(word);
}

Test(watch_rules, errors)
{
	parseFails("[rule a]\nmatch = x/*\nrun = true\ncolour = red\n",
		   "<config>:4: unknown key 'colour' in [rule a]");
	parseFails("[rule a]\nmatch = x/[ab\nrun = true\n", "<config>:2: bad glob 'x/[ab'");
	parseFails("[rule a]\nmatch = x/*\n", "<config>:1: [rule a] has no 'run'");
	parseFails("[rule a]\n", "[rule a] has no 'match'");
	parseFails("[other]\nmatch = x\n", "unknown section [other]");
	parseFails("match = x\n", "'match' is outside a [rule NAME] section");
	parseFails("", "no [rule NAME] section");
	parseFails("[rule a]\nmatch=x\nrun=true\n[rule a]\nmatch=y\nrun=true\n",
		   "<config>:4: [rule a] is defined twice");
	parseFails("[rule a b]\nmatch=x\nrun=true\n", "bad rule name 'a b'");
	parseFails("[rule a]\nmatch=x\nmatch=y\nrun=true\n", "'match' is set twice");
	parseFails("[rule a]\nmatch=x\nrun=echo {vaule}\n", "unknown placeholder");
	parseFails("[rule a]\nmatch=x\nrun={value} x\n", "first word");
	parseFails("[rule a]\nmatch=x\nrun=/usr/bin/{name}\n", "first word");
	parseFails("[rule a]\nmatch=x\nrun=echo\non-delete={path}\n", "first word");
	parseFails("[rule a]\nmatch=x\nrun=echo 'open\n", "single quote is not closed");
	parseFails("[rule a]\nmatch=x\nrun=\n", "the command is empty");
	parseFails("[rule a]\nmatch=x\nrun=true\ndebounce=5\n", "bad debounce '5'");
	parseFails("[rule a]\nmatch=x\nrun=true\ntimeout=0\n", "at least 1s");
	parseFails("[rule a]\nmatch=x\nrun=true\nonly-on=sometimes\n", "bad only-on");
	parseFails("[rule a]\nmatch=x\nrun=true\nskip-if=novalue\n", "must be PATH=VALUE");
	parseFails("[rule a]\nmatch=x\nrun=true\nskip-if=config/*=x\n", "bad path");
	parseFails("[rule a]\nmatch=x\nrun=true\nlease-ttl=5s\n", "lease-ttl needs only-on");
	parseFails("[rule a]\nmatch=x\nrun=true\ndebounce=1s\ndebounce-max=10ms\n",
		   "debounce-max is shorter");
	parseFails("[rule a]\nnot a key value line\n", "<config>:2: not an INI line");
}

Test(watch_rules, load_file_errors)
{
	struct rules r;
	cr_assert_eq(rules_load("/nonexistent/watch.conf", &r, err, sizeof(err)), -ENOENT);
	cr_assert_not_null(strstr(err, "cannot read /nonexistent/watch.conf"));
}

/* --- globs ---------------------------------------------------------------- */

Test(watch_rules, globs)
{
	const char *why;
	struct rules_rule rule = {.match = "gates/feature.*"};

	cr_assert(rules_match(&rule, "gates/feature.x"));
	cr_assert(rules_match(&rule, "gates/feature.storage.ceph"));
	cr_assert_not(rules_match(&rule, "gates/other"));
	cr_assert_not(rules_match(&rule, "gates/sub/feature.x"), "* stops at /");
	rule.match = "peers/*";
	cr_assert_not(rules_match(&rule, "peers/.hidden"), "FNM_PERIOD");
	rule.match = "app/*/conf";
	cr_assert(rules_match(&rule, "app/web/conf"));
	cr_assert_not(rules_match(&rule, "app/a/b/conf"));
	rule.match = "x/[!a]?";
	cr_assert(rules_match(&rule, "x/bc"));
	cr_assert_not(rules_match(&rule, "x/ac"));

	cr_assert_eq(rules_check_glob("gates/[]a]", &why), 0);
	cr_assert_eq(rules_check_glob("a/\\*", &why), 0);
	cr_assert_eq(rules_check_glob("", &why), -EINVAL);
	cr_assert_eq(rules_check_glob("/abs/*", &why), -EINVAL);
	cr_assert_eq(rules_check_glob(".cluster/status", &why), -EINVAL);
	cr_assert_eq(rules_check_glob("a/../b", &why), -EINVAL);
	cr_assert_eq(rules_check_glob("a/[b/c]", &why), -EINVAL);
	cr_assert_eq(rules_check_glob("a\\", &why), -EINVAL);
	cr_assert_eq(rules_check_glob("a//b", &why), -EINVAL);
	cr_assert_eq(rules_check_glob("a/", &why), -EINVAL);
	cr_assert_eq(rules_check_glob(".clusterx/a", &why), 0);
}

/* --- commands ------------------------------------------------------------- */

static char **expand(const char *line, const struct rules_vars *v)
{
	struct rules_cmd cmd;
	const char *why = NULL;
	char **argv;

	cr_assert_eq(rules_parse_cmd(line, &cmd, &why), 0, "%s: %s", line, why);
	cr_assert_eq(rules_expand(&cmd, v, &argv), 0);
	rules_cmd_free(&cmd);
	return argv;
}

static void assertArgv(char **argv, const char *const *want)
{
	size_t i;
	for (i = 0; want[i] != NULL; i++) {
		cr_assert_not_null(argv[i], "argv[%zu] missing, want [%s]", i, want[i]);
		cr_assert_str_eq(argv[i], want[i], "argv[%zu]", i);
	}
	cr_assert_null(argv[i], "extra argv[%zu] = [%s]", i, argv[i]);
	free(argv);
}

static const struct rules_vars V = {
    .path = "gates/feature.x",
    .name = "feature.x",
    .value = "$(touch /tmp/pwned); x y",
    .event = "modify",
};

Test(watch_cmd, placeholders_are_one_argument)
{
	assertArgv(expand("snapctl set openstack {name}={value}", &V),
		   (const char *[]){"snapctl", "set", "openstack",
				    "feature.x=$(touch /tmp/pwned); x y", NULL});
	assertArgv(
	    expand("cmd {value} {path} {event}", &V),
	    (const char *[]){"cmd", "$(touch /tmp/pwned); x y", "gates/feature.x", "modify", NULL});
	/* an empty value is still one (empty) argument */
	struct rules_vars empty = V;
	empty.value = "";
	assertArgv(expand("cmd {value} end", &empty), (const char *[]){"cmd", "", "end", NULL});
	/* a value that contains a placeholder is not expanded again */
	struct rules_vars tricky = V;
	tricky.value = "{path}";
	assertArgv(expand("cmd {value}", &tricky), (const char *[]){"cmd", "{path}", NULL});
}

Test(watch_cmd, quoting)
{
	assertArgv(expand("  a\t 'b c'  \"d e\" f\\ g  ", &V),
		   (const char *[]){"a", "b c", "d e", "f g", NULL});
	assertArgv(expand("x '' \"\" y", &V), (const char *[]){"x", "", "", "y", NULL});
	assertArgv(expand("echo '{name}' \"{name}\" \\{name}", &V),
		   (const char *[]){"echo", "{name}", "feature.x", "{name}", NULL});
	assertArgv(expand("echo \"a\\\"b\\\\c\\d\" 'it''s'", &V),
		   (const char *[]){"echo", "a\"b\\c\\d", "its", NULL});
	assertArgv(expand("jq {} {.a}", &V), (const char *[]){"jq", "{}", "{.a}", NULL});
	assertArgv(expand("cmd p={path}:n={name}", &V),
		   (const char *[]){"cmd", "p=gates/feature.x:n=feature.x", NULL});
}

Test(watch_cmd, errors)
{
	struct rules_cmd cmd;
	const char *why;

	cr_assert_eq(rules_parse_cmd("", &cmd, &why), -EINVAL);
	cr_assert_eq(rules_parse_cmd("   ", &cmd, &why), -EINVAL);
	cr_assert_eq(rules_parse_cmd("a 'b", &cmd, &why), -EINVAL);
	cr_assert_eq(rules_parse_cmd("a \"b", &cmd, &why), -EINVAL);
	cr_assert_eq(rules_parse_cmd("a b\\", &cmd, &why), -EINVAL);
	cr_assert_eq(rules_parse_cmd("a {nmae}", &cmd, &why), -EINVAL);
}

Test(watch_cmd, value_too_long)
{
	struct rules_cmd cmd;
	struct rules_vars big = V;
	const char *why;
	char **argv;
	char *value = malloc(RULES_MAX_VALUE_ARG + 2);

	memset(value, 'v', RULES_MAX_VALUE_ARG + 1);
	value[RULES_MAX_VALUE_ARG + 1] = '\0';
	big.value = value;
	cr_assert_eq(rules_parse_cmd("cmd {value}", &cmd, &why), 0);
	cr_assert_eq(rules_expand(&cmd, &big, &argv), -E2BIG);
	rules_cmd_free(&cmd);
	cr_assert_eq(rules_parse_cmd("cmd {path}", &cmd, &why), 0);
	cr_assert_eq(rules_expand(&cmd, &big, &argv), 0, "no {value}: fine");
	free(argv);
	rules_cmd_free(&cmd);
	free(value);
}

Test(watch_cmd, basename)
{
	cr_assert_str_eq(rules_basename("gates/feature.x"), "feature.x");
	cr_assert_str_eq(rules_basename("top"), "top");
	cr_assert_str_eq(rules_basename("a/b/c"), "c");
}

Test(watch_rules, durations)
{
	int64_t ms;
	cr_assert_eq(rules_parse_duration("0", &ms), 0);
	cr_assert_eq(ms, 0);
	cr_assert_eq(rules_parse_duration("250ms", &ms), 0);
	cr_assert_eq(ms, 250);
	cr_assert_eq(rules_parse_duration("1.5s", &ms), 0);
	cr_assert_eq(ms, 1500);
	cr_assert_eq(rules_parse_duration("2m", &ms), 0);
	cr_assert_eq(ms, 120000);
	cr_assert_eq(rules_parse_duration("5", &ms), -EINVAL);
	cr_assert_eq(rules_parse_duration("-1s", &ms), -EINVAL);
	cr_assert_eq(rules_parse_duration("1h", &ms), -EINVAL);
	cr_assert_eq(rules_parse_duration("s", &ms), -EINVAL);
	cr_assert_eq(rules_parse_duration("", &ms), -EINVAL);
}

/* --- debounce and backoff -------------------------------------------------- */

Test(watch_sched, debounce)
{
	/* no debounce: at once */
	cr_assert_eq(sched_due(100, 150, 0, 0), 150);
	/* quiescence: DEBOUNCE after the last change */
	cr_assert_eq(sched_due(100, 100, 200, 2000), 300);
	cr_assert_eq(sched_due(100, 250, 200, 2000), 450);
	/* a file that never stops changing: at most MAX after the first */
	cr_assert_eq(sched_due(100, 2050, 200, 2000), 2100);
	cr_assert_eq(sched_due(100, 5000, 200, 2000), 2100);
	/* MAX below DEBOUNCE acts as DEBOUNCE */
	cr_assert_eq(sched_due(100, 100, 200, 50), 300);
}

Test(watch_sched, burst_collapses)
{
	/* 15 changes 5 ms apart, debounce 400 ms: due once, after the last */
	int64_t first = 1000, due = 0;
	for (int i = 0; i < 15; i++) {
		int64_t t = first + i * 5;
		due = sched_due(first, t, 400, 4000);
		cr_assert_gt(due, t, "not due while the burst goes on");
	}
	cr_assert_eq(due, first + 14 * 5 + 400);
}

Test(watch_sched, backoff)
{
	cr_assert_eq(sched_backoff(1), SCHED_RETRY_FIRST_MS);
	cr_assert_eq(sched_backoff(2), 2 * SCHED_RETRY_FIRST_MS);
	cr_assert_eq(sched_backoff(3), 4 * SCHED_RETRY_FIRST_MS);
	cr_assert_eq(sched_backoff(100), SCHED_RETRY_MAX_MS);
	cr_assert_eq(sched_backoff(4000000000u), SCHED_RETRY_MAX_MS);
}

/* --- applied state --------------------------------------------------------- */

static char *tmpDir(void)
{
	char *d = strdup("/tmp/cfs-unit-watch.XXXXXX");
	cr_assert_not_null(mkdtemp(d));
	return d;
}

static void rmTree(const char *d)
{
	char *cmd;
	cr_assert(asprintf(&cmd, "rm -rf '%s'", d) > 0);
	cr_assert_eq(system(cmd), 0);
	free(cmd);
}

Test(watch_state, save_and_load)
{
	char *d = tmpDir(), *dir, h1[STATE_HASH_LEN + 1], h2[STATE_HASH_LEN + 1];
	struct state *s;
	const char *odd = "odd dir/na%me\twith\nnewline é";

	cr_assert(asprintf(&dir, "%s/sub/state", d) > 0);
	state_hash("true\n", 5, h1);
	state_hash("false\n", 6, h2);
	cr_assert_eq(strlen(h1), STATE_HASH_LEN);
	cr_assert_str_neq(h1, h2);
	cr_assert_eq(state_open(dir, &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_count(s), 0);
	cr_assert_eq(state_set(s, "gates", "gates/feature.x", h1), 0);
	cr_assert_eq(state_set(s, "gates", odd, h2), 0);
	cr_assert_eq(state_set(s, "peers", "peers/a", h2), 0);
	cr_assert_eq(state_save(s), 0);
	state_close(s);

	cr_assert_eq(state_open(dir, &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_count(s), 3);
	cr_assert_str_eq(state_get(s, "gates", "gates/feature.x"), h1);
	cr_assert_str_eq(state_get(s, "gates", odd), h2);
	cr_assert_null(state_get(s, "peers", "gates/feature.x"));
	state_del(s, "gates", "gates/feature.x");
	state_drop_rule(s, "peers");
	cr_assert_eq(state_save(s), 0);
	state_close(s);

	cr_assert_eq(state_open(dir, &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_count(s), 1);
	cr_assert_str_eq(state_get(s, "gates", odd), h2);
	{
		const char *keep[] = {"other"};
		state_drop_others(s, keep, 1);
	}
	cr_assert_eq(state_count(s), 0);
	state_close(s);
	rmTree(d);
	free(dir);
	free(d);
}

Test(watch_state, one_watcher_per_directory)
{
	char *d = tmpDir();
	struct state *a, *b;

	cr_assert_eq(state_open(d, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_open(d, &b, err, sizeof(err)), -EBUSY);
	cr_assert_not_null(strstr(err, "another clusterfs-watch uses the state directory"));
	state_close(a);
	cr_assert_eq(state_open(d, &b, err, sizeof(err)), 0, "%s", err);
	state_close(b);
	rmTree(d);
	free(d);
}

Test(watch_state, bad_lines_are_skipped)
{
	char *d = tmpDir(), *file, h[STATE_HASH_LEN + 1];
	struct state *s;
	FILE *f;

	state_hash("v", 1, h);
	cr_assert(asprintf(&file, "%s/applied", d) > 0);
	f = fopen(file, "w");
	cr_assert_not_null(f);
	fprintf(f, "# header\ngarbage\ngates %s gates/ok\ngates short gates/x\ngates %s bad%%zz\n",
		h, h);
	fclose(f);
	cr_assert_eq(state_open(d, &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_count(s), 1);
	cr_assert_str_eq(state_get(s, "gates", "gates/ok"), h);
	state_close(s);
	rmTree(d);
	free(file);
	free(d);
}
