/* SPDX-License-Identifier: ISC */
/*
 * The fleet's shared metadata, in Redis (REDIS_URL, through hiredis):
 * what one instance extracted, every instance reads, so a fleet extracts
 * each post once.  Sits between the cache and the pool as the cache's
 * fill function: a post missing here is looked up in Redis first; when
 * Redis has none, one instance takes a short lock in Redis and extracts,
 * the others wait for the entry (until the lock's deadline, then they
 * extract themselves).  Entries live no longer than CACHE_TTL, nor than
 * the CDN URLs in them stay valid.
 *
 * Redis down, slow or refusing never fails a request: every call has a
 * deadline (REDIS_TIMEOUT), a failure makes the instance extract alone
 * (its own cache still single-flights), logs once, shows in /health and
 * /metrics, and it reconnects with back-off.  One thread talks to Redis.
 *
 * Services: made by the app, used by the cache; /health and /metrics
 * read its stats.
 */
#ifndef SHARED_H
#define SHARED_H

#include "cache.h"

struct conf;
struct shared;
struct token;

/* How it extracts when Redis has nothing (the pool). */
typedef void (*shared_extract_fn)(void *arg, const char *url,
    cache_done_fn done, void *done_arg);

struct shared_stats {
	int		 up;		/* connected */
	unsigned long	 hits;		/* posts another instance extracted */
	unsigned long	 stored;	/* posts we extracted and shared */
	unsigned long	 waits;		/* waits for another's extraction */
	unsigned long	 alone;		/* extracted without Redis */
	unsigned long	 errors;	/* failed calls (each a fallback) */
	long long	 down_ms;	/* since when it is down, or 0 */
};

struct shared	*shared_new(const struct conf *, const struct token *,
		    shared_extract_fn, void *extract_arg);
void		 shared_fill(void *shared, const char *key, const char *url,
		    int fresh, cache_done_fn done, void *done_arg);
void		 shared_stats(struct shared *, struct shared_stats *);
void		 shared_free(struct shared *);

#endif /* SHARED_H */
