/*
 * listener.c - listening sockets and accept, with backpressure: accepting
 * pauses at max_clients and on descriptor exhaustion, and resumes as
 * sessions end (or after a short back-off), never spinning.
 *
 * max_clients bounds the sessions of the whole process: a worker counts a
 * session in the shared count before it accepts it, and a worker that
 * finds the count at the limit stops its watchers until a session ends on
 * any worker and wakes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "server.h"
#include "session.h"

#define ACCEPT_BURST 32         /* accepts per wake-up, fairness between listeners */
#define EMFILE_BACKOFF 1.0      /* seconds between looks for a free descriptor */

/* ---- one worker's accepts ------------------------------------------------ */

static void
listeners_watch(struct server *srv, int on)
{
	if (srv->accepting == on)
		return;
	for (size_t i = 0; i < srv->nlisteners; i++) {
		if (on)
			ev_io_start(srv->loop, &srv->listeners[i].io);
		else
			ev_io_stop(srv->loop, &srv->listeners[i].io);
	}
	srv->accepting = on;
}

static unsigned
open_sessions(const struct server *srv)
{
	return atomic_load(&srv->shared->nsessions);
}

static bool
at_limit(const struct server *srv)
{
	return open_sessions(srv) >= srv->cfg->max_clients;
}

static int
may_accept(const struct server *srv)
{
	return !srv->stopping && !srv->draining &&
	    !ev_is_active(&srv->accept_retry) && !at_limit(srv);
}

/* Starts the watchers when accepting is allowed; at max_clients, asks to
 * be woken when a session ends anywhere.  Whether they started here. */
static bool
resume(struct server *srv)
{
	for (;;) {
		if (may_accept(srv)) {
			if (atomic_load(&srv->paused_full)) {
				atomic_store(&srv->paused_full, false);
				atomic_fetch_sub(&srv->shared->npaused, 1);
			}
			if (srv->accepting)
				return false;
			listeners_watch(srv, 1);
			return true;
		}
		if (srv->stopping || srv->draining || !at_limit(srv) ||
		    atomic_load(&srv->paused_full))
			return false;
		/* The flag first, then the count again: a session ending
		 * elsewhere lowers the count before it looks at the flags,
		 * so one of the two sees the other. */
		atomic_store(&srv->paused_full, true);
		atomic_fetch_add(&srv->shared->npaused, 1);
	}
}

static void
resume_logged(struct server *srv)
{
	if (resume(srv))
		log_notice("accepting resumed (%u sessions)", open_sessions(srv));
}

/* The count went down: every other worker paused at the limit looks
 * again, on its own loop. */
static void
slot_released(struct server *srv)
{
	struct shared *sh = srv->shared;

	shared_release(sh);
	if (atomic_load(&sh->npaused) == 0)
		return;
	for (unsigned i = 0; i < sh->nservers; i++) {
		struct server *other = sh->servers[i];
		if (other != srv && atomic_load(&other->paused_full))
			ev_async_send(other->loop, &other->resume);
	}
}

/* Whether a descriptor could be had now (a duplicate, closed at once). */
static bool
descriptor_free(const struct server *srv)
{
	int fd;

	if (srv->nlisteners == 0)
		return true;
	fd = fcntl(srv->listeners[0].fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return errno != EMFILE && errno != ENFILE;
	close(fd);
	return true;
}

/* Out of descriptors (or memory) a while ago: resume once there is one
 * to spare, else look again later, quietly. */
static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = w->data;

	if (!descriptor_free(srv)) {
		ev_timer_again(loop, w);
		return;
	}
	ev_timer_stop(loop, w);
	atomic_fetch_sub(&srv->shared->nstarved, 1);
	resume_logged(srv);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	struct server *srv = l->srv;

	for (int i = 0; i < ACCEPT_BURST && may_accept(srv); i++) {
		struct net_addr peer;
		int fd;

		/* Counted before it exists, so no two workers take the
		 * last place. */
		if (!shared_reserve(srv->shared, srv->cfg->max_clients))
			break;
		peer.len = sizeof peer.ss;
		fd = accept4(l->fd, (struct sockaddr *)&peer.ss, &peer.len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int err = errno;
			slot_released(srv);
			errno = err;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Descriptors are the process's: one warning,
				 * however many workers run out. */
				if (atomic_fetch_add(&srv->shared->nstarved, 1) == 0)
					log_warn("accept on service %s paused, looking "
					    "again every %.0f s", l->svc->name,
					    EMFILE_BACKOFF);
				srv->accept_retry.repeat = EMFILE_BACKOFF;
				ev_timer_again(loop, &srv->accept_retry);
				break;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("accept on service %s", l->svc->name);
			break;
		}
		session_start(srv, l->svc, l->lc, fd, &peer);
	}
	if (!may_accept(srv)) {
		if (at_limit(srv) && srv->accepting)
			log_notice("max_clients (%u) reached: accepting paused",
			    srv->cfg->max_clients);
		listeners_watch(srv, 0);
		resume_logged(srv);
	}
}

void
listeners_session_ended(struct server *srv)
{
	slot_released(srv);
	if (srv->draining) {
		/* The control thread looks at the shared count. */
		if (srv->nsessions == 0)
			ev_async_send(srv->shared->control, srv->shared->drained);
		return;
	}
	if (!srv->accepting)
		resume_logged(srv);
}

void
listeners_wake(struct server *srv)
{
	if (!srv->accepting)
		resume_logged(srv);
}

void
listeners_resume(struct server *srv)
{
	resume(srv);
}

struct listener *
listeners_prepare(struct server *srv, const struct listen_set *set,
    unsigned index)
{
	struct listener *l = calloc(set->n ? set->n : 1, sizeof *l);

	if (l == NULL)
		return NULL;
	for (size_t i = 0; i < set->n; i++) {
		l[i].srv = srv;
		l[i].svc = set->socks[i].svc;
		l[i].lc = set->socks[i].lc;
		l[i].fd = set->socks[i].fds[index];
		ev_io_init(&l[i].io, accept_cb, l[i].fd, EV_READ);
		l[i].io.data = &l[i];
	}
	return l;
}

void
listeners_install(struct server *srv, struct listener *l, size_t n)
{
	if (!ev_is_active(&srv->accept_retry)) {
		ev_init(&srv->accept_retry, retry_cb);
		srv->accept_retry.data = srv;
	}
	listeners_watch(srv, 0);
	free(srv->listeners);
	srv->listeners = l;
	srv->nlisteners = n;
}

void
listeners_close(struct server *srv)
{
	listeners_watch(srv, 0);
	if (ev_is_active(&srv->accept_retry))
		atomic_fetch_sub(&srv->shared->nstarved, 1);
	ev_timer_stop(srv->loop, &srv->accept_retry);
	free(srv->listeners);
	srv->listeners = NULL;
	srv->nlisteners = 0;
}

/* ---- the sockets, on the control thread -------------------------------- */

static bool
any_port(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_port == 0;
	if (a->ss.ss_family == AF_INET6)
		return ((const struct sockaddr_in6 *)&a->ss)->sin6_port == 0;
	return false;
}

/* The open socket group for a configured address.  Port 0 stands for any
 * port, so such a group is only the same one for the same service. */
static struct listen_socket *
find_open(const struct listen_set *set, const struct service *svc,
    const struct net_addr *conf, bool *taken)
{
	for (size_t i = 0; set != NULL && i < set->n; i++) {
		struct listen_socket *ls = &set->socks[i];
		if (taken[i] || !net_addr_equal(&ls->conf, conf))
			continue;
		if (any_port(conf) && strcmp(ls->svc->name, svc->name) != 0)
			continue;
		taken[i] = true;
		return ls;
	}
	return NULL;
}

static bool
is_unix(const struct net_addr *a)
{
	return a->ss.ss_family == AF_UNIX;
}

static const char *
unix_path(const struct net_addr *a)
{
	return ((const struct sockaddr_un *)&a->ss)->sun_path;
}

/* Closes what is open of the group; a Unix socket's file goes with it. */
static void
close_group(struct listen_socket *ls, unsigned nworkers)
{
	for (unsigned i = 0; i < nworkers; i++)
		if (ls->fds[i] >= 0)
			close(ls->fds[i]);
	/* An inherited socket's file is the service manager's. */
	if (is_unix(&ls->conf) && !ls->inherited)
		(void)unlink(unix_path(&ls->conf));
}

/* The mode and owner a Unix socket's file is to have. */
static int
set_unix_perms(const struct listen_socket *ls)
{
	const struct listen_conf *lc = ls->lc;
	const char *path = unix_path(&ls->conf);

	if (lc->mode >= 0 && chmod(path, (mode_t)lc->mode) < 0)
		return -1;
	if ((lc->uid != (uid_t)-1 || lc->gid != (gid_t)-1) &&
	    chown(path, lc->uid, lc->gid) < 0)
		return -1;
	return 0;
}

/* One Unix socket, its file cleared of a stale one first, then given its
 * mode and owner; every worker gets a duplicate. */
static int
open_unix(struct listen_socket *ls, unsigned nworkers)
{
	int err;

	for (unsigned i = 0; i < nworkers; i++)
		ls->fds[i] = -1;
	if (net_unix_clear(&ls->conf) < 0 ||
	    (ls->fds[0] = net_listen(&ls->conf, SOMAXCONN, 0)) < 0)
		return -1;
	if (set_unix_perms(ls) < 0)
		goto fail;
	for (unsigned i = 1; i < nworkers; i++)
		if ((ls->fds[i] = fcntl(ls->fds[0], F_DUPFD_CLOEXEC, 0)) < 0)
			goto fail;
	ls->bound = ls->conf;
	return 0;
fail:
	err = errno;
	close_group(ls, nworkers);
	errno = err;
	return -1;
}

/* One socket per worker on at; the first one learns the port when it is
 * 0, the others bind to that port.  -1 + errno, nothing left open. */
static int
open_group(struct listen_socket *ls, struct net_addr at, unsigned nworkers)
{
	int shared = nworkers > 1;

	if (is_unix(&at))
		return open_unix(ls, nworkers);
	/* SO_REUSEPORT would let us join another program's sockets on a
	 * fixed port: refuse a port in use, as without it. */
	if (shared && !any_port(&at) && net_addr_free(&at) < 0)
		return -1;
	for (unsigned i = 0; i < nworkers; i++) {
		if ((ls->fds[i] = net_listen(&at, SOMAXCONN, shared)) < 0) {
			int err = errno;
			for (unsigned j = 0; j < i; j++)
				close(ls->fds[j]);
			errno = err;
			return -1;
		}
		if (i == 0) {
			net_local_addr(ls->fds[0], &ls->bound);
			at = ls->bound;
		}
	}
	return 0;
}

/* ---- sockets from the service manager ------------------------------------- */

#define LISTEN_FDS_START 3      /* sd_listen_fds(3) */

/* Inherited at start, until listen_set_open() has matched them all. */
struct inherited {
	int fd;
	struct net_addr addr;
	bool taken;
};
static struct inherited *inherited;
static size_t ninherited;

static bool
env_number(const char *name, long *out)
{
	const char *v = getenv(name);
	char *end;

	if (v == NULL || *v == '\0')
		return false;
	errno = 0;
	*out = strtol(v, &end, 10);
	return errno == 0 && *end == '\0';
}

/* Takes the descriptors LISTEN_FDS names when LISTEN_PID is this
 * process; 0 (also when there are none), -1 (logged). */
static int
inherit_start(void)
{
	long pid, n;
	bool ours = env_number("LISTEN_PID", &pid) && pid == (long)getpid() &&
	    env_number("LISTEN_FDS", &n);

	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (!ours || n == 0)
		return 0;
	if (n < 0 || n > INT_MAX - LISTEN_FDS_START) {
		log_errx("LISTEN_FDS=%ld: not a number of sockets", n);
		return -1;
	}
	if ((inherited = calloc((size_t)n, sizeof *inherited)) == NULL) {
		log_errx("out of memory");
		return -1;
	}
	for (ninherited = 0; ninherited < (size_t)n; ninherited++) {
		struct inherited *in = &inherited[ninherited];
		int fd = LISTEN_FDS_START + (int)ninherited, on = 0, type = 0;
		socklen_t len = sizeof on, tlen = sizeof type;
		int fl;

		in->fd = fd;
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
		    !on || type != SOCK_STREAM || net_local_addr(fd, &in->addr) < 0) {
			log_errx("inherited descriptor %d is not a listening "
			    "stream socket", fd);
			return -1;
		}
		if ((fl = fcntl(fd, F_GETFL)) < 0 ||
		    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
			log_err("inherited descriptor %d", fd);
			return -1;
		}
	}
	return 0;
}

/* The inherited socket on conf (a fixed port), marked taken. */
static struct inherited *
inherit_find(const struct net_addr *conf)
{
	for (size_t i = 0; i < ninherited; i++)
		if (!inherited[i].taken && !any_port(conf) &&
		    net_addr_equal(&inherited[i].addr, conf)) {
			inherited[i].taken = true;
			return &inherited[i];
		}
	return NULL;
}

/* One duplicate of in per worker: they all watch the one socket. */
static int
inherit_group(struct listen_socket *ls, const struct inherited *in,
    unsigned nworkers)
{
	/* Before any close_group(): the file is not ours to unlink. */
	ls->inherited = true;
	for (unsigned i = 0; i < nworkers; i++)
		if ((ls->fds[i] = fcntl(in->fd, F_DUPFD_CLOEXEC,
		    LISTEN_FDS_START)) < 0) {
			int err = errno;
			close_group(ls, i);
			errno = err;
			return -1;
		}
	ls->bound = in->addr;
	return 0;
}

/* The originals: the set holds its own duplicates. */
static void
inherit_close(void)
{
	for (size_t i = 0; i < ninherited; i++)
		close(inherited[i].fd);
	free(inherited);
	inherited = NULL;
	ninherited = 0;
}

/* Every inherited socket was matched (else -1, logged, naming it and
 * the configured addresses); the originals are closed either way. */
static int
inherit_finish(const struct config *cfg)
{
	char addr[NET_ADDRSTRLEN], conf[1024];
	int ret = 0;
	size_t off;

	for (size_t i = 0; i < ninherited; i++) {
		if (!inherited[i].taken && ret == 0) {
			conf[0] = '\0';
			off = 0;
			for (size_t j = 0; j < cfg->nservices; j++)
				for (size_t k = 0; k < cfg->services[j].nlisten &&
				    off < sizeof conf; k++)
					off += (size_t)snprintf(conf + off,
					    sizeof conf - off, "%s%s %s",
					    off > 0 ? ", " : "",
					    cfg->services[j].name,
					    cfg->services[j].listen[k].text);
			net_format_addr(&inherited[i].addr, addr, sizeof addr);
			log_errx("inherited listener %s (descriptor %d) matches "
			    "no configured listen address (compared with: %s)",
			    addr, inherited[i].fd, conf[0] != '\0' ? conf : "none");
			ret = -1;
		}
	}
	inherit_close();
	return ret;
}

static void
set_free(struct listen_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++)
		free(set->socks[i].fds);
	free(set->socks);
	free(set);
}

/* Why a socket could not be opened, for the log. */
static void
log_open_failure(const struct listen_conf *lc, const struct service *svc,
    const struct net_addr *at, bool reload)
{
	char addr[NET_ADDRSTRLEN];

	net_format_addr(at, addr, sizeof addr);
	if (is_unix(at) && errno == ENOTSOCK)
		log_errx("%s:%d: service %s: cannot listen on %s: %s exists and "
		    "is not a socket", lc->file, lc->line, svc->name, addr,
		    unix_path(at));
	else if (is_unix(at) && errno == EADDRINUSE)
		log_errx("%s:%d: service %s: cannot listen on %s: another "
		    "process is listening there", lc->file, lc->line,
		    svc->name, addr);
	else
		log_err("%s:%d: service %s: cannot listen on %s%s", lc->file,
		    lc->line, svc->name, addr, errno == EACCES && reload &&
		    geteuid() != 0 ? " (binding a port below 1024 needs the "
		    "privileges given up at start: restart vencryptd)" : "");
}

/* A kept Unix socket takes the mode and owner the new configuration
 * gives it; a failure is logged and the socket kept as it is. */
static void
keep_unix(struct listen_socket *ls, const struct listen_conf *old)
{
	const struct listen_conf *lc = ls->lc;

	if (lc->mode == old->mode && lc->uid == old->uid && lc->gid == old->gid)
		return;
	if (set_unix_perms(ls) < 0)
		log_warn("%s:%d: cannot set the mode or owner of %s", lc->file,
		    lc->line, unix_path(&ls->conf));
}

struct listen_set *
listen_set_open(const struct listen_set *old, const struct config *cfg,
    unsigned nworkers)
{
	struct listen_set *set;
	bool *taken = NULL, *fresh = NULL;
	size_t n = 0;
	char addr[NET_ADDRSTRLEN];

	for (size_t i = 0; i < cfg->nservices; i++)
		for (size_t j = 0; j < cfg->services[i].nlisten; j++)
			n += cfg->services[i].listen[j].all ? 2 : 1;
	if ((set = calloc(1, sizeof *set)) == NULL ||
	    (set->socks = calloc(n ? n : 1, sizeof *set->socks)) == NULL ||
	    (taken = calloc(old != NULL ? old->n + 1 : 1, sizeof *taken)) == NULL ||
	    (fresh = calloc(n ? n : 1, sizeof *fresh)) == NULL) {
		log_errx("out of memory");
		goto fail;
	}
	set->nworkers = nworkers;
	if (old == NULL && inherit_start() < 0)
		goto fail;
	for (size_t i = 0; i < cfg->nservices; i++) {
		const struct service *svc = &cfg->services[i];
		for (size_t j = 0; j < svc->nlisten; j++) {
			const struct listen_conf *lc = &svc->listen[j];
			struct net_addr at[2];
			size_t nat = listen_conf_addrs(lc, at);

			for (size_t k = 0; k < nat; k++) {
				struct listen_socket *ls = &set->socks[set->n], *o;
				struct net_addr bind_at = at[k];
				struct inherited *in;

				if ((ls->fds = malloc(nworkers * sizeof *ls->fds)) == NULL) {
					log_errx("out of memory");
					goto fail;
				}
				ls->svc = svc;
				ls->lc = lc;
				ls->conf = at[k];
				if ((o = find_open(old, svc, &at[k], taken)) != NULL) {
					memcpy(ls->fds, o->fds, nworkers * sizeof *ls->fds);
					ls->bound = o->bound;
					ls->inherited = o->inherited;
					if (is_unix(&at[k]) && !ls->inherited)
						keep_unix(ls, o->lc);
					set->n++;
					continue;
				}
				if ((in = inherit_find(&at[k])) != NULL) {
					if (inherit_group(ls, in, nworkers) < 0) {
						log_err("%s:%d: service %s: cannot use the "
						    "inherited listener on %s", lc->file,
						    lc->line, svc->name, lc->text);
						free(ls->fds);
						ls->fds = NULL;
						goto fail;
					}
					fresh[set->n++] = true;
					net_format_addr(&ls->bound, addr, sizeof addr);
					log_info("service %s: adopted inherited listener "
					    "%s (descriptor %d), backend %s", svc->name,
					    addr, in->fd, svc->backend_text);
					continue;
				}
				if (ninherited > 0)
					log_info("service %s: no inherited socket for "
					    "%s: binding it", svc->name, lc->text);
				/* "*:0": [::] on the port 0.0.0.0 got. */
				if (k == 1 && any_port(&bind_at))
					((struct sockaddr_in6 *)&bind_at.ss)->sin6_port =
					    ((struct sockaddr_in *)&set->socks[set->n - 1].bound.ss)->sin_port;
				if (open_group(ls, bind_at, nworkers) < 0) {
					if (k == 1 && (errno == EAFNOSUPPORT ||
					    errno == EADDRNOTAVAIL)) {
						log_warn("%s:%d: service %s: no IPv6 "
						    "for %s: listening on IPv4 only",
						    lc->file, lc->line, svc->name,
						    lc->text);
						free(ls->fds);
						ls->fds = NULL;
						continue;
					}
					log_open_failure(lc, svc, &bind_at, old != NULL);
					free(ls->fds);
					ls->fds = NULL;
					goto fail;
				}
				fresh[set->n++] = true;
				net_format_addr(&ls->bound, addr, sizeof addr);
				log_info("service %s listening on %s%s%s, backend %s",
				    svc->name, addr, lc->proxy == PROXY_MODE_NONE ?
				    "" : ", PROXY ", lc->proxy == PROXY_MODE_NONE ?
				    "" : proxy_mode_name(lc->proxy), svc->backend_text);
			}
		}
	}
	if (old == NULL && inherit_finish(cfg) < 0)
		goto fail;
	free(taken);
	free(fresh);
	return set;
fail:
	if (old == NULL)
		inherit_close();
	for (size_t i = 0; set != NULL && i < set->n; i++)
		if (fresh != NULL && fresh[i])
			close_group(&set->socks[i], nworkers);
	set_free(set);
	free(taken);
	free(fresh);
	return NULL;
}

static bool
kept(const struct listen_socket *ls, const struct listen_set *next)
{
	for (size_t i = 0; next != NULL && i < next->n; i++)
		if (next->socks[i].fds[0] == ls->fds[0])
			return true;
	return false;
}

void
listen_set_retire(struct listen_set *set, const struct listen_set *next)
{
	char addr[NET_ADDRSTRLEN];

	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++) {
		if (kept(&set->socks[i], next))
			continue;
		if (next != NULL) {
			net_format_addr(&set->socks[i].bound, addr, sizeof addr);
			log_info("no longer listening on %s%s", addr,
			    set->socks[i].inherited ?
			    ": inherited listener closed" : "");
		}
		close_group(&set->socks[i], set->nworkers);
	}
	set_free(set);
}

int
listen_set_write_ports_file(const struct listen_set *set, const char *path)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	for (size_t i = 0; i < set->n; i++) {
		char addr[NET_ADDRSTRLEN];
		net_format_addr(&set->socks[i].bound, addr, sizeof addr);
		fprintf(f, "%s %s\n", set->socks[i].svc->name, addr);
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int err = errno;
		unlink(tmp);
		errno = err;
		return -1;
	}
	return 0;
}
