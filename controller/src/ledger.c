/*
 * ledger.c - the GPU-hour ledger: budget periods, exact usage accounting
 * (pod weights and costs come from cost.c), and the RFC 3339 / GPU-hour
 * text forms used in status.
 *
 * Everything here is pure (the clock is a parameter) and overflow-checked:
 * arithmetic goes through the gq_ck_* helpers, which report GQ_ERANGE instead of
 * wrapping.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cost.h"
#include "gq.h"
#include "ledger.h"
#include "quantity.h"
#include "spec.h"

#define MS_PER_DAY INT64_C(86400000)

/* ------------------------------------------------------------------ */
/* Floor division                                                       */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* Periods                                                              */
/* ------------------------------------------------------------------ */

/* Seconds since the epoch of 00:00 UTC on the first of month `mon` (0..11,
 * or 12 for January of the next year) of `year` (tm_year form). */
static int month_start_s(int64_t *out, int year, int mon)
{
	struct tm tm;
	time_t s;

	if (mon == 12) {
		if (year == INT_MAX)
			return GQ_ERANGE;
		year++;
		mon = 0;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year;
	tm.tm_mon = mon;
	tm.tm_mday = 1;
	s = timegm(&tm);
	/* A month never starts at -1 s, so -1 is timegm's error return. */
	if (s == (time_t)-1)
		return GQ_ERANGE;
	*out = (int64_t)s;
	return GQ_OK;
}

/* The UTC calendar month containing t_ms. */
static int monthly(int64_t t_ms, int64_t *start, int64_t *end)
{
	time_t secs = (time_t)gq_floor_div(t_ms, 1000);
	int64_t s, e;
	struct tm tm;
	int rc;

	if (gmtime_r(&secs, &tm) == NULL)
		return GQ_ERANGE;
	rc = month_start_s(&s, tm.tm_year, tm.tm_mon);
	if (rc == GQ_OK)
		rc = month_start_s(&e, tm.tm_year, tm.tm_mon + 1);
	if (rc == GQ_OK)
		rc = gq_ck_mul(start, s, 1000);
	if (rc == GQ_OK)
		rc = gq_ck_mul(end, e, 1000);
	return rc;
}

/* Periods of whole days: `days` long, starting on days d with
 * (d + shift) mod days == 0, counted from 1970-01-01 (a Thursday). */
static int day_periods(int64_t t_ms, int64_t days, int64_t shift, int64_t *start, int64_t *end)
{
	int64_t d = gq_floor_div(t_ms, MS_PER_DAY);
	int64_t first = d - gq_floor_mod(d + shift, days);
	int64_t len = days * MS_PER_DAY;
	int rc;

	rc = gq_ck_mul(start, first, MS_PER_DAY);
	if (rc == GQ_OK)
		rc = gq_ck_add(end, *start, len);
	return rc;
}

/* Fixed-length periods [A + kD, A + (k+1)D). */
static int duration_periods(int64_t anchor_ms, int64_t seconds, int64_t t_ms, int64_t *start,
			    int64_t *end)
{
	int64_t d, diff, k, off;
	int rc;

	if (seconds <= 0)
		return GQ_EINVAL;
	rc = gq_ck_mul(&d, seconds, 1000);
	if (rc == GQ_OK)
		rc = gq_ck_sub(&diff, t_ms, anchor_ms);
	if (rc != GQ_OK)
		return rc;
	k = gq_floor_div(diff, d);
	rc = gq_ck_mul(&off, k, d);
	if (rc == GQ_OK)
		rc = gq_ck_add(start, anchor_ms, off);
	if (rc == GQ_OK)
		rc = gq_ck_add(end, *start, d);
	return rc;
}

int gq_ledger_period_at(const struct gq_budget *b, int64_t anchor_ms, int64_t t_ms, int64_t *start,
			int64_t *end)
{
	int64_t s = 0, e = 0;
	int rc;

	switch (b->period) {
	case GQ_PERIOD_MONTHLY: rc = monthly(t_ms, &s, &e); break;
	/* 1970-01-01 is a Thursday: day d is a Monday when (d + 3) % 7 == 0. */
	case GQ_PERIOD_WEEKLY: rc = day_periods(t_ms, 7, 3, &s, &e); break;
	case GQ_PERIOD_DAILY: rc = day_periods(t_ms, 1, 0, &s, &e); break;
	case GQ_PERIOD_DURATION:
		rc = duration_periods(anchor_ms, b->period_seconds, t_ms, &s, &e);
		break;
	default: rc = GQ_EINVAL; break;
	}
	if (rc != GQ_OK)
		return rc;
	*start = s;
	*end = e;
	return GQ_OK;
}

int gq_ledger_init(struct gq_ledger *l, const struct gq_budget *b, int64_t anchor_ms,
		   int64_t from_ms)
{
	int64_t s, e;
	int rc;

	rc = gq_ledger_period_at(b, anchor_ms, from_ms, &s, &e);
	if (rc != GQ_OK)
		return rc;
	memset(l, 0, sizeof(*l));
	l->period_start_ms = s;
	l->period_end_ms = e;
	l->accounted_until_ms = from_ms;
	return GQ_OK;
}

int gq_ledger_check(const struct gq_ledger *l)
{
	size_t i;

	if (l->period_start_ms >= l->period_end_ms || l->accounted_until_ms < l->period_start_ms ||
	    l->accounted_until_ms > l->period_end_ms || l->used_micro < 0 ||
	    l->n_history > GQ_LEDGER_HISTORY)
		return GQ_EINVAL;
	for (i = 0; i < l->n_history; i++) {
		const struct gq_ledger_period_rec *r = &l->history[i];

		if (r->start_ms >= r->end_ms || r->used_micro < 0)
			return GQ_EINVAL;
	}
	return GQ_OK;
}

/* ------------------------------------------------------------------ */
/* Usage                                                                */
/* ------------------------------------------------------------------ */

int gq_ledger_pod_usage(int64_t *out, const struct gq_ledger_pod *p, int64_t from_ms, int64_t to_ms)
{
	int64_t lo, hi, x_lo, x_hi, f_lo, f_hi;
	int rc;

	if (!gq_cost_weight_ok(&p->weight))
		return GQ_EINVAL;
	*out = 0;
	if (p->start_ms == 0)
		return GQ_OK;
	lo = from_ms > p->start_ms ? from_ms : p->start_ms;
	hi = to_ms;
	if (p->end_ms != 0 && p->end_ms < hi)
		hi = p->end_ms;
	if (hi <= lo || p->weight.num == 0)
		return GQ_OK;
	rc = gq_ck_sub(&x_lo, lo, p->start_ms);
	if (rc == GQ_OK)
		rc = gq_ck_sub(&x_hi, hi, p->start_ms);
	if (rc == GQ_OK)
		rc = gq_cost_usage(&f_lo, x_lo, &p->weight);
	if (rc == GQ_OK)
		rc = gq_cost_usage(&f_hi, x_hi, &p->weight);
	if (rc == GQ_OK)
		*out = f_hi - f_lo;
	return rc;
}

/* now_p's usage minus was's over [from_ms, min(to_ms, until_ms)). */
static int usage_delta(int64_t *d, const struct gq_ledger_pod *was,
		       const struct gq_ledger_pod *now_p, int64_t from_ms, int64_t to_ms,
		       int64_t until_ms)
{
	int64_t a = 0, b = 0;
	int64_t hi = to_ms < until_ms ? to_ms : until_ms;
	int rc;

	*d = 0;
	if (hi <= from_ms)
		return GQ_OK;
	rc = gq_ledger_pod_usage(&a, was, from_ms, hi);
	if (rc == GQ_OK)
		rc = gq_ledger_pod_usage(&b, now_p, from_ms, hi);
	if (rc == GQ_OK)
		rc = gq_ck_sub(d, b, a);
	return rc;
}

/* *v + d, never below 0. */
static int add_floor0(int64_t *v, int64_t d)
{
	int64_t r;
	int rc = gq_ck_add(&r, *v, d);

	if (rc == GQ_OK)
		*v = r < 0 ? 0 : r;
	return rc;
}

int gq_ledger_recharge(struct gq_ledger *l, const struct gq_ledger_pod *was,
		       const struct gq_ledger_pod *now_p, bool *changed)
{
	struct gq_ledger w = *l;
	int64_t d;
	int rc;

	if (changed)
		*changed = false;
	if (was->start_ms == now_p->start_ms && was->end_ms == now_p->end_ms &&
	    was->weight.num == now_p->weight.num && was->weight.den == now_p->weight.den)
		return GQ_OK;
	rc = usage_delta(&d, was, now_p, w.period_start_ms, w.period_end_ms, w.accounted_until_ms);
	if (rc == GQ_OK)
		rc = add_floor0(&w.used_micro, d);
	for (size_t i = 0; rc == GQ_OK && i < w.n_history; i++) {
		struct gq_ledger_period_rec *h = &w.history[i];

		rc = usage_delta(&d, was, now_p, h->start_ms, h->end_ms, w.accounted_until_ms);
		if (rc == GQ_OK)
			rc = add_floor0(&h->used_micro, d);
	}
	if (rc != GQ_OK)
		return rc;
	if (changed)
		*changed = memcmp(&w, l, sizeof(w)) != 0;
	*l = w;
	return GQ_OK;
}

/* Sum of all pods' usage over [from_ms, to_ms), added to *acc. */
static int add_usage(int64_t *acc, const struct gq_ledger_pod *pods, size_t n, int64_t from_ms,
		     int64_t to_ms)
{
	int64_t u;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		rc = gq_ledger_pod_usage(&u, &pods[i], from_ms, to_ms);
		if (rc == GQ_OK)
			rc = gq_ck_add(acc, *acc, u);
		if (rc != GQ_OK)
			return rc;
	}
	return GQ_OK;
}

/* Pushes a closed period onto the history, evicting the oldest when full. */
static void push_history(struct gq_ledger *l, int64_t start, int64_t end, int64_t used,
			 int64_t budget)
{
	size_t keep = l->n_history < GQ_LEDGER_HISTORY ? l->n_history : GQ_LEDGER_HISTORY - 1;

	memmove(&l->history[1], &l->history[0], keep * sizeof(l->history[0]));
	l->history[0].start_ms = start;
	l->history[0].end_ms = end;
	l->history[0].used_micro = used;
	l->history[0].budget_micro = budget;
	l->n_history = keep + 1;
}

/*
 * The budget's period definition changed under the ledger: closes the
 * current period at accounted_until and opens the new definition's period
 * containing it, with its usage so far recomputed from the pods given
 * (never before the oldest period the ledger knows of).
 */
static int reshape(struct gq_ledger *w, const struct gq_budget *b, int64_t anchor_ms,
		   int64_t budget_micro, const struct gq_ledger_pod *pods, size_t n)
{
	int64_t ns, ne, earliest, lo, used = 0;
	int rc;

	rc = gq_ledger_period_at(b, anchor_ms, w->accounted_until_ms, &ns, &ne);
	if (rc != GQ_OK)
		return rc;
	earliest = w->n_history > 0 ? w->history[w->n_history - 1].start_ms : w->period_start_ms;
	if (earliest > w->period_start_ms)
		earliest = w->period_start_ms;
	lo = ns > earliest ? ns : earliest;
	rc = add_usage(&used, pods, n, lo, w->accounted_until_ms);
	if (rc != GQ_OK)
		return rc;
	if (w->accounted_until_ms > w->period_start_ms)
		push_history(w, w->period_start_ms, w->accounted_until_ms, w->used_micro,
			     budget_micro);
	w->period_start_ms = ns;
	w->period_end_ms = ne;
	w->used_micro = used;
	return GQ_OK;
}

/*
 * When now_ms lies GQ_LEDGER_HISTORY or more periods past the ledger's
 * current period, everything before the period GQ_LEDGER_HISTORY back from
 * now's would be pushed and then evicted: jumps straight there with an
 * empty history, so catching up after a long outage costs at most
 * GQ_LEDGER_HISTORY + 1 periods of work.
 */
static int skip_ahead(struct gq_ledger *w, const struct gq_budget *b, int64_t anchor_ms,
		      int64_t now_ms)
{
	int64_t cs, ce, s, e, prev;
	int i, rc;

	rc = gq_ledger_period_at(b, anchor_ms, now_ms, &cs, &ce);
	if (rc != GQ_OK || w->period_end_ms > cs)
		return rc;
	s = cs;
	for (i = 0; i < GQ_LEDGER_HISTORY; i++) {
		rc = gq_ck_sub(&prev, s, 1);
		if (rc == GQ_OK)
			rc = gq_ledger_period_at(b, anchor_ms, prev, &s, &e);
		if (rc != GQ_OK)
			return rc;
	}
	if (w->period_end_ms > s)
		return GQ_OK;
	rc = gq_ledger_period_at(b, anchor_ms, s, &s, &e);
	if (rc != GQ_OK)
		return rc;
	w->n_history = 0;
	w->period_start_ms = s;
	w->period_end_ms = e;
	w->accounted_until_ms = s;
	w->used_micro = 0;
	return GQ_OK;
}

int gq_ledger_advance(struct gq_ledger *l, const struct gq_budget *b, int64_t anchor_ms,
		      int64_t budget_micro, const struct gq_ledger_pod *pods, size_t n,
		      int64_t now_ms)
{
	struct gq_ledger w;
	int64_t s, e, seg;
	size_t i;
	int rc;

	rc = gq_ledger_check(l);
	if (rc != GQ_OK)
		return rc;
	for (i = 0; i < n; i++)
		if (!gq_cost_weight_ok(&pods[i].weight))
			return GQ_EINVAL;
	if (now_ms <= l->accounted_until_ms)
		return GQ_OK;
	w = *l;
	rc = gq_ledger_period_at(b, anchor_ms, w.period_start_ms, &s, &e);
	if (rc != GQ_OK)
		return rc;
	if (s != w.period_start_ms || e != w.period_end_ms) {
		rc = reshape(&w, b, anchor_ms, budget_micro, pods, n);
		if (rc != GQ_OK)
			return rc;
	}
	rc = skip_ahead(&w, b, anchor_ms, now_ms);
	if (rc != GQ_OK)
		return rc;
	while (w.accounted_until_ms < now_ms) {
		seg = now_ms < w.period_end_ms ? now_ms : w.period_end_ms;
		rc = add_usage(&w.used_micro, pods, n, w.accounted_until_ms, seg);
		if (rc != GQ_OK)
			return rc;
		w.accounted_until_ms = seg;
		if (seg < w.period_end_ms)
			break;
		push_history(&w, w.period_start_ms, w.period_end_ms, w.used_micro, budget_micro);
		rc = gq_ledger_period_at(b, anchor_ms, w.period_end_ms, &s, &e);
		if (rc != GQ_OK)
			return rc;
		if (s != w.period_end_ms)
			return GQ_EINVAL;
		w.period_start_ms = s;
		w.period_end_ms = e;
		w.used_micro = 0;
	}
	*l = w;
	return GQ_OK;
}

/* ------------------------------------------------------------------ */
/* Budget helpers                                                       */
/* ------------------------------------------------------------------ */

int gq_ledger_budget_micro(const struct gq_budget *b, int64_t *out)
{
	/* 1 milli GPU-hour = 3.6 GPU-seconds = 3.6e6 micro GPU-seconds. */
	return gq_ck_mul(out, b->gpu_hours.milli, GQ_LEDGER_MICRO_PER_HOUR / 1000);
}

int64_t gq_ledger_remaining(const struct gq_ledger *l, int64_t budget_micro)
{
	int64_t r;

	if (l->used_micro >= budget_micro)
		return 0;
	if (gq_ck_sub(&r, budget_micro, l->used_micro) != GQ_OK)
		return INT64_MAX;
	return r;
}

bool gq_ledger_exhausted(const struct gq_ledger *l, int64_t budget_micro)
{
	return l->used_micro >= budget_micro;
}

/* ------------------------------------------------------------------ */
/* GPU-hour text                                                        */
/* ------------------------------------------------------------------ */

void gq_ledger_format_hours(int64_t micro, char buf[GQ_LEDGER_HOURS_STRLEN])
{
	uint64_t mag = micro < 0 ? (uint64_t)0 - (uint64_t)micro : (uint64_t)micro;
	/* Millionths of an hour: mag / 3600, rounded half up. */
	uint64_t q = mag / 3600 + (mag % 3600 >= 1800 ? 1 : 0);
	uint64_t whole = q / 1000000, frac6 = q % 1000000;
	char *p = buf;
	int width = 6;

	if (micro < 0 && q != 0)
		*p++ = '-';
	gq_put_uint(&p, whole, 1);
	if (frac6 != 0) {
		while (frac6 % 10 == 0) {
			frac6 /= 10;
			width--;
		}
		*p++ = '.';
		gq_put_uint(&p, frac6, width);
	}
	*p = '\0';
}

int gq_ledger_parse_hours(const char *s, int64_t *micro)
{
	static const int64_t per_unit[9] = {
	    3600000000, 360000000, 36000000, 3600000, 360000, 36000, 3600, 360, 36,
	};
	bool neg = false;
	int64_t whole = 0, v, f = 0;
	int ndig = 0, nfrac = 0, rc;

	if (*s == '-') {
		neg = true;
		s++;
	}
	for (; *s >= '0' && *s <= '9'; s++, ndig++) {
		if (gq_ck_mul(&whole, whole, 10) != GQ_OK ||
		    gq_ck_add(&whole, whole, *s - '0') != GQ_OK)
			return GQ_ERANGE;
	}
	if (ndig == 0)
		return GQ_EPARSE;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, nfrac++) {
			if (nfrac == 8)
				return GQ_EPARSE;
			f = f * 10 + (*s - '0');
		}
		if (nfrac == 0)
			return GQ_EPARSE;
	}
	if (*s != '\0')
		return GQ_EPARSE;
	rc = gq_ck_mul(&v, whole, GQ_LEDGER_MICRO_PER_HOUR);
	if (rc == GQ_OK)
		rc = gq_ck_add(&v, v, f * per_unit[nfrac]);
	if (rc != GQ_OK)
		return rc;
	*micro = neg ? -v : v;
	return GQ_OK;
}

int64_t gq_ledger_accounted_since(const struct gq_ledger *before, const struct gq_ledger *after)
{
	int64_t d;

	if (after->accounted_until_ms <= before->accounted_until_ms)
		return 0;
	d = after->used_micro - before->used_micro;
	for (size_t i = 0; i < after->n_history && i < GQ_LEDGER_HISTORY; i++)
		if (after->history[i].start_ms >= before->period_start_ms)
			d += after->history[i].used_micro;
	return d > 0 ? d : 0;
}
