/*
 * clock.c: the monotonic and the wall clock in milliseconds.
 *
 * Each call reads clock_gettime once; nothing is cached, so any thread may
 * call either at any time. The pipeline's files share these two instead of
 * each keeping a copy (they lived in pipeline/txn.c, which made every
 * pipeline file depend on the transaction code for the time).
 */
#include "base/clock.h"

#include <time.h>

static int64_t milliseconds_of(const struct timespec *time) {
        return (int64_t)time->tv_sec * 1000 + time->tv_nsec / 1000000;
}

int64_t bl_clock_monotonic_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return milliseconds_of(&now);
}

int64_t bl_clock_wall_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        return milliseconds_of(&now);
}
