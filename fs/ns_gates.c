/*
 * gates/feature.NAME: feature gates (DESIGN §4).
 *
 * NAME is [a-z0-9][a-z0-9.-]*, so "feature.storage.ceph" is a gate. Values
 * are read back as "true" or "false"; the spellings operators type
 * (yes/no, on/off, 1/0, any case) are accepted and normalized.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "ns.h"

#define GATE_PREFIX "feature."

int ns_gates_check_name(const char *name, size_t len)
{
	size_t plen = strlen(GATE_PREFIX);

	if (len <= plen || memcmp(name, GATE_PREFIX, plen) != 0)
		return -EINVAL;
	for (size_t i = plen; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (i == plen || (c != '.' && c != '-')))
			return -EINVAL;
	}
	return 0;
}

int ns_gates_parse(const char *text, size_t len, bool *value)
{
	static const struct {
		const char *word;
		bool value;
	} words[] = {
		{"true", true}, {"false", false}, {"1", true},	{"0", false},
		{"yes", true},	{"no", false},	  {"on", true}, {"off", false},
	};

	while (len > 0 && isspace((unsigned char)text[0])) {
		text++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)text[len - 1]))
		len--;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i].word) == len && strncasecmp(text, words[i].word, len) == 0) {
			*value = words[i].value;
			return 0;
		}
	}
	return -EINVAL;
}
