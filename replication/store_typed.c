/*
 * The typed namespaces' plug (struct store_validator, see fs/ns.c): the
 * FSM's calls to the validator for names and content, and the entries that
 * only typed directories have: EXPIRE (a lease ran out) and MULTI (one value
 * for several files); store_expiries lists what may expire. Loop thread
 * only.
 */
#include "store_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

bool store_typed(struct store *s, uint64_t dir)
{
	return s->v != NULL && s->v->is_typed != NULL && s->v->is_typed(dir);
}

/* Are the names in @dir held by someone (leases), so that link and rename
 * there would bypass the namespace's decision? */
bool store_names_held(struct store *s, uint64_t dir)
{
	return s->v != NULL && s->v->names_held != NULL && s->v->names_held(dir);
}

int store_check_name(struct store *s, uint64_t dir, const char *name, size_t len, uint32_t mode)
{
	if (s->v == NULL || s->v->check_name == NULL)
		return 0;
	return s->v->check_name(dir, name, len, mode);
}

/* The namespace's check of the new content of @name in @dir (@old: the
 * current content, NULL for a new file). May replace *data and *len with the
 * normalized value, or set *remove. Notes when the result can expire. */
int store_check_content(struct apply *ap, uint64_t dir, const char *name, size_t name_len,
			const void *old, size_t old_len, const void **data, size_t *len,
			bool *remove)
{
	struct store *s = ap->s;
	struct store_check c = {
		.dir = dir,
		.name = name,
		.name_len = name_len,
		.old = old,
		.old_len = old_len,
		.exists = old != NULL,
		.stamp_ns = ap->e->stamp_ns,
		.scratch = s->scratch,
		.scratch_len = STORE_SCRATCH,
	};
	int64_t at;
	int rv;

	*remove = false;
	if (s->v == NULL || s->v->check_content == NULL)
		return 0;
	rv = s->v->check_content(&c, data, len);
	if (rv != 0)
		return rv;
	*remove = c.remove;
	if (!c.remove && s->v->expires != NULL && s->v->expires(dir, *data, *len, &at) == 0)
		ap->ch->expiry = true;
	return 0;
}

/* Why the namespace would refuse @data for the existing file @a: its errno,
 * or EEXIST if it would not. */
int store_refusal_of(struct apply *ap, const struct store_attr *a, const char *name, size_t n,
		     const void *data, size_t len)
{
	void *old = NULL;
	size_t old_len = 0;
	bool remove;
	int rv = store_read_all(ap->s, a->ino, &old, &old_len);

	if (rv == 0)
		rv = store_check_content(ap, a->parent, name, n, old != NULL ? old : "", old_len,
					 &data, &len, &remove);
	free(old);
	ap->ch->expiry = false;
	return rv != 0 ? rv : -EEXIST;
}

/* ENTRY_EXPIRE: the leader saw the content of (parent, name) expire; by the
 * entry's stamp it must have, unless it was renewed meanwhile (then this is
 * a no-op). */
int store_apply_expire(struct apply *ap)
{
	const struct entry *e = ap->e;
	struct store *s = ap->s;
	struct store_attr a;
	void *data = NULL;
	size_t len = 0;
	int64_t at;
	int rv;

	rv = store_lookup_n(s, e->parent, e->name, e->name_len, &a);
	if (rv != 0)
		return rv;
	ap->ch->ino = a.ino;
	ap->ch->gen = a.gen;
	if (!S_ISREG(a.mode) || s->v == NULL || s->v->expires == NULL)
		return -EINVAL;
	rv = store_read_all(s, a.ino, &data, &len);
	if (rv != 0)
		return rv;
	rv = s->v->expires(e->parent, data, len, &at);
	free(data);
	if (rv != 0 || at > e->stamp_ns) {
		ap->ch->noop = true;
		return 0;
	}
	return store_remove_name(ap, &a, e->name, e->name_len);
}

/* ENTRY_MULTI: the same content for several files of one typed directory,
 * each checked against its current content; one refusal refuses all. */
int store_apply_multi(struct apply *ap)
{
	const struct entry *e = ap->e;
	struct store *s = ap->s;
	const char *p = e->data, *end = p + e->data_len;
	const char *content, *names;
	size_t content_len;
	unsigned count = 0;
	int rv;

	if (!store_typed(s, e->parent) || (e->mode & S_IFMT) != S_IFREG)
		return -EINVAL;
	names = memchr(p, '\0', e->data_len);
	if (names == NULL || end[-1] != '\0' || names + 1 == end)
		return -EINVAL;
	content = p;
	content_len = (size_t)(names - p);
	for (const char *name = names + 1; name < end; name += strlen(name) + 1) {
		size_t n = strlen(name);
		struct store_attr a;
		const void *data = content;
		size_t len = content_len;
		void *old = NULL;
		size_t old_len = 0;
		bool remove;

		if (++count > ENTRY_MULTI_MAX || n == 0 || n > ENTRY_MAX_NAME ||
		    memchr(name, '/', n) != NULL)
			return -EINVAL;
		/* Each name once: all of them are checked against the content
		 * they had before this entry. */
		for (const char *q = names + 1; q < name; q += strlen(q) + 1)
			if (strcmp(q, name) == 0)
				return -EINVAL;
		rv = store_lookup_n(s, e->parent, name, n, &a);
		if (rv == -ENOENT) {
			struct entry c = *e;

			c.op = ENTRY_CREATE;
			c.flags = ENTRY_F_EXCL;
			c.ino = e->ino + count - 1;
			c.name = name;
			c.name_len = (uint32_t)n;
			c.data = content;
			c.data_len = (uint32_t)content_len;
			ap->e = &c;
			rv = store_apply_create(ap);
			ap->e = e;
			if (rv != 0)
				return rv;
			continue;
		}
		if (rv != 0)
			return rv;
		if (!S_ISREG(a.mode))
			return -EINVAL;
		rv = store_read_all(s, a.ino, &old, &old_len);
		if (rv == 0)
			rv = store_check_content(ap, e->parent, name, n, old != NULL ? old : "",
						 old_len, &data, &len, &remove);
		if (rv == 0 && remove)
			rv = -EINVAL; /* several at once are acquired or renewed only */
		else if (rv == 0)
			rv = store_set_content_checked(ap, &a, data, len, old, old_len);
		free(old);
		if (rv != 0)
			return rv;
	}
	ap->ch->noop = false;
	ap->ch->removed = false;
	ap->ch->result = count;
	return 0;
}

struct expiries_ctx {
	struct store *s;
	uint64_t dir;
	store_expiry_cb cb;
	void *arg;
};

static int expiries_one(void *arg, const char *name, size_t len, uint64_t ino, uint32_t mode)
{
	struct expiries_ctx *c = arg;
	void *data = NULL;
	size_t n = 0;
	int64_t at;
	int stop = 0;

	if (!S_ISREG(mode) || store_read_all(c->s, ino, &data, &n) != 0)
		return 0;
	if (c->s->v->expires(c->dir, data, n, &at) == 0)
		stop = c->cb(c->arg, name, len, at);
	free(data);
	return stop;
}

int store_expiries(struct store *s, uint64_t dir, store_expiry_cb cb, void *arg)
{
	struct expiries_ctx c = {.s = s, .dir = dir, .cb = cb, .arg = arg};

	if (s->v == NULL || s->v->expires == NULL)
		return 0;
	return store_readdir(s, dir, expiries_one, &c);
}
