/* SPDX-License-Identifier: ISC */
/*
 * The listening sockets tiktok-fcgi binds itself (-s PATH, -b
 * [HOST:]PORT), so that a failure names the address: libfcgi's
 * FCGX_OpenSocket says only "bind/listen" and exits by itself.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "front.h"

/*
 * A unix socket at path, listening (mode 0666: who may connect is the
 * directory's mode to say); a socket left there by an earlier run is
 * replaced.  check: only see that it could be made (the directory is
 * there and ours to write), for -n.  Returns the descriptor (0 for a
 * check), or -1 with a message naming path in err.
 */
int
listener_unix(const char *path, int backlog, int check, char *err,
    size_t errsz)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	char			 dir[PATH_MAX];
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errsz, "-s %s: longer than a socket path may be "
		    "(%zu)", path, sizeof(sun.sun_path) - 1);
		return -1;
	}
	if (check) {
		snprintf(dir, sizeof(dir), "%s", path);
		if (access(dirname(dir), W_OK | X_OK) == -1) {
			snprintf(err, errsz, "-s %s: cannot make a socket in "
			    "its folder: %s", path, strerror(errno));
			return -1;
		}
		return 0;
	}
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, backlog > 0 ? backlog : SOMAXCONN) == -1 ||
	    chmod(path, 0666) == -1) {
		snprintf(err, errsz, "-s %s: cannot listen there: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * A TCP socket on spec, [HOST:]PORT (HOST a name or address, IPv6 in
 * brackets; none: every IPv4 address), listening.  check: bound and
 * closed again, for -n (a port taken is said then).  Returns the
 * descriptor (0 for a check), or -1 with a message naming the address
 * in err.
 */
int
listener_tcp(const char *spec, int backlog, int check, char *err,
    size_t errsz)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	const char	*colon = strrchr(spec, ':'), *shown = spec;
	char		 host[256];
	int		 fd = -1, on = 1, e = 0, rc;
	size_t		 len;

	len = colon != NULL ? (size_t)(colon - spec) : 0;
	if (len >= 2 && spec[0] == '[' && spec[len - 1] == ']') {
		spec++;
		len -= 2;
	}
	if (len >= sizeof(host)) {
		snprintf(err, errsz, "-b %s: the host is too long", shown);
		return -1;
	}
	memcpy(host, spec, len);
	host[len] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = len > 0 ? AF_UNSPEC : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(len > 0 ? host : NULL, colon != NULL ?
	    colon + 1 : spec, &hints, &res)) != 0) {
		snprintf(err, errsz, "-b %s: %s", shown, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype |
		    SOCK_CLOEXEC, ai->ai_protocol)) == -1) {
			e = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    (!check && listen(fd, backlog > 0 ? backlog : SOMAXCONN) ==
		    -1)) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd == -1) {
		snprintf(err, errsz, "-b %s: cannot listen on %s%s%s:%s: %s",
		    shown, len > 0 && strchr(host, ':') ? "[" : "",
		    len > 0 ? host : "0.0.0.0", len > 0 && strchr(host, ':') ?
		    "]" : "", colon != NULL ? colon + 1 : spec, strerror(e));
		return -1;
	}
	if (check) {
		close(fd);
		return 0;
	}
	return fd;
}
