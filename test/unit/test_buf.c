/* Unit tests for buf.c (bounded growth, printf, consume, steal) and
 * gq_asprintf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_and_bound),
	    cmocka_unit_test(test_steal_empty),
	    cmocka_unit_test(test_asprintf_lengths),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
