/*
 * Kernel AIO contexts are released off the event loop: see aio_release.h.
 *
 * This file defines syscall(2) for the whole process (clusterfsd links it;
 * the dynamic linker then binds libraft's calls to it, before glibc's).
 * Every call but io_destroy goes straight to glibc's syscall, with the six
 * argument registers read as glibc's own generic syscall() reads them.
 * io_destroy is handed to a short-lived detached thread and reported done.
 *
 * Threads: whichever calls syscall() (the loop thread for raft_uv, the
 * replay and guardian processes for nothing of ours: clusterfs's own code
 * uses glibc's named wrappers); the release threads call only io_destroy.
 */
#include "aio_release.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef long (*syscall_fn)(long number, ...);

static _Atomic(syscall_fn) aio_release_next;
static atomic_uint_fast64_t aio_release_count;

/* glibc's syscall (the next definition after ours). */
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

static void *aio_release_thread(void *arg)
{
	aio_release_real()(__NR_io_destroy, (long)(uintptr_t)arg);
	return NULL;
}

/* Start a thread that destroys @ctx; false if none could be started. */
static bool aio_release_later(long ctx)
{
	pthread_attr_t attr;
	pthread_t t;
	int rv;

	if (pthread_attr_init(&attr) != 0)
		return false;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rv = pthread_create(&t, &attr, aio_release_thread, (void *)(uintptr_t)ctx);
	pthread_attr_destroy(&attr);
	if (rv != 0)
		return false;
	atomic_fetch_add_explicit(&aio_release_count, 1, memory_order_relaxed);
	return true;
}

long syscall(long number, ...)
{
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
	return aio_release_real()(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

uint64_t aio_release_deferred(void)
{
	return atomic_load_explicit(&aio_release_count, memory_order_relaxed);
}
