/* SPDX-License-Identifier: ISC */
/*
 * A download token's payload read (target.h): ours, made by
 * shape_stream_payload, or serverjs's, which names only the post's page
 * and a format (the CDN URL comes from extracting the post again).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "target.h"

/* Free what t holds and zero it; t may be zeroed already. */
void
target_clear(struct target *t)
{
	free(t->url);
	json_object_put(t->headers);
	free(t->author);
	free(t->type);
	free(t->page_url);
	free(t->format_id);
	free(t->egress);
	memset(t, 0, sizeof(*t));
}

static char *
dupstr(struct json_object *o, const char *key)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return strdup(json_object_get_string(v));
}

/*
 * Read a token payload: ours ({url, cdn_url, author, type, http_headers,
 * page_url, format_id}: shape_stream_payload) or serverjs's ({url: page
 * URL, format_id, author}).  Returns 0, or -1 when it is not a payload
 * we know (t is zeroed then).  t owns its strings and headers:
 * target_clear() frees them.
 */
int
target_parse(const char *payload, const char *deftype, struct target *t)
{
	struct json_tokener	*jt;
	struct json_object	*o, *hh;
	int			 rc = -1;

	memset(t, 0, sizeof(*t));
	if ((jt = json_tokener_new_ex(8)) == NULL)
		return -1;
	o = json_tokener_parse_ex(jt, payload, (int)strlen(payload));
	json_tokener_free(jt);
	if (o == NULL || !json_object_is_type(o, json_type_object))
		goto out;
	t->page_url = dupstr(o, "page_url");
	if ((t->url = dupstr(o, "cdn_url")) != NULL) {
		if (t->page_url == NULL)	/* url is the page */
			t->page_url = dupstr(o, "url");
	} else
		t->url = dupstr(o, "url");
	t->author = dupstr(o, "author");
	t->type = dupstr(o, "type");
	t->egress = dupstr(o, "egress");
	t->format_id = dupstr(o, "format_id");
	if (json_object_object_get_ex(o, "http_headers", &hh) &&
	    json_object_is_type(hh, json_type_object))
		t->headers = json_object_get(hh);
	if (t->url == NULL)
		goto out;
	if (t->type == NULL)
		t->type = strdup(deftype);
	if (t->headers == NULL && t->format_id != NULL &&
	    t->page_url == NULL) {
		/* serverjs: url is the post's page; the CDN URL comes from
		 * extracting it. */
		t->page_url = t->url;
		t->url = NULL;
	}
	rc = 0;
out:
	json_object_put(o);
	if (rc == -1)
		target_clear(t);
	return rc;
}

