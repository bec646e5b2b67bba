/*
 * informer.h - LIST + WATCH + a read-only cache, per resource kind.
 *
 * A set of informers (struct gq_informers) shares ONE watch thread that
 * drives every watch through one libcurl multi handle (curl_multi_perform /
 * curl_multi_poll); there is no thread per watch. Each informer:
 *  - LISTs its collection (pages of 500, resourceVersion unset, i.e. a
 *    consistent read) and replaces its cache with the result, calling the
 *    handler with ADD for new keys, UPDATE for changed resourceVersions and
 *    DELETE for keys that vanished (synthesized deletes);
 *  - then WATCHes from the list's resourceVersion with bookmarks on and a
 *    random timeoutSeconds in 240..360, applying ADDED/MODIFIED (skipped
 *    when the resourceVersion is unchanged), DELETED and BOOKMARK events;
 *  - re-watches from the last resourceVersion when a watch ends normally,
 *    relists after a 410 (an ERROR event with code 410 or reason
 *    Expired/Gone, an HTTP 410, or an undecodable stream), and backs off
 *    exponentially (200 ms doubling to 30 s, +/-20 % jitter) after
 *    connection, HTTP and other ERROR-event failures.
 * LISTs run synchronously on the watch thread.
 *
 * The cache maps a key ("namespace/name", or "name" for cluster-scoped
 * objects) to a trimmed copy of the object (see gq_informer_def.keep).
 * Cached objects are immutable: an update replaces the entry. Readers on
 * any thread take the informer's read lock while they use cached objects
 * and must not keep pointers after unlocking (deep-copy what must outlive
 * the lock).
 */
#ifndef GQ_INFORMER_H
#define GQ_INFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_tree.h>

#include "gq.h"
#include "kclient.h"

/* LIST page size. */
#define GQ_INFORMER_PAGE 500
/* Largest watch event accepted (one JSON value of the stream). */
#define GQ_INFORMER_MAX_EVENT ((size_t)16 << 20)
/* Watch timeoutSeconds is drawn uniformly from this range. */
#define GQ_INFORMER_WATCH_TIMEOUT_MIN_S 240
#define GQ_INFORMER_WATCH_TIMEOUT_MAX_S 360
/* Backoff after failures: first delay, cap (milliseconds). */
/* A watch counts as live (its cache complete up to now) once it has been
 * delivering for this long: the events since its resourceVersion arrive
 * first. */
#define GQ_INFORMER_SETTLE_MS	   2000
#define GQ_INFORMER_BACKOFF_MIN_MS 200
#define GQ_INFORMER_BACKOFF_MAX_MS 30000
/* An optional informer whose API is not served lists again after this. */
#define GQ_INFORMER_ABSENT_RETRY_MS 60000
/* Longest key accepted ("namespace/name"); longer objects are skipped. */
#define GQ_INFORMER_MAX_KEY 512

enum gq_informer_event { GQ_INF_ADD, GQ_INF_UPDATE, GQ_INF_DELETE };

struct gq_informers; /* the set + the watch thread */
struct gq_informer;  /* one kind */

/*
 * Called on the watch thread after the cache was updated, with no cache
 * lock held. old_obj (NULL on ADD) and new_obj (NULL on DELETE) are trimmed
 * cached objects, valid only during the call. A handler should be quick
 * (typically: enqueue the key); it may take read locks of any informer but
 * must not call gq_informers_stop/free.
 */
typedef void (*gq_informer_handler)(void *payload, const struct gq_informer *inf,
				    enum gq_informer_event ev, const char *key, yajl_val old_obj,
				    yajl_val new_obj);

/*
 * What to watch. Every string is copied by gq_informers_add, so the
 * definition may be temporary.
 */
struct gq_informer_def {
	const char *name;	    /* for logs/metrics, e.g. "namespaces" */
	const char *path;	    /* collection path, e.g. "/api/v1/namespaces" */
	const char *label_selector; /* optional, e.g. "app.kubernetes.io/managed-by=gpuquota" */
	/*
	 * Optional NULL-terminated list of dotted paths to keep, e.g.
	 * {"metadata.labels", "spec.hard", "status", NULL}: a path keeps the
	 * whole value it names; intermediate objects keep only the listed
	 * members; an array met on the way is projected element by element
	 * (object elements projected and kept even when empty, so positions
	 * survive; other elements dropped). A member whose projection is empty
	 * (an object with none of the listed members, an array without object
	 * elements) is omitted. metadata.name,
	 * metadata.namespace, metadata.resourceVersion and metadata.uid are
	 * always kept. NULL = keep everything except metadata.managedFields
	 * and the kubectl.kubernetes.io/last-applied-configuration annotation.
	 */
	const char *const *keep;
	/*
	 * Optional compact form: when set, each object is stored as what
	 * convert returns for it (a heap object the informer owns and frees
	 * with release) instead of a trimmed tree, and keep is not used
	 * (convert reads what it needs from the object as received). Such a
	 * cache is read with gq_informer_get_conv / gq_informer_foreach_conv /
	 * gq_informer_foreach_ns_conv only; handlers get the object as
	 * received as new_obj on watch events, and NULL otherwise (old_obj,
	 * LIST results: no tree is kept). convert must not fail: it reads
	 * absent or odd fields as their zero values.
	 */
	void *(*convert)(const char *key, yajl_val obj);
	void (*release)(void *conv);
	gq_informer_handler handler; /* may be NULL */
	void *payload;		     /* handler's first argument */
	/*
	 * An API the apiserver may not serve (an older server, a group turned
	 * off): a LIST answered 404 makes the cache empty and synced (objects
	 * it held are deleted, the handler told), and it is listed again every
	 * GQ_INFORMER_ABSENT_RETRY_MS. Otherwise a 404 is retried with backoff
	 * and the informer stays unsynced.
	 */
	bool optional;
};

/* Counters for metrics. */
struct gq_informer_stats {
	uint64_t events;  /* ADDED/MODIFIED/DELETED watch events applied (same-RV skips included) */
	uint64_t relists; /* LISTs completed after the initial one */
	uint64_t watches; /* watch requests started */
	uint64_t errors;  /* failed LISTs/watches, ERROR events, bad objects */
};

/*
 * Creates an empty set whose watches use kc (borrowed; it must outlive the
 * set). kc may be NULL for tests that never call gq_informers_start.
 * *out is owned by the caller (gq_informers_free). Returns GQ_OK.
 */
int gq_informers_new(struct gq_informers **out, struct gq_kclient *kc);

/*
 * Adds an informer described by def (copied). *out (may be NULL) receives a
 * borrowed pointer valid until gq_informers_free. Must be called before
 * gq_informers_start. Returns GQ_OK or GQ_EINVAL (missing name or path, a
 * path not starting with '/', an empty keep path, already started).
 */
int gq_informers_add(struct gq_informers *m, const struct gq_informer_def *def,
		     struct gq_informer **out, struct gq_err *err);

/*
 * Starts the watch thread: the initial LIST of each informer, then its
 * WATCH. Returns GQ_OK, GQ_EINVAL (no client, already started) or GQ_EIO
 * (curl multi or thread creation failed).
 */
int gq_informers_start(struct gq_informers *m, struct gq_err *err);

/*
 * Waits until every informer has completed its first LIST, at most
 * timeout_ms (< 0: forever). Returns true once synced, false on timeout or
 * when the set is stopped first.
 */
bool gq_informers_wait_synced(struct gq_informers *m, int64_t timeout_ms);

/* Fixed timeoutSeconds for every watch (seconds > 0), instead of the random
 * GQ_INFORMER_WATCH_TIMEOUT_MIN_S..MAX_S. Call before gq_informers_start. */
void gq_informers_set_watch_timeout(struct gq_informers *m, int seconds);

/*
 * List by streaming (on) instead of in pages: a watch with
 * sendInitialEvents=true (the apiserver's WatchList) delivers the current
 * objects as ADDED events and then a bookmark annotated
 * k8s.io/initial-events-end; the same stream then carries the changes. The
 * objects are processed as they arrive, all informers at once on the one
 * watch thread, instead of page after page. An informer whose request the
 * apiserver refuses (HTTP 400, 403, 404, 422) lists in pages from then on.
 * Off by default. Call before gq_informers_start.
 */
void gq_informers_set_watch_list(struct gq_informers *m, bool on);

/*
 * Until when (realtime ms, at most now_ms) the cache is known to hold every
 * change the apiserver had: now_ms while a watch has been live for
 * GQ_INFORMER_SETTLE_MS; otherwise the end of the last such watch or the
 * start of the last completed LIST, whichever is later; 0 before any.
 * Accounting never goes past it: a cache that missed events (watch gap,
 * backoff, relist pending) must not decide what pods used meanwhile.
 */
int64_t gq_informer_fresh_until_ms(struct gq_informer *inf, int64_t now_ms);

/* Stops and joins the watch thread (idempotent; a LIST in progress is
 * abandoned at its next item; one page request (up to the client timeout) may still have to
 * finish). The caches stay readable. */
void gq_informers_stop(struct gq_informers *m);

/* Stops the set if needed and frees it with every informer and cached
 * object (NULL is fine). */
void gq_informers_free(struct gq_informers *m);

/* ---- cache access (any thread) ----------------------------------------
 * The lock is writer-preferring: never take the read lock of an informer a
 * second time on a thread that already holds it. */

void gq_informer_rdlock(struct gq_informer *inf);
void gq_informer_unlock(struct gq_informer *inf);

/* Cached object for key ("ns/name" or "name"), or NULL. Borrowed: valid
 * while the caller holds the read lock. */
yajl_val gq_informer_get(struct gq_informer *inf, const char *key);

/* Calls fn for every cached object (no particular order) until fn returns
 * nonzero, which is returned (0 when all were visited). The caller holds the
 * read lock; fn must not unlock it. */
int gq_informer_foreach(struct gq_informer *inf,
			int (*fn)(void *arg, const char *key, yajl_val obj), void *arg);

/* As gq_informer_foreach over the objects of namespace ns only (keys
 * "ns/..."), from the cache's index: the work is proportional to what the
 * namespace holds. */
int gq_informer_foreach_ns(struct gq_informer *inf, const char *ns,
			   int (*fn)(void *arg, const char *key, yajl_val obj), void *arg);

/* The converted cache's object for key, or NULL (see gq_informer_def
 * convert). Borrowed: valid while the caller holds the read lock. */
const void *gq_informer_get_conv(struct gq_informer *inf, const char *key);

/* gq_informer_foreach / gq_informer_foreach_ns over a converted cache. */
int gq_informer_foreach_conv(struct gq_informer *inf,
			     int (*fn)(void *arg, const char *key, const void *conv), void *arg);
int gq_informer_foreach_ns_conv(struct gq_informer *inf, const char *ns,
				int (*fn)(void *arg, const char *key, const void *conv), void *arg);

/* Number of cached objects (takes the read lock itself). */
size_t gq_informer_len(struct gq_informer *inf);

/* The informer's name (borrowed). */
const char *gq_informer_name(const struct gq_informer *inf);

/* A snapshot of the counters (any thread). */
void gq_informer_get_stats(struct gq_informer *inf, struct gq_informer_stats *out);

/* True once the informer completed its first LIST (any thread). */
bool gq_informer_synced(struct gq_informer *inf);

/*
 * Builds the cache key of obj: "namespace/name", or "name" when the
 * namespace is absent or empty. *out is owned by the caller. Returns GQ_OK,
 * GQ_EINVAL (no metadata.name string, empty name) or GQ_ETOOBIG (key
 * longer than GQ_INFORMER_MAX_KEY).
 */
int gq_informer_key(yajl_val obj, char **out, struct gq_err *err);

/* ======================================================================
 * For tests only: the pure parts of the informer, usable without network.
 * ====================================================================== */

/*
 * Trims obj with the keep list (same meaning as gq_informer_def.keep;
 * NULL = everything but managedFields and the last-applied annotation).
 * *out is a new tree owned by the caller (yajl_tree_free). Returns GQ_OK,
 * GQ_EINVAL (obj is not an object, bad keep path, a member named twice at
 * the top level or in metadata) or GQ_EPARSE (nesting
 * too deep to copy).
 */
int gq_informer_trim(const char *const *keep, yajl_val obj, yajl_val *out, struct gq_err *err);

/*
 * A LIST result applied without network: begin, one item per object
 * (trimmed and buffered, a bad item is skipped and counted as an error),
 * then end, which replaces the cache, records rv as the informer's
 * resourceVersion, marks the informer synced and calls the handler
 * (ADD/UPDATE/DELETE, unchanged resourceVersions skipped). abort discards
 * the buffered items. The watch thread uses the same functions.
 */
void gq_informer_list_begin(struct gq_informer *inf);
int gq_informer_list_item(struct gq_informer *inf, yajl_val item);
void gq_informer_list_end(struct gq_informer *inf, const char *rv);
void gq_informer_list_abort(struct gq_informer *inf);

/*
 * Starts a streaming list (gq_informers_set_watch_list): begins a LIST and
 * marks the informer's next watch as its stream. gq_informer_apply_event
 * then buffers its events as LIST items until the initial-events-end
 * bookmark, which ends the LIST at the bookmark's resourceVersion. The
 * watch thread uses it; tests drive it without network.
 */
void gq_informer_stream_begin(struct gq_informer *inf);

/* What the watch loop does after an event or when a watch ends. */
enum gq_informer_action {
	GQ_INF_CONTINUE = 0,	   /* keep reading the watch */
	GQ_INF_REWATCH = 1,	   /* watch again from the last resourceVersion, now */
	GQ_INF_BACKOFF = 2,	   /* watch again from the last resourceVersion after a backoff */
	GQ_INF_RELIST = 3,	   /* LIST again (resourceVersion unset), now */
	GQ_INF_RELIST_BACKOFF = 4, /* LIST again after a backoff */
};

/*
 * Applies one decoded watch stream value (an event object) to the cache
 * and returns what to do next: CONTINUE for ADDED/MODIFIED/DELETED/
 * BOOKMARK (each advancing the resourceVersion), RELIST for an ERROR that
 * means 410 Gone or for a value that is not a valid event, BACKOFF for
 * other ERROR events.
 */
enum gq_informer_action gq_informer_apply_event(struct gq_informer *inf, yajl_val ev);

/*
 * Feeds raw watch response bytes (any split) through the informer's stream
 * decoder (GQ_INFORMER_MAX_EVENT per value), applying each event. Returns
 * CONTINUE, or the action of the event that ended the watch, or RELIST for
 * a decoding error. gq_informer_watch_reset starts a new stream.
 */
enum gq_informer_action gq_informer_watch_feed(struct gq_informer *inf, const char *data,
					       size_t len);
void gq_informer_watch_reset(struct gq_informer *inf);

/*
 * Decides what follows a finished watch request: stream_action is the
 * action recorded while reading (CONTINUE when none), curl_ok whether the
 * transfer completed without a transport error, http_status the response
 * status (0 if none), truncated whether the stream stopped inside a value,
 * lived_ms how long the watch lasted. A healthy end (200, complete) of a
 * watch that lived at least 1 s is REWATCH; a shorter one is BACKOFF so that
 * a server ending watches at once cannot make the loop spin.
 */
enum gq_informer_action gq_informer_after_watch(enum gq_informer_action stream_action, bool curl_ok,
						long http_status, bool truncated, int64_t lived_ms);

/*
 * Backoff delay in milliseconds before retry number attempt (0-based):
 * min(200 ms << attempt, 30 s), scaled by a jitter factor in [0.8, 1.2]
 * taken from rnd (any 32-bit value).
 */
int64_t gq_informer_backoff_ms(unsigned attempt, uint32_t rnd);

/* The informer's last seen resourceVersion ("" before the first LIST).
 * Borrowed; watch thread (or tests) only. */
const char *gq_informer_resource_version(const struct gq_informer *inf);

/*
 * Watch URL path for the informer: path?watch=1&resourceVersion=RV&
 * allowWatchBookmarks=true&timeoutSeconds=T[&labelSelector=SEL], values
 * percent-encoded. Caller frees.
 */
char *gq_informer_watch_path(const struct gq_informer *inf, int timeout_s);

#endif
