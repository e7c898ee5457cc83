/*
 * clock.h: the two clocks of the process, in milliseconds.
 *
 * bl_clock_monotonic_ms measures intervals (deadlines, back-offs, batch ages);
 * bl_clock_wall_ms stamps what leaves the process (record timestamps, logs,
 * DLQ headers). Pure code below base takes the time as an argument instead of
 * reading a clock, so that tests and replay drive it with their own.
 */
#ifndef BL_CLOCK_H
#define BL_CLOCK_H

#include <stdint.h>

/** CLOCK_MONOTONIC in ms: for intervals only, its origin is arbitrary. Any thread. */
int64_t bl_clock_monotonic_ms(void);

/** CLOCK_REALTIME in ms since the epoch: may jump; for timestamps, never intervals. Any thread. */
int64_t bl_clock_wall_ms(void);

#endif
