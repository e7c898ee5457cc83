/*
 * test_domain_breaker.c: a domain's circuit breaker on worker failures
 * (core/domain_breaker.c), driven with numbers for a clock: it opens on a
 * share of failures over its window only past the minimum count, holds
 * every dispatch back through its cool-down, lets its probes out half-open
 * and closes on their success or opens again on a failure; the window
 * forgets old results; a disabled breaker lets everything through.
 */
#include "check.h"
#include "core/domain_breaker.h"

#include <stdio.h>

#define T0 ((int64_t)1700000000000)

static bl_breaker_policy_t settings(void) {
        bl_breaker_policy_t policy;
        bl_breaker_policy_defaults(&policy);
        policy.enabled = true;
        policy.failure_share = 0.5;
        policy.window_ms = 10000;
        policy.min_results = 10;
        policy.cooldown_ms = 5000;
        policy.probes = 2;
        return policy;
}

/* @p failed failures and @p succeeded successes at @p at_ms; true when one of them changed the state. */
static bool results(bl_domain_breaker_t *breaker, int failed, int succeeded, int64_t at_ms) {
        bool changed = false;
        for (int i = 0; i < succeeded; i++)
                changed = bl_domain_breaker_result(breaker, "t", true, at_ms) || changed;
        for (int i = 0; i < failed; i++)
                changed = bl_domain_breaker_result(breaker, "t", false, at_ms) || changed;
        return changed;
}

static size_t allowance(bl_domain_breaker_t *breaker, int64_t at_ms, size_t want, bool *probes) {
        bool changed;
        return bl_domain_breaker_allowance(breaker, at_ms, want, probes, &changed);
}

static void test_opens_on_share_past_minimum(void) {
        bl_breaker_policy_t policy = settings();
        bl_domain_breaker_t breaker;
        bool probes;
        bl_domain_breaker_init(&breaker, &policy);
        CHECK_INT(allowance(&breaker, T0, 7, &probes), 7);
        CHECK(!probes);
        /* 9 failures of 9: under the minimum count, it stays closed */
        CHECK(!results(&breaker, 9, 0, T0));
        CHECK_INT(breaker.state, BL_BREAKER_CLOSED);
        /* the tenth result is a success: 9 of 10 failed, at least half: open */
        CHECK(results(&breaker, 0, 1, T0 + 1));
        CHECK_INT(breaker.state, BL_BREAKER_OPEN);
        CHECK_INT(breaker.opened_count, 1);
        CHECK(strstr(breaker.last_change, "9 of 10") != NULL);
        bl_domain_breaker_clear(&breaker);

        /* 4 failures in 10: under the share, closed */
        bl_domain_breaker_init(&breaker, &policy);
        CHECK(!results(&breaker, 4, 6, T0));
        CHECK_INT(breaker.state, BL_BREAKER_CLOSED);
        bl_domain_breaker_clear(&breaker);
}

static void test_window_forgets_old_results(void) {
        bl_breaker_policy_t policy = settings();
        bl_domain_breaker_t breaker;
        uint32_t failed, total;
        bl_domain_breaker_init(&breaker, &policy);
        CHECK(!results(&breaker, 9, 0, T0));
        bl_domain_breaker_window(&breaker, T0, &failed, &total);
        CHECK_INT(failed, 9);
        CHECK_INT(total, 9);
        /* a window later they no longer count: one more failure opens nothing */
        CHECK(!results(&breaker, 1, 0, T0 + 10000));
        bl_domain_breaker_window(&breaker, T0 + 10000, &failed, &total);
        CHECK_INT(total, 1);
        CHECK_INT(breaker.state, BL_BREAKER_CLOSED);
        bl_domain_breaker_clear(&breaker);
}

static void test_cooldown_probes_and_close(void) {
        bl_breaker_policy_t policy = settings();
        bl_domain_breaker_t breaker;
        bool probes, changed;
        bl_domain_breaker_init(&breaker, &policy);
        CHECK(results(&breaker, 10, 0, T0));
        CHECK_INT(breaker.state, BL_BREAKER_OPEN);
        /* in the cool-down nothing goes, and results of earlier dispatches change nothing */
        CHECK_INT(allowance(&breaker, T0 + 4999, 5, &probes), 0);
        CHECK(!results(&breaker, 3, 3, T0 + 4999));
        CHECK_INT(breaker.state, BL_BREAKER_OPEN);
        /* past it: half-open, two probes */
        CHECK_INT(bl_domain_breaker_allowance(&breaker, T0 + 5000, 5, &probes, &changed), 2);
        CHECK(probes);
        CHECK(changed);
        CHECK_INT(breaker.state, BL_BREAKER_HALF_OPEN);
        CHECK(bl_domain_breaker_probe_sent(&breaker, "p1"));
        CHECK_INT(allowance(&breaker, T0 + 5000, 5, &probes), 1);
        CHECK(bl_domain_breaker_probe_sent(&breaker, "p2"));
        CHECK_INT(allowance(&breaker, T0 + 5000, 5, &probes), 0);
        CHECK(!bl_domain_breaker_probe_sent(&breaker, "p3"));
        CHECK(bl_domain_breaker_is_probe(&breaker, "p1"));
        /* a result of a task that is no probe judges nothing */
        CHECK(!bl_domain_breaker_result(&breaker, "other", false, T0 + 5100));
        CHECK_INT(breaker.state, BL_BREAKER_HALF_OPEN);
        /* one probe succeeded: the other decides */
        CHECK(!bl_domain_breaker_result(&breaker, "p1", true, T0 + 5200));
        CHECK_INT(allowance(&breaker, T0 + 5200, 5, &probes), 0);
        CHECK(bl_domain_breaker_result(&breaker, "p2", true, T0 + 5300));
        CHECK_INT(breaker.state, BL_BREAKER_CLOSED);
        CHECK(strstr(breaker.last_change, "2 probes completed") != NULL);
        CHECK_INT(allowance(&breaker, T0 + 5300, 5, &probes), 5);
        CHECK(!probes);
        /* closed again with an empty window: 9 failures do not reopen it */
        CHECK(!results(&breaker, 9, 0, T0 + 5400));
        CHECK_INT(breaker.state, BL_BREAKER_CLOSED);
        bl_domain_breaker_clear(&breaker);
}

static void test_failed_probe_reopens(void) {
        bl_breaker_policy_t policy = settings();
        bl_domain_breaker_t breaker;
        bool probes;
        bl_domain_breaker_init(&breaker, &policy);
        results(&breaker, 10, 0, T0);
        CHECK_INT(allowance(&breaker, T0 + 5000, 1, &probes), 1);
        CHECK(bl_domain_breaker_probe_sent(&breaker, "p1"));
        CHECK(bl_domain_breaker_result(&breaker, "p1", false, T0 + 6000));
        CHECK_INT(breaker.state, BL_BREAKER_OPEN);
        CHECK_INT(breaker.opened_count, 2);
        CHECK(!bl_domain_breaker_is_probe(&breaker, "p1"));
        /* a new cool-down from the reopening */
        CHECK_INT(allowance(&breaker, T0 + 10999, 1, &probes), 0);
        CHECK_INT(allowance(&breaker, T0 + 11000, 1, &probes), 1);
        /* a probe lost without a result frees its slot */
        CHECK(bl_domain_breaker_probe_sent(&breaker, "p2"));
        CHECK_INT(allowance(&breaker, T0 + 11000, 5, &probes), 1);
        CHECK(bl_domain_breaker_probe_sent(&breaker, "p3"));
        CHECK_INT(allowance(&breaker, T0 + 11000, 5, &probes), 0);
        bl_domain_breaker_probe_lost(&breaker, "p2");
        CHECK_INT(allowance(&breaker, T0 + 11000, 5, &probes), 1);
        bl_domain_breaker_clear(&breaker);
}

static void test_disabled_lets_everything_through(void) {
        bl_breaker_policy_t policy = settings();
        bl_domain_breaker_t breaker;
        bool probes;
        policy.enabled = false;
        bl_domain_breaker_init(&breaker, &policy);
        CHECK(!results(&breaker, 100, 0, T0));
        CHECK_INT(allowance(&breaker, T0, 9, &probes), 9);
        /* turned off while open: closed at once */
        policy.enabled = true;
        CHECK(!bl_domain_breaker_configure(&breaker, &policy, T0));
        CHECK(results(&breaker, 10, 0, T0));
        policy.enabled = false;
        CHECK(bl_domain_breaker_configure(&breaker, &policy, T0 + 1));
        CHECK_INT(breaker.state, BL_BREAKER_CLOSED);
        CHECK_INT(allowance(&breaker, T0 + 1, 9, &probes), 9);
        bl_domain_breaker_clear(&breaker);
}

int main(void) {
        RUN(test_opens_on_share_past_minimum);
        RUN(test_window_forgets_old_results);
        RUN(test_cooldown_probes_and_close);
        RUN(test_failed_probe_reopens);
        RUN(test_disabled_lets_everything_through);
        return check_exit_status();
}
