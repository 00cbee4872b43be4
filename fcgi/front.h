/* SPDX-License-Identifier: ISC */
/*
 * The FastCGI front: connections taken from the acceptor (acceptor.c)
 * once their request has arrived whole, answered by two sets of worker
 * threads (fast work: parse, cache, shape; slow work: streams, renders),
 * and parked, holding no thread, while they wait (http_park).  The
 * request/response interface of src/http.h is implemented here over
 * libfcgi's FCGX streams.
 */
#ifndef FRONT_H
#define FRONT_H

#include <stddef.h>

struct app;

struct front_opts {
	int	 fast_threads;
	int	 slow_threads;	/* FCGI_THREADS */
	int	 stack_kb;
};

int	 front_start(struct app *, const struct front_opts *);
void	 front_take(int fd);
int	 front_inflight(void);
void	 front_cut(void);
void	 front_stop(void);

/* The acceptor: one thread, never blocked by a peer. */
struct acceptor_opts {
	int	 fd;		/* listening socket */
	int	 backlog;	/* LISTEN_BACKLOG (0: somaxconn) */
	int	 read_timeout;	/* s for a request to arrive whole */
	int	 send_timeout;	/* s a write to the web server may block */
	long long body_max;	/* BODY_MAX: a larger body is refused */
};

int	 acceptor_start(const struct acceptor_opts *);
void	 acceptor_stop(void);

/* The sockets we bind ourselves (listener.c). */
int	 listener_unix(const char *path, int backlog, int check,
	    char *err, size_t errsz);
int	 listener_tcp(const char *spec, int backlog, int check, char *err,
	    size_t errsz);

#endif /* FRONT_H */
