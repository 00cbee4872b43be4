/* Helpers the streaming handlers share with the slideshow handler. */
#ifndef STREAM_H
#define STREAM_H

#include <stddef.h>

struct http;

void	 stream_safe_name(const char *, char *, size_t);
void	 stream_disposition(struct http *, const char *author,
	    const char *ext);

#endif /* STREAM_H */
