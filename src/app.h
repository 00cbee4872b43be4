/* SPDX-License-Identifier: ISC */
/*
 * The service as a whole: its configuration and the long-lived services
 * every handler reaches (token key, helper pool, metadata cache,
 * slideshow renderer, janitor).  Built once by the front (fcgi/main.c)
 * before threads start; handlers read it.
 */
#ifndef APP_H
#define APP_H

#include <stddef.h>
#include <time.h>

#include "conf.h"

struct token;
struct pool;
struct cache;
struct renders;
struct janitor;
struct shared;
struct admit;

struct app {
	struct conf	 conf;
	struct token	*token;
	struct pool	*pool;
	struct cache	*cache;
	struct shared	*shared;	/* REDIS_URL set, else NULL */
	struct renders	*renders;
	struct janitor	*janitor;
	struct admit	*admit;		/* client, API key, budget */
	time_t		 started;
	int		 threads_max;
	int		 threads_busy;	/* __atomic */
};

int	 app_check(const struct conf *, char *version, size_t vsz,
	    char *err, size_t errsz);
int	 app_check_files(const struct conf *, int log_file, char *err,
	    size_t errsz);
int	 app_init(struct app *, char *err, size_t errsz);
void	 app_reload(struct app *, struct conf *);
void	 app_stop(struct app *);
void	 app_free(struct app *);

#endif /* APP_H */
