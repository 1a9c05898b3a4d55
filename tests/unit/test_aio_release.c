/*
 * replication/aio_release.c: the process's syscall(2) hands io_destroy to a
 * thread and passes every other call through unchanged (return value and
 * errno). Linked into this test as into clusterfsd.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../replication/aio_release.h"

Test(aio_release, other_calls_pass_through)
{
	char buf[4] = "";
	int fds[2];

	cr_assert_eq(syscall(SYS_getpid), getpid());
	errno = 0;
	cr_assert_eq(syscall(SYS_close, -1), -1);
	cr_assert_eq(errno, EBADF);
	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(write(fds[1], "abcd", 4), 4);
	cr_assert_eq(syscall(SYS_pread64, fds[0], buf, 4, 0), -1);
	cr_assert_eq(errno, ESPIPE);
	cr_assert_eq(syscall(SYS_read, fds[0], buf, 4), 4);
	cr_assert_arr_eq(buf, "abcd", 4);
	close(fds[0]);
	close(fds[1]);
}

/* Six arguments, the fifth and sixth mattering: mmap of a file's second
 * page must map that page. */
Test(aio_release, six_arguments_pass_through)
{
	char path[] = "/tmp/cfs-aio-release-XXXXXX";
	char page[4096];
	int fd = mkstemp(path);
	long p;

	cr_assert_geq(fd, 0);
	unlink(path);
	memset(page, 'a', sizeof(page));
	cr_assert_eq(write(fd, page, sizeof(page)), (ssize_t)sizeof(page));
	memset(page, 'b', sizeof(page));
	cr_assert_eq(write(fd, page, sizeof(page)), (ssize_t)sizeof(page));
	p = syscall(SYS_mmap, NULL, sizeof(page), PROT_READ, MAP_PRIVATE, fd, (long)sizeof(page));
	cr_assert_neq(p, -1L, "mmap: %s", strerror(errno));
	cr_assert_eq(((const char *)p)[0], 'b', "the offset (sixth argument) was not passed");
	munmap((void *)p, sizeof(page));
	close(fd);
}

/* A context is gone once io_getevents refuses it (EINVAL). */
static bool context_gone(aio_context_t ctx)
{
	struct io_event ev;
	struct timespec zero = {0, 0};

	errno = 0;
	return syscall(SYS_io_getevents, ctx, 0, 1, &ev, &zero) == -1 && errno == EINVAL;
}

Test(aio_release, io_destroy_returns_at_once_and_the_context_goes)
{
	aio_context_t ctx = 0;
	uint64_t before = aio_release_deferred();
	int i;

	cr_assert_eq(syscall(SYS_io_setup, 8, &ctx), 0, "io_setup: %s", strerror(errno));
	cr_assert(!context_gone(ctx), "a live context is refused");
	cr_assert_eq(syscall(SYS_io_destroy, ctx), 0);
	cr_assert_eq(aio_release_deferred(), before + 1, "io_destroy was not handed to a thread");
	/* The thread destroys it (an RCU grace period: tens of ms). */
	for (i = 0; i < 1000 && !context_gone(ctx); i++)
		usleep(10000);
	cr_assert(context_gone(ctx), "the context still exists 10 s after io_destroy returned");
}
