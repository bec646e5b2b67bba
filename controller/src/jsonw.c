/*
 * jsonw.c - JSON writer with a sticky error flag over yajl_gen or building a
 * yajl tree, and the project's yajl allocator (see jsonw.h).
 */
#include "jsonw.h"

#include <limits.h>
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
	w->t = NULL;
	w->bad = false;
}

/* Marks the writer bad when a yajl_gen call failed. */
static void jw_check(struct gq_jw *w, yajl_gen_status st)
{
	if (st != yajl_gen_status_ok)
		w->bad = true;
}

/* ------------------------------------------------------------ tree mode */

/* Containers a tree holds open at most: a value inside d open containers
 * is at nesting depth d, and none may be deeper than GQ_JW_MAX_DEPTH. */
#define TREE_MAX_OPEN (GQ_JW_MAX_DEPTH + 1)

/* One open container of a tree-mode writer. */
struct tree_frame {
	yajl_val node; /* the object or array being filled (owned by the tree) */
	size_t cap;    /* room in its keys/values arrays */
};

/* A tree-mode writer's state: the tree so far and where the next call
 * puts its value. */
struct gq_jw_tree {
	yajl_val root;			       /* the document so far, owned; NULL before a value */
	struct tree_frame open[TREE_MAX_OPEN]; /* open containers, outermost first */
	size_t depth;			       /* how many are open */
	char *key; /* owned: the key awaiting its value in the innermost object */
};

void gq_jw_init_tree(struct gq_jw *w)
{
	w->g = NULL;
	w->t = gq_calloc(1, sizeof(*w->t));
	w->bad = false;
}

/* Frees whatever a tree-mode writer built; nothing is open after. */
static void tree_clear(struct gq_jw_tree *t)
{
	yajl_tree_free(t->root);
	free(t->key);
	t->root = NULL;
	t->key = NULL;
	t->depth = 0;
}

/* Frees a tree-mode writer's state and whatever it built (none: no-op). */
static void tree_free(struct gq_jw *w)
{
	if (w->t == NULL)
		return;
	tree_clear(w->t);
	free(w->t);
	w->t = NULL;
}

/* Marks a tree-mode writer bad and frees its partial tree at once (the
 * calls that follow are ignored). */
static void tree_fail(struct gq_jw *w)
{
	tree_clear(w->t);
	w->bad = true;
}

/* A new node (zeroed: an empty container has no arrays, as from yajl's
 * parser); the caller owns it. */
static yajl_val tree_node(yajl_type type)
{
	yajl_val v = gq_calloc(1, sizeof(*v));

	v->type = type;
	return v;
}

/* The innermost open container, or NULL at the top level. */
static yajl_val tree_inner(const struct gq_jw_tree *t)
{
	return t->depth > 0 ? t->open[t->depth - 1].node : NULL;
}

/* Appends to the container of frame f the member key: v (an object; key
 * taken) or the element v (an array; key NULL). Takes v. */
static void frame_append(struct tree_frame *f, char *key, yajl_val v)
{
	yajl_val c = f->node;
	bool obj = c->type == yajl_t_object;
	size_t n = obj ? c->u.object.len : c->u.array.len;

	if (n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 4;
		if (obj) {
			c->u.object.keys =
			    gq_realloc(c->u.object.keys, f->cap * sizeof(*c->u.object.keys));
			c->u.object.values =
			    gq_realloc(c->u.object.values, f->cap * sizeof(*c->u.object.values));
		} else {
			c->u.array.values =
			    gq_realloc(c->u.array.values, f->cap * sizeof(*c->u.array.values));
		}
	}
	if (obj) {
		c->u.object.keys[n] = key;
		c->u.object.values[n] = v;
		c->u.object.len = n + 1;
	} else {
		c->u.array.values[n] = v;
		c->u.array.len = n + 1;
	}
}

/*
 * Places the value v (taken) where the document stands: as the root, as
 * the next element of the innermost array, or as the value of the pending
 * key of the innermost object; an object or array is then open. Bad (v
 * freed) where no value may come: after the root, where a key is expected,
 * or deeper than GQ_JW_MAX_DEPTH.
 */
static void tree_add(struct gq_jw *w, yajl_val v)
{
	struct gq_jw_tree *t = w->t;
	yajl_val in = tree_inner(t);

	if ((in == NULL && t->root != NULL) ||
	    (in != NULL && in->type == yajl_t_object && t->key == NULL) ||
	    t->depth > GQ_JW_MAX_DEPTH) {
		yajl_tree_free(v);
		tree_fail(w);
		return;
	}
	if (in == NULL) {
		t->root = v;
	} else {
		frame_append(&t->open[t->depth - 1], t->key, v);
		t->key = NULL;
	}
	if (v->type == yajl_t_object || v->type == yajl_t_array) {
		t->open[t->depth].node = v;
		t->open[t->depth].cap = 0;
		t->depth++;
	}
}

/* A string: the key where the innermost object expects one, else a value.
 * Bad when yajl_gen would refuse it (not UTF-8) or it holds a NUL byte. */
static void tree_string(struct gq_jw *w, const char *s, size_t len)
{
	yajl_val in = tree_inner(w->t), v;

	if (!gq_utf8_valid_yajl(s, len) || (len > 0 && memchr(s, '\0', len) != NULL)) {
		tree_fail(w);
		return;
	}
	if (in != NULL && in->type == yajl_t_object && w->t->key == NULL) {
		w->t->key = gq_strndup(s, len);
		return;
	}
	v = tree_node(yajl_t_string);
	v->u.string = gq_strndup(s, len);
	tree_add(w, v);
}

/* An integer node with the text yajl_gen_integer writes and the fields
 * yajl's parser sets for that text. */
static void tree_integer(struct gq_jw *w, long long i)
{
	yajl_val v = tree_node(yajl_t_number);

	v->u.number.r = gq_asprintf("%lld", i);
	v->u.number.i = i;
	v->u.number.d = strtod(v->u.number.r, NULL);
	/* yajl's integer parser reports the digits of LLONG_MIN out of range */
	v->u.number.flags = YAJL_NUMBER_DOUBLE_VALID | (i != LLONG_MIN ? YAJL_NUMBER_INT_VALID : 0);
	tree_add(w, v);
}

/* Closes the innermost container, which must be of type type and not be
 * waiting for the value of a key. */
static void tree_close(struct gq_jw *w, yajl_type type)
{
	yajl_val in = tree_inner(w->t);

	if (in == NULL || in->type != type || w->t->key != NULL) {
		tree_fail(w);
		return;
	}
	w->t->depth--;
}

/* ---------------------------------------------------------------- calls */

void gq_jw_strn(struct gq_jw *w, const char *s, size_t len)
{
	if (w->t == NULL)
		jw_check(w, yajl_gen_string(w->g, (const unsigned char *)s, len));
	else if (!w->bad)
		tree_string(w, s, len);
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
	if (w->t == NULL)
		jw_check(w, yajl_gen_integer(w->g, v));
	else if (!w->bad)
		tree_integer(w, v);
}

void gq_jw_bool(struct gq_jw *w, bool v)
{
	if (w->t == NULL)
		jw_check(w, yajl_gen_bool(w->g, v));
	else if (!w->bad)
		tree_add(w, tree_node(v ? yajl_t_true : yajl_t_false));
}

void gq_jw_null(struct gq_jw *w)
{
	if (w->t == NULL)
		jw_check(w, yajl_gen_null(w->g));
	else if (!w->bad)
		tree_add(w, tree_node(yajl_t_null));
}

void gq_jw_map_open(struct gq_jw *w)
{
	if (w->t == NULL)
		jw_check(w, yajl_gen_map_open(w->g));
	else if (!w->bad)
		tree_add(w, tree_node(yajl_t_object));
}

void gq_jw_map_close(struct gq_jw *w)
{
	if (w->t == NULL)
		jw_check(w, yajl_gen_map_close(w->g));
	else if (!w->bad)
		tree_close(w, yajl_t_object);
}

void gq_jw_array_open(struct gq_jw *w)
{
	if (w->t == NULL)
		jw_check(w, yajl_gen_array_open(w->g));
	else if (!w->bad)
		tree_add(w, tree_node(yajl_t_array));
}

void gq_jw_array_close(struct gq_jw *w)
{
	if (w->t == NULL)
		jw_check(w, yajl_gen_array_close(w->g));
	else if (!w->bad)
		tree_close(w, yajl_t_array);
}

/* A number of a tree: its text as it is (text mode), or a copy of the node
 * (tree mode: the text and the parsed fields, as gq_json_clone copies). */
static void jw_number(struct gq_jw *w, yajl_val v)
{
	yajl_val n;

	if (w->t == NULL) {
		jw_check(w, yajl_gen_number(w->g, v->u.number.r, strlen(v->u.number.r)));
		return;
	}
	n = tree_node(yajl_t_number);
	n->u.number = v->u.number;
	n->u.number.r = gq_strdup(v->u.number.r);
	tree_add(w, n);
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
	case yajl_t_number: jw_number(w, v); break;
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

	if (w->t != NULL) {
		tree_free(w);
		return NULL;
	}
	if (!w->bad && yajl_gen_get_buf(w->g, &buf, &len) == yajl_gen_status_ok && len > 0)
		s = gq_strndup((const char *)buf, len);
	yajl_gen_free(w->g);
	w->g = NULL;
	return s;
}

yajl_val gq_jw_finish_tree(struct gq_jw *w)
{
	yajl_val root = NULL;

	if (w->g != NULL) {
		yajl_gen_free(w->g);
		w->g = NULL;
		return NULL;
	}
	if (w->t != NULL && !w->bad && w->t->depth == 0) {
		root = w->t->root;
		w->t->root = NULL;
	}
	tree_free(w);
	return root;
}
