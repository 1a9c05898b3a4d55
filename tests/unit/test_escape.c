/*
 * common/escape.c: the C-style escaping of names in logs and generated
 * files. Every case reads its input from a heap copy of exactly its bytes,
 * so that ASan sees a read past the end.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/escape.h"

/* escape_bytes of @len bytes at @in, with the output checked for a NUL. */
static char *esc(const void *in, size_t len)
{
	void *copy = malloc(len ? len : 1);
	char *out = malloc(ESCAPE_CAP(len));
	size_t n;

	memcpy(copy, in, len);
	n = escape_bytes(copy, len, out, ESCAPE_CAP(len));
	cr_assert_lt(n, ESCAPE_CAP(len), "ESCAPE_CAP is always enough");
	cr_assert_eq(strlen(out), n);
	free(copy);
	return out;
}

#define ESC_EQ(in, expect)                                                                         \
	do {                                                                                       \
		char *got_ = esc(in, sizeof(in) - 1);                                              \
		cr_assert_str_eq(got_, expect);                                                    \
		free(got_);                                                                        \
	} while (0)

Test(escape, printable_ascii_is_kept)
{
	ESC_EQ("plain name.txt", "plain name.txt");
	ESC_EQ("a b -> c/d ~!@#$%^&*()", "a b -> c/d ~!@#$%^&*()");
	ESC_EQ("", "");
}

Test(escape, c_escapes)
{
	ESC_EQ("a\nb", "a\\nb");
	ESC_EQ("a\tb", "a\\tb");
	ESC_EQ("a\rb", "a\\rb");
	ESC_EQ("back\\slash", "back\\\\slash");
	ESC_EQ("say \"hi\"", "say \\\"hi\\\"");
}

Test(escape, a_forged_log_line_stays_on_its_line)
{
	static const char name[] = "a\n2026-12-06T10:00:00.000Z 9999 node=1 uid=0 unlink rootonly";
	char *got = esc(name, sizeof(name) - 1);

	cr_assert_null(strchr(got, '\n'));
	cr_assert_str_eq(got, "a\\n2026-12-06T10:00:00.000Z 9999 node=1 uid=0 unlink rootonly");
	free(got);
}

Test(escape, control_bytes_and_del_are_hex)
{
	ESC_EQ("\x01\x1b[31m\x7f", "\\x01\\x1b[31m\\x7f");
	ESC_EQ("nul\0in", "nul\\x00in");
	ESC_EQ("\x0b\x0c", "\\x0b\\x0c");
}

Test(escape, utf8_is_kept)
{
	ESC_EQ("caf\xc3\xa9", "caf\xc3\xa9");				/* é */
	ESC_EQ("\xe2\x82\xac", "\xe2\x82\xac");				/* € */
	ESC_EQ("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");			/* U+1F600 */
	ESC_EQ("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");			/* U+10FFFF */
	ESC_EQ("\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac"); /* 日本 */
}

Test(escape, bytes_that_are_not_utf8_are_hex)
{
	ESC_EQ("\xff", "\\xff");
	ESC_EQ("\x80", "\\x80");			    /* a stray continuation byte */
	ESC_EQ("a\xc3", "a\\xc3");			    /* cut at the end */
	ESC_EQ("\xc3(", "\\xc3(");			    /* a bad continuation */
	ESC_EQ("\xc0\xaf", "\\xc0\\xaf");		    /* overlong '/' */
	ESC_EQ("\xe0\x80\xaf", "\\xe0\\x80\\xaf");	    /* overlong, 3 bytes */
	ESC_EQ("\xed\xa0\x80", "\\xed\\xa0\\x80");	    /* a surrogate */
	ESC_EQ("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* above U+10FFFF */
	ESC_EQ("\xf8\x88\x80\x80\x80", "\\xf8\\x88\\x80\\x80\\x80");
}

Test(escape, invisible_characters_are_hex)
{
	ESC_EQ("\xc2\x85", "\\xc2\\x85");	   /* NEL, a C1 control */
	ESC_EQ("\xc2\x9b", "\\xc2\\x9b");	   /* CSI */
	ESC_EQ("\xe2\x80\xa8", "\\xe2\\x80\\xa8"); /* line separator */
	ESC_EQ("\xe2\x80\xae", "\\xe2\\x80\\xae"); /* right-to-left override */
	ESC_EQ("\xe2\x81\xa6", "\\xe2\\x81\\xa6"); /* left-to-right isolate */
	ESC_EQ("\xd8\x9c", "\\xd8\\x9c");	   /* arabic letter mark */
	ESC_EQ("\xc2\xa0", "\xc2\xa0");		   /* a no-break space is printable */
}

Test(escape, a_cut_is_never_inside_an_escape_or_a_character)
{
	char out[8];
	size_t n;

	n = escape_bytes("ab\ncd", 5, out, 4); /* "ab\\n" needs 5 with its NUL */
	cr_assert_eq(n, 6u);
	cr_assert_str_eq(out, "ab");
	n = escape_bytes("a\x01", 2, out, 5);
	cr_assert_eq(n, 5u);
	cr_assert_str_eq(out, "a");
	n = escape_bytes("a\xe2\x82\xac", 4, out, 4);
	cr_assert_eq(n, 4u);
	cr_assert_str_eq(out, "a");
	n = escape_bytes("a\xe2\x82\xac", 4, out, 5);
	cr_assert_str_eq(out, "a\xe2\x82\xac");
	/* Nothing is written when there is no room at all. */
	out[0] = 'X';
	cr_assert_eq(escape_bytes("abc", 3, out, 0), 3u);
	cr_assert_eq(out[0], 'X');
	cr_assert_eq(escape_bytes("abc", 3, out, 1), 3u);
	cr_assert_str_eq(out, "");
}

Test(escape, escape_str_returns_its_buffer)
{
	char out[ESCAPE_CAP(16)];

	cr_assert_eq(escape_str("x\ny", out, sizeof(out)), out);
	cr_assert_str_eq(out, "x\\ny");
}

Test(escape, controls_only_keeps_backslashes_and_quotes)
{
	char out[64];

	escape_controls("a\\n \"q\"\nb\x1b\xff", 11, out, sizeof(out));
	cr_assert_str_eq(out, "a\\n \"q\"\\nb\\x1b\\xff");
	escape_controls("t\tr\r", 4, out, sizeof(out));
	cr_assert_str_eq(out, "t\\tr\\x0d");
}

/* Any bytes: the output is one line of printable text, within
 * ESCAPE_CAP, and the escaping is reversible (decoded here by hand). */
Test(escape, random_bytes_round_trip)
{
	unsigned seed = 14;

	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)(rand_r(&seed) % 40);
		unsigned char in[40], back[40];
		char *out;
		size_t k = 0;

		for (size_t i = 0; i < len; i++)
			in[i] = (unsigned char)rand_r(&seed);
		out = esc(in, len);
		for (const char *p = out; *p != '\0'; p++) {
			cr_assert((unsigned char)*p >= 0x20 && *p != 0x7f, "printable only");
			if (*p != '\\') {
				back[k++] = (unsigned char)*p;
				continue;
			}
			p++;
			switch (*p) {
			case 'n':
				back[k++] = '\n';
				break;
			case 't':
				back[k++] = '\t';
				break;
			case 'r':
				back[k++] = '\r';
				break;
			case '\\':
				back[k++] = '\\';
				break;
			case '"':
				back[k++] = '"';
				break;
			case 'x': {
				char hex[3] = {p[1], p[2], 0};

				back[k++] = (unsigned char)strtoul(hex, NULL, 16);
				p += 2;
				break;
			}
			default:
				cr_assert_fail("unknown escape \\%c", *p);
			}
		}
		cr_assert_eq(k, len);
		cr_assert_eq(memcmp(in, back, len), 0);
		free(out);
	}
}
