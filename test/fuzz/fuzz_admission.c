/*
 * fuzz_admission.c - libFuzzer target for admission_decode.c and admission.c.
 *
 * Input: an AdmissionReview body. It is decoded; when that succeeds, the
 * request is decided against each of a few fixed team snapshots (one per
 * budget policy, with and without a default class, and no team at all) and
 * every response is encoded. Invariants (a violation aborts): a decoded
 * request has a uid; a refused GPU pod CREATE keeps only its uid, and its
 * refusal (gq_admission_refuse) is a 403 denial; a denial is a 403 with a
 * message and no patch; a patch is a JSON array whose operations never
 * repeat a path; the encoded review is JSON and echoes the uid. Must never crash, leak or trip
 * ASan/UBSan.
 *
 * Build (libFuzzer): clang-14 -fsanitize=fuzzer,address,undefined ...
 * Replay without libFuzzer: link with test/fuzz/standalone.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "admission.h"
#include "gq.h"

#define H (3600LL * GQ_ADMISSION_GPU_MICRO)

static const char *const tiers[] = {"vision-high", "vision-low"};
static const char *const exempt[] = {"vision-high"};
static struct gq_res weight = {.name = (char *)"nvidia.com/mig-1g.10gb", .q = {.milli = 200}};
static const struct gq_res_list weights = {&weight, 1};

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_admission: invariant violated: %s\n", what);
		abort();
	}
}

/* The fixed snapshots the input is decided against. */
static void teams(struct gq_adm_team t[4])
{
	const struct gq_adm_team base = {
	    .name = "vision",
	    .tier_classes = tiers,
	    .n_tiers = 2,
	    .exempt_classes = exempt,
	    .n_exempt = 1,
	    .max_gpus_per_pod = 8,
	    .has_budget = true,
	    .budget_micro = 10 * H,
	    .warn_at_percent = 80,
	    .reset_time = "2026-12-01T00:00:00Z",
	    .over_budget_class = "vision-over-budget",
	    .over_budget_value = 10,
	    .weights = &weights,
	};
	int i;

	for (i = 0; i < 4; i++)
		t[i] = base;
	/* Deny, exhausted, default class with known values */
	t[0].policy = GQ_EXHAUSTED_DENY;
	t[0].used_micro = 12 * H + H / 2;
	t[0].default_class = "vision-low";
	t[0].default_value = 100;
	t[0].default_preemption_policy = "PreemptLowerPriority";
	/* Hold, half used (expected cost decides), default class by removal */
	t[1].policy = GQ_EXHAUSTED_HOLD;
	t[1].used_micro = 5 * H;
	t[1].default_class = "vision-low";
	t[1].reset_time = NULL;
	/* Deprioritize, past the warning threshold */
	t[2].policy = GQ_EXHAUSTED_DEPRIORITIZE;
	t[2].used_micro = 9 * H;
	t[2].default_class = "vision-high";
	t[2].default_value = 1000;
	t[2].default_preemption_policy = "Never";
	/* no tiers, no cap, no budget */
	t[3].n_tiers = 0;
	t[3].n_exempt = 0;
	t[3].max_gpus_per_pod = 0;
	t[3].has_budget = false;
}

/* Checks that a patch is a JSON array of operations with distinct paths. */
static void check_patch(const char *patch)
{
	yajl_val p = yajl_tree_parse(patch, NULL, 0), pi, pj;
	const char *path[] = {"path", NULL};
	size_t i, j;

	check(YAJL_IS_ARRAY(p), "patch is a JSON array");
	check(p->u.array.len > 0, "patch is not empty");
	for (i = 0; i < p->u.array.len; i++) {
		pi = yajl_tree_get(p->u.array.values[i], path, yajl_t_string);
		check(pi != NULL, "patch operation has a path");
		for (j = 0; j < i; j++) {
			pj = yajl_tree_get(p->u.array.values[j], path, yajl_t_string);
			check(strcmp(pi->u.string, pj->u.string) != 0, "patch repeats a path");
		}
	}
	yajl_tree_free(p);
}

/* Checks the encoded review: JSON, uid echoed, patch only when allowed. */
static void check_body(const char *body, const char *uid, const struct gq_adm_response *resp)
{
	yajl_val doc = yajl_tree_parse(body, NULL, 0), v;
	const char *uid_path[] = {"response", "uid", NULL};
	const char *patch_path[] = {"response", "patch", NULL};

	check(doc != NULL, "encoded review is JSON");
	v = yajl_tree_get(doc, uid_path, yajl_t_string);
	check(v != NULL && strcmp(v->u.string, uid) == 0, "uid echoed");
	v = yajl_tree_get(doc, patch_path, yajl_t_string);
	check((v != NULL) == (resp->allowed && resp->patch != NULL), "patch only when allowed");
	yajl_tree_free(doc);
}

static void run_team(const struct gq_adm_request *req, const struct gq_adm_team *team)
{
	struct gq_adm_response resp;
	char *body;
	size_t i;

	check(gq_admission_decide(&resp, req, team) == GQ_OK, "decide succeeds");
	if (!resp.allowed) {
		check(resp.code == 403 && resp.message != NULL, "denial is a 403 with a message");
		check(resp.patch == NULL, "no patch on denial");
	}
	if (team == NULL || !req->is_pod_create || !gq_adm_request_is_gpu_pod(req))
		check(resp.allowed && resp.patch == NULL && resp.n_warnings == 0,
		      "pods that are not ours are untouched");
	if (resp.patch != NULL)
		check_patch(resp.patch);
	for (i = 0; i < resp.n_warnings; i++)
		check(resp.warnings[i] != NULL, "warning text");
	gq_admission_action_name(resp.action);
	body = gq_admission_encode(&resp, req->uid);
	check(body != NULL, "encode succeeds");
	check_body(body, req->uid, &resp);
	free(body);
	gq_adm_response_free(&resp);
}

/* A refused GPU pod: a 403 denial naming why, that encodes and echoes the
 * uid. */
static void run_refused(const struct gq_adm_request *req, const char *why)
{
	struct gq_adm_response resp;
	char *body;

	check(req->uid[0] != '\0', "a refused GPU pod has a uid");
	gq_admission_refuse(&resp, why);
	check(!resp.allowed && resp.code == 403 && resp.patch == NULL,
	      "a refused GPU pod is denied with a 403");
	check(resp.message != NULL && resp.action == GQ_ADM_DENY_REFUSED, "refusal message");
	body = gq_admission_encode(&resp, req->uid);
	check(body != NULL, "refusal encodes");
	check_body(body, req->uid, &resp);
	free(body);
	gq_adm_response_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gq_adm_request req;
	struct gq_adm_team t[4];
	struct gq_err err;
	int i, rc;

	err.msg[0] = '\0';
	rc = gq_admission_decode(&req, (const char *)data, size, &err);
	if (rc != GQ_OK) {
		check(err.msg[0] != '\0', "an error has a message");
		check(req.gpus == NULL && (req.uid != NULL) == req.refused_gpu_pod,
		      "nothing held after an error but a refused GPU pod's uid");
		if (req.refused_gpu_pod)
			run_refused(&req, err.msg);
		gq_adm_request_free(&req);
		return 0;
	}
	check(req.uid != NULL && req.uid[0] != '\0', "decoded request has a uid");
	check(req.operation != NULL && req.namespace != NULL && req.name != NULL,
	      "strings are never NULL");
	for (i = 0; i < (int)req.n_gpus; i++)
		check(req.gpus[i].count > 0, "only positive GPU counts are kept");
	teams(t);
	for (i = 0; i < 4; i++)
		run_team(&req, &t[i]);
	run_team(&req, NULL);
	gq_adm_request_free(&req);
	return 0;
}
