/*
 * accounting.c - turning cached pods into ledger inputs and advancing the
 * ledger. The exactness argument: the persisted pair (usedMicroGPUSeconds,
 * accountedUntil) always equals the usage of all pods in [periodStart,
 * accountedUntil); a pod's accounting finalizer is removed only after a
 * status with accountedUntil >= the pod's end was written, so a pod that
 * ended is never lost (the finalizer keeps it visible through restarts and
 * deletions) and never counted twice (its usage past accountedUntil is 0).
 */
#include "accounting.h"

#include <stdlib.h>
#include <string.h>

#include "desired.h"
#include "log.h"
#include "json.h"
#include "quantity.h"
#include "rfc3339.h"

const char *const gq_accounting_pod_fields[] = {"metadata.finalizers",
						"metadata.deletionTimestamp",
						"metadata.creationTimestamp",
						"spec.containers.resources",
						"spec.initContainers.resources",
						"spec.initContainers.restartPolicy",
						"spec.nodeName",
						"spec.schedulingGates",
						"spec.priorityClassName",
						"status.phase",
						"status.startTime",
						"status.containerStatuses.state",
						"status.conditions",
						NULL};
const char *const gq_accounting_node_fields[] = {"metadata.labels", "status.allocatable", NULL};

/* See accounting.h. */
void gq_acct_result_free(struct gq_acct_result *r)
{
	for (size_t i = 0; i < r->n_finalize; i++)
		free(r->finalize[i].key);
	for (size_t i = 0; i < r->n_add; i++)
		free(r->add[i].key);
	for (size_t i = 0; i < r->n_release; i++)
		free(r->release[i].key);
	gq_charged_free(r->charged, r->n_charged);
	free(r->finalize);
	free(r->add);
	free(r->release);
	memset(r, 0, sizeof(*r));
}

/* The RFC 3339 time at path in v, in ms since the epoch; 0 when absent or
 * unreadable. */
static int64_t time_of(yajl_val v, const char *const *path)
{
	const char *s = gq_json_str(v, path);
	int64_t ms = 0;

	if (s == NULL || gq_rfc3339_parse(s, &ms) != GQ_OK)
		return 0;
	return ms;
}

/* The integer at path in v; 0 when absent or not an integer. */
static int64_t int_of(yajl_val v, const char *const *path)
{
	yajl_val n = yajl_tree_get(v, (const char **)path, yajl_t_number);

	return n && YAJL_IS_INTEGER(n) ? YAJL_GET_INTEGER(n) : 0;
}

/* See accounting.h. History records without a readable budgetGPUHours get a
 * budget of 0. */
int gq_acct_ledger_from_status(struct gq_ledger *l, yajl_val status)
{
	yajl_val usage = gq_json_obj(status, GQ_PATH("usage"));
	yajl_val hist = yajl_tree_get(status, (const char *[]){"history", NULL}, yajl_t_array);

	memset(l, 0, sizeof(*l));
	if (usage == NULL ||
	    !yajl_tree_get(usage, (const char *[]){"usedMicroGPUSeconds", NULL}, yajl_t_number))
		return GQ_ENOTFOUND;
	l->period_start_ms = time_of(usage, GQ_PATH("periodStart"));
	l->period_end_ms = time_of(usage, GQ_PATH("periodEnd"));
	l->accounted_until_ms = time_of(usage, GQ_PATH("accountedUntil"));
	/* All three are required: a missing or unreadable one would read as
	 * 1970 and move the stored usage into a bogus history record. */
	if (l->period_start_ms <= 0 || l->period_end_ms <= 0 || l->accounted_until_ms <= 0)
		return GQ_EINVAL;
	l->used_micro = int_of(usage, GQ_PATH("usedMicroGPUSeconds"));
	for (size_t i = 0; hist && i < hist->u.array.len && i < GQ_LEDGER_HISTORY; i++) {
		yajl_val h = hist->u.array.values[i];
		struct gq_ledger_period_rec *rec = &l->history[l->n_history++];
		const char *b = gq_json_str(h, GQ_PATH("budgetGPUHours"));

		rec->start_ms = time_of(h, GQ_PATH("periodStart"));
		rec->end_ms = time_of(h, GQ_PATH("periodEnd"));
		rec->used_micro = int_of(h, GQ_PATH("usedMicroGPUSeconds"));
		if (b == NULL || gq_ledger_parse_hours(b, &rec->budget_micro) != GQ_OK)
			rec->budget_micro = 0;
	}
	return gq_ledger_check(l) == GQ_OK ? GQ_OK : GQ_EINVAL;
}

/*
 * The container's nvidia.com/... requests, else limits, into out (at most
 * cap; names borrowed from c). As the apiserver decodes JSON, a key given
 * twice in one map counts by its last value; a limit only fills a resource
 * with no request (admission's decoder reads them the same way). Values
 * that are not quantity strings are skipped.
 */
static size_t container_reqs(yajl_val c, struct gq_cost_req *out, size_t cap)
{
	yajl_val req = gq_json_obj(c, GQ_PATH("resources", "requests"));
	yajl_val lim = gq_json_obj(c, GQ_PATH("resources", "limits"));
	size_t n = 0, n_req = 0;

	for (int pass = 0; pass < 2; pass++) {
		yajl_val m = pass == 0 ? req : lim;

		for (size_t i = 0; m && i < m->u.object.len; i++) {
			const char *k = m->u.object.keys[i];
			struct gq_quantity q;
			size_t j;

			if (strncmp(k, GQ_NVIDIA_PREFIX, strlen(GQ_NVIDIA_PREFIX)) != 0 ||
			    !YAJL_IS_STRING(m->u.object.values[i]) ||
			    gq_quantity_parse(&q, m->u.object.values[i]->u.string) != GQ_OK)
				continue;
			for (j = 0; j < n && strcmp(out[j].name, k) != 0; j++)
				;
			if (j < n_req && pass == 1)
				continue; /* set by a request */
			if (j == n) {
				if (n == cap)
					continue;
				out[n++].name = k;
			}
			out[j].count = gq_quantity_value(&q);
		}
		if (pass == 0)
			n_req = n;
	}
	return n;
}

/* The size of the request and limit maps of container c: a bound on the
 * entries container_reqs can return for it. */
static size_t container_map_len(yajl_val c)
{
	yajl_val req = gq_json_obj(c, GQ_PATH("resources", "requests"));
	yajl_val lim = gq_json_obj(c, GQ_PATH("resources", "limits"));

	return (req ? req->u.object.len : 0) + (lim ? lim->u.object.len : 0);
}

/* The containers of pod (spec.containers then spec.initContainers) with
 * their nvidia.com/ requests: *cs and *reqs are new arrays the caller frees
 * (cs[i].reqs points into *reqs). GQ_ETOOBIG past GQ_COST_MAX_REQS map
 * entries in all (nothing allocated then). */
static int pod_containers(yajl_val pod, struct gq_cost_container **cs, size_t *nc,
			  struct gq_cost_req **reqs)
{
	static const char *const lists[] = {"containers", "initContainers"};
	yajl_val a[2];
	size_t n_cont = 0, n_ent = 0, nr = 0;

	*cs = NULL;
	*reqs = NULL;
	*nc = 0;
	for (size_t l = 0; l < 2; l++) {
		a[l] = yajl_tree_get(pod, (const char *[]){"spec", lists[l], NULL}, yajl_t_array);
		for (size_t i = 0; a[l] && i < a[l]->u.array.len; i++)
			n_ent += container_map_len(a[l]->u.array.values[i]);
		n_cont += a[l] ? a[l]->u.array.len : 0;
	}
	if (n_ent > GQ_COST_MAX_REQS)
		return GQ_ETOOBIG;
	*cs = gq_calloc(n_cont + 1, sizeof(**cs));
	*reqs = gq_calloc(n_ent + 1, sizeof(**reqs));
	for (size_t l = 0; l < 2; l++) {
		for (size_t i = 0; a[l] && i < a[l]->u.array.len; i++) {
			yajl_val c = a[l]->u.array.values[i];
			const char *rp = gq_json_str(c, GQ_PATH("restartPolicy"));
			struct gq_cost_container *k = &(*cs)[(*nc)++];

			k->reqs = &(*reqs)[nr];
			k->n_reqs = container_reqs(c, &(*reqs)[nr], container_map_len(c));
			k->init = l == 1;
			k->sidecar = l == 1 && rp && strcmp(rp, "Always") == 0;
			nr += k->n_reqs;
		}
	}
	return GQ_OK;
}

/* See accounting.h. Every nvidia.com/ entry of every container is looked at
 * (on the stack for the usual small maps). */
bool gq_acct_is_gpu_pod(yajl_val pod)
{
	static const char *const lists[] = {"containers", "initContainers"};
	struct gq_cost_req small[32], *reqs;
	bool gpu = false;

	for (size_t l = 0; l < 2 && !gpu; l++) {
		yajl_val a =
		    yajl_tree_get(pod, (const char *[]){"spec", lists[l], NULL}, yajl_t_array);

		for (size_t i = 0; a && i < a->u.array.len && !gpu; i++) {
			size_t cap = container_map_len(a->u.array.values[i]), n;

			reqs = cap <= GQ_ARRAY_LEN(small) ? small : gq_calloc(cap, sizeof(*reqs));
			n = container_reqs(a->u.array.values[i], reqs, cap);
			for (size_t k = 0; k < n && !gpu; k++)
				gpu = reqs[k].count > 0;
			if (reqs != small)
				free(reqs);
		}
	}
	return gpu;
}

/* See accounting.h. Every container and request reaches the cost model
 * (GQ_ETOOBIG past GQ_COST_MAX_REQS entries). */
int gq_acct_pod_weight(struct gq_cost_weight *w, yajl_val pod, int64_t replicas,
		       const struct gq_res_list *overrides)
{
	struct gq_cost_container *cs;
	struct gq_cost_req *reqs;
	size_t nc;
	int rc = pod_containers(pod, &cs, &nc, &reqs);

	if (rc == GQ_OK)
		rc = gq_cost_pod_weight(w, cs, nc, replicas, overrides);
	free(cs);
	free(reqs);
	return rc;
}

/*
 * End of a pod's GPU use at now_ms, 0 while it still runs (see the module
 * comment). A Succeeded or Failed pod ends at its latest container
 * finishedAt, else at its deletion time once that has passed, else at its
 * latest condition transition (never later than now_ms), else at now_ms. Any
 * other pod ends at its deletion time once that has passed.
 */
static int64_t pod_end(yajl_val pod, int64_t now_ms)
{
	const char *phase = gq_json_str(pod, GQ_PATH("status", "phase"));
	int64_t del = time_of(pod, GQ_PATH("metadata", "deletionTimestamp"));
	yajl_val cs =
	    yajl_tree_get(pod, (const char *[]){"status", "containerStatuses", NULL}, yajl_t_array);
	int64_t end = 0;

	if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)) {
		for (size_t i = 0; cs && i < cs->u.array.len; i++) {
			int64_t f = time_of(cs->u.array.values[i],
					    GQ_PATH("state", "terminated", "finishedAt"));

			if (f > end)
				end = f;
		}
		if (end)
			return end;
		if (del && del <= now_ms)
			return del;
		/* No finishedAt: the latest condition transition is when the
		 * pod was seen to terminate (never later than now). */
		{
			yajl_val conds = yajl_tree_get(
			    pod, (const char *[]){"status", "conditions", NULL}, yajl_t_array);

			for (size_t i = 0; conds && i < conds->u.array.len; i++) {
				int64_t t = time_of(conds->u.array.values[i],
						    GQ_PATH("lastTransitionTime"));

				if (t > end)
					end = t;
			}
		}
		return end && end <= now_ms ? end : now_ms;
	}
	if (del && del <= now_ms)
		return del;
	return 0;
}

/* Sets *index to the position of finalizer `name` in pod's
 * metadata.finalizers. GQ_OK, or GQ_ENOTFOUND (*index untouched). */
static int finalizer_index(yajl_val pod, const char *name, size_t *index)
{
	yajl_val f =
	    yajl_tree_get(pod, (const char *[]){"metadata", "finalizers", NULL}, yajl_t_array);

	for (size_t i = 0; f && i < f->u.array.len; i++)
		if (YAJL_IS_STRING(f->u.array.values[i]) &&
		    strcmp(f->u.array.values[i]->u.string, name) == 0) {
			*index = i;
			return GQ_OK;
		}
	return GQ_ENOTFOUND;
}

/* Whether pod carries the budget scheduling gate (GQ_BUDGET_GATE); sets
 * *index to its position in spec.schedulingGates when it does. */
static bool gated(yajl_val pod, size_t *index)
{
	yajl_val g =
	    yajl_tree_get(pod, (const char *[]){"spec", "schedulingGates", NULL}, yajl_t_array);

	for (size_t i = 0; g && i < g->u.array.len; i++)
		if (gq_json_str(g->u.array.values[i], GQ_PATH("name")) &&
		    strcmp(gq_json_str(g->u.array.values[i], GQ_PATH("name")), GQ_BUDGET_GATE) ==
			0) {
			*index = i;
			return true;
		}
	return false;
}

/* See accounting.h. */
bool gq_acct_marks(yajl_val pod, long *finalizer, long *gate)
{
	size_t i;

	*finalizer = finalizer_index(pod, GQ_ACCOUNTING_FINALIZER, &i) == GQ_OK ? (long)i : -1;
	*gate = gated(pod, &i) ? (long)i : -1;
	return *finalizer >= 0 || *gate >= 0;
}

/* Appends {a copy of key, index, has_list false} to *arr (n entries, grown;
 * the array owns the key) and returns the new entry. */
static struct gq_acct_pod *push(struct gq_acct_pod **arr, size_t *n, const char *key, size_t index)
{
	struct gq_acct_pod *a;

	*arr = gq_realloc(*arr, (*n + 1) * sizeof(**arr));
	a = &(*arr)[(*n)++];
	a->key = gq_strdup(key);
	a->index = index;
	a->has_list = false;
	return a;
}

struct scan {
	const char *const *ns;
	size_t n_ns;
	struct gq_informer *nodes;
	const struct gq_team *t;
	int64_t now_ms;
	struct gq_ledger_pod *pods;
	char **keys;	   /* "ns/name" per pods[] entry */
	char **uids;	   /* metadata.uid per pods[] entry (may be NULL) */
	size_t *fin_index; /* our finalizer's index, or SIZE_MAX */
	size_t n;
	struct gq_acct_result *out;
	struct {
		char *key;
		size_t index;
		int64_t created;
	} * held;
	size_t n_held;
	int rc;
	const char *over_class; /* the team's over-budget class, or NULL */
};

/* Whether pod key "ns/name" lies in one of s's namespaces. */
static bool in_team(const struct scan *s, const char *key)
{
	const char *slash = strchr(key, '/');

	for (size_t i = 0; slash && i < s->n_ns; i++)
		if (strlen(s->ns[i]) == (size_t)(slash - key) &&
		    strncmp(s->ns[i], key, (size_t)(slash - key)) == 0)
			return true;
	return false;
}

/*
 * The time-slicing replicas of node `node`: its nvidia.com/gpu.replicas label
 * when it is an integer in 2..1024, else 1 (also for a NULL node: not
 * scheduled yet). Takes the nodes read lock.
 */
static int64_t node_replicas(struct gq_informer *nodes, const char *node)
{
	const char *r;
	int64_t n = 1;

	if (node == NULL)
		return 1;
	gq_informer_rdlock(nodes);
	r = gq_json_str(gq_informer_get(nodes, node),
			GQ_PATH("metadata", "labels", GQ_LABEL_GPU_REPLICAS));
	if (r) {
		char *end;
		long long v = strtoll(r, &end, 10);

		if (*end == '\0' && v > 1 && v <= 1024)
			n = v;
	}
	gq_informer_unlock(nodes);
	return n;
}

/*
 * gq_informer_foreach callback over the pod cache (the caller holds the pods
 * read lock; node_replicas takes the nodes read lock): for each GPU pod of
 * s's namespaces, appends its ledger inputs (start, end, weight; a weight of
 * 1 when the cost model refuses the pod), key, uid and our finalizer's index
 * to s (copies, owned by s), counts running and deprioritized pods in s->out,
 * queues the finalizer add of a live pod without it, and collects held pods.
 * Returns 0.
 */
static int scan_pod(void *arg, const char *key, yajl_val pod)
{
	struct scan *s = arg;
	struct gq_cost_weight w;
	size_t fi = (size_t)-1, gi;
	bool has_fin;

	if (!in_team(s, key) || !gq_acct_is_gpu_pod(pod))
		return 0;
	has_fin = finalizer_index(pod, GQ_ACCOUNTING_FINALIZER, &fi) == GQ_OK;
	if (gq_acct_pod_weight(
		&w, pod, node_replicas(s->nodes, gq_json_str(pod, GQ_PATH("spec", "nodeName"))),
		&s->t->budget.weights) != GQ_OK) {
		w.num = 1;
		w.den = 1;
	}
	s->pods = gq_realloc(s->pods, (s->n + 1) * sizeof(*s->pods));
	s->keys = gq_realloc(s->keys, (s->n + 1) * sizeof(*s->keys));
	s->uids = gq_realloc(s->uids, (s->n + 1) * sizeof(*s->uids));
	s->uids[s->n] = gq_json_str(pod, GQ_PATH("metadata", "uid"))
			    ? gq_strdup(gq_json_str(pod, GQ_PATH("metadata", "uid")))
			    : NULL;
	s->fin_index = gq_realloc(s->fin_index, (s->n + 1) * sizeof(*s->fin_index));
	s->pods[s->n].start_ms = time_of(pod, GQ_PATH("status", "startTime"));
	s->pods[s->n].end_ms = pod_end(pod, s->now_ms);
	s->pods[s->n].weight = w;
	s->keys[s->n] = gq_strdup(key);
	s->fin_index[s->n] = has_fin ? fi : (size_t)-1;
	if (s->pods[s->n].end_ms == 0 && s->pods[s->n].start_ms)
		s->out->running_gpu_pods++;
	if (s->pods[s->n].end_ms == 0 && s->over_class &&
	    gq_json_str(pod, GQ_PATH("spec", "priorityClassName")) &&
	    strcmp(gq_json_str(pod, GQ_PATH("spec", "priorityClassName")), s->over_class) == 0)
		s->out->deprioritized_gpu_pods++;
	/* A pod without our finalizer (admitted while the webhook was away):
	 * add it, unless it is already going. */
	if (!has_fin && !gq_json_str(pod, GQ_PATH("metadata", "deletionTimestamp")) &&
	    s->pods[s->n].end_ms == 0)
		push(&s->out->add, &s->out->n_add, key, 0)->has_list =
		    yajl_tree_get(pod, (const char *[]){"metadata", "finalizers", NULL},
				  yajl_t_array) != NULL;
	if (gated(pod, &gi)) {
		s->held = gq_realloc(s->held, (s->n_held + 1) * sizeof(*s->held));
		s->held[s->n_held].key = gq_strdup(key);
		s->held[s->n_held].index = gi;
		s->held[s->n_held].created = time_of(pod, GQ_PATH("metadata", "creationTimestamp"));
		s->n_held++;
	}
	s->n++;
	return 0;
}

/* bsearch comparator: a pod uid (key) against a charged record. */
static int charged_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct gq_charged_pod *)elem)->uid);
}

/*
 * Re-charges the scanned pods whose (start, end, weight) differ from the
 * record of what out->ledger charged them for, and fills out->charged (owned
 * by out, allocated even when an error is returned) with the records of every
 * scanned pod with a uid as it is now; a pod without a uid is neither
 * re-charged nor recorded. With have_recs, recs (sorted by uid, borrowed) is
 * what the ledger charged: a pod without a record was not in the cache then
 * and was charged nothing. Without (a ledger read back from status) every pod
 * is taken as charged for what it shows now. Returns GQ_OK or
 * gq_ledger_recharge's error.
 */
static int recharge_moved(struct gq_acct_result *out, const struct scan *s, bool have_recs,
			  const struct gq_charged_pod *recs, size_t n_recs)
{
	static const struct gq_charged_pod none = {NULL, {0, 0, {0, 1}}};

	int rc = GQ_OK;

	out->charged = gq_calloc(s->n + 1, sizeof(*out->charged));
	for (size_t i = 0; i < s->n; i++) {
		const struct gq_charged_pod *rec = NULL;
		bool ch = false;

		if (s->uids[i] == NULL)
			continue;
		if (have_recs) {
			rec = n_recs ? bsearch(s->uids[i], recs, n_recs, sizeof(*recs),
					       charged_key_cmp)
				     : NULL;
			if (rec == NULL)
				rec = &none;
		}
		if (rec) {
			rc = gq_ledger_recharge(&out->ledger, &rec->pod, &s->pods[i], &ch);
			if (rc != GQ_OK)
				return rc;
			if (ch)
				gq_info(
				    "ledger re-charged a pod | team=%s pod=%s start_ms=%lld->%lld "
				    "end_ms=%lld->%lld",
				    s->t->name, s->keys[i], (long long)rec->pod.start_ms,
				    (long long)s->pods[i].start_ms, (long long)rec->pod.end_ms,
				    (long long)s->pods[i].end_ms);
			out->recharged |= ch;
		}
		out->charged[out->n_charged].uid = gq_strdup(s->uids[i]);
		out->charged[out->n_charged].pod = s->pods[i];
		out->n_charged++;
	}
	return GQ_OK;
}

/*
 * The write policy: whether the status must carry the ledger of this pass
 * (out->persist), else what it keeps carrying (out->status_ledger = *last,
 * the ledger last persisted, exact up to its own accountedUntil; NULL:
 * unknown, write). must: a new ledger, a rollover or a re-charge.
 * Otherwise a write is due when the usage moved and write_interval_ms (<= 0: at once) passed since
 * the last one, when a threshold (exhausted, warning) flipped, or when ended pods wait for their
 * finalizer, at most once a second: sooner, their release is put off (out->retry_after_ms). Pure.
 */
static void decide_write(struct gq_acct_result *out, const struct gq_team *t,
			 const struct gq_ledger *last, bool must, int64_t persisted, int64_t now_ms,
			 int64_t write_interval_ms)
{
	struct gq_ledger *sl = &out->status_ledger;
	int64_t since = persisted >= 0 ? now_ms - persisted : INT64_MAX;
	bool moved, flipped;

	if (last == NULL)
		must = true;
	else
		*sl = *last;
	if (must) {
		out->persist = true;
	} else {
		moved = sl->used_micro != out->ledger.used_micro;
		flipped = gq_ledger_exhausted(sl, out->budget_micro) != out->exhausted ||
			  (t->budget.warn_at_percent > 0 &&
			   gq_cost_warn_reached(sl->used_micro, out->budget_micro,
						t->budget.warn_at_percent) != out->warn);
		out->persist =
		    flipped || (moved && (write_interval_ms <= 0 || since >= write_interval_ms));
		if (out->n_finalize > 0 && !out->persist) {
			if (write_interval_ms <= 0 || since >= 1000) {
				out->persist = true;
			} else {
				for (size_t i = 0; i < out->n_finalize; i++)
					free(out->finalize[i].key);
				out->n_finalize = 0;
				out->retry_after_ms = 1000 - since;
			}
		}
	}
	if (out->persist)
		*sl = out->ledger;
	out->persist_until_ms = out->persist ? out->ledger.accounted_until_ms : persisted;
}

/*
 * qsort comparator of held pods: oldest creationTimestamp first, then by key.
 */
static int held_cmp(const void *a, const void *b)
{
	const struct {
		char *key;
		size_t index;
		int64_t created;
	} *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* Where a pass's ledger starts (load_ledger). */
struct ledger_start {
	int64_t persisted;	     /* accountedUntil the status carries; -1: nothing yet */
	bool have_recs;		     /* recs are the registry's charge records */
	struct gq_charged_pod *recs; /* owned */
	size_t n_recs;
	bool have_last; /* last is the ledger last persisted */
	struct gq_ledger last;
};

/*
 * The ledger a pass starts from, into out->ledger: the registry's (with its
 * charge records and the ledger last persisted), else the one in
 * prev_status, else a new one from anchor_ms. GQ_OK or the error of
 * gq_ledger_init (err set).
 */
static int load_ledger(struct gq_acct_result *out, struct ledger_start *st,
		       struct gq_budget_registry *reg, const struct gq_team *t,
		       yajl_val prev_status, int64_t anchor_ms, struct gq_err *err)
{
	int rc;

	if (reg && gq_budget_get_ledger(reg, t->name, t->uid, &out->ledger, &st->persisted)) {
		st->have_recs = gq_budget_get_charged(reg, t->name, t->uid, &st->recs, &st->n_recs);
		st->have_last = gq_budget_get_persisted(reg, t->name, t->uid, &st->last);
		return GQ_OK;
	}
	if (gq_acct_ledger_from_status(&out->ledger, prev_status) == GQ_OK) {
		st->persisted = out->ledger.accounted_until_ms;
		st->last = out->ledger;
		st->have_last = true;
		return GQ_OK;
	}
	rc = gq_ledger_init(&out->ledger, &t->budget, anchor_ms, anchor_ms);
	if (rc != GQ_OK)
		return gq_err_set(err, rc, "cannot start the ledger");
	st->persisted = -1; /* nothing persisted yet */
	return GQ_OK;
}

/* The ended pods whose finalizer can go: counted up to the ledger's
 * accountedUntil (a pod that never started only once it is being deleted). */
static void finalize_ended(struct gq_acct_result *out, const struct scan *s,
			   struct gq_informer *pods)
{
	for (size_t i = 0; i < s->n; i++) {
		bool ended = s->pods[i].end_ms != 0 || s->pods[i].start_ms == 0;

		if (s->fin_index[i] == (size_t)-1 || !ended)
			continue;
		/* A pod that never started but is not going away keeps it. */
		if (s->pods[i].start_ms == 0 && s->pods[i].end_ms == 0) {
			bool going = false;

			gq_informer_rdlock(pods);
			going = gq_json_str(gq_informer_get(pods, s->keys[i]),
					    GQ_PATH("metadata", "deletionTimestamp")) != NULL;
			gq_informer_unlock(pods);
			if (!going)
				continue;
		}
		if (s->pods[i].end_ms > out->ledger.accounted_until_ms)
			continue;
		push(&out->finalize, &out->n_finalize, s->keys[i], s->fin_index[i]);
	}
}

/* Frees what a scan holds. */
static void scan_free(struct scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->keys[i]);
		free(s->uids[i]);
	}
	free(s->uids);
	for (size_t i = 0; i < s->n_held; i++)
		free(s->held[i].key);
	free(s->held);
	free(s->keys);
	free(s->pods);
	free(s->fin_index);
}

/* See accounting.h. */
int gq_acct_run(struct gq_acct_result *out, struct gq_budget_registry *reg,
		struct gq_informer *pods, struct gq_informer *nodes, const struct gq_team *t,
		const char *const *namespaces, size_t n_ns, yajl_val prev_status, int64_t now_ms,
		int64_t write_interval_ms, struct gq_err *err)
{
	char *over = gq_team_has_over_budget_class(t) ? gq_team_over_budget_class(t) : NULL;
	struct scan s = {namespaces, n_ns, nodes, t,	now_ms, NULL,  NULL, NULL,
			 NULL,	     0,	   out,	  NULL, 0,	GQ_OK, over};
	struct ledger_start st = {0};
	int64_t anchor = 0, ps;
	struct gq_ledger before;
	bool must;
	int rc;

	memset(out, 0, sizeof(*out));
	if (t->creation_timestamp)
		gq_rfc3339_parse(t->creation_timestamp, &anchor);
	if (anchor == 0)
		anchor = now_ms;
	rc = gq_ledger_budget_micro(&t->budget, &out->budget_micro);
	if (rc != GQ_OK) {
		gq_err_set(err, rc, "budget.gpuHours out of range");
		goto out;
	}
	rc = load_ledger(out, &st, reg, t, prev_status, anchor, err);
	if (rc != GQ_OK)
		goto out;
	/* The team's namespaces only, from the pod cache's namespace index. */
	gq_informer_rdlock(pods);
	for (size_t i = 0; i < n_ns; i++)
		gq_informer_foreach_ns(pods, namespaces[i], scan_pod, &s);
	gq_informer_unlock(pods);
	out->held_gpu_pods = (int64_t)s.n_held;

	before = out->ledger;
	rc = recharge_moved(out, &s, st.have_recs, st.recs, st.n_recs);
	if (rc != GQ_OK) {
		gq_err_set(err, rc, "ledger re-charge failed");
		goto out;
	}
	ps = out->ledger.period_start_ms;
	rc = gq_ledger_advance(&out->ledger, &t->budget, anchor, out->budget_micro, s.pods, s.n,
			       now_ms);
	if (rc != GQ_OK) {
		gq_err_set(err, rc, "ledger advance failed");
		goto out;
	}
	must = st.persisted < 0 || out->ledger.period_start_ms != ps || out->recharged;
	out->accounted_micro = gq_ledger_accounted_since(&before, &out->ledger);
	finalize_ended(out, &s, pods);
	out->exhausted = gq_ledger_exhausted(&out->ledger, out->budget_micro);
	out->warn = t->budget.warn_at_percent > 0 &&
		    gq_cost_warn_reached(out->ledger.used_micro, out->budget_micro,
					 t->budget.warn_at_percent);
	decide_write(out, t, st.have_last ? &st.last : NULL, must, st.persisted, now_ms,
		     write_interval_ms);
	if (!out->exhausted && s.n_held) {
		qsort(s.held, s.n_held, sizeof(*s.held), held_cmp);
		for (size_t i = 0; i < s.n_held; i++)
			push(&out->release, &out->n_release, s.held[i].key, s.held[i].index);
	}
out:
	scan_free(&s);
	gq_charged_free(st.recs, st.n_recs);
	free(over);
	return rc;
}
