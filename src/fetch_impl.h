/* SPDX-License-Identifier: ISC */
/*
 * What fetch.c and fetch_pool.c share, and nobody else sees.
 */
#ifndef FETCH_IMPL_H
#define FETCH_IMPL_H

#include <curl/curl.h>

struct egress;

/*
 * An easy handle and what it last spoke to.  Its connections (and their
 * TLS state) stay open in it between requests: a request that finds a
 * handle that spoke to the same origin the same way skips the proxy
 * tunnel, the TCP and the TLS handshake.
 */
struct fetch_conn {
	CURL			*curl;
	const struct egress	*e;
	char			 origin[128];	/* scheme://host:port */
	long long		 since;		/* idle since (ms) */
};

int	 fetch_setup(CURL *, const struct egress *);
void	 fetch_pool_clear(void);

#endif /* FETCH_IMPL_H */
