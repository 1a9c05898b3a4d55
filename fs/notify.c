/* The notifier thread; see notify.h. */
#define FUSE_USE_VERSION 312
#include "notify.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"

struct notify_item {
	struct notify_item *next;
	uint64_t ino;	 /* inode to invalidate, or the parent of name */
	size_t name_len; /* 0: an inode */
	char name[];
};

struct notify {
	struct fuse_session *se;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct notify_item *head, *tail;
	bool stop;
	bool busy; /* inside a kernel call */
};

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
		pthread_mutex_unlock(&nt->lock);
		if (it == NULL)
			return NULL; /* stopping */
		/* Never under our lock: the kernel may need the loop thread. */
		if (it->name_len == 0)
			rv = fuse_lowlevel_notify_inval_inode(nt->se, it->ino, 0, 0);
		else
			rv = fuse_lowlevel_notify_inval_entry(nt->se, it->ino, it->name, it->name_len);
		/* ENOENT: the kernel does not cache it, nothing to drop. */
		if (rv != 0 && rv != -ENOENT)
			log_debug("invalidation of %llu failed: %s", (unsigned long long)it->ino,
				  strerror(-rv));
		free(it);
		pthread_mutex_lock(&nt->lock);
		nt->busy = false;
		pthread_mutex_unlock(&nt->lock);
	}
}

static void notify_push(struct notify *nt, uint64_t ino, const char *name, size_t len)
{
	struct notify_item *it = malloc(sizeof(*it) + len + 1);

	if (it == NULL)
		return; /* the kernel's cache timeout bounds the staleness */
	it->next = NULL;
	it->ino = ino;
	it->name_len = len;
	if (len > 0)
		memcpy(it->name, name, len);
	it->name[len] = '\0';
	pthread_mutex_lock(&nt->lock);
	if (nt->stop) {
		pthread_mutex_unlock(&nt->lock);
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
	notify_push(nt, ino, NULL, 0);
}

void notify_entry(struct notify *nt, uint64_t parent, const char *name, size_t len)
{
	if (len > 0)
		notify_push(nt, parent, name, len);
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
