/*
 * Outbound HTTP with libcurl, safe by default: http/https only, bounded
 * redirects (each hop re-checked), no loopback/private/link-local
 * addresses after DNS resolution (unless allowed for tests), connect and
 * stall timeouts, a proxy of OUTBOUND_PROXY (egress.h) and the CA file.  One easy handle per
 * request, DNS and TLS sessions shared.
 *
 * Used by /stream and /download, the renders and the post lookup.
 */
#ifndef FETCH_H
#define FETCH_H

#include <curl/curl.h>

struct conf;
struct egress;
struct sockaddr;

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
};

int	 fetch_init(const struct conf *);
int	 fetch_many(const struct egress *, struct fetch_file *, int n,
	    long long deadline_ms, int (*gone)(void *), void *arg);
void	 fetch_watch(CURL *, struct fetch_watch *, int (*gone)(void *),
	    void *);
void	 fetch_cleanup(void);
CURL	*fetch_handle(const struct egress *);
int	 fetch_setup(CURL *, const struct egress *);
int	 fetch_addr_public(const struct sockaddr *);
int	 fetch_blocked(CURL *);
char	*fetch_final_url(const char *url, int timeout_s);

#endif /* FETCH_H */
