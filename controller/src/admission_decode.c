/*
 * admission_decode.c - decoding an AdmissionReview (admission.k8s.io/v1)
 * for the gpuquota webhook: gq_admission_decode, one streaming pass of
 * yajl's callback parser that buffers only the members it reads (see
 * "Streaming decoder" below), and the request it fills (gq_adm_request_*).
 * Pure: no I/O, no locks, no clocks. The contract is admission.h's.
 *
 * The rules a second decoder of the same contract must share are here too,
 * exported through admission_int.h: the checks before parsing, what a failed
 * decode keeps, the reading of a container's nvidia.com/... requests and
 * limits, and their fold into the pod's effective requests (the cost
 * model's rule, cost.h). The tests' reference decoder
 * (test/oracle/admission_tree.c) walks a yajl_tree with them, and the
 * differential tests compare the two. JSON null counts as "not given"
 * everywhere, as in Go's decoder for omitempty fields; a key that repeats
 * counts once, the last. Wire rules: kubernetes-api.md §4.
 */
#include "admission.h"
#include "admission_int.h"

#include "cost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "quantity.h"

/* Bounds on what is read from a review (admission.h says what each is). */
#define MAX_DEPTH      GQ_ADMISSION_MAX_DEPTH
#define MAX_UID	       GQ_ADMISSION_MAX_UID
#define MAX_STR	       GQ_ADMISSION_MAX_STR
#define MAX_RES_NAME   GQ_ADMISSION_MAX_RES_NAME
#define MAX_CONTAINERS GQ_ADMISSION_MAX_CONTAINERS
#define MAX_RES	       GQ_ADMISSION_MAX_RESOURCES
#define MAX_GATES      GQ_ADMISSION_MAX_GATES
#define MAX_PATH       GQ_ADM_MAX_PATH
#define MAX_QTY	       65 /* quantity text kept: gq_quantity_parse reads <= 64 */

#define API_VERSION GQ_ADMISSION_API_VERSION

/* ------------------------------------------------------------------ */
/* Before and after parsing                                             */
/* ------------------------------------------------------------------ */

/* Ownership: body is borrowed. */
int gq_adm_check_body(const char *body, size_t len, struct gq_err *err)
{
	if (len > GQ_ADMISSION_MAX_BODY)
		return gq_err_set(err, GQ_ETOOBIG, "AdmissionReview: body of %zu bytes exceeds %u",
				  len, GQ_ADMISSION_MAX_BODY);
	if (body == NULL || len == 0)
		return gq_err_set(err, GQ_EPARSE, "AdmissionReview: empty body");
	if (memchr(body, '\0', len) != NULL)
		return gq_err_set(err, GQ_EPARSE, "AdmissionReview: NUL byte in body");
	return GQ_OK;
}

/*
 * Ownership: body is borrowed. A quote or bracket inside a comment must not
 * count: a quote there once hid all later brackets, and yajl_tree_free then
 * recursed as deep as the body allowed.
 */
int gq_adm_json_depth(const char *body, size_t len)
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
		} else if (c == '/' && i + 1 < len && body[i + 1] == '/') {
			/* to the end of the line, as yajl's lexer */
			for (i += 2; i < len && body[i] != '\n'; i++)
				;
		} else if (c == '/' && i + 1 < len && body[i + 1] == '*') {
			for (i += 2; i + 1 < len && !(body[i] == '*' && body[i + 1] == '/'); i++)
				;
			i++; /* on the closing '/', or past the end when unterminated */
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
/* Ownership: s is the caller's, modified in place. */
void gq_adm_first_line(char *s)
{
	size_t n = strcspn(s, "\r\n");

	s[n] = '\0';
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
}

/* Ownership: what out keeps (the uid) stays out's; the rest is freed. */
void gq_adm_keep_refusal(struct gq_adm_request *out, bool gpu)
{
	char *uid = out->uid;

	out->uid = NULL;
	gq_adm_request_free(out);
	if (gpu && uid != NULL && uid[0] != '\0') {
		out->uid = uid;
		out->refused_gpu_pod = true;
	} else {
		free(uid);
	}
}

/* ------------------------------------------------------------------ */
/* Pod resources                                                        */
/* ------------------------------------------------------------------ */

/* Finds or adds name (borrowed; must outlive t) in the accumulator table;
 * NULL when full. */
static struct gq_adm_acc *acc_slot(struct gq_adm_acc_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->items[i].name, name) == 0)
			return &t->items[i];
	if (t->n == MAX_RES)
		return NULL;
	t->items[t->n] = (struct gq_adm_acc){.name = name};
	return &t->items[t->n++];
}

/* Parses a quantity's text (a JSON string, or a number's literal text) into
 * whole devices (fractions round up, as Quantity.Value()). path names the
 * field in messages; err may be NULL. */
static int quantity_count(int64_t *out, const char *s, const char *path, struct gq_err *err)
{
	struct gq_quantity q;
	int rc;

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
 * Records n devices of resource name (borrowed; must outlive t) in one
 * container's table: requests set values, limits only fill resources with
 * no request. GQ_EINVAL when the table is full.
 */
static int cres_set(struct gq_adm_cres_table *t, const char *name, int64_t n, bool is_request,
		    const char *where, struct gq_err *err)
{
	size_t j;

	for (j = 0; j < t->n; j++)
		if (strcmp(t->items[j].name, name) == 0)
			break;
	if (j == t->n) {
		if (t->n == MAX_RES)
			return gq_err_set(err, GQ_EINVAL,
					  "pod has more than %d distinct nvidia.com/* resources "
					  "(limit %d) in %s",
					  MAX_RES, MAX_RES, where);
		t->items[t->n++] = (struct gq_adm_cres){.name = name};
	}
	if (is_request || !t->items[j].from_request) {
		t->items[j].count = n;
		t->items[j].from_request = is_request;
	}
	return GQ_OK;
}

/* Ownership: key stays the caller's and is borrowed by t; qty and where are
 * borrowed for the call. The member's path is formatted only for an error
 * message (most members are valid). */
int gq_adm_res_member(struct gq_adm_cres_table *t, const char *key, size_t key_len, const char *qty,
		      bool is_request, const char *where, struct gq_err *err)
{
	const char *what = is_request ? "requests" : "limits";
	char path[MAX_PATH];
	int64_t n = 0;
	int rc = GQ_EINVAL;

	if (key_len > MAX_RES_NAME)
		return gq_err_set(err, GQ_EINVAL,
				  "%s: a nvidia.com/* resource name is longer than %d bytes "
				  "(limit %d)",
				  where, MAX_RES_NAME, MAX_RES_NAME);
	if (qty != NULL)
		rc = quantity_count(&n, qty, "", NULL);
	if (rc != GQ_OK) {
		snprintf(path, sizeof(path), "%s.%s[%.64s]", where, what, key);
		if (qty == NULL)
			return gq_err_set(err, GQ_EINVAL, "%s: not a quantity", path);
		return quantity_count(&n, qty, path, err);
	}
	return cres_set(t, key, n, is_request, where, err);
}

/* Ownership: acc borrows the names of t. */
int gq_adm_fold_cres(struct gq_adm_acc_table *acc, const struct gq_adm_cres_table *t,
		     enum gq_cost_kind kind, const char *where, struct gq_err *err)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		struct gq_adm_acc *a = acc_slot(acc, t->items[i].name);

		if (a == NULL)
			return gq_err_set(err, GQ_EINVAL,
					  "pod has more than %d distinct nvidia.com/* resources "
					  "(limit %d)",
					  MAX_RES, MAX_RES);
		if (gq_cost_acc_add(&a->a, kind, t->items[i].count) != GQ_OK)
			return gq_err_set(err, GQ_ERANGE, "%s: GPU requests overflow", where);
	}
	return GQ_OK;
}

static int cmp_gpu(const void *a, const void *b)
{
	return strcmp(((const struct gq_adm_gpu *)a)->resource,
		      ((const struct gq_adm_gpu *)b)->resource);
}

/* Ownership: out owns the new array and strings; acc is borrowed. */
void gq_adm_gpus_from_acc(struct gq_adm_request *out, const struct gq_adm_acc_table *acc)
{
	size_t i;

	out->gpus = gq_calloc(acc->n ? acc->n : 1, sizeof(*out->gpus));
	for (i = 0; i < acc->n; i++) {
		int64_t n = gq_cost_acc_effective(&acc->items[i].a);

		if (n <= 0)
			continue;
		out->gpus[out->n_gpus].resource = gq_strdup(acc->items[i].name);
		out->gpus[out->n_gpus].count = n;
		out->n_gpus++;
	}
	qsort(out->gpus, out->n_gpus, sizeof(*out->gpus), cmp_gpu);
}

/* ------------------------------------------------------------------ */
/* Streaming decoder                                                    */
/* ------------------------------------------------------------------ */

/*
 * gq_admission_decode runs yajl's callback parser over the body once. The
 * callbacks keep a stack of where they are (a frame per open object or
 * array: one of the members below, or N_SKIP for anything else, whose
 * contents are only counted for depth) and buffer the members that the
 * contract reads: scalars as typed values with their text capped at what
 * the checks need, objects and arrays as their type plus what was buffered
 * inside them. Keys come in any order and may repeat: as the last
 * occurrence counts, a repeated member first drops what was buffered for
 * the earlier one. Nothing is checked before the whole body has parsed (a
 * syntax error anywhere wins over any other error); then sax_review checks
 * the buffered values in a fixed order (that of a tree walk: the review,
 * the request, metadata, spec, gates, containers) with fixed messages, so
 * that the first error reported is the same whatever the key order. The
 * tests' reference decoder (test/oracle/admission_tree.c) walks a yajl_tree
 * in that order; each sax_* check below names the function of the
 * reference it must agree with.
 *
 * Containers past GQ_ADMISSION_MAX_CONTAINERS are not kept (the list is
 * refused by its count), but they are still read, into one scratch record
 * (sax.xcont), for whether they carry GPU resources: a refused GPU pod is
 * denied rather than answered 400 (admission.h).
 *
 * yajl hands strings over with their length and may include NUL bytes
 * (from \u0000); yajl_tree keeps them as C strings, so every string and key
 * here is cut at its first NUL too, as the reference decoder sees them.
 *
 * Memory: the buffered text lives in one arena, the container, gate and
 * resource records in three vectors, all starting in storage inside struct
 * sax (on the caller's stack) and moving to the heap only past that; yajl's
 * own allocations come from a bump area there as well. A typical review
 * allocates only the strings of the result.
 */

/* Type of a buffered member. JSON null counts as absent. */
enum sv_type { SV_ABSENT = 0, SV_STR, SV_NUM, SV_TRUE, SV_FALSE, SV_OBJ, SV_ARR };

/* A buffered scalar (or only the type of an object or array). */
struct sval {
	uint8_t type; /* enum sv_type */
	bool is_int;  /* SV_NUM: an integer that fits int64 (YAJL_IS_INTEGER) */
	int64_t i;    /* is_int: its value */
	size_t off;   /* SV_STR, SV_NUM: text in the arena, capped, NUL-terminated */
	size_t len;   /* its full length (a string's up to its first NUL) */
};

/* What an open object or array is. */
enum sax_node {
	N_SKIP = 0, /* nothing read inside */
	N_DOC,	    /* before the top-level value (stack bottom) */
	N_ROOT,	    /* the review */
	N_REQ,	    /* request */
	N_KIND,	    /* request.kind */
	N_POD,	    /* request.object */
	N_META,	    /* request.object.metadata */
	N_FINS,	    /* metadata.finalizers */
	N_SPEC,	    /* request.object.spec */
	N_GATES,    /* spec.schedulingGates */
	N_GATE,	    /* spec.schedulingGates[i] */
	N_TOLS,	    /* spec.tolerations */
	N_TOL,	    /* spec.tolerations[i] */
	N_LIST,	    /* spec.containers (aux 0) or spec.initContainers (aux 1) */
	N_CONT,	    /* a container of list aux & AUX_LIST */
	N_RES,	    /* its resources */
	N_RMAP,	    /* resources.requests or .limits (aux & AUX_MAP: limits) */
};

/* aux of N_LIST, N_CONT, N_RES and N_RMAP frames. */
#define AUX_LIST   1 /* initContainers (else containers) */
#define AUX_MAP	   2 /* N_RMAP: limits (else requests) */
#define AUX_UNKEPT 4 /* a container past the kept ones: in sax.xcont */

/* Members read per node, as indexes into these tables (ended by NULL). */
struct sax_key {
	const char *name;
	size_t len;
};
/* clang-format off */
#define KEY(s) { s, sizeof(s) - 1 }
/* clang-format on */

enum { RK_API, RK_KIND, RK_REQUEST };
static const struct sax_key root_keys[] = {
    KEY("apiVersion"), KEY("kind"), KEY("request"), {NULL, 0}};
enum { QK_UID, QK_OP, QK_NS, QK_NAME, QK_DRY, QK_KIND, QK_SUB, QK_OBJECT };
static const struct sax_key req_keys[] = {KEY("uid"),	      KEY("operation"), KEY("namespace"),
					  KEY("name"),	      KEY("dryRun"),	KEY("kind"),
					  KEY("subResource"), KEY("object"),	{NULL, 0}};
enum { KK_GROUP, KK_KIND };
static const struct sax_key kind_keys[] = {KEY("group"), KEY("kind"), {NULL, 0}};
enum { PK_META, PK_SPEC };
static const struct sax_key pod_keys[] = {KEY("metadata"), KEY("spec"), {NULL, 0}};
enum { MK_GEN, MK_NAME, MK_NS, MK_FINS };
static const struct sax_key meta_keys[] = {
    KEY("generateName"), KEY("name"), KEY("namespace"), KEY("finalizers"), {NULL, 0}};
enum { SK_PCN, SK_PRIO, SK_PP, SK_ADS, SK_GATES, SK_CONTAINERS, SK_INIT, SK_NSEL, SK_TOLS };
static const struct sax_key spec_keys[] = {KEY("priorityClassName"), KEY("priority"),
					   KEY("preemptionPolicy"),  KEY("activeDeadlineSeconds"),
					   KEY("schedulingGates"),   KEY("containers"),
					   KEY("initContainers"),    KEY("nodeSelector"),
					   KEY("tolerations"),	     {NULL, 0}};
enum { GK_NAME };
static const struct sax_key gate_keys[] = {KEY("name"), {NULL, 0}};
enum { TK_KEY, TK_OP, TK_EFFECT };
static const struct sax_key tol_keys[] = {KEY("key"), KEY("operator"), KEY("effect"), {NULL, 0}};
enum { CK_RESTART, CK_RES };
static const struct sax_key cont_keys[] = {KEY("restartPolicy"), KEY("resources"), {NULL, 0}};
enum { EK_REQUESTS, EK_LIMITS };
static const struct sax_key res_keys[] = {KEY("requests"), KEY("limits"), {NULL, 0}};
#define RMK_NVIDIA 0 /* N_RMAP: a nvidia.com/... key (in sax.rkey) */

static const struct sax_key *const node_keys[] = {
    [N_ROOT] = root_keys, [N_REQ] = req_keys,	[N_KIND] = kind_keys,
    [N_POD] = pod_keys,	  [N_META] = meta_keys, [N_SPEC] = spec_keys,
    [N_GATE] = gate_keys, [N_CONT] = cont_keys, [N_RES] = res_keys,
    [N_TOL] = tol_keys,
};

/* A container (an element of containers or initContainers). */
struct sax_cont {
	uint8_t type;	       /* the element's type; only objects are containers */
	bool always;	       /* restartPolicy is "Always" (a sidecar) */
	uint8_t res;	       /* type of resources */
	uint8_t map[2];	       /* types of resources.requests and .limits */
	size_t first[2], n[2]; /* their nvidia.com/... members, in sax.ents */
};

/* A nvidia.com/... member of requests or limits whose value is not null. */
struct sax_ent {
	size_t key, key_len; /* name in the arena (capped at MAX_RES_NAME), full length */
	struct sval v;	     /* quantity text capped at MAX_QTY */
};

/* An element of spec.schedulingGates. */
struct sax_gate {
	uint8_t type;
	struct sval name;
};

/* A vector of fixed-size records that starts in caller-provided storage. */
struct sax_vec {
	char *p; /* inl, or a heap block once grown */
	size_t n, cap, size;
	char *inl;
};

/* request.object.metadata */
struct sax_meta {
	uint8_t type;
	struct sval gen, name, ns;
	uint8_t fins;	/* type of finalizers */
	size_t n_fins;	/* its elements so far */
	size_t bad_fin; /* first element that is not a string; SIZE_MAX: none */
	bool acct;	/* one is GQ_ACCOUNTING_FINALIZER */
};

/* request.object.spec (its gates and containers are in struct sax) */
struct sax_spec {
	uint8_t type;
	struct sval pcn, prio, pp, ads;
	uint8_t gates;	 /* type of schedulingGates */
	size_t n_gates;	 /* its elements (records kept for the first MAX_GATES) */
	uint8_t list[2]; /* types of containers, initContainers */
	size_t count[2]; /* their elements (records kept for the first MAX_CONTAINERS) */
	bool xgpu[2];	 /* one past those carries GPU resources (cont_has_gpu) */
	uint8_t nsel;	 /* type of nodeSelector */
	uint8_t tols;	 /* type of tolerations */
	bool tol_pool;	 /* one of them tolerates a pool taint (gq_adm_tolerates_pool) */
	struct {
		int key;	/* GQ_ADM_TOL_KEY_* of the element being read */
		bool exists;	/* its operator is "Exists" */
		bool no_sched;	/* its effect is absent, "" or "NoSchedule" */
	} tol;
};

/* request */
struct sax_req {
	uint8_t type;
	struct sval uid, op, ns, name, dry;
	uint8_t kind;	  /* type of request.kind */
	bool group_empty; /* kind.group is absent or "" */
	bool kind_pod;	  /* kind.kind is "Pod" */
	bool sub_empty;	  /* request.subResource is absent or "" */
	uint8_t object;	  /* type of request.object */
};

/* yajl's allocations during one decode: bump-allocated from mem, the rest
 * on the heap; each block is preceded by a struct ybump_hdr. */
#define YBUMP_SIZE 4096

struct ybump_hdr {
	size_t size; /* bytes asked for */
	size_t heap; /* 1: a heap block (freed by ybump_free) */
};

struct ybump {
	size_t used;
	_Alignas(16) unsigned char mem[YBUMP_SIZE];
};

/* Decoder state: parser position, then the buffered members. */
struct sax {
	struct {
		uint8_t node, aux;
	} stack[MAX_DEPTH + 1]; /* [0] is N_DOC; [depth] is the innermost */
	int depth;		/* open objects and arrays */
	int key;		/* the member key just read (node_keys index), -1: other */
	size_t rkey, rkey_len;	/* N_RMAP: that key (arena) and its full length */
	bool too_deep;		/* stopped past MAX_DEPTH */

	uint8_t root; /* type of the top-level value */
	struct sval api, kind;
	struct sax_req req;
	struct sax_meta meta;
	struct sax_spec spec;
	struct sax_vec gates;	 /* struct sax_gate */
	struct sax_vec conts[2]; /* struct sax_cont, per list */
	struct sax_vec ents;	 /* struct sax_ent */
	struct sax_cont xcont;	 /* the container being read past the kept ones */

	char *str; /* the arena: str_inl, or a heap block once grown */
	size_t str_n, str_cap;

	char str_inl[2048];
	struct sax_gate gates_inl[8];
	struct sax_cont conts_inl[2][8];
	struct sax_ent ents_inl[16];
	struct ybump bump;
};

/* yajl_alloc_funcs over struct ybump. Never fails (gq_malloc aborts). */
static void *ybump_malloc(void *ctx, size_t n)
{
	struct ybump *b = ctx;
	struct ybump_hdr *h;
	size_t need;

	if (n <= YBUMP_SIZE) {
		need = sizeof(*h) + ((n + 15) & ~(size_t)15);
		if (need <= YBUMP_SIZE - b->used) {
			h = (struct ybump_hdr *)(void *)(b->mem + b->used);
			b->used += need;
			h->size = n;
			h->heap = 0;
			return h + 1;
		}
	}
	h = gq_malloc(n > SIZE_MAX - sizeof(*h) ? SIZE_MAX : sizeof(*h) + n);
	h->size = n;
	h->heap = 1;
	return h + 1;
}

static void ybump_free(void *ctx, void *p)
{
	struct ybump_hdr *h;

	(void)ctx;
	if (p == NULL)
		return;
	h = (struct ybump_hdr *)p - 1;
	if (h->heap)
		free(h);
}

static void *ybump_realloc(void *ctx, void *p, size_t n)
{
	size_t old;
	void *q;

	if (p == NULL)
		return ybump_malloc(ctx, n);
	old = ((struct ybump_hdr *)p - 1)->size;
	if (n <= old)
		return p;
	q = ybump_malloc(ctx, n);
	memcpy(q, p, old);
	ybump_free(ctx, p);
	return q;
}

static void vec_init(struct sax_vec *v, void *inl, size_t cap, size_t size)
{
	*v = (struct sax_vec){.p = inl, .cap = cap, .size = size, .inl = inl};
}

/* Appends a zeroed record and returns it. Counts are bounded by the body
 * size (at most GQ_ADMISSION_MAX_BODY), so the sizes cannot overflow. */
static void *vec_push(struct sax_vec *v)
{
	char *p;

	if (v->n == v->cap) {
		p = gq_malloc(v->cap * 2 * v->size);
		memcpy(p, v->p, v->n * v->size);
		if (v->p != v->inl)
			free(v->p);
		v->p = p;
		v->cap *= 2;
	}
	p = v->p + v->n++ * v->size;
	memset(p, 0, v->size);
	return p;
}

static void vec_free(struct sax_vec *v)
{
	if (v->p != v->inl)
		free(v->p);
	v->p = NULL;
}

/* The record being filled: the last one of v (non-empty). */
static void *vec_last(const struct sax_vec *v)
{
	return v->p + (v->n - 1) * v->size;
}

/* Copies n bytes and a NUL into the arena; returns their offset. */
static size_t arena_put(struct sax *s, const char *p, size_t n)
{
	size_t off = s->str_n, cap;
	char *q;

	if (n >= s->str_cap - s->str_n) {
		cap = s->str_cap * 2 > s->str_n + n + 1 ? s->str_cap * 2 : s->str_n + n + 1;
		q = gq_malloc(cap);
		memcpy(q, s->str, s->str_n);
		if (s->str != s->str_inl)
			free(s->str);
		s->str = q;
		s->str_cap = cap;
	}
	memcpy(s->str + off, p, n);
	s->str[off + n] = '\0';
	s->str_n += n + 1;
	return off;
}

/* Whether a JSON number's text is an integer that fits int64, as yajl_tree
 * decides (YAJL_IS_INTEGER): an optional minus and digits, |value| <=
 * INT64_MAX (so -2^63 is not one). */
static bool number_int(const char *t, size_t len, int64_t *out)
{
	size_t i = len > 0 && t[0] == '-' ? 1 : 0;
	bool neg = i == 1;
	int64_t v = 0;

	if (i == len)
		return false;
	for (; i < len; i++) {
		if (t[i] < '0' || t[i] > '9')
			return false;
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, t[i] - '0', &v))
			return false;
	}
	*out = neg ? -v : v;
	return true;
}

/* Buffers a value into *v, keeping at most cap bytes of a string's or
 * number's text (none when cap is 0). */
static void sv_set(struct sax *s, struct sval *v, int t, const char *txt, size_t len, size_t cap)
{
	*v = (struct sval){.type = (uint8_t)t};
	if (t == SV_STR)
		len = strnlen(txt, len);
	if (t == SV_NUM)
		v->is_int = number_int(txt, len, &v->i);
	if (t == SV_STR || t == SV_NUM) {
		v->len = len;
		if (cap > 0)
			v->off = arena_put(s, txt, len < cap ? len : cap);
	}
}

/* Whether a value is the string want; absent counts as "". */
static bool value_is(int t, const char *txt, size_t len, const char *want)
{
	size_t n = strlen(want);

	if (t == SV_ABSENT)
		return n == 0;
	return t == SV_STR && strnlen(txt, len) == n && memcmp(txt, want, n) == 0;
}

static void reset_spec(struct sax *s, int t)
{
	memset(&s->spec, 0, sizeof(s->spec));
	s->spec.type = (uint8_t)t;
	s->gates.n = 0;
	s->conts[0].n = 0;
	s->conts[1].n = 0;
}

static void reset_meta(struct sax *s, int t)
{
	memset(&s->meta, 0, sizeof(s->meta));
	s->meta.type = (uint8_t)t;
	s->meta.bad_fin = SIZE_MAX;
}

/* A new request.object (of type t) drops the previous one. */
static void reset_pod(struct sax *s, int t)
{
	s->req.object = (uint8_t)t;
	reset_meta(s, SV_ABSENT);
	reset_spec(s, SV_ABSENT);
}

/* A new request (of type t) drops the previous one. */
static void reset_req(struct sax *s, int t)
{
	memset(&s->req, 0, sizeof(s->req));
	s->req.type = (uint8_t)t;
	s->req.group_empty = true;
	s->req.sub_empty = true;
	reset_pod(s, SV_ABSENT);
}

/* Whether node is read as an array (else as an object). */
static bool node_is_array(int node)
{
	return node == N_FINS || node == N_GATES || node == N_LIST || node == N_TOLS;
}

/* A member value of spec (key k) of type t. Returns the node to open when
 * the value is an object or array. */
static int sax_spec_value(struct sax *s, int k, int t, const char *txt, size_t len, uint8_t *aux)
{
	switch (k) {
	case SK_PCN: sv_set(s, &s->spec.pcn, t, txt, len, MAX_STR); break;
	case SK_PRIO: sv_set(s, &s->spec.prio, t, txt, len, 0); break;
	case SK_PP: sv_set(s, &s->spec.pp, t, txt, len, 0); break;
	case SK_ADS: sv_set(s, &s->spec.ads, t, txt, len, 0); break;
	case SK_GATES:
		s->spec.gates = (uint8_t)t;
		s->spec.n_gates = 0;
		s->gates.n = 0;
		return N_GATES;
	case SK_CONTAINERS:
	case SK_INIT:
		*aux = (uint8_t)(k - SK_CONTAINERS);
		s->spec.list[*aux] = (uint8_t)t;
		s->spec.count[*aux] = 0;
		s->spec.xgpu[*aux] = false;
		s->conts[*aux].n = 0;
		return N_LIST;
	case SK_NSEL: s->spec.nsel = (uint8_t)t; break;
	case SK_TOLS:
		s->spec.tols = (uint8_t)t;
		s->spec.tol_pool = false;
		return N_TOLS;
	}
	return N_SKIP;
}

/* A value inside spec.tolerations (N_TOLS: an element; N_TOL: a member k
 * of one). Returns the node to open. */
static int sax_tol_value(struct sax *s, int node, int k, int t, const char *txt, size_t len)
{
	if (node == N_TOLS) {
		if (t != SV_OBJ)
			return N_SKIP; /* not a toleration: tolerates nothing */
		s->spec.tol.key = GQ_ADM_TOL_KEY_ANY;
		s->spec.tol.exists = false;
		s->spec.tol.no_sched = true;
		return N_TOL;
	}
	if (k == TK_KEY)
		s->spec.tol.key = value_is(t, txt, len, "")		  ? GQ_ADM_TOL_KEY_ANY
				  : value_is(t, txt, len, GQ_ADM_POOL_KEY) ? GQ_ADM_TOL_KEY_POOL
									   : GQ_ADM_TOL_KEY_OTHER;
	else if (k == TK_OP)
		s->spec.tol.exists = value_is(t, txt, len, "Exists");
	else if (k == TK_EFFECT)
		s->spec.tol.no_sched =
		    value_is(t, txt, len, "") || value_is(t, txt, len, "NoSchedule");
	return N_SKIP;
}

/* Whether a buffered container carries GPU resources (the rule in
 * admission.h; the reference's map_has_gpu). */
static bool cont_has_gpu(const struct sax_cont *c)
{
	return c->type == SV_OBJ && c->res == SV_OBJ &&
	       ((c->map[0] == SV_OBJ && c->n[0] > 0) || (c->map[1] == SV_OBJ && c->n[1] > 0));
}

/* A value inside the innermost node at or below a container (list, container,
 * resources, requests/limits). Returns the node to open. A container past
 * the kept ones (AUX_UNKEPT) is read into s->xcont, counting its
 * nvidia.com/... members without keeping them. */
static int sax_cont_value(struct sax *s, int node, int k, int t, const char *txt, size_t len,
			  uint8_t *aux)
{
	struct sax_vec *list = &s->conts[*aux & AUX_LIST];
	struct sax_cont *c = NULL;
	struct sax_ent *e;

	if (node != N_LIST)
		c = (*aux & AUX_UNKEPT) ? &s->xcont : vec_last(list);
	switch (node) {
	case N_LIST:
		if (s->spec.count[*aux & AUX_LIST]++ >= MAX_CONTAINERS) {
			/* refused by count; read, not kept */
			s->xcont = (struct sax_cont){.type = (uint8_t)t};
			*aux |= AUX_UNKEPT;
			return N_CONT;
		}
		c = vec_push(list);
		c->type = (uint8_t)t;
		return N_CONT;
	case N_CONT:
		if (k == CK_RESTART) {
			c->always = value_is(t, txt, len, "Always");
		} else if (k == CK_RES) {
			c->res = (uint8_t)t;
			c->map[0] = c->map[1] = SV_ABSENT;
			c->n[0] = c->n[1] = 0;
			return N_RES;
		}
		return N_SKIP;
	case N_RES:
		if (k != EK_REQUESTS && k != EK_LIMITS)
			return N_SKIP;
		c->map[k] = (uint8_t)t;
		c->first[k] = s->ents.n;
		c->n[k] = 0;
		if (k == EK_LIMITS)
			*aux |= AUX_MAP;
		return N_RMAP;
	case N_RMAP:
		if (k != RMK_NVIDIA || t == SV_ABSENT)
			return N_SKIP;
		c->n[(*aux & AUX_MAP) ? 1 : 0]++;
		if (*aux & AUX_UNKEPT)
			return N_SKIP;
		e = vec_push(&s->ents);
		e->key = s->rkey;
		e->key_len = s->rkey_len;
		sv_set(s, &e->v, t, txt, len, MAX_QTY);
		return N_SKIP;
	}
	return N_SKIP;
}

/* A member k of request (sax_value's N_REQ); returns the node it opens. */
static int sax_req_value(struct sax *s, int k, int t, const char *txt, size_t len)
{
	switch (k) {
	case QK_UID: sv_set(s, &s->req.uid, t, txt, len, MAX_UID); break;
	case QK_OP: sv_set(s, &s->req.op, t, txt, len, MAX_STR); break;
	case QK_NS: sv_set(s, &s->req.ns, t, txt, len, MAX_STR); break;
	case QK_NAME: sv_set(s, &s->req.name, t, txt, len, MAX_STR); break;
	case QK_DRY: sv_set(s, &s->req.dry, t, txt, len, 0); break;
	case QK_SUB: s->req.sub_empty = value_is(t, txt, len, ""); break;
	case QK_KIND:
		s->req.kind = (uint8_t)t;
		s->req.group_empty = true;
		s->req.kind_pod = false;
		return N_KIND;
	case QK_OBJECT: reset_pod(s, t); return N_POD;
	}
	return N_SKIP;
}

/* A member k of request.object.metadata (N_META); returns the node it
 * opens. */
static int sax_meta_value(struct sax *s, int k, int t, const char *txt, size_t len)
{
	switch (k) {
	case MK_GEN: sv_set(s, &s->meta.gen, t, txt, len, MAX_STR); break;
	case MK_NAME: sv_set(s, &s->meta.name, t, txt, len, MAX_STR); break;
	case MK_NS: sv_set(s, &s->meta.ns, t, txt, len, MAX_STR); break;
	case MK_FINS:
		s->meta.fins = (uint8_t)t;
		s->meta.n_fins = 0;
		s->meta.bad_fin = SIZE_MAX;
		s->meta.acct = false;
		return N_FINS;
	}
	return N_SKIP;
}

/*
 * Every value (scalar, or the start of an object or array) comes here: it is
 * buffered when the innermost node reads the member (or element), and an
 * object or array opens a frame. Returns 0 (yajl stops) only past MAX_DEPTH.
 */
static int sax_value(struct sax *s, int t, const char *txt, size_t len)
{
	int node = s->stack[s->depth].node, k = s->key, push = N_SKIP;
	uint8_t aux = s->stack[s->depth].aux;
	struct sax_gate *g;

	s->key = -1;
	switch (node) {
	case N_SKIP: break;
	case N_DOC:
		s->root = (uint8_t)t;
		push = N_ROOT;
		break;
	case N_ROOT:
		if (k == RK_API)
			sv_set(s, &s->api, t, txt, len, 64);
		else if (k == RK_KIND)
			sv_set(s, &s->kind, t, txt, len, 64);
		else if (k == RK_REQUEST) {
			reset_req(s, t);
			push = N_REQ;
		}
		break;
	case N_REQ: push = sax_req_value(s, k, t, txt, len); break;
	case N_KIND:
		if (k == KK_GROUP)
			s->req.group_empty = value_is(t, txt, len, "");
		else if (k == KK_KIND)
			s->req.kind_pod = value_is(t, txt, len, "Pod");
		break;
	case N_POD:
		if (k == PK_META) {
			reset_meta(s, t);
			push = N_META;
		} else if (k == PK_SPEC) {
			reset_spec(s, t);
			push = N_SPEC;
		}
		break;
	case N_META: push = sax_meta_value(s, k, t, txt, len); break;
	case N_FINS:
		if (t != SV_STR && s->meta.bad_fin == SIZE_MAX)
			s->meta.bad_fin = s->meta.n_fins;
		if (value_is(t, txt, len, GQ_ACCOUNTING_FINALIZER))
			s->meta.acct = true;
		s->meta.n_fins++;
		break;
	case N_SPEC: push = sax_spec_value(s, k, t, txt, len, &aux); break;
	case N_TOLS:
	case N_TOL: push = sax_tol_value(s, node, k, t, txt, len); break;
	case N_GATES:
		if (s->spec.n_gates++ >= MAX_GATES)
			break; /* refused by count; not kept */
		g = vec_push(&s->gates);
		g->type = (uint8_t)t;
		push = N_GATE;
		break;
	case N_GATE:
		if (k == GK_NAME)
			sv_set(s, &((struct sax_gate *)vec_last(&s->gates))->name, t, txt, len,
			       MAX_STR);
		break;
	default: push = sax_cont_value(s, node, k, t, txt, len, &aux); break;
	}
	if (t != SV_OBJ && t != SV_ARR)
		return 1;
	if (s->depth == MAX_DEPTH) {
		s->too_deep = true;
		return 0;
	}
	if (push != N_SKIP && node_is_array(push) != (t == SV_ARR))
		push = N_SKIP;
	s->depth++;
	s->stack[s->depth].node = (uint8_t)push;
	s->stack[s->depth].aux = aux;
	return 1;
}

static int sax_null(void *ctx)
{
	return sax_value(ctx, SV_ABSENT, NULL, 0);
}

static int sax_bool(void *ctx, int b)
{
	return sax_value(ctx, b ? SV_TRUE : SV_FALSE, NULL, 0);
}

static int sax_number(void *ctx, const char *txt, size_t len)
{
	return sax_value(ctx, SV_NUM, txt, len);
}

static int sax_string(void *ctx, const unsigned char *txt, size_t len)
{
	return sax_value(ctx, SV_STR, (const char *)txt, len);
}

static int sax_start_map(void *ctx)
{
	return sax_value(ctx, SV_OBJ, NULL, 0);
}

static int sax_start_array(void *ctx)
{
	return sax_value(ctx, SV_ARR, NULL, 0);
}

/* The end of an object or array; a container past the kept ones is
 * complete: only whether it carries GPU resources is kept. */
static int sax_end(void *ctx)
{
	struct sax *s = ctx;
	uint8_t aux = s->stack[s->depth].aux;

	if (s->stack[s->depth].node == N_CONT && (aux & AUX_UNKEPT) && cont_has_gpu(&s->xcont))
		s->spec.xgpu[aux & AUX_LIST] = true;
	if (s->stack[s->depth].node == N_TOL &&
	    gq_adm_tolerates_pool(s->spec.tol.key, s->spec.tol.exists, s->spec.tol.no_sched))
		s->spec.tol_pool = true;
	s->depth--;
	return 1;
}

/* A member key: which of the innermost node's members it is (s->key). In
 * requests and limits, a nvidia.com/... name is kept for its value. */
static int sax_key(void *ctx, const unsigned char *key, size_t len)
{
	struct sax *s = ctx;
	int node = s->stack[s->depth].node, i;
	const char *k = (const char *)key;
	const struct sax_key *names;

	s->key = -1;
	if (node == N_SKIP)
		return 1;
	len = strnlen(k, len);
	if (node == N_RMAP) {
		if (gq_adm_is_nvidia(k, len)) {
			s->key = RMK_NVIDIA;
			s->rkey_len = len;
			if (!(s->stack[s->depth].aux & AUX_UNKEPT))
				s->rkey = arena_put(s, k, len < MAX_RES_NAME ? len : MAX_RES_NAME);
		}
		return 1;
	}
	names = (size_t)node < GQ_ARRAY_LEN(node_keys) ? node_keys[node] : NULL;
	for (i = 0; names != NULL && names[i].name != NULL; i++)
		if (names[i].len == len && memcmp(names[i].name, k, len) == 0) {
			s->key = i;
			break;
		}
	return 1;
}

static const yajl_callbacks sax_callbacks = {
    .yajl_null = sax_null,
    .yajl_boolean = sax_bool,
    .yajl_number = sax_number,
    .yajl_string = sax_string,
    .yajl_start_map = sax_start_map,
    .yajl_map_key = sax_key,
    .yajl_end_map = sax_end,
    .yajl_start_array = sax_start_array,
    .yajl_end_array = sax_end,
};

static void sax_init(struct sax *s)
{
	s->stack[0].node = N_DOC;
	s->stack[0].aux = 0;
	s->depth = 0;
	s->key = -1;
	s->rkey = s->rkey_len = 0;
	s->too_deep = false;
	s->root = SV_ABSENT;
	memset(&s->xcont, 0, sizeof(s->xcont));
	memset(&s->api, 0, sizeof(s->api));
	memset(&s->kind, 0, sizeof(s->kind));
	vec_init(&s->gates, s->gates_inl, GQ_ARRAY_LEN(s->gates_inl), sizeof(struct sax_gate));
	vec_init(&s->conts[0], s->conts_inl[0], GQ_ARRAY_LEN(s->conts_inl[0]),
		 sizeof(struct sax_cont));
	vec_init(&s->conts[1], s->conts_inl[1], GQ_ARRAY_LEN(s->conts_inl[1]),
		 sizeof(struct sax_cont));
	vec_init(&s->ents, s->ents_inl, GQ_ARRAY_LEN(s->ents_inl), sizeof(struct sax_ent));
	reset_req(s, SV_ABSENT);
	s->str = s->str_inl;
	s->str_n = 0;
	s->str_cap = sizeof(s->str_inl);
	s->bump.used = 0;
}

static void sax_release(struct sax *s)
{
	vec_free(&s->gates);
	vec_free(&s->conts[0]);
	vec_free(&s->conts[1]);
	vec_free(&s->ents);
	if (s->str != s->str_inl)
		free(s->str);
	s->str = NULL;
}

/* Text of a buffered string ("" for anything else), as the messages show it. */
static const char *sv_text(const struct sax *s, const struct sval *v)
{
	return v->type == SV_STR ? s->str + v->off : "";
}

/* Whether a buffered value is the string want (kept whole: cap >= its length). */
static bool sv_eq(const struct sax *s, const struct sval *v, const char *want)
{
	return v->type == SV_STR && v->len == strlen(want) &&
	       memcmp(s->str + v->off, want, v->len) == 0;
}

/* Reads an optional string member into a new heap string (*out, caller
 * owns; left NULL when absent). GQ_EINVAL when it is not a string or is
 * longer than max (it was kept with cap >= max); where and key name the
 * field in the message. The reference's get_str. */
static int sv_str(char **out, const struct sax *s, const struct sval *v, const char *key,
		  size_t max, const char *where, struct gq_err *err)
{
	*out = NULL;
	if (v->type == SV_ABSENT)
		return GQ_OK;
	if (v->type != SV_STR)
		return gq_err_set(err, GQ_EINVAL, "%s.%s: not a string", where, key);
	if (v->len > max)
		return gq_err_set(err, GQ_EINVAL, "%s.%s: longer than %zu bytes", where, key, max);
	*out = gq_strndup(s->str + v->off, v->len);
	return GQ_OK;
}

/* As sv_str, but absent gives an empty string (the reference's get_str_or_empty). */
static int sv_str_or_empty(char **out, const struct sax *s, const struct sval *v, const char *key,
			   size_t max, const char *where, struct gq_err *err)
{
	int rc = sv_str(out, s, v, key, max, where, err);

	if (rc == GQ_OK && *out == NULL)
		*out = gq_strdup("");
	return rc;
}

/* Whether a buffered value is an integer (YAJL_IS_INTEGER). */
static bool sv_is_int(const struct sval *v)
{
	return v->type == SV_NUM && v->is_int;
}

/* Reads container c's map m (0 requests, 1 limits) into t, by
 * gq_adm_res_member (the reference's read_res_map). t borrows the names
 * from the arena. */
static int sax_res_map(struct gq_adm_cres_table *t, const struct sax *s, const struct sax_cont *c,
		       int m, const char *where, struct gq_err *err)
{
	const struct sax_ent *ents = (const struct sax_ent *)(const void *)s->ents.p;
	const struct sval *v;
	const char *qty;
	size_t i;
	int rc;

	if (c->map[m] == SV_ABSENT)
		return GQ_OK;
	if (c->map[m] != SV_OBJ)
		return gq_err_set(err, GQ_EINVAL, "%s.%s: not an object", where,
				  m == 0 ? "requests" : "limits");
	for (i = c->first[m]; i < c->first[m] + c->n[m]; i++) {
		v = &ents[i].v;
		qty = v->type == SV_STR || v->type == SV_NUM ? s->str + v->off : NULL;
		rc = gq_adm_res_member(t, s->str + ents[i].key, ents[i].key_len, qty, m == 0, where,
				       err);
		if (rc != GQ_OK)
			return rc;
	}
	return GQ_OK;
}

/* Folds buffered container c (of that kind) into acc, which borrows the
 * names from the arena (the reference's fold_container). */
static int sax_fold_cont(struct gq_adm_acc_table *acc, const struct sax *s,
			 const struct sax_cont *c, enum gq_cost_kind kind, const char *where,
			 struct gq_err *err)
{
	char rwhere[MAX_PATH];
	struct gq_adm_cres_table t;
	int rc;

	if (c->type != SV_OBJ)
		return gq_err_set(err, GQ_EINVAL, "%s: not an object", where);
	snprintf(rwhere, sizeof(rwhere), "%s.resources", where);
	if (c->res != SV_ABSENT && c->res != SV_OBJ)
		return gq_err_set(err, GQ_EINVAL, "%s: not an object", rwhere);
	t.n = 0;
	rc = sax_res_map(&t, s, c, 0, rwhere, err);
	if (rc == GQ_OK)
		rc = sax_res_map(&t, s, c, 1, rwhere, err);
	if (rc != GQ_OK)
		return rc;
	return gq_adm_fold_cres(acc, &t, kind, where, err);
}

/* Folds the buffered spec.containers (li 0) or initContainers (1) into acc
 * (the reference's fold_list). */
static int sax_fold_list(struct gq_adm_acc_table *acc, const struct sax *s, int li,
			 struct gq_err *err)
{
	const struct sax_cont *conts = (const struct sax_cont *)(const void *)s->conts[li].p;
	const char *key = li == 0 ? "containers" : "initContainers";
	enum gq_cost_kind kind;
	char where[MAX_PATH];
	size_t i;
	int rc;

	if (s->spec.list[li] == SV_ABSENT)
		return GQ_OK;
	if (s->spec.list[li] != SV_ARR)
		return gq_err_set(err, GQ_EINVAL, "spec.%s: not an array", key);
	if (s->spec.count[li] > MAX_CONTAINERS)
		return gq_err_set(err, GQ_EINVAL,
				  "pod has more than %d entries in spec.%s (limit %d)",
				  MAX_CONTAINERS, key, MAX_CONTAINERS);
	for (i = 0; i < s->spec.count[li]; i++) {
		const struct sax_cont *c = &conts[i];

		/* nothing to check or add (most containers): no path to format */
		if (c->type == SV_OBJ && (c->res == SV_ABSENT || c->res == SV_OBJ) &&
		    (c->map[0] == SV_ABSENT || c->map[0] == SV_OBJ) &&
		    (c->map[1] == SV_ABSENT || c->map[1] == SV_OBJ) && c->n[0] == 0 && c->n[1] == 0)
			continue;
		snprintf(where, sizeof(where), "spec.%s[%zu]", key, i);
		if (li == 0)
			kind = GQ_COST_CONTAINER;
		else
			kind = c->always ? GQ_COST_SIDECAR : GQ_COST_INIT;
		rc = sax_fold_cont(acc, s, c, kind, where, err);
		if (rc != GQ_OK)
			return rc;
	}
	return GQ_OK;
}

/* spec.schedulingGates: whether the array exists and the names (the reference's
 * dec_gates). */
static int sax_gates(struct gq_adm_request *out, const struct sax *s, struct gq_err *err)
{
	const struct sax_gate *gates = (const struct sax_gate *)(const void *)s->gates.p;
	char where[MAX_PATH];
	size_t i, n = s->spec.n_gates;
	int rc;

	if (s->spec.gates == SV_ABSENT)
		return GQ_OK;
	if (s->spec.gates != SV_ARR)
		return gq_err_set(err, GQ_EINVAL, "spec.schedulingGates: not an array");
	if (n > MAX_GATES)
		return gq_err_set(err, GQ_EINVAL,
				  "pod has more than %d entries in spec.schedulingGates (limit %d)",
				  MAX_GATES, MAX_GATES);
	out->has_gates = true;
	out->gates = gq_calloc(n ? n : 1, sizeof(char *));
	for (i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "spec.schedulingGates[%zu]", i);
		if (gates[i].type != SV_OBJ)
			return gq_err_set(err, GQ_EINVAL, "%s: not an object", where);
		rc = sv_str_or_empty(&out->gates[out->n_gates], s, &gates[i].name, "name", MAX_STR,
				     where, err);
		if (rc != GQ_OK)
			return rc;
		out->n_gates++;
	}
	return GQ_OK;
}

/* Reads the pod fields of the buffered request.object for a Pod CREATE (the
 * reference's dec_pod). */
static int sax_pod(struct gq_adm_request *out, const struct sax *s, struct gq_err *err)
{
	const struct sax_meta *m = &s->meta;
	const struct sax_spec *sp = &s->spec;
	struct gq_adm_acc_table acc;
	char *str = NULL;
	int rc;

	if (s->req.object != SV_OBJ)
		return gq_err_set(err, GQ_EINVAL, "request.object: a Pod CREATE needs the pod");
	if (m->type != SV_ABSENT && m->type != SV_OBJ)
		return gq_err_set(err, GQ_EINVAL, "request.object.metadata: not an object");
	rc = sv_str(&out->generate_name, s, &m->gen, "generateName", MAX_STR, "metadata", err);
	if (rc == GQ_OK && out->name[0] == '\0')
		rc = sv_str(&str, s, &m->name, "name", MAX_STR, "metadata", err);
	if (rc == GQ_OK && str != NULL) {
		free(out->name);
		out->name = str;
		str = NULL;
	}
	if (rc == GQ_OK && out->namespace[0] == '\0')
		rc = sv_str(&str, s, &m->ns, "namespace", MAX_STR, "metadata", err);
	if (rc == GQ_OK && str != NULL) {
		free(out->namespace);
		out->namespace = str;
	}
	if (rc != GQ_OK)
		return rc;
	if (m->fins != SV_ABSENT) {
		if (m->fins != SV_ARR)
			return gq_err_set(err, GQ_EINVAL, "metadata.finalizers: not an array");
		out->has_finalizers = true;
		if (m->bad_fin != SIZE_MAX)
			return gq_err_set(err, GQ_EINVAL, "metadata.finalizers[%zu]: not a string",
					  m->bad_fin);
		out->has_accounting_finalizer = m->acct;
	}

	if (sp->type == SV_ABSENT)
		return GQ_OK;
	if (sp->type != SV_OBJ)
		return gq_err_set(err, GQ_EINVAL, "request.object.spec: not an object");
	rc = sv_str(&out->priority_class, s, &sp->pcn, "priorityClassName", MAX_STR, "spec", err);
	if (rc != GQ_OK)
		return rc;
	if (out->priority_class != NULL && out->priority_class[0] == '\0') {
		free(out->priority_class);
		out->priority_class = NULL;
	}
	if (sp->prio.type != SV_ABSENT && !sv_is_int(&sp->prio))
		return gq_err_set(err, GQ_EINVAL, "spec.priority: not an integer");
	out->has_priority = sp->prio.type != SV_ABSENT;
	if (sp->pp.type != SV_ABSENT && sp->pp.type != SV_STR)
		return gq_err_set(err, GQ_EINVAL, "spec.preemptionPolicy: not a string");
	out->has_preemption_policy = sp->pp.type != SV_ABSENT;
	if (sp->ads.type != SV_ABSENT && !sv_is_int(&sp->ads))
		return gq_err_set(err, GQ_EINVAL, "spec.activeDeadlineSeconds: not an integer");
	if (sv_is_int(&sp->ads) && sp->ads.i > 0)
		out->active_deadline = sp->ads.i;
	rc = sax_gates(out, s, err);
	if (rc != GQ_OK)
		return rc;
	out->has_node_selector = sp->nsel == SV_OBJ;
	out->has_tolerations = sp->tols == SV_ARR;
	out->tolerates_pool = out->has_tolerations && sp->tol_pool;
	acc.n = 0;
	rc = sax_fold_list(&acc, s, 0, err);
	if (rc == GQ_OK)
		rc = sax_fold_list(&acc, s, 1, err);
	if (rc == GQ_OK)
		gq_adm_gpus_from_acc(out, &acc);
	return rc;
}

/* Checks the buffered review and fills *out (the reference's dec_review). */
static int sax_review(struct gq_adm_request *out, const struct sax *s, struct gq_err *err)
{
	const struct sax_req *q = &s->req;
	int rc;

	if (s->root != SV_OBJ)
		return gq_err_set(err, GQ_EINVAL, "AdmissionReview: not a JSON object");
	if (!sv_eq(s, &s->api, API_VERSION))
		return gq_err_set(err, GQ_EINVAL,
				  "AdmissionReview: apiVersion \"%.64s\" is not supported "
				  "(want " API_VERSION ")",
				  sv_text(s, &s->api));
	if (!sv_eq(s, &s->kind, "AdmissionReview"))
		return gq_err_set(err, GQ_EINVAL,
				  "AdmissionReview: kind \"%.64s\" is not AdmissionReview",
				  sv_text(s, &s->kind));
	if (q->type != SV_OBJ)
		return gq_err_set(err, GQ_EINVAL, "AdmissionReview: request is missing");
	rc = sv_str(&out->uid, s, &q->uid, "uid", MAX_UID, "request", err);
	if (rc != GQ_OK)
		return rc;
	if (out->uid == NULL || out->uid[0] == '\0')
		return gq_err_set(err, GQ_EINVAL, "AdmissionReview: request.uid is missing");
	rc = sv_str_or_empty(&out->operation, s, &q->op, "operation", MAX_STR, "request", err);
	if (rc == GQ_OK)
		rc = sv_str_or_empty(&out->namespace, s, &q->ns, "namespace", MAX_STR, "request",
				     err);
	if (rc == GQ_OK)
		rc = sv_str_or_empty(&out->name, s, &q->name, "name", MAX_STR, "request", err);
	if (rc != GQ_OK)
		return rc;
	if (q->dry.type != SV_ABSENT && q->dry.type != SV_TRUE && q->dry.type != SV_FALSE)
		return gq_err_set(err, GQ_EINVAL, "request.dryRun: not a boolean");
	out->dry_run = q->dry.type == SV_TRUE;
	out->is_pod = q->kind == SV_OBJ && q->group_empty && q->kind_pod && q->sub_empty;
	out->is_pod_create = out->is_pod && strcmp(out->operation, "CREATE") == 0;
	if (!out->is_pod_create)
		return GQ_OK;
	return sax_pod(out, s, err);
}

/* Whether the buffered review is a Pod CREATE whose pod carries GPU
 * resources, the rule in admission.h (the reference's tree_gpu_pod_create). */
static bool sax_gpu_pod_create(const struct sax *s)
{
	const struct sax_req *q = &s->req;
	const struct sax_cont *conts;
	size_t li, i;

	if (!(q->kind == SV_OBJ && q->group_empty && q->kind_pod && q->sub_empty) ||
	    !sv_eq(s, &q->op, "CREATE") || q->object != SV_OBJ || s->spec.type != SV_OBJ)
		return false;
	for (li = 0; li < 2; li++) {
		if (s->spec.list[li] != SV_ARR)
			continue;
		if (s->spec.xgpu[li])
			return true;
		conts = (const struct sax_cont *)(const void *)s->conts[li].p;
		for (i = 0; i < s->conts[li].n; i++)
			if (cont_has_gpu(&conts[i]))
				return true;
	}
	return false;
}

/* The error for a body yajl rejected: the depth error when the body is
 * nested too deep anywhere (as a decoder that checks the depth before
 * parsing reports it), else yajl's message. */
static int sax_parse_error(yajl_handle h, const struct sax *s, const char *body, size_t len,
			   struct gq_err *err)
{
	char ebuf[256] = "";
	unsigned char *msg;

	if (s->too_deep || gq_adm_json_depth(body, len) > MAX_DEPTH)
		return gq_err_set(err, GQ_EPARSE, "AdmissionReview: JSON nested deeper than %d",
				  MAX_DEPTH);
	msg = yajl_get_error(h, 0, (const unsigned char *)body, len);
	snprintf(ebuf, sizeof(ebuf), "%s", msg != NULL ? (const char *)msg : "");
	yajl_free_error(h, msg);
	gq_adm_first_line(ebuf);
	return gq_err_set(err, GQ_EPARSE, "AdmissionReview: invalid JSON: %.200s", ebuf);
}

/* Ownership: body is borrowed; on success the caller owns *out
 * (gq_adm_request_free); on error *out is zeroed but for a refused GPU
 * pod's uid, which the caller frees the same way (admission.h). */
int gq_admission_decode(struct gq_adm_request *out, const char *body, size_t len,
			struct gq_err *err)
{
	yajl_alloc_funcs afs = {ybump_malloc, ybump_realloc, ybump_free, NULL};
	yajl_handle h = NULL;
	yajl_status st;
	struct sax s;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = gq_adm_check_body(body, len, err);
	if (rc != GQ_OK)
		return rc;
	sax_init(&s);
	afs.ctx = &s.bump;
	h = yajl_alloc(&sax_callbacks, &afs, &s);
	if (h == NULL)
		abort(); /* only on allocation failure, which gq_malloc never returns */
	yajl_config(h, yajl_allow_comments, 1); /* as yajl_tree_parse */
	st = yajl_parse(h, (const unsigned char *)body, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st != yajl_status_ok) {
		rc = sax_parse_error(h, &s, body, len, err);
		goto out;
	}
	rc = sax_review(out, &s, err);
out:
	if (rc != GQ_OK)
		gq_adm_keep_refusal(out, out->uid != NULL && sax_gpu_pod_create(&s));
	yajl_free(h);
	sax_release(&s);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The request                                                          */
/* ------------------------------------------------------------------ */

/* Ownership: frees every string and array r owns; r itself is the
 * caller's. */
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

/* Ownership: r and resource are borrowed. */
int64_t gq_adm_request_count(const struct gq_adm_request *r, const char *resource)
{
	size_t i;

	for (i = 0; i < r->n_gpus; i++)
		if (strcmp(r->gpus[i].resource, resource) == 0)
			return r->gpus[i].count;
	return 0;
}

/* Ownership: r is borrowed. */
bool gq_adm_request_is_gpu_pod(const struct gq_adm_request *r)
{
	size_t i;

	for (i = 0; i < r->n_gpus; i++)
		if (r->gpus[i].count > 0)
			return true;
	return false;
}
