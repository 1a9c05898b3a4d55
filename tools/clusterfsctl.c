/*
 * clusterfsctl: talk to the local node through its mount (DESIGN §2).
 *
 * It needs no socket of its own: the node publishes its state in the
 * generated files under MOUNT/.cluster/, so the tool works wherever the
 * mount is visible and with the permissions of the mount.
 *
 * Exit status: 0 success; 1 the node is not healthy (or the command
 * failed); 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "../common/version.h"

#define DEFAULT_MOUNT "/var/lib/clusterfs"
#define FUSE_SUPER_MAGIC 0x65735546
#define STATUS_MAX 8192
#define WAIT_POLL_MS 100
#define WAIT_DEFAULT_S 60

struct status {
	char text[STATUS_MAX];
	const char *keys[32];
	const char *values[32];
	int n;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: clusterfsctl [--mount DIR] [--json] COMMAND\n"
		     "commands:\n"
		     "  status               show this node's state; exit 0 if it can commit\n"
		     "  wait [--timeout S]   wait until status would succeed (default 60 s)\n");
}

static const char *status_get(const struct status *st, const char *key)
{
	for (int i = 0; i < st->n; i++)
		if (strcmp(st->keys[i], key) == 0)
			return st->values[i];
	return "";
}

/* Read MOUNT/.cluster/status; 0, or -errno with *why set. */
static int status_read(const char *mount, struct status *st, const char **why)
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

/* Mounted, a leader known, and this node able to commit. */
static bool status_healthy(const struct status *st)
{
	return strcmp(status_get(st, "leader"), "0") != 0 && status_get(st, "leader")[0] != '\0' &&
	       strcmp(status_get(st, "quorum"), "yes") == 0;
}

static void status_print(const struct status *st, bool json)
{
	if (json) {
		printf("{");
		for (int i = 0; i < st->n; i++) {
			const char *v = st->values[i];
			bool num = v[0] != '\0' && strspn(v, "0123456789") == strlen(v);

			printf("%s\"%s\": ", i ? ", " : "", st->keys[i]);
			if (num)
				printf("%s", v);
			else {
				putchar('"');
				for (const char *p = v; *p; p++) {
					if (*p == '"' || *p == '\\')
						putchar('\\');
					putchar(*p);
				}
				putchar('"');
			}
		}
		printf(", \"healthy\": %s}\n", status_healthy(st) ? "true" : "false");
		return;
	}
	for (int i = 0; i < st->n; i++)
		printf("%-15s %s\n", st->keys[i], st->values[i]);
}

static int cmd_status(const char *mount, bool json)
{
	struct status st;
	const char *why = "";

	if (status_read(mount, &st, &why) != 0) {
		if (json)
			printf("{\"healthy\": false, \"error\": \"%s %s\"}\n", mount, why);
		fprintf(stderr, "clusterfsctl: %s %s\n", mount, why);
		return 1;
	}
	status_print(&st, json);
	if (!status_healthy(&st)) {
		fprintf(stderr, "clusterfsctl: node %s cannot commit: %s\n", status_get(&st, "id"),
			strcmp(status_get(&st, "leader"), "0") == 0 ? "no leader known"
								    : "no quorum");
		return 1;
	}
	return 0;
}

static int cmd_wait(const char *mount, bool json, double timeout_s)
{
	struct timespec start, now, pause = {0, WAIT_POLL_MS * 1000000L};
	struct status st;
	const char *why = "is not mounted";

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (status_read(mount, &st, &why) == 0 && status_healthy(&st)) {
			if (json)
				status_print(&st, true);
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
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"mount", required_argument, NULL, 'm'}, {"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},	   {NULL, 0, NULL, 0},
	};
	const char *mount = DEFAULT_MOUNT, *cmd;
	double timeout_s = WAIT_DEFAULT_S;
	bool json = false;
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
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		char *end;

		switch (opt) {
		case 'm':
			mount = optarg;
			break;
		case 'j':
			json = true;
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
	if (strcmp(cmd, "status") == 0)
		return cmd_status(mount, json);
	if (strcmp(cmd, "wait") == 0)
		return cmd_wait(mount, json, timeout_s);
	fprintf(stderr, "clusterfsctl: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
