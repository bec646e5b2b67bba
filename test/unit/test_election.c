/* Unit tests for election.c: the leader election state machine with an
 * injected clock (client-go leaderelection semantics). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "election.h"
#include "gq.h"
#include "leader.h"

#define WALL0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

static void init(struct gq_election *e, const char *id)
{
	struct gq_election_cfg cfg = {id, 15000, 10000, 2000};
	struct gq_err err = {0};

	assert_int_equal(gq_election_init(e, &cfg, &err), GQ_OK);
}

static struct gq_lease_record rec(const char *holder, int64_t dur_s, int64_t renew,
				  int64_t transitions)
{
	struct gq_lease_record r;

	memset(&r, 0, sizeof(r));
	snprintf(r.holder, sizeof(r.holder), "%s", holder);
	r.lease_duration_s = dur_s;
	r.acquire_wall_ms = WALL0;
	r.renew_wall_ms = renew;
	r.transitions = transitions;
	return r;
}

static void test_config_checked(void **state)
{
	struct gq_election e;
	struct gq_err err = {0};
	char longid[300];
	struct gq_election_cfg bad[] = {
	    {"", 15000, 10000, 2000},	  {"a", 15000, 15000, 2000}, {"a", 15000, 10000, 10000},
	    {"a", 15000, 10000, 0},	  {"a", 15500, 10000, 2000}, {NULL, 15000, 10000, 2000},
	    {longid, 15000, 10000, 2000},
	};

	(void)state;
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(gq_election_init(&e, &bad[i], &err), GQ_EINVAL);
}

static void test_no_lease_creates_and_leads(void **state)
{
	struct gq_election e;
	struct gq_lease_record want;

	(void)state;
	init(&e, "pod-a");
	assert_int_equal(gq_election_observe(&e, NULL, 1000), GQ_ELECT_UNCHANGED);
	assert_int_equal(gq_election_next(&e, 1000, WALL0, &want), GQ_ELECT_CREATE);
	assert_string_equal(want.holder, "pod-a");
	assert_int_equal(want.lease_duration_s, 15);
	assert_int_equal(want.transitions, 0);
	assert_int_equal(want.acquire_wall_ms, WALL0);
	assert_int_equal(want.renew_wall_ms, WALL0);
	assert_int_equal(gq_election_write_budget(&e, 1000), 0);
	assert_int_equal(gq_election_written(&e, GQ_OK, &want, 1000, 1100), GQ_ELECT_STARTED);
	/* The deadline counts from the start of the successful request. */
	assert_int_equal(gq_election_write_budget(&e, 1100), 9900);
	assert_int_equal(gq_election_write_budget(&e, 10999), 1);
	assert_int_equal(gq_election_write_budget(&e, 11000), 0);
}

static void test_create_race_lost_is_not_leader(void **state)
{
	struct gq_election e;
	struct gq_lease_record want;

	(void)state;
	init(&e, "pod-b");
	gq_election_observe(&e, NULL, 0);
	assert_int_equal(gq_election_next(&e, 0, WALL0, &want), GQ_ELECT_CREATE);
	/* AlreadyExists is a 409: the other replica created it first. */
	assert_int_equal(gq_election_written(&e, GQ_ECONFLICT, &want, 0, 50), GQ_ELECT_UNCHANGED);
	assert_int_equal(gq_election_write_budget(&e, 50), 0);
}

static void test_standby_until_expired_by_local_clock(void **state)
{
	struct gq_election e;
	struct gq_lease_record other = rec("pod-a", 15, WALL0, 3), want;

	(void)state;
	init(&e, "pod-b");
	/* The record's renewTime is far in the past on our wall clock: only
	 * the local observation time counts. */
	other.renew_wall_ms = WALL0 - 3600000;
	gq_election_observe(&e, &other, 100000);
	assert_int_equal(gq_election_next(&e, 100000, WALL0, &want), GQ_ELECT_STANDBY);
	/* The same record seen again does not move the observed time. */
	gq_election_observe(&e, &other, 110000);
	assert_int_equal(gq_election_next(&e, 114999, WALL0, &want), GQ_ELECT_STANDBY);
	assert_int_equal(gq_election_next(&e, 115000, WALL0 + 15000, &want), GQ_ELECT_UPDATE);
	assert_string_equal(want.holder, "pod-b");
	assert_int_equal(want.transitions, 4);
	assert_int_equal(want.acquire_wall_ms, WALL0 + 15000);
	assert_int_equal(want.renew_wall_ms, WALL0 + 15000);
	assert_int_equal(gq_election_written(&e, GQ_OK, &want, 115000, 115020), GQ_ELECT_STARTED);
	assert_true(gq_election_write_budget(&e, 115020) > 0);
}

static void test_renewal_by_other_moves_observed_time(void **state)
{
	struct gq_election e;
	struct gq_lease_record r1 = rec("pod-a", 15, WALL0, 0), r2 = r1, want;

	(void)state;
	init(&e, "pod-b");
	gq_election_observe(&e, &r1, 0);
	r2.renew_wall_ms = WALL0 + 2000;
	gq_election_observe(&e, &r2, 14000);
	assert_int_equal(gq_election_next(&e, 28999, WALL0, &want), GQ_ELECT_STANDBY);
	assert_int_equal(gq_election_next(&e, 29000, WALL0, &want), GQ_ELECT_UPDATE);
}

static void test_record_lease_duration_wins(void **state)
{
	struct gq_election e;
	struct gq_lease_record other = rec("pod-a", 4, WALL0, 0), want;

	(void)state;
	init(&e, "pod-b");
	gq_election_observe(&e, &other, 0);
	assert_int_equal(gq_election_next(&e, 3999, WALL0, &want), GQ_ELECT_STANDBY);
	assert_int_equal(gq_election_next(&e, 4000, WALL0, &want), GQ_ELECT_UPDATE);
	/* We write our own duration. */
	assert_int_equal(want.lease_duration_s, 15);
}

static void test_released_lease_taken_at_once(void **state)
{
	struct gq_election a, b;
	struct gq_lease_record want, rel;

	(void)state;
	init(&a, "pod-a");
	init(&b, "pod-b");
	gq_election_observe(&a, NULL, 0);
	gq_election_next(&a, 0, WALL0, &want);
	gq_election_written(&a, GQ_OK, &want, 0, 10);
	gq_election_observe(&b, &want, 20);
	assert_int_equal(gq_election_next(&b, 30, WALL0, &want), GQ_ELECT_STANDBY);
	gq_election_release_record(&a, WALL0 + 5000, &rel);
	assert_string_equal(rel.holder, "");
	assert_int_equal(rel.lease_duration_s, 1);
	assert_int_equal(rel.transitions, 0);
	assert_int_equal(rel.acquire_wall_ms, WALL0 + 5000);
	assert_int_equal(gq_election_released(&a), GQ_ELECT_LOST);
	assert_int_equal(gq_election_write_budget(&a, 5000), 0);
	gq_election_observe(&b, &rel, 5100);
	assert_int_equal(gq_election_next(&b, 5100, WALL0 + 5100, &want), GQ_ELECT_UPDATE);
	assert_string_equal(want.holder, "pod-b");
	assert_int_equal(want.transitions, 1);
	assert_int_equal(gq_election_written(&b, GQ_OK, &want, 5100, 5120), GQ_ELECT_STARTED);
}

static void test_renew_keeps_acquire_time_and_transitions(void **state)
{
	struct gq_election e;
	struct gq_lease_record want, first;

	(void)state;
	init(&e, "pod-a");
	gq_election_observe(&e, NULL, 0);
	gq_election_next(&e, 0, WALL0, &first);
	first.transitions = 7; /* as if acquired from others before */
	gq_election_written(&e, GQ_OK, &first, 0, 5);
	gq_election_observe(&e, &first, 2000);
	assert_int_equal(gq_election_next(&e, 2000, WALL0 + 2000, &want), GQ_ELECT_UPDATE);
	assert_int_equal(want.acquire_wall_ms, WALL0);
	assert_int_equal(want.renew_wall_ms, WALL0 + 2000);
	assert_int_equal(want.transitions, 7);
	assert_int_equal(gq_election_written(&e, GQ_OK, &want, 2000, 2010), GQ_ELECT_UNCHANGED);
	assert_int_equal(gq_election_write_budget(&e, 2010), 9990);
}

static void test_renew_deadline_gives_up(void **state)
{
	struct gq_election e;
	struct gq_lease_record want;

	(void)state;
	init(&e, "pod-a");
	gq_election_observe(&e, NULL, 0);
	gq_election_next(&e, 0, WALL0, &want);
	gq_election_written(&e, GQ_OK, &want, 0, 10);
	/* Renewals fail (apiserver unreachable) for a while. */
	assert_int_equal(gq_election_written(&e, GQ_EIO, &want, 2000, 7000), GQ_ELECT_UNCHANGED);
	assert_int_equal(gq_election_tick(&e, 9999), GQ_ELECT_UNCHANGED);
	assert_int_equal(gq_election_write_budget(&e, 9999), 1);
	assert_int_equal(gq_election_tick(&e, 10000), GQ_ELECT_LOST);
	assert_int_equal(gq_election_write_budget(&e, 10000), 0);
	/* Well before the lease could expire for the others (15 s). */
}

static void test_conflict_on_renew_loses_at_once(void **state)
{
	struct gq_election e;
	struct gq_lease_record want;

	(void)state;
	init(&e, "pod-a");
	gq_election_observe(&e, NULL, 0);
	gq_election_next(&e, 0, WALL0, &want);
	gq_election_written(&e, GQ_OK, &want, 0, 10);
	gq_election_next(&e, 2000, WALL0 + 2000, &want);
	assert_int_equal(gq_election_written(&e, GQ_ECONFLICT, &want, 2000, 2010), GQ_ELECT_LOST);
	assert_int_equal(gq_election_write_budget(&e, 2010), 0);
}

static void test_paused_leader_cannot_write_then_sees_new_holder(void **state)
{
	struct gq_election e;
	struct gq_lease_record want, other;

	(void)state;
	init(&e, "pod-a");
	gq_election_observe(&e, NULL, 0);
	gq_election_next(&e, 0, WALL0, &want);
	gq_election_written(&e, GQ_OK, &want, 0, 10);
	/* SIGSTOP for 30 s: no tick ran, but the budget is judged by the clock. */
	assert_int_equal(gq_election_write_budget(&e, 30000), 0);
	other = rec("pod-b", 15, WALL0 + 20000, 1);
	assert_int_equal(gq_election_observe(&e, &other, 30010), GQ_ELECT_LOST);
	assert_int_equal(gq_election_next(&e, 30010, WALL0 + 30010, &want), GQ_ELECT_STANDBY);
}

static void test_leader_seeing_other_holder_loses(void **state)
{
	struct gq_election e;
	struct gq_lease_record want, other;

	(void)state;
	init(&e, "pod-a");
	gq_election_observe(&e, NULL, 0);
	gq_election_next(&e, 0, WALL0, &want);
	gq_election_written(&e, GQ_OK, &want, 0, 10);
	other = rec("pod-b", 15, WALL0 + 1000, 1);
	assert_int_equal(gq_election_observe(&e, &other, 1500), GQ_ELECT_LOST);
	/* Deleted Lease while leading: lost too, then create again. */
	init(&e, "pod-a");
	gq_election_observe(&e, NULL, 0);
	gq_election_next(&e, 0, WALL0, &want);
	gq_election_written(&e, GQ_OK, &want, 0, 10);
	assert_int_equal(gq_election_observe(&e, NULL, 2000), GQ_ELECT_LOST);
	assert_int_equal(gq_election_next(&e, 2000, WALL0, &want), GQ_ELECT_CREATE);
}

static void test_late_reply_holds_nothing(void **state)
{
	struct gq_election e;
	struct gq_lease_record want;

	(void)state;
	init(&e, "pod-a");
	gq_election_observe(&e, NULL, 0);
	gq_election_next(&e, 0, WALL0, &want);
	assert_int_equal(gq_election_written(&e, GQ_OK, &want, 0, 10000), GQ_ELECT_UNCHANGED);
	assert_int_equal(gq_election_write_budget(&e, 10000), 0);
}

static void test_restart_same_identity_renews(void **state)
{
	struct gq_election e;
	struct gq_lease_record mine = rec("pod-a", 15, WALL0, 2), want;

	(void)state;
	init(&e, "pod-a");
	gq_election_observe(&e, &mine, 0);
	assert_int_equal(gq_election_next(&e, 0, WALL0 + 9000, &want), GQ_ELECT_UPDATE);
	assert_int_equal(want.transitions, 2);
	assert_int_equal(want.acquire_wall_ms, WALL0);
}

static void test_micro_time(void **state)
{
	char buf[GQ_ELECTION_TIME_STRLEN];
	int64_t ms = 0;

	(void)state;
	assert_int_equal(gq_election_format_micro(WALL0 + 123, buf), GQ_OK);
	assert_string_equal(buf, "2026-01-01T00:00:00.123000Z");
	assert_int_equal(gq_election_format_micro(WALL0, buf), GQ_OK);
	assert_string_equal(buf, "2026-01-01T00:00:00.000000Z");
	assert_int_equal(gq_election_parse_micro("2026-01-01T00:00:00.123456Z", &ms), GQ_OK);
	assert_int_equal(ms, WALL0 + 123);
	assert_int_equal(gq_election_parse_micro("garbage", &ms), GQ_EPARSE);
	assert_int_equal(gq_election_format_micro(INT64_C(400000000000000), buf), GQ_ERANGE);
}

/* The Lease JSON written, read back; a released Lease; bad input. */
static void test_lease_json_round_trip(void **state)
{
	struct gq_lease_record r = rec("pod-a", 15, WALL0 + 2500, 3), back;
	char rv[64], *body;
	yajl_val v;

	(void)state;
	body = gq_leader_lease_body("gpuquota-system", "gpuquota-controller", "42", &r);
	assert_non_null(body);
	assert_non_null(strstr(body, "\"renewTime\":\"2026-01-01T00:00:02.500000Z\""));
	assert_non_null(strstr(body, "\"acquireTime\":\"2026-01-01T00:00:00.000000Z\""));
	assert_non_null(strstr(body, "\"resourceVersion\":\"42\""));
	assert_non_null(strstr(body, "\"apiVersion\":\"coordination.k8s.io/v1\""));
	v = yajl_tree_parse(body, NULL, 0);
	assert_int_equal(gq_leader_parse_lease(v, &back, rv, sizeof(rv)), GQ_OK);
	assert_string_equal(rv, "42");
	assert_string_equal(back.holder, "pod-a");
	assert_int_equal(back.lease_duration_s, 15);
	assert_int_equal(back.acquire_wall_ms, WALL0);
	assert_int_equal(back.renew_wall_ms, WALL0 + 2500);
	assert_int_equal(back.transitions, 3);
	yajl_tree_free(v);
	free(body);
	/* Create: no resourceVersion. */
	body = gq_leader_lease_body("ns", "n", NULL, &r);
	assert_null(strstr(body, "resourceVersion"));
	free(body);
	/* A Lease with an empty spec reads as free; a bad time is refused. */
	v = yajl_tree_parse("{\"metadata\":{\"resourceVersion\":\"7\"},\"spec\":{}}", NULL, 0);
	assert_int_equal(gq_leader_parse_lease(v, &back, rv, sizeof(rv)), GQ_OK);
	assert_string_equal(back.holder, "");
	assert_int_equal(back.renew_wall_ms, 0);
	yajl_tree_free(v);
	v = yajl_tree_parse("{\"spec\":{\"renewTime\":\"yesterday\"}}", NULL, 0);
	assert_int_equal(gq_leader_parse_lease(v, &back, rv, sizeof(rv)), GQ_EPARSE);
	yajl_tree_free(v);
	v = yajl_tree_parse("[1]", NULL, 0);
	assert_int_equal(gq_leader_parse_lease(v, &back, rv, sizeof(rv)), GQ_EPARSE);
	yajl_tree_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_checked),
	    cmocka_unit_test(test_no_lease_creates_and_leads),
	    cmocka_unit_test(test_create_race_lost_is_not_leader),
	    cmocka_unit_test(test_standby_until_expired_by_local_clock),
	    cmocka_unit_test(test_renewal_by_other_moves_observed_time),
	    cmocka_unit_test(test_record_lease_duration_wins),
	    cmocka_unit_test(test_released_lease_taken_at_once),
	    cmocka_unit_test(test_renew_keeps_acquire_time_and_transitions),
	    cmocka_unit_test(test_renew_deadline_gives_up),
	    cmocka_unit_test(test_conflict_on_renew_loses_at_once),
	    cmocka_unit_test(test_paused_leader_cannot_write_then_sees_new_holder),
	    cmocka_unit_test(test_leader_seeing_other_holder_loses),
	    cmocka_unit_test(test_late_reply_holds_nothing),
	    cmocka_unit_test(test_restart_same_identity_renews),
	    cmocka_unit_test(test_micro_time),
	    cmocka_unit_test(test_lease_json_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
