/* Unit tests for ledger.c: periods, usage, rollover, restart catch-up,
 * weights, RFC 3339 and GPU-hour text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gq.h"
#include "ledger.h"
#include "quantity.h"
#include "spec.h"
#include "rfc3339.h"

__extension__ typedef __int128 i128;

#define SEC  INT64_C(1000)
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)
#define H1   GQ_LEDGER_MICRO_PER_HOUR /* 1 GPU-hour in micro GPU-seconds */

/* ---------------------------------------------------------------- */
/* Helpers                                                            */
/* ---------------------------------------------------------------- */

static int64_t T(const char *s)
{
	int64_t ms = 0;

	assert_int_equal(gq_rfc3339_parse(s, &ms), GQ_OK);
	return ms;
}

static struct gq_budget budget_of(enum gq_period_kind k, int64_t seconds)
{
	struct gq_budget b;

	memset(&b, 0, sizeof(b));
	b.present = true;
	b.period = k;
	b.period_seconds = seconds;
	b.gpu_hours = gq_quantity_from_int(100);
	return b;
}

/* Asserts that the period of kind k containing `at` is [want_start, want_end). */
static void check_period(const struct gq_budget *b, int64_t anchor, const char *at,
			 const char *want_start, const char *want_end)
{
	char s[GQ_RFC3339_STRLEN], e[GQ_RFC3339_STRLEN];
	int64_t ps = 0, pe = 0;

	assert_int_equal(gq_ledger_period_at(b, anchor, T(at), &ps, &pe), GQ_OK);
	assert_int_equal(gq_rfc3339_format_ms(ps, s), GQ_OK);
	assert_int_equal(gq_rfc3339_format_ms(pe, e), GQ_OK);
	assert_string_equal(s, want_start);
	assert_string_equal(e, want_end);
}

static void check_period_ms(const struct gq_budget *b, int64_t anchor, int64_t at,
			    int64_t want_start, int64_t want_end)
{
	int64_t ps = 0, pe = 0;

	assert_int_equal(gq_ledger_period_at(b, anchor, at, &ps, &pe), GQ_OK);
	assert_true(ps == want_start);
	assert_true(pe == want_end);
}

static struct gq_cost_weight W(int64_t num, int64_t den) {
	struct gq_cost_weight w = {num, den};

	return w;
}

static struct gq_ledger_pod
pod(int64_t start, int64_t end, int64_t num, int64_t den)
{
	struct gq_ledger_pod p;

	p.start_ms = start;
	p.end_ms = end;
	p.weight = W(num, den);
	return p;
}

static void assert_ledger_equal(const struct gq_ledger *a, const struct gq_ledger *b)
{
	size_t i;

	assert_true(a->period_start_ms == b->period_start_ms);
	assert_true(a->period_end_ms == b->period_end_ms);
	assert_true(a->accounted_until_ms == b->accounted_until_ms);
	assert_true(a->used_micro == b->used_micro);
	assert_int_equal(a->n_history, b->n_history);
	for (i = 0; i < a->n_history; i++) {
		assert_true(a->history[i].start_ms == b->history[i].start_ms);
		assert_true(a->history[i].end_ms == b->history[i].end_ms);
		assert_true(a->history[i].used_micro == b->history[i].used_micro);
		assert_true(a->history[i].budget_micro == b->history[i].budget_micro);
	}
}

/* History is back to back, most recent first, and ends where the current period starts. */
static void assert_contiguous(const struct gq_ledger *l)
{
	size_t i;

	assert_int_equal(gq_ledger_check(l), GQ_OK);
	if (l->n_history > 0)
		assert_true(l->history[0].end_ms == l->period_start_ms);
	for (i = 1; i < l->n_history; i++)
		assert_true(l->history[i].end_ms == l->history[i - 1].start_ms);
}

/* ---------------------------------------------------------------- */
/* Periods                                                            */
/* ---------------------------------------------------------------- */

static void test_period_monthly(void **state)
{
	struct gq_budget b = budget_of(GQ_PERIOD_MONTHLY, 0);

	(void)state;
	/* Leap February (2028) and non-leap (2027), by 4-, 100- and 400-year rules. */
	check_period(&b, 0, "2028-02-29T23:59:59.999Z", "2028-02-01T00:00:00Z",
		     "2028-03-01T00:00:00Z");
	check_period(&b, 0, "2027-02-14T10:00:00Z", "2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z");
	check_period(&b, 0, "2100-02-28T00:00:00Z", "2100-02-01T00:00:00Z", "2100-03-01T00:00:00Z");
	check_period(&b, 0, "2000-02-29T12:00:00Z", "2000-02-01T00:00:00Z", "2000-03-01T00:00:00Z");
	check_period_ms(&b, 0, T("2028-02-10T00:00:00Z"), T("2028-02-01T00:00:00Z"),
			T("2028-02-01T00:00:00Z") + 29 * DAY);
	check_period_ms(&b, 0, T("2027-02-10T00:00:00Z"), T("2027-02-01T00:00:00Z"),
			T("2027-02-01T00:00:00Z") + 28 * DAY);
	/* Jan 31 is in January; the next period is February. */
	check_period(&b, 0, "2027-01-31T23:59:59.999Z", "2027-01-01T00:00:00Z",
		     "2027-02-01T00:00:00Z");
	/* Dec -> Jan, exactly at the boundary and one ms before. */
	check_period(&b, 0, "2026-12-31T23:59:59.999Z", "2026-12-01T00:00:00Z",
		     "2027-01-01T00:00:00Z");
	check_period(&b, 0, "2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z");
	/* 30-day month; before the epoch. */
	check_period(&b, 0, "2026-04-30T12:00:00Z", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z");
	check_period(&b, 0, "1969-12-15T00:00:00Z", "1969-12-01T00:00:00Z", "1970-01-01T00:00:00Z");
	/* Raw epoch values (date -u -d 2028-02-01 +%s). */
	check_period_ms(&b, 0, INT64_C(1833000000000), INT64_C(1832976000000),
			INT64_C(1835481600000));
}

static void test_period_weekly(void **state)
{
	struct gq_budget b = budget_of(GQ_PERIOD_WEEKLY, 0);

	(void)state;
	/* 2026-11-23 is a Monday (1795392000). */
	check_period_ms(&b, 0, INT64_C(1795392000000), INT64_C(1795392000000),
			INT64_C(1795392000000) + 7 * DAY);
	check_period(&b, 0, "2026-11-23T00:00:00Z", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z");
	check_period(&b, 0, "2026-11-22T23:59:59.999Z", "2026-11-16T00:00:00Z",
		     "2026-11-23T00:00:00Z");
	check_period(&b, 0, "2026-11-25T13:00:00Z", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z");
	/* Across the new year: Thu 2026-12-31 is in the week of Mon 2026-12-28. */
	check_period(&b, 0, "2026-12-31T08:00:00Z", "2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z");
	/* Leap day 2028-02-29 is a Tuesday. */
	check_period(&b, 0, "2028-02-29T00:00:00Z", "2028-02-28T00:00:00Z", "2028-03-06T00:00:00Z");
	/* The epoch is a Thursday; before it too. */
	check_period(&b, 0, "1970-01-01T00:00:00Z", "1969-12-29T00:00:00Z", "1970-01-05T00:00:00Z");
	check_period(&b, 0, "1969-12-28T23:59:59.999Z", "1969-12-22T00:00:00Z",
		     "1969-12-29T00:00:00Z");
}

static void test_period_daily(void **state)
{
	struct gq_budget b = budget_of(GQ_PERIOD_DAILY, 0);

	(void)state;
	check_period(&b, 0, "2028-02-28T23:59:59.999Z", "2028-02-28T00:00:00Z",
		     "2028-02-29T00:00:00Z");
	check_period(&b, 0, "2028-02-29T00:00:00Z", "2028-02-29T00:00:00Z", "2028-03-01T00:00:00Z");
	check_period(&b, 0, "2027-02-28T05:00:00Z", "2027-02-28T00:00:00Z", "2027-03-01T00:00:00Z");
	check_period_ms(&b, 0, -1, -DAY, 0);
	check_period_ms(&b, 0, 0, 0, DAY);
}

static void test_period_duration(void **state)
{
	struct gq_budget b = budget_of(GQ_PERIOD_DURATION, 6 * 3600);
	int64_t a = T("2026-03-10T12:34:56.789Z"), d = 6 * HOUR, s, e;

	(void)state;
	check_period_ms(&b, a, a, a, a + d);
	check_period_ms(&b, a, a + d - 1, a, a + d);
	check_period_ms(&b, a, a + d, a + d, a + 2 * d);
	check_period_ms(&b, a, a - 1, a - d, a);
	check_period_ms(&b, a, a - d, a - d, a);
	check_period_ms(&b, a, a - d - 1, a - 2 * d, a - d);
	check_period_ms(&b, a, a + 5 * d + 7, a + 5 * d, a + 6 * d);
	check_period_ms(&b, a, a - 10 * d - 1, a - 11 * d, a - 10 * d);
	/* A period longer than a month, unrelated to calendar boundaries. */
	b.period_seconds = 45 * 86400;
	check_period_ms(&b, a, a + 100 * DAY, a + 90 * DAY, a + 135 * DAY);

	b.period_seconds = 0;
	assert_int_equal(gq_ledger_period_at(&b, a, a, &s, &e), GQ_EINVAL);
	b.period_seconds = -5;
	assert_int_equal(gq_ledger_period_at(&b, a, a, &s, &e), GQ_EINVAL);
	b.period_seconds = 3600;
	assert_int_equal(gq_ledger_period_at(&b, INT64_MAX, INT64_MIN, &s, &e), GQ_ERANGE);
	b.period_seconds = INT64_MAX / 10;
	assert_int_equal(gq_ledger_period_at(&b, a, a, &s, &e), GQ_ERANGE);
	b.period = (enum gq_period_kind)42;
	assert_int_equal(gq_ledger_period_at(&b, a, a, &s, &e), GQ_EINVAL);
}

static void test_period_extremes(void **state)
{
	struct gq_budget m = budget_of(GQ_PERIOD_MONTHLY, 0);
	struct gq_budget d = budget_of(GQ_PERIOD_DAILY, 0);
	int64_t s, e;

	(void)state;
	assert_int_equal(gq_ledger_period_at(&m, 0, INT64_MAX, &s, &e), GQ_ERANGE);
	assert_int_equal(gq_ledger_period_at(&d, 0, INT64_MAX, &s, &e), GQ_ERANGE);
	assert_int_equal(gq_ledger_period_at(&d, 0, INT64_MIN, &s, &e), GQ_ERANGE);
}

/* ---------------------------------------------------------------- */
/* Usage                                                              */
/* ---------------------------------------------------------------- */

static void test_pod_usage(void **state)
{
	struct gq_ledger_pod p = pod(1000, 5000, 1, 1);
	int64_t u = -1, sum;
	int i;

	(void)state;
	/* Partial overlaps with a finished pod [1000, 5000). */
	assert_int_equal(gq_ledger_pod_usage(&u, &p, 0, 3000), GQ_OK);
	assert_true(u == 2000 * 1000);
	assert_int_equal(gq_ledger_pod_usage(&u, &p, 2000, 9000), GQ_OK);
	assert_true(u == 3000 * 1000);
	assert_int_equal(gq_ledger_pod_usage(&u, &p, 0, 9000), GQ_OK);
	assert_true(u == 4000 * 1000);
	assert_int_equal(gq_ledger_pod_usage(&u, &p, 5000, 9000), GQ_OK);
	assert_true(u == 0);
	assert_int_equal(gq_ledger_pod_usage(&u, &p, 0, 1000), GQ_OK);
	assert_true(u == 0);
	assert_int_equal(gq_ledger_pod_usage(&u, &p, 3000, 2000), GQ_OK);
	assert_true(u == 0);
	/* Running pod: counted up to `to`. */
	p.end_ms = 0;
	assert_int_equal(gq_ledger_pod_usage(&u, &p, 0, 1000 + HOUR), GQ_OK);
	assert_true(u == H1);
	/* Not started. */
	p.start_ms = 0;
	assert_int_equal(gq_ledger_pod_usage(&u, &p, 0, HOUR), GQ_OK);
	assert_true(u == 0);
	/* Bad weight. */
	p = pod(1000, 0, 1, 0);
	assert_int_equal(gq_ledger_pod_usage(&u, &p, 0, HOUR), GQ_EINVAL);
	p = pod(1000, 0, -1, 1);
	assert_int_equal(gq_ledger_pod_usage(&u, &p, 0, HOUR), GQ_EINVAL);

	/* 1/7 GPU for 7 ms is exactly 1000 micro GPU-s, however it is split:
	 * per-ms rounding would give 7 * 142 = 994. */
	p = pod(100, 0, 1, 7);
	sum = 0;
	for (i = 0; i < 7; i++) {
		assert_int_equal(gq_ledger_pod_usage(&u, &p, 100 + i, 101 + i), GQ_OK);
		sum += u;
	}
	assert_true(sum == 1000);
	assert_int_equal(gq_ledger_pod_usage(&u, &p, 100, 101), GQ_OK);
	assert_true(u == 142);
	/* A month of 1/7 GPU in 10-second steps == in one step. */
	sum = 0;
	for (i = 0; i < 30 * 8640; i++) {
		assert_int_equal(
		    gq_ledger_pod_usage(&u, &p, 100 + i * 10 * SEC, 100 + (i + 1) * 10 * SEC),
		    GQ_OK);
		sum += u;
	}
	assert_int_equal(gq_ledger_pod_usage(&u, &p, 0, 100 + 30 * DAY), GQ_OK);
	assert_true(sum == u);
	assert_true(u == (30 * DAY * 1000) / 7);

	/* Overflow is reported, not wrapped. */
	p = pod(1, 0, INT64_MAX / 2, 1);
	assert_int_equal(gq_ledger_pod_usage(&u, &p, 0, DAY), GQ_ERANGE);
}

static void test_init_and_advance(void **state)
{
	struct gq_budget b = budget_of(GQ_PERIOD_MONTHLY, 0);
	int64_t t0 = T("2026-11-10T00:00:00Z"), budget = 100 * H1;
	struct gq_ledger l, before;
	struct gq_ledger_pod pods[3];

	(void)state;
	assert_int_equal(gq_ledger_init(&l, &b, 0, t0), GQ_OK);
	assert_true(l.period_start_ms == T("2026-11-01T00:00:00Z"));
	assert_true(l.period_end_ms == T("2026-12-01T00:00:00Z"));
	assert_true(l.accounted_until_ms == t0);
	assert_true(l.used_micro == 0);
	assert_int_equal(l.n_history, 0);

	pods[0] = pod(t0 - 5 * HOUR, 0, 1, 1);	       /* started before accounting */
	pods[1] = pod(t0 + HOUR, t0 + 3 * HOUR, 2, 1); /* 2 GPUs, 2 h */
	pods[2] = pod(0, 0, 1, 1);		       /* pending */
	assert_int_equal(gq_ledger_advance(&l, &b, 0, budget, pods, 3, t0 + 10 * HOUR), GQ_OK);
	assert_true(l.used_micro == 10 * H1 + 4 * H1);
	assert_true(l.accounted_until_ms == t0 + 10 * HOUR);

	/* now <= accounted_until changes nothing. */
	before = l;
	assert_int_equal(gq_ledger_advance(&l, &b, 0, budget, pods, 3, t0 + 10 * HOUR), GQ_OK);
	assert_ledger_equal(&l, &before);
	assert_int_equal(gq_ledger_advance(&l, &b, 0, budget, pods, 3, t0), GQ_OK);
	assert_ledger_equal(&l, &before);

	/* Bad input leaves the ledger unchanged. */
	pods[2].weight.den = 0;
	assert_int_equal(gq_ledger_advance(&l, &b, 0, budget, pods, 3, t0 + 11 * HOUR), GQ_EINVAL);
	assert_ledger_equal(&l, &before);
	pods[2].weight.den = 1;
	l.used_micro = -1;
	assert_int_equal(gq_ledger_advance(&l, &b, 0, budget, pods, 3, t0 + 11 * HOUR), GQ_EINVAL);
	l = before;
	pods[0].weight.num = INT64_MAX / 4;
	assert_int_equal(gq_ledger_advance(&l, &b, 0, budget, pods, 3, t0 + 11 * HOUR), GQ_ERANGE);
	assert_ledger_equal(&l, &before);
}

static void test_rollover(void **state)
{
	struct gq_budget b = budget_of(GQ_PERIOD_DAILY, 0);
	int64_t d1 = T("2026-11-23T00:00:00Z"), budget = 5 * H1;
	struct gq_ledger l;
	struct gq_ledger_pod p = pod(d1 + 22 * HOUR, 0, 1, 2);

	(void)state;
	assert_int_equal(gq_ledger_init(&l, &b, 0, d1 + 20 * HOUR), GQ_OK);
	assert_int_equal(gq_ledger_advance(&l, &b, 0, budget, &p, 1, d1 + DAY + HOUR), GQ_OK);
	assert_int_equal(l.n_history, 1);
	assert_true(l.history[0].start_ms == d1);
	assert_true(l.history[0].end_ms == d1 + DAY);
	assert_true(l.history[0].used_micro == H1); /* 2 h x 1/2 */
	assert_true(l.history[0].budget_micro == budget);
	assert_true(l.period_start_ms == d1 + DAY);
	assert_true(l.period_end_ms == d1 + 2 * DAY);
	assert_true(l.used_micro == H1 / 2);
	assert_contiguous(&l);

	/* Advancing exactly to a boundary closes the period there. */
	assert_int_equal(gq_ledger_advance(&l, &b, 0, budget, &p, 1, d1 + 2 * DAY), GQ_OK);
	assert_int_equal(l.n_history, 2);
	assert_true(l.history[0].used_micro == 12 * H1);
	assert_true(l.period_start_ms == d1 + 2 * DAY);
	assert_true(l.accounted_until_ms == d1 + 2 * DAY);
	assert_true(l.used_micro == 0);
	assert_contiguous(&l);
}

static void test_several_periods_crossed(void **state)
{
	struct gq_budget b = budget_of(GQ_PERIOD_DAILY, 0);
	int64_t d1 = T("2026-11-23T00:00:00Z");
	struct gq_ledger l;
	struct gq_ledger_pod p = pod(d1 + 12 * HOUR, d1 + 13 * HOUR, 1, 1);

	(void)state;
	assert_int_equal(gq_ledger_init(&l, &b, 0, d1 + HOUR), GQ_OK);
	assert_int_equal(gq_ledger_advance(&l, &b, 0, 7 * H1, &p, 1, d1 + 3 * DAY + HOUR), GQ_OK);
	assert_int_equal(l.n_history, 3);
	assert_true(l.history[0].start_ms == d1 + 2 * DAY && l.history[0].used_micro == 0);
	assert_true(l.history[1].start_ms == d1 + DAY && l.history[1].used_micro == 0);
	assert_true(l.history[2].start_ms == d1 && l.history[2].used_micro == H1);
	assert_true(l.history[2].budget_micro == 7 * H1);
	assert_true(l.used_micro == 0);
	assert_contiguous(&l);
}

/* Crossing more periods than history holds keeps exactly the last 12, the
 * same whether done in one step (which skips ahead) or day by day. */
static void test_history_cap(void **state)
{
	struct gq_budget b = budget_of(GQ_PERIOD_DAILY, 0);
	int64_t d1 = T("2027-01-01T00:00:00Z");
	struct gq_ledger big, small;
	struct gq_ledger_pod pods[2];
	int i;

	(void)state;
	pods[0] = pod(d1 - DAY, 0, 1, 4);			 /* runs throughout */
	pods[1] = pod(d1 + 3 * DAY, d1 + 30 * DAY + HOUR, 3, 7); /* ends in the last period */
	for (int n_days = 11; n_days <= 40; n_days += 29) {
		assert_int_equal(gq_ledger_init(&big, &b, 0, d1 + 6 * HOUR), GQ_OK);
		small = big;
		assert_int_equal(
		    gq_ledger_advance(&big, &b, 0, H1, pods, 2, d1 + n_days * DAY + 2 * HOUR),
		    GQ_OK);
		for (i = 1; i <= n_days; i++)
			assert_int_equal(
			    gq_ledger_advance(&small, &b, 0, H1, pods, 2, d1 + i * DAY), GQ_OK);
		assert_int_equal(
		    gq_ledger_advance(&small, &b, 0, H1, pods, 2, d1 + n_days * DAY + 2 * HOUR),
		    GQ_OK);
		assert_ledger_equal(&big, &small);
		assert_contiguous(&big);
		assert_int_equal(big.n_history, n_days < 12 ? (size_t)n_days : 12);
		assert_true(big.history[0].start_ms == d1 + (n_days - 1) * DAY);
		assert_true(big.period_start_ms == d1 + n_days * DAY);
		/* Each full day: 24 h x 1/4 (+ 24 h x 3/7 while pod 1 ran). */
		for (i = 0; i < (int)big.n_history; i++) {
			int64_t day = big.history[i].start_ms;
			int64_t want = 6 * H1;

			if (day == d1)
				want = 18 * HOUR * 1000 / 4;
			else if (day >= d1 + 3 * DAY && day < d1 + 30 * DAY)
				want += 24 * HOUR * 3000 / 7;
			else if (day == d1 + 30 * DAY)
				want += HOUR * 3000 / 7;
			assert_true(big.history[i].used_micro - want <= 1 &&
				    want - big.history[i].used_micro <= 1);
		}
	}
}

static void test_restart_catch_up(void **state)
{
	struct gq_budget b = budget_of(GQ_PERIOD_WEEKLY, 0);
	int64_t t0 = T("2026-11-20T09:13:07.250Z"), t_end = t0 + 20 * DAY + 7777;
	struct gq_ledger one, many;
	struct gq_ledger_pod pods[4];
	int64_t t;

	(void)state;
	pods[0] = pod(t0 - HOUR, 0, 1, 7);
	pods[1] = pod(t0 + 123457, t0 + 9 * DAY + 1, 3, 7);
	pods[2] = pod(t0 + 2 * DAY, t0 + 2 * DAY + 999, 1, 3);
	pods[3] = pod(t0 + 5 * DAY + 17, 0, 5, 4);
	assert_int_equal(gq_ledger_init(&one, &b, 0, t0), GQ_OK);
	many = one;
	assert_int_equal(gq_ledger_advance(&one, &b, 0, H1, pods, 4, t_end), GQ_OK);
	for (t = t0; t < t_end; t += 10 * SEC + 3)
		assert_int_equal(gq_ledger_advance(&many, &b, 0, H1, pods, 4, t), GQ_OK);
	assert_int_equal(gq_ledger_advance(&many, &b, 0, H1, pods, 4, t_end), GQ_OK);
	assert_ledger_equal(&one, &many);
	assert_int_equal(one.n_history, 3);
	assert_contiguous(&one);
}

static void test_finished_pod_represented(void **state)
{
	struct gq_budget b = budget_of(GQ_PERIOD_MONTHLY, 0);
	int64_t t0 = T("2026-11-01T08:00:00Z");
	struct gq_ledger l, saved;
	struct gq_ledger_pod p = pod(t0 + HOUR, t0 + 3 * HOUR, 1, 1);

	(void)state;
	assert_int_equal(gq_ledger_init(&l, &b, 0, t0), GQ_OK);
	assert_int_equal(gq_ledger_advance(&l, &b, 0, H1, &p, 1, t0 + 4 * HOUR), GQ_OK);
	assert_true(l.used_micro == 2 * H1);
	saved = l; /* what was persisted */
	assert_int_equal(gq_ledger_advance(&l, &b, 0, H1, &p, 1, t0 + 5 * HOUR), GQ_OK);
	assert_true(l.used_micro == 2 * H1);
	/* After a restart, the same pod is presented again from the relist. */
	l = saved;
	assert_int_equal(gq_ledger_advance(&l, &b, 0, H1, &p, 1, t0 + 6 * HOUR), GQ_OK);
	assert_true(l.used_micro == 2 * H1);
	/* A pod that finished exactly at accounted_until also adds nothing. */
	p.end_ms = l.accounted_until_ms;
	assert_int_equal(gq_ledger_advance(&l, &b, 0, H1, &p, 1, t0 + 7 * HOUR), GQ_OK);
	assert_true(l.used_micro == 2 * H1);
}

/* A pod whose end (or start) moved after it was charged is re-charged by
 * the difference; a part in a closed period reaches that period's record. */
static void test_recharge_moved_times(void **state)
{
	struct gq_budget b = budget_of(GQ_PERIOD_DAILY, 0);
	int64_t d1 = T("2026-11-23T00:00:00Z");
	struct gq_ledger l, same;
	struct gq_ledger_pod was = pod(d1 + 20 * HOUR, d1 + 22 * HOUR, 2, 1), now_p = was;
	bool ch = true;

	(void)state;
	assert_int_equal(gq_ledger_init(&l, &b, 0, d1 + 19 * HOUR), GQ_OK);
	assert_int_equal(gq_ledger_advance(&l, &b, 0, H1, &was, 1, d1 + 23 * HOUR), GQ_OK);
	assert_true(l.used_micro == 4 * H1);
	/* Unchanged: nothing moves. */
	same = l;
	assert_int_equal(gq_ledger_recharge(&l, &was, &now_p, &ch), GQ_OK);
	assert_false(ch);
	assert_memory_equal(&l, &same, sizeof(l));
	/* The end moved 30 min later (still before accounted_until). */
	now_p.end_ms = d1 + 22 * HOUR + 30 * MIN;
	assert_int_equal(gq_ledger_recharge(&l, &was, &now_p, &ch), GQ_OK);
	assert_true(ch);
	assert_true(l.used_micro == 5 * H1);
	/* A later sweep with the new end adds nothing more. */
	assert_int_equal(gq_ledger_advance(&l, &b, 0, H1, &now_p, 1, d1 + DAY + HOUR), GQ_OK);
	assert_int_equal(l.n_history, 1);
	assert_true(l.history[0].used_micro == 5 * H1);
	assert_true(l.used_micro == 0);
	/* Now the end moves past midnight: the part before it goes to the
	 * closed day, the part after to the current one. */
	was = now_p;
	now_p.end_ms = d1 + DAY + 30 * MIN;
	assert_int_equal(gq_ledger_recharge(&l, &was, &now_p, &ch), GQ_OK);
	assert_true(l.history[0].used_micro == 8 * H1); /* 20:00-24:00 x 2 GPUs */
	assert_true(l.used_micro == H1);		/* 30 min x 2 GPUs */
	assert_contiguous(&l);
	/* A pod first seen started after its start was accounted: charged
	 * from its start (was: not started). */
	was = pod(0, 0, 1, 1);
	now_p = pod(d1 + DAY + 10 * MIN, 0, 1, 1);
	assert_int_equal(gq_ledger_recharge(&l, &was, &now_p, &ch), GQ_OK);
	assert_true(ch);
	assert_true(l.used_micro == H1 + 50 * 60 * INT64_C(1000000)); /* 50 min x 1 */
	/* A pod seen running past its real end is refunded, never below 0. */
	was = now_p;
	now_p.end_ms = d1 + DAY + 20 * MIN;
	assert_int_equal(gq_ledger_recharge(&l, &was, &now_p, &ch), GQ_OK);
	assert_true(l.used_micro == H1 + 10 * 60 * INT64_C(1000000));
	l.used_micro = 0;
	assert_int_equal(gq_ledger_recharge(&l, &now_p, &was, NULL), GQ_OK);
	assert_int_equal(gq_ledger_recharge(&l, &was, &now_p, NULL), GQ_OK);
	assert_true(l.used_micro == 0);
}

static void test_duration_rollover_anchor(void **state)
{
	struct gq_budget b = budget_of(GQ_PERIOD_DURATION, 6 * 3600);
	int64_t a = T("2026-03-10T12:34:56.789Z");
	struct gq_ledger l;
	struct gq_ledger_pod p = pod(a + HOUR, 0, 1, 1);

	(void)state;
	/* Counting from the allocation's creation: catch up two periods later. */
	assert_int_equal(gq_ledger_init(&l, &b, a, a), GQ_OK);
	assert_true(l.period_start_ms == a && l.period_end_ms == a + 6 * HOUR);
	assert_int_equal(gq_ledger_advance(&l, &b, a, H1, &p, 1, a + 13 * HOUR), GQ_OK);
	assert_int_equal(l.n_history, 2);
	assert_true(l.history[1].start_ms == a && l.history[1].used_micro == 5 * H1);
	assert_true(l.history[0].start_ms == a + 6 * HOUR && l.history[0].used_micro == 6 * H1);
	assert_true(l.period_start_ms == a + 12 * HOUR && l.used_micro == H1);
	assert_contiguous(&l);
}

/* spec.budget.period edited from Monthly to Daily mid-month. */
static void test_period_definition_changed(void **state)
{
	struct gq_budget m = budget_of(GQ_PERIOD_MONTHLY, 0);
	struct gq_budget d = budget_of(GQ_PERIOD_DAILY, 0);
	int64_t t0 = T("2026-11-10T00:00:00Z");
	struct gq_ledger l;
	struct gq_ledger_pod p = pod(t0 + HOUR, 0, 1, 1);

	(void)state;
	assert_int_equal(gq_ledger_init(&l, &m, 0, t0), GQ_OK);
	assert_int_equal(gq_ledger_advance(&l, &m, 0, H1, &p, 1, t0 + 30 * HOUR), GQ_OK);
	assert_true(l.used_micro == 29 * H1);
	assert_int_equal(gq_ledger_advance(&l, &d, 0, 2 * H1, &p, 1, t0 + 32 * HOUR), GQ_OK);
	assert_int_equal(l.n_history, 1);
	assert_true(l.history[0].start_ms == T("2026-11-01T00:00:00Z"));
	assert_true(l.history[0].end_ms == t0 + 30 * HOUR);
	assert_true(l.history[0].used_micro == 29 * H1);
	assert_true(l.period_start_ms == t0 + DAY && l.period_end_ms == t0 + 2 * DAY);
	/* 6 h recomputed for [Nov 11 00:00, 06:00) plus 2 h advanced. */
	assert_true(l.used_micro == 8 * H1);
	assert_int_equal(gq_ledger_check(&l), GQ_OK);
}

static void test_check(void **state)
{
	struct gq_budget b = budget_of(GQ_PERIOD_DAILY, 0);
	struct gq_ledger l, bad;

	(void)state;
	assert_int_equal(gq_ledger_init(&l, &b, 0, 5 * HOUR), GQ_OK);
	assert_int_equal(gq_ledger_check(&l), GQ_OK);
	bad = l;
	bad.period_end_ms = bad.period_start_ms;
	assert_int_equal(gq_ledger_check(&bad), GQ_EINVAL);
	bad = l;
	bad.accounted_until_ms = bad.period_end_ms + 1;
	assert_int_equal(gq_ledger_check(&bad), GQ_EINVAL);
	bad = l;
	bad.accounted_until_ms = bad.period_start_ms - 1;
	assert_int_equal(gq_ledger_check(&bad), GQ_EINVAL);
	bad = l;
	bad.n_history = GQ_LEDGER_HISTORY + 1;
	assert_int_equal(gq_ledger_check(&bad), GQ_EINVAL);
	bad = l;
	bad.n_history = 1;
	bad.history[0].start_ms = 10;
	bad.history[0].end_ms = 10;
	assert_int_equal(gq_ledger_check(&bad), GQ_EINVAL);
	/* accounted_until == period_end (e.g. hand-written) is accepted and rolls over. */
	bad = l;
	bad.accounted_until_ms = bad.period_end_ms;
	assert_int_equal(gq_ledger_check(&bad), GQ_OK);
	assert_int_equal(gq_ledger_advance(&bad, &b, 0, 0, NULL, 0, DAY + HOUR), GQ_OK);
	assert_int_equal(bad.n_history, 1);
	assert_true(bad.period_start_ms == DAY && bad.accounted_until_ms == DAY + HOUR);
}

/* ---------------------------------------------------------------- */
/* Weights                                                            */
/* ---------------------------------------------------------------- */

static void check_res_weight(const char *name, int64_t replicas, int64_t num, int64_t den)
{
	struct gq_cost_weight w = {-1, -1};

	assert_int_equal(gq_cost_resource_weight(&w, name, replicas, NULL), GQ_OK);
	assert_true(w.num == num);
	assert_true(w.den == den);
}

static void test_resource_weights(void **state)
{
	struct gq_cost_weight w;

	(void)state;
	check_res_weight("nvidia.com/gpu", 0, 1, 1);
	check_res_weight("nvidia.com/gpu", 1, 1, 1);
	check_res_weight("nvidia.com/gpu", 4, 1, 4);
	check_res_weight("nvidia.com/gpu.shared", 4, 1, 4);
	check_res_weight("nvidia.com/mig-1g.10gb", 0, 1, 7);
	check_res_weight("nvidia.com/mig-3g.40gb", 0, 3, 7);
	check_res_weight("nvidia.com/mig-7g.80gb", 0, 1, 1);
	check_res_weight("nvidia.com/mig-1g.10gb.me", 0, 1, 7);
	check_res_weight("nvidia.com/mig-2g.35gb", 4, 2, 7); /* replicas only for gpu */
	check_res_weight("nvidia.com/mig-9g.90gb", 0, 1, 1); /* no such slicing: other */
	check_res_weight("nvidia.com/mig-xg.10gb", 0, 1, 1);
	check_res_weight("nvidia.com/pgpu", 0, 1, 1);
	check_res_weight("cpu", 4, 0, 1);
	check_res_weight("amd.com/gpu", 0, 0, 1);
	assert_int_equal(gq_cost_resource_weight(&w, NULL, 0, NULL), GQ_EINVAL);
	assert_true(gq_cost_weight_micro(&(struct gq_cost_weight){1, 7}) == 142857);
	assert_true(gq_cost_weight_micro(&(struct gq_cost_weight){3, 7}) == 428571);
	assert_true(gq_cost_weight_micro(&(struct gq_cost_weight){2, 3}) == 666667);
	assert_true(gq_cost_weight_micro(&(struct gq_cost_weight){9, 4}) == 2250000);
	assert_true(gq_cost_weight_micro(&(struct gq_cost_weight){0, 1}) == 0);
}

static void test_weight_overrides(void **state)
{
	struct gq_res items[2];
	struct gq_res_list ov = {items, 2};
	struct gq_cost_weight w;
	struct gq_cost_req r[] = {{"nvidia.com/mig-1g.10gb", 2}, {"nvidia.com/gpu", 1}};
	struct gq_cost_container c = {r, 2, false, false};

	(void)state;
	items[0].name = "nvidia.com/gpu";
	assert_int_equal(gq_quantity_parse(&items[0].q, "2"), GQ_OK);
	items[1].name = "nvidia.com/mig-1g.10gb";
	assert_int_equal(gq_quantity_parse(&items[1].q, "0.2"), GQ_OK);
	assert_int_equal(gq_cost_resource_weight(&w, "nvidia.com/mig-1g.10gb", 0, &ov), GQ_OK);
	assert_true(w.num == 1 && w.den == 5);
	/* The override replaces the time-slicing default too. */
	assert_int_equal(gq_cost_resource_weight(&w, "nvidia.com/gpu", 4, &ov), GQ_OK);
	assert_true(w.num == 2 && w.den == 1);
	assert_int_equal(gq_cost_resource_weight(&w, "nvidia.com/mig-3g.40gb", 0, &ov), GQ_OK);
	assert_true(w.num == 3 && w.den == 7);
	/* 2 x 0.2 + 1 x 2 = 12/5. */
	assert_int_equal(gq_cost_pod_weight(&w, &c, 1, 4, &ov), GQ_OK);
	assert_true(w.num == 12 && w.den == 5);
	items[1].q.milli = -1;
	assert_int_equal(gq_cost_resource_weight(&w, "nvidia.com/mig-1g.10gb", 0, &ov), GQ_EINVAL);
}

static void test_pod_weight(void **state)
{
	struct gq_cost_req gpu1[] = {{"cpu", 4}, {"nvidia.com/gpu", 1}};
	struct gq_cost_req gpu2[] = {{"nvidia.com/gpu", 2}, {"memory", 100}};
	struct gq_cost_req gpu3[] = {{"nvidia.com/gpu", 3}};
	struct gq_cost_req mig[] = {{"nvidia.com/mig-1g.10gb", 1}, {"nvidia.com/mig-3g.40gb", 1}};
	struct gq_cost_req bad[] = {{"nvidia.com/gpu", -1}};
	struct gq_cost_container c[4];
	struct gq_cost_weight w;

	(void)state;
	/* Two containers, 1 + 2 GPUs; init with 3: max(3, 3) = 3. */
	c[0] = (struct gq_cost_container){gpu1, 2, false, false};
	c[1] = (struct gq_cost_container){gpu2, 2, false, false};
	c[2] = (struct gq_cost_container){gpu3, 1, true, false};
	assert_int_equal(gq_cost_pod_weight(&w, c, 3, 0, NULL), GQ_OK);
	assert_true(w.num == 3 && w.den == 1);
	/* Init 3 > sum 1: init wins. */
	assert_int_equal(gq_cost_pod_weight(&w, &c[1 + 1], 1, 0, NULL), GQ_OK);
	assert_true(w.num == 3 && w.den == 1);
	c[1] = (struct gq_cost_container){gpu1, 2, true, false};
	assert_int_equal(gq_cost_pod_weight(&w, c, 3, 0, NULL), GQ_OK);
	assert_true(w.num == 3 && w.den == 1); /* max(1, max(1, 3)) */
	/* Init 1 < sum 1 + 2. */
	c[1] = (struct gq_cost_container){gpu2, 2, false, false};
	c[2] = (struct gq_cost_container){gpu1, 2, true, false};
	assert_int_equal(gq_cost_pod_weight(&w, c, 3, 0, NULL), GQ_OK);
	assert_true(w.num == 3 && w.den == 1);
	/* Time-sliced node, 4 replicas: 3 GPUs = 3/4. */
	assert_int_equal(gq_cost_pod_weight(&w, c, 3, 4, NULL), GQ_OK);
	assert_true(w.num == 3 && w.den == 4);
	/* A sidecar (1 GPU) adds to the regular containers (2) = 3, and to the
	 * init container after it (3 + 1 = 4): 4 wins. */
	c[0] = (struct gq_cost_container){gpu1, 2, true, true};
	c[1] = (struct gq_cost_container){gpu3, 1, true, false};
	c[2] = (struct gq_cost_container){gpu2, 2, false, false};
	assert_int_equal(gq_cost_pod_weight(&w, c, 3, 0, NULL), GQ_OK);
	assert_true(w.num == 4 && w.den == 1);
	/* An init container before the sidecar does not add it: max(3, 1+2) = 3. */
	c[0] = (struct gq_cost_container){gpu3, 1, true, false};
	c[1] = (struct gq_cost_container){gpu1, 2, true, true};
	assert_int_equal(gq_cost_pod_weight(&w, c, 3, 0, NULL), GQ_OK);
	assert_true(w.num == 3 && w.den == 1);
	/* MIG: 1/7 + 3/7 = 4/7; two such containers = 8/7; plus 1 GPU = 15/7. */
	c[0] = (struct gq_cost_container){mig, 2, false, false};
	assert_int_equal(gq_cost_pod_weight(&w, c, 1, 0, NULL), GQ_OK);
	assert_true(w.num == 4 && w.den == 7);
	c[1] = c[0];
	assert_int_equal(gq_cost_pod_weight(&w, c, 2, 0, NULL), GQ_OK);
	assert_true(w.num == 8 && w.den == 7);
	c[2] = (struct gq_cost_container){gpu1, 2, false, false};
	assert_int_equal(gq_cost_pod_weight(&w, c, 3, 0, NULL), GQ_OK);
	assert_true(w.num == 15 && w.den == 7);
	/* No GPUs at all; no containers. */
	c[0] = (struct gq_cost_container){gpu1, 1, false, false}; /* cpu only */
	assert_int_equal(gq_cost_pod_weight(&w, c, 1, 0, NULL), GQ_OK);
	assert_true(w.num == 0 && w.den == 1);
	assert_int_equal(gq_cost_pod_weight(&w, NULL, 0, 0, NULL), GQ_OK);
	assert_true(w.num == 0 && w.den == 1);
	/* Invalid input. */
	c[0] = (struct gq_cost_container){bad, 1, false, false};
	assert_int_equal(gq_cost_pod_weight(&w, c, 1, 0, NULL), GQ_EINVAL);
	c[0] = (struct gq_cost_container){NULL, 1, false, false};
	assert_int_equal(gq_cost_pod_weight(&w, c, 1, 0, NULL), GQ_EINVAL);
	c[0] = (struct gq_cost_container){gpu1, GQ_COST_MAX_REQS + 1, false, false};
	assert_int_equal(gq_cost_pod_weight(&w, c, 1, 0, NULL), GQ_ETOOBIG);
}

/* ---------------------------------------------------------------- */
/* Budget helpers and text                                            */
/* ---------------------------------------------------------------- */

static void test_budget_helpers(void **state)
{
	struct gq_budget b = budget_of(GQ_PERIOD_MONTHLY, 0);
	struct gq_ledger l;
	int64_t bm = 0;

	(void)state;
	assert_int_equal(gq_ledger_budget_micro(&b, &bm), GQ_OK);
	assert_true(bm == 100 * H1);
	assert_int_equal(gq_quantity_parse(&b.gpu_hours, "0.5"), GQ_OK);
	assert_int_equal(gq_ledger_budget_micro(&b, &bm), GQ_OK);
	assert_true(bm == H1 / 2);
	b.gpu_hours.milli = INT64_MAX / 1000;
	assert_int_equal(gq_ledger_budget_micro(&b, &bm), GQ_ERANGE);

	memset(&l, 0, sizeof(l));
	l.used_micro = 30 * H1;
	assert_true(gq_ledger_remaining(&l, 100 * H1) == 70 * H1);
	assert_false(gq_ledger_exhausted(&l, 100 * H1));
	assert_false(gq_cost_warn_reached(l.used_micro, 100 * H1, 80));
	assert_true(gq_cost_warn_reached(l.used_micro, 100 * H1, 30));
	assert_false(gq_cost_warn_reached(l.used_micro, 100 * H1, 0));
	l.used_micro = 80 * H1 - 1;
	assert_false(gq_cost_warn_reached(l.used_micro, 100 * H1, 80));
	l.used_micro = 80 * H1;
	assert_true(gq_cost_warn_reached(l.used_micro, 100 * H1, 80));
	/* ceil: 80 % of 7 micro is 5.6, reached at 6. */
	l.used_micro = 5;
	assert_false(gq_cost_warn_reached(l.used_micro, 7, 80));
	l.used_micro = 6;
	assert_true(gq_cost_warn_reached(l.used_micro, 7, 80));
	l.used_micro = 100 * H1;
	assert_true(gq_ledger_remaining(&l, 100 * H1) == 0);
	assert_true(gq_ledger_exhausted(&l, 100 * H1));
	l.used_micro = 130 * H1;
	assert_true(gq_ledger_remaining(&l, 100 * H1) == 0);
	assert_true(gq_ledger_exhausted(&l, 100 * H1));
	assert_true(gq_cost_warn_reached(l.used_micro, INT64_MAX, 1) == false);
	l.used_micro = 0;
	assert_true(gq_ledger_exhausted(&l, 0));
	assert_true(gq_ledger_remaining(&l, 0) == 0);
}

static void check_hours(int64_t micro, const char *want)
{
	char buf[GQ_LEDGER_HOURS_STRLEN];

	gq_ledger_format_hours(micro, buf);
	assert_string_equal(buf, want);
}

static void test_hours_format(void **state)
{
	(void)state;
	check_hours(0, "0");
	check_hours(H1 / 100, "0.01");
	check_hours(12 * H1 + H1 / 2, "12.5");
	check_hours(3 * H1, "3");
	check_hours(-3 * H1, "-3");
	check_hours(3600, "0.000001");
	check_hours(1800, "0.000001"); /* half rounds away from zero */
	check_hours(1799, "0");
	check_hours(-1799, "0");
	check_hours(-1800, "-0.000001");
	check_hours(H1 / 7, "0.142857");
	check_hours(1234 * H1 + 3600 * 10, "1234.00001");
	check_hours(INT64_MAX, "2562047788.015216");
	check_hours(INT64_MIN, "-2562047788.015216");
}

static void test_hours_parse(void **state)
{
	char buf[GQ_LEDGER_HOURS_STRLEN];
	int64_t v = 0, m;
	int i;

	(void)state;
	assert_int_equal(gq_ledger_parse_hours("12.5", &v), GQ_OK);
	assert_true(v == 12 * H1 + H1 / 2);
	assert_int_equal(gq_ledger_parse_hours("0.01", &v), GQ_OK);
	assert_true(v == H1 / 100);
	assert_int_equal(gq_ledger_parse_hours("0", &v), GQ_OK);
	assert_true(v == 0);
	assert_int_equal(gq_ledger_parse_hours("-3", &v), GQ_OK);
	assert_true(v == -3 * H1);
	assert_int_equal(gq_ledger_parse_hours("0.00000001", &v), GQ_OK);
	assert_true(v == 36);
	assert_int_equal(gq_ledger_parse_hours("0.000000001", &v), GQ_EPARSE);
	assert_int_equal(gq_ledger_parse_hours("", &v), GQ_EPARSE);
	assert_int_equal(gq_ledger_parse_hours("-", &v), GQ_EPARSE);
	assert_int_equal(gq_ledger_parse_hours(".5", &v), GQ_EPARSE);
	assert_int_equal(gq_ledger_parse_hours("1.", &v), GQ_EPARSE);
	assert_int_equal(gq_ledger_parse_hours("1e3", &v), GQ_EPARSE);
	assert_int_equal(gq_ledger_parse_hours(" 1", &v), GQ_EPARSE);
	assert_int_equal(gq_ledger_parse_hours("+1", &v), GQ_EPARSE);
	assert_int_equal(gq_ledger_parse_hours("2562047789", &v), GQ_ERANGE);
	assert_int_equal(gq_ledger_parse_hours("99999999999999999999999", &v), GQ_ERANGE);
	/* Round trip for values on the 1e-6 GPU-hour grid. */
	srand(7);
	for (i = 0; i < 2000; i++) {
		m = ((int64_t)rand() * 4096 + rand() % 4096) * 3600 * (i % 2 ? 1 : -1);
		gq_ledger_format_hours(m, buf);
		assert_int_equal(gq_ledger_parse_hours(buf, &v), GQ_OK);
		assert_true(v == m);
	}
}

static void test_time_parse(void **state)
{
	int64_t ms = 0;

	(void)state;
	/* Reference values from `date -u -d ... +%s`. */
	assert_int_equal(gq_rfc3339_parse("2026-11-23T21:00:00Z", &ms), GQ_OK);
	assert_true(ms == INT64_C(1795467600000));
	assert_int_equal(gq_rfc3339_parse("2026-11-23T00:00:00Z", &ms), GQ_OK);
	assert_true(ms == INT64_C(1795392000000));
	assert_int_equal(gq_rfc3339_parse("1970-01-01T00:00:00Z", &ms), GQ_OK);
	assert_true(ms == 0);
	assert_int_equal(gq_rfc3339_parse("2026-11-23T21:00:00.123Z", &ms), GQ_OK);
	assert_true(ms == INT64_C(1795467600123));
	assert_int_equal(gq_rfc3339_parse("2026-11-23T21:00:00.5Z", &ms), GQ_OK);
	assert_true(ms == INT64_C(1795467600500));
	assert_int_equal(gq_rfc3339_parse("2026-11-23T21:00:00.123456789Z", &ms), GQ_OK);
	assert_true(ms == INT64_C(1795467600123));
	assert_int_equal(gq_rfc3339_parse("2026-11-23t21:00:00z", &ms), GQ_OK);
	assert_true(ms == INT64_C(1795467600000));
	assert_int_equal(gq_rfc3339_parse("2026-11-23T22:30:00+01:30", &ms), GQ_OK);
	assert_true(ms == INT64_C(1795467600000));
	assert_int_equal(gq_rfc3339_parse("2026-11-23T16:00:00.250-05:00", &ms), GQ_OK);
	assert_true(ms == INT64_C(1795467600250));
	assert_int_equal(gq_rfc3339_parse("2026-11-24T00:00:00+03:00", &ms), GQ_OK);
	assert_true(ms == INT64_C(1795467600000));
	assert_int_equal(gq_rfc3339_parse("1969-12-31T23:59:59.999Z", &ms), GQ_OK);
	assert_true(ms == -1);
	assert_int_equal(gq_rfc3339_parse("2028-02-29T00:00:00Z", &ms), GQ_OK);

	assert_int_equal(gq_rfc3339_parse("2027-02-29T00:00:00Z", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2100-02-29T00:00:00Z", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-13-01T00:00:00Z", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-00-01T00:00:00Z", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-04-31T00:00:00Z", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-11-23T24:00:00Z", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-11-23T23:60:00Z", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-11-23T23:59:60Z", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-11-23T21:00:00", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-11-23 21:00:00Z", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-11-23T21:00:00.Z", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-11-23T21:00:00.1234567890Z", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-11-23T21:00:00ZZ", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-11-23T21:00:00+0100", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-11-23T21:00:00+24:00", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-11-23T21:00:00+01:60", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("26-11-23T21:00:00Z", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026-1-23T21:00:00Z", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("2026", &ms), GQ_EPARSE);

	/* The years gq_rfc3339_format_ms writes, in UTC: an offset cannot move a
	 * time out of 0000..9999 (it could not be persisted again). */
	assert_int_equal(gq_rfc3339_parse("0000-01-01T00:00:00Z", &ms), GQ_OK);
	assert_true(ms == INT64_C(-62167219200000));
	assert_int_equal(gq_rfc3339_parse("9999-12-31T23:59:59.999Z", &ms), GQ_OK);
	assert_true(ms == INT64_C(253402300799999));
	assert_int_equal(gq_rfc3339_parse("0000-01-01T00:00:00-00:01", &ms), GQ_OK);
	assert_int_equal(gq_rfc3339_parse("0000-01-01T00:00:00+00:01", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("9999-12-31T23:59:59.999-00:01", &ms), GQ_EPARSE);
	assert_int_equal(gq_rfc3339_parse("9999-12-31T23:59:59+00:01", &ms), GQ_OK);
}

static void test_time_format(void **state)
{
	char buf[GQ_RFC3339_STRLEN];
	int64_t ms, back;
	int i;

	(void)state;
	assert_int_equal(gq_rfc3339_format_ms(INT64_C(1795467600000), buf), GQ_OK);
	assert_string_equal(buf, "2026-11-23T21:00:00Z");
	assert_int_equal(gq_rfc3339_format_ms(INT64_C(1795467600123), buf), GQ_OK);
	assert_string_equal(buf, "2026-11-23T21:00:00.123Z");
	assert_int_equal(gq_rfc3339_format_ms(INT64_C(1795467600005), buf), GQ_OK);
	assert_string_equal(buf, "2026-11-23T21:00:00.005Z");
	assert_int_equal(gq_rfc3339_format_ms(0, buf), GQ_OK);
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	assert_int_equal(gq_rfc3339_format_ms(-1, buf), GQ_OK);
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
	assert_int_equal(gq_rfc3339_format_ms(T("0000-01-01T00:00:00Z"), buf), GQ_OK);
	assert_string_equal(buf, "0000-01-01T00:00:00Z");
	assert_int_equal(gq_rfc3339_format_ms(T("9999-12-31T23:59:59.999Z"), buf), GQ_OK);
	assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
	assert_int_equal(gq_rfc3339_format_ms(T("9999-12-31T23:59:59.999Z") + 1, buf), GQ_ERANGE);
	assert_string_equal(buf, "");
	assert_int_equal(gq_rfc3339_format_ms(T("0000-01-01T00:00:00Z") - 1, buf), GQ_ERANGE);
	assert_int_equal(gq_rfc3339_format_ms(INT64_MAX, buf), GQ_ERANGE);
	assert_int_equal(gq_rfc3339_format_ms(INT64_MIN, buf), GQ_ERANGE);
	/* Round trips over years 0000..9999. */
	srand(11);
	for (i = 0; i < 20000; i++) {
		ms = (((int64_t)rand() << 31) ^ rand()) % INT64_C(315569520000000) -
		     INT64_C(62167219200000);
		if (i % 3 == 0)
			ms -= ms % 1000;
		assert_int_equal(gq_rfc3339_format_ms(ms, buf), GQ_OK);
		assert_int_equal(gq_rfc3339_parse(buf, &back), GQ_OK);
		assert_true(back == ms);
	}
}

/* ---------------------------------------------------------------- */
/* Property test                                                      */
/* ---------------------------------------------------------------- */

struct prng {
	uint64_t s;
};

static uint64_t next_u64(struct prng *r)
{
	/* splitmix64 */
	uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static int64_t rnd(struct prng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(next_u64(r) % (uint64_t)(hi - lo + 1));
}

/* Exact usage of p over [a, b) in micro GPU-seconds, as a fraction's floor,
 * computed independently in 128 bits from the overlap length. */
static int64_t truth(const struct gq_ledger_pod *p, int64_t a, int64_t b)
{
	int64_t lo, hi;

	if (p->start_ms == 0)
		return 0;
	lo = a > p->start_ms ? a : p->start_ms;
	hi = p->end_ms != 0 && p->end_ms < b ? p->end_ms : b;
	if (hi <= lo)
		return 0;
	return (int64_t)((i128)(hi - lo) * 1000 * p->weight.num / p->weight.den);
}

#define NPODS 40

static void property_run(enum gq_period_kind kind, int64_t seconds, uint64_t seed)
{
	static const int64_t weights[][2] = {{1, 1}, {1, 7}, {3, 7},  {1, 4}, {1, 5},
					     {8, 7}, {2, 1}, {12, 5}, {0, 1}};
	struct gq_budget b = budget_of(kind, seconds);
	struct prng r = {seed};
	struct gq_ledger_pod pods[NPODS];
	struct gq_ledger one, many;
	int64_t t0 = T("2027-12-20T07:00:00Z"), anchor = t0 - 3 * DAY - 12345;
	int64_t t_end = t0 + 75 * DAY + rnd(&r, 0, DAY), t, want, sum;
	size_t i, k, steps = 0;

	for (i = 0; i < NPODS; i++) {
		size_t wi = (size_t)rnd(&r, 0, GQ_ARRAY_LEN(weights) - 1);
		int64_t s = t0 + rnd(&r, -10 * DAY, 80 * DAY);

		pods[i] = pod(s, rnd(&r, 0, 3) == 0 ? 0 : s + rnd(&r, 1, 20 * DAY), weights[wi][0],
			      weights[wi][1]);
		if (rnd(&r, 0, 15) == 0)
			pods[i].start_ms = 0;
	}
	assert_int_equal(gq_ledger_init(&one, &b, anchor, t0), GQ_OK);
	many = one;
	assert_int_equal(gq_ledger_advance(&one, &b, anchor, 9 * H1, pods, NPODS, t_end), GQ_OK);
	for (t = t0; t < t_end; steps++) {
		/* Mostly small steps, some of hours and days, some of 1 ms. */
		switch (rnd(&r, 0, 9)) {
		case 0: t += 1; break;
		case 1: t += rnd(&r, 1, 2 * DAY); break;
		case 2: t += rnd(&r, 1, 6 * HOUR); break;
		default: t += rnd(&r, 1, 20 * MIN); break;
		}
		if (t > t_end)
			t = t_end;
		assert_int_equal(gq_ledger_advance(&many, &b, anchor, 9 * H1, pods, NPODS, t),
				 GQ_OK);
	}
	assert_true(steps > 100);
	/* Step sizes do not matter, to the micro GPU-second. */
	assert_ledger_equal(&one, &many);
	assert_contiguous(&one);
	assert_true(one.accounted_until_ms == t_end);
	/* Each recorded period matches the closed form to within 1 micro
	 * GPU-second per pod (the ledger floors once per pod, not per step). */
	for (k = 0; k <= one.n_history; k++) {
		int64_t ps = k < one.n_history ? one.history[k].start_ms : one.period_start_ms;
		int64_t pe = k < one.n_history ? one.history[k].end_ms : one.accounted_until_ms;
		int64_t used = k < one.n_history ? one.history[k].used_micro : one.used_micro;
		int64_t s_ps, s_pe;

		assert_int_equal(gq_ledger_period_at(&b, anchor, ps, &s_ps, &s_pe), GQ_OK);
		assert_true(s_ps == ps);
		assert_true(k == one.n_history || s_pe == pe);
		if (ps < t0)
			ps = t0;
		want = 0;
		for (i = 0; i < NPODS; i++)
			want += truth(&pods[i], ps, pe);
		assert_true(used - want <= NPODS && want - used <= NPODS);
	}
	/* When nothing was evicted, the periods add up to the whole span. */
	if (one.n_history < GQ_LEDGER_HISTORY) {
		sum = one.used_micro;
		for (k = 0; k < one.n_history; k++)
			sum += one.history[k].used_micro;
		want = 0;
		for (i = 0; i < NPODS; i++)
			want += truth(&pods[i], t0, t_end);
		assert_true(sum - want <= NPODS && want - sum <= NPODS);
	}
}

static void test_property(void **state)
{
	uint64_t seed;

	(void)state;
	for (seed = 1; seed <= 4; seed++) {
		property_run(GQ_PERIOD_MONTHLY, 0, seed);
		property_run(GQ_PERIOD_WEEKLY, 0, seed + 100);
		property_run(GQ_PERIOD_DAILY, 0, seed + 200);
		property_run(GQ_PERIOD_DURATION, 7 * 3600 + 17, seed + 300);
		property_run(GQ_PERIOD_DURATION, 10 * 86400, seed + 400);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_period_monthly),
	    cmocka_unit_test(test_period_weekly),
	    cmocka_unit_test(test_period_daily),
	    cmocka_unit_test(test_period_duration),
	    cmocka_unit_test(test_period_extremes),
	    cmocka_unit_test(test_pod_usage),
	    cmocka_unit_test(test_init_and_advance),
	    cmocka_unit_test(test_rollover),
	    cmocka_unit_test(test_several_periods_crossed),
	    cmocka_unit_test(test_history_cap),
	    cmocka_unit_test(test_restart_catch_up),
	    cmocka_unit_test(test_finished_pod_represented),
	    cmocka_unit_test(test_duration_rollover_anchor),
	    cmocka_unit_test(test_period_definition_changed),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_resource_weights),
	    cmocka_unit_test(test_weight_overrides),
	    cmocka_unit_test(test_pod_weight),
	    cmocka_unit_test(test_budget_helpers),
	    cmocka_unit_test(test_hours_format),
	    cmocka_unit_test(test_hours_parse),
	    cmocka_unit_test(test_recharge_moved_times),
	    cmocka_unit_test(test_time_parse),
	    cmocka_unit_test(test_time_format),
	    cmocka_unit_test(test_property),
	};
	return cmocka_run_group_tests_name("ledger", tests, NULL, NULL);
}
