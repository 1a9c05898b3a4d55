/*
 * clusterfsctl: output shared by the commands, human and JSON.
 *
 * Under --json every run prints exactly one JSON document on stdout, built
 * with jansson (never by hand): the command's result, or an object with
 * "error" (a string) when the exit status is not 0. The first document
 * printed wins: an error after it goes to stderr only. Error messages go to
 * stderr in both modes, as they always did. Strings that are not valid
 * UTF-8 (a path is any bytes) have their bad bytes replaced by U+FFFD, and
 * the output is pure ASCII (\uXXXX escapes). Also: a node's status in
 * either form (the schema is in docs/operations.md), and times as
 * ISO 8601. Single-threaded, like the whole tool.
 */
#include <jansson.h>
#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "ctl.h"

#define CTL_JSON_FLAGS	 (JSON_COMPACT | JSON_ENSURE_ASCII)
#define CTL_MESSAGE_MAX	 8192
#define UTF8_REPLACEMENT "\xef\xbf\xbd"

static bool json_mode;
static bool json_printed;

void ctl_output_json(bool on)
{
	json_mode = on;
}

bool ctl_json(void)
{
	return json_mode;
}

/* s with every byte that is not part of a valid UTF-8 sequence replaced
 * by U+FFFD (malloc'd), decided by the C library's UTF-8 decoder. */
static char *utf8_repair(const char *s)
{
	size_t len = strlen(s), used = 0;
	char *out = malloc(len * 3 + 1);
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	locale_t old = utf8 != (locale_t)0 ? uselocale(utf8) : (locale_t)0;
	mbstate_t ps;

	if (out == NULL || utf8 == (locale_t)0) {
		/* no decoder: keep the ASCII, replace the rest */
		for (size_t i = 0; out != NULL && i <= len; i++)
			out[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
		if (utf8 != (locale_t)0)
			freelocale(utf8);
		return out;
	}
	memset(&ps, 0, sizeof(ps));
	for (size_t i = 0; i < len;) {
		size_t n = mbrtowc(NULL, s + i, len - i, &ps);

		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memcpy(out + used, UTF8_REPLACEMENT, 3);
			used += 3;
			i++;
			memset(&ps, 0, sizeof(ps));
		} else {
			memcpy(out + used, s + i, n);
			used += n;
			i += n;
		}
	}
	out[used] = '\0';
	uselocale(old);
	freelocale(utf8);
	return out;
}

json_t *ctl_jstr(const char *s)
{
	json_t *v;
	char *fixed;

	if (s == NULL)
		return json_null();
	v = json_string(s);
	if (v != NULL)
		return v;
	fixed = utf8_repair(s);
	if (fixed == NULL)
		return NULL;
	v = json_string(fixed);
	free(fixed);
	return v;
}

json_t *ctl_jnum(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

void ctl_json_print(json_t *doc)
{
	if (json_printed) {
		json_decref(doc);
		return;
	}
	json_printed = true;
	if (doc == NULL || json_dumpf(doc, stdout, CTL_JSON_FLAGS) != 0)
		fputs("{\"error\":\"out of memory\"}", stdout);
	putchar('\n');
	fflush(stdout);
	json_decref(doc);
}

static int error_v(int status, json_t *doc, bool usage, const char *fmt, va_list ap)
{
	char msg[CTL_MESSAGE_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "clusterfsctl: %s\n", msg);
	if (!json_mode) {
		json_decref(doc);
		return status;
	}
	if (doc == NULL)
		doc = json_object();
	if (doc != NULL) {
		json_object_set_new(doc, "error", ctl_jstr(msg));
		if (usage)
			json_object_set_new(doc, "usage", json_true());
	}
	ctl_json_print(doc);
	return status;
}

int ctl_error(int status, json_t *doc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	status = error_v(status, doc, false, fmt, ap);
	va_end(ap);
	return status;
}

int ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_v(EXIT_USAGE, NULL, true, fmt, ap);
	va_end(ap);
	return EXIT_USAGE;
}

/* The status file's fields and their JSON types (docs/operations.md). */
enum field_type { FIELD_STRING, FIELD_INT, FIELD_BOOL, FIELD_LEADER, FIELD_LEADER_ADDRESS };

static const struct {
	const char *key;
	enum field_type type;
} status_fields[] = {
    {"id", FIELD_INT},
    {"address", FIELD_STRING},
    {"state", FIELD_STRING},
    {"role", FIELD_STRING},
    {"phase", FIELD_STRING},
    {"term", FIELD_INT},
    {"commit_index", FIELD_INT},
    {"applied_index", FIELD_INT},
    {"last_index", FIELD_INT},
    {"leader", FIELD_LEADER},
    {"leader_address", FIELD_LEADER_ADDRESS},
    {"quorum", FIELD_BOOL},
    {"voters", FIELD_INT},
};

#define STATUS_FIELDS (sizeof(status_fields) / sizeof(status_fields[0]))

static json_t *field_int(const char *v)
{
	char *end;
	unsigned long long x;

	if (v[0] < '0' || v[0] > '9')
		return json_null();
	x = strtoull(v, &end, 10);
	return *end == '\0' && x <= INT64_MAX ? json_integer((json_int_t)x) : json_null();
}

static json_t *field_json(const struct status *st, enum field_type type, const char *v)
{
	bool no_leader = strcmp(ctl_status_get(st, "leader"), "0") == 0 ||
			 ctl_status_get(st, "leader")[0] == '\0';

	if (v == NULL)
		return json_null();
	switch (type) {
	case FIELD_INT:
		return field_int(v);
	case FIELD_BOOL:
		return strcmp(v, "yes") == 0  ? json_true()
		       : strcmp(v, "no") == 0 ? json_false()
					      : json_null();
	case FIELD_LEADER:
		return no_leader ? json_null() : field_int(v);
	case FIELD_LEADER_ADDRESS:
		return no_leader || v[0] == '\0' ? json_null() : ctl_jstr(v);
	case FIELD_STRING:
	default:
		return ctl_jstr(v);
	}
}

static const char *status_value(const struct status *st, const char *key)
{
	for (int i = 0; i < st->n; i++)
		if (strcmp(st->keys[i], key) == 0)
			return st->values[i];
	return NULL;
}

json_t *ctl_status_json(const struct status *st)
{
	json_t *doc = json_object();

	if (doc == NULL)
		return NULL;
	for (size_t i = 0; i < STATUS_FIELDS; i++)
		json_object_set_new(
		    doc, status_fields[i].key,
		    field_json(st, status_fields[i].type, status_value(st, status_fields[i].key)));
	/* fields a newer node may add: strings, as they are */
	for (int i = 0; i < st->n; i++)
		if (json_object_get(doc, st->keys[i]) == NULL &&
		    strcmp(st->keys[i], "healthy") != 0 && strcmp(st->keys[i], "error") != 0)
			json_object_set_new(doc, st->keys[i], ctl_jstr(st->values[i]));
	json_object_set_new(doc, "healthy", json_boolean(ctl_status_healthy(st)));
	return doc;
}

void ctl_status_print_text(const struct status *st)
{
	for (int i = 0; i < st->n; i++)
		printf("%-15s %s\n", st->keys[i], st->values[i]);
}

void ctl_format_ms(int64_t ms, char *out, size_t cap)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
