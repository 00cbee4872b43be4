/* SPDX-License-Identifier: ISC */
/*
 * Reading yt-dlp's info (info.c): its members as C values, the way
 * shape.c and formats.c both read them.  A leaf: json-c only.
 */
#ifndef INFO_H
#define INFO_H

struct json_object;

const char	*info_str(struct json_object *, const char *key);
int		 info_num(struct json_object *, const char *key, double *out);
struct json_object *info_formats(struct json_object *info);

#endif /* INFO_H */
