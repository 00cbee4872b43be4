/* SPDX-License-Identifier: ISC */
/*
 * Reading a KEY=value file as the dotenv package (v16) reads it, so that
 * a serverjs .env means the same here: comments, "export", quotes.  It
 * knows the syntax, not the keys: each pair goes to the caller.
 *
 * Base: used by conf.c.
 */
#ifndef DOTENV_H
#define DOTENV_H

#include <stddef.h>

/* One KEY=value line (lineno counts from 1).  Returns 0 to go on, or -1
 * with a message in err to stop the reading. */
typedef int (*dotenv_fn)(void *arg, const char *key, const char *value,
    int lineno, char *err, size_t errsz);

int	 dotenv_read(const char *file, dotenv_fn, void *arg, char *err,
	    size_t errsz);

#endif /* DOTENV_H */
