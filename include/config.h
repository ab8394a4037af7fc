/*
 * config.h - the configuration file: load, validate, free.
 *
 * config_load() parses the libconfig file and checks every key, type and
 * range; config_load_credentials() then loads and checks every certificate
 * and key.  Both report all errors they find as "file:line: message" lines
 * in a struct config_errors and never log.
 */
#ifndef VENCRYPTD_CONFIG_H
#define VENCRYPTD_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cidr.h"
#include "log.h"
#include "net.h"

#define CONFIG_MAX_SUBTYPES 8
#define CONFIG_MAX_WORKERS 256

struct tls_creds;
struct passwd_db;
struct service_stats;

struct config_errors {
	char **lines;           /* "file:line: message" */
	size_t n;
};

void config_errors_add(struct config_errors *e, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void config_errors_free(struct config_errors *e);

/* TLS files and settings; a service inherits the global block and may
 * override any of it. */
struct tls_settings {
	char *ca_file;
	char *cert_file;
	char *key_file;
	char *crl_file;         /* NULL: no CRL */
	char *priority;
	bool resumption;        /* TLS session tickets (default false) */
	const char *file;       /* where this block was written (for errors) */
	int line;
};

enum client_cert_mode {
	CLIENT_CERT_REQUIRE,    /* a verified certificate, whatever the subtype */
	CLIENT_CERT_OPTIONAL,   /* verified when sent; without one, X509Plain */
	CLIENT_CERT_NONE,       /* not requested */
};

/* Whether a listener reads a PROXY protocol header first. */
enum proxy_mode {
	PROXY_MODE_NONE,
	PROXY_MODE_V1,
	PROXY_MODE_V2,
};

struct listen_conf {
	char *text;             /* as written */
	struct net_addr addr;   /* for "*:PORT": 0.0.0.0:PORT */
	const char *file;       /* where it is written */
	int line;
	bool all;               /* "*:PORT": [::]:PORT as well as addr */
	enum proxy_mode proxy;  /* its own, or the service's */
	struct cidr *trusted;   /* who may send the header (TCP only); its own
	                         * or a copy of the service's */
	size_t ntrusted;
	int mode;               /* unix: permissions to set, -1: the umask's */
	uid_t uid;              /* unix: owner to set, (uid_t)-1: unchanged */
	gid_t gid;              /* unix: group to set, (gid_t)-1: unchanged */
};

/* The addresses a listen entry stands for: one, or two for "*:PORT". */
size_t listen_conf_addrs(const struct listen_conf *lc, struct net_addr out[2]);
/* Whether a client at peer (the connection's address) is to send a PROXY
 * header first: the listener wants one, and peer is a Unix socket peer or
 * in trusted_proxies. */
bool listen_conf_trusts(const struct listen_conf *lc,
    const struct net_addr *peer);
const char *proxy_mode_name(enum proxy_mode m);

struct service {
	char *name;
	int line;
	struct listen_conf *listen;
	size_t nlisten;
	char *backend_text;
	struct net_addr backend;
	uint32_t subtypes[CONFIG_MAX_SUBTYPES];
	size_t nsubtypes;
	enum client_cert_mode client_cert;
	char **allowed_dn;      /* NULL when absent: any verified certificate */
	size_t nallowed_dn;
	char *passwd_file;      /* NULL unless X509Plain is offered */
	int passwd_line;
	char **allowed_users;   /* NULL when absent: every user in passwd_file */
	size_t nallowed_users;
	const char *allowed_users_file; /* where allowed_users is written */
	int allowed_users_line;
	bool allow_unauthenticated;
	struct tls_settings tls;
	struct tls_creds *creds;/* loaded by config_load_credentials() */
	struct passwd_db *passwd;       /* likewise, when passwd_file is set */
	enum proxy_mode proxy;  /* default for its listeners (none) */
	struct cidr *trusted;   /* default trusted_proxies of its listeners */
	size_t ntrusted;
	struct service_stats *stats;    /* the daemon's counters for this name
	                                 * (stats_attach), NULL elsewhere */
};

/* Whether svc offers subtype. */
bool service_offers(const struct service *svc, uint32_t subtype);
/* Whether a client could get in with neither a verified certificate nor a
 * password (only ever true with allow_unauthenticated). */
bool service_is_open(const struct service *svc);

struct config {
	char *path;
	enum log_level log_level;
	enum log_target log_target;
	struct tls_settings tls;
	unsigned max_clients;       /* 1..1000000, default 1024 */
	unsigned handshake_timeout; /* seconds, 1..3600, default 10 */
	unsigned backend_timeout;   /* seconds, 1..3600, default 5 */
	unsigned stall_timeout;     /* seconds, 1..3600, default 60: a relay
	                             * side taking none of its queued bytes */
	unsigned max_clients_per_ip;    /* sessions at once from one address
	                                 * (peerlimit.h), 0..1000000, 0: off */
	unsigned connect_rate_per_ip;   /* new connections a minute from one
	                                 * address, 0..1000000, 0: off */
	unsigned idle_timeout;      /* seconds, 0..604800, default 0 (off): a
	                             * relay moving no byte either way */
	unsigned keepalive_idle;    /* TCP keepalive: seconds, 0..86400,
	                             * default 120; 0: no keepalive */
	unsigned keepalive_interval;/* seconds, 1..3600, default 30 */
	unsigned keepalive_count;   /* probes, 1..100, default 4 */
	unsigned shutdown_grace;    /* seconds, 0..86400, default 30: how long
	                             * live sessions may go on after SIGTERM */
	unsigned workers;           /* event-loop threads, 1..256, default the
	                             * online CPUs; read at start only */
	struct service *services;
	size_t nservices;
	char **files;           /* files named by @include: tls_settings.file
	                         * may point here (otherwise it is path) */
	size_t nfiles;
	atomic_uint refs;       /* the daemon, every worker and every session
	                         * using it, on any thread */
	/* Read at start only (a reload that changes them says so). */
	char *user;             /* NULL: the user stays as started */
	char *group;            /* NULL: the user's primary group, if user */
	uid_t uid;              /* of user, when set */
	gid_t gid;              /* of group, else user's primary group */
	char *pid_file;         /* absolute; NULL: none */
};

#define DEFAULT_PRIORITY \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:" \
	"-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:" \
	"-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:" \
	"-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:" \
	"-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:" \
	"+GROUP-SECP521R1:+GROUP-X448:%SERVER_PRECEDENCE"
#define DEFAULT_CERT_DIR SYSCONFDIR "/pki/vencryptd"

/* NULL on error, with every problem found in errs. */
struct config *config_load(const char *path, struct config_errors *errs);
/* Loads every service's certificates, keys and password file; 0 on
 * success, -1 with errs filled. */
int config_load_credentials(struct config *cfg, struct config_errors *errs);
/* A loaded configuration starts with one reference; the last unref frees
 * it (config_free frees one nobody else holds). */
struct config *config_ref(struct config *cfg);
/* The number of online CPUs, within 1..CONFIG_MAX_WORKERS. */
unsigned config_default_workers(void);
void config_unref(struct config *cfg);
void config_free(struct config *cfg);

#endif
