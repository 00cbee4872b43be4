/* SPDX-License-Identifier: ISC */
/*
 * FastCGI records as the acceptor sees them (record.c): what the bytes a
 * connection holds so far say about its request, without reading them
 * (libfcgi reads them afterwards), and the few records the acceptor
 * answers itself: FCGI_GET_VALUES (a management record, which arrives
 * outside any request) and a request in a role we do not play; and the
 * end of an answer, which the front sends itself for a request that
 * parked (front.c).
 *
 * Used by acceptor.c and front.c; a parser of a peer's bytes, fuzzed
 * (tests/fuzz/fuzz_record.c).
 */
#ifndef RECORD_H
#define RECORD_H

#include <stddef.h>

#define RECORD_HEADER	8

enum record_verdict {
	RECORD_MORE,		/* wait for more bytes */
	RECORD_WHOLE,		/* hand the request on */
	RECORD_BAD,		/* not FastCGI as we take it: close */
	RECORD_VALUES,		/* a GET_VALUES record first: answer it */
	RECORD_MANAGEMENT,	/* another management record first */
	RECORD_ROLE		/* a role other than RESPONDER: refuse */
};

struct record_scan {
	enum record_verdict	 verdict;
	size_t			 first;		/* bytes of the first record */
	int			 type;		/* of the first record */
	int			 request_id;	/* of BEGIN_REQUEST */
	long long		 content_length; /* from PARAMS, or -1 */
	int			 params;	/* PARAMS ended */
};

void	 record_scan(const unsigned char *, size_t n, long long body_max,
	    size_t handon, struct record_scan *);
size_t	 record_values(const unsigned char *rec, size_t len,
	    long long max_conns, unsigned char *out, size_t outsz);
size_t	 record_unknown_type(int type, unsigned char *out, size_t outsz);
size_t	 record_end_answer(int request_id, unsigned char *out, size_t outsz);
size_t	 record_end_request(int request_id, int protocol_status,
	    unsigned char *out, size_t outsz);

#endif /* RECORD_H */
