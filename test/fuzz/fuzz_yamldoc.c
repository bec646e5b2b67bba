/*
 * libFuzzer target for yamldoc.c: arbitrary bytes as a YAML stream.
 *
 * Every input must either parse or fail with GQ_EPARSE/GQ_ETOOBIG and a
 * message; nothing may crash, leak or exceed the documented bounds. On
 * success the produced JSON text must re-parse to the same tree shape, and
 * source lookups are exercised on whatever the documents contain.
 *
 * Build (libFuzzer + ASan/UBSan):
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -Icontroller/src test/fuzz/fuzz_yamldoc.c controller/src/yamldoc.c \
 *     controller/src/gq.c controller/src/buf.c \
 *     $(pkg-config --cflags --libs yajl yaml-0.1) -lm
 * or link with test/fuzz/standalone.c instead of -fsanitize=fuzzer to
 * replay a corpus as a plain test.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gq.h"
#include "yamldoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks the first keys/elements of v, asking for their source lines. */
static void probe(const struct gq_yamldoc *doc, yajl_val v, const char **path, size_t depth)
{
	char idx[24];
	size_t i, n;

	if (depth >= 8 || v == NULL)
		return;
	path[depth + 1] = NULL;
	if (YAJL_IS_OBJECT(v)) {
		n = v->u.object.len < 4 ? v->u.object.len : 4;
		for (i = 0; i < n; i++) {
			path[depth] = v->u.object.keys[i];
			(void)gq_yamldoc_line(doc, path);
			probe(doc, v->u.object.values[i], path, depth + 1);
			path[depth + 1] = NULL;
		}
	} else if (YAJL_IS_ARRAY(v)) {
		n = v->u.array.len < 4 ? v->u.array.len : 4;
		for (i = 0; i < n; i++) {
			snprintf(idx, sizeof(idx), "%zu", i);
			path[depth] = idx;
			(void)gq_yamldoc_line(doc, path);
			probe(doc, v->u.array.values[i], path, depth + 1);
			path[depth + 1] = NULL;
		}
	}
	path[depth] = "no-such-key";
	(void)gq_yamldoc_line_nearest(doc, path);
	path[depth] = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gq_yamldoc_list l;
	struct gq_err err = {0};
	const char *path[10];
	yajl_val again;
	char ebuf[128];
	size_t i;
	int rc;

	rc = gq_yamldoc_parse(&l, (const char *)data, size, &err);
	if (rc != GQ_OK) {
		if ((rc != GQ_EPARSE && rc != GQ_ETOOBIG) || err.msg[0] == '\0' || l.n != 0)
			abort();
		return 0;
	}
	for (i = 0; i < l.n; i++) {
		if (l.docs[i].root == NULL || l.docs[i].line == 0 ||
		    strlen(l.docs[i].json) != l.docs[i].json_len)
			abort();
		again = yajl_tree_parse(l.docs[i].json, ebuf, sizeof(ebuf));
		if (again == NULL || again->type != l.docs[i].root->type)
			abort();
		yajl_tree_free(again);
		path[0] = NULL;
		(void)gq_yamldoc_line(&l.docs[i], path);
		probe(&l.docs[i], l.docs[i].root, path, 0);
	}
	gq_yamldoc_list_free(&l);
	return 0;
}
