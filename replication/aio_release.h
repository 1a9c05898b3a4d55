/*
 * Kernel AIO contexts released off the event loop.
 *
 * raft_uv writes the log with Linux AIO, one context per open segment, and
 * destroys the context when it closes the segment: at every snapshot (it
 * closes the open segment then), and when a segment is full. io_destroy(2)
 * returns only after an RCU grace period; measured on the development
 * machine, 41 ms (strace -T), during which the loop thread was blocked:
 * every node stalled for 30-50 ms at each snapshot, all three at the same
 * index, and so did the writes of that moment (docs/performance.md, "What
 * makes the tail").
 *
 * aio_release.c gives clusterfsd a syscall(2) of its own that hands
 * io_destroy to a short-lived thread and returns at once; raft 0.15 makes
 * that call through syscall(2), and every other call passes through
 * unchanged. Linked into clusterfsd only.
 */
#ifndef CFS_AIO_RELEASE_H
#define CFS_AIO_RELEASE_H

#include <stdbool.h>
#include <stdint.h>

/* How many io_destroy calls were handed to a thread (metrics, tests). */
uint64_t aio_release_deferred(void);

#endif
