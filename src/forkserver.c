/* SPDX-License-Identifier: ISC */
/*
 * The helper parent and its socket.  Its process is a struct helper
 * (helper.c) whose input is the control socket and whose stderr is
 * logged; the messages both ways are whole SOCK_SEQPACKET records, so a
 * descriptor always travels with the message it belongs to.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "forkserver.h"
#include "helper.h"
#include "log.h"

#define MSG_MAX		4096	/* one message from the parent */

struct forkserver {
	struct helper	*proc;
};

/*
 * Start "python script --parent" with a socket of ours as its stdin and
 * a pipe to our log as its stdout and stderr.  NULL on failure (logged).
 * It says FORKSERVER_READY when it has imported yt_dlp.
 */
struct forkserver *
forkserver_spawn(const char *python, const char *script, char **envp)
{
	struct forkserver	*fs;
	int			 sv[2], perr[2], child[3], ours[3];
	char			*argv[4];

	if ((fs = calloc(1, sizeof(*fs))) == NULL)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("%s: socketpair", __func__);
		free(fs);
		return NULL;
	}
	if (pipe2(perr, O_CLOEXEC) == -1) {
		log_warn("%s: pipe", __func__);
		close(sv[0]);
		close(sv[1]);
		free(fs);
		return NULL;
	}
	argv[0] = (char *)(uintptr_t)python;
	argv[1] = (char *)(uintptr_t)script;
	argv[2] = (char *)(uintptr_t)"--parent";
	argv[3] = NULL;
	child[0] = sv[1];
	child[1] = child[2] = perr[1];
	ours[0] = sv[0];
	ours[1] = -1;
	ours[2] = perr[0];
	if ((fs->proc = helper_spawn(argv, envp, child, ours)) == NULL) {
		free(fs);
		return NULL;
	}
	return fs;
}

/* Its process: pid, stderr, exit (helper.h).  Owned by fs. */
struct helper *
forkserver_proc(struct forkserver *fs)
{
	return fs->proc;
}

/* The socket to poll for its messages; -1 once closed. */
int
forkserver_fd(const struct forkserver *fs)
{
	return helper_fd(fs->proc, HELPER_IN);
}

/*
 * Ask it to fork a helper: "fork TAG" with the helper's three ends of
 * new pipes.  Returns the helper (ours; its pid comes with
 * FORKSERVER_FORKED for tag: helper_adopt), or NULL when it cannot be
 * asked now (the socket is full or gone; logged).
 */
struct helper *
forkserver_fork(struct forkserver *fs, unsigned long tag)
{
	struct helper	*h;
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	union {
		char		 buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr	 align;
	}		 u;
	char		 text[64];
	int		 child[3], i, n;
	ssize_t		 rc;

	if (forkserver_fd(fs) == -1 || (h = helper_pipes(child)) == NULL)
		return NULL;
	n = snprintf(text, sizeof(text), "fork %lu", tag);
	iov.iov_base = text;
	iov.iov_len = (size_t)n;
	memset(&mh, 0, sizeof(mh));
	memset(&u, 0, sizeof(u));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(child));
	memcpy(CMSG_DATA(cm), child, sizeof(child));
	while ((rc = sendmsg(forkserver_fd(fs), &mh, MSG_DONTWAIT |
	    MSG_NOSIGNAL)) == -1 && errno == EINTR)
		continue;
	if (rc == -1)
		log_warn("%s: helper parent %d", __func__,
		    (int)helper_pid(fs->proc));
	for (i = 0; i < 3; i++)
		close(child[i]);
	if (rc == -1) {
		helper_free(h);
		return NULL;
	}
	return h;
}

/* One message's text and descriptor -> msg.  -1: not one we know. */
static int
parse(struct json_object *o, int fd, struct forkserver_msg *m)
{
	struct json_object	*v, *t;

	memset(m, 0, sizeof(*m));
	m->pidfd = fd;
	if (json_object_object_get_ex(o, "ready", &v)) {
		if (!json_object_get_boolean(v) ||
		    !json_object_object_get_ex(o, "ytdlp", &v) ||
		    !json_object_is_type(v, json_type_string))
			return -1;
		m->what = FORKSERVER_READY;
		m->version = json_object_get_string(v);
		return 0;
	}
	if (json_object_object_get_ex(o, "exited", &v)) {
		m->what = FORKSERVER_EXITED;
		m->pid = (pid_t)json_object_get_int(v);
		if (json_object_object_get_ex(o, "status", &v))
			m->status = json_object_get_int(v);
		return m->pid > 0 ? 0 : -1;
	}
	if (!json_object_object_get_ex(o, "tag", &t) ||
	    !json_object_is_type(t, json_type_string))
		return -1;
	m->tag = strtoul(json_object_get_string(t), NULL, 10);
	if (json_object_object_get_ex(o, "forked", &v)) {
		m->what = FORKSERVER_FORKED;
		m->pid = (pid_t)json_object_get_int(v);
		return m->pid > 0 ? 0 : -1;
	}
	if (json_object_object_get_ex(o, "failed", &v)) {
		m->what = FORKSERVER_FAILED;
		m->why = json_object_get_string(v);
		return 0;
	}
	return -1;
}

/*
 * Read what it said and hand each message to fn(arg, msg).  Returns -1
 * when it closed the socket (exited), said something we cannot read
 * (logged), or fn returned -1; 0 otherwise.  fn owns msg->pidfd.
 */
int
forkserver_read(struct forkserver *fs,
    int (*fn)(void *, const struct forkserver_msg *), void *arg)
{
	struct forkserver_msg	 m;
	struct json_object	*o;
	struct msghdr		 mh;
	struct iovec		 iov;
	struct cmsghdr		*cm;
	union {
		char		 buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	 align;
	}			 u;
	char			 text[MSG_MAX];
	ssize_t			 n;
	int			 fd, rc;

	for (;;) {
		iov.iov_base = text;
		iov.iov_len = sizeof(text) - 1;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		n = recvmsg(forkserver_fd(fs), &mh, MSG_DONTWAIT |
		    MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		fd = -1;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
		    cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_RIGHTS &&
			    cm->cmsg_len >= CMSG_LEN(sizeof(int)))
				memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		text[n] = '\0';
		o = NULL;
		if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
		    (o = json_tokener_parse(text)) == NULL ||
		    parse(o, fd, &m) == -1) {
			log_warnx("%s: helper parent %d: malformed answer",
			    __func__, (int)helper_pid(fs->proc));
			json_object_put(o);
			if (fd != -1)
				close(fd);
			return -1;
		}
		rc = fn(arg, &m);
		json_object_put(o);
		if (rc == -1)
			return -1;
	}
}

/* Kill it (if alive), reap and free.  forkserver_free(NULL) is a no-op. */
void
forkserver_free(struct forkserver *fs)
{
	if (fs == NULL)
		return;
	helper_free(fs->proc);
	free(fs);
}
