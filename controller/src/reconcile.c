/*
 * reconcile.c - the I/O shell of one team's pass (pass.h draws it):
 * observe copies what the pass reads out of the caches and the registry,
 * each cache under its own read lock, once; the pure planner decides; the
 * executor below is the only code that writes to the apiserver; the pure
 * status step reports. Writes happen only where the observation differs
 * from what is desired (applies, deletes, namespace labels, pod finalizers
 * and gates, the status).
 */
#include "reconcile.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounting.h"
#include "json.h"
#include "jsonw.h"
#include "log.h"
#include "pass.h"
#include "plan.h"
#include "pod.h"
#include "rfc3339.h"
#include "spec.h"

/* How the writes of a pass went. */
struct exec_result {
	const struct gq_team *team; /* Events of the writes go to it (NULL: none) */
	int writes;		    /* evictions not counted: they are retried */
	int evictions;
	int errors;
	char first_error[1024];
};

/* obj's metadata.labels[key], or NULL. Borrowed from obj. */
static const char *label_of(yajl_val obj, const char *key)
{
	return gq_json_str(obj, GQ_PATH("metadata", "labels", key));
}

/* Writes the current UTC time as RFC 3339 in whole seconds
 * ("2026-01-02T03:04:05Z") into buf. */
static void now_rfc3339(char buf[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The wall clock in ms since the epoch. */
static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Sets *out to a deep copy of the string-valued members of obj (a
 * metadata.labels object; NULL or a non-object gives an empty list; other
 * values are skipped). *out's old content is not freed; the caller frees the
 * copy with labels_free.
 */
static void labels_copy(struct gq_label_list *out, yajl_val obj)
{
	out->items = NULL;
	out->n = 0;
	if (obj == NULL || !YAJL_IS_OBJECT(obj))
		return;
	out->items = gq_calloc(obj->u.object.len, sizeof(*out->items));
	for (size_t i = 0; i < obj->u.object.len; i++) {
		if (!YAJL_IS_STRING(obj->u.object.values[i]))
			continue;
		out->items[out->n].key = gq_strdup(obj->u.object.keys[i]);
		out->items[out->n].value = gq_strdup(obj->u.object.values[i]->u.string);
		out->n++;
	}
}

/*
 * Records a failed write of the pass: counts it, logs it, and keeps the first
 * one as "what: message" in p->first_error (trimmed to valid UTF-8, as it may
 * become a condition message). what and err are borrowed.
 */
static void pass_error(struct exec_result *p, const char *what, const struct gq_err *err)
{
	p->errors++;
	gq_warn("write failed | what=%s error=%s", what, err->msg);
	if (p->first_error[0] == '\0') {
		snprintf(p->first_error, sizeof(p->first_error), "%.400s: %.500s", what, err->msg);
		gq_utf8_trim(p->first_error); /* it may become a condition message */
	}
}

/*
 * Posts a Kubernetes Event about allocation t in r->event_namespace, named
 * after the team and the current time (best effort: a failure is logged, not
 * recorded nor counted as a write). reason and message are borrowed.
 */
static void emit_event(struct gq_reconciler *r, const struct gq_team *t, bool warning,
		       const char *reason, const char *message)
{
	const char *type = warning ? "Warning" : "Normal";
	char now[32], *name, *path, *body;
	struct timespec ts;
	struct gq_err err = {0};
	struct gq_jw w;

	clock_gettime(CLOCK_REALTIME, &ts);
	now_rfc3339(now);
	name = gq_asprintf("%s.%lx%06lx", t->name, (unsigned long)ts.tv_sec,
			   (unsigned long)(ts.tv_nsec / 1000));
	gq_jw_init(&w);
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "apiVersion", "v1");
	gq_jw_kv(&w, "kind", "Event");
	gq_jw_str(&w, "metadata");
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "name", name);
	gq_jw_kv(&w, "namespace", r->event_namespace);
	gq_jw_map_close(&w);
	gq_jw_str(&w, "involvedObject");
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "apiVersion", GQ_API_VERSION);
	gq_jw_kv(&w, "kind", GQ_KIND);
	gq_jw_kv(&w, "name", t->name);
	gq_jw_kv(&w, "uid", t->uid ? t->uid : "");
	gq_jw_map_close(&w);
	gq_jw_kv(&w, "reason", reason);
	gq_jw_kv(&w, "message", message);
	gq_jw_kv(&w, "type", type);
	gq_jw_str(&w, "source");
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "component", GQ_COMPONENT);
	gq_jw_map_close(&w);
	gq_jw_kv(&w, "reportingComponent", GQ_COMPONENT);
	gq_jw_kv(&w, "reportingInstance", r->instance);
	gq_jw_kv(&w, "firstTimestamp", now);
	gq_jw_kv(&w, "lastTimestamp", now);
	gq_jw_str(&w, "count");
	gq_jw_int(&w, 1);
	gq_jw_map_close(&w);
	body = gq_jw_finish(&w);
	path = gq_asprintf("/api/v1/namespaces/%s/events", r->event_namespace);
	if (body == NULL)
		gq_warn("could not post event | team=%s reason=%s error=%s", t->name, reason,
			"the message is not valid UTF-8");
	else if (gq_kclient_create(r->kc, path, body, NULL, &err) != GQ_OK)
		gq_warn("could not post event | team=%s reason=%s error=%s", t->name, reason,
			err.msg);
	gq_info("event | team=%s type=%s reason=%s message=%s", t->name, type, reason, message);
	free(path);
	free(body);
	free(name);
}

/* qsort comparator over an array of C strings. */
static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * gq_informer_foreach callback over the nodes (read lock held): adds each
 * nvidia.com/ resource name of status.allocatable to s->gpu_res once (copies,
 * owned by s; snap_take sorts them). Returns 0.
 */
static int obs_node_cb(void *arg, const char *key, yajl_val obj)
{
	struct gq_obs *s = arg;
	yajl_val a = gq_json_obj(obj, GQ_PATH("status", "allocatable"));

	(void)key;
	for (size_t i = 0; a && i < a->u.object.len; i++) {
		const char *r = a->u.object.keys[i];
		bool dup = false;

		if (strncmp(r, GQ_NVIDIA_PREFIX, strlen(GQ_NVIDIA_PREFIX)) != 0)
			continue;
		for (size_t j = 0; j < s->n_gpu_res && !dup; j++)
			dup = strcmp(s->gpu_res[j], r) == 0;
		if (dup)
			continue;
		s->gpu_res = gq_realloc(s->gpu_res, (s->n_gpu_res + 1) * sizeof(char *));
		s->gpu_res[s->n_gpu_res++] = gq_strdup(r);
	}
	return 0;
}

/* ---------------------------------------------------------- observation */

/* Appends decoded allocation t (moved) to o->teams; o->self is set once
 * all are in (the array moves as it grows). */
static void obs_push_team(struct gq_obs *o, struct gq_team *t)
{
	o->teams = gq_realloc(o->teams, (o->n_teams + 1) * sizeof(*o->teams));
	o->teams[o->n_teams++] = *t;
	memset(t, 0, sizeof(*t));
}

/* The raw deletion state and finalizers of the observed allocation obj,
 * when it cannot be decoded (its pass still has to release it). */
static void obs_raw(struct gq_obs *o, yajl_val obj)
{
	yajl_val fins = gq_json_get(gq_json_get(obj, "metadata"), "finalizers");

	o->raw_deleting = gq_json_str(obj, GQ_PATH("metadata", "deletionTimestamp")) != NULL;
	if (!YAJL_IS_ARRAY(fins))
		return;
	o->raw_finalizers = gq_calloc(fins->u.array.len + 1, sizeof(char *));
	for (size_t i = 0; i < fins->u.array.len; i++)
		o->raw_finalizers[o->n_raw_finalizers++] = gq_strdup(
		    YAJL_IS_STRING(fins->u.array.values[i]) ? fins->u.array.values[i]->u.string
							    : "");
}

/* The observed allocation itself (teams read lock): whether it exists, its
 * status, and decoded into *self (self_ok) or why it cannot be. */
static void obs_self(struct gq_reconciler *r, struct gq_obs *o, struct gq_team *self, bool *self_ok)
{
	struct gq_err err = {0};
	yajl_val obj;

	gq_informer_rdlock(r->teams);
	obj = gq_informer_get(r->teams, o->name);
	o->exists = obj != NULL;
	if (obj) {
		o->prev_status = gq_json_clone(gq_json_obj(obj, GQ_PATH("status")));
		*self_ok = gq_team_decode(self, obj, &err) == GQ_OK;
		if (!*self_ok) {
			o->self_error = gq_strdup(err.msg);
			obs_raw(o, obj);
		}
	}
	gq_informer_unlock(r->teams);
}

/* A label list borrowing the string members of a metadata.labels object
 * (at most cap of them, into items). */
static struct gq_label_list borrowed_labels(yajl_val obj, struct gq_label *items, size_t cap)
{
	struct gq_label_list l = {items, 0};

	for (size_t i = 0; obj && YAJL_IS_OBJECT(obj) && i < obj->u.object.len && l.n < cap; i++)
		if (YAJL_IS_STRING(obj->u.object.values[i]))
			items[l.n++] = (struct gq_label){(char *)obj->u.object.keys[i],
							 obj->u.object.values[i]->u.string};
	return l;
}

struct obs_ns_ctx {
	struct gq_obs *o;
	const struct gq_team *self; /* NULL: only namespaces labelled for o->name */
};

/*
 * gq_informer_foreach callback over the namespaces (read lock held): appends
 * to o->ns the name, labels and terminating state of every namespace the
 * pass can concern: labelled for the team, or claimed by it (listed, or
 * matching its selector). Returns 0.
 */
static int obs_ns_cb(void *arg, const char *key, yajl_val obj)
{
	struct obs_ns_ctx *c = arg;
	struct gq_obs *o = c->o;
	yajl_val lv = gq_json_obj(obj, GQ_PATH("metadata", "labels"));
	const char *team = gq_json_str(lv, GQ_PATH(GQ_LABEL_TEAM));
	bool keep = team && strcmp(team, o->name) == 0;
	struct gq_obs_ns *n;

	for (size_t i = 0; !keep && c->self && i < c->self->n_namespaces; i++)
		keep = strcmp(c->self->namespaces[i], key) == 0;
	if (!keep && c->self && c->self->namespace_selector.present) {
		struct gq_label items[64], *many = NULL;
		size_t cap = lv && YAJL_IS_OBJECT(lv) ? lv->u.object.len : 0;
		struct gq_label_list l;

		if (cap > GQ_ARRAY_LEN(items))
			many = gq_calloc(cap, sizeof(*many));
		l = borrowed_labels(lv, many ? many : items, many ? cap : GQ_ARRAY_LEN(items));
		keep = gq_selector_matches(&c->self->namespace_selector, &l);
		free(many);
	}
	if (!keep)
		return 0;
	o->ns = gq_realloc(o->ns, (o->n_ns + 1) * sizeof(*o->ns));
	n = &o->ns[o->n_ns++];
	n->name = gq_strdup(key);
	labels_copy(&n->labels, lv);
	n->terminating = gq_json_str(obj, GQ_PATH("metadata", "deletionTimestamp")) != NULL;
	return 0;
}

/* Whether raw allocation obj may claim one of the observed namespaces: it
 * has a namespace selector, or lists one of them; or one of the nodes of
 * the observed team's pool (self_sharing: the observed team has sharing):
 * it has sharing too. */
static bool may_claim(const struct gq_obs *o, yajl_val obj, bool self_sharing)
{
	yajl_val spec = gq_json_get(obj, "spec");
	yajl_val list = gq_json_get(spec, "namespaces");

	if (gq_json_get(spec, "namespaceSelector") != NULL)
		return true;
	if (self_sharing && gq_json_get(spec, "sharing") != NULL)
		return true;
	for (size_t i = 0; list && YAJL_IS_ARRAY(list) && i < list->u.array.len; i++) {
		yajl_val v = list->u.array.values[i];

		for (size_t j = 0; YAJL_IS_STRING(v) && j < o->n_ns; j++)
			if (strcmp(v->u.string, o->ns[j].name) == 0)
				return true;
	}
	return false;
}

/* gq_informer_foreach callback over the allocations (teams read lock held):
 * decodes, besides the observed one, those that may claim one of its
 * namespaces (the namespace plan decides between them); the others cannot
 * change its plan and are not decoded. An undecodable one is skipped.
 * Returns 0. */
static int obs_other_cb(void *arg, const char *key, yajl_val obj)
{
	struct obs_ns_ctx *c = arg;
	struct gq_obs *o = c->o;
	struct gq_team t = {0};
	struct gq_err err = {0};

	if (strcmp(key, o->name) == 0 || !may_claim(o, obj, c->self->sharing.present))
		return 0;
	if (gq_team_decode(&t, obj, &err) == GQ_OK)
		obs_push_team(o, &t);
	else
		gq_team_free(&t);
	return 0;
}

/*
 * The allocations and namespaces (one read lock at a time): the observed
 * allocation, the namespaces it can concern, and the other allocations
 * that may claim one of them. Without a decodable allocation, only the
 * namespaces labelled for its name (to release them).
 */
static void obs_teams_namespaces(struct gq_reconciler *r, struct gq_obs *o)
{
	struct gq_team self = {0};
	bool self_ok = false;
	struct obs_ns_ctx c = {o, NULL};

	obs_self(r, o, &self, &self_ok);
	c.self = self_ok ? &self : NULL;
	gq_informer_rdlock(r->namespaces);
	gq_informer_foreach(r->namespaces, obs_ns_cb, &c);
	gq_informer_unlock(r->namespaces);
	if (!self_ok) {
		gq_team_free(&self);
		return;
	}
	gq_informer_rdlock(r->teams);
	gq_informer_foreach(r->teams, obs_other_cb, &c);
	gq_informer_unlock(r->teams);
	obs_push_team(o, &self);
	o->self = &o->teams[o->n_teams - 1];
}

/* Appends a copy of cached object obj (kind, key) to o->objs. */
static void obs_keep(struct gq_obs *o, enum gq_obs_kind kind, const char *key, yajl_val obj)
{
	o->objs = gq_realloc(o->objs, (o->n_objs + 1) * sizeof(*o->objs));
	o->objs[o->n_objs].kind = kind;
	o->objs[o->n_objs].key = gq_strdup(key);
	o->objs[o->n_objs].obj = gq_json_clone(obj);
	o->n_objs++;
}

struct obs_objs_ctx {
	struct gq_obs *o;
	enum gq_obs_kind kind;
	bool by_prefix; /* also objects named "<team>-..." */
};

/* gq_informer_foreach callback (the kind's read lock held): keeps the
 * objects labelled for the team (and, by_prefix, named after it). */
static int obs_objs_cb(void *arg, const char *key, yajl_val obj)
{
	struct obs_objs_ctx *c = arg;
	const char *team = label_of(obj, GQ_LABEL_TEAM);
	size_t n = strlen(c->o->name);

	if ((team && strcmp(team, c->o->name) == 0) ||
	    (c->by_prefix && strncmp(key, c->o->name, n) == 0 && key[n] == '-'))
		obs_keep(c->o, c->kind, key, obj);
	return 0;
}

/* The team's cached objects (each cache under its read lock): its
 * namespaces (those of plan), the quotas, limit ranges and classes
 * labelled for it, and the classes named after it. */
static void obs_objects(struct gq_reconciler *r, struct gq_obs *o, const struct gq_plan *plan)
{
	struct {
		struct gq_informer *inf;
		enum gq_obs_kind kind;
		bool by_prefix;
	} kinds[] = {{r->quotas, GQ_OBS_QUOTA, false},
		     {r->limits, GQ_OBS_LIMIT, false},
		     {r->classes, GQ_OBS_CLASS, true}};

	gq_informer_rdlock(r->namespaces);
	for (size_t i = 0; i < plan->n; i++) {
		yajl_val ns = gq_informer_get(r->namespaces, plan->ns[i].name);

		if (ns)
			obs_keep(o, GQ_OBS_NAMESPACE, plan->ns[i].name, ns);
	}
	gq_informer_unlock(r->namespaces);
	for (size_t k = 0; k < GQ_ARRAY_LEN(kinds); k++) {
		struct obs_objs_ctx c = {o, kinds[k].kind, kinds[k].by_prefix};

		gq_informer_rdlock(kinds[k].inf);
		gq_informer_foreach(kinds[k].inf, obs_objs_cb, &c);
		gq_informer_unlock(kinds[k].inf);
	}
}

static int64_t acct_now_ms(struct gq_reconciler *r);

/*
 * The accounting observation of a team with a budget (a pod cache needed):
 * the GPU pods of its READY and TERMINATING namespaces (terminating ones
 * too: their pods must be accounted and released, or the namespace could
 * never finish deleting), their nodes, and the leader's registry ledger.
 * Accounting's now never passes what the pod cache is known to be complete
 * for (informer.h), in whole seconds: pod start and finish times have
 * one-second resolution, so a running pod is never counted past the second
 * its finishedAt will show.
 */
static void obs_acct(struct gq_reconciler *r, struct gq_obs *o, const struct gq_plan *plan)
{
	const char **ns;
	size_t n = 0;

	if (!o->self->budget.present || r->pods == NULL)
		return;
	ns = gq_calloc(plan->n + 1, sizeof(char *));
	for (size_t i = 0; i < plan->n; i++)
		if (plan->ns[i].state == GQ_NS_READY || plan->ns[i].state == GQ_NS_TERMINATING)
			ns[n++] = plan->ns[i].name;
	gq_acct_observe(&o->acct, o->lead ? r->budgets : NULL, r->pods, r->nodes, o->self, ns, n);
	free(ns);
	o->has_acct_obs = true;
	o->acct_now_ms = acct_now_ms(r);
}

/* The nodes one pass of the pool reads: collected under the nodes' read
 * lock. */
struct share_collect {
	struct gq_obs *o;
	const struct gq_sharing *s; /* the team's, or NULL */
};

/* The MIG profiles allocatable a offers (a non-zero nvidia.com/mig-<p>)
 * into n. */
static void share_node_profiles(struct gq_share_node *n, yajl_val a)
{
	size_t plen = strlen(GQ_NVIDIA_MIG_PREFIX);

	for (size_t i = 0; a && YAJL_IS_OBJECT(a) && i < a->u.object.len; i++) {
		yajl_val v = a->u.object.values[i];

		if (strcmp(a->u.object.keys[i], GQ_NVIDIA_GPU) == 0)
			n->whole_gpus = YAJL_IS_STRING(v) && strcmp(v->u.string, "0") != 0;
		if (strncmp(a->u.object.keys[i], GQ_NVIDIA_MIG_PREFIX, plen) != 0 ||
		    !YAJL_IS_STRING(v) || strcmp(v->u.string, "0") == 0)
			continue;
		n->mig_profiles =
		    gq_realloc(n->mig_profiles, (n->n_mig_profiles + 1) * sizeof(char *));
		n->mig_profiles[n->n_mig_profiles++] = gq_strdup(a->u.object.keys[i] + plen);
	}
}

static char *opt_str(yajl_val o, const char *k)
{
	yajl_val v = gq_json_get(o, k);

	return YAJL_IS_STRING(v) ? gq_strdup(v->u.string) : NULL;
}

/* spec.taints (array t, maybe NULL) into n. */
static void share_node_taints(struct gq_share_node *n, yajl_val t)
{
	if (!YAJL_IS_ARRAY(t) || t->u.array.len == 0)
		return;
	n->taints = gq_calloc(t->u.array.len, sizeof(*n->taints));
	for (size_t i = 0; i < t->u.array.len; i++) {
		yajl_val e = t->u.array.values[i];

		if (!YAJL_IS_OBJECT(e))
			continue;
		n->taints[n->n_taints++] = (struct gq_share_taint){
		    opt_str(e, "key"), opt_str(e, "value"), opt_str(e, "effect"),
		    opt_str(e, "timeAdded")};
	}
}

/* Copies node obj into a struct gq_share_node. */
static void share_node_copy(struct gq_share_node *n, const char *key, yajl_val obj)
{
	yajl_val ann = gq_json_obj(obj, GQ_PATH("metadata", "annotations"));
	const char *v;

	memset(n, 0, sizeof(*n));
	n->name = gq_strdup(key);
	labels_copy(&n->labels, gq_json_obj(obj, GQ_PATH("metadata", "labels")));
	if ((v = gq_json_str(ann, GQ_PATH(GQ_ANN_SHARE_STEP))) != NULL)
		n->step = gq_strdup(v);
	if ((v = gq_json_str(ann, GQ_PATH(GQ_ANN_SHARE_SINCE))) != NULL &&
	    gq_rfc3339_parse(v, &n->since_ms) != GQ_OK)
		n->since_ms = 0;
	n->we_cordoned = gq_json_str(ann, GQ_PATH(GQ_ANN_SHARE_CORDONED)) != NULL;
	n->dp_ours = gq_json_str(ann, GQ_PATH(GQ_ANN_SHARE_DP)) != NULL;
	if ((v = gq_json_str(ann, GQ_PATH(GQ_ANN_SHARE_ATTEMPTS))) != NULL)
		n->attempts = atoi(v) < 0 ? 0 : atoi(v) > 100 ? 100 : atoi(v);
	n->unschedulable = YAJL_IS_TRUE(gq_json_get(gq_json_get(obj, "spec"), "unschedulable"));
	share_node_taints(n, gq_json_get(gq_json_get(obj, "spec"), "taints"));
	n->resource_version = opt_str(gq_json_get(obj, "metadata"), "resourceVersion");
	share_node_profiles(n, gq_json_obj(obj, GQ_PATH("status", "allocatable")));
}

/* gq_informer_foreach callback over the nodes (read lock held): keeps the
 * nodes the team's sharing selects or that carry its pool label. */
static int share_node_cb(void *arg, const char *key, yajl_val obj)
{
	struct share_collect *c = arg;
	struct gq_obs *o = c->o;
	struct gq_share_node n;
	const char *pool = gq_json_str(obj, GQ_PATH("metadata", "labels", GQ_LABEL_POOL));

	/* Most teams have no sharing: only a node still labelled for the team
	 * is theirs, and no other node is copied. */
	if ((c->s == NULL || !c->s->present) && (pool == NULL || strcmp(pool, o->name) != 0))
		return 0;
	share_node_copy(&n, key, obj);
	if (!gq_share_selects(c->s, &n) &&
	    !(gq_share_label(&n, GQ_LABEL_POOL) &&
	      strcmp(gq_share_label(&n, GQ_LABEL_POOL), o->name) == 0)) {
		gq_share_node_free(&n);
		return 0;
	}
	o->share_nodes = gq_realloc(o->share_nodes, (o->n_share_nodes + 1) * sizeof(n));
	o->share_nodes[o->n_share_nodes++] = n;
	return 0;
}

/* gq_informer_foreach_conv callback over the pods (read lock held): adds
 * each GPU pod that has not ended to its draining node's list. */
static int share_pod_cb(void *arg, const char *key, const void *conv)
{
	const struct gq_pod *pod = conv;
	struct gq_obs *o = arg;

	(void)key;
	if (pod->node == NULL || !pod->gpu || pod->terminal)
		return 0;
	for (size_t i = 0; i < o->n_share_nodes; i++) {
		struct gq_share_node *n = &o->share_nodes[i];

		if (gq_share_needs_pods(n) && strcmp(n->name, pod->node) == 0) {
			n->gpu_pods = gq_realloc(n->gpu_pods, (n->n_gpu_pods + 1) * sizeof(char *));
			n->gpu_pods[n->n_gpu_pods++] = gq_strdup(pod->key);
		}
	}
	return 0;
}

static int share_node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gq_share_node *)a)->name,
		      ((const struct gq_share_node *)b)->name);
}

/* gq_informer_foreach callback over the ResourceSlices (read lock held):
 * marks the pool node whose GPUs the slice publishes as DRA-managed. The
 * pool's nodes are sorted by name. */
static int share_slice_cb(void *arg, const char *key, yajl_val obj)
{
	struct gq_obs *o = arg;
	const char *node = gq_share_slice_node(obj);
	struct gq_share_node probe = {.name = (char *)node}, *n;

	(void)key;
	if (node == NULL)
		return 0;
	n = bsearch(&probe, o->share_nodes, o->n_share_nodes, sizeof(*o->share_nodes),
		    share_node_cmp);
	if (n != NULL)
		n->dra = true;
	return 0;
}

/* The pool's nodes into o (o->self may be NULL: then only the nodes still
 * labelled for the team, to release), which of them DRA manages, and the
 * GPU pods of those draining. */
static void obs_share(struct gq_reconciler *r, struct gq_obs *o)
{
	struct share_collect c = {o, o->self && !o->self->deleting ? &o->self->sharing : NULL};
	bool draining = false;

	gq_informer_rdlock(r->nodes);
	gq_informer_foreach(r->nodes, share_node_cb, &c);
	gq_informer_unlock(r->nodes);
	if (o->n_share_nodes > 1)
		qsort(o->share_nodes, o->n_share_nodes, sizeof(*o->share_nodes), share_node_cmp);
	if (o->n_share_nodes > 0 && r->slices) {
		gq_informer_rdlock(r->slices);
		gq_informer_foreach(r->slices, share_slice_cb, o);
		gq_informer_unlock(r->slices);
	}
	for (size_t i = 0; i < o->n_share_nodes; i++)
		draining |= gq_share_needs_pods(&o->share_nodes[i]);
	if (draining && r->pods) {
		gq_informer_rdlock(r->pods);
		gq_informer_foreach_conv(r->pods, share_pod_cb, o);
		gq_informer_unlock(r->pods);
	}
	o->share_pending_timeout_ms = r->share_pending_timeout_ms > 0 ? r->share_pending_timeout_ms
								      : 600000;
}

/*
 * Fills the zeroed *o for allocation name (copied) from the caches and the
 * registry, one read lock at a time; the caller frees it with gq_obs_free.
 * Which namespaces' objects and pods to copy follows the namespace plan
 * (gq_plan_namespaces, pure), which the planner makes again from the same
 * observation.
 */
static void observe(struct gq_reconciler *r, const char *name, bool lead, struct gq_obs *o)
{
	o->name = gq_strdup(name);
	o->lead = lead;
	o->write_interval_ms = r->ledger_write_interval_ms;
	now_rfc3339(o->now);
	obs_teams_namespaces(r, o);
	gq_informer_rdlock(r->nodes);
	gq_informer_foreach(r->nodes, obs_node_cb, o);
	gq_informer_unlock(r->nodes);
	if (o->n_gpu_res > 1)
		qsort(o->gpu_res, o->n_gpu_res, sizeof(char *), str_cmp);
	o->now_ms = wall_ms();
	obs_share(r, o);
	if (o->self && !o->self->deleting) {
		struct gq_ns_info *infos = gq_calloc(o->n_ns + 1, sizeof(*infos));
		struct gq_plan plan = {0};

		for (size_t i = 0; i < o->n_ns; i++)
			infos[i] = (struct gq_ns_info){o->ns[i].name, o->ns[i].labels,
						       o->ns[i].terminating};
		gq_plan_namespaces(&plan, o->self, o->teams, o->n_teams, infos, o->n_ns);
		obs_objects(r, o, &plan);
		obs_acct(r, o, &plan);
		gq_plan_free(&plan);
		free(infos);
	}
}

/* ------------------------------------------------------------- executor */

/* Sends write w (its body serialised here, once). Counts it in res and in
 * r's counters, logs its note once it succeeded, records a failure. A
 * RECREATE applies only after its delete succeeded. Returns the client's
 * code (a 404 where the kind allows it counts as success; so do a refused
 * eviction (429) and a merge patch whose resourceVersion went stale (409),
 * both planned again by the next pass). */
static int exec_one(struct gq_reconciler *r, struct exec_result *res, const struct gq_write *w)
{
	struct gq_err err = {0};
	char *body = w->body ? gq_json_dump(w->body) : NULL;
	int rc = GQ_EINVAL;

	if (w->body && body == NULL) {
		gq_err_set(&err, GQ_EINVAL, "the body cannot be written as JSON");
	} else if (w->kind == GQ_WRITE_DELETE || w->kind == GQ_WRITE_RECREATE) {
		rc = gq_kclient_delete(r->kc, w->path, &err);
		atomic_fetch_add(&r->deletes, 1);
		if (rc == GQ_ENOTFOUND)
			rc = GQ_OK;
		if (rc == GQ_OK && w->kind == GQ_WRITE_RECREATE) {
			res->writes++;
			rc = gq_kclient_apply(r->kc, w->path, GQ_FIELD_MANAGER, body, NULL, &err);
			atomic_fetch_add(&r->applies, 1);
		}
	} else if (w->kind == GQ_WRITE_EVICT) {
		rc = gq_kclient_create(r->kc, w->path, body, NULL, &err);
		res->evictions++;
		if (rc == GQ_ENOTFOUND) {
			rc = GQ_OK;
		} else if (rc != GQ_OK && err.code == 429) {
			gq_info("eviction refused (a PodDisruptionBudget); asked again later | "
				"path=%s",
				w->path);
			rc = GQ_OK;
			free(body);
			return rc;
		}
	} else if (w->kind == GQ_WRITE_APPLY) {
		rc = gq_kclient_apply(r->kc, w->path, GQ_FIELD_MANAGER, body, NULL, &err);
		atomic_fetch_add(&r->applies, 1);
	} else {
		rc = gq_kclient_patch(r->kc, w->path,
				      w->kind == GQ_WRITE_MERGE ? "application/merge-patch+json"
								: "application/json-patch+json",
				      body, NULL, &err);
		atomic_fetch_add(&r->applies, 1);
		if (rc == GQ_ENOTFOUND)
			rc = GQ_OK;
		if (rc == GQ_ECONFLICT && w->kind == GQ_WRITE_MERGE) {
			/* A node patch carries the resourceVersion it was
			 * planned from: the node changed meanwhile, and the
			 * next pass plans from the new one. */
			gq_info("object changed since it was read: planned again | path=%s",
				w->path);
			res->writes++;
			free(body);
			return GQ_OK;
		}
	}
	if (w->kind != GQ_WRITE_EVICT)
		res->writes++; /* an eviction is retried, not awaited */
	if (rc != GQ_OK)
		pass_error(res, w->path, &err);
	else if (w->note)
		gq_info("%s", w->note);
	else
		gq_debug("written | path=%s", w->path);
	if (rc == GQ_OK && w->event_reason && res->team)
		emit_event(r, res->team, w->event_warning, w->event_reason,
			   w->note ? w->note : w->event_reason);
	free(body);
	return rc;
}

/* Carries out the n writes w in order (one marked after_ok only when every
 * earlier one succeeded), into res. */
static void exec_writes(struct gq_reconciler *r, struct exec_result *res, const struct gq_write *w,
			size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!w[i].after_ok || res->errors == 0)
			exec_one(r, res, &w[i]);
}

/* Whether this pass may write (leader election; see reconcile.h). Asked once
 * per pass or sweep. */
static bool leading(struct gq_reconciler *r)
{
	return r->may_write == NULL || r->may_write(r->may_write_arg);
}

/* ---------------------------------------------------------- orphan sweep */

struct orphan_ctx {
	struct gq_reconciler *r;
	struct gq_write *w; /* the writes freeing them */
	size_t n;
};

/*
 * Whether namespace ns belongs to a team with a budget (by the caches). Takes
 * the namespaces read lock, then the teams read lock, one at a time; callable
 * while holding the pods read lock.
 */
static bool ns_has_budget_team(struct gq_reconciler *r, const char *ns)
{
	const char *tl;
	char *tn;
	bool team = false;

	gq_informer_rdlock(r->namespaces);
	tl = label_of(gq_informer_get(r->namespaces, ns), GQ_LABEL_TEAM);
	tn = tl ? gq_strdup(tl) : NULL;
	gq_informer_unlock(r->namespaces);
	/* The label may outlive its team (a terminating namespace keeps it):
	 * the team must exist too, and only a team with a budget accounts or
	 * holds pods: one whose budget was removed releases them too. */
	if (tn) {
		gq_informer_rdlock(r->teams);
		team =
		    gq_json_obj(gq_informer_get(r->teams, tn), GQ_PATH("spec", "budget")) != NULL;
		gq_informer_unlock(r->teams);
	}
	free(tn);
	return team;
}

/*
 * gq_informer_foreach callback over the pods (the caller holds the pods read
 * lock): plans into c (owned by c) the writes freeing the pods with our
 * finalizer or budget gate in namespaces of no team with a budget (the team
 * deleted, its budget removed, the namespace moved out): they are accounted
 * and held by no one. Returns 0.
 */
static int orphan_cb(void *arg, const char *key, const void *conv)
{
	struct orphan_ctx *c = arg;
	const struct gq_pod *pod = conv;
	const char *slash = strchr(key, '/');
	char ns[256];

	if (!slash || (pod->finalizer < 0 && pod->gate < 0))
		return 0;
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
	if (ns_has_budget_team(c->r, ns))
		return 0;
	gq_pass_plan_orphan(&c->w, &c->n, key, pod->finalizer, pod->gate);
	return 0;
}

/* See reconcile.h. The pods are collected under the pods read lock; the
 * patches are sent after it is released. */
int gq_reconcile_orphans(struct gq_reconciler *r, struct gq_err *err)
{
	struct orphan_ctx c = {r, NULL, 0};
	struct exec_result res = {0};

	if (r->pods == NULL || !leading(r))
		return GQ_OK;
	gq_informer_rdlock(r->pods);
	gq_informer_foreach_conv(r->pods, orphan_cb, &c);
	gq_informer_unlock(r->pods);
	exec_writes(r, &res, c.w, c.n);
	gq_writes_free(c.w, c.n);
	return res.errors ? gq_err_set(err, GQ_EIO, "%s", res.first_error) : GQ_OK;
}

/* -------------------------------------------------------------- the pass */

/*
 * The status step's I/O: writes the status when the step says so (posting
 * the Events of changed conditions), publishes the figures, and once the
 * ledger in it is durable releases the ended pods' finalizers and records
 * the ledger and its charged records in the registry (p->acct.charged then
 * belongs to the registry). A failed write carrying a ledger counts in
 * r->ledger_write_errors.
 */
static void exec_status(struct gq_reconciler *r, struct exec_result *res, struct gq_pass *p,
			const struct gq_obs *o, struct gq_pass_status *st)
{
	struct gq_acct_result *acct = &p->acct;
	bool persisted = false;

	if (st->doc == NULL) {
		struct gq_err e = {0};

		gq_err_set(&e, GQ_EINVAL, "a condition message is not valid UTF-8");
		pass_error(res, "status", &e);
	} else if (!o->lead) {
		persisted = false; /* a follower writes nothing */
	} else if (st->write) {
		struct gq_write w = {GQ_WRITE_APPLY, NULL, st->doc, false, NULL, NULL, false};
		char *path = gq_asprintf(GQ_GTA_PATH "/%s/status", o->name);

		for (size_t i = 0; i < st->n_events; i++)
			emit_event(r, o->self, st->events[i].warning, st->events[i].reason,
				   st->events[i].message);
		w.path = path;
		persisted = exec_one(r, res, &w) == GQ_OK;
		free(path);
		if (p->has_acct && !persisted)
			atomic_fetch_add(&r->ledger_write_errors, 1);
	} else {
		persisted = true; /* already there */
	}
	if (r->budgets && st->doc) {
		if (!persisted)
			st->figures.accounted_micro = 0; /* counts once persisted */
		gq_registry_set_figures(r->budgets, o->name, &st->figures);
	}
	if (o->lead && p->has_acct && persisted) {
		exec_writes(r, res, st->after, st->n_after);
		gq_registry_put_ledger(r->budgets, o->name, o->self->uid, &acct->ledger,
				       acct->persist_until_ms);
		gq_registry_put_charged(r->budgets, o->name, o->self->uid, acct->charged,
					acct->n_charged);
		acct->charged = NULL;
		acct->n_charged = 0;
	}
}

/* Accounting's now (see obs_acct): what the pod cache is complete for, in
 * whole seconds. */
static int64_t acct_now_ms(struct gq_reconciler *r)
{
	struct timespec ts;
	int64_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = gq_informer_fresh_until_ms(r->pods, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	return now - now % 1000;
}

/*
 * The leader's periodic pass of a settled team with a budget (its last full
 * pass planned and wrote nothing, and no event has come for it since):
 * arithmetic only. The running pods accrue on the ledger in memory
 * (gq_acct_quiet), which the webhook and the metrics read; nothing is
 * copied from the caches but the allocation, nothing is written. Returns
 * whether that was all the pass had to do; false: a full pass follows.
 */
static bool quiet_pass(struct gq_reconciler *r, const char *name, int64_t *requeue_after_ms)
{
	struct gq_team t = {0};
	struct gq_acct_prior pr = {0};
	struct gq_err err = {0};
	struct gq_ledger l;
	yajl_val obj;
	bool ok;

	if (r->budgets == NULL || r->pods == NULL)
		return false;
	gq_informer_rdlock(r->teams);
	obj = gq_informer_get(r->teams, name);
	ok = obj != NULL && gq_team_decode(&t, obj, &err) == GQ_OK;
	gq_informer_unlock(r->teams);
	ok = ok && t.budget.present && !t.deleting &&
	     gq_registry_get_settled(r->budgets, name, t.uid);
	if (ok) {
		gq_acct_prior_load(&pr, r->budgets, &t);
		ok = gq_acct_quiet(&l, &t, &pr, acct_now_ms(r), r->ledger_write_interval_ms) &&
		     gq_registry_advance(r->budgets, name, t.uid, &l);
	}
	if (ok) {
		*requeue_after_ms = r->ledger_interval_ms;
		atomic_fetch_add(&r->quiet_passes, 1);
	}
	gq_charged_free(pr.recs, pr.n_recs);
	gq_team_free(&t);
	return ok;
}

/* Whether a full pass of the leader left the team settled: nothing planned,
 * written or due, for a team with a budget (see quiet_pass). */
static bool pass_settled(const struct gq_obs *o, const struct gq_pass *p,
			 const struct gq_pass_status *st, const struct exec_result *res)
{
	return o->lead && p->has_acct && !p->early && p->n_writes == 0 && !st->write &&
	       p->share.requeue_ms == 0 &&
	       st->n_after == 0 && res->errors == 0 && res->writes == 0;
}

/* See reconcile.h. Runs on a worker thread; r is shared by all workers and
 * only its atomic counters are written. */
int gq_reconcile_team(struct gq_reconciler *r, const char *name, bool touched,
		      int64_t *requeue_after_ms, struct gq_err *err)
{
	struct gq_obs o = {0};
	struct gq_pass p = {0};
	struct gq_pass_status st = {0};
	struct exec_result res = {0};
	bool settled = false;
	int rc;

	*requeue_after_ms = 0;
	atomic_fetch_add(&r->reconciles, 1);
	if (!touched && leading(r) && quiet_pass(r, name, requeue_after_ms))
		return GQ_OK;
	observe(r, name, leading(r), &o);
	rc = gq_pass_plan(&p, &o, err);
	if (p.forget && r->budgets)
		gq_registry_forget(r->budgets, name);
	if (p.publish && r->budgets)
		gq_registry_set_admission(r->budgets, name, p.adm.ns, p.adm.n_ns, &p.adm.team);
	if (rc != GQ_OK)
		goto out;
	res.team = o.self;
	exec_writes(r, &res, p.writes, p.n_writes);
	if (!p.early && res.writes > 0 && res.errors == 0) {
		/* Let the watches bring the new state in, then report it. */
		*requeue_after_ms = 500;
		goto out;
	}
	if (!p.early) {
		gq_pass_status(&st, &p, &o,
			       &(struct gq_pass_outcome){res.writes, res.errors, res.first_error},
			       r->ledger_interval_ms);
		exec_status(r, &res, &p, &o, &st);
		*requeue_after_ms = st.requeue_ms;
		settled = pass_settled(&o, &p, &st, &res);
	}
	if (res.errors)
		rc = gq_err_set(err, GQ_EIO, "%s", res.first_error);

out:
	if (rc != GQ_OK)
		atomic_fetch_add(&r->failures, 1);
	if (r->budgets && o.self)
		gq_registry_set_settled(r->budgets, name, o.self->uid, settled && rc == GQ_OK);
	gq_pass_status_free(&st);
	gq_pass_free(&p);
	gq_obs_free(&o);
	return rc;
}
