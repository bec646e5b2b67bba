/*
 * Unit tests for accounting.c: which pods are GPU pods, reading the ledger
 * back from an allocation's status (a round trip through the status writer
 * of plan.c, hand-written documents, missing and inconsistent ones), and
 * gq_acct_run over pod and node caches loaded by hand (no network): exact
 * usage against hand-computed values, time-sliced and MIG weights, and the
 * finalize / add / release lists, persist, exhausted and warn.
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

#include "accounting.h"
#include "registry.h"
#include "gq.h"
#include "informer.h"
#include "ledger.h"
#include "plan.h"
#include "spec.h"
#include "rfc3339.h"

#define H	 GQ_LEDGER_MICRO_PER_HOUR /* one GPU-hour in micro GPU-seconds */
#define TEAM_UID "3c9d7e21-5b1a-4f0e-8d2c-7a6b5c4d3e2f"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

/* RFC 3339 to ms (the test's own inputs: must parse). */
static int64_t T(const char *s)
{
	int64_t ms = 0;

	if (gq_rfc3339_parse(s, &ms) != GQ_OK)
		fail_msg("bad test time %s", s);
	return ms;
}

static yajl_val parse(const char *json)
{
	char ebuf[256];
	yajl_val v = yajl_tree_parse(json, ebuf, sizeof(ebuf));

	if (v == NULL)
		fail_msg("test JSON does not parse (%s): %s", ebuf, json);
	return v;
}

/* The allocation "ml" (namespaces ml-train and ml-lab, created
 * 2026-03-10T00:00:00Z) with the given budget object. */
static void team_with_budget(struct gq_team *t, const char *budget)
{
	char *json = gq_asprintf(
	    "{\"apiVersion\":\"gpuquota.io/v1alpha1\",\"kind\":\"GPUTeamAllocation\","
	    "\"metadata\":{\"name\":\"ml\",\"uid\":\"" TEAM_UID "\",\"generation\":2,"
	    "\"resourceVersion\":\"9001\",\"creationTimestamp\":\"2026-03-10T00:00:00Z\"},"
	    "\"spec\":{\"namespaces\":[\"ml-train\",\"ml-lab\"],"
	    "\"quota\":{\"gpus\":16},"
	    "\"priorities\":{\"tiers\":[{\"name\":\"high\",\"value\":1000},"
	    "{\"name\":\"low\",\"value\":100}],\"defaultTier\":\"low\"},"
	    "\"budget\":%s}}",
	    budget);
	yajl_val v = parse(json);
	struct gq_err err = {0};
	int rc;

	memset(t, 0, sizeof(*t));
	rc = gq_team_decode(t, v, &err);
	if (rc != GQ_OK)
		fail_msg("team does not decode: %s: %s", gq_strerror(rc), err.msg);
	yajl_tree_free(v);
	free(json);
}

/* Team ml with gpuHours hours, Monthly, Hold, warning at warn %. */
static void team_ml(struct gq_team *t, const char *hours, int warn)
{
	char *b = gq_asprintf("{\"gpuHours\":\"%s\",\"period\":\"Monthly\","
			      "\"onExhausted\":\"Hold\",\"warnAtPercent\":%d}",
			      hours, warn);

	team_with_budget(t, b);
	free(b);
}

static const char *const NS[] = {"ml-train", "ml-lab"};

/* Pod and node caches without network. */
struct caches {
	struct gq_informers *m;
	struct gq_informer *pods, *nodes;
};

static void caches_new(struct caches *c)
{
	struct gq_informer_def pd = {.name = "pods",
				     .path = "/api/v1/pods",
				     .convert = gq_pod_convert,
				     .release = gq_pod_release};
	struct gq_informer_def nd = {
	    .name = "nodes", .path = "/api/v1/nodes", .keep = gq_accounting_node_fields};
	struct gq_err err = {0};

	memset(c, 0, sizeof(*c));
	assert_int_equal(gq_informers_new(&c->m, NULL), GQ_OK);
	assert_int_equal(gq_informers_add(c->m, &pd, &c->pods, &err), GQ_OK);
	assert_int_equal(gq_informers_add(c->m, &nd, &c->nodes, &err), GQ_OK);
}

static void caches_free(struct caches *c)
{
	gq_informers_free(c->m);
	memset(c, 0, sizeof(*c));
}

/* Replaces the cache of inf with the objects (JSON texts). */
static void load(struct gq_informer *inf, const char *const *objs, size_t n)
{
	gq_informer_list_begin(inf);
	for (size_t i = 0; i < n; i++) {
		yajl_val v = parse(objs[i]);

		assert_int_equal(gq_informer_list_item(inf, v), GQ_OK);
		yajl_tree_free(v);
	}
	gq_informer_list_end(inf, "100");
	assert_int_equal(gq_informer_len(inf), n);
}

/* A pod as the apiserver lists it (a few fields the cache drops included). */
#define POD(ns, name, created, meta, spec, status)                                                 \
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"" name "\","             \
	"\"namespace\":\"" ns "\",\"uid\":\"uid-" name "\",\"resourceVersion\":\"77\","            \
	"\"creationTimestamp\":\"" created "\",\"labels\":{\"app\":\"x\"}" meta "},"               \
	"\"spec\":" spec ",\"status\":" status "}"

/* One container asking for n of resource res (requests and limits). */
#define GPU_CT(res, n)                                                                             \
	"{\"name\":\"c\",\"image\":\"cuda:12\",\"resources\":{\"requests\":{\"cpu\":\"1\","        \
	"\"" res "\":\"" n "\"},\"limits\":{\"" res "\":\"" n "\"}}}"
#define GPU_SPEC(node, ct)                                                                         \
	"{\"nodeName\":\"" node "\",\"restartPolicy\":\"Never\",\"containers\":[" ct "]}"
#define FIN_OURS ",\"finalizers\":[\"gpuquota.io/accounting\"]"
#define RUNNING(start)                                                                             \
	"{\"phase\":\"Running\",\"startTime\":\"" start "\",\"containerStatuses\":[{\"name\":"     \
	"\"c\",\"state\":{\"running\":{\"startedAt\":\"" start "\"}}}]}"
#define SUCCEEDED(start, end)                                                                      \
	"{\"phase\":\"Succeeded\",\"startTime\":\"" start "\",\"containerStatuses\":[{\"name\":"   \
	"\"c\",\"state\":{\"terminated\":{\"exitCode\":0,\"finishedAt\":\"" end "\"}}}]}"
#define PENDING "{\"phase\":\"Pending\"}"

/*
 * The fixture: team ml created at 2026-03-10T00:00:00Z, evaluated at
 * NOW = 2026-03-10T10:00:00Z, so the ledger counts [00:00, 10:00).
 */
#define NOW_S "2026-03-10T10:00:00Z"

/* a: running since 02:00, 1 GPU, plain node: 8 h */
static const char POD_A[] =
    POD("ml-train", "a-running", "2026-03-10T01:59:00Z", FIN_OURS,
	GPU_SPEC("plain-1", GPU_CT("nvidia.com/gpu", "1")), RUNNING("2026-03-10T02:00:00Z"));
/* b: Succeeded, 2 containers x 1 GPU, 01:00 .. latest finishedAt 04:30:
 * 2 x 3.5 h = 7 h; our finalizer second */
static const char POD_B[] =
    POD("ml-train", "b-succeeded", "2026-03-10T00:59:00Z",
	",\"finalizers\":[\"example.com/keep\",\"gpuquota.io/accounting\"]",
	GPU_SPEC("plain-1", GPU_CT("nvidia.com/gpu", "1") "," GPU_CT("nvidia.com/gpu", "1")),
	"{\"phase\":\"Succeeded\",\"startTime\":\"2026-03-10T01:00:00Z\",\"containerStatuses\":["
	"{\"name\":\"c1\",\"state\":{\"terminated\":{\"exitCode\":0,\"startedAt\":"
	"\"2026-03-10T01:00:01Z\",\"finishedAt\":\"2026-03-10T04:30:00Z\"}}},"
	"{\"name\":\"c2\",\"state\":{\"terminated\":{\"exitCode\":0,\"startedAt\":"
	"\"2026-03-10T01:00:01Z\",\"finishedAt\":\"2026-03-10T03:00:00Z\"}}}]}");
/* c: deleted while running: 05:00 .. deletionTimestamp 06:15: 1.25 h */
static const char POD_C[] = POD(
    "ml-lab", "c-deleted", "2026-03-10T04:59:00Z",
    ",\"deletionTimestamp\":\"2026-03-10T06:15:00Z\",\"deletionGracePeriodSeconds\":30" FIN_OURS,
    GPU_SPEC("plain-2", GPU_CT("nvidia.com/gpu", "1")), RUNNING("2026-03-10T05:00:00Z"));
/* d: not started (Pending), ours: uses nothing, keeps the finalizer */
static const char POD_D[] = POD("ml-lab", "d-pending", "2026-03-10T09:00:00Z", FIN_OURS,
				"{\"containers\":[" GPU_CT("nvidia.com/gpu", "1") "]}", PENDING);
/* e: another namespace: ignored */
static const char POD_E[] =
    POD("other", "e-foreign", "2026-03-09T00:00:00Z", "",
	GPU_SPEC("plain-1", GPU_CT("nvidia.com/gpu", "4")), RUNNING("2026-03-09T00:00:00Z"));
/* f: no GPU: ignored (not even given the finalizer) */
static const char POD_F[] =
    POD("ml-train", "f-cpu", "2026-03-09T00:00:00Z", "", GPU_SPEC("plain-1", GPU_CT("cpu", "2")),
	RUNNING("2026-03-09T00:00:00Z"));
/* g: time-sliced node (4 replicas), started before the allocation existed,
 * no finalizer: counted from 00:00 at 1/4: 2.5 h; to be added */
static const char POD_G[] =
    POD("ml-train", "g-timesliced", "2026-03-09T21:59:00Z", "",
	GPU_SPEC("ts-1", GPU_CT("nvidia.com/gpu", "1")), RUNNING("2026-03-09T22:00:00Z"));
/* h: MIG 1g.10gb (limits only), 03:00 ..: 7 h x 1/7 = 1 h */
static const char POD_H[] =
    POD("ml-lab", "h-mig", "2026-03-10T02:59:00Z", FIN_OURS,
	"{\"nodeName\":\"mig-1\",\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":"
	"{\"nvidia.com/mig-1g.10gb\":\"1\"}}}]}",
	RUNNING("2026-03-10T03:00:00Z"));
/* i: held by the budget gate (second gate), created 09:00 */
static const char POD_I[] =
    POD("ml-train", "i-held-new", "2026-03-10T09:00:00Z", FIN_OURS,
	"{\"schedulingGates\":[{\"name\":\"example.com/other\"},{\"name\":\"gpuquota.io/budget\"}],"
	"\"containers\":[" GPU_CT("nvidia.com/gpu", "1") "]}",
	PENDING);
/* j: held, created 08:00 (older than i) */
static const char POD_J[] = POD("ml-lab", "j-held-old", "2026-03-10T08:00:00Z", FIN_OURS,
				"{\"schedulingGates\":[{\"name\":\"gpuquota.io/budget\"}],"
				"\"containers\":[" GPU_CT("nvidia.com/gpu", "2") "]}",
				PENDING);
/* k: Pending without our finalizer (webhook was away): to be added */
static const char POD_K[] = POD("ml-train", "k-pending-nofin", "2026-03-10T09:30:00Z", "",
				"{\"containers\":[" GPU_CT("nvidia.com/gpu", "1") "]}", PENDING);
/* l: deleted before it started, ours first of two: release it */
static const char POD_L[] = POD("ml-lab", "l-deleted-unstarted", "2026-03-10T06:00:00Z",
				",\"deletionTimestamp\":\"2026-03-10T07:00:00Z\","
				"\"finalizers\":[\"gpuquota.io/accounting\",\"example.com/keep\"]",
				"{\"containers\":[" GPU_CT("nvidia.com/gpu", "1") "]}", PENDING);
/* m: terminating within its grace period (deletionTimestamp after NOW),
 * running since 09:00, no finalizer: 1 h so far; not added (going) */
static const char POD_M[] =
    POD("ml-train", "m-terminating", "2026-03-10T08:59:00Z",
	",\"deletionTimestamp\":\"2026-03-10T10:00:30Z\"",
	GPU_SPEC("plain-2", GPU_CT("nvidia.com/gpu", "1")), RUNNING("2026-03-10T09:00:00Z"));
/* n: Failed before it started (e.g. admission error on the node), ours */
static const char POD_N[] =
    POD("ml-train", "n-failed-unstarted", "2026-03-10T07:00:00Z", FIN_OURS,
	"{\"nodeName\":\"plain-1\",\"containers\":[" GPU_CT("nvidia.com/gpu", "1") "]}",
	"{\"phase\":\"Failed\",\"reason\":\"UnexpectedAdmissionError\"}");
/* o: namespace "ml" is a prefix of the team's namespaces, not one of them */
static const char POD_O[] =
    POD("ml", "o-prefix", "2026-03-10T00:00:00Z", "",
	GPU_SPEC("plain-1", GPU_CT("nvidia.com/gpu", "8")), RUNNING("2026-03-10T00:00:00Z"));

static const char *const ALL_PODS[] = {POD_A, POD_B, POD_C, POD_D, POD_E, POD_F, POD_G, POD_H,
				       POD_I, POD_J, POD_K, POD_L, POD_M, POD_N, POD_O};

/* Expected usage of ALL_PODS over [00:00, 10:00):
 * a 8 + b 7 + c 1.25 + g 2.5 + h 1 + m 1 = 20.75 GPU-hours. */
#define ALL_USED (8 * H + 7 * H + 5 * H / 4 + 5 * H / 2 + 1 * H + 1 * H)

static const char *const NODES[] = {
    "{\"metadata\":{\"name\":\"plain-1\",\"resourceVersion\":\"5\",\"labels\":"
    "{\"nvidia.com/gpu.count\":\"8\"}},\"status\":{\"allocatable\":{\"nvidia.com/gpu\":\"8\"}}}",
    "{\"metadata\":{\"name\":\"plain-2\",\"resourceVersion\":\"5\",\"labels\":"
    "{\"nvidia.com/gpu.replicas\":\"1\"}},\"status\":{\"allocatable\":{\"nvidia.com/gpu\":\"8\"}}}",
    "{\"metadata\":{\"name\":\"ts-1\",\"resourceVersion\":\"5\",\"labels\":"
    "{\"nvidia.com/gpu.replicas\":\"4\",\"nvidia.com/gpu.sharing-strategy\":\"time-slicing\"}},"
    "\"status\":{\"allocatable\":{\"nvidia.com/gpu\":\"32\"}}}",
    "{\"metadata\":{\"name\":\"mig-1\",\"resourceVersion\":\"5\",\"labels\":"
    "{\"nvidia.com/mig.config\":\"all-1g.10gb\"}},"
    "\"status\":{\"allocatable\":{\"nvidia.com/mig-1g.10gb\":\"7\"}}}",
};

/* Caches holding ALL_PODS and NODES. */
static void caches_full(struct caches *c)
{
	caches_new(c);
	load(c->pods, ALL_PODS, GQ_ARRAY_LEN(ALL_PODS));
	load(c->nodes, NODES, GQ_ARRAY_LEN(NODES));
}

static int cmp_pod(const void *a, const void *b)
{
	return strcmp(((const struct gq_acct_pod *)a)->key, ((const struct gq_acct_pod *)b)->key);
}

/* Asserts that list (in any order unless ordered) is exactly keys with
 * indexes idx. Sorts the list when !ordered. */
static void assert_pods(struct gq_acct_pod *list, size_t n, const char *const *keys,
			const size_t *idx, size_t want, bool ordered)
{
	if (n != want) {
		for (size_t i = 0; i < n; i++)
			print_message("  have %s [%zu]\n", list[i].key, list[i].index);
		fail_msg("%zu pods, want %zu", n, want);
	}
	if (!ordered && n > 1)
		qsort(list, n, sizeof(*list), cmp_pod);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(list[i].key, keys[i]);
		if (idx)
			assert_int_equal(list[i].index, idx[i]);
	}
}

static void run_ok(struct gq_acct_result *out, struct gq_registry *reg, struct caches *c,
		   const struct gq_team *t, yajl_val prev, int64_t now)
{
	struct gq_err err = {0};
	int rc =
	    gq_acct_run(out, reg, c->pods, c->nodes, t, NS, GQ_ARRAY_LEN(NS), prev, now, 0, &err);

	if (rc != GQ_OK)
		fail_msg("gq_acct_run: %s: %s", gq_strerror(rc), err.msg);
}

/* ------------------------------------------------------------------ */
/* gq_pod_is_gpu                                                   */
/* ------------------------------------------------------------------ */

static bool is_gpu(const char *spec)
{
	char *json =
	    gq_asprintf("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\"},\"spec\":%s}", spec);
	yajl_val v = parse(json);
	bool r = gq_pod_is_gpu(v);

	yajl_tree_free(v);
	free(json);
	return r;
}

static void test_is_gpu_pod(void **state)
{
	(void)state;
	/* requests and limits */
	assert_true(is_gpu("{\"containers\":[" GPU_CT("nvidia.com/gpu", "1") "]}"));
	/* limits only (the request defaults to the limit) */
	assert_true(is_gpu("{\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":"
			   "{\"nvidia.com/gpu\":\"2\"}}}]}"));
	/* requests only */
	assert_true(is_gpu("{\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":"
			   "{\"nvidia.com/mig-3g.40gb\":\"1\"}}}]}"));
	/* a later container */
	assert_true(
	    is_gpu("{\"containers\":[{\"name\":\"side\"}," GPU_CT("nvidia.com/gpu", "1") "]}"));
	/* an init container only */
	assert_true(is_gpu("{\"initContainers\":[" GPU_CT(
	    "nvidia.com/gpu", "1") "],\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":"
				   "{\"cpu\":\"1\"}}}]}"));
	/* any nvidia.com/ resource, e.g. the renamed shared one */
	assert_true(is_gpu("{\"containers\":[" GPU_CT("nvidia.com/gpu.shared", "1") "]}"));
	/* not GPU pods */
	assert_false(
	    is_gpu("{\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":"
		   "{\"cpu\":\"1\",\"memory\":\"1Gi\"},\"limits\":{\"memory\":\"1Gi\"}}}]}"));
	assert_false(is_gpu("{\"containers\":[" GPU_CT("amd.com/gpu", "1") "]}"));
	assert_false(is_gpu("{\"containers\":[" GPU_CT("gpu", "1") "]}"));
	assert_false(is_gpu("{\"containers\":[" GPU_CT("example.com/nvidia.com/gpu", "1") "]}"));
	assert_false(is_gpu("{\"containers\":[" GPU_CT("nvidia.com/gpu", "0") "]}"));
	assert_false(is_gpu("{\"containers\":[{\"name\":\"c\"}]}"));
	assert_false(is_gpu("{\"containers\":[]}"));
	assert_false(is_gpu("{}"));
	/* an unparsable quantity is no request */
	assert_false(is_gpu("{\"containers\":[" GPU_CT("nvidia.com/gpu", "lots") "]}"));
	/* no spec at all */
	{
		yajl_val v = parse("{\"metadata\":{\"name\":\"p\"}}");

		assert_false(gq_pod_is_gpu(v));
		yajl_tree_free(v);
	}
}

/* gq_pod_marks: where our finalizer and our gate are, among others. */
static void test_marks(void **state)
{
	long f, g;
	yajl_val v;

	(void)state;
	v = parse("{\"metadata\":{\"finalizers\":[\"example.com/x\",\"gpuquota.io/accounting\"]},"
		  "\"spec\":{\"schedulingGates\":[{\"name\":\"a\"},{\"name\":\"b\"},"
		  "{\"name\":\"gpuquota.io/budget\"}]}}");
	assert_true(gq_pod_marks(v, &f, &g));
	assert_int_equal(f, 1);
	assert_int_equal(g, 2);
	yajl_tree_free(v);
	/* the gate alone (a held pod is not accounted yet) */
	v = parse("{\"spec\":{\"schedulingGates\":[{\"name\":\"gpuquota.io/budget\"}]}}");
	assert_true(gq_pod_marks(v, &f, &g));
	assert_int_equal(f, -1);
	assert_int_equal(g, 0);
	yajl_tree_free(v);
	/* others' finalizers and gates only, or nothing */
	v = parse("{\"metadata\":{\"finalizers\":[\"gpuquota.io/cleanup\"]},"
		  "\"spec\":{\"schedulingGates\":[{\"name\":\"gpuquota.io/other\"},{}]}}");
	assert_false(gq_pod_marks(v, &f, &g));
	assert_int_equal(f, -1);
	assert_int_equal(g, -1);
	yajl_tree_free(v);
	v = parse("{}");
	assert_false(gq_pod_marks(v, &f, &g));
	yajl_tree_free(v);
}

/* ------------------------------------------------------------------ */
/* gq_acct_ledger_from_status                                           */
/* ------------------------------------------------------------------ */

/* The status document the controller writes (plan.c) reads back to the
 * same ledger, history included. */
static void test_ledger_status_round_trip(void **state)
{
	struct gq_team t;
	struct gq_ledger l, got;
	struct gq_res_list totals = {0};
	struct gq_status_budget sb;
	struct gq_status_in in;
	char *body;
	yajl_val doc;

	(void)state;
	team_ml(&t, "500", 80);
	memset(&l, 0, sizeof(l));
	l.period_start_ms = T("2026-03-01T00:00:00Z");
	l.period_end_ms = T("2026-04-01T00:00:00Z");
	l.accounted_until_ms = T("2026-03-10T10:00:00Z");
	l.used_micro = 123456789012345; /* not a whole GPU-hour */
	l.n_history = 3;
	l.history[0] = (struct gq_ledger_period_rec){T("2026-02-01T00:00:00Z"),
						     T("2026-03-01T00:00:00Z"), 7 * H + 1, 500 * H};
	l.history[1] = (struct gq_ledger_period_rec){T("2026-01-01T00:00:00Z"),
						     T("2026-02-01T00:00:00Z"), 0, H / 2};
	l.history[2] = (struct gq_ledger_period_rec){T("2025-12-01T00:00:00Z"),
						     T("2026-01-01T00:00:00Z"), 999 * H, 12 * H};
	sb = (struct gq_status_budget){&l, 500 * H, l.accounted_until_ms};
	in = (struct gq_status_in){
	    .team = &t, .totals = &totals, .now = "2026-03-10T10:00:00Z", .budget = &sb};
	body = gq_status_body(&in);
	assert_non_null(body);
	doc = parse(body);

	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(
	    gq_acct_ledger_from_status(
		&got, yajl_tree_get(doc, (const char *[]){"status", NULL}, yajl_t_object)),
	    GQ_OK);
	assert_int_equal(got.period_start_ms, l.period_start_ms);
	assert_int_equal(got.period_end_ms, l.period_end_ms);
	assert_int_equal(got.accounted_until_ms, l.accounted_until_ms);
	assert_int_equal(got.used_micro, l.used_micro);
	assert_int_equal(got.n_history, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(got.history[i].start_ms, l.history[i].start_ms);
		assert_int_equal(got.history[i].end_ms, l.history[i].end_ms);
		assert_int_equal(got.history[i].used_micro, l.history[i].used_micro);
		assert_int_equal(got.history[i].budget_micro, l.history[i].budget_micro);
	}
	yajl_tree_free(doc);
	free(body);
	gq_team_free(&t);
}

/* A hand-written status: offsets, fractional seconds, no history. */
static void test_ledger_status_hand_written(void **state)
{
	const char *json =
	    "{\"state\":\"Ready\",\"usage\":{\"usedGPUHours\":\"2\",\"budgetGPUHours\":\"10\","
	    "\"periodStart\":\"2026-03-10T02:00:00+02:00\",\"periodEnd\":\"2026-03-11T00:00:00Z\","
	    "\"accountedUntil\":\"2026-03-10T12:34:56.789Z\",\"usedMicroGPUSeconds\":7200000000}}";
	yajl_val v = parse(json);
	struct gq_ledger got;

	(void)state;
	assert_int_equal(gq_acct_ledger_from_status(&got, v), GQ_OK);
	assert_int_equal(got.period_start_ms, T("2026-03-10T00:00:00Z"));
	assert_int_equal(got.period_end_ms, T("2026-03-11T00:00:00Z"));
	assert_int_equal(got.accounted_until_ms, T("2026-03-10T12:34:56Z") + 789);
	assert_int_equal(got.used_micro, 2 * H);
	assert_int_equal(got.n_history, 0);
	yajl_tree_free(v);
}

/* At most GQ_LEDGER_HISTORY history records are read. */
static void test_ledger_status_history_bound(void **state)
{
	char *json = gq_strdup("{\"usage\":{\"periodStart\":\"2026-03-01T00:00:00Z\","
			       "\"periodEnd\":\"2026-04-01T00:00:00Z\","
			       "\"accountedUntil\":\"2026-03-01T00:00:00Z\","
			       "\"usedMicroGPUSeconds\":0},\"history\":[");
	struct gq_ledger got;
	yajl_val v;

	(void)state;
	for (int i = 0; i < GQ_LEDGER_HISTORY + 3; i++) {
		char *next =
		    gq_asprintf("%s%s{\"periodStart\":\"2025-%02d-01T00:00:00Z\",\"periodEnd\":"
				"\"2025-%02d-02T00:00:00Z\",\"usedMicroGPUSeconds\":%d,"
				"\"budgetGPUHours\":\"1.5\"}",
				json, i ? "," : "", 12 - i % 12, 12 - i % 12, i);
		free(json);
		json = next;
	}
	{
		char *next = gq_asprintf("%s]}", json);

		free(json);
		json = next;
	}
	v = parse(json);
	assert_int_equal(gq_acct_ledger_from_status(&got, v), GQ_OK);
	assert_int_equal(got.n_history, GQ_LEDGER_HISTORY);
	assert_int_equal(got.history[0].used_micro, 0);
	assert_int_equal(got.history[0].budget_micro, 3 * H / 2);
	assert_int_equal(got.history[GQ_LEDGER_HISTORY - 1].used_micro, GQ_LEDGER_HISTORY - 1);
	yajl_tree_free(v);
	free(json);
}

/* No status, no usage, no exact usage: GQ_ENOTFOUND. */
static void test_ledger_status_missing(void **state)
{
	static const char *const docs[] = {
	    "{}",
	    "{\"state\":\"Pending\",\"observedGeneration\":1}",
	    "{\"usage\":null}",
	    "{\"usage\":{\"usedGPUHours\":\"2\",\"periodStart\":\"2026-03-01T00:00:00Z\","
	    "\"periodEnd\":\"2026-04-01T00:00:00Z\",\"accountedUntil\":\"2026-03-02T00:00:00Z\"}}",
	    "{\"usage\":{\"periodStart\":\"2026-03-01T00:00:00Z\","
	    "\"periodEnd\":\"2026-04-01T00:00:00Z\",\"accountedUntil\":\"2026-03-02T00:00:00Z\","
	    "\"usedMicroGPUSeconds\":\"7200000000\"}}",
	};
	struct gq_ledger got;

	(void)state;
	assert_int_equal(gq_acct_ledger_from_status(&got, NULL), GQ_ENOTFOUND);
	for (size_t i = 0; i < GQ_ARRAY_LEN(docs); i++) {
		yajl_val v = parse(docs[i]);
		int rc = gq_acct_ledger_from_status(&got, v);

		yajl_tree_free(v);
		if (rc != GQ_ENOTFOUND)
			fail_msg("doc %zu: %s, want ENOTFOUND", i, gq_strerror(rc));
	}
}

/* Inconsistent ledgers are refused (GQ_EINVAL). */
static void test_ledger_status_invalid(void **state)
{
	static const char *const docs[] = {
	    /* period end before start */
	    "{\"usage\":{\"periodStart\":\"2026-04-01T00:00:00Z\","
	    "\"periodEnd\":\"2026-03-01T00:00:00Z\",\"accountedUntil\":\"2026-03-15T00:00:00Z\","
	    "\"usedMicroGPUSeconds\":1}}",
	    /* accountedUntil past the period */
	    "{\"usage\":{\"periodStart\":\"2026-03-01T00:00:00Z\","
	    "\"periodEnd\":\"2026-04-01T00:00:00Z\",\"accountedUntil\":\"2026-04-01T00:00:01Z\","
	    "\"usedMicroGPUSeconds\":1}}",
	    /* accountedUntil before the period */
	    "{\"usage\":{\"periodStart\":\"2026-03-01T00:00:00Z\","
	    "\"periodEnd\":\"2026-04-01T00:00:00Z\",\"accountedUntil\":\"2026-02-28T00:00:00Z\","
	    "\"usedMicroGPUSeconds\":1}}",
	    /* negative usage */
	    "{\"usage\":{\"periodStart\":\"2026-03-01T00:00:00Z\","
	    "\"periodEnd\":\"2026-04-01T00:00:00Z\",\"accountedUntil\":\"2026-03-02T00:00:00Z\","
	    "\"usedMicroGPUSeconds\":-5}}",
	    /* a history record ending before it starts */
	    "{\"usage\":{\"periodStart\":\"2026-03-01T00:00:00Z\","
	    "\"periodEnd\":\"2026-04-01T00:00:00Z\",\"accountedUntil\":\"2026-03-02T00:00:00Z\","
	    "\"usedMicroGPUSeconds\":5},\"history\":[{\"periodStart\":\"2026-03-01T00:00:00Z\","
	    "\"periodEnd\":\"2026-02-01T00:00:00Z\",\"usedMicroGPUSeconds\":1}]}",
	    /* a history record without times */
	    "{\"usage\":{\"periodStart\":\"2026-03-01T00:00:00Z\","
	    "\"periodEnd\":\"2026-04-01T00:00:00Z\",\"accountedUntil\":\"2026-03-02T00:00:00Z\","
	    "\"usedMicroGPUSeconds\":5},\"history\":[{\"usedMicroGPUSeconds\":1}]}",
	    /* an unparsable periodEnd */
	    "{\"usage\":{\"periodStart\":\"2026-03-01T00:00:00Z\","
	    "\"periodEnd\":\"next month\",\"accountedUntil\":\"2026-03-02T00:00:00Z\","
	    "\"usedMicroGPUSeconds\":5}}",
	};
	struct gq_ledger got;

	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(docs); i++) {
		yajl_val v = parse(docs[i]);
		int rc = gq_acct_ledger_from_status(&got, v);

		yajl_tree_free(v);
		if (rc != GQ_EINVAL)
			fail_msg("doc %zu: %s, want EINVAL", i, gq_strerror(rc));
	}
}

/*
 * A usage whose periodStart (or accountedUntil) is missing or unparsable
 * is not a ledger: reading the absent time as 1970-01-01 yields a
 * "consistent" period [1970, periodEnd) that gq_acct_run then reshapes,
 * recording a bogus history period starting in 1970.
 */
static void test_ledger_status_missing_times(void **state)
{
	static const char *const docs[] = {
	    "{\"usage\":{\"periodEnd\":\"2026-04-01T00:00:00Z\","
	    "\"accountedUntil\":\"2026-03-02T00:00:00Z\",\"usedMicroGPUSeconds\":5}}",
	    "{\"usage\":{\"periodStart\":\"last month\",\"periodEnd\":\"2026-04-01T00:00:00Z\","
	    "\"accountedUntil\":\"2026-03-02T00:00:00Z\",\"usedMicroGPUSeconds\":5}}",
	};
	struct gq_ledger got;
	size_t accepted = 0;

	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(docs); i++) {
		yajl_val v = parse(docs[i]);
		int rc = gq_acct_ledger_from_status(&got, v);

		yajl_tree_free(v);
		if (rc == GQ_OK) {
			print_message("doc %zu accepted with period_start_ms %lld\n", i,
				      (long long)got.period_start_ms);
			accepted++;
		}
	}
	assert_int_equal(accepted, 0);
}

/* ------------------------------------------------------------------ */
/* gq_acct_run                                                          */
/* ------------------------------------------------------------------ */

/* The full fixture from a fresh ledger (no registry entry, no status). */
static void test_run_fixture(void **state)
{
	static const char *const fin_keys[] = {"ml-lab/c-deleted", "ml-lab/l-deleted-unstarted",
					       "ml-train/b-succeeded",
					       "ml-train/n-failed-unstarted"};
	static const size_t fin_idx[] = {0, 0, 1, 0};
	static const char *const add_keys[] = {"ml-train/g-timesliced", "ml-train/k-pending-nofin"};
	static const char *const rel_keys[] = {"ml-lab/j-held-old", "ml-train/i-held-new"};
	static const size_t rel_idx[] = {0, 1};
	struct gq_registry *reg = NULL;
	struct gq_acct_result r;
	struct caches c;
	struct gq_team t;
	int64_t now = T(NOW_S);

	(void)state;
	assert_int_equal(ALL_USED, 74700000000LL); /* 20.75 GPU-hours */
	team_ml(&t, "100", 80);
	caches_full(&c);
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	run_ok(&r, reg, &c, &t, NULL, now);

	assert_int_equal(r.budget_micro, 100 * H);
	assert_int_equal(r.ledger.used_micro, ALL_USED);
	assert_int_equal(r.ledger.period_start_ms, T("2026-03-01T00:00:00Z"));
	assert_int_equal(r.ledger.period_end_ms, T("2026-04-01T00:00:00Z"));
	assert_int_equal(r.ledger.accounted_until_ms, now);
	assert_int_equal(r.ledger.n_history, 0);
	assert_true(r.persist);
	assert_int_equal(r.persist_until_ms, now);
	assert_false(r.exhausted);
	assert_false(r.warn);
	/* a, g, h, m run; c's deletion time has passed */
	assert_int_equal(r.running_gpu_pods, 4);
	/* i and j wait on the gate; no over-budget class (policy Hold) */
	assert_int_equal(r.held_gpu_pods, 2);
	assert_int_equal(r.deprioritized_gpu_pods, 0);
	/* a fresh ledger: everything it counted is newly accounted */
	assert_int_equal(r.accounted_micro, ALL_USED);
	assert_pods(r.finalize, r.n_finalize, fin_keys, fin_idx, 4, false);
	assert_pods(r.add, r.n_add, add_keys, NULL, 2, false);
	/* oldest first */
	assert_pods(r.release, r.n_release, rel_keys, rel_idx, 2, true);

	/* the run reads the registry only: nothing was stored */
	{
		struct gq_ledger l;
		int64_t p;

		assert_false(gq_registry_get_ledger(reg, "ml", TEAM_UID, &l, &p));
	}
	gq_acct_result_free(&r);
	assert_null(r.finalize);
	assert_int_equal(r.n_add, 0);
	caches_free(&c);
	gq_registry_free(reg);
	gq_team_free(&t);
}

/* Warning and exhaustion thresholds; held pods stay while exhausted. */
static void test_run_warn_and_exhausted(void **state)
{
	static const char *const rel_keys[] = {"ml-lab/j-held-old", "ml-train/i-held-new"};
	static const struct {
		const char *hours;
		int warn_pct;
		bool warn, exhausted;
	} cases[] = {
	    {"100", 80, false, false},	  {"83", 25, true, false}, /* 25 % = 20.75 exactly */
	    {"83.001", 25, false, false}, {"26", 80, false, false},
	    {"25", 0, false, false},   /* warning off */
	    {"20.75", 80, true, true}, /* used == budget */
	    {"20", 100, true, true},	  {"0", 80, true, true},
	};
	struct gq_registry *reg = NULL;
	struct caches c;

	(void)state;
	caches_full(&c);
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	for (size_t i = 0; i < GQ_ARRAY_LEN(cases); i++) {
		struct gq_acct_result r;
		struct gq_team t;

		team_ml(&t, cases[i].hours, cases[i].warn_pct);
		run_ok(&r, reg, &c, &t, NULL, T(NOW_S));
		assert_int_equal(r.ledger.used_micro, ALL_USED);
		if (r.warn != cases[i].warn || r.exhausted != cases[i].exhausted)
			fail_msg("case %zu (%s h, %d %%): warn %d exhausted %d", i, cases[i].hours,
				 cases[i].warn_pct, r.warn, r.exhausted);
		if (cases[i].exhausted)
			assert_int_equal(r.n_release, 0);
		else
			assert_pods(r.release, r.n_release, rel_keys, NULL, 2, true);
		/* the other lists do not depend on the budget */
		assert_int_equal(r.n_finalize, 4);
		assert_int_equal(r.n_add, 2);
		gq_acct_result_free(&r);
		gq_team_free(&t);
	}
	caches_free(&c);
	gq_registry_free(reg);
}

/* spec.budget.weights replace the built-in weights, on time-sliced nodes
 * too. */
static void test_run_weight_overrides(void **state)
{
	struct gq_registry *reg = NULL;
	struct gq_acct_result r;
	struct caches c;
	struct gq_team t;

	(void)state;
	caches_full(&c);
	assert_int_equal(gq_registry_new(&reg), GQ_OK);

	/* MIG 1g at 0.5: h = 7 h x 0.5 = 3.5 h instead of 1 h */
	team_with_budget(&t,
			 "{\"gpuHours\":\"100\",\"weights\":{\"nvidia.com/mig-1g.10gb\":\"0.5\"}}");
	run_ok(&r, reg, &c, &t, NULL, T(NOW_S));
	assert_int_equal(r.ledger.used_micro, ALL_USED - H + 7 * H / 2);
	gq_acct_result_free(&r);
	gq_team_free(&t);

	/* a GPU at 0.5 everywhere: a 4 + b 3.5 + c 0.625 + g 10 x 0.5 = 5 (not
	 * 10 x 1/4) + h 1 + m 0.5 = 14.625 h */
	team_with_budget(&t, "{\"gpuHours\":\"100\",\"weights\":{\"nvidia.com/gpu\":\"0.5\"}}");
	run_ok(&r, reg, &c, &t, NULL, T(NOW_S));
	assert_int_equal(r.ledger.used_micro, 4 * H + 7 * H / 2 + 5 * H / 8 + 5 * H + H + H / 2);
	gq_acct_result_free(&r);
	gq_team_free(&t);

	caches_free(&c);
	gq_registry_free(reg);
}

/* x: Succeeded 01:00 .. finishedAt `end`, 2 GPUs. */
#define POD_X(end)                                                                                 \
	POD("ml-train", "x-moved", "2026-03-10T00:59:00Z", FIN_OURS,                               \
	    GPU_SPEC("plain-1", GPU_CT("nvidia.com/gpu", "2")),                                    \
	    "{\"phase\":\"Succeeded\",\"startTime\":\"2026-03-10T01:00:00Z\","                     \
	    "\"containerStatuses\":["                                                              \
	    "{\"name\":\"c\",\"state\":{\"terminated\":{\"exitCode\":0,\"startedAt\":"             \
	    "\"2026-03-10T01:00:00Z\",\"finishedAt\":\"" end "\"}}}]}")
/* y: running since 03:00, 1 GPU, first seen late. */
static const char POD_Y[] =
    POD("ml-lab", "y-late", "2026-03-10T02:59:00Z", FIN_OURS,
	GPU_SPEC("plain-2", GPU_CT("nvidia.com/gpu", "1")), RUNNING("2026-03-10T03:00:00Z"));

/* A pod's finishedAt rewritten later after it was charged, and a pod the
 * cache showed only after its start was accounted: the ledger re-charges
 * both by the difference (the records of what it charged, by pod uid). */
static void test_run_recharges_moved_and_late_pods(void **state)
{
	struct gq_registry *reg = NULL;
	struct gq_acct_result r1, r2;
	struct caches c;
	struct gq_team t;

	(void)state;
	team_ml(&t, "100", 80);
	caches_new(&c);
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	load(c.pods, (const char *const[]){POD_X("2026-03-10T02:00:00Z")}, 1);
	run_ok(&r1, reg, &c, &t, NULL, T("2026-03-10T04:00:00Z"));
	assert_int_equal(r1.ledger.used_micro, 2 * H); /* 1 h x 2 GPUs */
	assert_int_equal(r1.n_charged, 1);
	assert_false(r1.recharged);
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r1.ledger, r1.persist_until_ms);
	gq_registry_put_charged(reg, "ml", TEAM_UID, r1.charged, r1.n_charged);
	r1.charged = NULL;
	r1.n_charged = 0;

	/* x now ends 30 min later; y shows up, started at 03:00 (before
	 * accountedUntil 04:00). */
	load(c.pods, (const char *const[]){POD_X("2026-03-10T02:30:00Z"), POD_Y}, 2);
	run_ok(&r2, reg, &c, &t, NULL, T("2026-03-10T05:00:00Z"));
	assert_true(r2.recharged);
	assert_true(r2.persist);
	/* x: 1.5 h x 2 = 3 h; y: 03:00 .. 05:00 = 2 h */
	assert_int_equal(r2.ledger.used_micro, 3 * H + 2 * H);

	/* Without the records (a ledger read back after a restart), pods are
	 * taken as charged for what they show: y's hour before 04:00 is what
	 * the records saved. */
	gq_acct_result_free(&r2);
	gq_registry_forget(reg, "ml");
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r1.ledger, r1.persist_until_ms);
	run_ok(&r2, reg, &c, &t, NULL, T("2026-03-10T05:00:00Z"));
	assert_false(r2.recharged);
	assert_int_equal(r2.ledger.used_micro, 2 * H + H);

	gq_acct_result_free(&r1);
	gq_acct_result_free(&r2);
	caches_free(&c);
	gq_registry_free(reg);
	gq_team_free(&t);
}

/* Two runs (the first at an odd millisecond, before c was deleted) add up
 * exactly to one run over the whole span. */
static void test_run_split_is_exact(void **state)
{
	struct gq_registry *reg = NULL;
	struct gq_acct_result r1, r2;
	struct gq_ledger l;
	struct caches c;
	struct gq_team t;
	int64_t now1 = T("2026-03-10T06:00:00Z") + 333, p;

	(void)state;
	team_ml(&t, "100", 80);
	caches_full(&c);
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	run_ok(&r1, reg, &c, &t, NULL, now1);
	/* by 06:00:00.333: a 4 h 333 ms + b 7 h + c 1 h 333 ms + g (6 h 333 ms) / 4
	 * + h (3 h 333 ms) / 7 (floored; 1 ms of 1 GPU = 1000 micro GPU-s) */
	assert_int_equal(r1.ledger.used_micro, 4 * H + 333000 + 7 * H + H + 333000 +
						   (6 * H + 333000) / 4 + (3 * H + 333000) / 7);
	/* c still runs at now1: not released yet; l (deleted before it
	 * started, within its grace period) already can be */
	assert_pods(r1.finalize, r1.n_finalize,
		    (const char *const[]){"ml-lab/l-deleted-unstarted", "ml-train/b-succeeded",
					  "ml-train/n-failed-unstarted"},
		    (const size_t[]){0, 1, 0}, 3, false);
	assert_true(r1.persist);
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r1.ledger, r1.persist_until_ms);

	run_ok(&r2, reg, &c, &t, NULL, T(NOW_S));
	assert_int_equal(r2.ledger.used_micro, ALL_USED);
	assert_true(r2.persist);
	assert_int_equal(r2.persist_until_ms, T(NOW_S));
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r2.ledger, r2.persist_until_ms);
	assert_true(gq_registry_get_ledger(reg, "ml", TEAM_UID, &l, &p));
	assert_int_equal(l.used_micro, ALL_USED);
	assert_int_equal(p, T(NOW_S));

	/* the same instant again changes nothing; the ended pods still ask to
	 * be released, which needs a status write */
	gq_acct_result_free(&r2);
	run_ok(&r2, reg, &c, &t, NULL, T(NOW_S));
	assert_int_equal(r2.ledger.used_micro, ALL_USED);
	assert_int_equal(r2.n_finalize, 4);
	assert_true(r2.persist);

	gq_acct_result_free(&r1);
	gq_acct_result_free(&r2);
	caches_free(&c);
	gq_registry_free(reg);
	gq_team_free(&t);
}

/* Without a registry ledger for this uid the status is the start point. */
static void test_run_from_status(void **state)
{
	const char *status =
	    "{\"state\":\"Ready\",\"usage\":{\"usedGPUHours\":\"0\",\"budgetGPUHours\":\"100\","
	    "\"periodStart\":\"2026-03-01T00:00:00Z\",\"periodEnd\":\"2026-04-01T00:00:00Z\","
	    "\"accountedUntil\":\"2026-03-10T06:00:00Z\",\"usedMicroGPUSeconds\":1000},"
	    "\"history\":[{\"periodStart\":\"2026-02-01T00:00:00Z\","
	    "\"periodEnd\":\"2026-03-01T00:00:00Z\",\"usedMicroGPUSeconds\":42,"
	    "\"budgetGPUHours\":\"100\"}]}";
	/* [06:00, 10:00): a 4 h + c 0.25 h + g 4 h / 4 + m 1 h, and h's share
	 * F(7 h) - F(3 h) = 3.6e9 - floor(10.8e9 / 7) = 2057142858 */
	const int64_t want = 1000 + 4 * H + H / 4 + H + H + 2057142858LL;
	struct gq_registry *reg = NULL;
	struct gq_ledger other = {0};
	struct gq_acct_result r;
	yajl_val st = parse(status);
	struct caches c;
	struct gq_team t;

	(void)state;
	assert_int_equal(3600000000LL - 10800000000LL / 7, 2057142858LL);
	team_ml(&t, "100", 80);
	caches_full(&c);
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	/* a ledger of an earlier allocation of the same name: ignored */
	other.period_start_ms = T("2026-03-01T00:00:00Z");
	other.period_end_ms = T("2026-04-01T00:00:00Z");
	other.accounted_until_ms = T("2026-03-10T09:00:00Z");
	other.used_micro = 90 * H;
	gq_registry_put_ledger(reg, "ml", "an-older-uid", &other, other.accounted_until_ms);

	run_ok(&r, reg, &c, &t, st, T(NOW_S));
	assert_int_equal(r.ledger.used_micro, want);
	assert_int_equal(r.ledger.accounted_until_ms, T(NOW_S));
	assert_int_equal(r.ledger.n_history, 1);
	assert_int_equal(r.ledger.history[0].used_micro, 42);
	assert_true(r.persist);
	assert_int_equal(r.persist_until_ms, T(NOW_S));
	assert_false(r.exhausted);
	gq_acct_result_free(&r);

	/* the registry's ledger for this uid wins over the status */
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &other, other.accounted_until_ms);
	run_ok(&r, reg, &c, &t, st, T(NOW_S));
	/* [09:00, 10:00): a 1 + g 0.25 + h 1/7 + m 1 */
	assert_int_equal(r.ledger.used_micro, 90 * H + H + H / 4 + (7 * H / 7 - 6 * H / 7) + H);
	assert_int_equal(r.ledger.n_history, 0);
	assert_false(r.exhausted); /* 92.39 h of 100 */
	gq_acct_result_free(&r);

	yajl_tree_free(st);
	caches_free(&c);
	gq_registry_free(reg);
	gq_team_free(&t);
}

/* Crossing into a new period closes the old one into the history. */
static void test_run_period_rollover(void **state)
{
	const char *status =
	    "{\"usage\":{\"periodStart\":\"2026-02-01T00:00:00Z\","
	    "\"periodEnd\":\"2026-03-01T00:00:00Z\",\"accountedUntil\":\"2026-02-28T23:00:00Z\","
	    "\"usedMicroGPUSeconds\":18000000000},"
	    "\"history\":[{\"periodStart\":\"2026-01-01T00:00:00Z\","
	    "\"periodEnd\":\"2026-02-01T00:00:00Z\",\"usedMicroGPUSeconds\":7,"
	    "\"budgetGPUHours\":\"50\"}]}";
	struct gq_registry *reg = NULL;
	struct gq_acct_result r;
	yajl_val st = parse(status);
	struct caches c;
	struct gq_team t;

	(void)state;
	team_ml(&t, "100", 80);
	caches_full(&c);
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	run_ok(&r, reg, &c, &t, st, T(NOW_S));
	/* February kept its 5 h (no pod ran in its last hour) */
	assert_int_equal(r.ledger.n_history, 2);
	assert_int_equal(r.ledger.history[0].start_ms, T("2026-02-01T00:00:00Z"));
	assert_int_equal(r.ledger.history[0].end_ms, T("2026-03-01T00:00:00Z"));
	assert_int_equal(r.ledger.history[0].used_micro, 5 * H);
	assert_int_equal(r.ledger.history[0].budget_micro, 100 * H);
	assert_int_equal(r.ledger.history[1].used_micro, 7);
	assert_int_equal(r.ledger.history[1].budget_micro, 50 * H);
	/* March: as the fixture, except that g counts from its own start
	 * (22:00 the day before) now that the ledger predates it: 12 h / 4 */
	assert_int_equal(r.ledger.period_start_ms, T("2026-03-01T00:00:00Z"));
	assert_int_equal(r.ledger.used_micro, ALL_USED - 5 * H / 2 + 3 * H);
	assert_true(r.persist);
	/* newly accounted: February's last hour (nothing) and March so far,
	 * though used_micro restarted with March */
	assert_int_equal(r.accounted_micro, ALL_USED - 5 * H / 2 + 3 * H);
	gq_acct_result_free(&r);
	yajl_tree_free(st);
	caches_free(&c);
	gq_registry_free(reg);
	gq_team_free(&t);
}

/* Deprioritize: GPU pods in the over-budget class that have not ended are
 * counted (running or pending), ended ones not. */
static void test_run_counts_deprioritized(void **state)
{
	static const char *const pods[] = {
	    POD("ml-train", "p-run", "2026-03-10T08:59:00Z", FIN_OURS,
		"{\"nodeName\":\"plain-1\",\"priorityClassName\":\"ml-over-budget\","
		"\"containers\":[" GPU_CT("nvidia.com/gpu", "1") "]}",
		RUNNING("2026-03-10T09:00:00Z")),
	    POD("ml-lab", "p-pending", "2026-03-10T09:30:00Z", FIN_OURS,
		"{\"priorityClassName\":\"ml-over-budget\","
		"\"containers\":[" GPU_CT("nvidia.com/gpu", "1") "]}",
		PENDING),
	    POD("ml-train", "p-other", "2026-03-10T08:59:00Z", FIN_OURS,
		"{\"nodeName\":\"plain-1\",\"priorityClassName\":\"ml-work\","
		"\"containers\":[" GPU_CT("nvidia.com/gpu", "1") "]}",
		RUNNING("2026-03-10T09:00:00Z")),
	};
	struct gq_registry *reg = NULL;
	struct gq_acct_result r;
	struct caches c;
	struct gq_team t;

	(void)state;
	team_with_budget(&t, "{\"gpuHours\":\"1\",\"period\":\"Monthly\","
			     "\"onExhausted\":\"Deprioritize\"}");
	caches_new(&c);
	load(c.pods, pods, GQ_ARRAY_LEN(pods));
	load(c.nodes, NODES, GQ_ARRAY_LEN(NODES));
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	run_ok(&r, reg, &c, &t, NULL, T(NOW_S));
	assert_int_equal(r.deprioritized_gpu_pods, 2);
	assert_int_equal(r.running_gpu_pods, 2);
	assert_int_equal(r.held_gpu_pods, 0);
	gq_acct_result_free(&r);
	caches_free(&c);
	gq_registry_free(reg);
	gq_team_free(&t);
}

/* persist: always for a fresh ledger; afterwards only when the usage or
 * the period changed, or ended pods wait for a write. */
static void test_run_persist(void **state)
{
	static const char *const only_ignored[] = {POD_E, POD_F, POD_O};
	static const char *const only_b[] = {POD_B};
	struct gq_registry *reg = NULL;
	struct gq_acct_result r;
	struct caches c;
	struct gq_team t;
	const int64_t t1 = T("2026-03-10T10:00:00Z"), t2 = T("2026-03-12T00:00:00Z");

	(void)state;
	team_ml(&t, "100", 80);
	caches_new(&c);
	load(c.pods, only_ignored, GQ_ARRAY_LEN(only_ignored));
	load(c.nodes, NODES, GQ_ARRAY_LEN(NODES));
	assert_int_equal(gq_registry_new(&reg), GQ_OK);

	/* fresh: nothing used, but the ledger must be written once */
	run_ok(&r, reg, &c, &t, NULL, t1);
	assert_int_equal(r.ledger.used_micro, 0);
	assert_true(r.persist);
	assert_int_equal(r.persist_until_ms, t1);
	assert_int_equal(r.running_gpu_pods, 0);
	assert_int_equal(r.n_finalize + r.n_add + r.n_release, 0);
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r.ledger, r.persist_until_ms);
	gq_acct_result_free(&r);

	/* nothing changed: no write, the persisted accountedUntil stays */
	run_ok(&r, reg, &c, &t, NULL, t2);
	assert_false(r.persist);
	assert_int_equal(r.persist_until_ms, t1);
	assert_int_equal(r.ledger.accounted_until_ms, t2);
	assert_int_equal(r.ledger.used_micro, 0);
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r.ledger, r.persist_until_ms);
	gq_acct_result_free(&r);

	/* a new period: write, even with nothing used */
	run_ok(&r, reg, &c, &t, NULL, T("2026-04-01T00:00:05Z"));
	assert_true(r.persist);
	assert_int_equal(r.persist_until_ms, T("2026-04-01T00:00:05Z"));
	assert_int_equal(r.ledger.n_history, 1);
	assert_int_equal(r.ledger.history[0].used_micro, 0);
	gq_acct_result_free(&r);

	/* b ended long ago and was counted (fresh run from the creation
	 * time): its release needs a write although the usage is unchanged */
	gq_registry_forget(reg, "ml");
	load(c.pods, only_b, 1);
	run_ok(&r, reg, &c, &t, NULL, t1);
	assert_int_equal(r.ledger.used_micro, 7 * H);
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r.ledger, r.persist_until_ms);
	gq_acct_result_free(&r);
	run_ok(&r, reg, &c, &t, NULL, t2);
	assert_int_equal(r.ledger.used_micro, 7 * H);
	assert_int_equal(r.n_finalize, 1);
	assert_string_equal(r.finalize[0].key, "ml-train/b-succeeded");
	assert_int_equal(r.finalize[0].index, 1);
	assert_true(r.persist);
	assert_int_equal(r.persist_until_ms, t2);
	gq_acct_result_free(&r);

	caches_free(&c);
	gq_registry_free(reg);
	gq_team_free(&t);
}

/* As run_ok with a write interval. */
static void run_w(struct gq_acct_result *out, struct gq_registry *reg, struct caches *c,
		  const struct gq_team *t, int64_t now, int64_t write_interval_ms)
{
	struct gq_err err = {0};
	int rc = gq_acct_run(out, reg, c->pods, c->nodes, t, NS, GQ_ARRAY_LEN(NS), NULL, now,
			     write_interval_ms, &err);

	if (rc != GQ_OK)
		fail_msg("gq_acct_run: %s: %s", gq_strerror(rc), err.msg);
}

/* Bounded writes: with a running pod the usage moves every pass, but the
 * status takes it only once per write interval, or at once when a
 * threshold flips, and ended pods are released at most once a second. In
 * between, status_ledger is the ledger last persisted, unchanged. */
static void test_run_bounded_writes(void **state)
{
	static const char *const running[] = {POD(
	    "ml-lab", "p-run", "2026-03-10T09:00:00Z", FIN_OURS,
	    GPU_SPEC("plain-1", GPU_CT("nvidia.com/gpu", "1")), RUNNING("2026-03-10T09:00:00Z"))};
	static const char *const ended[] = {
	    POD("ml-lab", "p-run", "2026-03-10T09:00:00Z", FIN_OURS,
		GPU_SPEC("plain-1", GPU_CT("nvidia.com/gpu", "1")),
		SUCCEEDED("2026-03-10T09:00:00Z", "2026-03-10T10:00:10Z"))};
	const int64_t hour = INT64_C(3600000), iv = hour; /* a long interval */
	const int64_t t0 = T("2026-03-10T09:40:00Z");
	struct gq_registry *reg = NULL;
	struct gq_acct_result r;
	struct caches c;
	struct gq_team t;

	(void)state;
	team_ml(&t, "1", 80); /* warning at 0.8 GPU-hours, exhausted at 1 */
	caches_new(&c);
	load(c.pods, running, 1);
	load(c.nodes, NODES, GQ_ARRAY_LEN(NODES));
	assert_int_equal(gq_registry_new(&reg), GQ_OK);

	/* fresh: written */
	run_w(&r, reg, &c, &t, t0, iv);
	assert_true(r.persist);
	assert_int_equal(r.ledger.used_micro, 2400 * INT64_C(1000000));
	assert_int_equal(r.status_ledger.used_micro, r.ledger.used_micro);
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r.ledger, r.persist_until_ms);
	gq_acct_result_free(&r);

	/* 30 s on: moved, not due, no threshold: the status keeps 09:40 */
	run_w(&r, reg, &c, &t, t0 + 30000, iv);
	assert_false(r.persist);
	assert_int_equal(r.ledger.used_micro, 2430 * INT64_C(1000000));
	assert_int_equal(r.status_ledger.used_micro, 2400 * INT64_C(1000000));
	assert_int_equal(r.status_ledger.accounted_until_ms, t0);
	assert_int_equal(r.persist_until_ms, t0);
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r.ledger, r.persist_until_ms);
	gq_acct_result_free(&r);

	/* 09:48:01: past the warning (2881 s > 2880 s): written at once */
	run_w(&r, reg, &c, &t, T("2026-03-10T09:48:01Z"), iv);
	assert_true(r.warn);
	assert_true(r.persist);
	assert_int_equal(r.status_ledger.used_micro, 2881 * INT64_C(1000000));
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r.ledger, r.persist_until_ms);
	gq_acct_result_free(&r);

	/* 09:50: moved only */
	run_w(&r, reg, &c, &t, T("2026-03-10T09:50:00Z"), iv);
	assert_false(r.persist);
	assert_int_equal(r.status_ledger.used_micro, 2881 * INT64_C(1000000));
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r.ledger, r.persist_until_ms);
	gq_acct_result_free(&r);

	/* the same with interval 0: every move is written */
	run_w(&r, reg, &c, &t, T("2026-03-10T09:51:00Z"), 0);
	assert_true(r.persist);
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r.ledger, r.persist_until_ms);
	gq_acct_result_free(&r);

	/* 10:00:01: exhausted: written at once */
	run_w(&r, reg, &c, &t, T("2026-03-10T10:00:01Z"), iv);
	assert_true(r.exhausted);
	assert_true(r.persist);
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r.ledger, r.persist_until_ms);
	gq_acct_result_free(&r);

	/* the pod ended at 10:00:10; 10:00:10.5 is 9.5 s after the last write:
	 * released now */
	load(c.pods, ended, 1);
	run_w(&r, reg, &c, &t, T("2026-03-10T10:00:10Z") + 500, iv);
	assert_true(r.persist);
	assert_int_equal(r.n_finalize, 1);
	assert_int_equal(r.retry_after_ms, 0);
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r.ledger, r.persist_until_ms);
	gq_acct_result_free(&r);

	caches_free(&c);
	gq_registry_free(reg);
	gq_team_free(&t);
}

/* Ended pods within a second of the last write wait for the next second. */
static void test_run_release_once_a_second(void **state)
{
	static const char *const ended[] = {
	    POD("ml-lab", "p-end", "2026-03-10T09:00:00Z", FIN_OURS,
		GPU_SPEC("plain-1", GPU_CT("nvidia.com/gpu", "1")),
		SUCCEEDED("2026-03-10T09:00:00Z", "2026-03-10T09:30:00Z"))};
	const int64_t t0 = T("2026-03-10T09:30:00Z");
	struct gq_registry *reg = NULL;
	struct gq_acct_result r;
	struct caches c;
	struct gq_team t;

	(void)state;
	team_ml(&t, "100", 80);
	caches_new(&c);
	load(c.nodes, NODES, GQ_ARRAY_LEN(NODES));
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	/* persisted at 09:30:00 with no pod */
	run_w(&r, reg, &c, &t, t0, 60000);
	assert_true(r.persist);
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r.ledger, r.persist_until_ms);
	gq_acct_result_free(&r);
	/* 400 ms later the ended pod shows up: its release waits 600 ms */
	load(c.pods, ended, 1);
	run_w(&r, reg, &c, &t, t0 + 400, 60000);
	assert_false(r.persist);
	assert_int_equal(r.n_finalize, 0);
	assert_int_equal(r.retry_after_ms, 600);
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r.ledger, r.persist_until_ms);
	gq_acct_result_free(&r);
	/* at 09:30:01 it goes */
	run_w(&r, reg, &c, &t, t0 + 1000, 60000);
	assert_true(r.persist);
	assert_int_equal(r.n_finalize, 1);
	gq_acct_result_free(&r);

	caches_free(&c);
	gq_registry_free(reg);
	gq_team_free(&t);
}

/* A finishedAt after now (clock skew between node and controller): the
 * pod is counted up to now and keeps its finalizer until the ledger has
 * passed its end. */
static void test_run_end_after_now(void **state)
{
	static const char *const pods[] = {
	    POD("ml-lab", "p-skewed", "2026-03-10T09:00:00Z", FIN_OURS,
		GPU_SPEC("plain-1", GPU_CT("nvidia.com/gpu", "2")),
		SUCCEEDED("2026-03-10T09:30:00Z", "2026-03-10T10:00:05Z"))};
	struct gq_registry *reg = NULL;
	struct gq_acct_result r;
	struct caches c;
	struct gq_team t;

	(void)state;
	team_ml(&t, "100", 80);
	caches_new(&c);
	load(c.pods, pods, 1);
	load(c.nodes, NODES, GQ_ARRAY_LEN(NODES));
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	run_ok(&r, reg, &c, &t, NULL, T(NOW_S));
	assert_int_equal(r.ledger.used_micro, 2 * H / 2); /* 2 GPUs x 0.5 h */
	assert_int_equal(r.n_finalize, 0);
	assert_int_equal(r.n_add, 0);
	gq_registry_put_ledger(reg, "ml", TEAM_UID, &r.ledger, r.persist_until_ms);
	gq_acct_result_free(&r);

	run_ok(&r, reg, &c, &t, NULL, T("2026-03-10T10:01:00Z"));
	/* + 5 s x 2 GPUs, nothing after its end */
	assert_int_equal(r.ledger.used_micro, H + 10 * 1000000LL);
	assert_int_equal(r.n_finalize, 1);
	assert_string_equal(r.finalize[0].key, "ml-lab/p-skewed");
	assert_int_equal(r.finalize[0].index, 0);
	gq_acct_result_free(&r);
	caches_free(&c);
	gq_registry_free(reg);
	gq_team_free(&t);
}

/* Only the namespaces given are the team's; none given: nothing counted. */
static void test_run_namespaces(void **state)
{
	static const char *const lab[] = {"ml-lab"};
	struct gq_registry *reg = NULL;
	struct gq_acct_result r;
	struct gq_err err = {0};
	struct caches c;
	struct gq_team t;

	(void)state;
	team_ml(&t, "100", 80);
	caches_full(&c);
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	/* ml-lab: c 1.25 h + h 1 h */
	assert_int_equal(gq_acct_run(&r, reg, c.pods, c.nodes, &t, lab, 1, NULL, T(NOW_S), 0, &err),
			 GQ_OK);
	assert_int_equal(r.ledger.used_micro, 5 * H / 4 + H);
	assert_int_equal(r.n_finalize, 2);
	assert_int_equal(r.n_add, 0);
	assert_pods(r.release, r.n_release, (const char *const[]){"ml-lab/j-held-old"}, NULL, 1,
		    true);
	gq_acct_result_free(&r);

	assert_int_equal(
	    gq_acct_run(&r, reg, c.pods, c.nodes, &t, NULL, 0, NULL, T(NOW_S), 0, &err), GQ_OK);
	assert_int_equal(r.ledger.used_micro, 0);
	assert_int_equal(r.n_finalize + r.n_add + r.n_release, 0);
	assert_int_equal(r.running_gpu_pods, 0);
	gq_acct_result_free(&r);
	caches_free(&c);
	gq_registry_free(reg);
	gq_team_free(&t);
}

/* A prior as the registry would hold it: the ledger of team t advanced
 * over pod rec to until_ms, persisted there. */
static void quiet_prior(struct gq_acct_prior *p, const struct gq_team *t,
			struct gq_charged_pod *rec, int64_t until_ms)
{
	int64_t anchor = T("2026-03-10T00:00:00Z"), budget = 0;

	memset(p, 0, sizeof(*p));
	assert_int_equal(gq_ledger_budget_micro(&t->budget, &budget), GQ_OK);
	assert_int_equal(gq_ledger_init(&p->ledger, &t->budget, anchor, anchor), GQ_OK);
	assert_int_equal(
	    gq_ledger_advance(&p->ledger, &t->budget, anchor, budget, &rec->pod, 1, until_ms),
	    GQ_OK);
	p->have = p->have_recs = p->have_last = true;
	p->recs = rec;
	p->n_recs = 1;
	p->last = p->ledger;
	p->persisted = p->ledger.accounted_until_ms;
}

/* gq_acct_quiet: running pods accrue exactly as a full advance would,
 * until a write is due, a threshold is crossed, the period rolls over, or
 * a pod has ended; without records nothing is quiet. */
static void test_quiet_pass(void **state)
{
	struct gq_charged_pod rec = {"u1", {T("2026-03-15T11:00:00Z"), 0, {2, 1}}};
	const int64_t t0 = T("2026-03-15T12:00:00Z");
	struct gq_acct_prior p;
	struct gq_ledger out, full;
	struct gq_team t;
	int64_t budget = 0;

	(void)state;
	team_ml(&t, "1000", 80);
	quiet_prior(&p, &t, &rec, t0);
	assert_int_equal(p.ledger.used_micro, 2 * H);
	/* 10 s later, a 60 s write interval: quiet, 20 GPU-s more, exact */
	assert_true(gq_acct_quiet(&out, &t, &p, t0 + 10000, 60000));
	assert_int_equal(out.used_micro, 2 * H + 20 * 1000000);
	assert_int_equal(out.accounted_until_ms, t0 + 10000);
	full = p.ledger;
	assert_int_equal(gq_ledger_budget_micro(&t.budget, &budget), GQ_OK);
	assert_int_equal(gq_ledger_advance(&full, &t.budget, T("2026-03-10T00:00:00Z"), budget,
					   &rec.pod, 1, t0 + 10000),
			 GQ_OK);
	assert_memory_equal(&out, &full, sizeof(out));
	/* the write is due 60 s after the last one */
	assert_false(gq_acct_quiet(&out, &t, &p, t0 + 60000, 60000));
	assert_false(gq_acct_quiet(&out, &t, &p, t0 + 1000, 0));
	/* a pod that ended, or one that never started: a full pass */
	rec.pod.end_ms = t0 + 5000;
	assert_false(gq_acct_quiet(&out, &t, &p, t0 + 10000, 60000));
	rec.pod.end_ms = 0;
	/* the period rolls over on April 1st */
	assert_false(gq_acct_quiet(&out, &t, &p, T("2026-04-01T00:00:05Z"), 1000000000));
	/* no charge records (a ledger read back from status): a full pass */
	p.have_recs = false;
	assert_false(gq_acct_quiet(&out, &t, &p, t0 + 10000, 60000));
	gq_team_free(&t);

	/* 2.2 GPU-hours, warning at 80 % (1.76 h): crossing it is written */
	team_ml(&t, "2.2", 80);
	quiet_prior(&p, &t, &rec, t0 - 15 * 60000); /* 1.5 GPU-hours */
	assert_true(gq_acct_quiet(&out, &t, &p, t0 - 15 * 60000 + 10000, 3600000));
	assert_false(gq_acct_quiet(&out, &t, &p, t0 - 7 * 60000, 3600000)); /* 1.77 h */
	gq_team_free(&t);
	/* and the budget spent */
	team_ml(&t, "1.6", 0);
	quiet_prior(&p, &t, &rec, t0 - 15 * 60000);
	assert_false(gq_acct_quiet(&out, &t, &p, t0 - 12 * 60000, 3600000)); /* 1.6 h */
	gq_team_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_is_gpu_pod),
	    cmocka_unit_test(test_quiet_pass),
	    cmocka_unit_test(test_marks),
	    cmocka_unit_test(test_ledger_status_round_trip),
	    cmocka_unit_test(test_ledger_status_hand_written),
	    cmocka_unit_test(test_ledger_status_history_bound),
	    cmocka_unit_test(test_ledger_status_missing),
	    cmocka_unit_test(test_ledger_status_invalid),
	    cmocka_unit_test(test_ledger_status_missing_times),
	    cmocka_unit_test(test_run_fixture),
	    cmocka_unit_test(test_run_warn_and_exhausted),
	    cmocka_unit_test(test_run_weight_overrides),
	    cmocka_unit_test(test_run_split_is_exact),
	    cmocka_unit_test(test_run_recharges_moved_and_late_pods),
	    cmocka_unit_test(test_run_from_status),
	    cmocka_unit_test(test_run_period_rollover),
	    cmocka_unit_test(test_run_counts_deprioritized),
	    cmocka_unit_test(test_run_persist),
	    cmocka_unit_test(test_run_bounded_writes),
	    cmocka_unit_test(test_run_release_once_a_second),
	    cmocka_unit_test(test_run_end_after_now),
	    cmocka_unit_test(test_run_namespaces),
	};
	return cmocka_run_group_tests_name("accounting", tests, NULL, NULL);
}
