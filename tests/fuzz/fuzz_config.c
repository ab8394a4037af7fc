/*
 * fuzz_config.c - config_load() on arbitrary files.
 *
 * Input: the configuration file; after a NUL byte, if there is one, a
 * second file, inc.conf beside it, which the first may @include.  Inputs
 * that would @include anything else (an absolute path, a device, another
 * directory) are skipped: only the two scratch files are ever read.
 *
 * Checks, besides memory safety and leaks:
 *  - config_load fails exactly when it reports errors;
 *  - every error is one line "FILE:LINE: message", FILE one of the two
 *    files, LINE within it; only errors about a whole file ("cannot
 *    open", "missing services", ...) may leave the line out;
 *  - a configuration that loads holds what the daemon relies on: at least
 *    one service, each with a valid name, a listen address, a backend,
 *    one to CONFIG_MAX_SUBTYPES distinct supported subtypes, a
 *    passwd_file exactly when X509Plain is offered, valid allowed_dn
 *    patterns, TLS file names, and limits within their ranges.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "dn.h"
#include "fuzz.h"
#include "rfb.h"

#define MAIN_NAME "config.conf"
#define INC_NAME "inc.conf"

/* Errors that concern a file as a whole, so carry no line. */
static const char *const whole_file[] = {
	"cannot open", "cannot stat", "not a regular file", "out of memory",
	"missing \"services\"", NULL,
};

/* Whether every @include in text names a plain file in its directory. */
static int
includes_safe(const uint8_t *text, size_t len)
{
	for (size_t i = 0; i + 8 <= len; i++) {
		size_t j = i + 8, start;

		if (strncasecmp((const char *)text + i, "@include", 8) != 0)
			continue;
		if (j >= len || (text[j] != ' ' && text[j] != '\t'))
			return 0;
		while (j < len && (text[j] == ' ' || text[j] == '\t'))
			j++;
		if (j >= len || text[j++] != '"')
			return 0;
		start = j;
		while (j < len && (isalnum(text[j]) || text[j] == '_' ||
		    text[j] == '-' || (text[j] == '.' && j > start)))
			j++;
		if (j == start || j >= len || text[j] != '"')
			return 0;
	}
	return 1;
}

/* libconfig 1.5 (Debian 12) itself leaks the text of a string token on
 * some syntax errors (a string running on past its line, adjacent
 * strings); config_destroy() cannot free it and it is not ours to fix.
 * Only its scanner's own allocations are let through. */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

static void
check_loaded(const struct config *cfg)
{
	FUZZ_CHECK(cfg->nservices >= 1, "no service");
	FUZZ_CHECK(cfg->max_clients >= 1 && cfg->max_clients <= 1000000 &&
	    cfg->handshake_timeout >= 1 && cfg->handshake_timeout <= 3600 &&
	    cfg->backend_timeout >= 1 && cfg->backend_timeout <= 3600,
	    "limit out of range");
	FUZZ_CHECK(cfg->tls.ca_file && cfg->tls.cert_file && cfg->tls.key_file &&
	    cfg->tls.priority, "global TLS settings incomplete");
	for (size_t i = 0; i < cfg->nservices; i++) {
		const struct service *svc = &cfg->services[i];
		int plain = 0;

		FUZZ_CHECK(svc->name != NULL && svc->name[0] != '\0' &&
		    strspn(svc->name, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
		    strlen(svc->name), "service %zu: bad name", i);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(cfg->services[j].name, svc->name) != 0,
			    "duplicate service %s", svc->name);
		FUZZ_CHECK(svc->nlisten >= 1 && svc->backend_text != NULL,
		    "service %s: no listen address or backend", svc->name);
		FUZZ_CHECK(svc->nsubtypes >= 1 &&
		    svc->nsubtypes <= CONFIG_MAX_SUBTYPES, "service %s: %zu "
		    "subtypes", svc->name, svc->nsubtypes);
		for (size_t j = 0; j < svc->nsubtypes; j++) {
			FUZZ_CHECK(svc->subtypes[j] == VENCRYPT_X509NONE ||
			    svc->subtypes[j] == VENCRYPT_X509PLAIN, "service %s "
			    "offers %u", svc->name, svc->subtypes[j]);
			for (size_t k = 0; k < j; k++)
				FUZZ_CHECK(svc->subtypes[k] != svc->subtypes[j],
				    "service %s: subtype twice", svc->name);
			plain = plain || svc->subtypes[j] == VENCRYPT_X509PLAIN;
		}
		FUZZ_CHECK((svc->passwd_file != NULL) == plain, "service %s: "
		    "passwd_file without X509Plain or the other way", svc->name);
		FUZZ_CHECK(plain || svc->allowed_users == NULL, "service %s: "
		    "allowed_users without X509Plain", svc->name);
		FUZZ_CHECK(svc->client_cert != CLIENT_CERT_NONE ||
		    svc->allowed_dn == NULL, "service %s: allowed_dn without "
		    "certificates", svc->name);
		FUZZ_CHECK(!(svc->client_cert == CLIENT_CERT_NONE &&
		    service_offers(svc, VENCRYPT_X509NONE)) ||
		    svc->allow_unauthenticated, "service %s open by accident",
		    svc->name);
		for (size_t j = 0; j < svc->nallowed_dn; j++)
			FUZZ_CHECK(dn_pattern_check(svc->allowed_dn[j], NULL) ==
			    DN_MATCH, "service %s: bad pattern loaded", svc->name);
		FUZZ_CHECK(svc->tls.ca_file && svc->tls.cert_file &&
		    svc->tls.key_file && svc->tls.priority && svc->tls.file,
		    "service %s: TLS settings incomplete", svc->name);
		for (size_t j = 0; j < svc->nlisten; j++)
			FUZZ_CHECK(svc->listen[j].text != NULL &&
			    svc->listen[j].line >= 1, "service %s: listen "
			    "address without its line", svc->name);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t mlen = nul != NULL ? (size_t)(nul - data) : size;
	const uint8_t *inc = nul != NULL ? nul + 1 : data + size;
	size_t ilen = nul != NULL ? size - mlen - 1 : 0;
	struct config_errors errs = { NULL, 0 };
	const char *main_path, *inc_path;
	struct config *cfg;

	if (!includes_safe(data, mlen) || !includes_safe(inc, ilen))
		return 0;
	main_path = fuzz_write_file(MAIN_NAME, data, mlen);
	inc_path = fuzz_write_file(INC_NAME, inc, ilen);

	cfg = config_load(main_path, &errs);
	FUZZ_CHECK((cfg == NULL) == (errs.n > 0), "config %s with %zu errors",
	    cfg != NULL ? "loaded" : "refused", errs.n);
	struct fuzz_file files[] = {
		{ main_path, fuzz_count_lines(data, mlen) },
		{ inc_path, fuzz_count_lines(inc, ilen) },
	};
	for (size_t i = 0; i < errs.n; i++)
		fuzz_check_error(errs.lines[i], files, 2, whole_file);
	if (cfg != NULL) {
		check_loaded(cfg);
		config_unref(cfg);
	}
	config_errors_free(&errs);
	return 0;
}
