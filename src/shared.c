/* SPDX-License-Identifier: ISC */
/*
 * The fleet's shared metadata in Redis (shared.h).  One thread owns the
 * connection and runs every Redis call, each bounded by REDIS_TIMEOUT;
 * the cache's fill (any thread) and the pool's answers (its supervisor)
 * hand it jobs.  Nothing here blocks a request's thread.
 *
 * Keys: tiktok-fcgi:post:<post key> holds the info, sealed
 * (shared_entry.c), with a TTL; or, for MISSING_TTL, that TikTok says the
 * post is missing or private.  tiktok-fcgi:lock:<post key> is "SET NX
 * PX" by the instance extracting the post, released (only by its holder:
 * a compare-and-delete script) when the entry is stored or the
 * extraction failed, and expires by itself if that instance dies.  An
 * entry or a lock that is not the fleet's own is ignored.
 */
#include "config.h"

#include <sys/queue.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <openssl/crypto.h>

#include "conf.h"
#include "log.h"
#include "proc.h"
#include "shared_impl.h"
#include "token.h"

#define POLL_MS		100	/* a waiter looks for the entry this often */

static void	 job_free(struct job *);
static void	 extracted(void *, enum fail, struct json_object *,
		    const char *);

static void
bump(struct shared *sh, unsigned long *counter)
{
	pthread_mutex_lock(&sh->mtx);
	(*counter)++;
	pthread_mutex_unlock(&sh->mtx);
}

/* Give the thread a job. */
static void
enqueue(struct shared *sh, struct job *j)
{
	pthread_mutex_lock(&sh->mtx);
	TAILQ_INSERT_TAIL(&sh->queue, j, entry);
	pthread_cond_signal(&sh->cv);
	pthread_mutex_unlock(&sh->mtx);
}

/* Extract here, without Redis (it is down, or we waited long enough). */
static void
alone(struct shared *sh, struct job *j)
{
	log_debug("redis: %s: extracting without the fleet", j->key);
	bump(sh, &sh->st.alone);
	sh->extract(sh->extract_arg, j->url, extracted, j);
}

/* The entry is there: j's caller gets it (a post, or that it is
 * missing). */
static void
hit(struct shared *sh, struct job *j, enum fail err,
    struct json_object *info)
{
	log_debug("redis: %s: from the fleet%s", j->key, err == FAIL_OK ? "" :
	    " (missing)");
	bump(sh, &sh->st.hits);
	j->done(j->done_arg, err, info, err == FAIL_OK ? NULL :
	    "remembered by the fleet");
	job_free(j);
}

/*
 * The lock is ours: extract, unless the entry came in between our look
 * and our lock (its holder stored it and let go): then it is a hit (not
 * for a fresh extraction, which replaces the entry).
 */
static void
locked(struct shared *sh, struct job *j)
{
	struct json_object	*info;
	enum fail		 err;

	if (!j->fresh && shared_entry(sh, j, &info, &err) == 1) {
		shared_unlock(sh, j);
		hit(sh, j, err, info);
		return;
	}
	log_debug("redis: %s: extracting for the fleet", j->key);
	sh->extract(sh->extract_arg, j->url, extracted, j);
}

/*
 * One look for j's post: Redis's entry, or the lock (then we extract),
 * or, when another instance holds it, 0: j waits and looks again in
 * POLL_MS, no longer than that lock says it lives.  Redis failing, a
 * refreshed post (it does not wait for another's copy), a holder past
 * the lock's life (slow, or dead) and a lock that is not the fleet's
 * own all mean extracting alone.  Returns 1 when j is settled.
 */
static int
look(struct shared *sh, struct job *j)
{
	struct json_object	*info;
	enum fail		 err;
	long long		 left;
	int			 up, found = 0, rc = -1;

	up = shared_connected(sh);
	if (up && !j->fresh && (found = shared_entry(sh, j, &info, &err)) ==
	    1) {
		hit(sh, j, err, info);
		return 1;
	}
	if (up && found != -1 && (rc = shared_lock(sh, j)) == 1) {
		locked(sh, j);
		return 1;
	}
	if (rc == 0 && !j->fresh) {
		if ((left = shared_holder(sh, j)) == -1)
			rc = -1;
		else if (proc_now_ms() + left + POLL_MS < j->deadline_ms)
			j->deadline_ms = proc_now_ms() + left + POLL_MS;
	}
	if (rc == -1 || j->fresh || proc_now_ms() >= j->deadline_ms) {
		alone(sh, j);
		return 1;
	}
	j->next_ms = proc_now_ms() + POLL_MS;
	return 0;
}

/* A post the cache misses: a first look, then waits if need be. */
static void
run_fill(struct shared *sh, struct job *j)
{
	j->deadline_ms = proc_now_ms() + sh->lock_ms;
	if (look(sh, j))
		return;
	log_debug("redis: %s: another instance extracts it: waiting", j->key);
	bump(sh, &sh->st.waits);
	TAILQ_INSERT_TAIL(&sh->waiting, j, entry);
}

/* Store what we extracted, then let go of the lock. */
static void
run_store(struct shared *sh, struct job *j)
{
	redisReply	*r;

	if (j->kind == J_STORE && shared_connected(sh) && (r = shared_cmd(sh,
	    "SET " SHARED_POST_PREFIX "%s %b EX %d", j->key, j->value,
	    j->vlen, j->ttl)) != NULL) {
		freeReplyObject(r);
		bump(sh, &sh->st.stored);
	}
	if (shared_connected(sh))
		shared_unlock(sh, j);
	job_free(j);
}

/*
 * An extraction ended (the pool's thread): the caller is told at once;
 * the thread stores the entry (or lets go of the lock) behind it.
 */
static void
extracted(void *arg, enum fail err, struct json_object *info,
    const char *msg)
{
	struct job	*j = arg;
	struct shared	*sh = j->sh;
	cache_done_fn	 done = j->done;
	void		*done_arg = j->done_arg;
	long long	 now = (long long)time(NULL);

	j->kind = J_UNLOCK;
	j->ttl = 0;
	if (err == FAIL_OK)
		j->ttl = shared_entry_ttl(info, sh->ttl, now);
	else if (err == FAIL_NOT_FOUND || err == FAIL_PRIVATE)
		j->ttl = sh->missing_ttl;
	if (j->ttl > 0 && (j->value = shared_seal_entry(sh->entry_key, j->key,
	    err, info, now + j->ttl, &j->vlen)) != NULL)
		j->kind = J_STORE;
	if (j->kind == J_STORE || j->token[0] != '\0')
		enqueue(sh, j);
	else
		job_free(j);
	done(done_arg, err, info, msg);
}

/*
 * How long the thread may sleep (ms), with nothing queued: until the next
 * look of a waiting job, or, Redis being down, its next try; -1: until
 * something is queued.  Called with the lock held.
 */
static long long
idle_ms(struct shared *sh)
{
	struct job	*j;
	long long	 now = proc_now_ms(), due = -1;

	if ((j = TAILQ_FIRST(&sh->waiting)) != NULL)
		due = j->next_ms - now;
	if (sh->ctx == NULL && sh->st.down_ms != 0 &&
	    (due == -1 || sh->retry_at - now < due))
		due = sh->retry_at - now;
	return due == -1 ? -1 : due < 0 ? 0 : due;
}

static void *
run(void *arg)
{
	struct shared	*sh = arg;
	struct jobq	 todo;
	struct job	*j, *next;
	struct timespec	 ts;
	long long	 due;

	TAILQ_INIT(&todo);
	pthread_mutex_lock(&sh->mtx);
	while (!sh->stopping) {
		if (TAILQ_EMPTY(&sh->queue) && (due = idle_ms(sh)) == -1)
			pthread_cond_wait(&sh->cv, &sh->mtx);
		else if (TAILQ_EMPTY(&sh->queue) && due > 0) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += due / 1000;
			ts.tv_nsec += (due % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&sh->cv, &sh->mtx, &ts);
		}
		/* Redis down: the thread looks whether it is back, requests
		 * or not (the pause between tries is short: shared_redis.c). */
		if (sh->ctx == NULL && sh->st.down_ms != 0 && !sh->stopping &&
		    proc_now_ms() >= sh->retry_at) {
			pthread_mutex_unlock(&sh->mtx);
			shared_connected(sh);
			pthread_mutex_lock(&sh->mtx);
		}
		TAILQ_CONCAT(&todo, &sh->queue, entry);
		pthread_mutex_unlock(&sh->mtx);
		while ((j = TAILQ_FIRST(&todo)) != NULL) {
			TAILQ_REMOVE(&todo, j, entry);
			if (j->kind == J_FILL)
				run_fill(sh, j);
			else
				run_store(sh, j);
		}
		/* Waiting jobs are in the order of their next look. */
		for (j = TAILQ_FIRST(&sh->waiting); j != NULL; j = next) {
			next = TAILQ_NEXT(j, entry);
			if (j->next_ms > proc_now_ms())
				break;
			TAILQ_REMOVE(&sh->waiting, j, entry);
			if (!look(sh, j))
				TAILQ_INSERT_TAIL(&sh->waiting, j, entry);
		}
		pthread_mutex_lock(&sh->mtx);
	}
	/* Stopping: entries still to store and locks still held are dealt
	 * with (each call bounded); posts still wanted are answered by
	 * shared_free. */
	TAILQ_CONCAT(&todo, &sh->queue, entry);
	pthread_mutex_unlock(&sh->mtx);
	while ((j = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, j, entry);
		if (j->kind == J_FILL)
			TAILQ_INSERT_TAIL(&sh->waiting, j, entry);
		else
			run_store(sh, j);
	}
	return NULL;
}

static void
job_free(struct job *j)
{
	free(j->key);
	free(j->url);
	free(j->value);
	free(j);
}

/* The cache's fill function (cache_fill_fn) when REDIS_URL is set. */
void
shared_fill(void *arg, const char *key, const char *url, int fresh,
    cache_done_fn done, void *done_arg)
{
	struct shared	*sh = arg;
	struct job	*j;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->key = strdup(key)) == NULL || (j->url = strdup(url)) == NULL) {
		if (j != NULL)
			job_free(j);
		done(done_arg, FAIL_OTHER, NULL, "out of memory");
		return;
	}
	j->kind = J_FILL;
	j->sh = sh;
	j->fresh = fresh;
	j->done = done;
	j->done_arg = done_arg;
	enqueue(sh, j);
}

/*
 * Connect to Redis (within REDIS_TIMEOUT: /health says "up" or "down"
 * from the first request on), then start the thread that talks to it.
 * Its entries are sealed, and its locks signed, with keys derived from
 * t's (ENCRYPTION_KEY): only instances with the same key share.  NULL
 * on failure.
 */
struct shared *
shared_new(const struct conf *c, const struct token *t,
    shared_extract_fn extract, void *extract_arg)
{
	struct shared	*sh;

	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		return NULL;
	sh->conf = c;
	if (c->redis_socket != NULL)
		snprintf(sh->where, sizeof(sh->where), "%s", c->redis_socket);
	else
		snprintf(sh->where, sizeof(sh->where), "%s:%d",
		    c->redis_host, c->redis_port);
	sh->ttl = c->cache_ttl;
	sh->missing_ttl = c->missing_ttl;
	token_subkey(t, "tiktok-fcgi redis entries", sh->entry_key);
	token_subkey(t, "tiktok-fcgi redis locks", sh->lock_key);
	/* An extraction may wait in the queue and be tried on two egresses;
	 * a lock whose holder died expires by itself after this. */
	sh->lock_ms = (2LL * c->ytdlp_timeout + 10) * 1000;
	sh->extract = extract;
	sh->extract_arg = extract_arg;
	sh->backoff = BACKOFF_MIN_MS;
	TAILQ_INIT(&sh->queue);
	TAILQ_INIT(&sh->waiting);
	pthread_mutex_init(&sh->mtx, NULL);
	pthread_cond_init(&sh->cv, NULL);
	shared_connected(sh);
	if (pthread_create(&sh->thread, NULL, run, sh) != 0) {
		pthread_mutex_destroy(&sh->mtx);
		pthread_cond_destroy(&sh->cv);
		free(sh);
		return NULL;
	}
	return sh;
}

void
shared_stats(struct shared *sh, struct shared_stats *st)
{
	pthread_mutex_lock(&sh->mtx);
	*st = sh->st;
	pthread_mutex_unlock(&sh->mtx);
	if (st->down_ms != 0)
		st->down_ms = proc_now_ms() - st->down_ms;
}

/*
 * Stop the thread, once it has stored what is to be stored and let go
 * of its locks.  Posts still waiting are answered "shutting down".
 * Called after the pool stopped (nothing hands us jobs any more).
 */
void
shared_free(struct shared *sh)
{
	struct job	*j;

	if (sh == NULL)
		return;
	pthread_mutex_lock(&sh->mtx);
	sh->stopping = 1;
	pthread_cond_signal(&sh->cv);
	pthread_mutex_unlock(&sh->mtx);
	pthread_join(sh->thread, NULL);
	while ((j = TAILQ_FIRST(&sh->waiting)) != NULL) {
		TAILQ_REMOVE(&sh->waiting, j, entry);
		if (j->kind == J_FILL)
			j->done(j->done_arg, FAIL_BUSY, NULL, "shutting down");
		job_free(j);
	}
	if (sh->ctx != NULL)
		redisFree(sh->ctx);
	OPENSSL_cleanse(sh->entry_key, sizeof(sh->entry_key));
	OPENSSL_cleanse(sh->lock_key, sizeof(sh->lock_key));
	pthread_mutex_destroy(&sh->mtx);
	pthread_cond_destroy(&sh->cv);
	free(sh);
}
