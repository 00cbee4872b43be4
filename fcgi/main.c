/* SPDX-License-Identifier: ISC */
/*
 * tiktok-fcgi: main(), the configuration, the listening socket and the
 * signals (the main thread waits for them); the acceptor and the worker
 * threads are the front's (front.c, acceptor.c).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "app.h"
#include "cache.h"
#include "fetch.h"
#include "front.h"
#include "http.h"
#include "log.h"
#include "proc.h"
#include "restart.h"

#define RESTART_WAIT_S	60	/* a new process's time to come up (it says
				 * ready after 45 s, helpers or not) */

static struct app	 app;
static char		*pid_file;	/* written at start, gone at exit */
static char		*bound;		/* -s: the socket file we made */
static struct stat	 bound_st;

/*
 * Remove the socket file we made (-s), at a stop or when the start fails
 * after binding (atexit), unless another process has bound that path
 * since (a new instance started beside us).
 */
static void
unbind(void)
{
	struct stat	 st;

	if (bound != NULL && lstat(bound, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == bound_st.st_dev && st.st_ino == bound_st.st_ino)
		unlink(bound);
	bound = NULL;
}

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout, "usage: tiktok-fcgi [-fhKnV] "
	    "[-b host:port] [-c file] [-s path] [-t threads]\n"
	    "       tiktok-fcgi --help | --keys | --version\n");
	exit(status);
}

/* -b: [HOST:]PORT, PORT a number from 1 to 65535 (libfcgi would take
 * anything else for a unix socket's path). */
static int
valid_bind(const char *b)
{
	const char	*port = strrchr(b, ':');
	char		*end;
	long		 n;

	port = port != NULL ? port + 1 : b;
	if (*port == '\0' || strspn(port, "0123456789") != strlen(port))
		return 0;
	n = strtol(port, &end, 10);
	return n >= 1 && n <= 65535;
}

/*
 * The listening socket: -s PATH (unix) or -b HOST:PORT (TCP) binds our
 * own; else systemd's LISTEN_FDS hands us fd 3; else spawn-fcgi's fd 0.
 */
static int
open_listener(const char *sock, const char *bind_to, int backlog)
{
	const char	*lp, *lf;
	int		 fd, type;
	socklen_t	 len = sizeof(type);
	char		 msg[PATH_MAX + 128];

	if (restart_inherited()) {
		/* A restart handed us its socket (fd 0): -s names it. */
		if (sock != NULL && lstat(sock, &bound_st) == 0 &&
		    (bound = strdup(sock)) != NULL)
			atexit(unbind);
		return 0;
	}
	if (sock != NULL) {
		if ((fd = listener_unix(sock, backlog, 0, msg,
		    sizeof(msg))) == -1)
			errx(1, "%s", msg);
		if (lstat(sock, &bound_st) == 0 && (bound = strdup(sock)) !=
		    NULL)
			atexit(unbind);
		return fd;
	}
	if (bind_to != NULL) {
		if ((fd = listener_tcp(bind_to, backlog, 0, msg,
		    sizeof(msg))) == -1)
			errx(1, "%s", msg);
		return fd;
	}
	lp = getenv("LISTEN_PID");
	lf = getenv("LISTEN_FDS");
	if (lp != NULL && lf != NULL && atol(lp) == (long)getpid() &&
	    atoi(lf) >= 1) {
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		return 3;
	}
	if (getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) == -1)
		errx(1, "no listening socket: give -s PATH or -b HOST:PORT, "
		    "or start under spawn-fcgi");
	return 0;
}

/*
 * Stop: no new connections (the listening socket closes at once, so a
 * balancer goes elsewhere instead of queueing in a dead backlog), the
 * requests taken finish, until deadline_s.  Past it, long work is cut
 * (streams and renders see their client gone, ffmpeg is killed) and the
 * helpers stop, failing the extractions that parked requests wait for,
 * which are then answered 503; a last short wait, and whatever is still
 * running is left to the exit, never freed under it.  Returns 0 when
 * every request ended.
 */
static int
stop_front(int deadline_s)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	long long	 end = proc_now_ms() + (long long)deadline_s * 1000;

	acceptor_stop();
	unbind();		/* nobody listens there any more */
	while (front_inflight() > 0 && proc_now_ms() < end)
		nanosleep(&ts, NULL);
	if (front_inflight() == 0)
		return 0;
	log_warnx("%s: %d requests still running at the deadline: cutting "
	    "them", __func__, front_inflight());
	front_cut();
	app_stop(&app);
	end = proc_now_ms() + 5000;
	while (front_inflight() > 0 && proc_now_ms() < end)
		nanosleep(&ts, NULL);
	return front_inflight() == 0 ? 0 : -1;
}

/*
 * PID_FILE: our pid, for tiktok-fcgi-ytdlp -k and logrotate (written
 * whole, then renamed into place), before any thread starts.  Returns 0,
 * or -1 with a message in err.
 */
static int
write_pid_file(const char *path, char *err, size_t errsz)
{
	char	 tmp[PATH_MAX];
	FILE	*f;

	if (snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp)) {
		snprintf(err, errsz, "PID_FILE: %s: too long", path);
		return -1;
	}
	if ((f = fopen(tmp, "we")) == NULL) {
		snprintf(err, errsz, "PID_FILE: %s: %s", path,
		    strerror(errno));
		return -1;
	}
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) == EOF || chmod(tmp, 0644) == -1 ||
	    rename(tmp, path) == -1 || (pid_file = strdup(path)) == NULL) {
		snprintf(err, errsz, "PID_FILE: %s: %s", path,
		    strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Remove PID_FILE at exit, if it still names us. */
static void
remove_pid_file(void)
{
	FILE	*f;
	int	 pid = 0;

	if (pid_file == NULL || (f = fopen(pid_file, "re")) == NULL)
		return;
	if (fscanf(f, "%d", &pid) == 1 && pid == (int)getpid())
		unlink(pid_file);
	fclose(f);
}

/*
 * SIGHUP: read the file and the environment again.  What checks as the
 * start checks goes to app_reload, which applies what can change live
 * and logs the rest; a configuration that does not check is not used at
 * all, and the log says why.  The helpers are replaced either way (a new
 * yt-dlp in YTDLP_DIR), and the log file reopened.
 */
static void
reload(const char *file, int tflag)
{
	struct conf	 c;
	char		 msg[1024], version[128];
	int		 loaded, ok = 0;

	if ((loaded = conf_load(&c, file, msg, sizeof(msg)) == 0)) {
		if (tflag)
			c.fcgi_threads = tflag;
		ok = app_check(&c, version, sizeof(version), msg,
		    sizeof(msg)) == 0;
	}
	if (ok) {
		log_info("%s: %s read again; helpers will run yt-dlp %s",
		    __func__, file != NULL ? file : "the environment", version);
		app_reload(&app, &c);
	} else {
		log_warnx("%s: the configuration is kept: %s", __func__, msg);
		app_reload(&app, NULL);
	}
	if (loaded)
		conf_clear(&c);
	log_info("%s: done; the helpers are being replaced", __func__);
}

/* As many descriptors as we may have: one per connection and more. */
static void
raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * libcurl brings in libgnutls (for LDAP and RTMP, which are never
 * used here), and libgnutls initialises itself as it is loaded unless
 * GNUTLS_NO_IMPLICIT_INIT=1 is in the environment then: its tables and
 * p11-kit's modules, 0.8 MB of a process of 7 at idle.  So a start
 * without it runs this program again, once, with it.  Children get it
 * too: Python does not use gnutls, and ffmpeg initialises it itself.
 * Run by its path, not as /proc/self/exe, so that ps still shows our
 * name.  No /proc: go on as we are.
 */
static void
skip_gnutls_init(char *argv[])
{
	char	 exe[PATH_MAX];
	ssize_t	 n;

	if (getenv("GNUTLS_NO_IMPLICIT_INIT") != NULL ||
	    (n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return;
	exe[n] = '\0';
	if (setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 0) == 0)
		execv(exe, argv);
	unsetenv("GNUTLS_NO_IMPLICIT_INIT");
}

int
main(int argc, char *argv[])
{
	const char		*file = NULL, *sock = NULL, *bind_to = NULL;
	int			 ch, fg = 0, check = 0, tflag = 0, sig, fd;
	char			 msg[1024], version[128];
	sigset_t		 all, waitset;
	const struct timespec	 trim_every = { 30, 0 };
	struct sigaction	 sa;
	struct front_opts	 fo;
	struct acceptor_opts	 ao;
	long			 n;
	char			*end;
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ "keys",	no_argument,	NULL,	'K' },
		{ "version",	no_argument,	NULL,	'V' },
		{ NULL,		0,		NULL,	0 }
	};

	skip_gnutls_init(argv);
	if (restart_init(argv) == -1)
		warn("/proc/self/exe: no restart (SIGUSR2) possible");
	while ((ch = getopt_long(argc, argv, "b:c:fhKns:t:V", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'b':
			if (!valid_bind(optarg))
				errx(1, "-b: \"%s\": not [HOST:]PORT with a "
				    "port from 1 to 65535", optarg);
			bind_to = optarg;
			break;
		case 'c':
			file = optarg;
			break;
		case 'f':
			fg = 1;
			break;
		case 'h':
			usage(0);
		case 'K':
			if (conf_list_keys(stdout) == -1 || fflush(stdout) == EOF)
				err(1, "-K");
			return 0;
		case 'n':
			check = 1;
			fg = 1;
			break;
		case 's':
			if (*optarg == '\0')
				errx(1, "-s: an empty path");
			sock = optarg;
			break;
		case 't':
			n = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || n < 1 ||
			    n > 8192)
				errx(1, "-t: %s: not a number from 1 to 8192",
				    optarg);
			tflag = (int)n;
			break;
		case 'V':
			printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		default:
			usage(1);
		}
	}
	if (optind != argc || (sock != NULL && bind_to != NULL))
		usage(1);

	log_init(1, LOG_LEVEL_INFO, NULL);
	if (conf_load(&app.conf, file, msg, sizeof(msg)) == -1)
		errx(1, "configuration: %s", msg);
	if (tflag)
		app.conf.fcgi_threads = tflag;
	if (app_check(&app.conf, version, sizeof(version), msg,
	    sizeof(msg)) == -1)
		errx(1, "configuration: %s", msg);
	/* What the start makes or opens later, judged before anything is
	 * made (-f: LOG_FILE is not used). */
	if (app_check_files(&app.conf, check || !fg, msg, sizeof(msg)) == -1)
		errx(1, "configuration: %s", msg);
	if (check) {
		if ((sock != NULL && listener_unix(sock, 0, 1, msg,
		    sizeof(msg)) == -1) || (bind_to != NULL &&
		    listener_tcp(bind_to, 0, 1, msg, sizeof(msg)) == -1))
			errx(1, "configuration: %s", msg);
		if (app.conf.weak_key)
			printf("warning: ENCRYPTION_KEY is shorter than 16 "
			    "characters: use a long random string\n");
		printf("yt-dlp %s (YTDLP_PYTHON %s)\n", version,
		    app.conf.ytdlp_python);
		snprintf(msg, sizeof(msg), "%s/current/bin/python3",
		    app.conf.ytdlp_dir);
		printf("YTDLP_DIR %s: %s\n", app.conf.ytdlp_dir,
		    app.conf.ytdlp_fallback ? "no environment there: the "
		    "system's yt-dlp is used (tiktok-fcgi-ytdlp update)" :
		    strcmp(msg, app.conf.ytdlp_python) == 0 ? "in use" :
		    "not used (YTDLP_PYTHON is set)");
		printf("configuration OK\n");
		conf_clear(&app.conf);
		return 0;
	}
	/* -f: stderr, whatever LOG_FILE says; a log file that cannot be
	 * opened stops the start (logs would be lost without a word). */
	if (log_init(fg, (enum log_level)app.conf.log_level, fg ? NULL :
	    app.conf.log_file) == -1)
		err(1, "LOG_FILE: %s", app.conf.log_file);
	/*
	 * Hundreds of threads would each get a malloc arena of their own
	 * (up to 8 per core), and freed memory lingers in each: a few
	 * arenas serve a program that mostly waits just as well.
	 */
	mallopt(M_ARENA_MAX, 2 * conf_ncpu());
	/*
	 * libfcgi gives every request two 8 KB stream buffers, of which a
	 * parked request touches a few hundred bytes.  From the heap, the
	 * chunks' headers and neighbours touch most of their pages; mapped
	 * on their own, each costs the one page it touches, and goes back
	 * to the system the moment it is freed.  (10,000 parked requests:
	 * about 50 MB less.)
	 */
	mallopt(M_MMAP_THRESHOLD, 8192);
	raise_nofile();

	/*
	 * Signals: SIGPIPE ignored (a write to a departed client fails with
	 * EPIPE instead); everything else is blocked in every thread and
	 * taken by sigwait below.
	 */
	memset(&sa, 0, sizeof(sa));
	/* A shell that started us in the background may have set these
	 * to "ignore", and an ignored signal never reaches sigwait. */
	sa.sa_handler = SIG_DFL;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	fd = open_listener(sock, bind_to, app.conf.listen_backlog);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		err(1, "fcntl");
	if (FCGX_Init() != 0)
		errx(1, "FCGX_Init failed");
	if (app.conf.pid_file != NULL && write_pid_file(app.conf.pid_file,
	    msg, sizeof(msg)) == -1) {
		if (sock != NULL)
			unlink(sock);
		errx(1, "%s", msg);
	}
	if (app_init(&app, msg, sizeof(msg)) == -1) {
		remove_pid_file();
		if (sock != NULL)
			unlink(sock);
		errx(1, "%s", msg);
	}

	memset(&fo, 0, sizeof(fo));
	fo.fast_threads = 4 * conf_ncpu();
	fo.slow_threads = app.conf.fcgi_threads;
	fo.stack_kb = app.conf.thread_stack_kb;
	if (front_start(&app, &fo) == -1)
		log_fatalx("no worker thread could be started");
	memset(&ao, 0, sizeof(ao));
	ao.fd = fd;
	ao.backlog = app.conf.listen_backlog;
	ao.read_timeout = app.conf.read_timeout;
	ao.send_timeout = app.conf.send_timeout;
	ao.body_max = app.conf.body_max;
	if (acceptor_start(&ao) == -1)
		log_fatalx("%s: cannot start the acceptor", __func__);
	log_info("%s: ready: %d threads (%d for streams and renders), %d "
	    "helpers, pid %d", __func__, app.threads_max,
	    app.conf.fcgi_threads, app.conf.helpers, (int)getpid());
	restart_ready(&app, RESTART_WAIT_S - 15);

	sigemptyset(&waitset);
	sigaddset(&waitset, SIGTERM);
	sigaddset(&waitset, SIGINT);
	sigaddset(&waitset, SIGHUP);
	sigaddset(&waitset, SIGUSR1);
	sigaddset(&waitset, SIGQUIT);
	sigaddset(&waitset, SIGUSR2);
	for (;;) {
		/* Every 30 s without a signal, give memory freed after a
		 * burst back to the system. */
		if ((sig = sigtimedwait(&waitset, NULL, &trim_every)) == -1) {
			if (errno == EAGAIN) {
				fetch_trim();
				if (app.cache != NULL)
					cache_trim(app.cache);
				malloc_trim(0);
			}
			continue;
		}
		if (sig == SIGHUP) {
			log_info("%s: SIGHUP: reloading", __func__);
			reload(file, tflag);
			continue;
		}
		if (sig == SIGUSR1) {
			/* logrotate: the log file only. */
			if (log_reopen() == -1)
				log_warn("%s: SIGUSR1: LOG_FILE %s", __func__,
				    app.conf.log_file);
			else
				log_info("%s: SIGUSR1: log file reopened",
				    __func__);
			continue;
		}
		/* SIGUSR2: a new process takes over the socket, this one
		 * finishes what it has (the socket file is the new one's). */
		if (sig == SIGUSR2 && restart_spawn(fd, RESTART_WAIT_S) == -1)
			continue;
		if (sig == SIGUSR2)
			bound = NULL;
		log_info("%s: signal %d: finishing requests in flight "
		    "(at most %d s)", __func__, sig,
		    app.conf.shutdown_timeout);
		break;
	}

	if (stop_front(app.conf.shutdown_timeout) == -1) {
		/* Threads still hold requests: free nothing under them.
		 * Helpers and ffmpeg are gone (app_stop, front_cut). */
		log_warnx("%s: %d requests did not end; exiting anyway",
		    __func__, front_inflight());
		remove_pid_file();
		log_info("%s: stopped", __func__);
		_exit(0);
	}
	front_stop();
	app_free(&app);
	remove_pid_file();
	log_info("%s: stopped", __func__);
	log_close();
	return 0;
}
