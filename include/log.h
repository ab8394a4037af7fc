/*
 * log.h - levelled logging to stderr or syslog.
 */
#ifndef VENCRYPTD_LOG_H
#define VENCRYPTD_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_NOTICE,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_SYSLOG,
};

#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

void log_init(enum log_target target, enum log_level level);
enum log_level log_get_level(void);
/* While on (start-up), errors logged to syslog are also written to
 * stderr, so that whoever started the daemon sees why it did not. */
void log_echo_errors(bool on);
/* -1 for an unknown name */
int log_level_from_name(const char *name);
int log_target_from_name(const char *name);

void log_msg(enum log_level level, const char *fmt, ...) PRINTF_LIKE(2, 3);
void log_vmsg(enum log_level level, const char *fmt, va_list ap) PRINTF_LIKE(2, 0);

/* log_warn and log_err append ": strerror(errno)" */
void log_err(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_errx(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_warn(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_warnx(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_notice(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_info(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_debug(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* log at error level and exit(1) */
void fatalx(const char *fmt, ...) PRINTF_LIKE(1, 2) __attribute__((noreturn));

#endif
