/*
 * clusterfsctl: talk to the local node through its mount (DESIGN §2).
 *
 * It needs no socket of its own: the node publishes its state in the
 * generated files under MOUNT/.cluster/, so the tool works wherever the
 * mount is visible and with the permissions of the mount.
 *
 * Exit status (docs/operations.md): 0 success; 1 refused (a lease held by
 * another holder, an invalid value, a failed command); 2 bad usage; 3 the
 * cluster cannot answer (not mounted, no leader, no quorum, a timeout).
 *
 * This file parses the arguments, dispatches to the commands (one file
 * per command group, see ctl.h) and owns the exit codes. Single-threaded.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/version.h"
#include "ctl.h"

#define DEFAULT_MOUNT  "/var/lib/clusterfs"
#define WAIT_DEFAULT_S 60

/* Errors that say the cluster could not decide, not that it said no. */
int ctl_exit_for(int err)
{
	switch (err) {
	case EROFS:
	case ETIMEDOUT:
	case ESHUTDOWN:
	case ENOTCONN:
	case ECONNABORTED:
		return EXIT_UNAVAILABLE;
	default:
		return EXIT_REFUSED;
	}
}

uint64_t ctl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: clusterfsctl [--mount DIR] [--json] COMMAND\n"
		"commands:\n"
		"  status               show this node's state; exit 0 if it can commit\n"
		"  wait [--timeout S]   wait until status would succeed (default 60 s)\n"
		"  status --cluster     every member's state; exit 0 if all are reachable\n"
		"  members              list the members: role, reachable, last contact, lag\n"
		"  remove NODE_ID       remove a member (root)\n"
		"  join-token           print the line `clusterfsd --join-token` takes (root)\n"
		"  sync                 wait until this node has applied everything committed\n"
		"                       anywhere before the call (a linearizable read point)\n"
		"  lease acquire NAME... --holder H --ttl S [--wait [--timeout S]]\n"
		"                       take (or renew) every NAME or none of them\n"
		"  lease release NAME --holder H\n"
		"  backup FILE          write a consistent copy of the whole tree (root)\n"
		"  restore FILE --data DIR [--address HOST:PORT]\n"
		"                       offline: seed a new cluster's first node from a backup\n"
		"exit status: 0 ok, 1 refused or busy, 2 usage, 3 no quorum or timeout\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"mount", required_argument, NULL, 'm'},   {"json", no_argument, NULL, 'j'},
	    {"data", required_argument, NULL, 'd'},    {"address", required_argument, NULL, 'a'},
	    {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},       {"cluster", no_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	const char *mount = DEFAULT_MOUNT, *cmd, *data = NULL, *address = NULL;
	const char *args[2] = {NULL, NULL};
	int nargs = 0;
	double timeout_s = WAIT_DEFAULT_S;
	bool json = false, cluster = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			mount = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("clusterfsctl %s\n", CFS_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "lease") == 0)
		return ctl_cmd_lease(mount, json, argc - optind, argv + optind);
	for (;;) {
		char *end;

		opt = getopt_long(argc, argv, "+", opts, NULL);
		if (opt == -1) {
			if (optind < argc && nargs < 2) {
				args[nargs++] = argv[optind++];
				continue;
			}
			break;
		}
		switch (opt) {
		case 'd':
			data = optarg;
			break;
		case 'a':
			address = optarg;
			break;
		case 'm':
			mount = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'c':
			cluster = true;
			break;
		case 't':
			timeout_s = strtod(optarg, &end);
			if (*end != '\0' || timeout_s < 0) {
				fprintf(stderr, "clusterfsctl: --timeout needs seconds\n");
				return 2;
			}
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "clusterfsctl: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (strcmp(cmd, "remove") == 0 || strcmp(cmd, "backup") == 0 ||
	    strcmp(cmd, "restore") == 0) {
		if (nargs != 1) {
			fprintf(stderr, "clusterfsctl: usage: %s %s\n", cmd,
				strcmp(cmd, "remove") == 0 ? "NODE_ID" : "FILE");
			return 2;
		}
		if (strcmp(cmd, "remove") == 0)
			return ctl_cmd_remove(mount, args[0]);
		if (strcmp(cmd, "backup") == 0)
			return ctl_cmd_backup(mount, args[0]);
		return ctl_cmd_restore(args[0], data, address);
	}
	if (nargs > 0) {
		fprintf(stderr, "clusterfsctl: unexpected argument '%s'\n", args[0]);
		return 2;
	}
	if (cluster && strcmp(cmd, "status") != 0) {
		fprintf(stderr, "clusterfsctl: --cluster goes with status only\n");
		return 2;
	}
	if (strcmp(cmd, "members") == 0)
		return ctl_cmd_members(mount, json);
	if (strcmp(cmd, "join-token") == 0)
		return ctl_cmd_join_token(mount);
	if (strcmp(cmd, "sync") == 0)
		return ctl_cmd_sync(mount);
	if (strcmp(cmd, "status") == 0)
		return cluster ? ctl_cmd_status_cluster(mount, json) : ctl_cmd_status(mount, json);
	if (strcmp(cmd, "wait") == 0)
		return ctl_cmd_wait(mount, json, timeout_s);
	fprintf(stderr, "clusterfsctl: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
