/* Unit tests for jsonw.c: the checked JSON writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <limits.h>

#include "gq.h"
#include "json.h"
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

/* ------------------------------------------------------------ tree mode */

/* A document writer: the same calls for both modes. */
typedef void (*doc_fn)(struct gq_jw *w);

static void doc_every_kind(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_kv(w, "name", "a\"b\\c\n\t\x01/");
	gq_jw_str(w, "n");
	gq_jw_int(w, -9007199254740993LL);
	gq_jw_str(w, "list");
	gq_jw_array_open(w);
	gq_jw_bool(w, true);
	gq_jw_bool(w, false);
	gq_jw_null(w);
	gq_jw_strn(w, "xyz", 2);
	gq_jw_str(w, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"); /* 2, 3 and 4 byte characters */
	gq_jw_array_close(w);
	gq_jw_map_close(w);
}

static void doc_top_string(struct gq_jw *w)
{
	gq_jw_str(w, "just a string");
}

static void doc_top_empty_string(struct gq_jw *w)
{
	gq_jw_str(w, "");
}

static void doc_top_int(struct gq_jw *w)
{
	gq_jw_int(w, 42);
}

static void doc_top_true(struct gq_jw *w)
{
	gq_jw_bool(w, true);
}

static void doc_top_false(struct gq_jw *w)
{
	gq_jw_bool(w, false);
}

static void doc_top_null(struct gq_jw *w)
{
	gq_jw_null(w);
}

static void doc_empty_map(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_map_close(w);
}

static void doc_empty_array(struct gq_jw *w)
{
	gq_jw_array_open(w);
	gq_jw_array_close(w);
}

/* Integers at the edges, whose parsed fields differ (LLONG_MIN is not
 * INT_VALID for yajl's parser). */
static void doc_ints(struct gq_jw *w)
{
	static const long long v[] = {
	    0, 1, -1, LLONG_MAX, LLONG_MIN, LLONG_MIN + 1, 9007199254740993LL, 1000000000000LL};

	gq_jw_array_open(w);
	for (size_t i = 0; i < GQ_ARRAY_LEN(v); i++)
		gq_jw_int(w, v[i]);
	gq_jw_array_close(w);
}

/* Empty containers inside others, an empty key, a repeated key (kept in
 * order, as yajl_gen writes it). */
static void doc_nested(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_str(w, "");
	gq_jw_map_open(w);
	gq_jw_map_close(w);
	gq_jw_str(w, "a");
	gq_jw_array_open(w);
	gq_jw_array_open(w);
	gq_jw_array_close(w);
	gq_jw_map_open(w);
	gq_jw_kv(w, "k", "v");
	gq_jw_str(w, "deeper");
	gq_jw_array_open(w);
	gq_jw_map_open(w);
	gq_jw_str(w, "x");
	gq_jw_null(w);
	gq_jw_map_close(w);
	gq_jw_array_close(w);
	gq_jw_map_close(w);
	gq_jw_int(w, 3);
	gq_jw_array_close(w);
	gq_jw_kv(w, "dup", "first");
	gq_jw_kv(w, "dup", "second");
	gq_jw_map_close(w);
}

/* More members and elements than any first allocation holds. */
static void doc_many(struct gq_jw *w)
{
	char key[16];

	gq_jw_map_open(w);
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		gq_jw_str(w, key);
		gq_jw_array_open(w);
		for (int j = 0; j < i % 9; j++)
			gq_jw_int(w, i * j);
		gq_jw_array_close(w);
	}
	gq_jw_map_close(w);
}

/* Trees copied in: numbers keep their text (1.50, -0, 1e400), at the top
 * and below a key, and with gq_jw_value_at. */
static void doc_values(struct gq_jw *w)
{
	yajl_val v =
	    yajl_tree_parse("{\"a\":[1.50,-0,1e400,2E-3,9223372036854775808,{\"b\":null}],"
			    "\"c\":\"\\u00e9\\u2028\\u0001\",\"d\":{},\"e\":[],\"f\":true}",
			    NULL, 0);

	assert_non_null(v);
	gq_jw_array_open(w);
	gq_jw_value(w, v);
	gq_jw_map_open(w);
	gq_jw_str(w, "copy");
	gq_jw_value_at(w, v, 2);
	gq_jw_str(w, "null");
	gq_jw_value(w, NULL);
	gq_jw_map_close(w);
	gq_jw_value(w, v->u.object.values[0]);
	gq_jw_array_close(w);
	yajl_tree_free(v);
}

/* Byte sequences that are not well-formed UTF-8 but pass yajl's check
 * (overlong NUL, a surrogate, past U+10FFFF): both modes take them. */
static void doc_lax_utf8(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_kv(w, "\xc0\x80", "\xed\xa0\x80");
	gq_jw_kv(w, "big", "\xf4\x90\x80\x80\xf7\xbf\xbf\xbf");
	gq_jw_map_close(w);
}

/* As deep as a tree may nest: GQ_JW_MAX_DEPTH + 1 arrays (the innermost at
 * depth GQ_JW_MAX_DEPTH), the innermost holding nothing. */
static void doc_deepest(struct gq_jw *w)
{
	for (int i = 0; i <= GQ_JW_MAX_DEPTH; i++)
		gq_jw_array_open(w);
	for (int i = 0; i <= GQ_JW_MAX_DEPTH; i++)
		gq_jw_array_close(w);
}

/* A realistic apply body (the shape desired.c writes). */
static void doc_apply_body(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_kv(w, "apiVersion", "v1");
	gq_jw_kv(w, "kind", "ResourceQuota");
	gq_jw_str(w, "metadata");
	gq_jw_map_open(w);
	gq_jw_kv(w, "name", "gpuquota-ml");
	gq_jw_kv(w, "namespace", "ml-a");
	gq_jw_str(w, "ownerReferences");
	gq_jw_array_open(w);
	gq_jw_map_open(w);
	gq_jw_kv(w, "uid", "uid-1");
	gq_jw_str(w, "controller");
	gq_jw_bool(w, true);
	gq_jw_map_close(w);
	gq_jw_array_close(w);
	gq_jw_map_close(w);
	gq_jw_str(w, "spec");
	gq_jw_map_open(w);
	gq_jw_str(w, "hard");
	gq_jw_map_open(w);
	gq_jw_kv(w, "requests.nvidia.com/gpu", "4");
	gq_jw_kv(w, "requests.cpu", "2500m");
	gq_jw_map_close(w);
	gq_jw_map_close(w);
	gq_jw_map_close(w);
}

/* Runs f in text mode (*text) and in tree mode (*tree). */
static void write_both(doc_fn f, char **text, yajl_val *tree)
{
	struct gq_jw w;

	gq_jw_init(&w);
	f(&w);
	*text = gq_jw_finish(&w);
	gq_jw_init_tree(&w);
	f(&w);
	*tree = gq_jw_finish_tree(&w);
	assert_null(w.t);
	assert_null(w.g);
}

/* Fails unless every number of a (built) carries the fields yajl's parser
 * gave the same number in p (parsed from the text). */
static void assert_numbers_as_parsed(yajl_val a, yajl_val p)
{
	size_t i;

	assert_int_equal(a->type, p->type);
	switch (a->type) {
	case yajl_t_number:
		assert_string_equal(a->u.number.r, p->u.number.r);
		assert_int_equal(a->u.number.flags, p->u.number.flags);
		assert_true(a->u.number.i == p->u.number.i);
		assert_memory_equal(&a->u.number.d, &p->u.number.d, sizeof(double));
		break;
	case yajl_t_object:
		for (i = 0; i < a->u.object.len; i++)
			assert_numbers_as_parsed(a->u.object.values[i], p->u.object.values[i]);
		break;
	case yajl_t_array:
		for (i = 0; i < a->u.array.len; i++)
			assert_numbers_as_parsed(a->u.array.values[i], p->u.array.values[i]);
		break;
	default: break;
	}
}

/* Every document: the tree, written out, is the text mode's text byte for
 * byte, and equals the text parsed back, numbers' fields included. */
static void test_tree_matches_text(void **state)
{
	static const doc_fn docs[] = {
	    doc_every_kind,  doc_top_string, doc_top_empty_string, doc_top_int,
	    doc_top_true,    doc_top_false,  doc_top_null,	   doc_empty_map,
	    doc_empty_array, doc_ints,	     doc_nested,	   doc_many,
	    doc_values,	     doc_lax_utf8,   doc_deepest,	   doc_apply_body,
	};
	char *text, *dump;
	yajl_val tree, parsed;

	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(docs); i++) {
		write_both(docs[i], &text, &tree);
		if (text == NULL || tree == NULL)
			fail_msg("document %zu: text %p, tree %p", i, (void *)text, (void *)tree);
		dump = gq_json_dump(tree);
		assert_non_null(dump);
		assert_string_equal(dump, text);
		parsed = yajl_tree_parse(text, NULL, 0);
		assert_non_null(parsed);
		assert_true(gq_json_equal(tree, parsed));
		assert_numbers_as_parsed(tree, parsed);
		yajl_tree_free(parsed);
		yajl_tree_free(tree);
		free(dump);
		free(text);
	}
}

static void bad_utf8_value(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_kv(w, "message", "cut \xc3");
	gq_jw_kv(w, "after", "still written");
	gq_jw_map_close(w);
}

static void bad_utf8_key(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_kv(w, "\x80stray", "v");
	gq_jw_map_close(w);
}

static void bad_utf8_lead(struct gq_jw *w)
{
	gq_jw_array_open(w);
	gq_jw_str(w, "\xf8\x88\x80\x80\x80"); /* a 5-byte form */
	gq_jw_array_close(w);
}

static void bad_utf8_cut_at_len(struct gq_jw *w)
{
	gq_jw_strn(w, "\xe2\x82\xac", 2);
}

static void bad_int_key(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_int(w, 1);
	gq_jw_map_close(w);
}

static void bad_bool_key(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_kv(w, "a", "b");
	gq_jw_bool(w, true);
	gq_jw_str(w, "x");
	gq_jw_map_close(w);
}

static void bad_null_key(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_null(w);
	gq_jw_map_close(w);
}

static void bad_map_key(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_map_open(w);
	gq_jw_map_close(w);
	gq_jw_map_close(w);
}

static void bad_array_key(struct gq_jw *w)
{
	gq_jw_array_open(w);
	gq_jw_map_open(w);
	gq_jw_array_open(w);
	gq_jw_array_close(w);
	gq_jw_map_close(w);
	gq_jw_array_close(w);
}

static void bad_value_key(struct gq_jw *w)
{
	yajl_val v = yajl_tree_parse("1.5", NULL, 0);

	gq_jw_map_open(w);
	gq_jw_value(w, v);
	gq_jw_map_close(w);
	yajl_tree_free(v);
}

/* More nested opens than either mode holds. */
static void bad_depth_opens(struct gq_jw *w)
{
	for (int i = 0; i < 130; i++)
		gq_jw_array_open(w);
	for (int i = 0; i < 130; i++)
		gq_jw_array_close(w);
}

/* A tree nested deeper than GQ_JW_MAX_DEPTH, through gq_jw_value. */
static void bad_depth_value(struct gq_jw *w)
{
	char text[2 * 130 + 1];
	yajl_val v;

	memset(text, '[', 130);
	memset(text + 130, ']', 130);
	text[260] = '\0';
	v = yajl_tree_parse(text, NULL, 0);
	assert_non_null(v);
	gq_jw_value(w, v);
	yajl_tree_free(v);
}

/* A subtree whose levels above already reach the limit. */
static void bad_depth_value_at(struct gq_jw *w)
{
	yajl_val v = yajl_tree_parse("[1]", NULL, 0);

	gq_jw_value_at(w, v, GQ_JW_MAX_DEPTH);
	yajl_tree_free(v);
}

static void bad_two_roots(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_map_close(w);
	gq_jw_int(w, 2);
}

static void bad_close_at_top(struct gq_jw *w)
{
	gq_jw_array_close(w);
}

static void bad_nothing(struct gq_jw *w)
{
	(void)w;
}

/* What both modes refuse: not UTF-8 by yajl's check, a value where a key
 * is expected, nesting too deep, a second root, a close without an open,
 * nothing at all. Neither mode gives a document; nothing leaks. */
static void test_bad_both_modes(void **state)
{
	static const doc_fn docs[] = {
	    bad_utf8_value,	bad_utf8_key,  bad_utf8_lead,	 bad_utf8_cut_at_len,
	    bad_int_key,	bad_bool_key,  bad_null_key,	 bad_map_key,
	    bad_array_key,	bad_value_key, bad_depth_opens,	 bad_depth_value,
	    bad_depth_value_at, bad_two_roots, bad_close_at_top, bad_nothing,
	};
	char *text;
	yajl_val tree;

	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(docs); i++) {
		write_both(docs[i], &text, &tree);
		if (text != NULL || tree != NULL)
			fail_msg("bad document %zu: text %s, tree %p", i, text ? text : "(null)",
				 (void *)tree);
	}
}

static void tree_close_after_key(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_str(w, "a");
	gq_jw_map_close(w);
}

static void tree_map_closed_as_array(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_array_close(w);
}

static void tree_array_closed_as_map(struct gq_jw *w)
{
	gq_jw_array_open(w);
	gq_jw_int(w, 1);
	gq_jw_map_close(w);
}

static void tree_left_open(struct gq_jw *w)
{
	gq_jw_map_open(w);
	gq_jw_kv(w, "a", "b");
	gq_jw_str(w, "list");
	gq_jw_array_open(w);
	gq_jw_str(w, "x");
}

static void tree_nul_byte(struct gq_jw *w)
{
	gq_jw_array_open(w);
	gq_jw_strn(w, "a\0b", 3);
	gq_jw_array_close(w);
}

/* Deeper than GQ_JW_MAX_DEPTH, though within what yajl_gen writes: the
 * tree could not be written out. */
static void tree_too_deep(struct gq_jw *w)
{
	for (int i = 0; i <= GQ_JW_MAX_DEPTH; i++)
		gq_jw_array_open(w);
	gq_jw_int(w, 1);
	for (int i = 0; i <= GQ_JW_MAX_DEPTH; i++)
		gq_jw_array_close(w);
}

/* What only tree mode refuses (yajl_gen's text would not be JSON, or a
 * tree cannot hold it): NULL, the partial tree freed (no leak). */
static void test_bad_tree_only(void **state)
{
	static const doc_fn docs[] = {
	    tree_close_after_key,
	    tree_map_closed_as_array,
	    tree_array_closed_as_map,
	    tree_left_open,
	    tree_nul_byte,
	    tree_too_deep,
	};
	struct gq_jw w;

	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(docs); i++) {
		gq_jw_init_tree(&w);
		docs[i](&w);
		if (gq_jw_finish_tree(&w) != NULL)
			fail_msg("tree document %zu was accepted", i);
		assert_null(w.t);
	}
}

/* The flag is sticky in tree mode too: after a failed call the writer
 * stays bad, whatever comes next. */
static void test_tree_sticky(void **state)
{
	struct gq_jw w;

	(void)state;
	gq_jw_init_tree(&w);
	gq_jw_map_open(&w);
	gq_jw_int(&w, 1);
	assert_true(w.bad);
	gq_jw_kv(&w, "a", "b");
	gq_jw_map_close(&w);
	assert_true(w.bad);
	assert_null(gq_jw_finish_tree(&w));
}

/* Each finisher frees a writer of the other mode and gives NULL. */
static void test_wrong_finisher(void **state)
{
	struct gq_jw w;

	(void)state;
	gq_jw_init_tree(&w);
	gq_jw_map_open(&w);
	gq_jw_map_close(&w);
	assert_null(gq_jw_finish(&w));
	assert_null(w.t);

	gq_jw_init(&w);
	gq_jw_map_open(&w);
	gq_jw_map_close(&w);
	assert_null(gq_jw_finish_tree(&w));
	assert_null(w.g);
}

/* Appends to s the byte strings of length len over bytes[] (all of them),
 * checking gq_utf8_valid_yajl against yajl_gen_string on each. */
static void check_utf8_strings(yajl_gen g, const unsigned char *bytes, size_t n_bytes,
			       unsigned char *s, size_t at, size_t len)
{
	if (at == len) {
		yajl_gen_status st = yajl_gen_string(g, s, len);
		bool ok = st == yajl_gen_status_ok;

		if (ok != gq_utf8_valid_yajl((const char *)s, len))
			fail_msg("length %zu starting %02x: yajl %d", len, s[0], st);
		yajl_gen_clear(g);
		return;
	}
	for (size_t i = 0; i < n_bytes; i++) {
		s[at] = bytes[i];
		check_utf8_strings(g, bytes, n_bytes, s, at + 1, len);
	}
}

/* gq_utf8_valid_yajl says what yajl_gen_validate_utf8 says: every string of
 * up to 2 bytes, and every string of 3 to 5 bytes over the bytes where the
 * rules change. */
static void test_utf8_valid_yajl(void **state)
{
	static const unsigned char edges[] = {0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc1,
					      0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4,
					      0xf5, 0xf7, 0xf8, 0xfc, 0xfe, 0xff};
	unsigned char all[256], s[5];
	yajl_gen g = yajl_gen_alloc(NULL);

	(void)state;
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	yajl_gen_array_open(g);
	assert_true(gq_utf8_valid_yajl("", 0));
	for (size_t len = 1; len <= 2; len++)
		check_utf8_strings(g, all, sizeof(all), s, 0, len);
	for (size_t len = 3; len <= 5; len++)
		check_utf8_strings(g, edges, sizeof(edges), s, 0, len);
	yajl_gen_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_document),
	    cmocka_unit_test(test_bad_utf8),
	    cmocka_unit_test(test_misuse),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_tree_matches_text),
	    cmocka_unit_test(test_bad_both_modes),
	    cmocka_unit_test(test_bad_tree_only),
	    cmocka_unit_test(test_tree_sticky),
	    cmocka_unit_test(test_wrong_finisher),
	    cmocka_unit_test(test_utf8_valid_yajl),
	};
	return cmocka_run_group_tests_name("jsonw", tests, NULL, NULL);
}
