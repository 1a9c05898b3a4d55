/* The notifier thread; see notify.h. */
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/log.h"

struct notify_item {
	struct notify_item *next;
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
	bool stop;
	bool busy;		 /* inside a kernel call */
	pid_t tid;		 /* the thread's id, as FUSE requests carry it */
	struct replay *current;	 /* being replayed, under lock */
};

/* Zeros for replayed writes: the content is in the store already; the
 * write is there for the kernel's size and the events. */
static const char replay_zeros[65536];

static void replay_write(int fd, uint64_t size)
{
	uint64_t off = 0;

	if (size == 0) {
		if (ftruncate(fd, 0) != 0)
			log_debug("replay: ftruncate: %s", strerror(errno));
		return;
	}
	while (off < size) {
		size_t n = size - off < sizeof(replay_zeros) ? (size_t)(size - off)
							      : sizeof(replay_zeros);
		ssize_t w = pwrite(fd, replay_zeros, n, (off_t)off);

		if (w <= 0) {
			log_debug("replay: write: %s", strerror(errno));
			return;
		}
		off += (uint64_t)w;
	}
}

static int replay_run(const struct replay *r)
{
	int fd, rv = 0;

	switch (r->op) {
	case REPLAY_CREATE:
		/* O_EXCL, or a reader's cached name makes the kernel skip us and
		 * IN_CREATE is lost (remote-inotify rule 2). */
		fd = open(r->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, r->mode & 07777);
		if (fd < 0)
			return -errno;
		if (r->size > 0)
			replay_write(fd, r->size);
		close(fd);
		return 0;
	case REPLAY_MODIFY:
		/* Never O_TRUNC: the kernel would zero the size locally and
		 * readers would see an empty file (rule 3). */
		fd = open(r->path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		replay_write(fd, r->size);
		close(fd);
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
		rv = (int)syscall(SYS_renameat2, AT_FDCWD, r->path, AT_FDCWD, r->path2, r->flags);
		break;
	case REPLAY_ATTRIB:
		rv = chmod(r->path, r->mode & 07777);
		break;
	}
	return rv == 0 ? 0 : -errno;
}

static void *notify_main(void *arg)
{
	struct notify *nt = arg;

	pthread_mutex_lock(&nt->lock);
	nt->tid = (pid_t)syscall(SYS_gettid);
	pthread_cond_broadcast(&nt->cond);
	pthread_mutex_unlock(&nt->lock);

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
		pthread_mutex_unlock(&nt->lock);
		if (it == NULL)
			return NULL; /* stopping */
		/* Never under our lock: the kernel may need the loop thread. */
		if (it->replay != NULL) {
			pthread_mutex_lock(&nt->lock);
			nt->current = it->replay;
			pthread_mutex_unlock(&nt->lock);
			rv = replay_run(it->replay);
			pthread_mutex_lock(&nt->lock);
			nt->current = NULL;
			pthread_mutex_unlock(&nt->lock);
			/* A later change may already have removed the path. */
			if (rv != 0)
				log_debug("replay %d of %s: %s", it->replay->op, it->replay->path,
					  strerror(-rv));
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
		free(it);
		pthread_mutex_lock(&nt->lock);
		nt->busy = false;
		pthread_mutex_unlock(&nt->lock);
	}
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
	return pid != 0 && pid == nt->tid; /* tid is set once, before any request */
}

int notify_replay_lookup(struct notify *nt, uint64_t parent, const char *name, uint64_t *ino,
			 uint32_t *mode)
{
	const struct replay *r;
	int answer = -1;

	pthread_mutex_lock(&nt->lock);
	r = nt->current;
	if (r != NULL && r->parent == parent && strcmp(r->name, name) == 0) {
		answer = r->ino != 0 &&
			 r->op != REPLAY_CREATE && r->op != REPLAY_MKDIR && r->op != REPLAY_SYMLINK;
		*ino = r->ino;
		*mode = r->ino_mode;
	} else if (r != NULL && (r->op == REPLAY_RENAME || r->op == REPLAY_LINK) &&
		   r->newparent == parent && strcmp(r->newname, name) == 0) {
		answer = r->replaced != 0;
		*ino = r->replaced;
		*mode = r->replaced_mode;
	}
	pthread_mutex_unlock(&nt->lock);
	return answer;
}

bool notify_replay_object(struct notify *nt, uint64_t *ino, uint32_t *mode)
{
	bool found = false;

	pthread_mutex_lock(&nt->lock);
	if (nt->current != NULL) {
		*ino = nt->current->ino;
		*mode = nt->current->ino_mode;
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
	rv = pthread_create(&nt->thread, NULL, notify_main, nt);
	if (rv != 0) {
		free(nt);
		return -rv;
	}
	pthread_mutex_lock(&nt->lock);
	while (nt->tid == 0)
		pthread_cond_wait(&nt->cond, &nt->lock);
	pthread_mutex_unlock(&nt->lock);
	*out = nt;
	return 0;
}

bool notify_idle(struct notify *nt)
{
	bool idle;

	pthread_mutex_lock(&nt->lock);
	idle = nt->head == NULL && !nt->busy;
	pthread_mutex_unlock(&nt->lock);
	return idle;
}

void notify_stop(struct notify *nt)
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
	if (busy) {
		log_warn("cache invalidation still blocked in the kernel at shutdown");
		pthread_detach(nt->thread);
		return;
	}
	pthread_join(nt->thread, NULL);
	pthread_mutex_destroy(&nt->lock);
	pthread_cond_destroy(&nt->cond);
	free(nt);
}
