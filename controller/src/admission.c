/*
 * admission.c - Pod admission decisions and the AdmissionReview response
 * for the gpuquota webhook: gq_admission_decide applies the rules at the
 * top of admission.h to a decoded request (admission_decode.c) and a
 * snapshot of its team, building the JSON Patch and the messages;
 * gq_admission_encode writes the response; gq_admission_refuse answers a
 * GPU pod the decoder refused. Pure: the caller passes the request and the
 * snapshot; nothing here blocks, locks or reads a clock. Wire rules:
 * kubernetes-api.md §4; patch rules for priority fields: §3.4 (the Priority
 * plugin runs again after our patch and checks spec.priority /
 * spec.preemptionPolicy against the new class).
 */
#include "admission.h"

#include "cost.h"
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jsonpatch.h"
#include "jsonw.h"

#define MAX_RES GQ_ADMISSION_MAX_RESOURCES

#define API_VERSION GQ_ADMISSION_API_VERSION

/* ------------------------------------------------------------------ */
/* Weights and cost                                                     */
/* ------------------------------------------------------------------ */

/* Ownership: req and weights are borrowed; *w is the caller's. */
int gq_adm_pod_weight(struct gq_cost_weight *w, const struct gq_adm_request *req,
		      const struct gq_res_list *weights)
{
	struct gq_cost_req eff[MAX_RES];
	size_t i;

	if (req->n_gpus > MAX_RES)
		return GQ_ETOOBIG;
	for (i = 0; i < req->n_gpus; i++) {
		eff[i].name = req->gpus[i].resource;
		eff[i].count = req->gpus[i].count;
	}
	/* no node yet: one replica, the most a device can cost */
	return gq_cost_effective_weight(w, eff, req->n_gpus, 1, weights);
}

/*
 * Formats v / unit with at most two decimals, rounded half away from zero,
 * trailing zeros dropped ("12.5", "10", "0.14"). unit > 0.
 */
static void fmt_frac(char buf[32], int64_t v, int64_t unit)
{
	__int128 h = (__int128)v * 100, half = unit / 2;
	long long ip, fp;
	bool neg = h < 0;

	if (neg)
		h = -h;
	h = (h + half) / unit;
	ip = (long long)(h / 100);
	fp = (long long)(h % 100);
	if (fp == 0)
		snprintf(buf, 32, "%s%lld", neg ? "-" : "", ip);
	else if (fp % 10 == 0)
		snprintf(buf, 32, "%s%lld.%lld", neg ? "-" : "", ip, fp / 10);
	else
		snprintf(buf, 32, "%s%lld.%02lld", neg ? "-" : "", ip, fp);
}

/* Micro GPU-seconds as GPU-hours. */
static void fmt_hours(char buf[32], int64_t micro_s)
{
	/* The same form as the allocation's status (up to 6 decimals). */
	gq_ledger_format_hours(micro_s, buf);
}

/* ------------------------------------------------------------------ */
/* Decisions                                                            */
/* ------------------------------------------------------------------ */

static bool in_list(const char *s, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (list[i] != NULL && strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* Adds a warning (takes ownership of msg). */
static void add_warning(struct gq_adm_response *out, char *msg)
{
	out->warnings = gq_realloc(out->warnings, (out->n_warnings + 1) * sizeof(char *));
	out->warnings[out->n_warnings++] = msg;
}

/* Turns the response into a 403 denial with msg (takes ownership). */
static void deny(struct gq_adm_response *out, enum gq_adm_action action, char *msg)
{
	out->allowed = false;
	out->code = 403;
	out->reason = gq_strdup("Forbidden");
	out->message = msg;
	out->action = action;
}

/* Ownership: out is the caller's afterwards; why is borrowed. The decoder's
 * messages quote bits of the body, cut at a byte count: anything but
 * printable ASCII becomes '?', so the message always encodes. */
void gq_admission_refuse(struct gq_adm_response *out, const char *why)
{
	char *msg;
	size_t i;

	memset(out, 0, sizeof(*out));
	msg = gq_asprintf("gpuquota: %s; GPU pods over the limits gpuquota can check are refused",
			  why != NULL && why[0] != '\0' ? why : "the AdmissionReview was refused");
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] > 0x7e)
			msg[i] = '?';
	deny(out, GQ_ADM_DENY_REFUSED, msg);
}

/* "pod NAME" when the name is known, else "pod" (generateName pods). */
static char *pod_label(const struct gq_adm_request *req)
{
	if (req->name != NULL && req->name[0] != '\0')
		return gq_asprintf("pod %s", req->name);
	return gq_strdup("pod");
}

/* Message denying a class outside the team's tiers. */
static char *class_message(const char *cls, const struct gq_adm_team *team)
{
	char *msg = gq_asprintf("priorityClassName \"%s\" is not a priority tier of team %s; use "
				"one of:",
				cls, team->name);
	size_t i;

	for (i = 0; i < team->n_tiers; i++) {
		char *next = gq_asprintf("%s%s %s", msg, i ? "," : "", team->tier_classes[i]);

		free(msg);
		msg = next;
	}
	return msg;
}

/* Default-class patch (§3.4): the class with its value and policy, or,
 * when those are unknown, removal of the fields the Priority plugin set so
 * that it refills them from the new class. */
static void patch_default_class(struct gq_jpatch *p, const struct gq_adm_request *req,
				const struct gq_adm_team *team)
{
	gq_jpatch_set(p, "add", "/spec/priorityClassName", GQ_JPATCH_STR, team->default_class, 0);
	if (team->default_preemption_policy != NULL) {
		gq_jpatch_set(p, "add", "/spec/priority", GQ_JPATCH_INT, NULL, team->default_value);
		gq_jpatch_set(p, "add", "/spec/preemptionPolicy", GQ_JPATCH_STR,
			      team->default_preemption_policy, 0);
		return;
	}
	if (req->has_priority)
		gq_jpatch_set(p, "remove", "/spec/priority", GQ_JPATCH_NONE, NULL, 0);
	if (req->has_preemption_policy)
		gq_jpatch_set(p, "remove", "/spec/preemptionPolicy", GQ_JPATCH_NONE, NULL, 0);
}

/* Budget figures shared by the messages. */
struct budget_view {
	bool exhausted;	   /* used >= budget */
	int64_t cost;	   /* expected cost, micro GPU-seconds (0: no deadline) */
	int64_t weight;	   /* pod weight, micro GPU-equivalents */
	char used[32];	   /* GPU-hours */
	char total[32];	   /* GPU-hours */
	char left[32];	   /* GPU-hours */
	char cost_h[32];   /* GPU-hours */
	char gpus[32];	   /* GPU-equivalents */
	const char *reset; /* end of the period (RFC 3339), NULL = unknown */
};

/* " for the period ending T", or " for the current period". New heap
 * string. */
static char *period_phrase(const struct budget_view *b)
{
	if (b->reset != NULL)
		return gq_asprintf(" for the period ending %s", b->reset);
	return gq_strdup(" for the current period");
}

/* Status message for policy Deny. */
static char *budget_deny_message(const struct gq_adm_request *req, const struct gq_adm_team *team,
				 const struct budget_view *b)
{
	char *label, *period = period_phrase(b), *msg;

	if (b->exhausted) {
		msg = gq_asprintf("team %s has used %s of its %s GPU-hours budget%s; new GPU pods "
				  "are denied until %s",
				  team->name, b->used, b->total, period,
				  b->reset != NULL ? "then" : "it ends");
		free(period);
		return msg;
	}
	label = pod_label(req);
	msg = gq_asprintf("%s may use up to %s GPU-hours (activeDeadlineSeconds %lld x %s GPUs), "
			  "more than the %s GPU-hours left of team %s's budget%s",
			  label, b->cost_h, (long long)req->active_deadline, b->gpus, b->left,
			  team->name, period);
	free(label);
	free(period);
	return msg;
}

/* Warning for policies Hold and Deprioritize (kept under 120 characters
 * for short team names); what says what happened to the pod. */
static char *budget_warning(const struct gq_adm_team *team, const struct budget_view *b,
			    const char *what)
{
	if (b->exhausted)
		return gq_asprintf("team %s used up its GPU-hour budget (%s of %s); %s", team->name,
				   b->used, b->total, what);
	return gq_asprintf("pod may use %s GPU-hours, team %s has %s left; %s", b->cost_h,
			   team->name, b->left, what);
}

/* Applies the team's onExhausted policy to an over-budget pod. */
static void apply_policy(struct gq_adm_response *out, struct gq_jpatch *p,
			 const struct gq_adm_request *req, const struct gq_adm_team *team,
			 const struct budget_view *b)
{
	char *what;

	if (team->policy == GQ_EXHAUSTED_HOLD) {
		if (!in_list(GQ_BUDGET_GATE, (const char *const *)req->gates, req->n_gates)) {
			if (req->has_gates)
				gq_jpatch_set(p, "add", "/spec/schedulingGates/-", GQ_JPATCH_GATE,
					      NULL, 0);
			else
				gq_jpatch_set(p, "add", "/spec/schedulingGates",
					      GQ_JPATCH_GATE_LIST, NULL, 0);
		}
		if (b->reset != NULL)
			what =
			    gq_asprintf("pod held by gate " GQ_BUDGET_GATE " until %s", b->reset);
		else
			what = gq_strdup("pod held by gate " GQ_BUDGET_GATE
					 " until budget is available");
		add_warning(out, budget_warning(team, b, what));
		free(what);
		out->action = GQ_ADM_HOLD;
		return;
	}
	if (team->policy == GQ_EXHAUSTED_DEPRIORITIZE && team->over_budget_class != NULL) {
		gq_jpatch_set(p, "add", "/spec/priorityClassName", GQ_JPATCH_STR,
			      team->over_budget_class, 0);
		gq_jpatch_set(p, "add", "/spec/priority", GQ_JPATCH_INT, NULL,
			      team->over_budget_value);
		gq_jpatch_set(p, "add", "/spec/preemptionPolicy", GQ_JPATCH_STR, "Never", 0);
		what = gq_asprintf("pod runs at low priority (%s), never preempting",
				   team->over_budget_class);
		add_warning(out, budget_warning(team, b, what));
		free(what);
		out->action = GQ_ADM_DEPRIORITIZE;
		return;
	}
	/* Deny, and Deprioritize without an over-budget class (fail closed) */
	deny(out, GQ_ADM_DENY_BUDGET, budget_deny_message(req, team, b));
}

/*
 * The budget rules (5 and 6): fills the budget view, applies the policy
 * when the budget is used up or the pod's expected cost exceeds what is
 * left, else adds the threshold warning.
 */
static void check_budget(struct gq_adm_response *out, struct gq_jpatch *p,
			 const struct gq_adm_request *req, const struct gq_adm_team *team)
{
	struct budget_view b = {.reset = team->reset_time};
	struct gq_cost_weight w;
	int64_t left = 0;
	__int128 pct;

	if (!team->has_budget)
		return;
	b.exhausted = team->used_micro >= team->budget_micro;
	if (!b.exhausted)
		left = team->budget_micro - team->used_micro;
	if (gq_adm_pod_weight(&w, req, team->weights) == GQ_OK) {
		b.weight = gq_cost_weight_micro(&w);
		b.cost = gq_cost_expected_micro(&w, req->active_deadline);
	} else { /* beyond any budget: held back by the policy */
		b.weight = INT64_MAX;
		b.cost = req->active_deadline > 0 ? INT64_MAX : 0;
	}
	fmt_hours(b.used, team->used_micro);
	fmt_hours(b.total, team->budget_micro);
	fmt_hours(b.left, left);
	fmt_hours(b.cost_h, b.cost);
	fmt_frac(b.gpus, b.weight, GQ_ADMISSION_GPU_MICRO);
	if (b.exhausted || b.cost > left) {
		apply_policy(out, p, req, team, &b);
		return;
	}
	if (team->budget_micro <= 0 ||
	    !gq_cost_warn_reached(team->used_micro, team->budget_micro, team->warn_at_percent))
		return;
	pct = (__int128)team->used_micro * 100 / team->budget_micro;
	add_warning(out, gq_asprintf("team %s has used %d%% of its GPU-hour budget (%s of %s "
				     "GPU-hours)%s%s",
				     team->name, (int)pct, b.used, b.total,
				     b.reset != NULL ? "; resets at " : "",
				     b.reset != NULL ? b.reset : ""));
}

/* Whether req is a pod that team's pool serves (rule 7). */
static bool pinned(const struct gq_adm_request *req, const struct gq_adm_team *team)
{
	size_t n = strlen(GQ_NVIDIA_MIG_PREFIX);

	if (team->pool == NULL)
		return false;
	if (!team->pool_mig_only)
		return true;
	for (size_t i = 0; i < req->n_gpus; i++)
		if (req->gpus[i].count > 0 && strncmp(req->gpus[i].resource, GQ_NVIDIA_MIG_PREFIX, n) == 0)
			return true;
	return false;
}

/* Pins the pod to pool (rule 7): its nodeSelector member and the toleration
 * of the pool's taint. */
static void patch_pool(struct gq_jpatch *p, const struct gq_adm_request *req, const char *pool)
{
	if (req->has_node_selector)
		gq_jpatch_set(p, "add", "/spec/nodeSelector/gpuquota.io~1pool", GQ_JPATCH_STR, pool,
			      0);
	else
		gq_jpatch_set(p, "add", "/spec/nodeSelector", GQ_JPATCH_POOL_SEL, pool, 0);
	if (req->has_tolerations)
		gq_jpatch_set(p, "add", "/spec/tolerations/-", GQ_JPATCH_POOL_TOL, pool, 0);
	else
		gq_jpatch_set(p, "add", "/spec/tolerations", GQ_JPATCH_POOL_TOL_LIST, pool, 0);
}

/* Ownership: req and team are borrowed for the call; the caller owns *out
 * afterwards (gq_adm_response_free), whatever the result. */
int gq_admission_decide(struct gq_adm_response *out, const struct gq_adm_request *req,
			const struct gq_adm_team *team)
{
	struct gq_jpatch p = {.n = 0};
	const char *cls;
	int64_t gpus;
	char *label;

	if (out == NULL)
		return GQ_EINVAL;
	memset(out, 0, sizeof(*out));
	out->allowed = true;
	out->action = GQ_ADM_PASS;
	if (req == NULL)
		return GQ_EINVAL;
	if (!req->is_pod_create || !gq_adm_request_is_gpu_pod(req) || team == NULL)
		return GQ_OK;
	out->action = GQ_ADM_ALLOW;

	cls = req->priority_class;
	if (cls == NULL && team->default_class != NULL) {
		cls = team->default_class;
		patch_default_class(&p, req, team);
	}
	if (cls != NULL && team->n_tiers > 0 && !in_list(cls, team->tier_classes, team->n_tiers) &&
	    !(team->over_budget_class != NULL && strcmp(cls, team->over_budget_class) == 0)) {
		deny(out, GQ_ADM_DENY_CLASS, class_message(cls, team));
		return GQ_OK;
	}

	gpus = gq_adm_request_count(req, GQ_NVIDIA_GPU);
	if (team->max_gpus_per_pod > 0 && gpus > team->max_gpus_per_pod) {
		label = pod_label(req);
		deny(out, GQ_ADM_DENY_CAP,
		     gq_asprintf("%s requests %lld GPUs; team %s allows at most %lld per pod",
				 label, (long long)gpus, team->name,
				 (long long)team->max_gpus_per_pod));
		free(label);
		return GQ_OK;
	}

	if (!pinned(req, team) && team->pools_exist && req->tolerates_pool) {
		label = pod_label(req);
		deny(out, GQ_ADM_DENY_POOL,
		     gq_asprintf("%s tolerates the taint %s of the teams' GPU pools "
				 "(spec.tolerations: that key, or no key with operator Exists); "
				 "%s, so it may not",
				 label, GQ_JPATCH_POOL_KEY,
				 team->pool ? "its team's pool serves only pods asking for MIG slices"
					    : "its team has no pool (spec.sharing)"));
		free(label);
		return GQ_OK;
	}

	if (cls != NULL && in_list(cls, team->exempt_classes, team->n_exempt))
		out->action = GQ_ADM_EXEMPT;
	else
		check_budget(out, &p, req, team);

	/* The ledger's finalizer, last (the ledger removes it once the pod's
	 * usage is persisted). */
	if (out->allowed && team->accounting && !req->has_accounting_finalizer) {
		if (req->has_finalizers)
			gq_jpatch_set(&p, "add", "/metadata/finalizers/-", GQ_JPATCH_STR,
				      GQ_ACCOUNTING_FINALIZER, 0);
		else
			gq_jpatch_set(&p, "add", "/metadata/finalizers", GQ_JPATCH_STR_LIST,
				      GQ_ACCOUNTING_FINALIZER, 0);
	}
	if (out->allowed && pinned(req, team))
		patch_pool(&p, req, team->pool);
	if (out->allowed)
		out->patch = gq_jpatch_json(&p);
	return GQ_OK;
}

/* Ownership: frees every string r owns; r itself is the caller's. */
void gq_adm_response_free(struct gq_adm_response *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->reason);
	free(r->message);
	free(r->patch);
	for (i = 0; i < r->n_warnings; i++)
		free(r->warnings[i]);
	free(r->warnings);
	memset(r, 0, sizeof(*r));
}

/* Returns a static string. */
const char *gq_admission_action_name(enum gq_adm_action a)
{
	switch (a) {
	case GQ_ADM_PASS: return "pass";
	case GQ_ADM_ALLOW: return "allow";
	case GQ_ADM_EXEMPT: return "exempt";
	case GQ_ADM_DENY_CLASS: return "deny-class";
	case GQ_ADM_DENY_CAP: return "deny-cap";
	case GQ_ADM_DENY_BUDGET: return "deny-budget";
	case GQ_ADM_HOLD: return "hold";
	case GQ_ADM_DEPRIORITIZE: return "deprioritize";
	case GQ_ADM_DENY_REFUSED: return "deny-refused";
	case GQ_ADM_DENY_POOL: return "deny-pool";
	}
	return "unknown";
}

/* ------------------------------------------------------------------ */
/* Encoding                                                             */
/* ------------------------------------------------------------------ */

/* Base64 of s (new heap string). */
static char *base64(const char *s)
{
	size_t n = strlen(s);
	unsigned char *b = gq_malloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock(b, (const unsigned char *)s, (int)n);
	return (char *)b;
}

/* Ownership: resp and uid are borrowed; the caller frees the result. */
char *gq_admission_encode(const struct gq_adm_response *resp, const char *uid)
{
	struct gq_jw w;
	char *b64;
	size_t i;

	if (resp == NULL || uid == NULL)
		return NULL;
	gq_jw_init(&w);
	gq_jw_map_open(&w);
	gq_jw_str(&w, "apiVersion");
	gq_jw_str(&w, API_VERSION);
	gq_jw_str(&w, "kind");
	gq_jw_str(&w, "AdmissionReview");
	gq_jw_str(&w, "response");
	gq_jw_map_open(&w);
	gq_jw_str(&w, "uid");
	gq_jw_str(&w, uid);
	gq_jw_str(&w, "allowed");
	gq_jw_bool(&w, resp->allowed);
	if (!resp->allowed) {
		gq_jw_str(&w, "status");
		gq_jw_map_open(&w);
		gq_jw_str(&w, "code");
		gq_jw_int(&w, resp->code > 0 ? resp->code : 403);
		gq_jw_str(&w, "reason");
		gq_jw_str(&w, resp->reason != NULL ? resp->reason : "Forbidden");
		if (resp->message != NULL) {
			gq_jw_str(&w, "message");
			gq_jw_str(&w, resp->message);
		}
		gq_jw_map_close(&w);
	} else if (resp->patch != NULL && resp->patch[0] != '\0') {
		b64 = base64(resp->patch);
		gq_jw_str(&w, "patchType");
		gq_jw_str(&w, "JSONPatch");
		gq_jw_str(&w, "patch");
		gq_jw_str(&w, b64);
		free(b64);
	}
	if (resp->n_warnings > 0) {
		gq_jw_str(&w, "warnings");
		gq_jw_array_open(&w);
		for (i = 0; i < resp->n_warnings; i++)
			gq_jw_str(&w, resp->warnings[i]);
		gq_jw_array_close(&w);
	}
	gq_jw_map_close(&w);
	gq_jw_map_close(&w);
	return gq_jw_finish(&w);
}
