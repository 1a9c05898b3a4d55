/*
 * Kernel AIO contexts are released off the event loop: see aio_release.h.
 *
 * This file defines syscall(2) for the whole process (clusterfsd links it;
 * the dynamic linker then binds the libraries' calls to it, before
 * glibc's). libraft, libuv, libsystemd and libcap call it. Every call but
 * io_destroy goes straight to glibc's syscall, with the six argument
 * registers read as glibc's own generic syscall() reads them. io_destroy
 * is handed to a short-lived detached thread and reported done.
 *
 * Threads: any that calls syscall() (the loop thread for raft_uv, libuv's
 * pool threads); clusterfs's own code uses glibc's named wrappers. The
 * release threads block every signal (a signal for the process must not
 * wait for one stuck in the kernel) and only call io_destroy.
 */
#include "aio_release.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Plenty for one system call (and sanitizer builds). */
#define AIO_RELEASE_STACK (256 * 1024)

typedef long (*syscall_fn)(long number, ...);

static _Atomic(syscall_fn) aio_release_next;
static atomic_uint_fast64_t aio_release_count;

/* glibc's syscall (the next definition after ours); NULL only if the
 * dynamic linker cannot find it, which leaves every call failing ENOSYS. */
static syscall_fn aio_release_real(void)
{
	syscall_fn f = atomic_load_explicit(&aio_release_next, memory_order_acquire);

	if (f == NULL) {
		/* dlsym returns a data pointer; POSIX guarantees the round trip. */
		void *sym = dlsym(RTLD_NEXT, "syscall");

		f = *(syscall_fn *)&sym;
		atomic_store_explicit(&aio_release_next, f, memory_order_release);
	}
	return f;
}

/* Resolved before main, so that neither a forked child nor a signal
 * handler is the first to call dlsym. */
__attribute__((constructor)) static void aio_release_init(void)
{
	(void)aio_release_real();
}

static void *aio_release_thread(void *arg)
{
	syscall_fn real = aio_release_real();

	if (real != NULL)
		real(__NR_io_destroy, (long)(uintptr_t)arg);
	return NULL;
}

/* Start a thread that destroys @ctx; false if none could be started. */
static bool aio_release_later(long ctx)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	int rv;

	if (pthread_attr_init(&attr) != 0)
		return false;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, AIO_RELEASE_STACK);
	/* The thread starts with the creator's mask: all blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rv = pthread_create(&t, &attr, aio_release_thread, (void *)(uintptr_t)ctx);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rv != 0)
		return false;
	atomic_fetch_add_explicit(&aio_release_count, 1, memory_order_relaxed);
	return true;
}

long syscall(long number, ...)
{
	syscall_fn real;
	va_list ap;
	long a[6];

	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	/* raft_uv destroys its context only once no write of it is in
	 * flight, and never uses it again: only the waiting is left. */
	if (number == __NR_io_destroy && aio_release_later(a[0]))
		return 0;
	real = aio_release_real();
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

uint64_t aio_release_deferred(void)
{
	return atomic_load_explicit(&aio_release_count, memory_order_relaxed);
}
