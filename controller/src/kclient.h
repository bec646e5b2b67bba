/*
 * kclient.h - a small Kubernetes REST client over libcurl.
 *
 * One struct gq_kclient per apiserver. It is thread-safe: every synchronous
 * call builds a fresh curl easy handle and runs it with curl_easy_perform()
 * on the calling thread, while connections, DNS results and TLS sessions are
 * shared between those handles through a CURLSH protected by mutexes. Watches
 * do not go through the synchronous path: gq_kclient_watch_handle() prepares
 * an easy handle that the informer adds to its own curl multi handle.
 *
 * Authentication and TLS come from the kubeconfig (see kubeconfig.h): a CA,
 * a client certificate and key (all PEM, passed to libcurl as memory blobs),
 * and/or a bearer token. A token file is re-read at most every 60 s and after
 * any 401; a request that got a 401 is retried once when the re-read token
 * differs from the one the request carried (a rotated projected token).
 *
 * Errors: HTTP statuses outside 2xx map to GQ_EUNAUTHORIZED (401),
 * GQ_EFORBIDDEN (403), GQ_ENOTFOUND (404), GQ_ECONFLICT (409), GQ_EGONE (410)
 * or GQ_EHTTP (anything else); a write refused by the write gate is
 * GQ_ENOTLEADER; err->code then holds the status and err->msg
 * the `message` of the Kubernetes Status in the body (or the start of the raw
 * body). Transport failures (connect, TLS, timeout) are GQ_EIO with
 * err->code 0. A response body larger than its bound is GQ_ETOOBIG.
 */
#ifndef GQ_KCLIENT_H
#define GQ_KCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <yajl/yajl_tree.h>

#include "gq.h"
#include "kubeconfig.h"

/* Default bound on a response body (bytes) when a caller passes 0. */
#define GQ_KCLIENT_MAX_RESP_DEFAULT ((size_t)64 << 20)
/* Default LIST page size when a caller passes page <= 0. */
#define GQ_KCLIENT_PAGE_DEFAULT 500
/* Connect timeout and total timeout of synchronous (non-watch) requests. */
#define GQ_KCLIENT_CONNECT_TIMEOUT_MS 10000L
#define GQ_KCLIENT_REQUEST_TIMEOUT_MS 30000L
/* Watches: a transfer slower than 1 byte/s for 400 s is dead and ends. The
 * informer asks the server to end each watch within 240-360 s
 * (timeoutSeconds), so a healthy idle watch never reaches this. */
#define GQ_KCLIENT_WATCH_LOW_SPEED_LIMIT 1L
#define GQ_KCLIENT_WATCH_LOW_SPEED_TIME	 400L
/* A token file is re-read at most this often (and after every 401). */
#define GQ_KCLIENT_TOKEN_REFRESH_S 60

/* Opaque, thread-safe client. */
struct gq_kclient;

/*
 * Creates a client for the apiserver described by cfg. The client copies
 * what it needs (URL, PEM blobs, token and token file path), so cfg may be
 * freed afterwards. The token (file) is read once here. Allowed server schemes are https:// and
 * (for tests) http://. An insecure configuration (insecure_skip_tls_verify) logs a warning once.
 * *out is owned by the caller (gq_kclient_free). Returns GQ_OK, GQ_EINVAL
 * (bad URL or configuration) or the token reader's error.
 */
int gq_kclient_new(struct gq_kclient **out, const struct gq_kubeconfig *cfg, struct gq_err *err);

/* Frees the client (NULL is fine). No request may be in flight. */
void gq_kclient_free(struct gq_kclient *c);

/*
 * Generic request: method ("GET", "POST", ...) to server + path, where path
 * starts with '/' and includes any query string (escape values with
 * gq_kclient_escape). body/body_len (body may be NULL) is sent with
 * content_type when body is non-NULL. The response body is bounded by
 * max_resp bytes (0 = GQ_KCLIENT_MAX_RESP_DEFAULT). *http_status (may be
 * NULL) receives the status, 0 when no response arrived. *resp_out (may be
 * NULL) receives the NUL-terminated body, caller frees, also on HTTP errors;
 * it is left NULL when no complete body arrived.
 * Returns GQ_OK for 2xx, the mapped error otherwise (see the top of this file).
 */
int gq_kclient_request(struct gq_kclient *c, const char *method, const char *path,
		       const char *content_type, const char *body, size_t body_len, size_t max_resp,
		       int *http_status, char **resp_out, struct gq_err *err);

/* GET path and parse the body as JSON. *out is owned by the caller
 * (yajl_tree_free). GQ_EPARSE when the body is not JSON. */
int gq_kclient_get_json(struct gq_kclient *c, const char *path, yajl_val *out, struct gq_err *err);

/*
 * Paginated LIST of path (a collection, optionally with a query string such
 * as a labelSelector): requests pages of `page` items (<= 0: 500), following
 * metadata.continue. item_cb is called for each element of items[] in order;
 * the item is borrowed for the duration of the call. A non-zero return from
 * item_cb stops the list and is returned. When a continue token has expired
 * (410), the list restarts once from the beginning: reset_cb (may be NULL)
 * is called first, and items already delivered are then delivered again, so
 * callers should build their result from scratch in reset_cb. A second 410
 * is returned as GQ_EGONE.
 * *rv_out (may be NULL) receives the list's metadata.resourceVersion
 * (caller frees; "" when absent) on success.
 */
int gq_kclient_list(struct gq_kclient *c, const char *path, int page,
		    int (*item_cb)(void *payload, yajl_val item), void (*reset_cb)(void *payload),
		    void *payload, char **rv_out, struct gq_err *err);

/*
 * Server-side apply: PATCH path?fieldManager=<field_manager>&force=true with
 * Content-Type application/apply-patch+yaml; body is the JSON object to
 * apply (JSON is valid YAML). *out (may be NULL) receives the returned
 * object, caller frees with yajl_tree_free.
 */
int gq_kclient_apply(struct gq_kclient *c, const char *path, const char *field_manager,
		     const char *body, yajl_val *out, struct gq_err *err);

/* PATCH path with patch_type ("application/merge-patch+json",
 * "application/json-patch+json", ...). *out as for gq_kclient_apply. */
int gq_kclient_patch(struct gq_kclient *c, const char *path, const char *patch_type,
		     const char *body, yajl_val *out, struct gq_err *err);

/* POST body (JSON) to collection_path. *out as for gq_kclient_apply. */
int gq_kclient_create(struct gq_kclient *c, const char *collection_path, const char *body,
		      yajl_val *out, struct gq_err *err);

/* DELETE path. A missing object is GQ_ENOTFOUND. */
int gq_kclient_delete(struct gq_kclient *c, const char *path, struct gq_err *err);

/*
 * Prepares a fresh easy handle for a watch (or any long-running GET) that the
 * caller adds to its own curl multi handle: URL = server + path, TLS and
 * authentication as for synchronous requests, TCP keepalive, a connect
 * timeout, a low-speed limit (1 byte/s over 90 s) instead of a total timeout,
 * and write_cb/payload as CURLOPT_WRITEFUNCTION/CURLOPT_WRITEDATA. The handle
 * uses CURLOPT_PRIVATE itself (use gq_kclient_easy_payload() to get payload
 * back from a handle). *out is owned by the caller: remove it from the multi
 * handle, then release it with gq_kclient_easy_cleanup(), never with
 * curl_easy_cleanup() alone.
 */
int gq_kclient_watch_handle(struct gq_kclient *c, CURL **out, const char *path,
			    size_t (*write_cb)(char *, size_t, size_t, void *), void *payload,
			    struct gq_err *err);

/* Frees a handle from gq_kclient_watch_handle() and its header list (NULL is fine). */
void gq_kclient_easy_cleanup(CURL *h);

/* The payload given to gq_kclient_watch_handle() for handle h (borrowed). */
void *gq_kclient_easy_payload(CURL *h);

/* The libcurl error text of a failed handle from gq_kclient_watch_handle()
 * ("" when none; borrowed, valid until gq_kclient_easy_cleanup). */
const char *gq_kclient_easy_error(CURL *h);

/*
 * Tells the client that a request made outside it (a watch) got a 401: the
 * token is re-read before the next request.
 */
void gq_kclient_token_expired(struct gq_kclient *c);

/* Request counters: *requests (may be NULL) = every HTTP request sent,
 * retries and watch handles included; *writes (may be NULL) = those with
 * method POST, PUT, PATCH or DELETE. */
void gq_kclient_stats(const struct gq_kclient *c, uint64_t *requests, uint64_t *writes);

/*
 * Write gate (set before any request is made; gate may be NULL: none). Before
 * each POST, PUT, PATCH or DELETE the client calls gate(arg): a result <= 0
 * refuses the write, which is then never sent and returns GQ_ENOTLEADER;
 * otherwise the result (ms) caps the request's total timeout, so that no
 * write is still in flight past it. Used to keep every write of the
 * controller inside the leader's lease; gate must be thread-safe.
 */
void gq_kclient_set_write_gate(struct gq_kclient *c, int64_t (*gate)(void *arg), void *arg);

/* Writes the gate refused (never sent, not counted in gq_kclient_stats). */
uint64_t gq_kclient_refused_writes(const struct gq_kclient *c);

/* Total timeout of each synchronous request (default
 * GQ_KCLIENT_REQUEST_TIMEOUT_MS; <= 0 restores it). Set before use. */
void gq_kclient_set_timeout(struct gq_kclient *c, long timeout_ms);

/* Requests sent with one method ("GET", "POST", "PUT", "PATCH", "DELETE";
 * any other method is counted under "OTHER"). */
uint64_t gq_kclient_stats_method(const struct gq_kclient *c, const char *method);

/* Percent-encodes s for use as one path segment or query value: every byte
 * except A-Z a-z 0-9 - . _ ~ becomes %XX. Returns a new string (caller
 * frees; never NULL). */
char *gq_kclient_escape(const char *s);

/*
 * The error of a non-2xx response (used by gq_kclient_request; exported
 * for tests): fills err (may be NULL) with err->code = status and as
 * err->msg the Status `message` when body is a JSON object (at most 1 MiB)
 * that has a non-empty one, else the start of the raw body, else
 * "HTTP <status>". The message is valid UTF-8 whatever the body: control
 * bytes become spaces, other non-UTF-8 bytes '?', and a message cut at the
 * bound never ends inside a character. body holds len bytes followed by a
 * NUL. Returns the mapped error code (see the top of this file).
 */
int gq_kclient_http_error(int status, const char *body, size_t len, struct gq_err *err);

#endif
