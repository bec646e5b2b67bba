/*
 * jsonpatch.h - the one JSON Patch (RFC 6902) builder: operations are
 * collected as structures and written out once, as text (admission
 * responses) or as a tree (the controller's patches, serialised when
 * sent). Nothing edits serialised patch text. Pure; no allocation until
 * the patch is written.
 *
 * Ownership: a struct gq_jpatch is a plain value on the caller's stack;
 * its string values are borrowed (they must outlive the write), its paths
 * are copied into bounded buffers.
 */
#ifndef GQ_JSONPATCH_H
#define GQ_JSONPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_tree.h>

#include "jsonw.h"

#define GQ_JPATCH_MAX_OPS  8
#define GQ_JPATCH_MAX_PATH 160

/* The value of an operation. */
enum gq_jpatch_val {
	GQ_JPATCH_NONE,	    /* no value (remove) */
	GQ_JPATCH_STR,	    /* s */
	GQ_JPATCH_STR_LIST, /* [s] */
	GQ_JPATCH_INT,	    /* i */
	GQ_JPATCH_GATE,	    /* {"name": the budget gate} */
	GQ_JPATCH_GATE_LIST, /* [{"name": the budget gate}] */
	GQ_JPATCH_POOL_SEL,  /* {"gpuquota.io/pool": s} (a nodeSelector) */
	GQ_JPATCH_POOL_TOL,  /* {"key": "gpuquota.io/pool", "operator": "Equal",
			      *  "value": s, "effect": "NoSchedule"} */
	GQ_JPATCH_POOL_TOL_LIST /* [that toleration] */
};

/* The key of the teams' pool label and taint (sharing.h). */
#define GQ_JPATCH_POOL_KEY "gpuquota.io/pool"

struct gq_jpatch_op {
	const char *op; /* "add", "remove", "test", ... (borrowed) */
	char path[GQ_JPATCH_MAX_PATH];
	enum gq_jpatch_val kind;
	const char *s; /* borrowed */
	int64_t i;
};

struct gq_jpatch {
	struct gq_jpatch_op ops[GQ_JPATCH_MAX_OPS];
	size_t n;
	bool bad; /* an operation did not fit (too many, path too long) */
};

/* Appends an operation. */
void gq_jpatch_add(struct gq_jpatch *p, const char *op, const char *path, enum gq_jpatch_val kind,
		   const char *s, int64_t i);

/* As gq_jpatch_add, replacing an earlier operation on the same path in
 * place (admission's patch never names a path twice). */
void gq_jpatch_set(struct gq_jpatch *p, const char *op, const char *path, enum gq_jpatch_val kind,
		   const char *s, int64_t i);

/* The patch as JSON text (a new heap string, the caller's), NULL when it is
 * empty, bad or a string is not valid UTF-8. */
char *gq_jpatch_json(const struct gq_jpatch *p);

/* The patch as a tree (the caller's, yajl_tree_free), NULL as for
 * gq_jpatch_json. */
yajl_val gq_jpatch_tree(const struct gq_jpatch *p);

#endif
