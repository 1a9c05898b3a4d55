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

static const char usage_text[] =
    "usage: clusterfsctl [--mount DIR] [--json] COMMAND\n"
    "commands:\n"
    "  status               show this node's state; exit 0 if it can commit\n"
    "  wait [--timeout S]   wait until status would succeed (default 60 s)\n"
    "  status --cluster     every member's state; exit 0 if all are reachable\n"
    "  members              list the members: role, reachable, last contact, lag\n"
    "  remove NODE_ID       remove a member (root)\n"
    "  join-token           print the line `clusterfsd --join-token-file` reads (root)\n"
    "  sync                 wait until this node has applied everything committed\n"
    "                       anywhere before the call (a linearizable read point)\n"
    "  lease acquire NAME... --holder H --ttl S [--wait [--timeout S]]\n"
    "                       take (or renew) every NAME or none of them\n"
    "  lease release NAME --holder H\n"
    "  backup FILE          write a consistent copy of the whole tree (root)\n"
    "  restore FILE --data DIR [--address HOST:PORT]\n"
    "                       offline: seed a new cluster's first node from a backup\n"
    "options:\n"
    "  --mount DIR          the clusterfs mount (default " DEFAULT_MOUNT ")\n"
    "  --json               one JSON document on stdout for every result and error\n"
    "  -h, --help           print this help and exit\n"
    "  --version            print the version and exit\n"
    "exit status: 0 ok, 1 refused or busy, 2 usage, 3 no quorum or timeout\n";

/* Bad usage: the usage on stderr (and the message as JSON under --json). */
static int usage_error(const char *what, const char *arg)
{
	if (arg != NULL)
		ctl_usage_error("%s '%s'", what, arg);
	else
		ctl_usage_error("%s", what);
	if (!ctl_json())
		fputs(usage_text, stderr);
	return EXIT_USAGE;
}

/* Whether one of @flags (NULL-terminated) is among @argv[from..argc), an
 * option's value aside (`--holder -h` names a holder), before any "--". */
static bool flag_given(int argc, char **argv, int from, const char *const *flags)
{
	static const char *const with_value[] = {"--mount",   "--data",	  "--address",
						 "--timeout", "--holder", "--ttl"};

	for (int i = from; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		for (size_t k = 0; flags[k] != NULL; k++)
			if (strcmp(argv[i], flags[k]) == 0)
				return true;
		for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			if (strcmp(argv[i], with_value[k]) == 0) {
				i++;
				break;
			}
	}
	return false;
}

/* --json anywhere on the command line: known before the arguments are
 * parsed, so that a usage error is JSON too. */
static bool json_requested(int argc, char **argv)
{
	static const char *const json[] = {"--json", NULL};

	return flag_given(argc, argv, 1, json);
}

/* The help, on stdout (as JSON under --json): exit 0. */
static int print_help(void)
{
	if (ctl_json())
		ctl_json_print(json_pack("{s:s}", "help", usage_text));
	else
		fputs(usage_text, stdout);
	return 0;
}

/* -h or --help anywhere after the command (`clusterfsctl lease -h`) is a
 * request for help too, not a bad option. */
static bool help_requested(int argc, char **argv, int from)
{
	static const char *const help[] = {"-h", "--help", NULL};

	return flag_given(argc, argv, from, help);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"mount", required_argument, NULL, 'm'},
	    {"json", no_argument, NULL, 'j'},
	    {"data", required_argument, NULL, 'd'},
	    {"address", required_argument, NULL, 'a'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"cluster", no_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	const char *mount = DEFAULT_MOUNT, *cmd, *data = NULL, *address = NULL;
	const char *args[2] = {NULL, NULL};
	int nargs = 0;
	double timeout_s = WAIT_DEFAULT_S;
	bool cluster = false;
	int opt;

	opterr = 0; /* our own line says what was wrong */
	ctl_output_json(json_requested(argc, argv));
	while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			mount = optarg;
			break;
		case 'j':
			ctl_output_json(true);
			break;
		case 'h':
			return print_help();
		case 'V':
			if (ctl_json())
				ctl_json_print(json_pack("{s:s}", "version", CFS_VERSION));
			else
				printf("clusterfsctl %s\n", CFS_VERSION);
			return 0;
		case ':':
			return ctl_usage_error("%s needs a value", argv[optind - 1]);
		default:
			return usage_error("bad option", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("no command given", NULL);
	cmd = argv[optind++];
	if (help_requested(argc, argv, optind))
		return print_help();
	if (strcmp(cmd, "lease") == 0)
		return ctl_cmd_lease(mount, argc - optind, argv + optind);
	for (;;) {
		char *end;

		opt = getopt_long(argc, argv, "+:", opts, NULL);
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
			ctl_output_json(true);
			break;
		case 'c':
			cluster = true;
			break;
		case 't':
			timeout_s = strtod(optarg, &end);
			if (*end != '\0' || timeout_s < 0)
				return ctl_usage_error("--timeout needs seconds");
			break;
		case ':':
			return ctl_usage_error("%s needs a value", argv[optind - 1]);
		default:
			return usage_error("bad option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_usage_error("unexpected argument '%s'", argv[optind]);
	if (strcmp(cmd, "remove") == 0 || strcmp(cmd, "backup") == 0 ||
	    strcmp(cmd, "restore") == 0) {
		if (nargs != 1)
			return ctl_usage_error("usage: %s %s", cmd,
					       strcmp(cmd, "remove") == 0 ? "NODE_ID" : "FILE");
		if (strcmp(cmd, "remove") == 0)
			return ctl_cmd_remove(mount, args[0]);
		if (strcmp(cmd, "backup") == 0)
			return ctl_cmd_backup(mount, args[0]);
		return ctl_cmd_restore(args[0], data, address);
	}
	if (nargs > 0)
		return ctl_usage_error("unexpected argument '%s'", args[0]);
	if (cluster && strcmp(cmd, "status") != 0)
		return ctl_usage_error("--cluster goes with status only");
	if (strcmp(cmd, "members") == 0)
		return ctl_cmd_members(mount);
	if (strcmp(cmd, "join-token") == 0)
		return ctl_cmd_join_token(mount);
	if (strcmp(cmd, "sync") == 0)
		return ctl_cmd_sync(mount);
	if (strcmp(cmd, "status") == 0)
		return cluster ? ctl_cmd_status_cluster(mount) : ctl_cmd_status(mount);
	if (strcmp(cmd, "wait") == 0)
		return ctl_cmd_wait(mount, timeout_s);
	return usage_error("unknown command", cmd);
}
