/* SPDX-License-Identifier: ISC */
/*
 * The client's address (client.h): parsing, the trusted proxies' CIDR
 * blocks, and the walk from the right of X-Forwarded-For or Forwarded.
 */
#include "config.h"

#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client.h"

#define TEXT_MAX	64	/* the longest address text we read */

struct net {
	struct client_addr	 addr;
	int			 bits;
};

struct client_nets {
	size_t		 n;
	struct net	 v[];
};

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0xff, 0xff };

/*
 * An address as a header or REMOTE_ADDR writes it: IPv4 or IPv6, maybe
 * in double quotes (Forwarded), IPv6 maybe in brackets, either maybe
 * with a port.  An IPv4-mapped IPv6 address is its IPv4 address.
 * Returns 0, or -1 (out's fam is then 0).
 */
int
client_parse(const char *s, size_t len, struct client_addr *out)
{
	char		 buf[TEXT_MAX];
	const char	*e = s + len, *colon;

	memset(out, 0, sizeof(*out));
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	if (e - s >= 2 && *s == '"' && e[-1] == '"') {
		s++;
		e--;
	}
	if (s < e && *s == '[') {
		if ((colon = memchr(s, ']', (size_t)(e - s))) == NULL ||
		    (colon + 1 != e && colon[1] != ':'))
			return -1;
		s++;
		e = colon;
	} else if ((colon = memchr(s, ':', (size_t)(e - s))) != NULL &&
	    memchr(colon + 1, ':', (size_t)(e - colon - 1)) == NULL)
		e = colon;	/* a.b.c.d:port */
	if (e <= s || (size_t)(e - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(e - s));
	buf[e - s] = '\0';
	if (inet_pton(AF_INET, buf, out->a) == 1) {
		out->fam = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, out->a) != 1)
		return -1;
	out->fam = 6;
	if (memcmp(out->a, v4mapped, sizeof(v4mapped)) == 0) {
		memmove(out->a, out->a + 12, 4);
		memset(out->a + 4, 0, 12);
		out->fam = 4;
	}
	return 0;
}

/* The address as text ("unknown" for none), for logs. */
void
client_format(const struct client_addr *c, char *buf, size_t sz)
{
	if (c->fam == 0 || inet_ntop(c->fam == 4 ? AF_INET : AF_INET6,
	    c->a, buf, (socklen_t)sz) == NULL)
		snprintf(buf, sz, "unknown");
}

/*
 * What the client is counted as, within its family: the IPv4 address,
 * or the first 64 bits of an IPv6 address; 0 for none.
 */
uint64_t
client_id(const struct client_addr *c)
{
	uint64_t	 id = 0;
	int		 i, n = c->fam == 4 ? 4 : c->fam == 6 ? 8 : 0;

	for (i = 0; i < n; i++)
		id = id << 8 | c->a[i];
	return id;
}

/* One "ADDRESS[/BITS]" of a list.  0, or -1 with why. */
static int
parse_net(const char *s, size_t len, struct net *n, char *why, size_t whysz)
{
	const char	*slash = memchr(s, '/', len);
	char		*end, num[8];
	long		 bits;
	int		 max, i;

	if (client_parse(s, slash != NULL ? (size_t)(slash - s) : len,
	    &n->addr) == -1) {
		snprintf(why, whysz, "\"%.*s\" is not an IP address or a CIDR "
		    "block", (int)(len > 60 ? 60 : len), s);
		return -1;
	}
	max = n->addr.fam == 4 ? 32 : 128;
	n->bits = max;
	if (slash == NULL)
		return 0;
	len -= (size_t)(slash + 1 - s);
	if (len == 0 || len >= sizeof(num)) {
		snprintf(why, whysz, "a prefix length must follow \"/\"");
		return -1;
	}
	memcpy(num, slash + 1, len);
	num[len] = '\0';
	bits = strtol(num, &end, 10);
	if (*end != '\0' || !isdigit((unsigned char)num[0]) || bits > max) {
		snprintf(why, whysz, "/%s: not a prefix length from 0 to %d",
		    num, max);
		return -1;
	}
	n->bits = (int)bits;
	for (i = n->bits; i < max; i++)
		n->addr.a[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	return 0;
}

/*
 * Parse a list of CIDR blocks (commas and/or blanks between them) into
 * nets (NULL: only count them).  Returns how many, or -1 with why.
 */
static int
parse_list(const char *list, struct net *nets, char *why, size_t whysz)
{
	const char	*p = list, *e;
	int		 n = 0;
	struct net	 one;

	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			return n;
		e = p + strcspn(p, ", \t");
		if (e == p) {
			snprintf(why, whysz, "an empty entry");
			return -1;
		}
		if (parse_net(p, (size_t)(e - p), nets != NULL ? &nets[n] :
		    &one, why, whysz) == -1)
			return -1;
		n++;
		for (p = e; isspace((unsigned char)*p); p++)
			continue;
		if (*p == ',' && *++p == '\0') {
			snprintf(why, whysz, "an empty entry");
			return -1;
		}
	}
}

/* Is list a good TRUSTED_PROXIES?  0, or -1 with why (for conf.c). */
int
client_nets_check(const char *list, char *why, size_t whysz)
{
	return parse_list(list, NULL, why, whysz) == -1 ? -1 : 0;
}

/*
 * The blocks of a list client_nets_check accepted; NULL when the list
 * is empty or memory is short.  Freed by client_nets_free.
 */
struct client_nets *
client_nets_new(const char *list)
{
	struct client_nets	*cn;
	char			 why[128];
	int			 n;

	if (list == NULL || (n = parse_list(list, NULL, why, sizeof(why))) <=
	    0)
		return NULL;
	if ((cn = calloc(1, sizeof(*cn) + (size_t)n * sizeof(cn->v[0]))) ==
	    NULL)
		return NULL;
	cn->n = (size_t)parse_list(list, cn->v, why, sizeof(why));
	return cn;
}

void
client_nets_free(struct client_nets *cn)
{
	free(cn);
}

/* Is a in one of the blocks?  1 or 0. */
int
client_nets_has(const struct client_nets *cn, const struct client_addr *a)
{
	const struct net	*n;
	size_t			 i;
	int			 whole, rest;

	if (cn == NULL || a->fam == 0)
		return 0;
	for (i = 0; i < cn->n; i++) {
		n = &cn->v[i];
		if (n->addr.fam != a->fam)
			continue;
		whole = n->bits / 8;
		rest = n->bits % 8;
		if (memcmp(n->addr.a, a->a, (size_t)whole) == 0 && (rest == 0 ||
		    ((n->addr.a[whole] ^ a->a[whole]) &
		    (uint8_t)(0xff00 >> rest)) == 0))
			return 1;
	}
	return 0;
}

/* REAL_IP_HEADER's value.  0, or -1 when it is neither header. */
int
client_header_parse(const char *s, enum client_header *h)
{
	if (s == NULL || *s == '\0' || strcasecmp(s, "X-Forwarded-For") == 0)
		*h = CLIENT_XFF;
	else if (strcasecmp(s, "Forwarded") == 0)
		*h = CLIENT_FORWARDED;
	else
		return -1;
	return 0;
}

/* The for= of one Forwarded element (RFC 7239), or -1 without one. */
static int
forwarded_for(const char *s, size_t len, struct client_addr *out)
{
	const char	*e = s + len, *p, *semi;

	for (p = s; p < e; p = semi + 1) {
		while (p < e && isspace((unsigned char)*p))
			p++;
		if ((semi = memchr(p, ';', (size_t)(e - p))) == NULL)
			semi = e;
		if (semi - p > 4 && strncasecmp(p, "for=", 4) == 0)
			return client_parse(p + 4, (size_t)(semi - p - 4), out);
		if (semi == e)
			break;
	}
	return -1;
}

/*
 * The client of a request: REMOTE_ADDR (remote), unless it is a trusted
 * proxy and header (the value of X-Forwarded-For or Forwarded, as kind
 * says) names others: then the right-most address in it that is not a
 * trusted proxy, walking from the right; an entry that is no address
 * ("unknown", an obfuscated name, garbage) ends the walk at the last
 * proxy passed.  out is never left unset.
 */
void
client_resolve(const struct client_nets *trusted, enum client_header kind,
    const char *remote, const char *header, struct client_addr *out)
{
	struct client_addr	 a;
	const char		*end, *comma;
	int			 rc;

	if (remote == NULL || client_parse(remote, strlen(remote), out) == -1)
		memset(out, 0, sizeof(*out));
	if (header == NULL || !client_nets_has(trusted, out))
		return;
	end = header + strlen(header);
	while (end > header) {
		for (comma = end; comma > header && comma[-1] != ','; comma--)
			continue;
		if (kind == CLIENT_FORWARDED)
			rc = forwarded_for(comma, (size_t)(end - comma), &a);
		else
			rc = client_parse(comma, (size_t)(end - comma), &a);
		if (rc == -1)
			return;
		*out = a;
		if (!client_nets_has(trusted, &a))
			return;
		end = comma > header ? comma - 1 : header;
	}
}
