/* SPDX-License-Identifier: ISC */
/* An in-memory front end for driving handlers in unit tests. */
#ifndef MEMHTTP_H
#define MEMHTTP_H

#include <stddef.h>

#include "http.h"

struct mem {
	const char	**params;	/* NAME, VALUE, ..., NULL */
	const char	 *body;
	size_t		  bodylen, bodypos;
	char		 *out;		/* everything written */
	size_t		  outlen;
	int		  fail_after;	/* writes before "client gone"; -1 */
	int		  writes;
};

extern const struct http_io mem_io;

void		 mem_init(struct mem *, const char **params, const char *body);
void		 mem_free(struct mem *);
int		 mem_status(const struct mem *);
const char	*mem_body(const struct mem *);
char		*mem_header(const struct mem *, const char *name);

#endif
