/*
 * clusterfsctl: lease acquire and lease release (DESIGN §2, leases/).
 *
 * Through the mount like everything else: `acquire` sets the
 * user.clusterfs.acquire xattr on leases/ (one entry: all of the names or
 * none, see fs/leases_multi.c), `release` writes ttl=0 to the lease's file.
 * Single-threaded, like the whole tool.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../../fs/ns.h"
#include "../../replication/entry.h"
#include "ctl.h"

/* `lease acquire --wait`: the longest pause between attempts (a deletion
 * of a lease file, seen through inotify, ends a pause at once). */
#define LEASE_RETRY_MAX_MS 2000
#define LEASE_RETRY_MIN_MS 50
/* `lease release`: how long to wait for the file to leave this node's view. */
#define LEASE_GONE_POLL_MS 5
/* The longest --timeout (a year): keeps the arithmetic in range. */
#define LEASE_TIMEOUT_MAX_S 31536000.0
#define LEASE_GONE_POLLS    400
/* Keep in step with FS_XATTR_ACQUIRE in fs/xattr.c. */
#define XATTR_ACQUIRE "user.clusterfs.acquire"

#define LEASE_NAMES_MAX ENTRY_MULTI_MAX

struct lease_args {
	const char *mount;
	bool json;
	const char *holder;
	long long ttl;
	bool wait;
	double timeout_s; /* < 0: no limit */
	const char *names[LEASE_NAMES_MAX];
	int n;
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* After EBUSY: who holds what, until when. Returns how long until the first
 * of them expires (ms, at least 0), or -1 if none is known to. */
static int64_t lease_report_busy(const struct lease_args *a, bool print)
{
	int64_t now = wall_ms(), soonest = -1;
	bool first = true;

	if (print && a->json)
		printf("{\"acquired\": false, \"busy\": [");
	for (int i = 0; i < a->n; i++) {
		struct ns_lease l;
		char until[40];
		int64_t left;

		if (ctl_lease_read(a->mount, a->names[i], &l) != 0 ||
		    strcmp(l.holder, a->holder) == 0 || l.expires_ms <= now)
			continue;
		left = l.expires_ms - now;
		if (soonest < 0 || left < soonest)
			soonest = left;
		if (!print)
			continue;
		ctl_format_ms(l.expires_ms, until, sizeof(until));
		if (a->json) {
			printf("%s{\"name\": ", first ? "" : ", ");
			ctl_json_string(a->names[i]);
			printf(", \"holder\": ");
			ctl_json_string(l.holder);
			printf(", \"expires\": \"%s\", \"retry_in\": %.1f}", until, left / 1000.0);
		} else {
			fprintf(stderr,
				"clusterfsctl: lease %s is held by %s until %s (retry in %lld s)\n",
				a->names[i], l.holder, until, (long long)((left + 999) / 1000));
		}
		first = false;
	}
	if (print && a->json)
		printf("]}\n");
	return soonest;
}

static void lease_report_acquired(const struct lease_args *a)
{
	if (a->json)
		printf("{\"acquired\": true, \"holder\": \"%s\", \"leases\": [", a->holder);
	for (int i = 0; i < a->n; i++) {
		struct ns_lease l;
		char until[40] = "?";

		if (ctl_lease_read(a->mount, a->names[i], &l) == 0)
			ctl_format_ms(l.expires_ms, until, sizeof(until));
		if (a->json) {
			printf("%s{\"name\": ", i ? ", " : "");
			ctl_json_string(a->names[i]);
			printf(", \"expires\": \"%s\"}", until);
		} else {
			printf("lease %s held by %s until %s\n", a->names[i], a->holder, until);
		}
	}
	if (a->json)
		printf("]}\n");
}

/* One attempt: 0 or -errno (EBUSY: someone else holds one of them). */
static int lease_try(const struct lease_args *a)
{
	char dir[4096], value[LEASE_NAMES_MAX * 257 + 256];
	size_t used;

	snprintf(dir, sizeof(dir), "%s/leases", a->mount);
	used =
	    (size_t)snprintf(value, sizeof(value), "holder=%s ttl=%lld names=", a->holder, a->ttl);
	for (int i = 0; i < a->n && used < sizeof(value); i++)
		used += (size_t)snprintf(value + used, sizeof(value) - used, "%s%s", i ? "," : "",
					 a->names[i]);
	if (used >= sizeof(value))
		return -E2BIG;
	return setxattr(dir, XATTR_ACQUIRE, value, used, 0) == 0 ? 0 : -errno;
}

static int lease_acquire(const struct lease_args *a)
{
	char dir[4096];
	/* (the deadline on the monotonic clock: a clock step must not move it) */
	int64_t deadline =
	    a->timeout_s >= 0 ? (int64_t)ctl_mono_ms() + (int64_t)(a->timeout_s * 1000) : -1;
	int64_t backoff = LEASE_RETRY_MIN_MS;
	int ifd = -1, rv;

	snprintf(dir, sizeof(dir), "%s/leases", a->mount);
	for (;;) {
		int64_t soonest, pause;

		rv = lease_try(a);
		if (rv == 0) {
			lease_report_acquired(a);
			break;
		}
		if (rv != -EBUSY || !a->wait)
			break;
		soonest = lease_report_busy(a, false);
		pause = soonest >= 0 && soonest < backoff ? soonest + 1 : backoff;
		if (deadline >= 0 && (int64_t)ctl_mono_ms() + pause > deadline) {
			if ((int64_t)ctl_mono_ms() >= deadline)
				break;
			pause = deadline - (int64_t)ctl_mono_ms();
		}
		/* A lease file deleted or rewritten (released, expired) ends the
		 * pause at once; no event is lost to a race: we retry anyway. */
		if (ifd < 0) {
			ifd = inotify_init1(IN_CLOEXEC);
			if (ifd >= 0 &&
			    inotify_add_watch(ifd, dir, IN_DELETE | IN_CLOSE_WRITE) < 0) {
				close(ifd);
				ifd = -1;
			}
		}
		if (ifd >= 0) {
			struct pollfd pfd = {.fd = ifd, .events = POLLIN};
			char buf[4096];

			if (poll(&pfd, 1, (int)pause) > 0 && read(ifd, buf, sizeof(buf)) < 0)
				break;
		} else {
			struct timespec ts = {pause / 1000, (pause % 1000) * 1000000L};

			nanosleep(&ts, NULL);
		}
		backoff = backoff * 2 > LEASE_RETRY_MAX_MS ? LEASE_RETRY_MAX_MS : backoff * 2;
	}
	if (ifd >= 0)
		close(ifd);
	if (rv == 0)
		return EXIT_OK;
	if (rv == -EBUSY) {
		lease_report_busy(a, true);
		if (a->wait)
			fprintf(stderr, "clusterfsctl: gave up after %g s\n", a->timeout_s);
		return EXIT_REFUSED;
	}
	if (a->json)
		printf("{\"acquired\": false, \"error\": \"%s\"}\n", strerror(-rv));
	fprintf(stderr, "clusterfsctl: cannot acquire: %s%s\n", strerror(-rv),
		rv == -EINVAL ? " (lease names are letters, digits, '.', '-', '_'; holders the "
				"same plus ':@/+'; ttl at most a year)"
			      : "");
	return ctl_exit_for(-rv);
}

static int lease_release(const struct lease_args *a)
{
	char path[4096], text[300];
	int fd, rv = 0, len;

	snprintf(path, sizeof(path), "%s/leases/%s", a->mount, a->names[0]);
	len = snprintf(text, sizeof(text), "holder=%s ttl=0\n", a->holder);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0 || write(fd, text, (size_t)len) != len)
		rv = -errno;
	if (fd >= 0)
		close(fd);
	if (rv == 0) {
		/* The release removes the file; its removal reaches this node's
		 * kernel a moment later (replayed like a remote change): wait a
		 * little for it, so that a script's next `ls` agrees. */
		struct stat sb;

		for (int i = 0; i < LEASE_GONE_POLLS && stat(path, &sb) == 0; i++) {
			struct timespec ts = {0, LEASE_GONE_POLL_MS * 1000000L};

			nanosleep(&ts, NULL);
		}
	}
	if (rv == 0 || rv == -ENOENT) {
		if (a->json)
			printf("{\"released\": true, \"name\": \"%s\", \"was_held\": %s}\n",
			       a->names[0], rv == 0 ? "true" : "false");
		else if (rv == 0)
			printf("lease %s released\n", a->names[0]);
		else
			printf("lease %s was not held\n", a->names[0]);
		return EXIT_OK;
	}
	if (rv == -EBUSY) {
		lease_report_busy(a, true);
		return EXIT_REFUSED;
	}
	fprintf(stderr, "clusterfsctl: cannot release %s: %s\n", a->names[0], strerror(-rv));
	return ctl_exit_for(-rv);
}

int ctl_cmd_lease(const char *mount, bool json, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"holder", required_argument, NULL, 'H'},
	    {"ttl", required_argument, NULL, 'T'},
	    {"wait", no_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 't'},
	    {"mount", required_argument, NULL, 'm'},
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	struct lease_args a = {.mount = mount, .json = json, .ttl = -1, .timeout_s = -1};
	const char *sub;
	char *end;
	int opt;

	if (argc < 1) {
		fprintf(stderr, "clusterfsctl: usage: lease acquire|release NAME... --holder H\n");
		return EXIT_USAGE;
	}
	sub = argv[0];
	optind = 0; /* restart getopt on the sub-command's arguments */
	for (;;) {
		opt = getopt_long(argc, argv, "+", opts, NULL);
		if (opt == -1) {
			if (optind < argc) {
				if (a.n == LEASE_NAMES_MAX) {
					fprintf(stderr, "clusterfsctl: at most %d leases at once\n",
						LEASE_NAMES_MAX);
					return EXIT_USAGE;
				}
				a.names[a.n++] = argv[optind++];
				continue;
			}
			break;
		}
		switch (opt) {
		case 'H':
			a.holder = optarg;
			break;
		case 'T':
			a.ttl = strtoll(optarg, &end, 10);
			if (*end != '\0' || end == optarg || a.ttl <= 0 ||
			    a.ttl > NS_LEASE_TTL_MAX) {
				fprintf(stderr,
					"clusterfsctl: --ttl needs whole seconds, 1 to %u\n",
					NS_LEASE_TTL_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'w':
			a.wait = true;
			break;
		case 't':
			a.timeout_s = strtod(optarg, &end);
			if (*end != '\0' || end == optarg || !(a.timeout_s >= 0) ||
			    a.timeout_s > LEASE_TIMEOUT_MAX_S) {
				fprintf(stderr, "clusterfsctl: --timeout needs seconds\n");
				return EXIT_USAGE;
			}
			break;
		case 'm':
			a.mount = optarg;
			break;
		case 'j':
			a.json = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (a.holder == NULL || a.n == 0) {
		fprintf(stderr, "clusterfsctl: lease %s needs NAME and --holder H\n", sub);
		return EXIT_USAGE;
	}
	/* Refused here too, so that a NAME like ../routing/x never reaches a
	 * path and a holder always fits a lease's content. */
	for (int i = 0; i < a.n; i++) {
		if (ns_leases_check_name(a.names[i], strlen(a.names[i])) != 0) {
			fprintf(stderr,
				"clusterfsctl: '%s' is not a lease name (letters, digits, "
				"'.', '-', '_', starting with a letter or digit)\n",
				a.names[i]);
			return EXIT_USAGE;
		}
	}
	{
		char probe[NS_LEASE_HOLDER_MAX + 32];
		struct ns_lease l;
		int n = snprintf(probe, sizeof(probe), "holder=%s ttl=1", a.holder);

		if (n < 0 || (size_t)n >= sizeof(probe) ||
		    ns_leases_parse(probe, (size_t)n, &l) != 0 || strcmp(l.holder, a.holder) != 0) {
			fprintf(stderr,
				"clusterfsctl: '%s' is not a holder (1 to %d letters, digits "
				"and '._:@/+-')\n",
				a.holder, NS_LEASE_HOLDER_MAX);
			return EXIT_USAGE;
		}
	}
	if (strcmp(sub, "acquire") == 0) {
		if (a.ttl < 0) {
			fprintf(stderr, "clusterfsctl: lease acquire needs --ttl SECONDS\n");
			return EXIT_USAGE;
		}
		return lease_acquire(&a);
	}
	if (strcmp(sub, "release") == 0) {
		if (a.n != 1 || a.ttl >= 0 || a.wait) {
			fprintf(stderr, "clusterfsctl: usage: lease release NAME --holder H\n");
			return EXIT_USAGE;
		}
		return lease_release(&a);
	}
	fprintf(stderr, "clusterfsctl: unknown lease command '%s' (acquire, release)\n", sub);
	return EXIT_USAGE;
}
