/*
 * Names made safe to print: the one escaping function behind every log line
 * and generated file that shows a file name, a path or a string another
 * node or user supplied (.cluster/log, clusterfsd's and clusterfs-watch's
 * logs). Pure functions, any thread.
 *
 * C-style escapes, so that one record stays one line and a name can never
 * pass for something else:
 *   \n \t \r \\ \"              for those characters;
 *   \xHH (always two digits)    for every other byte below 0x20, DEL (0x7f),
 *                               each byte of a byte sequence that is not
 *                               UTF-8 (overlong forms and surrogates
 *                               included), and each byte of the UTF-8
 *                               characters that move text around without
 *                               being seen: C1 controls (U+0080-U+009F), the
 *                               line and paragraph separators (U+2028,
 *                               U+2029) and the bidirectional controls
 *                               (U+061C, U+200E, U+200F, U+202A-U+202E,
 *                               U+2066-U+2069).
 * Every other printable ASCII character and well-formed UTF-8 character is
 * kept as it is (so "café" stays "café").
 */
#ifndef CFS_ESCAPE_H
#define CFS_ESCAPE_H

#include <stddef.h>

/* Room for the escaped form of @n bytes, with its NUL. */
#define ESCAPE_CAP(n) (4 * (n) + 1)

/* Escape @len bytes at @in into @out: at most @cap - 1 characters and a NUL
 * (nothing written when @cap is 0). Returns the length of the whole escaped
 * text, like snprintf: a result >= @cap means it was cut, and then only
 * after a whole escape, never inside one or inside a UTF-8 character. */
size_t escape_bytes(const void *in, size_t len, char *out, size_t cap);

/* escape_bytes of the C string @in; returns @out, to be a printf argument. */
const char *escape_str(const char *in, char *out, size_t cap);

/* Only what could break a line or a terminal: control characters, DEL,
 * bytes that are not UTF-8 and the invisible characters above, as \xHH (\n
 * and \t as themselves); backslashes and quotes are kept. For a whole
 * message whose names were escaped already (log_msg's safety net). Same
 * return and truncation as escape_bytes. */
size_t escape_controls(const void *in, size_t len, char *out, size_t cap);

#endif
