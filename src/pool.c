/*
 * The helper pool.  One supervisor thread owns every helper pipe and all
 * helper state changes; callers only queue a request with a function to
 * call when it ends, and return: nobody waits on a thread.  Every request
 * ends exactly once: with an answer, an error, or its deadline, which the
 * supervisor enforces; their functions are called by the supervisor,
 * without the lock.
 *
 * A slot is one of the P places for a helper.  Its current helper takes
 * new work; a replacement ("next") may be starting beside it when the
 * current one is due for recycling, and takes over once it is ready, so
 * that capacity does not dip.  Helpers that leave a slot drain: they get
 * no new work, and are closed once their work is done (or killed, if
 * they hold work past its deadline, which yt-dlp cannot cancel).
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "proc.h"
#include "pool.h"
#include "procstat.h"

#define LINE_MAX_BYTES	(16 * 1024 * 1024)	/* one answer line */
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

extern char **environ;

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
	enum pool_err		 err;
	int			 retried;
	int			 queued;	/* on pool->queue, else helper */
	struct helper		*helper;
	long long		 deadline;	/* monotonic ms */
	pool_done_fn		 done;
	void			*arg;
	TAILQ_ENTRY(req)	 entry;		/* queue, work or ended */
};
TAILQ_HEAD(reqq, req);

enum hstate { H_STARTING, H_READY, H_DRAINING };

struct helper {
	pid_t			 pid;
	int			 in, out, err;	/* our pipe ends, -1 closed */
	enum hstate		 state;
	int			 slot;		/* -1 when draining */
	int			 inflight;	/* live requests */
	int			 abandoned;	/* timed out, still inside */
	int			 served;
	int			 limit;		/* recycle after */
	int			 recycle;	/* due for replacement */
	long long		 started;
	long long		 kill_at;	/* 0, or when to SIGKILL */
	long			 rss_kb;
	char			*version;
	char			*obuf;		/* to its stdin */
	size_t			 olen, ocap;
	char			*ibuf;		/* from its stdout */
	size_t			 ilen, icap;
	char			 ebuf[1024];	/* from its stderr */
	size_t			 elen;
	struct reqq		 work;
	LIST_ENTRY(helper)	 entry;
};
LIST_HEAD(helperl, helper);

struct slot {
	struct helper		*cur;
	struct helper		*next;	/* replacement, starting */
	int			 failures;	/* in a row */
	int			 started;	/* ever had a helper */
	long long		 start_at;	/* backoff */
};

struct pool {
	struct pool_opts	 o;
	char			*python, *pythonpath, *script, *proxy;
	char			*cookies, *ca_file;
	char			**envp;
	pthread_mutex_t		 mtx;
	pthread_t		 thread;
	int			 running;
	int			 stopping;
	int			 reload;
	int			 wake[2];
	struct slot		*slots;
	struct helperl		 helpers;
	struct reqq		 queue;
	struct reqq		 ended;		/* to be told, by deliver() */
	int			 nqueued;
	int			 inflight;
	int			 per_helper;
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

static void
wake(struct pool *p)
{
	char	 c = 1;

	if (write(p->wake[1], &c, 1) == -1 && errno != EAGAIN)
		log_warn("%s: write", __func__);
}

const char *
pool_strerror(enum pool_err e)
{
	switch (e) {
	case POOL_OK:		return "ok";
	case POOL_NOT_FOUND:	return "not_found";
	case POOL_PRIVATE:	return "private";
	case POOL_BLOCKED:	return "blocked";
	case POOL_UNSUPPORTED:	return "unsupported";
	case POOL_TIMEOUT:	return "timeout";
	case POOL_BUSY:		return "busy";
	case POOL_UNREADABLE:	return "unreadable";
	default:		return "other";
	}
}

static enum pool_err
kind_parse(const char *k)
{
	if (k == NULL)
		return POOL_OTHER;
	if (strcmp(k, "not_found") == 0)
		return POOL_NOT_FOUND;
	if (strcmp(k, "private") == 0)
		return POOL_PRIVATE;
	if (strcmp(k, "blocked") == 0)
		return POOL_BLOCKED;
	if (strcmp(k, "unsupported") == 0)
		return POOL_UNSUPPORTED;
	if (strcmp(k, "timeout") == 0)
		return POOL_TIMEOUT;
	if (strcmp(k, "unreadable") == 0)
		return POOL_UNREADABLE;
	return POOL_OTHER;
}

/*
 * What a string of answers says about us: yt-dlp outdated (its answers
 * unreadable, again and again), or TikTok refusing this address (several
 * distinct posts refused as "blocked" in a short while, no success
 * since).  Any success clears both.  Called with the lock held.
 */
static void
pool_note(struct pool *p, enum pool_err err, const char *url)
{
	unsigned int	 hv = 2166136261u;
	long long	 now = proc_now_ms();
	int		 i;

	if (err == POOL_OK) {
		p->unreadable = 0;
		p->nrefused = 0;
		return;
	}
	if (err == POOL_UNREADABLE)
		p->unreadable++;
	if (err != POOL_BLOCKED)
		return;
	for (; *url != '\0'; url++)
		hv = (hv ^ (unsigned char)*url) * 16777619u;
	for (i = 0; i < p->nrefused; i++)
		if (p->refused[i].post == hv)
			break;
	if (i == p->nrefused) {
		if (p->nrefused == BLOCK_SEEN) {
			memmove(&p->refused[0], &p->refused[1],
			    sizeof(p->refused[0]) * (BLOCK_SEEN - 1));
			i = BLOCK_SEEN - 1;
		} else
			p->nrefused++;
	}
	p->refused[i].post = hv;
	p->refused[i].at = now;
}

/* How many distinct posts were refused as "blocked" lately. */
static int
pool_refused(struct pool *p)
{
	long long	 now = proc_now_ms();
	int		 i, n = 0;

	for (i = 0; i < p->nrefused; i++)
		if (now - p->refused[i].at < BLOCK_WINDOW_MS)
			n++;
	return n;
}

/*
 * End a request: record the outcome; deliver() tells its caller.  Takes
 * the reference to info.  Called with the lock held.
 */
static void
req_done(struct pool *p, struct req *r, enum pool_err err, const char *msg,
    struct json_object *info)
{
	r->err = err;
	r->info = info;
	r->msg = msg != NULL ? strdup(msg) : NULL;
	r->helper = NULL;
	TAILQ_INSERT_TAIL(&p->ended, r, entry);
}

/*
 * Tell the callers of ended requests, without the lock (a caller may
 * start another extraction from its function).  Called with the lock
 * held; returns with it held.
 */
static void
deliver(struct pool *p)
{
	struct req	*r;

	while ((r = TAILQ_FIRST(&p->ended)) != NULL) {
		TAILQ_REMOVE(&p->ended, r, entry);
		pthread_mutex_unlock(&p->mtx);
		r->done(r->arg, r->err, r->info, r->msg);
		free(r->msg);
		free(r->url);
		free(r);
		pthread_mutex_lock(&p->mtx);
	}
}

/*
 * The environment helpers run with: ours, less the keys we set, plus the
 * helper's settings (passed by environment, not argv, so that a proxy
 * password does not show in ps).
 */
static char **
build_env(struct pool *p)
{
	static const char *const ours[] = { "PYTHONPATH=", "PYTHONUNBUFFERED=",
	    "SSL_CERT_FILE=", "TIKTOK_FCGI_", NULL };
	char		**env;
	size_t		  n = 0, i, j, k = 0;
	char		 *pp = NULL;
	const char	 *oldpp;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 16, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		for (j = 0; ours[j] != NULL; j++)
			if (strncmp(environ[i], ours[j], strlen(ours[j])) == 0)
				break;
		if (ours[j] == NULL)
			env[k++] = strdup(environ[i]);
	}
	oldpp = getenv("PYTHONPATH");
	if (p->pythonpath != NULL || oldpp != NULL) {
		if (asprintf(&pp, "PYTHONPATH=%s%s%s",
		    p->pythonpath ? p->pythonpath : "",
		    p->pythonpath && oldpp ? ":" : "",
		    oldpp ? oldpp : "") == -1)
			pp = NULL;
		env[k++] = pp;
	}
	env[k++] = strdup("PYTHONUNBUFFERED=1");
	if (asprintf(&env[k++], "TIKTOK_FCGI_WORKERS=%d", p->per_helper) == -1)
		env[k - 1] = NULL;
	if (asprintf(&env[k++], "TIKTOK_FCGI_SOCKET_TIMEOUT=%d",
	    p->o.timeout) == -1)
		env[k - 1] = NULL;
	if (p->proxy != NULL &&
	    asprintf(&env[k++], "TIKTOK_FCGI_PROXY=%s", p->proxy) == -1)
		env[k - 1] = NULL;
	if (p->cookies != NULL &&
	    asprintf(&env[k++], "TIKTOK_FCGI_COOKIES=%s", p->cookies) == -1)
		env[k - 1] = NULL;
	if (p->ca_file != NULL) {
		if (asprintf(&env[k++], "TIKTOK_FCGI_CA_FILE=%s",
		    p->ca_file) == -1)
			env[k - 1] = NULL;
		if (asprintf(&env[k++], "SSL_CERT_FILE=%s", p->ca_file) == -1)
			env[k - 1] = NULL;
	}
	if (p->o.allow_generic)
		env[k++] = strdup("TIKTOK_FCGI_ALLOW_GENERIC=1");
	for (i = 0; i < k; i++)
		if (env[i] == NULL) {
			for (j = 0; j < k; j++)
				free(env[j]);
			free(env);
			return NULL;
		}
	env[k] = NULL;
	return env;
}

static void
free_env(char **env)
{
	size_t	 i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/*
 * Start one helper: three pipes become its stdin, stdout and stderr
 * (proc_spawn: no other descriptor, signals reset, its own group).
 */
static struct helper *
helper_spawn(struct pool *p, int slot)
{
	struct helper			*h;
	int				 pin[2] = { -1, -1 }, pout[2] = { -1, -1 };
	int				 perr[2] = { -1, -1 }, fds[3];
	char				*argv[4];

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->in = h->out = h->err = -1;
	h->slot = slot;
	TAILQ_INIT(&h->work);
	if (pipe2(pin, O_CLOEXEC) == -1 || pipe2(pout, O_CLOEXEC) == -1 ||
	    pipe2(perr, O_CLOEXEC) == -1) {
		log_warn("%s: pipe", __func__);
		goto fail;
	}
	argv[0] = p->python;
	argv[1] = p->script;
	argv[2] = NULL;
	fds[0] = pin[0];
	fds[1] = pout[1];
	fds[2] = perr[1];
	if ((h->pid = proc_spawn(argv, p->envp, fds)) == -1) {
		log_warn("%s: %s", __func__, p->python);
		goto fail;
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	h->in = pin[1];
	h->out = pout[0];
	h->err = perr[0];
	fcntl(h->in, F_SETFL, O_NONBLOCK);
	fcntl(h->out, F_SETFL, O_NONBLOCK);
	fcntl(h->err, F_SETFL, O_NONBLOCK);
	h->state = H_STARTING;
	h->started = proc_now_ms();
	h->kill_at = h->started + START_TIMEOUT_MS;
	/* Recycle after max_requests, give or take 10%, so that helpers
	 * started together do not all retire together. */
	h->limit = p->o.max_requests;
	if (h->limit > 10)
		h->limit += (int)(random() % (h->limit / 5)) - h->limit / 10;
	LIST_INSERT_HEAD(&p->helpers, h, entry);
	log_debug("%s: helper %d started (slot %d)", __func__, (int)h->pid,
	    slot);
	return h;
fail:
	if (pin[0] != -1) { close(pin[0]); close(pin[1]); }
	if (pout[0] != -1) { close(pout[0]); close(pout[1]); }
	if (perr[0] != -1) { close(perr[0]); close(perr[1]); }
	free(h);
	return NULL;
}

/* Take h out of its slot; it gets no new work from now on. */
static void
helper_drain(struct pool *p, struct helper *h)
{
	struct slot	*s;

	if (h->slot >= 0) {
		s = &p->slots[h->slot];
		if (s->cur == h)
			s->cur = NULL;
		if (s->next == h)
			s->next = NULL;
	}
	h->slot = -1;
	h->state = H_DRAINING;
}

/*
 * A helper is gone (exited, killed, or broke the protocol): reap it,
 * give its live requests one more chance on another helper, fail the
 * rest, count a crash against its slot.  Called with the lock held.
 */
static void
helper_lost(struct pool *p, struct helper *h, const char *why)
{
	struct req	*r;
	struct slot	*s;
	int		 status = 0, crashed;
	long long	 backoff;

	crashed = h->state != H_DRAINING;
	if (crashed)
		log_warnx("%s: helper %d %s", __func__, (int)h->pid, why);
	kill(-h->pid, SIGKILL);
	while (waitpid(h->pid, &status, 0) == -1 && errno == EINTR)
		continue;
	if (crashed && h->slot >= 0) {
		s = &p->slots[h->slot];
		p->crashes++;
		s->failures++;
		backoff = BACKOFF_MIN_MS << (s->failures > 7 ? 7 :
		    s->failures - 1);
		if (backoff > BACKOFF_MAX_MS)
			backoff = BACKOFF_MAX_MS;
		s->start_at = proc_now_ms() + backoff;
	}
	helper_drain(p, h);
	while ((r = TAILQ_FIRST(&h->work)) != NULL) {
		TAILQ_REMOVE(&h->work, r, entry);
		p->inflight--;
		if (!r->retried) {
			r->retried = 1;
			r->helper = NULL;
			r->queued = 1;
			TAILQ_INSERT_HEAD(&p->queue, r, entry);
			p->nqueued++;
		} else
			req_done(p, r, POOL_OTHER, "the extraction helper "
			    "crashed", NULL);
	}
	if (h->in != -1)
		close(h->in);
	if (h->out != -1)
		close(h->out);
	if (h->err != -1)
		close(h->err);
	LIST_REMOVE(h, entry);
	free(h->obuf);
	free(h->ibuf);
	free(h->version);
	free(h);
}

/* Queue a line for the helper's stdin. */
static int
helper_send(struct helper *h, const char *line, size_t len)
{
	char	*nb;
	size_t	 ncap;

	if (h->olen + len > h->ocap) {
		ncap = h->ocap ? h->ocap : 4096;
		while (ncap < h->olen + len)
			ncap *= 2;
		if (ncap > LINE_MAX_BYTES || (nb = realloc(h->obuf, ncap)) ==
		    NULL)
			return -1;
		h->obuf = nb;
		h->ocap = ncap;
	}
	memcpy(h->obuf + h->olen, line, len);
	h->olen += len;
	return 0;
}

/* Write what we can of the helper's pending input.  -1: it is gone. */
static int
helper_flush(struct helper *h)
{
	ssize_t	 n;

	while (h->olen > 0) {
		n = write(h->in, h->obuf, h->olen);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		memmove(h->obuf, h->obuf + n, h->olen - (size_t)n);
		h->olen -= (size_t)n;
	}
	return 0;
}

/*
 * One line from a helper.  Returns -1 when the line breaks the protocol
 * (the helper is then replaced).
 */
static int
helper_line(struct pool *p, struct helper *h, const char *line, size_t len)
{
	struct json_tokener	*jt;
	struct json_object	*o, *v, *info = NULL;
	struct req		*r;
	unsigned long		 id;
	const char		*msg;
	enum pool_err		 err;
	struct slot		*s;
	char			 logbuf[512];

	if ((jt = json_tokener_new_ex(64)) == NULL)
		return -1;
	o = json_tokener_parse_ex(jt, line, (int)len);
	if (o == NULL || json_tokener_get_error(jt) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		json_tokener_free(jt);
		json_object_put(o);
		return -1;
	}
	json_tokener_free(jt);

	if (json_object_object_get_ex(o, "ready", &v)) {
		if (h->state != H_STARTING || !json_object_get_boolean(v)) {
			json_object_put(o);
			return -1;
		}
		/* The version must be a string: anything else (null) is a
		 * broken helper, replaced like any other. */
		if (!json_object_object_get_ex(o, "ytdlp", &v) ||
		    !json_object_is_type(v, json_type_string)) {
			json_object_put(o);
			return -1;
		}
		free(h->version);
		h->version = strdup(json_object_get_string(v));
		free(p->version);
		p->version = strdup(json_object_get_string(v));
		h->state = H_READY;
		h->kill_at = 0;
		log_info("%s: helper %d ready (yt-dlp %s)", __func__,
		    (int)h->pid, h->version ? h->version : "?");
		s = &p->slots[h->slot];
		if (s->next == h) {
			/* The replacement is up: the old one drains. */
			if (s->cur != NULL)
				helper_drain(p, s->cur);
			s->cur = h;
			s->next = NULL;
		}
		json_object_put(o);
		return 0;
	}
	if (!json_object_object_get_ex(o, "id", &v)) {
		json_object_put(o);
		return -1;
	}
	id = (unsigned long)json_object_get_int64(v);
	TAILQ_FOREACH(r, &h->work, entry)
		if (r->id == id)
			break;
	if (r == NULL) {
		/* An answer to work that timed out: drop it. */
		if (h->abandoned > 0)
			h->abandoned--;
		json_object_put(o);
		return 0;
	}
	TAILQ_REMOVE(&h->work, r, entry);
	h->inflight--;
	p->inflight--;
	h->served++;
	if (h->slot >= 0)
		p->slots[h->slot].failures = 0;
	if (json_object_object_get_ex(o, "ok", &v) &&
	    json_object_get_boolean(v) &&
	    json_object_object_get_ex(o, "info", &info) &&
	    json_object_is_type(info, json_type_object)) {
		pool_note(p, POOL_OK, r->url);
		req_done(p, r, POOL_OK, NULL, json_object_get(info));
	} else {
		msg = json_object_object_get_ex(o, "error", &v) ?
		    json_object_get_string(v) : "extraction failed";
		err = kind_parse(json_object_object_get_ex(o, "kind", &v) ?
		    json_object_get_string(v) : NULL);
		/* yt-dlp's words are for the operator, not the client. */
		log_info("%s: helper %d: %s: %s", __func__, (int)h->pid,
		    pool_strerror(err), log_filter(logbuf, sizeof(logbuf),
		    msg));
		pool_note(p, err, r->url);
		req_done(p, r, err, NULL, NULL);
	}
	json_object_put(o);
	if (h->limit > 0 && h->served >= h->limit && !h->recycle) {
		log_info("%s: helper %d served %d requests: recycling",
		    __func__, (int)h->pid, h->served);
		h->recycle = 1;
	}
	return 0;
}

/* Read a helper's stdout; -1 when it closed or broke the protocol. */
static int
helper_read(struct pool *p, struct helper *h)
{
	ssize_t	 n;
	char	*nl, *nb;
	size_t	 off;

	for (;;) {
		if (h->icap - h->ilen < 65536) {
			if (h->icap >= LINE_MAX_BYTES + 65536) {
				log_warnx("%s: helper %d: answer longer than "
				    "%d bytes", __func__, (int)h->pid,
				    LINE_MAX_BYTES);
				return -1;
			}
			if ((nb = realloc(h->ibuf, h->icap + 65536)) == NULL)
				return -1;
			h->ibuf = nb;
			h->icap += 65536;
		}
		n = read(h->out, h->ibuf + h->ilen, h->icap - h->ilen);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -1;
		}
		if (n == 0)
			return -1;
		h->ilen += (size_t)n;
		off = 0;
		while ((nl = memchr(h->ibuf + off, '\n', h->ilen - off)) !=
		    NULL) {
			if (helper_line(p, h, h->ibuf + off,
			    (size_t)(nl - (h->ibuf + off))) == -1) {
				log_warnx("%s: helper %d: malformed answer",
				    __func__, (int)h->pid);
				return -1;
			}
			off = (size_t)(nl - h->ibuf) + 1;
		}
		memmove(h->ibuf, h->ibuf + off, h->ilen - off);
		h->ilen -= off;
		if (h->ilen > LINE_MAX_BYTES) {
			log_warnx("%s: helper %d: answer longer than %d bytes",
			    __func__, (int)h->pid, LINE_MAX_BYTES);
			return -1;
		}
	}
	/* Keep big buffers from lingering after a big answer. */
	if (h->ilen == 0 && h->icap > 1024 * 1024) {
		free(h->ibuf);
		h->ibuf = NULL;
		h->icap = 0;
	}
	return 0;
}

/* Drain a helper's stderr into our log, a line at a time. */
static void
helper_stderr(struct helper *h)
{
	char	 buf[4096], line[600];
	ssize_t	 n;
	size_t	 i;

	while ((n = read(h->err, buf, sizeof(buf))) > 0) {
		for (i = 0; i < (size_t)n; i++) {
			if (buf[i] == '\n' || h->elen == sizeof(h->ebuf) - 1) {
				h->ebuf[h->elen] = '\0';
				if (h->elen > 0)
					log_info("helper %d: %s", (int)h->pid,
					    log_filter(line, sizeof(line),
					    h->ebuf));
				h->elen = 0;
				if (buf[i] == '\n')
					continue;
			}
			h->ebuf[h->elen++] = buf[i];
		}
	}
	if (n == 0) {
		close(h->err);
		h->err = -1;
	}
}

/* Best helper for new work: ready, least loaded, under its share. */
static struct helper *
pick(struct pool *p)
{
	struct helper	*h, *best = NULL;
	int		 i;

	for (i = 0; i < p->o.helpers; i++) {
		h = p->slots[i].cur;
		if (h == NULL || h->state != H_READY ||
		    h->inflight >= p->per_helper)
			continue;
		if (best == NULL || h->inflight < best->inflight)
			best = h;
	}
	return best;
}

static void
dispatch(struct pool *p)
{
	struct req		*r;
	struct helper		*h;
	struct json_object	*o;
	const char		*s;
	size_t			 len;
	char			*line;

	while ((r = TAILQ_FIRST(&p->queue)) != NULL &&
	    p->inflight < p->o.max_workers && (h = pick(p)) != NULL) {
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_int64(
		    (int64_t)r->id));
		json_object_object_add(o, "op",
		    json_object_new_string("extract"));
		json_object_object_add(o, "url",
		    json_object_new_string(r->url));
		s = json_object_to_json_string_length(o,
		    JSON_C_TO_STRING_PLAIN, &len);
		line = malloc(len + 1);
		if (line != NULL) {
			memcpy(line, s, len);
			line[len] = '\n';
		}
		json_object_put(o);
		TAILQ_REMOVE(&p->queue, r, entry);
		p->nqueued--;
		r->queued = 0;
		if (line == NULL || helper_send(h, line, len + 1) == -1) {
			free(line);
			req_done(p, r, POOL_OTHER, "out of memory", NULL);
			continue;
		}
		free(line);
		r->helper = h;
		r->deadline = proc_now_ms() + (long long)p->o.timeout * 1000;
		TAILQ_INSERT_TAIL(&h->work, r, entry);
		h->inflight++;
		p->inflight++;
		p->requests++;
	}
}

/* No helper can take work and none is coming soon: a crash storm. */
static int
storm(struct pool *p)
{
	struct helper	*h;
	int		 i;

	LIST_FOREACH(h, &p->helpers, entry)
		if (h->state == H_READY && h->slot >= 0)
			return 0;
	for (i = 0; i < p->o.helpers; i++)
		if (p->slots[i].failures < STORM_FAILURES)
			return 0;
	return 1;
}

/*
 * Everything time- and state-driven, once per loop: start helpers for
 * empty slots (after backoff) and replacements for those due, enforce
 * deadlines, close and kill drained helpers, check memory.  Returns the
 * milliseconds until the next thing is due.
 */
static long long
maintain(struct pool *p)
{
	struct helper	*h, *tmp;
	struct req	*r, *rtmp;
	struct slot	*s;
	long long	 now = proc_now_ms(), next = now + 1000;
	int		 i;

	if (now - p->rss_checked >= RSS_CHECK_MS && p->o.max_rss_mb > 0) {
		p->rss_checked = now;
		LIST_FOREACH(h, &p->helpers, entry) {
			h->rss_kb = procstat_rss_kb(h->pid);
			if (h->state == H_READY && h->slot >= 0 &&
			    !h->recycle && h->rss_kb > 1024L * p->o.max_rss_mb) {
				log_info("%s: helper %d uses %ld KiB: "
				    "recycling", __func__, (int)h->pid,
				    h->rss_kb);
				h->recycle = 1;
			}
		}
	}
	if (p->reload) {
		p->reload = 0;
		for (i = 0; i < p->o.helpers; i++)
			if (p->slots[i].cur != NULL)
				p->slots[i].cur->recycle = 1;
	}
	for (i = 0; i < p->o.helpers; i++) {
		s = &p->slots[i];
		if (now < s->start_at) {
			if (s->start_at < next)
				next = s->start_at;
			continue;
		}
		if (s->cur == NULL && s->next == NULL) {
			if ((s->cur = helper_spawn(p, i)) == NULL) {
				s->failures++;
				s->start_at = now + BACKOFF_MAX_MS;
			} else if (s->started++ > 0)
				p->restarts++;
		} else if (s->cur != NULL && s->cur->recycle &&
		    s->next == NULL)
			s->next = helper_spawn(p, i);
	}

	/* Deadlines of waiting requests: the service is overloaded. */
	TAILQ_FOREACH_SAFE(r, &p->queue, entry, rtmp) {
		if (r->deadline <= now) {
			TAILQ_REMOVE(&p->queue, r, entry);
			p->nqueued--;
			r->queued = 0;
			req_done(p, r, POOL_BUSY, "timed out waiting for an "
			    "extraction slot", NULL);
		} else if (r->deadline < next)
			next = r->deadline;
	}
	if (storm(p))
		while ((r = TAILQ_FIRST(&p->queue)) != NULL) {
			TAILQ_REMOVE(&p->queue, r, entry);
			p->nqueued--;
			r->queued = 0;
			req_done(p, r, POOL_BUSY, "no extraction helper is "
			    "running", NULL);
		}

	LIST_FOREACH_SAFE(h, &p->helpers, entry, tmp) {
		/* Work past its deadline: answer 504, replace the helper. */
		TAILQ_FOREACH_SAFE(r, &h->work, entry, rtmp) {
			if (r->deadline > now) {
				if (r->deadline < next)
					next = r->deadline;
				continue;
			}
			TAILQ_REMOVE(&h->work, r, entry);
			h->inflight--;
			p->inflight--;
			h->abandoned++;
			p->timeouts++;
			req_done(p, r, POOL_TIMEOUT, "extraction timed out",
			    NULL);
			if (h->slot >= 0) {
				log_warnx("%s: helper %d: extraction past "
				    "%d s: replacing it", __func__,
				    (int)h->pid, p->o.timeout);
				helper_drain(p, h);
			}
		}
		if (h->state == H_DRAINING && h->inflight == 0 &&
		    h->kill_at == 0) {
			if (h->abandoned > 0) {
				/* Stuck inside: nothing to wait for. */
				helper_lost(p, h, "killed");
				continue;
			}
			if (h->in != -1 && h->olen == 0) {
				close(h->in);	/* EOF: it exits */
				h->in = -1;
			}
			h->kill_at = now + DRAIN_KILL_MS;
		}
		if (h->kill_at != 0) {
			if (now >= h->kill_at) {
				helper_lost(p, h, h->state == H_STARTING ?
				    "did not start in time" :
				    "did not exit in time");
				continue;
			}
			if (h->kill_at < next)
				next = h->kill_at;
		}
	}
	dispatch(p);
	return next > now ? next - now : 0;
}

static void *
supervisor(void *arg)
{
	struct pool	 *p = arg;
	struct pollfd	 *pfd = NULL;
	struct helper	**who = NULL, *h, *tmp;
	int		 *what = NULL;
	size_t		  cap = 0, n, i;
	long long	  wait;
	char		  drain[256];
	int		  rc;

	pthread_mutex_lock(&p->mtx);
	while (!p->stopping) {
		wait = maintain(p);
		n = 1;
		LIST_FOREACH(h, &p->helpers, entry)
			n += 3;
		if (n > cap) {
			struct pollfd	 *np;
			struct helper	**nw;
			int		 *nt;

			/* Grown one at a time, so that a failure loses
			 * nothing: wait a little and try again. */
			if ((np = reallocarray(pfd, n * 2, sizeof(*pfd))) != NULL)
				pfd = np;
			if ((nw = reallocarray(who, n * 2, sizeof(*who))) != NULL)
				who = nw;
			if ((nt = reallocarray(what, n * 2, sizeof(*what))) !=
			    NULL)
				what = nt;
			if (np == NULL || nw == NULL || nt == NULL) {
				log_warnx("%s: out of memory", __func__);
				pthread_mutex_unlock(&p->mtx);
				usleep(100000);
				pthread_mutex_lock(&p->mtx);
				continue;
			}
			cap = n * 2;
		}
		pfd[0].fd = p->wake[0];
		pfd[0].events = POLLIN;
		n = 1;
		LIST_FOREACH(h, &p->helpers, entry) {
			if (h->out != -1) {
				pfd[n].fd = h->out;
				pfd[n].events = POLLIN;
				who[n] = h;
				what[n++] = 1;
			}
			if (h->err != -1) {
				pfd[n].fd = h->err;
				pfd[n].events = POLLIN;
				who[n] = h;
				what[n++] = 2;
			}
			if (h->in != -1 && h->olen > 0) {
				pfd[n].fd = h->in;
				pfd[n].events = POLLOUT;
				who[n] = h;
				what[n++] = 0;
			}
		}
		deliver(p);
		pthread_mutex_unlock(&p->mtx);
		rc = poll(pfd, n, wait > 1000 ? 1000 : (int)wait);
		pthread_mutex_lock(&p->mtx);
		if (rc <= 0)
			continue;
		if (pfd[0].revents & POLLIN)
			while (read(p->wake[0], drain, sizeof(drain)) > 0)
				continue;
		/* Helpers are freed only here, so who[] stays valid; a
		 * helper lost earlier in this pass is skipped by marking. */
		for (i = 1; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			LIST_FOREACH(h, &p->helpers, entry)
				if (h == who[i])
					break;
			if (h == NULL)
				continue;	/* lost in this pass */
			if (what[i] == 2)
				helper_stderr(h);
			else if (what[i] == 1) {
				if (helper_read(p, h) == -1) {
					helper_stderr(h);
					helper_lost(p, h, h->state ==
					    H_STARTING ? "failed to start" :
					    "exited");
				}
			} else if (helper_flush(h) == -1)
				helper_lost(p, h, "closed its input");
		}
		/* Write what became writable without waiting for POLLOUT. */
		LIST_FOREACH_SAFE(h, &p->helpers, entry, tmp)
			if (h->in != -1 && h->olen > 0 &&
			    helper_flush(h) == -1)
				helper_lost(p, h, "closed its input");
		deliver(p);
	}
	pthread_mutex_unlock(&p->mtx);
	free(pfd);
	free(who);
	free(what);
	return NULL;
}

/*
 * Make a pool; nothing starts until pool_start().  The options' strings
 * are copied.  Returns NULL on failure.
 */
struct pool *
pool_new(const struct pool_opts *o)
{
	struct pool	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->o = *o;
	p->wake[0] = p->wake[1] = -1;
	if (p->o.helpers < 1)
		p->o.helpers = 1;
	if (p->o.max_workers < 1)
		p->o.max_workers = 1;
	p->per_helper = (p->o.max_workers + p->o.helpers - 1) / p->o.helpers;
	p->python = strdup(o->python);
	p->script = strdup(o->script);
	p->pythonpath = o->pythonpath ? strdup(o->pythonpath) : NULL;
	p->proxy = o->proxy ? strdup(o->proxy) : NULL;
	p->cookies = o->cookies ? strdup(o->cookies) : NULL;
	p->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
	p->slots = calloc(p->o.helpers, sizeof(*p->slots));
	LIST_INIT(&p->helpers);
	TAILQ_INIT(&p->queue);
	TAILQ_INIT(&p->ended);
	pthread_mutex_init(&p->mtx, NULL);
	if (p->python == NULL || p->script == NULL || p->slots == NULL ||
	    (p->envp = build_env(p)) == NULL ||
	    pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) == -1) {
		pool_free(p);
		return NULL;
	}
	return p;
}

/* Start the supervisor, which starts the helpers.  0, or -1. */
int
pool_start(struct pool *p)
{
	sigset_t	 all, old;
	int		 rc;

	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&p->thread, NULL, supervisor, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	p->running = 1;
	return 0;
}

/*
 * Extract url with a helper.  done(arg, err, info, msg) is called exactly
 * once: by the supervisor when a helper answers, fails, or the deadline
 * passes (never later than the queue wait plus YTDLP_TIMEOUT), or at
 * once, from this call, when the pool cannot take the request.  On
 * POOL_OK info holds a reference that done takes over; msg, the pool's
 * reason otherwise (or NULL), lives until done returns.
 */
void
pool_extract(struct pool *p, const char *url, pool_done_fn done, void *arg)
{
	struct req	*r;
	const char	*why = NULL;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->url = strdup(url)) == NULL) {
		free(r);
		done(arg, POOL_OTHER, NULL, "out of memory");
		return;
	}
	r->done = done;
	r->arg = arg;
	pthread_mutex_lock(&p->mtx);
	if (p->stopping || !p->running)
		why = "shutting down";
	else if (p->nqueued >= p->o.queue_max +
	    (p->o.max_workers - p->inflight))
		why = "too many extractions waiting";
	else if (storm(p))
		why = "no extraction helper is running";
	if (why != NULL) {
		pthread_mutex_unlock(&p->mtx);
		done(arg, POOL_BUSY, NULL, why);
		free(r->url);
		free(r);
		return;
	}
	r->id = ++p->seq;
	r->queued = 1;
	r->deadline = proc_now_ms() + (long long)p->o.timeout * 1000;
	TAILQ_INSERT_TAIL(&p->queue, r, entry);
	p->nqueued++;
	wake(p);
	pthread_mutex_unlock(&p->mtx);
}

/* Replace every helper, gracefully (SIGHUP: pick up a new yt-dlp). */
void
pool_reload(struct pool *p)
{
	pthread_mutex_lock(&p->mtx);
	p->reload = 1;
	wake(p);
	pthread_mutex_unlock(&p->mtx);
}

void
pool_stats(struct pool *p, struct pool_stats *st)
{
	struct helper	*h;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&p->mtx);
	LIST_FOREACH(h, &p->helpers, entry) {
		if (h->state == H_READY && h->slot >= 0)
			st->helpers++;
		if (h->inflight > 0)
			st->busy++;
		if (h->rss_kb > 0)
			st->rss_kb += h->rss_kb;
	}
	st->inflight = p->inflight;
	st->queued = p->nqueued;
	st->max_concurrency = p->o.max_workers;
	st->restarts = p->restarts;
	st->timeouts = p->timeouts;
	st->crashes = p->crashes;
	st->requests = p->requests;
	st->outdated = p->unreadable >= OUTDATED_STREAK;
	st->blocking = pool_refused(p) >= BLOCK_POSTS;
	pthread_mutex_unlock(&p->mtx);
	if (st->rss_kb == 0) {
		/* Fresh numbers when the supervisor has not read them. */
		pthread_mutex_lock(&p->mtx);
		LIST_FOREACH(h, &p->helpers, entry)
			st->rss_kb += procstat_rss_kb(h->pid);
		pthread_mutex_unlock(&p->mtx);
	}
}

/* The yt-dlp version the last helper reported; caller frees; or NULL. */
char *
pool_version(struct pool *p)
{
	char	*v;

	pthread_mutex_lock(&p->mtx);
	v = p->version ? strdup(p->version) : NULL;
	pthread_mutex_unlock(&p->mtx);
	return v;
}

/*
 * Days since a yt-dlp release, from its version (YYYY.MM.DD, maybe with
 * a build number after it); -1 when the version says no date.
 */
int
pool_version_age(const char *version, time_t now)
{
	struct tm	 tm;
	int		 y, m, d, n = 0;
	time_t		 rel;

	if (version == NULL || sscanf(version, "%4d.%2d.%2d%n", &y, &m, &d,
	    &n) != 3 || n < 8 || y < 2000 || m < 1 || m > 12 || d < 1 ||
	    d > 31)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	if ((rel = timegm(&tm)) == (time_t)-1 || rel > now)
		return rel > now ? 0 : -1;
	return (int)((now - rel) / 86400);
}

/*
 * Stop: fail what waits (its callers are told: "shutting down"), close
 * every helper's input, give them a moment to exit, then kill their
 * process groups and reap them.  No helper is left behind.  The pool
 * stays valid: later extractions fail at once.  Safe to call again.
 */
void
pool_stop(struct pool *p)
{
	struct helper	*h;
	struct req	*r;
	long long	 end;
	int		 alive, status;

	if (p == NULL)
		return;
	if (p->running) {
		pthread_mutex_lock(&p->mtx);
		p->stopping = 1;
		wake(p);
		pthread_mutex_unlock(&p->mtx);
		pthread_join(p->thread, NULL);
		p->running = 0;
	}
	pthread_mutex_lock(&p->mtx);
	while ((r = TAILQ_FIRST(&p->queue)) != NULL) {
		TAILQ_REMOVE(&p->queue, r, entry);
		p->nqueued--;
		r->queued = 0;
		req_done(p, r, POOL_BUSY, "shutting down", NULL);
	}
	LIST_FOREACH(h, &p->helpers, entry) {
		while ((r = TAILQ_FIRST(&h->work)) != NULL) {
			TAILQ_REMOVE(&h->work, r, entry);
			p->inflight--;
			req_done(p, r, POOL_BUSY, "shutting down", NULL);
		}
		h->inflight = 0;
		h->state = H_DRAINING;
		if (h->in != -1) {
			close(h->in);
			h->in = -1;
		}
		kill(-h->pid, SIGTERM);
	}
	deliver(p);
	end = proc_now_ms() + 2000;
	do {
		alive = 0;
		LIST_FOREACH(h, &p->helpers, entry)
			if (h->pid > 0) {
				if (waitpid(h->pid, &status, WNOHANG) ==
				    h->pid)
					h->pid = -h->pid; /* reaped */
				else
					alive++;
			}
		if (alive > 0)
			usleep(20000);
	} while (alive > 0 && proc_now_ms() < end);
	while ((h = LIST_FIRST(&p->helpers)) != NULL) {
		if (h->pid > 0)
			helper_lost(p, h, "killed at shutdown");
		else {
			LIST_REMOVE(h, entry);
			if (h->out != -1)
				close(h->out);
			if (h->err != -1)
				close(h->err);
			free(h->obuf);
			free(h->ibuf);
			free(h->version);
			free(h);
		}
	}
	deliver(p);
	pthread_mutex_unlock(&p->mtx);
}

/* Stop (pool_stop) and free.  pool_free(NULL) is a no-op. */
void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	pool_stop(p);
	if (p->wake[0] != -1)
		close(p->wake[0]);
	if (p->wake[1] != -1)
		close(p->wake[1]);
	pthread_mutex_destroy(&p->mtx);
	free_env(p->envp);
	free(p->slots);
	free(p->python);
	free(p->script);
	free(p->pythonpath);
	free(p->proxy);
	free(p->cookies);
	free(p->ca_file);
	free(p->version);
	free(p);
}
