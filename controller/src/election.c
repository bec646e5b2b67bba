/*
 * election.c - the leader election state machine (see election.h).
 */
#include "election.h"

#include <stdio.h>
#include <string.h>

#include "ledger.h"
#include "rfc3339.h"

int gq_election_init(struct gq_election *e, const struct gq_election_cfg *cfg, struct gq_err *err)
{
	memset(e, 0, sizeof(*e));
	if (cfg->identity == NULL || cfg->identity[0] == '\0' ||
	    strlen(cfg->identity) >= GQ_ELECTION_ID_MAX)
		return gq_err_set(err, GQ_EINVAL, "the identity must be 1..%d bytes",
				  GQ_ELECTION_ID_MAX - 1);
	if (cfg->retry_ms <= 0 || cfg->renew_deadline_ms <= cfg->retry_ms ||
	    cfg->lease_ms <= cfg->renew_deadline_ms)
		return gq_err_set(err, GQ_EINVAL,
				  "want 0 < retry period < renew deadline < lease duration");
	if (cfg->lease_ms % 1000 != 0)
		return gq_err_set(err, GQ_EINVAL, "the lease duration must be whole seconds");
	snprintf(e->id, sizeof(e->id), "%s", cfg->identity);
	e->cfg = *cfg;
	e->cfg.identity = e->id;
	return GQ_OK;
}

static bool record_equal(const struct gq_lease_record *a, const struct gq_lease_record *b)
{
	return strcmp(a->holder, b->holder) == 0 && a->lease_duration_s == b->lease_duration_s &&
	       a->acquire_wall_ms == b->acquire_wall_ms && a->renew_wall_ms == b->renew_wall_ms &&
	       a->transitions == b->transitions;
}

enum gq_election_change gq_election_tick(struct gq_election *e, int64_t mono_ms)
{
	if (e->leader && gq_election_write_budget(e, mono_ms) <= 0) {
		e->leader = false;
		return GQ_ELECT_LOST;
	}
	return GQ_ELECT_UNCHANGED;
}

enum gq_election_change gq_election_observe(struct gq_election *e,
					    const struct gq_lease_record *rec, int64_t mono_ms)
{
	if (rec == NULL) {
		e->have_observed = false;
		memset(&e->observed, 0, sizeof(e->observed));
		e->observed_mono_ms = mono_ms;
	} else if (!e->have_observed || !record_equal(rec, &e->observed)) {
		e->have_observed = true;
		e->observed = *rec;
		e->observed_mono_ms = mono_ms;
	}
	if (e->leader && (!e->have_observed || strcmp(e->observed.holder, e->id) != 0)) {
		e->leader = false;
		return GQ_ELECT_LOST;
	}
	return gq_election_tick(e, mono_ms);
}

/* Whether another replica's lease is still valid for us at mono_ms. */
static bool held_by_other(const struct gq_election *e, int64_t mono_ms)
{
	int64_t dur_ms;

	if (!e->have_observed || e->observed.holder[0] == '\0' ||
	    strcmp(e->observed.holder, e->id) == 0)
		return false;
	dur_ms = e->observed.lease_duration_s > 0 ? e->observed.lease_duration_s * 1000
						  : e->cfg.lease_ms;
	return e->observed_mono_ms + dur_ms > mono_ms;
}

enum gq_election_action gq_election_next(const struct gq_election *e, int64_t mono_ms,
					 int64_t wall_ms, struct gq_lease_record *want)
{
	memset(want, 0, sizeof(*want));
	snprintf(want->holder, sizeof(want->holder), "%s", e->id);
	want->lease_duration_s = e->cfg.lease_ms / 1000;
	want->renew_wall_ms = wall_ms;
	want->acquire_wall_ms = wall_ms;
	if (!e->have_observed)
		return GQ_ELECT_CREATE;
	if (held_by_other(e, mono_ms))
		return GQ_ELECT_STANDBY;
	if (strcmp(e->observed.holder, e->id) == 0) {
		/* Renewal (or a restart under the same identity). */
		if (e->observed.acquire_wall_ms)
			want->acquire_wall_ms = e->observed.acquire_wall_ms;
		want->transitions = e->observed.transitions;
	} else {
		want->transitions = e->observed.transitions + 1;
	}
	return GQ_ELECT_UPDATE;
}

enum gq_election_change gq_election_written(struct gq_election *e, int rc,
					    const struct gq_lease_record *written,
					    int64_t started_mono_ms, int64_t mono_ms)
{
	bool was = e->leader;

	if (rc == GQ_OK) {
		e->have_observed = true;
		e->observed = *written;
		e->observed_mono_ms = mono_ms;
		e->renewed_mono_ms = started_mono_ms;
		e->leader = true;
		/* A reply that came after the deadline holds nothing. */
		if (gq_election_write_budget(e, mono_ms) <= 0)
			e->leader = false;
		if (e->leader != was)
			return e->leader ? GQ_ELECT_STARTED : GQ_ELECT_LOST;
		return GQ_ELECT_UNCHANGED;
	}
	if (rc == GQ_ECONFLICT && e->leader) {
		e->leader = false;
		return GQ_ELECT_LOST;
	}
	return gq_election_tick(e, mono_ms);
}

int64_t gq_election_write_budget(const struct gq_election *e, int64_t mono_ms)
{
	int64_t left;

	if (!e->leader)
		return 0;
	left = e->renewed_mono_ms + e->cfg.renew_deadline_ms - mono_ms;
	return left > 0 ? left : 0;
}

void gq_election_release_record(const struct gq_election *e, int64_t wall_ms,
				struct gq_lease_record *want)
{
	memset(want, 0, sizeof(*want));
	want->lease_duration_s = 1;
	want->acquire_wall_ms = wall_ms;
	want->renew_wall_ms = wall_ms;
	want->transitions = e->observed.transitions;
}

enum gq_election_change gq_election_released(struct gq_election *e)
{
	bool was = e->leader;

	e->leader = false;
	return was ? GQ_ELECT_LOST : GQ_ELECT_UNCHANGED;
}

int gq_election_format_micro(int64_t wall_ms, char buf[GQ_ELECTION_TIME_STRLEN])
{
	char whole[GQ_RFC3339_STRLEN];
	int64_t frac = wall_ms % 1000;
	size_t n;

	if (frac < 0)
		frac += 1000;
	buf[0] = '\0';
	if (gq_rfc3339_format_ms(wall_ms - frac, whole) != GQ_OK)
		return GQ_ERANGE;
	n = strlen(whole); /* "...:05Z" */
	whole[n - 1] = '\0';
	snprintf(buf, GQ_ELECTION_TIME_STRLEN, "%s.%03lld000Z", whole, (long long)frac);
	return GQ_OK;
}

int gq_election_parse_micro(const char *s, int64_t *wall_ms)
{
	return gq_rfc3339_parse(s, wall_ms);
}
