/*
 * config.c - load and validate the configuration file.
 *
 * libconfig only parses the syntax: it accepts unknown keys and its lookup
 * functions cannot tell a missing key from one of the wrong type.  So every
 * group is walked member by member here, in file order: each key must be
 * known, of the right type and in range.  Every problem becomes one
 * "file:line: message" line and checking goes on, so that one run shows them
 * all.  Nothing here logs.
 */
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netinet/in.h>

#include <libconfig.h>

#include "config.h"
#include "dn.h"
#include "log.h"
#include "net.h"
#include "passwd.h"
#include "privs.h"
#include "rfb.h"
#include "tls.h"

/* What one tls block says, pointing into libconfig's tree (so only valid
 * while it lives); resolved into a struct tls_settings at the end. */
struct tls_block {
	const config_setting_t *setting;        /* NULL when there is none */
	const char *cert_dir;
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	const char *crl_file;
	const char *priority;
	const config_setting_t *resumption;     /* NULL when not given */
};

struct loader {
	const char *path;
	char *incdir;           /* where libconfig looks for @include files */
	struct config_errors *errs;
	size_t nerrors;         /* counted even when a line could not be stored */
	bool nomem;
	struct config *cfg;
	struct tls_block tls;   /* the global block */
	struct tls_block *svc_tls;      /* one per service */
};

static const uint32_t supported_subtypes[] = {
	VENCRYPT_X509NONE, VENCRYPT_X509PLAIN,
};

static const struct {
	const char *name;
	enum client_cert_mode mode;
} client_cert_modes[] = {
	{ "require", CLIENT_CERT_REQUIRE },
	{ "optional", CLIENT_CERT_OPTIONAL },
	{ "none", CLIENT_CERT_NONE },
};

static void errors_vadd(struct config_errors *, const char *, int,
    const char *, va_list) PRINTF_LIKE(4, 0);
static void ld_error(struct loader *, const config_setting_t *,
    const char *, ...) PRINTF_LIKE(3, 4);

/* ---- error lines --------------------------------------------------------- */

static void
errors_vadd(struct config_errors *e, const char *file, int line,
    const char *fmt, va_list ap)
{
	char *msg = NULL, *full = NULL, **lines;
	int r;

	if (file == NULL)
		file = "(config)";
	if (vasprintf(&msg, fmt, ap) == -1) {
		msg = NULL;
		goto cleanup;
	}
	/* One error, one line: a value quoted from the file may hold a
	 * newline or another control character ("a\nb"); show it as '?'. */
	for (char *c = msg; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	if (line > 0)
		r = asprintf(&full, "%s:%d: %s", file, line, msg);
	else
		r = asprintf(&full, "%s: %s", file, msg);
	if (r == -1) {
		full = NULL;
		goto cleanup;
	}
	lines = realloc(e->lines, (e->n + 1) * sizeof *lines);
	if (lines == NULL)
		goto cleanup;
	e->lines = lines;
	e->lines[e->n++] = full;
	full = NULL;
cleanup:
	free(full);
	free(msg);
}

void
config_errors_add(struct config_errors *e, const char *file, int line,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errors_vadd(e, file, line, fmt, ap);
	va_end(ap);
}

void
config_errors_free(struct config_errors *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->n; i++)
		free(e->lines[i]);
	free(e->lines);
	e->lines = NULL;
	e->n = 0;
}

/* ---- loader helpers ------------------------------------------------------ */

/* The file a setting (or a parse error) came from: libconfig says NULL for
 * the config itself and names an @include file as written, relative to
 * incdir.  *tofree holds what the caller frees. */
static const char *
source_file(const struct loader *ld, const char *f, char **tofree)
{
	*tofree = NULL;
	if (f == NULL)
		return ld->path;
	if (f[0] == '/' || ld->incdir == NULL)
		return f;
	if (asprintf(tofree, "%s/%s", ld->incdir, f) == -1) {
		*tofree = NULL;
		return f;
	}
	return *tofree;
}

static int
setting_line(const config_setting_t *s)
{
	return s != NULL ? (int)config_setting_source_line(s) : 0;
}

/* An error at setting s (NULL or the root: the file as a whole). */
static void
ld_error(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	const char *file;
	char *tofree;
	va_list ap;

	file = source_file(ld, s != NULL ? config_setting_source_file(s) : NULL,
	    &tofree);
	va_start(ap, fmt);
	errors_vadd(ld->errs, file, setting_line(s), fmt, ap);
	va_end(ap);
	free(tofree);
	ld->nerrors++;
}

static void
ld_nomem(struct loader *ld)
{
	if (!ld->nomem)
		ld_error(ld, NULL, "out of memory");
	ld->nomem = true;
}

static char *
ld_strdup(struct loader *ld, const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		ld_nomem(ld);
	return p;
}

static char *
ld_join(struct loader *ld, const char *dir, const char *name)
{
	size_t len = strlen(dir);
	char *p;

	if (asprintf(&p, "%s%s%s", dir, len > 0 && dir[len - 1] == '/' ? "" :
	    "/", name) == -1) {
		ld_nomem(ld);
		return NULL;
	}
	return p;
}

/* A file named in the configuration: a relative name is taken from the
 * configuration file's directory (the daemon itself runs in /), under dir
 * when one is given. */
static char *
ld_path(struct loader *ld, const char *dir, const char *name)
{
	char *d, *p;

	if (dir == NULL)
		return name[0] == '/' || ld->incdir == NULL ?
		    ld_strdup(ld, name) : ld_join(ld, ld->incdir, name);
	if ((d = ld_path(ld, NULL, dir)) == NULL)
		return NULL;
	p = ld_join(ld, d, name);
	free(d);
	return p;
}

/* The file a setting came from, kept for the life of the config: the
 * config's own path, or a copy of a file named by @include. */
static const char *
ld_keep_file(struct loader *ld, const config_setting_t *s)
{
	struct config *cfg = ld->cfg;
	const char *f, *kept = cfg->path;
	char **files, *tofree;

	f = source_file(ld, s != NULL ? config_setting_source_file(s) : NULL,
	    &tofree);
	if (strcmp(f, cfg->path) == 0)
		goto done;
	for (size_t i = 0; i < cfg->nfiles; i++)
		if (strcmp(cfg->files[i], f) == 0) {
			kept = cfg->files[i];
			goto done;
		}
	files = realloc(cfg->files, (cfg->nfiles + 1) * sizeof *files);
	if (files == NULL) {
		ld_nomem(ld);
		goto done;
	}
	cfg->files = files;
	if ((cfg->files[cfg->nfiles] = ld_strdup(ld, f)) != NULL)
		kept = cfg->files[cfg->nfiles++];
done:
	free(tofree);
	return kept;
}

static void
unknown_key(struct loader *ld, const config_setting_t *s, const char *where)
{
	ld_error(ld, s, "unknown key \"%s\" %s", config_setting_name(s), where);
}

/* ---- typed values -------------------------------------------------------- */

static bool
is_group(struct loader *ld, const config_setting_t *s)
{
	if (config_setting_is_group(s))
		return true;
	ld_error(ld, s, "\"%s\" must be a group { ... }", config_setting_name(s));
	return false;
}

static const char *
get_string(struct loader *ld, const config_setting_t *s)
{
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return config_setting_get_string(s);
	ld_error(ld, s, "\"%s\" must be a string", config_setting_name(s));
	return NULL;
}

static const char *
get_nonempty_string(struct loader *ld, const config_setting_t *s)
{
	const char *v = get_string(ld, s);

	if (v != NULL && *v == '\0') {
		ld_error(ld, s, "\"%s\" must not be empty", config_setting_name(s));
		return NULL;
	}
	return v;
}

static bool
get_uint(struct loader *ld, const config_setting_t *s, unsigned min,
    unsigned max, unsigned *out)
{
	int type = config_setting_type(s);
	long long v;

	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
		ld_error(ld, s, "\"%s\" must be an integer",
		    config_setting_name(s));
		return false;
	}
	v = config_setting_get_int64(s);
	if (v < min || v > max) {
		ld_error(ld, s, "\"%s\" must be between %u and %u, not %lld",
		    config_setting_name(s), min, max, v);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

/* A non-empty [ "array" ] (or ( "list" )) of strings. */
static bool
check_string_array(struct loader *ld, const config_setting_t *s)
{
	const char *name = config_setting_name(s);
	int type = config_setting_type(s), n;

	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
		ld_error(ld, s, "\"%s\" must be an array of strings [ ... ]",
		    name);
		return false;
	}
	if ((n = config_setting_length(s)) == 0) {
		ld_error(ld, s, "\"%s\" must not be empty", name);
		return false;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			ld_error(ld, e, "\"%s\" must be an array of strings [ ... ]",
			    name);
			return false;
		}
	}
	return true;
}

/* ---- log and limits ------------------------------------------------------ */

static void
parse_log(struct loader *ld, const config_setting_t *grp)
{
	struct config *cfg = ld->cfg;
	int n = config_setting_length(grp), r;

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(s), *v;

		if (strcmp(name, "level") == 0) {
			if ((v = get_string(ld, s)) == NULL)
				continue;
			if ((r = log_level_from_name(v)) < 0)
				ld_error(ld, s, "unknown log level \"%s\" (valid: "
				    "error, warning, notice, info, debug)", v);
			else
				cfg->log_level = (enum log_level)r;
		} else if (strcmp(name, "target") == 0) {
			if ((v = get_string(ld, s)) == NULL)
				continue;
			if ((r = log_target_from_name(v)) < 0)
				ld_error(ld, s, "unknown log target \"%s\" (valid: "
				    "stderr, syslog)", v);
			else
				cfg->log_target = (enum log_target)r;
		} else
			unknown_key(ld, s, "in log");
	}
}

static void
parse_limits(struct loader *ld, const config_setting_t *grp)
{
	struct config *cfg = ld->cfg;
	int n = config_setting_length(grp);

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(s);

		if (strcmp(name, "max_clients") == 0)
			get_uint(ld, s, 1, 1000000, &cfg->max_clients);
		else if (strcmp(name, "handshake_timeout") == 0)
			get_uint(ld, s, 1, 3600, &cfg->handshake_timeout);
		else if (strcmp(name, "backend_timeout") == 0)
			get_uint(ld, s, 1, 3600, &cfg->backend_timeout);
		else if (strcmp(name, "stall_timeout") == 0)
			get_uint(ld, s, 1, 3600, &cfg->stall_timeout);
		else if (strcmp(name, "max_clients_per_ip") == 0)
			get_uint(ld, s, 0, 1000000, &cfg->max_clients_per_ip);
		else if (strcmp(name, "connect_rate_per_ip") == 0)
			get_uint(ld, s, 0, 1000000, &cfg->connect_rate_per_ip);
		else if (strcmp(name, "idle_timeout") == 0)
			get_uint(ld, s, 0, 604800, &cfg->idle_timeout);
		else if (strcmp(name, "shutdown_grace") == 0)
			get_uint(ld, s, 0, 86400, &cfg->shutdown_grace);
		else
			unknown_key(ld, s, "in limits");
	}
}

static void
parse_keepalive(struct loader *ld, const config_setting_t *grp)
{
	struct config *cfg = ld->cfg;
	int n = config_setting_length(grp);

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(s);

		if (strcmp(name, "idle") == 0)
			get_uint(ld, s, 0, 86400, &cfg->keepalive_idle);
		else if (strcmp(name, "interval") == 0)
			get_uint(ld, s, 1, 3600, &cfg->keepalive_interval);
		else if (strcmp(name, "count") == 0)
			get_uint(ld, s, 1, 100, &cfg->keepalive_count);
		else
			unknown_key(ld, s, "in keepalive");
	}
}

/* ---- tls ----------------------------------------------------------------- */

static const char **
tls_block_field(struct tls_block *b, const char *name)
{
	if (strcmp(name, "cert_dir") == 0)
		return &b->cert_dir;
	if (strcmp(name, "ca_file") == 0)
		return &b->ca_file;
	if (strcmp(name, "cert_file") == 0)
		return &b->cert_file;
	if (strcmp(name, "key_file") == 0)
		return &b->key_file;
	if (strcmp(name, "crl_file") == 0)
		return &b->crl_file;
	if (strcmp(name, "priority") == 0)
		return &b->priority;
	return NULL;
}

static void
check_priority(struct loader *ld, const config_setting_t *s, const char *prio)
{
	const char *at = tls_priority_check(prio);
	uintptr_t start = (uintptr_t)prio, pos = (uintptr_t)at;

	if (at == NULL)
		return;
	if (pos >= start && pos <= start + strlen(prio))
		ld_error(ld, s, "\"priority\" is invalid at character %zu: \"%s\"",
		    (size_t)(pos - start) + 1, at);
	else
		ld_error(ld, s, "\"priority\" is invalid: %s", at);
}

static void parse_bool(struct loader *ld, const config_setting_t *s, bool *out);

static void
parse_tls_block(struct loader *ld, const config_setting_t *grp,
    struct tls_block *b, const char *where)
{
	int n = config_setting_length(grp);

	b->setting = grp;
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
		const char **field = tls_block_field(b, config_setting_name(s));
		const char *v;
		bool on;

		if (strcmp(config_setting_name(s), "resumption") == 0) {
			/* Kept only when it is a boolean (else said). */
			parse_bool(ld, s, &on);
			if (config_setting_type(s) == CONFIG_TYPE_BOOL)
				b->resumption = s;
			continue;
		}
		if (field == NULL) {
			unknown_key(ld, s, where);
			continue;
		}
		if ((v = get_nonempty_string(ld, s)) == NULL)
			continue;
		if (field == &b->priority)
			check_priority(ld, s, v);
		*field = v;
	}
}

/* A file given in the block itself, else in the global block, else named
 * after the directory. */
static char *
tls_path(struct loader *ld, const char *own, const char *global,
    const char *dir, const char *name)
{
	if (own != NULL)
		return ld_path(ld, NULL, own);
	if (global != NULL)
		return ld_path(ld, NULL, global);
	return ld_path(ld, dir, name);
}

/* The CRL named after the directory is optional: used only if it exists.
 * A file that exists but cannot be looked at is still named, so that
 * loading it fails loudly instead of silently running without the CRL. */
static char *
tls_dir_crl(struct loader *ld, const char *dir)
{
	struct stat st;
	char *p = ld_path(ld, dir, "ca-crl.pem");

	if (p != NULL && stat(p, &st) == -1 &&
	    (errno == ENOENT || errno == ENOTDIR)) {
		free(p);
		p = NULL;
	}
	return p;
}

/* Settings for own (the global block, or a service's) over the global
 * block, key by key.  A service's cert_dir replaces the directory the
 * unnamed files come from; files named explicitly win over any directory. */
static void
tls_resolve(struct loader *ld, struct tls_settings *out,
    const struct tls_block *own, const config_setting_t *fallback)
{
	const struct tls_block *g = &ld->tls;
	const config_setting_t *at;
	const char *dir;

	dir = own->cert_dir != NULL ? own->cert_dir :
	    g->cert_dir != NULL ? g->cert_dir : DEFAULT_CERT_DIR;
	out->ca_file = tls_path(ld, own->ca_file, g->ca_file, dir,
	    "ca-cert.pem");
	out->cert_file = tls_path(ld, own->cert_file, g->cert_file, dir,
	    "server-cert.pem");
	out->key_file = tls_path(ld, own->key_file, g->key_file, dir,
	    "server-key.pem");
	if (own->crl_file != NULL || g->crl_file != NULL)
		out->crl_file = tls_path(ld, own->crl_file, g->crl_file, dir,
		    "ca-crl.pem");
	else
		out->crl_file = tls_dir_crl(ld, dir);
	out->priority = ld_strdup(ld, own->priority != NULL ? own->priority :
	    g->priority != NULL ? g->priority : DEFAULT_PRIORITY);
	at = own->resumption != NULL ? own->resumption : g->resumption;
	out->resumption = at != NULL && config_setting_get_bool(at) != 0;

	at = own->setting != NULL ? own->setting :
	    g->setting != NULL ? g->setting : fallback;
	out->file = ld_keep_file(ld, at);
	out->line = setting_line(at);
}

/* ---- services ------------------------------------------------------------ */

static bool
valid_service_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
		    *s == '-'))
			return false;
	return true;
}

/* "service \"desktop\"", or "service #2" while the name is unusable. */
static void
service_label(const config_setting_t *grp, size_t idx, char *out, size_t cap)
{
	const char *name;

	if (config_setting_lookup_string(grp, "name", &name) == CONFIG_TRUE &&
	    valid_service_name(name))
		snprintf(out, cap, "service \"%.64s\"", name);
	else
		snprintf(out, cap, "service #%zu", idx + 1);
}

static in_port_t
addr_port(const struct net_addr *a)
{
	switch (a->ss.ss_family) {
	case AF_INET:
		return ((const struct sockaddr_in *)&a->ss)->sin_port;
	case AF_INET6:
		return ((const struct sockaddr_in6 *)&a->ss)->sin6_port;
	}
	return 0;
}

/* A listen address already taken by an earlier entry.  Port 0 ("any free
 * port") never clashes. */
static const struct listen_conf *
find_listen(const struct loader *ld, const struct net_addr *a)
{
	const struct config *cfg = ld->cfg;

	if (a->ss.ss_family != AF_UNIX && addr_port(a) == 0)
		return NULL;
	for (size_t i = 0; i < cfg->nservices; i++)
		for (size_t j = 0; j < cfg->services[i].nlisten; j++) {
			const struct listen_conf *lc = &cfg->services[i].listen[j];
			struct net_addr at[2];
			size_t n = listen_conf_addrs(lc, at);
			for (size_t k = 0; k < n; k++)
				if (net_addr_equal(&at[k], a))
					return lc;
		}
	return NULL;
}

static void
parse_name(struct loader *ld, struct service *svc, const config_setting_t *s,
    size_t idx)
{
	const struct config *cfg = ld->cfg;
	const char *v;

	if ((v = get_nonempty_string(ld, s)) == NULL)
		return;
	if (!valid_service_name(v)) {
		ld_error(ld, s, "service name \"%s\" may only contain letters, "
		    "digits, '.', '_' and '-'", v);
		return;
	}
	for (size_t j = 0; j < idx; j++)
		if (cfg->services[j].name != NULL &&
		    strcmp(cfg->services[j].name, v) == 0) {
			ld_error(ld, s, "duplicate service name \"%s\" (first at "
			    "line %d)", v, cfg->services[j].line);
			break;
		}
	svc->name = ld_strdup(ld, v);
}

/* ---- listen entries -------------------------------------------------------- */

const char *
proxy_mode_name(enum proxy_mode m)
{
	switch (m) {
	case PROXY_MODE_NONE: return "none";
	case PROXY_MODE_V1: return "v1";
	case PROXY_MODE_V2: return "v2";
	}
	return "?";
}

size_t
listen_conf_addrs(const struct listen_conf *lc, struct net_addr out[2])
{
	struct sockaddr_in6 *sin6;

	out[0] = lc->addr;
	if (!lc->all)
		return 1;
	memset(&out[1], 0, sizeof out[1]);
	sin6 = (struct sockaddr_in6 *)&out[1].ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_addr = in6addr_any;
	sin6->sin6_port = addr_port(&lc->addr);
	out[1].len = sizeof *sin6;
	return 2;
}

bool
listen_conf_trusts(const struct listen_conf *lc, const struct net_addr *peer)
{
	if (lc->proxy == PROXY_MODE_NONE)
		return false;
	/* Who may connect to a Unix socket is its mode's business. */
	if (lc->addr.ss.ss_family == AF_UNIX)
		return true;
	return cidr_match_any(lc->trusted, lc->ntrusted, peer);
}

static void
parse_proxy_mode(struct loader *ld, const config_setting_t *s,
    enum proxy_mode *out)
{
	static const enum proxy_mode modes[] = {
		PROXY_MODE_NONE, PROXY_MODE_V1, PROXY_MODE_V2,
	};
	const char *v;

	if ((v = get_string(ld, s)) == NULL)
		return;
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		if (strcmp(v, proxy_mode_name(modes[i])) == 0) {
			*out = modes[i];
			return;
		}
	ld_error(ld, s, "unknown proxy_protocol \"%s\" (valid: none, v1, v2)", v);
}

static void
parse_trusted(struct loader *ld, const config_setting_t *s,
    struct cidr **out, size_t *nout)
{
	struct cidr *list;
	int n;

	if (!check_string_array(ld, s))
		return;
	n = config_setting_length(s);
	if ((list = calloc((size_t)n, sizeof *list)) == NULL) {
		ld_nomem(ld);
		return;
	}
	free(*out);
	*out = list;
	*nout = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *text = config_setting_get_string(e);
		enum cidr_result r = cidr_parse(text, &list[*nout]);

		if (r != CIDR_OK) {
			ld_error(ld, e, "bad trusted_proxies entry \"%s\": %s",
			    text, cidr_result_str(r));
			continue;
		}
		(*nout)++;
	}
}

/* "0660": up to four octal digits. */
static void
parse_mode(struct loader *ld, const config_setting_t *s, int *out)
{
	const char *v = get_string(ld, s);
	int mode = 0;

	if (v == NULL)
		return;
	if (*v == '\0' || strlen(v) > 4)
		goto bad;
	for (const char *p = v; *p != '\0'; p++) {
		if (*p < '0' || *p > '7')
			goto bad;
		mode = mode * 8 + (*p - '0');
	}
	*out = mode;
	return;
bad:
	ld_error(ld, s, "\"mode\" must be octal permissions such as \"0660\", "
	    "not \"%s\"", v);
}

/* Says why a user or group lookup failed; whether it found name. */
static bool
looked_up(struct loader *ld, const config_setting_t *s, const char *what,
    const char *name, enum privs_lookup_result r)
{
	if (r == PRIVS_UNKNOWN)
		ld_error(ld, s, "unknown %s \"%s\"", what, name);
	else if (r == PRIVS_LOOKUP_FAILED)
		ld_error(ld, s, "cannot look up %s \"%s\": %s", what, name,
		    strerror(errno));
	return r == PRIVS_FOUND;
}

/* A unix: listener's owner and group. */
static void
parse_listen_uid(struct loader *ld, const config_setting_t *s, uid_t *out)
{
	const char *v = get_nonempty_string(ld, s);
	gid_t gid;

	if (v != NULL)
		(void)looked_up(ld, s, "user", v, privs_lookup_user(v, out, &gid));
}

static void
parse_listen_gid(struct loader *ld, const config_setting_t *s, gid_t *out)
{
	const char *v = get_nonempty_string(ld, s);

	if (v != NULL)
		(void)looked_up(ld, s, "group", v, privs_lookup_group(v, out));
}

/* The address of a listen entry: host:port, [v6]:port, *:port or
 * unix:/path.  False (reported) when it is bad or taken. */
static bool
parse_listen_addr(struct loader *ld, const config_setting_t *e,
    const char *text, struct listen_conf *lc)
{
	enum net_parse_result r;
	const struct listen_conf *prev;
	struct net_addr at[2];
	size_t n;

	if (strncmp(text, "*:", 2) == 0) {
		char any[32];
		if (strlen(text) > 8)
			r = NET_PARSE_BAD_PORT;
		else {
			snprintf(any, sizeof any, "0.0.0.0:%s", text + 2);
			r = net_parse_addr(any, 0, &lc->addr);
		}
		lc->all = true;
	} else {
		r = net_parse_addr(text, 1, &lc->addr);
	}
	if (r != NET_PARSE_OK) {
		ld_error(ld, e, "bad listen address \"%s\": %s", text,
		    net_parse_result_str(r));
		return false;
	}
	n = listen_conf_addrs(lc, at);
	for (size_t k = 0; k < n; k++)
		if ((prev = find_listen(ld, &at[k])) != NULL) {
			ld_error(ld, e, "listen address \"%s\" duplicates \"%s\" "
			    "at line %d", text, prev->text, prev->line);
			return false;
		}
	return true;
}

/* { address = "..."; proxy_protocol = ...; trusted_proxies = [ ... ];
 * mode = "0660"; owner = "..."; group = "..."; } */
static bool
parse_listen_group(struct loader *ld, const config_setting_t *grp,
    struct listen_conf *lc, bool *own_trusted)
{
	const config_setting_t *address = NULL, *unix_only = NULL;
	bool ok = true;
	int n = config_setting_length(grp);

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
		const char *key = config_setting_name(s);

		if (strcmp(key, "address") == 0) {
			address = s;
		} else if (strcmp(key, "proxy_protocol") == 0) {
			parse_proxy_mode(ld, s, &lc->proxy);
		} else if (strcmp(key, "trusted_proxies") == 0) {
			parse_trusted(ld, s, &lc->trusted, &lc->ntrusted);
			*own_trusted = true;
		} else if (strcmp(key, "mode") == 0) {
			unix_only = s;
			parse_mode(ld, s, &lc->mode);
		} else if (strcmp(key, "owner") == 0) {
			unix_only = s;
			parse_listen_uid(ld, s, &lc->uid);
		} else if (strcmp(key, "group") == 0) {
			unix_only = s;
			parse_listen_gid(ld, s, &lc->gid);
		} else {
			unknown_key(ld, s, "in a listen entry");
		}
	}
	if (address == NULL) {
		ld_error(ld, grp, "missing \"address\" in a listen entry");
		return false;
	}
	const char *text = get_nonempty_string(ld, address);
	if (text == NULL || !parse_listen_addr(ld, address, text, lc))
		return false;
	if (unix_only != NULL && lc->addr.ss.ss_family != AF_UNIX) {
		ld_error(ld, unix_only, "\"%s\" is only for unix: listeners, not "
		    "\"%s\"", config_setting_name(unix_only), text);
		ok = false;
	}
	if (*own_trusted && lc->addr.ss.ss_family == AF_UNIX) {
		ld_error(ld, config_setting_get_member(grp, "trusted_proxies"),
		    "trusted_proxies does not apply to unix: listener \"%s\": "
		    "the socket's mode decides who may connect", text);
		ok = false;
	}
	return ok && (lc->text = ld_strdup(ld, text)) != NULL;
}

static void
parse_listen(struct loader *ld, struct service *svc, const config_setting_t *s)
{
	static const char what[] = "\"listen\" must be a list of addresses: "
	    "strings, or groups { address = \"...\"; ... }";
	int type = config_setting_type(s), n;

	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
		ld_error(ld, s, "%s", what);
		return;
	}
	if ((n = config_setting_length(s)) == 0) {
		ld_error(ld, s, "\"listen\" must not be empty");
		return;
	}
	if ((svc->listen = calloc((size_t)n, sizeof *svc->listen)) == NULL) {
		ld_nomem(ld);
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct listen_conf *lc = &svc->listen[svc->nlisten];
		bool own_trusted = false;

		lc->proxy = svc->proxy;
		lc->mode = -1;
		lc->uid = (uid_t)-1;
		lc->gid = (gid_t)-1;
		if (config_setting_type(e) == CONFIG_TYPE_STRING) {
			const char *text = config_setting_get_string(e);
			if (!parse_listen_addr(ld, e, text, lc) ||
			    (lc->text = ld_strdup(ld, text)) == NULL)
				goto drop;
		} else if (config_setting_is_group(e)) {
			if (!parse_listen_group(ld, e, lc, &own_trusted))
				goto drop;
		} else {
			ld_error(ld, e, "%s", what);
			goto drop;
		}
		if (!own_trusted && svc->ntrusted > 0) {
			size_t bytes = svc->ntrusted * sizeof *svc->trusted;
			if ((lc->trusted = malloc(bytes)) == NULL) {
				ld_nomem(ld);
				goto drop;
			}
			memcpy(lc->trusted, svc->trusted, bytes);
			lc->ntrusted = svc->ntrusted;
		}
		lc->file = ld_keep_file(ld, e);
		lc->line = setting_line(e);
		/* (Given but all bad is reported already.) */
		if (lc->proxy != PROXY_MODE_NONE && lc->ntrusted == 0 &&
		    !own_trusted && lc->addr.ss.ss_family != AF_UNIX) {
			ld_error(ld, e, "listen address \"%s\" has proxy_protocol "
			    "\"%s\" but no trusted_proxies: say which addresses "
			    "may send a PROXY header", lc->text,
			    proxy_mode_name(lc->proxy));
			goto drop;
		}
		svc->nlisten++;
		continue;
drop:
		free(lc->text);
		free(lc->trusted);
		memset(lc, 0, sizeof *lc);
	}
}

static void
parse_backend(struct loader *ld, struct service *svc, const config_setting_t *s)
{
	enum net_parse_result r;
	const char *v;

	if ((v = get_string(ld, s)) == NULL)
		return;
	if ((r = net_parse_addr(v, 1, &svc->backend)) != NET_PARSE_OK) {
		ld_error(ld, s, "bad backend address \"%s\": %s", v,
		    net_parse_result_str(r));
		return;
	}
	svc->backend_text = ld_strdup(ld, v);
}

static bool
subtype_supported(uint32_t st)
{
	for (size_t i = 0; i < sizeof supported_subtypes /
	    sizeof supported_subtypes[0]; i++)
		if (supported_subtypes[i] == st)
			return true;
	return false;
}

static void
parse_subtypes(struct loader *ld, struct service *svc,
    const config_setting_t *s)
{
	int n;

	if (!check_string_array(ld, s))
		return;
	if ((n = config_setting_length(s)) > CONFIG_MAX_SUBTYPES) {
		ld_error(ld, s, "\"subtypes\" lists %d subtypes; at most %d are "
		    "allowed", n, CONFIG_MAX_SUBTYPES);
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_get_string(e);
		uint32_t st = vencrypt_subtype_from_name(name);
		bool dup = false;

		if (st == 0) {
			ld_error(ld, e, "unknown subtype \"%s\"", name);
			continue;
		}
		if (st == VENCRYPT_PLAIN || (st >= VENCRYPT_TLSNONE &&
		    st <= VENCRYPT_TLSPLAIN)) {
			ld_error(ld, e, "subtype \"%s\" is never offered: it has no "
			    "server authentication (anonymous or no TLS)", name);
			continue;
		}
		if (!subtype_supported(st)) {
			ld_error(ld, e, "subtype \"%s\" is not supported yet", name);
			continue;
		}
		for (size_t j = 0; j < svc->nsubtypes; j++)
			dup = dup || svc->subtypes[j] == st;
		if (dup) {
			ld_error(ld, e, "duplicate subtype \"%s\"", name);
			continue;
		}
		svc->subtypes[svc->nsubtypes++] = st;
	}
}

static void
parse_client_cert(struct loader *ld, struct service *svc,
    const config_setting_t *s)
{
	char valid[64] = "";
	const char *v;
	size_t i, n = sizeof client_cert_modes / sizeof client_cert_modes[0];

	if ((v = get_string(ld, s)) == NULL)
		return;
	for (i = 0; i < n; i++)
		if (strcmp(v, client_cert_modes[i].name) == 0) {
			svc->client_cert = client_cert_modes[i].mode;
			return;
		}
	for (i = 0; i < n; i++) {
		if (i > 0)
			strncat(valid, ", ", sizeof valid - strlen(valid) - 1);
		strncat(valid, client_cert_modes[i].name,
		    sizeof valid - strlen(valid) - 1);
	}
	ld_error(ld, s, "unknown client_cert \"%s\" (valid: %s)", v, valid);
}

static void
parse_allowed_dn(struct loader *ld, struct service *svc,
    const config_setting_t *s)
{
	int n;

	if (!check_string_array(ld, s))
		return;
	n = config_setting_length(s);
	if ((svc->allowed_dn = calloc((size_t)n, sizeof *svc->allowed_dn)) ==
	    NULL) {
		ld_nomem(ld);
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *pattern = config_setting_get_string(e);
		const char *why = NULL;
		char *copy;

		if (dn_pattern_check(pattern, &why) != DN_MATCH) {
			ld_error(ld, e, "bad allowed_dn pattern \"%s\": %s", pattern,
			    why != NULL ? why : "not a valid DN pattern");
			continue;
		}
		if ((copy = ld_strdup(ld, pattern)) == NULL)
			continue;
		svc->allowed_dn[svc->nallowed_dn++] = copy;
	}
}

static void
parse_passwd_file(struct loader *ld, struct service *svc,
    const config_setting_t *s)
{
	const char *v;

	if ((v = get_nonempty_string(ld, s)) == NULL)
		return;
	svc->passwd_file = ld_path(ld, NULL, v);
	svc->passwd_line = setting_line(s);
}

static void
parse_allowed_users(struct loader *ld, struct service *svc,
    const config_setting_t *s)
{
	int n;

	if (!check_string_array(ld, s))
		return;
	n = config_setting_length(s);
	if ((svc->allowed_users = calloc((size_t)n,
	    sizeof *svc->allowed_users)) == NULL) {
		ld_nomem(ld);
		return;
	}
	svc->allowed_users_file = ld_keep_file(ld, s);
	svc->allowed_users_line = setting_line(s);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *user = config_setting_get_string(e);
		char *copy;

		const char *why = passwd_user_problem(user, strlen(user));
		if (why != NULL) {
			ld_error(ld, e, "bad user name \"%.64s\" in allowed_users: "
			    "%s", user, why);
			continue;
		}
		if ((copy = ld_strdup(ld, user)) == NULL)
			continue;
		svc->allowed_users[svc->nallowed_users++] = copy;
	}
}

static void
parse_bool(struct loader *ld, const config_setting_t *s, bool *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		ld_error(ld, s, "\"%s\" must be true or false",
		    config_setting_name(s));
		return;
	}
	*out = config_setting_get_bool(s) != 0;
}

bool
service_offers(const struct service *svc, uint32_t subtype)
{
	for (size_t i = 0; i < svc->nsubtypes; i++)
		if (svc->subtypes[i] == subtype)
			return true;
	return false;
}

bool
service_is_open(const struct service *svc)
{
	return svc->allow_unauthenticated &&
	    svc->client_cert != CLIENT_CERT_REQUIRE &&
	    service_offers(svc, VENCRYPT_X509NONE);
}

/* The keys that only make sense together. */
static void
check_service(struct loader *ld, const struct service *svc,
    const config_setting_t *grp, const char *label)
{
	bool plain = service_offers(svc, VENCRYPT_X509PLAIN);

	/* A passwd_file that is there but wrong has its own error. */
	if (plain && config_setting_get_member(grp, "passwd_file") == NULL)
		ld_error(ld, grp, "%s offers X509Plain but has no passwd_file",
		    label);
	if (!plain && svc->passwd_file != NULL)
		ld_error(ld, config_setting_get_member(grp, "passwd_file"),
		    "%s has a passwd_file but does not offer X509Plain "
		    "(add it to subtypes)", label);
	if (!plain && svc->allowed_users != NULL)
		ld_error(ld, config_setting_get_member(grp, "allowed_users"),
		    "%s has allowed_users but does not offer X509Plain "
		    "(add it to subtypes)", label);
	if (svc->client_cert == CLIENT_CERT_NONE && svc->allowed_dn != NULL)
		ld_error(ld, config_setting_get_member(grp, "allowed_dn"),
		    "%s has allowed_dn but client_cert = \"none\": no "
		    "certificate is requested, so nothing could match", label);
	if (svc->client_cert == CLIENT_CERT_NONE &&
	    service_offers(svc, VENCRYPT_X509NONE) &&
	    !svc->allow_unauthenticated)
		ld_error(ld, grp, "%s lets any client in without a certificate "
		    "or a password (client_cert = \"none\" with X509None); offer "
		    "X509Plain only, or set allow_unauthenticated = true if that "
		    "is really meant", label);
}

static void
parse_service(struct loader *ld, const config_setting_t *grp, size_t idx)
{
	struct service *svc = &ld->cfg->services[idx];
	const config_setting_t *name = NULL, *listen = NULL, *backend = NULL;
	const config_setting_t *subtypes = NULL, *s0;
	char label[96], where[128];
	int n = config_setting_length(grp);

	svc->line = setting_line(grp);
	svc->client_cert = CLIENT_CERT_REQUIRE;
	service_label(grp, idx, label, sizeof label);
	/* The defaults of the listen entries, whatever the order. */
	if ((s0 = config_setting_get_member(grp, "proxy_protocol")) != NULL)
		parse_proxy_mode(ld, s0, &svc->proxy);
	if ((s0 = config_setting_get_member(grp, "trusted_proxies")) != NULL)
		parse_trusted(ld, s0, &svc->trusted, &svc->ntrusted);

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
		const char *key = config_setting_name(s);

		if (strcmp(key, "name") == 0) {
			name = s;
			parse_name(ld, svc, s, idx);
		} else if (strcmp(key, "listen") == 0) {
			listen = s;
			parse_listen(ld, svc, s);
		} else if (strcmp(key, "backend") == 0) {
			backend = s;
			parse_backend(ld, svc, s);
		} else if (strcmp(key, "subtypes") == 0) {
			subtypes = s;
			parse_subtypes(ld, svc, s);
		} else if (strcmp(key, "client_cert") == 0)
			parse_client_cert(ld, svc, s);
		else if (strcmp(key, "allowed_dn") == 0)
			parse_allowed_dn(ld, svc, s);
		else if (strcmp(key, "passwd_file") == 0)
			parse_passwd_file(ld, svc, s);
		else if (strcmp(key, "allowed_users") == 0)
			parse_allowed_users(ld, svc, s);
		else if (strcmp(key, "allow_unauthenticated") == 0)
			parse_bool(ld, s, &svc->allow_unauthenticated);
		else if (strcmp(key, "proxy_protocol") == 0 ||
		    strcmp(key, "trusted_proxies") == 0)
			continue;       /* read first, above */
		else if (strcmp(key, "tls") == 0) {
			if (!is_group(ld, s))
				continue;
			snprintf(where, sizeof where, "in tls of %s", label);
			parse_tls_block(ld, s, &ld->svc_tls[idx], where);
		} else {
			snprintf(where, sizeof where, "in %s", label);
			unknown_key(ld, s, where);
		}
	}

	if (name == NULL)
		ld_error(ld, grp, "missing \"name\" in %s", label);
	if (listen == NULL)
		ld_error(ld, grp, "missing \"listen\" in %s", label);
	if (backend == NULL)
		ld_error(ld, grp, "missing \"backend\" in %s", label);
	if (subtypes == NULL)
		svc->subtypes[svc->nsubtypes++] = VENCRYPT_X509NONE;
	check_service(ld, svc, grp, label);
}

static void
parse_services(struct loader *ld, const config_setting_t *list)
{
	struct config *cfg = ld->cfg;
	size_t n;

	if (!config_setting_is_list(list)) {
		ld_error(ld, list, "\"services\" must be a list of groups "
		    "( { ... }, ... )");
		return;
	}
	if ((n = (size_t)config_setting_length(list)) == 0) {
		ld_error(ld, list, "\"services\" must not be empty");
		return;
	}
	cfg->services = calloc(n, sizeof *cfg->services);
	ld->svc_tls = calloc(n, sizeof *ld->svc_tls);
	if (cfg->services == NULL || ld->svc_tls == NULL) {
		ld_nomem(ld);
		return;
	}
	cfg->nservices = n;
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list,
		    (unsigned)i);
		if (!config_setting_is_group(e)) {
			ld_error(ld, e, "each entry of \"services\" must be a "
			    "group { ... }");
			continue;
		}
		parse_service(ld, e, i);
	}
}

/* ---- user, group, pid_file ---------------------------------------------- */

static void
parse_user(struct loader *ld, const config_setting_t *s)
{
	struct config *cfg = ld->cfg;
	const char *v = get_nonempty_string(ld, s);
	gid_t gid;

	if (v == NULL ||
	    !looked_up(ld, s, "user", v, privs_lookup_user(v, &cfg->uid, &gid)))
		return;
	if (cfg->group == NULL)
		cfg->gid = gid;
	cfg->user = ld_strdup(ld, v);
}

static void
parse_group(struct loader *ld, const config_setting_t *s)
{
	struct config *cfg = ld->cfg;
	const char *v = get_nonempty_string(ld, s);

	if (v != NULL &&
	    looked_up(ld, s, "group", v, privs_lookup_group(v, &cfg->gid)))
		cfg->group = ld_strdup(ld, v);
}

static void
parse_pid_file(struct loader *ld, const config_setting_t *s)
{
	const char *v = get_nonempty_string(ld, s);

	if (v == NULL)
		return;
	if (v[0] != '/')
		ld_error(ld, s, "\"pid_file\" must be an absolute path, not "
		    "\"%s\"", v);
	else
		ld->cfg->pid_file = ld_strdup(ld, v);
}

static void
parse_root(struct loader *ld, const config_setting_t *root)
{
	const config_setting_t *services = NULL;
	int n = config_setting_length(root);

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);

		if (strcmp(name, "log") == 0) {
			if (is_group(ld, s))
				parse_log(ld, s);
		} else if (strcmp(name, "tls") == 0) {
			if (is_group(ld, s))
				parse_tls_block(ld, s, &ld->tls, "in tls");
		} else if (strcmp(name, "limits") == 0) {
			if (is_group(ld, s))
				parse_limits(ld, s);
		} else if (strcmp(name, "keepalive") == 0) {
			if (is_group(ld, s))
				parse_keepalive(ld, s);
		} else if (strcmp(name, "workers") == 0) {
			get_uint(ld, s, 1, CONFIG_MAX_WORKERS, &ld->cfg->workers);
		} else if (strcmp(name, "user") == 0) {
			parse_user(ld, s);
		} else if (strcmp(name, "group") == 0) {
			parse_group(ld, s);
		} else if (strcmp(name, "pid_file") == 0) {
			parse_pid_file(ld, s);
		} else if (strcmp(name, "services") == 0) {
			services = s;
			parse_services(ld, s);
		} else
			unknown_key(ld, s, "at top level");
	}
	if (services == NULL)
		ld_error(ld, root, "missing \"services\": nothing to serve");
}

/* libconfig resolves a relative @include against include_dir: make that
 * the directory of the config file rather than the current one. */
static void
set_include_dir(struct loader *ld, config_t *lc)
{
	char *copy;

	if ((copy = ld_strdup(ld, ld->path)) == NULL)
		return;
	if ((ld->incdir = ld_strdup(ld, dirname(copy))) != NULL)
		config_set_include_dir(lc, ld->incdir);
	free(copy);
}

struct config *
config_load(const char *path, struct config_errors *errs)
{
	struct loader ld;
	struct config *cfg = NULL, *ret = NULL;
	const config_setting_t *services;
	struct stat st;
	config_t lc;
	const char *file;
	char *tofree = NULL;
	FILE *fp = NULL;

	memset(&ld, 0, sizeof ld);
	ld.path = path;
	ld.errs = errs;
	config_init(&lc);

	if ((cfg = calloc(1, sizeof *cfg)) == NULL ||
	    (cfg->path = strdup(path)) == NULL) {
		ld_nomem(&ld);
		goto cleanup;
	}
	ld.cfg = cfg;
	atomic_init(&cfg->refs, 1);
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->log_target = LOG_TARGET_STDERR;
	cfg->max_clients = 1024;
	cfg->handshake_timeout = 10;
	cfg->backend_timeout = 5;
	cfg->stall_timeout = 60;
	cfg->keepalive_idle = 120;
	cfg->keepalive_interval = 30;
	cfg->keepalive_count = 4;
	cfg->shutdown_grace = 30;
	cfg->workers = config_default_workers();

	if ((fp = fopen(path, "r")) == NULL) {
		ld_error(&ld, NULL, "cannot open: %s", strerror(errno));
		goto cleanup;
	}
	if (fstat(fileno(fp), &st) == -1) {
		ld_error(&ld, NULL, "cannot stat: %s", strerror(errno));
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		ld_error(&ld, NULL, "not a regular file");
		goto cleanup;
	}
	set_include_dir(&ld, &lc);
	if (config_read(&lc, fp) != CONFIG_TRUE) {
		file = source_file(&ld, config_error_file(&lc), &tofree);
		config_errors_add(errs, file, config_error_line(&lc), "%s",
		    config_error_text(&lc) != NULL ? config_error_text(&lc) :
		    "cannot parse");
		ld.nerrors++;
		goto cleanup;
	}

	parse_root(&ld, config_root_setting(&lc));
	if (ld.nerrors > 0)
		goto cleanup;
	tls_resolve(&ld, &cfg->tls, &ld.tls, NULL);
	services = config_lookup(&lc, "services");
	for (size_t i = 0; i < cfg->nservices; i++)
		tls_resolve(&ld, &cfg->services[i].tls, &ld.svc_tls[i],
		    config_setting_get_elem(services, (unsigned)i));
	if (ld.nerrors > 0)
		goto cleanup;
	ret = cfg;
	cfg = NULL;
cleanup:
	if (fp != NULL)
		fclose(fp);
	config_destroy(&lc);
	free(tofree);
	free(ld.incdir);
	free(ld.svc_tls);
	config_free(cfg);
	return ret;
}

/* ---- credentials --------------------------------------------------------- */

static bool
str_equal(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
tls_settings_equal(const struct tls_settings *a, const struct tls_settings *b)
{
	return str_equal(a->ca_file, b->ca_file) &&
	    str_equal(a->cert_file, b->cert_file) &&
	    str_equal(a->key_file, b->key_file) &&
	    str_equal(a->crl_file, b->crl_file) &&
	    str_equal(a->priority, b->priority) &&
	    a->resumption == b->resumption;
}

/* The service's password file (shared with an earlier service naming the
 * same file), and every allowed user in it. */
static int
load_passwd(struct config *cfg, size_t idx, struct config_errors *errs)
{
	struct service *svc = &cfg->services[idx];
	int ret = 0;

	for (size_t j = 0; j < idx; j++)
		if (str_equal(cfg->services[j].passwd_file, svc->passwd_file)) {
			/* Loaded once; if that failed, it was said once. */
			if ((svc->passwd = cfg->services[j].passwd) == NULL)
				return -1;
			break;
		}
	if (svc->passwd == NULL &&
	    (svc->passwd = passwd_load(svc->passwd_file, errs)) == NULL)
		return -1;
	for (size_t k = 0; k < svc->nallowed_users; k++)
		if (!passwd_has_user(svc->passwd, svc->allowed_users[k])) {
			config_errors_add(errs, svc->allowed_users_file,
			    svc->allowed_users_line,
			    "service %s: allowed_users names \"%s\", who is not "
			    "in %s", svc->name, svc->allowed_users[k],
			    svc->passwd_file);
			ret = -1;
		}
	return ret;
}

/* Services with the same settings share one set of credentials. */
int
config_load_credentials(struct config *cfg, struct config_errors *errs)
{
	char err[1024];
	int ret = 0;

	for (size_t i = 0; i < cfg->nservices; i++) {
		struct service *svc = &cfg->services[i];

		if (svc->passwd_file != NULL && svc->passwd == NULL &&
		    load_passwd(cfg, i, errs) < 0)
			ret = -1;
		if (svc->creds != NULL)
			continue;
		for (size_t j = 0; j < i && svc->creds == NULL; j++)
			if (cfg->services[j].creds != NULL &&
			    tls_settings_equal(&cfg->services[j].tls, &svc->tls))
				svc->creds = cfg->services[j].creds;
		if (svc->creds != NULL)
			continue;
		err[0] = '\0';
		if (tls_creds_load(&svc->tls, &svc->creds, err, sizeof err) !=
		    TLS_LOAD_OK) {
			svc->creds = NULL;
			config_errors_add(errs, svc->tls.file, svc->tls.line,
			    "service %s: %s", svc->name,
			    err[0] != '\0' ? err : "cannot load credentials");
			ret = -1;
		}
	}
	return ret;
}

/* ---- free ---------------------------------------------------------------- */

static void
tls_settings_free(struct tls_settings *s)
{
	free(s->ca_file);
	free(s->cert_file);
	free(s->key_file);
	free(s->crl_file);
	free(s->priority);
}

unsigned
config_default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS :
	    (unsigned)n;
}

struct config *
config_ref(struct config *cfg)
{
	atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
	return cfg;
}

void
config_unref(struct config *cfg)
{
	/* The last holder frees it, on whichever thread that is: what the
	 * others did with it happens before (acq_rel). */
	if (cfg != NULL &&
	    atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1)
		config_free(cfg);
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->nservices; i++) {
		struct service *svc = &cfg->services[i];
		bool shared = false, shared_pw = false;

		for (size_t j = 0; j < i; j++) {
			shared = shared || cfg->services[j].creds == svc->creds;
			shared_pw = shared_pw ||
			    cfg->services[j].passwd == svc->passwd;
		}
		if (!shared)
			tls_creds_free(svc->creds);
		if (!shared_pw)
			passwd_free(svc->passwd);
		free(svc->passwd_file);
		for (size_t j = 0; j < svc->nallowed_users; j++)
			free(svc->allowed_users[j]);
		free(svc->allowed_users);
		free(svc->name);
		for (size_t j = 0; j < svc->nlisten; j++) {
			free(svc->listen[j].text);
			free(svc->listen[j].trusted);
		}
		free(svc->listen);
		free(svc->trusted);
		free(svc->backend_text);
		for (size_t j = 0; j < svc->nallowed_dn; j++)
			free(svc->allowed_dn[j]);
		free(svc->allowed_dn);
		tls_settings_free(&svc->tls);
	}
	free(cfg->services);
	tls_settings_free(&cfg->tls);
	for (size_t i = 0; i < cfg->nfiles; i++)
		free(cfg->files[i]);
	free(cfg->files);
	free(cfg->user);
	free(cfg->group);
	free(cfg->pid_file);
	free(cfg->path);
	free(cfg);
}
