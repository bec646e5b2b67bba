/*
 * test_conditions.c - the status conditions of a pass (conditions.c),
 * table-driven: namespace states, failed writes, PriorityClass conflicts
 * and the budget, and which reason wins when several apply.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "conditions.h"
#include "gq.h"

#define H      INT64_C(3600000000)    /* micro GPU-seconds per GPU-hour */
#define END_MS INT64_C(1796083200000) /* 2026-12-01T00:00:00Z */

struct want {
	const char *type;
	bool status;
	const char *reason;
	const char *message;
};

struct cond_case {
	const char *name;
	enum gq_ns_state states[3]; /* namespaces a, b, c */
	size_t n_enforced;
	size_t n_errors;
	const char *class_conflict; /* NULL: none */
	bool budget;
	struct gq_cond_budget b;
	size_t n_pending;
	struct want want[5];
};

static const struct cond_case cases[] = {
    {"all enforced",
     {GQ_NS_READY, GQ_NS_READY, GQ_NS_READY},
     3,
     0,
     NULL,
     false,
     {0},
     0,
     {{"Ready", true, "Reconciled",
       "quotas, limits and priority classes enforced in 3 namespace(s)"},
      {"Conflict", false, "NoConflict", ""},
      {"Degraded", false, "AllNamespacesReady", ""}}},
    {"a quota not enforced yet",
     {GQ_NS_READY, GQ_NS_PENDING, GQ_NS_READY},
     2,
     0,
     NULL,
     false,
     {0},
     1,
     {{"Ready", false, "QuotaPending",
       "waiting for the quota controller to enforce the quotas of 1 namespace(s)"},
      {"Conflict", false, "NoConflict", ""},
      {"Degraded", false, "AllNamespacesReady", ""}}},
    {"a namespace of another team",
     {GQ_NS_READY, GQ_NS_CONFLICT, GQ_NS_READY},
     2,
     0,
     NULL,
     false,
     {0},
     0,
     {{"Ready", false, "Conflict", "some objects could not be applied because of a conflict"},
      {"Conflict", true, "Conflict", "namespace b: why b"},
      {"Degraded", false, "AllNamespacesReady", ""}}},
    {"a PriorityClass not ours",
     {GQ_NS_READY, GQ_NS_READY, GQ_NS_READY},
     3,
     0,
     "ml-high",
     false,
     {0},
     0,
     {{"Ready", false, "Conflict", "some objects could not be applied because of a conflict"},
      {"Conflict", true, "Conflict",
       "PriorityClass ml-high exists and is not managed by gpuquota for this team; it was "
       "left untouched"},
      {"Degraded", false, "AllNamespacesReady", ""}}},
    {"a namespace missing and one terminating",
     {GQ_NS_MISSING, GQ_NS_READY, GQ_NS_TERMINATING},
     1,
     0,
     NULL,
     false,
     {0},
     0,
     {{"Ready", true, "Reconciled",
       "quotas, limits and priority classes enforced in 1 namespace(s)"},
      {"Conflict", false, "NoConflict", ""},
      {"Degraded", true, "NamespaceMissing", "namespace a: why a; namespace c: why c"}}},
    {"a write failed",
     {GQ_NS_MISSING, GQ_NS_READY, GQ_NS_READY},
     2,
     2,
     NULL,
     false,
     {0},
     0,
     {{"Ready", false, "ApplyFailed", "some objects could not be applied"},
      {"Conflict", false, "NoConflict", ""},
      {"Degraded", true, "ApplyFailed", "namespace a: why a; quota: 500"}}},
    {"pending wins over conflict and errors",
     {GQ_NS_PENDING, GQ_NS_CONFLICT, GQ_NS_READY},
     1,
     1,
     NULL,
     false,
     {0},
     1,
     {{"Ready", false, "QuotaPending",
       "waiting for the quota controller to enforce the quotas of 1 namespace(s)"},
      {"Conflict", true, "Conflict", "namespace b: why b"},
      {"Degraded", true, "ApplyFailed", "quota: 500"}}},
    {"budget spent, Hold",
     {GQ_NS_READY, GQ_NS_READY, GQ_NS_READY},
     3,
     0,
     NULL,
     true,
     {true, true, 10 * H, 10 * H, END_MS, GQ_EXHAUSTED_HOLD, 80},
     0,
     {{"Ready", true, "Reconciled",
       "quotas, limits and priority classes enforced in 3 namespace(s)"},
      {"Conflict", false, "NoConflict", ""},
      {"Degraded", false, "AllNamespacesReady", ""},
      {"BudgetExhausted", true, "BudgetExhausted",
       "team used 10 of 10 GPU-hours; new GPU pods are held until the period ends at "
       "2026-12-01T00:00:00Z"},
      {"BudgetWarning", true, "BudgetWarning", "10 of 10 GPU-hours used (warning at 80%)"}}},
    {"budget spent, Deny",
     {GQ_NS_READY, GQ_NS_READY, GQ_NS_READY},
     3,
     0,
     NULL,
     true,
     {true, true, 12 * H, 10 * H, END_MS, GQ_EXHAUSTED_DENY, 80},
     0,
     {{"Ready", true, "Reconciled",
       "quotas, limits and priority classes enforced in 3 namespace(s)"},
      {"Conflict", false, "NoConflict", ""},
      {"Degraded", false, "AllNamespacesReady", ""},
      {"BudgetExhausted", true, "BudgetExhausted",
       "team used 12 of 10 GPU-hours; new GPU pods are denied until the period ends at "
       "2026-12-01T00:00:00Z"},
      {"BudgetWarning", true, "BudgetWarning", "12 of 10 GPU-hours used (warning at 80%)"}}},
    {"budget available",
     {GQ_NS_READY, GQ_NS_READY, GQ_NS_READY},
     3,
     0,
     NULL,
     true,
     {false, false, 3 * H / 2, 10 * H, END_MS, GQ_EXHAUSTED_DEPRIORITIZE, 90},
     0,
     {{"Ready", true, "Reconciled",
       "quotas, limits and priority classes enforced in 3 namespace(s)"},
      {"Conflict", false, "NoConflict", ""},
      {"Degraded", false, "AllNamespacesReady", ""},
      {"BudgetExhausted", false, "BudgetAvailable",
       "1.5 of 10 GPU-hours used this period (ends 2026-12-01T00:00:00Z)"},
      {"BudgetWarning", false, "BelowWarning", "1.5 of 10 GPU-hours used (warning at 90%)"}}},
};

static void run_case(const struct cond_case *k)
{
	static char names[3][2] = {"a", "b", "c"}, whys[3][6] = {"why a", "why b", "why c"};
	struct gq_plan_ns ns[3];
	struct gq_plan plan = {ns, 3};
	const char *classes[1] = {k->class_conflict};
	struct gq_cond_in in = {&plan,
				k->n_enforced,
				k->n_errors,
				k->n_errors ? "quota: 500" : NULL,
				classes,
				k->class_conflict ? 1 : 0,
				k->budget ? &k->b : NULL,
				NULL};
	struct gq_cond_set cs;

	for (int i = 0; i < 3; i++)
		ns[i] = (struct gq_plan_ns){names[i], k->states[i], whys[i]};
	gq_cond_build(&cs, &in);
	if (cs.n != (k->budget ? 5u : 3u) || cs.n_pending != k->n_pending)
		fail_msg("%s: %zu conditions, %zu pending", k->name, cs.n, cs.n_pending);
	for (size_t i = 0; i < cs.n; i++) {
		const struct want *w = &k->want[i];
		const struct gq_condition *c = &cs.c[i];

		if (strcmp(c->type, w->type) != 0 || c->status != w->status ||
		    strcmp(c->reason, w->reason) != 0 || strcmp(c->message, w->message) != 0)
			fail_msg("%s: condition %zu is %s=%d %s \"%s\", want %s=%d %s \"%s\"",
				 k->name, i, c->type, c->status, c->reason, c->message, w->type,
				 w->status, w->reason, w->message);
	}
	gq_cond_set_free(&cs);
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < GQ_ARRAY_LEN(cases); i++)
		run_case(&cases[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
