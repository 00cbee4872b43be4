/* SPDX-License-Identifier: ISC */
/*
 * A connection to REDIS_URL's Redis, ready for commands: the one way the
 * shared cache (shared_redis.c) and the fleet's budgets (limitdb.c)
 * connect.  A leaf of the base layer.
 */
#ifndef REDISCONN_H
#define REDISCONN_H

#include <stddef.h>

#include <hiredis/hiredis.h>

struct conf;

redisContext	*redisconn_open(const struct conf *, char *, size_t);

#endif /* REDISCONN_H */
