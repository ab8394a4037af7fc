/*
 * listener.c - listening sockets and accept, with backpressure: accepting
 * pauses at max_clients and on descriptor exhaustion, and resumes as
 * sessions end (or after a short back-off), never spinning.
 */
#include <errno.h>
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
#define EMFILE_BACKOFF 1.0      /* seconds before retrying after EMFILE */

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

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = w->data;

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
				log_warn("accept on %s paused for %.0f s",
				    l->svc->name, EMFILE_BACKOFF);
				ev_timer_set(&srv->accept_retry, EMFILE_BACKOFF, 0);
				ev_timer_start(loop, &srv->accept_retry);
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

int
listeners_open(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	size_t n = 0;

	for (size_t i = 0; i < cfg->nservices; i++)
		n += cfg->services[i].nlisten;
	srv->listeners = calloc(n ? n : 1, sizeof *srv->listeners);
	if (srv->listeners == NULL) {
		log_errx("out of memory");
		return -1;
	}
	ev_init(&srv->accept_retry, retry_cb);
	srv->accept_retry.data = srv;

	for (size_t i = 0; i < cfg->nservices; i++) {
		const struct service *svc = &cfg->services[i];
		for (size_t j = 0; j < svc->nlisten; j++) {
			struct listener *l = &srv->listeners[srv->nlisteners];
			l->srv = srv;
			l->svc = svc;
			l->fd = net_listen(&svc->listen[j].addr, SOMAXCONN);
			if (l->fd < 0) {
				log_err("%s:%d: service %s: cannot listen on %s",
				    cfg->path, svc->listen[j].line, svc->name,
				    svc->listen[j].text);
				listeners_close(srv);
				return -1;
			}
			net_local_addr(l->fd, &l->bound);
			ev_io_init(&l->io, accept_cb, l->fd, EV_READ);
			l->io.data = l;
			srv->nlisteners++;
			char addr[NET_ADDRSTRLEN];
			net_format_addr(&l->bound, addr, sizeof addr);
			log_info("service %s listening on %s, backend %s",
			    svc->name, addr, svc->backend_text);
		}
	}
	listeners_watch(srv, 1);
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
