/*
 * workers.h: the demo's simulated workers of one domain: a consumer group
 * on dispatch.<domain> that runs each DispatchDecision for a while and
 * reports it on tasks.results (STARTED, then COMPLETED or FAILED), on one
 * thread of its own.
 */
#ifndef BL_DEMO_WORKERS_H
#define BL_DEMO_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "demo/scenario.h"
#include "ops/config.h"

typedef struct bl_workers_s bl_workers_t;

/** What a domain's workers have done so far; any thread may ask at any time. */
typedef struct bl_workers_stats_s {
        int slots;              /* tasks run at once */
        uint64_t taken;         /* dispatch decisions read (and STARTED) */
        uint64_t retries_taken; /* of those, attempts after the first */
        uint64_t completed;
        uint64_t failed_retryable;
        uint64_t failed_permanent;
        uint64_t undecodable;     /* dispatch records that did not decode (none expected) */
        uint64_t delivered;       /* results on tasks.results */
        uint64_t delivery_failed; /* results that did not reach it */
        uint64_t cancelled;       /* attempts stopped by a cancellation notice on the dispatch topic */
} bl_workers_stats_t;

/**
 * Opens the contracts, a consumer in @p domain's worker group and a
 * producer to tasks.results (on the calling thread), then starts working.
 * @p seed decides each attempt's fate (by task and attempt, not by timing);
 * @p rate sizes the slow domain's workers. @p config and @p domain are
 * borrowed until bl_workers_destroy. NULL with errstr on failure.
 */
bl_workers_t *bl_workers_start(const bl_config_t *config, const bl_scenario_domain_t *domain, uint64_t seed,
                               double rate, char *errstr, size_t errstr_size);

/** Stops taking work, leaves the group and joins the thread; tasks in hand are abandoned. Idempotent. */
void bl_workers_stop(bl_workers_t *workers);

/** Stops if needed and frees everything. NULL: no-op. */
void bl_workers_destroy(bl_workers_t *workers);

void bl_workers_stats(const bl_workers_t *workers, bl_workers_stats_t *stats);

#endif
