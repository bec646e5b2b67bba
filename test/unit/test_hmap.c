/*
 * test_hmap.c - the one hash table (hmap.c): insert, find, unlink with
 * growth and shrinking, iteration over everything, keys with embedded
 * lengths, and the seed.
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
#include "hmap.h"

struct rec {
	struct gq_hmap_node node;
	char key[32];
	int value;
};

static bool rec_match(const struct gq_hmap_node *n, const char *key, size_t len)
{
	const struct rec *r = (const struct rec *)n;

	return strlen(r->key) == len && memcmp(r->key, key, len) == 0;
}

static struct rec *find(const struct gq_hmap *m, const char *key)
{
	return (struct rec *)gq_hmap_find(m, key, strlen(key), rec_match);
}

static void test_grow_find_unlink_shrink(void **state)
{
	enum { N = 5000 };
	struct rec *recs = gq_calloc(N, sizeof(*recs));
	struct gq_hmap m;
	struct gq_hmap_node *n;
	size_t i, seen = 0, peak;

	(void)state;
	gq_hmap_init(&m, 42);
	assert_null(find(&m, "absent")); /* empty, no buckets yet */
	for (int k = 0; k < N; k++) {
		snprintf(recs[k].key, sizeof(recs[k].key), "ns/pod-%d", k);
		recs[k].value = k;
		gq_hmap_insert(&m, &recs[k].node,
			       gq_hmap_hash(&m, recs[k].key, strlen(recs[k].key)));
	}
	assert_int_equal(m.n, N);
	assert_true(m.nb >= N * 4 / 3 && (m.nb & (m.nb - 1)) == 0);
	peak = m.nb;
	for (int k = 0; k < N; k++) {
		struct rec *r = find(&m, recs[k].key);

		assert_non_null(r);
		assert_int_equal(r->value, k);
	}
	assert_null(find(&m, "ns/pod-5000"));
	assert_null(find(&m, "ns/pod-1x"));
	for (n = gq_hmap_first(&m, &i); n != NULL; n = gq_hmap_next(&m, &i, n))
		seen++;
	assert_int_equal(seen, N);
	/* unlink all but 10: the buckets shrink, the rest is still found */
	for (int k = 10; k < N; k++)
		gq_hmap_unlink(&m, &recs[k].node);
	assert_int_equal(m.n, 10);
	assert_true(m.nb < peak && m.nb >= 16);
	for (int k = 0; k < 10; k++)
		assert_ptr_equal(find(&m, recs[k].key), &recs[k]);
	assert_null(find(&m, recs[10].key));
	gq_hmap_free(&m);
	assert_int_equal(m.n, 0);
	assert_null(find(&m, recs[0].key));
	free(recs);
}

static void test_hash_seeded_and_length_bound(void **state)
{
	struct gq_hmap a, b;

	(void)state;
	gq_hmap_init(&a, 1);
	gq_hmap_init(&b, 2);
	assert_true(gq_hmap_hash(&a, "key", 3) == gq_hmap_hash(&a, "key", 3));
	assert_true(gq_hmap_hash(&a, "key", 3) != gq_hmap_hash(&b, "key", 3));
	/* only len bytes count */
	assert_true(gq_hmap_hash(&a, "keyXX", 3) == gq_hmap_hash(&a, "key", 3));
	assert_true(gq_hmap_hash(&a, "", 0) != gq_hmap_hash(&a, "k", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grow_find_unlink_shrink),
	    cmocka_unit_test(test_hash_seeded_and_length_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
