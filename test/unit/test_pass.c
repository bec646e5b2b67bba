/*
 * Unit tests for pass.c, the pure planner: observations built by hand (no
 * caches, no HTTP), then the plan's writes, the status step and its
 * decisions. A small simulated apiserver (sim_apply) carries a plan's writes
 * into the observation, so that convergence itself is tested: after one
 * pass has applied its writes, the next plans none.
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
#include "json.h"
#include "pass.h"
#include "pod.h"
#include "rfc3339.h"
#include "spec.h"

#define UID		"3c9d7e21-5b1a-4f0e-8d2c-7a6b5c4d3e2f"
#define NOW		"2026-03-15T12:00:00Z"
#define H		GQ_LEDGER_MICRO_PER_HOUR
#define LEDGER_INTERVAL 10000

static yajl_val parse(const char *json)
{
	char perr[256];
	yajl_val v = yajl_tree_parse(json, perr, sizeof(perr));

	if (v == NULL)
		fail_msg("fixture does not parse: %s: %s", perr, json);
	return v;
}

/* Appends allocation json (decoded) to o->teams. */
static void add_team(struct gq_obs *o, const char *json)
{
	yajl_val v = parse(json);
	struct gq_err err = {0};

	o->teams = gq_realloc(o->teams, (o->n_teams + 1) * sizeof(*o->teams));
	memset(&o->teams[o->n_teams], 0, sizeof(*o->teams));
	if (gq_team_decode(&o->teams[o->n_teams], v, &err) != GQ_OK)
		fail_msg("team does not decode: %s", err.msg);
	o->n_teams++;
	yajl_tree_free(v);
}

/* Team "ml": namespaces ml-a and ml-b, 8 GPUs, two tiers, and the budget
 * spec fragment budget (NULL: none); with our finalizer unless bare. */
static char *team_json(const char *budget, bool finalizer, const char *extra_meta)
{
	return gq_asprintf(
	    "{\"apiVersion\":\"gpuquota.io/v1alpha1\",\"kind\":\"GPUTeamAllocation\","
	    "\"metadata\":{\"name\":\"ml\",\"uid\":\"" UID "\",\"generation\":1,"
	    "\"creationTimestamp\":\"2026-03-01T00:00:00Z\"%s%s},"
	    "\"spec\":{\"namespaces\":[\"ml-a\",\"ml-b\"],\"quota\":{\"gpus\":8},"
	    "\"priorities\":{\"tiers\":[{\"name\":\"high\",\"value\":1000},"
	    "{\"name\":\"low\",\"value\":100}],\"defaultTier\":\"low\"}%s%s}}",
	    finalizer ? ",\"finalizers\":[\"" GQ_FINALIZER "\"]" : "", extra_meta ? extra_meta : "",
	    budget ? ",\"budget\":" : "", budget ? budget : "");
}

/* Adds namespace name, labelled for team (NULL: unlabelled). */
static void add_ns(struct gq_obs *o, const char *name, const char *team)
{
	struct gq_obs_ns *n;

	o->ns = gq_realloc(o->ns, (o->n_ns + 1) * sizeof(*o->ns));
	n = &o->ns[o->n_ns++];
	memset(n, 0, sizeof(*n));
	n->name = gq_strdup(name);
	if (team) {
		n->labels.items = gq_calloc(1, sizeof(*n->labels.items));
		n->labels.items[0].key = gq_strdup(GQ_LABEL_TEAM);
		n->labels.items[0].value = gq_strdup(team);
		n->labels.n = 1;
	}
}

/* Replaces or adds the cached object (kind, key); obj owned now. */
static void put_obj(struct gq_obs *o, enum gq_obs_kind kind, const char *key, yajl_val obj)
{
	for (size_t i = 0; i < o->n_objs; i++)
		if (o->objs[i].kind == kind && strcmp(o->objs[i].key, key) == 0) {
			yajl_tree_free(o->objs[i].obj);
			o->objs[i].obj = obj;
			return;
		}
	o->objs = gq_realloc(o->objs, (o->n_objs + 1) * sizeof(*o->objs));
	o->objs[o->n_objs].kind = kind;
	o->objs[o->n_objs].key = gq_strdup(key);
	o->objs[o->n_objs].obj = obj;
	o->n_objs++;
}

/* The standard observation: team ml (budget as given) and its two
 * namespaces, not yet labelled; the leader; now NOW. */
static void obs_std(struct gq_obs *o, const char *budget)
{
	char *t = team_json(budget, true, NULL);

	memset(o, 0, sizeof(*o));
	o->name = gq_strdup("ml");
	add_team(o, t);
	free(t);
	o->self = &o->teams[0];
	o->exists = true;
	add_ns(o, "ml-a", NULL);
	add_ns(o, "ml-b", NULL);
	add_ns(o, "other", NULL);
	o->gpu_res = gq_calloc(1, sizeof(char *));
	o->gpu_res[o->n_gpu_res++] = gq_strdup("nvidia.com/gpu");
	snprintf(o->now, sizeof(o->now), "%s", NOW);
	o->lead = true;
	gq_rfc3339_parse(NOW, &o->acct_now_ms);
	o->write_interval_ms = 60000;
	if (budget)
		o->has_acct_obs = true;
}

/* Adds a GPU pod (JSON object) to the accounting observation. */
static void add_pod(struct gq_obs *o, const char *key, const char *json)
{
	yajl_val v = parse(json);

	o->acct.pods = gq_realloc(o->acct.pods, (o->acct.n_pods + 1) * sizeof(*o->acct.pods));
	gq_pod_decode(&o->acct.pods[o->acct.n_pods++], key, v);
	yajl_tree_free(v);
}

/* The namespace name's team label in o, or NULL. */
static struct gq_obs_ns *ns_of(struct gq_obs *o, const char *name)
{
	for (size_t i = 0; i < o->n_ns; i++)
		if (strcmp(o->ns[i].name, name) == 0)
			return &o->ns[i];
	return NULL;
}

/*
 * The simulated apiserver: carries the plan's applies and merge patches of
 * desired objects into the observation as the caches would show them
 * (a quota enforced at once: status.hard = spec.hard), namespace labels
 * included, and drops what is deleted.
 */
static void sim_apply(struct gq_obs *o, const struct gq_write *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *kind = gq_json_str(w[i].body, GQ_PATH("kind"));
		const char *name = gq_json_str(w[i].body, GQ_PATH("metadata", "name"));
		const char *ns = gq_json_str(w[i].body, GQ_PATH("metadata", "namespace"));
		char *key;

		if (w[i].kind == GQ_WRITE_DELETE) {
			for (size_t j = 0; j < o->n_objs; j++)
				if (strstr(w[i].path,
					   o->objs[j].key + (strchr(o->objs[j].key, '/')
								 ? strcspn(o->objs[j].key, "/") + 1
								 : 0)))
					o->objs[j].kind = (enum gq_obs_kind)99; /* gone */
			continue;
		}
		if (kind == NULL || name == NULL)
			continue;
		key = ns ? gq_asprintf("%s/%s", ns, name) : gq_strdup(name);
		if (strcmp(kind, "Namespace") == 0) {
			struct gq_obs_ns *x = ns_of(o, name);

			if (x && x->labels.n == 0) {
				x->labels.items = gq_calloc(1, sizeof(*x->labels.items));
				x->labels.items[0].key = gq_strdup(GQ_LABEL_TEAM);
				x->labels.items[0].value = gq_strdup("ml");
				x->labels.n = 1;
			}
			put_obj(o, GQ_OBS_NAMESPACE, key, gq_json_clone(w[i].body));
		} else if (strcmp(kind, "ResourceQuota") == 0) {
			char *s = gq_json_dump(w[i].body), *hard;
			yajl_val spec = gq_json_obj(w[i].body, GQ_PATH("spec", "hard"));
			char *with;

			hard = gq_json_dump(spec);
			s[strlen(s) - 1] = '\0';
			with = gq_asprintf("%s,\"status\":{\"hard\":%s,\"used\":{}}}", s, hard);
			put_obj(o, GQ_OBS_QUOTA, key, parse(with));
			free(with);
			free(hard);
			free(s);
		} else {
			put_obj(o, strcmp(kind, "LimitRange") == 0 ? GQ_OBS_LIMIT : GQ_OBS_CLASS,
				key, gq_json_clone(w[i].body));
		}
		free(key);
	}
}

/* Plans o; must succeed. */
static void plan_ok(struct gq_pass *p, const struct gq_obs *o)
{
	struct gq_err err = {0};
	int rc = gq_pass_plan(p, o, &err);

	if (rc != GQ_OK)
		fail_msg("gq_pass_plan: %s: %s", gq_strerror(rc), err.msg);
}

/* How many writes of kind have a path containing s (NULL: any; a path
 * starting with '/': exactly that path). */
static size_t count_writes(const struct gq_write *w, size_t n, enum gq_write_kind kind,
			   const char *s)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (w[i].kind == kind && (s == NULL || (s[0] == '/' ? strcmp(w[i].path, s) == 0
								    : !!strstr(w[i].path, s))))
			c++;
	return c;
}

/* The status condition type of doc, or NULL. */
static yajl_val cond_of(yajl_val doc, const char *type)
{
	yajl_val c =
	    yajl_tree_get(doc, (const char *[]){"status", "conditions", NULL}, yajl_t_array);

	for (size_t i = 0; c && i < c->u.array.len; i++) {
		const char *t = gq_json_str(c->u.array.values[i], GQ_PATH("type"));

		if (t && strcmp(t, type) == 0)
			return c->u.array.values[i];
	}
	return NULL;
}

/* Runs passes (plan, simulated writes) until one plans no write (at most
 * 4); returns how many passes wrote. */
static int converge(struct gq_obs *o)
{
	for (int i = 0; i < 4; i++) {
		struct gq_pass p;
		size_t n;

		plan_ok(&p, o);
		n = p.n_writes;
		for (size_t k = 0; getenv("PASS_DEBUG") && k < n; k++)
			fprintf(stderr, "pass %d write %zu kind %d %s\n", i, k, p.writes[k].kind,
				p.writes[k].path);
		sim_apply(o, p.writes, p.n_writes);
		gq_pass_free(&p);
		if (n == 0)
			return i;
	}
	fail_msg("no convergence in 4 passes");
	return -1;
}

/* --------------------------------------------------------------- tests */

/* A new team: its namespaces are labelled, quotas and classes applied;
 * the next pass plans no write, and its status is Ready. */
static void test_new_team_converges(void **state)
{
	struct gq_obs o;
	struct gq_pass p;
	struct gq_pass_status st;

	(void)state;
	obs_std(&o, NULL);
	plan_ok(&p, &o);
	assert_false(p.early);
	assert_int_equal(
	    count_writes(p.writes, p.n_writes, GQ_WRITE_MERGE, "/api/v1/namespaces/ml-a"), 1);
	assert_int_equal(count_writes(p.writes, p.n_writes, GQ_WRITE_MERGE, NULL), 2);
	assert_int_equal(
	    count_writes(p.writes, p.n_writes, GQ_WRITE_MERGE, "/api/v1/namespaces/other"), 0);
	assert_int_equal(count_writes(p.writes, p.n_writes, GQ_WRITE_APPLY,
				      "/api/v1/namespaces/ml-a/resourcequotas/gpuquota-ml"),
			 1);
	assert_int_equal(count_writes(p.writes, p.n_writes, GQ_WRITE_APPLY, "priorityclasses/ml-"),
			 2);
	assert_true(p.publish);
	assert_int_equal(p.adm.n_ns, 2);
	gq_pass_free(&p);
	assert_int_equal(converge(&o), 1);

	plan_ok(&p, &o);
	assert_int_equal(p.n_writes, 0);
	gq_pass_status(&st, &p, &o, &(struct gq_pass_outcome){0, 0, ""}, LEDGER_INTERVAL);
	assert_non_null(st.doc);
	assert_true(st.write); /* no status cached yet */
	assert_string_equal(gq_json_str(cond_of(st.doc, "Ready"), GQ_PATH("status")), "True");
	assert_true(st.n_events >= 1);
	assert_int_equal(st.requeue_ms, 0);
	/* The status written, the next pass writes nothing at all. */
	o.prev_status = gq_json_clone(gq_json_obj(st.doc, GQ_PATH("status")));
	gq_pass_status_free(&st);
	gq_pass_free(&p);
	plan_ok(&p, &o);
	gq_pass_status(&st, &p, &o, &(struct gq_pass_outcome){0, 0, ""}, LEDGER_INTERVAL);
	assert_int_equal(p.n_writes, 0);
	assert_false(st.write);
	assert_int_equal(st.n_events, 0);
	gq_pass_status_free(&st);
	gq_pass_free(&p);
	gq_obs_free(&o);
}

/* Without our finalizer, the first write adds it (a JSON patch, never an
 * apply); a follower plans nothing and writes no status. */
static void test_finalizer_and_follower(void **state)
{
	struct gq_obs o;
	struct gq_pass p;
	struct gq_pass_status st;
	char *t = team_json(NULL, false, NULL);

	(void)state;
	obs_std(&o, NULL);
	gq_team_free(&o.teams[0]);
	o.n_teams = 0;
	add_team(&o, t);
	o.self = &o.teams[0];
	free(t);
	plan_ok(&p, &o);
	assert_int_equal(p.writes[0].kind, GQ_WRITE_JSON_PATCH);
	assert_string_equal(p.writes[0].path, GQ_GTA_PATH "/ml");
	assert_string_equal(gq_json_str(p.writes[0].body->u.array.values[0], GQ_PATH("op")), "add");
	gq_pass_free(&p);

	o.lead = false;
	plan_ok(&p, &o);
	assert_int_equal(p.n_writes, 0);
	assert_true(p.publish); /* every replica's webhook decides */
	gq_pass_status(&st, &p, &o, &(struct gq_pass_outcome){0, 0, ""}, LEDGER_INTERVAL);
	assert_false(st.write);
	gq_pass_status_free(&st);
	gq_pass_free(&p);
	gq_obs_free(&o);
}

/* A PriorityClass of the team's name not managed by us is a conflict:
 * never written, reported in status; one of ours with another value is
 * deleted and created again. */
static void test_priority_class_conflict_and_recreate(void **state)
{
	struct gq_obs o;
	struct gq_pass p;
	struct gq_pass_status st;
	yajl_val c;

	(void)state;
	obs_std(&o, NULL);
	put_obj(&o, GQ_OBS_CLASS, "ml-high",
		parse("{\"metadata\":{\"name\":\"ml-high\"},\"value\":7}"));
	put_obj(&o, GQ_OBS_CLASS, "ml-low",
		parse("{\"metadata\":{\"name\":\"ml-low\",\"labels\":{\"" GQ_LABEL_MANAGED_BY
		      "\":\"" GQ_FIELD_MANAGER "\",\"" GQ_LABEL_TEAM "\":\"ml\"}},\"value\":5}"));
	plan_ok(&p, &o);
	assert_int_equal(count_writes(p.writes, p.n_writes, GQ_WRITE_APPLY, "ml-high"), 0);
	assert_int_equal(count_writes(p.writes, p.n_writes, GQ_WRITE_RECREATE, "ml-low"), 1);
	assert_int_equal(p.n_class_conflicts, 1);
	assert_string_equal(p.class_conflicts[0], "ml-high");
	gq_pass_status(&st, &p, &o, &(struct gq_pass_outcome){0, 0, ""}, LEDGER_INTERVAL);
	c = cond_of(st.doc, "Conflict");
	assert_non_null(c);
	assert_string_equal(gq_json_str(c, GQ_PATH("status")), "True");
	assert_non_null(strstr(gq_json_str(c, GQ_PATH("message")), "ml-high"));
	gq_pass_status_free(&st);
	gq_pass_free(&p);
	gq_obs_free(&o);
}

/* Objects labelled as ours for the team and no longer desired are deleted;
 * a namespace that left the team is released. */
static void test_stale_and_released(void **state)
{
	struct gq_obs o;
	struct gq_pass p;

	(void)state;
	obs_std(&o, NULL);
	add_ns(&o, "ml-old", "ml");
	put_obj(&o, GQ_OBS_QUOTA, "ml-old/gpuquota-ml",
		parse("{\"metadata\":{\"name\":\"gpuquota-ml\",\"namespace\":\"ml-old\","
		      "\"labels\":{\"" GQ_LABEL_MANAGED_BY "\":\"" GQ_FIELD_MANAGER
		      "\",\"" GQ_LABEL_TEAM "\":\"ml\"}}}"));
	put_obj(&o, GQ_OBS_QUOTA, "ml-old/someone-else",
		parse("{\"metadata\":{\"name\":\"someone-else\",\"namespace\":\"ml-old\","
		      "\"labels\":{\"" GQ_LABEL_TEAM "\":\"ml\"}}}"));
	plan_ok(&p, &o);
	assert_int_equal(count_writes(p.writes, p.n_writes, GQ_WRITE_DELETE,
				      "/api/v1/namespaces/ml-old/resourcequotas/gpuquota-ml"),
			 1);
	assert_int_equal(count_writes(p.writes, p.n_writes, GQ_WRITE_DELETE, "someone-else"), 0);
	assert_int_equal(
	    count_writes(p.writes, p.n_writes, GQ_WRITE_MERGE, "/api/v1/namespaces/ml-old"), 1);
	gq_pass_free(&p);
	gq_obs_free(&o);
}

/* Being deleted: the namespaces are released, then (only if that all
 * succeeded: after_ok) our finalizer removed with a test of the element. */
static void test_deleting(void **state)
{
	struct gq_obs o;
	struct gq_pass p;
	char *t = team_json(NULL, true, ",\"deletionTimestamp\":\"2026-03-15T11:00:00Z\"");

	(void)state;
	obs_std(&o, NULL);
	gq_team_free(&o.teams[0]);
	o.n_teams = 0;
	add_team(&o, t);
	free(t);
	o.self = &o.teams[0];
	ns_of(&o, "ml-a")->labels.n = 0; /* only ml-b is labelled */
	add_ns(&o, "ml-x", "ml");
	plan_ok(&p, &o);
	assert_true(p.early);
	assert_int_equal(p.n_writes, 2);
	assert_int_equal(p.writes[0].kind, GQ_WRITE_MERGE);
	assert_string_equal(p.writes[0].path, "/api/v1/namespaces/ml-x");
	assert_int_equal(p.writes[1].kind, GQ_WRITE_JSON_PATCH);
	assert_true(p.writes[1].after_ok);
	assert_string_equal(gq_json_str(p.writes[1].body->u.array.values[0], GQ_PATH("op")),
			    "test");
	gq_pass_free(&p);
	gq_obs_free(&o);
}

/* Adds node name to the pool observation, with labels (key, value pairs,
 * NULL-terminated) and optionally our cordon and step. */
static struct gq_share_node *add_node(struct gq_obs *o, const char *name, const char *const *kv)
{
	struct gq_share_node *n;

	o->share_nodes = gq_realloc(o->share_nodes, (o->n_share_nodes + 1) * sizeof(*n));
	n = &o->share_nodes[o->n_share_nodes++];
	memset(n, 0, sizeof(*n));
	n->name = gq_strdup(name);
	for (size_t i = 0; kv[i]; i += 2) {
		n->labels.items =
		    gq_realloc(n->labels.items, (n->labels.n + 1) * sizeof(*n->labels.items));
		n->labels.items[n->labels.n++] =
		    (struct gq_label){gq_strdup(kv[i]), gq_strdup(kv[i + 1])};
	}
	return n;
}

/* The pool in a pass: a node to reconfigure is cordoned (a merge patch of
 * the node, with its Event), the status lists it and SharingReady says
 * why; a follower plans the same status and writes nothing; an allocation
 * being deleted releases the node before its finalizer goes. */
static void test_sharing_in_pass(void **state)
{
	const char *const kv[] = {"pool", "a", GQ_LABEL_MIG_CONFIG, "all-disabled",
				  GQ_LABEL_MIG_STATE, "success", NULL};
	struct gq_obs o;
	struct gq_pass p;
	struct gq_pass_status st;
	char *t = team_json(NULL, true, NULL);
	char *sharing = strstr(t, "\"quota\"");
	char *json;
	size_t i;

	(void)state;
	assert_non_null(sharing);
	json = gq_asprintf("%.*s\"sharing\":{\"nodeSelector\":{\"matchLabels\":{\"pool\":\"a\"}},"
			   "\"migConfig\":\"all-3g.40gb\"},%s",
			   (int)(sharing - t), t, sharing);
	obs_std(&o, NULL);
	gq_team_free(&o.teams[0]);
	o.n_teams = 0;
	add_team(&o, json);
	o.self = &o.teams[0];
	add_node(&o, "node-a", kv);
	gq_rfc3339_parse(NOW, &o.now_ms);
	o.share_pending_timeout_ms = 600000;
	plan_ok(&p, &o);
	for (i = 0; i < p.n_writes; i++)
		if (strcmp(p.writes[i].path, "/api/v1/nodes/node-a") == 0)
			break;
	assert_true(i < p.n_writes);
	assert_int_equal(p.writes[i].kind, GQ_WRITE_MERGE);
	assert_string_equal(p.writes[i].event_reason, "Draining");
	assert_true(YAJL_IS_TRUE(gq_json_get(gq_json_get(p.writes[i].body, "spec"), "unschedulable")));
	assert_string_equal(gq_json_str(p.writes[i].body, GQ_PATH("metadata", "labels", GQ_LABEL_POOL)),
			    "ml");
	gq_pass_status(&st, &p, &o, &(struct gq_pass_outcome){0, 0, ""}, LEDGER_INTERVAL);
	assert_non_null(st.doc);
	{
		yajl_val nodes = gq_json_get(gq_json_get(st.doc, "status"), "nodes");
		yajl_val conds = gq_json_get(gq_json_get(st.doc, "status"), "conditions");
		bool found = false;

		assert_true(nodes && YAJL_IS_ARRAY(nodes) && nodes->u.array.len == 1);
		assert_string_equal(gq_json_str(nodes->u.array.values[0], GQ_PATH("phase")),
				    "Draining");
		for (size_t k = 0; conds && k < conds->u.array.len; k++)
			if (strcmp(gq_json_str(conds->u.array.values[k], GQ_PATH("type")),
				   "SharingReady") == 0) {
				found = true;
				assert_string_equal(
				    gq_json_str(conds->u.array.values[k], GQ_PATH("reason")),
				    "Reconfiguring");
			}
		assert_true(found);
		/* A new SharingReady=False is news, and a Warning (it is
		 * good news when True, like Ready). */
		found = false;
		for (size_t k = 0; k < st.n_events; k++)
			if (strcmp(st.events[k].reason, "Reconfiguring") == 0) {
				found = true;
				assert_true(st.events[k].warning);
			}
		assert_true(found);
	}
	assert_true(st.requeue_ms > 0);
	gq_pass_status_free(&st);
	gq_pass_free(&p);
	o.lead = false;
	plan_ok(&p, &o);
	assert_int_equal(p.n_writes, 0);
	assert_int_equal(p.share.n_nodes, 1);
	gq_pass_free(&p);
	gq_obs_free(&o);

	/* Being deleted: the pool node is released first. */
	free(json);
	json = team_json(NULL, true, ",\"deletionTimestamp\":\"2026-03-15T11:00:00Z\"");
	obs_std(&o, NULL);
	gq_team_free(&o.teams[0]);
	o.n_teams = 0;
	add_team(&o, json);
	o.self = &o.teams[0];
	add_node(&o, "node-a", (const char *const[]){"pool", "a", GQ_LABEL_POOL, "ml", NULL})
	    ->we_cordoned = true;
	plan_ok(&p, &o);
	assert_true(p.early);
	assert_true(p.n_writes >= 2);
	assert_string_equal(p.writes[p.n_writes - 2].path, "/api/v1/nodes/node-a");
	{
		yajl_val l = gq_json_obj(p.writes[p.n_writes - 2].body,
					 GQ_PATH("metadata", "labels"));
		yajl_val s = gq_json_obj(p.writes[p.n_writes - 2].body, GQ_PATH("spec"));

		assert_non_null(l);
		assert_string_equal(l->u.object.keys[0], GQ_LABEL_POOL);
		assert_true(YAJL_IS_NULL(l->u.object.values[0])); /* removed */
		assert_non_null(s);
		assert_string_equal(s->u.object.keys[0], "unschedulable");
		assert_true(YAJL_IS_NULL(s->u.object.values[0])); /* uncordoned */
	}
	assert_true(p.writes[p.n_writes - 1].after_ok);
	gq_pass_free(&p);
	gq_obs_free(&o);
	free(json);
	free(t);
}

/* Gone from the cache: its namespaces are released and the registry
 * forgets it; undecodable: an InvalidSpec status, once. */
static void test_gone_and_invalid(void **state)
{
	struct gq_obs o;
	struct gq_pass p;

	(void)state;
	obs_std(&o, NULL);
	o.self = NULL;
	o.exists = false;
	add_ns(&o, "ml-x", "ml");
	plan_ok(&p, &o);
	assert_true(p.early);
	assert_true(p.forget);
	assert_int_equal(count_writes(p.writes, p.n_writes, GQ_WRITE_MERGE, "ml-x"), 1);
	gq_pass_free(&p);

	o.exists = true;
	o.self_error = gq_strdup("spec.quota.gpus: must be an integer");
	plan_ok(&p, &o);
	assert_true(p.early);
	assert_false(p.forget);
	assert_int_equal(p.n_writes, 1);
	assert_string_equal(p.writes[0].path, GQ_GTA_PATH "/ml/status");
	assert_string_equal(gq_json_str(cond_of(p.writes[0].body, "Ready"), GQ_PATH("reason")),
			    "InvalidSpec");
	o.prev_status = gq_json_clone(gq_json_obj(p.writes[0].body, GQ_PATH("status")));
	gq_pass_free(&p);
	plan_ok(&p, &o);
	assert_int_equal(p.n_writes, 0); /* already reported */
	gq_pass_free(&p);
	gq_obs_free(&o);
}

#define POD_RUNNING(start)                                                                         \
	"{\"metadata\":{\"uid\":\"u-" start "\",\"finalizers\":[\"" GQ_ACCOUNTING_FINALIZER        \
	"\"],\"creationTimestamp\":\"" start "\"},\"spec\":{\"nodeName\":\"n1\",\"containers\":[{" \
	"\"resources\":{\"requests\":{\"nvidia.com/gpu\":\"1\"}}}]},\"status\":{\"phase\":"        \
	"\"Running\",\"startTime\":\"" start "\"}}"

/* A held pod is released while the budget lasts (oldest first), kept while
 * it is spent; a Deny budget spent clamps the namespaces with the budget
 * quota. */
static void test_held_release_and_deny_guard(void **state)
{
	static const char *const held =
	    "{\"metadata\":{\"uid\":\"u-held\",\"creationTimestamp\":\"2026-03-15T11:00:00Z\","
	    "\"finalizers\":[\"" GQ_ACCOUNTING_FINALIZER "\"]},\"spec\":{\"schedulingGates\":"
	    "[{\"name\":\"other\"},{\"name\":\"" GQ_BUDGET_GATE "\"}],\"containers\":[{"
	    "\"resources\":{\"requests\":{\"nvidia.com/gpu\":\"1\"}}}]},\"status\":{\"phase\":"
	    "\"Pending\"}}";
	struct gq_obs o;
	struct gq_pass p;

	(void)state;
	obs_std(&o, "{\"gpuHours\":\"100\",\"period\":\"Monthly\",\"onExhausted\":\"Hold\"}");
	add_ns(&o, "dummy", NULL);
	converge(&o);
	add_pod(&o, "ml-a/held", held);
	plan_ok(&p, &o);
	assert_true(p.has_acct);
	assert_false(p.acct.exhausted);
	assert_int_equal(count_writes(p.writes, p.n_writes, GQ_WRITE_JSON_PATCH, "pods/held"), 1);
	assert_string_equal(
	    gq_json_str(p.writes[p.n_writes - 1].body->u.array.values[0], GQ_PATH("path")),
	    "/spec/schedulingGates/1/name");
	gq_pass_free(&p);
	gq_obs_free(&o);

	/* 1 GPU-hour, spent by a pod running for two hours: held stays held. */
	obs_std(&o, "{\"gpuHours\":\"1\",\"period\":\"Monthly\",\"onExhausted\":\"Deny\"}");
	converge(&o);
	add_pod(&o, "ml-a/held", held);
	add_pod(&o, "ml-a/run", POD_RUNNING("2026-03-15T10:00:00Z"));
	plan_ok(&p, &o);
	assert_true(p.acct.exhausted);
	assert_int_equal(p.acct.ledger.used_micro, 2 * H);
	assert_int_equal(count_writes(p.writes, p.n_writes, GQ_WRITE_JSON_PATCH, "pods/held"), 0);
	assert_int_equal(count_writes(p.writes, p.n_writes, GQ_WRITE_APPLY,
				      "ml-a/resourcequotas/gpuquota-ml-budget"),
			 1);
	assert_true(p.adm.team.has_budget);
	assert_int_equal(p.adm.team.used_micro, 2 * H);
	gq_pass_free(&p);
	gq_obs_free(&o);
}

/* An ended pod's finalizer is released only once the status carrying its
 * charge is persisted: it is a write of the status step, not of the plan. */
static void test_finalizer_release_after_status(void **state)
{
	static const char *const done =
	    "{\"metadata\":{\"uid\":\"u-done\",\"finalizers\":[\"x\",\"" GQ_ACCOUNTING_FINALIZER
	    "\"]},\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"resources\":{\"limits\":{"
	    "\"nvidia.com/gpu\":\"2\"}}}]},\"status\":{\"phase\":\"Succeeded\",\"startTime\":"
	    "\"2026-03-15T10:00:00Z\",\"containerStatuses\":[{\"state\":{\"terminated\":{"
	    "\"finishedAt\":\"2026-03-15T11:00:00Z\"}}}]}}";
	struct gq_obs o;
	struct gq_pass p;
	struct gq_pass_status st;

	(void)state;
	obs_std(&o, "{\"gpuHours\":\"100\",\"period\":\"Monthly\",\"onExhausted\":\"Hold\"}");
	converge(&o);
	add_pod(&o, "ml-b/done", done);
	plan_ok(&p, &o);
	assert_int_equal(count_writes(p.writes, p.n_writes, GQ_WRITE_JSON_PATCH, "pods/done"), 0);
	assert_int_equal(p.acct.ledger.used_micro, 2 * H);
	gq_pass_status(&st, &p, &o, &(struct gq_pass_outcome){0, 0, ""}, LEDGER_INTERVAL);
	assert_true(st.write);
	assert_int_equal(st.n_after, 1);
	assert_string_equal(st.after[0].path, "/api/v1/namespaces/ml-b/pods/done");
	assert_string_equal(gq_json_str(st.after[0].body->u.array.values[0], GQ_PATH("path")),
			    "/metadata/finalizers/1");
	assert_int_equal(st.requeue_ms, LEDGER_INTERVAL);
	assert_true(st.figures.has_budget);
	assert_int_equal(st.figures.used_micro, 2 * H);
	gq_pass_status_free(&st);
	gq_pass_free(&p);
	gq_obs_free(&o);
}

/* A failed write of the plan is reported in the status (Ready False with
 * the first error) instead of waiting for the watches. */
static void test_write_error_in_status(void **state)
{
	struct gq_obs o;
	struct gq_pass p;
	struct gq_pass_status st;
	yajl_val r;

	(void)state;
	obs_std(&o, NULL);
	converge(&o);
	plan_ok(&p, &o);
	gq_pass_status(&st, &p, &o,
		       &(struct gq_pass_outcome){3, 1, "/api/v1/namespaces/ml-a: forbidden"},
		       LEDGER_INTERVAL);
	r = cond_of(st.doc, "Ready");
	assert_string_equal(gq_json_str(r, GQ_PATH("status")), "False");
	assert_string_equal(gq_json_str(r, GQ_PATH("message")),
			    "some objects could not be applied");
	r = cond_of(st.doc, "Degraded");
	assert_string_equal(gq_json_str(r, GQ_PATH("status")), "True");
	assert_non_null(strstr(gq_json_str(r, GQ_PATH("message")), "forbidden"));
	gq_pass_status_free(&st);
	gq_pass_free(&p);
	gq_obs_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_team_converges),
	    cmocka_unit_test(test_finalizer_and_follower),
	    cmocka_unit_test(test_priority_class_conflict_and_recreate),
	    cmocka_unit_test(test_stale_and_released),
	    cmocka_unit_test(test_deleting),
	    cmocka_unit_test(test_sharing_in_pass),
	    cmocka_unit_test(test_gone_and_invalid),
	    cmocka_unit_test(test_held_release_and_deny_guard),
	    cmocka_unit_test(test_finalizer_release_after_status),
	    cmocka_unit_test(test_write_error_in_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
