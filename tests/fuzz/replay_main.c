/*
 * The replay driver: runs every file of the given directories (or the given
 * files) through a fuzz harness once, without libFuzzer. Linked with each
 * fuzz_<target>.c in the ordinary build, so that the seed corpus and every
 * crash ever found (tests/fuzz/regressions/<target>/) run as unit tests, in
 * the plain and the ASan+UBSan builds alike.
 *
 * Usage: replay_<target> PATH...   A directory that does not exist counts
 * as empty (a target may have no regressions yet), but at least one input
 * must run, so that a wrong path cannot make the test pass vacuously.
 * Exit status 0 when every input ran; a failing input aborts (its path is
 * printed first).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL) {
		fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (buf == NULL) {
				fprintf(stderr, "replay: out of memory reading %s\n", path);
				fclose(f);
				return -1;
			}
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	/* Exactly @len bytes, like libFuzzer: ASan sees any over-read. */
	uint8_t *exact = malloc(len > 0 ? len : 1);

	if (exact == NULL) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replay the files of @dir in name order; adds to *count. */
static int replay_dir(const char *dir, int *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	int rv = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		char **grown;

		if (de->d_name[0] == '.')
			continue; /* ., .., .gitkeep */
		grown = realloc(names, (n + 1) * sizeof(*names));
		if (grown == NULL)
			break;
		names = grown;
		names[n] = strdup(de->d_name);
		if (names[n] != NULL)
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) != 0)
				rv = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return rv;
}

int main(int argc, char **argv)
{
	int count = 0, rv = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(argv[i]) != 0)
				rv = 1;
			else
				count++;
		} else if (replay_dir(argv[i], &count) != 0) {
			fprintf(stderr, "replay: cannot read directory %s: %s\n", argv[i],
				strerror(errno));
			rv = 1;
		}
	}
	if (count == 0) {
		fprintf(stderr, "replay: no input found in the paths given; nothing was tested\n");
		return 1;
	}
	printf("replay: %d inputs ran without a crash\n", count);
	return rv;
}
