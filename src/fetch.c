/* SPDX-License-Identifier: ISC */
/*
 * libcurl set up once for the whole process, with the safety rules
 * applied to every handle we use; handles kept warm between requests.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conf.h"
#include "egress.h"
#include "fetch.h"
#include "fetch_impl.h"
#include "guard.h"
#include "log.h"
#include "proc.h"

#define MAX_REDIRS	5

static const struct conf	*conf;	/* the settings, from fetch_init */
static CURLSH			*share;
static pthread_mutex_t		 share_mtx[CURL_LOCK_DATA_LAST];
static X509_STORE		*cas;	/* the CA certificates, loaded once */

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

/* May a fetch ask for url (guard_target with our settings)? */
static int
allowed(const char *url)
{
	return guard_target(url, conf->cdn_domains, conf->fetch_allow_private);
}

/*
 * Every response's header lines, before the caller's callback: a
 * redirect whose target the guard refuses ends the transfer here, before
 * libcurl connects anywhere (or asks any proxy) for it.
 */
static size_t
on_header(char *line, size_t size, size_t n, void *arg)
{
	struct fetch_hops	*hp = arg;
	size_t			 len = size * n;
	const char		*sp, *v, *e;
	char			*base = NULL, *to = NULL, loc[2048];
	CURLU			*u;
	int			 ok = 0;

	if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
		sp = memchr(line, ' ', len);
		hp->status = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
	} else if (hp->status / 100 == 3 && len > 9 &&
	    strncasecmp(line, "Location:", 9) == 0) {
		v = line + 9;
		e = line + len;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		while (e > v && (e[-1] == '\r' || e[-1] == '\n' ||
		    e[-1] == ' '))
			e--;
		if ((size_t)(e - v) < sizeof(loc) &&
		    (u = curl_url()) != NULL) {
			snprintf(loc, sizeof(loc), "%.*s", (int)(e - v), v);
			/* Relative to where we are, as libcurl will take it. */
			ok = curl_easy_getinfo(hp->curl, CURLINFO_EFFECTIVE_URL,
			    &base) == CURLE_OK && base != NULL &&
			    curl_url_set(u, CURLUPART_URL, base, 0) ==
			    CURLUE_OK && curl_url_set(u, CURLUPART_URL, loc,
			    0) == CURLUE_OK && curl_url_get(u, CURLUPART_URL,
			    &to, 0) == CURLUE_OK && allowed(to);
			curl_free(to);
			curl_url_cleanup(u);
		}
		if (!ok) {
			hp->refused = 1;
			guard_hit = 1;
			return 0;
		}
	}
	if (hp->fn != NULL)
		return hp->fn(line, size, n, hp->arg);
	return len;
}

/*
 * Watch c's header lines for redirects (each hop's target is judged
 * before libcurl follows it), then hand each line to fn(arg) if fn is
 * not NULL.  Redirects are followed only with this: set it before every
 * transfer.  hp must live as long as the transfer.  Returns CURLE_OK, or
 * libcurl's refusal (then redirects are not followed).
 */
CURLcode
fetch_headers(struct fetch_conn *c, struct fetch_hops *hp,
    size_t (*fn)(char *, size_t, size_t, void *), void *arg)
{
	CURLcode	 rc;

	memset(hp, 0, sizeof(*hp));
	hp->curl = c->curl;
	hp->fn = fn;
	hp->arg = arg;
	if ((rc = curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION,
	    on_header)) != CURLE_OK ||
	    (rc = curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, hp)) !=
	    CURLE_OK)
		return rc;
	return curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 1L);
}

/*
 * Set c's URL if the guard lets it through (guard.h: decided before
 * anything is connected, whatever the egress).  0, or -1 when refused
 * (fetch_blocked says so).
 */
int
fetch_url(struct fetch_conn *c, const char *url)
{
	if (!allowed(url)) {
		guard_hit = 1;
		return -1;
	}
	return curl_easy_setopt(c->curl, CURLOPT_URL, url) == CURLE_OK ? 0 :
	    -1;
}

/*
 * libcurl asks us for every socket it connects, after DNS resolution and
 * for every redirect hop: refuse non-public addresses here, where the
 * address is the one really used (no DNS rebinding window).  Through a
 * proxy (u is the handle then; NULL straight out: the list may change
 * at SIGHUP, so the handle says, not the settings) the only address is
 * the proxy's, which the operator chose; what is asked of it was judged
 * before (fetch_url, on_header).
 */
static curl_socket_t
open_socket(void *u, curlsocktype purpose, struct curl_sockaddr *a)
{
	if (purpose == CURLSOCKTYPE_IPCXN && !conf->fetch_allow_private &&
	    u == NULL && !guard_addr_public(&a->addr)) {
		guard_hit = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/*
 * Every new TLS connection verifies against the one store, and keeps its
 * record buffers: released after each record (libcurl asks for that),
 * each 17 KB buffer was a fresh mmap and munmap (M_MMAP_THRESHOLD is 8
 * KB here) for every 16 KB of a stream.
 */
static CURLcode
use_store(CURL *h, void *ctx, void *arg)
{
	(void)h; (void)arg;
	if (X509_STORE_up_ref(cas) != 1)
		return CURLE_OUT_OF_MEMORY;
	SSL_CTX_set_cert_store(ctx, cas);
	SSL_CTX_clear_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return CURLE_OK;
}

/*
 * The CA certificates every TLS connection (CDN, HTTPS proxy) trusts:
 * CA_FILE, else libcurl's default, loaded once (parsing a 200 KB bundle
 * per connection cost more CPU than the transfer).  NULL: cannot.
 */
static X509_STORE *
load_store(void)
{
	curl_version_info_data	*v = curl_version_info(CURLVERSION_NOW);
	const char		*file = conf->ca_file, *dir = NULL;
	X509_STORE		*s;

	if ((s = X509_STORE_new()) == NULL)
		return NULL;
	if (file == NULL) {
		file = v->cainfo;
		dir = v->capath;
	}
	if ((file != NULL || dir != NULL) ?
	    X509_STORE_load_locations(s, file, dir) != 1 :
	    X509_STORE_set_default_paths(s) != 1) {
		log_warnx("%s: cannot load the CA certificates of %s",
		    __func__, file != NULL ? file : dir != NULL ? dir :
		    "OpenSSL's default");
		X509_STORE_free(s);
		return NULL;
	}
	/* As libcurl sets its own store. */
	X509_STORE_set_flags(s, X509_V_FLAG_PARTIAL_CHAIN);
	return s;
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
 * Returns CURLE_OK, or libcurl's refusal (then nothing watches).
 */
CURLcode
fetch_watch(CURL *h, struct fetch_watch *w, int (*gone)(void *), void *arg)
{
	CURLcode	 rc;

	memset(w, 0, sizeof(*w));
	w->gone = gone;
	w->gone_arg = arg;
	w->last_ms = proc_now_ms();
	w->asked_ms = w->last_ms;
	if ((rc = curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION,
	    on_progress)) != CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_XFERINFODATA, w)) != CURLE_OK)
		return rc;
	return curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
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

/* Did the last transfer on this thread hit the address guard? */
int
fetch_blocked(void)
{
	return guard_hit;
}

/*
 * The proxy's answer to CONNECT when it refused to open the way (a
 * status of 300 or more), else 0: then the status seen is the CDN's.
 */
long
fetch_proxy_refused(struct fetch_conn *c)
{
	long	 code = 0;

	if (curl_easy_getinfo(c->curl, CURLINFO_HTTP_CONNECTCODE, &code) !=
	    CURLE_OK)
		return 0;
	return code >= 300 ? code : 0;
}

/*
 * Once, before threads: global libcurl state, the share for DNS and TLS
 * sessions, the CA certificates.  c must outlive the process's use of
 * fetch (it is the app's configuration): OUTBOUND_PROXY, CA_FILE,
 * CDN_DOMAINS, DOWNLOAD_TIMEOUT, FETCH_ALLOW_PRIVATE.
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
	/* Without it each connection loads CA_FILE itself, as before. */
	cas = load_store();
	return 0;
}

/* Let go of every idle handle (and its connections), then libcurl. */
void
fetch_cleanup(void)
{
	fetch_pool_clear();
	if (share != NULL)
		curl_share_cleanup(share);
	share = NULL;
	if (cas != NULL)
		X509_STORE_free(cas);
	cas = NULL;
	curl_global_cleanup();
}

/*
 * Apply the safety rules to a handle: protocols, no redirect until
 * fetch_headers, address guard, timeouts, CA, no signals; and the way
 * out: egress e, or none.  Returns 0 or -1.  (fetch_impl.h)
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
	rc |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)MAX_REDIRS);
	rc |= curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	rc |= curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, e != NULL ? h : NULL);
	rc |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT,
	    (long)(conf->download_timeout < 20 ? conf->download_timeout : 20));
	/* A CDN that sends nothing for DOWNLOAD_TIMEOUT seconds is dead. */
	rc |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	rc |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)conf->download_timeout);
	rc |= curl_easy_setopt(h, CURLOPT_SHARE, share);
	rc |= curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 2L);
	/* The CDN's status, not a proxy's answer to CONNECT. */
	rc |= curl_easy_setopt(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	/* No egress: straight out, whatever the environment says. */
	rc |= curl_easy_setopt(h, CURLOPT_PROXY, e != NULL ? egress_url(e) :
	    "");
	if (cas != NULL && curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION,
	    use_store) == CURLE_OK) {
		rc |= curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
		rc |= curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
		rc |= curl_easy_setopt(h, CURLOPT_PROXY_CAINFO, NULL);
		rc |= curl_easy_setopt(h, CURLOPT_PROXY_CAPATH, NULL);
	} else if (conf->ca_file != NULL) {
		rc |= curl_easy_setopt(h, CURLOPT_CAINFO, conf->ca_file);
		rc |= curl_easy_setopt(h, CURLOPT_PROXY_CAINFO, conf->ca_file);
	}
	return rc == CURLE_OK ? 0 : -1;
}

/* f's transfer set up to write into its fd.  CURLE_OK or the refusal. */
static CURLcode
options(struct fetch_file *f)
{
	CURL		*c = f->conn->curl;
	CURLcode	 rc;

	if ((rc = fetch_headers(f->conn, &f->hops, NULL, NULL)) != CURLE_OK ||
	    (rc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, f->headers)) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_fd)) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(c, CURLOPT_WRITEDATA, f)) != CURLE_OK ||
	    (rc = curl_easy_setopt(c, CURLOPT_PRIVATE, f)) != CURLE_OK ||
	    (rc = curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L)) != CURLE_OK)
		return rc;
	if (f->budget != NULL)	/* refused at once if it says */
		rc = curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
		    (curl_off_t)*f->budget);
	return rc;
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
	CURLM			*m;
	CURLMsg			*msg;
	struct fetch_file	*f;
	int			 i, running = 0, left, rc = 0;

	if ((m = curl_multi_init()) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		f = &files[i];
		f->status = 0;
		f->result = CURLE_OK;
		f->toobig = f->werr = 0;
		if ((f->conn = fetch_take(e, f->url)) == NULL) {
			rc = -1;
			goto out;
		}
		if (fetch_url(f->conn, f->url) == -1) {
			f->result = CURLE_COULDNT_CONNECT;
			rc = -1;
			continue;
		}
		if ((f->result = options(f)) != CURLE_OK ||
		    curl_multi_add_handle(m, f->conn->curl) != CURLM_OK) {
			if (f->result == CURLE_OK)
				f->result = CURLE_FAILED_INIT;
			rc = -1;
			continue;
		}
		f->added = 1;
	}
	do {
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			rc = -1;
			break;
		}
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
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
	for (i = 0; i < n; i++) {
		f = &files[i];
		if (f->conn == NULL)
			continue;
		if (f->added)
			curl_multi_remove_handle(m, f->conn->curl);
		f->added = 0;
		fetch_give(f->conn);
		f->conn = NULL;
	}
	curl_multi_cleanup(m);
	return rc;
}
