/*
 * json.c - helpers over yajl trees (see json.h).
 */
#include "json.h"

#include <stdlib.h>
#include <string.h>

#include "gq.h"
#include "jsonw.h"
#include "rfc3339.h"

yajl_val gq_json_get(yajl_val obj, const char *key)
{
	yajl_val v = NULL;

	if (!YAJL_IS_OBJECT(obj))
		return NULL;
	for (size_t i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			v = obj->u.object.values[i];
	return YAJL_IS_NULL(v) ? NULL : v;
}

/* The value at path below v by the member rule, or NULL. */
static yajl_val at_path(yajl_val v, const char *const *path)
{
	for (size_t i = 0; v != NULL && path[i] != NULL; i++)
		v = gq_json_get(v, path[i]);
	return v;
}

const char *gq_json_str(yajl_val v, const char *const *path)
{
	yajl_val s = at_path(v, path);

	return YAJL_IS_STRING(s) ? s->u.string : NULL;
}

yajl_val gq_json_obj(yajl_val v, const char *const *path)
{
	yajl_val o = at_path(v, path);

	return YAJL_IS_OBJECT(o) ? o : NULL;
}

int64_t gq_json_time_ms(yajl_val v, const char *const *path)
{
	const char *s = gq_json_str(v, path);
	int64_t ms = 0;

	if (s == NULL || gq_rfc3339_parse(s, &ms) != GQ_OK)
		return 0;
	return ms;
}

yajl_val gq_json_clone(yajl_val v)
{
	yajl_val c;
	size_t n;

	if (v == NULL)
		return NULL;
	c = gq_calloc(1, sizeof(*c));
	c->type = v->type;
	switch (v->type) {
	case yajl_t_string: c->u.string = gq_strdup(v->u.string); break;
	case yajl_t_number:
		c->u.number = v->u.number;
		c->u.number.r = gq_strdup(v->u.number.r);
		break;
	case yajl_t_object:
		n = v->u.object.len;
		c->u.object.len = n;
		if (n == 0)
			break;
		c->u.object.keys = gq_calloc(n, sizeof(*c->u.object.keys));
		c->u.object.values = gq_calloc(n, sizeof(*c->u.object.values));
		for (size_t i = 0; i < n; i++) {
			c->u.object.keys[i] = gq_strdup(v->u.object.keys[i]);
			c->u.object.values[i] = gq_json_clone(v->u.object.values[i]);
		}
		break;
	case yajl_t_array:
		n = v->u.array.len;
		c->u.array.len = n;
		if (n == 0)
			break;
		c->u.array.values = gq_calloc(n, sizeof(*c->u.array.values));
		for (size_t i = 0; i < n; i++)
			c->u.array.values[i] = gq_json_clone(v->u.array.values[i]);
		break;
	default: break;
	}
	return c;
}

bool gq_json_equal(yajl_val a, yajl_val b)
{
	size_t i;

	if (a == NULL || b == NULL)
		return a == b;
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case yajl_t_string: return strcmp(a->u.string, b->u.string) == 0;
	case yajl_t_number: return strcmp(a->u.number.r, b->u.number.r) == 0;
	case yajl_t_object:
		if (a->u.object.len != b->u.object.len)
			return false;
		for (i = 0; i < a->u.object.len; i++)
			if (strcmp(a->u.object.keys[i], b->u.object.keys[i]) != 0 ||
			    !gq_json_equal(a->u.object.values[i], b->u.object.values[i]))
				return false;
		return true;
	case yajl_t_array:
		if (a->u.array.len != b->u.array.len)
			return false;
		for (i = 0; i < a->u.array.len; i++)
			if (!gq_json_equal(a->u.array.values[i], b->u.array.values[i]))
				return false;
		return true;
	default: return true; /* true, false, null: the type says it all */
	}
}

char *gq_json_dump(yajl_val v)
{
	struct gq_jw w;

	gq_jw_init(&w);
	gq_jw_value(&w, v);
	return gq_jw_finish(&w);
}
