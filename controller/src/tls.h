/*
 * tls.h - the webhook's serving certificate: created by the controller (a CA
 * and a serving certificate kept in a Secret, reused across restarts and
 * replicas, renewed when a third of its lifetime is left, and the CA bundle
 * injected into the webhook configuration), or read from files provided by
 * cert-manager.
 */
#ifndef GQ_TLS_H
#define GQ_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include <yajl/yajl_tree.h>

#include "gq.h"
#include "kclient.h"

struct gq_tls_opts {
	const char *namespace;	    /* the controller's namespace (Secret lives there) */
	const char *service;	    /* webhook Service name (SAN DNS names) */
	const char *secret;	    /* Secret holding ca.crt, ca.key, tls.crt, tls.key */
	const char *webhook_config; /* MutatingWebhookConfiguration to inject the CA into;
				     * "" = none */
	const char *hosts;	    /* extra SANs, comma separated (DNS names or IPs) */
	const char *cert_dir;	    /* cert-manager mode: tls.crt, tls.key here; "" = off */
	int days;		    /* serving certificate lifetime */
};

/* The material in use. Strings owned (gq_tls_material_free). */
struct gq_tls_material {
	char *cert_pem, *key_pem, *ca_pem;
	int64_t not_after_ms;
};

/* Frees the PEM strings of *m and zeroes it (safe on a zeroed struct; the
 * struct itself is the caller's). */
void gq_tls_material_free(struct gq_tls_material *m);

/*
 * Makes sure a valid, not-yet-due certificate exists and returns it:
 * cert-manager mode reads the files; otherwise the Secret is read, reused
 * when valid for our names and not due for rotation, else (re)issued and
 * written (the CA is kept while it is valid). Then the CA bundle is
 * injected. *changed says whether out differs from prev (NULL = none).
 *
 * kc, o and prev are borrowed; *out is overwritten (not freed first) and
 * owned by the caller (gq_tls_material_free); it is empty on error.
 * changed must not be NULL. Blocks on API calls (the calling thread waits
 * up to the client's timeouts). Returns GQ_OK; the client's error for the
 * Secret read or write (GQ_ECONFLICT after three lost races with other
 * replicas); the certificate module's error when issuing fails; or in
 * cert-manager mode GQ_EIO or GQ_EPARSE. A failed CA injection is only
 * logged.
 */
int gq_tls_ensure(struct gq_kclient *kc, const struct gq_tls_opts *o,
		  const struct gq_tls_material *prev, struct gq_tls_material *out, bool *changed,
		  struct gq_err *err);

/* ---- the pure parts, exported for tests ---- */

/*
 * Reads the material of the webhook Secret sec (base64 data.tls.crt,
 * data.tls.key and data.ca.crt into *m, data.ca.key into *ca_key): an
 * entry that is missing or not valid base64 stays NULL. *m and *ca_key
 * are owned by the caller (gq_tls_material_free, free).
 */
void gq_tls_from_secret(yajl_val sec, struct gq_tls_material *m, char **ca_key);

/*
 * Whether the serving pair in m can be kept at at_ms: it passes
 * gq_certs_check_pair for name (the key matches, it chains to the CA, it
 * is a TLS server certificate valid now for name) and is not due for
 * rotation (gq_certs_needs_rotation).
 */
bool gq_tls_usable(const struct gq_tls_material *m, const char *name, int64_t at_ms);

#endif
