/*
 * check_config.c - unit tests for config.c: every key, type, range and
 * cross-check, and that each error names the exact file and line.
 *
 * Each test writes a config text to a temporary file and loads it.  Line
 * numbers are taken from the text itself (the line holding a marker
 * string), so the tests say which setting is at fault, not where it
 * happens to sit.
 */
#include <errno.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "config.h"
#include "dn.h"
#include "net.h"
#include "passwd.h"
#include "rfb.h"
#include "check_run.h"

/* ---- fixture ------------------------------------------------------------- */

static char *conf_path;         /* the file the current test loaded */
static char *tmp_dir;           /* a directory for cert_dir tests */
static struct config *cfg;
static struct config_errors errs;

static const char *
tmp_base(void)
{
	const char *t = getenv("TMPDIR");

	return t != NULL && *t != '\0' ? t : "/tmp";
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	ck_assert_msg(fp != NULL, "cannot create %s: %s", path, strerror(errno));
	ck_assert_int_eq(fputs(text, fp) >= 0, 1);
	ck_assert_int_eq(fclose(fp), 0);
}

/* A fresh, empty directory under $TMPDIR, removed by teardown(). */
static const char *
make_tmp_dir(void)
{
	if (tmp_dir == NULL) {
		ck_assert_int_ne(asprintf(&tmp_dir, "%s/check_config.XXXXXX",
		    tmp_base()), -1);
		ck_assert_msg(mkdtemp(tmp_dir) != NULL, "mkdtemp: %s",
		    strerror(errno));
	}
	return tmp_dir;
}

static char *
tmp_path(const char *name)
{
	char *p;

	ck_assert_int_ne(asprintf(&p, "%s/%s", make_tmp_dir(), name), -1);
	return p;
}

static void
touch(const char *dir, const char *name)
{
	char *p;

	ck_assert_int_ne(asprintf(&p, "%s/%s", dir, name), -1);
	write_file(p, "");
	free(p);
}

static void
remove_tree(const char *dir)
{
	char *cmd;

	/* only ever a directory made by mkdtemp above */
	if (asprintf(&cmd, "rm -rf '%s'", dir) != -1) {
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
		free(cmd);
	}
}

static void
setup(void)
{
	cfg = NULL;
	conf_path = NULL;
	tmp_dir = NULL;
	memset(&errs, 0, sizeof errs);
}

static void
teardown(void)
{
	config_free(cfg);
	cfg = NULL;
	config_errors_free(&errs);
	if (conf_path != NULL) {
		unlink(conf_path);
		free(conf_path);
		conf_path = NULL;
	}
	if (tmp_dir != NULL) {
		remove_tree(tmp_dir);
		free(tmp_dir);
		tmp_dir = NULL;
	}
}

/* Writes text to a new temporary file and loads it. */
static struct config *
load(const char *text)
{
	int fd;

	ck_assert_int_ne(asprintf(&conf_path, "%s/check_config.XXXXXX.conf",
	    tmp_base()), -1);
	fd = mkstemps(conf_path, 5);
	ck_assert_msg(fd != -1, "mkstemps: %s", strerror(errno));
	close(fd);
	write_file(conf_path, text);
	cfg = config_load(conf_path, &errs);
	return cfg;
}

/* The 1-based line of text holding marker. */
static int
line_of(const char *text, const char *marker)
{
	const char *at = strstr(text, marker);
	int line = 1;

	ck_assert_msg(at != NULL, "marker \"%s\" not in the config text", marker);
	for (const char *p = text; p < at; p++)
		if (*p == '\n')
			line++;
	return line;
}

/* Every error line, for failure messages. */
static const char *
all_errors(void)
{
	static char buf[8192];

	buf[0] = '\0';
	for (size_t i = 0; i < errs.n; i++) {
		strncat(buf, "\n  ", sizeof buf - strlen(buf) - 1);
		strncat(buf, errs.lines[i], sizeof buf - strlen(buf) - 1);
	}
	return errs.n > 0 ? buf : " (none)";
}

static bool
has_error(const char *line)
{
	for (size_t i = 0; i < errs.n; i++)
		if (strcmp(errs.lines[i], line) == 0)
			return true;
	return false;
}

static bool
has_error_prefix(const char *prefix)
{
	for (size_t i = 0; i < errs.n; i++)
		if (strncmp(errs.lines[i], prefix, strlen(prefix)) == 0)
			return true;
	return false;
}

/* Asserts the last load failed with exactly "conf_path:line: msg". */
static void PRINTF_LIKE(2, 3)
expect_error(int line, const char *fmt, ...)
{
	char *msg, *full;
	va_list ap;

	va_start(ap, fmt);
	ck_assert_int_ne(vasprintf(&msg, fmt, ap), -1);
	va_end(ap);
	if (line > 0)
		ck_assert_int_ne(asprintf(&full, "%s:%d: %s", conf_path, line,
		    msg), -1);
	else
		ck_assert_int_ne(asprintf(&full, "%s: %s", conf_path, msg), -1);
	ck_assert_msg(cfg == NULL, "config loaded despite: %s", full);
	ck_assert_msg(has_error(full), "expected\n  %s\ngot:%s", full,
	    all_errors());
	free(full);
	free(msg);
}

static void PRINTF_LIKE(2, 3)
expect_error_prefix(int line, const char *fmt, ...)
{
	char *msg, *full;
	va_list ap;

	va_start(ap, fmt);
	ck_assert_int_ne(vasprintf(&msg, fmt, ap), -1);
	va_end(ap);
	ck_assert_int_ne(asprintf(&full, "%s:%d: %s", conf_path, line, msg), -1);
	ck_assert_msg(cfg == NULL, "config loaded despite: %s", full);
	ck_assert_msg(has_error_prefix(full), "expected a line starting\n  %s\n"
	    "got:%s", full, all_errors());
	free(full);
	free(msg);
}

static void
expect_loaded(void)
{
	ck_assert_msg(cfg != NULL, "config refused:%s", all_errors());
	ck_assert_uint_eq(errs.n, 0);
}

/* ---- config texts -------------------------------------------------------- */

/* One service, one key per line; any part may be replaced. */
#define SVC(name, listen, backend, extra) \
	"services = (\n" \
	"  {\n" \
	"    " name "\n" \
	"    " listen "\n" \
	"    " backend "\n" \
	"    " extra "\n" \
	"  }\n" \
	");\n"
#define NAME "name = \"desktop\";"
#define LISTEN "listen = [ \"127.0.0.1:5900\" ];"
#define BACKEND "backend = \"127.0.0.1:5901\";"
#define LISTEN_TYPE "\"listen\" must be a list of addresses: strings, or " \
	"groups { address = \"...\"; ... }"
#define GOOD_SVC SVC(NAME, LISTEN, BACKEND, "")
#define SVC_WITH(extra) SVC(NAME, LISTEN, BACKEND, extra)
/* X509Plain with the password file it needs */
#define PASSWD_FILE "/etc/vencryptd/passwd"
#define PLAIN "subtypes = [ \"X509Plain\" ]; passwd_file = \"" PASSWD_FILE "\";"

/* ---- good configs -------------------------------------------------------- */

START_TEST(test_full_config)
{
	char *dir_a = tmp_path("a"), *dir_b = tmp_path("b"), *text, *p;
	const struct service *s;

	ck_assert_int_eq(mkdir(dir_a, 0700), 0);
	ck_assert_int_eq(mkdir(dir_b, 0700), 0);
	touch(dir_a, "ca-crl.pem");
	ck_assert_int_ne(asprintf(&text,
	    "# vencryptd test config\n"
	    "log = { level = \"debug\"; target = \"syslog\"; };\n"
	    "tls = {\n"
	    "  cert_dir = \"%s\";\n"
	    "  priority = \"SECURE128\";\n"
	    "  resumption = true;\n"
	    "};\n"
	    "limits = { max_clients = 500; handshake_timeout = 30;\n"
	    "  backend_timeout = 7; stall_timeout = 120; shutdown_grace = 45; };\n"
	    "services = (\n"
	    "  { name = \"desktop\";\n"
	    "    listen = [ \"127.0.0.1:5900\",\n"
	    "               \"[::1]:5900\" ];\n"
	    "    backend = \"127.0.0.1:5901\";\n"
	    "    subtypes = [ \"X509None\" ];\n"
	    "    client_cert = \"require\";\n"
	    "    allowed_dn = [ \"CN=*,O=Example,C=GB\",\n"
	    "                   \"CN=admin,O=Example,C=GB\" ];\n"
	    "  },\n"
	    "  { name = \"other.vm_2-x\";\n"
	    "    listen = [ \"0.0.0.0:5910\" ];\n"
	    "    backend = \"unix:/run/vnc/other.sock\";\n"
	    "    tls = {\n"
	    "      cert_dir = \"%s/\";\n"
	    "      key_file = \"/etc/keys/other.pem\";\n"
	    "      priority = \"NORMAL\";\n"
	    "      resumption = false;\n"
	    "    };\n"
	    "  }\n"
	    ");\n", dir_a, dir_b), -1);
	load(text);
	expect_loaded();

	ck_assert_str_eq(cfg->path, conf_path);
	ck_assert_int_eq(cfg->log_level, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(cfg->log_target, LOG_TARGET_SYSLOG);
	ck_assert_uint_eq(cfg->max_clients, 500);
	ck_assert_uint_eq(cfg->handshake_timeout, 30);
	ck_assert_uint_eq(cfg->backend_timeout, 7);
	ck_assert_uint_eq(cfg->stall_timeout, 120);
	ck_assert_uint_eq(cfg->shutdown_grace, 45);

	/* the global block, from cert_dir, with the CRL that exists there */
	ck_assert_int_ne(asprintf(&p, "%s/ca-cert.pem", dir_a), -1);
	ck_assert_str_eq(cfg->tls.ca_file, p);
	free(p);
	ck_assert_int_ne(asprintf(&p, "%s/server-cert.pem", dir_a), -1);
	ck_assert_str_eq(cfg->tls.cert_file, p);
	free(p);
	ck_assert_int_ne(asprintf(&p, "%s/server-key.pem", dir_a), -1);
	ck_assert_str_eq(cfg->tls.key_file, p);
	free(p);
	ck_assert_int_ne(asprintf(&p, "%s/ca-crl.pem", dir_a), -1);
	ck_assert_str_eq(cfg->tls.crl_file, p);
	free(p);
	ck_assert_str_eq(cfg->tls.priority, "SECURE128");
	ck_assert(cfg->tls.resumption);
	ck_assert_str_eq(cfg->tls.file, conf_path);
	ck_assert_int_eq(cfg->tls.line, line_of(text, "tls = {"));

	ck_assert_uint_eq(cfg->nservices, 2);
	s = &cfg->services[0];
	ck_assert_str_eq(s->name, "desktop");
	ck_assert_int_eq(s->line, line_of(text, "{ name = \"desktop\""));
	ck_assert_uint_eq(s->nlisten, 2);
	ck_assert_str_eq(s->listen[0].text, "127.0.0.1:5900");
	ck_assert_int_eq(s->listen[0].line, line_of(text, "\"127.0.0.1:5900\""));
	ck_assert_int_eq(s->listen[0].addr.ss.ss_family, AF_INET);
	ck_assert_str_eq(s->listen[1].text, "[::1]:5900");
	ck_assert_int_eq(s->listen[1].line, line_of(text, "\"[::1]:5900\""));
	ck_assert_int_eq(s->listen[1].addr.ss.ss_family, AF_INET6);
	ck_assert_str_eq(s->backend_text, "127.0.0.1:5901");
	ck_assert_int_eq(s->backend.ss.ss_family, AF_INET);
	ck_assert_uint_eq(s->nsubtypes, 1);
	ck_assert_uint_eq(s->subtypes[0], VENCRYPT_X509NONE);
	ck_assert_int_eq(s->client_cert, CLIENT_CERT_REQUIRE);
	ck_assert_uint_eq(s->nallowed_dn, 2);
	ck_assert_str_eq(s->allowed_dn[0], "CN=*,O=Example,C=GB");
	ck_assert_str_eq(s->allowed_dn[1], "CN=admin,O=Example,C=GB");
	ck_assert_ptr_null(s->creds);
	/* no tls block of its own: the global one, where it was written */
	ck_assert_str_eq(s->tls.ca_file, cfg->tls.ca_file);
	ck_assert_str_eq(s->tls.crl_file, cfg->tls.crl_file);
	ck_assert_str_eq(s->tls.priority, "SECURE128");
	ck_assert(s->tls.resumption);
	ck_assert_int_eq(s->tls.line, line_of(text, "tls = {"));

	s = &cfg->services[1];
	ck_assert_str_eq(s->name, "other.vm_2-x");
	ck_assert_uint_eq(s->nlisten, 1);
	ck_assert_str_eq(s->backend_text, "unix:/run/vnc/other.sock");
	ck_assert_int_eq(s->backend.ss.ss_family, AF_UNIX);
	ck_assert_uint_eq(s->nsubtypes, 1);
	ck_assert_uint_eq(s->subtypes[0], VENCRYPT_X509NONE);
	ck_assert_ptr_null(s->allowed_dn);
	ck_assert_uint_eq(s->nallowed_dn, 0);
	/* its own cert_dir (no CRL there), an explicit key, own priority */
	ck_assert_int_ne(asprintf(&p, "%s/ca-cert.pem", dir_b), -1);
	ck_assert_str_eq(s->tls.ca_file, p);
	free(p);
	ck_assert_int_ne(asprintf(&p, "%s/server-cert.pem", dir_b), -1);
	ck_assert_str_eq(s->tls.cert_file, p);
	free(p);
	ck_assert_str_eq(s->tls.key_file, "/etc/keys/other.pem");
	ck_assert_ptr_null(s->tls.crl_file);
	ck_assert_str_eq(s->tls.priority, "NORMAL");
	ck_assert(!s->tls.resumption);  /* its own block says so */
	ck_assert_str_eq(s->tls.file, conf_path);
	ck_assert_int_eq(s->tls.line, line_of(text, "    tls = {"));

	free(text);
	free(dir_a);
	free(dir_b);
}
END_TEST

START_TEST(test_defaults)
{
	const struct service *s;
	struct stat st;
	bool have_crl = stat(DEFAULT_CERT_DIR "/ca-crl.pem", &st) == 0;

	load(GOOD_SVC);
	expect_loaded();
	ck_assert_int_eq(cfg->log_level, LOG_LEVEL_INFO);
	ck_assert_int_eq(cfg->log_target, LOG_TARGET_STDERR);
	ck_assert_uint_eq(cfg->max_clients, 1024);
	ck_assert_uint_eq(cfg->handshake_timeout, 10);
	ck_assert_uint_eq(cfg->backend_timeout, 5);
	ck_assert_uint_eq(cfg->stall_timeout, 60);
	ck_assert_uint_eq(cfg->max_clients_per_ip, 0);
	ck_assert_uint_eq(cfg->connect_rate_per_ip, 0);
	ck_assert_uint_eq(cfg->idle_timeout, 0);
	ck_assert_uint_eq(cfg->keepalive_idle, 120);
	ck_assert_uint_eq(cfg->keepalive_interval, 30);
	ck_assert_uint_eq(cfg->keepalive_count, 4);
	ck_assert_uint_eq(cfg->shutdown_grace, 30);
	/* one worker per online CPU */
	ck_assert_uint_eq(cfg->workers, config_default_workers());
	ck_assert_uint_ge(cfg->workers, 1);
	ck_assert_uint_le(cfg->workers, CONFIG_MAX_WORKERS);
	ck_assert_str_eq(cfg->tls.ca_file, DEFAULT_CERT_DIR "/ca-cert.pem");
	ck_assert_str_eq(cfg->tls.cert_file, DEFAULT_CERT_DIR "/server-cert.pem");
	ck_assert_str_eq(cfg->tls.key_file, DEFAULT_CERT_DIR "/server-key.pem");
	if (have_crl)
		ck_assert_str_eq(cfg->tls.crl_file, DEFAULT_CERT_DIR "/ca-crl.pem");
	else
		ck_assert_ptr_null(cfg->tls.crl_file);
	ck_assert_str_eq(cfg->tls.priority, DEFAULT_PRIORITY);
	ck_assert(!cfg->tls.resumption);

	ck_assert_uint_eq(cfg->nservices, 1);
	s = &cfg->services[0];
	ck_assert_str_eq(s->name, "desktop");
	ck_assert_int_eq(s->line, 2);
	ck_assert_uint_eq(s->nsubtypes, 1);
	ck_assert_uint_eq(s->subtypes[0], VENCRYPT_X509NONE);
	ck_assert_int_eq(s->client_cert, CLIENT_CERT_REQUIRE);
	ck_assert_ptr_null(s->allowed_dn);
	ck_assert_uint_eq(s->nallowed_dn, 0);
	ck_assert_str_eq(s->tls.ca_file, DEFAULT_CERT_DIR "/ca-cert.pem");
	ck_assert_str_eq(s->tls.key_file, DEFAULT_CERT_DIR "/server-key.pem");
	ck_assert_str_eq(s->tls.priority, DEFAULT_PRIORITY);
	ck_assert(!s->tls.resumption);
	/* no tls block anywhere: errors point at the service */
	ck_assert_str_eq(s->tls.file, conf_path);
	ck_assert_int_eq(s->tls.line, 2);
}
END_TEST

/* Per key: a service's explicit file, else the global explicit file, else
 * the service's cert_dir, else the global cert_dir. */
START_TEST(test_tls_inheritance)
{
	char *dir_b = tmp_path("b"), *text, *p;
	const struct service *s;

	ck_assert_int_eq(mkdir(dir_b, 0700), 0);
	touch(dir_b, "ca-crl.pem");
	ck_assert_int_ne(asprintf(&text,
	    "tls = { cert_dir = \"/srv/a\"; ca_file = \"/srv/ca.pem\"; };\n"
	    "services = (\n"
	    "  { name = \"one\"; listen = [ \"127.0.0.1:5900\" ];\n"
	    "    backend = \"127.0.0.1:5901\"; },\n"
	    "  { name = \"two\"; listen = [ \"127.0.0.1:5902\" ];\n"
	    "    backend = \"127.0.0.1:5903\";\n"
	    "    tls = { cert_dir = \"%s\"; }; },\n"
	    "  { name = \"three\"; listen = [ \"127.0.0.1:5904\" ];\n"
	    "    backend = \"127.0.0.1:5905\";\n"
	    "    tls = { cert_file = \"/srv/three.pem\"; ca_file = \"/srv/ca3.pem\";\n"
	    "            crl_file = \"/srv/crl3.pem\"; }; }\n"
	    ");\n", dir_b), -1);
	load(text);
	expect_loaded();
	ck_assert_uint_eq(cfg->nservices, 3);

	s = &cfg->services[0];
	ck_assert_str_eq(s->tls.ca_file, "/srv/ca.pem");
	ck_assert_str_eq(s->tls.cert_file, "/srv/a/server-cert.pem");
	ck_assert_str_eq(s->tls.key_file, "/srv/a/server-key.pem");
	ck_assert_ptr_null(s->tls.crl_file);
	ck_assert_str_eq(s->tls.priority, DEFAULT_PRIORITY);
	ck_assert_int_eq(s->tls.line, 1);

	s = &cfg->services[1];
	ck_assert_str_eq(s->tls.ca_file, "/srv/ca.pem");
	ck_assert_int_ne(asprintf(&p, "%s/server-cert.pem", dir_b), -1);
	ck_assert_str_eq(s->tls.cert_file, p);
	free(p);
	ck_assert_int_ne(asprintf(&p, "%s/server-key.pem", dir_b), -1);
	ck_assert_str_eq(s->tls.key_file, p);
	free(p);
	ck_assert_int_ne(asprintf(&p, "%s/ca-crl.pem", dir_b), -1);
	ck_assert_str_eq(s->tls.crl_file, p);
	free(p);
	ck_assert_int_eq(s->tls.line, 7);

	s = &cfg->services[2];
	ck_assert_str_eq(s->tls.ca_file, "/srv/ca3.pem");
	ck_assert_str_eq(s->tls.cert_file, "/srv/three.pem");
	ck_assert_str_eq(s->tls.key_file, "/srv/a/server-key.pem");
	ck_assert_str_eq(s->tls.crl_file, "/srv/crl3.pem");
	ck_assert_int_eq(s->tls.line, 10);

	free(text);
	free(dir_b);
}
END_TEST

START_TEST(test_limit_boundaries)
{
	load("limits = { max_clients = 1; handshake_timeout = 1;\n"
	    "  backend_timeout = 1; stall_timeout = 1; shutdown_grace = 0; };\n"
	    GOOD_SVC);
	expect_loaded();
	ck_assert_uint_eq(cfg->max_clients, 1);
	ck_assert_uint_eq(cfg->handshake_timeout, 1);
	ck_assert_uint_eq(cfg->backend_timeout, 1);
	ck_assert_uint_eq(cfg->stall_timeout, 1);
	ck_assert_uint_eq(cfg->shutdown_grace, 0);
	teardown();
	setup();

	load("limits = { max_clients = 1000000; handshake_timeout = 3600;\n"
	    "  backend_timeout = 3600; stall_timeout = 3600;\n"
	    "  shutdown_grace = 86400; };\n" GOOD_SVC);
	expect_loaded();
	ck_assert_uint_eq(cfg->max_clients, 1000000);
	ck_assert_uint_eq(cfg->handshake_timeout, 3600);
	ck_assert_uint_eq(cfg->backend_timeout, 3600);
	ck_assert_uint_eq(cfg->stall_timeout, 3600);
	ck_assert_uint_eq(cfg->shutdown_grace, 86400);
	teardown();
	setup();

	load("limits = { max_clients_per_ip = 0; connect_rate_per_ip = 0;\n"
	    "  idle_timeout = 0; };\n"
	    "keepalive = { idle = 0; interval = 1; count = 1; };\n" GOOD_SVC);
	expect_loaded();
	ck_assert_uint_eq(cfg->max_clients_per_ip, 0);
	ck_assert_uint_eq(cfg->connect_rate_per_ip, 0);
	ck_assert_uint_eq(cfg->idle_timeout, 0);
	ck_assert_uint_eq(cfg->keepalive_idle, 0);
	ck_assert_uint_eq(cfg->keepalive_interval, 1);
	ck_assert_uint_eq(cfg->keepalive_count, 1);
	teardown();
	setup();

	load("limits = { max_clients_per_ip = 1000000;\n"
	    "  connect_rate_per_ip = 1000000; idle_timeout = 604800; };\n"
	    "keepalive = { idle = 86400; interval = 3600; count = 100; };\n"
	    GOOD_SVC);
	expect_loaded();
	ck_assert_uint_eq(cfg->max_clients_per_ip, 1000000);
	ck_assert_uint_eq(cfg->connect_rate_per_ip, 1000000);
	ck_assert_uint_eq(cfg->idle_timeout, 604800);
	ck_assert_uint_eq(cfg->keepalive_idle, 86400);
	ck_assert_uint_eq(cfg->keepalive_interval, 3600);
	ck_assert_uint_eq(cfg->keepalive_count, 100);
	teardown();
	setup();

	/* a 64-bit literal in range is still a number */
	load("limits = { max_clients = 2000L; };\n" GOOD_SVC);
	expect_loaded();
	ck_assert_uint_eq(cfg->max_clients, 2000);
	teardown();
	setup();

	load("workers = 1;\n" GOOD_SVC);
	expect_loaded();
	ck_assert_uint_eq(cfg->workers, 1);
	teardown();
	setup();

	load(GOOD_SVC "workers = 256;\n");
	expect_loaded();
	ck_assert_uint_eq(cfg->workers, 256);
	teardown();
	setup();

	/* user alone: its primary group; group then overrides it */
	load("user = \"nobody\";\npid_file = \"/run/v.pid\";\n" GOOD_SVC);
	expect_loaded();
	ck_assert_str_eq(cfg->user, "nobody");
	ck_assert_ptr_null(cfg->group);
	ck_assert_uint_eq(cfg->uid, getpwnam("nobody")->pw_uid);
	ck_assert_uint_eq(cfg->gid, getpwnam("nobody")->pw_gid);
	ck_assert_str_eq(cfg->pid_file, "/run/v.pid");
	teardown();
	setup();

	load("group = \"root\";\nuser = \"nobody\";\n" GOOD_SVC);
	expect_loaded();
	ck_assert_uint_eq(cfg->gid, 0);
	ck_assert_uint_eq(cfg->uid, getpwnam("nobody")->pw_uid);
}
END_TEST

START_TEST(test_log_names)
{
	static const struct {
		const char *level;
		enum log_level value;
	} levels[] = {
		{ "error", LOG_LEVEL_ERROR },
		{ "warning", LOG_LEVEL_WARNING },
		{ "notice", LOG_LEVEL_NOTICE },
		{ "info", LOG_LEVEL_INFO },
		{ "debug", LOG_LEVEL_DEBUG },
	};
	char *text;

	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		ck_assert_int_ne(asprintf(&text, "log = { level = \"%s\"; "
		    "target = \"stderr\"; };\n" GOOD_SVC, levels[i].level), -1);
		load(text);
		expect_loaded();
		ck_assert_int_eq(cfg->log_level, levels[i].value);
		ck_assert_int_eq(cfg->log_target, LOG_TARGET_STDERR);
		free(text);
		teardown();
		setup();
	}
}
END_TEST

/* Port 0 ("any free port", as the end-to-end tests use) never clashes. */
START_TEST(test_port_zero_twice)
{
	load("services = (\n"
	    "  { name = \"a\"; listen = [ \"127.0.0.1:0\", \"127.0.0.1:0\" ];\n"
	    "    backend = \"127.0.0.1:5901\"; },\n"
	    "  { name = \"b\"; listen = [ \"127.0.0.1:0\" ];\n"
	    "    backend = \"127.0.0.1:5901\"; }\n"
	    ");\n");
	expect_loaded();
	ck_assert_uint_eq(cfg->services[0].nlisten, 2);
	ck_assert_uint_eq(cfg->services[1].nlisten, 1);
}
END_TEST

/* Listen entries as groups, with the service's PROXY settings as their
 * defaults (given after listen, to show the order does not matter). */
START_TEST(test_listen_groups)
{
	static const char text[] =
	    "services = (\n"
	    "  { name = \"a\";\n"
	    "    listen = ( \"127.0.0.1:5900\",\n"
	    "      { address = \"[::1]:5900\"; proxy_protocol = \"v1\";\n"
	    "        trusted_proxies = [ \"::1\" ]; },\n"
	    "      { address = \"unix:/run/vencryptd/a.sock\"; mode = \"0660\";\n"
	    "        owner = \"root\"; group = \"root\"; },\n"
	    "      { address = \"*:5901\"; proxy_protocol = \"none\"; } );\n"
	    "    backend = \"127.0.0.1:5999\";\n"
	    "    proxy_protocol = \"v2\";\n"
	    "    trusted_proxies = [ \"10.0.0.0/8\", \"192.0.2.7\" ]; },\n"
	    "  { name = \"b\"; listen = [ \"unix:/run/vencryptd/b.sock\" ];\n"
	    "    backend = \"127.0.0.1:5999\"; }\n"
	    ");\n";
	const struct service *a, *b;
	struct net_addr at[2], peer;
	char buf[NET_ADDRSTRLEN];

	load(text);
	expect_loaded();
	a = &cfg->services[0];
	b = &cfg->services[1];
	ck_assert_uint_eq(a->nlisten, 4);
	/* a string: the service's v2 and its ranges */
	ck_assert_int_eq(a->listen[0].proxy, PROXY_MODE_V2);
	ck_assert_uint_eq(a->listen[0].ntrusted, 2);
	ck_assert_int_eq(a->listen[0].mode, -1);
	ck_assert(a->listen[0].uid == (uid_t)-1 && a->listen[0].gid == (gid_t)-1);
	ck_assert_int_eq(net_parse_addr("10.9.8.7:1", 0, &peer), NET_PARSE_OK);
	ck_assert(listen_conf_trusts(&a->listen[0], &peer));
	ck_assert_int_eq(net_parse_addr("192.0.2.8:1", 0, &peer), NET_PARSE_OK);
	ck_assert(!listen_conf_trusts(&a->listen[0], &peer));
	/* its own settings */
	ck_assert_int_eq(a->listen[1].proxy, PROXY_MODE_V1);
	ck_assert_uint_eq(a->listen[1].ntrusted, 1);
	ck_assert_int_eq(a->listen[1].line, line_of(text, "[::1]:5900"));
	/* unix: mode, owner, group; every peer may send the header */
	ck_assert_str_eq(a->listen[2].text, "unix:/run/vencryptd/a.sock");
	ck_assert_int_eq(a->listen[2].addr.ss.ss_family, AF_UNIX);
	ck_assert_int_eq(a->listen[2].mode, 0660);
	ck_assert(a->listen[2].uid == 0 && a->listen[2].gid == 0);
	ck_assert(listen_conf_trusts(&a->listen[2], &a->listen[2].addr));
	/* *:PORT stands for two addresses, and sends no header */
	ck_assert(a->listen[3].all);
	ck_assert_int_eq(a->listen[3].proxy, PROXY_MODE_NONE);
	ck_assert(!listen_conf_trusts(&a->listen[3], &peer));
	ck_assert_uint_eq(listen_conf_addrs(&a->listen[3], at), 2);
	net_format_addr(&at[0], buf, sizeof buf);
	ck_assert_str_eq(buf, "0.0.0.0:5901");
	net_format_addr(&at[1], buf, sizeof buf);
	ck_assert_str_eq(buf, "[::]:5901");
	/* the default: no PROXY header */
	ck_assert_int_eq(b->listen[0].proxy, PROXY_MODE_NONE);
	ck_assert_uint_eq(b->listen[0].ntrusted, 0);
	ck_assert(!listen_conf_trusts(&b->listen[0], &b->listen[0].addr));
}
END_TEST

/* Every listen entry problem, each at its own line. */
START_TEST(test_listen_group_errors)
{
	static const char text[] =
	    "services = (\n"
	    "  { name = \"a\";\n"
	    "    listen = (\n"
	    "      { address = \"127.0.0.1:5900\"; proxy_protocol = \"v2\"; },\n"
	    "      { address = \"127.0.0.1:5901\"; mode = \"0660\"; },\n"
	    "      { address = \"unix:/run/a.sock\"; mode = \"0980\"; },\n"
	    "      { address = \"unix:/run/b.sock\";\n"
	    "        owner = \"no-such-user-here\"; },\n"
	    "      { address = \"unix:/run/c.sock\";\n"
	    "        group = \"no-such-group-here\"; },\n"
	    "      { address = \"127.0.0.1:5902\"; proxy_protocol = \"v3\";\n"
	    "        trusted_proxies = [ \"10.0.0.0/8\" ]; },\n"
	    "      { address = \"127.0.0.1:5903\"; proxy_protocol = \"v1\";\n"
	    "        trusted_proxies = [ \"10.0.0.0/33\", \"host\" ]; },\n"
	    "      { address = \"127.0.0.1:5904\"; port = 1; },\n"
	    "      { proxy_protocol = \"v1\"; },\n"
	    "      { address = \"unix:/run/d.sock\"; proxy_protocol = \"v1\";\n"
	    "        trusted_proxies = [ \"10.0.0.0/8\" ]; },\n"
	    "      { address = \"*:5905\"; },\n"
	    "      \"[::]:5905\",\n"
	    "      \"unix:/run/a.sock\",\n"
	    "      \"*:99999\" );\n"
	    "    backend = \"127.0.0.1:5999\"; }\n"
	    ");\n";

	load(text);
	expect_error(4, "listen address \"127.0.0.1:5900\" has proxy_protocol "
	    "\"v2\" but no trusted_proxies: say which addresses may send a "
	    "PROXY header");
	expect_error(5, "\"mode\" is only for unix: listeners, not "
	    "\"127.0.0.1:5901\"");
	expect_error(6, "\"mode\" must be octal permissions such as \"0660\", "
	    "not \"0980\"");
	expect_error(8, "unknown user \"no-such-user-here\"");
	expect_error(10, "unknown group \"no-such-group-here\"");
	expect_error(11, "unknown proxy_protocol \"v3\" (valid: none, v1, v2)");
	expect_error(14, "bad trusted_proxies entry \"10.0.0.0/33\": %s",
	    cidr_result_str(CIDR_BAD_PREFIX));
	expect_error(14, "bad trusted_proxies entry \"host\": %s",
	    cidr_result_str(CIDR_BAD_ADDRESS));
	expect_error(15, "unknown key \"port\" in a listen entry");
	expect_error(16, "missing \"address\" in a listen entry");
	expect_error(18, "trusted_proxies does not apply to unix: listener "
	    "\"unix:/run/d.sock\": the socket's mode decides who may connect");
	expect_error(20, "listen address \"[::]:5905\" duplicates \"*:5905\" "
	    "at line 19");
	expect_error(21, "listen address \"unix:/run/a.sock\" duplicates "
	    "\"unix:/run/a.sock\" at line 6");
	expect_error(22, "bad listen address \"*:99999\": %s",
	    net_parse_result_str(NET_PARSE_BAD_PORT));
	ck_assert_msg(errs.n == 14, "expected 14 errors, got:%s", all_errors());
}
END_TEST

START_TEST(test_include)
{
	char *inc = tmp_path("services.conf"), *main_conf = tmp_path("main.conf");

	write_file(inc,
	    "services = (\n"
	    "  { name = \"desktop\"; listen = [ \"127.0.0.1:5900\" ];\n"
	    "    backend = \"127.0.0.1:5901\";\n"
	    "    tls = { priority = \"NORMAL\"; };\n"
	    "  }\n"
	    ");\n");
	/* relative to the directory of the including file */
	write_file(main_conf,
	    "log = { level = \"info\"; };\n"
	    "@include \"services.conf\"\n");
	cfg = config_load(main_conf, &errs);
	expect_loaded();
	ck_assert_str_eq(cfg->services[0].tls.file, inc);
	ck_assert_int_eq(cfg->services[0].tls.line, 4);
	config_free(cfg);
	cfg = NULL;

	write_file(inc, "\nlimits = { max_clients = 0; };\n" GOOD_SVC);
	ck_assert_ptr_null(config_load(main_conf, &errs));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_int_eq(strncmp(errs.lines[0], inc, strlen(inc)), 0);
	ck_assert_str_eq(errs.lines[0] + strlen(inc),
	    ":2: \"max_clients\" must be between 1 and 1000000, not 0");
	config_errors_free(&errs);

	/* a syntax error inside the included file */
	write_file(inc, "limits = {\n  max_clients = ;\n};\n");
	ck_assert_ptr_null(config_load(main_conf, &errs));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_int_eq(strncmp(errs.lines[0], inc, strlen(inc)), 0);
	ck_assert_int_eq(strncmp(errs.lines[0] + strlen(inc), ":2: ", 4), 0);
	free(inc);
	free(main_conf);
}
END_TEST

/* X509Plain with its password file and users, and the subtypes kept in the
 * order written (the order they are offered in). */
START_TEST(test_plain_service)
{
	static const char text[] =
	    SVC_WITH("subtypes = [ \"X509Plain\", \"X509None\" ];\n"
	    "    passwd_file = \"" PASSWD_FILE "\";\n"
	    "    allowed_users = [ \"alice\", \"bob smith\" ];");
	const struct service *s;

	load(text);
	expect_loaded();
	s = &cfg->services[0];
	ck_assert_uint_eq(s->nsubtypes, 2);
	ck_assert_uint_eq(s->subtypes[0], VENCRYPT_X509PLAIN);
	ck_assert_uint_eq(s->subtypes[1], VENCRYPT_X509NONE);
	ck_assert(service_offers(s, VENCRYPT_X509PLAIN));
	ck_assert(service_offers(s, VENCRYPT_X509NONE));
	ck_assert(!service_offers(s, VENCRYPT_X509VNC));
	ck_assert(!service_offers(s, VENCRYPT_PLAIN));
	ck_assert_str_eq(s->passwd_file, PASSWD_FILE);
	ck_assert_int_eq(s->passwd_line, line_of(text, "passwd_file"));
	ck_assert_uint_eq(s->nallowed_users, 2);
	ck_assert_str_eq(s->allowed_users[0], "alice");
	ck_assert_str_eq(s->allowed_users[1], "bob smith");
	ck_assert_int_eq(s->allowed_users_line, line_of(text, "allowed_users"));
	ck_assert_int_eq(s->client_cert, CLIENT_CERT_REQUIRE);
	ck_assert(!s->allow_unauthenticated);
	ck_assert(!service_is_open(s));
	/* loaded by config_load_credentials(), not before */
	ck_assert_ptr_null(s->passwd);
	ck_assert_ptr_null(s->creds);
	teardown();
	setup();

	/* the other order, and no allowed_users: every user in the file */
	load(SVC_WITH("subtypes = [ \"X509None\", \"X509Plain\" ];\n"
	    "    passwd_file = \"" PASSWD_FILE "\";"));
	expect_loaded();
	s = &cfg->services[0];
	ck_assert_uint_eq(s->nsubtypes, 2);
	ck_assert_uint_eq(s->subtypes[0], VENCRYPT_X509NONE);
	ck_assert_uint_eq(s->subtypes[1], VENCRYPT_X509PLAIN);
	ck_assert_ptr_null(s->allowed_users);
	ck_assert_uint_eq(s->nallowed_users, 0);
	teardown();
	setup();

	/* a service without X509Plain has no password settings */
	load(GOOD_SVC);
	expect_loaded();
	s = &cfg->services[0];
	ck_assert(!service_offers(s, VENCRYPT_X509PLAIN));
	ck_assert_ptr_null(s->passwd_file);
	ck_assert_ptr_null(s->allowed_users);
	ck_assert(!s->allow_unauthenticated);
}
END_TEST

/* A user name of PASSWD_USER_MAX bytes is still a user name. */
START_TEST(test_longest_allowed_user)
{
	char name[PASSWD_USER_MAX + 1], *text;

	memset(name, 'u', PASSWD_USER_MAX);
	name[PASSWD_USER_MAX] = '\0';
	ck_assert_int_ne(asprintf(&text, SVC_WITH(PLAIN
	    " allowed_users = [ \"%s\" ];"), name), -1);
	load(text);
	expect_loaded();
	ck_assert_uint_eq(cfg->services[0].nallowed_users, 1);
	ck_assert_str_eq(cfg->services[0].allowed_users[0], name);
	free(text);
}
END_TEST

/* Each client_cert mode with the subtypes it may go with, and whether the
 * service lets a client in with neither certificate nor password. */
static const struct mode_case {
	const char *extra;
	enum client_cert_mode mode;
	bool unauthenticated;
	bool open;
} mode_cases[] = {
	{ "client_cert = \"require\";", CLIENT_CERT_REQUIRE, false, false },
	{ "client_cert = \"require\"; allow_unauthenticated = true;",
	    CLIENT_CERT_REQUIRE, true, false },
	{ "client_cert = \"optional\";", CLIENT_CERT_OPTIONAL, false, false },
	{ "client_cert = \"optional\"; allow_unauthenticated = true;",
	    CLIENT_CERT_OPTIONAL, true, true },
	{ "client_cert = \"optional\"; " PLAIN, CLIENT_CERT_OPTIONAL, false,
	    false },
	{ "client_cert = \"none\"; " PLAIN, CLIENT_CERT_NONE, false, false },
	{ "client_cert = \"none\"; allow_unauthenticated = true;",
	    CLIENT_CERT_NONE, true, true },
	{ "client_cert = \"none\"; allow_unauthenticated = false; " PLAIN,
	    CLIENT_CERT_NONE, false, false },
	{ "client_cert = \"none\"; allow_unauthenticated = true; " PLAIN,
	    CLIENT_CERT_NONE, true, false },
	{ "client_cert = \"none\"; allow_unauthenticated = true;\n"
	    "    subtypes = [ \"X509Plain\", \"X509None\" ];\n"
	    "    passwd_file = \"" PASSWD_FILE "\";",
	    CLIENT_CERT_NONE, true, true },
};

START_TEST(test_mode_case)
{
	const struct mode_case *c = &mode_cases[_i];
	char *text;
	const struct service *s;

	ck_assert_int_ne(asprintf(&text, SVC_WITH("%s"), c->extra), -1);
	load(text);
	expect_loaded();
	s = &cfg->services[0];
	ck_assert_int_eq(s->client_cert, c->mode);
	ck_assert_int_eq(s->allow_unauthenticated, c->unauthenticated);
	ck_assert_msg(service_is_open(s) == c->open, "%s: service_is_open "
	    "should be %d", c->extra, c->open);
	free(text);
}
END_TEST

/* Relative file names are taken from the configuration file's directory,
 * not from wherever the daemon happens to run. */
START_TEST(test_relative_paths)
{
	const char *dir = make_tmp_dir();
	char *pki = tmp_path("pki"), *p, *q, *cwd;
	const struct service *s;

	ck_assert_int_eq(mkdir(pki, 0700), 0);
	touch(pki, "ca-crl.pem");
	conf_path = tmp_path("vencryptd.conf");
	write_file(conf_path,
	    "tls = { cert_dir = \"pki\"; };\n"
	    "services = (\n"
	    "  { name = \"a\"; listen = [ \"127.0.0.1:5900\" ];\n"
	    "    backend = \"127.0.0.1:5901\";\n"
	    "    subtypes = [ \"X509Plain\" ]; passwd_file = \"users/passwd\";\n"
	    "    tls = { ca_file = \"ca/other.pem\"; key_file = \"/k/a.pem\"; };\n"
	    "  },\n"
	    "  { name = \"b\"; listen = [ \"127.0.0.1:5902\" ];\n"
	    "    backend = \"127.0.0.1:5903\";\n"
	    "    tls = { cert_dir = \"b-pki/\"; crl_file = \"../crl.pem\"; };\n"
	    "  }\n"
	    ");\n");
	/* run from elsewhere, so a name taken from the current directory
	 * would show */
	cwd = getcwd(NULL, 0);
	ck_assert_ptr_nonnull(cwd);
	ck_assert_int_eq(chdir("/"), 0);
	cfg = config_load(conf_path, &errs);
	ck_assert_int_eq(chdir(cwd), 0);
	free(cwd);
	expect_loaded();

	/* the global cert_dir, and the CRL found there */
	ck_assert_int_ne(asprintf(&p, "%s/ca-cert.pem", pki), -1);
	ck_assert_str_eq(cfg->tls.ca_file, p);
	free(p);
	ck_assert_int_ne(asprintf(&p, "%s/ca-crl.pem", pki), -1);
	ck_assert_str_eq(cfg->tls.crl_file, p);
	free(p);

	s = &cfg->services[0];
	ck_assert_int_ne(asprintf(&p, "%s/users/passwd", dir), -1);
	ck_assert_str_eq(s->passwd_file, p);
	free(p);
	ck_assert_int_ne(asprintf(&p, "%s/ca/other.pem", dir), -1);
	ck_assert_str_eq(s->tls.ca_file, p);
	free(p);
	ck_assert_int_ne(asprintf(&p, "%s/server-cert.pem", pki), -1);
	ck_assert_str_eq(s->tls.cert_file, p);
	free(p);
	ck_assert_str_eq(s->tls.key_file, "/k/a.pem");      /* absolute: as is */

	s = &cfg->services[1];
	ck_assert_int_ne(asprintf(&p, "%s/b-pki/server-cert.pem", dir), -1);
	ck_assert_str_eq(s->tls.cert_file, p);
	free(p);
	ck_assert_int_ne(asprintf(&q, "%s/../crl.pem", dir), -1);
	ck_assert_str_eq(s->tls.crl_file, q);
	free(q);
	free(pki);
}
END_TEST

/* The last reference frees the configuration (ASan tells a leak or a use
 * after free). */
START_TEST(test_ref_unref)
{
	struct config *held;

	load(GOOD_SVC);
	expect_loaded();
	ck_assert_uint_eq(cfg->refs, 1);
	held = config_ref(cfg);
	ck_assert_ptr_eq(held, cfg);
	ck_assert_uint_eq(cfg->refs, 2);
	config_unref(cfg);
	cfg = NULL;
	ck_assert_uint_eq(held->refs, 1);
	ck_assert_str_eq(held->services[0].name, "desktop");
	config_unref(held);
	config_unref(NULL);
}
END_TEST

/* ---- one error each ------------------------------------------------------ */

struct bad_case {
	const char *text;
	const char *marker;     /* the offending setting's line holds this */
	const char *msg;        /* what follows "file:line: " */
};

static const struct bad_case bad_cases[] = {
	/* wrong types */
	{ "log = 5;\n" GOOD_SVC, "log", "\"log\" must be a group { ... }" },
	{ "log = { level = 3; };\n" GOOD_SVC, "level",
	    "\"level\" must be a string" },
	{ "log = { target = true; };\n" GOOD_SVC, "target",
	    "\"target\" must be a string" },
	{ "tls = \"/etc/pki\";\n" GOOD_SVC, "tls",
	    "\"tls\" must be a group { ... }" },
	{ "tls = {\n cert_dir = 1;\n};\n" GOOD_SVC, "cert_dir",
	    "\"cert_dir\" must be a string" },
	{ "tls = {\n ca_file = [ \"a\" ];\n};\n" GOOD_SVC, "ca_file",
	    "\"ca_file\" must be a string" },
	{ "tls = {\n cert_file = 1.0;\n};\n" GOOD_SVC, "cert_file",
	    "\"cert_file\" must be a string" },
	{ "tls = {\n key_file = false;\n};\n" GOOD_SVC, "key_file",
	    "\"key_file\" must be a string" },
	{ "tls = {\n crl_file = { };\n};\n" GOOD_SVC, "crl_file",
	    "\"crl_file\" must be a string" },
	{ "tls = {\n priority = 1;\n};\n" GOOD_SVC, "priority",
	    "\"priority\" must be a string" },
	{ "tls = {\n resumption = \"yes\";\n};\n" GOOD_SVC, "resumption",
	    "\"resumption\" must be true or false" },
	{ "tls = {\n resumption = 1;\n};\n" GOOD_SVC, "resumption",
	    "\"resumption\" must be true or false" },
	{ "limits = [ 1 ];\n" GOOD_SVC, "limits",
	    "\"limits\" must be a group { ... }" },
	{ "limits = {\n max_clients = \"10\";\n};\n" GOOD_SVC, "max_clients",
	    "\"max_clients\" must be an integer" },
	{ "\nuser = \"no-such-user-vencryptd\";\n" GOOD_SVC, "user",
	    "unknown user \"no-such-user-vencryptd\"" },
	{ "\ngroup = \"no-such-group-vencryptd\";\n" GOOD_SVC, "group",
	    "unknown group \"no-such-group-vencryptd\"" },
	{ "\nuser = \"\";\n" GOOD_SVC, "user", "\"user\" must not be empty" },
	{ "\ngroup = 0;\n" GOOD_SVC, "group", "\"group\" must be a string" },
	{ "\npid_file = \"run/v.pid\";\n" GOOD_SVC, "pid_file",
	    "\"pid_file\" must be an absolute path, not \"run/v.pid\"" },
	{ "\nworkers = \"two\";\n" GOOD_SVC, "workers",
	    "\"workers\" must be an integer" },
	{ "\nworkers = 0;\n" GOOD_SVC, "workers",
	    "\"workers\" must be between 1 and 256, not 0" },
	{ "\nworkers = 257;\n" GOOD_SVC, "workers",
	    "\"workers\" must be between 1 and 256, not 257" },
	{ "\nworkers = 2.0;\n" GOOD_SVC, "workers",
	    "\"workers\" must be an integer" },
	{ "limits = {\n handshake_timeout = 1.5;\n};\n" GOOD_SVC,
	    "handshake_timeout", "\"handshake_timeout\" must be an integer" },
	{ "limits = {\n backend_timeout = true;\n};\n" GOOD_SVC,
	    "backend_timeout", "\"backend_timeout\" must be an integer" },
	{ "limits = {\n stall_timeout = \"60\";\n};\n" GOOD_SVC,
	    "stall_timeout", "\"stall_timeout\" must be an integer" },
	{ "limits = {\n idle_timeout = 1.5;\n};\n" GOOD_SVC,
	    "idle_timeout", "\"idle_timeout\" must be an integer" },
	{ "limits = {\n max_clients_per_ip = \"8\";\n};\n" GOOD_SVC,
	    "max_clients_per_ip", "\"max_clients_per_ip\" must be an integer" },
	{ "limits = {\n connect_rate_per_ip = false;\n};\n" GOOD_SVC,
	    "connect_rate_per_ip",
	    "\"connect_rate_per_ip\" must be an integer" },
	{ "keepalive = [ 1 ];\n" GOOD_SVC, "keepalive",
	    "\"keepalive\" must be a group { ... }" },
	{ "keepalive = {\n idle = \"120\";\n};\n" GOOD_SVC, "idle",
	    "\"idle\" must be an integer" },
	{ "services = { name = \"x\"; };\n", "services",
	    "\"services\" must be a list of groups ( { ... }, ... )" },
	{ "services = [ \"x\" ];\n", "services",
	    "\"services\" must be a list of groups ( { ... }, ... )" },
	{ "services = (\n 5\n);\n", "5",
	    "each entry of \"services\" must be a group { ... }" },
	{ SVC("name = 5;", LISTEN, BACKEND, ""), "name",
	    "\"name\" must be a string" },
	{ SVC(NAME, "listen = \"127.0.0.1:5900\";", BACKEND, ""), "listen",
	    LISTEN_TYPE },
	{ SVC(NAME, "listen = [ 5900 ];", BACKEND, ""), "listen", LISTEN_TYPE },
	{ SVC(NAME, "listen = ( \"127.0.0.1:5900\", 5 );", BACKEND, ""),
	    "listen", LISTEN_TYPE },
	{ SVC(NAME, LISTEN, "backend = 5901;", ""), "backend",
	    "\"backend\" must be a string" },
	{ SVC_WITH("subtypes = \"X509None\";"), "subtypes",
	    "\"subtypes\" must be an array of strings [ ... ]" },
	{ SVC_WITH("client_cert = true;"), "client_cert",
	    "\"client_cert\" must be a string" },
	{ SVC_WITH("allowed_dn = \"CN=x\";"), "allowed_dn",
	    "\"allowed_dn\" must be an array of strings [ ... ]" },
	{ SVC_WITH("tls = \"x\";"), "tls", "\"tls\" must be a group { ... }" },
	{ SVC_WITH("tls = { priority = 1; };"), "tls",
	    "\"priority\" must be a string" },
	{ SVC_WITH("tls = { resumption = \"on\"; };"), "tls",
	    "\"resumption\" must be true or false" },

	/* unknown keys, at every level */
	{ "foo = 1;\n" GOOD_SVC, "foo", "unknown key \"foo\" at top level" },
	{ "log = {\n level = \"info\";\n colour = true;\n};\n" GOOD_SVC,
	    "colour", "unknown key \"colour\" in log" },
	{ "tls = {\n cafile = \"x\";\n};\n" GOOD_SVC, "cafile",
	    "unknown key \"cafile\" in tls" },
	{ "limits = {\n max_client = 5;\n};\n" GOOD_SVC, "max_client",
	    "unknown key \"max_client\" in limits" },
	{ "keepalive = {\n probes = 5;\n};\n" GOOD_SVC, "probes",
	    "unknown key \"probes\" in keepalive" },
	{ SVC_WITH("port = 5900;"), "port",
	    "unknown key \"port\" in service \"desktop\"" },
	{ SVC_WITH("tls = { dir = \"/x\"; };"), "dir",
	    "unknown key \"dir\" in tls of service \"desktop\"" },

	/* numbers out of range */
	{ "limits = {\n max_clients = 0;\n};\n" GOOD_SVC, "max_clients",
	    "\"max_clients\" must be between 1 and 1000000, not 0" },
	{ "limits = {\n max_clients = 1000001;\n};\n" GOOD_SVC, "max_clients",
	    "\"max_clients\" must be between 1 and 1000000, not 1000001" },
	{ "limits = {\n max_clients = -1;\n};\n" GOOD_SVC, "max_clients",
	    "\"max_clients\" must be between 1 and 1000000, not -1" },
	{ "limits = {\n max_clients = 5000000000L;\n};\n" GOOD_SVC,
	    "max_clients",
	    "\"max_clients\" must be between 1 and 1000000, not 5000000000" },
	{ "limits = {\n handshake_timeout = 0;\n};\n" GOOD_SVC,
	    "handshake_timeout",
	    "\"handshake_timeout\" must be between 1 and 3600, not 0" },
	{ "limits = {\n handshake_timeout = 3601;\n};\n" GOOD_SVC,
	    "handshake_timeout",
	    "\"handshake_timeout\" must be between 1 and 3600, not 3601" },
	{ "limits = {\n backend_timeout = 0;\n};\n" GOOD_SVC,
	    "backend_timeout",
	    "\"backend_timeout\" must be between 1 and 3600, not 0" },
	{ "limits = {\n backend_timeout = 3601;\n};\n" GOOD_SVC,
	    "backend_timeout",
	    "\"backend_timeout\" must be between 1 and 3600, not 3601" },
	{ "limits = {\n stall_timeout = 0;\n};\n" GOOD_SVC,
	    "stall_timeout",
	    "\"stall_timeout\" must be between 1 and 3600, not 0" },
	{ "limits = {\n stall_timeout = 3601;\n};\n" GOOD_SVC,
	    "stall_timeout",
	    "\"stall_timeout\" must be between 1 and 3600, not 3601" },
	{ "limits = {\n stall_timeout = -5;\n};\n" GOOD_SVC,
	    "stall_timeout",
	    "\"stall_timeout\" must be between 1 and 3600, not -5" },
	{ "limits = {\n max_clients_per_ip = 1000001;\n};\n" GOOD_SVC,
	    "max_clients_per_ip", "\"max_clients_per_ip\" must be between 0 "
	    "and 1000000, not 1000001" },
	{ "limits = {\n max_clients_per_ip = -1;\n};\n" GOOD_SVC,
	    "max_clients_per_ip", "\"max_clients_per_ip\" must be between 0 "
	    "and 1000000, not -1" },
	{ "limits = {\n connect_rate_per_ip = 1000001;\n};\n" GOOD_SVC,
	    "connect_rate_per_ip", "\"connect_rate_per_ip\" must be between 0 "
	    "and 1000000, not 1000001" },
	{ "limits = {\n connect_rate_per_ip = -3;\n};\n" GOOD_SVC,
	    "connect_rate_per_ip", "\"connect_rate_per_ip\" must be between 0 "
	    "and 1000000, not -3" },
	{ "limits = {\n idle_timeout = 604801;\n};\n" GOOD_SVC,
	    "idle_timeout",
	    "\"idle_timeout\" must be between 0 and 604800, not 604801" },
	{ "limits = {\n idle_timeout = -1;\n};\n" GOOD_SVC,
	    "idle_timeout",
	    "\"idle_timeout\" must be between 0 and 604800, not -1" },
	{ "keepalive = {\n idle = 86401;\n};\n" GOOD_SVC, "idle",
	    "\"idle\" must be between 0 and 86400, not 86401" },
	{ "keepalive = {\n interval = 0;\n};\n" GOOD_SVC, "interval",
	    "\"interval\" must be between 1 and 3600, not 0" },
	{ "keepalive = {\n interval = 3601;\n};\n" GOOD_SVC, "interval",
	    "\"interval\" must be between 1 and 3600, not 3601" },
	{ "keepalive = {\n count = 0;\n};\n" GOOD_SVC, "count",
	    "\"count\" must be between 1 and 100, not 0" },
	{ "keepalive = {\n count = 101;\n};\n" GOOD_SVC, "count",
	    "\"count\" must be between 1 and 100, not 101" },
	{ "limits = {\n shutdown_grace = 86401;\n};\n" GOOD_SVC,
	    "shutdown_grace",
	    "\"shutdown_grace\" must be between 0 and 86400, not 86401" },
	{ "limits = {\n shutdown_grace = -1;\n};\n" GOOD_SVC,
	    "shutdown_grace",
	    "\"shutdown_grace\" must be between 0 and 86400, not -1" },
	{ "limits = {\n shutdown_grace = 1.5;\n};\n" GOOD_SVC,
	    "shutdown_grace", "\"shutdown_grace\" must be an integer" },

	/* log names */
	{ "log = {\n level = \"verbose\";\n};\n" GOOD_SVC, "level",
	    "unknown log level \"verbose\" (valid: error, warning, notice, "
	    "info, debug)" },
	{ "log = {\n target = \"file\";\n};\n" GOOD_SVC, "target",
	    "unknown log target \"file\" (valid: stderr, syslog)" },

	/* empty strings where a file is needed */
	{ "tls = {\n cert_dir = \"\";\n};\n" GOOD_SVC, "cert_dir",
	    "\"cert_dir\" must not be empty" },
	{ SVC_WITH("tls = { key_file = \"\"; };"), "tls",
	    "\"key_file\" must not be empty" },

	/* missing or empty required keys */
	{ "services = ( );\n", "services", "\"services\" must not be empty" },
	{ SVC("", LISTEN, BACKEND, ""), "{",
	    "missing \"name\" in service #1" },
	{ SVC(NAME, "", BACKEND, ""), "{",
	    "missing \"listen\" in service \"desktop\"" },
	{ SVC(NAME, LISTEN, "", ""), "{",
	    "missing \"backend\" in service \"desktop\"" },
	{ SVC("name = \"\";", LISTEN, BACKEND, ""), "name",
	    "\"name\" must not be empty" },
	{ SVC(NAME, "listen = [ ];", BACKEND, ""), "listen",
	    "\"listen\" must not be empty" },
	{ SVC("name = \"my desktop\";", LISTEN, BACKEND, ""), "name",
	    "service name \"my desktop\" may only contain letters, digits, "
	    "'.', '_' and '-'" },
	{ SVC("name = \"a/b\";", LISTEN, BACKEND, ""), "name",
	    "service name \"a/b\" may only contain letters, digits, "
	    "'.', '_' and '-'" },

	/* subtypes */
	{ SVC_WITH("subtypes = [ \"Foo\" ];"), "subtypes",
	    "unknown subtype \"Foo\"" },
	{ SVC_WITH("subtypes = [ \"X509Plain\" ];"), "{",
	    "service \"desktop\" offers X509Plain but has no passwd_file" },
	{ SVC_WITH("subtypes = [ \"X509Vnc\" ];"), "subtypes",
	    "subtype \"X509Vnc\" is not supported yet" },
	{ SVC_WITH("subtypes = [ \"TLSNone\" ];"), "subtypes",
	    "subtype \"TLSNone\" is never offered: it has no server authentication (anonymous or no TLS)" },
	{ SVC_WITH("subtypes = [ \"X509None\", \"X509None\" ];"), "subtypes",
	    "duplicate subtype \"X509None\"" },
	{ SVC_WITH("subtypes = [ ];"), "subtypes",
	    "\"subtypes\" must not be empty" },
	{ SVC_WITH("subtypes = [ \"X509None\", \"X509None\", \"X509None\",\n"
	    "  \"X509None\", \"X509None\", \"X509None\", \"X509None\",\n"
	    "  \"X509None\", \"X509None\" ];"), "subtypes",
	    "\"subtypes\" lists 9 subtypes; at most 8 are allowed" },

	/* client_cert, allowed_dn */
	{ SVC_WITH("client_cert = \"optionally\";"), "client_cert",
	    "unknown client_cert \"optionally\" (valid: require, optional, none)" },
	{ SVC_WITH("allowed_dn = [ ];"), "allowed_dn",
	    "\"allowed_dn\" must not be empty" },
	{ SVC_WITH(PLAIN " client_cert = \"none\";\n"
	    "    allowed_dn = [ \"CN=*\" ];"), "allowed_dn",
	    "service \"desktop\" has allowed_dn but client_cert = \"none\": no "
	    "certificate is requested, so nothing could match" },
	{ SVC_WITH("client_cert = \"none\";"), "{",
	    "service \"desktop\" lets any client in without a certificate or a "
	    "password (client_cert = \"none\" with X509None); offer X509Plain "
	    "only, or set allow_unauthenticated = true if that is really meant" },

	/* passwd_file, allowed_users, allow_unauthenticated */
	{ SVC_WITH("passwd_file = 5;"), "passwd_file",
	    "\"passwd_file\" must be a string" },
	{ SVC_WITH("passwd_file = \"\";"), "passwd_file",
	    "\"passwd_file\" must not be empty" },
	{ SVC_WITH("subtypes = [ \"X509None\" ];\n"
	    "    passwd_file = \"" PASSWD_FILE "\";"), "passwd_file",
	    "service \"desktop\" has a passwd_file but does not offer X509Plain "
	    "(add it to subtypes)" },
	{ SVC_WITH(PLAIN "\n    allowed_users = \"alice\";"), "allowed_users",
	    "\"allowed_users\" must be an array of strings [ ... ]" },
	{ SVC_WITH(PLAIN "\n    allowed_users = [ ];"), "allowed_users",
	    "\"allowed_users\" must not be empty" },
	{ SVC_WITH("allowed_users = [ \"alice\" ];"), "allowed_users",
	    "service \"desktop\" has allowed_users but does not offer X509Plain "
	    "(add it to subtypes)" },
	{ SVC_WITH(PLAIN "\n    allow_unauthenticated = \"yes\";"),
	    "allow_unauthenticated",
	    "\"allow_unauthenticated\" must be true or false" },
	{ SVC_WITH(PLAIN "\n    allow_unauthenticated = 1;"),
	    "allow_unauthenticated",
	    "\"allow_unauthenticated\" must be true or false" },
};

START_TEST(test_bad_case)
{
	const struct bad_case *c = &bad_cases[_i];

	load(c->text);
	expect_error(line_of(c->text, c->marker), "%s", c->msg);
	ck_assert_msg(errs.n == 1, "expected one error, got:%s", all_errors());
}
END_TEST

/* ---- errors that need more than a table row ------------------------------ */

START_TEST(test_missing_services)
{
	load("log = { level = \"info\"; };\n");
	expect_error(0, "missing \"services\": nothing to serve");
	ck_assert_uint_eq(errs.n, 1);
}
END_TEST

START_TEST(test_unknown_key_in_unnamed_service)
{
	static const char text[] = SVC("", LISTEN, BACKEND, "port = 1;");

	load(text);
	expect_error(line_of(text, "port"), "unknown key \"port\" in service #1");
	expect_error(line_of(text, "{"), "missing \"name\" in service #1");
	ck_assert_uint_eq(errs.n, 2);
}
END_TEST

START_TEST(test_duplicate_name)
{
	static const char text[] =
	    "services = (\n"
	    "  { name = \"desktop\"; listen = [ \"127.0.0.1:5900\" ];\n"
	    "    backend = \"127.0.0.1:5901\"; },\n"
	    "  { name = \"desktop\"; listen = [ \"127.0.0.1:5902\" ];\n"
	    "    backend = \"127.0.0.1:5901\"; }\n"
	    ");\n";

	load(text);
	expect_error(4, "duplicate service name \"desktop\" (first at line 2)");
	ck_assert_uint_eq(errs.n, 1);
}
END_TEST

START_TEST(test_duplicate_listen_same_service)
{
	static const char text[] =
	    "services = (\n"
	    "  { name = \"desktop\";\n"
	    "    listen = [ \"127.0.0.1:5900\",\n"
	    "               \"127.0.0.1:5900\" ];\n"
	    "    backend = \"127.0.0.1:5901\"; }\n"
	    ");\n";

	load(text);
	expect_error(4, "listen address \"127.0.0.1:5900\" duplicates "
	    "\"127.0.0.1:5900\" at line 3");
	ck_assert_uint_eq(errs.n, 1);
}
END_TEST

START_TEST(test_duplicate_listen_across_services)
{
	static const char text[] =
	    "services = (\n"
	    "  { name = \"a\"; listen = [ \"[::1]:5900\" ];\n"
	    "    backend = \"127.0.0.1:5901\"; },\n"
	    "  { name = \"b\";\n"
	    "    listen = [ \"127.0.0.1:5910\", \"[0:0::1]:5900\" ];\n"
	    "    backend = \"127.0.0.1:5901\"; }\n"
	    ");\n";

	load(text);
	expect_error(5, "listen address \"[0:0::1]:5900\" duplicates "
	    "\"[::1]:5900\" at line 2");
	ck_assert_uint_eq(errs.n, 1);
}
END_TEST

START_TEST(test_bad_addresses)
{
	static const char text[] =
	    "services = (\n"
	    "  { name = \"a\";\n"
	    "    listen = [ \"localhost:5900\",\n"
	    "               \"127.0.0.1:65536\",\n"
	    "               \"unix:tmp/a.sock\",\n"
	    "               \"[::1]5900\" ];\n"
	    "    backend = \"vnc.example.com:5901\"; },\n"
	    "  { name = \"b\"; listen = [ \"127.0.0.1:5900\" ];\n"
	    "    backend = \"127.0.0.1\"; }\n"
	    ");\n";

	load(text);
	expect_error(3, "bad listen address \"localhost:5900\": %s",
	    net_parse_result_str(NET_PARSE_BAD_HOST));
	expect_error(4, "bad listen address \"127.0.0.1:65536\": %s",
	    net_parse_result_str(NET_PARSE_BAD_PORT));
	expect_error(5, "bad listen address \"unix:tmp/a.sock\": %s",
	    net_parse_result_str(NET_PARSE_BAD_FORMAT));
	expect_error_prefix(6, "bad listen address \"[::1]5900\": ");
	expect_error(7, "bad backend address \"vnc.example.com:5901\": %s",
	    net_parse_result_str(NET_PARSE_BAD_HOST));
	expect_error_prefix(9, "bad backend address \"127.0.0.1\": ");
	ck_assert_msg(errs.n == 6, "expected 6 errors, got:%s", all_errors());
}
END_TEST

START_TEST(test_bad_dn_patterns)
{
	/* a trailing backslash, no "type=", an empty RDN */
	static const char *const patterns[] = { "CN=a\\", "nonsense",
	    "CN=a,,O=b" };
	static const char text[] =
	    SVC_WITH("allowed_dn = [ \"CN=*,O=Example,C=GB\",\n"
	    "      \"CN=a\\\\\",\n"
	    "      \"nonsense\",\n"
	    "      \"CN=a,,O=b\" ];");
	int line = line_of(text, "allowed_dn") + 1;

	load(text);
	for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
		const char *why = NULL;

		ck_assert_int_eq(dn_pattern_check(patterns[i], &why),
		    DN_BAD_PATTERN);
		expect_error(line + (int)i, "bad allowed_dn pattern \"%s\": %s",
		    patterns[i], why != NULL ? why : "not a valid DN pattern");
	}
	ck_assert_msg(errs.n == 3, "expected 3 errors, got:%s", all_errors());
}
END_TEST

START_TEST(test_bad_allowed_users)
{
	char long_name[PASSWD_USER_MAX + 2], *text;
	int line;

	memset(long_name, 'u', PASSWD_USER_MAX + 1);
	long_name[PASSWD_USER_MAX + 1] = '\0';
	ck_assert_int_ne(asprintf(&text, SVC_WITH(PLAIN "\n"
	    "    allowed_users = [ \"alice\",\n"
	    "      \"\",\n"
	    "      \"a:b\",\n"
	    "      \"%s\",\n"
	    "      \" bob\" ];"), long_name), -1);
	line = line_of(text, "allowed_users");
	load(text);
	expect_error(line + 1, "bad user name \"\" in allowed_users: empty user "
	    "name");
	expect_error(line + 2, "bad user name \"a:b\" in allowed_users: user "
	    "name contains ':'");
	expect_error(line + 3, "bad user name \"%.64s\" in allowed_users: user "
	    "name longer than %d bytes", long_name, PASSWD_USER_MAX);
	expect_error(line + 4, "bad user name \" bob\" in allowed_users: user "
	    "name begins or ends with a space");
	ck_assert_msg(errs.n == 4, "expected 4 errors, got:%s", all_errors());
	free(text);
}
END_TEST

START_TEST(test_bad_priority)
{
	static const char text[] =
	    "tls = {\n"
	    "  priority = \"NORMAL:+NO-SUCH-THING\";\n"
	    "};\n" GOOD_SVC;

	load(text);
	expect_error_prefix(2, "\"priority\" is invalid");
	ck_assert_uint_eq(errs.n, 1);
}
END_TEST

START_TEST(test_syntax_error)
{
	load("log = { level = \"info\"; };\n"
	    "limits = {\n"
	    "  max_clients = ;\n"
	    "};\n" GOOD_SVC);
	expect_error_prefix(3, "%s", "");
	ck_assert_uint_eq(errs.n, 1);
}
END_TEST

START_TEST(test_duplicate_key_is_syntax_error)
{
	load("limits = { max_clients = 5; };\n"
	    "limits = { max_clients = 6; };\n" GOOD_SVC);
	expect_error_prefix(2, "%s", "");
	ck_assert_uint_eq(errs.n, 1);
}
END_TEST

/* Every problem is reported in one run, in file order, each at its line. */
START_TEST(test_all_errors_reported)
{
	static const char text[] =
	    "log = { level = \"loud\"; };\n"
	    "limits = { max_clients = 0; };\n"
	    "colour = true;\n"
	    "services = (\n"
	    "  { name = \"a\"; listen = [ \"127.0.0.1:99999\" ];\n"
	    "    backend = \"127.0.0.1:5901\";\n"
	    "    subtypes = [ \"X509Vnc\" ]; }\n"
	    ");\n";
	char *prefix;

	load(text);
	ck_assert_ptr_null(cfg);
	ck_assert_msg(errs.n == 5, "expected 5 errors, got:%s", all_errors());
	for (size_t i = 0; i < errs.n; i++) {
		static const int lines[] = { 1, 2, 3, 5, 7 };
		ck_assert_int_ne(asprintf(&prefix, "%s:%d: ", conf_path,
		    lines[i]), -1);
		ck_assert_msg(strncmp(errs.lines[i], prefix, strlen(prefix)) == 0,
		    "error %zu should start %s:%s", i, prefix, all_errors());
		free(prefix);
	}
}
END_TEST

START_TEST(test_unreadable_file)
{
	char *missing = tmp_path("missing.conf");

	ck_assert_ptr_null(config_load(missing, &errs));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_int_eq(strncmp(errs.lines[0], missing, strlen(missing)), 0);
	ck_assert_str_eq(errs.lines[0] + strlen(missing),
	    ": cannot open: No such file or directory");
	config_errors_free(&errs);

	ck_assert_ptr_null(config_load(make_tmp_dir(), &errs));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_int_eq(strncmp(errs.lines[0], make_tmp_dir(),
	    strlen(make_tmp_dir())), 0);
	ck_assert_str_eq(errs.lines[0] + strlen(make_tmp_dir()),
	    ": not a regular file");
	free(missing);
}
END_TEST

/* ---- credentials --------------------------------------------------------- */

/*
 * config_load_credentials() loads each service's password file and its TLS
 * files.  No certificates are made here (the end-to-end tests load real
 * ones): cert_dir names a directory without any, so each service's TLS
 * load fails with one error of its own, at the global tls block on line 1,
 * and every other error must be about passwords.
 */
#define NO_PKI "tls = { cert_dir = \"/nonexistent/pki\"; };\n"

/* "alice-pw" */
#define H_YESCRYPT "$y$j9T$C3KFyvSz5a.H37wg3G1yM/$U5g5xtzINNWMgGVfoMOJf0X" \
	"kVZoQHl185spSgxpMVV5"
/* "bob-pw" */
#define H_SHA512 "$6$4i3C1iXX6ExuXb5g$ZxWDaWpyoEKP7DgOv8EjFwqAdpM/Nje0Mv9C" \
	"PbMAtrJfvsOKaWlj3wYf5fnonJ9/s4VgJIM8DAln9WBfYxkQh."
/* "x", each: too weak */
#define H_MD5 "$1$AQ5O27LI$Os4ndNQYNvfE2YUEWn8Eg."
#define H_DES "2b3vdo8n90Ggc"

#define GOOD_USERS "alice:" H_YESCRYPT "\nbob:" H_SHA512 "\n"
#define REHASH "rehash with vencryptd --hash-password"

/* How many errors are the TLS load failing as planned (see NO_PKI). */
static size_t
tls_errors(void)
{
	char *prefix;
	size_t n = 0;

	ck_assert_int_ne(asprintf(&prefix, "%s:1: service ", conf_path), -1);
	for (size_t i = 0; i < errs.n; i++)
		if (strncmp(errs.lines[i], prefix, strlen(prefix)) == 0 &&
		    strstr(errs.lines[i], ": CA file /nonexistent/pki/ca-cert.pem: ")
		    != NULL)
			n++;
	free(prefix);
	return n;
}

/* Writes a password file named name in the test's directory; its path. */
static char *
write_passwd(const char *name, const char *text)
{
	char *p = tmp_path(name);

	write_file(p, text);
	return p;
}

/* Loads text (formatted) from a file in the test's directory, which must
 * pass config_load(), then its credentials; their result. */
static int PRINTF_LIKE(1, 2)
load_credentials(const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	ck_assert_int_ne(vasprintf(&text, fmt, ap), -1);
	va_end(ap);
	conf_path = tmp_path("vencryptd.conf");
	write_file(conf_path, text);
	free(text);
	cfg = config_load(conf_path, &errs);
	expect_loaded();
	return config_load_credentials(cfg, &errs);
}

/* Asserts that errs holds exactly "file:line: msg". */
static void PRINTF_LIKE(3, 4)
expect_line(const char *file, int line, const char *fmt, ...)
{
	char *msg, *full;
	va_list ap;

	va_start(ap, fmt);
	ck_assert_int_ne(vasprintf(&msg, fmt, ap), -1);
	va_end(ap);
	if (line > 0)
		ck_assert_int_ne(asprintf(&full, "%s:%d: %s", file, line, msg),
		    -1);
	else
		ck_assert_int_ne(asprintf(&full, "%s: %s", file, msg), -1);
	ck_assert_msg(has_error(full), "expected\n  %s\ngot:%s", full,
	    all_errors());
	free(full);
	free(msg);
}

/* Two services naming the same file share one loaded copy; a service
 * without X509Plain has none. */
START_TEST(test_credentials_passwd_loaded)
{
	char *pw = write_passwd("passwd", "# users\n" GOOD_USERS);

	ck_assert_int_eq(load_credentials(NO_PKI
	    "services = (\n"
	    "  { name = \"a\"; listen = [ \"127.0.0.1:5900\" ];\n"
	    "    backend = \"127.0.0.1:5901\"; subtypes = [ \"X509Plain\" ];\n"
	    "    passwd_file = \"%s\"; allowed_users = [ \"bob\", \"alice\" ]; },\n"
	    "  { name = \"b\"; listen = [ \"127.0.0.1:5902\" ];\n"
	    "    backend = \"127.0.0.1:5903\";\n"
	    "    subtypes = [ \"X509None\", \"X509Plain\" ];\n"
	    "    passwd_file = \"%s\"; },\n"
	    "  { name = \"c\"; listen = [ \"127.0.0.1:5904\" ];\n"
	    "    backend = \"127.0.0.1:5905\"; }\n"
	    ");\n", pw, pw), -1);
	ck_assert_msg(tls_errors() == 3 && errs.n == 3,
	    "expected only the 3 TLS errors, got:%s", all_errors());
	ck_assert_ptr_nonnull(cfg->services[0].passwd);
	ck_assert_uint_eq(passwd_count(cfg->services[0].passwd), 2);
	ck_assert(passwd_has_user(cfg->services[0].passwd, "alice"));
	ck_assert(passwd_has_user(cfg->services[0].passwd, "bob"));
	ck_assert_ptr_eq(cfg->services[1].passwd, cfg->services[0].passwd);
	ck_assert_ptr_null(cfg->services[2].passwd);
	free(pw);
}
END_TEST

/* The password file's own errors name that file and its lines. */
START_TEST(test_credentials_bad_passwd_lines)
{
	char *pw = write_passwd("passwd",
	    "alice:" H_YESCRYPT "\n"    /* 1 */
	    "bob:" H_DES "\n"           /* 2 */
	    "carol:" H_MD5 "\n"         /* 3 */
	    "\n"                        /* 4 */
	    "dave " H_SHA512 "\n");     /* 5 */

	ck_assert_int_eq(load_credentials(NO_PKI SVC_WITH(
	    "subtypes = [ \"X509Plain\" ]; passwd_file = \"%s\";"), pw), -1);
	expect_line(pw, 2, "user bob: DES hashes are too weak; " REHASH);
	expect_line(pw, 3, "user carol: MD5 hashes ($1$) are too weak; "
	    REHASH);
	expect_line(pw, 5, "missing ':' between user name and hash");
	ck_assert_msg(tls_errors() == 1 && errs.n == 4, "expected 3 errors "
	    "and the TLS one, got:%s", all_errors());
	ck_assert_ptr_null(cfg->services[0].passwd);
	free(pw);
}
END_TEST

/* A bad file named by two services is reported once, not once each. */
START_TEST(test_credentials_shared_bad_passwd_once)
{
	char *pw = write_passwd("passwd", "bob:" H_DES "\n");

	ck_assert_int_eq(load_credentials(NO_PKI
	    "services = (\n"
	    "  { name = \"a\"; listen = [ \"127.0.0.1:5900\" ];\n"
	    "    backend = \"127.0.0.1:5901\"; subtypes = [ \"X509Plain\" ];\n"
	    "    passwd_file = \"%s\"; },\n"
	    "  { name = \"b\"; listen = [ \"127.0.0.1:5902\" ];\n"
	    "    backend = \"127.0.0.1:5903\"; subtypes = [ \"X509Plain\" ];\n"
	    "    passwd_file = \"%s\"; }\n"
	    ");\n", pw, pw), -1);
	expect_line(pw, 1, "user bob: DES hashes are too weak; " REHASH);
	ck_assert_msg(tls_errors() == 2 && errs.n == 3, "expected the DES "
	    "error once and 2 TLS errors, got:%s", all_errors());
	free(pw);
}
END_TEST

/* allowed_users written in an @include file is reported there. */
START_TEST(test_credentials_unknown_allowed_user_included)
{
	char *pw = write_passwd("passwd", GOOD_USERS);
	char *inc = tmp_path("users.inc");

	write_file(inc, "\n\nallowed_users = [ \"mallory\" ];\n");
	ck_assert_int_eq(load_credentials(NO_PKI SVC_WITH(
	    "subtypes = [ \"X509Plain\" ]; passwd_file = \"%s\";\n"
	    "    @include \"users.inc\""), pw), -1);
	expect_line(inc, 3, "service desktop: allowed_users names \"mallory\", "
	    "who is not in %s", pw);
	free(inc);
	free(pw);
}
END_TEST

START_TEST(test_credentials_unknown_allowed_user)
{
	static const char text[] = NO_PKI SVC_WITH(
	    "subtypes = [ \"X509Plain\" ]; passwd_file = \"%s\";\n"
	    "    allowed_users = [ \"alice\", \"mallory\" ];");
	char *pw = write_passwd("passwd", GOOD_USERS);

	ck_assert_int_eq(load_credentials(text, pw), -1);
	expect_line(conf_path, line_of(text, "allowed_users"),
	    "service desktop: allowed_users names \"mallory\", who is not "
	    "in %s", pw);
	ck_assert_msg(tls_errors() == 1 && errs.n == 2, "expected 1 error "
	    "and the TLS one, got:%s", all_errors());
	free(pw);
}
END_TEST

START_TEST(test_credentials_missing_passwd_file)
{
	char *pw = tmp_path("no-such-passwd");

	ck_assert_int_eq(load_credentials(NO_PKI SVC_WITH(
	    "subtypes = [ \"X509Plain\" ]; passwd_file = \"%s\";"), pw), -1);
	expect_line(pw, 0, "cannot open: No such file or directory");
	ck_assert_msg(tls_errors() == 1 && errs.n == 2, "expected 1 error "
	    "and the TLS one, got:%s", all_errors());
	free(pw);
}
END_TEST

/* A relative passwd_file is found next to the configuration file, from
 * whatever directory the credentials are loaded. */
START_TEST(test_credentials_relative_passwd_file)
{
	char *pw = write_passwd("passwd", GOOD_USERS), *cwd;
	int ret;

	cwd = getcwd(NULL, 0);
	ck_assert_ptr_nonnull(cwd);
	ck_assert_int_eq(chdir("/"), 0);
	ret = load_credentials(NO_PKI SVC_WITH(
	    "subtypes = [ \"X509Plain\" ]; passwd_file = \"passwd\";\n"
	    "    allowed_users = [ \"bob\" ];"));
	ck_assert_int_eq(chdir(cwd), 0);
	free(cwd);
	ck_assert_int_eq(ret, -1);
	ck_assert_str_eq(cfg->services[0].passwd_file, pw);
	ck_assert_msg(tls_errors() == 1 && errs.n == 1,
	    "expected only the TLS error, got:%s", all_errors());
	ck_assert_ptr_nonnull(cfg->services[0].passwd);
	free(pw);
}
END_TEST

START_TEST(test_errors_api)
{
	struct config_errors e = { NULL, 0 };

	config_errors_add(&e, "x.conf", 12, "bad %s %d", "thing", 7);
	config_errors_add(&e, "x.conf", 0, "whole file");
	ck_assert_uint_eq(e.n, 2);
	ck_assert_str_eq(e.lines[0], "x.conf:12: bad thing 7");
	ck_assert_str_eq(e.lines[1], "x.conf: whole file");
	config_errors_free(&e);
	ck_assert_uint_eq(e.n, 0);
	ck_assert_ptr_null(e.lines);
	config_errors_free(&e);
	config_free(NULL);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("good");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_full_config);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_tls_inheritance);
	tcase_add_test(tc, test_limit_boundaries);
	tcase_add_test(tc, test_log_names);
	tcase_add_test(tc, test_port_zero_twice);
	tcase_add_test(tc, test_listen_groups);
	tcase_add_test(tc, test_include);
	tcase_add_test(tc, test_plain_service);
	tcase_add_test(tc, test_longest_allowed_user);
	tcase_add_loop_test(tc, test_mode_case, 0,
	    (int)(sizeof mode_cases / sizeof mode_cases[0]));
	tcase_add_test(tc, test_relative_paths);
	tcase_add_test(tc, test_ref_unref);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_bad_case, 0,
	    (int)(sizeof bad_cases / sizeof bad_cases[0]));
	tcase_add_test(tc, test_missing_services);
	tcase_add_test(tc, test_unknown_key_in_unnamed_service);
	tcase_add_test(tc, test_duplicate_name);
	tcase_add_test(tc, test_duplicate_listen_same_service);
	tcase_add_test(tc, test_duplicate_listen_across_services);
	tcase_add_test(tc, test_bad_addresses);
	tcase_add_test(tc, test_listen_group_errors);
	tcase_add_test(tc, test_bad_dn_patterns);
	tcase_add_test(tc, test_bad_allowed_users);
	tcase_add_test(tc, test_bad_priority);
	tcase_add_test(tc, test_syntax_error);
	tcase_add_test(tc, test_duplicate_key_is_syntax_error);
	tcase_add_test(tc, test_all_errors_reported);
	tcase_add_test(tc, test_unreadable_file);
	tcase_add_test(tc, test_errors_api);
	suite_add_tcase(s, tc);

	tc = tcase_create("credentials");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_credentials_passwd_loaded);
	tcase_add_test(tc, test_credentials_bad_passwd_lines);
	tcase_add_test(tc, test_credentials_shared_bad_passwd_once);
	tcase_add_test(tc, test_credentials_unknown_allowed_user_included);
	tcase_add_test(tc, test_credentials_unknown_allowed_user);
	tcase_add_test(tc, test_credentials_missing_passwd_file);
	tcase_add_test(tc, test_credentials_relative_passwd_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(config_suite());
}
