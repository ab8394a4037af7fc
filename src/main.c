/*
 * main.c - options, start-up, and the control loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "passwd.h"
#include "pidfile.h"
#include "privs.h"
#include "server.h"
#include "tls.h"

#define DEFAULT_CONFIG SYSCONFDIR "/vencryptd/vencryptd.conf"

static const char usage_text[] =
	"usage: vencryptd [-FtvVh] [-c FILE] [--ports-file FILE]\n"
	"       vencryptd --hash-password [USER]\n"
	"  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"
	"  -F, --foreground       do not detach; log to stderr unless configured\n"
	"  -t, --check-config     check the configuration, certificates and keys, and exit\n"
	"  -v, --verbose          log one level more than log.level (repeatable)\n"
	"      --ports-file FILE  write \"service address\" for each bound listener to FILE\n"
	"      --hash-password [USER]\n"
	"                         read a password (from the terminal, or the first line\n"
	"                         of stdin) and print a passwd_file line for USER\n"
	"  -V, --version          print the version and exit\n"
	"  -h, --help             print this help and exit\n";

enum { OPT_PORTS_FILE = 256, OPT_HASH_PASSWORD };

/* Absolute copies of -c and --ports-file, for the life of the process. */
static char *config_path, *ports_path;

static const struct option long_options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "foreground", no_argument, NULL, 'F' },
	{ "check-config", no_argument, NULL, 't' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "ports-file", required_argument, NULL, OPT_PORTS_FILE },
	{ "hash-password", optional_argument, NULL, OPT_HASH_PASSWORD },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct options {
	const char *config;
	const char *ports_file;
	int foreground;
	int check;
	int verbose;
	int hash_password;
	const char *user;       /* for --hash-password */
};

static void
parse_options(int argc, char **argv, struct options *o)
{
	int c;

	o->config = DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "c:FtvVh", long_options, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'F': o->foreground = 1; break;
		case 't': o->check = 1; break;
		case 'v': o->verbose++; break;
		case OPT_PORTS_FILE: o->ports_file = optarg; break;
		case OPT_HASH_PASSWORD:
			o->hash_password = 1;
			o->user = optarg;
			break;
		case 'V':
			printf("vencryptd %s (GnuTLS %s)\n", PACKAGE_VERSION,
			    gnutls_check_version(NULL));
			exit(0);
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			fputs(usage_text, stderr);
			exit(1);
		}
	}
	if (o->hash_password && o->user == NULL && optind < argc)
		o->user = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "vencryptd: unexpected argument \"%s\"\n", argv[optind]);
		fputs(usage_text, stderr);
		exit(1);
	}
}

/* One line of at most cap - 1 bytes from fp, without its end of line;
 * -1 at EOF, -2 when longer. */
static int
read_line(FILE *fp, char *buf, size_t cap)
{
	size_t len;

	if (fgets(buf, (int)cap, fp) == NULL)
		return -1;
	len = strcspn(buf, "\n");
	if (buf[len] != '\n' && !feof(fp)) {
		explicit_bzero(buf, cap);
		return -2;
	}
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[len - 1] = '\0';
	return 0;
}

/* Asks on the terminal without echo; -1 on failure (message printed). */
static int
ask_password(const char *prompt, char *buf, size_t cap)
{
	struct termios old, quiet;
	int r;

	if (tcgetattr(STDIN_FILENO, &old) < 0) {
		perror("vencryptd: terminal");
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ICANON;
	fputs(prompt, stderr);
	fflush(stderr);
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	r = read_line(stdin, buf, cap);
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	if (r == -2)
		fprintf(stderr, "vencryptd: password longer than %zu bytes\n",
		    cap - 2);
	return r == 0 ? 0 : -1;
}

/* --hash-password: 0 when a line was printed. */
static int
hash_password(const char *user)
{
	char pw[PASSWD_INPUT_MAX + 2], again[PASSWD_INPUT_MAX + 2];
	char hash[PASSWD_HASH_SIZE];
	const char *why;
	int ret = 1, r;

	if (user != NULL && (why = passwd_user_problem(user, strlen(user))) != NULL) {
		fprintf(stderr, "vencryptd: bad user name: %s\n", why);
		return 1;
	}
	if (isatty(STDIN_FILENO)) {
		if (ask_password("Password: ", pw, sizeof pw) < 0)
			goto out;
		if (ask_password("Again: ", again, sizeof again) < 0)
			goto out;
		if (strcmp(pw, again) != 0) {
			fprintf(stderr, "vencryptd: the passwords differ\n");
			goto out;
		}
	} else if ((r = read_line(stdin, pw, sizeof pw)) < 0) {
		fprintf(stderr, "vencryptd: %s\n", r == -1 ?
		    "no password on standard input" : "password too long");
		goto out;
	}
	if (pw[0] == '\0') {
		fprintf(stderr, "vencryptd: empty password\n");
		goto out;
	}
	if (strlen(pw) > PASSWD_INPUT_MAX) {
		fprintf(stderr, "vencryptd: password longer than %d bytes\n",
		    PASSWD_INPUT_MAX);
		goto out;
	}
	if (passwd_hash(pw, hash, sizeof hash) != PASSWD_OK) {
		fprintf(stderr, "vencryptd: cannot hash the password\n");
		goto out;
	}
	if (user != NULL)
		printf("%s:%s\n", user, hash);
	else
		printf("%s\n", hash);
	ret = fflush(stdout) == 0 ? 0 : 1;
out:
	explicit_bzero(pw, sizeof pw);
	explicit_bzero(again, sizeof again);
	return ret;
}

/* path made absolute, for a daemon that reloads from "/"; NULL when out
 * of memory. */
static char *
absolute(const char *path)
{
	char cwd[4096], *p;

	if (path[0] == '/')
		return strdup(path);
	if (getcwd(cwd, sizeof cwd) == NULL)
		fatalx("cannot make %s absolute: working directory: %s", path,
		    strerror(errno));
	if (asprintf(&p, "%s/%s", cwd, path) == -1)
		return NULL;
	return p;
}

/* All of the configuration, certificates and keys, or every error. */
static struct config *
load_everything(const char *path, int to_stderr)
{
	struct config_errors errs = { NULL, 0 };
	struct config *cfg = config_load(path, &errs);

	if (cfg != NULL && config_load_credentials(cfg, &errs) < 0) {
		config_free(cfg);
		cfg = NULL;
	}
	for (size_t i = 0; i < errs.n; i++) {
		if (to_stderr)
			fprintf(stderr, "%s\n", errs.lines[i]);
		else
			log_errx("%s", errs.lines[i]);
	}
	config_errors_free(&errs);
	return cfg;
}

/* ---- daemon mode -------------------------------------------------------- */

/* The child's end of the pipe its parent waits on: one byte once it
 * serves; closed without a byte (at exit) when start-up fails. */
static int ready_fd = -1;

static void __attribute__((noreturn))
parent_wait(int fd, pid_t child)
{
	ssize_t n;
	char c;
	int st;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		_exit(0);
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR) {
			perror("vencryptd: waiting for the daemon");
			_exit(1);
		}
	if (WIFEXITED(st))
		_exit(WEXITSTATUS(st) != 0 ? WEXITSTATUS(st) : 1);
	fprintf(stderr, "vencryptd: the daemon died during start-up: %s\n",
	    WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "unknown status");
	_exit(1);
}

/* Forks: the parent waits until the child serves, then exits 0, or exits
 * with the child's status when its start-up fails.  The child starts a
 * session of its own, in "/" with umask 022, and reads and writes
 * /dev/null; its stderr stays until it serves, for start-up errors. */
static void
detach_begin(void)
{
	int p[2], fd;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("vencryptd: pipe");
		exit(1);
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		perror("vencryptd: fork");
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		parent_wait(p[0], pid);
	}
	close(p[0]);
	ready_fd = p[1];
	if (setsid() < 0 || chdir("/") < 0)
		fatalx("cannot detach: %s", strerror(errno));
	umask(022);
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		fatalx("cannot open /dev/null: %s", strerror(errno));
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	log_echo_errors(true);
}

/* Serving: the parent may go.  stderr goes to /dev/null too, unless the
 * log is written there. */
static void
detach_done(enum log_target target)
{
	int fd;

	log_echo_errors(false);
	if (target != LOG_TARGET_STDERR &&
	    (fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	if (write(ready_fd, "", 1) != 1)
		log_warn("cannot tell the parent process that start-up is done");
	close(ready_fd);
	ready_fd = -1;
}

/* 0 when nothing runs on pid_file; -1 (logged) when a vencryptd does, or
 * the file cannot be read. */
static int
check_pid_file(const char *path)
{
	pid_t pid = pidfile_running(path);

	if (pid < 0)
		log_err("cannot read pid file %s", path);
	else if (pid > 0)
		log_errx("pid file %s names PID %ld, a running vencryptd: not "
		    "starting a second one", path, (long)pid);
	return pid == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };
	struct config *cfg;
	struct daemon d;
	struct ev_loop *loop;
	char *pid_file = NULL;
	int rc = 1;

	parse_options(argc, argv, &o);
	if (o.hash_password)
		return hash_password(o.user);
	/* Reloads and the ports file happen after the chdir("/") of
	 * detach_begin. */
	if ((config_path = absolute(o.config)) == NULL ||
	    (o.ports_file != NULL && (ports_path = absolute(o.ports_file)) == NULL))
		fatalx("out of memory");
	o.config = config_path;
	o.ports_file = ports_path;
	if (!o.check && !o.foreground)
		detach_begin();
	log_init(LOG_TARGET_STDERR, LOG_LEVEL_NOTICE);
	if (tls_global_init() < 0)
		fatalx("cannot initialise GnuTLS");

	cfg = load_everything(o.config, o.check);
	if (o.check) {
		if (cfg == NULL)
			return 1;
		server_warn(cfg);
		printf("configuration OK\n");
		config_free(cfg);
		tls_global_deinit();
		return 0;
	}
	if (cfg == NULL)
		return 1;

	signal(SIGPIPE, SIG_IGN);
	if ((loop = ev_default_loop(EVFLAG_AUTO)) == NULL)
		fatalx("cannot initialise the event loop");
	if (daemon_init(&d, loop, cfg) < 0)
		fatalx("out of memory");
	d.verbose = o.verbose;
	d.ports_file = o.ports_file;
	daemon_apply_log(&d);
	server_warn(cfg);
	if (cfg->pid_file != NULL && check_pid_file(cfg->pid_file) < 0)
		goto out;
	if (daemon_listen(&d) < 0)
		goto out;
	if (cfg->pid_file != NULL) {
		if (pidfile_write(cfg->pid_file) < 0) {
			log_err("cannot write pid file %s", cfg->pid_file);
			goto out;
		}
		if ((pid_file = strdup(cfg->pid_file)) == NULL) {
			pidfile_remove(cfg->pid_file);
			log_errx("out of memory");
			goto out;
		}
	}
	/* Root is needed no longer: listeners bound, keys loaded, pid
	 * file written; no thread runs yet. */
	if (privs_drop(cfg) < 0)
		goto out;
	/* The worker threads start in the process that stays. */
	if (daemon_start(&d) < 0)
		goto out;
	log_notice("vencryptd %s started: %zu service(s)", PACKAGE_VERSION,
	    cfg->nservices);
	if (ready_fd >= 0)
		detach_done(cfg->log_target);
	notify_status("serving %zu service(s)", cfg->nservices);
	notify_ready();

	daemon_run(&d);
	rc = 0;
out:
	daemon_destroy(&d);
	ev_loop_destroy(loop);
	tls_global_deinit();
	if (pid_file != NULL)
		pidfile_remove(pid_file);
	free(pid_file);
	if (rc == 0)
		log_notice("stopped");
	return rc;
}
