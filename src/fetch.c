/*
 * libcurl set up once for the whole process, with the safety rules
 * applied to every handle we use.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <errno.h>
#include <unistd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "conf.h"
#include "egress.h"
#include "fetch.h"
#include "log.h"
#include "proc.h"

#define MAX_REDIRS	5

static const struct conf	*conf;	/* the settings, from fetch_init */
static CURLSH			*share;
static pthread_mutex_t		 share_mtx[CURL_LOCK_DATA_LAST];

/* Set when a connection was refused by the address guard. */
static __thread int		 guard_hit;

static void
share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
	(void)h; (void)a; (void)u;
	pthread_mutex_lock(&share_mtx[d]);
}

static void
share_unlock(CURL *h, curl_lock_data d, void *u)
{
	(void)h; (void)u;
	pthread_mutex_unlock(&share_mtx[d]);
}

/*
 * Is this an address a fetch may reach?  Loopback, private, shared
 * (CGN), link-local, multicast, reserved, documentation and unspecified
 * addresses are not; nor are IPv4-mapped, -compatible or NAT64 IPv6
 * addresses of such.  Returns 1 or 0.
 */
int
fetch_addr_public(const struct sockaddr *sa)
{
	const unsigned char	*b;
	unsigned char		 v4[4];

	if (sa->sa_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		b = v4;
	} else if (sa->sa_family == AF_INET6) {
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

/*
 * Through a proxy only the proxy is connected to, so the proxy would be
 * asked for whatever the URL names.  Is the host of url one we may ask
 * for?  An address literal must be public; a name that resolves here
 * must resolve to public addresses only; a name that does not resolve
 * here is the proxy's to resolve.  Returns 1 or 0.
 */
static int
target_public(const char *url)
{
	CURLU			*u;
	char			*host = NULL, name[256];
	struct addrinfo		 hints, *res = NULL, *ai;
	struct sockaddr_in	 s4;
	struct sockaddr_in6	 s6;
	size_t			 len;
	int			 ok = 0;

	if ((u = curl_url()) == NULL)
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	len = strlen(host);
	if (host[0] == '[' && len > 2 && len < sizeof(name)) {
		memcpy(name, host + 1, len - 2);	/* [v6] */
		name[len - 2] = '\0';
	} else
		snprintf(name, sizeof(name), "%s", host);
	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	if (inet_pton(AF_INET, name, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		ok = fetch_addr_public((struct sockaddr *)&s4);
		goto out;
	}
	if (inet_pton(AF_INET6, name, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		ok = fetch_addr_public((struct sockaddr *)&s6);
		goto out;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(name, NULL, &hints, &res) != 0) {
		ok = 1;		/* unknown here: the proxy resolves it */
		goto out;
	}
	ok = 1;
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (!fetch_addr_public(ai->ai_addr))
			ok = 0;
	freeaddrinfo(res);
out:
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

/*
 * Before every request, redirects included: through a proxy, the URL's
 * host must be one we may ask for (target_public).
 */
static int
before_request(void *arg, char *primary_ip, char *local_ip, int primary_port,
    int local_port)
{
	CURL	*h = arg;
	char	*url = NULL;

	(void)primary_ip; (void)local_ip; (void)primary_port; (void)local_port;
	if (conf->outbound_proxy == NULL || conf->fetch_allow_private)
		return CURL_PREREQFUNC_OK;
	if (curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK ||
	    url == NULL || !target_public(url)) {
		guard_hit = 1;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

/*
 * libcurl asks us for every socket it connects, after DNS resolution and
 * for every redirect hop: refuse non-public addresses here, where the
 * address is the one really used (no DNS rebinding window).  Through a
 * proxy the only address is the proxy's, which the operator chose; the
 * URLs asked of it are checked by before_request.
 */
static curl_socket_t
open_socket(void *u, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)u;
	if (purpose == CURLSOCKTYPE_IPCXN && !conf->fetch_allow_private &&
	    conf->outbound_proxy == NULL && !fetch_addr_public(&a->addr)) {
		guard_hit = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/*
 * libcurl calls this about once a second and whenever data moves: give
 * up when nothing moved for DOWNLOAD_TIMEOUT seconds.  (libcurl's own
 * low-speed check averages and takes several times as long.)
 */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct fetch_watch	*w = arg;
	long long		 now = proc_now_ms();

	(void)dltotal; (void)ultotal;
	/* A client that left while the CDN is silent: nothing is written
	 * that would tell us, so ask (twice a second at most). */
	if (w->gone != NULL && now - w->asked_ms >= 500) {
		w->asked_ms = now;
		if (w->gone(w->gone_arg)) {
			w->left = 1;
			return 1;
		}
	}
	if (dlnow + ulnow != w->last_bytes) {
		w->last_bytes = dlnow + ulnow;
		w->last_ms = now;
	} else if (now - w->last_ms >= (long long)conf->download_timeout * 1000) {
		w->stalled = 1;
		return 1;
	}
	return 0;
}

/*
 * Watch a transfer for stalls: before the first byte and between any two,
 * at most DOWNLOAD_TIMEOUT seconds; and, with gone, for a client that
 * left.  w must live as long as the transfer; w->stalled (w->left) tells
 * afterwards whether the watchdog ended it for a stall (a departure).
 */
void
fetch_watch(CURL *h, struct fetch_watch *w, int (*gone)(void *), void *arg)
{
	memset(w, 0, sizeof(*w));
	w->gone = gone;
	w->gone_arg = arg;
	w->last_ms = proc_now_ms();
	w->asked_ms = w->last_ms;
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, w);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
}

static size_t
to_fd(char *data, size_t size, size_t n, void *arg)
{
	struct fetch_file	*f = arg;
	size_t			 len = size * n, off = 0;
	ssize_t			 w;

	if (f->budget != NULL && (*f->budget -= (long long)len) < 0) {
		f->toobig = 1;
		return 0;
	}
	while (off < len) {
		if ((w = write(f->fd, data + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			f->werr = errno;
			return 0;
		}
		off += (size_t)w;
	}
	return len;
}

/*
 * Fetch n files at once (libcurl multi) into their fds, with the safety
 * rules of every fetch, and no more than each file's budget (shared by
 * the batch) allows.  Gives up at deadline_ms (monotonic) or when
 * gone(arg) says the client left.  Returns 0 when every file came with a
 * 2xx status, -1 otherwise (see each file's status and result); -2 when
 * stopped by the deadline, -3 when stopped because the client left.
 */
int
fetch_many(const struct egress *e, struct fetch_file *files, int n,
    long long deadline_ms, int (*gone)(void *), void *arg)
{
	CURLM		*m;
	CURL		**h;
	CURLMsg		*msg;
	int		 i, running = 0, left, rc = 0;

	if ((m = curl_multi_init()) == NULL ||
	    (h = calloc((size_t)n, sizeof(*h))) == NULL) {
		curl_multi_cleanup(m);
		return -1;
	}
	for (i = 0; i < n; i++) {
		files[i].status = 0;
		files[i].result = CURLE_OK;
		files[i].toobig = files[i].werr = 0;
		if ((h[i] = curl_easy_init()) == NULL || fetch_setup(h[i], e) ==
		    -1) {
			rc = -1;
			goto out;
		}
		curl_easy_setopt(h[i], CURLOPT_URL, files[i].url);
		curl_easy_setopt(h[i], CURLOPT_HTTPHEADER, files[i].headers);
		curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, to_fd);
		curl_easy_setopt(h[i], CURLOPT_WRITEDATA, &files[i]);
		curl_easy_setopt(h[i], CURLOPT_PRIVATE, &files[i]);
		curl_easy_setopt(h[i], CURLOPT_FAILONERROR, 1L);
		if (files[i].budget != NULL)	/* refused at once if it says */
			curl_easy_setopt(h[i], CURLOPT_MAXFILESIZE_LARGE,
			    (curl_off_t)*files[i].budget);
		curl_multi_add_handle(m, h[i]);
	}
	do {
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			rc = -1;
			break;
		}
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct fetch_file *f;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&f);
			f->result = msg->data.result;
			curl_easy_getinfo(msg->easy_handle,
			    CURLINFO_RESPONSE_CODE, &f->status);
			if (f->result != CURLE_OK || f->status / 100 != 2)
				rc = -1;
		}
		if (running == 0)
			break;
		if (proc_now_ms() >= deadline_ms) {
			rc = -2;
			break;
		}
		if (gone != NULL && gone(arg)) {
			rc = -3;
			break;
		}
		curl_multi_poll(m, NULL, 0, 200, NULL);
	} while (running > 0);
out:
	for (i = 0; i < n; i++)
		if (h[i] != NULL) {
			curl_multi_remove_handle(m, h[i]);
			curl_easy_cleanup(h[i]);
		}
	free(h);
	curl_multi_cleanup(m);
	return rc;
}

/* Did the last transfer on this thread hit the address guard? */
int
fetch_blocked(CURL *h)
{
	(void)h;
	return guard_hit;
}

/*
 * Once, before threads: global libcurl state, the share for DNS and TLS
 * sessions.  c must outlive the process's use of fetch (it is the
 * app's configuration): OUTBOUND_PROXY, CA_FILE, DOWNLOAD_TIMEOUT,
 * FETCH_ALLOW_PRIVATE.
 */
int
fetch_init(const struct conf *c)
{
	int	 i;

	conf = c;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&share_mtx[i], NULL);
	if ((share = curl_share_init()) == NULL)
		return -1;
	curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	return 0;
}

void
fetch_cleanup(void)
{
	if (share != NULL)
		curl_share_cleanup(share);
	share = NULL;
	curl_global_cleanup();
}

/*
 * Apply the safety rules to a handle: protocols, redirects, address
 * guard, timeouts, CA, no signals; and the way out: egress e (the one
 * that extracted what is fetched), or NULL for whichever is next.
 * Returns 0 or -1.
 */
int
fetch_setup(CURL *h, const struct egress *e)
{
	CURLcode	 rc = CURLE_OK;

	guard_hit = 0;
#if LIBCURL_VERSION_NUM >= 0x075500
	rc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	rc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS,
	    CURLPROTO_HTTP | CURLPROTO_HTTPS);
	rc |= curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS,
	    CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
	rc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	rc |= curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)MAX_REDIRS);
	rc |= curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	rc |= curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, before_request);
	rc |= curl_easy_setopt(h, CURLOPT_PREREQDATA, h);
	rc |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT,
	    (long)(conf->download_timeout < 20 ? conf->download_timeout : 20));
	/* A CDN that sends nothing for DOWNLOAD_TIMEOUT seconds is dead. */
	rc |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	rc |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)conf->download_timeout);
	rc |= curl_easy_setopt(h, CURLOPT_SHARE, share);
	if (e == NULL)
		e = egress_pick(NULL);
	/* No egress: straight out, whatever the environment says. */
	rc |= curl_easy_setopt(h, CURLOPT_PROXY, e != NULL ? egress_url(e) :
	    "");
	if (conf->ca_file != NULL) {
		rc |= curl_easy_setopt(h, CURLOPT_CAINFO, conf->ca_file);
		rc |= curl_easy_setopt(h, CURLOPT_PROXY_CAINFO, conf->ca_file);
	}
	return rc == CURLE_OK ? 0 : -1;
}

/*
 * A new easy handle, set up; the caller frees it with curl_easy_cleanup.
 * One per request: DNS answers and TLS sessions are shared through the
 * share object, but no idle connection or resolver descriptor outlives
 * the request (libcurl cannot share connections between threads).
 * NULL on failure.
 */
CURL *
fetch_handle(const struct egress *e)
{
	CURL	*h;

	if ((h = curl_easy_init()) == NULL)
		return NULL;
	if (fetch_setup(h, e) == -1) {
		curl_easy_cleanup(h);
		return NULL;
	}
	return h;
}

/* Throw a body away (a short link's page). */
static size_t
discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

/*
 * Where a short link (vm.tiktok.com/CODE and kin) leads: its redirects
 * followed with a HEAD request, as yt-dlp does, through the proxy and
 * guard like every fetch, within timeout_s.  Returns the final URL (the
 * caller frees it), or NULL.
 */
char *
fetch_final_url(const char *url, int timeout_s)
{
	CURL	*h;
	char	*final = NULL, *out = NULL;

	if ((h = fetch_handle(NULL)) == NULL)
		return NULL;
	if (curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_NOBODY, 1L) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_USERAGENT,
	    "facebookexternalhit/1.1") == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)timeout_s) ==
	    CURLE_OK && curl_easy_perform(h) == CURLE_OK &&
	    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &final) == CURLE_OK &&
	    final != NULL)
		out = strdup(final);
	curl_easy_cleanup(h);
	return out;
}
