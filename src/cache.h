/*
 * Metadata cache: extracted post info kept for CACHE_TTL seconds, at most
 * CACHE_MAX entries, keyed by the post (posturl.h: "tiktok:ID").  Concurrent lookups
 * of a post being extracted wait for that one extraction (single-flight).
 * Failures are not kept.
 */
#ifndef CACHE_H
#define CACHE_H

#include "pool.h"

struct json_object;
struct cache;

struct cache_stats {
	unsigned long	 hits;
	unsigned long	 misses;
	int		 entries;
	int		 inflight;
};

typedef enum pool_err (*cache_fill_fn)(void *arg, const char *url,
    struct json_object **info, char **msg);

struct cache	*cache_new(int max, int ttl, cache_fill_fn, void *arg);
void		 cache_free(struct cache *);
enum pool_err	 cache_get(struct cache *, const char *key,
		    const char *url, struct json_object **info, char **msg);
void		 cache_release(struct cache *, struct json_object *);
void		 cache_forget(struct cache *, const char *key);
void		 cache_stats(struct cache *, struct cache_stats *);

#endif /* CACHE_H */
