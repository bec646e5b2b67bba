/*
 * Unit tests for admission_decode.c and admission.c: AdmissionReview
 * decoding (realistic reviews, init containers and sidecars, limits-only
 * pods, malformed and oversize bodies), every decision rule and their
 * order, combined patches (decoded from the base64 wire form and compared
 * as JSON), and the response shape.
 *
 * Every body decoded here also goes through both decoders (diff_decode):
 * the streaming gq_admission_decode and the reference
 * gq_admission_decode_tree (test/oracle/admission_tree.c) must return the
 * same code and message and, on success, the same request field by field.
 * Further differential tests cover the fuzz corpora, the bench bodies and
 * mutations of them, and the corners where streaming differs from a tree
 * walk (key order, repeated keys, \u0000 in strings, comments, bounds,
 * error precedence).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "admission.h"
#include "admission_tree.h"
#include "buf.h"
#include "gq.h"
#include "json_assert.h"

#define H (3600LL * GQ_ADMISSION_GPU_MICRO) /* one GPU-hour in micro GPU-seconds */

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

/* A Pod CREATE review in namespace vision with the given spec (JSON). */
static char *pod_review(const char *op, const char *spec)
{
	return gq_asprintf(
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	    "\"request\":{\"uid\":\"705ab4f5-6393-11e8-b7cc-42010a800002\","
	    "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
	    "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
	    "\"name\":\"p1\",\"namespace\":\"vision\",\"operation\":\"%s\","
	    "\"userInfo\":{\"username\":\"alice\",\"groups\":[\"system:authenticated\"]},"
	    "\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
	    "\"metadata\":{\"name\":\"p1\",\"namespace\":\"vision\"},\"spec\":%s},"
	    "\"oldObject\":null,\"dryRun\":false}}",
	    op, spec);
}

/* Spec of a pod with one container requesting n of resource res. */
static char *gpu_spec(const char *res, int n, const char *extra)
{
	return gq_asprintf("{%s\"containers\":[{\"name\":\"c\",\"image\":\"cuda\","
			   "\"resources\":{\"requests\":{\"cpu\":\"1\",\"%s\":\"%d\"},"
			   "\"limits\":{\"%s\":\"%d\"}}}],\"priority\":0,"
			   "\"preemptionPolicy\":\"PreemptLowerPriority\"}",
			   extra, res, n, res, n);
}

/* Optional strings: both NULL, or equal. */
static void assert_same_str(const char *what, const char *a, const char *b)
{
	if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0))
		fail_msg("%s differs: stream \"%s\", tree \"%s\"", what, a ? a : "(null)",
			 b ? b : "(null)");
}

/* Every field of two decoded requests is the same (pointers: whether NULL). */
static void assert_same_request(const struct gq_adm_request *a, const struct gq_adm_request *b)
{
	size_t i;

	assert_same_str("uid", a->uid, b->uid);
	assert_same_str("operation", a->operation, b->operation);
	assert_int_equal(a->is_pod, b->is_pod);
	assert_int_equal(a->is_pod_create, b->is_pod_create);
	assert_same_str("namespace", a->namespace, b->namespace);
	assert_same_str("name", a->name, b->name);
	assert_same_str("generate_name", a->generate_name, b->generate_name);
	assert_int_equal(a->dry_run, b->dry_run);
	assert_int_equal(a->has_finalizers, b->has_finalizers);
	assert_int_equal(a->has_accounting_finalizer, b->has_accounting_finalizer);
	assert_same_str("priority_class", a->priority_class, b->priority_class);
	assert_int_equal(a->has_priority, b->has_priority);
	assert_int_equal(a->has_preemption_policy, b->has_preemption_policy);
	assert_int_equal(a->active_deadline, b->active_deadline);
	assert_int_equal(a->has_node_selector, b->has_node_selector);
	assert_int_equal(a->has_tolerations, b->has_tolerations);
	assert_int_equal(a->tolerates_pool, b->tolerates_pool);
	assert_int_equal(a->has_gates, b->has_gates);
	assert_int_equal(a->gates == NULL, b->gates == NULL);
	assert_int_equal(a->n_gates, b->n_gates);
	for (i = 0; i < a->n_gates; i++)
		assert_same_str("gate", a->gates[i], b->gates[i]);
	assert_int_equal(a->gpus == NULL, b->gpus == NULL);
	assert_int_equal(a->n_gpus, b->n_gpus);
	for (i = 0; i < a->n_gpus; i++) {
		assert_same_str("gpu resource", a->gpus[i].resource, b->gpus[i].resource);
		assert_int_equal(a->gpus[i].count, b->gpus[i].count);
	}
}

/*
 * Decodes body with both decoders and checks that they agree: return code,
 * error message, and on success every field. Returns the code. On error
 * neither holds anything.
 */
static int diff_decode(const char *body, size_t len)
{
	struct gq_adm_request a, b;
	struct gq_err ea = {0}, eb = {0};
	int ra = gq_admission_decode(&a, body, len, &ea);
	int rb = gq_admission_decode_tree(&b, body, len, &eb);

	if (ra != rb)
		fail_msg("decoders differ: stream %s (%s), tree %s (%s)", gq_strerror(ra), ea.msg,
			 gq_strerror(rb), eb.msg);
	assert_string_equal(ea.msg, eb.msg);
	if (ra == GQ_OK) {
		assert_same_request(&a, &b);
		assert_false(a.refused_gpu_pod);
	} else {
		/* only a refused GPU pod keeps something: its uid */
		assert_int_equal(a.refused_gpu_pod, b.refused_gpu_pod);
		assert_same_str("uid", a.uid, b.uid);
		assert_int_equal(a.uid != NULL, a.refused_gpu_pod);
		assert_null(a.operation);
		assert_null(a.gpus);
		assert_null(a.gates);
	}
	gq_adm_request_free(&a);
	gq_adm_request_free(&b);
	return ra;
}

static void decode_ok(struct gq_adm_request *r, const char *json)
{
	struct gq_err err = {0};
	int rc;

	assert_int_equal(diff_decode(json, strlen(json)), GQ_OK);
	rc = gq_admission_decode(r, json, strlen(json), &err);

	if (rc != GQ_OK)
		fail_msg("decode failed: %s: %s", gq_strerror(rc), err.msg);
}

/* Decodes a review of a pod with the given extra spec fields and n GPUs. */
static void decode_gpu_pod(struct gq_adm_request *r, int n, const char *extra)
{
	char *spec = gpu_spec("nvidia.com/gpu", n, extra);
	char *json = pod_review("CREATE", spec);

	decode_ok(r, json);
	free(json);
	free(spec);
}

static int decode_err(const char *json, size_t len, char *msg, size_t msgsz)
{
	struct gq_adm_request r;
	struct gq_err err = {0};
	int rc;

	diff_decode(json, len);
	rc = gq_admission_decode(&r, json, len, &err);

	if (msg != NULL)
		snprintf(msg, msgsz, "%s", err.msg);
	/* on error nothing is held but a refused GPU pod's uid */
	assert_true(rc != GQ_OK || !r.refused_gpu_pod);
	assert_true(rc == GQ_OK || (r.uid != NULL) == r.refused_gpu_pod);
	gq_adm_request_free(&r);
	assert_null(r.uid);
	return rc;
}

static const char *const tiers[] = {"vision-high", "vision-low"};
static const char *const exempt[] = {"vision-high"};

/* The team most tests start from: two tiers, a cap of 8 GPUs, 10 GPU-hours
 * with nothing used yet, policy Deny, warning at 80 %. */
static struct gq_adm_team base_team(void)
{
	struct gq_adm_team t = {
	    .name = "vision",
	    .tier_classes = tiers,
	    .n_tiers = 2,
	    .exempt_classes = exempt,
	    .n_exempt = 1,
	    .max_gpus_per_pod = 8,
	    .has_budget = true,
	    .policy = GQ_EXHAUSTED_DENY,
	    .used_micro = 0,
	    .budget_micro = 10 * H,
	    .warn_at_percent = 80,
	    .reset_time = "2026-12-01T00:00:00Z",
	    .over_budget_class = "vision-over-budget",
	    .over_budget_value = 10,
	};
	return t;
}

/* Encodes resp, checks the envelope, and returns the decoded patch carried
 * on the wire (NULL when none; caller frees). */
static char *wire_patch(const struct gq_adm_response *resp, const char *uid)
{
	char *body = gq_admission_encode(resp, uid), *patch = NULL;
	yajl_val doc, r, v, pt;

	assert_non_null(body);
	doc = yajl_tree_parse(body, NULL, 0);
	assert_non_null(doc);
	assert_string_equal(YAJL_GET_STRING(yajl_tree_get(doc, (const char *[]){"apiVersion", NULL},
							  yajl_t_string)),
			    "admission.k8s.io/v1");
	assert_string_equal(
	    YAJL_GET_STRING(yajl_tree_get(doc, (const char *[]){"kind", NULL}, yajl_t_string)),
	    "AdmissionReview");
	r = yajl_tree_get(doc, (const char *[]){"response", NULL}, yajl_t_object);
	assert_non_null(r);
	assert_string_equal(
	    YAJL_GET_STRING(yajl_tree_get(r, (const char *[]){"uid", NULL}, yajl_t_string)), uid);
	v = yajl_tree_get(r, (const char *[]){"patch", NULL}, yajl_t_string);
	pt = yajl_tree_get(r, (const char *[]){"patchType", NULL}, yajl_t_string);
	assert_true((v == NULL) == (pt == NULL));
	if (v != NULL) {
		assert_string_equal(YAJL_GET_STRING(pt), "JSONPatch");
		patch = unbase64(YAJL_GET_STRING(v));
	}
	yajl_tree_free(doc);
	free(body);
	return patch;
}

/* Checks that resp carries exactly the patch want (JSON), on the wire too. */
static void assert_patch(const struct gq_adm_response *resp, const char *want)
{
	char *wire;

	assert_true(resp->allowed);
	assert_non_null(resp->patch);
	assert_json_eq(resp->patch, want);
	wire = wire_patch(resp, "uid-1");
	assert_non_null(wire);
	assert_string_equal(wire, resp->patch);
	free(wire);
}

/* Allowed, no patch, no warning. */
static void assert_untouched(const struct gq_adm_response *resp)
{
	assert_true(resp->allowed);
	assert_null(resp->patch);
	assert_int_equal(resp->n_warnings, 0);
	assert_null(resp->message);
}

/* ------------------------------------------------------------------ */
/* Decoding                                                             */
/* ------------------------------------------------------------------ */

/* A Job's pod: generateName, empty request.name, no metadata.namespace. */
static void test_decode_job_pod(void **state)
{
	const char *json =
	    "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
	    "\"request\":{\"uid\":\"0b5a1c2e-3d4f-4a5b-8c9d-0e1f2a3b4c5d\","
	    "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
	    "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
	    "\"requestKind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
	    "\"requestResource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
	    "\"name\":\"\",\"namespace\":\"vision\",\"operation\":\"CREATE\","
	    "\"userInfo\":{\"username\":\"system:serviceaccount:kube-system:job-controller\","
	    "\"uid\":\"a1\",\"groups\":[\"system:serviceaccounts\"]},"
	    "\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{"
	    "\"generateName\":\"train-resnet-\",\"creationTimestamp\":null,"
	    "\"labels\":{\"batch.kubernetes.io/job-name\":\"train-resnet\"},"
	    "\"ownerReferences\":[{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\","
	    "\"name\":\"train-resnet\",\"uid\":\"x\",\"controller\":true}]},"
	    "\"spec\":{\"volumes\":[{\"name\":\"kube-api-access\",\"projected\":{\"sources\":[]}}],"
	    "\"containers\":[{\"name\":\"train\",\"image\":\"pytorch:2\","
	    "\"resources\":{\"limits\":{\"cpu\":\"4\",\"memory\":\"16Gi\",\"nvidia.com/"
	    "gpu\":\"2\"},"
	    "\"requests\":{\"cpu\":\"4\",\"memory\":\"16Gi\",\"nvidia.com/gpu\":\"2\"}},"
	    "\"terminationMessagePath\":\"/dev/termination-log\"}],"
	    "\"restartPolicy\":\"Never\",\"activeDeadlineSeconds\":7200,"
	    "\"schedulerName\":\"default-scheduler\",\"priority\":0,"
	    "\"preemptionPolicy\":\"PreemptLowerPriority\",\"enableServiceLinks\":true},"
	    "\"status\":{}},"
	    "\"oldObject\":null,\"dryRun\":true,"
	    "\"options\":{\"kind\":\"CreateOptions\",\"apiVersion\":\"meta.k8s.io/v1\"}}}";
	struct gq_adm_request r;

	(void)state;
	decode_ok(&r, json);
	assert_string_equal(r.uid, "0b5a1c2e-3d4f-4a5b-8c9d-0e1f2a3b4c5d");
	assert_string_equal(r.operation, "CREATE");
	assert_true(r.is_pod);
	assert_true(r.is_pod_create);
	assert_string_equal(r.namespace, "vision");
	assert_string_equal(r.name, "");
	assert_string_equal(r.generate_name, "train-resnet-");
	assert_true(r.dry_run);
	assert_false(r.has_finalizers);
	assert_false(r.has_accounting_finalizer);
	assert_null(r.priority_class);
	assert_true(r.has_priority);
	assert_true(r.has_preemption_policy);
	assert_int_equal(r.active_deadline, 7200);
	assert_false(r.has_gates);
	assert_int_equal(r.n_gpus, 1);
	assert_string_equal(r.gpus[0].resource, "nvidia.com/gpu");
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/gpu"), 2);
	assert_int_equal(gq_adm_request_count(&r, "cpu"), 0);
	assert_true(gq_adm_request_is_gpu_pod(&r));
	gq_adm_request_free(&r);
	assert_null(r.uid);
}

/* Effective request = max(sum of containers, largest init container). */
static void test_decode_init_containers(void **state)
{
	const char *spec =
	    "{\"initContainers\":[{\"name\":\"fetch\",\"resources\":{\"requests\":"
	    "{\"nvidia.com/gpu\":\"3\"},\"limits\":{\"nvidia.com/gpu\":\"3\"}}},"
	    "{\"name\":\"prep\",\"resources\":{\"limits\":{\"nvidia.com/mig-1g.10gb\":\"1\"}}}],"
	    "\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1\","
	    "\"nvidia.com/mig-1g.10gb\":\"2\"}}},"
	    "{\"name\":\"b\",\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1\","
	    "\"nvidia.com/mig-1g.10gb\":\"1\"}}},{\"name\":\"sidecar-less\"}]}";
	char *json = pod_review("CREATE", spec);
	struct gq_adm_request r;

	(void)state;
	decode_ok(&r, json);
	/* gpu: containers 1+1=2 < init 3; mig: containers 2+1=3 > init 1 */
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/gpu"), 3);
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/mig-1g.10gb"), 3);
	assert_int_equal(r.n_gpus, 2);
	/* sorted by name */
	assert_string_equal(r.gpus[0].resource, "nvidia.com/gpu");
	assert_string_equal(r.gpus[1].resource, "nvidia.com/mig-1g.10gb");
	gq_adm_request_free(&r);
	free(json);
}

/* Sidecars (restartPolicy Always init containers) run next to the regular
 * containers and under every later init container. */
static void test_decode_sidecars(void **state)
{
	const char *before =
	    "{\"initContainers\":[{\"name\":\"side\",\"restartPolicy\":\"Always\","
	    "\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1\"}}},"
	    "{\"name\":\"init\",\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"4\"}}}],"
	    "\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"nvidia.com/"
	    "gpu\":\"1\"}}}]}";
	const char *after =
	    "{\"initContainers\":[{\"name\":\"init\",\"resources\":{\"limits\":"
	    "{\"nvidia.com/gpu\":\"4\"}}},{\"name\":\"side\",\"restartPolicy\":\"Always\","
	    "\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1\"}}}],"
	    "\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"nvidia.com/"
	    "gpu\":\"3\"}}}]}";
	struct gq_adm_request r;
	char *json;

	(void)state;
	/* init 4 runs with the sidecar's 1: 5 > containers 1 + sidecar 1 */
	json = pod_review("CREATE", before);
	decode_ok(&r, json);
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/gpu"), 5);
	gq_adm_request_free(&r);
	free(json);
	/* sidecar after the init container: max(4, 3 + 1) = 4 */
	json = pod_review("CREATE", after);
	decode_ok(&r, json);
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/gpu"), 4);
	gq_adm_request_free(&r);
	free(json);
}

/* A resource with no request uses its limit; a request beats the limit;
 * fractions round up; numbers are accepted as quantities. */
static void test_decode_limits_only(void **state)
{
	const char *spec =
	    "{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":"
	    "{\"nvidia.com/gpu\":\"2\",\"memory\":\"1Gi\"}}},"
	    "{\"name\":\"b\",\"resources\":{\"requests\":{\"nvidia.com/mig-2g.20gb\":\"1\"},"
	    "\"limits\":{\"nvidia.com/mig-2g.20gb\":\"5\",\"nvidia.com/mig-3g.40gb\":1}}},"
	    "{\"name\":\"c\",\"resources\":{\"requests\":{\"nvidia.com/gpu\":\"500m\"}}}]}";
	char *json = pod_review("CREATE", spec);
	struct gq_adm_request r;

	(void)state;
	decode_ok(&r, json);
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/gpu"), 3);
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/mig-2g.20gb"), 1);
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/mig-3g.40gb"), 1);
	assert_null(r.generate_name);
	assert_string_equal(r.name, "p1");
	assert_false(r.has_priority);
	assert_false(r.dry_run);
	gq_adm_request_free(&r);
	free(json);
}

/* Pods without GPUs, or with zero GPUs, are not GPU pods. */
static void test_decode_non_gpu(void **state)
{
	const char *spec = "{\"containers\":[{\"name\":\"web\",\"resources\":{\"requests\":"
			   "{\"cpu\":\"100m\",\"nvidia.com/gpu\":\"0\"}}},{\"name\":\"x\"}]}";
	char *json = pod_review("CREATE", spec);
	struct gq_adm_request r;

	(void)state;
	decode_ok(&r, json);
	assert_true(r.is_pod_create);
	assert_false(gq_adm_request_is_gpu_pod(&r));
	assert_int_equal(r.n_gpus, 0);
	gq_adm_request_free(&r);
	free(json);
}

/* Namespace from the object when request.namespace is empty; gates; a
 * non-positive activeDeadlineSeconds counts as unset. */
static void test_decode_fields(void **state)
{
	const char *json =
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	    "\"request\":{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":"
	    "\"Pod\"},"
	    "\"operation\":\"CREATE\",\"object\":{\"metadata\":{\"name\":\"n\",\"namespace\":"
	    "\"ns2\",\"finalizers\":[\"example.com/keep\",\"gpuquota.io/accounting\"]},"
	    "\"spec\":{\"priorityClassName\":\"vision-low\",\"activeDeadlineSeconds\":0,"
	    "\"schedulingGates\":[{\"name\":\"example.com/a\"},{\"name\":\"example.com/b\"}],"
	    "\"containers\":[]}}}}";
	struct gq_adm_request r;

	(void)state;
	decode_ok(&r, json);
	assert_string_equal(r.namespace, "ns2");
	assert_string_equal(r.name, "n");
	assert_string_equal(r.priority_class, "vision-low");
	assert_int_equal(r.active_deadline, 0);
	assert_true(r.has_gates);
	assert_int_equal(r.n_gates, 2);
	assert_string_equal(r.gates[1], "example.com/b");
	assert_true(r.has_finalizers);
	assert_true(r.has_accounting_finalizer);
	gq_adm_request_free(&r);
}

/* Other operations, kinds and subresources are decoded without the pod. */
static void test_decode_not_pod_create(void **state)
{
	const char *deploy =
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	    "\"request\":{\"uid\":\"u2\",\"kind\":{\"group\":\"apps\",\"version\":\"v1\","
	    "\"kind\":\"Deployment\"},\"operation\":\"CREATE\",\"namespace\":\"vision\","
	    "\"object\":{\"spec\":{\"containers\":\"not even checked\"}}}}";
	const char *eviction =
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	    "\"request\":{\"uid\":\"u3\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
	    "\"kind\":\"Pod\"},\"subResource\":\"ephemeralcontainers\",\"operation\":\"CREATE\","
	    "\"object\":{}}}";
	char *spec = gpu_spec("nvidia.com/gpu", 1, ""), *update = pod_review("UPDATE", spec);
	struct gq_adm_request r;

	(void)state;
	decode_ok(&r, deploy);
	assert_false(r.is_pod);
	assert_false(r.is_pod_create);
	assert_int_equal(r.n_gpus, 0);
	gq_adm_request_free(&r);

	decode_ok(&r, eviction);
	assert_false(r.is_pod);
	gq_adm_request_free(&r);

	decode_ok(&r, update);
	assert_true(r.is_pod);
	assert_false(r.is_pod_create);
	assert_string_equal(r.operation, "UPDATE");
	assert_int_equal(r.n_gpus, 0);
	gq_adm_request_free(&r);
	free(update);
	free(spec);
}

static void test_decode_missing_uid(void **state)
{
	const char *no_uid = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
			     "\"request\":{\"operation\":\"CREATE\"}}";
	const char *empty_uid = "{\"apiVersion\":\"admission.k8s.io/v1\","
				"\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"\"}}";
	const char *num_uid = "{\"apiVersion\":\"admission.k8s.io/v1\","
			      "\"kind\":\"AdmissionReview\",\"request\":{\"uid\":7}}";
	const char *no_req = "{\"apiVersion\":\"admission.k8s.io/v1\","
			     "\"kind\":\"AdmissionReview\",\"response\":{}}";
	char msg[512];

	(void)state;
	assert_int_equal(decode_err(no_uid, strlen(no_uid), msg, sizeof(msg)), GQ_EINVAL);
	assert_non_null(strstr(msg, "uid"));
	assert_int_equal(decode_err(empty_uid, strlen(empty_uid), NULL, 0), GQ_EINVAL);
	assert_int_equal(decode_err(num_uid, strlen(num_uid), NULL, 0), GQ_EINVAL);
	assert_int_equal(decode_err(no_req, strlen(no_req), msg, sizeof(msg)), GQ_EINVAL);
	assert_non_null(strstr(msg, "request"));
}

static void test_decode_wrong_version(void **state)
{
	const char *beta = "{\"apiVersion\":\"admission.k8s.io/v1beta1\","
			   "\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\"}}";
	const char *kind = "{\"apiVersion\":\"admission.k8s.io/v1\","
			   "\"kind\":\"ConversionReview\",\"request\":{\"uid\":\"u\"}}";
	const char *array = "[1,2]";
	char msg[512];

	(void)state;
	assert_int_equal(decode_err(beta, strlen(beta), msg, sizeof(msg)), GQ_EINVAL);
	assert_non_null(strstr(msg, "v1beta1"));
	assert_non_null(strstr(msg, "not supported"));
	assert_int_equal(decode_err(kind, strlen(kind), msg, sizeof(msg)), GQ_EINVAL);
	assert_non_null(strstr(msg, "ConversionReview"));
	assert_int_equal(decode_err(array, strlen(array), NULL, 0), GQ_EINVAL);
}

static void test_decode_malformed(void **state)
{
	char *spec = gpu_spec("nvidia.com/gpu", 1, ""), *json = pod_review("CREATE", spec);
	char deep[600], msg[512];
	size_t i, half = strlen(json) / 2;

	(void)state;
	/* every proper prefix of the review is malformed */
	for (i = 0; i < strlen(json); i += 7)
		assert_int_equal(decode_err(json, i, NULL, 0), GQ_EPARSE);
	assert_int_equal(decode_err(json, half, msg, sizeof(msg)), GQ_EPARSE);
	assert_non_null(strstr(msg, "invalid JSON"));
	assert_int_equal(decode_err(json, strlen(json), NULL, 0), GQ_OK);
	assert_int_equal(decode_err("{\"apiVersion\":", 14, NULL, 0), GQ_EPARSE);
	assert_int_equal(decode_err("not json", 8, NULL, 0), GQ_EPARSE);
	assert_int_equal(decode_err("{} {}", 5, NULL, 0), GQ_EPARSE);
	assert_int_equal(decode_err(NULL, 0, NULL, 0), GQ_EPARSE);
	/* a NUL byte would hide the rest of the body from the parser */
	assert_int_equal(decode_err("{}\0{", 4, NULL, 0), GQ_EPARSE);
	/* nesting deeper than the bound is refused before parsing */
	memset(deep, '[', sizeof(deep));
	assert_int_equal(decode_err(deep, sizeof(deep), msg, sizeof(msg)), GQ_EPARSE);
	assert_non_null(strstr(msg, "nested"));
	free(json);
	free(spec);
}

/* Ill-typed or invalid pod fields are errors, with the field path. */
static void test_decode_bad_pod(void **state)
{
	static const struct {
		const char *spec;
		int rc;
		const char *path;
	} cases[] = {
	    {"{\"containers\":{}}", GQ_EINVAL, "spec.containers"},
	    {"{\"containers\":[1]}", GQ_EINVAL, "spec.containers[0]"},
	    {"{\"containers\":[{\"resources\":[]}]}", GQ_EINVAL, "resources"},
	    {"{\"containers\":[{\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"x\"}}}]}",
	     GQ_EINVAL, "limits[nvidia.com/gpu]"},
	    {"{\"containers\":[{\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"-1\"}}}]}",
	     GQ_EINVAL, "negative"},
	    {"{\"containers\":[{\"resources\":{\"requests\":{\"nvidia.com/gpu\":true}}}]}",
	     GQ_EINVAL, "requests[nvidia.com/gpu]"},
	    {"{\"containers\":[{\"resources\":{\"requests\":{\"nvidia.com/gpu\":\"1E\"}}}]}",
	     GQ_ERANGE, "requests[nvidia.com/gpu]"},
	    {"{\"initContainers\":[{\"resources\":{\"limits\":[]}}]}", GQ_EINVAL,
	     "spec.initContainers[0]"},
	    {"{\"priorityClassName\":5}", GQ_EINVAL, "priorityClassName"},
	    {"{\"priority\":\"high\"}", GQ_EINVAL, "spec.priority"},
	    {"{\"activeDeadlineSeconds\":1.5}", GQ_EINVAL, "activeDeadlineSeconds"},
	    {"{\"schedulingGates\":{}}", GQ_EINVAL, "schedulingGates"},
	    {"{\"schedulingGates\":[{\"name\":1}]}", GQ_EINVAL, "schedulingGates[0]"},
	    {"[]", GQ_EINVAL, "spec"},
	};
	char msg[512], *json;
	size_t i;

	(void)state;
	for (i = 0; i < GQ_ARRAY_LEN(cases); i++) {
		json = pod_review("CREATE", cases[i].spec);
		assert_int_equal(decode_err(json, strlen(json), msg, sizeof(msg)), cases[i].rc);
		if (strstr(msg, cases[i].path) == NULL)
			fail_msg("case %zu: \"%s\" does not name %s", i, msg, cases[i].path);
		free(json);
	}
}

static void test_decode_too_big(void **state)
{
	size_t n = GQ_ADMISSION_MAX_BODY + 1;
	char *big = gq_malloc(n);

	(void)state;
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	assert_int_equal(decode_err(big, n, NULL, 0), GQ_ETOOBIG);
	/* just under the bound it is parsed (and fails on content) */
	big[n - 2] = '}';
	assert_int_equal(decode_err(big, n - 1, NULL, 0), GQ_EINVAL);
	free(big);
}

/* ------------------------------------------------------------------ */
/* Decisions                                                            */
/* ------------------------------------------------------------------ */

/* Not a Pod CREATE, not a GPU pod, or not a team namespace: untouched,
 * even when the team's budget is exhausted. */
static void test_decide_pass(void **state)
{
	struct gq_adm_team team = base_team();
	struct gq_adm_request r;
	struct gq_adm_response resp;
	char *spec, *json;

	(void)state;
	team.used_micro = 99 * H;
	team.default_class = "vision-low";

	decode_gpu_pod(&r, 1, "");
	assert_int_equal(gq_admission_decide(&resp, &r, NULL), GQ_OK);
	assert_untouched(&resp);
	assert_int_equal(resp.action, GQ_ADM_PASS);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	spec = gpu_spec("cpu", 1, "");
	json = pod_review("CREATE", spec);
	decode_ok(&r, json);
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_untouched(&resp);
	assert_int_equal(resp.action, GQ_ADM_PASS);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
	free(json);
	free(spec);

	spec = gpu_spec("nvidia.com/gpu", 20, "");
	json = pod_review("UPDATE", spec);
	decode_ok(&r, json);
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_untouched(&resp);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
	free(json);
	free(spec);

	assert_int_equal(gq_admission_decide(&resp, NULL, &team), GQ_EINVAL);
	gq_adm_response_free(&resp);
}

/* No class: the default tier is set with its value and policy (§3.4). */
static void test_decide_default_class(void **state)
{
	struct gq_adm_team team = base_team();
	struct gq_adm_request r;
	struct gq_adm_response resp;

	(void)state;
	team.default_class = "vision-low";
	team.default_value = 1000;
	team.default_preemption_policy = "PreemptLowerPriority";
	decode_gpu_pod(&r, 1, "");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_int_equal(resp.action, GQ_ADM_ALLOW);
	assert_patch(&resp, "[{\"op\":\"add\",\"path\":\"/spec/priorityClassName\","
			    "\"value\":\"vision-low\"},"
			    "{\"op\":\"add\",\"path\":\"/spec/priority\",\"value\":1000},"
			    "{\"op\":\"add\",\"path\":\"/spec/preemptionPolicy\","
			    "\"value\":\"PreemptLowerPriority\"}]");
	assert_int_equal(resp.n_warnings, 0);
	gq_adm_response_free(&resp);

	/* values unknown: remove what the Priority plugin set, so it refills */
	team.default_preemption_policy = NULL;
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_patch(&resp,
		     "[{\"op\":\"add\",\"path\":\"/spec/priorityClassName\","
		     "\"value\":\"vision-low\"},{\"op\":\"remove\",\"path\":\"/spec/priority\"},"
		     "{\"op\":\"remove\",\"path\":\"/spec/preemptionPolicy\"}]");
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	/* nothing to remove when the fields are absent */
	{
		const char *spec = "{\"containers\":[{\"resources\":{\"limits\":"
				   "{\"nvidia.com/gpu\":\"1\"}}}]}";
		char *json = pod_review("CREATE", spec);

		decode_ok(&r, json);
		assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
		assert_patch(&resp, "[{\"op\":\"add\",\"path\":\"/spec/priorityClassName\","
				    "\"value\":\"vision-low\"}]");
		gq_adm_response_free(&resp);
		gq_adm_request_free(&r);
		free(json);
	}

	/* a pod naming a team tier keeps it */
	decode_gpu_pod(&r, 1, "\"priorityClassName\":\"vision-high\",");
	team.n_exempt = 0;
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_untouched(&resp);
	assert_int_equal(resp.action, GQ_ADM_ALLOW);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
}

/* A class outside the team's tiers is denied, listing the tiers; the
 * over-budget class is accepted; a team without tiers checks nothing. */
static void test_decide_foreign_class(void **state)
{
	struct gq_adm_team team = base_team();
	struct gq_adm_request r;
	struct gq_adm_response resp;

	(void)state;
	team.default_class = "vision-low"; /* does not apply: the pod names a class */
	decode_gpu_pod(&r, 1, "\"priorityClassName\":\"nlp-high\",");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_false(resp.allowed);
	assert_int_equal(resp.code, 403);
	assert_string_equal(resp.reason, "Forbidden");
	assert_int_equal(resp.action, GQ_ADM_DENY_CLASS);
	assert_string_equal(resp.message, "priorityClassName \"nlp-high\" is not a priority tier "
					  "of team vision; use one of: vision-high, vision-low");
	assert_null(resp.patch);
	gq_adm_response_free(&resp);

	team.n_tiers = 0;
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_untouched(&resp);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	team = base_team();
	decode_gpu_pod(&r, 1, "\"priorityClassName\":\"vision-over-budget\",");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_untouched(&resp);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
}

/* maxGPUsPerPod counts nvidia.com/gpu only; ordering: class, then cap,
 * then exemption. */
static void test_decide_cap_and_order(void **state)
{
	struct gq_adm_team team = base_team();
	struct gq_adm_request r;
	struct gq_adm_response resp;
	char *spec, *json;

	(void)state;
	decode_gpu_pod(&r, 9, "");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_false(resp.allowed);
	assert_int_equal(resp.code, 403);
	assert_int_equal(resp.action, GQ_ADM_DENY_CAP);
	assert_string_equal(resp.message,
			    "pod p1 requests 9 GPUs; team vision allows at most 8 per pod");
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	decode_gpu_pod(&r, 8, "");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_true(resp.allowed);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	/* exempt tier over the cap: the cap wins */
	decode_gpu_pod(&r, 9, "\"priorityClassName\":\"vision-high\",");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_int_equal(resp.action, GQ_ADM_DENY_CAP);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	/* foreign class over the cap: the class check comes first */
	decode_gpu_pod(&r, 9, "\"priorityClassName\":\"other\",");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_int_equal(resp.action, GQ_ADM_DENY_CLASS);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	/* MIG slices do not count against the GPU cap */
	spec = gpu_spec("nvidia.com/mig-1g.10gb", 20, "");
	json = pod_review("CREATE", spec);
	decode_ok(&r, json);
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_true(resp.allowed);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
	free(json);
	free(spec);

	/* no cap */
	team.max_gpus_per_pod = 0;
	decode_gpu_pod(&r, 64, "");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_true(resp.allowed);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
}

/* Exempt tiers pass an exhausted budget, with the default-class patch
 * when the default tier is exempt, and no warning. */
static void test_decide_exempt(void **state)
{
	struct gq_adm_team team = base_team();
	struct gq_adm_request r;
	struct gq_adm_response resp;

	(void)state;
	team.used_micro = 50 * H;
	decode_gpu_pod(&r, 2, "\"priorityClassName\":\"vision-high\",");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_untouched(&resp);
	assert_int_equal(resp.action, GQ_ADM_EXEMPT);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	team.default_class = "vision-high";
	team.default_value = 5000;
	team.default_preemption_policy = "PreemptLowerPriority";
	decode_gpu_pod(&r, 2, "");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_int_equal(resp.action, GQ_ADM_EXEMPT);
	assert_int_equal(resp.n_warnings, 0);
	assert_patch(&resp, "[{\"op\":\"add\",\"path\":\"/spec/priorityClassName\","
			    "\"value\":\"vision-high\"},"
			    "{\"op\":\"add\",\"path\":\"/spec/priority\",\"value\":5000},"
			    "{\"op\":\"add\",\"path\":\"/spec/preemptionPolicy\","
			    "\"value\":\"PreemptLowerPriority\"}]");
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
}

/* Deny: the message gives usage, budget (GPU-hours) and the period end. */
static void test_decide_deny_exhausted(void **state)
{
	struct gq_adm_team team = base_team();
	struct gq_adm_request r;
	struct gq_adm_response resp;
	char *body;

	(void)state;
	team.used_micro = 45 * H / 4 + 5 * H / 4; /* 12.5 GPU-hours */
	team.default_class = "vision-low";
	team.default_preemption_policy = "PreemptLowerPriority";
	decode_gpu_pod(&r, 1, "");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_false(resp.allowed);
	assert_int_equal(resp.code, 403);
	assert_int_equal(resp.action, GQ_ADM_DENY_BUDGET);
	assert_string_equal(resp.message,
			    "team vision has used 12.5 of its 10 GPU-hours budget for the period "
			    "ending 2026-12-01T00:00:00Z; new GPU pods are denied until then");
	assert_null(resp.patch); /* the default-class patch is dropped */
	body = gq_admission_encode(&resp, r.uid);
	assert_non_null(body);
	assert_null(strstr(body, "patch"));
	free(body);
	gq_adm_response_free(&resp);

	/* exactly at the budget counts as exhausted; unknown period end */
	team.used_micro = team.budget_micro;
	team.reset_time = NULL;
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_false(resp.allowed);
	assert_string_equal(resp.message,
			    "team vision has used 10 of its 10 GPU-hours budget for the current "
			    "period; new GPU pods are denied until it ends");
	gq_adm_response_free(&resp);

	/* a zero budget admits only exempt tiers */
	team.used_micro = 0;
	team.budget_micro = 0;
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_false(resp.allowed);
	gq_adm_response_free(&resp);

	/* no budget: allowed */
	team.has_budget = false;
	team.used_micro = 100 * H;
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_true(resp.allowed);
	assert_int_equal(resp.n_warnings, 0);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
}

/* Expected cost = weight x activeDeadlineSeconds, compared to what is left. */
static void test_decide_expected_cost(void **state)
{
	struct gq_adm_team team = base_team();
	struct gq_adm_request r;
	struct gq_adm_response resp;
	char *spec, *json;

	(void)state;
	team.used_micro = 5 * H; /* 5 left */
	team.warn_at_percent = 0;
	/* 2 GPUs x 10 h = 20 GPU-hours > 5 */
	decode_gpu_pod(&r, 2, "\"activeDeadlineSeconds\":36000,");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_false(resp.allowed);
	assert_int_equal(resp.action, GQ_ADM_DENY_BUDGET);
	assert_string_equal(resp.message,
			    "pod p1 may use up to 20 GPU-hours (activeDeadlineSeconds 36000 x 2 "
			    "GPUs), more than the 5 GPU-hours left of team vision's budget for the "
			    "period ending 2026-12-01T00:00:00Z");
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	/* 2 GPUs x 2.5 h = 5 GPU-hours: not more than what is left */
	decode_gpu_pod(&r, 2, "\"activeDeadlineSeconds\":9000,");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_untouched(&resp);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	/* no deadline: no expected cost */
	decode_gpu_pod(&r, 8, "");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_untouched(&resp);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	/* MIG weights: 7 x 1g slices (1/7 each) for 6 h = 6 GPU-hours > 5 */
	spec = gpu_spec("nvidia.com/mig-1g.10gb", 7, "\"activeDeadlineSeconds\":21600,");
	json = pod_review("CREATE", spec);
	decode_ok(&r, json);
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_false(resp.allowed);
	/* exactly what the ledger would charge for 6 h of 7/7 GPU (cost.h),
	 * not 7 x a rounded 1/7 */
	assert_non_null(strstr(resp.message, "up to 6 GPU-hours"));
	assert_non_null(strstr(resp.message, "x 1 GPUs"));
	gq_adm_response_free(&resp);

	/* a team weight override: 0.1 per slice -> 4.2 GPU-hours, fits */
	{
		struct gq_res wi = {.name = (char *)"nvidia.com/mig-1g.10gb", .q = {.milli = 100}};
		const struct gq_res_list w = {&wi, 1};

		team.weights = &w;
		assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
		assert_untouched(&resp);
		gq_adm_response_free(&resp);
		team.weights = NULL;
	}
	gq_adm_request_free(&r);
	free(json);
	free(spec);

	/* a huge deadline saturates rather than overflows */
	decode_gpu_pod(&r, 8, "\"activeDeadlineSeconds\":9223372036854775807,");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_false(resp.allowed);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
}

/* A team that accounts pods: admitted GPU pods get the ledger's finalizer
 * as the patch's last operation (a new list, or appended), never twice;
 * denied pods get nothing. */
static void test_decide_accounting_finalizer(void **state)
{
	struct gq_adm_team team = base_team();
	struct gq_adm_request r;
	struct gq_adm_response resp;
	char *spec = gpu_spec("nvidia.com/gpu", 1, "\"priorityClassName\":\"vision-low\",");
	char *with_fins = gq_asprintf(
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	    "\"request\":{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
	    "\"kind\":\"Pod\"},\"namespace\":\"vision\",\"operation\":\"CREATE\","
	    "\"object\":{\"metadata\":{\"name\":\"p1\",\"finalizers\":[%s]},\"spec\":%s}}}",
	    "\"x.io/keep\"", spec);
	char *with_ours = gq_asprintf(
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	    "\"request\":{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
	    "\"kind\":\"Pod\"},\"namespace\":\"vision\",\"operation\":\"CREATE\","
	    "\"object\":{\"metadata\":{\"name\":\"p1\",\"finalizers\":[%s]},\"spec\":%s}}}",
	    "\"gpuquota.io/accounting\"", spec);

	(void)state;
	team.accounting = true;
	decode_gpu_pod(&r, 1, "\"priorityClassName\":\"vision-low\",");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_true(resp.allowed);
	assert_patch(&resp, "[{\"op\":\"add\",\"path\":\"/metadata/finalizers\","
			    "\"value\":[\"gpuquota.io/accounting\"]}]");
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	decode_ok(&r, with_fins);
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_patch(&resp, "[{\"op\":\"add\",\"path\":\"/metadata/finalizers/-\","
			    "\"value\":\"gpuquota.io/accounting\"}]");
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	decode_ok(&r, with_ours);
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_null(resp.patch);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	/* Hold: the gate, then the finalizer */
	team.policy = GQ_EXHAUSTED_HOLD;
	team.used_micro = team.budget_micro;
	decode_gpu_pod(&r, 1, "\"priorityClassName\":\"vision-low\",");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_patch(&resp, "[{\"op\":\"add\",\"path\":\"/spec/schedulingGates\","
			    "\"value\":[{\"name\":\"gpuquota.io/budget\"}]},"
			    "{\"op\":\"add\",\"path\":\"/metadata/finalizers\","
			    "\"value\":[\"gpuquota.io/accounting\"]}]");
	gq_adm_response_free(&resp);
	/* Deny: nothing */
	team.policy = GQ_EXHAUSTED_DENY;
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_false(resp.allowed);
	assert_null(resp.patch);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
	free(with_fins);
	free(with_ours);
	free(spec);
}

/* Hold: a scheduling gate, added once, appended to existing gates. */
static void test_decide_hold(void **state)
{
	struct gq_adm_team team = base_team();
	struct gq_adm_request r;
	struct gq_adm_response resp;

	(void)state;
	team.policy = GQ_EXHAUSTED_HOLD;
	team.used_micro = 11 * H;
	decode_gpu_pod(&r, 1, "\"priorityClassName\":\"vision-low\",");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_int_equal(resp.action, GQ_ADM_HOLD);
	assert_patch(&resp, "[{\"op\":\"add\",\"path\":\"/spec/schedulingGates\","
			    "\"value\":[{\"name\":\"gpuquota.io/budget\"}]}]");
	assert_int_equal(resp.n_warnings, 1);
	assert_string_equal(resp.warnings[0],
			    "team vision used up its GPU-hour budget (11 of 10); pod held by gate "
			    "gpuquota.io/budget until 2026-12-01T00:00:00Z");
	assert_true(strlen(resp.warnings[0]) < 120);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	decode_gpu_pod(&r, 1, "\"schedulingGates\":[{\"name\":\"example.com/x\"}],");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_patch(&resp, "[{\"op\":\"add\",\"path\":\"/spec/schedulingGates/-\","
			    "\"value\":{\"name\":\"gpuquota.io/budget\"}}]");
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	/* empty array present: append */
	decode_gpu_pod(&r, 1, "\"schedulingGates\":[],");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_patch(&resp, "[{\"op\":\"add\",\"path\":\"/spec/schedulingGates/-\","
			    "\"value\":{\"name\":\"gpuquota.io/budget\"}}]");
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	/* already gated (reinvocation): no second gate, still a warning */
	decode_gpu_pod(&r, 1, "\"schedulingGates\":[{\"name\":\"gpuquota.io/budget\"}],");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_true(resp.allowed);
	assert_null(resp.patch);
	assert_int_equal(resp.n_warnings, 1);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
}

/* Pinning: a team with a pool gets its nodeSelector and toleration, added
 * to what the pod has; a pod of a team without a pool that tolerates a pool
 * taint is denied while some team has a pool. */
static void test_decide_pool(void **state)
{
	struct gq_adm_team team = base_team();
	struct gq_adm_request r;
	struct gq_adm_response resp;

	(void)state;
	team.pool = "vision";
	decode_gpu_pod(&r, 1, "\"priorityClassName\":\"vision-low\",");
	assert_false(r.has_node_selector);
	assert_false(r.has_tolerations);
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_int_equal(resp.action, GQ_ADM_ALLOW);
	assert_patch(&resp, "[{\"op\":\"add\",\"path\":\"/spec/nodeSelector\","
			    "\"value\":{\"gpuquota.io/pool\":\"vision\"}},"
			    "{\"op\":\"add\",\"path\":\"/spec/tolerations\",\"value\":[{"
			    "\"key\":\"gpuquota.io/pool\",\"operator\":\"Equal\","
			    "\"value\":\"vision\",\"effect\":\"NoSchedule\"}]}]");
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	/* its own selector and tolerations: members added, another pool's
	 * selector replaced (add on a member replaces it) */
	decode_gpu_pod(&r, 1,
		       "\"priorityClassName\":\"vision-low\",\"nodeSelector\":{\"gpuquota.io/"
		       "pool\":\"nlp\"},\"tolerations\":[{\"operator\":\"Exists\"}],");
	assert_true(r.has_node_selector);
	assert_true(r.has_tolerations);
	assert_true(r.tolerates_pool);
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_true(resp.allowed);
	assert_patch(&resp, "[{\"op\":\"add\",\"path\":\"/spec/nodeSelector/gpuquota.io~1pool\","
			    "\"value\":\"vision\"},"
			    "{\"op\":\"add\",\"path\":\"/spec/tolerations/-\",\"value\":{"
			    "\"key\":\"gpuquota.io/pool\",\"operator\":\"Equal\","
			    "\"value\":\"vision\",\"effect\":\"NoSchedule\"}}]");
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	/* no pool: a pool toleration is denied while another team has one */
	team.pool = NULL;
	team.pools_exist = true;
	decode_gpu_pod(&r, 1,
		       "\"priorityClassName\":\"vision-low\",\"tolerations\":[{\"key\":"
		       "\"gpuquota.io/pool\",\"operator\":\"Equal\",\"value\":\"nlp\"}],");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_false(resp.allowed);
	assert_int_equal(resp.code, 403);
	assert_int_equal(resp.action, GQ_ADM_DENY_POOL);
	assert_non_null(strstr(resp.message, "tolerates the taint gpuquota.io/pool"));
	assert_non_null(strstr(resp.message, "its team has no pool"));
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	/* a pool with a MIG layout pins only pods asking for MIG slices: a
	 * whole-GPU pod is left as it is, and may not tolerate pool taints */
	team.pool = "vision";
	team.pool_mig_only = true;
	decode_gpu_pod(&r, 1, "\"priorityClassName\":\"vision-low\",");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_true(resp.allowed);
	assert_null(resp.patch);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
	decode_gpu_pod(&r, 1,
		       "\"priorityClassName\":\"vision-low\",\"tolerations\":[{\"operator\":"
		       "\"Exists\"}],");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_false(resp.allowed);
	assert_non_null(strstr(resp.message, "serves only pods asking for MIG slices"));
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
	{
		char *spec = gpu_spec("nvidia.com/mig-1g.10gb", 2, "\"priorityClassName\":\"vision-low\",");
		char *json = pod_review("CREATE", spec);

		decode_ok(&r, json);
		free(json);
		free(spec);
	}
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_true(resp.allowed);
	assert_non_null(resp.patch);
	assert_non_null(strstr(resp.patch, "/spec/nodeSelector"));
	assert_non_null(strstr(resp.patch, "\"value\":\"vision\",\"effect\":\"NoSchedule\""));
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
	team.pool = NULL;
	team.pool_mig_only = false;

	/* ... not when no team has a pool, nor for tolerations that do not
	 * tolerate it (other key, other effect, a keyed Exists) */
	team.pools_exist = false;
	decode_gpu_pod(&r, 1,
		       "\"priorityClassName\":\"vision-low\",\"tolerations\":[{\"operator\":"
		       "\"Exists\"}],");
	assert_true(r.tolerates_pool);
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_true(resp.allowed);
	assert_null(resp.patch);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
	team.pools_exist = true;
	decode_gpu_pod(&r, 1,
		       "\"priorityClassName\":\"vision-low\",\"tolerations\":[{\"key\":\"a\","
		       "\"operator\":\"Exists\"},{\"operator\":\"Exists\",\"effect\":\"NoExecute\"},"
		       "{\"key\":\"gpuquota.io/pool\",\"effect\":\"PreferNoSchedule\"}],");
	assert_true(r.has_tolerations);
	assert_false(r.tolerates_pool);
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_true(resp.allowed);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
}

/* Hold combined with the default class; hold on expected cost. */
static void test_decide_hold_combined(void **state)
{
	struct gq_adm_team team = base_team();
	struct gq_adm_request r;
	struct gq_adm_response resp;

	(void)state;
	team.policy = GQ_EXHAUSTED_HOLD;
	team.used_micro = 5 * H;
	team.default_class = "vision-low";
	decode_gpu_pod(&r, 4, "\"activeDeadlineSeconds\":36000,");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_int_equal(resp.action, GQ_ADM_HOLD);
	assert_patch(&resp,
		     "[{\"op\":\"add\",\"path\":\"/spec/priorityClassName\","
		     "\"value\":\"vision-low\"},{\"op\":\"remove\",\"path\":\"/spec/priority\"},"
		     "{\"op\":\"remove\",\"path\":\"/spec/preemptionPolicy\"},"
		     "{\"op\":\"add\",\"path\":\"/spec/schedulingGates\","
		     "\"value\":[{\"name\":\"gpuquota.io/budget\"}]}]");
	assert_int_equal(resp.n_warnings, 1);
	assert_string_equal(resp.warnings[0],
			    "pod may use 40 GPU-hours, team vision has 5 left; pod held by gate "
			    "gpuquota.io/budget until 2026-12-01T00:00:00Z");
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
}

/* Deprioritize: class, priority and preemptionPolicy, all "add", replacing
 * the default-class operations on the same paths. */
static void test_decide_deprioritize(void **state)
{
	struct gq_adm_team team = base_team();
	struct gq_adm_request r;
	struct gq_adm_response resp;
	const char *want =
	    "[{\"op\":\"add\",\"path\":\"/spec/priorityClassName\","
	    "\"value\":\"vision-over-budget\"},"
	    "{\"op\":\"add\",\"path\":\"/spec/priority\",\"value\":10},"
	    "{\"op\":\"add\",\"path\":\"/spec/preemptionPolicy\",\"value\":\"Never\"}]";
	size_t i, j;

	(void)state;
	team.policy = GQ_EXHAUSTED_DEPRIORITIZE;
	team.used_micro = 10 * H + 1;
	decode_gpu_pod(&r, 1, "\"priorityClassName\":\"vision-low\",");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_int_equal(resp.action, GQ_ADM_DEPRIORITIZE);
	assert_patch(&resp, want);
	assert_int_equal(resp.n_warnings, 1);
	assert_string_equal(resp.warnings[0],
			    "team vision used up its GPU-hour budget (10 of 10); pod runs at low "
			    "priority (vision-over-budget), never preempting");
	assert_true(strlen(resp.warnings[0]) < 120);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);

	/* with the default class in play: same three paths, once each */
	team.default_class = "vision-low";
	team.default_value = 100;
	team.default_preemption_policy = "PreemptLowerPriority";
	decode_gpu_pod(&r, 1, "");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_patch(&resp, want);
	gq_adm_response_free(&resp);
	team.default_preemption_policy = NULL; /* remove ops are replaced too */
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_patch(&resp, want);
	{
		yajl_val p = yajl_tree_parse(resp.patch, NULL, 0);

		assert_non_null(p);
		for (i = 0; i < p->u.array.len; i++)
			for (j = i + 1; j < p->u.array.len; j++)
				assert_string_not_equal(
				    YAJL_GET_STRING(yajl_tree_get(p->u.array.values[i],
								  (const char *[]){"path", NULL},
								  yajl_t_string)),
				    YAJL_GET_STRING(yajl_tree_get(p->u.array.values[j],
								  (const char *[]){"path", NULL},
								  yajl_t_string)));
		yajl_tree_free(p);
	}
	gq_adm_response_free(&resp);

	/* no over-budget class known: fail closed (deny) */
	team.over_budget_class = NULL;
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_false(resp.allowed);
	assert_int_equal(resp.action, GQ_ADM_DENY_BUDGET);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
}

/* The usage warning: at or past warnAtPercent, off at 0. */
static void test_decide_warning(void **state)
{
	struct gq_adm_team team = base_team();
	struct gq_adm_request r;
	struct gq_adm_response resp;

	(void)state;
	decode_gpu_pod(&r, 1, "");
	team.used_micro = 8 * H; /* exactly 80 % */
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_true(resp.allowed);
	assert_null(resp.patch);
	assert_int_equal(resp.n_warnings, 1);
	assert_string_equal(resp.warnings[0],
			    "team vision has used 80% of its GPU-hour budget (8 of 10 GPU-hours); "
			    "resets at 2026-12-01T00:00:00Z");
	assert_true(strlen(resp.warnings[0]) < 120);
	gq_adm_response_free(&resp);

	team.used_micro = 8 * H - 1;
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_untouched(&resp);
	gq_adm_response_free(&resp);

	team.used_micro = 9 * H + H / 2 + H / 100 * 7; /* 9.57 */
	team.reset_time = NULL;
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_int_equal(resp.n_warnings, 1);
	assert_string_equal(resp.warnings[0], "team vision has used 95% of its GPU-hour budget "
					      "(9.57 of 10 GPU-hours)");
	gq_adm_response_free(&resp);

	team.warn_at_percent = 0;
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	assert_untouched(&resp);
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
}

/* ------------------------------------------------------------------ */
/* Encoding                                                             */
/* ------------------------------------------------------------------ */

static void test_encode_shape(void **state)
{
	struct gq_adm_response resp = {0};
	char *warnings[] = {"w1", "w2"};
	char *body, *patch;

	(void)state;
	/* allowed, nothing else */
	resp.allowed = true;
	body = gq_admission_encode(&resp, "abc-123");
	assert_non_null(body);
	assert_json_eq(body, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":"
			     "\"AdmissionReview\",\"response\":{\"uid\":\"abc-123\","
			     "\"allowed\":true}}");
	free(body);

	/* allowed with patch and warnings */
	resp.patch = "[{\"op\":\"add\",\"path\":\"/spec/priority\",\"value\":1}]";
	resp.warnings = warnings;
	resp.n_warnings = 2;
	body = gq_admission_encode(&resp, "abc-123");
	assert_non_null(body);
	assert_json_eq(body, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":"
			     "\"AdmissionReview\",\"response\":{\"uid\":\"abc-123\","
			     "\"allowed\":true,\"patchType\":\"JSONPatch\",\"patch\":"
			     "\"W3sib3AiOiJhZGQiLCJwYXRoIjoiL3NwZWMvcHJpb3JpdHkiLCJ2YWx1ZSI6MX1d\","
			     "\"warnings\":[\"w1\",\"w2\"]}}");
	free(body);
	patch = wire_patch(&resp, "abc-123");
	assert_string_equal(patch, resp.patch);
	free(patch);

	/* denied: status, and never a patch */
	resp.allowed = false;
	resp.code = 403;
	resp.reason = "Forbidden";
	resp.message = "no \"GPUs\" for you";
	resp.n_warnings = 0;
	body = gq_admission_encode(&resp, "abc-123");
	assert_non_null(body);
	assert_json_eq(body, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":"
			     "\"AdmissionReview\",\"response\":{\"uid\":\"abc-123\","
			     "\"allowed\":false,\"status\":{\"code\":403,\"reason\":\"Forbidden\","
			     "\"message\":\"no \\\"GPUs\\\" for you\"}}}");
	free(body);

	/* invalid UTF-8 cannot be encoded */
	assert_null(gq_admission_encode(&resp, "\xff\xfe"));
	assert_null(gq_admission_encode(NULL, "u"));
}

/* decode -> decide -> encode, as the server runs it. */
static void test_round_trip(void **state)
{
	struct gq_adm_team team = base_team();
	struct gq_adm_request r;
	struct gq_adm_response resp;
	char *body, *patch;
	yajl_val doc;

	(void)state;
	team.policy = GQ_EXHAUSTED_DEPRIORITIZE;
	team.used_micro = 20 * H;
	decode_gpu_pod(&r, 2, "\"priorityClassName\":\"vision-low\",");
	assert_int_equal(gq_admission_decide(&resp, &r, &team), GQ_OK);
	body = gq_admission_encode(&resp, r.uid);
	assert_non_null(body);
	doc = yajl_tree_parse(body, NULL, 0);
	assert_non_null(doc);
	assert_true(YAJL_IS_TRUE(
	    yajl_tree_get(doc, (const char *[]){"response", "allowed", NULL}, yajl_t_true)));
	assert_non_null(
	    yajl_tree_get(doc, (const char *[]){"response", "warnings", NULL}, yajl_t_array));
	yajl_tree_free(doc);
	free(body);
	patch = wire_patch(&resp, r.uid);
	assert_non_null(patch);
	assert_non_null(strstr(patch, "vision-over-budget"));
	free(patch);
	assert_string_equal(gq_admission_action_name(resp.action), "deprioritize");
	gq_adm_response_free(&resp);
	gq_adm_request_free(&r);
}

/* ------------------------------------------------------------------ */
/* Differential: streaming decoder against the tree decoder             */
/* ------------------------------------------------------------------ */

#define RV_HEAD "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
#define POD_REQ                                                                                    \
	"\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"             \
	"\"operation\":\"CREATE\",\"namespace\":\"ns\""

/* A review whose request has the given members (JSON text). */
static char *review(const char *members)
{
	return gq_asprintf(RV_HEAD "\"request\":{%s}}", members);
}

/* A Pod CREATE review in namespace ns whose object is the given JSON. */
static char *pod_create(const char *object)
{
	return gq_asprintf(RV_HEAD "\"request\":{" POD_REQ ",\"object\":%s}}", object);
}

/* Decodes json with both decoders; asserts they agree and return want. */
static void expect(const char *json, int want)
{
	int rc = diff_decode(json, strlen(json));

	if (rc != want)
		fail_msg("got %s, want %s for %s", gq_strerror(rc), gq_strerror(want), json);
}

/* As expect, and takes ownership of json (frees it). */
static void expect_free(char *json, int want)
{
	expect(json, want);
	free(json);
}

/* A path relative to the repository root: as is when it exists from the
 * current directory, else next to this source file. New heap string. */
static char *repo_path(const char *rel)
{
	const char *self = __FILE__, *tail = "test/unit/test_admission.c";
	size_t n = strlen(self), t = strlen(tail);

	if (access(rel, R_OK) == 0 || n < t || strcmp(self + n - t, tail) != 0)
		return gq_strdup(rel);
	return gq_asprintf("%.*s%s", (int)(n - t), self, rel);
}

/* Both decoders on body, on prefixes of it and on single-byte changes of
 * it (JSON punctuation and the starts of other tokens). */
static void diff_mutations(const char *body, size_t len)
{
	static const char subst[] = "\"{}[],:0n\\/-";
	char *m = gq_malloc(len ? len : 1);
	size_t i, j;

	for (i = 0; i < len; i += 31)
		diff_decode(body, i);
	memcpy(m, body, len);
	for (i = 0; i < len; i += 89) {
		for (j = 0; j < sizeof(subst) - 1; j++) {
			m[i] = subst[j];
			diff_decode(m, len);
		}
		m[i] = body[i];
	}
	free(m);
}

/* Both decoders on every file of a directory (relative to the repository);
 * returns how many files. */
static size_t diff_dir(const char *rel, bool mutate)
{
	char *dir = repo_path(rel), *path, *body;
	struct gq_err err = {0};
	struct dirent *e;
	size_t n = 0, len;
	DIR *d = opendir(dir);

	if (d == NULL)
		fail_msg("%s: cannot open", dir);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		path = gq_asprintf("%s/%s", dir, e->d_name);
		if (gq_read_file(path, GQ_ADMISSION_MAX_BODY, &body, &len, &err) != GQ_OK)
			fail_msg("%s: %s", path, err.msg);
		diff_decode(body, len);
		if (mutate)
			diff_mutations(body, len);
		free(body);
		free(path);
		n++;
	}
	closedir(d);
	free(dir);
	return n;
}

/* Decodes a bench body (stream decoder) into *r. */
static void decode_file(struct gq_adm_request *r, const char *rel)
{
	char *path = repo_path(rel), *body;
	struct gq_err err = {0};
	size_t len;

	if (gq_read_file(path, GQ_ADMISSION_MAX_BODY, &body, &len, &err) != GQ_OK)
		fail_msg("%s: %s", path, err.msg);
	if (gq_admission_decode(r, body, len, &err) != GQ_OK)
		fail_msg("%s: %s", path, err.msg);
	free(body);
	free(path);
}

/* The fuzz corpora and the bench bodies (and mutations of them). */
static void test_diff_files(void **state)
{
	struct gq_adm_request r;

	(void)state;
	assert_true(diff_dir("test/fuzz/corpus/admission", true) >= 16);
	assert_true(diff_dir("test/fuzz/corpus/admission_diff", false) >= 5);
	assert_true(diff_dir("bench/bodies", true) >= 3);
	/* the bench bodies are what they claim to be */
	decode_file(&r, "bench/bodies/gpu-admit.json");
	assert_true(r.is_pod_create);
	assert_non_null(r.generate_name);
	assert_true(r.has_priority);
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/gpu"), 4);
	gq_adm_request_free(&r);
	decode_file(&r, "bench/bodies/cpu-pass.json");
	assert_true(r.is_pod_create);
	assert_false(gq_adm_request_is_gpu_pod(&r));
	gq_adm_request_free(&r);
}

/* Members in any order: apiVersion after request, the object before the
 * request's kind and operation, spec before metadata. */
static void test_diff_key_order(void **state)
{
	const char *json =
	    "{\"request\":{\"object\":{\"spec\":{\"containers\":[{\"resources\":{\"limits\":"
	    "{\"nvidia.com/gpu\":\"2\"}}}],\"priorityClassName\":\"vision-low\"},"
	    "\"metadata\":{\"generateName\":\"job-\",\"namespace\":\"vision\"}},"
	    "\"operation\":\"CREATE\",\"kind\":{\"kind\":\"Pod\",\"version\":\"v1\","
	    "\"group\":\"\"},\"uid\":\"u1\"},"
	    "\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\"}";
	struct gq_adm_request r;

	(void)state;
	decode_ok(&r, json);
	assert_string_equal(r.uid, "u1");
	assert_true(r.is_pod_create);
	assert_string_equal(r.namespace, "vision");
	assert_string_equal(r.generate_name, "job-");
	assert_string_equal(r.priority_class, "vision-low");
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/gpu"), 2);
	gq_adm_request_free(&r);
}

/* A repeated member counts once, the last occurrence (null included); what
 * an earlier occurrence held is neither read nor checked. */
static void test_diff_repeated_keys(void **state)
{
	struct gq_adm_request r;
	char *json;

	(void)state;
	json = review("\"uid\":\"a\",\"uid\":\"b\"");
	decode_ok(&r, json);
	assert_string_equal(r.uid, "b");
	gq_adm_request_free(&r);
	free(json);
	expect("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	       "\"request\":{\"uid\":\"u\"},\"apiVersion\":null}",
	       GQ_EINVAL);
	/* spec, containers, requests: the earlier (invalid) one is dropped */
	json =
	    pod_create("{\"spec\":{\"priority\":\"x\",\"containers\":[{\"resources\":{\"limits\":"
		       "{\"nvidia.com/gpu\":\"8\"}}}]},"
		       "\"spec\":{\"containers\":[1],\"containers\":[{\"resources\":{"
		       "\"requests\":{\"nvidia.com/gpu\":\"x\"},\"requests\":{\"nvidia.com/"
		       "gpu\":\"3\"}}}]}}");
	decode_ok(&r, json);
	assert_false(r.has_priority);
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/gpu"), 3);
	gq_adm_request_free(&r);
	free(json);
	/* inside one resource map every member is read, in order */
	expect_free(pod_create("{\"spec\":{\"containers\":[{\"resources\":{\"requests\":{"
			       "\"nvidia.com/gpu\":\"x\",\"nvidia.com/gpu\":\"1\"}}}]}}"),
		    GQ_EINVAL);
	json = pod_create("{\"spec\":{\"containers\":[{\"resources\":{\"requests\":{"
			  "\"nvidia.com/gpu\":\"1\",\"nvidia.com/gpu\":\"3\"},\"limits\":{"
			  "\"nvidia.com/gpu\":\"5\"},\"resources\":null}}]}}");
	decode_ok(&r, json);
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/gpu"), 3);
	gq_adm_request_free(&r);
	free(json);
	/* a second request replaces all of the first */
	json = gq_asprintf(RV_HEAD "\"request\":{" POD_REQ ",\"object\":{\"spec\":{\"containers\":"
				   "[{\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1\"}}}]}}},"
				   "\"request\":{\"uid\":\"v\",\"operation\":\"CREATE\"}}");
	decode_ok(&r, json);
	assert_string_equal(r.uid, "v");
	assert_false(r.is_pod);
	assert_int_equal(r.n_gpus, 0);
	gq_adm_request_free(&r);
	free(json);
	/* a later null object, kind or metadata */
	expect_free(pod_create("{\"spec\":{}},\"object\":null"), GQ_EINVAL);
	json = review(POD_REQ ",\"kind\":{\"group\":\"apps\",\"kind\":\"Deployment\"}");
	decode_ok(&r, json);
	assert_false(r.is_pod);
	gq_adm_request_free(&r);
	free(json);
	json = pod_create("{\"metadata\":{\"finalizers\":[1],\"generateName\":\"g-\"},"
			  "\"metadata\":{\"finalizers\":[],\"finalizers\":[\"gpuquota.io/"
			  "accounting\"]},\"spec\":{\"schedulingGates\":{},"
			  "\"schedulingGates\":[{\"name\":\"a\",\"name\":\"b\"}]}}");
	decode_ok(&r, json);
	assert_null(r.generate_name);
	assert_true(r.has_finalizers);
	assert_true(r.has_accounting_finalizer);
	assert_int_equal(r.n_gates, 1);
	assert_string_equal(r.gates[0], "b");
	gq_adm_request_free(&r);
	free(json);
}

/* \u0000 ends a string or key where the tree's C strings end. */
static void test_diff_nul_escapes(void **state)
{
	struct gq_adm_request r;
	char *json;

	(void)state;
	json = review("\"uid\":\"abc\\u0000def\"");
	decode_ok(&r, json);
	assert_string_equal(r.uid, "abc");
	gq_adm_request_free(&r);
	free(json);
	expect_free(review("\"uid\":\"\\u0000x\""), GQ_EINVAL);
	expect("{\"apiVersion\":\"admission.k8s.io/v1\\u0000x\",\"kind\":\"AdmissionReview\","
	       "\"request\":{\"uid\":\"u\"}}",
	       GQ_OK);
	expect("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\\u0000\":\"x\","
	       "\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\"}}",
	       GQ_OK);
	json = gq_asprintf(RV_HEAD
			   "\"request\":{\"uid\":\"u\",\"operation\":\"CREATE\","
			   "\"kind\":{\"kind\":\"Pod\\u0000v2\"},\"object\":{\"spec\":{"
			   "\"containers\":[{\"resources\":{\"requests\":{"
			   "\"nvidia.com/gpu\\u0000x\":\"2\",\"nvidia.com/gpu\":\"1\"}}}]}}}}");
	decode_ok(&r, json);
	assert_true(r.is_pod_create);
	assert_int_equal(r.n_gpus, 1);
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/gpu"), 1);
	gq_adm_request_free(&r);
	free(json);
}

/* Comments are accepted (as yajl_tree_parse does); a quote or brackets
 * inside one neither hide nor add nesting. */
static void test_diff_comments(void **state)
{
	size_t depth = 100000, pre, i;
	char *json, *deep;
	struct gq_adm_request r;

	(void)state;
	json =
	    gq_asprintf("/* review */ {\"apiVersion\" // v1\n:\"admission.k8s.io/v1\","
			"\"kind\":/* [[[[{{ \" */\"AdmissionReview\",\"request\":{\"uid\":\"u\"}}"
			" // end");
	decode_ok(&r, json);
	assert_string_equal(r.uid, "u");
	gq_adm_request_free(&r);
	free(json);
	/* 200 brackets in a comment are not nesting */
	deep = gq_malloc(201);
	memset(deep, '[', 200);
	deep[200] = '\0';
	json = gq_asprintf(RV_HEAD "/* %s */\"request\":{\"uid\":\"u\"}}", deep);
	expect_free(json, GQ_OK);
	free(deep);
	/* a quote in a comment does not hide the nesting after it (the tree
	 * decoder used to recurse as deep as the body went, and crashed) */
	pre = strlen(RV_HEAD "\"x\":1 /* \" */,\"y\":");
	deep = gq_malloc(pre + 2 * depth + 2);
	memcpy(deep, RV_HEAD "\"x\":1 /* \" */,\"y\":", pre);
	for (i = 0; i < depth; i++) {
		deep[pre + i] = '[';
		deep[pre + depth + i] = ']';
	}
	deep[pre + 2 * depth] = '}';
	deep[pre + 2 * depth + 1] = '\0';
	assert_int_equal(decode_err(deep, pre + 2 * depth + 1, NULL, 0), GQ_EPARSE);
	free(deep);
	/* unterminated comments and stray slashes */
	expect("{\"a\":1 /* x}", GQ_EPARSE);
	expect("{\"a\":1} /* to the end", GQ_EINVAL);
	expect("{\"a\":1} / x", GQ_EPARSE);
}

/* Integers as yajl_tree reads them: -2^63 and 1e3 are not integers. */
static void test_diff_numbers(void **state)
{
	static const struct {
		const char *spec;
		int rc;
		int64_t deadline;
	} cases[] = {
	    {"{\"activeDeadlineSeconds\":9223372036854775807}", GQ_OK, INT64_MAX},
	    {"{\"activeDeadlineSeconds\":9223372036854775808}", GQ_EINVAL, 0},
	    {"{\"activeDeadlineSeconds\":-9223372036854775807}", GQ_OK, 0},
	    {"{\"activeDeadlineSeconds\":-9223372036854775808}", GQ_EINVAL, 0},
	    {"{\"activeDeadlineSeconds\":1e3}", GQ_EINVAL, 0},
	    {"{\"activeDeadlineSeconds\":-0}", GQ_OK, 0},
	    {"{\"activeDeadlineSeconds\":60,\"priority\":-7}", GQ_OK, 60},
	    {"{\"priority\":1.0}", GQ_EINVAL, 0},
	    {"{\"preemptionPolicy\":1}", GQ_EINVAL, 0},
	    {"{\"containers\":[{\"resources\":{\"limits\":{\"nvidia.com/gpu\":1.5}}}]}", GQ_OK, 0},
	    {"{\"containers\":[{\"resources\":{\"limits\":{\"nvidia.com/gpu\":1e400}}}]}",
	     GQ_ERANGE, 0},
	    {"{\"containers\":[{\"resources\":{\"limits\":{\"nvidia.com/gpu\":{\"a\":1}}}}]}",
	     GQ_EINVAL, 0},
	};
	struct gq_adm_request r;
	char *spec, *json;
	size_t i;

	(void)state;
	for (i = 0; i < GQ_ARRAY_LEN(cases); i++) {
		spec = gq_asprintf("{\"spec\":%s}", cases[i].spec);
		json = pod_create(spec);
		if (diff_decode(json, strlen(json)) != cases[i].rc)
			fail_msg("case %zu: want %s", i, gq_strerror(cases[i].rc));
		if (cases[i].rc == GQ_OK) {
			decode_ok(&r, json);
			assert_int_equal(r.active_deadline, cases[i].deadline);
			gq_adm_request_free(&r);
		}
		free(json);
		free(spec);
	}
}

/* A JSON text of n copies of item separated by commas (new heap string). */
static char *repeat(const char *item, size_t n)
{
	struct gq_buf b;
	size_t i;

	gq_buf_init(&b, GQ_ADMISSION_MAX_BODY);
	for (i = 0; i < n; i++)
		assert_int_equal(gq_buf_printf(&b, "%s%s", i ? "," : "", item), GQ_OK);
	return gq_buf_steal(&b);
}

/* n distinct nvidia.com resources starting at index first, one device each. */
static char *resources(size_t first, size_t n)
{
	struct gq_buf b;
	size_t i;

	gq_buf_init(&b, GQ_ADMISSION_MAX_BODY);
	for (i = 0; i < n; i++)
		assert_int_equal(
		    gq_buf_printf(&b, "%s\"nvidia.com/r%zu\":\"1\"", i ? "," : "", first + i),
		    GQ_OK);
	return gq_buf_steal(&b);
}

/* A pod CREATE whose spec members are before, arg, after (new heap string). */
static char *pod_spec(const char *before, const char *arg, const char *after)
{
	char *obj = gq_asprintf("{\"spec\":{%s%s%s}}", before, arg, after);
	char *json = pod_create(obj);

	free(obj);
	return json;
}

/* Every bound holds at its limit and fails one past it, in both. */
static void test_diff_bounds(void **state)
{
	char *s, *t, *json;
	struct gq_adm_request r;

	(void)state;
	/* uid and names */
	s = gq_malloc(1100);
	memset(s, 'a', 1099);
	s[1099] = '\0';
	expect_free(gq_asprintf(RV_HEAD "\"request\":{\"uid\":\"%.256s\"}}", s), GQ_OK);
	expect_free(gq_asprintf(RV_HEAD "\"request\":{\"uid\":\"%.257s\"}}", s), GQ_EINVAL);
	expect_free(
	    gq_asprintf(RV_HEAD "\"request\":{\"uid\":\"u\",\"namespace\":\"%.1024s\"}}", s),
	    GQ_OK);
	expect_free(gq_asprintf(RV_HEAD "\"request\":{\"uid\":\"u\",\"name\":\"%.1025s\"}}", s),
		    GQ_EINVAL);
	/* a resource name of 320 bytes, and 321 */
	expect_free(gq_asprintf(RV_HEAD "\"request\":{" POD_REQ ",\"object\":{\"spec\":{"
					"\"containers\":[{\"resources\":{\"limits\":{"
					"\"nvidia.com/%.309s\":\"1\"}}}]}}}}",
				s),
		    GQ_OK);
	expect_free(gq_asprintf(RV_HEAD "\"request\":{" POD_REQ ",\"object\":{\"spec\":{"
					"\"containers\":[{\"resources\":{\"limits\":{"
					"\"nvidia.com/%.310s\":\"1\"}}}]}}}}",
				s),
		    GQ_EINVAL);
	/* a quantity of 64 bytes, and 65 */
	memset(s, '0', 70);
	s[70] = '1';
	s[71] = '\0';
	expect_free(gq_asprintf(RV_HEAD "\"request\":{" POD_REQ ",\"object\":{\"spec\":{"
					"\"containers\":[{\"resources\":{\"limits\":{"
					"\"nvidia.com/gpu\":\"%s\"}}}]}}}}",
				s + 7),
		    GQ_OK);
	expect_free(gq_asprintf(RV_HEAD "\"request\":{" POD_REQ ",\"object\":{\"spec\":{"
					"\"containers\":[{\"resources\":{\"limits\":{"
					"\"nvidia.com/gpu\":\"%s\"}}}]}}}}",
				s + 6),
		    GQ_EINVAL);
	free(s);

	/* scheduling gates */
	s = repeat("{\"name\":\"g\"}", 256);
	expect_free(pod_spec("\"schedulingGates\":[", s, "]"), GQ_OK);
	free(s);
	s = repeat("{\"name\":\"g\"}", 257);
	expect_free(pod_spec("\"schedulingGates\":[", s, "]"), GQ_EINVAL);
	free(s);
	/* containers (the 1025th need not even be an object) */
	s = repeat("{\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1\"}}}", 1024);
	json = pod_spec("\"containers\":[", s, "]");
	decode_ok(&r, json);
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/gpu"), 1024);
	gq_adm_request_free(&r);
	free(json);
	free(s);
	s = repeat("{}", 1024);
	expect_free(pod_spec("\"initContainers\":[", s, ",1]"), GQ_EINVAL);
	free(s);
	/* distinct resources: 64 in a container, then 65 in one and over two */
	s = resources(0, 64);
	expect_free(pod_spec("\"containers\":[{\"resources\":{\"requests\":{", s, "}}}]"), GQ_OK);
	free(s);
	s = resources(0, 65);
	expect_free(pod_spec("\"containers\":[{\"resources\":{\"requests\":{", s, "}}}]"),
		    GQ_EINVAL);
	free(s);
	s = resources(0, 33);
	t = resources(33, 32);
	json = gq_asprintf("\"containers\":[{\"resources\":{\"limits\":{%s}}},"
			   "{\"resources\":{\"limits\":{%s}}}],\"initContainers\":[{\"resources\":"
			   "{\"limits\":{\"nvidia.com/r70\":\"1\"}}}]",
			   s, t);
	expect_free(pod_spec("", json, ""), GQ_EINVAL);
	free(json);
	free(t);
	free(s);

	/* nesting: 128 levels pass, 129 do not */
	s = gq_malloc(300);
	memset(s, '[', 126);
	memset(s + 126, ']', 126);
	s[252] = '\0';
	expect_free(gq_asprintf(RV_HEAD "\"request\":{\"uid\":\"u\",\"x\":%s}}", s), GQ_OK);
	memmove(s + 1, s, 253);
	s[0] = '[';
	s[253] = ']';
	s[254] = '\0';
	expect_free(gq_asprintf(RV_HEAD "\"request\":{\"uid\":\"u\",\"x\":%s}}", s), GQ_EPARSE);
	free(s);
}

/* With several errors in one body, both report the first one of the
 * reference's order, wherever the members sit in the text. */
static void test_diff_error_order(void **state)
{
	struct {
		const char *object;
		int rc;
		const char *msg;
	} cases[] = {
	    /* containers are checked before initContainers */
	    {"{\"spec\":{\"initContainers\":[1],\"containers\":[{\"resources\":{\"requests\":"
	     "{\"nvidia.com/gpu\":\"1E\"}}}]}}",
	     GQ_ERANGE, "spec.containers[0]"},
	    /* spec scalars before the containers */
	    {"{\"spec\":{\"containers\":[{\"resources\":{\"requests\":{\"nvidia.com/"
	     "gpu\":\"1E\"}}}],"
	     "\"priority\":\"x\"}}",
	     GQ_EINVAL, "spec.priority"},
	    /* metadata before spec */
	    {"{\"spec\":{\"priority\":\"x\"},\"metadata\":{\"finalizers\":[\"a\",2]}}", GQ_EINVAL,
	     "metadata.finalizers[1]"},
	    /* requests before limits, within a container */
	    {"{\"spec\":{\"containers\":[{\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1E\"},"
	     "\"requests\":{\"nvidia.com/gpu\":true}}}]}}",
	     GQ_EINVAL, "requests[nvidia.com/gpu]"},
	    /* the count of gates before their contents */
	    {"{\"spec\":{\"schedulingGates\":{}}}", GQ_EINVAL, "spec.schedulingGates"},
	};
	char msg[512], *json;
	size_t i;

	(void)state;
	for (i = 0; i < GQ_ARRAY_LEN(cases); i++) {
		json = pod_create(cases[i].object);
		assert_int_equal(decode_err(json, strlen(json), msg, sizeof(msg)), cases[i].rc);
		if (strstr(msg, cases[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" does not name %s", i, msg, cases[i].msg);
		free(json);
	}
	/* sums overflow: 1003 containers of 9223372036854775 GPUs */
	{
		char *s = repeat("{\"resources\":{\"requests\":{\"nvidia.com/gpu\":"
				 "\"9223372036854775\"}}}",
				 1003);

		json = pod_spec("\"containers\":[", s, "]");
		assert_int_equal(decode_err(json, strlen(json), msg, sizeof(msg)), GQ_ERANGE);
		assert_non_null(strstr(msg, "overflow"));
		free(json);
		free(s);
	}
}

/* Bodies that grow every buffer past its first storage: many containers and
 * resources, long strings, long escaped strings (yajl's own buffers). */
static void test_diff_growth(void **state)
{
	struct gq_adm_request r;
	struct gq_buf b;
	char *s, *json;
	size_t i;

	(void)state;
	s = repeat("{\"resources\":{\"requests\":{\"nvidia.com/gpu\":\"1\",\"cpu\":\"1\"},"
		   "\"limits\":{\"nvidia.com/mig-1g.10gb\":\"1\",\"nvidia.com/gpu\":\"2\"}},"
		   "\"restartPolicy\":\"Always\"}",
		   100);
	json = pod_spec("\"initContainers\":[", s, "]");
	decode_ok(&r, json);
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/gpu"), 100);
	assert_int_equal(gq_adm_request_count(&r, "nvidia.com/mig-1g.10gb"), 100);
	gq_adm_request_free(&r);
	free(json);
	free(s);
	/* long strings, escaped ones, and gates past the first storage */
	gq_buf_init(&b, GQ_ADMISSION_MAX_BODY);
	assert_int_equal(gq_buf_puts(&b, RV_HEAD "\"request\":{" POD_REQ ",\"x\":\""), GQ_OK);
	for (i = 0; i < 20000; i++)
		assert_int_equal(gq_buf_puts(&b, "\\n\\u00e9"), GQ_OK);
	assert_int_equal(gq_buf_puts(&b, "\",\"object\":{\"metadata\":{\"generateName\":\""),
			 GQ_OK);
	for (i = 0; i < 1000; i++)
		assert_int_equal(gq_buf_puts(&b, "\\u0041"), GQ_OK);
	assert_int_equal(gq_buf_puts(&b, "\"},\"spec\":{\"schedulingGates\":["), GQ_OK);
	for (i = 0; i < 40; i++)
		assert_int_equal(
		    gq_buf_printf(&b, "%s{\"name\":\"gate-%zu-%0900zu\"}", i ? "," : "", i, i),
		    GQ_OK);
	assert_int_equal(gq_buf_puts(&b, "]}}}}"), GQ_OK);
	decode_ok(&r, gq_buf_str(&b));
	assert_int_equal(strlen(r.generate_name), 1000);
	assert_int_equal(r.generate_name[999], 'A');
	assert_int_equal(r.n_gates, 40);
	assert_int_equal(strlen(r.gates[39]), 908);
	gq_adm_request_free(&r);
	gq_buf_free(&b);
}

/* Pod fields: ill-typed members, nulls, empty values. */
static void test_diff_pod_fields(void **state)
{
	static const struct {
		const char *req;    /* request members after the uid */
		const char *object; /* request.object */
		int rc;
	} cases[] = {
	    {"\"dryRun\":\"yes\"", "{}", GQ_EINVAL},
	    {"\"dryRun\":null", "{}", GQ_OK},
	    {"\"subResource\":null,\"kind\":{\"group\":null,\"kind\":\"Pod\"}", "{}", GQ_OK},
	    {"\"kind\":{\"group\":1,\"kind\":\"Pod\"}", "null", GQ_OK},
	    {"\"kind\":{\"kind\":null}", "null", GQ_OK},
	    {"\"kind\":[]", "null", GQ_OK},
	    {"", "{\"metadata\":\"x\"}", GQ_EINVAL},
	    {"", "{\"metadata\":null,\"spec\":null}", GQ_OK},
	    {"", "{\"metadata\":{\"finalizers\":{}}}", GQ_EINVAL},
	    {"", "{\"metadata\":{\"finalizers\":null,\"generateName\":7}}", GQ_EINVAL},
	    {"", "{\"metadata\":{\"name\":7}}", GQ_OK}, /* request.name is set */
	    {"\"namespace\":\"ns\"", "{\"metadata\":{\"namespace\":7}}", GQ_OK},
	    {"", "{\"metadata\":{\"namespace\":7}}", GQ_EINVAL},
	    {"\"name\":\"\"", "{\"metadata\":{\"name\":7}}", GQ_EINVAL},
	    {"", "{\"spec\":{\"priorityClassName\":\"\",\"preemptionPolicy\":null}}", GQ_OK},
	    {"", "{\"spec\":{\"schedulingGates\":[{\"name\":\"a\"},[]]}}", GQ_EINVAL},
	    {"", "{\"spec\":{\"schedulingGates\":[{\"name\":null},{}]}}", GQ_OK},
	    {"", "{\"spec\":{\"containers\":null,\"initContainers\":[{\"restartPolicy\":1}]}}",
	     GQ_OK},
	    {"", "{\"spec\":{\"containers\":[{\"resources\":{\"requests\":null,\"limits\":7}}]}}",
	     GQ_EINVAL},
	    {"", "[]", GQ_EINVAL},
	    {"", "{\"spec\":{\"nodeSelector\":[],\"tolerations\":{}}}", GQ_OK},
	    {"", "{\"spec\":{\"tolerations\":[7,{\"key\":7,\"operator\":\"Exists\"},"
		 "{\"key\":{\"a\":1},\"effect\":[]}]}}",
	     GQ_OK},
	    {"", "{\"spec\":{\"tolerations\":[{\"key\":\"gpuquota.io/pool\",\"key\":null,"
		 "\"operator\":\"Exists\",\"effect\":null}],\"nodeSelector\":null}}",
	     GQ_OK},
	    {"", "{\"spec\":{\"tolerations\":[{\"operator\":\"Exists\"}],\"tolerations\":[]}}",
	     GQ_OK},
	    {"", "{\"spec\":{\"tolerations\":[{\"key\":\"gpuquota.io/pool\\u0000x\","
		 "\"effect\":\"NoExecute\"},{\"key\":\"gpuquota.io/pool\"}]}}",
	     GQ_OK},
	};
	char *json;
	size_t i;

	(void)state;
	for (i = 0; i < GQ_ARRAY_LEN(cases); i++) {
		json =
		    gq_asprintf(RV_HEAD "\"request\":{\"uid\":\"u\",\"operation\":\"CREATE\","
					"\"name\":\"n\",\"kind\":{\"group\":\"\",\"kind\":\"Pod\"}"
					"%s%s,\"object\":%s}}",
				cases[i].req[0] ? "," : "", cases[i].req, cases[i].object);
		if (diff_decode(json, strlen(json)) != cases[i].rc)
			fail_msg("case %zu: want %s", i, gq_strerror(cases[i].rc));
		free(json);
	}
}

/* Top-level values that are not objects, and empty bodies. */
static void test_diff_not_object(void **state)
{
	(void)state;
	expect("[]", GQ_EINVAL);
	expect("\"x\"", GQ_EINVAL);
	expect("1", GQ_EINVAL);
	expect("-1.5e3", GQ_EINVAL);
	expect("null", GQ_EINVAL);
	expect("true", GQ_EINVAL);
	expect(" ", GQ_EPARSE);
	expect("{\"a\":[1,}", GQ_EPARSE);
	expect("{\"a\":\"\xff\"}", GQ_EPARSE);
	expect("{\"request\":{\"uid\":\"u\"},\"apiVersion\":\"admission.k8s.io/v1\"}", GQ_EINVAL);
}

/* ------------------------------------------------------------------ */
/* Refused GPU pods                                                     */
/* ------------------------------------------------------------------ */

#define REFUSED_SUFFIX "; GPU pods over the limits gpuquota can check are refused"

/* The review of request.object obj in two member orders: uid before the
 * object (as the apiserver writes it), and uid after it with the request
 * before apiVersion and kind. New heap string. */
static char *refusal_review(const char *obj, bool uid_last)
{
	if (!uid_last)
		return pod_create(obj);
	return gq_asprintf(
	    "{\"request\":{\"object\":%s,\"operation\":\"CREATE\",\"kind\":{\"group\":\"\","
	    "\"version\":\"v1\",\"kind\":\"Pod\"},\"namespace\":\"ns\",\"uid\":\"u-last\"},"
	    "\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\"}",
	    obj);
}

/*
 * The review of obj (either order) is refused with code rc and a message
 * holding why, and both decoders agree. gpu: it is a GPU pod, so the uid is
 * kept and the refusal encodes as allowed:false, code 403, the uid echoed and
 * the message "gpuquota: <why...>; GPU pods over ... are refused"; else
 * nothing is kept (the webhook answers 400). Takes ownership of obj.
 */
static void expect_refused(char *obj, int rc, const char *why, bool gpu)
{
	for (int order = 0; order < 2; order++) {
		const char *uid = order ? "u-last" : "u";
		char *json = refusal_review(obj, order == 1), *body, *want;
		struct gq_adm_response resp;
		struct gq_adm_request r;
		struct gq_err err = {0};
		yajl_val doc, v;

		assert_int_equal(diff_decode(json, strlen(json)), rc);
		assert_int_equal(gq_admission_decode(&r, json, strlen(json), &err), rc);
		if (strstr(err.msg, why) == NULL)
			fail_msg("\"%s\" does not say \"%s\"", err.msg, why);
		assert_int_equal(r.refused_gpu_pod, gpu);
		if (!gpu) {
			assert_null(r.uid);
			free(json);
			continue;
		}
		assert_string_equal(r.uid, uid);
		gq_admission_refuse(&resp, err.msg);
		assert_int_equal(resp.action, GQ_ADM_DENY_REFUSED);
		assert_string_equal(gq_admission_action_name(resp.action), "deny-refused");
		body = gq_admission_encode(&resp, r.uid);
		assert_non_null(body);
		doc = yajl_tree_parse(body, NULL, 0);
		assert_non_null(doc);
		v = yajl_tree_get(doc, (const char *[]){"response", "uid", NULL}, yajl_t_string);
		assert_string_equal(YAJL_GET_STRING(v), uid);
		v = yajl_tree_get(doc, (const char *[]){"response", "allowed", NULL}, yajl_t_any);
		assert_true(YAJL_IS_FALSE(v));
		v = yajl_tree_get(doc, (const char *[]){"response", "status", "code", NULL},
				  yajl_t_number);
		assert_int_equal(YAJL_GET_INTEGER(v), 403);
		assert_null(
		    yajl_tree_get(doc, (const char *[]){"response", "patch", NULL}, yajl_t_any));
		v = yajl_tree_get(doc, (const char *[]){"response", "status", "message", NULL},
				  yajl_t_string);
		want = gq_asprintf("gpuquota: %s" REFUSED_SUFFIX, err.msg);
		assert_string_equal(YAJL_GET_STRING(v), want);
		free(want);
		yajl_tree_free(doc);
		free(body);
		gq_adm_response_free(&resp);
		gq_adm_request_free(&r);
		free(json);
	}
	free(obj);
}

#define GPU_CONT "{\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1\"}}}"
#define CPU_CONT "{\"resources\":{\"requests\":{\"cpu\":\"1\"}}}"

/* A GPU pod over any bound is refused with its uid, in any member order,
 * and its refusal names the bound. */
static void test_refused_gpu_pod_limits(void **state)
{
	char *s, *t, *u;

	(void)state;
	/* 65 distinct nvidia.com resources in one container ... */
	s = resources(0, 65);
	expect_refused(gq_asprintf("{\"spec\":{\"containers\":[{\"resources\":{\"requests\":{%s}}}"
				   "]}}",
				   s),
		       GQ_EINVAL,
		       "pod has more than 64 distinct nvidia.com/* resources (limit 64) in "
		       "spec.containers[0].resources",
		       true);
	free(s);
	/* ... and over containers and init containers */
	s = resources(0, 33);
	t = resources(33, 32);
	expect_refused(gq_asprintf("{\"spec\":{\"initContainers\":[{\"resources\":{\"limits\":{"
				   "\"nvidia.com/r70\":\"1\"}}}],\"containers\":[{\"resources\":"
				   "{\"limits\":{%s}}},{\"resources\":{\"limits\":{%s}}}]}}",
				   s, t),
		       GQ_EINVAL, "pod has more than 64 distinct nvidia.com/* resources (limit 64)",
		       true);
	free(t);
	free(s);
	/* 1025 containers, the GPU only in the one past the bound (not kept) */
	s = repeat(CPU_CONT, 1024);
	expect_refused(gq_asprintf("{\"spec\":{\"containers\":[%s," GPU_CONT "]}}", s), GQ_EINVAL,
		       "pod has more than 1024 entries in spec.containers (limit 1024)", true);
	/* 1025 init containers, a MIG slice in the last one's requests */
	expect_refused(gq_asprintf("{\"spec\":{\"containers\":[" CPU_CONT "],\"initContainers\":"
				   "[%s,{\"resources\":{\"requests\":{\"nvidia.com/mig-1g.10gb\":"
				   "\"1\"}}}]}}",
				   s),
		       GQ_EINVAL,
		       "pod has more than 1024 entries in spec.initContainers (limit 1024)", true);
	free(s);
	/* 1025 GPU containers: the count is refused, not the sums */
	s = repeat(GPU_CONT, 1025);
	expect_refused(gq_asprintf("{\"spec\":{\"containers\":[%s]}}", s), GQ_EINVAL,
		       "pod has more than 1024 entries in spec.containers (limit 1024)", true);
	free(s);
	/* 257 scheduling gates, the gates after the containers */
	s = repeat("{\"name\":\"g\"}", 257);
	expect_refused(gq_asprintf("{\"spec\":{\"containers\":[" GPU_CONT "],"
				   "\"schedulingGates\":[%s]}}",
				   s),
		       GQ_EINVAL,
		       "pod has more than 256 entries in spec.schedulingGates (limit 256)", true);
	free(s);
	/* a resource name of 321 bytes */
	s = gq_malloc(1100);
	memset(s, 'a', 310);
	s[310] = '\0';
	expect_refused(gq_asprintf("{\"spec\":{\"containers\":[{\"resources\":{\"limits\":{"
				   "\"nvidia.com/%s\":\"1\"}}}]}}",
				   s),
		       GQ_EINVAL, "resource name is longer than 320 bytes (limit 320)", true);
	/* a name over its bound, and sums that overflow */
	memset(s, 'a', 1025);
	s[1025] = '\0';
	expect_refused(gq_asprintf("{\"metadata\":{\"generateName\":\"%s\"},\"spec\":"
				   "{\"containers\":[" GPU_CONT "]}}",
				   s),
		       GQ_EINVAL, "metadata.generateName: longer than 1024 bytes", true);
	free(s);
	/* the largest count a quantity holds here (INT64_MAX milli), 1001 times */
	u = repeat("{\"resources\":{\"requests\":{\"nvidia.com/gpu\":\"9223372036854775\"}}}",
		   1001);
	expect_refused(gq_asprintf("{\"spec\":{\"containers\":[%s]}}", u), GQ_ERANGE,
		       "GPU requests overflow", true);
	free(u);
	/* a quantity too large to parse */
	expect_refused(gq_strdup("{\"spec\":{\"containers\":[{\"resources\":{\"limits\":{"
				 "\"nvidia.com/gpu\":\"9223372036854775807\"}}}]}}"),
		       GQ_ERANGE, "is not a valid quantity", true);
}

/* A pod without GPU resources over a bound keeps the plain refusal (HTTP 400:
 * the apiserver's failurePolicy applies), as does a GPU pod whose review
 * cannot be answered (no uid). */
static void test_refused_not_gpu_pod(void **state)
{
	char *s, *json;
	struct gq_adm_request r;
	struct gq_err err = {0};

	(void)state;
	s = repeat(CPU_CONT, 1025);
	expect_refused(gq_asprintf("{\"spec\":{\"containers\":[%s]}}", s), GQ_EINVAL,
		       "pod has more than 1024 entries in spec.containers (limit 1024)", false);
	free(s);
	s = repeat("{\"name\":\"g\"}", 257);
	expect_refused(gq_asprintf("{\"spec\":{\"containers\":[" CPU_CONT "],"
				   "\"schedulingGates\":[%s]}}",
				   s),
		       GQ_EINVAL,
		       "pod has more than 256 entries in spec.schedulingGates (limit 256)", false);
	free(s);
	/* past the kept containers, null values and replaced members do not count */
	s = repeat("{}", 1024);
	expect_refused(gq_asprintf("{\"spec\":{\"containers\":[%s,{\"resources\":{\"limits\":{"
				   "\"nvidia.com/gpu\":null}}},{\"resources\":{\"limits\":{"
				   "\"nvidia.com/gpu\":\"1\"}},\"resources\":{}},{\"resources\":{"
				   "\"requests\":{\"nvidia.com/gpu\":\"1\"},\"requests\":[]}}]}}",
				   s),
		       GQ_EINVAL, "pod has more than 1024 entries in spec.containers (limit 1024)",
		       false);
	/* a replaced containers list or spec drops what the earlier one carried */
	expect_refused(gq_asprintf("{\"spec\":{\"containers\":[%s," GPU_CONT "],\"containers\":[%s,"
				   "{}],\"initContainers\":[" GPU_CONT "],\"initContainers\":1}}",
				   s, s),
		       GQ_EINVAL, "pod has more than 1024 entries in spec.containers (limit 1024)",
		       false);
	expect_refused(
	    gq_asprintf(
		"{\"spec\":{\"containers\":[" GPU_CONT "]},\"spec\":{\"containers\":[%s,{}]}}", s),
	    GQ_EINVAL, "pod has more than 1024 entries in spec.containers (limit 1024)", false);
	/* GPU pod, but no usable uid: nothing to answer with */
	json = gq_asprintf(RV_HEAD "\"request\":{\"kind\":{\"group\":\"\",\"kind\":\"Pod\"},"
				   "\"operation\":\"CREATE\",\"object\":{\"spec\":{\"containers\":"
				   "[%s," GPU_CONT "]}}}}",
			   s);
	assert_int_equal(diff_decode(json, strlen(json)), GQ_EINVAL);
	assert_int_equal(gq_admission_decode(&r, json, strlen(json), &err), GQ_EINVAL);
	assert_false(r.refused_gpu_pod);
	assert_null(r.uid);
	free(json);
	/* not a CREATE, not a Pod: the object is not read, nothing is refused */
	json =
	    gq_asprintf(RV_HEAD "\"request\":{\"uid\":\"u\",\"kind\":{\"group\":\"\","
				"\"kind\":\"Pod\"},\"operation\":\"UPDATE\",\"object\":{\"spec\":"
				"{\"containers\":[%s,{},{}]}}}}",
			s);
	expect_free(json, GQ_OK);
	/* a GPU pod over the body bound or the nesting bound is never read */
	free(s);
	s = gq_malloc(300);
	memset(s, '[', 129);
	memset(s + 129, ']', 129);
	s[258] = '\0';
	expect_refused(gq_asprintf("{\"x\":%s,\"spec\":{\"containers\":[" GPU_CONT "]}}", s),
		       GQ_EPARSE, "nested deeper than 128", false);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_job_pod),
	    cmocka_unit_test(test_decode_init_containers),
	    cmocka_unit_test(test_decode_sidecars),
	    cmocka_unit_test(test_decode_limits_only),
	    cmocka_unit_test(test_decode_non_gpu),
	    cmocka_unit_test(test_decode_fields),
	    cmocka_unit_test(test_decode_not_pod_create),
	    cmocka_unit_test(test_decode_missing_uid),
	    cmocka_unit_test(test_decode_wrong_version),
	    cmocka_unit_test(test_decode_malformed),
	    cmocka_unit_test(test_decode_bad_pod),
	    cmocka_unit_test(test_decode_too_big),
	    cmocka_unit_test(test_decide_pass),
	    cmocka_unit_test(test_decide_default_class),
	    cmocka_unit_test(test_decide_foreign_class),
	    cmocka_unit_test(test_decide_cap_and_order),
	    cmocka_unit_test(test_decide_exempt),
	    cmocka_unit_test(test_decide_deny_exhausted),
	    cmocka_unit_test(test_decide_expected_cost),
	    cmocka_unit_test(test_decide_accounting_finalizer),
	    cmocka_unit_test(test_decide_hold),
	    cmocka_unit_test(test_decide_hold_combined),
	    cmocka_unit_test(test_decide_pool),
	    cmocka_unit_test(test_decide_deprioritize),
	    cmocka_unit_test(test_decide_warning),
	    cmocka_unit_test(test_encode_shape),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_diff_files),
	    cmocka_unit_test(test_diff_key_order),
	    cmocka_unit_test(test_diff_repeated_keys),
	    cmocka_unit_test(test_diff_nul_escapes),
	    cmocka_unit_test(test_diff_comments),
	    cmocka_unit_test(test_diff_numbers),
	    cmocka_unit_test(test_diff_bounds),
	    cmocka_unit_test(test_diff_error_order),
	    cmocka_unit_test(test_diff_growth),
	    cmocka_unit_test(test_diff_pod_fields),
	    cmocka_unit_test(test_diff_not_object),
	    cmocka_unit_test(test_refused_gpu_pod_limits),
	    cmocka_unit_test(test_refused_not_gpu_pod),
	};
	return cmocka_run_group_tests_name("admission", tests, NULL, NULL);
}
