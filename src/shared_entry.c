/* SPDX-License-Identifier: ISC */
/*
 * What the shared cache puts in Redis, and how it tells its own from
 * what anyone else with access to that Redis may have written there
 * (shared_impl.h).  Nothing read from Redis is trusted as it is:
 *
 *   an entry   a sealed box (box.h) under a key derived from
 *              ENCRYPTION_KEY, with the Redis key as associated data (an
 *              entry moved to another post does not open), holding
 *              {"exp": unix seconds, "info": {...}} or, for a post TikTok
 *              says is missing or private, {"exp": ..., "missing":
 *              "not_found" | "private"}.  Sealed, not only signed: the
 *              formats' headers carry the Cookie of COOKIES_PATH.
 *   a lock     "EXP_MS-RANDOM-MAC": when it dies (ms since the epoch), 16
 *              random bytes, and an HMAC-SHA256 of the post, EXP_MS and
 *              RANDOM under a second derived key; a lock that does not
 *              verify, or claims to live longer than ours may, is
 *              ignored.
 *
 * The entry's own "exp" bounds it, whatever TTL Redis was told.
 */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "answer.h"
#include "box.h"
#include "shared_impl.h"

#define ENTRY_VERSION	1	/* the first byte of an entry */
#define URL_MARGIN_S	60	/* an entry dies this long before its URLs */
#define MAC_HEX		32	/* a lock's MAC: 16 bytes, in hex */

/* The associated data of key's entry: its Redis key. */
static size_t
entry_aad(const char *key, char *buf, size_t sz)
{
	int	 n;

	n = snprintf(buf, sz, SHARED_POST_PREFIX "%s", key);
	return n < 0 ? 0 : (size_t)n >= sz ? sz - 1 : (size_t)n;
}

/*
 * The earliest time (unix seconds) url says it is valid until, in an
 * expire=, x-expires= or expires= query parameter, or 0 when it says
 * none.
 */
long long
shared_url_expiry(const char *url)
{
	static const char *const params[] = { "expire=", "x-expires=",
	    "expires=", NULL };
	const char	*p;
	long long	 t, first = 0;
	int		 k;

	for (k = 0; params[k] != NULL; k++)
		for (p = strstr(url, params[k]); p != NULL;
		    p = strstr(p + 1, params[k])) {
			/* A parameter's name starts the query or follows
			 * an '&'; a URL that starts with it has no query. */
			if (p == url || (p[-1] != '?' && p[-1] != '&'))
				continue;
			t = strtoll(p + strlen(params[k]), NULL, 10);
			if (t > 1000000000 && (first == 0 || t < first))
				first = t;
		}
	return first;
}

/*
 * How long info may be shared, from now (unix seconds): max_ttl, and no
 * longer than its CDN URLs stay valid less a minute.  0: not at all.
 */
int
shared_entry_ttl(struct json_object *info, int max_ttl, long long now)
{
	struct json_object	*fs, *f, *u;
	const char		*url;
	long long		 t, first = 0, left;
	size_t			 i, n;

	if (!json_object_object_get_ex(info, "formats", &fs) ||
	    !json_object_is_type(fs, json_type_array))
		return max_ttl;
	n = json_object_array_length(fs);
	for (i = 0; i < n; i++) {
		f = json_object_array_get_idx(fs, i);
		if (!json_object_object_get_ex(f, "url", &u) ||
		    (url = json_object_get_string(u)) == NULL)
			continue;
		if ((t = shared_url_expiry(url)) != 0 &&
		    (first == 0 || t < first))
			first = t;
	}
	if (first == 0)
		return max_ttl;
	left = first - now - URL_MARGIN_S;
	return left <= 0 ? 0 : left < max_ttl ? (int)left : max_ttl;
}

/*
 * Seal key's entry, to live until exp (unix seconds): info (a post) when
 * err is FAIL_OK, else the failure (FAIL_NOT_FOUND or FAIL_PRIVATE).
 * Returns the entry, *len bytes, which the caller frees; NULL on
 * failure.  info is only read (the caller holds it alone).
 */
unsigned char *
shared_seal_entry(const unsigned char key32[32], const char *key,
    enum fail err, struct json_object *info, long long exp,
    size_t *len)
{
	char		*plain = NULL, aad[512];
	unsigned char	*box, *out = NULL;
	const char	*s;
	size_t		 blen;
	int		 n;

	if (err == FAIL_OK) {
		s = json_object_to_json_string_ext(info,
		    JSON_C_TO_STRING_PLAIN);
		n = s == NULL ? -1 : asprintf(&plain, "{\"exp\":%lld,"
		    "\"info\":%s}", exp, s);
	} else
		n = asprintf(&plain, "{\"exp\":%lld,\"missing\":\"%s\"}", exp,
		    answer_name(err == FAIL_PRIVATE ? FAIL_PRIVATE :
		    FAIL_NOT_FOUND));
	if (n < 0)
		return NULL;
	box = box_seal(key32, aad, entry_aad(key, aad, sizeof(aad)), plain,
	    (size_t)n, &blen);
	free(plain);
	if (box != NULL && (out = malloc(blen + 1)) != NULL) {
		out[0] = ENTRY_VERSION;
		memcpy(out + 1, box, blen);
		*len = blen + 1;
	}
	free(box);
	return out;
}

/*
 * Open key's entry as read from Redis (len bytes), at now (unix
 * seconds).  Returns 1 with *err FAIL_OK and *info (a reference the
 * caller owns), or with *err the remembered failure and *info NULL; 0
 * when it is not an entry of ours for key (sealed under another key,
 * for another post, altered, expired, or not sealed at all).
 */
int
shared_open_entry(const unsigned char key32[32], const char *key,
    const void *data, size_t len, long long now, struct json_object **info,
    enum fail *err)
{
	const unsigned char	*d = data;
	struct json_tokener	*jt = NULL;
	struct json_object	*o = NULL, *e, *v;
	char			*plain = NULL, aad[512];
	size_t			 n;
	int			 rc = 0;

	*info = NULL;
	*err = FAIL_OTHER;
	if (len < 2 || d[0] != ENTRY_VERSION || (plain = box_open(key32, aad,
	    entry_aad(key, aad, sizeof(aad)), d + 1, len - 1, &n)) == NULL ||
	    n > INT_MAX || (jt = json_tokener_new_ex(64)) == NULL)
		goto out;
	o = json_tokener_parse_ex(jt, plain, (int)n);
	if (o == NULL || json_tokener_get_error(jt) != json_tokener_success ||
	    !json_object_object_get_ex(o, "exp", &e) ||
	    !json_object_is_type(e, json_type_int) ||
	    json_object_get_int64(e) <= now)
		goto out;
	if (json_object_object_get_ex(o, "info", &v) &&
	    json_object_is_type(v, json_type_object)) {
		*info = json_object_get(v);
		*err = FAIL_OK;
		rc = 1;
	} else if (json_object_object_get_ex(o, "missing", &v) &&
	    json_object_is_type(v, json_type_string)) {
		*err = answer_kind(json_object_get_string(v)) ==
		    FAIL_PRIVATE ? FAIL_PRIVATE : FAIL_NOT_FOUND;
		rc = 1;
	}
out:
	json_object_put(o);
	if (jt != NULL)
		json_tokener_free(jt);
	free(plain);
	return rc;
}

/* The MAC of a lock's key, EXP_MS and RANDOM, in hex (MAC_HEX + 1). */
static void
lock_mac(const unsigned char key32[32], const char *key, long long exp_ms,
    const char *rnd, char *hex)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	char		 msg[600];
	int		 i, n;

	n = snprintf(msg, sizeof(msg), "%s\n%lld\n%s", key, exp_ms, rnd);
	if (n < 0 || (size_t)n >= sizeof(msg) || HMAC(EVP_sha256(), key32,
	    32, (unsigned char *)msg, (size_t)n, md, &mdlen) == NULL ||
	    mdlen < MAC_HEX / 2) {
		memset(hex, 0, MAC_HEX + 1);	/* verifies nothing */
		return;
	}
	for (i = 0; i < MAC_HEX / 2; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/*
 * A fresh lock value for key, to die at exp_ms (ms since the epoch),
 * into buf (SHARED_LOCK_LEN).  0, or -1.
 */
int
shared_lock_value(const unsigned char key32[32], const char *key,
    long long exp_ms, char *buf)
{
	unsigned char	 r[16];
	char		 rnd[33], mac[MAC_HEX + 1];
	int		 i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	for (i = 0; i < 16; i++)
		snprintf(rnd + 2 * i, 3, "%02x", r[i]);
	lock_mac(key32, key, exp_ms, rnd, mac);
	if (mac[0] == '\0')
		return -1;
	snprintf(buf, SHARED_LOCK_LEN, "%lld-%s-%s", exp_ms, rnd, mac);
	return 0;
}

/*
 * Is value (len bytes, as read from Redis) a lock one of us took on key,
 * alive at now_ms and for at most max_ms more?  Returns the ms it has
 * left, or -1: a lock to ignore.
 */
long long
shared_lock_left(const unsigned char key32[32], const char *key,
    const char *value, size_t len, long long now_ms, long long max_ms)
{
	char		 v[SHARED_LOCK_LEN], rnd[33], mac[MAC_HEX + 1];
	char		*end, *dash;
	long long	 exp;

	if (len == 0 || len >= sizeof(v))
		return -1;
	memcpy(v, value, len);
	v[len] = '\0';
	exp = strtoll(v, &end, 10);
	if (end == v || *end != '-' || strlen(end + 1) != 32 + 1 + MAC_HEX ||
	    (dash = strchr(end + 1, '-')) != end + 33)
		return -1;
	memcpy(rnd, end + 1, 32);
	rnd[32] = '\0';
	lock_mac(key32, key, exp, rnd, mac);
	if (mac[0] == '\0' || CRYPTO_memcmp(mac, dash + 1, MAC_HEX) != 0)
		return -1;
	if (exp <= now_ms || exp - now_ms > max_ms)
		return -1;
	return exp - now_ms;
}
