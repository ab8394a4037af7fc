/*
 * fuzz_passwd.c - passwd_load() on arbitrary password files.
 *
 * Input: the file.
 *
 * Checks, besides memory safety and leaks:
 *  - passwd_load fails exactly when it reports errors, and every error is
 *    "FILE:LINE: message" on one line with LINE within the file, or one of
 *    the errors about the whole file;
 *  - a file that loads has exactly its user lines (not blank, not
 *    comments) as users, each found by passwd_has_user under the name
 *    before its ':', each a valid name by passwd_user_problem; and a name
 *    that is not in the file is not found.
 * No password is hashed: a file may name any cost, and loading must stay
 * cheap whatever it says.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "passwd.h"

#define FILE_NAME "passwd"

/* Errors that concern the file as a whole, so carry no line. */
static const char *const whole_file[] = {
	"cannot open", "read error", "no users", "out of memory", NULL,
};

/* Walks the lines of a file that loaded: each user line names a user. */
static void
check_users(const struct passwd_db *db, const uint8_t *data, size_t size)
{
	size_t users = 0, pos = 0;

	while (pos < size) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl != NULL ? (size_t)(nl - data - pos) : size - pos;
		const char *line = (const char *)data + pos;
		size_t blank = 0;
		const char *colon;
		char *name;

		pos += len + 1;
		while (blank < len && (line[blank] == ' ' || line[blank] == '\t'))
			blank++;
		if (blank == len || line[blank] == '#')
			continue;
		colon = memchr(line, ':', len);
		FUZZ_CHECK(colon != NULL, "a user line without ':' loaded");
		name = strndup(line, (size_t)(colon - line));
		FUZZ_CHECK(name != NULL, "out of memory");
		FUZZ_CHECK(passwd_user_problem(name, strlen(name)) == NULL,
		    "bad user name \"%s\" loaded", name);
		FUZZ_CHECK(passwd_has_user(db, name), "user \"%s\" not found",
		    name);
		free(name);
		users++;
	}
	FUZZ_CHECK(passwd_count(db) == users, "%zu users loaded from %zu "
	    "user lines", passwd_count(db), users);
	FUZZ_CHECK(!passwd_has_user(db, "") && !passwd_has_user(db, "no:such"),
	    "a name that cannot be in the file is found");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = { NULL, 0 };
	const char *path = fuzz_write_file(FILE_NAME, data, size);
	struct passwd_db *db = passwd_load(path, &errs);
	struct fuzz_file file = { path, fuzz_count_lines(data, size) };

	FUZZ_CHECK((db == NULL) == (errs.n > 0), "passwd %s with %zu errors",
	    db != NULL ? "loaded" : "refused", errs.n);
	for (size_t i = 0; i < errs.n; i++)
		fuzz_check_error(errs.lines[i], &file, 1, whole_file);
	if (db != NULL) {
		check_users(db, data, size);
		passwd_free(db);
	}
	config_errors_free(&errs);
	return 0;
}
