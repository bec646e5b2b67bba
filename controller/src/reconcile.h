/*
 * reconcile.h - level-based, idempotent reconcile of one GPUTeamAllocation:
 * reads the informer caches, asks the pure core (spec, desired, plan) what
 * should exist, and converges the cluster with server-side apply, writing
 * only what differs from the cache.
 */
#ifndef GQ_RECONCILE_H
#define GQ_RECONCILE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "registry.h"
#include "api.h"
#include "gq.h"
#include "informer.h"
#include "kclient.h"

struct gq_reconciler {
	struct gq_kclient *kc;		   /* borrowed */
	struct gq_informer *teams;	   /* GPUTeamAllocations */
	struct gq_informer *namespaces;	   /* all namespaces */
	struct gq_informer *quotas;	   /* ResourceQuotas managed by gpuquota */
	struct gq_informer *limits;	   /* LimitRanges managed by gpuquota */
	struct gq_informer *classes;	   /* all PriorityClasses */
	struct gq_informer *nodes;	   /* all nodes */
	struct gq_informer *slices;	   /* ResourceSlices (spec.nodeName, driver); may be NULL */
	struct gq_informer *pods;	   /* all pods (trimmed to accounting fields) */
	struct gq_registry *budgets;	   /* ledgers + admission snapshots */
	int64_t ledger_interval_ms;	   /* how often a team with a budget is accounted */
	int64_t ledger_write_interval_ms;  /* usage written at most this often (gq_acct_run) */
	const char *instance;		   /* reporting instance for Events */
	const char *event_namespace;	   /* namespace for Events of cluster-scoped objects */
	atomic_ullong reconciles;	   /* reconciles run */
	atomic_ullong failures;		   /* reconciles that returned an error */
	atomic_ullong applies;		   /* objects applied (writes) */
	atomic_ullong deletes;		   /* objects deleted (writes) */
	atomic_ullong ledger_write_errors; /* status writes carrying a ledger that failed */
	atomic_ullong quiet_passes;	   /* periodic passes that were arithmetic only */
	int64_t share_pending_timeout_ms;  /* a MIG change stuck pending (0: 10 min) */
	/*
	 * Leader election (NULL: this replica always writes). When may_write
	 * says no, a pass is read-only: it computes the plan and the ledger
	 * (from the watched status, never from the registry, and the pods) and publishes the
	 * admission view and figures, but writes nothing: no objects, status, events, finalizers or
	 * gates, and no orphan sweep.
	 */
	bool (*may_write)(void *arg);
	void *may_write_arg;
};

/*
 * Reconciles the team `name`. touched: an event or a retry brought it (the
 * work queue's gq_workqueue_touched); otherwise it is a periodic pass, and
 * the leader's pass of a settled team with a budget is arithmetic only: its
 * running pods accrue on the in-memory ledger the webhook and metrics read,
 * and nothing is copied or written until a write is due, a threshold is
 * crossed or an event comes. Returns GQ_OK when converged (or when the
 * allocation no longer exists); *requeue_after_ms > 0 asks for another pass
 * later (e.g. waiting for the quota controller to sync). Any error return
 * means "retry with backoff"; err says why.
 *
 * r and name are borrowed. Thread-safe for different names: the workers
 * share r (its caches, client and registry are thread-safe; its counters
 * atomic); one name must not be reconciled twice at once, which the work
 * queue guarantees. It takes the caches' read locks itself: the caller
 * holds none.
 */
int gq_reconcile_team(struct gq_reconciler *r, const char *name, bool touched,
		      int64_t *requeue_after_ms, struct gq_err *err);

/* Work-queue key of the sweep that frees pods from our accounting finalizer
 * when their namespace belongs to no team (allocation deleted, namespace
 * left the team): a pod never stays stuck on it. */
#define GQ_ORPHANS_KEY "#orphans"

/* Runs that sweep: removes our finalizer and the budget gate from every pod
 * of a namespace that belongs to no team with a budget. The leader only: a
 * no-op returning GQ_OK on a follower or without a pod cache. Runs beside
 * team reconciles (its patches carry JSON-patch tests); the caller holds no
 * cache lock. Returns GQ_OK, or GQ_EIO with the first failed write in err. */
int gq_reconcile_orphans(struct gq_reconciler *r, struct gq_err *err);

#endif
