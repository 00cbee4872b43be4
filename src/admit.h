/* SPDX-License-Identifier: ISC */
/*
 * Admission: who a request comes from (client.h: REMOTE_ADDR, or behind
 * TRUSTED_PROXIES the forwarded address), which API key it carries
 * (apikeys.h), and whether its budget allows it (limit.h, shared by the
 * fleet through limitdb.h).  POST /tiktok counts against RATE_LIMIT,
 * the media routes (/stream, /download, /download-slideshow,
 * /download-audio) against RATE_LIMIT_MEDIA, per client or per key;
 * past it, 429 with Retry-After.  Every answer of a limited route says
 * its budget in the RateLimit-Policy and RateLimit fields of
 * draft-ietf-httpapi-ratelimit-headers.  An unknown key is 401, and so
 * is POST /tiktok without a key under API_KEYS_REQUIRED.
 *
 * Services: used by the router (before a route's handler), /health,
 * /metrics, and app.c (made at start, keys re-read at SIGHUP).
 * Thread-safe; a NULL admit admits everything.
 */
#ifndef ADMIT_H
#define ADMIT_H

#include <stddef.h>
#include <time.h>

#include "limit.h"

struct admit;
struct conf;
struct http;

struct admit_stats {
	struct limit_rate rate[LIMIT_CLASSES];	/* n 0: no limit */
	size_t		 clients[LIMIT_CLASSES];	/* slots holding one */
	size_t		 slots;		/* of each table */
	size_t		 bytes;		/* the tables' memory */
	int		 keys_on;	/* API_KEYS_FILE set */
	size_t		 keys;
	int		 required;	/* API_KEYS_REQUIRED */
	time_t		 keys_loaded;
	int		 shared;	/* REDIS_URL counts the budgets */
	int		 shared_up;
	long long	 down_ms;	/* Redis down this long, or 0 */
	unsigned long	 alone;		/* counted without Redis */
	unsigned long	 limited[LIMIT_CLASSES];	/* 429s */
};

int		 admit_check(const struct conf *, char *err, size_t errsz);
struct admit	*admit_new(const struct conf *, char *err, size_t errsz);
void		 admit_reload(struct admit *, const struct conf *);
void		 admit_free(struct admit *);
void		 admit_client(struct admit *, struct http *);
int		 admit_request(struct admit *, struct http *);
void		 admit_stats(struct admit *, struct admit_stats *);

#endif /* ADMIT_H */
