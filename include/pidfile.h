/*
 * pidfile.h - the pid_file: refuse to start beside a running daemon,
 * write it atomically once serving, remove it at exit.
 */
#ifndef VENCRYPTD_PIDFILE_H
#define VENCRYPTD_PIDFILE_H

#include <stddef.h>
#include <sys/types.h>

/* The PID in path when that process is alive and is a vencryptd (not
 * this process); 0 when there is no such file or it is stale.  -1 (with
 * errno) when the file exists but cannot be read. */
pid_t pidfile_running(const char *path);
/* This process's PID into path, through a temporary file and rename(2);
 * 0, or -1 with errno (nothing left behind). */
int pidfile_write(const char *path);
/* Removes path; a failure is logged at info level. */
void pidfile_remove(const char *path);

#endif
