/* Unit tests for buf.c: bounded growth, printf, consume, steal. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_and_bound),
	    cmocka_unit_test(test_steal_empty),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
