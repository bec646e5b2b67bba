/*
 * webhook.h - the HTTPS server of the admission webhook: libevent 2.1
 * evhttp over OpenSSL bufferevents, HTTP/1.1 with keep-alive, up to
 * max_connections concurrent connections, on an event_base the caller owns
 * and runs.
 *
 * Threading: every function, and every handler, runs on the thread that
 * runs the event_base (the caller's main loop). Nothing here blocks.
 *
 * Requests: routing uses the path only (the apiserver appends
 * "?timeout=10s"). GET /healthz answers 200 "ok" for probes. A registered
 * path accepts only POST (405 otherwise) with Content-Type
 * application/json (415 otherwise; parameters such as charset are allowed)
 * and a body of at most max_body bytes (413, decided on the Content-Length
 * before any of the body is buffered: evhttp discards the body, so that the
 * client sees the answer). Unknown paths get 404. Framing errors (bad
 * request line, headers over the bound, bad chunking) get 400 from evhttp.
 *
 * Hostile clients: each connection has deadlines that bytes do not extend:
 * handshake_timeout_s from the accept to the first byte of a request (the
 * TLS handshake included), header_timeout_s from a request's first byte to
 * the end of its head, request_timeout_s from its first byte to the end of
 * its body, and timeout_s idle between keep-alive requests; past one the
 * connection is closed. At most max_connections are open: one over it is
 * closed at once. The bodies being received on all connections together
 * reserve at most max_buffered bytes (a request reserves its
 * Content-Length, or max_body when chunked, from the end of its head until
 * its answer is written): a request that would exceed it is closed without
 * an answer (the apiserver then applies the failurePolicy). Accept errors
 * for lack of descriptors pause the listener (listen.h).
 *
 * TLS: TLS 1.2 and 1.3 with the certificate given to gq_webhook_set_cert;
 * ALPN selects http/1.1 (never h2). An unclean close by the peer ("unexpected
 * eof") is not an error. A new certificate applies to new connections, so
 * certificates rotate without a restart and without cutting connections.
 *
 * The process must ignore SIGPIPE (a peer may close while we write).
 */
#ifndef GQ_WEBHOOK_H
#define GQ_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "gq.h"

struct event_base;

/*
 * Defaults applied when the options leave a field 0. The body bound is
 * large because the apiserver escapes <, > and & in JSON as six bytes
 * (\u003c), so a review can be several times the size of its pod; the
 * memory is bounded by the total-buffered cap instead.
 */
#define GQ_WEBHOOK_MAX_BODY_DEFAULT	     ((size_t)20 << 20)
#define GQ_WEBHOOK_TIMEOUT_DEFAULT	     10 /* idle keep-alive connection, s */
#define GQ_WEBHOOK_HANDSHAKE_TIMEOUT_DEFAULT 5	/* accept to the first request byte, s */
#define GQ_WEBHOOK_HEADER_TIMEOUT_DEFAULT    5	/* first byte to the end of the head, s */
#define GQ_WEBHOOK_REQUEST_TIMEOUT_DEFAULT   10 /* first byte to the end of the body, s */
#define GQ_WEBHOOK_MAX_CONNECTIONS_DEFAULT   256
#define GQ_WEBHOOK_MAX_BUFFERED_DEFAULT	     ((size_t)64 << 20)
/* Bound on the body a handler may write (larger: 500). */
#define GQ_WEBHOOK_MAX_RESPONSE ((size_t)16 << 20)
/* Bound on the request line plus headers. */
#define GQ_WEBHOOK_MAX_HEADERS 32768
/* Most routes, and longest route path. */
#define GQ_WEBHOOK_MAX_ROUTES 32
#define GQ_WEBHOOK_PATH_MAX   256
/* Path answered for probes (GET only). */
#define GQ_WEBHOOK_HEALTHZ "/healthz"

/* Opaque server. */
struct gq_webhook;

/*
 * Called on the loop thread for each POST to a registered path; must not
 * block. body holds len bytes followed by a NUL (body[len] == '\0'; the
 * body itself may contain NULs); it is borrowed for the call. The handler
 * writes the response into out (bounded by GQ_WEBHOOK_MAX_RESPONSE) and
 * returns the HTTP status: 200 with a JSON body, or 400..499 with a plain
 * text message for a malformed request. Any other return value (a negative
 * GQ_E* code, a failed write into out) becomes a 500.
 */
typedef int (*gq_webhook_handler)(void *payload, const char *body, size_t len, struct gq_buf *out);

/* Server options; 0 fields take the defaults. */
struct gq_webhook_opts {
	const char
	    *addr; /* "host:port", "[v6]:port" or ":port" (all IPv4 addresses); port 0 = any */
	size_t max_body;	 /* largest request body; 0 = GQ_WEBHOOK_MAX_BODY_DEFAULT */
	int timeout_s;		 /* idle keep-alive timeout; 0 = GQ_WEBHOOK_TIMEOUT_DEFAULT */
	int handshake_timeout_s; /* 0 = GQ_WEBHOOK_HANDSHAKE_TIMEOUT_DEFAULT */
	int header_timeout_s;	 /* 0 = GQ_WEBHOOK_HEADER_TIMEOUT_DEFAULT */
	int request_timeout_s;	 /* 0 = GQ_WEBHOOK_REQUEST_TIMEOUT_DEFAULT */
	int max_connections;	 /* 0 = GQ_WEBHOOK_MAX_CONNECTIONS_DEFAULT */
	size_t max_buffered;	 /* 0 = GQ_WEBHOOK_MAX_BUFFERED_DEFAULT */
};

/* Counters since creation. */
struct gq_webhook_stats {
	uint64_t requests; /* requests that reached routing (all methods and paths) */
	uint64_t
	    errors_4xx;	      /* 4xx replies sent by this module (404, 405, 413, 415, handlers');
				 evhttp's own 400/413 for framing and oversize bodies are not counted */
	uint64_t errors_5xx;  /* 500 replies (handler failures) */
	uint64_t connections; /* connections accepted */
	uint64_t open;	      /* connections open now */
	uint64_t buffered;    /* bytes reserved by bodies being received now */
	uint64_t closed_deadline;  /* connections closed by a deadline */
	uint64_t closed_max_conns; /* connections closed at once: max_connections open */
	uint64_t closed_buffered;  /* requests closed: max_buffered reserved */
};

/*
 * Creates a server on base (which must outlive it) with options o (copied).
 * Nothing listens until gq_webhook_start(). *out is owned by the caller
 * (gq_webhook_free). Returns GQ_OK or GQ_EINVAL (bad address or option).
 */
/*
 * A new event_base for the loop that serves the webhook (NULL only when
 * libevent cannot create one; the caller frees it with event_base_free).
 * It batches event changes (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST): each
 * request makes its connection's bufferevent switch from reading to
 * writing and back, and batching halves the epoll_ctl(2) calls that costs
 * (two per request remain). The flag is unsafe only with dup()ed descriptors in
 * the same loop, which gpuquota never registers.
 */
struct event_base *gq_webhook_base_new(void);

int gq_webhook_new(struct gq_webhook **out, struct event_base *base,
		   const struct gq_webhook_opts *o, struct gq_err *err);

/*
 * Routes POSTs to path (starting with '/', no query, at most
 * GQ_WEBHOOK_PATH_MAX bytes, not "/healthz", not already routed) to h
 * with payload (borrowed; must outlive the server). GQ_OK or GQ_EINVAL.
 */
int gq_webhook_route(struct gq_webhook *w, const char *path, gq_webhook_handler h, void *payload);

/*
 * Installs a serving certificate (PEM; cert_pem may hold the chain after
 * the leaf) and its unencrypted private key in a new TLS context, used by
 * connections accepted from now on; connections already open keep the
 * previous one, which is freed when the last of them closes. Both texts are
 * copied. Returns GQ_OK, GQ_EPARSE (unreadable PEM) or GQ_EINVAL (key does
 * not match, oversize PEM); the previous certificate stays on error.
 */
int gq_webhook_set_cert(struct gq_webhook *w, const char *cert_pem, const char *key_pem,
			struct gq_err *err);

/*
 * Binds and listens. A certificate must have been set. Returns GQ_OK,
 * GQ_EINVAL (no certificate, already started or drained) or GQ_EIO
 * (bind/listen failed).
 */
int gq_webhook_start(struct gq_webhook *w, struct gq_err *err);

/*
 * Like gq_webhook_start but serves plain HTTP (no certificate needed): the
 * same request handling, deadlines and caps without TLS, for tests and
 * fuzzing. Never used by the controller.
 */
int gq_webhook_start_plain(struct gq_webhook *w, struct gq_err *err);

/* The port listened on (useful with port 0), or 0 when not listening. */
int gq_webhook_port(const struct gq_webhook *w);

/*
 * Graceful shutdown. For grace_ms the server goes on accepting and serving
 * (the endpoint's removal reaches the Service's routing some time after the
 * pod is marked terminating, and clients reuse their open connections), but
 * every response carries "Connection: close" so that clients move to
 * another endpoint. Then it closes the listener and every connection and,
 * from the next loop iteration, calls done(arg) (it may free the server or
 * stop the loop). A request still being received when the grace ends is
 * cut. A second call, or a call on a server never started, calls done (from
 * the loop) without other effect. done may be NULL.
 */
void gq_webhook_drain(struct gq_webhook *w, int grace_ms, void (*done)(void *arg), void *arg);

/* Copies the counters into *st. */
void gq_webhook_get_stats(const struct gq_webhook *w, struct gq_webhook_stats *st);

/*
 * Closes everything at once and frees the server (NULL is fine). The done
 * callback of a drain whose grace has not ended is not called. libevent finalizes the connections'
 * bufferevents from the loop: when the loop will not run again, run it once
 * more (event_base_loop(base, EVLOOP_NONBLOCK)) before event_base_free(),
 * or a connection closing at that moment may be leaked.
 */
void gq_webhook_free(struct gq_webhook *w);

#endif
