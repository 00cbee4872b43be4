/* SPDX-License-Identifier: ISC */
/*
 * FastCGI records as the acceptor sees them (record.h).  The record
 * layout and names are libfcgi's (fastcgi.h); this reads what a peer
 * sent so far, never past n, and writes the acceptor's few answers.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <fastcgi.h>

#include "record.h"

/* One record's header at p: its type, request id and sizes. */
static void
header(const unsigned char *p, int *type, int *id, size_t *clen,
    size_t *plen)
{
	*type = p[1];
	*id = p[2] << 8 | p[3];
	*clen = (size_t)p[4] << 8 | p[5];
	*plen = p[6];
}

/* A name-value pair's length at *p (1 or 4 bytes), or -1 past end. */
static long
nv_length(const unsigned char **p, const unsigned char *end)
{
	long	 len;

	if (*p >= end)
		return -1;
	if ((**p & 0x80) == 0)
		return *(*p)++;
	if (end - *p < 4)
		return -1;
	len = (long)((*p)[0] & 0x7f) << 24 | (long)(*p)[1] << 16 |
	    (long)(*p)[2] << 8 | (*p)[3];
	*p += 4;
	return len;
}

/*
 * Call fn(name, nlen, value, vlen, arg) for each whole name-value pair
 * in len bytes at p (a pair cut by the record's end is not seen).
 */
static void
each_pair(const unsigned char *p, size_t len, void (*fn)(const unsigned
    char *, long, const unsigned char *, long, void *), void *arg)
{
	const unsigned char	*end = p + len;
	long			 nlen, vlen;

	while (p < end) {
		if ((nlen = nv_length(&p, end)) == -1 ||
		    (vlen = nv_length(&p, end)) == -1 ||
		    nlen > end - p || vlen > end - p - nlen)
			return;
		fn(p, nlen, p + nlen, vlen, arg);
		p += nlen + vlen;
	}
}

/* CONTENT_LENGTH's value, digits only, into *(long long *)arg. */
static void
content_length(const unsigned char *name, long nlen,
    const unsigned char *value, long vlen, void *arg)
{
	long long	*cl = arg, v = 0;
	long		 i;

	if (nlen != 14 || memcmp(name, "CONTENT_LENGTH", 14) != 0 ||
	    vlen < 1 || vlen > 18)
		return;
	for (i = 0; i < vlen; i++) {
		if (value[i] < '0' || value[i] > '9')
			return;
		v = v * 10 + (value[i] - '0');
	}
	*cl = v;
}

/*
 * What the n bytes a connection holds so far say (into *s): RECORD_WHOLE
 * once its request is in (BEGIN_REQUEST, PARAMS to the empty record,
 * STDIN to the empty record), or once its PARAMS are in and either the
 * body announced is over body_max (refused at once: 413) or handon bytes
 * are in (the worker reads the rest); RECORD_VALUES or _MANAGEMENT when
 * a management record comes first (s->first bytes, whole); RECORD_ROLE
 * for a request in a role other than RESPONDER; RECORD_BAD for what is
 * not a request we take (another version, a record before BEGIN_REQUEST,
 * a second request, an abort); else RECORD_MORE.
 */
void
record_scan(const unsigned char *b, size_t n, long long body_max,
    size_t handon, struct record_scan *s)
{
	size_t	 off = 0, clen, plen;
	int	 type, id, begun = 0, in = 0;

	memset(s, 0, sizeof(*s));
	s->content_length = -1;
	s->verdict = RECORD_MORE;
	if (n < RECORD_HEADER)
		return;
	header(b, &s->type, &id, &clen, &plen);
	s->first = RECORD_HEADER + clen + plen;
	if (b[0] != FCGI_VERSION_1) {
		s->verdict = RECORD_BAD;
		return;
	}
	if (id == FCGI_NULL_REQUEST_ID) {
		if (s->first <= n)
			s->verdict = s->type == FCGI_GET_VALUES ?
			    RECORD_VALUES : RECORD_MANAGEMENT;
		return;
	}
	while (off + RECORD_HEADER <= n) {
		header(b + off, &type, &id, &clen, &plen);
		if (b[off] != FCGI_VERSION_1 || (!begun && type !=
		    FCGI_BEGIN_REQUEST) || (begun && (type ==
		    FCGI_BEGIN_REQUEST || id != s->request_id)) ||
		    type == FCGI_ABORT_REQUEST) {
			s->verdict = RECORD_BAD;
			return;
		}
		if (type == FCGI_BEGIN_REQUEST) {
			if (clen != 8) {
				s->verdict = RECORD_BAD;
				return;
			}
			if (off + RECORD_HEADER + 2 > n)
				return;
			begun = 1;
			s->request_id = id;
			if ((b[off + 8] << 8 | b[off + 9]) != FCGI_RESPONDER) {
				s->verdict = RECORD_ROLE;
				return;
			}
		}
		if (type == FCGI_PARAMS && clen == 0)
			s->params = 1;
		else if (type == FCGI_PARAMS && off + RECORD_HEADER + clen <= n)
			each_pair(b + off + RECORD_HEADER, clen,
			    content_length, &s->content_length);
		if (type == FCGI_STDIN && clen == 0)
			in = 1;
		off += RECORD_HEADER + clen + plen;
	}
	if (s->params && (in || s->content_length > body_max ||
	    n >= handon))
		s->verdict = RECORD_WHOLE;
}

struct values {
	unsigned char	*p, *end;
	char		 conns[24];
};

/* One name a GET_VALUES asks for, answered if we know it. */
static void
value(const unsigned char *name, long nlen, const unsigned char *v,
    long vlen, void *arg)
{
	struct values	*vs = arg;
	const char	*answer;
	size_t		 alen;

	(void)v;
	(void)vlen;
	if (nlen == (long)strlen(FCGI_MAX_CONNS) &&
	    memcmp(name, FCGI_MAX_CONNS, nlen) == 0)
		answer = vs->conns;
	else if (nlen == (long)strlen(FCGI_MAX_REQS) &&
	    memcmp(name, FCGI_MAX_REQS, nlen) == 0)
		answer = vs->conns;	/* one request per connection */
	else if (nlen == (long)strlen(FCGI_MPXS_CONNS) &&
	    memcmp(name, FCGI_MPXS_CONNS, nlen) == 0)
		answer = "0";
	else
		return;		/* the spec: ignore what we do not know */
	alen = strlen(answer);
	if (vs->end - vs->p < 2 + nlen + (long)alen)
		return;
	*vs->p++ = (unsigned char)nlen;
	*vs->p++ = (unsigned char)alen;
	memcpy(vs->p, name, (size_t)nlen);
	vs->p += nlen;
	memcpy(vs->p, answer, alen);
	vs->p += alen;
}

/* A record's header into out, its content of clen bytes padded to 8. */
static size_t
put_header(unsigned char *out, int type, int id, size_t clen)
{
	size_t	 pad = (8 - clen % 8) % 8;

	out[0] = FCGI_VERSION_1;
	out[1] = (unsigned char)type;
	out[2] = (unsigned char)(id >> 8);
	out[3] = (unsigned char)id;
	out[4] = (unsigned char)(clen >> 8);
	out[5] = (unsigned char)clen;
	out[6] = (unsigned char)pad;
	out[7] = 0;
	memset(out + RECORD_HEADER + clen, 0, pad);
	return RECORD_HEADER + clen + pad;
}

/*
 * The answer to the GET_VALUES record rec (len bytes, whole): the values
 * it asks for that we know (FCGI_MAX_CONNS and FCGI_MAX_REQS: max_conns;
 * FCGI_MPXS_CONNS: 0), as a GET_VALUES_RESULT record into out (at least
 * 128 bytes).  Returns its length.
 */
size_t
record_values(const unsigned char *rec, size_t len, long long max_conns,
    unsigned char *out, size_t outsz)
{
	struct values	 vs;
	size_t		 clen;

	if (outsz < 128 || len < RECORD_HEADER)
		return 0;
	vs.p = out + RECORD_HEADER;
	vs.end = out + outsz - 8;	/* room for the padding */
	snprintf(vs.conns, sizeof(vs.conns), "%lld", max_conns);
	clen = (size_t)rec[4] << 8 | rec[5];
	if (clen > len - RECORD_HEADER)
		clen = len - RECORD_HEADER;
	each_pair(rec + RECORD_HEADER, clen, value, &vs);
	clen = (size_t)(vs.p - out - RECORD_HEADER);
	return put_header(out, FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID,
	    clen);
}

/* FCGI_UNKNOWN_TYPE for a management record of that type (16 bytes). */
size_t
record_unknown_type(int type, unsigned char *out, size_t outsz)
{
	if (outsz < 16)
		return 0;
	memset(out + RECORD_HEADER, 0, 8);
	out[RECORD_HEADER] = (unsigned char)type;
	return put_header(out, FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, 8);
}

/* FCGI_END_REQUEST with protocol_status for request_id (16 bytes). */
size_t
record_end_request(int request_id, int protocol_status, unsigned char *out,
    size_t outsz)
{
	if (outsz < 16)
		return 0;
	memset(out + RECORD_HEADER, 0, 8);
	out[RECORD_HEADER + 4] = (unsigned char)protocol_status;
	return put_header(out, FCGI_END_REQUEST, request_id, 8);
}

/*
 * The end of an answer as libfcgi's FCGX_Finish_r sends it: an empty
 * STDOUT record, then END_REQUEST complete (24 bytes).
 */
size_t
record_end_answer(int request_id, unsigned char *out, size_t outsz)
{
	if (outsz < 24)
		return 0;
	return put_header(out, FCGI_STDOUT, request_id, 0) +
	    record_end_request(request_id, FCGI_REQUEST_COMPLETE,
	    out + RECORD_HEADER, outsz - RECORD_HEADER);
}
