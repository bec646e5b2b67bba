/*
 * budget.h - per-team GPU-hour state shared between the reconcile workers
 * (writers) and the admission webhook (reader, on the event loop). The
 * webhook decides from this memory alone: no API call in the request path.
 */
#ifndef GQ_BUDGET_H
#define GQ_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "admission.h"
#include "buf.h"
#include "api.h"
#include "gq.h"
#include "ledger.h"
#include "metrics.h"

struct gq_budget_registry;

struct gq_budget_stats {
	uint64_t reviews;   /* AdmissionReviews answered */
	uint64_t malformed; /* answered with HTTP 400 */
	uint64_t denied;    /* allowed=false */
	uint64_t held;	    /* admitted with the budget gate */
	uint64_t deprioritized;
};

int gq_budget_registry_new(struct gq_budget_registry **out);
void gq_budget_registry_free(struct gq_budget_registry *r);

/* The team's in-memory ledger, if one was stored for this allocation uid
 * (a re-created allocation of the same name starts afresh). */
bool gq_budget_get_ledger(struct gq_budget_registry *r, const char *team, const char *uid,
			  struct gq_ledger *out, int64_t *persisted_until_ms);
/* Stores the team's live ledger l (copied) and the accountedUntil its
 * status carries; when they are the same instant, l is also what was last
 * persisted (gq_budget_get_persisted). */
void gq_budget_put_ledger(struct gq_budget_registry *r, const char *team, const char *uid,
			  const struct gq_ledger *l, int64_t persisted_until_ms);

/* The ledger as last persisted in the allocation's status (copied into
 * *out), if one was stored for this uid. */
bool gq_budget_get_persisted(struct gq_budget_registry *r, const char *team, const char *uid,
			     struct gq_ledger *out);

/* One pod as the ledger last charged it (see accounting.c). */
struct gq_charged_pod {
	char *uid; /* metadata.uid, owned */
	struct gq_ledger_pod pod;
};

void gq_charged_free(struct gq_charged_pod *c, size_t n);

/* The records of what the in-memory ledger charged each pod for (stored
 * with gq_budget_put_charged for the same allocation uid): a deep copy
 * into *out (caller frees with gq_charged_free), sorted by uid. False when
 * there are none for this uid. */
bool gq_budget_get_charged(struct gq_budget_registry *r, const char *team, const char *uid,
			   struct gq_charged_pod **out, size_t *n);
/* Replaces the records of team (allocation uid); takes ownership of c. */
void gq_budget_put_charged(struct gq_budget_registry *r, const char *team, const char *uid,
			   struct gq_charged_pod *c, size_t n);

/* Replaces the admission snapshot of team: its namespaces and decision
 * inputs (deep-copied). */
void gq_budget_set_admission(struct gq_budget_registry *r, const char *team,
			     const char *const *namespaces, size_t n_ns,
			     const struct gq_adm_team *snapshot);
/* Forgets everything about team (allocation deleted). */
void gq_budget_forget(struct gq_budget_registry *r, const char *team);

/*
 * The webhook handler: decodes an AdmissionReview, finds the team of the
 * pod's namespace, decides (gq_admission_decide), adds the accounting
 * finalizer to admitted GPU pods of teams, and writes the response review
 * into out. A GPU pod CREATE the decoder refuses (over a
 * GQ_ADMISSION_MAX_* bound) is denied (gq_admission_refuse), whatever its
 * namespace. Returns the HTTP status: 200, or 400 for any other malformed
 * review (with a plain message in out). Counts the decision for the team
 * (dry runs excepted) and how long it took.
 */
int gq_budget_admit(void *registry, const char *body, size_t len, struct gq_buf *out);

void gq_budget_get_stats(struct gq_budget_registry *r, struct gq_budget_stats *out);

/* One GPU or MIG resource of a team, team-wide: quota and use. */
struct gq_budget_res {
	const char *resource; /* "nvidia.com/gpu", "nvidia.com/mig-1g.10gb", ... */
	double quota;	      /* status.quota.hard */
	double used;	      /* status.quota.used */
};

/* What a team reconcile reports for the metrics (borrowed by
 * gq_budget_set_figures, which copies it). */
struct gq_budget_figures {
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
	const struct gq_budget_res *res;
	size_t n_res;
};

/* Stores team's figures (deep copy) and adds f->accounted_micro to its
 * GPU-second counter, which only ever grows (period rollovers included). */
void gq_budget_set_figures(struct gq_budget_registry *r, const char *team,
			   const struct gq_budget_figures *f);

/* Declares the per-team and admission families in m and adds the samples
 * of every team the registry knows, read under its lock. */
void gq_budget_metrics(struct gq_budget_registry *r, struct gq_metrics *m);

#endif
