/*
 * certs.c - X.509 generation and checks for the webhook (see certs.h).
 *
 * Extensions with fixed values go through X509V3_EXT_conf_nid(); the
 * subjectAltName, whose values come from callers, is built as GENERAL_NAMES
 * so that no caller text is ever parsed as OpenSSL configuration syntax.
 * Each function drains the thread's OpenSSL error queue before returning.
 */
#include "certs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Longest CN (X.509 upper bound ub-common-name). */
#define CERTS_CN_MAX 64
/* Longest IP address text accepted (INET6_ADDRSTRLEN - 1). */
#define CERTS_IP_TEXT_MAX 45
/* Bits of the random serial numbers (positive, at most 20 octets in DER). */
#define CERTS_SERIAL_BITS 128
/* Most certificates read from one PEM text. */
#define CERTS_CHAIN_MAX 16

/* ------------------------------------------------------------ helpers */

int gq_certs_ssl_fail(struct gq_err *err, int rc, const char *what)
{
	unsigned long e = ERR_peek_error();
	char buf[256];

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "no detail");
	ERR_clear_error();
	return gq_err_set(err, rc, "%s: %s", what, buf);
}

/* Passphrase callback that refuses: an encrypted key fails instead of
 * prompting on a terminal. */
static int certs_no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

/* Read-only memory BIO over a PEM text bounded by GQ_CERTS_PEM_MAX; NULL
 * (GQ_EINVAL/GQ_EIO in *rc and err) on a missing or oversized text.
 * The BIO is owned by the caller. */
static BIO *certs_pem_bio(const char *pem, const char *what, int *rc, struct gq_err *err)
{
	size_t len;
	BIO *b;

	if (pem == NULL) {
		*rc = gq_err_set(err, GQ_EINVAL, "%s: missing PEM", what);
		return NULL;
	}
	len = strnlen(pem, GQ_CERTS_PEM_MAX + 1);
	if (len > GQ_CERTS_PEM_MAX) {
		*rc = gq_err_set(err, GQ_EINVAL, "%s: PEM longer than %zu bytes", what,
				 GQ_CERTS_PEM_MAX);
		return NULL;
	}
	b = BIO_new_mem_buf(pem, (int)len);
	if (b == NULL)
		*rc = gq_certs_ssl_fail(err, GQ_EIO, what);
	return b;
}

/* Parses the first certificate of pem. *out is owned by the caller
 * (X509_free). GQ_OK, GQ_EINVAL or GQ_EPARSE. */
static int certs_read_cert(const char *pem, const char *what, X509 **out, struct gq_err *err)
{
	int rc = GQ_OK;
	BIO *b = certs_pem_bio(pem, what, &rc, err);

	*out = NULL;
	if (b == NULL)
		return rc;
	*out = PEM_read_bio_X509(b, NULL, certs_no_password, NULL);
	BIO_free(b);
	if (*out == NULL)
		return gq_certs_ssl_fail(err, GQ_EPARSE, what);
	return GQ_OK;
}

/* Parses the private key in pem (PKCS#8 or traditional, unencrypted).
 * *out is owned by the caller (EVP_PKEY_free). GQ_OK, GQ_EINVAL or
 * GQ_EPARSE. */
static int certs_read_key(const char *pem, const char *what, EVP_PKEY **out, struct gq_err *err)
{
	int rc = GQ_OK;
	BIO *b = certs_pem_bio(pem, what, &rc, err);

	*out = NULL;
	if (b == NULL)
		return rc;
	*out = PEM_read_bio_PrivateKey(b, NULL, certs_no_password, NULL);
	BIO_free(b);
	if (*out == NULL)
		return gq_certs_ssl_fail(err, GQ_EPARSE, what);
	return GQ_OK;
}

/*
 * Parses every certificate of pem (at most CERTS_CHAIN_MAX, at least one)
 * into a new stack owned by the caller (OSSL_STACK_OF_X509_free-style:
 * sk_X509_pop_free(s, X509_free)). GQ_OK, GQ_EINVAL or GQ_EPARSE.
 */
static int certs_read_chain(const char *pem, const char *what, STACK_OF(X509) * *out,
			    struct gq_err *err)
{
	int rc = GQ_OK;
	BIO *b = certs_pem_bio(pem, what, &rc, err);
	STACK_OF(X509) *sk = NULL;
	X509 *x;

	*out = NULL;
	if (b == NULL)
		return rc;
	sk = sk_X509_new_null();
	if (sk == NULL) {
		rc = gq_certs_ssl_fail(err, GQ_EIO, what);
		goto out;
	}
	while (sk_X509_num(sk) < CERTS_CHAIN_MAX &&
	       (x = PEM_read_bio_X509(b, NULL, certs_no_password, NULL)) != NULL) {
		if (sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			rc = gq_certs_ssl_fail(err, GQ_EIO, what);
			goto out;
		}
	}
	if (sk_X509_num(sk) == 0) {
		rc = gq_certs_ssl_fail(err, GQ_EPARSE, what);
		goto out;
	}
	/* The loop ends on "no start line": not an error. */
	ERR_clear_error();
	*out = sk;
	sk = NULL;
out:
	sk_X509_pop_free(sk, X509_free);
	BIO_free(b);
	return rc;
}

/* Copies a memory BIO's contents into a new NUL-terminated heap string
 * (caller frees). */
static char *certs_bio_string(BIO *b)
{
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);

	return gq_strndup(data != NULL ? data : "", n > 0 ? (size_t)n : 0);
}

/* Writes x and key as PEM into new heap strings owned by the caller. */
static int certs_to_pem(X509 *x, EVP_PKEY *key, char **cert_pem, char **key_pem, struct gq_err *err)
{
	BIO *bc = BIO_new(BIO_s_mem());
	BIO *bk = BIO_new(BIO_s_mem());
	int rc = GQ_OK;

	if (bc == NULL || bk == NULL || PEM_write_bio_X509(bc, x) != 1 ||
	    PEM_write_bio_PrivateKey(bk, key, NULL, NULL, 0, NULL, NULL) != 1) {
		rc = gq_certs_ssl_fail(err, GQ_EIO, "writing PEM");
		goto out;
	}
	*cert_pem = certs_bio_string(bc);
	*key_pem = certs_bio_string(bk);
out:
	BIO_free(bc);
	BIO_free(bk);
	return rc;
}

/* New EC P-256 key owned by the caller, or NULL (OpenSSL error queued). */
static EVP_PKEY *certs_new_key(void)
{
	return EVP_EC_gen("P-256");
}

/* Gives x a positive random serial number of CERTS_SERIAL_BITS bits. */
static int certs_set_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	int ok = bn != NULL &&
		 BN_rand(bn, CERTS_SERIAL_BITS, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
		 BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;

	BN_free(bn);
	return ok ? 0 : -1;
}

/*
 * Sets x's validity from now - GQ_CERTS_BACKDATE_S to now + days, capped
 * at cap_not_after when that is not NULL and is sooner.
 */
static int certs_set_validity(X509 *x, int days, const ASN1_TIME *cap_not_after)
{
	if (X509_gmtime_adj(X509_getm_notBefore(x), -(long)GQ_CERTS_BACKDATE_S) == NULL)
		return -1;
	if (X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL)
		return -1;
	if (cap_not_after != NULL && ASN1_TIME_compare(cap_not_after, X509_get0_notAfter(x)) < 0 &&
	    X509_set1_notAfter(x, cap_not_after) != 1)
		return -1;
	return 0;
}

/* Adds the extension nid = value (OpenSSL v3 config syntax; value is a
 * constant of this file) to x, with issuer as the issuing certificate. */
static int certs_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/* Sets the subject of x to CN=cn, or to an empty name when cn is NULL. */
static int certs_set_subject_cn(X509 *x, const char *cn)
{
	X509_NAME *name = X509_get_subject_name(x);

	if (cn == NULL)
		return 0;
	return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					  -1, 0) == 1
		   ? 0
		   : -1;
}

/* True when c may appear in a DNS label. */
static int certs_dns_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

/*
 * True when name is a DNS name we put in a certificate: 1..253 characters,
 * dot-separated labels of 1..63 letters, digits and hyphens, where only the
 * first label may instead be a lone "*" (wildcard).
 */
static int certs_valid_dns_name(const char *name)
{
	size_t len = strnlen(name, GQ_CERTS_DNS_NAME_MAX + 1);
	size_t label = 0;

	if (len == 0 || len > GQ_CERTS_DNS_NAME_MAX)
		return 0;
	if (name[0] == '*') {
		if (name[1] != '.' || name[2] == '\0')
			return 0;
		name += 2;
	}
	for (const char *p = name;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63)
				return 0;
			if (*p == '\0')
				return 1;
			label = 0;
		} else if (certs_dns_char(*p)) {
			label++;
		} else {
			return 0;
		}
	}
}

/* True when s parses as an IPv4 or IPv6 address. */
static int certs_is_ip(const char *s)
{
	ASN1_OCTET_STRING *ip;

	if (strnlen(s, CERTS_IP_TEXT_MAX + 1) > CERTS_IP_TEXT_MAX)
		return 0;
	ip = a2i_IPADDRESS(s);
	ERR_clear_error();
	ASN1_OCTET_STRING_free(ip);
	return ip != NULL;
}

/* Checks every name of a serving certificate. GQ_OK or GQ_EINVAL (the
 * first bad name in err). */
static int certs_check_names(const char *const *dns_names, size_t n_dns, const char *const *ips,
			     size_t n_ips, struct gq_err *err)
{
	for (size_t i = 0; i < n_dns; i++)
		if (dns_names[i] == NULL || !certs_valid_dns_name(dns_names[i]))
			return gq_err_set(err, GQ_EINVAL, "invalid DNS name \"%.*s\"",
					  GQ_CERTS_DNS_NAME_MAX,
					  dns_names[i] != NULL ? dns_names[i] : "(null)");
	for (size_t i = 0; i < n_ips; i++)
		if (ips[i] == NULL || !certs_is_ip(ips[i]))
			return gq_err_set(err, GQ_EINVAL, "invalid IP address \"%.*s\"",
					  CERTS_IP_TEXT_MAX, ips[i] != NULL ? ips[i] : "(null)");
	return GQ_OK;
}

/*
 * Builds the subjectAltName of a serving certificate from names already
 * checked by certs_check_names() and adds it to x (critical when the
 * subject is empty, as RFC 5280 requires). Returns GQ_OK or GQ_EIO.
 */
static int certs_add_san(X509 *x, const char *const *dns_names, size_t n_dns,
			 const char *const *ips, size_t n_ips, int critical, struct gq_err *err)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g = NULL;
	int rc = GQ_OK;

	if (gens == NULL)
		return gq_certs_ssl_fail(err, GQ_EIO, "subjectAltName");
	for (size_t i = 0; i < n_dns; i++) {
		ASN1_IA5STRING *s;

		g = GENERAL_NAME_new();
		s = ASN1_IA5STRING_new();
		if (g == NULL || s == NULL ||
		    ASN1_STRING_set(s, dns_names[i], (int)strlen(dns_names[i])) != 1) {
			ASN1_IA5STRING_free(s);
			rc = gq_certs_ssl_fail(err, GQ_EIO, "subjectAltName");
			goto out;
		}
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
		if (sk_GENERAL_NAME_push(gens, g) <= 0) {
			rc = gq_certs_ssl_fail(err, GQ_EIO, "subjectAltName");
			goto out;
		}
		g = NULL;
	}
	for (size_t i = 0; i < n_ips; i++) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(ips[i]);

		if (ip == NULL) {
			rc = gq_certs_ssl_fail(err, GQ_EIO, "subjectAltName");
			goto out;
		}
		g = GENERAL_NAME_new();
		if (g == NULL) {
			ASN1_OCTET_STRING_free(ip);
			rc = gq_certs_ssl_fail(err, GQ_EIO, "subjectAltName");
			goto out;
		}
		GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
		if (sk_GENERAL_NAME_push(gens, g) <= 0) {
			rc = gq_certs_ssl_fail(err, GQ_EIO, "subjectAltName");
			goto out;
		}
		g = NULL;
	}
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, critical, X509V3_ADD_DEFAULT) != 1)
		rc = gq_certs_ssl_fail(err, GQ_EIO, "subjectAltName");
out:
	GENERAL_NAME_free(g);
	GENERAL_NAMES_free(gens);
	return rc;
}

/* ------------------------------------------------------------ generation */

int gq_certs_generate_ca(char **cert_pem, char **key_pem, const char *cn, int days,
			 struct gq_err *err)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int rc = GQ_OK;

	if (cn == NULL || cn[0] == '\0' || strnlen(cn, CERTS_CN_MAX + 1) > CERTS_CN_MAX)
		return gq_err_set(err, GQ_EINVAL, "CA common name must have 1 to %d bytes",
				  CERTS_CN_MAX);
	if (days < GQ_CERTS_DAYS_MIN || days > GQ_CERTS_DAYS_MAX)
		return gq_err_set(err, GQ_EINVAL, "certificate lifetime %d days out of range",
				  days);
	key = certs_new_key();
	x = X509_new();
	if (key == NULL || x == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
	    certs_set_serial(x) != 0 || certs_set_validity(x, days, NULL) != 0 ||
	    certs_set_subject_cn(x, cn) != 0 ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    X509_set_pubkey(x, key) != 1 ||
	    certs_add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
	    certs_add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
	    certs_add_ext(x, x, NID_subject_key_identifier, "hash") != 0 ||
	    X509_sign(x, key, EVP_sha256()) <= 0) {
		rc = gq_certs_ssl_fail(err, GQ_EIO, "generating CA certificate");
		goto out;
	}
	rc = certs_to_pem(x, key, cert_pem, key_pem, err);
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

/* Picks the subject CN of a serving certificate: the first DNS name, else
 * the first IP, that fits in a CN; NULL when none does. Borrowed. */
static const char *certs_serving_cn(const char *const *dns_names, size_t n_dns,
				    const char *const *ips, size_t n_ips)
{
	for (size_t i = 0; i < n_dns; i++)
		if (dns_names[i] != NULL && strnlen(dns_names[i], CERTS_CN_MAX + 1) <= CERTS_CN_MAX)
			return dns_names[i];
	for (size_t i = 0; i < n_ips; i++)
		if (ips[i] != NULL && strnlen(ips[i], CERTS_CN_MAX + 1) <= CERTS_CN_MAX)
			return ips[i];
	return NULL;
}

int gq_certs_generate_serving(char **cert_pem, char **key_pem, const char *ca_cert_pem,
			      const char *ca_key_pem, const char *const *dns_names, size_t n_dns,
			      const char *const *ips, size_t n_ips, int days, struct gq_err *err)
{
	X509 *ca = NULL, *x = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	const char *cn;
	int rc;

	if (days < GQ_CERTS_DAYS_MIN || days > GQ_CERTS_DAYS_MAX)
		return gq_err_set(err, GQ_EINVAL, "certificate lifetime %d days out of range",
				  days);
	if (n_dns + n_ips == 0 || n_dns > GQ_CERTS_SAN_MAX || n_ips > GQ_CERTS_SAN_MAX ||
	    n_dns + n_ips > GQ_CERTS_SAN_MAX || (n_dns > 0 && dns_names == NULL) ||
	    (n_ips > 0 && ips == NULL))
		return gq_err_set(err, GQ_EINVAL, "a serving certificate needs 1 to %d names",
				  GQ_CERTS_SAN_MAX);
	rc = certs_check_names(dns_names, n_dns, ips, n_ips, err);
	if (rc != GQ_OK)
		return rc;
	rc = certs_read_cert(ca_cert_pem, "CA certificate", &ca, err);
	if (rc != GQ_OK)
		goto out;
	rc = certs_read_key(ca_key_pem, "CA key", &ca_key, err);
	if (rc != GQ_OK)
		goto out;
	if (X509_check_private_key(ca, ca_key) != 1) {
		ERR_clear_error();
		rc = gq_err_set(err, GQ_EINVAL, "CA key does not match the CA certificate");
		goto out;
	}
	if (X509_check_ca(ca) == 0) {
		rc = gq_err_set(err, GQ_EINVAL, "the CA certificate is not a CA");
		goto out;
	}
	cn = certs_serving_cn(dns_names, n_dns, ips, n_ips);
	key = certs_new_key();
	x = X509_new();
	if (key == NULL || x == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
	    certs_set_serial(x) != 0 || certs_set_validity(x, days, X509_get0_notAfter(ca)) != 0 ||
	    certs_set_subject_cn(x, cn) != 0 ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
	    X509_set_pubkey(x, key) != 1) {
		rc = gq_certs_ssl_fail(err, GQ_EIO, "generating serving certificate");
		goto out;
	}
	rc = certs_add_san(x, dns_names, n_dns, ips, n_ips, cn == NULL, err);
	if (rc != GQ_OK)
		goto out;
	if (certs_add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    certs_add_ext(x, ca, NID_key_usage, "critical,digitalSignature") != 0 ||
	    certs_add_ext(x, ca, NID_ext_key_usage, "serverAuth") != 0 ||
	    certs_add_ext(x, ca, NID_subject_key_identifier, "hash") != 0 ||
	    certs_add_ext(x, ca, NID_authority_key_identifier, "keyid:always") != 0 ||
	    X509_sign(x, ca_key, EVP_sha256()) <= 0) {
		rc = gq_certs_ssl_fail(err, GQ_EIO, "signing serving certificate");
		goto out;
	}
	rc = certs_to_pem(x, key, cert_pem, key_pem, err);
out:
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return rc;
}

/* ------------------------------------------------------------ validity */

/* Converts an ASN1_TIME to milliseconds since the epoch. */
static int certs_time_ms(const ASN1_TIME *t, int64_t *ms)
{
	ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
	int days = 0, secs = 0;
	int ok = epoch != NULL && t != NULL && ASN1_TIME_diff(&days, &secs, epoch, t) == 1;

	ASN1_TIME_free(epoch);
	if (!ok)
		return -1;
	*ms = ((int64_t)days * 86400 + secs) * 1000;
	return 0;
}

/*
 * Reads notBefore (which = 0) or notAfter (which = 1) of cert_pem into *ms.
 * Both times must be readable whichever is asked for: a certificate with
 * one unreadable validity time is broken as a whole, so the two readers
 * always agree on whether it has a validity period.
 */
static int certs_validity_ms(const char *cert_pem, int which, int64_t *ms, struct gq_err *err)
{
	X509 *x = NULL;
	int64_t nb = 0, na = 0;
	int rc = certs_read_cert(cert_pem, "certificate", &x, err);

	if (rc != GQ_OK)
		return rc;
	if (certs_time_ms(X509_get0_notBefore(x), &nb) != 0 ||
	    certs_time_ms(X509_get0_notAfter(x), &na) != 0)
		rc = gq_certs_ssl_fail(err, GQ_EPARSE, "certificate validity");
	else
		*ms = which ? na : nb;
	X509_free(x);
	return rc;
}

int gq_certs_not_after(const char *cert_pem, int64_t *not_after_ms, struct gq_err *err)
{
	return certs_validity_ms(cert_pem, 1, not_after_ms, err);
}

int gq_certs_not_before(const char *cert_pem, int64_t *not_before_ms, struct gq_err *err)
{
	return certs_validity_ms(cert_pem, 0, not_before_ms, err);
}

/*
 * "Less than a third left" is remaining * 3 < lifetime, evaluated without
 * overflow: with lifetime = 3q + r, it holds when remaining < q, or when
 * remaining == q and r > 0.
 */
bool gq_certs_needs_rotation(int64_t not_before_ms, int64_t not_after_ms, int64_t now_ms)
{
	uint64_t lifetime, remaining, q;

	if (not_after_ms <= not_before_ms || now_ms < not_before_ms || now_ms >= not_after_ms)
		return true;
	lifetime = (uint64_t)not_after_ms - (uint64_t)not_before_ms;
	remaining = (uint64_t)not_after_ms - (uint64_t)now_ms;
	q = lifetime / 3;
	return remaining < q || (remaining == q && lifetime % 3 != 0);
}

/* ------------------------------------------------------------ checks */

int gq_certs_check_pair(const char *cert_pem, const char *key_pem, const char *ca_pem,
			const char *dns_name, struct gq_err *err)
{
	STACK_OF(X509) *chain = NULL, *cas = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	X509 *leaf;
	int rc;

	rc = certs_read_chain(cert_pem, "certificate", &chain, err);
	if (rc != GQ_OK)
		goto out;
	rc = certs_read_key(key_pem, "key", &key, err);
	if (rc != GQ_OK)
		goto out;
	rc = certs_read_chain(ca_pem, "CA certificate", &cas, err);
	if (rc != GQ_OK)
		goto out;
	leaf = sk_X509_value(chain, 0);
	if (X509_check_private_key(leaf, key) != 1) {
		ERR_clear_error();
		rc = gq_err_set(err, GQ_EINVAL, "the key does not match the certificate");
		goto out;
	}
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (store == NULL || ctx == NULL) {
		rc = gq_certs_ssl_fail(err, GQ_EIO, "verifying certificate");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(cas); i++) {
		if (X509_STORE_add_cert(store, sk_X509_value(cas, i)) != 1) {
			rc = gq_certs_ssl_fail(err, GQ_EIO, "loading CA certificate");
			goto out;
		}
	}
	if (X509_STORE_CTX_init(ctx, store, leaf, chain) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) != 1) {
		rc = gq_certs_ssl_fail(err, GQ_EIO, "verifying certificate");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		ERR_clear_error();
		rc =
		    gq_err_set(err, GQ_EINVAL, "the certificate does not verify against the CA: %s",
			       X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	if (dns_name != NULL) {
		int ok;

		if (certs_is_ip(dns_name))
			ok = X509_check_ip_asc(leaf, dns_name, 0);
		else
			ok = X509_check_host(leaf, dns_name, strnlen(dns_name, 1024),
					     X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
						 X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
					     NULL);
		if (ok != 1) {
			ERR_clear_error();
			rc = gq_err_set(err, GQ_EINVAL,
					"\"%.*s\" is not among the certificate's subjectAltNames",
					GQ_CERTS_DNS_NAME_MAX, dns_name);
			goto out;
		}
	}
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(cas, X509_free);
	return rc;
}

/* ------------------------------------------------------------ names */

/* True when s is an RFC 1123 label: 1..63 of [a-z0-9-], alphanumeric at
 * both ends (Kubernetes' rule for Service and namespace names). */
static int certs_rfc1123_label(const char *s)
{
	size_t n = strnlen(s, 64);

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

int gq_certs_service_dns_names(char *names[GQ_CERTS_SVC_NAMES], const char *svc, const char *ns,
			       struct gq_err *err)
{
	if (svc == NULL || ns == NULL || !certs_rfc1123_label(svc) || !certs_rfc1123_label(ns))
		return gq_err_set(err, GQ_EINVAL,
				  "service and namespace names must be RFC 1123 labels");
	names[0] = gq_strdup(svc);
	names[1] = gq_asprintf("%s.%s", svc, ns);
	names[2] = gq_asprintf("%s.%s.svc", svc, ns);
	names[3] = gq_asprintf("%s.%s.svc.cluster.local", svc, ns);
	return GQ_OK;
}

void gq_certs_free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
		names[i] = NULL;
	}
}
