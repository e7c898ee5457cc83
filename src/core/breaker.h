/*
 * breaker.h: the circuit breaker of one agent (SPEC §13): consecutive
 * failures or timeouts open it, and the policy decides alone; after a
 * cool-down it is half-open and lets one consultation through; a success
 * closes it, a failure opens it again for another cool-down.
 *
 *   CLOSED --failures in a row reach the threshold--> OPEN
 *   OPEN --cool-down passed, a consultation asked--> HALF_OPEN (that one goes out)
 *   HALF_OPEN --success--> CLOSED      HALF_OPEN --failure--> OPEN
 *
 * Pure C, plain data, the caller's clock (ms): tests drive it with numbers.
 * Not thread-safe: the thread that consults (the pipeline) owns it.
 */
#ifndef BL_BREAKER_H
#define BL_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { BL_BREAKER_CLOSED = 0, BL_BREAKER_OPEN, BL_BREAKER_HALF_OPEN, BL_BREAKER__COUNT } bl_breaker_state_t;

/** "closed", "open", "half_open" (static): for logs, metrics and the request's context. */
const char *bl_breaker_state_name(bl_breaker_state_t state);

typedef struct bl_breaker_s {
        bl_breaker_state_t state;
        int32_t threshold;       /* failures in a row that open it, >= 1 */
        int64_t cooldown_ms;     /* open this long before a trial */
        int32_t failures_in_a_row;
        int64_t opened_at_ms;    /* when it last opened */
        bool trial_in_flight;    /* HALF_OPEN: the one consultation let through has not finished */
        uint64_t opened_count;   /* times it opened, for the metrics */
} bl_breaker_t;

/** A closed breaker that opens after @p threshold failures in a row (at least 1) for @p cooldown_ms. */
void bl_breaker_init(bl_breaker_t *breaker, int32_t threshold, int64_t cooldown_ms);

/** New settings (a policy reloaded), keeping the state and the count of failures. */
void bl_breaker_configure(bl_breaker_t *breaker, int32_t threshold, int64_t cooldown_ms);

/**
 * Whether a consultation may start at @p now_ms: always when CLOSED; when
 * OPEN only once the cool-down has passed, which makes it HALF_OPEN with
 * this consultation as its trial; when HALF_OPEN only if no trial is out.
 * A true answer is a promise to call bl_breaker_record (or
 * bl_breaker_forget) for that consultation.
 */
bool bl_breaker_allow(bl_breaker_t *breaker, int64_t now_ms);

/**
 * The outcome of a consultation that bl_breaker_allow let out: a success
 * closes the breaker and clears the count; a failure or a timeout counts,
 * and opens it at the threshold (at once when HALF_OPEN). Returns true when
 * the state changed, for the caller to log old -> new.
 */
bool bl_breaker_record(bl_breaker_t *breaker, bool success, int64_t now_ms);

/** A consultation that ended with no verdict (cancelled at shut-down or on a new policy): frees the trial slot. */
void bl_breaker_forget(bl_breaker_t *breaker);

#endif
