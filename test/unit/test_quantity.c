/*
 * Unit tests for quantity.c: parsing, canonical printing, errors, overflow
 * and arithmetic of Kubernetes resource quantities.
 *
 * Cases marked "Go:" come from k8s.io/apimachinery
 * pkg/api/resource/quantity_test.go (v0.36), function named after it; the
 * expected strings there are what the Go Quantity prints. Cases outside our
 * range (finer than 1m, beyond int64 milli) are in the error tables instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gq.h"
#include "quantity.h"

#define DSI GQ_QF_DECIMAL_SI
#define BSI GQ_QF_BINARY_SI
#define DEX GQ_QF_DECIMAL_EXP

/* Parses s, which must succeed, and returns the quantity. */
static struct gq_quantity must_parse(const char *s)
{
	struct gq_quantity q = {.milli = 0};
	int rc = gq_quantity_parse(&q, s);

	if (rc != GQ_OK)
		fail_msg("parse(\"%s\") = %d, want GQ_OK", s, rc);
	return q;
}

/* Returns the canonical string of q in a static buffer. */
static const char *fmt(const struct gq_quantity *q)
{
	static char buf[GQ_QUANTITY_STRLEN];

	gq_quantity_format(q, buf);
	return buf;
}

/* Input, value in milli-units, parsed format, canonical string. */
struct parse_case {
	const char *in;
	int64_t milli;
	enum gq_qformat format;
	const char *canon;
};

static const struct parse_case parse_cases[] = {
    /* Go: TestQuantityParse, zeros: every suffix keeps its format */
    {"0", 0, DSI, "0"},
    {"0n", 0, DSI, "0"},
    {"0u", 0, DSI, "0"},
    {"0m", 0, DSI, "0"},
    {"0Ki", 0, BSI, "0"},
    {"0k", 0, DSI, "0"},
    {"0Mi", 0, BSI, "0"},
    {"0M", 0, DSI, "0"},
    {"0Gi", 0, BSI, "0"},
    {"0G", 0, DSI, "0"},
    {"0Ti", 0, BSI, "0"},
    {"0T", 0, DSI, "0"},
    /* Go: TestQuantityParse, suffix-less numbers and binary suffixes */
    {"1", 1000, DSI, "1"},
    {"1Ki", 1024000, BSI, "1Ki"},
    {"8Ki", 8 * 1024000, BSI, "8Ki"},
    {"7Mi", INT64_C(7) * 1024 * 1024 * 1000, BSI, "7Mi"},
    {"6Gi", INT64_C(6) * 1024 * 1024 * 1024 * 1000, BSI, "6Gi"},
    {"5Ti", INT64_C(5) * 1024 * 1024 * 1024 * 1024 * 1000, BSI, "5Ti"},
    {"4Pi", INT64_C(4) * 1024 * 1024 * 1024 * 1024 * 1024 * 1000, BSI, "4Pi"},
    {"10Ti", INT64_C(10) * 1024 * 1024 * 1024 * 1024 * 1000, BSI, "10Ti"},
    {"100Ti", INT64_C(100) * 1024 * 1024 * 1024 * 1024 * 1000, BSI, "100Ti"},
    /* Go: TestQuantityParse, decimal suffixes */
    {"3m", 3, DSI, "3m"},
    {"9", 9000, DSI, "9"},
    {"8k", 8000000, DSI, "8k"},
    {"50k", 50000000, DSI, "50k"},
    {"7M", INT64_C(7000000000), DSI, "7M"},
    {"6G", INT64_C(6000000000000), DSI, "6G"},
    {"5T", INT64_C(5000000000000000), DSI, "5T"},
    {"40T", INT64_C(40000000000000000), DSI, "40T"},
    {"300T", INT64_C(300000000000000000), DSI, "300T"},
    {"2P", INT64_C(2000000000000000000), DSI, "2P"},
    /* Go: TestQuantityParse, decimal exponents */
    {"1E-3", 1, DEX, "1e-3"},
    {"1e3", 1000000, DEX, "1e3"},
    {"1E6", INT64_C(1000000000), DEX, "1e6"},
    {"1e9", INT64_C(1000000000000), DEX, "1e9"},
    {"1E12", INT64_C(1000000000000000), DEX, "1e12"},
    {"1e15", INT64_C(1000000000000000000), DEX, "1e15"},
    /* Go: TestQuantityParse, nonstandard but still parsable */
    {"1e14", INT64_C(100000000000000000), DEX, "100e12"},
    {"1e13", INT64_C(10000000000000000), DEX, "10e12"},
    {"100.035k", 100035000, DSI, "100035"},
    /* Go: TestQuantityParse, things that look like floating point */
    {"0.001", 1, DSI, "1m"},
    {"0.0005k", 500, DSI, "500m"},
    {"0.005", 5, DSI, "5m"},
    {"0.05", 50, DSI, "50m"},
    {"0.5", 500, DSI, "500m"},
    {"0.00050k", 500, DSI, "500m"},
    {"0.00500", 5, DSI, "5m"},
    {"0.05000", 50, DSI, "50m"},
    {"0.50000", 500, DSI, "500m"},
    {"0.5e0", 500, DEX, "500e-3"},
    {"0.5e-1", 50, DEX, "50e-3"},
    {"0.5e-2", 5, DEX, "5e-3"},
    {"10.035M", INT64_C(10035000000), DSI, "10035k"},
    {"1.2e3", 1200000, DEX, "1200"},
    {"1.3E+6", INT64_C(1300000000), DEX, "1300e3"},
    {"1.40e9", INT64_C(1400000000000), DEX, "1400e6"},
    {"1.53E12", INT64_C(1530000000000000), DEX, "1530e9"},
    {"1.6e15", INT64_C(1600000000000000000), DEX, "1600e12"},
    {"9.01", 9010, DSI, "9010m"},
    {"8.1k", 8100000, DSI, "8100"},
    {"7.123456M", INT64_C(7123456000), DSI, "7123456"},
    {"6.987654321G", INT64_C(6987654321000), DSI, "6987654321"},
    {"5.444T", INT64_C(5444000000000000), DSI, "5444G"},
    {"40.1T", INT64_C(40100000000000000), DSI, "40100G"},
    {"300.2T", INT64_C(300200000000000000), DSI, "300200G"},
    {"2.5P", INT64_C(2500000000000000000), DSI, "2500T"},
    /* Go: TestQuantityParse, fractional binary values */
    {"100.035Ki", 102435840, BSI, "102435840m"},
    {"0.5Mi", 524288000, BSI, "512Ki"},
    {"0.05Gi", INT64_C(53687091200), BSI, "53687091200m"},
    {"0.025Ti", INT64_C(27487790694400), BSI, "27487790694400m"},
    /* Go: TestQuantityParse, "things written by trolls" */
    {".001", 1, DSI, "1m"},
    {".0001k", 100, DSI, "100m"},
    {"1.", 1000, DSI, "1"},
    {"1.G", INT64_C(1000000000000), DSI, "1G"},
    /* Go: TestQuantityParseEmit */
    {"1Mi", INT64_C(1048576000), BSI, "1Mi"},
    {"1Gi", INT64_C(1073741824000), BSI, "1Gi"},
    {"1024Mi", INT64_C(1073741824000), BSI, "1Gi"},
    {"1000M", INT64_C(1000000000000), DSI, "1G"},
    {".001Ki", 1024, BSI, "1024m"},
    /* Go: TestQuantityString (the "alternate" spellings) */
    {"307200Ki", INT64_C(314572800000), BSI, "300Mi"},
    {"1025024Mi", INT64_C(1074815565824000), BSI, "1001Gi"},
    {"1024Gi", INT64_C(1099511627776000), BSI, "1Ti"},
    {"0.001T", INT64_C(1000000000000), DSI, "1G"},
    {"1000u", 1, DSI, "1m"},
    {"1.08", 1080, DSI, "1080m"},
    {"1080000000n", 1080, DSI, "1080m"},
    {".001e12", INT64_C(1000000000000), DEX, "1e9"},
    {"0.001e0", 1, DEX, "1e-3"},
    {"00", 0, DSI, "0"},
    /* The brief's examples (DecimalSI) */
    {"4000m", 4000, DSI, "4"},
    {"1000", 1000000, DSI, "1k"},
    {"1500m", 1500, DSI, "1500m"},
    {"1500", 1500000, DSI, "1500"},
    {"2000000", INT64_C(2000000000), DSI, "2M"},
    {".5", 500, DSI, "500m"},
    {"5.", 5000, DSI, "5"},
    {"1.25", 1250, DSI, "1250m"},
    /* BinarySI: whole multiples of 1024 take the largest binary suffix */
    {"0.5Gi", INT64_C(536870912000), BSI, "512Mi"},
    {"1536Mi", INT64_C(1610612736000), BSI, "1536Mi"},
    {"2048Ki", INT64_C(2097152000), BSI, "2Mi"},
    {"1048576Ki", INT64_C(1073741824000), BSI, "1Gi"},
    {"0.0078125Ei", INT64_C(9007199254740992000), BSI, "8Pi"},
    /* BinarySI below 1024, or not whole, prints as DecimalSI */
    {"0.5Ki", 512000, BSI, "512"},
    {"1.5Ki", 1536000, BSI, "1536"},
    {"1.1Ki", 1126400, BSI, "1126400m"},
    {"62.5Ki", 64000000, BSI, "64000"},
    /* A BinarySI value below 1 becomes DecimalSI when parsed (Go's rule) */
    {"0.0005Ki", 512, DSI, "512m"},
    /* DecimalExponent */
    {"1e+3", 1000000, DEX, "1e3"},
    {"1E+03", 1000000, DEX, "1e3"},
    {"5E-3", 5, DEX, "5e-3"},
    {"1000e-6", 1, DEX, "1e-3"},
    {"1500e0", 1500000, DEX, "1500"},
    {"12e6", INT64_C(12000000000), DEX, "12e6"},
    {"0e5", 0, DEX, "0"},
    {"0e-99", 0, DEX, "0"},
    {"1e-0", 1000, DEX, "1"},
    /* Signs, leading and trailing zeros */
    {"-1", -1000, DSI, "-1"},
    {"+1", 1000, DSI, "1"},
    {"-0", 0, DSI, "0"},
    {"+0.0", 0, DSI, "0"},
    {"-.5", -500, DSI, "-500m"},
    {"-1.5Gi", INT64_C(-1610612736000), BSI, "-1536Mi"},
    {"-1Ki", -1024000, BSI, "-1Ki"},
    {"-0.5Ki", -512000, BSI, "-512"},
    {"-5E-3", -5, DEX, "-5e-3"},
    {"01Ki", 1024000, BSI, "1Ki"},
    {"000100m", 100, DSI, "100m"},
    {"1.0000m", 1, DSI, "1m"},
    {"1.500000000", 1500, DSI, "1500m"},
    {"0.000000001G", 1000, DSI, "1"},
    {"1000000u", 1000, DSI, "1"},
    {"1000000000n", 1000, DSI, "1"},
    /* Limits: |value| <= INT64_MAX milli */
    {"9223372036854775807m", INT64_MAX, DSI, "9223372036854775807m"},
    {"-9223372036854775807m", -INT64_MAX, DSI, "-9223372036854775807m"},
    {"9223372036854775.807", INT64_MAX, DSI, "9223372036854775807m"},
    {"9223372036854775807e-3", INT64_MAX, DEX, "9223372036854775807e-3"},
    {"9.223372036854775807P", INT64_MAX, DSI, "9223372036854775807m"},
    {"9223372036854775", INT64_C(9223372036854775000), DSI, "9223372036854775"},
    {"9E-3", 9, DEX, "9e-3"},
    /* 64 characters: the longest accepted input */
    {"0000000000000000000000000000000000000000000000000000000000000001", 1000, DSI, "1"},
    {"1.00000000000000000000000000000000000000000000000000000000000000", 1000, DSI, "1"},
};

/* Every table entry parses to its value and format and prints canonically. */
static void test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct gq_quantity q = must_parse(c->in);

		if (q.milli != c->milli)
			fail_msg("%s: milli %lld, want %lld", c->in, (long long)q.milli,
				 (long long)c->milli);
		if (q.format != c->format)
			fail_msg("%s: format %d, want %d", c->in, q.format, c->format);
		if (strcmp(fmt(&q), c->canon) != 0)
			fail_msg("%s: printed %s, want %s", c->in, fmt(&q), c->canon);
	}
}

/*
 * Go: TestQuantityParse tries every entry again with "-" and "+" in front;
 * the value negates (or stays) and the format is the same. Entries that
 * already carry a sign are skipped.
 */
static void test_parse_table_signed(void **state)
{
	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];
		char in[80], want[GQ_QUANTITY_STRLEN + 1];
		struct gq_quantity q;

		if (c->in[0] == '-' || c->in[0] == '+' || strlen(c->in) >= 64)
			continue;
		snprintf(in, sizeof(in), "-%s", c->in);
		q = must_parse(in);
		assert_int_equal(q.milli, -c->milli);
		assert_int_equal(q.format, c->format);
		snprintf(want, sizeof(want), "%s%s", c->milli != 0 ? "-" : "", c->canon);
		if (strcmp(fmt(&q), want) != 0)
			fail_msg("%s: printed %s, want %s", in, fmt(&q), want);

		snprintf(in, sizeof(in), "+%s", c->in);
		q = must_parse(in);
		assert_int_equal(q.milli, c->milli);
		assert_int_equal(q.format, c->format);
		assert_string_equal(fmt(&q), c->canon);
	}
}

/* A value and format, and how it prints. */
struct format_case {
	int64_t milli;
	enum gq_qformat format;
	const char *out;
};

/* Go: TestQuantityString, the entries whose values are whole milli-units
 * (decQuantity(m, e, f) is m x 10^e). */
static const struct format_case format_cases[] = {
    {INT64_C(1073741824000), BSI, "1Gi"},
    {INT64_C(314572800000), BSI, "300Mi"},
    {6144000, BSI, "6Ki"},
    {INT64_C(1074815565824000), BSI, "1001Gi"},
    {INT64_C(1099511627776000), BSI, "1Ti"},
    {5000, BSI, "5"},
    {500, BSI, "500m"},
    {INT64_C(1000000000000), DSI, "1G"},
    {1, DSI, "1m"},
    {80, DSI, "80m"},
    {1080, DSI, "1080m"},
    {INT64_C(300000000000), DSI, "300M"},
    {INT64_C(1000000000000000), DSI, "1T"},
    {INT64_C(1234567000000000), DSI, "1234567M"},
    {1234567, BSI, "1234567m"},
    {3000000, DSI, "3k"},
    {1025000, BSI, "1025"},
    {0, DSI, "0"},
    {0, BSI, "0"},
    {INT64_C(1000000000000), DEX, "1e9"},
    {1, DEX, "1e-3"},
    {80, DEX, "80e-3"},
    {INT64_C(300000000000), DEX, "300e6"},
    {INT64_C(1000000000000000), DEX, "1e12"},
    {1000000, DEX, "1e3"},
    {3000000, DEX, "3e3"},
    {0, DEX, "0"},
    /* Go: TestQuantityNeg */
    {-9010, DSI, "-9010m"},
    /* BinarySI at the 1024 boundary and at the range ends */
    {1023000, BSI, "1023"},
    {1024000, BSI, "1Ki"},
    {-1024000, BSI, "-1Ki"},
    {-1023000, BSI, "-1023"},
    {INT64_C(9007199254740992000), BSI, "8Pi"},
    {INT64_MAX, BSI, "9223372036854775807m"},
    {INT64_MAX, DSI, "9223372036854775807m"},
    {INT64_MAX, DEX, "9223372036854775807e-3"},
    {INT64_C(9223372036854775000), DEX, "9223372036854775"},
    {INT64_C(9000000000000000000), DSI, "9P"},
    {INT64_C(9000000000000000000), DEX, "9e15"},
    {INT64_MIN, DSI, "-9223372036854775808m"},
    /* DecimalExponent with a mantissa that needs 10 or 100 */
    {10000, DEX, "10"},
    {100000, DEX, "100"},
    {1000000, DSI, "1k"},
    {10, DSI, "10m"},
    {10, DEX, "10e-3"},
    /* An unknown format prints as DecimalExponent, as Go's default */
    {2000000, (enum gq_qformat)7, "2e3"},
};

/* Every (value, format) prints as Go prints it; negatives print with "-". */
static void test_format_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(format_cases); i++) {
		const struct format_case *c = &format_cases[i];
		struct gq_quantity q = {.milli = c->milli, .format = c->format};
		char want[GQ_QUANTITY_STRLEN + 1];

		if (strcmp(fmt(&q), c->out) != 0)
			fail_msg("%lld/%d: printed %s, want %s", (long long)c->milli, c->format,
				 fmt(&q), c->out);
		/* Go: TestQuantityString's negated pass */
		if (c->milli <= 0)
			continue;
		q.milli = -c->milli;
		snprintf(want, sizeof(want), "-%s", c->out);
		if (strcmp(fmt(&q), want) != 0)
			fail_msg("-%lld/%d: printed %s, want %s", (long long)c->milli, c->format,
				 fmt(&q), want);
	}
}

/* Syntax errors, and values finer than 1m: GQ_EPARSE. */
static const char *const eparse_cases[] = {
    /* Go: TestQuantityParse invalid table */
    "1.1.M",
    "1+1.0M",
    "0.1mi",
    "0.1am",
    "aoeu",
    ".5i",
    "1i",
    "-3.01i",
    "-3.01e-",
    " 1",
    "1 ",
    /* Go: TestQuantityParseNonNumericPanic */
    "Non-Numeric",
    /* syntax */
    "",
    "1.2.3",
    "--1",
    "+-1",
    "-+1",
    "1 Gi",
    "1\tGi",
    "1Gi ",
    "1KiB",
    "1K",
    "1KI",
    "1mi",
    "1ki",
    "1e",
    "1E+",
    "1e-",
    "1e1.5",
    "1e3e3",
    "1ee3",
    "1e 3",
    "1Ee3",
    "1e3m",
    "1Mi3",
    "0x10",
    "1,5",
    "1_000",
    "inf",
    "NaN",
    "Gi",
    "e3",
    "1e99999999999999999999",
    "0e99999999999999999999",
    /* no digit at all (Go reads these as 0; the grammar needs a digit) */
    "+",
    "-",
    ".",
    "-.",
    "+.Ki",
    ".e3",
    /* finer than 1m (Go keeps down to 1n) */
    "1n",
    "5n",
    "4u",
    "999u",
    "1001u",
    "0.0001",
    "0.0000005k",
    "1.0005",
    "1e-4",
    "1.1E-9",
    "3.001n",
    "0.0000000001",
    "0.5e-9",
    ".000001Ki",
    ".000000001Ki",
    ".000000000001Ki",
    "0.000000000001Ki",
    "1.0001Ki",
    "1e-2147483649",
    "1e-9223372036854775808",
    /* longer than 64 characters */
    "00000000000000000000000000000000000000000000000000000000000000001",
    "1.0000000000000000000000000000000000000000000000000000000000000000",
};

/* Values whose milli count does not fit int64: GQ_ERANGE. */
static const char *const erange_cases[] = {
    /* Go: TestQuantityParse saturating entries (Go caps BinarySI at 2^63-1) */
    "9Ei",
    "9223372036854775807Ki",
    "12E",
    "3Ei",
    "1E",
    "1E18",
    "1.01E",
    "1.7E18",
    "9Pi",
    "8.2Pi",
    "9223372036854775808m",
    "-9223372036854775808m",
    "9223372036854775.808",
    "9223372036854776",
    "-9223372036854776",
    "99999999999999999999999999999999",
    "10P",
    "1e16",
    "1e2147483648",
    "1e9223372036854775807",
    "18446744073709551616m",
    "18446744073709551617m",
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(eparse_cases); i++) {
		struct gq_quantity q = {.milli = 42, .format = DEX};
		int rc = gq_quantity_parse(&q, eparse_cases[i]);

		if (rc != GQ_EPARSE)
			fail_msg("parse(\"%s\") = %d, want GQ_EPARSE", eparse_cases[i], rc);
		/* *out is untouched on failure */
		assert_int_equal(q.milli, 42);
		assert_int_equal(q.format, DEX);
	}
	for (size_t i = 0; i < GQ_ARRAY_LEN(erange_cases); i++) {
		struct gq_quantity q = {.milli = 42, .format = DEX};
		int rc = gq_quantity_parse(&q, erange_cases[i]);

		if (rc != GQ_ERANGE)
			fail_msg("parse(\"%s\") = %d, want GQ_ERANGE", erange_cases[i], rc);
		assert_int_equal(q.milli, 42);
	}
	struct gq_quantity q;
	assert_int_equal(gq_quantity_parse(&q, NULL), GQ_EPARSE);
}

/* A long string is rejected without reading far past its 65th byte. */
static void test_long_input(void **state)
{
	char *big = gq_malloc(4096);

	(void)state;
	memset(big, '1', 4095);
	big[4095] = '\0';
	struct gq_quantity q;
	assert_int_equal(gq_quantity_parse(&q, big), GQ_EPARSE);
	free(big);
}

/* Helpers for round trips: a small deterministic PRNG (xorshift64*). */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

/*
 * Printing then parsing gives back the same value, for every format and a
 * spread of magnitudes; for DecimalSI and DecimalExponent the reparsed value
 * prints identically (the canonical form is a fixed point). BinarySI values
 * that print as plain decimals come back as DecimalSI, as in Go (Go prints
 * "62.5Ki" as "64000", which it then reads back as DecimalSI "64k").
 */
static void test_round_trip(void **state)
{
	static const enum gq_qformat formats[] = {DSI, BSI, DEX};
	uint64_t seed = UINT64_C(0x9e3779b97f4a7c15);

	(void)state;
	for (int i = 0; i < 20000; i++) {
		uint64_t r = rng_next(&seed);
		int shift = (int)(rng_next(&seed) % 63);
		struct gq_quantity q, back;
		char first[GQ_QUANTITY_STRLEN];

		q.milli = (int64_t)((r & INT64_MAX) >> shift);
		if (i % 3 == 1)
			q.milli = (q.milli >> 10) << 10; /* favour binary multiples */
		if (i % 5 == 0)
			q.milli = (q.milli / 1000) * 1000;
		if (i & 1)
			q.milli = -q.milli;
		q.format = formats[i % 3];
		gq_quantity_format(&q, first);
		assert_true(strlen(first) < GQ_QUANTITY_STRLEN);
		if (gq_quantity_parse(&back, first) != GQ_OK)
			fail_msg("%lld/%d printed %s which does not parse", (long long)q.milli,
				 q.format, first);
		if (back.milli != q.milli)
			fail_msg("%lld/%d printed %s which parses as %lld", (long long)q.milli,
				 q.format, first, (long long)back.milli);
		/* DecimalExponent without an exponent ("1500") reads back as DecimalSI */
		if (q.format == DSI || (q.format == DEX && strchr(first, 'e') != NULL))
			assert_int_equal(back.format, q.format);
		if (q.format != BSI && strcmp(fmt(&back), first) != 0)
			fail_msg("%s reprinted as %s", first, fmt(&back));
	}
}

/* Every parse-table canonical string parses back to the same value. */
static void test_round_trip_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(parse_cases); i++) {
		struct gq_quantity q = must_parse(parse_cases[i].canon);

		assert_int_equal(q.milli, parse_cases[i].milli);
	}
}

/* Go: TestQuantityCmp (its "10000T" is out of our range: "10T" here), plus
 * signs and mixed formats. */
static void test_cmp(void **state)
{
	static const struct {
		const char *x, *y;
		int want;
	} cases[] = {
	    {"0", "0", 0},	{"100m", "50m", 1}, {"50m", "100m", -1}, {"10T", "100Gi", 1},
	    {"1Ki", "1024", 0}, {"1k", "1e3", 0},   {"-1", "0", -1},	 {"-1Gi", "-1G", -1},
	    {"1Gi", "1G", 1},	{"0Ki", "-0", 0},   {"999m", "1", -1},	 {"1.5", "1500m", 0},
	};

	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(cases); i++) {
		struct gq_quantity x = must_parse(cases[i].x), y = must_parse(cases[i].y);

		if (gq_quantity_cmp(&x, &y) != cases[i].want)
			fail_msg("cmp(%s, %s) = %d, want %d", cases[i].x, cases[i].y,
				 gq_quantity_cmp(&x, &y), cases[i].want);
		assert_int_equal(gq_quantity_cmp(&y, &x), -cases[i].want);
	}
	struct gq_quantity lo = {.milli = -INT64_MAX}, hi = {.milli = INT64_MAX};
	assert_int_equal(gq_quantity_cmp(&lo, &hi), -1);
	assert_int_equal(gq_quantity_cmp(&hi, &lo), 1);
}

/*
 * Go: TestQuantityAddZeroPreservesSuffix / TestQuantitySubZeroPreservesSuffix:
 * x + 0, 0 + x and x - 0 print as x; 0 - x prints as -x.
 */
static void test_add_sub_zero_format(void **state)
{
	static const char *const values[] = {"100m", "1Gi"};
	struct gq_quantity zero = must_parse("0"), out;
	char want[GQ_QUANTITY_STRLEN + 1];

	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(values); i++) {
		struct gq_quantity v = must_parse(values[i]);

		assert_int_equal(gq_quantity_add(&out, &v, &zero), GQ_OK);
		assert_string_equal(fmt(&out), values[i]);
		assert_int_equal(gq_quantity_add(&out, &zero, &v), GQ_OK);
		assert_string_equal(fmt(&out), values[i]);
		assert_int_equal(gq_quantity_sub(&out, &v, &zero), GQ_OK);
		assert_string_equal(fmt(&out), values[i]);
		assert_int_equal(gq_quantity_sub(&out, &zero, &v), GQ_OK);
		snprintf(want, sizeof(want), "-%s", values[i]);
		assert_string_equal(fmt(&out), want);
	}
}

/* Go: TestAdd / TestSub style sums, a's format kept, and aliasing. */
static void test_add_sub(void **state)
{
	struct gq_quantity a = must_parse("1Gi"), b = must_parse("512Mi"), m = must_parse("1500m");
	struct gq_quantity out;

	(void)state;
	assert_int_equal(gq_quantity_add(&out, &a, &b), GQ_OK);
	assert_string_equal(fmt(&out), "1536Mi");
	assert_int_equal(gq_quantity_sub(&out, &a, &b), GQ_OK);
	assert_string_equal(fmt(&out), "512Mi");
	/* the result keeps a's format */
	assert_int_equal(gq_quantity_add(&out, &m, &a), GQ_OK);
	assert_int_equal(out.format, DSI);
	assert_string_equal(fmt(&out), "1073741825500m");
	assert_int_equal(gq_quantity_sub(&out, &m, &m), GQ_OK);
	assert_true(gq_quantity_is_zero(&out));
	assert_string_equal(fmt(&out), "0");
	/* out may alias an operand */
	assert_int_equal(gq_quantity_add(&a, &a, &a), GQ_OK);
	assert_string_equal(fmt(&a), "2Gi");
	assert_int_equal(gq_quantity_sub(&b, &a, &b), GQ_OK);
	assert_string_equal(fmt(&b), "1536Mi");
	/* Go: TestAddSubRoundTrip: (x + y) - y == x */
	struct gq_quantity x = must_parse("123456789m"), y = must_parse("-987654321Ki");
	assert_int_equal(gq_quantity_add(&out, &x, &y), GQ_OK);
	assert_int_equal(gq_quantity_sub(&out, &out, &y), GQ_OK);
	assert_int_equal(gq_quantity_cmp(&out, &x), 0);
}

/* Sums and differences beyond +-INT64_MAX milli fail and leave out alone. */
static void test_add_sub_overflow(void **state)
{
	struct gq_quantity max = {.milli = INT64_MAX, .format = DSI};
	struct gq_quantity min = {.milli = -INT64_MAX, .format = DSI};
	struct gq_quantity one = {.milli = 1, .format = DSI};
	struct gq_quantity out = {.milli = 7, .format = BSI};

	(void)state;
	assert_int_equal(gq_quantity_add(&out, &max, &one), GQ_ERANGE);
	assert_int_equal(gq_quantity_add(&out, &max, &max), GQ_ERANGE);
	assert_int_equal(gq_quantity_sub(&out, &min, &one), GQ_ERANGE);
	assert_int_equal(gq_quantity_add(&out, &min, &min), GQ_ERANGE);
	assert_int_equal(gq_quantity_sub(&out, &max, &min), GQ_ERANGE);
	assert_int_equal(gq_quantity_sub(&out, &min, &max), GQ_ERANGE);
	assert_int_equal(out.milli, 7);
	assert_int_equal(out.format, BSI);
	assert_int_equal(gq_quantity_add(&out, &max, &min), GQ_OK);
	assert_true(gq_quantity_is_zero(&out));
	assert_int_equal(gq_quantity_sub(&out, &max, &one), GQ_OK);
	assert_int_equal(out.milli, INT64_MAX - 1);
	assert_int_equal(gq_quantity_add(&out, &out, &one), GQ_OK);
	assert_int_equal(out.milli, INT64_MAX);
}

/* Go: TestQuantityRoundUp at scale 0 and Quantity.Value(): a fraction rounds
 * away from zero. */
static void test_value(void **state)
{
	static const struct {
		const char *in;
		int64_t want;
	} cases[] = {
	    {"9.01", 10},
	    {"-9.01", -10},
	    {"1500m", 2},
	    {"-1500m", -2},
	    {"1m", 1},
	    {"-1m", -1},
	    {"0", 0},
	    {"1", 1},
	    {"1000m", 1},
	    {"1001m", 2},
	    {"1Ki", 1024},
	    {"1.1Ki", 1127},
	    {"-1.1Ki", -1127},
	    {"2Gi", INT64_C(2147483648)},
	    {"5e-3", 1},
	    {"9223372036854775807m", INT64_C(9223372036854776)},
	    {"-9223372036854775807m", INT64_C(-9223372036854776)},
	};

	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(cases); i++) {
		struct gq_quantity q = must_parse(cases[i].in);

		if (gq_quantity_value(&q) != cases[i].want)
			fail_msg("value(%s) = %lld, want %lld", cases[i].in,
				 (long long)gq_quantity_value(&q), (long long)cases[i].want);
	}
	struct gq_quantity q = {.milli = INT64_MIN, .format = DSI};
	assert_int_equal(gq_quantity_value(&q), INT64_C(-9223372036854776));
}

static void test_is_zero(void **state)
{
	struct gq_quantity q;

	(void)state;
	q = must_parse("0Gi");
	assert_true(gq_quantity_is_zero(&q));
	q = must_parse("-0.000");
	assert_true(gq_quantity_is_zero(&q));
	q = must_parse("1m");
	assert_false(gq_quantity_is_zero(&q));
	q = must_parse("-1m");
	assert_false(gq_quantity_is_zero(&q));
}

/* from_int gives n units in DecimalSI and saturates beyond the range. */
static void test_from_int(void **state)
{
	struct gq_quantity q;

	(void)state;
	q = gq_quantity_from_int(0);
	assert_int_equal(q.milli, 0);
	assert_int_equal(q.format, DSI);
	assert_string_equal(fmt(&q), "0");
	q = gq_quantity_from_int(8);
	assert_int_equal(q.milli, 8000);
	assert_string_equal(fmt(&q), "8");
	assert_int_equal(gq_quantity_value(&q), 8);
	q = gq_quantity_from_int(-3000);
	assert_string_equal(fmt(&q), "-3k");
	q = gq_quantity_from_int(INT64_C(9223372036854775));
	assert_int_equal(q.milli, INT64_C(9223372036854775000));
	q = gq_quantity_from_int(INT64_C(9223372036854776));
	assert_int_equal(q.milli, INT64_MAX);
	q = gq_quantity_from_int(INT64_MAX);
	assert_int_equal(q.milli, INT64_MAX);
	q = gq_quantity_from_int(INT64_MIN);
	assert_int_equal(q.milli, -INT64_MAX);
	struct gq_quantity p = must_parse("16");
	q = gq_quantity_from_int(16);
	assert_int_equal(gq_quantity_cmp(&p, &q), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_parse_table_signed),
	    cmocka_unit_test(test_format_table),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_long_input),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_round_trip_table),
	    cmocka_unit_test(test_cmp),
	    cmocka_unit_test(test_add_sub_zero_format),
	    cmocka_unit_test(test_add_sub),
	    cmocka_unit_test(test_add_sub_overflow),
	    cmocka_unit_test(test_value),
	    cmocka_unit_test(test_is_zero),
	    cmocka_unit_test(test_from_int),
	};
	return cmocka_run_group_tests_name("quantity", tests, NULL, NULL);
}
