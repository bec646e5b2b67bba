/* Unit tests for desired.c: quota totals, the team-wide split, and the exact
 * apply bodies of every object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "desired.h"
#include "gq.h"
#include "json.h"
#include "spec.h"

/* A small team as the apiserver would return it. requests.cpu is written
 * as "4000m" on purpose: bodies must carry the canonical "4". */
static const char *const SMALL_TEAM =
    "{\"apiVersion\":\"gpuquota.io/v1alpha1\",\"kind\":\"GPUTeamAllocation\","
    "\"metadata\":{\"name\":\"ml\",\"uid\":\"uid-1\",\"generation\":1},"
    "\"spec\":{\"namespaces\":[\"ml-a\",\"ml-b\"],"
    "\"quota\":{\"gpus\":4,\"migSlices\":{\"1g.10gb\":2},"
    "\"resources\":{\"requests.memory\":\"16Gi\",\"requests.cpu\":\"4000m\"}},"
    "\"limits\":{\"maxGPUsPerPod\":2,\"container\":{\"defaultRequest\":{\"cpu\":\"250m\","
    "\"memory\":\"1Gi\"},"
    "\"default\":{\"memory\":\"1024Mi\",\"cpu\":1}}},"
    "\"priorities\":{\"tiers\":[{\"name\":\"low\",\"value\":10},"
    "{\"name\":\"high\",\"value\":1000,\"preemptionPolicy\":\"Never\"}],"
    "\"defaultTier\":\"low\"}}}";

/* The same team without uid (offline render), tiers or container limits. */
static const char *const BARE_TEAM = "{\"metadata\":{\"name\":\"bare\"},"
				     "\"spec\":{\"namespaces\":[\"bare-ns\"]}}";

/* The apply body of desired object d as text (its tree written out, as
 * the executor sends it); kept until the process exits. */
static char **bodies;
static size_t n_bodies;

static void bodies_free(void)
{
	for (size_t i = 0; i < n_bodies; i++)
		free(bodies[i]);
	free(bodies);
}

static const char *body_of(const struct gq_desired *d)
{
	char *s = gq_json_dump(d->tree);

	assert_non_null(s);
	if (bodies == NULL)
		atexit(bodies_free);
	bodies = gq_realloc(bodies, (n_bodies + 1) * sizeof(*bodies));
	bodies[n_bodies++] = s;
	return s;
}

static void decode(struct gq_team *t, const char *json)
{
	struct gq_err err = {0};
	char perr[256];
	yajl_val v;
	int rc;

	v = yajl_tree_parse(json, perr, sizeof(perr));
	if (v == NULL)
		fail_msg("fixture does not parse: %s", perr);
	rc = gq_team_decode(t, v, &err);
	yajl_tree_free(v);
	if (rc != GQ_OK)
		fail_msg("fixture does not decode: %s", err.msg);
}

static struct gq_quantity q(const char *s)
{
	struct gq_quantity out;

	if (gq_quantity_parse(&out, s) != GQ_OK)
		fail_msg("bad quantity %s", s);
	return out;
}

/* Builds a used list from name/quantity string pairs (NULL-terminated);
 * the caller frees it with gq_res_list_free. */
static struct gq_res_list used_list(const char *const *pairs)
{
	struct gq_res_list l = {0};
	size_t n = 0, i;

	while (pairs[2 * n] != NULL)
		n++;
	l.items = gq_calloc(n ? n : 1, sizeof(*l.items));
	for (i = 0; i < n; i++) {
		l.items[i].name = gq_strdup(pairs[2 * i]);
		l.items[i].q = q(pairs[2 * i + 1]);
	}
	l.n = n;
	return l;
}

/* Asserts a resource list equals name/canonical-quantity pairs, in order. */
static void assert_res(const struct gq_res_list *l, const char *const *want)
{
	char buf[GQ_QUANTITY_STRLEN];
	size_t i;

	for (i = 0; want[2 * i] != NULL; i++) {
		if (i >= l->n)
			fail_msg("list too short: %zu items, want %s", l->n, want[2 * i]);
		gq_quantity_format(&l->items[i].q, buf);
		if (strcmp(l->items[i].name, want[2 * i]) != 0 || strcmp(buf, want[2 * i + 1]) != 0)
			fail_msg("item %zu: got %s=%s, want %s=%s", i, l->items[i].name, buf,
				 want[2 * i], want[2 * i + 1]);
	}
	assert_int_equal(l->n, i);
}

/* ------------------------------------------------------------------ */
/* Totals                                                               */
/* ------------------------------------------------------------------ */

static void test_totals(void **state)
{
	static const char *const nodes[] = {
	    "nvidia.com/mig-2g.20gb", "nvidia.com/gpu",
	    "nvidia.com/mig-1g.10gb", "example.com/fpga",
	    "nvidia.com/mig-2g.20gb", "cpu",
	    "nvidia.com/gpu.shared",  "nvidia.com/",
	    "nvidia.com/bad name",
	};
	static const char *const want[] = {
	    "requests.nvidia.com/gpu",
	    "4",
	    "requests.nvidia.com/gpu.shared",
	    "0",
	    "requests.nvidia.com/mig-1g.10gb",
	    "2",
	    "requests.nvidia.com/mig-2g.20gb",
	    "0",
	    "requests.cpu",
	    "4",
	    "requests.memory",
	    "16Gi",
	    NULL,
	};
	struct gq_res_list totals = {0};
	struct gq_err err = {0};
	struct gq_team t = {0};

	(void)state;
	decode(&t, SMALL_TEAM);
	assert_int_equal(gq_quota_totals(&totals, &t, nodes, GQ_ARRAY_LEN(nodes), &err), GQ_OK);
	assert_res(&totals, want);
	gq_res_list_free(&totals);
	gq_team_free(&t);
}

/* Without spec.quota.gpus the GPU quota is still there, at 0. */
static void test_totals_no_gpus(void **state)
{
	static const char *const want[] = {"requests.nvidia.com/gpu", "0", NULL};
	static const char *const want_mig[] = {
	    "requests.nvidia.com/gpu", "0", "requests.nvidia.com/mig-3g.40gb", "0", NULL,
	};
	static const char *const nodes[] = {"nvidia.com/mig-3g.40gb"};
	struct gq_res_list totals = {0};
	struct gq_team t = {0};

	(void)state;
	decode(&t, BARE_TEAM);
	assert_int_equal(gq_quota_totals(&totals, &t, NULL, 0, NULL), GQ_OK);
	assert_res(&totals, want);
	gq_res_list_free(&totals);
	assert_int_equal(gq_quota_totals(&totals, &t, nodes, 1, NULL), GQ_OK);
	assert_res(&totals, want_mig);
	gq_res_list_free(&totals);
	gq_team_free(&t);
}

/* ------------------------------------------------------------------ */
/* Split                                                                */
/* ------------------------------------------------------------------ */

/* Splits totals (pairs) over usage, checks each namespace's hard list. */
static void check_split(const char *const *total_pairs, const struct gq_ns_usage *usage,
			size_t n_ns, const char *const *const *want)
{
	struct gq_res_list totals = used_list(total_pairs);
	struct gq_res_list hard[4];
	struct gq_err err = {0};
	size_t i;

	assert_true(n_ns <= 4);
	assert_int_equal(gq_quota_split(hard, &totals, usage, n_ns, &err), GQ_OK);
	for (i = 0; i < n_ns; i++) {
		assert_res(&hard[i], want[i]);
		gq_res_list_free(&hard[i]);
	}
	gq_res_list_free(&totals);
}

static void test_split_one(void **state)
{
	static const char *const totals[] = {"requests.nvidia.com/gpu", "8", "requests.memory",
					     "512Gi", NULL};
	static const char *const none[] = {NULL};
	static const char *const some[] = {
	    "requests.nvidia.com/gpu", "3", "requests.memory", "100Gi", "pods", "7", NULL};
	static const char *const over[] = {"requests.nvidia.com/gpu", "10", NULL};
	static const char *const want_total[] = {"requests.nvidia.com/gpu", "8", "requests.memory",
						 "512Gi", NULL};
	static const char *const want_over[] = {"requests.nvidia.com/gpu", "10", "requests.memory",
						"512Gi", NULL};
	const char *const *w1[] = {want_total};
	const char *const *w2[] = {want_over};
	struct gq_ns_usage u = {"a", {NULL, 0}};

	(void)state;
	/* nothing used, and some used: a one-namespace team gets the totals */
	check_split(totals, &u, 1, w1);
	u.used = used_list(none);
	check_split(totals, &u, 1, w1);
	gq_res_list_free(&u.used);
	u.used = used_list(some);
	check_split(totals, &u, 1, w1);
	gq_res_list_free(&u.used);
	/* total lowered below use: hard stays at use */
	u.used = used_list(over);
	check_split(totals, &u, 1, w2);
	gq_res_list_free(&u.used);
}

static void test_split_two(void **state)
{
	static const char *const totals[] = {"requests.nvidia.com/gpu", "8", "requests.memory",
					     "512Gi", NULL};
	static const char *const ua[] = {"requests.nvidia.com/gpu", "3", "requests.memory", "100Gi",
					 NULL};
	static const char *const ub[] = {"requests.nvidia.com/gpu", "2", NULL};
	/* remaining gpu 8-5=3, memory 512Gi-100Gi=412Gi */
	static const char *const wa[] = {"requests.nvidia.com/gpu", "6", "requests.memory", "512Gi",
					 NULL};
	static const char *const wb[] = {"requests.nvidia.com/gpu", "5", "requests.memory", "412Gi",
					 NULL};
	const char *const *want[] = {wa, wb};
	struct gq_ns_usage u[2] = {{"a", {NULL, 0}}, {"b", {NULL, 0}}};

	(void)state;
	u[0].used = used_list(ua);
	u[1].used = used_list(ub);
	check_split(totals, u, 2, want);
	gq_res_list_free(&u[0].used);
	gq_res_list_free(&u[1].used);
}

/* Three namespaces with milli quantities, and over-use across namespaces. */
static void test_split_three_milli_and_overuse(void **state)
{
	static const char *const totals[] = {"requests.cpu", "1500m", "requests.nvidia.com/gpu",
					     "4", NULL};
	static const char *const ua[] = {"requests.cpu", "333m", "requests.nvidia.com/gpu", "3",
					 NULL};
	static const char *const ub[] = {"requests.cpu", "0.4", "requests.nvidia.com/gpu", "3",
					 NULL};
	static const char *const uc[] = {NULL};
	/* cpu: 1500m - 733m = 767m remains; gpu: 6 used of 4, nothing remains */
	static const char *const wa[] = {"requests.cpu", "1100m", "requests.nvidia.com/gpu", "3",
					 NULL};
	static const char *const wb[] = {"requests.cpu", "1167m", "requests.nvidia.com/gpu", "3",
					 NULL};
	static const char *const wc[] = {"requests.cpu", "767m", "requests.nvidia.com/gpu", "0",
					 NULL};
	const char *const *want[] = {wa, wb, wc};
	struct gq_ns_usage u[3] = {{"a", {NULL, 0}}, {"b", {NULL, 0}}, {"c", {NULL, 0}}};
	size_t i;

	(void)state;
	u[0].used = used_list(ua);
	u[1].used = used_list(ub);
	u[2].used = used_list(uc);
	check_split(totals, u, 3, want);
	for (i = 0; i < 3; i++)
		gq_res_list_free(&u[i].used);
}

/* Exactly at the total, and the sum of headroom never exceeds the total. */
static void test_split_exact_total(void **state)
{
	static const char *const totals[] = {"requests.cpu", "3", NULL};
	static const char *const ua[] = {"requests.cpu", "1001m", NULL};
	static const char *const ub[] = {"requests.cpu", "1999m", NULL};
	static const char *const wa[] = {"requests.cpu", "1001m", NULL};
	static const char *const wb[] = {"requests.cpu", "1999m", NULL};
	const char *const *want[] = {wa, wb};
	struct gq_ns_usage u[2] = {{"a", {NULL, 0}}, {"b", {NULL, 0}}};

	(void)state;
	u[0].used = used_list(ua);
	u[1].used = used_list(ub);
	check_split(totals, u, 2, want);
	gq_res_list_free(&u[0].used);
	gq_res_list_free(&u[1].used);
}

static void test_split_overflow(void **state)
{
	struct gq_res_list totals = {0}, hard[2];
	struct gq_ns_usage u[2] = {{"a", {NULL, 0}}, {"b", {NULL, 0}}};
	struct gq_res big[1];
	struct gq_err err = {0};

	(void)state;
	totals.items = gq_calloc(1, sizeof(*totals.items));
	totals.items[0].name = gq_strdup("pods");
	totals.items[0].q = gq_quantity_from_int(1);
	totals.n = 1;
	big[0].name = "pods";
	big[0].q.milli = INT64_MAX - 5;
	big[0].q.format = GQ_QF_DECIMAL_SI;
	u[0].used.items = big;
	u[0].used.n = 1;
	u[1].used.items = big;
	u[1].used.n = 1;
	assert_int_equal(gq_quota_split(hard, &totals, u, 2, &err), GQ_ERANGE);
	assert_non_null(strstr(err.msg, "pods"));
	assert_int_equal(hard[0].n, 0);
	assert_null(hard[0].items);
	gq_res_list_free(&totals);
}

/* ------------------------------------------------------------------ */
/* Objects                                                              */
/* ------------------------------------------------------------------ */

#define META(name, ns)                                                                             \
	"\"metadata\":{\"name\":\"" name "\"," ns "\"labels\":{\"app.kubernetes.io/managed-by\":"  \
	"\"gpuquota\",\"gpuquota.io/team\":\"ml\"},\"ownerReferences\":[{\"apiVersion\":"          \
	"\"gpuquota.io/v1alpha1\",\"kind\":\"GPUTeamAllocation\",\"name\":\"ml\",\"uid\":"         \
	"\"uid-1\",\"controller\":true}]}"

static const struct {
	const char *kind, *ns, *name, *path, *body;
} WANT_SMALL[] = {
    {"PriorityClass", "", "ml-low", "/apis/scheduling.k8s.io/v1/priorityclasses/ml-low",
     "{\"apiVersion\":\"scheduling.k8s.io/v1\",\"kind\":\"PriorityClass\"," META(
	 "ml-low", "") ",\"value\":10,\"globalDefault\":false,"
		       "\"description\":\"gpuquota: tier low of team ml\"}"},
    {"PriorityClass", "", "ml-high", "/apis/scheduling.k8s.io/v1/priorityclasses/ml-high",
     "{\"apiVersion\":\"scheduling.k8s.io/v1\",\"kind\":\"PriorityClass\"," META(
	 "ml-high", "") ",\"value\":1000,\"preemptionPolicy\":\"Never\",\"globalDefault\":false,"
			"\"description\":\"gpuquota: tier high of team ml\"}"},
    {"Namespace", "", "ml-a", "/api/v1/namespaces/ml-a",
     "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"ml-a\","
     "\"labels\":{\"gpuquota.io/team\":\"ml\",\"gpuquota.io/mig-config\":null}}}"},
    {"ResourceQuota", "ml-a", "gpuquota-ml", "/api/v1/namespaces/ml-a/resourcequotas/gpuquota-ml",
     "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\"," META(
	 "gpuquota-ml", "\"namespace\":\"ml-a\",") ",\"spec\":{\"hard\":{"
						   "\"requests.nvidia.com/gpu\":\"4\","
						   "\"requests.nvidia.com/mig-1g.10gb\":\"2\","
						   "\"requests.nvidia.com/mig-2g.20gb\":\"0\","
						   "\"requests.cpu\":\"4\","
						   "\"requests.memory\":\"16Gi\"}}}"},
    {"ResourceQuota", "ml-a", "gpuquota-ml-priority",
     "/api/v1/namespaces/ml-a/resourcequotas/gpuquota-ml-priority",
     "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\"," META(
	 "gpuquota-ml-priority",
	 "\"namespace\":\"ml-a\",") ",\"spec\":{\"hard\":{\"requests.nvidia.com/gpu\":\"0\","
				    "\"requests.nvidia.com/mig-1g.10gb\":\"0\","
				    "\"requests.nvidia.com/mig-2g.20gb\":\"0\"},"
				    "\"scopeSelector\":{\"matchExpressions\":[{\"scopeName\":"
				    "\"PriorityClass\",\"operator\":\"NotIn\",\"values\":"
				    "[\"ml-high\",\"ml-low\"]}]}}}"},
    /* defaultRequest.memory comes from default.memory: the apiserver
     * defaults it so, and the body matches what it stores. */
    {"LimitRange", "ml-a", "gpuquota-ml", "/api/v1/namespaces/ml-a/limitranges/gpuquota-ml",
     "{\"apiVersion\":\"v1\",\"kind\":\"LimitRange\"," META(
	 "gpuquota-ml", "\"namespace\":\"ml-a\",") ",\"spec\":{\"limits\":[{\"type\":"
						   "\"Container\",\"default\":{\"cpu\":\"1\","
						   "\"memory\":\"1Gi\"},\"defaultRequest\":"
						   "{\"cpu\":\"250m\",\"memory\":\"1Gi\"}}]}}"},
    {"Namespace", "", "ml-b", "/api/v1/namespaces/ml-b",
     "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"ml-b\","
     "\"labels\":{\"gpuquota.io/team\":\"ml\",\"gpuquota.io/mig-config\":null}}}"},
    {"ResourceQuota", "ml-b", "gpuquota-ml", "/api/v1/namespaces/ml-b/resourcequotas/gpuquota-ml",
     "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\"," META(
	 "gpuquota-ml", "\"namespace\":\"ml-b\",") ",\"spec\":{\"hard\":{"
						   "\"requests.nvidia.com/gpu\":\"3\","
						   "\"requests.nvidia.com/mig-1g.10gb\":\"2\","
						   "\"requests.nvidia.com/mig-2g.20gb\":\"0\","
						   "\"requests.cpu\":\"2500m\","
						   "\"requests.memory\":\"16Gi\"}}}"},
    {"ResourceQuota", "ml-b", "gpuquota-ml-priority",
     "/api/v1/namespaces/ml-b/resourcequotas/gpuquota-ml-priority",
     "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\"," META(
	 "gpuquota-ml-priority",
	 "\"namespace\":\"ml-b\",") ",\"spec\":{\"hard\":{\"requests.nvidia.com/gpu\":\"0\","
				    "\"requests.nvidia.com/mig-1g.10gb\":\"0\","
				    "\"requests.nvidia.com/mig-2g.20gb\":\"0\"},"
				    "\"scopeSelector\":{\"matchExpressions\":[{\"scopeName\":"
				    "\"PriorityClass\",\"operator\":\"NotIn\",\"values\":"
				    "[\"ml-high\",\"ml-low\"]}]}}}"},
    {"LimitRange", "ml-b", "gpuquota-ml", "/api/v1/namespaces/ml-b/limitranges/gpuquota-ml",
     "{\"apiVersion\":\"v1\",\"kind\":\"LimitRange\"," META(
	 "gpuquota-ml", "\"namespace\":\"ml-b\",") ",\"spec\":{\"limits\":[{\"type\":"
						   "\"Container\",\"default\":{\"cpu\":\"1\","
						   "\"memory\":\"1Gi\"},\"defaultRequest\":"
						   "{\"cpu\":\"250m\",\"memory\":\"1Gi\"}}]}}"},
};

static const char *const SMALL_GPU_RES[] = {"nvidia.com/gpu", "nvidia.com/mig-2g.20gb"};
static const char *const SMALL_USED_A[] = {"requests.nvidia.com/gpu", "1", "requests.cpu", "1500m",
					   NULL};

/* Builds the small team's objects: ml-a uses 1 GPU and 1500m CPU. */
static void build_small(struct gq_desired_list *out)
{
	static const char *const none[] = {NULL};
	struct gq_ns_usage u[2] = {{"ml-a", {NULL, 0}}, {"ml-b", {NULL, 0}}};
	struct gq_team t = {0};
	struct gq_err err = {0};

	decode(&t, SMALL_TEAM);
	u[0].used = used_list(SMALL_USED_A);
	u[1].used = used_list(none);
	if (gq_desired_build(out, &t, u, 2, SMALL_GPU_RES, 2, &err) != GQ_OK)
		fail_msg("build: %s", err.msg);
	gq_res_list_free(&u[0].used);
	gq_res_list_free(&u[1].used);
	gq_team_free(&t);
}

static void test_build_small_team(void **state)
{
	struct gq_desired_list l = {0};
	size_t i;

	(void)state;
	build_small(&l);
	assert_int_equal(l.n, GQ_ARRAY_LEN(WANT_SMALL));
	for (i = 0; i < l.n; i++) {
		assert_string_equal(l.items[i].kind, WANT_SMALL[i].kind);
		assert_string_equal(l.items[i].ns, WANT_SMALL[i].ns);
		assert_string_equal(l.items[i].name, WANT_SMALL[i].name);
		assert_string_equal(l.items[i].path, WANT_SMALL[i].path);
		assert_string_equal(body_of(&l.items[i]), WANT_SMALL[i].body);
	}
	gq_desired_list_free(&l);
	assert_int_equal(l.n, 0);
}

/* "4000m" and "1024Mi" in the spec become "4" and "1Gi"; no body carries a
 * non-canonical form. */
static void test_build_canonical_quantities(void **state)
{
	struct gq_desired_list l = {0};
	size_t i;

	(void)state;
	build_small(&l);
	for (i = 0; i < l.n; i++) {
		assert_null(strstr(body_of(&l.items[i]), "4000m"));
		assert_null(strstr(body_of(&l.items[i]), "1024Mi"));
	}
	assert_non_null(strstr(body_of(&l.items[3]), "\"requests.cpu\":\"4\""));
	assert_non_null(strstr(body_of(&l.items[5]), "\"memory\":\"1Gi\""));
	gq_desired_list_free(&l);
}

static void test_build_deterministic(void **state)
{
	struct gq_desired_list a = {0}, b = {0};
	size_t i;

	(void)state;
	build_small(&a);
	build_small(&b);
	assert_int_equal(a.n, b.n);
	for (i = 0; i < a.n; i++) {
		assert_string_equal(a.items[i].path, b.items[i].path);
		assert_int_equal(strlen(body_of(&a.items[i])), strlen(body_of(&b.items[i])));
		assert_memory_equal(body_of(&a.items[i]), body_of(&b.items[i]),
				    strlen(body_of(&a.items[i])));
	}
	gq_desired_list_free(&a);
	gq_desired_list_free(&b);
}

/* Fails when a JSON value holds an empty list or map, or a field we must
 * never send. */
static void assert_no_empty(yajl_val v, const char *body)
{
	size_t i;

	if (YAJL_IS_OBJECT(v)) {
		if (v->u.object.len == 0)
			fail_msg("empty map in %s", body);
		for (i = 0; i < v->u.object.len; i++) {
			if (strcmp(v->u.object.keys[i], "status") == 0 ||
			    strcmp(v->u.object.keys[i], "managedFields") == 0 ||
			    strcmp(v->u.object.keys[i], "resourceVersion") == 0)
				fail_msg("forbidden key %s in %s", v->u.object.keys[i], body);
			assert_no_empty(v->u.object.values[i], body);
		}
	} else if (YAJL_IS_ARRAY(v)) {
		if (v->u.array.len == 0)
			fail_msg("empty list in %s", body);
		for (i = 0; i < v->u.array.len; i++)
			assert_no_empty(v->u.array.values[i], body);
	}
}

static void check_bodies(const struct gq_desired_list *l)
{
	char perr[128];
	size_t i;

	for (i = 0; i < l->n; i++) {
		yajl_val v = yajl_tree_parse(body_of(&l->items[i]), perr, sizeof(perr));

		if (v == NULL)
			fail_msg("body is not JSON: %s: %s", perr, body_of(&l->items[i]));
		assert_no_empty(v, body_of(&l->items[i]));
		yajl_tree_free(v);
	}
}

static void test_build_no_empty_collections(void **state)
{
	struct gq_desired_list l = {0};
	struct gq_ns_usage u = {"bare-ns", {NULL, 0}};
	struct gq_team t = {0};
	struct gq_err err = {0};

	(void)state;
	build_small(&l);
	check_bodies(&l);
	gq_desired_list_free(&l);

	/* only defaultRequest: no "default" key at all */
	decode(&t, "{\"metadata\":{\"name\":\"x\",\"uid\":\"u\"},\"spec\":{\"namespaces\":[\"x\"],"
		   "\"limits\":{\"container\":{\"defaultRequest\":{\"memory\":\"256Mi\"},"
		   "\"default\":{}}}}}");
	u.ns = "x";
	assert_int_equal(gq_desired_build(&l, &t, &u, 1, NULL, 0, &err), GQ_OK);
	check_bodies(&l);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[2].kind, "LimitRange");
	assert_null(strstr(body_of(&l.items[2]), "\"default\""));
	assert_non_null(strstr(body_of(&l.items[2]), "\"defaultRequest\":{\"memory\":\"256Mi\"}"));
	gq_desired_list_free(&l);
	gq_team_free(&t);
}

/* No uid (offline render): no ownerReferences; no tiers: no PriorityClass
 * and no priority quota; no container defaults: no LimitRange. */
static void test_build_bare_team(void **state)
{
	struct gq_desired_list l = {0};
	struct gq_ns_usage u = {"bare-ns", {NULL, 0}};
	struct gq_team t = {0};
	struct gq_err err = {0};

	(void)state;
	decode(&t, BARE_TEAM);
	assert_int_equal(gq_desired_build(&l, &t, &u, 1, NULL, 0, &err), GQ_OK);
	check_bodies(&l);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0].kind, "Namespace");
	assert_string_equal(l.items[1].kind, "ResourceQuota");
	assert_string_equal(
	    body_of(&l.items[1]),
	    "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"name\":"
	    "\"gpuquota-bare\",\"namespace\":\"bare-ns\",\"labels\":{\"app.kubernetes.io/"
	    "managed-by\":\"gpuquota\",\"gpuquota.io/team\":\"bare\"}},\"spec\":{\"hard\":"
	    "{\"requests.nvidia.com/gpu\":\"0\"}}}");
	gq_desired_list_free(&l);

	/* a team with no namespaces yet only has its PriorityClasses (none here) */
	assert_int_equal(gq_desired_build(&l, &t, NULL, 0, NULL, 0, &err), GQ_OK);
	assert_int_equal(l.n, 0);
	gq_desired_list_free(&l);
	gq_team_free(&t);
}

static void test_build_bad_namespace(void **state)
{
	struct gq_desired_list l = {0};
	struct gq_ns_usage u = {"../etc", {NULL, 0}};
	struct gq_team t = {0};
	struct gq_err err = {0};

	(void)state;
	decode(&t, BARE_TEAM);
	assert_int_equal(gq_desired_build(&l, &t, &u, 1, NULL, 0, &err), GQ_EINVAL);
	assert_non_null(strstr(err.msg, "../etc"));
	assert_int_equal(l.n, 0);
	assert_null(l.items);
	gq_team_free(&t);
}

/* Fails unless each object's tree writes out as JSON that parses back to
 * the same tree, member for member in order. */
static void check_trees(const struct gq_desired_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		char *dump = gq_json_dump(l->items[i].tree);
		yajl_val parsed;

		assert_non_null(l->items[i].tree);
		assert_non_null(dump);
		parsed = yajl_tree_parse(dump, NULL, 0);
		assert_non_null(parsed);
		if (!gq_json_equal(l->items[i].tree, parsed))
			fail_msg("tree of %s does not round-trip: %s", l->items[i].path, dump);
		yajl_tree_free(parsed);
		free(dump);
	}
}

/* Every object of every build carries its body as a tree: the small team,
 * the bare one, and a Deprioritize team clamped (over-budget class and
 * budget quota). */
static void test_build_trees(void **state)
{
	struct gq_desired_list l = {0};
	struct gq_ns_usage u = {"dp-ns", {NULL, 0}};
	struct gq_team t = {0};
	struct gq_err err = {0};

	(void)state;
	build_small(&l);
	check_trees(&l);
	gq_desired_list_free(&l);

	decode(&t, BARE_TEAM);
	u.ns = "bare-ns";
	assert_int_equal(gq_desired_build(&l, &t, &u, 1, NULL, 0, &err), GQ_OK);
	check_trees(&l);
	gq_desired_list_free(&l);
	gq_team_free(&t);

	decode(&t, "{\"metadata\":{\"name\":\"dp\",\"uid\":\"u-\\u00e9\"},\"spec\":{\"namespaces\":"
		   "[\"dp-ns\"],\"quota\":{\"gpus\":2},\"priorities\":{\"tiers\":[{\"name\":"
		   "\"hi\",\"value\":-5}],\"defaultTier\":\"hi\"},\"budget\":{\"gpuHours\":\"1\","
		   "\"onExhausted\":\"Deprioritize\",\"exemptTiers\":[\"hi\"]}}}");
	u.ns = "dp-ns";
	assert_int_equal(gq_desired_build_clamped(&l, &t, &u, 1, SMALL_GPU_RES,
						  GQ_ARRAY_LEN(SMALL_GPU_RES), &err),
			 GQ_OK);
	assert_int_equal(l.n, 6); /* 2 PriorityClasses, Namespace, 3 ResourceQuotas */
	check_trees(&l);
	gq_desired_list_free(&l);
	assert_null(l.items);
	gq_team_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_totals),
	    cmocka_unit_test(test_totals_no_gpus),
	    cmocka_unit_test(test_split_one),
	    cmocka_unit_test(test_split_two),
	    cmocka_unit_test(test_split_three_milli_and_overuse),
	    cmocka_unit_test(test_split_exact_total),
	    cmocka_unit_test(test_split_overflow),
	    cmocka_unit_test(test_build_small_team),
	    cmocka_unit_test(test_build_canonical_quantities),
	    cmocka_unit_test(test_build_deterministic),
	    cmocka_unit_test(test_build_no_empty_collections),
	    cmocka_unit_test(test_build_bare_team),
	    cmocka_unit_test(test_build_bad_namespace),
	    cmocka_unit_test(test_build_trees),
	};
	return cmocka_run_group_tests_name("desired", tests, NULL, NULL);
}
