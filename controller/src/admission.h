/*
 * admission.h - the gpuquota Pod admission webhook's logic, pure: decoding an
 * AdmissionReview (admission.k8s.io/v1), deciding what to do with a Pod
 * CREATE against an in-memory snapshot of its team, and encoding the
 * AdmissionReview response. No I/O, no locks, no clocks: the HTTPS server
 * reads the body, takes the snapshot, calls decode -> decide -> encode and
 * answers HTTP 200 with the result (kubernetes-api.md §4).
 *
 * Decisions, in order (gq_admission_decide):
 *  1. Not a Pod CREATE, not a GPU pod, or not a team namespace: allowed as is.
 *  2. No priorityClassName and the team has a default tier: the patch sets it.
 *     A class that is not one of the team's tiers (nor its over-budget
 *     class) is denied (403) with the list of the team's classes.
 *  3. More nvidia.com/gpu than the team's per-pod cap: denied (403).
 *  4. An exempt tier: allowed (with the default-class patch, if any).
 *  5. Budget used up, or the pod's expected cost (weight x
 *     activeDeadlineSeconds, by the cost model of cost.h, the ledger's)
 *     above what is left: Deny (403), Hold (scheduling
 *     gate gpuquota.io/budget + warning) or Deprioritize (the over-budget
 *     class, its value and preemptionPolicy Never + warning).
 *  6. Otherwise allowed, with a warning past the team's warn threshold.
 *  7. Pinning (spec.sharing): an allowed pod of a team with a pool that the
 *     pool serves -- one asking for a MIG slice when the pool has a MIG
 *     layout, every GPU pod otherwise -- gets the nodeSelector
 *     gpuquota.io/pool=<pool> and the toleration of the pool's taint
 *     (gpuquota.io/pool=<pool>:NoSchedule), replacing any gpuquota.io/pool
 *     selector it names. A pod not pinned that tolerates a pool taint,
 *     while some team has a pool, is denied (403) before the budget is
 *     looked at: it could land on a pool not its own.
 * Before these: a GPU pod CREATE the decoder refuses (over a bound below) is
 * denied (403, gq_admission_refuse), whatever its namespace.
 *
 * Units: budgets and usage are micro GPU-seconds (1 GPU for 1 s =
 * 1,000,000); weights are exact fractions of GPU-equivalents (cost.h).
 *
 * Implemented by admission_decode.c (gq_admission_decode and the request
 * helpers gq_adm_request_*) and admission.c (weights, decisions, refusal,
 * encoding).
 */
#ifndef GQ_ADMISSION_H
#define GQ_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "cost.h"
#include "gq.h"
#include "spec.h" /* enum gq_on_exhausted */

/*
 * Bounds on what the decoder accepts (README, "Admission limits"). A review
 * past one is refused: HTTP 400, so the apiserver applies the webhook's
 * failurePolicy (Ignore) -- except a GPU pod CREATE, which is answered
 * allowed: false naming the bound (refused_gpu_pod below), so that no GPU pod
 * gets past the budget by being too large to check. The body and nesting
 * bounds come first and always answer 400 (a review over them is never
 * read).
 */
#define GQ_ADMISSION_MAX_BODY	    (20u * 1024 * 1024) /* AdmissionReview body, bytes */
#define GQ_ADMISSION_MAX_DEPTH	    128			/* JSON nesting */
#define GQ_ADMISSION_MAX_UID	    256			/* request.uid, bytes */
#define GQ_ADMISSION_MAX_STR	    1024 /* names, operation, class and gate names, bytes */
#define GQ_ADMISSION_MAX_RES_NAME   320	 /* a nvidia.com/... name: <prefix 253>/<name 63> */
#define GQ_ADMISSION_MAX_CONTAINERS 1024 /* entries of spec.containers, of initContainers */
#define GQ_ADMISSION_MAX_RESOURCES  64	 /* distinct nvidia.com/... resources per pod */
#define GQ_ADMISSION_MAX_GATES	    256	 /* entries of spec.schedulingGates */

/* The AdmissionReview version decoded and answered. */
#define GQ_ADMISSION_API_VERSION "admission.k8s.io/v1"

/* Micro GPU-equivalents of one whole GPU. */
#define GQ_ADMISSION_GPU_MICRO GQ_COST_MICRO

/* One nvidia.com/... resource of a pod and its effective request. */
struct gq_adm_gpu {
	char *resource; /* e.g. "nvidia.com/gpu", "nvidia.com/mig-1g.10gb" */
	int64_t count;	/* effective pod request, whole devices (>= 0) */
};

/*
 * What gq_admission_decode extracts from an AdmissionReview. The pod fields
 * are filled only for a CREATE of a Pod (is_pod_create); otherwise they are
 * zero. Every string is owned by the struct (gq_adm_request_free).
 */
struct gq_adm_request {
	char *uid;	     /* request.uid, never NULL after a successful decode */
	char *operation;     /* request.operation ("CREATE", "UPDATE", ...), "" if absent */
	bool is_pod;	     /* request.kind is core/v1 Pod (group "") and no subResource */
	bool is_pod_create;  /* is_pod and operation CREATE */
	char *namespace;     /* request.namespace, else object.metadata.namespace, or "" */
	char *name;	     /* request.name, else object.metadata.name, or "" */
	char *generate_name; /* object.metadata.generateName, NULL if absent */
	bool dry_run;	     /* request.dryRun */
	bool has_finalizers; /* object.metadata.finalizers is an array (maybe empty) */
	bool has_accounting_finalizer; /* ... and holds GQ_ACCOUNTING_FINALIZER */

	/* request.object (a Pod), only when is_pod_create */
	char *priority_class;	    /* spec.priorityClassName; NULL if absent or "" */
	bool has_priority;	    /* spec.priority is set */
	bool has_preemption_policy; /* spec.preemptionPolicy is set */
	int64_t active_deadline;    /* spec.activeDeadlineSeconds; 0 = unset */
	bool has_gates;		    /* spec.schedulingGates is an array (maybe empty) */
	char **gates;		    /* names of spec.schedulingGates[] */
	size_t n_gates;
	bool has_node_selector;	 /* spec.nodeSelector is an object (maybe empty) */
	bool has_tolerations;	 /* spec.tolerations is an array (maybe empty) */
	bool tolerates_pool;	 /* one of them tolerates a gpuquota.io/pool taint: its
				  * key is gpuquota.io/pool, or it has no key and
				  * operator Exists; effect NoSchedule or none */
	struct gq_adm_gpu *gpus; /* effective nvidia.com/... requests, sorted by name */
	size_t n_gpus;

	/* Set only by a failed decode: the review is a Pod CREATE carrying GPU
	 * resources (gq_admission_decode), and uid holds its request.uid. */
	bool refused_gpu_pod;
};

/*
 * The caller's snapshot of a team, borrowed for the duration of one
 * gq_admission_decide call. Class names are full PriorityClass names
 * ("<team>-<tier>").
 */
struct gq_adm_team {
	const char *name; /* required */

	/* priority tiers */
	const char *const *tier_classes;       /* the team's PriorityClasses */
	size_t n_tiers;			       /* 0: the team has no tiers, no class check */
	const char *default_class;	       /* given to pods naming no class; NULL = none */
	int32_t default_value;		       /* default_class's value ... */
	const char *default_preemption_policy; /* ... and preemptionPolicy; NULL: unknown,
						* the patch removes spec.priority and
						* spec.preemptionPolicy so that the Priority
						* plugin refills them (§3.4) */
	const char *const *exempt_classes;     /* classes never held back by the budget */
	size_t n_exempt;
	int64_t max_gpus_per_pod; /* 0 = no cap; counts nvidia.com/gpu only */

	/* budget */
	bool has_budget;
	enum gq_on_exhausted policy;
	int64_t used_micro;	       /* micro GPU-seconds used this period */
	int64_t budget_micro;	       /* micro GPU-seconds allowed per period */
	int warn_at_percent;	       /* 0 = off */
	const char *reset_time;	       /* RFC 3339 end of the period; NULL = unknown */
	const char *over_budget_class; /* "<team>-over-budget" (Deprioritize); NULL:
					* Deprioritize fails closed (denies) */
	int32_t over_budget_value;     /* its value; its preemptionPolicy is Never */

	/* Admitted GPU pods get GQ_ACCOUNTING_FINALIZER (the team registry sets
	 * it for teams with a budget) */
	bool accounting;

	/* spec.budget.weights (cost.h: gq_cost_resource_weight); NULL = none */
	const struct gq_res_list *weights;

	/* spec.sharing: the pool the team's GPU pods are pinned to (its nodes
	 * carry label and taint gpuquota.io/pool=<pool>); NULL = none */
	const char *pool;
	bool pool_mig_only; /* the pool has a MIG layout and no settled node with
			     * whole GPUs: only pods asking for a MIG slice are
			     * pinned (whole GPUs are elsewhere) */
	/* some team has a pool (the registry sets it at each review) */
	bool pools_exist;
};

/* What gq_admission_decide chose (for logs and metrics). */
enum gq_adm_action {
	GQ_ADM_PASS = 0,     /* not ours: not a GPU pod CREATE in a team namespace */
	GQ_ADM_ALLOW,	     /* allowed (maybe with the default class / a warning) */
	GQ_ADM_EXEMPT,	     /* allowed: exempt tier */
	GQ_ADM_DENY_CLASS,   /* denied: not one of the team's classes */
	GQ_ADM_DENY_CAP,     /* denied: over the per-pod GPU cap */
	GQ_ADM_DENY_BUDGET,  /* denied: budget (policy Deny) */
	GQ_ADM_HOLD,	     /* allowed with the budget scheduling gate */
	GQ_ADM_DEPRIORITIZE, /* allowed in the over-budget class */
	GQ_ADM_DENY_REFUSED, /* denied: a GPU pod the decoder refused (gq_admission_refuse) */
	GQ_ADM_DENY_POOL,    /* denied: tolerates another team's pool taint */
};

/* The decision, ready for gq_admission_encode. Owns its strings
 * (gq_adm_response_free). */
struct gq_adm_response {
	bool allowed;
	int code;      /* status.code when denied (403), else 0 */
	char *reason;  /* status.reason when denied ("Forbidden"), else NULL */
	char *message; /* status.message when denied, else NULL */
	char *patch;   /* JSON Patch array text; NULL = no patch (always NULL when denied) */
	char **warnings;
	size_t n_warnings;
	enum gq_adm_action action;
};

/*
 * Decodes an AdmissionReview body (len bytes, need not be NUL-terminated)
 * into *out, in one streaming pass (yajl's callback parser; no JSON tree is
 * built). Accepts only apiVersion admission.k8s.io/v1, kind
 * AdmissionReview, with a request carrying a uid. For a Pod CREATE it also
 * reads the pod (request.object) and computes its effective nvidia.com/...
 * requests per resource: max(sum over containers and sidecar init
 * containers, largest init container plus the sidecars started before it),
 * as the scheduler does; a container resource with no request uses its
 * limit. Returns GQ_OK; GQ_ETOOBIG (len > GQ_ADMISSION_MAX_BODY); GQ_EPARSE
 * (not JSON, nested deeper than GQ_ADMISSION_MAX_DEPTH); GQ_EINVAL (wrong
 * version or kind, missing uid, ill-typed fields, a GQ_ADMISSION_MAX_* bound
 * passed); GQ_ERANGE (request sums overflow). err->msg says why. On success
 * the caller owns *out (gq_adm_request_free).
 *
 * On error *out is zeroed, except when the review got past its uid (a valid
 * AdmissionReview v1 with a request.uid) and is a Pod CREATE whose pod
 * carries GPU resources: some element of spec.containers or
 * spec.initContainers has, in resources.requests or resources.limits, a
 * nvidia.com/... member whose value is not null (the whole body is scanned
 * for that, however far past a bound; the last of a repeated key counts, as
 * everywhere). Then out->refused_gpu_pod is true and out->uid holds the uid;
 * the caller frees *out (gq_adm_request_free, safe in every case) and answers
 * with gq_admission_refuse.
 */
int gq_admission_decode(struct gq_adm_request *out, const char *body, size_t len,
			struct gq_err *err);

/* Releases everything *r owns and zeroes it. Safe on a zeroed struct. */
void gq_adm_request_free(struct gq_adm_request *r);

/* Effective request of one resource (0 when the pod does not ask for it). */
int64_t gq_adm_request_count(const struct gq_adm_request *r, const char *resource);

/* Whether the pod asks for any nvidia.com/... resource. */
bool gq_adm_request_is_gpu_pod(const struct gq_adm_request *r);

/*
 * The weight of the pod in req with the team's weights (borrowed; NULL:
 * none), by the cost model with one replica (the pod has no node yet): the
 * same fraction as the ledger's gq_acct_pod_weight for the same pod on a
 * node without time-slicing. Its expected cost is
 * gq_cost_expected_micro(w, activeDeadlineSeconds). Pure. Returns the codes
 * of gq_cost_effective_weight.
 */
int gq_adm_pod_weight(struct gq_cost_weight *w, const struct gq_adm_request *req,
		      const struct gq_res_list *weights);

/*
 * Decides on req against team (NULL when the namespace belongs to no team)
 * by the rules at the top of this file and fills *out, which the caller owns
 * afterwards (gq_adm_response_free). Patches never repeat a path. Returns
 * GQ_OK, or GQ_EINVAL when out or req is NULL.
 */
int gq_admission_decide(struct gq_adm_response *out, const struct gq_adm_request *req,
			const struct gq_adm_team *team);

/*
 * Fills *out (caller owns afterwards, gq_adm_response_free) with the answer
 * to a GPU pod review the decoder refused (refused_gpu_pod): a 403 denial,
 * action GQ_ADM_DENY_REFUSED, whose message gives why (the decoder's
 * err->msg, naming the bound) and says that such pods are refused.
 */
void gq_admission_refuse(struct gq_adm_response *out, const char *why);

/* Releases everything *r owns and zeroes it. Safe on a zeroed struct. */
void gq_adm_response_free(struct gq_adm_response *r);

/* Name of an action, e.g. "deny-budget" (for logs and metric labels). */
const char *gq_admission_action_name(enum gq_adm_action a);

/*
 * Encodes the full AdmissionReview response for resp, echoing uid:
 * {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":
 * {"uid","allowed","status"?,"patchType"?,"patch"?,"warnings"?}}. The patch
 * is sent base64-encoded with patchType JSONPatch, and only when allowed.
 * Returns a new heap string (caller frees), or NULL when uid or a message is
 * not valid UTF-8.
 */
char *gq_admission_encode(const struct gq_adm_response *resp, const char *uid);

#endif
