/*
 * workqueue.c - de-duplicating, rate-limited work queue (see workqueue.h).
 *
 * Data structures, all guarded by one mutex:
 *  - a chained hash table of items, one per key that has any state
 *    (ready, processing, dirty, delayed, or a non-zero failure count);
 *    an item with no state left is freed at once;
 *  - a ring buffer (FIFO) of ready items;
 *  - a binary min-heap of delayed items ordered by (due time, sequence),
 *    each item remembering its heap index so an earlier due time can be
 *    applied in O(log n);
 *  - a token bucket counted in milli-tokens, so that integer qps gives
 *    exact integer arithmetic (qps milli-tokens per millisecond).
 * Every operation is O(1) or O(log n) amortised; nothing scans the queue.
 */
#include "workqueue.h"

#include "gq.h"
#include "hmap.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEAP_NONE    SIZE_MAX /* heap_idx of an item that is not delayed */
#define RING_MIN     16	      /* smallest ring buffer (slots, power of two) */
#define MILLI_TOKENS 1000     /* token bucket units per token */

/* One key and its state; lives in the hash table while any state is set. */
struct wq_item {
	struct gq_hmap_node node; /* first: the table's link */
	int64_t due_ms;		  /* due time while delayed (heap_idx != HEAP_NONE) */
	uint64_t seq;		  /* delay-heap tie breaker: insertion order */
	int64_t added_ms;	  /* when the key last became pending (queue latency) */
	size_t heap_idx;	  /* index in the delay heap, or HEAP_NONE */
	unsigned failures;	  /* rate-limited adds since the last forget */
	bool queued;		  /* in the ready ring */
	bool processing;	  /* handed out by get, not yet done */
	bool dirty;		  /* added while processing: re-queue on done */
	bool touched;		  /* added (not only after a delay) since last handed out */
	bool was_touched;	  /* touched when last handed out */
	size_t len;		  /* strlen(key) */
	char key[];		  /* NUL-terminated key */
};

struct gq_workqueue {
	pthread_mutex_t mu;
	pthread_cond_t cond; /* signalled when a key gets ready, the delay heap top
				changes, or on shutdown; uses CLOCK_MONOTONIC */

	struct gq_hmap items; /* key -> item (hmap.h), seeded per queue */

	struct wq_item **ring; /* ready FIFO: ring[(head + i) & (ring_cap - 1)] */
	size_t ring_cap;       /* power of two */
	size_t ring_head;
	size_t ring_len;

	struct wq_item **heap; /* delayed items, min-heap on (due_ms, seq) */
	size_t heap_len;
	size_t heap_cap;
	uint64_t seq; /* next heap sequence number */

	int64_t base_ms; /* backoff base */
	int64_t max_ms;	 /* backoff cap */

	bool bucket_on;	       /* global token bucket enabled */
	int64_t qps;	       /* refill: qps milli-tokens per millisecond */
	int64_t bucket_cap;    /* burst in milli-tokens */
	int64_t bucket_tokens; /* current milli-tokens, negative when reserved ahead */
	int64_t bucket_last;   /* clock at the last refill */

	int64_t (*now_ms)(void *payload); /* injected clock or NULL */
	void *clock_payload;

	bool shutdown;
	size_t processing;

	uint64_t adds_total;
	uint64_t retries_total;
	uint64_t gets_total;
	int64_t wait_ms_sum;
};

/* ---- clock and arithmetic ------------------------------------------------ */

/* The queue's clock (injected or monotonic); called with the lock held. */
static int64_t clock_now(struct gq_workqueue *q)
{
	return q->now_ms != NULL ? q->now_ms(q->clock_payload) : gq_mono_ms();
}

/* a + b for b >= 0, saturating at INT64_MAX. */
static int64_t sat_add(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* ---- hash table ----------------------------------------------------------- */

static bool item_match(const struct gq_hmap_node *n, const char *key, size_t len)
{
	const struct wq_item *it = (const struct wq_item *)n;

	return it->len == len && memcmp(it->key, key, len) == 0;
}

/* Looks key up; returns the item (borrowed) or NULL. */
static struct wq_item *item_find(struct gq_workqueue *q, const char *key, size_t len)
{
	return (struct wq_item *)gq_hmap_find(&q->items, key, len, item_match);
}

/* Returns key's item, creating a stateless one if needed (owned by the table). */
static struct wq_item *item_get(struct gq_workqueue *q, const char *key, size_t len)
{
	struct wq_item *it = item_find(q, key, len);

	if (it != NULL)
		return it;
	it = gq_calloc(1, sizeof(*it) + len + 1);
	memcpy(it->key, key, len);
	it->len = len;
	it->heap_idx = HEAP_NONE;
	gq_hmap_insert(&q->items, &it->node, gq_hmap_hash(&q->items, key, len));
	return it;
}

/*
 * Unlinks and frees it when no state is left on it (not ready, processing,
 * dirty or delayed, and no failures); the table shrinks when sparse.
 */
static void item_release_if_idle(struct gq_workqueue *q, struct wq_item *it)
{
	if (it->queued || it->processing || it->dirty || it->heap_idx != HEAP_NONE ||
	    it->failures != 0)
		return;
	gq_hmap_unlink(&q->items, &it->node);
	free(it);
}

/* ---- ready ring ----------------------------------------------------------- */

/* Moves the ring's contents, in order, to a new array of n slots (n >= len). */
static void ring_resize(struct gq_workqueue *q, size_t n)
{
	struct wq_item **nr = gq_malloc(n * sizeof(*nr));
	size_t i;

	for (i = 0; i < q->ring_len; i++)
		nr[i] = q->ring[(q->ring_head + i) & (q->ring_cap - 1)];
	free(q->ring);
	q->ring = nr;
	q->ring_cap = n;
	q->ring_head = 0;
}

/* Appends it to the ready ring, doubling the ring when full. */
static void ring_push(struct gq_workqueue *q, struct wq_item *it)
{
	if (q->ring_len == q->ring_cap)
		ring_resize(q, q->ring_cap * 2);
	q->ring[(q->ring_head + q->ring_len) & (q->ring_cap - 1)] = it;
	q->ring_len++;
}

/* Removes and returns the oldest ready item (ring must not be empty). */
static struct wq_item *ring_pop(struct gq_workqueue *q)
{
	struct wq_item *it = q->ring[q->ring_head];

	q->ring_head = (q->ring_head + 1) & (q->ring_cap - 1);
	q->ring_len--;
	if (q->ring_cap > RING_MIN && q->ring_len < q->ring_cap / 8)
		ring_resize(q, q->ring_cap / 2);
	return it;
}

/* ---- delay heap ----------------------------------------------------------- */

/* Heap order: earlier due time first, insertion order among equals. */
static bool heap_less(const struct wq_item *a, const struct wq_item *b)
{
	return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

/* Stores it at heap slot i and records the index in the item. */
static void heap_set(struct gq_workqueue *q, size_t i, struct wq_item *it)
{
	q->heap[i] = it;
	it->heap_idx = i;
}

/* Restores heap order upwards from slot i (after insert or earlier due time). */
static void heap_sift_up(struct gq_workqueue *q, size_t i)
{
	struct wq_item *it = q->heap[i];

	while (i > 0 && heap_less(it, q->heap[(i - 1) / 2])) {
		heap_set(q, i, q->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(q, i, it);
}

/* Restores heap order downwards from slot i (after removing the top). */
static void heap_sift_down(struct gq_workqueue *q, size_t i)
{
	struct wq_item *it = q->heap[i];
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= q->heap_len)
			break;
		if (c + 1 < q->heap_len && heap_less(q->heap[c + 1], q->heap[c]))
			c++;
		if (!heap_less(q->heap[c], it))
			break;
		heap_set(q, i, q->heap[c]);
		i = c;
	}
	heap_set(q, i, it);
}

/* Inserts it into the delay heap, growing the array as needed. */
static void heap_push(struct gq_workqueue *q, struct wq_item *it)
{
	if (q->heap_len == q->heap_cap) {
		q->heap_cap = q->heap_cap ? q->heap_cap * 2 : 16;
		q->heap = gq_realloc(q->heap, q->heap_cap * sizeof(*q->heap));
	}
	heap_set(q, q->heap_len, it);
	q->heap_len++;
	heap_sift_up(q, q->heap_len - 1);
}

/* Removes and returns the earliest delayed item (heap must not be empty). */
static struct wq_item *heap_pop(struct gq_workqueue *q)
{
	struct wq_item *top = q->heap[0];

	q->heap_len--;
	if (q->heap_len > 0) {
		heap_set(q, 0, q->heap[q->heap_len]);
		heap_sift_down(q, 0);
	}
	top->heap_idx = HEAP_NONE;
	return top;
}

/* ---- core state transitions (lock held) ----------------------------------- */

/*
 * Makes it pending: nothing if it already is (queued or dirty), dirty if
 * it is being processed, otherwise appended to the ready ring.
 */
static void enqueue_locked(struct gq_workqueue *q, struct wq_item *it, int64_t now)
{
	if (it->queued || it->dirty)
		return;
	it->added_ms = now;
	q->adds_total++;
	if (it->processing) {
		it->dirty = true;
		return;
	}
	it->queued = true;
	ring_push(q, it);
	pthread_cond_signal(&q->cond);
}

/*
 * Schedules it for due time due (earliest wins). Wakes the getters when
 * the heap's earliest entry changed, so they shorten their waits.
 */
static void schedule_locked(struct gq_workqueue *q, struct wq_item *it, int64_t due)
{
	if (it->heap_idx != HEAP_NONE) {
		if (due >= it->due_ms)
			return;
		it->due_ms = due;
		heap_sift_up(q, it->heap_idx);
	} else {
		it->due_ms = due;
		it->seq = q->seq++;
		heap_push(q, it);
	}
	if (it->heap_idx == 0)
		pthread_cond_broadcast(&q->cond);
}

/* Moves every delayed item due at or before now to the ready ring. */
static void promote_due_locked(struct gq_workqueue *q, int64_t now)
{
	while (q->heap_len > 0 && q->heap[0]->due_ms <= now)
		enqueue_locked(q, heap_pop(q), now);
}

/* Per-key exponential backoff for a key that failed `failures` times. */
static int64_t backoff_ms(const struct gq_workqueue *q, unsigned failures)
{
	if (q->base_ms == 0)
		return 0;
	if (failures >= 62 || q->base_ms > (q->max_ms >> failures))
		return q->max_ms;
	return q->base_ms << failures;
}

/*
 * Takes one token from the global bucket at time now and returns how long
 * the caller must wait for it (0 when one was available). Like
 * golang.org/x/time/rate's Reserve: tokens may go negative, so successive
 * reservations queue up at 1/qps intervals.
 */
static int64_t bucket_reserve(struct gq_workqueue *q, int64_t now)
{
	int64_t elapsed, room;

	if (!q->bucket_on)
		return 0;
	if (now > q->bucket_last) {
		elapsed = now - q->bucket_last;
		room = q->bucket_cap - q->bucket_tokens;
		if (elapsed > room / q->qps)
			q->bucket_tokens = q->bucket_cap;
		else
			q->bucket_tokens += elapsed * q->qps;
		q->bucket_last = now;
	}
	q->bucket_tokens -= MILLI_TOKENS;
	if (q->bucket_tokens >= 0)
		return 0;
	return (-q->bucket_tokens + q->qps - 1) / q->qps;
}

/* Validates a caller's key and returns its length in *len. */
static int key_check(const char *key, size_t *len)
{
	if (key == NULL)
		return GQ_EINVAL;
	*len = strnlen(key, GQ_WORKQUEUE_KEY_MAX + 1);
	if (*len == 0 || *len > GQ_WORKQUEUE_KEY_MAX)
		return GQ_EINVAL;
	return GQ_OK;
}

/* ---- public API ------------------------------------------------------------ */

/*
 * Creates a queue from opts (NULL or zero fields = defaults) and stores
 * it in *out, owned by the caller. Returns GQ_OK or GQ_EINVAL.
 */
int gq_workqueue_new(struct gq_workqueue **out, const struct gq_workqueue_opts *opts)
{
	struct gq_workqueue_opts o = {0};
	struct gq_workqueue *q = NULL;
	pthread_condattr_t ca;
	int rc = GQ_EINVAL;

	*out = NULL;
	if (opts != NULL)
		o = *opts;
	if (o.base_backoff_ms == 0)
		o.base_backoff_ms = GQ_WORKQUEUE_DEFAULT_BASE_MS;
	if (o.max_backoff_ms == 0)
		o.max_backoff_ms = GQ_WORKQUEUE_DEFAULT_MAX_MS;
	if (o.qps == 0)
		o.qps = GQ_WORKQUEUE_DEFAULT_QPS;
	if (o.burst == 0)
		o.burst = GQ_WORKQUEUE_DEFAULT_BURST;
	if (o.base_backoff_ms < 0 || o.max_backoff_ms < o.base_backoff_ms || o.burst < 0 ||
	    o.qps > GQ_WORKQUEUE_QPS_MAX || o.burst > GQ_WORKQUEUE_BURST_MAX)
		goto out;

	q = gq_calloc(1, sizeof(*q));
	q->base_ms = o.base_backoff_ms;
	q->max_ms = o.max_backoff_ms;
	q->now_ms = o.now_ms;
	q->clock_payload = o.clock_payload;
	q->bucket_on = o.qps > 0;
	q->qps = o.qps > 0 ? o.qps : 1;
	q->bucket_cap = (int64_t)o.burst * MILLI_TOKENS;
	q->bucket_tokens = q->bucket_cap;
	q->bucket_last = clock_now(q);
	gq_hmap_init(&q->items,
		     (uint64_t)gq_mono_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)q);
	q->ring_cap = RING_MIN;
	q->ring = gq_malloc(q->ring_cap * sizeof(*q->ring));

	if (pthread_mutex_init(&q->mu, NULL) != 0)
		goto out_free;
	if (pthread_condattr_init(&ca) != 0)
		goto out_mutex;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&q->cond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		goto out_mutex;
	}
	pthread_condattr_destroy(&ca);
	*out = q;
	rc = GQ_OK;
	goto out;

out_mutex:
	pthread_mutex_destroy(&q->mu);
out_free:
	rc = GQ_EIO;
	free(q->ring);
	free(q);
out:
	return rc;
}

/* Frees q with every item; no other thread may be using q. */
void gq_workqueue_free(struct gq_workqueue *q)
{
	struct gq_hmap_node *n, *next;
	size_t i;

	if (q == NULL)
		return;
	for (n = gq_hmap_first(&q->items, &i); n != NULL; n = next) {
		next = gq_hmap_next(&q->items, &i, n);
		free(n); /* the item: node is its first member */
	}
	gq_hmap_free(&q->items);
	free(q->ring);
	free(q->heap);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

/* Makes key ready (see workqueue.h); key is copied. */
int gq_workqueue_add(struct gq_workqueue *q, const char *key)
{
	size_t len;
	int rc;

	if ((rc = key_check(key, &len)) != GQ_OK)
		return rc;
	pthread_mutex_lock(&q->mu);
	if (!q->shutdown) {
		struct wq_item *it = item_get(q, key, len);

		it->touched = true;
		enqueue_locked(q, it, clock_now(q));
	}
	pthread_mutex_unlock(&q->mu);
	return GQ_OK;
}

/* Adds key after delay_ms, earliest pending due time winning; key is copied. */
int gq_workqueue_add_after(struct gq_workqueue *q, const char *key, int64_t delay_ms)
{
	struct wq_item *it;
	int64_t now;
	size_t len;
	int rc;

	if ((rc = key_check(key, &len)) != GQ_OK)
		return rc;
	pthread_mutex_lock(&q->mu);
	if (q->shutdown)
		goto out_unlock;
	now = clock_now(q);
	it = item_get(q, key, len);
	if (delay_ms <= 0)
		enqueue_locked(q, it, now);
	else
		schedule_locked(q, it, sat_add(now, delay_ms));
out_unlock:
	pthread_mutex_unlock(&q->mu);
	return GQ_OK;
}

/*
 * Adds key after max(exponential backoff, token bucket delay) and counts
 * one more failure for it; key is copied. *delay_ms_out (optional) gets
 * the delay, 0 when the queue is shut down.
 */
int gq_workqueue_add_rate_limited(struct gq_workqueue *q, const char *key, int64_t *delay_ms_out)
{
	struct wq_item *it;
	int64_t now, delay = 0, bucket;
	size_t len;
	int rc;

	if ((rc = key_check(key, &len)) != GQ_OK)
		return rc;
	pthread_mutex_lock(&q->mu);
	if (q->shutdown)
		goto out_unlock;
	now = clock_now(q);
	it = item_get(q, key, len);
	it->touched = true; /* a failed pass is retried in full */
	delay = backoff_ms(q, it->failures);
	if (it->failures < UINT_MAX)
		it->failures++;
	bucket = bucket_reserve(q, now);
	if (bucket > delay)
		delay = bucket;
	q->retries_total++;
	if (delay <= 0)
		enqueue_locked(q, it, now);
	else
		schedule_locked(q, it, sat_add(now, delay));
out_unlock:
	pthread_mutex_unlock(&q->mu);
	if (delay_ms_out != NULL)
		*delay_ms_out = delay;
	return GQ_OK;
}

/* Resets key's failure count; unknown or invalid keys are ignored. */
void gq_workqueue_forget(struct gq_workqueue *q, const char *key)
{
	struct wq_item *it;
	size_t len;

	if (key_check(key, &len) != GQ_OK)
		return;
	pthread_mutex_lock(&q->mu);
	it = item_find(q, key, len);
	if (it != NULL) {
		it->failures = 0;
		item_release_if_idle(q, it);
	}
	pthread_mutex_unlock(&q->mu);
}

/* Returns key's failure count (0 for unknown or invalid keys). */
unsigned gq_workqueue_num_requeues(struct gq_workqueue *q, const char *key)
{
	struct wq_item *it;
	unsigned n = 0;
	size_t len;

	if (key_check(key, &len) != GQ_OK)
		return 0;
	pthread_mutex_lock(&q->mu);
	it = item_find(q, key, len);
	if (it != NULL)
		n = it->failures;
	pthread_mutex_unlock(&q->mu);
	return n;
}

/* Converts a CLOCK_MONOTONIC time in ms to a timespec for pthread_cond_timedwait. */
static struct timespec ms_to_timespec(int64_t ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	return ts;
}

/*
 * Pops the head of the ready ring and marks it processing; returns a heap
 * copy of its key, owned by the caller.
 */
static char *take_locked(struct gq_workqueue *q, int64_t now)
{
	struct wq_item *it = ring_pop(q);

	it->queued = false;
	it->processing = true;
	it->was_touched = it->touched;
	it->touched = false;
	q->processing++;
	q->gets_total++;
	if (now > it->added_ms)
		q->wait_ms_sum += now - it->added_ms;
	if (q->ring_len > 0)
		pthread_cond_signal(&q->cond);
	return gq_strndup(it->key, it->len);
}

/*
 * Waits up to timeout_ms (real time; < 0 forever, 0 poll) for a ready key,
 * promoting due delayed keys on each wake-up. On GQ_OK *key_out is a heap
 * string owned by the caller; otherwise NULL with GQ_WORKQUEUE_TIMEOUT or
 * GQ_WORKQUEUE_SHUTDOWN (shut down and nothing ready).
 */
int gq_workqueue_get(struct gq_workqueue *q, char **key_out, int64_t timeout_ms)
{
	int64_t now, real, wake, deadline = INT64_MAX;
	struct timespec ts;
	int rc;

	*key_out = NULL;
	if (timeout_ms >= 0)
		deadline = sat_add(gq_mono_ms(), timeout_ms);
	pthread_mutex_lock(&q->mu);
	for (;;) {
		now = clock_now(q);
		promote_due_locked(q, now);
		if (q->ring_len > 0) {
			*key_out = take_locked(q, now);
			rc = GQ_OK;
			break;
		}
		if (q->shutdown) {
			rc = GQ_WORKQUEUE_SHUTDOWN;
			break;
		}
		real = gq_mono_ms();
		if (real >= deadline) {
			rc = GQ_WORKQUEUE_TIMEOUT;
			break;
		}
		wake = deadline;
		if (q->heap_len > 0 && q->heap[0]->due_ms - now < wake - real)
			wake = real + (q->heap[0]->due_ms - now);
		if (wake == INT64_MAX) {
			pthread_cond_wait(&q->cond, &q->mu);
		} else {
			ts = ms_to_timespec(wake);
			pthread_cond_timedwait(&q->cond, &q->mu, &ts);
		}
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

/* See workqueue.h. */
bool gq_workqueue_touched(struct gq_workqueue *q, const char *key)
{
	struct wq_item *it;
	bool t = false;
	size_t len;

	if (key_check(key, &len) != GQ_OK)
		return false;
	pthread_mutex_lock(&q->mu);
	it = item_find(q, key, len);
	if (it != NULL && it->processing)
		t = it->was_touched;
	pthread_mutex_unlock(&q->mu);
	return t;
}

/* Ends processing of key, re-queueing it when it was added meanwhile. */
int gq_workqueue_done(struct gq_workqueue *q, const char *key)
{
	struct wq_item *it;
	size_t len;
	int rc;

	if ((rc = key_check(key, &len)) != GQ_OK)
		return rc;
	pthread_mutex_lock(&q->mu);
	it = item_find(q, key, len);
	if (it == NULL || !it->processing) {
		rc = GQ_ENOTFOUND;
		goto out_unlock;
	}
	it->processing = false;
	q->processing--;
	if (it->dirty) {
		it->dirty = false;
		it->queued = true;
		ring_push(q, it);
		pthread_cond_signal(&q->cond);
	}
	item_release_if_idle(q, it);
out_unlock:
	pthread_mutex_unlock(&q->mu);
	return rc;
}

/* Stops accepting keys, drops delayed ones and wakes every getter. */
void gq_workqueue_shutdown(struct gq_workqueue *q)
{
	size_t i, n;

	pthread_mutex_lock(&q->mu);
	q->shutdown = true;
	n = q->heap_len;
	q->heap_len = 0;
	for (i = 0; i < n; i++) {
		q->heap[i]->heap_idx = HEAP_NONE;
		item_release_if_idle(q, q->heap[i]);
	}
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->mu);
}

/* Returns 1 once gq_workqueue_shutdown() was called, else 0. */
int gq_workqueue_shutting_down(struct gq_workqueue *q)
{
	int r;

	pthread_mutex_lock(&q->mu);
	r = q->shutdown;
	pthread_mutex_unlock(&q->mu);
	return r;
}

/* Number of ready keys. */
size_t gq_workqueue_len(struct gq_workqueue *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->ring_len;
	pthread_mutex_unlock(&q->mu);
	return n;
}

/* Milliseconds until the earliest delayed key is due, 0 if due, -1 if none. */
int64_t gq_workqueue_next_due_ms(struct gq_workqueue *q)
{
	int64_t d = -1, now;

	pthread_mutex_lock(&q->mu);
	if (q->heap_len > 0) {
		now = clock_now(q);
		d = q->heap[0]->due_ms > now ? q->heap[0]->due_ms - now : 0;
	}
	pthread_mutex_unlock(&q->mu);
	return d;
}

/* Snapshot of the counters; oldest_wait_ms is the age of the ring's head. */
void gq_workqueue_stats(struct gq_workqueue *q, struct gq_workqueue_stats *out)
{
	int64_t now;

	pthread_mutex_lock(&q->mu);
	out->adds_total = q->adds_total;
	out->retries_total = q->retries_total;
	out->gets_total = q->gets_total;
	out->depth = q->ring_len;
	out->delayed = q->heap_len;
	out->processing = q->processing;
	out->wait_ms_sum = q->wait_ms_sum;
	out->oldest_wait_ms = 0;
	if (q->ring_len > 0) {
		now = clock_now(q);
		if (now > q->ring[q->ring_head]->added_ms)
			out->oldest_wait_ms = now - q->ring[q->ring_head]->added_ms;
	}
	pthread_mutex_unlock(&q->mu);
}
