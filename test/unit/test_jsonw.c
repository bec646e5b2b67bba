/* Unit tests for jsonw.c: the checked JSON writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonw.h"

/* A document with every kind of value comes out compact and in order. */
static void test_document(void **state)
{
	struct gq_jw w;
	char *s;

	(void)state;
	gq_jw_init(&w);
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "name", "a\"b\\c\n");
	gq_jw_str(&w, "n");
	gq_jw_int(&w, -9007199254740993LL);
	gq_jw_str(&w, "list");
	gq_jw_array_open(&w);
	gq_jw_bool(&w, true);
	gq_jw_bool(&w, false);
	gq_jw_null(&w);
	gq_jw_strn(&w, "xyz", 2);
	gq_jw_str(&w, "\xc3\xa9"); /* U+00E9, valid UTF-8 */
	gq_jw_array_close(&w);
	gq_jw_map_close(&w);
	s = gq_jw_finish(&w);
	assert_non_null(s);
	assert_string_equal(s, "{\"name\":\"a\\\"b\\\\c\\n\",\"n\":-9007199254740993,"
			       "\"list\":[true,false,null,\"xy\",\"\xc3\xa9\"]}");
	assert_null(w.g);
	free(s);
}

/* A string that is not UTF-8 spoils the document, and writing goes on. */
static void test_bad_utf8(void **state)
{
	struct gq_jw w;

	(void)state;
	gq_jw_init(&w);
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "message", "cut \xc3");
	gq_jw_kv(&w, "after", "still written");
	gq_jw_map_close(&w);
	assert_true(w.bad);
	assert_null(gq_jw_finish(&w));
}

/* A value where a key belongs, or a close without an open, is an error. */
static void test_misuse(void **state)
{
	struct gq_jw w;

	(void)state;
	gq_jw_init(&w);
	gq_jw_map_open(&w);
	gq_jw_int(&w, 1); /* keys must be strings */
	assert_null(gq_jw_finish(&w));

	gq_jw_init(&w);
	gq_jw_array_close(&w);
	assert_null(gq_jw_finish(&w));
}

/* A writer given nothing finishes as an error: an empty text is not JSON. */
static void test_empty(void **state)
{
	struct gq_jw w;

	(void)state;
	gq_jw_init(&w);
	assert_null(gq_jw_finish(&w));
	assert_null(w.g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_document),
	    cmocka_unit_test(test_bad_utf8),
	    cmocka_unit_test(test_misuse),
	    cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests_name("jsonw", tests, NULL, NULL);
}
