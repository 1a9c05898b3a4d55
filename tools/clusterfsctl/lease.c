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
 * of them expires (ms, at least 0), or -1 if none is known to. With @busy,
 * says so: a line per lease on stderr, and under --json an entry per lease
 * appended to @busy; with @first, the first line (for the error). */
static int64_t lease_report_busy(const struct lease_args *a, json_t *busy, char *first, size_t cap)
{
	int64_t now = wall_ms(), soonest = -1;

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
		if (busy == NULL)
			continue;
		ctl_format_ms(l.expires_ms, until, sizeof(until));
		if (first != NULL && first[0] == '\0')
			snprintf(first, cap, "lease %s is held by %s until %s", a->names[i],
				 l.holder, until);
		if (ctl_json())
			json_array_append_new(busy, json_pack("{s:o, s:o, s:s, s:f}", "name",
							      ctl_jstr(a->names[i]), "holder",
							      ctl_jstr(l.holder), "expires", until,
							      "retry_in", left / 1000.0));
		else
			fprintf(stderr,
				"clusterfsctl: lease %s is held by %s until %s (retry in %lld s)\n",
				a->names[i], l.holder, until, (long long)((left + 999) / 1000));
	}
	return soonest;
}

/* EBUSY, said: stderr, and under --json {KEY: false, "busy": [...], "error"}. */
static int lease_busy(const struct lease_args *a, const char *key, const char *extra)
{
	json_t *busy = json_array();
	char first[512] = "";

	lease_report_busy(a, busy, first, sizeof(first));
	if (extra != NULL && !ctl_json())
		fprintf(stderr, "clusterfsctl: %s\n", extra);
	if (!ctl_json()) {
		json_decref(busy);
		return EXIT_REFUSED;
	}
	ctl_json_print(json_pack("{s:b, s:o, s:s}", key, 0, "busy", busy, "error",
				 extra != NULL ? extra
				 : first[0]    ? first
					       : "a lease is held by another holder"));
	return EXIT_REFUSED;
}

static void lease_report_acquired(const struct lease_args *a)
{
	json_t *leases = ctl_json() ? json_array() : NULL;

	for (int i = 0; i < a->n; i++) {
		struct ns_lease l;
		char until[40] = "?";
		bool known = ctl_lease_read(a->mount, a->names[i], &l) == 0;

		if (known)
			ctl_format_ms(l.expires_ms, until, sizeof(until));
		if (leases != NULL)
			json_array_append_new(
			    leases, json_pack("{s:o, s:o}", "name", ctl_jstr(a->names[i]),
					      "expires", known ? json_string(until) : json_null()));
		else if (!ctl_json())
			printf("lease %s held by %s until %s\n", a->names[i], a->holder, until);
	}
	if (ctl_json())
		ctl_json_print(json_pack("{s:b, s:o, s:o}", "acquired", 1, "holder",
					 ctl_jstr(a->holder), "leases",
					 leases != NULL ? leases : json_array()));
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
		soonest = lease_report_busy(a, NULL, NULL, 0);
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
		char gave_up[64];

		snprintf(gave_up, sizeof(gave_up), "gave up after %g s", a->timeout_s);
		return lease_busy(a, "acquired", a->wait ? gave_up : NULL);
	}
	return ctl_error(ctl_exit_for(-rv), json_pack("{s:b}", "acquired", 0),
			 "cannot acquire: %s%s", strerror(-rv),
			 rv == -EINVAL
			     ? " (lease names are letters, digits, '.', '-', '_'; holders "
			       "the same plus ':@/+'; ttl at most a year)"
			     : "");
}

static int lease_release(const struct lease_args *a)
{
	char path[4096], text[300];
	int fd, rv = 0, len;

	struct stat dir;

	/* "not held" only where leases/ exists: not for a mount that is not there */
	snprintf(path, sizeof(path), "%s/leases", a->mount);
	if (stat(path, &dir) != 0 || !S_ISDIR(dir.st_mode))
		return ctl_error(EXIT_UNAVAILABLE, json_pack("{s:b}", "released", 0),
				 "cannot release %s: %s is not a clusterfs mount", a->names[0],
				 a->mount);
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
		if (ctl_json())
			ctl_json_print(json_pack("{s:b, s:o, s:b}", "released", 1, "name",
						 ctl_jstr(a->names[0]), "was_held", rv == 0));
		else if (rv == 0)
			printf("lease %s released\n", a->names[0]);
		else
			printf("lease %s was not held\n", a->names[0]);
		return EXIT_OK;
	}
	if (rv == -EBUSY)
		return lease_busy(a, "released", NULL);
	return ctl_error(ctl_exit_for(-rv), json_pack("{s:b}", "released", 0),
			 "cannot release %s: %s", a->names[0], strerror(-rv));
}

int ctl_cmd_lease(const char *mount, int argc, char **argv)
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
	struct lease_args a = {.mount = mount, .ttl = -1, .timeout_s = -1};
	const char *sub;
	char *end;
	int opt;

	if (argc < 1)
		return ctl_usage_error("usage: lease acquire|release NAME... --holder H");
	sub = argv[0];
	optind = 0; /* restart getopt on the sub-command's arguments */
	for (;;) {
		opt = getopt_long(argc, argv, "+:", opts, NULL);
		if (opt == -1) {
			if (optind < argc) {
				if (a.n == LEASE_NAMES_MAX)
					return ctl_usage_error("at most %d leases at once",
							       LEASE_NAMES_MAX);
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
			if (*end != '\0' || end == optarg || a.ttl <= 0 || a.ttl > NS_LEASE_TTL_MAX)
				return ctl_usage_error("--ttl needs whole seconds, 1 to %u",
						       NS_LEASE_TTL_MAX);
			break;
		case 'w':
			a.wait = true;
			break;
		case 't':
			a.timeout_s = strtod(optarg, &end);
			if (*end != '\0' || end == optarg || !(a.timeout_s >= 0) ||
			    a.timeout_s > LEASE_TIMEOUT_MAX_S)
				return ctl_usage_error("--timeout needs seconds");
			break;
		case 'm':
			a.mount = optarg;
			break;
		case 'j':
			ctl_output_json(true);
			break;
		case ':':
			return ctl_usage_error("lease %s: %s needs a value", sub, argv[optind - 1]);
		default:
			return ctl_usage_error("lease %s: unknown option '%s'", sub,
					       argv[optind - 1]);
		}
	}
	if (a.holder == NULL || a.n == 0)
		return ctl_usage_error("lease %s needs NAME and --holder H", sub);
	/* Refused here too, so that a NAME like ../routing/x never reaches a
	 * path and a holder always fits a lease's content. */
	for (int i = 0; i < a.n; i++) {
		if (ns_leases_check_name(a.names[i], strlen(a.names[i])) != 0)
			return ctl_usage_error(
			    "'%s' is not a lease name (letters, digits, '.', '-', "
			    "'_', starting with a letter or digit)",
			    a.names[i]);
	}
	{
		char probe[NS_LEASE_HOLDER_MAX + 32];
		struct ns_lease l;
		int n = snprintf(probe, sizeof(probe), "holder=%s ttl=1", a.holder);

		if (n < 0 || (size_t)n >= sizeof(probe) ||
		    ns_leases_parse(probe, (size_t)n, &l) != 0 || strcmp(l.holder, a.holder) != 0)
			return ctl_usage_error(
			    "'%s' is not a holder (1 to %d letters, digits and '._:@/+-')",
			    a.holder, NS_LEASE_HOLDER_MAX);
	}
	if (strcmp(sub, "acquire") == 0) {
		if (a.ttl < 0)
			return ctl_usage_error("lease acquire needs --ttl SECONDS");
		return lease_acquire(&a);
	}
	if (strcmp(sub, "release") == 0) {
		if (a.n != 1 || a.ttl >= 0 || a.wait)
			return ctl_usage_error("usage: lease release NAME --holder H");
		return lease_release(&a);
	}
	return ctl_usage_error("unknown lease command '%s' (acquire, release)", sub);
}
