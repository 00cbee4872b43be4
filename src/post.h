/* SPDX-License-Identifier: ISC */
/*
 * Finding the post a request names: the link a user pasted (or a
 * token's page URL) into the post (posturl.h), a short link followed
 * first.  Used by the /tiktok, /stream and slideshow handlers, which
 * then look the post up in the cache by its key.
 */
#ifndef POST_H
#define POST_H

#include "posturl.h"

struct conf;

enum posturl_err post_find(const struct conf *, const char *text,
		    struct posturl *);
enum posturl_err post_follow(const struct conf *, struct posturl *);

#endif /* POST_H */
