/*
 * clusterfs-watch: reading a path's current value through the mount
 * (content, or a symlink's target), and small files of the mount
 * (skip-if inputs, .cluster/status).
 *
 * Called by the one thread that runs watcher_run() (watcher.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "watcher_internal.h"

/* The value at REL: 1 with *value (malloc'd) and *len, 0 if there is no
 * file (absent, or a directory), or a negative errno (the mount is in
 * trouble: not the same as a deletion). */
int watch_value_read(struct watcher *w, const char *rel, char **value, size_t *len)
{
	char *abs = watcher_join_path(w->opts->mount, rel);
	struct stat st;
	char *buf = NULL;
	ssize_t n = 0;
	int fd, rv;

	if (abs == NULL)
		return -ENOMEM;
	if (lstat(abs, &st) != 0) {
		rv = (errno == ENOENT || errno == ENOTDIR) ? 0 : -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rv = 0;
		goto out;
	}
	buf = malloc(WATCHER_MAX_VALUE + 1);
	if (buf == NULL) {
		rv = -ENOMEM;
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		n = readlink(abs, buf, WATCHER_MAX_VALUE);
		if (n < 0) {
			rv = errno == ENOENT ? 0 : -errno;
			goto out;
		}
	} else {
		fd = open(abs, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rv = (errno == ENOENT || errno == ELOOP) ? 0 : -errno;
			goto out;
		}
		while (n < WATCHER_MAX_VALUE) {
			ssize_t r = read(fd, buf + n, (size_t)(WATCHER_MAX_VALUE - n));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				if (r < 0)
					n = -errno;
				break;
			}
			n += r;
		}
		close(fd);
		if (n < 0) {
			rv = (int)n;
			goto out;
		}
	}
	buf[n] = '\0';
	*value = buf;
	*len = (size_t)n;
	buf = NULL;
	rv = 1;
out:
	free(buf);
	free(abs);
	return rv;
}

/* A small file of the mount (skip-if, .cluster/status), newline stripped:
 * 1, 0 if absent, negative errno. */
int watch_value_read_small(struct watcher *w, const char *rel, char *out, size_t size)
{
	char *v = NULL;
	size_t len;
	int rv = watch_value_read(w, rel, &v, &len);

	if (rv == 1) {
		if (len > 0 && v[len - 1] == '\n')
			v[--len] = '\0';
		snprintf(out, size, "%s", v);
		free(v);
	}
	return rv;
}
