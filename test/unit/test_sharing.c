/*
 * Unit tests for sharing.c, the pool reconfiguration state machine: nodes
 * built by hand, an injected clock, and a tiny simulated apiserver
 * (sim_patch) that carries each planned merge patch into the node, so that
 * every transition is driven the way the controller drives it.
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

#include "gq.h"
#include "json.h"
#include "rfc3339.h"
#include "sharing.h"
#include "spec.h"

#define T0 1773576000000LL /* 2026-03-15T12:00:00Z */

static void set_label(struct gq_share_node *n, const char *k, const char *v)
{
	for (size_t i = 0; i < n->labels.n; i++) {
		if (strcmp(n->labels.items[i].key, k) != 0)
			continue;
		free(n->labels.items[i].value);
		if (v) {
			n->labels.items[i].value = gq_strdup(v);
		} else {
			free(n->labels.items[i].key);
			n->labels.items[i] = n->labels.items[--n->labels.n];
		}
		return;
	}
	if (v == NULL)
		return;
	n->labels.items = gq_realloc(n->labels.items, (n->labels.n + 1) * sizeof(struct gq_label));
	n->labels.items[n->labels.n++] = (struct gq_label){gq_strdup(k), gq_strdup(v)};
}

static void node_init(struct gq_share_node *n, const char *name, const char *pool,
		      const char *mig)
{
	memset(n, 0, sizeof(*n));
	n->name = gq_strdup(name);
	set_label(n, "pool", pool);
	set_label(n, GQ_LABEL_MIG_CONFIG, mig);
	set_label(n, GQ_LABEL_MIG_STATE, "success");
	n->resource_version = gq_strdup("100");
}

static void set_pods(struct gq_share_node *n, size_t count)
{
	for (size_t i = 0; i < n->n_gpu_pods; i++)
		free(n->gpu_pods[i]);
	free(n->gpu_pods);
	n->gpu_pods = gq_calloc(count + 1, sizeof(char *));
	for (size_t i = 0; i < count; i++)
		n->gpu_pods[i] = gq_asprintf("ml/job-%zu", i);
	n->n_gpu_pods = count;
}

/* Applies one annotation of a patch to n. */
static void sim_ann(struct gq_share_node *n, const char *k, yajl_val v)
{
	const char *s = YAJL_IS_STRING(v) ? v->u.string : NULL;

	if (strcmp(k, GQ_ANN_SHARE_STEP) == 0) {
		free(n->step);
		n->step = s ? gq_strdup(s) : NULL;
	} else if (strcmp(k, GQ_ANN_SHARE_SINCE) == 0) {
		n->since_ms = 0;
		if (s)
			assert_int_equal(gq_rfc3339_parse(s, &n->since_ms), GQ_OK);
	} else if (strcmp(k, GQ_ANN_SHARE_CORDONED) == 0) {
		n->we_cordoned = s != NULL;
	} else if (strcmp(k, GQ_ANN_SHARE_ATTEMPTS) == 0) {
		n->attempts = s ? atoi(s) : 0;
	} else if (strcmp(k, GQ_ANN_SHARE_DP) == 0) {
		n->dp_ours = s != NULL;
	} else {
		fail_msg("unexpected annotation %s", k);
	}
}

static char *opt_dup(yajl_val v)
{
	return YAJL_IS_STRING(v) ? gq_strdup(v->u.string) : NULL;
}

/* Replaces n's taints with the list t of a patch, which must carry n's
 * resourceVersion (the optimistic lock of a list replaced whole); the
 * node then gets a new one. */
static void sim_taints(struct gq_share_node *n, yajl_val t, const char *rv)
{
	char *next;

	assert_non_null(rv);
	assert_string_equal(rv, n->resource_version);
	assert_true(YAJL_IS_ARRAY(t));
	gq_share_taints_free(n);
	n->taints = gq_calloc(t->u.array.len + 1, sizeof(*n->taints));
	for (size_t i = 0; i < t->u.array.len; i++) {
		yajl_val e = t->u.array.values[i];

		n->taints[n->n_taints++] = (struct gq_share_taint){
		    opt_dup(gq_json_get(e, "key")), opt_dup(gq_json_get(e, "value")),
		    opt_dup(gq_json_get(e, "effect")), opt_dup(gq_json_get(e, "timeAdded"))};
	}
	next = gq_asprintf("%d", atoi(n->resource_version) + 1);
	free(n->resource_version);
	n->resource_version = next;
}

/* The simulated apiserver: carries every patch of p into nodes. */
static void sim_patch(struct gq_share_node *nodes, size_t n, const struct gq_share_plan *p)
{
	for (size_t i = 0; i < p->n_patches; i++) {
		struct gq_share_node *nd = NULL;
		yajl_val l, a, u;

		for (size_t j = 0; j < n; j++)
			if (strcmp(nodes[j].name, p->patches[i].node) == 0)
				nd = &nodes[j];
		assert_non_null(nd);
		l = gq_json_obj(p->patches[i].body, GQ_PATH("metadata", "labels"));
		a = gq_json_obj(p->patches[i].body, GQ_PATH("metadata", "annotations"));
		u = gq_json_get(p->patches[i].body, "spec");
		for (size_t k = 0; l && k < l->u.object.len; k++)
			set_label(nd, l->u.object.keys[k],
				  YAJL_IS_STRING(l->u.object.values[k])
				      ? l->u.object.values[k]->u.string
				      : NULL);
		for (size_t k = 0; a && k < a->u.object.len; k++)
			sim_ann(nd, a->u.object.keys[k], a->u.object.values[k]);
		for (size_t k = 0; u && k < u->u.object.len; k++) /* null: cleared */
			if (strcmp(u->u.object.keys[k], "unschedulable") == 0)
				nd->unschedulable = YAJL_IS_TRUE(u->u.object.values[k]);
			else if (strcmp(u->u.object.keys[k], "taints") == 0)
				sim_taints(nd, u->u.object.values[k],
					   gq_json_str(p->patches[i].body,
						       GQ_PATH("metadata", "resourceVersion")));
	}
}

/* The fake mig-manager: a node whose layout label has no state yet gets
 * state (pending, success or failed). */
static void sim_mig(struct gq_share_node *n, const char *state)
{
	set_label(n, GQ_LABEL_MIG_STATE, state);
}

struct fixture {
	struct gq_team teams[2];
	size_t n_teams;
	struct gq_share_node nodes[4];
	size_t n_nodes;
	struct gq_share_plan plan;
	int64_t now;
};

static void team_init(struct gq_team *t, const char *name, const char *pool, const char *mig)
{
	memset(t, 0, sizeof(*t));
	t->name = gq_strdup(name);
	t->sharing.present = true;
	t->sharing.node_selector.match_labels.items = gq_calloc(1, sizeof(struct gq_label));
	t->sharing.node_selector.match_labels.items[0] =
	    (struct gq_label){gq_strdup("pool"), gq_strdup(pool)};
	t->sharing.node_selector.match_labels.n = 1;
	t->sharing.node_selector.present = true;
	t->sharing.mig_config = mig ? gq_strdup(mig) : NULL;
	t->sharing.drain_timeout_ms = 60000;
	t->sharing.max_unavailable = 1;
}

static int setup(void **state)
{
	struct fixture *f = gq_calloc(1, sizeof(*f));

	team_init(&f->teams[0], "ml", "a", "all-3g.40gb");
	f->n_teams = 1;
	node_init(&f->nodes[0], "node-a", "a", "all-disabled");
	f->n_nodes = 1;
	f->now = T0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	gq_share_plan_free(&f->plan);
	for (size_t i = 0; i < 2; i++)
		gq_team_free(&f->teams[i]);
	for (size_t i = 0; i < f->n_nodes; i++)
		gq_share_node_free(&f->nodes[i]);
	free(f);
	return 0;
}

/* One pass at f->now (+ms), its patches carried into the nodes. */
static const struct gq_share_plan *pass(struct fixture *f, int64_t advance_ms)
{
	f->now += advance_ms;
	gq_share_plan_free(&f->plan);
	gq_share_plan(&f->plan, &(struct gq_share_in){"ml", &f->teams[0].sharing,
						      &f->teams[0].mig_slices, f->teams,
						      f->n_teams, f->nodes, f->n_nodes, f->now,
						      300000});
	sim_patch(f->nodes, f->n_nodes, &f->plan);
	return &f->plan;
}

static void test_wait_then_apply_then_uncordon(void **state)
{
	struct fixture *f = *state;
	struct gq_share_node *n = &f->nodes[0];
	const struct gq_share_plan *p;

	set_pods(n, 1);
	n->whole_gpus = true;
	p = pass(f, 0);
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_DRAINING);
	assert_false(p->whole_gpus); /* a draining node's whole GPUs are not offered */
	assert_true(n->unschedulable);
	assert_true(n->we_cordoned);
	assert_string_equal(gq_share_label(n, GQ_LABEL_POOL), "ml");
	assert_string_equal(gq_share_pool_taint(n), "ml");
	assert_int_equal(n->n_taints, 1);
	assert_string_equal(gq_share_label(n, GQ_LABEL_MIG_CONFIG), "all-disabled");
	assert_false(p->ready);
	assert_string_equal(p->reason, "Reconfiguring");
	assert_non_null(p->message);
	assert_non_null(strstr(p->message, "node node-a: Draining"));
	assert_true(p->requeue_ms > 0);
	p = pass(f, 30000); /* within the drain timeout: waits */
	assert_int_equal(p->n_patches, 0);
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_DRAINING);
	assert_non_null(strstr(p->nodes[0].message, "waiting for 1 GPU pod"));
	p = pass(f, 60000); /* past it, evict false: still waits, says so */
	assert_int_equal(p->n_patches, 0);
	assert_int_equal(p->n_evict, 0);
	assert_non_null(strstr(p->nodes[0].message, "evict is false"));
	set_pods(n, 0);
	p = pass(f, 1000);
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_APPLYING);
	assert_string_equal(gq_share_label(n, GQ_LABEL_MIG_CONFIG), "all-3g.40gb");
	assert_null(gq_share_label(n, GQ_LABEL_MIG_STATE)); /* a stale success is dropped */
	assert_string_equal(n->step, "pending");
	sim_mig(n, "pending");
	p = pass(f, 1000);
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_APPLYING);
	assert_int_equal(p->n_patches, 0);
	sim_mig(n, "success");
	p = pass(f, 1000);
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_READY);
	assert_false(n->unschedulable);
	assert_false(n->we_cordoned);
	assert_null(n->step);
	assert_int_equal(n->since_ms, 0);
	assert_true(p->ready);
	assert_int_equal(p->requeue_ms, 0);
	p = pass(f, 1000); /* converged: nothing more to write */
	assert_int_equal(p->n_patches, 0);
}

static void test_evict_after_timeout(void **state)
{
	struct fixture *f = *state;
	const struct gq_share_plan *p;

	f->teams[0].sharing.evict = true;
	set_pods(&f->nodes[0], 2);
	pass(f, 0);
	p = pass(f, 59000);
	assert_int_equal(p->n_evict, 0);
	p = pass(f, 1000);
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_EVICTING);
	assert_int_equal(p->n_evict, 2);
	assert_string_equal(p->evict[0], "ml/job-0");
	p = pass(f, 2000); /* a refused eviction (429) is asked again */
	assert_int_equal(p->n_evict, 2);
	set_pods(&f->nodes[0], 0);
	p = pass(f, 1000);
	assert_int_equal(p->n_evict, 0);
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_APPLYING);
}

static void test_failed_stays_cordoned_until_spec_changes(void **state)
{
	struct fixture *f = *state;
	struct gq_share_node *n = &f->nodes[0];
	const struct gq_share_plan *p;

	pass(f, 0);
	pass(f, 1000);
	sim_mig(n, "failed");
	p = pass(f, 1000);
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_FAILED);
	assert_string_equal(p->reason, "ReconfigureFailed");
	assert_true(p->patches[0].warning);
	assert_true(n->unschedulable);
	p = pass(f, 600000); /* no retry, no flapping */
	assert_int_equal(p->n_patches, 0);
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_FAILED);
	free(f->teams[0].sharing.mig_config);
	f->teams[0].sharing.mig_config = gq_strdup("all-1g.10gb");
	p = pass(f, 1000);
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_DRAINING);
	p = pass(f, 1000);
	assert_string_equal(gq_share_label(n, GQ_LABEL_MIG_CONFIG), "all-1g.10gb");
}

static void test_stuck_pending_reapplied_then_failed(void **state)
{
	struct fixture *f = *state;
	struct gq_share_node *n = &f->nodes[0];
	const struct gq_share_plan *p;

	pass(f, 0);
	pass(f, 1000);
	sim_mig(n, "pending");
	p = pass(f, 299000);
	assert_int_equal(p->n_patches, 0);
	p = pass(f, 1000); /* pendingTimeout: the label is taken off ... */
	assert_null(gq_share_label(n, GQ_LABEL_MIG_CONFIG));
	assert_int_equal(n->attempts, 1);
	p = pass(f, 1000); /* ... and set again */
	assert_string_equal(gq_share_label(n, GQ_LABEL_MIG_CONFIG), "all-3g.40gb");
	assert_string_equal(n->step, "pending");
	pass(f, 300000);
	pass(f, 1000);
	assert_int_equal(n->attempts, 2);
	p = pass(f, 300000); /* the third attempt times out: failed */
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_FAILED);
	assert_string_equal(n->step, "failed");
	assert_true(n->unschedulable);
}

static void test_max_unavailable(void **state)
{
	struct fixture *f = *state;
	const struct gq_share_plan *p;

	node_init(&f->nodes[1], "node-b", "a", "all-disabled");
	node_init(&f->nodes[2], "node-c", "a", "all-disabled");
	f->n_nodes = 3;
	p = pass(f, 0);
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_DRAINING);
	assert_int_equal(p->nodes[1].phase, GQ_SHARE_QUEUED);
	assert_int_equal(p->nodes[2].phase, GQ_SHARE_QUEUED);
	assert_false(f->nodes[1].unschedulable);
	p = pass(f, 1000); /* node-a applies; the others still wait */
	assert_int_equal(p->nodes[1].phase, GQ_SHARE_QUEUED);
	sim_mig(&f->nodes[0], "success");
	p = pass(f, 1000); /* node-a done: its slot goes to node-b in the next pass */
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_READY);
	p = pass(f, 1000);
	assert_int_equal(p->nodes[1].phase, GQ_SHARE_DRAINING);
	assert_int_equal(p->nodes[2].phase, GQ_SHARE_QUEUED);
	f->teams[0].sharing.max_unavailable = 2;
	p = pass(f, 1000);
	assert_int_equal(p->nodes[2].phase, GQ_SHARE_DRAINING);
}

static void test_conflict_untouched(void **state)
{
	struct fixture *f = *state;
	const struct gq_share_plan *p;

	team_init(&f->teams[1], "cv", "a", "all-7g.80gb");
	f->n_teams = 2;
	p = pass(f, 0);
	assert_int_equal(p->n_patches, 0);
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_CONFLICT);
	assert_true(p->conflict);
	assert_non_null(strstr(p->conflict_msg, "cv"));
	assert_string_equal(p->reason, "Conflict");
	assert_int_equal(p->requeue_ms, 0);
	assert_false(f->nodes[0].unschedulable);
}

static void test_dra_node_left_alone(void **state)
{
	struct fixture *f = *state;
	const struct gq_share_plan *p;

	f->nodes[0].dra = true;
	p = pass(f, 0);
	assert_int_equal(p->n_patches, 0);
	assert_int_equal(p->nodes[0].phase, GQ_SHARE_UNMANAGED);
	assert_true(p->nodes[0].dra);
	assert_true(p->ready);
}

/* Which node a ResourceSlice publishes GPUs of: NVIDIA's GPU driver with a
 * node name only. */
static void test_slice_node(void **state)
{
	static const struct {
		const char *json, *node;
	} cases[] = {
	    {"{\"spec\":{\"driver\":\"gpu.nvidia.com\",\"nodeName\":\"n1\"}}", "n1"},
	    {"{\"spec\":{\"driver\":\"gpu.nvidia.com\",\"nodeName\":\"\"}}", NULL},
	    {"{\"spec\":{\"driver\":\"gpu.nvidia.com\",\"allNodes\":true}}", NULL},
	    {"{\"spec\":{\"driver\":\"nic.example.com\",\"nodeName\":\"n1\"}}", NULL},
	    {"{\"spec\":{\"driver\":7,\"nodeName\":\"n1\"}}", NULL},
	    {"{\"spec\":[]}", NULL},
	    {"[]", NULL},
	};

	(void)state;
	assert_null(gq_share_slice_node(NULL));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		yajl_val v = yajl_tree_parse(cases[i].json, NULL, 0);
		const char *got;

		assert_non_null(v);
		got = gq_share_slice_node(v);
		if (cases[i].node)
			assert_string_equal(got, cases[i].node);
		else
			assert_null(got);
		yajl_tree_free(v);
	}
}

static void test_cordoned_by_someone_else_stays(void **state)
{
	struct fixture *f = *state;
	struct gq_share_node *n = &f->nodes[0];

	n->unschedulable = true;
	pass(f, 0);
	assert_false(n->we_cordoned);
	pass(f, 1000);
	sim_mig(n, "success");
	pass(f, 1000);
	assert_null(n->step);
	assert_true(n->unschedulable);
}

static void test_release_restores(void **state)
{
	struct fixture *f = *state;
	struct gq_share_node *n = &f->nodes[0];
	const struct gq_share_plan *p;

	f->teams[0].sharing.device_plugin_config = gq_strdup("ts-4");
	/* someone else's taints: kept, in order, with their fields */
	n->taints = gq_calloc(2, sizeof(*n->taints));
	n->taints[0] = (struct gq_share_taint){gq_strdup("nvidia.com/gpu"), NULL,
					       gq_strdup("NoSchedule"), NULL};
	n->taints[1] = (struct gq_share_taint){gq_strdup("node.kubernetes.io/unschedulable"), NULL,
					       gq_strdup("NoSchedule"),
					       gq_strdup("2026-03-15T11:00:00Z")};
	n->n_taints = 2;
	set_pods(n, 1);
	pass(f, 0);
	assert_int_equal(n->n_taints, 3);
	assert_string_equal(n->taints[0].key, "nvidia.com/gpu");
	assert_null(n->taints[0].value);
	assert_string_equal(n->taints[1].time_added, "2026-03-15T11:00:00Z");
	assert_string_equal(n->taints[2].key, GQ_TAINT_POOL);
	assert_string_equal(n->taints[2].value, "ml");
	assert_string_equal(n->taints[2].effect, "NoSchedule");
	assert_string_equal(gq_share_label(n, GQ_LABEL_DP_CONFIG), "ts-4");
	assert_true(n->dp_ours);
	f->teams[0].sharing.present = false;
	p = pass(f, 1000);
	assert_false(p->active);
	assert_int_equal(p->n_nodes, 0);
	assert_null(gq_share_label(n, GQ_LABEL_POOL));
	assert_null(gq_share_pool_taint(n));
	assert_int_equal(n->n_taints, 2);
	assert_string_equal(n->taints[1].key, "node.kubernetes.io/unschedulable");
	assert_null(gq_share_label(n, GQ_LABEL_DP_CONFIG));
	assert_false(n->unschedulable);
	assert_null(n->step);
	assert_string_equal(gq_share_label(n, GQ_LABEL_MIG_CONFIG), "all-disabled");
	p = pass(f, 1000);
	assert_int_equal(p->n_patches, 0);
}

static void test_layout_already_there(void **state)
{
	struct fixture *f = *state;
	const struct gq_share_plan *p;

	set_label(&f->nodes[0], GQ_LABEL_MIG_CONFIG, "all-3g.40gb");
	p = pass(f, 0);
	assert_false(p->whole_gpus); /* MIG slices only */
	assert_int_equal(p->n_patches, 1); /* the pool label and taint only */
	assert_string_equal(gq_share_pool_taint(&f->nodes[0]), "ml");
	assert_false(f->nodes[0].unschedulable);
	assert_true(p->ready);
	p = pass(f, 1000);
	assert_int_equal(p->n_patches, 0);
	f->nodes[0].whole_gpus = true; /* a layout leaving some GPUs whole */
	p = pass(f, 1000);
	assert_true(p->whole_gpus);
}

static void test_profile_unavailable(void **state)
{
	struct fixture *f = *state;
	struct gq_share_node *n = &f->nodes[0];
	struct gq_res_list *ms = &f->teams[0].mig_slices;
	const struct gq_share_plan *p;

	ms->items = gq_calloc(1, sizeof(*ms->items));
	ms->items[0] = (struct gq_res){gq_strdup("3g.40gb"), gq_quantity_from_int(16)};
	ms->n = 1;
	set_label(n, GQ_LABEL_MIG_CONFIG, "all-3g.40gb");
	n->mig_profiles = gq_calloc(1, sizeof(char *));
	n->mig_profiles[n->n_mig_profiles++] = gq_strdup("1g.10gb");
	p = pass(f, 0);
	assert_true(p->ready);
	assert_non_null(p->degraded_msg);
	assert_non_null(strstr(p->degraded_msg, "nvidia.com/mig-3g.40gb"));
	free(n->mig_profiles[0]);
	n->mig_profiles[0] = gq_strdup("3g.40gb");
	p = pass(f, 1000);
	assert_null(p->degraded_msg);
	/* While a node reconfigures, nothing is concluded. */
	free(f->teams[0].sharing.mig_config);
	f->teams[0].sharing.mig_config = gq_strdup("all-1g.10gb");
	p = pass(f, 1000);
	assert_false(p->ready);
	assert_null(p->degraded_msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_wait_then_apply_then_uncordon, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_evict_after_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_stays_cordoned_until_spec_changes, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_stuck_pending_reapplied_then_failed, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_max_unavailable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conflict_untouched, setup, teardown),
	    cmocka_unit_test(test_slice_node),
	    cmocka_unit_test_setup_teardown(test_dra_node_left_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cordoned_by_someone_else_stays, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_restores, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_layout_already_there, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_profile_unavailable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
