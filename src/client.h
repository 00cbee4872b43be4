/* SPDX-License-Identifier: ISC */
/*
 * Who the client is: REMOTE_ADDR as the web server gives it, or, when
 * that peer is one of TRUSTED_PROXIES (a list of CIDR blocks), the
 * right-most address of X-Forwarded-For (or Forwarded, REAL_IP_HEADER)
 * that is not a trusted proxy.  A header from any other peer is
 * ignored.  What a client is counted as: an IPv4 address, or the /64 an
 * IPv6 address is in (one subscriber's usual allocation).
 *
 * Base (a leaf): used by conf.c (checking TRUSTED_PROXIES) and the
 * admission of requests (admit.c).  A client_nets is read-only once
 * made, so threads share it without a lock.
 */
#ifndef CLIENT_H
#define CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define CLIENT_ADDRSTRLEN	46	/* INET6_ADDRSTRLEN */

/* An address.  fam 0: none or unreadable (every such client is one). */
struct client_addr {
	int	 fam;		/* 0, 4 or 6 */
	uint8_t	 a[16];		/* 4 bytes for IPv4 */
};

/* Which header a trusted proxy appends the client to (REAL_IP_HEADER). */
enum client_header { CLIENT_XFF, CLIENT_FORWARDED };

struct client_nets;

int	 client_parse(const char *, size_t, struct client_addr *);
void	 client_format(const struct client_addr *, char *, size_t);
uint64_t client_id(const struct client_addr *);
int	 client_nets_check(const char *list, char *why, size_t whysz);
struct client_nets *client_nets_new(const char *list);
void	 client_nets_free(struct client_nets *);
int	 client_nets_has(const struct client_nets *,
	    const struct client_addr *);
int	 client_header_parse(const char *, enum client_header *);
void	 client_resolve(const struct client_nets *, enum client_header,
	    const char *remote, const char *header, struct client_addr *);

#endif /* CLIENT_H */
