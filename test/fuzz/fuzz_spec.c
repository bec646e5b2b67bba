/*
 * fuzz_spec.c - libFuzzer target for spec.c, the GPUTeamAllocation decoder.
 *
 * Input: a GPUTeamAllocation as the controller meets it: JSON text (from
 * the apiserver; an input starting with '{' after blanks) or YAML text
 * (`gpuquota-controller validate`, converted with yamldoc.c; only its first
 * document is decoded). gq_team_decode must return GQ_OK, or GQ_EINVAL /
 * GQ_EPARSE with a message naming a field; on success the decoded team
 * must respect the documented bounds (at most GQ_MAX_NAMESPACES
 * namespaces, 1..GQ_MAX_TIERS tiers with values up to GQ_MAX_TIER_VALUE, a
 * default tier and exempt tiers that are tiers, counts >= 0,
 * warnAtPercent 0..100, a positive Duration period), decoding the same tree
 * again must give the same team, and each tier's PriorityClass name must
 * be "<team>-<tier>". A violated invariant aborts; nothing may crash, leak
 * or trip ASan/UBSan.
 *
 * Build: `make fuzz` (libFuzzer); replayed by `make unit` through
 * test/fuzz/standalone.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gq.h"
#include "spec.h"
#include "yamldoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Allocation objects are small; larger inputs only slow the fuzzer down. */
#define FUZZ_MAX_INPUT (64u * 1024)

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_spec: invariant violated: %s\n", what);
		abort();
	}
}

static int str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_strs(char **s, size_t n, size_t max, const char *what)
{
	check(n <= max, what);
	for (size_t i = 0; i < n; i++)
		check(s[i] != NULL, what);
}

static void check_res(const struct gq_res_list *l, const char *what)
{
	for (size_t i = 0; i < l->n; i++)
		check(l->items[i].name != NULL && l->items[i].name[0] != '\0', what);
}

/* Invariants of a successfully decoded team. */
static void check_team(const struct gq_team *t)
{
	char *pc;

	check(t->name != NULL && t->name[0] != '\0', "name");
	check_strs(t->namespaces, t->n_namespaces, GQ_MAX_NAMESPACES, "namespaces");
	check_strs(t->finalizers, t->n_finalizers, SIZE_MAX, "finalizers");
	check(t->gpus >= 0 && t->max_gpus_per_pod >= 0, "counts >= 0");
	check_res(&t->mig_slices, "migSlices");
	check_res(&t->resources, "resources");
	check_res(&t->container_default_request, "defaultRequest");
	check_res(&t->container_default, "default");
	for (size_t i = 0; i < t->mig_slices.n; i++)
		check(t->mig_slices.items[i].q.milli >= 0, "migSlices >= 0");
	check(t->n_tiers <= GQ_MAX_TIERS, "tier count");
	for (size_t i = 0; i < t->n_tiers; i++) {
		check(t->tiers[i].name != NULL && t->tiers[i].value <= GQ_MAX_TIER_VALUE,
		      "tier value");
		check(gq_team_tier(t, t->tiers[i].name) != NULL, "tier lookup");
		pc = gq_team_priority_class_name(t, t->tiers[i].name);
		check(pc != NULL && strncmp(pc, t->name, strlen(t->name)) == 0 &&
			  pc[strlen(t->name)] == '-' &&
			  strcmp(pc + strlen(t->name) + 1, t->tiers[i].name) == 0,
		      "PriorityClass name");
		free(pc);
	}
	if (t->default_tier != NULL)
		check(gq_team_tier(t, t->default_tier) != NULL, "defaultTier is a tier");
	if (t->budget.present) {
		check(t->budget.gpu_hours.milli >= 0, "gpuHours >= 0");
		check(t->budget.warn_at_percent >= 0 && t->budget.warn_at_percent <= 100,
		      "warnAtPercent");
		check(t->budget.period != GQ_PERIOD_DURATION || t->budget.period_seconds >= 60,
		      "Duration period");
		for (size_t i = 0; i < t->budget.n_exempt_tiers; i++)
			check(gq_team_tier(t, t->budget.exempt_tiers[i]) != NULL,
			      "exemptTiers are tiers");
		check_res(&t->budget.weights, "weights");
	}
}

/* The second decode of the same tree must give the same team. */
static void check_same(const struct gq_team *a, const struct gq_team *b)
{
	check(str_eq(a->name, b->name) && str_eq(a->uid, b->uid) &&
		  a->generation == b->generation && a->n_namespaces == b->n_namespaces &&
		  a->gpus == b->gpus && a->has_gpus == b->has_gpus && a->n_tiers == b->n_tiers &&
		  str_eq(a->default_tier, b->default_tier) &&
		  a->budget.present == b->budget.present &&
		  a->budget.gpu_hours.milli == b->budget.gpu_hours.milli &&
		  a->budget.period_seconds == b->budget.period_seconds &&
		  a->mig_slices.n == b->mig_slices.n && a->resources.n == b->resources.n,
	      "decode is deterministic");
	for (size_t i = 0; i < a->n_namespaces; i++)
		check(strcmp(a->namespaces[i], b->namespaces[i]) == 0, "same namespaces");
}

static void decode(yajl_val root)
{
	struct gq_team t = {0}, again = {0};
	struct gq_err err = {0};
	int rc;

	rc = gq_team_decode(&t, root, &err);
	if (rc != GQ_OK) {
		check(rc == GQ_EINVAL || rc == GQ_EPARSE, "error code");
		check(err.msg[0] != '\0', "error message");
		check(memchr(err.msg, '\0', sizeof(err.msg)) != NULL, "message terminated");
		return;
	}
	check_team(&t);
	rc = gq_team_decode(&again, root, &err);
	check(rc == GQ_OK, "second decode succeeds");
	check_same(&t, &again);
	gq_team_free(&again);
	gq_team_free(&t);
	check(t.name == NULL && t.n_tiers == 0, "free zeroes");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gq_yamldoc_list docs = {0};
	struct gq_err err = {0};
	char ebuf[128], *s;
	yajl_val root;
	size_t i = 0;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	while (i < size && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t'))
		i++;
	if (i < size && data[i] == '{') {
		s = gq_malloc(size + 1);
		memcpy(s, data, size);
		s[size] = '\0';
		root = yajl_tree_parse(s, ebuf, sizeof(ebuf));
		free(s);
		if (root != NULL)
			decode(root);
		yajl_tree_free(root);
		return 0;
	}
	if (gq_yamldoc_parse(&docs, (const char *)data, size, &err) == GQ_OK && docs.n > 0)
		decode(docs.docs[0].root);
	gq_yamldoc_list_free(&docs);
	return 0;
}
