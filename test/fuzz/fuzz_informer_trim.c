/*
 * fuzz_informer_trim.c - libFuzzer target for the informer's object
 * trimming (gq_informer_trim and gq_informer_key, informer.c): what every
 * object listed or watched from the apiserver goes through before it is
 * cached.
 *
 * Input: one byte choosing the keep list (the default NULL list, the pod
 * and node fields of the accounting caches, the ResourceQuota list of the
 * controller), then the object as JSON.
 *
 * Invariants: trimming returns GQ_OK with an object, or GQ_EINVAL /
 * GQ_EPARSE with a message and no tree; the trimmed object is part of the
 * original (every member and array element in it is found, in order, in
 * the input), keeps the cache key (same gq_informer_key result), drops
 * metadata.managedFields and the last-applied annotation under the default
 * list, keeps only listed top-level members otherwise, and trimming it
 * again changes nothing. A violated invariant aborts; nothing may crash,
 * leak or trip ASan/UBSan.
 *
 * Build: `make fuzz` (libFuzzer); replayed by `make unit` through
 * test/fuzz/standalone.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "accounting.h"
#include "gq.h"
#include "informer.h"
#include "json.h"
#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (32u * 1024)

static const char *const keep_rq[] = {"metadata.labels", "metadata.ownerReferences", "spec",
				      "status", NULL};

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_informer_trim: invariant violated: %s\n", what);
		abort();
	}
}

/* Whether part is found in whole: same scalars, members found by key,
 * array elements found in order (a subsequence). */
static int covers(yajl_val whole, yajl_val part)
{
	size_t i, j;

	if (whole == NULL || part == NULL || whole->type != part->type)
		return 0;
	switch (part->type) {
	case yajl_t_string: return strcmp(whole->u.string, part->u.string) == 0;
	case yajl_t_number: return strcmp(whole->u.number.r, part->u.number.r) == 0;
	case yajl_t_object:
		for (i = 0; i < part->u.object.len; i++) {
			for (j = 0; j < whole->u.object.len; j++)
				if (strcmp(whole->u.object.keys[j], part->u.object.keys[i]) == 0 &&
				    covers(whole->u.object.values[j], part->u.object.values[i]))
					break;
			if (j == whole->u.object.len)
				return 0;
		}
		return 1;
	case yajl_t_array:
		for (i = 0, j = 0; i < part->u.array.len; i++, j++) {
			while (j < whole->u.array.len &&
			       !covers(whole->u.array.values[j], part->u.array.values[i]))
				j++;
			if (j == whole->u.array.len)
				return 0;
		}
		return 1;
	default: return 1; /* true, false, null */
	}
}

static int listed(const char *const *keep, const char *key)
{
	size_t n = strlen(key);

	if (strcmp(key, "metadata") == 0)
		return 1;
	for (; *keep; keep++)
		if (strncmp(*keep, key, n) == 0 && ((*keep)[n] == '\0' || (*keep)[n] == '.'))
			return 1;
	return 0;
}

static void check_trimmed(const char *const *keep, yajl_val in, yajl_val out)
{
	const char *mf[] = {"metadata", "managedFields", NULL};
	const char *la[] = {"metadata", "annotations",
			    "kubectl.kubernetes.io/last-applied-configuration", NULL};
	struct gq_err err = {0};
	char *k1 = NULL, *k2 = NULL, *d1, *d2;
	yajl_val again = NULL;
	int rc1, rc2;

	check(YAJL_IS_OBJECT(out), "an object");
	check(covers(in, out), "part of the input");
	rc1 = gq_informer_key(in, &k1, &err);
	rc2 = gq_informer_key(out, &k2, &err);
	check(rc1 == rc2 && (rc1 != GQ_OK || strcmp(k1, k2) == 0), "same key");
	free(k1);
	free(k2);
	if (keep == NULL) {
		check(yajl_tree_get(out, mf, yajl_t_any) == NULL, "managedFields dropped");
		check(yajl_tree_get(out, la, yajl_t_any) == NULL, "last-applied dropped");
	} else {
		for (size_t i = 0; i < out->u.object.len; i++)
			check(listed(keep, out->u.object.keys[i]), "only listed members");
	}
	check(gq_informer_trim(keep, out, &again, &err) == GQ_OK, "trim again");
	d1 = gq_json_dump(out);
	d2 = gq_json_dump(again);
	check(d1 != NULL && d2 != NULL && strcmp(d1, d2) == 0, "trimming is idempotent");
	free(d1);
	free(d2);
	yajl_tree_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *const *lists[] = {NULL, gq_pod_fields, gq_accounting_node_fields, keep_rq};
	const char *const *keep;
	struct gq_err err = {0};
	yajl_val in, out = NULL;
	char ebuf[64], *s;
	int rc;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	keep = lists[data[0] % GQ_ARRAY_LEN(lists)];
	s = gq_malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	in = yajl_tree_parse(s, ebuf, sizeof(ebuf));
	free(s);
	if (in == NULL)
		return 0;
	rc = gq_informer_trim(keep, in, &out, &err);
	if (rc == GQ_OK) {
		check_trimmed(keep, in, out);
	} else {
		check(rc == GQ_EINVAL || rc == GQ_EPARSE, "error code");
		check(err.msg[0] != '\0' && out == NULL, "error message, no tree");
	}
	yajl_tree_free(out);
	yajl_tree_free(in);
	return 0;
}
