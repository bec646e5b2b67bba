/*
 * jsonw.c - JSON writer with a sticky error flag over yajl_gen, and the
 * project's yajl allocator (see jsonw.h).
 */
#include "jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gq.h"

static void *jw_malloc(void *ctx, size_t n)
{
	(void)ctx;
	return gq_malloc(n);
}

static void *jw_realloc(void *ctx, void *p, size_t n)
{
	(void)ctx;
	return gq_realloc(p, n);
}

static void jw_free(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

yajl_alloc_funcs gq_yajl_alloc_funcs = {jw_malloc, jw_realloc, jw_free, NULL};

void gq_jw_init(struct gq_jw *w)
{
	w->g = yajl_gen_alloc(&gq_yajl_alloc_funcs);
	if (w->g == NULL) {
		/* yajl fails only when its allocator does, which aborts first */
		fputs("gpuquota: cannot create a JSON generator\n", stderr);
		abort();
	}
	yajl_gen_config(w->g, yajl_gen_validate_utf8, 1);
	w->bad = false;
}

/* Marks the writer bad when a yajl_gen call failed. */
static void jw_check(struct gq_jw *w, yajl_gen_status st)
{
	if (st != yajl_gen_status_ok)
		w->bad = true;
}

void gq_jw_strn(struct gq_jw *w, const char *s, size_t len)
{
	jw_check(w, yajl_gen_string(w->g, (const unsigned char *)s, len));
}

void gq_jw_str(struct gq_jw *w, const char *s)
{
	gq_jw_strn(w, s, strlen(s));
}

void gq_jw_kv(struct gq_jw *w, const char *k, const char *v)
{
	gq_jw_str(w, k);
	gq_jw_str(w, v);
}

void gq_jw_int(struct gq_jw *w, long long v)
{
	jw_check(w, yajl_gen_integer(w->g, v));
}

void gq_jw_bool(struct gq_jw *w, bool v)
{
	jw_check(w, yajl_gen_bool(w->g, v));
}

void gq_jw_null(struct gq_jw *w)
{
	jw_check(w, yajl_gen_null(w->g));
}

void gq_jw_map_open(struct gq_jw *w)
{
	jw_check(w, yajl_gen_map_open(w->g));
}

void gq_jw_map_close(struct gq_jw *w)
{
	jw_check(w, yajl_gen_map_close(w->g));
}

void gq_jw_array_open(struct gq_jw *w)
{
	jw_check(w, yajl_gen_array_open(w->g));
}

void gq_jw_array_close(struct gq_jw *w)
{
	jw_check(w, yajl_gen_array_close(w->g));
}

static void jw_value(struct gq_jw *w, yajl_val v, int depth)
{
	if (w->bad)
		return;
	if (depth > GQ_JW_MAX_DEPTH) {
		w->bad = true;
		return;
	}
	switch (v != NULL ? v->type : yajl_t_null) {
	case yajl_t_string: gq_jw_str(w, v->u.string); break;
	case yajl_t_number:
		jw_check(w, yajl_gen_number(w->g, v->u.number.r, strlen(v->u.number.r)));
		break;
	case yajl_t_true: gq_jw_bool(w, true); break;
	case yajl_t_false: gq_jw_bool(w, false); break;
	case yajl_t_object:
		gq_jw_map_open(w);
		for (size_t i = 0; i < v->u.object.len && !w->bad; i++) {
			gq_jw_str(w, v->u.object.keys[i]);
			jw_value(w, v->u.object.values[i], depth + 1);
		}
		gq_jw_map_close(w);
		break;
	case yajl_t_array:
		gq_jw_array_open(w);
		for (size_t i = 0; i < v->u.array.len && !w->bad; i++)
			jw_value(w, v->u.array.values[i], depth + 1);
		gq_jw_array_close(w);
		break;
	default: gq_jw_null(w); break;
	}
}

void gq_jw_value(struct gq_jw *w, yajl_val v)
{
	jw_value(w, v, 0);
}

void gq_jw_value_at(struct gq_jw *w, yajl_val v, int depth)
{
	jw_value(w, v, depth);
}

char *gq_jw_finish(struct gq_jw *w)
{
	const unsigned char *buf;
	size_t len;
	char *s = NULL;

	if (!w->bad && yajl_gen_get_buf(w->g, &buf, &len) == yajl_gen_status_ok && len > 0)
		s = gq_strndup((const char *)buf, len);
	yajl_gen_free(w->g);
	w->g = NULL;
	return s;
}
