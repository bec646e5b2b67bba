/*
 * spec.c - decoding and semantic validation of a GPUTeamAllocation.
 *
 * The decoder walks a yajl tree and fills plain C structs. Every rule of the
 * CRD schema (and its CEL rules) is repeated here so that offline validation
 * and the apiserver agree; messages start with the JSON path of the field,
 * in Kubernetes' field.Path notation ("spec.priorities.tiers[1].name",
 * "spec.quota.migSlices[1g.10gb]"). Unknown fields are ignored, as the
 * apiserver prunes them. JSON null is treated as "not given".
 */
#include "spec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cost.h"
#include "json.h"

/* Bounds on anything read from the object. */
#define MAX_STR		1024	     /* generic string (uid, timestamps, config names) */
#define MAX_MAP		64	     /* entries of any map (labels, resources, slices) */
#define MAX_EXPRS	32	     /* matchExpressions of one selector */
#define MAX_EXPR_VALUES 64	     /* values of one expression */
#define MAX_FINALIZERS	64	     /* metadata.finalizers */
#define MAX_PATH	384	     /* field path in messages */
#define MAX_PERIOD_S	9223372036LL /* Go's time.Duration range, in seconds */
#define MIG_PREFIX	GQ_NVIDIA_MIG_PREFIX

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

/* Formats a field path into dst (truncating; paths are only for messages). */
static void path_fmt(char *dst, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void path_fmt(char *dst, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, n, fmt, ap);
	va_end(ap);
}

/* Whether c is [a-z0-9]. */
static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Whether c is [A-Za-z0-9]. */
static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
 * n is the length of s to check. */
static bool dns_label_n(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 63)
		return false;
	if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (i = 1; i + 1 < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* dns_label_n over the whole NUL-terminated s. */
static bool dns_label(const char *s)
{
	return dns_label_n(s, strlen(s));
}

/* RFC 1123 subdomain: dot-separated labels, at most 253 characters. */
static bool dns_subdomain_n(const char *s, size_t n)
{
	size_t start = 0, i;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!dns_label_n(s + start, i - start))
				return false;
			start = i + 1;
		}
	}
	return true;
}

/* The name part of a qualified name: ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9],
 * at most 63 characters. */
static bool qname_part(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 63)
		return false;
	if (!is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (i = 1; i + 1 < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* Kubernetes qualified name ([prefix/]name; label keys, resource names). */
static bool qualified_name(const char *s)
{
	const char *slash = strchr(s, '/');

	if (slash == NULL)
		return qname_part(s, strlen(s));
	return dns_subdomain_n(s, (size_t)(slash - s)) && qname_part(slash + 1, strlen(slash + 1));
}

/* Label value: empty or a qualified-name part. */
static bool label_value(const char *s)
{
	return s[0] == '\0' || qname_part(s, strlen(s));
}

/* MIG profile: ^[0-9]+g\.[0-9]+gb(\.[a-z0-9]+)*$ */
static bool mig_profile(const char *s)
{
	const char *p = s;

	if (!(*p >= '0' && *p <= '9'))
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p[0] != 'g' || p[1] != '.')
		return false;
	p += 2;
	if (!(*p >= '0' && *p <= '9'))
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p[0] != 'g' || p[1] != 'b')
		return false;
	p += 2;
	while (*p == '.') {
		p++;
		if (!is_lower_alnum(*p))
			return false;
		while (is_lower_alnum(*p))
			p++;
	}
	return *p == '\0';
}

/* Whether a slash-less ResourceQuota name is one Kubernetes accepts
 * (IsStandardQuotaResourceName). */
static bool standard_quota_name(const char *s)
{
	static const char *const names[] = {
	    "cpu",
	    "memory",
	    "ephemeral-storage",
	    "requests.cpu",
	    "requests.memory",
	    "requests.storage",
	    "requests.ephemeral-storage",
	    "limits.cpu",
	    "limits.memory",
	    "limits.ephemeral-storage",
	    "pods",
	    "services",
	    "replicationcontrollers",
	    "resourcequotas",
	    "secrets",
	    "persistentvolumeclaims",
	    "configmaps",
	    "services.nodeports",
	    "services.loadbalancers",
	};
	size_t i;

	for (i = 0; i < GQ_ARRAY_LEN(names); i++)
		if (strcmp(s, names[i]) == 0)
			return true;
	return strncmp(s, "hugepages-", 10) == 0 || strncmp(s, "requests.hugepages-", 19) == 0;
}

/* Whether s starts with prefix. */
static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The JSON type of v, for messages ("boolean" for anything that is not a
 * string, number, object or list). */
static const char *type_name(yajl_val v)
{
	if (YAJL_IS_STRING(v))
		return "string";
	if (YAJL_IS_NUMBER(v))
		return "number";
	if (YAJL_IS_OBJECT(v))
		return "object";
	if (YAJL_IS_ARRAY(v))
		return "list";
	return "boolean";
}

/*
 * Requires v to be an object (map): GQ_OK, or GQ_EINVAL with err naming path.
 */
static int want_object(yajl_val v, const char *path, struct gq_err *err)
{
	if (!YAJL_IS_OBJECT(v))
		return gq_err_set(err, GQ_EINVAL, "%s: must be an object, not a %s", path,
				  type_name(v));
	return GQ_OK;
}

/* Frees the n strings of v and v itself (NULL v with n 0 is fine). */
static void str_list_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ------------------------------------------------------------------ */
/* Scalar decoders                                                      */
/* ------------------------------------------------------------------ */

/* Copies a string of at most maxlen bytes into *out (caller owns it). GQ_OK,
 * or GQ_EINVAL (not a string, too long) with *out untouched. */
static int dec_string(char **out, yajl_val v, const char *path, size_t maxlen, struct gq_err *err)
{
	size_t n;

	if (!YAJL_IS_STRING(v))
		return gq_err_set(err, GQ_EINVAL, "%s: must be a string, not a %s", path,
				  type_name(v));
	n = strlen(v->u.string);
	if (n > maxlen)
		return gq_err_set(err, GQ_EINVAL, "%s: longer than %zu characters", path, maxlen);
	*out = gq_strndup(v->u.string, n);
	return GQ_OK;
}

/* A JSON integer (no fraction, no exponent) within [lo, hi] into *out. GQ_OK,
 * or GQ_EINVAL with *out untouched. */
static int dec_int(int64_t *out, yajl_val v, const char *path, int64_t lo, int64_t hi,
		   struct gq_err *err)
{
	if (!YAJL_IS_NUMBER(v) || !YAJL_IS_INTEGER(v))
		return gq_err_set(err, GQ_EINVAL, "%s: must be an integer", path);
	if (v->u.number.i < lo || v->u.number.i > hi)
		return gq_err_set(err, GQ_EINVAL, "%s: %lld is out of range [%lld, %lld]", path,
				  (long long)v->u.number.i, (long long)lo, (long long)hi);
	*out = v->u.number.i;
	return GQ_OK;
}

/*
 * A quantity given as a string ("500m", "2Gi") or a JSON number (int or
 * string, as Kubernetes accepts both); must be >= 0. Returns GQ_OK, GQ_EPARSE
 * (longer than 64 characters, or not a quantity) or GQ_EINVAL (another type,
 * out of range, negative).
 */
static int dec_quantity(struct gq_quantity *out, yajl_val v, const char *path, struct gq_err *err)
{
	const char *s;
	int rc;

	if (YAJL_IS_STRING(v))
		s = v->u.string;
	else if (YAJL_IS_NUMBER(v))
		s = v->u.number.r;
	else
		return gq_err_set(err, GQ_EINVAL,
				  "%s: must be a quantity (string or number), not a %s", path,
				  type_name(v));
	if (strlen(s) > 64)
		return gq_err_set(err, GQ_EPARSE, "%s: quantity longer than 64 characters", path);
	rc = gq_quantity_parse(out, s);
	if (rc == GQ_ERANGE)
		return gq_err_set(err, GQ_EINVAL, "%s: quantity \"%s\" is out of range", path, s);
	if (rc != GQ_OK)
		return gq_err_set(err, GQ_EPARSE,
				  "%s: \"%s\" is not a valid quantity (finest unit is 1m)", path,
				  s);
	if (out->milli < 0)
		return gq_err_set(err, GQ_EINVAL, "%s: must be >= 0, got \"%s\"", path, s);
	return GQ_OK;
}

/* A non-negative whole count given as a number or a quantity string, into
 * *out. Returns dec_quantity's codes, or GQ_EINVAL for a fraction. */
static int dec_count(int64_t *out, yajl_val v, const char *path, struct gq_err *err)
{
	struct gq_quantity q;
	int rc;

	rc = dec_quantity(&q, v, path, err);
	if (rc != GQ_OK)
		return rc;
	if (q.milli % 1000 != 0)
		return gq_err_set(err, GQ_EINVAL, "%s: must be a whole number", path);
	*out = q.milli / 1000;
	return GQ_OK;
}

/*
 * A list of strings, at most max items of at most maxlen bytes each. The
 * caller owns *out (str_list_free); on failure nothing is left allocated and
 * *out, *n_out are untouched.
 */
static int dec_string_list(char ***out, size_t *n_out, yajl_val v, const char *path, size_t max,
			   size_t maxlen, struct gq_err *err)
{
	char **items = NULL;
	size_t i, n;
	char p[MAX_PATH];
	int rc;

	if (!YAJL_IS_ARRAY(v))
		return gq_err_set(err, GQ_EINVAL, "%s: must be a list of strings, not a %s", path,
				  type_name(v));
	n = v->u.array.len;
	if (n > max)
		return gq_err_set(err, GQ_EINVAL, "%s: at most %zu items, got %zu", path, max, n);
	items = gq_calloc(n ? n : 1, sizeof(*items));
	for (i = 0; i < n; i++) {
		path_fmt(p, sizeof(p), "%s[%zu]", path, i);
		rc = dec_string(&items[i], v->u.array.values[i], p, maxlen, err);
		if (rc != GQ_OK) {
			str_list_free(items, i);
			return rc;
		}
	}
	*out = items;
	*n_out = n;
	return GQ_OK;
}

/* Index of a duplicate of items[i] among items[0..i), or -1. */
static long find_dup(char *const *items, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (strcmp(items[j], items[i]) == 0)
			return (long)j;
	return -1;
}

/* ------------------------------------------------------------------ */
/* Maps                                                                 */
/* ------------------------------------------------------------------ */

/* qsort comparator of resources, by name. */
static int res_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gq_res *)a)->name, ((const struct gq_res *)b)->name);
}

/* qsort comparator of labels, by key. */
static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gq_label *)a)->key, ((const struct gq_label *)b)->key);
}

/* Rejects an object whose keys repeat (yajl keeps both copies). */
static int check_dup_keys(yajl_val v, const char *path, struct gq_err *err)
{
	size_t i, j;

	for (i = 1; i < v->u.object.len; i++)
		for (j = 0; j < i; j++)
			if (strcmp(v->u.object.keys[i], v->u.object.keys[j]) == 0)
				return gq_err_set(err, GQ_EINVAL, "%s: duplicate key \"%s\"", path,
						  v->u.object.keys[i]);
	return GQ_OK;
}

/*
 * Decodes a map of name -> non-negative quantity (names unchecked here, at
 * most 317 bytes), sorted by name. The caller owns *out (gq_res_list_free);
 * on failure *out is untouched and nothing is left allocated.
 */
static int dec_res_map(struct gq_res_list *out, yajl_val v, const char *path, struct gq_err *err)
{
	struct gq_res_list l = {0};
	char p[MAX_PATH];
	size_t i, n;
	int rc;

	rc = want_object(v, path, err);
	if (rc != GQ_OK)
		return rc;
	n = v->u.object.len;
	if (n > MAX_MAP)
		return gq_err_set(err, GQ_EINVAL, "%s: at most %d entries, got %zu", path, MAX_MAP,
				  n);
	rc = check_dup_keys(v, path, err);
	if (rc != GQ_OK)
		return rc;
	l.items = gq_calloc(n ? n : 1, sizeof(*l.items));
	for (i = 0; i < n; i++) {
		const char *key = v->u.object.keys[i];

		path_fmt(p, sizeof(p), "%s[%s]", path, key);
		if (strlen(key) > 317) {
			rc =
			    gq_err_set(err, GQ_EINVAL, "%s: name longer than 317 characters", path);
			goto fail;
		}
		rc = dec_quantity(&l.items[i].q, v->u.object.values[i], p, err);
		if (rc != GQ_OK)
			goto fail;
		l.items[i].name = gq_strdup(key);
		l.n++;
	}
	qsort(l.items, l.n, sizeof(*l.items), res_cmp);
	*out = l;
	return GQ_OK;
fail:
	gq_res_list_free(&l);
	return rc;
}

/* Frees the labels of *l and its array, and zeroes it. */
static void label_list_free(struct gq_label_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

/*
 * Decodes a label map (matchLabels), checking keys and values, sorted by key.
 * The caller owns *out (label_list_free); on failure *out is untouched and
 * nothing is left allocated.
 */
static int dec_labels(struct gq_label_list *out, yajl_val v, const char *path, struct gq_err *err)
{
	struct gq_label_list l = {0};
	char p[MAX_PATH];
	size_t i, n;
	int rc;

	rc = want_object(v, path, err);
	if (rc != GQ_OK)
		return rc;
	n = v->u.object.len;
	if (n > MAX_MAP)
		return gq_err_set(err, GQ_EINVAL, "%s: at most %d entries, got %zu", path, MAX_MAP,
				  n);
	rc = check_dup_keys(v, path, err);
	if (rc != GQ_OK)
		return rc;
	l.items = gq_calloc(n ? n : 1, sizeof(*l.items));
	for (i = 0; i < n; i++) {
		const char *key = v->u.object.keys[i];
		yajl_val val = v->u.object.values[i];

		path_fmt(p, sizeof(p), "%s[%s]", path, key);
		if (!qualified_name(key)) {
			rc = gq_err_set(err, GQ_EINVAL, "%s: \"%s\" is not a valid label key", path,
					key);
			goto fail;
		}
		if (!YAJL_IS_STRING(val)) {
			rc = gq_err_set(err, GQ_EINVAL, "%s: must be a string", p);
			goto fail;
		}
		if (!label_value(val->u.string)) {
			rc = gq_err_set(err, GQ_EINVAL,
					"%s: \"%s\" is not a valid label value (at most 63 "
					"alphanumerics, '-', '_' or '.', starting and ending "
					"alphanumeric)",
					p, val->u.string);
			goto fail;
		}
		l.items[i].key = gq_strdup(key);
		l.items[i].value = gq_strdup(val->u.string);
		l.n++;
	}
	qsort(l.items, l.n, sizeof(*l.items), label_cmp);
	*out = l;
	return GQ_OK;
fail:
	label_list_free(&l);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Label selectors                                                      */
/* ------------------------------------------------------------------ */

/* Frees everything *s owns and zeroes it (present becomes false). */
static void selector_free(struct gq_selector *s)
{
	size_t i;

	label_list_free(&s->match_labels);
	for (i = 0; i < s->n_exprs; i++) {
		free(s->exprs[i].key);
		str_list_free(s->exprs[i].values, s->exprs[i].n_values);
	}
	free(s->exprs);
	memset(s, 0, sizeof(*s));
}

/*
 * Decodes one matchExpressions item into the zeroed *r. The caller owns *r,
 * also after a failure (r may then hold the key and values; selector_free
 * releases them).
 */
static int dec_sel_req(struct gq_sel_req *r, yajl_val v, const char *path, struct gq_err *err)
{
	static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist"};
	yajl_val key, op, values;
	char p[MAX_PATH];
	size_t i;
	int rc;

	rc = want_object(v, path, err);
	if (rc != GQ_OK)
		return rc;
	key = gq_json_get(v, "key");
	op = gq_json_get(v, "operator");
	values = gq_json_get(v, "values");
	path_fmt(p, sizeof(p), "%s.key", path);
	if (key == NULL)
		return gq_err_set(err, GQ_EINVAL, "%s: required", p);
	if (!YAJL_IS_STRING(key) || !qualified_name(key->u.string))
		return gq_err_set(err, GQ_EINVAL, "%s: must be a valid label key", p);
	path_fmt(p, sizeof(p), "%s.operator", path);
	if (op == NULL)
		return gq_err_set(err, GQ_EINVAL, "%s: required", p);
	for (i = 0; i < GQ_ARRAY_LEN(ops); i++)
		if (YAJL_IS_STRING(op) && strcmp(op->u.string, ops[i]) == 0)
			break;
	if (i == GQ_ARRAY_LEN(ops))
		return gq_err_set(err, GQ_EINVAL,
				  "%s: must be one of In, NotIn, Exists, DoesNotExist", p);
	r->op = (enum gq_sel_op)i;
	path_fmt(p, sizeof(p), "%s.values", path);
	if (values != NULL) {
		rc = dec_string_list(&r->values, &r->n_values, values, p, MAX_EXPR_VALUES, 63, err);
		if (rc != GQ_OK)
			return rc;
	}
	r->key = gq_strdup(key->u.string);
	if ((r->op == GQ_SEL_IN || r->op == GQ_SEL_NOT_IN) && r->n_values == 0)
		return gq_err_set(err, GQ_EINVAL, "%s: must be non-empty for operator %s", p,
				  ops[r->op]);
	if ((r->op == GQ_SEL_EXISTS || r->op == GQ_SEL_DOES_NOT_EXIST) && r->n_values != 0)
		return gq_err_set(err, GQ_EINVAL, "%s: must be empty for operator %s", p,
				  ops[r->op]);
	for (i = 0; i < r->n_values; i++) {
		if (!label_value(r->values[i]))
			return gq_err_set(err, GQ_EINVAL,
					  "%s[%zu]: \"%s\" is not a valid label value", p, i,
					  r->values[i]);
	}
	return GQ_OK;
}

/* Decodes a metav1.LabelSelector. v == NULL leaves it absent. The caller
 * owns *out (selector_free, also after a failure). */
static int dec_selector(struct gq_selector *out, yajl_val v, const char *path, struct gq_err *err)
{
	yajl_val ml, me;
	char p[MAX_PATH];
	size_t i, n;
	int rc;

	if (v == NULL)
		return GQ_OK;
	rc = want_object(v, path, err);
	if (rc != GQ_OK)
		return rc;
	out->present = true;
	ml = gq_json_get(v, "matchLabels");
	if (ml != NULL) {
		path_fmt(p, sizeof(p), "%s.matchLabels", path);
		rc = dec_labels(&out->match_labels, ml, p, err);
		if (rc != GQ_OK)
			return rc;
	}
	me = gq_json_get(v, "matchExpressions");
	if (me == NULL)
		return GQ_OK;
	path_fmt(p, sizeof(p), "%s.matchExpressions", path);
	if (!YAJL_IS_ARRAY(me))
		return gq_err_set(err, GQ_EINVAL, "%s: must be a list", p);
	n = me->u.array.len;
	if (n > MAX_EXPRS)
		return gq_err_set(err, GQ_EINVAL, "%s: at most %d items, got %zu", p, MAX_EXPRS, n);
	out->exprs = gq_calloc(n ? n : 1, sizeof(*out->exprs));
	for (i = 0; i < n; i++) {
		path_fmt(p, sizeof(p), "%s.matchExpressions[%zu]", path, i);
		out->n_exprs++;
		rc = dec_sel_req(&out->exprs[i], me->u.array.values[i], p, err);
		if (rc != GQ_OK)
			return rc;
	}
	return GQ_OK;
}

/* Whether labels (may be NULL) has key; sets *value (borrowed from labels)
 * when it does. */
static bool labels_get(const struct gq_label_list *labels, const char *key, const char **value)
{
	size_t i;

	if (labels == NULL)
		return false;
	for (i = 0; i < labels->n; i++) {
		if (strcmp(labels->items[i].key, key) == 0) {
			*value = labels->items[i].value;
			return true;
		}
	}
	return false;
}

/* Whether value is one of r's values. */
static bool req_has_value(const struct gq_sel_req *r, const char *value)
{
	size_t i;

	for (i = 0; i < r->n_values; i++)
		if (strcmp(r->values[i], value) == 0)
			return true;
	return false;
}

/*
 * metav1.LabelSelector matching (see spec.h): every matchLabels pair and
 * every expression must hold. NotIn and DoesNotExist hold when the key is
 * absent. An absent selector matches nothing, a present empty one everything.
 */
bool gq_selector_matches(const struct gq_selector *sel, const struct gq_label_list *labels)
{
	const char *value = NULL;
	size_t i;

	if (sel == NULL || !sel->present)
		return false;
	for (i = 0; i < sel->match_labels.n; i++) {
		if (!labels_get(labels, sel->match_labels.items[i].key, &value) ||
		    strcmp(value, sel->match_labels.items[i].value) != 0)
			return false;
	}
	for (i = 0; i < sel->n_exprs; i++) {
		const struct gq_sel_req *r = &sel->exprs[i];
		bool has = labels_get(labels, r->key, &value);

		switch (r->op) {
		case GQ_SEL_IN:
			if (!has || !req_has_value(r, value))
				return false;
			break;
		case GQ_SEL_NOT_IN:
			if (has && req_has_value(r, value))
				return false;
			break;
		case GQ_SEL_EXISTS:
			if (!has)
				return false;
			break;
		case GQ_SEL_DOES_NOT_EXIST:
			if (has)
				return false;
			break;
		}
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* metadata                                                             */
/* ------------------------------------------------------------------ */

/* Decodes apiVersion/kind (checked when given) and metadata into t; t owns
 * what it decoded, also after a failure. */
static int dec_metadata(struct gq_team *t, yajl_val obj, struct gq_err *err)
{
	yajl_val md, v;
	int rc;

	v = gq_json_get(obj, "apiVersion");
	if (v != NULL && (!YAJL_IS_STRING(v) || strcmp(v->u.string, GQ_API_VERSION) != 0))
		return gq_err_set(err, GQ_EINVAL, "apiVersion: must be \"%s\"", GQ_API_VERSION);
	v = gq_json_get(obj, "kind");
	if (v != NULL && (!YAJL_IS_STRING(v) || strcmp(v->u.string, GQ_KIND) != 0))
		return gq_err_set(err, GQ_EINVAL, "kind: must be \"%s\"", GQ_KIND);
	md = gq_json_get(obj, "metadata");
	if (md == NULL)
		return gq_err_set(err, GQ_EINVAL, "metadata: required");
	rc = want_object(md, "metadata", err);
	if (rc != GQ_OK)
		return rc;
	v = gq_json_get(md, "name");
	if (v == NULL)
		return gq_err_set(err, GQ_EINVAL, "metadata.name: required");
	rc = dec_string(&t->name, v, "metadata.name", 253, err);
	if (rc != GQ_OK)
		return rc;
	if (!dns_label(t->name))
		return gq_err_set(err, GQ_EINVAL,
				  "metadata.name: \"%s\" must be a DNS-1123 label (at most 63 "
				  "lowercase alphanumerics or '-', starting and ending "
				  "alphanumeric), as it prefixes PriorityClass names",
				  t->name);
	if ((v = gq_json_get(md, "uid")) != NULL) {
		rc = dec_string(&t->uid, v, "metadata.uid", 128, err);
		if (rc != GQ_OK)
			return rc;
	}
	if ((v = gq_json_get(md, "generation")) != NULL) {
		rc = dec_int(&t->generation, v, "metadata.generation", 0, INT64_MAX, err);
		if (rc != GQ_OK)
			return rc;
	}
	if ((v = gq_json_get(md, "creationTimestamp")) != NULL) {
		rc = dec_string(&t->creation_timestamp, v, "metadata.creationTimestamp", 64, err);
		if (rc != GQ_OK)
			return rc;
	}
	t->deleting = gq_json_get(md, "deletionTimestamp") != NULL;
	if ((v = gq_json_get(md, "finalizers")) != NULL) {
		rc = dec_string_list(&t->finalizers, &t->n_finalizers, v, "metadata.finalizers",
				     MAX_FINALIZERS, 317, err);
		if (rc != GQ_OK)
			return rc;
	}
	return GQ_OK;
}

/* ------------------------------------------------------------------ */
/* spec sections                                                        */
/* ------------------------------------------------------------------ */

/* spec.namespaces and spec.namespaceSelector (at least one of them), into t
 * (owned by t, also after a failure). */
static int dec_namespaces(struct gq_team *t, yajl_val spec, struct gq_err *err)
{
	yajl_val ns = gq_json_get(spec, "namespaces");
	yajl_val sel = gq_json_get(spec, "namespaceSelector");
	size_t i;
	long d;
	int rc;

	if (ns == NULL && sel == NULL)
		return gq_err_set(
		    err, GQ_EINVAL,
		    "spec: at least one of spec.namespaces and spec.namespaceSelector "
		    "is required");
	if (ns != NULL) {
		if (YAJL_IS_ARRAY(ns) && ns->u.array.len > GQ_MAX_NAMESPACES)
			return gq_err_set(err, GQ_EINVAL,
					  "spec.namespaces: at most %d namespaces, got %zu",
					  GQ_MAX_NAMESPACES, ns->u.array.len);
		rc = dec_string_list(&t->namespaces, &t->n_namespaces, ns, "spec.namespaces",
				     GQ_MAX_NAMESPACES, 253, err);
		if (rc != GQ_OK)
			return rc;
		for (i = 0; i < t->n_namespaces; i++) {
			if (!dns_label(t->namespaces[i]))
				return gq_err_set(err, GQ_EINVAL,
						  "spec.namespaces[%zu]: \"%s\" is not a valid "
						  "namespace name (DNS-1123 label)",
						  i, t->namespaces[i]);
			d = find_dup(t->namespaces, i);
			if (d >= 0)
				return gq_err_set(
				    err, GQ_EINVAL,
				    "spec.namespaces[%zu]: duplicate namespace \"%s\"", i,
				    t->namespaces[i]);
		}
	}
	return dec_selector(&t->namespace_selector, sel, "spec.namespaceSelector", err);
}

/* Checks one spec.quota.resources key: GQ_OK, or GQ_EINVAL with err naming
 * path. */
static int check_quota_resource(const char *name, const char *path, struct gq_err *err)
{
	if (has_prefix(name, "nvidia.com/") || has_prefix(name, "requests.nvidia.com/") ||
	    has_prefix(name, "limits.nvidia.com/"))
		return gq_err_set(err, GQ_EINVAL,
				  "%s: GPU quotas are set with spec.quota.gpus and "
				  "spec.quota.migSlices, not resources (and Kubernetes silently "
				  "ignores the limits. form of extended resources)",
				  path);
	if (!qualified_name(name))
		return gq_err_set(err, GQ_EINVAL, "%s: \"%s\" is not a valid resource name", path,
				  name);
	if (strchr(name, '/') == NULL && !standard_quota_name(name))
		return gq_err_set(err, GQ_EINVAL,
				  "%s: \"%s\" is not a standard ResourceQuota resource (e.g. "
				  "requests.cpu, limits.memory, pods) nor a qualified name",
				  path, name);
	return GQ_OK;
}

/* spec.quota: gpus, migSlices, resources, into t (owned by t, also after a
 * failure). */
static int dec_quota(struct gq_team *t, yajl_val quota, struct gq_err *err)
{
	char p[MAX_PATH];
	yajl_val v;
	size_t i;
	int64_t n;
	int rc;

	rc = want_object(quota, "spec.quota", err);
	if (rc != GQ_OK)
		return rc;
	if ((v = gq_json_get(quota, "gpus")) != NULL) {
		rc = dec_count(&t->gpus, v, "spec.quota.gpus", err);
		if (rc != GQ_OK)
			return rc;
		t->has_gpus = true;
	}
	if ((v = gq_json_get(quota, "migSlices")) != NULL) {
		rc = dec_res_map(&t->mig_slices, v, "spec.quota.migSlices", err);
		if (rc != GQ_OK)
			return rc;
		for (i = 0; i < t->mig_slices.n; i++) {
			struct gq_res *r = &t->mig_slices.items[i];

			path_fmt(p, sizeof(p), "spec.quota.migSlices[%s]", r->name);
			if (!mig_profile(r->name) || strlen(r->name) > 59)
				return gq_err_set(
				    err, GQ_EINVAL,
				    "%s: \"%s\" is not a MIG profile like \"1g.10gb\" "
				    "(<n>g.<m>gb with optional .suffix)",
				    p, r->name);
			if (r->q.milli % 1000 != 0)
				return gq_err_set(err, GQ_EINVAL, "%s: must be a whole number", p);
			n = r->q.milli / 1000;
			r->q = gq_quantity_from_int(n);
		}
	}
	if ((v = gq_json_get(quota, "resources")) != NULL) {
		rc = dec_res_map(&t->resources, v, "spec.quota.resources", err);
		if (rc != GQ_OK)
			return rc;
		for (i = 0; i < t->resources.n; i++) {
			path_fmt(p, sizeof(p), "spec.quota.resources[%s]",
				 t->resources.items[i].name);
			rc = check_quota_resource(t->resources.items[i].name, p, err);
			if (rc != GQ_OK)
				return rc;
		}
	}
	return GQ_OK;
}

/* Checks the keys of a container default map (cpu, memory,
 * ephemeral-storage): GQ_OK, or GQ_EINVAL with err naming path. */
static int check_container_keys(const struct gq_res_list *l, const char *path, struct gq_err *err)
{
	size_t i;
	const char *name;

	for (i = 0; i < l->n; i++) {
		name = l->items[i].name;
		if (strcmp(name, "cpu") == 0 || strcmp(name, "memory") == 0 ||
		    strcmp(name, "ephemeral-storage") == 0)
			continue;
		if (has_prefix(name, "nvidia.com/"))
			return gq_err_set(
			    err, GQ_EINVAL,
			    "%s[%s]: GPU resources may not have container defaults "
			    "(a LimitRange default is injected into every container); "
			    "use spec.limits.maxGPUsPerPod",
			    path, name);
		return gq_err_set(err, GQ_EINVAL,
				  "%s[%s]: must be one of cpu, memory, ephemeral-storage", path,
				  name);
	}
	return GQ_OK;
}

/* spec.limits: maxGPUsPerPod and container defaults, into t (owned by t, also
 * after a failure). */
static int dec_limits(struct gq_team *t, yajl_val limits, struct gq_err *err)
{
	const struct gq_res *d;
	yajl_val v, c;
	size_t i;
	int rc;

	rc = want_object(limits, "spec.limits", err);
	if (rc != GQ_OK)
		return rc;
	if ((v = gq_json_get(limits, "maxGPUsPerPod")) != NULL) {
		rc = dec_count(&t->max_gpus_per_pod, v, "spec.limits.maxGPUsPerPod", err);
		if (rc != GQ_OK)
			return rc;
	}
	c = gq_json_get(limits, "container");
	if (c == NULL)
		return GQ_OK;
	rc = want_object(c, "spec.limits.container", err);
	if (rc != GQ_OK)
		return rc;
	if ((v = gq_json_get(c, "defaultRequest")) != NULL) {
		rc = dec_res_map(&t->container_default_request, v,
				 "spec.limits.container.defaultRequest", err);
		if (rc == GQ_OK)
			rc = check_container_keys(&t->container_default_request,
						  "spec.limits.container.defaultRequest", err);
		if (rc != GQ_OK)
			return rc;
	}
	if ((v = gq_json_get(c, "default")) != NULL) {
		rc = dec_res_map(&t->container_default, v, "spec.limits.container.default", err);
		if (rc == GQ_OK)
			rc = check_container_keys(&t->container_default,
						  "spec.limits.container.default", err);
		if (rc != GQ_OK)
			return rc;
	}
	for (i = 0; i < t->container_default_request.n; i++) {
		const struct gq_res *r = &t->container_default_request.items[i];

		d = gq_res_list_find(&t->container_default, r->name);
		if (d != NULL && gq_quantity_cmp(&r->q, &d->q) > 0)
			return gq_err_set(err, GQ_EINVAL,
					  "spec.limits.container.defaultRequest[%s]: must be <= "
					  "spec.limits.container.default[%s]",
					  r->name, r->name);
	}
	return GQ_OK;
}

/* Decodes one tier of spec.priorities.tiers into the zeroed *tier, which owns
 * its strings, also after a failure. */
static int dec_tier(struct gq_tier *tier, yajl_val v, const char *path, struct gq_err *err)
{
	char p[MAX_PATH];
	yajl_val f;
	int64_t value;
	int rc;

	rc = want_object(v, path, err);
	if (rc != GQ_OK)
		return rc;
	path_fmt(p, sizeof(p), "%s.name", path);
	if ((f = gq_json_get(v, "name")) == NULL)
		return gq_err_set(err, GQ_EINVAL, "%s: required", p);
	rc = dec_string(&tier->name, f, p, 253, err);
	if (rc != GQ_OK)
		return rc;
	if (!dns_label(tier->name))
		return gq_err_set(err, GQ_EINVAL, "%s: \"%s\" must be a DNS-1123 label", p,
				  tier->name);
	path_fmt(p, sizeof(p), "%s.value", path);
	if ((f = gq_json_get(v, "value")) == NULL)
		return gq_err_set(err, GQ_EINVAL, "%s: required", p);
	rc = dec_int(&value, f, p, INT32_MIN, GQ_MAX_TIER_VALUE, err);
	if (rc != GQ_OK)
		return rc;
	tier->value = (int32_t)value;
	if ((f = gq_json_get(v, "preemptionPolicy")) != NULL) {
		path_fmt(p, sizeof(p), "%s.preemptionPolicy", path);
		if (!YAJL_IS_STRING(f) || (strcmp(f->u.string, "PreemptLowerPriority") != 0 &&
					   strcmp(f->u.string, "Never") != 0))
			return gq_err_set(err, GQ_EINVAL,
					  "%s: must be one of PreemptLowerPriority, Never", p);
		tier->preemption_policy = gq_strdup(f->u.string);
	}
	return GQ_OK;
}

/* spec.priorities: tiers and defaultTier, into t (owned by t, also after a
 * failure). Also rejects a team with tiers named "system" or "system-*". */
static int dec_priorities(struct gq_team *t, yajl_val pr, struct gq_err *err)
{
	char p[MAX_PATH];
	yajl_val tiers, v;
	size_t i, j, n;
	int rc;

	rc = want_object(pr, "spec.priorities", err);
	if (rc != GQ_OK)
		return rc;
	tiers = gq_json_get(pr, "tiers");
	if (tiers == NULL)
		return gq_err_set(err, GQ_EINVAL, "spec.priorities.tiers: required");
	if (!YAJL_IS_ARRAY(tiers))
		return gq_err_set(err, GQ_EINVAL, "spec.priorities.tiers: must be a list");
	n = tiers->u.array.len;
	if (n < 1 || n > GQ_MAX_TIERS)
		return gq_err_set(err, GQ_EINVAL,
				  "spec.priorities.tiers: must have 1 to %d tiers, got %zu",
				  GQ_MAX_TIERS, n);
	t->tiers = gq_calloc(n, sizeof(*t->tiers));
	for (i = 0; i < n; i++) {
		path_fmt(p, sizeof(p), "spec.priorities.tiers[%zu]", i);
		t->n_tiers++;
		rc = dec_tier(&t->tiers[i], tiers->u.array.values[i], p, err);
		if (rc != GQ_OK)
			return rc;
		for (j = 0; j < i; j++)
			if (strcmp(t->tiers[j].name, t->tiers[i].name) == 0)
				return gq_err_set(err, GQ_EINVAL, "%s.name: duplicate tier \"%s\"",
						  p, t->tiers[i].name);
	}
	if ((v = gq_json_get(pr, "defaultTier")) != NULL) {
		rc = dec_string(&t->default_tier, v, "spec.priorities.defaultTier", 253, err);
		if (rc != GQ_OK)
			return rc;
		if (gq_team_tier(t, t->default_tier) == NULL)
			return gq_err_set(
			    err, GQ_EINVAL,
			    "spec.priorities.defaultTier: \"%s\" is not one of the tiers",
			    t->default_tier);
	}
	if (strcmp(t->name, "system") == 0 || has_prefix(t->name, "system-"))
		return gq_err_set(
		    err, GQ_EINVAL,
		    "metadata.name: a team with tiers may not be named \"system\" or "
		    "\"system-*\" (PriorityClass names may not start with \"system-\")");
	return GQ_OK;
}

/*
 * Parses budget.period into b->period (and b->period_seconds): Monthly,
 * Weekly, Daily, or a Go-style duration made of <number><unit> parts with
 * units h, m, s and optional fractions ("6h", "1h30m", "1.5h"). A duration
 * must be whole seconds and >= 60 s. Returns GQ_OK, GQ_EPARSE (not one of
 * those) or GQ_EINVAL (not whole seconds, under a minute, out of range).
 */
static int parse_duration_ms(const char *s, int64_t *out)
{
	const char *p = s;
	int64_t total_ms = 0;

	if (*p == '\0' || strlen(s) > 64)
		return GQ_EPARSE;
	while (*p != '\0') {
		int64_t whole = 0, frac = 0, scale = 1, unit, part;
		int nd = 0, nf = 0;

		for (; *p >= '0' && *p <= '9'; p++, nd++) {
			if (nd >= 12)
				return GQ_ERANGE;
			whole = whole * 10 + (*p - '0');
		}
		if (*p == '.') {
			for (p++; *p >= '0' && *p <= '9'; p++, nf++) {
				if (nf < 9) {
					frac = frac * 10 + (*p - '0');
					scale *= 10;
				}
			}
		}
		if (nd == 0 && nf == 0)
			return GQ_EPARSE;
		if (p[0] == 'h')
			unit = 3600000;
		else if (p[0] == 'm' && p[1] != 's')
			unit = 60000;
		else if (p[0] == 's')
			unit = 1000;
		else
			return GQ_EPARSE;
		p++;
		part = whole * unit + frac * unit / scale;
		if (__builtin_add_overflow(total_ms, part, &total_ms))
			return GQ_ERANGE;
	}
	*out = total_ms;
	return GQ_OK;
}

static int parse_period(struct gq_budget *b, const char *s, struct gq_err *err)
{
	static const char *const path = "spec.budget.period";
	int64_t total_ms = 0;
	int rc;

	if (strcmp(s, "Monthly") == 0 || strcmp(s, "Weekly") == 0 || strcmp(s, "Daily") == 0) {
		b->period = s[0] == 'M'	  ? GQ_PERIOD_MONTHLY
			    : s[0] == 'W' ? GQ_PERIOD_WEEKLY
					  : GQ_PERIOD_DAILY;
		return GQ_OK;
	}
	rc = parse_duration_ms(s, &total_ms);
	if (rc == GQ_EPARSE)
		goto bad;
	if (rc != GQ_OK)
		goto range;
	if (total_ms % 1000 != 0)
		return gq_err_set(err, GQ_EINVAL, "%s: \"%s\" must be a whole number of seconds",
				  path, s);
	if (total_ms < 60000)
		return gq_err_set(err, GQ_EINVAL, "%s: \"%s\" is shorter than the minimum of 1m",
				  path, s);
	if (total_ms / 1000 > MAX_PERIOD_S)
		goto range;
	b->period = GQ_PERIOD_DURATION;
	b->period_seconds = total_ms / 1000;
	return GQ_OK;
bad:
	return gq_err_set(err, GQ_EPARSE,
			  "%s: \"%s\" must be one of Monthly, Weekly, Daily or a duration such "
			  "as \"6h\", \"10m\", \"1h30m\" (units h, m, s)",
			  path, s);
range:
	return gq_err_set(err, GQ_EINVAL, "%s: \"%s\" is too long", path, s);
}

/* Whether name is a valid budget.weights key: nvidia.com/gpu or
 * nvidia.com/mig-<profile>. */
static bool weight_key(const char *name)
{
	if (strcmp(name, "nvidia.com/gpu") == 0)
		return true;
	return has_prefix(name, MIG_PREFIX) && mig_profile(name + strlen(MIG_PREFIX)) &&
	       strlen(name) <= 11 + 63;
}

/*
 * spec.budget, with its defaults (Monthly, Deny, warning at 80%), into
 * t->budget (owned by t, also after a failure). The tiers must be decoded
 * first: exemptTiers are checked against them.
 */
static int dec_budget(struct gq_team *t, yajl_val bv, struct gq_err *err)
{
	struct gq_budget *b = &t->budget;
	char p[MAX_PATH];
	char *s = NULL;
	yajl_val v;
	int64_t pct;
	size_t i;
	int rc;

	rc = want_object(bv, "spec.budget", err);
	if (rc != GQ_OK)
		return rc;
	b->present = true;
	b->period = GQ_PERIOD_MONTHLY;
	b->on_exhausted = GQ_EXHAUSTED_DENY;
	b->warn_at_percent = 80;
	if ((v = gq_json_get(bv, "gpuHours")) == NULL)
		return gq_err_set(err, GQ_EINVAL, "spec.budget.gpuHours: required");
	rc = dec_quantity(&b->gpu_hours, v, "spec.budget.gpuHours", err);
	if (rc != GQ_OK)
		return rc;
	if ((v = gq_json_get(bv, "period")) != NULL) {
		rc = dec_string(&s, v, "spec.budget.period", 64, err);
		if (rc != GQ_OK)
			return rc;
		rc = parse_period(b, s, err);
		free(s);
		if (rc != GQ_OK)
			return rc;
	}
	if ((v = gq_json_get(bv, "onExhausted")) != NULL) {
		const char *e = YAJL_IS_STRING(v) ? v->u.string : "";

		if (strcmp(e, "Deny") == 0)
			b->on_exhausted = GQ_EXHAUSTED_DENY;
		else if (strcmp(e, "Hold") == 0)
			b->on_exhausted = GQ_EXHAUSTED_HOLD;
		else if (strcmp(e, "Deprioritize") == 0)
			b->on_exhausted = GQ_EXHAUSTED_DEPRIORITIZE;
		else
			return gq_err_set(err, GQ_EINVAL,
					  "spec.budget.onExhausted: must be one of Deny, Hold, "
					  "Deprioritize");
	}
	if ((v = gq_json_get(bv, "warnAtPercent")) != NULL) {
		rc = dec_int(&pct, v, "spec.budget.warnAtPercent", 0, 100, err);
		if (rc != GQ_OK)
			return rc;
		b->warn_at_percent = (int)pct;
	}
	if ((v = gq_json_get(bv, "exemptTiers")) != NULL) {
		rc = dec_string_list(&b->exempt_tiers, &b->n_exempt_tiers, v,
				     "spec.budget.exemptTiers", GQ_MAX_TIERS, 253, err);
		if (rc != GQ_OK)
			return rc;
		for (i = 0; i < b->n_exempt_tiers; i++) {
			if (gq_team_tier(t, b->exempt_tiers[i]) == NULL)
				return gq_err_set(
				    err, GQ_EINVAL,
				    "spec.budget.exemptTiers[%zu]: \"%s\" is not one of "
				    "the tiers",
				    i, b->exempt_tiers[i]);
			if (find_dup(b->exempt_tiers, i) >= 0)
				return gq_err_set(
				    err, GQ_EINVAL,
				    "spec.budget.exemptTiers[%zu]: duplicate tier \"%s\"", i,
				    b->exempt_tiers[i]);
		}
	}
	if ((v = gq_json_get(bv, "weights")) != NULL) {
		rc = dec_res_map(&b->weights, v, "spec.budget.weights", err);
		if (rc != GQ_OK)
			return rc;
		for (i = 0; i < b->weights.n; i++) {
			path_fmt(p, sizeof(p), "spec.budget.weights[%s]", b->weights.items[i].name);
			if (!weight_key(b->weights.items[i].name))
				return gq_err_set(err, GQ_EINVAL,
						  "%s: must be nvidia.com/gpu or "
						  "nvidia.com/mig-<profile>",
						  p);
			if (b->weights.items[i].q.milli > GQ_COST_MAX_WEIGHT_MILLI)
				return gq_err_set(err, GQ_EINVAL, "%s: must be at most %d", p,
						  GQ_COST_MAX_WEIGHT);
		}
	}
	return GQ_OK;
}

/* spec.sharing's drainTimeout (default 10m, at least 1s, whole seconds, at
 * most a week), evict and maxUnavailable (default 1, 1..1000). */
static int dec_sharing_drain(struct gq_sharing *s, yajl_val sv, struct gq_err *err)
{
	yajl_val v;
	int64_t ms = 600000;

	s->max_unavailable = 1;
	if ((v = gq_json_get(sv, "drainTimeout")) != NULL) {
		int rc = YAJL_IS_STRING(v) ? parse_duration_ms(v->u.string, &ms) : GQ_EPARSE;

		if (rc != GQ_OK || ms < 1000 || ms % 1000 != 0 || ms > 7 * 86400000LL)
			return gq_err_set(err, GQ_EINVAL,
					  "spec.sharing.drainTimeout: must be a duration of whole "
					  "seconds from 1s to 168h, such as \"30s\" or \"10m\"");
	}
	s->drain_timeout_ms = ms;
	if ((v = gq_json_get(sv, "evict")) != NULL) {
		if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
			return gq_err_set(err, GQ_EINVAL, "spec.sharing.evict: must be a boolean");
		s->evict = YAJL_IS_TRUE(v);
	}
	if ((v = gq_json_get(sv, "maxUnavailable")) != NULL) {
		if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 1 || YAJL_GET_INTEGER(v) > 1000)
			return gq_err_set(err, GQ_EINVAL,
					  "spec.sharing.maxUnavailable: must be an integer from 1 "
					  "to 1000");
		s->max_unavailable = (int)YAJL_GET_INTEGER(v);
	}
	return GQ_OK;
}

/* spec.sharing, into t->sharing (owned by t, also after a failure). */
static int dec_sharing(struct gq_team *t, yajl_val sv, struct gq_err *err)
{
	struct gq_sharing *s = &t->sharing;
	yajl_val v;
	int rc;

	rc = want_object(sv, "spec.sharing", err);
	if (rc != GQ_OK)
		return rc;
	s->present = true;
	rc = dec_selector(&s->node_selector, gq_json_get(sv, "nodeSelector"),
			  "spec.sharing.nodeSelector", err);
	if (rc != GQ_OK)
		return rc;
	if ((v = gq_json_get(sv, "migConfig")) != NULL) {
		rc = dec_string(&s->mig_config, v, "spec.sharing.migConfig", 63, err);
		if (rc != GQ_OK)
			return rc;
		if (!label_value(s->mig_config))
			return gq_err_set(
			    err, GQ_EINVAL,
			    "spec.sharing.migConfig: \"%s\" is not a valid label value",
			    s->mig_config);
	}
	rc = dec_sharing_drain(s, sv, err);
	if (rc != GQ_OK)
		return rc;
	if ((v = gq_json_get(sv, "devicePluginConfig")) != NULL) {
		rc = dec_string(&s->device_plugin_config, v, "spec.sharing.devicePluginConfig", 63,
				err);
		if (rc != GQ_OK)
			return rc;
		if (!label_value(s->device_plugin_config))
			return gq_err_set(err, GQ_EINVAL,
					  "spec.sharing.devicePluginConfig: \"%s\" is not a valid "
					  "label value",
					  s->device_plugin_config);
	}
	return GQ_OK;
}

/* Decodes every section of obj into t; t may be partly filled on failure. */
static int dec_team(struct gq_team *t, yajl_val obj, struct gq_err *err)
{
	yajl_val spec, v;
	int rc;

	if (!YAJL_IS_OBJECT(obj))
		return gq_err_set(err, GQ_EINVAL, "object: must be a JSON object");
	rc = dec_metadata(t, obj, err);
	if (rc != GQ_OK)
		return rc;
	spec = gq_json_get(obj, "spec");
	if (spec == NULL)
		return gq_err_set(err, GQ_EINVAL, "spec: required");
	rc = want_object(spec, "spec", err);
	if (rc == GQ_OK)
		rc = dec_namespaces(t, spec, err);
	if (rc == GQ_OK && (v = gq_json_get(spec, "quota")) != NULL)
		rc = dec_quota(t, v, err);
	if (rc == GQ_OK && (v = gq_json_get(spec, "limits")) != NULL)
		rc = dec_limits(t, v, err);
	if (rc == GQ_OK && (v = gq_json_get(spec, "priorities")) != NULL)
		rc = dec_priorities(t, v, err);
	if (rc == GQ_OK && (v = gq_json_get(spec, "budget")) != NULL)
		rc = dec_budget(t, v, err);
	if (rc == GQ_OK && (v = gq_json_get(spec, "sharing")) != NULL)
		rc = dec_sharing(t, v, err);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Public API                                                           */
/* ------------------------------------------------------------------ */

/* Decodes and validates into a private struct first, so *out is only
 * touched on success. */
int gq_team_decode(struct gq_team *out, yajl_val obj, struct gq_err *err)
{
	struct gq_team t;
	int rc;

	memset(&t, 0, sizeof(t));
	rc = dec_team(&t, obj, err);
	if (rc != GQ_OK) {
		gq_team_free(&t);
		return rc;
	}
	*out = t;
	return GQ_OK;
}

/* See spec.h. */
void gq_res_list_free(struct gq_res_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->items[i].name);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

/* See spec.h. */
void gq_res_list_copy(struct gq_res_list *dst, const struct gq_res_list *src)
{
	dst->n = 0;
	dst->items = NULL;
	if (src == NULL || src->n == 0)
		return;
	dst->items = gq_calloc(src->n, sizeof(*dst->items));
	for (size_t i = 0; i < src->n; i++) {
		dst->items[i].name = gq_strdup(src->items[i].name);
		dst->items[i].q = src->items[i].q;
	}
	dst->n = src->n;
}

/* See spec.h. l must not be NULL. */
const struct gq_res *gq_res_list_find(const struct gq_res_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->items[i].name, name) == 0)
			return &l->items[i];
	return NULL;
}

/* See spec.h. */
void gq_team_free(struct gq_team *t)
{
	size_t i;

	free(t->name);
	free(t->uid);
	free(t->creation_timestamp);
	str_list_free(t->finalizers, t->n_finalizers);
	str_list_free(t->namespaces, t->n_namespaces);
	selector_free(&t->namespace_selector);
	gq_res_list_free(&t->mig_slices);
	gq_res_list_free(&t->resources);
	gq_res_list_free(&t->container_default_request);
	gq_res_list_free(&t->container_default);
	for (i = 0; i < t->n_tiers; i++) {
		free(t->tiers[i].name);
		free(t->tiers[i].preemption_policy);
	}
	free(t->tiers);
	free(t->default_tier);
	str_list_free(t->budget.exempt_tiers, t->budget.n_exempt_tiers);
	gq_res_list_free(&t->budget.weights);
	selector_free(&t->sharing.node_selector);
	free(t->sharing.mig_config);
	free(t->sharing.device_plugin_config);
	memset(t, 0, sizeof(*t));
}

/* See spec.h. */
const struct gq_tier *gq_team_tier(const struct gq_team *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n_tiers; i++)
		if (t->tiers[i].name != NULL && strcmp(t->tiers[i].name, name) == 0)
			return &t->tiers[i];
	return NULL;
}

/* See spec.h. */
char *gq_team_priority_class_name(const struct gq_team *t, const char *tier)
{
	return gq_asprintf("%s-%s", t->name, tier);
}
