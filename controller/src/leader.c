/*
 * leader.c - the Lease I/O and thread of the leader election (see leader.h).
 */
#include "leader.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonw.h"
#include "log.h"
#include "json.h"

struct gq_leader {
	struct gq_leader_opts o;
	char *ns, *name, *path, *coll;
	pthread_t thread;
	pthread_mutex_t mu; /* protects e, rv, stopping */
	pthread_cond_t cv;  /* signalled on stop */
	struct gq_election e;
	char rv[64]; /* resourceVersion of the Lease last read or written */
	bool stopping;
	struct gq_leader_stats stats;
};

static int time_field(yajl_val spec, const char *key, int64_t *out)
{
	const char *s = gq_json_str(spec, GQ_PATH(key));

	*out = 0;
	if (s == NULL || s[0] == '\0')
		return GQ_OK;
	return gq_election_parse_micro(s, out) == GQ_OK ? GQ_OK : GQ_EPARSE;
}

int gq_leader_parse_lease(yajl_val lease, struct gq_lease_record *rec, char *rv, size_t rv_size)
{
	yajl_val spec = gq_json_obj(lease, GQ_PATH("spec"));
	const char *holder = gq_json_str(spec, GQ_PATH("holderIdentity"));
	const char *v = gq_json_str(lease, GQ_PATH("metadata", "resourceVersion"));
	yajl_val n;

	memset(rec, 0, sizeof(*rec));
	if (rv_size)
		snprintf(rv, rv_size, "%s", v ? v : "");
	if (!YAJL_IS_OBJECT(lease))
		return GQ_EPARSE;
	if (holder && strlen(holder) >= sizeof(rec->holder))
		return GQ_EPARSE;
	snprintf(rec->holder, sizeof(rec->holder), "%s", holder ? holder : "");
	n = yajl_tree_get(spec, (const char *[]){"leaseDurationSeconds", NULL}, yajl_t_number);
	rec->lease_duration_s = n && YAJL_IS_INTEGER(n) ? YAJL_GET_INTEGER(n) : 0;
	n = yajl_tree_get(spec, (const char *[]){"leaseTransitions", NULL}, yajl_t_number);
	rec->transitions = n && YAJL_IS_INTEGER(n) ? YAJL_GET_INTEGER(n) : 0;
	if (time_field(spec, "acquireTime", &rec->acquire_wall_ms) != GQ_OK ||
	    time_field(spec, "renewTime", &rec->renew_wall_ms) != GQ_OK)
		return GQ_EPARSE;
	return GQ_OK;
}

char *gq_leader_lease_body(const char *ns, const char *name, const char *rv,
			   const struct gq_lease_record *rec)
{
	char acq[GQ_ELECTION_TIME_STRLEN], ren[GQ_ELECTION_TIME_STRLEN];
	struct gq_jw w;

	if (gq_election_format_micro(rec->acquire_wall_ms, acq) != GQ_OK ||
	    gq_election_format_micro(rec->renew_wall_ms, ren) != GQ_OK)
		return NULL;
	gq_jw_init(&w);
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "apiVersion", "coordination.k8s.io/v1");
	gq_jw_kv(&w, "kind", "Lease");
	gq_jw_str(&w, "metadata");
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "name", name);
	gq_jw_kv(&w, "namespace", ns);
	if (rv && rv[0])
		gq_jw_kv(&w, "resourceVersion", rv);
	gq_jw_map_close(&w);
	gq_jw_str(&w, "spec");
	gq_jw_map_open(&w);
	gq_jw_kv(&w, "holderIdentity", rec->holder);
	gq_jw_str(&w, "leaseDurationSeconds");
	gq_jw_int(&w, (long long)rec->lease_duration_s);
	gq_jw_kv(&w, "acquireTime", acq);
	gq_jw_kv(&w, "renewTime", ren);
	gq_jw_str(&w, "leaseTransitions");
	gq_jw_int(&w, (long long)rec->transitions);
	gq_jw_map_close(&w);
	gq_jw_map_close(&w);
	return gq_jw_finish(&w);
}

/* Writes rec (create when create, else PUT on rv). On success the new
 * resourceVersion is in l->rv. Called without l->mu. */
static int lease_write(struct gq_leader *l, bool create, const char *rv,
		       const struct gq_lease_record *rec, struct gq_err *err)
{
	char *body = gq_leader_lease_body(l->ns, l->name, create ? NULL : rv, rec);
	yajl_val out = NULL;
	int rc;

	if (body == NULL)
		return gq_err_set(err, GQ_ERANGE, "lease time out of range");
	if (create) {
		rc = gq_kclient_create(l->o.kc, l->coll, body, &out, err);
	} else {
		char *resp = NULL;

		rc = gq_kclient_request(l->o.kc, "PUT", l->path, "application/json", body,
					strlen(body), 0, NULL, &resp, err);
		if (rc == GQ_OK && resp)
			out = yajl_tree_parse(resp, NULL, 0);
		free(resp);
	}
	if (rc == GQ_OK) {
		const char *v = gq_json_str(out, GQ_PATH("metadata", "resourceVersion"));

		pthread_mutex_lock(&l->mu);
		snprintf(l->rv, sizeof(l->rv), "%s", v ? v : "");
		pthread_mutex_unlock(&l->mu);
	}
	yajl_tree_free(out);
	free(body);
	return rc;
}

/* Counts a change; called with l->mu held, in the same section as the
 * state change, so that a new term is visible with the lease it holds. */
static enum gq_election_change counted(struct gq_leader *l, enum gq_election_change ch)
{
	if (ch == GQ_ELECT_STARTED)
		l->stats.transitions++;
	else if (ch == GQ_ELECT_LOST)
		l->stats.losses++;
	return ch;
}

static void report(struct gq_leader *l, enum gq_election_change ch, const char *why)
{
	if (ch == GQ_ELECT_UNCHANGED)
		return;
	if (ch == GQ_ELECT_STARTED)
		gq_info("leader election: became leader | lease=%s/%s identity=%s", l->ns, l->name,
			l->e.id);
	else
		gq_warn("leader election: leadership lost, writes stopped, back to candidate | "
			"lease=%s/%s identity=%s reason=%s",
			l->ns, l->name, l->e.id, why);
	if (l->o.on_change)
		l->o.on_change(l->o.arg, ch == GQ_ELECT_STARTED);
}

/* One attempt: GET, observe, then create/update when the machine says so. */
static void attempt(struct gq_leader *l)
{
	struct gq_lease_record seen, want;
	struct gq_err err = {0};
	enum gq_election_action act;
	enum gq_election_change ch;
	yajl_val lease = NULL;
	char rv[64];
	int64_t t0 = gq_mono_ms();
	int rc = gq_kclient_get_json(l->o.kc, l->path, &lease, &err);

	if (rc == GQ_OK && gq_leader_parse_lease(lease, &seen, rv, sizeof(rv)) != GQ_OK)
		rc = gq_err_set(&err, GQ_EPARSE, "unreadable Lease");
	yajl_tree_free(lease);
	pthread_mutex_lock(&l->mu);
	if (rc == GQ_OK || rc == GQ_ENOTFOUND) {
		ch = counted(l,
			     gq_election_observe(&l->e, rc == GQ_OK ? &seen : NULL, gq_mono_ms()));
		snprintf(l->rv, sizeof(l->rv), "%s", rc == GQ_OK ? rv : "");
	} else {
		ch = counted(l, gq_election_tick(&l->e, gq_mono_ms()));
	}
	act = ch == GQ_ELECT_UNCHANGED && (rc == GQ_OK || rc == GQ_ENOTFOUND)
		  ? gq_election_next(&l->e, gq_mono_ms(), gq_real_ms(), &want)
		  : GQ_ELECT_STANDBY;
	snprintf(rv, sizeof(rv), "%s", l->rv);
	pthread_mutex_unlock(&l->mu);
	if (rc != GQ_OK && rc != GQ_ENOTFOUND)
		gq_debug("leader election: cannot read the lease | error=%s", err.msg);
	report(l, ch, rc == GQ_OK || rc == GQ_ENOTFOUND ? "another holder" : "renew deadline");
	if (act == GQ_ELECT_STANDBY)
		return;
	rc = lease_write(l, act == GQ_ELECT_CREATE, rv, &want, &err);
	if (rc != GQ_OK && rc != GQ_ECONFLICT)
		gq_debug("leader election: lease write failed | error=%s", err.msg);
	pthread_mutex_lock(&l->mu);
	ch = counted(l, gq_election_written(&l->e, rc, &want, t0, gq_mono_ms()));
	pthread_mutex_unlock(&l->mu);
	report(l, ch, rc == GQ_ECONFLICT ? "conflict (409) on update" : "renew deadline");
}

/* Clears the holder (SIGTERM): the next candidate takes over at once. */
static void release(struct gq_leader *l)
{
	struct gq_lease_record want;
	struct gq_err err = {0};
	char rv[64];
	bool leading;
	int rc;

	pthread_mutex_lock(&l->mu);
	leading = gq_election_write_budget(&l->e, gq_mono_ms()) > 0;
	gq_election_release_record(&l->e, gq_real_ms(), &want);
	snprintf(rv, sizeof(rv), "%s", l->rv);
	pthread_mutex_unlock(&l->mu);
	if (!leading)
		return;
	rc = lease_write(l, false, rv, &want, &err);
	pthread_mutex_lock(&l->mu);
	gq_election_released(&l->e);
	pthread_mutex_unlock(&l->mu);
	if (rc == GQ_OK)
		gq_info("leader election: lease released | lease=%s/%s identity=%s", l->ns, l->name,
			l->e.id);
	else
		gq_warn("leader election: cannot release the lease | lease=%s/%s error=%s", l->ns,
			l->name, err.msg);
	if (l->o.on_change)
		l->o.on_change(l->o.arg, false);
}

static void *leader_main(void *arg)
{
	struct gq_leader *l = arg;

	for (;;) {
		int64_t next = gq_mono_ms() + l->e.cfg.retry_ms;
		struct timespec ts = {(time_t)(next / 1000), (long)(next % 1000) * 1000000};

		attempt(l);
		pthread_mutex_lock(&l->mu);
		while (!l->stopping && gq_mono_ms() < next)
			if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT)
				break;
		if (l->stopping) {
			pthread_mutex_unlock(&l->mu);
			break;
		}
		pthread_mutex_unlock(&l->mu);
	}
	return NULL;
}

int gq_leader_start(struct gq_leader **out, const struct gq_leader_opts *o, struct gq_err *err)
{
	struct gq_leader *l = gq_calloc(1, sizeof(*l));
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	rc = gq_election_init(&l->e, &o->cfg, err);
	if (rc != GQ_OK) {
		free(l);
		return rc;
	}
	l->o = *o;
	l->ns = gq_strdup(o->namespace);
	l->name = gq_strdup(o->name);
	l->coll = gq_asprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases", l->ns);
	l->path = gq_asprintf("%s/%s", l->coll, l->name);
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&l->thread, NULL, leader_main, l) != 0) {
		gq_leader_free(l);
		return gq_err_set(err, GQ_EIO, "cannot start the leader election thread");
	}
	gq_info("leader election: candidate | lease=%s/%s identity=%s lease_ms=%lld "
		"renew_deadline_ms=%lld retry_ms=%lld",
		l->ns, l->name, l->e.id, (long long)o->cfg.lease_ms,
		(long long)o->cfg.renew_deadline_ms, (long long)o->cfg.retry_ms);
	*out = l;
	return GQ_OK;
}

int64_t gq_leader_budget(struct gq_leader *l, uint64_t *term)
{
	int64_t left;

	pthread_mutex_lock(&l->mu);
	left = gq_election_write_budget(&l->e, gq_mono_ms());
	if (term)
		*term = l->stats.transitions;
	pthread_mutex_unlock(&l->mu);
	return left;
}

int64_t gq_leader_write_budget(void *arg)
{
	return gq_leader_budget(arg, NULL);
}

bool gq_leader_is_leader(struct gq_leader *l)
{
	return l && gq_leader_write_budget(l) > 0;
}

void gq_leader_get_stats(struct gq_leader *l, struct gq_leader_stats *out)
{
	pthread_mutex_lock(&l->mu);
	*out = l->stats;
	pthread_mutex_unlock(&l->mu);
}

void gq_leader_stop(struct gq_leader *l, bool do_release)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->stopping = true;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	l->thread = 0;
	if (do_release)
		release(l);
}

void gq_leader_free(struct gq_leader *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l->ns);
	free(l->name);
	free(l->path);
	free(l->coll);
	free(l);
}
