/*
 * Unit tests for registry.c: the registry (ledgers keyed by team and
 * allocation uid, admission snapshots deep-copied, forget) and the webhook
 * handler gq_registry_admit on realistic AdmissionReviews: the default-class
 * ops plus the accounting finalizer op in the (base64-decoded) patch, pods
 * outside any team, non-GPU pods, malformed bodies, budget denials and the
 * stats counters.
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

#include "admission.h"
#include "registry.h"
#include "buf.h"
#include "gq.h"
#include "json_assert.h"
#include "ledger.h"

#define H	   GQ_LEDGER_MICRO_PER_HOUR /* one GPU-hour in micro GPU-seconds */
#define REVIEW_UID "705ab4f5-6393-11e8-b7cc-42010a800002"
#define FIN_OP_NEW                                                                                 \
	"{\"op\":\"add\",\"path\":\"/metadata/finalizers\",\"value\":[\"gpuquota.io/"              \
	"accounting\"]}"
#define FIN_OP_APPEND                                                                              \
	"{\"op\":\"add\",\"path\":\"/metadata/finalizers/-\",\"value\":\"gpuquota.io/"             \
	"accounting\"}"
#define DEFAULT_OPS                                                                                \
	"{\"op\":\"add\",\"path\":\"/spec/priorityClassName\",\"value\":\"ml-low\"},"              \
	"{\"op\":\"add\",\"path\":\"/spec/priority\",\"value\":1000},"                             \
	"{\"op\":\"add\",\"path\":\"/spec/preemptionPolicy\",\"value\":\"PreemptLowerPriority\"}"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

/*
 * A Pod CREATE AdmissionReview as the apiserver sends it: namespace ns,
 * operation op, metadata extra members meta (e.g. ",\"finalizers\":[...]"),
 * and the pod spec. New heap string.
 */
static char *review(const char *op, const char *ns, const char *meta, const char *spec)
{
	return gq_asprintf(
	    "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
	    "\"request\":{\"uid\":\"" REVIEW_UID "\","
	    "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
	    "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
	    "\"requestKind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
	    "\"requestResource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
	    "\"name\":\"train-0\",\"namespace\":\"%s\",\"operation\":\"%s\","
	    "\"userInfo\":{\"username\":\"alice\",\"groups\":[\"system:authenticated\"]},"
	    "\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"train-0\","
	    "\"namespace\":\"%s\",\"labels\":{\"app\":\"train\"}%s},"
	    "\"spec\":%s,\"status\":{}},"
	    "\"oldObject\":null,\"dryRun\":false,"
	    "\"options\":{\"kind\":\"CreateOptions\",\"apiVersion\":\"meta.k8s.io/v1\"}}}",
	    ns, op, ns, meta, spec);
}

/* A pod spec with one container asking for n nvidia.com/gpu (requests and
 * limits, as Kubernetes requires for extended resources); extra goes first
 * inside the spec object (e.g. "\"priorityClassName\":\"x\","). */
static char *gpu_spec(int n, const char *extra)
{
	return gq_asprintf(
	    "{%s\"containers\":[{\"name\":\"train\",\"image\":\"pytorch:2\","
	    "\"resources\":{\"requests\":{\"cpu\":\"4\",\"memory\":\"16Gi\",\"nvidia.com/"
	    "gpu\":\"%d\"},"
	    "\"limits\":{\"memory\":\"16Gi\",\"nvidia.com/gpu\":\"%d\"}}}],"
	    "\"restartPolicy\":\"Never\",\"schedulerName\":\"default-scheduler\",\"priority\":0,"
	    "\"preemptionPolicy\":\"PreemptLowerPriority\"}",
	    extra, n, n);
}

static const char *const CPU_SPEC =
    "{\"containers\":[{\"name\":\"web\",\"image\":\"nginx\",\"resources\":{\"requests\":"
    "{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}}],\"priority\":0}";

/* What gq_registry_admit answered, decoded. Strings owned. */
struct reply {
	int http;
	char *body; /* raw output */
	bool allowed;
	char *patch;	/* decoded JSON patch, NULL when none */
	long long code; /* response.status.code, 0 when absent */
	char *message;	/* response.status.message, NULL when absent */
	size_t n_warnings;
};

static void reply_free(struct reply *r)
{
	free(r->body);
	free(r->patch);
	free(r->message);
	memset(r, 0, sizeof(*r));
}

/* Calls gq_registry_admit on body; for HTTP 200 checks the review envelope
 * and the echoed uid and decodes the response. */
static void admit(struct gq_registry *reg, const char *body, size_t len, struct reply *out)
{
	struct gq_buf b;
	yajl_val doc, r, v;
	char ebuf[256];

	memset(out, 0, sizeof(*out));
	gq_buf_init(&b, 1 << 20);
	out->http = gq_registry_admit(reg, body, len, &b);
	out->body = gq_buf_steal(&b);
	gq_buf_free(&b);
	if (out->http != 200)
		return;
	doc = yajl_tree_parse(out->body, ebuf, sizeof(ebuf));
	if (doc == NULL)
		fail_msg("response is not JSON (%s): %s", ebuf, out->body);
	assert_string_equal(YAJL_GET_STRING(yajl_tree_get(doc, (const char *[]){"apiVersion", NULL},
							  yajl_t_string)),
			    "admission.k8s.io/v1");
	assert_string_equal(
	    YAJL_GET_STRING(yajl_tree_get(doc, (const char *[]){"kind", NULL}, yajl_t_string)),
	    "AdmissionReview");
	r = yajl_tree_get(doc, (const char *[]){"response", NULL}, yajl_t_object);
	assert_non_null(r);
	assert_string_equal(
	    YAJL_GET_STRING(yajl_tree_get(r, (const char *[]){"uid", NULL}, yajl_t_string)),
	    REVIEW_UID);
	v = yajl_tree_get(r, (const char *[]){"allowed", NULL}, yajl_t_any);
	assert_non_null(v);
	assert_true(YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v));
	out->allowed = YAJL_IS_TRUE(v);
	v = yajl_tree_get(r, (const char *[]){"patch", NULL}, yajl_t_string);
	if (v != NULL) {
		yajl_val pt = yajl_tree_get(r, (const char *[]){"patchType", NULL}, yajl_t_string);

		assert_non_null(pt);
		assert_string_equal(YAJL_GET_STRING(pt), "JSONPatch");
		out->patch = unbase64(YAJL_GET_STRING(v));
	}
	v = yajl_tree_get(r, (const char *[]){"status", "code", NULL}, yajl_t_number);
	if (v != NULL)
		out->code = YAJL_GET_INTEGER(v);
	v = yajl_tree_get(r, (const char *[]){"status", "message", NULL}, yajl_t_string);
	if (v != NULL)
		out->message = gq_strdup(YAJL_GET_STRING(v));
	v = yajl_tree_get(r, (const char *[]){"warnings", NULL}, yajl_t_array);
	out->n_warnings = v ? v->u.array.len : 0;
	yajl_tree_free(doc);
}

/* Builds a review from its parts and admits it. */
static void admit_pod(struct gq_registry *reg, const char *op, const char *ns, const char *meta,
		      const char *spec, struct reply *out)
{
	char *body = review(op, ns, meta, spec);

	admit(reg, body, strlen(body), out);
	free(body);
}

static const char *const NS_ML[] = {"ml-train", "ml-lab"};
static const char *const TIERS[] = {"ml-high", "ml-low"};
static const char *const EXEMPT[] = {"ml-high"};

/* Team ml as the reconciler publishes it: two tiers (ml-low the default),
 * ml-high exempt, 10 GPU-hours with used hours used, policy Deny. */
static struct gq_adm_team ml_team(int64_t used)
{
	struct gq_adm_team t = {
	    .name = "ml",
	    .tier_classes = TIERS,
	    .n_tiers = 2,
	    .default_class = "ml-low",
	    .default_value = 1000,
	    .default_preemption_policy = "PreemptLowerPriority",
	    .exempt_classes = EXEMPT,
	    .n_exempt = 1,
	    .max_gpus_per_pod = 8,
	    .has_budget = true,
	    .policy = GQ_EXHAUSTED_DENY,
	    .used_micro = used,
	    .budget_micro = 10 * H,
	    .warn_at_percent = 80,
	    .reset_time = "2026-04-01T00:00:00Z",
	    .over_budget_class = "ml-over-budget",
	    .over_budget_value = 10,
	};
	return t;
}

/* A registry with team ml published on ml-train and ml-lab. */
static struct gq_registry *ml_registry(int64_t used)
{
	struct gq_registry *reg = NULL;
	struct gq_adm_team t = ml_team(used);

	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	assert_non_null(reg);
	gq_registry_set_admission(reg, "ml", NS_ML, 2, &t);
	return reg;
}

/* A ledger with distinct values in every field. */
static struct gq_ledger sample_ledger(int64_t used)
{
	struct gq_ledger l;

	memset(&l, 0, sizeof(l));
	l.period_start_ms = 1772323200000; /* 2026-03-01T00:00:00Z */
	l.period_end_ms = 1775001600000;   /* 2026-04-01T00:00:00Z */
	l.accounted_until_ms = 1773100800000;
	l.used_micro = used;
	l.n_history = 2;
	l.history[0] = (struct gq_ledger_period_rec){1769904000000, 1772323200000, 7 * H, 100 * H};
	l.history[1] = (struct gq_ledger_period_rec){1767225600000, 1769904000000, 3, 50 * H};
	return l;
}

static void assert_ledger_eq(const struct gq_ledger *a, const struct gq_ledger *b)
{
	assert_int_equal(a->period_start_ms, b->period_start_ms);
	assert_int_equal(a->period_end_ms, b->period_end_ms);
	assert_int_equal(a->accounted_until_ms, b->accounted_until_ms);
	assert_int_equal(a->used_micro, b->used_micro);
	assert_int_equal(a->n_history, b->n_history);
	for (size_t i = 0; i < a->n_history; i++) {
		assert_int_equal(a->history[i].start_ms, b->history[i].start_ms);
		assert_int_equal(a->history[i].end_ms, b->history[i].end_ms);
		assert_int_equal(a->history[i].used_micro, b->history[i].used_micro);
		assert_int_equal(a->history[i].budget_micro, b->history[i].budget_micro);
	}
}

/* ------------------------------------------------------------------ */
/* Registry                                                             */
/* ------------------------------------------------------------------ */

/* A ledger is found only under the (team, uid) it was stored with. */
static void test_ledger_get_put(void **state)
{
	struct gq_registry *reg = NULL;
	struct gq_ledger in = sample_ledger(42 * H + 7), got, in2 = sample_ledger(5);
	int64_t persisted = -77;

	(void)state;
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	/* empty registry */
	assert_false(gq_registry_get_ledger(reg, "ml", "uid-1", &got, &persisted));
	assert_int_equal(persisted, -77);

	gq_registry_put_ledger(reg, "ml", "uid-1", &in, 1773000000000);
	memset(&got, 0xab, sizeof(got));
	assert_true(gq_registry_get_ledger(reg, "ml", "uid-1", &got, &persisted));
	assert_ledger_eq(&got, &in);
	assert_int_equal(persisted, 1773000000000);

	/* same team, another allocation uid (re-created): not found */
	persisted = -77;
	assert_false(gq_registry_get_ledger(reg, "ml", "uid-2", &got, &persisted));
	assert_int_equal(persisted, -77);
	assert_false(gq_registry_get_ledger(reg, "ml", NULL, &got, &persisted));
	/* another team with the same uid: not found */
	assert_false(gq_registry_get_ledger(reg, "cv", "uid-1", &got, &persisted));

	/* a second team does not disturb the first */
	gq_registry_put_ledger(reg, "cv", "uid-9", &in2, 5);
	assert_true(gq_registry_get_ledger(reg, "cv", "uid-9", &got, &persisted));
	assert_ledger_eq(&got, &in2);
	assert_int_equal(persisted, 5);
	assert_true(gq_registry_get_ledger(reg, "ml", "uid-1", &got, &persisted));
	assert_ledger_eq(&got, &in);

	/* put with the new uid replaces: the old uid is gone */
	gq_registry_put_ledger(reg, "ml", "uid-2", &in2, 99);
	assert_false(gq_registry_get_ledger(reg, "ml", "uid-1", &got, &persisted));
	assert_true(gq_registry_get_ledger(reg, "ml", "uid-2", &got, &persisted));
	assert_ledger_eq(&got, &in2);
	assert_int_equal(persisted, 99);

	/* an admission snapshot alone holds no ledger */
	{
		struct gq_adm_team t = ml_team(0);

		t.name = "nlp";
		gq_registry_set_admission(reg, "nlp", NS_ML, 1, &t);
		assert_false(gq_registry_get_ledger(reg, "nlp", "", &got, &persisted));
		/* ... and setting it keeps the team's ledger */
		gq_registry_set_admission(reg, "ml", NS_ML, 2, &t);
		assert_true(gq_registry_get_ledger(reg, "ml", "uid-2", &got, &persisted));
		assert_ledger_eq(&got, &in2);
	}
	gq_registry_free(reg);
	gq_registry_free(NULL);
}

/* The ledger last persisted: kept when the live one is stored at the
 * instant its status carries; reset_ledgers forgets ledgers and charge
 * records alike (a new leadership term). */
static void test_persisted_and_reset(void **state)
{
	struct gq_registry *reg = NULL;
	struct gq_ledger a = sample_ledger(10 * H), b = sample_ledger(11 * H), got;
	struct gq_charged_pod *recs = gq_calloc(1, sizeof(*recs)), *out = NULL;
	int64_t persisted;
	size_t n = 0;

	(void)state;
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	assert_false(gq_registry_get_persisted(reg, "ml", "uid-1", &got));
	/* a: written (the status carries its accountedUntil) */
	gq_registry_put_ledger(reg, "ml", "uid-1", &a, a.accounted_until_ms);
	assert_true(gq_registry_get_persisted(reg, "ml", "uid-1", &got));
	assert_ledger_eq(&got, &a);
	/* b: live only (the status still carries a's) */
	b.accounted_until_ms = a.accounted_until_ms + 30000;
	gq_registry_put_ledger(reg, "ml", "uid-1", &b, a.accounted_until_ms);
	assert_true(gq_registry_get_ledger(reg, "ml", "uid-1", &got, &persisted));
	assert_ledger_eq(&got, &b);
	assert_true(gq_registry_get_persisted(reg, "ml", "uid-1", &got));
	assert_ledger_eq(&got, &a);
	assert_false(gq_registry_get_persisted(reg, "ml", "uid-2", &got));
	/* another allocation of that name: nothing persisted for it yet */
	gq_registry_put_ledger(reg, "ml", "uid-2", &b, a.accounted_until_ms);
	assert_false(gq_registry_get_persisted(reg, "ml", "uid-2", &got));

	recs[0].uid = gq_strdup("pod-uid");
	gq_registry_put_charged(reg, "ml", "uid-2", recs, 1);
	assert_true(gq_registry_get_charged(reg, "ml", "uid-2", &out, &n));
	gq_charged_free(out, n);
	gq_registry_reset_ledgers(reg);
	assert_false(gq_registry_get_ledger(reg, "ml", "uid-2", &got, &persisted));
	assert_false(gq_registry_get_persisted(reg, "ml", "uid-2", &got));
	assert_false(gq_registry_get_charged(reg, "ml", "uid-2", &out, &n));
	assert_null(out);
	gq_registry_free(reg);
}

/* set_admission copies every string and array: the caller may change and
 * free them right after the call. */
static void test_set_admission_deep_copy(void **state)
{
	struct gq_registry *reg = NULL;
	char **ns = gq_calloc(2, sizeof(char *)), **tiers = gq_calloc(2, sizeof(char *));
	char **exempt = gq_calloc(1, sizeof(char *));
	struct gq_res_list w = {gq_calloc(1, sizeof(struct gq_res)), 1};
	char *name = gq_strdup("ml"), *dflt = gq_strdup("ml-low"), *pp = gq_strdup("Never");
	char *reset = gq_strdup("2026-04-01T00:00:00Z"), *over = gq_strdup("ml-over-budget");
	char *wres = gq_strdup("nvidia.com/gpu");
	struct gq_adm_team t = {0};
	struct reply r;
	char *spec;

	(void)state;
	ns[0] = gq_strdup("ml-train");
	ns[1] = gq_strdup("ml-lab");
	tiers[0] = gq_strdup("ml-high");
	tiers[1] = gq_strdup("ml-low");
	exempt[0] = gq_strdup("ml-high");
	w.items[0].name = wres;
	w.items[0].q.milli = 2000; /* a GPU counts double */
	t.name = name;
	t.tier_classes = (const char *const *)tiers;
	t.n_tiers = 2;
	t.default_class = dflt;
	t.default_value = 1000;
	t.default_preemption_policy = pp;
	t.exempt_classes = (const char *const *)exempt;
	t.n_exempt = 1;
	t.max_gpus_per_pod = 4;
	t.has_budget = true;
	t.policy = GQ_EXHAUSTED_DENY;
	t.used_micro = 0;
	t.budget_micro = 10 * H;
	t.warn_at_percent = 80;
	t.reset_time = reset;
	t.over_budget_class = over;
	t.over_budget_value = 10;
	t.weights = &w;

	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	gq_registry_set_admission(reg, "ml", (const char *const *)ns, 2, &t);

	/* scribble over everything, then free it */
	for (size_t i = 0; i < 2; i++) {
		memset(ns[i], 'X', strlen(ns[i]));
		free(ns[i]);
	}
	for (size_t i = 0; i < 2; i++) {
		memset(tiers[i], 'X', strlen(tiers[i]));
		free(tiers[i]);
	}
	memset(exempt[0], 'X', strlen(exempt[0]));
	free(exempt[0]);
	memset(name, 'X', strlen(name));
	memset(dflt, 'X', strlen(dflt));
	memset(pp, 'X', strlen(pp));
	memset(reset, 'X', strlen(reset));
	memset(over, 'X', strlen(over));
	memset(wres, 'X', strlen(wres));
	w.items[0].q.milli = 0;
	free(ns);
	free(tiers);
	free(exempt);
	free(name);
	free(dflt);
	free(pp);
	free(reset);
	free(over);
	free(wres);
	free(w.items);
	memset(&t, 0, sizeof(t));

	/* namespaces and the default class (with its value and policy) */
	spec = gpu_spec(1, "");
	admit_pod(reg, "CREATE", "ml-lab", "", spec, &r);
	free(spec);
	assert_int_equal(r.http, 200);
	assert_true(r.allowed);
	assert_json_eq(
	    r.patch,
	    "[{\"op\":\"add\",\"path\":\"/spec/priorityClassName\",\"value\":\"ml-low\"},"
	    "{\"op\":\"add\",\"path\":\"/spec/priority\",\"value\":1000},"
	    "{\"op\":\"add\",\"path\":\"/spec/preemptionPolicy\",\"value\":\"Never\"}," FIN_OP_NEW
	    "]");
	reply_free(&r);

	/* tier classes: a class outside them is denied with the copied list */
	spec = gpu_spec(1, "\"priorityClassName\":\"bogus\",");
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	free(spec);
	assert_int_equal(r.http, 200);
	assert_false(r.allowed);
	assert_int_equal(r.code, 403);
	assert_non_null(r.message);
	assert_non_null(strstr(r.message, "team ml"));
	assert_non_null(strstr(r.message, "ml-high"));
	assert_non_null(strstr(r.message, "ml-low"));
	assert_null(r.patch);
	reply_free(&r);

	/* the per-pod cap was copied by value */
	spec = gpu_spec(5, "\"priorityClassName\":\"ml-low\",");
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	free(spec);
	assert_false(r.allowed);
	assert_non_null(strstr(r.message, "at most 4"));
	reply_free(&r);

	/* exempt class: allowed whatever it costs, only the finalizer op */
	spec = gpu_spec(1, "\"priorityClassName\":\"ml-high\",\"activeDeadlineSeconds\":360000,");
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	free(spec);
	assert_true(r.allowed);
	assert_json_eq(r.patch, "[" FIN_OP_NEW "]");
	reply_free(&r);

	/* weights: 1 GPU at weight 2 for 18000 s = exactly the 10 h left */
	spec = gpu_spec(1, "\"priorityClassName\":\"ml-low\",\"activeDeadlineSeconds\":18000,");
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	free(spec);
	assert_true(r.allowed);
	assert_json_eq(r.patch, "[" FIN_OP_NEW "]");
	reply_free(&r);
	/* one second more is over (at the default weight 1 it would be 5 h) */
	spec = gpu_spec(1, "\"priorityClassName\":\"ml-low\",\"activeDeadlineSeconds\":18001,");
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	free(spec);
	assert_false(r.allowed);
	assert_int_equal(r.code, 403);
	assert_null(r.patch);
	/* the reset time was copied */
	assert_non_null(strstr(r.message, "2026-04-01T00:00:00Z"));
	assert_non_null(strstr(r.message, "team ml"));
	reply_free(&r);

	gq_registry_free(reg);
}

/* The over-budget class of a Deprioritize team is copied too. */
static void test_set_admission_copies_over_budget_class(void **state)
{
	struct gq_registry *reg = NULL;
	struct gq_adm_team t = ml_team(10 * H);
	char *over = gq_strdup("ml-over-budget"), *nsname = gq_strdup("ml-train");
	const char *nsv[1] = {nsname};
	struct reply r;
	char *spec;

	(void)state;
	t.policy = GQ_EXHAUSTED_DEPRIORITIZE;
	t.over_budget_class = over;
	t.over_budget_value = 7;
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	gq_registry_set_admission(reg, "ml", nsv, 1, &t);
	memset(over, 'X', strlen(over));
	free(over);
	memset(nsname, 'X', strlen(nsname));
	free(nsname);

	spec = gpu_spec(1, "\"priorityClassName\":\"ml-low\",");
	admit_pod(reg, "CREATE", "ml-train", ",\"finalizers\":[\"example.com/keep\"]", spec, &r);
	free(spec);
	assert_int_equal(r.http, 200);
	assert_true(r.allowed);
	assert_int_equal(r.n_warnings, 1);
	assert_json_eq(
	    r.patch,
	    "[{\"op\":\"add\",\"path\":\"/spec/priorityClassName\",\"value\":\"ml-over-budget\"},"
	    "{\"op\":\"add\",\"path\":\"/spec/priority\",\"value\":7},"
	    "{\"op\":\"add\",\"path\":\"/spec/"
	    "preemptionPolicy\",\"value\":\"Never\"}," FIN_OP_APPEND "]");
	reply_free(&r);
	gq_registry_free(reg);
}

/* A second set_admission replaces the first (namespaces included). */
static void test_set_admission_replaces(void **state)
{
	struct gq_registry *reg = ml_registry(0);
	struct gq_adm_team t = ml_team(0);
	const char *const only_lab[] = {"ml-lab"};
	struct reply r;
	char *spec = gpu_spec(1, "");

	(void)state;
	gq_registry_set_admission(reg, "ml", only_lab, 1, &t);
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	assert_true(r.allowed);
	assert_null(r.patch);
	reply_free(&r);
	admit_pod(reg, "CREATE", "ml-lab", "", spec, &r);
	assert_true(r.allowed);
	assert_json_eq(r.patch, "[" DEFAULT_OPS "," FIN_OP_NEW "]");
	reply_free(&r);
	free(spec);
	gq_registry_free(reg);
}

/* forget drops the ledger and the snapshot of one team, no other. */
static void test_forget(void **state)
{
	struct gq_registry *reg = NULL;
	struct gq_adm_team a = ml_team(0), b = ml_team(0), c = ml_team(0);
	const char *const ns_a[] = {"a-ns"}, *const ns_b[] = {"b-ns"}, *const ns_c[] = {"c-ns"};
	struct gq_ledger l = sample_ledger(11), got;
	int64_t persisted;
	struct reply r;
	char *spec = gpu_spec(1, "\"priorityClassName\":\"ml-high\",");

	(void)state;
	a.name = "a";
	b.name = "b";
	c.name = "c";
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	gq_registry_set_admission(reg, "a", ns_a, 1, &a);
	gq_registry_set_admission(reg, "b", ns_b, 1, &b);
	gq_registry_set_admission(reg, "c", ns_c, 1, &c);
	gq_registry_put_ledger(reg, "a", "ua", &l, 1);
	gq_registry_put_ledger(reg, "b", "ub", &l, 2);
	gq_registry_put_ledger(reg, "c", "uc", &l, 3);

	gq_registry_forget(reg, "b");
	gq_registry_forget(reg, "nobody"); /* no-op */
	assert_false(gq_registry_get_ledger(reg, "b", "ub", &got, &persisted));
	assert_true(gq_registry_get_ledger(reg, "a", "ua", &got, &persisted));
	assert_int_equal(persisted, 1);
	assert_true(gq_registry_get_ledger(reg, "c", "uc", &got, &persisted));
	assert_int_equal(persisted, 3);
	assert_ledger_eq(&got, &l);

	/* b's namespace is no team's any more; a's and c's still are */
	admit_pod(reg, "CREATE", "b-ns", "", spec, &r);
	assert_true(r.allowed);
	assert_null(r.patch);
	reply_free(&r);
	admit_pod(reg, "CREATE", "a-ns", "", spec, &r);
	assert_json_eq(r.patch, "[" FIN_OP_NEW "]");
	reply_free(&r);
	admit_pod(reg, "CREATE", "c-ns", "", spec, &r);
	assert_json_eq(r.patch, "[" FIN_OP_NEW "]");
	reply_free(&r);

	gq_registry_forget(reg, "a");
	gq_registry_forget(reg, "c");
	assert_false(gq_registry_get_ledger(reg, "c", "uc", &got, &persisted));
	admit_pod(reg, "CREATE", "c-ns", "", spec, &r);
	assert_null(r.patch);
	reply_free(&r);
	free(spec);
	gq_registry_free(reg);
}

/* ------------------------------------------------------------------ */
/* gq_registry_admit                                                      */
/* ------------------------------------------------------------------ */

/* A GPU pod naming no class in a team namespace: the default-class ops,
 * then the finalizer op creating metadata.finalizers. */
static void test_admit_gpu_pod_default_class_and_finalizer(void **state)
{
	struct gq_registry *reg = ml_registry(0);
	char *spec = gpu_spec(2, "");
	struct reply r;

	(void)state;
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	assert_int_equal(r.http, 200);
	assert_true(r.allowed);
	assert_int_equal(r.code, 0);
	assert_null(r.message);
	assert_int_equal(r.n_warnings, 0);
	assert_json_eq(r.patch, "[" DEFAULT_OPS "," FIN_OP_NEW "]");
	reply_free(&r);
	free(spec);
	gq_registry_free(reg);
}

/* Other finalizers: ours is appended; ours already there: nothing added. */
static void test_admit_finalizer_variants(void **state)
{
	struct gq_registry *reg = ml_registry(0);
	char *spec = gpu_spec(1, "");
	char *spec_cls = gpu_spec(1, "\"priorityClassName\":\"ml-low\",");
	struct reply r;

	(void)state;
	admit_pod(reg, "CREATE", "ml-train", ",\"finalizers\":[\"example.com/keep\"]", spec, &r);
	assert_true(r.allowed);
	assert_json_eq(r.patch, "[" DEFAULT_OPS "," FIN_OP_APPEND "]");
	reply_free(&r);

	/* an empty array exists: append to it */
	admit_pod(reg, "CREATE", "ml-train", ",\"finalizers\":[]", spec, &r);
	assert_json_eq(r.patch, "[" DEFAULT_OPS "," FIN_OP_APPEND "]");
	reply_free(&r);

	admit_pod(reg, "CREATE", "ml-lab",
		  ",\"finalizers\":[\"example.com/keep\",\"gpuquota.io/accounting\"]", spec, &r);
	assert_true(r.allowed);
	assert_json_eq(r.patch, "[" DEFAULT_OPS "]");
	reply_free(&r);

	/* with a class of its own the finalizer op is the whole patch */
	admit_pod(reg, "CREATE", "ml-lab", "", spec_cls, &r);
	assert_true(r.allowed);
	assert_json_eq(r.patch, "[" FIN_OP_NEW "]");
	reply_free(&r);
	admit_pod(reg, "CREATE", "ml-lab", ",\"finalizers\":[\"a\",\"b\"]", spec_cls, &r);
	assert_json_eq(r.patch, "[" FIN_OP_APPEND "]");
	reply_free(&r);

	/* ... and with ours already there, no patch at all */
	admit_pod(reg, "CREATE", "ml-lab", ",\"finalizers\":[\"gpuquota.io/accounting\"]", spec_cls,
		  &r);
	assert_true(r.allowed);
	assert_null(r.patch);
	reply_free(&r);

	free(spec);
	free(spec_cls);
	gq_registry_free(reg);
}

/* A namespace of no team: allowed untouched. */
static void test_admit_no_team(void **state)
{
	struct gq_registry *reg = ml_registry(10 * H); /* exhausted, Deny */
	char *spec = gpu_spec(2, "");
	struct reply r;

	(void)state;
	admit_pod(reg, "CREATE", "default", "", spec, &r);
	assert_int_equal(r.http, 200);
	assert_true(r.allowed);
	assert_null(r.patch);
	assert_null(r.message);
	assert_int_equal(r.n_warnings, 0);
	reply_free(&r);
	free(spec);
	gq_registry_free(reg);

	/* an empty registry answers the same */
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	spec = gpu_spec(1, "");
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	assert_true(r.allowed);
	assert_null(r.patch);
	reply_free(&r);
	free(spec);
	gq_registry_free(reg);
}

/* Pods without GPUs, and operations other than CREATE, are untouched. */
static void test_admit_non_gpu_and_update(void **state)
{
	struct gq_registry *reg = ml_registry(10 * H); /* exhausted, Deny */
	char *spec = gpu_spec(1, "");
	char *zero = gpu_spec(0, "");
	struct reply r;

	(void)state;
	admit_pod(reg, "CREATE", "ml-train", "", CPU_SPEC, &r);
	assert_int_equal(r.http, 200);
	assert_true(r.allowed);
	assert_null(r.patch);
	assert_null(r.message);
	assert_int_equal(r.n_warnings, 0);
	reply_free(&r);

	admit_pod(reg, "CREATE", "ml-train", "", zero, &r);
	assert_true(r.allowed);
	assert_null(r.patch);
	reply_free(&r);

	admit_pod(reg, "UPDATE", "ml-train", "", spec, &r);
	assert_int_equal(r.http, 200);
	assert_true(r.allowed);
	assert_null(r.patch);
	reply_free(&r);
	free(spec);
	free(zero);
	gq_registry_free(reg);
}

/* Malformed reviews: HTTP 400 and a plain message. */
static void test_admit_malformed(void **state)
{
	struct gq_registry *reg = ml_registry(0);
	static const char *const bodies[] = {
	    "this is not JSON",
	    "",
	    "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\","
	    "\"request\":{\"uid\":\"u\"}}",
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	    "\"request\":{}}",
	    "[1,2,3]",
	};
	struct gq_registry_stats st;
	struct reply r;

	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(bodies); i++) {
		admit(reg, bodies[i], strlen(bodies[i]), &r);
		if (r.http != 400)
			fail_msg("body %zu: HTTP %d, want 400: %s", i, r.http, r.body);
		assert_true(strncmp(r.body, "malformed AdmissionReview: ", 27) == 0);
		assert_true(strlen(r.body) > 28); /* a reason follows */
		reply_free(&r);
	}
	/* a truncated valid review (len shorter than the string) */
	{
		char *spec = gpu_spec(1, ""), *body = review("CREATE", "ml-train", "", spec);

		admit(reg, body, strlen(body) / 2, &r);
		assert_int_equal(r.http, 400);
		reply_free(&r);
		free(body);
		free(spec);
	}
	gq_registry_get_stats(reg, &st);
	assert_int_equal(st.reviews, GQ_ARRAY_LEN(bodies) + 1);
	assert_int_equal(st.malformed, GQ_ARRAY_LEN(bodies) + 1);
	assert_int_equal(st.denied, 0);
	gq_registry_free(reg);
}

/* A GPU pod the decoder refuses (here 65 distinct nvidia.com resources) is
 * denied with HTTP 200 and a message naming the bound, in a team namespace
 * or not, never a 400 that failurePolicy Ignore would admit; a pod without
 * GPUs over a bound keeps the 400. */
static void test_admit_refused_gpu_pod(void **state)
{
	struct gq_registry *reg = ml_registry(0);
	struct gq_registry_stats st;
	struct gq_buf res;
	struct reply r;
	char *spec;

	(void)state;
	gq_buf_init(&res, 1 << 16);
	for (int i = 0; i < 65; i++)
		assert_int_equal(gq_buf_printf(&res, ",\"nvidia.com/r%d\":\"1\"", i), GQ_OK);
	spec = gq_asprintf("{\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":"
			   "{\"cpu\":\"1\"%s}}}]}",
			   gq_buf_str(&res));
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	assert_int_equal(r.http, 200);
	assert_false(r.allowed);
	assert_int_equal(r.code, 403);
	assert_null(r.patch);
	assert_non_null(r.message);
	assert_string_equal(r.message,
			    "gpuquota: pod has more than 64 distinct nvidia.com/* resources "
			    "(limit 64) in spec.containers[0].resources; GPU pods over the "
			    "limits gpuquota can check are refused");
	reply_free(&r);
	admit_pod(reg, "CREATE", "elsewhere", "", spec, &r);
	assert_int_equal(r.http, 200);
	assert_false(r.allowed);
	reply_free(&r);
	free(spec);
	gq_buf_free(&res);

	/* over the container bound without GPUs: 400 */
	gq_buf_init(&res, 1 << 16);
	for (int i = 0; i <= GQ_ADMISSION_MAX_CONTAINERS; i++)
		assert_int_equal(gq_buf_printf(&res, "%s{\"name\":\"c%d\"}", i ? "," : "", i),
				 GQ_OK);
	spec = gq_asprintf("{\"containers\":[%s]}", gq_buf_str(&res));
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	assert_int_equal(r.http, 400);
	assert_non_null(strstr(r.body, "more than 1024 entries in spec.containers (limit 1024)"));
	reply_free(&r);
	free(spec);
	gq_buf_free(&res);

	gq_registry_get_stats(reg, &st);
	assert_int_equal(st.reviews, 3);
	assert_int_equal(st.denied, 2);
	assert_int_equal(st.malformed, 1);
	gq_registry_free(reg);
}

/* Budget used up with policy Deny: denied, no patch, no finalizer. */
static void test_admit_budget_exhausted_deny(void **state)
{
	struct gq_registry *reg = ml_registry(10 * H);
	char *spec = gpu_spec(1, "");
	struct reply r;

	(void)state;
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	assert_int_equal(r.http, 200);
	assert_false(r.allowed);
	assert_int_equal(r.code, 403);
	assert_null(r.patch);
	assert_non_null(r.message);
	assert_non_null(strstr(r.message, "team ml"));
	assert_non_null(strstr(r.body, "Forbidden"));
	reply_free(&r);

	/* an exempt class still goes through, with the finalizer */
	free(spec);
	spec = gpu_spec(1, "\"priorityClassName\":\"ml-high\",");
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	assert_true(r.allowed);
	assert_json_eq(r.patch, "[" FIN_OP_NEW "]");
	reply_free(&r);
	free(spec);
	gq_registry_free(reg);
}

/* Policy Hold: the gate op and the finalizer op, and a warning. */
static void test_admit_hold(void **state)
{
	struct gq_registry *reg = NULL;
	struct gq_adm_team t = ml_team(10 * H);
	char *spec = gpu_spec(1, "\"priorityClassName\":\"ml-low\",");
	struct reply r;

	(void)state;
	t.policy = GQ_EXHAUSTED_HOLD;
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	gq_registry_set_admission(reg, "ml", NS_ML, 2, &t);
	admit_pod(reg, "CREATE", "ml-lab", "", spec, &r);
	assert_true(r.allowed);
	assert_int_equal(r.n_warnings, 1);
	assert_json_eq(r.patch, "[{\"op\":\"add\",\"path\":\"/spec/schedulingGates\","
				"\"value\":[{\"name\":\"gpuquota.io/budget\"}]}," FIN_OP_NEW "]");
	reply_free(&r);
	free(spec);
	gq_registry_free(reg);
}

/*
 * A team without a budget: no reconcile ever runs the accounting for it
 * (gq_acct_run is only called for teams with spec.budget), so nothing
 * would ever remove the accounting finalizer and the pod could never
 * finish deleting. The webhook must not add it.
 */
static void test_admit_no_budget_no_finalizer(void **state)
{
	struct gq_registry *reg = NULL;
	struct gq_adm_team t = ml_team(0);
	char *spec = gpu_spec(1, "");
	struct reply r;
	bool allowed, eq;

	(void)state;
	t.has_budget = false;
	t.used_micro = 0;
	t.budget_micro = 0;
	t.reset_time = NULL;
	t.over_budget_class = NULL;
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	gq_registry_set_admission(reg, "ml", NS_ML, 2, &t);
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	free(spec);
	gq_registry_free(reg);
	allowed = r.allowed;
	/* the default class is still given, without the finalizer */
	eq = r.patch && json_eq(r.patch, "[" DEFAULT_OPS "]");
	if (!eq)
		print_message("patch: %s\n", r.patch ? r.patch : "(none)");
	reply_free(&r);
	assert_true(allowed);
	assert_true(eq);
}

/* The counters follow the outcomes. */
static void test_stats(void **state)
{
	struct gq_registry *reg = NULL;
	struct gq_adm_team deny = ml_team(10 * H), hold = ml_team(10 * H), depr = ml_team(10 * H);
	struct gq_adm_team ok = ml_team(0);
	const char *const ns_deny[] = {"d"}, *const ns_hold[] = {"h"}, *const ns_depr[] = {"p"};
	const char *const ns_ok[] = {"o"};
	struct gq_registry_stats st;
	struct reply r;
	char *spec = gpu_spec(1, "");

	(void)state;
	hold.policy = GQ_EXHAUSTED_HOLD;
	depr.policy = GQ_EXHAUSTED_DEPRIORITIZE;
	assert_int_equal(gq_registry_new(&reg), GQ_OK);
	memset(&st, 0xff, sizeof(st));
	gq_registry_get_stats(reg, &st);
	assert_int_equal(st.reviews, 0);
	assert_int_equal(st.malformed, 0);
	assert_int_equal(st.denied, 0);
	assert_int_equal(st.held, 0);
	assert_int_equal(st.deprioritized, 0);

	gq_registry_set_admission(reg, "deny", ns_deny, 1, &deny);
	gq_registry_set_admission(reg, "hold", ns_hold, 1, &hold);
	gq_registry_set_admission(reg, "depr", ns_depr, 1, &depr);
	gq_registry_set_admission(reg, "ok", ns_ok, 1, &ok);

	admit_pod(reg, "CREATE", "o", "", spec, &r); /* allowed */
	assert_true(r.allowed);
	reply_free(&r);
	admit_pod(reg, "CREATE", "elsewhere", "", spec, &r); /* pass */
	reply_free(&r);
	admit_pod(reg, "CREATE", "d", "", spec, &r); /* denied */
	assert_false(r.allowed);
	reply_free(&r);
	admit_pod(reg, "CREATE", "d", "", spec, &r); /* denied again */
	reply_free(&r);
	admit_pod(reg, "CREATE", "h", "", spec, &r); /* held */
	assert_true(r.allowed);
	reply_free(&r);
	admit_pod(reg, "CREATE", "p", "", spec, &r); /* deprioritized */
	assert_true(r.allowed);
	reply_free(&r);
	admit(reg, "{", 1, &r); /* malformed */
	assert_int_equal(r.http, 400);
	reply_free(&r);

	gq_registry_get_stats(reg, &st);
	assert_int_equal(st.reviews, 7);
	assert_int_equal(st.malformed, 1);
	assert_int_equal(st.denied, 2);
	assert_int_equal(st.held, 1);
	assert_int_equal(st.deprioritized, 1);
	free(spec);
	gq_registry_free(reg);
}

/* The value of the sample line that starts with `series ` in text, or -1. */
static double sample_of(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

/* Decisions are counted per team: allow/deny/hold/deprioritize once per
 * GPU pod, default_tier and warn on top; dry runs and pods that are not
 * ours are not counted; every answer is timed. */
static void test_decisions_per_team(void **state)
{
	struct gq_registry *reg = NULL;
	struct gq_adm_team deny = ml_team(10 * H), hold = ml_team(10 * H), depr = ml_team(10 * H);
	struct gq_adm_team ok = ml_team(0), warm = ml_team(9 * H);
	const char *const ns_deny[] = {"d"}, *const ns_hold[] = {"h"}, *const ns_depr[] = {"p"};
	const char *const ns_ok[] = {"o"}, *const ns_warm[] = {"w"};
	struct gq_metrics *m = gq_metrics_new();
	struct gq_buf b;
	struct reply r;
	char *spec = gpu_spec(1, ""), *classed = gpu_spec(1, "\"priorityClassName\":\"ml-low\",");
	char *body, *dry;

	(void)state;
	hold.policy = GQ_EXHAUSTED_HOLD;
	depr.policy = GQ_EXHAUSTED_DEPRIORITIZE;
	deny.name = "deny", hold.name = "hold", depr.name = "depr", ok.name = "ok";
	warm.name = "warm";
	gq_registry_new(&reg);
	gq_registry_set_admission(reg, "deny", ns_deny, 1, &deny);
	gq_registry_set_admission(reg, "hold", ns_hold, 1, &hold);
	gq_registry_set_admission(reg, "depr", ns_depr, 1, &depr);
	gq_registry_set_admission(reg, "ok", ns_ok, 1, &ok);
	gq_registry_set_admission(reg, "warm", ns_warm, 1, &warm);

	admit_pod(reg, "CREATE", "o", "", spec, &r); /* allow + default_tier */
	reply_free(&r);
	admit_pod(reg, "CREATE", "o", "", classed, &r); /* allow */
	reply_free(&r);
	admit_pod(reg, "CREATE", "o", "", CPU_SPEC, &r); /* not ours */
	reply_free(&r);
	admit_pod(reg, "CREATE", "w", "", classed, &r); /* allow + warn */
	assert_int_equal(r.n_warnings, 1);
	reply_free(&r);
	admit_pod(reg, "CREATE", "d", "", spec, &r); /* deny */
	reply_free(&r);
	admit_pod(reg, "CREATE", "d", "", classed, &r); /* deny */
	reply_free(&r);
	admit_pod(reg, "CREATE", "h", "", spec, &r); /* hold + default_tier */
	reply_free(&r);
	admit_pod(reg, "CREATE", "p", "", spec, &r); /* deprioritize */
	reply_free(&r);
	body = review("CREATE", "d", "", spec);
	dry = strstr(body, "\"dryRun\":false");
	assert_non_null(dry);
	memcpy(dry, "\"dryRun\":true ", strlen("\"dryRun\":true "));
	admit(reg, body, strlen(body), &r); /* dry run: not counted */
	assert_false(r.allowed);
	reply_free(&r);
	free(body);

	gq_registry_metrics(reg, m);
	gq_buf_init(&b, 1 << 20);
	assert_int_equal(gq_metrics_render(m, &b), GQ_OK);
#define D(team, d)                                                                                 \
	sample_of(gq_buf_str(&b),                                                                  \
		  "gpuquota_admission_decisions_total{team=\"" team "\",decision=\"" d "\"}")
	assert_true(D("ok", "allow") == 2);
	assert_true(D("ok", "default_tier") == 1);
	assert_true(D("ok", "warn") == 0);
	assert_true(D("warm", "allow") == 1);
	assert_true(D("warm", "warn") == 1);
	assert_true(D("deny", "deny") == 2);
	assert_true(D("deny", "allow") == 0);
	assert_true(D("deny", "default_tier") == 0);
	assert_true(D("hold", "hold") == 1);
	assert_true(D("hold", "default_tier") == 1);
	assert_true(D("depr", "deprioritize") == 1);
	assert_true(D("depr", "default_tier") == 0);
#undef D
	assert_true(sample_of(gq_buf_str(&b), "gpuquota_admission_duration_seconds_count") == 9);
	gq_buf_free(&b);
	gq_metrics_free(m);
	free(spec);
	free(classed);
	gq_registry_free(reg);
}

/* A quiet pass's advance: only while settled for the same allocation uid,
 * with an admission view and figures published; it moves the live ledger
 * (what was persisted stays), the admission view (a spent budget is denied
 * at once) and the figures' usage. A new leadership term clears it. */
static void test_settled_and_advance(void **state)
{
	struct gq_registry *reg = ml_registry(9 * H);
	struct gq_registry_figures f = {.has_budget = true, .budget_micro = 10 * H};
	struct gq_ledger l = sample_ledger(9 * H), got;
	struct gq_metrics *m = gq_metrics_new();
	char *spec = gpu_spec(1, "");
	struct gq_buf b;
	int64_t pu = 0;
	struct reply r;

	(void)state;
	gq_registry_put_ledger(reg, "ml", "u1", &l, l.accounted_until_ms);
	assert_false(gq_registry_get_settled(reg, "ml", "u1"));
	l.used_micro = 10 * H;
	assert_false(gq_registry_advance(reg, "ml", "u1", &l)); /* not settled */
	gq_registry_set_settled(reg, "ml", "u1", true);
	assert_true(gq_registry_get_settled(reg, "ml", "u1"));
	assert_false(gq_registry_get_settled(reg, "ml", "u2"));
	assert_false(gq_registry_advance(reg, "ml", "u1", &l)); /* no figures yet */
	f.used_micro = 9 * H;
	gq_registry_set_figures(reg, "ml", &f);
	assert_false(gq_registry_advance(reg, "ml", "u2", &l)); /* another allocation */
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	assert_true(r.allowed);
	reply_free(&r);
	l.accounted_until_ms += 10000;
	assert_true(gq_registry_advance(reg, "ml", "u1", &l));
	assert_true(gq_registry_get_ledger(reg, "ml", "u1", &got, &pu));
	assert_int_equal(got.used_micro, 10 * H);
	assert_int_equal(got.accounted_until_ms, l.accounted_until_ms);
	assert_int_equal(pu, l.accounted_until_ms - 10000); /* persisted as it was */
	admit_pod(reg, "CREATE", "ml-train", "", spec, &r);
	assert_false(r.allowed); /* the live figure spent the budget */
	reply_free(&r);
	gq_buf_init(&b, 1 << 20);
	gq_registry_metrics(reg, m);
	assert_int_equal(gq_metrics_render(m, &b), GQ_OK);
	assert_true(sample_of(gq_buf_str(&b), "gpuquota_team_used_gpu_seconds{team=\"ml\"}") ==
		    36000.0);
	gq_buf_free(&b);
	gq_registry_set_settled(reg, "ml", "u1", false);
	assert_false(gq_registry_advance(reg, "ml", "u1", &l));
	gq_registry_set_settled(reg, "ml", "u1", true);
	gq_registry_reset_ledgers(reg);
	assert_false(gq_registry_get_settled(reg, "ml", "u1"));
	gq_metrics_free(m);
	free(spec);
	gq_registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ledger_get_put),
	    cmocka_unit_test(test_settled_and_advance),
	    cmocka_unit_test(test_persisted_and_reset),
	    cmocka_unit_test(test_set_admission_deep_copy),
	    cmocka_unit_test(test_set_admission_copies_over_budget_class),
	    cmocka_unit_test(test_set_admission_replaces),
	    cmocka_unit_test(test_forget),
	    cmocka_unit_test(test_admit_gpu_pod_default_class_and_finalizer),
	    cmocka_unit_test(test_admit_finalizer_variants),
	    cmocka_unit_test(test_admit_no_team),
	    cmocka_unit_test(test_admit_non_gpu_and_update),
	    cmocka_unit_test(test_admit_malformed),
	    cmocka_unit_test(test_admit_refused_gpu_pod),
	    cmocka_unit_test(test_admit_budget_exhausted_deny),
	    cmocka_unit_test(test_admit_hold),
	    cmocka_unit_test(test_admit_no_budget_no_finalizer),
	    cmocka_unit_test(test_stats),
	    cmocka_unit_test(test_decisions_per_team),
	};
	return cmocka_run_group_tests_name("budget", tests, NULL, NULL);
}
