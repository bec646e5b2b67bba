/*
 * quantity.h - Kubernetes resource quantities ("500m", "2Gi", "1e3", "64"),
 * parsed and printed exactly, following k8s.io/apimachinery's
 * resource.Quantity canonical forms, so that values we send compare equal
 * to what the apiserver stores and re-applies are no-ops.
 *
 * Values are held as a signed count of milli-units (1/1000). Inputs finer
 * than 1m (e.g. "1n", "0.0001") are rejected with GQ_EPARSE; values whose
 * milli count does not fit int64 give GQ_ERANGE.
 */
#ifndef GQ_QUANTITY_H
#define GQ_QUANTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gq_qformat {
	GQ_QF_DECIMAL_SI = 0, /* "", (n, u,) m, k, M, G, T, P, E */
	GQ_QF_BINARY_SI,      /* Ki, Mi, Gi, Ti, Pi, Ei */
	GQ_QF_DECIMAL_EXP,    /* 1e3, 5E-3 */
};

struct gq_quantity {
	int64_t milli;		/* value x 1000 */
	enum gq_qformat format; /* the suffix family used when printed */
};

/* Longest canonical string gq_quantity_format can produce, with NUL. */
#define GQ_QUANTITY_STRLEN 32

/* Parses s (the whole string; no surrounding spaces; at most 64 bytes).
 * Returns GQ_OK, GQ_EPARSE (syntax, or finer than milli) or GQ_ERANGE; *out
 * is written only on GQ_OK. The "n" and "u" suffixes are accepted when the
 * value is a whole number of milli-units ("1500000u"). */
int gq_quantity_parse(struct gq_quantity *out, const char *s);

/* Writes the canonical form (as the apiserver prints it) into buf. */
void gq_quantity_format(const struct gq_quantity *q, char buf[GQ_QUANTITY_STRLEN]);

/* Integer constructor: n units, DecimalSI; saturates at +-INT64_MAX milli
 * when |n| > INT64_MAX / 1000. */
struct gq_quantity gq_quantity_from_int(int64_t n);

/* Exact comparisons and arithmetic. add/sub keep a's format (b's when a is
 * zero, as Go's Quantity.Add/Sub) and return GQ_ERANGE on overflow, that is
 * when the result leaves +-INT64_MAX milli; out may alias a or b and is
 * untouched on error. */
int gq_quantity_cmp(const struct gq_quantity *a, const struct gq_quantity *b);
int gq_quantity_add(struct gq_quantity *out, const struct gq_quantity *a,
		    const struct gq_quantity *b);
int gq_quantity_sub(struct gq_quantity *out, const struct gq_quantity *a,
		    const struct gq_quantity *b);

/* Value rounded up to whole units, away from zero (as Quantity.Value():
 * 1500m -> 2, -1500m -> -2). */
int64_t gq_quantity_value(const struct gq_quantity *q);
bool gq_quantity_is_zero(const struct gq_quantity *q);

#endif
