/*
 * The answer to a failed extraction: which status and which words, for
 * every handler that extracts (/tiktok, /stream, the slideshow).  A leaf
 * among the services: it knows the request/response interface and the
 * pool's error vocabulary, nothing else.
 */
#include "config.h"

#include <stdio.h>

#include "answer.h"
#include "counters.h"
#include "http.h"

/* Each failure: its status, its counter, Retry-After, our words. */
static const struct {
	enum pool_err		 err;
	int			 status;
	enum counter_upstream	 counter;
	const char		*retry;
	const char		*words;	/* NULL: built from msg below */
} answers[] = {
	{ POOL_NOT_FOUND, 404, UP_POOL_NOT_FOUND, NULL, "Video not found. "
	    "Please check the URL and make sure the video exists." },
	{ POOL_PRIVATE, 403, UP_POOL_PRIVATE, NULL,
	    "This video is private or needs a login." },
	{ POOL_BLOCKED, 503, UP_POOL_BLOCKED, "60", "TikTok is refusing our "
	    "requests right now. Please try again later." },
	{ POOL_UNSUPPORTED, 400, UP_POOL_UNSUPPORTED, NULL,
	    "This TikTok or Douyin URL is not a single post." },
	{ POOL_TIMEOUT, 504, UP_POOL_TIMEOUT, NULL, "Extraction timed out." },
	{ POOL_UNREADABLE, 502, UP_POOL_UNREADABLE, NULL, "TikTok's answer "
	    "could not be read. The yt-dlp on this server may be outdated." },
	{ POOL_UNREACHABLE, 503, UP_POOL_UNREACHABLE, "30", "TikTok could "
	    "not be reached. Please try again later." },
	{ POOL_BUSY, 503, UP_POOL_BUSY, "5", NULL },
	{ POOL_OTHER, 500, UP_POOL_OTHER, NULL, NULL },
};

/*
 * Answer an extraction failure with its status: the same mapping serves
 * /tiktok, /stream and the slideshow.  msg is the pool's reason, in its
 * own words (yt-dlp's text stays in the log: pool_answer.c).
 */
void
answer_pool_error(struct http *h, enum pool_err err, const char *msg)
{
	char	 buf[1024];
	size_t	 i, n = sizeof(answers) / sizeof(answers[0]);

	for (i = 0; i + 1 < n && answers[i].err != err; i++)
		continue;	/* else the last: POOL_OTHER */
	counters_upstream(answers[i].counter);
	if (answers[i].retry != NULL)
		http_header(h, "Retry-After", answers[i].retry);
	if (answers[i].words != NULL)
		snprintf(buf, sizeof(buf), "%s", answers[i].words);
	else if (answers[i].err == POOL_BUSY)
		snprintf(buf, sizeof(buf), "Server busy (%s). Please try "
		    "again shortly.", msg ? msg : "no extraction slot");
	else
		snprintf(buf, sizeof(buf), "Extraction failed%s%s.",
		    msg ? ": " : "", msg ? msg : "");
	http_error(h, answers[i].status, buf);
}
