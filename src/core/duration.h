/*
 * duration.h: arithmetic on times and durations in milliseconds that
 * saturates instead of overflowing. Every "time + duration" and
 * "duration * factor" of the core goes through here, so that a duration
 * key set to its maximum (backlog.retention_ms = 9223372036854775807)
 * means "never", not a signed overflow that wraps into the past.
 *
 * Times are milliseconds since 1970 (never negative in practice: input
 * before 1970 is refused) or BL_NO_TIME (-1, unset), which passes through
 * unchanged. Durations are never negative: a negative one counts as 0.
 * INT64_MAX stands for "never" and is what a sum or product saturates to.
 * Pure functions; any thread.
 */
#ifndef BL_DURATION_H
#define BL_DURATION_H

#include <stdint.h>

/** @p time_ms + @p duration_ms, at most INT64_MAX; BL_NO_TIME stays BL_NO_TIME. */
int64_t bl_duration_after(int64_t time_ms, int64_t duration_ms);

/** @p time_ms - @p duration_ms, at least 0 (1970); BL_NO_TIME stays BL_NO_TIME. */
int64_t bl_duration_before(int64_t time_ms, int64_t duration_ms);

/** @p duration_ms * @p factor, at most INT64_MAX (negative inputs count as 0). */
int64_t bl_duration_scale(int64_t duration_ms, int64_t factor);

/** @p later_ms - @p earlier_ms within [INT64_MIN, INT64_MAX]: how long from one time to another. */
int64_t bl_duration_between(int64_t earlier_ms, int64_t later_ms);

/**
 * The ceiling of the back-off before attempt @p attempt + 1:
 * min(@p cap_ms, @p base_ms * 2^(@p attempt - 1)), never overflowing
 * whatever the three are (attempt 0 or less counts as 1).
 */
int64_t bl_duration_backoff(int64_t base_ms, int64_t cap_ms, int32_t attempt);

#endif
