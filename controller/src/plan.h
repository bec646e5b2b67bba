/*
 * plan.h - the pure decisions of a team reconcile, separate from I/O:
 * which namespaces a team manages (existing, not claimed by an earlier
 * allocation), its status document, and whether an observed object already
 * matches what we would apply (so unchanged state causes zero writes).
 */
#ifndef GQ_PLAN_H
#define GQ_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include <yajl/yajl_tree.h>

#include "gq.h"
#include "ledger.h"
#include "sharing.h"
#include "spec.h"

/* A namespace as the controller sees it. */
struct gq_ns_info {
	const char *name;
	struct gq_label_list labels; /* borrowed */
	bool terminating;
};

enum gq_ns_state { GQ_NS_READY, GQ_NS_PENDING, GQ_NS_MISSING, GQ_NS_CONFLICT, GQ_NS_TERMINATING };

/* One namespace of a team and why it is (not) managed. Strings owned. */
struct gq_plan_ns {
	char *name;
	enum gq_ns_state state;
	char *message; /* NULL or a human explanation */
};

struct gq_plan {
	struct gq_plan_ns *ns; /* sorted by name */
	size_t n;
};

/*
 * Decides the namespaces of team t: listed ones plus those matching its
 * selector, among existing namespaces ns[0..n_ns). A namespace claimed by
 * several allocations belongs to the one created first (creationTimestamp,
 * then name), so the outcome does not depend on event order and never flaps;
 * the others get GQ_NS_CONFLICT. Listed namespaces that do not exist get
 * GQ_NS_MISSING. all[] holds every allocation (t may be among them).
 * *out is owned by the caller (gq_plan_free).
 */
int gq_plan_namespaces(struct gq_plan *out, const struct gq_team *t, const struct gq_team *all,
		       size_t n_all, const struct gq_ns_info *ns, size_t n_ns);
void gq_plan_free(struct gq_plan *p);
const char *gq_ns_state_name(enum gq_ns_state s);

/* A metav1.Condition. Strings borrowed. */
struct gq_condition {
	const char *type;
	bool status;
	const char *reason;
	const char *message;
};

/* Per-namespace quota readback for the status. */
struct gq_status_ns {
	const struct gq_plan_ns *plan;
	yajl_val hard; /* ResourceQuota status.hard (object) or NULL */
	yajl_val used; /* ResourceQuota status.used (object) or NULL */
};

/* The ledger to report (only for teams with a budget). */
struct gq_status_budget {
	const struct gq_ledger *ledger;
	int64_t budget_micro;
	int64_t accounted_until_ms; /* what to persist as accountedUntil */
};

struct gq_status_in {
	const struct gq_team *team;
	const struct gq_status_ns *ns;
	size_t n_ns;
	const struct gq_res_list *totals; /* team quota totals (hard) */
	const struct gq_condition *conds;
	size_t n_conds;
	yajl_val prev_status;		       /* the allocation's current status, or NULL */
	const char *now;		       /* RFC 3339 timestamp for new transitions */
	const struct gq_status_budget *budget; /* NULL: no budget */
	const struct gq_share_plan *share;     /* NULL: no sharing (status.nodes) */
};

/*
 * The status apply body for the allocation (apiVersion, kind, metadata.name,
 * status) as a tree. Conditions keep their lastTransitionTime from
 * prev_status when their status is unchanged, so a re-apply is a no-op.
 * Returns a new tree (caller frees with yajl_tree_free), or NULL when a
 * text in it (a condition message) is not valid UTF-8.
 */
yajl_val gq_status_tree(const struct gq_status_in *in);

/* gq_status_tree's document as JSON text: a heap string (caller frees), or
 * NULL where gq_status_tree gives NULL. */
char *gq_status_body(const struct gq_status_in *in);

/*
 * Whether observed object `actual` already holds everything in `desired`
 * (an apply body): every member of desired is present with an equal value;
 * below "spec" and "status" maps must have exactly the same keys (a key we
 * stopped sending must be removed). Quantities under hard/used/default/
 * defaultRequest compare by value. Top-level apiVersion and kind are ignored
 * (cached list items do not carry them).
 */
bool gq_json_covers(yajl_val desired, yajl_val actual);

#endif
