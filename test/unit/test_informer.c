/*
 * Unit tests for informer.c: trimming, keys, the LIST replace-diff, watch
 * event application (BOOKMARK, 410 -> relist), the stream feed, the
 * after-watch and backoff decisions, and the whole watch thread against a
 * scripted loopback HTTP server (LIST, WATCH, ERROR 410 -> relist, HTTP 410
 * -> relist, re-watch from the last resourceVersion, stop).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "gq.h"
#include "informer.h"
#include "kclient.h"
#include "kubeconfig.h"

/* ---- helpers ---------------------------------------------------------- */

static yajl_val parse(const char *json)
{
	char eb[256];
	yajl_val v = yajl_tree_parse(json, eb, sizeof(eb));

	if (v == NULL)
		fail_msg("bad test JSON: %s: %s", eb, json);
	return v;
}

static yajl_val get(yajl_val v, const char *a, const char *b, const char *c)
{
	const char *p[4] = {a, b, c, NULL};

	return yajl_tree_get(v, p, yajl_t_any);
}

static const char *get_str(yajl_val v, const char *a, const char *b, const char *c)
{
	yajl_val s = get(v, a, b, c);

	return YAJL_IS_STRING(s) ? s->u.string : NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A recorded handler call. */
struct call {
	enum gq_informer_event ev;
	char key[64];
	char old_rv[32]; /* "" when old_obj NULL */
	char new_rv[32]; /* "" when new_obj NULL */
	bool cache_ok;	 /* the cache already reflected the event */
};

struct rec {
	pthread_mutex_t mu;
	struct gq_informer *inf; /* set after add */
	struct call calls[64];
	int n;
};

static void copy_rv(char *dst, size_t cap, yajl_val obj)
{
	const char *rv = obj ? get_str(obj, "metadata", "resourceVersion", NULL) : NULL;

	snprintf(dst, cap, "%s", obj == NULL ? "" : (rv ? rv : "?"));
}

static void record(void *payload, const struct gq_informer *inf, enum gq_informer_event ev,
		   const char *key, yajl_val old_obj, yajl_val new_obj)
{
	struct rec *r = payload;
	struct call *c;
	yajl_val cached;

	(void)inf;
	pthread_mutex_lock(&r->mu);
	if (r->n < (int)GQ_ARRAY_LEN(r->calls)) {
		c = &r->calls[r->n++];
		c->ev = ev;
		snprintf(c->key, sizeof(c->key), "%s", key);
		copy_rv(c->old_rv, sizeof(c->old_rv), old_obj);
		copy_rv(c->new_rv, sizeof(c->new_rv), new_obj);
		gq_informer_rdlock(r->inf);
		cached = gq_informer_get(r->inf, key);
		c->cache_ok = ev == GQ_INF_DELETE ? cached == NULL : cached == new_obj;
		gq_informer_unlock(r->inf);
	}
	pthread_mutex_unlock(&r->mu);
}

static int rec_count(struct rec *r)
{
	int n;

	pthread_mutex_lock(&r->mu);
	n = r->n;
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* Finds the recorded call for key with event ev; NULL when absent. */
static const struct call *rec_find(struct rec *r, enum gq_informer_event ev, const char *key)
{
	for (int i = 0; i < r->n; i++) {
		if (r->calls[i].ev == ev && strcmp(r->calls[i].key, key) == 0)
			return &r->calls[i];
	}
	return NULL;
}

/* A set with one informer (no client) that records handler calls. */
struct fx {
	struct gq_informers *m;
	struct gq_informer *inf;
	struct rec rec;
};

static struct fx *fx_new(const char *const *keep)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct gq_informer_def def = {
	    .name = "things",
	    .path = "/api/v1/things",
	    .keep = keep,
	    .handler = record,
	};
	struct gq_err err = {0};

	pthread_mutex_init(&f->rec.mu, NULL);
	def.payload = &f->rec;
	assert_int_equal(gq_informers_new(&f->m, NULL), GQ_OK);
	assert_int_equal(gq_informers_add(f->m, &def, &f->inf, &err), GQ_OK);
	f->rec.inf = f->inf;
	return f;
}

static void fx_free(struct fx *f)
{
	gq_informers_free(f->m);
	pthread_mutex_destroy(&f->rec.mu);
	free(f);
}

/* An object JSON text "ns/name" at rv with one label. */
static char *obj_json(const char *ns, const char *name, const char *rv)
{
	if (ns == NULL)
		return gq_asprintf("{\"metadata\":{\"name\":\"%s\",\"resourceVersion\":\"%s\","
				   "\"labels\":{\"l\":\"%s\"}},\"spec\":{\"v\":\"%s\"}}",
				   name, rv, rv, rv);
	return gq_asprintf("{\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\","
			   "\"resourceVersion\":\"%s\",\"labels\":{\"l\":\"%s\"}},"
			   "\"spec\":{\"v\":\"%s\"}}",
			   name, ns, rv, rv, rv);
}

static void list_add(struct gq_informer *inf, const char *ns, const char *name, const char *rv)
{
	char *j = obj_json(ns, name, rv);
	yajl_val v = parse(j);

	assert_int_equal(gq_informer_list_item(inf, v), GQ_OK);
	yajl_tree_free(v);
	free(j);
}

static enum gq_informer_action apply(struct gq_informer *inf, const char *json)
{
	yajl_val v = parse(json);
	enum gq_informer_action a = gq_informer_apply_event(inf, v);

	yajl_tree_free(v);
	return a;
}

static char *event_json(const char *type, const char *ns, const char *name, const char *rv)
{
	char *o = obj_json(ns, name, rv);
	char *e = gq_asprintf("{\"type\":\"%s\",\"object\":%s}\n", type, o);

	free(o);
	return e;
}

static enum gq_informer_action apply_ev(struct gq_informer *inf, const char *type, const char *ns,
					const char *name, const char *rv)
{
	char *e = event_json(type, ns, name, rv);
	enum gq_informer_action a = apply(inf, e);

	free(e);
	return a;
}

/* ---- trimming --------------------------------------------------------- */

static const char *full_obj =
    "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\","
    "\"metadata\":{\"name\":\"q\",\"namespace\":\"team-a\",\"uid\":\"u-1\","
    "\"resourceVersion\":\"42\",\"generation\":3,\"labels\":{\"a\":\"1\"},"
    "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{...}\","
    "\"keep.me/x\":\"y\"},"
    "\"managedFields\":[{\"manager\":\"kubectl\",\"fieldsV1\":{\"f:spec\":{}}}]},"
    "\"spec\":{\"hard\":{\"requests.nvidia.com/gpu\":\"8\",\"pods\":12345678901234567890},"
    "\"scopeSelector\":{\"x\":1}},"
    "\"status\":{\"used\":{\"pods\":1.5e3},\"ok\":true,\"none\":null,\"list\":[1,\"a\",false]}}";

static void test_trim_keep_list(void **state)
{
	static const char *const keep[] = {"metadata.labels", "spec.hard", "status", NULL};
	struct gq_err err = {0};
	yajl_val in = parse(full_obj), out = NULL, v;

	(void)state;
	assert_int_equal(gq_informer_trim(keep, in, &out, &err), GQ_OK);
	/* always kept */
	assert_string_equal(get_str(out, "metadata", "name", NULL), "q");
	assert_string_equal(get_str(out, "metadata", "namespace", NULL), "team-a");
	assert_string_equal(get_str(out, "metadata", "uid", NULL), "u-1");
	assert_string_equal(get_str(out, "metadata", "resourceVersion", NULL), "42");
	/* listed */
	assert_string_equal(get_str(out, "metadata", "labels", "a"), "1");
	assert_string_equal(get_str(out, "spec", "hard", "requests.nvidia.com/gpu"), "8");
	v = get(out, "spec", "hard", "pods");
	assert_true(YAJL_IS_NUMBER(v));
	assert_string_equal(v->u.number.r, "12345678901234567890"); /* raw text preserved */
	v = get(out, "status", "used", "pods");
	assert_true(YAJL_IS_DOUBLE(v));
	assert_true(v->u.number.d == 1500.0);
	assert_true(YAJL_IS_TRUE(get(out, "status", "ok", NULL)));
	assert_true(YAJL_IS_NULL(get(out, "status", "none", NULL)));
	v = get(out, "status", "list", NULL);
	assert_true(YAJL_IS_ARRAY(v));
	assert_int_equal(v->u.array.len, 3);
	assert_true(YAJL_IS_FALSE(v->u.array.values[2]));
	/* not listed */
	assert_null(get(out, "apiVersion", NULL, NULL));
	assert_null(get(out, "kind", NULL, NULL));
	assert_null(get(out, "metadata", "generation", NULL));
	assert_null(get(out, "metadata", "annotations", NULL));
	assert_null(get(out, "metadata", "managedFields", NULL));
	assert_null(get(out, "spec", "scopeSelector", NULL));
	yajl_tree_free(out);
	yajl_tree_free(in);
}

static void test_trim_default(void **state)
{
	struct gq_err err = {0};
	yajl_val in = parse(full_obj), out = NULL, in2, out2 = NULL;

	(void)state;
	assert_int_equal(gq_informer_trim(NULL, in, &out, &err), GQ_OK);
	assert_string_equal(get_str(out, "kind", NULL, NULL), "ResourceQuota");
	assert_null(get(out, "metadata", "managedFields", NULL));
	assert_null(get(out, "metadata", "annotations",
			"kubectl.kubernetes.io/last-applied-configuration"));
	assert_string_equal(get_str(out, "metadata", "annotations", "keep.me/x"), "y");
	assert_true(YAJL_IS_INTEGER(get(out, "metadata", "generation", NULL)));
	assert_non_null(get(out, "spec", "scopeSelector", "x"));
	assert_string_equal(get_str(out, "spec", "hard", "requests.nvidia.com/gpu"), "8");
	/* annotations holding only last-applied disappear altogether */
	in2 = parse("{\"metadata\":{\"name\":\"n\",\"annotations\":{"
		    "\"kubectl.kubernetes.io/last-applied-configuration\":\"x\"}},\"data\":{}}");
	assert_int_equal(gq_informer_trim(NULL, in2, &out2, &err), GQ_OK);
	assert_null(get(out2, "metadata", "annotations", NULL));
	assert_true(YAJL_IS_OBJECT(get(out2, "data", NULL, NULL)));
	yajl_tree_free(out2);
	yajl_tree_free(in2);
	yajl_tree_free(out);
	yajl_tree_free(in);
}

/* A member named twice at the top level or in metadata is refused, with or
 * without a keep list: the cache key must not depend on which copy is read. */
static void test_trim_duplicate_members(void **state)
{
	static const char *const keep[] = {"metadata.labels", "spec", NULL};
	static const char *const bad[] = {
	    "{\"metadata\":{\"namespace\":\"a\"},\"metadata\":{\"name\":\"n\"}}",
	    "{\"metadata\":{\"name\":\"n\",\"name\":\"m\"}}",
	    "{\"metadata\":{\"name\":\"n\"},\"spec\":1,\"spec\":2}",
	};
	struct gq_err err = {0};
	yajl_val in, out = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		in = parse(bad[i]);
		assert_int_equal(gq_informer_trim(NULL, in, &out, &err), GQ_EINVAL);
		assert_null(out);
		assert_non_null(strstr(err.msg, "twice"));
		assert_int_equal(gq_informer_trim(keep, in, &out, &err), GQ_EINVAL);
		assert_null(out);
		yajl_tree_free(in);
	}
	/* the same name at different levels is fine */
	in = parse("{\"metadata\":{\"name\":\"n\",\"labels\":{\"name\":\"x\"}},"
		   "\"spec\":{\"spec\":1}}");
	assert_int_equal(gq_informer_trim(NULL, in, &out, &err), GQ_OK);
	yajl_tree_free(out);
	yajl_tree_free(in);
}

static void test_trim_arrays_and_empty(void **state)
{
	static const char *const keep[] = {"spec.containers.name",
					   "spec.containers.resources.requests", "spec.hard",
					   "status.phase", NULL};
	struct gq_err err = {0};
	yajl_val in, out = NULL, c;

	(void)state;
	in = parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\"},"
		   "\"spec\":{\"nodeName\":\"x\",\"containers\":["
		   "{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"requests\":{\"cpu\":\"1\"},"
		   "\"limits\":{\"cpu\":\"2\"}}},"
		   "\"not-an-object\","
		   "{\"image\":\"j\"}]},"
		   "\"status\":{\"conditions\":[]}}");
	assert_int_equal(gq_informer_trim(keep, in, &out, &err), GQ_OK);
	c = get(out, "spec", "containers", NULL);
	assert_true(YAJL_IS_ARRAY(c));
	assert_int_equal(c->u.array.len, 2); /* the string element is dropped */
	assert_string_equal(get_str(c->u.array.values[0], "name", NULL, NULL), "a");
	assert_string_equal(get_str(c->u.array.values[0], "resources", "requests", "cpu"), "1");
	assert_null(get(c->u.array.values[0], "resources", "limits", NULL));
	assert_null(get(c->u.array.values[0], "image", NULL, NULL));
	assert_true(YAJL_IS_OBJECT(c->u.array.values[1]));
	assert_int_equal(c->u.array.values[1]->u.object.len, 0); /* kept, empty */
	assert_null(get(out, "spec", "nodeName", NULL));
	assert_null(get(out, "spec", "hard", NULL));
	assert_null(get(out, "status", NULL, NULL));	/* no phase: empty status omitted */
	assert_null(get(out, "metadata", "uid", NULL)); /* absent stays absent */
	yajl_tree_free(out);
	yajl_tree_free(in);
}

static void test_trim_errors(void **state)
{
	static const char *const bad1[] = {"spec..hard", NULL};
	static const char *const bad2[] = {"", NULL};
	static const char *const bad3[] = {"spec.", NULL};
	static const char *const overlap[] = {"spec.hard.x", "spec", "spec.y", NULL};
	struct gq_err err = {0};
	yajl_val in = parse(full_obj), arr = parse("[1,2]"), out = NULL, deep;
	char json[1024];
	size_t n = 0;

	(void)state;
	assert_int_equal(gq_informer_trim(bad1, in, &out, &err), GQ_EINVAL);
	assert_null(out);
	assert_int_equal(gq_informer_trim(bad2, in, &out, &err), GQ_EINVAL);
	assert_int_equal(gq_informer_trim(bad3, in, &out, &err), GQ_EINVAL);
	assert_int_equal(gq_informer_trim(NULL, arr, &out, &err), GQ_EINVAL);
	assert_null(out);
	/* a shorter path wins over longer ones, in any order */
	assert_int_equal(gq_informer_trim(overlap, in, &out, &err), GQ_OK);
	assert_non_null(get(out, "spec", "scopeSelector", "x"));
	yajl_tree_free(out);
	/* nesting deeper than the copier's bound is refused, not crashed on */
	n += (size_t)snprintf(json + n, sizeof(json) - n, "{\"metadata\":{\"name\":\"d\"},\"x\":");
	for (int i = 0; i < 200; i++)
		json[n++] = '[';
	for (int i = 0; i < 200; i++)
		json[n++] = ']';
	json[n++] = '}';
	json[n] = '\0';
	deep = parse(json);
	assert_int_equal(gq_informer_trim(NULL, deep, &out, &err), GQ_EPARSE);
	assert_null(out);
	yajl_tree_free(deep);
	yajl_tree_free(arr);
	yajl_tree_free(in);
}

static void test_key(void **state)
{
	struct gq_err err = {0};
	yajl_val a = parse("{\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"}}");
	yajl_val b = parse("{\"metadata\":{\"name\":\"n\",\"namespace\":\"\"}}");
	yajl_val c = parse("{\"metadata\":{\"namespace\":\"ns\"}}");
	yajl_val d = parse("{\"metadata\":{\"name\":5}}");
	char big[700], *key = NULL;
	yajl_val e;

	(void)state;
	assert_int_equal(gq_informer_key(a, &key, &err), GQ_OK);
	assert_string_equal(key, "ns/n");
	free(key);
	assert_int_equal(gq_informer_key(b, &key, &err), GQ_OK);
	assert_string_equal(key, "n");
	free(key);
	assert_int_equal(gq_informer_key(c, &key, &err), GQ_EINVAL);
	assert_null(key);
	assert_int_equal(gq_informer_key(d, &key, &err), GQ_EINVAL);
	snprintf(big, sizeof(big), "{\"metadata\":{\"name\":\"%0600d\"}}", 1);
	e = parse(big);
	assert_int_equal(gq_informer_key(e, &key, &err), GQ_ETOOBIG);
	yajl_tree_free(a);
	yajl_tree_free(b);
	yajl_tree_free(c);
	yajl_tree_free(d);
	yajl_tree_free(e);
}

/* ---- LIST replace-diff ----------------------------------------------- */

static int count_cb(void *arg, const char *key, yajl_val obj)
{
	int *n = arg;

	(void)key;
	(void)obj;
	return ++*n >= 2 ? 7 : 0;
}

static void test_list_diff(void **state)
{
	static const char *const keep[] = {"metadata.labels", NULL};
	struct fx *f = fx_new(keep);
	struct gq_informer_stats st;
	const struct call *c;
	yajl_val o;
	int n = 0;

	(void)state;
	assert_false(gq_informer_synced(f->inf));
	assert_string_equal(gq_informer_resource_version(f->inf), "");

	/* first LIST: two ADDs */
	gq_informer_list_begin(f->inf);
	list_add(f->inf, "ns", "a", "1");
	list_add(f->inf, "ns", "b", "2");
	assert_int_equal(gq_informer_len(f->inf), 0); /* nothing visible before end */
	gq_informer_list_end(f->inf, "10");
	assert_true(gq_informer_synced(f->inf));
	assert_string_equal(gq_informer_resource_version(f->inf), "10");
	assert_int_equal(f->rec.n, 2);
	assert_non_null(c = rec_find(&f->rec, GQ_INF_ADD, "ns/a"));
	assert_string_equal(c->old_rv, "");
	assert_string_equal(c->new_rv, "1");
	assert_true(c->cache_ok);
	assert_non_null(rec_find(&f->rec, GQ_INF_ADD, "ns/b"));
	assert_int_equal(gq_informer_len(f->inf), 2);
	gq_informer_rdlock(f->inf);
	o = gq_informer_get(f->inf, "ns/a");
	assert_non_null(o);
	assert_string_equal(get_str(o, "metadata", "labels", "l"), "1");
	assert_null(get(o, "spec", NULL, NULL)); /* trimmed */
	assert_null(gq_informer_get(f->inf, "a"));
	assert_int_equal(gq_informer_foreach(f->inf, count_cb, &n), 7); /* stops on nonzero */
	assert_int_equal(n, 2);
	gq_informer_unlock(f->inf);

	/* second LIST: a unchanged (skipped), b changed, c new */
	f->rec.n = 0;
	gq_informer_list_begin(f->inf);
	list_add(f->inf, "ns", "a", "1");
	list_add(f->inf, "ns", "b", "5");
	list_add(f->inf, NULL, "c", "6");
	gq_informer_list_end(f->inf, "20");
	assert_int_equal(f->rec.n, 2);
	assert_non_null(c = rec_find(&f->rec, GQ_INF_UPDATE, "ns/b"));
	assert_string_equal(c->old_rv, "2");
	assert_string_equal(c->new_rv, "5");
	assert_true(c->cache_ok);
	assert_non_null(rec_find(&f->rec, GQ_INF_ADD, "c"));

	/* third LIST after an aborted one: only a remains -> synthesized deletes */
	gq_informer_list_begin(f->inf);
	list_add(f->inf, "ns", "zzz", "9");
	gq_informer_list_abort(f->inf);
	f->rec.n = 0;
	gq_informer_list_begin(f->inf);
	list_add(f->inf, "ns", "a", "1");
	gq_informer_list_end(f->inf, "30");
	assert_int_equal(f->rec.n, 2);
	assert_non_null(c = rec_find(&f->rec, GQ_INF_DELETE, "ns/b"));
	assert_string_equal(c->old_rv, "5");
	assert_string_equal(c->new_rv, "");
	assert_true(c->cache_ok);
	assert_non_null(rec_find(&f->rec, GQ_INF_DELETE, "c"));
	assert_int_equal(gq_informer_len(f->inf), 1);

	gq_informer_get_stats(f->inf, &st);
	assert_int_equal(st.relists, 2);
	assert_int_equal(st.errors, 0);
	fx_free(f);
}

static void test_list_bad_items_and_duplicates(void **state)
{
	struct fx *f = fx_new(NULL);
	struct gq_informer_stats st;
	yajl_val bad = parse("{\"metadata\":{\"namespace\":\"x\"}}");
	yajl_val notobj = parse("[1]");
	yajl_val o;

	(void)state;
	gq_informer_list_begin(f->inf);
	assert_int_equal(gq_informer_list_item(f->inf, bad), GQ_OK);
	assert_int_equal(gq_informer_list_item(f->inf, notobj), GQ_OK);
	list_add(f->inf, NULL, "a", "1");
	list_add(f->inf, NULL, "a", "2"); /* duplicate: the later one wins */
	gq_informer_list_end(f->inf, "3");
	assert_int_equal(f->rec.n, 1);
	assert_int_equal(gq_informer_len(f->inf), 1);
	gq_informer_rdlock(f->inf);
	o = gq_informer_get(f->inf, "a");
	assert_string_equal(get_str(o, "metadata", "resourceVersion", NULL), "2");
	assert_string_equal(get_str(o, "spec", "v", NULL), "2"); /* keep=NULL keeps spec */
	gq_informer_unlock(f->inf);
	gq_informer_get_stats(f->inf, &st);
	assert_int_equal(st.errors, 2);
	assert_int_equal(st.relists, 0);
	yajl_tree_free(bad);
	yajl_tree_free(notobj);
	fx_free(f);
}

/* ---- watch events ----------------------------------------------------- */

static void test_apply_events(void **state)
{
	struct fx *f = fx_new(NULL);
	struct gq_informer_stats st;
	const struct call *c;

	(void)state;
	gq_informer_list_begin(f->inf);
	list_add(f->inf, "ns", "a", "1");
	gq_informer_list_end(f->inf, "10");
	f->rec.n = 0;

	assert_int_equal(apply_ev(f->inf, "ADDED", "ns", "b", "11"), GQ_INF_CONTINUE);
	assert_non_null(c = rec_find(&f->rec, GQ_INF_ADD, "ns/b"));
	assert_true(c->cache_ok);
	assert_string_equal(gq_informer_resource_version(f->inf), "11");

	/* same RV: skipped, but the RV still advances */
	assert_int_equal(apply_ev(f->inf, "MODIFIED", "ns", "a", "1"), GQ_INF_CONTINUE);
	assert_int_equal(f->rec.n, 1);
	assert_int_equal(apply_ev(f->inf, "ADDED", "ns", "b", "11"), GQ_INF_CONTINUE);
	assert_int_equal(f->rec.n, 1);

	assert_int_equal(apply_ev(f->inf, "MODIFIED", "ns", "a", "12"), GQ_INF_CONTINUE);
	assert_int_equal(f->rec.n, 2);
	assert_non_null(c = rec_find(&f->rec, GQ_INF_UPDATE, "ns/a"));
	assert_string_equal(c->old_rv, "1");
	assert_string_equal(c->new_rv, "12");
	assert_true(c->cache_ok);

	/* MODIFIED of an unknown key is an ADD */
	assert_int_equal(apply_ev(f->inf, "MODIFIED", "ns", "m", "13"), GQ_INF_CONTINUE);
	assert_non_null(rec_find(&f->rec, GQ_INF_ADD, "ns/m"));

	assert_int_equal(apply_ev(f->inf, "DELETED", "ns", "b", "14"), GQ_INF_CONTINUE);
	assert_non_null(c = rec_find(&f->rec, GQ_INF_DELETE, "ns/b"));
	assert_string_equal(c->old_rv, "11");
	assert_true(c->cache_ok);
	assert_string_equal(gq_informer_resource_version(f->inf), "14");
	/* DELETED of an unknown key: nothing to tell */
	assert_int_equal(apply_ev(f->inf, "DELETED", "ns", "nope", "15"), GQ_INF_CONTINUE);
	assert_int_equal(f->rec.n, 4);

	/* BOOKMARK: RV only */
	assert_int_equal(apply(f->inf, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"X\","
				       "\"metadata\":{\"resourceVersion\":\"99\"}}}"),
			 GQ_INF_CONTINUE);
	assert_int_equal(f->rec.n, 4);
	assert_string_equal(gq_informer_resource_version(f->inf), "99");
	assert_int_equal(gq_informer_len(f->inf), 2);

	/* ERRORs */
	assert_int_equal(apply(f->inf,
			       "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
			       "\"status\":\"Failure\",\"message\":\"too old resource "
			       "version: 1 (3171407)\",\"reason\":\"Expired\",\"code\":410}}"),
			 GQ_INF_RELIST);
	assert_int_equal(apply(f->inf, "{\"type\":\"ERROR\",\"object\":{\"reason\":\"Gone\"}}"),
			 GQ_INF_RELIST);
	assert_int_equal(apply(f->inf, "{\"type\":\"ERROR\",\"object\":{\"code\":410}}"),
			 GQ_INF_RELIST);
	assert_int_equal(apply(f->inf, "{\"type\":\"ERROR\",\"object\":{\"code\":500,"
				       "\"reason\":\"InternalError\"}}"),
			 GQ_INF_BACKOFF);
	assert_string_equal(gq_informer_resource_version(f->inf), "99"); /* unchanged */
	/* not an event at all -> relist */
	assert_int_equal(apply(f->inf, "{\"type\":\"WHAT\",\"object\":{}}"), GQ_INF_RELIST);
	assert_int_equal(apply(f->inf, "{\"object\":{}}"), GQ_INF_RELIST);
	/* an event about a nameless object is skipped, not fatal */
	assert_int_equal(apply(f->inf, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{"
				       "\"resourceVersion\":\"100\"}}}"),
			 GQ_INF_CONTINUE);
	assert_int_equal(f->rec.n, 4);

	gq_informer_get_stats(f->inf, &st);
	assert_int_equal(st.events, 8); /* ADDED/MODIFIED/DELETED, skips and nameless included */
	assert_int_equal(st.errors, 7);
	fx_free(f);
}

static int count_all_cb(void *arg, const char *key, yajl_val obj)
{
	(void)key, (void)obj;
	(*(int *)arg)++;
	return 0;
}

/* Objects of one namespace through its index. */
static int ns_count(struct gq_informer *inf, const char *ns)
{
	int n = 0;

	gq_informer_rdlock(inf);
	gq_informer_foreach_ns(inf, ns, count_all_cb, &n);
	gq_informer_unlock(inf);
	return n;
}

/* The namespace index follows LISTs (the swap of a whole table), events and
 * deletions; cluster-scoped objects and namespaces that are prefixes of
 * others are kept apart. */
static void test_namespace_index(void **state)
{
	struct fx *f = fx_new(NULL);

	(void)state;
	gq_informer_list_begin(f->inf);
	list_add(f->inf, "a", "p1", "1");
	list_add(f->inf, "a", "p2", "1");
	list_add(f->inf, "ab", "p1", "1");
	list_add(f->inf, NULL, "cluster", "1");
	gq_informer_list_end(f->inf, "10");
	assert_int_equal(ns_count(f->inf, "a"), 2);
	assert_int_equal(ns_count(f->inf, "ab"), 1);
	assert_int_equal(ns_count(f->inf, "b"), 0);
	assert_int_equal(ns_count(f->inf, ""), 0);
	assert_int_equal(apply_ev(f->inf, "ADDED", "b", "x", "11"), GQ_INF_CONTINUE);
	assert_int_equal(apply_ev(f->inf, "DELETED", "a", "p1", "12"), GQ_INF_CONTINUE);
	assert_int_equal(apply_ev(f->inf, "MODIFIED", "a", "p2", "13"), GQ_INF_CONTINUE);
	assert_int_equal(ns_count(f->inf, "a"), 1);
	assert_int_equal(ns_count(f->inf, "b"), 1);
	assert_int_equal(apply_ev(f->inf, "DELETED", "b", "x", "14"), GQ_INF_CONTINUE);
	assert_int_equal(ns_count(f->inf, "b"), 0);
	/* a relist without "ab" */
	gq_informer_list_begin(f->inf);
	list_add(f->inf, "a", "p2", "13");
	list_add(f->inf, "a", "p3", "15");
	gq_informer_list_end(f->inf, "20");
	assert_int_equal(ns_count(f->inf, "a"), 2);
	assert_int_equal(ns_count(f->inf, "ab"), 0);
	assert_int_equal(gq_informer_len(f->inf), 2);
	fx_free(f);
}

/* ---- converted caches ---------------------------------------------------- */

/* A converted form for the tests: "key@resourceVersion". */
static void *conv_rv(const char *key, yajl_val obj)
{
	const char *rv =
	    yajl_tree_get(obj, (const char *[]){"metadata", "resourceVersion", NULL}, yajl_t_string)
		? yajl_tree_get(obj, (const char *[]){"metadata", "resourceVersion", NULL},
				yajl_t_string)
		      ->u.string
		: "";

	return gq_asprintf("%s@%s", key, rv);
}

struct conv_seen {
	char all[512];
	int n;
};

static int conv_cb(void *arg, const char *key, const void *conv)
{
	struct conv_seen *s = arg;
	size_t len = strlen(s->all);

	(void)key;
	snprintf(s->all + len, sizeof(s->all) - len, "%s%s", len ? " " : "", (const char *)conv);
	s->n++;
	return 0;
}

/* What namespace ns holds in the converted cache, as "key@rv ...". */
static const char *conv_ns(struct gq_informer *inf, const char *ns, struct conv_seen *s)
{
	memset(s, 0, sizeof(*s));
	gq_informer_rdlock(inf);
	gq_informer_foreach_ns_conv(inf, ns, conv_cb, s);
	gq_informer_unlock(inf);
	return s->all;
}

/* A converted cache (the compact pod cache's shape): LIST, events and a
 * relist keep it and its namespace index exact; every replaced or deleted
 * form is released (ASan checks); no tree is kept; handlers get the object
 * as received on watch events and NULL otherwise. */
static void test_converted_cache(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct gq_informer_def def = {.name = "pods",
				      .path = "/api/v1/pods",
				      .convert = conv_rv,
				      .release = free,
				      .handler = record};
	struct gq_err err = {0};
	struct conv_seen s;
	const struct call *c;

	(void)state;
	pthread_mutex_init(&f->rec.mu, NULL);
	def.payload = &f->rec;
	assert_int_equal(gq_informers_new(&f->m, NULL), GQ_OK);
	assert_int_equal(gq_informers_add(f->m, &def, &f->inf, &err), GQ_OK);
	f->rec.inf = f->inf;
	gq_informer_list_begin(f->inf);
	list_add(f->inf, "a", "p1", "1");
	list_add(f->inf, "a", "p2", "1");
	list_add(f->inf, "b", "p1", "2");
	gq_informer_list_end(f->inf, "10");
	assert_string_equal(conv_ns(f->inf, "b", &s), "b/p1@2");
	assert_int_equal(conv_ns(f->inf, "a", &s)[0] != '\0', 1);
	assert_int_equal(s.n, 2);
	c = rec_find(&f->rec, GQ_INF_ADD, "a/p1");
	assert_non_null(c);
	assert_string_equal(c->new_rv, ""); /* no tree after a LIST */
	gq_informer_rdlock(f->inf);
	assert_null(gq_informer_get(f->inf, "a/p1"));
	assert_string_equal(gq_informer_get_conv(f->inf, "a/p1"), "a/p1@1");
	gq_informer_unlock(f->inf);

	assert_int_equal(apply_ev(f->inf, "MODIFIED", "a", "p1", "11"), GQ_INF_CONTINUE);
	c = rec_find(&f->rec, GQ_INF_UPDATE, "a/p1");
	assert_non_null(c);
	assert_string_equal(c->new_rv, "11"); /* the object as received */
	assert_string_equal(c->old_rv, "");
	assert_int_equal(apply_ev(f->inf, "MODIFIED", "a", "p1", "11"), GQ_INF_CONTINUE);
	assert_int_equal(apply_ev(f->inf, "ADDED", "c", "x", "12"), GQ_INF_CONTINUE);
	assert_int_equal(apply_ev(f->inf, "DELETED", "a", "p2", "13"), GQ_INF_CONTINUE);
	assert_string_equal(conv_ns(f->inf, "a", &s), "a/p1@11");
	assert_string_equal(conv_ns(f->inf, "c", &s), "c/x@12");
	/* a relist: p1 unchanged, b/p1 gone, c/x changed */
	gq_informer_list_begin(f->inf);
	list_add(f->inf, "a", "p1", "11");
	list_add(f->inf, "c", "x", "14");
	gq_informer_list_end(f->inf, "20");
	assert_string_equal(conv_ns(f->inf, "a", &s), "a/p1@11");
	assert_string_equal(conv_ns(f->inf, "b", &s), "");
	assert_string_equal(conv_ns(f->inf, "c", &s), "c/x@14");
	assert_int_equal(gq_informer_len(f->inf), 2);
	memset(&s, 0, sizeof(s));
	gq_informer_rdlock(f->inf);
	gq_informer_foreach_conv(f->inf, conv_cb, &s);
	gq_informer_unlock(f->inf);
	assert_int_equal(s.n, 2);
	fx_free(f);
}

/* A streaming list (sendInitialEvents): the initial events are buffered as
 * LIST items (a DELETED among them drops one), a plain bookmark changes
 * nothing, the initial-events-end bookmark ends the LIST at its
 * resourceVersion (synced, handlers, freshness from the stream's start);
 * then the same stream is an ordinary watch. */
static void test_streaming_list(void **state)
{
	struct fx *f = fx_new(NULL);
	char *path;
	int64_t t0 = gq_real_ms();

	(void)state;
	gq_informer_stream_begin(f->inf);
	path = gq_informer_watch_path(f->inf, 300);
	assert_non_null(strstr(path, "watch=1&sendInitialEvents=true&resourceVersionMatch="
				     "NotOlderThan&allowWatchBookmarks=true"));
	assert_null(strstr(path, "resourceVersion="));
	free(path);
	assert_int_equal(apply_ev(f->inf, "ADDED", "a", "p1", "5"), GQ_INF_CONTINUE);
	assert_int_equal(apply_ev(f->inf, "ADDED", "a", "p2", "6"), GQ_INF_CONTINUE);
	assert_int_equal(apply_ev(f->inf, "ADDED", "b", "p3", "7"), GQ_INF_CONTINUE);
	assert_int_equal(apply_ev(f->inf, "DELETED", "a", "p2", "8"), GQ_INF_CONTINUE);
	assert_int_equal(apply(f->inf, "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{"
				       "\"resourceVersion\":\"9\"}}}"),
			 GQ_INF_CONTINUE);
	/* nothing is in the cache yet, nor synced, nor fresh */
	assert_int_equal(gq_informer_len(f->inf), 0);
	assert_false(gq_informers_wait_synced(f->m, 0));
	assert_int_equal(gq_informer_fresh_until_ms(f->inf, gq_real_ms()), 0);
	assert_int_equal(f->rec.n, 0);
	assert_int_equal(
	    apply(f->inf, "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":"
			  "\"10\",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}"),
	    GQ_INF_CONTINUE);
	assert_true(gq_informers_wait_synced(f->m, 0));
	assert_int_equal(gq_informer_len(f->inf), 2);
	assert_string_equal(gq_informer_resource_version(f->inf), "10");
	assert_int_equal(f->rec.n, 2);
	assert_non_null(rec_find(&f->rec, GQ_INF_ADD, "a/p1"));
	assert_non_null(rec_find(&f->rec, GQ_INF_ADD, "b/p3"));
	assert_true(gq_informer_fresh_until_ms(f->inf, gq_real_ms()) >= t0);
	/* an ordinary watch from here on */
	path = gq_informer_watch_path(f->inf, 300);
	assert_non_null(strstr(path, "resourceVersion=10"));
	assert_null(strstr(path, "sendInitialEvents"));
	free(path);
	assert_int_equal(apply_ev(f->inf, "MODIFIED", "a", "p1", "11"), GQ_INF_CONTINUE);
	assert_non_null(rec_find(&f->rec, GQ_INF_UPDATE, "a/p1"));
	assert_string_equal(gq_informer_resource_version(f->inf), "11");
	/* a relist by streaming that fails half-way keeps the cache */
	gq_informer_stream_begin(f->inf);
	assert_int_equal(apply_ev(f->inf, "ADDED", "c", "p9", "12"), GQ_INF_CONTINUE);
	gq_informer_list_abort(f->inf);
	assert_int_equal(gq_informer_len(f->inf), 2);
	fx_free(f);
}

/* Feeds text in pieces of `step` bytes; returns the first non-CONTINUE action. */
static enum gq_informer_action feed_steps(struct gq_informer *inf, const char *text, size_t step)
{
	size_t len = strlen(text);
	enum gq_informer_action a = GQ_INF_CONTINUE;

	for (size_t off = 0; off < len && a == GQ_INF_CONTINUE; off += step)
		a = gq_informer_watch_feed(inf, text + off, len - off < step ? len - off : step);
	return a;
}

static void test_watch_feed(void **state)
{
	struct fx *f = fx_new(NULL);
	char *e1 = event_json("ADDED", "ns", "a", "5");
	char *e2 = event_json("MODIFIED", "ns", "a", "6");
	char *e3 = event_json("ADDED", "ns", "late", "8");
	char *stream = gq_asprintf("%s%s{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
				   "{\"resourceVersion\":\"7\"}}}"
				   "{\"type\":\"ERROR\",\"object\":{\"code\":410,\"reason\":"
				   "\"Expired\"}}\r\n%s",
				   e1, e2, e3);

	(void)state;
	/* 7-byte chunks split tokens and events; the 410 ends the stream */
	assert_int_equal(feed_steps(f->inf, stream, 7), GQ_INF_RELIST);
	assert_int_equal(f->rec.n, 2);
	assert_int_equal(f->rec.calls[0].ev, GQ_INF_ADD);
	assert_int_equal(f->rec.calls[1].ev, GQ_INF_UPDATE);
	assert_string_equal(gq_informer_resource_version(f->inf), "7");
	/* the event after the ERROR was not applied, even when fed again */
	assert_int_equal(gq_informer_watch_feed(f->inf, e3, strlen(e3)), GQ_INF_RELIST);
	assert_int_equal(gq_informer_len(f->inf), 1);

	/* a new stream decodes again; malformed JSON ends it with a relist */
	gq_informer_watch_reset(f->inf);
	assert_int_equal(feed_steps(f->inf, e3, 3), GQ_INF_CONTINUE);
	assert_int_equal(gq_informer_len(f->inf), 2);
	assert_int_equal(feed_steps(f->inf, "{\"type\":\"ADDED\",,}", 100), GQ_INF_RELIST);
	gq_informer_watch_reset(f->inf);
	assert_int_equal(feed_steps(f->inf, "[1,2]", 100), GQ_INF_RELIST);
	/* a non-410 ERROR asks for a backoff */
	gq_informer_watch_reset(f->inf);
	assert_int_equal(feed_steps(f->inf, "{\"type\":\"ERROR\",\"object\":{\"code\":500}}", 5),
			 GQ_INF_BACKOFF);
	free(stream);
	free(e1);
	free(e2);
	free(e3);
	fx_free(f);
}

static void test_watch_feed_too_big(void **state)
{
	struct fx *f = fx_new(NULL);
	const char *head = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"},\"d\":\"";
	size_t chunk = 1 << 16, sent = 0;
	char *pad = malloc(chunk);
	enum gq_informer_action a;

	(void)state;
	memset(pad, 'a', chunk);
	a = gq_informer_watch_feed(f->inf, head, strlen(head));
	while (a == GQ_INF_CONTINUE && sent < GQ_INFORMER_MAX_EVENT + 2 * chunk) {
		a = gq_informer_watch_feed(f->inf, pad, chunk);
		sent += chunk;
	}
	assert_int_equal(a, GQ_INF_RELIST);
	assert_true(sent >= GQ_INFORMER_MAX_EVENT - chunk);
	assert_int_equal(gq_informer_len(f->inf), 0);
	free(pad);
	fx_free(f);
}

/* ---- decisions -------------------------------------------------------- */

static void test_after_watch(void **state)
{
	(void)state;
	/* an action recorded from the stream wins */
	assert_int_equal(gq_informer_after_watch(GQ_INF_RELIST, false, 200, false, 10),
			 GQ_INF_RELIST);
	assert_int_equal(gq_informer_after_watch(GQ_INF_BACKOFF, true, 200, false, 100000),
			 GQ_INF_BACKOFF);
	/* normal end of a healthy watch: re-watch at once */
	assert_int_equal(gq_informer_after_watch(GQ_INF_CONTINUE, true, 200, false, 300000),
			 GQ_INF_REWATCH);
	/* ... but not when the server ends watches immediately */
	assert_int_equal(gq_informer_after_watch(GQ_INF_CONTINUE, true, 200, false, 5),
			 GQ_INF_BACKOFF);
	/* HTTP 410 on the watch request: relist after a backoff */
	assert_int_equal(gq_informer_after_watch(GQ_INF_CONTINUE, true, 410, false, 5),
			 GQ_INF_RELIST_BACKOFF);
	assert_int_equal(gq_informer_after_watch(GQ_INF_CONTINUE, false, 410, false, 5),
			 GQ_INF_RELIST_BACKOFF);
	/* other HTTP errors, transport errors, truncation: backoff + re-watch */
	assert_int_equal(gq_informer_after_watch(GQ_INF_CONTINUE, true, 500, false, 99999),
			 GQ_INF_BACKOFF);
	assert_int_equal(gq_informer_after_watch(GQ_INF_CONTINUE, true, 401, false, 99999),
			 GQ_INF_BACKOFF);
	assert_int_equal(gq_informer_after_watch(GQ_INF_CONTINUE, false, 0, false, 99999),
			 GQ_INF_BACKOFF);
	assert_int_equal(gq_informer_after_watch(GQ_INF_CONTINUE, false, 200, false, 99999),
			 GQ_INF_BACKOFF);
	assert_int_equal(gq_informer_after_watch(GQ_INF_CONTINUE, true, 200, true, 99999),
			 GQ_INF_BACKOFF);
}

static void test_backoff(void **state)
{
	int64_t prev_hi = 0;

	(void)state;
	assert_int_equal(gq_informer_backoff_ms(0, 0), 160);
	assert_int_equal(gq_informer_backoff_ms(0, 400), 240);
	assert_int_equal(gq_informer_backoff_ms(0, 200), 200);
	assert_int_equal(gq_informer_backoff_ms(1, 200), 400);
	assert_int_equal(gq_informer_backoff_ms(2, 200), 800);
	for (unsigned a = 0; a < 40; a++) {
		int64_t lo = gq_informer_backoff_ms(a, 0), hi = gq_informer_backoff_ms(a, 400);

		assert_true(lo >= GQ_INFORMER_BACKOFF_MIN_MS * 8 / 10);
		assert_true(hi <= GQ_INFORMER_BACKOFF_MAX_MS * 12 / 10);
		assert_true(hi >= prev_hi);
		for (uint32_t r = 0; r < 2000; r += 97) {
			int64_t d = gq_informer_backoff_ms(a, r * 2654435761u);

			assert_true(d >= lo && d <= hi);
		}
		prev_hi = hi;
	}
	assert_int_equal(gq_informer_backoff_ms(1000, 200), GQ_INFORMER_BACKOFF_MAX_MS);
	assert_int_equal(gq_informer_backoff_ms(UINT32_MAX, 0),
			 GQ_INFORMER_BACKOFF_MAX_MS * 8 / 10);
}

static void test_watch_path_and_validation(void **state)
{
	static const char *const badkeep[] = {"a..b", NULL};
	struct gq_informers *m;
	struct gq_informer *inf;
	struct gq_informer_def def = {
	    .name = "cms",
	    .path = "/api/v1/configmaps",
	    .label_selector = "app.kubernetes.io/managed-by=gpuquota",
	};
	struct gq_err err = {0};
	char *p;

	(void)state;
	assert_int_equal(gq_informers_new(&m, NULL), GQ_OK);
	assert_int_equal(gq_informers_add(m, &def, &inf, &err), GQ_OK);
	assert_string_equal(gq_informer_name(inf), "cms");
	gq_informer_list_begin(inf);
	gq_informer_list_end(inf, "12 3");
	p = gq_informer_watch_path(inf, 300);
	assert_string_equal(p, "/api/v1/configmaps?watch=1&resourceVersion=12%203"
			       "&allowWatchBookmarks=true&timeoutSeconds=300"
			       "&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dgpuquota");
	free(p);
	/* invalid definitions */
	def.path = "api/v1/x";
	assert_int_equal(gq_informers_add(m, &def, NULL, &err), GQ_EINVAL);
	def.path = "/api/v1/x";
	def.name = NULL;
	assert_int_equal(gq_informers_add(m, &def, NULL, &err), GQ_EINVAL);
	def.name = "x";
	def.keep = badkeep;
	assert_int_equal(gq_informers_add(m, &def, NULL, &err), GQ_EINVAL);
	/* no client: cannot start; wait_synced times out on the unsynced "x"? none added */
	assert_int_equal(gq_informers_start(m, &err), GQ_EINVAL);
	assert_true(gq_informers_wait_synced(m, 0)); /* "cms" listed above */
	gq_informers_stop(m);			     /* not started: no-op */
	gq_informers_free(m);
}

static void test_wait_synced(void **state)
{
	struct gq_informers *m;
	struct gq_informer *a, *b;
	struct gq_informer_def def = {.name = "a", .path = "/a"};
	struct gq_err err = {0};
	int64_t t0;

	(void)state;
	assert_int_equal(gq_informers_new(&m, NULL), GQ_OK);
	assert_int_equal(gq_informers_add(m, &def, &a, &err), GQ_OK);
	def.name = "b";
	assert_int_equal(gq_informers_add(m, &def, &b, &err), GQ_OK);
	t0 = now_ms();
	assert_false(gq_informers_wait_synced(m, 50));
	assert_true(now_ms() - t0 >= 45);
	gq_informer_list_begin(a);
	gq_informer_list_end(a, "1");
	assert_false(gq_informers_wait_synced(m, 0));
	gq_informer_list_begin(b);
	gq_informer_list_end(b, "1");
	assert_true(gq_informers_wait_synced(m, 0));
	assert_true(gq_informers_wait_synced(m, -1));
	gq_informers_free(m);
}

/* ---- the watch thread against a scripted loopback server -------------- */

/*
 * A one-connection-at-a-time HTTP/1.1 server. Every response is a 200 (or
 * the scripted status) with Connection: close; a "hold" response stays open
 * after its body until the server stops.
 */
struct srv {
	int lfd;
	int port;
	pthread_t thread;
	pthread_mutex_t mu;
	atomic_int stop;
	char paths[32][512]; /* request targets in arrival order */
	int nreq;
	int nlist, nwatch;
	int nabsent; /* requests under /apis/absent/ (answered 404) */
	bool joined;
};

static const char *item(const char *name, const char *rv, char *buf, size_t cap)
{
	snprintf(buf, cap,
		 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"ns\",\"resourceVersion\":\"%s\","
		 "\"managedFields\":[{}]}}",
		 name, rv);
	return buf;
}

/* The scripted conversation (see test_watch_thread). */
static void script(struct srv *s, const char *target, int *status, char **body, bool *hold)
{
	char a[256], b[256], c[256];
	bool watch = strstr(target, "watch=1") != NULL;
	int n;

	*status = 200;
	*hold = false;
	if (strncmp(target, "/apis/absent/", 13) == 0) {
		pthread_mutex_lock(&s->mu);
		s->nabsent++;
		pthread_mutex_unlock(&s->mu);
		*status = 404;
		*body = gq_strdup("{\"kind\":\"Status\",\"code\":404,\"reason\":\"NotFound\"}");
		return;
	}
	pthread_mutex_lock(&s->mu);
	n = watch ? ++s->nwatch : ++s->nlist;
	pthread_mutex_unlock(&s->mu);
	if (!watch && n == 1) {
		*body = gq_asprintf("{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":"
				    "\"20\"},\"items\":[%s,%s]}",
				    item("a", "10", a, sizeof(a)), item("b", "11", b, sizeof(b)));
	} else if (!watch && n == 2) {
		*body = gq_asprintf("{\"metadata\":{\"resourceVersion\":\"30\"},\"items\":[%s,%s]}",
				    item("a", "22", a, sizeof(a)), item("c", "21", c, sizeof(c)));
	} else if (!watch) {
		*body = gq_asprintf("{\"metadata\":{\"resourceVersion\":\"40\"},\"items\":[%s]}",
				    item("a", "22", a, sizeof(a)));
	} else if (n == 1) {
		/* from the LIST's RV: an ADD, a MODIFY, a bookmark, then 410 */
		*body = gq_asprintf(
		    "{\"type\":\"ADDED\",\"object\":%s}\n{\"type\":\"MODIFIED\",\"object\":%s}\n"
		    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"25\"}}}"
		    "\n"
		    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
		    "\"reason\":\"Expired\",\"message\":\"too old resource version\"}}\n",
		    item("c", "21", c, sizeof(c)), item("a", "22", a, sizeof(a)));
	} else if (n == 2) {
		/* after the relist: a delete, then a normal (but quick) end */
		*body = gq_asprintf("{\"type\":\"DELETED\",\"object\":%s}\n",
				    item("c", "31", c, sizeof(c)));
	} else if (n == 3) {
		/* the watch request itself gets a 410 */
		*status = 410;
		*body = gq_strdup("{\"kind\":\"Status\",\"code\":410,\"reason\":\"Gone\","
				  "\"message\":\"gone\"}");
	} else {
		*body = gq_strdup("");
		*hold = true;
	}
}

static void write_all(int fd, const char *p, size_t n)
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
	char req[8192] = "", target[512] = "", *hdr;
	size_t len = 0;
	ssize_t r;
	int status;
	char *body = NULL;
	bool hold;

	while (len < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
		r = read(fd, req + len, sizeof(req) - 1 - len);
		if (r <= 0)
			return;
		len += (size_t)r;
		req[len] = '\0';
	}
	sscanf(req, "GET %511s", target);
	pthread_mutex_lock(&s->mu);
	if (s->nreq < (int)GQ_ARRAY_LEN(s->paths))
		snprintf(s->paths[s->nreq++], sizeof(s->paths[0]), "%s", target);
	pthread_mutex_unlock(&s->mu);
	script(s, target, &status, &body, &hold);
	if (hold)
		hdr = gq_asprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
				  "Connection: close\r\n\r\n",
				  status);
	else
		hdr = gq_asprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
				  "Connection: close\r\nContent-Length: %zu\r\n\r\n",
				  status, strlen(body));
	write_all(fd, hdr, strlen(hdr));
	write_all(fd, body, strlen(body));
	while (hold && !atomic_load(&s->stop))
		usleep(10000);
	free(hdr);
	free(body);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	struct pollfd p = {.fd = s->lfd, .events = POLLIN};

	while (!atomic_load(&s->stop)) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		int fd = accept(s->lfd, NULL, NULL);

		if (fd < 0)
			continue;
		srv_serve(s, fd);
		close(fd);
	}
	return NULL;
}

/* Starts s (zeroed) on a loopback port and a client for it into *kc. */
static void srv_start(struct srv *s, struct gq_kclient **kc)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	struct gq_kubeconfig cfg = {0};
	struct gq_err err = {0};
	char server[64];

	pthread_mutex_init(&s->mu, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	getsockname(s->lfd, (struct sockaddr *)&sa, &sl);
	s->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
	snprintf(server, sizeof(server), "http://127.0.0.1:%d", s->port);
	cfg.server = server;
	assert_int_equal(gq_kclient_new(kc, &cfg, &err), GQ_OK);
}

/* Stops s (once) and frees kc. */
static void srv_stop(struct srv *s, struct gq_kclient *kc)
{
	atomic_store(&s->stop, 1);
	if (!s->joined)
		pthread_join(s->thread, NULL);
	s->joined = true;
	close(s->lfd);
	gq_kclient_free(kc);
	pthread_mutex_destroy(&s->mu);
}

static int srv_absent(struct srv *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->nabsent;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* An optional informer whose API answers 404 is synced and empty, and is not
 * listed again at once; a required one stays unsynced and retries. */
static void test_optional_not_served(void **state)
{
	struct srv s = {0};
	struct gq_kclient *kc = NULL;
	struct gq_err err = {0};
	struct gq_informers *m;
	struct gq_informer *inf;
	struct gq_informer_def def = {.name = "things", .path = "/apis/absent/v1/things",
				      .optional = true};

	(void)state;
	srv_start(&s, &kc);
	assert_int_equal(gq_informers_new(&m, kc), GQ_OK);
	assert_int_equal(gq_informers_add(m, &def, &inf, &err), GQ_OK);
	assert_int_equal(gq_informers_start(m, &err), GQ_OK);
	assert_true(gq_informers_wait_synced(m, 5000));
	assert_true(gq_informer_synced(inf));
	assert_int_equal(gq_informer_len(inf), 0);
	usleep(600000);
	assert_int_equal(srv_absent(&s), 1); /* next LIST after a minute */
	gq_informers_free(m);

	s.nabsent = 0;
	def.optional = false;
	assert_int_equal(gq_informers_new(&m, kc), GQ_OK);
	assert_int_equal(gq_informers_add(m, &def, &inf, &err), GQ_OK);
	assert_int_equal(gq_informers_start(m, &err), GQ_OK);
	assert_false(gq_informers_wait_synced(m, 1000));
	assert_true(srv_absent(&s) >= 2); /* retried with backoff */
	gq_informers_free(m);
	srv_stop(&s, kc);
}

static void test_watch_thread(void **state)
{
	static const char *const keep[] = {"metadata.labels", NULL};
	struct srv s = {0};
	struct gq_kclient *kc = NULL;
	struct gq_err err = {0};
	struct gq_informers *m;
	struct rec rec = {0};
	struct gq_informer_def def = {
	    .name = "cms",
	    .path = "/api/v1/configmaps",
	    .label_selector = "x=y",
	    .keep = keep,
	    .handler = record,
	    .payload = &rec,
	};
	struct gq_informer_stats st;
	int64_t t0;
	const struct call *c;

	(void)state;
	pthread_mutex_init(&rec.mu, NULL);
	srv_start(&s, &kc);
	assert_int_equal(gq_informers_new(&m, kc), GQ_OK);
	assert_int_equal(gq_informers_add(m, &def, &rec.inf, &err), GQ_OK);
	assert_int_equal(gq_informers_start(m, &err), GQ_OK);
	assert_int_equal(gq_informers_add(m, &def, NULL, &err), GQ_EINVAL); /* after start */
	assert_true(gq_informers_wait_synced(m, 5000));

	/* wait for the 4th watch (held open) */
	t0 = now_ms();
	for (;;) {
		pthread_mutex_lock(&s.mu);
		int nw = s.nwatch;
		pthread_mutex_unlock(&s.mu);
		if (nw >= 4 || now_ms() - t0 > 10000)
			break;
		usleep(10000);
	}
	usleep(100000);
	t0 = now_ms();
	gq_informers_stop(m);
	assert_true(now_ms() - t0 < 2000); /* curl_multi_wakeup ends the poll at once */
	atomic_store(&s.stop, 1);
	pthread_join(s.thread, NULL);
	s.joined = true;

	/* requests: LIST, WATCH@20, LIST (ERROR 410), WATCH@30, WATCH@31, LIST (HTTP 410), WATCH@40
	 */
	assert_int_equal(s.nreq, 7);
	assert_string_equal(s.paths[0], "/api/v1/configmaps?labelSelector=x%3Dy&limit=500");
	assert_non_null(strstr(s.paths[1], "watch=1&resourceVersion=20&allowWatchBookmarks=true"
					   "&timeoutSeconds="));
	assert_non_null(strstr(s.paths[1], "&labelSelector=x%3Dy"));
	assert_null(strstr(s.paths[2], "watch=1"));
	assert_null(strstr(s.paths[2], "resourceVersion")); /* relist with RV unset */
	assert_non_null(strstr(s.paths[3], "resourceVersion=30&"));
	assert_non_null(strstr(s.paths[4], "resourceVersion=31&")); /* re-watch from last RV */
	assert_null(strstr(s.paths[5], "watch=1"));
	assert_non_null(strstr(s.paths[6], "resourceVersion=40&"));
	{
		long timeout = strtol(strstr(s.paths[1], "timeoutSeconds=") + 15, NULL, 10);

		assert_true(timeout >= 240 && timeout <= 360);
	}

	/* handler calls: LIST1 ADD a,b; WATCH1 ADD c, UPDATE a; LIST2 DELETE b;
	 * WATCH2 DELETE c; LIST3 nothing (a unchanged) */
	assert_int_equal(rec_count(&rec), 6);
	assert_non_null(rec_find(&rec, GQ_INF_ADD, "ns/a"));
	assert_non_null(rec_find(&rec, GQ_INF_ADD, "ns/b"));
	assert_non_null(rec_find(&rec, GQ_INF_ADD, "ns/c"));
	assert_non_null(c = rec_find(&rec, GQ_INF_UPDATE, "ns/a"));
	assert_string_equal(c->old_rv, "10");
	assert_string_equal(c->new_rv, "22");
	assert_non_null(rec_find(&rec, GQ_INF_DELETE, "ns/b"));
	assert_non_null(c = rec_find(&rec, GQ_INF_DELETE, "ns/c"));
	assert_string_equal(c->old_rv, "21");
	for (int i = 0; i < rec.n; i++)
		assert_true(rec.calls[i].cache_ok);
	assert_int_equal(gq_informer_len(rec.inf), 1);
	gq_informer_rdlock(rec.inf);
	assert_null(get(gq_informer_get(rec.inf, "ns/a"), "metadata", "managedFields", NULL));
	gq_informer_unlock(rec.inf);

	gq_informer_get_stats(rec.inf, &st);
	assert_int_equal(st.watches, 4);
	assert_int_equal(st.relists, 2);
	assert_int_equal(st.events, 3);
	assert_int_equal(st.errors, 2); /* the ERROR event and the HTTP 410 */

	gq_informers_free(m);
	srv_stop(&s, kc);
	pthread_mutex_destroy(&rec.mu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_trim_keep_list),
	    cmocka_unit_test(test_trim_default),
	    cmocka_unit_test(test_trim_arrays_and_empty),
	    cmocka_unit_test(test_trim_errors),
	    cmocka_unit_test(test_key),
	    cmocka_unit_test(test_list_diff),
	    cmocka_unit_test(test_list_bad_items_and_duplicates),
	    cmocka_unit_test(test_apply_events),
	    cmocka_unit_test(test_namespace_index),
	    cmocka_unit_test(test_converted_cache),
	    cmocka_unit_test(test_streaming_list),
	    cmocka_unit_test(test_watch_feed),
	    cmocka_unit_test(test_watch_feed_too_big),
	    cmocka_unit_test(test_after_watch),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_watch_path_and_validation),
	    cmocka_unit_test(test_wait_synced),
	    cmocka_unit_test(test_trim_duplicate_members),
	    cmocka_unit_test(test_watch_thread),
	    cmocka_unit_test(test_optional_not_served),
	};
	return cmocka_run_group_tests_name("informer", tests, NULL, NULL);
}
