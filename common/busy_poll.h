/*
 * Busy polling: running an event loop that, after each turn that had work,
 * keeps checking for the next event for a while before it sleeps.
 *
 * Why. A FUSE request, a raft message or a client's answer wakes a
 * sleeping thread, and on a virtual machine whose idle vCPUs halt at once
 * (no guest halt polling: Firecracker's guests, and many others) each
 * wake-up of a halted vCPU costs tens of microseconds -- measured here
 * about 70 us, against a few on bare metal. A write is about a dozen
 * such hops; an open+read+close waits for two (OPEN and READ; the kernel
 * does not wait for RELEASE). A loop that polls for a short window
 * after each event keeps its vCPU awake through the bursts a request
 * makes, as the guest kernel's own halt polling would.
 *
 * What it costs: CPU while requests come back to back (the loop spins
 * between them, giving way to any other runnable thread on its CPU with
 * sched_yield), and about spin_us per event when idle (a leader's
 * heartbeat: 20 a second). Off (0) by default: `clusterfsd --busy-poll
 * USEC` (docs/operations.md, "Latency on virtual machines").
 *
 * The loop's own thread only (the daemon's main loop).
 */
#ifndef CFS_BUSY_POLL_H
#define CFS_BUSY_POLL_H

#include <uv.h>

/* The largest window clusterfsd accepts, in microseconds. */
#define BUSY_POLL_MAX_US 1000u

/* Run @loop until it has no active handles or requests left, polling for
 * up to @spin_us microseconds after each turn before sleeping; @spin_us 0
 * is plain uv_run(UV_RUN_DEFAULT). Unlike uv_run, it does not return at
 * uv_stop (clusterfsd never calls it: its loop ends once every handle is
 * closed). */
void busy_poll_run(uv_loop_t *loop, unsigned spin_us);

#endif
