/*
 * registry.h - the team registry: per-team admission views, GPU-hour ledgers
 * and figures, shared between the reconcile workers (writers) and the
 * admission webhook (reader, on the event loop), and the webhook handler
 * that decides from it. The webhook decides from this memory alone: no API
 * call in the request path.
 *
 * Threads and ownership: every function below is thread-safe except
 * gq_registry_free. One mutex guards the registry's entries, held
 * only inside each call; the webhook counters are atomic. Nothing a
 * function returns points into the registry: results are copies, and what
 * a function stores is copied (except the records gq_registry_put_charged
 * takes over). String arguments are borrowed for the call.
 */
#ifndef GQ_REGISTRY_H
#define GQ_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "admission.h"
#include "buf.h"
#include "api.h"
#include "gq.h"
#include "ledger.h"
#include "metrics.h"

struct gq_registry;

struct gq_registry_stats {
	uint64_t reviews;   /* AdmissionReviews answered */
	uint64_t malformed; /* answered with HTTP 400 */
	uint64_t denied;    /* allowed=false */
	uint64_t held;	    /* admitted with the budget gate */
	uint64_t deprioritized;
};

/* Creates an empty registry. *out is owned by the caller
 * (gq_registry_free). Returns GQ_OK. */
int gq_registry_new(struct gq_registry **out);

/* Frees the registry and everything stored in it (NULL is fine). No other
 * thread may use it any more: stop the workers and the webhook first. */
void gq_registry_free(struct gq_registry *r);

/*
 * The team's in-memory ledger, if one was stored for this allocation uid
 * (a re-created allocation of the same name starts afresh): copies it into
 * *out and its persisted accountedUntil into *persisted_until_ms (both
 * required) and returns true. Returns false, outputs untouched, when there
 * is none for this uid or uid is NULL.
 */
bool gq_registry_get_ledger(struct gq_registry *r, const char *team, const char *uid,
			    struct gq_ledger *out, int64_t *persisted_until_ms);

/*
 * A pass with nothing to do (quiet passes, reconcile.c): set_settled marks
 * whether the last full pass of allocation uid planned and wrote nothing
 * (any other uid, or false, clears it); get_settled reads it. advance, only
 * while settled, stores *l as the live ledger (what was persisted stays as
 * it is) and moves the admission view's and the figures' usage to it;
 * false, nothing changed, otherwise.
 */
void gq_registry_set_settled(struct gq_registry *r, const char *team, const char *uid,
			     bool settled);
bool gq_registry_get_settled(struct gq_registry *r, const char *team, const char *uid);
bool gq_registry_advance(struct gq_registry *r, const char *team, const char *uid,
			 const struct gq_ledger *l);

/* Stores a copy of *l as team's ledger for allocation uid (NULL stored as
 * ""), persisted up to persisted_until_ms; creates the team's entry when
 * missing. The charged records are left as they are.
 * When persisted_until_ms is l's accountedUntil, *l is also the ledger
 * last persisted (gq_registry_get_persisted). */
void gq_registry_put_ledger(struct gq_registry *r, const char *team, const char *uid,
			    const struct gq_ledger *l, int64_t persisted_until_ms);

/* Forgets every team's ledger, persisted ledger and charged records (a new
 * leadership term starts from the statuses alone; see controller.c). The
 * admission snapshots and figures stay. */
void gq_registry_reset_ledgers(struct gq_registry *r);

/* The ledger as last persisted in the allocation's status (copied into
 * *out), if one was stored for this uid. */
bool gq_registry_get_persisted(struct gq_registry *r, const char *team, const char *uid,
			       struct gq_ledger *out);

/* One pod as the ledger last charged it (see accounting.c). */
struct gq_charged_pod {
	char *uid; /* metadata.uid, owned */
	struct gq_ledger_pod pod;
};

/* Frees n records (their uids) and the array c (NULL is fine). */
void gq_charged_free(struct gq_charged_pod *c, size_t n);

/* The records of what the in-memory ledger charged each pod for (stored
 * with gq_registry_put_charged for the same allocation uid): a deep copy
 * into *out (caller frees with gq_charged_free), sorted by uid. False when
 * there are none for this uid (or uid is NULL): *out is then NULL and *n 0. */
bool gq_registry_get_charged(struct gq_registry *r, const char *team, const char *uid,
			     struct gq_charged_pod **out, size_t *n);
/* Replaces the records of team (allocation uid, copied; NULL stored as ""),
 * creating its entry when missing. Takes ownership of c, a heap array of n
 * records (sorted by uid in place, freed later with gq_charged_free): the
 * caller must not use it again. The previous records are freed. */
void gq_registry_put_charged(struct gq_registry *r, const char *team, const char *uid,
			     struct gq_charged_pod *c, size_t n);

/* Replaces the admission snapshot of team: its namespaces and decision
 * inputs (deep-copied; namespaces and snapshot are borrowed). Creates the
 * team's entry when missing. */
void gq_registry_set_admission(struct gq_registry *r, const char *team,
			       const char *const *namespaces, size_t n_ns,
			       const struct gq_adm_team *snapshot);
/* Forgets everything about team (allocation deleted): its ledger, charged
 * records, admission snapshot, figures and decision counters. An unknown
 * team is a no-op. */
void gq_registry_forget(struct gq_registry *r, const char *team);

/*
 * The webhook handler: decodes an AdmissionReview, finds the team of the
 * pod's namespace, decides (gq_admission_decide), adds the accounting
 * finalizer to admitted GPU pods of teams, and writes the response review
 * into out. A GPU pod CREATE the decoder refuses (over a
 * GQ_ADMISSION_MAX_* bound) is denied (gq_admission_refuse), whatever its
 * namespace. Returns the HTTP status: 200, or 400 for any other malformed
 * review (with a plain message in out). Counts the decision for the team
 * (dry runs excepted) and how long it took.
 *
 * It is a gq_webhook_handler: registry is the struct gq_registry,
 * body (len bytes) is borrowed, the response is appended to out (the
 * caller's). Runs on the webhook's event loop thread, concurrently with
 * the writers; it holds the mutex only while deciding.
 */
int gq_registry_admit(void *registry, const char *body, size_t len, struct gq_buf *out);

/* Copies the webhook's counters into *out (atomic reads, no lock). */
void gq_registry_get_stats(struct gq_registry *r, struct gq_registry_stats *out);

/* One GPU or MIG resource of a team, team-wide: quota and use. */
struct gq_registry_res {
	const char *resource; /* "nvidia.com/gpu", "nvidia.com/mig-1g.10gb", ... */
	double quota;	      /* status.quota.hard */
	double used;	      /* status.quota.used */
};

/* What a team reconcile reports for the metrics (borrowed by
 * gq_registry_set_figures, which copies it). */
struct gq_registry_figures {
	bool has_budget;	    /* the fields below up to pods_* are set */
	int64_t budget_micro;	    /* micro GPU-seconds allowed this period */
	int64_t used_micro;	    /* used this period (what the webhook decides from) */
	int64_t period_end_ms;	    /* end of the current period */
	bool exhausted;		    /* BudgetExhausted */
	bool warn;		    /* BudgetWarning */
	int64_t pods_running;	    /* GPU pods started and not ended */
	int64_t pods_held;	    /* GPU pods waiting on the budget gate */
	int64_t pods_deprioritized; /* GPU pods not ended, in the over-budget class */
	int64_t accounted_micro;    /* newly accounted (persisted) micro GPU-seconds */
	const struct gq_registry_res *res;
	size_t n_res;
};

/* Stores team's figures (deep copy of *f, borrowed), creating its entry
 * when missing, and adds f->accounted_micro (when it has a budget and it
 * is positive) to its GPU-second counter, which only ever grows (period
 * rollovers included). */
void gq_registry_set_figures(struct gq_registry *r, const char *team,
			     const struct gq_registry_figures *f);

/* Declares the per-team and admission families in m (the caller's) and
 * adds the samples of every team the registry knows, read under its lock. */
void gq_registry_metrics(struct gq_registry *r, struct gq_metrics *m);

#endif
