/*
 * tls.h - the webhook's serving certificate: created by the controller (a CA
 * and a serving certificate kept in a Secret, reused across restarts and
 * replicas, renewed when a third of its lifetime is left, and the CA bundle
 * injected into the webhook configuration), or read from files provided by
 * cert-manager.
 */
#ifndef GQ_TLS_H
#define GQ_TLS_H

#include <stdint.h>

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

void gq_tls_material_free(struct gq_tls_material *m);

/*
 * Makes sure a valid, not-yet-due certificate exists and returns it:
 * cert-manager mode reads the files; otherwise the Secret is read, reused
 * when valid for our names and not due for rotation, else (re)issued and
 * written (the CA is kept while it is valid). Then the CA bundle is
 * injected. *changed says whether out differs from prev (NULL = none).
 */
int gq_tls_ensure(struct gq_kclient *kc, const struct gq_tls_opts *o,
		  const struct gq_tls_material *prev, struct gq_tls_material *out, bool *changed,
		  struct gq_err *err);

#endif
