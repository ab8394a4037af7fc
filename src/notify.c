/*
 * notify.c - sd_notify(3) messages to the service manager, through
 * libsystemd when configure found it; otherwise every call is a no-op.
 * libsystemd itself does nothing when NOTIFY_SOCKET is unset.  A message
 * that cannot be sent is logged at debug level and otherwise ignored: the
 * manager's own time-outs notice a daemon that never says it is ready.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "notify.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

static void
send_state(const char *state)
{
	int r = sd_notify(0, state);

	if (r < 0)
		log_debug("cannot notify the service manager (%s): %s", state,
		    strerror(-r));
}

bool
notify_supported(void)
{
	return true;
}
#else
static void
send_state(const char *state)
{
	(void)state;
}

bool
notify_supported(void)
{
	return false;
}
#endif

void
notify_ready(void)
{
	send_state("READY=1");
}

void
notify_reloading(void)
{
	send_state("RELOADING=1");
}

void
notify_stopping(void)
{
	send_state("STOPPING=1");
}

void
notify_status(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	n = snprintf(line, sizeof line, "STATUS=");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	send_state(line);
}
