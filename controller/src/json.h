/*
 * json.h - the one set of helpers over yajl trees: member and path access
 * with one rule, deep copy and serialisation. Pure; results borrowed from
 * the tree unless said otherwise.
 *
 * The member rule, everywhere: a member whose value is JSON null counts as
 * absent, and when a key repeats the last one wins (as the apiserver's Go
 * decoder reads it).
 */
#ifndef GQ_JSON_H
#define GQ_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <yajl/yajl_tree.h>

/* A path for gq_json_str / gq_json_obj: GQ_PATH("status", "used"). */
#define GQ_PATH(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Member key of obj by the rule above; NULL when obj is not an object. */
yajl_val gq_json_get(yajl_val obj, const char *key);

/* The string at path below v, or NULL (absent, null, not a string). */
const char *gq_json_str(yajl_val v, const char *const *path);

/* The object at path below v, or NULL (absent, null, not an object). */
yajl_val gq_json_obj(yajl_val v, const char *const *path);

/* The RFC 3339 time at path below v in ms since the epoch; 0 when absent
 * or unreadable. */
int64_t gq_json_time_ms(yajl_val v, const char *const *path);

/* Deep copy of v (NULL in, NULL out), node by node; the caller frees it
 * with yajl_tree_free. */
yajl_val gq_json_clone(yajl_val v);

/* Exact structural equality: the same types, arrays element by element,
 * objects with the same keys in the same order (repeated keys included)
 * and equal values, strings byte for byte and numbers by their text (so
 * 1.0 and 1 differ). NULL equals only NULL. For trees without NULL
 * members (parsed or built by a tree-mode writer) it is equality of their
 * gq_json_dump texts. */
bool gq_json_equal(yajl_val a, yajl_val b);

/* v as compact JSON text (NULL writes "null"): a new heap string the caller
 * frees, or NULL when v nests deeper than GQ_JW_MAX_DEPTH (jsonw.h). */
char *gq_json_dump(yajl_val v);

#endif /* GQ_JSON_H */
