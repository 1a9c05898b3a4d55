/*
 * The guardian process; see guardian.h.
 *
 * The child is forked from a multi-threaded process, so it makes system
 * calls only (no malloc, no stdio, no locks): every path and message it
 * needs is formatted by the parent before the fork.
 */
#include "guardian.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/log.h"

#define FUSECTL_DIR "/sys/fs/fuse/connections"
/* The parent's death: PR_SET_PDEATHSIG's signal. */
#define GUARDIAN_SIGNAL SIGUSR1

struct guardian {
	pid_t pid;
	pid_t parent;
	unsigned long conn;
	char abort_path[64];
	char parent_stat[64];
	char mountpoint[PATH_MAX];
	char done_msg[PATH_MAX + 256];
	char failed_msg[PATH_MAX + 256];
};

/* fusectl mounted: its directory is another filesystem than its parent. */
static bool fusectl_mounted(void)
{
	struct stat dir, parent;

	return stat(FUSECTL_DIR, &dir) == 0 && stat("/sys/fs/fuse", &parent) == 0 &&
	       dir.st_dev != parent.st_dev;
}

static int write_abort(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int rv = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		rv = -errno;
	close(fd);
	return rv;
}

/* fusectl mounted in a mount namespace of this process's own (it lists
 * every connection of the system), so that nothing is left mounted on the
 * host. Fails in a multi-threaded process (unshare), where the caller
 * falls back to a forced unmount. */
static bool fusectl_mount_private(void)
{
	return unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	       mount("fusectl", FUSECTL_DIR, "fusectl", 0, NULL) == 0;
}

/* Abort the connection: through fusectl (mounted privately if the system
 * has not mounted it), else by a forced unmount, which aborts a FUSE
 * connection too. 0 also when the connection is gone already. System
 * calls only. */
static int conn_abort(const struct guardian *g)
{
	int rv = write_abort(g->abort_path);

	if (rv != -ENOENT)
		return rv;
	if (fusectl_mounted() || fusectl_mount_private()) {
		rv = write_abort(g->abort_path);
		return rv == -ENOENT ? 0 : rv; /* no such connection any more */
	}
	/* fusectl cannot be mounted here (no privilege, sysfs read-only). */
	if (umount2(g->mountpoint, MNT_FORCE) == 0 || errno == EBUSY)
		return 0;
	return -errno;
}

/* Whether the parent's main thread still runs: after a kill -9 it is a
 * zombie (Z) while another thread of it is stuck in the kernel, and once
 * the whole process is gone this process has a new parent. */
static bool parent_alive(const struct guardian *g)
{
	char buf[512];
	ssize_t n;
	int fd;

	if (getppid() != g->parent)
		return false;
	fd = open(g->parent_stat, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* "pid (comm) S ...": the comm may hold ')' itself; the state
	 * follows the last one. */
	for (ssize_t i = n - 1; i >= 0; i--)
		if (buf[i] == ')')
			return i + 2 < n && buf[i + 2] != 'Z' && buf[i + 2] != 'X';
	return true;
}

static void say(const char *msg)
{
	ssize_t n = write(STDERR_FILENO, msg, strlen(msg));

	(void)n; /* nowhere else to report it */
}

static void guardian_main(const struct guardian *g)
{
	struct sigaction ign = {.sa_handler = SIG_IGN};
	sigset_t set;

	/* Group signals are the daemon's to answer (by unmounting cleanly):
	 * Ctrl-C in a terminal, systemd's stop, a hangup. */
	sigaction(SIGINT, &ign, NULL);
	sigaction(SIGTERM, &ign, NULL);
	sigaction(SIGHUP, &ign, NULL);
	sigaction(SIGPIPE, &ign, NULL);
	sigemptyset(&set);
	sigaddset(&set, GUARDIAN_SIGNAL);
	sigprocmask(SIG_BLOCK, &set, NULL);
	prctl(PR_SET_PDEATHSIG, GUARDIAN_SIGNAL);
	prctl(PR_SET_NAME, "cfs-guardian"); /* not a clusterfsd in ps */
	/* Hold nothing of the daemon's: above all not /dev/fuse. */
	close_range(3, ~0U, 0);
	/* The signal may have come before the prctl: look first. A stray
	 * signal from someone else finds the parent alive. */
	while (parent_alive(g))
		sigwaitinfo(&set, NULL);
	say(conn_abort(g) == 0 ? g->done_msg : g->failed_msg);
}

int guardian_start(struct guardian **out, const char *mountpoint, unsigned long conn)
{
	struct guardian *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return -ENOMEM;
	g->parent = getpid();
	g->conn = conn;
	snprintf(g->abort_path, sizeof(g->abort_path), FUSECTL_DIR "/%lu/abort", conn);
	snprintf(g->parent_stat, sizeof(g->parent_stat), "/proc/%d/stat", (int)g->parent);
	snprintf(g->mountpoint, sizeof(g->mountpoint), "%s", mountpoint);
	snprintf(g->done_msg, sizeof(g->done_msg),
		 "clusterfsd: pid %d died with %s mounted; its guardian aborted FUSE connection "
		 "%lu, so the mount answers ENOTCONN until clusterfsd is started again\n",
		 (int)g->parent, mountpoint, conn);
	snprintf(g->failed_msg, sizeof(g->failed_msg),
		 "clusterfsd: pid %d died with %s mounted, and its guardian could not abort FUSE "
		 "connection %lu: if the mount hangs, run 'echo 1 > %s' (with fusectl mounted "
		 "on " FUSECTL_DIR ")\n",
		 (int)g->parent, mountpoint, conn, g->abort_path);
	/* PR_SET_PDEATHSIG fires when the forking thread exits: that must be
	 * the main thread, which lives as long as the process does. */
	if (gettid() != g->parent) {
		free(g);
		return -EINVAL;
	}
	g->pid = fork();
	if (g->pid < 0) {
		int rv = -errno;

		free(g);
		return rv;
	}
	if (g->pid == 0) {
		guardian_main(g);
		_exit(0);
	}
	*out = g;
	return 0;
}

void guardian_abort(struct guardian *g)
{
	int rv = conn_abort(g);

	if (rv == 0)
		log_warn("aborted FUSE connection %lu of %s so that this process can exit", g->conn,
			 g->mountpoint);
	else
		log_error("could not abort FUSE connection %lu of %s: %s", g->conn, g->mountpoint,
			  strerror(-rv));
}

void guardian_stop(struct guardian *g)
{
	if (g == NULL)
		return;
	kill(g->pid, SIGKILL);
	waitpid(g->pid, NULL, 0);
	free(g);
}
