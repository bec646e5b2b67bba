/*
 * leader.h - leader election over a coordination.k8s.io/v1 Lease: the thin
 * I/O shell around election.h. One thread GETs the Lease every retry
 * period, then creates or updates it (PUT with the resourceVersion it read,
 * so a concurrent write is a 409) as the state machine says.
 *
 * Writes of the controller are gated by gq_leader_write_budget (see
 * gq_kclient_set_write_gate): it answers from the local monotonic clock, so
 * a replica that cannot renew (apiserver unreachable, process paused) stops
 * writing at its renew deadline, before the lease can expire for the
 * others, whether or not the election thread has run since.
 */
#ifndef GQ_LEADER_H
#define GQ_LEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "election.h"
#include "gq.h"
#include "kclient.h"

struct gq_leader;

struct gq_leader_opts {
	struct gq_kclient *kc; /* borrowed; the election's own client (not gated) */
	const char *namespace; /* of the Lease */
	const char *name;      /* of the Lease */
	struct gq_election_cfg cfg;
	/* Called on the election thread when this replica starts (true) or
	 * stops (false) leading; may be NULL. While it runs no renewal is
	 * attempted, so it must be short. */
	void (*on_change)(void *arg, bool leading);
	void *arg;
};

/* Starts the election thread. Strings of o are copied. *out is owned by
 * the caller (gq_leader_stop, then gq_leader_free). Returns GQ_OK, GQ_EINVAL
 * (bad configuration, err says why) or GQ_EIO (thread creation). */
int gq_leader_start(struct gq_leader **out, const struct gq_leader_opts *o, struct gq_err *err);

/* The write gate: ms this replica may still have a write in flight, 0 when
 * it is not leader. Thread-safe; arg is the struct gq_leader. */
int64_t gq_leader_write_budget(void *arg);

/* As gq_leader_write_budget, and *term (may be NULL) = the number of
 * times this replica started leading: a term's writes can be told from
 * the next one's. */
int64_t gq_leader_budget(struct gq_leader *l, uint64_t *term);

/* Whether this replica is leader now (gq_leader_write_budget > 0). */
bool gq_leader_is_leader(struct gq_leader *l);

struct gq_leader_stats {
	uint64_t transitions; /* times this replica started leading */
	uint64_t losses;      /* times it stopped leading (release excluded) */
};
void gq_leader_get_stats(struct gq_leader *l, struct gq_leader_stats *out);

/* Stops the thread (waiting for an attempt in progress). When release is
 * true and this replica is leader, the Lease is then updated with its
 * holder cleared so another replica can take over at once. NULL is fine. */
void gq_leader_stop(struct gq_leader *l, bool release);

/* Frees a stopped election (NULL is fine). */
void gq_leader_free(struct gq_leader *l);

/* Parses a Lease object into *rec and its resourceVersion into rv (at most
 * rv_size bytes with NUL; "" when absent). Missing spec fields read as
 * empty / 0. Returns GQ_OK or GQ_EPARSE (not an object, or an unreadable
 * time). Exported for tests. */
int gq_leader_parse_lease(yajl_val lease, struct gq_lease_record *rec, char *rv, size_t rv_size);

/* The JSON of a Lease holding rec (caller frees; NULL when a time cannot be
 * written). rv "" or NULL omits metadata.resourceVersion (create). */
char *gq_leader_lease_body(const char *ns, const char *name, const char *rv,
			   const struct gq_lease_record *rec);

#endif
