/*
 * Reading a secret line without a command line (see token_source.h).
 *
 * A file holding a key is refused when group or others may read or write
 * it, or when it belongs to another user than this one or root, the way
 * ssh refuses a private key that others can read: a warning would be
 * logged once and forgotten while the key stays readable. The caller's
 * thread only (clusterfsd's main, before the loop starts).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "token_source.h"

/* Group or other may read or write: refused. */
#define TOKEN_SOURCE_MODE_OPEN (S_IRWXG | S_IRWXO)

void token_source_scrub(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
}

int token_source_take_env(const char *name, char *out, size_t cap)
{
	char *v = getenv(name);
	int rv = 1;

	if (v == NULL)
		return 0;
	if (strlen(v) >= cap) {
		out[0] = '\0';
		rv = -ENAMETOOLONG;
	} else {
		strcpy(out, v);
	}
	/* getenv points into the environment block that /proc/PID/environ
	 * shows: clear it there, then drop the variable for children. */
	token_source_scrub(v);
	unsetenv(name);
	return rv;
}

/* A file others may read, or someone else could have written: refused. */
static int check_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0) {
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
		return -errno;
	}
	if (S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s is a directory, not a file holding a join token", path);
		return -EISDIR;
	}
	if (!S_ISREG(sb.st_mode))
		return 0; /* a pipe (<(...), /dev/stdin): only its writer knows it */
	if ((sb.st_mode & TOKEN_SOURCE_MODE_OPEN) != 0) {
		snprintf(err, errlen,
			 "%s is open to group or others (mode %04o) and holds the cluster key; "
			 "refusing it: chmod 600 %s",
			 path, (unsigned)(sb.st_mode & 07777), path);
		return -EPERM;
	}
	if (sb.st_uid != geteuid() && sb.st_uid != 0) {
		snprintf(err, errlen,
			 "%s belongs to uid %u, not to this user or root; refusing it: chown it",
			 path, (unsigned)sb.st_uid);
		return -EPERM;
	}
	return 0;
}

/* Read fd to its end into out: the length, or -errno (-E2BIG: too long). */
static ssize_t read_all(int fd, char *out, size_t cap)
{
	size_t used = 0;

	for (;;) {
		char extra;
		ssize_t n =
		    used < cap - 1 ? read(fd, out + used, cap - 1 - used) : read(fd, &extra, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		if (used == cap - 1)
			return -E2BIG;
		used += (size_t)n;
	}
	out[used] = '\0';
	return (ssize_t)used;
}

int token_source_read_file(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
	const char *name = strcmp(path, "-") == 0 ? "standard input" : path;
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int rv;

	out[0] = '\0';
	if (fd < 0) {
		rv = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-rv));
		return rv;
	}
	rv = fd == STDIN_FILENO ? 0 : check_file(fd, path, err, errlen);
	n = rv == 0 ? read_all(fd, out, cap) : rv;
	if (fd != STDIN_FILENO)
		close(fd);
	if (n == -E2BIG) {
		snprintf(err, errlen, "%s is longer than a join token (%zu bytes at most)", name,
			 cap - 1);
	} else if (n < 0 && rv == 0) {
		snprintf(err, errlen, "cannot read %s: %s", name, strerror((int)-n));
	}
	if (n < 0) {
		explicit_bzero(out, cap);
		return (int)n;
	}
	while (n > 0 && strchr(" \t\r\n", out[n - 1]) != NULL)
		out[--n] = '\0';
	if (n == 0) {
		snprintf(err, errlen,
			 "%s is empty: it should hold the line that "
			 "`clusterfsctl join-token` prints",
			 name);
		return -ENODATA;
	}
	if (strpbrk(out, "\r\n") != NULL) {
		explicit_bzero(out, cap);
		snprintf(err, errlen,
			 "%s holds more than one line: it should hold only the line "
			 "that `clusterfsctl join-token` prints",
			 name);
		return -EINVAL;
	}
	return 0;
}
