/*
 * domain_breaker.h: the circuit breaker of one domain on its workers'
 * failures (SPEC §14). Where the agent's breaker (breaker.h) counts failures
 * in a row of one caller, this one judges a share: FAILED results over all
 * results of a sliding window, opened only past a minimum count, so that
 * one bad task does not stop a busy domain and a dead one stops at once.
 *
 *   CLOSED --failed share >= failure_share over window_ms, >= min_results--> OPEN
 *   OPEN --cooldown_ms passed, dispatch asks--> HALF_OPEN (up to `probes` tasks go out, marked probe)
 *   HALF_OPEN --every probe COMPLETED--> CLOSED    HALF_OPEN --a probe FAILED--> OPEN
 *
 * While OPEN no task of the domain is dispatched: READY tasks wait, no
 * attempt is spent, nothing goes to the DLQ for it. The window counts
 * results while CLOSED only and starts empty at every close; results of
 * tasks dispatched before the opening that come in later change nothing.
 * A probe that ends neither way (cancelled, given up) frees its slot, and
 * another goes.
 *
 * Pure C, the caller's clock (ms). Not thread-safe: the pipeline thread
 * owns the breakers of its domains.
 */
#ifndef BL_DOMAIN_BREAKER_H
#define BL_DOMAIN_BREAKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/breaker.h" /* bl_breaker_state_t and its names */
#include "core/resilience.h"

#define BL_DOMAIN_BREAKER_BUCKETS 10

typedef struct bl_domain_breaker_s {
        bl_breaker_policy_t settings;
        bl_breaker_state_t state;
        int64_t state_since_ms;
        int64_t bucket_epoch[BL_DOMAIN_BREAKER_BUCKETS]; /* now / bucket width when the bucket was last reset */
        uint32_t bucket_failed[BL_DOMAIN_BREAKER_BUCKETS];
        uint32_t bucket_total[BL_DOMAIN_BREAKER_BUCKETS];
        char *probe_task_ids[BL_BREAKER_PROBES_MAX]; /* HALF_OPEN: the probes out, owned; NULL: a free slot */
        int32_t probes_succeeded;                     /* in this HALF_OPEN */
        uint64_t opened_count;                        /* times it opened, for the metrics */
        char last_change[160];                        /* why it last changed state, for the log */
} bl_domain_breaker_t;

/** A closed breaker with @p settings (copied). */
void bl_domain_breaker_init(bl_domain_breaker_t *breaker, const bl_breaker_policy_t *settings);

/** Frees the probes' ids; the breaker may be initialised again. */
void bl_domain_breaker_clear(bl_domain_breaker_t *breaker);

/**
 * New settings (a policy reloaded): the state stays, unless the breaker is
 * now disabled, which closes it. True when that changed the state.
 */
bool bl_domain_breaker_configure(bl_domain_breaker_t *breaker, const bl_breaker_policy_t *settings, int64_t now_ms);

/**
 * How many of @p want READY tasks may be dispatched at @p now_ms: all while
 * CLOSED, none while OPEN in its cool-down; once the cool-down has passed
 * the breaker goes HALF_OPEN, and then as many as there are free probe
 * slots. *@p probes says the ones allowed are probes (each is then to be
 * named with bl_domain_breaker_probe_sent). *@p changed is set when this
 * call moved the breaker (OPEN -> HALF_OPEN).
 */
size_t bl_domain_breaker_allowance(bl_domain_breaker_t *breaker, int64_t now_ms, size_t want, bool *probes,
                                   bool *changed);

/** @p task_id went out as a probe (HALF_OPEN). False when no slot is free or out of memory. */
bool bl_domain_breaker_probe_sent(bl_domain_breaker_t *breaker, const char *task_id);

/** Whether @p task_id is a probe out now. */
bool bl_domain_breaker_is_probe(const bl_domain_breaker_t *breaker, const char *task_id);

/**
 * A worker's result for @p task_id at @p now_ms: @p success for COMPLETED,
 * false for FAILED (a FAILED event, a lease or the runtime bound passed).
 * Returns true when the state changed (last_change says why).
 */
bool bl_domain_breaker_result(bl_domain_breaker_t *breaker, const char *task_id, bool success, int64_t now_ms);

/** A probe that ended without a result (cancelled, given up): its slot is free again. */
void bl_domain_breaker_probe_lost(bl_domain_breaker_t *breaker, const char *task_id);

/** FAILED and all results in the window at @p now_ms (CLOSED; 0 otherwise). */
void bl_domain_breaker_window(const bl_domain_breaker_t *breaker, int64_t now_ms, uint32_t *failed, uint32_t *total);

#endif
