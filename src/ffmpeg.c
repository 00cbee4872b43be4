/* SPDX-License-Identifier: ISC */
/*
 * Running ffmpeg for a render: by argv with posix_spawn (proc.c), never a
 * shell, with no secret in its environment, stdout /dev/null, stderr to
 * ffmpeg.log in the render's folder, its own process group; fed on its
 * stdin when asked (ffmpeg_feed); waited for within the render's
 * deadline and killed, with whatever it started, when nobody waits.
 * Every input's format is named (-f, ffmpeg_format) and its protocols
 * limited (-protocol_whitelist): ffmpeg only reads the files and pipes
 * it is given.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ffmpeg.h"
#include "log.h"
#include "proc.h"
#include "render.h"

/*
 * Start ffmpeg: stdin the read end of a pipe whose write end goes to
 * *in (non-blocking; -1 when in is NULL: /dev/null), stdout /dev/null,
 * stderr to errlog.  Returns the pid, or -1.
 */
static pid_t
spawn(char *const argv[], const char *errlog, int *in)
{
	int	 fds[3] = { -1, -1, -1 }, p[2] = { -1, -1 }, i, saved;
	pid_t	 pid = -1;
	char	**env;

	if (in != NULL) {
		*in = -1;
		if (pipe2(p, O_CLOEXEC) == -1)
			return -1;
		fds[0] = p[0];
	} else
		fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fds[1] = open("/dev/null", O_WRONLY | O_CLOEXEC);
	fds[2] = open(errlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fds[0] != -1 && fds[1] != -1 && fds[2] != -1 &&
	    (env = proc_env()) != NULL) {
		pid = proc_spawn(argv, env, fds);	/* no secrets */
		free(env);
	}
	saved = errno;
	for (i = 0; i < 3; i++)
		if (fds[i] != -1)
			close(fds[i]);
	if (in != NULL && pid != -1) {
		fcntl(p[1], F_SETFL, O_NONBLOCK);
		*in = p[1];
	} else if (p[1] != -1)
		close(p[1]);
	errno = saved;
	return pid;
}

/* The last line ffmpeg wrote, for the log. */
static void
log_ffmpeg(const char *errlog)
{
	char	 buf[4096], line[512], *p;
	ssize_t	 n;
	int	 fd;

	if ((fd = open(errlog, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	p = strrchr(buf, '\n');
	log_warnx("ffmpeg: %s", log_filter(line, sizeof(line),
	    p ? p + 1 : buf));
}

/*
 * Start ffmpeg (argv, no shell: stdout /dev/null, stderr to ffmpeg.log
 * in the folder, its own process group).  With in, its stdin is a pipe
 * whose write end is put there, for ffmpeg_feed(): ffmpeg then
 * loads (a good part of a second) while the inputs are still being
 * fetched.  Returns the pid, or -1 with the render failed.
 */
pid_t
ffmpeg_start(struct render_ctl *o, char *const argv[], int *in)
{
	char	 errlog[1100];
	pid_t	 pid;

	snprintf(errlog, sizeof(errlog), "%s/ffmpeg.log", render_dir(o));
	if ((pid = spawn(argv, errlog, in)) == -1) {
		log_warn("%s: %s", __func__, render_ffmpeg_path(o));
		render_fail(o, FAIL_FFMPEG_START, NULL);
	}
	return pid;
}

/*
 * Write the file at path into ffmpeg's stdin (fd, from
 * ffmpeg_start), as fast as it reads, within the deadline and as
 * long as somebody waits.  0 when written, 1 when nobody waits, -1 with
 * the render failed (the caller still waits for or kills ffmpeg).
 */
int
ffmpeg_feed(struct render_ctl *o, int fd, const char *path)
{
	char		 buf[65536];
	struct pollfd	 pfd;
	ssize_t		 n, w, off;
	int		 in, rc = -1;

	if ((in = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		render_fail_io(o, errno, path);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		for (off = 0; off < n; off += w) {
			if (proc_now_ms() >= render_deadline(o)) {
				render_fail(o, FAIL_RENDER_TIMEOUT, NULL);
				goto out;
			}
			if (render_nobody_waits(o)) {
				rc = 1;
				goto out;
			}
			if ((w = write(fd, buf + off, (size_t)(n - off))) ==
			    -1) {
				if (errno != EAGAIN && errno != EINTR) {
					render_fail(o,
					    FAIL_FFMPEG_STOPPED, NULL);
					goto out;
				}
				w = 0;
				pfd.fd = fd;
				pfd.events = POLLOUT;
				poll(&pfd, 1, 100);
			}
		}
	}
	rc = n == 0 ? 0 : -1;
	if (rc == -1)
		render_fail(o, FAIL_WORKDIR_READ, NULL);
out:
	close(in);
	return rc;
}

/*
 * Wait for ffmpeg (ffmpeg_start) until it is done, the deadline
 * passes (killed: 504) or nobody waits any more (killed); reaped either
 * way.  Returns 0 when it made the output (render_output) non-empty, 1
 * when nobody waits, -1 with the render failed.  failed: the render
 * failed already (ffmpeg is only killed and reaped).
 */
int
ffmpeg_wait(struct render_ctl *o, pid_t pid, int failed)
{
	char		 errlog[1100];
	struct stat	 st;
	int		 status;

	for (;;) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (failed != 0 || proc_now_ms() >= render_deadline(o) ||
		    render_nobody_waits(o)) {
			kill(-pid, SIGKILL);
			while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
				continue;
			if (failed != 0)
				return failed;
			if (proc_now_ms() >= render_deadline(o)) {
				log_warnx("%s: ffmpeg past %d s: killed",
				    __func__, render_timeout(o));
				render_fail(o, FAIL_RENDER_TIMEOUT, NULL);
				return -1;
			}
			return 1;
		}
		usleep(10000);
	}
	/* ffmpeg's own children, if any, go with its group. */
	kill(-pid, SIGKILL);
	snprintf(errlog, sizeof(errlog), "%s/ffmpeg.log", render_dir(o));
	if (WIFSIGNALED(status))
		log_warnx("%s: ffmpeg %d killed by signal %d", __func__,
		    (int)pid, WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		log_warnx("%s: ffmpeg %d exited with %d", __func__, (int)pid,
		    WEXITSTATUS(status));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    stat(render_output_path(o), &st) == -1 || st.st_size == 0) {
		log_ffmpeg(errlog);
		if (render_disk_full(o))
			render_fail_io(o, ENOSPC, "ffmpeg");
		else
			render_fail(o, FAIL_RENDER, NULL);
		return -1;
	}
	return 0;
}

/*
 * The format of a downloaded input, for ffmpeg's -f, by its first bytes:
 * one of the few containers TikTok serves sound and video in, or NULL.
 * ffmpeg is never left to guess: its guess may be a playlist or a concat
 * list naming other files, local ones included.
 */
const char *
ffmpeg_format(const char *path)
{
	unsigned char	 b[12];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return NULL;
	n = read(fd, b, sizeof(b));
	close(fd);
	if (n < (ssize_t)sizeof(b))
		return NULL;
	if (memcmp(b + 4, "ftyp", 4) == 0)
		return "mov";			/* mp4, m4a */
	if (memcmp(b, "\x1a\x45\xdf\xa3", 4) == 0)
		return "matroska";		/* webm too */
	if (memcmp(b, "ID3", 3) == 0)
		return "mp3";
	if (b[0] == 0xff && (b[1] & 0xf6) == 0xf0)
		return "aac";			/* ADTS */
	if (b[0] == 0xff && (b[1] & 0xe0) == 0xe0 && (b[1] & 0x06) != 0)
		return "mp3";			/* a frame, no tag */
	if (memcmp(b, "OggS", 4) == 0)
		return "ogg";
	if (memcmp(b, "fLaC", 4) == 0)
		return "flac";
	if (memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WAVE", 4) == 0)
		return "wav";
	return NULL;
}

/* Run ffmpeg on inputs in the folder: start and wait.  As _wait. */
int
ffmpeg_run(struct render_ctl *o, char *const argv[])
{
	pid_t	 pid;

	if ((pid = ffmpeg_start(o, argv, NULL)) == -1)
		return -1;
	return ffmpeg_wait(o, pid, 0);
}

