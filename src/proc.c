/* SPDX-License-Identifier: ISC */
/*
 * Child processes (yt-dlp helpers, ffmpeg) as slowcgi starts them: by
 * argv with posix_spawn, never a shell; fds[0..2] become the child's
 * stdin, stdout and stderr (never our fd 0, which under spawn-fcgi is the
 * listening socket); every other descriptor closed; signal mask and
 * dispositions reset; a process group of its own, so that a timeout can
 * kill the child and whatever it started.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

extern char **environ;

/*
 * Start argv[0] (searched in PATH when it has no slash) with envp.
 * Returns the pid, or -1 with errno set.  The caller reaps it with
 * waitpid(pid) (its own child: nobody else waits for it).
 */
pid_t
proc_spawn(char *const argv[], char *const envp[], const int fds[3])
{
	return proc_spawn_fds(argv[0], argv, envp, fds, 3, 0);
}

/*
 * Start file (searched in PATH when it has no slash) with argv and envp,
 * fds[0..n-1] as its descriptors 0..n-1 and no other; in a process group
 * of its own, or with session set in a session of its own (a process
 * that outlives us).  Returns the pid, or -1 with errno set.
 */
pid_t
proc_spawn_fds(const char *file, char *const argv[], char *const envp[],
    const int *fds, int n, int session)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 sa;
	sigset_t			 none, all;
	pid_t				 pid;
	int				 i, rc;

	posix_spawn_file_actions_init(&fa);
	for (i = 0; i < n; i++)
		posix_spawn_file_actions_adddup2(&fa, fds[i], i);
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP
	/* Descriptors libraries opened without O_CLOEXEC, too. */
	posix_spawn_file_actions_addclosefrom_np(&fa, n);
#endif
	posix_spawnattr_init(&sa);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setsigdefault(&sa, &all);
	posix_spawnattr_setpgroup(&sa, 0);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | (session ? POSIX_SPAWN_SETSID :
	    POSIX_SPAWN_SETPGROUP));
	rc = posix_spawnp(&pid, file, &fa, &sa, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return pid;
}

/* Milliseconds on the monotonic clock: for deadlines and intervals. */
long long
proc_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Is kv ("NAME=value") something a child must not inherit: the token
 * key, proxy credentials, the Redis password?  The children get what
 * they need in their own form (helper.c).
 */
int
proc_secret(const char *kv)
{
	static const char *const names[] = { "ENCRYPTION_KEY=",
	    "OUTBOUND_PROXY=", "http_proxy=", "https_proxy=", "HTTP_PROXY=",
	    "HTTPS_PROXY=", "ALL_PROXY=", "all_proxy=", "REDIS_URL=", NULL };
	size_t	 i;

	for (i = 0; names[i] != NULL; i++)
		if (strncmp(kv, names[i], strlen(names[i])) == 0)
			return 1;
	return 0;
}

/*
 * Our environment without its secrets (proc_secret), for children such
 * as ffmpeg.  The strings are environ's own; the caller frees the array
 * only.  NULL when out of memory.
 */
char **
proc_env(void)
{
	char	**env;
	size_t	  n = 0, i, k = 0;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 1, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (!proc_secret(environ[i]))
			env[k++] = environ[i];
	env[k] = NULL;
	return env;
}

/* Is path a regular file we may execute?  0, or -1 with errno set. */
static int
runnable(const char *path)
{
	struct stat	 st;

	if (stat(path, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EACCES;
		return -1;
	}
	return access(path, X_OK);
}

/*
 * Could proc_spawn start name: a path, or a name found in PATH as
 * posix_spawnp looks for it?  0, or -1 with errno set (ENOENT when no
 * directory of PATH has it).
 */
int
proc_runnable(const char *name)
{
	const char	*path, *p, *end;
	char		 buf[4096];
	int		 n, saved = ENOENT;

	if (*name == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (strchr(name, '/') != NULL)
		return runnable(name);
	if ((path = getenv("PATH")) == NULL)
		path = "/bin:/usr/bin";
	for (p = path; ; p = end + 1) {
		end = strchrnul(p, ':');
		n = snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - p), p,
		    name);
		if (n > 0 && (size_t)n < sizeof(buf)) {
			if (runnable(end == p ? name : buf) == 0)
				return 0;
			if (errno != ENOENT)
				saved = errno;
		}
		if (*end == '\0')
			break;
	}
	errno = saved;
	return -1;
}
