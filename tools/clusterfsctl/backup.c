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
	if (in < 0)
		return ctl_error(EXIT_REFUSED, NULL, "cannot read %s: %s%s", src, strerror(errno),
				 errno == EACCES ? " (run as root)" : "");
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		rv = errno;
		close(in);
		return ctl_error(EXIT_REFUSED, NULL, "cannot write %s: %s", tmp, strerror(rv));
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
		return ctl_error(EXIT_REFUSED, NULL, "backup to %s failed: %s", file,
				 strerror(-rv));
	}
	if (ctl_json())
		ctl_json_print(
		    json_pack("{s:o, s:I}", "backup", ctl_jstr(file), "bytes", (json_int_t)total));
	else
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

	if (data == NULL)
		return ctl_usage_error("restore needs --data DIR (a new, empty directory)");
	if (mkdir(data, 0700) != 0 && errno != EEXIST)
		return ctl_error(EXIT_REFUSED, NULL, "cannot create %s: %s", data, strerror(errno));
	snprintf(path, sizeof(path), "%s/node.conf", data);
	if (access(path, F_OK) == 0)
		return ctl_error(EXIT_REFUSED, NULL,
				 "%s already holds a node; restore into an empty directory", data);
	snprintf(path, sizeof(path), "%s/store.db", data);
	rv = copy_file(file, path);
	if (rv != 0)
		return ctl_error(EXIT_REFUSED, NULL, "cannot copy %s to %s: %s", file, path,
				 strerror(-rv));
	rv = store_open(path, NULL, &s, err, sizeof(err));
	if (rv != 0) {
		unlink(path);
		return ctl_error(EXIT_REFUSED, NULL, "%s is not a clusterfs backup: %s", file, err);
	}
	id = store_reseed(s);
	store_close(s);
	if (id < 0) {
		unlink(path);
		return ctl_error(EXIT_REFUSED, NULL, "cannot prepare %s: %s", path,
				 strerror((int)-id));
	}
	snprintf(conf, sizeof(conf), "id=%lld\naddress=%s\nrestored=1\n", (long long)id,
		 address != NULL ? address : NODE_DEFAULT_ADDRESS);
	snprintf(path, sizeof(path), "%s/node.conf", data);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, conf, strlen(conf)) != (ssize_t)strlen(conf) || fsync(fd) != 0) {
		rv = errno;
		if (fd >= 0)
			close(fd);
		return ctl_error(EXIT_REFUSED, NULL, "cannot write %s: %s", path, strerror(rv));
	}
	close(fd);
	if (ctl_json()) {
		ctl_json_print(json_pack("{s:b, s:o, s:I}", "restored", 1, "data", ctl_jstr(data),
					 "node_id", (json_int_t)id));
		return 0;
	}
	printf("%s is ready: `clusterfsd --data %s --mount DIR` starts a new cluster (node %lld) "
	       "with the backup's tree; other nodes join it afresh\n",
	       data, data, (long long)id);
	return 0;
}
