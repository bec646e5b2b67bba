/*
 * ledger.h - the GPU-hour ledger of a GPUTeamAllocation: budget periods,
 * pod weights, and exact usage accounting. Pure functions with an injected
 * clock (int64 milliseconds since the Unix epoch, UTC); no I/O.
 *
 * Accounting model. A pod consumes GPU-time from its start (status.startTime)
 * until it terminates (latest container finishedAt; for a pod deleted while
 * running, its deletion time), multiplied by its weight in GPU-equivalents.
 * Usage is held in micro GPU-seconds (int64; 1 GPU-hour = 3.6e9), weights as
 * exact reduced fractions, so no error accumulates however often the ledger
 * is advanced (see gq_ledger_pod_usage).
 *
 * Persistence. struct gq_ledger is what the allocation's status keeps. The
 * invariant after every gq_ledger_advance is
 *	used_micro == sum over pods of usage in [period_start_ms, accounted_until_ms)
 * so re-presenting pods that were already accounted (after a crash, a
 * restart, a relist) never counts them twice. Persist used_micro (and the
 * history's) as exact integers: the decimal GPU-hours of
 * gq_ledger_format_hours are rounded and only meant for display.
 *
 * Ownership and threads: no function here allocates, keeps a pointer or
 * touches shared state. Every pointer argument is borrowed for the call;
 * results go into storage the caller provides (a struct gq_ledger is a
 * plain value: copy it freely). All functions are thread-safe.
 */
#ifndef GQ_LEDGER_H
#define GQ_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cost.h"
#include "gq.h"
#include "spec.h"

#define GQ_LEDGER_HISTORY	 12		     /* closed periods kept */
#define GQ_LEDGER_MICRO_PER_HOUR INT64_C(3600000000) /* micro GPU-s per GPU-hour */

/* One closed budget period. */
struct gq_ledger_period_rec {
	int64_t start_ms;     /* period start (inclusive) */
	int64_t end_ms;	      /* period end (exclusive) */
	int64_t used_micro;   /* usage in [start_ms, end_ms), micro GPU-seconds */
	int64_t budget_micro; /* the budget in force when the period closed */
};

/* The ledger state persisted in the allocation's status. */
struct gq_ledger {
	int64_t period_start_ms;    /* current period, inclusive */
	int64_t period_end_ms;	    /* current period, exclusive */
	int64_t accounted_until_ms; /* usage is counted up to here (exclusive) */
	int64_t used_micro;	    /* usage in [period_start_ms, accounted_until_ms) */
	struct gq_ledger_period_rec history[GQ_LEDGER_HISTORY]; /* most recent first */
	size_t n_history;					/* valid entries in history */
};

/* One pod as the ledger sees it. */
struct gq_ledger_pod {
	int64_t start_ms;	      /* status.startTime; 0 = not started (counts nothing) */
	int64_t end_ms;		      /* termination time; 0 = still running */
	struct gq_cost_weight weight; /* cost.h */
};

/*
 * The budget period of b that contains t_ms, as [*start, *end). Monthly is
 * the UTC calendar month, Weekly runs from Monday 00:00 UTC, Daily from
 * 00:00 UTC; Duration periods have length b->period_seconds and are anchored
 * at anchor_ms (the allocation's creation time): [A + kD, A + (k+1)D) for
 * any integer k, also before the anchor. anchor_ms is only read for
 * Duration. b is borrowed; *start and *end are written on GQ_OK only.
 * Returns GQ_OK, GQ_EINVAL (unknown kind, Duration <= 0) or GQ_ERANGE (out
 * of the representable range).
 */
int gq_ledger_period_at(const struct gq_budget *b, int64_t anchor_ms, int64_t t_ms, int64_t *start,
			int64_t *end);

/*
 * Fresh ledger for the period containing from_ms, with accounted_until =
 * from_ms and nothing used: usage before from_ms is never counted. Pass the
 * current time to start counting now, or the allocation's creation time
 * (anchor_ms) to count everything since the allocation existed (the next
 * gq_ledger_advance then catches up). *l (the caller's) is overwritten on
 * GQ_OK and untouched on error; b is borrowed. Returns as
 * gq_ledger_period_at.
 */
int gq_ledger_init(struct gq_ledger *l, const struct gq_budget *b, int64_t anchor_ms,
		   int64_t from_ms);

/*
 * Checks that a ledger (e.g. one read back from status) is consistent:
 * period_start < period_end, period_start <= accounted_until <= period_end,
 * used >= 0, n_history <= GQ_LEDGER_HISTORY and each record has start < end
 * and used >= 0. Returns GQ_OK or GQ_EINVAL.
 */
int gq_ledger_check(const struct gq_ledger *l);

/*
 * Accounts the pods' usage over [accounted_until, now_ms) and moves
 * accounted_until to now_ms. A pod's usage is counted over
 * [start, end or now) intersected with that span, so a pod whose end is at
 * or before accounted_until adds nothing. Crossing period_end closes the
 * current period: the part before the boundary stays with it, it is pushed
 * onto history (most recent first, at most GQ_LEDGER_HISTORY, with
 * budget_micro as its budget) and the next period starts with the rest.
 * Every period crossed is recorded, empty ones included, so history always
 * holds the last closed periods back to back; when more periods than
 * history holds are crossed, the older ones (which would be evicted anyway)
 * are skipped without being computed.
 *
 * now_ms <= accounted_until changes nothing. If the budget's period
 * definition no longer matches the ledger's current period (spec.budget.
 * period was edited), the current period is closed at accounted_until (its
 * record then ends there) and the period of the new definition containing
 * accounted_until is opened, its usage so far recomputed from the pods
 * given (best effort: pods no longer presented are not counted; never
 * before the ledger's oldest known period start).
 *
 * *l is updated in place; b and pods[0..n) are borrowed. On error *l is
 * unchanged. Returns GQ_OK, GQ_EINVAL (inconsistent ledger or pod weights)
 * or GQ_ERANGE (overflow).
 */
int gq_ledger_advance(struct gq_ledger *l, const struct gq_budget *b, int64_t anchor_ms,
		      int64_t budget_micro, const struct gq_ledger_pod *pods, size_t n,
		      int64_t now_ms);

/*
 * Re-charges one pod whose start or end, as the pod now shows it, differs
 * from what the ledger charged it for: the ledger holds `was`'s usage over
 * everything accounted ([oldest history start, accounted_until)); afterwards
 * it holds `now_p`'s instead. The difference is split by period: the part
 * in the current period moves used_micro, a part in a closed period moves
 * that history record (a part older than the history is dropped). Both pods
 * must have the same weight class of inputs as gq_ledger_pod_usage takes.
 * Totals never go below 0. *changed (may be NULL) says whether anything
 * moved. *l is updated in place; was and now_p are borrowed. On error *l
 * is unchanged. Returns GQ_OK, GQ_EINVAL (bad weight) or GQ_ERANGE.
 */
int gq_ledger_recharge(struct gq_ledger *l, const struct gq_ledger_pod *was,
		       const struct gq_ledger_pod *now_p, bool *changed);

/*
 * Usage of one pod over [from_ms, to_ms), micro GPU-seconds, into *out.
 * Computed as F(hi - start) - F(lo - start), where F(x) = floor(x ms *
 * weight in micro GPU-seconds) and [lo, hi) is the span clipped to the
 * pod's lifetime: splitting a span anywhere gives parts that add up exactly
 * to the whole, so the ledger is exact whatever the step sizes. A pod with
 * start 0 or a running pod with to <= start uses 0. Returns GQ_OK, GQ_EINVAL
 * (bad weight) or GQ_ERANGE.
 */
int gq_ledger_pod_usage(int64_t *out, const struct gq_ledger_pod *p, int64_t from_ms,
			int64_t to_ms);

/* spec.budget.gpuHours of b (borrowed) in micro GPU-seconds, into *out.
 * GQ_OK or GQ_ERANGE. */
int gq_ledger_budget_micro(const struct gq_budget *b, int64_t *out);

/* budget - used, or 0 when used >= budget. */
int64_t gq_ledger_remaining(const struct gq_ledger *l, int64_t budget_micro);

/* Whether the budget is used up: used >= budget (a zero budget always is). */
bool gq_ledger_exhausted(const struct gq_ledger *l, int64_t budget_micro);

/* Longest output of gq_ledger_format_hours, with NUL. */
#define GQ_LEDGER_HOURS_STRLEN 32

/*
 * Writes micro GPU-seconds as decimal GPU-hours, rounded to the nearest
 * 1e-6 GPU-hour (halves away from zero), trailing zeros trimmed: "0",
 * "0.01", "12.5", "-3", into the caller's buf (always NUL-terminated).
 * Display only: rounding loses up to 1.8 ms GPU.
 */
void gq_ledger_format_hours(int64_t micro, char buf[GQ_LEDGER_HOURS_STRLEN]);

/*
 * Parses decimal GPU-hours ("12.5", "0.000001", "-3"; an optional '-',
 * digits, optional '.' and 1 to 8 digits; exact for up to 8 decimals) into
 * micro GPU-seconds, into *micro. Returns GQ_OK, GQ_EPARSE or GQ_ERANGE.
 */
int gq_ledger_parse_hours(const char *s, int64_t *micro);

/*
 * Micro GPU-seconds that advancing `before` into `after` accounted: after's
 * usage plus the closed periods it gained (history records starting at or
 * after before's period start) minus before's usage; 0 when after is not
 * later than before, never negative. Summed over a chain of advances it
 * gives the usage accounted across period rollovers (for a counter that
 * never resets).
 */
int64_t gq_ledger_accounted_since(const struct gq_ledger *before, const struct gq_ledger *after);

#endif
