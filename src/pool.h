/* SPDX-License-Identifier: ISC */
/*
 * The helper pool: the only place yt-dlp runs.  Up to P resident helper
 * processes (Python), forked from one helper parent that imported
 * yt_dlp once, each serving several extractions at once over
 * stdin/stdout JSON lines tagged with request ids; as many as the work
 * needs, one at idle.  One supervisor thread owns every pipe: it
 * dispatches queued requests, reads answers, enforces deadlines,
 * restarts crashed helpers with backoff and recycles old ones.
 *
 * Used by the app (pool_extract fills the cache), /health and /metrics
 * (pool_stats, pool_procs) and the restart (fcgi/restart.c).  An
 * extraction fails with a failure of fail.h (an extraction's kinds,
 * FAIL_BUSY, FAIL_OTHER), which the handlers answer (answer.c).
 */
#ifndef POOL_H
#define POOL_H

#include <sys/types.h>

#include <stddef.h>
#include <time.h>

#include "fail.h"
#include "helper.h"

struct json_object;
struct pool;

struct pool_opts {
	const char	*python;	/* interpreter */
	const char	*script;	/* the helper program */
	int		 helpers;	/* processes */
	int		 max_workers;	/* in-flight extractions in all */
	int		 queue_max;	/* waiting requests */
	int		 timeout;	/* seconds per extraction */
	int		 max_requests;	/* recycle after (0: never) */
	int		 max_rss_mb;	/* recycle above (0: never) */
	struct helper_settings helper;	/* what helpers are told */
};

struct pool_stats {
	int		 helpers;	/* alive and ready */
	int		 max_helpers;	/* HELPERS: at most, under load */
	int		 busy;		/* helpers with work */
	int		 inflight;	/* extractions running */
	int		 queued;	/* waiting for a slot */
	int		 max_concurrency;
	unsigned long	 restarts;
	unsigned long	 timeouts;
	unsigned long	 crashes;
	unsigned long	 requests;
	int		 outdated;	/* answers unreadable, again and again */
	int		 blocking;	/* TikTok refuses this address */
};

/* One process of the pool: a helper parent or a helper. */
struct pool_proc {
	pid_t		 pid;
	int		 parent;	/* 1: the helper parent */
	const char	*state;		/* starting, ready, draining,
					 * retiring (a parent replaced) */
	int		 inflight;	/* extractions running in it */
	int		 served;	/* extractions it answered */
	long		 rss_kb;	/* -1: unknown */
	long		 pss_kb;	/* its share of what it maps */
};

#define POOL_PROCS_MAX	160	/* 2 * HELPERS's bound, and parents */

/* Told when an extraction ends; see pool_extract(). */
typedef void (*pool_done_fn)(void *arg, enum fail,
    struct json_object *info, const char *msg);

struct pool	*pool_new(const struct pool_opts *);
int		 pool_start(struct pool *);
void		 pool_stop(struct pool *);
void		 pool_free(struct pool *);
void		 pool_extract(struct pool *, const char *url,
		    pool_done_fn, void *arg);
void		 pool_reload(struct pool *);
int		 pool_set_program(struct pool *, const char *python,
		    const char *script, const struct helper_settings *);
void		 pool_set_limits(struct pool *, int max_requests,
		    int max_rss_mb, int queue_max);
void		 pool_stats(struct pool *, struct pool_stats *);
int		 pool_procs(struct pool *, struct pool_proc *, int max);
char		*pool_version(struct pool *);
int		 pool_version_age(const char *version, time_t now);

#endif /* POOL_H */
