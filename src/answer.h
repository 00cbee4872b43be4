/*
 * The answer to a failed extraction (answer.c): used by the handlers
 * that extract.
 */
#ifndef ANSWER_H
#define ANSWER_H

#include "pool.h"

struct http;

void	 answer_pool_error(struct http *, enum pool_err, const char *msg);

#endif /* ANSWER_H */
