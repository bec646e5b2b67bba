/*
 * kubeconfig.c - kubeconfig files and the in-cluster service account.
 *
 * A kubeconfig is parsed with the YAML module into a yajl tree; the chosen
 * context names a cluster and a user, each looked up by name in the
 * clusters / users lists. Everything the HTTP client needs is copied into
 * struct gq_kubeconfig: PEM bytes are decoded or read here (bounded), so
 * the client never touches the file system except for a token file, which
 * gq_kubeconfig_read_token re-reads on demand (projected service-account
 * tokens rotate).
 */
#include "kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <yajl/yajl_tree.h>

#include "json.h"
#include "yamldoc.h"

/* ---- small helpers ------------------------------------------------------ */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Trims surrounding whitespace in place; returns the new length. */
static size_t trim(char *s, size_t len)
{
	size_t start = 0;

	while (len > 0 && is_space(s[len - 1]))
		len--;
	while (start < len && is_space(s[start]))
		start++;
	memmove(s, s + start, len - start);
	len -= start;
	s[len] = '\0';
	return len;
}

/*
 * A bearer token goes into an HTTP header: only visible ASCII is allowed,
 * so a stray newline cannot smuggle in another header.
 */
static bool token_ok(const char *t, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
			return false;
	}
	return true;
}

/*
 * Decodes standard base64 (whitespace ignored, padding optional) into a
 * new NUL-terminated heap buffer (*out, caller frees). Returns GQ_OK or
 * GQ_EPARSE.
 */
static int b64_decode(const char *in, const char *what, char **out, size_t *outlen,
		      struct gq_err *err)
{
	size_t inlen = strlen(in), len = 0, pad = 0, i;
	unsigned char *clean, *buf;
	int n;

	*out = NULL;
	*outlen = 0;
	clean = gq_malloc(inlen + 4);
	for (i = 0; i < inlen; i++) {
		if (!is_space(in[i]))
			clean[len++] = (unsigned char)in[i];
	}
	while (len % 4 != 0 && len % 4 != 1)
		clean[len++] = '=';
	if (len == 0 || len % 4 != 0 || len > (size_t)INT32_MAX) {
		free(clean);
		return gq_err_set(err, GQ_EPARSE, "%s: invalid base64", what);
	}
	while (pad < 2 && clean[len - 1 - pad] == '=')
		pad++;
	buf = gq_malloc(len / 4 * 3 + 1);
	n = EVP_DecodeBlock(buf, clean, (int)len);
	free(clean);
	if (n < 0 || (size_t)n < pad) {
		free(buf);
		return gq_err_set(err, GQ_EPARSE, "%s: invalid base64", what);
	}
	n -= (int)pad;
	buf[n] = '\0';
	*out = (char *)buf;
	*outlen = (size_t)n;
	return GQ_OK;
}

/* Resolves a path from the kubeconfig against the kubeconfig's directory. */
static char *resolve_path(const char *kubeconfig, const char *p)
{
	const char *slash = strrchr(kubeconfig, '/');

	if (p[0] == '/' || slash == NULL)
		return gq_strdup(p);
	return gq_asprintf("%.*s/%s", (int)(slash - kubeconfig), kubeconfig, p);
}

/* ---- yajl access -------------------------------------------------------- */

/*
 * The text of a scalar meant as a string (borrowed), or NULL for other
 * types. Numbers and booleans are taken as their text, as client-go's YAML
 * decoding does for string fields (a plain `name: on` reads as "true").
 */
static const char *scalar_text(yajl_val v)
{
	if (YAJL_IS_STRING(v))
		return v->u.string;
	if (YAJL_IS_NUMBER(v))
		return v->u.number.r;
	if (YAJL_IS_TRUE(v))
		return "true";
	if (YAJL_IS_FALSE(v))
		return "false";
	return NULL;
}

/*
 * Copies the string member key of o into *out (caller frees; NULL when
 * absent, null or empty), see scalar_text. Other types: GQ_EINVAL.
 */
static int get_str(yajl_val o, const char *key, const char *where, char **out, struct gq_err *err)
{
	yajl_val v = gq_json_get(o, key);
	const char *s;

	*out = NULL;
	if (v == NULL || YAJL_IS_NULL(v))
		return GQ_OK;
	s = scalar_text(v);
	if (s == NULL)
		return gq_err_set(err, GQ_EINVAL, "%s: %s must be a string", where, key);
	if (s[0] != '\0')
		*out = gq_strdup(s);
	return GQ_OK;
}

/*
 * Finds the entry named name in the list member list of root (clusters,
 * users, contexts) and returns its member field (borrowed; may be NULL).
 * Returns GQ_OK with *found set, or GQ_EINVAL when the list is malformed.
 */
static int find_named(yajl_val root, const char *list, const char *name, const char *field,
		      yajl_val *out, bool *found, const char *path, struct gq_err *err)
{
	yajl_val arr = gq_json_get(root, list), item;
	const char *n;
	size_t i;

	*out = NULL;
	*found = false;
	if (arr == NULL || YAJL_IS_NULL(arr))
		return GQ_OK;
	if (!YAJL_IS_ARRAY(arr))
		return gq_err_set(err, GQ_EINVAL, "kubeconfig %s: %s must be a list", path, list);
	for (i = 0; i < arr->u.array.len; i++) {
		item = arr->u.array.values[i];
		n = scalar_text(gq_json_get(item, "name"));
		if (n != NULL && strcmp(n, name) == 0) {
			*out = gq_json_get(item, field);
			*found = true;
			return GQ_OK;
		}
	}
	return GQ_OK;
}

/*
 * Loads PEM bytes from a *-data member (base64) or, failing that, from a
 * file member (path resolved against the kubeconfig). *pem (caller frees)
 * stays NULL when neither is set.
 */
static int load_pem(yajl_val o, const char *data_key, const char *file_key, const char *kcpath,
		    const char *where, char **pem, size_t *pem_len, struct gq_err *err)
{
	char *data = NULL, *file = NULL, *full = NULL, what[256];
	int rc;

	*pem = NULL;
	*pem_len = 0;
	rc = get_str(o, data_key, where, &data, err);
	if (rc == GQ_OK)
		rc = get_str(o, file_key, where, &file, err);
	if (rc != GQ_OK)
		goto out;
	if (data != NULL) {
		snprintf(what, sizeof(what), "kubeconfig %s: %s %s", kcpath, where, data_key);
		rc = b64_decode(data, what, pem, pem_len, err);
	} else if (file != NULL) {
		full = resolve_path(kcpath, file);
		rc = gq_read_file(full, GQ_KUBECONFIG_MAX_FILE, pem, pem_len, err);
	}
out:
	free(data);
	free(file);
	free(full);
	return rc;
}

/* ---- kubeconfig --------------------------------------------------------- */

/* Picks the file to load when the caller gave none (new heap string). */
static int default_path(char **out, struct gq_err *err)
{
	const char *env = getenv("KUBECONFIG"), *home = getenv("HOME"), *p, *colon;

	*out = NULL;
	if (env != NULL) {
		for (p = env; *p != '\0'; p = colon + 1) {
			colon = strchr(p, ':');
			if (colon == NULL)
				colon = p + strlen(p);
			if (colon > p) {
				*out = gq_strndup(p, (size_t)(colon - p));
				return GQ_OK;
			}
			if (*colon == '\0')
				break;
		}
	}
	if (home == NULL || home[0] == '\0')
		return gq_err_set(err, GQ_EINVAL,
				  "no kubeconfig: KUBECONFIG and HOME are both unset");
	*out = gq_asprintf("%s/.kube/config", home);
	return GQ_OK;
}

/* Fills the cluster half of *c from a clusters[].cluster object. */
static int load_cluster(struct gq_kubeconfig *c, yajl_val cl, const char *name, const char *path,
			struct gq_err *err)
{
	char where[192], *proxy = NULL;
	yajl_val insecure;
	size_t n;
	int rc;

	snprintf(where, sizeof(where), "cluster \"%.128s\"", name);
	if (cl != NULL && !YAJL_IS_OBJECT(cl) && !YAJL_IS_NULL(cl))
		return gq_err_set(err, GQ_EINVAL, "kubeconfig %s: %s must be a mapping", path,
				  where);
	rc = get_str(cl, "server", where, &c->server, err);
	if (rc != GQ_OK)
		return rc;
	if (c->server == NULL)
		return gq_err_set(err, GQ_EINVAL, "kubeconfig %s: %s has no server", path, where);
	n = strlen(c->server);
	while (n > 1 && c->server[n - 1] == '/')
		c->server[--n] = '\0';
	rc = get_str(cl, "proxy-url", where, &proxy, err);
	if (rc != GQ_OK)
		return rc;
	if (proxy != NULL) {
		free(proxy);
		return gq_err_set(err, GQ_EUNSUPPORTED,
				  "kubeconfig %s: %s uses proxy-url, which gpuquota does not "
				  "support; use the HTTPS_PROXY environment variable",
				  path, where);
	}
	rc = get_str(cl, "tls-server-name", where, &c->tls_server_name, err);
	if (rc != GQ_OK)
		return rc;
	insecure = gq_json_get(cl, "insecure-skip-tls-verify");
	if (insecure != NULL && !YAJL_IS_NULL(insecure) && !YAJL_IS_TRUE(insecure) &&
	    !YAJL_IS_FALSE(insecure))
		return gq_err_set(err, GQ_EINVAL,
				  "kubeconfig %s: %s insecure-skip-tls-verify must be a boolean",
				  path, where);
	c->insecure_skip_tls_verify = YAJL_IS_TRUE(insecure);
	rc = load_pem(cl, "certificate-authority-data", "certificate-authority", path, where,
		      &c->ca_pem, &c->ca_pem_len, err);
	if (rc != GQ_OK)
		return rc;
	if (c->ca_pem != NULL && c->insecure_skip_tls_verify)
		return gq_err_set(err, GQ_EINVAL,
				  "kubeconfig %s: %s sets both a certificate authority and "
				  "insecure-skip-tls-verify",
				  path, where);
	return GQ_OK;
}

/* Fills the credential half of *c from a users[].user object. */
static int load_user(struct gq_kubeconfig *c, yajl_val u, const char *name, const char *path,
		     struct gq_err *err)
{
	struct gq_kubeconfig probe = {0};
	char where[192], *tf = NULL, *tok = NULL;
	int rc;

	snprintf(where, sizeof(where), "user \"%.128s\"", name);
	if (u != NULL && !YAJL_IS_OBJECT(u) && !YAJL_IS_NULL(u))
		return gq_err_set(err, GQ_EINVAL, "kubeconfig %s: %s must be a mapping", path,
				  where);
	if (gq_json_get(u, "exec") != NULL && !YAJL_IS_NULL(gq_json_get(u, "exec")))
		return gq_err_set(err, GQ_EUNSUPPORTED,
				  "kubeconfig user %.128s uses an exec credential plugin, which "
				  "gpuquota does not support; use a token or client certificate",
				  name);
	if (gq_json_get(u, "auth-provider") != NULL &&
	    !YAJL_IS_NULL(gq_json_get(u, "auth-provider")))
		return gq_err_set(err, GQ_EUNSUPPORTED,
				  "kubeconfig user %.128s uses an auth-provider plugin, which "
				  "gpuquota does not support; use a token or client certificate",
				  name);
	if ((gq_json_get(u, "username") != NULL && !YAJL_IS_NULL(gq_json_get(u, "username"))) ||
	    (gq_json_get(u, "password") != NULL && !YAJL_IS_NULL(gq_json_get(u, "password"))))
		return gq_err_set(err, GQ_EUNSUPPORTED,
				  "kubeconfig user %.128s uses basic authentication, which "
				  "gpuquota does not support; use a token or client certificate",
				  name);
	rc = get_str(u, "token", where, &c->token, err);
	if (rc != GQ_OK)
		return rc;
	if (c->token != NULL && !token_ok(c->token, strlen(c->token)))
		return gq_err_set(err, GQ_EINVAL,
				  "kubeconfig %s: %s token contains whitespace or non-ASCII bytes",
				  path, where);
	rc = get_str(u, "tokenFile", where, &tf, err);
	if (rc != GQ_OK)
		return rc;
	if (tf != NULL) {
		c->token_file = resolve_path(path, tf);
		free(tf);
		/* Check the file itself, without falling back to the token. */
		probe.token_file = c->token_file;
		rc = gq_kubeconfig_read_token(&probe, &tok, err);
		free(tok);
		if (rc != GQ_OK)
			return rc;
	}
	rc = load_pem(u, "client-certificate-data", "client-certificate", path, where,
		      &c->client_cert_pem, &c->client_cert_pem_len, err);
	if (rc == GQ_OK)
		rc = load_pem(u, "client-key-data", "client-key", path, where, &c->client_key_pem,
			      &c->client_key_pem_len, err);
	if (rc != GQ_OK)
		return rc;
	if ((c->client_cert_pem == NULL) != (c->client_key_pem == NULL))
		return gq_err_set(err, GQ_EINVAL,
				  "kubeconfig %s: %s has a client %s but no client %s", path, where,
				  c->client_cert_pem ? "certificate" : "key",
				  c->client_cert_pem ? "key" : "certificate");
	return GQ_OK;
}

/* Resolves the context of a parsed kubeconfig into *c. */
static int load_tree(struct gq_kubeconfig *c, yajl_val root, const char *context, const char *path,
		     struct gq_err *err)
{
	char *ctxname = NULL, *cluster = NULL, *user = NULL;
	yajl_val ctx, v;
	char where[192];
	bool found;
	int rc;

	if (!YAJL_IS_OBJECT(root))
		return gq_err_set(err, GQ_EINVAL, "kubeconfig %s: not a mapping", path);
	if (context != NULL && context[0] != '\0') {
		ctxname = gq_strdup(context);
	} else {
		rc = get_str(root, "current-context", "kubeconfig", &ctxname, err);
		if (rc != GQ_OK)
			goto out;
		if (ctxname == NULL) {
			rc = gq_err_set(
			    err, GQ_EINVAL,
			    "kubeconfig %s: no context given and no current-context set", path);
			goto out;
		}
	}
	rc = find_named(root, "contexts", ctxname, "context", &ctx, &found, path, err);
	if (rc != GQ_OK)
		goto out;
	if (!found) {
		rc = gq_err_set(err, GQ_EINVAL, "kubeconfig %s: context \"%.128s\" not found", path,
				ctxname);
		goto out;
	}
	snprintf(where, sizeof(where), "context \"%.128s\"", ctxname);
	if (ctx != NULL && !YAJL_IS_OBJECT(ctx) && !YAJL_IS_NULL(ctx)) {
		rc = gq_err_set(err, GQ_EINVAL, "kubeconfig %s: %s must be a mapping", path, where);
		goto out;
	}
	rc = get_str(ctx, "cluster", where, &cluster, err);
	if (rc == GQ_OK)
		rc = get_str(ctx, "user", where, &user, err);
	if (rc == GQ_OK)
		rc = get_str(ctx, "namespace", where, &c->namespace, err);
	if (rc != GQ_OK)
		goto out;
	if (cluster == NULL) {
		rc = gq_err_set(err, GQ_EINVAL, "kubeconfig %s: %s names no cluster", path, where);
		goto out;
	}
	if (c->namespace == NULL)
		c->namespace = gq_strdup("default");
	rc = find_named(root, "clusters", cluster, "cluster", &v, &found, path, err);
	if (rc != GQ_OK)
		goto out;
	if (!found) {
		rc = gq_err_set(err, GQ_EINVAL,
				"kubeconfig %s: cluster \"%.128s\" (of %s) not found", path,
				cluster, where);
		goto out;
	}
	rc = load_cluster(c, v, cluster, path, err);
	if (rc != GQ_OK || user == NULL)
		goto out;
	rc = find_named(root, "users", user, "user", &v, &found, path, err);
	if (rc != GQ_OK)
		goto out;
	if (!found) {
		rc = gq_err_set(err, GQ_EINVAL, "kubeconfig %s: user \"%.128s\" (of %s) not found",
				path, user, where);
		goto out;
	}
	rc = load_user(c, v, user, path, err);
out:
	if (rc == GQ_OK) {
		c->context = ctxname;
		ctxname = NULL;
	}
	free(ctxname);
	free(cluster);
	free(user);
	return rc;
}

int gq_kubeconfig_parse(struct gq_kubeconfig *out, const char *data, size_t len, const char *path,
			const char *context, struct gq_err *err)
{
	struct gq_yamldoc_list docs = {0};
	struct gq_err perr = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = gq_yamldoc_parse(&docs, data, len, &perr);
	if (rc != GQ_OK) {
		gq_err_set(err, rc, "kubeconfig %s:%s", path, perr.msg);
		goto out;
	}
	if (docs.n == 0) {
		rc = gq_err_set(err, GQ_EINVAL, "kubeconfig %s is empty", path);
		goto out;
	}
	rc = load_tree(out, docs.docs[0].root, context, path, err);
out:
	if (rc != GQ_OK)
		gq_kubeconfig_free(out);
	gq_yamldoc_list_free(&docs);
	return rc;
}

int gq_kubeconfig_load(struct gq_kubeconfig *out, const char *path, const char *context,
		       struct gq_err *err)
{
	char *file = NULL, *data = NULL;
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	if (path != NULL && path[0] != '\0')
		file = gq_strdup(path);
	else if ((rc = default_path(&file, err)) != GQ_OK)
		goto out;
	rc = gq_read_file(file, GQ_KUBECONFIG_MAX_FILE, &data, &len, err);
	if (rc == GQ_OK)
		rc = gq_kubeconfig_parse(out, data, len, file, context, err);
out:
	free(data);
	free(file);
	return rc;
}

/* ---- in-cluster --------------------------------------------------------- */

/* Checks a host name or address from the environment for URL safety. */
static bool host_ok(const char *h)
{
	size_t i;

	if (h[0] == '\0' || strlen(h) > 253)
		return false;
	for (i = 0; h[i] != '\0'; i++) {
		if ((unsigned char)h[i] <= 0x20 || (unsigned char)h[i] >= 0x7f ||
		    strchr("/?#@[]\\", h[i]) != NULL)
			return false;
	}
	return true;
}

static bool port_ok(const char *p)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; p[i] != '\0'; i++) {
		if (p[i] < '0' || p[i] > '9' || i >= 5)
			return false;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	return i > 0 && v >= 1 && v <= 65535;
}

int gq_kubeconfig_in_cluster(struct gq_kubeconfig *out, struct gq_err *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *dir = getenv("GQ_SA_DIR");
	char *path = NULL, *tok = NULL, *ns = NULL;
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0')
		return gq_err_set(err, GQ_EINVAL,
				  "not running in a cluster: KUBERNETES_SERVICE_HOST and "
				  "KUBERNETES_SERVICE_PORT must be set");
	if (!host_ok(host) || !port_ok(port))
		return gq_err_set(err, GQ_EINVAL,
				  "invalid KUBERNETES_SERVICE_HOST/PORT \"%.64s\" \"%.16s\"", host,
				  port);
	if (dir == NULL || dir[0] == '\0')
		dir = GQ_KUBECONFIG_SA_DIR;
	if (strchr(host, ':') != NULL)
		out->server = gq_asprintf("https://[%s]:%s", host, port);
	else
		out->server = gq_asprintf("https://%s:%s", host, port);
	out->context = gq_strdup("in-cluster");
	out->token_file = gq_asprintf("%s/token", dir);
	rc = gq_kubeconfig_read_token(out, &tok, err);
	free(tok);
	if (rc != GQ_OK)
		goto out;
	path = gq_asprintf("%s/ca.crt", dir);
	rc = gq_read_file(path, GQ_KUBECONFIG_MAX_FILE, &out->ca_pem, &out->ca_pem_len, err);
	if (rc != GQ_OK)
		goto out;
	free(path);
	path = gq_asprintf("%s/namespace", dir);
	if (gq_read_file(path, GQ_KUBECONFIG_MAX_TOKEN, &ns, &len, NULL) == GQ_OK &&
	    trim(ns, len) > 0)
		out->namespace = ns;
	else
		free(ns);
	if (out->namespace == NULL)
		out->namespace = gq_strdup("default");
out:
	free(path);
	if (rc != GQ_OK)
		gq_kubeconfig_free(out);
	return rc;
}

/* ---- shared ------------------------------------------------------------- */

void gq_kubeconfig_free(struct gq_kubeconfig *c)
{
	if (c == NULL)
		return;
	free(c->server);
	free(c->ca_pem);
	free(c->client_cert_pem);
	free(c->client_key_pem);
	free(c->token);
	free(c->token_file);
	free(c->tls_server_name);
	free(c->namespace);
	free(c->context);
	memset(c, 0, sizeof(*c));
}

int gq_kubeconfig_read_token(const struct gq_kubeconfig *c, char **token_out, struct gq_err *err)
{
	char *buf = NULL;
	size_t len;
	int rc;

	*token_out = NULL;
	if (c->token_file != NULL && c->token_file[0] != '\0') {
		rc = gq_read_file(c->token_file, GQ_KUBECONFIG_MAX_TOKEN, &buf, &len, err);
		if (rc == GQ_OK) {
			len = trim(buf, len);
			if (len == 0)
				rc = gq_err_set(err, GQ_EINVAL, "token file %s is empty",
						c->token_file);
			else if (!token_ok(buf, len))
				rc = gq_err_set(err, GQ_EINVAL,
						"token file %s contains whitespace or non-ASCII "
						"bytes",
						c->token_file);
		}
		if (rc == GQ_OK) {
			*token_out = buf;
			return GQ_OK;
		}
		free(buf);
		if (c->token == NULL || c->token[0] == '\0')
			return rc;
	}
	if (c->token != NULL && c->token[0] != '\0')
		*token_out = gq_strdup(c->token);
	return GQ_OK;
}
