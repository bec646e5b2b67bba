/*
 * conditions.c - the allocation's status conditions (see conditions.h).
 */
#include "conditions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "gq.h"
#include "ledger.h"
#include "rfc3339.h"

/* Starts *buf with "namespace <n>: <why>" for every namespace in state a
 * or b, joined by "; " (the caller appends more and steals it). */
static void ns_messages(struct gq_buf *buf, const struct gq_plan *plan, enum gq_ns_state a,
			enum gq_ns_state b)
{
	gq_buf_init(buf, 4096);
	for (size_t i = 0; i < plan->n; i++)
		if (plan->ns[i].state == a || plan->ns[i].state == b)
			gq_buf_printf(buf, "%snamespace %s: %s", buf->len ? "; " : "",
				      plan->ns[i].name, plan->ns[i].message);
}

/* Ready, Conflict and Degraded into out->c[0..3). */
static void build_core(struct gq_cond_set *out, const struct gq_cond_in *in)
{
	struct gq_buf buf;
	size_t n_missing = 0, n_conflict = 0;
	char *conflict = NULL, *degraded = NULL, *ready;

	for (size_t i = 0; i < in->plan->n; i++) {
		enum gq_ns_state st = in->plan->ns[i].state;

		out->n_pending += st == GQ_NS_PENDING;
		n_missing += st == GQ_NS_MISSING || st == GQ_NS_TERMINATING;
		n_conflict += st == GQ_NS_CONFLICT;
	}
	if (n_conflict || in->n_class_conflicts || (in->share && in->share->conflict_msg)) {
		ns_messages(&buf, in->plan, GQ_NS_CONFLICT, GQ_NS_CONFLICT);
		if (in->share && in->share->conflict_msg)
			gq_buf_printf(&buf, "%s%s", buf.len ? "; " : "", in->share->conflict_msg);
		for (size_t i = 0; i < in->n_class_conflicts; i++)
			gq_buf_printf(&buf,
				      "%sPriorityClass %s exists and is not managed by gpuquota "
				      "for this team; it was left untouched",
				      buf.len ? "; " : "", in->class_conflicts[i]);
		conflict = gq_buf_steal(&buf);
	}
	if (n_missing || in->n_errors || (in->share && in->share->degraded_msg)) {
		ns_messages(&buf, in->plan, GQ_NS_MISSING, GQ_NS_TERMINATING);
		if (in->n_errors)
			gq_buf_printf(&buf, "%s%s", buf.len ? "; " : "",
				      in->first_error ? in->first_error : "");
		if (in->share && in->share->degraded_msg)
			gq_buf_printf(&buf, "%s%s", buf.len ? "; " : "", in->share->degraded_msg);
		degraded = gq_buf_steal(&buf);
	}
	if (out->n_pending)
		ready = gq_asprintf("waiting for the quota controller to enforce the quotas of %zu "
				    "namespace(s)",
				    out->n_pending);
	else if (conflict)
		ready = gq_strdup("some objects could not be applied because of a conflict");
	else if (in->n_errors)
		ready = gq_strdup("some objects could not be applied");
	else
		ready = gq_asprintf("quotas, limits and priority classes enforced in %zu "
				    "namespace(s)",
				    in->n_enforced);
	out->msgs[0] = ready;
	out->msgs[1] = conflict;
	out->msgs[2] = degraded;
	out->c[0] = (struct gq_condition){"Ready", !out->n_pending && !conflict && !in->n_errors,
					  out->n_pending ? "QuotaPending"
					  : conflict	 ? "Conflict"
					  : in->n_errors ? "ApplyFailed"
							 : "Reconciled",
					  ready};
	out->c[1] =
	    (struct gq_condition){"Conflict", conflict != NULL,
				  conflict ? "Conflict" : "NoConflict", conflict ? conflict : ""};
	out->c[2] = (struct gq_condition){"Degraded", degraded != NULL,
					  !degraded	 ? "AllNamespacesReady"
					  : in->n_errors ? "ApplyFailed"
					  : n_missing	 ? "NamespaceMissing"
							 : "MigProfileUnavailable",
					  degraded ? degraded : ""};
}

/* BudgetExhausted and BudgetWarning into out->c[3..5). */
static void build_budget(struct gq_cond_set *out, const struct gq_cond_budget *b)
{
	static const char *const verbs[] = {"denied", "held", "deprioritized"};
	char u[GQ_LEDGER_HOURS_STRLEN], t[GQ_LEDGER_HOURS_STRLEN], e[GQ_RFC3339_STRLEN];
	const char *verb = (size_t)b->policy < GQ_ARRAY_LEN(verbs) ? verbs[b->policy] : "denied";

	gq_ledger_format_hours(b->used_micro, u);
	gq_ledger_format_hours(b->budget_micro, t);
	if (gq_rfc3339_format_ms(b->period_end_ms, e) != GQ_OK)
		snprintf(e, sizeof(e), "?");
	if (b->exhausted)
		out->msgs[3] = gq_asprintf("team used %s of %s GPU-hours; new GPU pods are %s "
					   "until the period ends at %s",
					   u, t, verb, e);
	else
		out->msgs[3] =
		    gq_asprintf("%s of %s GPU-hours used this period (ends %s)", u, t, e);
	out->msgs[4] =
	    gq_asprintf("%s of %s GPU-hours used (warning at %d%%)", u, t, b->warn_at_percent);
	out->c[3] = (struct gq_condition){"BudgetExhausted", b->exhausted,
					  b->exhausted ? "BudgetExhausted" : "BudgetAvailable",
					  out->msgs[3]};
	out->c[4] = (struct gq_condition){"BudgetWarning", b->warn,
					  b->warn ? "BudgetWarning" : "BelowWarning", out->msgs[4]};
}

void gq_cond_build(struct gq_cond_set *out, const struct gq_cond_in *in)
{
	memset(out, 0, sizeof(*out));
	build_core(out, in);
	out->n = 3;
	if (in->budget != NULL) {
		build_budget(out, in->budget);
		out->n = 5;
	}
	if (in->share != NULL && in->share->active) {
		out->msgs[5] = gq_strdup(in->share->message ? in->share->message : "");
		out->c[out->n++] = (struct gq_condition){"SharingReady", in->share->ready,
							 in->share->reason, out->msgs[5]};
	}
}

void gq_cond_set_free(struct gq_cond_set *s)
{
	for (size_t i = 0; i < GQ_ARRAY_LEN(s->msgs); i++)
		free(s->msgs[i]);
	memset(s, 0, sizeof(*s));
}
