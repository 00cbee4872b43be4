/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer: what a helper may write.  The line goes through the pool's
 * reader (pool_member_line: pool_answer.c's parser, then what the pool
 * does with a handshake or the answer to a request in flight), and, if
 * it is a JSON object, through the shaping of an answer from it as a
 * post's info.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"
#include "pool_impl.h"
#include "shape.h"
#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
through_pool(const uint8_t *data, size_t size)
{
	struct pool	 p;
	struct slot	 slot;
	struct member	 h;
	struct req	*r;

	memset(&p, 0, sizeof(p));
	memset(&slot, 0, sizeof(slot));
	memset(&h, 0, sizeof(h));
	TAILQ_INIT(&p.queue);
	TAILQ_INIT(&p.ended);
	LIST_INIT(&p.helpers);
	p.slots = &slot;
	p.o.helpers = 1;
	TAILQ_INIT(&h.work);
	h.slot = 0;
	h.state = (size > 0 && data[0] & 1) ? H_READY : H_STARTING;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->url = strdup("https://www.tiktok.com/@a/video/1")) == NULL) {
		free(r);
		return;
	}
	r->id = 1;
	TAILQ_INSERT_TAIL(&h.work, r, entry);
	h.inflight = p.inflight = 1;
	pool_member_line(&p, &h, (const char *)data, size);
	/* What ended, unheard: freed here. */
	while ((r = TAILQ_FIRST(&p.ended)) != NULL ||
	    (r = TAILQ_FIRST(&h.work)) != NULL) {
		if (r == TAILQ_FIRST(&p.ended))
			TAILQ_REMOVE(&p.ended, r, entry);
		else
			TAILQ_REMOVE(&h.work, r, entry);
		json_object_put(r->info);
		free(r->msg);
		free(r->url);
		free(r);
	}
	free(h.version);
	free(p.version);
}

static void
through_shaping(const uint8_t *data, size_t size)
{
	static struct token	*tk;
	struct json_tokener	*jt;
	struct json_object	*info, *ans, *imgs[64];
	int			 flags;

	if (tk == NULL && (tk = token_new("fuzz key", 360)) == NULL)
		abort();
	if ((jt = json_tokener_new_ex(64)) == NULL)
		return;
	info = json_tokener_parse_ex(jt, (const char *)data, (int)size);
	json_tokener_free(jt);
	if (info == NULL || !json_object_is_type(info, json_type_object)) {
		json_object_put(info);
		return;
	}
	for (flags = 0; flags <= SHAPE_ALLOW_H265; flags += SHAPE_ALLOW_H265)
		if ((ans = shape_answer(info, flags, "https://dl.example", tk,
		    "https://www.tiktok.com/@a/video/1")) != NULL) {
			shape_has_link(ans);
			json_object_put(ans);
		}
	shape_audio(info);
	shape_images(info, imgs, 64);
	shape_find_format(info, "download");
	shape_author(info);
	json_object_put(info);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 quiet;

	if (!quiet++)
		log_init(1, LOG_LEVEL_ERROR, NULL);
	if (size > 1 << 20)
		return 0;
	through_pool(data, size);
	through_shaping(data, size);
	return 0;
}
