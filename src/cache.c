/*
 * The metadata cache: a hash table of entries with an LRU list, TTL and a
 * size bound, and single-flight: the first lookup of a post extracts it,
 * later lookups of the same post wait for that result.
 *
 * json-c's reference counts are not atomic (unless it was built with
 * threading), so every json_object_get/put on a cached document happens
 * under the cache lock: take with cache_get, give back with
 * cache_release.  Readers only read (no json_object_to_json_string on
 * shared objects).
 */
#include "config.h"

#include <sys/queue.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cache.h"
#include "proc.h"

struct entry {
	char			*key;
	unsigned int		 hash;
	struct json_object	*info;		/* NULL while pending */
	int			 pending;
	int			 linked;	/* in table and LRU */
	int			 waiters;
	enum pool_err		 err;
	char			*msg;
	long long		 expires;
	pthread_cond_t		 cv;
	struct entry		*hnext;
	TAILQ_ENTRY(entry)	 lru;
};
TAILQ_HEAD(entryq, entry);

struct cache {
	pthread_mutex_t		 mtx;
	struct entry		**table;
	size_t			 nbuckets;
	struct entryq		 lru;		/* most recent first */
	int			 entries;
	int			 inflight;
	int			 max, ttl;
	unsigned long		 hits, misses;
	cache_fill_fn		 fill;
	void			*arg;
};

/* FNV-1a. */
static unsigned int
hash(const char *s)
{
	unsigned int	 h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/*
 * A cache of at most max entries (0: nothing kept, but concurrent
 * lookups still share one extraction), each kept ttl seconds.  fill(arg,
 * url, ...) extracts on a miss.  Returns NULL on failure.
 */
struct cache *
cache_new(int max, int ttl, cache_fill_fn fill, void *arg)
{
	struct cache	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->max = max;
	c->ttl = ttl;
	c->fill = fill;
	c->arg = arg;
	c->nbuckets = 64;
	while (c->nbuckets < (size_t)max * 2 && c->nbuckets < (1u << 22))
		c->nbuckets *= 2;
	if ((c->table = calloc(c->nbuckets, sizeof(*c->table))) == NULL) {
		free(c);
		return NULL;
	}
	TAILQ_INIT(&c->lru);
	pthread_mutex_init(&c->mtx, NULL);
	return c;
}

static void
entry_free(struct entry *e)
{
	json_object_put(e->info);
	pthread_cond_destroy(&e->cv);
	free(e->msg);
	free(e->key);
	free(e);
}

static void
unlink_entry(struct cache *c, struct entry *e)
{
	struct entry	**pp;

	if (!e->linked)
		return;
	for (pp = &c->table[e->hash & (c->nbuckets - 1)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	TAILQ_REMOVE(&c->lru, e, lru);
	e->linked = 0;
	c->entries--;
}

void
cache_free(struct cache *c)
{
	struct entry	*e;

	if (c == NULL)
		return;
	while ((e = TAILQ_FIRST(&c->lru)) != NULL) {
		unlink_entry(c, e);
		entry_free(e);
	}
	pthread_mutex_destroy(&c->mtx);
	free(c->table);
	free(c);
}

/* Make room: drop expired entries from the tail, then the oldest. */
static void
evict(struct cache *c, long long now)
{
	struct entry	*e, *prev;

	for (e = TAILQ_LAST(&c->lru, entryq); e != NULL; e = prev) {
		prev = TAILQ_PREV(e, entryq, lru);
		if (e->pending || e->waiters > 0)
			continue;
		if (e->expires <= now || c->entries > c->max) {
			unlink_entry(c, e);
			entry_free(e);
		}
	}
}

/*
 * Look a post up by its key (posturl.h: the post id), extracting url on
 * a miss.  On POOL_OK *info holds a
 * reference the caller gives back with cache_release().  Otherwise *msg
 * may hold the reason (caller frees).
 */
enum pool_err
cache_get(struct cache *c, const char *key, const char *url,
    struct json_object **info, char **msg)
{
	struct entry	*e;
	unsigned int	 hv;
	long long	 now = proc_now_ms();
	enum pool_err	 err;
	struct json_object *got = NULL;
	char		*gotmsg = NULL;

	*info = NULL;
	*msg = NULL;
	hv = hash(key);
	pthread_mutex_lock(&c->mtx);
	for (e = c->table[hv & (c->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == hv && strcmp(e->key, key) == 0)
			break;
	if (e != NULL && !e->pending && e->expires <= now &&
	    e->waiters == 0) {
		unlink_entry(c, e);
		entry_free(e);
		e = NULL;
	}
	if (e != NULL && !e->pending && e->info != NULL) {
		c->hits++;
		TAILQ_REMOVE(&c->lru, e, lru);
		TAILQ_INSERT_HEAD(&c->lru, e, lru);
		*info = json_object_get(e->info);
		pthread_mutex_unlock(&c->mtx);
		return POOL_OK;
	}
	if (e != NULL && e->pending) {
		/* Single-flight: wait for the extraction under way. */
		c->hits++;
		e->waiters++;
		while (e->pending)
			pthread_cond_wait(&e->cv, &c->mtx);
		e->waiters--;
		err = e->err;
		if (err == POOL_OK)
			*info = json_object_get(e->info);
		else if (e->msg != NULL)
			*msg = strdup(e->msg);
		if (!e->linked && e->waiters == 0)
			entry_free(e);
		pthread_mutex_unlock(&c->mtx);
		return err;
	}

	c->misses++;
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->key = strdup(key)) == NULL) {
		pthread_mutex_unlock(&c->mtx);
		free(e);
		return POOL_OTHER;
	}
	e->hash = hv;
	e->pending = 1;
	pthread_cond_init(&e->cv, NULL);
	e->hnext = c->table[hv & (c->nbuckets - 1)];
	c->table[hv & (c->nbuckets - 1)] = e;
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	e->linked = 1;
	c->entries++;
	c->inflight++;
	pthread_mutex_unlock(&c->mtx);

	err = c->fill(c->arg, url, &got, &gotmsg);

	pthread_mutex_lock(&c->mtx);
	c->inflight--;
	e->pending = 0;
	e->err = err;
	if (err == POOL_OK) {
		e->info = got;			/* the cache's reference */
		*info = json_object_get(got);	/* the caller's */
		e->expires = proc_now_ms() + (long long)c->ttl * 1000;
	} else {
		e->msg = gotmsg != NULL ? strdup(gotmsg) : NULL;
		*msg = gotmsg;
	}
	pthread_cond_broadcast(&e->cv);
	if (err != POOL_OK || c->max == 0 || c->ttl == 0) {
		/* Failures are not kept: the next lookup tries again. */
		unlink_entry(c, e);
		if (e->waiters == 0)
			entry_free(e);
	} else if (c->entries > c->max)
		evict(c, proc_now_ms());
	pthread_mutex_unlock(&c->mtx);
	return err;
}

/* Give back a reference taken with cache_get().  NULL is a no-op. */
void
cache_release(struct cache *c, struct json_object *info)
{
	if (info == NULL)
		return;
	pthread_mutex_lock(&c->mtx);
	json_object_put(info);
	pthread_mutex_unlock(&c->mtx);
}

/* Drop a post's cached info (its CDN URLs were refused). */
void
cache_forget(struct cache *c, const char *key)
{
	struct entry	*e;
	unsigned int	 hv;

	hv = hash(key);
	pthread_mutex_lock(&c->mtx);
	for (e = c->table[hv & (c->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == hv && strcmp(e->key, key) == 0)
			break;
	if (e != NULL && !e->pending) {
		unlink_entry(c, e);
		if (e->waiters == 0)
			entry_free(e);
	}
	pthread_mutex_unlock(&c->mtx);
}

void
cache_stats(struct cache *c, struct cache_stats *st)
{
	pthread_mutex_lock(&c->mtx);
	st->hits = c->hits;
	st->misses = c->misses;
	st->entries = c->entries - c->inflight;
	st->inflight = c->inflight;
	pthread_mutex_unlock(&c->mtx);
}
