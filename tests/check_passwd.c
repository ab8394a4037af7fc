/*
 * check_passwd.c - the password file: good files load and verify, every
 * kind of bad line gives its exact "file:line: message", all errors are
 * reported, and passwd_hash() output verifies.
 *
 * The fixed hashes below were made once with crypt_gensalt_rn + crypt_rn;
 * the password of each is in its comment.
 */
#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <crypt.h>

#include "config.h"
#include "passwd.h"
#include "check_run.h"

/* "alice-pw" */
#define H_YESCRYPT "$y$j9T$C3KFyvSz5a.H37wg3G1yM/$U5g5xtzINNWMgGVfoMOJf0X" \
	"kVZoQHl185spSgxpMVV5"
/* "bob-pw" */
#define H_SHA512 "$6$4i3C1iXX6ExuXb5g$ZxWDaWpyoEKP7DgOv8EjFwqAdpM/Nje0Mv9C" \
	"PbMAtrJfvsOKaWlj3wYf5fnonJ9/s4VgJIM8DAln9WBfYxkQh."
/* "carol-pw" */
#define H_BCRYPT_B "$2b$05$bmyl3r16HbLdekli/XeJk.6hbeHViyhAKwz9pdK/Zg40nrfk" \
	"/3Bgu"
/* "dave-pw" */
#define H_BCRYPT_Y "$2y$05$v38AYWD9lvrfHBB7s/CODu0ZLAe6YJ.yglY/i.wr4ETshc/1" \
	"xei1i"
/* "x" */
#define H_SHA512_ROUNDS "$6$rounds=5000$abcdefgh$D7W7qyozKBT.t6FD3DVYHvADbIO0" \
	"eSyI4.p20LaEUjro8PqTGYYo/EQcuNjhFbzo9Yg5ir1KIEqFY/yJpgFph0"
/* "x", each */
#define H_SHA256 "$5$EFC5ruqZovA2s793$tPlmXBlipQDOjWP7hwO31ImGoiehgAYaM7wcD" \
	"Hyg1Z7"
#define H_MD5 "$1$AQ5O27LI$Os4ndNQYNvfE2YUEWn8Eg."
#define H_DES "2b3vdo8n90Ggc"
#define H_BCRYPT_A "$2a$05$60grrBKtxWhBy5qieIaXvOvo.5wXx9J53nGD4iHMJPqnEVs/" \
	"Qx04C"
#define H_SCRYPT "$7$CU..../....nL805fgsj8gls2F1.AIik1$DsRXXIRDc7420aH5gMC" \
	"H9z0H5vvCg3x9gg.a3idmrf0"

#define REHASH "rehash with vencryptd --hash-password"
#define UNSUPPORTED "not a supported crypt(3) hash (yescrypt $y$, " \
	"sha512-crypt $6$ or bcrypt $2b$/$2y$); " REHASH

/* ---- helpers ------------------------------------------------------------- */

struct tmpfile {
	char path[64];
};

/* Writes len bytes of text to a new temporary file. */
static void
tmp_write(struct tmpfile *t, const char *text, size_t len)
{
	int fd;

	snprintf(t->path, sizeof t->path, "/tmp/check_passwd.XXXXXX");
	fd = mkstemp(t->path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/* Loads text as a password file; its path in t, errors in errs. */
static struct passwd_db *
load_text(struct tmpfile *t, const char *text, struct config_errors *errs)
{
	struct passwd_db *db;

	tmp_write(t, text, strlen(text));
	db = passwd_load(t->path, errs);
	ck_assert(db != NULL || errs->n > 0);
	return db;
}

/* Asserts that errs->lines[i] is "path:line: msg" (or "path: msg" for
 * line 0). */
static void
assert_error(const struct config_errors *errs, size_t i, const char *path,
    int line, const char *msg)
{
	char want[4096];

	if (line > 0)
		snprintf(want, sizeof want, "%s:%d: %s", path, line, msg);
	else
		snprintf(want, sizeof want, "%s: %s", path, msg);
	ck_assert_uint_gt(errs->n, i);
	ck_assert_str_eq(errs->lines[i], want);
}

/* Asserts that text fails to load with exactly one error, msg, on line. */
static void
assert_one_error(const char *text, int line, const char *msg)
{
	struct config_errors errs = { NULL, 0 };
	struct tmpfile t = { "" };
	struct passwd_db *db;

	db = load_text(&t, text, &errs);
	ck_assert_ptr_null(db);
	assert_error(&errs, 0, t.path, line, msg);
	ck_assert_uint_eq(errs.n, 1);
	config_errors_free(&errs);
	unlink(t.path);
}

/* ---- good files ---------------------------------------------------------- */

static const char good_file[] =
    "# vencryptd users\n"
    "\n"
    "alice:" H_YESCRYPT "\n"
    "   # an indented comment\n"
    " \t \n"
    "bob:" H_SHA512 "\n"
    "carol:" H_BCRYPT_B "\n"
    "dave:" H_BCRYPT_Y "\n"
    "erin:" H_SHA512_ROUNDS;    /* no final newline */

START_TEST(test_good_file)
{
	struct config_errors errs = { NULL, 0 };
	struct tmpfile t = { "" };
	struct passwd_db *db;

	db = load_text(&t, good_file, &errs);
	ck_assert_ptr_nonnull(db);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_uint_eq(passwd_count(db), 5);
	ck_assert(passwd_has_user(db, "alice"));
	ck_assert(passwd_has_user(db, "erin"));
	ck_assert(!passwd_has_user(db, "mallory"));
	ck_assert(!passwd_has_user(db, "# vencryptd users"));
	ck_assert(!passwd_has_user(db, ""));
	passwd_free(db);
	unlink(t.path);
}
END_TEST

static const struct {
	const char *user;
	const char *password;
	enum passwd_result result;
} verifications[] = {
	{ "alice", "alice-pw", PASSWD_OK },                     /* yescrypt */
	{ "alice", "alice-pW", PASSWD_BAD_PASSWORD },
	{ "alice", "", PASSWD_BAD_PASSWORD },
	{ "alice", "bob-pw", PASSWD_BAD_PASSWORD },
	{ "bob", "bob-pw", PASSWD_OK },                         /* sha512 */
	{ "bob", "bob-pw ", PASSWD_BAD_PASSWORD },
	{ "carol", "carol-pw", PASSWD_OK },                     /* $2b$ */
	{ "carol", "carol", PASSWD_BAD_PASSWORD },
	{ "dave", "dave-pw", PASSWD_OK },                       /* $2y$ */
	{ "erin", "x", PASSWD_OK },                             /* rounds= */
	{ "mallory", "alice-pw", PASSWD_NO_USER },
	{ "Alice", "alice-pw", PASSWD_NO_USER },
	{ "", "", PASSWD_NO_USER },
};

START_TEST(test_verify)
{
	struct config_errors errs = { NULL, 0 };
	struct tmpfile t = { "" };
	struct passwd_db *db;

	db = load_text(&t, good_file, &errs);
	ck_assert_ptr_nonnull(db);
	for (size_t i = 0; i < sizeof verifications / sizeof verifications[0];
	    i++) {
		enum passwd_result r = passwd_verify(db, verifications[i].user,
		    verifications[i].password);

		ck_assert_msg(r == verifications[i].result,
		    "%s/%s: got %s, want %s", verifications[i].user,
		    verifications[i].password, passwd_result_name(r),
		    passwd_result_name(verifications[i].result));
	}
	passwd_free(db);
	unlink(t.path);
}
END_TEST

/* crypt refuses 512 bytes and more: no match, not an error. */
START_TEST(test_verify_long_password)
{
	struct config_errors errs = { NULL, 0 };
	char pw[600];
	struct tmpfile t = { "" };
	struct passwd_db *db;

	db = load_text(&t, good_file, &errs);
	ck_assert_ptr_nonnull(db);
	memset(pw, 'a', sizeof pw);
	pw[sizeof pw - 1] = '\0';
	ck_assert_int_eq(passwd_verify(db, "bob", pw), PASSWD_BAD_PASSWORD);
	ck_assert_int_eq(passwd_verify(db, "nobody", pw), PASSWD_NO_USER);
	pw[511] = '\0';
	ck_assert_int_eq(passwd_verify(db, "bob", pw), PASSWD_BAD_PASSWORD);
	ck_assert_int_eq(passwd_verify(db, "nobody", pw), PASSWD_NO_USER);
	passwd_free(db);
	unlink(t.path);
}
END_TEST

/* ---- bad lines ----------------------------------------------------------- */

static const struct {
	const char *line;       /* line 2, after a good one */
	const char *msg;
} bad_lines[] = {
	{ "bob " H_SHA512, "missing ':' between user name and hash" },
	{ ":" H_SHA512, "empty user name" },
	{ "bob:", "user bob: empty hash" },
	{ "bob:" H_DES, "user bob: DES hashes are too weak; " REHASH },
	{ "bob:" H_MD5, "user bob: MD5 hashes ($1$) are too weak; " REHASH },
	{ "bob:garbage", "user bob: " UNSUPPORTED },
	{ "bob:*", "user bob: " UNSUPPORTED },
	{ "bob:!" H_SHA512, "user bob: " UNSUPPORTED },
	{ "bob:" H_BCRYPT_A, "user bob: " UNSUPPORTED },
	{ "bob:" H_SCRYPT, "user bob: " UNSUPPORTED },
	{ "bob:$y$garbage", "user bob: malformed yescrypt hash" },
	{ "bob:$6$abc$", "user bob: malformed sha512-crypt hash" },
	{ "bob:" H_SHA512 "x", "user bob: malformed sha512-crypt hash" },
	{ "bob:" H_SHA512 " ", "user bob: malformed sha512-crypt hash" },
	{ "bob:" H_SHA512 "\r", "user bob: malformed sha512-crypt hash" },
	{ "bob:$2b$99$bmyl3r16HbLdekli/XeJk.6hbeHViyhAKwz9pdK/Zg40nrfk/3Bgu",
	  "user bob: malformed bcrypt hash" },
	{ "bob:" H_SHA512 ":19000:0:99999:7:::",
	  "user bob: more than one ':' (expected user:hash)" },
	{ "b\tob:" H_SHA512, "user name contains a control character" },
	{ "b\033[31mob:" H_SHA512, "user name contains a control character" },
	{ "bob\x7f:" H_SHA512, "user name contains a control character" },
	{ " bob:" H_SHA512, "user name begins or ends with a space" },
	{ "bob :" H_SHA512, "user name begins or ends with a space" },
	{ "alice:" H_SHA512, "duplicate user alice (first on line 1)" },
};

START_TEST(test_bad_line)
{
	char text[1024];

	snprintf(text, sizeof text, "alice:%s\n%s\n", H_YESCRYPT,
	    bad_lines[_i].line);
	assert_one_error(text, 2, bad_lines[_i].msg);
}
END_TEST

/* Debian 12's libxcrypt calls sha256-crypt legacy; elsewhere it may load. */
START_TEST(test_sha256)
{
	const char *text = "bob:" H_SHA256 "\n";

	if (crypt_checksalt(H_SHA256) == CRYPT_SALT_OK) {
		struct config_errors errs = { NULL, 0 };
		struct tmpfile t = { "" };
		struct passwd_db *db = load_text(&t, text, &errs);

		ck_assert_ptr_nonnull(db);
		ck_assert_int_eq(passwd_verify(db, "bob", "x"), PASSWD_OK);
		passwd_free(db);
		unlink(t.path);
	} else {
		assert_one_error(text, 1, "user bob: sha256-crypt hashes ($5$) "
		    "are refused by this system's libcrypt; " REHASH);
	}
}
END_TEST

START_TEST(test_nul_byte)
{
	static const char text[] = "alice:" H_YESCRYPT "\nb\0b:" H_SHA512 "\n";
	struct config_errors errs = { NULL, 0 };
	struct tmpfile t = { "" };

	tmp_write(&t, text, sizeof text - 1);
	ck_assert_ptr_null(passwd_load(t.path, &errs));
	ck_assert_uint_eq(errs.n, 1);
	assert_error(&errs, 0, t.path, 2, "NUL byte in line");
	config_errors_free(&errs);
	unlink(t.path);
}
END_TEST

START_TEST(test_user_name_length)
{
	char name[PASSWD_USER_MAX + 2], text[PASSWD_USER_MAX + 200];
	struct config_errors errs = { NULL, 0 };
	struct tmpfile t = { "" };
	struct passwd_db *db;

	memset(name, 'u', sizeof name);
	name[PASSWD_USER_MAX] = '\0';
	snprintf(text, sizeof text, "%s:%s\n", name, H_SHA512);
	db = load_text(&t, text, &errs);
	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(passwd_verify(db, name, "bob-pw"), PASSWD_OK);
	passwd_free(db);
	unlink(t.path);

	name[PASSWD_USER_MAX] = 'u';
	name[PASSWD_USER_MAX + 1] = '\0';
	snprintf(text, sizeof text, "%s:%s\n", name, H_SHA512);
	assert_one_error(text, 1, "user name longer than 1024 bytes");
}
END_TEST

/* Every bad line is reported, in line order, duplicates after the rest. */
START_TEST(test_all_errors)
{
	static const char text[] =
	    "alice:" H_YESCRYPT "\n"            /* 1 */
	    "bob:" H_MD5 "\n"                   /* 2 */
	    "# fine\n"                          /* 3 */
	    "alice:" H_SHA512 "\n"              /* 4 */
	    "carol\n"                           /* 5 */
	    "dave:" H_BCRYPT_Y "\n"             /* 6 */
	    "dave:" H_BCRYPT_B "\n"             /* 7 */
	    "alice:" H_BCRYPT_B "\n";           /* 8 */
	struct config_errors errs = { NULL, 0 };
	struct tmpfile t = { "" };

	ck_assert_ptr_null(load_text(&t, text, &errs));
	assert_error(&errs, 0, t.path, 2,
	    "user bob: MD5 hashes ($1$) are too weak; " REHASH);
	assert_error(&errs, 1, t.path, 5,
	    "missing ':' between user name and hash");
	assert_error(&errs, 2, t.path, 4,
	    "duplicate user alice (first on line 1)");
	assert_error(&errs, 3, t.path, 7,
	    "duplicate user dave (first on line 6)");
	assert_error(&errs, 4, t.path, 8,
	    "duplicate user alice (first on line 1)");
	ck_assert_uint_eq(errs.n, 5);
	config_errors_free(&errs);
	unlink(t.path);
}
END_TEST

START_TEST(test_two_errors)
{
	struct config_errors errs = { NULL, 0 };
	struct tmpfile t = { "" };

	ck_assert_ptr_null(load_text(&t, "alice:" H_DES "\n:x\n", &errs));
	ck_assert_uint_eq(errs.n, 2);
	assert_error(&errs, 0, t.path, 1,
	    "user alice: DES hashes are too weak; " REHASH);
	assert_error(&errs, 1, t.path, 2, "empty user name");
	config_errors_free(&errs);
	unlink(t.path);
}
END_TEST

START_TEST(test_no_users)
{
	assert_one_error("", 0, "no users");
	assert_one_error("# nobody yet\n\n", 0, "no users");
}
END_TEST

START_TEST(test_missing_file)
{
	struct config_errors errs = { NULL, 0 };
	const char *path = "/nonexistent/vencryptd/passwd";

	ck_assert_ptr_null(passwd_load(path, &errs));
	ck_assert_uint_eq(errs.n, 1);
	assert_error(&errs, 0, path, 0,
	    "cannot open: No such file or directory");
	config_errors_free(&errs);
}
END_TEST

/* ---- hashing ------------------------------------------------------------- */

START_TEST(test_hash)
{
	/* ':' and UTF-8 in the password, UTF-8 in the user name */
	static const char pw[] = "p\xc3\xa4:ss w\xc3\xb6rd \xe2\x82\xac:";
	char h1[PASSWD_HASH_SIZE], h2[PASSWD_HASH_SIZE], text[1024];
	struct config_errors errs = { NULL, 0 };
	struct tmpfile t = { "" };
	struct passwd_db *db;

	ck_assert_int_eq(passwd_hash(pw, h1, sizeof h1), PASSWD_OK);
	ck_assert_int_eq(passwd_hash(pw, h2, sizeof h2), PASSWD_OK);
	ck_assert_int_eq(strncmp(h1, "$y$", 3), 0);
	ck_assert_str_ne(h1, h2);               /* fresh salt each time */
	ck_assert_int_eq(crypt_checksalt(h1), CRYPT_SALT_OK);

	snprintf(text, sizeof text, "j\xc3\xbcrgen:%s\nbob:%s\n", h1, h2);
	db = load_text(&t, text, &errs);
	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(passwd_verify(db, "j\xc3\xbcrgen", pw), PASSWD_OK);
	ck_assert_int_eq(passwd_verify(db, "bob", pw), PASSWD_OK);
	ck_assert_int_eq(passwd_verify(db, "j\xc3\xbcrgen", "p\xc3\xa4"),
	    PASSWD_BAD_PASSWORD);
	ck_assert_int_eq(passwd_verify(db, "jurgen", pw), PASSWD_NO_USER);
	passwd_free(db);
	unlink(t.path);
}
END_TEST

START_TEST(test_hash_errors)
{
	char out[PASSWD_HASH_SIZE], big[600];

	ck_assert_int_eq(passwd_hash("x", out, 10), PASSWD_ERROR);
	ck_assert_str_eq(out, "");
	memset(big, 'a', sizeof big);
	big[sizeof big - 1] = '\0';
	ck_assert_int_eq(passwd_hash(big, out, sizeof out), PASSWD_ERROR);
	ck_assert_int_eq(passwd_hash("", out, sizeof out), PASSWD_OK);
}
END_TEST

/* ---- threads ------------------------------------------------------------- */

static void *
verify_worker(void *arg)
{
	const struct passwd_db *db = arg;
	size_t bad = 0;

	for (int i = 0; i < 20; i++) {
		bad += passwd_verify(db, "bob", "bob-pw") != PASSWD_OK;
		bad += passwd_verify(db, "bob", "bob-px") !=
		    PASSWD_BAD_PASSWORD;
		bad += passwd_verify(db, "carol", "carol-pw") != PASSWD_OK;
		bad += passwd_verify(db, "zed", "bob-pw") != PASSWD_NO_USER;
	}
	return (void *)bad;
}

START_TEST(test_threads)
{
	struct config_errors errs = { NULL, 0 };
	pthread_t th[4];
	struct tmpfile t = { "" };
	struct passwd_db *db;

	db = load_text(&t, "bob:" H_SHA512 "\ncarol:" H_BCRYPT_B "\n", &errs);
	ck_assert_ptr_nonnull(db);
	for (size_t i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, verify_worker,
		    db), 0);
	for (size_t i = 0; i < 4; i++) {
		void *bad;

		ck_assert_int_eq(pthread_join(th[i], &bad), 0);
		ck_assert_ptr_null(bad);
	}
	passwd_free(db);
	unlink(t.path);
}
END_TEST

static Suite *
passwd_suite(void)
{
	Suite *s = suite_create("passwd");
	TCase *tc;

	tc = tcase_create("load");
	tcase_add_test(tc, test_good_file);
	tcase_add_loop_test(tc, test_bad_line, 0,
	    sizeof bad_lines / sizeof bad_lines[0]);
	tcase_add_test(tc, test_sha256);
	tcase_add_test(tc, test_nul_byte);
	tcase_add_test(tc, test_user_name_length);
	tcase_add_test(tc, test_all_errors);
	tcase_add_test(tc, test_two_errors);
	tcase_add_test(tc, test_no_users);
	tcase_add_test(tc, test_missing_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("verify");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_verify);
	tcase_add_test(tc, test_verify_long_password);
	tcase_add_test(tc, test_hash);
	tcase_add_test(tc, test_hash_errors);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(passwd_suite());
}
