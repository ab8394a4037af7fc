/*
 * privs.h - the user and group the daemon runs as once it has bound its
 * listeners: name lookup (for the configuration) and the drop itself.
 */
#ifndef VENCRYPTD_PRIVS_H
#define VENCRYPTD_PRIVS_H

#include <stddef.h>
#include <sys/types.h>

struct config;

enum privs_lookup_result {
	PRIVS_FOUND,
	PRIVS_UNKNOWN,          /* no such user or group */
	PRIVS_LOOKUP_FAILED,    /* the lookup itself failed: errno */
};

/* The user's id and primary group. */
enum privs_lookup_result privs_lookup_user(const char *name, uid_t *uid,
    gid_t *gid);
enum privs_lookup_result privs_lookup_group(const char *name, gid_t *gid);

/* Becomes cfg->user and cfg->group (either may be NULL: see
 * vencryptd.conf(5)) for good: supplementary groups, group, user, then
 * checks that all of it holds and that root cannot be had back.  0 when
 * neither is set or all went well; -1 (logged) otherwise, and the caller
 * must exit. */
int privs_drop(const struct config *cfg);

#endif
