/*
 * reconcile.c - one GPUTeamAllocation reconcile. Snapshot the caches (under
 * their read locks, copying what is needed), compute the desired state with
 * the pure core, then converge with as few writes as possible:
 *   - an object is applied only when the cache shows it differs;
 *   - owned objects that are no longer desired are deleted;
 *   - namespace labels are removed when a namespace leaves the team;
 *   - status is applied only when it differs from the cached status.
 */
#include "reconcile.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounting.h"
#include "buf.h"
#include "conditions.h"
#include "desired.h"
#include "jsonw.h"
#include "log.h"
#include "json.h"
#include "plan.h"
#include "spec.h"
#include "rfc3339.h"

/* A snapshot of one namespace. */
struct snap_ns {
	char *name;
	struct gq_label_list labels;
	bool terminating;
};

/* Everything one pass needs, copied out of the caches. */
struct snap {
	struct gq_team *teams; /* all decodable allocations */
	size_t n_teams;
	struct gq_team *self; /* points into teams */
	const char *want;     /* the team being reconciled */
	char *self_error;     /* why it could not be decoded, or NULL */
	yajl_val prev_status; /* clone of self's status */
	struct snap_ns *ns;
	size_t n_ns;
	char **gpu_res; /* nvidia.com resources seen on nodes, sorted */
	size_t n_gpu_res;
};

/* Outcome of the writes of one pass. */
struct pass {
	int writes;
	int errors;
	char first_error[1024];
	char **class_conflicts;
	size_t n_class_conflicts;
};

/* Writes the current UTC time as RFC 3339 in whole seconds
 * ("2026-01-02T03:04:05Z") into buf. */
static void now_rfc3339(char buf[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
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

/* Frees the keys, values and array of a list from labels_copy (the struct
 * itself is the caller's, and is not zeroed). */
static void labels_free(struct gq_label_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
}

/* obj's metadata.labels[key], or NULL. Borrowed from obj. */
static const char *label_of(yajl_val obj, const char *key)
{
	return gq_json_str(obj, GQ_PATH("metadata", "labels", key));
}

/*
 * Frees everything *s owns (decoded teams, the status clone, the decode
 * error, namespaces, GPU resource names) and zeroes it. s->self points into
 * s->teams and s->want is borrowed: neither is freed separately.
 */
static void snap_free(struct snap *s)
{
	for (size_t i = 0; i < s->n_teams; i++)
		gq_team_free(&s->teams[i]);
	free(s->teams);
	yajl_tree_free(s->prev_status);
	free(s->self_error);
	for (size_t i = 0; i < s->n_ns; i++) {
		free(s->ns[i].name);
		labels_free(&s->ns[i].labels);
	}
	free(s->ns);
	for (size_t i = 0; i < s->n_gpu_res; i++)
		free(s->gpu_res[i]);
	free(s->gpu_res);
	memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------- snapshot */

/*
 * gq_informer_foreach callback over the allocations (the caller holds the
 * teams read lock): decodes obj and appends it to s->teams (owned by s). An
 * undecodable allocation is skipped; when it is the one being reconciled
 * (s->want), its decode error is kept in s->self_error. Returns 0.
 */
static int snap_team_cb(void *arg, const char *key, yajl_val obj)
{
	struct snap *s = arg;
	struct gq_team t = {0};
	struct gq_err err = {0};

	if (gq_team_decode(&t, obj, &err) != GQ_OK) {
		if (strcmp(key, s->want) == 0)
			s->self_error = gq_strdup(err.msg);
		return 0;
	}
	s->teams = gq_realloc(s->teams, (s->n_teams + 1) * sizeof(*s->teams));
	s->teams[s->n_teams++] = t;
	return 0;
}

/*
 * gq_informer_foreach callback over the namespaces (read lock held): appends
 * a copy of the namespace's name and labels, and whether it is terminating,
 * to s->ns (owned by s). Returns 0.
 */
static int snap_ns_cb(void *arg, const char *key, yajl_val obj)
{
	struct snap *s = arg;
	struct snap_ns *n;

	s->ns = gq_realloc(s->ns, (s->n_ns + 1) * sizeof(*s->ns));
	n = &s->ns[s->n_ns++];
	n->name = gq_strdup(key);
	labels_copy(&n->labels, gq_json_obj(obj, GQ_PATH("metadata", "labels")));
	n->terminating = gq_json_str(obj, GQ_PATH("metadata", "deletionTimestamp")) != NULL;
	return 0;
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
static int snap_node_cb(void *arg, const char *key, yajl_val obj)
{
	struct snap *s = arg;
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

/*
 * Fills the zeroed *s from the caches, holding one read lock at a time: every
 * decodable allocation, a clone of the status of allocation `name`
 * (s->prev_status), the namespaces, and the GPU resources nodes offer. name
 * is borrowed as s->want and must outlive s. The caller frees *s with
 * snap_free whatever the result. Returns GQ_OK, or GQ_ENOTFOUND when the
 * allocation is not in the cache or cannot be decoded (s->self is then NULL,
 * s->self_error says why in the second case; s->teams may still hold the
 * others).
 */
static int snap_take(struct gq_reconciler *r, const char *name, struct snap *s)
{
	yajl_val obj;

	s->want = name;
	gq_informer_rdlock(r->teams);
	gq_informer_foreach(r->teams, snap_team_cb, s);
	obj = gq_informer_get(r->teams, name);
	if (obj)
		s->prev_status = gq_json_clone(gq_json_obj(obj, GQ_PATH("status")));
	gq_informer_unlock(r->teams);
	for (size_t i = 0; i < s->n_teams; i++)
		if (strcmp(s->teams[i].name, name) == 0)
			s->self = &s->teams[i];

	gq_informer_rdlock(r->namespaces);
	gq_informer_foreach(r->namespaces, snap_ns_cb, s);
	gq_informer_unlock(r->namespaces);

	gq_informer_rdlock(r->nodes);
	gq_informer_foreach(r->nodes, snap_node_cb, s);
	gq_informer_unlock(r->nodes);
	if (s->n_gpu_res > 1)
		qsort(s->gpu_res, s->n_gpu_res, sizeof(char *), str_cmp);
	return obj && s->self ? GQ_OK : GQ_ENOTFOUND;
}

/* ---------------------------------------------------------------- writes */

/*
 * Records a failed write of the pass: counts it, logs it, and keeps the first
 * one as "what: message" in p->first_error (trimmed to valid UTF-8, as it may
 * become a condition message). what and err are borrowed.
 */
static void pass_error(struct pass *p, const char *what, const struct gq_err *err)
{
	p->errors++;
	gq_warn("write failed | what=%s error=%s", what, err->msg);
	if (p->first_error[0] == '\0') {
		snprintf(p->first_error, sizeof(p->first_error), "%.400s: %.500s", what, err->msg);
		gq_utf8_trim(p->first_error); /* it may become a condition message */
	}
}

/* Server-side applies body to path with our field manager. Counts a write in
 * p and r->applies and records a failure in p. Returns the client's code. */
static int do_apply(struct gq_reconciler *r, struct pass *p, const char *path, const char *body)
{
	struct gq_err err = {0};
	int rc = gq_kclient_apply(r->kc, path, GQ_FIELD_MANAGER, body, NULL, &err);

	p->writes++;
	atomic_fetch_add(&r->applies, 1);
	if (rc != GQ_OK)
		pass_error(p, path, &err);
	else
		gq_debug("applied | path=%s", path);
	return rc;
}

/* Deletes path. Counts a write in p and r->deletes. A missing object counts
 * as deleted (GQ_OK); any other failure is recorded in p and returned. */
static int do_delete(struct gq_reconciler *r, struct pass *p, const char *path)
{
	struct gq_err err = {0};
	int rc = gq_kclient_delete(r->kc, path, &err);

	p->writes++;
	atomic_fetch_add(&r->deletes, 1);
	if (rc == GQ_ENOTFOUND)
		rc = GQ_OK;
	if (rc != GQ_OK)
		pass_error(p, path, &err);
	else
		gq_info("deleted | path=%s", path);
	return rc;
}

/*
 * Removes our team label from namespace ns (merge patch: works whoever set
 * it). Counts a write in p and r->applies; a missing namespace is not an
 * error, any other failure is recorded in p.
 */
static void ns_unlabel(struct gq_reconciler *r, struct pass *p, const char *ns)
{
	struct gq_err err = {0};
	char *path = gq_asprintf("/api/v1/namespaces/%s", ns);
	int rc = gq_kclient_patch(r->kc, path, "application/merge-patch+json",
				  "{\"metadata\":{\"labels\":{\"" GQ_LABEL_TEAM "\":null}}}", NULL,
				  &err);

	p->writes++;
	atomic_fetch_add(&r->applies, 1);
	if (rc != GQ_OK && rc != GQ_ENOTFOUND)
		pass_error(p, path, &err);
	else
		gq_info("namespace left team | namespace=%s", ns);
	free(path);
}

/*
 * Posts a Kubernetes Event about allocation t in r->event_namespace, named
 * after the team and the current time (best effort: a failure is logged, not
 * recorded in p nor counted as a write). reason and message are borrowed.
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

/* --------------------------------------------------------------- helpers */

/* The cache of objects of kind: ResourceQuota, LimitRange or PriorityClass;
 * any other kind (Namespace) gets the namespaces cache. Borrowed. */
static struct gq_informer *informer_for(struct gq_reconciler *r, const char *kind)
{
	if (strcmp(kind, "ResourceQuota") == 0)
		return r->quotas;
	if (strcmp(kind, "LimitRange") == 0)
		return r->limits;
	if (strcmp(kind, "PriorityClass") == 0)
		return r->classes;
	return r->namespaces;
}

/* The informer key of desired object d: "ns/name", or "name" when it is
 * cluster-scoped. Caller frees. */
static char *cache_key(const struct gq_desired *d)
{
	return d->ns[0] ? gq_asprintf("%s/%s", d->ns, d->name) : gq_strdup(d->name);
}

/* Whether dl holds an object of kind whose cache key is key. */
static bool desired_has(const struct gq_desired_list *dl, const char *kind, const char *key)
{
	for (size_t i = 0; i < dl->n; i++) {
		char *k;
		bool eq;

		if (strcmp(dl->items[i].kind, kind) != 0)
			continue;
		k = cache_key(&dl->items[i]);
		eq = strcmp(k, key) == 0;
		free(k);
		if (eq)
			return true;
	}
	return false;
}

/* Whether allocation t carries our cleanup finalizer (GQ_FINALIZER). */
static bool has_finalizer(const struct gq_team *t)
{
	for (size_t i = 0; i < t->n_finalizers; i++)
		if (strcmp(t->finalizers[i], GQ_FINALIZER) == 0)
			return true;
	return false;
}

/* A JSON patch adding finalizer name to metadata.finalizers, which already
 * exists (has_list) or not. Caller frees. */
static char *patch_add_finalizer(const char *name, bool has_list)
{
	return has_list ? gq_asprintf("[{\"op\":\"add\",\"path\":\"/metadata/finalizers/-\","
				      "\"value\":\"%s\"}]",
				      name)
			: gq_asprintf("[{\"op\":\"add\",\"path\":\"/metadata/finalizers\","
				      "\"value\":[\"%s\"]}]",
				      name);
}

/*
 * A JSON patch removing list[index], guarded by a test that
 * list[index]<field> still equals value (the list may have changed since our
 * snapshot: then the patch fails with 422 and is retried). The strings are
 * inserted unescaped (callers pass constants). Caller frees.
 */
static char *patch_test_remove(const char *list, size_t index, const char *field, const char *value)
{
	return gq_asprintf("[{\"op\":\"test\",\"path\":\"%s/%zu%s\",\"value\":\"%s\"},"
			   "{\"op\":\"remove\",\"path\":\"%s/%zu\"}]",
			   list, index, field, value, list, index);
}

/*
 * Sends JSON patch body to path. Counts a write in p and r->applies. A
 * missing object (GQ_ENOTFOUND, still returned) is not recorded as an error
 * in p; any other failure is. Returns the client's code.
 */
static int json_patch(struct gq_reconciler *r, struct pass *p, const char *path, const char *body)
{
	struct gq_err err = {0};
	int rc = gq_kclient_patch(r->kc, path, "application/json-patch+json", body, NULL, &err);

	p->writes++;
	atomic_fetch_add(&r->applies, 1);
	if (rc != GQ_OK && rc != GQ_ENOTFOUND)
		pass_error(p, path, &err);
	return rc;
}

/*
 * Adds (on) or removes our finalizer on allocation t with a JSON patch. Never
 * server-side apply here: an apply to an allocation that was deleted
 * meanwhile would create it again. The remove carries a test of the element,
 * so a list changed since our snapshot fails (422) and is retried instead of
 * removing another controller's finalizer. The add is sent unconditionally
 * (the caller checks has_finalizer); a remove of an absent finalizer sends
 * nothing. Writes are counted and recorded in p.
 */
static void set_finalizer(struct gq_reconciler *r, struct pass *p, const struct gq_team *t, bool on)
{
	char *path = gq_asprintf(GQ_GTA_PATH "/%s", t->name);
	char *body = NULL;

	if (on) {
		body = patch_add_finalizer(GQ_FINALIZER, t->n_finalizers > 0);
	} else {
		for (size_t i = 0; i < t->n_finalizers && !body; i++)
			if (strcmp(t->finalizers[i], GQ_FINALIZER) == 0)
				body =
				    patch_test_remove("/metadata/finalizers", i, "", GQ_FINALIZER);
	}
	if (body)
		json_patch(r, p, path, body);
	free(body);
	free(path);
}

/*
 * Whether a managed quota in the cache (rq, borrowed) is enforced:
 * status.hard equals spec.hard (a fresh quota is not enforced until the quota
 * controller syncs).
 */
static bool quota_synced(yajl_val rq)
{
	yajl_val spec = gq_json_obj(rq, GQ_PATH("spec", "hard"));
	yajl_val st = gq_json_obj(rq, GQ_PATH("status", "hard"));

	if (spec == NULL || st == NULL)
		return false;
	return gq_json_covers(spec, st) && spec->u.object.len == st->u.object.len;
}

/* ---------------------------------------------------------- owned cleanup */

struct stale_ctx {
	const char *team;
	const char *kind;
	const struct gq_desired_list *dl;
	char **keys;
	size_t n;
};

/*
 * gq_informer_foreach callback (the caller holds the read lock of the kind's
 * cache): collects into c->keys (copies, owned by c) the objects labelled as
 * managed by us for team c->team that c->dl no longer holds. Returns 0.
 */
static int stale_cb(void *arg, const char *key, yajl_val obj)
{
	struct stale_ctx *c = arg;
	const char *team = label_of(obj, GQ_LABEL_TEAM);
	const char *mb = label_of(obj, GQ_LABEL_MANAGED_BY);

	if (!team || !mb || strcmp(team, c->team) != 0 || strcmp(mb, GQ_FIELD_MANAGER) != 0)
		return 0;
	if (desired_has(c->dl, c->kind, key))
		return 0;
	c->keys = gq_realloc(c->keys, (c->n + 1) * sizeof(char *));
	c->keys[c->n++] = gq_strdup(key);
	return 0;
}

/*
 * Deletes the ResourceQuotas, LimitRanges and PriorityClasses labelled as
 * ours for team that dl does not hold. Keys are collected under each cache's
 * read lock; the deletes run after it is released (do_delete: counted and
 * recorded in p).
 */
static void delete_stale(struct gq_reconciler *r, struct pass *p, const char *team,
			 const struct gq_desired_list *dl)
{
	static const struct {
		const char *kind;
		const char *collection; /* namespaced: under /api/v1/namespaces/NS/ */
	} kinds[] = {
	    {"ResourceQuota", "resourcequotas"},
	    {"LimitRange", "limitranges"},
	    {"PriorityClass", NULL},
	};

	for (size_t k = 0; k < GQ_ARRAY_LEN(kinds); k++) {
		struct gq_informer *inf = informer_for(r, kinds[k].kind);
		struct stale_ctx c = {team, kinds[k].kind, dl, NULL, 0};

		gq_informer_rdlock(inf);
		gq_informer_foreach(inf, stale_cb, &c);
		gq_informer_unlock(inf);
		for (size_t i = 0; i < c.n; i++) {
			const char *slash = strchr(c.keys[i], '/');
			char *path;

			if (kinds[k].collection && slash)
				path = gq_asprintf("/api/v1/namespaces/%.*s/%s/%s",
						   (int)(slash - c.keys[i]), c.keys[i],
						   kinds[k].collection, slash + 1);
			else
				path = gq_asprintf(GQ_PRIORITY_CLASS_PATH "/%s", c.keys[i]);
			do_delete(r, p, path);
			free(path);
			free(c.keys[i]);
		}
		free(c.keys);
	}
}

/* ------------------------------------------------------------ converging */

/*
 * Applies desired object d of team t unless the cache shows it already in
 * place. A Namespace is merge-patched instead (it cannot create a namespace
 * deleted since our snapshot). PriorityClasses: one we do not manage is a
 * conflict, never overwritten, and its name is added to p->class_conflicts
 * (owned by p); one of ours with another value or preemptionPolicy (immutable
 * fields) is deleted and created again -- running pods keep the priority they
 * were admitted with; new pods get the new value. The cache is read under its
 * read lock, the writes sent after it is released; they are counted and
 * recorded in p.
 */
static void converge_one(struct gq_reconciler *r, struct pass *p, const struct gq_team *t,
			 const struct gq_desired *d)
{
	struct gq_informer *inf = informer_for(r, d->kind);
	yajl_val want = yajl_tree_parse(d->body, NULL, 0);
	char *key = cache_key(d);
	bool same = false, conflict = false, recreate = false;
	yajl_val have;

	gq_informer_rdlock(inf);
	have = gq_informer_get(inf, key);
	if (have && want) {
		same = gq_json_covers(want, have);
		if (strcmp(d->kind, "PriorityClass") == 0) {
			const char *mb = label_of(have, GQ_LABEL_MANAGED_BY);
			const char *tm = label_of(have, GQ_LABEL_TEAM);
			yajl_val hv =
			    yajl_tree_get(have, (const char *[]){"value", NULL}, yajl_t_number);
			yajl_val wv =
			    yajl_tree_get(want, (const char *[]){"value", NULL}, yajl_t_number);
			const char *hp = gq_json_str(have, GQ_PATH("preemptionPolicy"));
			const char *wp = gq_json_str(want, GQ_PATH("preemptionPolicy"));

			conflict = !mb || !tm || strcmp(mb, GQ_FIELD_MANAGER) != 0 ||
				   strcmp(tm, t->name) != 0;
			recreate = !conflict && hv && wv &&
				   (YAJL_GET_INTEGER(hv) != YAJL_GET_INTEGER(wv) ||
				    (wp && hp && strcmp(wp, hp) != 0) ||
				    (!wp && hp && strcmp(hp, "PreemptLowerPriority") != 0));
		}
	}
	gq_informer_unlock(inf);

	if (conflict) {
		p->class_conflicts =
		    gq_realloc(p->class_conflicts, (p->n_class_conflicts + 1) * sizeof(char *));
		p->class_conflicts[p->n_class_conflicts++] = gq_strdup(d->name);
	} else if (recreate) {
		gq_info("priority value changed: recreating class | team=%s class=%s", t->name,
			d->name);
		if (do_delete(r, p, d->path) == GQ_OK)
			do_apply(r, p, d->path, d->body);
	} else if (!same && strcmp(d->kind, "Namespace") == 0) {
		/* A merge patch, not an apply: it cannot create a namespace that
		 * was deleted since our snapshot. */
		struct gq_err err = {0};
		int rc = gq_kclient_patch(r->kc, d->path, "application/merge-patch+json", d->body,
					  NULL, &err);

		p->writes++;
		atomic_fetch_add(&r->applies, 1);
		if (rc != GQ_OK && rc != GQ_ENOTFOUND)
			pass_error(p, d->path, &err);
	} else if (!same) {
		do_apply(r, p, d->path, d->body);
	}
	yajl_tree_free(want);
	free(key);
}

/*
 * Releases (ns_unlabel) every namespace of snapshot s labelled for team but
 * not READY in keep (NULL: all of them). Terminating namespaces are left
 * alone. Writes are counted and recorded in p.
 */
static void release_namespaces(struct gq_reconciler *r, struct pass *p, const struct snap *s,
			       const char *team, const struct gq_plan *keep)
{
	for (size_t i = 0; i < s->n_ns; i++) {
		const struct snap_ns *n = &s->ns[i];
		bool kept = false, labelled = false;

		for (size_t j = 0; j < n->labels.n; j++)
			if (strcmp(n->labels.items[j].key, GQ_LABEL_TEAM) == 0 &&
			    strcmp(n->labels.items[j].value, team) == 0)
				labelled = true;
		if (!labelled || n->terminating)
			continue;
		for (size_t j = 0; keep && j < keep->n; j++)
			if (keep->ns[j].state == GQ_NS_READY &&
			    strcmp(keep->ns[j].name, n->name) == 0)
				kept = true;
		if (!kept)
			ns_unlabel(r, p, n->name);
	}
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
 * Emits an Event for each of the n conditions c whose status changed against
 * the previous status prev (may be NULL): Ready turning False, or a problem
 * condition turning True, is a Warning, the reverse Normal. A condition not
 * seen before is reported unless it is a false problem condition. Best effort
 * (emit_event).
 */
static void transition_events(struct gq_reconciler *r, const struct gq_team *t, yajl_val prev,
			      const struct gq_condition *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool before = false, known = prev_cond(prev, c[i].type, &before);
		bool warn;

		if (known && before == c[i].status)
			continue;
		if (!known && !c[i].status && strcmp(c[i].type, "Ready") != 0)
			continue; /* a new, false problem condition is no news */
		warn = (strcmp(c[i].type, "Ready") == 0) ? !c[i].status : c[i].status;
		emit_event(r, t, warn, c[i].reason, c[i].message ? c[i].message : c[i].reason);
	}
}

/* ------------------------------------------------------------ accounting */

/* The API path of the pod with cache key "ns/name" (must contain a '/').
 * Caller frees. */
static char *pod_path(const char *key)
{
	const char *slash = strchr(key, '/');

	return gq_asprintf("/api/v1/namespaces/%.*s/pods/%s", (int)(slash - key), key, slash + 1);
}

/*
 * Sends JSON patch body (owned: freed here) to the pod with cache key key,
 * through json_patch (counted; a missing pod is not recorded as an error).
 * Returns json_patch's code.
 */
static int pod_patch(struct gq_reconciler *r, struct pass *p, const char *key, char *body)
{
	char *path = pod_path(key);
	int rc = json_patch(r, p, path, body);

	free(path);
	free(body);
	return rc;
}

/* Adds our accounting finalizer to a GPU pod admitted without it (see
 * pod_patch). */
static void pod_add_finalizer(struct gq_reconciler *r, struct pass *p,
			      const struct gq_acct_pod *pod)
{
	pod_patch(r, p, pod->key, patch_add_finalizer(GQ_ACCOUNTING_FINALIZER, pod->has_list));
}

/* Removes our accounting finalizer from pod key (at index, checked by a
 * JSON-patch test; see pod_patch). */
static void pod_remove_finalizer(struct gq_reconciler *r, struct pass *p, const char *key,
				 size_t index)
{
	if (pod_patch(r, p, key,
		      patch_test_remove("/metadata/finalizers", index, "",
					GQ_ACCOUNTING_FINALIZER)) == GQ_OK)
		gq_debug("pod accounted, finalizer removed | pod=%s", key);
}

/* Removes the budget scheduling gate of pod key (at index, checked by a test;
 * see pod_patch). */
static void pod_release(struct gq_reconciler *r, struct pass *p, const char *key, size_t index)
{
	if (pod_patch(r, p, key,
		      patch_test_remove("/spec/schedulingGates", index, "/name", GQ_BUDGET_GATE)) ==
	    GQ_OK)
		gq_info("budget available: held pod released | pod=%s", key);
}

/*
 * Publishes what the webhook needs to decide for team t's namespaces (those
 * READY or PENDING in plan): the tier and exempt class names, the default
 * tier, the GPU-per-pod limit and the weights, and with acct (NULL: none) the
 * budget figures and the over-budget class. gq_budget_set_admission
 * deep-copies it all into r->budgets (must not be NULL); t, plan and acct are
 * borrowed.
 */
static void publish_admission(struct gq_reconciler *r, const struct gq_team *t,
			      const struct gq_plan *plan, const struct gq_acct_result *acct)
{
	const char **ns = gq_calloc(plan->n + 1, sizeof(char *));
	char **tiers = gq_calloc(t->n_tiers + 1, sizeof(char *));
	char **exempt = gq_calloc(t->budget.n_exempt_tiers + 1, sizeof(char *));
	struct gq_adm_team a = {0};
	char reset[GQ_RFC3339_STRLEN], *over = NULL, *dflt = NULL;
	size_t n_ns = 0;

	for (size_t i = 0; i < plan->n; i++)
		if (plan->ns[i].state == GQ_NS_READY || plan->ns[i].state == GQ_NS_PENDING)
			ns[n_ns++] = plan->ns[i].name;
	for (size_t i = 0; i < t->n_tiers; i++)
		tiers[i] = gq_team_priority_class_name(t, t->tiers[i].name);
	for (size_t i = 0; i < t->budget.n_exempt_tiers; i++)
		exempt[i] = gq_team_priority_class_name(t, t->budget.exempt_tiers[i]);
	a.name = t->name;
	a.tier_classes = (const char *const *)tiers;
	a.n_tiers = t->n_tiers;
	if (t->default_tier) {
		const struct gq_tier *d = gq_team_tier(t, t->default_tier);

		dflt = gq_team_priority_class_name(t, t->default_tier);
		a.default_class = dflt;
		a.default_value = d ? d->value : 0;
		a.default_preemption_policy =
		    d && d->preemption_policy ? d->preemption_policy : "PreemptLowerPriority";
	}
	a.exempt_classes = (const char *const *)exempt;
	a.n_exempt = t->budget.n_exempt_tiers;
	a.max_gpus_per_pod = t->max_gpus_per_pod;
	if (t->budget.present && acct) {
		a.has_budget = true;
		a.policy = t->budget.on_exhausted;
		a.used_micro = acct->ledger.used_micro;
		a.budget_micro = acct->budget_micro;
		a.warn_at_percent = t->budget.warn_at_percent;
		if (gq_rfc3339_format_ms(acct->ledger.period_end_ms, reset) == GQ_OK)
			a.reset_time = reset;
		over = gq_team_over_budget_class(t);
		a.over_budget_class = over;
		a.over_budget_value = gq_team_over_budget_value(t);
	}
	a.weights = &t->budget.weights;
	gq_budget_set_admission(r->budgets, t->name, ns, n_ns, &a);
	for (size_t i = 0; i < t->n_tiers; i++)
		free(tiers[i]);
	for (size_t i = 0; i < t->budget.n_exempt_tiers; i++)
		free(exempt[i]);
	free(tiers);
	free(exempt);
	free(ns);
	free(over);
	free(dflt);
}

/* The quantity string s as a double (exact to the milli-unit); 0 when s is
 * NULL or not a quantity. */
static double quantity_double(const char *s)
{
	struct gq_quantity q;

	return s && gq_quantity_parse(&q, s) == GQ_OK ? (double)q.milli / 1000.0 : 0;
}

/*
 * Publishes team `name`'s figures for the metrics: the GPU and MIG quota and
 * use of the status body just written (want, status.quota), and the ledger of
 * acct (NULL without a budget), whose newly accounted usage counts only once
 * persisted (the next run starts from the persisted ledger). want and acct
 * are borrowed; gq_budget_set_figures copies what it keeps.
 */
static void publish_figures(struct gq_reconciler *r, const char *name, yajl_val want,
			    const struct gq_acct_result *acct, bool persisted)
{
	yajl_val hard = gq_json_obj(want, GQ_PATH("status", "quota", "hard"));
	yajl_val used = gq_json_obj(want, GQ_PATH("status", "quota", "used"));
	struct gq_budget_figures f = {0};
	struct gq_budget_res *res = gq_calloc(hard ? hard->u.object.len + 1 : 1, sizeof(*res));

	for (size_t i = 0; hard && i < hard->u.object.len; i++) {
		const char *k = hard->u.object.keys[i];
		const char *res_name = strncmp(k, "requests.", 9) == 0 ? k + 9 : k;

		if (strncmp(res_name, GQ_NVIDIA_PREFIX, strlen(GQ_NVIDIA_PREFIX)) != 0 ||
		    !YAJL_IS_STRING(hard->u.object.values[i]))
			continue;
		res[f.n_res].resource = res_name;
		res[f.n_res].quota = quantity_double(hard->u.object.values[i]->u.string);
		res[f.n_res].used = quantity_double(gq_json_str(used, GQ_PATH(k)));
		f.n_res++;
	}
	f.res = res;
	if (acct) {
		f.has_budget = true;
		f.budget_micro = acct->budget_micro;
		f.used_micro = acct->ledger.used_micro;
		f.period_end_ms = acct->ledger.period_end_ms;
		f.exhausted = acct->exhausted;
		f.warn = acct->warn;
		f.pods_running = acct->running_gpu_pods;
		f.pods_held = acct->held_gpu_pods;
		f.pods_deprioritized = acct->deprioritized_gpu_pods;
		f.accounted_micro = persisted ? acct->accounted_micro : 0;
	}
	gq_budget_set_figures(r->budgets, name, &f);
	free(res);
}

struct orphan_ctx {
	struct gq_reconciler *r;
	struct gq_acct_pod *pods; /* index: the finalizer's, or -1 */
	long *gates;		  /* the budget gate's index, or -1 */
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
 * lock): collects into c (keys copied, owned by c) the pods with our
 * finalizer or budget gate in namespaces of no team with a budget (the team
 * deleted, its budget removed, the namespace moved out): they are accounted
 * and held by no one. Returns 0.
 */
static int orphan_cb(void *arg, const char *key, yajl_val pod)
{
	struct orphan_ctx *c = arg;
	const char *slash = strchr(key, '/');
	long fin, gate;
	char ns[256];

	if (!slash || !gq_pod_marks(pod, &fin, &gate))
		return 0;
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
	if (ns_has_budget_team(c->r, ns))
		return 0;
	c->pods = gq_realloc(c->pods, (c->n + 1) * sizeof(*c->pods));
	c->gates = gq_realloc(c->gates, (c->n + 1) * sizeof(*c->gates));
	c->pods[c->n].key = gq_strdup(key);
	c->pods[c->n].index = fin >= 0 ? (size_t)fin : SIZE_MAX;
	c->gates[c->n] = gate;
	c->n++;
	return 0;
}

/* Whether this pass may write (leader election; see reconcile.h). Asked once
 * per pass or sweep. */
static bool leading(struct gq_reconciler *r)
{
	return r->may_write == NULL || r->may_write(r->may_write_arg);
}

/* See reconcile.h. The pods are collected under the pods read lock; the
 * patches are sent after it is released. */
int gq_reconcile_orphans(struct gq_reconciler *r, struct gq_err *err)
{
	struct orphan_ctx c = {r, NULL, NULL, 0};
	struct pass p = {0};

	if (r->pods == NULL || !leading(r))
		return GQ_OK;
	gq_informer_rdlock(r->pods);
	gq_informer_foreach(r->pods, orphan_cb, &c);
	gq_informer_unlock(r->pods);
	for (size_t i = 0; i < c.n; i++) {
		if (c.pods[i].index != SIZE_MAX) {
			gq_info("namespace belongs to no team with a budget: releasing pod from "
				"accounting | pod=%s",
				c.pods[i].key);
			pod_remove_finalizer(r, &p, c.pods[i].key, c.pods[i].index);
		}
		/* A held pod is held by no budget any more: it may run. */
		if (c.gates[i] >= 0) {
			gq_info("namespace belongs to no team with a budget: removing the budget "
				"gate | pod=%s",
				c.pods[i].key);
			pod_patch(r, &p, c.pods[i].key,
				  patch_test_remove("/spec/schedulingGates", (size_t)c.gates[i],
						    "/name", GQ_BUDGET_GATE));
		}
		free(c.pods[i].key);
	}
	free(c.pods);
	free(c.gates);
	return p.errors ? gq_err_set(err, GQ_EIO, "%s", p.first_error) : GQ_OK;
}

/* -------------------------------------------------------------- reconcile */

/*
 * An allocation the apiserver accepted but we cannot decode (the CRD schema
 * and our checks disagree, or an older CRD is installed): nothing is changed
 * in the cluster; Ready=False with reason InvalidSpec says why
 * (s->self_error). Nothing is written when the status already carries that
 * exact message; a failed write is recorded in p.
 */
static void report_invalid(struct gq_reconciler *r, struct pass *p, const char *name,
			   const struct snap *s)
{
	yajl_val conds =
	    yajl_tree_get(s->prev_status, (const char *[]){"conditions", NULL}, yajl_t_array);
	char now[32], *path, *body;
	struct gq_jw w;

	for (size_t i = 0; conds && i < conds->u.array.len; i++) {
		yajl_val c = conds->u.array.values[i];
		const char *reason = gq_json_str(c, GQ_PATH("reason"));
		const char *msg = gq_json_str(c, GQ_PATH("message"));

		if (reason && msg && strcmp(reason, "InvalidSpec") == 0 &&
		    strcmp(msg, s->self_error) == 0)
			return; /* already reported */
	}
	gq_warn("allocation is invalid | team=%s error=%s", name, s->self_error);
	now_rfc3339(now);
	gq_jw_init(&w);
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "apiVersion", GQ_API_VERSION);
	gq_jw_kv(&w, "kind", GQ_KIND);
	gq_jw_str(&w, "metadata");
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "name", name);
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
	gq_jw_kv(&w, "message", s->self_error);
	gq_jw_map_close(&w);
	gq_jw_array_close(&w);
	gq_jw_map_close(&w);
	gq_jw_map_close(&w);
	body = gq_jw_finish(&w);
	if (body == NULL) {
		gq_warn("cannot write the status | team=%s error=%s", name,
			"the message is not valid UTF-8");
		return;
	}
	path = gq_asprintf(GQ_GTA_PATH "/%s/status", name);
	do_apply(r, p, path, body);
	free(path);
	free(body);
}

/*
 * The leader's pass of an allocation t being deleted (s->self, or one that
 * cannot be decoded: its name and finalizers only): releases every
 * namespace labelled for it and, once that all succeeded, removes our
 * finalizer so the deletion can complete. Nothing when the finalizer is
 * already gone. Returns GQ_OK or GQ_EIO (a write failed; p says which).
 */
static int reconcile_deleting(struct gq_reconciler *r, struct snap *s, struct pass *p,
			      const struct gq_team *t)
{
	if (!has_finalizer(t))
		return GQ_OK;
	release_namespaces(r, p, s, t->name, NULL);
	if (p->errors == 0) {
		set_finalizer(r, p, t, false);
		gq_info("allocation deleted: namespaces released | team=%s", t->name);
	}
	return p->errors ? GQ_EIO : GQ_OK;
}

/* The working state of one team's pass (gq_reconcile_team), freed by
 * team_pass_free. */
struct team_pass {
	struct snap s;		    /* the observation, copied from the caches */
	struct pass p;		    /* outcome of the writes */
	struct gq_plan plan;	    /* the team's namespaces */
	struct gq_ns_info *infos;   /* plan input (borrowing from s) */
	struct gq_ns_usage *usage;  /* quota usage of the READY namespaces */
	size_t n_usage;		    /* ... their count */
	struct gq_status_ns *sns;   /* per-namespace quota readback (plan.n) */
	yajl_val *rq_clones;	    /* the managed quotas as cached (plan.n) */
	const char **acct_ns;	    /* namespaces accounted (READY, TERMINATING) */
	struct gq_acct_result acct; /* the ledger pass */
	bool has_acct;		    /* acct is filled */
	struct gq_res_list totals;  /* the status' quota totals */
	struct gq_desired_list dl;  /* the desired objects */
	struct gq_cond_set cs;	    /* the conditions */
	struct gq_cond_budget cb;   /* their budget input */
};

/* Frees everything t owns, its snapshot included. The charged records of
 * t->acct are freed too unless write_status handed them to the registry. */
static void team_pass_free(struct team_pass *t)
{
	for (size_t i = 0; t->rq_clones && i < t->plan.n; i++)
		yajl_tree_free(t->rq_clones[i]);
	for (size_t i = 0; i < t->n_usage; i++)
		gq_res_list_free(&t->usage[i].used);
	free(t->rq_clones);
	free(t->usage);
	free(t->sns);
	free(t->infos);
	free(t->acct_ns);
	gq_res_list_free(&t->totals);
	gq_desired_list_free(&t->dl);
	gq_plan_free(&t->plan);
	for (size_t i = 0; i < t->p.n_class_conflicts; i++)
		free(t->p.class_conflicts[i]);
	free(t->p.class_conflicts);
	gq_cond_set_free(&t->cs);
	gq_acct_result_free(&t->acct);
	snap_free(&t->s);
}

/*
 * An allocation that cannot be decoded (edited into a form the CRD admits
 * and the controller refuses) and is being deleted: its namespaces are
 * released and its cleanup finalizer removed all the same, or it would
 * never go. Reads the raw object from the teams cache. Returns whether it
 * is being deleted (then the pass is over).
 */
static bool release_invalid_deleting(struct gq_reconciler *r, struct team_pass *t, const char *name)
{
	struct gq_team tmp = {0};
	yajl_val obj, fins;
	bool deleting;

	gq_informer_rdlock(r->teams);
	obj = gq_informer_get(r->teams, name);
	deleting = gq_json_str(obj, GQ_PATH("metadata", "deletionTimestamp")) != NULL;
	fins = gq_json_get(gq_json_get(obj, "metadata"), "finalizers");
	if (deleting && YAJL_IS_ARRAY(fins)) {
		tmp.finalizers = gq_calloc(fins->u.array.len + 1, sizeof(char *));
		for (size_t i = 0; i < fins->u.array.len; i++)
			tmp.finalizers[tmp.n_finalizers++] =
			    gq_strdup(YAJL_IS_STRING(fins->u.array.values[i])
					  ? fins->u.array.values[i]->u.string
					  : "");
	}
	gq_informer_unlock(r->teams);
	if (deleting) {
		tmp.name = (char *)name;
		reconcile_deleting(r, &t->s, &t->p, &tmp);
	}
	for (size_t i = 0; i < tmp.n_finalizers; i++)
		free(tmp.finalizers[i]);
	free(tmp.finalizers);
	return deleting;
}

/*
 * The passes that end before planning: an undecodable allocation (its
 * InvalidSpec status, leader only), one gone (namespaces still labelled for
 * it are released by the leader; its registry entry is forgotten on every
 * replica), one being deleted (reconcile_deleting, leader only). Returns
 * whether the pass is over; *rc then holds its result (GQ_EIO with err set
 * when a write failed).
 */
static bool reconcile_early(struct gq_reconciler *r, struct team_pass *t, const char *name,
			    bool lead, int snap_rc, int *rc, struct gq_err *err)
{
	*rc = GQ_OK;
	if (snap_rc == GQ_ENOTFOUND && t->s.self_error) {
		if (lead && !release_invalid_deleting(r, t, name))
			report_invalid(r, &t->p, name, &t->s);
	} else if (t->s.self == NULL) {
		bool exists;

		gq_informer_rdlock(r->teams);
		exists = gq_informer_get(r->teams, name) != NULL;
		gq_informer_unlock(r->teams);
		if (!exists) {
			if (lead)
				release_namespaces(r, &t->p, &t->s, name, NULL);
			if (r->budgets)
				gq_budget_forget(r->budgets, name);
		}
	} else if (t->s.self->deleting) {
		*rc = lead ? reconcile_deleting(r, &t->s, &t->p, t->s.self) : GQ_OK;
		if (*rc != GQ_OK)
			gq_err_set(err, *rc, "%s", t->p.first_error);
		return true;
	} else {
		return false;
	}
	if (t->p.errors)
		*rc = gq_err_set(err, GQ_EIO, "%s", t->p.first_error);
	return true;
}

/*
 * Plans the team's namespaces, then reads their managed quotas from the cache
 * (cloned under the quotas read lock): the status readback (sns) and the
 * usage of the READY ones. Everything it fills (infos, plan, sns, rq_clones,
 * usage) is owned by t.
 */
static void observe_namespaces(struct gq_reconciler *r, struct team_pass *t, const char *name)
{
	size_t n = t->s.n_ns;

	t->infos = gq_calloc(n ? n : 1, sizeof(*t->infos));
	for (size_t i = 0; i < n; i++) {
		t->infos[i].name = t->s.ns[i].name;
		t->infos[i].labels = t->s.ns[i].labels;
		t->infos[i].terminating = t->s.ns[i].terminating;
	}
	gq_plan_namespaces(&t->plan, t->s.self, t->s.teams, t->s.n_teams, t->infos, n);
	n = t->plan.n;
	t->usage = gq_calloc(n ? n : 1, sizeof(*t->usage));
	t->sns = gq_calloc(n ? n : 1, sizeof(*t->sns));
	t->rq_clones = gq_calloc(n ? n : 1, sizeof(*t->rq_clones));
	gq_informer_rdlock(r->quotas);
	for (size_t i = 0; i < n; i++) {
		char *key = gq_asprintf("%s/gpuquota-%s", t->plan.ns[i].name, name);
		yajl_val rq = gq_informer_get(r->quotas, key);

		t->sns[i].plan = &t->plan.ns[i];
		if (rq)
			t->rq_clones[i] = gq_json_clone(rq);
		free(key);
	}
	gq_informer_unlock(r->quotas);
	for (size_t i = 0; i < n; i++) {
		yajl_val used = gq_json_obj(t->rq_clones[i], GQ_PATH("status", "used"));
		struct gq_res_list *l;

		t->sns[i].hard = gq_json_obj(t->rq_clones[i], GQ_PATH("status", "hard"));
		t->sns[i].used = used;
		if (t->plan.ns[i].state != GQ_NS_READY)
			continue;
		t->usage[t->n_usage].ns = t->plan.ns[i].name;
		l = &t->usage[t->n_usage].used;
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
		t->n_usage++;
	}
}

/*
 * The ledger pass of a team with a budget (accounting.h): the leader's
 * registry, a follower's none. Does nothing (GQ_OK, has_acct false) without a
 * budget or a pod cache. Accounts up to what the pod cache is fresh for, in
 * whole seconds, over the READY and TERMINATING namespaces. Sets t->has_acct
 * on success; returns gq_acct_run's code (err set).
 */
static int account(struct gq_reconciler *r, struct team_pass *t, bool lead, struct gq_err *err)
{
	struct timespec ts;
	size_t n_acct = 0;
	int64_t now_ms;
	int rc;

	if (!t->s.self->budget.present || !r->pods)
		return GQ_OK;
	/* Terminating namespaces too: their pods must be accounted and
	 * released, or the namespace could never finish deleting. */
	t->acct_ns = gq_calloc(t->plan.n + 1, sizeof(char *));
	for (size_t i = 0; i < t->plan.n; i++)
		if (t->plan.ns[i].state == GQ_NS_READY || t->plan.ns[i].state == GQ_NS_TERMINATING)
			t->acct_ns[n_acct++] = t->plan.ns[i].name;
	/* Never past what the pod cache is known to be complete for: while
	 * its watch is down or catching up, what pods did is decided once the
	 * cache has it (informer.h). Whole seconds: pod start and finish times
	 * have one-second resolution, so a running pod is never counted past
	 * the second its finishedAt will show. */
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms =
	    gq_informer_fresh_until_ms(r->pods, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	now_ms -= now_ms % 1000;
	rc = gq_acct_run(&t->acct, lead ? r->budgets : NULL, r->pods, r->nodes, t->s.self,
			 t->acct_ns, n_acct, t->s.prev_status, now_ms, r->ledger_write_interval_ms,
			 err);
	t->has_acct = rc == GQ_OK;
	return rc;
}

/*
 * The quota totals and the desired objects (clamped while a Deny budget is
 * spent), into t->totals and t->dl (owned by t). Returns the codes of
 * gq_quota_totals and gq_desired_build (err set).
 */
static int build_desired(struct team_pass *t, struct gq_err *err)
{
	const struct gq_team *team = t->s.self;
	const char *const *res = (const char *const *)t->s.gpu_res;
	int rc = gq_quota_totals(&t->totals, team, res, t->s.n_gpu_res, err);

	if (rc != GQ_OK)
		return rc;
	if (t->has_acct && t->acct.exhausted && team->budget.on_exhausted == GQ_EXHAUSTED_DENY)
		return gq_desired_build_clamped(&t->dl, team, t->usage, t->n_usage, res,
						t->s.n_gpu_res, err);
	return gq_desired_build(&t->dl, team, t->usage, t->n_usage, res, t->s.n_gpu_res, err);
}

/* The leader's writes before the status: desired objects, stale ones,
 * released namespaces, pod finalizers added and held pods released. */
static void converge(struct gq_reconciler *r, struct team_pass *t, const char *name)
{
	for (size_t i = 0; i < t->dl.n; i++)
		converge_one(r, &t->p, t->s.self, &t->dl.items[i]);
	delete_stale(r, &t->p, name, &t->dl);
	release_namespaces(r, &t->p, &t->s, name, &t->plan);
	for (size_t i = 0; i < t->acct.n_add; i++)
		pod_add_finalizer(r, &t->p, &t->acct.add[i]);
	for (size_t i = 0; i < t->acct.n_release; i++)
		pod_release(r, &t->p, t->acct.release[i].key, t->acct.release[i].index);
}

/*
 * The conditions of the pass, into t->cs, once namespaces whose quota the
 * quota controller has not enforced yet are marked pending. Changes plan
 * states (READY to PENDING) in place, so it runs after converge.
 */
static void build_conditions(struct team_pass *t)
{
	const struct gq_team *team = t->s.self;

	for (size_t i = 0; i < t->plan.n; i++)
		if (t->plan.ns[i].state == GQ_NS_READY &&
		    !(t->rq_clones[i] && quota_synced(t->rq_clones[i])))
			t->plan.ns[i].state = GQ_NS_PENDING;
	/* The figures of the ledger the status carries (acct.status_ledger:
	 * the live one when it is written now). */
	if (t->has_acct)
		t->cb = (struct gq_cond_budget){t->acct.exhausted,
						t->acct.warn,
						t->acct.status_ledger.used_micro,
						t->acct.budget_micro,
						t->acct.status_ledger.period_end_ms,
						team->budget.on_exhausted,
						team->budget.warn_at_percent};
	gq_cond_set_free(&t->cs);
	gq_cond_build(&t->cs, &(struct gq_cond_in){
				  &t->plan, t->n_usage, (size_t)t->p.errors, t->p.first_error,
				  (const char *const *)t->p.class_conflicts, t->p.n_class_conflicts,
				  t->has_acct ? &t->cb : NULL});
}

/* The status document of the pass (gq_status_body, a new heap string, and
 * its tree in *want, both the caller's), with the ledger the status carries
 * (acct.status_ledger). NULL when a message is not valid UTF-8. */
static char *status_doc(struct team_pass *t, char now[32], yajl_val *want)
{
	struct gq_status_budget sb = {&t->acct.status_ledger, t->acct.budget_micro,
				      t->acct.persist_until_ms};
	struct gq_status_in in = {t->s.self,	    t->sns,  t->plan.n,
				  &t->totals,	    t->cs.c, t->cs.n,
				  t->s.prev_status, now,     t->has_acct ? &sb : NULL};
	char *body = gq_status_body(&in);

	*want = body ? yajl_tree_parse(body, NULL, 0) : NULL;
	return body;
}

/* Whether the cached status already is want's. */
static bool status_same(yajl_val want, yajl_val have)
{
	yajl_val st = gq_json_obj(want, GQ_PATH("status"));

	return st && have && gq_json_covers(st, have) && st->u.object.len == have->u.object.len;
}

/*
 * Writes the status when it differs from the cached one (the leader only;
 * a status written for another reason carries the live ledger),
 * publishes the figures, and once the ledger in it is durable releases the
 * ended pods' finalizers and records the ledger and its charged records in
 * the registry (t->acct.charged then belongs to the registry and is NULL).
 * Failures are recorded in t->p; a failed write carrying a ledger counts in
 * r->ledger_write_errors.
 */
static void write_status(struct gq_reconciler *r, struct team_pass *t, const char *name, bool lead)
{
	char now[32], *body, *status_path = NULL;
	bool persisted = false;
	yajl_val want;
	struct gq_acct_result *acct = &t->acct;

	now_rfc3339(now);
	body = status_doc(t, now, &want);
	if (body && lead && t->has_acct && !acct->persist && !status_same(want, t->s.prev_status)) {
		/* Written anyway: with the ledger of now. */
		acct->persist = true;
		acct->status_ledger = acct->ledger;
		acct->persist_until_ms = acct->ledger.accounted_until_ms;
		build_conditions(t);
		free(body);
		yajl_tree_free(want);
		body = status_doc(t, now, &want);
	}
	if (body == NULL) {
		struct gq_err e = {0};

		gq_err_set(&e, GQ_EINVAL, "a condition message is not valid UTF-8");
		pass_error(&t->p, "status", &e);
	} else if (!lead) {
		persisted = false; /* a follower writes nothing */
	} else if (!status_same(want, t->s.prev_status)) {
		status_path = gq_asprintf(GQ_GTA_PATH "/%s/status", name);
		transition_events(r, t->s.self, t->s.prev_status, t->cs.c, t->cs.n);
		persisted = do_apply(r, &t->p, status_path, body) == GQ_OK;
		if (t->has_acct && !persisted)
			atomic_fetch_add(&r->ledger_write_errors, 1);
	} else {
		persisted = true; /* already there */
	}
	if (r->budgets && want)
		publish_figures(r, name, want, t->has_acct ? acct : NULL, persisted);
	yajl_tree_free(want);
	if (lead && t->has_acct && persisted) {
		/* The ledger is durable: ended pods can go. */
		for (size_t i = 0; i < acct->n_finalize; i++)
			pod_remove_finalizer(r, &t->p, acct->finalize[i].key,
					     acct->finalize[i].index);
		gq_budget_put_ledger(r->budgets, name, t->s.self->uid, &acct->ledger,
				     acct->persist_until_ms);
		gq_budget_put_charged(r->budgets, name, t->s.self->uid, acct->charged,
				      acct->n_charged);
		acct->charged = NULL;
		acct->n_charged = 0;
	}
	free(body);
	free(status_path);
}

/* See reconcile.h. Runs on a worker thread; r is shared by all workers and
 * only its atomic counters are written. */
int gq_reconcile_team(struct gq_reconciler *r, const char *name, int64_t *requeue_after_ms,
		      struct gq_err *err)
{
	struct team_pass t = {0};
	bool lead = leading(r);
	int rc;

	*requeue_after_ms = 0;
	atomic_fetch_add(&r->reconciles, 1);
	rc = snap_take(r, name, &t.s);
	if (reconcile_early(r, &t, name, lead, rc, &rc, err))
		goto out;
	if (lead && !has_finalizer(t.s.self))
		set_finalizer(r, &t.p, t.s.self, true);
	observe_namespaces(r, &t, name);
	rc = account(r, &t, lead, err);
	if (rc != GQ_OK)
		goto out;
	publish_admission(r, t.s.self, &t.plan, t.has_acct ? &t.acct : NULL);
	rc = build_desired(&t, err);
	if (rc != GQ_OK)
		goto out;
	if (lead)
		converge(r, &t, name);
	if (t.p.writes > 0 && t.p.errors == 0) {
		/* Let the watches bring the new state in, then report it. */
		*requeue_after_ms = 500;
		goto out;
	}
	build_conditions(&t);
	write_status(r, &t, name, lead);
	if (t.cs.n_pending)
		*requeue_after_ms = 2000;
	if (t.has_acct && (*requeue_after_ms == 0 || *requeue_after_ms > r->ledger_interval_ms))
		*requeue_after_ms = r->ledger_interval_ms;
	if (t.has_acct && t.acct.retry_after_ms > 0 && t.acct.retry_after_ms < *requeue_after_ms)
		*requeue_after_ms = t.acct.retry_after_ms;
	if (t.p.errors)
		rc = gq_err_set(err, GQ_EIO, "%s", t.p.first_error);

out:
	if (rc != GQ_OK)
		atomic_fetch_add(&r->failures, 1);
	team_pass_free(&t);
	return rc;
}
