/*
 * fuzz_kubeconfig.c - libFuzzer target for kubeconfig.c (gq_kubeconfig_parse,
 * the in-memory half of gq_kubeconfig_load).
 *
 * Input: kubeconfig text. An input starting with '@' names the context to
 * select on its first line ("@ctx\n..."; --context), otherwise the
 * current-context is used. The kubeconfig is parsed as if it were the file
 * kubeconfig in a scratch directory made at start-up that holds ca.crt,
 * client.crt, client.key, token and an empty file empty, so that relative
 * certificate-authority / client-certificate / client-key / tokenFile paths
 * reach the file-reading code.
 *
 * Invariants: the result is GQ_OK or one of the documented errors with a
 * message; on success there is a server without a trailing '/', a
 * namespace and a context, every PEM buffer is NUL-terminated at its
 * length, a client certificate comes with its key, a CA is not combined
 * with insecure-skip-tls-verify, a static token is visible ASCII, and
 * gq_kubeconfig_read_token works; on failure the struct is zeroed. A
 * violated invariant aborts; nothing may crash, leak or trip ASan/UBSan.
 *
 * Build: `make fuzz` (libFuzzer; stdin is /dev/null there, as a kubeconfig
 * may name /dev/stdin); replayed by `make unit` through
 * test/fuzz/standalone.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gq.h"
#include "kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_MAX_INPUT (64u * 1024)

static char fuzz_dir[64];
static char fuzz_path[96];

static const struct {
	const char *name;
	const char *text;
} fuzz_files[] = {
    {"ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
    {"client.crt", "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n"},
    {"client.key", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"},
    {"token", "  eyJhbGciOiJSUzI1NiJ9.e30.c2ln\n"},
    {"empty", ""},
};

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_kubeconfig: invariant violated: %s\n", what);
		abort();
	}
}

static void remove_dir(void)
{
	char p[128];

	for (size_t i = 0; i < GQ_ARRAY_LEN(fuzz_files); i++) {
		snprintf(p, sizeof(p), "%s/%s", fuzz_dir, fuzz_files[i].name);
		unlink(p);
	}
	rmdir(fuzz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char p[128];
	FILE *f;

	(void)argc;
	(void)argv;
	snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/gq-fuzz-kubeconfig-XXXXXX");
	if (mkdtemp(fuzz_dir) == NULL) {
		perror("fuzz_kubeconfig: mkdtemp");
		abort();
	}
	for (size_t i = 0; i < GQ_ARRAY_LEN(fuzz_files); i++) {
		snprintf(p, sizeof(p), "%s/%s", fuzz_dir, fuzz_files[i].name);
		f = fopen(p, "w");
		check(f != NULL && fputs(fuzz_files[i].text, f) >= 0 && fclose(f) == 0,
		      "scratch file");
	}
	snprintf(fuzz_path, sizeof(fuzz_path), "%s/kubeconfig", fuzz_dir);
	atexit(remove_dir);
	return 0;
}

static void check_pem(const char *pem, size_t len, const char *what)
{
	if (pem == NULL)
		check(len == 0, what);
	else
		check(pem[len] == '\0', what);
}

static void check_ok(const struct gq_kubeconfig *c)
{
	struct gq_err err = {0};
	char *tok = NULL;
	size_t n;
	int rc;

	check(c->server != NULL && c->server[0] != '\0', "server");
	n = strlen(c->server);
	check(n == 1 || c->server[n - 1] != '/', "no trailing slash");
	check(c->namespace != NULL && c->namespace[0] != '\0', "namespace");
	check(c->context != NULL && c->context[0] != '\0', "context");
	check_pem(c->ca_pem, c->ca_pem_len, "CA PEM");
	check_pem(c->client_cert_pem, c->client_cert_pem_len, "client certificate PEM");
	check_pem(c->client_key_pem, c->client_key_pem_len, "client key PEM");
	check((c->client_cert_pem == NULL) == (c->client_key_pem == NULL), "cert with key");
	check(!(c->ca_pem != NULL && c->insecure_skip_tls_verify), "CA and insecure");
	if (c->token != NULL) {
		check(c->token[0] != '\0', "token not empty");
		for (const char *p = c->token; *p; p++)
			check((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f, "token bytes");
	}
	rc = gq_kubeconfig_read_token(c, &tok, &err);
	check(rc == GQ_OK || c->token_file != NULL, "read_token of a static token");
	if (rc == GQ_OK)
		check((tok != NULL) == (c->token != NULL || c->token_file != NULL), "token found");
	free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gq_kubeconfig c;
	struct gq_err err = {0};
	char context[65] = "";
	const char *nl;
	size_t skip = 0, clen;
	int rc;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (size > 0 && data[0] == '@') {
		nl = memchr(data, '\n', size);
		clen = (nl ? (size_t)(nl - (const char *)data) : size) - 1;
		skip = 1 + clen + (nl != NULL);
		memcpy(context, data + 1, clen < 64 ? clen : 64);
	}
	rc = gq_kubeconfig_parse(&c, (const char *)data + skip, size - skip, fuzz_path,
				 skip ? context : NULL, &err);
	if (rc == GQ_OK) {
		check_ok(&c);
		gq_kubeconfig_free(&c);
		check(c.server == NULL && c.token == NULL, "free zeroes");
		return 0;
	}
	check(rc == GQ_EIO || rc == GQ_ETOOBIG || rc == GQ_EPARSE || rc == GQ_EINVAL ||
		  rc == GQ_EUNSUPPORTED,
	      "error code");
	check(err.msg[0] != '\0', "error message");
	check(c.server == NULL && c.ca_pem == NULL && c.token == NULL && c.namespace == NULL &&
		  c.context == NULL && c.token_file == NULL,
	      "zeroed on failure");
	return 0;
}
