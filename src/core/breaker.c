/*
 * breaker.c: an agent's circuit breaker (breaker.h). One setter changes the
 * state, against the static table of legal transitions; the caller logs the
 * change (core does not log), told by bl_breaker_record's return.
 *
 * Invariants: failures_in_a_row is 0 whenever CLOSED has just been entered;
 * trial_in_flight is only ever true in HALF_OPEN; opened_at_ms is the time of
 * the last entry into OPEN. Pure; the owner's thread.
 */
#include "core/breaker.h"

static const char *const state_names[BL_BREAKER__COUNT] = {"closed", "open", "half_open"};

/* legal[from][to]; staying is not a transition. */
static const bool legal[BL_BREAKER__COUNT][BL_BREAKER__COUNT] = {
        [BL_BREAKER_CLOSED] = {[BL_BREAKER_OPEN] = true},
        [BL_BREAKER_OPEN] = {[BL_BREAKER_HALF_OPEN] = true},
        [BL_BREAKER_HALF_OPEN] = {[BL_BREAKER_CLOSED] = true, [BL_BREAKER_OPEN] = true},
};

const char *bl_breaker_state_name(bl_breaker_state_t state) {
        return (unsigned)state < BL_BREAKER__COUNT ? state_names[state] : "?";
}

/* The one setter: false (and no change) for a move the table does not allow. */
static bool set_state(bl_breaker_t *breaker, bl_breaker_state_t to, int64_t now_ms) {
        if (!legal[breaker->state][to])
                return false;
        breaker->state = to;
        breaker->trial_in_flight = false;
        if (to == BL_BREAKER_OPEN) {
                breaker->opened_at_ms = now_ms;
                breaker->opened_count++;
        } else if (to == BL_BREAKER_CLOSED) {
                breaker->failures_in_a_row = 0;
        }
        return true;
}

void bl_breaker_configure(bl_breaker_t *breaker, int32_t threshold, int64_t cooldown_ms) {
        breaker->threshold = threshold < 1 ? 1 : threshold;
        breaker->cooldown_ms = cooldown_ms < 0 ? 0 : cooldown_ms;
}

void bl_breaker_init(bl_breaker_t *breaker, int32_t threshold, int64_t cooldown_ms) {
        *breaker = (bl_breaker_t){.state = BL_BREAKER_CLOSED};
        bl_breaker_configure(breaker, threshold, cooldown_ms);
}

bool bl_breaker_allow(bl_breaker_t *breaker, int64_t now_ms) {
        switch (breaker->state) {
        case BL_BREAKER_CLOSED: return true;
        case BL_BREAKER_OPEN:
                if (now_ms - breaker->opened_at_ms < breaker->cooldown_ms)
                        return false;
                set_state(breaker, BL_BREAKER_HALF_OPEN, now_ms);
                breaker->trial_in_flight = true;
                return true;
        default:
                if (breaker->trial_in_flight)
                        return false;
                breaker->trial_in_flight = true;
                return true;
        }
}

bool bl_breaker_record(bl_breaker_t *breaker, bool success, int64_t now_ms) {
        if (success) {
                breaker->failures_in_a_row = 0;
                return set_state(breaker, BL_BREAKER_CLOSED, now_ms);
        }
        if (breaker->failures_in_a_row < INT32_MAX)
                breaker->failures_in_a_row++;
        if (breaker->state == BL_BREAKER_HALF_OPEN)
                return set_state(breaker, BL_BREAKER_OPEN, now_ms);
        if (breaker->state == BL_BREAKER_CLOSED && breaker->failures_in_a_row >= breaker->threshold)
                return set_state(breaker, BL_BREAKER_OPEN, now_ms);
        return false;
}

void bl_breaker_forget(bl_breaker_t *breaker) {
        breaker->trial_in_flight = false;
}
