/*
 * log.c - levelled logging to stderr or syslog.
 *
 * The only process-wide state in the daemon: where log lines go.  It is
 * set at start-up and on reload, while the worker threads log: the target
 * and level are atomics, and log_init itself is serialised, so a line is
 * written whole to the old target or the new one.  stdio and syslog lock
 * per call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static _Atomic enum log_target log_to = LOG_TARGET_STDERR;
static _Atomic enum log_level log_max = LOG_LEVEL_INFO;
static pthread_mutex_t log_init_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool echo_errors;    /* to stderr too, while syslog is the target */

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_NOTICE] = "notice",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static const int syslog_prio[] = {
	[LOG_LEVEL_ERROR] = LOG_ERR,
	[LOG_LEVEL_WARNING] = LOG_WARNING,
	[LOG_LEVEL_NOTICE] = LOG_NOTICE,
	[LOG_LEVEL_INFO] = LOG_INFO,
	[LOG_LEVEL_DEBUG] = LOG_DEBUG,
};

void
log_init(enum log_target target, enum log_level level)
{
	enum log_target was;

	pthread_mutex_lock(&log_init_lock);
	was = log_to;
	if (target == LOG_TARGET_SYSLOG && was != LOG_TARGET_SYSLOG)
		openlog("vencryptd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_to = target;
	log_max = level;
	/* After the switch: a line already on its way to syslog still
	 * goes (syslog reopens what it needs). */
	if (was == LOG_TARGET_SYSLOG && target != LOG_TARGET_SYSLOG)
		closelog();
	pthread_mutex_unlock(&log_init_lock);
}

void
log_echo_errors(bool on)
{
	atomic_store(&echo_errors, on);
}

enum log_level
log_get_level(void)
{
	return log_max;
}

int
log_level_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

int
log_target_from_name(const char *name)
{
	if (strcmp(name, "stderr") == 0)
		return LOG_TARGET_STDERR;
	if (strcmp(name, "syslog") == 0)
		return LOG_TARGET_SYSLOG;
	return -1;
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if (level > log_max)
		return;
	if (atomic_load_explicit(&log_to, memory_order_relaxed) ==
	    LOG_TARGET_SYSLOG) {
		va_list copy;
		va_copy(copy, ap);
		vsyslog(syslog_prio[level], fmt, ap);
		if (level == LOG_LEVEL_ERROR && atomic_load(&echo_errors)) {
			fputs("vencryptd: ", stderr);
			vfprintf(stderr, fmt, copy);
			fputc('\n', stderr);
		}
		va_end(copy);
		return;
	}
	char line[2048];
	vsnprintf(line, sizeof line, fmt, ap);
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ vencryptd %s: %s\n",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level],
	    line);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

static void log_with_errno(enum log_level level, int err, const char *fmt,
    va_list ap) PRINTF_LIKE(3, 0);

static void
log_with_errno(enum log_level level, int err, const char *fmt, va_list ap)
{
	char msg[1536];
	vsnprintf(msg, sizeof msg, fmt, ap);
	log_msg(level, "%s: %s", msg, strerror(err));
}

#define LOG_FN(name, level) \
	void name(const char *fmt, ...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		log_vmsg(level, fmt, ap); \
		va_end(ap); \
	}

#define LOG_ERRNO_FN(name, level) \
	void name(const char *fmt, ...) \
	{ \
		int err = errno; \
		va_list ap; \
		va_start(ap, fmt); \
		log_with_errno(level, err, fmt, ap); \
		va_end(ap); \
	}

LOG_ERRNO_FN(log_err, LOG_LEVEL_ERROR)
LOG_FN(log_errx, LOG_LEVEL_ERROR)
LOG_ERRNO_FN(log_warn, LOG_LEVEL_WARNING)
LOG_FN(log_warnx, LOG_LEVEL_WARNING)
LOG_FN(log_notice, LOG_LEVEL_NOTICE)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
