/*
 * pass.h - one team's pass, the pure part: observation -> plan -> status.
 *
 *   observe (reconcile.c)  copies what the pass reads out of the caches and
 *                          the registry, once: struct gq_obs;
 *   gq_pass_plan           decides, from the observation alone: the writes
 *                          that converge the cluster (applies, patches,
 *                          deletes, pod finalizers and gates), the
 *                          admission view and the new ledger;
 *   execute (reconcile.c)  carries the writes out, the only code that talks
 *                          to the apiserver, and reports their outcome;
 *   gq_pass_status         turns the plan and that outcome into the status
 *                          document, whether it must be written, the
 *                          Events of the conditions that changed, the
 *                          writes due once the ledger in it is durable,
 *                          and the figures for the metrics.
 *
 * Nothing here does I/O, takes a lock or reads a clock: the observation
 * carries the times. Ownership: a struct gq_obs owns everything in it
 * (gq_obs_free); a struct gq_pass owns its writes and decisions and
 * borrows from the observation it was planned from, which must outlive it
 * (gq_pass_free); a struct gq_pass_status likewise (gq_pass_status_free).
 */
#ifndef GQ_PASS_H
#define GQ_PASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_tree.h>

#include "accounting.h"
#include "admission.h"
#include "registry.h"
#include "conditions.h"
#include "desired.h"
#include "gq.h"
#include "plan.h"
#include "rfc3339.h"
#include "sharing.h"
#include "spec.h"

/* One namespace as observed. */
struct gq_obs_ns {
	char *name;
	struct gq_label_list labels;
	bool terminating;
};

/* Kinds of the cached objects a pass compares against. */
enum gq_obs_kind { GQ_OBS_NAMESPACE, GQ_OBS_QUOTA, GQ_OBS_LIMIT, GQ_OBS_CLASS };

/* One cached object (a copy): its informer key ("ns/name" or "name"). */
struct gq_obs_obj {
	enum gq_obs_kind kind;
	char *key;
	yajl_val obj;
};

/* Everything one pass reads, copied once. */
struct gq_obs {
	char *name;	       /* the allocation */
	struct gq_team *teams; /* every decodable allocation */
	size_t n_teams;
	struct gq_team *self;  /* points into teams; NULL: absent or undecodable */
	bool exists;	       /* in the cache at all */
	char *self_error;      /* why it cannot be decoded, or NULL */
	bool raw_deleting;     /* an undecodable one: being deleted ... */
	char **raw_finalizers; /* ... and its finalizers */
	size_t n_raw_finalizers;
	yajl_val prev_status; /* its status as cached, or NULL */
	struct gq_obs_ns *ns; /* every namespace */
	size_t n_ns;
	char **gpu_res; /* nvidia.com/ resources nodes offer, sorted */
	size_t n_gpu_res;
	struct gq_obs_obj *objs; /* the team's namespaces; quotas, limit ranges
				  * and classes labelled for it, and classes
				  * named "<team>-..." */
	size_t n_objs;
	bool has_acct_obs; /* acct is filled (a budget, a pod cache) */
	struct gq_acct_obs acct;
	char now[32];	     /* the wall clock, RFC 3339 whole seconds */
	bool lead;	     /* this replica may write */
	int64_t acct_now_ms; /* accounting's now: what the pod cache is
			      * complete for, whole seconds */
	int64_t write_interval_ms;
	int64_t now_ms;			  /* the wall clock, ms */
	struct gq_share_node *share_nodes; /* nodes selected by the team's sharing
					    * or labelled for its pool, by name */
	size_t n_share_nodes;
	int64_t share_pending_timeout_ms; /* a stuck mig.config.state pending */
};

/* Frees what *o owns and zeroes it. */
void gq_obs_free(struct gq_obs *o);

/* The cached copy of the object of kind with informer key key, or NULL.
 * Borrowed from o. */
yajl_val gq_obs_get(const struct gq_obs *o, enum gq_obs_kind kind, const char *key);

enum gq_write_kind {
	GQ_WRITE_APPLY,	     /* server-side apply body to path */
	GQ_WRITE_MERGE,	     /* merge patch (never creates); a 404 is no error */
	GQ_WRITE_JSON_PATCH, /* JSON patch; a 404 is no error */
	GQ_WRITE_DELETE,     /* delete; a 404 counts as deleted */
	GQ_WRITE_RECREATE,   /* delete, then apply body once the delete succeeded */
	GQ_WRITE_EVICT,	     /* POST an Eviction; a 404 is no error, a 429 (a
			      * PodDisruptionBudget) is retried by a later pass */
};

/* One write of a plan. */
struct gq_write {
	enum gq_write_kind kind;
	char *path;    /* owned */
	yajl_val body; /* owned tree; NULL for a delete */
	bool after_ok; /* only when every earlier write of the plan succeeded */
	char *note;    /* logged once it succeeded, or NULL; owned */
	char *event_reason; /* an Event of the allocation once it succeeded
			     * (message: note), or NULL; owned */
	bool event_warning;
};

/* An Event to post about the allocation. Strings owned. */
struct gq_pass_event {
	bool warning;
	char *reason;
	char *message;
};

/* What admission decides from (gq_registry_set_admission), owned by the
 * pass: adm's strings point into the arrays below, the team and the
 * observation. */
struct gq_pass_adm {
	const char **ns; /* READY and PENDING namespaces */
	size_t n_ns;
	struct gq_adm_team team;
	char **tiers;
	char **exempt;
	char *over;
	char *dflt;
	char reset[GQ_RFC3339_STRLEN];
};

struct gq_pass {
	bool early;   /* an early pass (invalid, gone, deleting): the writes
		       * are all; no status step */
	bool forget;  /* forget the allocation in the registry */
	bool publish; /* adm is set: publish it */
	struct gq_pass_adm adm;
	struct gq_write *writes;
	size_t n_writes;
	/* The decisions the status step reads. */
	struct gq_plan plan;	   /* the team's namespaces */
	struct gq_ns_info *infos;  /* plan input */
	struct gq_ns_usage *usage; /* quota usage of the READY namespaces */
	size_t n_usage;
	struct gq_status_ns *sns;   /* per-namespace quota readback (plan.n) */
	yajl_val *rq;		    /* the managed quotas as cached (plan.n; borrowed) */
	struct gq_acct_result acct; /* the ledger pass */
	bool has_acct;
	struct gq_res_list totals;
	struct gq_desired_list dl;
	char **class_conflicts; /* classes we do not manage, left alone */
	size_t n_class_conflicts;
	struct gq_share_plan share; /* the node pool (spec.sharing) */
};

/*
 * Plans the pass of o->name from o alone into *p (zeroed first; freed with
 * gq_pass_free whatever the result; borrows from o). A follower's plan
 * (o->lead false) has no writes. Returns GQ_OK, or the error of the
 * accounting, the quota totals or the desired objects (err set): the pass
 * is then retried.
 */
int gq_pass_plan(struct gq_pass *p, const struct gq_obs *o, struct gq_err *err);

void gq_pass_free(struct gq_pass *p);

/* How the writes of a plan went. */
struct gq_pass_outcome {
	int writes;
	int errors;
	const char *first_error; /* "" when none; borrowed */
};

/* The status step's decisions. Owned (gq_pass_status_free). */
struct gq_pass_status {
	yajl_val doc;		      /* the status apply body; NULL: a message is not
				       * valid UTF-8 (nothing can be written) */
	bool write;		      /* it differs from the cached status */
	struct gq_pass_event *events; /* to post when it is written */
	size_t n_events;
	struct gq_write *after; /* once the ledger in it is durable: ended
				 * pods' finalizers */
	size_t n_after;
	struct gq_cond_set cs;
	struct gq_registry_figures figures; /* for the metrics; accounted_micro
					     * counts only once persisted */
	struct gq_registry_res *res;	    /* figures.res storage */
	int64_t requeue_ms;		    /* > 0: the next pass in this long */
};

/*
 * The status step of plan p (not early) after its writes went as oc: the
 * conditions, the status document at o->now (for new transitions), whether it differs from
 * o->prev_status (then, when it does and the accounting did not mean to persist, the live ledger
 * goes in: a status written for another reason is never behind), the Events of the conditions that
 * changed, the pod finalizer removals due once it is persisted, the figures and when to pass again
 * (ledger_interval_ms: how often a team with a budget is accounted). Changes p's namespace states
 * (READY to PENDING where the quota controller has not enforced the quota
 * yet) and its accounting's persist decision. *out is zeroed first.
 */
void gq_pass_status(struct gq_pass_status *out, struct gq_pass *p, const struct gq_obs *o,
		    const struct gq_pass_outcome *oc, int64_t ledger_interval_ms);

void gq_pass_status_free(struct gq_pass_status *s);

/*
 * The writes freeing pod key, in a namespace of no team with a budget, from
 * our accounting finalizer (at index finalizer) and the budget gate (at
 * index gate; -1: absent), appended to (*w, *n), which the caller frees
 * with gq_writes_free.
 */
void gq_pass_plan_orphan(struct gq_write **w, size_t *n, const char *key, long finalizer,
			 long gate);

/* Frees n writes and the array. */
void gq_writes_free(struct gq_write *w, size_t n);

#endif
