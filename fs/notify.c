/*
 * The notifier thread and the replay process; see notify.h.
 *
 * The replayed system calls are made by a separate, single-threaded child
 * process, not by a thread of the daemon: a thread blocked in a FUSE request
 * on the daemon's own mount keeps the daemon from ever exiting after a
 * kill -9 (the request can only be answered by the dying process, and its
 * /dev/fuse is not released while the thread waits). The child dies with
 * the daemon (PR_SET_PDEATHSIG) and holds no descriptor but its socket, so a
 * dead daemon's connection is aborted and the child's calls fail at once.
 * The notifier thread sends the child one replay at a time and waits for its
 * answer; the child only makes system calls (it was forked from a
 * multi-threaded process).
 */
#define FUSE_USE_VERSION 312
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/escape.h"
#include "../common/log.h"

/* `echo x > new` is two entries (create, then write); their replay is one
 * open when the write is queued in time. An empty create waits this long
 * for it before closing: a local `touch` shows the same CLOSE_WRITE a
 * little later, nothing else does. */
#define REPLAY_LINGER_NS (20 * 1000000L)

struct notify_item {
	struct notify_item *next;
	uint64_t seq;
	int64_t queued_ns; /* CLOCK_MONOTONIC, for notify_backlog */
	struct replay *replay; /* or an invalidation: */
	uint64_t ino;	       /* inode to invalidate, or the parent of name */
	size_t name_len;       /* 0: an inode */
	char name[];
};

struct notify {
	struct fuse_session *se;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct notify_item *head, *tail;
	uint64_t queued, done; /* sequence numbers of items (notify_mark) */
	int64_t busy_queued_ns; /* when the item being worked on was queued */
	bool stop;
	bool busy;		 /* inside a kernel call */
	pid_t child;		 /* the replay process, as FUSE requests carry it */
	int sock;		 /* to the replay process */
	bool child_gone;
	struct replay *current;	 /* being replayed, under lock */
};

/* Zeros for replayed writes: the content is in the store already; the
 * write is there for the kernel's size and the events. */
static const char replay_zeros[65536];

/* A replay that failed (a later change may have removed its path). */
static void notify_log_replay(int op, const char *path, int rv)
{
	char shown[ESCAPE_CAP(REPLAY_PATH_MAX)];

	if (log_get_level() <= LOG_LEVEL_DEBUG)
		log_debug("replay %d of %s: %s", op, escape_str(path, shown, sizeof(shown)),
			  strerror(-rv));
}

static void replay_write(int fd, uint64_t size)
{
	uint64_t off = 0;

	if (size == 0) {
		if (ftruncate(fd, 0) != 0)
			return;
		return;
	}
	while (off < size) {
		size_t n = size - off < sizeof(replay_zeros) ? (size_t)(size - off)
							      : sizeof(replay_zeros);
		ssize_t w = pwrite(fd, replay_zeros, n, (off_t)off);

		if (w <= 0)
			return;
		off += (uint64_t)w;
	}
}

/* A file the previous replay left open, because the next one writes it
 * too: a local `echo x > new` is one open (CREATE, MODIFY, CLOSE_WRITE), so
 * its replay (a create entry, then a write entry) must be one open too. */
static int held_fd = -1;
static char held_path[REPLAY_PATH_MAX];

static void held_close(void)
{
	if (held_fd >= 0)
		close(held_fd);
	held_fd = -1;
}

static int replay_run(const struct replay *r)
{
	int fd, rv = 0;

	if (held_fd >= 0 && !(r->op == REPLAY_MODIFY && strcmp(r->path, held_path) == 0))
		held_close();
	switch (r->op) {
	case REPLAY_CREATE:
		/* O_EXCL, or a reader's cached name makes the kernel skip us and
		 * IN_CREATE is lost (remote-inotify rule 2). */
		fd = open(r->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, r->mode & 07777);
		if (fd < 0)
			return -errno;
		if (r->size > 0)
			replay_write(fd, r->size);
		goto done_writing;
	case REPLAY_MODIFY:
		/* Never O_TRUNC: the kernel would zero the size locally and
		 * readers would see an empty file (rule 3). */
		fd = held_fd >= 0 ? held_fd : open(r->path, O_WRONLY | O_CLOEXEC);
		held_fd = -1;
		if (fd < 0)
			return -errno;
		replay_write(fd, r->size);
done_writing:
		if (r->keep_open) {
			held_fd = fd;
			memcpy(held_path, r->path, sizeof(held_path));
		} else {
			close(fd);
		}
		return 0;
	case REPLAY_MKDIR:
		rv = mkdir(r->path, r->mode & 07777);
		break;
	case REPLAY_SYMLINK:
		rv = symlink(r->target, r->path);
		break;
	case REPLAY_LINK:
		rv = link(r->path, r->path2);
		break;
	case REPLAY_UNLINK:
		rv = unlink(r->path);
		break;
	case REPLAY_RMDIR:
		rv = rmdir(r->path);
		break;
	case REPLAY_RENAME:
		rv = renameat2(AT_FDCWD, r->path, AT_FDCWD, r->path2, r->flags);
		break;
	case REPLAY_ATTRIB:
		rv = fchownat(AT_FDCWD, r->path, r->uid, r->gid, AT_SYMLINK_NOFOLLOW);
		break;
	}
	return rv == 0 ? 0 : -errno;
}

/* The replay process: one replay in, its errno out, until the socket
 * closes. System calls only. */
static void replay_child(int sock)
{
	static struct replay r;

	for (;;) {
		ssize_t n = recv(sock, &r, sizeof(r), 0);
		int rv;

		if (n != (ssize_t)sizeof(r))
			_exit(0);
		r.path[sizeof(r.path) - 1] = r.path2[sizeof(r.path2) - 1] = '\0';
		r.target[sizeof(r.target) - 1] = '\0';
		rv = replay_run(&r);
		if (send(sock, &rv, sizeof(rv), MSG_NOSIGNAL) != (ssize_t)sizeof(rv))
			_exit(0);
	}
}

/* Hand a replay to the child and wait for it to be done. */
static int replay_remote_call(struct notify *nt, const struct replay *r)
{
	int rv;

	if (nt->child_gone)
		return -ECHILD;
	if (send(nt->sock, r, sizeof(*r), MSG_NOSIGNAL) != (ssize_t)sizeof(*r) ||
	    recv(nt->sock, &rv, sizeof(rv), 0) != (ssize_t)sizeof(rv)) {
		log_warn("the replay process is gone: changes from other nodes no longer "
			 "cause inotify events here");
		nt->child_gone = true;
		return -ECHILD;
	}
	return rv;
}

/* The first replay still queued (under lock). */
static const struct replay *next_replay(struct notify *nt)
{
	for (struct notify_item *i = nt->head; i != NULL; i = i->next)
		if (i->replay != NULL)
			return i->replay;
	return NULL;
}

static void *notify_main(void *arg)
{
	struct notify *nt = arg;

	for (;;) {
		struct notify_item *it;
		int rv;

		pthread_mutex_lock(&nt->lock);
		while (nt->head == NULL && !nt->stop)
			pthread_cond_wait(&nt->cond, &nt->lock);
		it = nt->stop ? NULL : nt->head;
		if (it != NULL) {
			nt->head = it->next;
			if (nt->head == NULL)
				nt->tail = NULL;
		}
		nt->busy = it != NULL;
		if (it != NULL)
			nt->busy_queued_ns = it->queued_ns;
		pthread_mutex_unlock(&nt->lock);
		if (it == NULL)
			return NULL; /* stopping */
		/* Never under our lock: the kernel may need the loop thread. */
		if (it->replay != NULL) {
			pthread_mutex_lock(&nt->lock);
			nt->current = it->replay;
			/* An empty create is usually followed at once by its write:
			 * wait a little for it to be queued. */
			if (it->replay->op == REPLAY_CREATE && it->replay->size == 0 &&
			    next_replay(nt) == NULL && !nt->stop) {
				struct timespec until;

				clock_gettime(CLOCK_REALTIME, &until);
				until.tv_nsec += REPLAY_LINGER_NS;
				if (until.tv_nsec >= 1000000000L) {
					until.tv_sec++;
					until.tv_nsec -= 1000000000L;
				}
				while (next_replay(nt) == NULL && !nt->stop &&
				       pthread_cond_timedwait(&nt->cond, &nt->lock, &until) == 0)
					;
			}
			/* Keep a created file open for its first write
			 * (invalidations queued in between run meanwhile). */
			{
				const struct replay *next = next_replay(nt);

				/* Only an empty create and its first write: two
				 * rewrites of one file are two opens as often as
				 * one, and entries do not say which. */
				if (it->replay->op == REPLAY_CREATE && it->replay->size == 0 &&
				    next != NULL && next->op == REPLAY_MODIFY &&
				    strcmp(next->path, it->replay->path) == 0)
					it->replay->keep_open = true;
			}
			pthread_mutex_unlock(&nt->lock);
			rv = replay_remote_call(nt, it->replay);
			pthread_mutex_lock(&nt->lock);
			nt->current = NULL;
			pthread_mutex_unlock(&nt->lock);
			/* A later change may already have removed the path. */
			if (rv != 0)
				notify_log_replay(it->replay->op, it->replay->path, rv);
			free(it->replay);
		} else {
			if (it->name_len == 0)
				rv = fuse_lowlevel_notify_inval_inode(nt->se, it->ino, 0, 0);
			else
				rv = fuse_lowlevel_notify_inval_entry(nt->se, it->ino, it->name,
								      it->name_len);
			/* ENOENT: the kernel does not cache it, nothing to drop. */
			if (rv != 0 && rv != -ENOENT)
				log_debug("invalidation of %llu failed: %s",
					  (unsigned long long)it->ino, strerror(-rv));
		}
		pthread_mutex_lock(&nt->lock);
		nt->busy = false;
		nt->done = it->seq;
		pthread_mutex_unlock(&nt->lock);
		free(it);
	}
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void notify_push(struct notify *nt, uint64_t ino, const char *name, size_t len,
			struct replay *replay)
{
	struct notify_item *it = malloc(sizeof(*it) + len + 1);

	if (it == NULL) {
		free(replay);
		return; /* the kernel's cache timeout bounds the staleness */
	}
	it->next = NULL;
	it->replay = replay;
	it->ino = ino;
	it->name_len = len;
	if (len > 0)
		memcpy(it->name, name, len);
	it->name[len] = '\0';
	pthread_mutex_lock(&nt->lock);
	if (nt->stop) {
		pthread_mutex_unlock(&nt->lock);
		free(it->replay);
		free(it);
		return;
	}
	it->seq = ++nt->queued;
	it->queued_ns = mono_ns();
	if (nt->tail != NULL)
		nt->tail->next = it;
	else
		nt->head = it;
	nt->tail = it;
	pthread_cond_signal(&nt->cond);
	pthread_mutex_unlock(&nt->lock);
}

void notify_inode(struct notify *nt, uint64_t ino)
{
	notify_push(nt, ino, NULL, 0, NULL);
}

void notify_entry(struct notify *nt, uint64_t parent, const char *name, size_t len)
{
	if (len > 0)
		notify_push(nt, parent, name, len, NULL);
}

void notify_replay(struct notify *nt, const struct replay *r)
{
	struct replay *copy = malloc(sizeof(*copy));

	if (copy == NULL)
		return; /* an event lost; the caches are invalidated anyway */
	*copy = *r;
	notify_push(nt, 0, NULL, 0, copy);
}

bool notify_replaying(struct notify *nt, pid_t pid)
{
	return pid != 0 && pid == nt->child; /* set once, before any request */
}

/* What @r says (parent, name) was before its change: 1 existed (as *ino,
 * *mode, *gen), 0 did not exist, -1 @r does not touch that name. */
static int replay_view(const struct replay *r, uint64_t parent, const char *name, uint64_t *ino,
		       uint32_t *mode, uint64_t *gen)
{
	switch (r->op) {
	case REPLAY_CREATE:
	case REPLAY_MKDIR:
	case REPLAY_SYMLINK:
	case REPLAY_UNLINK:
	case REPLAY_RMDIR:
	case REPLAY_RENAME:
		if (r->parent == parent && strcmp(r->name, name) == 0) {
			*ino = r->ino;
			*mode = r->ino_mode;
			*gen = r->ino_gen;
			return r->ino != 0 && r->op != REPLAY_CREATE && r->op != REPLAY_MKDIR &&
			       r->op != REPLAY_SYMLINK;
		}
		break;
	default:
		break;
	}
	if ((r->op == REPLAY_RENAME || r->op == REPLAY_LINK) && r->newparent == parent &&
	    strcmp(r->newname, name) == 0) {
		*ino = r->replaced;
		*mode = r->replaced_mode;
		*gen = r->replaced_gen;
		return r->replaced != 0;
	}
	return -1;
}

int notify_replay_lookup(struct notify *nt, uint64_t parent, const char *name, uint64_t *ino,
			 uint32_t *mode, uint64_t *gen)
{
	const struct replay *r;
	int answer = -1;

	pthread_mutex_lock(&nt->lock);
	r = nt->current;
	if (r != NULL)
		answer = replay_view(r, parent, name, ino, mode, gen);
	if (r != NULL && answer < 0) {
		for (int i = 0; i < r->chain_n; i++) {
			if (r->chain[i].parent == parent && strcmp(r->chain[i].name, name) == 0) {
				answer = 1;
				*ino = r->chain[i].ino;
				*mode = S_IFDIR | 0755;
				*gen = r->chain[i].gen;
				break;
			}
		}
	}
	pthread_mutex_unlock(&nt->lock);
	return answer;
}

bool notify_replay_knows(struct notify *nt, uint64_t ino, uint32_t *mode, uint64_t *gen)
{
	const struct replay *r;
	bool found = false;

	pthread_mutex_lock(&nt->lock);
	r = nt->current;
	if (r != NULL && ino != 0) {
		if (r->ino == ino) {
			*mode = r->ino_mode;
			*gen = r->ino_gen;
			found = true;
		} else if (r->replaced == ino) {
			*mode = r->replaced_mode;
			*gen = r->replaced_gen;
			found = true;
		}
		for (int i = 0; !found && i < r->chain_n; i++) {
			if (r->chain[i].ino == ino) {
				*mode = S_IFDIR | 0755;
				*gen = r->chain[i].gen;
				found = true;
			}
		}
	}
	pthread_mutex_unlock(&nt->lock);
	return found;
}

bool notify_replay_object(struct notify *nt, uint64_t *ino, uint32_t *mode, uint64_t *gen)
{
	bool found = false;

	pthread_mutex_lock(&nt->lock);
	if (nt->current != NULL) {
		*ino = nt->current->ino;
		*mode = nt->current->ino_mode;
		*gen = nt->current->ino_gen;
		found = true;
	}
	pthread_mutex_unlock(&nt->lock);
	return found;
}

int notify_start(struct notify **out, struct fuse_session *se)
{
	struct notify *nt = calloc(1, sizeof(*nt));
	int rv;

	if (nt == NULL)
		return -ENOMEM;
	nt->se = se;
	pthread_mutex_init(&nt->lock, NULL);
	pthread_cond_init(&nt->cond, NULL);
	{
		int sv[2];
		pid_t parent = getpid();

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
			free(nt);
			return -errno;
		}
		nt->child = fork();
		if (nt->child < 0) {
			rv = -errno;
			close(sv[0]);
			close(sv[1]);
			free(nt);
			return rv;
		}
		if (nt->child == 0) {
			/* Die with the daemon, and hold nothing of it (above all not
			 * /dev/fuse): only the socket. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			prctl(PR_SET_NAME, "cfs-replay"); /* not a clusterfsd in ps */
			if (getppid() != parent)
				_exit(0);
			if (sv[1] != 3) {
				dup2(sv[1], 3);
				sv[1] = 3;
			}
			close_range(4, ~0U, 0);
			replay_child(3);
			_exit(0);
		}
		close(sv[1]);
		nt->sock = sv[0];
	}
	rv = pthread_create(&nt->thread, NULL, notify_main, nt);
	if (rv != 0) {
		kill(nt->child, SIGKILL);
		waitpid(nt->child, NULL, 0);
		close(nt->sock);
		free(nt);
		return -rv;
	}
	*out = nt;
	return 0;
}

void notify_backlog(struct notify *nt, uint64_t *items, double *oldest_s)
{
	pthread_mutex_lock(&nt->lock);
	*items = nt->queued - nt->done;
	if (nt->busy)
		*oldest_s = (double)(mono_ns() - nt->busy_queued_ns) / 1e9;
	else if (nt->head != NULL)
		*oldest_s = (double)(mono_ns() - nt->head->queued_ns) / 1e9;
	else
		*oldest_s = 0;
	pthread_mutex_unlock(&nt->lock);
}

uint64_t notify_mark(struct notify *nt)
{
	uint64_t mark;

	pthread_mutex_lock(&nt->lock);
	mark = nt->queued;
	pthread_mutex_unlock(&nt->lock);
	return mark;
}

bool notify_passed(struct notify *nt, uint64_t mark)
{
	bool passed;

	pthread_mutex_lock(&nt->lock);
	passed = nt->done >= mark || nt->stop;
	pthread_mutex_unlock(&nt->lock);
	return passed;
}

bool notify_idle(struct notify *nt)
{
	bool idle;

	pthread_mutex_lock(&nt->lock);
	idle = nt->head == NULL && !nt->busy;
	pthread_mutex_unlock(&nt->lock);
	return idle;
}

bool notify_stop(struct notify *nt)
{
	struct notify_item *it;
	bool busy;

	pthread_mutex_lock(&nt->lock);
	nt->stop = true;
	busy = nt->busy;
	while ((it = nt->head) != NULL) {
		nt->head = it->next;
		free(it->replay);
		free(it);
	}
	nt->tail = NULL;
	pthread_cond_signal(&nt->cond);
	pthread_mutex_unlock(&nt->lock);
	/* The child exits when its socket closes; if it is stuck in a call on
	 * the mount, kill it: that also unblocks the thread waiting for it. */
	if (busy)
		kill(nt->child, SIGKILL);
	shutdown(nt->sock, SHUT_RDWR);
	waitpid(nt->child, NULL, 0);
	if (busy) {
		log_warn("cache invalidation still blocked in the kernel at shutdown");
		pthread_detach(nt->thread);
		return true;
	}
	pthread_join(nt->thread, NULL);
	close(nt->sock);
	pthread_mutex_destroy(&nt->lock);
	pthread_cond_destroy(&nt->cond);
	free(nt);
	return false;
}
