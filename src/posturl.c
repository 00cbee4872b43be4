/*
 * Post URL validation.  libcurl's URL parser decides what the host is, so
 * "https://evil.com/?tiktok.com", "https://tiktok.com.evil.com/" and
 * "https://user@evil.com" are all told apart from TikTok.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "posturl.h"

/* host is domain or a subdomain of it (case-insensitive). */
int
host_in_domain(const char *host, const char *domain)
{
	size_t	 hl = strlen(host), dl = strlen(domain);

	if (hl > 0 && host[hl - 1] == '.')
		hl--;	/* "tiktok.com." is tiktok.com */
	if (hl == dl)
		return strncasecmp(host, domain, dl) == 0;
	return hl > dl && host[hl - dl - 1] == '.' &&
	    strncasecmp(host + hl - dl, domain, dl) == 0;
}

/*
 * Is url an http(s) URL on tiktok.com, douyin.com or a subdomain (vt.,
 * vm., www., m. ...), or (tests only) on one of the comma-separated
 * extra_hosts?  Returns 1 or 0.
 */
int
posturl_allowed(const char *url, const char *extra_hosts)
{
	CURLU		*u;
	char		*scheme = NULL, *host = NULL, *list, *tok, *save;
	int		 ok = 0;

	if ((u = curl_url()) == NULL)
		return 0;
	if (strlen(url) > 2048 ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		goto out;
	if (host_in_domain(host, "tiktok.com") ||
	    host_in_domain(host, "douyin.com")) {
		ok = 1;
		goto out;
	}
	if (extra_hosts != NULL && (list = strdup(extra_hosts)) != NULL) {
		for (tok = strtok_r(list, ", ", &save); tok != NULL && !ok;
		    tok = strtok_r(NULL, ", ", &save))
			ok = strcasecmp(tok, host) == 0;
		free(list);
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}
