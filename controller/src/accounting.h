/*
 * accounting.h - the budget part of a team reconcile: reads the team's pods
 * from the cache, advances the GPU-hour ledger, and says which pods need
 * the accounting finalizer added or removed and which held pods may go.
 */
#ifndef GQ_ACCOUNTING_H
#define GQ_ACCOUNTING_H

#include <stdbool.h>
#include <stdint.h>

#include <yajl/yajl_tree.h>

#include "budget.h"
#include "cost.h"
#include "gq.h"
#include "informer.h"
#include "ledger.h"
#include "spec.h"

/* The fields the pod and node caches keep (informer keep paths): what
 * accounting and reconcile read. NULL-terminated. */
extern const char *const gq_accounting_pod_fields[];
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

/*
 * Runs the accounting of team t (which has a budget) over its managed
 * namespaces at now_ms. The ledger comes from the registry (same allocation
 * uid) or else from prev_status.usage, or starts at the allocation's
 * creation; reg NULL takes it from the status (a follower's read-only
 * pass). Reads reg, never writes it. Pure apart from reading the caches
 * and the registry.
 *
 * With the ledger from the registry come the records of what it charged
 * each pod for (by uid): a pod whose start or end now differs (a stored
 * time rewritten, a pod first seen started after its start was accounted)
 * is re-charged by the difference (gq_ledger_recharge) before the ledger
 * advances. A pod without a record (a ledger read back from status) is
 * taken as charged for what it shows now. out->charged holds the new
 * records, to store with the ledger once persisted.
 *
 * The status is written only when it matters (out->persist): a new ledger,
 * a rollover, a re-charge, a threshold crossed, ended pods to release (at
 * most once a second), and otherwise when the usage moved, at most once
 * per write_interval_ms (<= 0: every time it moves). In between it keeps
 * the ledger last persisted (out->status_ledger), exact up to its own
 * accountedUntil; out->ledger is the live one the webhook and metrics use.
 *
 * Ownership and threads: *out is zeroed first and owned by the caller, who
 * frees it with gq_acct_result_free after every call, failed ones included.
 * t, namespaces (n_ns names) and prev_status (may be NULL) are borrowed for
 * the call. It takes the read locks of pods and nodes itself, so the caller
 * must hold neither; reg is locked by its own functions. Returns GQ_OK,
 * GQ_ERANGE (budget.gpuHours out of range) or the error of the ledger
 * (gq_ledger_init, gq_ledger_recharge, gq_ledger_advance), with err set.
 */
int gq_acct_run(struct gq_acct_result *out, struct gq_budget_registry *reg,
		struct gq_informer *pods, struct gq_informer *nodes, const struct gq_team *t,
		const char *const *namespaces, size_t n_ns, yajl_val prev_status, int64_t now_ms,
		int64_t write_interval_ms, struct gq_err *err);

/*
 * Reads a ledger from an allocation's status (usage + history) into *l,
 * zeroed first; status is borrowed and may be NULL (reads as absent). At
 * most GQ_LEDGER_HISTORY history records are read. Returns GQ_OK,
 * GQ_ENOTFOUND (no usage.usedMicroGPUSeconds), or GQ_EINVAL (periodStart,
 * periodEnd or accountedUntil missing or unreadable, or gq_ledger_check
 * fails).
 */
int gq_acct_ledger_from_status(struct gq_ledger *l, yajl_val status);

/*
 * gpuquota's marks on a pod object: *finalizer is set to the index of the
 * accounting finalizer in metadata.finalizers, *gate to that of the budget
 * gate in spec.schedulingGates, each -1 when absent. Returns whether the pod
 * carries either. Pure; borrows pod.
 */
bool gq_acct_marks(yajl_val pod, long *finalizer, long *gate);

/* Whether the pod object requests (else limits) a positive amount of any
 * nvidia.com resource in a container or init container. Pure; borrows pod. */
bool gq_acct_is_gpu_pod(yajl_val pod);

/*
 * The weight of pod (a Pod object, borrowed) on a node with `replicas`
 * time-slicing replicas, with the team's overrides (borrowed; may be NULL):
 * its containers' nvidia.com/... requests (else limits) through the cost
 * model (gq_cost_pod_weight), into *w (the caller's). Pure. Returns that
 * function's codes.
 */
int gq_acct_pod_weight(struct gq_cost_weight *w, yajl_val pod, int64_t replicas,
		       const struct gq_res_list *overrides);

#endif
