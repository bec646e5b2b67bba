/*
 * desired.c - the objects a team's spec turns into, as server-side apply
 * bodies.
 *
 * Everything here is a pure function of its inputs. Bodies are built as
 * trees by the JSON writer (jsonw.h, tree mode) in a fixed key order,
 * quantities in their canonical form, and without empty lists or maps, so
 * that re-applying an unchanged object is a no-op for the apiserver (no
 * resourceVersion bump, no watch event).
 */
#include "desired.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jsonw.h"
#include "sharing.h"

#define RQ_GPU	    "requests.nvidia.com/gpu"
#define RQ_NVIDIA   "requests.nvidia.com/"
#define NVIDIA	    GQ_NVIDIA_PREFIX
#define NAME_PREFIX "gpuquota-"

/* A key, then a map of resource name -> canonical quantity. */
static void jw_res_map(struct gq_jw *w, const char *key, const struct gq_res_list *l)
{
	char q[GQ_QUANTITY_STRLEN];
	size_t i;

	gq_jw_str(w, key);
	gq_jw_map_open(w);
	for (i = 0; i < l->n; i++) {
		gq_quantity_format(&l->items[i].q, q);
		gq_jw_kv(w, l->items[i].name, q);
	}
	gq_jw_map_close(w);
}

/* Finishes a tree-mode writer: the document's tree in *out (caller frees
 * with yajl_tree_free), or GQ_EINVAL when any writer call failed. */
static int jw_finish(struct gq_jw *w, yajl_val *out, struct gq_err *err)
{
	*out = gq_jw_finish_tree(w);
	return *out != NULL ? GQ_OK : gq_err_set(err, GQ_EINVAL, "desired: JSON generation failed");
}

/*
 * Writes "metadata": name, namespace (ns != NULL), the managed-by and team
 * labels, and a controller owner reference to the allocation when the team
 * has a uid.
 */
static void jw_meta(struct gq_jw *w, const struct gq_team *t, const char *name, const char *ns)
{
	gq_jw_str(w, "metadata");
	gq_jw_map_open(w);
	gq_jw_kv(w, "name", name);
	if (ns != NULL)
		gq_jw_kv(w, "namespace", ns);
	gq_jw_str(w, "labels");
	gq_jw_map_open(w);
	gq_jw_kv(w, GQ_LABEL_MANAGED_BY, GQ_FIELD_MANAGER);
	gq_jw_kv(w, GQ_LABEL_TEAM, t->name);
	gq_jw_map_close(w);
	if (t->uid != NULL && t->uid[0] != '\0') {
		gq_jw_str(w, "ownerReferences");
		gq_jw_array_open(w);
		gq_jw_map_open(w);
		gq_jw_kv(w, "apiVersion", GQ_API_VERSION);
		gq_jw_kv(w, "kind", GQ_KIND);
		gq_jw_kv(w, "name", t->name);
		gq_jw_kv(w, "uid", t->uid);
		gq_jw_str(w, "controller");
		gq_jw_bool(w, true);
		gq_jw_map_close(w);
		gq_jw_array_close(w);
	}
	gq_jw_map_close(w);
}

/* ------------------------------------------------------------------ */
/* Resource lists                                                       */
/* ------------------------------------------------------------------ */

static int res_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gq_res *)a)->name, ((const struct gq_res *)b)->name);
}

static bool res_has(const struct gq_res *items, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(items[i].name, name) == 0)
			return true;
	return false;
}

/* Whether a node resource name is an NVIDIA extended resource we can quota:
 * "nvidia.com/" followed by a qualified-name part. */
static bool nvidia_resource(const char *s)
{
	size_t i, n;

	if (strncmp(s, NVIDIA, strlen(NVIDIA)) != 0)
		return false;
	s += strlen(NVIDIA);
	n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && ((i == 0 || i == n - 1) || (c != '-' && c != '_' && c != '.')))
			return false;
	}
	return true;
}

/* Appends (owned_name, q) to l, whose items array has room; takes owned_name. */
static void res_push(struct gq_res_list *l, char *owned_name, struct gq_quantity q)
{
	l->items[l->n].name = owned_name;
	l->items[l->n].q = q;
	l->n++;
}

/*
 * Totals: requests.nvidia.com/gpu first, then the other GPU resources
 * (granted MIG slices and ungranted node GPU resources at 0) sorted, then
 * the pass-through resources sorted.
 */
int gq_quota_totals(struct gq_res_list *out, const struct gq_team *t,
		    const char *const *gpu_resources, size_t n_gpu_resources, struct gq_err *err)
{
	struct gq_res_list l = {0};
	size_t i, cap, first_gpu, first_pass;
	char *name;

	(void)err;
	cap = 1 + t->mig_slices.n + n_gpu_resources + t->resources.n;
	l.items = gq_calloc(cap, sizeof(*l.items));
	res_push(&l, gq_strdup(RQ_GPU), gq_quantity_from_int(t->has_gpus ? t->gpus : 0));
	first_gpu = l.n;
	for (i = 0; i < t->mig_slices.n; i++)
		res_push(&l, gq_asprintf(RQ_NVIDIA "mig-%s", t->mig_slices.items[i].name),
			 t->mig_slices.items[i].q);
	for (i = 0; i < n_gpu_resources; i++) {
		if (gpu_resources[i] == NULL || !nvidia_resource(gpu_resources[i]))
			continue;
		name = gq_asprintf("requests.%s", gpu_resources[i]);
		if (res_has(l.items, l.n, name)) {
			free(name);
			continue;
		}
		res_push(&l, name, gq_quantity_from_int(0));
	}
	qsort(l.items + first_gpu, l.n - first_gpu, sizeof(*l.items), res_cmp);
	first_pass = l.n;
	for (i = 0; i < t->resources.n; i++)
		res_push(&l, gq_strdup(t->resources.items[i].name), t->resources.items[i].q);
	qsort(l.items + first_pass, l.n - first_pass, sizeof(*l.items), res_cmp);
	*out = l;
	return GQ_OK;
}

/* used_i(R), clamped at 0 (absent = 0). */
static struct gq_quantity used_of(const struct gq_ns_usage *u, const char *name)
{
	const struct gq_res *r = gq_res_list_find(&u->used, name);
	struct gq_quantity q = gq_quantity_from_int(0);

	if (r != NULL && r->q.milli > 0)
		q = r->q;
	return q;
}

/*
 * hard_i(R) = used_i(R) + max(0, total(R) - sum_j used_j(R)), computed with
 * exact milli arithmetic and printed in the total's format. On failure
 * (GQ_ERANGE on overflow) every hard_out[i] is left empty.
 */
int gq_quota_split(struct gq_res_list *hard_out, const struct gq_res_list *totals,
		   const struct gq_ns_usage *usage, size_t n_ns, struct gq_err *err)
{
	struct gq_quantity sum, rem, u, h;
	size_t i, r;
	int rc = GQ_OK;

	for (i = 0; i < n_ns; i++) {
		hard_out[i].items = gq_calloc(totals->n ? totals->n : 1, sizeof(struct gq_res));
		hard_out[i].n = 0;
	}
	for (r = 0; r < totals->n; r++) {
		const struct gq_res *tot = &totals->items[r];

		sum = tot->q;
		sum.milli = 0;
		for (i = 0; i < n_ns; i++) {
			u = used_of(&usage[i], tot->name);
			rc = gq_quantity_add(&sum, &sum, &u);
			if (rc != GQ_OK)
				goto range;
		}
		rc = gq_quantity_sub(&rem, &tot->q, &sum);
		if (rc != GQ_OK)
			goto range;
		if (rem.milli < 0)
			rem.milli = 0;
		for (i = 0; i < n_ns; i++) {
			u = used_of(&usage[i], tot->name);
			rc = gq_quantity_add(&h, &rem, &u);
			if (rc != GQ_OK)
				goto range;
			res_push(&hard_out[i], gq_strdup(tot->name), h);
		}
	}
	return GQ_OK;
range:
	for (i = 0; i < n_ns; i++)
		gq_res_list_free(&hard_out[i]);
	return gq_err_set(err, GQ_ERANGE, "quota %s: usage sum out of range",
			  totals->items[r].name);
}

/* ------------------------------------------------------------------ */
/* Objects                                                              */
/* ------------------------------------------------------------------ */

void gq_desired_list_free(struct gq_desired_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->items[i].kind);
		free(l->items[i].ns);
		free(l->items[i].name);
		free(l->items[i].path);
		yajl_tree_free(l->items[i].tree);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

/*
 * Appends an object: kind/ns/name are copied, path and tree are taken in
 * every case. GQ_EINVAL (nothing appended) when there is no tree (its
 * writer failed). A tree-mode writer's tree can always be written out
 * (jsonw.h), which the executor does once, for the request.
 */
static int desired_push(struct gq_desired_list *l, size_t *cap, const char *kind, const char *ns,
			const char *name, char *path, yajl_val tree, struct gq_err *err)
{
	struct gq_desired *d;

	if (tree == NULL) {
		free(path);
		return gq_err_set(err, GQ_EINVAL, "desired: JSON generation failed");
	}
	if (l->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		l->items = gq_realloc(l->items, *cap * sizeof(*l->items));
	}
	d = &l->items[l->n++];
	d->kind = gq_strdup(kind);
	d->ns = gq_strdup(ns);
	d->name = gq_strdup(name);
	d->path = path;
	d->tree = tree;
	return GQ_OK;
}

/* PriorityClass <team>-<tier>; *body is a new tree. */
static int body_priority_class(yajl_val *body, const struct gq_team *t, const struct gq_tier *tier,
			       const char *name, struct gq_err *err)
{
	struct gq_jw w;
	char *desc;

	gq_jw_init_tree(&w);
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "apiVersion", "scheduling.k8s.io/v1");
	gq_jw_kv(&w, "kind", "PriorityClass");
	jw_meta(&w, t, name, NULL);
	gq_jw_str(&w, "value");
	gq_jw_int(&w, tier->value);
	if (tier->preemption_policy != NULL)
		gq_jw_kv(&w, "preemptionPolicy", tier->preemption_policy);
	gq_jw_str(&w, "globalDefault");
	gq_jw_bool(&w, false);
	desc = gq_asprintf("gpuquota: tier %s of team %s", tier->name, t->name);
	gq_jw_kv(&w, "description", desc);
	free(desc);
	gq_jw_map_close(&w);
	return jw_finish(&w, body, err);
}

int32_t gq_team_over_budget_value(const struct gq_team *t)
{
	int64_t min = 0;

	for (size_t i = 0; i < t->n_tiers; i++)
		if (t->tiers[i].value < min)
			min = t->tiers[i].value;
	return (int32_t)(min > INT32_MIN ? min - 1 : INT32_MIN);
}

char *gq_team_over_budget_class(const struct gq_team *t)
{
	return gq_asprintf("%s-over-budget", t->name);
}

bool gq_team_has_over_budget_class(const struct gq_team *t)
{
	return t->budget.present && t->budget.on_exhausted == GQ_EXHAUSTED_DEPRIORITIZE;
}

/* PriorityClass <team>-over-budget for Deprioritize: below every tier and
 * below pods without a class, never preempting. */
static int body_over_budget_class(yajl_val *body, const struct gq_team *t, const char *name,
				  struct gq_err *err)
{
	struct gq_jw w;
	char *desc;

	gq_jw_init_tree(&w);
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "apiVersion", "scheduling.k8s.io/v1");
	gq_jw_kv(&w, "kind", "PriorityClass");
	jw_meta(&w, t, name, NULL);
	gq_jw_str(&w, "value");
	gq_jw_int(&w, gq_team_over_budget_value(t));
	gq_jw_kv(&w, "preemptionPolicy", "Never");
	gq_jw_str(&w, "globalDefault");
	gq_jw_bool(&w, false);
	desc = gq_asprintf("gpuquota: GPU pods of team %s admitted over budget", t->name);
	gq_jw_kv(&w, "description", desc);
	free(desc);
	gq_jw_map_close(&w);
	return jw_finish(&w, body, err);
}

/* Namespace NS carrying only our labels (we do not own namespaces): the
 * team's, and the MIG layout of the team's pool (spec.sharing.migConfig),
 * null -- removed -- when the team has none. */
static int body_namespace(yajl_val *body, const struct gq_team *t, const char *ns,
			  struct gq_err *err)
{
	struct gq_jw w;

	gq_jw_init_tree(&w);
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "apiVersion", "v1");
	gq_jw_kv(&w, "kind", "Namespace");
	gq_jw_str(&w, "metadata");
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "name", ns);
	gq_jw_str(&w, "labels");
	gq_jw_map_open(&w);
	gq_jw_kv(&w, GQ_LABEL_TEAM, t->name);
	gq_jw_str(&w, GQ_LABEL_NS_MIG_CONFIG);
	if (t->sharing.present && t->sharing.mig_config)
		gq_jw_str(&w, t->sharing.mig_config);
	else
		gq_jw_null(&w);
	gq_jw_map_close(&w);
	gq_jw_map_close(&w);
	gq_jw_map_close(&w);
	return jw_finish(&w, body, err);
}

/* ResourceQuota gpuquota-<team> with the namespace's share as hard. */
static int body_quota(yajl_val *body, const struct gq_team *t, const char *ns, const char *name,
		      const struct gq_res_list *hard, struct gq_err *err)
{
	struct gq_jw w;

	gq_jw_init_tree(&w);
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "apiVersion", "v1");
	gq_jw_kv(&w, "kind", "ResourceQuota");
	jw_meta(&w, t, name, ns);
	gq_jw_str(&w, "spec");
	gq_jw_map_open(&w);
	jw_res_map(&w, "hard", hard);
	gq_jw_map_close(&w);
	gq_jw_map_close(&w);
	return jw_finish(&w, body, err);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * A ResourceQuota allowing no GPU resource (every requests.nvidia.com/...
 * key of totals at "0") to pods whose PriorityClass is NOT one of
 * classes[] (sorted here); with no classes it applies to every pod.
 */
static int body_zero_gpu_quota(yajl_val *body, const struct gq_team *t, const char *ns,
			       const char *name, const struct gq_res_list *totals, char **classes,
			       size_t n_classes, struct gq_err *err)
{
	struct gq_jw w;
	size_t i;

	qsort(classes, n_classes, sizeof(*classes), str_cmp);
	gq_jw_init_tree(&w);
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "apiVersion", "v1");
	gq_jw_kv(&w, "kind", "ResourceQuota");
	jw_meta(&w, t, name, ns);
	gq_jw_str(&w, "spec");
	gq_jw_map_open(&w);
	gq_jw_str(&w, "hard");
	gq_jw_map_open(&w);
	for (i = 0; i < totals->n; i++)
		if (strncmp(totals->items[i].name, RQ_NVIDIA, strlen(RQ_NVIDIA)) == 0)
			gq_jw_kv(&w, totals->items[i].name, "0");
	gq_jw_map_close(&w);
	if (n_classes > 0) {
		gq_jw_str(&w, "scopeSelector");
		gq_jw_map_open(&w);
		gq_jw_str(&w, "matchExpressions");
		gq_jw_array_open(&w);
		gq_jw_map_open(&w);
		gq_jw_kv(&w, "scopeName", "PriorityClass");
		gq_jw_kv(&w, "operator", "NotIn");
		gq_jw_str(&w, "values");
		gq_jw_array_open(&w);
		for (i = 0; i < n_classes; i++)
			gq_jw_str(&w, classes[i]);
		gq_jw_array_close(&w);
		gq_jw_map_close(&w);
		gq_jw_array_close(&w);
		gq_jw_map_close(&w);
	}
	gq_jw_map_close(&w);
	gq_jw_map_close(&w);
	return jw_finish(&w, body, err);
}

/* ResourceQuota <prefix><team>-priority: GPU resources at 0 for pods whose
 * PriorityClass is not one of the team's tiers (or its over-budget class). */
static int body_priority_quota(yajl_val *body, const struct gq_team *t, const char *ns,
			       const char *name, const struct gq_res_list *totals,
			       struct gq_err *err)
{
	char **classes = gq_calloc(t->n_tiers + 1, sizeof(*classes));
	size_t i, n = 0;
	int rc;

	for (i = 0; i < t->n_tiers; i++)
		classes[n++] = gq_team_priority_class_name(t, t->tiers[i].name);
	if (gq_team_has_over_budget_class(t))
		classes[n++] = gq_team_over_budget_class(t);
	rc = body_zero_gpu_quota(body, t, ns, name, totals, classes, n, err);
	for (i = 0; i < n; i++)
		free(classes[i]);
	free(classes);
	return rc;
}

/* ResourceQuota <prefix><team>-budget, present while a Deny team's budget is
 * spent: GPU resources at 0 for every pod outside the exempt tiers. It keeps
 * Deny enforced by the apiserver itself when the webhook is unreachable. */
static int body_budget_quota(yajl_val *body, const struct gq_team *t, const char *ns,
			     const char *name, const struct gq_res_list *totals, struct gq_err *err)
{
	char **classes = gq_calloc(t->budget.n_exempt_tiers + 1, sizeof(*classes));
	size_t i, n = 0;
	int rc;

	for (i = 0; i < t->budget.n_exempt_tiers; i++)
		classes[n++] = gq_team_priority_class_name(t, t->budget.exempt_tiers[i]);
	rc = body_zero_gpu_quota(body, t, ns, name, totals, classes, n, err);
	for (i = 0; i < n; i++)
		free(classes[i]);
	free(classes);
	return rc;
}

/* LimitRange gpuquota-<team> with the container defaults (some non-empty). */
static int body_limit_range(yajl_val *body, const struct gq_team *t, const char *ns,
			    const char *name, struct gq_err *err)
{
	struct gq_jw w;
	struct gq_res_list req = {0};
	int rc;

	/* The apiserver defaults defaultRequest from default for each resource
	 * that has no defaultRequest; send what it will store, so that the
	 * stored object matches ours and a re-apply is a no-op. Names borrowed. */
	req.items = gq_calloc(t->container_default_request.n + t->container_default.n + 1,
			      sizeof(*req.items));
	for (size_t i = 0; i < t->container_default_request.n; i++)
		req.items[req.n++] = t->container_default_request.items[i];
	for (size_t i = 0; i < t->container_default.n; i++)
		if (!gq_res_list_find(&t->container_default_request,
				      t->container_default.items[i].name))
			req.items[req.n++] = t->container_default.items[i];

	gq_jw_init_tree(&w);
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "apiVersion", "v1");
	gq_jw_kv(&w, "kind", "LimitRange");
	jw_meta(&w, t, name, ns);
	gq_jw_str(&w, "spec");
	gq_jw_map_open(&w);
	gq_jw_str(&w, "limits");
	gq_jw_array_open(&w);
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "type", "Container");
	if (t->container_default.n > 0)
		jw_res_map(&w, "default", &t->container_default);
	if (req.n > 0)
		jw_res_map(&w, "defaultRequest", &req);
	gq_jw_map_close(&w);
	gq_jw_array_close(&w);
	gq_jw_map_close(&w);
	gq_jw_map_close(&w);
	rc = jw_finish(&w, body, err);
	free(req.items);
	return rc;
}

/* A DNS-1123 label (namespace names end up in API paths). */
static bool ns_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* The objects of one namespace (index i): Namespace, quotas, LimitRange. */
static int build_ns(struct gq_desired_list *l, size_t *cap, const struct gq_team *t, const char *ns,
		    const struct gq_res_list *hard, const struct gq_res_list *totals, bool guard,
		    struct gq_err *err)
{
	yajl_val body = NULL;
	char *name;
	int rc;

	rc = body_namespace(&body, t, ns, err);
	if (rc == GQ_OK)
		rc = desired_push(l, cap, "Namespace", "", ns,
				  gq_asprintf("/api/v1/namespaces/%s", ns), body, err);
	if (rc != GQ_OK)
		return rc;

	name = gq_asprintf(NAME_PREFIX "%s", t->name);
	rc = body_quota(&body, t, ns, name, hard, err);
	if (rc == GQ_OK)
		rc = desired_push(l, cap, "ResourceQuota", ns, name,
				  gq_asprintf("/api/v1/namespaces/%s/resourcequotas/%s", ns, name),
				  body, err);
	free(name);
	if (rc != GQ_OK)
		return rc;

	if (t->n_tiers > 0) {
		name = gq_asprintf(NAME_PREFIX "%s-priority", t->name);
		rc = body_priority_quota(&body, t, ns, name, totals, err);
		if (rc == GQ_OK)
			rc = desired_push(
			    l, cap, "ResourceQuota", ns, name,
			    gq_asprintf("/api/v1/namespaces/%s/resourcequotas/%s", ns, name), body,
			    err);
		free(name);
		if (rc != GQ_OK)
			return rc;
	}

	if (guard) {
		name = gq_asprintf(NAME_PREFIX "%s-budget", t->name);
		rc = body_budget_quota(&body, t, ns, name, totals, err);
		if (rc == GQ_OK)
			rc = desired_push(
			    l, cap, "ResourceQuota", ns, name,
			    gq_asprintf("/api/v1/namespaces/%s/resourcequotas/%s", ns, name), body,
			    err);
		free(name);
		if (rc != GQ_OK)
			return rc;
	}

	if (t->container_default.n > 0 || t->container_default_request.n > 0) {
		name = gq_asprintf(NAME_PREFIX "%s", t->name);
		rc = body_limit_range(&body, t, ns, name, err);
		if (rc == GQ_OK)
			rc = desired_push(
			    l, cap, "LimitRange", ns, name,
			    gq_asprintf("/api/v1/namespaces/%s/limitranges/%s", ns, name), body,
			    err);
		free(name);
	}
	return rc;
}

/*
 * Order: the team's PriorityClasses (in tier order), then for each
 * namespace in usage[] order its Namespace label, ResourceQuota, priority
 * ResourceQuota and LimitRange. On failure *out is untouched.
 */
static int desired_build(struct gq_desired_list *out, const struct gq_team *t,
			 const struct gq_ns_usage *usage, size_t n_ns,
			 const char *const *gpu_resources, size_t n_gpu_resources, bool clamp,
			 struct gq_err *err);

int gq_desired_build(struct gq_desired_list *out, const struct gq_team *t,
		     const struct gq_ns_usage *usage, size_t n_ns, const char *const *gpu_resources,
		     size_t n_gpu_resources, struct gq_err *err)
{
	return desired_build(out, t, usage, n_ns, gpu_resources, n_gpu_resources, false, err);
}

int gq_desired_build_clamped(struct gq_desired_list *out, const struct gq_team *t,
			     const struct gq_ns_usage *usage, size_t n_ns,
			     const char *const *gpu_resources, size_t n_gpu_resources,
			     struct gq_err *err)
{
	return desired_build(out, t, usage, n_ns, gpu_resources, n_gpu_resources, true, err);
}

static int desired_build(struct gq_desired_list *out, const struct gq_team *t,
			 const struct gq_ns_usage *usage, size_t n_ns,
			 const char *const *gpu_resources, size_t n_gpu_resources, bool clamp,
			 struct gq_err *err)
{
	struct gq_desired_list l = {0};
	struct gq_res_list totals = {0};
	struct gq_res_list *hard = NULL;
	size_t cap = 0, i;
	yajl_val body = NULL;
	char *name;
	int rc;

	if (t->name == NULL)
		return gq_err_set(err, GQ_EINVAL, "desired: team has no name");
	for (i = 0; i < n_ns; i++)
		if (usage[i].ns == NULL || !ns_name_ok(usage[i].ns))
			return gq_err_set(err, GQ_EINVAL, "desired: invalid namespace name \"%s\"",
					  usage[i].ns ? usage[i].ns : "(null)");
	rc = gq_quota_totals(&totals, t, gpu_resources, n_gpu_resources, err);
	if (rc != GQ_OK)
		return rc;
	hard = gq_calloc(n_ns ? n_ns : 1, sizeof(*hard));
	rc = gq_quota_split(hard, &totals, usage, n_ns, err);
	if (rc != GQ_OK)
		goto out;
	for (i = 0; i < t->n_tiers; i++) {
		name = gq_team_priority_class_name(t, t->tiers[i].name);
		rc = body_priority_class(&body, t, &t->tiers[i], name, err);
		if (rc == GQ_OK)
			rc = desired_push(&l, &cap, "PriorityClass", "", name,
					  gq_asprintf(GQ_PRIORITY_CLASS_PATH "/%s", name), body,
					  err);
		free(name);
		if (rc != GQ_OK)
			goto out;
	}
	if (gq_team_has_over_budget_class(t)) {
		name = gq_team_over_budget_class(t);
		rc = body_over_budget_class(&body, t, name, err);
		if (rc == GQ_OK)
			rc = desired_push(&l, &cap, "PriorityClass", "", name,
					  gq_asprintf(GQ_PRIORITY_CLASS_PATH "/%s", name), body,
					  err);
		free(name);
		if (rc != GQ_OK)
			goto out;
	}
	for (i = 0; i < n_ns; i++) {
		rc = build_ns(&l, &cap, t, usage[i].ns, &hard[i], &totals, clamp, err);
		if (rc != GQ_OK)
			goto out;
	}
	*out = l;
	l.items = NULL;
	l.n = 0;
out:
	gq_desired_list_free(&l);
	for (i = 0; i < n_ns; i++)
		gq_res_list_free(&hard[i]);
	free(hard);
	gq_res_list_free(&totals);
	return rc;
}
