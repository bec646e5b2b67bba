/*
 * quantity.c - exact Kubernetes resource quantities.
 *
 * Mirrors k8s.io/apimachinery/pkg/api/resource (quantity.go, suffix.go,
 * amount.go) for the values that fit a signed int64 count of milli-units:
 *
 *   <quantity> ::= [+-] <number> <suffix>
 *   <number>   ::= <digits> | <digits>. | <digits>.<digits> | .<digits>
 *   <suffix>   ::= "" | n u m k M G T P E | Ki Mi Gi Ti Pi Ei | (e|E)[+-]<digits>
 *
 * Parsing is exact: the number is kept as a decimal digit string and scaled
 * with overflow-checked integer arithmetic, never through floating point.
 * Printing reproduces Quantity.String() of a freshly computed value
 * (CanonicalizeBytes): the largest suffix of the value's format that keeps
 * an integer mantissa; BinarySI values that are below 1024 or not whole
 * print as DecimalSI.
 *
 * Deliberate differences from the Go implementation, all on inputs outside
 * what this controller can represent or that no client sends:
 *  - values finer than 1m are GQ_EPARSE (Go rounds them up to 1n);
 *  - |value| > INT64_MAX milli is GQ_ERANGE (Go keeps big decimals and caps
 *    BinarySI at 2^63-1);
 *  - a number without any digit ("+", "-", ".", "-.Ki") is GQ_EPARSE (Go
 *    reads it as 0; the grammar above and the OpenAPI pattern for
 *    quantities both require a digit);
 *  - strings longer than QTY_MAXLEN are GQ_EPARSE;
 *  - a non-zero value with an exponent beyond int32 is GQ_ERANGE/GQ_EPARSE
 *    (Go silently truncates the exponent to int32).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gq.h"
#include "quantity.h"

/* Longest accepted input, in bytes. */
#define QTY_MAXLEN 64

/* Exponents are clamped to this magnitude: any non-zero value scaled that far
 * is out of range or finer than milli whatever its digits are. */
#define QTY_EXP_CLAMP 100000

/* Most factors of 5 (resp. 2) a number of at most QTY_MAXLEN decimal digits
 * can hold: 10^64 < 5^92 < 2^214. Dividing further must leave a remainder. */
#define QTY_MAX_DIV5 92
#define QTY_MAX_DIV2 214

/* One fixed suffix: its text, the format it selects and the power it scales
 * by (10^dec_exp for decimal suffixes, 2^bin_exp for binary ones). */
struct qty_suffix {
	const char *text;
	enum gq_qformat format;
	int dec_exp;
	int bin_exp;
};

static const struct qty_suffix qty_suffixes[] = {
    {"", GQ_QF_DECIMAL_SI, 0, 0},   {"n", GQ_QF_DECIMAL_SI, -9, 0}, {"u", GQ_QF_DECIMAL_SI, -6, 0},
    {"m", GQ_QF_DECIMAL_SI, -3, 0}, {"k", GQ_QF_DECIMAL_SI, 3, 0},  {"M", GQ_QF_DECIMAL_SI, 6, 0},
    {"G", GQ_QF_DECIMAL_SI, 9, 0},  {"T", GQ_QF_DECIMAL_SI, 12, 0}, {"P", GQ_QF_DECIMAL_SI, 15, 0},
    {"E", GQ_QF_DECIMAL_SI, 18, 0}, {"Ki", GQ_QF_BINARY_SI, 0, 10}, {"Mi", GQ_QF_BINARY_SI, 0, 20},
    {"Gi", GQ_QF_BINARY_SI, 0, 30}, {"Ti", GQ_QF_BINARY_SI, 0, 40}, {"Pi", GQ_QF_BINARY_SI, 0, 50},
    {"Ei", GQ_QF_BINARY_SI, 0, 60},
};

/* Binary suffixes by power of 1024, as printed. */
static const char *const qty_bin_names[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};

/* A number being parsed: value = digits x 10^dec_exp x 2^bin_exp, where
 * digits holds ndig decimal digit values (0..9), most significant first. */
struct qty_num {
	unsigned char digits[QTY_MAXLEN];
	size_t ndig;
	int64_t dec_exp;
	int bin_exp;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Interprets the suffix text s (the rest of the input after the number).
 * Sets *format, *dec_exp (power of ten) and *bin_exp (power of two).
 * An exponent suffix is [eE][+-]?[0-9]+ read as an int64 as Go's
 * strconv.ParseInt does (overflow is an error), then clamped to
 * +-QTY_EXP_CLAMP. Returns GQ_OK or GQ_EPARSE.
 */
static int parse_suffix(const char *s, enum gq_qformat *format, int64_t *dec_exp, int *bin_exp)
{
	uint64_t mag = 0, limit = INT64_MAX;
	bool neg = false;
	size_t i;

	for (i = 0; i < GQ_ARRAY_LEN(qty_suffixes); i++) {
		if (strcmp(s, qty_suffixes[i].text) == 0) {
			*format = qty_suffixes[i].format;
			*dec_exp = qty_suffixes[i].dec_exp;
			*bin_exp = qty_suffixes[i].bin_exp;
			return GQ_OK;
		}
	}
	if ((s[0] != 'e' && s[0] != 'E') || s[1] == '\0')
		return GQ_EPARSE;
	s++;
	if (*s == '+' || *s == '-') {
		neg = *s == '-';
		s++;
	}
	if (neg)
		limit = (uint64_t)INT64_MAX + 1;
	if (*s == '\0')
		return GQ_EPARSE;
	for (; *s != '\0'; s++) {
		if (!is_digit(*s))
			return GQ_EPARSE;
		if (__builtin_mul_overflow(mag, 10, &mag) ||
		    __builtin_add_overflow(mag, (uint64_t)(*s - '0'), &mag) || mag > limit)
			return GQ_EPARSE;
	}
	if (mag > QTY_EXP_CLAMP)
		mag = QTY_EXP_CLAMP;
	*format = GQ_QF_DECIMAL_EXP;
	*dec_exp = neg ? -(int64_t)mag : (int64_t)mag;
	*bin_exp = 0;
	return GQ_OK;
}

/*
 * Divides the digit string of n by d (2 or 5) in place. Returns false, with
 * n's digits clobbered, when d does not divide it exactly.
 */
static bool digits_div(struct qty_num *n, unsigned d)
{
	unsigned rem = 0;
	size_t i, o = 0;

	for (i = 0; i < n->ndig; i++) {
		unsigned cur = rem * 10 + n->digits[i];
		unsigned q = cur / d;

		rem = cur % d;
		if (o > 0 || q > 0)
			n->digits[o++] = (unsigned char)q;
	}
	n->ndig = o;
	return rem == 0;
}

/*
 * Computes digits x 10^dec_exp x 2^bin_exp for a non-zero number with no
 * leading or trailing zero digits; dec_exp already includes the +3 that
 * scales units to milli-units. Returns GQ_OK with *out <= INT64_MAX, GQ_EPARSE when the
 * result is not an integer (finer than 1m), GQ_ERANGE when it is too big.
 */
static int num_to_milli(struct qty_num *n, uint64_t *out)
{
	uint64_t v = 0;
	int64_t i;

	if (n->dec_exp < 0) {
		/* divide by 10^k = 5^k x 2^k, exactly or not at all */
		int64_t k = -n->dec_exp;
		int64_t twos;

		if (k > QTY_MAX_DIV5)
			return GQ_EPARSE;
		for (i = 0; i < k; i++) {
			if (!digits_div(n, 5))
				return GQ_EPARSE;
		}
		if (n->bin_exp >= k) {
			n->bin_exp -= (int)k;
		} else {
			twos = k - n->bin_exp;
			if (twos > QTY_MAX_DIV2)
				return GQ_EPARSE;
			for (i = 0; i < twos; i++) {
				if (!digits_div(n, 2))
					return GQ_EPARSE;
			}
			n->bin_exp = 0;
		}
		n->dec_exp = 0;
	}
	for (size_t j = 0; j < n->ndig; j++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)n->digits[j], &v))
			return GQ_ERANGE;
	}
	/* v >= 1 here, so any power of ten above 10^19 overflows */
	if (n->dec_exp > 19)
		return GQ_ERANGE;
	for (i = 0; i < n->dec_exp; i++) {
		if (__builtin_mul_overflow(v, 10, &v))
			return GQ_ERANGE;
	}
	if (n->bin_exp >= 63 || v > ((uint64_t)INT64_MAX >> n->bin_exp))
		return GQ_ERANGE;
	v <<= n->bin_exp;
	*out = v;
	return GQ_OK;
}

/*
 * Parses s as described in quantity.h and the file comment. A zero keeps the
 * format of its suffix ("0Ki" is BinarySI), as in Go; a non-zero BinarySI
 * value below 1 becomes DecimalSI, as in Go. *out is written only on GQ_OK.
 * Returns GQ_OK, GQ_EPARSE or GQ_ERANGE.
 */
int gq_quantity_parse(struct gq_quantity *out, const char *s)
{
	struct qty_num n = {.ndig = 0};
	enum gq_qformat format;
	int64_t sfx_exp;
	size_t len, nfrac = 0, tz = 0, lead = 0;
	bool neg = false, any_digit = false;
	uint64_t mag = 0;
	const char *p;
	int rc;

	if (s == NULL)
		return GQ_EPARSE;
	len = strnlen(s, QTY_MAXLEN + 1);
	if (len == 0 || len > QTY_MAXLEN)
		return GQ_EPARSE;
	p = s;
	if (*p == '+' || *p == '-') {
		neg = *p == '-';
		p++;
	}
	for (; is_digit(*p); p++) {
		n.digits[n.ndig++] = (unsigned char)(*p - '0');
		any_digit = true;
	}
	if (*p == '.') {
		for (p++; is_digit(*p); p++) {
			n.digits[n.ndig++] = (unsigned char)(*p - '0');
			nfrac++;
			any_digit = true;
		}
	}
	if (!any_digit)
		return GQ_EPARSE;
	rc = parse_suffix(p, &format, &sfx_exp, &n.bin_exp);
	if (rc != GQ_OK)
		return rc;

	while (lead < n.ndig && n.digits[lead] == 0)
		lead++;
	if (lead == n.ndig)
		goto done; /* zero, whatever the suffix scales it by */
	memmove(n.digits, n.digits + lead, n.ndig - lead);
	n.ndig -= lead;
	while (n.digits[n.ndig - 1] == 0) {
		n.ndig--;
		tz++;
	}
	/* |sfx_exp| <= QTY_EXP_CLAMP and nfrac, tz <= QTY_MAXLEN: no overflow */
	n.dec_exp = 3 + sfx_exp + (int64_t)tz - (int64_t)nfrac;
	rc = num_to_milli(&n, &mag);
	if (rc != GQ_OK)
		return rc;
	if (format == GQ_QF_BINARY_SI && mag < 1000)
		format = GQ_QF_DECIMAL_SI;
done:
	out->milli = neg ? -(int64_t)mag : (int64_t)mag;
	out->format = format;
	return GQ_OK;
}

/*
 * Writes q in the canonical form Quantity.String() gives for the same value
 * and format: "0" for zero; for BinarySI with |value| >= 1024 and whole, the
 * value divided by the largest power of 1024 that divides it plus Ki..Ei;
 * otherwise (DecimalSI, DecimalExponent, and the remaining BinarySI values
 * as DecimalSI) the value as mantissa x 10^e with trailing zeros moved into
 * e, e lowered to a multiple of 3, and e printed as m/""/k/M/G/T/P/E or as
 * "e<e>". An unknown format prints as DecimalExponent, as in Go.
 */
void gq_quantity_format(const struct gq_quantity *q, char buf[GQ_QUANTITY_STRLEN])
{
	static const char *const dec_names[] = {"m", "", "k", "M", "G", "T", "P", "E"};
	enum gq_qformat format = q->format;
	const char *sign = q->milli < 0 ? "-" : "";
	uint64_t mag = q->milli < 0 ? -(uint64_t)q->milli : (uint64_t)q->milli;
	int exp = -3;

	if (mag == 0) {
		snprintf(buf, GQ_QUANTITY_STRLEN, "0");
		return;
	}
	if (format != GQ_QF_DECIMAL_SI && format != GQ_QF_BINARY_SI && format != GQ_QF_DECIMAL_EXP)
		format = GQ_QF_DECIMAL_EXP;
	if (format == GQ_QF_BINARY_SI) {
		if (mag >= 1024 * 1000 && mag % 1000 == 0) {
			uint64_t units = mag / 1000;
			size_t e = 0;

			while (units % 1024 == 0 && e + 1 < GQ_ARRAY_LEN(qty_bin_names)) {
				units /= 1024;
				e++;
			}
			snprintf(buf, GQ_QUANTITY_STRLEN, "%s%" PRIu64 "%s", sign, units,
				 qty_bin_names[e]);
			return;
		}
		format = GQ_QF_DECIMAL_SI;
	}
	while (mag % 10 == 0) {
		mag /= 10;
		exp++;
	}
	/* exp >= -3, and every factor re-added here was removed above */
	while (exp % 3 != 0) {
		mag *= 10;
		exp--;
	}
	if (format == GQ_QF_DECIMAL_SI && exp / 3 + 1 < (int)GQ_ARRAY_LEN(dec_names))
		snprintf(buf, GQ_QUANTITY_STRLEN, "%s%" PRIu64 "%s", sign, mag,
			 dec_names[exp / 3 + 1]);
	else if (exp == 0)
		snprintf(buf, GQ_QUANTITY_STRLEN, "%s%" PRIu64, sign, mag);
	else
		snprintf(buf, GQ_QUANTITY_STRLEN, "%s%" PRIu64 "e%d", sign, mag, exp);
}

/*
 * n whole units in DecimalSI. |n| above INT64_MAX / 1000 (about 9.2e15)
 * saturates to +-INT64_MAX milli.
 */
struct gq_quantity gq_quantity_from_int(int64_t n)
{
	struct gq_quantity q = {.milli = 0, .format = GQ_QF_DECIMAL_SI};

	if (__builtin_mul_overflow(n, 1000, &q.milli) || q.milli == INT64_MIN)
		q.milli = n < 0 ? -INT64_MAX : INT64_MAX;
	return q;
}

/* Returns -1, 0 or 1 as a is less than, equal to or greater than b. */
int gq_quantity_cmp(const struct gq_quantity *a, const struct gq_quantity *b)
{
	return (a->milli > b->milli) - (a->milli < b->milli);
}

/*
 * out = a + b. The result has a's format, or b's when a is zero (as Go's
 * Quantity.Add). out may alias a or b. GQ_ERANGE (out untouched) when the
 * sum leaves +-INT64_MAX milli.
 */
int gq_quantity_add(struct gq_quantity *out, const struct gq_quantity *a,
		    const struct gq_quantity *b)
{
	enum gq_qformat format = a->milli == 0 ? b->format : a->format;
	int64_t sum;

	if (__builtin_add_overflow(a->milli, b->milli, &sum) || sum == INT64_MIN)
		return GQ_ERANGE;
	out->milli = sum;
	out->format = format;
	return GQ_OK;
}

/* out = a - b, with the same format rule, aliasing and errors as add. */
int gq_quantity_sub(struct gq_quantity *out, const struct gq_quantity *a,
		    const struct gq_quantity *b)
{
	enum gq_qformat format = a->milli == 0 ? b->format : a->format;
	int64_t diff;

	if (__builtin_sub_overflow(a->milli, b->milli, &diff) || diff == INT64_MIN)
		return GQ_ERANGE;
	out->milli = diff;
	out->format = format;
	return GQ_OK;
}

/* Whole units, a fraction rounded away from zero as Quantity.Value() does:
 * 1500m -> 2, -1500m -> -2. */
int64_t gq_quantity_value(const struct gq_quantity *q)
{
	int64_t units = q->milli / 1000, rem = q->milli % 1000;

	if (rem > 0)
		units++;
	else if (rem < 0)
		units--;
	return units;
}

bool gq_quantity_is_zero(const struct gq_quantity *q)
{
	return q->milli == 0;
}
