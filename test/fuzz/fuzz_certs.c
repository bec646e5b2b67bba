/*
 * fuzz_certs.c - libFuzzer target for the PEM and certificate checks that
 * the webhook Secret goes through (certs.c, and tls.c's reading of the
 * Secret): whoever can write the Secret controls these bytes.
 *
 * Input starting with '{': the Secret as JSON (data.tls.crt, tls.key,
 * ca.crt, ca.key in base64), read with gq_tls_from_secret and judged with
 * gq_tls_usable for the webhook Service's name, as gq_tls_ensure does.
 * Any other input: up to three NUL-separated PEM texts, certificate, key
 * and CA bundle, given straight to gq_certs_check_pair (with and without a
 * DNS name), gq_certs_not_before / gq_certs_not_after and
 * gq_certs_needs_rotation, so that mutations reach the PEM and X.509 code
 * without going through base64.
 *
 * Invariants: results are the documented codes with a message; a pair that
 * passes gq_certs_check_pair has readable validity dates with notBefore <=
 * now <= notAfter (it verified now); a usable Secret pair also passes
 * gq_certs_check_pair and is not due for rotation; gq_certs_needs_rotation
 * holds for an expired, not yet valid or empty window. A violated
 * invariant aborts; nothing may crash, leak or trip ASan/UBSan.
 *
 * Build: `make fuzz` (libFuzzer); replayed by `make unit` through
 * test/fuzz/standalone.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_tree.h>

#include "certs.h"
#include "gq.h"
#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Three PEM texts of a few certificates each fit well inside this. */
#define FUZZ_MAX_INPUT (32u * 1024)
#define FUZZ_SVC_NAME  "gpuquota-webhook.gpuquota-system.svc"

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_certs: invariant violated: %s\n", what);
		abort();
	}
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void check_rc(int rc, const struct gq_err *err, const char *what)
{
	check(rc == GQ_OK || rc == GQ_EPARSE || rc == GQ_EINVAL || rc == GQ_EIO, what);
	if (rc != GQ_OK)
		check(err->msg[0] != '\0', "error message");
}

/* The checks of one certificate / key / CA triple. */
static void check_triple(const char *cert, const char *key, const char *ca)
{
	struct gq_err err = {0};
	int64_t nb = 0, na = 0, ca_na = 0, now;
	int rc, rc_nb, rc_na;

	rc_nb = gq_certs_not_before(cert, &nb, &err);
	check_rc(rc_nb, &err, "not_before code");
	rc_na = gq_certs_not_after(cert, &na, &err);
	check_rc(rc_na, &err, "not_after code");
	check((rc_nb == GQ_OK) == (rc_na == GQ_OK), "both dates or neither");
	check_rc(gq_certs_not_after(ca, &ca_na, &err), &err, "CA not_after code");

	rc = gq_certs_check_pair(cert, key, ca, NULL, &err);
	check_rc(rc, &err, "check_pair code");
	if (rc == GQ_OK) {
		now = wall_ms();
		check(rc_nb == GQ_OK && rc_na == GQ_OK, "a good pair has dates");
		/* It verified a moment ago, at whole seconds. */
		check(nb <= now + 1000 && now <= na + 60000, "a good pair is valid now");
		check(gq_certs_needs_rotation(nb, na, na), "due at notAfter");
		check(gq_certs_needs_rotation(nb, na, nb - 1), "due before notBefore");
	}
	rc = gq_certs_check_pair(cert, key, ca, FUZZ_SVC_NAME, &err);
	check_rc(rc, &err, "check_pair (name) code");
	rc = gq_certs_check_pair(cert, key, ca, "127.0.0.1", &err);
	check_rc(rc, &err, "check_pair (IP) code");
	if (rc_nb == GQ_OK)
		check(gq_certs_needs_rotation(nb, nb, nb), "empty window is due");
}

static void fuzz_secret(const char *text)
{
	struct gq_tls_material m;
	struct gq_err err = {0};
	char ebuf[64], *ca_key;
	yajl_val sec;

	sec = yajl_tree_parse(text, ebuf, sizeof(ebuf));
	if (sec == NULL)
		return;
	gq_tls_from_secret(sec, &m, &ca_key);
	if (gq_tls_usable(&m, FUZZ_SVC_NAME, wall_ms()))
		check(gq_certs_check_pair(m.cert_pem, m.key_pem, m.ca_pem, FUZZ_SVC_NAME, &err) ==
			  GQ_OK,
		      "usable pair passes check_pair");
	if (m.cert_pem != NULL && m.key_pem != NULL && m.ca_pem != NULL)
		check_triple(m.cert_pem, m.key_pem, m.ca_pem);
	if (ca_key != NULL && m.ca_pem != NULL)
		check_rc(gq_certs_check_pair(m.ca_pem, ca_key, m.ca_pem, NULL, &err), &err,
			 "CA pair code");
	gq_tls_material_free(&m);
	free(ca_key);
	yajl_tree_free(sec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *part[3] = {"", "", ""};
	char *s, *p, *end;
	size_t n = 0;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	s = gq_malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	if (size > 0 && s[0] == '{') {
		fuzz_secret(s);
		free(s);
		return 0;
	}
	for (p = s, end = s + size; n < 3 && p <= end; p += strlen(p) + 1)
		part[n++] = p;
	check_triple(part[0], part[1], part[2]);
	free(s);
	return 0;
}
