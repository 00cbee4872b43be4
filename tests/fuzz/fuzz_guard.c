/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer: the address guard, on any IPv4 or IPv6 address (4 or 16
 * bytes), and on any URL (other sizes): a URL let through must be let
 * through with private addresses allowed too, and must name a host
 * that guard_host lets through.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*dom = "tiktokcdn.com, tiktok.com";
	struct sockaddr_in	 s4;
	struct sockaddr_in6	 s6;
	CURLU			*u;
	char			*url, *host = NULL;

	if (size == 4) {
		memset(&s4, 0, sizeof(s4));
		s4.sin_family = AF_INET;
		memcpy(&s4.sin_addr, data, 4);
		guard_addr_public((struct sockaddr *)&s4);
	} else if (size == 16) {
		memset(&s6, 0, sizeof(s6));
		s6.sin6_family = AF_INET6;
		memcpy(&s6.sin6_addr, data, 16);
		guard_addr_public((struct sockaddr *)&s6);
	} else if ((url = malloc(size + 1)) != NULL) {
		memcpy(url, data, size);
		url[size] = '\0';
		if (guard_target(url, dom, 0)) {
			if (!guard_target(url, dom, 1))
				abort();
			if ((u = curl_url()) == NULL)
				abort();
			if (curl_url_set(u, CURLUPART_URL, url, 0) !=
			    CURLUE_OK || curl_url_get(u, CURLUPART_HOST, &host,
			    0) != CURLUE_OK || !guard_host(host, dom, 0))
				abort();
			curl_free(host);
			curl_url_cleanup(u);
		}
		free(url);
	}
	return 0;
}
