/*
 * The escaping of names for logs and generated files (see escape.h for the
 * rules). Pure functions, any thread.
 */
#include "escape.h"

#include <stdbool.h>
#include <stdint.h>

/* The length of the well-formed UTF-8 character at @p (@left bytes
 * available, @p[0] >= 0x80) and its code point, or 0 if those bytes are not
 * UTF-8: a stray continuation byte, a cut sequence, an overlong form, a
 * surrogate or a code point above U+10FFFF (RFC 3629). */
static size_t escape_utf8(const uint8_t *p, size_t left, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2, c = p[0] & 0x1f, min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3, c = p[0] & 0x0f, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4, c = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Characters that are well-formed but move or hide text (see escape.h). */
static bool escape_invisible(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0x061c || c == 0x200e || c == 0x200f ||
	       (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/* The letter of a two-character escape: \n \t \r, or \\ and \" as themselves. */
static char escape_letter(uint8_t b)
{
	switch (b) {
	case '\n':
		return 'n';
	case '\t':
		return 't';
	case '\r':
		return 'r';
	default:
		return (char)b;
	}
}

struct escape_out {
	char *buf;
	size_t cap;
	size_t len;    /* the whole escaped text's length */
	size_t fitted; /* what was written: units up to the first that did not fit */
	bool cut;      /* once something did not fit, nothing more is written */
};

/* Append @n characters as one unit: all of them, or (when they do not fit)
 * none and nothing after them. */
static void escape_put(struct escape_out *o, const char *s, size_t n)
{
	if (!o->cut && o->cap > 0 && o->len + n <= o->cap - 1) {
		for (size_t i = 0; i < n; i++)
			o->buf[o->len + i] = s[i];
		o->fitted = o->len + n;
	} else {
		o->cut = true;
	}
	o->len += n;
}

static void escape_hex(struct escape_out *o, uint8_t b)
{
	static const char hex[] = "0123456789abcdef";
	char s[4] = {'\\', 'x', hex[b >> 4], hex[b & 15]};

	escape_put(o, s, 4);
}

static size_t escape_run(const void *in, size_t len, char *out, size_t cap, bool all)
{
	const uint8_t *p = in;
	struct escape_out o = {.buf = out, .cap = cap};

	for (size_t i = 0; i < len;) {
		uint8_t b = p[i];
		uint32_t cp;
		size_t n = 0;

		if (b == '\n' || b == '\t' || (all && (b == '\r' || b == '\\' || b == '"'))) {
			char s[2] = {'\\', escape_letter(b)};

			escape_put(&o, s, 2);
			i++;
		} else if (b >= 0x20 && b < 0x7f) {
			escape_put(&o, (const char *)p + i, 1);
			i++;
		} else if (b >= 0x80 && (n = escape_utf8(p + i, len - i, &cp)) > 0 &&
			   !escape_invisible(cp)) {
			escape_put(&o, (const char *)p + i, n);
			i += n;
		} else if (b >= 0x80 && n > 0) {
			for (size_t k = 0; k < n; k++)
				escape_hex(&o, p[i + k]);
			i += n;
		} else {
			escape_hex(&o, b);
			i++;
		}
	}
	if (cap > 0)
		out[o.fitted] = '\0';
	return o.len;
}

size_t escape_bytes(const void *in, size_t len, char *out, size_t cap)
{
	return escape_run(in, len, out, cap, true);
}

const char *escape_str(const char *in, char *out, size_t cap)
{
	size_t len = 0;

	while (in[len] != '\0')
		len++;
	escape_run(in, len, out, cap, true);
	return out;
}

size_t escape_controls(const void *in, size_t len, char *out, size_t cap)
{
	return escape_run(in, len, out, cap, false);
}
