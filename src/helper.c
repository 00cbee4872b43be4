/* SPDX-License-Identifier: ISC */
/*
 * One helper process and its three pipes.  Every descriptor is
 * non-blocking and owned here; the pool's supervisor polls them
 * (helper_fd) and calls back in when they are ready.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef HAVE_SYS_PIDFD_H
#include <sys/pidfd.h>
#endif

#include "helper.h"
#include "log.h"
#include "proc.h"

#define LINE_MAX_BYTES	(16 * 1024 * 1024)	/* one line either way */
#define READ_CHUNK	65536

extern char **environ;

struct helper {
	pid_t		 pid;		/* < 0 once reaped; 0 until known */
	int		 forked;	/* by the helper parent, who reaps it */
	int		 pidfd;		/* forked: its pidfd, or -1 */
	int		 fd[3];		/* our ends; -1 closed */
	char		*obuf;		/* to its stdin */
	size_t		 olen, ocap;
	char		*ibuf;		/* from its stdout */
	size_t		 ilen, icap;
	char		 ebuf[1024];	/* from its stderr */
	size_t		 elen;
};

/* A helper around our ends of its descriptors (taken over, made
 * non-blocking); NULL (ours closed) when out of memory. */
static struct helper *
helper_own(const int ours[3])
{
	struct helper	*h;
	int		 i;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		for (i = 0; i < 3; i++)
			if (ours[i] != -1)
				close(ours[i]);
		return NULL;
	}
	h->pidfd = -1;
	for (i = 0; i < 3; i++) {
		h->fd[i] = ours[i];
		if (ours[i] != -1)
			fcntl(ours[i], F_SETFL, O_NONBLOCK);
	}
	return h;
}

/*
 * Variables a helper must not see: ours that it gets in its own form,
 * and secrets it has no use for (the token key, proxy credentials).
 */
static int
withheld(const char *kv)
{
	static const char *const names[] = { "PYTHONPATH=",
	    "PYTHONUNBUFFERED=", "SSL_CERT_FILE=", "TIKTOK_FCGI_", NULL };
	size_t	 i;

	for (i = 0; names[i] != NULL; i++)
		if (strncmp(kv, names[i], strlen(names[i])) == 0)
			return 1;
	return proc_secret(kv);
}

/*
 * The environment helpers run with: ours, less what is withheld, plus
 * the settings (by environment, not argv: ps shows argv).  The proxy
 * is not among them: each request names its own (egress.h).  Caller frees with helper_env_free().
 */
char **
helper_env(const struct helper_settings *hs)
{
	char		**env, *pp = NULL;
	size_t		  n = 0, i, k = 0;
	const char	 *oldpp;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 16, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (!withheld(environ[i]))
			env[k++] = strdup(environ[i]);
	oldpp = getenv("PYTHONPATH");
	if (hs->pythonpath != NULL || oldpp != NULL) {
		if (asprintf(&pp, "PYTHONPATH=%s%s%s",
		    hs->pythonpath ? hs->pythonpath : "",
		    hs->pythonpath && oldpp ? ":" : "",
		    oldpp ? oldpp : "") == -1)
			pp = NULL;
		env[k++] = pp;
	}
	env[k++] = strdup("PYTHONUNBUFFERED=1");
	if (asprintf(&env[k++], "TIKTOK_FCGI_WORKERS=%d", hs->workers) == -1)
		env[k - 1] = NULL;
	if (asprintf(&env[k++], "TIKTOK_FCGI_SOCKET_TIMEOUT=%d",
	    hs->socket_timeout) == -1)
		env[k - 1] = NULL;
	if (hs->cookies != NULL &&
	    asprintf(&env[k++], "TIKTOK_FCGI_COOKIES=%s", hs->cookies) == -1)
		env[k - 1] = NULL;
	if (hs->ca_file != NULL) {
		if (asprintf(&env[k++], "TIKTOK_FCGI_CA_FILE=%s",
		    hs->ca_file) == -1)
			env[k - 1] = NULL;
		if (asprintf(&env[k++], "SSL_CERT_FILE=%s", hs->ca_file) == -1)
			env[k - 1] = NULL;
	}
	if (hs->allow_generic)
		env[k++] = strdup("TIKTOK_FCGI_ALLOW_GENERIC=1");
	for (i = 0; i < k; i++)
		if (env[i] == NULL) {
			env[i] = strdup("");	/* so the free below ends */
			helper_env_free(env);
			return NULL;
		}
	env[k] = NULL;
	return env;
}

void
helper_env_free(char **env)
{
	size_t	 i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/*
 * Start argv (proc_spawn: no other descriptor, signals reset, its own
 * process group) with child[] as its stdin, stdout and stderr; those are
 * closed here, whatever happens.  ours[] are our ends (-1: none), owned
 * by the helper from now on.  Returns NULL on failure (logged), ours[]
 * closed.
 */
struct helper *
helper_spawn(char *const argv[], char **envp, const int child[3],
    const int ours[3])
{
	struct helper	*h;
	int		 i;

	if ((h = helper_own(ours)) != NULL &&
	    (h->pid = proc_spawn(argv, envp, child)) == -1) {
		log_warn("%s: %s", __func__, argv[0]);
		helper_free(h);
		h = NULL;
	}
	for (i = 0; i < 3; i++)
		if (child[i] != -1 && (i == 0 || child[i] != child[i - 1]))
			close(child[i]);
	return h;
}

/*
 * A helper that another process will start (the helper parent forks it):
 * three pipes, our ends kept, its ends in child[] for the caller to hand
 * over and close.  Its pid comes later (helper_adopt).  NULL on failure.
 */
struct helper *
helper_pipes(int child[3])
{
	int	 pin[2] = { -1, -1 }, pout[2] = { -1, -1 };
	int	 perr[2] = { -1, -1 }, ours[3];

	if (pipe2(pin, O_CLOEXEC) == -1 || pipe2(pout, O_CLOEXEC) == -1 ||
	    pipe2(perr, O_CLOEXEC) == -1) {
		log_warn("%s: pipe", __func__);
		if (pin[0] != -1) { close(pin[0]); close(pin[1]); }
		if (pout[0] != -1) { close(pout[0]); close(pout[1]); }
		return NULL;
	}
	child[0] = pin[0];
	child[1] = pout[1];
	child[2] = perr[1];
	ours[0] = pin[1];
	ours[1] = pout[0];
	ours[2] = perr[0];
	return helper_own(ours);
}

/*
 * The pid of a helper another process forked (its parent reaps it), and
 * a pidfd of it (-1: none; taken over): with one, a signal can never
 * reach a process that reused the pid.
 */
void
helper_adopt(struct helper *h, pid_t pid, int pidfd)
{
	h->forked = 1;
	h->pid = pid;
	if (h->pidfd != -1)
		close(h->pidfd);
	h->pidfd = pidfd;
}

/*
 * Run "python script --check" once, in the environment a helper gets,
 * for up to timeout_s: a helper imports yt_dlp and prints its version.
 * Returns 0 with the version in out, or -1 with why in out: the last
 * line the child wrote (a Python traceback ends with the exception), or
 * how it could not run.  For the start and -n, before any thread.
 */
int
helper_probe(const char *python, const char *script, char **envp,
    int timeout_s, char *out, size_t outsz)
{
	struct pollfd	 pfd;
	char		 buf[8192], *argv[4], *line, *nl;
	size_t		 len = 0;
	ssize_t		 n;
	long long	 deadline;
	int		 p[2], devnull, fds[3], st, timedout = 0;
	pid_t		 pid;

	if (pipe2(p, O_CLOEXEC) == -1) {
		snprintf(out, outsz, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(out, outsz, "/dev/null: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	argv[0] = (char *)(uintptr_t)python;
	argv[1] = (char *)(uintptr_t)script;
	argv[2] = (char *)(uintptr_t)"--check";
	argv[3] = NULL;
	fds[0] = devnull;
	fds[1] = p[1];
	fds[2] = p[1];
	pid = proc_spawn(argv, envp, fds);
	close(devnull);
	close(p[1]);
	if (pid == -1) {
		snprintf(out, outsz, "%s: %s", python, strerror(errno));
		close(p[0]);
		return -1;
	}
	deadline = proc_now_ms() + 1000LL * timeout_s;
	pfd.fd = p[0];
	pfd.events = POLLIN;
	for (;;) {
		long long left = deadline - proc_now_ms();

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			timedout = 1;
			break;
		}
		n = read(p[0], buf + len, sizeof(buf) - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1) {	/* keep the end */
			memmove(buf, buf + len / 2, len - len / 2);
			len -= len / 2;
		}
	}
	close(p[0]);
	if (timedout)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	line = (nl = strrchr(buf, '\n')) != NULL ? nl + 1 : buf;
	if (timedout) {
		snprintf(out, outsz, "%s %s --check did not finish in %d s",
		    python, script, timeout_s);
		return -1;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && *line != '\0') {
		snprintf(out, outsz, "%s", line);
		return 0;
	}
	if (*line != '\0')
		snprintf(out, outsz, "%s", line);
	else if (WIFEXITED(st))
		snprintf(out, outsz, "%s %s --check exited with %d", python,
		    script, WEXITSTATUS(st));
	else
		snprintf(out, outsz, "%s %s --check was killed by signal %d",
		    python, script, WTERMSIG(st));
	return -1;
}

pid_t
helper_pid(const struct helper *h)
{
	return h->pid < 0 ? -h->pid : h->pid;
}

/* One of its descriptors, or -1 once closed. */
int
helper_fd(const struct helper *h, enum helper_fd which)
{
	return h->fd[which];
}

/*
 * Queue a line for its stdin.  0, or -1 with errno EMSGSIZE when what is
 * queued would pass the cap (it has not read what it was sent), ENOMEM
 * when out of memory.
 */
int
helper_send(struct helper *h, const char *line, size_t len)
{
	char	*nb;
	size_t	 ncap;

	if (h->olen + len > h->ocap) {
		ncap = h->ocap ? h->ocap : 4096;
		while (ncap < h->olen + len)
			ncap *= 2;
		if (ncap > LINE_MAX_BYTES) {
			errno = EMSGSIZE;
			return -1;
		}
		if ((nb = realloc(h->obuf, ncap)) == NULL)
			return -1;
		h->obuf = nb;
		h->ocap = ncap;
	}
	memcpy(h->obuf + h->olen, line, len);
	h->olen += len;
	return 0;
}

/* Bytes queued for its stdin, not yet written. */
size_t
helper_pending(const struct helper *h)
{
	return h->olen;
}

/* Write what we can of the queued input.  -1: it is gone. */
int
helper_flush(struct helper *h)
{
	ssize_t	 n;

	while (h->olen > 0 && h->fd[HELPER_IN] != -1) {
		n = write(h->fd[HELPER_IN], h->obuf, h->olen);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		memmove(h->obuf, h->obuf + n, h->olen - (size_t)n);
		h->olen -= (size_t)n;
	}
	return 0;
}

/*
 * Read its stdout and hand each whole line to line(arg, text, len).
 * Returns -1 when it closed its stdout, a line passed the cap, or line()
 * returned -1 (the protocol broke); 0 otherwise.
 */
int
helper_read(struct helper *h, int (*line)(void *, const char *, size_t),
    void *arg)
{
	ssize_t	 n;
	char	*nl, *nb;
	size_t	 off;

	for (;;) {
		if (h->icap - h->ilen < READ_CHUNK) {
			if (h->icap >= LINE_MAX_BYTES + READ_CHUNK) {
				log_warnx("%s: helper %d: answer longer than "
				    "%d bytes", __func__, (int)h->pid,
				    LINE_MAX_BYTES);
				return -1;
			}
			if ((nb = realloc(h->ibuf, h->icap + READ_CHUNK)) ==
			    NULL)
				return -1;
			h->ibuf = nb;
			h->icap += READ_CHUNK;
		}
		n = read(h->fd[HELPER_OUT], h->ibuf + h->ilen,
		    h->icap - h->ilen);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -1;
		}
		if (n == 0)
			return -1;
		h->ilen += (size_t)n;
		off = 0;
		while ((nl = memchr(h->ibuf + off, '\n', h->ilen - off)) !=
		    NULL) {
			if (line(arg, h->ibuf + off,
			    (size_t)(nl - (h->ibuf + off))) == -1) {
				log_warnx("%s: helper %d: malformed answer",
				    __func__, (int)h->pid);
				return -1;
			}
			off = (size_t)(nl - h->ibuf) + 1;
		}
		memmove(h->ibuf, h->ibuf + off, h->ilen - off);
		h->ilen -= off;
		if (h->ilen > LINE_MAX_BYTES) {
			log_warnx("%s: helper %d: answer longer than %d bytes",
			    __func__, (int)h->pid, LINE_MAX_BYTES);
			return -1;
		}
	}
	/* Keep big buffers from lingering after a big answer. */
	if (h->ilen == 0 && h->icap > 1024 * 1024) {
		free(h->ibuf);
		h->ibuf = NULL;
		h->icap = 0;
	}
	return 0;
}

/* Drain its stderr into our log, a line at a time. */
void
helper_stderr(struct helper *h)
{
	char	 buf[4096], out[600];
	ssize_t	 n;
	size_t	 i;

	if (h->fd[HELPER_ERR] == -1)
		return;
	while ((n = read(h->fd[HELPER_ERR], buf, sizeof(buf))) > 0) {
		for (i = 0; i < (size_t)n; i++) {
			if (buf[i] == '\n' || h->elen == sizeof(h->ebuf) - 1) {
				h->ebuf[h->elen] = '\0';
				if (h->elen > 0)
					log_info("helper %d: %s", (int)h->pid,
					    log_filter(out, sizeof(out),
					    h->ebuf));
				h->elen = 0;
				if (buf[i] == '\n')
					continue;
			}
			h->ebuf[h->elen++] = buf[i];
		}
	}
	if (n == 0) {
		close(h->fd[HELPER_ERR]);
		h->fd[HELPER_ERR] = -1;
	}
}

/* End of its input: it finishes its work and exits. */
void
helper_close_input(struct helper *h)
{
	if (h->fd[HELPER_IN] != -1) {
		close(h->fd[HELPER_IN]);
		h->fd[HELPER_IN] = -1;
	}
}

/*
 * A forked helper whose parent died was adopted by us if we are the
 * init of a PID namespace (a container's, say) or a subreaper: reap
 * it, by its pidfd, which can name no other process.  Otherwise it is
 * not our child and this does nothing.
 */
static void
reap_adopted(const struct helper *h)
{
#if HAVE_DECL_P_PIDFD
	siginfo_t	 si;

	if (h->pidfd != -1)
		(void)waitid(P_PIDFD, (id_t)h->pidfd, &si, WEXITED | WNOHANG);
#else
	(void)h;
#endif
}

/* Has a forked helper exited (its pidfd says so, or its pid is gone)? */
static int
gone(const struct helper *h)
{
	struct pollfd	 pfd;

	if (h->pidfd != -1) {
		pfd.fd = h->pidfd;
		pfd.events = POLLIN;
		return poll(&pfd, 1, 0) == 1;
	}
	return kill(h->pid, 0) == -1 && errno == ESRCH;
}

/*
 * Signal its whole process group (yt-dlp may have children).  A forked
 * helper is signalled only while it lives: its parent reaps it, and its
 * pid may then name another process.
 */
void
helper_signal(struct helper *h, int sig)
{
	if (h->pid <= 0)
		return;
	if (h->forked) {
		if (gone(h))
			return;
#ifdef HAVE_PIDFD_SEND_SIGNAL
		if (h->pidfd != -1)
			pidfd_send_signal(h->pidfd, sig, NULL, 0);
#endif
	}
	kill(-h->pid, sig);
}

/* Has it exited?  Reaps it if so (its parent reaps a forked one,
 * unless we adopted it: reap_adopted). */
int
helper_reaped(struct helper *h)
{
	int	 status;

	if (h->pid < 0)
		return 1;
	if (h->pid == 0)
		return 0;
	if (h->forked ? gone(h) :
	    waitpid(h->pid, &status, WNOHANG) == h->pid) {
		if (h->forked)
			reap_adopted(h);
		h->pid = -h->pid;
		return 1;
	}
	return 0;
}

/*
 * Kill its process group now and reap it; a forked one is waited for
 * (up to a second: its parent reaps it) and reaped only if adopted.
 */
void
helper_kill(struct helper *h)
{
	struct pollfd	 pfd;
	int		 status;

	if (h->pid <= 0)
		return;
	helper_signal(h, SIGKILL);
	if (h->forked) {
		if (h->pidfd != -1) {
			pfd.fd = h->pidfd;
			pfd.events = POLLIN;
			while (poll(&pfd, 1, 1000) == -1 && errno == EINTR)
				continue;
			reap_adopted(h);
		}
	} else
		while (waitpid(h->pid, &status, 0) == -1 && errno == EINTR)
			continue;
	h->pid = -h->pid;
}

/* Kill (if alive), reap, close and free.  helper_free(NULL) is a no-op. */
void
helper_free(struct helper *h)
{
	int	 i;

	if (h == NULL)
		return;
	helper_kill(h);
	for (i = 0; i < 3; i++)
		if (h->fd[i] != -1)
			close(h->fd[i]);
	if (h->pidfd != -1)
		close(h->pidfd);
	free(h->obuf);
	free(h->ibuf);
	free(h);
}
