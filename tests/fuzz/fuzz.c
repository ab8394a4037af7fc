/*
 * fuzz.c - helpers shared by the fuzz harnesses (see fuzz.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

#define MAX_FILES 8

void
fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: invariant broken: %s: ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

size_t
fuzz_left(const struct fuzz_input *in)
{
	return in->n;
}

uint8_t
fuzz_u8(struct fuzz_input *in)
{
	uint8_t v;

	if (in->n == 0)
		return 0;
	v = in->p[0];
	in->p++;
	in->n--;
	return v;
}

uint16_t
fuzz_u16(struct fuzz_input *in)
{
	uint16_t hi = fuzz_u8(in);

	return (uint16_t)(hi << 8 | fuzz_u8(in));
}

bool
fuzz_bool(struct fuzz_input *in)
{
	return fuzz_u8(in) & 1;
}

const uint8_t *
fuzz_bytes(struct fuzz_input *in, size_t n, size_t *got)
{
	const uint8_t *p = in->p;

	if (n > in->n)
		n = in->n;
	in->p += n;
	in->n -= n;
	*got = n;
	return p;
}

uint32_t
fuzz_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

void
fuzz_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

size_t
fuzz_count_lines(const uint8_t *p, size_t n)
{
	size_t lines = 1;

	for (size_t i = 0; i < n; i++)
		lines += p[i] == '\n';
	return lines;
}

void
fuzz_check_error(const char *e, const struct fuzz_file *files, size_t nfiles,
    const char *const *whole)
{
	const struct fuzz_file *f = NULL;
	const char *rest;
	char *end;
	long line;

	for (size_t i = 0; i < nfiles && f == NULL; i++)
		if (strncmp(e, files[i].path, strlen(files[i].path)) == 0 &&
		    e[strlen(files[i].path)] == ':')
			f = &files[i];
	FUZZ_CHECK(f != NULL, "error names no file it may name: \"%s\"", e);
	rest = e + strlen(f->path) + 1;
	FUZZ_CHECK(strpbrk(rest, "\r\n") == NULL, "error of more than one "
	    "line: \"%s\"", e);
	if (*rest == ' ') {
		int known = 0;
		for (size_t i = 0; whole[i] != NULL; i++)
			known = known || strncmp(rest + 1, whole[i],
			    strlen(whole[i])) == 0;
		FUZZ_CHECK(known, "error without a line: \"%s\"", e);
		return;
	}
	line = strtol(rest, &end, 10);
	FUZZ_CHECK(end != rest && *end == ':' && end[1] == ' ' && end[2] != '\0',
	    "not FILE:LINE: message: \"%s\"", e);
	FUZZ_CHECK(line >= 1 && (size_t)line <= f->lines, "line %ld of a "
	    "%zu-line file: \"%s\"", line, f->lines, e);
}

static char scratch[256];
static struct {
	char name[64];
	char path[320];
} files[MAX_FILES];

static void
remove_scratch(void)
{
	for (size_t i = 0; i < MAX_FILES; i++)
		if (files[i].name[0] != '\0')
			(void)unlink(files[i].path);
	(void)rmdir(scratch);
}

const char *
fuzz_scratch_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	if (scratch[0] != '\0')
		return scratch;
	snprintf(scratch, sizeof scratch, "%s/vencryptd-fuzz.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(scratch) == NULL) {
		fprintf(stderr, "fuzz: cannot make a scratch directory %s: %s\n",
		    scratch, strerror(errno));
		exit(1);
	}
	atexit(remove_scratch);
	return scratch;
}

const char *
fuzz_scratch_file(const char *name)
{
	size_t i;

	for (i = 0; i < MAX_FILES; i++)
		if (files[i].name[0] == '\0' || strcmp(files[i].name, name) == 0)
			break;
	if (i == MAX_FILES || strlen(name) >= sizeof files[i].name) {
		fprintf(stderr, "fuzz: too many scratch files (%s)\n", name);
		exit(1);
	}
	if (files[i].name[0] == '\0') {
		snprintf(files[i].path, sizeof files[i].path, "%s/%s",
		    fuzz_scratch_dir(), name);
		snprintf(files[i].name, sizeof files[i].name, "%s", name);
	}
	return files[i].path;
}

const char *
fuzz_write_file(const char *name, const void *p, size_t n)
{
	const char *path = fuzz_scratch_file(name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || (n > 0 && write(fd, p, n) != (ssize_t)n)) {
		fprintf(stderr, "fuzz: cannot write %s: %s\n", path,
		    strerror(errno));
		exit(1);
	}
	close(fd);
	return path;
}
