/*
 * admission.c - AdmissionReview decoding, Pod admission decisions and
 * AdmissionReview response encoding for the gpuquota webhook. Pure: the
 * caller passes the body and a snapshot of the team; nothing here blocks,
 * locks or reads a clock.
 *
 * Decoding parses the body with yajl_tree after checking its size and
 * nesting depth (yajl_tree_free recurses, so depth must be bounded before
 * parsing). JSON null counts as "not given" everywhere, as in Go's decoder
 * for omitempty fields. Wire rules: kubernetes-api.md §4; patch rules for
 * priority fields: §3.4 (the Priority plugin runs again after our patch and
 * checks spec.priority / spec.preemptionPolicy against the new class).
 */
#include "admission.h"

#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "quantity.h"

/* Bounds on what is read from a review. */
#define MAX_DEPTH      128  /* JSON nesting */
#define MAX_UID	       256  /* request.uid */
#define MAX_STR	       1024 /* names, operation, class names */
#define MAX_RES_NAME   320  /* resource names: <prefix 253>/<name 63> */
#define MAX_CONTAINERS 1024 /* per list (containers, initContainers) */
#define MAX_RES	       64   /* distinct nvidia.com/... resources per pod */
#define MAX_GATES      256  /* spec.schedulingGates */
#define MAX_PATH       160  /* field paths in messages */

#define NVIDIA_PREFIX "nvidia.com/"
#define MIG_PREFIX    "nvidia.com/mig-"
#define GPU_RESOURCE  "nvidia.com/gpu"
#define API_VERSION   "admission.k8s.io/v1"

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* Member key of an object, NULL when absent, JSON null, or obj is not an
 * object. Borrowed. When a key repeats, the last one wins (as in Go). */
static yajl_val obj_get(yajl_val obj, const char *key)
{
	yajl_val v = NULL;
	size_t i;

	if (!YAJL_IS_OBJECT(obj))
		return NULL;
	for (i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			v = obj->u.object.values[i];
	return YAJL_IS_NULL(v) ? NULL : v;
}

/* Reads an optional string member into a new heap string (*out, caller
 * owns; left NULL when absent). GQ_EINVAL when it is not a string or is
 * longer than max; where names the field in the message. */
static int get_str(char **out, yajl_val obj, const char *key, size_t max, const char *where,
		   struct gq_err *err)
{
	yajl_val v = obj_get(obj, key);

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
	yajl_val v = obj_get(obj, key);

	if (v == NULL)
		return want[0] == '\0';
	return YAJL_IS_STRING(v) && strcmp(v->u.string, want) == 0;
}

/*
 * Maximum nesting depth of the JSON text body[0..len), counting '{' and '['
 * outside strings. Stops counting (returns MAX_DEPTH + 1) as soon as the
 * bound is passed. Malformed text is left to the parser.
 */
static int json_depth(const char *body, size_t len)
{
	bool in_str = false, esc = false;
	int depth = 0, max = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = body[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				max = depth;
			if (max > MAX_DEPTH)
				return max;
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--;
		}
	}
	return max;
}

/* ------------------------------------------------------------------ */
/* Pod resources                                                        */
/* ------------------------------------------------------------------ */

/* Per-resource accumulator while walking the pod's containers. */
struct acc {
	const char *name; /* borrowed from the tree */
	int64_t sum;	  /* containers + sidecar init containers */
	int64_t init_max; /* largest init-phase demand */
	int64_t sidecar;  /* sidecars started so far */
};

struct acc_table {
	struct acc items[MAX_RES];
	size_t n;
};

/* One container's nvidia.com/... demand. */
struct cres {
	const char *name; /* borrowed from the tree */
	int64_t count;
	bool from_request; /* set by requests (limits do not override it) */
};

struct cres_table {
	struct cres items[MAX_RES];
	size_t n;
};

/* Finds or adds name in the accumulator table; NULL when full. */
static struct acc *acc_slot(struct acc_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->items[i].name, name) == 0)
			return &t->items[i];
	if (t->n == MAX_RES)
		return NULL;
	t->items[t->n] = (struct acc){.name = name};
	return &t->items[t->n++];
}

/* Parses a quantity given as a JSON string or number into whole devices
 * (fractions round up, as Quantity.Value()). */
static int res_count(int64_t *out, yajl_val v, const char *path, struct gq_err *err)
{
	struct gq_quantity q;
	const char *s;
	int rc;

	if (YAJL_IS_STRING(v))
		s = v->u.string;
	else if (YAJL_IS_NUMBER(v))
		s = v->u.number.r;
	else
		return gq_err_set(err, GQ_EINVAL, "%s: not a quantity", path);
	rc = gq_quantity_parse(&q, s);
	if (rc != GQ_OK)
		return gq_err_set(err, rc == GQ_ERANGE ? GQ_ERANGE : GQ_EINVAL,
				  "%s: \"%.40s\" is not a valid quantity", path, s);
	if (q.milli < 0)
		return gq_err_set(err, GQ_EINVAL, "%s: must not be negative", path);
	*out = gq_quantity_value(&q);
	return GQ_OK;
}

/*
 * Reads one resource map (requests or limits) of a container into t:
 * requests set values, limits only fill resources with no request.
 */
static int read_res_map(struct cres_table *t, yajl_val map, bool is_request, const char *where,
			struct gq_err *err)
{
	char path[MAX_PATH];
	size_t i, j;
	int64_t n = 0;
	int rc;

	if (map == NULL)
		return GQ_OK;
	if (!YAJL_IS_OBJECT(map))
		return gq_err_set(err, GQ_EINVAL, "%s.%s: not an object", where,
				  is_request ? "requests" : "limits");
	for (i = 0; i < map->u.object.len; i++) {
		const char *key = map->u.object.keys[i];
		yajl_val v = map->u.object.values[i];

		if (!has_prefix(key, NVIDIA_PREFIX) || YAJL_IS_NULL(v))
			continue;
		if (strlen(key) > MAX_RES_NAME)
			return gq_err_set(err, GQ_EINVAL, "%s: resource name too long", where);
		snprintf(path, sizeof(path), "%s.%s[%.64s]", where,
			 is_request ? "requests" : "limits", key);
		rc = res_count(&n, v, path, err);
		if (rc != GQ_OK)
			return rc;
		for (j = 0; j < t->n; j++)
			if (strcmp(t->items[j].name, key) == 0)
				break;
		if (j == t->n) {
			if (t->n == MAX_RES)
				return gq_err_set(err, GQ_EINVAL,
						  "%s: more than %d nvidia.com resources", where,
						  MAX_RES);
			t->items[t->n++] = (struct cres){.name = key};
		}
		if (is_request || !t->items[j].from_request) {
			t->items[j].count = n;
			t->items[j].from_request = is_request;
		}
	}
	return GQ_OK;
}

/* Adds b to *a, GQ_ERANGE on overflow. */
static int add_checked(int64_t *a, int64_t b, const char *where, struct gq_err *err)
{
	if (__builtin_add_overflow(*a, b, a))
		return gq_err_set(err, GQ_ERANGE, "%s: GPU requests overflow", where);
	return GQ_OK;
}

/*
 * Folds one container into the accumulators. kind: 0 a regular container,
 * 1 an init container, 2 a sidecar (init container with restartPolicy
 * Always). Follows the scheduler's aggregation: sidecars count with the
 * regular containers and also stay running under every later init
 * container.
 */
static int fold_container(struct acc_table *acc, yajl_val c, int kind, const char *where,
			  struct gq_err *err)
{
	struct cres_table t = {.n = 0};
	char rwhere[MAX_PATH];
	yajl_val res;
	int64_t demand;
	size_t i;
	int rc;

	if (!YAJL_IS_OBJECT(c))
		return gq_err_set(err, GQ_EINVAL, "%s: not an object", where);
	snprintf(rwhere, sizeof(rwhere), "%s.resources", where);
	res = obj_get(c, "resources");
	if (res != NULL && !YAJL_IS_OBJECT(res))
		return gq_err_set(err, GQ_EINVAL, "%s: not an object", rwhere);
	rc = read_res_map(&t, obj_get(res, "requests"), true, rwhere, err);
	if (rc == GQ_OK)
		rc = read_res_map(&t, obj_get(res, "limits"), false, rwhere, err);
	if (rc != GQ_OK)
		return rc;
	for (i = 0; i < t.n; i++) {
		struct acc *a = acc_slot(acc, t.items[i].name);

		if (a == NULL)
			return gq_err_set(err, GQ_EINVAL, "pod: more than %d nvidia.com resources",
					  MAX_RES);
		if (kind == 0)
			rc = add_checked(&a->sum, t.items[i].count, where, err);
		else if (kind == 2) {
			/* the sidecars alone never exceed sum, which includes them */
			rc = add_checked(&a->sum, t.items[i].count, where, err);
			if (rc == GQ_OK)
				rc = add_checked(&a->sidecar, t.items[i].count, where, err);
		} else {
			demand = a->sidecar;
			rc = add_checked(&demand, t.items[i].count, where, err);
			if (rc == GQ_OK && demand > a->init_max)
				a->init_max = demand;
		}
		if (rc != GQ_OK)
			return rc;
	}
	return GQ_OK;
}

/* Folds every container of spec.<key> (containers or initContainers). */
static int fold_list(struct acc_table *acc, yajl_val spec, const char *key, bool init,
		     struct gq_err *err)
{
	char where[MAX_PATH];
	yajl_val list = obj_get(spec, key), c;
	size_t i;
	int rc, kind;

	if (list == NULL)
		return GQ_OK;
	if (!YAJL_IS_ARRAY(list))
		return gq_err_set(err, GQ_EINVAL, "spec.%s: not an array", key);
	if (list->u.array.len > MAX_CONTAINERS)
		return gq_err_set(err, GQ_EINVAL, "spec.%s: more than %d entries", key,
				  MAX_CONTAINERS);
	for (i = 0; i < list->u.array.len; i++) {
		c = list->u.array.values[i];
		snprintf(where, sizeof(where), "spec.%s[%zu]", key, i);
		kind = init ? (str_is(c, "restartPolicy", "Always") ? 2 : 1) : 0;
		rc = fold_container(acc, c, kind, where, err);
		if (rc != GQ_OK)
			return rc;
	}
	return GQ_OK;
}

static int cmp_gpu(const void *a, const void *b)
{
	return strcmp(((const struct gq_adm_gpu *)a)->resource,
		      ((const struct gq_adm_gpu *)b)->resource);
}

/* Computes the pod's effective nvidia.com/... requests into out->gpus
 * (positive counts only, sorted by name). */
static int dec_pod_gpus(struct gq_adm_request *out, yajl_val spec, struct gq_err *err)
{
	struct acc_table *acc = gq_calloc(1, sizeof(*acc));
	size_t i;
	int rc;

	rc = fold_list(acc, spec, "containers", false, err);
	if (rc == GQ_OK)
		rc = fold_list(acc, spec, "initContainers", true, err);
	if (rc != GQ_OK)
		goto out;
	out->gpus = gq_calloc(acc->n ? acc->n : 1, sizeof(*out->gpus));
	for (i = 0; i < acc->n; i++) {
		int64_t n = acc->items[i].sum > acc->items[i].init_max ? acc->items[i].sum
								       : acc->items[i].init_max;
		if (n <= 0)
			continue;
		out->gpus[out->n_gpus].resource = gq_strdup(acc->items[i].name);
		out->gpus[out->n_gpus].count = n;
		out->n_gpus++;
	}
	qsort(out->gpus, out->n_gpus, sizeof(*out->gpus), cmp_gpu);
out:
	free(acc);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                             */
/* ------------------------------------------------------------------ */

/* spec.schedulingGates: remembers whether the array exists and the names. */
static int dec_gates(struct gq_adm_request *out, yajl_val spec, struct gq_err *err)
{
	yajl_val gates = obj_get(spec, "schedulingGates"), g;
	char where[MAX_PATH];
	size_t i;
	int rc;

	if (gates == NULL)
		return GQ_OK;
	if (!YAJL_IS_ARRAY(gates))
		return gq_err_set(err, GQ_EINVAL, "spec.schedulingGates: not an array");
	if (gates->u.array.len > MAX_GATES)
		return gq_err_set(err, GQ_EINVAL, "spec.schedulingGates: more than %d entries",
				  MAX_GATES);
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
	yajl_val fins = obj_get(meta, "finalizers"), f;
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
		if (strcmp(f->u.string, GQ_ADMISSION_FINALIZER) == 0)
			out->has_accounting_finalizer = true;
	}
	return GQ_OK;
}

/* Reads the pod fields of request.object for a Pod CREATE. */
static int dec_pod(struct gq_adm_request *out, yajl_val pod, struct gq_err *err)
{
	yajl_val meta, spec, v;
	char *s = NULL;
	int rc;

	if (!YAJL_IS_OBJECT(pod))
		return gq_err_set(err, GQ_EINVAL, "request.object: a Pod CREATE needs the pod");
	meta = obj_get(pod, "metadata");
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

	spec = obj_get(pod, "spec");
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
	v = obj_get(spec, "priority");
	if (v != NULL && !YAJL_IS_INTEGER(v))
		return gq_err_set(err, GQ_EINVAL, "spec.priority: not an integer");
	out->has_priority = v != NULL;
	v = obj_get(spec, "preemptionPolicy");
	if (v != NULL && !YAJL_IS_STRING(v))
		return gq_err_set(err, GQ_EINVAL, "spec.preemptionPolicy: not a string");
	out->has_preemption_policy = v != NULL;
	v = obj_get(spec, "activeDeadlineSeconds");
	if (v != NULL && !YAJL_IS_INTEGER(v))
		return gq_err_set(err, GQ_EINVAL, "spec.activeDeadlineSeconds: not an integer");
	if (v != NULL && YAJL_GET_INTEGER(v) > 0)
		out->active_deadline = YAJL_GET_INTEGER(v);
	rc = dec_gates(out, spec, err);
	if (rc != GQ_OK)
		return rc;
	return dec_pod_gpus(out, spec, err);
}

/* Reads request.kind: whether the object is a core/v1 Pod. */
static bool kind_is_pod(yajl_val req)
{
	yajl_val kind = obj_get(req, "kind");

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
	v = obj_get(doc, "apiVersion");
	if (!YAJL_IS_STRING(v) || strcmp(v->u.string, API_VERSION) != 0)
		return gq_err_set(err, GQ_EINVAL,
				  "AdmissionReview: apiVersion \"%.64s\" is not supported "
				  "(want " API_VERSION ")",
				  YAJL_IS_STRING(v) ? v->u.string : "");
	v = obj_get(doc, "kind");
	if (!YAJL_IS_STRING(v) || strcmp(v->u.string, "AdmissionReview") != 0)
		return gq_err_set(err, GQ_EINVAL,
				  "AdmissionReview: kind \"%.64s\" is not AdmissionReview",
				  YAJL_IS_STRING(v) ? v->u.string : "");
	req = obj_get(doc, "request");
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
	v = obj_get(req, "dryRun");
	if (v != NULL && !YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return gq_err_set(err, GQ_EINVAL, "request.dryRun: not a boolean");
	out->dry_run = YAJL_IS_TRUE(v);
	out->is_pod = kind_is_pod(req);
	out->is_pod_create = out->is_pod && strcmp(out->operation, "CREATE") == 0;
	if (!out->is_pod_create)
		return GQ_OK;
	return dec_pod(out, obj_get(req, "object"), err);
}

/* Keeps the first line of a yajl parse error ("parse error: premature
 * EOF"); the next lines quote the input around the error. */
static void first_line(char *s)
{
	size_t n = strcspn(s, "\r\n");

	s[n] = '\0';
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
}

int gq_admission_decode(struct gq_adm_request *out, const char *body, size_t len,
			struct gq_err *err)
{
	char ebuf[256] = "";
	yajl_val doc = NULL;
	char *text = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > GQ_ADMISSION_MAX_BODY)
		return gq_err_set(err, GQ_ETOOBIG, "AdmissionReview: body of %zu bytes exceeds %u",
				  len, GQ_ADMISSION_MAX_BODY);
	if (body == NULL || len == 0)
		return gq_err_set(err, GQ_EPARSE, "AdmissionReview: empty body");
	if (memchr(body, '\0', len) != NULL)
		return gq_err_set(err, GQ_EPARSE, "AdmissionReview: NUL byte in body");
	if (json_depth(body, len) > MAX_DEPTH)
		return gq_err_set(err, GQ_EPARSE, "AdmissionReview: JSON nested deeper than %d",
				  MAX_DEPTH);
	text = gq_strndup(body, len);
	doc = yajl_tree_parse(text, ebuf, sizeof(ebuf));
	if (doc == NULL) {
		first_line(ebuf);
		rc = gq_err_set(err, GQ_EPARSE, "AdmissionReview: invalid JSON: %.200s", ebuf);
		goto out;
	}
	rc = dec_review(out, doc, err);
out:
	if (rc != GQ_OK)
		gq_adm_request_free(out);
	yajl_tree_free(doc);
	free(text);
	return rc;
}

void gq_adm_request_free(struct gq_adm_request *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->uid);
	free(r->operation);
	free(r->namespace);
	free(r->name);
	free(r->generate_name);
	free(r->priority_class);
	for (i = 0; i < r->n_gates; i++)
		free(r->gates[i]);
	free(r->gates);
	for (i = 0; i < r->n_gpus; i++)
		free(r->gpus[i].resource);
	free(r->gpus);
	memset(r, 0, sizeof(*r));
}

int64_t gq_adm_request_count(const struct gq_adm_request *r, const char *resource)
{
	size_t i;

	for (i = 0; i < r->n_gpus; i++)
		if (strcmp(r->gpus[i].resource, resource) == 0)
			return r->gpus[i].count;
	return 0;
}

bool gq_adm_request_is_gpu_pod(const struct gq_adm_request *r)
{
	size_t i;

	for (i = 0; i < r->n_gpus; i++)
		if (r->gpus[i].count > 0)
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* Weights and cost                                                     */
/* ------------------------------------------------------------------ */

int64_t gq_admission_default_weight(const char *resource)
{
	const char *p;
	int64_t g = 0;

	if (strcmp(resource, GPU_RESOURCE) == 0 || strcmp(resource, GPU_RESOURCE ".shared") == 0)
		return GQ_ADMISSION_GPU_MICRO;
	if (!has_prefix(resource, NVIDIA_PREFIX))
		return 0;
	if (!has_prefix(resource, MIG_PREFIX))
		return GQ_ADMISSION_GPU_MICRO;
	p = resource + strlen(MIG_PREFIX);
	while (*p >= '0' && *p <= '9' && g <= 7)
		g = g * 10 + (*p++ - '0');
	if (g < 1 || g > 7 || p[0] != 'g' || p[1] != '.')
		return GQ_ADMISSION_GPU_MICRO;
	p += 2;
	if (*p < '0' || *p > '9')
		return GQ_ADMISSION_GPU_MICRO;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p[0] != 'g' || p[1] != 'b')
		return GQ_ADMISSION_GPU_MICRO;
	return g * GQ_ADMISSION_GPU_MICRO / 7;
}

/* Weight of a resource for this team: its override, else the built-in. */
static int64_t team_weight(const struct gq_adm_team *team, const char *resource)
{
	size_t i;

	for (i = 0; i < team->n_weights; i++)
		if (team->weights[i].resource != NULL &&
		    strcmp(team->weights[i].resource, resource) == 0)
			return team->weights[i].micro > 0 ? team->weights[i].micro : 0;
	return gq_admission_default_weight(resource);
}

/* a * b for non-negative operands, saturating at INT64_MAX. */
static int64_t mul_sat(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_mul_overflow(a, b, &r))
		return INT64_MAX;
	return r;
}

static int64_t add_sat(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return INT64_MAX;
	return r;
}

/* The pod's weight in micro GPU-equivalents (saturating). */
static int64_t pod_weight(const struct gq_adm_request *req, const struct gq_adm_team *team)
{
	int64_t w = 0;
	size_t i;

	for (i = 0; i < req->n_gpus; i++)
		w = add_sat(w,
			    mul_sat(req->gpus[i].count, team_weight(team, req->gpus[i].resource)));
	return w;
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
/* JSON Patch                                                           */
/* ------------------------------------------------------------------ */

enum val_kind { VAL_NONE, VAL_STR, VAL_INT, VAL_GATE, VAL_GATE_LIST };

/* One JSON Patch operation; strings are borrowed (the request or team). */
struct op {
	const char *op;
	const char *path;
	enum val_kind kind;
	const char *s;
	int64_t i;
};

struct patch {
	struct op ops[8];
	size_t n;
};

/* Sets the operation on path, replacing an earlier one on the same path
 * in place (a patch never names a path twice). */
static void patch_set(struct patch *p, const char *op, const char *path, enum val_kind kind,
		      const char *s, int64_t i)
{
	struct op o = {.op = op, .path = path, .kind = kind, .s = s, .i = i};
	size_t k;

	for (k = 0; k < p->n; k++) {
		if (strcmp(p->ops[k].path, path) == 0) {
			p->ops[k] = o;
			return;
		}
	}
	if (p->n < GQ_ARRAY_LEN(p->ops))
		p->ops[p->n++] = o;
}

/* yajl allocation through the project's abort-on-OOM wrappers. */
static void *ya_malloc(void *ctx, size_t n)
{
	(void)ctx;
	return gq_malloc(n);
}

static void *ya_realloc(void *ctx, void *p, size_t n)
{
	(void)ctx;
	return gq_realloc(p, n);
}

static void ya_free(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

static yajl_alloc_funcs ya_funcs = {ya_malloc, ya_realloc, ya_free, NULL};

/* JSON writer with a sticky error flag. */
struct jw {
	yajl_gen g;
	bool bad;
};

static void jw_init(struct jw *w)
{
	w->g = yajl_gen_alloc(&ya_funcs);
	if (w->g == NULL) {
		fputs("gpuquota: out of memory allocating a JSON generator\n", stderr);
		abort();
	}
	yajl_gen_config(w->g, yajl_gen_validate_utf8, 1);
	w->bad = false;
}

static void jw_check(struct jw *w, yajl_gen_status st)
{
	if (st != yajl_gen_status_ok)
		w->bad = true;
}

static void jw_str(struct jw *w, const char *s)
{
	jw_check(w, yajl_gen_string(w->g, (const unsigned char *)s, strlen(s)));
}

static void jw_int(struct jw *w, int64_t i)
{
	jw_check(w, yajl_gen_integer(w->g, (long long)i));
}

static void jw_map_open(struct jw *w)
{
	jw_check(w, yajl_gen_map_open(w->g));
}

static void jw_map_close(struct jw *w)
{
	jw_check(w, yajl_gen_map_close(w->g));
}

static void jw_array_open(struct jw *w)
{
	jw_check(w, yajl_gen_array_open(w->g));
}

static void jw_array_close(struct jw *w)
{
	jw_check(w, yajl_gen_array_close(w->g));
}

/* Returns the generated text as a new heap string (caller frees), or NULL
 * when a call failed; frees the generator either way. */
static char *jw_finish(struct jw *w)
{
	const unsigned char *buf;
	size_t len;
	char *s = NULL;

	if (!w->bad && yajl_gen_get_buf(w->g, &buf, &len) == yajl_gen_status_ok)
		s = gq_strndup((const char *)buf, len);
	yajl_gen_free(w->g);
	w->g = NULL;
	return s;
}

static void jw_gate(struct jw *w)
{
	jw_map_open(w);
	jw_str(w, "name");
	jw_str(w, GQ_ADMISSION_GATE);
	jw_map_close(w);
}

/* The patch as JSON text (new heap string), NULL when it is empty or a
 * string was not valid UTF-8. */
static char *patch_json(const struct patch *p)
{
	struct jw w;
	size_t k;

	if (p->n == 0)
		return NULL;
	jw_init(&w);
	jw_array_open(&w);
	for (k = 0; k < p->n; k++) {
		const struct op *o = &p->ops[k];

		jw_map_open(&w);
		jw_str(&w, "op");
		jw_str(&w, o->op);
		jw_str(&w, "path");
		jw_str(&w, o->path);
		if (o->kind != VAL_NONE)
			jw_str(&w, "value");
		switch (o->kind) {
		case VAL_NONE: break;
		case VAL_STR: jw_str(&w, o->s); break;
		case VAL_INT: jw_int(&w, o->i); break;
		case VAL_GATE: jw_gate(&w); break;
		case VAL_GATE_LIST:
			jw_array_open(&w);
			jw_gate(&w);
			jw_array_close(&w);
			break;
		}
		jw_map_close(&w);
	}
	jw_array_close(&w);
	return jw_finish(&w);
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
static void patch_default_class(struct patch *p, const struct gq_adm_request *req,
				const struct gq_adm_team *team)
{
	patch_set(p, "add", "/spec/priorityClassName", VAL_STR, team->default_class, 0);
	if (team->default_preemption_policy != NULL) {
		patch_set(p, "add", "/spec/priority", VAL_INT, NULL, team->default_value);
		patch_set(p, "add", "/spec/preemptionPolicy", VAL_STR,
			  team->default_preemption_policy, 0);
		return;
	}
	if (req->has_priority)
		patch_set(p, "remove", "/spec/priority", VAL_NONE, NULL, 0);
	if (req->has_preemption_policy)
		patch_set(p, "remove", "/spec/preemptionPolicy", VAL_NONE, NULL, 0);
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
static void apply_policy(struct gq_adm_response *out, struct patch *p,
			 const struct gq_adm_request *req, const struct gq_adm_team *team,
			 const struct budget_view *b)
{
	char *what;

	if (team->policy == GQ_EXHAUSTED_HOLD) {
		if (!in_list(GQ_ADMISSION_GATE, (const char *const *)req->gates, req->n_gates)) {
			if (req->has_gates)
				patch_set(p, "add", "/spec/schedulingGates/-", VAL_GATE, NULL, 0);
			else
				patch_set(p, "add", "/spec/schedulingGates", VAL_GATE_LIST, NULL,
					  0);
		}
		if (b->reset != NULL)
			what = gq_asprintf("pod held by gate " GQ_ADMISSION_GATE " until %s",
					   b->reset);
		else
			what = gq_strdup("pod held by gate " GQ_ADMISSION_GATE
					 " until budget is available");
		add_warning(out, budget_warning(team, b, what));
		free(what);
		out->action = GQ_ADM_HOLD;
		return;
	}
	if (team->policy == GQ_EXHAUSTED_DEPRIORITIZE && team->over_budget_class != NULL) {
		patch_set(p, "add", "/spec/priorityClassName", VAL_STR, team->over_budget_class, 0);
		patch_set(p, "add", "/spec/priority", VAL_INT, NULL, team->over_budget_value);
		patch_set(p, "add", "/spec/preemptionPolicy", VAL_STR, "Never", 0);
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
static void check_budget(struct gq_adm_response *out, struct patch *p,
			 const struct gq_adm_request *req, const struct gq_adm_team *team)
{
	struct budget_view b = {.reset = team->reset_time};
	int64_t left = 0;
	__int128 pct;

	if (!team->has_budget)
		return;
	b.exhausted = team->used_micro >= team->budget_micro;
	if (!b.exhausted)
		left = team->budget_micro - team->used_micro;
	b.weight = pod_weight(req, team);
	if (req->active_deadline > 0)
		b.cost = mul_sat(b.weight, req->active_deadline);
	fmt_hours(b.used, team->used_micro);
	fmt_hours(b.total, team->budget_micro);
	fmt_hours(b.left, left);
	fmt_hours(b.cost_h, b.cost);
	fmt_frac(b.gpus, b.weight, GQ_ADMISSION_GPU_MICRO);
	if (b.exhausted || b.cost > left) {
		apply_policy(out, p, req, team, &b);
		return;
	}
	if (team->warn_at_percent <= 0 || team->budget_micro <= 0)
		return;
	if ((__int128)team->used_micro * 100 < (__int128)team->warn_at_percent * team->budget_micro)
		return;
	pct = (__int128)team->used_micro * 100 / team->budget_micro;
	add_warning(out, gq_asprintf("team %s has used %d%% of its GPU-hour budget (%s of %s "
				     "GPU-hours)%s%s",
				     team->name, (int)pct, b.used, b.total,
				     b.reset != NULL ? "; resets at " : "",
				     b.reset != NULL ? b.reset : ""));
}

int gq_admission_decide(struct gq_adm_response *out, const struct gq_adm_request *req,
			const struct gq_adm_team *team)
{
	struct patch p = {.n = 0};
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

	gpus = gq_adm_request_count(req, GPU_RESOURCE);
	if (team->max_gpus_per_pod > 0 && gpus > team->max_gpus_per_pod) {
		label = pod_label(req);
		deny(out, GQ_ADM_DENY_CAP,
		     gq_asprintf("%s requests %lld GPUs; team %s allows at most %lld per pod",
				 label, (long long)gpus, team->name,
				 (long long)team->max_gpus_per_pod));
		free(label);
		return GQ_OK;
	}

	if (cls != NULL && in_list(cls, team->exempt_classes, team->n_exempt))
		out->action = GQ_ADM_EXEMPT;
	else
		check_budget(out, &p, req, team);

	if (out->allowed)
		out->patch = patch_json(&p);
	return GQ_OK;
}

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

char *gq_admission_encode(const struct gq_adm_response *resp, const char *uid)
{
	struct jw w;
	char *b64;
	size_t i;

	if (resp == NULL || uid == NULL)
		return NULL;
	jw_init(&w);
	jw_map_open(&w);
	jw_str(&w, "apiVersion");
	jw_str(&w, API_VERSION);
	jw_str(&w, "kind");
	jw_str(&w, "AdmissionReview");
	jw_str(&w, "response");
	jw_map_open(&w);
	jw_str(&w, "uid");
	jw_str(&w, uid);
	jw_str(&w, "allowed");
	jw_check(&w, yajl_gen_bool(w.g, resp->allowed));
	if (!resp->allowed) {
		jw_str(&w, "status");
		jw_map_open(&w);
		jw_str(&w, "code");
		jw_int(&w, resp->code > 0 ? resp->code : 403);
		jw_str(&w, "reason");
		jw_str(&w, resp->reason != NULL ? resp->reason : "Forbidden");
		if (resp->message != NULL) {
			jw_str(&w, "message");
			jw_str(&w, resp->message);
		}
		jw_map_close(&w);
	} else if (resp->patch != NULL && resp->patch[0] != '\0') {
		b64 = base64(resp->patch);
		jw_str(&w, "patchType");
		jw_str(&w, "JSONPatch");
		jw_str(&w, "patch");
		jw_str(&w, b64);
		free(b64);
	}
	if (resp->n_warnings > 0) {
		jw_str(&w, "warnings");
		jw_array_open(&w);
		for (i = 0; i < resp->n_warnings; i++)
			jw_str(&w, resp->warnings[i]);
		jw_array_close(&w);
	}
	jw_map_close(&w);
	jw_map_close(&w);
	return jw_finish(&w);
}
