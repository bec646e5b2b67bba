/*
 * jsonw.h - a JSON writer over yajl_gen with a sticky error flag, and the
 * yajl allocator of the project.
 *
 * Every call appends to the document; a call that fails (a string that is
 * not valid UTF-8, a key where a value belongs) marks the writer bad and
 * the rest of the document is still written, so callers write a whole
 * object without checking each call and learn the outcome once from
 * gq_jw_finish(). Memory comes from gq_malloc (aborts on exhaustion).
 */
#ifndef GQ_JSONW_H
#define GQ_JSONW_H

#include <stdbool.h>
#include <stddef.h>

#include <yajl/yajl_common.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

/* yajl allocator functions over gq_malloc/gq_realloc/free, for parsers and
 * generators. */
extern yajl_alloc_funcs gq_yajl_alloc_funcs;

struct gq_jw {
	yajl_gen g; /* owned until gq_jw_finish */
	bool bad;   /* a call failed; the document is unusable */
};

/* Starts an empty document (compact output, strings validated as UTF-8). */
void gq_jw_init(struct gq_jw *w);
void gq_jw_str(struct gq_jw *w, const char *s);
void gq_jw_strn(struct gq_jw *w, const char *s, size_t len);
/* A member: key k and string value v. */
void gq_jw_kv(struct gq_jw *w, const char *k, const char *v);
void gq_jw_int(struct gq_jw *w, long long v);
void gq_jw_bool(struct gq_jw *w, bool v);
void gq_jw_null(struct gq_jw *w);
void gq_jw_map_open(struct gq_jw *w);
void gq_jw_map_close(struct gq_jw *w);
void gq_jw_array_open(struct gq_jw *w);
void gq_jw_array_close(struct gq_jw *w);
/* Deepest nesting gq_jw_value writes (yajl_gen itself stops at 128). */
#define GQ_JW_MAX_DEPTH 120

/* Writes the tree v (borrowed; NULL writes null), every member in order.
 * A tree nested deeper than GQ_JW_MAX_DEPTH marks the writer bad: it is
 * never cut short silently. */
void gq_jw_value(struct gq_jw *w, yajl_val v);

/* As gq_jw_value for a subtree written at nesting depth (the levels the
 * caller has opened above it count towards GQ_JW_MAX_DEPTH). */
void gq_jw_value_at(struct gq_jw *w, yajl_val v, int depth);

/* Ends the document and frees the generator: the JSON text as a new heap
 * string (caller frees), or NULL when any call failed or nothing was
 * written (an empty text is not JSON). */
char *gq_jw_finish(struct gq_jw *w);

#endif
