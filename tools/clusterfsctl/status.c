/*
 * clusterfsctl: the commands that report or wait for this node's state:
 * status, wait, sync (members: members.c). They read .cluster/ files (mountfile.c);
 * sync is an fsync through the mount. Single-threaded, like the whole tool.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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

const char *ctl_status_why(const struct status *st)
{
	return strcmp(ctl_status_get(st, "leader"), "0") == 0 ? "no leader known" : "no quorum";
}

int ctl_cmd_status(const char *mount)
{
	struct status st;
	const char *why = "";

	if (ctl_status_read(mount, &st, &why) != 0)
		return ctl_error(EXIT_UNAVAILABLE, json_pack("{s:b}", "healthy", 0), "%s %s", mount,
				 why);
	if (!ctl_status_healthy(&st)) {
		if (!ctl_json())
			ctl_status_print_text(&st);
		return ctl_error(EXIT_UNAVAILABLE, ctl_status_json(&st),
				 "node %s cannot commit: %s", ctl_status_get(&st, "id"),
				 ctl_status_why(&st));
	}
	if (ctl_json())
		ctl_json_print(ctl_status_json(&st));
	else
		ctl_status_print_text(&st);
	return 0;
}

int ctl_cmd_wait(const char *mount, double timeout_s)
{
	struct timespec start, now, pause = {0, WAIT_POLL_MS * 1000000L};
	struct status st;
	const char *why = "is not mounted";
	bool read_once = false;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (ctl_status_read(mount, &st, &why) == 0) {
			read_once = true;
			if (ctl_status_healthy(&st)) {
				if (ctl_json())
					ctl_json_print(ctl_status_json(&st));
				return 0;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 >=
		    timeout_s)
			break;
		nanosleep(&pause, NULL);
	}
	return ctl_error(EXIT_UNAVAILABLE, json_pack("{s:b}", "healthy", 0),
			 "%s was not ready after %g s (%s)", mount, timeout_s,
			 read_once ? "no leader or no quorum" : why);
}

/* applied_index from .cluster/status, or -1. */
static int64_t applied_index(const char *mount)
{
	struct status st;
	const char *why, *v;

	if (ctl_status_read(mount, &st, &why) != 0)
		return -1;
	v = ctl_status_get(&st, "applied_index");
	return v[0] >= '0' && v[0] <= '9' ? (int64_t)strtoll(v, NULL, 10) : -1;
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
		if (ctl_json())
			ctl_json_print(json_pack("{s:b, s:o}", "synced", 1, "applied_index",
						 ctl_jnum(applied_index(mount))));
		return 0;
	}
	err = errno;
	if (fd >= 0)
		close(fd);
	return ctl_error(fd < 0 ? EXIT_UNAVAILABLE : ctl_exit_for(err),
			 json_pack("{s:b}", "synced", 0), "sync through %s failed: %s", mount,
			 strerror(err));
}
