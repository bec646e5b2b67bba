/*
 * yamldoc.h - YAML streams converted to yajl JSON trees, with source lines.
 *
 * The rest of the program works on yajl_val trees whether its input was
 * JSON or YAML. A YAML stream (documents separated by ---) becomes one
 * struct gq_yamldoc per non-empty document: the JSON tree, the same JSON as
 * text, and the source position of every node so that validation errors can
 * name a line (gq_yamldoc_line).
 *
 * Scalar typing follows what Kubernetes does when it turns YAML into JSON
 * (sigs.k8s.io/yaml on go-yaml v2, i.e. YAML 1.1 resolution):
 *  - quoted scalars, block scalars (| and >) and !!str / ! tagged scalars
 *    are strings ("500" stays a string);
 *  - plain null, Null, NULL, ~ and the empty scalar are null;
 *  - plain true/True/TRUE, yes/Yes/YES, y/Y, on/On/ON are true and
 *    false/False/FALSE, no/No/NO, n/N, off/Off/OFF are false;
 *  - plain integers (optional sign, decimal, 0x hex, 0o or leading-0 octal,
 *    0b binary, '_' separators) become JSON integers, values up to 2^64-1;
 *  - plain floats ([-+]?(.D+|D+(.D*)?)([eE][-+]?D+)?) become JSON numbers;
 *    .inf/.nan have no JSON form and are rejected;
 *  - anything else (timestamps included) is a string.
 * !!int, !!float, !!bool and !!null tags force the type (mismatch: error).
 * Merge keys (<<: *anchor) are supported; explicit keys override merged ones.
 *
 * Rejected with GQ_EPARSE and a message starting "LINE:COLUMN: ": syntax
 * errors, mapping keys that are not strings (e.g. 1:, true:, null:, or a
 * collection; quote them), duplicate keys, documents nested deeper than
 * GQ_YAMLDOC_MAX_DEPTH collections, more than GQ_YAMLDOC_MAX_ALIASES alias
 * references in a document or aliases that would expand to more than
 * GQ_YAMLDOC_MAX_ALIAS_WEIGHT bytes of nodes (billion laughs), unknown
 * aliases, mapping keys containing NUL.
 * Input over GQ_YAMLDOC_MAX_INPUT bytes is GQ_ETOOBIG.
 *
 * Empty documents (no content, or a document that is only null) are
 * skipped.
 */
#ifndef GQ_YAMLDOC_H
#define GQ_YAMLDOC_H

#include <stddef.h>

#include <yajl/yajl_tree.h>

#include "gq.h"

#define GQ_YAMLDOC_MAX_INPUT	    ((size_t)4 << 20)
#define GQ_YAMLDOC_MAX_DEPTH	    64
#define GQ_YAMLDOC_MAX_ALIASES	    64
#define GQ_YAMLDOC_MAX_ALIAS_WEIGHT ((size_t)1 << 20)

/* Source positions of one document (private to yamldoc.c). */
struct gq_yamldoc_node;

/* One YAML document. All members are owned by the enclosing list. */
struct gq_yamldoc {
	yajl_val root;		     /* the document as a yajl tree */
	char *json;		     /* the document as JSON text, NUL-terminated */
	size_t json_len;	     /* bytes in json */
	unsigned line;		     /* 1-based line where the document starts */
	struct gq_yamldoc_node *src; /* source positions (gq_yamldoc_line) */
};

/* The documents of a stream, in order. */
struct gq_yamldoc_list {
	struct gq_yamldoc *docs; /* array of n documents (owned) */
	size_t n;		 /* number of documents */
};

/*
 * Parses len bytes of YAML (JSON is YAML too). On success *out holds the
 * non-empty documents and is owned by the caller (gq_yamldoc_list_free);
 * on failure *out is empty. Returns GQ_OK, GQ_EPARSE or GQ_ETOOBIG (see the
 * top of this file).
 */
int gq_yamldoc_parse(struct gq_yamldoc_list *out, const char *data, size_t len, struct gq_err *err);

/*
 * Reads path (at most GQ_YAMLDOC_MAX_INPUT bytes) and parses it as
 * gq_yamldoc_parse does. Adds GQ_EIO for an unreadable file.
 */
int gq_yamldoc_parse_file(struct gq_yamldoc_list *out, const char *path, struct gq_err *err);

/* Frees the documents and empties the list (a NULL or empty list is fine). */
void gq_yamldoc_list_free(struct gq_yamldoc_list *l);

/*
 * Finds the node at path (NULL-terminated keys; a sequence element is
 * named by its decimal index, e.g. {"spec","teams","0","name",NULL}) and
 * stores its 1-based line and column. For a mapping member the position is
 * that of its key. An empty path names the document root. Returns GQ_OK or
 * GQ_ENOTFOUND (outputs untouched). line and col may be NULL.
 */
int gq_yamldoc_pos(const struct gq_yamldoc *doc, const char *const *path, unsigned *line,
		   unsigned *col);

/* The line of path as gq_yamldoc_pos finds it, or 0 when it is absent. */
unsigned gq_yamldoc_line(const struct gq_yamldoc *doc, const char *const *path);

/*
 * The line of the deepest prefix of path that exists (for errors about a
 * missing field: the line of its parent); the document's line when not
 * even the first key exists.
 */
unsigned gq_yamldoc_line_nearest(const struct gq_yamldoc *doc, const char *const *path);

#endif
