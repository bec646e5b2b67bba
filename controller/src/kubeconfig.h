/*
 * kubeconfig.h - where the apiserver is and how to authenticate to it.
 *
 * Two sources, as client-go has them:
 *  - a kubeconfig file (clusters / users / contexts / current-context), read
 *    with the YAML module; the selected context picks one cluster and one
 *    user. Relative file paths in it are resolved against the kubeconfig's
 *    directory. Supported credentials: a bearer token (token), a token file
 *    (tokenFile) and a client certificate + key (inline *-data or files).
 *    exec credential plugins, auth-provider and basic auth are not supported
 *    and fail with GQ_EUNSUPPORTED.
 *  - the in-cluster service account: KUBERNETES_SERVICE_HOST/PORT and the
 *    files token, ca.crt and namespace under
 *    /var/run/secrets/kubernetes.io/serviceaccount (overridable with the
 *    environment variable GQ_SA_DIR, for tests). The token is kept as a
 *    token file so that rotated projected tokens are picked up.
 *
 * Bounds: a kubeconfig file and each certificate/key file are at most
 * GQ_KUBECONFIG_MAX_FILE bytes, a token file GQ_KUBECONFIG_MAX_TOKEN bytes.
 */
#ifndef GQ_KUBECONFIG_H
#define GQ_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "gq.h"

#define GQ_KUBECONFIG_MAX_FILE	((size_t)1 << 20)
#define GQ_KUBECONFIG_MAX_TOKEN ((size_t)64 << 10)
/* Default service-account directory (in-cluster configuration). */
#define GQ_KUBECONFIG_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/*
 * A resolved connection configuration. Every pointer member is a heap
 * string owned by the struct (gq_kubeconfig_free) or NULL; PEM buffers are
 * NUL-terminated and also carry their length.
 */
struct gq_kubeconfig {
	char *server;		       /* apiserver URL, no trailing '/' */
	char *ca_pem;		       /* CA bundle (PEM); NULL = system trust store */
	size_t ca_pem_len;	       /* bytes in ca_pem, excluding the NUL */
	char *client_cert_pem;	       /* client certificate (PEM) or NULL */
	size_t client_cert_pem_len;    /* bytes in client_cert_pem */
	char *client_key_pem;	       /* client private key (PEM) or NULL */
	size_t client_key_pem_len;     /* bytes in client_key_pem */
	char *token;		       /* static bearer token or NULL */
	char *token_file;	       /* token file to (re-)read, or NULL */
	bool insecure_skip_tls_verify; /* do not verify the server certificate */
	char *tls_server_name;	       /* name to verify the certificate against, or NULL */
	char *namespace;	       /* context namespace ("default" when unset) */
	char *context;		       /* context name ("in-cluster" for the service account) */
};

/*
 * Loads path (NULL: $KUBECONFIG - its first entry when it is a list - or
 * else $HOME/.kube/config) and resolves context (NULL: current-context).
 * On success *out is filled and owned by the caller (gq_kubeconfig_free);
 * on failure *out is zeroed. A tokenFile is read once here to check it.
 * Returns GQ_OK, GQ_EIO (unreadable file), GQ_ETOOBIG, GQ_EPARSE (bad YAML
 * or base64), GQ_EINVAL (missing or malformed context, cluster, user or
 * server, inconsistent settings) or GQ_EUNSUPPORTED (exec / auth-provider /
 * basic-auth users).
 */
int gq_kubeconfig_load(struct gq_kubeconfig *out, const char *path, const char *context,
		       struct gq_err *err);

/*
 * The parsing half of gq_kubeconfig_load: reads the kubeconfig text data
 * (len bytes, need not be NUL-terminated) as if loaded from path, which
 * only serves to resolve relative file names in it (certificate, key and
 * token files, which are read) and to name it in messages. Same results
 * and ownership as gq_kubeconfig_load, without GQ_EIO for the kubeconfig
 * itself.
 */
int gq_kubeconfig_parse(struct gq_kubeconfig *out, const char *data, size_t len, const char *path,
			const char *context, struct gq_err *err);

/*
 * Builds the in-cluster configuration from the service-account environment
 * (see the top of this file). *out is owned by the caller
 * (gq_kubeconfig_free); zeroed on failure. Returns GQ_OK, GQ_EINVAL (not in
 * a cluster: the environment variables are missing), GQ_EIO or GQ_ETOOBIG.
 */
int gq_kubeconfig_in_cluster(struct gq_kubeconfig *out, struct gq_err *err);

/* Frees what the struct owns and zeroes it (NULL or a zeroed struct is fine). */
void gq_kubeconfig_free(struct gq_kubeconfig *c);

/*
 * Returns the bearer token to send: the contents of token_file (re-read on
 * every call, surrounding whitespace trimmed) when set - falling back to the
 * static token if the file cannot be read and one exists - else the static
 * token. *token_out is a new heap string owned by the caller, or NULL when
 * the configuration has no token at all (then GQ_OK). Returns GQ_OK,
 * GQ_EIO, GQ_ETOOBIG (file over GQ_KUBECONFIG_MAX_TOKEN) or GQ_EINVAL (the
 * file is empty).
 */
int gq_kubeconfig_read_token(const struct gq_kubeconfig *c, char **token_out, struct gq_err *err);

#endif
