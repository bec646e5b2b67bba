/*
 * test_cost.c - the GPU cost model (cost.c), and the property that
 * admission and the ledger price a pod alike: for random pods (containers,
 * init containers, sidecars, requests and limits, MIG profiles, team weight
 * overrides, deadlines), the weight admission derives from the
 * AdmissionReview (gq_admission_decode, gq_adm_pod_weight) is the fraction
 * the ledger derives from the Pod object (gq_pod_weight_json), admission's
 * expected cost is exactly what the ledger charges for the pod running its
 * whole activeDeadlineSeconds, and a budget of exactly that cost admits it
 * while one micro GPU-second less does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "accounting.h"
#include "admission.h"
#include "buf.h"
#include "cost.h"
#include "gq.h"
#include "ledger.h"
#include "pod.h"

static void test_acc_rule(void **state)
{
	struct gq_cost_acc a = {0, 0, 0};

	(void)state;
	/* init 3, then sidecar 1, then init 4 (with the sidecar: 5), containers 2 */
	assert_int_equal(gq_cost_acc_add(&a, GQ_COST_INIT, 3), GQ_OK);
	assert_int_equal(gq_cost_acc_add(&a, GQ_COST_SIDECAR, 1), GQ_OK);
	assert_int_equal(gq_cost_acc_add(&a, GQ_COST_INIT, 4), GQ_OK);
	assert_int_equal(gq_cost_acc_add(&a, GQ_COST_CONTAINER, 2), GQ_OK);
	assert_int_equal(gq_cost_acc_effective(&a), 5);
	assert_int_equal(gq_cost_acc_add(&a, GQ_COST_CONTAINER, 3), GQ_OK);
	assert_int_equal(gq_cost_acc_effective(&a), 6); /* 2 + 3 + the sidecar */
	assert_int_equal(gq_cost_acc_add(&a, GQ_COST_CONTAINER, INT64_MAX), GQ_ERANGE);
}

/* A resource's built-in weight with one replica, in micro GPU-equivalents
 * (rounded to nearest). */
static int64_t default_micro(const char *resource)
{
	struct gq_cost_weight w;

	if (gq_cost_resource_weight(&w, resource, 1, NULL) != GQ_OK)
		return -1;
	return gq_cost_weight_micro(&w);
}

static void test_default_weight(void **state)
{
	(void)state;
	assert_int_equal(default_micro("nvidia.com/gpu"), 1000000);
	assert_int_equal(default_micro("nvidia.com/mig-1g.10gb"), 142857);
	assert_int_equal(default_micro("nvidia.com/mig-3g.40gb"), 428571);
	assert_int_equal(default_micro("nvidia.com/mig-7g.80gb"), 1000000);
	/* not a MIG profile of 1..7 slices: charged as a whole GPU */
	assert_int_equal(default_micro("nvidia.com/mig-9g.80gb"), 1000000);
	assert_int_equal(default_micro("nvidia.com/mig-0g.80gb"), 1000000);
	assert_int_equal(default_micro("nvidia.com/mig-g.80gb"), 1000000);
	assert_int_equal(default_micro("nvidia.com/mig-1g.10"), 1000000);
	assert_int_equal(default_micro("nvidia.com/mig-1g.5gb.me"), 142857);
	assert_int_equal(default_micro("nvidia.com/gpu.shared"), 1000000);
	assert_int_equal(default_micro("nvidia.com/pgpu"), 1000000);
	assert_int_equal(default_micro("example.com/gpu"), 0);
	assert_int_equal(default_micro("cpu"), 0);
}

static void test_bounds(void **state)
{
	struct gq_res item = {.name = (char *)"nvidia.com/gpu", .q = {.milli = 0}};
	struct gq_res_list ov = {&item, 1};
	struct gq_cost_weight w;

	(void)state;
	item.q.milli = GQ_COST_MAX_WEIGHT_MILLI;
	assert_int_equal(gq_cost_resource_weight(&w, "nvidia.com/gpu", 1, &ov), GQ_OK);
	assert_true(w.num == GQ_COST_MAX_WEIGHT && w.den == 1);
	item.q.milli = GQ_COST_MAX_WEIGHT_MILLI + 1;
	assert_int_equal(gq_cost_resource_weight(&w, "nvidia.com/gpu", 1, &ov), GQ_EINVAL);
	item.q.milli = -1;
	assert_int_equal(gq_cost_resource_weight(&w, "nvidia.com/gpu", 1, &ov), GQ_EINVAL);
	/* the largest weight for the longest deadline saturates, never wraps */
	w = (struct gq_cost_weight){GQ_COST_MAX_WEIGHT, 1};
	assert_true(gq_cost_expected_micro(&w, INT64_MAX) == INT64_MAX);
	assert_true(gq_cost_expected_micro(&w, 0) == 0);
	w = (struct gq_cost_weight){1, 7};
	assert_true(gq_cost_expected_micro(&w, 7) == 1000000);
	assert_true(gq_cost_expected_micro(&w, 1) == 142857);
	assert_true(gq_cost_weight_micro(&(struct gq_cost_weight){4, 7}) == 571429);
	assert_false(gq_cost_warn_reached(79, 100, 80));
	assert_true(gq_cost_warn_reached(80, 100, 80));
	assert_true(gq_cost_warn_reached(100, 100, 150)); /* clamped to 100 */
	assert_false(gq_cost_warn_reached(100, 100, 0));
}

/* The ledger's reading of a Pod object is not capped below admission's
 * bounds: 100 containers of 1 GPU weigh 100, and a GPU request that is the
 * 40th entry of a container's map still makes a GPU pod. */
static void test_ledger_reads_whole_pods(void **state)
{
	struct gq_buf b;
	struct gq_cost_weight w;
	char *txt;
	yajl_val pod;

	(void)state;
	gq_buf_init(&b, 1 << 20);
	gq_buf_puts(&b, "{\"spec\":{\"containers\":[");
	for (int i = 0; i < 100; i++)
		gq_buf_printf(&b,
			      "%s{\"name\":\"c%d\",\"resources\":{\"limits\":{"
			      "\"nvidia.com/gpu\":\"1\"}}}",
			      i ? "," : "", i);
	gq_buf_puts(&b, "]}}");
	txt = gq_buf_steal(&b);
	pod = yajl_tree_parse(txt, NULL, 0);
	assert_non_null(pod);
	assert_int_equal(gq_pod_weight_json(&w, pod, 1, NULL), GQ_OK);
	assert_true(w.num == 100 && w.den == 1);
	yajl_tree_free(pod);
	free(txt);

	gq_buf_init(&b, 1 << 20);
	gq_buf_puts(&b, "{\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{"
			"\"requests\":{");
	for (int i = 0; i < 39; i++)
		gq_buf_printf(&b, "\"nvidia.com/x%d\":\"0\",", i);
	gq_buf_puts(&b, "\"nvidia.com/gpu\":\"1\"}}}]}}");
	txt = gq_buf_steal(&b);
	pod = yajl_tree_parse(txt, NULL, 0);
	assert_non_null(pod);
	assert_true(gq_pod_is_gpu(pod));
	yajl_tree_free(pod);
	free(txt);
}

/* ------------------------------------------------------------ property */

static const char *const resources[] = {
    "nvidia.com/gpu",	      "nvidia.com/gpu.shared",	"nvidia.com/mig-1g.10gb",
    "nvidia.com/mig-2g.20gb", "nvidia.com/mig-3g.40gb", "nvidia.com/mig-7g.80gb",
    "nvidia.com/mig-1g.18gb", "nvidia.com/mig-9g.99gb", "nvidia.com/pgpu",
};

static uint64_t rng_state;

static uint64_t rnd(uint64_t n)
{
	/* xorshift64*: reproducible from the seed printed on failure */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (rng_state * UINT64_C(2685821657736338717)) % n;
}

/* A resource map member: "name":"count", with a fractional count sometimes
 * (admission and the ledger both round up, as Quantity.Value()). */
static void put_member(struct gq_buf *b, const char *name, int64_t count, bool *first)
{
	gq_buf_printf(b, "%s\"%s\":\"%lld%s\"", *first ? "" : ",", name, (long long)count,
		      rnd(5) == 0 ? ".5" : "");
	*first = false;
}

/* One container with 0..3 GPU resources, as requests, limits or both. */
static void put_container(struct gq_buf *b, int idx, bool sidecar)
{
	int n = (int)rnd(4);
	const char *names[3];
	int64_t counts[3];
	bool first = true;
	int i, mode = (int)rnd(3); /* 0 requests and limits, 1 limits only, 2 requests only */

	for (i = 0; i < n; i++) {
		names[i] = resources[rnd(GQ_ARRAY_LEN(resources))];
		counts[i] = (int64_t)rnd(9);
	}
	gq_buf_printf(b, "%s{\"name\":\"c%d\",\"image\":\"cuda\"%s,\"resources\":{\"requests\":{",
		      idx ? "," : "", idx, sidecar ? ",\"restartPolicy\":\"Always\"" : "");
	gq_buf_puts(b, "\"cpu\":\"1\"");
	first = false;
	for (i = 0; mode != 1 && i < n; i++)
		put_member(b, names[i], counts[i], &first);
	gq_buf_printf(b, "},\"limits\":{");
	first = true;
	for (i = 0; mode != 2 && i < n; i++)
		put_member(b, names[i], counts[i], &first);
	gq_buf_printf(b, "}}}");
}

/* A random pod spec with at least one GPU request; its deadline in *ads. */
static char *random_spec(int64_t *ads)
{
	struct gq_buf b;
	int nc = 1 + (int)rnd(3), ni = (int)rnd(4), i;

	gq_buf_init(&b, 1 << 20);
	*ads = 1 + (int64_t)rnd(rnd(2) ? 100000 : 40000000);
	gq_buf_printf(&b, "{\"activeDeadlineSeconds\":%lld,\"containers\":[", (long long)*ads);
	for (i = 0; i < nc; i++)
		put_container(&b, i, false);
	gq_buf_printf(&b, "],\"initContainers\":[");
	for (i = 0; i < ni; i++)
		put_container(&b, i, rnd(2) == 0);
	gq_buf_printf(&b, "]}");
	return gq_buf_steal(&b);
}

/* 0..3 random overrides (a milli quantity up to the maximum). */
static void random_overrides(struct gq_res_list *ov, struct gq_res *items)
{
	ov->items = items;
	ov->n = 0;
	for (int i = (int)rnd(4); i > 0; i--) {
		const char *name = resources[rnd(GQ_ARRAY_LEN(resources))];

		if (gq_res_list_find(ov, name) != NULL)
			continue;
		items[ov->n].name = (char *)name;
		items[ov->n].q.milli =
		    rnd(4) == 0 ? (int64_t)rnd(GQ_COST_MAX_WEIGHT_MILLI + 1) : (int64_t)rnd(3000);
		ov->n++;
	}
}

static char *review_of(const char *spec)
{
	return gq_asprintf(
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	    "\"request\":{\"uid\":\"u1\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":"
	    "\"Pod\"},\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
	    "\"name\":\"p\",\"namespace\":\"ml\",\"operation\":\"CREATE\",\"object\":{"
	    "\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":"
	    "\"ml\"},\"spec\":%s}}}",
	    spec);
}

/* What the ledger charges the pod (a Pod object) for running ads seconds. */
static int64_t ledger_charge(yajl_val pod, const struct gq_res_list *ov, int64_t ads,
			     struct gq_cost_weight *w)
{
	const int64_t t0 = INT64_C(1796000000000); /* 2026-11-29, any start works */
	struct gq_ledger_pod p = {.start_ms = t0, .end_ms = t0 + ads * 1000};
	int64_t used = -1;

	struct gq_pod cp;
	struct gq_cost_weight wc;

	assert_int_equal(gq_pod_weight_json(w, pod, 1, ov), GQ_OK);
	/* The compact pod the ledger reads gives the same fraction. */
	gq_pod_decode(&cp, "ml/p", pod);
	assert_true(cp.gpu);
	assert_int_equal(gq_pod_weight(&wc, &cp, 1, ov), GQ_OK);
	assert_int_equal(wc.num, w->num);
	assert_int_equal(wc.den, w->den);
	gq_pod_free(&cp);
	p.weight = *w;
	assert_int_equal(gq_ledger_pod_usage(&used, &p, t0 - 1000, p.end_ms + 1000), GQ_OK);
	return used;
}

/* Admission's verdict with a Deny budget of budget_micro, nothing used. */
static bool admitted(const struct gq_adm_request *r, const struct gq_res_list *ov,
		     int64_t budget_micro)
{
	struct gq_adm_team team = {.name = "ml",
				   .has_budget = true,
				   .policy = GQ_EXHAUSTED_DENY,
				   .budget_micro = budget_micro,
				   .weights = ov};
	struct gq_adm_response resp;
	bool ok;

	assert_int_equal(gq_admission_decide(&resp, r, &team), GQ_OK);
	ok = resp.allowed;
	gq_adm_response_free(&resp);
	return ok;
}

/* One random pod; returns whether it was a GPU pod (compared). */
static bool one_case(void)
{
	struct gq_res items[4];
	struct gq_res_list ov;
	struct gq_cost_weight wa, wl;
	struct gq_adm_request r = {0};
	struct gq_err err = {0};
	int64_t ads, expected, charged;
	char *spec = random_spec(&ads), *review = review_of(spec);
	char *obj = gq_asprintf("{\"metadata\":{\"name\":\"p\"},\"spec\":%s}", spec);
	char ebuf[128];
	yajl_val pod = yajl_tree_parse(obj, ebuf, sizeof(ebuf));
	bool gpu;

	random_overrides(&ov, items);
	assert_non_null(pod);
	if (gq_admission_decode(&r, review, strlen(review), &err) != GQ_OK)
		fail_msg("decode: %s: %s", err.msg, spec);
	gpu = gq_adm_request_is_gpu_pod(&r);
	assert_int_equal(gpu, gq_pod_is_gpu(pod));
	if (gpu) {
		assert_int_equal(gq_adm_pod_weight(&wa, &r, &ov), GQ_OK);
		charged = ledger_charge(pod, &ov, ads, &wl);
		expected = gq_cost_expected_micro(&wa, ads);
		if (wa.num != wl.num || wa.den != wl.den || expected != charged)
			fail_msg("admission %lld/%lld costs %lld, ledger %lld/%lld charges %lld "
				 "for %s",
				 (long long)wa.num, (long long)wa.den, (long long)expected,
				 (long long)wl.num, (long long)wl.den, (long long)charged, spec);
		if (expected < INT64_MAX) {
			assert_true(admitted(&r, &ov, expected));
			if (expected > 0)
				assert_false(admitted(&r, &ov, expected - 1));
		}
	}
	gq_adm_request_free(&r);
	yajl_tree_free(pod);
	free(obj);
	free(review);
	free(spec);
	return gpu;
}

static void test_admission_and_ledger_agree(void **state)
{
	const char *env = getenv("COST_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 10) : UINT64_C(20261204);
	int gpu = 0;

	(void)state;
	rng_state = seed ? seed : 1;
	print_message("cost property: seed %llu (COST_SEED replays)\n", (unsigned long long)seed);
	for (int i = 0; i < 20000; i++)
		gpu += one_case();
	print_message("cost property: %d GPU pods of 20000 compared\n", gpu);
	assert_true(gpu > 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_acc_rule),
	    cmocka_unit_test(test_default_weight),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_ledger_reads_whole_pods),
	    cmocka_unit_test(test_admission_and_ledger_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
