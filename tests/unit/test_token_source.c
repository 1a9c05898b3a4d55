/*
 * token_source (common/token_source.c): a join token read from a file or
 * stdin is one line, trailing blanks trimmed; a file open to group or
 * others, an empty one, one of two lines or one too long is refused with
 * a message and an empty output; a variable taken from the environment is
 * copied, wiped in place and unset; a scrubbed argv string is all NULs.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/token_source.h"
#include "helpers.h"

static char dir[PATH_MAX];

static void setup(void)
{
	h_tmpdir(dir, sizeof(dir));
}

static void teardown(void)
{
	h_rmtree(dir);
}

TestSuite(token_source, .init = setup, .fini = teardown);

/* A file named NAME in dir with CONTENT and MODE; its path in out. */
static void file_with(const char *name, const char *content, mode_t mode, char *out, size_t cap)
{
	int fd;

	snprintf(out, cap, "%s/%s", dir, name);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	cr_assert_eq(chmod(out, mode), 0);
}

static int read_token(const char *content, mode_t mode, char *out, size_t cap, char *err)
{
	char path[PATH_MAX];

	file_with("t", content, mode, path, sizeof(path));
	err[0] = '\0';
	return token_source_read_file(path, out, cap, err, 256);
}

Test(token_source, one_line_trimmed)
{
	char out[128], err[256];

	cr_assert_eq(read_token("cfs1:ab@h:1 \t\r\n\n", 0600, out, sizeof(out), err), 0, "%s", err);
	cr_assert_str_eq(out, "cfs1:ab@h:1");
	cr_assert_eq(read_token("cfs1:ab@h:1", 0400, out, sizeof(out), err), 0, "%s", err);
	cr_assert_str_eq(out, "cfs1:ab@h:1");
}

Test(token_source, open_to_others_refused)
{
	static const mode_t modes[] = {0644, 0640, 0604, 0620, 0602, 0610};
	char out[128], err[256];

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		cr_assert_eq(read_token("cfs1:ab@h:1\n", modes[i], out, sizeof(out), err), -EPERM,
			     "mode %04o", modes[i]);
		cr_assert_str_eq(out, "");
		cr_assert_not_null(strstr(err, "chmod 600"), "%s", err);
	}
}

Test(token_source, empty_and_blank_refused)
{
	char out[128], err[256];

	cr_assert_eq(read_token("", 0600, out, sizeof(out), err), -ENODATA);
	cr_assert_not_null(strstr(err, "is empty"), "%s", err);
	cr_assert_eq(read_token(" \n\n\t\n", 0600, out, sizeof(out), err), -ENODATA);
}

Test(token_source, two_lines_refused)
{
	char out[128], err[256];

	cr_assert_eq(read_token("cfs1:a@h:1\ncfs1:b@h:1\n", 0600, out, sizeof(out), err), -EINVAL);
	cr_assert_str_eq(out, "");
	cr_assert_not_null(strstr(err, "more than one line"), "%s", err);
}

Test(token_source, too_long_refused)
{
	char out[16], err[256];

	/* 15 bytes fit; 16 do not, even when the 16th is a newline */
	cr_assert_eq(read_token("0123456789abcde", 0600, out, sizeof(out), err), 0, "%s", err);
	cr_assert_eq(read_token("0123456789abcde\n", 0600, out, sizeof(out), err), -E2BIG);
	cr_assert_str_eq(out, "");
	cr_assert_not_null(strstr(err, "longer than"), "%s", err);
}

Test(token_source, missing_and_directory)
{
	char path[PATH_MAX], out[128], err[256];

	snprintf(path, sizeof(path), "%s/none", dir);
	cr_assert_eq(token_source_read_file(path, out, sizeof(out), err, sizeof(err)), -ENOENT);
	cr_assert_not_null(strstr(err, "cannot open"), "%s", err);
	cr_assert_eq(token_source_read_file(dir, out, sizeof(out), err, sizeof(err)), -EISDIR);
}

Test(token_source, stdin)
{
	char path[PATH_MAX], out[128], err[256];
	int saved = dup(STDIN_FILENO), fd;

	file_with("in", "cfs1:cd@h:2\n", 0644, path, sizeof(path)); /* stdin: no mode check */
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	dup2(fd, STDIN_FILENO);
	close(fd);
	cr_assert_eq(token_source_read_file("-", out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	dup2(saved, STDIN_FILENO);
	close(saved);
	cr_assert_str_eq(out, "cfs1:cd@h:2");
}

Test(token_source, take_env)
{
	char out[64];
	char *raw;

	cr_assert_eq(setenv("CFS_UNIT_TOKEN", "cfs1:ef@h:3", 1), 0);
	raw = getenv("CFS_UNIT_TOKEN");
	cr_assert_eq(token_source_take_env("CFS_UNIT_TOKEN", out, sizeof(out)), 1);
	cr_assert_str_eq(out, "cfs1:ef@h:3");
	cr_assert_null(getenv("CFS_UNIT_TOKEN"));
	cr_assert_eq(raw[0], '\0', "the value was not wiped in place");
	cr_assert_eq(token_source_take_env("CFS_UNIT_TOKEN", out, sizeof(out)), 0);
	cr_assert_eq(setenv("CFS_UNIT_TOKEN", "0123456789", 1), 0);
	cr_assert_eq(token_source_take_env("CFS_UNIT_TOKEN", out, 8), -ENAMETOOLONG);
	cr_assert_null(getenv("CFS_UNIT_TOKEN"));
}

Test(token_source, scrub)
{
	char arg[] = "--join-token=cfs1:ab@h:1";
	char *value = arg + strlen("--join-token=");
	size_t len = strlen(value);

	token_source_scrub(value);
	cr_assert_str_eq(arg, "--join-token=");
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(value[i], '\0');
}
