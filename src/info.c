/* SPDX-License-Identifier: ISC */
/*
 * Reading yt-dlp's info for a post.  yt-dlp passes through whatever
 * TikTok says, and its releases differ in what they fill in: a member
 * may be missing, null, or of another type than expected.  These
 * accessors turn each of those into "absent", so that callers test one
 * thing.  Nothing here changes the info: it may be shared through the
 * cache.
 */
#include "config.h"

#include <json-c/json.h>

#include "info.h"

/*
 * A string member that is not empty, or NULL (missing, null, another
 * type, "").  The string belongs to o.
 */
const char *
info_str(struct json_object *o, const char *key)
{
	struct json_object	*v;
	const char		*s;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return *s != '\0' ? s : NULL;
}

/*
 * A numeric member into *out.  Returns 1, or 0 (and *out untouched)
 * when it is missing, null or not a number.
 */
int
info_num(struct json_object *o, const char *key, double *out)
{
	struct json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double))
		return 0;
	*out = json_object_get_double(v);
	return 1;
}

/* The info's "formats" array (it belongs to info), or NULL. */
struct json_object *
info_formats(struct json_object *info)
{
	struct json_object	*f;

	if (info == NULL || !json_object_object_get_ex(info, "formats", &f) ||
	    !json_object_is_type(f, json_type_array))
		return NULL;
	return f;
}
