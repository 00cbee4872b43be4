/* Which post URLs we accept: judged by the parsed host, never substring. */
#ifndef POSTURL_H
#define POSTURL_H

int	 posturl_allowed(const char *url, const char *extra_hosts);
int	 host_in_domain(const char *host, const char *domain);

#endif /* POSTURL_H */
