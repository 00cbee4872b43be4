/* SPDX-License-Identifier: ISC */
/*
 * Failures answered (answer.c): the table that says, for each failure
 * of fail.h, its HTTP status, the client's words, Retry-After, the
 * level it is logged at and the upstream counter it feeds.  Every
 * handler answers its failures through answer_fail; the pool reads the
 * helper's kinds with answer_kind, the fleet's cache names what it
 * remembers with answer_name, the renders keep a failure to answer it
 * to every waiter.
 *
 * A leaf among the services: it knows the request/response interface,
 * the counters, the log and what token_open says, nothing else.
 */
#ifndef ANSWER_H
#define ANSWER_H

#include <stddef.h>

#include "fail.h"
#include "token.h"

struct http;

void		 answer_fail(struct http *, enum fail, const char *detail);
void		 answer_words(enum fail, const char *detail, char *buf,
		    size_t sz);
int		 answer_status(enum fail);
const char	*answer_name(enum fail);
enum fail	 answer_kind(const char *kind);
enum fail	 answer_token(enum token_err);

#endif /* ANSWER_H */
