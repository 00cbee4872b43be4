/* SPDX-License-Identifier: ISC */
/*
 * The acceptor: one thread, one epoll set, never blocked by a peer.  It
 * drains the listening socket as fast as connections arrive, and keeps
 * each new connection until its request is in the socket (seen with
 * MSG_PEEK: libfcgi reads it afterwards; record.c says when), then hands
 * it to the front (front_take).  A request larger than a socket holds
 * (over TCP, some 64 KB) is handed on once its PARAMS and a part of its
 * body are in, and one whose announced body is over BODY_MAX at once
 * (413), so no request waits for bytes its peer cannot send.  Sockets
 * are watched edge-triggered: a connection holding half a request costs
 * nothing until more of it comes.  A connection that does not deliver
 * its request within READ_TIMEOUT, closes, or speaks something else is
 * closed: it costs only itself.  FCGI_GET_VALUES is answered here, and a
 * request in a role other than RESPONDER refused (FCGI_UNKNOWN_ROLE).
 */
#include "config.h"

#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fastcgi.h>

#include "front.h"
#include "log.h"
#include "proc.h"
#include "record.h"

#define MAX_EVENTS	256
#define PAUSE_MS	100	/* out of descriptors: accept again after */
#define DRAIN_MS	2000	/* at a stop, for requests still arriving */
#define PEEK_MAX	(128 * 1024)	/* PARAMS must be in within this */
#define HANDON		(32 * 1024)	/* then the worker reads the rest */

/* A connection whose request is still arriving. */
struct pending {
	int			 fd;
	long long		 deadline;	/* monotonic ms */
	TAILQ_ENTRY(pending)	 entry;		/* oldest first */
};
TAILQ_HEAD(pendingq, pending);

static struct {
	struct acceptor_opts	 o;
	int			 ep;
	int			 wake[2];
	pthread_t		 thread;
	struct pendingq		 pending;
	unsigned char		*buf;
	long long		 max_conns;
	int			 paused;
	long long		 resume_at;
	long long		 drain_until;	/* stopping: 0 while serving */
} acc = { .ep = -1, .wake = { -1, -1 } };

static char	 listen_tag, wake_tag;	/* epoll data for the two fds */

enum framing { F_MORE, F_WHOLE, F_BAD };

/* Write all of a short answer to a peer (non-blocking: a peer that does
 * not take 200 bytes is closed anyway).  0, or -1. */
static int
answer(int fd, const unsigned char *p, size_t len)
{
	ssize_t	 w;

	while (len > 0) {
		if ((w = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Has the request arrived (record.c)?  Management records that come
 * first are taken off the socket and answered here; a request in a role
 * we do not play is refused.
 */
static enum framing
framing(int fd)
{
	struct record_scan	 rs;
	unsigned char		 out[256];
	size_t			 len;
	ssize_t			 n;

	for (;;) {
		n = recv(fd, acc.buf, PEEK_MAX, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0)
			return F_BAD;	/* closed before asking anything */
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? F_MORE :
			    F_BAD;
		record_scan(acc.buf, (size_t)n, acc.o.body_max, HANDON, &rs);
		switch (rs.verdict) {
		case RECORD_WHOLE:
			return F_WHOLE;
		case RECORD_MORE:
			/* PARAMS larger than we take: not a request of a
			 * web server. */
			return n >= PEEK_MAX ? F_BAD : F_MORE;
		case RECORD_VALUES:
		case RECORD_MANAGEMENT:
			len = rs.verdict == RECORD_VALUES ?
			    record_values(acc.buf, rs.first, acc.max_conns, out,
			    sizeof(out)) : record_unknown_type(rs.type, out,
			    sizeof(out));
			if (recv(fd, acc.buf, rs.first, MSG_DONTWAIT) !=
			    (ssize_t)rs.first || answer(fd, out, len) == -1)
				return F_BAD;
			continue;	/* a request may follow */
		case RECORD_ROLE:
			log_debug("%s: a request in another role than "
			    "RESPONDER: refused", __func__);
			len = record_end_request(rs.request_id,
			    FCGI_UNKNOWN_ROLE, out, sizeof(out));
			/* Taken off the socket first: closing on unread
			 * bytes would reset the connection, answer and all. */
			if (recv(fd, acc.buf, (size_t)n, MSG_DONTWAIT) == n)
				(void)answer(fd, out, len);
			return F_BAD;
		default:
			return F_BAD;
		}
	}
}

/* Done with a pending connection: hand it on, or close it. */
static void
release(struct pending *p, int whole)
{
	struct timeval	 tv;
	int		 fl;

	epoll_ctl(acc.ep, EPOLL_CTL_DEL, p->fd, NULL);
	TAILQ_REMOVE(&acc.pending, p, entry);
	if (!whole) {
		close(p->fd);
		free(p);
		return;
	}
	/* Blocking from here on, with deadlines: reads (what is left of
	 * the request) and writes (a web server that stops reading). */
	if ((fl = fcntl(p->fd, F_GETFL)) != -1)
		fcntl(p->fd, F_SETFL, fl & ~O_NONBLOCK);
	tv.tv_sec = acc.o.read_timeout;
	tv.tv_usec = 0;
	setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	tv.tv_sec = acc.o.send_timeout;
	setsockopt(p->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	front_take(p->fd);
	free(p);
}

static void
pause_accepting(int on)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = on ? 0 : EPOLLIN;
	ev.data.ptr = &listen_tag;
	epoll_ctl(acc.ep, EPOLL_CTL_MOD, acc.o.fd, &ev);
	acc.paused = on;
	acc.resume_at = on ? proc_now_ms() + PAUSE_MS : 0;
}

/* Take every connection waiting in the backlog. */
static void
accept_all(void)
{
	struct epoll_event	 ev;
	struct pending		*p;
	int			 fd;
	static int		 warned;

	for (;;) {
		fd = accept4(acc.o.fd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				if (!warned++)
					log_warn("%s: accept (raise the "
					    "descriptor limit)", __func__);
				pause_accepting(1);
			}
			return;
		}
		if ((p = calloc(1, sizeof(*p))) == NULL) {
			close(fd);
			continue;
		}
		p->fd = fd;
		p->deadline = proc_now_ms() +
		    (long long)acc.o.read_timeout * 1000;
		memset(&ev, 0, sizeof(ev));
		/* Edge-triggered: woken when more comes, not again and
		 * again for what is there already. */
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
		ev.data.ptr = p;
		if (epoll_ctl(acc.ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
			close(fd);
			free(p);
			continue;
		}
		TAILQ_INSERT_TAIL(&acc.pending, p, entry);
		/* Usually the request came with the connection. */
		switch (framing(fd)) {
		case F_WHOLE:
			release(p, 1);
			break;
		case F_BAD:
			release(p, 0);
			break;
		default:
			break;
		}
	}
}

/*
 * A stop: take what waits in the backlog (its web server sent those
 * requests already: dropping them would lose them, and a POST is not
 * retried elsewhere), then close the listening socket, so that new
 * connections are refused at once and a balancer goes elsewhere.  The
 * requests still arriving get DRAIN_MS to arrive.
 */
static void
drain(void)
{
	char	 c[16];

	while (read(acc.wake[0], c, sizeof(c)) > 0)
		continue;
	if (acc.drain_until != 0)
		return;
	acc.paused = 0;
	accept_all();
	epoll_ctl(acc.ep, EPOLL_CTL_DEL, acc.o.fd, NULL);
	close(acc.o.fd);
	acc.o.fd = -1;
	acc.drain_until = proc_now_ms() + DRAIN_MS;
}

static void *
acceptor(void *arg)
{
	struct epoll_event	 evs[MAX_EVENTS];
	struct pending		*p;
	long long		 now, wait;
	int			 n, i;
	enum framing		 f;

	(void)arg;
	for (;;) {
		now = proc_now_ms();
		/* Deadlines: the oldest first, so the head is enough. */
		while ((p = TAILQ_FIRST(&acc.pending)) != NULL &&
		    p->deadline <= now) {
			log_debug("%s: no whole request in %d s: closed",
			    __func__, acc.o.read_timeout);
			release(p, 0);
		}
		if (acc.drain_until != 0 && (TAILQ_EMPTY(&acc.pending) ||
		    now >= acc.drain_until))
			return NULL;	/* stopping: nothing more to wait for */
		if (acc.paused && now >= acc.resume_at && acc.o.fd != -1)
			pause_accepting(0);
		wait = 1000;
		if ((p = TAILQ_FIRST(&acc.pending)) != NULL &&
		    p->deadline - now < wait)
			wait = p->deadline - now;
		if (acc.paused && acc.resume_at - now < wait)
			wait = acc.resume_at - now;
		if (acc.drain_until != 0 && acc.drain_until - now < wait)
			wait = acc.drain_until - now;
		n = epoll_wait(acc.ep, evs, MAX_EVENTS, (int)(wait < 0 ? 0 :
		    wait));
		if (n == -1 && errno != EINTR) {
			log_warn("%s: epoll_wait", __func__);
			usleep(10000);
			continue;
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &wake_tag) {
				drain();
				continue;
			}
			if (evs[i].data.ptr == &listen_tag) {
				accept_all();
				continue;
			}
			p = evs[i].data.ptr;
			if ((f = framing(p->fd)) != F_MORE)
				release(p, f == F_WHOLE);
			else if (evs[i].events & (EPOLLRDHUP | EPOLLHUP |
			    EPOLLERR))
				release(p, 0);	/* half a request, then gone */
		}
	}
}

/*
 * The kernel's somaxconn: the largest backlog listen() grants, and ours
 * unless LISTEN_BACKLOG says otherwise.
 */
static int
somaxconn(void)
{
	FILE	*f;
	int	 n = 4096;

	if ((f = fopen("/proc/sys/net/core/somaxconn", "r")) != NULL) {
		if (fscanf(f, "%d", &n) != 1 || n < 1)
			n = 4096;
		fclose(f);
	}
	return n;
}

/*
 * Take over the listening socket (ours, spawn-fcgi's or systemd's): its
 * backlog set again to LISTEN_BACKLOG, non-blocking, watched by the
 * acceptor thread.  0, or -1.
 */
int
acceptor_start(const struct acceptor_opts *o)
{
	struct epoll_event	 ev;
	struct rlimit		 rl;
	sigset_t		 all, old;
	int			 fl, rc, backlog;

	acc.o = *o;
	TAILQ_INIT(&acc.pending);
	backlog = o->backlog > 0 ? o->backlog : somaxconn();
	if (listen(o->fd, backlog) == -1)
		log_warn("%s: listen(%d)", __func__, backlog);
	if ((fl = fcntl(o->fd, F_GETFL)) == -1 ||
	    fcntl(o->fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		acc.max_conns = (long long)rl.rlim_cur / 2;
	else
		acc.max_conns = 65536;
	if ((acc.buf = malloc(PEEK_MAX)) == NULL ||
	    (acc.ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    pipe2(acc.wake, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &listen_tag;
	if (epoll_ctl(acc.ep, EPOLL_CTL_ADD, o->fd, &ev) == -1)
		return -1;
	ev.data.ptr = &wake_tag;
	if (epoll_ctl(acc.ep, EPOLL_CTL_ADD, acc.wake[0], &ev) == -1)
		return -1;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&acc.thread, NULL, acceptor, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	log_info("%s: listening, backlog %d", __func__, backlog);
	return 0;
}

/*
 * Stop taking connections (drain): what waits in the backlog is taken,
 * the listening socket closed, requests still arriving given DRAIN_MS.
 * Those taken go on.  Returns when the acceptor thread is done.
 */
void
acceptor_stop(void)
{
	struct pending	*p;
	char		 c = 1;

	if (acc.ep == -1)
		return;
	if (write(acc.wake[1], &c, 1) == -1)
		log_warn("%s: write", __func__);
	pthread_join(acc.thread, NULL);
	while ((p = TAILQ_FIRST(&acc.pending)) != NULL)
		release(p, 0);
	if (acc.o.fd != -1)
		close(acc.o.fd);
	close(acc.ep);
	close(acc.wake[0]);
	close(acc.wake[1]);
	acc.ep = -1;
	free(acc.buf);
	acc.buf = NULL;
}
