/*
 * workqueue.h - a de-duplicating, rate-limited work queue of string keys,
 * modelled on client-go's workqueue (RateLimitingInterface).
 *
 * Keys ("team" or "namespace/name") are queued at most once; a key handed
 * out by gq_workqueue_get() is "processing" until gq_workqueue_done(), and
 * is never handed out twice at the same time: an add while it is being
 * processed marks it dirty, and done() re-queues it once. Ready keys come
 * out in FIFO order. Delayed adds wait in a min-heap keyed by due time
 * (one entry per key, the earliest due time wins). Rate-limited adds are
 * delayed by max(per-key exponential backoff, global token bucket), like
 * client-go's DefaultControllerRateLimiter.
 *
 * Every function is thread-safe (one mutex + one condition variable per
 * queue) except gq_workqueue_free(), which the caller must call only when
 * no other thread uses the queue.
 *
 * Typical worker:
 *	while (gq_workqueue_get(q, &key, -1) == GQ_OK) {
 *		if (reconcile(key) == GQ_OK) gq_workqueue_forget(q, key);
 *		else gq_workqueue_add_rate_limited(q, key);
 *		gq_workqueue_done(q, key);
 *		free(key);
 *	}
 */
#ifndef GQ_WORKQUEUE_H
#define GQ_WORKQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest accepted key in bytes (excluding the NUL); longer keys: GQ_EINVAL. */
#define GQ_WORKQUEUE_KEY_MAX 512

/* Default limiter settings (client-go's, with a 300 s backoff cap). */
#define GQ_WORKQUEUE_DEFAULT_BASE_MS 5
#define GQ_WORKQUEUE_DEFAULT_MAX_MS  300000
#define GQ_WORKQUEUE_DEFAULT_QPS     10
#define GQ_WORKQUEUE_DEFAULT_BURST   100
/* Upper bounds accepted for qps and burst (keeps the bucket arithmetic exact). */
#define GQ_WORKQUEUE_QPS_MAX   1000000
#define GQ_WORKQUEUE_BURST_MAX 1000000

/*
 * Non-error results of gq_workqueue_get(). They are positive so they never
 * collide with the negative GQ_E* codes.
 */
enum gq_workqueue_result {
	GQ_WORKQUEUE_TIMEOUT = 1,  /* nothing became ready within timeout_ms */
	GQ_WORKQUEUE_SHUTDOWN = 2, /* queue shut down and no ready key is left */
};

/* Queue options; a zero-initialised struct (or NULL) means all defaults. */
struct gq_workqueue_opts {
	int64_t base_backoff_ms; /* first retry delay; 0 = 5 ms */
	int64_t max_backoff_ms;	 /* backoff cap; 0 = 300 000 ms; must be >= base */
	int qps;		 /* global token bucket refill per second; 0 = 10, <0 = no bucket */
	int burst;		 /* token bucket size; 0 = 100 */
	/* Clock in milliseconds (>= 0, never decreasing), called with the queue lock
	 * held; NULL = CLOCK_MONOTONIC. */
	int64_t (*now_ms)(void *clock_payload);
	void *clock_payload; /* passed to now_ms, borrowed */
};

/* Counters for metrics (workqueue_depth, workqueue_adds_total, ...). */
struct gq_workqueue_stats {
	uint64_t adds_total;	/* adds that made a key pending (duplicates not counted) */
	uint64_t retries_total; /* gq_workqueue_add_rate_limited() calls */
	uint64_t gets_total;	/* keys handed out by gq_workqueue_get() */
	size_t depth;		/* ready keys waiting for a worker (gq_workqueue_len) */
	size_t delayed;		/* keys waiting in the delay heap */
	size_t processing;	/* keys handed out and not yet done */
	int64_t oldest_wait_ms; /* how long the oldest ready key has waited; 0 when empty */
	int64_t wait_ms_sum;	/* total time handed-out keys waited between add and get */
};

struct gq_workqueue;

/*
 * Creates a queue. *out is owned by the caller (gq_workqueue_free).
 * opts may be NULL; it is copied. Returns GQ_OK or GQ_EINVAL for
 * inconsistent options (negative delays, max < base, qps/burst too big).
 */
int gq_workqueue_new(struct gq_workqueue **out, const struct gq_workqueue_opts *opts);

/* Frees the queue and every key in it; q may be NULL. No thread may use q. */
void gq_workqueue_free(struct gq_workqueue *q);

/*
 * Makes key ready. A key already queued is left where it is; a key being
 * processed is marked dirty and re-queued by gq_workqueue_done(). The key
 * is copied. After shutdown the key is silently dropped (GQ_OK).
 * Returns GQ_EINVAL for a NULL, empty or over-long key.
 */
int gq_workqueue_add(struct gq_workqueue *q, const char *key);

/*
 * Adds key once delay_ms has passed (delay_ms <= 0: like add). A key has
 * at most one delayed entry; an earlier due time replaces a later one, a
 * later one is ignored. The delayed entry is independent of the key being
 * queued or processed now. Dropped after shutdown.
 */
int gq_workqueue_add_after(struct gq_workqueue *q, const char *key, int64_t delay_ms);

/*
 * Adds key after its rate-limit delay: max(base * 2^failures capped at
 * max, global token bucket delay), then increments the key's failure
 * count. The chosen delay is stored in *delay_ms_out when it is not NULL.
 */
int gq_workqueue_add_rate_limited(struct gq_workqueue *q, const char *key, int64_t *delay_ms_out);

/* Resets key's failure count (call after a successful reconcile). */
void gq_workqueue_forget(struct gq_workqueue *q, const char *key);

/* Key's failure count (number of rate-limited adds since the last forget). */
unsigned gq_workqueue_num_requeues(struct gq_workqueue *q, const char *key);

/*
 * Waits for a ready key, first moving due delayed keys to the ready queue.
 * timeout_ms < 0 waits forever, 0 polls, > 0 waits that long (real time,
 * CLOCK_MONOTONIC, whatever clock the queue uses for due times).
 * Returns GQ_OK with *key_out a heap copy owned by the caller (free()),
 * GQ_WORKQUEUE_TIMEOUT, or GQ_WORKQUEUE_SHUTDOWN once the queue is shut
 * down and no ready key is left (ready keys are drained first). *key_out is
 * NULL unless GQ_OK. The caller must call gq_workqueue_done(key) later.
 */
int gq_workqueue_get(struct gq_workqueue *q, char **key_out, int64_t timeout_ms);

/*
 * Whether key, being processed, had been added with gq_workqueue_add or
 * gq_workqueue_add_rate_limited (an event, a retry) since it was last handed
 * out, rather than only coming due after gq_workqueue_add_after (a periodic
 * pass). false for a key not being processed.
 */
bool gq_workqueue_touched(struct gq_workqueue *q, const char *key);

/*
 * Ends processing of key; re-queues it if it was added meanwhile (even
 * after shutdown, so accepted work is not lost). Returns GQ_ENOTFOUND if
 * key was not being processed.
 */
int gq_workqueue_done(struct gq_workqueue *q, const char *key);

/*
 * Shuts the queue down: later adds are dropped, delayed keys are
 * discarded, and every blocked getter wakes. Getters still receive the
 * keys already ready, then GQ_WORKQUEUE_SHUTDOWN. Idempotent.
 */
void gq_workqueue_shutdown(struct gq_workqueue *q);

/* Whether gq_workqueue_shutdown() was called. */
int gq_workqueue_shutting_down(struct gq_workqueue *q);

/* Number of ready keys (not counting delayed or processing ones). */
size_t gq_workqueue_len(struct gq_workqueue *q);

/*
 * Milliseconds until the earliest delayed key is due (0 if already due),
 * or -1 when no key is delayed; for driving an event-loop timer that then
 * polls with gq_workqueue_get(q, &key, 0).
 */
int64_t gq_workqueue_next_due_ms(struct gq_workqueue *q);

/* Copies the current counters into *out. */
void gq_workqueue_stats(struct gq_workqueue *q, struct gq_workqueue_stats *out);

#endif
