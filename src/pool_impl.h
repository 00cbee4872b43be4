/* SPDX-License-Identifier: ISC */
/*
 * The helper pool's inside, shared by its files and nobody else: pool.c
 * (the API), pool_run.c (the supervisor thread: what it watches),
 * pool_tend.c (each pass: helpers forked, fed, timed, grown, shrunk and
 * replaced), pool_parent.c (the helper parent they are forked from:
 * started, replaced at SIGHUP, what it says), pool_member.c (a helper:
 * what its lines mean, drained, lost) and pool_req.c (requests ended and
 * told; what the pool's state says).  pool_answer.h, a leaf, reads a
 * helper's line.  Everything here is used with pool->mtx held.
 */
#ifndef POOL_IMPL_H
#define POOL_IMPL_H

#include <sys/queue.h>

#include "pool.h"

struct helper;

#define START_TIMEOUT_MS 60000	/* import yt_dlp and say ready */
#define DRAIN_KILL_MS	10000	/* a closed helper must exit by then */
#define RSS_CHECK_MS	10000
#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	10000
#define STORM_FAILURES	3	/* failures in a row: fail fast */
#define OUTDATED_STREAK	3	/* unreadable answers in a row */
#define BLOCK_WINDOW_MS	(10 * 60 * 1000)
#define BLOCK_POSTS	3	/* distinct posts refused in the window */
#define BLOCK_SEEN	8
#define PING_EVERY_MS	5000	/* a ready helper is asked if it lives */
#define PING_TIMEOUT_MS	10000	/* ... and replaced if it says nothing */
#define SHRINK_MS	10000	/* a helper not needed, idle this long, goes */
#define HANDOVERS_MAX	3	/* a request handed to dying helpers */
#define YOUNG_MAX	2	/* extractions a helper began of late ... */
#define YOUNG_MS	100	/* ... in this long: more waits (pick()), */
#define CPU_EVERY_MS	200	/* unless, read this often while it works, */
#define CPU_WAITING_PCT	5	/* its work ran on a processor less than
				   this share of its time */

/* glibc's sys/queue.h lacks the _SAFE variants. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif
#ifndef LIST_FOREACH_SAFE
#define LIST_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = LIST_FIRST(head);					\
	    (var) != NULL && ((tvar) = LIST_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

struct req {
	unsigned long		 id;
	char			*url;
	struct json_object	*info;
	char			*msg;
	enum fail		 err;
	int			 retried;	/* once, after a helper died */
	int			 started;	/* the helper said it began */
	int			 handed;	/* times handed to a helper */
	const struct egress	*egress;	/* the way out it takes */
	int			 moved;		/* to another egress, once */
	int			 queued;	/* on pool->queue, else helper */
	struct member		*helper;
	long long		 deadline;	/* monotonic ms */
	long long		 handed_at;	/* to its helper, ms */
	pool_done_fn		 done;
	void			*arg;
	TAILQ_ENTRY(req)	 entry;		/* queue, work or ended */
};
TAILQ_HEAD(reqq, req);

enum hstate { H_STARTING, H_READY, H_DRAINING };

/*
 * A helper parent (forkserver.h): helpers are forked from the current
 * one; at SIGHUP a new one starts beside it, and once it is ready the
 * old one retires: its helpers are replaced, and it is closed when the
 * last of them is gone.
 */
struct parent {
	struct forkserver	*fs;
	pid_t			 pid;
	int			 ready;
	int			 retiring;
	int			 children;	/* members forked from it */
	long long		 kill_at;	/* not ready by then: killed */
	long			 rss_kb, pss_kb;
	LIST_ENTRY(parent)	 entry;
};
LIST_HEAD(parentl, parent);

/*
 * A helper due for replacement: now (its RSS, a new yt-dlp), or by its
 * count of extractions, one helper at a time.  A fork takes
 * milliseconds, and one replaced beside its work holds both in memory
 * until that work ends: when another helper carries the work, the one
 * due goes first (no new work, its own ended, exited: slot->old) and
 * its replacement comes after (at once if no other is left to carry
 * the work); alone, it is replaced once it has no work in flight,
 * unless it stays busy through twice its count.
 */
#define RECYCLE_NOW	1
#define RECYCLE_IDLE	2

/* A helper as the pool sees it: its process, and what it is doing. */
struct member {
	struct helper		*proc;
	struct parent		*from;		/* NULL once it is gone */
	unsigned long		 tag;		/* in the parent's answer */
	pid_t			 pid;		/* 0 until forked */
	enum hstate		 state;
	int			 slot;		/* -1 when draining */
	int			 inflight;	/* live requests */
	int			 abandoned;	/* timed out, still inside */
	int			 served;
	int			 limit;		/* recycle after */
	int			 recycle;	/* due for replacement: RECYCLE_* */
	long long		 started;
	long long		 kill_at;	/* 0, or when to SIGKILL */
	long			 rss_kb, pss_kb;
	long long		 cpu_ms;	/* processor time at cpu_at */
	long long		 cpu_at;	/* 0: not read while working */
	long long		 ran_ms;	/* its work ended since, in flight
						   that long after cpu_at */
	int			 waiting;	/* its work mostly waits */
	long long		 idle_since;	/* its last work ended */
	char			*version;
	unsigned long		 ping_id;	/* a ping waiting for its pong */
	long long		 ping_at;	/* when it went; 0: none out */
	long long		 pong_at;	/* when the last came back */
	struct reqq		 work;
	LIST_ENTRY(member)	 entry;
};
LIST_HEAD(memberl, member);

struct slot {
	struct member		*cur;
	struct member		*next;	/* replacement, starting */
	struct member		*old;	/* recycled idle, not gone yet */
	int			 failures;	/* in a row */
	int			 started;	/* ever had a helper */
	long long		 start_at;	/* backoff */
};

struct pool {
	struct pool_opts	 o;
	char			*python, *script;
	char			**envp;		/* helper_env() */
	pthread_mutex_t		 mtx;
	pthread_t		 thread;
	int			 running;
	int			 stopping;
	int			 reload;
	int			 wake[2];
	struct slot		*slots;
	int			 want;		/* slots in use */
	struct memberl		 helpers;
	struct parentl		 parents;
	struct parent		*parent;	/* helpers come from it */
	struct parent		*parent_next;	/* its replacement, starting */
	int			 parent_failures;	/* in a row */
	long long		 parent_start_at;	/* backoff */
	struct reqq		 queue;
	struct reqq		 ended;		/* to be told (pool_deliver) */
	int			 nqueued;
	int			 inflight;
	int			 per_helper;	/* extractions a helper runs */
	unsigned long		 seq;
	unsigned long		 restarts, timeouts, crashes, requests;
	long long		 rss_checked;
	char			*version;	/* last handshake */
	int			 unreadable;	/* in a row, no success since */
	struct {
		unsigned int	 post;		/* hash of the URL */
		long long	 at;
	}			 refused[BLOCK_SEEN];	/* as "blocked" */
	int			 nrefused;
};

/*
 * Each file calls only those listed after it: pool.c (the API) ->
 * pool_run.c (the supervisor thread) -> pool_tend.c (each pass) ->
 * pool_parent.c (the helper parent) -> pool_member.c (a helper and its
 * lines; pool_answer.h reads them) -> pool_req.c (requests ended and
 * told, the pool's state).
 */

/* pool_run.c */
void		*pool_supervisor(void *);

/* pool_tend.c */
long long	 pool_maintain(struct pool *);

/* pool_parent.c */
long long	 pool_parent_maintain(struct pool *, long long now);
int		 pool_parent_read(struct pool *, struct parent *);
void		 pool_parent_lost(struct pool *, struct parent *,
		    const char *why);
struct member	*pool_parent_fork(struct pool *, int slot);

/* pool_member.c */
int		 pool_member_line(struct pool *, struct member *, const char *,
		    size_t);
void		 pool_member_drain(struct pool *, struct member *);
void		 pool_member_lost(struct pool *, struct member *,
		    const char *why);
long long	 pool_member_since(const struct member *,
		    const struct req *);

/* pool_req.c */
void		 pool_wake(struct pool *);
void		 pool_req_done(struct pool *, struct req *, enum fail,
		    const char *msg, struct json_object *info);
void		 pool_deliver(struct pool *);
int		 pool_storm(struct pool *);
void		 pool_note(struct pool *, enum fail, const char *url);
int		 pool_refused(struct pool *);

#endif /* POOL_IMPL_H */
