/*
 * The service as a whole: configuration and the long-lived parts every
 * handler reaches (token key, helper pool, metadata cache, counters).
 * Built once by the front end before threads start.
 */
#ifndef APP_H
#define APP_H

#include <stddef.h>
#include <time.h>

#include "conf.h"
#include "pool.h"

struct http;
struct token;
struct pool;
struct cache;
struct slideshow;
struct janitor;

struct app {
	struct conf	 conf;
	struct token	*token;
	struct pool	*pool;
	struct cache	*cache;
	struct slideshow *slideshow;
	struct janitor	*janitor;
	time_t		 started;
	int		 threads_max;
	int		 threads_busy;	/* __atomic */
};

/* Endpoint handlers; each answers through h and returns nothing. */
void	 handle_health(struct app *, struct http *);
void	 handle_tiktok(struct app *, struct http *);
void	 handle_stream(struct app *, struct http *);
void	 handle_download(struct app *, struct http *);
void	 handle_slideshow(struct app *, struct http *);

int	 app_init(struct app *, char *err, size_t errsz);
void	 app_reload(struct app *);
void	 app_stop(struct app *);
void	 app_free(struct app *);

void	 router_dispatch(struct app *, struct http *);
void	 router_finish(struct app *, struct http *);

void	 answer_pool_error(struct http *, enum pool_err, const char *);

#endif /* APP_H */
