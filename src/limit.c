/* SPDX-License-Identifier: ISC */
/*
 * Fixed windows and the table of clients' windows (limit.h).
 */
#include "config.h"

#include <sys/random.h>

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "limit.h"

#define WAYS		8	/* slots in a bucket */
#define STRIPES_MAX	1024	/* locks over the buckets */
#define RATE_N_MAX	1000000
#define RATE_W_MAX	86400

struct slot {
	uint64_t	 id;
	long long	 start_ms;
	unsigned	 count;
	uint8_t		 fam;
	uint8_t		 used;
};

/* A lock on a cache line of its own: neighbours do not share lines. */
struct stripe {
	pthread_mutex_t	 mtx;
	char		 pad[64 - sizeof(pthread_mutex_t) % 64];
};

struct limit_table {
	struct slot	*slots;
	size_t		 nbuckets;	/* a power of two */
	struct stripe	*locks;
	size_t		 nlocks;	/* a power of two */
	uint64_t	 seed;
	size_t		 used;		/* __atomic: slots ever taken */
};

/*
 * "N/SECONDS" (RATE_LIMIT, a key's limit=): N from 1 to 1000000 per
 * SECONDS from 1 to 86400 (a day).  Returns 0 with r filled (r may be
 * NULL: only check), or -1 with why.
 */
int
limit_rate_parse(const char *s, struct limit_rate *r, char *why,
    size_t whysz)
{
	char	*end;
	long	 n, w;

	n = strtol(s, &end, 10);
	if (!isdigit((unsigned char)*s) || *end != '/' ||
	    !isdigit((unsigned char)end[1]) || n < 1 || n > RATE_N_MAX)
		goto bad;
	w = strtol(end + 1, &end, 10);
	if (*end != '\0' || w < 1 || w > RATE_W_MAX)
		goto bad;
	if (r != NULL) {
		r->n = (int)n;
		r->w = (int)w;
	}
	return 0;
bad:
	snprintf(why, whysz, "\"%.40s\" is not N/SECONDS (as 20/60): N from "
	    "1 to %d requests per SECONDS from 1 to %d", s, RATE_N_MAX,
	    RATE_W_MAX);
	return -1;
}

/*
 * The verdict of a window that has counted count requests (this one
 * included) and ends in reset_ms.
 */
void
limit_window_verdict(long long count, long long reset_ms,
    const struct limit_rate *r, struct limit_verdict *v)
{
	v->allowed = count <= r->n;
	v->remaining = count >= r->n ? 0 : r->n - (int)count;
	v->reset_ms = reset_ms < 0 ? 0 : reset_ms;
}

/*
 * Count one request in w: a window over (or none yet) starts again at
 * now.  The caller holds whatever guards w.
 */
void
limit_window_hit(struct limit_window *w, const struct limit_rate *r,
    long long now_ms, struct limit_verdict *v)
{
	if (w->start_ms == 0 || now_ms - w->start_ms >= r->w * 1000LL) {
		w->start_ms = now_ms;
		w->count = 0;
	}
	if (w->count < UINT_MAX)
		w->count++;
	limit_window_verdict(w->count, w->start_ms + r->w * 1000LL - now_ms,
	    r, v);
}

/*
 * A table of at least slots slots (rounded up to whole buckets, a power
 * of two of them).  Its memory is taken once, zeroed by the system and
 * touched as clients come.  NULL when memory is short.
 */
struct limit_table *
limit_table_new(size_t slots)
{
	struct limit_table	*t;
	size_t			 i;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->nbuckets = 1;
	while (t->nbuckets * WAYS < slots)
		t->nbuckets *= 2;
	t->nlocks = t->nbuckets < STRIPES_MAX ? t->nbuckets : STRIPES_MAX;
	if ((t->slots = calloc(t->nbuckets * WAYS, sizeof(*t->slots))) ==
	    NULL || (t->locks = calloc(t->nlocks, sizeof(*t->locks))) ==
	    NULL) {
		free(t->slots);
		free(t);
		return NULL;
	}
	for (i = 0; i < t->nlocks; i++)
		pthread_mutex_init(&t->locks[i].mtx, NULL);
	/* Buckets no client can aim at: a secret seed. */
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(t->seed))
		t->seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^
		    (uint64_t)getpid();
	return t;
}

void
limit_table_free(struct limit_table *t)
{
	size_t	 i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nlocks; i++)
		pthread_mutex_destroy(&t->locks[i].mtx);
	free(t->locks);
	free(t->slots);
	free(t);
}

/* splitmix64's finaliser: every bit of the id moves the bucket. */
static uint64_t
mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ x >> 31;
}

/*
 * The slot of (fam, id), with its stripe locked (*lk, for the caller to
 * unlock): the one it has, or a free one in its bucket, or one whose
 * window (of w_ms) is over, or the one with the fewest requests.  A
 * slot newly given to the client has no window yet.
 */
static struct slot *
slot_of(struct limit_table *t, int fam, uint64_t id, long long w_ms,
    long long now_ms, pthread_mutex_t **lk)
{
	uint64_t	 h = mix(id ^ t->seed) + (uint64_t)fam;
	size_t		 b = (size_t)h & (t->nbuckets - 1), i;
	struct slot	*s = &t->slots[b * WAYS], *pick = NULL;
	int		 rank, best = -1;

	*lk = &t->locks[b & (t->nlocks - 1)].mtx;
	pthread_mutex_lock(*lk);
	for (i = 0; i < WAYS; i++) {
		if (s[i].used && s[i].id == id && s[i].fam == fam)
			return &s[i];
		/* A free slot, else a window over, else the window with
		 * the fewest requests (forgetting it gives away least),
		 * the oldest of those. */
		rank = !s[i].used ? 3 : now_ms - s[i].start_ms >= w_ms ? 2 : 1;
		if (rank > best || (rank == 1 && best == 1 &&
		    (s[i].count < pick->count || (s[i].count == pick->count &&
		    s[i].start_ms < pick->start_ms)))) {
			best = rank;
			pick = &s[i];
		}
	}
	if (!pick->used)
		__atomic_add_fetch(&t->used, 1, __ATOMIC_RELAXED);
	pick->used = 1;
	pick->fam = (uint8_t)fam;
	pick->id = id;
	pick->start_ms = 0;
	pick->count = 0;
	return pick;
}

/* Count one request of client (fam, id) against r; v says the rest. */
void
limit_table_hit(struct limit_table *t, int fam, uint64_t id,
    const struct limit_rate *r, long long now_ms, struct limit_verdict *v)
{
	pthread_mutex_t		*lk;
	struct slot		*s;
	struct limit_window	 w;

	s = slot_of(t, fam, id, r->w * 1000LL, now_ms, &lk);
	w.start_ms = s->start_ms;
	w.count = s->count;
	limit_window_hit(&w, r, now_ms, v);
	s->start_ms = w.start_ms;
	s->count = w.count;
	pthread_mutex_unlock(lk);
}

/*
 * Set client (fam, id)'s window to what the fleet counted (Redis): so
 * that, should Redis go, this instance goes on from there.
 */
void
limit_table_set(struct limit_table *t, int fam, uint64_t id,
    const struct limit_rate *r, long long now_ms, unsigned count,
    long long start_ms)
{
	pthread_mutex_t	*lk;
	struct slot	*s;

	s = slot_of(t, fam, id, r->w * 1000LL, now_ms, &lk);
	s->start_ms = start_ms;
	s->count = count;
	pthread_mutex_unlock(lk);
}

size_t
limit_table_slots(const struct limit_table *t)
{
	return t->nbuckets * WAYS;
}

/* Slots holding a client (now or before): at most limit_table_slots. */
size_t
limit_table_used(const struct limit_table *t)
{
	return __atomic_load_n(&t->used, __ATOMIC_RELAXED);
}

/* The table's memory, all of it taken at limit_table_new. */
size_t
limit_table_bytes(const struct limit_table *t)
{
	return sizeof(*t) + t->nbuckets * WAYS * sizeof(*t->slots) +
	    t->nlocks * sizeof(*t->locks);
}
