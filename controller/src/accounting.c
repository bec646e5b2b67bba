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
#include "pod.h"
#include "quantity.h"
#include "rfc3339.h"

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
	l->period_start_ms = gq_json_time_ms(usage, GQ_PATH("periodStart"));
	l->period_end_ms = gq_json_time_ms(usage, GQ_PATH("periodEnd"));
	l->accounted_until_ms = gq_json_time_ms(usage, GQ_PATH("accountedUntil"));
	/* All three are required: a missing or unreadable one would read as
	 * 1970 and move the stored usage into a bogus history record. */
	if (l->period_start_ms <= 0 || l->period_end_ms <= 0 || l->accounted_until_ms <= 0)
		return GQ_EINVAL;
	l->used_micro = int_of(usage, GQ_PATH("usedMicroGPUSeconds"));
	for (size_t i = 0; hist && i < hist->u.array.len && i < GQ_LEDGER_HISTORY; i++) {
		yajl_val h = hist->u.array.values[i];
		struct gq_ledger_period_rec *rec = &l->history[l->n_history++];
		const char *b = gq_json_str(h, GQ_PATH("budgetGPUHours"));

		rec->start_ms = gq_json_time_ms(h, GQ_PATH("periodStart"));
		rec->end_ms = gq_json_time_ms(h, GQ_PATH("periodEnd"));
		rec->used_micro = int_of(h, GQ_PATH("usedMicroGPUSeconds"));
		if (b == NULL || gq_ledger_parse_hours(b, &rec->budget_micro) != GQ_OK)
			rec->budget_micro = 0;
	}
	return gq_ledger_check(l) == GQ_OK ? GQ_OK : GQ_EINVAL;
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
	const struct gq_acct_in *in;
	struct gq_ledger_pod *pods; /* ledger inputs of the GPU pods */
	const struct gq_pod **src;  /* ... the pod each entry is of (borrowed) */
	size_t n;
	struct gq_acct_result *out;
	const struct gq_pod **held; /* pods waiting on the budget gate */
	size_t n_held;
	const char *over_class; /* the team's over-budget class, or NULL */
};

/* bsearch comparator: a node name (key) against a struct gq_acct_node. */
static int node_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct gq_acct_node *)elem)->name);
}

/* The time-slicing replicas of node `node` in the observation (1 for a node
 * not observed and for a NULL node: not scheduled yet). */
static int64_t node_replicas(const struct gq_acct_in *in, const char *node)
{
	const struct gq_acct_node *n;

	if (node == NULL || in->n_nodes == 0)
		return 1;
	n = bsearch(node, in->nodes, in->n_nodes, sizeof(*in->nodes), node_key_cmp);
	return n ? n->replicas : 1;
}

/*
 * For GPU pod p of the team: appends its ledger inputs (start, end, weight;
 * a weight of 1 when the cost model refuses the pod) to s, counts running
 * and deprioritized pods in s->out, queues the finalizer add of a live pod
 * without it, and collects held pods.
 */
static void scan_pod(struct scan *s, const struct gq_pod *p)
{
	struct gq_ledger_pod *lp = &s->pods[s->n];

	if (gq_pod_weight(&lp->weight, p, node_replicas(s->in, p->node),
			  &s->in->t->budget.weights) != GQ_OK)
		lp->weight = (struct gq_cost_weight){1, 1};
	lp->start_ms = p->start_ms;
	lp->end_ms = gq_pod_end(p, s->in->now_ms);
	s->src[s->n++] = p;
	if (lp->end_ms == 0 && lp->start_ms)
		s->out->running_gpu_pods++;
	if (lp->end_ms == 0 && s->over_class && p->priority_class &&
	    strcmp(p->priority_class, s->over_class) == 0)
		s->out->deprioritized_gpu_pods++;
	/* A pod without our finalizer (admitted while the webhook was away):
	 * add it, unless it is already going. */
	if (p->finalizer < 0 && !p->deleting && lp->end_ms == 0)
		push(&s->out->add, &s->out->n_add, p->key, 0)->has_list = p->has_finalizers;
	if (p->gate >= 0)
		s->held[s->n_held++] = p;
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

		if (s->src[i]->uid == NULL)
			continue;
		if (have_recs) {
			rec = n_recs ? bsearch(s->src[i]->uid, recs, n_recs, sizeof(*recs),
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
				    s->in->t->name, s->src[i]->key, (long long)rec->pod.start_ms,
				    (long long)s->pods[i].start_ms, (long long)rec->pod.end_ms,
				    (long long)s->pods[i].end_ms);
			out->recharged |= ch;
		}
		out->charged[out->n_charged].uid = gq_strdup(s->src[i]->uid);
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

/* qsort comparator of held pods (const struct gq_pod *): oldest
 * creationTimestamp first, then by key. */
static int held_cmp(const void *a, const void *b)
{
	const struct gq_pod *x = *(const struct gq_pod *const *)a;
	const struct gq_pod *y = *(const struct gq_pod *const *)b;

	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	return strcmp(x->key, y->key);
}

/*
 * The ledger a pass starts from, into out->ledger: the prior one (the
 * registry's, with its charge records and the ledger last persisted), else
 * the one in prev_status, else a new one from anchor_ms. *st is filled
 * with borrowed pointers into prior. GQ_OK or the error of gq_ledger_init
 * (err set).
 */
static int load_ledger(struct gq_acct_result *out, struct gq_acct_prior *st,
		       const struct gq_acct_in *in, int64_t anchor_ms, struct gq_err *err)
{
	int rc;

	memset(st, 0, sizeof(*st));
	if (in->prior && in->prior->have) {
		*st = *in->prior;
		out->ledger = st->ledger;
		return GQ_OK;
	}
	if (gq_acct_ledger_from_status(&out->ledger, in->prev_status) == GQ_OK) {
		st->persisted = out->ledger.accounted_until_ms;
		st->last = out->ledger;
		st->have_last = true;
		return GQ_OK;
	}
	rc = gq_ledger_init(&out->ledger, &in->t->budget, anchor_ms, anchor_ms);
	if (rc != GQ_OK)
		return gq_err_set(err, rc, "cannot start the ledger");
	st->persisted = -1; /* nothing persisted yet */
	return GQ_OK;
}

/* The ended pods whose finalizer can go: counted up to the ledger's
 * accountedUntil (a pod that never started only once it is being deleted). */
static void finalize_ended(struct gq_acct_result *out, const struct scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		bool ended = s->pods[i].end_ms != 0 || s->pods[i].start_ms == 0;

		if (s->src[i]->finalizer < 0 || !ended)
			continue;
		/* A pod that never started but is not going away keeps it. */
		if (s->pods[i].start_ms == 0 && s->pods[i].end_ms == 0 && !s->src[i]->deleting)
			continue;
		if (s->pods[i].end_ms > out->ledger.accounted_until_ms)
			continue;
		push(&out->finalize, &out->n_finalize, s->src[i]->key,
		     (size_t)s->src[i]->finalizer);
	}
}

/* The team's GPU pods, scanned into s (allocated here; freed by the caller
 * with free on s->pods, s->src, s->held). */
static void scan_all(struct scan *s)
{
	const struct gq_acct_in *in = s->in;

	s->pods = gq_calloc(in->n_pods + 1, sizeof(*s->pods));
	s->src = gq_calloc(in->n_pods + 1, sizeof(*s->src));
	s->held = gq_calloc(in->n_pods + 1, sizeof(*s->held));
	for (size_t i = 0; i < in->n_pods; i++)
		if (in->pods[i].gpu)
			scan_pod(s, &in->pods[i]);
	s->out->held_gpu_pods = (int64_t)s->n_held;
}

/* See accounting.h. */
int gq_acct_compute(struct gq_acct_result *out, const struct gq_acct_in *in, struct gq_err *err)
{
	const struct gq_team *t = in->t;
	char *over = gq_team_has_over_budget_class(t) ? gq_team_over_budget_class(t) : NULL;
	struct scan s = {.in = in, .out = out, .over_class = over};
	struct gq_acct_prior st;
	int64_t anchor = 0, ps;
	struct gq_ledger before;
	bool must;
	int rc;

	memset(out, 0, sizeof(*out));
	if (t->creation_timestamp)
		gq_rfc3339_parse(t->creation_timestamp, &anchor);
	if (anchor == 0)
		anchor = in->now_ms;
	rc = gq_ledger_budget_micro(&t->budget, &out->budget_micro);
	if (rc != GQ_OK) {
		gq_err_set(err, rc, "budget.gpuHours out of range");
		goto out;
	}
	rc = load_ledger(out, &st, in, anchor, err);
	if (rc != GQ_OK)
		goto out;
	scan_all(&s);
	before = out->ledger;
	rc = recharge_moved(out, &s, st.have_recs, st.recs, st.n_recs);
	if (rc != GQ_OK) {
		gq_err_set(err, rc, "ledger re-charge failed");
		goto out;
	}
	ps = out->ledger.period_start_ms;
	rc = gq_ledger_advance(&out->ledger, &t->budget, anchor, out->budget_micro, s.pods, s.n,
			       in->now_ms);
	if (rc != GQ_OK) {
		gq_err_set(err, rc, "ledger advance failed");
		goto out;
	}
	must = st.persisted < 0 || out->ledger.period_start_ms != ps || out->recharged;
	out->accounted_micro = gq_ledger_accounted_since(&before, &out->ledger);
	finalize_ended(out, &s);
	out->exhausted = gq_ledger_exhausted(&out->ledger, out->budget_micro);
	out->warn = t->budget.warn_at_percent > 0 &&
		    gq_cost_warn_reached(out->ledger.used_micro, out->budget_micro,
					 t->budget.warn_at_percent);
	decide_write(out, t, st.have_last ? &st.last : NULL, must, st.persisted, in->now_ms,
		     in->write_interval_ms);
	if (!out->exhausted && s.n_held) {
		qsort(s.held, s.n_held, sizeof(*s.held), held_cmp);
		for (size_t i = 0; i < s.n_held; i++)
			push(&out->release, &out->n_release, s.held[i]->key,
			     (size_t)s.held[i]->gate);
	}
out:
	free(s.pods);
	free(s.src);
	free(s.held);
	free(over);
	return rc;
}

/* gq_informer_foreach_ns_conv callback over the compact pod cache: appends
 * a copy of a GPU pod to the observation (arg). Returns 0. */
static int observe_pod(void *arg, const char *key, const void *conv)
{
	struct gq_acct_obs *o = arg;
	const struct gq_pod *p = conv;

	(void)key;
	if (!p->gpu)
		return 0;
	o->pods = gq_realloc(o->pods, (o->n_pods + 1) * sizeof(*o->pods));
	gq_pod_copy(&o->pods[o->n_pods++], p);
	return 0;
}

/* qsort comparator of struct gq_acct_node by name. */
static int node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gq_acct_node *)a)->name,
		      ((const struct gq_acct_node *)b)->name);
}

/* The time-slicing replicas a node object declares: its
 * nvidia.com/gpu.replicas label when it is an integer in 2..1024, else 1. */
static int64_t replicas_of(yajl_val node)
{
	const char *r = gq_json_str(node, GQ_PATH("metadata", "labels", GQ_LABEL_GPU_REPLICAS));
	char *end;
	long long v;

	if (r == NULL)
		return 1;
	v = strtoll(r, &end, 10);
	return *end == '\0' && v > 1 && v <= 1024 ? v : 1;
}

/* The nodes o's pods run on, with their replicas, sorted (nodes read lock
 * taken here). */
static void observe_nodes(struct gq_acct_obs *o, struct gq_informer *nodes)
{
	o->nodes = gq_calloc(o->n_pods + 1, sizeof(*o->nodes));
	gq_informer_rdlock(nodes);
	for (size_t i = 0; i < o->n_pods; i++) {
		const char *n = o->pods[i].node;
		bool seen = false;

		for (size_t j = 0; n && j < o->n_nodes && !seen; j++)
			seen = strcmp(o->nodes[j].name, n) == 0;
		if (n == NULL || seen)
			continue;
		o->nodes[o->n_nodes].name = gq_strdup(n);
		o->nodes[o->n_nodes].replicas = replicas_of(gq_informer_get(nodes, n));
		o->n_nodes++;
	}
	gq_informer_unlock(nodes);
	if (o->n_nodes > 1)
		qsort(o->nodes, o->n_nodes, sizeof(*o->nodes), node_cmp);
}

/* See accounting.h. */
void gq_acct_prior_load(struct gq_acct_prior *p, struct gq_registry *reg, const struct gq_team *t)
{
	memset(p, 0, sizeof(*p));
	if (reg && gq_registry_get_ledger(reg, t->name, t->uid, &p->ledger, &p->persisted)) {
		p->have = true;
		p->have_recs = gq_registry_get_charged(reg, t->name, t->uid, &p->recs, &p->n_recs);
		p->have_last = gq_registry_get_persisted(reg, t->name, t->uid, &p->last);
	}
}

/* See accounting.h. */
bool gq_acct_quiet(struct gq_ledger *out, const struct gq_team *t, const struct gq_acct_prior *p,
		   int64_t now_ms, int64_t write_interval_ms)
{
	struct gq_ledger l;
	struct gq_ledger_pod *pods;
	int64_t budget = 0, anchor = 0, ps;
	int pct = t->budget.warn_at_percent;
	bool ok;

	if (!p->have || !p->have_recs || !p->have_last || p->persisted < 0 ||
	    gq_ledger_budget_micro(&t->budget, &budget) != GQ_OK)
		return false;
	if (t->creation_timestamp)
		gq_rfc3339_parse(t->creation_timestamp, &anchor);
	if (anchor == 0)
		return false;
	pods = gq_calloc(p->n_recs + 1, sizeof(*pods));
	ok = true;
	for (size_t i = 0; i < p->n_recs && ok; i++) {
		pods[i] = p->recs[i].pod;
		ok = pods[i].end_ms == 0 &&
		     pods[i].start_ms != 0; /* ended or not started: a full pass */
	}
	l = p->ledger;
	ps = l.period_start_ms;
	ok = ok &&
	     gq_ledger_advance(&l, &t->budget, anchor, budget, pods, p->n_recs, now_ms) == GQ_OK;
	free(pods);
	if (!ok || l.period_start_ms != ps)
		return false;
	if (gq_ledger_exhausted(&l, budget) != gq_ledger_exhausted(&p->last, budget) ||
	    (pct > 0 && gq_cost_warn_reached(l.used_micro, budget, pct) !=
			    gq_cost_warn_reached(p->last.used_micro, budget, pct)))
		return false; /* a threshold crossed: written at once */
	if (l.used_micro != p->last.used_micro &&
	    (write_interval_ms <= 0 || now_ms - p->persisted >= write_interval_ms))
		return false; /* a usage write is due */
	*out = l;
	return true;
}

/* See accounting.h. */
void gq_acct_observe(struct gq_acct_obs *o, struct gq_registry *reg, struct gq_informer *pods,
		     struct gq_informer *nodes, const struct gq_team *t,
		     const char *const *namespaces, size_t n_ns)
{
	struct gq_acct_prior *p = &o->prior;

	memset(o, 0, sizeof(*o));
	gq_informer_rdlock(pods);
	for (size_t i = 0; i < n_ns; i++)
		gq_informer_foreach_ns_conv(pods, namespaces[i], observe_pod, o);
	gq_informer_unlock(pods);
	if (nodes)
		observe_nodes(o, nodes);
	gq_acct_prior_load(p, reg, t);
}

/* See accounting.h. */
void gq_acct_obs_free(struct gq_acct_obs *o)
{
	for (size_t i = 0; i < o->n_pods; i++)
		gq_pod_free(&o->pods[i]);
	free(o->pods);
	for (size_t i = 0; i < o->n_nodes; i++)
		free(o->nodes[i].name);
	free(o->nodes);
	gq_charged_free(o->prior.recs, o->prior.n_recs);
	memset(o, 0, sizeof(*o));
}

/* See accounting.h. */
int gq_acct_run(struct gq_acct_result *out, struct gq_registry *reg, struct gq_informer *pods,
		struct gq_informer *nodes, const struct gq_team *t, const char *const *namespaces,
		size_t n_ns, yajl_val prev_status, int64_t now_ms, int64_t write_interval_ms,
		struct gq_err *err)
{
	struct gq_acct_obs o;
	int rc;

	gq_acct_observe(&o, reg, pods, nodes, t, namespaces, n_ns);
	rc = gq_acct_compute(out,
			     &(struct gq_acct_in){t, o.pods, o.n_pods, o.nodes, o.n_nodes, &o.prior,
						  prev_status, now_ms, write_interval_ms},
			     err);
	gq_acct_obs_free(&o);
	return rc;
}
