/*
 * tls.c - GnuTLS glue: load and check credentials, create server sessions,
 * verify client certificates.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "tls.h"

int
tls_global_init(void)
{
	return gnutls_global_init() < 0 ? -1 : 0;
}

void
tls_global_deinit(void)
{
	gnutls_global_deinit();
}

const char *
tls_priority_check(const char *priority)
{
	gnutls_priority_t p;
	const char *errpos = NULL;

	if (gnutls_priority_init(&p, priority, &errpos) < 0)
		return errpos != NULL ? errpos : priority;
	gnutls_priority_deinit(p);
	return NULL;
}

/* Our own chain: leaf first, must chain to the CA (and the CRL, if any),
 * be inside its validity dates and be usable by a TLS server. */
static enum tls_load_result
check_own_chain(const struct tls_settings *s, time_t *expires, char *err,
    size_t errlen)
{
	gnutls_x509_trust_list_t tl = NULL;
	gnutls_x509_crt_t *crts = NULL;
	unsigned int ncrts = 0, status = 0;
	gnutls_datum_t data = { NULL, 0 };
	enum tls_load_result res = TLS_LOAD_FAILED;
	int ret;

	if ((ret = gnutls_load_file(s->cert_file, &data)) < 0) {
		snprintf(err, errlen, "cannot read certificate %s: %s",
		    s->cert_file, tls_error(ret));
		goto out;
	}
	ret = gnutls_x509_crt_list_import2(&crts, &ncrts, &data,
	    GNUTLS_X509_FMT_PEM, GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	if (ret < 0 || ncrts == 0) {
		snprintf(err, errlen, "certificate %s: %s", s->cert_file,
		    ret < 0 ? tls_error(ret) : "no certificate in file");
		goto out;
	}
	if (gnutls_x509_trust_list_init(&tl, 0) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	ret = gnutls_x509_trust_list_add_trust_file(tl, s->ca_file, s->crl_file,
	    GNUTLS_X509_FMT_PEM, 0, 0);
	if (ret <= 0) {
		snprintf(err, errlen, "CA file %s%s%s: %s", s->ca_file,
		    s->crl_file ? " or CRL file " : "", s->crl_file ? s->crl_file : "",
		    ret < 0 ? tls_error(ret) : "no CA certificate in file");
		goto out;
	}
	gnutls_typed_vdata_st purpose = {
		.type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (void *)GNUTLS_KP_TLS_WWW_SERVER,
	};
	ret = gnutls_x509_trust_list_verify_crt2(tl, crts, ncrts, &purpose, 1,
	    0, &status, NULL);
	if (ret < 0) {
		snprintf(err, errlen, "certificate %s: cannot verify: %s",
		    s->cert_file, tls_error(ret));
		goto out;
	}
	if (status != 0) {
		const char *why;
		if (status & GNUTLS_CERT_EXPIRED)
			why = "has expired";
		else if (status & GNUTLS_CERT_NOT_ACTIVATED)
			why = "is not yet valid";
		else if (status & GNUTLS_CERT_REVOKED)
			why = "is revoked by the CRL";
		else if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA |
		    GNUTLS_CERT_SIGNATURE_FAILURE))
			why = "does not chain to the CA";
		else if (status & GNUTLS_CERT_PURPOSE_MISMATCH)
			why = "is not for TLS servers (extended key usage)";
		else if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
			why = "uses an insecure algorithm";
		else
			why = "is not valid";
		snprintf(err, errlen, "certificate %s %s (CA file %s)",
		    s->cert_file, why, s->ca_file);
		goto out;
	}
	*expires = gnutls_x509_crt_get_expiration_time(crts[0]);
	res = TLS_LOAD_OK;
out:
	if (tl != NULL)
		gnutls_x509_trust_list_deinit(tl, 1);
	for (unsigned int i = 0; i < ncrts; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	gnutls_free(data.data);
	return res;
}

/* The earliest next update of the CRLs in path, 0 when none says; the
 * file has been read once already, by GnuTLS. */
static time_t
crl_next_update(const char *path)
{
	gnutls_datum_t data = { NULL, 0 };
	gnutls_x509_crl_t *crls = NULL;
	unsigned int n = 0;
	time_t until = 0;

	if (gnutls_load_file(path, &data) < 0)
		return 0;
	if (gnutls_x509_crl_list_import2(&crls, &n, &data, GNUTLS_X509_FMT_PEM,
	    0) >= 0) {
		for (unsigned int i = 0; i < n; i++) {
			time_t t = gnutls_x509_crl_get_next_update(crls[i]);
			if (t != (time_t)-1 && (until == 0 || t < until))
				until = t;
			gnutls_x509_crl_deinit(crls[i]);
		}
		gnutls_free(crls);
	}
	gnutls_free(data.data);
	return until;
}

/* Whether path opens for reading; if not, err says which file and why. */
static bool
readable(const char *what, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path,
		    strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

enum tls_load_result
tls_creds_load(const struct tls_settings *s, struct tls_creds **out,
    char *err, size_t errlen)
{
	struct tls_creds *c;
	const char *errpos = NULL;
	int ret;

	*out = NULL;
	/* GnuTLS says only "Error while reading file": name the file and
	 * why (after a drop to an unprivileged user, usually EACCES). */
	if (!readable("CA file", s->ca_file, err, errlen) ||
	    (s->crl_file != NULL &&
	    !readable("CRL file", s->crl_file, err, errlen)) ||
	    !readable("certificate", s->cert_file, err, errlen) ||
	    !readable("key", s->key_file, err, errlen))
		return TLS_LOAD_FAILED;
	if ((c = calloc(1, sizeof *c)) == NULL ||
	    certcache_init(&c->verified, CERTCACHE_SLOTS) < 0) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return TLS_LOAD_FAILED;
	}
	if (gnutls_certificate_allocate_credentials(&c->cred) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ret = gnutls_certificate_set_x509_trust_file(c->cred, s->ca_file,
	    GNUTLS_X509_FMT_PEM);
	if (ret <= 0) {
		snprintf(err, errlen, "CA file %s: %s", s->ca_file,
		    ret < 0 ? tls_error(ret) : "no certificate in file");
		goto fail;
	}
	if (s->crl_file != NULL) {
		ret = gnutls_certificate_set_x509_crl_file(c->cred, s->crl_file,
		    GNUTLS_X509_FMT_PEM);
		if (ret < 0) {
			snprintf(err, errlen, "CRL file %s: %s", s->crl_file,
			    tls_error(ret));
			goto fail;
		}
	}
	ret = gnutls_certificate_set_x509_key_file2(c->cred, s->cert_file,
	    s->key_file, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (ret < 0) {
		if (ret == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
			snprintf(err, errlen, "key %s does not match certificate %s",
			    s->key_file, s->cert_file);
		else
			snprintf(err, errlen, "certificate %s or key %s: %s",
			    s->cert_file, s->key_file, tls_error(ret));
		goto fail;
	}
	if (check_own_chain(s, &c->expires, err, errlen) != TLS_LOAD_OK)
		goto fail;
	if (s->crl_file != NULL)
		c->crl_until = crl_next_update(s->crl_file);
	if (gnutls_priority_init(&c->priority, s->priority, &errpos) < 0) {
		snprintf(err, errlen, "bad TLS priority string at \"%s\"",
		    errpos ? errpos : s->priority);
		goto fail;
	}
	c->resumption = s->resumption;
	if (c->resumption &&
	    (ret = gnutls_session_ticket_key_generate(&c->ticket_key)) < 0) {
		snprintf(err, errlen, "cannot make a session ticket key: %s",
		    tls_error(ret));
		goto fail;
	}
	*out = c;
	return TLS_LOAD_OK;
fail:
	tls_creds_free(c);
	return TLS_LOAD_FAILED;
}

void
tls_creds_free(struct tls_creds *c)
{
	if (c == NULL)
		return;
	if (c->cred != NULL)
		gnutls_certificate_free_credentials(c->cred);
	if (c->priority != NULL)
		gnutls_priority_deinit(c->priority);
	if (c->ticket_key.data != NULL) {
		gnutls_memset(c->ticket_key.data, 0, c->ticket_key.size);
		gnutls_free(c->ticket_key.data);
	}
	certcache_destroy(&c->verified);
	free(c);
}

const char *
tls_verdict_reason(enum tls_verdict v)
{
	switch (v) {
	case TLS_PEER_OK: return "ok";
	case TLS_PEER_NO_CERT: return "no client certificate";
	case TLS_PEER_UNTRUSTED: return "certificate not trusted";
	case TLS_PEER_EXPIRED: return "certificate expired";
	case TLS_PEER_NOT_ACTIVE: return "certificate not yet valid";
	case TLS_PEER_REVOKED: return "certificate revoked";
	case TLS_PEER_PURPOSE: return "certificate not for client authentication";
	case TLS_PEER_INSECURE: return "certificate uses an insecure algorithm";
	case TLS_PEER_BAD: return "certificate not valid";
	}
	return "certificate not valid";
}

int
tls_session_new(gnutls_session_t *out, const struct tls_creds *c,
    bool request_cert, tls_pull_fn pull, tls_push_fn push, void *ptr)
{
	gnutls_session_t s;
	unsigned int flags = GNUTLS_SERVER | GNUTLS_NONBLOCK;

	if (!c->resumption)
		flags |= GNUTLS_NO_TICKETS;
	if (gnutls_init(&s, flags) < 0)
		return -1;
	if (gnutls_priority_set(s, c->priority) < 0 ||
	    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, c->cred) < 0 ||
	    (c->resumption &&
	    gnutls_session_ticket_enable_server(s, &c->ticket_key) < 0)) {
		gnutls_deinit(s);
		return -1;
	}
	/* Request, do not require: a refusal is then told inside TLS. */
	gnutls_certificate_server_set_request(s, request_cert ?
	    GNUTLS_CERT_REQUEST : GNUTLS_CERT_IGNORE);
	gnutls_handshake_set_timeout(s, GNUTLS_INDEFINITE_TIMEOUT);
	gnutls_transport_set_ptr(s, ptr);
	gnutls_transport_set_pull_function(s, pull);
	gnutls_transport_set_vec_push_function(s, push);
	*out = s;
	return 0;
}

static void
peer_dn(gnutls_session_t s, char *dn, size_t dncap)
{
	const gnutls_datum_t *certs;
	unsigned int n = 0;
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = { NULL, 0 };

	dn[0] = '\0';
	certs = gnutls_certificate_get_peers(s, &n);
	if (certs == NULL || n == 0 || gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) >= 0 &&
	    gnutls_x509_crt_get_dn3(crt, &d, 0) >= 0) {
		snprintf(dn, dncap, "%.*s", (int)d.size, (const char *)d.data);
		gnutls_free(d.data);
	}
	gnutls_x509_crt_deinit(crt);
}

/* The cache key of a chain: SHA-256 over each certificate's length and
 * DER; -1 when GnuTLS cannot hash. */
static int
chain_key(const gnutls_datum_t *certs, unsigned int n, uint8_t *key)
{
	gnutls_hash_hd_t h;

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		uint8_t len[4] = { (uint8_t)(certs[i].size >> 24),
		    (uint8_t)(certs[i].size >> 16), (uint8_t)(certs[i].size >> 8),
		    (uint8_t)certs[i].size };
		gnutls_hash(h, len, sizeof len);
		gnutls_hash(h, certs[i].data, certs[i].size);
	}
	gnutls_hash_deinit(h, key);
	return 0;
}

/* Narrows [*from, *until) to crt's validity. */
static void
narrow_span(gnutls_x509_crt_t crt, time_t *from, time_t *until)
{
	time_t a = gnutls_x509_crt_get_activation_time(crt);
	time_t e = gnutls_x509_crt_get_expiration_time(crt);

	if (a == (time_t)-1 || e == (time_t)-1) {
		*until = *from;         /* unknown: not remembered */
		return;
	}
	if (a > *from)
		*from = a;
	if (e < *until)
		*until = e;
}

/* The span in which a chain that verified now goes on verifying: inside
 * every certificate's dates, the CA's that issued the last one, and the
 * CRL's next update.  An empty span when any of them cannot be read. */
static void
chain_span(const struct tls_creds *c, const gnutls_datum_t *certs,
    unsigned int n, time_t *from, time_t *until)
{
	gnutls_x509_trust_list_t tl = NULL;
	gnutls_x509_crt_t crt = NULL, issuer = NULL;

	*from = 0;
	*until = c->crl_until != 0 ? c->crl_until :
	    (time_t)(sizeof (time_t) == 8 ? INT64_MAX : INT32_MAX);
	for (unsigned int i = 0; i < n; i++) {
		if (crt != NULL)
			gnutls_x509_crt_deinit(crt);
		crt = NULL;
		if (gnutls_x509_crt_init(&crt) < 0 ||
		    gnutls_x509_crt_import(crt, &certs[i],
		    GNUTLS_X509_FMT_DER) < 0) {
			*until = *from;
			goto out;
		}
		narrow_span(crt, from, until);
	}
	gnutls_certificate_get_trust_list(c->cred, &tl);
	if (gnutls_x509_trust_list_get_issuer(tl, crt, &issuer,
	    GNUTLS_TL_GET_COPY) < 0) {
		*until = *from;
		goto out;
	}
	narrow_span(issuer, from, until);
	gnutls_x509_crt_deinit(issuer);
out:
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
}

enum tls_verdict
tls_verify_peer(struct tls_creds *c, gnutls_session_t s, char *dn,
    size_t dncap, bool *remembered)
{
	const gnutls_datum_t *certs;
	unsigned int n = 0, status = 0;
	uint8_t key[CERTCACHE_KEY];
	int keyed;
	time_t from, until;
	gnutls_typed_vdata_st purpose = {
		.type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (void *)GNUTLS_KP_TLS_WWW_CLIENT,
	};

	dn[0] = '\0';
	*remembered = false;
	certs = gnutls_certificate_get_peers(s, &n);
	if (certs == NULL || n == 0)
		return TLS_PEER_NO_CERT;
	keyed = chain_key(certs, n, key) == 0;
	if (keyed && certcache_lookup(&c->verified, key, time(NULL), dn,
	    dncap)) {
		*remembered = true;
		return TLS_PEER_OK;
	}
	peer_dn(s, dn, dncap);
	if (gnutls_certificate_verify_peers(s, &purpose, 1, &status) < 0)
		return TLS_PEER_BAD;
	if (status == 0) {
		if (keyed) {
			chain_span(c, certs, n, &from, &until);
			certcache_insert(&c->verified, key, from, until, dn);
		}
		return TLS_PEER_OK;
	}
	if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA |
	    GNUTLS_CERT_SIGNATURE_FAILURE))
		return TLS_PEER_UNTRUSTED;
	if (status & GNUTLS_CERT_REVOKED)
		return TLS_PEER_REVOKED;
	if (status & GNUTLS_CERT_EXPIRED)
		return TLS_PEER_EXPIRED;
	if (status & GNUTLS_CERT_NOT_ACTIVATED)
		return TLS_PEER_NOT_ACTIVE;
	if (status & GNUTLS_CERT_PURPOSE_MISMATCH)
		return TLS_PEER_PURPOSE;
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		return TLS_PEER_INSECURE;
	return TLS_PEER_BAD;
}

bool
tls_resumed(gnutls_session_t s)
{
	return gnutls_session_is_resumed(s) != 0;
}

void
tls_describe(gnutls_session_t s, char *out, size_t cap)
{
	const char *v = gnutls_protocol_get_name(gnutls_protocol_get_version(s));
	const char *c = gnutls_cipher_get_name(gnutls_cipher_get(s));

	snprintf(out, cap, "%s %s", v ? v : "?", c ? c : "?");
}

const char *
tls_error(int err)
{
	static _Thread_local char text[160];
	size_t n;

	snprintf(text, sizeof text, "%s", gnutls_strerror(err));
	n = strlen(text);
	if (n > 0 && text[n - 1] == '.')
		text[n - 1] = '\0';
	return text;
}

const char *
tls_alert_received(gnutls_session_t s)
{
	const char *name = gnutls_alert_get_name(gnutls_alert_get(s));

	return name != NULL ? name : "unknown";
}
