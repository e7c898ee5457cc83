/*
 * test_duration.c: the saturating time arithmetic of core/duration.c at the
 * extremes of int64_t: every sum and product either is exact or saturates to
 * INT64_MAX ("never"), BL_NO_TIME passes through, and no intermediate value
 * overflows (the developer build runs this under UBSan, which would stop).
 */
#include <stdint.h>

#include "check.h"
#include "core/duration.h"
#include "core/item.h"

#define T0 ((int64_t)1700000000000)

static void test_after_saturates(void) {
        CHECK_INT(bl_duration_after(T0, 0), T0);
        CHECK_INT(bl_duration_after(T0, 1), T0 + 1);
        CHECK_INT(bl_duration_after(T0, INT64_MAX - T0), INT64_MAX);
        CHECK_INT(bl_duration_after(T0, INT64_MAX - T0 + 1), INT64_MAX);
        CHECK_INT(bl_duration_after(T0, INT64_MAX), INT64_MAX); /* the overflow of issue #12 item 5 */
        CHECK_INT(bl_duration_after(INT64_MAX, INT64_MAX), INT64_MAX);
        CHECK_INT(bl_duration_after(INT64_MAX, 0), INT64_MAX);
        CHECK_INT(bl_duration_after(0, INT64_MAX), INT64_MAX);
        CHECK_INT(bl_duration_after(INT64_MAX - 1, 1), INT64_MAX);
        /* unset stays unset, whatever the duration */
        CHECK_INT(bl_duration_after(BL_NO_TIME, 0), BL_NO_TIME);
        CHECK_INT(bl_duration_after(BL_NO_TIME, INT64_MAX), BL_NO_TIME);
        /* a negative duration counts as none */
        CHECK_INT(bl_duration_after(T0, -5), T0);
        CHECK_INT(bl_duration_after(T0, INT64_MIN), T0);
}

static void test_before_stops_at_1970(void) {
        CHECK_INT(bl_duration_before(T0, 0), T0);
        CHECK_INT(bl_duration_before(T0, 1000), T0 - 1000);
        CHECK_INT(bl_duration_before(T0, T0), 0);
        CHECK_INT(bl_duration_before(T0, T0 + 1), 0);
        CHECK_INT(bl_duration_before(T0, INT64_MAX), 0);
        CHECK_INT(bl_duration_before(INT64_MAX, INT64_MAX), 0);
        CHECK_INT(bl_duration_before(INT64_MAX, 1), INT64_MAX - 1);
        CHECK_INT(bl_duration_before(BL_NO_TIME, 1), BL_NO_TIME);
        CHECK_INT(bl_duration_before(T0, INT64_MIN), T0);
}

static void test_scale_saturates(void) {
        CHECK_INT(bl_duration_scale(1000, 2), 2000);
        CHECK_INT(bl_duration_scale(0, INT64_MAX), 0);
        CHECK_INT(bl_duration_scale(INT64_MAX, 0), 0);
        CHECK_INT(bl_duration_scale(INT64_MAX, 1), INT64_MAX);
        CHECK_INT(bl_duration_scale(INT64_MAX, 2), INT64_MAX);
        CHECK_INT(bl_duration_scale(INT64_MAX / 2, 2), INT64_MAX - 1);
        CHECK_INT(bl_duration_scale(INT64_MAX / 2 + 1, 2), INT64_MAX);
        CHECK_INT(bl_duration_scale(INT64_MAX, INT64_MAX), INT64_MAX);
        CHECK_INT(bl_duration_scale((int64_t)1 << 32, (int64_t)1 << 31), INT64_MAX); /* 2^63 */
        CHECK_INT(bl_duration_scale((int64_t)1 << 31, (int64_t)1 << 31), (int64_t)1 << 62);
        CHECK_INT(bl_duration_scale(-1, 5), 0);
        CHECK_INT(bl_duration_scale(5, -1), 0);
        CHECK_INT(bl_duration_scale(INT64_MIN, INT64_MIN), 0);
}

static void test_between_saturates(void) {
        CHECK_INT(bl_duration_between(T0, T0 + 5), 5);
        CHECK_INT(bl_duration_between(T0 + 5, T0), -5);
        CHECK_INT(bl_duration_between(0, INT64_MAX), INT64_MAX);
        CHECK_INT(bl_duration_between(BL_NO_TIME, INT64_MAX), INT64_MAX);
        CHECK_INT(bl_duration_between(INT64_MIN, INT64_MAX), INT64_MAX);
        CHECK_INT(bl_duration_between(INT64_MAX, INT64_MIN), INT64_MIN);
        CHECK_INT(bl_duration_between(INT64_MAX, 0), -INT64_MAX);
        CHECK_INT(bl_duration_between(1, INT64_MIN), INT64_MIN);
}

static void test_backoff_doubles_to_its_cap(void) {
        CHECK_INT(bl_duration_backoff(100, 1000, 1), 100);
        CHECK_INT(bl_duration_backoff(100, 1000, 2), 200);
        CHECK_INT(bl_duration_backoff(100, 1000, 4), 800);
        CHECK_INT(bl_duration_backoff(100, 1000, 5), 1000);
        CHECK_INT(bl_duration_backoff(100, 1000, INT32_MAX), 1000);
        CHECK_INT(bl_duration_backoff(100, 1000, 0), 100);
        CHECK_INT(bl_duration_backoff(100, 1000, INT32_MIN), 100);
        /* base above the cap: the cap */
        CHECK_INT(bl_duration_backoff(5000, 1000, 1), 1000);
        /* zeros: no back-off, and no endless doubling of 0 */
        CHECK_INT(bl_duration_backoff(0, 1000, INT32_MAX), 0);
        CHECK_INT(bl_duration_backoff(100, 0, 3), 0);
        /* the extremes: base and cap at INT64_MAX, any attempt */
        CHECK_INT(bl_duration_backoff(INT64_MAX, INT64_MAX, 1), INT64_MAX);
        CHECK_INT(bl_duration_backoff(INT64_MAX, INT64_MAX, INT32_MAX), INT64_MAX);
        CHECK_INT(bl_duration_backoff(1, INT64_MAX, 63), (int64_t)1 << 62);
        CHECK_INT(bl_duration_backoff(1, INT64_MAX, 64), INT64_MAX);
        CHECK_INT(bl_duration_backoff(1, INT64_MAX, INT32_MAX), INT64_MAX);
        CHECK_INT(bl_duration_backoff(INT64_MAX / 3, INT64_MAX, 3), INT64_MAX);
        CHECK_INT(bl_duration_backoff(-5, INT64_MIN, 3), 0);
}

int main(void) {
        RUN(test_after_saturates);
        RUN(test_before_stops_at_1970);
        RUN(test_scale_saturates);
        RUN(test_between_saturates);
        RUN(test_backoff_doubles_to_its_cap);
        return check_exit_status();
}
