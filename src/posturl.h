/* SPDX-License-Identifier: ISC */
/*
 * Post URLs: find the link in what a user pasted, judge it by its parsed
 * host (never by substring), and name the post it points at.  Pure
 * parsing: no network.  Used by the post lookup (post.c), through which
 * the handlers see struct posturl (post.h), and by the address guard
 * (guard.c: posturl_in_domain).
 */
#ifndef POSTURL_H
#define POSTURL_H

enum posturl_err {
	POSTURL_OK = 0,
	POSTURL_NONE,		/* no TikTok or Douyin link in the text */
	POSTURL_NOT_POST,	/* a TikTok link, but not to one post */
	POSTURL_NOMEM,
	POSTURL_REFUSED		/* a short link leading where fetches may not go */
};

struct posturl {
	char	*page;	/* the URL yt-dlp is given */
	char	*key;	/* the post: "tiktok:ID", "douyin:ID"; else page */
	int	 is_short;	/* vm./vt./t/ or v.douyin.com: resolve first */
};

enum posturl_err posturl_parse(const char *text, const char *extra_hosts,
		    struct posturl *);
void		 posturl_clear(struct posturl *);
int		 posturl_allowed(const char *url, const char *extra_hosts);
int		 posturl_in_domain(const char *host, const char *domain);

#endif /* POSTURL_H */
