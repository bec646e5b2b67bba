/*
 * spec.h - the GPUTeamAllocation (gpuquota.io/v1alpha1) as plain C structs,
 * decoded from its JSON form and checked semantically. Pure: no I/O.
 *
 * Ownership: a struct gq_team owns every string and array it points to;
 * gq_team_free releases them all.
 */
#ifndef GQ_SPEC_H
#define GQ_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_tree.h>

#include "api.h"
#include "gq.h"
#include "quantity.h"

/* A name -> quantity pair (resource lists, MIG slice counts, weights). */
struct gq_res {
	char *name;
	struct gq_quantity q;
};

struct gq_res_list {
	struct gq_res *items;
	size_t n;
};

/* A label key/value. */
struct gq_label {
	char *key;
	char *value;
};

struct gq_label_list {
	struct gq_label *items;
	size_t n;
};

enum gq_sel_op { GQ_SEL_IN, GQ_SEL_NOT_IN, GQ_SEL_EXISTS, GQ_SEL_DOES_NOT_EXIST };

struct gq_sel_req {
	char *key;
	enum gq_sel_op op;
	char **values;
	size_t n_values;
};

/* metav1.LabelSelector. present=false means "no selector given". An
 * empty-but-present selector matches everything (Kubernetes semantics). */
struct gq_selector {
	bool present;
	struct gq_label_list match_labels;
	struct gq_sel_req *exprs;
	size_t n_exprs;
};

struct gq_tier {
	char *name;
	int32_t value;
	char *preemption_policy; /* "PreemptLowerPriority" | "Never"; NULL = unset */
};

enum gq_period_kind {
	GQ_PERIOD_MONTHLY,
	GQ_PERIOD_WEEKLY,
	GQ_PERIOD_DAILY,
	GQ_PERIOD_DURATION, /* fixed length, anchored at the allocation's creation */
};

enum gq_on_exhausted { GQ_EXHAUSTED_DENY, GQ_EXHAUSTED_HOLD, GQ_EXHAUSTED_DEPRIORITIZE };

struct gq_budget {
	bool present;
	struct gq_quantity gpu_hours; /* >= 0 */
	enum gq_period_kind period;
	int64_t period_seconds; /* GQ_PERIOD_DURATION only */
	enum gq_on_exhausted on_exhausted;
	int warn_at_percent; /* 0..100; 0 = no warning */
	char **exempt_tiers;
	size_t n_exempt_tiers;
	struct gq_res_list weights; /* resource name -> GPU-equivalents */
};

struct gq_sharing {
	bool present;
	struct gq_selector node_selector;
	char *mig_config;	    /* NULL = unset */
	char *device_plugin_config; /* NULL = unset; "" = remove our label */
	int64_t drain_timeout_ms;   /* drainTimeout (default 10m) */
	bool evict;		    /* evict GPU pods after drainTimeout */
	int max_unavailable;	    /* nodes reconfiguring at once (default 1) */
};

struct gq_team {
	/* metadata */
	char *name;
	char *uid;
	int64_t generation;
	char *creation_timestamp; /* RFC 3339, may be NULL */
	bool deleting;		  /* metadata.deletionTimestamp set */
	char **finalizers;
	size_t n_finalizers;

	/* spec.namespaces / spec.namespaceSelector */
	char **namespaces;
	size_t n_namespaces;
	struct gq_selector namespace_selector;

	/* spec.quota */
	bool has_gpus;
	int64_t gpus;		       /* nvidia.com/gpu */
	struct gq_res_list mig_slices; /* profile ("1g.10gb") -> count */
	struct gq_res_list resources;  /* pass-through ResourceQuota hard entries */

	/* spec.limits */
	int64_t max_gpus_per_pod; /* 0 = unlimited */
	struct gq_res_list container_default_request;
	struct gq_res_list container_default;

	/* spec.priorities */
	struct gq_tier *tiers;
	size_t n_tiers;
	char *default_tier; /* NULL = unset */

	struct gq_budget budget;
	struct gq_sharing sharing;
};

/*
 * Decodes a GPUTeamAllocation JSON object (as returned by the apiserver, or
 * converted from YAML) into *out, then validates it semantically (the same
 * rules as the CRD schema and its CEL rules, so offline `validate` and the
 * apiserver agree). On error returns GQ_EINVAL or GQ_EPARSE with err->msg
 * naming the field path, e.g. "spec.priorities.defaultTier: \"x\" is not one
 * of the tiers". *out is only filled on success; the caller owns it and
 * releases it with gq_team_free.
 */
int gq_team_decode(struct gq_team *out, yajl_val obj, struct gq_err *err);

/* Releases everything *t owns; *t is zeroed. Safe on a zeroed struct. */
void gq_team_free(struct gq_team *t);

/* Whether a label set matches the selector (metav1.LabelSelector rules).
 * Both are borrowed and may be NULL: an absent selector (NULL or !present)
 * matches nothing, a present empty one everything. */
bool gq_selector_matches(const struct gq_selector *sel, const struct gq_label_list *labels);

/* The tier of t named `name` (borrowed from t), or NULL when it is not one
 * of the team's tiers. */
const struct gq_tier *gq_team_tier(const struct gq_team *t, const char *name);

/* Name of the PriorityClass for a tier: "<team>-<tier>" (caller frees). */
char *gq_team_priority_class_name(const struct gq_team *t, const char *tier);

/* Frees the names of a resource list and the array; *l is zeroed.
 * (Declared here because gq_team_free needs it; desired.h re-declares it.) */
void gq_res_list_free(struct gq_res_list *l);

/* Sets *dst to a deep copy of src (NULL: empty); dst's old content is not
 * freed. The caller owns the copy (gq_res_list_free). */
void gq_res_list_copy(struct gq_res_list *dst, const struct gq_res_list *src);

/* The entry named `name` in l (not NULL), or NULL. Borrowed from l. */
const struct gq_res *gq_res_list_find(const struct gq_res_list *l, const char *name);

/* Limits enforced by gq_team_decode. */
#define GQ_MAX_NAMESPACES 256
#define GQ_MAX_TIERS	  16
#define GQ_MAX_TIER_VALUE 1000000000

#endif
