/*
 * pass.c - the pure part of one team's pass (pass.h): from the observation
 * to the writes, and from the writes' outcome to the status.
 */
#include "pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jsonpatch.h"
#include "jsonw.h"
#include "quantity.h"

/* -------------------------------------------------------- observation */

/* See pass.h. */
void gq_obs_free(struct gq_obs *o)
{
	for (size_t i = 0; i < o->n_teams; i++)
		gq_team_free(&o->teams[i]);
	free(o->teams);
	free(o->name);
	free(o->self_error);
	for (size_t i = 0; i < o->n_raw_finalizers; i++)
		free(o->raw_finalizers[i]);
	free(o->raw_finalizers);
	yajl_tree_free(o->prev_status);
	for (size_t i = 0; i < o->n_ns; i++) {
		free(o->ns[i].name);
		for (size_t j = 0; j < o->ns[i].labels.n; j++) {
			free(o->ns[i].labels.items[j].key);
			free(o->ns[i].labels.items[j].value);
		}
		free(o->ns[i].labels.items);
	}
	free(o->ns);
	for (size_t i = 0; i < o->n_gpu_res; i++)
		free(o->gpu_res[i]);
	free(o->gpu_res);
	for (size_t i = 0; i < o->n_objs; i++) {
		free(o->objs[i].key);
		yajl_tree_free(o->objs[i].obj);
	}
	free(o->objs);
	gq_acct_obs_free(&o->acct);
	for (size_t i = 0; i < o->n_share_nodes; i++)
		gq_share_node_free(&o->share_nodes[i]);
	free(o->share_nodes);
	memset(o, 0, sizeof(*o));
}

/* See pass.h. A linear search: a team's objects are a few per namespace. */
yajl_val gq_obs_get(const struct gq_obs *o, enum gq_obs_kind kind, const char *key)
{
	for (size_t i = 0; i < o->n_objs; i++)
		if (o->objs[i].kind == kind && strcmp(o->objs[i].key, key) == 0)
			return o->objs[i].obj;
	return NULL;
}

/* ------------------------------------------------------------- writes */

/* See pass.h. */
void gq_writes_free(struct gq_write *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(w[i].path);
		free(w[i].note);
		free(w[i].event_reason);
		yajl_tree_free(w[i].body);
	}
	free(w);
}

/* Appends a write to (*w, *n): path (owned now) and body (owned now, may be
 * NULL); returns it for the caller to set after_ok and note. */
static struct gq_write *push_write(struct gq_write **w, size_t *n, enum gq_write_kind kind,
				   char *path, yajl_val body)
{
	struct gq_write *x;

	*w = gq_realloc(*w, (*n + 1) * sizeof(**w));
	x = &(*w)[(*n)++];
	memset(x, 0, sizeof(*x));
	x->kind = kind;
	x->path = path;
	x->body = body;
	return x;
}

/* A plan's write (see push_write). */
static struct gq_write *plan_write(struct gq_pass *p, enum gq_write_kind kind, char *path,
				   yajl_val body)
{
	return push_write(&p->writes, &p->n_writes, kind, path, body);
}

/* The JSON patch adding finalizer name (borrowed; a constant) to
 * metadata.finalizers, which already exists (has_list) or not, as a tree
 * (the caller's). */
static yajl_val patch_add_finalizer(const char *name, bool has_list)
{
	struct gq_jpatch p = {.n = 0};

	if (has_list)
		gq_jpatch_add(&p, "add", "/metadata/finalizers/-", GQ_JPATCH_STR, name, 0);
	else
		gq_jpatch_add(&p, "add", "/metadata/finalizers", GQ_JPATCH_STR_LIST, name, 0);
	return gq_jpatch_tree(&p);
}

/*
 * The JSON patch removing list[index], guarded by a test that
 * list[index]<field> still equals value (the list may have changed since
 * the observation: then the patch fails with 422 and is retried), as a tree
 * (the caller's).
 */
static yajl_val patch_test_remove(const char *list, size_t index, const char *field,
				  const char *value)
{
	char at[GQ_JPATCH_MAX_PATH], test_at[GQ_JPATCH_MAX_PATH];
	struct gq_jpatch p = {.n = 0};

	snprintf(at, sizeof(at), "%s/%zu", list, index);
	snprintf(test_at, sizeof(test_at), "%s%s", at, field);
	gq_jpatch_add(&p, "test", test_at, GQ_JPATCH_STR, value, 0);
	gq_jpatch_add(&p, "remove", at, GQ_JPATCH_NONE, NULL, 0);
	return gq_jpatch_tree(&p);
}

/* The merge patch removing our labels (team, MIG layout) from a namespace. */
static yajl_val patch_unlabel(void)
{
	struct gq_jw w;

	gq_jw_init_tree(&w);
	gq_jw_map_open(&w);
	gq_jw_str(&w, "metadata");
	gq_jw_map_open(&w);
	gq_jw_str(&w, "labels");
	gq_jw_map_open(&w);
	gq_jw_str(&w, GQ_LABEL_TEAM);
	gq_jw_null(&w);
	gq_jw_str(&w, GQ_LABEL_NS_MIG_CONFIG);
	gq_jw_null(&w);
	gq_jw_map_close(&w);
	gq_jw_map_close(&w);
	gq_jw_map_close(&w);
	return gq_jw_finish_tree(&w);
}

/* The API path of the pod with cache key "ns/name" (must contain a '/').
 * Caller frees. */
static char *pod_path(const char *key)
{
	const char *slash = strchr(key, '/');

	return gq_asprintf("/api/v1/namespaces/%.*s/pods/%s", (int)(slash - key), key, slash + 1);
}

/* The write removing our accounting finalizer (at index) from pod key, into
 * (*w, *n). */
static void write_pod_unfinalize(struct gq_write **w, size_t *n, const char *key, size_t index)
{
	push_write(w, n, GQ_WRITE_JSON_PATCH, pod_path(key),
		   patch_test_remove("/metadata/finalizers", index, "", GQ_ACCOUNTING_FINALIZER))
	    ->note = gq_asprintf("pod accounted, finalizer removed | pod=%s", key);
}

/* ------------------------------------------------- allocation finalizer */

/* Whether the finalizer list (n names) holds our cleanup finalizer; sets
 * *index to its position. */
static bool find_finalizer(char *const *fins, size_t n, size_t *index)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(fins[i], GQ_FINALIZER) == 0) {
			*index = i;
			return true;
		}
	return false;
}

/*
 * The JSON patch adding (on) or removing our finalizer on allocation name
 * with finalizers fins. Never server-side apply here: an apply to an
 * allocation that was deleted meanwhile would create it again. The remove
 * carries a test of the element, so a list changed since the observation
 * fails (422) and is retried instead of removing another controller's
 * finalizer. A remove of an absent finalizer plans nothing.
 */
static void plan_finalizer(struct gq_pass *p, const char *name, char *const *fins, size_t n,
			   bool on, bool after_ok)
{
	size_t i;
	yajl_val body = NULL;

	if (on)
		body = patch_add_finalizer(GQ_FINALIZER, n > 0);
	else if (find_finalizer(fins, n, &i))
		body = patch_test_remove("/metadata/finalizers", i, "", GQ_FINALIZER);
	if (body)
		plan_write(p, GQ_WRITE_JSON_PATCH, gq_asprintf(GQ_GTA_PATH "/%s", name), body)
		    ->after_ok = after_ok;
}

/* ----------------------------------------------------------- namespaces */

/* Whether namespace n carries our team label for team. */
static bool labelled_for(const struct gq_obs_ns *n, const char *team)
{
	for (size_t j = 0; j < n->labels.n; j++)
		if (strcmp(n->labels.items[j].key, GQ_LABEL_TEAM) == 0 &&
		    strcmp(n->labels.items[j].value, team) == 0)
			return true;
	return false;
}

/*
 * Plans the release (our label removed, a merge patch: works whoever set
 * it) of every observed namespace labelled for team but not READY in keep
 * (NULL: all of them). Terminating namespaces are left alone.
 */
static void plan_release_namespaces(struct gq_pass *p, const struct gq_obs *o, const char *team,
				    const struct gq_plan *keep)
{
	for (size_t i = 0; i < o->n_ns; i++) {
		const struct gq_obs_ns *n = &o->ns[i];
		bool kept = false;

		if (!labelled_for(n, team) || n->terminating)
			continue;
		for (size_t j = 0; keep && j < keep->n; j++)
			if (keep->ns[j].state == GQ_NS_READY &&
			    strcmp(keep->ns[j].name, n->name) == 0)
				kept = true;
		if (!kept)
			plan_write(p, GQ_WRITE_MERGE, gq_asprintf("/api/v1/namespaces/%s", n->name),
				   patch_unlabel())
			    ->note = gq_asprintf("namespace left team | namespace=%s", n->name);
	}
}

/* ----------------------------------------------------------- early passes */

/*
 * The InvalidSpec status of an allocation the apiserver accepted but we
 * cannot decode: nothing else is changed; nothing is written when the
 * status already carries that exact message.
 */
static void plan_invalid(struct gq_pass *p, const struct gq_obs *o, const char *now)
{
	yajl_val conds =
	    yajl_tree_get(o->prev_status, (const char *[]){"conditions", NULL}, yajl_t_array);
	struct gq_jw w;
	yajl_val body;

	for (size_t i = 0; conds && i < conds->u.array.len; i++) {
		const char *reason = gq_json_str(conds->u.array.values[i], GQ_PATH("reason"));
		const char *msg = gq_json_str(conds->u.array.values[i], GQ_PATH("message"));

		if (reason && msg && strcmp(reason, "InvalidSpec") == 0 &&
		    strcmp(msg, o->self_error) == 0)
			return; /* already reported */
	}
	gq_jw_init_tree(&w);
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "apiVersion", GQ_API_VERSION);
	gq_jw_kv(&w, "kind", GQ_KIND);
	gq_jw_str(&w, "metadata");
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "name", o->name);
	gq_jw_map_close(&w);
	gq_jw_str(&w, "status");
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "state", "Invalid");
	gq_jw_str(&w, "conditions");
	gq_jw_array_open(&w);
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "type", "Ready");
	gq_jw_kv(&w, "status", "False");
	gq_jw_kv(&w, "lastTransitionTime", now);
	gq_jw_kv(&w, "reason", "InvalidSpec");
	gq_jw_kv(&w, "message", o->self_error);
	gq_jw_map_close(&w);
	gq_jw_array_close(&w);
	gq_jw_map_close(&w);
	gq_jw_map_close(&w);
	body = gq_jw_finish_tree(&w);
	if (body) /* NULL: the message is not valid UTF-8; nothing to write */
		plan_write(p, GQ_WRITE_APPLY, gq_asprintf(GQ_GTA_PATH "/%s/status", o->name), body);
}

/* The Eviction of pod key ("ns/name"), as a tree (the caller's). */
static yajl_val eviction_body(const char *key)
{
	const char *slash = strchr(key, '/');
	char *ns = gq_strdup(key);
	struct gq_jw jw, *w = &jw;

	ns[slash ? (size_t)(slash - key) : 0] = '\0';
	gq_jw_init_tree(w);
	gq_jw_map_open(w);
	gq_jw_kv(w, "apiVersion", "policy/v1");
	gq_jw_kv(w, "kind", "Eviction");
	gq_jw_str(w, "metadata");
	gq_jw_map_open(w);
	gq_jw_kv(w, "name", slash ? slash + 1 : key);
	gq_jw_kv(w, "namespace", ns);
	gq_jw_map_close(w);
	gq_jw_map_close(w);
	free(ns);
	return gq_jw_finish_tree(w);
}

/*
 * The node pool of spec.sharing s (NULL: none, every node of the team's
 * pool is released) into p->share, and, for the leader, its node patches
 * and evictions as writes (the patches' bodies move into them).
 */
static void plan_sharing(struct gq_pass *p, const struct gq_obs *o, const struct gq_sharing *s)
{
	struct gq_share_plan *sp = &p->share;

	gq_share_plan(sp, &(struct gq_share_in){o->name, s, o->self ? &o->self->mig_slices : NULL,
						o->teams, o->n_teams, o->share_nodes,
						o->n_share_nodes, o->now_ms,
						o->share_pending_timeout_ms});
	if (!o->lead)
		return;
	for (size_t i = 0; i < sp->n_patches; i++) {
		struct gq_share_patch *sh = &sp->patches[i];
		/* A node name is a DNS subdomain: safe in a path as it is. */
		struct gq_write *w =
		    plan_write(p, GQ_WRITE_MERGE, gq_asprintf("/api/v1/nodes/%s", sh->node), sh->body);

		sh->body = NULL;
		w->note = gq_strdup(sh->message);
		w->event_reason = sh->reason ? gq_strdup(sh->reason) : NULL;
		w->event_warning = sh->warning;
	}
	for (size_t i = 0; i < sp->n_evict; i++) {
		char *pp = pod_path(sp->evict[i]);

		plan_write(p, GQ_WRITE_EVICT, gq_asprintf("%s/eviction", pp),
			   eviction_body(sp->evict[i]))
		    ->note = gq_asprintf("node drain: eviction of pod %s requested", sp->evict[i]);
		free(pp);
	}
}

/*
 * An allocation being deleted with finalizers fins: every namespace
 * labelled for it is released and, once that all succeeded, our finalizer
 * removed so the deletion can complete. Nothing when it is already gone.
 */
static void plan_deleting(struct gq_pass *p, const struct gq_obs *o, char *const *fins, size_t n)
{
	size_t i;

	if (!find_finalizer(fins, n, &i))
		return;
	plan_release_namespaces(p, o, o->name, NULL);
	plan_sharing(p, o, NULL);
	plan_finalizer(p, o->name, fins, n, false, true);
	p->writes[p->n_writes - 1].note =
	    gq_asprintf("allocation deleted: namespaces released | team=%s", o->name);
}

/* The passes that end before planning (pass.h); returns whether o is one. */
static bool plan_early(struct gq_pass *p, const struct gq_obs *o, const char *now)
{
	if (o->self_error) {
		if (o->lead && o->raw_deleting)
			plan_deleting(p, o, o->raw_finalizers, o->n_raw_finalizers);
		else if (o->lead)
			plan_invalid(p, o, now);
	} else if (o->self == NULL) {
		if (!o->exists) {
			if (o->lead) {
				plan_release_namespaces(p, o, o->name, NULL);
				plan_sharing(p, o, NULL);
			}
			p->forget = true;
		}
	} else if (o->self->deleting) {
		if (o->lead)
			plan_deleting(p, o, o->self->finalizers, o->self->n_finalizers);
	} else {
		return false;
	}
	p->early = true;
	return true;
}

/* ------------------------------------------------------------ planning */

/*
 * Plans the team's namespaces and reads their managed quotas from the
 * observation: the status readback (sns) and the usage of the READY ones.
 */
static void plan_namespaces(struct gq_pass *p, const struct gq_obs *o)
{
	size_t n = o->n_ns;

	p->infos = gq_calloc(n ? n : 1, sizeof(*p->infos));
	for (size_t i = 0; i < n; i++) {
		p->infos[i].name = o->ns[i].name;
		p->infos[i].labels = o->ns[i].labels;
		p->infos[i].terminating = o->ns[i].terminating;
	}
	gq_plan_namespaces(&p->plan, o->self, o->teams, o->n_teams, p->infos, n);
	n = p->plan.n;
	p->usage = gq_calloc(n ? n : 1, sizeof(*p->usage));
	p->sns = gq_calloc(n ? n : 1, sizeof(*p->sns));
	p->rq = gq_calloc(n ? n : 1, sizeof(*p->rq));
	for (size_t i = 0; i < n; i++) {
		char *key = gq_asprintf("%s/gpuquota-%s", p->plan.ns[i].name, o->name);
		yajl_val used;
		struct gq_res_list *l;

		p->rq[i] = gq_obs_get(o, GQ_OBS_QUOTA, key);
		free(key);
		used = gq_json_obj(p->rq[i], GQ_PATH("status", "used"));
		p->sns[i].plan = &p->plan.ns[i];
		p->sns[i].hard = gq_json_obj(p->rq[i], GQ_PATH("status", "hard"));
		p->sns[i].used = used;
		if (p->plan.ns[i].state != GQ_NS_READY)
			continue;
		p->usage[p->n_usage].ns = p->plan.ns[i].name;
		l = &p->usage[p->n_usage].used;
		for (size_t k = 0; used && k < used->u.object.len; k++) {
			struct gq_quantity q;

			if (!YAJL_IS_STRING(used->u.object.values[k]) ||
			    gq_quantity_parse(&q, used->u.object.values[k]->u.string) != GQ_OK)
				continue;
			l->items = gq_realloc(l->items, (l->n + 1) * sizeof(*l->items));
			l->items[l->n].name = gq_strdup(used->u.object.keys[k]);
			l->items[l->n].q = q;
			l->n++;
		}
		p->n_usage++;
	}
}

/* The ledger pass of a team with a budget over its observed pods (nothing
 * without a budget or a pod cache). Returns gq_acct_compute's code. */
static int plan_account(struct gq_pass *p, const struct gq_obs *o, struct gq_err *err)
{
	int rc;

	if (!o->self->budget.present || !o->has_acct_obs)
		return GQ_OK;
	rc = gq_acct_compute(&p->acct,
			     &(struct gq_acct_in){o->self, o->acct.pods, o->acct.n_pods,
						  o->acct.nodes, o->acct.n_nodes, &o->acct.prior,
						  o->prev_status, o->acct_now_ms,
						  o->write_interval_ms},
			     err);
	p->has_acct = rc == GQ_OK;
	return rc;
}

/*
 * What the webhook needs to decide for the team's READY and PENDING
 * namespaces: the tier and exempt class names, the default tier, the
 * GPU-per-pod limit and the weights, and with the accounting the budget
 * figures and the over-budget class.
 */
static void plan_admission(struct gq_pass *p, const struct gq_team *t)
{
	struct gq_pass_adm *a = &p->adm;
	const struct gq_acct_result *acct = p->has_acct ? &p->acct : NULL;

	a->ns = gq_calloc(p->plan.n + 1, sizeof(char *));
	a->tiers = gq_calloc(t->n_tiers + 1, sizeof(char *));
	a->exempt = gq_calloc(t->budget.n_exempt_tiers + 1, sizeof(char *));
	for (size_t i = 0; i < p->plan.n; i++)
		if (p->plan.ns[i].state == GQ_NS_READY || p->plan.ns[i].state == GQ_NS_PENDING)
			a->ns[a->n_ns++] = p->plan.ns[i].name;
	for (size_t i = 0; i < t->n_tiers; i++)
		a->tiers[i] = gq_team_priority_class_name(t, t->tiers[i].name);
	for (size_t i = 0; i < t->budget.n_exempt_tiers; i++)
		a->exempt[i] = gq_team_priority_class_name(t, t->budget.exempt_tiers[i]);
	a->team.name = t->name;
	a->team.tier_classes = (const char *const *)a->tiers;
	a->team.n_tiers = t->n_tiers;
	if (t->default_tier) {
		const struct gq_tier *d = gq_team_tier(t, t->default_tier);

		a->dflt = gq_team_priority_class_name(t, t->default_tier);
		a->team.default_class = a->dflt;
		a->team.default_value = d ? d->value : 0;
		a->team.default_preemption_policy =
		    d && d->preemption_policy ? d->preemption_policy : "PreemptLowerPriority";
	}
	a->team.exempt_classes = (const char *const *)a->exempt;
	a->team.n_exempt = t->budget.n_exempt_tiers;
	a->team.max_gpus_per_pod = t->max_gpus_per_pod;
	if (t->budget.present && acct) {
		a->team.has_budget = true;
		a->team.policy = t->budget.on_exhausted;
		a->team.used_micro = acct->ledger.used_micro;
		a->team.budget_micro = acct->budget_micro;
		a->team.warn_at_percent = t->budget.warn_at_percent;
		if (gq_rfc3339_format_ms(acct->ledger.period_end_ms, a->reset) == GQ_OK)
			a->team.reset_time = a->reset;
		a->over = gq_team_over_budget_class(t);
		a->team.over_budget_class = a->over;
		a->team.over_budget_value = gq_team_over_budget_value(t);
	}
	a->team.weights = &t->budget.weights;
	if (t->sharing.present)
		a->team.pool = t->name;
	p->publish = true;
}

/* The quota totals and the desired objects (clamped while a Deny budget is
 * spent). Returns the codes of gq_quota_totals and gq_desired_build. */
static int plan_desired(struct gq_pass *p, const struct gq_obs *o, struct gq_err *err)
{
	const struct gq_team *team = o->self;
	const char *const *res = (const char *const *)o->gpu_res;
	int rc = gq_quota_totals(&p->totals, team, res, o->n_gpu_res, err);

	if (rc != GQ_OK)
		return rc;
	if (p->has_acct && p->acct.exhausted && team->budget.on_exhausted == GQ_EXHAUSTED_DENY)
		return gq_desired_build_clamped(&p->dl, team, p->usage, p->n_usage, res,
						o->n_gpu_res, err);
	return gq_desired_build(&p->dl, team, p->usage, p->n_usage, res, o->n_gpu_res, err);
}

/* The observation kind of desired object kind. */
static enum gq_obs_kind obs_kind(const char *kind)
{
	if (strcmp(kind, "ResourceQuota") == 0)
		return GQ_OBS_QUOTA;
	if (strcmp(kind, "LimitRange") == 0)
		return GQ_OBS_LIMIT;
	if (strcmp(kind, "PriorityClass") == 0)
		return GQ_OBS_CLASS;
	return GQ_OBS_NAMESPACE;
}

/* The informer key of desired object d: "ns/name", or "name" when it is
 * cluster-scoped. Caller frees. */
static char *cache_key(const struct gq_desired *d)
{
	return d->ns[0] ? gq_asprintf("%s/%s", d->ns, d->name) : gq_strdup(d->name);
}

/* obj's metadata.labels[key], or NULL. Borrowed from obj. */
static const char *label_of(yajl_val obj, const char *key)
{
	return gq_json_str(obj, GQ_PATH("metadata", "labels", key));
}

/* Whether PriorityClass have (cached) must be deleted and created again to
 * become want: value and preemptionPolicy are immutable. */
static bool class_recreate(yajl_val want, yajl_val have)
{
	yajl_val hv = yajl_tree_get(have, (const char *[]){"value", NULL}, yajl_t_number);
	yajl_val wv = yajl_tree_get(want, (const char *[]){"value", NULL}, yajl_t_number);
	const char *hp = gq_json_str(have, GQ_PATH("preemptionPolicy"));
	const char *wp = gq_json_str(want, GQ_PATH("preemptionPolicy"));

	return hv && wv &&
	       (YAJL_GET_INTEGER(hv) != YAJL_GET_INTEGER(wv) || (wp && hp && strcmp(wp, hp) != 0) ||
		(!wp && hp && strcmp(hp, "PreemptLowerPriority") != 0));
}

/*
 * Plans desired object d of team t unless the observation shows it already
 * in place. A Namespace is merge-patched instead (it cannot create a
 * namespace deleted since). PriorityClasses: one we do not manage is a
 * conflict, never overwritten (its name goes to p->class_conflicts); one of
 * ours with another value or preemptionPolicy is deleted and created again
 * -- running pods keep the priority they were admitted with; new pods get
 * the new value.
 */
static void plan_converge_one(struct gq_pass *p, const struct gq_obs *o, const struct gq_desired *d)
{
	enum gq_obs_kind kind = obs_kind(d->kind);
	char *key = cache_key(d);
	yajl_val have = gq_obs_get(o, kind, key), want = d->tree;
	bool same = have && want && gq_json_covers(want, have);

	free(key);
	if (have && want && kind == GQ_OBS_CLASS) {
		const char *mb = label_of(have, GQ_LABEL_MANAGED_BY);
		const char *tm = label_of(have, GQ_LABEL_TEAM);

		if (!mb || !tm || strcmp(mb, GQ_FIELD_MANAGER) != 0 || strcmp(tm, o->name) != 0) {
			p->class_conflicts = gq_realloc(
			    p->class_conflicts, (p->n_class_conflicts + 1) * sizeof(char *));
			p->class_conflicts[p->n_class_conflicts++] = gq_strdup(d->name);
			return;
		}
		if (class_recreate(want, have)) {
			plan_write(p, GQ_WRITE_RECREATE, gq_strdup(d->path), gq_json_clone(want))
			    ->note = gq_asprintf(
			    "priority value changed: class recreated | team=%s class=%s", o->name,
			    d->name);
			return;
		}
	}
	if (same)
		return;
	plan_write(p, kind == GQ_OBS_NAMESPACE ? GQ_WRITE_MERGE : GQ_WRITE_APPLY,
		   gq_strdup(d->path), gq_json_clone(want));
}

/* Whether the desired list holds an object of kind with informer key key. */
static bool desired_has(const struct gq_desired_list *dl, enum gq_obs_kind kind, const char *key)
{
	for (size_t i = 0; i < dl->n; i++) {
		char *k;
		bool eq;

		if (obs_kind(dl->items[i].kind) != kind)
			continue;
		k = cache_key(&dl->items[i]);
		eq = strcmp(k, key) == 0;
		free(k);
		if (eq)
			return true;
	}
	return false;
}

/* Plans the deletion of the quotas, limit ranges and classes labelled as
 * ours for the team that are no longer desired. */
static void plan_delete_stale(struct gq_pass *p, const struct gq_obs *o)
{
	for (size_t i = 0; i < o->n_objs; i++) {
		const struct gq_obs_obj *x = &o->objs[i];
		const char *team = label_of(x->obj, GQ_LABEL_TEAM);
		const char *mb = label_of(x->obj, GQ_LABEL_MANAGED_BY);
		const char *slash = strchr(x->key, '/');
		char *path;

		if (x->kind == GQ_OBS_NAMESPACE || !team || !mb || strcmp(team, o->name) != 0 ||
		    strcmp(mb, GQ_FIELD_MANAGER) != 0 || desired_has(&p->dl, x->kind, x->key))
			continue;
		if (x->kind == GQ_OBS_CLASS)
			path = gq_asprintf(GQ_PRIORITY_CLASS_PATH "/%s", x->key);
		else if (slash)
			path = gq_asprintf(
			    "/api/v1/namespaces/%.*s/%s/%s", (int)(slash - x->key), x->key,
			    x->kind == GQ_OBS_QUOTA ? "resourcequotas" : "limitranges", slash + 1);
		else
			continue;
		plan_write(p, GQ_WRITE_DELETE, path, NULL)->note =
		    gq_asprintf("deleted | path=%s", path);
	}
}

/* The leader's writes before the status: desired objects, stale ones,
 * released namespaces, pod finalizers added and held pods released. */
static void plan_converge(struct gq_pass *p, const struct gq_obs *o)
{
	for (size_t i = 0; i < p->dl.n; i++)
		plan_converge_one(p, o, &p->dl.items[i]);
	plan_delete_stale(p, o);
	plan_release_namespaces(p, o, o->name, &p->plan);
	for (size_t i = 0; i < p->acct.n_add; i++)
		plan_write(p, GQ_WRITE_JSON_PATCH, pod_path(p->acct.add[i].key),
			   patch_add_finalizer(GQ_ACCOUNTING_FINALIZER, p->acct.add[i].has_list));
	for (size_t i = 0; i < p->acct.n_release; i++)
		plan_write(p, GQ_WRITE_JSON_PATCH, pod_path(p->acct.release[i].key),
			   patch_test_remove("/spec/schedulingGates", p->acct.release[i].index,
					     "/name", GQ_BUDGET_GATE))
		    ->note = gq_asprintf("budget available: held pod released | pod=%s",
					 p->acct.release[i].key);
}

/* See pass.h. */
int gq_pass_plan(struct gq_pass *p, const struct gq_obs *o, struct gq_err *err)
{
	size_t i;
	int rc;

	memset(p, 0, sizeof(*p));
	if (plan_early(p, o, o->now))
		return GQ_OK;
	if (o->lead && !find_finalizer(o->self->finalizers, o->self->n_finalizers, &i))
		plan_finalizer(p, o->name, o->self->finalizers, o->self->n_finalizers, true, false);
	plan_namespaces(p, o);
	rc = plan_account(p, o, err);
	if (rc != GQ_OK)
		return rc;
	plan_admission(p, o->self);
	rc = plan_desired(p, o, err);
	if (rc != GQ_OK)
		return rc;
	if (o->lead)
		plan_converge(p, o);
	plan_sharing(p, o, &o->self->sharing);
	/* A pool with a MIG layout and no whole GPU left serves only the
	 * team's MIG pods; its whole-GPU pods run elsewhere. */
	p->adm.team.pool_mig_only = o->self->sharing.present &&
				    o->self->sharing.mig_config != NULL && !p->share.whole_gpus;
	return GQ_OK;
}

/* See pass.h. */
void gq_pass_free(struct gq_pass *p)
{
	struct gq_pass_adm *a = &p->adm;

	for (size_t i = 0; a->tiers && a->tiers[i]; i++)
		free(a->tiers[i]);
	for (size_t i = 0; a->exempt && a->exempt[i]; i++)
		free(a->exempt[i]);
	free(a->tiers);
	free(a->exempt);
	free(a->ns);
	free(a->over);
	free(a->dflt);
	gq_writes_free(p->writes, p->n_writes);
	for (size_t i = 0; i < p->n_usage; i++)
		gq_res_list_free(&p->usage[i].used);
	free(p->usage);
	free(p->sns);
	free(p->rq);
	free(p->infos);
	gq_res_list_free(&p->totals);
	gq_desired_list_free(&p->dl);
	gq_plan_free(&p->plan);
	for (size_t i = 0; i < p->n_class_conflicts; i++)
		free(p->class_conflicts[i]);
	free(p->class_conflicts);
	gq_acct_result_free(&p->acct);
	gq_share_plan_free(&p->share);
	memset(p, 0, sizeof(*p));
}

/* --------------------------------------------------------------- status */

/*
 * Whether a managed quota as cached (rq, may be NULL) is enforced:
 * status.hard equals spec.hard (a fresh quota is not enforced until the
 * quota controller syncs).
 */
static bool quota_synced(yajl_val rq)
{
	yajl_val spec = gq_json_obj(rq, GQ_PATH("spec", "hard"));
	yajl_val st = gq_json_obj(rq, GQ_PATH("status", "hard"));

	if (spec == NULL || st == NULL)
		return false;
	return gq_json_covers(spec, st) && spec->u.object.len == st->u.object.len;
}

/*
 * The conditions into s->cs, once namespaces whose quota the quota
 * controller has not enforced yet are marked pending (READY to PENDING in
 * p->plan, in place).
 */
static void status_conditions(struct gq_pass_status *s, struct gq_pass *p, const struct gq_obs *o,
			      const struct gq_pass_outcome *oc)
{
	const struct gq_team *team = o->self;
	struct gq_cond_budget cb = {0};

	for (size_t i = 0; i < p->plan.n; i++)
		if (p->plan.ns[i].state == GQ_NS_READY && !quota_synced(p->rq[i]))
			p->plan.ns[i].state = GQ_NS_PENDING;
	/* The figures of the ledger the status carries (acct.status_ledger:
	 * the live one when it is written now). */
	if (p->has_acct)
		cb = (struct gq_cond_budget){p->acct.exhausted,
					     p->acct.warn,
					     p->acct.status_ledger.used_micro,
					     p->acct.budget_micro,
					     p->acct.status_ledger.period_end_ms,
					     team->budget.on_exhausted,
					     team->budget.warn_at_percent};
	gq_cond_set_free(&s->cs);
	gq_cond_build(&s->cs,
		      &(struct gq_cond_in){&p->plan, p->n_usage, (size_t)oc->errors,
					   oc->first_error, (const char *const *)p->class_conflicts,
					   p->n_class_conflicts, p->has_acct ? &cb : NULL,
					   p->share.active ? &p->share : NULL});
}

/* The status document of the pass (gq_status_tree), with the ledger the
 * status carries (acct.status_ledger). NULL when a message is not valid
 * UTF-8. */
static yajl_val status_doc(const struct gq_pass_status *s, const struct gq_pass *p,
			   const struct gq_obs *o)
{
	struct gq_status_budget sb = {&p->acct.status_ledger, p->acct.budget_micro,
				      p->acct.persist_until_ms};
	struct gq_status_in in = {o->self,	  p->sns,  p->plan.n,
				  &p->totals,	  s->cs.c, s->cs.n,
				  o->prev_status, o->now,  p->has_acct ? &sb : NULL,
				  p->share.active ? &p->share : NULL};

	return gq_status_tree(&in);
}

/* Whether the cached status already is doc's. */
static bool status_same(yajl_val doc, yajl_val have)
{
	yajl_val st = gq_json_obj(doc, GQ_PATH("status"));

	return st && have && gq_json_covers(st, have) && st->u.object.len == have->u.object.len;
}

/*
 * Finds condition `type` in prev (a status object, may be NULL): when found,
 * sets *status to whether it is "True" and returns true; else returns false
 * and leaves *status alone.
 */
static bool prev_cond(yajl_val prev, const char *type, bool *status)
{
	yajl_val conds = yajl_tree_get(prev, (const char *[]){"conditions", NULL}, yajl_t_array);

	for (size_t i = 0; conds && i < conds->u.array.len; i++) {
		const char *t = gq_json_str(conds->u.array.values[i], GQ_PATH("type"));
		const char *st = gq_json_str(conds->u.array.values[i], GQ_PATH("status"));

		if (t && st && strcmp(t, type) == 0) {
			*status = strcmp(st, "True") == 0;
			return true;
		}
	}
	return false;
}

/*
 * An Event for each condition whose status changed against prev (may be
 * NULL): Ready or SharingReady turning False, or a problem condition
 * turning True, is a Warning, the reverse Normal. A condition not seen before is reported
 * unless it is a false problem condition.
 */
static void status_events(struct gq_pass_status *s, yajl_val prev)
{
	const struct gq_condition *c = s->cs.c;

	for (size_t i = 0; i < s->cs.n; i++) {
		bool before = false, known = prev_cond(prev, c[i].type, &before);
		/* Ready and SharingReady are good news when true; the others
		 * (Degraded, Conflict, BudgetExhausted, ...) problems. */
		bool positive = strcmp(c[i].type, "Ready") == 0 || strcmp(c[i].type, "SharingReady") == 0;
		struct gq_pass_event *e;

		if (known && before == c[i].status)
			continue;
		if (!known && !c[i].status && !positive)
			continue; /* a new, false problem condition is no news */
		s->events = gq_realloc(s->events, (s->n_events + 1) * sizeof(*s->events));
		e = &s->events[s->n_events++];
		e->warning = positive ? !c[i].status : c[i].status;
		e->reason = gq_strdup(c[i].reason);
		e->message = gq_strdup(c[i].message ? c[i].message : c[i].reason);
	}
}

/* The quantity string s as a double (exact to the milli-unit); 0 when s is
 * NULL or not a quantity. */
static double quantity_double(const char *s)
{
	struct gq_quantity q;

	return s && gq_quantity_parse(&q, s) == GQ_OK ? (double)q.milli / 1000.0 : 0;
}

/*
 * The figures for the metrics: the GPU and MIG quota and use of the status
 * document (status.quota), and the ledger (without a budget: none).
 * accounted_micro is this pass's; the executor zeroes it unless the status
 * is persisted. s->res holds the resources; names borrow from s->doc.
 */
static void status_figures(struct gq_pass_status *s, const struct gq_pass *p)
{
	yajl_val hard = gq_json_obj(s->doc, GQ_PATH("status", "quota", "hard"));
	yajl_val used = gq_json_obj(s->doc, GQ_PATH("status", "quota", "used"));
	struct gq_registry_figures *f = &s->figures;
	const struct gq_acct_result *acct = &p->acct;

	s->res = gq_calloc(hard ? hard->u.object.len + 1 : 1, sizeof(*s->res));
	for (size_t i = 0; hard && i < hard->u.object.len; i++) {
		const char *k = hard->u.object.keys[i];
		const char *res_name = strncmp(k, "requests.", 9) == 0 ? k + 9 : k;

		if (strncmp(res_name, GQ_NVIDIA_PREFIX, strlen(GQ_NVIDIA_PREFIX)) != 0 ||
		    !YAJL_IS_STRING(hard->u.object.values[i]))
			continue;
		s->res[f->n_res].resource = res_name;
		s->res[f->n_res].quota = quantity_double(hard->u.object.values[i]->u.string);
		s->res[f->n_res].used = quantity_double(gq_json_str(used, GQ_PATH(k)));
		f->n_res++;
	}
	f->res = s->res;
	if (!p->has_acct)
		return;
	f->has_budget = true;
	f->budget_micro = acct->budget_micro;
	f->used_micro = acct->ledger.used_micro;
	f->period_end_ms = acct->ledger.period_end_ms;
	f->exhausted = acct->exhausted;
	f->warn = acct->warn;
	f->pods_running = acct->running_gpu_pods;
	f->pods_held = acct->held_gpu_pods;
	f->pods_deprioritized = acct->deprioritized_gpu_pods;
	f->accounted_micro = acct->accounted_micro;
}

/* When to pass again: soon while quotas are pending, every ledger interval
 * with a budget, sooner when ended pods' release was put off. */
static int64_t status_requeue(const struct gq_pass_status *s, const struct gq_pass *p,
			      int64_t ledger_interval_ms)
{
	int64_t ms = s->cs.n_pending ? 2000 : 0;

	if (p->has_acct && (ms == 0 || ms > ledger_interval_ms))
		ms = ledger_interval_ms;
	if (p->has_acct && p->acct.retry_after_ms > 0 && p->acct.retry_after_ms < ms)
		ms = p->acct.retry_after_ms;
	if (p->share.requeue_ms > 0 && (ms == 0 || p->share.requeue_ms < ms))
		ms = p->share.requeue_ms;
	return ms;
}

/* See pass.h. */
void gq_pass_status(struct gq_pass_status *out, struct gq_pass *p, const struct gq_obs *o,
		    const struct gq_pass_outcome *oc, int64_t ledger_interval_ms)
{
	struct gq_acct_result *acct = &p->acct;

	memset(out, 0, sizeof(*out));
	status_conditions(out, p, o, oc);
	out->doc = status_doc(out, p, o);
	out->write = out->doc && !status_same(out->doc, o->prev_status);
	if (out->write && o->lead && p->has_acct && !acct->persist) {
		/* Written anyway: with the ledger of now. */
		acct->persist = true;
		acct->status_ledger = acct->ledger;
		acct->persist_until_ms = acct->ledger.accounted_until_ms;
		status_conditions(out, p, o, oc);
		yajl_tree_free(out->doc);
		out->doc = status_doc(out, p, o);
		out->write = out->doc && !status_same(out->doc, o->prev_status);
	}
	if (!o->lead)
		out->write = false; /* a follower writes nothing */
	if (out->write)
		status_events(out, o->prev_status);
	for (size_t i = 0; o->lead && p->has_acct && i < acct->n_finalize; i++)
		write_pod_unfinalize(&out->after, &out->n_after, acct->finalize[i].key,
				     acct->finalize[i].index);
	if (out->doc)
		status_figures(out, p);
	out->requeue_ms = status_requeue(out, p, ledger_interval_ms);
}

/* See pass.h. */
void gq_pass_status_free(struct gq_pass_status *s)
{
	for (size_t i = 0; i < s->n_events; i++) {
		free(s->events[i].reason);
		free(s->events[i].message);
	}
	free(s->events);
	gq_writes_free(s->after, s->n_after);
	gq_cond_set_free(&s->cs);
	free(s->res);
	yajl_tree_free(s->doc);
	memset(s, 0, sizeof(*s));
}

/* See pass.h. */
void gq_pass_plan_orphan(struct gq_write **w, size_t *n, const char *key, long finalizer, long gate)
{
	if (finalizer >= 0) {
		write_pod_unfinalize(w, n, key, (size_t)finalizer);
		free((*w)[*n - 1].note);
		(*w)[*n - 1].note = gq_asprintf("namespace belongs to no team with a budget: "
						"pod released from accounting | pod=%s",
						key);
	}
	/* A held pod is held by no budget any more: it may run. */
	if (gate >= 0)
		push_write(w, n, GQ_WRITE_JSON_PATCH, pod_path(key),
			   patch_test_remove("/spec/schedulingGates", (size_t)gate, "/name",
					     GQ_BUDGET_GATE))
		    ->note = gq_asprintf("namespace belongs to no team with a budget: budget "
					 "gate removed | pod=%s",
					 key);
}
