/*
 * test_status_ring.c: the ring of samples behind the status page's plots:
 * it keeps the newest `capacity` samples in order, oldest first; values
 * land in their series; a sample older than the newest is dropped; clear
 * empties it; a clone is a copy that lives apart; sizes that cannot be
 * are refused.
 */
#include <stdint.h>

#include "check.h"
#include "ops/status_ring.h"

static void test_keeps_the_newest_in_order(void) {
        bl_status_ring_t *ring = bl_status_ring_new(2, 3);
        CHECK(ring != NULL);
        CHECK_INT(bl_status_ring_count(ring), 0);
        CHECK_INT(bl_status_ring_time(ring, 0), -1);
        for (int i = 1; i <= 5; i++) {
                double values[2] = {i, 10.0 * i};
                bl_status_ring_push(ring, 1000 * i, values);
                CHECK_INT(bl_status_ring_count(ring), i < 3 ? i : 3);
        }
        CHECK_INT(bl_status_ring_capacity(ring), 3);
        CHECK_INT(bl_status_ring_series_count(ring), 2);
        for (size_t i = 0; i < 3; i++) {
                CHECK_INT(bl_status_ring_time(ring, i), 1000 * (int64_t)(i + 3));
                CHECK(bl_status_ring_value(ring, i, 0) == (double)(i + 3));
                CHECK(bl_status_ring_value(ring, i, 1) == 10.0 * (double)(i + 3));
        }
        CHECK_INT(bl_status_ring_time(ring, 3), -1);
        CHECK(bl_status_ring_value(ring, 3, 0) == 0);
        CHECK(bl_status_ring_value(ring, 0, 2) == 0); /* no such series */
        bl_status_ring_destroy(ring);
}

static void test_time_only_grows(void) {
        bl_status_ring_t *ring = bl_status_ring_new(1, 4);
        double one = 1, two = 2, three = 3;
        bl_status_ring_push(ring, 5000, &one);
        bl_status_ring_push(ring, 4000, &two); /* the clock went back: dropped */
        bl_status_ring_push(ring, 5000, &three); /* the same time: kept */
        CHECK_INT(bl_status_ring_count(ring), 2);
        CHECK(bl_status_ring_value(ring, 1, 0) == 3);
        bl_status_ring_clear(ring);
        CHECK_INT(bl_status_ring_count(ring), 0);
        bl_status_ring_push(ring, 1000, &two); /* a cleared ring takes any time */
        CHECK_INT(bl_status_ring_count(ring), 1);
        CHECK_INT(bl_status_ring_time(ring, 0), 1000);
        bl_status_ring_destroy(ring);
}

static void test_impossible_sizes(void) {
        CHECK(bl_status_ring_new(0, 10) == NULL);
        CHECK(bl_status_ring_new(10, 0) == NULL);
        CHECK(bl_status_ring_new(SIZE_MAX / 4, 1000) == NULL); /* would overflow */
        bl_status_ring_destroy(NULL);
}

/* A full 15 minutes at one sample a second, wrapped many times: always the newest 900. */
static void test_long_run_wraps(void) {
        bl_status_ring_t *ring = bl_status_ring_new(4, 900);
        double values[4];
        for (int64_t second = 0; second < 5000; second++) {
                for (int s = 0; s < 4; s++)
                        values[s] = (double)(second * 4 + s);
                bl_status_ring_push(ring, second * 1000, values);
        }
        CHECK_INT(bl_status_ring_count(ring), 900);
        CHECK_INT(bl_status_ring_time(ring, 0), 4100 * 1000);
        CHECK_INT(bl_status_ring_time(ring, 899), 4999 * 1000);
        CHECK(bl_status_ring_value(ring, 899, 3) == 4999.0 * 4 + 3);
        bl_status_ring_destroy(ring);
}

/* A clone holds the same samples and lives apart from its original. */
static void test_clone(void) {
        bl_status_ring_t *ring = bl_status_ring_new(2, 3);
        for (int i = 1; i <= 4; i++) {
                double values[2] = {i, -i};
                bl_status_ring_push(ring, 1000 * i, values);
        }
        bl_status_ring_t *copy = bl_status_ring_clone(ring);
        CHECK(copy != NULL);
        double later[2] = {9, 9};
        bl_status_ring_push(ring, 9000, later);
        CHECK_INT(bl_status_ring_count(copy), 3);
        CHECK_INT(bl_status_ring_time(copy, 0), 2000);
        CHECK_INT(bl_status_ring_time(copy, 2), 4000);
        CHECK(bl_status_ring_value(copy, 2, 1) == -4);
        CHECK_INT(bl_status_ring_time(ring, 2), 9000);
        bl_status_ring_destroy(copy);
        bl_status_ring_destroy(ring);
}

int main(void) {
        RUN(test_clone);
        RUN(test_keeps_the_newest_in_order);
        RUN(test_time_only_grows);
        RUN(test_impossible_sizes);
        RUN(test_long_run_wraps);
        return check_exit_status();
}
