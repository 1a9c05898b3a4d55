/*
 * clusterfsctl: output shared by the commands, human and JSON: the one
 * place that writes a JSON string (escaped), a node's status in either
 * form, and times as ISO 8601. Single-threaded, like the whole tool.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

void ctl_json_string(const char *v)
{
	putchar('"');
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		putchar(*p);
	}
	putchar('"');
}

void ctl_json_error(const char *message)
{
	json_t *doc = json_pack("{s:s}", "error", message);

	if (doc == NULL) {
		printf("{\"error\": \"out of memory\"}\n");
		return;
	}
	json_dumpf(doc, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
	putchar('\n');
	json_decref(doc);
}

void ctl_status_print(const struct status *st, bool json)
{
	if (json) {
		printf("{");
		for (int i = 0; i < st->n; i++) {
			const char *v = st->values[i];
			bool num = v[0] != '\0' && strspn(v, "0123456789") == strlen(v);

			printf("%s\"%s\": ", i ? ", " : "", st->keys[i]);
			if (num)
				printf("%s", v);
			else
				ctl_json_string(v);
		}
		printf(", \"healthy\": %s}\n", ctl_status_healthy(st) ? "true" : "false");
		return;
	}
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
