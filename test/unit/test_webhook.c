/*
 * Unit tests for webhook.c: a real HTTPS server on 127.0.0.1 with a
 * generated certificate, its event loop on a test thread, and libcurl (or a
 * raw OpenSSL client) on the test threads: routing, query strings,
 * keep-alive, error statuses, concurrency, certificate rotation and drain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "certs.h"
#include "gq.h"
#include "webhook.h"

#define TEST_MAX_BODY 65536

/* ------------------------------------------------------------ fixture */

struct srv {
	struct event_base *base;
	struct gq_webhook *w;
	pthread_t loop;
	int port;
	char *ca, *ca_key, *cert, *key;
	atomic_int drained; /* times the drain callback ran */
	atomic_int handled; /* handler calls */
	int drain_grace_ms; /* grace used by the /drain route */
	bool loop_joined;   /* the loop thread has ended and was joined */
};

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Generates a CA and a serving pair for 127.0.0.1, ::1 and the Service
 * names of gq-webhook in gq-system. */
static void make_pair(char **ca, char **ca_key, char **cert, char **key)
{
	char *names[GQ_CERTS_SVC_NAMES];
	const char *ips[] = {"127.0.0.1", "::1"};
	struct gq_err err = {0};

	assert_int_equal(gq_certs_generate_ca(ca, ca_key, "test-ca", 2, &err), GQ_OK);
	assert_int_equal(gq_certs_service_dns_names(names, "gq-webhook", "gq-system", &err), GQ_OK);
	assert_int_equal(gq_certs_generate_serving(cert, key, *ca, *ca_key,
						   (const char *const *)names, GQ_CERTS_SVC_NAMES,
						   ips, 2, 1, &err),
			 GQ_OK);
	gq_certs_free_names(names, GQ_CERTS_SVC_NAMES);
}

/* Runs a function on the loop thread and waits for it. */
struct loop_call {
	void (*fn)(struct srv *s, void *arg);
	struct srv *s;
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

static void loop_call_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop_call *c = arg;

	(void)fd, (void)what;
	c->fn(c->s, c->arg);
	pthread_mutex_lock(&c->mu);
	c->done = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void on_loop(struct srv *s, void (*fn)(struct srv *s, void *arg), void *arg)
{
	struct loop_call c = {.fn = fn, .s = s, .arg = arg, .done = false};
	const struct timeval zero = {0, 0};

	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	assert_int_equal(event_base_once(s->base, -1, EV_TIMEOUT, loop_call_cb, &c, &zero), 0);
	pthread_mutex_lock(&c.mu);
	while (!c.done)
		pthread_cond_wait(&c.cv, &c.mu);
	pthread_mutex_unlock(&c.mu);
	pthread_mutex_destroy(&c.mu);
	pthread_cond_destroy(&c.cv);
}

static void *loop_main(void *arg)
{
	struct srv *s = arg;

	event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* Handlers. */
static int h_echo(void *payload, const char *body, size_t len, struct gq_buf *out)
{
	struct srv *s = payload;

	atomic_fetch_add(&s->handled, 1);
	if (body[len] != '\0')
		return 500;
	return gq_buf_append(out, body, len) == GQ_OK ? 200 : GQ_ETOOBIG;
}

static int h_bad(void *payload, const char *body, size_t len, struct gq_buf *out)
{
	(void)payload, (void)body, (void)len;
	gq_buf_puts(out, "malformed AdmissionReview: no request\n");
	return 400;
}

static int h_fail(void *payload, const char *body, size_t len, struct gq_buf *out)
{
	(void)payload, (void)body, (void)len, (void)out;
	return GQ_EINVAL;
}

static void on_drained(void *arg)
{
	struct srv *s = arg;

	atomic_fetch_add(&s->drained, 1);
}

/* Starts draining, then echoes: the request that triggers it completes. */
static int h_drain(void *payload, const char *body, size_t len, struct gq_buf *out)
{
	struct srv *s = payload;

	gq_webhook_drain(s->w, s->drain_grace_ms, on_drained, s);
	return h_echo(payload, body, len, out);
}

static struct srv *srv_start(int timeout_s)
{
	struct srv *s = gq_calloc(1, sizeof(*s));
	struct gq_webhook_opts o = {
	    .addr = "127.0.0.1:0", .max_body = TEST_MAX_BODY, .timeout_s = timeout_s};
	struct gq_err err = {0};

	make_pair(&s->ca, &s->ca_key, &s->cert, &s->key);
	s->base = event_base_new();
	assert_non_null(s->base);
	assert_int_equal(gq_webhook_new(&s->w, s->base, &o, &err), GQ_OK);
	assert_int_equal(gq_webhook_route(s->w, "/validate", h_echo, s), GQ_OK);
	assert_int_equal(gq_webhook_route(s->w, "/bad", h_bad, s), GQ_OK);
	assert_int_equal(gq_webhook_route(s->w, "/fail", h_fail, s), GQ_OK);
	assert_int_equal(gq_webhook_route(s->w, "/drain", h_drain, s), GQ_OK);
	assert_int_equal(gq_webhook_set_cert(s->w, s->cert, s->key, &err), GQ_OK);
	assert_int_equal(gq_webhook_start(s->w, &err), GQ_OK);
	s->port = gq_webhook_port(s->w);
	assert_true(s->port > 0);
	s->drain_grace_ms = 1000;
	assert_int_equal(pthread_create(&s->loop, NULL, loop_main, s), 0);
	return s;
}

static int setup(void **state)
{
	*state = srv_start(10);
	return 0;
}

static int setup_short_timeout(void **state)
{
	*state = srv_start(1);
	return 0;
}

/* Live SSL objects in the process (server and clients), counted through
 * ex_data callbacks: every test must end with none. */
static atomic_int ssl_live;

static void ssl_new_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ptr, (void)ad, (void)idx, (void)argl, (void)argp;
	atomic_fetch_add(&ssl_live, 1);
}

static void ssl_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ptr, (void)ad, (void)idx, (void)argl, (void)argp;
	atomic_fetch_sub(&ssl_live, 1);
}

static int teardown(void **state)
{
	struct srv *s = *state;
	int live;

	if (!s->loop_joined) {
		event_base_loopbreak(s->base);
		pthread_join(s->loop, NULL);
	}
	gq_webhook_free(s->w);
	/* let libevent finalize the bufferevents of connections closed just
	 * now (see gq_webhook_free) */
	for (int i = 0; i < 10 && event_base_loop(s->base, EVLOOP_NONBLOCK) == 0; i++)
		;
	event_base_free(s->base);
	live = atomic_load(&ssl_live);
	free(s->ca);
	free(s->ca_key);
	free(s->cert);
	free(s->key);
	free(s);
	if (live != 0) {
		print_error("%d SSL objects still alive after the test\n", live);
		return -1;
	}
	return 0;
}

static void get_stats(struct srv *s, void *arg)
{
	gq_webhook_get_stats(s->w, arg);
}

/* ------------------------------------------------------------ client */

struct resp {
	long code;
	long num_connects;
	long http_version;
	struct gq_buf body;
	char ctype[128];
	bool conn_close;
	char allow[32];
};

static size_t write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;

	return gq_buf_append(&r->body, p, size * n) == GQ_OK ? size * n : 0;
}

/* Copies the value of header name (case-insensitive) from line into out. */
static void header_value(const char *line, size_t len, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name);

	if (len > nl + 1 && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
		const char *v = line + nl + 1;
		size_t vl = len - nl - 1;

		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
			vl--;
		snprintf(out, n, "%.*s", (int)vl, v);
	}
}

static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	char conn[32] = "";

	header_value(p, size * n, "Content-Type", r->ctype, sizeof(r->ctype));
	header_value(p, size * n, "Allow", r->allow, sizeof(r->allow));
	header_value(p, size * n, "Connection", conn, sizeof(conn));
	if (strcasecmp(conn, "close") == 0)
		r->conn_close = true;
	return size * n;
}

/* A curl handle that trusts ca (PEM) only. */
static CURL *client(const char *ca)
{
	CURL *h = curl_easy_init();
	struct curl_blob blob = {.data = (void *)ca, .len = strlen(ca), .flags = CURL_BLOB_COPY};

	assert_non_null(h);
	curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	/* evhttp sends no 100 Continue for an oversized body (it waits to
	 * discard it, then answers 413): do not wait the default second */
	curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 100L);
	/* Ask for h2 too: the server must still pick http/1.1. */
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	return h;
}

/*
 * Sends method to https://127.0.0.1:port<path> with an optional body and
 * Content-Type (NULL: none) and extra headers; fills r (caller frees
 * r->body). Returns the curl result.
 */
static CURLcode request(CURL *h, int port, const char *method, const char *path, const char *ctype,
			const char *body, size_t len, const char *extra, struct resp *r)
{
	char url[512], cth[160];
	struct curl_slist *hdrs = NULL;
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	gq_buf_init(&r->body, (size_t)8 << 20);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (ctype != NULL) {
		snprintf(cth, sizeof(cth), "Content-Type: %s", ctype);
		hdrs = curl_slist_append(hdrs, cth);
	} else {
		hdrs = curl_slist_append(hdrs, "Content-Type:");
	}
	if (extra != NULL)
		hdrs = curl_slist_append(hdrs, extra);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->code);
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->num_connects);
	curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &r->http_version);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return rc;
}

static CURLcode post_json(CURL *h, int port, const char *path, const char *body, struct resp *r)
{
	return request(h, port, "POST", path, "application/json", body, strlen(body), NULL, r);
}

/* ------------------------------------------------------------ tests */

static void test_echo_and_query(void **state)
{
	struct srv *s = *state;
	static const char review[] = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":"
				     "\"AdmissionReview\",\"request\":{\"uid\":\"42\"}}";
	CURL *h = client(s->ca);
	struct resp r;

	assert_int_equal(post_json(h, s->port, "/validate", review, &r), CURLE_OK);
	assert_int_equal(r.code, 200);
	assert_string_equal(gq_buf_str(&r.body), review);
	assert_string_equal(r.ctype, "application/json");
	assert_int_equal(r.http_version, CURL_HTTP_VERSION_1_1);
	gq_buf_free(&r.body);

	/* the apiserver's ?timeout=10s is ignored for routing */
	assert_int_equal(post_json(h, s->port, "/validate?timeout=10s", review, &r), CURLE_OK);
	assert_int_equal(r.code, 200);
	assert_string_equal(gq_buf_str(&r.body), review);
	gq_buf_free(&r.body);

	/* a charset parameter is fine; an empty body reaches the handler */
	assert_int_equal(request(h, s->port, "POST", "/validate?a=b&c",
				 "Application/JSON; charset=utf-8", "", 0, NULL, &r),
			 CURLE_OK);
	assert_int_equal(r.code, 200);
	assert_int_equal(r.body.len, 0);
	gq_buf_free(&r.body);

	/* a body with a NUL inside arrives whole */
	assert_int_equal(
	    request(h, s->port, "POST", "/validate", "application/json", "{\"a\":\0}", 7, NULL, &r),
	    CURLE_OK);
	assert_int_equal(r.code, 200);
	assert_int_equal(r.body.len, 7);
	assert_memory_equal(r.body.data, "{\"a\":\0}", 7);
	gq_buf_free(&r.body);
	curl_easy_cleanup(h);
}

static void test_keepalive(void **state)
{
	struct srv *s = *state;
	struct gq_webhook_stats st;
	CURL *h = client(s->ca);
	struct resp r;

	assert_int_equal(post_json(h, s->port, "/validate", "{\"n\":1}", &r), CURLE_OK);
	assert_int_equal(r.code, 200);
	assert_int_equal(r.num_connects, 1);
	assert_false(r.conn_close);
	gq_buf_free(&r.body);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(post_json(h, s->port, "/validate", "{\"n\":2}", &r), CURLE_OK);
		assert_int_equal(r.code, 200);
		assert_int_equal(r.num_connects, 0); /* reused */
		gq_buf_free(&r.body);
	}
	/* sequential requests on a kept-alive connection are not held up by
	 * Nagle + delayed ACK (about 40 ms each without TCP_NODELAY) */
	{
		int64_t t0 = mono_ms();

		for (int i = 0; i < 20; i++) {
			assert_int_equal(post_json(h, s->port, "/validate", "{\"n\":3}", &r),
					 CURLE_OK);
			assert_int_equal(r.code, 200);
			gq_buf_free(&r.body);
		}
		assert_true(mono_ms() - t0 < 600);
	}
	/* errors keep the connection too */
	assert_int_equal(post_json(h, s->port, "/nope", "{}", &r), CURLE_OK);
	assert_int_equal(r.code, 404);
	assert_int_equal(r.num_connects, 0);
	gq_buf_free(&r.body);
	assert_int_equal(post_json(h, s->port, "/validate", "{}", &r), CURLE_OK);
	assert_int_equal(r.num_connects, 0);
	gq_buf_free(&r.body);
	on_loop(s, get_stats, &st);
	assert_int_equal(st.connections, 1);
	assert_int_equal(st.requests, 28);
	assert_int_equal(st.errors_4xx, 1);
	curl_easy_cleanup(h);
}

static void test_status_codes(void **state)
{
	struct srv *s = *state;
	struct gq_webhook_stats st;
	CURL *h = client(s->ca);
	struct resp r;
	char *big;

	/* unknown path */
	assert_int_equal(post_json(h, s->port, "/mutate", "{}", &r), CURLE_OK);
	assert_int_equal(r.code, 404);
	gq_buf_free(&r.body);
	assert_int_equal(post_json(h, s->port, "/validate/x", "{}", &r), CURLE_OK);
	assert_int_equal(r.code, 404);
	gq_buf_free(&r.body);
	/* method */
	assert_int_equal(request(h, s->port, "GET", "/validate", NULL, NULL, 0, NULL, &r),
			 CURLE_OK);
	assert_int_equal(r.code, 405);
	assert_string_equal(r.allow, "POST");
	gq_buf_free(&r.body);
	assert_int_equal(
	    request(h, s->port, "PUT", "/validate", "application/json", "{}", 2, NULL, &r),
	    CURLE_OK);
	assert_int_equal(r.code, 405);
	gq_buf_free(&r.body);
	/* probes */
	assert_int_equal(request(h, s->port, "GET", "/healthz", NULL, NULL, 0, NULL, &r), CURLE_OK);
	assert_int_equal(r.code, 200);
	assert_string_equal(gq_buf_str(&r.body), "ok");
	gq_buf_free(&r.body);
	assert_int_equal(request(h, s->port, "GET", "/healthz?verbose", NULL, NULL, 0, NULL, &r),
			 CURLE_OK);
	assert_int_equal(r.code, 200);
	gq_buf_free(&r.body);
	assert_int_equal(post_json(h, s->port, "/healthz", "{}", &r), CURLE_OK);
	assert_int_equal(r.code, 405);
	gq_buf_free(&r.body);
	/* content type */
	assert_int_equal(request(h, s->port, "POST", "/validate", "text/plain", "{}", 2, NULL, &r),
			 CURLE_OK);
	assert_int_equal(r.code, 415);
	gq_buf_free(&r.body);
	assert_int_equal(request(h, s->port, "POST", "/validate", NULL, "{}", 2, NULL, &r),
			 CURLE_OK);
	assert_int_equal(r.code, 415);
	gq_buf_free(&r.body);
	assert_int_equal(
	    request(h, s->port, "POST", "/validate", "application/jsonx", "{}", 2, NULL, &r),
	    CURLE_OK);
	assert_int_equal(r.code, 415);
	gq_buf_free(&r.body);
	/* handler's 400 with its message, handler failure as 500 */
	assert_int_equal(post_json(h, s->port, "/bad", "{", &r), CURLE_OK);
	assert_int_equal(r.code, 400);
	assert_string_equal(gq_buf_str(&r.body), "malformed AdmissionReview: no request\n");
	assert_non_null(strstr(r.ctype, "text/plain"));
	gq_buf_free(&r.body);
	assert_int_equal(post_json(h, s->port, "/fail", "{}", &r), CURLE_OK);
	assert_int_equal(r.code, 500);
	gq_buf_free(&r.body);

	/* body size: exactly max_body is accepted */
	big = gq_malloc(TEST_MAX_BODY + 2);
	memset(big, ' ', TEST_MAX_BODY + 1);
	big[TEST_MAX_BODY + 1] = '\0';
	assert_int_equal(request(h, s->port, "POST", "/validate", "application/json", big,
				 TEST_MAX_BODY, "Expect:", &r),
			 CURLE_OK);
	assert_int_equal(r.code, 200);
	assert_int_equal(r.body.len, TEST_MAX_BODY);
	gq_buf_free(&r.body);
	/* one byte more: 413, with the body sent at once ... */
	assert_int_equal(request(h, s->port, "POST", "/validate", "application/json", big,
				 TEST_MAX_BODY + 1, "Expect:", &r),
			 CURLE_OK);
	assert_int_equal(r.code, 413);
	gq_buf_free(&r.body);
	/* ... or after Expect: 100-continue, before it is sent */
	assert_int_equal(request(h, s->port, "POST", "/validate", "application/json", big,
				 TEST_MAX_BODY + 1, "Expect: 100-continue", &r),
			 CURLE_OK);
	assert_int_equal(r.code, 413);
	gq_buf_free(&r.body);
	/* ... or chunked */
	assert_int_equal(request(h, s->port, "POST", "/validate", "application/json", big,
				 TEST_MAX_BODY + 1, "Transfer-Encoding: chunked", &r),
			 CURLE_OK);
	assert_int_equal(r.code, 413);
	gq_buf_free(&r.body);
	free(big);
	/* a chunked body within bounds is fine */
	assert_int_equal(request(h, s->port, "POST", "/validate", "application/json", "{\"c\":1}",
				 7, "Transfer-Encoding: chunked", &r),
			 CURLE_OK);
	assert_int_equal(r.code, 200);
	assert_string_equal(gq_buf_str(&r.body), "{\"c\":1}");
	gq_buf_free(&r.body);

	on_loop(s, get_stats, &st);
	/* 2 x 404, 3 x 405, 3 x 415, 1 x 400; evhttp's own 413s are not counted */
	assert_int_equal(st.errors_4xx, 9);
	assert_int_equal(st.errors_5xx, 1);
	curl_easy_cleanup(h);
}

/* The DNS name the apiserver uses for a Service verifies; others do not. */
static void test_service_name(void **state)
{
	struct srv *s = *state;
	CURL *h = client(s->ca);
	struct curl_slist *res = NULL;
	char entry[128], url[128];
	struct resp r;

	snprintf(entry, sizeof(entry), "gq-webhook.gq-system.svc:%d:127.0.0.1", s->port);
	res = curl_slist_append(res, entry);
	snprintf(entry, sizeof(entry), "other.gq-system.svc:%d:127.0.0.1", s->port);
	res = curl_slist_append(res, entry);
	curl_easy_setopt(h, CURLOPT_RESOLVE, res);
	memset(&r, 0, sizeof(r));
	gq_buf_init(&r.body, 1 << 20);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	snprintf(url, sizeof(url), "https://gq-webhook.gq-system.svc:%d/healthz", s->port);
	curl_easy_setopt(h, CURLOPT_URL, url);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	snprintf(url, sizeof(url), "https://other.gq-system.svc:%d/healthz", s->port);
	curl_easy_setopt(h, CURLOPT_URL, url);
	assert_int_equal(curl_easy_perform(h), CURLE_PEER_FAILED_VERIFICATION);
	gq_buf_free(&r.body);
	curl_easy_cleanup(h);
	curl_slist_free_all(res);
}

struct worker {
	struct srv *s;
	int id;
	int ok;
};

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	CURL *h = client(wk->s->ca);

	for (int i = 0; i < 50; i++) {
		char body[128];
		struct resp r;

		snprintf(body, sizeof(body), "{\"worker\":%d,\"seq\":%d,\"pad\":\"%0*d\"}", wk->id,
			 i, (i * 7) % 60, 0);
		if (post_json(h, wk->s->port, "/validate?timeout=10s", body, &r) == CURLE_OK &&
		    r.code == 200 && strcmp(gq_buf_str(&r.body), body) == 0)
			wk->ok++;
		gq_buf_free(&r.body);
	}
	curl_easy_cleanup(h);
	return NULL;
}

static void test_concurrent(void **state)
{
	struct srv *s = *state;
	struct worker wk[4];
	pthread_t th[4];
	struct gq_webhook_stats st;

	for (int i = 0; i < 4; i++) {
		wk[i] = (struct worker){.s = s, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &wk[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(wk[i].ok, 50);
	}
	on_loop(s, get_stats, &st);
	assert_int_equal(st.requests, 200);
	assert_int_equal(atomic_load(&s->handled), 200);
	assert_int_equal(st.connections, 4); /* one keep-alive connection per client */
	assert_int_equal(st.errors_4xx, 0);
}

struct cert_arg {
	const char *cert, *key;
	int rc;
};

static void set_cert(struct srv *s, void *arg)
{
	struct cert_arg *c = arg;
	struct gq_err err = {0};

	c->rc = gq_webhook_set_cert(s->w, c->cert, c->key, &err);
}

/* Serial number of the peer certificate seen by curl's last connection. */
static void peer_serial(CURL *h, char *out, size_t n)
{
	struct curl_certinfo *ci = NULL;

	out[0] = '\0';
	assert_int_equal(curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci), CURLE_OK);
	assert_non_null(ci);
	assert_true(ci->num_of_certs >= 1);
	for (struct curl_slist *l = ci->certinfo[0]; l != NULL; l = l->next)
		if (strncmp(l->data, "Serial Number:", 14) == 0)
			snprintf(out, n, "%s", l->data + 14);
	assert_true(out[0] != '\0');
}

static void test_rotation(void **state)
{
	struct srv *s = *state;
	char *ca2, *ca2_key, *cert2, *key2;
	char serial1[128], serial2[128];
	struct cert_arg c;
	CURL *old = client(s->ca), *h;
	struct resp r;

	curl_easy_setopt(old, CURLOPT_CERTINFO, 1L);
	assert_int_equal(post_json(old, s->port, "/validate", "{}", &r), CURLE_OK);
	assert_int_equal(r.code, 200);
	gq_buf_free(&r.body);
	peer_serial(old, serial1, sizeof(serial1));

	make_pair(&ca2, &ca2_key, &cert2, &key2);
	/* a bad pair is refused and the old one stays */
	c = (struct cert_arg){.cert = cert2, .key = s->key};
	on_loop(s, set_cert, &c);
	assert_int_equal(c.rc, GQ_EINVAL);
	c = (struct cert_arg){.cert = "junk", .key = key2};
	on_loop(s, set_cert, &c);
	assert_int_equal(c.rc, GQ_EPARSE);
	h = client(s->ca);
	assert_int_equal(post_json(h, s->port, "/validate", "{}", &r), CURLE_OK);
	assert_int_equal(r.code, 200);
	gq_buf_free(&r.body);
	curl_easy_cleanup(h);

	/* rotate */
	c = (struct cert_arg){.cert = cert2, .key = key2};
	on_loop(s, set_cert, &c);
	assert_int_equal(c.rc, GQ_OK);
	/* the open connection keeps working on the old certificate */
	assert_int_equal(post_json(old, s->port, "/validate", "{}", &r), CURLE_OK);
	assert_int_equal(r.code, 200);
	assert_int_equal(r.num_connects, 0);
	gq_buf_free(&r.body);
	/* a new connection trusting only the old CA fails ... */
	h = client(s->ca);
	assert_int_equal(post_json(h, s->port, "/validate", "{}", &r),
			 CURLE_PEER_FAILED_VERIFICATION);
	gq_buf_free(&r.body);
	curl_easy_cleanup(h);
	/* ... one trusting the new CA succeeds and sees the new certificate */
	h = client(ca2);
	curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
	assert_int_equal(post_json(h, s->port, "/validate", "{}", &r), CURLE_OK);
	assert_int_equal(r.code, 200);
	assert_int_equal(r.num_connects, 1);
	gq_buf_free(&r.body);
	peer_serial(h, serial2, sizeof(serial2));
	assert_string_not_equal(serial1, serial2);
	curl_easy_cleanup(h);
	curl_easy_cleanup(old);
	free(ca2);
	free(ca2_key);
	free(cert2);
	free(key2);
}

/* Upload whose second half waits until the test says so. */
struct slow {
	const char *body;
	size_t len, off;
	atomic_int phase; /* 0 start, 1 first half sent, 2 may finish */
	struct srv *s;
	CURLcode rc;
	struct resp r;
};

static size_t slow_read(char *p, size_t size, size_t n, void *arg)
{
	struct slow *sl = arg;
	size_t want = sl->off == 0 ? sl->len / 2 : sl->len - sl->off;

	if (sl->off > 0 && sl->off < sl->len) {
		atomic_store(&sl->phase, 1);
		for (int i = 0; i < 1000 && atomic_load(&sl->phase) != 2; i++)
			sleep_ms(5);
	}
	if (want > size * n)
		want = size * n;
	memcpy(p, sl->body + sl->off, want);
	sl->off += want;
	return want;
}

static void *slow_main(void *arg)
{
	struct slow *sl = arg;
	CURL *h = client(sl->s->ca);
	struct curl_slist *hdrs = NULL;
	char url[128];

	memset(&sl->r, 0, sizeof(sl->r));
	gq_buf_init(&sl->r.body, 1 << 20);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/validate?timeout=10s", sl->s->port);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, slow_read);
	curl_easy_setopt(h, CURLOPT_READDATA, sl);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)sl->len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sl->r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &sl->r);
	sl->rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &sl->r.code);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return NULL;
}

static void test_drain(void **state)
{
	struct srv *s = *state;
	struct slow sl = {.s = s};
	char body[4096];
	pthread_t th;
	CURL *keep = client(s->ca), *h;
	struct resp r;
	int64_t t0;

	memset(body, 'x', sizeof(body));
	body[0] = '"';
	body[sizeof(body) - 2] = '"';
	body[sizeof(body) - 1] = '\0';
	sl.body = body;
	sl.len = strlen(body);
	s->drain_grace_ms = 1500;

	/* a keep-alive connection opened before the drain */
	assert_int_equal(post_json(keep, s->port, "/validate", "{}", &r), CURLE_OK);
	assert_int_equal(r.code, 200);
	gq_buf_free(&r.body);
	/* a request in flight: half of its body sent */
	assert_int_equal(pthread_create(&th, NULL, slow_main, &sl), 0);
	for (int i = 0; i < 2000 && atomic_load(&sl.phase) != 1; i++)
		sleep_ms(5);
	assert_int_equal(atomic_load(&sl.phase), 1);
	sleep_ms(50);

	/* the drain starts while that request is being received */
	h = client(s->ca);
	t0 = mono_ms();
	assert_int_equal(post_json(h, s->port, "/drain", "{\"d\":1}", &r), CURLE_OK);
	assert_int_equal(r.code, 200);
	assert_true(r.conn_close);
	gq_buf_free(&r.body);
	curl_easy_cleanup(h);

	/* new connections are still accepted through the grace (the Service's
	 * routing may still send them here), served, and told to close */
	h = client(s->ca);
	assert_int_equal(post_json(h, s->port, "/validate", "{\"n\":1}", &r), CURLE_OK);
	assert_int_equal(r.code, 200);
	assert_true(r.conn_close);
	assert_string_equal(gq_buf_str(&r.body), "{\"n\":1}");
	assert_int_equal(gq_webhook_port(s->w), s->port);
	gq_buf_free(&r.body);
	curl_easy_cleanup(h);

	/* the open keep-alive connection is still served, and told to close */
	assert_int_equal(post_json(keep, s->port, "/validate", "{\"k\":2}", &r), CURLE_OK);
	assert_int_equal(r.code, 200);
	assert_int_equal(r.num_connects, 0);
	assert_true(r.conn_close);
	assert_string_equal(gq_buf_str(&r.body), "{\"k\":2}");
	gq_buf_free(&r.body);

	/* the in-flight request completes */
	atomic_store(&sl.phase, 2);
	pthread_join(th, NULL);
	assert_int_equal(sl.rc, CURLE_OK);
	assert_int_equal(sl.r.code, 200);
	assert_string_equal(gq_buf_str(&sl.r.body), body);
	assert_true(sl.r.conn_close);
	gq_buf_free(&sl.r.body);

	/* done runs once, after the grace */
	assert_int_equal(atomic_load(&s->drained), 0);
	for (int i = 0; i < 1000 && atomic_load(&s->drained) == 0; i++)
		sleep_ms(5);
	assert_int_equal(atomic_load(&s->drained), 1);
	assert_true(mono_ms() - t0 >= 1400);
	assert_int_equal(gq_webhook_port(s->w), 0);
	h = client(s->ca);
	assert_int_equal(post_json(h, s->port, "/validate", "{}", &r), CURLE_COULDNT_CONNECT);
	gq_buf_free(&r.body);
	curl_easy_cleanup(h);
	curl_easy_cleanup(keep);
	sleep_ms(50);
	assert_int_equal(atomic_load(&s->drained), 1);
}

static void stop_loop(void *arg)
{
	struct srv *s = arg;

	atomic_fetch_add(&s->drained, 1);
	event_base_loopbreak(s->base);
}

static void drain_and_stop(struct srv *s, void *arg)
{
	(void)arg;
	gq_webhook_drain(s->w, 50, stop_loop, s);
}

/* A done callback that stops the loop at once (as the controller does)
 * leaves no connection behind: libevent has finalized them all by then. */
static void test_drain_then_stop(void **state)
{
	struct srv *s = *state;
	CURL *h = client(s->ca);
	struct resp r;

	assert_int_equal(post_json(h, s->port, "/validate", "{}", &r), CURLE_OK);
	assert_int_equal(r.code, 200);
	gq_buf_free(&r.body);
	assert_int_equal(atomic_load(&ssl_live), 2); /* curl's and the server's */
	on_loop(s, drain_and_stop, NULL);
	pthread_join(s->loop, NULL);
	assert_int_equal(atomic_load(&s->drained), 1);
	assert_int_equal(atomic_load(&ssl_live), 1); /* only curl's is left */
	curl_easy_cleanup(h);
	assert_int_equal(atomic_load(&ssl_live), 0);
	s->loop_joined = true;
}

static void drain_now(struct srv *s, void *arg)
{
	(void)arg;
	gq_webhook_drain(s->w, 0, on_drained, s);
}

/* A second drain (or one after the end) only reports completion. */
static void test_drain_twice(void **state)
{
	struct srv *s = *state;

	on_loop(s, drain_now, NULL);
	on_loop(s, drain_now, NULL);
	for (int i = 0; i < 400 && atomic_load(&s->drained) < 2; i++)
		sleep_ms(5);
	assert_int_equal(atomic_load(&s->drained), 2);
	on_loop(s, drain_now, NULL);
	for (int i = 0; i < 400 && atomic_load(&s->drained) < 3; i++)
		sleep_ms(5);
	assert_int_equal(atomic_load(&s->drained), 3);
}

/* Raw TLS connection to the server (no verification). */
struct raw {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

static int tcp_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void raw_open(struct raw *c, int port)
{
	c->fd = tcp_connect(port);
	c->ctx = SSL_CTX_new(TLS_client_method());
	c->ssl = SSL_new(c->ctx);
	SSL_set_fd(c->ssl, c->fd);
	assert_int_equal(SSL_connect(c->ssl), 1);
}

static void raw_close(struct raw *c)
{
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	close(c->fd);
	ERR_clear_error();
}

/* Reads until EOF or n-1 bytes; returns the bytes read. */
static size_t raw_read_all(struct raw *c, char *buf, size_t n)
{
	size_t got = 0;

	while (got + 1 < n) {
		int k = SSL_read(c->ssl, buf + got, (int)(n - 1 - got));
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	buf[got] = '\0';
	return got;
}

static void test_malformed(void **state)
{
	struct srv *s = *state;
	static const char *const bad[] = {
	    "GARBAGE\r\n\r\n",
	    "POST /validate HTTP/9.9\r\n\r\n",
	    "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
	    "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
	    "POST /validate HTTP/1.1\r\nno colon here\r\n\r\n",
	};
	char buf[4096];
	struct raw c;
	CURL *h;
	struct resp r;

	for (size_t i = 0; i < GQ_ARRAY_LEN(bad); i++) {
		raw_open(&c, s->port);
		assert_int_equal(SSL_write(c.ssl, bad[i], (int)strlen(bad[i])),
				 (int)strlen(bad[i]));
		raw_read_all(&c, buf, sizeof(buf));
		/* evhttp answers 400, or 413 for a corrupt chunk size */
		if (strncmp(buf, "HTTP/1.1 4", 10) != 0 && strncmp(buf, "HTTP/1.0 4", 10) != 0)
			fail_msg("request %zu: got \"%.40s\"", i, buf);
		raw_close(&c);
	}
	/* headers over the bound */
	{
		struct gq_buf b;

		gq_buf_init(&b, 1 << 20);
		gq_buf_puts(&b, "POST /validate HTTP/1.1\r\nHost: x\r\n");
		for (int i = 0; i < 2000; i++)
			gq_buf_printf(&b, "X-Pad-%d: %040d\r\n", i, i);
		gq_buf_puts(&b, "\r\n");
		raw_open(&c, s->port);
		SSL_write(c.ssl, b.data, (int)b.len);
		raw_read_all(&c, buf, sizeof(buf));
		/* 400, unless the reset from the early close beat the reply */
		assert_true(buf[0] == '\0' || strncmp(buf, "HTTP/1.1 400", 12) == 0);
		raw_close(&c);
		gq_buf_free(&b);
	}
	/* a pipelined pair of requests on one connection */
	{
		static const char two[] =
		    "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		    "Content-Length: 3\r\n\r\n[1]"
		    "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		    "Content-Length: 3\r\nConnection: close\r\n\r\n[2]";
		raw_open(&c, s->port);
		assert_int_equal(SSL_write(c.ssl, two, (int)strlen(two)), (int)strlen(two));
		raw_read_all(&c, buf, sizeof(buf));
		assert_int_equal(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17), 0);
		assert_non_null(strstr(buf, "[1]"));
		assert_non_null(strstr(buf, "[2]"));
		raw_close(&c);
	}
	/* plain HTTP on the TLS port; a TCP connection closed at once; a TLS
	 * connection dropped without close_notify */
	{
		int fd = tcp_connect(s->port);
		static const char plain[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
		ssize_t k;

		assert_int_equal(write(fd, plain, strlen(plain)), (ssize_t)strlen(plain));
		k = read(fd, buf, sizeof(buf));
		assert_true(k <= 0 || strncmp(buf, "HTTP", 4) != 0);
		close(fd);
		close(tcp_connect(s->port));
		raw_open(&c, s->port);
		raw_close(&c);
	}
	/* the server still works */
	h = client(s->ca);
	assert_int_equal(post_json(h, s->port, "/validate", "{}", &r), CURLE_OK);
	assert_int_equal(r.code, 200);
	gq_buf_free(&r.body);
	curl_easy_cleanup(h);
}

/* A small reply leaves as one TLS record (status line, headers and body
 * together): one SSL_read returns all of it. */
static void test_one_record(void **state)
{
	struct srv *s = *state;
	static const char req[] = "POST /validate HTTP/1.1\r\nHost: x\r\n"
				  "Content-Type: application/json\r\nContent-Length: 11\r\n\r\n"
				  "{\"one\":\"r\"}";
	char buf[16384];
	struct raw c;
	int n;

	raw_open(&c, s->port);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(SSL_write(c.ssl, req, (int)strlen(req)), (int)strlen(req));
		n = SSL_read(c.ssl, buf, (int)sizeof(buf) - 1);
		assert_true(n > 0);
		buf[n] = '\0';
		assert_int_equal(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17), 0);
		assert_non_null(strstr(buf, "Content-Length: 11\r\n"));
		assert_non_null(strstr(buf, "\r\n\r\n{\"one\":\"r\"}"));
	}
	raw_close(&c);
}

/* Idle and stalled connections are closed after timeout_s (1 s here). */
static void test_timeout(void **state)
{
	struct srv *s = *state;
	struct pollfd pfd;
	char buf[256];
	struct raw c;
	int fd;
	int64_t t0 = mono_ms();

	/* TCP connection that never starts TLS */
	fd = tcp_connect(s->port);
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_true(read(fd, buf, sizeof(buf)) <= 0);
	close(fd);
	/* TLS connection stalled in the middle of a request's headers */
	raw_open(&c, s->port);
	SSL_write(c.ssl, "POST /validate HTTP/1.1\r\nHost:", 30);
	raw_read_all(&c, buf, sizeof(buf));
	raw_close(&c);
	assert_true(mono_ms() - t0 >= 1500);
	assert_true(mono_ms() - t0 < 8000);
}

static void test_api_errors(void **state)
{
	struct event_base *base = event_base_new();
	struct gq_webhook *w = NULL;
	struct gq_err err = {0};
	static const char *const bad_addrs[] = {
	    "nope",	    "1.2.3.4", "127.0.0.1:99999", "[::1:80", "a:b:80",
	    "127.0.0.1:-1", "h:",      "127.0.0.1:8a",	  "[::1]80", NULL};
	struct gq_webhook_opts o = {0};
	char *ca, *ca_key, *cert, *key, *cert2, *key2, *ca2, *ca2_key;

	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(bad_addrs); i++) {
		o.addr = bad_addrs[i];
		assert_int_equal(gq_webhook_new(&w, base, &o, &err), GQ_EINVAL);
		assert_null(w);
	}
	o.addr = "127.0.0.1:0";
	o.timeout_s = -1;
	assert_int_equal(gq_webhook_new(&w, base, &o, &err), GQ_EINVAL);
	o.timeout_s = 0;
	assert_int_equal(gq_webhook_new(&w, NULL, &o, &err), GQ_EINVAL);
	o.addr = "[::1]:0";
	assert_int_equal(gq_webhook_new(&w, base, &o, &err), GQ_OK);
	gq_webhook_free(w);
	o.addr = ":0";
	assert_int_equal(gq_webhook_new(&w, base, &o, &err), GQ_OK);
	gq_webhook_free(w);
	o.addr = "127.0.0.1:0";
	assert_int_equal(gq_webhook_new(&w, base, &o, &err), GQ_OK);

	/* routes */
	assert_int_equal(gq_webhook_route(w, "/validate", h_echo, NULL), GQ_OK);
	assert_int_equal(gq_webhook_route(w, "/validate", h_echo, NULL), GQ_EINVAL);
	assert_int_equal(gq_webhook_route(w, "validate", h_echo, NULL), GQ_EINVAL);
	assert_int_equal(gq_webhook_route(w, "/healthz", h_echo, NULL), GQ_EINVAL);
	assert_int_equal(gq_webhook_route(w, "/v?x=1", h_echo, NULL), GQ_EINVAL);
	assert_int_equal(gq_webhook_route(w, "/v", NULL, NULL), GQ_EINVAL);

	/* start needs a certificate */
	assert_int_equal(gq_webhook_start(w, &err), GQ_EINVAL);
	assert_int_equal(gq_webhook_port(w), 0);
	make_pair(&ca, &ca_key, &cert, &key);
	make_pair(&ca2, &ca2_key, &cert2, &key2);
	assert_int_equal(gq_webhook_set_cert(w, cert, key2, &err), GQ_EINVAL);
	assert_int_equal(gq_webhook_set_cert(w, "x", key, &err), GQ_EPARSE);
	assert_int_equal(gq_webhook_set_cert(w, cert, "x", &err), GQ_EPARSE);
	assert_int_equal(gq_webhook_set_cert(w, NULL, key, &err), GQ_EINVAL);
	assert_int_equal(gq_webhook_start(w, &err), GQ_EINVAL);
	/* a chain (leaf + CA) is accepted */
	{
		char *chain = gq_asprintf("%s%s", cert, ca);
		assert_int_equal(gq_webhook_set_cert(w, chain, key, &err), GQ_OK);
		free(chain);
	}
	assert_int_equal(gq_webhook_start(w, &err), GQ_OK);
	assert_true(gq_webhook_port(w) > 0);
	assert_int_equal(gq_webhook_start(w, &err), GQ_EINVAL);
	assert_int_equal(ERR_peek_error(), 0);
	gq_webhook_free(w);
	gq_webhook_free(NULL);

	/* a busy port */
	{
		struct gq_webhook *a = NULL, *b = NULL;
		char addr[64];

		o.addr = "127.0.0.1:0";
		assert_int_equal(gq_webhook_new(&a, base, &o, &err), GQ_OK);
		assert_int_equal(gq_webhook_set_cert(a, cert, key, &err), GQ_OK);
		assert_int_equal(gq_webhook_start(a, &err), GQ_OK);
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", gq_webhook_port(a));
		o.addr = addr;
		assert_int_equal(gq_webhook_new(&b, base, &o, &err), GQ_OK);
		assert_int_equal(gq_webhook_set_cert(b, cert, key, &err), GQ_OK);
		assert_int_equal(gq_webhook_start(b, &err), GQ_EIO);
		gq_webhook_free(a);
		gq_webhook_free(b);
	}
	/* drain of a server never started reports from the loop */
	{
		struct srv fake = {.base = base};

		o.addr = "127.0.0.1:0";
		assert_int_equal(gq_webhook_new(&w, base, &o, &err), GQ_OK);
		gq_webhook_drain(w, 1000, on_drained, &fake);
		assert_int_equal(atomic_load(&fake.drained), 0);
		event_base_loop(base, EVLOOP_NONBLOCK);
		assert_int_equal(atomic_load(&fake.drained), 1);
		gq_webhook_free(w);
	}
	free(ca);
	free(ca_key);
	free(cert);
	free(key);
	free(ca2);
	free(ca2_key);
	free(cert2);
	free(key2);
	event_base_free(base);
	assert_int_equal(atomic_load(&ssl_live), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_echo_and_query, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_codes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_service_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain_twice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain_then_stop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup_short_timeout, teardown),
	    cmocka_unit_test(test_api_errors),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("WEBHOOK_TEST") != NULL) /* run only the tests matching this pattern */
		cmocka_set_test_filter(getenv("WEBHOOK_TEST"));
	evthread_use_pthreads();
	CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL, ssl_new_cb, NULL, ssl_free_cb);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
}
