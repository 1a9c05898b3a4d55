/*
 * clusterfsctl: the commands that report or wait for this node's state:
 * status, wait, sync (members: members.c). They read .cluster/ files (mountfile.c);
 * sync is an fsync through the mount. Single-threaded, like the whole tool.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define WAIT_POLL_MS 100

/* Mounted, a leader known, and this node able to commit. */
bool ctl_status_healthy(const struct status *st)
{
	return strcmp(ctl_status_get(st, "leader"), "0") != 0 &&
	       ctl_status_get(st, "leader")[0] != '\0' &&
	       strcmp(ctl_status_get(st, "quorum"), "yes") == 0;
}

int ctl_cmd_status(const char *mount, bool json)
{
	struct status st;
	const char *why = "";

	if (ctl_status_read(mount, &st, &why) != 0) {
		if (json)
			printf("{\"healthy\": false, \"error\": \"%s %s\"}\n", mount, why);
		fprintf(stderr, "clusterfsctl: %s %s\n", mount, why);
		return EXIT_UNAVAILABLE;
	}
	ctl_status_print(&st, json);
	if (!ctl_status_healthy(&st)) {
		fprintf(stderr, "clusterfsctl: node %s cannot commit: %s\n",
			ctl_status_get(&st, "id"),
			strcmp(ctl_status_get(&st, "leader"), "0") == 0 ? "no leader known"
									: "no quorum");
		return EXIT_UNAVAILABLE;
	}
	return 0;
}

int ctl_cmd_wait(const char *mount, bool json, double timeout_s)
{
	struct timespec start, now, pause = {0, WAIT_POLL_MS * 1000000L};
	struct status st;
	const char *why = "is not mounted";

	st.n = 0; /* read below even if no status was ever read */
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (ctl_status_read(mount, &st, &why) == 0 && ctl_status_healthy(&st)) {
			if (json)
				ctl_status_print(&st, true);
			return 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 >=
		    timeout_s)
			break;
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, "clusterfsctl: %s was not ready after %g s (%s)\n", mount, timeout_s,
		st.n > 0 ? "no leader or no quorum" : why);
	return EXIT_UNAVAILABLE;
}

int ctl_cmd_sync(const char *mount)
{
	char path[4096];
	int fd, err;

	/* fsync is a barrier through the leader (DESIGN §3); on a .cluster/
	 * file it also waits until this node's kernel caches have caught up
	 * with everything applied (see fs_fsync), so what we read next is at
	 * least as new as the sync point. */
	snprintf(path, sizeof(path), "%s/.cluster/status", mount);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fsync(fd) == 0) {
		close(fd);
		return 0;
	}
	err = errno;
	fprintf(stderr, "clusterfsctl: sync through %s failed: %s\n", mount, strerror(err));
	if (fd >= 0)
		close(fd);
	return fd < 0 ? EXIT_UNAVAILABLE : ctl_exit_for(err);
}
