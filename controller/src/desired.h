/*
 * desired.h - from a team's spec and observed usage to the exact objects the
 * controller server-side applies. Pure: no I/O, deterministic output.
 *
 * Objects produced (labels app.kubernetes.io/managed-by=gpuquota and
 * gpuquota.io/team=<team>; owner reference to the allocation, except the
 * Namespace):
 *   per team namespace NS
 *     ResourceQuota gpuquota-<team>           GPU + MIG + pass-through hard
 *     ResourceQuota gpuquota-<team>-priority  GPU resources = 0 for pods whose
 *                                             PriorityClass is not a team tier
 *     ResourceQuota gpuquota-<team>-budget    (Deny, budget spent) GPU = 0 for
 *                                             pods outside the exempt tiers
 *     LimitRange    gpuquota-<team>           container cpu/memory defaults
 *                                             (only when spec.limits.container
 *                                             is set; never nvidia.com/ resources)
 *     Namespace     NS                        label gpuquota.io/team=<team>
 *   cluster-scoped
 *     PriorityClass <team>-<tier>             one per tier
 *
 * Bodies are canonical JSON (fixed key order, canonical quantities, no empty
 * lists or maps) so that re-applying an unchanged object is a no-op.
 */
#ifndef GQ_DESIRED_H
#define GQ_DESIRED_H

#include <stddef.h>

#include <yajl/yajl_tree.h>

#include "api.h"
#include "gq.h"
#include "spec.h"

/* Observed usage of one team namespace: status.used of the team's
 * ResourceQuota gpuquota-<team> there (keys are quota resource names such as
 * "requests.nvidia.com/gpu"). An empty list means nothing used / unknown. */
struct gq_ns_usage {
	const char *ns;
	struct gq_res_list used;
};

/* One object to apply. All strings and the tree are owned by the list. */
struct gq_desired {
	char *kind; /* "ResourceQuota", "LimitRange", "PriorityClass", "Namespace" */
	char *ns;   /* namespace, "" for cluster-scoped objects */
	char *name;
	char *path;    /* API path of the object, e.g.
			* /api/v1/namespaces/NS/resourcequotas/NAME */
	yajl_val tree; /* the canonical apply body as a tree (never NULL):
			* compared with the cache as a tree, written out
			* once, for the request */
};

struct gq_desired_list {
	struct gq_desired *items;
	size_t n;
};

void gq_desired_list_free(struct gq_desired_list *l);

/*
 * The team's quota totals as ResourceQuota hard entries, in canonical order
 * (requests.nvidia.com/gpu, then requests.nvidia.com/mig-<profile> sorted,
 * then pass-through resources sorted). GPU resources named in gpu_resources
 * (extended resource names seen on nodes, e.g. "nvidia.com/mig-2g.20gb")
 * that the team was not granted are included with 0, so that a team cannot
 * use a GPU resource it has no quota for. *out is owned by the caller
 * (free each name and the array).
 */
int gq_quota_totals(struct gq_res_list *out, const struct gq_team *t,
		    const char *const *gpu_resources, size_t n_gpu_resources, struct gq_err *err);

/*
 * Team-wide split of totals over namespaces (as Capsule does for tenants):
 * for each resource R and namespace i,
 *     hard_i(R) = used_i(R) + max(0, total(R) - sum_j used_j(R))
 * so the sum of what the namespaces can consume never exceeds total. A
 * one-namespace team gets exactly the totals. hard_out is an array of n_ns
 * lists (caller-allocated, each filled and owned by the caller), in the
 * order of usage[].
 */
int gq_quota_split(struct gq_res_list *hard_out, const struct gq_res_list *totals,
		   const struct gq_ns_usage *usage, size_t n_ns, struct gq_err *err);

/*
 * Every object for team t whose namespaces are usage[0..n_ns) (existing,
 * unconflicted namespaces only; usage[i].ns names them). gpu_resources as
 * for gq_quota_totals. *out is filled in a deterministic order and owned by
 * the caller (gq_desired_list_free).
 */
int gq_desired_build(struct gq_desired_list *out, const struct gq_team *t,
		     const struct gq_ns_usage *usage, size_t n_ns, const char *const *gpu_resources,
		     size_t n_gpu_resources, struct gq_err *err);

/*
 * As gq_desired_build, plus in each namespace the ResourceQuota
 * gpuquota-<team>-budget: every GPU resource at 0 for pods outside the
 * team's exempt tiers. Used while a team with onExhausted: Deny has spent
 * its budget, so the apiserver refuses its GPU pods even when the admission
 * webhook is unreachable; running pods are not affected.
 */
int gq_desired_build_clamped(struct gq_desired_list *out, const struct gq_team *t,
			     const struct gq_ns_usage *usage, size_t n_ns,
			     const char *const *gpu_resources, size_t n_gpu_resources,
			     struct gq_err *err);

/* The Deprioritize class: name "<team>-over-budget" (caller frees), value
 * below every tier and below 0, preemptionPolicy Never; it exists only for
 * teams with budget.onExhausted Deprioritize. */
char *gq_team_over_budget_class(const struct gq_team *t);
int32_t gq_team_over_budget_value(const struct gq_team *t);
bool gq_team_has_over_budget_class(const struct gq_team *t);

/* Frees the names of a resource list and the array; *l is zeroed. */
void gq_res_list_free(struct gq_res_list *l);

#endif
