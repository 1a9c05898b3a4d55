/*
 * The node's data directory (layout in node.h): reading and writing
 * node.conf, the cluster key and the epoch, locking the directory, telling
 * a new directory from one that holds state, and clearing what an
 * interrupted bootstrap or join left behind. Small files are written
 * atomically and durably.
 *
 * Called on the libuv loop thread (node_open, joins); blocking file I/O on
 * a handful of small files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node_internal.h"

int node_path_join(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Write a small file atomically and durably (tmp, fsync, rename, fsync dir). */
static int write_file_atomic(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	size_t len = strlen(text);
	int fd, dfd, rv = 0;

	if (node_path_join(path, sizeof(path), dir, name) != 0)
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
		rv = errno ? -errno : -EIO;
	close(fd);
	if (rv == 0 && rename(tmp, path) != 0)
		rv = -errno;
	if (rv == 0) {
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	if (rv != 0)
		unlink(tmp);
	return rv;
}

static int read_file(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (node_path_join(path, sizeof(path), dir, name) != 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* node.conf: "id=N\naddress=HOST:PORT\n", plus "joining=HOST:PORT,…"
 * while a join is not complete (written before the first contact, with id
 * 0 until the cluster gives one): a restart, or a retry with other flags,
 * then starts the join over from nothing. */
int node_conf_load(struct node *n, char *err, size_t errlen)
{
	char text[2048], addr[NODE_ADDRESS_MAX + 1] = "", *save = NULL;
	unsigned long long id = 0;
	int rv = read_file(n->data_dir, NODE_CONF, text, sizeof(text));

	if (rv != 0)
		return rv;
	n->join_targets[0] = '\0';
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "id=", 3) == 0)
			id = strtoull(line + 3, NULL, 10);
		else if (strncmp(line, "address=", 8) == 0 && strlen(line + 8) <= NODE_ADDRESS_MAX)
			strcpy(addr, line + 8);
		else if (strncmp(line, "joining=", 8) == 0 &&
			 strlen(line + 8) < sizeof(n->join_targets))
			strcpy(n->join_targets, line + 8);
		else if (strcmp(line, "restored=1") == 0)
			n->restored = true;
		else if (strcmp(line, "removed=1") == 0)
			n->removed = true;
	}
	if ((id == 0 && n->join_targets[0] == '\0') || id >= 65536 || addr[0] == '\0') {
		snprintf(err, errlen,
			 "%s/%s is corrupt; restore the data directory from a backup or "
			 "start with an empty --data",
			 n->data_dir, NODE_CONF);
		return -EUCLEAN;
	}
	n->id = id;
	if (n->cfg.address != NULL && n->join_targets[0] != '\0' &&
	    strlen(n->cfg.address) <= NODE_ADDRESS_MAX) {
		strcpy(addr, n->cfg.address); /* a join starting over may move */
	} else if (n->cfg.address != NULL && strcmp(n->cfg.address, addr) != 0) {
		snprintf(err, errlen,
			 "%s belongs to the node at %s, not %s; omit --address or use "
			 "another --data",
			 n->data_dir, addr, n->cfg.address);
		return -EINVAL;
	}
	memcpy(n->address, addr, strlen(addr) + 1);
	return 0;
}

/* The node was told it was removed from its cluster: it must not start
 * as a member again (node_open refuses it). */
int node_conf_save_removed(struct node *n)
{
	char text[2048];

	snprintf(text, sizeof(text), "id=%llu\naddress=%s\nremoved=1\n", (unsigned long long)n->id,
		 n->address);
	return write_file_atomic(n->data_dir, NODE_CONF, text);
}

int node_conf_save(struct node *n, bool joining)
{
	char text[2048];

	snprintf(text, sizeof(text), "id=%llu\naddress=%s\n%s%s%s", (unsigned long long)n->id,
		 n->address, joining ? "joining=" : "", joining ? n->join_targets : "",
		 joining ? "\n" : "");
	return write_file_atomic(n->data_dir, NODE_CONF, text);
}

/* raft_uv does not always say that its metadata is unreadable (a garbled
 * metadata file can leave the node without a term, waiting forever); check
 * the two files' shape (u64 format 1, version, term, vote) ourselves. */
int node_check_raft_metadata(struct node *n, char *err, size_t errlen)
{
	for (int i = 1; i <= 2; i++) {
		char name[32], path[PATH_MAX];
		unsigned char buf[33];
		ssize_t len;
		int fd;

		snprintf(name, sizeof(name), "%s/metadata%d", NODE_RAFT_DIR, i);
		if (node_path_join(path, sizeof(path), n->data_dir, name) != 0)
			return -ENAMETOOLONG;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf));
		close(fd);
		if (len != 32 || buf[0] != 1 || memcmp(buf + 1, "\0\0\0\0\0\0\0", 7) != 0) {
			snprintf(err, errlen, "%s is damaged; " NODE_RESEED_ADVICE, path);
			return -EUCLEAN;
		}
	}
	return 0;
}

/* Does the data directory hold state (a store or raft files)? */
bool node_has_state(struct node *n)
{
	char path[PATH_MAX];
	struct dirent *de;
	bool found = false;
	DIR *d;

	if (node_path_join(path, sizeof(path), n->data_dir, NODE_STORE) == 0 &&
	    access(path, F_OK) == 0)
		return true;
	if (node_path_join(path, sizeof(path), n->data_dir, NODE_RAFT_DIR) != 0)
		return false;
	d = opendir(path);
	if (d == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL)
		found = de->d_name[0] != '.';
	closedir(d);
	return found;
}

/* Each start gets a new epoch; it is part of the inode numbers and request
 * ids this node allocates, so neither repeats across restarts. */
int node_bump_epoch(struct node *n)
{
	char text[32];
	unsigned long epoch = 0;

	if (read_file(n->data_dir, NODE_EPOCH, text, sizeof(text)) == 0)
		epoch = strtoul(text, NULL, 10);
	epoch = (epoch + 1) & 0xffff;
	if (epoch == 0)
		epoch = 1;
	n->epoch = (uint32_t)epoch;
	snprintf(text, sizeof(text), "%lu\n", epoch);
	return write_file_atomic(n->data_dir, NODE_EPOCH, text);
}

int node_lock_dir(struct node *n, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (node_path_join(path, sizeof(path), n->data_dir, NODE_LOCK) != 0)
		return -ENAMETOOLONG;
	n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (n->lock_fd < 0) {
		snprintf(err, errlen, "cannot use data directory %s: %s", n->data_dir,
			 strerror(errno));
		return -errno;
	}
	if (flock(n->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "data directory %s is in use by another clusterfsd",
			 n->data_dir);
		return -EBUSY;
	}
	return 0;
}

int node_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* A data directory that never completed a bootstrap or join may hold the
 * leftovers of one that was interrupted: start from nothing. */
void node_wipe_unfinished(struct node *n)
{
	static const char *const files[] = {NODE_STORE, NODE_STORE "-wal", NODE_STORE "-shm"};
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (node_path_join(path, sizeof(path), n->data_dir, files[i]) == 0)
			unlink(path);
	}
	if (node_path_join(path, sizeof(path), n->data_dir, NODE_RAFT_DIR) != 0)
		return;
	d = opendir(path);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char file[PATH_MAX + 256];

		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
		unlink(file);
	}
	closedir(d);
}

/* --join given for a data directory that already holds a member: fine if
 * the key given is this cluster's (a unit that always passes its join
 * flags), refused if it is another cluster's: the node would run on as a
 * member of its old cluster. */
int node_check_same_cluster(struct node *n, char *err, size_t errlen)
{
	uint8_t mine[TRANSPORT_KEY_SIZE], given[TRANSPORT_KEY_SIZE];
	char path[PATH_MAX];
	int rv;

	if (n->cfg.key == NULL && n->cfg.key_file == NULL)
		return 0;
	if (node_path_join(path, sizeof(path), n->data_dir, NODE_KEY) != 0)
		return -ENAMETOOLONG;
	rv = transport_key_load(path, mine, err, errlen);
	if (rv != 0)
		return rv;
	if (n->cfg.key != NULL)
		memcpy(given, n->cfg.key, sizeof(given));
	else if ((rv = transport_key_load(n->cfg.key_file, given, err, errlen)) != 0)
		return rv;
	if (memcmp(mine, given, sizeof(mine)) == 0)
		return 0;
	snprintf(err, errlen,
		 "%s already holds node %llu of another cluster (its key differs from the one "
		 "given); to join this cluster, start with an empty --data (or remove %s), or "
		 "start without --join to run as that node",
		 n->data_dir, (unsigned long long)n->id, n->data_dir);
	return -EEXIST;
}

/* The cluster key: from the token, --cluster-key, or DATA/cluster.key; a
 * new cluster generates one. Joined and bootstrapped nodes keep a copy in
 * DATA/cluster.key, so a restart needs only --data. */
int node_load_key(struct node *n, char *err, size_t errlen)
{
	char path[PATH_MAX], hex[2 * TRANSPORT_KEY_SIZE + 2];
	int rv;

	if (node_path_join(path, sizeof(path), n->data_dir, NODE_KEY) != 0)
		return -ENAMETOOLONG;
	if (n->cfg.key != NULL) {
		memcpy(n->key, n->cfg.key, TRANSPORT_KEY_SIZE);
	} else if (n->cfg.key_file != NULL) {
		rv = transport_key_load(n->cfg.key_file, n->key, err, errlen);
		if (rv != 0)
			return rv;
	} else if (access(path, F_OK) == 0) {
		return transport_key_load(path, n->key, err, errlen);
	} else if (n->fresh && n->cfg.join == NULL) {
		rv = transport_key_generate(path, n->key);
		if (rv != 0)
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rv));
		return rv;
	} else {
		snprintf(err, errlen,
			 "no cluster key: pass --cluster-key FILE (a copy of a member's "
			 "DATA/cluster.key) or --join-token-file FILE");
		return -ENOKEY;
	}
	transport_key_hex(n->key, hex);
	strcat(hex, "\n");
	rv = write_file_atomic(n->data_dir, NODE_KEY, hex);
	if (rv != 0)
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rv));
	return rv;
}
