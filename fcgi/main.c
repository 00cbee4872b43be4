/*
 * tiktok-fcgi: main(), the listening socket, the accept threads and the
 * signal thread.  libfcgi's threaded pattern: FCGX_Init once, one
 * FCGX_Request per thread, accept under a mutex.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
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
#include "front.h"
#include "http.h"
#include "log.h"

static struct app	 app;
static int		 listen_fd = -1;
static pthread_mutex_t	 accept_mtx = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t stopping;
static int		 nthreads;
static pthread_t	*threads;
static int		 threads_left;	/* __atomic */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: tiktok-fcgi [-fnV] [-b host:port] "
	    "[-c file] [-s path] [-t threads]\n");
	exit(1);
}

/* SIGUSR1 only interrupts a blocking accept(2); nothing to do here. */
static void
wakeup(int sig)
{
	(void)sig;
}

/* Answer requests until told to stop. */
static void *
worker(void *arg)
{
	FCGX_Request	 req;
	struct http	*h;
	sigset_t	 set;
	int		 rc;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	if (FCGX_InitRequest(&req, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_warnx("%s: FCGX_InitRequest failed", __func__);
		goto out;
	}
	for (;;) {
		pthread_mutex_lock(&accept_mtx);
		if (stopping) {
			pthread_mutex_unlock(&accept_mtx);
			break;
		}
		rc = FCGX_Accept_r(&req);
		pthread_mutex_unlock(&accept_mtx);
		if (rc < 0) {
			if (stopping)
				break;
			if (rc != -EINTR && errno != EINTR) {
				log_warnx("%s: FCGX_Accept_r: %d", __func__, rc);
				usleep(10000);	/* e.g. EMFILE: do not spin */
			}
			continue;
		}
		__atomic_add_fetch(&app.threads_busy, 1, __ATOMIC_RELAXED);
		if ((h = http_new(&front_io, &req)) != NULL) {
			router_dispatch(&app, h);
			http_free(h);
		} else
			log_warnx("%s: out of memory", __func__);
		FCGX_Finish_r(&req);
		__atomic_sub_fetch(&app.threads_busy, 1, __ATOMIC_RELAXED);
	}
	FCGX_Free(&req, 0);
out:
	__atomic_sub_fetch(&threads_left, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * The listening socket: -s PATH (unix) or -b HOST:PORT (TCP) binds our
 * own; else systemd's LISTEN_FDS hands us fd 3; else spawn-fcgi's fd 0.
 */
static int
open_listener(const char *sock, const char *bind_to, int backlog)
{
	struct stat	 st;
	const char	*lp, *lf;
	int		 fd, type;
	socklen_t	 len = sizeof(type);
	char		 addr[PATH_MAX + 8];

	if (sock != NULL) {
		if (lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(sock);
		if ((fd = FCGX_OpenSocket(sock, backlog)) < 0)
			err(1, "%s", sock);
		/* Who may connect is decided by the directory's mode. */
		if (chmod(sock, 0666) == -1)
			err(1, "chmod %s", sock);
		return fd;
	}
	if (bind_to != NULL) {
		snprintf(addr, sizeof(addr), "%s%s",
		    strchr(bind_to, ':') ? "" : ":", bind_to);
		if ((fd = FCGX_OpenSocket(addr, backlog)) < 0)
			err(1, "%s", bind_to);
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
 * Stop: no new requests, those in flight finish (until the deadline).
 * The listening socket is closed as soon as no thread is in accept (the
 * one accepting holds accept_mtx), so that a web server or balancer
 * trying to connect is refused at once and goes elsewhere, instead of
 * waiting in a backlog nobody reads.  (Other processes sharing the
 * socket, spawn-fcgi -F, keep it open.)
 */
static void
stop_threads(int deadline_s)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	time_t		 end = time(NULL) + deadline_s;
	int		 i, closed = 0;

	stopping = 1;
	FCGX_ShutdownPending();
	while (__atomic_load_n(&threads_left, __ATOMIC_ACQUIRE) > 0 &&
	    time(NULL) < end) {
		if (!closed && pthread_mutex_trylock(&accept_mtx) == 0) {
			close(listen_fd);
			closed = 1;
			pthread_mutex_unlock(&accept_mtx);
		}
		if (!closed)
			for (i = 0; i < nthreads; i++)
				pthread_kill(threads[i], SIGUSR1);
		nanosleep(&ts, NULL);
	}
}

int
main(int argc, char *argv[])
{
	const char		*file = NULL, *sock = NULL, *bind_to = NULL;
	int			 ch, fg = 0, check = 0, tflag = 0, sig, i;
	char			 msg[512];
	sigset_t		 all, waitset;
	const struct timespec	 trim_every = { 30, 0 };
	struct sigaction	 sa;
	pthread_attr_t		 attr;
	long			 n;
	char			*end;

	while ((ch = getopt(argc, argv, "b:c:fns:t:V")) != -1) {
		switch (ch) {
		case 'b':
			bind_to = optarg;
			break;
		case 'c':
			file = optarg;
			break;
		case 'f':
			fg = 1;
			break;
		case 'n':
			check = 1;
			fg = 1;
			break;
		case 's':
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
			usage();
		}
	}
	if (optind != argc || (sock != NULL && bind_to != NULL))
		usage();

	log_init(1, LOG_LEVEL_INFO, NULL);
	if (conf_load(&app.conf, file, msg, sizeof(msg)) == -1)
		errx(1, "configuration: %s", msg);
	if (tflag)
		app.conf.fcgi_threads = tflag;
	if (check) {
		printf("configuration OK\n");
		conf_clear(&app.conf);
		return 0;
	}
	log_init(fg, (enum log_level)app.conf.log_level, app.conf.log_file);
	/*
	 * Hundreds of threads would each get a malloc arena of their own
	 * (up to 8 per core), and freed memory lingers in each: a few
	 * arenas serve a program that mostly waits just as well.
	 */
	mallopt(M_ARENA_MAX, 2 * conf_ncpu());

	/*
	 * Signals: SIGPIPE ignored (a write to a departed client fails with
	 * EPIPE instead); SIGUSR1 interrupts accept; everything else is
	 * blocked in every thread and taken by sigwait below.  Installed
	 * before FCGX_Init, which otherwise sets handlers of its own.
	 */
	memset(&sa, 0, sizeof(sa));
	/* A shell that started us in the background may have set these
	 * to "ignore", and an ignored signal never reaches sigwait. */
	sa.sa_handler = SIG_DFL;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = wakeup;
	sigaction(SIGUSR1, &sa, NULL);	/* no SA_RESTART */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	listen_fd = open_listener(sock, bind_to, app.conf.listen_backlog);
	if (fcntl(listen_fd, F_SETFD, FD_CLOEXEC) == -1)
		err(1, "fcntl");
	if (FCGX_Init() != 0)
		errx(1, "FCGX_Init failed");

	if (app_init(&app, msg, sizeof(msg)) == -1)
		errx(1, "%s", msg);

	nthreads = app.conf.fcgi_threads;
	app.threads_max = nthreads;
	if ((threads = calloc(nthreads, sizeof(*threads))) == NULL)
		err(1, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr,
	    (size_t)app.conf.thread_stack_kb * 1024);
	for (i = 0; i < nthreads; i++) {
		__atomic_add_fetch(&threads_left, 1, __ATOMIC_RELAXED);
		if ((errno = pthread_create(&threads[i], &attr, worker,
		    NULL)) != 0) {
			log_warn("%s: pthread_create", __func__);
			__atomic_sub_fetch(&threads_left, 1, __ATOMIC_RELAXED);
			nthreads = i;
			break;
		}
	}
	pthread_attr_destroy(&attr);
	if (nthreads == 0)
		fatalx("no thread could be started");
	log_info("%s: ready: %d threads, %d helpers, pid %d", __func__,
	    nthreads, app.conf.helpers, (int)getpid());

	sigemptyset(&waitset);
	sigaddset(&waitset, SIGTERM);
	sigaddset(&waitset, SIGINT);
	sigaddset(&waitset, SIGHUP);
	sigaddset(&waitset, SIGQUIT);
	for (;;) {
		/* Every 30 s without a signal, give memory freed after a
		 * burst back to the system. */
		if ((sig = sigtimedwait(&waitset, NULL, &trim_every)) == -1) {
			if (errno == EAGAIN)
				malloc_trim(0);
			continue;
		}
		if (sig == SIGHUP) {
			log_info("%s: SIGHUP: reloading", __func__);
			app_reload(&app);
			continue;
		}
		log_info("%s: signal %d: finishing requests in flight "
		    "(at most %d s)", __func__, sig,
		    app.conf.shutdown_timeout);
		break;
	}

	stop_threads(app.conf.shutdown_timeout);
	if (__atomic_load_n(&threads_left, __ATOMIC_ACQUIRE) > 0) {
		log_warnx("%s: %d requests still running at the deadline; "
		    "exiting anyway", __func__,
		    __atomic_load_n(&threads_left, __ATOMIC_ACQUIRE));
		app_stop(&app);
		log_info("%s: stopped", __func__);
		_exit(0);
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	app_free(&app);
	if (sock != NULL)
		unlink(sock);
	log_info("%s: stopped", __func__);
	log_close();
	return 0;
}
