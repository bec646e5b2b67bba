/*
 * accounting.h - the budget part of a team pass: from the team's observed
 * pods (compact, pod.h), the nodes they run on and the ledger the registry
 * holds, advances the GPU-hour ledger and says which pods need the
 * accounting finalizer added or removed and which held pods may go.
 * gq_acct_observe copies that observation out of the caches once;
 * gq_acct_compute is pure over it.
 */
#ifndef GQ_ACCOUNTING_H
#define GQ_ACCOUNTING_H

#include <stdbool.h>
#include <stdint.h>

#include <yajl/yajl_tree.h>

#include "registry.h"
#include "cost.h"
#include "gq.h"
#include "informer.h"
#include "ledger.h"
#include "pod.h"
#include "spec.h"

/* The fields the node cache keeps (informer keep paths): what accounting
 * and reconcile read. NULL-terminated. The pod cache keeps gq_pod_fields
 * (pod.h). */
extern const char *const gq_accounting_node_fields[];

/* A pod to act on: "ns/name" and, for finalizer removal, the index of our
 * finalizer in metadata.finalizers (for a JSON-patch test). */
struct gq_acct_pod {
	char *key;     /* owned by the result */
	size_t index;  /* finalizer / gate position (finalize, release) */
	bool has_list; /* metadata.finalizers exists (add) */
};

/* What gq_acct_run found and decided. Owned by its caller: the arrays, their
 * keys and the charged records are released by gq_acct_result_free. */
struct gq_acct_result {
	struct gq_ledger ledger; /* advanced to now */
	int64_t budget_micro;
	bool exhausted;
	bool warn;
	bool persist;			/* the status must carry this ledger now */
	int64_t persist_until_ms;	/* accountedUntil to write */
	struct gq_ledger status_ledger; /* what the status carries: ledger when
					 * persist, else the one last persisted */
	int64_t retry_after_ms;		/* > 0: ended pods' release put off this long */
	int64_t running_gpu_pods;
	int64_t held_gpu_pods;		/* waiting on the budget gate */
	int64_t deprioritized_gpu_pods; /* not ended, in the over-budget class */
	int64_t accounted_micro;	/* what this run accounted (gq_ledger_accounted_since) */
	struct gq_acct_pod *finalize;	/* remove our finalizer once persisted */
	size_t n_finalize;
	struct gq_acct_pod *add; /* add our finalizer */
	size_t n_add;
	struct gq_acct_pod *release; /* remove the budget gate (oldest first) */
	size_t n_release;
	struct gq_charged_pod *charged; /* what the ledger now charges each pod for */
	size_t n_charged;
	bool recharged; /* a pod's start or end moved and was re-charged */
};

/* Frees everything *r owns (the finalize, add and release arrays with their
 * keys, the charged records) and zeroes it; safe on a zeroed result. The
 * struct itself is the caller's. */
void gq_acct_result_free(struct gq_acct_result *r);

/* A node's time-slicing replicas, as observed. */
struct gq_acct_node {
	char *name;	  /* owned by the observation */
	int64_t replicas; /* nvidia.com/gpu.replicas in 2..1024, else 1 */
};

/* What the leader's registry holds for an allocation (same uid), copied. */
struct gq_acct_prior {
	bool have;		     /* a ledger is held: ledger and persisted are set */
	struct gq_ledger ledger;     /* the live ledger */
	int64_t persisted;	     /* accountedUntil last written; -1: nothing yet */
	bool have_recs;		     /* recs are what the ledger charged each pod for */
	struct gq_charged_pod *recs; /* sorted by uid; owned by the observation */
	size_t n_recs;
	bool have_last; /* last is the ledger last persisted */
	struct gq_ledger last;
};

/* The accounting observation of one team, copied once from the caches and
 * the registry (gq_acct_observe); freed by gq_acct_obs_free. */
struct gq_acct_obs {
	struct gq_pod *pods; /* GPU pods of the accounted namespaces */
	size_t n_pods;
	struct gq_acct_node *nodes; /* the nodes they run on, sorted by name */
	size_t n_nodes;
	struct gq_acct_prior prior; /* have false without a registry */
};

/* The input of gq_acct_compute; everything borrowed. */
struct gq_acct_in {
	const struct gq_team *t;   /* has a budget */
	const struct gq_pod *pods; /* non-GPU pods are skipped */
	size_t n_pods;
	const struct gq_acct_node *nodes; /* sorted by name; a node not here: 1 replica */
	size_t n_nodes;
	const struct gq_acct_prior *prior; /* NULL or have false: none */
	yajl_val prev_status;		   /* the allocation's status, may be NULL */
	int64_t now_ms;
	int64_t write_interval_ms;
};

/*
 * Fills *o (zeroed first; the caller frees it with gq_acct_obs_free) with
 * the GPU pods of namespaces (n_ns names) from the pods cache (its
 * namespace index, under its read lock), the replicas of the nodes they
 * run on (nodes read lock; nodes may be NULL), and what reg (may be NULL:
 * a follower) holds for team t. Takes and releases each lock itself: the
 * caller holds none. Everything passed is borrowed.
 */
void gq_acct_observe(struct gq_acct_obs *o, struct gq_registry *reg, struct gq_informer *pods,
		     struct gq_informer *nodes, const struct gq_team *t,
		     const char *const *namespaces, size_t n_ns);

/* Frees what *o owns and zeroes it; safe on a zeroed observation. */
void gq_acct_obs_free(struct gq_acct_obs *o);

/* Fills *p (zeroed first) with what reg (may be NULL) holds for team t:
 * the live ledger, the charge records (the caller frees p->recs with
 * gq_charged_free) and the ledger last persisted. Locks reg itself. */
void gq_acct_prior_load(struct gq_acct_prior *p, struct gq_registry *reg, const struct gq_team *t);

/*
 * A quiet pass (no event for the team since its last full pass, which
 * found nothing to do): the ledger p->ledger advanced to now_ms over the
 * pods it charged (p->recs), into *out, when that is all a full pass would
 * do -- every charged pod running, no rollover, no threshold (exhausted,
 * warning) crossed against the ledger last persisted, and no usage write
 * due (write_interval_ms since p->persisted). Pure; borrows t and p.
 * Returns whether *out was set; false: a full pass is needed.
 */
bool gq_acct_quiet(struct gq_ledger *out, const struct gq_team *t, const struct gq_acct_prior *p,
		   int64_t now_ms, int64_t write_interval_ms);

/*
 * The accounting of team in->t at in->now_ms over its observed pods. Pure:
 * reads only *in, writes only *out. The ledger is in->prior's (the
 * registry's) or else in->prev_status.usage's, or starts at the
 * allocation's creation.
 *
 * With the prior ledger come the records of what it charged each pod for
 * (by uid): a pod whose start or end now differs (a stored time rewritten,
 * a pod first seen started after its start was accounted) is re-charged by
 * the difference (gq_ledger_recharge) before the ledger advances. A pod
 * without a record (a ledger read back from status) is taken as charged for
 * what it shows now. out->charged holds the new records, to store with the
 * ledger once persisted.
 *
 * The status is written only when it matters (out->persist): a new ledger,
 * a rollover, a re-charge, a threshold crossed, ended pods to release (at
 * most once a second), and otherwise when the usage moved, at most once
 * per write_interval_ms (<= 0: every time it moves). In between it keeps
 * the ledger last persisted (out->status_ledger), exact up to its own
 * accountedUntil; out->ledger is the live one the webhook and metrics use.
 *
 * *out is zeroed first and owned by the caller, who frees it with
 * gq_acct_result_free after every call, failed ones included (its keys are
 * copies: it outlives *in). Returns GQ_OK, GQ_ERANGE (budget.gpuHours out
 * of range) or the error of the ledger (gq_ledger_init, gq_ledger_recharge,
 * gq_ledger_advance), with err set.
 */
int gq_acct_compute(struct gq_acct_result *out, const struct gq_acct_in *in, struct gq_err *err);

/*
 * gq_acct_observe then gq_acct_compute: the accounting of team t over
 * namespaces from the caches and reg (NULL: from the status, a follower's
 * read-only pass), at now_ms. Ownership and codes as those two.
 */
int gq_acct_run(struct gq_acct_result *out, struct gq_registry *reg, struct gq_informer *pods,
		struct gq_informer *nodes, const struct gq_team *t, const char *const *namespaces,
		size_t n_ns, yajl_val prev_status, int64_t now_ms, int64_t write_interval_ms,
		struct gq_err *err);

/*
 * Reads a ledger from an allocation's status (usage + history) into *l,
 * zeroed first; status is borrowed and may be NULL (reads as absent). At
 * most GQ_LEDGER_HISTORY history records are read. Returns GQ_OK,
 * GQ_ENOTFOUND (no usage.usedMicroGPUSeconds), or GQ_EINVAL (periodStart,
 * periodEnd or accountedUntil missing or unreadable, or gq_ledger_check
 * fails).
 */
int gq_acct_ledger_from_status(struct gq_ledger *l, yajl_val status);

#endif
