/*
 * kclient.c - Kubernetes REST client over libcurl (see kclient.h).
 *
 * Synchronous requests use one fresh easy handle each, attached to a CURLSH
 * that shares the connection pool, DNS cache and TLS sessions between all
 * threads; the share's locks are pthread mutexes, one per curl_lock_data.
 * Synchronous requests speak HTTP/1.1: a shared connection is then used by
 * one transfer at a time, which is what a pool shared between blocking
 * threads needs. Watch handles are not attached to the share; they live on
 * the informer's multi handle, which keeps its own connections (and may
 * multiplex the watches over HTTP/2).
 */
#include "kclient.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "buf.h"
#include "log.h"

#ifndef GQ_VERSION
#define GQ_VERSION "dev"
#endif

/* Longest path (with query) accepted by a request. */
#define KC_PATH_MAX 8192
/* Most pages one LIST follows before giving up (a runaway continue loop). */
#define KC_LIST_MAX_PAGES 100000
/* Bound on the body of an error response that we parse for its message. */
#define KC_STATUS_PARSE_MAX ((size_t)1 << 20)

/* Indices of the per-method request counters. */
enum kc_method {
	KC_M_GET,
	KC_M_POST,
	KC_M_PUT,
	KC_M_PATCH,
	KC_M_DELETE,
	KC_M_OTHER,
	KC_M_COUNT,
};

static const char *const kc_method_names[KC_M_COUNT] = {
    "GET", "POST", "PUT", "PATCH", "DELETE", "OTHER",
};

/* A PEM blob copied from the kubeconfig (data NULL when absent). */
struct kc_blob {
	char *data; /* heap copy */
	size_t len; /* bytes in data */
};

struct gq_kclient {
	char *base_url; /* server URL without trailing '/' (host may be the TLS name) */
	struct curl_slist *connect_to; /* CURLOPT_CONNECT_TO entry for tls_server_name, or NULL */
	struct kc_blob ca;	       /* CA bundle (PEM) or empty: system CAs */
	struct kc_blob cert;	       /* client certificate (PEM) or empty */
	struct kc_blob key;	       /* client key (PEM) or empty */
	bool insecure;		       /* skip TLS peer and host verification */
	char *user_agent;	       /* "gpuquota-controller/<version>" */

	char *cfg_token;	       /* copy of the kubeconfig's static token or NULL */
	char *cfg_token_file;	       /* copy of the kubeconfig's token file path or NULL */
	bool token_source;	       /* cfg has a token or a token file */
	bool token_file;	       /* the token comes from a file (re-read) */
	pthread_mutex_t token_lock;    /* protects the three fields below */
	char *token;		       /* current bearer token or NULL */
	struct timespec token_read_at; /* CLOCK_MONOTONIC time of the last read */
	bool token_stale;	       /* re-read before the next use */

	CURLSH *share;					  /* connections, DNS, TLS sessions */
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST]; /* one per curl_lock_data */

	_Atomic uint64_t n_method[KC_M_COUNT]; /* requests per method */
	_Atomic uint64_t n_writes;	       /* POST/PUT/PATCH/DELETE requests */
	_Atomic uint64_t n_refused;	       /* writes the gate refused (never sent) */

	int64_t (*write_gate)(void *arg); /* see gq_kclient_set_write_gate */
	void *write_gate_arg;
	long timeout_ms; /* total timeout of synchronous requests */
};

/* State kept on a watch handle through CURLOPT_PRIVATE. */
struct kc_easy {
	struct curl_slist *headers;   /* request headers, freed with the handle */
	void *payload;		      /* the caller's write payload */
	char errbuf[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER */
};

/* Write sink of a synchronous request: a bounded buffer. */
struct kc_sink {
	struct gq_buf buf; /* body received so far */
	bool toobig;	   /* the body exceeded buf.max */
};

/* ---- small helpers ---------------------------------------------------- */

static enum kc_method method_index(const char *method)
{
	for (int i = 0; i < KC_M_OTHER; i++) {
		if (strcmp(method, kc_method_names[i]) == 0)
			return (enum kc_method)i;
	}
	return KC_M_OTHER;
}

static bool is_write(const char *method)
{
	enum kc_method m = method_index(method);

	return m == KC_M_POST || m == KC_M_PUT || m == KC_M_PATCH || m == KC_M_DELETE;
}

static void count_request(struct gq_kclient *c, const char *method)
{
	enum kc_method m = method_index(method);

	atomic_fetch_add(&c->n_method[m], 1);
	if (m == KC_M_POST || m == KC_M_PUT || m == KC_M_PATCH || m == KC_M_DELETE)
		atomic_fetch_add(&c->n_writes, 1);
}

static void blob_copy(struct kc_blob *b, const char *data, size_t len)
{
	if (data == NULL || len == 0) {
		b->data = NULL;
		b->len = 0;
		return;
	}
	b->data = gq_strndup(data, len);
	b->len = len;
}

static void blob_free(struct kc_blob *b)
{
	if (b->data != NULL) {
		/* Key material: do not leave it in freed memory. */
		memset(b->data, 0, b->len);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
}

/* Frees a heap string holding a credential, wiping it first (NULL is fine). */
static void secret_free(char *s)
{
	if (s == NULL)
		return;
	memset(s, 0, strlen(s));
	free(s);
}

static bool valid_path(const char *path)
{
	size_t n;

	if (path == NULL || path[0] != '/')
		return false;
	n = strnlen(path, KC_PATH_MAX + 1);
	if (n > KC_PATH_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)path[i];

		if (ch <= 0x20 || ch >= 0x7f)
			return false;
	}
	return true;
}

/*
 * Copies text into err->msg, turning control bytes into spaces and bytes
 * that are not UTF-8 into '?', and never cutting a character: the message
 * may end up in a JSON condition message, which must be valid UTF-8.
 */
static void err_set_text(struct gq_err *err, const char *text, size_t len)
{
	size_t i = 0, o = 0, n;

	while (i < len) {
		unsigned char ch = (unsigned char)text[i];

		n = gq_utf8_char_len(text + i, len - i);
		if (o + (n ? n : 1) > sizeof(err->msg) - 1)
			break;
		if (n == 0)
			err->msg[o++] = '?';
		else if (n == 1)
			err->msg[o++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
		else {
			memcpy(err->msg + o, text + i, n);
			o += n;
		}
		i += n ? n : 1;
	}
	err->msg[o] = '\0';
}

/* ---- curl share locking ----------------------------------------------- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userptr)
{
	struct gq_kclient *c = userptr;

	(void)h;
	(void)access;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userptr)
{
	struct gq_kclient *c = userptr;

	(void)h;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&c->share_locks[data]);
}

/* ---- bearer token ----------------------------------------------------- */

static double elapsed_s(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/*
 * Reads the token through the kubeconfig module and stores it as the current
 * one. Called with token_lock held. On failure the previous token is kept.
 */
static int token_reload_locked(struct gq_kclient *c, struct gq_err *err)
{
	struct gq_kubeconfig kc = {0};
	char *tok = NULL;
	int rc;

	kc.token = c->cfg_token;
	kc.token_file = c->cfg_token_file;
	rc = gq_kubeconfig_read_token(&kc, &tok, err);
	clock_gettime(CLOCK_MONOTONIC, &c->token_read_at);
	if (rc != GQ_OK)
		return rc;
	secret_free(c->token);
	c->token = tok;
	c->token_stale = false;
	return GQ_OK;
}

/*
 * Returns a copy of the token to send (caller frees; NULL without a token),
 * re-reading a token file first when it is stale or older than 60 s. A failed
 * re-read keeps the previous token (the file may be mid-rotation) and only
 * logs; the next use tries again.
 */
static char *token_get(struct gq_kclient *c)
{
	struct gq_err e = {0};
	char *tok = NULL;

	if (!c->token_source)
		return NULL;
	pthread_mutex_lock(&c->token_lock);
	if (c->token_file &&
	    (c->token_stale || elapsed_s(&c->token_read_at) >= GQ_KCLIENT_TOKEN_REFRESH_S)) {
		if (token_reload_locked(c, &e) != GQ_OK)
			gq_warn("kclient: re-reading the token file failed | err=%s", e.msg);
	}
	if (c->token != NULL)
		tok = gq_strdup(c->token);
	pthread_mutex_unlock(&c->token_lock);
	return tok;
}

/*
 * After a 401: re-reads the token (file-backed tokens only) and reports
 * whether the current token differs from `used`, the one the failed request
 * carried (another thread may already have re-read it).
 */
static bool token_refresh_after_401(struct gq_kclient *c, const char *used)
{
	struct gq_err e = {0};
	bool changed;

	if (!c->token_file)
		return false;
	pthread_mutex_lock(&c->token_lock);
	if (c->token == NULL || used == NULL || strcmp(c->token, used) == 0) {
		if (token_reload_locked(c, &e) != GQ_OK)
			gq_warn("kclient: re-reading the token file failed | err=%s", e.msg);
	}
	changed = c->token != NULL && (used == NULL || strcmp(c->token, used) != 0);
	pthread_mutex_unlock(&c->token_lock);
	return changed;
}

void gq_kclient_token_expired(struct gq_kclient *c)
{
	pthread_mutex_lock(&c->token_lock);
	c->token_stale = true;
	pthread_mutex_unlock(&c->token_lock);
}

/* ---- construction ----------------------------------------------------- */

/*
 * Derives base_url (and connect_to when a TLS server name overrides the
 * host) from the server URL. With tls_server_name the URL names that host,
 * so libcurl sends it as SNI and verifies the certificate against it, while
 * CURLOPT_CONNECT_TO still connects to the real address.
 */
static int setup_url(struct gq_kclient *c, const char *server, const char *tls_name,
		     struct gq_err *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *url = NULL, *query = NULL;
	size_t n;
	int rc = GQ_EINVAL;

	if (u == NULL) {
		rc = gq_err_set(err, GQ_EIO, "curl_url failed");
		goto out;
	}
	if (server == NULL || curl_url_set(u, CURLUPART_URL, server, 0) != CURLUE_OK) {
		gq_err_set(err, rc, "invalid server URL '%s'", server ? server : "(null)");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
		gq_err_set(err, rc, "server URL '%s': scheme must be https or http", server);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
		gq_err_set(err, rc, "server URL '%s' must not have a query", server);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		gq_err_set(err, rc, "server URL '%s' has no host", server);
		goto out;
	}
	if (tls_name != NULL && tls_name[0] != '\0' && strcmp(tls_name, host) != 0) {
		char *entry;

		if (curl_url_set(u, CURLUPART_HOST, tls_name, 0) != CURLUE_OK) {
			gq_err_set(err, rc, "invalid tls-server-name '%s'", tls_name);
			goto out;
		}
		entry = gq_asprintf("%s:%s:%s:%s", tls_name, port, host, port);
		c->connect_to = curl_slist_append(NULL, entry);
		free(entry);
		if (c->connect_to == NULL) {
			rc = gq_err_set(err, GQ_EIO, "curl_slist_append failed");
			goto out;
		}
	}
	if (curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
		gq_err_set(err, rc, "invalid server URL '%s'", server);
		goto out;
	}
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	c->base_url = gq_strndup(url, n);
	rc = GQ_OK;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(query);
	curl_free(url);
	curl_url_cleanup(u);
	return rc;
}

/*
 * Creates the client: copies the URL and TLS material, reads the token
 * once, sets up the share handle. See kclient.h for ownership.
 */
int gq_kclient_new(struct gq_kclient **out, const struct gq_kubeconfig *cfg, struct gq_err *err)
{
	struct gq_kclient *c;
	int rc;

	*out = NULL;
	if (cfg == NULL)
		return gq_err_set(err, GQ_EINVAL, "kclient: no configuration");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return gq_err_set(err, GQ_EIO, "curl_global_init failed");
	c = gq_calloc(1, sizeof(*c));
	pthread_mutex_init(&c->token_lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	for (int i = 0; i < KC_M_COUNT; i++)
		atomic_init(&c->n_method[i], 0);
	atomic_init(&c->n_writes, 0);
	atomic_init(&c->n_refused, 0);
	c->timeout_ms = GQ_KCLIENT_REQUEST_TIMEOUT_MS;
	c->user_agent = gq_strdup(GQ_COMPONENT "/" GQ_VERSION);

	rc = setup_url(c, cfg->server, cfg->tls_server_name, err);
	if (rc != GQ_OK)
		goto fail;
	blob_copy(&c->ca, cfg->ca_pem, cfg->ca_pem_len);
	blob_copy(&c->cert, cfg->client_cert_pem, cfg->client_cert_pem_len);
	blob_copy(&c->key, cfg->client_key_pem, cfg->client_key_pem_len);
	if ((c->cert.data == NULL) != (c->key.data == NULL)) {
		rc = gq_err_set(err, GQ_EINVAL,
				"kclient: a client certificate needs a key and vice versa");
		goto fail;
	}
	c->insecure = cfg->insecure_skip_tls_verify;
	if (c->insecure && strncmp(c->base_url, "https:", 6) == 0)
		gq_warn("kclient: TLS verification disabled (insecure-skip-tls-verify) | server=%s",
			c->base_url);

	if (cfg->token != NULL && cfg->token[0] != '\0')
		c->cfg_token = gq_strdup(cfg->token);
	if (cfg->token_file != NULL && cfg->token_file[0] != '\0')
		c->cfg_token_file = gq_strdup(cfg->token_file);
	c->token_file = c->cfg_token_file != NULL;
	c->token_source = c->token_file || c->cfg_token != NULL;
	if (c->token_source) {
		pthread_mutex_lock(&c->token_lock);
		rc = token_reload_locked(c, err);
		pthread_mutex_unlock(&c->token_lock);
		if (rc != GQ_OK)
			goto fail;
	}

	c->share = curl_share_init();
	if (c->share == NULL) {
		rc = gq_err_set(err, GQ_EIO, "curl_share_init failed");
		goto fail;
	}
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	*out = c;
	return GQ_OK;
fail:
	gq_kclient_free(c);
	return rc;
}

void gq_kclient_free(struct gq_kclient *c)
{
	if (c == NULL)
		return;
	if (c->share != NULL)
		curl_share_cleanup(c->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->token_lock);
	secret_free(c->token);
	secret_free(c->cfg_token);
	free(c->cfg_token_file);
	blob_free(&c->ca);
	blob_free(&c->cert);
	blob_free(&c->key);
	curl_slist_free_all(c->connect_to);
	free(c->base_url);
	free(c->user_agent);
	free(c);
	curl_global_cleanup();
}

/* ---- easy handle setup ------------------------------------------------ */

/*
 * Builds the header list of a request: Accept, optional Content-Type, the
 * bearer token, and an empty Expect (no 100-continue round trip). The list is
 * owned by the caller (curl_slist_free_all); NULL on allocation failure.
 */
static struct curl_slist *build_headers(const char *content_type, const char *token)
{
	struct curl_slist *h = NULL, *t;
	char *line;

	h = curl_slist_append(h, "Accept: application/json");
	if (h == NULL)
		return NULL;
	if (content_type != NULL) {
		line = gq_asprintf("Content-Type: %s", content_type);
		t = curl_slist_append(h, line);
		free(line);
		if (t == NULL)
			goto fail;
	}
	if (token != NULL) {
		line = gq_asprintf("Authorization: Bearer %s", token);
		t = curl_slist_append(h, line);
		secret_free(line);
		if (t == NULL)
			goto fail;
	}
	if (curl_slist_append(h, "Expect:") == NULL)
		goto fail;
	return h;
fail:
	curl_slist_free_all(h);
	return NULL;
}

/*
 * Sets the options every handle shares: URL, protocols, user agent,
 * timeouts, keepalive, TLS material and verification, headers. Returns
 * GQ_OK or GQ_EIO when libcurl rejects an option (e.g. TLS blobs not
 * supported by the linked libcurl).
 */
static int easy_setup(struct gq_kclient *c, CURL *h, const char *path, struct curl_slist *headers,
		      char *errbuf, struct gq_err *err)
{
	char *url = gq_asprintf("%s%s", c->base_url, path);
	CURLcode cc = CURLE_OK;
	int rc = GQ_OK;

	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_setopt(h, CURLOPT_URL, url);
	free(url);
	if (cc != CURLE_OK)
		goto fail;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "gzip");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, GQ_KCLIENT_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 15L);
	if (c->connect_to != NULL)
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, c->connect_to);
	if (c->ca.data != NULL) {
		struct curl_blob b = {c->ca.data, c->ca.len, CURL_BLOB_NOCOPY};

		/* Trust only the cluster CA, not the system bundle as well. */
		curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
		if ((cc = curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b)) != CURLE_OK)
			goto fail;
	}
	if (c->cert.data != NULL) {
		struct curl_blob cb = {c->cert.data, c->cert.len, CURL_BLOB_NOCOPY};
		struct curl_blob kb = {c->key.data, c->key.len, CURL_BLOB_NOCOPY};

		if ((cc = curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb)) != CURLE_OK ||
		    (cc = curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM")) != CURLE_OK ||
		    (cc = curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb)) != CURLE_OK ||
		    (cc = curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM")) != CURLE_OK)
			goto fail;
	}
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
	return rc;
fail:
	return gq_err_set(err, GQ_EIO, "kclient: curl option rejected: %s", curl_easy_strerror(cc));
}

/* ---- synchronous requests --------------------------------------------- */

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct kc_sink *s = userdata;
	size_t n = size * nmemb;

	if (gq_buf_append(&s->buf, ptr, n) != GQ_OK) {
		s->toobig = true;
		return 0;
	}
	return n;
}

/*
 * Sends one request with the given token and collects the body into sink.
 * *status receives the HTTP status (0 when none). Returns GQ_OK when a
 * complete response arrived (whatever its status), GQ_ETOOBIG or GQ_EIO.
 */
static int perform_once(struct gq_kclient *c, const char *method, const char *path,
			const char *content_type, const char *body, size_t body_len,
			const char *token, struct kc_sink *sink, int *status, struct gq_err *err)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *headers = NULL;
	CURL *h = NULL;
	CURLcode cc;
	long code = 0;
	int rc;

	*status = 0;
	headers = build_headers(body != NULL ? content_type : NULL, token);
	h = curl_easy_init();
	if (headers == NULL || h == NULL) {
		rc = gq_err_set(err, GQ_EIO, "kclient: curl allocation failed");
		goto out;
	}
	rc = easy_setup(c, h, path, headers, errbuf, err);
	if (rc != GQ_OK)
		goto out;
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	{
		long timeout = c->timeout_ms;

		/* A gated write may not outlive the gate's budget. */
		if (c->write_gate && is_write(method)) {
			int64_t left = c->write_gate(c->write_gate_arg);

			if (left <= 0) {
				atomic_fetch_add(&c->n_refused, 1);
				rc = gq_err_set(err, GQ_ENOTLEADER,
						"%s %s: not sent: this replica is not the leader",
						method, path);
				goto out;
			}
			if (left < timeout)
				timeout = (long)left;
		}
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);

	count_request(c, method);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (cc == CURLE_WRITE_ERROR && sink->toobig) {
		*status = (int)code;
		rc = gq_err_set(err, GQ_ETOOBIG, "%s %s: response body exceeds %zu bytes", method,
				path, sink->buf.max);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = gq_err_set(err, GQ_EIO, "%s %s: %s", method, path,
				errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	*status = (int)code;
	rc = GQ_OK;
out:
	if (h != NULL)
		curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	return rc;
}

static int status_to_rc(int status)
{
	switch (status) {
	case 401: return GQ_EUNAUTHORIZED;
	case 403: return GQ_EFORBIDDEN;
	case 404: return GQ_ENOTFOUND;
	case 409: return GQ_ECONFLICT;
	case 410: return GQ_EGONE;
	default: return GQ_EHTTP;
	}
}

/* See kclient.h. */
int gq_kclient_http_error(int status, const char *body, size_t len, struct gq_err *err)
{
	int rc = status_to_rc(status);
	size_t i = 0;

	if (err == NULL)
		return rc;
	err->code = status;
	while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
		i++;
	if (i < len && body[i] == '{' && len <= KC_STATUS_PARSE_MAX) {
		char ebuf[128];
		yajl_val doc = yajl_tree_parse(body, ebuf, sizeof(ebuf));
		const char *msg_path[] = {"message", NULL};
		yajl_val msg = doc ? yajl_tree_get(doc, msg_path, yajl_t_string) : NULL;

		if (msg != NULL && msg->u.string[0] != '\0') {
			err_set_text(err, msg->u.string, strlen(msg->u.string));
			yajl_tree_free(doc);
			return rc;
		}
		yajl_tree_free(doc);
	}
	if (len > 0)
		err_set_text(err, body, len);
	else
		gq_err_set(err, rc, "HTTP %d", status);
	return rc;
}

int gq_kclient_request(struct gq_kclient *c, const char *method, const char *path,
		       const char *content_type, const char *body, size_t body_len, size_t max_resp,
		       int *http_status, char **resp_out, struct gq_err *err)
{
	struct kc_sink sink;
	char *token = NULL;
	int status = 0;
	int rc;

	if (http_status != NULL)
		*http_status = 0;
	if (resp_out != NULL)
		*resp_out = NULL;
	if (err != NULL) {
		err->code = 0;
		err->msg[0] = '\0';
	}
	if (method == NULL || method[0] == '\0' || !valid_path(path))
		return gq_err_set(err, GQ_EINVAL, "kclient: invalid method or path '%s'",
				  path ? path : "(null)");
	gq_buf_init(&sink.buf, max_resp ? max_resp : GQ_KCLIENT_MAX_RESP_DEFAULT);
	sink.toobig = false;

	token = token_get(c);
	rc =
	    perform_once(c, method, path, content_type, body, body_len, token, &sink, &status, err);
	if (rc == GQ_OK && status == 401 && token_refresh_after_401(c, token)) {
		secret_free(token);
		token = token_get(c);
		gq_buf_reset(&sink.buf);
		rc = perform_once(c, method, path, content_type, body, body_len, token, &sink,
				  &status, err);
	}
	if (http_status != NULL)
		*http_status = status;
	if (rc != GQ_OK)
		goto out;
	if (status < 200 || status > 299)
		rc = gq_kclient_http_error(status, gq_buf_str(&sink.buf), sink.buf.len, err);
	if (resp_out != NULL)
		*resp_out = gq_buf_steal(&sink.buf);
out:
	secret_free(token);
	gq_buf_free(&sink.buf);
	return rc;
}

/* Parses a NUL-terminated body as JSON into *out (caller frees). */
static int parse_json(const char *method, const char *path, const char *body, yajl_val *out,
		      struct gq_err *err)
{
	char ebuf[256];

	*out = yajl_tree_parse(body, ebuf, sizeof(ebuf));
	if (*out == NULL) {
		size_t n = strcspn(ebuf, "\n");

		return gq_err_set(err, GQ_EPARSE, "%s %s: invalid JSON response: %.*s", method,
				  path, (int)n, ebuf);
	}
	return GQ_OK;
}

/*
 * Sends a request and, when out is non-NULL, parses the 2xx body as JSON into
 * *out (caller frees). The common path of get/apply/patch/create/delete.
 */
static int request_json(struct gq_kclient *c, const char *method, const char *path,
			const char *content_type, const char *body, yajl_val *out,
			struct gq_err *err)
{
	char *resp = NULL;
	int rc;

	if (out != NULL)
		*out = NULL;
	rc = gq_kclient_request(c, method, path, content_type, body, body ? strlen(body) : 0, 0,
				NULL, out != NULL ? &resp : NULL, err);
	if (rc == GQ_OK && out != NULL)
		rc = parse_json(method, path, resp, out, err);
	free(resp);
	return rc;
}

int gq_kclient_get_json(struct gq_kclient *c, const char *path, yajl_val *out, struct gq_err *err)
{
	return request_json(c, "GET", path, NULL, NULL, out, err);
}

int gq_kclient_apply(struct gq_kclient *c, const char *path, const char *field_manager,
		     const char *body, yajl_val *out, struct gq_err *err)
{
	char *fm, *full;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (path == NULL || field_manager == NULL || field_manager[0] == '\0' || body == NULL)
		return gq_err_set(err, GQ_EINVAL, "kclient: apply needs a path, manager and body");
	fm = gq_kclient_escape(field_manager);
	full =
	    gq_asprintf("%s%cfieldManager=%s&force=true", path, strchr(path, '?') ? '&' : '?', fm);
	rc = request_json(c, "PATCH", full, "application/apply-patch+yaml", body, out, err);
	free(full);
	free(fm);
	return rc;
}

int gq_kclient_patch(struct gq_kclient *c, const char *path, const char *patch_type,
		     const char *body, yajl_val *out, struct gq_err *err)
{
	if (patch_type == NULL || body == NULL) {
		if (out != NULL)
			*out = NULL;
		return gq_err_set(err, GQ_EINVAL, "kclient: patch needs a type and a body");
	}
	return request_json(c, "PATCH", path, patch_type, body, out, err);
}

int gq_kclient_create(struct gq_kclient *c, const char *collection_path, const char *body,
		      yajl_val *out, struct gq_err *err)
{
	if (body == NULL) {
		if (out != NULL)
			*out = NULL;
		return gq_err_set(err, GQ_EINVAL, "kclient: create needs a body");
	}
	return request_json(c, "POST", collection_path, "application/json", body, out, err);
}

int gq_kclient_delete(struct gq_kclient *c, const char *path, struct gq_err *err)
{
	return request_json(c, "DELETE", path, NULL, NULL, NULL, err);
}

/* ---- paginated LIST --------------------------------------------------- */

/* path plus limit= and, when cont is non-NULL, continue= (caller frees). */
static char *list_url(const char *path, int page, const char *cont)
{
	char sep = strchr(path, '?') ? '&' : '?';
	char *esc, *url;

	if (cont == NULL)
		return gq_asprintf("%s%climit=%d", path, sep, page);
	esc = gq_kclient_escape(cont);
	url = gq_asprintf("%s%climit=%d&continue=%s", path, sep, page, esc);
	free(esc);
	return url;
}

/*
 * Delivers one page's items to item_cb and extracts its resourceVersion
 * (replacing *rv) and continue token (*cont, NULL on the last page).
 */
static int list_page(const char *path, yajl_val doc, int (*item_cb)(void *, yajl_val),
		     void *payload, char **rv, char **cont, struct gq_err *err)
{
	static const char *items_path[] = {"items", NULL};
	static const char *rv_path[] = {"metadata", "resourceVersion", NULL};
	static const char *cont_path[] = {"metadata", "continue", NULL};
	yajl_val items = yajl_tree_get(doc, items_path, yajl_t_any);
	yajl_val v;
	int rc;

	*cont = NULL;
	if (items == NULL || !(YAJL_IS_ARRAY(items) || YAJL_IS_NULL(items)))
		return gq_err_set(err, GQ_EPARSE, "LIST %s: response has no items array", path);
	if (YAJL_IS_ARRAY(items)) {
		for (size_t i = 0; i < items->u.array.len; i++) {
			rc = item_cb(payload, items->u.array.values[i]);
			if (rc != 0)
				return rc;
		}
	}
	v = yajl_tree_get(doc, rv_path, yajl_t_string);
	free(*rv);
	*rv = gq_strdup(v ? v->u.string : "");
	v = yajl_tree_get(doc, cont_path, yajl_t_string);
	if (v != NULL && v->u.string[0] != '\0')
		*cont = gq_strdup(v->u.string);
	return GQ_OK;
}

/*
 * Paginated LIST (see kclient.h). Each page's tree is freed after its items
 * were delivered; *rv_out is owned by the caller.
 */
int gq_kclient_list(struct gq_kclient *c, const char *path, int page,
		    int (*item_cb)(void *payload, yajl_val item), void (*reset_cb)(void *payload),
		    void *payload, char **rv_out, struct gq_err *err)
{
	char *cont = NULL, *next = NULL, *rv = NULL, *url;
	bool restarted = false;
	yajl_val doc;
	int rc = GQ_OK;

	if (rv_out != NULL)
		*rv_out = NULL;
	if (path == NULL || item_cb == NULL)
		return gq_err_set(err, GQ_EINVAL, "kclient: list needs a path and a callback");
	if (page <= 0)
		page = GQ_KCLIENT_PAGE_DEFAULT;
	for (int pages = 0;; pages++) {
		if (pages >= KC_LIST_MAX_PAGES) {
			rc = gq_err_set(err, GQ_ETOOBIG, "LIST %s: more than %d pages", path,
					KC_LIST_MAX_PAGES);
			goto out;
		}
		url = list_url(path, page, cont);
		rc = gq_kclient_get_json(c, url, &doc, err);
		free(url);
		if (rc == GQ_EGONE && cont != NULL && !restarted) {
			/* The continue token expired: start over, once. */
			restarted = true;
			free(cont);
			cont = NULL;
			if (reset_cb != NULL)
				reset_cb(payload);
			continue;
		}
		if (rc != GQ_OK)
			goto out;
		rc = list_page(path, doc, item_cb, payload, &rv, &next, err);
		yajl_tree_free(doc);
		if (rc != GQ_OK)
			goto out;
		free(cont);
		cont = next;
		next = NULL;
		if (cont == NULL)
			break;
	}
	if (rv_out != NULL) {
		*rv_out = rv;
		rv = NULL;
	}
out:
	free(cont);
	free(rv);
	return rc;
}

/* ---- watch handles ---------------------------------------------------- */

/*
 * Prepares a watch handle (see kclient.h). The kc_easy state (headers,
 * payload, error buffer) hangs off CURLOPT_PRIVATE and is freed by
 * gq_kclient_easy_cleanup().
 */
int gq_kclient_watch_handle(struct gq_kclient *c, CURL **out, const char *path,
			    size_t (*write_cb)(char *, size_t, size_t, void *), void *payload,
			    struct gq_err *err)
{
	struct kc_easy *e = NULL;
	char *token = NULL;
	CURL *h = NULL;
	int rc;

	*out = NULL;
	if (!valid_path(path) || write_cb == NULL)
		return gq_err_set(err, GQ_EINVAL, "kclient: invalid watch path or callback");
	e = gq_calloc(1, sizeof(*e));
	e->payload = payload;
	token = token_get(c);
	e->headers = build_headers(NULL, token);
	secret_free(token);
	h = curl_easy_init();
	if (e->headers == NULL || h == NULL) {
		rc = gq_err_set(err, GQ_EIO, "kclient: curl allocation failed");
		goto fail;
	}
	rc = easy_setup(c, h, path, e->headers, e->errbuf, err);
	if (rc != GQ_OK)
		goto fail;
	curl_easy_setopt(h, CURLOPT_PRIVATE, e);
	curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, GQ_KCLIENT_WATCH_LOW_SPEED_LIMIT);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, GQ_KCLIENT_WATCH_LOW_SPEED_TIME);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, payload);
	count_request(c, "GET");
	*out = h;
	return GQ_OK;
fail:
	if (h != NULL)
		curl_easy_cleanup(h);
	curl_slist_free_all(e->headers);
	free(e);
	return rc;
}

static struct kc_easy *easy_state(CURL *h)
{
	char *p = NULL;

	if (h == NULL || curl_easy_getinfo(h, CURLINFO_PRIVATE, &p) != CURLE_OK)
		return NULL;
	return (struct kc_easy *)(void *)p;
}

void gq_kclient_easy_cleanup(CURL *h)
{
	struct kc_easy *e = easy_state(h);

	if (h == NULL)
		return;
	curl_easy_cleanup(h);
	if (e != NULL) {
		curl_slist_free_all(e->headers);
		free(e);
	}
}

void *gq_kclient_easy_payload(CURL *h)
{
	struct kc_easy *e = easy_state(h);

	return e ? e->payload : NULL;
}

const char *gq_kclient_easy_error(CURL *h)
{
	struct kc_easy *e = easy_state(h);

	return e ? e->errbuf : "";
}

/* ---- stats and escaping ----------------------------------------------- */

void gq_kclient_stats(const struct gq_kclient *c, uint64_t *requests, uint64_t *writes)
{
	struct gq_kclient *m = (struct gq_kclient *)c;
	uint64_t total = 0;

	for (int i = 0; i < KC_M_COUNT; i++)
		total += atomic_load(&m->n_method[i]);
	if (requests != NULL)
		*requests = total;
	if (writes != NULL)
		*writes = atomic_load(&m->n_writes);
}

uint64_t gq_kclient_refused_writes(const struct gq_kclient *c)
{
	return atomic_load(&((struct gq_kclient *)c)->n_refused);
}

void gq_kclient_set_write_gate(struct gq_kclient *c, int64_t (*gate)(void *arg), void *arg)
{
	c->write_gate = gate;
	c->write_gate_arg = arg;
}

void gq_kclient_set_timeout(struct gq_kclient *c, long timeout_ms)
{
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : GQ_KCLIENT_REQUEST_TIMEOUT_MS;
}

uint64_t gq_kclient_stats_method(const struct gq_kclient *c, const char *method)
{
	struct gq_kclient *m = (struct gq_kclient *)c;

	return atomic_load(&m->n_method[method_index(method)]);
}

char *gq_kclient_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = gq_malloc(n * 3 + 1);
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			out[j++] = (char)ch;
		} else {
			out[j++] = '%';
			out[j++] = hex[ch >> 4];
			out[j++] = hex[ch & 0x0f];
		}
	}
	out[j] = '\0';
	return out;
}
