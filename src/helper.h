/* SPDX-License-Identifier: ISC */
/*
 * One yt-dlp helper process: spawned safely (argv, its descriptors, its
 * own process group, the settings in its environment) or forked by the
 * helper parent (forkserver.h) onto pipes made here; fed lines on stdin,
 * read line by line on stdout (each line capped), its stderr passed to
 * our log, and killed and reaped (a forked one is reaped by its parent).
 * What the lines mean is the pool's business (pool_member.c, read by
 * pool_answer.c); this module knows processes and pipes.  Used by the
 * pool's supervisor thread and the helper parent (forkserver.c).
 */
#ifndef HELPER_H
#define HELPER_H

#include <stddef.h>
#include <sys/types.h>

struct helper;

/* What a helper is told through its environment (TIKTOK_FCGI_*). */
struct helper_settings {
	const char	*pythonpath;	/* put before PYTHONPATH, or NULL */
	int		 workers;	/* extractions at once */
	int		 socket_timeout;	/* s */
	const char	*cookies;	/* or NULL */
	const char	*ca_file;	/* or NULL */
	int		 allow_generic;	/* tests only */
};

enum helper_fd { HELPER_IN, HELPER_OUT, HELPER_ERR };

char		**helper_env(const struct helper_settings *);
void		  helper_env_free(char **);
struct helper	 *helper_spawn(char *const argv[], char **envp,
		    const int child[3], const int ours[3]);
struct helper	 *helper_pipes(int child[3]);
void		  helper_adopt(struct helper *, pid_t, int pidfd);
int		  helper_probe(const char *python, const char *script,
		    char **envp, int timeout_s, char *out, size_t outsz);
pid_t		  helper_pid(const struct helper *);
int		  helper_fd(const struct helper *, enum helper_fd);
int		  helper_send(struct helper *, const char *line, size_t len);
size_t		  helper_pending(const struct helper *);
int		  helper_flush(struct helper *);
int		  helper_read(struct helper *,
		    int (*line)(void *arg, const char *, size_t), void *arg);
void		  helper_stderr(struct helper *);
void		  helper_close_input(struct helper *);
void		  helper_signal(struct helper *, int sig);
int		  helper_reaped(struct helper *);
void		  helper_kill(struct helper *);
void		  helper_free(struct helper *);

#endif /* HELPER_H */
