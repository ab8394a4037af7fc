/*
 * tls.h - GnuTLS glue: credentials, server sessions, peer verification.
 */
#ifndef VENCRYPTD_TLS_H
#define VENCRYPTD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>
#include <gnutls/gnutls.h>

#include "certcache.h"
#include "config.h"

#define TLS_DN_MAX 1024

/* Loaded, checked credentials of one service. */
struct tls_creds {
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t priority;
	time_t expires;         /* our own certificate's end of validity */
	time_t crl_until;       /* the CRL's next update (0: none) */
	struct certcache verified;      /* client chains that verified */
	bool resumption;        /* sessions send tickets and resume from them */
	gnutls_datum_t ticket_key;      /* when resumption: made at load, wiped
	                                 * at free, so a reload rotates it */
};

enum tls_load_result {
	TLS_LOAD_OK,
	TLS_LOAD_FAILED,        /* err says what, naming the file */
};

int tls_global_init(void);
void tls_global_deinit(void);

/* Loads CA, CRL, certificate and key; checks that the key matches the
 * certificate, the certificate chains to the CA, and is within its
 * validity dates.  The error names the file. */
enum tls_load_result tls_creds_load(const struct tls_settings *s,
    struct tls_creds **out, char *err, size_t errlen);
void tls_creds_free(struct tls_creds *c);
/* Checks a priority string; NULL when valid, otherwise where it failed. */
const char *tls_priority_check(const char *priority);

/* Why a client's certificate was not accepted. */
enum tls_verdict {
	TLS_PEER_OK,
	TLS_PEER_NO_CERT,       /* "no client certificate" */
	TLS_PEER_UNTRUSTED,     /* "certificate not trusted" (other CA, bad signature) */
	TLS_PEER_EXPIRED,       /* "certificate expired" */
	TLS_PEER_NOT_ACTIVE,    /* "certificate not yet valid" */
	TLS_PEER_REVOKED,       /* "certificate revoked" */
	TLS_PEER_PURPOSE,       /* "certificate not for client authentication" */
	TLS_PEER_INSECURE,      /* "certificate uses an insecure algorithm" */
	TLS_PEER_BAD,           /* "certificate not valid" (anything else) */
};

const char *tls_verdict_reason(enum tls_verdict v);

/* Where a session's records go: GnuTLS hands each one to push(ptr, ...),
 * which returns how many bytes it took (or -1 with errno). */
typedef ssize_t (*tls_push_fn)(gnutls_transport_ptr_t ptr,
    const giovec_t *iov, int iovcnt);
/* Where they come from: pull(ptr, ...) returns up to len bytes, 0 at the
 * end, or -1 with errno. */
typedef ssize_t (*tls_pull_fn)(gnutls_transport_ptr_t ptr, void *data,
    size_t len);

/* A server session reading through pull and writing through push (both
 * given ptr), a client certificate requested when request_cert (never
 * required: a refusal is then told inside TLS); session tickets sent and
 * accepted only when c->resumption. */
int tls_session_new(gnutls_session_t *out, const struct tls_creds *c,
    bool request_cert, tls_pull_fn pull, tls_push_fn push, void *ptr);
/* Verifies the peer's chain, dates, CRL and client-auth purpose against
 * c (or finds the same chain verified before, in c->verified, and still
 * inside its dates and the CRL's: *remembered); on return dn holds the
 * subject DN in RFC 4514 order when a certificate was sent (empty
 * otherwise). */
enum tls_verdict tls_verify_peer(struct tls_creds *c, gnutls_session_t s,
    char *dn, size_t dncap, bool *remembered);
/* Whether the handshake resumed an earlier session from its ticket (the
 * peer's chain then is the one sent in the original handshake, and
 * tls_verify_peer verifies it again). */
bool tls_resumed(gnutls_session_t s);
/* "TLS1.3 AES-256-GCM" for logs */
void tls_describe(gnutls_session_t s, char *out, size_t cap);
/* GnuTLS's message for err without its final full stop, so a log line
 * can go on after it; valid until the next call on the same thread. */
const char *tls_error(int err);
/* The name of the alert the peer ended the handshake with, after
 * GNUTLS_E_FATAL_ALERT_RECEIVED ("CA is unknown"). */
const char *tls_alert_received(gnutls_session_t s);

#endif
