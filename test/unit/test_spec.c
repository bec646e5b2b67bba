/* Unit tests for spec.c: decoding of a GPUTeamAllocation, every semantic
 * validation rule, budget periods and label selector semantics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gq.h"
#include "spec.h"

/* The example allocation of the API documentation, as the apiserver returns
 * it (YAML converted to JSON), with server-set metadata. */
static const char *const FULL_TEAM =
    "{\"apiVersion\":\"gpuquota.io/v1alpha1\",\"kind\":\"GPUTeamAllocation\","
    "\"metadata\":{\"name\":\"vision\",\"uid\":\"6f1c2a9e-3b7d-4e0a-9c61-0d5b8e2f4a11\","
    "\"generation\":3,\"resourceVersion\":\"48213\","
    "\"creationTimestamp\":\"2025-03-01T09:30:00Z\","
    "\"deletionTimestamp\":\"2025-04-01T00:00:00Z\","
    "\"finalizers\":[\"gpuquota.io/cleanup\"],"
    "\"managedFields\":[{\"manager\":\"kubectl\"}]},"
    "\"spec\":{"
    "\"namespaces\":[\"vision-train\",\"vision-lab\"],"
    "\"namespaceSelector\":{\"matchLabels\":{\"team\":\"vision\"},"
    "\"matchExpressions\":[{\"key\":\"stage\",\"operator\":\"NotIn\",\"values\":[\"retired\"]}]},"
    "\"quota\":{\"gpus\":8,\"migSlices\":{\"3g.40gb\":2,\"1g.10gb\":14},"
    "\"resources\":{\"requests.memory\":\"512Gi\",\"requests.cpu\":\"64\"}},"
    "\"limits\":{\"maxGPUsPerPod\":4,\"container\":{"
    "\"defaultRequest\":{\"cpu\":\"500m\",\"memory\":\"1Gi\"},"
    "\"default\":{\"cpu\":\"2\",\"memory\":\"4Gi\"}}},"
    "\"priorities\":{\"tiers\":["
    "{\"name\":\"inference\",\"value\":100000},"
    "{\"name\":\"training\",\"value\":10000},"
    "{\"name\":\"experiment\",\"value\":1000,\"preemptionPolicy\":\"PreemptLowerPriority\"}],"
    "\"defaultTier\":\"experiment\"},"
    "\"budget\":{\"gpuHours\":\"500\",\"period\":\"Monthly\",\"onExhausted\":\"Deny\","
    "\"warnAtPercent\":80,\"exemptTiers\":[\"inference\"],"
    "\"weights\":{\"nvidia.com/mig-1g.10gb\":\"0.2\"}},"
    "\"sharing\":{\"nodeSelector\":{\"matchLabels\":{\"pool\":\"vision\"}},"
    "\"migConfig\":\"all-1g.10gb\",\"devicePluginConfig\":\"\"}},"
    "\"status\":{\"observedGeneration\":2}}";

/* Parses json and decodes it; returns the decode status (parse failures
 * fail the test). */
static int decode(struct gq_team *t, const char *json, struct gq_err *err)
{
	char perr[256];
	yajl_val v;
	int rc;

	memset(t, 0, sizeof(*t));
	memset(err, 0, sizeof(*err));
	v = yajl_tree_parse(json, perr, sizeof(perr));
	if (v == NULL)
		fail_msg("test JSON does not parse: %s\n%s", perr, json);
	rc = gq_team_decode(t, v, err);
	yajl_tree_free(v);
	return rc;
}

/* Wraps a spec object into a minimal allocation named `name`. */
static char *team_json(const char *name, const char *spec)
{
	return gq_asprintf(
	    "{\"apiVersion\":\"gpuquota.io/v1alpha1\",\"kind\":\"GPUTeamAllocation\","
	    "\"metadata\":{\"name\":\"%s\"},\"spec\":%s}",
	    name, spec);
}

/* Asserts that a whole document fails with rc and a message that starts
 * with `path` and contains `fragment` (may be NULL). */
static void expect_doc_error(const char *json, int want_rc, const char *path, const char *fragment)
{
	struct gq_team t;
	struct gq_err err;
	int rc;

	rc = decode(&t, json, &err);
	if (rc != want_rc)
		fail_msg("want rc %s, got %s (%s) for\n%s", gq_strerror(want_rc), gq_strerror(rc),
			 err.msg, json);
	if (strncmp(err.msg, path, strlen(path)) != 0 || err.msg[strlen(path)] != ':')
		fail_msg("message does not start with \"%s:\": %s", path, err.msg);
	if (fragment != NULL && strstr(err.msg, fragment) == NULL)
		fail_msg("message lacks \"%s\": %s", fragment, err.msg);
	/* *out is untouched on failure */
	assert_null(t.name);
	assert_int_equal(t.n_namespaces, 0);
}

/* As expect_doc_error, for a spec wrapped into a team named "team". */
static void expect_error(const char *spec, int want_rc, const char *path, const char *fragment)
{
	char *json = team_json("team", spec);

	expect_doc_error(json, want_rc, path, fragment);
	free(json);
}

/* Asserts that a spec (team "team") decodes; the caller frees *t. */
static void expect_ok(struct gq_team *t, const char *spec)
{
	struct gq_err err;
	char *json = team_json("team", spec);
	int rc = decode(t, json, &err);

	if (rc != GQ_OK)
		fail_msg("unexpected %s: %s\n%s", gq_strerror(rc), err.msg, json);
	free(json);
}

static void assert_q(const struct gq_quantity *q, const char *want)
{
	char buf[GQ_QUANTITY_STRLEN];

	gq_quantity_format(q, buf);
	assert_string_equal(buf, want);
}

/* ------------------------------------------------------------------ */

static void test_decode_full(void **state)
{
	struct gq_team t;
	struct gq_err err;

	(void)state;
	assert_int_equal(decode(&t, FULL_TEAM, &err), GQ_OK);
	assert_string_equal(t.name, "vision");
	assert_string_equal(t.uid, "6f1c2a9e-3b7d-4e0a-9c61-0d5b8e2f4a11");
	assert_int_equal(t.generation, 3);
	assert_string_equal(t.creation_timestamp, "2025-03-01T09:30:00Z");
	assert_true(t.deleting);
	assert_int_equal(t.n_finalizers, 1);
	assert_string_equal(t.finalizers[0], "gpuquota.io/cleanup");

	assert_int_equal(t.n_namespaces, 2);
	assert_string_equal(t.namespaces[0], "vision-train");
	assert_string_equal(t.namespaces[1], "vision-lab");
	assert_true(t.namespace_selector.present);
	assert_int_equal(t.namespace_selector.match_labels.n, 1);
	assert_string_equal(t.namespace_selector.match_labels.items[0].key, "team");
	assert_string_equal(t.namespace_selector.match_labels.items[0].value, "vision");
	assert_int_equal(t.namespace_selector.n_exprs, 1);
	assert_string_equal(t.namespace_selector.exprs[0].key, "stage");
	assert_int_equal(t.namespace_selector.exprs[0].op, GQ_SEL_NOT_IN);
	assert_int_equal(t.namespace_selector.exprs[0].n_values, 1);
	assert_string_equal(t.namespace_selector.exprs[0].values[0], "retired");

	assert_true(t.has_gpus);
	assert_int_equal(t.gpus, 8);
	/* maps come back sorted by name */
	assert_int_equal(t.mig_slices.n, 2);
	assert_string_equal(t.mig_slices.items[0].name, "1g.10gb");
	assert_q(&t.mig_slices.items[0].q, "14");
	assert_string_equal(t.mig_slices.items[1].name, "3g.40gb");
	assert_q(&t.mig_slices.items[1].q, "2");
	assert_int_equal(t.resources.n, 2);
	assert_string_equal(t.resources.items[0].name, "requests.cpu");
	assert_q(&t.resources.items[0].q, "64");
	assert_string_equal(t.resources.items[1].name, "requests.memory");
	assert_q(&t.resources.items[1].q, "512Gi");

	assert_int_equal(t.max_gpus_per_pod, 4);
	assert_int_equal(t.container_default_request.n, 2);
	assert_string_equal(t.container_default_request.items[0].name, "cpu");
	assert_q(&t.container_default_request.items[0].q, "500m");
	assert_string_equal(t.container_default_request.items[1].name, "memory");
	assert_q(&t.container_default_request.items[1].q, "1Gi");
	assert_int_equal(t.container_default.n, 2);
	assert_q(&t.container_default.items[0].q, "2");
	assert_q(&t.container_default.items[1].q, "4Gi");

	assert_int_equal(t.n_tiers, 3);
	assert_string_equal(t.tiers[0].name, "inference");
	assert_int_equal(t.tiers[0].value, 100000);
	assert_null(t.tiers[0].preemption_policy);
	assert_string_equal(t.tiers[1].name, "training");
	assert_int_equal(t.tiers[1].value, 10000);
	assert_string_equal(t.tiers[2].name, "experiment");
	assert_int_equal(t.tiers[2].value, 1000);
	assert_string_equal(t.tiers[2].preemption_policy, "PreemptLowerPriority");
	assert_string_equal(t.default_tier, "experiment");

	assert_true(t.budget.present);
	assert_int_equal(t.budget.gpu_hours.milli, 500000);
	assert_int_equal(t.budget.period, GQ_PERIOD_MONTHLY);
	assert_int_equal(t.budget.on_exhausted, GQ_EXHAUSTED_DENY);
	assert_int_equal(t.budget.warn_at_percent, 80);
	assert_int_equal(t.budget.n_exempt_tiers, 1);
	assert_string_equal(t.budget.exempt_tiers[0], "inference");
	assert_int_equal(t.budget.weights.n, 1);
	assert_string_equal(t.budget.weights.items[0].name, "nvidia.com/mig-1g.10gb");
	assert_int_equal(t.budget.weights.items[0].q.milli, 200);

	assert_true(t.sharing.present);
	assert_true(t.sharing.node_selector.present);
	assert_int_equal(t.sharing.node_selector.match_labels.n, 1);
	assert_string_equal(t.sharing.node_selector.match_labels.items[0].key, "pool");
	assert_string_equal(t.sharing.mig_config, "all-1g.10gb");
	assert_non_null(t.sharing.device_plugin_config);
	assert_string_equal(t.sharing.device_plugin_config, "");

	assert_non_null(gq_team_tier(&t, "training"));
	assert_int_equal(gq_team_tier(&t, "training")->value, 10000);
	assert_null(gq_team_tier(&t, "batch"));
	{
		char *pc = gq_team_priority_class_name(&t, "inference");

		assert_string_equal(pc, "vision-inference");
		free(pc);
	}
	gq_team_free(&t);
	assert_null(t.name);
	gq_team_free(&t); /* safe on a zeroed struct */
}

/* Minimal objects: defaults and absent sections. */
static void test_decode_minimal_defaults(void **state)
{
	struct gq_team t;

	(void)state;
	expect_ok(&t, "{\"namespaces\":[\"a\"]}");
	assert_null(t.uid);
	assert_false(t.deleting);
	assert_false(t.has_gpus);
	assert_false(t.namespace_selector.present);
	assert_int_equal(t.n_tiers, 0);
	assert_false(t.budget.present);
	assert_false(t.sharing.present);
	assert_int_equal(t.max_gpus_per_pod, 0);
	gq_team_free(&t);

	expect_ok(&t, "{\"namespaceSelector\":{},\"budget\":{\"gpuHours\":10},"
		      "\"sharing\":{}}");
	assert_true(t.namespace_selector.present);
	assert_int_equal(t.n_namespaces, 0);
	assert_true(t.budget.present);
	assert_int_equal(t.budget.period, GQ_PERIOD_MONTHLY);
	assert_int_equal(t.budget.on_exhausted, GQ_EXHAUSTED_DENY);
	assert_int_equal(t.budget.warn_at_percent, 80);
	assert_int_equal(t.budget.gpu_hours.milli, 10000);
	assert_true(t.sharing.present);
	assert_false(t.sharing.node_selector.present);
	assert_null(t.sharing.mig_config);
	assert_null(t.sharing.device_plugin_config);
	gq_team_free(&t);

	/* JSON null means "not given" */
	expect_ok(&t, "{\"namespaces\":[\"a\"],\"quota\":null,\"budget\":null}");
	assert_false(t.budget.present);
	gq_team_free(&t);
}

/* Counts and quantities may be JSON numbers or strings. */
static void test_decode_numbers_and_strings(void **state)
{
	struct gq_team t;

	(void)state;
	expect_ok(&t, "{\"namespaces\":[\"a\"],\"quota\":{\"gpus\":\"4000m\","
		      "\"migSlices\":{\"1g.10gb\":\"3\",\"2g.20gb\":1},"
		      "\"resources\":{\"pods\":10,\"requests.cpu\":0.5}},"
		      "\"limits\":{\"maxGPUsPerPod\":\"2\"},"
		      "\"budget\":{\"gpuHours\":12.5,\"onExhausted\":\"Deprioritize\","
		      "\"warnAtPercent\":0,\"weights\":{\"nvidia.com/gpu\":1}}}");
	assert_true(t.has_gpus);
	assert_int_equal(t.gpus, 4);
	assert_q(&t.mig_slices.items[0].q, "3");
	assert_q(&t.mig_slices.items[1].q, "1");
	assert_string_equal(t.resources.items[0].name, "pods");
	assert_q(&t.resources.items[0].q, "10");
	assert_q(&t.resources.items[1].q, "500m");
	assert_int_equal(t.max_gpus_per_pod, 2);
	assert_int_equal(t.budget.gpu_hours.milli, 12500);
	assert_int_equal(t.budget.on_exhausted, GQ_EXHAUSTED_DEPRIORITIZE);
	assert_int_equal(t.budget.warn_at_percent, 0);
	gq_team_free(&t);

	expect_ok(&t, "{\"namespaces\":[\"a\"],\"quota\":{\"gpus\":0},"
		      "\"budget\":{\"gpuHours\":\"0\",\"onExhausted\":\"Hold\"}}");
	assert_true(t.has_gpus);
	assert_int_equal(t.gpus, 0);
	assert_int_equal(t.budget.on_exhausted, GQ_EXHAUSTED_HOLD);
	gq_team_free(&t);
}

static void test_period_parse(void **state)
{
	static const struct {
		const char *in;
		int kind;
		long long seconds;
	} ok[] = {
	    {"Monthly", GQ_PERIOD_MONTHLY, 0},	   {"Weekly", GQ_PERIOD_WEEKLY, 0},
	    {"Daily", GQ_PERIOD_DAILY, 0},	   {"6h", GQ_PERIOD_DURATION, 21600},
	    {"10m", GQ_PERIOD_DURATION, 600},	   {"1h30m", GQ_PERIOD_DURATION, 5400},
	    {"1m", GQ_PERIOD_DURATION, 60},	   {"90s", GQ_PERIOD_DURATION, 90},
	    {"1.5h", GQ_PERIOD_DURATION, 5400},	   {"2h0m30s", GQ_PERIOD_DURATION, 7230},
	    {"720h", GQ_PERIOD_DURATION, 2592000},
	};
	struct gq_team t;
	char spec[256];
	size_t i;

	(void)state;
	for (i = 0; i < GQ_ARRAY_LEN(ok); i++) {
		snprintf(spec, sizeof(spec),
			 "{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,\"period\":\"%s\"}}",
			 ok[i].in);
		expect_ok(&t, spec);
		assert_int_equal(t.budget.period, ok[i].kind);
		if (ok[i].kind == GQ_PERIOD_DURATION)
			assert_int_equal(t.budget.period_seconds, ok[i].seconds);
		gq_team_free(&t);
	}
}

/* ------------------------------------------------------------------ */
/* Validation: one test per rule                                        */
/* ------------------------------------------------------------------ */

static void test_err_team_name(void **state)
{
	char *json;
	char long_name[70];

	(void)state;
	json = team_json("Vision", "{\"namespaces\":[\"a\"]}");
	expect_doc_error(json, GQ_EINVAL, "metadata.name", "DNS-1123 label");
	free(json);
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	json = team_json(long_name, "{\"namespaces\":[\"a\"]}");
	expect_doc_error(json, GQ_EINVAL, "metadata.name", "DNS-1123 label");
	free(json);
	expect_doc_error("{\"metadata\":{},\"spec\":{\"namespaces\":[\"a\"]}}", GQ_EINVAL,
			 "metadata.name", "required");
	expect_doc_error("{\"spec\":{\"namespaces\":[\"a\"]}}", GQ_EINVAL, "metadata", "required");
}

static void test_err_system_prefix(void **state)
{
	char *json;

	(void)state;
	json =
	    team_json("system-gpu", "{\"namespaces\":[\"a\"],"
				    "\"priorities\":{\"tiers\":[{\"name\":\"hi\",\"value\":1}]}}");
	expect_doc_error(json, GQ_EINVAL, "metadata.name", "system-");
	free(json);
	/* without tiers no PriorityClass is created, so the name is fine */
	json = team_json("system-gpu", "{\"namespaces\":[\"a\"]}");
	{
		struct gq_team t;
		struct gq_err err;

		assert_int_equal(decode(&t, json, &err), GQ_OK);
		gq_team_free(&t);
	}
	free(json);
}

static void test_err_api_version_kind(void **state)
{
	(void)state;
	expect_doc_error("{\"apiVersion\":\"gpuquota.io/v2\",\"metadata\":{\"name\":\"x\"},"
			 "\"spec\":{\"namespaces\":[\"a\"]}}",
			 GQ_EINVAL, "apiVersion", "gpuquota.io/v1alpha1");
	expect_doc_error("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\"},"
			 "\"spec\":{\"namespaces\":[\"a\"]}}",
			 GQ_EINVAL, "kind", "GPUTeamAllocation");
	expect_doc_error("[1]", GQ_EINVAL, "object", NULL);
}

static void test_err_spec_missing(void **state)
{
	(void)state;
	expect_doc_error("{\"metadata\":{\"name\":\"x\"}}", GQ_EINVAL, "spec", "required");
	expect_error("[]", GQ_EINVAL, "spec", "object");
}

static void test_err_no_namespaces(void **state)
{
	(void)state;
	expect_error("{\"quota\":{\"gpus\":1}}", GQ_EINVAL, "spec",
		     "spec.namespaces and spec.namespaceSelector");
}

static void test_err_namespace_name(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"ok\",\"Bad_NS\"]}", GQ_EINVAL, "spec.namespaces[1]",
		     "DNS-1123");
	expect_error("{\"namespaces\":[\"ok\",7]}", GQ_EINVAL, "spec.namespaces[1]", "string");
	expect_error("{\"namespaces\":\"ok\"}", GQ_EINVAL, "spec.namespaces", "list");
}

static void test_err_namespace_duplicate(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\",\"b\",\"a\"]}", GQ_EINVAL, "spec.namespaces[2]",
		     "duplicate");
}

static void test_err_too_many_namespaces(void **state)
{
	char *spec = gq_malloc(257 * 8 + 64);
	size_t i, off;

	(void)state;
	off = (size_t)snprintf(spec, 64, "{\"namespaces\":[");
	for (i = 0; i < 257; i++)
		off += (size_t)snprintf(spec + off, 16, "%s\"n%zu\"", i ? "," : "", i);
	snprintf(spec + off, 8, "]}");
	expect_error(spec, GQ_EINVAL, "spec.namespaces", "at most 256");
	free(spec);
}

static void test_err_tier_name(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"priorities\":{\"tiers\":"
		     "[{\"name\":\"Gold\",\"value\":1}]}}",
		     GQ_EINVAL, "spec.priorities.tiers[0].name", "DNS-1123");
	expect_error("{\"namespaces\":[\"a\"],\"priorities\":{\"tiers\":[{\"value\":1}]}}",
		     GQ_EINVAL, "spec.priorities.tiers[0].name", "required");
}

static void test_err_tier_duplicate(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"priorities\":{\"tiers\":"
		     "[{\"name\":\"x\",\"value\":1},{\"name\":\"x\",\"value\":2}]}}",
		     GQ_EINVAL, "spec.priorities.tiers[1].name", "duplicate");
}

static void test_err_tier_count(void **state)
{
	char spec[2048];
	size_t i, off;

	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"priorities\":{\"tiers\":[]}}", GQ_EINVAL,
		     "spec.priorities.tiers", "1 to 16");
	off = (size_t)snprintf(spec, sizeof(spec),
			       "{\"namespaces\":[\"a\"],\"priorities\":{\"tiers\":[");
	for (i = 0; i < 17; i++)
		off += (size_t)snprintf(spec + off, sizeof(spec) - off,
					"%s{\"name\":\"t%zu\",\"value\":%zu}", i ? "," : "", i, i);
	snprintf(spec + off, sizeof(spec) - off, "]}}");
	expect_error(spec, GQ_EINVAL, "spec.priorities.tiers", "1 to 16");
}

static void test_err_tier_value(void **state)
{
	struct gq_team t;

	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"priorities\":{\"tiers\":"
		     "[{\"name\":\"x\",\"value\":1000000001}]}}",
		     GQ_EINVAL, "spec.priorities.tiers[0].value", "out of range");
	expect_error("{\"namespaces\":[\"a\"],\"priorities\":{\"tiers\":"
		     "[{\"name\":\"x\",\"value\":-2147483649}]}}",
		     GQ_EINVAL, "spec.priorities.tiers[0].value", "out of range");
	expect_error("{\"namespaces\":[\"a\"],\"priorities\":{\"tiers\":"
		     "[{\"name\":\"x\",\"value\":1.5}]}}",
		     GQ_EINVAL, "spec.priorities.tiers[0].value", "integer");
	/* both limits themselves are allowed */
	expect_ok(&t, "{\"namespaces\":[\"a\"],\"priorities\":{\"tiers\":"
		      "[{\"name\":\"x\",\"value\":1000000000},"
		      "{\"name\":\"y\",\"value\":-2147483648,\"preemptionPolicy\":\"Never\"}]}}");
	assert_int_equal(t.tiers[0].value, 1000000000);
	assert_int_equal(t.tiers[1].value, INT32_MIN);
	assert_string_equal(t.tiers[1].preemption_policy, "Never");
	gq_team_free(&t);
}

static void test_err_preemption_policy(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"priorities\":{\"tiers\":"
		     "[{\"name\":\"x\",\"value\":1,\"preemptionPolicy\":\"Always\"}]}}",
		     GQ_EINVAL, "spec.priorities.tiers[0].preemptionPolicy",
		     "PreemptLowerPriority, Never");
}

static void test_err_default_tier(void **state)
{
	struct gq_team t;
	struct gq_err err;
	char *json;

	(void)state;
	json = team_json("team", "{\"namespaces\":[\"a\"],\"priorities\":{\"tiers\":"
				 "[{\"name\":\"a\",\"value\":1}],\"defaultTier\":\"x\"}}");
	assert_int_equal(decode(&t, json, &err), GQ_EINVAL);
	assert_string_equal(err.msg, "spec.priorities.defaultTier: \"x\" is not one of the tiers");
	free(json);
}

static void test_err_exempt_tiers(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"priorities\":{\"tiers\":"
		     "[{\"name\":\"a\",\"value\":1}]},"
		     "\"budget\":{\"gpuHours\":1,\"exemptTiers\":[\"a\",\"b\"]}}",
		     GQ_EINVAL, "spec.budget.exemptTiers[1]", "\"b\" is not one of the tiers");
	/* no tiers at all */
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,\"exemptTiers\":[\"a\"]}}",
		     GQ_EINVAL, "spec.budget.exemptTiers[0]", "not one of the tiers");
}

static void test_err_quota_gpus(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"gpus\":-1}}", GQ_EINVAL,
		     "spec.quota.gpus", ">= 0");
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"gpus\":\"1.5\"}}", GQ_EINVAL,
		     "spec.quota.gpus", "whole number");
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"gpus\":\"eight\"}}", GQ_EPARSE,
		     "spec.quota.gpus", "not a valid quantity");
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"gpus\":true}}", GQ_EINVAL,
		     "spec.quota.gpus", "quantity");
}

static void test_err_mig_slices(void **state)
{
	struct gq_team t;

	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"migSlices\":{\"1g10gb\":1}}}", GQ_EINVAL,
		     "spec.quota.migSlices[1g10gb]", "MIG profile");
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"migSlices\":{\"1g.10GB\":1}}}",
		     GQ_EINVAL, "spec.quota.migSlices[1g.10GB]", "MIG profile");
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"migSlices\":{\"1g.10gb\":-2}}}",
		     GQ_EINVAL, "spec.quota.migSlices[1g.10gb]", ">= 0");
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"migSlices\":{\"1g.10gb\":\"500m\"}}}",
		     GQ_EINVAL, "spec.quota.migSlices[1g.10gb]", "whole number");
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"migSlices\":[1]}}", GQ_EINVAL,
		     "spec.quota.migSlices", "object");
	/* suffixed profiles are valid */
	expect_ok(&t, "{\"namespaces\":[\"a\"],\"quota\":{\"migSlices\":"
		      "{\"1g.10gb.me\":1,\"1g.20gb\":2,\"7g.80gb\":0}}}");
	assert_int_equal(t.mig_slices.n, 3);
	assert_string_equal(t.mig_slices.items[0].name, "1g.10gb.me");
	gq_team_free(&t);
}

static void test_err_quota_resources_gpu(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"resources\":"
		     "{\"requests.nvidia.com/gpu\":1}}}",
		     GQ_EINVAL, "spec.quota.resources[requests.nvidia.com/gpu]", "spec.quota.gpus");
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"resources\":"
		     "{\"limits.nvidia.com/gpu\":1}}}",
		     GQ_EINVAL, "spec.quota.resources[limits.nvidia.com/gpu]", "silently ignores");
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"resources\":"
		     "{\"nvidia.com/mig-1g.10gb\":1}}}",
		     GQ_EINVAL, "spec.quota.resources[nvidia.com/mig-1g.10gb]", "migSlices");
}

static void test_err_quota_resources_name(void **state)
{
	struct gq_team t;

	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"resources\":{\"gpus\":1}}}", GQ_EINVAL,
		     "spec.quota.resources[gpus]", "standard ResourceQuota resource");
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"resources\":{\"Bad Name/x\":1}}}",
		     GQ_EINVAL, "spec.quota.resources[Bad Name/x]", "not a valid resource name");
	/* qualified and hugepage names are accepted */
	expect_ok(&t, "{\"namespaces\":[\"a\"],\"quota\":{\"resources\":{"
		      "\"count/deployments.apps\":10,\"requests.hugepages-2Mi\":\"1Gi\","
		      "\"gold.storageclass.storage.k8s.io/requests.storage\":\"1Ti\","
		      "\"limits.memory\":\"1Gi\",\"services.loadbalancers\":0}}}");
	assert_int_equal(t.resources.n, 5);
	gq_team_free(&t);
}

static void test_err_quota_resources_value(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"resources\":{\"requests.cpu\":\"-1\"}}}",
		     GQ_EINVAL, "spec.quota.resources[requests.cpu]", ">= 0");
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"resources\":{\"requests.cpu\":\"1n\"}}}",
		     GQ_EPARSE, "spec.quota.resources[requests.cpu]", "not a valid quantity");
	expect_error("{\"namespaces\":[\"a\"],\"quota\":{\"resources\":"
		     "{\"pods\":1,\"pods\":2}}}",
		     GQ_EINVAL, "spec.quota.resources", "duplicate key");
}

static void test_err_container_keys(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"limits\":{\"container\":"
		     "{\"default\":{\"nvidia.com/gpu\":1}}}}",
		     GQ_EINVAL, "spec.limits.container.default[nvidia.com/gpu]", "every container");
	expect_error("{\"namespaces\":[\"a\"],\"limits\":{\"container\":"
		     "{\"defaultRequest\":{\"pods\":1}}}}",
		     GQ_EINVAL, "spec.limits.container.defaultRequest[pods]",
		     "cpu, memory, ephemeral-storage");
}

static void test_err_container_request_above_default(void **state)
{
	struct gq_team t;

	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"limits\":{\"container\":"
		     "{\"defaultRequest\":{\"cpu\":\"2500m\"},\"default\":{\"cpu\":2}}}}",
		     GQ_EINVAL, "spec.limits.container.defaultRequest[cpu]",
		     "spec.limits.container.default[cpu]");
	/* equal is fine, and a key only on one side is fine */
	expect_ok(&t, "{\"namespaces\":[\"a\"],\"limits\":{\"container\":"
		      "{\"defaultRequest\":{\"cpu\":\"2000m\",\"memory\":\"1Gi\"},"
		      "\"default\":{\"cpu\":2,\"ephemeral-storage\":\"1Gi\"}}}}");
	gq_team_free(&t);
}

static void test_err_max_gpus_per_pod(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"limits\":{\"maxGPUsPerPod\":-1}}", GQ_EINVAL,
		     "spec.limits.maxGPUsPerPod", ">= 0");
}

static void test_err_budget_gpu_hours(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":-5}}", GQ_EINVAL,
		     "spec.budget.gpuHours", ">= 0");
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"period\":\"Daily\"}}", GQ_EINVAL,
		     "spec.budget.gpuHours", "required");
}

static void test_err_warn_percent(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,\"warnAtPercent\":101}}",
		     GQ_EINVAL, "spec.budget.warnAtPercent", "out of range");
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,\"warnAtPercent\":-1}}",
		     GQ_EINVAL, "spec.budget.warnAtPercent", "out of range");
}

static void test_err_period(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,\"period\":\"Yearly\"}}",
		     GQ_EPARSE, "spec.budget.period", "Monthly, Weekly, Daily");
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,\"period\":\"30s\"}}",
		     GQ_EINVAL, "spec.budget.period", "minimum of 1m");
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,\"period\":\"500ms\"}}",
		     GQ_EPARSE, "spec.budget.period", "units h, m, s");
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,\"period\":\"2d\"}}",
		     GQ_EPARSE, "spec.budget.period", NULL);
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,\"period\":\"h\"}}",
		     GQ_EPARSE, "spec.budget.period", NULL);
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,\"period\":\"90.5s\"}}",
		     GQ_EINVAL, "spec.budget.period", "whole number of seconds");
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,"
		     "\"period\":\"999999999999h\"}}",
		     GQ_EINVAL, "spec.budget.period", "too long");
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,\"period\":\"monthly\"}}",
		     GQ_EPARSE, "spec.budget.period", NULL);
}

static void test_err_on_exhausted(void **state)
{
	(void)state;
	expect_error(
	    "{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,\"onExhausted\":\"Kill\"}}",
	    GQ_EINVAL, "spec.budget.onExhausted", "Deny, Hold, Deprioritize");
}

static void test_err_weights(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,"
		     "\"weights\":{\"requests.cpu\":\"1\"}}}",
		     GQ_EINVAL, "spec.budget.weights[requests.cpu]", "nvidia.com/gpu");
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,"
		     "\"weights\":{\"nvidia.com/mig-big\":\"1\"}}}",
		     GQ_EINVAL, "spec.budget.weights[nvidia.com/mig-big]", "nvidia.com/mig-");
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,"
		     "\"weights\":{\"nvidia.com/gpu\":\"-0.5\"}}}",
		     GQ_EINVAL, "spec.budget.weights[nvidia.com/gpu]", ">= 0");
	/* the cost model's bound: 1e13 once overflowed the admission weight */
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,"
		     "\"weights\":{\"nvidia.com/gpu\":\"1e13\"}}}",
		     GQ_EINVAL, "spec.budget.weights[nvidia.com/gpu]", "at most 1000");
	expect_error("{\"namespaces\":[\"a\"],\"budget\":{\"gpuHours\":1,"
		     "\"weights\":{\"nvidia.com/gpu\":1000.001}}}",
		     GQ_EINVAL, "spec.budget.weights[nvidia.com/gpu]", "at most 1000");
}

static void test_err_selector(void **state)
{
	(void)state;
	expect_error("{\"namespaceSelector\":{\"matchExpressions\":"
		     "[{\"key\":\"a\",\"operator\":\"Equals\",\"values\":[\"x\"]}]}}",
		     GQ_EINVAL, "spec.namespaceSelector.matchExpressions[0].operator",
		     "In, NotIn, Exists, DoesNotExist");
	expect_error("{\"namespaceSelector\":{\"matchExpressions\":"
		     "[{\"key\":\"a\",\"operator\":\"In\"}]}}",
		     GQ_EINVAL, "spec.namespaceSelector.matchExpressions[0].values", "non-empty");
	expect_error("{\"namespaceSelector\":{\"matchExpressions\":"
		     "[{\"key\":\"a\",\"operator\":\"Exists\",\"values\":[\"x\"]}]}}",
		     GQ_EINVAL, "spec.namespaceSelector.matchExpressions[0].values", "empty");
	expect_error("{\"namespaceSelector\":{\"matchLabels\":{\"bad key\":\"x\"}}}", GQ_EINVAL,
		     "spec.namespaceSelector.matchLabels", "label key");
	expect_error("{\"namespaceSelector\":{\"matchLabels\":{\"k\":\"-x\"}}}", GQ_EINVAL,
		     "spec.namespaceSelector.matchLabels[k]", "label value");
	expect_error("{\"namespaces\":[\"a\"],\"sharing\":{\"nodeSelector\":{\"matchExpressions\":"
		     "[{\"operator\":\"Exists\"}]}}}",
		     GQ_EINVAL, "spec.sharing.nodeSelector.matchExpressions[0].key", "required");
}

static void test_err_sharing(void **state)
{
	(void)state;
	expect_error("{\"namespaces\":[\"a\"],\"sharing\":{\"migConfig\":\"all 1g\"}}", GQ_EINVAL,
		     "spec.sharing.migConfig", "label value");
	expect_error("{\"namespaces\":[\"a\"],\"sharing\":{\"devicePluginConfig\":5}}", GQ_EINVAL,
		     "spec.sharing.devicePluginConfig", "string");
}

/* ------------------------------------------------------------------ */
/* Selector semantics                                                   */
/* ------------------------------------------------------------------ */

/* Decodes `sel` as the namespaceSelector of a team; caller frees *t. */
static void selector_team(struct gq_team *t, const char *sel)
{
	char spec[1024];

	snprintf(spec, sizeof(spec), "{\"namespaceSelector\":%s}", sel);
	expect_ok(t, spec);
}

static void test_selector_semantics(void **state)
{
	static struct gq_label team_vision[] = {{"team", "vision"}, {"stage", "prod"}};
	static struct gq_label team_nlp[] = {{"team", "nlp"}};
	static struct gq_label only_stage[] = {{"stage", "dev"}};
	const struct gq_label_list l_vision = {team_vision, 2};
	const struct gq_label_list l_nlp = {team_nlp, 1};
	const struct gq_label_list l_stage = {only_stage, 1};
	const struct gq_label_list l_none = {NULL, 0};
	static const struct {
		const char *sel;
		bool vision, nlp, stage, none;
	} cases[] = {
	    {"{}", true, true, true, true},
	    {"{\"matchLabels\":{}}", true, true, true, true},
	    {"{\"matchLabels\":{\"team\":\"vision\"}}", true, false, false, false},
	    {"{\"matchLabels\":{\"team\":\"vision\",\"stage\":\"prod\"}}", true, false, false,
	     false},
	    {"{\"matchExpressions\":[{\"key\":\"team\",\"operator\":\"In\","
	     "\"values\":[\"vision\",\"nlp\"]}]}",
	     true, true, false, false},
	    {"{\"matchExpressions\":[{\"key\":\"team\",\"operator\":\"NotIn\","
	     "\"values\":[\"vision\"]}]}",
	     false, true, true, true},
	    {"{\"matchExpressions\":[{\"key\":\"stage\",\"operator\":\"Exists\"}]}", true, false,
	     true, false},
	    {"{\"matchExpressions\":[{\"key\":\"stage\",\"operator\":\"DoesNotExist\"}]}", false,
	     true, false, true},
	    /* matchLabels AND expressions */
	    {"{\"matchLabels\":{\"team\":\"vision\"},\"matchExpressions\":"
	     "[{\"key\":\"stage\",\"operator\":\"NotIn\",\"values\":[\"prod\"]}]}",
	     false, false, false, false},
	    {"{\"matchLabels\":{\"team\":\"nlp\"},\"matchExpressions\":"
	     "[{\"key\":\"stage\",\"operator\":\"DoesNotExist\"},"
	     "{\"key\":\"team\",\"operator\":\"Exists\"}]}",
	     false, true, false, false},
	};
	struct gq_team t;
	struct gq_selector absent;
	size_t i;

	(void)state;
	for (i = 0; i < GQ_ARRAY_LEN(cases); i++) {
		selector_team(&t, cases[i].sel);
		if (gq_selector_matches(&t.namespace_selector, &l_vision) != cases[i].vision ||
		    gq_selector_matches(&t.namespace_selector, &l_nlp) != cases[i].nlp ||
		    gq_selector_matches(&t.namespace_selector, &l_stage) != cases[i].stage ||
		    gq_selector_matches(&t.namespace_selector, &l_none) != cases[i].none)
			fail_msg("selector %s: wrong result", cases[i].sel);
		/* NULL label set behaves like an empty one */
		assert_int_equal(gq_selector_matches(&t.namespace_selector, NULL), cases[i].none);
		gq_team_free(&t);
	}
	memset(&absent, 0, sizeof(absent));
	assert_false(gq_selector_matches(&absent, &l_vision));
	assert_false(gq_selector_matches(&absent, &l_none));
	assert_false(gq_selector_matches(NULL, &l_vision));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_full),
	    cmocka_unit_test(test_decode_minimal_defaults),
	    cmocka_unit_test(test_decode_numbers_and_strings),
	    cmocka_unit_test(test_period_parse),
	    cmocka_unit_test(test_err_team_name),
	    cmocka_unit_test(test_err_system_prefix),
	    cmocka_unit_test(test_err_api_version_kind),
	    cmocka_unit_test(test_err_spec_missing),
	    cmocka_unit_test(test_err_no_namespaces),
	    cmocka_unit_test(test_err_namespace_name),
	    cmocka_unit_test(test_err_namespace_duplicate),
	    cmocka_unit_test(test_err_too_many_namespaces),
	    cmocka_unit_test(test_err_tier_name),
	    cmocka_unit_test(test_err_tier_duplicate),
	    cmocka_unit_test(test_err_tier_count),
	    cmocka_unit_test(test_err_tier_value),
	    cmocka_unit_test(test_err_preemption_policy),
	    cmocka_unit_test(test_err_default_tier),
	    cmocka_unit_test(test_err_exempt_tiers),
	    cmocka_unit_test(test_err_quota_gpus),
	    cmocka_unit_test(test_err_mig_slices),
	    cmocka_unit_test(test_err_quota_resources_gpu),
	    cmocka_unit_test(test_err_quota_resources_name),
	    cmocka_unit_test(test_err_quota_resources_value),
	    cmocka_unit_test(test_err_container_keys),
	    cmocka_unit_test(test_err_container_request_above_default),
	    cmocka_unit_test(test_err_max_gpus_per_pod),
	    cmocka_unit_test(test_err_budget_gpu_hours),
	    cmocka_unit_test(test_err_warn_percent),
	    cmocka_unit_test(test_err_period),
	    cmocka_unit_test(test_err_on_exhausted),
	    cmocka_unit_test(test_err_weights),
	    cmocka_unit_test(test_err_selector),
	    cmocka_unit_test(test_err_sharing),
	    cmocka_unit_test(test_selector_semantics),
	};
	return cmocka_run_group_tests_name("spec", tests, NULL, NULL);
}
