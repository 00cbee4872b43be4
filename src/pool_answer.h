/*
 * What one line from a helper says, read without any pool state: its
 * handshake (the yt-dlp version), that an extraction started, or an
 * answer to a request or a ping (an info, or a failure and its kind).
 * The protocol is ytdlp_helper.py's (DESIGN.md, "Helper protocol").
 *
 * A leaf: used by the pool (pool_member.c) and by its unit test.
 */
#ifndef POOL_ANSWER_H
#define POOL_ANSWER_H

#include <stddef.h>

#include "pool.h"

struct json_object;

struct pool_answer {
	enum {
		POOL_ANSWER_READY,	/* version */
		POOL_ANSWER_STARTED,	/* id */
		POOL_ANSWER_DONE	/* id; info, or err and msg */
	}			 what;
	unsigned long		 id;
	const char		*version;
	struct json_object	*info;	/* POOL_OK: the info (the answer's) */
	enum pool_err		 err;
	const char		*msg;	/* a failure: yt-dlp's words */
	struct json_object	*doc;	/* the line, owning the above */
};

int		 pool_answer_parse(struct pool_answer *, const char *line,
		    size_t len);
void		 pool_answer_clear(struct pool_answer *);
enum pool_err	 pool_answer_kind(const char *kind);

#endif /* POOL_ANSWER_H */
