/* Unit tests for buf.c (bounded growth, printf, consume, steal) and gq.c's
 * text helpers (gq_asprintf, gq_utf8_trim, gq_err_set truncation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "gq.h"

static void test_append_and_bound(void **state)
{
	struct gq_buf b;

	(void)state;
	gq_buf_init(&b, 8);
	assert_int_equal(gq_buf_puts(&b, "abcd"), GQ_OK);
	assert_int_equal(gq_buf_puts(&b, "efgh"), GQ_OK);
	assert_int_equal(gq_buf_puts(&b, "i"), GQ_ETOOBIG);
	assert_string_equal(gq_buf_str(&b), "abcdefgh");
	gq_buf_consume(&b, 3);
	assert_string_equal(gq_buf_str(&b), "defgh");
	assert_int_equal(gq_buf_printf(&b, "%d", 123), GQ_OK);
	assert_string_equal(gq_buf_str(&b), "defgh123");
	assert_int_equal(gq_buf_printf(&b, "%d", 4), GQ_ETOOBIG);
	gq_buf_free(&b);
}

static void test_steal_empty(void **state)
{
	struct gq_buf b;
	char *s;

	(void)state;
	gq_buf_init(&b, 16);
	assert_string_equal(gq_buf_str(&b), "");
	s = gq_buf_steal(&b);
	assert_string_equal(s, "");
	free(s);
	gq_buf_free(&b);
}

/* gq_asprintf formats texts on both sides of its one-pass stack buffer. */
static void test_asprintf_lengths(void **state)
{
	static const size_t lens[] = {0, 1, 254, 255, 256, 257, 1000, 70000};
	char *want = gq_malloc(70001);

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i];
		char *got;

		for (size_t k = 0; k < n; k++)
			want[k] = (char)('a' + k % 26);
		want[n] = '\0';
		got = gq_asprintf("%s", want);
		assert_int_equal(strlen(got), n);
		assert_string_equal(got, want);
		free(got);
		got = gq_asprintf("<%s|%d>", want, 42);
		assert_int_equal(strlen(got), n + 5);
		assert_memory_equal(got + 1, want, n);
		assert_string_equal(got + 1 + n, "|42>");
		free(got);
	}
	free(want);
}

/* gq_utf8_trim cuts only an incomplete sequence at the end. */
static void test_utf8_trim(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"", ""},
	    {"abc", "abc"},
	    {"ab\xc3", "ab"},
	    {"ab\xc3\xa9", "ab\xc3\xa9"},
	    {"ab\xe2\x82", "ab"},
	    {"ab\xe2", "ab"},
	    {"ab\xe2\x82\xac", "ab\xe2\x82\xac"},
	    {"a\xf0\x9f\x98", "a"},
	    {"a\xf0\x9f\x98\x80", "a\xf0\x9f\x98\x80"},
	    {"\xc3", ""},
	    {"a\x80", "a\x80"},				/* stray continuation byte: left alone */
	    {"a\x80\x80\x80\x80", "a\x80\x80\x80\x80"}, /* too many to be one character */
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		gq_utf8_trim(buf);
		assert_string_equal(buf, cases[i].want);
	}
}

/* A gq_err message cut at its bound ends on a whole character. */
static void test_err_set_cut_on_character(void **state)
{
	struct gq_err err;
	char *euros = gq_malloc(3 * 400 + 1);
	size_t n;

	(void)state;
	for (size_t i = 0; i < 400; i++)
		memcpy(euros + 3 * i, "\xe2\x82\xac", 3);
	euros[3 * 400] = '\0';
	for (size_t pre = 0; pre < 3; pre++) {
		assert_int_equal(gq_err_set(&err, GQ_EINVAL, "%.*s%s", (int)pre, "xx", euros),
				 GQ_EINVAL);
		n = strlen(err.msg);
		assert_true(n >= sizeof(err.msg) - 3 && n < sizeof(err.msg));
		assert_int_equal((n - pre) % 3, 0);
	}
	free(euros);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_and_bound),	     cmocka_unit_test(test_steal_empty),
	    cmocka_unit_test(test_asprintf_lengths),	     cmocka_unit_test(test_utf8_trim),
	    cmocka_unit_test(test_err_set_cut_on_character),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
