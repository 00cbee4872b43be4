/* SPDX-License-Identifier: ISC */
/*
 * Request budgets in fixed windows: N requests per SECONDS, the window
 * starting at a client's first request.  A table holds one window per
 * client in a fixed amount of memory (RATE_LIMIT_CLIENTS slots, made
 * once): a client looked up finds its slot in a bucket of eight, else
 * takes a free or finished one there, else the one with the fewest
 * requests (forgetting a window of one request gives away one); so a
 * million clients cost what a thousand do, and a client pushed out
 * starts a fresh window.  Buckets are guarded by striped
 * locks, each held for a look at eight slots: no lock spans the table.
 *
 * Base (a leaf): used by conf.c (checking N/SECONDS), the API keys
 * (their own windows) and the admission of requests (admit.c).
 */
#ifndef LIMIT_H
#define LIMIT_H

#include <stddef.h>
#include <stdint.h>

/* The budgets a client has: POST /tiktok's, and the media routes'. */
enum limit_class { LIMIT_API, LIMIT_MEDIA, LIMIT_CLASSES };

/* A budget: n requests per w seconds; n 0 means none (no limit). */
struct limit_rate {
	int	 n;
	int	 w;
};

/* What counting one request came to. */
struct limit_verdict {
	int		 allowed;	/* within the budget */
	int		 remaining;	/* requests left in the window */
	long long	 reset_ms;	/* until the window ends */
};

/* One client's window, where the caller keeps it (under its lock). */
struct limit_window {
	long long	 start_ms;	/* 0: none yet */
	unsigned	 count;
};

struct limit_table;

int	 limit_rate_parse(const char *, struct limit_rate *, char *why,
	    size_t whysz);
void	 limit_window_hit(struct limit_window *, const struct limit_rate *,
	    long long now_ms, struct limit_verdict *);
void	 limit_window_verdict(long long count, long long reset_ms,
	    const struct limit_rate *, struct limit_verdict *);

struct limit_table *limit_table_new(size_t slots);
void	 limit_table_free(struct limit_table *);
void	 limit_table_hit(struct limit_table *, int fam, uint64_t id,
	    const struct limit_rate *, long long now_ms,
	    struct limit_verdict *);
void	 limit_table_set(struct limit_table *, int fam, uint64_t id,
	    const struct limit_rate *, long long now_ms, unsigned count,
	    long long start_ms);
size_t	 limit_table_slots(const struct limit_table *);
size_t	 limit_table_used(const struct limit_table *);
size_t	 limit_table_bytes(const struct limit_table *);

#endif /* LIMIT_H */
