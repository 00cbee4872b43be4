/* SPDX-License-Identifier: ISC */
/*
 * What one line from a helper says, read without any pool state: its
 * handshake (the yt-dlp version), that an extraction started, or an
 * answer to a request or a ping (an info, or a failure and its kind).
 * The protocol is ytdlp_helper.py's (its docstring); a failure's kind
 * is read by answer.c's table (answer_kind).
 *
 * Used by the pool (pool_member.c), its unit test and a fuzz target.
 */
#ifndef POOL_ANSWER_H
#define POOL_ANSWER_H

#include <stddef.h>

#include "fail.h"

struct json_object;

struct pool_answer {
	enum {
		POOL_ANSWER_READY,	/* version */
		POOL_ANSWER_STARTED,	/* id */
		POOL_ANSWER_DONE	/* id; info, or err and msg */
	}			 what;
	unsigned long		 id;
	const char		*version;
	struct json_object	*info;	/* FAIL_OK: the answer's info */
	enum fail		 err;
	const char		*msg;	/* a failure: yt-dlp's words */
	struct json_object	*doc;	/* the line, owning the above */
};

int		 pool_answer_parse(struct pool_answer *, const char *line,
		    size_t len);
void		 pool_answer_clear(struct pool_answer *);

#endif /* POOL_ANSWER_H */
