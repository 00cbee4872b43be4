/* SPDX-License-Identifier: ISC */
/*
 * Starting child processes safely from a threaded program.
 *
 * Base: used by the pool, the renders, the cache and fetch.
 */
#ifndef PROC_H
#define PROC_H

#include <sys/types.h>

pid_t		 proc_spawn(char *const argv[], char *const envp[],
		    const int fds[3]);
pid_t		 proc_spawn_fds(const char *file, char *const argv[],
		    char *const envp[], const int *fds, int n, int session);
long long	 proc_now_ms(void);
int		 proc_secret(const char *kv);
char		**proc_env(void);
int		 proc_runnable(const char *name);

#endif /* PROC_H */
