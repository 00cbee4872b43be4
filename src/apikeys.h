/* SPDX-License-Identifier: ISC */
/*
 * API keys (API_KEYS_FILE): one key a line, "KEY [name=NAME]
 * [limit=N/SECONDS] [media=N/SECONDS]", "#" comments.  A key is kept as
 * its SHA-256 only and found by comparing digests in constant time over
 * every key; its name stands for it in logs.  Each key has its own
 * windows (limit.h) for POST /tiktok and for the media routes.
 *
 * Services: used by the admission of requests (admit.c), which swaps in
 * a new set at SIGHUP; a set is counted (apikeys_hold, apikeys_drop)
 * so that requests holding the old one finish with it.
 */
#ifndef APIKEYS_H
#define APIKEYS_H

#include <stddef.h>

#include "limit.h"

#define APIKEY_NAME_MAX	64

struct apikey;
struct apikeys;

struct apikeys	*apikeys_load(const char *file, char *err, size_t errsz);
void		 apikeys_carry(struct apikeys *to, struct apikeys *from);
void		 apikeys_hold(struct apikeys *);
void		 apikeys_drop(struct apikeys *);
size_t		 apikeys_count(const struct apikeys *);
struct apikey	*apikeys_find(struct apikeys *, const char *key);
const char	*apikeys_name(const struct apikey *);
const char	*apikeys_id(const struct apikey *);
int		 apikeys_rate(const struct apikey *, enum limit_class,
		    const struct limit_rate *dflt, struct limit_rate *);
void		 apikeys_hit(struct apikey *, enum limit_class,
		    const struct limit_rate *, long long now_ms,
		    struct limit_verdict *);
void		 apikeys_set(struct apikey *, enum limit_class,
		    unsigned count, long long start_ms);

#endif /* APIKEYS_H */
