/*
 * informer.c - LIST + WATCH + read-only caches on one watch thread (see
 * informer.h).
 *
 * Structure:
 *  - trimming: a keep list is compiled into a small prefix tree; an object
 *    is projected through it with the checked writer (jsonw.h) and parsed
 *    back with yajl_tree_parse, giving a compact tree that yajl_tree_free releases;
 *  - a chained hash table per informer maps keys to cache entries; the
 *    table is guarded by a pthread rwlock, written only by the watch thread
 *    (or by a test's single thread), which may therefore read it without
 *    the lock;
 *  - a LIST is buffered into a second table, swapped in under one write
 *    lock, then diffed against the old table to call the handler;
 *  - the watch thread runs one curl multi handle; each informer is a small
 *    state machine: LIST -> WATCH_START -> WATCHING -> (REWATCH | BACKOFF
 *    WAIT | LIST). Response bytes go through a gq_jsonstream whose callback
 *    applies each event; an event that ends the watch makes the write
 *    callback return 0, which aborts that transfer.
 */
#include "informer.h"

#include "log.h"

#include "buf.h"
#include "gq.h"
#include "jsonstream.h"
#include "hmap.h"
#include "jsonw.h"
#include "kclient.h"

#include <pthread.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define TRIM_MAX_DEPTH	 GQ_JW_MAX_DEPTH /* nesting copied by trim */
#define ERRBODY_MAX	 4096		 /* bytes kept of a failed watch response */
#define KEEP_PATH_MAX	 256		 /* longest keep path accepted */
#define HEALTHY_WATCH_MS 1000		 /* a normal end sooner than this backs off */
#define POLL_MAX_MS	 1000		 /* longest curl_multi_poll wait */
#define LAST_APPLIED	 "kubectl.kubernetes.io/last-applied-configuration"

/* ---- types ---------------------------------------------------------------- */

/* One node of a compiled keep list: a member name and what to keep below. */
struct keep_node {
	char *name;		/* member name (NULL at the root) */
	bool whole;		/* keep the entire value */
	struct keep_node *kids; /* members to keep below, when !whole */
	size_t nkids;		/* entries in kids */
};

struct ns_list;

/* One cached object. */
struct entry {
	struct gq_hmap_node node;	 /* first: the table's link */
	struct entry *ns_prev, *ns_next; /* its namespace's list */
	struct ns_list *nsl;		 /* that list; NULL: cluster-scoped, or not in a table */
	char *key;			 /* "ns/name" or "name" */
	yajl_val obj;			 /* trimmed object, owned; NULL when converted */
	void *conv;			 /* converted form, owned (released by release) */
	void (*release)(void *conv);	 /* frees conv */
	const char *rv; /* metadata.resourceVersion inside obj (or rv_own), or NULL */
	char *rv_own;	/* a converted entry's own copy of it */
};

/* The entries of one namespace (a table's index). */
struct ns_list {
	struct gq_hmap_node node; /* first: the index's link */
	struct entry *head;
	size_t n;
	size_t len; /* strlen(ns) */
	char ns[];
};

/* The entries by key, and the namespaced ones by namespace (hmap.h; a
 * zeroed table is empty, seed 0). */
struct table {
	struct gq_hmap m;
	struct gq_hmap ns; /* namespace -> struct ns_list */
};

/* Where an informer's watch-thread state machine stands. */
enum inf_state {
	ST_LIST,	/* LIST now */
	ST_WATCH_START, /* start a watch now */
	ST_WATCHING,	/* a watch handle is in the multi handle */
	ST_WAIT,	/* waiting until due_ms, then `after_wait` */
};

struct gq_informer {
	struct gq_informers *set;			 /* owning set */
	char *name;					 /* for logs */
	char *path;					 /* collection path */
	char *selector;					 /* label selector or NULL */
	struct keep_node *keep;				 /* compiled keep list, NULL = all */
	gq_informer_handler handler;			 /* may be NULL */
	void *payload;					 /* handler argument */
	void *(*convert)(const char *key, yajl_val obj); /* NULL: trimmed trees */
	void (*release)(void *conv);

	pthread_rwlock_t lock; /* guards cache for readers */
	struct table cache;    /* key -> entry */

	/* watch thread only (or a test's thread): */
	char *rv;			       /* last seen resourceVersion, "" before a LIST */
	struct table pending;		       /* LIST in progress */
	bool listed_once;		       /* a LIST has completed */
	bool streaming;			       /* the watch is a streaming list, before
						* its initial-events-end bookmark */
	bool no_stream;			       /* the apiserver refused a streaming list */
	bool optional;			       /* gq_informer_def.optional */
	bool absent;			       /* optional, and its LIST got a 404 */
	int64_t stream_t0_ms;		       /* when the streaming list started (realtime) */
	enum inf_state state;		       /* state machine */
	enum inf_state after_wait;	       /* state after ST_WAIT */
	int64_t due_ms;			       /* end of ST_WAIT (monotonic) */
	unsigned attempts;		       /* consecutive failures */
	struct gq_jsonstream js;	       /* watch stream decoder */
	enum gq_informer_action stream_action; /* action that ended the stream */
	bool progress;			       /* the watch applied a non-ERROR event */
	CURL *easy;			       /* current watch handle or NULL */
	long http_status;		       /* status of the current watch, 0 until known */
	struct gq_buf errbody;		       /* start of a non-200 watch response */
	int64_t watch_started_ms;	       /* when the current watch started */

	atomic_bool synced; /* first LIST completed */
	/* Freshness (gq_informer_fresh_until_ms), realtime ms: */
	_Atomic int64_t live_since_ms;	/* the current watch's first 200 bytes; 0 = none */
	_Atomic int64_t fresh_until_ms; /* complete up to here when not live */
	_Atomic uint64_t n_events;	/* see struct gq_informer_stats */
	_Atomic uint64_t n_relists;
	_Atomic uint64_t n_watches;
	_Atomic uint64_t n_errors;
};

struct gq_informers {
	struct gq_kclient *kc;	   /* borrowed client */
	struct gq_informer **infs; /* informers, owned */
	size_t n;		   /* entries in infs */
	CURLM *multi;		   /* watch multi handle (while started) */
	pthread_t thread;	   /* watch thread */
	bool started;		   /* gq_informers_start succeeded */
	bool joined;		   /* the thread was joined */
	atomic_bool stop;	   /* asks the thread to exit */
	pthread_mutex_t mu;	   /* guards cv waits (synced, stopped) */
	pthread_cond_t cv;	   /* signalled on sync and on stop; CLOCK_MONOTONIC */
	uint32_t rng;		   /* xorshift32 state, watch thread only */
	int watch_timeout_s;	   /* fixed watch timeoutSeconds, 0 = random range */
	bool watch_list;	   /* list by streaming (sendInitialEvents) when the
				    * apiserver allows it */
};

/* ---- small helpers -------------------------------------------------------- */

/*
 * The one place informer messages are written: "informer <name>: [level: ]
 * <msg>" on stderr (level NULL for information, "warning" for failures).
 * Swap for log.c here.
 */
static void inf_log(const struct gq_informer *inf, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void inf_log(const struct gq_informer *inf, const char *level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Watch restarts and relists are routine: info; failures: warn. */
	if (level != NULL && strcmp(level, "warning") == 0)
		gq_warn("informer %s: %s", inf->name, msg);
	else
		gq_info("informer %s: %s", inf->name, msg);
}

/* xorshift32: cheap jitter, not for anything secret. */
static uint32_t rng_next(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* Exchanges two pointer lvalues of the same type. */
#define SWAP_PTR(a, b)                                                                             \
	do {                                                                                       \
		void *swap_tmp_ = (a);                                                             \
		(a) = (b);                                                                         \
		(b) = swap_tmp_;                                                                   \
	} while (0)

/* True when two resourceVersions are known and equal (RVs compare for
 * equality only). */
static bool same_rv(const char *a, const char *b)
{
	return a != NULL && b != NULL && a[0] != '\0' && strcmp(a, b) == 0;
}

/* metadata.resourceVersion of obj (borrowed) or NULL. */
static const char *obj_rv(yajl_val obj)
{
	static const char *rv_path[] = {"metadata", "resourceVersion", NULL};
	yajl_val v = yajl_tree_get(obj, rv_path, yajl_t_string);

	return v != NULL ? v->u.string : NULL;
}

/* ---- hash table ----------------------------------------------------------- */

static bool entry_match(const struct gq_hmap_node *n, const char *key, size_t len)
{
	const struct entry *e = (const struct entry *)n;

	return strncmp(e->key, key, len) == 0 && e->key[len] == '\0';
}

static struct entry *table_find(const struct table *t, const char *key)
{
	return (struct entry *)gq_hmap_find(&t->m, key, strlen(key), entry_match);
}

static bool ns_match(const struct gq_hmap_node *n, const char *key, size_t len)
{
	const struct ns_list *l = (const struct ns_list *)n;

	return l->len == len && memcmp(l->ns, key, len) == 0;
}

/* Inserts e (its key must be absent); the table takes ownership. A
 * namespaced key ("ns/name") also goes into its namespace's list. */
static void table_insert(struct table *t, struct entry *e)
{
	const char *slash = strchr(e->key, '/');
	size_t len;
	struct ns_list *l;

	gq_hmap_insert(&t->m, &e->node, gq_hmap_hash(&t->m, e->key, strlen(e->key)));
	if (slash == NULL)
		return;
	len = (size_t)(slash - e->key);
	l = (struct ns_list *)gq_hmap_find(&t->ns, e->key, len, ns_match);
	if (l == NULL) {
		l = gq_calloc(1, sizeof(*l) + len + 1);
		memcpy(l->ns, e->key, len);
		l->len = len;
		gq_hmap_insert(&t->ns, &l->node, gq_hmap_hash(&t->ns, e->key, len));
	}
	e->nsl = l;
	e->ns_prev = NULL;
	e->ns_next = l->head;
	if (l->head)
		l->head->ns_prev = e;
	l->head = e;
	l->n++;
}

/* Unlinks and returns the entry for key (caller owns it), or NULL. */
static struct entry *table_remove(struct table *t, const char *key)
{
	struct entry *e = table_find(t, key);
	struct ns_list *l;

	if (e == NULL)
		return NULL;
	gq_hmap_unlink(&t->m, &e->node);
	if ((l = e->nsl) != NULL) {
		if (e->ns_prev)
			e->ns_prev->ns_next = e->ns_next;
		else
			l->head = e->ns_next;
		if (e->ns_next)
			e->ns_next->ns_prev = e->ns_prev;
		e->nsl = NULL;
		e->ns_prev = e->ns_next = NULL;
		if (--l->n == 0) {
			gq_hmap_unlink(&t->ns, &l->node);
			free(l);
		}
	}
	return e;
}

/* The first entry (iteration state in *i) and the next, or NULL. */
static struct entry *table_first(const struct table *t, size_t *i)
{
	return (struct entry *)gq_hmap_first(&t->m, i);
}

static struct entry *table_next(const struct table *t, size_t *i, const struct entry *e)
{
	return (struct entry *)gq_hmap_next(&t->m, i, &e->node);
}

static void entry_free(struct entry *e)
{
	if (e == NULL)
		return;
	yajl_tree_free(e->obj);
	if (e->conv != NULL && e->release != NULL)
		e->release(e->conv);
	free(e->rv_own);
	free(e->key);
	free(e);
}

/* Frees every entry and the buckets; the table is empty afterwards. */
static void table_clear(struct table *t)
{
	size_t i;
	struct entry *e, *next;

	struct gq_hmap_node *n, *nn;

	for (e = table_first(t, &i); e != NULL; e = next) {
		next = table_next(t, &i, e);
		entry_free(e);
	}
	gq_hmap_free(&t->m);
	for (n = gq_hmap_first(&t->ns, &i); n != NULL; n = nn) {
		nn = gq_hmap_next(&t->ns, &i, n);
		free(n); /* the struct ns_list: node is its first member */
	}
	gq_hmap_free(&t->ns);
}

/* A new entry owning key and obj. */
static struct entry *entry_new(char *key, yajl_val obj)
{
	struct entry *e = gq_calloc(1, sizeof(*e));

	e->key = key;
	e->obj = obj;
	e->rv = obj_rv(obj);
	return e;
}

/* ---- keep lists ----------------------------------------------------------- */

/* Frees what node n holds (its name and subtree), not n itself. */
static void keep_clear(struct keep_node *n)
{
	for (size_t i = 0; i < n->nkids; i++)
		keep_clear(&n->kids[i]);
	free(n->kids);
	free(n->name);
	memset(n, 0, sizeof(*n));
}

static void keep_free(struct keep_node *root)
{
	if (root == NULL)
		return;
	keep_clear(root);
	free(root);
}

/* The child of n named name (len bytes), added when absent. */
static struct keep_node *keep_child(struct keep_node *n, const char *name, size_t len)
{
	struct keep_node *k;

	for (size_t i = 0; i < n->nkids; i++) {
		if (strlen(n->kids[i].name) == len && memcmp(n->kids[i].name, name, len) == 0)
			return &n->kids[i];
	}
	n->kids = gq_realloc(n->kids, (n->nkids + 1) * sizeof(*n->kids));
	k = &n->kids[n->nkids++];
	memset(k, 0, sizeof(*k));
	k->name = gq_strndup(name, len);
	return k;
}

/* Adds one dotted path to the tree. GQ_EINVAL for an empty path or an
 * empty segment ("a..b", ".a", "a."). */
static int keep_add(struct keep_node *root, const char *path, struct gq_err *err)
{
	struct keep_node *n = root;
	const char *p = path, *dot;
	size_t len = strlen(path);

	if (len == 0 || len > KEEP_PATH_MAX)
		return gq_err_set(err, GQ_EINVAL,
				  "informer: keep path \"%.64s\" is empty or too long", path);
	for (;;) {
		dot = strchr(p, '.');
		len = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (len == 0)
			return gq_err_set(err, GQ_EINVAL,
					  "informer: keep path \"%s\" has an empty segment", path);
		n = keep_child(n, p, len);
		if (n->whole)
			return GQ_OK; /* a shorter path already keeps all of it */
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	/* This path keeps the whole value: anything listed below is redundant. */
	for (size_t i = 0; i < n->nkids; i++)
		keep_clear(&n->kids[i]);
	free(n->kids);
	n->kids = NULL;
	n->nkids = 0;
	n->whole = true;
	return GQ_OK;
}

/*
 * Compiles keep (NULL-terminated) plus the always-kept metadata members.
 * *out is owned by the caller (keep_free); NULL when keep is NULL (keep
 * everything). Returns GQ_OK or GQ_EINVAL.
 */
static int keep_compile(const char *const *keep, struct keep_node **out, struct gq_err *err)
{
	static const char *const always[] = {"metadata.name", "metadata.namespace",
					     "metadata.resourceVersion", "metadata.uid", NULL};
	struct keep_node *root;
	int rc;

	*out = NULL;
	if (keep == NULL)
		return GQ_OK;
	root = gq_calloc(1, sizeof(*root));
	for (size_t i = 0; keep[i] != NULL; i++) {
		if ((rc = keep_add(root, keep[i], err)) != GQ_OK)
			goto fail;
	}
	for (size_t i = 0; always[i] != NULL; i++) {
		if ((rc = keep_add(root, always[i], err)) != GQ_OK)
			goto fail;
	}
	*out = root;
	return GQ_OK;
fail:
	keep_free(root);
	return rc;
}

static const struct keep_node *keep_find(const struct keep_node *n, const char *name)
{
	for (size_t i = 0; i < n->nkids; i++) {
		if (strcmp(n->kids[i].name, name) == 0)
			return &n->kids[i];
	}
	return NULL;
}

/* ---- trimming ------------------------------------------------------------- */

/* True when projecting v through n yields anything (v an object or array). */
static bool proj_nonempty(yajl_val v, const struct keep_node *n)
{
	const struct keep_node *k;

	if (YAJL_IS_ARRAY(v)) {
		for (size_t i = 0; i < v->u.array.len; i++) {
			if (YAJL_IS_OBJECT(v->u.array.values[i]))
				return true;
		}
		return false;
	}
	if (!YAJL_IS_OBJECT(v))
		return false;
	for (size_t i = 0; i < v->u.object.len; i++) {
		k = keep_find(n, v->u.object.keys[i]);
		if (k == NULL)
			continue;
		if (k->whole || proj_nonempty(v->u.object.values[i], k))
			return true;
	}
	return false;
}

/*
 * Writes the projection of v (an object or an array; see
 * gq_informer_def.keep) through n. Objects in arrays are projected and kept
 * even when empty, so that positions survive; other array elements are
 * dropped. Members whose projection is empty are omitted.
 */
static void gen_projected(struct gq_jw *gn, yajl_val v, const struct keep_node *n, int depth)
{
	const struct keep_node *k;
	yajl_val m;

	if (gn->bad)
		return;
	if (depth > TRIM_MAX_DEPTH) {
		gn->bad = true;
		return;
	}
	if (YAJL_IS_ARRAY(v)) {
		gq_jw_array_open(gn);
		for (size_t i = 0; i < v->u.array.len && !gn->bad; i++) {
			if (YAJL_IS_OBJECT(v->u.array.values[i]))
				gen_projected(gn, v->u.array.values[i], n, depth + 1);
		}
		gq_jw_array_close(gn);
		return;
	}
	gq_jw_map_open(gn);
	for (size_t i = 0; i < v->u.object.len && !gn->bad; i++) {
		k = keep_find(n, v->u.object.keys[i]);
		m = v->u.object.values[i];
		if (k == NULL)
			continue;
		if (k->whole) {
			gq_jw_str(gn, v->u.object.keys[i]);
			gq_jw_value_at(gn, m, depth + 1);
		} else if (proj_nonempty(m, k)) {
			gq_jw_str(gn, v->u.object.keys[i]);
			gen_projected(gn, m, k, depth + 1);
		}
	}
	gq_jw_map_close(gn);
}

/* Writes metadata without managedFields and the last-applied annotation
 * (an annotations object left empty is omitted). */
static void gen_metadata(struct gq_jw *gn, yajl_val md, int depth)
{
	yajl_val a;
	size_t kept;

	gq_jw_map_open(gn);
	for (size_t i = 0; i < md->u.object.len && !gn->bad; i++) {
		const char *key = md->u.object.keys[i];

		a = md->u.object.values[i];
		if (strcmp(key, "managedFields") == 0)
			continue;
		if (strcmp(key, "annotations") != 0 || !YAJL_IS_OBJECT(a)) {
			gq_jw_str(gn, key);
			gq_jw_value_at(gn, a, depth + 1);
			continue;
		}
		kept = 0;
		for (size_t j = 0; j < a->u.object.len; j++)
			kept += strcmp(a->u.object.keys[j], LAST_APPLIED) != 0;
		if (kept == 0)
			continue;
		gq_jw_str(gn, key);
		gq_jw_map_open(gn);
		for (size_t j = 0; j < a->u.object.len && !gn->bad; j++) {
			if (strcmp(a->u.object.keys[j], LAST_APPLIED) == 0)
				continue;
			gq_jw_str(gn, a->u.object.keys[j]);
			gq_jw_value_at(gn, a->u.object.values[j], depth + 2);
		}
		gq_jw_map_close(gn);
	}
	gq_jw_map_close(gn);
}

/* Writes obj minus managedFields and the last-applied annotation. */
static void gen_all(struct gq_jw *gn, yajl_val obj)
{
	gq_jw_map_open(gn);
	for (size_t i = 0; i < obj->u.object.len && !gn->bad; i++) {
		yajl_val v = obj->u.object.values[i];

		gq_jw_str(gn, obj->u.object.keys[i]);
		if (strcmp(obj->u.object.keys[i], "metadata") == 0 && YAJL_IS_OBJECT(v))
			gen_metadata(gn, v, 1);
		else
			gq_jw_value_at(gn, v, 1);
	}
	gq_jw_map_close(gn);
}

/* The first member name of object o that appears twice, or NULL. Objects
 * with many members are rare here (top level, metadata): quadratic is fine
 * up to the informer's input limits. */
static const char *duplicate_member(yajl_val o)
{
	for (size_t i = 1; YAJL_IS_OBJECT(o) && i < o->u.object.len; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(o->u.object.keys[i], o->u.object.keys[j]) == 0)
				return o->u.object.keys[i];
	return NULL;
}

/* GQ_EINVAL when obj or its metadata names a member twice: what is cached
 * and the cache key must not depend on which of two copies a reader takes
 * (the apiserver never sends such objects). */
static int check_unique(yajl_val obj, struct gq_err *err)
{
	const char *dup = duplicate_member(obj);

	if (dup == NULL)
		dup = duplicate_member(
		    yajl_tree_get(obj, (const char *[]){"metadata", NULL}, yajl_t_object));
	if (dup != NULL)
		return gq_err_set(err, GQ_EINVAL, "informer: object has member \"%.64s\" twice",
				  dup);
	return GQ_OK;
}

/*
 * Trims obj through a compiled keep tree (NULL = all but the noise) into a
 * new tree, *out owned by the caller. Returns GQ_OK, GQ_EINVAL (obj is not
 * an object, or it or its metadata has a duplicate member) or GQ_EPARSE
 * (too deep to copy).
 */
static int trim_compiled(const struct keep_node *keep, yajl_val obj, yajl_val *out,
			 struct gq_err *err)
{
	struct gq_jw gn;
	char errbuf[128];
	char *text;
	int rc = GQ_OK;

	*out = NULL;
	if (!YAJL_IS_OBJECT(obj))
		return gq_err_set(err, GQ_EINVAL, "informer: object is not a JSON object");
	if ((rc = check_unique(obj, err)) != GQ_OK)
		return rc;
	gq_jw_init(&gn);
	if (keep == NULL)
		gen_all(&gn, obj);
	else
		gen_projected(&gn, obj, keep, 0);
	text = gq_jw_finish(&gn);
	if (text == NULL)
		return gq_err_set(err, GQ_EPARSE, "informer: object nested too deeply to copy");
	*out = yajl_tree_parse(text, errbuf, sizeof(errbuf));
	free(text);
	if (*out == NULL)
		rc = gq_err_set(err, GQ_EPARSE, "informer: re-parsing a trimmed object failed: %s",
				errbuf);
	return rc;
}

int gq_informer_trim(const char *const *keep, yajl_val obj, yajl_val *out, struct gq_err *err)
{
	struct keep_node *k = NULL;
	int rc;

	*out = NULL;
	if ((rc = keep_compile(keep, &k, err)) != GQ_OK)
		return rc;
	rc = trim_compiled(k, obj, out, err);
	keep_free(k);
	return rc;
}

/*
 * Builds the cache key of obj (see informer.h). *out owned by the caller.
 */
int gq_informer_key(yajl_val obj, char **out, struct gq_err *err)
{
	static const char *name_path[] = {"metadata", "name", NULL};
	static const char *ns_path[] = {"metadata", "namespace", NULL};
	yajl_val name = yajl_tree_get(obj, name_path, yajl_t_string);
	yajl_val ns = yajl_tree_get(obj, ns_path, yajl_t_string);
	size_t len;

	*out = NULL;
	if (name == NULL || name->u.string[0] == '\0')
		return gq_err_set(err, GQ_EINVAL, "object has no metadata.name");
	len = strlen(name->u.string);
	if (ns != NULL && ns->u.string[0] != '\0')
		len += strlen(ns->u.string) + 1;
	if (len > GQ_INFORMER_MAX_KEY)
		return gq_err_set(err, GQ_ETOOBIG, "object key longer than %d bytes",
				  GQ_INFORMER_MAX_KEY);
	if (ns != NULL && ns->u.string[0] != '\0')
		*out = gq_asprintf("%s/%s", ns->u.string, name->u.string);
	else
		*out = gq_strdup(name->u.string);
	return GQ_OK;
}

/*
 * Makes a cache entry from a raw object: key + trimmed copy. *out owned by
 * the caller (entry_free). Failures are logged and counted as errors.
 */
static int make_entry(struct gq_informer *inf, yajl_val obj, struct entry **out)
{
	struct gq_err err = {0};
	yajl_val t = NULL;
	char *key = NULL;
	int rc;

	*out = NULL;
	rc = gq_informer_key(obj, &key, &err);
	if (rc == GQ_OK && inf->convert != NULL)
		rc = check_unique(obj, &err);
	else if (rc == GQ_OK)
		rc = trim_compiled(inf->keep, obj, &t, &err);
	if (rc != GQ_OK) {
		inf_log(inf, "warning", "skipping object %s: %s", key != NULL ? key : "(unnamed)",
			err.msg);
		atomic_fetch_add(&inf->n_errors, 1);
		free(key);
		return rc;
	}
	if (inf->convert != NULL) {
		const char *rv = obj_rv(obj);

		*out = entry_new(key, NULL);
		(*out)->conv = inf->convert(key, obj);
		(*out)->release = inf->release;
		(*out)->rv_own = rv ? gq_strdup(rv) : NULL;
		(*out)->rv = (*out)->rv_own;
		return GQ_OK;
	}
	*out = entry_new(key, t);
	return GQ_OK;
}

/* ---- cache updates -------------------------------------------------------- */

static void call_handler(struct gq_informer *inf, enum gq_informer_event ev, const char *key,
			 yajl_val old_obj, yajl_val new_obj)
{
	if (inf->handler != NULL)
		inf->handler(inf->payload, inf, ev, key, old_obj, new_obj);
}

/* Sets the informer's last resourceVersion (ignores NULL / ""). */
static void set_rv(struct gq_informer *inf, const char *rv)
{
	if (rv == NULL || rv[0] == '\0')
		return;
	free(inf->rv);
	inf->rv = gq_strdup(rv);
}

/*
 * Inserts or replaces the cached object for raw obj; ADD/UPDATE handler
 * after the cache changed; skipped (no handler) when the resourceVersion is
 * unchanged. A bad object is skipped.
 */
static void cache_upsert(struct gq_informer *inf, yajl_val obj)
{
	struct entry *ne = NULL, *e;
	yajl_val old;

	if (make_entry(inf, obj, &ne) != GQ_OK)
		return;
	e = table_find(&inf->cache, ne->key);
	if (e != NULL && same_rv(e->rv, ne->rv)) {
		entry_free(ne);
		return;
	}
	if (e == NULL) {
		pthread_rwlock_wrlock(&inf->lock);
		table_insert(&inf->cache, ne);
		pthread_rwlock_unlock(&inf->lock);
		call_handler(inf, GQ_INF_ADD, ne->key, NULL, ne->conv ? obj : ne->obj);
		return;
	}
	/* Swap the object into the existing entry; the old one (in ne now)
	 * dies after the handler. */
	old = e->obj;
	pthread_rwlock_wrlock(&inf->lock);
	e->obj = ne->obj;
	ne->obj = old;
	SWAP_PTR(e->conv, ne->conv);
	SWAP_PTR(e->rv_own, ne->rv_own);
	e->rv = ne->rv;
	pthread_rwlock_unlock(&inf->lock);
	call_handler(inf, GQ_INF_UPDATE, e->key, ne->obj, e->conv ? obj : e->obj);
	entry_free(ne);
}

/* Removes the cached object for raw obj's key; DELETE handler when it was cached. */
static void cache_delete(struct gq_informer *inf, yajl_val obj)
{
	struct gq_err err = {0};
	struct entry *e;
	char *key = NULL;

	if (gq_informer_key(obj, &key, &err) != GQ_OK) {
		inf_log(inf, "warning", "ignoring DELETED event: %s", err.msg);
		atomic_fetch_add(&inf->n_errors, 1);
		return;
	}
	if (table_find(&inf->cache, key) != NULL) {
		pthread_rwlock_wrlock(&inf->lock);
		e = table_remove(&inf->cache, key);
		pthread_rwlock_unlock(&inf->lock);
		call_handler(inf, GQ_INF_DELETE, e->key, e->obj, NULL);
		entry_free(e);
	}
	free(key);
}

/* ---- LIST ----------------------------------------------------------------- */

void gq_informer_list_begin(struct gq_informer *inf)
{
	table_clear(&inf->pending);
}

void gq_informer_list_abort(struct gq_informer *inf)
{
	table_clear(&inf->pending);
}

/* Buffers one LIST item (trimmed). A duplicate key replaces the earlier
 * item. Always GQ_OK: bad items are skipped (logged, counted). */
int gq_informer_list_item(struct gq_informer *inf, yajl_val item)
{
	struct entry *ne, *old;

	if (make_entry(inf, item, &ne) != GQ_OK)
		return GQ_OK;
	old = table_remove(&inf->pending, ne->key);
	entry_free(old);
	table_insert(&inf->pending, ne);
	return GQ_OK;
}

/*
 * Replaces the cache with the buffered LIST in one write-locked swap, then
 * calls the handler: ADD for new keys, UPDATE for changed resourceVersions,
 * DELETE for keys that are gone. The old table (and the old objects given
 * to the handler) is freed at the end.
 */
void gq_informer_list_end(struct gq_informer *inf, const char *rv)
{
	struct table old;
	struct entry *e, *o;
	struct gq_informers *m = inf->set;
	size_t i;

	pthread_rwlock_wrlock(&inf->lock);
	old = inf->cache;
	inf->cache = inf->pending;
	pthread_rwlock_unlock(&inf->lock);
	memset(&inf->pending, 0, sizeof(inf->pending));

	for (e = table_first(&inf->cache, &i); e != NULL; e = table_next(&inf->cache, &i, e)) {
		o = table_find(&old, e->key);
		if (o == NULL)
			call_handler(inf, GQ_INF_ADD, e->key, NULL, e->obj);
		else if (!same_rv(o->rv, e->rv))
			call_handler(inf, GQ_INF_UPDATE, e->key, o->obj, e->obj);
	}
	for (o = table_first(&old, &i); o != NULL; o = table_next(&old, &i, o))
		if (table_find(&inf->cache, o->key) == NULL)
			call_handler(inf, GQ_INF_DELETE, o->key, o->obj, NULL);
	table_clear(&old);

	free(inf->rv);
	inf->rv = gq_strdup(rv != NULL ? rv : "");
	if (inf->listed_once)
		atomic_fetch_add(&inf->n_relists, 1);
	inf->listed_once = true;
	pthread_mutex_lock(&m->mu);
	atomic_store(&inf->synced, true);
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

/* ---- watch events --------------------------------------------------------- */

/* Whether a BOOKMARK's object marks the end of a streaming list's initial
 * events (annotation k8s.io/initial-events-end: "true"). */
static bool initial_events_end(yajl_val obj)
{
	static const char *path[] = {"metadata", "annotations", "k8s.io/initial-events-end", NULL};
	yajl_val v = yajl_tree_get(obj, path, yajl_t_string);

	return v != NULL && strcmp(v->u.string, "true") == 0;
}

/*
 * One event of a streaming list before its end: the objects go into the
 * pending table as LIST items do, and the initial-events-end bookmark ends
 * the list (gq_informer_list_end at its resourceVersion); from then on the
 * same stream is an ordinary watch, live from now, and the cache complete
 * up to the stream's start.
 */
static enum gq_informer_action stream_event(struct gq_informer *inf,
					    const struct gq_watch_event *ev)
{
	char *key = NULL;
	struct gq_err err = {0};
	int64_t now;

	switch (ev->type) {
	case GQ_WATCH_ADDED:
	case GQ_WATCH_MODIFIED: gq_informer_list_item(inf, ev->object); break;
	case GQ_WATCH_DELETED:
		if (gq_informer_key(ev->object, &key, &err) == GQ_OK)
			entry_free(table_remove(&inf->pending, key));
		free(key);
		break;
	default:
		if (!initial_events_end(ev->object))
			break;
		inf->streaming = false;
		gq_informer_list_end(inf, ev->resource_version);
		now = gq_real_ms();
		if (inf->stream_t0_ms > atomic_load(&inf->fresh_until_ms))
			atomic_store(&inf->fresh_until_ms, inf->stream_t0_ms);
		atomic_store(&inf->live_since_ms, now);
#ifdef __GLIBC__
		malloc_trim(0);
#endif
		break;
	}
	inf->progress = true;
	return GQ_INF_CONTINUE;
}

/* See informer.h. */
void gq_informer_stream_begin(struct gq_informer *inf)
{
	gq_informer_list_begin(inf);
	inf->streaming = true;
	inf->stream_t0_ms = gq_real_ms();
}

/*
 * Applies one watch stream value (see informer.h). The resourceVersion
 * advances with every applied event, including skipped same-RV updates.
 */
enum gq_informer_action gq_informer_apply_event(struct gq_informer *inf, yajl_val v)
{
	struct gq_watch_event ev;
	struct gq_err err = {0};

	if (gq_watch_event_decode(&ev, v, &err) != GQ_OK) {
		inf_log(inf, "warning", "bad watch event, relisting: %s", err.msg);
		atomic_fetch_add(&inf->n_errors, 1);
		return GQ_INF_RELIST;
	}
	if (inf->streaming && ev.type != GQ_WATCH_ERROR)
		return stream_event(inf, &ev);
	switch (ev.type) {
	case GQ_WATCH_ADDED:
	case GQ_WATCH_MODIFIED:
		cache_upsert(inf, ev.object);
		atomic_fetch_add(&inf->n_events, 1);
		break;
	case GQ_WATCH_DELETED:
		cache_delete(inf, ev.object);
		atomic_fetch_add(&inf->n_events, 1);
		break;
	case GQ_WATCH_BOOKMARK: break;
	case GQ_WATCH_ERROR:
	default:
		atomic_fetch_add(&inf->n_errors, 1);
		if (gq_watch_event_is_gone(&ev)) {
			inf_log(inf, NULL, "watch expired (%d %s: %s), relisting", ev.code,
				ev.reason ? ev.reason : "", ev.message ? ev.message : "");
			return GQ_INF_RELIST;
		}
		inf_log(inf, "warning", "watch ERROR event (%d %s: %s)", ev.code,
			ev.reason ? ev.reason : "", ev.message ? ev.message : "");
		return GQ_INF_BACKOFF;
	}
	set_rv(inf, ev.resource_version);
	inf->progress = true;
	return GQ_INF_CONTINUE;
}

/* jsonstream callback: applies the event; a non-CONTINUE action (positive)
 * stops the stream and comes back out of gq_jsonstream_feed. */
static int stream_value(void *payload, yajl_val v)
{
	return (int)gq_informer_apply_event(payload, v);
}

void gq_informer_watch_reset(struct gq_informer *inf)
{
	gq_jsonstream_reset(&inf->js);
	inf->stream_action = GQ_INF_CONTINUE;
	inf->progress = false;
}

/* Feeds watch bytes (see informer.h). Once the stream ended with an
 * action, further bytes are ignored and the same action is returned. */
enum gq_informer_action gq_informer_watch_feed(struct gq_informer *inf, const char *data,
					       size_t len)
{
	int rc;

	if (inf->stream_action != GQ_INF_CONTINUE)
		return inf->stream_action;
	rc = gq_jsonstream_feed(&inf->js, data, len);
	if (rc == GQ_OK)
		return GQ_INF_CONTINUE;
	if (rc > 0) {
		inf->stream_action = (enum gq_informer_action)rc;
	} else {
		inf_log(inf, "warning", "undecodable watch stream (%s: %s), relisting",
			gq_strerror(rc), inf->js.err.msg);
		atomic_fetch_add(&inf->n_errors, 1);
		inf->stream_action = GQ_INF_RELIST;
	}
	return inf->stream_action;
}

enum gq_informer_action gq_informer_after_watch(enum gq_informer_action stream_action, bool curl_ok,
						long http_status, bool truncated, int64_t lived_ms)
{
	if (stream_action != GQ_INF_CONTINUE)
		return stream_action;
	if (http_status == 410)
		return GQ_INF_RELIST_BACKOFF;
	if (http_status != 0 && http_status != 200)
		return GQ_INF_BACKOFF;
	if (!curl_ok || http_status == 0 || truncated)
		return GQ_INF_BACKOFF;
	if (lived_ms < HEALTHY_WATCH_MS)
		return GQ_INF_BACKOFF;
	return GQ_INF_REWATCH;
}

int64_t gq_informer_backoff_ms(unsigned attempt, uint32_t rnd)
{
	int64_t base = GQ_INFORMER_BACKOFF_MIN_MS;

	for (unsigned i = 0; i < attempt && base < GQ_INFORMER_BACKOFF_MAX_MS; i++)
		base *= 2;
	if (base > GQ_INFORMER_BACKOFF_MAX_MS)
		base = GQ_INFORMER_BACKOFF_MAX_MS;
	/* factor in [0.8, 1.2] in 1/1000 steps */
	return base * (800 + (int64_t)(rnd % 401)) / 1000;
}

const char *gq_informer_resource_version(const struct gq_informer *inf)
{
	return inf->rv;
}

/* Appends "<sep>name=escaped(value)" to b. */
static void query_add(struct gq_buf *b, const char *name, const char *value)
{
	char *esc = gq_kclient_escape(value);

	gq_buf_printf(b, "%c%s=%s", strchr(gq_buf_str(b), '?') ? '&' : '?', name, esc);
	free(esc);
}

char *gq_informer_watch_path(const struct gq_informer *inf, int timeout_s)
{
	struct gq_buf b;

	gq_buf_init(&b, SIZE_MAX / 2);
	gq_buf_puts(&b, inf->path);
	gq_buf_printf(&b, "%cwatch=1", strchr(inf->path, '?') ? '&' : '?');
	if (inf->streaming)
		gq_buf_puts(&b, "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan");
	else
		query_add(&b, "resourceVersion", inf->rv);
	gq_buf_puts(&b, "&allowWatchBookmarks=true");
	gq_buf_printf(&b, "&timeoutSeconds=%d", timeout_s);
	if (inf->selector != NULL)
		query_add(&b, "labelSelector", inf->selector);
	return gq_buf_steal(&b);
}

/* LIST path: the collection plus the label selector. Caller frees. */
static char *list_path(const struct gq_informer *inf)
{
	struct gq_buf b;

	gq_buf_init(&b, SIZE_MAX / 2);
	gq_buf_puts(&b, inf->path);
	if (inf->selector != NULL)
		query_add(&b, "labelSelector", inf->selector);
	return gq_buf_steal(&b);
}

/* ---- the watch thread ----------------------------------------------------- */

/* Enters ST_WAIT for a backoff, then `next`. */
static void wait_then(struct gq_informer *inf, enum inf_state next)
{
	int64_t d = gq_informer_backoff_ms(inf->attempts > 0 ? inf->attempts - 1 : 0,
					   rng_next(&inf->set->rng));

	inf->state = ST_WAIT;
	inf->after_wait = next;
	inf->due_ms = gq_mono_ms() + d;
}

/*
 * Moves the state machine on after an action. Failures count attempts;
 * the first relist after a healthy period is immediate, later ones and
 * every re-watch after a failure wait for the backoff.
 */
static void schedule(struct gq_informer *inf, enum gq_informer_action a)
{
	switch (a) {
	case GQ_INF_CONTINUE:
	case GQ_INF_REWATCH:
		inf->attempts = 0;
		inf->state = ST_WATCH_START;
		break;
	case GQ_INF_BACKOFF:
		inf->attempts++;
		wait_then(inf, ST_WATCH_START);
		break;
	case GQ_INF_RELIST:
		inf->attempts++;
		if (inf->attempts == 1)
			inf->state = ST_LIST;
		else
			wait_then(inf, ST_LIST);
		break;
	case GQ_INF_RELIST_BACKOFF:
	default:
		inf->attempts++;
		wait_then(inf, ST_LIST);
		break;
	}
}

/* kclient LIST item callback: buffers the item; nonzero stops a LIST
 * when the set is stopping. */
static int list_item_cb(void *payload, yajl_val item)
{
	struct gq_informer *inf = payload;

	if (atomic_load(&inf->set->stop))
		return 1;
	return gq_informer_list_item(inf, item);
}

/* kclient LIST restart callback (expired continue token). */
static void list_reset_cb(void *payload)
{
	gq_informer_list_begin(payload);
}

/* An optional informer whose LIST got a 404: empty and synced (what it
 * held is deleted through the handler), listed again after
 * GQ_INFORMER_ABSENT_RETRY_MS. */
static void not_served(struct gq_informer *inf)
{
	if (!inf->absent)
		inf_log(inf, "info",
			"%s is not served by the apiserver: treated as empty, listed again every "
			"%ds",
			inf->path, GQ_INFORMER_ABSENT_RETRY_MS / 1000);
	inf->absent = true;
	gq_informer_list_begin(inf);
	gq_informer_list_end(inf, "");
	inf->attempts = 0;
	inf->state = ST_WAIT;
	inf->after_wait = ST_LIST;
	inf->due_ms = gq_mono_ms() + GQ_INFORMER_ABSENT_RETRY_MS;
}

/* Runs a LIST synchronously and schedules what follows. */
static void do_list(struct gq_informer *inf)
{
	struct gq_err err = {0};
	char *path = list_path(inf), *rv = NULL;
	int rc;

	int64_t t0 = gq_real_ms();

	gq_informer_list_begin(inf);
	rc = gq_kclient_list(inf->set->kc, path, GQ_INFORMER_PAGE, list_item_cb, list_reset_cb, inf,
			     &rv, &err);
	free(path);
	if (rc == GQ_OK) {
		gq_informer_list_end(inf, rv);
#ifdef __GLIBC__
		/* The pages were parsed into trees and freed: give the pages
		 * the allocator keeps back to the system (a LIST of tens of
		 * thousands of objects otherwise stays in the RSS). */
		malloc_trim(0);
#endif
		/* The LIST is a snapshot taken after t0 (with the whole-second
		 * accounting, after the second of t0). */
		if (t0 > atomic_load(&inf->fresh_until_ms))
			atomic_store(&inf->fresh_until_ms, t0);
		free(rv);
		if (inf->absent)
			inf_log(inf, "info", "%s is served now", inf->path);
		inf->absent = false;
		inf->state = ST_WATCH_START;
		return;
	}
	gq_informer_list_abort(inf);
	if (atomic_load(&inf->set->stop))
		return;
	if (rc == GQ_ENOTFOUND && inf->optional) {
		not_served(inf);
		return;
	}
	inf_log(inf, "warning", "LIST %s failed: %s: %s", inf->path, gq_strerror(rc), err.msg);
	atomic_fetch_add(&inf->n_errors, 1);
	inf->attempts++;
	wait_then(inf, ST_LIST);
}

/* curl write callback of a watch: feeds the decoder when the response is a
 * 200, keeps the start of any other response for the log. Returning 0
 * aborts the transfer (an event ended the watch). */
static size_t watch_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct gq_informer *inf = userdata;
	size_t n = size * nmemb, room;

	if (inf->http_status == 0)
		curl_easy_getinfo(inf->easy, CURLINFO_RESPONSE_CODE, &inf->http_status);
	if (inf->http_status != 200) {
		room = ERRBODY_MAX - inf->errbody.len;
		gq_buf_append(&inf->errbody, ptr, n < room ? n : room);
		return n;
	}
	if (atomic_load(&inf->live_since_ms) == 0)
		atomic_store(&inf->live_since_ms, gq_real_ms());
	if (gq_informer_watch_feed(inf, ptr, n) != GQ_INF_CONTINUE)
		return 0;
	return n;
}

/* Starts a watch from inf->rv: a handle added to the multi handle. */
static void start_watch(struct gq_informer *inf)
{
	struct gq_informers *m = inf->set;
	int span = GQ_INFORMER_WATCH_TIMEOUT_MAX_S - GQ_INFORMER_WATCH_TIMEOUT_MIN_S + 1;
	int timeout_s = m->watch_timeout_s > 0 ? m->watch_timeout_s
					       : GQ_INFORMER_WATCH_TIMEOUT_MIN_S +
						     (int)(rng_next(&m->rng) % (uint32_t)span);
	struct gq_err err = {0};
	char *path = gq_informer_watch_path(inf, timeout_s);
	CURLMcode mc;
	int rc;

	gq_informer_watch_reset(inf);
	inf->http_status = 0;
	gq_buf_reset(&inf->errbody);
	rc = gq_kclient_watch_handle(m->kc, &inf->easy, path, watch_write, inf, &err);
	free(path);
	if (rc == GQ_OK && (mc = curl_multi_add_handle(m->multi, inf->easy)) != CURLM_OK) {
		rc = gq_err_set(&err, GQ_EIO, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
		gq_kclient_easy_cleanup(inf->easy);
		inf->easy = NULL;
	}
	if (rc != GQ_OK) {
		inf_log(inf, "warning", "cannot start watch: %s", err.msg);
		atomic_fetch_add(&inf->n_errors, 1);
		schedule(inf, GQ_INF_BACKOFF);
		return;
	}
	atomic_fetch_add(&inf->n_watches, 1);
	inf->watch_started_ms = gq_mono_ms();
	inf->state = ST_WATCHING;
}

/* The "message" of a Kubernetes Status body, or the start of the body
 * (borrowed from errbody or a static ""), for logs. */
static void log_http_failure(struct gq_informer *inf)
{
	static const char *msg_path[] = {"message", NULL};
	const char *body = gq_buf_str(&inf->errbody);
	yajl_val doc = yajl_tree_parse(body, NULL, 0);
	yajl_val msg = yajl_tree_get(doc, msg_path, yajl_t_string);

	inf_log(inf, "warning", "watch got HTTP %ld: %.300s", inf->http_status,
		msg != NULL ? msg->u.string : body);
	yajl_tree_free(doc);
}

/*
 * A streaming list that ended before its initial events did: what it
 * buffered is dropped and the informer lists again. An apiserver that
 * refuses the request itself (HTTP 400, 403, 404, 422: an older server or
 * the WatchList feature off), or whose stream ended cleanly without the
 * end of the initial events (clean), is listed in pages from then on.
 */
static enum gq_informer_action stream_ended(struct gq_informer *inf, bool clean)
{
	long st = inf->http_status;

	inf->streaming = false;
	gq_informer_list_abort(inf);
	if (st == 400 || st == 403 || st == 404 || st == 422) {
		inf_log(inf, "warning",
			"the apiserver refused a streaming list (HTTP %ld): listing in pages", st);
		inf->no_stream = true;
		inf->attempts = 0;
	} else if (clean) {
		/* A server that took the request as a plain watch never marks
		 * the end of the initial events. */
		inf_log(inf, "warning",
			"a streaming list ended without its initial-events-end bookmark: listing "
			"in pages");
		inf->no_stream = true;
		inf->attempts = 0;
	}
	return GQ_INF_RELIST;
}

/* Handles a finished watch transfer: logs, releases the handle, schedules. */
static void finish_watch(struct gq_informer *inf, CURLcode res)
{
	struct gq_informers *m = inf->set;
	enum gq_informer_action a;
	bool truncated = false;
	int64_t lived = gq_mono_ms() - inf->watch_started_ms;
	int64_t live = atomic_load(&inf->live_since_ms), end = gq_real_ms();

	/* A watch that was live past the settle time kept the cache complete
	 * until it ended (an event not yet received within the last moments
	 * is covered by the whole-second accounting). */
	if (live != 0 && end - live >= GQ_INFORMER_SETTLE_MS)
		atomic_store(&inf->fresh_until_ms, end);
	atomic_store(&inf->live_since_ms, 0);

	if (inf->http_status == 0)
		curl_easy_getinfo(inf->easy, CURLINFO_RESPONSE_CODE, &inf->http_status);
	if (inf->stream_action == GQ_INF_CONTINUE && inf->http_status == 200)
		truncated = gq_jsonstream_finish(&inf->js) != GQ_OK;
	a = gq_informer_after_watch(inf->stream_action, res == CURLE_OK, inf->http_status,
				    truncated, lived);
	if (inf->stream_action == GQ_INF_CONTINUE) {
		if (inf->http_status != 0 && inf->http_status != 200) {
			log_http_failure(inf);
			if (inf->http_status == 401)
				gq_kclient_token_expired(m->kc);
		} else if (res != CURLE_OK) {
			inf_log(inf, "warning", "watch failed: %s: %s", curl_easy_strerror(res),
				gq_kclient_easy_error(inf->easy));
		} else if (truncated) {
			inf_log(inf, "warning", "watch stream ended inside an event");
		}
		if (a != GQ_INF_REWATCH &&
		    (inf->http_status != 200 || res != CURLE_OK || truncated))
			atomic_fetch_add(&inf->n_errors, 1);
	}
	curl_multi_remove_handle(m->multi, inf->easy);
	gq_kclient_easy_cleanup(inf->easy);
	inf->easy = NULL;
	if (inf->progress)
		inf->attempts = 0;
	if (inf->streaming)
		a = stream_ended(inf, inf->stream_action == GQ_INF_CONTINUE && res == CURLE_OK &&
					  inf->http_status == 200 && !truncated);
	schedule(inf, a);
}

/* A watch whose response came back 200 is live from then on (headers
 * arrive before any event; an idle watch delivers no body). */
static void mark_live(struct gq_informer *inf)
{
	long code = 0;

	if (inf->state != ST_WATCHING || inf->easy == NULL || inf->streaming ||
	    atomic_load(&inf->live_since_ms))
		return;
	if (curl_easy_getinfo(inf->easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200)
		atomic_store(&inf->live_since_ms, gq_real_ms());
}

/* The watch thread: one curl multi loop driving every informer. */
static void *watch_thread(void *arg)
{
	struct gq_informers *m = arg;
	struct gq_informer *inf;
	CURLMsg *msg;
	int running, left;
	int64_t now, timeout;
	bool busy;

	while (!atomic_load(&m->stop)) {
		now = gq_mono_ms();
		for (size_t i = 0; i < m->n && !atomic_load(&m->stop); i++) {
			inf = m->infs[i];
			if (inf->state == ST_WAIT && now >= inf->due_ms)
				inf->state = inf->after_wait;
			if (inf->state == ST_LIST && m->watch_list && !inf->no_stream) {
				gq_informer_stream_begin(inf);
				inf->state = ST_WATCH_START;
			} else if (inf->state == ST_LIST) {
				do_list(inf);
			}
			if (inf->state == ST_WATCH_START && !atomic_load(&m->stop))
				start_watch(inf);
		}
		if (atomic_load(&m->stop))
			break;
		curl_multi_perform(m->multi, &running);
		while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			inf = gq_kclient_easy_payload(msg->easy_handle);
			if (inf != NULL && inf->easy == msg->easy_handle)
				finish_watch(inf, msg->data.result);
		}
		for (size_t i = 0; i < m->n; i++)
			mark_live(m->infs[i]);
		busy = false;
		timeout = POLL_MAX_MS;
		now = gq_mono_ms();
		for (size_t i = 0; i < m->n; i++) {
			inf = m->infs[i];
			if (inf->state == ST_LIST || inf->state == ST_WATCH_START)
				busy = true;
			else if (inf->state == ST_WAIT && inf->due_ms - now < timeout)
				timeout = inf->due_ms > now ? inf->due_ms - now : 0;
		}
		if (!busy && curl_multi_poll(m->multi, NULL, 0, (int)timeout, NULL) != CURLM_OK)
			usleep(100 * 1000); /* cannot happen with a valid handle; never spin */
	}
	for (size_t i = 0; i < m->n; i++) {
		inf = m->infs[i];
		if (inf->easy != NULL) {
			curl_multi_remove_handle(m->multi, inf->easy);
			gq_kclient_easy_cleanup(inf->easy);
			inf->easy = NULL;
		}
	}
	pthread_mutex_lock(&m->mu);
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* ---- the set -------------------------------------------------------------- */

int gq_informers_new(struct gq_informers **out, struct gq_kclient *kc)
{
	struct gq_informers *m = gq_calloc(1, sizeof(*m));
	pthread_condattr_t ca;

	m->kc = kc;
	atomic_init(&m->stop, false);
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	m->rng = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16) ^ (uint32_t)(uintptr_t)m;
	if (m->rng == 0)
		m->rng = 0x9e3779b9u;
	*out = m;
	return GQ_OK;
}

/*
 * Adds an informer (see informer.h): copies def's strings and compiles its
 * keep list. The informer is owned by the set.
 */
int gq_informers_add(struct gq_informers *m, const struct gq_informer_def *def,
		     struct gq_informer **out, struct gq_err *err)
{
	struct gq_informer *inf;
	struct keep_node *keep = NULL;
	pthread_rwlockattr_t ra;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (m->started)
		return gq_err_set(err, GQ_EINVAL, "informer: cannot add after start");
	if (def == NULL || def->name == NULL || def->name[0] == '\0' || def->path == NULL ||
	    def->path[0] != '/')
		return gq_err_set(err, GQ_EINVAL,
				  "informer: a name and a path starting with '/' "
				  "are required");
	if ((rc = keep_compile(def->keep, &keep, err)) != GQ_OK)
		return rc;
	inf = gq_calloc(1, sizeof(*inf));
	inf->set = m;
	inf->name = gq_strdup(def->name);
	inf->path = gq_strdup(def->path);
	if (def->label_selector != NULL && def->label_selector[0] != '\0')
		inf->selector = gq_strdup(def->label_selector);
	inf->keep = keep;
	inf->handler = def->handler;
	inf->payload = def->payload;
	inf->convert = def->convert;
	inf->release = def->release;
	inf->optional = def->optional;
	/* Writer-preferring, so that busy readers cannot starve the watch thread. */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&inf->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	inf->rv = gq_strdup("");
	inf->state = ST_LIST;
	gq_jsonstream_init(&inf->js, GQ_INFORMER_MAX_EVENT, stream_value, inf);
	gq_buf_init(&inf->errbody, ERRBODY_MAX);
	atomic_init(&inf->synced, false);
	atomic_init(&inf->live_since_ms, 0);
	atomic_init(&inf->fresh_until_ms, 0);
	m->infs = gq_realloc(m->infs, (m->n + 1) * sizeof(*m->infs));
	m->infs[m->n++] = inf;
	if (out != NULL)
		*out = inf;
	return GQ_OK;
}

int gq_informers_start(struct gq_informers *m, struct gq_err *err)
{
	int rc;

	if (m->started)
		return gq_err_set(err, GQ_EINVAL, "informer: already started");
	if (m->kc == NULL)
		return gq_err_set(err, GQ_EINVAL, "informer: no client");
	m->multi = curl_multi_init();
	if (m->multi == NULL)
		return gq_err_set(err, GQ_EIO, "informer: curl_multi_init failed");
	atomic_store(&m->stop, false);
	rc = pthread_create(&m->thread, NULL, watch_thread, m);
	if (rc != 0) {
		curl_multi_cleanup(m->multi);
		m->multi = NULL;
		return gq_err_set(err, GQ_EIO, "informer: pthread_create: %s", strerror(rc));
	}
	m->started = true;
	m->joined = false;
	return GQ_OK;
}

/* True when every informer has synced; called with m->mu held. */
static bool all_synced(struct gq_informers *m)
{
	for (size_t i = 0; i < m->n; i++) {
		if (!atomic_load(&m->infs[i]->synced))
			return false;
	}
	return true;
}

bool gq_informers_wait_synced(struct gq_informers *m, int64_t timeout_ms)
{
	struct timespec dl;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	if (timeout_ms > 0) {
		dl.tv_sec += timeout_ms / 1000;
		dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&m->mu);
	for (;;) {
		ok = all_synced(m);
		if (ok || atomic_load(&m->stop) || timeout_ms == 0)
			break;
		if (timeout_ms < 0) {
			pthread_cond_wait(&m->cv, &m->mu);
		} else if (pthread_cond_timedwait(&m->cv, &m->mu, &dl) != 0) {
			ok = all_synced(m);
			break;
		}
	}
	pthread_mutex_unlock(&m->mu);
	return ok;
}

void gq_informers_stop(struct gq_informers *m)
{
	if (m == NULL || !m->started || m->joined)
		return;
	pthread_mutex_lock(&m->mu);
	atomic_store(&m->stop, true);
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	curl_multi_wakeup(m->multi);
	pthread_join(m->thread, NULL);
	m->joined = true;
	curl_multi_cleanup(m->multi);
	m->multi = NULL;
}

void gq_informers_free(struct gq_informers *m)
{
	struct gq_informer *inf;

	if (m == NULL)
		return;
	gq_informers_stop(m);
	for (size_t i = 0; i < m->n; i++) {
		inf = m->infs[i];
		table_clear(&inf->cache);
		table_clear(&inf->pending);
		gq_jsonstream_free(&inf->js);
		gq_buf_free(&inf->errbody);
		keep_free(inf->keep);
		pthread_rwlock_destroy(&inf->lock);
		free(inf->rv);
		free(inf->name);
		free(inf->path);
		free(inf->selector);
		free(inf);
	}
	free(m->infs);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* ---- cache access --------------------------------------------------------- */

void gq_informer_rdlock(struct gq_informer *inf)
{
	pthread_rwlock_rdlock(&inf->lock);
}

void gq_informer_unlock(struct gq_informer *inf)
{
	pthread_rwlock_unlock(&inf->lock);
}

yajl_val gq_informer_get(struct gq_informer *inf, const char *key)
{
	struct entry *e = key != NULL ? table_find(&inf->cache, key) : NULL;

	return e != NULL ? e->obj : NULL;
}

int gq_informer_foreach(struct gq_informer *inf,
			int (*fn)(void *arg, const char *key, yajl_val obj), void *arg)
{
	struct entry *e;
	size_t i;
	int rc;

	for (e = table_first(&inf->cache, &i); e != NULL; e = table_next(&inf->cache, &i, e))
		if ((rc = fn(arg, e->key, e->obj)) != 0)
			return rc;
	return 0;
}

int gq_informer_foreach_ns(struct gq_informer *inf, const char *ns,
			   int (*fn)(void *arg, const char *key, yajl_val obj), void *arg)
{
	const struct ns_list *l =
	    (const struct ns_list *)gq_hmap_find(&inf->cache.ns, ns, strlen(ns), ns_match);
	int rc;

	for (const struct entry *e = l ? l->head : NULL; e != NULL; e = e->ns_next)
		if ((rc = fn(arg, e->key, e->obj)) != 0)
			return rc;
	return 0;
}

/* See informer.h. */
const void *gq_informer_get_conv(struct gq_informer *inf, const char *key)
{
	struct entry *e = key != NULL ? table_find(&inf->cache, key) : NULL;

	return e != NULL ? e->conv : NULL;
}

/* See informer.h. */
int gq_informer_foreach_conv(struct gq_informer *inf,
			     int (*fn)(void *arg, const char *key, const void *conv), void *arg)
{
	struct entry *e;
	size_t i;
	int rc;

	for (e = table_first(&inf->cache, &i); e != NULL; e = table_next(&inf->cache, &i, e))
		if (e->conv != NULL && (rc = fn(arg, e->key, e->conv)) != 0)
			return rc;
	return 0;
}

/* See informer.h. */
int gq_informer_foreach_ns_conv(struct gq_informer *inf, const char *ns,
				int (*fn)(void *arg, const char *key, const void *conv), void *arg)
{
	const struct ns_list *l =
	    (const struct ns_list *)gq_hmap_find(&inf->cache.ns, ns, strlen(ns), ns_match);
	int rc;

	for (const struct entry *e = l ? l->head : NULL; e != NULL; e = e->ns_next)
		if (e->conv != NULL && (rc = fn(arg, e->key, e->conv)) != 0)
			return rc;
	return 0;
}

size_t gq_informer_len(struct gq_informer *inf)
{
	size_t n;

	pthread_rwlock_rdlock(&inf->lock);
	n = inf->cache.m.n;
	pthread_rwlock_unlock(&inf->lock);
	return n;
}

const char *gq_informer_name(const struct gq_informer *inf)
{
	return inf->name;
}

void gq_informer_get_stats(struct gq_informer *inf, struct gq_informer_stats *out)
{
	out->events = atomic_load(&inf->n_events);
	out->relists = atomic_load(&inf->n_relists);
	out->watches = atomic_load(&inf->n_watches);
	out->errors = atomic_load(&inf->n_errors);
}

int64_t gq_informer_fresh_until_ms(struct gq_informer *inf, int64_t now_ms)
{
	int64_t live = atomic_load(&inf->live_since_ms);
	int64_t f = atomic_load(&inf->fresh_until_ms);

	if (live != 0 && now_ms - live >= GQ_INFORMER_SETTLE_MS)
		return now_ms;
	return f < now_ms ? f : now_ms;
}

void gq_informers_set_watch_timeout(struct gq_informers *m, int seconds)
{
	m->watch_timeout_s = seconds > 0 ? seconds : 0;
}

/* See informer.h. */
void gq_informers_set_watch_list(struct gq_informers *m, bool on)
{
	m->watch_list = on;
}

bool gq_informer_synced(struct gq_informer *inf)
{
	return atomic_load(&inf->synced);
}
