/* SPDX-License-Identifier: ISC */
/*
 * GET /openapi.json: the OpenAPI 3.1 description of this API, the
 * repository's openapi.json built in (src/openapi_json.c is made from it
 * by make), so that what is served is what is in the repository.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "handlers.h"
#include "http.h"

extern const char openapi_json[];

void
handle_openapi(struct app *app, struct http *h)
{
	char	 cl[32];
	size_t	 len = strlen(openapi_json);

	(void)app;
	http_header(h, "Content-Type", "application/json");
	http_header(h, "Cache-Control", "public, max-age=3600");
	snprintf(cl, sizeof(cl), "%zu", len);
	http_header(h, "Content-Length", cl);
	http_write(h, openapi_json, len);
}
