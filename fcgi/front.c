/* SPDX-License-Identifier: ISC */
/*
 * The FastCGI front.  A connection reaches us from the acceptor with its
 * whole request (BEGIN_REQUEST, PARAMS, STDIN) already in the socket, so
 * libfcgi reads it without waiting on the peer.  Two sets of worker
 * threads take connections from two queues:
 *
 *   fast   read the request (FCGX_Accept_r), dispatch it, shape answers:
 *          short, CPU-bound work; a few threads per core
 *   slow   streams, renders, short links: up to FCGI_THREADS threads,
 *          started as the work needs them (SLOW_START at first: an idle
 *          thread still costs its stack pages and more)
 *
 * A request that must wait (an extraction) parks: the handler returns,
 * the thread goes back to its set, and whoever ends the wait queues the
 * continuation (front_later).  Thousands may wait at once, so a parked
 * request gives back libfcgi's streams and keeps its params (slim()):
 * its answer goes out as records of our own.  A connection is held by at most one
 * thread at a time: a continuation asked for while a thread still holds
 * it runs after that thread lets go (settle()).
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fastcgi.h>
#include <fcgiapp.h>

#include "app.h"
#include "handlers.h"
#include "front.h"
#include "http.h"
#include "log.h"
#include "record.h"

#define RECORD_MAX	65528	/* FastCGI content per record, 8-aligned */
#define DIRECT_MIN	4096	/* writes this large skip libfcgi's buffer */

struct conn {
	FCGX_Request		 req;
	struct http		*h;
	int			 fd;
	int			 started;	/* request read */
	char			*obuf;		/* slim: output held back */
	size_t			 olen;
	pthread_mutex_t		 mtx;
	int			 running;	/* a thread holds it, or queued */
	void			(*fn)(void *);	/* continuation asked for */
	void			*arg;
	enum http_kind		 kind;
	TAILQ_ENTRY(conn)	 entry;
};
TAILQ_HEAD(connq, conn);

struct workers {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;
	struct connq		 queue;
	int			 stop;
	int			 n;		/* started */
	int			 max;
	int			 idle;		/* waiting for work */
	int			 queued;
	pthread_attr_t		 attr;
	pthread_t		*threads;
};

#define SLOW_START	4	/* slow threads started at once */

static struct app		*app;
static struct workers		 work[2];	/* HTTP_FAST, HTTP_SLOW */
static int			 inflight;	/* __atomic: taken, not ended */
static int			 cutting;	/* __atomic: stop long work */

/* -- the http_io adapter ------------------------------------------------ */

static const char *
front_param(void *ctx, const char *name)
{
	return FCGX_GetParam(name, ((struct conn *)ctx)->req.envp);
}

static ssize_t
front_read(void *ctx, void *buf, size_t len)
{
	struct conn	*c = ctx;
	int		 n;

	if (c->req.in == NULL)		/* slim: read whole before */
		return 0;
	if (len > 1 << 30)
		len = 1 << 30;
	n = FCGX_GetStr(buf, (int)len, c->req.in);
	if (n < 0)
		return -1;
	return n;
}

/*
 * len bytes as STDOUT records of up to RECORD_MAX straight to the
 * socket, each header and its content in one writev: no copy, and an
 * eighth of the records and system calls of libfcgi's 8 KB buffer.
 * Whatever libfcgi buffered went out before (FCGX_FFlush).  0, or -1 as
 * front_write.
 */
static int
put_records(struct conn *c, const char *p, size_t len)
{
	FCGI_Header	 hd;
	struct iovec	 iov[2];
	size_t		 n, skip;
	ssize_t		 w;

	memset(&hd, 0, sizeof(hd));
	hd.version = FCGI_VERSION_1;
	hd.type = FCGI_STDOUT;
	hd.requestIdB1 = (unsigned char)((c->req.requestId >> 8) & 0xff);
	hd.requestIdB0 = (unsigned char)(c->req.requestId & 0xff);
	while (len > 0) {
		n = len > RECORD_MAX ? RECORD_MAX : len;
		hd.contentLengthB1 = (unsigned char)((n >> 8) & 0xff);
		hd.contentLengthB0 = (unsigned char)(n & 0xff);
		for (skip = 0; skip < FCGI_HEADER_LEN + n; skip += (size_t)w) {
			if (skip < FCGI_HEADER_LEN) {
				iov[0].iov_base = (char *)&hd + skip;
				iov[0].iov_len = FCGI_HEADER_LEN - skip;
				iov[1].iov_base = (void *)(uintptr_t)p;
				iov[1].iov_len = n;
				w = writev(c->req.ipcFd, iov, 2);
			} else
				w = write(c->req.ipcFd, p + (skip -
				    FCGI_HEADER_LEN), n - (skip -
				    FCGI_HEADER_LEN));
			if (w == -1 && errno == EINTR)
				w = 0;
			else if (w <= 0)
				return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* A slim request's output held back: out as one record.  0, or -1. */
static int
slim_flush(struct conn *c)
{
	size_t	 n = c->olen;

	c->olen = 0;
	return n == 0 ? 0 : put_records(c, c->obuf, n);
}

/* Output of a slim request: small writes gathered, large ones direct. */
static int
slim_write(struct conn *c, const char *p, size_t len)
{
	if (c->olen + len > DIRECT_MIN && slim_flush(c) == -1)
		return -1;
	if (len >= DIRECT_MIN)
		return put_records(c, p, len);
	if (c->obuf == NULL && (c->obuf = malloc(DIRECT_MIN)) == NULL)
		return -1;
	memcpy(c->obuf + c->olen, p, len);
	c->olen += len;
	return 0;
}

/*
 * FCGX_PutStr buffers into FastCGI records; -1 (or a short count) means
 * the web server closed the connection, or did not read for SEND_TIMEOUT
 * (the socket's SO_SNDTIMEO): the client went away, or stalls.  Large
 * writes (a stream's body) skip the buffer (put_records).
 */
static int
front_write(void *ctx, const void *buf, size_t len)
{
	struct conn	*c = ctx;
	const char	*p = buf;
	int		 chunk, n;

	if (c->req.out == NULL)
		return slim_write(c, p, len);
	if (len >= DIRECT_MIN)
		return FCGX_FFlush(c->req.out) == -1 ? -1 :
		    put_records(c, p, len);
	while (len > 0) {
		chunk = len > (1 << 20) ? (1 << 20) : (int)len;
		n = FCGX_PutStr(p, chunk, c->req.out);
		if (n != chunk)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
front_flush(void *ctx)
{
	struct conn	*c = ctx;

	if (c->req.out == NULL)
		return slim_flush(c);
	return FCGX_FFlush(c->req.out) == -1 ? -1 : 0;
}

/*
 * With keep-alive off, nginx (and the others) close the FastCGI
 * connection when their client goes away: the socket turns readable at
 * end of file.  The request body was read already, so anything readable
 * that is not data means gone.  At a stop past its deadline every client
 * counts as gone, so that long work ends.
 */
static int
front_gone(void *ctx)
{
	struct conn	*c = ctx;
	struct pollfd	 pfd;
	char		 ch;

	if (__atomic_load_n(&cutting, __ATOMIC_RELAXED))
		return 1;
	pfd.fd = c->req.ipcFd;
	pfd.events = POLLIN | POLLRDHUP;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))
		return 1;
	return recv(c->req.ipcFd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void	 enqueue(enum http_kind, struct conn *);

/* Continue c with fn(arg); see http_later(). */
static void
front_later(void *ctx, enum http_kind kind, void (*fn)(void *), void *arg)
{
	struct conn	*c = ctx;
	int		 go;

	pthread_mutex_lock(&c->mtx);
	c->fn = fn;
	c->arg = arg;
	c->kind = kind;
	if ((go = !c->running))
		c->running = 1;
	pthread_mutex_unlock(&c->mtx);
	if (go)
		enqueue(kind, c);
}

static const struct http_io front_io = {
	front_param,
	front_read,
	front_write,
	front_flush,
	front_gone,
	front_later
};

/* -- connections ---------------------------------------------------------- */

static int	 workers_grow(struct workers *, int);

static void
enqueue(enum http_kind kind, struct conn *c)
{
	struct workers		*p = &work[kind];

	pthread_mutex_lock(&p->mtx);
	TAILQ_INSERT_TAIL(&p->queue, c, entry);
	/* Work beyond the threads waiting for it: one more, if allowed
	 * (if none can start, the work waits for one to be free). */
	if (++p->queued > p->idle && p->n < p->max && !p->stop)
		workers_grow(p, 1);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mtx);
}

/*
 * A connection whose request arrived whole (the acceptor saw to it):
 * queue it for a fast worker.  We own fd from here on.
 */
void
front_take(int fd)
{
	struct conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("%s: out of memory", __func__);
		close(fd);
		return;
	}
	c->fd = fd;
	c->running = 1;
	pthread_mutex_init(&c->mtx, NULL);
	__atomic_add_fetch(&inflight, 1, __ATOMIC_RELAXED);
	enqueue(HTTP_FAST, c);
}

/*
 * A request that parks gives back libfcgi's streams: its input was read
 * whole (the acceptor saw to it; what a handler left is read here), and
 * nothing of its output is held, or it goes now.  Of the two 8 KB
 * buffers each touched a page or two: 10,000 requests waiting for their
 * posts kept some 80 MB.  The params stay, in their own allocations.
 */
static void
slim(struct conn *c)
{
	char	 buf[512];

	while (FCGX_GetStr(buf, sizeof(buf), c->req.in) > 0)
		continue;
	FCGX_FFlush(c->req.out);
	FCGX_FreeStream(&c->req.in);
	FCGX_FreeStream(&c->req.out);
	FCGX_FreeStream(&c->req.err);
}

/*
 * A slim request's end, as libfcgi's FCGX_Finish_r would send it: what
 * is held back, an empty STDOUT record, END_REQUEST.  (FCGX_Finish_r
 * then only frees the params and closes: it closes streams only while
 * the input one is there.)
 */
static void
slim_end(struct conn *c)
{
	unsigned char	 rec[24];
	size_t		 n, off;
	ssize_t		 w;

	if (slim_flush(c) == -1)
		return;
	n = record_end_answer(c->req.requestId, rec, sizeof(rec));
	for (off = 0; off < n; off += (size_t)w)
		if ((w = write(c->req.ipcFd, rec + off, n - off)) == -1 &&
		    errno == EINTR)
			w = 0;
		else if (w <= 0)
			return;
}

/*
 * The end: answer out, END_REQUEST sent, the connection closed, even when
 * the web server asked to keep it (FCGI_KEEP_CONN): nobody would read
 * its next request, and the descriptor would stay open for good.
 */
static void
conn_end(struct conn *c)
{
	http_free(c->h);
	c->req.keepConnection = 0;
	if (c->started && c->req.out == NULL)
		slim_end(c);
	if (c->started)
		FCGX_Finish_r(&c->req);
	else if (c->req.ipcFd >= 0)
		close(c->req.ipcFd);
	pthread_mutex_destroy(&c->mtx);
	free(c->obuf);
	free(c);
	__atomic_sub_fetch(&inflight, 1, __ATOMIC_RELEASE);
}

/*
 * Read the request and dispatch it.  FCGX_Accept_r is given the
 * connection instead of accepting one: libfcgi reads from an ipcFd that
 * is already set, and keepConnection set beforehand keeps the
 * FCGX_Finish_r it runs first from closing it (the request's own flags
 * replace it when BEGIN_REQUEST is read).
 */
static void
conn_begin(struct conn *c)
{
	FCGX_InitRequest(&c->req, -1, 0);
	c->req.ipcFd = c->fd;
	c->req.keepConnection = 1;
	if (FCGX_Accept_r(&c->req) != 0) {
		/* Not FastCGI, or cut short: libfcgi closed it. */
		log_debug("%s: a malformed request was dropped", __func__);
		return;
	}
	c->started = 1;
	if ((c->h = http_new(&front_io, c)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return;
	}
	router_dispatch(app, c->h);
}

/* Run the continuation asked for, and finish the request if it ends. */
static void
conn_continue(struct conn *c)
{
	void	(*fn)(void *);
	void	*arg;

	pthread_mutex_lock(&c->mtx);
	fn = c->fn;
	arg = c->arg;
	c->fn = NULL;
	pthread_mutex_unlock(&c->mtx);
	http_unpark(c->h);
	fn(arg);
	if (!http_parked(c->h))
		router_finish(app, c->h);
}

/*
 * A worker lets go of c: queue the continuation asked for meanwhile,
 * leave it parked (slim), or end it.
 */
static void
settle(struct conn *c)
{
	enum http_kind	 kind;
	int		 asked;

	if (c->h != NULL && http_parked(c->h) && c->req.out != NULL) {
		pthread_mutex_lock(&c->mtx);
		asked = c->fn != NULL;
		pthread_mutex_unlock(&c->mtx);
		if (!asked)
			slim(c);
	}
	pthread_mutex_lock(&c->mtx);
	if (c->fn != NULL) {
		kind = c->kind;
		pthread_mutex_unlock(&c->mtx);
		enqueue(kind, c);
		return;
	}
	if (c->h != NULL && http_parked(c->h)) {
		c->running = 0;
		pthread_mutex_unlock(&c->mtx);
		return;
	}
	pthread_mutex_unlock(&c->mtx);
	conn_end(c);
}

static void *
worker(void *arg)
{
	struct workers		*p = arg;
	struct conn		*c;
	int			 fresh;

	for (;;) {
		pthread_mutex_lock(&p->mtx);
		p->idle++;
		while ((c = TAILQ_FIRST(&p->queue)) == NULL && !p->stop)
			pthread_cond_wait(&p->cv, &p->mtx);
		p->idle--;
		if (c == NULL) {
			pthread_mutex_unlock(&p->mtx);
			break;
		}
		TAILQ_REMOVE(&p->queue, c, entry);
		p->queued--;
		pthread_mutex_unlock(&p->mtx);
		__atomic_add_fetch(&app->threads_busy, 1, __ATOMIC_RELAXED);
		pthread_mutex_lock(&c->mtx);
		fresh = c->fn == NULL;
		pthread_mutex_unlock(&c->mtx);
		if (fresh)
			conn_begin(c);
		else
			conn_continue(c);
		settle(c);
		__atomic_sub_fetch(&app->threads_busy, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * Start n more threads of p (called with p->mtx held, or before any
 * thread runs).  Workers take no signals: the main thread's sigwait
 * does.  Returns how many started.
 */
static int
workers_grow(struct workers *p, int n)
{
	sigset_t	 all, old;
	int		 i, rc = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < n && p->n < p->max; i++) {
		if ((rc = pthread_create(&p->threads[p->n], &p->attr, worker,
		    p)) != 0)
			break;
		p->n++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		log_warnx("%s: %d threads, no more: %s", __func__, p->n,
		    strerror(rc));
	return i;
}

/* Workers, at most max threads, start of them started now.  0, or -1. */
static int
workers_start(struct workers *p, int max, int start,
    const struct front_opts *o)
{
	pthread_mutex_init(&p->mtx, NULL);
	pthread_cond_init(&p->cv, NULL);
	TAILQ_INIT(&p->queue);
	pthread_attr_init(&p->attr);
	pthread_attr_setstacksize(&p->attr, (size_t)o->stack_kb * 1024);
	p->max = max;
	if ((p->threads = calloc((size_t)max, sizeof(*p->threads))) == NULL)
		return -1;
	pthread_mutex_lock(&p->mtx);
	workers_grow(p, start);
	pthread_mutex_unlock(&p->mtx);
	return p->n > 0 ? 0 : -1;
}

/* Start both sets of workers (the slow one grows with its work).  0, or
 * -1. */
int
front_start(struct app *a, const struct front_opts *o)
{
	int	 rc;

	app = a;
	rc = workers_start(&work[HTTP_FAST], o->fast_threads,
	    o->fast_threads, o);
	if (rc == 0)
		rc = workers_start(&work[HTTP_SLOW], o->slow_threads,
		    o->slow_threads < SLOW_START ? o->slow_threads :
		    SLOW_START, o);
	app->threads_max = work[HTTP_FAST].max + work[HTTP_SLOW].max;
	return rc;
}

/* Requests taken and not yet ended (parked ones included). */
int
front_inflight(void)
{
	return __atomic_load_n(&inflight, __ATOMIC_ACQUIRE);
}

/* Stop long work now: every client counts as gone from here on. */
void
front_cut(void)
{
	__atomic_store_n(&cutting, 1, __ATOMIC_RELAXED);
}

/* Let the workers finish what is queued, then join them. */
void
front_stop(void)
{
	int	 k, i;

	for (k = 0; k < 2; k++) {
		pthread_mutex_lock(&work[k].mtx);
		work[k].stop = 1;
		pthread_cond_broadcast(&work[k].cv);
		pthread_mutex_unlock(&work[k].mtx);
	}
	for (k = 0; k < 2; k++) {
		/* No thread starts after stop: n is final under the lock. */
		pthread_mutex_lock(&work[k].mtx);
		work[k].max = work[k].n;
		pthread_mutex_unlock(&work[k].mtx);
		for (i = 0; i < work[k].n; i++)
			pthread_join(work[k].threads[i], NULL);
		free(work[k].threads);
		work[k].threads = NULL;
		work[k].n = 0;
		pthread_attr_destroy(&work[k].attr);
	}
}
