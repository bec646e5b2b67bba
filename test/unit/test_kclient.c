/*
 * Unit tests for kclient.c against a tiny HTTP/1.1 server running in a
 * thread on 127.0.0.1 (ephemeral port). The server records every request
 * (method, target, headers of interest, body) and answers through a
 * per-test handler; each response closes the connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "gq.h"
#include "kclient.h"
#include "kubeconfig.h"

/* ---- test HTTP server ------------------------------------------------- */

#define SRV_MAX_REQS 64
#define SRV_HDR_MAX  65536

struct srv_req {
	char method[16];
	char target[2048];
	char content_type[128];
	char auth[512];
	char user_agent[128];
	char accept[128];
	char host[128];
	char *body; /* heap, NUL-terminated */
	size_t body_len;
};

struct srv_resp {
	int status;
	const char *content_type;
	char *body; /* heap (freed by the server) */
};

struct srv;
typedef void (*srv_handler)(struct srv *s, const struct srv_req *r, struct srv_resp *out);

struct srv {
	int lfd;
	int port;
	pthread_t th;
	atomic_int stop;
	srv_handler handler;
	void *state;	    /* handler state */
	int counter;	    /* handler scratch counter (server thread only) */
	pthread_mutex_t mu; /* protects reqs/nreqs */
	struct srv_req reqs[SRV_MAX_REQS];
	int nreqs;
};

static void resp_set(struct srv_resp *out, int status, const char *ctype, const char *body)
{
	out->status = status;
	out->content_type = ctype;
	out->body = strdup(body);
}

static void hdr_copy(char *dst, size_t cap, const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* Reads one request from fd into r; 0 on success. */
static int srv_read_request(int fd, struct srv_req *r)
{
	char *buf = calloc(1, SRV_HDR_MAX + 1);
	size_t len = 0, clen = 0, hdr_end = 0;
	char *p, *line, *eol;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	for (;;) {
		char *end;

		n = read(fd, buf + len, SRV_HDR_MAX - len);
		if (n <= 0)
			goto fail;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL) {
			hdr_end = (size_t)(end - buf) + 4;
			break;
		}
		if (len == SRV_HDR_MAX)
			goto fail;
	}
	p = strchr(buf, ' ');
	if (p == NULL)
		goto fail;
	hdr_copy(r->method, sizeof(r->method), buf, (size_t)(p - buf));
	line = p + 1;
	p = strchr(line, ' ');
	if (p == NULL)
		goto fail;
	hdr_copy(r->target, sizeof(r->target), line, (size_t)(p - line));
	line = strstr(buf, "\r\n") + 2;
	while (line < buf + hdr_end - 2) {
		char *colon;
		size_t nlen;

		eol = strstr(line, "\r\n");
		colon = memchr(line, ':', (size_t)(eol - line));
		if (colon != NULL) {
			nlen = (size_t)(colon - line);
			const char *v = colon + 1;
			size_t vlen = (size_t)(eol - v);

			if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
				char tmp[32];

				hdr_copy(tmp, sizeof(tmp), v, vlen);
				clen = strtoul(tmp, NULL, 10);
			} else if (nlen == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
				hdr_copy(r->content_type, sizeof(r->content_type), v, vlen);
			} else if (nlen == 13 && strncasecmp(line, "Authorization", 13) == 0) {
				hdr_copy(r->auth, sizeof(r->auth), v, vlen);
			} else if (nlen == 10 && strncasecmp(line, "User-Agent", 10) == 0) {
				hdr_copy(r->user_agent, sizeof(r->user_agent), v, vlen);
			} else if (nlen == 6 && strncasecmp(line, "Accept", 6) == 0) {
				hdr_copy(r->accept, sizeof(r->accept), v, vlen);
			} else if (nlen == 4 && strncasecmp(line, "Host", 4) == 0) {
				hdr_copy(r->host, sizeof(r->host), v, vlen);
			}
		}
		line = eol + 2;
	}
	if (clen > 16 << 20)
		goto fail;
	r->body = calloc(1, clen + 1);
	r->body_len = clen;
	{
		size_t have = len - hdr_end < clen ? len - hdr_end : clen;

		memcpy(r->body, buf + hdr_end, have);
		while (have < clen) {
			n = read(fd, r->body + have, clen - have);
			if (n <= 0)
				goto fail;
			have += (size_t)n;
		}
	}
	free(buf);
	return 0;
fail:
	free(buf);
	free(r->body);
	r->body = NULL;
	return -1;
}

static void srv_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void srv_serve(struct srv *s, int fd)
{
	struct srv_req r;
	struct srv_resp out = {500, "text/plain", NULL};
	char head[512];
	size_t blen;
	int hn;

	if (srv_read_request(fd, &r) != 0)
		return;
	s->handler(s, &r, &out);
	if (out.body == NULL)
		out.body = strdup("");
	blen = strlen(out.body);
	hn = snprintf(head, sizeof(head),
		      "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		      "Connection: close\r\n\r\n",
		      out.status, out.content_type, blen);
	pthread_mutex_lock(&s->mu);
	if (s->nreqs < SRV_MAX_REQS)
		s->reqs[s->nreqs++] = r;
	else
		free(r.body);
	pthread_mutex_unlock(&s->mu);
	srv_write_all(fd, head, (size_t)hn);
	srv_write_all(fd, out.body, blen);
	free(out.body);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd = {s->lfd, POLLIN, 0};
		int fd;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		srv_serve(s, fd);
		shutdown(fd, SHUT_WR);
		close(fd);
	}
	return NULL;
}

static struct srv *srv_start(srv_handler h, void *state)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int one = 1;

	s->handler = h;
	s->state = state;
	pthread_mutex_init(&s->mu, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 16), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
	return s;
}

static void srv_stop(struct srv *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->th, NULL);
	close(s->lfd);
	for (int i = 0; i < s->nreqs; i++)
		free(s->reqs[i].body);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int srv_nreqs(struct srv *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->nreqs;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* ---- fixture ---------------------------------------------------------- */

struct fx {
	struct srv *srv;
	struct gq_kubeconfig cfg;
	char server[64];
	struct gq_kclient *c;
};

static struct fx *fx_new(srv_handler h, void *state, const char *token, const char *token_file)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct gq_err err = {0};

	f->srv = srv_start(h, state);
	snprintf(f->server, sizeof(f->server), "http://127.0.0.1:%d", f->srv->port);
	f->cfg.server = f->server;
	f->cfg.token = (char *)token;
	f->cfg.token_file = (char *)token_file;
	assert_int_equal(gq_kclient_new(&f->c, &f->cfg, &err), GQ_OK);
	return f;
}

static void fx_free(struct fx *f)
{
	gq_kclient_free(f->c);
	srv_stop(f->srv);
	free(f);
}

/* ---- handlers --------------------------------------------------------- */

static void h_echo_json(struct srv *s, const struct srv_req *r, struct srv_resp *out)
{
	char *body;

	(void)s;
	body = gq_asprintf("{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm\"},"
			   "\"method\":\"%s\",\"data\":{\"k\":\"v\"}}",
			   r->method);
	resp_set(out, 200, "application/json", body);
	free(body);
}

static const char *status_json(int code, const char *reason, const char *msg)
{
	static char b[1024];

	snprintf(b, sizeof(b),
		 "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
		 "\"Failure\",\"message\":\"%s\",\"reason\":\"%s\",\"code\":%d}",
		 msg, reason, code);
	return b;
}

static void h_errors(struct srv *s, const struct srv_req *r, struct srv_resp *out)
{
	(void)s;
	if (strcmp(r->target, "/e404") == 0)
		resp_set(out, 404, "application/json",
			 status_json(404, "NotFound", "configmaps \\\"x\\\" not found"));
	else if (strcmp(r->target, "/e409") == 0)
		resp_set(out, 409, "application/json",
			 status_json(409, "Conflict", "the object has been modified"));
	else if (strcmp(r->target, "/e410") == 0)
		resp_set(out, 410, "application/json",
			 status_json(410, "Expired", "too old resource version: 1 (3171407)"));
	else if (strcmp(r->target, "/e403") == 0)
		resp_set(out, 403, "application/json",
			 status_json(403, "Forbidden", "forbidden: no access"));
	else if (strcmp(r->target, "/e500") == 0)
		resp_set(out, 500, "text/plain", "internal\nboom");
	else if (strcmp(r->target, "/e503empty") == 0)
		resp_set(out, 503, "text/plain", "");
	else if (strcmp(r->target, "/notjson") == 0)
		resp_set(out, 200, "application/json", "{not json");
	else
		resp_set(out, 200, "application/json", "{}");
}

/* ---- tests ------------------------------------------------------------ */

static void test_get_json(void **state)
{
	struct fx *f = fx_new(h_echo_json, NULL, "static-token", NULL);
	struct gq_err err = {0};
	const char *p[] = {"data", "k", NULL};
	yajl_val v = NULL, k;
	uint64_t reqs, writes;

	(void)state;
	assert_int_equal(
	    gq_kclient_get_json(f->c, "/api/v1/namespaces/default/configmaps/cm", &v, &err), GQ_OK);
	k = yajl_tree_get(v, p, yajl_t_string);
	assert_non_null(k);
	assert_string_equal(YAJL_GET_STRING(k), "v");
	yajl_tree_free(v);
	assert_int_equal(srv_nreqs(f->srv), 1);
	assert_string_equal(f->srv->reqs[0].method, "GET");
	assert_string_equal(f->srv->reqs[0].target, "/api/v1/namespaces/default/configmaps/cm");
	assert_string_equal(f->srv->reqs[0].auth, "Bearer static-token");
	assert_string_equal(f->srv->reqs[0].accept, "application/json");
	assert_int_equal(strncmp(f->srv->reqs[0].user_agent, "gpuquota-controller/", 20), 0);
	assert_int_equal(f->srv->reqs[0].body_len, 0);
	gq_kclient_stats(f->c, &reqs, &writes);
	assert_int_equal(reqs, 1);
	assert_int_equal(writes, 0);
	assert_int_equal(gq_kclient_stats_method(f->c, "GET"), 1);
	fx_free(f);
}

static void test_error_mapping(void **state)
{
	static const struct {
		const char *path;
		int rc;
		int code;
		const char *msg;
	} cases[] = {
	    {"/e404", GQ_ENOTFOUND, 404, "configmaps \"x\" not found"},
	    {"/e409", GQ_ECONFLICT, 409, "the object has been modified"},
	    {"/e410", GQ_EGONE, 410, "too old resource version: 1 (3171407)"},
	    {"/e403", GQ_EFORBIDDEN, 403, "forbidden: no access"},
	    {"/e500", GQ_EHTTP, 500, "internal boom"},
	    {"/e503empty", GQ_EHTTP, 503, "HTTP 503"},
	};
	struct fx *f = fx_new(h_errors, NULL, NULL, NULL);

	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(cases); i++) {
		struct gq_err err = {0};
		char *body = NULL;
		int status = -1;
		int rc = gq_kclient_request(f->c, "GET", cases[i].path, NULL, NULL, 0, 0, &status,
					    &body, &err);

		assert_int_equal(rc, cases[i].rc);
		assert_int_equal(status, cases[i].code);
		assert_int_equal(err.code, cases[i].code);
		assert_string_equal(err.msg, cases[i].msg);
		assert_non_null(body); /* the body is returned on HTTP errors too */
		if (cases[i].code == 500)
			assert_string_equal(body, "internal\nboom");
		free(body);
	}
	/* The convenience wrappers map the same way. */
	{
		struct gq_err err = {0};
		yajl_val v = (yajl_val)1;

		assert_int_equal(gq_kclient_get_json(f->c, "/e404", &v, &err), GQ_ENOTFOUND);
		assert_null(v);
		assert_int_equal(gq_kclient_delete(f->c, "/e404", &err), GQ_ENOTFOUND);
		assert_int_equal(err.code, 404);
		assert_int_equal(gq_kclient_get_json(f->c, "/notjson", &v, &err), GQ_EPARSE);
		assert_null(v);
		assert_int_equal(
		    gq_kclient_request(f->c, "GET", "no-slash", NULL, NULL, 0, 0, NULL, NULL, &err),
		    GQ_EINVAL);
		assert_int_equal(
		    gq_kclient_request(f->c, "GET", "/a b", NULL, NULL, 0, 0, NULL, NULL, &err),
		    GQ_EINVAL);
	}
	fx_free(f);
}

/* Three pages; the 2nd continue token needs escaping. With state->gone_once
 * the 2nd page answers 410 the first time; with gone_always, every time. */
struct pg_state {
	bool gone_once;
	bool gone_always;
	int gone_sent;
};

static void h_pages(struct srv *s, const struct srv_req *r, struct srv_resp *out)
{
	struct pg_state *st = s->state;
	const char *base = "/api/v1/pods?labelSelector=a%3Db&limit=2";

	if (strcmp(r->target, base) == 0) {
		resp_set(out, 200, "application/json",
			 "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"77\","
			 "\"continue\":\"tok/1=\"},\"items\":[{\"n\":\"a\"},{\"n\":\"b\"}]}");
	} else if (strcmp(r->target,
			  "/api/v1/pods?labelSelector=a%3Db&limit=2&continue=tok%2F1%3D") == 0) {
		if (st->gone_always || (st->gone_once && st->gone_sent == 0)) {
			st->gone_sent++;
			resp_set(out, 410, "application/json",
				 status_json(410, "Expired", "continue token expired"));
			return;
		}
		resp_set(out, 200, "application/json",
			 "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"77\","
			 "\"continue\":\"t2\"},\"items\":[{\"n\":\"c\"},{\"n\":\"d\"}]}");
	} else if (strcmp(r->target, "/api/v1/pods?labelSelector=a%3Db&limit=2&continue=t2") == 0) {
		resp_set(out, 200, "application/json",
			 "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"77\","
			 "\"continue\":\"\"},\"items\":[{\"n\":\"e\"}]}");
	} else {
		resp_set(out, 400, "application/json",
			 status_json(400, "BadRequest", "unexpected"));
	}
}

struct collect {
	char names[32];
	int resets;
	int stop_after; /* return 99 after this many items (0 = never) */
};

static int collect_item(void *payload, yajl_val item)
{
	struct collect *c = payload;
	const char *p[] = {"n", NULL};
	yajl_val n = yajl_tree_get(item, p, yajl_t_string);
	size_t len = strlen(c->names);

	assert_non_null(n);
	c->names[len] = YAJL_GET_STRING(n)[0];
	c->names[len + 1] = '\0';
	if (c->stop_after && (int)len + 1 >= c->stop_after)
		return 99;
	return 0;
}

static void collect_reset(void *payload)
{
	struct collect *c = payload;

	c->names[0] = '\0';
	c->resets++;
}

static void test_list_pagination(void **state)
{
	struct pg_state st = {0};
	struct fx *f = fx_new(h_pages, &st, NULL, NULL);
	struct collect col = {0};
	struct gq_err err = {0};
	char *rv = NULL;

	(void)state;
	assert_int_equal(gq_kclient_list(f->c, "/api/v1/pods?labelSelector=a%3Db", 2, collect_item,
					 collect_reset, &col, &rv, &err),
			 GQ_OK);
	assert_string_equal(col.names, "abcde");
	assert_int_equal(col.resets, 0);
	assert_string_equal(rv, "77");
	free(rv);
	assert_int_equal(srv_nreqs(f->srv), 3);
	assert_string_equal(f->srv->reqs[0].target, "/api/v1/pods?labelSelector=a%3Db&limit=2");
	assert_string_equal(f->srv->reqs[1].target,
			    "/api/v1/pods?labelSelector=a%3Db&limit=2&continue=tok%2F1%3D");
	assert_string_equal(f->srv->reqs[2].target,
			    "/api/v1/pods?labelSelector=a%3Db&limit=2&continue=t2");

	/* An item callback error stops the list and is returned. */
	memset(&col, 0, sizeof(col));
	col.stop_after = 3;
	assert_int_equal(gq_kclient_list(f->c, "/api/v1/pods?labelSelector=a%3Db", 2, collect_item,
					 NULL, &col, &rv, &err),
			 99);
	assert_null(rv);
	assert_string_equal(col.names, "abc");
	fx_free(f);
}

static void test_list_gone_restart(void **state)
{
	struct pg_state st = {.gone_once = true};
	struct fx *f = fx_new(h_pages, &st, NULL, NULL);
	struct collect col = {0};
	struct gq_err err = {0};
	char *rv = NULL;

	(void)state;
	assert_int_equal(gq_kclient_list(f->c, "/api/v1/pods?labelSelector=a%3Db", 2, collect_item,
					 collect_reset, &col, &rv, &err),
			 GQ_OK);
	assert_int_equal(col.resets, 1);
	assert_string_equal(col.names, "abcde");
	assert_string_equal(rv, "77");
	free(rv);
	/* page1, 410, page1 again, page2, page3 */
	assert_int_equal(srv_nreqs(f->srv), 5);
	assert_string_equal(f->srv->reqs[2].target, "/api/v1/pods?labelSelector=a%3Db&limit=2");
	fx_free(f);

	/* A second 410 is returned. */
	st = (struct pg_state){.gone_always = true};
	f = fx_new(h_pages, &st, NULL, NULL);
	memset(&col, 0, sizeof(col));
	rv = NULL;
	assert_int_equal(gq_kclient_list(f->c, "/api/v1/pods?labelSelector=a%3Db", 2, collect_item,
					 collect_reset, &col, &rv, &err),
			 GQ_EGONE);
	assert_null(rv);
	assert_int_equal(col.resets, 1);
	assert_int_equal(err.code, 410);
	assert_int_equal(srv_nreqs(f->srv), 4);
	fx_free(f);
}

static void test_writes(void **state)
{
	struct fx *f = fx_new(h_echo_json, NULL, NULL, NULL);
	struct gq_err err = {0};
	const char *mp[] = {"method", NULL};
	const char *body = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\"}";
	yajl_val v = NULL;
	uint64_t reqs, writes;

	(void)state;
	assert_int_equal(gq_kclient_apply(f->c, "/api/v1/namespaces/default/configmaps/cm", "gq op",
					  body, &v, &err),
			 GQ_OK);
	assert_string_equal(YAJL_GET_STRING(yajl_tree_get(v, mp, yajl_t_string)), "PATCH");
	yajl_tree_free(v);
	assert_string_equal(f->srv->reqs[0].method, "PATCH");
	assert_string_equal(
	    f->srv->reqs[0].target,
	    "/api/v1/namespaces/default/configmaps/cm?fieldManager=gq%20op&force=true");
	assert_string_equal(f->srv->reqs[0].content_type, "application/apply-patch+yaml");
	assert_string_equal(f->srv->reqs[0].body, body);

	/* A path that already has a query gets '&'. */
	assert_int_equal(
	    gq_kclient_apply(f->c, "/apis/x/v1/y/z/status?dryRun=All", "m", body, NULL, &err),
	    GQ_OK);
	assert_string_equal(f->srv->reqs[1].target,
			    "/apis/x/v1/y/z/status?dryRun=All&fieldManager=m&force=true");

	assert_int_equal(gq_kclient_patch(f->c, "/api/v1/namespaces/ns1",
					  "application/merge-patch+json", "{\"a\":1}", NULL, &err),
			 GQ_OK);
	assert_string_equal(f->srv->reqs[2].method, "PATCH");
	assert_string_equal(f->srv->reqs[2].content_type, "application/merge-patch+json");
	assert_string_equal(f->srv->reqs[2].body, "{\"a\":1}");

	assert_int_equal(gq_kclient_create(f->c, "/api/v1/namespaces/default/events",
					   "{\"kind\":\"Event\"}", &v, &err),
			 GQ_OK);
	assert_string_equal(YAJL_GET_STRING(yajl_tree_get(v, mp, yajl_t_string)), "POST");
	yajl_tree_free(v);
	assert_string_equal(f->srv->reqs[3].method, "POST");
	assert_string_equal(f->srv->reqs[3].content_type, "application/json");

	assert_int_equal(gq_kclient_delete(f->c, "/api/v1/namespaces/default/configmaps/cm", &err),
			 GQ_OK);
	assert_string_equal(f->srv->reqs[4].method, "DELETE");
	assert_string_equal(f->srv->reqs[4].auth, "");

	gq_kclient_stats(f->c, &reqs, &writes);
	assert_int_equal(reqs, 5);
	assert_int_equal(writes, 5);
	assert_int_equal(gq_kclient_stats_method(f->c, "PATCH"), 3);
	assert_int_equal(gq_kclient_stats_method(f->c, "POST"), 1);
	assert_int_equal(gq_kclient_stats_method(f->c, "DELETE"), 1);
	fx_free(f);
}

static int64_t gate_value;

static int64_t test_gate(void *arg)
{
	return *(int64_t *)arg;
}

/* The write gate: a refused write is never sent nor counted; reads pass. */
static void test_write_gate(void **state)
{
	struct fx *f = fx_new(h_echo_json, NULL, NULL, NULL);
	struct gq_err err = {0};
	yajl_val v = NULL;
	uint64_t reqs, writes;
	int n;

	(void)state;
	gq_kclient_set_write_gate(f->c, test_gate, &gate_value);
	gate_value = 0;
	assert_int_equal(gq_kclient_patch(f->c, "/api/v1/namespaces/ns1",
					  "application/merge-patch+json", "{}", NULL, &err),
			 GQ_ENOTLEADER);
	assert_non_null(strstr(err.msg, "not the leader"));
	assert_int_equal(
	    gq_kclient_create(f->c, "/api/v1/namespaces/default/events", "{}", NULL, &err),
	    GQ_ENOTLEADER);
	assert_int_equal(gq_kclient_delete(f->c, "/api/v1/namespaces/default/configmaps/cm", &err),
			 GQ_ENOTLEADER);
	assert_int_equal(
	    gq_kclient_request(f->c, "PUT", "/x", "application/json", "{}", 2, 0, NULL, NULL, &err),
	    GQ_ENOTLEADER);
	pthread_mutex_lock(&f->srv->mu);
	n = f->srv->nreqs;
	pthread_mutex_unlock(&f->srv->mu);
	assert_int_equal(n, 0);
	assert_int_equal(gq_kclient_refused_writes(f->c), 4);
	assert_int_equal(gq_kclient_get_json(f->c, "/api/v1/pods", &v, &err), GQ_OK);
	yajl_tree_free(v);
	gate_value = 5000;
	assert_int_equal(gq_kclient_patch(f->c, "/api/v1/namespaces/ns1",
					  "application/merge-patch+json", "{}", NULL, &err),
			 GQ_OK);
	gq_kclient_stats(f->c, &reqs, &writes);
	assert_int_equal(reqs, 2);
	assert_int_equal(writes, 1);
	assert_int_equal(gq_kclient_refused_writes(f->c), 4);
	fx_free(f);
}

/* 401 unless the bearer token is the one in s->state. */
static void h_auth(struct srv *s, const struct srv_req *r, struct srv_resp *out)
{
	char want[256];

	snprintf(want, sizeof(want), "Bearer %s", (const char *)s->state);
	if (strcmp(r->auth, want) == 0)
		resp_set(out, 200, "application/json", "{\"ok\":true}");
	else
		resp_set(out, 401, "application/json",
			 status_json(401, "Unauthorized", "Unauthorized"));
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_token_file_401_retry(void **state)
{
	char path[] = "/tmp/gq-kclient-token-XXXXXX";
	int fd = mkstemp(path);
	struct gq_err err = {0};
	struct fx *f;
	yajl_val v = NULL;
	uint64_t reqs;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	write_file(path, "tok-1\n");
	f = fx_new(h_auth, "tok-2", NULL, path); /* the client reads tok-1 now */
	write_file(path, "tok-2\n");		 /* rotated behind its back */
	assert_int_equal(gq_kclient_get_json(f->c, "/api/v1/nodes", &v, &err), GQ_OK);
	yajl_tree_free(v);
	assert_int_equal(srv_nreqs(f->srv), 2);
	assert_string_equal(f->srv->reqs[0].auth, "Bearer tok-1");
	assert_string_equal(f->srv->reqs[1].auth, "Bearer tok-2");
	gq_kclient_stats(f->c, &reqs, NULL);
	assert_int_equal(reqs, 2);

	/* The new token is kept: the next request goes through at once. */
	assert_int_equal(gq_kclient_get_json(f->c, "/api/v1/nodes", &v, &err), GQ_OK);
	yajl_tree_free(v);
	assert_int_equal(srv_nreqs(f->srv), 3);

	/* An unchanged (still rejected) token is not retried. */
	f->srv->state = "tok-3";
	assert_int_equal(gq_kclient_get_json(f->c, "/api/v1/nodes", &v, &err), GQ_EUNAUTHORIZED);
	assert_null(v);
	assert_int_equal(err.code, 401);
	assert_string_equal(err.msg, "Unauthorized");
	assert_int_equal(srv_nreqs(f->srv), 4);

	/* gq_kclient_token_expired forces a re-read before the next request. */
	write_file(path, "tok-3");
	gq_kclient_token_expired(f->c);
	assert_int_equal(gq_kclient_get_json(f->c, "/api/v1/nodes", &v, &err), GQ_OK);
	yajl_tree_free(v);
	assert_int_equal(srv_nreqs(f->srv), 5);
	assert_string_equal(f->srv->reqs[4].auth, "Bearer tok-3");
	fx_free(f);
	unlink(path);
}

static void test_static_token_401(void **state)
{
	struct fx *f = fx_new(h_auth, "other", "mine", NULL);
	struct gq_err err = {0};

	(void)state;
	assert_int_equal(
	    gq_kclient_request(f->c, "GET", "/api", NULL, NULL, 0, 0, NULL, NULL, &err),
	    GQ_EUNAUTHORIZED);
	assert_int_equal(srv_nreqs(f->srv), 1);
	fx_free(f);
}

static void h_big(struct srv *s, const struct srv_req *r, struct srv_resp *out)
{
	char *b = malloc(5001);

	(void)s;
	(void)r;
	memset(b, 'x', 5000);
	b[0] = '"';
	b[4999] = '"';
	b[5000] = '\0';
	out->status = 200;
	out->content_type = "application/json";
	out->body = b;
}

static void test_response_bound(void **state)
{
	struct fx *f = fx_new(h_big, NULL, NULL, NULL);
	struct gq_err err = {0};
	char *body = (char *)1;
	int status = 0;

	(void)state;
	assert_int_equal(
	    gq_kclient_request(f->c, "GET", "/big", NULL, NULL, 0, 1000, &status, &body, &err),
	    GQ_ETOOBIG);
	assert_null(body);
	assert_int_equal(
	    gq_kclient_request(f->c, "GET", "/big", NULL, NULL, 0, 5000, &status, &body, &err),
	    GQ_OK);
	assert_int_equal(status, 200);
	assert_int_equal(strlen(body), 5000);
	free(body);
	fx_free(f);
}

static size_t watch_write(char *p, size_t size, size_t n, void *payload)
{
	struct gq_buf *b = payload;

	if (gq_buf_append(b, p, size * n) != GQ_OK)
		return 0;
	return size * n;
}

static void h_watch(struct srv *s, const struct srv_req *r, struct srv_resp *out)
{
	(void)s;
	(void)r;
	resp_set(out, 200, "application/json",
		 "{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"BOOKMARK\",\"object\":{}}\n");
}

static void test_watch_handle(void **state)
{
	struct fx *f = fx_new(h_watch, NULL, "wtok", NULL);
	struct gq_err err = {0};
	struct gq_buf b;
	CURLM *m = curl_multi_init();
	CURL *h = NULL;
	CURLMsg *msg;
	int running = 1, left;
	long code = 0;

	(void)state;
	gq_buf_init(&b, 4096);
	assert_int_equal(
	    gq_kclient_watch_handle(f->c, &h, "/api/v1/pods?watch=1", watch_write, &b, &err),
	    GQ_OK);
	assert_ptr_equal(gq_kclient_easy_payload(h), &b);
	curl_multi_add_handle(m, h);
	while (running) {
		curl_multi_perform(m, &running);
		if (running)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	msg = curl_multi_info_read(m, &left);
	assert_non_null(msg);
	assert_int_equal(msg->data.result, CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	assert_int_equal(code, 200);
	assert_string_equal(
	    gq_buf_str(&b),
	    "{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"BOOKMARK\",\"object\":{}}\n");
	assert_string_equal(f->srv->reqs[0].target, "/api/v1/pods?watch=1");
	assert_string_equal(f->srv->reqs[0].auth, "Bearer wtok");
	assert_string_equal(gq_kclient_easy_error(h), "");
	curl_multi_remove_handle(m, h);
	gq_kclient_easy_cleanup(h);
	gq_kclient_easy_cleanup(NULL);
	curl_multi_cleanup(m);
	gq_buf_free(&b);
	assert_int_equal(gq_kclient_watch_handle(f->c, &h, "nope", watch_write, &b, &err),
			 GQ_EINVAL);
	assert_null(h);
	fx_free(f);
}

static void test_transport_and_config_errors(void **state)
{
	struct gq_kubeconfig cfg;
	struct gq_kclient *c = NULL;
	struct gq_err err = {0};
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	char server[64];
	int fd;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.server = "ftp://127.0.0.1:1";
	assert_int_equal(gq_kclient_new(&c, &cfg, &err), GQ_EINVAL);
	assert_null(c);
	cfg.server = "https://127.0.0.1:6443?x=1";
	assert_int_equal(gq_kclient_new(&c, &cfg, &err), GQ_EINVAL);
	cfg.server = "not a url";
	assert_int_equal(gq_kclient_new(&c, &cfg, &err), GQ_EINVAL);

	/* A port nobody listens on: connection refused → GQ_EIO, no status. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	snprintf(server, sizeof(server), "http://127.0.0.1:%d/", ntohs(a.sin_port));
	close(fd);
	cfg.server = server;
	assert_int_equal(gq_kclient_new(&c, &cfg, &err), GQ_OK);
	{
		int status = -1;
		char *body = (char *)1;

		assert_int_equal(
		    gq_kclient_request(c, "GET", "/api", NULL, NULL, 0, 0, &status, &body, &err),
		    GQ_EIO);
		assert_int_equal(status, 0);
		assert_int_equal(err.code, 0);
		assert_null(body);
	}
	gq_kclient_free(c);
}

/* tls_server_name: the URL names that host (SNI, certificate check) while
 * the connection still goes to the server address. */
static void test_tls_server_name(void **state)
{
	struct srv *s = srv_start(h_echo_json, NULL);
	struct gq_kubeconfig cfg;
	struct gq_kclient *c = NULL;
	struct gq_err err = {0};
	char server[64], want[96];
	yajl_val v = NULL;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(server, sizeof(server), "http://127.0.0.1:%d", s->port);
	cfg.server = server;
	cfg.tls_server_name = "kube.invalid";
	assert_int_equal(gq_kclient_new(&c, &cfg, &err), GQ_OK);
	assert_int_equal(gq_kclient_get_json(c, "/version", &v, &err), GQ_OK);
	yajl_tree_free(v);
	snprintf(want, sizeof(want), "kube.invalid:%d", s->port);
	assert_string_equal(s->reqs[0].host, want);
	assert_string_equal(s->reqs[0].target, "/version");
	gq_kclient_free(c);
	srv_stop(s);
}

#define CONC_THREADS 4
#define CONC_REQS    15

static void *conc_worker(void *arg)
{
	struct gq_kclient *c = arg;
	long failures = 0;

	for (int i = 0; i < CONC_REQS; i++) {
		struct gq_err err = {0};
		yajl_val v = NULL;

		if (gq_kclient_get_json(c, "/api/v1/namespaces/default/configmaps/cm", &v, &err) !=
		    GQ_OK)
			failures++;
		yajl_tree_free(v);
		if (gq_kclient_delete(c, "/api/v1/namespaces/default/configmaps/cm", &err) != GQ_OK)
			failures++;
	}
	return (void *)failures;
}

/* Several threads share one client (share handle, token lock, counters). */
static void test_concurrent(void **state)
{
	struct fx *f = fx_new(h_echo_json, NULL, "t", NULL);
	pthread_t th[CONC_THREADS];
	uint64_t reqs, writes;

	(void)state;
	for (int i = 0; i < CONC_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, conc_worker, f->c), 0);
	for (int i = 0; i < CONC_THREADS; i++) {
		void *ret;

		pthread_join(th[i], &ret);
		assert_int_equal((long)ret, 0);
	}
	gq_kclient_stats(f->c, &reqs, &writes);
	assert_int_equal(reqs, 2 * CONC_THREADS * CONC_REQS);
	assert_int_equal(writes, CONC_THREADS * CONC_REQS);
	assert_int_equal(gq_kclient_stats_method(f->c, "GET"), CONC_THREADS * CONC_REQS);
	fx_free(f);
}

/* Error messages may become JSON condition messages: always valid UTF-8,
 * also for a non-UTF-8 body (a proxy's Latin-1 page) and for a Status
 * message cut at the bound of err->msg. */
static void test_error_message_utf8(void **state)
{
	char body[1024], want[600];
	struct gq_err err;
	size_t n = 0, i;

	(void)state;
	strcpy(body, "<p>\xe9t\xe9 \xc3\xa9\r\n\xf0\x9f\x98</p>");
	assert_int_equal(gq_kclient_http_error(502, body, strlen(body), &err), GQ_EHTTP);
	assert_string_equal(err.msg, "<p>?t? \xc3\xa9  ?\?\?</p>");

	n = (size_t)snprintf(body, sizeof(body), "{\"message\":\"");
	for (i = 0; i < 300; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "\xc3\xa9");
	n += (size_t)snprintf(body + n, sizeof(body) - n, "\"}");
	assert_int_equal(gq_kclient_http_error(409, body, n, &err), GQ_ECONFLICT);
	for (i = 0; i < 255; i++)
		memcpy(want + 2 * i, "\xc3\xa9", 2);
	want[510] = '\0';
	assert_string_equal(err.msg, want); /* 255 characters, not 255.5 */
	assert_int_equal(err.code, 409);

	assert_int_equal(gq_kclient_http_error(404, "", 0, &err), GQ_ENOTFOUND);
	assert_string_equal(err.msg, "HTTP 404");
}

static void test_escape(void **state)
{
	char *s;

	(void)state;
	s = gq_kclient_escape("a b/c?d=e&f~g_h.i-j");
	assert_string_equal(s, "a%20b%2Fc%3Fd%3De%26f~g_h.i-j");
	free(s);
	s = gq_kclient_escape("");
	assert_string_equal(s, "");
	free(s);
	s = gq_kclient_escape("\xc3\xa9%+");
	assert_string_equal(s, "%C3%A9%25%2B");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_json),
	    cmocka_unit_test(test_error_mapping),
	    cmocka_unit_test(test_list_pagination),
	    cmocka_unit_test(test_list_gone_restart),
	    cmocka_unit_test(test_writes),
	    cmocka_unit_test(test_write_gate),
	    cmocka_unit_test(test_token_file_401_retry),
	    cmocka_unit_test(test_static_token_401),
	    cmocka_unit_test(test_response_bound),
	    cmocka_unit_test(test_watch_handle),
	    cmocka_unit_test(test_transport_and_config_errors),
	    cmocka_unit_test(test_tls_server_name),
	    cmocka_unit_test(test_concurrent),
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_error_message_utf8),
	};
	return cmocka_run_group_tests_name("kclient", tests, NULL, NULL);
}
