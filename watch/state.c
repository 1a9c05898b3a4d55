/* clusterfs-watch applied state: see state.h. */
#include "state.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <uthash.h>
#include <unistd.h>

#define STATE_FILE   "applied"
#define STATE_TMP    "applied.tmp"
#define STATE_LOCK   "lock"
#define STATE_HEADER "# clusterfs-watch applied state v1: RULE HASH PATH (percent-escaped)"

struct entry {
	char *key; /* "RULE/PATH": rule names have no '/' */
	char *rule;
	char *path;
	char hash[STATE_HASH_LEN + 1];
	UT_hash_handle hh;
};

struct state {
	char *dir;
	int lock_fd;
	struct entry *entries;
	bool dirty;
};

void state_hash(const void *data, size_t len, char out[STATE_HASH_LEN + 1])
{
	unsigned char h[STATE_HASH_LEN / 2];

	crypto_generichash(h, sizeof(h), data, len, NULL, 0);
	sodium_bin2hex(out, STATE_HASH_LEN + 1, h, sizeof(h));
}

static char *keyOf(const char *rule, const char *path)
{
	size_t a = strlen(rule), b = strlen(path);
	char *key = malloc(a + b + 2);

	if (key == NULL)
		return NULL;
	memcpy(key, rule, a);
	key[a] = '/';
	memcpy(key + a + 1, path, b + 1);
	return key;
}

static struct entry *find(struct state *s, const char *rule, const char *path)
{
	struct entry *e = NULL;
	char *key = keyOf(rule, path);

	if (key == NULL)
		return NULL;
	HASH_FIND_STR(s->entries, key, e);
	free(key);
	return e;
}

static void entryFree(struct state *s, struct entry *e)
{
	HASH_DEL(s->entries, e);
	free(e->key);
	free(e->rule);
	free(e->path);
	free(e);
}

const char *state_get(struct state *s, const char *rule, const char *path)
{
	struct entry *e = find(s, rule, path);
	return e != NULL ? e->hash : NULL;
}

int state_set(struct state *s, const char *rule, const char *path, const char *hash)
{
	struct entry *e = find(s, rule, path);

	if (e == NULL) {
		e = calloc(1, sizeof(*e));
		if (e == NULL)
			return -ENOMEM;
		e->key = keyOf(rule, path);
		e->rule = strdup(rule);
		e->path = strdup(path);
		if (e->key == NULL || e->rule == NULL || e->path == NULL) {
			free(e->key);
			free(e->rule);
			free(e->path);
			free(e);
			return -ENOMEM;
		}
		HASH_ADD_KEYPTR(hh, s->entries, e->key, strlen(e->key), e);
	} else if (strcmp(e->hash, hash) == 0) {
		return 0;
	}
	snprintf(e->hash, sizeof(e->hash), "%s", hash);
	s->dirty = true;
	return 0;
}

void state_del(struct state *s, const char *rule, const char *path)
{
	struct entry *e = find(s, rule, path);

	if (e != NULL) {
		entryFree(s, e);
		s->dirty = true;
	}
}

void state_drop_rule(struct state *s, const char *rule)
{
	struct entry *e, *tmp;

	HASH_ITER(hh, s->entries, e, tmp)
	{
		if (strcmp(e->rule, rule) == 0) {
			entryFree(s, e);
			s->dirty = true;
		}
	}
}

void state_drop_others(struct state *s, const char *const *keep, size_t n)
{
	struct entry *e, *tmp;

	HASH_ITER(hh, s->entries, e, tmp)
	{
		size_t i;
		for (i = 0; i < n; i++)
			if (strcmp(e->rule, keep[i]) == 0)
				break;
		if (i == n) {
			entryFree(s, e);
			s->dirty = true;
		}
	}
}

void state_each(struct state *s, void (*fn)(void *arg, const char *rule, const char *path),
		void *arg)
{
	struct entry *e, *tmp;

	HASH_ITER(hh, s->entries, e, tmp)
	{
		fn(arg, e->rule, e->path);
	}
}

size_t state_count(struct state *s)
{
	return HASH_COUNT(s->entries);
}

/* Percent-escaping of paths: control bytes, space, DEL and '%'. */
static void escapeTo(FILE *f, const char *p)
{
	for (; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c == 0x7f || c == '%')
			fprintf(f, "%%%02X", c);
		else
			fputc(c, f);
	}
}

static int unescape(char *p)
{
	char *out = p;

	for (; *p != '\0'; p++) {
		if (*p == '%') {
			unsigned v;
			if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]) ||
			    sscanf(p + 1, "%2x", &v) != 1 || v == 0)
				return -EINVAL;
			*out++ = (char)v;
			p += 2;
		} else {
			*out++ = *p;
		}
	}
	*out = '\0';
	return 0;
}

static char *pathIn(const char *dir, const char *name)
{
	char *p;
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

static int load(struct state *s, char *err, size_t errlen)
{
	char *file = pathIn(s->dir, STATE_FILE);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, bad = 0;
	FILE *f;

	if (file == NULL)
		return -ENOMEM;
	f = fopen(file, "r");
	if (f == NULL) {
		int rv = errno == ENOENT ? 0 : -errno;
		if (rv != 0)
			snprintf(err, errlen, "cannot read %s: %s", file, strerror(errno));
		free(file);
		return rv;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		char rule[256], hash[STATE_HASH_LEN + 2], *path;
		int off = 0;
		lineno++;
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (sscanf(line, "%255s %33s %n", rule, hash, &off) != 2 || off == 0 ||
		    strlen(hash) != STATE_HASH_LEN || strchr(rule, '/') != NULL) {
			bad++;
			continue;
		}
		path = line + off;
		if (*path == '\0' || unescape(path) != 0) {
			bad++;
			continue;
		}
		if (state_set(s, rule, path, hash) != 0) {
			fclose(f);
			free(line);
			free(file);
			return -ENOMEM;
		}
	}
	free(line);
	fclose(f);
	if (bad > 0)
		fprintf(stderr, "clusterfs-watch: %s: ignored %d unreadable line(s) of %d\n", file,
			bad, lineno);
	free(file);
	s->dirty = false;
	return 0;
}

static int mkdirs(const char *dir)
{
	char *copy = strdup(dir);
	int rv = 0;

	if (copy == NULL)
		return -ENOMEM;
	for (char *p = copy + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) != 0 && errno != EEXIST)
			rv = -errno;
		*p = '/';
		if (rv != 0)
			break;
	}
	if (rv == 0 && mkdir(copy, 0700) != 0 && errno != EEXIST)
		rv = -errno;
	free(copy);
	return rv;
}

int state_open(const char *dir, struct state **out, char *err, size_t errlen)
{
	struct state *s = calloc(1, sizeof(*s));
	char *lock = NULL;
	int rv;

	if (s == NULL || sodium_init() < 0) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->lock_fd = -1;
	s->dir = strdup(dir);
	rv = s->dir != NULL ? mkdirs(dir) : -ENOMEM;
	if (rv != 0) {
		snprintf(err, errlen, "cannot create state directory %s: %s; pass --state DIR", dir,
			 strerror(-rv));
		goto err;
	}
	lock = pathIn(dir, STATE_LOCK);
	if (lock == NULL) {
		rv = -ENOMEM;
		goto err;
	}
	s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		rv = -errno;
		snprintf(err, errlen, "cannot open %s: %s; pass --state DIR", lock,
			 strerror(errno));
		goto err;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		rv = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(err, errlen,
			 "another clusterfs-watch uses the state directory %s; give each "
			 "watcher its own --state DIR",
			 dir);
		goto err;
	}
	rv = load(s, err, errlen);
	if (rv != 0)
		goto err;
	free(lock);
	*out = s;
	return 0;
err:
	free(lock);
	state_close(s);
	return rv;
}

void state_close(struct state *s)
{
	struct entry *e, *tmp;

	if (s == NULL)
		return;
	HASH_ITER(hh, s->entries, e, tmp)
	{
		entryFree(s, e);
	}
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->dir);
	free(s);
}

bool state_dirty(struct state *s)
{
	return s->dirty;
}

int state_save(struct state *s)
{
	char *tmp = NULL, *file = NULL;
	struct entry *e, *next;
	FILE *f = NULL;
	int fd, dfd, rv = 0;

	if (!s->dirty)
		return 0;
	tmp = pathIn(s->dir, STATE_TMP);
	file = pathIn(s->dir, STATE_FILE);
	if (tmp == NULL || file == NULL) {
		rv = -ENOMEM;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		rv = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fprintf(f, "%s\n", STATE_HEADER);
	HASH_ITER(hh, s->entries, e, next)
	{
		fprintf(f, "%s %s ", e->rule, e->hash);
		escapeTo(f, e->path);
		fputc('\n', f);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rv = -errno;
	if (fclose(f) != 0 && rv == 0)
		rv = -errno;
	if (rv == 0 && rename(tmp, file) != 0)
		rv = -errno;
	if (rv == 0) {
		dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		s->dirty = false;
	} else {
		unlink(tmp);
	}
out:
	free(tmp);
	free(file);
	return rv;
}
