/*
 * pod.c - the compact pod (pod.h): decoding the fields of a cached Pod
 * object that accounting uses, and what follows from them.
 */
#include "pod.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "json.h"
#include "quantity.h"

const char *const gq_pod_fields[] = {"metadata.uid",
				     "metadata.finalizers",
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

/* See pod.h. Every nvidia.com/ entry of every container is looked at
 * (on the stack for the usual small maps). */
bool gq_pod_is_gpu(yajl_val pod)
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

/* See pod.h. Every container and request reaches the cost model
 * (GQ_ETOOBIG past GQ_COST_MAX_REQS entries). */
int gq_pod_weight_json(struct gq_cost_weight *w, yajl_val pod, int64_t replicas,
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

/* See pod.h. */
bool gq_pod_marks(yajl_val pod, long *finalizer, long *gate)
{
	size_t i;

	*finalizer = finalizer_index(pod, GQ_ACCOUNTING_FINALIZER, &i) == GQ_OK ? (long)i : -1;
	*gate = gated(pod, &i) ? (long)i : -1;
	return *finalizer >= 0 || *gate >= 0;
}

/* A heap copy of the string at path in v, or NULL. */
static char *str_dup_at(yajl_val v, const char *const *path)
{
	const char *s = gq_json_str(v, path);

	return s ? gq_strdup(s) : NULL;
}

/* The latest time at field (a path) over the objects of array arr; 0 when
 * none has one. */
static int64_t latest_of(yajl_val arr, const char *const *field)
{
	int64_t end = 0;

	for (size_t i = 0; arr && YAJL_IS_ARRAY(arr) && i < arr->u.array.len; i++) {
		int64_t t = gq_json_time_ms(arr->u.array.values[i], field);

		if (t > end)
			end = t;
	}
	return end;
}

/* Folds the pod's containers into p->res (names copied), or sets p->res_rc
 * when the cost model refuses them. */
static void decode_res(struct gq_pod *p, yajl_val pod)
{
	struct gq_cost_container *cs;
	struct gq_cost_req *reqs, *eff = NULL;
	size_t nc = 0, n = 0, total = 0;

	p->res_rc = pod_containers(pod, &cs, &nc, &reqs);
	if (p->res_rc != GQ_OK)
		return;
	for (size_t i = 0; i < nc; i++)
		total += cs[i].n_reqs;
	eff = gq_calloc(total + 1, sizeof(*eff));
	p->res_rc = gq_cost_effective(eff, total, &n, cs, nc);
	if (p->res_rc == GQ_OK && n > 0) {
		p->res = gq_calloc(n, sizeof(*p->res));
		for (size_t i = 0; i < n; i++) {
			p->res[i].name = gq_strdup(eff[i].name);
			p->res[i].count = eff[i].count;
		}
		p->n_res = n;
	}
	free(eff);
	free(cs);
	free(reqs);
}

static void pack(struct gq_pod *p);

/* See pod.h. */
void gq_pod_decode(struct gq_pod *out, const char *key, yajl_val pod)
{
	const char *phase = gq_json_str(pod, GQ_PATH("status", "phase"));

	memset(out, 0, sizeof(*out));
	out->key = gq_strdup(key);
	out->uid = str_dup_at(pod, GQ_PATH("metadata", "uid"));
	out->node = str_dup_at(pod, GQ_PATH("spec", "nodeName"));
	out->priority_class = str_dup_at(pod, GQ_PATH("spec", "priorityClassName"));
	out->gpu = gq_pod_is_gpu(pod);
	if (out->gpu)
		decode_res(out, pod);
	out->terminal = phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
	out->deleting = gq_json_str(pod, GQ_PATH("metadata", "deletionTimestamp")) != NULL;
	out->deletion_ms = gq_json_time_ms(pod, GQ_PATH("metadata", "deletionTimestamp"));
	out->created_ms = gq_json_time_ms(pod, GQ_PATH("metadata", "creationTimestamp"));
	out->start_ms = gq_json_time_ms(pod, GQ_PATH("status", "startTime"));
	out->finished_ms = latest_of(
	    yajl_tree_get(pod, (const char *[]){"status", "containerStatuses", NULL}, yajl_t_array),
	    GQ_PATH("state", "terminated", "finishedAt"));
	out->condition_ms = latest_of(
	    yajl_tree_get(pod, (const char *[]){"status", "conditions", NULL}, yajl_t_array),
	    GQ_PATH("lastTransitionTime"));
	gq_pod_marks(pod, &out->finalizer, &out->gate);
	out->has_finalizers = yajl_tree_get(pod, (const char *[]){"metadata", "finalizers", NULL},
					    yajl_t_array) != NULL;
	pack(out);
}

/* The bytes the strings and resources of p take when packed. */
static size_t packed_len(const struct gq_pod *p)
{
	const char *strs[] = {p->key, p->uid, p->node, p->priority_class};
	size_t len = p->n_res * sizeof(*p->res);

	for (size_t i = 0; i < GQ_ARRAY_LEN(strs); i++)
		len += strs[i] ? strlen(strs[i]) + 1 : 0;
	for (size_t i = 0; i < p->n_res; i++)
		len += strlen(p->res[i].name) + 1;
	return len;
}

/* Copies s to *at (advanced) and returns the copy; NULL stays NULL. */
static char *put_str(char **at, const char *s)
{
	char *r;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	r = memcpy(*at, s, n);
	*at += n;
	return r;
}

/* Writes src's resources and strings into mem (packed_len(src) bytes,
 * aligned for struct gq_pod_res) and points dst's fields at them; dst->mem
 * is set to mem. src must not overlap mem. */
static void pack_into(struct gq_pod *dst, const struct gq_pod *src, char *mem)
{
	struct gq_pod_res *res = (struct gq_pod_res *)(void *)mem;
	char *at = mem + src->n_res * sizeof(*src->res);
	const char *strs[] = {src->key, src->uid, src->node, src->priority_class};
	char *out[GQ_ARRAY_LEN(strs)];

	for (size_t i = 0; i < src->n_res; i++) {
		res[i].count = src->res[i].count;
		res[i].name = put_str(&at, src->res[i].name);
	}
	for (size_t i = 0; i < GQ_ARRAY_LEN(strs); i++)
		out[i] = put_str(&at, strs[i]);
	dst->key = out[0];
	dst->uid = out[1];
	dst->node = out[2];
	dst->priority_class = out[3];
	dst->res = src->n_res ? res : NULL;
	dst->n_res = src->n_res;
	dst->mem = mem;
}

/* Frees the separately allocated strings and resources of a pod being
 * decoded (before it is packed). */
static void free_loose(struct gq_pod *p)
{
	for (size_t i = 0; i < p->n_res; i++)
		free(p->res[i].name);
	free(p->res);
	free(p->key);
	free(p->uid);
	free(p->node);
	free(p->priority_class);
}

/* Moves p's loose strings and resources into one block (p->mem). */
static void pack(struct gq_pod *p)
{
	struct gq_pod loose = *p;
	size_t len = packed_len(p);

	pack_into(p, &loose, gq_malloc(len ? len : 1));
	free_loose(&loose);
}

/* See pod.h. */
void gq_pod_free(struct gq_pod *p)
{
	free(p->mem);
	memset(p, 0, sizeof(*p));
}

/* See pod.h. */
void gq_pod_copy(struct gq_pod *dst, const struct gq_pod *src)
{
	size_t len = packed_len(src);

	*dst = *src;
	pack_into(dst, src, gq_malloc(len ? len : 1));
}

/* See pod.h. One allocation: the struct, then its strings. */
void *gq_pod_convert(const char *key, yajl_val pod)
{
	struct gq_pod p;
	size_t len;
	char *block;
	struct gq_pod *out;

	gq_pod_decode(&p, key, pod);
	len = packed_len(&p);
	block = gq_malloc(sizeof(p) + len);
	out = (struct gq_pod *)(void *)block;
	*out = p;
	pack_into(out, &p, block + sizeof(p));
	out->mem = NULL; /* inside the block: freed with it */
	gq_pod_free(&p);
	return out;
}

/* See pod.h. */
void gq_pod_release(void *pod)
{
	free(pod);
}

/* See pod.h. */
int64_t gq_pod_end(const struct gq_pod *p, int64_t now_ms)
{
	if (p->terminal) {
		if (p->finished_ms)
			return p->finished_ms;
		if (p->deletion_ms && p->deletion_ms <= now_ms)
			return p->deletion_ms;
		/* No finishedAt: the latest condition transition is when the
		 * pod was seen to terminate (never later than now). */
		return p->condition_ms && p->condition_ms <= now_ms ? p->condition_ms : now_ms;
	}
	if (p->deletion_ms && p->deletion_ms <= now_ms)
		return p->deletion_ms;
	return 0;
}

/* See pod.h. */
int gq_pod_weight(struct gq_cost_weight *w, const struct gq_pod *p, int64_t replicas,
		  const struct gq_res_list *overrides)
{
	struct gq_cost_req small[8] = {{NULL, 0}}, *eff;
	int rc;

	if (p->res_rc != GQ_OK)
		return p->res_rc;
	eff = p->n_res <= GQ_ARRAY_LEN(small) ? small : gq_calloc(p->n_res, sizeof(*eff));
	for (size_t i = 0; i < p->n_res; i++) {
		eff[i].name = p->res[i].name;
		eff[i].count = p->res[i].count;
	}
	rc = gq_cost_effective_weight(w, eff, p->n_res, replicas, overrides);
	if (eff != small)
		free(eff);
	return rc;
}
