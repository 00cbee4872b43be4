/*
 * Counters for GET /metrics (Prometheus text format 0.0.4).  Updated with
 * atomic operations from any thread; no locks on the request path.
 */
#ifndef METRICS_H
#define METRICS_H

struct app;
struct http;

enum metric_upstream {
	UP_POOL_NOT_FOUND = 0, UP_POOL_PRIVATE, UP_POOL_BLOCKED,
	UP_POOL_UNSUPPORTED, UP_POOL_TIMEOUT, UP_POOL_BUSY, UP_POOL_OTHER,
	UP_POOL_UNREADABLE,
	UP_CDN_STATUS, UP_CDN_TIMEOUT, UP_CDN_CONNECT, UP_CDN_CUT,
	UP_MAX
};

void	 metrics_request(const char *route, int status, double seconds);
void	 metrics_stream(int delta);
void	 metrics_bytes(unsigned long long);
void	 metrics_upstream(enum metric_upstream);
char	*metrics_text(struct app *);
void	 handle_metrics(struct app *, struct http *);

#endif /* METRICS_H */
