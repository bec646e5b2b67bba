/*
 * Unit tests for pod.c: the compact pod decoded from a Pod object as a
 * watch delivers it (every field the struct keeps, everything else
 * ignored), the end of GPU use in each phase, the weight on whole and
 * time-sliced nodes, and what the cost model refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "api.h"
#include "gq.h"
#include "pod.h"
#include "rfc3339.h"

static int64_t T(const char *s)
{
	int64_t ms = 0;

	assert_int_equal(gq_rfc3339_parse(s, &ms), GQ_OK);
	return ms;
}

static void decode(struct gq_pod *p, const char *json)
{
	char perr[256];
	yajl_val v = yajl_tree_parse(json, perr, sizeof(perr));

	if (v == NULL)
		fail_msg("fixture does not parse: %s", perr);
	gq_pod_decode(p, "ml/train-0", v);
	yajl_tree_free(v);
}

/* A Pod as a watch event's object carries it (managedFields, env, volumes
 * and the like are ignored). */
static const char *const WATCHED =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"train-0\","
    "\"namespace\":\"ml\",\"uid\":\"9f0c\",\"resourceVersion\":\"812\","
    "\"creationTimestamp\":\"2026-03-15T09:59:58Z\",\"deletionTimestamp\":"
    "\"2026-03-15T11:30:00Z\",\"labels\":{\"app\":\"x\"},\"finalizers\":[\"other/"
    "keep\",\"" GQ_ACCOUNTING_FINALIZER
    "\"],\"managedFields\":[{\"manager\":\"kubectl\"}]},\"spec\":{\"nodeName\":\"ts-node-0\","
    "\"priorityClassName\":\"ml-high\",\"schedulingGates\":[{\"name\":\"" GQ_BUDGET_GATE "\"}],"
    "\"initContainers\":[{\"name\":\"prep\",\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"3\"}}},"
    "{\"name\":\"side\",\"restartPolicy\":\"Always\",\"resources\":{\"requests\":{"
    "\"nvidia.com/mig-1g.10gb\":\"1\"}}}],\"containers\":[{\"name\":\"main\",\"env\":[{\"name\":"
    "\"A\",\"value\":\"b\"}],\"resources\":{\"requests\":{\"nvidia.com/gpu\":\"2\",\"cpu\":\"4\"}}}"
    "]},\"status\":{\"phase\":\"Running\",\"startTime\":\"2026-03-15T10:00:00Z\","
    "\"conditions\":[{\"type\":\"Ready\",\"lastTransitionTime\":\"2026-03-15T10:00:05Z\"}],"
    "\"containerStatuses\":[{\"name\":\"main\",\"state\":{\"running\":{\"startedAt\":"
    "\"2026-03-15T10:00:01Z\"}}}]}}";

static void test_decode_watched(void **state)
{
	struct gq_pod p;
	struct gq_cost_weight w;

	(void)state;
	decode(&p, WATCHED);
	assert_string_equal(p.key, "ml/train-0");
	assert_string_equal(p.uid, "9f0c");
	assert_string_equal(p.node, "ts-node-0");
	assert_string_equal(p.priority_class, "ml-high");
	assert_true(p.gpu);
	assert_false(p.terminal);
	assert_true(p.deleting);
	assert_int_equal(p.deletion_ms, T("2026-03-15T11:30:00Z"));
	assert_int_equal(p.created_ms, T("2026-03-15T09:59:58Z"));
	assert_int_equal(p.start_ms, T("2026-03-15T10:00:00Z"));
	assert_int_equal(p.finished_ms, 0);
	assert_int_equal(p.condition_ms, T("2026-03-15T10:00:05Z"));
	assert_int_equal(p.finalizer, 1);
	assert_true(p.has_finalizers);
	assert_int_equal(p.gate, 0);
	/* Effective requests: gpu max(3 during init, 2 running), the sidecar's
	 * slice alongside; cpu is not an nvidia.com/ resource. */
	assert_int_equal(p.res_rc, GQ_OK);
	assert_int_equal(p.n_res, 2);
	assert_string_equal(p.res[0].name, "nvidia.com/gpu");
	assert_int_equal(p.res[0].count, 3);
	assert_string_equal(p.res[1].name, "nvidia.com/mig-1g.10gb");
	assert_int_equal(p.res[1].count, 1);
	/* 3 whole GPUs + 1/7: on 4 time-slicing replicas 3/4 + 1/7. */
	assert_int_equal(gq_pod_weight(&w, &p, 1, NULL), GQ_OK);
	assert_int_equal(w.num, 22);
	assert_int_equal(w.den, 7);
	assert_int_equal(gq_pod_weight(&w, &p, 4, NULL), GQ_OK);
	assert_int_equal(w.num, 25);
	assert_int_equal(w.den, 28);
	/* Running: its GPU use ends at the deletion time once that passed. */
	assert_int_equal(gq_pod_end(&p, T("2026-03-15T11:00:00Z")), 0);
	assert_int_equal(gq_pod_end(&p, T("2026-03-15T12:00:00Z")), T("2026-03-15T11:30:00Z"));
	gq_pod_free(&p);
	assert_null(p.key);
}

/* The same weight as the cost model over the Pod object's containers. */
static void test_weight_matches_json(void **state)
{
	yajl_val v = yajl_tree_parse(WATCHED, NULL, 0);
	struct gq_cost_weight a, b;
	struct gq_pod p;

	(void)state;
	gq_pod_decode(&p, "ml/train-0", v);
	for (int64_t r = 1; r <= 8; r++) {
		assert_int_equal(gq_pod_weight_json(&a, v, r, NULL), GQ_OK);
		assert_int_equal(gq_pod_weight(&b, &p, r, NULL), GQ_OK);
		assert_int_equal(a.num, b.num);
		assert_int_equal(a.den, b.den);
	}
	gq_pod_free(&p);
	yajl_tree_free(v);
}

/* End of GPU use of terminal pods: finishedAt, else the deletion once
 * passed, else the latest condition (never later than now), else now. */
static void test_end_terminal(void **state)
{
	struct gq_pod p;
	const int64_t now = T("2026-03-15T12:00:00Z");

	(void)state;
	decode(&p, "{\"spec\":{\"containers\":[{\"resources\":{\"limits\":{\"nvidia.com/gpu\":"
		   "\"1\"}}}]},\"status\":{\"phase\":\"Succeeded\",\"containerStatuses\":["
		   "{\"state\":{\"terminated\":{\"finishedAt\":\"2026-03-15T10:00:00Z\"}}},"
		   "{\"state\":{\"terminated\":{\"finishedAt\":\"2026-03-15T10:30:00Z\"}}}]}}");
	assert_true(p.terminal);
	assert_int_equal(gq_pod_end(&p, now), T("2026-03-15T10:30:00Z"));
	gq_pod_free(&p);
	decode(&p, "{\"status\":{\"phase\":\"Failed\",\"conditions\":[{\"lastTransitionTime\":"
		   "\"2026-03-15T11:00:00Z\"}]}}");
	assert_false(p.gpu);
	assert_int_equal(gq_pod_end(&p, now), T("2026-03-15T11:00:00Z"));
	assert_int_equal(gq_pod_end(&p, T("2026-03-15T10:00:00Z")), T("2026-03-15T10:00:00Z"));
	gq_pod_free(&p);
	decode(&p, "{\"metadata\":{\"deletionTimestamp\":\"2026-03-15T11:10:00Z\"},"
		   "\"status\":{\"phase\":\"Failed\"}}");
	assert_int_equal(gq_pod_end(&p, now), T("2026-03-15T11:10:00Z"));
	assert_int_equal(gq_pod_end(&p, T("2026-03-15T11:00:00Z")), T("2026-03-15T11:00:00Z"));
	gq_pod_free(&p);
	decode(&p, "{\"status\":{\"phase\":\"Succeeded\"}}");
	assert_int_equal(gq_pod_end(&p, now), now);
	assert_int_equal(p.finalizer, -1);
	assert_int_equal(p.gate, -1);
	assert_false(p.has_finalizers);
	assert_null(p.uid);
	gq_pod_free(&p);
}

/* More request entries than the cost model takes: still a GPU pod, its
 * weight refused (the ledger then charges it as one GPU). */
static void test_refused_requests(void **state)
{
	static const char one[] = "{\"resources\":{\"requests\":{\"nvidia.com/gpu\":\"1\"}}},";
	size_t n = GQ_COST_MAX_REQS + 1, len = 0;
	char *json = gq_malloc(n * strlen(one) + 64);
	struct gq_cost_weight w;
	struct gq_pod p;

	(void)state;
	len += (size_t)sprintf(json, "{\"spec\":{\"containers\":[");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(json + len, "%s", one);
	sprintf(json + len - 1, "]}}");
	decode(&p, json);
	assert_true(p.gpu);
	assert_int_equal(p.res_rc, GQ_ETOOBIG);
	assert_int_equal(gq_pod_weight(&w, &p, 1, NULL), GQ_ETOOBIG);
	gq_pod_free(&p);
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_watched),
	    cmocka_unit_test(test_weight_matches_json),
	    cmocka_unit_test(test_end_terminal),
	    cmocka_unit_test(test_refused_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
