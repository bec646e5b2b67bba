/*
 * Unit tests for yamldoc.c: scalar typing and quoting, multi-document
 * streams, source lines, errors with positions, anchors/aliases/merge keys,
 * alias bombs, the depth and size limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "gq.h"
#include "yamldoc.h"

/* Parses a NUL-terminated YAML text. */
static int parse(struct gq_yamldoc_list *l, const char *yaml, struct gq_err *err)
{
	return gq_yamldoc_parse(l, yaml, strlen(yaml), err);
}

/* Looks up a value in document 0 with a NULL-terminated path. */
static yajl_val get(const struct gq_yamldoc_list *l, size_t doc, const char **path)
{
	assert_true(doc < l->n);
	return yajl_tree_get(l->docs[doc].root, path, yajl_t_any);
}

#define P(...) ((const char *[]){__VA_ARGS__, NULL})

/* Asserts that value at path is a string equal to want. */
static void assert_str_at(const struct gq_yamldoc_list *l, const char **path, const char *want)
{
	yajl_val v = get(l, 0, path);

	assert_non_null(v);
	assert_true(YAJL_IS_STRING(v));
	assert_string_equal(YAJL_GET_STRING(v), want);
}

/* Asserts that value at path is an integer equal to want. */
static void assert_int_at(const struct gq_yamldoc_list *l, const char **path, long long want)
{
	yajl_val v = get(l, 0, path);

	assert_non_null(v);
	assert_true(YAJL_IS_INTEGER(v));
	assert_true(YAJL_GET_INTEGER(v) == want);
}

/* Asserts a double (not integer) number at path. */
static void assert_double_at(const struct gq_yamldoc_list *l, const char **path, double want)
{
	yajl_val v = get(l, 0, path);

	assert_non_null(v);
	assert_true(YAJL_IS_DOUBLE(v));
	assert_false(YAJL_IS_INTEGER(v));
	assert_true(YAJL_GET_DOUBLE(v) == want);
}

/* Asserts that parsing fails with rc and the message starts with "line:col:". */
static void assert_fails_at(const char *yaml, int rc, unsigned line, unsigned col)
{
	struct gq_yamldoc_list l;
	struct gq_err err = {0};
	unsigned gl = 0, gc = 0;

	assert_int_equal(parse(&l, yaml, &err), rc);
	assert_int_equal(l.n, 0);
	assert_null(l.docs);
	if (sscanf(err.msg, "%u:%u:", &gl, &gc) != 2)
		fail_msg("error without position: %s", err.msg);
	if (gl != line || gc != col)
		fail_msg("error at %u:%u, want %u:%u: %s", gl, gc, line, col, err.msg);
}

static void test_scalar_types(void **state)
{
	static const char yaml[] = "s1: \"500\"\n"
				   "s2: '500'\n"
				   "i1: 500\n"
				   "i2: -42\n"
				   "i3: 0x1F\n"
				   "i4: 0o17\n"
				   "i5: 017\n"
				   "i6: 1_000\n"
				   "i7: 0b101\n"
				   "i8: +7\n"
				   "f1: 1.5\n"
				   "f2: .5\n"
				   "f3: 1e3\n"
				   "f4: -2.5e-3\n"
				   "f5: 08\n"
				   "b1: true\n"
				   "b2: False\n"
				   "b3: yes\n"
				   "b4: off\n"
				   "b5: N\n"
				   "n1: null\n"
				   "n2: ~\n"
				   "n3:\n"
				   "str1: hello world\n"
				   "str2: 2024-01-02\n"
				   "str3: \"true\"\n"
				   "str4: 1.2.3\n"
				   "str5: 0x\n"
				   "str6: 1e400\n"
				   "str7: yesno\n"
				   "big: 18446744073709551615\n"
				   "huge: 123456789012345678901234567890\n"
				   "min: -9223372036854775808\n"
				   "lit: |\n"
				   "  line1\n"
				   "  line2\n"
				   "fold: >\n"
				   "  a\n"
				   "  b\n"
				   "tstr: !!str 123\n"
				   "bang: ! 123\n"
				   "tint: !!int \"42\"\n"
				   "tfloat: !!float 3\n"
				   "tbool: !!bool \"on\"\n"
				   "lt: <<\n";
	struct gq_yamldoc_list l;
	struct gq_err err = {0};
	yajl_val v;

	(void)state;
	assert_int_equal(parse(&l, yaml, &err), GQ_OK);
	assert_int_equal(l.n, 1);
	assert_str_at(&l, P("s1"), "500");
	assert_str_at(&l, P("s2"), "500");
	assert_int_at(&l, P("i1"), 500);
	assert_int_at(&l, P("i2"), -42);
	assert_int_at(&l, P("i3"), 31);
	assert_int_at(&l, P("i4"), 15);
	assert_int_at(&l, P("i5"), 15);
	assert_int_at(&l, P("i6"), 1000);
	assert_int_at(&l, P("i7"), 5);
	assert_int_at(&l, P("i8"), 7);
	assert_double_at(&l, P("f1"), 1.5);
	assert_double_at(&l, P("f2"), 0.5);
	/* 1e3 is the float 1000, which JSON (like Go's encoder) writes as 1000. */
	assert_int_at(&l, P("f3"), 1000);
	assert_double_at(&l, P("f4"), -2.5e-3);
	assert_int_at(&l, P("f5"), 8);
	assert_true(YAJL_IS_TRUE(get(&l, 0, P("b1"))));
	assert_true(YAJL_IS_FALSE(get(&l, 0, P("b2"))));
	assert_true(YAJL_IS_TRUE(get(&l, 0, P("b3"))));
	assert_true(YAJL_IS_FALSE(get(&l, 0, P("b4"))));
	assert_true(YAJL_IS_FALSE(get(&l, 0, P("b5"))));
	assert_true(YAJL_IS_NULL(get(&l, 0, P("n1"))));
	assert_true(YAJL_IS_NULL(get(&l, 0, P("n2"))));
	assert_true(YAJL_IS_NULL(get(&l, 0, P("n3"))));
	assert_str_at(&l, P("str1"), "hello world");
	assert_str_at(&l, P("str2"), "2024-01-02");
	assert_str_at(&l, P("str3"), "true");
	assert_str_at(&l, P("str4"), "1.2.3");
	assert_str_at(&l, P("str5"), "0x");
	assert_str_at(&l, P("str6"), "1e400");
	assert_str_at(&l, P("str7"), "yesno");
	v = get(&l, 0, P("big"));
	assert_true(YAJL_IS_NUMBER(v));
	assert_false(YAJL_IS_INTEGER(v));
	assert_string_equal(YAJL_GET_NUMBER(v), "18446744073709551615");
	v = get(&l, 0, P("huge"));
	assert_true(YAJL_IS_DOUBLE(v));
	assert_true(YAJL_GET_DOUBLE(v) > 1.2345e29 && YAJL_GET_DOUBLE(v) < 1.2346e29);
	/* INT64_MIN is exact in the JSON text (yajl itself cannot hold it as an int). */
	v = get(&l, 0, P("min"));
	assert_true(YAJL_IS_NUMBER(v));
	assert_string_equal(YAJL_GET_NUMBER(v), "-9223372036854775808");
	assert_str_at(&l, P("lit"), "line1\nline2\n");
	assert_str_at(&l, P("fold"), "a b\n");
	assert_str_at(&l, P("tstr"), "123");
	assert_str_at(&l, P("bang"), "123");
	assert_int_at(&l, P("tint"), 42);
	assert_int_at(&l, P("tfloat"), 3);
	assert_true(YAJL_IS_TRUE(get(&l, 0, P("tbool"))));
	assert_str_at(&l, P("lt"), "<<");
	gq_yamldoc_list_free(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.docs);
}

static void test_quoting_and_json_text(void **state)
{
	static const char yaml[] = "b: \"tab\\there \\u00e9 \\0 nul\"\n"
				   "a: 'it''s'\n"
				   "c: [1, \"2\", x, {d: null}]\n";
	struct gq_yamldoc_list l;
	struct gq_err err = {0};
	yajl_val v;

	(void)state;
	assert_int_equal(parse(&l, yaml, &err), GQ_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.docs[0].json, "{\"b\":\"tab\\there \xc3\xa9 \\u0000 nul\","
					    "\"a\":\"it's\",\"c\":[1,\"2\",\"x\",{\"d\":null}]}");
	assert_int_equal(l.docs[0].json_len, strlen(l.docs[0].json));
	assert_str_at(&l, P("a"), "it's");
	v = get(&l, 0, P("c"));
	assert_true(YAJL_IS_ARRAY(v));
	assert_int_equal(v->u.array.len, 4);
	assert_true(YAJL_IS_INTEGER(v->u.array.values[0]));
	assert_true(YAJL_IS_STRING(v->u.array.values[1]));
	gq_yamldoc_list_free(&l);
}

static void test_multi_document(void **state)
{
	static const char yaml[] = "a: 1\n"	  /* 1 */
				   "---\n"	  /* 2 */
				   "---\n"	  /* 3: empty */
				   "# comment\n"  /* 4 */
				   "---\n"	  /* 5: only a comment */
				   "# nothing\n"  /* 6 */
				   "--- \n"	  /* 7 */
				   "b: 2\n"	  /* 8 */
				   "...\n"	  /* 9 */
				   "--- ~\n"	  /* 10: null, skipped */
				   "--- [x, y]\n" /* 11 */
				   "---\n"	  /* 12 */
				   "plain\n";	  /* 13 */
	struct gq_yamldoc_list l;
	struct gq_err err = {0};
	yajl_val v;

	(void)state;
	assert_int_equal(parse(&l, yaml, &err), GQ_OK);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.docs[0].line, 1);
	assert_true(YAJL_GET_INTEGER(get(&l, 0, P("a"))) == 1);
	assert_int_equal(l.docs[1].line, 7);
	assert_true(YAJL_GET_INTEGER(get(&l, 1, P("b"))) == 2);
	assert_int_equal(l.docs[2].line, 11);
	assert_true(YAJL_IS_ARRAY(l.docs[2].root));
	assert_int_equal(l.docs[3].line, 12);
	v = l.docs[3].root;
	assert_true(YAJL_IS_STRING(v));
	assert_string_equal(YAJL_GET_STRING(v), "plain");
	gq_yamldoc_list_free(&l);

	/* Nothing at all, or only comments: no documents, no error. */
	assert_int_equal(gq_yamldoc_parse(&l, "", 0, &err), GQ_OK);
	assert_int_equal(l.n, 0);
	assert_int_equal(parse(&l, "# just a comment\n---\n", &err), GQ_OK);
	assert_int_equal(l.n, 0);
	gq_yamldoc_list_free(&l);
}

static void test_line_numbers(void **state)
{
	static const char yaml[] = "apiVersion: gpuquota.io/v1alpha1\n" /* 1 */
				   "kind: GPUTeamAllocation\n"		/* 2 */
				   "spec:\n"				/* 3 */
				   "  budget:\n"			/* 4 */
				   "    gpuHours: 500\n"		/* 5 */
				   "  namespaces:\n"			/* 6 */
				   "  - name: a\n"			/* 7 */
				   "  - name: b\n"			/* 8 */
				   "    labels: {x: y}\n";		/* 9 */
	struct gq_yamldoc_list l;
	struct gq_err err = {0};
	unsigned line = 0, col = 0;

	(void)state;
	assert_int_equal(parse(&l,
			       "---\n# c\n\n"
			       "x: 1\n"
			       "---\n"
			       "\n"
			       "z: 2\n",
			       &err),
			 GQ_OK);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.docs[0].line, 1);
	assert_int_equal(gq_yamldoc_line(&l.docs[0], P("x")), 4);
	assert_int_equal(l.docs[1].line, 5);
	assert_int_equal(gq_yamldoc_line(&l.docs[1], P("z")), 7);
	gq_yamldoc_list_free(&l);

	assert_int_equal(parse(&l, yaml, &err), GQ_OK);
	assert_int_equal(gq_yamldoc_line(&l.docs[0], P("kind")), 2);
	assert_int_equal(gq_yamldoc_line(&l.docs[0], P("spec", "budget", "gpuHours")), 5);
	assert_int_equal(gq_yamldoc_pos(&l.docs[0], P("spec", "budget", "gpuHours"), &line, &col),
			 GQ_OK);
	assert_int_equal(line, 5);
	assert_int_equal(col, 5);
	assert_int_equal(gq_yamldoc_line(&l.docs[0], P("spec", "namespaces", "1")), 8);
	assert_int_equal(gq_yamldoc_line(&l.docs[0], P("spec", "namespaces", "1", "labels", "x")),
			 9);
	assert_int_equal(
	    gq_yamldoc_pos(&l.docs[0], P("spec", "namespaces", "1", "labels", "x"), &line, &col),
	    GQ_OK);
	assert_int_equal(col, 14);
	/* Absent paths. */
	assert_int_equal(gq_yamldoc_line(&l.docs[0], P("spec", "budget", "missing")), 0);
	assert_int_equal(gq_yamldoc_line(&l.docs[0], P("spec", "namespaces", "2")), 0);
	assert_int_equal(gq_yamldoc_line(&l.docs[0], P("spec", "namespaces", "x")), 0);
	assert_int_equal(gq_yamldoc_line(&l.docs[0], P("kind", "deeper")), 0);
	assert_int_equal(gq_yamldoc_pos(&l.docs[0], P("nope"), NULL, NULL), GQ_ENOTFOUND);
	/* Nearest existing ancestor. */
	assert_int_equal(gq_yamldoc_line_nearest(&l.docs[0], P("spec", "budget", "missing")), 4);
	assert_int_equal(gq_yamldoc_line_nearest(&l.docs[0], P("nope")), 1);
	/* Empty path: the root. */
	assert_int_equal(gq_yamldoc_line(&l.docs[0], (const char *[]){NULL}), 1);
	gq_yamldoc_list_free(&l);
}

static void test_errors_with_positions(void **state)
{
	(void)state;
	/* Syntax errors from libyaml. */
	assert_fails_at("a: 1\nb: [1, 2\nc: 3\n", GQ_EPARSE, 3, 2);
	assert_fails_at("a:\n\tb: 1\n", GQ_EPARSE, 2, 1);
	assert_fails_at("a: 1\n  b: 2\n", GQ_EPARSE, 2, 4);
	/* Invalid UTF-8: position computed from the byte offset. */
	assert_fails_at("a: 1\nb: \xff\n", GQ_EPARSE, 2, 4);
	/* Keys that are not strings. */
	assert_fails_at("a: 1\n1: x\n", GQ_EPARSE, 2, 1);
	assert_fails_at("x:\n  true: 1\n", GQ_EPARSE, 2, 3);
	assert_fails_at("x:\n  ~: 1\n", GQ_EPARSE, 2, 3);
	assert_fails_at("? [a, b]\n: 1\n", GQ_EPARSE, 1, 3);
	assert_fails_at("{{a: 1}: 2}\n", GQ_EPARSE, 1, 2);
	/* Duplicate keys: the second one is reported. */
	assert_fails_at("a: 1\nb: 2\na: 3\n", GQ_EPARSE, 3, 1);
	assert_fails_at("m: {x: 1, z: 2, x: 3}\n", GQ_EPARSE, 1, 17);
	/* A key with a NUL byte cannot be a JSON object key. */
	assert_fails_at("a: 1\n\"b\\0c\": 2\n", GQ_EPARSE, 2, 1);
	/* No JSON form, wrong explicit tag, unknown alias. */
	assert_fails_at("a: .inf\n", GQ_EPARSE, 1, 4);
	assert_fails_at("a: [1, -.INF]\n", GQ_EPARSE, 1, 8);
	assert_fails_at("a: !!int abc\n", GQ_EPARSE, 1, 4);
	assert_fails_at("a: *nope\n", GQ_EPARSE, 1, 4);
	/* A bad merge value. */
	assert_fails_at("a:\n  <<: 5\n", GQ_EPARSE, 2, 7);
	/* An error in a later document still fails the whole stream. */
	assert_fails_at("a: 1\n---\nb: 2\n---\nc: [\n", GQ_EPARSE, 6, 1);
}

static void test_quoted_keys_are_strings(void **state)
{
	struct gq_yamldoc_list l;
	struct gq_err err = {0};

	(void)state;
	/* YAML 1.1 reads a plain y as a boolean, so as a key it must be quoted. */
	assert_int_equal(parse(&l, "x: 0\ny: 1\n", &err), GQ_EPARSE);
	assert_string_equal(err.msg, "2:1: mapping key y is a boolean, not a string (quote it)");
	assert_int_equal(parse(&l, "\"y\": 1\n", &err), GQ_OK);
	assert_int_at(&l, P("y"), 1);
	gq_yamldoc_list_free(&l);
	assert_int_equal(parse(&l, "\"1\": a\n'true': b\nyes-ish: c\n", &err), GQ_OK);
	assert_str_at(&l, P("1"), "a");
	assert_str_at(&l, P("true"), "b");
	assert_str_at(&l, P("yes-ish"), "c");
	gq_yamldoc_list_free(&l);
}

static void test_anchors_and_merge(void **state)
{
	static const char yaml[] = "base: &base {x: 1, w: 2}\n"
				   "other: &other {z: 3, x: 9}\n"
				   "derived:\n"
				   "  <<: *base\n"
				   "  w: 20\n"
				   "multi:\n"
				   "  <<: [*base, *other]\n"
				   "list: [*base, &s str, *s]\n";
	struct gq_yamldoc_list l;
	struct gq_err err = {0};
	yajl_val v;

	(void)state;
	assert_int_equal(parse(&l, yaml, &err), GQ_OK);
	assert_int_at(&l, P("derived", "x"), 1);
	assert_int_at(&l, P("derived", "w"), 20);
	v = get(&l, 0, P("derived"));
	assert_int_equal(v->u.object.len, 2);
	/* Earlier merge sources win over later ones. */
	assert_int_at(&l, P("multi", "x"), 1);
	assert_int_at(&l, P("multi", "w"), 2);
	assert_int_at(&l, P("multi", "z"), 3);
	assert_int_equal(get(&l, 0, P("multi"))->u.object.len, 3);
	v = get(&l, 0, P("list"));
	assert_int_equal(v->u.array.len, 3);
	assert_true(YAJL_IS_OBJECT(v->u.array.values[0]));
	assert_string_equal(YAJL_GET_STRING(v->u.array.values[2]), "str");
	assert_int_equal(gq_yamldoc_line(&l.docs[0], P("derived", "w")), 5);
	gq_yamldoc_list_free(&l);

	/* Anchors on keys and on inline merge sources outlive their use. */
	assert_int_equal(parse(&l,
			       "&k key: v\n"
			       "m:\n"
			       "  <<: &src {a: 1}\n"
			       "  b: 2\n"
			       "c: [*k, *src]\n"
			       "d: &r 1\n"
			       "e: &r 2\n"
			       "f: *r\n",
			       &err),
			 GQ_OK);
	assert_string_equal(l.docs[0].json, "{\"key\":\"v\",\"m\":{\"b\":2,\"a\":1},"
					    "\"c\":[\"key\",{\"a\":1}],\"d\":1,\"e\":2,\"f\":2}");
	gq_yamldoc_list_free(&l);

	/* Nested anchors are not copied: 64 levels each anchored parse fine. */
	{
		struct gq_buf b;
		int i;

		gq_buf_init(&b, 1 << 16);
		for (i = 0; i < GQ_YAMLDOC_MAX_DEPTH; i++)
			assert_int_equal(gq_buf_printf(&b, "&a%d [", i), GQ_OK);
		assert_int_equal(gq_buf_puts(&b, "1"), GQ_OK);
		for (i = 0; i < GQ_YAMLDOC_MAX_DEPTH; i++)
			assert_int_equal(gq_buf_puts(&b, "]"), GQ_OK);
		assert_int_equal(gq_yamldoc_parse(&l, b.data, b.len, &err), GQ_OK);
		assert_int_equal(l.n, 1);
		gq_yamldoc_list_free(&l);
		gq_buf_free(&b);
	}

	/* Anchors do not cross documents. */
	assert_fails_at("a: &x 1\n---\nb: *x\n", GQ_EPARSE, 3, 4);
}

static void test_alias_bomb(void **state)
{
	static const char lol[] =
	    "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
	    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
	    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
	    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
	    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
	    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
	    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
	struct gq_yamldoc_list l;
	struct gq_err err = {0};
	struct gq_buf b;
	int i;

	(void)state;
	assert_int_equal(parse(&l, lol, &err), GQ_EPARSE);
	assert_int_equal(l.n, 0);
	assert_non_null(strstr(err.msg, "alias"));

	/* Few aliases, but each expands a large anchor: the byte budget. */
	gq_buf_init(&b, 1 << 20);
	assert_int_equal(gq_buf_puts(&b, "a: &a \""), GQ_OK);
	for (i = 0; i < 300000; i++)
		assert_int_equal(gq_buf_puts(&b, "x"), GQ_OK);
	assert_int_equal(gq_buf_puts(&b, "\"\nb: [*a, *a, *a, *a]\n"), GQ_OK);
	err.msg[0] = '\0';
	assert_int_equal(gq_yamldoc_parse(&l, b.data, b.len, &err), GQ_EPARSE);
	assert_non_null(strstr(err.msg, "expand"));
	assert_int_equal(strncmp(err.msg, "2:", 2), 0);
	gq_buf_free(&b);

	/* Within the budgets aliases are fine (64 references). */
	gq_buf_init(&b, 1 << 16);
	assert_int_equal(gq_buf_puts(&b, "a: &a [1, 2]\nb: ["), GQ_OK);
	for (i = 0; i < GQ_YAMLDOC_MAX_ALIASES; i++)
		assert_int_equal(gq_buf_puts(&b, i ? ", *a" : "*a"), GQ_OK);
	assert_int_equal(gq_buf_puts(&b, "]\n"), GQ_OK);
	assert_int_equal(gq_yamldoc_parse(&l, b.data, b.len, &err), GQ_OK);
	assert_int_equal(get(&l, 0, P("b"))->u.array.len, GQ_YAMLDOC_MAX_ALIASES);
	gq_yamldoc_list_free(&l);
	gq_buf_free(&b);
}

/* Builds n nested flow sequences around a scalar. */
static void nested(struct gq_buf *b, int n)
{
	int i;

	gq_buf_reset(b);
	for (i = 0; i < n; i++)
		assert_int_equal(gq_buf_puts(b, "["), GQ_OK);
	assert_int_equal(gq_buf_puts(b, "1"), GQ_OK);
	for (i = 0; i < n; i++)
		assert_int_equal(gq_buf_puts(b, "]"), GQ_OK);
}

static void test_depth_limit(void **state)
{
	struct gq_yamldoc_list l;
	struct gq_err err = {0};
	struct gq_buf b;
	yajl_val v;
	int i;

	(void)state;
	gq_buf_init(&b, 1 << 18);
	nested(&b, GQ_YAMLDOC_MAX_DEPTH);
	assert_int_equal(gq_yamldoc_parse(&l, b.data, b.len, &err), GQ_OK);
	v = l.docs[0].root;
	for (i = 0; i < GQ_YAMLDOC_MAX_DEPTH; i++) {
		assert_true(YAJL_IS_ARRAY(v));
		v = v->u.array.values[0];
	}
	assert_true(YAJL_IS_INTEGER(v));
	gq_yamldoc_list_free(&l);

	nested(&b, GQ_YAMLDOC_MAX_DEPTH + 1);
	assert_fails_at(b.data, GQ_EPARSE, 1, GQ_YAMLDOC_MAX_DEPTH + 1);
	nested(&b, 100000);
	assert_int_equal(gq_yamldoc_parse(&l, b.data, b.len, &err), GQ_EPARSE);

	/* Block mappings count the same way. */
	gq_buf_reset(&b);
	for (i = 0; i <= GQ_YAMLDOC_MAX_DEPTH; i++)
		assert_int_equal(gq_buf_printf(&b, "%*sk%d:\n", i, "", i), GQ_OK);
	assert_int_equal(gq_buf_printf(&b, "%*sleaf: 1\n", i, ""), GQ_OK);
	assert_int_equal(gq_yamldoc_parse(&l, b.data, b.len, &err), GQ_EPARSE);
	assert_non_null(strstr(err.msg, "deeper"));

	/* An alias may not push a deep anchor past the limit. */
	gq_buf_reset(&b);
	assert_int_equal(gq_buf_puts(&b, "a: &a "), GQ_OK);
	for (i = 0; i < GQ_YAMLDOC_MAX_DEPTH - 1; i++)
		assert_int_equal(gq_buf_puts(&b, "["), GQ_OK);
	for (i = 0; i < GQ_YAMLDOC_MAX_DEPTH - 1; i++)
		assert_int_equal(gq_buf_puts(&b, "]"), GQ_OK);
	assert_int_equal(gq_buf_puts(&b, "\nb: [*a]\n"), GQ_OK);
	assert_fails_at(b.data, GQ_EPARSE, 2, 5);
	gq_buf_free(&b);
}

static void test_size_limit(void **state)
{
	struct gq_yamldoc_list l;
	struct gq_err err = {0};
	size_t n = GQ_YAMLDOC_MAX_INPUT + 1;
	char *big = malloc(n);

	(void)state;
	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = 'a';
	big[1] = ':';
	assert_int_equal(gq_yamldoc_parse(&l, big, n, &err), GQ_ETOOBIG);
	assert_int_equal(l.n, 0);
	/* Exactly the limit is accepted. */
	assert_int_equal(gq_yamldoc_parse(&l, big, n - 1, &err), GQ_OK);
	assert_int_equal(l.n, 1);
	assert_true(YAJL_IS_NULL(get(&l, 0, P("a"))));
	gq_yamldoc_list_free(&l);
	free(big);
}

static void test_parse_file(void **state)
{
	char path[] = "/tmp/gq_yamldoc_XXXXXX";
	struct gq_yamldoc_list l;
	struct gq_err err = {0};
	static const char text[] = "kind: Alpha\n---\nkind: Beta\n";
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	assert_int_equal(gq_yamldoc_parse_file(&l, path, &err), GQ_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.docs[1].json, "{\"kind\":\"Beta\"}");
	assert_int_equal(l.docs[1].line, 2);
	gq_yamldoc_list_free(&l);
	unlink(path);
	assert_int_equal(gq_yamldoc_parse_file(&l, path, &err), GQ_EIO);
	assert_non_null(strstr(err.msg, path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scalar_types),
	    cmocka_unit_test(test_quoting_and_json_text),
	    cmocka_unit_test(test_multi_document),
	    cmocka_unit_test(test_line_numbers),
	    cmocka_unit_test(test_errors_with_positions),
	    cmocka_unit_test(test_quoted_keys_are_strings),
	    cmocka_unit_test(test_anchors_and_merge),
	    cmocka_unit_test(test_alias_bomb),
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_parse_file),
	};
	return cmocka_run_group_tests_name("yamldoc", tests, NULL, NULL);
}
