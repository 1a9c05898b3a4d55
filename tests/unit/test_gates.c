/*
 * gates/: gate names (feature.NAME, NAME = [a-z0-9][a-z0-9.-]*), value
 * parsing, and the validator the store calls (ns.c).
 */
#include <ctype.h>

#include "helpers.h"

TestSuite(gates, .fini = h_leak_check);

static int gate_name(const char *name)
{
	return ns_gates_check_name(name, strlen(name));
}

Test(gates, names_accepted)
{
	static const char *const ok[] = {
	    "feature.x",	 "feature.multi-region", "feature.storage.ceph", "feature.0abc",
	    "feature.9",	 "feature.a..b",	 "feature.a-",		 "feature.a.",
	    "feature.a-b-c.d-e", "feature.0-0.0",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_assert_eq(gate_name(ok[i]), 0, "\"%s\" refused", ok[i]);
}

Test(gates, names_refused)
{
	static const char *const bad[] = {
	    "foo",	     "feature",		 "feature.",	"feature.-x",  "feature..x",
	    "feature.UPPER", "feature.aB",	 "feature.a_b", "feature.a b", " feature.x",
	    "feature.x ",    "feature.x\n",	 "Feature.x",	"features.x",  "xfeature.x",
	    "feature.a/b",   "feature.\xc3\xa9", "feature.a+b", "feature.a:b", "",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(gate_name(bad[i]), -EINVAL, "\"%s\" accepted", bad[i]);
}

Test(gates, name_length_is_the_given_length)
{
	/* Only @len bytes count: a valid prefix of a longer buffer is valid,
	 * and an embedded NUL is a bad character. */
	cr_assert_eq(ns_gates_check_name("feature.abc!!!", 11), 0);
	cr_assert_eq(ns_gates_check_name("feature.abc!!!", 12), -EINVAL);
	cr_assert_eq(ns_gates_check_name("feature.a\0b", 11), -EINVAL);
	cr_assert_eq(ns_gates_check_name("feature.x", 8), -EINVAL);
}

static int parse(const char *text, bool *value)
{
	return ns_gates_parse(text, strlen(text), value);
}

/* Try a word in lower, upper and mixed case, bare and with whitespace. */
static void check_spelling(const char *word, bool expect)
{
	static const char *const wrap[][2] = {
	    {"", ""}, {"", "\n"}, {"  ", "  "}, {"\t", "\r\n"}, {"\n\n ", " \n"}, {"\v\f", ""},
	};
	char lower[16] = "", upper[16] = "", mixed[16] = "";
	size_t n = strlen(word);

	cr_assert(n < sizeof(lower));
	for (size_t i = 0; i < n; i++) {
		lower[i] = (char)tolower((unsigned char)word[i]);
		upper[i] = (char)toupper((unsigned char)word[i]);
		mixed[i] = i % 2 ? upper[i] : lower[i];
	}
	const char *forms[] = {lower, upper, mixed};
	for (size_t f = 0; f < 3; f++) {
		for (size_t w = 0; w < sizeof(wrap) / sizeof(wrap[0]); w++) {
			char text[64];
			bool value = !expect;

			snprintf(text, sizeof(text), "%s%s%s", wrap[w][0], forms[f], wrap[w][1]);
			cr_assert_eq(parse(text, &value), 0, "\"%s\" refused", text);
			cr_assert_eq(value, expect, "\"%s\" parsed as %d", text, value);
		}
	}
}

Test(gates, every_spelling_parses)
{
	check_spelling("true", true);
	check_spelling("yes", true);
	check_spelling("on", true);
	check_spelling("1", true);
	check_spelling("false", false);
	check_spelling("no", false);
	check_spelling("off", false);
	check_spelling("0", false);
}

Test(gates, other_values_refused)
{
	static const char *const bad[] = {
	    "maybe", "",  " ",	"\n", "tru",  "true false", "truee", "t",  "y",	    "n",
	    "01",    "2", "-1", "+1", "ye s", "o n",	    "onn",   "of", "true;", "\"true\"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool value = true;

		cr_assert_eq(parse(bad[i], &value), -EINVAL, "\"%s\" accepted", bad[i]);
	}
	/* Embedded NUL: "true\0" is five bytes, not the word. */
	{
		bool value;

		cr_assert_eq(ns_gates_parse("true\0", 5, &value), -EINVAL);
		cr_assert_eq(ns_gates_parse("tr\0e", 4, &value), -EINVAL);
		/* Only len bytes are read. */
		cr_assert_eq(ns_gates_parse("offset", 3, &value), 0);
		cr_assert_eq(value, false);
	}
}

Test(gates, only_the_namespace_directories_are_typed)
{
	const struct store_validator *v = ns_validator();

	cr_assert_not_null(v);
	cr_assert(ns_is_typed(STORE_GATES_INO));
	cr_assert(v->is_typed(STORE_GATES_INO));
	cr_assert(v->is_typed(STORE_PEERS_INO));
	cr_assert(v->is_typed(STORE_CONFIG_INO));
	cr_assert(v->is_typed(STORE_LEASES_INO));
	static const uint64_t untyped[] = {STORE_ROOT_INO,
					   STORE_ROUTING_INO,
					   STORE_FIRST_DYNAMIC_INO,
					   0,
					   UINT64_MAX};
	for (size_t i = 0; i < sizeof(untyped) / sizeof(untyped[0]); i++) {
		cr_assert(!ns_is_typed(untyped[i]), "inode %llu typed",
			  (unsigned long long)untyped[i]);
		cr_assert(!v->is_typed(untyped[i]));
	}
}

Test(gates, check_name_in_gates)
{
	const struct store_validator *v = ns_validator();

	cr_assert_eq(ns_check_name(STORE_GATES_INO, "feature.x", 9, S_IFREG | 0644), 0);
	cr_assert_eq(v->check_name(STORE_GATES_INO, "feature.x", 9, S_IFREG | 0644), 0);
	cr_assert_eq(ns_check_name(STORE_GATES_INO, "feature.x", 9, S_IFDIR | 0755), -EINVAL);
	cr_assert_eq(ns_check_name(STORE_GATES_INO, "feature.x", 9, S_IFLNK | 0777), -EINVAL);
	cr_assert_eq(ns_check_name(STORE_GATES_INO, "feature.x", 9, S_IFIFO | 0644), -EINVAL);
	cr_assert_eq(ns_check_name(STORE_GATES_INO, "foo", 3, S_IFREG | 0644), -EINVAL);
	cr_assert_eq(v->check_name(STORE_GATES_INO, "foo", 3, S_IFREG | 0644), -EINVAL);
}

Test(gates, check_name_elsewhere_accepts_anything)
{
	static const uint64_t dirs[] = {STORE_ROOT_INO, STORE_ROUTING_INO, 5000};
	static const uint32_t modes[] = {S_IFREG | 0644, S_IFDIR | 0755, S_IFLNK | 0777};

	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++)
		for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
			cr_assert_eq(ns_check_name(dirs[d], "foo", 3, modes[m]), 0);
			cr_assert_eq(ns_check_name(dirs[d], "Feature.UPPER_x", 15, modes[m]), 0);
			cr_assert_eq(ns_validator()->check_name(dirs[d], "x y", 3, modes[m]), 0);
		}
}

static void content(uint64_t dir, const char *in, int expect_rv, const char *expect)
{
	char scratch[4096];
	const void *data = in;
	size_t len = strlen(in);
	int rv = h_check_content(dir, "feature.x", &data, &len, scratch, sizeof(scratch));


	cr_assert_eq(rv, expect_rv, "check_content(\"%s\") = %d", in, rv);
	if (rv != 0)
		return;
	cr_assert_eq(len, strlen(expect), "\"%s\": %zu bytes, expected \"%s\"", in, len, expect);
	cr_assert(memcmp(data, expect, len) == 0, "\"%s\" normalized to \"%.*s\"", in, (int)len,
		  (const char *)data);
}

Test(gates, content_is_normalized)
{
	content(STORE_GATES_INO, "true", 0, "true\n");
	content(STORE_GATES_INO, "YES\n", 0, "true\n");
	content(STORE_GATES_INO, " On ", 0, "true\n");
	content(STORE_GATES_INO, "1", 0, "true\n");
	content(STORE_GATES_INO, "false\n", 0, "false\n");
	content(STORE_GATES_INO, "No", 0, "false\n");
	content(STORE_GATES_INO, "\tOFF\r\n", 0, "false\n");
	content(STORE_GATES_INO, "0", 0, "false\n");
	content(STORE_GATES_INO, "maybe", -EINVAL, NULL);
	content(STORE_GATES_INO, "", -EINVAL, NULL);
}

Test(gates, content_elsewhere_is_untouched)
{
	static const char text[] = "maybe";
	char scratch[64];
	const void *data = text;
	size_t len = 5;

	cr_assert_eq(h_check_content(STORE_CONFIG_INO, "free", &data, &len, scratch, sizeof(scratch)), 0);
	cr_assert_eq(data, (const void *)text, "data pointer replaced");
	cr_assert_eq(len, 5u);
	data = text;
	len = 0;
	cr_assert_eq(h_check_content(STORE_ROOT_INO, "x", &data, &len, scratch, sizeof(scratch)), 0);
	cr_assert_eq(len, 0u);
}
