/* Unit tests for metrics.c (the Prometheus text exposition: grouping,
 * escaping, values, histograms) and for the per-team series of registry.c
 * (figures, a GPU-second counter that never goes down across a period
 * rollover, ledger.c's gq_ledger_accounted_since). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "registry.h"
#include "buf.h"
#include "gq.h"
#include "ledger.h"
#include "metrics.h"

#define H GQ_LEDGER_MICRO_PER_HOUR

/* Renders m into a new heap string. */
static char *render(struct gq_metrics *m)
{
	struct gq_buf b;

	gq_buf_init(&b, 1 << 20);
	assert_int_equal(gq_metrics_render(m, &b), GQ_OK);
	return gq_buf_steal(&b);
}

/* The value of the sample line that starts with `series ` in text, or NaN. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return NAN;
}

static size_t count(const char *text, const char *needle)
{
	size_t k = 0;

	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		k++;
	return k;
}

/* Samples added in any order come out grouped under one HELP and TYPE. */
static void test_families_grouped(void **state)
{
	struct gq_metrics *m = gq_metrics_new();
	char *t;

	(void)state;
	gq_metrics_family(m, "a_total", GQ_METRIC_COUNTER, "A things.");
	gq_metrics_family(m, "b", GQ_METRIC_GAUGE, "B level.");
	gq_metrics_family(m, "a_total", GQ_METRIC_GAUGE, "ignored: declared already");
	gq_metrics_family(m, "empty", GQ_METRIC_GAUGE, "No samples.");
	assert_int_equal(gq_metrics_add(m, "a_total", 1, "x", "1", NULL), GQ_OK);
	assert_int_equal(gq_metrics_add(m, "b", 2.5, NULL), GQ_OK);
	assert_int_equal(gq_metrics_add(m, "a_total", 3, "x", "2", NULL), GQ_OK);
	assert_int_equal(gq_metrics_add(m, "nope", 1, NULL), GQ_EINVAL);
	t = render(m);
	assert_string_equal(t, "# HELP a_total A things.\n"
			       "# TYPE a_total counter\n"
			       "a_total{x=\"1\"} 1\n"
			       "a_total{x=\"2\"} 3\n"
			       "# HELP b B level.\n"
			       "# TYPE b gauge\n"
			       "b 2.5\n"
			       "# HELP empty No samples.\n"
			       "# TYPE empty gauge\n");
	free(t);
	gq_metrics_free(m);
}

/* Label values escape \, " and newline; help texts \ and newline. */
static void test_escaping(void **state)
{
	struct gq_metrics *m = gq_metrics_new();
	char *t;

	(void)state;
	gq_metrics_family(m, "e", GQ_METRIC_GAUGE, "back\\slash \"quoted\"\nline");
	gq_metrics_add(m, "e", 1, "team", "a\\b\"c\nd", "other", "", NULL);
	t = render(m);
	assert_string_equal(t, "# HELP e back\\\\slash \"quoted\"\\nline\n"
			       "# TYPE e gauge\n"
			       "e{team=\"a\\\\b\\\"c\\nd\",other=\"\"} 1\n");
	free(t);
	gq_metrics_free(m);
}

static void test_values(void **state)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {{0, "0"},
		     {-3, "-3"},
		     {1e15, "1000000000000000"},
		     {0.25, "0.25"},
		     {1.0 / 3, "0.33333333333333331"},
		     {NAN, "NaN"},
		     {INFINITY, "+Inf"},
		     {-INFINITY, "-Inf"},
		     {1e300, "1.0000000000000001e+300"}};

	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(cases); i++) {
		struct gq_buf b;

		gq_buf_init(&b, 64);
		assert_int_equal(gq_metrics_format_value(&b, cases[i].v), GQ_OK);
		assert_string_equal(gq_buf_str(&b), cases[i].want);
		gq_buf_free(&b);
	}
}

/* Buckets are cumulative, +Inf equals _count, _sum is in seconds; bounds
 * are inclusive (le). */
static void test_histogram(void **state)
{
	static const double bounds[] = {0.001, 0.01, 1};
	struct gq_metrics_histogram h;
	struct gq_metrics *m = gq_metrics_new();
	char *t;

	(void)state;
	gq_metrics_histogram_init(&h, bounds, GQ_ARRAY_LEN(bounds));
	gq_metrics_histogram_observe(&h, 0.0005);
	gq_metrics_histogram_observe(&h, 0.001);
	gq_metrics_histogram_observe(&h, 0.5);
	gq_metrics_histogram_observe(&h, 7);
	gq_metrics_histogram_observe(&h, -1); /* counts as 0 */
	gq_metrics_family(m, "lat_seconds", GQ_METRIC_HISTOGRAM, "Latency.");
	assert_int_equal(gq_metrics_add(m, "lat_seconds", 1, NULL), GQ_EINVAL);
	assert_int_equal(gq_metrics_add_histogram(m, "lat_seconds", &h, "path", "/a", NULL), GQ_OK);
	t = render(m);
	assert_string_equal(t, "# HELP lat_seconds Latency.\n"
			       "# TYPE lat_seconds histogram\n"
			       "lat_seconds_bucket{path=\"/a\",le=\"0.001\"} 3\n"
			       "lat_seconds_bucket{path=\"/a\",le=\"0.01\"} 3\n"
			       "lat_seconds_bucket{path=\"/a\",le=\"1\"} 4\n"
			       "lat_seconds_bucket{path=\"/a\",le=\"+Inf\"} 5\n"
			       "lat_seconds_sum{path=\"/a\"} 7.5015000000000001\n"
			       "lat_seconds_count{path=\"/a\"} 5\n");
	free(t);
	gq_metrics_free(m);
}

/* A family over its size bound makes render fail (no silent truncation). */
static void test_render_bound(void **state)
{
	struct gq_metrics *m = gq_metrics_new();
	struct gq_buf b;

	(void)state;
	gq_metrics_family(m, "x", GQ_METRIC_GAUGE, "X.");
	gq_metrics_add(m, "x", 1, NULL);
	gq_buf_init(&b, 10);
	assert_int_equal(gq_metrics_render(m, &b), GQ_ETOOBIG);
	gq_buf_free(&b);
	gq_metrics_free(m);
}

/* Advancing a ledger over a period rollover: the accounted parts add up to
 * the pod's whole usage, though used_micro restarts with the new period. */
static void test_accounted_across_rollover(void **state)
{
	struct gq_budget b = {.present = true, .period = GQ_PERIOD_DURATION, .period_seconds = 60};
	struct gq_ledger_pod pod = {.start_ms = 10000, .end_ms = 0, .weight = {2, 1}};
	struct gq_ledger l, prev;
	int64_t total = 0;

	(void)state;
	assert_int_equal(gq_ledger_init(&l, &b, 0, 0), GQ_OK);
	for (int64_t now = 7000; now <= 200000; now += 7000) {
		int64_t d;

		prev = l;
		assert_int_equal(gq_ledger_advance(&l, &b, 0, H, &pod, 1, now), GQ_OK);
		d = gq_ledger_accounted_since(&prev, &l);
		assert_true(d >= 0);
		total += d;
	}
	/* 2 GPUs from 10 s to 196 s. */
	assert_int_equal(total, 2 * (196000 - 10000) * 1000);
	assert_true(l.n_history >= 3);
	/* Not later: nothing. */
	assert_int_equal(gq_ledger_accounted_since(&l, &prev), 0);
	assert_int_equal(gq_ledger_accounted_since(&l, &l), 0);
}

/* The per-team series: gauges follow the figures, the counter only grows
 * (it keeps growing when used drops at a rollover), quota and use per
 * resource, decisions pre-set to 0 for every decision. */
static void test_team_series(void **state)
{
	struct gq_registry *reg = NULL;
	static const char *const ns[] = {"ml-train"};
	struct gq_adm_team adm = {.name = "ml"};
	struct gq_registry_res res[] = {{"nvidia.com/gpu", 8, 3},
					{"nvidia.com/mig-1g.10gb", 14, 0}};
	struct gq_registry_figures f = {.has_budget = true,
					.budget_micro = 10 * H,
					.used_micro = 9 * H,
					.period_end_ms = 1775001600000,
					.warn = true,
					.pods_running = 2,
					.pods_held = 1,
					.accounted_micro = 5000000,
					.res = res,
					.n_res = 2};
	struct gq_metrics *m;
	char *t;

	(void)state;
	gq_registry_new(&reg);
	gq_registry_set_admission(reg, "ml", ns, 1, &adm);
	gq_registry_set_figures(reg, "ml", &f);
	/* the next period: used restarts, the counter goes on */
	f.used_micro = H / 2;
	f.accounted_micro = 2500000;
	f.exhausted = true;
	gq_registry_set_figures(reg, "ml", &f);
	m = gq_metrics_new();
	gq_registry_metrics(reg, m);
	t = render(m);
	assert_true(sample(t, "gpuquota_team_gpu_seconds_total{team=\"ml\"}") == 7.5);
	assert_true(sample(t, "gpuquota_team_used_gpu_seconds{team=\"ml\"}") == 1800);
	assert_true(sample(t, "gpuquota_team_budget_gpu_seconds{team=\"ml\"}") == 36000);
	assert_true(sample(t, "gpuquota_team_remaining_gpu_seconds{team=\"ml\"}") == 34200);
	assert_true(sample(t, "gpuquota_team_period_end_timestamp_seconds{team=\"ml\"}") ==
		    1775001600);
	assert_true(sample(t, "gpuquota_team_budget_exhausted{team=\"ml\"}") == 1);
	assert_true(sample(t, "gpuquota_team_budget_warning{team=\"ml\"}") == 1);
	assert_true(sample(t, "gpuquota_team_pods{team=\"ml\",state=\"held\"}") == 1);
	assert_true(sample(t, "gpuquota_team_pods{team=\"ml\",state=\"deprioritized\"}") == 0);
	assert_true(sample(t, "gpuquota_team_quota{team=\"ml\",resource=\"nvidia.com/gpu\"}") == 8);
	assert_true(sample(t, "gpuquota_team_used{team=\"ml\",resource=\"nvidia.com/gpu\"}") == 3);
	assert_true(
	    sample(t, "gpuquota_team_quota{team=\"ml\",resource=\"nvidia.com/mig-1g.10gb\"}") ==
	    14);
	assert_true(
	    sample(t, "gpuquota_admission_decisions_total{team=\"ml\",decision=\"deny\"}") == 0);
	assert_int_equal(count(t, "gpuquota_admission_decisions_total{"), 6);
	assert_int_equal(count(t, "# TYPE gpuquota_team_pods gauge\n"), 1);
	assert_int_equal(count(t, "gpuquota_admission_duration_seconds_bucket{le=\"+Inf\"} 0\n"),
			 1);
	free(t);
	gq_metrics_free(m);

	/* Re-published without new accounting (a failed status write): the
	 * counter stays; a negative figure never lowers it. */
	f.accounted_micro = -7;
	gq_registry_set_figures(reg, "ml", &f);
	m = gq_metrics_new();
	gq_registry_metrics(reg, m);
	t = render(m);
	assert_true(sample(t, "gpuquota_team_gpu_seconds_total{team=\"ml\"}") == 7.5);
	free(t);
	gq_metrics_free(m);

	/* A forgotten team has no series left. */
	gq_registry_forget(reg, "ml");
	m = gq_metrics_new();
	gq_registry_metrics(reg, m);
	t = render(m);
	assert_null(strstr(t, "team=\"ml\""));
	free(t);
	gq_metrics_free(m);
	gq_registry_free(reg);
}

/* A team without a budget has its quota series only. */
static void test_team_without_budget(void **state)
{
	struct gq_registry *reg = NULL;
	struct gq_registry_res res[] = {{"nvidia.com/gpu", 4, 4}};
	struct gq_registry_figures f = {.res = res, .n_res = 1};
	struct gq_metrics *m;
	char *t;

	(void)state;
	gq_registry_new(&reg);
	gq_registry_set_figures(reg, "cv", &f);
	m = gq_metrics_new();
	gq_registry_metrics(reg, m);
	t = render(m);
	assert_true(sample(t, "gpuquota_team_used{team=\"cv\",resource=\"nvidia.com/gpu\"}") == 4);
	assert_null(strstr(t, "gpuquota_team_used_gpu_seconds{"));
	assert_null(strstr(t, "gpuquota_team_pods{"));
	free(t);
	gq_metrics_free(m);
	gq_registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_families_grouped),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_histogram),
	    cmocka_unit_test(test_render_bound),
	    cmocka_unit_test(test_accounted_across_rollover),
	    cmocka_unit_test(test_team_series),
	    cmocka_unit_test(test_team_without_budget),
	};
	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
