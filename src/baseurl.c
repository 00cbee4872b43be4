/* SPDX-License-Identifier: ISC */
/*
 * The base of the links handed out: BASE_URL, or else the request's
 * scheme, Host and mount prefix (checked against ALLOWED_HOSTS by the
 * handler that makes links).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

/*
 * The base of the links we hand out: BASE_URL when configured, else
 * scheme://host[:port] from the web server's parameters followed by the
 * prefix the app is mounted under.  A Host header with characters that do
 * not belong in a host name is ignored for SERVER_NAME.  Caller frees.
 */
char *
http_base_url(const struct http *h, const char *configured)
{
	const char	*https, *scheme, *host, *port, *rs;
	char		*out = NULL;
	const char	*p;
	int		 hostok;

	if (configured != NULL && *configured != '\0')
		return strdup(configured);
	https = http_param(h, "HTTPS");
	rs = http_param(h, "REQUEST_SCHEME");
	if (https != NULL && (strcasecmp(https, "on") == 0 ||
	    strcmp(https, "1") == 0))
		scheme = "https";
	else if (rs != NULL && strcmp(rs, "https") == 0)
		scheme = "https";
	else
		scheme = "http";
	host = http_param(h, "HTTP_HOST");
	hostok = host != NULL && *host != '\0' && strlen(host) < 256;
	for (p = host; hostok && *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-:[]", *p) == NULL)
			hostok = 0;
	if (hostok) {
		if (asprintf(&out, "%s://%s%s", scheme, host, http_prefix(h)) == -1)
			out = NULL;
		return out;
	}
	host = http_param(h, "SERVER_NAME");
	port = http_param(h, "SERVER_PORT");
	if (host == NULL || *host == '\0')
		host = "localhost";
	if (port == NULL || (strcmp(scheme, "http") == 0 &&
	    strcmp(port, "80") == 0) || (strcmp(scheme, "https") == 0 &&
	    strcmp(port, "443") == 0))
		port = "";
	if (asprintf(&out, "%s://%s%s%s%s", scheme, host, *port ? ":" : "",
	    port, http_prefix(h)) == -1)
		out = NULL;
	return out;
}

/*
 * Is the request's Host one of list (comma-separated names, each with or
 * without ":port"; case does not matter)?  NULL or "" allows any.  Links
 * built from the Host (BASE_URL unset) are only handed out for these.
 */
int
http_host_allowed(const struct http *h, const char *list)
{
	const char	*host = http_param(h, "HTTP_HOST"), *p, *e;
	size_t		 hl, nl, bare;

	if (list == NULL || *list == '\0')
		return 1;
	if (host == NULL || *host == '\0')
		return 0;
	hl = strlen(host);
	/* The host without its port ("[::1]:80" -> "[::1]"). */
	bare = (e = strrchr(host, ':')) != NULL && strchr(e, ']') == NULL ?
	    (size_t)(e - host) : hl;
	for (p = list; *p != '\0'; p = *e ? e + 1 : e) {
		p += strspn(p, ", ");
		e = p + strcspn(p, ", ");
		nl = (size_t)(e - p);
		if (nl > 0 && ((nl == hl && strncasecmp(p, host, hl) == 0) ||
		    (nl == bare && strncasecmp(p, host, bare) == 0)))
			return 1;
	}
	return 0;
}

