/*
 * The shared cache's insides, for shared.c (jobs, the thread) and
 * shared_redis.c (the connection and the calls).  Not for other modules.
 */
#ifndef SHARED_IMPL_H
#define SHARED_IMPL_H

#include <sys/queue.h>

#include <pthread.h>

#include <hiredis/hiredis.h>

#include "shared.h"

#define BACKOFF_MIN_MS	1000	/* reconnecting: first pause, */
#define BACKOFF_MAX_MS	30000	/* doubling up to this */

enum jkind { J_FILL, J_STORE, J_UNLOCK };

struct job {
	enum jkind	 kind;
	struct shared	*sh;
	char		*key;
	char		*url;
	int		 fresh;
	cache_done_fn	 done;
	void		*done_arg;
	char		 token[33];	/* our lock's value, or "" */
	char		*value;		/* J_STORE: the info as JSON */
	int		 ttl;		/* J_STORE: seconds */
	long long	 next_ms;	/* waiting: when to look again */
	long long	 deadline_ms;	/* waiting: then extract anyway */
	TAILQ_ENTRY(job) entry;
};
TAILQ_HEAD(jobq, job);

struct shared {
	char			 where[300];	/* for the log: no password */
	const struct conf	*conf;
	int			 ttl;		/* CACHE_TTL */
	long long		 lock_ms;
	shared_extract_fn	 extract;
	void			*extract_arg;

	/* The thread's alone. */
	redisContext		*ctx;
	long long		 retry_at;
	long long		 backoff;
	struct jobq		 waiting;

	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;
	struct jobq		 queue;		/* for the thread */
	int			 stopping;
	pthread_t		 thread;
	struct shared_stats	 st;
};

/* shared_redis.c: every call made by the thread, bounded, NULL/-1 on
 * failure (then the connection is dropped and retried later). */
int			 shared_connected(struct shared *);
redisReply		*shared_cmd(struct shared *, const char *, ...);
struct json_object	*shared_entry(struct shared *, struct job *,
			    int *failed);
int			 shared_lock(struct shared *, struct job *);
void			 shared_unlock(struct shared *, struct job *);

#endif /* SHARED_IMPL_H */
