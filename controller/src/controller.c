/*
 * controller.c - wiring of the controller process.
 *
 * Threads: the main thread runs a libevent loop (signals, resync timer,
 * health and metrics HTTP); the informer thread runs every watch on one curl
 * multi handle and only enqueues keys; N worker threads take keys from the
 * de-duplicating work queue and reconcile one team at a time (a key is never
 * processed by two workers at once).
 */
#include "controller.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>

#include "accounting.h"
#include "buf.h"
#include "desired.h"
#include "informer.h"
#include "kclient.h"
#include "leader.h"
#include "log.h"
#include "metrics.h"
#include "json.h"
#include "reconcile.h"
#include "sharing.h"
#include "spec.h"
#include "tls.h"
#include "listen.h"
#include "webhook.h"
#include "workqueue.h"

#ifndef GQ_VERSION
#define GQ_VERSION "dev"
#endif

struct controller {
	const struct gq_controller_opts *opts;
	struct gq_kclient *kc;	      /* informers, webhook certificate */
	struct gq_kclient *kc_rec;    /* the reconciler's writes (gated by the lease) */
	struct gq_kclient *kc_lease;  /* the election's own requests */
	struct gq_leader *leader;     /* NULL without leader election */
	pthread_mutex_t seed_mu;      /* one ledger seeding at a time */
	_Atomic uint64_t seeded_term; /* leadership term whose ledgers were seeded */
	pthread_t stopper;	      /* SIGTERM with leader election: see on_signal */
	bool stopper_started;
	struct gq_informers *infs;
	struct gq_workqueue *queue;
	struct gq_reconciler rec;
	struct event_base *base;
	pthread_t *workers;
	int n_workers;
	int n_started; /* workers running (joined by stop_workers) */
	atomic_bool ready;
	struct gq_informer *pods;
	struct gq_registry *budgets;
	struct gq_webhook *webhook;
	struct gq_tls_material tls;
	struct gq_tls_opts tls_opts;
	pthread_t cert_th;     /* the certificate check (cert_main) */
	bool cert_started;     /* cert_th was started and not joined yet */
	atomic_bool cert_busy; /* a check runs or its result waits for the loop */
	struct event *ev_cert, *ev_term, *ev_int, *ev_resync, *ev_sync; /* owned */
	struct evhttp *hm, *hh;		     /* metrics, health servers */
	struct gq_listen_backoff *bom, *boh; /* their accept back-off */
	bool draining;
	struct gq_metrics_histogram reconcile_seconds; /* time per reconcile */
};

/* ------------------------------------------------------ leader election */

/* The write gate of kc_rec: the lease's budget (ms), once this term's ledgers
 * were seeded (0 otherwise). Any thread; c->leader must be set. */
static int64_t write_gate(void *arg)
{
	struct controller *c = arg;
	uint64_t term = 0;
	int64_t left = gq_leader_budget(c->leader, &term);

	return left > 0 && atomic_load(&c->seeded_term) == term ? left : 0;
}

struct seed_ctx {
	struct gq_registry *reg;
	size_t n;
};

/*
 * gq_kclient_list item callback (item borrowed): stores the ledger of the
 * allocation's status, when readable, in s->reg for its name and uid, as
 * persisted up to its accountedUntil, and counts it. Returns 0.
 */
static int seed_cb(void *arg, yajl_val item)
{
	struct seed_ctx *s = arg;
	const char *name = gq_json_str(item, GQ_PATH("metadata", "name"));
	const char *uid = gq_json_str(item, GQ_PATH("metadata", "uid"));
	struct gq_ledger l;

	if (name && uid &&
	    gq_acct_ledger_from_status(&l, gq_json_obj(item, GQ_PATH("status"))) == GQ_OK) {
		gq_registry_put_ledger(s->reg, name, uid, &l, l.accounted_until_ms);
		s->n++;
	}
	return 0;
}

/*
 * A new term starts from the ledgers as persisted now, not from the caches:
 * the watch may not have brought the previous leader's last status yet while
 * it already brought the pod deletions that status allowed, and this
 * replica's own registry may hold a ledger from an earlier term. A consistent
 * LIST (a quorum read) after the lease was acquired holds every status the
 * previous leader wrote, since it stopped writing before the lease could
 * expire (or released it). The LIST goes through kc_lease, which has no write
 * gate. Returns the list's code (err set).
 */
static int seed_ledgers(struct controller *c, struct gq_err *err)
{
	struct seed_ctx s = {c->budgets, 0};
	int rc;

	/* What this replica kept from an earlier term is stale: the other
	 * leader accounted meanwhile, so its per-pod charge records would
	 * charge pods it never saw a second time. */
	gq_registry_reset_ledgers(c->budgets);
	rc = gq_kclient_list(c->kc_lease, GQ_GTA_PATH, 0, seed_cb, NULL, &s, NULL, err);

	if (rc == GQ_OK)
		gq_info("leader election: ledgers read back from the apiserver | teams=%zu", s.n);
	return rc;
}

/*
 * The reconciler's may_write: leader, with this term's ledgers seeded
 * (seeding them first when needed, one worker at a time under seed_mu; a
 * failed seeding is logged and retried by the next call). Any worker thread.
 */
static bool may_write(void *arg)
{
	struct controller *c = arg;
	uint64_t term = 0;
	struct gq_err err = {0};

	if (gq_leader_budget(c->leader, &term) <= 0)
		return false;
	if (atomic_load(&c->seeded_term) != term) {
		pthread_mutex_lock(&c->seed_mu);
		if (atomic_load(&c->seeded_term) != term) {
			if (seed_ledgers(c, &err) == GQ_OK)
				atomic_store(&c->seeded_term, term);
			else
				gq_warn("leader election: cannot read the ledgers back; not "
					"writing yet | error=%s",
					err.msg);
		}
		pthread_mutex_unlock(&c->seed_mu);
	}
	return write_gate(c) > 0;
}

static void enqueue_all(struct controller *c);

/*
 * On the election thread: a new leader reconciles everything at once (every
 * team and the orphan sweep), once the caches are synced; before that,
 * on_sync_check enqueues everything itself.
 */
static void on_leader_change(void *arg, bool leading)
{
	struct controller *c = arg;

	if (!leading || !atomic_load(&c->ready))
		return;
	enqueue_all(c);
	gq_workqueue_add(c->queue, GQ_ORPHANS_KEY);
}

/* ------------------------------------------------------------ enqueueing */

/* gq_informer_foreach callback: adds the allocation's key to the work queue
 * arg. Returns 0. */
static int enqueue_team_cb(void *arg, const char *key, yajl_val obj)
{
	(void)obj;
	gq_workqueue_add(arg, key);
	return 0;
}

/* Enqueues every allocation (namespace and node changes can affect any).
 * Takes the teams read lock: any thread that does not hold it. */
static void enqueue_all(struct controller *c)
{
	gq_informer_rdlock(c->rec.teams);
	gq_informer_foreach(c->rec.teams, enqueue_team_cb, c->queue);
	gq_informer_unlock(c->rec.teams);
}

/*
 * Allocation handler (watch thread): enqueues the team; a deleted one also
 * the orphan sweep; and every team when an allocation was added or deleted or
 * changed its generation or deletion state (it can resolve another's
 * conflict).
 */
static void on_team(void *payload, const struct gq_informer *inf, enum gq_informer_event ev,
		    const char *key, yajl_val old_obj, yajl_val new_obj)
{
	struct controller *c = payload;
	const char *const gen[] = {"metadata", "generation", NULL};
	yajl_val og = old_obj ? yajl_tree_get(old_obj, (const char **)gen, yajl_t_number) : NULL;
	yajl_val ng = new_obj ? yajl_tree_get(new_obj, (const char **)gen, yajl_t_number) : NULL;

	(void)inf;
	gq_workqueue_add(c->queue, key);
	/* A deleted allocation leaves its pods to the orphan sweep. */
	if (ev == GQ_INF_DELETE)
		gq_workqueue_add(c->queue, GQ_ORPHANS_KEY);
	/* A new, deleted or changed allocation can resolve another's conflict,
	 * and a budget removed leaves held pods to the orphan sweep (they get
	 * no event of their own). */
	if (ev != GQ_INF_UPDATE || !og || !ng || YAJL_GET_INTEGER(og) != YAJL_GET_INTEGER(ng) ||
	    (gq_json_str(new_obj, GQ_PATH("metadata", "deletionTimestamp")) != NULL) !=
		(gq_json_str(old_obj, GQ_PATH("metadata", "deletionTimestamp")) != NULL)) {
		enqueue_all(c);
		gq_workqueue_add(c->queue, GQ_ORPHANS_KEY);
	}
}

/* Namespace handler (watch thread): any namespace event can change any team's
 * namespaces: enqueues every team and the orphan sweep. */
static void on_any_team_change(void *payload, const struct gq_informer *inf,
			       enum gq_informer_event ev, const char *key, yajl_val old_obj,
			       yajl_val new_obj)
{
	struct controller *c = payload;

	(void)inf, (void)ev, (void)key, (void)old_obj, (void)new_obj;
	enqueue_all(c);
	/* A namespace that left its team leaves its pods to the orphan sweep. */
	gq_workqueue_add(c->queue, GQ_ORPHANS_KEY);
}

/*
 * Handler of the owned kinds (watch thread): owned objects map to their team
 * through the gpuquota.io/team label; enqueues the team of the new (else old)
 * object, and the old one too when the label changed.
 */
static void on_owned(void *payload, const struct gq_informer *inf, enum gq_informer_event ev,
		     const char *key, yajl_val old_obj, yajl_val new_obj)
{
	struct controller *c = payload;
	const char *tn =
	    gq_json_str(new_obj ? new_obj : old_obj, GQ_PATH("metadata", "labels", GQ_LABEL_TEAM));
	const char *to =
	    old_obj ? gq_json_str(old_obj, GQ_PATH("metadata", "labels", GQ_LABEL_TEAM)) : NULL;

	(void)inf, (void)ev, (void)key;
	if (tn)
		gq_workqueue_add(c->queue, tn);
	if (to && (!tn || strcmp(to, tn) != 0))
		gq_workqueue_add(c->queue, to);
}

/*
 * Pod handler (watch thread): pods map to the team of their namespace; a pod
 * holding our accounting finalizer in a namespace of no team with a budget
 * also enqueues the orphan sweep. Takes the namespaces read lock, and inside
 * it the teams read lock. Keys whose namespace part is 256 bytes or longer
 * are ignored.
 */
static void on_pod(void *payload, const struct gq_informer *inf, enum gq_informer_event ev,
		   const char *key, yajl_val old_obj, yajl_val new_obj)
{
	struct controller *c = payload;
	const char *slash = strchr(key, '/');
	char ns[256];
	const char *team;
	yajl_val pod = new_obj ? new_obj : old_obj;
	yajl_val fin;
	bool ours = false;

	(void)inf, (void)ev;
	if (slash == NULL || (size_t)(slash - key) >= sizeof(ns))
		return;
	fin = yajl_tree_get(pod, (const char *[]){"metadata", "finalizers", NULL}, yajl_t_array);
	for (size_t i = 0; fin && i < fin->u.array.len; i++)
		ours |= YAJL_IS_STRING(fin->u.array.values[i]) &&
			strcmp(fin->u.array.values[i]->u.string, GQ_ACCOUNTING_FINALIZER) == 0;
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
	gq_informer_rdlock(c->rec.namespaces);
	team = gq_json_str(gq_informer_get(c->rec.namespaces, ns),
			   GQ_PATH("metadata", "labels", GQ_LABEL_TEAM));
	if (team) {
		gq_workqueue_add(c->queue, team);
		if (ours) {
			/* Held by a team that (still) accounts pods: not an orphan. */
			gq_informer_rdlock(c->rec.teams);
			ours = gq_json_obj(gq_informer_get(c->rec.teams, team),
					   GQ_PATH("spec", "budget")) == NULL;
			gq_informer_unlock(c->rec.teams);
		}
	}
	gq_informer_unlock(c->rec.namespaces);
	/* Only pods that look orphaned start the sweep (which scans all pods). */
	if (ours)
		gq_workqueue_add(c->queue, GQ_ORPHANS_KEY);
}

/*
 * Nodes matter only through the set of GPU resource names they offer: whether
 * nodes a and b (borrowed; NULL reads as offering none) have the same
 * nvidia.com/ keys in status.allocatable, whatever their values.
 */
static bool node_gpu_keys_equal(yajl_val a, yajl_val b)
{
	yajl_val x = gq_json_obj(a, GQ_PATH("status", "allocatable"));
	yajl_val y = gq_json_obj(b, GQ_PATH("status", "allocatable"));
	size_t nx = 0, ny = 0;

	for (size_t i = 0; x && i < x->u.object.len; i++) {
		if (strncmp(x->u.object.keys[i], GQ_NVIDIA_PREFIX, strlen(GQ_NVIDIA_PREFIX)) != 0)
			continue;
		nx++;
		if (!gq_json_str(y, GQ_PATH(x->u.object.keys[i])))
			return false;
	}
	for (size_t i = 0; y && i < y->u.object.len; i++)
		if (strncmp(y->u.object.keys[i], GQ_NVIDIA_PREFIX, strlen(GQ_NVIDIA_PREFIX)) == 0)
			ny++;
	if (nx != ny)
		return false;
	/* The pool's state lives in labels, annotations, the cordon and the
	 * pool taint. */
	return gq_json_equal(gq_json_obj(a, GQ_PATH("metadata", "labels")),
			     gq_json_obj(b, GQ_PATH("metadata", "labels"))) &&
	       gq_json_equal(gq_json_obj(a, GQ_PATH("metadata", "annotations")),
			     gq_json_obj(b, GQ_PATH("metadata", "annotations"))) &&
	       YAJL_IS_TRUE(gq_json_get(gq_json_get(a, "spec"), "unschedulable")) ==
		   YAJL_IS_TRUE(gq_json_get(gq_json_get(b, "spec"), "unschedulable")) &&
	       gq_json_equal(gq_json_get(gq_json_get(a, "spec"), "taints"),
			     gq_json_get(gq_json_get(b, "spec"), "taints"));
}

/* Node handler (watch thread): enqueues every team, except for an update that
 * leaves the node's GPU resource names unchanged. */
static void on_node(void *payload, const struct gq_informer *inf, enum gq_informer_event ev,
		    const char *key, yajl_val old_obj, yajl_val new_obj)
{
	(void)inf, (void)key;
	if (ev == GQ_INF_UPDATE && node_gpu_keys_equal(old_obj, new_obj))
		return;
	enqueue_all(payload);
}

/* ResourceSlice handler (watch thread): enqueues every team when a slice
 * publishing a node's GPUs appears, goes or moves (the pools' DRA nodes). */
static void on_slice(void *payload, const struct gq_informer *inf, enum gq_informer_event ev,
		     const char *key, yajl_val old_obj, yajl_val new_obj)
{
	const char *a = old_obj ? gq_share_slice_node(old_obj) : NULL;
	const char *b = new_obj ? gq_share_slice_node(new_obj) : NULL;

	(void)inf, (void)key, (void)ev;
	if (a == NULL && b == NULL)
		return;
	if (a != NULL && b != NULL && strcmp(a, b) == 0)
		return;
	enqueue_all(payload);
}

/* --------------------------------------------------------------- workers */

/*
 * A reconcile worker thread (arg: the controller): takes keys until the queue
 * shuts down, runs the orphan sweep or the team's reconcile and times it,
 * then re-queues the key: rate-limited after an error, else after the delay
 * the reconcile asked for (its failure count reset). Marks each key done and
 * frees it.
 */
static void *worker_main(void *arg)
{
	struct controller *c = arg;

	for (;;) {
		char *key = NULL;
		int64_t after = 0;
		struct gq_err err = {0};
		struct timespec t0, t1;
		int rc = gq_workqueue_get(c->queue, &key, -1);

		if (rc == GQ_WORKQUEUE_SHUTDOWN)
			break;
		if (rc != GQ_OK)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (strcmp(key, GQ_ORPHANS_KEY) == 0)
			rc = gq_reconcile_orphans(&c->rec, &err);
		else
			rc = gq_reconcile_team(&c->rec, key, gq_workqueue_touched(c->queue, key),
					       &after, &err);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		gq_metrics_histogram_observe(&c->reconcile_seconds,
					     (double)(t1.tv_sec - t0.tv_sec) +
						 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		if (rc != GQ_OK) {
			int64_t delay = 0;

			gq_workqueue_add_rate_limited(c->queue, key, &delay);
			gq_warn("reconcile failed, retrying | team=%s retry_in_ms=%lld error=%s",
				key, (long long)delay, err.msg);
		} else {
			gq_workqueue_forget(c->queue, key);
			if (after > 0)
				gq_workqueue_add_after(c->queue, key, after);
		}
		gq_workqueue_done(c->queue, key);
		free(key);
	}
	return NULL;
}

/* ------------------------------------------------------- health, metrics */

/* The controller's own families (the per-team ones come from registry.c),
 * declared in m. */
static void metrics_declare(struct gq_metrics *m)
{
	static const struct {
		const char *name;
		enum gq_metric_type type;
		const char *help;
	} fam[] = {
	    {"gpuquota_build_info", GQ_METRIC_GAUGE, "Build information."},
	    {"gpuquota_leader", GQ_METRIC_GAUGE,
	     "1 when this replica is the leader (holds the Lease and may write), else 0; "
	     "always 1 without leader election."},
	    {"gpuquota_leader_transitions_total", GQ_METRIC_COUNTER,
	     "Times this replica started leading."},
	    {"gpuquota_leader_lost_total", GQ_METRIC_COUNTER,
	     "Times this replica stopped leading without releasing the Lease (renew "
	     "deadline, 409, another holder)."},
	    {"gpuquota_leader_lease_requests_total", GQ_METRIC_COUNTER,
	     "Requests of the leader election (Lease reads and writes, ledger read-back); "
	     "not counted in gpuquota_api_requests_total."},
	    {"gpuquota_api_writes_refused_total", GQ_METRIC_COUNTER,
	     "Writes the lease gate refused (never sent): attempted while not the leader."},
	    {"gpuquota_reconcile_total", GQ_METRIC_COUNTER, "Team reconciles run."},
	    {"gpuquota_reconcile_errors_total", GQ_METRIC_COUNTER, "Team reconciles that failed."},
	    {"gpuquota_reconcile_quiet_total", GQ_METRIC_COUNTER,
	     "Periodic team passes that were arithmetic only: the running pods accrued on the "
	     "in-memory ledger, nothing read from the caches or written (counted in "
	     "gpuquota_reconcile_total too)."},
	    {"gpuquota_reconcile_duration_seconds", GQ_METRIC_HISTOGRAM,
	     "Time one reconcile (a team, or the orphan sweep) took."},
	    {"gpuquota_ledger_write_errors_total", GQ_METRIC_COUNTER,
	     "Status writes carrying a team's ledger that failed (retried)."},
	    {"gpuquota_api_requests_total", GQ_METRIC_COUNTER, "Requests sent to the apiserver."},
	    {"gpuquota_api_writes_total", GQ_METRIC_COUNTER,
	     "Writes (POST/PUT/PATCH/DELETE) sent to the apiserver."},
	    {"gpuquota_workqueue_depth", GQ_METRIC_GAUGE, "Keys waiting in the work queue."},
	    {"gpuquota_workqueue_adds_total", GQ_METRIC_COUNTER, "Keys added to the work queue."},
	    {"gpuquota_workqueue_retries_total", GQ_METRIC_COUNTER,
	     "Rate-limited re-adds after errors."},
	    {"gpuquota_informer_events_total", GQ_METRIC_COUNTER,
	     "Watch events applied to a cache."},
	    {"gpuquota_informer_relists_total", GQ_METRIC_COUNTER,
	     "Full relists of a cache (start, 410 Gone, watch errors)."},
	    {"gpuquota_informer_objects", GQ_METRIC_GAUGE, "Objects held in a cache."},
	    {"gpuquota_admission_reviews_total", GQ_METRIC_COUNTER, "AdmissionReviews answered."},
	    {"gpuquota_admission_malformed_total", GQ_METRIC_COUNTER,
	     "AdmissionReviews refused as malformed (HTTP 400)."},
	    {"gpuquota_admission_denied_total", GQ_METRIC_COUNTER,
	     "AdmissionReviews answered allowed=false (all teams)."},
	    {"gpuquota_admission_held_total", GQ_METRIC_COUNTER,
	     "Pods admitted with the budget scheduling gate (all teams)."},
	    {"gpuquota_admission_deprioritized_total", GQ_METRIC_COUNTER,
	     "Pods admitted in an over-budget PriorityClass (all teams)."},
	};

	for (size_t i = 0; i < GQ_ARRAY_LEN(fam); i++)
		gq_metrics_family(m, fam[i].name, fam[i].type, fam[i].help);
}

/* Adds the event, relist and object counts of inf to m, labelled with the
 * informer's name. */
static void metrics_informer(struct gq_metrics *m, struct gq_informer *inf)
{
	struct gq_informer_stats st;
	const char *n = gq_informer_name(inf);

	gq_informer_get_stats(inf, &st);
	gq_metrics_add(m, "gpuquota_informer_events_total", (double)st.events, "informer", n, NULL);
	gq_metrics_add(m, "gpuquota_informer_relists_total", (double)st.relists, "informer", n,
		       NULL);
	gq_metrics_add(m, "gpuquota_informer_objects", (double)gq_informer_len(inf), "informer", n,
		       NULL);
}

/*
 * Fills m (the caller's) with every family and sample. Every figure comes
 * from memory (caches, counters, the team registry): a scrape never calls
 * the apiserver. Event loop thread.
 */
static void metrics_collect(struct controller *c, struct gq_metrics *m)
{
	struct gq_workqueue_stats ws;
	struct gq_registry_stats bs;
	uint64_t requests = 0, writes = 0, rreq = 0, rwr = 0, lreq = 0;
	struct gq_leader_stats ls = {0};
	struct gq_informer *infs[] = {c->rec.teams,  c->rec.namespaces, c->rec.quotas,
				      c->rec.limits, c->rec.classes,	c->rec.nodes,
				      c->pods};

	metrics_declare(m);
	gq_workqueue_stats(c->queue, &ws);
	gq_kclient_stats(c->kc, &requests, &writes);
	gq_kclient_stats(c->kc_rec, &rreq, &rwr);
	requests += rreq;
	writes += rwr;
	if (c->leader) {
		gq_kclient_stats(c->kc_lease, &lreq, NULL);
		gq_leader_get_stats(c->leader, &ls);
	}
	gq_registry_get_stats(c->budgets, &bs);
	gq_metrics_add(m, "gpuquota_build_info", 1, "version", GQ_VERSION, NULL);
	gq_metrics_add(m, "gpuquota_leader", c->leader ? (write_gate(c) > 0 ? 1 : 0) : 1, NULL);
	gq_metrics_add(m, "gpuquota_leader_transitions_total", (double)ls.transitions, NULL);
	gq_metrics_add(m, "gpuquota_leader_lost_total", (double)ls.losses, NULL);
	gq_metrics_add(m, "gpuquota_leader_lease_requests_total", (double)lreq, NULL);
	gq_metrics_add(m, "gpuquota_api_writes_refused_total",
		       (double)gq_kclient_refused_writes(c->kc_rec), NULL);
	gq_metrics_add(m, "gpuquota_reconcile_total", (double)atomic_load(&c->rec.reconciles),
		       NULL);
	gq_metrics_add(m, "gpuquota_reconcile_errors_total", (double)atomic_load(&c->rec.failures),
		       NULL);
	gq_metrics_add(m, "gpuquota_reconcile_quiet_total",
		       (double)atomic_load(&c->rec.quiet_passes), NULL);
	gq_metrics_add_histogram(m, "gpuquota_reconcile_duration_seconds", &c->reconcile_seconds,
				 NULL);
	gq_metrics_add(m, "gpuquota_ledger_write_errors_total",
		       (double)atomic_load(&c->rec.ledger_write_errors), NULL);
	gq_metrics_add(m, "gpuquota_api_requests_total", (double)requests, NULL);
	gq_metrics_add(m, "gpuquota_api_writes_total", (double)writes, NULL);
	gq_metrics_add(m, "gpuquota_workqueue_depth", (double)ws.depth, NULL);
	gq_metrics_add(m, "gpuquota_workqueue_adds_total", (double)ws.adds_total, NULL);
	gq_metrics_add(m, "gpuquota_workqueue_retries_total", (double)ws.retries_total, NULL);
	for (size_t i = 0; i < GQ_ARRAY_LEN(infs); i++)
		metrics_informer(m, infs[i]);
	gq_metrics_add(m, "gpuquota_admission_reviews_total", (double)bs.reviews, NULL);
	gq_metrics_add(m, "gpuquota_admission_malformed_total", (double)bs.malformed, NULL);
	gq_metrics_add(m, "gpuquota_admission_denied_total", (double)bs.denied, NULL);
	gq_metrics_add(m, "gpuquota_admission_held_total", (double)bs.held, NULL);
	gq_metrics_add(m, "gpuquota_admission_deprioritized_total", (double)bs.deprioritized, NULL);
	gq_registry_metrics(c->budgets, m);
}

/* Answers /metrics on req (event loop thread): the exposition, or a 500 when
 * it exceeds its 16 MiB bound. */
static void http_metrics(struct evhttp_request *req, struct controller *c)
{
	struct gq_buf b;
	struct gq_metrics *m = gq_metrics_new();
	struct evbuffer *out = evbuffer_new();

	gq_buf_init(&b, 16u << 20);
	metrics_collect(c, m);
	if (gq_metrics_render(m, &b) != GQ_OK) {
		gq_warn("metrics exposition over its size bound | bytes=%zu", b.len);
		evbuffer_add_printf(out, "metrics exposition too large\n");
		evhttp_send_reply(req, 500, "Internal Server Error", out);
		goto out;
	}
	evbuffer_add(out, gq_buf_str(&b), b.len);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", out);
out:
	evbuffer_free(out);
	gq_metrics_free(m);
	gq_buf_free(&b);
}

/*
 * The only handler of the health and metrics servers (event loop thread):
 * /metrics, /healthz (always ok), /readyz (503 until the caches synced and
 * from the first signal on), anything else 404.
 */
static void http_cb(struct evhttp_request *req, void *arg)
{
	struct controller *c = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *out;

	if (path && strcmp(path, "/metrics") == 0) {
		http_metrics(req, c);
		return;
	}
	out = evbuffer_new();
	if (path && strcmp(path, "/healthz") == 0) {
		evbuffer_add_printf(out, "ok\n");
		evhttp_send_reply(req, 200, "OK", out);
	} else if (path && strcmp(path, "/readyz") == 0) {
		/* Not ready once shutting down, so that the endpoint goes (the
		 * webhook keeps serving through the grace meanwhile). */
		bool ready = atomic_load(&c->ready) && !c->draining;

		evbuffer_add_printf(out, ready	       ? "ok\n"
					 : c->draining ? "shutting down\n"
						       : "caches not synced\n");
		evhttp_send_reply(req, ready ? 200 : 503, ready ? "OK" : "Service Unavailable",
				  out);
	} else {
		evbuffer_add_printf(out, "not found\n");
		evhttp_send_reply(req, 404, "Not Found", out);
	}
	evbuffer_free(out);
}

/*
 * Binds an evhttp server on c->base for "host:port" addr (host may be empty:
 * all addresses) with the accept back-off (*bo, owned by the caller:
 * gq_listen_backoff_free before evhttp_free) named what. *out (owned by the
 * caller, evhttp_free) is NULL, and nothing is bound, when addr is "".
 * Returns GQ_OK, the address parser's error, GQ_EINVAL (port 0) or GQ_EIO
 * (cannot bind), with err set.
 */
static int http_listen(struct controller *c, const char *addr, const char *what,
		       struct evhttp **out, struct gq_listen_backoff **bo, struct gq_err *err)
{
	struct evhttp_bound_socket *bound;
	char host[256];
	int port, rc;
	struct evhttp *h;

	*out = NULL;
	if (addr[0] == '\0')
		return GQ_OK;
	rc = gq_listen_parse_addr(addr, host, sizeof(host), &port, err);
	if (rc != GQ_OK)
		return rc;
	if (port == 0)
		return gq_err_set(err, GQ_EINVAL, "bad port in listen address \"%s\"", addr);
	h = evhttp_new(c->base);
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_body_size(h, 0);
	evhttp_set_max_headers_size(h, 16384);
	evhttp_set_timeout(h, 10);
	evhttp_set_gencb(h, http_cb, c);
	bound = evhttp_bind_socket_with_handle(h, host, (ev_uint16_t)port);
	if (bound == NULL) {
		evhttp_free(h);
		return gq_err_set(err, GQ_EIO, "cannot listen on %s", addr);
	}
	*bo = gq_listen_backoff_install(evhttp_bound_socket_get_listener(bound), what);
	*out = h;
	return GQ_OK;
}

/* ------------------------------------------------------------ event loop */

/* The webhook has drained (event loop): ends the loop. */
static void on_drained(void *arg)
{
	struct controller *c = arg;

	event_base_loopbreak(c->base);
}

/* A certificate check's outcome, handed from its thread to the loop. */
struct cert_result {
	struct controller *c;
	struct gq_tls_material m; /* the new material when changed */
	bool changed;
};

/*
 * Event loop: installs a changed certificate in the webhook (then owned by
 * c->tls; on failure the one in use stays) and frees r.
 */
static void on_cert_result(evutil_socket_t fd, short what, void *arg)
{
	struct cert_result *r = arg;
	struct controller *c = r->c;
	struct gq_err err = {0};

	(void)fd, (void)what;
	if (r->changed &&
	    gq_webhook_set_cert(c->webhook, r->m.cert_pem, r->m.key_pem, &err) == GQ_OK) {
		gq_info("webhook certificate rotated");
		gq_tls_material_free(&c->tls);
		c->tls = r->m;
	} else {
		if (r->changed)
			gq_error("webhook certificate changed but cannot be served; serving the "
				 "old one | error=%s",
				 err.msg);
		gq_tls_material_free(&r->m);
	}
	free(r);
	atomic_store(&c->cert_busy, false);
}

/*
 * The certificate check's thread: gq_tls_ensure (Secret and webhook
 * configuration reads and writes, blocking) off the event loop, so that
 * admission never waits on it; the outcome goes back to the loop
 * (on_cert_result). Reads c->tls, which only on_cert_result replaces, after
 * this thread is done.
 */
static void *cert_main(void *arg)
{
	struct controller *c = arg;
	struct cert_result *r = gq_calloc(1, sizeof(*r));
	struct gq_err err = {0};
	struct timeval zero = {0, 0};

	r->c = c;
	if (gq_tls_ensure(c->kc, &c->tls_opts, &c->tls, &r->m, &r->changed, &err) != GQ_OK) {
		gq_warn("webhook certificate check failed | error=%s", err.msg);
		r->changed = false;
	}
	if (event_base_once(c->base, -1, EV_TIMEOUT, on_cert_result, r, &zero) != 0) {
		gq_tls_material_free(&r->m);
		free(r);
		atomic_store(&c->cert_busy, false);
	}
	return NULL;
}

/*
 * Timer (event loop, every cert_check_ms, default hourly): starts a
 * certificate check on its own thread (cert_main) unless one still runs or
 * the controller is stopping.
 */
static void on_cert_check(evutil_socket_t fd, short what, void *arg)
{
	struct controller *c = arg;

	(void)fd, (void)what;
	if (c->draining || atomic_exchange(&c->cert_busy, true))
		return;
	if (c->cert_started)
		pthread_join(c->cert_th, NULL); /* the last check, finished */
	c->cert_started = pthread_create(&c->cert_th, NULL, cert_main, c) == 0;
	if (!c->cert_started) {
		gq_warn("cannot start the certificate check");
		atomic_store(&c->cert_busy, false);
	}
}

/*
 * Takes no new keys, waits for the reconciles in progress (their writes still
 * inside the lease), then releases the Lease (none: nothing). Joins the
 * workers only if they were started. Runs once: on the stopper thread, or on
 * the main thread after the loop.
 */
static void stop_workers(struct controller *c)
{
	gq_workqueue_shutdown(c->queue);
	for (int i = 0; i < c->n_started; i++)
		pthread_join(c->workers[i], NULL);
	gq_leader_stop(c->leader, true);
}

/* The SIGTERM thread with leader election: see on_signal. */
static void *stopper_main(void *arg)
{
	stop_workers(arg);
	return NULL;
}

/*
 * SIGTERM or SIGINT (event loop): the first one starts the shutdown: not
 * ready any more; with leader election, the stopper thread stops the workers
 * and releases the Lease at once; the webhook drains and then ends the loop
 * (without a webhook the loop ends now). Later signals are ignored.
 */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct controller *c = arg;

	(void)what;
	if (c->draining)
		return;
	c->draining = true;
	gq_info("signal received: shutting down | signal=%d drain_ms=%d", (int)sig,
		c->opts->drain_ms);
	/* With leader election the next leader need not wait for the drain. */
	if (c->leader && pthread_create(&c->stopper, NULL, stopper_main, c) == 0)
		c->stopper_started = true;
	if (c->webhook)
		gq_webhook_drain(c->webhook, c->opts->drain_ms, on_drained, c);
	else
		event_base_loopbreak(c->base);
}

/* Periodic resync timer (event loop): enqueues every team and the orphan
 * sweep. */
static void on_resync(evutil_socket_t fd, short what, void *arg)
{
	struct controller *c = arg;

	(void)fd, (void)what;
	gq_debug("periodic resync");
	enqueue_all(c);
	gq_workqueue_add(c->queue, GQ_ORPHANS_KEY);
}

/*
 * Timer (event loop, every 100 ms): once every cache has synced, and unless
 * shutting down, marks the controller ready, starts the workers and enqueues
 * every team and the orphan sweep. Does nothing after that.
 */
static void on_sync_check(evutil_socket_t fd, short what, void *arg)
{
	struct controller *c = arg;

	(void)fd, (void)what;
	if (!c->draining && !atomic_load(&c->ready) && gq_informers_wait_synced(c->infs, 0)) {
		atomic_store(&c->ready, true);
		gq_info("caches synced: starting workers | workers=%d", c->n_workers);
		for (int i = 0; i < c->n_workers; i++) {
			if (pthread_create(&c->workers[i], NULL, worker_main, c) != 0) {
				gq_error("cannot start a worker thread | started=%d wanted=%d",
					 c->n_started, c->n_workers);
				break;
			}
			c->n_started++;
		}
		enqueue_all(c);
		gq_workqueue_add(c->queue, GQ_ORPHANS_KEY);
	}
}

/* The fields the namespace, quota, limit range and PriorityClass caches keep. */
static const char *const keep_ns[] = {"metadata.labels", "metadata.deletionTimestamp", NULL};
static const char *const keep_rq[] = {"metadata.labels", "metadata.ownerReferences", "spec",
				      "status", NULL};
/* Nodes: what the accounting reads (labels, allocatable) and the pool's
 * reconfiguration (annotations, cordon). */
static const char *const keep_node[] = {"metadata.labels", "metadata.annotations",
					"status.allocatable", "spec.unschedulable", "spec.taints",
					NULL};
/* ResourceSlices: which node's GPUs a DRA driver publishes. */
static const char *const keep_slice[] = {"spec.nodeName", "spec.driver", NULL};
static const char *const keep_lr[] = {"metadata.labels", "metadata.ownerReferences", "spec", NULL};
static const char *const keep_pc[] = {"metadata.labels",
				      "metadata.ownerReferences",
				      "value",
				      "preemptionPolicy",
				      "globalDefault",
				      "description",
				      NULL};

/* The API clients: kc (informers, certificates), kc_rec (the reconciler's
 * writes, behind the write gate with leader election) and kc_lease. */
static int controller_clients(struct controller *c, const struct gq_controller_opts *opts,
			      struct gq_err *err)
{
	int rc = gq_kclient_new(&c->kc, opts->kubeconfig, err);

	if (rc == GQ_OK)
		rc = gq_kclient_new(&c->kc_rec, opts->kubeconfig, err);
	if (rc == GQ_OK && opts->leader_elect) {
		rc = gq_kclient_new(&c->kc_lease, opts->kubeconfig, err);
		/* An attempt never outlasts the renew deadline. */
		if (rc == GQ_OK)
			gq_kclient_set_timeout(c->kc_lease, (long)(opts->renew_deadline_ms / 2));
		if (rc == GQ_OK)
			gq_kclient_set_write_gate(c->kc_rec, write_gate, c);
	}
	return rc;
}

/* The work queue, the informers (not started) and the reconciler's view of
 * them, the team registry and the reconciler's settings. */
static int controller_caches(struct controller *c, const struct gq_controller_opts *opts,
			     struct gq_err *err)
{
	const struct gq_informer_def defs[] = {
	    {"gputeamallocations", GQ_GTA_PATH, NULL, NULL, NULL, NULL, on_team, c, false},
	    {"namespaces", "/api/v1/namespaces", NULL, keep_ns, NULL, NULL, on_any_team_change, c,
	     false},
	    {"resourcequotas", "/api/v1/resourcequotas", GQ_LABEL_MANAGED_BY "=" GQ_FIELD_MANAGER,
	     keep_rq, NULL, NULL, on_owned, c, false},
	    {"limitranges", "/api/v1/limitranges", GQ_LABEL_MANAGED_BY "=" GQ_FIELD_MANAGER,
	     keep_lr, NULL, NULL, on_owned, c, false},
	    {"priorityclasses", GQ_PRIORITY_CLASS_PATH, NULL, keep_pc, NULL, NULL, on_owned, c,
	     false},
	    {"nodes", "/api/v1/nodes", NULL, keep_node, NULL, NULL, on_node, c, false},
	    {"resourceslices", GQ_RESOURCE_SLICE_PATH, NULL, keep_slice, NULL, NULL, on_slice, c,
	     true},
	    {"pods", "/api/v1/pods", NULL, NULL, gq_pod_convert, gq_pod_release, on_pod, c, false},
	};
	struct gq_informer **slots[] = {&c->rec.teams,	&c->rec.namespaces, &c->rec.quotas,
					&c->rec.limits, &c->rec.classes,    &c->rec.nodes,
					&c->rec.slices, &c->pods};
	int rc = gq_workqueue_new(&c->queue, NULL);

	if (rc != GQ_OK)
		return gq_err_set(err, rc, "cannot create the work queue");
	gq_informers_new(&c->infs, c->kc);
	gq_informers_set_watch_timeout(c->infs, opts->watch_timeout_s);
	gq_informers_set_watch_list(c->infs, opts->watch_list);
	for (size_t i = 0; i < GQ_ARRAY_LEN(defs); i++) {
		rc = gq_informers_add(c->infs, &defs[i], slots[i], err);
		if (rc != GQ_OK)
			return rc;
	}
	gq_registry_new(&c->budgets);
	c->rec.pods = c->pods;
	c->rec.budgets = c->budgets;
	c->rec.ledger_interval_ms = opts->ledger_interval_ms > 0 ? opts->ledger_interval_ms : 10000;
	c->rec.ledger_write_interval_ms =
	    opts->ledger_write_interval_ms > 0 ? opts->ledger_write_interval_ms : 60000;
	c->rec.share_pending_timeout_ms = opts->share_pending_timeout_ms;
	c->rec.kc = c->kc_rec;
	c->rec.instance = getenv("POD_NAME") ? getenv("POD_NAME") : "gpuquota-controller";
	c->rec.event_namespace = "default";
	return GQ_OK;
}

/* A struct timeval of ms milliseconds. */
static struct timeval tv_ms(int64_t ms)
{
	return (struct timeval){(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
}

/* The admission webhook, when configured: its certificate (gq_tls_ensure),
 * the server serving it, and the periodic certificate check. */
static int controller_webhook(struct controller *c, const struct gq_controller_opts *opts,
			      struct gq_err *err)
{
	struct gq_webhook_opts wo = opts->webhook_limits;
	struct timeval tv;
	bool changed;
	int rc;

	if (opts->webhook_addr == NULL || opts->webhook_addr[0] == '\0')
		return GQ_OK;
	wo.addr = opts->webhook_addr;
	c->tls_opts = (struct gq_tls_opts){opts->namespace,	   opts->webhook_service,
					   opts->webhook_secret,   opts->webhook_config,
					   opts->webhook_hosts,	   opts->webhook_cert_dir,
					   opts->webhook_cert_days};
	rc = gq_tls_ensure(c->kc, &c->tls_opts, NULL, &c->tls, &changed, err);
	if (rc == GQ_OK)
		rc = gq_webhook_new(&c->webhook, c->base, &wo, err);
	if (rc == GQ_OK)
		rc = gq_webhook_route(c->webhook, "/admit/pods", gq_registry_admit, c->budgets);
	if (rc == GQ_OK)
		rc = gq_webhook_set_cert(c->webhook, c->tls.cert_pem, c->tls.key_pem, err);
	if (rc == GQ_OK)
		rc = gq_webhook_start(c->webhook, err);
	if (rc != GQ_OK)
		return rc;
	gq_info("admission webhook serving | addr=%s path=/admit/pods", opts->webhook_addr);
	c->ev_cert = event_new(c->base, -1, EV_PERSIST, on_cert_check, c);
	tv = tv_ms(opts->cert_check_ms > 0 ? opts->cert_check_ms : 3600000);
	event_add(c->ev_cert, &tv);
	return GQ_OK;
}

/* The signals (SIGTERM, SIGINT) and the timers (cache sync check, resync). */
static void controller_events(struct controller *c, const struct gq_controller_opts *opts)
{
	struct timeval tv;

	signal(SIGPIPE, SIG_IGN);
	c->ev_term = evsignal_new(c->base, SIGTERM, on_signal, c);
	c->ev_int = evsignal_new(c->base, SIGINT, on_signal, c);
	event_add(c->ev_term, NULL);
	event_add(c->ev_int, NULL);
	c->ev_sync = event_new(c->base, -1, EV_PERSIST, on_sync_check, c);
	tv = tv_ms(100);
	event_add(c->ev_sync, &tv);
	c->ev_resync = event_new(c->base, -1, EV_PERSIST, on_resync, c);
	tv = tv_ms(opts->resync_ms);
	event_add(c->ev_resync, &tv);
}

/* Frees everything c holds, after its threads ended (the certificate
 * check's is joined here). Safe on a partly built controller. */
static void controller_free(struct controller *c)
{
	struct event *evs[] = {c->ev_cert, c->ev_term, c->ev_int, c->ev_sync, c->ev_resync};

	for (size_t i = 0; i < GQ_ARRAY_LEN(evs); i++)
		if (evs[i])
			event_free(evs[i]);
	if (c->cert_started)
		pthread_join(c->cert_th, NULL);
	if (c->webhook)
		gq_webhook_free(c->webhook);
	gq_tls_material_free(&c->tls);
	gq_listen_backoff_free(c->boh);
	gq_listen_backoff_free(c->bom);
	if (c->hh)
		evhttp_free(c->hh);
	if (c->hm)
		evhttp_free(c->hm);
	if (c->infs)
		gq_informers_free(c->infs);
	if (c->queue)
		gq_workqueue_free(c->queue);
	gq_leader_free(c->leader);
	if (c->kc)
		gq_kclient_free(c->kc);
	if (c->kc_rec)
		gq_kclient_free(c->kc_rec);
	if (c->kc_lease)
		gq_kclient_free(c->kc_lease);
	pthread_mutex_destroy(&c->seed_mu);
	gq_registry_free(c->budgets);
	if (c->base != NULL) {
		/* libevent finalizes closed connections on a later loop pass:
		 * run one, without waiting, so that none is leaked. */
		event_base_loop(c->base, EVLOOP_NONBLOCK);
		event_base_free(c->base);
	}
	free(c->workers);
}

/*
 * See controller.h. Builds everything, then runs the event loop on the
 * calling thread; every object it created is freed before it returns, on a
 * start-up error too.
 */
int gq_controller_run(const struct gq_controller_opts *opts, struct gq_err *err)
{
	struct controller c = {0};
	int rc;

	c.opts = opts;
	gq_metrics_histogram_init(&c.reconcile_seconds, gq_metrics_latency_buckets,
				  gq_metrics_n_latency_buckets);
	c.n_workers = opts->workers > 0 ? opts->workers : 1;
	c.workers = gq_calloc((size_t)c.n_workers, sizeof(pthread_t));
	evthread_use_pthreads();
	pthread_mutex_init(&c.seed_mu, NULL);
	c.base = gq_webhook_base_new();
	if (c.base == NULL) {
		rc = gq_err_set(err, GQ_EIO, "cannot create the event loop");
		goto out;
	}
	rc = controller_clients(&c, opts, err);
	if (rc == GQ_OK)
		rc = controller_caches(&c, opts, err);
	if (rc == GQ_OK)
		rc = http_listen(&c, opts->health_addr, "health", &c.hh, &c.boh, err);
	if (rc == GQ_OK && opts->metrics_addr[0] &&
	    strcmp(opts->metrics_addr, opts->health_addr) != 0)
		rc = http_listen(&c, opts->metrics_addr, "metrics", &c.hm, &c.bom, err);
	if (rc == GQ_OK)
		rc = controller_webhook(&c, opts, err);
	if (rc == GQ_OK)
		rc = gq_informers_start(c.infs, err);
	if (rc != GQ_OK)
		goto out;
	if (opts->leader_elect) {
		const struct gq_leader_opts lo = {
		    c.kc_lease,
		    opts->namespace,
		    opts->leader_elect_name,
		    {opts->identity, opts->lease_ms, opts->renew_deadline_ms, opts->retry_ms},
		    on_leader_change,
		    &c};

		c.rec.may_write = may_write;
		c.rec.may_write_arg = &c;
		rc = gq_leader_start(&c.leader, &lo, err);
		if (rc != GQ_OK)
			goto out;
	}
	controller_events(&c, opts);
	gq_info("controller started | version=%s workers=%d resync_ms=%lld", GQ_VERSION,
		c.n_workers, (long long)opts->resync_ms);

	event_base_dispatch(c.base);

	/* Graceful stop: no new keys, let workers finish the current ones. */
	if (c.stopper_started)
		pthread_join(c.stopper, NULL);
	else
		stop_workers(&c);
	gq_informers_stop(c.infs);
	gq_info("controller stopped");
	rc = GQ_OK;
out:
	controller_free(&c);
	return rc;
}
