/*
 * json_assert.h - JSON comparisons for the unit tests: structural equality
 * with object members in any order or in the same order (array order always
 * matters), and a cmocka assertion that prints both texts when they differ. Include after
 * <cmocka.h>.
 */
#ifndef GQ_TEST_JSON_ASSERT_H
#define GQ_TEST_JSON_ASSERT_H

#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>
#include <yajl/yajl_tree.h>

#include "gq.h"
#include "json.h"

/* Structural equality of two trees; numbers compare by their text. With
 * ordered, object members must also come in the same order (that is
 * gq_json_equal, json.c). */
static inline bool json_equal_as(yajl_val a, yajl_val b, bool ordered)
{
	size_t i, j;

	if (ordered)
		return gq_json_equal(a, b);
	if (a == NULL || b == NULL)
		return a == b;
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case yajl_t_string: return strcmp(a->u.string, b->u.string) == 0;
	case yajl_t_number: return strcmp(a->u.number.r, b->u.number.r) == 0;
	case yajl_t_array:
		if (a->u.array.len != b->u.array.len)
			return false;
		for (i = 0; i < a->u.array.len; i++)
			if (!json_equal_as(a->u.array.values[i], b->u.array.values[i], false))
				return false;
		return true;
	case yajl_t_object:
		if (a->u.object.len != b->u.object.len)
			return false;
		for (i = 0; i < a->u.object.len; i++) {
			for (j = 0; j < b->u.object.len; j++)
				if (strcmp(a->u.object.keys[i], b->u.object.keys[j]) == 0)
					break;
			if (j == b->u.object.len ||
			    !json_equal_as(a->u.object.values[i], b->u.object.values[j], false))
				return false;
		}
		return true;
	default: return true; /* true, false, null */
	}
}

/* Structural equality, object members in any order. */
static inline bool json_equal(yajl_val a, yajl_val b)
{
	return json_equal_as(a, b, false);
}

/* Whether text got is JSON equal to want (want must parse). */
static inline bool json_eq(const char *got, const char *want)
{
	yajl_val g = yajl_tree_parse(got, NULL, 0), w = yajl_tree_parse(want, NULL, 0);
	bool eq;

	assert_non_null(w);
	eq = g != NULL && json_equal(g, w);
	yajl_tree_free(g);
	yajl_tree_free(w);
	return eq;
}

/* Fails the test unless got (non-NULL, valid JSON) equals want. */
static inline void assert_json_eq(const char *got, const char *want)
{
	char ebuf[128];
	yajl_val g, w;
	bool eq;

	assert_non_null(got);
	g = yajl_tree_parse(got, ebuf, sizeof(ebuf));
	if (g == NULL)
		fail_msg("not JSON (%s): %s", ebuf, got);
	w = yajl_tree_parse(want, ebuf, sizeof(ebuf));
	if (w == NULL)
		fail_msg("expected JSON does not parse (%s): %s", ebuf, want);
	eq = json_equal(g, w);
	yajl_tree_free(g);
	yajl_tree_free(w);
	if (!eq)
		fail_msg("JSON differs\n got: %s\nwant: %s", got, want);
}

/* Base64-decodes s, as a review response carries its patch (new heap
 * string). */
static inline char *unbase64(const char *s)
{
	size_t n = strlen(s);
	unsigned char *out = gq_malloc(n / 4 * 3 + 1);
	int len = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);

	assert_true(len >= 0);
	while (n > 0 && s[n - 1] == '=') {
		len--;
		n--;
	}
	out[len] = '\0';
	return (char *)out;
}

#endif
