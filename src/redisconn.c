/* SPDX-License-Identifier: ISC */
/*
 * Connecting to Redis (redisconn.h).
 */
#include "config.h"

#include <sys/time.h>

#include <stdio.h>

#include <hiredis/hiredis.h>

#include "conf.h"
#include "redisconn.h"

/*
 * Connect to c's Redis within REDIS_TIMEOUT, every later call bounded by
 * it too, then AUTH and SELECT as REDIS_URL says.  Returns the context
 * (the caller frees it with redisFree), or NULL with why in err.
 */
redisContext *
redisconn_open(const struct conf *c, char *err, size_t errsz)
{
	struct timeval	 tv;
	redisContext	*ctx;
	redisReply	*r = NULL;
	int		 ok = 1;

	tv.tv_sec = c->redis_timeout_ms / 1000;
	tv.tv_usec = (c->redis_timeout_ms % 1000) * 1000;
	ctx = c->redis_socket != NULL ?
	    redisConnectUnixWithTimeout(c->redis_socket, tv) :
	    redisConnectWithTimeout(c->redis_host, c->redis_port, tv);
	if (ctx == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	if (ctx->err || redisSetTimeout(ctx, tv) != REDIS_OK) {
		snprintf(err, errsz, "%s", ctx->err ? ctx->errstr :
		    "cannot set a timeout");
		redisFree(ctx);
		return NULL;
	}
	if (c->redis_password != NULL)
		ok = (r = redisCommand(ctx, "AUTH %s", c->redis_password)) !=
		    NULL && r->type != REDIS_REPLY_ERROR;
	if (ok && c->redis_db != 0) {
		freeReplyObject(r);
		ok = (r = redisCommand(ctx, "SELECT %d", c->redis_db)) !=
		    NULL && r->type != REDIS_REPLY_ERROR;
	}
	if (!ok) {
		snprintf(err, errsz, "%s", r != NULL ? r->str :
		    ctx->errstr[0] != '\0' ? ctx->errstr : "no answer");
		freeReplyObject(r);
		redisFree(ctx);
		return NULL;
	}
	freeReplyObject(r);
	return ctx;
}
