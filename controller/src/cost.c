/*
 * cost.c - the one GPU cost model (see cost.h): resource weights, the
 * effective request of a pod, its weight as an exact fraction, and what it
 * costs over time. Pure and overflow-checked (gq_ck_*: GQ_ERANGE instead of
 * wrapping).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cost.h"
#include "api.h"
#include "gq.h"
#include "spec.h"

#define GPU_PREFIX GQ_NVIDIA_PREFIX
#define MIG_PREFIX GQ_NVIDIA_MIG_PREFIX

static int64_t gcd64(int64_t a, int64_t b)
{
	while (b != 0) {
		int64_t t = a % b;

		a = b;
		b = t;
	}
	return a < 0 ? -a : a;
}

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* ------------------------------------------------------------------ */
/* Effective request                                                    */
/* ------------------------------------------------------------------ */

int gq_cost_acc_add(struct gq_cost_acc *a, enum gq_cost_kind kind, int64_t count)
{
	int64_t demand;
	int rc;

	switch (kind) {
	case GQ_COST_CONTAINER: return gq_ck_add(&a->sum, a->sum, count);
	case GQ_COST_SIDECAR:
		/* runs beside the regular containers and every later init
		 * container; the sidecars alone never exceed sum */
		rc = gq_ck_add(&a->sum, a->sum, count);
		if (rc == GQ_OK)
			rc = gq_ck_add(&a->sidecar, a->sidecar, count);
		return rc;
	case GQ_COST_INIT:
		rc = gq_ck_add(&demand, a->sidecar, count);
		if (rc == GQ_OK && demand > a->init_max)
			a->init_max = demand;
		return rc;
	}
	return GQ_EINVAL;
}

int64_t gq_cost_acc_effective(const struct gq_cost_acc *a)
{
	return a->sum > a->init_max ? a->sum : a->init_max;
}

/* ------------------------------------------------------------------ */
/* Weights                                                              */
/* ------------------------------------------------------------------ */

bool gq_cost_weight_ok(const struct gq_cost_weight *w)
{
	return w->num >= 0 && w->den >= 1;
}

/* Builds the reduced fraction num/den (num >= 0, den >= 1). */
static struct gq_cost_weight frac(int64_t num, int64_t den)
{
	struct gq_cost_weight w;
	int64_t g = gcd64(num, den);

	if (g == 0)
		g = 1;
	w.num = num / g;
	w.den = den / g;
	if (w.num == 0)
		w.den = 1;
	return w;
}

/* *a += b * count, exactly. */
static int frac_add_mul(struct gq_cost_weight *a, const struct gq_cost_weight *b, int64_t count)
{
	int64_t g, bn, bd, den, x, y, num;
	int rc;

	g = gcd64(count, b->den);
	if (g == 0)
		g = 1;
	rc = gq_ck_mul(&bn, b->num, count / g);
	if (rc != GQ_OK)
		return rc;
	bd = b->den / g;
	g = gcd64(a->den, bd);
	rc = gq_ck_mul(&den, a->den / g, bd);
	if (rc == GQ_OK)
		rc = gq_ck_mul(&x, a->num, bd / g);
	if (rc == GQ_OK)
		rc = gq_ck_mul(&y, bn, a->den / g);
	if (rc == GQ_OK)
		rc = gq_ck_add(&num, x, y);
	if (rc == GQ_OK)
		*a = frac(num, den);
	return rc;
}

/* The <g> of "nvidia.com/mig-<g>g.<m>gb[...]", or 0 if name is not of that form. */
static int64_t mig_compute_slices(const char *name)
{
	const char *p = name + strlen(MIG_PREFIX);
	int64_t g = 0;

	if (!(*p >= '0' && *p <= '9'))
		return 0;
	while (*p >= '0' && *p <= '9') {
		if (g > 1000)
			return 0;
		g = g * 10 + (*p++ - '0');
	}
	if (p[0] != 'g' || p[1] != '.')
		return 0;
	p += 2;
	if (!(*p >= '0' && *p <= '9'))
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p[0] != 'g' || p[1] != 'b')
		return 0;
	return g;
}

int gq_cost_resource_weight(struct gq_cost_weight *out, const char *name, int64_t node_replicas,
			    const struct gq_res_list *overrides)
{
	const struct gq_res *o = NULL;
	int64_t g;

	if (name == NULL)
		return GQ_EINVAL;
	if (overrides != NULL)
		o = gq_res_list_find(overrides, name);
	if (o != NULL) {
		if (o->q.milli < 0 || o->q.milli > GQ_COST_MAX_WEIGHT_MILLI)
			return GQ_EINVAL;
		*out = frac(o->q.milli, 1000);
	} else if (strcmp(name, GQ_NVIDIA_GPU) == 0 || strcmp(name, "nvidia.com/gpu.shared") == 0) {
		*out = frac(1, node_replicas > 1 ? node_replicas : 1);
	} else if (has_prefix(name, MIG_PREFIX) && (g = mig_compute_slices(name)) >= 1 && g <= 7) {
		*out = frac(g, 7);
	} else if (has_prefix(name, GPU_PREFIX)) {
		*out = frac(1, 1);
	} else {
		*out = frac(0, 1);
	}
	return GQ_OK;
}

/* Whether resource `name` already appeared before entry (ci, ri). */
static bool seen_before(const struct gq_cost_container *c, size_t ci, size_t ri, const char *name)
{
	size_t i, j;

	for (i = 0; i <= ci; i++)
		for (j = 0; j < (i == ci ? ri : c[i].n_reqs); j++)
			if (strcmp(c[i].reqs[j].name, name) == 0)
				return true;
	return false;
}

/* The pod's effective request of resource `name` (gq_cost_acc). */
static int effective_count(int64_t *out, const struct gq_cost_container *c, size_t n,
			   const char *name)
{
	struct gq_cost_acc a = {0, 0, 0};
	int64_t v;
	size_t i, j;
	int rc;

	for (i = 0; i < n; i++) {
		v = 0;
		for (j = 0; j < c[i].n_reqs; j++) {
			if (strcmp(c[i].reqs[j].name, name) != 0)
				continue;
			rc = gq_ck_add(&v, v, c[i].reqs[j].count);
			if (rc != GQ_OK)
				return rc;
		}
		rc = gq_cost_acc_add(&a,
				     !c[i].init	    ? GQ_COST_CONTAINER
				     : c[i].sidecar ? GQ_COST_SIDECAR
						    : GQ_COST_INIT,
				     v);
		if (rc != GQ_OK)
			return rc;
	}
	*out = gq_cost_acc_effective(&a);
	return GQ_OK;
}

/* Checks the containers as gq_cost_pod_weight does: GQ_OK, GQ_EINVAL or
 * GQ_ETOOBIG. */
static int check_containers(const struct gq_cost_container *c, size_t n)
{
	size_t i, j, total = 0;

	for (i = 0; i < n; i++) {
		if (c[i].n_reqs > 0 && c[i].reqs == NULL)
			return GQ_EINVAL;
		total += c[i].n_reqs;
		if (c[i].n_reqs > GQ_COST_MAX_REQS || total > GQ_COST_MAX_REQS)
			return GQ_ETOOBIG;
		for (j = 0; j < c[i].n_reqs; j++)
			if (c[i].reqs[j].name == NULL || c[i].reqs[j].count < 0)
				return GQ_EINVAL;
	}
	return GQ_OK;
}

int gq_cost_pod_weight(struct gq_cost_weight *out, const struct gq_cost_container *c, size_t n,
		       int64_t node_replicas, const struct gq_res_list *overrides)
{
	struct gq_cost_weight sum = {0, 1}, w;
	size_t i, j;
	int64_t count;
	int rc = check_containers(c, n);

	if (rc != GQ_OK)
		return rc;
	for (i = 0; i < n; i++) {
		for (j = 0; j < c[i].n_reqs; j++) {
			const char *name = c[i].reqs[j].name;

			if (seen_before(c, i, j, name))
				continue;
			rc = gq_cost_resource_weight(&w, name, node_replicas, overrides);
			if (rc != GQ_OK)
				return rc;
			if (w.num == 0)
				continue;
			rc = effective_count(&count, c, n, name);
			if (rc == GQ_OK)
				rc = frac_add_mul(&sum, &w, count);
			if (rc != GQ_OK)
				return rc;
		}
	}
	*out = sum;
	return GQ_OK;
}

int gq_cost_effective(struct gq_cost_req *out, size_t cap, size_t *n_out,
		      const struct gq_cost_container *c, size_t n)
{
	size_t i, j, k = 0;
	int rc = check_containers(c, n);

	*n_out = 0;
	for (i = 0; rc == GQ_OK && i < n; i++) {
		for (j = 0; rc == GQ_OK && j < c[i].n_reqs; j++) {
			if (seen_before(c, i, j, c[i].reqs[j].name))
				continue;
			if (k == cap)
				return GQ_ETOOBIG;
			out[k].name = c[i].reqs[j].name;
			rc = effective_count(&out[k].count, c, n, out[k].name);
			k++;
		}
	}
	if (rc == GQ_OK)
		*n_out = k;
	return rc;
}

int gq_cost_effective_weight(struct gq_cost_weight *out, const struct gq_cost_req *eff, size_t n,
			     int64_t node_replicas, const struct gq_res_list *overrides)
{
	struct gq_cost_container c = {.reqs = eff, .n_reqs = n};

	return gq_cost_pod_weight(out, &c, n > 0 ? 1 : 0, node_replicas, overrides);
}

int64_t gq_cost_weight_micro(const struct gq_cost_weight *w)
{
	int64_t q, r, hi, lo, v;

	if (!gq_cost_weight_ok(w))
		return 0;
	q = w->num / w->den;
	r = w->num % w->den;
	if (gq_ck_mul(&hi, q, GQ_COST_MICRO) != GQ_OK)
		return INT64_MAX;
	/* r * 1e6 / den rounded; only a denominator beyond 9.2e12 (never built
	 * by gq_cost_pod_weight) needs the floating-point fallback. */
	if (gq_ck_mul(&lo, r, GQ_COST_MICRO) != GQ_OK)
		lo = (int64_t)((double)r / (double)w->den * 1e6 + 0.5);
	else
		lo = (lo + w->den / 2) / w->den;
	if (gq_ck_add(&v, hi, lo) != GQ_OK)
		return INT64_MAX;
	return v;
}

/* ------------------------------------------------------------------ */
/* Cost over time and the warning threshold                             */
/* ------------------------------------------------------------------ */

/* Computed as q*num + r*num/den with u = q*den + r, so that only r*num
 * (r < den) must fit, not u*num. */
int gq_cost_usage(int64_t *out, int64_t x_ms, const struct gq_cost_weight *w)
{
	int64_t u, q, r, a, c;
	int rc;

	if (!gq_cost_weight_ok(w) || x_ms < 0)
		return GQ_EINVAL;
	rc = gq_ck_mul(&u, x_ms, 1000);
	if (rc != GQ_OK)
		return rc;
	q = u / w->den;
	r = u % w->den;
	rc = gq_ck_mul(&a, q, w->num);
	if (rc == GQ_OK)
		rc = gq_ck_mul(&c, r, w->num);
	if (rc == GQ_OK)
		rc = gq_ck_add(out, a, c / w->den);
	return rc;
}

int64_t gq_cost_expected_micro(const struct gq_cost_weight *w, int64_t seconds)
{
	int64_t ms, v;

	if (seconds <= 0)
		return 0;
	if (gq_ck_mul(&ms, seconds, 1000) != GQ_OK || gq_cost_usage(&v, ms, w) != GQ_OK)
		return INT64_MAX;
	return v;
}

bool gq_cost_warn_reached(int64_t used_micro, int64_t budget_micro, int percent)
{
	int64_t b = budget_micro > 0 ? budget_micro : 0;
	int64_t p = percent > 100 ? 100 : percent;
	int64_t threshold;

	if (percent <= 0)
		return false;
	/* ceil(b * p / 100) without overflow: b/100*p <= b and the rest < p. */
	threshold = b / 100 * p + (b % 100 * p + 99) / 100;
	return used_micro >= threshold;
}
