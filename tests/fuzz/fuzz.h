/*
 * fuzz.h - what the fuzz harnesses share: reading a fuzz input as a
 * stream of choices, failing loudly, and scratch files.
 *
 * Every harness is one tests/fuzz/fuzz_NAME.c exposing
 * LLVMFuzzerTestOneInput().  It is linked with libFuzzer (configure
 * --enable-fuzzing) and, in every build, with tests/fuzz/replay.c, which
 * make check runs over the committed inputs.
 */
#ifndef VENCRYPTD_FUZZ_H
#define VENCRYPTD_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant of the code under test: print where and why, then abort(),
 * which libFuzzer reports as a crash with the input that caused it.  Not
 * assert(): it must hold in every build. */
#define FUZZ_CHECK(cond, ...) \
	do { \
		if (!(cond)) \
			fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

void fuzz_fail(const char *file, int line, const char *cond,
    const char *fmt, ...) __attribute__((noreturn, format(printf, 4, 5)));

/* The input, consumed from the front.  Past its end every read gives
 * zeros (and fuzz_left() 0), so a harness never has to check lengths. */
struct fuzz_input {
	const uint8_t *p;
	size_t n;
};

size_t fuzz_left(const struct fuzz_input *in);
uint8_t fuzz_u8(struct fuzz_input *in);
uint16_t fuzz_u16(struct fuzz_input *in);
bool fuzz_bool(struct fuzz_input *in);
/* Up to n bytes (fewer at the end); *got says how many. */
const uint8_t *fuzz_bytes(struct fuzz_input *in, size_t n, size_t *got);

/* A private scratch directory for this process, made on first use and
 * removed (with the files below) at exit. */
const char *fuzz_scratch_dir(void);
/* Big-endian, as on the RFB wire. */
uint32_t fuzz_get_u32(const uint8_t *p);
void fuzz_put_u32(uint8_t *p, uint32_t v);

/* A file an error may name, and how many lines it has. */
struct fuzz_file {
	const char *path;
	size_t lines;
};

/* The number of lines of n bytes of text (a last line without '\n'
 * counts). */
size_t fuzz_count_lines(const uint8_t *p, size_t n);

/* Checks one error line of a struct config_errors: "FILE:LINE: message"
 * on one line, FILE one of files[] and LINE within it, or "FILE: message"
 * for the errors about a whole file, whose messages begin with one of
 * whole[] (NULL-terminated). */
void fuzz_check_error(const char *e, const struct fuzz_file *files,
    size_t nfiles, const char *const *whole);

/* The path of NAME in the scratch directory, removed at exit (static
 * storage; at most 8 names). */
const char *fuzz_scratch_file(const char *name);
/* Writes n bytes to NAME in the scratch directory; returns its path. */
const char *fuzz_write_file(const char *name, const void *p, size_t n);

#endif
