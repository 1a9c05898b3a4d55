/*
 * clusterfs-watch: turns changes of files in a clusterfs mount into
 * commands (DESIGN §6, docs/watch.md). This file is the program's front
 * door: flags, the first load of the config (a bad one is exit 2), the
 * state directory; the event loop is watch/watcher.c.
 *
 * Exit status: 0 after SIGTERM/SIGINT, 2 for bad flags or a bad config,
 * 1 when the state directory cannot be used or the loop fails.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/version.h"
#include "../watch/rules.h"
#include "../watch/state.h"
#include "../watch/watcher.h"

#define DEFAULT_MOUNT  "/var/lib/clusterfs"
#define DEFAULT_CONFIG "/etc/clusterfs/watch.conf"
#define DEFAULT_STATE  "/var/lib/clusterfs-watch"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: clusterfs-watch [--mount DIR] [--config FILE] [--state DIR]\n"
		"                       [--log-level debug|info|warn|error] [--max-jobs N]\n"
		"\n"
		"Runs commands when files of a clusterfs mount change (on any node).\n"
		"\n"
		"  --mount DIR      the clusterfs mount (default " DEFAULT_MOUNT ")\n"
		"  --config FILE    the rules, INI (default " DEFAULT_CONFIG ")\n"
		"  --state DIR      what was last applied, per rule and path\n"
		"                   (default " DEFAULT_STATE ")\n"
		"  --log-level L    debug, info (default), warn or error; logs go to the\n"
		"                   journal under systemd, else to stderr\n"
		"  --max-jobs N     commands running at once (default %d)\n"
		"  --check          load the config, report errors (exit 2) and exit\n"
		"  --version        print the version and exit\n"
		"  -h, --help       print this help and exit\n"
		"\n"
		"SIGHUP reloads the config. See docs/watch.md.\n",
		WATCHER_MAX_JOBS);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"mount", required_argument, NULL, 'm'},
	    {"config", required_argument, NULL, 'c'},
	    {"state", required_argument, NULL, 's'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"max-jobs", required_argument, NULL, 'j'},
	    {"check", no_argument, NULL, 'k'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct watcher_opts opts = {
	    .mount = DEFAULT_MOUNT, .config = DEFAULT_CONFIG, .max_jobs = WATCHER_MAX_JOBS};
	const char *state_dir = DEFAULT_STATE;
	enum log_level level = LOG_LEVEL_INFO;
	struct rules rules;
	struct state *state;
	char err[1024];
	bool check = false;
	int c;

	log_setup("clusterfs-watch", level);
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			opts.mount = optarg;
			break;
		case 'c':
			opts.config = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'l':
			if (log_parse_level(optarg, &level) != 0) {
				fprintf(stderr,
					"clusterfs-watch: bad --log-level '%s': debug, "
					"info, warn or error\n",
					optarg);
				return 2;
			}
			break;
		case 'j': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end != '\0' || v < 1 || v > 1024) {
				fprintf(stderr, "clusterfs-watch: bad --max-jobs '%s': 1 to 1024\n",
					optarg);
				return 2;
			}
			opts.max_jobs = (int)v;
			break;
		}
		case 'k':
			check = true;
			break;
		case 'V':
			printf("clusterfs-watch %s\n", CFS_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "clusterfs-watch: unexpected argument '%s'; see --help\n",
			argv[optind]);
		return 2;
	}
	log_setup("clusterfs-watch", level);

	if (rules_load(opts.config, &rules, err, sizeof(err)) != 0) {
		fprintf(stderr, "clusterfs-watch: %s\n", err);
		return 2;
	}
	if (check) {
		printf("%s: %zu rule(s), OK\n", opts.config, rules.n);
		rules_free(&rules);
		return 0;
	}
	if (state_open(state_dir, &state, err, sizeof(err)) != 0) {
		fprintf(stderr, "clusterfs-watch: %s\n", err);
		rules_free(&rules);
		return 1;
	}
	log_info("clusterfs-watch %s: %zu rule(s) from %s, mount %s, state %s", CFS_VERSION,
		 rules.n, opts.config, opts.mount, state_dir);
	return watcher_run(&opts, &rules, state);
}
