/*
 * clusterfsctl: backup (a consistent copy of the store through
 * .cluster/backup) and restore (offline: a new cluster's first node from a
 * backup). Single-threaded, like the whole tool.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../replication/node.h"
#include "../../replication/store.h"
#include "ctl.h"

#define SQLITE_MAGIC "SQLite format 3"

int ctl_cmd_backup(const char *mount, const char *file)
{
	char src[4096], tmp[4096], buf[1 << 16];
	size_t total = 0;
	int in, out, rv = 0;
	ssize_t n;

	snprintf(src, sizeof(src), "%s/.cluster/backup", mount);
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		fprintf(stderr, "clusterfsctl: cannot read %s: %s%s\n", src, strerror(errno),
			errno == EACCES ? " (run as root)" : "");
		return 1;
	}
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		fprintf(stderr, "clusterfsctl: cannot write %s: %s\n", tmp, strerror(errno));
		close(in);
		return 1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (total == 0 && (n < 16 || memcmp(buf, SQLITE_MAGIC, 15) != 0)) {
			rv = -EPROTO;
			break;
		}
		if (write(out, buf, (size_t)n) != n) {
			rv = -errno;
			break;
		}
		total += (size_t)n;
	}
	if (n < 0)
		rv = -errno;
	if (rv == 0 && fsync(out) != 0)
		rv = -errno;
	close(in);
	close(out);
	if (rv == 0 && total == 0)
		rv = -ENODATA;
	if (rv == 0 && rename(tmp, file) != 0)
		rv = -errno;
	if (rv != 0) {
		unlink(tmp);
		fprintf(stderr, "clusterfsctl: backup to %s failed: %s\n", file, strerror(-rv));
		return 1;
	}
	printf("backup of %s written to %s (%zu bytes)\n", mount, file, total);
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	char buf[1 << 16];
	int in = open(from, O_RDONLY | O_CLOEXEC), out, rv = 0;
	ssize_t n;

	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		rv = -errno;
		close(in);
		return rv;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rv = -EIO;
			break;
		}
	if (n < 0)
		rv = -errno;
	if (rv == 0 && fsync(out) != 0)
		rv = -errno;
	close(in);
	close(out);
	return rv;
}

/* Offline: DIR becomes the data directory of the first node of a new
 * cluster whose tree is the backup's. */
int ctl_cmd_restore(const char *file, const char *data, const char *address)
{
	char path[4096], err[512] = "", conf[1024];
	struct store *s;
	int64_t id;
	int rv, fd;

	if (data == NULL) {
		fprintf(stderr,
			"clusterfsctl: restore needs --data DIR (a new, empty directory)\n");
		return 2;
	}
	if (mkdir(data, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "clusterfsctl: cannot create %s: %s\n", data, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/node.conf", data);
	if (access(path, F_OK) == 0) {
		fprintf(stderr,
			"clusterfsctl: %s already holds a node; restore into an empty "
			"directory\n",
			data);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/store.db", data);
	rv = copy_file(file, path);
	if (rv != 0) {
		fprintf(stderr, "clusterfsctl: cannot copy %s to %s: %s\n", file, path,
			strerror(-rv));
		return 1;
	}
	rv = store_open(path, NULL, &s, err, sizeof(err));
	if (rv != 0) {
		unlink(path);
		fprintf(stderr, "clusterfsctl: %s is not a clusterfs backup: %s\n", file, err);
		return 1;
	}
	id = store_reseed(s);
	store_close(s);
	if (id < 0) {
		unlink(path);
		fprintf(stderr, "clusterfsctl: cannot prepare %s: %s\n", path, strerror((int)-id));
		return 1;
	}
	snprintf(conf, sizeof(conf), "id=%lld\naddress=%s\nrestored=1\n", (long long)id,
		 address != NULL ? address : NODE_DEFAULT_ADDRESS);
	snprintf(path, sizeof(path), "%s/node.conf", data);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, conf, strlen(conf)) != (ssize_t)strlen(conf) || fsync(fd) != 0) {
		fprintf(stderr, "clusterfsctl: cannot write %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	close(fd);
	printf("%s is ready: `clusterfsd --data %s --mount DIR` starts a new cluster (node %lld) "
	       "with the backup's tree; other nodes join it afresh\n",
	       data, data, (long long)id);
	return 0;
}
