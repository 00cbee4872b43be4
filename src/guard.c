/* SPDX-License-Identifier: ISC */
/*
 * The address guard (guard.h): public addresses, and the CDN domains a
 * fetch may name.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "guard.h"
#include "posturl.h"

/*
 * Is this an address a fetch may reach?  Loopback, private, shared
 * (CGN), link-local, multicast, reserved, documentation and unspecified
 * addresses are not; nor are IPv4-mapped, -compatible or NAT64 IPv6
 * addresses of such.  Returns 1 or 0.
 */
int
guard_addr_public(const struct sockaddr *sa)
{
	const unsigned char	*b;
	unsigned char		 v4[4];
	sa_family_t		 family;

	/* Read as bytes: sa points at a sockaddr_in or _in6 (aliasing). */
	memcpy(&family, &sa->sa_family, sizeof(family));
	if (family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		b = v4;
	} else if (family == AF_INET6) {
		b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0,
		    0, 0, 0, 0, 0xff, 0xff };
		static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
		static const unsigned char zero[12];
		static const unsigned char translated[12] = { 0, 0, 0, 0, 0,
		    0, 0, 0, 0xff, 0xff, 0, 0 };
		if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 ||
		    memcmp(b, zero, 12) == 0 ||
		    memcmp(b, translated, 12) == 0) {
			/* ::a.b.c.d, ::ffff:a.b.c.d, 64:ff9b::a.b.c.d,
			 * ::ffff:0:a.b.c.d */
			memcpy(v4, b + 12, 4);
			b = v4;
			goto v4;
		}
		/* Local-use NAT64 64:ff9b:1::/48: reaches whatever IPv4 the
		 * local translator reaches, private included. */
		if (b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b &&
		    b[4] == 0 && b[5] == 1)
			return 0;
		if (memcmp(b, zero, 8) == 0)		/* the rest of ::/64 */
			return 0;
		if (b[0] == 0x01 && b[1] == 0 && memcmp(b + 2, zero, 6) == 0)
			return 0;			/* 100::/64 discard */
		if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 &&
		    (b[3] == 0 ||			/* 2001::/32 Teredo */
		    (b[3] == 2 && b[4] == 0 && b[5] == 0) || /* 2001:2::/48 */
		    (b[3] & 0xf0) == 0x10 ||		/* 2001:10::/28 */
		    (b[3] & 0xf0) == 0x20))		/* 2001:20::/28 */
			return 0;
		if (b[0] == 0x3f && b[1] == 0xff && (b[2] & 0xf0) == 0)
			return 0;			/* 3fff::/20 */
		if (b[0] == 0x5f && b[1] == 0x00)		/* 5f00::/16 */
			return 0;
		if ((b[0] & 0xfe) == 0xfc)		/* fc00::/7 ULA */
			return 0;
		if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10 */
			return 0;
		if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) /* fec0::/10 */
			return 0;
		if (b[0] == 0xff)			/* multicast */
			return 0;
		if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d &&
		    b[3] == 0xb8)			/* 2001:db8::/32 */
			return 0;
		if (b[0] == 0x20 && b[1] == 0x02)	/* 6to4: check v4 */ {
			memcpy(v4, b + 2, 4);
			b = v4;
			goto v4;
		}
		return 1;
	} else
		return 0;
v4:
	if (b[0] == 0 || b[0] == 10 || b[0] == 127 || b[0] >= 224)
		return 0;
	if (b[0] == 100 && (b[1] & 0xc0) == 64)		/* 100.64/10 */
		return 0;
	if (b[0] == 169 && b[1] == 254)
		return 0;
	if (b[0] == 172 && (b[1] & 0xf0) == 16)
		return 0;
	if (b[0] == 192 && b[1] == 168)
		return 0;
	if (b[0] == 192 && b[1] == 0 && (b[2] == 0 || b[2] == 2))
		return 0;
	if (b[0] == 192 && b[1] == 88 && b[2] == 99)	/* 6to4 relays */
		return 0;
	if (b[0] == 198 && (b[1] & 0xfe) == 18)		/* 198.18/15 */
		return 0;
	if (b[0] == 198 && b[1] == 51 && b[2] == 100)
		return 0;
	if (b[0] == 203 && b[1] == 0 && b[2] == 113)
		return 0;
	return 1;
}

/* Is name (no trailing garbage) in one of the domains of list? */
static int
in_domains(const char *name, const char *list)
{
	char		 d[256];
	const char	*p = list;
	size_t		 n;

	while (p != NULL && *p != '\0') {
		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n > 0 && n < sizeof(d)) {
			memcpy(d, p, n);
			d[n] = '\0';
			if (posturl_in_domain(name, d))
				return 1;
		}
		p += n;
	}
	return 0;
}

/*
 * May a fetch ask for host (as a URL names it: a name, an IPv4 address,
 * or an IPv6 address in brackets)?  An address literal must be public
 * (any, with allow_private); a name must be plain ASCII and in one of
 * domains (comma- or space-separated; the domain itself or a name below
 * it).  Nothing is looked up.  Returns 1 or 0.
 */
int
guard_host(const char *host, const char *domains, int allow_private)
{
	char			 name[256];
	struct sockaddr_in	 s4;
	struct sockaddr_in6	 s6;
	size_t			 len = strlen(host);

	if (len == 0 || len >= sizeof(name))
		return 0;
	if (host[0] == '[') {
		if (len < 3 || host[len - 1] != ']')
			return 0;
		memcpy(name, host + 1, len - 2);
		name[len - 2] = '\0';
		memset(&s6, 0, sizeof(s6));
		if (inet_pton(AF_INET6, name, &s6.sin6_addr) != 1)
			return 0;	/* a zone, or not an address */
		s6.sin6_family = AF_INET6;
		return allow_private ||
		    guard_addr_public((struct sockaddr *)&s6);
	}
	memset(&s4, 0, sizeof(s4));
	if (inet_pton(AF_INET, host, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		return allow_private ||
		    guard_addr_public((struct sockaddr *)&s4);
	}
	if (host[strspn(host, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")] != '\0')
		return 0;	/* not a plain name: nothing a CDN uses */
	if (strspn(host, "0123456789.") == len)
		return 0;	/* an address in a form inet_pton refuses */
	return in_domains(host, domains);
}

/*
 * May a fetch ask for url, before anything is connected, through any
 * egress?  http or https, and a host guard_host lets through.  Returns 1
 * or 0.
 */
int
guard_target(const char *url, const char *domains, int allow_private)
{
	CURLU	*u;
	char	*scheme = NULL, *host = NULL;
	int	 ok = 0;

	if ((u = curl_url()) == NULL)
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    (strcasecmp(scheme, "http") == 0 ||
	    strcasecmp(scheme, "https") == 0))
		ok = guard_host(host, domains, allow_private);
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}
