/*
 * election.h - the leader election state machine over a
 * coordination.k8s.io/v1 Lease, with client-go's leaderelection semantics.
 * Pure: no I/O, an injected clock; the Lease GET/create/update is done by
 * leader.c, which feeds what it saw and what its writes returned in here.
 *
 * Two clocks. Local judgments (is the lease expired for us, has our renew
 * deadline passed) use a local monotonic clock, `mono_ms`, never the times
 * written in the record: another replica's clock may be off. The record's
 * acquireTime and renewTime carry the wall clock, `wall_ms`, for people.
 *
 * Semantics (client-go):
 *  - observed time: the local time at which this replica last saw the
 *    record change (any field of the spec), not the record's renewTime;
 *  - another holder's lease is expired when observed + leaseDurationSeconds
 *    (of the record) <= now; an empty holder (a released lease) is free;
 *  - acquiring keeps leaseTransitions + 1 and a fresh acquireTime; renewing
 *    keeps both; renewTime is now;
 *  - a leader that has not renewed successfully for renewDeadline since the
 *    start of its last successful renewal is no longer leader, and a 409 on
 *    its update (someone else wrote the Lease) loses at once;
 *  - release: holder cleared, leaseDurationSeconds 1, both times now,
 *    leaseTransitions kept.
 */
#ifndef GQ_ELECTION_H
#define GQ_ELECTION_H

#include <stdbool.h>
#include <stdint.h>

#include "gq.h"

/* Longest identity (a pod name is at most 253 bytes), with NUL. */
#define GQ_ELECTION_ID_MAX 256
/* Longest output of gq_election_format_micro, with NUL. */
#define GQ_ELECTION_TIME_STRLEN 56

/* The spec of a Lease, as far as the election reads and writes it. */
struct gq_lease_record {
	char holder[GQ_ELECTION_ID_MAX]; /* holderIdentity, "" when released/absent */
	int64_t lease_duration_s;	 /* leaseDurationSeconds */
	int64_t acquire_wall_ms;	 /* acquireTime, 0 when absent */
	int64_t renew_wall_ms;		 /* renewTime, 0 when absent */
	int64_t transitions;		 /* leaseTransitions */
};

struct gq_election_cfg {
	const char *identity;	   /* copied; at most GQ_ELECTION_ID_MAX - 1 bytes */
	int64_t lease_ms;	   /* leaseDurationSeconds written (whole seconds) */
	int64_t renew_deadline_ms; /* a leader gives up after this without a renewal */
	int64_t retry_ms;	   /* time between attempts (used by the caller) */
};

enum gq_election_action {
	GQ_ELECT_STANDBY = 0, /* someone else holds a valid lease: wait */
	GQ_ELECT_CREATE,      /* no Lease: create one holding it */
	GQ_ELECT_UPDATE,      /* acquire (expired or released) or renew: update */
};

enum gq_election_change {
	GQ_ELECT_UNCHANGED = 0,
	GQ_ELECT_STARTED, /* this replica became leader */
	GQ_ELECT_LOST,	  /* this replica stopped being leader */
};

struct gq_election {
	struct gq_election_cfg cfg;
	char id[GQ_ELECTION_ID_MAX];
	bool have_observed;		 /* a Lease was seen (or written) */
	struct gq_lease_record observed; /* the last record seen or written */
	int64_t observed_mono_ms;	 /* when it last changed, local clock */
	bool leader;			 /* holds the lease and within its renew deadline */
	int64_t renewed_mono_ms;	 /* start of the last successful acquire/renew */
};

/* Validates cfg (identity non-empty and short enough, 0 < retry <
 * renew_deadline < lease, lease a whole number of seconds) and sets *e to a
 * candidate that has seen nothing. Returns GQ_OK or GQ_EINVAL (err says
 * why). */
int gq_election_init(struct gq_election *e, const struct gq_election_cfg *cfg, struct gq_err *err);

/* Records what a GET of the Lease returned at mono_ms: rec, or NULL when
 * the Lease does not exist. The observed time moves only when the record
 * differs from the one observed before. A leader that sees another holder
 * (or none) has lost: returns GQ_ELECT_LOST then, else as
 * gq_election_tick. */
enum gq_election_change gq_election_observe(struct gq_election *e,
					    const struct gq_lease_record *rec, int64_t mono_ms);

/* The next step at mono_ms (after an observe): for CREATE and UPDATE,
 * *want receives the record to write (renewTime wall_ms). */
enum gq_election_action gq_election_next(const struct gq_election *e, int64_t mono_ms,
					 int64_t wall_ms, struct gq_lease_record *want);

/*
 * The outcome of writing `written` (from gq_election_next), started at
 * started_mono_ms and answered at mono_ms: rc GQ_OK holds the lease
 * (renewal counted from the start of the request); GQ_ECONFLICT loses it at
 * once; any other error keeps a leader only within its renew deadline.
 * Returns the change of leadership.
 */
enum gq_election_change gq_election_written(struct gq_election *e, int rc,
					    const struct gq_lease_record *written,
					    int64_t started_mono_ms, int64_t mono_ms);

/* Time passing without a successful renewal (e.g. the GET failed): a leader
 * past its renew deadline is no longer leader. Returns the change. */
enum gq_election_change gq_election_tick(struct gq_election *e, int64_t mono_ms);

/* How long (ms) this replica may still have a write in flight: until its
 * renew deadline, counted from the start of the last successful renewal;
 * 0 when it is not leader or the deadline has passed (judged at mono_ms
 * whatever tick last said, so a process resumed after a pause never writes
 * on an old lease). */
int64_t gq_election_write_budget(const struct gq_election *e, int64_t mono_ms);

/* The record that releases the lease (see the top). Only meaningful while
 * leader. */
void gq_election_release_record(const struct gq_election *e, int64_t wall_ms,
				struct gq_lease_record *want);

/* After a release was written (or abandoned): no longer leader. Returns the
 * change. */
enum gq_election_change gq_election_released(struct gq_election *e);

/* Writes ms as a Kubernetes MicroTime: RFC 3339 UTC with 6 fractional
 * digits, "2026-01-02T03:04:05.123000Z". Returns GQ_OK or GQ_ERANGE. */
int gq_election_format_micro(int64_t wall_ms, char buf[GQ_ELECTION_TIME_STRLEN]);

/* Parses a MicroTime (any RFC 3339 date-time; truncated to ms). GQ_OK or
 * GQ_EPARSE. */
int gq_election_parse_micro(const char *s, int64_t *wall_ms);

#endif
