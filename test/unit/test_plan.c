/* Unit tests for plan.c: namespace ownership planning, the allocation
 * status document, the semantic "already applied?" comparison and the JSON
 * clone/dump helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gq.h"
#include "json_assert.h"
#include "json.h"
#include "jsonw.h"
#include "ledger.h"
#include "plan.h"
#include "quantity.h"
#include "spec.h"

/* ---------------------------------------------------------------- helpers */

/* Parses json; a parse failure fails the test. Caller frees the tree. */
static yajl_val parse(const char *json)
{
	char perr[256];
	yajl_val v = yajl_tree_parse(json, perr, sizeof(perr));

	if (v == NULL)
		fail_msg("test JSON does not parse: %s\n%s", perr, json);
	return v;
}

/* Decodes an allocation named `name` with the given creationTimestamp (NULL
 * for none), deletion state, generation and spec object into *t. */
static void make_team(struct gq_team *t, const char *name, const char *created, bool deleting,
		      long long generation, const char *spec)
{
	struct gq_err err;
	char *ts = created ? gq_asprintf(",\"creationTimestamp\":\"%s\"", created) : gq_strdup("");
	char *json =
	    gq_asprintf("{\"apiVersion\":\"gpuquota.io/v1alpha1\",\"kind\":\"GPUTeamAllocation\","
			"\"metadata\":{\"name\":\"%s\",\"generation\":%lld%s%s},\"spec\":%s}",
			name, generation, ts,
			deleting ? ",\"deletionTimestamp\":\"2025-06-01T00:00:00Z\","
				   "\"finalizers\":[\"gpuquota.io/cleanup\"]"
				 : "",
			spec);
	yajl_val v = parse(json);
	int rc;

	memset(t, 0, sizeof(*t));
	memset(&err, 0, sizeof(err));
	rc = gq_team_decode(t, v, &err);
	if (rc != GQ_OK)
		fail_msg("team fixture does not decode: %s\n%s", err.msg, json);
	yajl_tree_free(v);
	free(json);
	free(ts);
}

/* The entry for namespace `name` in p, or NULL. */
static const struct gq_plan_ns *plan_find(const struct gq_plan *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->ns[i].name, name) == 0)
			return &p->ns[i];
	return NULL;
}

/* Asserts that p has namespace `name` in state st, and (when fragment is
 * not NULL) a message containing fragment; fragment "" asserts no message. */
static void expect_ns(const struct gq_plan *p, const char *name, enum gq_ns_state st,
		      const char *fragment)
{
	const struct gq_plan_ns *e = plan_find(p, name);

	if (e == NULL)
		fail_msg("namespace %s is not in the plan", name);
	if (e->state != st)
		fail_msg("namespace %s: state %s, want %s", name, gq_ns_state_name(e->state),
			 gq_ns_state_name(st));
	if (fragment == NULL)
		return;
	if (fragment[0] == '\0') {
		if (e->message != NULL)
			fail_msg("namespace %s: unexpected message \"%s\"", name, e->message);
		return;
	}
	if (e->message == NULL || strstr(e->message, fragment) == NULL)
		fail_msg("namespace %s: message \"%s\" does not contain \"%s\"", name,
			 e->message ? e->message : "(null)", fragment);
}

static void expect_sorted(const struct gq_plan *p)
{
	for (size_t i = 1; i < p->n; i++)
		if (strcmp(p->ns[i - 1].name, p->ns[i].name) >= 0)
			fail_msg("plan not sorted/unique: %s before %s", p->ns[i - 1].name,
				 p->ns[i].name);
}

/* Whether two plans are identical (names, states, messages, order). */
static bool plan_equal(const struct gq_plan *a, const struct gq_plan *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const char *ma = a->ns[i].message, *mb = b->ns[i].message;

		if (strcmp(a->ns[i].name, b->ns[i].name) != 0 || a->ns[i].state != b->ns[i].state)
			return false;
		if ((ma == NULL) != (mb == NULL) || (ma && strcmp(ma, mb) != 0))
			return false;
	}
	return true;
}

/* Label fixtures. */
static struct gq_label LBL_ML[] = {{"team", "ml"}};
static struct gq_label LBL_ML_RETIRED[] = {{"team", "ml"}, {"stage", "retired"}};
static struct gq_label LBL_OTHER[] = {{"team", "web"}};

#define LABELS(a) ((struct gq_label_list){(a), GQ_ARRAY_LEN(a)})
#define NO_LABELS ((struct gq_label_list){NULL, 0})

/* ------------------------------------------------------------- namespaces */

static void test_ns_state_names(void **state)
{
	(void)state;
	assert_string_equal(gq_ns_state_name(GQ_NS_READY), "Ready");
	assert_string_equal(gq_ns_state_name(GQ_NS_PENDING), "Pending");
	assert_string_equal(gq_ns_state_name(GQ_NS_MISSING), "Missing");
	assert_string_equal(gq_ns_state_name(GQ_NS_CONFLICT), "Conflict");
	assert_string_equal(gq_ns_state_name(GQ_NS_TERMINATING), "Terminating");
}

static void test_plan_listed_namespaces(void **state)
{
	struct gq_team t;
	struct gq_plan p;
	const struct gq_ns_info ns[] = {
	    {"kube-system", NO_LABELS, false},
	    {"ml-train", NO_LABELS, false},
	    {"ml-lab", LABELS(LBL_OTHER), false},
	    {"unrelated", NO_LABELS, false},
	};

	(void)state;
	make_team(&t, "ml", "2025-01-01T00:00:00Z", false, 1,
		  "{\"namespaces\":[\"ml-train\",\"ml-lab\"]}");
	assert_int_equal(gq_plan_namespaces(&p, &t, &t, 1, ns, GQ_ARRAY_LEN(ns)), GQ_OK);
	assert_int_equal(p.n, 2);
	expect_ns(&p, "ml-lab", GQ_NS_READY, "");
	expect_ns(&p, "ml-train", GQ_NS_READY, "");
	assert_null(plan_find(&p, "kube-system"));
	assert_null(plan_find(&p, "unrelated"));
	expect_sorted(&p);
	gq_plan_free(&p);
	assert_null(p.ns);
	assert_int_equal(p.n, 0);

	/* No other allocations known at all (n_all = 0) gives the same. */
	assert_int_equal(gq_plan_namespaces(&p, &t, NULL, 0, ns, GQ_ARRAY_LEN(ns)), GQ_OK);
	assert_int_equal(p.n, 2);
	expect_ns(&p, "ml-lab", GQ_NS_READY, "");
	gq_plan_free(&p);
	gq_team_free(&t);
}

static void test_plan_selector(void **state)
{
	struct gq_team t;
	struct gq_plan p;
	const struct gq_ns_info ns[] = {
	    {"ml-a", LABELS(LBL_ML), false},   {"ml-old", LABELS(LBL_ML_RETIRED), false},
	    {"web", LABELS(LBL_OTHER), false}, {"bare", NO_LABELS, false},
	    {"listed", NO_LABELS, false},      {"ml-b", LABELS(LBL_ML), false},
	};

	(void)state;
	make_team(&t, "ml", "2025-01-01T00:00:00Z", false, 1,
		  "{\"namespaces\":[\"listed\",\"ml-a\"],\"namespaceSelector\":{"
		  "\"matchLabels\":{\"team\":\"ml\"},\"matchExpressions\":[{\"key\":\"stage\","
		  "\"operator\":\"NotIn\",\"values\":[\"retired\"]}]}}");
	assert_int_equal(gq_plan_namespaces(&p, &t, &t, 1, ns, GQ_ARRAY_LEN(ns)), GQ_OK);
	/* ml-a is both listed and selected: it appears once. */
	assert_int_equal(p.n, 3);
	expect_ns(&p, "listed", GQ_NS_READY, "");
	expect_ns(&p, "ml-a", GQ_NS_READY, "");
	expect_ns(&p, "ml-b", GQ_NS_READY, "");
	assert_null(plan_find(&p, "ml-old"));
	assert_null(plan_find(&p, "web"));
	assert_null(plan_find(&p, "bare"));
	expect_sorted(&p);
	gq_plan_free(&p);
	gq_team_free(&t);

	/* A selector-only team with no matching namespace plans nothing. */
	make_team(&t, "gpu", "2025-01-01T00:00:00Z", false, 1,
		  "{\"namespaceSelector\":{\"matchLabels\":{\"team\":\"gpu\"}}}");
	assert_int_equal(gq_plan_namespaces(&p, &t, &t, 1, ns, GQ_ARRAY_LEN(ns)), GQ_OK);
	assert_int_equal(p.n, 0);
	gq_plan_free(&p);
	gq_team_free(&t);
}

static void test_plan_missing_and_terminating(void **state)
{
	struct gq_team t;
	struct gq_plan p;
	const struct gq_ns_info ns[] = {
	    {"present", NO_LABELS, false},
	    {"going", NO_LABELS, true},
	    {"sel-going", LABELS(LBL_ML), true},
	    {"sel-ok", LABELS(LBL_ML), false},
	};

	(void)state;
	make_team(&t, "ml", "2025-01-01T00:00:00Z", false, 1,
		  "{\"namespaces\":[\"present\",\"absent\",\"going\"],"
		  "\"namespaceSelector\":{\"matchLabels\":{\"team\":\"ml\"}}}");
	assert_int_equal(gq_plan_namespaces(&p, &t, &t, 1, ns, GQ_ARRAY_LEN(ns)), GQ_OK);
	assert_int_equal(p.n, 5);
	expect_ns(&p, "present", GQ_NS_READY, "");
	expect_ns(&p, "absent", GQ_NS_MISSING, "does not exist");
	expect_ns(&p, "going", GQ_NS_TERMINATING, "deleted");
	expect_ns(&p, "sel-going", GQ_NS_TERMINATING, "deleted");
	expect_ns(&p, "sel-ok", GQ_NS_READY, "");
	expect_sorted(&p);
	gq_plan_free(&p);

	/* With no namespaces at all, every listed one is missing. */
	assert_int_equal(gq_plan_namespaces(&p, &t, &t, 1, NULL, 0), GQ_OK);
	assert_int_equal(p.n, 3);
	expect_ns(&p, "absent", GQ_NS_MISSING, "does not exist");
	expect_ns(&p, "going", GQ_NS_MISSING, "does not exist");
	expect_ns(&p, "present", GQ_NS_MISSING, "does not exist");
	expect_sorted(&p);
	gq_plan_free(&p);
	gq_team_free(&t);
}

static void test_plan_sorted_output(void **state)
{
	struct gq_team t;
	struct gq_plan p;
	const struct gq_ns_info ns[] = {
	    {"zeta", NO_LABELS, false},	     {"mid", LABELS(LBL_ML), false},
	    {"alpha", NO_LABELS, false},     {"beta-x", LABELS(LBL_ML), false},
	    {"omega", LABELS(LBL_ML), true},
	};

	(void)state;
	make_team(&t, "ml", "2025-01-01T00:00:00Z", false, 1,
		  "{\"namespaces\":[\"zeta\",\"nope\",\"alpha\",\"aaa-missing\"],"
		  "\"namespaceSelector\":{\"matchLabels\":{\"team\":\"ml\"}}}");
	assert_int_equal(gq_plan_namespaces(&p, &t, &t, 1, ns, GQ_ARRAY_LEN(ns)), GQ_OK);
	assert_int_equal(p.n, 7);
	assert_string_equal(p.ns[0].name, "aaa-missing");
	assert_string_equal(p.ns[1].name, "alpha");
	assert_string_equal(p.ns[2].name, "beta-x");
	assert_string_equal(p.ns[3].name, "mid");
	assert_string_equal(p.ns[4].name, "nope");
	assert_string_equal(p.ns[5].name, "omega");
	assert_string_equal(p.ns[6].name, "zeta");
	assert_int_equal(p.ns[0].state, GQ_NS_MISSING);
	assert_int_equal(p.ns[5].state, GQ_NS_TERMINATING);
	gq_plan_free(&p);
	gq_team_free(&t);
}

static void test_plan_conflict_older_wins(void **state)
{
	struct gq_team teams[2];
	struct gq_plan p;
	const struct gq_ns_info ns[] = {
	    {"shared", LABELS(LBL_ML), false},
	    {"young-only", NO_LABELS, false},
	};

	(void)state;
	/* "zz-old" is older but sorts after "aa-young" by name: age decides. */
	make_team(&teams[0], "aa-young", "2025-02-01T00:00:00Z", false, 1,
		  "{\"namespaces\":[\"shared\",\"young-only\"]}");
	make_team(&teams[1], "zz-old", "2025-01-15T12:00:00Z", false, 1,
		  "{\"namespaceSelector\":{\"matchLabels\":{\"team\":\"ml\"}}}");

	assert_int_equal(gq_plan_namespaces(&p, &teams[0], teams, 2, ns, 2), GQ_OK);
	assert_int_equal(p.n, 2);
	expect_ns(&p, "shared", GQ_NS_CONFLICT, "zz-old");
	expect_ns(&p, "young-only", GQ_NS_READY, "");
	gq_plan_free(&p);

	assert_int_equal(gq_plan_namespaces(&p, &teams[1], teams, 2, ns, 2), GQ_OK);
	assert_int_equal(p.n, 1);
	expect_ns(&p, "shared", GQ_NS_READY, "");
	gq_plan_free(&p);

	/* The conflicting message names the owner, not the team itself. */
	assert_int_equal(gq_plan_namespaces(&p, &teams[0], teams, 2, ns, 2), GQ_OK);
	assert_null(strstr(p.ns[0].message, "aa-young"));
	assert_non_null(strstr(p.ns[0].message, "GPUTeamAllocation zz-old"));
	gq_plan_free(&p);

	gq_team_free(&teams[0]);
	gq_team_free(&teams[1]);
}

static void test_plan_conflict_equal_timestamps(void **state)
{
	struct gq_team teams[2], rev[2];
	struct gq_plan p;
	const struct gq_ns_info ns[] = {{"shared", NO_LABELS, false}};

	(void)state;
	make_team(&teams[0], "bbb", "2025-01-01T00:00:00Z", false, 1,
		  "{\"namespaces\":[\"shared\"]}");
	make_team(&teams[1], "aaa", "2025-01-01T00:00:00Z", false, 1,
		  "{\"namespaces\":[\"shared\"]}");
	rev[0] = teams[1];
	rev[1] = teams[0];

	for (int order = 0; order < 2; order++) {
		const struct gq_team *all = order ? rev : teams;

		assert_int_equal(gq_plan_namespaces(&p, &teams[1], all, 2, ns, 1), GQ_OK);
		expect_ns(&p, "shared", GQ_NS_READY, "");
		gq_plan_free(&p);
		assert_int_equal(gq_plan_namespaces(&p, &teams[0], all, 2, ns, 1), GQ_OK);
		expect_ns(&p, "shared", GQ_NS_CONFLICT, "aaa");
		gq_plan_free(&p);
	}
	gq_team_free(&teams[0]);
	gq_team_free(&teams[1]);
}

static void test_plan_deleting_team_does_not_claim(void **state)
{
	struct gq_team teams[2];
	struct gq_plan p;
	const struct gq_ns_info ns[] = {{"shared", NO_LABELS, false}};

	(void)state;
	make_team(&teams[0], "old-gone", "2024-01-01T00:00:00Z", true, 1,
		  "{\"namespaces\":[\"shared\"]}");
	make_team(&teams[1], "new", "2025-01-01T00:00:00Z", false, 1,
		  "{\"namespaces\":[\"shared\"]}");
	assert_true(teams[0].deleting);
	assert_int_equal(gq_plan_namespaces(&p, &teams[1], teams, 2, ns, 1), GQ_OK);
	assert_int_equal(p.n, 1);
	expect_ns(&p, "shared", GQ_NS_READY, "");
	gq_plan_free(&p);

	/* Once it is no longer being deleted, the older one wins again. */
	teams[0].deleting = false;
	assert_int_equal(gq_plan_namespaces(&p, &teams[1], teams, 2, ns, 1), GQ_OK);
	expect_ns(&p, "shared", GQ_NS_CONFLICT, "old-gone");
	gq_plan_free(&p);
	gq_team_free(&teams[0]);
	gq_team_free(&teams[1]);
}

/* Four allocations competing for namespaces; the plans of each must be the
 * same for every order of all[]. */
#define N_PERM_TEAMS 4

static void check_perm_plans(const struct gq_team *all, size_t n_all, const struct gq_ns_info *ns,
			     size_t n_ns)
{
	struct gq_plan p;

	for (size_t i = 0; i < n_all; i++) {
		const struct gq_team *t = &all[i];

		if (t->deleting)
			continue;
		assert_int_equal(gq_plan_namespaces(&p, t, all, n_all, ns, n_ns), GQ_OK);
		expect_sorted(&p);
		if (strcmp(t->name, "beta") == 0) {
			assert_int_equal(p.n, 3);
			expect_ns(&p, "shared", GQ_NS_READY, "");
			expect_ns(&p, "b-ns", GQ_NS_READY, "");
			expect_ns(&p, "term", GQ_NS_TERMINATING, NULL);
		} else if (strcmp(t->name, "gamma") == 0) {
			assert_int_equal(p.n, 2);
			expect_ns(&p, "shared", GQ_NS_CONFLICT, "GPUTeamAllocation beta");
			expect_ns(&p, "g-missing", GQ_NS_MISSING, NULL);
		} else if (strcmp(t->name, "alpha") == 0) {
			assert_int_equal(p.n, 2);
			expect_ns(&p, "shared", GQ_NS_CONFLICT, "GPUTeamAllocation beta");
			expect_ns(&p, "a-only", GQ_NS_READY, "");
		} else {
			fail_msg("unexpected team %s", t->name);
		}
		gq_plan_free(&p);
	}
}

static void test_plan_independent_of_order(void **state)
{
	struct gq_team base[N_PERM_TEAMS], perm[N_PERM_TEAMS];
	const struct gq_ns_info ns[] = {
	    {"shared", LABELS(LBL_ML), false},
	    {"a-only", NO_LABELS, false},
	    {"b-ns", LABELS(LBL_ML), false},
	    {"term", LABELS(LBL_ML), true},
	};
	const struct gq_ns_info ns_rev[] = {ns[3], ns[2], ns[1], ns[0]};
	struct gq_plan ref[N_PERM_TEAMS], p;
	int idx[N_PERM_TEAMS];
	int count = 0;

	(void)state;
	make_team(&base[0], "alpha", "2025-01-02T00:00:00Z", false, 1,
		  "{\"namespaces\":[\"shared\",\"a-only\"]}");
	make_team(&base[1], "beta", "2025-01-01T00:00:00Z", false, 1,
		  "{\"namespaceSelector\":{\"matchLabels\":{\"team\":\"ml\"}}}");
	make_team(&base[2], "gamma", "2025-01-01T00:00:00Z", false, 1,
		  "{\"namespaces\":[\"shared\",\"g-missing\"]}");
	make_team(&base[3], "delta", "2024-12-01T00:00:00Z", true, 1,
		  "{\"namespaces\":[\"shared\"]}");

	for (int i = 0; i < N_PERM_TEAMS; i++)
		assert_int_equal(
		    gq_plan_namespaces(&ref[i], &base[i], base, N_PERM_TEAMS, ns, GQ_ARRAY_LEN(ns)),
		    GQ_OK);

	/* Every permutation of all[] (Heap's algorithm would do; nested loops
	 * over distinct indices are simpler to read). */
	for (idx[0] = 0; idx[0] < N_PERM_TEAMS; idx[0]++)
		for (idx[1] = 0; idx[1] < N_PERM_TEAMS; idx[1]++)
			for (idx[2] = 0; idx[2] < N_PERM_TEAMS; idx[2]++)
				for (idx[3] = 0; idx[3] < N_PERM_TEAMS; idx[3]++) {
					int seen = 0;

					for (int k = 0; k < N_PERM_TEAMS; k++)
						seen |= 1 << idx[k];
					if (seen != (1 << N_PERM_TEAMS) - 1)
						continue;
					for (int k = 0; k < N_PERM_TEAMS; k++)
						perm[k] = base[idx[k]];
					count++;
					check_perm_plans(perm, N_PERM_TEAMS, ns, GQ_ARRAY_LEN(ns));
					check_perm_plans(perm, N_PERM_TEAMS, ns_rev,
							 GQ_ARRAY_LEN(ns_rev));
					for (int k = 0; k < N_PERM_TEAMS; k++) {
						int b = idx[k];

						assert_int_equal(
						    gq_plan_namespaces(&p, &base[b], perm,
								       N_PERM_TEAMS, ns_rev,
								       GQ_ARRAY_LEN(ns_rev)),
						    GQ_OK);
						assert_true(plan_equal(&p, &ref[b]));
						gq_plan_free(&p);
					}
				}
	assert_int_equal(count, 24);

	/* t itself need not be in all[]: gamma planned against the others. */
	perm[0] = base[3];
	perm[1] = base[0];
	perm[2] = base[1];
	assert_int_equal(gq_plan_namespaces(&p, &base[2], perm, 3, ns, GQ_ARRAY_LEN(ns)), GQ_OK);
	assert_true(plan_equal(&p, &ref[2]));
	gq_plan_free(&p);

	for (int i = 0; i < N_PERM_TEAMS; i++) {
		gq_plan_free(&ref[i]);
		gq_team_free(&base[i]);
	}
}

/* ----------------------------------------------------------------- status */

static const char *const NOW = "2025-05-05T05:05:05Z";

/* Builds a resource list from name/quantity string pairs (NULL-terminated). */
static void make_totals(struct gq_res_list *l, const char *const *pairs)
{
	memset(l, 0, sizeof(*l));
	for (size_t i = 0; pairs[i] != NULL; i += 2) {
		l->items = gq_realloc(l->items, (l->n + 1) * sizeof(*l->items));
		l->items[l->n].name = gq_strdup(pairs[i]);
		assert_int_equal(gq_quantity_parse(&l->items[l->n].q, pairs[i + 1]), GQ_OK);
		l->n++;
	}
}

/* Generates the status body and parses it. Caller frees the tree. */
static yajl_val status_tree(const struct gq_status_in *in)
{
	char *body = gq_status_body(in);
	yajl_val v;

	assert_non_null(body);
	v = parse(body);
	free(body);
	return v;
}

static const char *str_at(yajl_val v, const char *const *path)
{
	const char *s = gq_json_str(v, path);

	if (s == NULL)
		fail_msg("no string at %s...", path[0]);
	return s;
}

static long long int_at(yajl_val v, const char *const *path)
{
	yajl_val n = yajl_tree_get(v, (const char **)path, yajl_t_number);

	if (n == NULL || !YAJL_IS_INTEGER(n))
		fail_msg("no integer at %s...", path[0]);
	return YAJL_GET_INTEGER(n);
}

/* The condition of `type` in status.conditions, or NULL. */
static yajl_val cond_of(yajl_val body, const char *type)
{
	yajl_val arr =
	    yajl_tree_get(body, (const char *[]){"status", "conditions", NULL}, yajl_t_array);

	for (size_t i = 0; arr && i < arr->u.array.len; i++) {
		const char *t = gq_json_str(arr->u.array.values[i], GQ_PATH("type"));

		if (t && strcmp(t, type) == 0)
			return arr->u.array.values[i];
	}
	return NULL;
}

/* The namespace entry `name` in status.namespaces, or NULL. */
static yajl_val status_ns(yajl_val body, const char *name)
{
	yajl_val arr =
	    yajl_tree_get(body, (const char *[]){"status", "namespaces", NULL}, yajl_t_array);

	for (size_t i = 0; arr && i < arr->u.array.len; i++) {
		const char *n = gq_json_str(arr->u.array.values[i], GQ_PATH("name"));

		if (n && strcmp(n, name) == 0)
			return arr->u.array.values[i];
	}
	return NULL;
}

/* Whether any object or array in v is empty. */
static bool has_empty(yajl_val v)
{
	if (YAJL_IS_OBJECT(v)) {
		if (v->u.object.len == 0)
			return true;
		for (size_t i = 0; i < v->u.object.len; i++)
			if (has_empty(v->u.object.values[i]))
				return true;
	} else if (YAJL_IS_ARRAY(v)) {
		if (v->u.array.len == 0)
			return true;
		for (size_t i = 0; i < v->u.array.len; i++)
			if (has_empty(v->u.array.values[i]))
				return true;
	}
	return false;
}

/* Fails if any object or array in v is empty. */
static void expect_no_empty(yajl_val v, const char *where)
{
	if (YAJL_IS_OBJECT(v)) {
		if (v->u.object.len == 0)
			fail_msg("empty map at %s", where);
		for (size_t i = 0; i < v->u.object.len; i++)
			expect_no_empty(v->u.object.values[i], v->u.object.keys[i]);
	} else if (YAJL_IS_ARRAY(v)) {
		if (v->u.array.len == 0)
			fail_msg("empty list at %s", where);
		for (size_t i = 0; i < v->u.array.len; i++)
			expect_no_empty(v->u.array.values[i], where);
	}
}

static void test_status_full(void **state)
{
	struct gq_team t;
	struct gq_res_list totals;
	struct gq_plan_ns pns[] = {
	    {"ns-a", GQ_NS_READY, NULL},
	    {"ns-b", GQ_NS_READY, NULL},
	    {"ns-c", GQ_NS_MISSING, "namespace does not exist"},
	    {"ns-d", GQ_NS_PENDING, NULL},
	};
	yajl_val hard_a = parse("{\"requests.nvidia.com/gpu\":\"4\",\"requests.cpu\":\"4000m\","
				"\"requests.memory\":\"1024Mi\",\"weird\":\"not-a-qty\"}");
	yajl_val used_a = parse("{\"requests.nvidia.com/gpu\":\"1\",\"requests.cpu\":\"1500m\"}");
	yajl_val hard_b = parse("{\"requests.nvidia.com/gpu\":\"4\"}");
	yajl_val used_b = parse("{\"requests.nvidia.com/gpu\":\"2\",\"requests.cpu\":\"500m\"}");
	yajl_val used_d = parse("{}");
	struct gq_status_ns sns[] = {
	    {&pns[0], hard_a, used_a},
	    {&pns[1], hard_b, used_b},
	    {&pns[2], NULL, NULL},
	    {&pns[3], NULL, used_d},
	};
	const struct gq_condition conds[] = {
	    {"Ready", true, "Reconciled", "all good"},
	    {"Conflict", false, "NoConflict", NULL},
	    {"Degraded", false, "AllNamespacesReady", ""},
	};
	struct gq_status_in in;
	yajl_val b, c, a, arr;

	(void)state;
	make_team(&t, "vision", "2025-01-01T00:00:00Z", false, 7,
		  "{\"namespaces\":[\"ns-a\",\"ns-b\",\"ns-c\",\"ns-d\"]}");
	make_totals(&totals, (const char *const[]){"requests.nvidia.com/gpu", "8", "requests.cpu",
						   "8", "requests.memory", "2048Mi", NULL});
	in = (struct gq_status_in){&t, sns, GQ_ARRAY_LEN(sns), &totals, conds, 3, NULL, NOW, NULL, NULL};
	b = status_tree(&in);

	assert_string_equal(str_at(b, GQ_PATH("apiVersion")), "gpuquota.io/v1alpha1");
	assert_string_equal(str_at(b, GQ_PATH("kind")), "GPUTeamAllocation");
	assert_string_equal(str_at(b, GQ_PATH("metadata", "name")), "vision");
	/* Only metadata.name: no server-owned fields in an apply body. */
	assert_int_equal(gq_json_obj(b, GQ_PATH("metadata"))->u.object.len, 1);
	assert_int_equal(int_at(b, GQ_PATH("status", "observedGeneration")), 7);
	assert_string_equal(str_at(b, GQ_PATH("status", "state")), "Ready");
	assert_int_equal(int_at(b, GQ_PATH("status", "namespaceCount")), 2);
	assert_string_equal(str_at(b, GQ_PATH("status", "gpus")), "3/8");

	/* Conditions, in input order, with every metav1.Condition field. */
	arr = yajl_tree_get(b, (const char *[]){"status", "conditions", NULL}, yajl_t_array);
	assert_non_null(arr);
	assert_int_equal(arr->u.array.len, 3);
	for (size_t i = 0; i < 3; i++) {
		c = arr->u.array.values[i];
		assert_string_equal(str_at(c, GQ_PATH("type")), conds[i].type);
		assert_string_equal(str_at(c, GQ_PATH("status")),
				    conds[i].status ? "True" : "False");
		assert_string_equal(str_at(c, GQ_PATH("reason")), conds[i].reason);
		assert_string_equal(str_at(c, GQ_PATH("message")),
				    conds[i].message ? conds[i].message : "");
		assert_string_equal(str_at(c, GQ_PATH("lastTransitionTime")), NOW);
		assert_int_equal(int_at(c, GQ_PATH("observedGeneration")), 7);
	}

	/* Namespaces: state names, messages, canonical quantity maps. */
	arr = yajl_tree_get(b, (const char *[]){"status", "namespaces", NULL}, yajl_t_array);
	assert_non_null(arr);
	assert_int_equal(arr->u.array.len, 4);
	a = status_ns(b, "ns-a");
	assert_non_null(a);
	assert_string_equal(str_at(a, GQ_PATH("state")), "Ready");
	assert_null(gq_json_str(a, GQ_PATH("message")));
	assert_string_equal(str_at(a, GQ_PATH("hard", "requests.cpu")), "4");
	assert_string_equal(str_at(a, GQ_PATH("hard", "requests.memory")), "1Gi");
	assert_string_equal(str_at(a, GQ_PATH("hard", "requests.nvidia.com/gpu")), "4");
	assert_string_equal(str_at(a, GQ_PATH("hard", "weird")), "not-a-qty");
	assert_string_equal(str_at(a, GQ_PATH("used", "requests.cpu")), "1500m");
	a = status_ns(b, "ns-c");
	assert_non_null(a);
	assert_string_equal(str_at(a, GQ_PATH("state")), "Missing");
	assert_string_equal(str_at(a, GQ_PATH("message")), "namespace does not exist");
	assert_null(gq_json_obj(a, GQ_PATH("hard")));
	assert_null(gq_json_obj(a, GQ_PATH("used")));
	a = status_ns(b, "ns-d");
	assert_non_null(a);
	assert_string_equal(str_at(a, GQ_PATH("state")), "Pending");
	assert_null(gq_json_obj(a, GQ_PATH("used"))); /* empty map omitted */

	/* Quota totals: hard canonical, used summed over namespaces. */
	assert_string_equal(
	    str_at(b, GQ_PATH("status", "quota", "hard", "requests.nvidia.com/gpu")), "8");
	assert_string_equal(str_at(b, GQ_PATH("status", "quota", "hard", "requests.memory")),
			    "2Gi");
	assert_string_equal(str_at(b, GQ_PATH("status", "quota", "hard", "requests.cpu")), "8");
	assert_string_equal(
	    str_at(b, GQ_PATH("status", "quota", "used", "requests.nvidia.com/gpu")), "3");
	assert_string_equal(str_at(b, GQ_PATH("status", "quota", "used", "requests.cpu")), "2");
	/* No namespace reports memory usage: zero. */
	assert_string_equal(str_at(b, GQ_PATH("status", "quota", "used", "requests.memory")), "0");
	assert_int_equal(gq_json_obj(b, GQ_PATH("status", "quota", "hard"))->u.object.len, 3);
	assert_int_equal(gq_json_obj(b, GQ_PATH("status", "quota", "used"))->u.object.len, 3);

	expect_no_empty(b, "(root)");
	yajl_tree_free(b);

	yajl_tree_free(hard_a);
	yajl_tree_free(used_a);
	yajl_tree_free(hard_b);
	yajl_tree_free(used_b);
	yajl_tree_free(used_d);
	gq_res_list_free(&totals);
	gq_team_free(&t);
}

/* The state for a list of conditions. */
static char *state_for(const struct gq_team *t, const struct gq_condition *conds, size_t n)
{
	struct gq_status_in in = {t, NULL, 0, NULL, conds, n, NULL, NOW, NULL, NULL};
	yajl_val b = status_tree(&in);
	char *s = gq_strdup(str_at(b, GQ_PATH("status", "state")));

	yajl_tree_free(b);
	return s;
}

static void expect_state(const struct gq_team *t, const char *want,
			 const struct gq_condition *conds, size_t n)
{
	char *s = state_for(t, conds, n);

	if (strcmp(s, want) != 0) {
		char msg[256];

		snprintf(msg, sizeof(msg), "state %s, want %s", s, want);
		free(s);
		fail_msg("%s", msg);
	}
	free(s);
}

static void test_status_state(void **state)
{
	struct gq_team t;
	const struct gq_condition ready_t = {"Ready", true, "Reconciled", "ok"};
	const struct gq_condition ready_f = {"Ready", false, "QuotaPending", "waiting"};
	const struct gq_condition conf_t = {"Conflict", true, "Conflict", "claimed"};
	const struct gq_condition conf_f = {"Conflict", false, "NoConflict", ""};
	const struct gq_condition deg_t = {"Degraded", true, "NamespaceMissing", "missing"};
	const struct gq_condition deg_f = {"Degraded", false, "AllNamespacesReady", ""};

	(void)state;
	make_team(&t, "vision", NULL, false, 2, "{\"namespaces\":[\"a\"]}");

	expect_state(&t, "Ready", NULL, 0);
	expect_state(&t, "Ready", (struct gq_condition[]){ready_t, conf_f, deg_f}, 3);
	expect_state(&t, "Pending", (struct gq_condition[]){ready_f, conf_f, deg_f}, 3);
	expect_state(&t, "Degraded", (struct gq_condition[]){ready_t, conf_f, deg_t}, 3);
	expect_state(&t, "Degraded", (struct gq_condition[]){deg_t, ready_t}, 2);
	/* Conflict outranks everything, in any position. */
	expect_state(&t, "Conflict", (struct gq_condition[]){ready_f, conf_t, deg_f}, 3);
	expect_state(&t, "Conflict", (struct gq_condition[]){ready_f, conf_t, deg_t}, 3);
	expect_state(&t, "Conflict", (struct gq_condition[]){deg_t, ready_f, conf_t}, 3);
	expect_state(&t, "Conflict", (struct gq_condition[]){conf_t, deg_t, ready_f}, 3);
	expect_state(&t, "Conflict", (struct gq_condition[]){conf_t}, 1);
	/* Not asserted: Degraded=True together with Ready=False. plan.c gives
	 * whichever comes first in conds[] (Pending for reconcile.c's order
	 * Ready, Conflict, Degraded) and no document fixes the precedence. */
	/* False Conflict/Degraded and unknown condition types do not matter. */
	expect_state(&t, "Ready", (struct gq_condition[]){conf_f, deg_f}, 2);
	expect_state(&t, "Ready",
		     (struct gq_condition[]){{"BudgetWarning", true, "Warn", "x"}, ready_t}, 2);
	gq_team_free(&t);
}

static void test_status_transition_times(void **state)
{
	struct gq_team t;
	const char *const OLD_READY = "2025-01-01T00:00:00Z";
	const char *const OLD_DEG = "2025-01-02T00:00:00Z";
	yajl_val prev =
	    parse("{\"observedGeneration\":1,\"state\":\"Ready\",\"conditions\":["
		  "{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"Reconciled\","
		  "\"message\":\"ok\",\"lastTransitionTime\":\"2025-01-01T00:00:00Z\"},"
		  "{\"type\":\"Degraded\",\"status\":\"False\",\"reason\":\"AllNamespacesReady\","
		  "\"message\":\"\",\"lastTransitionTime\":\"2025-01-02T00:00:00Z\"}]}");
	const struct gq_condition conds[] = {
	    {"Ready", true, "Reconciled", "a different message"}, /* unchanged status */
	    {"Conflict", false, "NoConflict", ""},		  /* new condition */
	    {"Degraded", true, "NamespaceMissing", "gone"},	  /* flipped */
	};
	struct gq_status_in in;
	yajl_val b, b2, want;
	char *s1, *s2;

	(void)state;
	make_team(&t, "vision", NULL, false, 2, "{\"namespaces\":[\"a\"]}");
	in = (struct gq_status_in){&t, NULL, 0, NULL, conds, 3, prev, NOW, NULL, NULL};
	b = status_tree(&in);
	assert_string_equal(str_at(cond_of(b, "Ready"), GQ_PATH("lastTransitionTime")), OLD_READY);
	assert_string_equal(str_at(cond_of(b, "Conflict"), GQ_PATH("lastTransitionTime")), NOW);
	assert_string_equal(str_at(cond_of(b, "Degraded"), GQ_PATH("lastTransitionTime")), NOW);
	assert_string_equal(str_at(cond_of(b, "Ready"), GQ_PATH("message")), "a different message");

	/* Degraded staying False keeps its old time. */
	{
		const struct gq_condition same[] = {{"Degraded", false, "AllNamespacesReady", ""}};
		struct gq_status_in in2 = {&t, NULL, 0, NULL, same, 1, prev, NOW, NULL, NULL};

		b2 = status_tree(&in2);
		assert_string_equal(str_at(cond_of(b2, "Degraded"), GQ_PATH("lastTransitionTime")),
				    OLD_DEG);
		yajl_tree_free(b2);
	}

	/* Fed its own status back, a later reconcile produces the same body
	 * (nothing changed) even though `now` moved on: a no-op re-apply. */
	s1 = gq_status_body(&in);
	in.prev_status = gq_json_obj(b, GQ_PATH("status"));
	in.now = "2030-01-01T00:00:00Z";
	s2 = gq_status_body(&in);
	assert_string_equal(s1, s2);
	b2 = parse(s2);
	want = gq_json_obj(b2, GQ_PATH("status"));
	assert_true(gq_json_covers(want, in.prev_status));
	free(s1);
	free(s2);
	yajl_tree_free(b2);

	/* prev_status with malformed conditions is ignored, not trusted. */
	{
		yajl_val bad = parse("{\"conditions\":[{\"type\":\"Ready\"},\"junk\",{\"status\":"
				     "\"True\",\"lastTransitionTime\":\"x\"}]}");

		in.prev_status = bad;
		in.now = NOW;
		b2 = status_tree(&in);
		assert_string_equal(str_at(cond_of(b2, "Ready"), GQ_PATH("lastTransitionTime")),
				    NOW);
		yajl_tree_free(b2);
		yajl_tree_free(bad);
	}

	yajl_tree_free(b);
	yajl_tree_free(prev);
	gq_team_free(&t);
}

static void test_status_minimal_no_empty(void **state)
{
	struct gq_team t;
	struct gq_res_list empty = {NULL, 0};
	struct gq_status_in in;
	yajl_val b, st;

	(void)state;
	make_team(&t, "vision", NULL, false, 0, "{\"namespaces\":[\"a\"]}");
	in = (struct gq_status_in){&t, NULL, 0, &empty, NULL, 0, NULL, NOW, NULL, NULL};
	b = status_tree(&in);
	st = gq_json_obj(b, GQ_PATH("status"));
	assert_non_null(st);
	assert_int_equal(int_at(b, GQ_PATH("status", "observedGeneration")), 0);
	assert_string_equal(str_at(b, GQ_PATH("status", "state")), "Ready");
	assert_int_equal(int_at(b, GQ_PATH("status", "namespaceCount")), 0);
	assert_string_equal(str_at(b, GQ_PATH("status", "gpus")), "0/0");
	assert_null(yajl_tree_get(st, (const char *[]){"conditions", NULL}, yajl_t_any));
	assert_null(yajl_tree_get(st, (const char *[]){"namespaces", NULL}, yajl_t_any));
	assert_null(yajl_tree_get(st, (const char *[]){"quota", NULL}, yajl_t_any));
	expect_no_empty(b, "(root)");
	yajl_tree_free(b);

	in.totals = NULL;
	b = status_tree(&in);
	assert_null(gq_json_obj(b, GQ_PATH("status", "quota")));
	expect_no_empty(b, "(root)");
	yajl_tree_free(b);
	gq_team_free(&t);
}

/* A condition message that is not UTF-8 (say, cut inside a character)
 * makes no body rather than an invalid one. */
static void test_status_bad_utf8_message(void **state)
{
	struct gq_team t;
	struct gq_res_list empty = {NULL, 0};
	const struct gq_condition bad = {"Ready", false, "ApplyFailed", "quota \xe2\x82"};
	const struct gq_condition good = {"Ready", false, "ApplyFailed", "quota \xe2\x82\xac"};
	struct gq_status_in in;
	char *body;

	(void)state;
	make_team(&t, "vision", NULL, false, 0, "{\"namespaces\":[\"a\"]}");
	in = (struct gq_status_in){&t, NULL, 0, &empty, &bad, 1, NULL, NOW, NULL, NULL};
	assert_null(gq_status_body(&in));
	in.conds = &good;
	body = gq_status_body(&in);
	assert_non_null(body);
	assert_non_null(strstr(body, "quota \xe2\x82\xac"));
	free(body);
	gq_team_free(&t);
}

/* Quota readback maps whose values are all non-strings (not what the
 * apiserver sends, but the input is a borrowed tree) must not turn into an
 * empty "hard": {} in the status. */
static void test_status_no_empty_map_from_non_string_values(void **state)
{
	struct gq_team t;
	struct gq_plan_ns pns = {"ns-a", GQ_NS_READY, NULL};
	yajl_val hard = parse("{\"requests.nvidia.com/gpu\":4}");
	struct gq_status_ns sns = {&pns, hard, NULL};
	struct gq_status_in in;
	yajl_val b;
	bool empty;

	(void)state;
	make_team(&t, "vision", NULL, false, 1, "{\"namespaces\":[\"ns-a\"]}");
	in = (struct gq_status_in){&t, &sns, 1, NULL, NULL, 0, NULL, NOW, NULL, NULL};
	b = status_tree(&in);
	empty = has_empty(b);
	yajl_tree_free(b);
	yajl_tree_free(hard);
	gq_team_free(&t);
	assert_false(empty);
}

static void test_status_gpu_sum_formats(void **state)
{
	struct gq_team t;
	struct gq_res_list totals;
	struct gq_plan_ns pns[] = {
	    {"a", GQ_NS_READY, NULL},
	    {"b", GQ_NS_READY, NULL},
	    {"c", GQ_NS_CONFLICT, "claimed"},
	};
	yajl_val u1 = parse("{\"requests.nvidia.com/gpu\":\"2\"}");
	yajl_val u2 = parse("{\"requests.nvidia.com/gpu\":\"3000m\",\"junk\":\"?\"}");
	yajl_val u3 = parse("{\"requests.nvidia.com/gpu\":\"bogus\"}");
	struct gq_status_ns sns[] = {{&pns[0], NULL, u1}, {&pns[1], NULL, u2}, {&pns[2], NULL, u3}};
	struct gq_status_in in;
	yajl_val b;

	(void)state;
	make_team(&t, "vision", NULL, false, 1, "{\"namespaces\":[\"a\"]}");
	make_totals(&totals, (const char *const[]){"requests.nvidia.com/gpu", "16", NULL});
	in = (struct gq_status_in){&t, sns, 3, &totals, NULL, 0, NULL, NOW, NULL, NULL};
	b = status_tree(&in);
	/* Unparsable values are skipped; "3000m" counts as 3. */
	assert_string_equal(str_at(b, GQ_PATH("status", "gpus")), "5/16");
	assert_string_equal(
	    str_at(b, GQ_PATH("status", "quota", "used", "requests.nvidia.com/gpu")), "5");
	assert_int_equal(int_at(b, GQ_PATH("status", "namespaceCount")), 2);
	assert_string_equal(str_at(status_ns(b, "c"), GQ_PATH("state")), "Conflict");
	assert_string_equal(str_at(status_ns(b, "c"), GQ_PATH("message")), "claimed");
	yajl_tree_free(b);
	yajl_tree_free(u1);
	yajl_tree_free(u2);
	yajl_tree_free(u3);
	gq_res_list_free(&totals);
	gq_team_free(&t);
}

/* ---------------------------------------------------------------- compare */

/* gq_json_covers on two JSON texts. */
static bool covers_s(const char *desired, const char *actual)
{
	yajl_val d = parse(desired), a = parse(actual);
	bool r = gq_json_covers(d, a);

	yajl_tree_free(d);
	yajl_tree_free(a);
	return r;
}

static void test_covers_subset_top_and_metadata(void **state)
{
	(void)state;
	assert_true(covers_s("{}", "{\"a\":1}"));
	assert_true(
	    covers_s("{\"metadata\":{\"name\":\"x\",\"labels\":{\"a\":\"b\"}}}",
		     "{\"metadata\":{\"name\":\"x\",\"uid\":\"u\",\"resourceVersion\":\"9\","
		     "\"labels\":{\"a\":\"b\",\"kubernetes.io/metadata.name\":\"x\"},"
		     "\"managedFields\":[{\"manager\":\"m\"}]},\"extra\":{\"z\":1}}"));
	assert_false(covers_s("{\"metadata\":{\"name\":\"x\",\"labels\":{\"a\":\"b\"}}}",
			      "{\"metadata\":{\"name\":\"x\",\"labels\":{\"a\":\"c\"}}}"));
	assert_false(covers_s("{\"metadata\":{\"name\":\"x\",\"labels\":{\"a\":\"b\"}}}",
			      "{\"metadata\":{\"name\":\"x\"}}"));
	assert_false(
	    covers_s("{\"metadata\":{\"name\":\"x\"}}", "{\"metadata\":{\"name\":\"y\"}}"));
	assert_false(covers_s("{\"value\":100}", "{}"));
	assert_false(covers_s("{\"value\":100}", "{\"value\":\"100\"}"));
	assert_false(covers_s("{\"metadata\":{\"name\":\"x\"}}", "{\"metadata\":\"x\"}"));
	assert_true(covers_s("{\"description\":\"d\"}", "{\"description\":\"d\",\"x\":null}"));

	/* Degenerate inputs. */
	assert_true(gq_json_covers(NULL, NULL));
	{
		yajl_val d = parse("{\"a\":1}"), s = parse("[1]");

		assert_true(gq_json_covers(NULL, d));
		assert_false(gq_json_covers(d, NULL));
		assert_false(gq_json_covers(d, s));
		yajl_tree_free(d);
		yajl_tree_free(s);
	}
}

static void test_covers_type_info_ignored(void **state)
{
	(void)state;
	assert_true(covers_s("{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\","
			     "\"metadata\":{\"name\":\"q\"}}",
			     "{\"metadata\":{\"name\":\"q\"}}"));
	assert_true(covers_s("{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\"}",
			     "{\"apiVersion\":\"v2\",\"kind\":\"Other\"}"));
	/* Only at top level: a nested "kind" is data. */
	assert_false(covers_s("{\"metadata\":{\"ownerReferences\":[{\"kind\":\"A\"}]}}",
			      "{\"metadata\":{\"ownerReferences\":[{\"kind\":\"B\"}]}}"));
}

static void test_covers_strict_spec_status(void **state)
{
	(void)state;
	assert_true(covers_s("{\"spec\":{\"hard\":{\"pods\":\"10\"}}}",
			     "{\"spec\":{\"hard\":{\"pods\":\"10\"}},\"status\":{\"x\":1}}"));
	/* An extra key in actual under spec (one we stopped sending). */
	assert_false(covers_s("{\"spec\":{\"hard\":{\"pods\":\"10\"}}}",
			      "{\"spec\":{\"hard\":{\"pods\":\"10\"},\"scopes\":[\"A\"]}}"));
	assert_false(covers_s("{\"spec\":{\"hard\":{\"pods\":\"10\"}}}",
			      "{\"spec\":{\"hard\":{\"pods\":\"10\",\"requests.cpu\":\"1\"}}}"));
	/* Deeper: objects inside arrays under spec are strict too. */
	assert_false(covers_s("{\"spec\":{\"limits\":[{\"type\":\"Container\"}]}}",
			      "{\"spec\":{\"limits\":[{\"type\":\"Container\",\"max\":{}}]}}"));
	assert_true(covers_s("{\"spec\":{\"limits\":[{\"type\":\"Container\"}]}}",
			     "{\"spec\":{\"limits\":[{\"type\":\"Container\"}]}}"));
	/* Same under status. */
	assert_false(covers_s("{\"status\":{\"state\":\"Ready\"}}",
			      "{\"status\":{\"state\":\"Ready\",\"gpus\":\"1/2\"}}"));
	assert_true(
	    covers_s("{\"status\":{\"state\":\"Ready\"}}", "{\"status\":{\"state\":\"Ready\"}}"));
	/* A missing key fails as well. */
	assert_false(covers_s("{\"spec\":{\"a\":\"1\",\"b\":\"2\"}}", "{\"spec\":{\"a\":\"1\"}}"));
	/* Key order does not matter. */
	assert_true(covers_s("{\"spec\":{\"a\":\"1\",\"b\":\"2\"}}",
			     "{\"spec\":{\"b\":\"2\",\"a\":\"1\"}}"));
	/* Subset semantics stay outside spec/status (e.g. data). */
	assert_true(covers_s("{\"data\":{\"a\":\"1\"}}", "{\"data\":{\"a\":\"1\",\"b\":\"2\"}}"));
}

static void test_covers_false_is_absent(void **state)
{
	(void)state;
	assert_true(covers_s("{\"globalDefault\":false,\"value\":5}", "{\"value\":5}"));
	assert_true(covers_s("{\"globalDefault\":false}", "{\"globalDefault\":false}"));
	assert_false(covers_s("{\"globalDefault\":false}", "{\"globalDefault\":true}"));
	assert_false(covers_s("{\"globalDefault\":true}", "{}"));
	assert_false(covers_s("{\"globalDefault\":true}", "{\"globalDefault\":false}"));
	assert_true(covers_s("{\"metadata\":{\"x\":false}}", "{\"metadata\":{}}"));
}

/* false == absent also inside the strict spec/status maps: the key-set check
 * must compare keys, not counts. */
static void test_covers_false_is_absent_strict(void **state)
{
	(void)state;
	/* Desired false, actual omits it: equal. */
	assert_true(covers_s("{\"spec\":{\"a\":\"1\",\"f\":false}}", "{\"spec\":{\"a\":\"1\"}}"));
	/* Desired false omitted by actual, but actual has a stale extra key
	 * of the same count: not equal. */
	assert_false(covers_s("{\"spec\":{\"a\":\"1\",\"f\":false}}",
			      "{\"spec\":{\"a\":\"1\",\"stale\":\"2\"}}"));
}

static void test_covers_quantities(void **state)
{
	(void)state;
	/* By value in quantity maps. */
	assert_true(covers_s("{\"spec\":{\"hard\":{\"requests.cpu\":\"4000m\"}}}",
			     "{\"spec\":{\"hard\":{\"requests.cpu\":\"4\"}}}"));
	assert_true(covers_s("{\"spec\":{\"hard\":{\"requests.memory\":\"1024Mi\"}}}",
			     "{\"spec\":{\"hard\":{\"requests.memory\":\"1Gi\"}}}"));
	assert_true(covers_s("{\"status\":{\"used\":{\"cpu\":\"0.5\"}}}",
			     "{\"status\":{\"used\":{\"cpu\":\"500m\"}}}"));
	assert_true(covers_s(
	    "{\"spec\":{\"limits\":[{\"type\":\"Container\","
	    "\"default\":{\"cpu\":\"2000m\"},\"defaultRequest\":{\"memory\":\"1Gi\"}}]}}",
	    "{\"spec\":{\"limits\":[{\"type\":\"Container\","
	    "\"default\":{\"cpu\":\"2\"},\"defaultRequest\":{\"memory\":\"1073741824\"}}]}}"));
	/* Different values stay different. */
	assert_false(covers_s("{\"spec\":{\"hard\":{\"requests.cpu\":\"4\"}}}",
			      "{\"spec\":{\"hard\":{\"requests.cpu\":\"5\"}}}"));
	assert_false(covers_s("{\"spec\":{\"hard\":{\"requests.cpu\":\"4001m\"}}}",
			      "{\"spec\":{\"hard\":{\"requests.cpu\":\"4\"}}}"));
	/* Non-quantities under quantity maps compare exactly. */
	assert_false(covers_s("{\"spec\":{\"hard\":{\"x\":\"abc\"}}}",
			      "{\"spec\":{\"hard\":{\"x\":\"abd\"}}}"));
	/* Under other keys strings compare exactly. */
	assert_false(covers_s("{\"spec\":{\"other\":{\"cpu\":\"4000m\"}}}",
			      "{\"spec\":{\"other\":{\"cpu\":\"4\"}}}"));
	assert_false(covers_s("{\"metadata\":{\"labels\":{\"size\":\"4000m\"}}}",
			      "{\"metadata\":{\"labels\":{\"size\":\"4\"}}}"));
	assert_false(covers_s("{\"description\":\"1Gi\"}", "{\"description\":\"1024Mi\"}"));
	/* A scalar whose own key is "hard" is not in a quantity map. */
	assert_false(covers_s("{\"spec\":{\"x\":{\"hard\":\"4000m\"}}}",
			      "{\"spec\":{\"x\":{\"hard\":\"4\"}}}"));
}

static void test_covers_arrays(void **state)
{
	(void)state;
	assert_true(covers_s("{\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}",
			     "{\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}"));
	assert_false(covers_s("{\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}",
			      "{\"metadata\":{\"finalizers\":[\"b\",\"a\"]}}"));
	assert_false(covers_s("{\"metadata\":{\"finalizers\":[\"a\"]}}",
			      "{\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}"));
	assert_false(covers_s("{\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}",
			      "{\"metadata\":{\"finalizers\":[\"a\"]}}"));
	assert_false(covers_s("{\"metadata\":{\"finalizers\":[]}}",
			      "{\"metadata\":{\"finalizers\":\"a\"}}"));
	assert_true(covers_s("{\"spec\":{\"scopes\":[]}}", "{\"spec\":{\"scopes\":[]}}"));
	/* Objects in arrays outside spec: subset. */
	assert_true(
	    covers_s("{\"metadata\":{\"ownerReferences\":[{\"name\":\"o\"}]}}",
		     "{\"metadata\":{\"ownerReferences\":[{\"name\":\"o\",\"uid\":\"u\"}]}}"));
}

static void test_covers_numbers(void **state)
{
	(void)state;
	assert_true(covers_s("{\"value\":1000}", "{\"value\":1000}"));
	assert_false(covers_s("{\"value\":1000}", "{\"value\":1001}"));
	assert_true(covers_s("{\"value\":-5}", "{\"value\":-5}"));
	assert_true(
	    covers_s("{\"spec\":{\"n\":9007199254740993}}", "{\"spec\":{\"n\":9007199254740993}}"));
	assert_false(
	    covers_s("{\"spec\":{\"n\":9007199254740993}}", "{\"spec\":{\"n\":9007199254740992}}"));
	assert_true(covers_s("{\"x\":1.5}", "{\"x\":1.5}"));
	assert_false(covers_s("{\"x\":1.5}", "{\"x\":2.5}"));
	assert_false(covers_s("{\"x\":1}", "{\"x\":true}"));
	assert_false(covers_s("{\"x\":\"a\"}", "{\"x\":1}"));
	assert_false(covers_s("{\"x\":\"a\"}", "{\"x\":{}}"));
}

/* A realistic apply body against the object the apiserver returns. */
static void test_covers_realistic(void **state)
{
	static const char *const WANT =
	    "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"name\":"
	    "\"gpuquota\",\"namespace\":\"ml\",\"labels\":{\"app.kubernetes.io/managed-by\":"
	    "\"gpuquota\",\"gpuquota.io/team\":\"ml\"}},\"spec\":{\"hard\":{"
	    "\"requests.nvidia.com/gpu\":\"8\",\"requests.cpu\":\"64\",\"requests.memory\":"
	    "\"512Gi\"}}}";
	static const char *const HAVE =
	    "{\"metadata\":{\"name\":\"gpuquota\",\"namespace\":\"ml\",\"uid\":\"1\","
	    "\"resourceVersion\":\"42\",\"creationTimestamp\":\"2025-01-01T00:00:00Z\","
	    "\"labels\":{\"gpuquota.io/team\":\"ml\",\"app.kubernetes.io/managed-by\":"
	    "\"gpuquota\"},\"managedFields\":[{\"manager\":\"gpuquota\",\"operation\":"
	    "\"Apply\"}]},\"spec\":{\"hard\":{\"requests.cpu\":\"64\",\"requests.memory\":"
	    "\"512Gi\",\"requests.nvidia.com/gpu\":\"8\"}},\"status\":{\"hard\":{"
	    "\"requests.cpu\":\"64\"},\"used\":{\"requests.cpu\":\"3\"}}}";
	static const char *const HAVE_CHANGED =
	    "{\"metadata\":{\"name\":\"gpuquota\",\"namespace\":\"ml\",\"uid\":\"1\","
	    "\"labels\":{\"gpuquota.io/team\":\"ml\",\"app.kubernetes.io/managed-by\":"
	    "\"gpuquota\"}},\"spec\":{\"hard\":{\"requests.cpu\":\"64\",\"requests.memory\":"
	    "\"512Gi\",\"requests.nvidia.com/gpu\":\"4\"}}}";

	(void)state;
	assert_true(covers_s(WANT, HAVE));
	/* The stored GPU count differs: must be re-applied. */
	assert_false(covers_s(WANT, HAVE_CHANGED));
}

/* ---------------------------------------------------------------- helpers */

static void test_json_str_obj(void **state)
{
	yajl_val v = parse("{\"a\":{\"b\":\"c\",\"n\":1,\"o\":{}}}");

	(void)state;
	assert_string_equal(gq_json_str(v, GQ_PATH("a", "b")), "c");
	assert_null(gq_json_str(v, GQ_PATH("a", "n")));
	assert_null(gq_json_str(v, GQ_PATH("a", "zz")));
	assert_null(gq_json_str(NULL, GQ_PATH("a")));
	assert_non_null(gq_json_obj(v, GQ_PATH("a", "o")));
	assert_null(gq_json_obj(v, GQ_PATH("a", "b")));
	assert_null(gq_json_obj(NULL, GQ_PATH("a")));
	yajl_tree_free(v);
}

/* ------------------------------------------------------------------ clone */

static void test_clone_dump_round_trip(void **state)
{
	static const char *const DOC =
	    "{\"s\":\"plain\",\"esc\":\"q\\\"b\\\\s/"
	    "\\n\\t\\u0001\",\"utf8\":\"\xc3\xa9\xe2\x82\xac\","
	    "\"i\":42,\"neg\":-7,\"big\":9223372036854775807,\"d\":1.50,\"e\":2e10,"
	    "\"t\":true,\"f\":false,\"n\":null,\"eo\":{},\"ea\":[],"
	    "\"nest\":{\"arr\":[1,\"two\",[3,{\"four\":4}],null,false],\"o\":{\"k\":\"v\"}}}";
	yajl_val v = parse(DOC), c, r;
	char *d1, *d2;

	(void)state;
	c = gq_json_clone(v);
	assert_non_null(c);
	assert_true(c != v);
	assert_true(json_equal_as(v, c, true));
	d1 = gq_json_dump(v);
	d2 = gq_json_dump(c);
	assert_string_equal(d1, d2);
	r = parse(d1);
	assert_true(json_equal_as(v, r, true));
	assert_string_equal(gq_json_str(c, GQ_PATH("esc")), "q\"b\\s/\n\t\001");
	assert_string_equal(gq_json_str(c, GQ_PATH("utf8")), "\xc3\xa9\xe2\x82\xac");
	assert_int_equal(
	    YAJL_GET_INTEGER(yajl_tree_get(c, (const char *[]){"big", NULL}, yajl_t_number)),
	    9223372036854775807LL);
	/* The clone is independent of the original. */
	yajl_tree_free(v);
	assert_string_equal(gq_json_str(c, GQ_PATH("nest", "o", "k")), "v");
	free(d1);
	free(d2);
	yajl_tree_free(c);
	yajl_tree_free(r);

	/* Scalars and NULL. */
	assert_null(gq_json_clone(NULL));
	d1 = gq_json_dump(NULL);
	assert_string_equal(d1, "null");
	free(d1);
	v = parse("[\"x\",1,true]");
	d1 = gq_json_dump(v);
	assert_string_equal(d1, "[\"x\",1,true]");
	free(d1);
	yajl_tree_free(v);
}

/* Count of leading '[' in s. */
static size_t leading_brackets(const char *s)
{
	size_t n = 0;

	while (s[n] == '[')
		n++;
	return n;
}

static void test_clone_deep_tree(void **state)
{
	const size_t depths[] = {99, 100, 101, 102, 150, 5000};

	(void)state;
	for (size_t k = 0; k < GQ_ARRAY_LEN(depths); k++) {
		size_t depth = depths[k];
		char *json = gq_malloc(2 * depth + 8);
		char *d;
		yajl_val v, c;
		size_t n;

		/* depth nested arrays around a string. */
		memset(json, '[', depth);
		memcpy(json + depth, "\"x\"", 3);
		memset(json + depth + 3, ']', depth);
		json[2 * depth + 3] = '\0';
		v = parse(json);

		d = gq_json_dump(v);
		if (depth <= GQ_JW_MAX_DEPTH) {
			/* Up to GQ_JW_MAX_DEPTH levels: in full. */
			assert_non_null(d);
			n = leading_brackets(d);
			assert_int_equal(n, depth);
			assert_string_equal(d, json);
		} else {
			/* Beyond, the dump is refused, never cut short. */
			assert_null(d);
		}
		/* The clone copies the whole tree whatever the depth. */
		c = gq_json_clone(v);
		assert_non_null(c);
		assert_true(YAJL_IS_ARRAY(c));
		{
			yajl_val x = c;

			for (size_t i = 0; i < depth; i++) {
				assert_true(YAJL_IS_ARRAY(x) && x->u.array.len == 1);
				x = x->u.array.values[0];
			}
			assert_string_equal(YAJL_GET_STRING(x), "x");
		}
		yajl_tree_free(c);
		free(d);
		yajl_tree_free(v);
		free(json);
	}

	/* Deep objects, too. */
	{
		size_t depth = 300;
		struct {
			char *s;
			size_t len;
		} b = {gq_malloc(depth * 6 + 16), 0};
		yajl_val v, c;
		char *d;

		for (size_t i = 0; i < depth; i++) {
			memcpy(b.s + b.len, "{\"a\":", 5);
			b.len += 5;
		}
		memcpy(b.s + b.len, "1", 1);
		b.len++;
		memset(b.s + b.len, '}', depth);
		b.len += depth;
		b.s[b.len] = '\0';
		v = parse(b.s);
		d = gq_json_dump(v);
		assert_null(d); /* 300 levels: refused */
		c = gq_json_clone(v);
		assert_non_null(c);
		assert_true(YAJL_IS_OBJECT(c));
		yajl_tree_free(c);
		free(d);
		yajl_tree_free(v);
		free(b.s);
	}
}

/* The status body of base commit c228de0 (before the status document was
 * built as a tree) for status_rich_in's input: the text must not change. */
static const char *const RICH_STATUS_BODY =
    "{\"apiVersion\":\"gpuquota.io/"
    "v1alpha1\",\"kind\":\"GPUTeamAllocation\",\"metadata\":{\"name\":\"vision\"},"
    "\"status\":{\"observedGeneration\":9,\"state\":\"Conflict\",\"namespaceCount\":1,"
    "\"gpus\":\"2/8\",\"gpuHours\":\"34293.552503/"
    "500\",\"usage\":{\"usedGPUHours\":\"34293.552503\","
    "\"budgetGPUHours\":\"500\",\"remainingGPUHours\":\"0\",\"periodStart\":\"2026-03-01T00:00:"
    "00Z\","
    "\"periodEnd\":\"2026-04-01T00:00:00Z\",\"accountedUntil\":\"2026-03-10T10:00:00.001Z\","
    "\"usedMicroGPUSeconds\":123456789012345},\"history\":[{\"periodStart\":\"2026-02-01T00:00:"
    "00Z\","
    "\"periodEnd\":\"2026-03-01T00:00:00Z\",\"usedGPUHours\":\"7\",\"budgetGPUHours\":\"500\","
    "\"usedMicroGPUSeconds\":25200000001},{\"periodStart\":\"2026-01-01T00:00:00Z\",\"periodEnd\":"
    "\"2026-02-01T00:00:00Z\","
    "\"usedGPUHours\":\"0\",\"budgetGPUHours\":\"0.5\",\"usedMicroGPUSeconds\":0}],\"conditions\":["
    "{\"type\":\"Ready\","
    "\"status\":\"True\",\"observedGeneration\":9,\"lastTransitionTime\":\"2020-01-01T00:00:00Z\","
    "\"reason\":\"Reconciled\",\"message\":\"all \\\"good\\\"\\n\\ttabs\"},{\"type\":\"Degraded\","
    "\"status\":\"False\",\"observedGeneration\":9,\"lastTransitionTime\":\"2026-03-10T10:00:00Z\","
    "\"reason\":\"AllNamespacesReady\",\"message\":\"\"},{\"type\":\"Conflict\",\"status\":"
    "\"True\","
    "\"observedGeneration\":9,\"lastTransitionTime\":\"2026-03-10T10:00:00Z\",\"reason\":"
    "\"Claimed\","
    "\"message\":\"vb \xe2\x82\xac\"},{\"type\":\"BudgetExhausted\",\"status\":\"False\","
    "\"observedGeneration\":9,\"lastTransitionTime\":\"2026-03-10T10:00:00Z\",\"reason\":"
    "\"WithinBudget\","
    "\"message\":\"\"}],\"namespaces\":[{\"name\":\"va\",\"state\":\"Ready\",\"hard\":{\"requests."
    "nvidia.com/gpu\":\"4\","
    "\"requests.cpu\":\"4\",\"weird\":\"?\"},\"used\":{\"requests.nvidia.com/gpu\":\"1\","
    "\"requests.cpu\":\"1500m\"}},{\"name\":\"vb\",\"state\":\"Conflict\",\"message\":\"claimed by "
    "\\\"x\\\" \xe2\x82\xac\"},"
    "{\"name\":\"vc\",\"state\":\"Missing\",\"message\":\"namespace does not exist\","
    "\"used\":{\"requests.nvidia.com/"
    "gpu\":\"1\",\"requests.cpu\":\"1500m\"}}],\"quota\":{\"hard\":{\"requests.nvidia.com/"
    "gpu\":\"8\","
    "\"requests.nvidia.com/mig-1g.10gb\":\"4\",\"requests.nvidia.com/mig-2g.20gb\":\"0\","
    "\"requests.nvidia.com/"
    "mig-3g.40gb\":\"1\",\"requests.cpu\":\"64\",\"requests.memory\":\"512Gi\"},"
    "\"used\":{\"requests.nvidia.com/gpu\":\"2\",\"requests.nvidia.com/mig-1g.10gb\":\"0\","
    "\"requests.nvidia.com/mig-2g.20gb\":\"0\",\"requests.nvidia.com/mig-3g.40gb\":\"0\","
    "\"requests.cpu\":\"3\",\"requests.memory\":\"0\"}}}}";

static const char *const RICH_SPEC =
    "{\"namespaces\":[\"va\",\"vb\"],\"quota\":{\"gpus\":8,\"migSlices\":{\"1g.10gb\":4,"
    "\"3g.40gb\":1},\"resources\":{\"requests.memory\":\"512Gi\",\"requests.cpu\":\"64000m\"}},"
    "\"priorities\":{\"tiers\":[{\"name\":\"inference\",\"value\":100000}],"
    "\"defaultTier\":\"inference\"},\"budget\":{\"gpuHours\":\"500\",\"period\":\"Monthly\","
    "\"onExhausted\":\"Deny\",\"warnAtPercent\":80,\"exemptTiers\":[\"inference\"]}}";

/* Every part of the status document at once: budget usage and history,
 * conditions old and new, namespaces with and without messages and quota
 * readback, team totals. */
static void test_status_tree_matches_body(void **state)
{
	struct gq_team t;
	struct gq_res_list totals;
	struct gq_plan_ns pns[] = {{"va", GQ_NS_READY, NULL},
				   {"vb", GQ_NS_CONFLICT, "claimed by \"x\" \xe2\x82\xac"},
				   {"vc", GQ_NS_MISSING, "namespace does not exist"}};
	yajl_val hard = parse("{\"requests.nvidia.com/gpu\":\"4\",\"requests.cpu\":\"4000m\","
			      "\"weird\":\"?\",\"n\":1}");
	yajl_val used = parse("{\"requests.nvidia.com/gpu\":\"1\",\"requests.cpu\":\"1500m\"}");
	yajl_val prev = parse("{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
			      "\"lastTransitionTime\":\"2020-01-01T00:00:00Z\"},{\"type\":"
			      "\"Degraded\",\"status\":\"True\",\"lastTransitionTime\":"
			      "\"2020-02-02T00:00:00Z\"}]}");
	struct gq_status_ns sns[] = {
	    {&pns[0], hard, used}, {&pns[1], NULL, NULL}, {&pns[2], NULL, used}};
	const struct gq_condition conds[] = {{"Ready", true, "Reconciled", "all \"good\"\n\ttabs"},
					     {"Degraded", false, "AllNamespacesReady", NULL},
					     {"Conflict", true, "Claimed", "vb \xe2\x82\xac"},
					     {"BudgetExhausted", false, "WithinBudget", ""}};
	const struct gq_condition cut = {"Ready", false, "ApplyFailed", "cut \xe2\x82"};
	const int64_t H = 3600000000LL; /* a GPU-hour in micro GPU-seconds */
	struct gq_ledger l = {.period_start_ms = 1772323200000LL,
			      .period_end_ms = 1775001600000LL,
			      .accounted_until_ms = 1773136800000LL,
			      .used_micro = 123456789012345LL};
	struct gq_status_budget sb = {&l, 500 * H, 1773136800001LL};
	struct gq_status_in in;
	yajl_val tree, parsed;
	char *body, *dump;

	(void)state;
	make_team(&t, "vision", "2025-01-01T00:00:00Z", false, 9, RICH_SPEC);
	make_totals(&totals,
		    (const char *const[]){
			"requests.nvidia.com/gpu", "8", "requests.nvidia.com/mig-1g.10gb", "4",
			"requests.nvidia.com/mig-2g.20gb", "0", "requests.nvidia.com/mig-3g.40gb",
			"1", "requests.cpu", "64", "requests.memory", "512Gi", NULL});
	l.n_history = 2;
	l.history[0] =
	    (struct gq_ledger_period_rec){1769904000000LL, 1772323200000LL, 7 * H + 1, 500 * H};
	l.history[1] = (struct gq_ledger_period_rec){1767225600000LL, 1769904000000LL, 0, H / 2};
	in = (struct gq_status_in){&t,
				   sns,
				   GQ_ARRAY_LEN(sns),
				   &totals,
				   conds,
				   GQ_ARRAY_LEN(conds),
				   prev,
				   "2026-03-10T10:00:00Z",
				   &sb,
				   NULL};

	tree = gq_status_tree(&in);
	body = gq_status_body(&in);
	assert_non_null(tree);
	assert_non_null(body);
	assert_string_equal(body, RICH_STATUS_BODY);
	dump = gq_json_dump(tree);
	assert_string_equal(dump, body);
	parsed = parse(body);
	assert_true(gq_json_equal(tree, parsed));
	yajl_tree_free(parsed);
	yajl_tree_free(tree);
	free(dump);
	free(body);

	/* A message that is not UTF-8: no tree, as no body. */
	in.conds = &cut;
	in.n_conds = 1;
	assert_null(gq_status_tree(&in));
	assert_null(gq_status_body(&in));

	yajl_tree_free(hard);
	yajl_tree_free(used);
	yajl_tree_free(prev);
	gq_res_list_free(&totals);
	gq_team_free(&t);
}

/* Whether texts a and b parse to gq_json_equal trees (both must parse). */
static bool equal_s(const char *a, const char *b)
{
	yajl_val va = parse(a), vb = parse(b);
	bool eq = gq_json_equal(va, vb);

	assert_true(gq_json_equal(vb, va) == eq);
	yajl_tree_free(va);
	yajl_tree_free(vb);
	return eq;
}

/* Exact structural equality: types, member order, repeated keys, numbers
 * by their text; NULL only equals NULL. */
static void test_json_equal(void **state)
{
	static const char *const DOC =
	    "{\"s\":\"x\\u00e9\",\"i\":1,\"d\":1.50,\"t\":true,\"f\":false,\"n\":null,\"eo\":{},"
	    "\"ea\":[],\"nest\":{\"arr\":[1,\"two\",[3,{\"four\":4}],null,false]}}";
	static const char *const DIFFERENT[][2] = {
	    {"{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1}"},		/* member order */
	    {"{\"a\":1,\"a\":1}", "{\"a\":1}"},			/* a repeated key */
	    {"{\"a\":1}", "{\"b\":1}"},				/* key */
	    {"1", "1.0"},					/* number text */
	    {"1e2", "100"},					/* number text */
	    {"1", "\"1\""},					/* number / string */
	    {"true", "false"},					/* booleans */
	    {"null", "false"},					/* null / false */
	    {"{}", "[]"},					/* empty containers */
	    {"[1,2]", "[1,2,3]"},				/* array length */
	    {"[1,2]", "[2,1]"},					/* element order */
	    {"\"a\"", "\"ab\""},				/* strings */
	    {"{\"x\":[{\"y\":[1]}]}", "{\"x\":[{\"y\":[2]}]}"}, /* deep */
	};
	yajl_val v = parse(DOC), null_node = parse("null"), c;

	(void)state;
	c = gq_json_clone(v);
	assert_true(gq_json_equal(v, v));
	assert_true(gq_json_equal(v, c));
	assert_true(equal_s(DOC, DOC));
	for (size_t i = 0; i < GQ_ARRAY_LEN(DIFFERENT); i++)
		if (equal_s(DIFFERENT[i][0], DIFFERENT[i][1]))
			fail_msg("%s and %s compare equal", DIFFERENT[i][0], DIFFERENT[i][1]);
	assert_true(gq_json_equal(NULL, NULL));
	assert_false(gq_json_equal(NULL, null_node));
	assert_false(gq_json_equal(null_node, NULL));
	yajl_tree_free(v);
	yajl_tree_free(c);
	yajl_tree_free(null_node);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ns_state_names),
	    cmocka_unit_test(test_plan_listed_namespaces),
	    cmocka_unit_test(test_plan_selector),
	    cmocka_unit_test(test_plan_missing_and_terminating),
	    cmocka_unit_test(test_plan_sorted_output),
	    cmocka_unit_test(test_plan_conflict_older_wins),
	    cmocka_unit_test(test_plan_conflict_equal_timestamps),
	    cmocka_unit_test(test_plan_deleting_team_does_not_claim),
	    cmocka_unit_test(test_plan_independent_of_order),
	    cmocka_unit_test(test_status_full),
	    cmocka_unit_test(test_status_state),
	    cmocka_unit_test(test_status_transition_times),
	    cmocka_unit_test(test_status_minimal_no_empty),
	    cmocka_unit_test(test_status_bad_utf8_message),
	    cmocka_unit_test(test_status_no_empty_map_from_non_string_values),
	    cmocka_unit_test(test_status_gpu_sum_formats),
	    cmocka_unit_test(test_status_tree_matches_body),
	    cmocka_unit_test(test_covers_subset_top_and_metadata),
	    cmocka_unit_test(test_covers_type_info_ignored),
	    cmocka_unit_test(test_covers_strict_spec_status),
	    cmocka_unit_test(test_covers_false_is_absent),
	    cmocka_unit_test(test_covers_false_is_absent_strict),
	    cmocka_unit_test(test_covers_quantities),
	    cmocka_unit_test(test_covers_arrays),
	    cmocka_unit_test(test_covers_numbers),
	    cmocka_unit_test(test_covers_realistic),
	    cmocka_unit_test(test_json_str_obj),
	    cmocka_unit_test(test_clone_dump_round_trip),
	    cmocka_unit_test(test_clone_deep_tree),
	    cmocka_unit_test(test_json_equal),
	};

	return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
