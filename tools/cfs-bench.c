/*
 * cfs-bench: the latency and throughput figures of DESIGN's targets, for any
 * directory, so that clusterfs, tmpfs and the disk are measured side by side
 * in one run (scripts/bench.sh does that and prints the ratios).
 *
 *   cfs-bench write DIR N     open(O_TRUNC)+write+close of a small file, N times
 *   cfs-bench read DIR N      open+read+close of a small file, N times
 *   cfs-bench fsync DIR N     pwrite 4 KiB + fsync, N times (the durability floor)
 *
 * Prints one line: "<what> n=N p50_us=… p99_us=… ops_per_s=…".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_FILES 16
#define BENCH_FSYNC_BLOCK 4096

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *lat, long n, double total_us)
{
	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	printf("%s n=%ld p50_us=%.1f p99_us=%.1f ops_per_s=%.0f\n", what, n, lat[n / 2],
	       lat[(n * 99) / 100], (double)n / (total_us / 1e6));
}

static int op_write(const char *dir, long i)
{
	char path[4096], buf[64];
	int fd, len;

	snprintf(path, sizeof(path), "%s/bench-%ld", dir, i % BENCH_FILES);
	len = snprintf(buf, sizeof(buf), "value=%ld\n", i);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len) {
		close(fd);
		return -EIO;
	}
	return close(fd) == 0 ? 0 : -errno;
}

static int op_read(const char *dir, long i)
{
	char path[4096], buf[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/bench-%ld", dir, i % BENCH_FILES);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	if (read(fd, buf, sizeof(buf)) < 0) {
		close(fd);
		return -errno;
	}
	close(fd);
	return 0;
}

static int fsync_fd = -1;

static int op_fsync(const char *dir, long i)
{
	static char block[BENCH_FSYNC_BLOCK];

	(void)dir;
	memset(block, (int)(i & 0xff), sizeof(block));
	if (pwrite(fsync_fd, block, sizeof(block), 0) != (ssize_t)sizeof(block))
		return -errno;
	return fsync(fsync_fd) == 0 ? 0 : -errno;
}

int main(int argc, char **argv)
{
	int (*op)(const char *, long);
	double *lat, start, t0;
	const char *what, *dir;
	long n;

	if (argc != 4 || (n = strtol(argv[3], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: cfs-bench write|read|fsync DIR N\n");
		return 2;
	}
	what = argv[1];
	dir = argv[2];
	if (strcmp(what, "write") == 0) {
		op = op_write;
	} else if (strcmp(what, "read") == 0) {
		op = op_read;
		for (long i = 0; i < BENCH_FILES; i++)
			if (op_write(dir, i) != 0) {
				perror("cfs-bench: prepare");
				return 1;
			}
	} else if (strcmp(what, "fsync") == 0) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/bench-fsync", dir);
		fsync_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fsync_fd < 0) {
			perror("cfs-bench: open");
			return 1;
		}
		op = op_fsync;
	} else {
		fprintf(stderr, "cfs-bench: unknown benchmark %s\n", what);
		return 2;
	}
	lat = calloc((size_t)n, sizeof(*lat));
	if (lat == NULL)
		return 1;
	start = now_us();
	for (long i = 0; i < n; i++) {
		int rv;

		t0 = now_us();
		rv = op(dir, i);
		lat[i] = now_us() - t0;
		if (rv != 0) {
			fprintf(stderr, "cfs-bench: %s %ld: %s\n", what, i, strerror(-rv));
			return 1;
		}
	}
	report(what, lat, n, now_us() - start);
	free(lat);
	return 0;
}
