/*
 * Unit tests for jsonpatch.c: operations collected as structures and
 * written once, the same as text and as a tree; set replaces an operation
 * on the same path, add appends; what does not fit marks the patch bad.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "api.h"
#include "json.h"
#include "jsonpatch.h"

/* Fails unless p's text is want and its tree writes out as want. */
static void assert_patch(const struct gq_jpatch *p, const char *want)
{
	char *text = gq_jpatch_json(p);
	yajl_val tree = gq_jpatch_tree(p);
	char *dump = gq_json_dump(tree);

	assert_non_null(text);
	assert_string_equal(text, want);
	assert_non_null(dump);
	assert_string_equal(dump, want);
	free(dump);
	free(text);
	yajl_tree_free(tree);
}

static void test_every_value_kind(void **state)
{
	struct gq_jpatch p = {.n = 0};

	(void)state;
	gq_jpatch_add(&p, "test", "/metadata/finalizers/2", GQ_JPATCH_STR, "x/y", 0);
	gq_jpatch_add(&p, "remove", "/metadata/finalizers/2", GQ_JPATCH_NONE, NULL, 0);
	gq_jpatch_add(&p, "add", "/metadata/finalizers", GQ_JPATCH_STR_LIST, "a", 0);
	gq_jpatch_add(&p, "add", "/spec/priority", GQ_JPATCH_INT, NULL, -7);
	gq_jpatch_add(&p, "add", "/spec/schedulingGates/-", GQ_JPATCH_GATE, NULL, 0);
	gq_jpatch_add(&p, "add", "/spec/schedulingGates", GQ_JPATCH_GATE_LIST, NULL, 0);
	assert_patch(&p, "[{\"op\":\"test\",\"path\":\"/metadata/finalizers/2\",\"value\":\"x/y\"},"
			 "{\"op\":\"remove\",\"path\":\"/metadata/finalizers/2\"},"
			 "{\"op\":\"add\",\"path\":\"/metadata/finalizers\",\"value\":[\"a\"]},"
			 "{\"op\":\"add\",\"path\":\"/spec/priority\",\"value\":-7},"
			 "{\"op\":\"add\",\"path\":\"/spec/schedulingGates/-\",\"value\":{\"name\":"
			 "\"" GQ_BUDGET_GATE "\"}},"
			 "{\"op\":\"add\",\"path\":\"/spec/schedulingGates\",\"value\":[{\"name\":"
			 "\"" GQ_BUDGET_GATE "\"}]}]");
}

static void test_set_replaces_in_place(void **state)
{
	struct gq_jpatch p = {.n = 0};

	(void)state;
	gq_jpatch_set(&p, "add", "/spec/priorityClassName", GQ_JPATCH_STR, "a", 0);
	gq_jpatch_set(&p, "remove", "/spec/priority", GQ_JPATCH_NONE, NULL, 0);
	gq_jpatch_set(&p, "add", "/spec/priorityClassName", GQ_JPATCH_STR, "b", 0);
	assert_int_equal(p.n, 2);
	assert_patch(&p, "[{\"op\":\"add\",\"path\":\"/spec/priorityClassName\",\"value\":\"b\"},"
			 "{\"op\":\"remove\",\"path\":\"/spec/priority\"}]");
}

static void test_empty_and_bad(void **state)
{
	struct gq_jpatch p = {.n = 0};
	char longpath[GQ_JPATCH_MAX_PATH + 1];

	(void)state;
	assert_null(gq_jpatch_json(&p));
	assert_null(gq_jpatch_tree(&p));
	for (int i = 0; i <= GQ_JPATCH_MAX_OPS; i++)
		gq_jpatch_add(&p, "remove", "/a", GQ_JPATCH_NONE, NULL, 0);
	assert_true(p.bad);
	assert_null(gq_jpatch_json(&p));
	memset(&p, 0, sizeof(p));
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	gq_jpatch_add(&p, "remove", longpath, GQ_JPATCH_NONE, NULL, 0);
	assert_true(p.bad);
	assert_null(gq_jpatch_tree(&p));
	memset(&p, 0, sizeof(p));
	gq_jpatch_add(&p, "test", "/a", GQ_JPATCH_STR, "\xff", 0); /* not UTF-8 */
	assert_null(gq_jpatch_json(&p));
	assert_null(gq_jpatch_tree(&p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_value_kind),
	    cmocka_unit_test(test_set_replaces_in_place),
	    cmocka_unit_test(test_empty_and_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
