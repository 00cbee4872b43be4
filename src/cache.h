/* SPDX-License-Identifier: ISC */
/*
 * Metadata cache: extracted post info kept for CACHE_TTL seconds, at most
 * CACHE_MAX entries, keyed by the post (posturl.h: "tiktok:ID").  Concurrent lookups
 * of a post being extracted wait for that one extraction (single-flight).
 * Failures are not kept, but that a post is missing or private is, for
 * MISSING_TTL (cache_remember_missing).  A post is kept as JSON text,
 * parsed again when it is asked for after a while (json-c's documents
 * are large).
 *
 * Used by the handlers that extract (through the app); fed by the pool.
 */
#ifndef CACHE_H
#define CACHE_H

#include "fail.h"

struct json_object;
struct cache;

struct cache_stats {
	unsigned long	 hits;
	unsigned long	 misses;
	int		 entries;
	int		 inflight;
};

/*
 * Told when a lookup that missed ends: FAIL_OK with info (a reference
 * the callee takes over), or the failure and msg, the pool's reason
 * (valid during the call).  The shape of pool_done_fn, which fills it.
 */
typedef void (*cache_done_fn)(void *arg, enum fail, struct json_object *info,
    const char *msg);
/*
 * Start extracting the post key names, at url; done(done_arg, ...) once
 * when it ends.  fresh: the key was forgotten (its CDN URLs refused), so
 * a copy kept elsewhere (shared.h) will not do.
 */
typedef void (*cache_fill_fn)(void *arg, const char *key, const char *url,
    int fresh, cache_done_fn done, void *done_arg);

struct cache	*cache_new(int max, int ttl, cache_fill_fn, void *arg);
void		 cache_free(struct cache *);
void		 cache_remember_missing(struct cache *, int ttl);
int		 cache_lookup(struct cache *, const char *key,
		    const char *url, cache_done_fn, void *arg,
		    struct json_object **info);
enum fail	 cache_get(struct cache *, const char *key,
		    const char *url, struct json_object **info, char **msg);
void		 cache_release(struct cache *, struct json_object *);
int		 cache_forget(struct cache *, const char *key,
		    long long min_age_ms);
void		 cache_trim(struct cache *);
void		 cache_stats(struct cache *, struct cache_stats *);

#endif /* CACHE_H */
