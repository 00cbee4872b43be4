/* SPDX-License-Identifier: ISC */
/*
 * Counters every layer may feed (atomic, no lock), for GET /metrics.  A
 * leaf: it includes nothing of ours, and knows nobody who feeds it.
 */
#ifndef COUNTERS_H
#define COUNTERS_H

#include <stdio.h>

enum counter_upstream {
	UP_NONE = 0,		/* not an upstream's failure: not counted */
	UP_POOL_NOT_FOUND, UP_POOL_PRIVATE, UP_POOL_BLOCKED,
	UP_POOL_UNSUPPORTED, UP_POOL_TIMEOUT, UP_POOL_BUSY, UP_POOL_OTHER,
	UP_POOL_UNREADABLE, UP_POOL_UNREACHABLE,
	UP_CDN_STATUS, UP_CDN_TIMEOUT, UP_CDN_CONNECT, UP_CDN_CUT,
	UP_MAX
};

void	 counters_request(const char *route, int status, double seconds);
void	 counters_stream(int delta);
void	 counters_bytes(unsigned long long);
void	 counters_upstream(enum counter_upstream);
void	 counters_limited(const char *route);
void	 counters_write(FILE *);
void	 counters_one(FILE *, const char *name, const char *type,
	    const char *help, unsigned long long value);

#endif /* COUNTERS_H */
