/*
 * test_breaker.c: an agent's circuit breaker (core/breaker.c) on a clock
 * that is a number: it stays closed below the threshold and a success in
 * between clears the count; it opens at the threshold and refuses during
 * the cool-down; after it, one trial and only one goes out (half-open); the
 * trial's success closes it, its failure opens it for another cool-down; a
 * forgotten trial frees the slot; late outcomes of consultations started
 * before it opened change nothing; new settings keep the state.
 */
#include "check.h"
#include "core/breaker.h"

#define T0 ((int64_t)1700000000000)

static void test_closed_until_the_threshold(void) {
        bl_breaker_t breaker;
        bl_breaker_init(&breaker, 3, 1000);
        CHECK_STR(bl_breaker_state_name(breaker.state), "closed");
        CHECK(bl_breaker_allow(&breaker, T0));
        CHECK(!bl_breaker_record(&breaker, false, T0));
        CHECK(!bl_breaker_record(&breaker, false, T0 + 1));
        CHECK_INT(breaker.failures_in_a_row, 2);
        CHECK(!bl_breaker_record(&breaker, true, T0 + 2)); /* closed stays closed: no change to log */
        CHECK_INT(breaker.failures_in_a_row, 0);
        CHECK(!bl_breaker_record(&breaker, false, T0 + 3));
        CHECK(!bl_breaker_record(&breaker, false, T0 + 4));
        CHECK_INT(breaker.state, BL_BREAKER_CLOSED);
        CHECK(bl_breaker_allow(&breaker, T0 + 5));
}

static void test_opens_at_the_threshold_and_waits_the_cooldown(void) {
        bl_breaker_t breaker;
        bl_breaker_init(&breaker, 2, 1000);
        bl_breaker_record(&breaker, false, T0);
        CHECK(bl_breaker_record(&breaker, false, T0 + 10)); /* closed -> open */
        CHECK_INT(breaker.state, BL_BREAKER_OPEN);
        CHECK_STR(bl_breaker_state_name(breaker.state), "open");
        CHECK_INT(breaker.opened_at_ms, T0 + 10);
        CHECK_INT(breaker.opened_count, 1);
        CHECK(!bl_breaker_allow(&breaker, T0 + 10));
        CHECK(!bl_breaker_allow(&breaker, T0 + 1009));
        CHECK_INT(breaker.state, BL_BREAKER_OPEN);
}

static void test_half_open_lets_one_trial_through(void) {
        bl_breaker_t breaker;
        bl_breaker_init(&breaker, 1, 1000);
        CHECK(bl_breaker_record(&breaker, false, T0));
        CHECK(bl_breaker_allow(&breaker, T0 + 1000)); /* open -> half-open, this one is the trial */
        CHECK_INT(breaker.state, BL_BREAKER_HALF_OPEN);
        CHECK_STR(bl_breaker_state_name(breaker.state), "half_open");
        CHECK(breaker.trial_in_flight);
        CHECK(!bl_breaker_allow(&breaker, T0 + 1001)); /* one at a time */
        CHECK(!bl_breaker_allow(&breaker, T0 + 5000));
}

static void test_trial_success_closes(void) {
        bl_breaker_t breaker;
        bl_breaker_init(&breaker, 1, 1000);
        bl_breaker_record(&breaker, false, T0);
        CHECK(bl_breaker_allow(&breaker, T0 + 2000));
        CHECK(bl_breaker_record(&breaker, true, T0 + 2050)); /* half-open -> closed */
        CHECK_INT(breaker.state, BL_BREAKER_CLOSED);
        CHECK_INT(breaker.failures_in_a_row, 0);
        CHECK(!breaker.trial_in_flight);
        CHECK(bl_breaker_allow(&breaker, T0 + 2051));
        CHECK(bl_breaker_allow(&breaker, T0 + 2052)); /* closed: as many as the caller wants */
}

static void test_trial_failure_opens_again(void) {
        bl_breaker_t breaker;
        bl_breaker_init(&breaker, 5, 1000);
        for (int i = 0; i < 5; i++)
                bl_breaker_record(&breaker, false, T0);
        CHECK_INT(breaker.state, BL_BREAKER_OPEN);
        CHECK(bl_breaker_allow(&breaker, T0 + 1000));
        CHECK(bl_breaker_record(&breaker, false, T0 + 1300)); /* half-open -> open at once, not after 5 more */
        CHECK_INT(breaker.state, BL_BREAKER_OPEN);
        CHECK_INT(breaker.opened_at_ms, T0 + 1300); /* a new cool-down from now */
        CHECK_INT(breaker.opened_count, 2);
        CHECK(!bl_breaker_allow(&breaker, T0 + 2299));
        CHECK(bl_breaker_allow(&breaker, T0 + 2300));
        CHECK_INT(breaker.state, BL_BREAKER_HALF_OPEN);
}

static void test_forgotten_trial_frees_the_slot(void) {
        bl_breaker_t breaker;
        bl_breaker_init(&breaker, 1, 100);
        bl_breaker_record(&breaker, false, T0);
        CHECK(bl_breaker_allow(&breaker, T0 + 100));
        bl_breaker_forget(&breaker);
        CHECK_INT(breaker.state, BL_BREAKER_HALF_OPEN);
        CHECK(bl_breaker_allow(&breaker, T0 + 101)); /* another trial */
}

static void test_late_outcomes_while_open_change_nothing(void) {
        bl_breaker_t breaker;
        bl_breaker_init(&breaker, 1, 1000);
        CHECK(bl_breaker_allow(&breaker, T0));
        CHECK(bl_breaker_allow(&breaker, T0)); /* two out while closed */
        CHECK(bl_breaker_record(&breaker, false, T0 + 5));
        CHECK(!bl_breaker_record(&breaker, true, T0 + 6)); /* the other, late: open stays open */
        CHECK_INT(breaker.state, BL_BREAKER_OPEN);
        CHECK(!bl_breaker_record(&breaker, false, T0 + 7));
        CHECK_INT(breaker.opened_at_ms, T0 + 5);
        CHECK_INT(breaker.opened_count, 1);
}

static void test_configure_keeps_the_state(void) {
        bl_breaker_t breaker;
        bl_breaker_init(&breaker, 0, -5); /* clamped: at least one failure, no negative cool-down */
        CHECK_INT(breaker.threshold, 1);
        CHECK_INT(breaker.cooldown_ms, 0);
        bl_breaker_configure(&breaker, 3, 500);
        bl_breaker_record(&breaker, false, T0);
        bl_breaker_record(&breaker, false, T0);
        bl_breaker_configure(&breaker, 2, 700);
        CHECK_INT(breaker.failures_in_a_row, 2);
        CHECK_INT(breaker.state, BL_BREAKER_CLOSED);
        CHECK(bl_breaker_record(&breaker, false, T0 + 1));
        CHECK(!bl_breaker_allow(&breaker, T0 + 700));
        CHECK(bl_breaker_allow(&breaker, T0 + 701));
        CHECK_STR(bl_breaker_state_name((bl_breaker_state_t)7), "?");
}

int main(void) {
        RUN(test_closed_until_the_threshold);
        RUN(test_opens_at_the_threshold_and_waits_the_cooldown);
        RUN(test_half_open_lets_one_trial_through);
        RUN(test_trial_success_closes);
        RUN(test_trial_failure_opens_again);
        RUN(test_forgotten_trial_frees_the_slot);
        RUN(test_late_outcomes_while_open_change_nothing);
        RUN(test_configure_keeps_the_state);
        return check_exit_status();
}
