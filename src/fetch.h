/* SPDX-License-Identifier: ISC */
/*
 * Outbound HTTP with libcurl, safe by default: http/https only, bounded
 * redirects, the address guard (guard.h) on the URL and on every
 * redirect hop before anything is connected, and on the address really
 * connected to when there is no proxy; connect and stall timeouts; the
 * egress (a proxy of OUTBOUND_PROXY, egress.h) and the CA certificates,
 * loaded once.  Handles are kept between requests with their connections
 * (fetch_take, fetch_give), DNS answers and TLS sessions shared.
 *
 * Used by /stream and /download, the renders and the post lookup.
 */
#ifndef FETCH_H
#define FETCH_H

#include <curl/curl.h>

struct conf;
struct egress;
struct fetch_conn;

/* A stall watchdog for one transfer (see fetch_watch). */
struct fetch_watch {
	long long	 last_ms;	/* when bytes last moved */
	curl_off_t	 last_bytes;
	int		 stalled;	/* set when it gave up */
	int		 (*gone)(void *);	/* has the client left? */
	void		*gone_arg;
	long long	 asked_ms;	/* when gone() was last asked */
	int		 left;		/* set when the client had left */
};

/* The redirect watch of one transfer (see fetch_headers). */
struct fetch_hops {
	CURL		*curl;
	long		 status;	/* of the latest response */
	int		 refused;	/* a hop the guard refused */
	size_t		 (*fn)(char *, size_t, size_t, void *);
	void		*arg;
};

/* One file of a fetch_many() batch. */
struct fetch_file {
	const char		*url;
	struct curl_slist	*headers;	/* request headers, or NULL */
	int			 fd;		/* written from offset 0 */
	long long		*budget;	/* bytes the batch may still
						 * write, shared; NULL: any */
	long			 status;	/* the answer's */
	CURLcode		 result;
	int			 toobig;	/* stopped: past the budget */
	int			 werr;		/* errno of a failed write */
	struct fetch_conn	*conn;		/* fetch_many's own */
	struct fetch_hops	 hops;
	int			 added;
};

int	 fetch_init(const struct conf *);
void	 fetch_cleanup(void);
struct fetch_conn *fetch_take(const struct egress *, const char *url);
CURL	*fetch_curl(struct fetch_conn *);
void	 fetch_give(struct fetch_conn *);
void	 fetch_trim(void);
int	 fetch_url(struct fetch_conn *, const char *url);
CURLcode fetch_headers(struct fetch_conn *, struct fetch_hops *,
	    size_t (*)(char *, size_t, size_t, void *), void *);
CURLcode fetch_watch(CURL *, struct fetch_watch *, int (*gone)(void *),
	    void *);
int	 fetch_many(const struct egress *, struct fetch_file *, int n,
	    long long deadline_ms, int (*gone)(void *), void *arg);
int	 fetch_blocked(void);
long	 fetch_proxy_refused(struct fetch_conn *);

#endif /* FETCH_H */
