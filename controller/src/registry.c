/*
 * registry.c - the team registry: per-team ledgers and admission snapshots, and
 * the webhook handler that decides from it. One mutex guards the registry;
 * the handler holds it only while deciding (microseconds).
 */
#include "registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* Admission decisions counted per team (label decision=). */
enum decision { D_ALLOW, D_DENY, D_HOLD, D_DEPRIORITIZE, D_DEFAULT_TIER, D_WARN, N_DECISIONS };
static const char *const decision_names[N_DECISIONS] = {"allow",	"deny",		"hold",
							"deprioritize", "default_tier", "warn"};

/* Owned copy of a gq_adm_team plus the team's namespaces and ledger. */
struct entry {
	char *team;
	char *uid;
	bool has_ledger;
	struct gq_ledger ledger;
	int64_t persisted_until_ms;
	bool has_persisted;	    /* persisted below is set (same uid) */
	struct gq_ledger persisted; /* the ledger as last persisted */

	bool settled; /* the last full pass wrote nothing and found nothing to do */

	bool has_charged;
	char *charged_uid;
	struct gq_charged_pod *charged; /* sorted by uid */
	size_t n_charged;

	bool has_adm;
	char **namespaces;
	size_t n_ns;
	struct gq_adm_team adm; /* strings below are owned by the entry */
	char **tier_classes;
	char **exempt_classes;
	struct gq_res_list *weights; /* owned; adm.weights (entries move: on the heap) */
	char *default_class, *default_pp, *reset_time, *over_budget_class, *pool;

	bool has_figures;
	struct gq_registry_figures fig; /* fig.res points at res below */
	struct gq_registry_res *res;	/* resource names owned */
	uint64_t gpu_micro_total;	/* accounted micro GPU-seconds, never decreases */
	uint64_t decisions[N_DECISIONS];
};

struct gq_registry {
	pthread_mutex_t mu;
	struct entry *e;
	size_t n;
	atomic_ullong reviews, malformed, denied, held, deprioritized;
	struct gq_metrics_histogram admit_seconds; /* time to answer a review */
};

int gq_registry_new(struct gq_registry **out)
{
	struct gq_registry *r = gq_calloc(1, sizeof(*r));

	pthread_mutex_init(&r->mu, NULL);
	gq_metrics_histogram_init(&r->admit_seconds, gq_metrics_latency_buckets,
				  gq_metrics_n_latency_buckets);
	*out = r;
	return GQ_OK;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static char **strv_dup(const char *const *v, size_t n)
{
	char **c = gq_calloc(n ? n : 1, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		c[i] = gq_strdup(v[i]);
	return c;
}

static char *opt_dup(const char *s)
{
	return s ? gq_strdup(s) : NULL;
}

static void entry_clear_adm(struct entry *e)
{
	strv_free(e->namespaces, e->n_ns);
	strv_free(e->tier_classes, e->adm.n_tiers);
	strv_free(e->exempt_classes, e->adm.n_exempt);
	if (e->weights != NULL)
		gq_res_list_free(e->weights);
	free(e->weights);
	e->weights = NULL;
	free(e->default_class);
	free(e->default_pp);
	free(e->reset_time);
	free(e->over_budget_class);
	free(e->pool);
	free((char *)e->adm.name);
	e->namespaces = e->tier_classes = e->exempt_classes = NULL;
	e->default_class = e->default_pp = e->reset_time = e->over_budget_class = NULL;
	e->pool = NULL;
	e->n_ns = 0;
	memset(&e->adm, 0, sizeof(e->adm));
	e->has_adm = false;
}

static void entry_clear_figures(struct entry *e)
{
	for (size_t i = 0; e->res && i < e->fig.n_res; i++)
		free((char *)e->res[i].resource);
	free(e->res);
	e->res = NULL;
	memset(&e->fig, 0, sizeof(e->fig));
	e->has_figures = false;
}

void gq_charged_free(struct gq_charged_pod *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++)
		free(c[i].uid);
	free(c);
}

static void entry_free(struct entry *e)
{
	gq_charged_free(e->charged, e->n_charged);
	free(e->charged_uid);
	entry_clear_adm(e);
	entry_clear_figures(e);
	free(e->team);
	free(e->uid);
}

void gq_registry_free(struct gq_registry *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		entry_free(&r->e[i]);
	free(r->e);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* The entry of team, created when missing. Caller holds the mutex. */
static struct entry *entry_get(struct gq_registry *r, const char *team, bool create)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->e[i].team, team) == 0)
			return &r->e[i];
	if (!create)
		return NULL;
	r->e = gq_realloc(r->e, (r->n + 1) * sizeof(*r->e));
	memset(&r->e[r->n], 0, sizeof(r->e[r->n]));
	r->e[r->n].team = gq_strdup(team);
	return &r->e[r->n++];
}

void gq_registry_set_settled(struct gq_registry *r, const char *team, const char *uid, bool settled)
{
	struct entry *e;

	pthread_mutex_lock(&r->mu);
	e = entry_get(r, team, false);
	if (e)
		e->settled = settled && e->uid && uid && strcmp(e->uid, uid) == 0;
	pthread_mutex_unlock(&r->mu);
}

bool gq_registry_advance(struct gq_registry *r, const char *team, const char *uid,
			 const struct gq_ledger *l)
{
	struct entry *e;
	bool ok = false;

	pthread_mutex_lock(&r->mu);
	e = entry_get(r, team, false);
	if (e && e->settled && e->has_ledger && e->has_adm && e->has_figures && e->uid && uid &&
	    strcmp(e->uid, uid) == 0) {
		e->ledger = *l;
		e->adm.used_micro = l->used_micro;
		e->fig.used_micro = l->used_micro;
		ok = true;
	}
	pthread_mutex_unlock(&r->mu);
	return ok;
}

bool gq_registry_get_settled(struct gq_registry *r, const char *team, const char *uid)
{
	struct entry *e;
	bool s = false;

	pthread_mutex_lock(&r->mu);
	e = entry_get(r, team, false);
	if (e && e->settled && e->uid && uid && strcmp(e->uid, uid) == 0)
		s = true;
	pthread_mutex_unlock(&r->mu);
	return s;
}

bool gq_registry_get_ledger(struct gq_registry *r, const char *team, const char *uid,
			    struct gq_ledger *out, int64_t *persisted_until_ms)
{
	struct entry *e;
	bool found = false;

	pthread_mutex_lock(&r->mu);
	e = entry_get(r, team, false);
	if (e && e->has_ledger && e->uid && uid && strcmp(e->uid, uid) == 0) {
		*out = e->ledger;
		*persisted_until_ms = e->persisted_until_ms;
		found = true;
	}
	pthread_mutex_unlock(&r->mu);
	return found;
}

void gq_registry_put_ledger(struct gq_registry *r, const char *team, const char *uid,
			    const struct gq_ledger *l, int64_t persisted_until_ms)
{
	struct entry *e;

	pthread_mutex_lock(&r->mu);
	e = entry_get(r, team, true);
	if (e->uid == NULL || strcmp(e->uid, uid ? uid : "") != 0)
		e->has_persisted = false; /* another allocation of that name */
	free(e->uid);
	e->uid = gq_strdup(uid ? uid : "");
	e->ledger = *l;
	e->persisted_until_ms = persisted_until_ms;
	e->has_ledger = true;
	if (l->accounted_until_ms == persisted_until_ms) {
		e->persisted = *l;
		e->has_persisted = true;
	}
	pthread_mutex_unlock(&r->mu);
}

void gq_registry_reset_ledgers(struct gq_registry *r)
{
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n; i++) {
		struct entry *e = &r->e[i];

		e->has_ledger = false;
		e->has_persisted = false;
		e->settled = false;
		gq_charged_free(e->charged, e->n_charged);
		e->charged = NULL;
		e->n_charged = 0;
		e->has_charged = false;
	}
	pthread_mutex_unlock(&r->mu);
}

bool gq_registry_get_persisted(struct gq_registry *r, const char *team, const char *uid,
			       struct gq_ledger *out)
{
	struct entry *e;
	bool found = false;

	pthread_mutex_lock(&r->mu);
	e = entry_get(r, team, false);
	if (e && e->has_persisted && e->uid && uid && strcmp(e->uid, uid) == 0) {
		*out = e->persisted;
		found = true;
	}
	pthread_mutex_unlock(&r->mu);
	return found;
}

static int charged_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gq_charged_pod *)a)->uid,
		      ((const struct gq_charged_pod *)b)->uid);
}

bool gq_registry_get_charged(struct gq_registry *r, const char *team, const char *uid,
			     struct gq_charged_pod **out, size_t *n)
{
	struct entry *e;
	bool found = false;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&r->mu);
	e = entry_get(r, team, false);
	if (e && e->has_charged && uid && strcmp(e->charged_uid, uid) == 0) {
		*out = gq_calloc(e->n_charged + 1, sizeof(**out));
		for (size_t i = 0; i < e->n_charged; i++) {
			(*out)[i] = e->charged[i];
			(*out)[i].uid = gq_strdup(e->charged[i].uid);
		}
		*n = e->n_charged;
		found = true;
	}
	pthread_mutex_unlock(&r->mu);
	return found;
}

void gq_registry_put_charged(struct gq_registry *r, const char *team, const char *uid,
			     struct gq_charged_pod *c, size_t n)
{
	struct entry *e;

	if (n > 1)
		qsort(c, n, sizeof(*c), charged_cmp);
	pthread_mutex_lock(&r->mu);
	e = entry_get(r, team, true);
	gq_charged_free(e->charged, e->n_charged);
	free(e->charged_uid);
	e->charged_uid = gq_strdup(uid ? uid : "");
	e->charged = c;
	e->n_charged = n;
	e->has_charged = true;
	pthread_mutex_unlock(&r->mu);
}

void gq_registry_set_admission(struct gq_registry *r, const char *team,
			       const char *const *namespaces, size_t n_ns,
			       const struct gq_adm_team *s)
{
	struct entry *e;

	pthread_mutex_lock(&r->mu);
	e = entry_get(r, team, true);
	entry_clear_adm(e);
	e->namespaces = strv_dup(namespaces, n_ns);
	e->n_ns = n_ns;
	e->adm = *s;
	e->adm.name = gq_strdup(s->name);
	/* Only teams with a budget account pods (and release the finalizer). */
	e->adm.accounting = s->has_budget;
	e->tier_classes = strv_dup(s->tier_classes, s->n_tiers);
	e->adm.tier_classes = (const char *const *)e->tier_classes;
	e->exempt_classes = strv_dup(s->exempt_classes, s->n_exempt);
	e->adm.exempt_classes = (const char *const *)e->exempt_classes;
	e->weights = gq_calloc(1, sizeof(*e->weights));
	gq_res_list_copy(e->weights, s->weights);
	e->adm.weights = e->weights;
	e->adm.default_class = e->default_class = opt_dup(s->default_class);
	e->adm.default_preemption_policy = e->default_pp = opt_dup(s->default_preemption_policy);
	e->adm.reset_time = e->reset_time = opt_dup(s->reset_time);
	e->adm.over_budget_class = e->over_budget_class = opt_dup(s->over_budget_class);
	e->adm.pool = e->pool = opt_dup(s->pool);
	e->adm.pools_exist = false; /* set per review (gq_registry_admit) */
	e->has_adm = true;
	pthread_mutex_unlock(&r->mu);
}

void gq_registry_forget(struct gq_registry *r, const char *team)
{
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->e[i].team, team) != 0)
			continue;
		entry_free(&r->e[i]);
		r->e[i] = r->e[r->n - 1];
		r->n--;
		break;
	}
	pthread_mutex_unlock(&r->mu);
}

void gq_registry_get_stats(struct gq_registry *r, struct gq_registry_stats *out)
{
	out->reviews = atomic_load(&r->reviews);
	out->malformed = atomic_load(&r->malformed);
	out->denied = atomic_load(&r->denied);
	out->held = atomic_load(&r->held);
	out->deprioritized = atomic_load(&r->deprioritized);
}

/* Counts the decision resp on req for team entry e. Caller holds the
 * mutex. Allow, deny, hold and deprioritize are exclusive; default_tier
 * and warn come on top of them. */
static void count_decision(struct entry *e, const struct gq_adm_request *req,
			   const struct gq_adm_response *resp)
{
	if (resp->action == GQ_ADM_PASS || req->dry_run)
		return;
	if (!resp->allowed)
		e->decisions[D_DENY]++;
	else if (resp->action == GQ_ADM_HOLD)
		e->decisions[D_HOLD]++;
	else if (resp->action == GQ_ADM_DEPRIORITIZE)
		e->decisions[D_DEPRIORITIZE]++;
	else
		e->decisions[D_ALLOW]++;
	if (resp->allowed && resp->action != GQ_ADM_DEPRIORITIZE && req->priority_class == NULL &&
	    e->adm.default_class != NULL)
		e->decisions[D_DEFAULT_TIER]++;
	if (resp->action == GQ_ADM_ALLOW && resp->n_warnings > 0)
		e->decisions[D_WARN]++;
}

/* Whether some team has a pool (spec.sharing). Caller holds the mutex. */
static bool any_pool(const struct gq_registry *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->e[i].has_adm && r->e[i].adm.pool != NULL)
			return true;
	return false;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int gq_registry_admit(void *registry, const char *body, size_t len, struct gq_buf *out)
{
	struct gq_registry *r = registry;
	struct gq_adm_request req = {0};
	struct gq_adm_response resp = {0};
	struct gq_err err = {0};
	struct entry *e = NULL;
	struct timespec t0;
	char *review;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	atomic_fetch_add(&r->reviews, 1);
	rc = gq_admission_decode(&req, body, len, &err);
	if (rc != GQ_OK && !req.refused_gpu_pod) {
		atomic_fetch_add(&r->malformed, 1);
		gq_buf_printf(out, "malformed AdmissionReview: %s\n", err.msg);
		gq_metrics_histogram_observe(&r->admit_seconds, seconds_since(&t0));
		return 400;
	}
	if (rc != GQ_OK) {
		/* A GPU pod too large to check: denied, never left to failurePolicy. */
		gq_info("admission refused a GPU pod | uid=%s error=%s", req.uid, err.msg);
		gq_admission_refuse(&resp, err.msg);
		goto answer;
	}
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n && e == NULL && req.namespace; i++) {
		if (!r->e[i].has_adm)
			continue;
		for (size_t k = 0; k < r->e[i].n_ns; k++)
			if (strcmp(r->e[i].namespaces[k], req.namespace) == 0) {
				e = &r->e[i];
				break;
			}
	}
	if (e && req.tolerates_pool)
		e->adm.pools_exist = any_pool(r);
	rc = gq_admission_decide(&resp, &req, e ? &e->adm : NULL);
	if (rc == GQ_OK && e)
		count_decision(e, &req, &resp);
	pthread_mutex_unlock(&r->mu);
	if (rc != GQ_OK) {
		/* Cannot decide: let it through untouched (quota still applies). */
		gq_warn("admission decision failed | namespace=%s error=%s",
			req.namespace ? req.namespace : "", gq_strerror(rc));
		resp.allowed = true;
	}
answer:
	if (!resp.allowed)
		atomic_fetch_add(&r->denied, 1);
	else if (resp.action == GQ_ADM_HOLD)
		atomic_fetch_add(&r->held, 1);
	else if (resp.action == GQ_ADM_DEPRIORITIZE)
		atomic_fetch_add(&r->deprioritized, 1);
	review = gq_admission_encode(&resp, req.uid);
	gq_buf_puts(out, review);
	free(review);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&req);
	gq_metrics_histogram_observe(&r->admit_seconds, seconds_since(&t0));
	return 200;
}

void gq_registry_set_figures(struct gq_registry *r, const char *team,
			     const struct gq_registry_figures *f)
{
	struct entry *e;

	pthread_mutex_lock(&r->mu);
	e = entry_get(r, team, true);
	entry_clear_figures(e);
	e->fig = *f;
	e->res = gq_calloc(f->n_res ? f->n_res : 1, sizeof(*e->res));
	for (size_t i = 0; i < f->n_res; i++) {
		e->res[i] = f->res[i];
		e->res[i].resource = gq_strdup(f->res[i].resource);
	}
	e->fig.res = e->res;
	if (f->has_budget && f->accounted_micro > 0)
		e->gpu_micro_total += (uint64_t)f->accounted_micro;
	e->has_figures = true;
	pthread_mutex_unlock(&r->mu);
}

static double seconds(int64_t micro)
{
	return (double)micro / 1e6;
}

static void declare_team_families(struct gq_metrics *m)
{
	static const struct {
		const char *name;
		enum gq_metric_type type;
		const char *help;
	} fam[] = {
	    {"gpuquota_team_budget_gpu_seconds", GQ_METRIC_GAUGE,
	     "GPU-second budget of the team for the current period (spec.budget.gpuHours x "
	     "3600)."},
	    {"gpuquota_team_used_gpu_seconds", GQ_METRIC_GAUGE,
	     "GPU-seconds the team used in the current period (the ledger the webhook decides "
	     "from)."},
	    {"gpuquota_team_remaining_gpu_seconds", GQ_METRIC_GAUGE,
	     "GPU-seconds left in the current period (budget minus used, never below 0)."},
	    {"gpuquota_team_period_end_timestamp_seconds", GQ_METRIC_GAUGE,
	     "End of the team's current budget period (Unix time): when the budget resets."},
	    {"gpuquota_team_budget_exhausted", GQ_METRIC_GAUGE,
	     "1 while the team's budget is spent (condition BudgetExhausted), else 0."},
	    {"gpuquota_team_budget_warning", GQ_METRIC_GAUGE,
	     "1 once the team's use passed spec.budget.warnAtPercent (condition BudgetWarning), "
	     "else 0."},
	    {"gpuquota_team_gpu_seconds_total", GQ_METRIC_COUNTER,
	     "GPU-seconds accounted to the team by this process; never reset at a period "
	     "rollover, so rate() is the team's GPU use in GPUs."},
	    {"gpuquota_team_quota", GQ_METRIC_GAUGE,
	     "Team-wide quota of a GPU or MIG resource (status.quota.hard)."},
	    {"gpuquota_team_used", GQ_METRIC_GAUGE,
	     "Team-wide use of a GPU or MIG resource (status.quota.used)."},
	    {"gpuquota_team_pods", GQ_METRIC_GAUGE,
	     "GPU pods of a team with a budget: running (started, not ended), held (waiting on "
	     "the budget gate), deprioritized (not ended, in the over-budget class)."},
	    {"gpuquota_admission_decisions_total", GQ_METRIC_COUNTER,
	     "Admission decisions on GPU pods of a team (dry runs excepted): allow, deny, hold, "
	     "deprioritize (one per pod), default_tier and warn (on top)."},
	    {"gpuquota_admission_duration_seconds", GQ_METRIC_HISTOGRAM,
	     "Time the webhook took to decode, decide and encode one AdmissionReview."},
	};

	for (size_t i = 0; i < GQ_ARRAY_LEN(fam); i++)
		gq_metrics_family(m, fam[i].name, fam[i].type, fam[i].help);
}

/* Adds the samples of one team. Caller holds the mutex. */
static void team_samples(struct gq_metrics *m, const struct entry *e)
{
	const struct gq_registry_figures *f = &e->fig;
	const char *t = e->team;

	if (f->has_budget) {
		int64_t left =
		    f->budget_micro > f->used_micro ? f->budget_micro - f->used_micro : 0;

		gq_metrics_add(m, "gpuquota_team_budget_gpu_seconds", seconds(f->budget_micro),
			       "team", t, NULL);
		gq_metrics_add(m, "gpuquota_team_used_gpu_seconds", seconds(f->used_micro), "team",
			       t, NULL);
		gq_metrics_add(m, "gpuquota_team_remaining_gpu_seconds", seconds(left), "team", t,
			       NULL);
		gq_metrics_add(m, "gpuquota_team_period_end_timestamp_seconds",
			       (double)f->period_end_ms / 1000.0, "team", t, NULL);
		gq_metrics_add(m, "gpuquota_team_budget_exhausted", f->exhausted ? 1 : 0, "team", t,
			       NULL);
		gq_metrics_add(m, "gpuquota_team_budget_warning", f->warn ? 1 : 0, "team", t, NULL);
		gq_metrics_add(m, "gpuquota_team_gpu_seconds_total",
			       (double)e->gpu_micro_total / 1e6, "team", t, NULL);
		gq_metrics_add(m, "gpuquota_team_pods", (double)f->pods_running, "team", t, "state",
			       "running", NULL);
		gq_metrics_add(m, "gpuquota_team_pods", (double)f->pods_held, "team", t, "state",
			       "held", NULL);
		gq_metrics_add(m, "gpuquota_team_pods", (double)f->pods_deprioritized, "team", t,
			       "state", "deprioritized", NULL);
	}
	for (size_t i = 0; i < f->n_res; i++) {
		gq_metrics_add(m, "gpuquota_team_quota", f->res[i].quota, "team", t, "resource",
			       f->res[i].resource, NULL);
		gq_metrics_add(m, "gpuquota_team_used", f->res[i].used, "team", t, "resource",
			       f->res[i].resource, NULL);
	}
}

void gq_registry_metrics(struct gq_registry *r, struct gq_metrics *m)
{
	declare_team_families(m);
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n; i++) {
		const struct entry *e = &r->e[i];

		if (e->has_figures)
			team_samples(m, e);
		if (!e->has_adm)
			continue;
		for (size_t d = 0; d < N_DECISIONS; d++)
			gq_metrics_add(m, "gpuquota_admission_decisions_total",
				       (double)e->decisions[d], "team", e->team, "decision",
				       decision_names[d], NULL);
	}
	pthread_mutex_unlock(&r->mu);
	gq_metrics_add_histogram(m, "gpuquota_admission_duration_seconds", &r->admit_seconds, NULL);
}
