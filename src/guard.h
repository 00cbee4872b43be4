/* SPDX-License-Identifier: ISC */
/*
 * The address guard: what an outbound fetch may ask for.  Decided before
 * anything is connected, from the URL alone (address literals must be
 * public, names must be in the CDN domains), so that it holds whatever
 * the way out is; and, for direct connections, again at connect time on
 * the address really used (guard_addr_public).
 *
 * Base: used by fetch.c, the tests and the fuzz targets.
 */
#ifndef GUARD_H
#define GUARD_H

struct sockaddr;

int	 guard_addr_public(const struct sockaddr *);
int	 guard_host(const char *host, const char *domains, int allow_private);
int	 guard_target(const char *url, const char *domains,
	    int allow_private);

#endif /* GUARD_H */
