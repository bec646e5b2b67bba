/*
 * certs.h - X.509 material for the admission webhook (OpenSSL 3): a
 * self-signed CA, serving certificates signed by it, validity arithmetic
 * and consistency checks.
 *
 * Everything is pure computation apart from the clock (certificates start
 * GQ_CERTS_BACKDATE_S before "now" to absorb clock skew between pods and the
 * apiserver, and gq_certs_check_pair verifies the chain at the current time)
 * and the random generator (keys, serial numbers). All functions are
 * thread-safe. Keys are EC P-256 and signatures ECDSA with SHA-256, which
 * every Kubernetes version accepts; serving certificates carry their names
 * only as subjectAltNames that clients check (the apiserver rejects CN-only
 * certificates since v1.19), and extendedKeyUsage serverAuth.
 *
 * PEM outputs are NUL-terminated heap strings owned by the caller (free()).
 */
#ifndef GQ_CERTS_H
#define GQ_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gq.h"

/* Certificates are valid from this many seconds before their creation. */
#define GQ_CERTS_BACKDATE_S 300
/* Accepted range for the lifetime of a generated certificate, in days. */
#define GQ_CERTS_DAYS_MIN 1
#define GQ_CERTS_DAYS_MAX 36500
/* Bounds on inputs: a PEM text, the number of SANs, one DNS name. */
#define GQ_CERTS_PEM_MAX      ((size_t)1 << 20)
#define GQ_CERTS_SAN_MAX      64
#define GQ_CERTS_DNS_NAME_MAX 253
/* Number of names gq_certs_service_dns_names() produces. */
#define GQ_CERTS_SVC_NAMES 4

/*
 * Generates a self-signed CA: a new EC P-256 key, subject CN=cn, valid for
 * days days, basicConstraints CA:TRUE (critical), keyUsage keyCertSign and
 * cRLSign (critical), subject key identifier, random 128-bit serial, signed
 * with SHA-256. *cert_pem and *key_pem (PKCS#8) are owned by the caller and
 * set only on success. Returns GQ_OK, GQ_EINVAL (bad cn or days) or GQ_EIO
 * (OpenSSL failure, message in err).
 */
int gq_certs_generate_ca(char **cert_pem, char **key_pem, const char *cn, int days,
			 struct gq_err *err);

/*
 * Generates a serving certificate signed by the CA given as PEM (its key
 * must match its certificate): a new EC P-256 key, subjectAltName with the
 * n_dns DNS names and n_ips IP addresses (IPv4 or IPv6 text; at least one
 * name in all), subject CN = the first DNS name (or IP), basicConstraints
 * CA:FALSE, keyUsage digitalSignature (critical), extendedKeyUsage
 * serverAuth, subject and authority key identifiers, random 128-bit serial,
 * SHA-256. The certificate ends after days days, or when the CA ends if that
 * is sooner. *cert_pem (the leaf only) and *key_pem are owned by the caller
 * and set only on success. Returns GQ_OK, GQ_EINVAL (bad names, days or CA),
 * GQ_EPARSE (unreadable CA PEM) or GQ_EIO.
 */
int gq_certs_generate_serving(char **cert_pem, char **key_pem, const char *ca_cert_pem,
			      const char *ca_key_pem, const char *const *dns_names, size_t n_dns,
			      const char *const *ips, size_t n_ips, int days, struct gq_err *err);

/* End (notAfter) and start (notBefore) of the first certificate in cert_pem,
 * in milliseconds since the Unix epoch. GQ_OK or GQ_EPARSE. */
int gq_certs_not_after(const char *cert_pem, int64_t *not_after_ms, struct gq_err *err);
int gq_certs_not_before(const char *cert_pem, int64_t *not_before_ms, struct gq_err *err);

/*
 * True when a certificate valid from not_before_ms to not_after_ms should
 * be renewed at now_ms: less than a third of its lifetime is left, it has
 * expired, it is not valid yet, or the window is empty or inverted.
 */
bool gq_certs_needs_rotation(int64_t not_before_ms, int64_t not_after_ms, int64_t now_ms);

/*
 * Checks that a serving pair is usable: key_pem is the private key of the
 * first certificate in cert_pem, that certificate chains to ca_pem (the CA
 * certificate(s)) and is valid now for TLS server use, and, when dns_name
 * is not NULL, dns_name is one of its subjectAltNames (the subject CN is
 * ignored, as Go clients do). Returns GQ_OK, GQ_EPARSE (unreadable PEM) or
 * GQ_EINVAL (the check that failed is named in err).
 */
int gq_certs_check_pair(const char *cert_pem, const char *key_pem, const char *ca_pem,
			const char *dns_name, struct gq_err *err);

/*
 * Fills names with the DNS names a Service svc in namespace ns answers to:
 * "svc", "svc.ns", "svc.ns.svc", "svc.ns.svc.cluster.local" (the apiserver
 * uses "svc.ns.svc" as TLS server name). svc and ns must be RFC 1123 labels.
 * The strings are owned by the caller (gq_certs_free_names); names is
 * untouched on error. Returns GQ_OK or GQ_EINVAL.
 */
int gq_certs_service_dns_names(char *names[GQ_CERTS_SVC_NAMES], const char *svc, const char *ns,
			       struct gq_err *err);

/* Frees n strings of names (NULL entries are fine) and sets them to NULL. */
void gq_certs_free_names(char **names, size_t n);

/*
 * Records rc with "what: <first queued OpenSSL error>" in err and empties
 * the thread's OpenSSL error queue (the one OpenSSL error helper). Returns
 * rc.
 */
int gq_certs_ssl_fail(struct gq_err *err, int rc, const char *what);

#endif
