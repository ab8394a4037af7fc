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
	    "};\n"
	    "limits = { max_clients = 500; handshake_timeout = 30;\n"
	    "  backend_timeout = 7; };\n"
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
	ck_assert_str_eq(cfg->tls.ca_file, DEFAULT_CERT_DIR "/ca-cert.pem");
	ck_assert_str_eq(cfg->tls.cert_file, DEFAULT_CERT_DIR "/server-cert.pem");
	ck_assert_str_eq(cfg->tls.key_file, DEFAULT_CERT_DIR "/server-key.pem");
	if (have_crl)
		ck_assert_str_eq(cfg->tls.crl_file, DEFAULT_CERT_DIR "/ca-crl.pem");
	else
		ck_assert_ptr_null(cfg->tls.crl_file);
	ck_assert_str_eq(cfg->tls.priority, DEFAULT_PRIORITY);

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
	    "  backend_timeout = 1; };\n" GOOD_SVC);
	expect_loaded();
	ck_assert_uint_eq(cfg->max_clients, 1);
	ck_assert_uint_eq(cfg->handshake_timeout, 1);
	ck_assert_uint_eq(cfg->backend_timeout, 1);
	teardown();
	setup();

	load("limits = { max_clients = 1000000; handshake_timeout = 3600;\n"
	    "  backend_timeout = 3600; };\n" GOOD_SVC);
	expect_loaded();
	ck_assert_uint_eq(cfg->max_clients, 1000000);
	ck_assert_uint_eq(cfg->handshake_timeout, 3600);
	ck_assert_uint_eq(cfg->backend_timeout, 3600);
	teardown();
	setup();

	/* a 64-bit literal in range is still a number */
	load("limits = { max_clients = 2000L; };\n" GOOD_SVC);
	expect_loaded();
	ck_assert_uint_eq(cfg->max_clients, 2000);
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
	{ "limits = [ 1 ];\n" GOOD_SVC, "limits",
	    "\"limits\" must be a group { ... }" },
	{ "limits = {\n max_clients = \"10\";\n};\n" GOOD_SVC, "max_clients",
	    "\"max_clients\" must be an integer" },
	{ "limits = {\n handshake_timeout = 1.5;\n};\n" GOOD_SVC,
	    "handshake_timeout", "\"handshake_timeout\" must be an integer" },
	{ "limits = {\n backend_timeout = true;\n};\n" GOOD_SVC,
	    "backend_timeout", "\"backend_timeout\" must be an integer" },
	{ "services = { name = \"x\"; };\n", "services",
	    "\"services\" must be a list of groups ( { ... }, ... )" },
	{ "services = [ \"x\" ];\n", "services",
	    "\"services\" must be a list of groups ( { ... }, ... )" },
	{ "services = (\n 5\n);\n", "5",
	    "each entry of \"services\" must be a group { ... }" },
	{ SVC("name = 5;", LISTEN, BACKEND, ""), "name",
	    "\"name\" must be a string" },
	{ SVC(NAME, "listen = \"127.0.0.1:5900\";", BACKEND, ""), "listen",
	    "\"listen\" must be an array of strings [ ... ]" },
	{ SVC(NAME, "listen = [ 5900 ];", BACKEND, ""), "listen",
	    "\"listen\" must be an array of strings [ ... ]" },
	{ SVC(NAME, "listen = ( \"127.0.0.1:5900\", 5 );", BACKEND, ""),
	    "listen", "\"listen\" must be an array of strings [ ... ]" },
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

	/* unknown keys, at every level */
	{ "foo = 1;\n" GOOD_SVC, "foo", "unknown key \"foo\" at top level" },
	{ "log = {\n level = \"info\";\n colour = true;\n};\n" GOOD_SVC,
	    "colour", "unknown key \"colour\" in log" },
	{ "tls = {\n cafile = \"x\";\n};\n" GOOD_SVC, "cafile",
	    "unknown key \"cafile\" in tls" },
	{ "limits = {\n max_client = 5;\n};\n" GOOD_SVC, "max_client",
	    "unknown key \"max_client\" in limits" },
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
	{ SVC_WITH("subtypes = [ \"X509Plain\" ];\n passwd_file = 5;"),
	    "passwd_file", "\"passwd_file\" must be a string" },
	{ SVC_WITH("subtypes = [ \"X509Plain\" ];\n passwd_file = \"\";"),
	    "passwd_file", "\"passwd_file\" must not be empty" },
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
	    "               \"unix:/tmp/a.sock\",\n"
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
	/* no unix listeners (yet) */
	expect_error_prefix(5, "bad listen address \"unix:/tmp/a.sock\": ");
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
	tcase_add_test(tc, test_include);
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
	tcase_add_test(tc, test_bad_dn_patterns);
	tcase_add_test(tc, test_bad_priority);
	tcase_add_test(tc, test_syntax_error);
	tcase_add_test(tc, test_duplicate_key_is_syntax_error);
	tcase_add_test(tc, test_all_errors_reported);
	tcase_add_test(tc, test_unreadable_file);
	tcase_add_test(tc, test_errors_api);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
