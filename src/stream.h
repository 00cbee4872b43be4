/* Helpers the streaming handlers share with the slideshow handler. */
#ifndef STREAM_H
#define STREAM_H

#include <stddef.h>

struct http;

struct json_object;
struct curl_slist;

void	 stream_safe_name(const char *, char *, size_t);
const char *stream_range(const char *);
struct curl_slist *stream_headers(struct json_object *, const char *range);
void	 stream_disposition(struct http *, const char *author,
	    const char *ext);

#endif /* STREAM_H */
