/*
 * replay.c - run a fuzz harness over saved inputs, without libFuzzer.
 *
 *   replay_NAME [FILE|DIR]...
 *
 * With no arguments it replays every file of
 * $top_srcdir/tests/fuzz/corpus/NAME and tests/fuzz/regressions/NAME, so
 * that make check keeps every committed input a test.  It fails when an
 * input breaks an invariant (the harness aborts) or when there is nothing
 * to replay.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef FUZZ_NAME
#error "FUZZ_NAME must name the harness"
#endif

/* A harness may set itself up once, as under libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static size_t replayed;

static int
replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t cap = 0, len = 0;

	if (fp == NULL) {
		fprintf(stderr, "replay_%s: %s: %s\n", FUZZ_NAME, path,
		    strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			uint8_t *p = realloc(data, cap = cap ? cap * 2 : 4096);
			if (p == NULL) {
				fprintf(stderr, "replay_%s: out of memory\n", FUZZ_NAME);
				exit(1);
			}
			data = p;
		}
		size_t n = fread(data + len, 1, cap - len, fp);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(fp)) {
		fprintf(stderr, "replay_%s: %s: read error\n", FUZZ_NAME, path);
		fclose(fp);
		free(data);
		return -1;
	}
	fclose(fp);
	if (getenv("FUZZ_REPLAY_VERBOSE") != NULL)
		fprintf(stderr, "replay_%s: %s (%zu bytes)\n", FUZZ_NAME, path, len);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	replayed++;
	return 0;
}

static int
name_order(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file in dir, in name order; a missing dir is no error
 * when optional. */
static int
replay_dir(const char *dir, int optional)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;
	int ret = 0;

	if (d == NULL) {
		if (optional && errno == ENOENT)
			return 0;
		fprintf(stderr, "replay_%s: %s: %s\n", FUZZ_NAME, dir,
		    strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		char **p;
		if (e->d_name[0] == '.')
			continue;
		if ((p = realloc(names, (n + 1) * sizeof *names)) == NULL ||
		    asprintf(&p[n], "%s/%s", dir, e->d_name) < 0) {
			fprintf(stderr, "replay_%s: out of memory\n", FUZZ_NAME);
			exit(1);
		}
		names = p;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof *names, name_order);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode) &&
		    replay_file(names[i]) < 0)
			ret = -1;
		free(names[i]);
	}
	free(names);
	return ret;
}

static int
replay_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay_%s: %s: %s\n", FUZZ_NAME, path,
		    strerror(errno));
		return -1;
	}
	return S_ISDIR(st.st_mode) ? replay_dir(path, 0) : replay_file(path);
}

int
main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir");
	int ret = 0;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			if (replay_path(argv[i]) < 0)
				ret = 1;
	} else {
		char *corpus, *regressions;

		if (top == NULL)
			top = ".";
		if (asprintf(&corpus, "%s/tests/fuzz/corpus/%s", top,
		    FUZZ_NAME) < 0 || asprintf(&regressions,
		    "%s/tests/fuzz/regressions/%s", top, FUZZ_NAME) < 0)
			return 1;
		if (replay_dir(corpus, 0) < 0 || replay_dir(regressions, 1) < 0)
			ret = 1;
		free(corpus);
		free(regressions);
	}
	if (replayed == 0) {
		fprintf(stderr, "replay_%s: no input replayed\n", FUZZ_NAME);
		return 1;
	}
	if (ret == 0)
		printf("replay_%s: %zu input(s), every invariant held\n",
		    FUZZ_NAME, replayed);
	return ret;
}
