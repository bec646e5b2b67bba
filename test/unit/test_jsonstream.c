/*
 * Unit tests for jsonstream.c: chunked decoding of concatenated JSON values
 * (Kubernetes watch streams) and watch event decoding. Fixtures are
 * realistic watch events (Pod, ResourceQuota, BOOKMARK, ERROR 410).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <yajl/yajl_gen.h>

#include "buf.h"
#include "gq.h"
#include "jsonstream.h"

#define MAX_VALUE (16u * 1024 * 1024)
#define MAX_RECS  64

/* ---- fixtures: exact wire text of watch events ---- */

static const char POD_ADDED[] =
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"n"
    "ame\":\"train-llm-0\",\"namespace\":\"team-ml\",\"uid\":\"6a1c1f0e-3b7e-4d0a-9a43-2f3c7d"
    "1b9e10\",\"resourceVersion\":\"5001\",\"creationTimestamp\":\"2024-05-02T10:15:30Z\",\"l"
    "abels\":{\"app\":\"train-llm\",\"gpuquota.io/team\":\"ml\"},\"annotations\":{\"kubectl.k"
    "ubernetes.io/last-applied-configuration\":\"{\\\"apiVersion\\\":\\\"v1\\\",\\\"kind\\\":"
    "\\\"Pod\\\",\\\"metadata\\\":{\\\"annotations\\\":{},\\\"name\\\":\\\"train-llm-0\\\",\\"
    "\"namespace\\\":\\\"team-ml\\\"},\\\"spec\\\":{\\\"containers\\\":[{\\\"image\\\":\\\"nv"
    "cr.io/nvidia/pytorch:24.04-py3\\\",\\\"name\\\":\\\"trainer\\\",\\\"resources\\\":{\\\"l"
    "imits\\\":{\\\"nvidia.com/gpu\\\":\\\"1\\\"}}}]}}\\n\"},\"managedFields\":[{\"manager\":"
    "\"kubectl-client-side-apply\",\"operation\":\"Update\",\"apiVersion\":\"v1\",\"time\":\""
    "2024-05-02T10:15:30Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{\"f:ann"
    "otations\":{\".\":{},\"f:kubectl.kubernetes.io/last-applied-configuration\":{}}},\"f:spe"
    "c\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"trainer\\\"}\":{\".\":{},\"f:image\":{},\"f"
    ":name\":{},\"f:resources\":{\".\":{},\"f:limits\":{\".\":{},\"f:nvidia.com/gpu\":{}}}}}}"
    "}}]},\"spec\":{\"volumes\":[{\"name\":\"kube-api-access-7xk2p\",\"projected\":{\"sources"
    "\":[{\"serviceAccountToken\":{\"expirationSeconds\":3607,\"path\":\"token\"}}],\"default"
    "Mode\":420}}],\"containers\":[{\"name\":\"trainer\",\"image\":\"nvcr.io/nvidia/pytorch:2"
    "4.04-py3\",\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1\"},\"requests\":{\"nvidia.c"
    "om/gpu\":\"1\"}},\"terminationMessagePath\":\"/dev/termination-log\",\"terminationMessag"
    "ePolicy\":\"File\",\"imagePullPolicy\":\"IfNotPresent\"}],\"restartPolicy\":\"Never\",\""
    "terminationGracePeriodSeconds\":30,\"dnsPolicy\":\"ClusterFirst\",\"serviceAccountName\""
    ":\"default\",\"schedulerName\":\"default-scheduler\",\"priorityClassName\":\"gpuquota-ml"
    "-standard\",\"priority\":100000,\"enableServiceLinks\":true,\"preemptionPolicy\":\"Preem"
    "ptLowerPriority\",\"tolerations\":[{\"key\":\"nvidia.com/gpu\",\"operator\":\"Exists\","
    "\"effect\":\"NoSchedule\"},{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exis"
    "ts\",\"effect\":\"NoExecute\",\"tolerationSeconds\":300}]},\"status\":{\"phase\":\"Pendi"
    "ng\",\"qosClass\":\"BestEffort\"}}}";

static const char RQ_MODIFIED[] =
    "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"ResourceQuota\",\"apiVersion\":\"v1\",\"me"
    "tadata\":{\"name\":\"gpuquota\",\"namespace\":\"team-ml\",\"uid\":\"0f8b8c2e-51d4-4b8e-b"
    "b0a-8e1f2d7c6a55\",\"resourceVersion\":\"5002\",\"creationTimestamp\":\"2024-05-01T08:00"
    ":00Z\",\"labels\":{\"app.kubernetes.io/managed-by\":\"gpuquota\"},\"ownerReferences\":[{"
    "\"apiVersion\":\"gpuquota.io/v1alpha1\",\"kind\":\"GPUTeamAllocation\",\"name\":\"ml\","
    "\"uid\":\"c3d2e1f0-1111-4222-8333-944455556666\",\"controller\":true,\"blockOwnerDeletio"
    "n\":true}]},\"spec\":{\"hard\":{\"requests.nvidia.com/gpu\":\"8\",\"limits.nvidia.com/gp"
    "u\":\"8\",\"count/pods\":\"200\"}},\"status\":{\"hard\":{\"count/pods\":\"200\",\"limits"
    ".nvidia.com/gpu\":\"8\",\"requests.nvidia.com/gpu\":\"8\"},\"used\":{\"count/pods\":\"7"
    "\",\"limits.nvidia.com/gpu\":\"3\",\"requests.nvidia.com/gpu\":\"3\"}}}}";

static const char POD_MODIFIED[] =
    "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{"
    "\"name\":\"train-llm-0\",\"namespace\":\"team-ml\",\"uid\":\"6a1c1f0e-3b7e-4d0a-9a43-2f3"
    "c7d1b9e10\",\"resourceVersion\":\"5003\",\"creationTimestamp\":\"2024-05-02T10:15:30Z\","
    "\"labels\":{\"app\":\"train-llm\",\"gpuquota.io/team\":\"ml\"},\"annotations\":{\"kubect"
    "l.kubernetes.io/last-applied-configuration\":\"{\\\"apiVersion\\\":\\\"v1\\\",\\\"kind\\"
    "\":\\\"Pod\\\",\\\"metadata\\\":{\\\"annotations\\\":{},\\\"name\\\":\\\"train-llm-0\\\""
    ",\\\"namespace\\\":\\\"team-ml\\\"},\\\"spec\\\":{\\\"containers\\\":[{\\\"image\\\":\\"
    "\"nvcr.io/nvidia/pytorch:24.04-py3\\\",\\\"name\\\":\\\"trainer\\\",\\\"resources\\\":{"
    "\\\"limits\\\":{\\\"nvidia.com/gpu\\\":\\\"1\\\"}}}]}}\\n\"}},\"spec\":{\"volumes\":[{\""
    "name\":\"kube-api-access-7xk2p\",\"projected\":{\"sources\":[{\"serviceAccountToken\":{"
    "\"expirationSeconds\":3607,\"path\":\"token\"}}],\"defaultMode\":420}}],\"containers\":["
    "{\"name\":\"trainer\",\"image\":\"nvcr.io/nvidia/pytorch:24.04-py3\",\"resources\":{\"li"
    "mits\":{\"nvidia.com/gpu\":\"1\"},\"requests\":{\"nvidia.com/gpu\":\"1\"}},\"termination"
    "MessagePath\":\"/dev/termination-log\",\"terminationMessagePolicy\":\"File\",\"imagePull"
    "Policy\":\"IfNotPresent\"}],\"restartPolicy\":\"Never\",\"terminationGracePeriodSeconds"
    "\":30,\"dnsPolicy\":\"ClusterFirst\",\"serviceAccountName\":\"default\",\"schedulerName"
    "\":\"default-scheduler\",\"priorityClassName\":\"gpuquota-ml-standard\",\"priority\":100"
    "000,\"enableServiceLinks\":true,\"preemptionPolicy\":\"PreemptLowerPriority\",\"tolerati"
    "ons\":[{\"key\":\"nvidia.com/gpu\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"},{"
    "\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":\"NoExecute"
    "\",\"tolerationSeconds\":300}],\"nodeName\":\"gpu-node-3\"},\"status\":{\"phase\":\"Runn"
    "ing\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"lastProbeTime\":null,\"l"
    "astTransitionTime\":\"2024-05-02T10:15:41Z\"}],\"hostIP\":\"10.0.3.17\",\"podIP\":\"10.2"
    "44.3.9\",\"podIPs\":[{\"ip\":\"10.244.3.9\"}],\"startTime\":\"2024-05-02T10:15:31Z\",\"c"
    "ontainerStatuses\":[{\"name\":\"trainer\",\"state\":{\"running\":{\"startedAt\":\"2024-0"
    "5-02T10:15:40Z\"}},\"lastState\":{},\"ready\":true,\"restartCount\":0,\"image\":\"nvcr.i"
    "o/nvidia/pytorch:24.04-py3\",\"imageID\":\"\",\"started\":true}],\"qosClass\":\"BestEffo"
    "rt\"}}}";

static const char POD_DELETED[] =
    "{\"type\":\"DELETED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{"
    "\"name\":\"train-llm-0\",\"namespace\":\"team-ml\",\"uid\":\"6a1c1f0e-3b7e-4d0a-9a43-2f3"
    "c7d1b9e10\",\"resourceVersion\":\"5004\",\"creationTimestamp\":\"2024-05-02T10:15:30Z\","
    "\"labels\":{\"app\":\"train-llm\",\"gpuquota.io/team\":\"ml\"},\"annotations\":{\"kubect"
    "l.kubernetes.io/last-applied-configuration\":\"{\\\"apiVersion\\\":\\\"v1\\\",\\\"kind\\"
    "\":\\\"Pod\\\",\\\"metadata\\\":{\\\"annotations\\\":{},\\\"name\\\":\\\"train-llm-0\\\""
    ",\\\"namespace\\\":\\\"team-ml\\\"},\\\"spec\\\":{\\\"containers\\\":[{\\\"image\\\":\\"
    "\"nvcr.io/nvidia/pytorch:24.04-py3\\\",\\\"name\\\":\\\"trainer\\\",\\\"resources\\\":{"
    "\\\"limits\\\":{\\\"nvidia.com/gpu\\\":\\\"1\\\"}}}]}}\\n\"},\"deletionTimestamp\":\"202"
    "4-05-02T11:00:00Z\",\"deletionGracePeriodSeconds\":0},\"spec\":{\"volumes\":[{\"name\":"
    "\"kube-api-access-7xk2p\",\"projected\":{\"sources\":[{\"serviceAccountToken\":{\"expira"
    "tionSeconds\":3607,\"path\":\"token\"}}],\"defaultMode\":420}}],\"containers\":[{\"name"
    "\":\"trainer\",\"image\":\"nvcr.io/nvidia/pytorch:24.04-py3\",\"resources\":{\"limits\":"
    "{\"nvidia.com/gpu\":\"1\"},\"requests\":{\"nvidia.com/gpu\":\"1\"}},\"terminationMessage"
    "Path\":\"/dev/termination-log\",\"terminationMessagePolicy\":\"File\",\"imagePullPolicy"
    "\":\"IfNotPresent\"}],\"restartPolicy\":\"Never\",\"terminationGracePeriodSeconds\":30,"
    "\"dnsPolicy\":\"ClusterFirst\",\"serviceAccountName\":\"default\",\"schedulerName\":\"de"
    "fault-scheduler\",\"priorityClassName\":\"gpuquota-ml-standard\",\"priority\":100000,\"e"
    "nableServiceLinks\":true,\"preemptionPolicy\":\"PreemptLowerPriority\",\"tolerations\":["
    "{\"key\":\"nvidia.com/gpu\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"},{\"key\":"
    "\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":\"NoExecute\",\"tole"
    "rationSeconds\":300}],\"nodeName\":\"gpu-node-3\"},\"status\":{\"phase\":\"Succeeded\","
    "\"qosClass\":\"BestEffort\"}}}";

static const char BOOKMARK[] =
    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{"
    "\"resourceVersion\":\"5005\",\"creationTimestamp\":null,\"annotations\":{\"k8s.io/initia"
    "l-events-end\":\"true\"}},\"spec\":{\"containers\":null},\"status\":{}}}";

static const char TRICKY[] =
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"n"
    "ame\":\"tricky-{0}\",\"namespace\":\"team-ml\",\"resourceVersion\":\"5006\",\"annotation"
    "s\":{\"braces\":\"}}}{{{ ]]][[ \",\"quotes\":\"say \\\"hi\\\" {\\\"a\\\":1}\",\"unicode"
    "\":\"caf\\u00e9 \\ud83d\\ude80 \\u007b\\u007d \\u0022\",\"backslash\":\"C:\\\\path\\\\{x"
    "}\\\\\",\"raw-utf8\":\"gr\xc3\xbc\xc3\x9f"
    "e \xe6\x97\xa5\xe6\x9c\xac\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"bus"
    "ybox\",\"command\":[\"sh\",\"-c\",\"echo '{' && echo \\\"}\\\"\"]}]}}}";

static const char ERROR_410[] =
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"F"
    "ailure\",\"message\":\"too old resource version: 1 (3171407)\",\"reason\":\"Expired\",\""
    "code\":410}}";

/* The watch stream used by most tests, in this order. */
static const char *const STREAM_EVENTS[] = {
    POD_ADDED, RQ_MODIFIED, POD_MODIFIED, TRICKY, POD_DELETED, BOOKMARK, ERROR_410,
};
static const int STREAM_TYPES[] = {
    GQ_WATCH_ADDED,   GQ_WATCH_MODIFIED, GQ_WATCH_MODIFIED, GQ_WATCH_ADDED,
    GQ_WATCH_DELETED, GQ_WATCH_BOOKMARK, GQ_WATCH_ERROR,
};
static const char *const STREAM_RVS[] = {
    "5001", "5002", "5003", "5006", "5004", "5005", NULL,
};
#define STREAM_N GQ_ARRAY_LEN(STREAM_EVENTS)

/* ---- helpers ---- */

/* What the callback saw for one value. */
struct rec {
	char *json; /* the value re-serialised by yajl_gen (canonical form) */
	int type;   /* decoded watch type, -1 when it did not decode */
	char *rv;   /* decoded resourceVersion, NULL when absent */
};

struct collect {
	struct rec recs[MAX_RECS];
	size_t n;
	size_t stop_after; /* return stop_rc once this many values arrived (0: never) */
	int stop_rc;
	bool stop_on_gone; /* return GQ_EGONE on a 410 ERROR event, as the informer does */
};

/* Writes v to g; stops at the first failure (yajl_gen refuses nesting past
 * its own YAJL_MAX_DEPTH of 128, and must not be called further then). */
static yajl_gen_status gen_val(yajl_gen g, yajl_val v)
{
	yajl_gen_status st = yajl_gen_status_ok;
	size_t i;

	switch (v->type) {
	case yajl_t_string:
		return yajl_gen_string(g, (const unsigned char *)v->u.string, strlen(v->u.string));
	case yajl_t_number: return yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
	case yajl_t_object:
		st = yajl_gen_map_open(g);
		for (i = 0; st == yajl_gen_status_ok && i < v->u.object.len; i++) {
			st = yajl_gen_string(g, (const unsigned char *)v->u.object.keys[i],
					     strlen(v->u.object.keys[i]));
			if (st == yajl_gen_status_ok)
				st = gen_val(g, v->u.object.values[i]);
		}
		return st == yajl_gen_status_ok ? yajl_gen_map_close(g) : st;
	case yajl_t_array:
		st = yajl_gen_array_open(g);
		for (i = 0; st == yajl_gen_status_ok && i < v->u.array.len; i++)
			st = gen_val(g, v->u.array.values[i]);
		return st == yajl_gen_status_ok ? yajl_gen_array_close(g) : st;
	case yajl_t_true: return yajl_gen_bool(g, 1);
	case yajl_t_false: return yajl_gen_bool(g, 0);
	case yajl_t_null: return yajl_gen_null(g);
	default: fail_msg("unexpected yajl type %d", (int)v->type);
	}
	return st;
}

/* Serialises v compactly, or "<too deep>" past yajl_gen's depth limit;
 * caller frees. */
static char *canon(yajl_val v)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *out;
	size_t len;
	char *s;

	assert_non_null(g);
	if (gen_val(g, v) != yajl_gen_status_ok) {
		yajl_gen_free(g);
		return gq_strdup("<too deep>");
	}
	assert_int_equal(yajl_gen_get_buf(g, &out, &len), yajl_gen_status_ok);
	s = gq_strndup((const char *)out, len);
	yajl_gen_free(g);
	return s;
}

static int collect_cb(void *payload, yajl_val v)
{
	struct collect *c = payload;
	struct gq_watch_event ev;
	struct gq_err err;
	struct rec *r;

	assert_true(c->n < MAX_RECS);
	assert_true(YAJL_IS_OBJECT(v));
	r = &c->recs[c->n++];
	r->json = canon(v);
	r->type = -1;
	r->rv = NULL;
	if (gq_watch_event_decode(&ev, v, &err) == GQ_OK) {
		r->type = (int)ev.type;
		r->rv = ev.resource_version ? gq_strdup(ev.resource_version) : NULL;
		if (c->stop_on_gone && gq_watch_event_is_gone(&ev))
			return GQ_EGONE;
	}
	if (c->stop_after != 0 && c->n == c->stop_after)
		return c->stop_rc;
	return 0;
}

static void collect_clear(struct collect *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->recs[i].json);
		free(c->recs[i].rv);
	}
	c->n = 0;
}

/*
 * Feeds data as a first chunk of `first` bytes and then chunks of `step`
 * bytes. Each chunk is copied into a heap block of exactly its size so that
 * ASan catches any read past a chunk's end.
 */
static int feed_chunked(struct gq_jsonstream *s, const char *data, size_t len, size_t first,
			size_t step)
{
	size_t off = 0, n = first;
	char *chunk;
	int rc;

	assert_true(step > 0);
	for (;;) {
		if (n > len - off)
			n = len - off;
		chunk = gq_malloc(n);
		memcpy(chunk, data + off, n);
		rc = gq_jsonstream_feed(s, chunk, n);
		free(chunk);
		if (rc != GQ_OK)
			return rc;
		off += n;
		if (off == len)
			return GQ_OK;
		n = step;
	}
}

/* Decodes data (chunked as feed_chunked) into c with a fresh stream. */
static int run(const char *data, size_t len, size_t first, size_t step, size_t max,
	       struct collect *c)
{
	struct gq_jsonstream s;
	int rc;

	gq_jsonstream_init(&s, max, collect_cb, c);
	rc = feed_chunked(&s, data, len, first, step);
	if (rc == GQ_OK)
		rc = gq_jsonstream_finish(&s);
	assert_int_equal(s.nvalues, c->n);
	gq_jsonstream_free(&s);
	return rc;
}

static void assert_same(const struct collect *a, const struct collect *b)
{
	size_t i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		assert_string_equal(a->recs[i].json, b->recs[i].json);
		assert_int_equal(a->recs[i].type, b->recs[i].type);
		if (a->recs[i].rv == NULL)
			assert_null(b->recs[i].rv);
		else
			assert_string_equal(a->recs[i].rv, b->recs[i].rv);
	}
}

/* Checks c holds exactly the STREAM_EVENTS sequence. */
static void assert_stream(const struct collect *c)
{
	size_t i;

	assert_int_equal(c->n, STREAM_N);
	for (i = 0; i < STREAM_N; i++) {
		assert_int_equal(c->recs[i].type, STREAM_TYPES[i]);
		if (STREAM_RVS[i] == NULL)
			assert_null(c->recs[i].rv);
		else
			assert_string_equal(c->recs[i].rv, STREAM_RVS[i]);
	}
}

/* The stream events joined by sep (and followed by tail); caller frees. */
static char *stream_join(const char *sep, const char *tail)
{
	struct gq_buf b;
	size_t i;

	gq_buf_init(&b, MAX_VALUE);
	for (i = 0; i < STREAM_N; i++) {
		if (i > 0)
			assert_int_equal(gq_buf_puts(&b, sep), GQ_OK);
		assert_int_equal(gq_buf_puts(&b, STREAM_EVENTS[i]), GQ_OK);
	}
	assert_int_equal(gq_buf_puts(&b, tail), GQ_OK);
	return gq_buf_steal(&b);
}

/* Parses a fixture directly (no stream) for decode tests; caller frees. */
static yajl_val tree(const char *json)
{
	char ebuf[128];
	yajl_val v = yajl_tree_parse(json, ebuf, sizeof(ebuf));

	if (v == NULL)
		fail_msg("fixture does not parse: %s", ebuf);
	return v;
}

static const char *str_at(yajl_val v, const char **path)
{
	return YAJL_GET_STRING(yajl_tree_get(v, path, yajl_t_string));
}

/* ---- tests ---- */

static void test_single_event(void **state)
{
	struct collect c = {0};
	yajl_val v;

	(void)state;
	assert_int_equal(run(POD_ADDED, strlen(POD_ADDED), strlen(POD_ADDED), 1, MAX_VALUE, &c),
			 GQ_OK);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.recs[0].type, GQ_WATCH_ADDED);
	assert_string_equal(c.recs[0].rv, "5001");
	/* compact JSON without escapes round-trips byte for byte */
	assert_string_equal(c.recs[0].json, POD_ADDED);
	v = tree(c.recs[0].json);
	assert_string_equal(str_at(v, (const char *[]){"object", "metadata", "name", NULL}),
			    "train-llm-0");
	assert_string_equal(
	    str_at(v, (const char *[]){"object", "metadata", "labels", "gpuquota.io/team", NULL}),
	    "ml");
	yajl_tree_free(v);
	collect_clear(&c);
}

static void test_many_events_one_chunk(void **state)
{
	struct collect c = {0};
	char *stream = stream_join("\n", "\n");
	size_t i;

	(void)state;
	assert_int_equal(run(stream, strlen(stream), strlen(stream), 1, MAX_VALUE, &c), GQ_OK);
	assert_stream(&c);
	/* every event without escapes comes back unchanged */
	for (i = 0; i < STREAM_N; i++)
		if (STREAM_EVENTS[i] != TRICKY)
			assert_string_equal(c.recs[i].json, STREAM_EVENTS[i]);
	collect_clear(&c);
	free(stream);
}

/*
 * For the newline-delimited, the plainly concatenated and a whitespace-heavy
 * form of the stream: 1..7-byte chunks at every phase (and, for the first
 * form, every two-piece split) give exactly what a single feed gives.
 */
static void test_every_split(void **state)
{
	char *streams[3];
	struct collect ref = {0}, c = {0};
	size_t k, len, p, step;

	(void)state;
	streams[0] = stream_join("\n", "\n");
	streams[1] = stream_join("", "");
	streams[2] = stream_join(" \r\n\t\n  ", "\r\n\n");
	for (k = 0; k < GQ_ARRAY_LEN(streams); k++) {
		len = strlen(streams[k]);
		assert_int_equal(run(streams[k], len, len, 1, MAX_VALUE, &ref), GQ_OK);
		assert_stream(&ref);
		/* every two-piece split of the NDJSON form (the others share
		 * its boundaries) */
		for (p = 0; k == 0 && p <= len; p++) {
			assert_int_equal(run(streams[k], len, p, len, MAX_VALUE, &c), GQ_OK);
			assert_same(&ref, &c);
			collect_clear(&c);
		}
		for (step = 1; step <= 7; step++) {
			for (p = 0; p < step; p++) {
				assert_int_equal(run(streams[k], len, p, step, MAX_VALUE, &c),
						 GQ_OK);
				assert_same(&ref, &c);
				collect_clear(&c);
			}
		}
		collect_clear(&ref);
	}
	for (k = 0; k < GQ_ARRAY_LEN(streams); k++)
		free(streams[k]);
}

/* "}{" between values, no newline anywhere: same values as the NDJSON form. */
static void test_no_newlines(void **state)
{
	char *nl = stream_join("\n", "\n");
	char *cat = stream_join("", "");
	struct collect a = {0}, b = {0};

	(void)state;
	assert_null(strchr(cat, '\n'));
	assert_int_equal(run(nl, strlen(nl), strlen(nl), 1, MAX_VALUE, &a), GQ_OK);
	assert_int_equal(run(cat, strlen(cat), 1, 1, MAX_VALUE, &b), GQ_OK);
	assert_stream(&b);
	assert_same(&a, &b);
	collect_clear(&a);
	collect_clear(&b);
	free(nl);
	free(cat);
}

/* Braces, brackets, escaped quotes and \u escapes inside strings, fed one
 * byte at a time, do not disturb the value boundaries. */
static void test_tricky_strings(void **state)
{
	struct collect c = {0};
	struct gq_buf b;
	yajl_val v, cmd;

	(void)state;
	gq_buf_init(&b, MAX_VALUE);
	assert_int_equal(gq_buf_puts(&b, TRICKY), GQ_OK);
	assert_int_equal(gq_buf_puts(&b, POD_DELETED), GQ_OK);
	assert_int_equal(run(b.data, b.len, 1, 1, MAX_VALUE, &c), GQ_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.recs[0].type, GQ_WATCH_ADDED);
	assert_int_equal(c.recs[1].type, GQ_WATCH_DELETED);
	assert_string_equal(c.recs[1].rv, "5004");

	v = tree(c.recs[0].json);
	assert_string_equal(str_at(v, (const char *[]){"object", "metadata", "name", NULL}),
			    "tricky-{0}");
#define ANN(k) str_at(v, (const char *[]){"object", "metadata", "annotations", k, NULL})
	assert_string_equal(ANN("braces"), "}}}{{{ ]]][[ ");
	assert_string_equal(ANN("quotes"), "say \"hi\" {\"a\":1}");
	assert_string_equal(ANN("unicode"), "caf\xc3\xa9 \xf0\x9f\x9a\x80 {} \"");
	assert_string_equal(ANN("backslash"), "C:\\path\\{x}\\");
	assert_string_equal(ANN("raw-utf8"), "gr\xc3\xbc\xc3\x9f"
					     "e \xe6\x97\xa5\xe6\x9c\xac");
#undef ANN
	cmd =
	    yajl_tree_get(v, (const char *[]){"object", "spec", "containers", NULL}, yajl_t_array);
	assert_non_null(cmd);
	cmd =
	    yajl_tree_get(cmd->u.array.values[0], (const char *[]){"command", NULL}, yajl_t_array);
	assert_non_null(cmd);
	assert_int_equal(cmd->u.array.len, 3);
	assert_string_equal(YAJL_GET_STRING(cmd->u.array.values[2]), "echo '{' && echo \"}\"");
	yajl_tree_free(v);
	collect_clear(&c);
	gq_buf_free(&b);
}

static void test_bookmark(void **state)
{
	yajl_val v = tree(BOOKMARK);
	struct gq_watch_event ev;
	struct gq_err err = {0};

	(void)state;
	assert_int_equal(gq_watch_event_decode(&ev, v, &err), GQ_OK);
	assert_int_equal(ev.type, GQ_WATCH_BOOKMARK);
	assert_string_equal(gq_watch_type_name(ev.type), "BOOKMARK");
	assert_string_equal(ev.resource_version, "5005");
	assert_string_equal(str_at(ev.object, (const char *[]){"metadata", "annotations",
							       "k8s.io/initial-events-end", NULL}),
			    "true");
	assert_false(gq_watch_event_is_gone(&ev));
	assert_int_equal(ev.code, 0);
	assert_null(ev.reason);
	yajl_tree_free(v);
}

static void test_error_410(void **state)
{
	yajl_val v = tree(ERROR_410);
	struct gq_watch_event ev;
	struct gq_err err = {0};
	struct collect c = {0};
	struct gq_buf b;

	(void)state;
	assert_int_equal(gq_watch_event_decode(&ev, v, &err), GQ_OK);
	assert_int_equal(ev.type, GQ_WATCH_ERROR);
	assert_int_equal(ev.code, 410);
	assert_string_equal(ev.reason, "Expired");
	assert_string_equal(ev.message, "too old resource version: 1 (3171407)");
	assert_null(ev.resource_version);
	assert_string_equal(str_at(ev.object, (const char *[]){"kind", NULL}), "Status");
	assert_true(gq_watch_event_is_gone(&ev));
	yajl_tree_free(v);

	/* other ERROR statuses */
	v = tree("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
		 "\"status\":\"Failure\",\"message\":\"etcdserver: request timed out\","
		 "\"reason\":\"InternalError\",\"code\":500}}");
	assert_int_equal(gq_watch_event_decode(&ev, v, &err), GQ_OK);
	assert_int_equal(ev.code, 500);
	assert_false(gq_watch_event_is_gone(&ev));
	yajl_tree_free(v);
	v = tree("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"reason\":\"Gone\"}}");
	assert_int_equal(gq_watch_event_decode(&ev, v, &err), GQ_OK);
	assert_int_equal(ev.code, 0);
	assert_null(ev.message);
	assert_true(gq_watch_event_is_gone(&ev));
	yajl_tree_free(v);

	/* in a stream, an informer-like callback stops at the 410 */
	gq_buf_init(&b, MAX_VALUE);
	assert_int_equal(gq_buf_printf(&b, "%s\n%s\n%s\n", POD_ADDED, ERROR_410, POD_MODIFIED),
			 GQ_OK);
	c.stop_on_gone = true;
	assert_int_equal(run(b.data, b.len, 3, 3, MAX_VALUE, &c), GQ_EGONE);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.recs[1].type, GQ_WATCH_ERROR);
	collect_clear(&c);
	gq_buf_free(&b);
}

/* Each bad input, after a valid event, whole and byte by byte: GQ_EPARSE,
 * the valid event delivered first, the error sticky until reset. */
static void test_malformed(void **state)
{
	static const struct {
		const char *in;
		size_t good; /* values in it delivered before the error */
	} bad[] = {
	    {"{\"type\":\"ADDED\",}", 0},
	    {"{\"type\" \"ADDED\"}", 0},
	    {"{\"type\":\"ADDED\"}}", 1},
	    {"{\"type\":\"ADDED\",\"object\":tru}", 0},
	    {"{\"type\":\"ADDED\",\"object\":{\"a\":\"\x01\"}}", 0},
	    {"{\"type\":\"ADDED\",\"object\":{\"a\":\"\xff\xfe\"}}", 0},
	    {"{\"type\":\"ADDED\",\"object\":{\"a\":\"\\u12g4\"}}", 0},
	    {"{\"type\":\"ADDED\",\"object\":{\"a\":\"\\q\"}}", 0},
	    {"{\"a\":1,\"b\":[1,2}", 0},
	    {"{\"a\":NaN}", 0},
	    {"{\"a\":01}", 0},
	    {"[{\"type\":\"ADDED\",\"object\":{}}]", 0},
	    {"\"ADDED\"", 0},
	    {"42 ", 0},
	    {"true", 0},
	    {"null", 0},
	    {"{} x", 1},
	    {"// comment\n{}", 0},
	    {"\xef\xbb\xbf{}", 0},
	    {"{'type':'ADDED'}", 0},
	    {"}", 0},
	    {",{}", 0},
	};
	struct gq_jsonstream s;
	struct collect c = {0};
	struct gq_buf b;
	size_t i, step;
	int rc;

	(void)state;
	for (i = 0; i < GQ_ARRAY_LEN(bad); i++) {
		for (step = 1; step <= 2; step++) {
			gq_buf_init(&b, MAX_VALUE);
			assert_int_equal(gq_buf_printf(&b, "%s\n%s", BOOKMARK, bad[i].in), GQ_OK);
			gq_jsonstream_init(&s, MAX_VALUE, collect_cb, &c);
			rc = feed_chunked(&s, b.data, b.len, step == 1 ? 1 : b.len,
					  step == 1 ? 1 : b.len);
			if (rc != GQ_EPARSE)
				fail_msg("input %zu (step %zu): rc %d, want GQ_EPARSE", i, step,
					 rc);
			assert_int_equal(c.n, 1 + bad[i].good);
			assert_int_equal(c.recs[0].type, GQ_WATCH_BOOKMARK);
			assert_non_null(strstr(s.err.msg, "byte"));
			if (step == 1)
				print_message("input %zu: %s\n", i, s.err.msg);
			/* sticky */
			assert_int_equal(gq_jsonstream_feed(&s, BOOKMARK, strlen(BOOKMARK)),
					 GQ_EPARSE);
			assert_int_equal(gq_jsonstream_finish(&s), GQ_EPARSE);
			assert_int_equal(c.n, 1 + bad[i].good);
			/* usable again after a reset */
			gq_jsonstream_reset(&s);
			assert_int_equal(s.err.msg[0], '\0');
			assert_int_equal(gq_jsonstream_feed(&s, BOOKMARK, strlen(BOOKMARK)), GQ_OK);
			assert_int_equal(c.n, 2 + bad[i].good);
			assert_int_equal(s.nvalues, 1);
			assert_int_equal(gq_jsonstream_finish(&s), GQ_OK);
			gq_jsonstream_free(&s);
			collect_clear(&c);
			gq_buf_free(&b);
		}
	}
}

/* finish() tells a stream that ended between values from a truncated one. */
static void test_finish_truncated(void **state)
{
	static const struct {
		const char *in;
		int want;
	} cases[] = {
	    {"", GQ_OK},
	    {" \n\t\r\n", GQ_OK},
	    {"{\"type\":\"ADDED\"", GQ_EPARSE},
	    {"{\"type\":\"ADD", GQ_EPARSE},
	    {"{\"a\":{}}\n{", GQ_EPARSE},
	    {"  12", GQ_EPARSE},
	    {"\"abc", GQ_EPARSE},
	    {"{\"a\":{}}\n", GQ_OK},
	};
	struct gq_jsonstream s;
	struct collect c = {0};
	size_t i;

	(void)state;
	gq_jsonstream_init(&s, MAX_VALUE, collect_cb, &c);
	for (i = 0; i < GQ_ARRAY_LEN(cases); i++) {
		gq_jsonstream_reset(&s);
		assert_int_equal(feed_chunked(&s, cases[i].in, strlen(cases[i].in), 1, 1), GQ_OK);
		if (gq_jsonstream_finish(&s) != cases[i].want)
			fail_msg("case %zu: finish %d, want %d", i, gq_jsonstream_finish(&s),
				 cases[i].want);
	}
	gq_jsonstream_reset(&s);
	assert_int_equal(gq_jsonstream_feed(&s, "{\"a\":", 5), GQ_OK);
	assert_true(gq_jsonstream_in_value(&s));
	assert_int_equal(gq_jsonstream_feed(&s, "1}", 2), GQ_OK);
	assert_false(gq_jsonstream_in_value(&s));
	gq_jsonstream_free(&s);
	collect_clear(&c);
}

static void test_oversize(void **state)
{
	static const char small[] = "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
				    "{\"resourceVersion\":\"7\"}}}";
	struct gq_jsonstream s;
	struct collect c = {0};
	struct gq_buf b;
	size_t step, i;

	(void)state;
	gq_buf_init(&b, MAX_VALUE);
	assert_int_equal(gq_buf_printf(&b, "%s\n%s\n%s", small, POD_ADDED, small), GQ_OK);
	for (step = 1; step <= b.len; step += b.len - 1) {
		assert_int_equal(run(b.data, b.len, step, step, 256, &c), GQ_ETOOBIG);
		assert_int_equal(c.n, 1);
		assert_string_equal(c.recs[0].rv, "7");
		collect_clear(&c);
	}

	/* sticky, message names the bound, reset recovers */
	gq_jsonstream_init(&s, 256, collect_cb, &c);
	assert_int_equal(gq_jsonstream_feed(&s, POD_ADDED, strlen(POD_ADDED)), GQ_ETOOBIG);
	assert_non_null(strstr(s.err.msg, "256"));
	assert_int_equal(gq_jsonstream_feed(&s, small, strlen(small)), GQ_ETOOBIG);
	assert_int_equal(gq_jsonstream_finish(&s), GQ_ETOOBIG);
	gq_jsonstream_reset(&s);
	assert_int_equal(gq_jsonstream_feed(&s, small, strlen(small)), GQ_OK);
	assert_int_equal(c.n, 1);
	gq_jsonstream_free(&s);
	collect_clear(&c);

	/* the bound is inclusive and counts only the value's own bytes */
	gq_buf_reset(&b);
	for (i = 0; i < 100; i++)
		assert_int_equal(gq_buf_puts(&b, " \n"), GQ_OK);
	assert_int_equal(gq_buf_printf(&b, "%s\n\n%s  ", small, small), GQ_OK);
	for (step = 1; step <= 8; step++) {
		assert_int_equal(run(b.data, b.len, step, step, strlen(small), &c), GQ_OK);
		assert_int_equal(c.n, 2);
		collect_clear(&c);
		assert_int_equal(run(b.data, b.len, step, step, strlen(small) - 1, &c), GQ_ETOOBIG);
		assert_int_equal(c.n, 0);
		collect_clear(&c);
	}
	gq_buf_free(&b);
}

/* A value larger than the internal buffer's first allocations, spread over
 * many chunks. */
static void test_large_value(void **state)
{
	struct gq_jsonstream s;
	struct collect c = {0};
	struct gq_buf b;
	size_t i;
	yajl_val v;
	const char *big;

	(void)state;
	gq_buf_init(&b, MAX_VALUE);
	assert_int_equal(gq_buf_puts(&b, "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\","
					 "\"metadata\":{\"name\":\"big\",\"resourceVersion\":"
					 "\"9\",\"annotations\":{\"blob\":\""),
			 GQ_OK);
	for (i = 0; i < 2 * 1024 * 1024 / 16; i++)
		assert_int_equal(gq_buf_puts(&b, "{}\\\"[]0123456789"), GQ_OK);
	assert_int_equal(gq_buf_puts(&b, "\"}}}}\n"), GQ_OK);
	assert_int_equal(gq_buf_puts(&b, BOOKMARK), GQ_OK);

	gq_jsonstream_init(&s, MAX_VALUE, collect_cb, &c);
	assert_int_equal(feed_chunked(&s, b.data, b.len, 4093, 4093), GQ_OK);
	assert_int_equal(gq_jsonstream_finish(&s), GQ_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.recs[0].type, GQ_WATCH_MODIFIED);
	assert_int_equal(c.recs[1].type, GQ_WATCH_BOOKMARK);
	assert_int_equal(s.buf.len, 0);
	v = tree(c.recs[0].json);
	big = str_at(v, (const char *[]){"object", "metadata", "annotations", "blob", NULL});
	assert_non_null(big);
	assert_int_equal(strlen(big), 2 * 1024 * 1024 / 16 * 15);
	assert_memory_equal(big, "{}\"[]0123456789{}\"", 18);
	yajl_tree_free(v);
	gq_jsonstream_free(&s);
	collect_clear(&c);
	gq_buf_free(&b);
}

static void test_callback_stop(void **state)
{
	char *stream = stream_join("\n", "\n");
	struct gq_jsonstream s;
	struct collect c = {0};
	size_t step;

	(void)state;
	for (step = 1; step <= 2; step++) {
		c.stop_after = 2;
		c.stop_rc = 42;
		gq_jsonstream_init(&s, MAX_VALUE, collect_cb, &c);
		assert_int_equal(feed_chunked(&s, stream, strlen(stream), step == 1 ? 1 : 100000,
					      step == 1 ? 1 : 100000),
				 42);
		assert_int_equal(c.n, 2);
		assert_int_equal(c.recs[1].type, GQ_WATCH_MODIFIED);
		/* stopped: nothing more is parsed or delivered */
		assert_int_equal(gq_jsonstream_feed(&s, BOOKMARK, strlen(BOOKMARK)), 42);
		assert_int_equal(gq_jsonstream_finish(&s), 42);
		assert_int_equal(c.n, 2);
		/* after a reset (reconnect) the whole stream decodes */
		collect_clear(&c);
		c.stop_after = 0;
		gq_jsonstream_reset(&s);
		assert_int_equal(gq_jsonstream_feed(&s, stream, strlen(stream)), GQ_OK);
		assert_stream(&c);
		assert_int_equal(s.nvalues, STREAM_N);
		gq_jsonstream_free(&s);
		collect_clear(&c);
	}
	free(stream);
}

static void test_depth_limit(void **state)
{
	struct collect c = {0};
	struct gq_buf b;
	int depth, i;

	(void)state;
	for (depth = GQ_JSONSTREAM_MAX_DEPTH; depth <= GQ_JSONSTREAM_MAX_DEPTH + 1; depth++) {
		gq_buf_init(&b, MAX_VALUE);
		assert_int_equal(gq_buf_puts(&b, "{\"a\":"), GQ_OK);
		for (i = 1; i < depth; i++)
			assert_int_equal(gq_buf_puts(&b, "["), GQ_OK);
		for (i = 1; i < depth; i++)
			assert_int_equal(gq_buf_puts(&b, "]"), GQ_OK);
		assert_int_equal(gq_buf_puts(&b, "}"), GQ_OK);
		assert_int_equal(run(b.data, b.len, 7, 7, MAX_VALUE, &c),
				 depth <= GQ_JSONSTREAM_MAX_DEPTH ? GQ_OK : GQ_EPARSE);
		assert_int_equal(c.n, depth <= GQ_JSONSTREAM_MAX_DEPTH ? 1 : 0);
		collect_clear(&c);
		gq_buf_free(&b);
	}
}

static void test_decode_errors(void **state)
{
	static const struct {
		const char *json;
		const char *msg; /* expected substring of the message */
	} cases[] = {
	    {"{\"type\":\"SYNC\",\"object\":{}}", "SYNC"},
	    {"{\"type\":\"added\",\"object\":{}}", "added"},
	    {"{\"object\":{}}", "type"},
	    {"{\"type\":1,\"object\":{}}", "type"},
	    {"{\"type\":\"ADDED\"}", "object"},
	    {"{\"type\":\"ADDED\",\"object\":[]}", "object"},
	    {"{\"type\":\"DELETED\",\"object\":null}", "object"},
	    {"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}", "resourceVersion"},
	    {"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":5}}}",
	     "resourceVersion"},
	    {"[]", "object"},
	};
	struct gq_watch_event ev;
	struct gq_err err;
	yajl_val v;
	size_t i;

	(void)state;
	for (i = 0; i < GQ_ARRAY_LEN(cases); i++) {
		v = tree(cases[i].json);
		err.msg[0] = '\0';
		assert_int_equal(gq_watch_event_decode(&ev, v, &err), GQ_EPARSE);
		if (strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.msg, cases[i].msg);
		yajl_tree_free(v);
	}
	assert_int_equal(gq_watch_event_decode(&ev, NULL, NULL), GQ_EPARSE);

	/* optional parts may be missing */
	v = tree("{\"type\":\"DELETED\",\"object\":{\"kind\":\"Pod\"}}");
	assert_int_equal(gq_watch_event_decode(&ev, v, &err), GQ_OK);
	assert_int_equal(ev.type, GQ_WATCH_DELETED);
	assert_null(ev.resource_version);
	assert_false(gq_watch_event_is_gone(&ev));
	yajl_tree_free(v);

	assert_string_equal(gq_watch_type_name(GQ_WATCH_ADDED), "ADDED");
	assert_string_equal(gq_watch_type_name(GQ_WATCH_ERROR), "ERROR");
	assert_string_equal(gq_watch_type_name((enum gq_watch_type)99), "UNKNOWN");
}

/* Empty feeds, and a stream without a callback, just count values. */
static void test_no_callback_and_empty_feeds(void **state)
{
	struct gq_jsonstream s;

	(void)state;
	gq_jsonstream_init(&s, MAX_VALUE, NULL, NULL);
	assert_int_equal(gq_jsonstream_feed(&s, "", 0), GQ_OK);
	assert_int_equal(gq_jsonstream_feed(&s, ERROR_410, strlen(ERROR_410)), GQ_OK);
	assert_int_equal(gq_jsonstream_feed(&s, "", 0), GQ_OK);
	assert_int_equal(gq_jsonstream_feed(&s, "\n{}{}", 5), GQ_OK);
	assert_int_equal(s.nvalues, 3);
	assert_int_equal(s.offset, strlen(ERROR_410) + 5);
	assert_int_equal(gq_jsonstream_finish(&s), GQ_OK);
	gq_jsonstream_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_single_event),
	    cmocka_unit_test(test_many_events_one_chunk),
	    cmocka_unit_test(test_every_split),
	    cmocka_unit_test(test_no_newlines),
	    cmocka_unit_test(test_tricky_strings),
	    cmocka_unit_test(test_bookmark),
	    cmocka_unit_test(test_error_410),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_finish_truncated),
	    cmocka_unit_test(test_oversize),
	    cmocka_unit_test(test_large_value),
	    cmocka_unit_test(test_callback_stop),
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_decode_errors),
	    cmocka_unit_test(test_no_callback_and_empty_feeds),
	};
	return cmocka_run_group_tests_name("jsonstream", tests, NULL, NULL);
}
