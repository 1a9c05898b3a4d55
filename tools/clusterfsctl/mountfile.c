/*
 * clusterfsctl: reading the files of the mount that the node generates or
 * serves (.cluster/status and the other .cluster/ files, leases/NAME).
 * Every command reads the node's state this way (see main.c); nothing here
 * writes. Single-threaded, like the whole tool.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "ctl.h"

#define FUSE_SUPER_MAGIC 0x65735546

const char *ctl_status_get(const struct status *st, const char *key)
{
	for (int i = 0; i < st->n; i++)
		if (strcmp(st->keys[i], key) == 0)
			return st->values[i];
	return "";
}

/* Read MOUNT/.cluster/status; 0, or -errno with *why set. */
int ctl_status_read(const char *mount, struct status *st, const char **why)
{
	char path[4096];
	struct statfs sfs;
	ssize_t n;
	int fd;

	if (statfs(mount, &sfs) != 0 || (unsigned long)sfs.f_type != FUSE_SUPER_MAGIC) {
		*why = "is not mounted (is clusterfsd running?)";
		return -ENOENT;
	}
	snprintf(path, sizeof(path), "%s/.cluster/status", mount);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*why = "is not a clusterfs mount";
		return -errno;
	}
	n = read(fd, st->text, sizeof(st->text) - 1);
	close(fd);
	if (n < 0) {
		*why = "status cannot be read";
		return -errno;
	}
	st->text[n] = '\0';
	st->n = 0;
	for (char *line = strtok(st->text, "\n"); line != NULL && st->n < 32;
	     line = strtok(NULL, "\n")) {
		char *eq = strchr(line, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		st->keys[st->n] = line;
		st->values[st->n] = eq + 1;
		st->n++;
	}
	return 0;
}

/* Read MOUNT/DIR/NAME into buf (NUL-terminated): its length, or -errno. */
int ctl_read_mount_file(const char *mount, const char *dir, const char *name, char *buf, size_t cap)
{
	char path[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", mount, dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

/* Read MOUNT/.cluster/NAME into buf. 0 or -errno. */
int ctl_read_cluster_file(const char *mount, const char *name, char *buf, size_t cap)
{
	int n = ctl_read_mount_file(mount, ".cluster", name, buf, cap);

	return n < 0 ? n : 0;
}

/* The lease file's parsed content. 0, -ENOENT or -errno. */
int ctl_lease_read(const char *mount, const char *name, struct ns_lease *l)
{
	char text[1024];
	int n = ctl_read_mount_file(mount, "leases", name, text, sizeof(text));

	if (n < 0)
		return n;
	return ns_leases_parse(text, (size_t)n, l) == 0 && l->has_times ? 0 : -EPROTO;
}
