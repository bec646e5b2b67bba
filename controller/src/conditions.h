/*
 * conditions.h - the allocation's status conditions (Ready, Conflict,
 * Degraded, BudgetExhausted, BudgetWarning) from what one reconcile pass
 * observed and did. Pure: no I/O, no clock, no caches.
 */
#ifndef GQ_CONDITIONS_H
#define GQ_CONDITIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan.h"
#include "sharing.h"
#include "spec.h"

/* The budget figures of the pass (accounting's result). */
struct gq_cond_budget {
	bool exhausted;
	bool warn;
	int64_t used_micro;    /* this period, micro GPU-seconds */
	int64_t budget_micro;  /* per period */
	int64_t period_end_ms; /* end of the current period */
	enum gq_on_exhausted policy;
	int warn_at_percent;
};

/* What the conditions are computed from. Everything borrowed. */
struct gq_cond_in {
	const struct gq_plan *plan;	    /* namespace states, GQ_NS_PENDING where a
					     * quota is not enforced yet */
	size_t n_enforced;		    /* namespaces whose quotas are enforced */
	size_t n_errors;		    /* writes of the pass that failed ... */
	const char *first_error;	    /* ... and the first one's message */
	const char *const *class_conflicts; /* PriorityClasses left untouched */
	size_t n_class_conflicts;
	const struct gq_cond_budget *budget; /* NULL: the team has no budget */
	const struct gq_share_plan *share;   /* NULL: the team has no sharing */
};

/* The conditions, in status order; c[i] point at msgs the set owns. */
struct gq_cond_set {
	struct gq_condition c[6];
	size_t n;	  /* 3, 5 with a budget, one more with sharing */
	size_t n_pending; /* namespaces whose quotas are not enforced yet */
	char *msgs[6];	  /* owned messages */
};

/* Fills *out (the caller frees it with gq_cond_set_free). Never fails. */
void gq_cond_build(struct gq_cond_set *out, const struct gq_cond_in *in);

/* Frees what *s owns and zeroes it. */
void gq_cond_set_free(struct gq_cond_set *s);

#endif /* GQ_CONDITIONS_H */
