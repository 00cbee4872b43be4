/* SPDX-License-Identifier: ISC */
/*
 * Restarting without losing a request (restart.h).  The new process
 * gets the listening socket as its fd 0 (as spawn-fcgi gives it),
 * TIKTOK_FCGI_HANDOVER=3 in its environment, and on fd 3 the write end
 * of a pipe on which it says "ready" once it takes connections and a
 * helper answers; then the old one stops.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "log.h"
#include "pool.h"
#include "proc.h"
#include "restart.h"

#define HANDOVER_ENV	"TIKTOK_FCGI_HANDOVER"
#define READY_FD	3

extern char **environ;

static char	 handover[] = HANDOVER_ENV "=3";

static char	 exe[PATH_MAX];	/* our program, by the path it was run by */
static char	**args;
static int	 ready_fd = -1;	/* handed over: where to say ready */

/*
 * At start, before anything else reads the environment: remember how we
 * were run (for a restart), and whether we are the new process of one.
 * 0, or -1 when our program cannot be found.
 */
int
restart_init(char *argv[])
{
	const char	*h;
	ssize_t		 n;

	args = argv;
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return -1;
	exe[n] = '\0';
	/* An upgrade replaced the file we run: run the new one. */
	if (n > 10 && strcmp(exe + n - 10, " (deleted)") == 0)
		exe[n - 10] = '\0';
	if ((h = getenv(HANDOVER_ENV)) != NULL) {
		if (strcmp(h, "3") == 0 && fcntl(READY_FD, F_GETFD) != -1) {
			ready_fd = READY_FD;
			fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
		}
		unsetenv(HANDOVER_ENV);
	}
	return 0;
}

/*
 * Were we started by a restart?  Then fd 0 is the listening socket,
 * whatever the arguments name: 1, else 0.
 */
int
restart_inherited(void)
{
	int		 type;
	socklen_t	 len = sizeof(type);

	return ready_fd != -1 && getsockopt(0, SOL_SOCKET, SO_TYPE, &type,
	    &len) == 0;
}

/*
 * The new process of a restart, taking connections: say ready to the
 * old one once a helper answers (requests wait for one otherwise), or
 * after timeout_s all the same.
 */
void
restart_ready(struct app *app, int timeout_s)
{
	struct timespec		 ts = { 0, 50 * 1000 * 1000 };
	struct pool_stats	 st;
	long long		 end = proc_now_ms() + timeout_s * 1000LL;

	if (ready_fd == -1)
		return;
	do {
		pool_stats(app->pool, &st);
		if (st.helpers > 0)
			break;
		nanosleep(&ts, NULL);
	} while (proc_now_ms() < end);
	if (write(ready_fd, "ready\n", 6) != 6)
		log_warn("%s: write", __func__);
	close(ready_fd);
	ready_fd = -1;
	log_info("%s: taking over from the process that started us",
	    __func__);
}

/*
 * Start the new process with listen_fd and wait (at most timeout_s) for
 * it to say ready.  Returns its pid: the caller stops taking connections
 * and finishes; or -1, the new one killed, and the caller goes on.
 */
pid_t
restart_spawn(int listen_fd, int timeout_s)
{
	struct pollfd	 pfd;
	char		 buf[16], **env = NULL;
	pid_t		 pid = -1;
	int		 p[2] = { -1, -1 }, fds[READY_FD + 1], rc, n = 0;
	int		 i, st;
	long long	 end;

	for (i = 0; environ[i] != NULL; i++)
		continue;
	if (exe[0] == '\0' || pipe2(p, O_CLOEXEC) == -1 ||
	    (env = calloc((size_t)i + 2, sizeof(*env))) == NULL) {
		log_warn("%s", __func__);
		goto fail;
	}
	for (i = 0; environ[i] != NULL; i++)
		env[n++] = environ[i];
	env[n++] = handover;
	fds[0] = listen_fd;
	fds[1] = 1;
	fds[2] = 2;
	fds[READY_FD] = p[1];
	/* A session of its own: it outlives us, and what stops our
	 * group must not stop it. */
	pid = proc_spawn_fds(exe, args, env, fds, READY_FD + 1, 1);
	close(p[1]);
	p[1] = -1;
	if (pid == -1) {
		log_warn("%s: %s", __func__, exe);
		goto fail;
	}
	log_info("%s: started %s (pid %d): handing over when it is ready",
	    __func__, exe, (int)pid);
	end = proc_now_ms() + timeout_s * 1000LL;
	pfd.fd = p[0];
	pfd.events = POLLIN;
	for (;;) {
		pfd.revents = 0;
		rc = poll(&pfd, 1, (int)(end - proc_now_ms() > 0 ?
		    end - proc_now_ms() : 0));
		if (rc == -1 && errno == EINTR)
			continue;
		if (rc == 1 && read(p[0], buf, sizeof(buf)) > 0) {
			close(p[0]);
			free(env);
			log_info("%s: pid %d is ready: no new connections here",
			    __func__, (int)pid);
			return pid;
		}
		break;		/* it died, or did not come up in time */
	}
	log_warnx("%s: pid %d did not come up within %d s: killed, going on",
	    __func__, (int)pid, timeout_s);
fail:
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
			continue;
	}
	if (p[0] != -1)
		close(p[0]);
	if (p[1] != -1)
		close(p[1]);
	free(env);
	return -1;
}
