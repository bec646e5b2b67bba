/*
 * webhook.c - HTTPS server for admission webhooks on libevent's evhttp
 * (see webhook.h).
 *
 * evhttp does the HTTP/1.1 work (parsing, keep-alive, body and header
 * bounds, 400/413 for broken or oversized requests); every connection is
 * a bufferevent_openssl made by webhook_bevcb() from the current SSL_CTX,
 * with a guard (deadlines, connection and buffered-bytes caps), so replacing the context rotates
 * the certificate for new connections while open ones keep a reference to the old one (OpenSSL
 * reference-counts SSL_CTX). One evhttp_gencb callback does routing, method
 * and content-type checks and calls the handlers.
 */
#include "webhook.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "certs.h"
#include "listen.h"

/* Largest accepted max_body and timeout_s options. */
#define WEBHOOK_MAX_BODY_LIMIT ((size_t)256 << 20)
#define WEBHOOK_TIMEOUT_LIMIT  3600
/* Largest accepted max_connections and max_buffered options. */
#define WEBHOOK_CONNS_LIMIT    100000
#define WEBHOOK_BUFFERED_LIMIT ((size_t)16 << 30)
/* Bound on a PEM text handed to gq_webhook_set_cert. */
#define WEBHOOK_PEM_MAX ((size_t)1 << 20)
/* Most certificates in a served chain. */
#define WEBHOOK_CHAIN_MAX 16
/* Replies up to this size leave as one TLS record (see webhook_reply). */
#define WEBHOOK_COALESCE_MAX 16384
/* Longest host part of the listen address. */
#define WEBHOOK_HOST_MAX 256

/* One registered path. */
struct webhook_route {
	char *path;	      /* owned, e.g. "/validate" */
	gq_webhook_handler h; /* handler */
	void *payload;	      /* borrowed, passed to h */
};

/* Life cycle of the server. */
enum webhook_state {
	WEBHOOK_NEW,	   /* created, not listening */
	WEBHOOK_LISTENING, /* accepting connections */
	WEBHOOK_DRAINING,  /* still accepting; every reply asks the client to close */
	WEBHOOK_DRAINED,   /* everything closed */
};

struct webhook_conn;

struct gq_webhook {
	struct event_base *base;	   /* borrowed, run by the caller */
	struct evhttp *http;		   /* owned; NULL once drained */
	struct evhttp_bound_socket *bound; /* listener (owned by http); NULL when none */
	SSL_CTX *ctx;			   /* owned reference; used for new connections */
	char host[WEBHOOK_HOST_MAX];	   /* listen host, without brackets */
	int port;			   /* configured port (0 = any) */
	int bound_port;			   /* actual port while listening */
	size_t max_body;		   /* request body bound */
	int timeout_s;			   /* idle keep-alive timeout */
	int handshake_timeout_s;	   /* accept to first request byte */
	int header_timeout_s;		   /* first byte to end of head */
	int request_timeout_s;		   /* first byte to end of body */
	int max_connections;		   /* open connections bound */
	size_t max_buffered;		   /* bound on reserved body bytes */
	bool plain;			   /* serve plain HTTP (gq_webhook_start_plain) */
	struct webhook_conn *conns;	   /* open connections (their guards) */
	struct gq_listen_backoff *backoff; /* owned; NULL when not listening */
	struct webhook_route routes[GQ_WEBHOOK_MAX_ROUTES]; /* registered paths */
	size_t n_routes;				    /* used entries of routes */
	enum webhook_state state;			    /* life cycle */
	struct event *drain_ev;				    /* owned grace timer; NULL when none */
	void (*drain_done)(void *arg);			    /* drain completion callback */
	void *drain_arg;				    /* its argument */
	struct gq_webhook_stats st;			    /* counters */
};

/* ------------------------------------------------------------ options */

/* Splits the listen address into w->host and w->port (gq_listen_parse_addr). */
static int webhook_parse_addr(struct gq_webhook *w, const char *addr, struct gq_err *err)
{
	struct gq_err e = {0};
	int rc = gq_listen_parse_addr(addr, w->host, sizeof(w->host), &w->port, &e);

	return rc == GQ_OK ? GQ_OK : gq_err_set(err, rc, "webhook: %s", e.msg);
}

/* ------------------------------------------------------------ connection guard */

/*
 * Every connection's bufferevent (TLS or plain) gets a guard: a callback on
 * its input buffer follows the request framing of the bytes added, far
 * enough for the deadlines and the buffered budget (the end of each head,
 * an empty line; its Content-Length and whether it is chunked; the end of
 * each body), and a callback on its output buffer notes that an answer is
 * being written (which releases the request's reservation). A deadline,
 * or a refused connection or request, closes the connection by handing
 * evhttp a read timeout event. Right after the accept (from the same loop
 * pass, once evhttp has set up the connection) the guard registers as the
 * connection's close callback, found as the argument evhttp gives the
 * bufferevent's callbacks; evhttp calls it when it frees the connection,
 * and the guard frees itself. (A filter bufferevent cannot be used: evhttp
 * frees a connection once the filter has passed the answer on, before the
 * socket has sent it.)
 */

/* Longest header line the guard looks at (longer ones are not
 * Content-Length or Transfer-Encoding headers it needs to read). */
#define GUARD_LINE_MAX 128

/* Where the guard's parser is. */
enum guard_phase {
	GUARD_HEAD,   /* between requests or inside a head */
	GUARD_BODY,   /* counting a Content-Length body */
	GUARD_OPAQUE, /* a chunked body: wait for the answer */
};

struct webhook_conn {
	struct gq_webhook *w;	 /* borrowed server; NULL once the server is freed */
	struct bufferevent *bev; /* evhttp's */
	struct event *timer;	 /* owned deadline timer */
	struct event *attach;	 /* owned: registers the close callback */
	bool attached;		 /* the close callback is registered */
	struct evbuffer_cb_entry *in_cb, *out_cb; /* the guard's buffer callbacks */
	enum guard_phase phase;			  /* parser state */
	bool in_request;			  /* bytes of a head seen (GUARD_HEAD) */
	bool seen_byte;				  /* any request byte seen on the connection */
	bool closing;				  /* close requested */
	bool chunked;				  /* current head says chunked */
	bool cl_bad;			  /* current head has an unreadable Content-Length */
	uint64_t content_length;	  /* of the current head */
	uint64_t body_left;		  /* bytes of the body still to come (GUARD_BODY) */
	size_t reserved;		  /* bytes reserved by requests not yet answered */
	size_t line_len;		  /* bytes of the current line seen */
	char line[GUARD_LINE_MAX];	  /* its first bytes */
	int64_t head_deadline_ms;	  /* end of the current head, or 0 */
	int64_t req_deadline_ms;	  /* end of the current request, or 0 */
	struct webhook_conn *prev, *next; /* the server's list of open connections */
};

/* (Re)arms c's timer to fire at the monotonic ms at (now when at <= now). */
static void guard_arm_at(struct webhook_conn *c, int64_t at)
{
	int64_t d = at - gq_mono_ms();
	struct timeval tv;

	if (d < 0)
		d = 0;
	tv.tv_sec = (time_t)(d / 1000);
	tv.tv_usec = (suseconds_t)(d % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

/* Closes c from the loop (on the next pass). */
static void guard_close_soon(struct webhook_conn *c)
{
	c->closing = true;
	guard_arm_at(c, 0);
}

/* Gives back c's reservation. */
static void guard_release(struct webhook_conn *c)
{
	if (c->w != NULL)
		c->w->st.buffered -= c->reserved;
	c->reserved = 0;
}

/* Timer: a deadline passed, or a close was asked for. */
static void guard_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct webhook_conn *c = arg;
	int64_t now = gq_mono_ms(), due = 0;

	(void)fd, (void)what;
	if (!c->closing) {
		/* a later deadline may have been armed by a phase change */
		if (c->head_deadline_ms != 0)
			due = c->head_deadline_ms;
		if (c->req_deadline_ms != 0 && (due == 0 || c->req_deadline_ms < due))
			due = c->req_deadline_ms;
		if (due > now) {
			guard_arm_at(c, due);
			return;
		}
		if (c->w != NULL)
			c->w->st.closed_deadline++;
		c->closing = true;
	}
	/* evhttp frees the connection, and c with it (guard_closecb) */
	bufferevent_trigger_event(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, 0);
}

/* The first byte of a request: start its head and request deadlines. */
static void guard_request_start(struct webhook_conn *c)
{
	int64_t now = gq_mono_ms();

	c->in_request = true;
	c->seen_byte = true;
	c->chunked = c->cl_bad = false;
	c->content_length = 0;
	c->line_len = 0;
	if (c->w == NULL)
		return;
	c->head_deadline_ms = now + (int64_t)c->w->header_timeout_s * 1000;
	c->req_deadline_ms = now + (int64_t)c->w->request_timeout_s * 1000;
	guard_arm_at(c, c->head_deadline_ms < c->req_deadline_ms ? c->head_deadline_ms
								 : c->req_deadline_ms);
}

/* A header line ended: note Content-Length and Transfer-Encoding. */
static void guard_header_line(struct webhook_conn *c)
{
	size_t n = c->line_len < GUARD_LINE_MAX ? c->line_len : GUARD_LINE_MAX;
	static const char cl[] = "content-length:", te[] = "transfer-encoding:";
	char v[GUARD_LINE_MAX + 1];

	memcpy(v, c->line, n);
	v[n] = '\0';
	if (strncasecmp(v, cl, sizeof(cl) - 1) == 0) {
		const char *p = v + sizeof(cl) - 1;
		char *end;
		unsigned long long x;

		while (*p == ' ' || *p == '\t')
			p++;
		errno = 0;
		x = strtoull(p, &end, 10);
		while (*end == ' ' || *end == '\t' || *end == '\r')
			end++;
		if (end == p || *end != '\0' || errno != 0 || *p == '-' || c->line_len > n)
			c->cl_bad = true;
		else
			c->content_length = x;
	} else if (strncasecmp(v, te, sizeof(te) - 1) == 0) {
		c->chunked = true;
	}
}

/*
 * The head ended: reserve the body (refused past max_buffered: close) and
 * move to the body, or to the next head when there is none.
 */
static void guard_head_end(struct webhook_conn *c)
{
	struct gq_webhook *w = c->w;
	size_t want = 0;

	c->head_deadline_ms = 0;
	c->in_request = false;
	if (w == NULL)
		return;
	if (c->chunked)
		want = w->max_body;
	else if (!c->cl_bad && c->content_length <= w->max_body)
		want = (size_t)c->content_length;
	/* an oversized or unreadable length: evhttp answers 413/400 and
	 * discards the body, which buffers nothing */
	if (want > 0 && w->st.buffered + want > w->max_buffered) {
		w->st.closed_buffered++;
		guard_close_soon(c);
		return;
	}
	w->st.buffered += want;
	c->reserved += want;
	if (c->chunked) {
		c->phase = GUARD_OPAQUE;
	} else if (c->content_length > 0 && !c->cl_bad) {
		c->phase = GUARD_BODY;
		c->body_left = c->content_length;
	} else {
		/* no body: the request is complete */
		c->req_deadline_ms = 0;
		evtimer_del(c->timer);
	}
}

/* Follows the framing over n bytes of data. */
static void guard_scan(struct webhook_conn *c, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && !c->closing) {
		if (c->phase == GUARD_OPAQUE)
			return;
		if (c->phase == GUARD_BODY) {
			size_t k = n - i < c->body_left ? n - i : (size_t)c->body_left;

			c->body_left -= k;
			i += k;
			if (c->body_left == 0) {
				c->phase = GUARD_HEAD;
				c->req_deadline_ms = 0;
				evtimer_del(c->timer);
			}
			continue;
		}
		char ch = p[i++];

		if (!c->in_request) {
			if (ch == '\r' || ch == '\n')
				continue; /* blank lines between requests */
			guard_request_start(c);
		}
		if (ch != '\n') {
			if (c->line_len < GUARD_LINE_MAX)
				c->line[c->line_len] = ch;
			c->line_len++;
			continue;
		}
		if (c->line_len == 0 || (c->line_len == 1 && c->line[0] == '\r'))
			guard_head_end(c);
		else
			guard_header_line(c);
		c->line_len = 0;
	}
}

/* Callback on the input buffer: follows the framing over the bytes added. */
static void guard_inbuf_cb(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
	struct webhook_conn *c = arg;
	size_t len = evbuffer_get_length(b);
	struct evbuffer_iovec v[16];
	struct evbuffer_ptr pos;
	int n;

	if (info->n_added == 0 || c->closing || c->w == NULL || info->n_added > len)
		return;
	if (evbuffer_ptr_set(b, &pos, len - info->n_added, EVBUFFER_PTR_SET) != 0)
		return;
	while (pos.pos < (ev_ssize_t)len && !c->closing) {
		n = evbuffer_peek(b, (ev_ssize_t)len - pos.pos, &pos, v, 16);
		if (n <= 0)
			return;
		if (n > 16)
			n = 16;
		for (int i = 0; i < n && !c->closing; i++) {
			guard_scan(c, v[i].iov_base, v[i].iov_len);
			if (evbuffer_ptr_set(b, &pos, v[i].iov_len, EVBUFFER_PTR_ADD) != 0)
				return;
		}
	}
}

/* Callback on the output buffer: an answer is being written; release its
 * reservation and start the idle deadline when no next request is under
 * way. */
static void guard_outbuf_cb(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
	struct webhook_conn *c = arg;

	(void)b;
	if (info->n_added == 0 || c->w == NULL || c->phase == GUARD_BODY)
		return;
	guard_release(c);
	if (c->phase == GUARD_OPAQUE)
		c->phase = GUARD_HEAD;
	if (!c->in_request && !c->closing)
		guard_arm_at(c, gq_mono_ms() + (int64_t)c->w->timeout_s * 1000);
}

/* Unlinks c from its server and frees it; with_bev: the bufferevent is
 * still there (its buffer callbacks are removed). */
static void guard_free(struct webhook_conn *c, bool with_bev)
{
	guard_release(c);
	if (c->w != NULL) {
		c->w->st.open--;
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			c->w->conns = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
	}
	if (with_bev) {
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
		evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
	}
	event_free(c->timer);
	event_free(c->attach);
	free(c);
}

/* evhttp frees the connection (the bufferevent is still valid). */
static void guard_closecb(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	guard_free(arg, true);
}

/* Right after the accept: evhttp's bufferevent callbacks carry its
 * connection; become its close callback. */
static void guard_attach_cb(evutil_socket_t fd, short what, void *arg)
{
	struct webhook_conn *c = arg;
	bufferevent_event_cb ecb = NULL;
	void *evcon = NULL;

	(void)fd, (void)what;
	bufferevent_getcb(c->bev, NULL, NULL, &ecb, &evcon);
	if (ecb == NULL || evcon == NULL)
		abort(); /* evhttp sets its callbacks before returning to the loop */
	evhttp_connection_set_closecb(evcon, guard_closecb, c);
	c->attached = true;
}

/*
 * Puts a guard on a new connection's bufferevent: the handshake deadline
 * starts, and a connection over max_connections is closed at once.
 */
static struct bufferevent *guard_wrap(struct gq_webhook *w, struct bufferevent *bev)
{
	struct webhook_conn *c = gq_calloc(1, sizeof(*c));

	c->w = w;
	c->bev = bev;
	c->timer = evtimer_new(w->base, guard_timer_cb, c);
	c->attach = event_new(w->base, -1, 0, guard_attach_cb, c);
	c->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), guard_inbuf_cb, c);
	c->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), guard_outbuf_cb, c);
	if (c->timer == NULL || c->attach == NULL || c->in_cb == NULL || c->out_cb == NULL)
		abort();
	event_active(c->attach, EV_TIMEOUT, 0);
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->st.open++;
	w->st.connections++;
	if (w->st.open > (uint64_t)w->max_connections) {
		w->st.closed_max_conns++;
		guard_close_soon(c);
	} else {
		c->req_deadline_ms = gq_mono_ms() + (int64_t)w->handshake_timeout_s * 1000;
		guard_arm_at(c, c->req_deadline_ms);
	}
	return bev;
}

/* Frees the guards evhttp_free left (connections accepted in the loop
 * pass that has not yet attached them; their bufferevents are gone). */
static void webhook_free_conns(struct gq_webhook *w)
{
	while (w->conns != NULL)
		guard_free(w->conns, false);
}

/* ------------------------------------------------------------ replies */

/* Frees a reply body handed to evbuffer_add_reference(). */
static void webhook_free_ref(const void *data, size_t len, void *arg)
{
	(void)len, (void)arg;
	free((void *)data);
}

/*
 * Sends a reply with the given status and Content-Type. data (len bytes)
 * is a heap string whose ownership passes to this function. Counts errors,
 * and asks the client to close when draining.
 */
static void webhook_reply(struct gq_webhook *w, struct evhttp_request *req, int code,
			  const char *ctype, char *data, size_t len)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	struct evbuffer *evb = evbuffer_new();
	struct evhttp_connection *evcon;
	struct bufferevent *bev;

	if (evb == NULL)
		abort();
	evhttp_add_header(hdr, "Content-Type", ctype);
	evhttp_add_header(hdr, "X-Content-Type-Options", "nosniff");
	if (w->state != WEBHOOK_LISTENING)
		evhttp_add_header(hdr, "Connection", "close");
	if (code >= 400 && code < 500)
		w->st.errors_4xx++;
	else if (code >= 500)
		w->st.errors_5xx++;
	if (len == 0 || evbuffer_add_reference(evb, data, len, webhook_free_ref, NULL) != 0)
		free(data);
	evcon = evhttp_request_get_connection(req);
	bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
	evhttp_send_reply(req, code, NULL, evb);
	evbuffer_free(evb);
	/* evhttp leaves the status line and headers and the body in separate
	 * chains of the connection's output buffer, and bufferevent_openssl
	 * writes each chain as its own TLS record and write(2). Joining a
	 * small reply into one chain halves the records and system calls. */
	if (bev != NULL) {
		struct evbuffer *o = bufferevent_get_output(bev);

		if (evbuffer_get_length(o) <= WEBHOOK_COALESCE_MAX)
			evbuffer_pullup(o, -1);
	}
}

/* Sends a plain-text reply "msg\n", optionally with an Allow header. */
static void webhook_reply_text(struct gq_webhook *w, struct evhttp_request *req, int code,
			       const char *allow, const char *msg)
{
	char *s = gq_asprintf("%s\n", msg);

	if (allow != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
	webhook_reply(w, req, code, "text/plain; charset=utf-8", s, strlen(s));
}

/* True when the Content-Type value names application/json, with or
 * without parameters. */
static bool webhook_is_json(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

/* ------------------------------------------------------------ requests */

/* Finds the route for path, or NULL. */
static const struct webhook_route *webhook_find(const struct gq_webhook *w, const char *path)
{
	for (size_t i = 0; i < w->n_routes; i++)
		if (strcmp(w->routes[i].path, path) == 0)
			return &w->routes[i];
	return NULL;
}

/*
 * Runs a route's handler on the request body and sends its answer: 2xx as
 * JSON, 4xx as text, anything else as 500.
 */
static void webhook_call(struct gq_webhook *w, struct evhttp_request *req,
			 const struct webhook_route *r)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	struct gq_buf out;
	const char *body;
	int code;

	if (len > w->max_body) {
		webhook_reply_text(w, req, 413, NULL, "request body too large");
		return;
	}
	/* A NUL after the body lets handlers parse it as a C string. */
	if (evbuffer_add(in, "", 1) != 0 ||
	    (body = (const char *)evbuffer_pullup(in, -1)) == NULL) {
		webhook_reply_text(w, req, 500, NULL, "internal error");
		return;
	}
	gq_buf_init(&out, GQ_WEBHOOK_MAX_RESPONSE);
	code = r->h(r->payload, body, len, &out);
	if (code >= 200 && code < 300) {
		size_t n = out.len;
		webhook_reply(w, req, code, "application/json", gq_buf_steal(&out), n);
	} else if (code >= 400 && code < 500) {
		if (out.len == 0)
			gq_buf_puts(&out, "bad request\n");
		size_t n = out.len;
		webhook_reply(w, req, code, "text/plain; charset=utf-8", gq_buf_steal(&out), n);
	} else {
		webhook_reply_text(w, req, 500, NULL, "internal error");
	}
	gq_buf_free(&out);
}

/*
 * evhttp's callback for every complete request: GET /healthz, then the
 * routes (404 for others), POST only (405), JSON only (415).
 */
static void webhook_request_cb(struct evhttp_request *req, void *arg)
{
	struct gq_webhook *w = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	const struct webhook_route *r;

	w->st.requests++;
	if (path == NULL || path[0] == '\0')
		path = "/";
	if (strcmp(path, GQ_WEBHOOK_HEALTHZ) == 0) {
		if (method == EVHTTP_REQ_GET)
			webhook_reply(w, req, 200, "text/plain; charset=utf-8", gq_strdup("ok"), 2);
		else
			webhook_reply_text(w, req, 405, "GET", "method not allowed");
		return;
	}
	r = webhook_find(w, path);
	if (r == NULL) {
		webhook_reply_text(w, req, 404, NULL, "not found");
		return;
	}
	if (method != EVHTTP_REQ_POST) {
		webhook_reply_text(w, req, 405, "POST", "method not allowed");
		return;
	}
	if (!webhook_is_json(
		evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type"))) {
		webhook_reply_text(w, req, 415, NULL, "Content-Type must be application/json");
		return;
	}
	webhook_call(w, req, r);
}

/*
 * evhttp's bufferevent factory, called for each accepted connection: the
 * a server-side TLS bufferevent on the current context (a plain socket one
 * for gq_webhook_start_plain) with its guard. It must not return NULL
 * (evhttp would then serve plain HTTP without the guard), so allocation
 * failure aborts, as everywhere else in gpuquota.
 */
static struct bufferevent *webhook_bevcb(struct event_base *base, void *arg)
{
	struct gq_webhook *w = arg;
	struct bufferevent *bev;

	if (w->plain) {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	} else {
		SSL *ssl = SSL_new(w->ctx);

		if (ssl == NULL)
			abort();
		bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
		if (bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	}
	if (bev == NULL)
		abort();
	return guard_wrap(w, bev);
}

/* ------------------------------------------------------------ TLS */

/* ALPN: agree to http/1.1 only; a client offering only h2 gets no ALPN. */
static int webhook_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			   const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char protos[] = "\x08http/1.1";
	unsigned char *sel = NULL;

	(void)ssl, (void)arg;
	if (SSL_select_next_proto(&sel, outlen, protos, sizeof(protos) - 1, in, inlen) !=
		OPENSSL_NPN_NEGOTIATED ||
	    sel == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* Passphrase callback that refuses: encrypted keys fail, never prompt. */
static int webhook_no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

/* Loads the certificate chain and key PEM into ctx. */
static int webhook_load_pair(SSL_CTX *ctx, const char *cert_pem, const char *key_pem,
			     struct gq_err *err)
{
	BIO *b = NULL;
	X509 *x = NULL;
	EVP_PKEY *key = NULL;
	int rc = GQ_OK;

	if (cert_pem == NULL || key_pem == NULL ||
	    strnlen(cert_pem, WEBHOOK_PEM_MAX + 1) > WEBHOOK_PEM_MAX ||
	    strnlen(key_pem, WEBHOOK_PEM_MAX + 1) > WEBHOOK_PEM_MAX)
		return gq_err_set(err, GQ_EINVAL, "webhook: missing or oversized PEM");
	b = BIO_new_mem_buf(cert_pem, (int)strlen(cert_pem));
	if (b == NULL)
		return gq_certs_ssl_fail(err, GQ_EIO, "webhook: certificate");
	x = PEM_read_bio_X509(b, NULL, webhook_no_password, NULL);
	if (x == NULL) {
		rc = gq_certs_ssl_fail(err, GQ_EPARSE, "webhook: reading certificate");
		goto out;
	}
	if (SSL_CTX_use_certificate(ctx, x) != 1) {
		rc = gq_certs_ssl_fail(err, GQ_EINVAL, "webhook: using certificate");
		goto out;
	}
	for (int i = 0; i < WEBHOOK_CHAIN_MAX; i++) {
		X509 *c = PEM_read_bio_X509(b, NULL, webhook_no_password, NULL);

		if (c == NULL)
			break;
		if (SSL_CTX_add0_chain_cert(ctx, c) != 1) {
			X509_free(c);
			rc = gq_certs_ssl_fail(err, GQ_EINVAL, "webhook: adding chain certificate");
			goto out;
		}
	}
	ERR_clear_error(); /* the chain loop ends on "no start line" */
	BIO_free(b);
	b = BIO_new_mem_buf(key_pem, (int)strlen(key_pem));
	if (b == NULL) {
		rc = gq_certs_ssl_fail(err, GQ_EIO, "webhook: key");
		goto out;
	}
	key = PEM_read_bio_PrivateKey(b, NULL, webhook_no_password, NULL);
	if (key == NULL) {
		rc = gq_certs_ssl_fail(err, GQ_EPARSE, "webhook: reading key");
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		rc = gq_certs_ssl_fail(err, GQ_EINVAL,
				       "webhook: the key does not match the certificate");
		goto out;
	}
out:
	EVP_PKEY_free(key);
	X509_free(x);
	BIO_free(b);
	return rc;
}

int gq_webhook_set_cert(struct gq_webhook *w, const char *cert_pem, const char *key_pem,
			struct gq_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int rc;

	if (ctx == NULL)
		return gq_certs_ssl_fail(err, GQ_EIO, "webhook: creating TLS context");
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		rc = gq_certs_ssl_fail(err, GQ_EIO, "webhook: configuring TLS context");
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	/* webhook_reply may move unsent output (and libevent's retries re-peek
	 * the buffer): let OpenSSL accept a retried write from a new address. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_alpn_select_cb(ctx, webhook_alpn_cb, NULL);
	rc = webhook_load_pair(ctx, cert_pem, key_pem, err);
	if (rc != GQ_OK)
		goto fail;
	SSL_CTX_free(w->ctx);
	w->ctx = ctx;
	return GQ_OK;
fail:
	SSL_CTX_free(ctx);
	return rc;
}

/* ------------------------------------------------------------ life cycle */

struct event_base *gq_webhook_base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

int gq_webhook_new(struct gq_webhook **out, struct event_base *base,
		   const struct gq_webhook_opts *o, struct gq_err *err)
{
	struct gq_webhook *w;
	int rc;

	*out = NULL;
	if (base == NULL || o == NULL)
		return gq_err_set(err, GQ_EINVAL, "webhook: missing event base or options");
	if (o->max_body > WEBHOOK_MAX_BODY_LIMIT || o->timeout_s < 0 ||
	    o->timeout_s > WEBHOOK_TIMEOUT_LIMIT || o->handshake_timeout_s < 0 ||
	    o->handshake_timeout_s > WEBHOOK_TIMEOUT_LIMIT || o->header_timeout_s < 0 ||
	    o->header_timeout_s > WEBHOOK_TIMEOUT_LIMIT || o->request_timeout_s < 0 ||
	    o->request_timeout_s > WEBHOOK_TIMEOUT_LIMIT || o->max_connections < 0 ||
	    o->max_connections > WEBHOOK_CONNS_LIMIT || o->max_buffered > WEBHOOK_BUFFERED_LIMIT)
		return gq_err_set(err, GQ_EINVAL, "webhook: an option is out of range");
	w = gq_calloc(1, sizeof(*w));
	w->base = base;
	rc = webhook_parse_addr(w, o->addr, err);
	if (rc != GQ_OK) {
		free(w);
		return rc;
	}
	w->max_body = o->max_body ? o->max_body : GQ_WEBHOOK_MAX_BODY_DEFAULT;
	w->timeout_s = o->timeout_s ? o->timeout_s : GQ_WEBHOOK_TIMEOUT_DEFAULT;
	w->handshake_timeout_s =
	    o->handshake_timeout_s ? o->handshake_timeout_s : GQ_WEBHOOK_HANDSHAKE_TIMEOUT_DEFAULT;
	w->header_timeout_s =
	    o->header_timeout_s ? o->header_timeout_s : GQ_WEBHOOK_HEADER_TIMEOUT_DEFAULT;
	w->request_timeout_s =
	    o->request_timeout_s ? o->request_timeout_s : GQ_WEBHOOK_REQUEST_TIMEOUT_DEFAULT;
	w->max_connections =
	    o->max_connections ? o->max_connections : GQ_WEBHOOK_MAX_CONNECTIONS_DEFAULT;
	w->max_buffered = o->max_buffered ? o->max_buffered : GQ_WEBHOOK_MAX_BUFFERED_DEFAULT;
	w->http = evhttp_new(base);
	if (w->http == NULL)
		abort();
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
						EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(w->http, (ev_ssize_t)w->max_body);
	evhttp_set_max_headers_size(w->http, GQ_WEBHOOK_MAX_HEADERS);
	evhttp_set_timeout(w->http, w->timeout_s);
	evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_bevcb(w->http, webhook_bevcb, w);
	evhttp_set_gencb(w->http, webhook_request_cb, w);
	*out = w;
	return GQ_OK;
}

int gq_webhook_route(struct gq_webhook *w, const char *path, gq_webhook_handler h, void *payload)
{
	size_t n;

	if (path == NULL || h == NULL || path[0] != '/')
		return GQ_EINVAL;
	n = strnlen(path, GQ_WEBHOOK_PATH_MAX + 1);
	if (n > GQ_WEBHOOK_PATH_MAX || strpbrk(path, "?# \t\r\n") != NULL ||
	    strcmp(path, GQ_WEBHOOK_HEALTHZ) == 0 || webhook_find(w, path) != NULL ||
	    w->n_routes >= GQ_WEBHOOK_MAX_ROUTES)
		return GQ_EINVAL;
	w->routes[w->n_routes].path = gq_strndup(path, n);
	w->routes[w->n_routes].h = h;
	w->routes[w->n_routes].payload = payload;
	w->n_routes++;
	return GQ_OK;
}

/* Binds and listens (TLS or plain, as w->plain says). */
static int webhook_listen(struct gq_webhook *w, struct gq_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	evutil_socket_t fd;
	int one = 1;

	w->bound = evhttp_bind_socket_with_handle(w->http, w->host, (ev_uint16_t)w->port);
	if (w->bound == NULL)
		return gq_err_set(err, GQ_EIO, "webhook: cannot listen on %s port %d: %s", w->host,
				  w->port, strerror(errno));
	fd = evhttp_bound_socket_get_fd(w->bound);
	/* Accepted sockets inherit TCP_NODELAY on Linux: without it, a reply
	 * written as several TLS records waits for the client's delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		w->bound_port = ss.ss_family == AF_INET6
				    ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
				    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	w->backoff =
	    gq_listen_backoff_install(evhttp_bound_socket_get_listener(w->bound), "webhook");
	w->state = WEBHOOK_LISTENING;
	return GQ_OK;
}

int gq_webhook_start(struct gq_webhook *w, struct gq_err *err)
{
	if (w->state != WEBHOOK_NEW)
		return gq_err_set(err, GQ_EINVAL, "webhook: already started");
	if (w->ctx == NULL)
		return gq_err_set(err, GQ_EINVAL, "webhook: no serving certificate set");
	return webhook_listen(w, err);
}

int gq_webhook_start_plain(struct gq_webhook *w, struct gq_err *err)
{
	if (w->state != WEBHOOK_NEW)
		return gq_err_set(err, GQ_EINVAL, "webhook: already started");
	w->plain = true;
	return webhook_listen(w, err);
}

int gq_webhook_port(const struct gq_webhook *w)
{
	return w->state == WEBHOOK_LISTENING || w->state == WEBHOOK_DRAINING ? w->bound_port : 0;
}

/* Context of a completion callback deferred to the loop. */
struct webhook_deferred {
	void (*done)(void *arg);
	void *arg;
};

/* Runs a deferred completion callback. */
static void webhook_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct webhook_deferred d = *(struct webhook_deferred *)arg;

	(void)fd, (void)what;
	free(arg);
	d.done(d.arg);
}

/* Calls done(arg) from the next iteration of base's loop (nothing when done
 * is NULL). */
static void webhook_defer(struct event_base *base, void (*done)(void *arg), void *arg)
{
	const struct timeval zero = {0, 0};
	struct webhook_deferred *d;

	if (done == NULL)
		return;
	d = gq_malloc(sizeof(*d));
	d->done = done;
	d->arg = arg;
	if (event_base_once(base, -1, EV_TIMEOUT, webhook_deferred_cb, d, &zero) != 0)
		abort();
}

/*
 * End of the drain grace: close the listener and every connection, then
 * report from the next loop iteration, after libevent has finalized the
 * closed connections (so that done may stop the loop without leaking them).
 */
static void webhook_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct gq_webhook *w = arg;

	(void)fd, (void)what;
	gq_listen_backoff_free(w->backoff);
	w->backoff = NULL;
	w->bound = NULL; /* owned by http */
	evhttp_free(w->http);
	w->http = NULL;
	webhook_free_conns(w);
	w->state = WEBHOOK_DRAINED;
	webhook_defer(w->base, w->drain_done, w->drain_arg);
	w->drain_done = NULL;
}

void gq_webhook_drain(struct gq_webhook *w, int grace_ms, void (*done)(void *arg), void *arg)
{
	struct timeval tv;

	if (w->state != WEBHOOK_LISTENING) {
		webhook_defer(w->base, done, arg);
		return;
	}
	if (grace_ms < 0)
		grace_ms = 0;
	w->state = WEBHOOK_DRAINING;
	w->drain_done = done;
	w->drain_arg = arg;
	w->drain_ev = evtimer_new(w->base, webhook_drain_timeout, w);
	if (w->drain_ev == NULL)
		abort();
	tv.tv_sec = grace_ms / 1000;
	tv.tv_usec = (grace_ms % 1000) * 1000;
	evtimer_add(w->drain_ev, &tv);
}

void gq_webhook_get_stats(const struct gq_webhook *w, struct gq_webhook_stats *st)
{
	*st = w->st;
}

void gq_webhook_free(struct gq_webhook *w)
{
	if (w == NULL)
		return;
	if (w->drain_ev != NULL)
		event_free(w->drain_ev);
	gq_listen_backoff_free(w->backoff);
	if (w->http != NULL)
		evhttp_free(w->http);
	webhook_free_conns(w);
	SSL_CTX_free(w->ctx);
	for (size_t i = 0; i < w->n_routes; i++)
		free(w->routes[i].path);
	free(w);
}
