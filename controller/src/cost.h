/*
 * cost.h - the one GPU cost model: what a GPU pod costs, used alike by
 * admission (before the pod runs) and the ledger (while it runs), so that
 * the two can never disagree. Pure functions over plain values; no I/O.
 *
 * A pod's weight, in GPU-equivalents, is an exact fraction: the sum over its
 * nvidia.com/... resources of the resource's weight (gq_cost_resource_weight)
 * times the pod's effective request of it (gq_cost_acc: the scheduler's
 * rule for containers, init containers and sidecars). A pod of weight w
 * that runs x milliseconds costs floor(x * 1000 * w) micro GPU-seconds
 * (gq_cost_usage); the ledger charges exactly that over the pod's life, and
 * admission expects exactly that for a pod's activeDeadlineSeconds.
 */
#ifndef GQ_COST_H
#define GQ_COST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gq.h"
#include "spec.h"

#define GQ_COST_MICRO		 INT64_C(1000000) /* micro GPU-equivalents per GPU */
#define GQ_COST_MAX_WEIGHT	 1000		  /* largest spec.budget.weights value */
#define GQ_COST_MAX_WEIGHT_MILLI (GQ_COST_MAX_WEIGHT * INT64_C(1000))
#define GQ_COST_MAX_REQS	 4096 /* (name, count) entries per pod, in all */

/* A weight in GPU-equivalents, exactly: num / den, reduced, num >= 0, den >= 1. */
struct gq_cost_weight {
	int64_t num;
	int64_t den;
};

/* One resource request of a container: name and whole-unit count (the
 * request, or the limit when the request is absent). */
struct gq_cost_req {
	const char *name;
	int64_t count;
};

/* One container of a pod spec, with its GPU-relevant requests. */
struct gq_cost_container {
	const struct gq_cost_req *reqs;
	size_t n_reqs;
	bool init;    /* from spec.initContainers */
	bool sidecar; /* init container with restartPolicy: Always (runs alongside) */
};

/* What a container is to the effective-request rule. */
enum gq_cost_kind {
	GQ_COST_CONTAINER = 0, /* spec.containers[] */
	GQ_COST_INIT = 1,      /* spec.initContainers[], run to completion */
	GQ_COST_SIDECAR = 2,   /* spec.initContainers[] with restartPolicy Always */
};

/*
 * The effective request of one resource, folded container by container
 * (init containers in their order; regular containers in any order): the
 * larger of the regular containers plus the sidecars, and the largest init
 * container request counted with the sidecars started before it. Start
 * from all zeros.
 */
struct gq_cost_acc {
	int64_t sum;	  /* regular containers + sidecars */
	int64_t init_max; /* largest init-phase demand */
	int64_t sidecar;  /* sidecars started so far */
};

/* Folds count (>= 0) devices of one container of the given kind into a.
 * GQ_OK, or GQ_ERANGE on overflow (a is then unspecified). */
int gq_cost_acc_add(struct gq_cost_acc *a, enum gq_cost_kind kind, int64_t count);

/* The effective request folded so far. */
int64_t gq_cost_acc_effective(const struct gq_cost_acc *a);

/*
 * Default or overridden weight of one unit of resource `name`:
 *   - an entry in overrides (spec.budget.weights; may be NULL) wins, as is
 *     (on a time-sliced node too: it replaces the 1/R below);
 *   - nvidia.com/gpu (and its renamed form nvidia.com/gpu.shared): 1, or 1/R
 *     when node_replicas R > 1 (node label nvidia.com/gpu.replicas);
 *   - nvidia.com/mig-<g>g.<m>gb[anything]: g/7 for g in 1..7;
 *   - any other resource under nvidia.com/: 1;
 *   - anything else: 0 (not a GPU resource).
 * Admission, which runs before the pod has a node, passes node_replicas 1
 * (the most a device can cost). Returns GQ_OK or GQ_EINVAL (NULL name, an
 * override below 0 or above GQ_COST_MAX_WEIGHT).
 */
int gq_cost_resource_weight(struct gq_cost_weight *out, const char *name, int64_t node_replicas,
			    const struct gq_res_list *overrides);

/*
 * Weight of a pod from its containers: sum over its resources of
 * weight(resource) x effective count (gq_cost_acc). Returns GQ_OK, GQ_EINVAL
 * (NULL name or reqs, negative count, a bad override), GQ_ETOOBIG (more
 * than GQ_COST_MAX_REQS entries) or GQ_ERANGE.
 */
int gq_cost_pod_weight(struct gq_cost_weight *out, const struct gq_cost_container *c, size_t n,
		       int64_t node_replicas, const struct gq_res_list *overrides);

/*
 * The pod's effective request (gq_cost_acc) of every resource its n
 * containers c name, one entry per distinct name in first-seen order, into
 * out (names borrowed from c), *n_out of them. Returns GQ_OK, or the errors
 * of gq_cost_pod_weight for the same containers (GQ_ETOOBIG also when more
 * than cap distinct names); *n_out is 0 then.
 */
int gq_cost_effective(struct gq_cost_req *out, size_t cap, size_t *n_out,
		      const struct gq_cost_container *c, size_t n);

/*
 * Weight of a pod from its effective requests, one entry per distinct
 * resource (what admission's decoder produces). Same weights and errors as
 * gq_cost_pod_weight; for the same pod both give the same fraction.
 */
int gq_cost_effective_weight(struct gq_cost_weight *out, const struct gq_cost_req *eff, size_t n,
			     int64_t node_replicas, const struct gq_res_list *overrides);

/* Whether w is a valid weight (num >= 0, den >= 1). */
bool gq_cost_weight_ok(const struct gq_cost_weight *w);

/*
 * F(x) = floor(x ms * 1000 * w): micro GPU-seconds used by weight w in the
 * first x >= 0 ms of a pod's life. GQ_OK, GQ_EINVAL (bad weight or x < 0)
 * or GQ_ERANGE.
 */
int gq_cost_usage(int64_t *out, int64_t x_ms, const struct gq_cost_weight *w);

/* What a pod of weight w costs if it runs `seconds` (its
 * activeDeadlineSeconds): F(seconds * 1000), saturating at INT64_MAX. */
int64_t gq_cost_expected_micro(const struct gq_cost_weight *w, int64_t seconds);

/* A weight in micro GPU-equivalents, rounded to nearest (for display and
 * metrics only; costs use the exact fraction). Saturates at INT64_MAX. */
int64_t gq_cost_weight_micro(const struct gq_cost_weight *w);

/* Whether used_micro reached percent (clamped to 100) of budget_micro:
 * used >= ceil(budget * percent / 100). false when percent <= 0. */
bool gq_cost_warn_reached(int64_t used_micro, int64_t budget_micro, int percent);

#endif /* GQ_COST_H */
