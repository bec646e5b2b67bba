/*
 * sharing.h - spec.sharing applied to the team's node pool, the pure part:
 * which pool nodes to label, cordon, drain, evict and uncordon, and what to
 * report, decided from an observation of the nodes alone.
 *
 * Per node, the reconfiguration of its MIG layout is a state machine whose
 * state lives on the node itself (so a restart or a new leader goes on
 * where the last one stopped), in annotations only gpuquota writes:
 *
 *   idle ──(layout differs, a slot free)──> draining   cordon, since=now
 *   draining ──(no GPU pod left)──────────> pending    label mig.config,
 *                                                      drop mig.config.state
 *   draining ──(drainTimeout, evict)──────> (evict the GPU pods; 429 retried)
 *   pending ──(state success)─────────────> idle       uncordon
 *   pending ──(state failed)──────────────> failed     stays cordoned
 *   pending ──(pendingTimeout)────────────> reapply    label removed, then
 *   reapply ──────────────────────────────> pending    set again (3 tries)
 *   failed ──(layout changed in spec)─────> draining
 *
 * At most maxUnavailable nodes of the pool are out of idle at once. A node
 * gpuquota did not cordon is never uncordoned by it; a node selected by two
 * allocations, or whose GPUs DRA publishes, is never written.
 *
 * Nothing here does I/O or reads a clock. Ownership: struct
 * gq_share_node's strings are owned by whoever fills it
 * (gq_share_node_free); a struct gq_share_plan owns its patches and
 * messages and borrows names from its input (gq_share_plan_free).
 */
#ifndef GQ_SHARING_H
#define GQ_SHARING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_tree.h>

#include "spec.h"

#define GQ_LABEL_POOL		 "gpuquota.io/pool"
#define GQ_TAINT_POOL		 "gpuquota.io/pool" /* value: the team; effect NoSchedule */
#define GQ_LABEL_NS_MIG_CONFIG	 "gpuquota.io/mig-config"
#define GQ_ANN_SHARE_STEP	 "gpuquota.io/sharing-step"
#define GQ_ANN_SHARE_SINCE	 "gpuquota.io/sharing-since"
#define GQ_ANN_SHARE_CORDONED	 "gpuquota.io/sharing-cordoned"
#define GQ_ANN_SHARE_ATTEMPTS	 "gpuquota.io/sharing-attempts"
#define GQ_ANN_SHARE_DP		 "gpuquota.io/sharing-device-plugin"
#define GQ_LABEL_MIG_CONFIG	 "nvidia.com/mig.config"
#define GQ_LABEL_MIG_STATE	 "nvidia.com/mig.config.state"
#define GQ_LABEL_DP_CONFIG	 "nvidia.com/device-plugin.config"
#define GQ_DRA_DRIVER_GPU	 "gpu.nvidia.com" /* NVIDIA's DRA driver for GPUs */
#define GQ_SHARE_MAX_STATUS_NODES 256
#define GQ_SHARE_MAX_ATTEMPTS	 3

/* One taint of a node (every string owned; NULL: absent). */
struct gq_share_taint {
	char *key, *value, *effect, *time_added;
};

/* One node as observed (every string owned). */
struct gq_share_node {
	char *name;
	struct gq_label_list labels;
	char *step;	    /* GQ_ANN_SHARE_STEP, or NULL (idle) */
	int64_t since_ms;   /* GQ_ANN_SHARE_SINCE (0: absent or unreadable) */
	bool we_cordoned;   /* GQ_ANN_SHARE_CORDONED */
	bool dp_ours;	    /* GQ_ANN_SHARE_DP: we set the device plugin label */
	int attempts;	    /* GQ_ANN_SHARE_ATTEMPTS */
	bool unschedulable; /* spec.unschedulable */
	struct gq_share_taint *taints; /* spec.taints, in order */
	size_t n_taints;
	char *resource_version; /* metadata.resourceVersion: a patch of spec.taints
				 * carries it, so that a concurrent change of the
				 * list fails (409) rather than being lost */
	bool dra;	    /* a ResourceSlice publishes its GPUs */
	char **gpu_pods;    /* keys of the GPU pods on it that have not ended */
	size_t n_gpu_pods;
	char **mig_profiles; /* MIG profiles its allocatable offers ("1g.10gb") */
	size_t n_mig_profiles;
	bool whole_gpus; /* its allocatable offers nvidia.com/gpu */
};

void gq_share_node_free(struct gq_share_node *n);

/* Frees n's taints and leaves it with none. */
void gq_share_taints_free(struct gq_share_node *n);

/* The value of label key of n, or NULL. Borrowed. */
const char *gq_share_label(const struct gq_share_node *n, const char *key);

/* The value of node n's pool taint (GQ_TAINT_POOL, effect NoSchedule), or
 * NULL. Borrowed. */
const char *gq_share_pool_taint(const struct gq_share_node *n);

/* The node whose GPUs ResourceSlice slice publishes (spec.nodeName, when
 * spec.driver is GQ_DRA_DRIVER_GPU), or NULL. Borrowed from slice. */
const char *gq_share_slice_node(yajl_val slice);

/* Whether the pods on node n must be read for the plan: it is draining. */
bool gq_share_needs_pods(const struct gq_share_node *n);

enum gq_share_phase {
	GQ_SHARE_READY,
	GQ_SHARE_QUEUED,
	GQ_SHARE_DRAINING,
	GQ_SHARE_EVICTING,
	GQ_SHARE_APPLYING,
	GQ_SHARE_FAILED,
	GQ_SHARE_CONFLICT,
	GQ_SHARE_UNMANAGED,
};

const char *gq_share_phase_name(enum gq_share_phase p);

struct gq_share_in {
	const char *team;
	const struct gq_sharing *spec; /* the team's; NULL or !present: none
					* (every node of its pool is released) */
	const struct gq_res_list *mig_slices; /* the team's quota.migSlices, or NULL */
	const struct gq_team *teams; /* every allocation, for conflicts */
	size_t n_teams;
	const struct gq_share_node *nodes; /* sorted by name: every node */
	size_t n_nodes;
	int64_t now_ms;
	int64_t pending_timeout_ms;
};

/* One pool node's line in status.nodes. Strings borrowed but message. */
struct gq_share_status {
	const char *name;
	const char *desired;
	const char *observed;
	const char *state;
	enum gq_share_phase phase;
	char *message;
	bool dra;
};

/* A merge patch of a node, and the Event it is worth once written. */
struct gq_share_patch {
	char *node;
	yajl_val body;
	char *reason;  /* NULL: no Event */
	char *message; /* Event message and log line */
	bool warning;
};

struct gq_share_plan {
	struct gq_share_status *nodes; /* the pool, by name */
	size_t n_nodes;
	struct gq_share_patch *patches;
	size_t n_patches;
	char **evict; /* pod keys to evict (owned) */
	size_t n_evict;
	bool active;	    /* the team has sharing */
	bool ready;	    /* SharingReady */
	const char *reason; /* its reason */
	char *message;	    /* its message */
	bool conflict;	    /* a pool node is selected by another allocation */
	char *conflict_msg; /* ... which, or NULL */
	char *degraded_msg; /* a granted MIG profile the settled pool does not
			     * offer, or NULL */
	bool whole_gpus;    /* a pool node settled at the layout (Ready) offers
			     * whole GPUs */
	int64_t requeue_ms; /* > 0: a change is under way */
};

/* Plans *out (zeroed first) from in alone; never fails. The caller frees it
 * with gq_share_plan_free. */
void gq_share_plan(struct gq_share_plan *out, const struct gq_share_in *in);

void gq_share_plan_free(struct gq_share_plan *p);

/* Whether node n (its labels) is in the pool of sharing s. */
bool gq_share_selects(const struct gq_sharing *s, const struct gq_share_node *n);

#endif
