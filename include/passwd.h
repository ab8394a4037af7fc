/*
 * passwd.h - the password file for X509Plain: load, verify, hash.
 *
 * The file holds one "user:hash" line per user, the hash in crypt(3) form:
 * yescrypt ($y$), sha512-crypt ($6$), bcrypt ($2b$, $2y$), and
 * sha256-crypt ($5$) only where libcrypt does not call it legacy (Debian
 * 12's does).  Lines starting with '#' (after optional blanks) and blank
 * lines are ignored.  passwd_load() reports every problem as a
 * "file:line: message" line in a struct config_errors and never logs.
 *
 * A loaded database is never changed: any number of threads may call
 * passwd_has_user() and passwd_verify() on it at once.
 */
#ifndef VENCRYPTD_PASSWD_H
#define VENCRYPTD_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

struct config_errors;

#define PASSWD_USER_MAX 1024    /* longest user name, in bytes */
#define PASSWD_USER_MAX_TEXT "1024"
#define PASSWD_INPUT_MAX 511    /* longest password libcrypt hashes */
#define PASSWD_HASH_SIZE 384    /* room for any hash and its NUL
                                 * (libcrypt's CRYPT_OUTPUT_SIZE) */

struct passwd_db;

enum passwd_result {
	PASSWD_OK,              /* the password matches the user's hash */
	PASSWD_BAD_PASSWORD,    /* a known user, another password */
	PASSWD_NO_USER,         /* no such user (same work as a known one) */
	PASSWD_ERROR,           /* out of memory, or libcrypt failed */
};

const char *passwd_result_name(enum passwd_result r);

/* NULL on error, with every problem found in errs.  A file without users
 * is an error too. */
struct passwd_db *passwd_load(const char *path, struct config_errors *errs);
void passwd_free(struct passwd_db *db);

/* NULL when name (len bytes) may be a user name in the file, otherwise
 * why not: empty, too long, a control character or ':', a space at
 * either end. */
const char *passwd_user_problem(const char *name, size_t len);

size_t passwd_count(const struct passwd_db *db);
bool passwd_has_user(const struct passwd_db *db, const char *user);

/*
 * Hashes password with the user's hash setting and compares in constant
 * time.  For an unknown user the password is hashed just the same, against
 * the first user's hash, so the time taken does not tell which users
 * exist; callers must not tell the client PASSWD_NO_USER from
 * PASSWD_BAD_PASSWORD either.  A password longer than libcrypt accepts
 * (512 bytes) matches nothing and is not hashed, whoever the user.
 * Thread-safe: the hashing state lives on the heap and is wiped after use.
 */
enum passwd_result passwd_verify(const struct passwd_db *db, const char *user,
    const char *password);

/* A fresh yescrypt hash ("$y$...", library default cost, salt from the
 * system's random source) for --hash-password; PASSWD_OK or PASSWD_ERROR
 * (password too long, outlen too small, no randomness, out of memory).
 * PASSWD_HASH_SIZE bytes of out are always enough. */
enum passwd_result passwd_hash(const char *password, char *out,
    size_t outlen);

#endif
