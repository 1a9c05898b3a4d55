/*
 * clusterfs-watch rules: see rules.h.
 *
 * libinih does the INI syntax (sections, key = value, comment lines); this
 * file gives it meaning. inih only calls back for key = value lines, so a
 * small line reader in front of it sees the [section] headers itself: that
 * is how a rule with no keys at all is still reported as a rule without
 * `match`, and how every message gets the line it is about.
 */
#include "rules.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- durations ------------------------------------------------------------ */

int rules_parse_duration(const char *s, int64_t *ms)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0' || !(isdigit((unsigned char)*s) || *s == '.'))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || v < 0 || v > 86400.0 * 1000)
		return -EINVAL;
	if (strcmp(end, "ms") == 0)
		*ms = (int64_t)v;
	else if (strcmp(end, "s") == 0)
		*ms = (int64_t)(v * 1000);
	else if (strcmp(end, "m") == 0)
		*ms = (int64_t)(v * 60000);
	else if (*end == '\0' && v == 0)
		*ms = 0;
	else
		return -EINVAL;
	return 0;
}

/* --- globs ---------------------------------------------------------------- */

int rules_check_glob(const char *glob, const char **why)
{
	const char *p;

	if (*glob == '\0') {
		*why = "it is empty";
		return -EINVAL;
	}
	if (*glob == '/') {
		*why = "it must be relative to the mount (no leading /)";
		return -EINVAL;
	}
	if (strncmp(glob, ".cluster", 8) == 0 && (glob[8] == '/' || glob[8] == '\0')) {
		*why = ".cluster/ is generated and never changes by events";
		return -EINVAL;
	}
	for (p = glob; *p != '\0'; p++) {
		if (*p == '\\') {
			if (p[1] == '\0') {
				*why = "it ends with a lone backslash";
				return -EINVAL;
			}
			p++;
		} else if (*p == '[') {
			/* A bracket expression: ']' right after '[' or '[!' is
			 * a member; it must close before the next '/'. */
			const char *q = p + 1;
			if (*q == '!' || *q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q != '\0' && *q != ']' && *q != '/')
				q++;
			if (*q != ']') {
				*why = "a '[' is not closed by ']' in the same path component";
				return -EINVAL;
			}
			p = q;
		} else if (*p == '.' && p[1] == '.' && (p == glob || p[-1] == '/') &&
			   (p[2] == '/' || p[2] == '\0')) {
			*why = "it contains a '..' component";
			return -EINVAL;
		} else if (*p == '/' && p[1] == '/') {
			*why = "it contains an empty path component (//)";
			return -EINVAL;
		}
	}
	if (p[-1] == '/') {
		*why = "it ends with '/' (match files, not directories)";
		return -EINVAL;
	}
	return 0;
}

bool rules_match(const struct rules_rule *rule, const char *path)
{
	return fnmatch(rule->match, path, FNM_PATHNAME | FNM_PERIOD) == 0;
}

const char *rules_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash != NULL ? slash + 1 : path;
}

/* --- commands ------------------------------------------------------------- */

/* A growing string. */
struct buf {
	char *s;
	size_t len, cap;
};

static int bufPut(struct buf *b, char c)
{
	if (b->len + 2 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 32;
		char *s = realloc(b->s, cap);
		if (s == NULL)
			return -ENOMEM;
		b->s = s;
		b->cap = cap;
	}
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
	return 0;
}

static const struct {
	const char *text;
	enum rules_ph ph;
} placeholders[] = {
    {"{path}", PH_PATH},
    {"{name}", PH_NAME},
    {"{value}", PH_VALUE},
    {"{event}", PH_EVENT},
};

/* Is P the start of "{identifier}"? Then its length, else 0. */
static size_t phLength(const char *p)
{
	size_t n = 1;

	if (*p != '{')
		return 0;
	while (islower((unsigned char)p[n]) || p[n] == '_')
		n++;
	return (n > 1 && p[n] == '}') ? n + 1 : 0;
}

static int wordAddSeg(struct rules_word *w, enum rules_ph ph, struct buf *lit)
{
	struct rules_seg *segs;

	if (ph == PH_NONE && lit->len == 0)
		return 0;
	segs = realloc(w->segs, (w->n_segs + 1) * sizeof(*segs));
	if (segs == NULL)
		return -ENOMEM;
	w->segs = segs;
	segs[w->n_segs].ph = ph;
	segs[w->n_segs].text = NULL;
	if (ph == PH_NONE) {
		segs[w->n_segs].text = lit->s;
		lit->s = NULL;
		lit->len = lit->cap = 0;
	}
	w->n_segs++;
	return 0;
}

static void wordFree(struct rules_word *w)
{
	for (size_t i = 0; i < w->n_segs; i++)
		free(w->segs[i].text);
	free(w->segs);
	w->segs = NULL;
	w->n_segs = 0;
}

void rules_cmd_free(struct rules_cmd *cmd)
{
	for (size_t i = 0; i < cmd->n_words; i++)
		wordFree(&cmd->words[i]);
	free(cmd->words);
	free(cmd->source);
	memset(cmd, 0, sizeof(*cmd));
}

int rules_parse_cmd(const char *line, struct rules_cmd *out, const char **why)
{
	struct rules_cmd cmd = {0};
	struct rules_word word = {0};
	struct buf lit = {0};
	bool in_word = false;
	char quote = 0;
	const char *p = line;
	int rv = -ENOMEM;

	*why = "out of memory";
	for (;;) {
		char c = *p;
		if (quote == 0 && (c == '\0' || c == ' ' || c == '\t')) {
			if (in_word) {
				struct rules_word *words;
				if (cmd.n_words == RULES_MAX_WORDS) {
					*why = "too many words";
					rv = -EINVAL;
					goto err;
				}
				if (wordAddSeg(&word, PH_NONE, &lit) != 0)
					goto err;
				words = realloc(cmd.words, (cmd.n_words + 1) * sizeof(*words));
				if (words == NULL)
					goto err;
				cmd.words = words;
				words[cmd.n_words++] = word;
				memset(&word, 0, sizeof(word));
				in_word = false;
			}
			if (c == '\0')
				break;
			p++;
			continue;
		}
		if (c == '\0') {
			*why = quote == '\'' ? "a single quote is not closed"
					     : "a double quote is not closed";
			rv = -EINVAL;
			goto err;
		}
		in_word = true;
		if (quote == '\'') {
			if (c == '\'')
				quote = 0;
			else if (bufPut(&lit, c) != 0)
				goto err;
			p++;
			continue;
		}
		if (quote == 0 && (c == '\'' || c == '"')) {
			quote = c;
			p++;
			continue;
		}
		if (quote == '"' && c == '"') {
			quote = 0;
			p++;
			continue;
		}
		if (c == '\\') {
			char n = p[1];
			if (n == '\0') {
				*why = "it ends with a lone backslash";
				rv = -EINVAL;
				goto err;
			}
			/* In double quotes only \" and \\ are escapes. */
			if (quote == '"' && n != '"' && n != '\\') {
				if (bufPut(&lit, c) != 0)
					goto err;
				p++;
				continue;
			}
			if (bufPut(&lit, n) != 0)
				goto err;
			p += 2;
			continue;
		}
		if (c == '{') {
			size_t n = phLength(p);
			if (n > 0) {
				size_t i;
				for (i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++)
					if (strncmp(p, placeholders[i].text, n) == 0 &&
					    placeholders[i].text[n] == '\0')
						break;
				if (i == sizeof(placeholders) / sizeof(placeholders[0])) {
					*why = "unknown placeholder (known: {path} {name} {value} "
					       "{event}; quote it as '{...}' for a literal)";
					rv = -EINVAL;
					goto err;
				}
				if (wordAddSeg(&word, PH_NONE, &lit) != 0 ||
				    wordAddSeg(&word, placeholders[i].ph, &lit) != 0)
					goto err;
				p += n;
				continue;
			}
		}
		if (bufPut(&lit, c) != 0)
			goto err;
		p++;
	}
	if (cmd.n_words == 0) {
		*why = "the command is empty";
		rv = -EINVAL;
		goto err;
	}
	/* The program itself never comes from a file's path or value. */
	for (size_t i = 0; i < cmd.words[0].n_segs; i++) {
		if (cmd.words[0].segs[i].ph != PH_NONE) {
			*why = "the program (first word) may not contain a placeholder";
			rv = -EINVAL;
			goto err;
		}
	}
	cmd.source = strdup(line);
	if (cmd.source == NULL)
		goto err;
	*out = cmd;
	return 0;
err:
	free(lit.s);
	wordFree(&word);
	rules_cmd_free(&cmd);
	return rv;
}

static const char *varOf(const struct rules_vars *v, enum rules_ph ph)
{
	switch (ph) {
	case PH_PATH:
		return v->path;
	case PH_NAME:
		return v->name;
	case PH_VALUE:
		return v->value;
	case PH_EVENT:
		return v->event;
	case PH_NONE:
		break;
	}
	return "";
}

int rules_expand(const struct rules_cmd *cmd, const struct rules_vars *vars, char ***argv)
{
	size_t total = (cmd->n_words + 1) * sizeof(char *);
	char **out;
	char *s;

	for (size_t i = 0; i < cmd->n_words; i++) {
		const struct rules_word *w = &cmd->words[i];
		for (size_t j = 0; j < w->n_segs; j++) {
			const char *t =
			    w->segs[j].ph == PH_NONE ? w->segs[j].text : varOf(vars, w->segs[j].ph);
			size_t len = strlen(t);
			if (w->segs[j].ph == PH_VALUE && len > RULES_MAX_VALUE_ARG)
				return -E2BIG;
			total += len;
		}
		total++;
	}
	out = malloc(total);
	if (out == NULL)
		return -ENOMEM;
	s = (char *)(out + cmd->n_words + 1);
	for (size_t i = 0; i < cmd->n_words; i++) {
		const struct rules_word *w = &cmd->words[i];
		out[i] = s;
		for (size_t j = 0; j < w->n_segs; j++) {
			const char *t =
			    w->segs[j].ph == PH_NONE ? w->segs[j].text : varOf(vars, w->segs[j].ph);
			size_t len = strlen(t);
			memcpy(s, t, len);
			s += len;
		}
		*s++ = '\0';
	}
	out[cmd->n_words] = NULL;
	*argv = out;
	return 0;
}

/* --- the config file ------------------------------------------------------ */

struct parse {
	const char *file;
	const char *text; /* what is left to read */
	int line;	  /* the line inih is working on */
	bool at_line_start;
	struct rules r;
	struct rules_rule *cur;		/* the section being read, NULL before the first */
	bool seen_keys[16];		/* which keys cur has (for "set twice") */
	int rule_line[RULES_MAX_RULES]; /* where each rule's header is */
	char cur_section[256];
	char *err;
	size_t errlen;
	bool failed;
};

static void parseError(struct parse *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void parseError(struct parse *ps, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ps->failed)
		return;
	ps->failed = true;
	if (ps->line > 0)
		n = snprintf(ps->err, ps->errlen, "%s:%d: ", ps->file, ps->line);
	else
		n = snprintf(ps->err, ps->errlen, "%s: ", ps->file);
	if (n < 0 || (size_t)n >= ps->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static bool validName(const char *s)
{
	if (*s == '\0' || *s == '.' || *s == '-')
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' && *s != '_')
			return false;
	return true;
}

static void ruleFree(struct rules_rule *rule)
{
	free(rule->name);
	free(rule->match);
	rules_cmd_free(&rule->run);
	rules_cmd_free(&rule->on_delete);
	for (size_t i = 0; i < rule->n_skip_if; i++) {
		free(rule->skip_if[i].path);
		free(rule->skip_if[i].value);
	}
	free(rule->lease);
}

void rules_free(struct rules *r)
{
	for (size_t i = 0; i < r->n; i++)
		ruleFree(&r->rule[i]);
	free(r->rule);
	r->rule = NULL;
	r->n = 0;
}

/* A [section] header line: start a rule. */
static void parseSection(struct parse *ps, const char *line)
{
	const char *end = strchr(line, ']');
	const char *name;
	size_t len;
	struct rules_rule *rules;

	if (end == NULL)
		return; /* inih reports it */
	len = (size_t)(end - line - 1);
	if (len >= sizeof(ps->cur_section)) {
		parseError(ps, "section name too long");
		return;
	}
	memcpy(ps->cur_section, line + 1, len);
	ps->cur_section[len] = '\0';
	if (strncmp(ps->cur_section, "rule ", 5) != 0) {
		parseError(ps, "unknown section [%s]: sections are [rule NAME]", ps->cur_section);
		return;
	}
	name = ps->cur_section + 5;
	while (*name == ' ')
		name++;
	if (!validName(name)) {
		parseError(ps, "bad rule name '%s' in [%s]: letters, digits, '.', '-', '_'", name,
			   ps->cur_section);
		return;
	}
	for (size_t i = 0; i < ps->r.n; i++) {
		if (strcmp(ps->r.rule[i].name, name) == 0) {
			parseError(ps, "[rule %s] is defined twice", name);
			return;
		}
	}
	if (ps->r.n == RULES_MAX_RULES) {
		parseError(ps, "more than %d rules", RULES_MAX_RULES);
		return;
	}
	rules = realloc(ps->r.rule, (ps->r.n + 1) * sizeof(*rules));
	if (rules == NULL) {
		parseError(ps, "out of memory");
		return;
	}
	ps->r.rule = rules;
	ps->rule_line[ps->r.n] = ps->line;
	ps->cur = &rules[ps->r.n++];
	memset(ps->cur, 0, sizeof(*ps->cur));
	memset(ps->seen_keys, 0, sizeof(ps->seen_keys));
	ps->cur->name = strdup(name);
	ps->cur->timeout_ms = RULES_DEFAULT_TIMEOUT_MS;
	ps->cur->debounce_max_ms = -1;
	ps->cur->lease_ttl_ms = -1;
	if (ps->cur->name == NULL)
		parseError(ps, "out of memory");
}

/* inih's reader: one line (or the next piece of a long one) of ps->text,
 * fgets-style. Counts lines and catches section headers. */
static char *parseReader(char *str, int num, void *stream)
{
	struct parse *ps = stream;
	size_t n = 0;

	if (*ps->text == '\0' || num < 2)
		return NULL;
	if (ps->at_line_start)
		ps->line++;
	while (n < (size_t)num - 1 && ps->text[n] != '\0') {
		if (ps->text[n++] == '\n')
			break;
	}
	memcpy(str, ps->text, n);
	str[n] = '\0';
	ps->text += n;
	if (ps->at_line_start) {
		const char *s = str;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '[')
			parseSection(ps, s);
	}
	ps->at_line_start = n > 0 && str[n - 1] == '\n';
	return str;
}

enum key {
	K_MATCH,
	K_RUN,
	K_ON_DELETE,
	K_SKIP_IF,
	K_DEBOUNCE,
	K_DEBOUNCE_MAX,
	K_ONLY_ON,
	K_TIMEOUT,
	K_LEASE_TTL,
	K_COUNT
};
static const char *const key_names[K_COUNT] = {"match",	  "run",      "on-delete",
					       "skip-if", "debounce", "debounce-max",
					       "only-on", "timeout",  "lease-ttl"};

static int parseHandler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *ps = user;
	struct rules_rule *rule = ps->cur;
	const char *why;
	int k;

	if (ps->failed)
		return 0;
	if (rule == NULL || strcmp(section, ps->cur_section) != 0) {
		parseError(ps, "'%s' is outside a [rule NAME] section", name);
		return 0;
	}
	for (k = 0; k < K_COUNT; k++)
		if (strcmp(name, key_names[k]) == 0)
			break;
	if (k == K_COUNT) {
		parseError(ps,
			   "unknown key '%s' in [rule %s] (keys: match, run, on-delete, skip-if, "
			   "debounce, debounce-max, only-on, timeout, lease-ttl)",
			   name, rule->name);
		return 0;
	}
	if (k != K_SKIP_IF && ps->seen_keys[k]) {
		parseError(ps, "'%s' is set twice in [rule %s]", name, rule->name);
		return 0;
	}
	ps->seen_keys[k] = true;
	switch ((enum key)k) {
	case K_MATCH:
		if (rules_check_glob(value, &why) != 0) {
			parseError(ps, "bad glob '%s' for match in [rule %s]: %s", value,
				   rule->name, why);
			return 0;
		}
		rule->match = strdup(value);
		break;
	case K_RUN:
	case K_ON_DELETE:
		if (rules_parse_cmd(value, k == K_RUN ? &rule->run : &rule->on_delete, &why) != 0) {
			parseError(ps, "bad %s command in [rule %s]: %s", name, rule->name, why);
			return 0;
		}
		break;
	case K_SKIP_IF: {
		const char *eq = strchr(value, '=');
		struct rules_skip_if *s;
		if (eq == NULL || eq == value) {
			parseError(ps, "skip-if in [rule %s] must be PATH=VALUE, got '%s'",
				   rule->name, value);
			return 0;
		}
		if (rule->n_skip_if == RULES_MAX_SKIP_IF) {
			parseError(ps, "more than %d skip-if in [rule %s]", RULES_MAX_SKIP_IF,
				   rule->name);
			return 0;
		}
		s = &rule->skip_if[rule->n_skip_if++];
		s->path = strndup(value, (size_t)(eq - value));
		s->value = strdup(eq + 1);
		if (s->path == NULL || s->value == NULL)
			break;
		if (rules_check_glob(s->path, &why) != 0 || strpbrk(s->path, "*?[\\") != NULL) {
			parseError(ps,
				   "bad path '%s' in skip-if of [rule %s]: a file under the mount",
				   s->path, rule->name);
			return 0;
		}
		break;
	}
	case K_DEBOUNCE:
	case K_DEBOUNCE_MAX:
	case K_TIMEOUT:
	case K_LEASE_TTL: {
		int64_t ms;
		int64_t *dst = k == K_DEBOUNCE	     ? &rule->debounce_ms
			       : k == K_DEBOUNCE_MAX ? &rule->debounce_max_ms
			       : k == K_TIMEOUT	     ? &rule->timeout_ms
						     : &rule->lease_ttl_ms;
		if (rules_parse_duration(value, &ms) != 0 ||
		    ((k == K_TIMEOUT || k == K_LEASE_TTL) && ms < 1000)) {
			parseError(ps, "bad %s '%s' in [rule %s]: a duration like 200ms, 2s, 1m%s",
				   name, value, rule->name,
				   (k == K_TIMEOUT || k == K_LEASE_TTL) ? " (at least 1s)" : "");
			return 0;
		}
		*dst = ms;
		break;
	}
	case K_ONLY_ON:
		if (strcmp(value, "leader") == 0) {
			rule->only_on = ONLY_ON_LEADER;
		} else if (strcmp(value, "all") == 0) {
			rule->only_on = ONLY_ON_ALL;
		} else if (strncmp(value, "lease:", 6) == 0 && validName(value + 6)) {
			rule->only_on = ONLY_ON_LEASE;
			rule->lease = strdup(value + 6);
		} else {
			parseError(ps, "bad only-on '%s' in [rule %s]: leader, lease:NAME or all",
				   value, rule->name);
			return 0;
		}
		break;
	case K_COUNT:
		break;
	}
	if ((k == K_MATCH && rule->match == NULL) ||
	    (k == K_ONLY_ON && rule->only_on == ONLY_ON_LEASE && rule->lease == NULL)) {
		parseError(ps, "out of memory");
		return 0;
	}
	return 1;
}

/* What a rule needs once all its keys are read; defaults. */
static void parseFinish(struct parse *ps)
{
	for (size_t i = 0; i < ps->r.n && !ps->failed; i++) {
		struct rules_rule *rule = &ps->r.rule[i];
		ps->line = ps->rule_line[i];
		if (rule->match == NULL)
			parseError(ps, "[rule %s] has no 'match'", rule->name);
		else if (rule->run.n_words == 0)
			parseError(ps, "[rule %s] has no 'run'", rule->name);
		else if (rule->lease_ttl_ms >= 0 && rule->only_on != ONLY_ON_LEASE)
			parseError(ps, "[rule %s]: lease-ttl needs only-on = lease:NAME",
				   rule->name);
		if (rule->debounce_max_ms < 0)
			rule->debounce_max_ms = rule->debounce_ms * RULES_DEBOUNCE_MAX_FACTOR;
		else if (rule->debounce_max_ms < rule->debounce_ms)
			parseError(ps, "[rule %s]: debounce-max is shorter than debounce",
				   rule->name);
		if (rule->lease_ttl_ms < 0)
			rule->lease_ttl_ms = RULES_DEFAULT_LEASE_TTL_MS;
	}
	ps->line = 0;
	if (!ps->failed && ps->r.n == 0)
		parseError(ps, "no [rule NAME] section: nothing to do");
}

static int parseText(const char *file, const char *text, struct rules *out, char *err,
		     size_t errlen)
{
	struct parse ps = {
	    .file = file, .text = text, .at_line_start = true, .err = err, .errlen = errlen};
	int rc;

	memset(out, 0, sizeof(*out));
	if (errlen > 0)
		err[0] = '\0';
	/* Comments are whole lines (';' or '#'): a ';' inside a command is
	 * kept. No continuation lines: an indented line is a key of its own. */
	ini_allow_inline_comments = false;
	ini_allow_multiline = false;
	ini_stop_on_first_error = true;
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_max_line = 65536;
	rc = ini_parse_stream(parseReader, &ps, parseHandler, &ps);
	if (rc > 0 && !ps.failed) {
		ps.line = rc;
		parseError(&ps,
			   "not an INI line (expected [rule NAME], KEY = VALUE or a ; comment)");
	} else if (rc < 0 && !ps.failed) {
		parseError(&ps, "out of memory");
	}
	parseFinish(&ps);
	if (ps.failed) {
		rules_free(&ps.r);
		return -EINVAL;
	}
	*out = ps.r;
	return 0;
}

int rules_parse_string(const char *text, struct rules *out, char *err, size_t errlen)
{
	return parseText("<config>", text, out, err, errlen);
}

int rules_load(const char *file, struct rules *out, char *err, size_t errlen)
{
	FILE *f = fopen(file, "r");
	char *text = NULL;
	size_t len = 0;
	int rv;

	memset(out, 0, sizeof(*out));
	if (f == NULL) {
		rv = -errno;
		snprintf(err, errlen, "cannot read %s: %s", file, strerror(errno));
		return rv;
	}
	{
		FILE *mem = open_memstream(&text, &len);
		char chunk[4096];
		size_t n;
		if (mem == NULL) {
			fclose(f);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			fwrite(chunk, 1, n, mem);
		rv = ferror(f) ? -EIO : 0;
		fclose(mem);
	}
	fclose(f);
	if (rv != 0) {
		snprintf(err, errlen, "cannot read %s", file);
		free(text);
		return rv;
	}
	rv = parseText(file, text, out, err, errlen);
	free(text);
	return rv;
}
