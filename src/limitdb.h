/* SPDX-License-Identifier: ISC */
/*
 * The fleet's budgets in Redis (REDIS_URL): one counter per client and
 * window, "tiktok-fcgi:rl:CLASS:SECONDS:CLIENT", counted and given its
 * expiry by one small script (INCR, and PEXPIRE when new), so every
 * instance counts into the same window.  Each call is bounded by
 * REDIS_TIMEOUT and made on the request's thread over one of a few
 * connections (none is shared by two calls at once).  When Redis fails,
 * it is left alone for a pause that doubles (1 s to 30 s), and the
 * caller counts alone meanwhile: limitdb_count says -1.
 *
 * Services: used by the admission of requests (admit.c).  Thread-safe.
 */
#ifndef LIMITDB_H
#define LIMITDB_H

struct conf;
struct limitdb;

struct limitdb_stats {
	int		 up;		/* the last call worked */
	long long	 down_ms;	/* for how long it has not, or 0 */
	unsigned long	 counted;	/* requests counted in Redis */
	unsigned long	 alone;		/* requests counted without it */
	unsigned long	 errors;	/* calls that failed */
};

struct limitdb	*limitdb_new(const struct conf *);
void		 limitdb_free(struct limitdb *);
int		 limitdb_count(struct limitdb *, const char *key, int w_s,
		    long long *count, long long *reset_ms);
void		 limitdb_stats(struct limitdb *, struct limitdb_stats *);

#endif /* LIMITDB_H */
