/* SPDX-License-Identifier: ISC */
/*
 * Budgets shared in Redis (limitdb.h).
 */
#include "config.h"

#include <sys/time.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "conf.h"
#include "limitdb.h"
#include "log.h"
#include "proc.h"
#include "redisconn.h"

#define CONNS		4	/* calls at once */
#define PAUSE_MIN_MS	1000	/* after a failure, Redis is left alone */
#define PAUSE_MAX_MS	30000	/* this long, doubling up to this */

/*
 * One window: counted, and given its life when it is new (or, should a
 * key ever lack one, then).  Returns the count and the milliseconds
 * left.
 */
static const char count_script[] =
    "local n = redis.call('INCR', KEYS[1]) "
    "local t = redis.call('PTTL', KEYS[1]) "
    "if t < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) "
    "t = tonumber(ARGV[1]) end "
    "return {n, t}";

struct conn {
	pthread_mutex_t	 mtx;
	redisContext	*ctx;
};

struct limitdb {
	const struct conf	*conf;
	char			 where[300];	/* no password */
	struct conn		 conns[CONNS];
	unsigned		 next;		/* __atomic: a first pick */
	/* __atomic, all of them: */
	int			 up;
	int			 trying;	/* one call tries after a pause */
	long long		 retry_at;	/* none before */
	long long		 pause;
	long long		 down_since;
	unsigned long		 counted, alone, errors;
};

#define LOAD(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define BUMP(x)		__atomic_add_fetch(&(x), 1, __ATOMIC_RELAXED)

/*
 * Make the client for Redis (it connects when first used).  The
 * configuration must outlive it.  NULL when memory is short.
 */
struct limitdb *
limitdb_new(const struct conf *c)
{
	struct limitdb	*db;
	int		 i;

	if ((db = calloc(1, sizeof(*db))) == NULL)
		return NULL;
	db->conf = c;
	if (c->redis_socket != NULL)
		snprintf(db->where, sizeof(db->where), "%s", c->redis_socket);
	else
		snprintf(db->where, sizeof(db->where), "%s:%d", c->redis_host,
		    c->redis_port);
	for (i = 0; i < CONNS; i++)
		pthread_mutex_init(&db->conns[i].mtx, NULL);
	db->pause = PAUSE_MIN_MS;
	return db;
}

void
limitdb_free(struct limitdb *db)
{
	int	 i;

	if (db == NULL)
		return;
	for (i = 0; i < CONNS; i++) {
		if (db->conns[i].ctx != NULL)
			redisFree(db->conns[i].ctx);
		pthread_mutex_destroy(&db->conns[i].mtx);
	}
	free(db);
}

/*
 * A call failed: the connection is dropped (a reply may be half read),
 * Redis is left alone for a pause that doubles, and the first failure
 * of an outage is logged.
 */
static void
failed(struct limitdb *db, struct conn *cn, const char *why)
{
	long long	 now = proc_now_ms(), pause = LOAD(db->pause), zero = 0;
	char		 text[160];

	snprintf(text, sizeof(text), "%s", why);	/* may be in ctx */
	if (cn->ctx != NULL)
		redisFree(cn->ctx);
	cn->ctx = NULL;
	BUMP(db->errors);
	STORE(db->up, 0);
	if (__atomic_compare_exchange_n(&db->down_since, &zero, now, 0,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		log_warnx("redis %s: %s: rate limits are counted by this "
		    "instance alone until it is back", db->where, text);
	STORE(db->retry_at, now + pause);
	STORE(db->pause, pause * 2 > PAUSE_MAX_MS ? PAUSE_MAX_MS : pause * 2);
}

/* Connected (or connected now)?  0, or -1 (failed() was called). */
static int
connect_one(struct limitdb *db, struct conn *cn)
{
	char	 why[160];

	if (cn->ctx != NULL)
		return 0;
	if ((cn->ctx = redisconn_open(db->conf, why, sizeof(why))) == NULL) {
		failed(db, cn, why);
		return -1;
	}
	return 0;
}

/*
 * A connection for this call, locked: a free one, else the first pick
 * as soon as it is free, within REDIS_TIMEOUT.  NULL when none came.
 */
static struct conn *
take(struct limitdb *db)
{
	unsigned	 first = __atomic_fetch_add(&db->next, 1,
			    __ATOMIC_RELAXED) % CONNS, i;
	struct timespec	 until;
	long long	 ns;

	for (i = 0; i < CONNS; i++)
		if (pthread_mutex_trylock(&db->conns[(first + i) %
		    CONNS].mtx) == 0)
			return &db->conns[(first + i) % CONNS];
	clock_gettime(CLOCK_REALTIME, &until);
	ns = until.tv_nsec + (long long)db->conf->redis_timeout_ms * 1000000;
	until.tv_sec += ns / 1000000000;
	until.tv_nsec = ns % 1000000000;
	if (pthread_mutex_timedlock(&db->conns[first].mtx, &until) != 0)
		return NULL;
	return &db->conns[first];
}

/*
 * Count one request in the fleet's window key (w_s seconds long).
 * Returns 0 with the window's count (this request included) and the
 * milliseconds until it ends, or -1 when Redis cannot count it now (down,
 * pausing after a failure, or every connection busy past REDIS_TIMEOUT):
 * the caller counts alone.
 */
int
limitdb_count(struct limitdb *db, const char *key, int w_s,
    long long *count, long long *reset_ms)
{
	struct conn	*cn;
	redisReply	*r;
	int		 rc = -1, trying = 0;

	if (LOAD(db->down_since) != 0) {
		/* Down: after the pause, one call tries again. */
		if (proc_now_ms() < LOAD(db->retry_at) ||
		    __atomic_exchange_n(&db->trying, 1, __ATOMIC_ACQUIRE))
			goto alone;
		trying = 1;
	}
	if ((cn = take(db)) == NULL)
		goto alone;
	if (connect_one(db, cn) == -1) {
		pthread_mutex_unlock(&cn->mtx);
		goto alone;
	}
	r = redisCommand(cn->ctx, "EVAL %s 1 %s %lld", count_script, key,
	    w_s * 1000LL);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->type == REDIS_REPLY_INTEGER) {
		*count = r->element[0]->integer;
		*reset_ms = r->element[1]->integer;
		rc = 0;
	} else
		failed(db, cn, r != NULL && r->type == REDIS_REPLY_ERROR ?
		    r->str : r != NULL ? "an unexpected answer" :
		    cn->ctx->errstr[0] != '\0' ? cn->ctx->errstr : "no answer");
	freeReplyObject(r);
	pthread_mutex_unlock(&cn->mtx);
	if (rc == 0) {
		BUMP(db->counted);
		STORE(db->up, 1);
		STORE(db->pause, PAUSE_MIN_MS);
		if (__atomic_exchange_n(&db->down_since, 0, __ATOMIC_RELAXED) !=
		    0)
			log_info("redis %s: back: rate limits are shared by "
			    "the fleet again", db->where);
	}
	if (trying)
		__atomic_store_n(&db->trying, 0, __ATOMIC_RELEASE);
	if (rc == 0)
		return 0;
alone:
	BUMP(db->alone);
	return -1;
}

void
limitdb_stats(struct limitdb *db, struct limitdb_stats *st)
{
	long long	 since = LOAD(db->down_since);

	st->up = LOAD(db->up);
	st->down_ms = since != 0 ? proc_now_ms() - since : 0;
	st->counted = LOAD(db->counted);
	st->alone = LOAD(db->alone);
	st->errors = LOAD(db->errors);
}
