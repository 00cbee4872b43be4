/* SPDX-License-Identifier: ISC */
/*
 * GET /: the page people use (web/index.html with web/page.css and
 * web/page.js put in where it says so; src/web_files.c is made from
 * them by make), one self-contained document: its style and script are
 * allowed by their SHA-256 in the Content-Security-Policy and nothing
 * else may run.  WEB_UI=0 turns it off (the router answers 404).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "answer.h"
#include "app.h"
#include "handlers.h"
#include "http.h"
#include "log.h"

#define CSS_MARK	"<!-- page.css -->"
#define JS_MARK		"<!-- page.js -->"

extern const char web_index_html[];
extern const char web_page_css[];
extern const char web_page_js[];

static pthread_once_t	 once = PTHREAD_ONCE_INIT;
static char		*page;		/* the document, made once */
static size_t		 page_len;
static char		 csp[512];

/* "'sha256-BASE64'" of s: what CSP names an inline element by. */
static void
hash_source(const char *s, char *out, size_t outsz)
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];
	unsigned char	 b64[4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1];

	SHA256((const unsigned char *)s, strlen(s), md);
	EVP_EncodeBlock(b64, md, sizeof(md));
	snprintf(out, outsz, "'sha256-%s'", b64);
}

/* Does s hold "</tag" (any case)?  Then it would end its element. */
static int
closes(const char *s, const char *tag)
{
	size_t	 n = strlen(tag);

	for (; (s = strstr(s, "</")) != NULL; s += 2)
		if (strncasecmp(s + 2, tag, n) == 0)
			return 1;
	return 0;
}

/*
 * The document: index.html with the style in place of CSS_MARK and the
 * script in place of JS_MARK (the style's mark first), and the policy
 * naming both by hash.  On failure page stays NULL (logged).
 */
static void
build(void)
{
	const char	*c, *j;
	char		 hcss[64], hjs[64];
	int		 n;

	c = strstr(web_index_html, CSS_MARK);
	j = c != NULL ? strstr(c, JS_MARK) : NULL;
	if (j == NULL || closes(web_page_css, "style") ||
	    closes(web_page_js, "script")) {
		log_warnx("%s: web/index.html lacks its marks, or the style "
		    "or script closes its element", __func__);
		return;
	}
	hash_source(web_page_css, hcss, sizeof(hcss));
	hash_source(web_page_js, hjs, sizeof(hjs));
	snprintf(csp, sizeof(csp), "default-src 'none'; script-src %s; "
	    "style-src %s; img-src 'self' https: http: data:; connect-src 'self'; "
	    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	    hjs, hcss);
	n = asprintf(&page, "%.*s<style>%s</style>%.*s<script>%s</script>%s",
	    (int)(c - web_index_html), web_index_html, web_page_css,
	    (int)(j - c - strlen(CSS_MARK)), c + strlen(CSS_MARK),
	    web_page_js, j + strlen(JS_MARK));
	if (n == -1) {
		page = NULL;
		log_warnx("%s: out of memory", __func__);
		return;
	}
	page_len = (size_t)n;
}

/*
 * Answer GET / (and HEAD): the page, made on first use.  Nothing in it
 * depends on the request: /?url=LINK is read by its script.  The caller
 * (the router) has checked WEB_UI.
 */
void
handle_page(struct app *app, struct http *h)
{
	char	 cl[32];

	(void)app;
	pthread_once(&once, build);
	if (page == NULL) {
		answer_fail(h, FAIL_INTERNAL, NULL);
		return;
	}
	http_header(h, "Content-Type", "text/html; charset=utf-8");
	http_header(h, "Cache-Control", "public, max-age=600");
	http_header(h, "Content-Security-Policy", csp);
	http_header(h, "X-Content-Type-Options", "nosniff");
	http_header(h, "Referrer-Policy", "no-referrer");
	snprintf(cl, sizeof(cl), "%zu", page_len);
	http_header(h, "Content-Length", cl);
	http_write(h, page, page_len);
}
