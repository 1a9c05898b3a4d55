/*
 * cfs-bench: the latency and throughput figures of DESIGN's targets, for any
 * directory, so that clusterfs, tmpfs and the disk are measured side by side
 * in one run (scripts/bench.sh does that and prints the ratios).
 *
 *   cfs-bench write DIR N     open(O_TRUNC)+write+close of a small file, N times
 *   cfs-bench read DIR N      open+read+close of a small file, N times
 *   cfs-bench fsync DIR N     pwrite 4 KiB + fsync, N times (the durability floor)
 *   cfs-bench rtt - N         a 1-byte TCP round trip on 127.0.0.1, N times
 *   cfs-bench parallel DIR N  8 processes doing N writes each: total ops/s
 *   cfs-bench first-write DIR N
 *                             retry one write until it succeeds (at most N ms):
 *                             time to the first write after a failure
 *
 * Prints one line: "<what> n=N p50_us=… p99_us=… ops_per_s=…".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
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

#define BENCH_WRITERS 8

static int rtt_fd = -1;

static int op_rtt(const char *dir, long i)
{
	char c = (char)i;

	(void)dir;
	if (write(rtt_fd, &c, 1) != 1 || read(rtt_fd, &c, 1) != 1)
		return -EIO;
	return 0;
}

/* A child echoing bytes over loopback TCP; rtt_fd is our end. */
static int rtt_setup(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 1) != 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &len) != 0)
		return -errno;
	if (fork() == 0) {
		int c = accept(ls, NULL, NULL);
		char b;

		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while (read(c, &b, 1) == 1 && write(c, &b, 1) == 1)
			;
		_exit(0);
	}
	close(ls);
	rtt_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(rtt_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return -errno;
	setsockopt(rtt_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static int bench_parallel(const char *dir, long n)
{
	double start = now_us(), secs;
	int failed = 0;

	for (int w = 0; w < BENCH_WRITERS; w++) {
		if (fork() == 0) {
			char path[4096], buf[64];

			for (long i = 0; i < n; i++) {
				int fd, len;

				snprintf(path, sizeof(path), "%s/par-%d-%ld", dir, w, i % BENCH_FILES);
				len = snprintf(buf, sizeof(buf), "value=%ld\n", i);
				fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
				if (fd < 0 || write(fd, buf, (size_t)len) != len || close(fd) != 0)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (int w = 0; w < BENCH_WRITERS; w++) {
		int st;

		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	}
	secs = (now_us() - start) / 1e6;
	printf("parallel writers=%d n=%ld ops_per_s=%.0f failed=%d\n", BENCH_WRITERS,
	       n * BENCH_WRITERS, (double)(n * BENCH_WRITERS) / secs, failed);
	return failed ? 1 : 0;
}

static int bench_first_write(const char *dir, long max_ms)
{
	double start = now_us();
	char path[4096];

	snprintf(path, sizeof(path), "%s/first-write", dir);
	while (now_us() - start < (double)max_ms * 1000) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0 && write(fd, "x\n", 2) == 2 && close(fd) == 0) {
			printf("first-write ms=%.0f\n", (now_us() - start) / 1000);
			return 0;
		}
		if (fd >= 0)
			close(fd);
		usleep(10000);
	}
	printf("first-write ms=timeout\n");
	return 1;
}

int main(int argc, char **argv)
{
	int (*op)(const char *, long);
	double *lat, start, t0;
	const char *what, *dir;
	long n;

	if (argc != 4 || (n = strtol(argv[3], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: cfs-bench write|read|fsync|rtt|parallel|first-write DIR N\n");
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
	} else if (strcmp(what, "parallel") == 0) {
		return bench_parallel(dir, n);
	} else if (strcmp(what, "first-write") == 0) {
		return bench_first_write(dir, n);
	} else if (strcmp(what, "rtt") == 0) {
		if (rtt_setup() != 0) {
			perror("cfs-bench: rtt");
			return 1;
		}
		op = op_rtt;
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
