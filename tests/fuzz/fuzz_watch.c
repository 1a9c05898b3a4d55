/*
 * Fuzz target: clusterfs-watch's config parser (watch/rules.c over libinih).
 *
 * The config is written by an operator; any text must give either rules or
 * one error line that fits the caller's buffer, never a crash or a leak. A
 * config that loads must hold rules the watcher can use as they are: a
 * match glob that rules_check_glob() accepts, a command with a program, a
 * debounce-max no shorter than debounce. Each rule is then matched against
 * a few paths and its commands expanded, as the watcher does on an event.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../../watch/rules.h"
#include "fuzz.h"

/* The watcher's own message buffer is this size; a small one here checks
 * that a long message is cut, not overflowed. */
#define FUZZ_ERR_LEN 96

static void check_cmd(const struct rules_cmd *cmd, bool required)
{
	static const struct rules_vars vars = {
	    .path = "gates/feature.a", .name = "feature.a", .value = "true", .event = "modify"};
	char **argv;
	size_t n = 0;

	if (!required && cmd->n_words == 0)
		return;
	FUZZ_CHECK(cmd->n_words > 0 && cmd->n_words <= RULES_MAX_WORDS);
	FUZZ_CHECK(cmd->source != NULL);
	for (size_t i = 0; i < cmd->words[0].n_segs; i++)
		FUZZ_CHECK(cmd->words[0].segs[i].ph == PH_NONE);
	FUZZ_CHECK(rules_expand(cmd, &vars, &argv) == 0);
	while (argv[n] != NULL)
		n++;
	FUZZ_CHECK(n == cmd->n_words);
	free(argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = {"a", "gates/feature.a", "dir/sub/file", ".hidden/x",
					    "peers/p1"};
	char *text = malloc(size + 1);
	char err[FUZZ_ERR_LEN];
	struct rules r;
	const char *why;
	int rv;

	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	memset(err, 'x', sizeof(err));
	rv = rules_parse_string(text, &r, err, sizeof(err));
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (rv != 0) {
		FUZZ_CHECK(rv == -EINVAL);
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(r.n == 0 && r.rule == NULL);
	} else {
		FUZZ_CHECK(r.n > 0 && r.n <= RULES_MAX_RULES);
		for (size_t i = 0; i < r.n; i++) {
			const struct rules_rule *rule = &r.rule[i];

			FUZZ_CHECK(rule->name != NULL && rule->match != NULL);
			FUZZ_CHECK(rules_check_glob(rule->match, &why) == 0);
			FUZZ_CHECK(rule->debounce_ms >= 0 &&
				   rule->debounce_max_ms >= rule->debounce_ms);
			FUZZ_CHECK(rule->timeout_ms >= 1000 && rule->lease_ttl_ms >= 1000);
			FUZZ_CHECK(rule->only_on != ONLY_ON_LEASE || rule->lease != NULL);
			FUZZ_CHECK(rule->n_skip_if <= RULES_MAX_SKIP_IF);
			check_cmd(&rule->run, true);
			check_cmd(&rule->on_delete, false);
			for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++)
				(void)rules_match(rule, paths[p]);
		}
		rules_free(&r);
	}
	free(text);
	return 0;
}
