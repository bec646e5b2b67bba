/*
 * jsonw.h - a JSON writer over yajl_gen with a sticky error flag, and the
 * yajl allocator of the project.
 *
 * Every call appends to the document; a call that fails (a string that is
 * not valid UTF-8, a key where a value belongs) marks the writer bad and
 * the rest of the document is still written, so callers write a whole
 * object without checking each call and learn the outcome once from
 * gq_jw_finish(). Memory comes from gq_malloc (aborts on exhaustion).
 *
 * Two modes, one set of calls. A writer started with gq_jw_init writes
 * JSON text (gq_jw_finish); one started with gq_jw_init_tree builds the
 * same document as a yajl tree (gq_jw_finish_tree), which gq_json_dump
 * turns into byte-identical text. Inside an object a string call is a key
 * where a key is expected and a value after it, as with yajl_gen; strings
 * are checked as yajl_gen_validate_utf8 checks them (gq_utf8_valid_yajl).
 * Tree mode also refuses, where yajl_gen's text does not notice them: a
 * close that does not match its open or comes between a key and its value,
 * a document left open at gq_jw_finish_tree, a string holding a NUL byte
 * (a tree's strings end at their first NUL), and any value nested deeper
 * than GQ_JW_MAX_DEPTH (so that every tree it builds can be written out).
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

/* The tree being built by a tree-mode writer (private to jsonw.c). */
struct gq_jw_tree;

struct gq_jw {
	yajl_gen g;	      /* text mode: owned until gq_jw_finish; else NULL */
	struct gq_jw_tree *t; /* tree mode: owned until gq_jw_finish_tree; else NULL */
	bool bad;	      /* a call failed; the document is unusable */
};

/* Starts an empty document (compact output, strings validated as UTF-8). */
void gq_jw_init(struct gq_jw *w);

/* Starts an empty document built as a yajl tree (tree mode, see above). */
void gq_jw_init_tree(struct gq_jw *w);
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
 * written (an empty text is not JSON). A tree-mode writer is freed and
 * gives NULL. */
char *gq_jw_finish(struct gq_jw *w);

/* Ends a tree-mode document: its tree, which the caller owns and frees with
 * yajl_tree_free, or NULL when any call failed, nothing was written or a
 * container is still open (whatever was built is freed then). A text-mode
 * writer is freed and gives NULL. */
yajl_val gq_jw_finish_tree(struct gq_jw *w);

#endif
