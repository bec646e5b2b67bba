/*
 * plan.c - pure reconcile decisions: namespace ownership, the status
 * document, and the "already applied?" comparison.
 */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jsonw.h"
#include "quantity.h"
#include "rfc3339.h"

/* ---------------------------------------------------------------- helpers */

const char *gq_ns_state_name(enum gq_ns_state s)
{
	switch (s) {
	case GQ_NS_READY: return "Ready";
	case GQ_NS_PENDING: return "Pending";
	case GQ_NS_MISSING: return "Missing";
	case GQ_NS_CONFLICT: return "Conflict";
	case GQ_NS_TERMINATING: return "Terminating";
	}
	return "Unknown";
}

/* ------------------------------------------------------------- namespaces */

static bool team_claims(const struct gq_team *t, const struct gq_ns_info *ns)
{
	for (size_t i = 0; i < t->n_namespaces; i++)
		if (strcmp(t->namespaces[i], ns->name) == 0)
			return true;
	return t->namespace_selector.present &&
	       gq_selector_matches(&t->namespace_selector, &ns->labels);
}

/* Whether a precedes b in claiming order: older creationTimestamp first
 * (RFC 3339 UTC strings order lexically), then name. */
static bool team_before(const struct gq_team *a, const struct gq_team *b)
{
	const char *ca = a->creation_timestamp ? a->creation_timestamp : "";
	const char *cb = b->creation_timestamp ? b->creation_timestamp : "";
	int c = strcmp(ca, cb);

	if (c != 0)
		return c < 0;
	return strcmp(a->name, b->name) < 0;
}

static int plan_ns_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gq_plan_ns *)a)->name, ((const struct gq_plan_ns *)b)->name);
}

static void plan_push(struct gq_plan *p, const char *name, enum gq_ns_state st, char *msg)
{
	p->ns = gq_realloc(p->ns, (p->n + 1) * sizeof(*p->ns));
	p->ns[p->n].name = gq_strdup(name);
	p->ns[p->n].state = st;
	p->ns[p->n].message = msg;
	p->n++;
}

int gq_plan_namespaces(struct gq_plan *out, const struct gq_team *t, const struct gq_team *all,
		       size_t n_all, const struct gq_ns_info *ns, size_t n_ns)
{
	struct gq_plan p = {0};

	for (size_t i = 0; i < n_ns; i++) {
		const struct gq_team *owner = NULL;

		if (!team_claims(t, &ns[i]))
			continue;
		if (ns[i].terminating) {
			plan_push(&p, ns[i].name, GQ_NS_TERMINATING,
				  gq_strdup("namespace is being deleted"));
			continue;
		}
		for (size_t j = 0; j < n_all; j++) {
			if (strcmp(all[j].name, t->name) == 0 || all[j].deleting)
				continue;
			if (team_claims(&all[j], &ns[i]) && team_before(&all[j], t) &&
			    (owner == NULL || team_before(&all[j], owner)))
				owner = &all[j];
		}
		if (owner)
			plan_push(
			    &p, ns[i].name, GQ_NS_CONFLICT,
			    gq_asprintf("namespace is already claimed by GPUTeamAllocation %s",
					owner->name));
		else
			plan_push(&p, ns[i].name, GQ_NS_READY, NULL);
	}
	for (size_t k = 0; k < t->n_namespaces; k++) {
		bool found = false;

		for (size_t i = 0; i < n_ns && !found; i++)
			found = strcmp(ns[i].name, t->namespaces[k]) == 0;
		if (!found)
			plan_push(&p, t->namespaces[k], GQ_NS_MISSING,
				  gq_strdup("namespace does not exist (yet); it is picked up as "
					    "soon as it is created"));
	}
	if (p.n > 1)
		qsort(p.ns, p.n, sizeof(*p.ns), plan_ns_cmp);
	*out = p;
	return GQ_OK;
}

void gq_plan_free(struct gq_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->ns[i].name);
		free(p->ns[i].message);
	}
	free(p->ns);
	p->ns = NULL;
	p->n = 0;
}

/* ----------------------------------------------------------------- status */

/* Number of string members of object m (0 for NULL or non-objects). */
static size_t count_strings(yajl_val m)
{
	size_t n = 0;

	for (size_t i = 0; m && YAJL_IS_OBJECT(m) && i < m->u.object.len; i++)
		if (YAJL_IS_STRING(m->u.object.values[i]))
			n++;
	return n;
}

/* Emits a string map, canonicalising quantity values. */
static void gen_qmap(struct gq_jw *w, yajl_val m)
{
	gq_jw_map_open(w);
	for (size_t i = 0; m && YAJL_IS_OBJECT(m) && i < m->u.object.len; i++) {
		yajl_val v = m->u.object.values[i];
		struct gq_quantity q;
		char buf[GQ_QUANTITY_STRLEN];

		if (!YAJL_IS_STRING(v))
			continue;
		gq_jw_str(w, m->u.object.keys[i]);
		if (gq_quantity_parse(&q, YAJL_GET_STRING(v)) == GQ_OK) {
			gq_quantity_format(&q, buf);
			gq_jw_str(w, buf);
		} else {
			gq_jw_str(w, YAJL_GET_STRING(v));
		}
	}
	gq_jw_map_close(w);
}

/* Sum of one resource over the namespaces' status maps (which: 0 hard, 1 used). */
static struct gq_quantity status_sum(const struct gq_status_in *in, const char *res, int which,
				     bool *any)
{
	struct gq_quantity sum = gq_quantity_from_int(0), q;

	*any = false;
	for (size_t i = 0; i < in->n_ns; i++) {
		yajl_val m = which ? in->ns[i].used : in->ns[i].hard;
		const char *v = gq_json_str(m, GQ_PATH(res));

		if (v && gq_quantity_parse(&q, v) == GQ_OK) {
			if (!*any)
				sum.format = q.format;
			*any = true;
			gq_quantity_add(&sum, &sum, &q);
		}
	}
	return sum;
}

static void gen_time(struct gq_jw *w, const char *key, int64_t ms)
{
	char t[GQ_RFC3339_STRLEN];

	if (gq_rfc3339_format_ms(ms, t) == GQ_OK)
		gq_jw_kv(w, key, t);
}

/* gpuHours (printer column), usage and history of a team with a budget. */
static void gen_budget(struct gq_jw *w, const struct gq_status_budget *b)
{
	const struct gq_ledger *l = b->ledger;
	char used[GQ_LEDGER_HOURS_STRLEN], budget[GQ_LEDGER_HOURS_STRLEN];
	char left[GQ_LEDGER_HOURS_STRLEN], *col;

	gq_ledger_format_hours(l->used_micro, used);
	gq_ledger_format_hours(b->budget_micro, budget);
	gq_ledger_format_hours(gq_ledger_remaining(l, b->budget_micro), left);
	col = gq_asprintf("%s/%s", used, budget);
	gq_jw_kv(w, "gpuHours", col);
	free(col);
	gq_jw_str(w, "usage");
	gq_jw_map_open(w);
	gq_jw_kv(w, "usedGPUHours", used);
	gq_jw_kv(w, "budgetGPUHours", budget);
	gq_jw_kv(w, "remainingGPUHours", left);
	gen_time(w, "periodStart", l->period_start_ms);
	gen_time(w, "periodEnd", l->period_end_ms);
	gen_time(w, "accountedUntil", b->accounted_until_ms);
	gq_jw_str(w, "usedMicroGPUSeconds");
	gq_jw_int(w, l->used_micro);
	gq_jw_map_close(w);
	if (l->n_history) {
		gq_jw_str(w, "history");
		gq_jw_array_open(w);
		for (size_t i = 0; i < l->n_history; i++) {
			const struct gq_ledger_period_rec *h = &l->history[i];

			gq_ledger_format_hours(h->used_micro, used);
			gq_ledger_format_hours(h->budget_micro, budget);
			gq_jw_map_open(w);
			gen_time(w, "periodStart", h->start_ms);
			gen_time(w, "periodEnd", h->end_ms);
			gq_jw_kv(w, "usedGPUHours", used);
			gq_jw_kv(w, "budgetGPUHours", budget);
			gq_jw_str(w, "usedMicroGPUSeconds");
			gq_jw_int(w, h->used_micro);
			gq_jw_map_close(w);
		}
		gq_jw_array_close(w);
	}
}

static const char *prev_transition(yajl_val prev, const char *type, bool status)
{
	yajl_val conds = yajl_tree_get(prev, (const char *[]){"conditions", NULL}, yajl_t_array);

	for (size_t i = 0; conds && i < conds->u.array.len; i++) {
		yajl_val c = conds->u.array.values[i];
		const char *t = gq_json_str(c, GQ_PATH("type"));
		const char *s = gq_json_str(c, GQ_PATH("status"));

		if (t && s && strcmp(t, type) == 0 && strcmp(s, status ? "True" : "False") == 0)
			return gq_json_str(c, GQ_PATH("lastTransitionTime"));
	}
	return NULL;
}

/* The allocation's state column, whatever the order of the conditions:
 * Conflict > Degraded > BudgetExhausted > Pending (Ready=False) > Ready. */
static const char *status_state(const struct gq_status_in *in)
{
	bool conflict = false, degraded = false, not_ready = false, exhausted = false;

	for (size_t i = 0; i < in->n_conds; i++) {
		const struct gq_condition *c = &in->conds[i];

		conflict |= strcmp(c->type, "Conflict") == 0 && c->status;
		degraded |= strcmp(c->type, "Degraded") == 0 && c->status;
		exhausted |= strcmp(c->type, "BudgetExhausted") == 0 && c->status;
		not_ready |= strcmp(c->type, "Ready") == 0 && !c->status;
	}
	return conflict	   ? "Conflict"
	       : degraded  ? "Degraded"
	       : exhausted ? "BudgetExhausted"
	       : not_ready ? "Pending"
			   : "Ready";
}

/* status.conditions, each keeping its lastTransitionTime while its status
 * stays. */
static void gen_conditions(struct gq_jw *w, const struct gq_status_in *in)
{
	if (in->n_conds == 0)
		return;
	gq_jw_str(w, "conditions");
	gq_jw_array_open(w);
	for (size_t i = 0; i < in->n_conds; i++) {
		const struct gq_condition *c = &in->conds[i];
		const char *ltt = prev_transition(in->prev_status, c->type, c->status);

		gq_jw_map_open(w);
		gq_jw_kv(w, "type", c->type);
		gq_jw_kv(w, "status", c->status ? "True" : "False");
		gq_jw_str(w, "observedGeneration");
		gq_jw_int(w, in->team->generation);
		gq_jw_kv(w, "lastTransitionTime", ltt ? ltt : in->now);
		gq_jw_kv(w, "reason", c->reason);
		gq_jw_kv(w, "message", c->message ? c->message : "");
		gq_jw_map_close(w);
	}
	gq_jw_array_close(w);
}

/* status.namespaces: each one's state, message and quota readback. */
static void gen_namespaces(struct gq_jw *w, const struct gq_status_in *in)
{
	if (in->n_ns == 0)
		return;
	gq_jw_str(w, "namespaces");
	gq_jw_array_open(w);
	for (size_t i = 0; i < in->n_ns; i++) {
		const struct gq_status_ns *s = &in->ns[i];

		gq_jw_map_open(w);
		gq_jw_kv(w, "name", s->plan->name);
		gq_jw_kv(w, "state", gq_ns_state_name(s->plan->state));
		if (s->plan->message)
			gq_jw_kv(w, "message", s->plan->message);
		if (count_strings(s->hard)) {
			gq_jw_str(w, "hard");
			gen_qmap(w, s->hard);
		}
		if (count_strings(s->used)) {
			gq_jw_str(w, "used");
			gen_qmap(w, s->used);
		}
		gq_jw_map_close(w);
	}
	gq_jw_array_close(w);
}

/* status.nodes: the pool's nodes, their layouts and reconfiguration. */
static void gen_nodes(struct gq_jw *w, const struct gq_status_in *in)
{
	if (in->share == NULL || !in->share->active || in->share->n_nodes == 0)
		return;
	gq_jw_str(w, "nodes");
	gq_jw_array_open(w);
	for (size_t i = 0; i < in->share->n_nodes; i++) {
		const struct gq_share_status *s = &in->share->nodes[i];

		gq_jw_map_open(w);
		gq_jw_kv(w, "name", s->name);
		if (s->desired)
			gq_jw_kv(w, "desiredConfig", s->desired);
		if (s->observed)
			gq_jw_kv(w, "observedConfig", s->observed);
		if (s->state)
			gq_jw_kv(w, "configState", s->state);
		gq_jw_kv(w, "phase", gq_share_phase_name(s->phase));
		if (s->message)
			gq_jw_kv(w, "message", s->message);
		if (s->dra)
			gq_jw_kv(w, "unmanaged", "DRA");
		gq_jw_map_close(w);
	}
	gq_jw_array_close(w);
}

/* status.quota: the team-wide hard totals and what the namespaces use. */
static void gen_quota(struct gq_jw *w, const struct gq_status_in *in)
{
	char qa[GQ_QUANTITY_STRLEN];
	bool any;

	if (in->totals == NULL || in->totals->n == 0)
		return;
	gq_jw_str(w, "quota");
	gq_jw_map_open(w);
	gq_jw_str(w, "hard");
	gq_jw_map_open(w);
	for (size_t i = 0; i < in->totals->n; i++) {
		gq_quantity_format(&in->totals->items[i].q, qa);
		gq_jw_kv(w, in->totals->items[i].name, qa);
	}
	gq_jw_map_close(w);
	gq_jw_str(w, "used");
	gq_jw_map_open(w);
	for (size_t i = 0; i < in->totals->n; i++) {
		struct gq_quantity u = status_sum(in, in->totals->items[i].name, 1, &any);

		gq_quantity_format(&u, qa);
		gq_jw_kv(w, in->totals->items[i].name, qa);
	}
	gq_jw_map_close(w);
	gq_jw_map_close(w);
}

yajl_val gq_status_tree(const struct gq_status_in *in)
{
	struct gq_jw jw, *w = &jw;
	size_t n_ready = 0;
	struct gq_quantity gpu_used, gpu_hard = gq_quantity_from_int(0);
	char qa[GQ_QUANTITY_STRLEN], qb[GQ_QUANTITY_STRLEN], *gpus;
	bool any;

	for (size_t i = 0; i < in->n_ns; i++)
		if (in->ns[i].plan->state == GQ_NS_READY)
			n_ready++;
	gq_jw_init_tree(w);
	gq_jw_map_open(w);
	gq_jw_kv(w, "apiVersion", GQ_API_VERSION);
	gq_jw_kv(w, "kind", GQ_KIND);
	gq_jw_str(w, "metadata");
	gq_jw_map_open(w);
	gq_jw_kv(w, "name", in->team->name);
	gq_jw_map_close(w);
	gq_jw_str(w, "status");
	gq_jw_map_open(w);
	gq_jw_str(w, "observedGeneration");
	gq_jw_int(w, in->team->generation);
	gq_jw_kv(w, "state", status_state(in));
	gq_jw_str(w, "namespaceCount");
	gq_jw_int(w, (long long)n_ready);
	gpu_used = status_sum(in, "requests.nvidia.com/gpu", 1, &any);
	for (size_t i = 0; in->totals && i < in->totals->n; i++)
		if (strcmp(in->totals->items[i].name, "requests.nvidia.com/gpu") == 0)
			gpu_hard = in->totals->items[i].q;
	gq_quantity_format(&gpu_used, qa);
	gq_quantity_format(&gpu_hard, qb);
	gpus = gq_asprintf("%s/%s", qa, qb);
	gq_jw_kv(w, "gpus", gpus);
	free(gpus);
	if (in->budget)
		gen_budget(w, in->budget);
	gen_conditions(w, in);
	gen_namespaces(w, in);
	gen_nodes(w, in);
	gen_quota(w, in);
	gq_jw_map_close(w); /* status */
	gq_jw_map_close(w);
	return gq_jw_finish_tree(w);
}

char *gq_status_body(const struct gq_status_in *in)
{
	yajl_val tree = gq_status_tree(in);
	char *body = tree != NULL ? gq_json_dump(tree) : NULL;

	yajl_tree_free(tree);
	return body;
}

/* ---------------------------------------------------------------- compare */

static bool is_quantity_map(const char *key)
{
	static const char *const keys[] = {"hard",	     "used",	    "default",
					   "defaultRequest", "allocatable", "capacity"};

	for (size_t i = 0; key && i < GQ_ARRAY_LEN(keys); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

static bool scalar_eq(yajl_val d, yajl_val a, bool quantities)
{
	if (YAJL_IS_STRING(d) && YAJL_IS_STRING(a)) {
		struct gq_quantity qd, qa;

		if (strcmp(d->u.string, a->u.string) == 0)
			return true;
		return quantities && gq_quantity_parse(&qd, d->u.string) == GQ_OK &&
		       gq_quantity_parse(&qa, a->u.string) == GQ_OK &&
		       gq_quantity_cmp(&qd, &qa) == 0;
	}
	if (YAJL_IS_NUMBER(d) && YAJL_IS_NUMBER(a)) {
		if (YAJL_IS_INTEGER(d) && YAJL_IS_INTEGER(a))
			return YAJL_GET_INTEGER(d) == YAJL_GET_INTEGER(a);
		return YAJL_IS_DOUBLE(d) && YAJL_IS_DOUBLE(a) &&
		       YAJL_GET_DOUBLE(d) == YAJL_GET_DOUBLE(a);
	}
	if (YAJL_IS_TRUE(d) || YAJL_IS_FALSE(d))
		return (YAJL_IS_TRUE(d) && YAJL_IS_TRUE(a)) ||
		       (YAJL_IS_FALSE(d) && YAJL_IS_FALSE(a));
	if (YAJL_IS_NULL(d))
		return a == NULL || YAJL_IS_NULL(a);
	return false;
}

/*
 * Whether a covers d. strict: maps must have the same keys (a desired false
 * may be absent: Kubernetes omits empty booleans). qmap: d is a map whose
 * scalar values are quantities (compared by value).
 */
static bool covers(yajl_val d, yajl_val a, bool strict, bool qmap)
{
	if (d == NULL)
		return true;
	if (a == NULL)
		return YAJL_IS_FALSE(d) || YAJL_IS_NULL(d);
	if (YAJL_IS_OBJECT(d)) {
		if (!YAJL_IS_OBJECT(a))
			return false;
		for (size_t i = 0; i < d->u.object.len; i++) {
			const char *k = d->u.object.keys[i];
			yajl_val dv = d->u.object.values[i];
			yajl_val av = yajl_tree_get(a, (const char *[]){k, NULL}, yajl_t_any);
			bool s = strict || strcmp(k, "spec") == 0 || strcmp(k, "status") == 0;

			if (YAJL_IS_OBJECT(dv) || YAJL_IS_ARRAY(dv)) {
				if (!covers(dv, av, s, is_quantity_map(k)))
					return false;
			} else if (av == NULL) {
				if (!YAJL_IS_FALSE(dv) && !YAJL_IS_NULL(dv))
					return false;
			} else if (!scalar_eq(dv, av, qmap)) {
				return false;
			}
		}
		/* Strict: nothing in a that we do not send (it would be removed). */
		for (size_t i = 0; strict && i < a->u.object.len; i++)
			if (!yajl_tree_get(d, (const char *[]){a->u.object.keys[i], NULL},
					   yajl_t_any))
				return false;
		return true;
	}
	if (YAJL_IS_ARRAY(d)) {
		if (!YAJL_IS_ARRAY(a) || a->u.array.len != d->u.array.len)
			return false;
		for (size_t i = 0; i < d->u.array.len; i++) {
			yajl_val dv = d->u.array.values[i], av = a->u.array.values[i];

			if (YAJL_IS_OBJECT(dv) || YAJL_IS_ARRAY(dv) ? !covers(dv, av, strict, false)
								    : !scalar_eq(dv, av, qmap))
				return false;
		}
		return true;
	}
	return scalar_eq(d, a, qmap);
}

bool gq_json_covers(yajl_val desired, yajl_val actual)
{
	if (desired == NULL || !YAJL_IS_OBJECT(desired))
		return covers(desired, actual, false, false);
	if (actual == NULL || !YAJL_IS_OBJECT(actual))
		return false;
	/* apiVersion and kind are type information: list items in the cache
	 * do not carry them. */
	for (size_t i = 0; i < desired->u.object.len; i++) {
		const char *k = desired->u.object.keys[i];
		yajl_val av;

		if (strcmp(k, "apiVersion") == 0 || strcmp(k, "kind") == 0)
			continue;
		av = yajl_tree_get(actual, (const char *[]){k, NULL}, yajl_t_any);
		if (av == NULL && YAJL_IS_FALSE(desired->u.object.values[i]))
			continue;
		if (!covers(desired->u.object.values[i], av,
			    strcmp(k, "spec") == 0 || strcmp(k, "status") == 0, is_quantity_map(k)))
			return false;
	}
	return true;
}
