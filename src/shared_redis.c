/* SPDX-License-Identifier: ISC */
/*
 * The shared cache's talk with Redis (shared_impl.h): connecting
 * (redisconn.c, AUTH and SELECT too), every command bounded by
 * REDIS_TIMEOUT, and what a failure does: the connection dropped, said
 * once, retried after a pause that doubles.  Run by the shared cache's thread only.
 */
#include "config.h"

#include <sys/time.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "conf.h"
#include "log.h"
#include "proc.h"
#include "redisconn.h"
#include "shared_impl.h"

#define LOCK_SKEW_MS	5000	/* clocks of a fleet differ this much */

static const char unlock_script[] = "if redis.call('get', KEYS[1]) == "
    "ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/*
 * Redis failed: drop the connection, say so once (not again until it is
 * back), and try again after a pause that doubles.
 */
static void
down(struct shared *sh, const char *why)
{
	long long	 now = proc_now_ms();
	char		 text[160];

	snprintf(text, sizeof(text), "%s", why);	/* may be in ctx */
	why = text;
	if (sh->ctx != NULL)
		redisFree(sh->ctx);
	sh->ctx = NULL;
	pthread_mutex_lock(&sh->mtx);
	sh->st.errors++;
	if (sh->st.up || sh->st.down_ms == 0)
		log_warnx("redis %s: %s: extracting without the fleet until "
		    "it is back", sh->where, why);
	sh->st.up = 0;
	if (sh->st.down_ms == 0)
		sh->st.down_ms = now;
	pthread_mutex_unlock(&sh->mtx);
	sh->retry_at = now + sh->backoff;
	sh->backoff = sh->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    sh->backoff * 2;
}

/*
 * One command; NULL when it failed (then the connection is dropped: a
 * reply may be half read).  The caller frees the reply.
 */
redisReply *
shared_cmd(struct shared *sh, const char *fmt, ...)
{
	va_list		 ap;
	redisReply	*r;
	char		 why[160];

	if (sh->ctx == NULL)
		return NULL;
	va_start(ap, fmt);
	r = redisvCommand(sh->ctx, fmt, ap);
	va_end(ap);
	if (r != NULL && r->type != REDIS_REPLY_ERROR)
		return r;
	snprintf(why, sizeof(why), "%s", r != NULL ? r->str :
	    sh->ctx->errstr[0] != '\0' ? sh->ctx->errstr : "no answer");
	if (r != NULL)
		freeReplyObject(r);
	down(sh, why);
	return NULL;
}

/* Connected, or connected again when its pause is over?  1 or 0. */
int
shared_connected(struct shared *sh)
{
	redisReply	*r;
	char		 why[160];

	if (sh->ctx != NULL)
		return 1;
	if (proc_now_ms() < sh->retry_at)
		return 0;
	if ((sh->ctx = redisconn_open(sh->conf, why, sizeof(why))) == NULL) {
		down(sh, why);
		return 0;
	}
	if ((r = shared_cmd(sh, "PING")) == NULL)
		return 0;
	freeReplyObject(r);
	pthread_mutex_lock(&sh->mtx);
	if (sh->st.down_ms != 0)
		log_info("redis %s: connected: sharing extractions again",
		    sh->where);
	sh->st.up = 1;
	sh->st.down_ms = 0;
	pthread_mutex_unlock(&sh->mtx);
	sh->backoff = BACKOFF_MIN_MS;
	return 1;
}

/*
 * Somebody else wrote to Redis (an entry or a lock that is not ours):
 * ignored, and said at most once a minute.
 */
void
shared_foreign(struct shared *sh, const char *what, const char *key)
{
	long long	 now = proc_now_ms();

	if (sh->said_at != 0 && now - sh->said_at < 60000)
		return;
	sh->said_at = now;
	log_warnx("redis %s: %s for %s was not written by this fleet (another "
	    "ENCRYPTION_KEY, or another writer): ignored", sh->where, what,
	    key);
}

/*
 * The entry of j's post, opened and checked (shared_entry.c).  1: found
 * (*info a reference the caller owns, or NULL with *err the failure it
 * remembers); 0: none, or none of ours; -1: the call failed.
 */
int
shared_entry(struct shared *sh, struct job *j, struct json_object **info,
    enum fail *err)
{
	redisReply	*r;
	int		 rc = 0;

	*info = NULL;
	if ((r = shared_cmd(sh, "GET " SHARED_POST_PREFIX "%s", j->key)) ==
	    NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING) {
		rc = shared_open_entry(sh->entry_key, j->key, r->str, r->len,
		    (long long)time(NULL), info, err);
		if (rc == 0)
			shared_foreign(sh, "an entry", j->key);
	}
	freeReplyObject(r);
	return rc;
}

/* Wall-clock ms: a lock's value says when it dies, for every instance. */
static long long
wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Take the post's lock.  1: ours (extract); 0: another instance holds
 * it; -1: the call failed.
 */
int
shared_lock(struct shared *sh, struct job *j)
{
	redisReply	*r;
	int		 got;

	if (shared_lock_value(sh->lock_key, j->key, wall_ms() + sh->lock_ms,
	    j->token) == -1) {
		j->token[0] = '\0';
		return -1;
	}
	if ((r = shared_cmd(sh, "SET " SHARED_LOCK_PREFIX "%s %s NX PX %lld",
	    j->key, j->token, sh->lock_ms)) == NULL) {
		j->token[0] = '\0';
		return -1;
	}
	got = r->type == REDIS_REPLY_STATUS;
	freeReplyObject(r);
	if (!got)
		j->token[0] = '\0';
	return got;
}

/*
 * The lock on j's post that another holds: how many ms it has left; 0
 * when it is gone already; -1 when it is to be ignored (not one of ours,
 * or living longer than ours may), or the call failed.
 */
long long
shared_holder(struct shared *sh, struct job *j)
{
	redisReply	*r;
	long long	 left = 0;

	if ((r = shared_cmd(sh, "GET " SHARED_LOCK_PREFIX "%s", j->key)) ==
	    NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING) {
		left = shared_lock_left(sh->lock_key, j->key, r->str, r->len,
		    wall_ms(), sh->lock_ms + LOCK_SKEW_MS);
		if (left == -1)
			shared_foreign(sh, "a lock", j->key);
	}
	freeReplyObject(r);
	return left;
}

/* Let go of j's lock, if it holds one (only if it is still j's). */
void
shared_unlock(struct shared *sh, struct job *j)
{
	redisReply	*r;

	if (j->token[0] == '\0')
		return;
	if ((r = shared_cmd(sh, "EVAL %s 1 " SHARED_LOCK_PREFIX "%s %s",
	    unlock_script, j->key, j->token)) != NULL)
		freeReplyObject(r);
	j->token[0] = '\0';
}
