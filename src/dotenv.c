/* SPDX-License-Identifier: ISC */
/*
 * KEY=value files as dotenv reads them (dotenv.h).
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dotenv.h"

/*
 * The value of a KEY=value line, read as the dotenv package (v16)
 * reads it, so that a serverjs .env means the same here: a value in
 * single, double or back quotes is what is between them (double quotes
 * also turn \n and \r into line breaks), and a comment may follow; an
 * unquoted value ends at the first '#' and is trimmed.  v is changed in
 * place; returns where the value starts.
 */
static char *
dotenv_value(char *v)
{
	char	*e, *r, *w, q;
	size_t	 len;

	while (isspace((unsigned char)*v))
		v++;
	q = *v;
	if (q == '"' || q == '\'' || q == '`') {
		for (e = v + 1; *e != '\0' && *e != q; e++)
			if (q == '"' && e[0] == '\\' && e[1] == '"')
				e++;
		for (r = e + (*e != '\0'); isspace((unsigned char)*r); r++)
			continue;
		if (*e == q && (*r == '\0' || *r == '#')) {
			*e = '\0';
			if (q != '"')
				return v + 1;
			for (r = w = v + 1; *r != '\0'; r++, w++) {
				if (r[0] == '\\' && (r[1] == 'n' || r[1] == 'r')) {
					*w = r[1] == 'n' ? '\n' : '\r';
					r++;
				} else
					*w = *r;
			}
			*w = '\0';
			return v + 1;
		}
	}
	v[strcspn(v, "#")] = '\0';
	len = strlen(v);
	while (len > 0 && isspace((unsigned char)v[len - 1]))
		v[--len] = '\0';
	return v;
}

/*
 * Read file's KEY=value lines and hand each to fn.  Blank lines and
 * comment lines are skipped; a UTF-8 byte order mark, "export" before a
 * key, quotes and a trailing comment are read as dotenv reads them (see
 * dotenv_value).  Returns 0, or -1 with a message in err: the file
 * cannot be read, a line is not KEY=value, or fn said stop.
 */
int
dotenv_read(const char *file, dotenv_fn fn, void *arg, char *err,
    size_t errsz)
{
	FILE		*f;
	char		*line = NULL, *k, *v, *e;
	size_t		 cap = 0, len;
	ssize_t		 n;
	int		 lineno = 0, rc = -1;
	struct stat	 st;

	if ((f = fopen(file, "re")) == NULL || fstat(fileno(f), &st) == -1) {
		snprintf(err, errsz, "%s: %s", file, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s is not a file", file);
		fclose(f);
		return -1;
	}
	while ((n = getline(&line, &cap, f)) != -1) {
		k = line;
		if (lineno++ == 0 && strncmp(k, "\xef\xbb\xbf", 3) == 0)
			k += 3;
		while (isspace((unsigned char)*k))
			k++;
		len = strlen(k);
		while (len > 0 && isspace((unsigned char)k[len - 1]))
			k[--len] = '\0';
		if (*k == '\0' || *k == '#')
			continue;
		if (strncmp(k, "export", 6) == 0 &&
		    isspace((unsigned char)k[6]))
			for (k += 6; isspace((unsigned char)*k); k++)
				continue;
		if ((v = strchr(k, '=')) == NULL) {
			snprintf(err, errsz, "%s:%d: expected KEY=value",
			    file, lineno);
			goto out;
		}
		*v++ = '\0';
		for (e = v - 2; e >= k && isspace((unsigned char)*e); e--)
			*e = '\0';
		if (fn(arg, k, dotenv_value(v), lineno, err, errsz) == -1)
			goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	return rc;
}
