/*
 * tls.c - webhook certificate lifecycle (see tls.h).
 */
#include "tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <yajl/yajl_tree.h>

#include "buf.h"
#include "certs.h"
#include "log.h"
#include "json.h"

#define CA_DAYS 3650

/* See tls.h. */
void gq_tls_material_free(struct gq_tls_material *m)
{
	free(m->cert_pem);
	free(m->key_pem);
	free(m->ca_pem);
	memset(m, 0, sizeof(*m));
}

/* The base64 text of the NUL-terminated s, as a new string (caller frees). */
static char *b64(const char *s)
{
	size_t n = strlen(s);
	char *out = gq_malloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

/*
 * Decodes base64 text (length a multiple of 4, at most 4 MiB) into a
 * NUL-terminated string (caller frees; data after an embedded NUL is not seen
 * by string users); NULL on error.
 */
static char *unb64(const char *s)
{
	size_t n = strlen(s);
	unsigned char *out;
	int len;

	if (n == 0 || n % 4 || n > (4u << 20))
		return NULL;
	out = gq_malloc(n / 4 * 3 + 1);
	len = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (len < 0) {
		free(out);
		return NULL;
	}
	while (len > 0 && n > 0 && s[n - 1] == '=') {
		len--;
		n--;
	}
	out[len] = '\0';
	return (char *)out;
}

/* The file dir/name (at most GQ_CERTS_PEM_MAX bytes) as a heap string, or
 * NULL (caller frees). */
static char *read_file(const char *dir, const char *name)
{
	char *path = gq_asprintf("%s/%s", dir, name), *data = NULL;
	size_t len;

	if (gq_read_file(path, GQ_CERTS_PEM_MAX, &data, &len, NULL) != GQ_OK)
		data = NULL;
	free(path);
	return data;
}

/*
 * Splits the comma-separated hosts (may be NULL) into DNS names and IPs,
 * appended as copies to the arrays (the caller frees them) while each holds
 * fewer than cap; further and empty items are dropped.
 */
static void split_hosts(const char *hosts, char **dns, size_t *n_dns, char **ips, size_t *n_ips,
			size_t cap)
{
	const char *p = hosts;

	while (p && *p) {
		size_t len = strcspn(p, ",");
		char *h = gq_strndup(p, len);
		unsigned char addr[16];

		if (len > 0 &&
		    (inet_pton(AF_INET, h, addr) == 1 || inet_pton(AF_INET6, h, addr) == 1)) {
			if (*n_ips < cap)
				ips[(*n_ips)++] = h;
			else
				free(h);
		} else if (len > 0 && *n_dns < cap) {
			dns[(*n_dns)++] = h;
		} else {
			free(h);
		}
		p += len;
		if (*p == ',')
			p++;
	}
}

/* See tls.h. m is borrowed. */
bool gq_tls_usable(const struct gq_tls_material *m, const char *name, int64_t at_ms)
{
	struct gq_err err = {0};
	int64_t nb = 0, na = 0;

	if (!m->cert_pem || !m->key_pem || !m->ca_pem)
		return false;
	if (gq_certs_check_pair(m->cert_pem, m->key_pem, m->ca_pem, name, &err) != GQ_OK)
		return false;
	if (gq_certs_not_before(m->cert_pem, &nb, &err) != GQ_OK ||
	    gq_certs_not_after(m->cert_pem, &na, &err) != GQ_OK)
		return false;
	return !gq_certs_needs_rotation(nb, na, at_ms);
}

/* See tls.h. */
void gq_tls_from_secret(yajl_val sec, struct gq_tls_material *m, char **ca_key)
{
	const char *v;

	memset(m, 0, sizeof(*m));
	*ca_key = NULL;
	if ((v = gq_json_str(sec, GQ_PATH("data", "tls.crt"))))
		m->cert_pem = unb64(v);
	if ((v = gq_json_str(sec, GQ_PATH("data", "tls.key"))))
		m->key_pem = unb64(v);
	if ((v = gq_json_str(sec, GQ_PATH("data", "ca.crt"))))
		m->ca_pem = unb64(v);
	if ((v = gq_json_str(sec, GQ_PATH("data", "ca.key"))))
		*ca_key = unb64(v);
}

/*
 * The JSON of the kubernetes.io/tls Secret o->secret in o->namespace holding
 * m's PEMs and ca_key (all non-NULL), base64-encoded, with rv as
 * metadata.resourceVersion when non-NULL (for a PUT). Caller frees.
 */
static char *secret_body(const struct gq_tls_opts *o, const struct gq_tls_material *m,
			 const char *ca_key, const char *rv)
{
	char *c = b64(m->cert_pem), *k = b64(m->key_pem), *ca = b64(m->ca_pem), *cak = b64(ca_key);
	char *body = gq_asprintf(
	    "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"%s\","
	    "\"namespace\":\"%s\"%s%s%s,\"labels\":{\"app.kubernetes.io/"
	    "managed-by\":\"gpuquota\"}},"
	    "\"type\":\"kubernetes.io/tls\",\"data\":{\"tls.crt\":\"%s\",\"tls.key\":\"%s\","
	    "\"ca.crt\":\"%s\",\"ca.key\":\"%s\"}}",
	    o->secret, o->namespace, rv ? ",\"resourceVersion\":\"" : "", rv ? rv : "",
	    rv ? "\"" : "", c, k, ca, cak);

	free(c);
	free(k);
	free(ca);
	free(cak);
	return body;
}

/*
 * Sets clientConfig.caBundle of every webhook of the
 * MutatingWebhookConfiguration `name` to ca_pem (base64), with one JSON patch
 * of those that differ (nothing sent when none does). Returns the client's
 * code (err set).
 */
static int inject_ca(struct gq_kclient *kc, const char *name, const char *ca_pem,
		     struct gq_err *err)
{
	char *path = gq_asprintf("/apis/admissionregistration.k8s.io/v1/"
				 "mutatingwebhookconfigurations/%s",
				 name);
	char *want = b64(ca_pem);
	yajl_val cfg = NULL, hooks;
	struct gq_buf patch;
	int rc;

	gq_buf_init(&patch, 1 << 20);
	rc = gq_kclient_get_json(kc, path, &cfg, err);
	if (rc != GQ_OK)
		goto out;
	hooks = yajl_tree_get(cfg, (const char *[]){"webhooks", NULL}, yajl_t_array);
	for (size_t i = 0; hooks && i < hooks->u.array.len; i++) {
		const char *have =
		    gq_json_str(hooks->u.array.values[i], GQ_PATH("clientConfig", "caBundle"));

		if (have && strcmp(have, want) == 0)
			continue;
		gq_buf_printf(&patch,
			      "%s{\"op\":\"add\",\"path\":\"/webhooks/%zu/clientConfig/caBundle\","
			      "\"value\":\"%s\"}",
			      patch.len ? "," : "[", i, want);
	}
	if (patch.len) {
		gq_buf_puts(&patch, "]");
		rc = gq_kclient_patch(kc, path, "application/json-patch+json", gq_buf_str(&patch),
				      NULL, err);
		if (rc == GQ_OK)
			gq_info("CA bundle injected | webhookconfiguration=%s", name);
	}
out:
	yajl_tree_free(cfg);
	gq_buf_free(&patch);
	free(want);
	free(path);
	return rc;
}

/*
 * cert-manager mode: reads tls.crt, tls.key and (optional) ca.crt from
 * o->cert_dir into the zeroed *out (owned by the caller, also after a
 * failure) with the certificate's notAfter. The pair is not checked further.
 * Returns GQ_OK, GQ_EIO (tls.crt or tls.key unreadable) or GQ_EPARSE
 * (unreadable certificate).
 */
static int from_files(const struct gq_tls_opts *o, struct gq_tls_material *out, struct gq_err *err)
{
	out->cert_pem = read_file(o->cert_dir, "tls.crt");
	out->key_pem = read_file(o->cert_dir, "tls.key");
	out->ca_pem = read_file(o->cert_dir, "ca.crt");
	if (!out->cert_pem || !out->key_pem)
		return gq_err_set(err, GQ_EIO, "cannot read tls.crt and tls.key in %s",
				  o->cert_dir);
	if (gq_certs_not_after(out->cert_pem, &out->not_after_ms, err) != GQ_OK)
		return GQ_EPARSE;
	return GQ_OK;
}

/*
 * Issues a serving certificate for o's Service names and o->hosts, signed by
 * the CA ca_pem/ca_key (borrowed), or by a new CA when either is NULL. On
 * success the zeroed *out holds the certificate, key and CA, and *ca_key_out
 * a copy of the CA key (all owned by the caller); on failure both are
 * untouched. Returns GQ_OK or the certs module's error (err set).
 */
static int issue(const struct gq_tls_opts *o, const char *ca_pem, const char *ca_key,
		 struct gq_tls_material *out, char **ca_key_out, struct gq_err *err)
{
	char *names[GQ_CERTS_SVC_NAMES] = {0}, *dns[GQ_CERTS_SAN_MAX], *ips[GQ_CERTS_SAN_MAX];
	size_t n_dns = 0, n_ips = 0;
	char *new_ca = NULL, *new_ca_key = NULL;
	int rc;

	rc = gq_certs_service_dns_names(names, o->service, o->namespace, err);
	if (rc != GQ_OK)
		return rc;
	for (size_t i = 0; i < GQ_CERTS_SVC_NAMES; i++)
		dns[n_dns++] = gq_strdup(names[i]);
	split_hosts(o->hosts, dns, &n_dns, ips, &n_ips, GQ_CERTS_SAN_MAX);
	if (ca_pem == NULL || ca_key == NULL) {
		rc =
		    gq_certs_generate_ca(&new_ca, &new_ca_key, "gpuquota-webhook-ca", CA_DAYS, err);
		if (rc != GQ_OK)
			goto out;
		ca_pem = new_ca;
		ca_key = new_ca_key;
		gq_info("generated a new webhook CA");
	}
	rc = gq_certs_generate_serving(&out->cert_pem, &out->key_pem, ca_pem, ca_key,
				       (const char *const *)dns, n_dns, (const char *const *)ips,
				       n_ips, o->days, err);
	if (rc != GQ_OK)
		goto out;
	out->ca_pem = gq_strdup(ca_pem);
	*ca_key_out = gq_strdup(ca_key);
	gq_certs_not_after(out->cert_pem, &out->not_after_ms, err);
	gq_info("issued the webhook serving certificate | dns=%zu ips=%zu days=%d", n_dns, n_ips,
		o->days);
out:
	gq_certs_free_names(names, GQ_CERTS_SVC_NAMES);
	gq_certs_free_names(dns, n_dns);
	gq_certs_free_names(ips, n_ips);
	free(new_ca);
	free(new_ca_key);
	return rc;
}

/*
 * See tls.h. Up to three rounds of read, check, issue and write: a 409
 * (another replica wrote the Secret first) starts the next round, which takes
 * theirs when it is usable.
 */
int gq_tls_ensure(struct gq_kclient *kc, const struct gq_tls_opts *o,
		  const struct gq_tls_material *prev, struct gq_tls_material *out, bool *changed,
		  struct gq_err *err)
{
	char *path = gq_asprintf("/api/v1/namespaces/%s/secrets/%s", o->namespace, o->secret);
	char *svc_name = gq_asprintf("%s.%s.svc", o->service, o->namespace);
	struct gq_tls_material have = {0};
	char *ca_key = NULL, *body = NULL;
	const char *rv = NULL;
	yajl_val sec = NULL;
	int rc, attempt;

	memset(out, 0, sizeof(*out));
	*changed = false;
	if (o->cert_dir && o->cert_dir[0]) {
		rc = from_files(o, out, err);
		goto done;
	}
	for (attempt = 0; attempt < 3; attempt++) {
		gq_tls_material_free(&have);
		free(ca_key);
		ca_key = NULL;
		yajl_tree_free(sec);
		sec = NULL;
		rc = gq_kclient_get_json(kc, path, &sec, err);
		if (rc != GQ_OK && rc != GQ_ENOTFOUND)
			goto out;
		if (rc == GQ_OK) {
			gq_tls_from_secret(sec, &have, &ca_key);
			rv = gq_json_str(sec, GQ_PATH("metadata", "resourceVersion"));
		} else {
			rv = NULL;
		}
		if (gq_tls_usable(&have, svc_name, gq_real_ms()) && ca_key) {
			*out = have;
			memset(&have, 0, sizeof(have));
			gq_certs_not_after(out->cert_pem, &out->not_after_ms, err);
			rc = GQ_OK;
			break;
		}
		/* Keep a CA that is still good for the next certificate's life. */
		{
			int64_t na = 0;
			bool ca_ok = have.ca_pem && ca_key &&
				     gq_certs_not_after(have.ca_pem, &na, err) == GQ_OK &&
				     na > gq_real_ms() + (int64_t)o->days * 2 * 86400000;
			char *new_ca_key = NULL;

			rc = issue(o, ca_ok ? have.ca_pem : NULL, ca_ok ? ca_key : NULL, out,
				   &new_ca_key, err);
			if (rc != GQ_OK)
				goto out;
			free(body);
			body = secret_body(o, out, new_ca_key, rv);
			free(new_ca_key);
		}
		if (rv)
			rc = gq_kclient_request(kc, "PUT", path, "application/json", body,
						strlen(body), 0, NULL, NULL, err);
		else {
			char *coll = gq_asprintf("/api/v1/namespaces/%s/secrets", o->namespace);

			rc = gq_kclient_create(kc, coll, body, NULL, err);
			free(coll);
		}
		if (rc == GQ_OK)
			break;
		/* Another replica wrote it first: take theirs. */
		gq_tls_material_free(out);
		if (rc != GQ_ECONFLICT)
			goto out;
	}
	if (rc != GQ_OK)
		goto out;
	if (o->webhook_config && o->webhook_config[0]) {
		struct gq_err e2 = {0};

		if (inject_ca(kc, o->webhook_config, out->ca_pem, &e2) != GQ_OK)
			gq_warn("cannot inject the CA bundle | webhookconfiguration=%s error=%s",
				o->webhook_config, e2.msg);
	}
done:
	if (rc == GQ_OK)
		*changed = prev == NULL || prev->cert_pem == NULL ||
			   strcmp(prev->cert_pem, out->cert_pem) != 0;
out:
	if (rc != GQ_OK)
		gq_tls_material_free(out);
	gq_tls_material_free(&have);
	yajl_tree_free(sec);
	free(ca_key);
	free(body);
	free(path);
	free(svc_name);
	return rc;
}
