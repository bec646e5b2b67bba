/*
 * jsonpatch.c - the JSON Patch builder (jsonpatch.h).
 */
#include "jsonpatch.h"

#include <stdio.h>
#include <string.h>

#include "api.h"

/* See jsonpatch.h. */
void gq_jpatch_add(struct gq_jpatch *p, const char *op, const char *path, enum gq_jpatch_val kind,
		   const char *s, int64_t i)
{
	struct gq_jpatch_op *o;

	if (p->n == GQ_JPATCH_MAX_OPS || strlen(path) >= GQ_JPATCH_MAX_PATH) {
		p->bad = true;
		return;
	}
	o = &p->ops[p->n++];
	o->op = op;
	snprintf(o->path, sizeof(o->path), "%s", path);
	o->kind = kind;
	o->s = s;
	o->i = i;
}

/* See jsonpatch.h. */
void gq_jpatch_set(struct gq_jpatch *p, const char *op, const char *path, enum gq_jpatch_val kind,
		   const char *s, int64_t i)
{
	for (size_t k = 0; k < p->n; k++) {
		if (strcmp(p->ops[k].path, path) == 0) {
			p->ops[k].op = op;
			p->ops[k].kind = kind;
			p->ops[k].s = s;
			p->ops[k].i = i;
			return;
		}
	}
	gq_jpatch_add(p, op, path, kind, s, i);
}

/* Writes {"name": the budget gate}. */
static void write_gate(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_kv(w, "name", GQ_BUDGET_GATE);
	gq_jw_map_close(w);
}

/* Writes the toleration of pool s's taint. */
static void write_pool_tol(struct gq_jw *w, const char *s)
{
	gq_jw_map_open(w);
	gq_jw_kv(w, "key", GQ_JPATCH_POOL_KEY);
	gq_jw_kv(w, "operator", "Equal");
	gq_jw_kv(w, "value", s);
	gq_jw_kv(w, "effect", "NoSchedule");
	gq_jw_map_close(w);
}

/* Writes the operations of p as an array into w. */
static void write_ops(const struct gq_jpatch *p, struct gq_jw *w)
{
	gq_jw_array_open(w);
	for (size_t k = 0; k < p->n; k++) {
		const struct gq_jpatch_op *o = &p->ops[k];

		gq_jw_map_open(w);
		gq_jw_kv(w, "op", o->op);
		gq_jw_kv(w, "path", o->path);
		if (o->kind != GQ_JPATCH_NONE)
			gq_jw_str(w, "value");
		switch (o->kind) {
		case GQ_JPATCH_NONE: break;
		case GQ_JPATCH_STR: gq_jw_str(w, o->s); break;
		case GQ_JPATCH_STR_LIST:
			gq_jw_array_open(w);
			gq_jw_str(w, o->s);
			gq_jw_array_close(w);
			break;
		case GQ_JPATCH_INT: gq_jw_int(w, o->i); break;
		case GQ_JPATCH_GATE: write_gate(w); break;
		case GQ_JPATCH_GATE_LIST:
			gq_jw_array_open(w);
			write_gate(w);
			gq_jw_array_close(w);
			break;
		case GQ_JPATCH_POOL_SEL:
			gq_jw_map_open(w);
			gq_jw_kv(w, GQ_JPATCH_POOL_KEY, o->s);
			gq_jw_map_close(w);
			break;
		case GQ_JPATCH_POOL_TOL: write_pool_tol(w, o->s); break;
		case GQ_JPATCH_POOL_TOL_LIST:
			gq_jw_array_open(w);
			write_pool_tol(w, o->s);
			gq_jw_array_close(w);
			break;
		}
		gq_jw_map_close(w);
	}
	gq_jw_array_close(w);
}

/* See jsonpatch.h. */
char *gq_jpatch_json(const struct gq_jpatch *p)
{
	struct gq_jw w;

	if (p->n == 0 || p->bad)
		return NULL;
	gq_jw_init(&w);
	write_ops(p, &w);
	return gq_jw_finish(&w);
}

/* See jsonpatch.h. */
yajl_val gq_jpatch_tree(const struct gq_jpatch *p)
{
	struct gq_jw w;

	if (p->n == 0 || p->bad)
		return NULL;
	gq_jw_init_tree(&w);
	write_ops(p, &w);
	return gq_jw_finish_tree(&w);
}
