/*
 * pod.h - the compact pod: the few fields of a Pod object that accounting
 * and the pass read, decoded once from the cached (trimmed) JSON into a
 * plain struct. Times are integers, the GPU requests are folded into the
 * pod's effective request per resource (cost.h), gpuquota's marks (the
 * accounting finalizer, the budget gate) are their indexes. Everything
 * derived from it (the GPU weight on a node, the end of GPU use) is a pure
 * function of the struct.
 *
 * Ownership: a struct gq_pod owns its strings and arrays, packed in one
 * block (gq_pod_free);
 * every other pointer argument is borrowed for the call. No function keeps
 * a pointer or touches shared state.
 */
#ifndef GQ_POD_H
#define GQ_POD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_tree.h>

#include "cost.h"
#include "gq.h"
#include "spec.h"

/* One resource of the pod's effective request: an nvidia.com/ name
 * (owned) and the effective count (gq_cost_acc). */
struct gq_pod_res {
	char *name;
	int64_t count;
};

struct gq_pod {
	char *key;		/* "namespace/name" */
	char *uid;		/* metadata.uid, or NULL */
	char *node;		/* spec.nodeName, or NULL (not scheduled) */
	char *priority_class;	/* spec.priorityClassName, or NULL */
	struct gq_pod_res *res; /* effective nvidia.com/ requests, in first-seen order */
	size_t n_res;
	int res_rc;	      /* GQ_OK, or why res could not be folded (the cost
			       * model refuses the pod: GQ_ETOOBIG, GQ_ERANGE) */
	bool gpu;	      /* requests (else limits) a positive nvidia.com/ amount */
	bool terminal;	      /* status.phase Succeeded or Failed */
	bool deleting;	      /* metadata.deletionTimestamp is set */
	int64_t deletion_ms;  /* ... as ms since the epoch (0: absent or unreadable) */
	int64_t created_ms;   /* metadata.creationTimestamp (0: absent) */
	int64_t start_ms;     /* status.startTime (0: not started) */
	int64_t finished_ms;  /* latest containerStatuses[].state.terminated.finishedAt */
	int64_t condition_ms; /* latest status.conditions[].lastTransitionTime */
	long finalizer;	      /* index of the accounting finalizer, -1: absent */
	bool has_finalizers;  /* metadata.finalizers exists */
	long gate;	      /* index of the budget scheduling gate, -1: absent */
	void *mem;	      /* the one block holding the strings and res
			       * (gq_pod_free); NULL inside a cache object */
};

/*
 * Decodes the Pod object pod (borrowed; a trimmed cache copy holding at
 * least gq_pod_fields) cached under key ("ns/name", copied) into *out,
 * zeroed first; the caller frees it with gq_pod_free. Never fails: a field
 * that is absent or unreadable reads as its zero value.
 */
void gq_pod_decode(struct gq_pod *out, const char *key, yajl_val pod);

/* Frees what *p owns and zeroes it; safe on a zeroed struct. */
void gq_pod_free(struct gq_pod *p);

/* A deep copy of *src into *dst (the caller frees it with gq_pod_free). */
void gq_pod_copy(struct gq_pod *dst, const struct gq_pod *src);

/* The pod cache's compact form (gq_informer_def convert/release): a new
 * heap struct gq_pod decoded from pod, struct and strings in one
 * allocation, and its release (never gq_pod_free on it). */
void *gq_pod_convert(const char *key, yajl_val pod);
void gq_pod_release(void *pod);

/* The fields a pod cache must keep for gq_pod_decode (informer keep
 * paths). NULL-terminated. */
extern const char *const gq_pod_fields[];

/*
 * End of the pod's GPU use at now_ms, 0 while it still runs. A Succeeded or
 * Failed pod ends at its latest container finishedAt, else at its deletion
 * time once that has passed, else at its latest condition transition
 * (never later than now_ms), else at now_ms. Any other pod ends at its
 * deletion time once that has passed.
 */
int64_t gq_pod_end(const struct gq_pod *p, int64_t now_ms);

/*
 * The pod's weight on a node with `replicas` time-slicing replicas, with the
 * team's overrides (may be NULL), into *w: the cost model over its effective
 * requests (gq_cost_effective_weight, the same fraction gq_cost_pod_weight
 * gives for its containers). Returns GQ_OK, p->res_rc when the requests
 * could not be folded, or the cost model's error.
 */
int gq_pod_weight(struct gq_cost_weight *w, const struct gq_pod *p, int64_t replicas,
		  const struct gq_res_list *overrides);

/* Whether the Pod object requests (else limits) a positive amount of any
 * nvidia.com/ resource in a container or init container. */
bool gq_pod_is_gpu(yajl_val pod);

/*
 * The weight of the Pod object pod on a node with `replicas` replicas:
 * its containers' nvidia.com/ requests (else limits) through
 * gq_cost_pod_weight, into *w. Returns that function's codes.
 */
int gq_pod_weight_json(struct gq_cost_weight *w, yajl_val pod, int64_t replicas,
		       const struct gq_res_list *overrides);

/*
 * gpuquota's marks on a Pod object: *finalizer is set to the index of the
 * accounting finalizer in metadata.finalizers, *gate to that of the budget
 * gate in spec.schedulingGates, each -1 when absent. Returns whether the pod
 * carries either.
 */
bool gq_pod_marks(yajl_val pod, long *finalizer, long *gate);

#endif
