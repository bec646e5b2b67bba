/*
 * fuzz_apierror.c - libFuzzer target for the apiserver error-body parser of
 * kclient.c (gq_kclient_http_error).
 *
 * Input: two bytes of HTTP status (big-endian, taken modulo 600), then the
 * response body as the apiserver (or a proxy in front of it) sent it: a
 * Kubernetes Status object, HTML, plain text, any bytes.
 *
 * Invariants: the return code is the documented mapping of the status,
 * err.code is the status, err.msg is non-empty, NUL-terminated, free of
 * control bytes and valid UTF-8 (it may become a JSON condition message:
 * it must go through the project's JSON writer), a body or Status message
 * of printable ASCII that fits comes back unchanged, and a NULL err gives
 * the same code. A violated invariant aborts; nothing may crash, leak or
 * trip ASan/UBSan.
 *
 * Build: `make fuzz` (libFuzzer); replayed by `make unit` through
 * test/fuzz/standalone.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "gq.h"
#include "jsonw.h"
#include "kclient.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Status bodies are bounded by the client; beyond 1 MiB + a little the
 * parser only takes the raw-text path, which a smaller input covers. */
#define FUZZ_MAX_INPUT ((1u << 20) + 64)

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_apierror: invariant violated: %s\n", what);
		abort();
	}
}

static int want_rc(int status)
{
	switch (status) {
	case 401: return GQ_EUNAUTHORIZED;
	case 403: return GQ_EFORBIDDEN;
	case 404: return GQ_ENOTFOUND;
	case 409: return GQ_ECONFLICT;
	case 410: return GQ_EGONE;
	default: return GQ_EHTTP;
	}
}

/* Whether s[0..len) is printable ASCII only. */
static int printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* The Status message the parser should find, or NULL. Borrowed from doc. */
static const char *status_message(const char *body, size_t len, yajl_val *doc)
{
	const char *path[] = {"message", NULL};
	char ebuf[64];
	yajl_val m;
	size_t i = 0;

	*doc = NULL;
	while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
		i++;
	if (i == len || body[i] != '{' || len > ((size_t)1 << 20))
		return NULL;
	*doc = yajl_tree_parse(body, ebuf, sizeof(ebuf));
	m = *doc ? yajl_tree_get(*doc, path, yajl_t_string) : NULL;
	return m && m->u.string[0] != '\0' ? m->u.string : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gq_err err;
	const char *msg;
	struct gq_jw w;
	yajl_val doc;
	char *body, *json;
	size_t len, mlen;
	int status, rc;

	if (size < 2 || size > FUZZ_MAX_INPUT)
		return 0;
	status = ((data[0] << 8) | data[1]) % 600;
	len = size - 2;
	body = gq_malloc(len + 1);
	memcpy(body, data + 2, len);
	body[len] = '\0';

	memset(&err, 0x55, sizeof(err));
	rc = gq_kclient_http_error(status, body, len, &err);
	check(rc == want_rc(status), "status mapping");
	check(rc == gq_kclient_http_error(status, body, len, NULL), "NULL err");
	check(err.code == status, "err.code");
	mlen = strnlen(err.msg, sizeof(err.msg));
	check(mlen > 0 && mlen < sizeof(err.msg), "message length");
	for (size_t i = 0; i < mlen; i++)
		check((unsigned char)err.msg[i] >= 0x20 && (unsigned char)err.msg[i] != 0x7f,
		      "no control bytes");
	gq_jw_init(&w);
	gq_jw_str(&w, err.msg);
	json = gq_jw_finish(&w);
	check(json != NULL, "message is valid UTF-8");
	free(json);

	msg = status_message(body, len, &doc);
	if (msg != NULL && printable(msg, strlen(msg)) && strlen(msg) < sizeof(err.msg))
		check(strcmp(err.msg, msg) == 0, "Status message kept");
	else if (msg == NULL && len > 0 && len < sizeof(err.msg) && printable(body, len))
		check(strcmp(err.msg, body) == 0, "raw body kept");
	yajl_tree_free(doc);
	free(body);
	return 0;
}
