/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer: a request as the web server hands it over.  The input is
 * NAME\0VALUE\0... parameters, then \1 and the body: the request object
 * is made, its query, base URL, host check and body read, and the
 * router answers what needs no service (preflight, 404, 405, the page).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "handlers.h"
#include "http.h"
#include "media.h"
#include "memhttp.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* No service started: only the configuration, with the page on. */
static struct app	 app = { .conf = { .web_ui = 1 } };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*copy, *body, *p, *end, *buf;
	const char	*params[66];
	size_t		 n = 0, len;
	struct mem	 m;
	struct http	*h;
	const char	*route;

	if ((copy = malloc(size + 2)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = copy[size + 1] = '\0';
	end = copy + size;
	body = memchr(copy, '\1', size);
	if (body != NULL)
		*body++ = '\0';
	for (p = copy; p < (body ? body - 1 : end) && n < 64; ) {
		params[n++] = p;
		p += strlen(p) + 1;
	}
	if (n % 2)
		n--;
	params[n] = NULL;
	mem_init(&m, params, body ? body : "");
	m.bodylen = body ? (size_t)(end - body) : 0;
	if ((h = http_new(&mem_io, &m)) != NULL) {
		free(http_query(h, "data"));
		free(http_query(h, "url"));
		free(http_base_url(h, NULL));
		http_host_allowed(h, "a.example, b.example:80");
		media_range(http_param(h, "HTTP_RANGE"));
		if (http_body(h, &buf, &len, 65536) == HERR_OK)
			free(buf);
		/* Only what reaches no service: preflight and 404. */
		route = http_route(h);
		if (strcmp(http_method(h), "OPTIONS") == 0 ||
		    (strcmp(route, "/tiktok") != 0 &&
		    strcmp(route, "/stream") != 0 &&
		    strcmp(route, "/download") != 0 &&
		    strcmp(route, "/download-slideshow") != 0 &&
		    strcmp(route, "/download-audio") != 0 &&
		    strcmp(route, "/health") != 0 &&
		    strcmp(route, "/metrics") != 0))
			router_dispatch(&app, h);
		http_free(h);
	}
	mem_free(&m);
	free(copy);
	return 0;
}
