/* Unit tests for certs.c: CA and serving certificate generation, SANs,
 * validity arithmetic, pair checks and the rotation rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs.h"
#include "gq.h"
#include "tls.h"

#define DAY_MS ((int64_t)86400000)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static X509 *parse_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

	BIO_free(b);
	assert_non_null(x);
	return x;
}

/* A CA and a serving pair for svc "gq-webhook" in "gq-system" plus 127.0.0.1. */
struct pki {
	char *ca_cert, *ca_key, *cert, *key;
};

static void make_pki(struct pki *p, int ca_days, int days)
{
	char *names[GQ_CERTS_SVC_NAMES];
	const char *ips[] = {"127.0.0.1", "::1"};
	struct gq_err err = {0};

	memset(p, 0, sizeof(*p));
	assert_int_equal(
	    gq_certs_generate_ca(&p->ca_cert, &p->ca_key, "gpuquota-ca", ca_days, &err), GQ_OK);
	assert_int_equal(gq_certs_service_dns_names(names, "gq-webhook", "gq-system", &err), GQ_OK);
	assert_int_equal(gq_certs_generate_serving(&p->cert, &p->key, p->ca_cert, p->ca_key,
						   (const char *const *)names, GQ_CERTS_SVC_NAMES,
						   ips, 2, days, &err),
			 GQ_OK);
	gq_certs_free_names(names, GQ_CERTS_SVC_NAMES);
}

static void free_pki(struct pki *p)
{
	free(p->ca_cert);
	free(p->ca_key);
	free(p->cert);
	free(p->key);
}

static void test_generate_ca(void **state)
{
	char *cert = NULL, *key = NULL;
	struct gq_err err = {0};
	BASIC_CONSTRAINTS *bc;
	int crit = -1;
	X509 *x;
	EVP_PKEY *pub;
	int64_t na, nb, t0 = now_ms();

	(void)state;
	assert_int_equal(gq_certs_generate_ca(&cert, &key, "gpuquota-ca", 3650, &err), GQ_OK);
	assert_non_null(strstr(cert, "-----BEGIN CERTIFICATE-----"));
	assert_non_null(strstr(key, "-----BEGIN PRIVATE KEY-----"));
	x = parse_cert(cert);
	/* self-signed, SHA-256, EC P-256 */
	pub = X509_get0_pubkey(x);
	assert_int_equal(X509_verify(x, pub), 1);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_bits(pub), 256);
	/* CA:TRUE, critical; keyCertSign|cRLSign */
	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_int_equal(X509_check_ca(x), 1);
	/* subject CN */
	{
		char cn[128];
		assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
						      sizeof(cn)) > 0);
		assert_string_equal(cn, "gpuquota-ca");
	}
	/* validity: backdated by GQ_CERTS_BACKDATE_S, ends after 3650 days */
	assert_int_equal(gq_certs_not_before(cert, &nb, &err), GQ_OK);
	assert_int_equal(gq_certs_not_after(cert, &na, &err), GQ_OK);
	assert_int_equal(na - nb, 3650 * DAY_MS + GQ_CERTS_BACKDATE_S * 1000);
	assert_true(nb >= t0 - GQ_CERTS_BACKDATE_S * 1000 - 2000);
	assert_true(nb <= now_ms() - GQ_CERTS_BACKDATE_S * 1000 + 1000);
	X509_free(x);
	free(cert);
	free(key);
}

static void test_ca_bad_args(void **state)
{
	char *cert = NULL, *key = NULL;
	struct gq_err err = {0};
	char long_cn[80];

	(void)state;
	memset(long_cn, 'a', sizeof(long_cn) - 1);
	long_cn[sizeof(long_cn) - 1] = '\0';
	assert_int_equal(gq_certs_generate_ca(&cert, &key, "x", 0, &err), GQ_EINVAL);
	assert_int_equal(gq_certs_generate_ca(&cert, &key, "x", GQ_CERTS_DAYS_MAX + 1, &err),
			 GQ_EINVAL);
	assert_int_equal(gq_certs_generate_ca(&cert, &key, "", 10, &err), GQ_EINVAL);
	assert_int_equal(gq_certs_generate_ca(&cert, &key, NULL, 10, &err), GQ_EINVAL);
	assert_int_equal(gq_certs_generate_ca(&cert, &key, long_cn, 10, &err), GQ_EINVAL);
	assert_null(cert);
	assert_null(key);
}

/* Collects the SANs of x as "DNS:name" / "IP:addr" strings joined by ','. */
static void san_string(X509 *x, char *out, size_t n, int *critical)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, critical, NULL);
	size_t used = 0;

	assert_non_null(gens);
	out[0] = '\0';
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		int w;

		if (g->type == GEN_DNS) {
			w = snprintf(out + used, n - used, "%sDNS:%s", used ? "," : "",
				     (const char *)ASN1_STRING_get0_data(g->d.dNSName));
		} else {
			char ip[INET6_ADDRSTRLEN];
			int len = ASN1_STRING_length(g->d.iPAddress);

			assert_int_equal(g->type, GEN_IPADD);
			assert_true(len == 4 || len == 16);
			assert_non_null(inet_ntop(len == 4 ? AF_INET : AF_INET6,
						  ASN1_STRING_get0_data(g->d.iPAddress), ip,
						  sizeof(ip)));
			w = snprintf(out + used, n - used, "%sIP:%s", used ? "," : "", ip);
		}
		assert_true(w > 0 && (size_t)w < n - used);
		used += (size_t)w;
	}
	GENERAL_NAMES_free(gens);
}

static void test_generate_serving(void **state)
{
	struct pki p;
	struct gq_err err = {0};
	char sans[1024];
	int crit = -1;
	X509 *x, *ca;
	BASIC_CONSTRAINTS *bc;

	(void)state;
	make_pki(&p, 3650, 365);
	x = parse_cert(p.cert);
	ca = parse_cert(p.ca_cert);
	san_string(x, sans, sizeof(sans), &crit);
	assert_string_equal(sans, "DNS:gq-webhook,DNS:gq-webhook.gq-system,"
				  "DNS:gq-webhook.gq-system.svc,"
				  "DNS:gq-webhook.gq-system.svc.cluster.local,IP:127.0.0.1,IP:::1");
	assert_int_equal(crit, 0); /* subject has a CN, so SAN need not be critical */
	/* serverAuth, not a CA, signed by the CA with SHA-256 */
	assert_true(X509_get_extension_flags(x) & EXFLAG_XKUSAGE);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_false(bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(ca)), 1);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)), 0);
	assert_int_equal(X509_check_issued(ca, x), X509_V_OK);
	/* the pair checks out for each name the apiserver or a probe may use */
	assert_int_equal(
	    gq_certs_check_pair(p.cert, p.key, p.ca_cert, "gq-webhook.gq-system.svc", &err), GQ_OK);
	assert_int_equal(gq_certs_check_pair(p.cert, p.key, p.ca_cert,
					     "gq-webhook.gq-system.svc.cluster.local", &err),
			 GQ_OK);
	assert_int_equal(gq_certs_check_pair(p.cert, p.key, p.ca_cert, "127.0.0.1", &err), GQ_OK);
	assert_int_equal(gq_certs_check_pair(p.cert, p.key, p.ca_cert, "::1", &err), GQ_OK);
	assert_int_equal(gq_certs_check_pair(p.cert, p.key, p.ca_cert, NULL, &err), GQ_OK);
	X509_free(x);
	X509_free(ca);
	free_pki(&p);
}

static void test_random_serials(void **state)
{
	struct pki a, b;
	X509 *xa, *xb;

	(void)state;
	make_pki(&a, 30, 10);
	make_pki(&b, 30, 10);
	xa = parse_cert(a.cert);
	xb = parse_cert(b.cert);
	assert_int_not_equal(
	    ASN1_INTEGER_cmp(X509_get0_serialNumber(xa), X509_get0_serialNumber(xb)), 0);
	/* positive and not tiny */
	assert_true(ASN1_STRING_length(X509_get0_serialNumber(xa)) >= 16);
	assert_int_equal(ASN1_STRING_type(X509_get0_serialNumber(xa)), V_ASN1_INTEGER);
	X509_free(xa);
	X509_free(xb);
	free_pki(&a);
	free_pki(&b);
}

static void test_expiry_math(void **state)
{
	struct pki p;
	struct gq_err err = {0};
	int64_t nb, na, ca_na;

	(void)state;
	make_pki(&p, 3650, 90);
	assert_int_equal(gq_certs_not_before(p.cert, &nb, &err), GQ_OK);
	assert_int_equal(gq_certs_not_after(p.cert, &na, &err), GQ_OK);
	assert_int_equal(na - nb, 90 * DAY_MS + GQ_CERTS_BACKDATE_S * 1000);
	assert_true(na > now_ms() + 90 * DAY_MS - 5000);
	assert_true(na <= now_ms() + 90 * DAY_MS);
	/* whole seconds (X.509 time resolution) */
	assert_int_equal(na % 1000, 0);
	assert_false(gq_certs_needs_rotation(nb, na, now_ms()));
	/* renewal becomes due 2/3 into the lifetime */
	assert_false(gq_certs_needs_rotation(nb, na, nb + (na - nb) * 2 / 3 - 1000));
	assert_true(gq_certs_needs_rotation(nb, na, nb + (na - nb) * 2 / 3 + 1000));
	free_pki(&p);

	/* a serving certificate never outlives its CA */
	make_pki(&p, 10, 365);
	assert_int_equal(gq_certs_not_after(p.ca_cert, &ca_na, &err), GQ_OK);
	assert_int_equal(gq_certs_not_after(p.cert, &na, &err), GQ_OK);
	assert_int_equal(na, ca_na);
	free_pki(&p);
}

static void test_needs_rotation_table(void **state)
{
	static const struct {
		int64_t nb, na, now;
		bool want;
	} cases[] = {
	    {0, 300, 0, false},	     /* brand new */
	    {0, 300, 150, false},    /* half left */
	    {0, 300, 199, false},    /* 101 left > 100 */
	    {0, 300, 200, false},    /* exactly a third left: not less */
	    {0, 300, 201, true},     /* 99 left */
	    {0, 300, 299, true},     /* about to expire */
	    {0, 300, 300, true},     /* expired at notAfter */
	    {0, 300, 1000, true},    /* long expired */
	    {100, 400, 50, true},    /* not valid yet */
	    {100, 100, 100, true},   /* empty window */
	    {400, 100, 200, true},   /* inverted window */
	    {0, 100, 66, false},     /* 34 left, 34*3 = 102 >= 100 */
	    {0, 100, 67, true},	     /* 33 left, 33*3 = 99 < 100 */
	    {0, 100, 68, true},	     /* 32 left */
	    {0, 4, 2, false},	     /* 2 left of 4 */
	    {0, 4, 3, true},	     /* 1 left of 4: 3 < 4 */
	    {-1000, 2000, 0, false}, /* before the epoch */
	    {0, INT64_MAX, INT64_MAX / 2, false},
	    {0, INT64_MAX, INT64_MAX - INT64_MAX / 3, true},
	    {INT64_MIN, INT64_MAX, 0, false},
	    {INT64_MIN, INT64_MAX, INT64_MAX / 3 + 1, true},
	    {1700000000000, 1700000000000 + 90 * DAY_MS, 1700000000000 + 59 * DAY_MS, false},
	    {1700000000000, 1700000000000 + 90 * DAY_MS, 1700000000000 + 61 * DAY_MS, true},
	};

	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(cases); i++) {
		bool got = gq_certs_needs_rotation(cases[i].nb, cases[i].na, cases[i].now);
		if (got != cases[i].want)
			fail_msg("case %zu: nb=%lld na=%lld now=%lld: got %d want %d", i,
				 (long long)cases[i].nb, (long long)cases[i].na,
				 (long long)cases[i].now, got, cases[i].want);
	}
}

static void test_check_pair_failures(void **state)
{
	struct pki a, b;
	struct gq_err err = {0};

	(void)state;
	make_pki(&a, 30, 10);
	make_pki(&b, 30, 10);
	/* key of another certificate */
	assert_int_equal(gq_certs_check_pair(a.cert, b.key, a.ca_cert, NULL, &err), GQ_EINVAL);
	assert_non_null(strstr(err.msg, "key does not match"));
	/* signed by another CA (same subject name, different key) */
	assert_int_equal(gq_certs_check_pair(a.cert, a.key, b.ca_cert, NULL, &err), GQ_EINVAL);
	assert_non_null(strstr(err.msg, "does not verify"));
	/* both CAs trusted: fine */
	{
		char *both = gq_asprintf("%s%s", b.ca_cert, a.ca_cert);
		assert_int_equal(gq_certs_check_pair(a.cert, a.key, both, NULL, &err), GQ_OK);
		free(both);
	}
	/* name not among the SANs; partial and wrong-level names */
	assert_int_equal(gq_certs_check_pair(a.cert, a.key, a.ca_cert, "other.gq-system.svc", &err),
			 GQ_EINVAL);
	assert_non_null(strstr(err.msg, "subjectAltNames"));
	assert_int_equal(
	    gq_certs_check_pair(a.cert, a.key, a.ca_cert, "gq-webhook.gq-system.sv", &err),
	    GQ_EINVAL);
	assert_int_equal(gq_certs_check_pair(a.cert, a.key, a.ca_cert, "10.0.0.1", &err),
			 GQ_EINVAL);
	/* the CA itself is no serving certificate (keyUsage lacks digitalSignature) */
	assert_int_equal(gq_certs_check_pair(a.ca_cert, a.ca_key, a.ca_cert, NULL, &err),
			 GQ_EINVAL);
	/* garbage */
	assert_int_equal(gq_certs_check_pair("not a pem", a.key, a.ca_cert, NULL, &err), GQ_EPARSE);
	assert_int_equal(gq_certs_check_pair(a.cert, "nope", a.ca_cert, NULL, &err), GQ_EPARSE);
	assert_int_equal(gq_certs_check_pair(a.cert, a.key, "", NULL, &err), GQ_EPARSE);
	assert_int_equal(gq_certs_check_pair(NULL, a.key, a.ca_cert, NULL, &err), GQ_EINVAL);
	assert_int_equal(ERR_peek_error(), 0);
	free_pki(&a);
	free_pki(&b);
}

/* A certificate whose only name is its CN fails the SAN check, as with Go
 * clients since 1.15 (Kubernetes 1.19). */
static void test_cn_only_rejected(void **state)
{
	struct pki p;
	struct gq_err err = {0};
	EVP_PKEY *ca_key, *key = EVP_EC_gen("P-256");
	X509 *ca, *x = X509_new();
	BIO *b;
	char *cert_pem, *key_pem, *data;
	long n;

	(void)state;
	make_pki(&p, 30, 10);
	ca = parse_cert(p.ca_cert);
	b = BIO_new_mem_buf(p.ca_key, -1);
	ca_key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(ca_key);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
				   (const unsigned char *)"gq-webhook.gq-system.svc", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	X509_set_pubkey(x, key);
	assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &data);
	cert_pem = strndup(data, (size_t)n);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &data);
	key_pem = strndup(data, (size_t)n);
	BIO_free(b);

	assert_int_equal(gq_certs_check_pair(cert_pem, key_pem, p.ca_cert, NULL, &err), GQ_OK);
	assert_int_equal(
	    gq_certs_check_pair(cert_pem, key_pem, p.ca_cert, "gq-webhook.gq-system.svc", &err),
	    GQ_EINVAL);
	free(cert_pem);
	free(key_pem);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	free_pki(&p);
}

/* An encrypted key is refused without prompting for a passphrase. */
static void test_encrypted_key(void **state)
{
	struct pki p;
	struct gq_err err = {0};
	EVP_PKEY *key;
	BIO *b;
	char *enc, *data;
	long n;

	(void)state;
	make_pki(&p, 30, 10);
	b = BIO_new_mem_buf(p.key, -1);
	key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(b, key, EVP_aes_256_cbc(),
						  (const unsigned char *)"secret", 6, NULL, NULL),
			 1);
	n = BIO_get_mem_data(b, &data);
	enc = strndup(data, (size_t)n);
	BIO_free(b);
	assert_int_equal(gq_certs_check_pair(p.cert, enc, p.ca_cert, NULL, &err), GQ_EPARSE);
	free(enc);
	EVP_PKEY_free(key);
	free_pki(&p);
}

static void test_serving_bad_args(void **state)
{
	struct pki p, q;
	struct gq_err err = {0};
	char *cert = NULL, *key = NULL;
	const char *good[] = {"a.example"};
	const char *bad_dns[][1] = {{"a..b"}, {""},   {"a b"}, {"a/b"},
				    {".a"},   {"a."}, {"*"},   {"a.*.b"}};
	const char *bad_ip[][1] = {{"300.1.1.1"}, {"1.2.3"}, {"localhost"}, {""}};
	char label64[80];

	(void)state;
	make_pki(&p, 30, 10);
	make_pki(&q, 30, 10);
	for (size_t i = 0; i < GQ_ARRAY_LEN(bad_dns); i++) {
		int rc = gq_certs_generate_serving(&cert, &key, p.ca_cert, p.ca_key, bad_dns[i], 1,
						   NULL, 0, 10, &err);
		if (rc != GQ_EINVAL)
			fail_msg("\"%s\": rc %d: %s", bad_dns[i][0], rc, err.msg);
	}
	for (size_t i = 0; i < GQ_ARRAY_LEN(bad_ip); i++)
		assert_int_equal(gq_certs_generate_serving(&cert, &key, p.ca_cert, p.ca_key, good,
							   1, bad_ip[i], 1, 10, &err),
				 GQ_EINVAL);
	memset(label64, 'a', 64);
	label64[64] = '\0';
	{
		const char *n64[] = {label64};
		assert_int_equal(gq_certs_generate_serving(&cert, &key, p.ca_cert, p.ca_key, n64, 1,
							   NULL, 0, 10, &err),
				 GQ_EINVAL);
	}
	/* no names at all */
	assert_int_equal(
	    gq_certs_generate_serving(&cert, &key, p.ca_cert, p.ca_key, NULL, 0, NULL, 0, 10, &err),
	    GQ_EINVAL);
	/* lifetime */
	assert_int_equal(
	    gq_certs_generate_serving(&cert, &key, p.ca_cert, p.ca_key, good, 1, NULL, 0, 0, &err),
	    GQ_EINVAL);
	/* CA key of another CA */
	assert_int_equal(
	    gq_certs_generate_serving(&cert, &key, p.ca_cert, q.ca_key, good, 1, NULL, 0, 10, &err),
	    GQ_EINVAL);
	/* a leaf is not a CA */
	assert_int_equal(
	    gq_certs_generate_serving(&cert, &key, p.cert, p.key, good, 1, NULL, 0, 10, &err),
	    GQ_EINVAL);
	/* garbage CA */
	assert_int_equal(
	    gq_certs_generate_serving(&cert, &key, "junk", p.ca_key, good, 1, NULL, 0, 10, &err),
	    GQ_EPARSE);
	assert_null(cert);
	assert_null(key);
	assert_int_equal(ERR_peek_error(), 0);
	free_pki(&p);
	free_pki(&q);
}

/* IP-only certificates and a wildcard; a long first name leaves the CN
 * empty and makes the SAN critical. */
static void test_serving_name_shapes(void **state)
{
	struct pki p;
	struct gq_err err = {0};
	char *cert = NULL, *key = NULL, sans[512];
	const char *ips[] = {"10.96.0.10"};
	const char *wild[] = {"*.gq-system.svc"};
	char long_name[100];
	int crit = -1;
	X509 *x;

	(void)state;
	make_pki(&p, 30, 10);
	assert_int_equal(
	    gq_certs_generate_serving(&cert, &key, p.ca_cert, p.ca_key, NULL, 0, ips, 1, 10, &err),
	    GQ_OK);
	assert_int_equal(gq_certs_check_pair(cert, key, p.ca_cert, "10.96.0.10", &err), GQ_OK);
	assert_int_equal(gq_certs_check_pair(cert, key, p.ca_cert, "10.96.0.11", &err), GQ_EINVAL);
	free(cert);
	free(key);

	assert_int_equal(
	    gq_certs_generate_serving(&cert, &key, p.ca_cert, p.ca_key, wild, 1, NULL, 0, 10, &err),
	    GQ_OK);
	assert_int_equal(gq_certs_check_pair(cert, key, p.ca_cert, "x.gq-system.svc", &err), GQ_OK);
	assert_int_equal(gq_certs_check_pair(cert, key, p.ca_cert, "a.x.gq-system.svc", &err),
			 GQ_EINVAL);
	free(cert);
	free(key);

	snprintf(long_name, sizeof(long_name), "%s.%s", "abcdefghijklmnopqrstuvwxyzabcdefghijkl",
		 "abcdefghijklmnopqrstuvwxyzabcdefghijkl.svc");
	{
		const char *names[] = {long_name};
		assert_int_equal(gq_certs_generate_serving(&cert, &key, p.ca_cert, p.ca_key, names,
							   1, NULL, 0, 10, &err),
				 GQ_OK);
	}
	x = parse_cert(cert);
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 0);
	san_string(x, sans, sizeof(sans), &crit);
	assert_int_equal(crit, 1);
	assert_int_equal(gq_certs_check_pair(cert, key, p.ca_cert, long_name, &err), GQ_OK);
	X509_free(x);
	free(cert);
	free(key);
	free_pki(&p);
}

static void test_service_names(void **state)
{
	char *names[GQ_CERTS_SVC_NAMES] = {NULL};
	struct gq_err err = {0};
	char l63[64], l64[65];

	(void)state;
	assert_int_equal(gq_certs_service_dns_names(names, "hook", "ns1", &err), GQ_OK);
	assert_string_equal(names[0], "hook");
	assert_string_equal(names[1], "hook.ns1");
	assert_string_equal(names[2], "hook.ns1.svc");
	assert_string_equal(names[3], "hook.ns1.svc.cluster.local");
	gq_certs_free_names(names, GQ_CERTS_SVC_NAMES);
	assert_null(names[0]);

	memset(l63, 'a', 63);
	l63[63] = '\0';
	memset(l64, 'a', 64);
	l64[64] = '\0';
	assert_int_equal(gq_certs_service_dns_names(names, l63, l63, &err), GQ_OK);
	gq_certs_free_names(names, GQ_CERTS_SVC_NAMES);
	assert_int_equal(gq_certs_service_dns_names(names, l64, "ns", &err), GQ_EINVAL);
	assert_int_equal(gq_certs_service_dns_names(names, "Hook", "ns", &err), GQ_EINVAL);
	assert_int_equal(gq_certs_service_dns_names(names, "hook", "-ns", &err), GQ_EINVAL);
	assert_int_equal(gq_certs_service_dns_names(names, "hook-", "ns", &err), GQ_EINVAL);
	assert_int_equal(gq_certs_service_dns_names(names, "a.b", "ns", &err), GQ_EINVAL);
	assert_int_equal(gq_certs_service_dns_names(names, "", "ns", &err), GQ_EINVAL);
	assert_int_equal(gq_certs_service_dns_names(names, "hook", NULL, &err), GQ_EINVAL);
	assert_null(names[0]);
}

static void test_validity_parse_errors(void **state)
{
	struct gq_err err = {0};
	int64_t t = 7;

	(void)state;
	assert_int_equal(gq_certs_not_after("garbage", &t, &err), GQ_EPARSE);
	assert_int_equal(gq_certs_not_before("", &t, &err), GQ_EPARSE);
	assert_int_equal(gq_certs_not_after(NULL, &t, &err), GQ_EINVAL);
	assert_int_equal(t, 7);
	assert_int_equal(ERR_peek_error(), 0);
}

/* base64 of s (new heap string). */
static char *b64(const char *s)
{
	char *out = malloc(4 * ((strlen(s) + 2) / 3) + 1);

	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)strlen(s));
	return out;
}

/* The webhook Secret as gq_tls_ensure reads it back. */
static void test_tls_from_secret(void **state)
{
	struct gq_tls_material m;
	struct pki p;
	char *c, *k, *ca, *cak, *json, ebuf[64], *ca_key;
	int64_t now = (int64_t)time(NULL) * 1000;
	yajl_val sec;

	(void)state;
	make_pki(&p, 3650, 90);
	c = b64(p.cert);
	k = b64(p.key);
	ca = b64(p.ca_cert);
	cak = b64(p.ca_key);
	json = gq_asprintf("{\"data\":{\"tls.crt\":\"%s\",\"tls.key\":\"%s\",\"ca.crt\":"
			   "\"%s\",\"ca.key\":\"%s\"}}",
			   c, k, ca, cak);
	sec = yajl_tree_parse(json, ebuf, sizeof(ebuf));
	assert_non_null(sec);
	gq_tls_from_secret(sec, &m, &ca_key);
	assert_string_equal(m.cert_pem, p.cert);
	assert_string_equal(m.key_pem, p.key);
	assert_string_equal(m.ca_pem, p.ca_cert);
	assert_string_equal(ca_key, p.ca_key);
	assert_true(gq_tls_usable(&m, "gq-webhook.gq-system.svc", now));
	assert_false(gq_tls_usable(&m, "other.gq-system.svc", now));
	/* 90 days: due once less than 30 are left */
	assert_true(gq_tls_usable(&m, "gq-webhook.gq-system.svc", now + 59 * 86400000LL));
	assert_false(gq_tls_usable(&m, "gq-webhook.gq-system.svc", now + 61 * 86400000LL));
	gq_tls_material_free(&m);
	free(ca_key);
	yajl_tree_free(sec);
	free(json);

	json = gq_asprintf("{\"data\":{\"tls.crt\":\"%s\",\"tls.key\":\"a\",\"ca.crt\":7}}", c);
	sec = yajl_tree_parse(json, ebuf, sizeof(ebuf));
	gq_tls_from_secret(sec, &m, &ca_key);
	assert_non_null(m.cert_pem);
	assert_null(m.key_pem); /* not base64 */
	assert_null(m.ca_pem);	/* not a string */
	assert_null(ca_key);
	assert_false(gq_tls_usable(&m, "gq-webhook.gq-system.svc", now));
	gq_tls_material_free(&m);
	yajl_tree_free(sec);
	free(json);
	free(c);
	free(k);
	free(ca);
	free(cak);
	free_pki(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_generate_ca),
	    cmocka_unit_test(test_ca_bad_args),
	    cmocka_unit_test(test_generate_serving),
	    cmocka_unit_test(test_random_serials),
	    cmocka_unit_test(test_expiry_math),
	    cmocka_unit_test(test_needs_rotation_table),
	    cmocka_unit_test(test_check_pair_failures),
	    cmocka_unit_test(test_cn_only_rejected),
	    cmocka_unit_test(test_encrypted_key),
	    cmocka_unit_test(test_serving_bad_args),
	    cmocka_unit_test(test_serving_name_shapes),
	    cmocka_unit_test(test_service_names),
	    cmocka_unit_test(test_validity_parse_errors),
	    cmocka_unit_test(test_tls_from_secret),
	};
	return cmocka_run_group_tests_name("certs", tests, NULL, NULL);
}
