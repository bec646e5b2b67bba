/*
 * fuzz_quantity.c - libFuzzer target for quantity.c.
 *
 * Input: arbitrary bytes, read as a NUL-terminated string (bytes after an
 * embedded NUL are ignored, as a C caller would). When it parses, its
 * canonical form must fit GQ_QUANTITY_STRLEN, parse back to the same value
 * and, for DecimalSI and DecimalExponent, print identically again; the same
 * text with a leading '-' must parse to the negated value; arithmetic with
 * itself must agree with plain int64 arithmetic. Parse may only return
 * GQ_OK, GQ_EPARSE or GQ_ERANGE. A violated invariant aborts; nothing may
 * crash, leak or trip ASan/UBSan.
 *
 * Build (libFuzzer):
 *   clang-14 -std=c11 -D_GNU_SOURCE -Icontroller/src -g -O1 \
 *     -fsanitize=fuzzer,address,undefined test/fuzz/fuzz_quantity.c \
 *     controller/src/quantity.c controller/src/gq.c -o fuzz_quantity
 *   ./fuzz_quantity -max_len=80 test/fuzz/corpus/quantity
 * Replay without libFuzzer: link with test/fuzz/standalone.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gq.h"
#include "quantity.h"

/* Longer inputs are all rejected by the parser alike; cap the copy. */
#define FUZZ_MAX_INPUT 256

static void check(int cond, const char *what, const char *in)
{
	if (!cond) {
		fprintf(stderr, "fuzz_quantity: %s (input \"%s\")\n", what, in);
		abort();
	}
}

/* Invariants of a successfully parsed quantity q read from s. */
static void check_parsed(const char *s, const struct gq_quantity *q)
{
	char out[GQ_QUANTITY_STRLEN], again[GQ_QUANTITY_STRLEN];
	struct gq_quantity r, sum;
	int64_t v, want;
	int rc;

	check(q->format == GQ_QF_DECIMAL_SI || q->format == GQ_QF_BINARY_SI ||
		  q->format == GQ_QF_DECIMAL_EXP,
	      "bad format", s);
	check(q->milli != INT64_MIN, "INT64_MIN milli", s);
	gq_quantity_format(q, out);
	check(strlen(out) < GQ_QUANTITY_STRLEN, "canonical too long", s);
	check(out[0] != '+' && !(out[0] == '0' && out[1] != '\0'), "non-canonical prefix", s);
	rc = gq_quantity_parse(&r, out);
	check(rc == GQ_OK, "canonical form does not parse", s);
	check(r.milli == q->milli, "canonical form changes the value", s);
	check(gq_quantity_cmp(&r, q) == 0, "cmp of equal values", s);
	gq_quantity_format(&r, again);
	if (q->format != GQ_QF_BINARY_SI)
		check(strcmp(out, again) == 0, "canonical form is not a fixed point", s);
	check(gq_quantity_is_zero(q) == (q->milli == 0), "is_zero", s);
	check(gq_quantity_is_zero(q) == (strcmp(out, "0") == 0), "zero prints as 0", s);

	v = gq_quantity_value(q);
	want = q->milli / 1000 + (q->milli % 1000 > 0) - (q->milli % 1000 < 0);
	check(v == want, "value rounds away from zero", s);

	rc = gq_quantity_sub(&sum, q, q);
	check(rc == GQ_OK && sum.milli == 0, "q - q", s);
	rc = gq_quantity_add(&sum, q, q);
	if (__builtin_add_overflow(q->milli, q->milli, &want) || want == INT64_MIN)
		check(rc == GQ_ERANGE, "q + q overflow not reported", s);
	else
		check(rc == GQ_OK && sum.milli == want && sum.format == q->format, "q + q", s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gq_quantity q, neg;
	char *s, *m;
	int rc, nrc;

	if (size > FUZZ_MAX_INPUT)
		size = FUZZ_MAX_INPUT;
	s = gq_malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';

	rc = gq_quantity_parse(&q, s);
	check(rc == GQ_OK || rc == GQ_EPARSE || rc == GQ_ERANGE, "unexpected error code", s);
	if (rc == GQ_OK)
		check_parsed(s, &q);

	/* "-" + s: the negation, unless s already has a sign or gets too long */
	if (rc != GQ_EPARSE && s[0] != '-' && s[0] != '+' && strlen(s) < 64) {
		m = gq_asprintf("-%s", s);
		nrc = gq_quantity_parse(&neg, m);
		check(nrc == rc, "sign changes the outcome", s);
		if (nrc == GQ_OK) {
			check(neg.milli == -q.milli && neg.format == q.format, "negation", s);
			check_parsed(m, &neg);
		}
		free(m);
	}
	free(s);
	return 0;
}
