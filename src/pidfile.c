/*
 * pidfile.c - the pid file.  Only a file naming a live vencryptd stops a
 * start: one left by a crash, or naming a PID the system has since given
 * to another program, is stale and simply replaced.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "pidfile.h"

#define PROGRAM "vencryptd"

/* Whether the NUL-separated command line names vencryptd: its program,
 * or (under a wrapper such as valgrind) any of its words. */
static bool
names_us(const char *cmd, size_t len)
{
	for (size_t i = 0; i < len; i += strlen(cmd + i) + 1) {
		const char *base = strrchr(cmd + i, '/');
		base = base != NULL ? base + 1 : cmd + i;
		if (strcmp(base, PROGRAM) == 0)
			return true;
	}
	return false;
}

static bool
is_vencryptd(pid_t pid)
{
	char path[64], cmd[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, cmd, sizeof cmd - 1);
	close(fd);
	if (n <= 0)
		return false;
	cmd[n] = '\0';
	return names_us(cmd, (size_t)n);
}

pid_t
pidfile_running(const char *path)
{
	char buf[32], *end;
	FILE *f;
	long v;

	if ((f = fopen(path, "r")) == NULL)
		return errno == ENOENT ? 0 : -1;
	if (fgets(buf, sizeof buf, f) == NULL) {
		fclose(f);
		return 0;
	}
	fclose(f);
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') ||
	    v <= 0 || v > INT_MAX || (pid_t)v == getpid())
		return 0;
	if (kill((pid_t)v, 0) < 0 && errno != EPERM)
		return 0;
	return is_vencryptd((pid_t)v) ? (pid_t)v : 0;
}

int
pidfile_write(const char *path)
{
	char *tmp;
	FILE *f;
	int fd, err;

	if (asprintf(&tmp, "%s.XXXXXX", path) == -1)
		return -1;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		goto fail_free;
	if (fchmod(fd, 0644) < 0 || (f = fdopen(fd, "w")) == NULL) {
		close(fd);
		goto fail_unlink;
	}
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		goto fail_unlink;
	free(tmp);
	return 0;
fail_unlink:
	err = errno;
	unlink(tmp);
	errno = err;
fail_free:
	err = errno;
	free(tmp);
	errno = err;
	return -1;
}

void
pidfile_remove(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		log_info("cannot remove pid file %s: %s", path, strerror(errno));
}
