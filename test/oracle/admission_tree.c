/*
 * admission_tree.c - the reference decoder of AdmissionReview bodies, used
 * by the tests as an oracle for the product's streaming decoder
 * (controller/src/admission_decode.c): gq_admission_decode_tree parses the
 * whole body into a yajl_tree, after checking its size and nesting depth
 * (yajl_tree_free recurses, so the depth must be bounded before parsing),
 * and walks the tree in the contract's order. Pure, not part of the
 * controller.
 *
 * Its value is that it is an independent path: the JSON is walked here,
 * with yajl's tree, not with the streaming decoder's buffered members, and
 * the differential tests (test/unit/test_admission.c) and fuzzer
 * (test/fuzz/fuzz_admission_diff.c) require both decoders to agree on
 * every body. What is not walking JSON is shared, not copied
 * (admission_int.h): the checks before parsing, what a failed decode keeps,
 * the reading of one nvidia.com/... member of requests or limits, and the
 * fold of the containers into the pod's effective requests. JSON null
 * counts as "not given" everywhere; a key that repeats counts once, the
 * last.
 */
#include "admission_tree.h"

#include "admission.h"
#include "admission_int.h"
#include "cost.h"
#include "gq.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

/* Bounds on what is read from a review (admission.h says what each is). */
#define MAX_DEPTH      GQ_ADMISSION_MAX_DEPTH
#define MAX_UID	       GQ_ADMISSION_MAX_UID
#define MAX_STR	       GQ_ADMISSION_MAX_STR
#define MAX_CONTAINERS GQ_ADMISSION_MAX_CONTAINERS
#define MAX_GATES      GQ_ADMISSION_MAX_GATES
#define MAX_PATH       GQ_ADM_MAX_PATH

#define API_VERSION GQ_ADMISSION_API_VERSION

/* ------------------------------------------------------------------ */
/* Tree helpers                                                         */
/* ------------------------------------------------------------------ */

/* Reads an optional string member into a new heap string (*out, caller
 * owns; left NULL when absent). GQ_EINVAL when it is not a string or is
 * longer than max; where names the field in the message. */
static int get_str(char **out, yajl_val obj, const char *key, size_t max, const char *where,
		   struct gq_err *err)
{
	yajl_val v = gq_json_get(obj, key);

	*out = NULL;
	if (v == NULL)
		return GQ_OK;
	if (!YAJL_IS_STRING(v))
		return gq_err_set(err, GQ_EINVAL, "%s.%s: not a string", where, key);
	if (strlen(v->u.string) > max)
		return gq_err_set(err, GQ_EINVAL, "%s.%s: longer than %zu bytes", where, key, max);
	*out = gq_strdup(v->u.string);
	return GQ_OK;
}

/* As get_str, but absent gives an empty string. */
static int get_str_or_empty(char **out, yajl_val obj, const char *key, size_t max,
			    const char *where, struct gq_err *err)
{
	int rc = get_str(out, obj, key, max, where, err);

	if (rc == GQ_OK && *out == NULL)
		*out = gq_strdup("");
	return rc;
}

/* Whether a string member equals want (absent counts as ""). */
static bool str_is(yajl_val obj, const char *key, const char *want)
{
	yajl_val v = gq_json_get(obj, key);

	if (v == NULL)
		return want[0] == '\0';
	return YAJL_IS_STRING(v) && strcmp(v->u.string, want) == 0;
}

/* ------------------------------------------------------------------ */
/* Pod resources                                                        */
/* ------------------------------------------------------------------ */

/* The text of a quantity given as a JSON string or number (a number's
 * literal text), NULL for any other value. Borrowed from the tree. */
static const char *qty_text(yajl_val v)
{
	if (YAJL_IS_STRING(v))
		return v->u.string;
	if (YAJL_IS_NUMBER(v))
		return v->u.number.r;
	return NULL;
}

/*
 * Reads one resource map (requests or limits) of a container into t, every
 * nvidia.com/... member that is not null by gq_adm_res_member. t borrows
 * the names from the tree.
 */
static int read_res_map(struct gq_adm_cres_table *t, yajl_val map, bool is_request,
			const char *where, struct gq_err *err)
{
	size_t i;
	int rc;

	if (map == NULL)
		return GQ_OK;
	if (!YAJL_IS_OBJECT(map))
		return gq_err_set(err, GQ_EINVAL, "%s.%s: not an object", where,
				  is_request ? "requests" : "limits");
	for (i = 0; i < map->u.object.len; i++) {
		const char *key = map->u.object.keys[i];
		yajl_val v = map->u.object.values[i];

		if (!gq_adm_is_nvidia(key, strlen(key)) || YAJL_IS_NULL(v))
			continue;
		rc = gq_adm_res_member(t, key, strlen(key), qty_text(v), is_request, where, err);
		if (rc != GQ_OK)
			return rc;
	}
	return GQ_OK;
}

/* Reads one container c of the tree, of that kind, into acc (which borrows
 * the names from the tree). */
static int fold_container(struct gq_adm_acc_table *acc, yajl_val c, enum gq_cost_kind kind,
			  const char *where, struct gq_err *err)
{
	struct gq_adm_cres_table t = {.n = 0};
	char rwhere[MAX_PATH];
	yajl_val res;
	int rc;

	if (!YAJL_IS_OBJECT(c))
		return gq_err_set(err, GQ_EINVAL, "%s: not an object", where);
	snprintf(rwhere, sizeof(rwhere), "%s.resources", where);
	res = gq_json_get(c, "resources");
	if (res != NULL && !YAJL_IS_OBJECT(res))
		return gq_err_set(err, GQ_EINVAL, "%s: not an object", rwhere);
	rc = read_res_map(&t, gq_json_get(res, "requests"), true, rwhere, err);
	if (rc == GQ_OK)
		rc = read_res_map(&t, gq_json_get(res, "limits"), false, rwhere, err);
	if (rc != GQ_OK)
		return rc;
	return gq_adm_fold_cres(acc, &t, kind, where, err);
}

/* Folds every container of spec.<key> (containers or initContainers) into
 * acc. */
static int fold_list(struct gq_adm_acc_table *acc, yajl_val spec, const char *key, bool init,
		     struct gq_err *err)
{
	char where[MAX_PATH];
	yajl_val list = gq_json_get(spec, key), c;
	enum gq_cost_kind kind;
	size_t i;
	int rc;

	if (list == NULL)
		return GQ_OK;
	if (!YAJL_IS_ARRAY(list))
		return gq_err_set(err, GQ_EINVAL, "spec.%s: not an array", key);
	if (list->u.array.len > MAX_CONTAINERS)
		return gq_err_set(err, GQ_EINVAL,
				  "pod has more than %d entries in spec.%s (limit %d)",
				  MAX_CONTAINERS, key, MAX_CONTAINERS);
	for (i = 0; i < list->u.array.len; i++) {
		c = list->u.array.values[i];
		snprintf(where, sizeof(where), "spec.%s[%zu]", key, i);
		if (!init)
			kind = GQ_COST_CONTAINER;
		else if (str_is(c, "restartPolicy", "Always"))
			kind = GQ_COST_SIDECAR;
		else
			kind = GQ_COST_INIT;
		rc = fold_container(acc, c, kind, where, err);
		if (rc != GQ_OK)
			return rc;
	}
	return GQ_OK;
}

/* Computes the pod's effective nvidia.com/... requests into out->gpus. */
static int dec_pod_gpus(struct gq_adm_request *out, yajl_val spec, struct gq_err *err)
{
	struct gq_adm_acc_table *acc = gq_calloc(1, sizeof(*acc));
	int rc;

	rc = fold_list(acc, spec, "containers", false, err);
	if (rc == GQ_OK)
		rc = fold_list(acc, spec, "initContainers", true, err);
	if (rc == GQ_OK)
		gq_adm_gpus_from_acc(out, acc);
	free(acc);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                             */
/* ------------------------------------------------------------------ */

/* spec.schedulingGates: remembers whether the array exists and the names. */
static int dec_gates(struct gq_adm_request *out, yajl_val spec, struct gq_err *err)
{
	yajl_val gates = gq_json_get(spec, "schedulingGates"), g;
	char where[MAX_PATH];
	size_t i;
	int rc;

	if (gates == NULL)
		return GQ_OK;
	if (!YAJL_IS_ARRAY(gates))
		return gq_err_set(err, GQ_EINVAL, "spec.schedulingGates: not an array");
	if (gates->u.array.len > MAX_GATES)
		return gq_err_set(err, GQ_EINVAL,
				  "pod has more than %d entries in spec.schedulingGates (limit %d)",
				  MAX_GATES, MAX_GATES);
	out->has_gates = true;
	out->gates = gq_calloc(gates->u.array.len ? gates->u.array.len : 1, sizeof(char *));
	for (i = 0; i < gates->u.array.len; i++) {
		g = gates->u.array.values[i];
		snprintf(where, sizeof(where), "spec.schedulingGates[%zu]", i);
		if (!YAJL_IS_OBJECT(g))
			return gq_err_set(err, GQ_EINVAL, "%s: not an object", where);
		rc = get_str_or_empty(&out->gates[out->n_gates], g, "name", MAX_STR, where, err);
		if (rc != GQ_OK)
			return rc;
		out->n_gates++;
	}
	return GQ_OK;
}

/* metadata.finalizers: whether the array exists and holds ours. */
static int dec_finalizers(struct gq_adm_request *out, yajl_val meta, struct gq_err *err)
{
	yajl_val fins = gq_json_get(meta, "finalizers"), f;
	size_t i;

	if (fins == NULL)
		return GQ_OK;
	if (!YAJL_IS_ARRAY(fins))
		return gq_err_set(err, GQ_EINVAL, "metadata.finalizers: not an array");
	out->has_finalizers = true;
	for (i = 0; i < fins->u.array.len; i++) {
		f = fins->u.array.values[i];
		if (!YAJL_IS_STRING(f))
			return gq_err_set(err, GQ_EINVAL, "metadata.finalizers[%zu]: not a string",
					  i);
		if (strcmp(f->u.string, GQ_ACCOUNTING_FINALIZER) == 0)
			out->has_accounting_finalizer = true;
	}
	return GQ_OK;
}

/* Reads the pod fields of request.object for a Pod CREATE. */
/* spec.nodeSelector and spec.tolerations: whether they are there, and
 * whether a toleration tolerates a pool taint (admission_int.h). */
static void dec_placement(struct gq_adm_request *out, yajl_val spec)
{
	yajl_val tols = gq_json_get(spec, "tolerations");

	out->has_node_selector = YAJL_IS_OBJECT(gq_json_get(spec, "nodeSelector"));
	out->has_tolerations = YAJL_IS_ARRAY(tols);
	for (size_t i = 0; out->has_tolerations && i < tols->u.array.len; i++) {
		yajl_val t = tols->u.array.values[i];
		int key = GQ_ADM_TOL_KEY_OTHER;

		if (!YAJL_IS_OBJECT(t))
			continue;
		if (str_is(t, "key", ""))
			key = GQ_ADM_TOL_KEY_ANY;
		else if (str_is(t, "key", GQ_ADM_POOL_KEY))
			key = GQ_ADM_TOL_KEY_POOL;
		if (gq_adm_tolerates_pool(key, str_is(t, "operator", "Exists"),
					  str_is(t, "effect", "") || str_is(t, "effect", "NoSchedule")))
			out->tolerates_pool = true;
	}
}

static int dec_pod(struct gq_adm_request *out, yajl_val pod, struct gq_err *err)
{
	yajl_val meta, spec, v;
	char *s = NULL;
	int rc;

	if (!YAJL_IS_OBJECT(pod))
		return gq_err_set(err, GQ_EINVAL, "request.object: a Pod CREATE needs the pod");
	meta = gq_json_get(pod, "metadata");
	if (meta != NULL && !YAJL_IS_OBJECT(meta))
		return gq_err_set(err, GQ_EINVAL, "request.object.metadata: not an object");
	rc = get_str(&out->generate_name, meta, "generateName", MAX_STR, "metadata", err);
	if (rc == GQ_OK && out->name[0] == '\0')
		rc = get_str(&s, meta, "name", MAX_STR, "metadata", err);
	if (rc == GQ_OK && s != NULL) {
		free(out->name);
		out->name = s;
		s = NULL;
	}
	if (rc == GQ_OK && out->namespace[0] == '\0')
		rc = get_str(&s, meta, "namespace", MAX_STR, "metadata", err);
	if (rc == GQ_OK && s != NULL) {
		free(out->namespace);
		out->namespace = s;
	}
	if (rc == GQ_OK)
		rc = dec_finalizers(out, meta, err);
	if (rc != GQ_OK)
		return rc;

	spec = gq_json_get(pod, "spec");
	if (spec == NULL)
		return GQ_OK;
	if (!YAJL_IS_OBJECT(spec))
		return gq_err_set(err, GQ_EINVAL, "request.object.spec: not an object");
	rc = get_str(&out->priority_class, spec, "priorityClassName", MAX_STR, "spec", err);
	if (rc != GQ_OK)
		return rc;
	if (out->priority_class != NULL && out->priority_class[0] == '\0') {
		free(out->priority_class);
		out->priority_class = NULL;
	}
	v = gq_json_get(spec, "priority");
	if (v != NULL && !YAJL_IS_INTEGER(v))
		return gq_err_set(err, GQ_EINVAL, "spec.priority: not an integer");
	out->has_priority = v != NULL;
	v = gq_json_get(spec, "preemptionPolicy");
	if (v != NULL && !YAJL_IS_STRING(v))
		return gq_err_set(err, GQ_EINVAL, "spec.preemptionPolicy: not a string");
	out->has_preemption_policy = v != NULL;
	v = gq_json_get(spec, "activeDeadlineSeconds");
	if (v != NULL && !YAJL_IS_INTEGER(v))
		return gq_err_set(err, GQ_EINVAL, "spec.activeDeadlineSeconds: not an integer");
	if (v != NULL && YAJL_GET_INTEGER(v) > 0)
		out->active_deadline = YAJL_GET_INTEGER(v);
	rc = dec_gates(out, spec, err);
	if (rc != GQ_OK)
		return rc;
	dec_placement(out, spec);
	return dec_pod_gpus(out, spec, err);
}

/* Reads request.kind: whether the object is a core/v1 Pod. */
static bool kind_is_pod(yajl_val req)
{
	yajl_val kind = gq_json_get(req, "kind");

	return YAJL_IS_OBJECT(kind) && str_is(kind, "group", "") && str_is(kind, "kind", "Pod") &&
	       str_is(req, "subResource", "");
}

/* Walks the parsed review into *out. */
static int dec_review(struct gq_adm_request *out, yajl_val doc, struct gq_err *err)
{
	yajl_val req, v;
	int rc;

	if (!YAJL_IS_OBJECT(doc))
		return gq_err_set(err, GQ_EINVAL, "AdmissionReview: not a JSON object");
	v = gq_json_get(doc, "apiVersion");
	if (!YAJL_IS_STRING(v) || strcmp(v->u.string, API_VERSION) != 0)
		return gq_err_set(err, GQ_EINVAL,
				  "AdmissionReview: apiVersion \"%.64s\" is not supported "
				  "(want " API_VERSION ")",
				  YAJL_IS_STRING(v) ? v->u.string : "");
	v = gq_json_get(doc, "kind");
	if (!YAJL_IS_STRING(v) || strcmp(v->u.string, "AdmissionReview") != 0)
		return gq_err_set(err, GQ_EINVAL,
				  "AdmissionReview: kind \"%.64s\" is not AdmissionReview",
				  YAJL_IS_STRING(v) ? v->u.string : "");
	req = gq_json_get(doc, "request");
	if (!YAJL_IS_OBJECT(req))
		return gq_err_set(err, GQ_EINVAL, "AdmissionReview: request is missing");
	rc = get_str(&out->uid, req, "uid", MAX_UID, "request", err);
	if (rc != GQ_OK)
		return rc;
	if (out->uid == NULL || out->uid[0] == '\0')
		return gq_err_set(err, GQ_EINVAL, "AdmissionReview: request.uid is missing");
	rc = get_str_or_empty(&out->operation, req, "operation", MAX_STR, "request", err);
	if (rc == GQ_OK)
		rc = get_str_or_empty(&out->namespace, req, "namespace", MAX_STR, "request", err);
	if (rc == GQ_OK)
		rc = get_str_or_empty(&out->name, req, "name", MAX_STR, "request", err);
	if (rc != GQ_OK)
		return rc;
	v = gq_json_get(req, "dryRun");
	if (v != NULL && !YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return gq_err_set(err, GQ_EINVAL, "request.dryRun: not a boolean");
	out->dry_run = YAJL_IS_TRUE(v);
	out->is_pod = kind_is_pod(req);
	out->is_pod_create = out->is_pod && strcmp(out->operation, "CREATE") == 0;
	if (!out->is_pod_create)
		return GQ_OK;
	return dec_pod(out, gq_json_get(req, "object"), err);
}

/* Whether a resources.requests or .limits object has a nvidia.com/...
 * member that is not null (every member counts, repeated or not, as in
 * read_res_map). */
static bool map_has_gpu(yajl_val map)
{
	size_t i;

	if (!YAJL_IS_OBJECT(map))
		return false;
	for (i = 0; i < map->u.object.len; i++)
		if (gq_adm_is_nvidia(map->u.object.keys[i], strlen(map->u.object.keys[i])) &&
		    !YAJL_IS_NULL(map->u.object.values[i]))
			return true;
	return false;
}

/* Whether the parsed review is a Pod CREATE whose pod carries GPU resources
 * (the rule in admission.h), on however many containers. */
static bool tree_gpu_pod_create(yajl_val doc)
{
	static const char *const lists[] = {"containers", "initContainers"};
	yajl_val req = gq_json_get(doc, "request"), spec, list, res;
	size_t li, i;

	if (!kind_is_pod(req) || !str_is(req, "operation", "CREATE"))
		return false;
	spec = gq_json_get(gq_json_get(req, "object"), "spec");
	for (li = 0; li < GQ_ARRAY_LEN(lists); li++) {
		list = gq_json_get(spec, lists[li]);
		if (!YAJL_IS_ARRAY(list))
			continue;
		for (i = 0; i < list->u.array.len; i++) {
			res = gq_json_get(list->u.array.values[i], "resources");
			if (map_has_gpu(gq_json_get(res, "requests")) ||
			    map_has_gpu(gq_json_get(res, "limits")))
				return true;
		}
	}
	return false;
}

/* Ownership: on success the caller owns *out (gq_adm_request_free); on error
 * *out is zeroed but for a refused GPU pod's uid (admission.h). body is
 * borrowed. */
int gq_admission_decode_tree(struct gq_adm_request *out, const char *body, size_t len,
			     struct gq_err *err)
{
	char ebuf[256] = "";
	yajl_val doc = NULL;
	char *text = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = gq_adm_check_body(body, len, err);
	if (rc != GQ_OK)
		return rc;
	if (gq_adm_json_depth(body, len) > MAX_DEPTH)
		return gq_err_set(err, GQ_EPARSE, "AdmissionReview: JSON nested deeper than %d",
				  MAX_DEPTH);
	text = gq_strndup(body, len);
	doc = yajl_tree_parse(text, ebuf, sizeof(ebuf));
	if (doc == NULL) {
		gq_adm_first_line(ebuf);
		rc = gq_err_set(err, GQ_EPARSE, "AdmissionReview: invalid JSON: %.200s", ebuf);
		goto out;
	}
	rc = dec_review(out, doc, err);
out:
	if (rc != GQ_OK)
		gq_adm_keep_refusal(out, out->uid != NULL && tree_gpu_pod_create(doc));
	yajl_tree_free(doc);
	free(text);
	return rc;
}
