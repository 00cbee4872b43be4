/* SPDX-License-Identifier: ISC */
/*
 * The shared cache's insides, for shared.c (jobs, the thread),
 * shared_redis.c (the connection and the calls) and shared_entry.c (what
 * is written to Redis, and the checks of what is read).  Not for other
 * modules (but the tests of shared_entry.c).
 */
#ifndef SHARED_IMPL_H
#define SHARED_IMPL_H

#include <sys/queue.h>

#include <pthread.h>

#include <hiredis/hiredis.h>

#include "shared.h"

/* Reconnecting: a first pause, doubling up to a few seconds (Redis back
 * is noticed within BACKOFF_MAX_MS, by the thread itself when idle). */
#define BACKOFF_MIN_MS	500
#define BACKOFF_MAX_MS	4000

#define SHARED_POST_PREFIX	"tiktok-fcgi:post:"
#define SHARED_LOCK_PREFIX	"tiktok-fcgi:lock:"
#define SHARED_LOCK_LEN		96	/* a lock's value and its NUL */

enum jkind { J_FILL, J_STORE, J_UNLOCK };

struct job {
	enum jkind	 kind;
	struct shared	*sh;
	char		*key;
	char		*url;
	int		 fresh;
	cache_done_fn	 done;
	void		*done_arg;
	char		 token[SHARED_LOCK_LEN]; /* our lock's value, or "" */
	unsigned char	*value;		/* J_STORE: the sealed entry */
	size_t		 vlen;
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
	int			 missing_ttl;	/* MISSING_TTL */
	long long		 lock_ms;
	unsigned char		 entry_key[32];	/* seals entries */
	unsigned char		 lock_key[32];	/* signs locks */
	long long		 said_at;	/* a foreign write, logged */
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
int			 shared_entry(struct shared *, struct job *,
			    struct json_object **, enum fail *);
int			 shared_lock(struct shared *, struct job *);
long long		 shared_holder(struct shared *, struct job *);
void			 shared_unlock(struct shared *, struct job *);
void			 shared_foreign(struct shared *, const char *what,
			    const char *key);

/* shared_entry.c: what goes into Redis, sealed or signed; what comes
 * out, checked. */
long long		 shared_url_expiry(const char *url);
int			 shared_entry_ttl(struct json_object *, int max_ttl,
			    long long now);
unsigned char		*shared_seal_entry(const unsigned char key32[32],
			    const char *key, enum fail,
			    struct json_object *info, long long exp,
			    size_t *len);
int			 shared_open_entry(const unsigned char key32[32],
			    const char *key, const void *data, size_t len,
			    long long now, struct json_object **info,
			    enum fail *err);
int			 shared_lock_value(const unsigned char key32[32],
			    const char *key, long long exp_ms, char *buf);
long long		 shared_lock_left(const unsigned char key32[32],
			    const char *key, const char *value, size_t len,
			    long long now_ms, long long max_ms);

#endif /* SHARED_IMPL_H */
