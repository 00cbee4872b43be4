/* SPDX-License-Identifier: ISC */
/* An in-memory front end for driving handlers in unit tests. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "memhttp.h"

static const char *
m_param(void *ctx, const char *name)
{
	struct mem	*m = ctx;
	size_t		 i;

	for (i = 0; m->params[i] != NULL; i += 2)
		if (strcmp(m->params[i], name) == 0)
			return m->params[i + 1];
	return NULL;
}

static ssize_t
m_read(void *ctx, void *buf, size_t len)
{
	struct mem	*m = ctx;
	size_t		 n = m->bodylen - m->bodypos;

	if (n > len)
		n = len;
	memcpy(buf, m->body + m->bodypos, n);
	m->bodypos += n;
	return (ssize_t)n;
}

static int
m_write(void *ctx, const void *buf, size_t len)
{
	struct mem	*m = ctx;

	if (m->fail_after >= 0 && m->writes >= m->fail_after)
		return -1;
	m->writes++;
	m->out = realloc(m->out, m->outlen + len + 1);
	memcpy(m->out + m->outlen, buf, len);
	m->outlen += len;
	m->out[m->outlen] = '\0';
	return 0;
}

static int
m_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

const struct http_io mem_io = { m_param, m_read, m_write, m_flush, NULL,
    NULL };

void
mem_init(struct mem *m, const char **params, const char *body)
{
	memset(m, 0, sizeof(*m));
	m->params = params;
	m->body = body ? body : "";
	m->bodylen = strlen(m->body);
	m->fail_after = -1;
}

void
mem_free(struct mem *m)
{
	free(m->out);
	m->out = NULL;
}

int
mem_status(const struct mem *m)
{
	if (m->out == NULL || strncmp(m->out, "Status: ", 8) != 0)
		return -1;
	return atoi(m->out + 8);
}

const char *
mem_body(const struct mem *m)
{
	const char	*p;

	if (m->out == NULL || (p = strstr(m->out, "\r\n\r\n")) == NULL)
		return NULL;
	return p + 4;
}

/* The value of a response header (first), or NULL; caller frees. */
char *
mem_header(const struct mem *m, const char *name)
{
	const char	*p, *end, *hend;
	size_t		 nl = strlen(name);

	if (m->out == NULL || (hend = strstr(m->out, "\r\n\r\n")) == NULL)
		return NULL;
	for (p = m->out; p < hend; p = end + 2) {
		end = strstr(p, "\r\n");
		if ((size_t)(end - p) > nl + 1 && strncasecmp(p, name, nl) == 0 &&
		    p[nl] == ':')
			return strndup(p + nl + 2, end - p - nl - 2);
	}
	return NULL;
}
