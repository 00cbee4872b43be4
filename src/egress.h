/* SPDX-License-Identifier: ISC */
/*
 * Egress: the ways out to TikTok, one per OUTBOUND_PROXY entry (a
 * comma-separated list of http, https, socks4, socks4a, socks5 and
 * socks5h proxies), or the machine's own address when the list is empty.
 * Extractions take turns over them; one that TikTok refuses (HTTP 403 or
 * 429: a blocked address; or failing every post while the others
 * succeed) rests, EGRESS_REST seconds the first time and twice as long
 * each time it is refused again, while the others carry the load.  A
 * success ends its back-off.  Each egress has an id that extracted posts
 * and download tokens carry, so that a post's CDN URLs are fetched
 * through the address that extracted them: a MAC of its URL under a key
 * derived from ENCRYPTION_KEY, the same on every instance with the same
 * list and key, and no help to whoever would guess a proxy's password
 * (the id is shown in /health and /metrics).
 *
 * Base: made and reloaded by the app (conf.c checks the list); used by
 * the pool (which egress extracts; the id it puts in the post's info,
 * which shape.c copies into tokens), fetch (which proxy a transfer
 * uses), the download and render handlers (the egress a token or an
 * info names: egress_find), /health and /metrics.  Thread-safe.
 */
#ifndef EGRESS_H
#define EGRESS_H

#include <stddef.h>

struct egress;

/* What an extraction through an egress came to: a success; TikTok's
 * 403/429; or another failure (a missing, private or unreadable post),
 * which, when it is all an egress gets while others succeed, is TikTok
 * refusing that address too. */
enum egress_outcome { EGRESS_OK, EGRESS_BLOCKED, EGRESS_FAILED };

struct egress_stats {
	char		 id[17];
	char		 shown[256];	/* its URL without credentials */
	int		 resting;
	long long	 back_in_ms;	/* until it is tried again */
	unsigned long	 successes;
	unsigned long	 blocks;
};

int			 egress_check(const char *list, char *err,
			    size_t errsz);
int			 egress_init(const char *list, int rest_s,
			    const unsigned char key[32]);
int			 egress_reload(const char *list, int rest_s);
void			 egress_free(void);
int			 egress_count(void);
const struct egress	*egress_pick(const struct egress *avoid);
const struct egress	*egress_find(const char *id);
const char		*egress_url(const struct egress *);
const char		*egress_id(const struct egress *);
void			 egress_note(const struct egress *,
			    enum egress_outcome);
int			 egress_stats(int i, struct egress_stats *);

#endif /* EGRESS_H */
