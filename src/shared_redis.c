/*
 * The shared cache's talk with Redis (shared_impl.h): connecting (with
 * AUTH and SELECT), every command bounded by REDIS_TIMEOUT, and what a
 * failure does: the connection dropped, said once, retried after a pause
 * that doubles.  Run by the shared cache's thread only.
 */
#include "config.h"

#include <sys/time.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/rand.h>

#include "conf.h"
#include "log.h"
#include "proc.h"
#include "shared_impl.h"

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
	const struct conf	*c = sh->conf;
	struct timeval		 tv;
	redisReply		*r;

	if (sh->ctx != NULL)
		return 1;
	if (proc_now_ms() < sh->retry_at)
		return 0;
	tv.tv_sec = c->redis_timeout_ms / 1000;
	tv.tv_usec = (c->redis_timeout_ms % 1000) * 1000;
	sh->ctx = c->redis_socket != NULL ?
	    redisConnectUnixWithTimeout(c->redis_socket, tv) :
	    redisConnectWithTimeout(c->redis_host, c->redis_port, tv);
	if (sh->ctx == NULL || sh->ctx->err) {
		down(sh, sh->ctx != NULL ? sh->ctx->errstr : "out of memory");
		return 0;
	}
	if (redisSetTimeout(sh->ctx, tv) != REDIS_OK) {
		down(sh, "cannot set a timeout");
		return 0;
	}
	if (c->redis_password != NULL) {
		if ((r = shared_cmd(sh, "AUTH %s", c->redis_password)) == NULL)
			return 0;
		freeReplyObject(r);
	}
	if (c->redis_db != 0) {
		if ((r = shared_cmd(sh, "SELECT %d", c->redis_db)) == NULL)
			return 0;
		freeReplyObject(r);
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

/* The entry of j's post, parsed; NULL when there is none.  *failed: the
 * call failed. */
struct json_object *
shared_entry(struct shared *sh, struct job *j, int *failed)
{
	struct json_tokener	*jt;
	struct json_object	*o = NULL;
	redisReply		*r;

	*failed = 0;
	if ((r = shared_cmd(sh, "GET tiktok-fcgi:post:%s", j->key)) == NULL) {
		*failed = 1;
		return NULL;
	}
	if (r->type == REDIS_REPLY_STRING && r->len < (size_t)INT32_MAX &&
	    (jt = json_tokener_new_ex(64)) != NULL) {
		o = json_tokener_parse_ex(jt, r->str, (int)r->len);
		if (json_tokener_get_error(jt) != json_tokener_success ||
		    !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			o = NULL;
		}
		json_tokener_free(jt);
	}
	freeReplyObject(r);
	return o;
}

/*
 * Take the post's lock.  1: ours (extract); 0: another instance holds
 * it; -1: the call failed.
 */
int
shared_lock(struct shared *sh, struct job *j)
{
	unsigned char	 rnd[16];
	redisReply	*r;
	int		 i, got;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	for (i = 0; i < 16; i++)
		snprintf(j->token + 2 * i, 3, "%02x", rnd[i]);
	if ((r = shared_cmd(sh, "SET tiktok-fcgi:lock:%s %s NX PX %lld", j->key,
	    j->token, sh->lock_ms)) == NULL) {
		j->token[0] = '\0';
		return -1;
	}
	got = r->type == REDIS_REPLY_STATUS;
	freeReplyObject(r);
	if (!got)
		j->token[0] = '\0';
	return got;
}

/* Let go of j's lock, if it holds one (only if it is still j's). */
void
shared_unlock(struct shared *sh, struct job *j)
{
	redisReply	*r;

	if (j->token[0] == '\0')
		return;
	if ((r = shared_cmd(sh, "EVAL %s 1 tiktok-fcgi:lock:%s %s",
	    unlock_script, j->key, j->token)) != NULL)
		freeReplyObject(r);
	j->token[0] = '\0';
}
