/*
 * Unit tests for workqueue.c: de-duplication, dirty re-queue, FIFO order,
 * delayed adds, exponential backoff, token bucket, timeouts, shutdown and a
 * multi-threaded stress test. Time-dependent logic runs on a fake clock;
 * only the blocking tests use short real timeouts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "gq.h"
#include "workqueue.h"

/* ---- helpers ---------------------------------------------------------------- */

struct fake_clock {
	int64_t now; /* current fake time in ms */
};

static int64_t fake_now(void *payload)
{
	return ((struct fake_clock *)payload)->now;
}

static int64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void sleep_us(long us)
{
	struct timespec ts = {0, us * 1000L};

	nanosleep(&ts, NULL);
}

/* Creates a queue on fake clock c with the given limiter settings. */
static struct gq_workqueue *new_fake(struct fake_clock *c, int64_t base, int64_t max, int qps,
				     int burst)
{
	struct gq_workqueue_opts o = {0};
	struct gq_workqueue *q;

	o.base_backoff_ms = base;
	o.max_backoff_ms = max;
	o.qps = qps;
	o.burst = burst;
	o.now_ms = fake_now;
	o.clock_payload = c;
	assert_int_equal(gq_workqueue_new(&q, &o), GQ_OK);
	return q;
}

/* Polls one key and checks it is `want`, then marks it done. */
static void expect_key(struct gq_workqueue *q, const char *want)
{
	char *k;

	assert_int_equal(gq_workqueue_get(q, &k, 0), GQ_OK);
	assert_non_null(k);
	assert_string_equal(k, want);
	assert_int_equal(gq_workqueue_done(q, k), GQ_OK);
	free(k);
}

/* Gets key want and leaves it processing (no done). */
static void take_key(struct gq_workqueue *q, const char *want)
{
	char *k = NULL;

	assert_int_equal(gq_workqueue_get(q, &k, 0), GQ_OK);
	assert_non_null(k);
	assert_string_equal(k, want);
	free(k);
}

static void expect_empty(struct gq_workqueue *q)
{
	char *k = (char *)1;

	assert_int_equal(gq_workqueue_get(q, &k, 0), GQ_WORKQUEUE_TIMEOUT);
	assert_null(k);
}

/* ---- basic queue semantics ------------------------------------------------------ */

static void test_dedupe(void **state)
{
	struct fake_clock c = {1000};
	struct gq_workqueue *q = new_fake(&c, 0, 0, 0, 0);
	struct gq_workqueue_stats st;

	(void)state;
	assert_int_equal(gq_workqueue_add(q, "a"), GQ_OK);
	assert_int_equal(gq_workqueue_add(q, "a"), GQ_OK);
	assert_int_equal(gq_workqueue_add(q, "ns/b"), GQ_OK);
	assert_int_equal(gq_workqueue_add(q, "a"), GQ_OK);
	assert_int_equal(gq_workqueue_len(q), 2);
	gq_workqueue_stats(q, &st);
	assert_int_equal(st.adds_total, 2);
	assert_int_equal(st.depth, 2);
	expect_key(q, "a");
	expect_key(q, "ns/b");
	expect_empty(q);
	gq_workqueue_free(q);
}

/* An add (an event) or a rate-limited add (a retry) touches the key; a key
 * that only came due after add_after (a periodic pass) is not touched; the
 * mark is what the key had when it was handed out. */
static void test_touched(void **state)
{
	struct fake_clock c = {1000};
	struct gq_workqueue *q = new_fake(&c, 0, 0, 0, 0);

	(void)state;
	assert_false(gq_workqueue_touched(q, "a")); /* not processing */
	assert_int_equal(gq_workqueue_add(q, "a"), GQ_OK);
	take_key(q, "a");
	assert_true(gq_workqueue_touched(q, "a"));
	assert_int_equal(gq_workqueue_add_after(q, "a", 10), GQ_OK);
	assert_int_equal(gq_workqueue_done(q, "a"), GQ_OK);
	c.now += 10;
	take_key(q, "a");
	assert_false(gq_workqueue_touched(q, "a")); /* came due: periodic */
	/* an event while it is processed: the re-queued pass is touched */
	assert_int_equal(gq_workqueue_add(q, "a"), GQ_OK);
	assert_false(gq_workqueue_touched(q, "a"));
	assert_int_equal(gq_workqueue_done(q, "a"), GQ_OK);
	take_key(q, "a");
	assert_true(gq_workqueue_touched(q, "a"));
	/* a retry is touched */
	assert_int_equal(gq_workqueue_add_rate_limited(q, "a", NULL), GQ_OK);
	assert_int_equal(gq_workqueue_done(q, "a"), GQ_OK);
	c.now += 1000;
	take_key(q, "a");
	assert_true(gq_workqueue_touched(q, "a"));
	assert_int_equal(gq_workqueue_done(q, "a"), GQ_OK);
	assert_false(gq_workqueue_touched(q, "a"));
	gq_workqueue_free(q);
}

static void test_dirty_requeues_once(void **state)
{
	struct fake_clock c = {1000};
	struct gq_workqueue *q = new_fake(&c, 0, 0, 0, 0);
	struct gq_workqueue_stats st;
	char *k;

	(void)state;
	assert_int_equal(gq_workqueue_add(q, "a"), GQ_OK);
	assert_int_equal(gq_workqueue_get(q, &k, 0), GQ_OK);
	assert_string_equal(k, "a");
	/* Added twice while processing: not handed out concurrently. */
	assert_int_equal(gq_workqueue_add(q, "a"), GQ_OK);
	assert_int_equal(gq_workqueue_add(q, "a"), GQ_OK);
	assert_int_equal(gq_workqueue_len(q), 0);
	expect_empty(q);
	gq_workqueue_stats(q, &st);
	assert_int_equal(st.processing, 1);
	assert_int_equal(gq_workqueue_done(q, k), GQ_OK);
	free(k);
	/* Exactly one re-queue after done. */
	assert_int_equal(gq_workqueue_len(q), 1);
	expect_key(q, "a");
	expect_empty(q);
	gq_workqueue_stats(q, &st);
	assert_int_equal(st.processing, 0);
	assert_int_equal(st.adds_total, 2);
	assert_int_equal(st.gets_total, 2);
	/* done on a key that is not processing. */
	assert_int_equal(gq_workqueue_done(q, "a"), GQ_ENOTFOUND);
	assert_int_equal(gq_workqueue_done(q, "never"), GQ_ENOTFOUND);
	gq_workqueue_free(q);
}

static void test_fifo_order(void **state)
{
	struct fake_clock c = {0};
	struct gq_workqueue *q = new_fake(&c, 0, 0, 0, 0);
	char key[32];
	int i;

	(void)state;
	/* More than the initial ring and table sizes, so both grow. */
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%d", (i * 37) % 100);
		assert_int_equal(gq_workqueue_add(q, key), GQ_OK);
	}
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%d", (i * 37) % 100);
		assert_int_equal(gq_workqueue_add(q, key), GQ_OK); /* duplicates: no effect */
	}
	assert_int_equal(gq_workqueue_len(q), 100);
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%d", (i * 37) % 100);
		expect_key(q, key);
	}
	expect_empty(q);
	gq_workqueue_free(q);
}

/* Many keys through the queue: the table and ring grow and shrink. */
static void test_many_keys(void **state)
{
	struct fake_clock c = {0};
	struct gq_workqueue *q = new_fake(&c, 0, 0, 0, 0);
	char key[32], *k;
	int i, round;

	(void)state;
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 20000; i++) {
			snprintf(key, sizeof(key), "ns-%d/obj", i);
			assert_int_equal(gq_workqueue_add(q, key), GQ_OK);
		}
		assert_int_equal(gq_workqueue_len(q), 20000);
		for (i = 0; i < 20000; i++) {
			snprintf(key, sizeof(key), "ns-%d/obj", i);
			assert_int_equal(gq_workqueue_get(q, &k, 0), GQ_OK);
			assert_string_equal(k, key);
			/* Re-adding a processing key marks it dirty but not queued. */
			if (i % 1000 == 0)
				assert_int_equal(gq_workqueue_add(q, k), GQ_OK);
			assert_int_equal(gq_workqueue_done(q, k), GQ_OK);
			free(k);
		}
		assert_int_equal(gq_workqueue_len(q), 20);
		for (i = 0; i < 20; i++) {
			snprintf(key, sizeof(key), "ns-%d/obj", i * 1000);
			expect_key(q, key);
		}
		expect_empty(q);
	}
	gq_workqueue_free(q);
}

static void test_invalid_keys(void **state)
{
	struct gq_workqueue *q;
	char big[GQ_WORKQUEUE_KEY_MAX + 2];

	(void)state;
	assert_int_equal(gq_workqueue_new(&q, NULL), GQ_OK);
	assert_int_equal(gq_workqueue_add(q, NULL), GQ_EINVAL);
	assert_int_equal(gq_workqueue_add(q, ""), GQ_EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(gq_workqueue_add(q, big), GQ_EINVAL);
	assert_int_equal(gq_workqueue_add_after(q, big, 10), GQ_EINVAL);
	assert_int_equal(gq_workqueue_add_rate_limited(q, big, NULL), GQ_EINVAL);
	assert_int_equal(gq_workqueue_done(q, big), GQ_EINVAL);
	assert_int_equal(gq_workqueue_len(q), 0);
	/* Exactly GQ_WORKQUEUE_KEY_MAX bytes is accepted and round-trips. */
	big[GQ_WORKQUEUE_KEY_MAX] = '\0';
	assert_int_equal(gq_workqueue_add(q, big), GQ_OK);
	expect_key(q, big);
	gq_workqueue_free(q);
	gq_workqueue_free(NULL);
}

static void test_invalid_opts(void **state)
{
	struct gq_workqueue_opts o = {0};
	struct gq_workqueue *q = (struct gq_workqueue *)1;

	(void)state;
	o.base_backoff_ms = 10;
	o.max_backoff_ms = 5;
	assert_int_equal(gq_workqueue_new(&q, &o), GQ_EINVAL);
	assert_null(q);
	o.base_backoff_ms = -1;
	o.max_backoff_ms = 0;
	assert_int_equal(gq_workqueue_new(&q, &o), GQ_EINVAL);
	o.base_backoff_ms = 0;
	o.burst = -1;
	assert_int_equal(gq_workqueue_new(&q, &o), GQ_EINVAL);
	o.burst = 0;
	o.qps = GQ_WORKQUEUE_QPS_MAX + 1;
	assert_int_equal(gq_workqueue_new(&q, &o), GQ_EINVAL);
	o.qps = -1; /* bucket disabled: valid */
	assert_int_equal(gq_workqueue_new(&q, &o), GQ_OK);
	gq_workqueue_free(q);
}

/* ---- delayed adds ------------------------------------------------------------------- */

static void test_add_after_order(void **state)
{
	struct fake_clock c = {1000};
	struct gq_workqueue *q = new_fake(&c, 0, 0, 0, 0);
	struct gq_workqueue_stats st;

	(void)state;
	assert_int_equal(gq_workqueue_add_after(q, "x", 300), GQ_OK);
	assert_int_equal(gq_workqueue_add_after(q, "y", 100), GQ_OK);
	assert_int_equal(gq_workqueue_add_after(q, "z", 200), GQ_OK);
	assert_int_equal(gq_workqueue_add_after(q, "w", 200), GQ_OK); /* same due as z */
	assert_int_equal(gq_workqueue_len(q), 0);
	gq_workqueue_stats(q, &st);
	assert_int_equal(st.delayed, 4);
	assert_int_equal(gq_workqueue_next_due_ms(q), 100);
	expect_empty(q);
	c.now += 99;
	expect_empty(q);
	assert_int_equal(gq_workqueue_next_due_ms(q), 1);
	c.now += 1;
	expect_key(q, "y");
	expect_empty(q);
	c.now += 100;
	/* Equal due times come out in insertion order. */
	expect_key(q, "z");
	expect_key(q, "w");
	c.now += 500;
	assert_int_equal(gq_workqueue_next_due_ms(q), 0);
	expect_key(q, "x");
	expect_empty(q);
	assert_int_equal(gq_workqueue_next_due_ms(q), -1);
	/* A non-positive delay is an immediate add. */
	assert_int_equal(gq_workqueue_add_after(q, "now", 0), GQ_OK);
	assert_int_equal(gq_workqueue_len(q), 1);
	expect_key(q, "now");
	gq_workqueue_free(q);
}

static void test_add_after_earlier_wins(void **state)
{
	struct fake_clock c = {0};
	struct gq_workqueue *q = new_fake(&c, 0, 0, 0, 0);
	struct gq_workqueue_stats st;

	(void)state;
	assert_int_equal(gq_workqueue_add_after(q, "other", 150), GQ_OK);
	assert_int_equal(gq_workqueue_add_after(q, "k", 500), GQ_OK);
	assert_int_equal(gq_workqueue_add_after(q, "k", 100), GQ_OK); /* earlier: wins */
	assert_int_equal(gq_workqueue_add_after(q, "k", 400), GQ_OK); /* later: ignored */
	gq_workqueue_stats(q, &st);
	assert_int_equal(st.delayed, 2);
	assert_int_equal(gq_workqueue_next_due_ms(q), 100);
	c.now = 99;
	expect_empty(q);
	c.now = 100;
	expect_key(q, "k");
	c.now = 150;
	expect_key(q, "other");
	/* Nothing left for k at 400 or 500. */
	c.now = 1000;
	expect_empty(q);
	gq_workqueue_stats(q, &st);
	assert_int_equal(st.delayed, 0);

	/* A delayed entry is kept even when the key is ready now: it fires
	 * again after the ready copy was processed. */
	assert_int_equal(gq_workqueue_add(q, "r"), GQ_OK);
	assert_int_equal(gq_workqueue_add_after(q, "r", 50), GQ_OK);
	expect_key(q, "r");
	expect_empty(q);
	c.now += 50;
	expect_key(q, "r");
	/* A delayed key due while it is processing becomes dirty, not concurrent. */
	assert_int_equal(gq_workqueue_add(q, "p"), GQ_OK);
	assert_int_equal(gq_workqueue_add_after(q, "p", 10), GQ_OK);
	{
		char *k;

		assert_int_equal(gq_workqueue_get(q, &k, 0), GQ_OK);
		c.now += 10;
		expect_empty(q);
		assert_int_equal(gq_workqueue_done(q, k), GQ_OK);
		free(k);
	}
	expect_key(q, "p");
	expect_empty(q);
	gq_workqueue_free(q);
}

/* ---- rate limiting ------------------------------------------------------------------- */

/* One failure round: rate-limited add, then check the key appears exactly
 * after `want` ms on the fake clock. */
static void fail_once(struct gq_workqueue *q, struct fake_clock *c, const char *key, int64_t want)
{
	int64_t d = -1;

	assert_int_equal(gq_workqueue_add_rate_limited(q, key, &d), GQ_OK);
	assert_int_equal(d, want);
	assert_int_equal(gq_workqueue_next_due_ms(q), want);
	c->now += want - 1;
	expect_empty(q);
	c->now += 1;
	expect_key(q, key);
}

static void test_backoff_sequence(void **state)
{
	static const int64_t want[] = {5, 10, 20, 40, 80, 160, 200, 200, 200};
	struct fake_clock c = {1000};
	struct gq_workqueue *q = new_fake(&c, 5, 200, -1, 0);
	struct gq_workqueue_stats st;
	size_t i;

	(void)state;
	for (i = 0; i < GQ_ARRAY_LEN(want); i++) {
		fail_once(q, &c, "team-a", want[i]);
		assert_int_equal(gq_workqueue_num_requeues(q, "team-a"), i + 1);
	}
	/* Other keys have their own counters. */
	fail_once(q, &c, "team-b", 5);
	gq_workqueue_stats(q, &st);
	assert_int_equal(st.retries_total, GQ_ARRAY_LEN(want) + 1);
	gq_workqueue_free(q);
}

static void test_backoff_defaults_capped(void **state)
{
	struct fake_clock c = {0};
	struct gq_workqueue *q = new_fake(&c, 0, 0, -1, 0);
	int64_t d = 0, expect = GQ_WORKQUEUE_DEFAULT_BASE_MS;
	int i;

	(void)state;
	/* 100 failures: 5 ms doubling up to the 300 s default, no overflow. */
	for (i = 0; i < 100; i++) {
		assert_int_equal(gq_workqueue_add_rate_limited(q, "k", &d), GQ_OK);
		assert_int_equal(d, expect);
		expect = expect * 2 > GQ_WORKQUEUE_DEFAULT_MAX_MS ? GQ_WORKQUEUE_DEFAULT_MAX_MS
								  : expect * 2;
	}
	assert_int_equal(d, GQ_WORKQUEUE_DEFAULT_MAX_MS);
	assert_int_equal(gq_workqueue_num_requeues(q, "k"), 100);
	/* The delayed entry keeps its first (earliest) due time. */
	assert_int_equal(gq_workqueue_next_due_ms(q), GQ_WORKQUEUE_DEFAULT_BASE_MS);
	gq_workqueue_free(q);
}

static void test_forget_resets(void **state)
{
	struct fake_clock c = {0};
	struct gq_workqueue *q = new_fake(&c, 5, 1000, -1, 0);

	(void)state;
	fail_once(q, &c, "k", 5);
	fail_once(q, &c, "k", 10);
	fail_once(q, &c, "k", 20);
	assert_int_equal(gq_workqueue_num_requeues(q, "k"), 3);
	gq_workqueue_forget(q, "k");
	assert_int_equal(gq_workqueue_num_requeues(q, "k"), 0);
	fail_once(q, &c, "k", 5);
	assert_int_equal(gq_workqueue_num_requeues(q, "k"), 1);
	gq_workqueue_forget(q, "unknown");
	gq_workqueue_forget(q, NULL);
	assert_int_equal(gq_workqueue_num_requeues(q, "unknown"), 0);
	gq_workqueue_free(q);
}

static void test_token_bucket(void **state)
{
	/* qps 10, burst 3: 3 tokens, then one every 100 ms. */
	static const int64_t want[] = {1, 1, 1, 100, 200, 300};
	struct fake_clock c = {5000};
	struct gq_workqueue *q = new_fake(&c, 1, 1000, 10, 3);
	char key[16];
	int64_t d;
	size_t i;

	(void)state;
	for (i = 0; i < GQ_ARRAY_LEN(want); i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		assert_int_equal(gq_workqueue_add_rate_limited(q, key, &d), GQ_OK);
		assert_int_equal(d, want[i]);
	}
	/* The burst comes out after the 1 ms backoff, the rest one by one. */
	c.now += 1;
	expect_key(q, "k0");
	expect_key(q, "k1");
	expect_key(q, "k2");
	expect_empty(q);
	c.now += 99;
	expect_key(q, "k3");
	expect_empty(q);
	c.now += 100;
	expect_key(q, "k4");
	c.now += 100;
	expect_key(q, "k5");
	expect_empty(q);
	/* At t+300 the debt is repaid; the next token is 100 ms away. */
	assert_int_equal(gq_workqueue_add_rate_limited(q, "k6", &d), GQ_OK);
	assert_int_equal(d, 100);
	/* A long idle period refills the bucket to its burst, not beyond. */
	c.now += 100000;
	for (i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "m%zu", i);
		assert_int_equal(gq_workqueue_add_rate_limited(q, key, &d), GQ_OK);
		assert_int_equal(d, 1);
	}
	assert_int_equal(gq_workqueue_add_rate_limited(q, "m3", &d), GQ_OK);
	assert_int_equal(d, 100);
	/* The larger of backoff and bucket delay wins. */
	c.now += 100000;
	for (i = 0; i < 3; i++)
		assert_int_equal(gq_workqueue_add_rate_limited(q, "slow", &d), GQ_OK);
	assert_int_equal(d, 4); /* backoff 1, 2, 4; bucket 0 */
	assert_int_equal(gq_workqueue_add_rate_limited(q, "slow", &d), GQ_OK);
	assert_int_equal(d, 100); /* backoff 8, bucket 100 */
	c.now += 100000;
	assert_int_equal(gq_workqueue_add_rate_limited(q, "slow", &d), GQ_OK);
	assert_int_equal(d, 16); /* backoff 16, bucket 0 */
	gq_workqueue_free(q);
}

/* ---- stats ----------------------------------------------------------------------------- */

static void test_stats_wait(void **state)
{
	struct fake_clock c = {100};
	struct gq_workqueue *q = new_fake(&c, 0, 0, 0, 0);
	struct gq_workqueue_stats st;

	(void)state;
	gq_workqueue_stats(q, &st);
	assert_int_equal(st.oldest_wait_ms, 0);
	assert_int_equal(gq_workqueue_add(q, "a"), GQ_OK);
	c.now += 30;
	assert_int_equal(gq_workqueue_add(q, "b"), GQ_OK);
	c.now += 20;
	gq_workqueue_stats(q, &st);
	assert_int_equal(st.depth, 2);
	assert_int_equal(st.oldest_wait_ms, 50);
	expect_key(q, "a"); /* waited 50 */
	gq_workqueue_stats(q, &st);
	assert_int_equal(st.oldest_wait_ms, 20);
	c.now += 5;
	expect_key(q, "b"); /* waited 25 */
	gq_workqueue_stats(q, &st);
	assert_int_equal(st.wait_ms_sum, 75);
	assert_int_equal(st.gets_total, 2);
	assert_int_equal(st.depth, 0);
	assert_int_equal(st.oldest_wait_ms, 0);
	gq_workqueue_free(q);
}

/* ---- blocking behaviour (short real timeouts) ------------------------------------------ */

static void test_get_timeout(void **state)
{
	struct gq_workqueue *q;
	int64_t t0, el;
	char *k = (char *)1;

	(void)state;
	assert_int_equal(gq_workqueue_new(&q, NULL), GQ_OK);
	t0 = real_ms();
	assert_int_equal(gq_workqueue_get(q, &k, 40), GQ_WORKQUEUE_TIMEOUT);
	el = real_ms() - t0;
	assert_null(k);
	assert_true(el >= 39);
	assert_true(el < 2000);
	/* A delayed key that falls due during the wait is returned. */
	t0 = real_ms();
	assert_int_equal(gq_workqueue_add_after(q, "d", 30), GQ_OK);
	assert_int_equal(gq_workqueue_get(q, &k, 5000), GQ_OK);
	el = real_ms() - t0;
	assert_string_equal(k, "d");
	assert_true(el >= 29);
	assert_true(el < 2000);
	assert_int_equal(gq_workqueue_done(q, k), GQ_OK);
	free(k);
	gq_workqueue_free(q);
}

struct getter {
	struct gq_workqueue *q;
	int64_t timeout_ms;
	int rc;
	char *key;
};

static void *getter_main(void *arg)
{
	struct getter *g = arg;

	g->rc = gq_workqueue_get(g->q, &g->key, g->timeout_ms);
	return NULL;
}

static void test_add_wakes_getter(void **state)
{
	struct getter g = {0};
	pthread_t th;

	(void)state;
	assert_int_equal(gq_workqueue_new(&g.q, NULL), GQ_OK);
	g.timeout_ms = -1;
	assert_int_equal(pthread_create(&th, NULL, getter_main, &g), 0);
	sleep_ms(20);
	assert_int_equal(gq_workqueue_add(g.q, "wake"), GQ_OK);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(g.rc, GQ_OK);
	assert_string_equal(g.key, "wake");
	assert_int_equal(gq_workqueue_done(g.q, g.key), GQ_OK);
	free(g.key);
	gq_workqueue_free(g.q);
}

static void test_shutdown_wakes_getter(void **state)
{
	struct getter g = {0};
	pthread_t th;
	int64_t t0;

	(void)state;
	assert_int_equal(gq_workqueue_new(&g.q, NULL), GQ_OK);
	g.timeout_ms = -1;
	g.key = (char *)1;
	/* Delayed work must not keep the getter asleep past shutdown. */
	assert_int_equal(gq_workqueue_add_after(g.q, "later", 60000), GQ_OK);
	t0 = real_ms();
	assert_int_equal(pthread_create(&th, NULL, getter_main, &g), 0);
	sleep_ms(20);
	assert_int_equal(gq_workqueue_shutting_down(g.q), 0);
	gq_workqueue_shutdown(g.q);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(real_ms() - t0 < 5000);
	assert_int_equal(g.rc, GQ_WORKQUEUE_SHUTDOWN);
	assert_null(g.key);
	assert_int_equal(gq_workqueue_shutting_down(g.q), 1);
	assert_int_equal(gq_workqueue_next_due_ms(g.q), -1);
	gq_workqueue_free(g.q);
}

static void test_shutdown_drains(void **state)
{
	struct fake_clock c = {0};
	struct gq_workqueue *q = new_fake(&c, 0, 0, 0, 0);
	char *k, *p;
	int64_t d = -1;

	(void)state;
	assert_int_equal(gq_workqueue_add(q, "p"), GQ_OK);
	assert_int_equal(gq_workqueue_get(q, &p, 0), GQ_OK);
	assert_int_equal(gq_workqueue_add(q, "p"), GQ_OK); /* dirty */
	assert_int_equal(gq_workqueue_add(q, "a"), GQ_OK);
	assert_int_equal(gq_workqueue_add(q, "b"), GQ_OK);
	assert_int_equal(gq_workqueue_add_after(q, "delayed", 10), GQ_OK);
	gq_workqueue_shutdown(q);
	gq_workqueue_shutdown(q); /* idempotent */
	/* New work is dropped. */
	assert_int_equal(gq_workqueue_add(q, "c"), GQ_OK);
	assert_int_equal(gq_workqueue_add_after(q, "c", 5), GQ_OK);
	assert_int_equal(gq_workqueue_add_rate_limited(q, "c", &d), GQ_OK);
	assert_int_equal(d, 0);
	assert_int_equal(gq_workqueue_num_requeues(q, "c"), 0);
	assert_int_equal(gq_workqueue_len(q), 2);
	c.now += 100;
	/* Ready keys drain; the dirty key accepted before shutdown follows done. */
	expect_key(q, "a");
	assert_int_equal(gq_workqueue_done(q, p), GQ_OK);
	free(p);
	expect_key(q, "b");
	expect_key(q, "p");
	k = (char *)1;
	assert_int_equal(gq_workqueue_get(q, &k, 0), GQ_WORKQUEUE_SHUTDOWN);
	assert_null(k);
	assert_int_equal(gq_workqueue_get(q, &k, -1), GQ_WORKQUEUE_SHUTDOWN);
	gq_workqueue_free(q);
}

/* ---- stress ------------------------------------------------------------------------------ */

#define STRESS_KEYS   3000
#define STRESS_ROUNDS 4
#define STRESS_HOT    4 /* keys 0..3 are also re-added after every add */

struct stress {
	struct gq_workqueue *q;
	atomic_uint add_seq[STRESS_KEYS];   /* bumped by producers before each add */
	atomic_uint seen_seq[STRESS_KEYS];  /* add_seq observed at the latest processing */
	atomic_int busy[STRESS_KEYS];	    /* consumers processing the key now */
	atomic_uint processed[STRESS_KEYS]; /* times processed */
	atomic_int violations;		    /* concurrent processing, bad keys, bad rcs */
	atomic_int producer_id;
};

static void stress_key(char *buf, size_t n, unsigned i)
{
	snprintf(buf, n, "ns-%u/obj-%u", i % 17, i);
}

static void *stress_producer(void *arg)
{
	struct stress *s = arg;
	int id = atomic_fetch_add(&s->producer_id, 1);
	char key[64];
	unsigned r, j, i;
	int rc;

	for (r = 0; r < STRESS_ROUNDS; r++) {
		for (j = 0; j < STRESS_KEYS; j++) {
			i = id == 0 ? j : STRESS_KEYS - 1 - j;
			stress_key(key, sizeof(key), i);
			atomic_fetch_add(&s->add_seq[i], 1);
			if ((i + r) % 10 == 0)
				rc = gq_workqueue_add_after(s->q, key, 1 + (int64_t)(i % 3));
			else
				rc = gq_workqueue_add(s->q, key);
			if (rc != GQ_OK)
				atomic_fetch_add(&s->violations, 1);
			/* A small hot set is re-added constantly, so adds race with
			 * its processing. */
			i = (j * 7 + (unsigned)id) % STRESS_HOT;
			stress_key(key, sizeof(key), i);
			atomic_fetch_add(&s->add_seq[i], 1);
			if (gq_workqueue_add(s->q, key) != GQ_OK)
				atomic_fetch_add(&s->violations, 1);
			/* Pace the producers so the consumers keep up and the
			 * ready queue stays short. */
			if (j % 16 == 0)
				sleep_us(50);
		}
	}
	return NULL;
}

/* Parses the index out of "ns-X/obj-I"; returns -1 on a malformed key. */
static long stress_index(const char *key)
{
	const char *p = strstr(key, "/obj-");
	char *end;
	long v;

	if (p == NULL)
		return -1;
	v = strtol(p + 5, &end, 10);
	if (*end != '\0' || v < 0 || v >= STRESS_KEYS)
		return -1;
	return v;
}

static void *stress_consumer(void *arg)
{
	struct stress *s = arg;
	unsigned seq, old;
	char *key;
	long i;

	while (gq_workqueue_get(s->q, &key, -1) == GQ_OK) {
		i = stress_index(key);
		if (i < 0) {
			atomic_fetch_add(&s->violations, 1);
			free(key);
			continue;
		}
		if (atomic_fetch_add(&s->busy[i], 1) != 0)
			atomic_fetch_add(&s->violations, 1);
		seq = atomic_load(&s->add_seq[i]);
		old = atomic_load(&s->seen_seq[i]);
		if (seq > old)
			atomic_store(&s->seen_seq[i], seq);
		atomic_fetch_add(&s->processed[i], 1);
		/* Widen the processing window so adds land while it is busy. */
		if (i < STRESS_HOT)
			sleep_us(200);
		/* Simulate failures on some keys: up to two backoff retries. */
		if (i % 13 == 0 && gq_workqueue_num_requeues(s->q, key) < 2)
			gq_workqueue_add_rate_limited(s->q, key, NULL);
		else
			gq_workqueue_forget(s->q, key);
		atomic_fetch_sub(&s->busy[i], 1);
		if (gq_workqueue_done(s->q, key) != GQ_OK)
			atomic_fetch_add(&s->violations, 1);
		free(key);
	}
	return NULL;
}

/* Consumer for the single-key test: long processing of whatever it gets. */
static void *solo_consumer(void *arg)
{
	struct stress *s = arg;
	char *key;

	while (gq_workqueue_get(s->q, &key, -1) == GQ_OK) {
		if (atomic_fetch_add(&s->busy[0], 1) != 0)
			atomic_fetch_add(&s->violations, 1);
		atomic_store(&s->seen_seq[0], atomic_load(&s->add_seq[0]));
		atomic_fetch_add(&s->processed[0], 1);
		sleep_us(300);
		atomic_fetch_sub(&s->busy[0], 1);
		if (gq_workqueue_done(s->q, key) != GQ_OK)
			atomic_fetch_add(&s->violations, 1);
		free(key);
	}
	return NULL;
}

/* One key added over and over while two idle workers wait: it must never
 * be handed to the second worker while the first still processes it. */
static void test_single_key_never_concurrent(void **state)
{
	struct gq_workqueue_stats st;
	pthread_t cons[2];
	struct stress *s;
	int64_t t0;
	int n;

	(void)state;
	s = gq_calloc(1, sizeof(*s));
	assert_int_equal(gq_workqueue_new(&s->q, NULL), GQ_OK);
	for (n = 0; n < 2; n++)
		assert_int_equal(pthread_create(&cons[n], NULL, solo_consumer, s), 0);
	for (n = 0; n < 300; n++) {
		atomic_fetch_add(&s->add_seq[0], 1);
		assert_int_equal(gq_workqueue_add(s->q, "solo"), GQ_OK);
		sleep_us(100);
	}
	t0 = real_ms();
	for (;;) {
		gq_workqueue_stats(s->q, &st);
		if (st.depth == 0 && st.processing == 0)
			break;
		assert_int_equal(atomic_load(&s->violations), 0);
		assert_true(real_ms() - t0 < 30000);
		sleep_ms(1);
	}
	gq_workqueue_shutdown(s->q);
	for (n = 0; n < 2; n++)
		assert_int_equal(pthread_join(cons[n], NULL), 0);
	assert_int_equal(atomic_load(&s->violations), 0);
	assert_int_equal(atomic_load(&s->seen_seq[0]), 300);
	assert_true(atomic_load(&s->processed[0]) >= 1);
	gq_workqueue_free(s->q);
	free(s);
}

static void test_stress(void **state)
{
	struct gq_workqueue_opts o = {0};
	struct gq_workqueue_stats st;
	pthread_t prod[2], cons[2];
	struct stress *s;
	int64_t t0;
	unsigned i, total = 0;
	int n;

	(void)state;
	s = gq_calloc(1, sizeof(*s));
	o.base_backoff_ms = 1;
	o.max_backoff_ms = 4;
	o.qps = -1;
	assert_int_equal(gq_workqueue_new(&s->q, &o), GQ_OK);
	for (n = 0; n < 2; n++)
		assert_int_equal(pthread_create(&cons[n], NULL, stress_consumer, s), 0);
	for (n = 0; n < 2; n++)
		assert_int_equal(pthread_create(&prod[n], NULL, stress_producer, s), 0);
	for (n = 0; n < 2; n++)
		assert_int_equal(pthread_join(prod[n], NULL), 0);
	/* Wait until nothing is ready, delayed or in progress. */
	t0 = real_ms();
	for (;;) {
		gq_workqueue_stats(s->q, &st);
		if (st.depth == 0 && st.delayed == 0 && st.processing == 0)
			break;
		assert_int_equal(atomic_load(&s->violations), 0);
		assert_true(real_ms() - t0 < 30000);
		sleep_ms(2);
	}
	gq_workqueue_shutdown(s->q);
	for (n = 0; n < 2; n++)
		assert_int_equal(pthread_join(cons[n], NULL), 0);

	assert_int_equal(atomic_load(&s->violations), 0);
	for (i = 0; i < STRESS_KEYS; i++) {
		if (i >= STRESS_HOT)
			assert_int_equal(atomic_load(&s->add_seq[i]), 2 * STRESS_ROUNDS);
		/* Processed at least once after its last add. */
		assert_int_equal(atomic_load(&s->seen_seq[i]), atomic_load(&s->add_seq[i]));
		assert_true(atomic_load(&s->processed[i]) >= 1);
		total += atomic_load(&s->processed[i]);
	}
	gq_workqueue_stats(s->q, &st);
	assert_int_equal(st.gets_total, total);
	assert_true(st.retries_total > 0);
	assert_true(st.adds_total <= (uint64_t)4 * STRESS_ROUNDS * STRESS_KEYS + st.retries_total);
	gq_workqueue_free(s->q);
	free(s);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dedupe),
		cmocka_unit_test(test_touched),
		cmocka_unit_test(test_dirty_requeues_once),
		cmocka_unit_test(test_fifo_order),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_invalid_keys),
		cmocka_unit_test(test_invalid_opts),
		cmocka_unit_test(test_add_after_order),
		cmocka_unit_test(test_add_after_earlier_wins),
		cmocka_unit_test(test_backoff_sequence),
		cmocka_unit_test(test_backoff_defaults_capped),
		cmocka_unit_test(test_forget_resets),
		cmocka_unit_test(test_token_bucket),
		cmocka_unit_test(test_stats_wait),
		cmocka_unit_test(test_get_timeout),
		cmocka_unit_test(test_add_wakes_getter),
		cmocka_unit_test(test_shutdown_wakes_getter),
		cmocka_unit_test(test_shutdown_drains),
		cmocka_unit_test(test_single_key_never_concurrent),
		cmocka_unit_test(test_stress),
	};
	/* clang-format on */
	return cmocka_run_group_tests_name("workqueue", tests, NULL, NULL);
}
