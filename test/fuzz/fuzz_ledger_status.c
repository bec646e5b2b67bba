/*
 * fuzz_ledger_status.c - libFuzzer target for the ledger status decoder:
 * gq_acct_ledger_from_status (accounting.c) and the RFC 3339 time and
 * GPU-hour parsers it uses (gq_rfc3339_parse, gq_ledger_parse_hours).
 *
 * Input starting with '{': a GPUTeamAllocation status object as read back
 * from the apiserver (usage + history). When it decodes (GQ_OK) the ledger
 * must pass gq_ledger_check, hold at most GQ_LEDGER_HISTORY records, and
 * survive a round trip through the status writer (gq_status_body): times
 * and micro GPU-second counts come back exactly, history budgets within
 * the display rounding of gq_ledger_format_hours (half of 1e-6 GPU-hour,
 * 1800 micro GPU-seconds), and a second round trip is a fixed point. Any
 * other result must be GQ_ENOTFOUND or GQ_EINVAL.
 *
 * Any other input: a string (up to its first NUL) for gq_rfc3339_parse and
 * gq_ledger_parse_hours; what parses must format and parse back to the
 * same value (GPU-hours: within the same rounding).
 *
 * A violated invariant aborts; nothing may crash, leak or trip ASan/UBSan.
 * Build: `make fuzz` (libFuzzer); replayed by `make unit` through
 * test/fuzz/standalone.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "accounting.h"
#include "gq.h"
#include "ledger.h"
#include "plan.h"
#include "spec.h"
#include "rfc3339.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (64u * 1024)
/* Largest change of a value through gq_ledger_format_hours + parse. */
#define FUZZ_HOURS_SLACK (GQ_LEDGER_MICRO_PER_HOUR / 1000000 / 2)

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_ledger_status: invariant violated: %s\n", what);
		abort();
	}
}

static int64_t dist(int64_t a, int64_t b)
{
	int64_t d;

	if (__builtin_sub_overflow(a, b, &d) || d == INT64_MIN)
		return INT64_MAX;
	return d < 0 ? -d : d;
}

/* Writes l as the controller persists it and reads it back into *back. */
static void round_trip(const struct gq_ledger *l, struct gq_ledger *back)
{
	struct gq_team t = {.name = "team", .generation = 1};
	struct gq_status_budget b = {.ledger = l, .accounted_until_ms = l->accounted_until_ms};
	struct gq_status_in in = {.team = &t, .now = "2026-01-01T00:00:00Z", .budget = &b};
	const char *status_path[] = {"status", NULL};
	char ebuf[128], *body;
	yajl_val doc, st;

	body = gq_status_body(&in);
	check(body != NULL, "status body written");
	doc = yajl_tree_parse(body, ebuf, sizeof(ebuf));
	check(doc != NULL, "status body is JSON");
	st = yajl_tree_get(doc, status_path, yajl_t_object);
	check(st != NULL, "status object");
	check(gq_acct_ledger_from_status(back, st) == GQ_OK, "written status reads back");
	yajl_tree_free(doc);
	free(body);
}

static void check_same(const struct gq_ledger *a, const struct gq_ledger *b, int64_t slack)
{
	check(a->period_start_ms == b->period_start_ms && a->period_end_ms == b->period_end_ms &&
		  a->accounted_until_ms == b->accounted_until_ms && a->used_micro == b->used_micro,
	      "usage round trip");
	check(a->n_history == b->n_history, "history length round trip");
	for (size_t i = 0; i < a->n_history; i++) {
		const struct gq_ledger_period_rec *x = &a->history[i], *y = &b->history[i];

		check(x->start_ms == y->start_ms && x->end_ms == y->end_ms &&
			  x->used_micro == y->used_micro,
		      "history round trip");
		check(dist(x->budget_micro, y->budget_micro) <= slack, "history budget round trip");
	}
}

static void fuzz_status(const char *text)
{
	struct gq_ledger l, back, again;
	char ebuf[128];
	yajl_val doc;
	int rc;

	doc = yajl_tree_parse(text, ebuf, sizeof(ebuf));
	if (doc == NULL)
		return;
	rc = gq_acct_ledger_from_status(&l, doc);
	if (rc != GQ_OK) {
		check(rc == GQ_ENOTFOUND || rc == GQ_EINVAL, "error code");
		yajl_tree_free(doc);
		return;
	}
	check(gq_ledger_check(&l) == GQ_OK && l.n_history <= GQ_LEDGER_HISTORY, "ledger valid");
	round_trip(&l, &back);
	check_same(&l, &back, FUZZ_HOURS_SLACK);
	round_trip(&back, &again);
	check_same(&back, &again, 0);
	yajl_tree_free(doc);
}

static void fuzz_scalars(const char *s)
{
	char buf[GQ_LEDGER_HOURS_STRLEN > GQ_RFC3339_STRLEN ? GQ_LEDGER_HOURS_STRLEN
							    : GQ_RFC3339_STRLEN];
	int64_t v, back;
	int rc;

	rc = gq_rfc3339_parse(s, &v);
	check(rc == GQ_OK || rc == GQ_EPARSE, "time error code");
	if (rc == GQ_OK) {
		rc = gq_rfc3339_format_ms(v, buf);
		check(rc == GQ_OK, "a parsed time formats");
		check(strlen(buf) < GQ_RFC3339_STRLEN, "time length");
		check(gq_rfc3339_parse(buf, &back) == GQ_OK && back == v, "time round trip");
	}
	rc = gq_ledger_parse_hours(s, &v);
	check(rc == GQ_OK || rc == GQ_EPARSE || rc == GQ_ERANGE, "hours error code");
	if (rc == GQ_OK) {
		gq_ledger_format_hours(v, buf);
		check(strlen(buf) < GQ_LEDGER_HOURS_STRLEN, "hours length");
		rc = gq_ledger_parse_hours(buf, &back);
		check(rc == GQ_OK && dist(back, v) <= FUZZ_HOURS_SLACK, "hours round trip");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	s = gq_malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	if (size > 0 && s[0] == '{')
		fuzz_status(s);
	else
		fuzz_scalars(s);
	free(s);
	return 0;
}
