/*
 * listener.c - listening sockets and accept, with backpressure: accepting
 * pauses at max_clients and on descriptor exhaustion, and resumes as
 * sessions end (or after a short back-off), never spinning.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "server.h"
#include "session.h"

#define ACCEPT_BURST 32         /* accepts per wake-up, fairness between listeners */
#define EMFILE_BACKOFF 1.0      /* seconds between looks for a free descriptor */

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

static int
may_accept(const struct server *srv)
{
	return !srv->stopping && !ev_is_active(&srv->accept_retry) &&
	    srv->nsessions < srv->cfg->max_clients;
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
	if (may_accept(srv)) {
		log_notice("accepting resumed (%u sessions)", srv->nsessions);
		listeners_watch(srv, 1);
	}
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	struct server *srv = l->srv;

	for (int i = 0; i < ACCEPT_BURST && may_accept(srv); i++) {
		struct net_addr peer;
		peer.len = sizeof peer.ss;
		int fd = accept4(l->fd, (struct sockaddr *)&peer.ss, &peer.len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_warn("accept on service %s paused, looking again every "
				    "%.0f s", l->svc->name, EMFILE_BACKOFF);
				srv->accept_retry.repeat = EMFILE_BACKOFF;
				ev_timer_again(loop, &srv->accept_retry);
				break;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("accept on service %s", l->svc->name);
			break;
		}
		session_start(srv, l->svc, fd, &peer);
	}
	if (!may_accept(srv)) {
		if (srv->nsessions >= srv->cfg->max_clients && srv->accepting)
			log_notice("max_clients (%u) reached: accepting paused",
			    srv->cfg->max_clients);
		listeners_watch(srv, 0);
	}
}

void
listeners_session_ended(struct server *srv)
{
	if (!srv->accepting && may_accept(srv)) {
		log_notice("accepting resumed (%u sessions)", srv->nsessions);
		listeners_watch(srv, 1);
	}
}

void
listeners_resume(struct server *srv)
{
	if (may_accept(srv))
		listeners_watch(srv, 1);
}

static bool
any_port(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_port == 0;
	if (a->ss.ss_family == AF_INET6)
		return ((const struct sockaddr_in6 *)&a->ss)->sin6_port == 0;
	return false;
}

/* The open listener for a configured address.  Port 0 stands for any
 * port, so such a listener is only the same one for the same service. */
static struct listener *
find_open(struct server *srv, const struct service *svc,
    const struct net_addr *conf, bool *taken)
{
	for (size_t i = 0; i < srv->nlisteners; i++) {
		struct listener *l = &srv->listeners[i];
		if (taken[i] || !net_addr_equal(&l->conf, conf))
			continue;
		if (any_port(conf) && strcmp(l->svc->name, svc->name) != 0)
			continue;
		taken[i] = true;
		return l;
	}
	return NULL;
}

int
listeners_apply(struct server *srv, const struct config *cfg)
{
	struct listener *set;
	bool *taken, *fresh;
	size_t n = 0, k = 0;
	char addr[NET_ADDRSTRLEN];

	for (size_t i = 0; i < cfg->nservices; i++)
		n += cfg->services[i].nlisten;
	set = calloc(n ? n : 1, sizeof *set);
	taken = calloc(srv->nlisteners + 1, sizeof *taken);
	fresh = calloc(n ? n : 1, sizeof *fresh);
	if (set == NULL || taken == NULL || fresh == NULL) {
		log_errx("out of memory");
		goto fail;
	}
	for (size_t i = 0; i < cfg->nservices; i++) {
		const struct service *svc = &cfg->services[i];
		for (size_t j = 0; j < svc->nlisten; j++, k++) {
			const struct listen_conf *lc = &svc->listen[j];
			struct listener *l = &set[k], *old;

			l->srv = srv;
			l->svc = svc;
			l->conf = lc->addr;
			if ((old = find_open(srv, svc, &lc->addr, taken)) != NULL) {
				l->fd = old->fd;
				l->bound = old->bound;
			} else if ((l->fd = net_listen(&lc->addr, SOMAXCONN)) < 0) {
				log_err("%s:%d: service %s: cannot listen on %s",
				    lc->file, lc->line, svc->name, lc->text);
				goto fail;
			} else {
				fresh[k] = true;
				net_local_addr(l->fd, &l->bound);
				net_format_addr(&l->bound, addr, sizeof addr);
				log_info("service %s listening on %s, backend %s",
				    svc->name, addr, svc->backend_text);
			}
			ev_io_init(&l->io, accept_cb, l->fd, EV_READ);
			l->io.data = l;
		}
	}
	/* Commit: the old watchers stop, what is no longer named closes. */
	listeners_watch(srv, 0);
	for (size_t i = 0; i < srv->nlisteners; i++) {
		if (taken[i])
			continue;
		net_format_addr(&srv->listeners[i].bound, addr, sizeof addr);
		log_info("no longer listening on %s", addr);
		close(srv->listeners[i].fd);
	}
	free(srv->listeners);
	srv->listeners = set;
	srv->nlisteners = n;
	free(taken);
	free(fresh);
	return 0;
fail:
	for (size_t i = 0; i < k; i++)
		if (fresh != NULL && fresh[i])
			close(set[i].fd);
	free(set);
	free(taken);
	free(fresh);
	return -1;
}

int
listeners_open(struct server *srv)
{
	ev_init(&srv->accept_retry, retry_cb);
	srv->accept_retry.data = srv;
	if (listeners_apply(srv, srv->cfg) < 0)
		return -1;
	listeners_resume(srv);
	return 0;
}

void
listeners_close(struct server *srv)
{
	listeners_watch(srv, 0);
	ev_timer_stop(srv->loop, &srv->accept_retry);
	for (size_t i = 0; i < srv->nlisteners; i++)
		close(srv->listeners[i].fd);
	free(srv->listeners);
	srv->listeners = NULL;
	srv->nlisteners = 0;
}

int
listeners_write_ports_file(struct server *srv, const char *path)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	for (size_t i = 0; i < srv->nlisteners; i++) {
		char addr[NET_ADDRSTRLEN];
		net_format_addr(&srv->listeners[i].bound, addr, sizeof addr);
		fprintf(f, "%s %s\n", srv->listeners[i].svc->name, addr);
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int err = errno;
		unlink(tmp);
		errno = err;
		return -1;
	}
	return 0;
}
