/*
 * privs.c - giving up root once the listeners are bound and the keys
 * loaded: supplementary groups, then the group, then the user, each
 * checked, and finally a check that the drop cannot be undone.  The
 * caller treats any failure as fatal: a daemon told to run as someone
 * else never goes on as root.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "privs.h"

/* After getpwnam or getgrnam found nothing: no such name, or an error
 * (the lookup functions leave errno 0, or set one of these, for "not
 * there"). */
static enum privs_lookup_result
not_found(void)
{
	return errno == 0 || errno == ENOENT || errno == ESRCH ||
	    errno == EBADF || errno == EPERM ? PRIVS_UNKNOWN :
	    PRIVS_LOOKUP_FAILED;
}

enum privs_lookup_result
privs_lookup_user(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(name)) == NULL)
		return not_found();
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return PRIVS_FOUND;
}

enum privs_lookup_result
privs_lookup_group(const char *name, gid_t *gid)
{
	struct group *gr;

	errno = 0;
	if ((gr = getgrnam(name)) == NULL)
		return not_found();
	*gid = gr->gr_gid;
	return PRIVS_FOUND;
}

/* Whether the supplementary groups are gid alone (only), or the user's
 * from initgroups, which include gid. */
static bool
groups_hold(gid_t gid, bool only)
{
	gid_t *list;
	int n = getgroups(0, NULL);
	bool ok = false;

	if (n < 0 || (list = calloc(n > 0 ? (size_t)n : 1, sizeof *list)) == NULL)
		return false;
	if ((n = getgroups(n, list)) >= 0) {
		if (only)
			ok = n == 1 && list[0] == gid;
		for (int i = 0; !only && i < n; i++)
			ok = ok || list[i] == gid;
	}
	free(list);
	return ok;
}

int
privs_drop(const struct config *cfg)
{
	if (cfg->user == NULL && cfg->group == NULL)
		return 0;
	/* Supplementary groups first, while we may still set them. */
	if (cfg->user != NULL) {
		if (initgroups(cfg->user, cfg->gid) < 0) {
			log_err("cannot set the supplementary groups of user %s",
			    cfg->user);
			return -1;
		}
	} else if (setgroups(1, &cfg->gid) < 0) {
		log_err("cannot set the supplementary groups to group %s",
		    cfg->group);
		return -1;
	}
	if (setgid(cfg->gid) < 0) {
		log_err("cannot change to group id %lu", (unsigned long)cfg->gid);
		return -1;
	}
	if (cfg->user != NULL && setuid(cfg->uid) < 0) {
		log_err("cannot change to user %s (id %lu)", cfg->user,
		    (unsigned long)cfg->uid);
		return -1;
	}
	/* Trust, but verify: every id is the one asked for, no group of
	 * root's is left over, and root cannot be had back. */
	if (getgid() != cfg->gid || getegid() != cfg->gid ||
	    !groups_hold(cfg->gid, cfg->user == NULL)) {
		log_errx("group change to %lu did not hold (gid %lu, egid %lu)",
		    (unsigned long)cfg->gid, (unsigned long)getgid(),
		    (unsigned long)getegid());
		return -1;
	}
	if (cfg->user != NULL &&
	    (getuid() != cfg->uid || geteuid() != cfg->uid)) {
		log_errx("user change to %lu did not hold (uid %lu, euid %lu)",
		    (unsigned long)cfg->uid, (unsigned long)getuid(),
		    (unsigned long)geteuid());
		return -1;
	}
	if (cfg->user != NULL && cfg->uid != 0 && setuid(0) == 0) {
		log_errx("running as user %s, yet setuid(0) succeeded", cfg->user);
		return -1;
	}
	log_info("running as user %s (uid %lu), group %s (gid %lu)",
	    cfg->user != NULL ? cfg->user : "unchanged",
	    (unsigned long)getuid(),
	    cfg->group != NULL ? cfg->group : "of the user",
	    (unsigned long)getgid());
	return 0;
}
