/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer: what the shared cache reads from Redis (anyone who can
 * write there controls it): entries, lock values, and the CDN URLs of
 * the posts it shares (their expire= parameters).  Each input is taken
 * as all three, each from a buffer of its exact size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "shared_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const unsigned char key[32] = "fuzz key fuzz key fuzz key fuzz";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object	*info = NULL;
	enum fail		 err;
	uint8_t			*d;
	char			*s;

	if ((d = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(d, data, size);
	if (shared_open_entry(key, "tiktok:1", d, size, 1700000000, &info,
	    &err) == 1)
		json_object_put(info);
	(void)shared_lock_left(key, "tiktok:1", (char *)d, size,
	    1700000000000LL, 75000);
	free(d);
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)shared_url_expiry(s);
	free(s);
	return 0;
}
