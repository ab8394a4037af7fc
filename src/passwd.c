/*
 * passwd.c - the X509Plain password file: load and check every line,
 * verify a password in constant work, make a new hash.
 *
 * Loading reads the whole file and reports every bad line as one
 * "file:line: message" error, duplicate users after the other errors (they
 * are found once the users are sorted).  Hashes are checked by form and by
 * crypt_checksalt() without hashing anything, so loading stays cheap
 * however many users there are.  Nothing here logs.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <crypt.h>

#include "config.h"
#include "log.h"
#include "passwd.h"

_Static_assert(PASSWD_HASH_SIZE == CRYPT_OUTPUT_SIZE,
    "PASSWD_HASH_SIZE must match libcrypt's CRYPT_OUTPUT_SIZE");

static_assert(PASSWD_INPUT_MAX + 1 == CRYPT_MAX_PASSPHRASE_SIZE,
    "PASSWD_INPUT_MAX follows libcrypt");

#define REHASH "rehash with vencryptd --hash-password"

struct user {
	char *name;
	char *hash;             /* well formed, shorter than PASSWD_HASH_SIZE */
	int line;
};

struct passwd_db {
	struct user *users;     /* sorted by name, no duplicates */
	size_t n;
	char *dummy;            /* the first user's hash: what an unknown
	                         * user's password is hashed against */
};

struct loader {
	const char *path;
	struct config_errors *errs;
	size_t nerrors;         /* counted even when a line could not be stored */
	struct user *users;     /* file order until sorted */
	size_t n, cap;
};

/* How the part of a hash after its prefix is laid out. */
enum hash_form {
	FORM_YESCRYPT,          /* params$salt$digest */
	FORM_SHA_CRYPT,         /* [rounds=N$]salt$digest, salt 1-16 */
	FORM_BCRYPT,            /* NN$ then salt and digest, 22 + 31 */
};

/* The methods we take, if crypt_checksalt() agrees. */
static const struct hash_method {
	const char *prefix;
	const char *name;
	enum hash_form form;
	size_t digest_len;      /* characters after the last '$' */
} methods[] = {
	{ "$y$", "yescrypt", FORM_YESCRYPT, 43 },
	{ "$6$", "sha512-crypt", FORM_SHA_CRYPT, 86 },
	{ "$5$", "sha256-crypt", FORM_SHA_CRYPT, 43 },
	{ "$2b$", "bcrypt", FORM_BCRYPT, 53 },
	{ "$2y$", "bcrypt", FORM_BCRYPT, 53 },
};

static void ld_error(struct loader *, int, const char *, ...) PRINTF_LIKE(3, 4);

const char *
passwd_result_name(enum passwd_result r)
{
	switch (r) {
	case PASSWD_OK: return "ok";
	case PASSWD_BAD_PASSWORD: return "wrong password";
	case PASSWD_NO_USER: return "no such user";
	case PASSWD_ERROR: return "error";
	}
	return "?";
}

/* ---- loading ------------------------------------------------------------- */

static void
ld_error(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	ld->nerrors++;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	config_errors_add(ld->errs, ld->path, line, "%s",
	    msg != NULL ? msg : "out of memory");
	free(msg);
}

/* How many leading characters of s are in crypt's base64 alphabet. */
static size_t
b64_span(const char *s)
{
	return strspn(s, "./0123456789"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
}

/* Whether the text after the method's prefix has the method's layout. */
static bool
hash_well_formed(const struct hash_method *m, const char *p)
{
	size_t n;

	switch (m->form) {
	case FORM_YESCRYPT:
		if ((n = b64_span(p)) == 0 || p[n] != '$')
			return false;
		p += n + 1;
		if ((n = b64_span(p)) == 0 || p[n] != '$')
			return false;
		p += n + 1;
		break;
	case FORM_SHA_CRYPT:
		if (strncmp(p, "rounds=", 7) == 0) {
			p += 7;
			n = strspn(p, "0123456789");
			if (n == 0 || n > 9 || p[n] != '$')
				return false;
			p += n + 1;
		}
		if ((n = b64_span(p)) == 0 || n > 16 || p[n] != '$')
			return false;
		p += n + 1;
		break;
	case FORM_BCRYPT:
		/* two-digit cost 04..31 */
		if (strspn(p, "0123456789") != 2 || p[2] != '$' ||
		    strncmp(p, "04", 2) < 0 || strncmp(p, "31", 2) > 0)
			return false;
		p += 3;
		break;
	}
	n = b64_span(p);
	return n == m->digest_len && p[n] == '\0';
}

/* Whether hash is one we accept; reports why not, naming the user (ulen
 * bytes, already checked, so safe to print). */
static bool
check_hash(struct loader *ld, int line, int ulen, const char *user,
    const char *hash)
{
	const struct hash_method *m = NULL;
	size_t len = strlen(hash);

	if (len == 0) {
		ld_error(ld, line, "user %.*s: empty hash", ulen, user);
		return false;
	}
	if (len == 13 && strchr(hash, '$') == NULL) {
		ld_error(ld, line, "user %.*s: DES hashes are too weak; "
		    REHASH, ulen, user);
		return false;
	}
	if (strncmp(hash, "$1$", 3) == 0) {
		ld_error(ld, line, "user %.*s: MD5 hashes ($1$) are too weak; "
		    REHASH, ulen, user);
		return false;
	}
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		if (strncmp(hash, methods[i].prefix,
		    strlen(methods[i].prefix)) == 0) {
			m = &methods[i];
			break;
		}
	}
	if (m == NULL) {
		ld_error(ld, line, "user %.*s: not a supported crypt(3) hash "
		    "(yescrypt $y$, sha512-crypt $6$ or bcrypt $2b$/$2y$); "
		    REHASH, ulen, user);
		return false;
	}
	if (len >= PASSWD_HASH_SIZE ||
	    !hash_well_formed(m, hash + strlen(m->prefix))) {
		ld_error(ld, line, "user %.*s: malformed %s hash", ulen, user,
		    m->name);
		return false;
	}
	if (crypt_checksalt(hash) != CRYPT_SALT_OK) {
		ld_error(ld, line, "user %.*s: %s hashes (%s) are refused by "
		    "this system's libcrypt; " REHASH, ulen, user, m->name,
		    m->prefix);
		return false;
	}
	return true;
}

const char *
passwd_user_problem(const char *name, size_t len)
{
	if (len == 0)
		return "empty user name";
	if (len > PASSWD_USER_MAX)
		return "user name longer than " PASSWD_USER_MAX_TEXT " bytes";
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return "user name contains a control character";
		if (name[i] == ':')
			return "user name contains ':'";
	}
	if (name[0] == ' ' || name[len - 1] == ' ')
		return "user name begins or ends with a space";
	return NULL;
}

/* Whether name (len bytes, no NUL) may be a user name; reports why not. */
static bool
check_user(struct loader *ld, int line, const char *name, size_t len)
{
	const char *why = passwd_user_problem(name, len);

	if (why != NULL)
		ld_error(ld, line, "%s", why);
	return why == NULL;
}

static void
add_user(struct loader *ld, int line, const char *name, size_t len,
    const char *hash)
{
	struct user u = { NULL, NULL, line }, *users;

	if (ld->n == ld->cap) {
		size_t cap = ld->cap != 0 ? ld->cap * 2 : 16;

		if ((users = reallocarray(ld->users, cap, sizeof *users))
		    == NULL)
			goto nomem;
		ld->users = users;
		ld->cap = cap;
	}
	if ((u.name = strndup(name, len)) == NULL ||
	    (u.hash = strdup(hash)) == NULL)
		goto nomem;
	ld->users[ld->n++] = u;
	return;
nomem:
	free(u.name);
	ld_error(ld, line, "out of memory");
}

/* One line, without its '\n'. */
static void
parse_line(struct loader *ld, int line, const char *buf, size_t len)
{
	const char *p, *colon;

	if (memchr(buf, '\0', len) != NULL) {
		ld_error(ld, line, "NUL byte in line");
		return;
	}
	p = buf + strspn(buf, " \t");
	if (*p == '\0' || *p == '#')
		return;
	if ((colon = strchr(buf, ':')) == NULL) {
		ld_error(ld, line, "missing ':' between user name and hash");
		return;
	}
	if (!check_user(ld, line, buf, (size_t)(colon - buf)))
		return;
	if (strchr(colon + 1, ':') != NULL) {
		ld_error(ld, line, "user %.*s: more than one ':' "
		    "(expected user:hash)", (int)(colon - buf), buf);
		return;
	}
	if (check_hash(ld, line, (int)(colon - buf), buf, colon + 1))
		add_user(ld, line, buf, (size_t)(colon - buf), colon + 1);
}

static int
user_order(const void *a, const void *b)
{
	const struct user *ua = a, *ub = b;
	int c = strcmp(ua->name, ub->name);

	if (c != 0)
		return c;
	return (ua->line > ub->line) - (ua->line < ub->line);
}

/* A user named again, for the report. */
struct dup {
	const char *name;
	int line;
	int first;              /* the line that named it first */
};

static int
dup_order(const void *a, const void *b)
{
	const struct dup *da = a, *db = b;

	return (da->line > db->line) - (da->line < db->line);
}

/* Sorts ld->users and reports every duplicate, in line order. */
static void
find_duplicates(struct loader *ld)
{
	struct dup *dups = NULL;
	size_t ndups = 0, first = 0;

	if (ld->n < 2)
		return;
	qsort(ld->users, ld->n, sizeof *ld->users, user_order);
	if ((dups = calloc(ld->n, sizeof *dups)) == NULL) {
		ld_error(ld, 0, "out of memory");
		return;
	}
	for (size_t i = 1; i < ld->n; i++) {
		if (strcmp(ld->users[i].name, ld->users[first].name) != 0) {
			first = i;
			continue;
		}
		dups[ndups].name = ld->users[i].name;
		dups[ndups].line = ld->users[i].line;
		dups[ndups].first = ld->users[first].line;
		ndups++;
	}
	qsort(dups, ndups, sizeof *dups, dup_order);
	for (size_t i = 0; i < ndups; i++)
		ld_error(ld, dups[i].line, "duplicate user %s (first on "
		    "line %d)", dups[i].name, dups[i].first);
	free(dups);
}

static void
free_users(struct user *users, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(users[i].name);
		free(users[i].hash);
	}
	free(users);
}

struct passwd_db *
passwd_load(const char *path, struct config_errors *errs)
{
	struct loader ld;
	struct passwd_db *db = NULL, *ret = NULL;
	char *dummy = NULL, *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	int line = 0;
	FILE *fp;

	memset(&ld, 0, sizeof ld);
	ld.path = path;
	ld.errs = errs;

	if ((fp = fopen(path, "re")) == NULL) {
		ld_error(&ld, 0, "cannot open: %s", strerror(errno));
		goto cleanup;
	}
	while ((len = getline(&buf, &cap, fp)) != -1) {
		if (line == INT_MAX) {
			ld_error(&ld, line, "too many lines");
			break;
		}
		line++;
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		parse_line(&ld, line, buf, (size_t)len);
	}
	if (ferror(fp))
		ld_error(&ld, 0, "read error: %s", strerror(errno));
	else if (ld.n == 0 && ld.nerrors == 0)
		ld_error(&ld, 0, "no users");
	if (ld.n > 0 && (dummy = strdup(ld.users[0].hash)) == NULL)
		ld_error(&ld, 0, "out of memory");
	find_duplicates(&ld);
	if (ld.nerrors > 0)
		goto cleanup;

	if ((db = calloc(1, sizeof *db)) == NULL) {
		ld_error(&ld, 0, "out of memory");
		goto cleanup;
	}
	db->users = ld.users;
	db->n = ld.n;
	db->dummy = dummy;
	ld.users = NULL;
	ld.n = 0;
	dummy = NULL;
	ret = db;
cleanup:
	if (fp != NULL)
		fclose(fp);
	free(buf);
	free(dummy);
	free_users(ld.users, ld.n);
	return ret;
}

void
passwd_free(struct passwd_db *db)
{
	if (db == NULL)
		return;
	free_users(db->users, db->n);
	free(db->dummy);
	free(db);
}

/* ---- lookups ------------------------------------------------------------- */

static int
name_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct user *)elem)->name);
}

static const struct user *
find_user(const struct passwd_db *db, const char *user)
{
	return bsearch(user, db->users, db->n, sizeof *db->users, name_cmp);
}

size_t
passwd_count(const struct passwd_db *db)
{
	return db->n;
}

bool
passwd_has_user(const struct passwd_db *db, const char *user)
{
	return find_user(db, user) != NULL;
}

/* Whether a and b hold the same n bytes, in time independent of where they
 * differ. */
static bool
equal_ct(const char *a, const char *b, size_t n)
{
	volatile unsigned char diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

enum passwd_result
passwd_verify(const struct passwd_db *db, const char *user,
    const char *password)
{
	enum passwd_result ret = PASSWD_ERROR;
	struct crypt_data *cd = NULL;
	const struct user *u;
	const char *setting, *out;
	size_t n;
	bool same;

	assert(db != NULL && db->n > 0);
	u = find_user(db, user);
	if (strnlen(password, CRYPT_MAX_PASSPHRASE_SIZE) ==
	    CRYPT_MAX_PASSPHRASE_SIZE) {
		/* crypt would refuse it: it matches no hash. */
		ret = u != NULL ? PASSWD_BAD_PASSWORD : PASSWD_NO_USER;
		goto cleanup;
	}
	setting = u != NULL ? u->hash : db->dummy;
	if ((cd = calloc(1, sizeof *cd)) == NULL)
		goto cleanup;
	if ((out = crypt_rn(password, setting, cd, sizeof *cd)) == NULL)
		goto cleanup;
	/* Compare the whole stored hash and its NUL; stay inside cd. */
	n = strlen(setting) + 1;
	same = n <= (size_t)((const char *)(cd + 1) - out) &&
	    equal_ct(out, setting, n);
	if (u == NULL)
		ret = PASSWD_NO_USER;
	else
		ret = same ? PASSWD_OK : PASSWD_BAD_PASSWORD;
cleanup:
	if (cd != NULL) {
		explicit_bzero(cd, sizeof *cd);
		free(cd);
	}
	return ret;
}

enum passwd_result
passwd_hash(const char *password, char *out, size_t outlen)
{
	enum passwd_result ret = PASSWD_ERROR;
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = NULL;
	const char *h;
	size_t len;

	if (outlen > 0)
		out[0] = '\0';
	if (strnlen(password, CRYPT_MAX_PASSPHRASE_SIZE) ==
	    CRYPT_MAX_PASSPHRASE_SIZE)
		goto cleanup;
	/* "$y$" rather than the preferred method: that is the build's
	 * choice and might be one passwd_load() refuses. */
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof setting) ==
	    NULL)
		goto cleanup;
	if ((cd = calloc(1, sizeof *cd)) == NULL)
		goto cleanup;
	if ((h = crypt_rn(password, setting, cd, sizeof *cd)) == NULL)
		goto cleanup;
	if ((len = strlen(h)) >= outlen)
		goto cleanup;
	memcpy(out, h, len + 1);
	ret = PASSWD_OK;
cleanup:
	if (cd != NULL) {
		explicit_bzero(cd, sizeof *cd);
		free(cd);
	}
	return ret;
}
