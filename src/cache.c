/* SPDX-License-Identifier: ISC */
/*
 * The metadata cache: a hash table of entries with an LRU list, TTL and a
 * size bound, and single-flight: the first lookup of a post extracts it,
 * later lookups of the same post wait for that result.  Waiting is a
 * list of functions to call, not threads: whoever completes the
 * extraction tells every waiter (cache_lookup); cache_get waits in place
 * for callers that hold a thread anyway.
 *
 * json-c's reference counts are not atomic (unless it was built with
 * threading), so every json_object_get/put on a cached document happens
 * under the cache lock: take with cache_get, give back with
 * cache_release.  Readers only read (no json_object_to_json_string on
 * shared objects).
 *
 * An entry keeps its post as JSON text, and a parsed document only
 * while it is in demand: a document costs json-c about seven times its
 * text (35 KB for a post of 5 KB), and most posts are asked for once.
 * A hit parses the text when no document is kept, and keeps the
 * document until it has not been asked for in HOT_MS.  The request
 * headers every format carries, the same for each, are kept once in
 * the text (pack, unpack).
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

#define HOT_MS	10000	/* a parsed document kept after its last hit */

struct entry {
	char			*key;
	unsigned int		 hash;
	struct json_object	*info;		/* parsed, while hot; or NULL */
	char			*text;		/* the info; NULL: pending */
	long long		 used;		/* its last hit */
	enum fail		 err;	/* a missing post remembered */
	int			 pending;
	int			 linked;	/* in table and LRU */
	struct waiter		*waiters;	/* while pending */
	struct cache		*cache;
	long long		 filled;	/* monotonic ms */
	int			 forced;	/* filled after a forget */
	long long		 expires;
	struct entry		*hnext;
	TAILQ_ENTRY(entry)	 lru;
	TAILQ_ENTRY(entry)	 hot;		/* while info is kept */
};
TAILQ_HEAD(entryq, entry);

struct waiter {
	cache_done_fn		 fn;
	void			*arg;
	struct json_object	*info;		/* its reference */
	struct waiter		*next;
};

struct cache {
	pthread_mutex_t		 mtx;
	struct entry		**table;
	size_t			 nbuckets;
	struct entryq		 lru;		/* most recent first */
	struct entryq		 hot;		/* with a document */
	int			 entries;
	int			 inflight;
	int			 max, ttl;
	int			 missing_ttl;	/* s, 0: not remembered */
	unsigned long		 hits, misses;
	cache_fill_fn		 fill;
	void			*arg;
	unsigned int		 forgot[64];	/* hashes of keys forgotten */
	size_t			 nforgot;	/* ring: next slot */
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
	TAILQ_INIT(&c->hot);
	pthread_mutex_init(&c->mtx, NULL);
	return c;
}

static void
entry_free(struct entry *e)
{
	json_object_put(e->info);
	free(e->text);
	free(e->key);
	free(e);
}

/*
 * Drop e's document (its text stays), or keep it (parsed, info set)
 * hot from now.
 */
static void
cool(struct cache *c, struct entry *e)
{
	if (e->info == NULL)
		return;
	TAILQ_REMOVE(&c->hot, e, hot);
	json_object_put(e->info);
	e->info = NULL;
}

static void
heat(struct cache *c, struct entry *e, struct json_object *parsed,
    long long now)
{
	if (e->info != NULL)
		TAILQ_REMOVE(&c->hot, e, hot);
	else
		e->info = parsed;
	e->used = now;
	TAILQ_INSERT_HEAD(&c->hot, e, hot);
}

/* Documents not asked for in HOT_MS go; their text stays. */
static void
cool_down(struct cache *c, long long now)
{
	struct entry	*e;

	while ((e = TAILQ_LAST(&c->hot, entryq)) != NULL &&
	    now - e->used >= HOT_MS)
		cool(c, e);
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
	cool(c, e);
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
		if (e->pending)
			continue;
		if (e->expires <= now || c->entries > c->max) {
			unlink_entry(c, e);
			entry_free(e);
		}
	}
}

/* Was this key forgotten lately (a refill after cache_forget)? */
static int
forgotten(struct cache *c, unsigned int hv)
{
	size_t	 i;

	for (i = 0; i < sizeof(c->forgot) / sizeof(c->forgot[0]); i++)
		if (c->forgot[i] == hv && hv != 0)
			return 1;
	return 0;
}

#define PRINT	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define PACKED	"_headers"	/* the formats' http_headers, once */

/*
 * The text kept for info.  Every format of a post carries the same
 * http_headers (yt-dlp's, and the cookies TikTok set): a third of the
 * text, which is kept once, as PACKED, when they are all the same.
 * Printed from a copy that shares info's members (nobody else holds
 * info yet).  NULL: out of memory.
 */
static char *
pack(struct json_object *info)
{
	struct json_object	*formats, *f, *hh, *first = NULL, *o, *fa, *g;
	char			*text;
	size_t			 i, n = 0;

	if (json_object_object_get_ex(info, "formats", &formats) &&
	    json_object_is_type(formats, json_type_array))
		n = json_object_array_length(formats);
	for (i = 0; i < n; i++) {
		f = json_object_array_get_idx(formats, i);
		if (!json_object_object_get_ex(f, "http_headers", &hh) ||
		    (first != NULL && !json_object_equal(first, hh)))
			break;
		first = hh;
	}
	if (n < 2 || i < n || json_object_object_get_ex(info, PACKED, NULL))
		return strdup(json_object_to_json_string_ext(info, PRINT));
	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_foreach(info, k, v)
		if (strcmp(k, "formats") != 0)
			json_object_object_add(o, k, json_object_get(v));
	fa = json_object_new_array_ext((int)n);
	json_object_object_add(o, "formats", fa);
	json_object_object_add(o, PACKED, json_object_get(first));
	for (i = 0; fa != NULL && i < n; i++) {
		if ((g = json_object_new_object()) == NULL)
			break;
		json_object_array_add(fa, g);
		json_object_object_foreach(json_object_array_get_idx(formats,
		    i), k2, v2)
			if (strcmp(k2, "http_headers") != 0)
				json_object_object_add(g, k2,
				    json_object_get(v2));
	}
	text = fa != NULL && i == n ?
	    strdup(json_object_to_json_string_ext(o, PRINT)) : NULL;
	json_object_put(o);
	return text;
}

/* A document parsed from a packed text as it was: each format's
 * http_headers back (one object for all: readers only read). */
static void
unpack(struct json_object *info)
{
	struct json_object	*hh, *formats;
	size_t			 i, n;

	if (!json_object_object_get_ex(info, PACKED, &hh))
		return;
	if (json_object_object_get_ex(info, "formats", &formats) &&
	    json_object_is_type(formats, json_type_array)) {
		n = json_object_array_length(formats);
		for (i = 0; i < n; i++)
			json_object_object_add(json_object_array_get_idx(
			    formats, i), "http_headers", json_object_get(hh));
	}
	json_object_object_del(info, PACKED);
}

/*
 * An extraction ended (the pool's done function): keep the result, tell
 * every waiter, each with a reference of its own.  Takes over info.
 */
static void
filled(void *arg, enum fail err, struct json_object *info,
    const char *msg)
{
	struct entry	*e = arg;
	struct cache	*c = e->cache;
	struct waiter	*w, *list;
	int		 keep = 0;

	pthread_mutex_lock(&c->mtx);
	c->inflight--;
	e->pending = 0;
	list = e->waiters;
	e->waiters = NULL;
	for (w = list; w != NULL; w = w->next)
		w->info = err == FAIL_OK ? json_object_get(info) : NULL;
	e->filled = proc_now_ms();
	if (err == FAIL_OK && c->max > 0 && c->ttl > 0) {
		/* Kept as text; the waiters hold the document while they
		 * use it (nobody else sees it yet: it may be printed). */
		e->text = pack(info);
		e->forced = forgotten(c, e->hash);
		e->expires = e->filled + (long long)c->ttl * 1000;
		keep = e->text != NULL;
	} else if (err != FAIL_OK) {
		/* A post TikTok says is missing or private is remembered
		 * a short while: asking again costs a whole extraction. */
		e->err = err;
		e->expires = e->filled + (long long)c->missing_ttl * 1000;
		keep = (err == FAIL_NOT_FOUND || err == FAIL_PRIVATE) &&
		    c->missing_ttl > 0;
	}
	json_object_put(info);
	if (!keep || c->max == 0) {
		/* Other failures are not kept: the next lookup tries
		 * again. */
		unlink_entry(c, e);
		entry_free(e);
	} else if (c->entries > c->max)
		evict(c, proc_now_ms());
	pthread_mutex_unlock(&c->mtx);
	while ((w = list) != NULL) {
		list = w->next;
		w->fn(w->arg, err, w->info, msg);
		free(w);
	}
}

/*
 * Look a post up by its key (posturl.h: the post id), extracting url on
 * a miss.  Returns 1 on a hit: *info holds a reference the caller gives
 * back with cache_release().  Otherwise returns 0, and fn(arg, err,
 * info, msg) is called once when the extraction ends (from another
 * thread, or from this call when it fails at once), with a reference to
 * give back in the same way on FAIL_OK, and msg valid during the call.
 * A post remembered missing or private is told so from this call.
 */
int
cache_lookup(struct cache *c, const char *key, const char *url,
    cache_done_fn fn, void *arg, struct json_object **info)
{
	struct entry		*e;
	struct waiter		*w;
	struct json_object	*parsed;
	unsigned int		 hv;
	long long		 now = proc_now_ms();
	int			 start = 0, fresh;
	enum fail		 known;

	*info = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		fn(arg, FAIL_OTHER, NULL, "out of memory");
		return 0;
	}
	w->fn = fn;
	w->arg = arg;
	hv = hash(key);
	pthread_mutex_lock(&c->mtx);
	for (e = c->table[hv & (c->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == hv && strcmp(e->key, key) == 0)
			break;
	if (e != NULL && !e->pending && e->expires <= now) {
		unlink_entry(c, e);
		entry_free(e);
		e = NULL;
	}
	if (e != NULL && !e->pending && e->err != FAIL_OK) {
		c->hits++;
		known = e->err;
		pthread_mutex_unlock(&c->mtx);
		free(w);
		fn(arg, known, NULL, "remembered as missing");
		return 0;
	}
	cool_down(c, now);
	parsed = NULL;
	if (e != NULL && !e->pending && e->info == NULL &&
	    (parsed = json_tokener_parse(e->text)) == NULL) {
		unlink_entry(c, e);	/* out of memory: extract again */
		entry_free(e);
		e = NULL;
	}
	if (parsed != NULL)
		unpack(parsed);
	if (e != NULL && !e->pending) {
		c->hits++;
		TAILQ_REMOVE(&c->lru, e, lru);
		TAILQ_INSERT_HEAD(&c->lru, e, lru);
		heat(c, e, parsed, now);
		*info = json_object_get(e->info);
		pthread_mutex_unlock(&c->mtx);
		free(w);
		return 1;
	}
	if (e != NULL)
		c->hits++;	/* single-flight: join the extraction */
	else {
		c->misses++;
		if ((e = calloc(1, sizeof(*e))) == NULL ||
		    (e->key = strdup(key)) == NULL) {
			pthread_mutex_unlock(&c->mtx);
			free(e);
			free(w);
			fn(arg, FAIL_OTHER, NULL, "out of memory");
			return 0;
		}
		e->hash = hv;
		e->pending = 1;
		e->cache = c;
		e->hnext = c->table[hv & (c->nbuckets - 1)];
		c->table[hv & (c->nbuckets - 1)] = e;
		TAILQ_INSERT_HEAD(&c->lru, e, lru);
		e->linked = 1;
		c->entries++;
		c->inflight++;
		start = 1;
	}
	w->next = e->waiters;
	e->waiters = w;
	fresh = start && forgotten(c, hv);
	pthread_mutex_unlock(&c->mtx);
	if (start)
		c->fill(c->arg, e->key, url, fresh, filled, e);
	return 0;
}

/* Waiting in place, for cache_get. */
struct sync {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;
	int			 done;
	enum fail		 err;
	struct json_object	*info;
	char			*msg;
};

static void
sync_done(void *arg, enum fail err, struct json_object *info,
    const char *msg)
{
	struct sync	*w = arg;

	pthread_mutex_lock(&w->mtx);
	w->err = err;
	w->info = info;
	w->msg = msg != NULL ? strdup(msg) : NULL;
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mtx);
}

/*
 * cache_lookup for a caller that holds a thread anyway (a stream or a
 * render): waits for the result.  On FAIL_OK *info holds a reference the
 * caller gives back with cache_release(); otherwise *msg may hold the
 * reason (the caller frees it).  Never waits longer than the pool's
 * deadline for the extraction.
 */
enum fail
cache_get(struct cache *c, const char *key, const char *url,
    struct json_object **info, char **msg)
{
	struct sync	 w;

	*msg = NULL;
	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mtx, NULL);
	pthread_cond_init(&w.cv, NULL);
	if (cache_lookup(c, key, url, sync_done, &w, info)) {
		w.err = FAIL_OK;
		goto out;
	}
	pthread_mutex_lock(&w.mtx);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mtx);
	pthread_mutex_unlock(&w.mtx);
	*info = w.info;
	*msg = w.msg;
out:
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mtx);
	return w.err;
}

/*
 * Remember for ttl seconds (0: not at all) that TikTok says a post is
 * missing or private (MISSING_TTL): lookups in that time are told so at
 * once, without an extraction.  Before the first lookup.
 */
void
cache_remember_missing(struct cache *c, int ttl)
{
	c->missing_ttl = ttl;
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

/*
 * Drop a post's cached info (its CDN URLs were refused), unless that
 * info is itself the fresh extraction a forget asked for, less than
 * min_age_ms old: extracting again would give the same URLs, and a link
 * the CDN keeps refusing would make us hammer TikTok (one re-extraction
 * per post and window).  Returns 1 when the next lookup extracts afresh,
 * 0 when the entry is kept.
 */
int
cache_forget(struct cache *c, const char *key, long long min_age_ms)
{
	struct entry	*e;
	unsigned int	 hv;
	int		 rc = 1;

	hv = hash(key);
	pthread_mutex_lock(&c->mtx);
	for (e = c->table[hv & (c->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == hv && strcmp(e->key, key) == 0)
			break;
	if (e != NULL && (e->pending || (e->forced &&
	    proc_now_ms() - e->filled < min_age_ms)))
		rc = 0;
	else {
		if (e != NULL) {
			unlink_entry(c, e);
			entry_free(e);
		}
		c->forgot[c->nforgot++ % (sizeof(c->forgot) /
		    sizeof(c->forgot[0]))] = hv;
	}
	pthread_mutex_unlock(&c->mtx);
	return rc;
}

/*
 * Give back what idles: documents not asked for lately, entries past
 * their TTL.  Called now and then (the main thread, every 30 s).
 */
void
cache_trim(struct cache *c)
{
	long long	 now = proc_now_ms();
	struct entry	*e, *prev;

	pthread_mutex_lock(&c->mtx);
	cool_down(c, now);
	for (e = TAILQ_LAST(&c->lru, entryq); e != NULL; e = prev) {
		prev = TAILQ_PREV(e, entryq, lru);
		if (!e->pending && e->expires <= now) {
			unlink_entry(c, e);
			entry_free(e);
		}
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
