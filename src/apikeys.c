/* SPDX-License-Identifier: ISC */
/*
 * The API keys file and the keys' budgets (apikeys.h).
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "apikeys.h"
#include "log.h"

#define KEY_MIN		16	/* characters: shorter is guessable */
#define KEY_MAX		256
#define LINE_MAX_LEN	4096
#define KEYS_MAX	100000

struct apikey {
	unsigned char		 digest[32];	/* SHA-256 of the key */
	char			 id[33];	/* hex of its first half */
	char			 name[APIKEY_NAME_MAX + 1];
	int			 own[LIMIT_CLASSES];	/* limit=, media= */
	struct limit_rate	 rate[LIMIT_CLASSES];
	pthread_mutex_t		 mtx;
	struct limit_window	 win[LIMIT_CLASSES];
};

struct apikeys {
	int		 refs;		/* __atomic */
	size_t		 n, cap;
	struct apikey	*v;
};

static int
sha256(const char *s, size_t len, unsigned char out[32])
{
	unsigned int	 n = 32;

	return EVP_Digest(s, len, out, &n, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

static void
keys_free(struct apikeys *ks)
{
	size_t	 i;

	for (i = 0; i < ks->n; i++)
		pthread_mutex_destroy(&ks->v[i].mtx);
	OPENSSL_cleanse(ks->v, ks->cap * sizeof(*ks->v));
	free(ks->v);
	free(ks);
}

/* limit= or media=: N/SECONDS, or "unlimited".  0, or -1 with why. */
static int
option_rate(struct apikey *k, enum limit_class c, const char *v, char *why,
    size_t whysz)
{
	k->own[c] = 1;
	if (strcmp(v, "unlimited") == 0) {
		k->rate[c].n = 0;
		k->rate[c].w = 1;
		return 0;
	}
	return limit_rate_parse(v, &k->rate[c], why, whysz);
}

/*
 * One line's key (its words in w, n of them; w[0] the key) into k.
 * 0, or -1 with why.
 */
static int
parse_key(struct apikey *k, char **w, int n, int lineno, char *why,
    size_t whysz)
{
	const char	*p;
	size_t		 len = strlen(w[0]), i;
	int		 j;

	memset(k, 0, sizeof(*k));
	if (len < KEY_MIN || len > KEY_MAX) {
		snprintf(why, whysz, "a key must have %d to %d characters",
		    KEY_MIN, KEY_MAX);
		return -1;
	}
	if (sha256(w[0], len, k->digest) == -1) {
		snprintf(why, whysz, "no SHA-256");
		return -1;
	}
	for (i = 0; i < 16; i++)
		snprintf(k->id + 2 * i, 3, "%02x", k->digest[i]);
	snprintf(k->name, sizeof(k->name), "line-%d", lineno);
	for (j = 1; j < n; j++) {
		if (strncmp(w[j], "name=", 5) == 0) {
			p = w[j] + 5;
			if (*p == '\0' || strlen(p) > APIKEY_NAME_MAX ||
			    strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
			    "opqrstuvwxyz0123456789._@-") != strlen(p)) {
				snprintf(why, whysz, "name= takes 1 to %d "
				    "letters, digits and . _ @ -",
				    APIKEY_NAME_MAX);
				return -1;
			}
			snprintf(k->name, sizeof(k->name), "%s", p);
		} else if (strncmp(w[j], "limit=", 6) == 0) {
			if (option_rate(k, LIMIT_API, w[j] + 6, why, whysz) ==
			    -1)
				return -1;
		} else if (strncmp(w[j], "media=", 6) == 0) {
			if (option_rate(k, LIMIT_MEDIA, w[j] + 6, why,
			    whysz) == -1)
				return -1;
		} else {
			snprintf(why, whysz, "\"%.40s\" is none of name=, "
			    "limit=, media=", w[j]);
			return -1;
		}
	}
	return 0;
}

/* A key read from line lineno of a file, added to ks.  0, or -1. */
static int
add_line(struct apikeys *ks, char *line, int lineno, char *why,
    size_t whysz)
{
	char		*w[8], *p = line;
	struct apikey	*nv;
	int		 n = 0;
	size_t		 i;

	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#')
			break;
		if (n == 8) {
			snprintf(why, whysz, "too many words");
			return -1;
		}
		w[n++] = p;
		while (*p != '\0' && !isspace((unsigned char)*p))
			if ((unsigned char)*p++ >= 0x7f) {
				snprintf(why, whysz, "not ASCII");
				return -1;
			}
		if (*p != '\0')
			*p++ = '\0';
	}
	if (n == 0)
		return 0;
	if (ks->n == KEYS_MAX) {
		snprintf(why, whysz, "more than %d keys", KEYS_MAX);
		return -1;
	}
	if (ks->n == ks->cap) {
		if ((nv = calloc(ks->cap ? ks->cap * 2 : 16, sizeof(*nv))) ==
		    NULL) {
			snprintf(why, whysz, "out of memory");
			return -1;
		}
		if (ks->n > 0)
			memcpy(nv, ks->v, ks->n * sizeof(*nv));
		OPENSSL_cleanse(ks->v, ks->cap * sizeof(*ks->v));
		free(ks->v);
		ks->v = nv;
		ks->cap = ks->cap ? ks->cap * 2 : 16;
	}
	if (parse_key(&ks->v[ks->n], w, n, lineno, why, whysz) == -1)
		return -1;
	for (i = 0; i < ks->n; i++)
		if (memcmp(ks->v[i].digest, ks->v[ks->n].digest, 32) == 0) {
			snprintf(why, whysz, "the same key as %s",
			    ks->v[i].name);
			return -1;
		}
	ks->n++;
	return 0;
}

/*
 * Read an API keys file.  Returns the set (held once: apikeys_drop
 * frees it), or NULL with "FILE:LINE: why" (never the key) in err.
 * The keys' text is not kept, only their digests.
 */
struct apikeys *
apikeys_load(const char *file, char *err, size_t errsz)
{
	struct apikeys	*ks;
	FILE		*f;
	char		*line = NULL, why[160];
	size_t		 cap = 0, i;
	ssize_t		 len;
	int		 lineno = 0, ok = 1;
	struct stat	 st;

	if ((f = fopen(file, "re")) == NULL || fstat(fileno(f), &st) == -1) {
		snprintf(err, errsz, "API_KEYS_FILE: %s: %s", file,
		    strerror(errno));
		if (f != NULL)
			fclose(f);
		return NULL;
	}
	if ((st.st_mode & S_IROTH) != 0)
		log_warnx("API_KEYS_FILE %s can be read by anyone: chmod o-r "
		    "it", file);
	if ((ks = calloc(1, sizeof(*ks))) == NULL) {
		fclose(f);
		snprintf(err, errsz, "API_KEYS_FILE: out of memory");
		return NULL;
	}
	ks->refs = 1;
	while (ok && (len = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (len > LINE_MAX_LEN) {
			snprintf(why, sizeof(why), "longer than %d bytes",
			    LINE_MAX_LEN);
			ok = 0;
		} else
			ok = add_line(ks, line, lineno, why, sizeof(why)) == 0;
	}
	if (line != NULL)
		OPENSSL_cleanse(line, cap);
	free(line);
	if (ok && ferror(f)) {
		snprintf(why, sizeof(why), "%s", strerror(errno));
		ok = 0;
	}
	fclose(f);
	if (!ok) {
		snprintf(err, errsz, "API_KEYS_FILE: %s:%d: %s", file, lineno,
		    why);
		keys_free(ks);
		return NULL;
	}
	for (i = 0; i < ks->n; i++)
		pthread_mutex_init(&ks->v[i].mtx, NULL);
	return ks;
}

/*
 * Keys of from that are in to too keep their windows (a reload does not
 * hand out fresh budgets).  to is not in use yet.
 */
void
apikeys_carry(struct apikeys *to, struct apikeys *from)
{
	size_t	 i, j;

	for (i = 0; i < to->n; i++)
		for (j = 0; j < from->n; j++) {
			if (memcmp(to->v[i].digest, from->v[j].digest, 32) != 0)
				continue;
			pthread_mutex_lock(&from->v[j].mtx);
			memcpy(to->v[i].win, from->v[j].win,
			    sizeof(to->v[i].win));
			pthread_mutex_unlock(&from->v[j].mtx);
			break;
		}
}

void
apikeys_hold(struct apikeys *ks)
{
	__atomic_add_fetch(&ks->refs, 1, __ATOMIC_RELAXED);
}

/* Let go of a set; the last one frees it.  NULL is a no-op. */
void
apikeys_drop(struct apikeys *ks)
{
	if (ks != NULL && __atomic_sub_fetch(&ks->refs, 1,
	    __ATOMIC_ACQ_REL) == 0)
		keys_free(ks);
}

size_t
apikeys_count(const struct apikeys *ks)
{
	return ks != NULL ? ks->n : 0;
}

/*
 * The key whose text is key, or NULL.  Every key's digest is compared,
 * each in constant time (CRYPTO_memcmp), so how long it takes says
 * nothing of how near a guess came.
 */
struct apikey *
apikeys_find(struct apikeys *ks, const char *key)
{
	unsigned char	 d[32];
	struct apikey	*found = NULL;
	size_t		 i;

	if (ks == NULL || sha256(key, strlen(key), d) == -1)
		return NULL;
	for (i = 0; i < ks->n; i++)
		if (CRYPTO_memcmp(d, ks->v[i].digest, sizeof(d)) == 0)
			found = &ks->v[i];
	return found;
}

/* What stands for the key in logs: name=, or "line-N". */
const char *
apikeys_name(const struct apikey *k)
{
	return k->name;
}

/* What stands for the key in Redis: half its digest, in hex. */
const char *
apikeys_id(const struct apikey *k)
{
	return k->id;
}

/*
 * The key's budget for class c: its own (limit=, media=), else dflt.
 * Returns 1 with r set, or 0 when the key is not limited there.
 */
int
apikeys_rate(const struct apikey *k, enum limit_class c,
    const struct limit_rate *dflt, struct limit_rate *r)
{
	*r = k->own[c] ? k->rate[c] : *dflt;
	return r->n > 0;
}

/* Count one request of the key's in class c against r. */
void
apikeys_hit(struct apikey *k, enum limit_class c, const struct limit_rate *r,
    long long now_ms, struct limit_verdict *v)
{
	pthread_mutex_lock(&k->mtx);
	limit_window_hit(&k->win[c], r, now_ms, v);
	pthread_mutex_unlock(&k->mtx);
}

/* Set the key's window in class c to what the fleet counted. */
void
apikeys_set(struct apikey *k, enum limit_class c, unsigned count,
    long long start_ms)
{
	pthread_mutex_lock(&k->mtx);
	k->win[c].start_ms = start_ms;
	k->win[c].count = count;
	pthread_mutex_unlock(&k->mtx);
}
