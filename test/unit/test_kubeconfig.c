/*
 * Unit tests for kubeconfig.c: inline (*-data) and file forms, context
 * selection, token vs tokenFile, client certificates, the insecure flag,
 * unsupported credential plugins, missing pieces and the in-cluster
 * service account (through GQ_SA_DIR and a temporary directory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ftw.h>
#include <sys/stat.h>
#include <openssl/evp.h>

#include "gq.h"
#include "kubeconfig.h"

#define CA_PEM	 "-----BEGIN CERTIFICATE-----\nQ0EgY2VydA==\n-----END CERTIFICATE-----\n"
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nY2xpZW50\n-----END CERTIFICATE-----\n"
#define KEY_PEM	 "-----BEGIN PRIVATE KEY-----\na2V5\n-----END PRIVATE KEY-----\n"

/* Per-test temporary directory. */
struct tmp {
	char dir[64];
};

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/gq_kubeconfig_XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;

	nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	unsetenv("GQ_SA_DIR");
	return 0;
}

/* Writes text to dir/name (creating one level of subdirectory if named). */
static void put(const struct tmp *t, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	fclose(f);
}

/* Returns the path of name inside the temp dir (static buffer). */
static const char *at(const struct tmp *t, const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	return path;
}

/* base64 of a string, in a static buffer. */
static const char *b64(const char *s)
{
	static char out[4][512];
	static int next;
	char *o = out[next++ % 4];

	assert_true(strlen(s) < 300);
	EVP_EncodeBlock((unsigned char *)o, (const unsigned char *)s, (int)strlen(s));
	return o;
}

/* Writes a kubeconfig built from printf-style text and loads it. */
static int load(const struct tmp *t, struct gq_kubeconfig *c, const char *context,
		struct gq_err *err, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int load(const struct tmp *t, struct gq_kubeconfig *c, const char *context,
		struct gq_err *err, const char *fmt, ...)
{
	char text[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	put(t, "config", text);
	memset(err, 0, sizeof(*err));
	return gq_kubeconfig_load(c, at(t, "config"), context, err);
}

static void assert_zeroed(const struct gq_kubeconfig *c)
{
	assert_null(c->server);
	assert_null(c->ca_pem);
	assert_null(c->token);
	assert_null(c->token_file);
	assert_null(c->namespace);
	assert_null(c->context);
}

static void test_inline_data(void **state)
{
	struct tmp *t = *state;
	struct gq_kubeconfig c;
	struct gq_err err;
	char *tok = NULL;

	assert_int_equal(load(t, &c, NULL, &err,
			      "apiVersion: v1\n"
			      "kind: Config\n"
			      "clusters:\n"
			      "- name: prod\n"
			      "  cluster:\n"
			      "    server: https://10.1.2.3:6443/\n"
			      "    certificate-authority-data: %s\n"
			      "    tls-server-name: kubernetes.default\n"
			      "users:\n"
			      "- name: admin\n"
			      "  user:\n"
			      "    token: abc.def-ghi\n"
			      "    client-certificate-data: %s\n"
			      "    client-key-data: %s\n"
			      "contexts:\n"
			      "- name: main\n"
			      "  context: {cluster: prod, user: admin, namespace: team-a}\n"
			      "current-context: main\n",
			      b64(CA_PEM), b64(CERT_PEM), b64(KEY_PEM)),
			 GQ_OK);
	assert_string_equal(c.server, "https://10.1.2.3:6443");
	assert_string_equal(c.ca_pem, CA_PEM);
	assert_int_equal(c.ca_pem_len, strlen(CA_PEM));
	assert_string_equal(c.client_cert_pem, CERT_PEM);
	assert_int_equal(c.client_cert_pem_len, strlen(CERT_PEM));
	assert_string_equal(c.client_key_pem, KEY_PEM);
	assert_int_equal(c.client_key_pem_len, strlen(KEY_PEM));
	assert_string_equal(c.token, "abc.def-ghi");
	assert_null(c.token_file);
	assert_false(c.insecure_skip_tls_verify);
	assert_string_equal(c.tls_server_name, "kubernetes.default");
	assert_string_equal(c.namespace, "team-a");
	assert_string_equal(c.context, "main");
	assert_int_equal(gq_kubeconfig_read_token(&c, &tok, &err), GQ_OK);
	assert_string_equal(tok, "abc.def-ghi");
	free(tok);
	gq_kubeconfig_free(&c);
	assert_zeroed(&c);
	gq_kubeconfig_free(&c);
	gq_kubeconfig_free(NULL);
}

static void test_base64_padding(void **state)
{
	struct tmp *t = *state;
	struct gq_kubeconfig c;
	struct gq_err err;
	/* "ab" is YWI= ; written without padding and folded over lines. */
#define CFG_CA(data)                                                                               \
	"clusters:\n"                                                                              \
	"- name: c\n"                                                                              \
	"  cluster:\n"                                                                             \
	"    server: https://h:1\n"                                                                \
	"    certificate-authority-data: \"" data "\"\n"                                           \
	"contexts:\n"                                                                              \
	"- name: x\n"                                                                              \
	"  context: {cluster: c}\n"                                                                \
	"current-context: x\n"

	assert_int_equal(load(t, &c, NULL, &err, "%s", CFG_CA("YW\\nI")), GQ_OK);
	assert_int_equal(c.ca_pem_len, 2);
	assert_memory_equal(c.ca_pem, "ab", 3);
	/* No user in the context: anonymous. */
	assert_null(c.token);
	assert_null(c.client_cert_pem);
	assert_string_equal(c.namespace, "default");
	gq_kubeconfig_free(&c);
	assert_int_equal(load(t, &c, NULL, &err, "%s", CFG_CA("YWJj")), GQ_OK);
	assert_string_equal(c.ca_pem, "abc");
	gq_kubeconfig_free(&c);
	assert_int_equal(load(t, &c, NULL, &err, "%s", CFG_CA("YWJjZA==")), GQ_OK);
	assert_string_equal(c.ca_pem, "abcd");
	gq_kubeconfig_free(&c);
	assert_int_equal(load(t, &c, NULL, &err, "%s", CFG_CA("not*base64")), GQ_EPARSE);
	assert_non_null(strstr(err.msg, "certificate-authority-data"));
	assert_zeroed(&c);
	assert_int_equal(load(t, &c, NULL, &err, "%s", CFG_CA("YWJjZ")), GQ_EPARSE);
#undef CFG_CA
}

static void test_file_forms(void **state)
{
	struct tmp *t = *state;
	struct gq_kubeconfig c;
	struct gq_err err;
	char *tok = NULL;
	char key_abs[256];

	assert_int_equal(mkdir(at(t, "certs"), 0700), 0);
	put(t, "certs/ca.pem", CA_PEM);
	put(t, "certs/client.pem", CERT_PEM);
	put(t, "client.key", KEY_PEM);
	put(t, "tok", "  file-token-1\n\n");
	snprintf(key_abs, sizeof(key_abs), "%s", at(t, "client.key"));
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters:\n"
			      "- name: c\n"
			      "  cluster:\n"
			      "    server: https://h:6443\n"
			      "    certificate-authority: certs/ca.pem\n"
			      "users:\n"
			      "- name: u\n"
			      "  user:\n"
			      "    client-certificate: certs/client.pem\n"
			      "    client-key: %s\n"
			      "    tokenFile: tok\n"
			      "contexts:\n"
			      "- name: x\n"
			      "  context: {cluster: c, user: u}\n"
			      "current-context: x\n",
			      key_abs),
			 GQ_OK);
	assert_string_equal(c.ca_pem, CA_PEM);
	assert_string_equal(c.client_cert_pem, CERT_PEM);
	assert_string_equal(c.client_key_pem, KEY_PEM);
	assert_null(c.token);
	assert_string_equal(c.token_file, at(t, "tok"));
	assert_int_equal(gq_kubeconfig_read_token(&c, &tok, &err), GQ_OK);
	assert_string_equal(tok, "file-token-1");
	free(tok);
	/* The file is re-read on every call (rotation). */
	put(t, "tok", "file-token-2");
	assert_int_equal(gq_kubeconfig_read_token(&c, &tok, &err), GQ_OK);
	assert_string_equal(tok, "file-token-2");
	free(tok);
	/* An empty or oversized file is an error, a missing one too. */
	put(t, "tok", " \n");
	assert_int_equal(gq_kubeconfig_read_token(&c, &tok, &err), GQ_EINVAL);
	assert_null(tok);
	put(t, "tok", "a\nb");
	assert_int_equal(gq_kubeconfig_read_token(&c, &tok, &err), GQ_EINVAL);
	{
		char *big = malloc(GQ_KUBECONFIG_MAX_TOKEN + 2);

		assert_non_null(big);
		memset(big, 'x', GQ_KUBECONFIG_MAX_TOKEN + 1);
		big[GQ_KUBECONFIG_MAX_TOKEN + 1] = '\0';
		put(t, "tok", big);
		free(big);
	}
	assert_int_equal(gq_kubeconfig_read_token(&c, &tok, &err), GQ_ETOOBIG);
	unlink(at(t, "tok"));
	assert_int_equal(gq_kubeconfig_read_token(&c, &tok, &err), GQ_EIO);
	assert_non_null(strstr(err.msg, "tok"));
	assert_null(tok);
	gq_kubeconfig_free(&c);

	/* A missing certificate file fails the load with its path. */
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1', "
			      "certificate-authority: nope.pem}}]\n"
			      "contexts: [{name: x, context: {cluster: c}}]\n"
			      "current-context: x\n"),
			 GQ_EIO);
	assert_non_null(strstr(err.msg, "nope.pem"));
	assert_zeroed(&c);
}

static void test_token_and_token_file(void **state)
{
	struct tmp *t = *state;
	struct gq_kubeconfig c;
	struct gq_err err;
	char *tok = NULL;

	put(t, "tf", "from-file\n");
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
			      "users: [{name: u, user: {token: static, tokenFile: tf}}]\n"
			      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
			      "current-context: x\n"),
			 GQ_OK);
	/* The file wins; when it disappears the static token is used. */
	assert_int_equal(gq_kubeconfig_read_token(&c, &tok, &err), GQ_OK);
	assert_string_equal(tok, "from-file");
	free(tok);
	unlink(at(t, "tf"));
	assert_int_equal(gq_kubeconfig_read_token(&c, &tok, &err), GQ_OK);
	assert_string_equal(tok, "static");
	free(tok);
	gq_kubeconfig_free(&c);

	/* At load time a tokenFile must be readable even with a static token. */
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
			      "users: [{name: u, user: {token: static, tokenFile: tf}}]\n"
			      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
			      "current-context: x\n"),
			 GQ_EIO);

	/* No credentials at all: no token, no error. */
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
			      "users: [{name: u, user: {}}]\n"
			      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
			      "current-context: x\n"),
			 GQ_OK);
	tok = (char *)"sentinel";
	assert_int_equal(gq_kubeconfig_read_token(&c, &tok, &err), GQ_OK);
	assert_null(tok);
	gq_kubeconfig_free(&c);

	/* A token that would break the HTTP header is refused. */
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
			      "users: [{name: u, user: {token: \"a\\r\\nX-Evil: 1\"}}]\n"
			      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
			      "current-context: x\n"),
			 GQ_EINVAL);
}

static const char two_contexts[] =
    "clusters:\n"
    "- name: one\n"
    "  cluster: {server: 'https://one:6443'}\n"
    "- name: two\n"
    "  cluster: {server: 'https://two:6443', insecure-skip-tls-verify: true}\n"
    "users:\n"
    "- name: alice\n"
    "  user: {token: alice-token}\n"
    "- name: bob\n"
    "  user: {token: bob-token}\n"
    "contexts:\n"
    "- name: first\n"
    "  context: {cluster: one, user: alice}\n"
    "- name: second\n"
    "  context: {cluster: two, user: bob, namespace: ns2}\n"
    "current-context: first\n";

static void test_context_selection(void **state)
{
	struct tmp *t = *state;
	struct gq_kubeconfig c;
	struct gq_err err;

	assert_int_equal(load(t, &c, NULL, &err, "%s", two_contexts), GQ_OK);
	assert_string_equal(c.context, "first");
	assert_string_equal(c.server, "https://one:6443");
	assert_string_equal(c.token, "alice-token");
	assert_string_equal(c.namespace, "default");
	assert_false(c.insecure_skip_tls_verify);
	gq_kubeconfig_free(&c);

	assert_int_equal(load(t, &c, "second", &err, "%s", two_contexts), GQ_OK);
	assert_string_equal(c.context, "second");
	assert_string_equal(c.server, "https://two:6443");
	assert_string_equal(c.token, "bob-token");
	assert_string_equal(c.namespace, "ns2");
	assert_true(c.insecure_skip_tls_verify);
	assert_null(c.ca_pem);
	gq_kubeconfig_free(&c);

	/* Plain YAML 1.1 words as names read as client-go reads them ("true"). */
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: 1, cluster: {server: 'https://h:1'}}]\n"
			      "contexts: [{name: on, context: {cluster: 1}}]\n"
			      "current-context: on\n"),
			 GQ_OK);
	assert_string_equal(c.context, "true");
	assert_string_equal(c.server, "https://h:1");
	gq_kubeconfig_free(&c);

	assert_int_equal(load(t, &c, "third", &err, "%s", two_contexts), GQ_EINVAL);
	assert_non_null(strstr(err.msg, "context \"third\" not found"));
	assert_zeroed(&c);
}

static void test_default_path_from_env(void **state)
{
	struct tmp *t = *state;
	struct gq_kubeconfig c;
	struct gq_err err = {0};
	char env[512];
	char *old = getenv("KUBECONFIG") ? strdup(getenv("KUBECONFIG")) : NULL;

	put(t, "config", two_contexts);
	/* The first non-empty entry of a KUBECONFIG list. */
	snprintf(env, sizeof(env), ":%s:/nonexistent/other", at(t, "config"));
	setenv("KUBECONFIG", env, 1);
	assert_int_equal(gq_kubeconfig_load(&c, NULL, "second", &err), GQ_OK);
	assert_string_equal(c.server, "https://two:6443");
	gq_kubeconfig_free(&c);
	setenv("KUBECONFIG", "/nonexistent/kubeconfig", 1);
	assert_int_equal(gq_kubeconfig_load(&c, NULL, NULL, &err), GQ_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/kubeconfig"));
	if (old != NULL)
		setenv("KUBECONFIG", old, 1);
	else
		unsetenv("KUBECONFIG");
	free(old);
}

static void test_insecure_flag(void **state)
{
	struct tmp *t = *state;
	struct gq_kubeconfig c;
	struct gq_err err;

	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1', "
			      "insecure-skip-tls-verify: true, certificate-authority-data: %s}}]\n"
			      "contexts: [{name: x, context: {cluster: c}}]\n"
			      "current-context: x\n",
			      b64(CA_PEM)),
			 GQ_EINVAL);
	assert_non_null(strstr(err.msg, "insecure-skip-tls-verify"));
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1', "
			      "insecure-skip-tls-verify: \"yes\"}}]\n"
			      "contexts: [{name: x, context: {cluster: c}}]\n"
			      "current-context: x\n"),
			 GQ_EINVAL);
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1', "
			      "insecure-skip-tls-verify: false}}]\n"
			      "contexts: [{name: x, context: {cluster: c}}]\n"
			      "current-context: x\n"),
			 GQ_OK);
	assert_false(c.insecure_skip_tls_verify);
	gq_kubeconfig_free(&c);
}

static void test_unsupported_users(void **state)
{
	struct tmp *t = *state;
	struct gq_kubeconfig c;
	struct gq_err err;

	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
			      "users:\n"
			      "- name: eks-user\n"
			      "  user:\n"
			      "    exec:\n"
			      "      apiVersion: client.authentication.k8s.io/v1beta1\n"
			      "      command: aws\n"
			      "      args: [eks, get-token]\n"
			      "contexts: [{name: x, context: {cluster: c, user: eks-user}}]\n"
			      "current-context: x\n"),
			 GQ_EUNSUPPORTED);
	assert_string_equal(err.msg, "kubeconfig user eks-user uses an exec credential plugin, "
				     "which gpuquota does not support; use a token or client "
				     "certificate");
	assert_zeroed(&c);
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
			      "users: [{name: g, user: {auth-provider: {name: gcp}}}]\n"
			      "contexts: [{name: x, context: {cluster: c, user: g}}]\n"
			      "current-context: x\n"),
			 GQ_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "auth-provider"));
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
			      "users: [{name: b, user: {username: a, password: b}}]\n"
			      "contexts: [{name: x, context: {cluster: c, user: b}}]\n"
			      "current-context: x\n"),
			 GQ_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "basic"));
}

static void test_missing_pieces(void **state)
{
	struct tmp *t = *state;
	struct gq_kubeconfig c;
	struct gq_err err;

	/* The context's cluster, user, or the cluster's server. */
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
			      "contexts: [{name: x, context: {cluster: gone, user: u}}]\n"
			      "current-context: x\n"),
			 GQ_EINVAL);
	assert_non_null(strstr(err.msg, "cluster \"gone\""));
	assert_zeroed(&c);
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
			      "contexts: [{name: x, context: {cluster: c, user: ghost}}]\n"
			      "current-context: x\n"),
			 GQ_EINVAL);
	assert_non_null(strstr(err.msg, "user \"ghost\""));
	assert_zeroed(&c);
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {certificate-authority-data: %s}}]\n"
			      "contexts: [{name: x, context: {cluster: c}}]\n"
			      "current-context: x\n",
			      b64(CA_PEM)),
			 GQ_EINVAL);
	assert_non_null(strstr(err.msg, "no server"));
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
			      "contexts: [{name: x, context: {user: u}}]\n"
			      "current-context: x\n"),
			 GQ_EINVAL);
	assert_non_null(strstr(err.msg, "names no cluster"));
	/* No current-context and none asked for. */
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
			      "contexts: [{name: x, context: {cluster: c}}]\n"),
			 GQ_EINVAL);
	assert_non_null(strstr(err.msg, "current-context"));
	/* A certificate without its key. */
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
			      "users: [{name: u, user: {client-certificate-data: %s}}]\n"
			      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
			      "current-context: x\n",
			      b64(CERT_PEM)),
			 GQ_EINVAL);
	assert_non_null(strstr(err.msg, "no client key"));
	/* Wrong types. */
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: {name: c}\n"
			      "contexts: [{name: x, context: {cluster: c}}]\n"
			      "current-context: x\n"),
			 GQ_EINVAL);
	assert_int_equal(load(t, &c, NULL, &err,
			      "clusters: [{name: c, cluster: {server: [a]}}]\n"
			      "contexts: [{name: x, context: {cluster: c}}]\n"
			      "current-context: x\n"),
			 GQ_EINVAL);
	assert_int_equal(load(t, &c, NULL, &err, "- just\n- a list\n"), GQ_EINVAL);
	/* Empty file, bad YAML (with its position), missing file. */
	assert_int_equal(load(t, &c, NULL, &err, "# nothing\n"), GQ_EINVAL);
	assert_non_null(strstr(err.msg, "empty"));
	assert_int_equal(load(t, &c, NULL, &err, "clusters: [\n"), GQ_EPARSE);
	assert_non_null(strstr(err.msg, "config:2:1:"));
	assert_int_equal(gq_kubeconfig_load(&c, at(t, "absent"), NULL, &err), GQ_EIO);
	assert_zeroed(&c);
}

static void test_file_size_cap(void **state)
{
	struct tmp *t = *state;
	struct gq_kubeconfig c;
	struct gq_err err = {0};
	char *big = malloc(GQ_KUBECONFIG_MAX_FILE + 2);

	assert_non_null(big);
	memset(big, '#', GQ_KUBECONFIG_MAX_FILE + 1);
	big[GQ_KUBECONFIG_MAX_FILE + 1] = '\0';
	put(t, "config", big);
	free(big);
	assert_int_equal(gq_kubeconfig_load(&c, at(t, "config"), NULL, &err), GQ_ETOOBIG);
	assert_zeroed(&c);
}

static void test_in_cluster(void **state)
{
	struct tmp *t = *state;
	struct gq_kubeconfig c;
	struct gq_err err = {0};
	char *tok = NULL;

	/* Not in a cluster. */
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	assert_int_equal(gq_kubeconfig_in_cluster(&c, &err), GQ_EINVAL);
	assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_HOST"));
	assert_zeroed(&c);

	setenv("GQ_SA_DIR", t->dir, 1);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	/* The token file is required. */
	put(t, "ca.crt", CA_PEM);
	assert_int_equal(gq_kubeconfig_in_cluster(&c, &err), GQ_EIO);
	assert_non_null(strstr(err.msg, "token"));
	assert_zeroed(&c);

	put(t, "token", "sa-token-1\n");
	put(t, "namespace", "gpuquota-system\n");
	assert_int_equal(gq_kubeconfig_in_cluster(&c, &err), GQ_OK);
	assert_string_equal(c.server, "https://10.96.0.1:443");
	assert_string_equal(c.ca_pem, CA_PEM);
	assert_null(c.token);
	assert_string_equal(c.token_file, at(t, "token"));
	assert_string_equal(c.namespace, "gpuquota-system");
	assert_string_equal(c.context, "in-cluster");
	assert_int_equal(gq_kubeconfig_read_token(&c, &tok, &err), GQ_OK);
	assert_string_equal(tok, "sa-token-1");
	free(tok);
	put(t, "token", "sa-token-2");
	assert_int_equal(gq_kubeconfig_read_token(&c, &tok, &err), GQ_OK);
	assert_string_equal(tok, "sa-token-2");
	free(tok);
	gq_kubeconfig_free(&c);

	/* IPv6 service address; no namespace file → "default". */
	unlink(at(t, "namespace"));
	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	assert_int_equal(gq_kubeconfig_in_cluster(&c, &err), GQ_OK);
	assert_string_equal(c.server, "https://[fd00:10:96::1]:6443");
	assert_string_equal(c.namespace, "default");
	gq_kubeconfig_free(&c);

	/* Garbage in the environment is refused, a missing CA too. */
	setenv("KUBERNETES_SERVICE_PORT", "443/evil", 1);
	assert_int_equal(gq_kubeconfig_in_cluster(&c, &err), GQ_EINVAL);
	setenv("KUBERNETES_SERVICE_PORT", "70000", 1);
	assert_int_equal(gq_kubeconfig_in_cluster(&c, &err), GQ_EINVAL);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	setenv("KUBERNETES_SERVICE_HOST", "evil.example/path", 1);
	assert_int_equal(gq_kubeconfig_in_cluster(&c, &err), GQ_EINVAL);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	unlink(at(t, "ca.crt"));
	assert_int_equal(gq_kubeconfig_in_cluster(&c, &err), GQ_EIO);
	assert_non_null(strstr(err.msg, "ca.crt"));
	assert_zeroed(&c);
}

/* The test cluster's own kubeconfig, when this checkout has one running. */
static void test_sample_cluster_kubeconfig(void **state)
{
	const char *path = ".cluster/kubeconfig";
	struct gq_kubeconfig c;
	struct gq_err err = {0};
	char *tok = NULL;

	(void)state;
	if (access(path, R_OK) != 0) {
		skip();
		return;
	}
	assert_int_equal(gq_kubeconfig_load(&c, path, NULL, &err), GQ_OK);
	assert_int_equal(strncmp(c.server, "https://", 8), 0);
	assert_non_null(c.ca_pem);
	assert_non_null(strstr(c.ca_pem, "-----BEGIN CERTIFICATE-----"));
	assert_int_equal(gq_kubeconfig_read_token(&c, &tok, &err), GQ_OK);
	assert_true(tok != NULL || c.client_cert_pem != NULL);
	free(tok);
	gq_kubeconfig_free(&c);
}

/* The in-memory parser: not NUL-terminated input, relative files resolved
 * against the directory of the path it is given. */
static void test_parse_in_memory(void **state)
{
	struct tmp *t = *state;
	struct gq_kubeconfig c;
	struct gq_err err = {0};
	char text[1024];
	int n;

	put(t, "ca.crt", CA_PEM);
	n = snprintf(text, sizeof(text),
		     "clusters:\n- name: c\n  cluster: {server: \"https://h:6443/\", "
		     "certificate-authority: ca.crt}\n"
		     "contexts:\n- {name: x, context: {cluster: c}}\ncurrent-context: x\n");
	text[n] = '#'; /* the parser must stop at len */
	assert_int_equal(gq_kubeconfig_parse(&c, text, (size_t)n, at(t, "kubeconfig"), NULL, &err),
			 GQ_OK);
	assert_string_equal(c.server, "https://h:6443");
	assert_string_equal(c.ca_pem, CA_PEM);
	assert_string_equal(c.context, "x");
	gq_kubeconfig_free(&c);

	assert_int_equal(gq_kubeconfig_parse(&c, text, 0, "mem", NULL, &err), GQ_EINVAL);
	assert_string_equal(err.msg, "kubeconfig mem is empty");
	assert_zeroed(&c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tmp_setup, tmp_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_inline_data),
	    T(test_base64_padding),
	    T(test_file_forms),
	    T(test_token_and_token_file),
	    T(test_context_selection),
	    T(test_default_path_from_env),
	    T(test_insecure_flag),
	    T(test_unsupported_users),
	    T(test_missing_pieces),
	    T(test_file_size_cap),
	    T(test_in_cluster),
	    T(test_parse_in_memory),
	    cmocka_unit_test(test_sample_cluster_kubeconfig),
	};
	return cmocka_run_group_tests_name("kubeconfig", tests, NULL, NULL);
}
