/*
 * duration.c: saturating time arithmetic (see duration.h).
 *
 * The checks come before the operation, so no intermediate value ever
 * overflows (signed overflow is undefined behaviour in C, and UBSan in the
 * developer build stops on it). BL_NO_TIME is the one negative time that
 * means something; it is passed through, never added to. Pure; any thread.
 */
#include "core/duration.h"

#include "core/item.h"

int64_t bl_duration_after(int64_t time_ms, int64_t duration_ms) {
        if (time_ms == BL_NO_TIME)
                return BL_NO_TIME;
        if (duration_ms <= 0)
                return time_ms;
        if (time_ms > INT64_MAX - duration_ms)
                return INT64_MAX;
        return time_ms + duration_ms;
}

int64_t bl_duration_before(int64_t time_ms, int64_t duration_ms) {
        if (time_ms == BL_NO_TIME)
                return BL_NO_TIME;
        if (duration_ms <= 0)
                return time_ms;
        return time_ms > duration_ms ? time_ms - duration_ms : 0;
}

int64_t bl_duration_scale(int64_t duration_ms, int64_t factor) {
        if (duration_ms <= 0 || factor <= 0)
                return 0;
        if (duration_ms > INT64_MAX / factor)
                return INT64_MAX;
        return duration_ms * factor;
}

int64_t bl_duration_between(int64_t earlier_ms, int64_t later_ms) {
        if (earlier_ms < 0 && later_ms > INT64_MAX + earlier_ms)
                return INT64_MAX;
        if (earlier_ms > 0 && later_ms < INT64_MIN + earlier_ms)
                return INT64_MIN;
        return later_ms - earlier_ms;
}

int64_t bl_duration_backoff(int64_t base_ms, int64_t cap_ms, int32_t attempt) {
        int64_t ceiling = base_ms > 0 ? base_ms : 0;
        if (cap_ms < 0)
                cap_ms = 0;
        /* doubling stops at the cap (or stays at 0), so at most 63 turns whatever the attempt */
        for (int32_t i = 1; i < attempt && ceiling > 0 && ceiling < cap_ms; i++)
                ceiling = bl_duration_scale(ceiling, 2);
        return ceiling < cap_ms ? ceiling : cap_ms;
}
