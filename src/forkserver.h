/* SPDX-License-Identifier: ISC */
/*
 * The helper parent: one Python process ("ytdlp_helper.py --parent")
 * that imports yt_dlp and the extractors once, then forks every helper,
 * so that helpers share its pages (copy-on-write) and are ready in
 * milliseconds.  We talk to it over a unix SOCK_SEQPACKET socket (its
 * stdin), one JSON object a message: we ask it to fork a helper onto
 * three pipes we made (helper_pipes, sent along), it says which pid it
 * forked (with a pidfd of it), and when one exited.  Its stderr goes to
 * our log.  Closing the socket ends it; its helpers live on until their
 * own stdin closes.
 *
 * Used only by the pool's supervisor thread.
 */
#ifndef FORKSERVER_H
#define FORKSERVER_H

#include <sys/types.h>

struct forkserver;
struct helper;

/* What the parent said. */
struct forkserver_msg {
	enum {
		FORKSERVER_READY,	/* version: yt-dlp's */
		FORKSERVER_FORKED,	/* tag, pid, pidfd (-1: none) */
		FORKSERVER_FAILED,	/* tag, why */
		FORKSERVER_EXITED	/* pid, status (<0: its signal) */
	}		 what;
	const char	*version;
	const char	*why;
	unsigned long	 tag;
	pid_t		 pid;
	int		 pidfd;		/* the callback owns it */
	int		 status;
};

struct forkserver *forkserver_spawn(const char *python, const char *script,
		    char **envp);
struct helper	*forkserver_proc(struct forkserver *);
int		 forkserver_fd(const struct forkserver *);
struct helper	*forkserver_fork(struct forkserver *, unsigned long tag);
int		 forkserver_read(struct forkserver *,
		    int (*)(void *arg, const struct forkserver_msg *), void *);
void		 forkserver_free(struct forkserver *);

#endif /* FORKSERVER_H */
