/* SPDX-License-Identifier: ISC */
/*
 * REDIS_URL's two forms, into the configuration's redis_* fields: a part
 * of conf.c (conf.h), on its own because it is one question.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "conf.h"

/*
 * REDIS_URL's unix://[:password@]/path[?db=N] (after "unix://"): a path
 * is no host, so this is not a URL libcurl parses.  0, or -1 and err.
 */
static int
redis_unix(struct conf *c, const char *v, char *err, size_t errsz)
{
	const char	*at, *path, *q;
	char		*pass, *end;
	long		 db = 0;
	int		 n;

	path = v;
	if (*v == ':' && (at = strchr(v, '@')) != NULL) {
		if ((pass = curl_easy_unescape(NULL, v + 1, (int)(at - v - 1),
		    &n)) == NULL) {
			snprintf(err, errsz, "out of memory");
			return -1;
		}
		if (*pass != '\0')
			c->redis_password = strdup(pass);
		curl_free(pass);
		path = at + 1;
	}
	q = strchrnul(path, '?');
	if (*path != '/' || q - path < 2) {
		snprintf(err, errsz, "unix:// needs a socket path "
		    "(unix:///run/redis/redis.sock)");
		return -1;
	}
	if (*q == '?') {
		if (strncmp(q, "?db=", 4) != 0 || (db = strtol(q + 4, &end,
		    10), *end != '\0') || q[4] == '\0' || db < 0 ||
		    db > 1000) {
			snprintf(err, errsz, "?db= must be a number");
			return -1;
		}
	}
	c->redis_socket = strndup(path, (size_t)(q - path));
	c->redis_db = (int)db;
	return 0;
}

/*
 * REDIS_URL: redis://[[user]:password@]host[:port][/db] or
 * unix://[:password@]/path[?db=N], into the conf's redis_* fields (the
 * caller frees what they held).  Returns 0, or -1 with why in err (never
 * the password).
 */
int
conf_redis_parse(struct conf *c, const char *v, char *err, size_t errsz)
{
	CURLU		*u;
	CURLUcode	 uc = CURLUE_OK;
	char		*host = NULL, *port = NULL, *path = NULL, *pass = NULL;
	char		*end;
	long		 db = 0;
	int		 rc = -1;

	c->redis_port = 6379;
	if (strncmp(v, "unix://", 7) == 0)
		return redis_unix(c, v + 7, err, errsz);
	if (strncmp(v, "redis://", 8) != 0) {
		snprintf(err, errsz, "not a redis:// or unix:// URL");
		return -1;
	}
	if ((u = curl_url()) == NULL || (uc = curl_url_set(u, CURLUPART_URL,
	    v, CURLU_NON_SUPPORT_SCHEME)) == CURLUE_BAD_PORT_NUMBER) {
		snprintf(err, errsz, "the port must be a number from 1 to "
		    "65535");
		goto out;
	}
	if (uc != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    *host == '\0') {
		snprintf(err, errsz, "redis:// needs a host");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK &&
	    (c->redis_port = atoi(port)) < 1) {
		snprintf(err, errsz, "the port must be a number from 1 to "
		    "65535");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK &&
	    path[0] == '/' && path[1] != '\0') {
		db = strtol(path + 1, &end, 10);
		if (*end != '\0' || db < 0 || db > 1000) {
			snprintf(err, errsz, "the database must be a number "
			    "(redis://host:port/0)");
			goto out;
		}
	}
	curl_url_get(u, CURLUPART_PASSWORD, &pass, CURLU_URLDECODE);
	c->redis_host = strdup(host);
	c->redis_db = (int)db;
	if (pass != NULL && *pass != '\0')
		c->redis_password = strdup(pass);
	rc = 0;
out:
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(pass);
	curl_url_cleanup(u);
	return rc;
}
