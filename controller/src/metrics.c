/*
 * metrics.c - Prometheus text exposition: families rendered as groups,
 * escaped labels, histograms (see metrics.h). Each family keeps its sample
 * lines, already formatted, in a bounded buffer of its own; rendering
 * writes the families one after another.
 */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gq.h"

/* Most bytes of sample lines one family holds (far above any real scrape). */
#define FAMILY_MAX (8u << 20)

const double gq_metrics_latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					     0.1,    0.25,  0.5,    1,	   2.5,	 5,	10};
const size_t gq_metrics_n_latency_buckets = GQ_ARRAY_LEN(gq_metrics_latency_buckets);

struct family {
	char *name;
	char *help;
	enum gq_metric_type type;
	struct gq_buf samples; /* formatted sample lines */
};

struct gq_metrics {
	struct family *f;
	size_t n;
	int error; /* first error of an add (GQ_ETOOBIG), reported by render */
};

void gq_metrics_histogram_init(struct gq_metrics_histogram *h, const double *bounds, size_t n)
{
	h->bounds = bounds;
	h->n_bounds = n < GQ_METRICS_MAX_BUCKETS ? n : GQ_METRICS_MAX_BUCKETS;
	for (size_t i = 0; i <= GQ_METRICS_MAX_BUCKETS; i++)
		atomic_init(&h->counts[i], 0);
	atomic_init(&h->sum_ns, 0);
}

void gq_metrics_histogram_observe(struct gq_metrics_histogram *h, double seconds)
{
	size_t i = 0;

	if (!(seconds > 0))
		seconds = 0;
	while (i < h->n_bounds && seconds > h->bounds[i])
		i++;
	atomic_fetch_add(&h->counts[i], 1);
	atomic_fetch_add(&h->sum_ns, (unsigned long long)(seconds * 1e9 + 0.5));
}

struct gq_metrics *gq_metrics_new(void)
{
	return gq_calloc(1, sizeof(struct gq_metrics));
}

void gq_metrics_free(struct gq_metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->f[i].name);
		free(m->f[i].help);
		gq_buf_free(&m->f[i].samples);
	}
	free(m->f);
	free(m);
}

static struct family *family_find(const struct gq_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->f[i].name, name) == 0)
			return &m->f[i];
	return NULL;
}

void gq_metrics_family(struct gq_metrics *m, const char *name, enum gq_metric_type type,
		       const char *help)
{
	struct family *f;

	if (family_find(m, name))
		return;
	m->f = gq_realloc(m->f, (m->n + 1) * sizeof(*m->f));
	f = &m->f[m->n++];
	f->name = gq_strdup(name);
	f->help = gq_strdup(help ? help : "");
	f->type = type;
	gq_buf_init(&f->samples, FAMILY_MAX);
}

/* v as the format writes it, into out (VALUE_STRLEN bytes). */
#define VALUE_STRLEN 32
static void value_str(char *out, double v)
{
	if (isnan(v))
		snprintf(out, VALUE_STRLEN, "NaN");
	else if (isinf(v))
		snprintf(out, VALUE_STRLEN, "%s", v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		snprintf(out, VALUE_STRLEN, "%lld", (long long)v);
	else
		snprintf(out, VALUE_STRLEN, "%.17g", v);
}

int gq_metrics_format_value(struct gq_buf *b, double v)
{
	char s[VALUE_STRLEN];

	value_str(s, v);
	return gq_buf_puts(b, s);
}

/* Appends s escaped for a label value (\\, \", \n) or, when help, for a
 * HELP text (\\, \n). */
static int put_escaped(struct gq_buf *b, const char *s, bool help)
{
	int rc = GQ_OK;

	for (const char *p = s; *p && rc == GQ_OK; p++) {
		if (*p == '\\')
			rc = gq_buf_puts(b, "\\\\");
		else if (*p == '\n')
			rc = gq_buf_puts(b, "\\n");
		else if (*p == '"' && !help)
			rc = gq_buf_puts(b, "\\\"");
		else
			rc = gq_buf_append(b, p, 1);
	}
	return rc;
}

/* Writes name{labels[,extra_k="extra_v"]} value\n. ap holds name/value
 * pairs ending with NULL. */
static int put_sample(struct gq_buf *b, const char *name, const char *suffix, va_list ap,
		      const char *extra_k, const char *extra_v, double v)
{
	const char *k;
	bool any = false;
	int rc = gq_buf_printf(b, "%s%s", name, suffix);

	while (rc == GQ_OK && (k = va_arg(ap, const char *)) != NULL) {
		const char *val = va_arg(ap, const char *);

		rc = gq_buf_printf(b, "%s%s=\"", any ? "," : "{", k);
		if (rc == GQ_OK)
			rc = put_escaped(b, val ? val : "", false);
		if (rc == GQ_OK)
			rc = gq_buf_puts(b, "\"");
		any = true;
	}
	if (rc == GQ_OK && extra_k) {
		rc = gq_buf_printf(b, "%s%s=\"", any ? "," : "{", extra_k);
		if (rc == GQ_OK)
			rc = put_escaped(b, extra_v, false);
		if (rc == GQ_OK)
			rc = gq_buf_puts(b, "\"");
		any = true;
	}
	if (rc == GQ_OK && any)
		rc = gq_buf_puts(b, "}");
	if (rc == GQ_OK)
		rc = gq_buf_puts(b, " ");
	if (rc == GQ_OK)
		rc = gq_metrics_format_value(b, v);
	if (rc == GQ_OK)
		rc = gq_buf_puts(b, "\n");
	return rc;
}

int gq_metrics_add(struct gq_metrics *m, const char *name, double v, ...)
{
	struct family *f = family_find(m, name);
	va_list ap;
	int rc;

	if (f == NULL || f->type == GQ_METRIC_HISTOGRAM)
		return GQ_EINVAL;
	va_start(ap, v);
	rc = put_sample(&f->samples, name, "", ap, NULL, NULL, v);
	va_end(ap);
	if (rc != GQ_OK && m->error == GQ_OK)
		m->error = rc;
	return rc;
}

int gq_metrics_add_histogram(struct gq_metrics *m, const char *name,
			     const struct gq_metrics_histogram *h, ...)
{
	struct family *f = family_find(m, name);
	unsigned long long cum = 0;
	char le[VALUE_STRLEN];
	va_list ap;
	int rc = GQ_OK;

	if (f == NULL || f->type != GQ_METRIC_HISTOGRAM)
		return GQ_EINVAL;
	for (size_t i = 0; i <= h->n_bounds && rc == GQ_OK; i++) {
		cum += atomic_load(&h->counts[i]);
		value_str(le, i < h->n_bounds ? h->bounds[i] : INFINITY);
		va_start(ap, h);
		rc = put_sample(&f->samples, name, "_bucket", ap, "le", le, (double)cum);
		va_end(ap);
	}
	if (rc == GQ_OK) {
		va_start(ap, h);
		rc = put_sample(&f->samples, name, "_sum", ap, NULL, NULL,
				(double)atomic_load(&h->sum_ns) / 1e9);
		va_end(ap);
	}
	if (rc == GQ_OK) {
		va_start(ap, h);
		rc = put_sample(&f->samples, name, "_count", ap, NULL, NULL, (double)cum);
		va_end(ap);
	}
	if (rc != GQ_OK && m->error == GQ_OK)
		m->error = rc;
	return rc;
}

int gq_metrics_render(const struct gq_metrics *m, struct gq_buf *b)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	int rc = m->error;

	for (size_t i = 0; i < m->n && rc == GQ_OK; i++) {
		const struct family *f = &m->f[i];

		rc = gq_buf_printf(b, "# HELP %s ", f->name);
		if (rc == GQ_OK)
			rc = put_escaped(b, f->help, true);
		if (rc == GQ_OK)
			rc = gq_buf_printf(b, "\n# TYPE %s %s\n", f->name, types[f->type]);
		if (rc == GQ_OK && f->samples.len)
			rc = gq_buf_append(b, f->samples.data, f->samples.len);
	}
	return rc;
}
