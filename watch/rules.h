/*
 * clusterfs-watch rules: the INI config (DESIGN §6, docs/watch.md) parsed
 * with libinih into an array of rules, and the pure parts that use them:
 * glob matching of mount-relative paths, commands split into words at load
 * time, and placeholder expansion into an argv.
 *
 * Nothing here touches the mount, forks or keeps global state: the unit
 * tests (tests/unit/test_watch_rules.c) drive it with strings. The rules of
 * one config are owned by whoever loaded them (the watcher's loop) and
 * freed with rules_free().
 */
#ifndef CFS_WATCH_RULES_H
#define CFS_WATCH_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults and limits (docs/watch.md). */
#define RULES_DEFAULT_TIMEOUT_MS   60000       /* a command running longer is killed */
#define RULES_DEFAULT_LEASE_TTL_MS 15000       /* only-on = lease:NAME */
#define RULES_DEBOUNCE_MAX_FACTOR  10	       /* default debounce-max = 10 x debounce */
#define RULES_MAX_VALUE_ARG	   (64 * 1024) /* largest {value} / CLUSTERFS_VALUE */
#define RULES_MAX_RULES		   256
#define RULES_MAX_WORDS		   64 /* words in one command */
#define RULES_MAX_SKIP_IF	   8  /* skip-if lines in one rule */

/* The placeholders; PH_NONE marks a literal segment. */
enum rules_ph { PH_NONE, PH_PATH, PH_NAME, PH_VALUE, PH_EVENT };

/* One piece of a word: literal text, or a placeholder. */
struct rules_seg {
	enum rules_ph ph;
	char *text; /* PH_NONE only */
};

/* One word of a command: its pieces, concatenated at expansion; it is always
 * exactly one argument, whatever the placeholders expand to. */
struct rules_word {
	struct rules_seg *segs;
	size_t n_segs;
};

struct rules_cmd {
	struct rules_word *words;
	size_t n_words; /* 0: no command */
	char *source;	/* as written in the config, for messages */
};

enum rules_only_on { ONLY_ON_ALL, ONLY_ON_LEADER, ONLY_ON_LEASE };

struct rules_skip_if {
	char *path;  /* relative to the mount */
	char *value; /* compared with the file's content, trailing newline stripped */
};

struct rules_rule {
	char *name;
	char *match; /* fnmatch(3) pattern, FNM_PATHNAME | FNM_PERIOD */
	struct rules_cmd run;
	struct rules_cmd on_delete;
	struct rules_skip_if skip_if[RULES_MAX_SKIP_IF];
	size_t n_skip_if;
	int64_t debounce_ms;
	int64_t debounce_max_ms;
	int64_t timeout_ms;
	enum rules_only_on only_on;
	char *lease;	      /* ONLY_ON_LEASE */
	int64_t lease_ttl_ms; /* ONLY_ON_LEASE */
};

struct rules {
	struct rules_rule *rule;
	size_t n;
};

/* Load FILE (rules_parse_string: a string). On error, returns -EINVAL (or
 * -ENOENT/-EACCES... for an unreadable file) and writes one line saying what
 * is wrong and where into err (never more than errlen bytes); *out is then
 * left empty. */
int rules_load(const char *file, struct rules *out, char *err, size_t errlen);
int rules_parse_string(const char *text, struct rules *out, char *err, size_t errlen);
void rules_free(struct rules *r);

/* Does PATH (relative to the mount, no leading slash) match the rule? */
bool rules_match(const struct rules_rule *rule, const char *path);

/* Check a glob for `match`: relative, not under .cluster/, no "..", brackets
 * closed within one path component, no dangling backslash. 0 or -EINVAL
 * with the reason in *why. */
int rules_check_glob(const char *glob, const char **why);

/* Split a command line into words (quoting in docs/watch.md) and find the
 * placeholders in each word. 0, or -EINVAL with the reason in *why. */
int rules_parse_cmd(const char *line, struct rules_cmd *out, const char **why);
void rules_cmd_free(struct rules_cmd *cmd);

/* Parse a duration: "0", "250ms", "2s", "1.5s", "1m". 0 or -EINVAL. */
int rules_parse_duration(const char *s, int64_t *ms);

/* The values placeholders expand to. */
struct rules_vars {
	const char *path;  /* relative to the mount */
	const char *name;  /* last component of path */
	const char *value; /* content, one trailing newline stripped; "" on delete */
	const char *event; /* "create", "modify" or "delete" */
};

/* Expand CMD into a NULL-terminated argv (one malloc'd block: free(argv)
 * frees everything). -ENOMEM, or -E2BIG when {value} is used and the value
 * is longer than RULES_MAX_VALUE_ARG. */
int rules_expand(const struct rules_cmd *cmd, const struct rules_vars *vars, char ***argv);

/* {name} of PATH: the part after the last '/'. */
const char *rules_basename(const char *path);

#endif
