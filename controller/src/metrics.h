/*
 * metrics.h - the Prometheus text exposition format (version 0.0.4), pure.
 *
 * A scrape builds a struct gq_metrics: families are declared with their
 * type and help, samples are added to them in any order, and
 * gq_metrics_render writes every family once, as one group (HELP, TYPE,
 * then its samples in the order they were added), so the label sets of
 * one family are never interleaved with another's. Label values and help
 * texts are escaped as the format requires (\\, \" and \n in label values;
 * \\ and \n in help). Histograms are kept by struct gq_metrics_histogram,
 * which any thread may observe into while another renders it.
 *
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */
#ifndef GQ_METRICS_H
#define GQ_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum gq_metric_type {
	GQ_METRIC_COUNTER,
	GQ_METRIC_GAUGE,
	GQ_METRIC_HISTOGRAM,
};

/* Most buckets a histogram has (not counting +Inf). */
#define GQ_METRICS_MAX_BUCKETS 24

/* Upper bounds (seconds) for request and reconcile latencies. */
extern const double gq_metrics_latency_buckets[];
extern const size_t gq_metrics_n_latency_buckets;

/*
 * A histogram: cumulative bucket counts are computed when rendered, so an
 * observation is one atomic add per field (no lock). The sum is kept in
 * nanoseconds. Initialise with gq_metrics_histogram_init.
 */
struct gq_metrics_histogram {
	const double *bounds; /* upper bounds, ascending; borrowed (static) */
	size_t n_bounds;      /* <= GQ_METRICS_MAX_BUCKETS */
	atomic_ullong counts[GQ_METRICS_MAX_BUCKETS + 1]; /* per bucket; last = above all */
	atomic_ullong sum_ns;				  /* sum of observations */
};

void gq_metrics_histogram_init(struct gq_metrics_histogram *h, const double *bounds, size_t n);
/* Records one observation of `seconds` (negative counts as 0). */
void gq_metrics_histogram_observe(struct gq_metrics_histogram *h, double seconds);

/* The set of families of one scrape. Opaque. */
struct gq_metrics;

/* A new, empty set (caller frees with gq_metrics_free). */
struct gq_metrics *gq_metrics_new(void);
void gq_metrics_free(struct gq_metrics *m);

/*
 * Declares family `name` (a valid metric name; for a histogram, the name
 * without _bucket/_sum/_count) with its type and help text (copied).
 * Declaring a family again changes nothing. A declared family without
 * samples is rendered with its HELP and TYPE only.
 */
void gq_metrics_family(struct gq_metrics *m, const char *name, enum gq_metric_type type,
		       const char *help);

/*
 * Adds a sample of value v to family `name`, which must have been declared
 * (GQ_EINVAL otherwise, or when it is a histogram); the variadic arguments
 * are label name/value pairs ending with NULL (values are copied and
 * escaped when rendered). Returns GQ_OK or GQ_EINVAL.
 */
int gq_metrics_add(struct gq_metrics *m, const char *name, double v, ...) __attribute__((sentinel));

/*
 * Adds the series of histogram h to histogram family `name`: one _bucket
 * sample per bound plus le="+Inf", then _sum (seconds) and _count, with
 * the label pairs given (ending with NULL). Returns GQ_OK or GQ_EINVAL.
 */
int gq_metrics_add_histogram(struct gq_metrics *m, const char *name,
			     const struct gq_metrics_histogram *h, ...) __attribute__((sentinel));

/*
 * Writes every family, in the order declared, into b. Returns GQ_OK or
 * GQ_ETOOBIG when b's maximum is reached (b then holds a truncated text).
 */
int gq_metrics_render(const struct gq_metrics *m, struct gq_buf *b);

/* Appends value v as the format writes it: integers without a fraction,
 * others with 17 significant digits, NaN, +Inf, -Inf. */
int gq_metrics_format_value(struct gq_buf *b, double v);

#endif
