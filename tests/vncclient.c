/*
 * vncclient - reads one framebuffer through libvncclient and writes it as a
 * binary PPM, for the end-to-end tests.
 *
 * libvncclient is an independent VeNCrypt implementation (X509 subtypes,
 * client certificates, hostname check against --host), so a dump taken
 * through vencryptd can be compared byte for byte with one taken directly
 * from the backend. libvncclient's own log lines go to stderr unchanged
 * (a SecurityResult reason appears as "VNC connection failed: REASON").
 *
 * Credentials: --ca (required for the X509 subtypes), --cert and --key
 * (optional: without them no client certificate is sent), --crl; --user
 * and --password answer X509Plain (and the other Plain subtypes).
 *
 * stdout: "framebuffer WxH" and exit 0; or, on any failure, the line
 * "refused: REASON" when the server sent a reason (control characters
 * shown as '?'), then "vncclient: failed", and exit 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rfb/rfbclient.h>

static struct {
	const char *host;
	long port;
	const char *ca, *cert, *key, *crl;
	const char *user, *password;
	const char *out;
	const char *encodings;
	long timeout_s;
	bool keep_sigpipe;
} opt = {
	.port = -1,
	.encodings = "raw",
	.timeout_s = 20,
};

/* Which pixels the updates received so far have covered. */
static struct {
	uint8_t *covered; /* width * height flags */
	size_t missing;   /* pixels not covered yet */
	int width, height;
	bool done;        /* a complete framebuffer has arrived */
} fb;

static MallocFrameBufferProc default_malloc_fb;

/* The reason the server gave when it refused us, if it gave one. */
static char *refusal;

#if defined(__SANITIZE_ADDRESS__)
/*
 * libvncclient 0.9.14 never frees the GnuTLS certificate credentials it
 * allocates for a VeNCrypt X509 session; that leak is not ours.
 */
const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:gnutls_certificate_allocate_credentials\n";
}
#endif

static void client_log(const char *format, ...) __attribute__((format(printf, 1, 2)));

/*
 * libvncclient reports a SecurityResult or connection failure reason only
 * through its log, always with this format (rfbHandleAuthResult and
 * ReadReason in libvncclient/rfbclient.c), so the reason is kept from there.
 */
static const char refusal_format[] = "VNC connection failed: %s\n";

static void
client_log(const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	if (refusal == NULL && strcmp(format, refusal_format) == 0) {
		va_list copy;
		const char *reason;

		va_copy(copy, ap);
		reason = va_arg(copy, const char *);
		va_end(copy);
		refusal = strdup(reason != NULL ? reason : "");
	}
	vfprintf(stderr, format, ap);
	va_end(ap);
	fflush(stderr);
}

static void
fail(void)
{
	if (refusal != NULL) {
		for (char *p = refusal; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		}
		printf("refused: %s\n", refusal);
		free(refusal);
		refusal = NULL;
	}
	fputs("vncclient: failed\n", stdout);
	fflush(stdout);
	exit(1);
}

/* The overall deadline's backstop: libvncclient may block in a read. */
static void
on_alarm(int sig)
{
	static const char msg[] = "vncclient: failed\n";
	static const char why[] = "vncclient: timeout\n";

	(void)sig;
	if (write(STDERR_FILENO, why, sizeof(why) - 1) < 0 ||
	    write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more can be reported */
	}
	_exit(1);
}

static rfbBool
malloc_fb(rfbClient *client)
{
	if (!default_malloc_fb(client))
		return FALSE;
	free(fb.covered);
	fb.width = client->width;
	fb.height = client->height;
	fb.missing = (size_t)fb.width * (size_t)fb.height;
	fb.covered = calloc(fb.missing ? fb.missing : 1, 1);
	return fb.covered != NULL;
}

static void
got_update(rfbClient *client, int x, int y, int w, int h)
{
	if (fb.covered == NULL || x < 0 || y < 0 || w <= 0 || h <= 0)
		return;
	if (x >= fb.width || y >= fb.height)
		return;
	if (w > fb.width - x)
		w = fb.width - x;
	if (h > fb.height - y)
		h = fb.height - y;
	for (int row = y; row < y + h; row++) {
		uint8_t *p = fb.covered + (size_t)row * (size_t)fb.width + (size_t)x;

		for (int i = 0; i < w; i++) {
			if (!p[i]) {
				p[i] = 1;
				fb.missing--;
			}
		}
	}
}

static void
finished_update(rfbClient *client)
{
	if (fb.covered != NULL && fb.missing == 0)
		fb.done = true;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* libvncclient frees the credential and its strings. */
static rfbCredential *
get_credential(rfbClient *client, int type)
{
	rfbCredential *c;

	if (type == rfbCredentialTypeUser) {
		if (opt.user == NULL && opt.password == NULL) {
			fprintf(stderr, "vncclient: the server wants a user name and password "
			    "and neither --user nor --password was given\n");
			return NULL;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return NULL;
		c->userCredential.username = strdup(opt.user != NULL ? opt.user : "");
		c->userCredential.password = strdup(opt.password != NULL ? opt.password : "");
		if (c->userCredential.username == NULL || c->userCredential.password == NULL) {
			free(c->userCredential.username);
			free(c->userCredential.password);
			free(c);
			return NULL;
		}
		return c;
	}
	if (type != rfbCredentialTypeX509) {
		fprintf(stderr, "vncclient: credential type %d is not supported\n", type);
		return NULL;
	}
	if (opt.ca == NULL) {
		fprintf(stderr, "vncclient: the server wants X509 and no --ca was given\n");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->x509Credential.x509CACertFile = dup_or_null(opt.ca);
	c->x509Credential.x509CACrlFile = dup_or_null(opt.crl);
	c->x509Credential.x509ClientCertFile = dup_or_null(opt.cert);
	c->x509Credential.x509ClientKeyFile = dup_or_null(opt.key);
	c->x509Credential.x509CrlVerifyMode =
	    opt.crl != NULL ? rfbX509CrlVerifyAll : rfbX509CrlVerifyNone;
	return c;
}

/* No VNC passwords: never let libvncclient prompt on a terminal. */
static char *
get_password(rfbClient *client)
{
	fprintf(stderr, "vncclient: the server asks for a VNC password; none is supported\n");
	return NULL;
}

/* One 32 bpp pixel in the client's format to 8-bit RGB. */
static void
pixel_rgb(const rfbPixelFormat *pf, const uint8_t *p, uint8_t rgb[3])
{
	uint32_t v;

	if (pf->bigEndian)
		v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
	else
		v = ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];

	const unsigned max[3] = { pf->redMax, pf->greenMax, pf->blueMax };
	const unsigned shift[3] = { pf->redShift, pf->greenShift, pf->blueShift };

	for (int i = 0; i < 3; i++) {
		unsigned c = (v >> shift[i]) & max[i];

		rgb[i] = max[i] ? (uint8_t)((c * 255 + max[i] / 2) / max[i]) : 0;
	}
}

static bool
write_ppm(rfbClient *client, const char *path)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 5);
	int w = client->width, h = client->height;
	uint8_t *row = malloc((size_t)w * 3 + 1);
	const uint8_t *src = client->frameBuffer;
	bool ok = false;
	FILE *f = NULL;

	if (tmp == NULL || row == NULL || src == NULL)
		goto out;
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp", 5);
	f = fopen(tmp, "wb");
	if (f == NULL) {
		fprintf(stderr, "vncclient: %s: %s\n", tmp, strerror(errno));
		goto out;
	}
	fprintf(f, "P6\n%d %d\n255\n", w, h);
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++)
			pixel_rgb(&client->format, src + ((size_t)y * (size_t)w + (size_t)x) * 4,
			    row + (size_t)x * 3);
		if (fwrite(row, 3, (size_t)w, f) != (size_t)w)
			goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "vncclient: %s: %s\n", path, strerror(errno));
		goto out;
	}
	ok = true;
out:
	if (f != NULL)
		fclose(f);
	if (!ok && tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(row);
	return ok;
}

static long
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: vncclient --host HOST --port PORT [--ca FILE [--cert FILE --key FILE]\n"
	    "                 [--crl FILE]] [--user NAME] [--password SECRET]\n"
	    "                 --out FILE.ppm [--timeout SEC] [--encodings LIST]\n"
	    "                 [--keep-sigpipe]\n"
	    "       (HOST may be the path of a Unix socket; then no --port)\n");
	exit(2);
}

static long
parse_long(const char *s, long min, long max)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ "ca", required_argument, NULL, 'a' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "crl", required_argument, NULL, 'r' },
		{ "user", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'P' },
		{ "out", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "encodings", required_argument, NULL, 'e' },
		{ "keep-sigpipe", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	rfbClient *client;
	int ch;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h': opt.host = optarg; break;
		case 'p': opt.port = parse_long(optarg, 0, 65535); break;
		case 'a': opt.ca = optarg; break;
		case 'c': opt.cert = optarg; break;
		case 'k': opt.key = optarg; break;
		case 'r': opt.crl = optarg; break;
		case 'u': opt.user = optarg; break;
		case 'P': opt.password = optarg; break;
		case 'o': opt.out = optarg; break;
		case 't': opt.timeout_s = parse_long(optarg, 1, 86400); break;
		case 'e': opt.encodings = optarg; break;
		case 'S': opt.keep_sigpipe = true; break;
		default: usage();
		}
	}
	/* libvncclient takes a host that names a socket file as a Unix socket. */
	if (opt.host != NULL && opt.host[0] == '/' && opt.port < 0)
		opt.port = 0;
	if (optind != argc || opt.host == NULL || opt.port < 0 || opt.out == NULL ||
	    (opt.cert == NULL) != (opt.key == NULL))
		usage();

	if (!opt.keep_sigpipe)
		signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm((unsigned)opt.timeout_s + 2);
	rfbClientLog = client_log;
	rfbClientErr = client_log;

	long deadline = monotonic_ms() + opt.timeout_s * 1000;

	client = rfbGetClient(8, 3, 4);
	if (client == NULL)
		fail();
	default_malloc_fb = client->MallocFrameBuffer;
	client->MallocFrameBuffer = malloc_fb;
	client->GotFrameBufferUpdate = got_update;
	client->FinishedFrameBufferUpdate = finished_update;
	client->GetCredential = get_credential;
	client->GetPassword = get_password;
	free(client->serverHost);
	client->serverHost = strdup(opt.host);
	client->serverPort = (int)opt.port;
	client->connectTimeout = (unsigned)opt.timeout_s;
	client->readTimeout = (unsigned)opt.timeout_s;
	client->appData.encodingsString = opt.encodings;
	client->appData.enableJPEG = FALSE;
	client->appData.useRemoteCursor = FALSE;
	client->appData.shareDesktop = TRUE;

	/*
	 * No arguments for libvncclient to parse (it would add 5900 to small
	 * ports); rfbInitClient() frees the client itself when it fails.
	 */
	int fake_argc = 1;
	char prog[] = "vncclient";
	char *fake_argv[] = { prog, NULL };

	if (!rfbInitClient(client, &fake_argc, fake_argv)) {
		free(fb.covered);
		fail();
	}
	if (!SendFramebufferUpdateRequest(client, 0, 0, client->width, client->height, FALSE))
		goto failed;
	while (!fb.done) {
		long left = deadline - monotonic_ms();

		if (left <= 0) {
			fprintf(stderr, "vncclient: no complete framebuffer within %ld s\n",
			    opt.timeout_s);
			goto failed;
		}
		int n = WaitForMessage(client, (unsigned)(left > 500 ? 500 : left) * 1000);

		if (n < 0)
			goto failed;
		if (n == 0)
			continue;
		if (!HandleRFBServerMessage(client))
			goto failed;
	}
	if (!write_ppm(client, opt.out))
		goto failed;
	printf("framebuffer %dx%d\n", client->width, client->height);
	free(client->frameBuffer);
	rfbClientCleanup(client);
	free(fb.covered);
	return 0;

failed:
	free(client->frameBuffer);
	rfbClientCleanup(client);
	free(fb.covered);
	fail();
}
