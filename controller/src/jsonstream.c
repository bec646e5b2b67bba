/*
 * jsonstream.c - concatenated-JSON stream decoder (Kubernetes watch
 * streams) and watch event decoding.
 *
 * How value boundaries are found: the chunk is given to a yajl SAX parser
 * configured with yajl_allow_multiple_values. The callbacks keep a nesting
 * depth; the start_map at depth 0 marks where a value begins in the current
 * chunk (yajl_get_bytes_consumed is the offset just past the token being
 * reported) and the end_map that brings the depth back to 0 marks where it
 * ends. Bytes of a value that spans chunks are accumulated in a bounded
 * gq_buf. Because the lexer, not a byte scan, decides what is structure,
 * braces and quotes inside strings cannot confuse the count.
 */
#include "jsonstream.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

/* A delivered value whose buffer grew past this is freed, not kept. */
#define KEEP_BUF_MAX (1024 * 1024)

/* Absolute stream offset of the parser's position in the current chunk. */
static size_t stream_pos(const struct gq_jsonstream *s)
{
	return s->offset + yajl_get_bytes_consumed(s->h);
}

/* Records a sticky failure with its message; returns 0 so that a yajl
 * callback can return it to cancel the parse. */
static int fail_msg(struct gq_jsonstream *s, int rc, const char *what)
{
	s->rc = rc;
	gq_err_set(&s->err, rc, "%s at byte %zu", what, stream_pos(s));
	return 0;
}

/* Scalars are fine inside a value; at depth 0 the value is not an object. */
static int scalar(struct gq_jsonstream *s)
{
	if (s->depth == 0)
		return fail_msg(s, GQ_EPARSE, "top-level JSON value is not an object");
	return 1;
}

static int on_null(void *ctx)
{
	return scalar(ctx);
}

static int on_boolean(void *ctx, int v)
{
	(void)v;
	return scalar(ctx);
}

static int on_number(void *ctx, const char *v, size_t n)
{
	(void)v;
	(void)n;
	return scalar(ctx);
}

static int on_string(void *ctx, const unsigned char *v, size_t n)
{
	(void)v;
	(void)n;
	return scalar(ctx);
}

static int on_map_key(void *ctx, const unsigned char *k, size_t n)
{
	(void)ctx;
	(void)k;
	(void)n;
	return 1;
}

/* Enters one nesting level, enforcing GQ_JSONSTREAM_MAX_DEPTH. */
static int push(struct gq_jsonstream *s)
{
	if (s->depth >= GQ_JSONSTREAM_MAX_DEPTH)
		return fail_msg(s, GQ_EPARSE, "JSON nested too deeply");
	s->depth++;
	return 1;
}

static int on_start_map(void *ctx)
{
	struct gq_jsonstream *s = ctx;

	if (s->depth == 0)
		s->rec_start = yajl_get_bytes_consumed(s->h) - 1; /* the '{' */
	return push(s);
}

static int on_start_array(void *ctx)
{
	struct gq_jsonstream *s = ctx;

	if (s->depth == 0)
		return fail_msg(s, GQ_EPARSE, "top-level JSON value is not an object");
	return push(s);
}

static int on_end_array(void *ctx)
{
	struct gq_jsonstream *s = ctx;

	s->depth--;
	return 1;
}

/* Drops the bytes of the value just delivered; a large allocation is
 * released rather than kept for the life of the watch. */
static void buf_release(struct gq_jsonstream *s)
{
	size_t max = s->buf.max;

	if (s->buf.cap > KEEP_BUF_MAX) {
		gq_buf_free(&s->buf);
		gq_buf_init(&s->buf, max);
	} else {
		gq_buf_reset(&s->buf);
	}
}

/*
 * Completes the value ending at offset end of the current chunk: appends its
 * last bytes, builds the tree, runs the callback and frees the tree. Returns
 * 1 to continue parsing, 0 (with s->rc set) to cancel.
 */
static int emit(struct gq_jsonstream *s, size_t end)
{
	char ebuf[256];
	yajl_val v = NULL;
	int rc;

	if (gq_buf_append(&s->buf, s->chunk + s->rec_start, end - s->rec_start) != GQ_OK) {
		s->rc = GQ_ETOOBIG;
		gq_err_set(&s->err, GQ_ETOOBIG, "JSON value exceeds %zu bytes (ending at byte %zu)",
			   s->buf.max, stream_pos(s));
		return 0;
	}
	s->tail_start = end;
	/* The lexer rejects raw NULs, so the slice is a C string; be sure. */
	if (memchr(s->buf.data, '\0', s->buf.len) != NULL)
		return fail_msg(s, GQ_EPARSE, "NUL byte in JSON value");
	ebuf[0] = '\0';
	v = yajl_tree_parse(s->buf.data, ebuf, sizeof(ebuf));
	if (v == NULL || !YAJL_IS_OBJECT(v)) {
		s->rc = GQ_EPARSE;
		gq_err_set(&s->err, GQ_EPARSE, "cannot build JSON tree ending at byte %zu: %s",
			   stream_pos(s), ebuf[0] ? ebuf : "not an object");
		yajl_tree_free(v);
		return 0;
	}
	buf_release(s);
	s->nvalues++;
	rc = s->cb ? s->cb(s->payload, v) : 0;
	yajl_tree_free(v);
	if (rc != 0) {
		s->rc = rc;
		gq_err_set(&s->err, rc, "stopped by the value callback (%d) at byte %zu", rc,
			   stream_pos(s));
		return 0;
	}
	return 1;
}

static int on_end_map(void *ctx)
{
	struct gq_jsonstream *s = ctx;

	s->depth--;
	if (s->depth == 0)
		return emit(s, yajl_get_bytes_consumed(s->h));
	return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number, /* raw text: no overflow errors in SAX pass */
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_map_key,
    .yajl_end_map = on_end_map,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end_array,
};

/* Allocates the SAX parser for s (aborts on OOM). */
static void parser_new(struct gq_jsonstream *s)
{
	s->h = yajl_alloc(&callbacks, &gq_yajl_alloc_funcs, s);
	if (s->h == NULL) {
		fputs("gpuquota: out of memory allocating a JSON parser\n", stderr);
		abort();
	}
	yajl_config(s->h, yajl_allow_multiple_values, 1);
}

/* Clears the per-stream state (everything but h, buf, cb, payload). */
static void state_clear(struct gq_jsonstream *s)
{
	s->depth = 0;
	s->rc = GQ_OK;
	s->junk = false;
	s->offset = 0;
	s->nvalues = 0;
	s->err.code = 0;
	s->err.msg[0] = '\0';
	s->chunk = NULL;
	s->rec_start = 0;
	s->tail_start = 0;
}

/*
 * Initialises s. Ownership: s owns its parser and buffer until
 * gq_jsonstream_free; payload stays the caller's.
 */
void gq_jsonstream_init(struct gq_jsonstream *s, size_t max, gq_jsonstream_cb cb, void *payload)
{
	gq_buf_init(&s->buf, max);
	s->cb = cb;
	s->payload = payload;
	state_clear(s);
	parser_new(s);
}

void gq_jsonstream_free(struct gq_jsonstream *s)
{
	if (s->h != NULL)
		yajl_free(s->h);
	s->h = NULL;
	gq_buf_free(&s->buf);
}

/*
 * yajl has no way to rewind a handle (and a cancelled one stays in its error
 * state), so a reset replaces the parser.
 */
void gq_jsonstream_reset(struct gq_jsonstream *s)
{
	if (s->h != NULL)
		yajl_free(s->h);
	buf_release(s);
	state_clear(s);
	parser_new(s);
}

/* yajl's whitespace set (yajl_lex.c). */
static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Parses one chunk. Values completed in it are delivered from the callbacks;
 * the unfinished part of a value at the chunk's end is copied into s->buf
 * (the chunk itself is not retained).
 */
int gq_jsonstream_feed(struct gq_jsonstream *s, const char *data, size_t len)
{
	yajl_status st;
	size_t i;

	if (s->rc != GQ_OK)
		return s->rc;
	if (len == 0)
		return GQ_OK;
	s->chunk = data;
	s->rec_start = 0; /* a value continued from the previous chunk */
	s->tail_start = 0;
	st = yajl_parse(s->h, (const unsigned char *)data, len);
	if (st == yajl_status_client_canceled) {
		/* a callback set s->rc and s->err */
		if (s->rc == GQ_OK)
			fail_msg(s, GQ_EPARSE, "JSON parse cancelled");
		goto out;
	}
	if (st != yajl_status_ok) {
		unsigned char *e = yajl_get_error(s->h, 0, (const unsigned char *)data, len);
		size_t n = e ? strlen((char *)e) : 0;

		while (n > 0 && (e[n - 1] == '\n' || e[n - 1] == ' '))
			n--;
		s->rc = GQ_EPARSE;
		gq_err_set(&s->err, GQ_EPARSE, "invalid JSON at byte %zu: %.*s", stream_pos(s),
			   (int)(n > 200 ? 200 : n), e ? (char *)e : "");
		if (e != NULL)
			yajl_free_error(s->h, e);
		goto out;
	}
	if (s->depth > 0) {
		if (gq_buf_append(&s->buf, data + s->rec_start, len - s->rec_start) != GQ_OK) {
			s->rc = GQ_ETOOBIG;
			gq_err_set(&s->err, GQ_ETOOBIG,
				   "JSON value exceeds %zu bytes (at byte %zu)", s->buf.max,
				   s->offset + len);
			goto out;
		}
	} else {
		/* Bytes after the last value: anything but whitespace is a
		 * top-level scalar still being lexed (an error once it ends). */
		for (i = s->tail_start; i < len && !s->junk; i++)
			if (!is_ws(data[i]))
				s->junk = true;
	}
	s->offset += len;
out:
	s->chunk = NULL;
	return s->rc;
}

int gq_jsonstream_finish(struct gq_jsonstream *s)
{
	if (s->rc != GQ_OK)
		return s->rc;
	if (s->depth > 0 || s->junk)
		return gq_err_set(&s->err, GQ_EPARSE, "JSON stream truncated at byte %zu",
				  s->offset);
	return GQ_OK;
}

bool gq_jsonstream_in_value(const struct gq_jsonstream *s)
{
	return s->depth > 0;
}

/* ---- watch events ---- */

static const char *const type_names[] = {
    [GQ_WATCH_ADDED] = "ADDED",	    [GQ_WATCH_MODIFIED] = "MODIFIED",
    [GQ_WATCH_DELETED] = "DELETED", [GQ_WATCH_BOOKMARK] = "BOOKMARK",
    [GQ_WATCH_ERROR] = "ERROR",
};

const char *gq_watch_type_name(enum gq_watch_type t)
{
	if ((unsigned)t < GQ_ARRAY_LEN(type_names))
		return type_names[t];
	return "UNKNOWN";
}

/* Borrowed string member at path below v, or NULL. */
static const char *get_str(yajl_val v, const char **path)
{
	return YAJL_GET_STRING(yajl_tree_get(v, path, yajl_t_string));
}

/*
 * Decodes the watch event v. Ownership: ev only borrows from v (no
 * allocation); it must not outlive v.
 */
int gq_watch_event_decode(struct gq_watch_event *ev, yajl_val v, struct gq_err *err)
{
	const char *type;
	yajl_val code;
	size_t i;

	memset(ev, 0, sizeof(*ev));
	if (!YAJL_IS_OBJECT(v))
		return gq_err_set(err, GQ_EPARSE, "watch event is not a JSON object");
	type = get_str(v, (const char *[]){"type", NULL});
	if (type == NULL)
		return gq_err_set(err, GQ_EPARSE, "watch event has no string \"type\"");
	for (i = 0; i < GQ_ARRAY_LEN(type_names); i++)
		if (strcmp(type, type_names[i]) == 0)
			break;
	if (i == GQ_ARRAY_LEN(type_names))
		return gq_err_set(err, GQ_EPARSE, "unknown watch event type \"%.64s\"", type);
	ev->type = (enum gq_watch_type)i;
	ev->object = yajl_tree_get(v, (const char *[]){"object", NULL}, yajl_t_object);
	if (ev->object == NULL)
		return gq_err_set(err, GQ_EPARSE, "%s watch event has no \"object\" object", type);
	ev->resource_version =
	    get_str(ev->object, (const char *[]){"metadata", "resourceVersion", NULL});
	if (ev->type == GQ_WATCH_BOOKMARK && ev->resource_version == NULL)
		return gq_err_set(err, GQ_EPARSE, "BOOKMARK watch event has no resourceVersion");
	if (ev->type == GQ_WATCH_ERROR) {
		code = yajl_tree_get(ev->object, (const char *[]){"code", NULL}, yajl_t_number);
		if (YAJL_IS_INTEGER(code) && YAJL_GET_INTEGER(code) >= 0 &&
		    YAJL_GET_INTEGER(code) <= INT_MAX)
			ev->code = (int)YAJL_GET_INTEGER(code);
		ev->reason = get_str(ev->object, (const char *[]){"reason", NULL});
		ev->message = get_str(ev->object, (const char *[]){"message", NULL});
	}
	return GQ_OK;
}

bool gq_watch_event_is_gone(const struct gq_watch_event *ev)
{
	if (ev->type != GQ_WATCH_ERROR)
		return false;
	if (ev->code == 410)
		return true;
	return ev->reason != NULL &&
	       (strcmp(ev->reason, "Expired") == 0 || strcmp(ev->reason, "Gone") == 0);
}
