/* SPDX-License-Identifier: ISC */
/*
 * A helper's line, parsed: one JSON object, its members checked for
 * their types; nothing else is looked at or changed.
 */

#include "config.h"

#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "answer.h"
#include "pool_answer.h"

/* A string member, or NULL. */
static const char *
str(struct json_object *o, const char *key)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/*
 * Read line (len bytes, no newline) into a.  Returns 0, or -1 when it
 * breaks the protocol: not one JSON object (and nothing after it), a
 * handshake that is not
 * {"ready": true, "ytdlp": "<version>"}, anything else without an id.
 * On 0 the caller clears a (pool_answer_clear) when done with it.
 */
int
pool_answer_parse(struct pool_answer *a, const char *line, size_t len)
{
	struct json_tokener	*jt;
	struct json_object	*o, *v;

	memset(a, 0, sizeof(*a));
	if (len > (size_t)INT32_MAX || (jt = json_tokener_new_ex(64)) ==
	    NULL)
		return -1;
	o = json_tokener_parse_ex(jt, line, (int)len);
	if (o == NULL || json_tokener_get_error(jt) != json_tokener_success ||
	    json_tokener_get_parse_end(jt) != len ||
	    !json_object_is_type(o, json_type_object)) {
		json_tokener_free(jt);
		json_object_put(o);
		return -1;
	}
	json_tokener_free(jt);
	a->doc = o;
	if (json_object_object_get_ex(o, "ready", &v)) {
		/* The version must be a string: anything else (null) is a
		 * broken helper. */
		if (!json_object_get_boolean(v) ||
		    (a->version = str(o, "ytdlp")) == NULL)
			goto bad;
		a->what = POOL_ANSWER_READY;
		return 0;
	}
	if (!json_object_object_get_ex(o, "id", &v))
		goto bad;
	a->id = (unsigned long)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "started", &v)) {
		a->what = POOL_ANSWER_STARTED;
		return 0;
	}
	a->what = POOL_ANSWER_DONE;
	if (json_object_object_get_ex(o, "ok", &v) &&
	    json_object_get_boolean(v) &&
	    json_object_object_get_ex(o, "info", &v) &&
	    json_object_is_type(v, json_type_object)) {
		a->info = v;
		return 0;
	}
	if ((a->msg = str(o, "error")) == NULL)
		a->msg = "extraction failed";
	a->err = answer_kind(str(o, "kind"));
	return 0;
bad:
	pool_answer_clear(a);
	return -1;
}

/* Let go of what a holds.  Safe on a cleared answer. */
void
pool_answer_clear(struct pool_answer *a)
{
	json_object_put(a->doc);
	memset(a, 0, sizeof(*a));
}
