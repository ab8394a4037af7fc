/*
 * notify.h - telling the service manager how the daemon is doing
 * (sd_notify): ready, reloading, stopping, and a one-line status.  Each
 * call does nothing when NOTIFY_SOCKET is not set, or when vencryptd was
 * built without libsystemd.
 */
#ifndef VENCRYPTD_NOTIFY_H
#define VENCRYPTD_NOTIFY_H

#include <stdbool.h>

#include "log.h"

/* Whether this build can notify at all (configure found libsystemd). */
bool notify_supported(void);
/* READY=1: serving (after start-up, and after every reload). */
void notify_ready(void);
/* RELOADING=1: a reload has begun; notify_ready() ends it. */
void notify_reloading(void);
/* STOPPING=1: the daemon is on its way out. */
void notify_stopping(void);
/* STATUS=...: one line a person reads in "systemctl status". */
void notify_status(const char *fmt, ...) PRINTF_LIKE(1, 2);

#endif
