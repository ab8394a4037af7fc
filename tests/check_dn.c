/*
 * check_dn.c - unit tests for dn.c: RFC 4514 DN patterns.
 *
 * Tables of (pattern, subject, expected result), then a test that makes a
 * real certificate with certtool and feeds what gnutls_x509_crt_get_dn3()
 * prints to dn_match(), so the format we match is the one GnuTLS produces.
 * That test needs certtool (gnutls-bin): without it, it fails.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L         /* mkdtemp, fork, execvp */
#endif

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "dn.h"
#include "check_run.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

struct match_case {
	const char *pattern;
	const char *dn;
	enum dn_result want;
};

/* C string escapes: "\\," in the source is the two characters \, */
static const struct match_case match_cases[] = {
	/* exact matches */
	{ "CN=alice,O=Example,C=GB", "CN=alice,O=Example,C=GB", DN_MATCH },
	{ "CN=alice", "CN=alice", DN_MATCH },
	{ "CN=alice,O=Example,C=GB", "CN=bob,O=Example,C=GB", DN_NO_MATCH },
	{ "CN=alice,O=Example,C=GB", "CN=alice,O=Example,C=DE", DN_NO_MATCH },
	{ "CN=alice", "CN=alicex", DN_NO_MATCH },
	{ "CN=alicex", "CN=alice", DN_NO_MATCH },
	/* empty value is a value like any other */
	{ "CN=,O=x", "CN=,O=x", DN_MATCH },
	{ "CN=,O=x", "CN=a,O=x", DN_NO_MATCH },
	{ "CN=*,O=x", "CN=,O=x", DN_MATCH },

	/* globs stay inside one value */
	{ "CN=*,O=Example,C=GB", "CN=alice,O=Example,C=GB", DN_MATCH },
	{ "CN=a*,O=Example,C=GB", "CN=alice,O=Example,C=GB", DN_MATCH },
	{ "CN=*e,O=Example,C=GB", "CN=alice,O=Example,C=GB", DN_MATCH },
	{ "CN=a*c*e,O=Example,C=GB", "CN=alice,O=Example,C=GB", DN_MATCH },
	{ "CN=a*x,O=Example,C=GB", "CN=alice,O=Example,C=GB", DN_NO_MATCH },
	{ "CN=**,O=*", "CN=alice,O=Example", DN_MATCH },
	{ "CN=alice,O=Ex*", "CN=alice,O=Example", DN_MATCH },
	{ "CN=alice,O=Ex*", "CN=alice,O=Evil", DN_NO_MATCH },
	{ "CN=*.example.org", "CN=host.example.org", DN_MATCH },
	{ "CN=*.example.org", "CN=host.example.org.evil", DN_NO_MATCH },
	{ "CN=*a*a*a*b", "CN=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    DN_NO_MATCH },

	/* '?' is exactly one character */
	{ "CN=al?ce", "CN=alice", DN_MATCH },
	{ "CN=al?ce", "CN=alce", DN_NO_MATCH },
	{ "CN=al?ce", "CN=aliice", DN_NO_MATCH },
	{ "CN=user??", "CN=user42", DN_MATCH },
	{ "CN=user??", "CN=user4", DN_NO_MATCH },
	{ "CN=?", "CN=", DN_NO_MATCH },
	/* one UTF-8 character, raw or hex-escaped, is one '?' */
	{ "CN=J?rgen", "CN=J\xc3\xbcrgen", DN_MATCH },
	{ "CN=J?rgen", "CN=J\\C3\\BCrgen", DN_MATCH },
	{ "CN=J??rgen", "CN=J\xc3\xbcrgen", DN_NO_MATCH },

	/* attribute types: case-insensitive, OIDs compared as written */
	{ "cn=alice,o=Example,c=GB", "CN=alice,O=Example,C=GB", DN_MATCH },
	{ "Cn=alice,DC=example,dc=org", "CN=alice,DC=example,DC=org",
	    DN_MATCH },
	{ "2.5.4.3=alice", "2.5.4.3=alice", DN_MATCH },
	{ "2.5.4.3=alice", "CN=alice", DN_NO_MATCH },
	{ "CN=alice,1.2.3.4=#0403616263", "CN=alice,1.2.3.4=#0403616263",
	    DN_MATCH },
	{ "CN=alice", "UID=alice", DN_NO_MATCH },
	{ "CN=alice", "CNX=alice", DN_NO_MATCH },

	/* attribute values: case-sensitive */
	{ "CN=alice,O=example", "CN=alice,O=Example", DN_NO_MATCH },
	{ "CN=ALICE", "CN=alice", DN_NO_MATCH },

	/* RDN count must agree */
	{ "CN=alice,O=Example", "CN=alice,O=Example,C=GB", DN_NO_MATCH },
	{ "CN=alice,O=Example,C=GB", "CN=alice,O=Example", DN_NO_MATCH },
	{ "CN=*", "CN=alice,O=Example,C=GB", DN_NO_MATCH },
	{ "CN=*,O=*", "CN=alice,O=Example,C=GB", DN_NO_MATCH },
	{ "CN=*,O=*,C=*", "CN=alice,O=Example,C=GB", DN_MATCH },

	/* types in the same order */
	{ "O=Example,CN=alice,C=GB", "CN=alice,O=Example,C=GB", DN_NO_MATCH },
	{ "C=GB,O=Example,CN=alice", "CN=alice,O=Example,C=GB", DN_NO_MATCH },

	/* escaped commas: literal on both sides, escape forms equivalent */
	{ "CN=trudy,O=Evil\\, Inc.,C=GB", "CN=trudy,O=Evil\\, Inc.,C=GB",
	    DN_MATCH },
	{ "CN=trudy,O=Evil\\2C Inc.,C=GB", "CN=trudy,O=Evil\\, Inc.,C=GB",
	    DN_MATCH },
	{ "CN=trudy,O=Evil\\, Inc.,C=GB", "CN=trudy,O=Evil\\2c Inc.,C=GB",
	    DN_MATCH },
	{ "CN=trudy,O=Evil*,C=GB", "CN=trudy,O=Evil\\, Inc.,C=GB", DN_MATCH },
	{ "CN=trudy,O=*\\,*,C=GB", "CN=trudy,O=Evil\\, Inc.,C=GB", DN_MATCH },
	{ "CN=trudy,O=Evil,C=GB", "CN=trudy,O=Evil\\, Inc.,C=GB",
	    DN_NO_MATCH },

	/* the attack: a '*' must not swallow an escaped comma into the
	 * next RDN */
	{ "CN=*,O=Example,C=GB", "CN=trudy,O=Evil\\,O=Example,C=GB",
	    DN_NO_MATCH },
	/* (a CN that holds a comma, in a genuine O=Example, is fine) */
	{ "CN=*,O=Example,C=GB", "CN=trudy\\,O=Example,O=Example,C=GB",
	    DN_MATCH },
	{ "CN=*,O=Example,C=GB", "CN=trudy\\,O=Example,O=Evil,C=GB",
	    DN_NO_MATCH },
	{ "CN=*,O=Example,C=GB", "CN=trudy,O=Evil\\2CO=Example,C=GB",
	    DN_NO_MATCH },
	{ "CN=*,O=Example,C=GB", "CN=trudy,O=Evil\\+O=Example,C=GB",
	    DN_NO_MATCH },
	{ "CN=alice,O=Example,C=*", "CN=alice,O=Example,C=GB\\,OU=x",
	    DN_MATCH },
	{ "CN=alice,O=Example,C=*", "CN=alice,O=Example,C=GB,OU=x",
	    DN_NO_MATCH },
	{ "CN=*", "CN=trudy,O=Example,C=GB", DN_NO_MATCH },
	{ "CN=*", "CN=trudy\\,O=Example\\,C=GB", DN_MATCH },
	{ "CN=*,O=Example,C=GB", "CN=trudy,O=Evil\\,O=Example,C=GB",
	    DN_NO_MATCH },
	/* an escaped '*' in the pattern is a literal star */
	{ "CN=\\*,O=Example", "CN=*,O=Example", DN_MATCH },
	{ "CN=\\*,O=Example", "CN=alice,O=Example", DN_NO_MATCH },
	{ "CN=\\2A,O=Example", "CN=alice,O=Example", DN_NO_MATCH },
	{ "CN=\\2A,O=Example", "CN=*,O=Example", DN_MATCH },
	{ "CN=a\\?c", "CN=a?c", DN_MATCH },
	{ "CN=a\\?c", "CN=abc", DN_NO_MATCH },
	/* a '*' or '?' in the subject is just a character */
	{ "CN=a?c", "CN=a*c", DN_MATCH },
	{ "CN=alice", "CN=*", DN_NO_MATCH },
	{ "CN=al*", "CN=*", DN_NO_MATCH },

	/* multi-valued RDNs: grouping must agree, compared in order */
	{ "CN=alice+UID=42,O=Example", "CN=alice+UID=42,O=Example", DN_MATCH },
	{ "CN=*+UID=4?,O=Example", "CN=alice+UID=42,O=Example", DN_MATCH },
	{ "CN=alice,UID=42,O=Example", "CN=alice+UID=42,O=Example",
	    DN_NO_MATCH },
	{ "CN=alice+UID=42,O=Example", "CN=alice,UID=42,O=Example",
	    DN_NO_MATCH },
	{ "CN=*,O=Example", "CN=alice+UID=42,O=Example", DN_NO_MATCH },
	{ "CN=alice\\+UID=42,O=Example", "CN=alice\\+UID=42,O=Example",
	    DN_MATCH },
	{ "CN=*,O=Example", "CN=alice\\+UID=42,O=Example", DN_MATCH },
	{ "UID=42+CN=alice,O=Example", "CN=alice+UID=42,O=Example",
	    DN_NO_MATCH },

	/* hex escapes decode to one byte, on both sides */
	{ "CN=a\\00b", "CN=a\\00b", DN_MATCH },
	{ "CN=a?b", "CN=a\\00b", DN_MATCH },
	{ "CN=a*", "CN=a\\00b", DN_MATCH },
	{ "CN=ab", "CN=a\\00b", DN_NO_MATCH },
	{ "CN=a", "CN=a\\00b", DN_NO_MATCH },
	{ "CN=\\41lice", "CN=Alice", DN_MATCH },
	{ "CN=Alice", "CN=\\41lice", DN_MATCH },
	{ "CN=\\#hash,L=\\ lead", "CN=\\23hash,L=\\20lead", DN_MATCH },
	{ "CN=a\\\\b", "CN=a\\5Cb", DN_MATCH },
	{ "CN=a\\\\*", "CN=a\\\\bc", DN_MATCH },
	{ "ST=quote\\\"s\\<\\>\\;=", "ST=quote\\\"s\\<\\>\\;=", DN_MATCH },
	/* GnuTLS leaves '=' in a value unescaped */
	{ "O=p=q", "O=p=q", DN_MATCH },
	{ "O=p\\=q", "O=p=q", DN_MATCH },

	/* whitespace is literal */
	{ "CN=alice, O=Example", "CN=alice,O=Example", DN_BAD_PATTERN },
	{ "CN=alice ,O=Example", "CN=alice,O=Example", DN_NO_MATCH },
	{ "CN=a b,O=Example", "CN=a b,O=Example", DN_MATCH },

	/* malformed input on either side */
	{ "", "CN=alice", DN_BAD_PATTERN },
	{ NULL, "CN=alice", DN_BAD_PATTERN },
	{ "CN=alice", "", DN_BAD_DN },
	{ "CN=alice", NULL, DN_BAD_DN },
	{ "CN=alice,", "CN=alice", DN_BAD_PATTERN },
	{ "CN=alice", "CN=alice,", DN_BAD_DN },
	{ "CN=alice", "alice", DN_BAD_DN },
	{ "CN=alice", "CN=alice\\", DN_BAD_DN },
	{ "CN=alice", "CN=ali\\4", DN_BAD_DN },
	{ "CN=alice", "CN=ali\\4g", DN_BAD_DN },
	{ "CN=a\\", "CN=alice", DN_BAD_PATTERN },
	/* pattern is checked first */
	{ "CN", "CN", DN_BAD_PATTERN },
};

START_TEST(test_match_table)
{
	const struct match_case *c = &match_cases[_i];
	enum dn_result got = dn_match(c->pattern, c->dn);

	ck_assert_msg(got == c->want,
	    "case %d: dn_match(\"%s\", \"%s\") = %d, want %d", _i,
	    c->pattern ? c->pattern : "(null)", c->dn ? c->dn : "(null)",
	    (int)got, (int)c->want);
}
END_TEST

struct check_case {
	const char *pattern;
	enum dn_result want;    /* DN_MATCH means well-formed */
};

static const struct check_case check_cases[] = {
	{ "CN=alice,O=Example,C=GB", DN_MATCH },
	{ "CN=*", DN_MATCH },
	{ "cn=*,2.5.4.10=Ex?mple,id-at-x=1", DN_MATCH },
	{ "CN=alice+UID=1,O=x", DN_MATCH },
	{ "CN=Evil\\, Inc.", DN_MATCH },
	{ "CN=Evil\\2C Inc.", DN_MATCH },
	{ "CN=\\*\\?\\\\", DN_MATCH },
	{ "CN=", DN_MATCH },
	{ "CN=a=b", DN_MATCH },
	{ "CN=a b", DN_MATCH },
	{ "", DN_BAD_PATTERN },                 /* empty */
	{ NULL, DN_BAD_PATTERN },
	{ "alice", DN_BAD_PATTERN },            /* RDN without '=' */
	{ "CN=alice,Example", DN_BAD_PATTERN },
	{ "CN=alice+Example", DN_BAD_PATTERN },
	{ "=alice", DN_BAD_PATTERN },           /* empty type */
	{ "CN=alice,=Example", DN_BAD_PATTERN },
	{ "C N=alice", DN_BAD_PATTERN },        /* bad type characters */
	{ "CN =alice", DN_BAD_PATTERN },
	{ "CN=alice, O=Example", DN_BAD_PATTERN },
	{ "C*=alice", DN_BAD_PATTERN },
	{ "C_N=alice", DN_BAD_PATTERN },
	{ "CN\\,=alice", DN_BAD_PATTERN },
	{ ",CN=alice", DN_BAD_PATTERN },        /* separators */
	{ "CN=alice,", DN_BAD_PATTERN },
	{ "CN=alice,,O=x", DN_BAD_PATTERN },
	{ "CN=alice+", DN_BAD_PATTERN },
	{ "+CN=alice", DN_BAD_PATTERN },
	{ "CN=alice+,O=x", DN_BAD_PATTERN },
	{ "CN=alice,+O=x", DN_BAD_PATTERN },
	{ ",", DN_BAD_PATTERN },
	{ "CN=alice\\", DN_BAD_PATTERN },       /* escapes */
	{ "CN=a\\4", DN_BAD_PATTERN },
	{ "CN=a\\4x", DN_BAD_PATTERN },
	{ "CN=a\\x4", DN_MATCH },               /* \x is a literal x */
};

START_TEST(test_pattern_check_table)
{
	const struct check_case *c = &check_cases[_i];
	const char *why = "unset";
	enum dn_result got = dn_pattern_check(c->pattern, &why);

	ck_assert_msg(got == c->want, "case %d: dn_pattern_check(\"%s\") = %d, "
	    "want %d (%s)", _i, c->pattern ? c->pattern : "(null)", (int)got,
	    (int)c->want, why ? why : "no reason");
	if (got == DN_MATCH)
		ck_assert_ptr_null(why);
	else
		ck_assert_msg(why != NULL && why[0] != '\0',
		    "case %d: no reason given", _i);
	/* why may be NULL */
	ck_assert_int_eq(dn_pattern_check(c->pattern, NULL), got);
}
END_TEST

/* Fill buf with "CN=" and x's up to exactly len bytes. */
static void
make_long(char *buf, size_t len)
{
	memcpy(buf, "CN=", 3);
	memset(buf + 3, 'x', len - 3);
	buf[len] = '\0';
}

START_TEST(test_length_limit)
{
	static char at_max[1024 + 1], over[1025 + 1];
	const char *why = NULL;

	make_long(at_max, 1024);
	make_long(over, 1025);

	ck_assert_int_eq(dn_pattern_check(at_max, &why), DN_MATCH);
	ck_assert_int_eq(dn_match(at_max, at_max), DN_MATCH);
	ck_assert_int_eq(dn_match("CN=*", at_max), DN_MATCH);
	ck_assert_int_eq(dn_match("CN=x*y", at_max), DN_NO_MATCH);

	ck_assert_int_eq(dn_pattern_check(over, &why), DN_BAD_PATTERN);
	ck_assert_ptr_nonnull(why);
	ck_assert_int_eq(dn_match(over, "CN=x"), DN_BAD_PATTERN);
	ck_assert_int_eq(dn_match("CN=*", over), DN_BAD_DN);
}
END_TEST

/* The worst case for the glob must still be quick (no exponential
 * backtracking): many stars against a long value that almost matches. */
START_TEST(test_glob_worst_case)
{
	static char pat[1024 + 1], sub[1024 + 1];
	size_t i, n;

	n = 0;
	n += (size_t)sprintf(pat, "CN=");
	for (i = 0; i < 400; i++) {
		pat[n++] = '*';
		pat[n++] = 'a';
	}
	pat[n++] = 'b';
	pat[n] = '\0';
	make_long(sub, 1024);
	memset(sub + 3, 'a', 1021);
	ck_assert_int_eq(dn_match(pat, sub), DN_NO_MATCH);
}
END_TEST

/* ---- the format GnuTLS really prints ------------------------------------ */

static char tmpdir[256];

static const char *const tmpfiles[] = {
	"key.pem", "cert.pem", "cert.tmpl", "certtool.log",
};

/* Path of a file in the test's temporary directory. */
static const char *
tmppath(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

/* Run certtool with argv[1..] and its output into certtool.log.  Returns
 * the exit status, 127 when it cannot be run at all. */
static int
run_certtool(const char *const argv[])
{
	const char *prog = getenv("CERTTOOL");
	pid_t pid;
	int status, fd;

	if (prog == NULL || prog[0] == '\0')
		prog = "certtool";
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		fd = open(tmppath("certtool.log"),
		    O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		execvp(prog, (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		ck_assert_int_eq(errno, EINTR);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "cannot create %s: %s", path, strerror(errno));
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

static void
read_file(const char *path, gnutls_datum_t *out)
{
	static unsigned char buf[16384];
	FILE *f = fopen(path, "rb");
	size_t n;

	ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	ck_assert_msg(n > 0 && n < sizeof(buf), "%s: unexpected size", path);
	out->data = buf;
	out->size = (unsigned)n;
}

/* What certtool said, for a failure message. */
static const char *
certtool_log(void)
{
	static char buf[1024];
	FILE *f = fopen(tmppath("certtool.log"), "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static void
tmp_setup(void)
{
	const char *base = getenv("TMPDIR");

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/check_dn.XXXXXX", base);
	if (mkdtemp(tmpdir) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", tmpdir, strerror(errno));
		tmpdir[0] = '\0';
	}
}

static void
tmp_teardown(void)
{
	size_t i;

	if (tmpdir[0] == '\0')
		return;
	for (i = 0; i < LEN(tmpfiles); i++)
		unlink(tmppath(tmpfiles[i]));
	rmdir(tmpdir);
}

/*
 * The subject is given with dn_oid lines, in certificate order (C first):
 * that is how certs/vencryptd-certs writes arbitrary subjects, because
 * certtool's template parser mangles backslashes in a `dn = "..."` line.
 * Organization "Evil, O=Example" holds a comma: the attack, for real.
 */
static const char cert_template[] =
	"dn_oid = 2.5.4.6 GB\n"
	"dn_oid = 2.5.4.10 Evil, O=Example\n"
	"dn_oid = 2.5.4.11 a+b\n"
	"dn_oid = 2.5.4.3 trudy\n"
	"expiration_days = 1\n"
	"tls_www_client\n"
	"signing_key\n";

START_TEST(test_gnutls_dn3_format)
{
	const char *keygen[] = {
		"certtool", "--generate-privkey", "--key-type", "ecdsa",
		"--outfile", NULL, NULL,
	};
	const char *selfsign[] = {
		"certtool", "--generate-self-signed", "--load-privkey", NULL,
		"--template", NULL, "--outfile", NULL, NULL,
	};
	char keyfile[512], tmplfile[512], certfile[512];
	gnutls_x509_crt_t crt;
	gnutls_datum_t pem, dn = { NULL, 0 };
	int rc;

	ck_assert_msg(tmpdir[0] != '\0', "no temporary directory");
	snprintf(keyfile, sizeof(keyfile), "%s", tmppath("key.pem"));
	snprintf(tmplfile, sizeof(tmplfile), "%s", tmppath("cert.tmpl"));
	snprintf(certfile, sizeof(certfile), "%s", tmppath("cert.pem"));
	write_file(tmplfile, cert_template);

	keygen[5] = keyfile;
	rc = run_certtool(keygen);
	ck_assert_msg(rc != 127, "certtool not found: install gnutls-bin "
	    "(or set CERTTOOL); this test must not be skipped");
	ck_assert_msg(rc == 0, "certtool --generate-privkey failed (%d): %s",
	    rc, certtool_log());
	selfsign[3] = keyfile;
	selfsign[5] = tmplfile;
	selfsign[7] = certfile;
	rc = run_certtool(selfsign);
	ck_assert_msg(rc == 0, "certtool --generate-self-signed failed (%d): "
	    "%s", rc, certtool_log());

	read_file(certfile, &pem);
	ck_assert_int_eq(gnutls_x509_crt_init(&crt), 0);
	ck_assert_int_eq(gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM),
	    0);
	ck_assert_int_eq(gnutls_x509_crt_get_dn3(crt, &dn, 0), 0);

	/* RFC 4514 order, CN first; ',' and '+' inside values escaped */
	ck_assert_str_eq((const char *)dn.data,
	    "CN=trudy,OU=a\\+b,O=Evil\\, O=Example,C=GB");

	ck_assert_int_eq(dn_match("CN=trudy,OU=a\\+b,O=Evil\\, O=Example,C=GB",
	    (const char *)dn.data), DN_MATCH);
	ck_assert_int_eq(dn_match("cn=*,ou=a\\2Bb,o=Evil\\2C O=Example,c=GB",
	    (const char *)dn.data), DN_MATCH);
	ck_assert_int_eq(dn_match("CN=*,OU=*,O=*,C=GB",
	    (const char *)dn.data), DN_MATCH);
	/* inside one value a '*' may cover an escaped comma... */
	ck_assert_int_eq(dn_match("CN=*,OU=*,O=*O=Example,C=GB",
	    (const char *)dn.data), DN_MATCH);
	/* ...but never reach into the next RDN: the attack */
	ck_assert_int_eq(dn_match("CN=*,OU=*, O=Example,C=GB",
	    (const char *)dn.data), DN_BAD_PATTERN);
	ck_assert_int_eq(dn_match("CN=*,OU=a,OU=b,O=Evil,O=Example,C=GB",
	    (const char *)dn.data), DN_NO_MATCH);
	ck_assert_int_eq(dn_match("CN=*,OU=a+OU=b,O=Evil,O=Example,C=GB",
	    (const char *)dn.data), DN_NO_MATCH);
	ck_assert_int_eq(dn_match("CN=*,O=Example,C=GB",
	    (const char *)dn.data), DN_NO_MATCH);
	ck_assert_int_eq(dn_match("CN=*", (const char *)dn.data),
	    DN_NO_MATCH);
	/* certificate order (get_dn/get_dn2, what QEMU matches) is not ours */
	ck_assert_int_eq(dn_match("C=GB,O=Evil\\, O=Example,OU=a\\+b,CN=trudy",
	    (const char *)dn.data), DN_NO_MATCH);

	gnutls_free(dn.data);
	gnutls_x509_crt_deinit(crt);
}
END_TEST

static Suite *
dn_suite(void)
{
	Suite *s = suite_create("dn");
	TCase *tc;

	tc = tcase_create("match");
	tcase_add_loop_test(tc, test_match_table, 0, (int)LEN(match_cases));
	tcase_add_test(tc, test_length_limit);
	tcase_add_test(tc, test_glob_worst_case);
	suite_add_tcase(s, tc);

	tc = tcase_create("pattern_check");
	tcase_add_loop_test(tc, test_pattern_check_table, 0,
	    (int)LEN(check_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("gnutls");
	/* unchecked: runs in the parent, so the directory goes away even
	 * when the forked test fails */
	tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_gnutls_dn3_format);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return check_run(dn_suite());
}
